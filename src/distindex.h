// SPDX-License-Identifier: GPL-2.0-or-later
/* A distribution wins as a whole (docs/LAYERS.md): which objects of the
 * lower layers belong to a distribution that a higher layer holds too, and
 * so are not shown. Private to the resolution modules; the sets themselves
 * are dist.c's (pure). */
#ifndef PYENVFS_DISTINDEX_H
#define PYENVFS_DISTINDEX_H

#include <stddef.h>
#include <time.h>

#include "dist.h"
#include "fs.h"

/* The index for the layers as they are now: built at the first call, and
 * again when the top directory of DIR has changed (its mtime or ctime), or
 * a layer's, looked at every lower_timeout (distindex.c says when else).
 * Valid until unmount (distidx_free). */
const struct dist_shadow *distidx_current(struct pe_fs *fs);
/* When the index last changed (CLOCK_REALTIME; zero before a second
 * build): the site area's top directory's times are at least this. The
 * kernel keeps a directory's listing while its mtime stays, and a
 * distribution shadowed by one whose metadata came in a subdirectory
 * changes that listing alone. */
struct timespec distidx_changed(struct pe_fs *fs);
/* Whether s hides name in the area directory dir of stack entry i. */
int distidx_hidden_in(const struct dist_shadow *s, size_t i, int area, const char *dir, const char *name);
/* The same with the current index. */
int distidx_hidden(struct pe_fs *fs, size_t i, int area, const char *dir, const char *name);
/* Frees every index built (at unmount). */
void distidx_free(struct pe_fs *fs);

#endif
