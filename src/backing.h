// SPDX-License-Identifier: GPL-2.0-or-later
/* I/O on the backing objects behind the nodes: descriptors for requests
 * without a handle, attributes, who makes what the env makes, extended
 * attributes. FUSE-free; every function returns 0 (or a descriptor, or a
 * size) or -errno. */
#ifndef PYENVFS_BACKING_H
#define PYENVFS_BACKING_H

#include <sys/stat.h>
#include <sys/types.h>

#include "creds.h"
#include "fs.h"

/* Who made a request. */
struct caller {
	uid_t uid;
	gid_t gid;
};

/* A root daemon makes what a caller creates *as* the caller (creds.h): the
 * object is born the caller's, with the mode the kernel passed (it has
 * checked the caller's rights and stripped the set-id bits the caller may
 * not set), and nothing is given to it afterwards by a name that a user
 * could swap. Until creds_restore(s), this thread acts as c. 0 or -errno. */
int backing_as_caller(const struct pe_fs *fs, const struct caller *c, struct creds_saved *s);
/* unlinkat and renameat2 as the caller (so a sticky directory's rule holds
 * for what is at the name when it is removed or replaced). 0 or -errno. */
int backing_unlink_as(struct pe_fs *fs, const struct caller *c, int dfd, const char *name, int flags);
int backing_rename_as(struct pe_fs *fs, const struct caller *c, int sfd, const char *name, int dfd,
		      const char *newname, unsigned flags);
/* -EPERM when a sticky dfd forbids the caller to remove or replace name. */
int backing_sticky_check(const struct pe_fs *fs, const struct caller *c, int dfd, const char *name);
/* The same for a directory and an object given by their attributes (a
 * merged directory of the union, a layer's object). */
int backing_sticky_allows(const struct pe_fs *fs, const struct caller *c, const struct stat *dir,
			  const struct stat *obj);

/* Makes path (relative to layer's root) and its parents, owned like DIR,
 * following no symlink. 0 or -errno. (Was resolve_make_dirs.) */
int backing_make_dirs(struct pe_fs *fs, unsigned layer, const char *path);

enum io_use { IO_READ, IO_WRITE, IO_ANY };

/* The descriptor for I/O on n: fh (the request's handle) if not 0, else
 * one of n's own, opened on first use. */
int backing_io_fd(struct node *n, int fh, enum io_use use);
/* fd, opened with flags on n's object, becomes n's own descriptor for
 * reading or writing, or is closed if n has one already. */
void backing_keep_fd(struct node *n, int fd, int flags);

/* What backing_setattr changes (any of them). */
enum {
	SET_MODE = 1 << 0, SET_UID = 1 << 1, SET_GID = 1 << 2, SET_SIZE = 1 << 3,
	SET_ATIME = 1 << 4, SET_ATIME_NOW = 1 << 5, SET_MTIME = 1 << 6, SET_MTIME_NOW = 1 << 7,
};
/* Changes what `what` names of n to attr's; through fh if not 0. Times
 * change only with SET_ATIME or SET_MTIME (the *_NOW bits say how). */
int backing_setattr(struct node *n, int fh, const struct stat *attr, unsigned what);

int backing_fsync(struct node *n, int fh, int datasync);
/* dir_fd: a readable descriptor of n's directory, or -1 to open one. */
int backing_fsync_dir(struct node *n, int dir_fd, int datasync);

/* Sets (value non-NULL) or removes an extended attribute of n. */
int backing_set_xattr(struct node *n, const char *name, const void *value, size_t size, int flags);
/* getxattr of n into buf[0..size) (size 0: how long): the size, or -errno. */
ssize_t backing_get_xattr(struct node *n, const char *name, void *buf, size_t size);
/* listxattr of n (without trusted.* names if hide_trusted): the size. */
ssize_t backing_list_xattrs(struct node *n, int hide_trusted, char **list);

#endif
