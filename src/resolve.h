// SPDX-License-Identifier: GPL-2.0-or-later
/* Resolution: the view plus the layers on disk. What is at (parent, name)
 * and which layer it comes from, the merged listing of a view directory,
 * where a new name goes, where an existing name is changed (or EROFS).
 * FUSE-free: ops.c turns requests into these calls and replies.
 *
 * Every function returns 0 or -errno (listing_get: 1 for an entry).
 * Descriptors: a struct target or struct listing owns what it holds; whoever
 * was given one releases it (target_release, listing_free), after an error
 * too, and never closes the descriptors inside. A zeroed target may be
 * released. */
#ifndef PYENVFS_RESOLVE_H
#define PYENVFS_RESOLVE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"

/* What a name resolved to: its node, with one more lookup for the kernel,
 * the attributes shown and how long the kernel may keep both. */
struct resolved {
	struct node *node;
	struct stat st;
	double timeout;
};

/* How long the kernel may cache n's entry and attributes (and a miss in n). */
double resolve_timeout(const struct pe_fs *fs, const struct node *n);
/* The attributes the view shows for n. */
int resolve_stat(struct pe_fs *fs, struct node *n, struct stat *st);
/* What is at parent/name. -ENOENT: nothing (the kernel may cache the miss). */
int resolve_lookup(struct pe_fs *fs, struct node *parent, const char *name, struct resolved *out);

/* A backing directory where a name is created, renamed or removed. */
struct target {
	int dfd;                /* borrowed from the target */
	const char *name;       /* the name in dfd: the view's, or an anchor's backing name */
	struct origin origin;   /* what a node made there records */
	int owned;              /* private to resolve.c: target_release closes dfd */
	char *dir;              /* private: in a stacked area, dfd's area path (freed) */
	int area;               /* private: the stacked area, or 0 */
};

/* Where a new name in parent goes: -EEXIST if the view shows one there
 * already, -EROFS where nothing may be created, -EPERM for a hidden name. */
int resolve_new_name(struct pe_fs *fs, struct node *parent, const char *name, struct target *t);
/* Where the existing name in parent lives, if the env may change it: -EROFS
 * for the base and everything fixed or generated, -ENOENT if there is none. */
int resolve_existing(struct pe_fs *fs, struct node *parent, const char *name, struct target *t);
/* The object just made at t->name in t, as a node. */
int resolve_made(struct pe_fs *fs, const struct target *t, struct resolved *out);
void target_release(struct target *t);

/* With --lower-site (stacked site layers, docs/LAYERS.md): */
int resolve_stacked(const struct pe_fs *fs);
/* 0 if n may be changed: a layer's object is copied up into DIR first
 * (trunc: its data is not needed); -EROFS for what never changes. */
int resolve_copy_up(struct pe_fs *fs, struct node *n, int trunc);
/* Removes name in p (flags: 0 or AT_REMOVEDIR), recording a whiteout where
 * a layer under DIR holds it; t is DIR's directory, for invalidation. */
int resolve_remove(struct pe_fs *fs, struct node *p, const char *name, int flags, struct target *t);
/* Frees the distribution index (fs_destroy). */
void resolve_free_dist(struct pe_fs *fs);
/* A read of a console script shown rewritten (n->sb set; scripts.h) from
 * fd: the bytes as shown, into buf. Their number, or -errno. */
int resolve_read_shebang(struct node *n, int fd, char *buf, size_t size, off_t off);
/* Renames within the stacked areas. 1 if p or np is not stacked (the
 * caller's rules), -EXDEV for a layer's object (mv copies it), else 0 or
 * -errno, with from and to DIR's directories. */
int resolve_rename(struct pe_fs *fs, struct node *p, const char *name, struct node *np, const char *newname,
		   unsigned flags, struct target *from, struct target *to);

/* A directory's listing: merged (a view directory) or read as asked (a
 * backing one, whose offsets are the backing file system's). */
struct listing;
struct listing_entry {
	const char *name;
	ino_t ino;              /* 0 where made up */
	unsigned char type;     /* DT_* */
	off_t next;             /* the offset of the entry after it */
};

int resolve_list(struct pe_fs *fs, struct node *n, struct listing **out);
/* 1 with the entry at offset off (0: the first; the names the view hides
 * are skipped), 0 at the end, or -errno. */
int listing_get(struct listing *l, off_t off, struct listing_entry *e);
/* The entry listing_get gave was used: the next is read on. */
void listing_advance(struct listing *l);
/* The backing directory's readable descriptor, or -1 for a view directory. */
int listing_fd(const struct listing *l);
/* Whether the kernel may keep n's listing (checked against its mtime): not
 * for a view directory that takes the env's names (it has no mtime of its
 * own), nor for a merged one of the stacked areas (a layer's distribution
 * shadowed by one made in a subdirectory leaves its mtime as it was). */
int resolve_list_cacheable(const struct pe_fs *fs, const struct node *n);
void listing_free(struct listing *l);

/* Makes path (relative to layer's root) and its parents, owned like DIR,
 * following no symlink. */
int resolve_make_dirs(struct pe_fs *fs, unsigned layer, const char *path);

#endif
