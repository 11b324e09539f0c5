#include "gen.h"
#include "util.h"

#include <string.h>

/* PEP 405: home is the base interpreter's directory. Always written: Python
 * 3.14's getpath ignores a pyvenv.cfg without it. */
static char *pyvenv_cfg(const struct gen_input *in)
{
	return pe_xasprintf("home = %s%sbin\n"
			    "include-system-site-packages = %s\n"
			    "version = %s\n",
			    in->base, strcmp(in->base, "/") == 0 ? "" : "/",
			    in->system_site ? "true" : "false", in->version);
}

char *gen_content(enum gen_file f, const struct gen_input *in)
{
	switch (f) {
	case GEN_PYVENV_CFG:
		return pyvenv_cfg(in);
	case GEN_COUNT:
		break;
	}
	return pe_xstrdup("");
}
