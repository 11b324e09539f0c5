// SPDX-License-Identifier: GPL-2.0-or-later
/* Whiteout records: how a layer says that a name of the layers under it is
 * gone (removed, renamed away, or a directory made again: opaque). Pure: the
 * format and the paths; the union reads and writes the records
 * (docs/LAYERS.md).
 *
 * The records of a layer live in a tree of their own inside its reserved
 * area. Each name that has a record, or has records below it, has a node: a
 * directory that holds a link saying what the name is and a directory of
 * the nodes of the names below it:
 *
 *   L/.pyenvfs/whiteouts/site                the node of L's top directory
 *   L/.pyenvfs/whiteouts/site/sub/a/sub/b    the node of L/a/b
 *   L/.pyenvfs/whiteouts/upper/sub/bin       the node of L/.pyenvfs/upper/bin
 *   NODE/kind -> whiteout           the name, and everything below it, of every
 *                                   layer under L is not shown (whiteout; with a
 *                                   directory of that name in L itself: opaque)
 *   NODE without kind               the name itself is not hidden; NODE/sub
 *                                   holds records below it
 *
 * A name can be hidden and have records below it at once (a lower directory
 * whose files were removed one by one, then the directory itself: pip's
 * uninstall), and setting a kind is one atomic call: a symlinkat, or a
 * renameat of a new link over the old. Names are kept as they are (no
 * prefix, no escaping): every name a file system allows has a record, and no
 * record can collide with a real name, or with "kind" and "sub". Symbolic
 * links because an unprivileged daemon can make them, and read one back with
 * a single readlinkat. */
#ifndef PYENVFS_WHITEOUT_H
#define PYENVFS_WHITEOUT_H

#include <stddef.h>
#include <sys/types.h>

#define WH_ROOT ".pyenvfs/whiteouts"    /* in the layer's top directory */
#define WH_KIND "kind"                  /* in a node: what the name is */
#define WH_SUB "sub"                    /* in a node: the nodes of names below */
#define WH_TARGET_HIDE "whiteout"

enum wh_area {
	WH_AREA_SITE,           /* the layer's top directory: packages */
	WH_AREA_UPPER,          /* its .pyenvfs/upper: scripts, data, headers */
};

enum wh_kind {
	WH_NONE,                /* no record */
	WH_HIDE,                /* whiteout / opaque */
	WH_DIR,                 /* a node without kind: records below only */
};

struct wh_record {
	enum wh_kind kind;
};

/* 0 if name can be a directory entry (and so have a record): not "", ".",
 * "..", no '/', at most 255 bytes; -EINVAL or -ENAMETOOLONG. */
int wh_check_name(const char *name);

/* 0 if path is a normalized area path: "" (the area's top) or names joined
 * by single slashes, none "", "." or ".."; else -EINVAL. */
int wh_check_path(const char *path);

/* The node of the area path path ("" is the area's top), relative to the
 * layer's top directory, into out. 0, -EINVAL (a bad path; the reserved name
 * at the top of the site area: it is never shown, so never removed),
 * -ENAMETOOLONG. */
int wh_node_path(enum wh_area area, const char *path, char *out, size_t len);

/* The kind link of name in the directory dir (an area path): the node of
 * dir/name, then "/kind". Errors as wh_node_path, and for a bad name. */
int wh_record_path(enum wh_area area, const char *dir, const char *name, char *out, size_t len);

/* The symbolic link target for a record of kind (WH_HIDE) into out. 0,
 * -EINVAL, -ENAMETOOLONG. */
int wh_encode(enum wh_kind kind, char *out, size_t len);

/* What a kind link says, from the type of the file found (st_mode) and, for
 * a symbolic link, its target (len bytes, not NUL-terminated). 0, or -EINVAL
 * for anything else (rec->kind is then WH_HIDE: the caller treats a damaged
 * record as a whiteout, so that damage never brings a removed file back).
 * No kind link in a node is WH_DIR, without calling this. */
int wh_decode(mode_t mode, const char *target, size_t len, struct wh_record *rec);

#endif
