// SPDX-License-Identifier: GPL-2.0-or-later
/* Generated files: their content, made once at mount time. */
#ifndef PYENVFS_GEN_H
#define PYENVFS_GEN_H

#include "view.h"

struct gen_input {
	const char *base;       /* absolute */
	const char *mountpoint; /* absolute */
	const char *version;    /* X.Y.Z */
	int system_site;
};

/* The content of generated file f; malloc'ed. */
char *gen_content(enum gen_file f, const struct gen_input *in);

#endif
