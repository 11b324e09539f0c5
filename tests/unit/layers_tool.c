// SPDX-License-Identifier: GPL-2.0-or-later
/* The pure layer modules on real files, for tests/test_layers_pure.py, which
 * checks them against Python's own csv module, package metadata and pip's
 * console scripts. Output fields end with NUL bytes (paths may hold
 * anything else).
 *
 *   layers_tool record FILE SITE_REL     per RECORD path: raw, area ("site",
 *                                        "prefix" or "-"), resolved ("" if "-")
 *   layers_tool entry NAME...            per name: name, version, normalized key
 *                                        ("-" three times if not a metadata dir)
 *   layers_tool shebang FILE MOUNT [--any | ROOT...]
 *                                        the file as shown, on stdout; exit 0 if
 *                                        rewritten, 3 if left alone, 2 on error */
#include "dist.h"
#include "shebang.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap);
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

static void field(const char *s)
{
	fwrite(s, 1, strlen(s) + 1, stdout);
}

static int print_resolved(const char *path, void *arg)
{
	struct dist_file f;
	field(path);
	if (dist_resolve(arg, NULL, path, &f) == 0) {
		field(f.area == DIST_AREA_SITE ? "site" : "prefix");
		field(f.path);
		free(f.path);
	} else {
		field("-");
		field("");
	}
	return 0;
}

static int cmd_record(int argc, char **argv)
{
	size_t len;
	char *buf = argc == 2 ? slurp(argv[0], &len) : NULL;
	if (!buf)
		return 2;
	int r = dist_record_each(buf, len, print_resolved, argv[1]);
	free(buf);
	return r ? 2 : 0;
}

static int cmd_entry(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		struct dist_id id;
		char key[DIST_NAME_MAX];
		if (dist_parse_entry(argv[i], &id) || dist_normalize(id.name, key, sizeof key)) {
			field("-");
			field("-");
			field("-");
			continue;
		}
		field(id.name);
		field(id.version);
		field(key);
	}
	return 0;
}

static int cmd_shebang(int argc, char **argv)
{
	size_t len;
	char *buf = argc >= 2 ? slurp(argv[0], &len) : NULL;
	if (!buf)
		return 2;
	struct shebang_match m = { (const char *const *)argv + 2, (size_t)argc - 2, 0 };
	if (argc == 3 && strcmp(argv[2], "--any") == 0)
		m = (struct shebang_match){ NULL, 0, 1 };
	static struct shebang_edit e;
	int r = shebang_plan(buf, len < SHEBANG_HEAD ? len : SHEBANG_HEAD, &m, argv[1], &e);
	if (r == 1) {
		fwrite(buf, 1, e.off, stdout);
		fwrite(e.text, 1, e.new_len, stdout);
		fwrite(buf + e.off + e.old_len, 1, len - e.off - e.old_len, stdout);
	}
	free(buf);
	return r == 1 ? 0 : r == 0 ? 3 : 2;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "record") == 0)
		return cmd_record(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "entry") == 0)
		return cmd_entry(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "shebang") == 0)
		return cmd_shebang(argc - 2, argv + 2);
	fprintf(stderr, "usage: layers_tool record FILE SITE_REL | entry NAME... | shebang FILE MOUNT [--any | ROOT...]\n");
	return 2;
}
