/* Whiteout records: how a layer says that a name of the layers under it is
 * gone (removed, renamed away, or a directory made again: opaque) or that a
 * directory is a lower one renamed (a redirect). Pure: the format and the
 * paths; resolution reads and writes the records (docs/LAYERS.md).
 *
 * The records of a layer live in a tree of their own inside its reserved
 * area, mirroring the layer's directories:
 *
 *   L/.pyenvfs/whiteouts/site/DIRPATH/NAME      for L/DIRPATH/NAME
 *   L/.pyenvfs/whiteouts/upper/DIRPATH/NAME     for L/.pyenvfs/upper/DIRPATH/NAME
 *
 * A record is a symbolic link (an unprivileged daemon can make one, in one
 * atomic call, and read it back with one readlinkat) whose target says what
 * it is, or a directory holding the records of names below it:
 *
 *   NAME -> whiteout              the name, and everything below it, of every
 *                                 layer under L is not shown (whiteout; with a
 *                                 directory NAME in L itself: opaque)
 *   NAME -> redirect:ORIGIN       NAME in L is a directory renamed from ORIGIN
 *                                 (a path in the same area): the layers under
 *                                 L contribute ORIGIN's entries to it, and
 *                                 nothing under the name NAME itself
 *   NAME/                         records of names below NAME; NAME itself is
 *                                 not hidden
 *
 * Names are kept as they are: no prefix, no escaping, so every name a file
 * system allows has a record and no record can collide with a real name. */
#ifndef PYENVFS_WHITEOUT_H
#define PYENVFS_WHITEOUT_H

#include <stddef.h>
#include <sys/types.h>

#define WH_ROOT ".pyenvfs/whiteouts"    /* in the layer's top directory */
#define WH_TARGET_HIDE "whiteout"
#define WH_TARGET_REDIRECT "redirect:"

enum wh_area {
	WH_AREA_SITE,           /* the layer's top directory: packages */
	WH_AREA_UPPER,          /* its .pyenvfs/upper: scripts, data, headers */
};

enum wh_kind {
	WH_NONE,                /* no record */
	WH_HIDE,                /* whiteout / opaque */
	WH_REDIRECT,            /* a renamed lower directory */
	WH_DIR,                 /* records below */
};

struct wh_record {
	enum wh_kind kind;
	char origin[4096];      /* WH_REDIRECT: the area path it was renamed from */
};

/* 0 if name can be a directory entry (and so have a record): not "", ".",
 * "..", no '/', at most 255 bytes; -EINVAL or -ENAMETOOLONG. */
int wh_check_name(const char *name);

/* 0 if path is a normalized area path: "" (the area's top) or names joined
 * by single slashes, none "", "." or ".."; else -EINVAL. */
int wh_check_path(const char *path);

/* The record's path, relative to the layer's top directory, for name in the
 * directory dir (an area path) into out. 0, -EINVAL (a bad name or dir; the
 * reserved name at the top of the site area: it is never shown, so never
 * removed), -ENAMETOOLONG. */
int wh_record_path(enum wh_area area, const char *dir, const char *name, char *out, size_t len);

/* The symbolic link target for a record of kind (WH_HIDE, WH_REDIRECT with
 * origin) into out. 0, -EINVAL, -ENAMETOOLONG. */
int wh_encode(enum wh_kind kind, const char *origin, char *out, size_t len);

/* What a record is, from the type of the file found (st_mode) and, for a
 * symbolic link, its target (len bytes, not NUL-terminated). 0, or -EINVAL
 * for anything else: the caller treats a damaged record as WH_HIDE, so that
 * damage never brings a removed file back. */
int wh_decode(mode_t mode, const char *target, size_t len, struct wh_record *rec);

#endif
