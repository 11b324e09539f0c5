// SPDX-License-Identifier: GPL-2.0-or-later
/* The whiteout records of whiteout.h on disk: read one, set one atomically,
 * drop a node. FUSE-free: the layer's top directory as a descriptor in, 0 or
 * -errno out. No symbolic link is followed anywhere in the records tree
 * (its owner may change it natively); one found on the way is -ELOOP. */
#ifndef PYENVFS_RECORDS_H
#define PYENVFS_RECORDS_H

#include "whiteout.h"

/* What the records of the layer whose top is top say about name in the
 * directory dir (an area path): WH_NONE (no node), WH_DIR (a node without
 * kind), WH_HIDE or WH_REDIRECT (origin filled in). A damaged kind reads
 * as WH_HIDE (and the call still returns 0). 0 or -errno. */
int records_read(int top, enum wh_area area, const char *dir, const char *name, struct wh_record *rec);

/* Gives name in dir the kind (WH_HIDE, or WH_REDIRECT with origin), making
 * the nodes on the way; an existing kind is replaced in one renameat, and
 * the records below the name are kept. 0 or -errno. */
int records_set(int top, enum wh_area area, const char *dir, const char *name, enum wh_kind kind,
		const char *origin);

/* Removes the node of name in dir and everything below it (no layer under
 * this one holds the name any more, or the records below are moot). 0 if
 * there was none. 0 or -errno. */
int records_drop(int top, enum wh_area area, const char *dir, const char *name);

/* Removes the records below name in dir, keeping its own kind: a whiteout
 * of a directory hides all below it, made again or not. 0 or -errno. */
int records_drop_below(int top, enum wh_area area, const char *dir, const char *name);

#endif
