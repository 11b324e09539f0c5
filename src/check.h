// SPDX-License-Identifier: GPL-2.0-or-later
/* The refusals that need to look at the system: paths, mounts, /dev/fuse,
 * which Python BASE holds. All run before anything is created or mounted. */
#ifndef PYENVFS_CHECK_H
#define PYENVFS_CHECK_H

#include <stddef.h>

#include "cli.h"

struct pe_paths {
	char *base;             /* canonical, absolute */
	char *mountpoint;
	char *site;             /* canonical where it exists; may not exist yet */
	char **lower;           /* --lower-site: canonical, in order, top first */
	size_t nlower;
};

int check_fuse(char *err, size_t len);
/* -o allow_other/allow_root as a user need user_allow_other in fuse_conf. */
int check_allow_other(const struct pe_opts *o, const char *fuse_conf, char *err, size_t len);
int check_paths(const struct pe_opts *o, struct pe_paths *p, char *err, size_t len);
/* The X.Y to use: want if BASE has it, else the only one BASE has. */
int check_python(const char *base, const char *want, char xy[16], char *err, size_t len);
void check_paths_free(struct pe_paths *p);

#endif
