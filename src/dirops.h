// SPDX-License-Identifier: GPL-2.0-or-later
/* Removals and renames in the union (overlayfs's dir.c), each planned (what
 * shows, what must hold: type, emptiness, the sticky bit on what is there
 * now) and then applied: the whiteout first where a lower layer shows the
 * name, then the change in DIR. A layer's file is copied up and renamed (as
 * overlayfs does); a layer's directory, or one merging a layer's, is not
 * renamed (EXDEV: mv copies it). Private to the union's modules. */
#ifndef PYENVFS_DIROPS_H
#define PYENVFS_DIROPS_H

#include "backing.h"
#include "fs.h"
#include "inval.h"
#include "stack.h"

/* Removes name (flags: 0 or AT_REMOVEDIR) from the merged directory s for
 * the caller; d: the directory to invalidate. 0 or -errno. */
int dirops_remove(struct pe_fs *fs, const struct caller *c, struct stack *s, const char *name, int flags,
		  struct inval_dir *d);
/* Renames name of s to newname of ns (renameat2 flags). 0 or -errno. */
int dirops_rename(struct pe_fs *fs, const struct caller *c, struct stack *s, const char *name, struct stack *ns,
		  const char *newname, unsigned flags, struct inval_dir *from, struct inval_dir *to);
/* The key of s for invalidation. */
void dirops_key(const struct stack *s, struct inval_dir *d);

#endif
