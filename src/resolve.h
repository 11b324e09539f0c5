// SPDX-License-Identifier: GPL-2.0-or-later
/* Resolution: the view plus the layers on disk. What is at (parent, name)
 * and which layer it comes from, a directory's listing, where a new name
 * goes, removals and renames, copy-up. DIR's areas are one union engine
 * (stack.h and the modules it names) with or without --lower-site; the
 * base and the bytecode redirect area are plain passthrough. FUSE-free:
 * ops.c turns requests into these calls and replies.
 *
 * Every function returns 0 or -errno, the errno a backing call gave kept as
 * it is (EROFS only for what never changes). Descriptors: a struct target
 * or struct listing owns what it holds; whoever was given one releases it
 * (target_release, listing_free), after an error too, and never closes the
 * descriptors inside. A zeroed target may be released. */
#ifndef PYENVFS_RESOLVE_H
#define PYENVFS_RESOLVE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "backing.h"
#include "fs.h"
#include "inval.h"
#include "listing.h"

/* What a name resolved to: its node, with one more lookup for the kernel,
 * the attributes shown and how long the kernel may keep both. */
struct resolved {
	struct node *node;
	struct stat st;
	double timeout;
};

/* The union's state (after fs_init, once the layers are set): 0 or -errno.
 * resolve_destroy frees it and the rule modules' data (before fs_destroy). */
int resolve_init(struct pe_fs *fs);
void resolve_destroy(struct pe_fs *fs);

/* How long the kernel may cache n's entry and attributes (and a miss in n). */
double resolve_timeout(const struct pe_fs *fs, const struct node *n);
/* The attributes the view shows for n. */
int resolve_stat(struct pe_fs *fs, struct node *n, struct stat *st);
/* What is at parent/name. -ENOENT: nothing (the kernel may cache the miss). */
int resolve_lookup(struct pe_fs *fs, struct node *parent, const char *name, struct resolved *out);

/* A backing directory where a name is created (or, for the plain places,
 * changed). */
struct target {
	int dfd;                /* borrowed from the target */
	const char *name;       /* the name in dfd: the view's, or an anchor's backing name */
	struct origin origin;   /* what a node made there records */
	struct inval_dir dir;   /* the directory, as invalidation finds its other nodes */
	int owned;              /* private to resolve.c: target_release closes dfd */
	struct stack *stk;      /* private: in one of DIR's areas, the merged directory */
};

/* Where a new name in parent goes: -EEXIST if the view shows one there
 * already, -EROFS where nothing may be created, -EPERM for a hidden name. */
int resolve_new_name(struct pe_fs *fs, struct node *parent, const char *name, struct target *t);
/* Where the existing name in parent lives, if the env may change it in
 * place: -EROFS for the base, a layer's object (resolve_copy_up first) and
 * everything fixed or generated, -ENOENT if there is none. */
int resolve_existing(struct pe_fs *fs, struct node *parent, const char *name, struct target *t);
/* The object just made at t->name in t, as a node. */
int resolve_made(struct pe_fs *fs, const struct target *t, struct resolved *out);
void target_release(struct target *t);

/* 0 if n may be changed: a layer's object is copied up into DIR first
 * (trunc: its data is not needed); -EROFS for what never changes; a
 * copy-up's own error (ENOSPC, EDQUOT, EACCES, EIO) as it is. */
int resolve_copy_up(struct pe_fs *fs, struct node *n, int trunc);
/* Removes name in p (flags: 0 or AT_REMOVEDIR) for the caller, recording a
 * whiteout where a lower layer holds it; d: the directory changed, for
 * invalidation. */
int resolve_remove(struct pe_fs *fs, const struct caller *c, struct node *p, const char *name, int flags,
		   struct inval_dir *d);
/* Renames name in p to newname in np (renameat2 flags) for the caller: a
 * layer's file is copied up and renamed; a directory holding a layer's
 * part is -EXDEV (mv copies it). from, to: the directories changed. */
int resolve_rename(struct pe_fs *fs, const struct caller *c, struct node *p, const char *name, struct node *np,
		   const char *newname, unsigned flags, struct inval_dir *from, struct inval_dir *to);
/* A read of a layer's console script (n->sb set, not writable) from fd: the
 * bytes as shown, into buf. Their number, or -errno. */
int resolve_read_shebang(struct node *n, int fd, char *buf, size_t size, off_t off);

/* A directory's listing (listing.h): merged (a view directory, a merged
 * directory of the union) or read as asked (a backing one). */
int resolve_list(struct pe_fs *fs, struct node *n, struct listing **out);
/* Whether the kernel may keep n's listing (checked against its mtime): not
 * for a view directory that takes the env's names (it has no mtime of its
 * own), nor for a merged one with a layer's part below the site area's top
 * (a layer's distribution shadowed by one made elsewhere leaves its times
 * as they were: lookup_times). */
int resolve_list_cacheable(const struct pe_fs *fs, const struct node *n);

#endif
