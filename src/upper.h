// SPDX-License-Identifier: GPL-2.0-or-later
/* Making an object of the union DIR's before it changes (overlayfs's
 * copy_up): DIR's directory of a merged one, its missing parents copied up
 * from the layers (mode, owner, times) or, where no layer has them, made as
 * the env's own; a layer's file, symlink or directory copied up for a
 * change, with copyup.c's atomic copies. Private to the union's modules. */
#ifndef PYENVFS_UPPER_H
#define PYENVFS_UPPER_H

#include "fs.h"
#include "stack.h"

/* DIR's directory of s (O_PATH, borrowed while s is held), made first if
 * it is missing: 0 < fd, or -errno (-EROFS: DIR is read-only). */
int upper_dir(struct pe_fs *fs, struct stack *s);
/* n (a node of the union) may be changed: a layer's object is copied up
 * into DIR first (trunc: its data is not needed) and n stands for the copy.
 * -EROFS for what never changes (the base, generated files); a copy's own
 * error (ENOSPC, EDQUOT, EACCES, EIO) as it is. */
int upper_copy(struct pe_fs *fs, struct node *n, int trunc);

#endif
