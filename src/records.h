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
 * kind), WH_HIDE. A damaged kind reads as WH_HIDE (and the call still
 * returns 0). 0 or -errno. */
int records_read(int top, enum wh_area area, const char *dir, const char *name, struct wh_record *rec);

/* Gives name in dir the kind (WH_HIDE), making the nodes on the way (*made
 * set if it made the node of dir or one above it, when made is not NULL);
 * an existing kind is replaced in one renameat, and the records below the
 * name are kept. 0 or -errno. */
int records_set(int top, enum wh_area area, const char *dir, const char *name, enum wh_kind kind, int *made);

/* Removes the node of name in dir and everything below it (no layer under
 * this one holds the name any more, or the records below are moot). 0 if
 * there was none. 0 or -errno. */
int records_drop(int top, enum wh_area area, const char *dir, const char *name);

/* Removes the records below name in dir, keeping its own kind: a whiteout
 * of a directory hides all below it, made again or not. 0 or -errno. */
int records_drop_below(int top, enum wh_area area, const char *dir, const char *name);

/* By descriptor, for a directory whose node a caller keeps (the union's
 * stacks): the node of the directory dir (an area path), O_PATH, or -errno
 * (-ENOENT: no records at or below dir). */
int records_node_open(int top, enum wh_area area, const char *dir);
/* records_set in the directory whose node is dnode. */
int records_set_at(int dnode, const char *name, enum wh_kind kind);
/* The node's directory of the nodes below it (made if missing), O_PATH, for
 * records_set_in_sub: a caller setting many records in one directory keeps
 * it. -errno. */
int records_sub_open(int dnode);
int records_set_in_sub(int sub, const char *name, enum wh_kind kind);
/* The node of name in the directory whose node is node, or -errno. */
int records_child_open(int node, const char *name);
/* What node's records say about name: WH_NONE (no record of the name
 * itself), WH_HIDE (a damaged kind too). 0 or -errno. */
int records_read_at(int node, const char *name, struct wh_record *rec);

#endif
