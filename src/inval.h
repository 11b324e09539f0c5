// SPDX-License-Identifier: GPL-2.0-or-later
/* The invalidation queue: what the kernel must forget after a change made
 * through the mount (an entry, an inode's attributes and pages), sent by a
 * thread of its own once the request that made the change is replied to. */
#ifndef PYENVFS_INVAL_H
#define PYENVFS_INVAL_H

#include "fs.h"

struct fuse_session;

struct inval_queue *inval_new(struct node_table *nodes);
/* Notifications go to se from now on; before, nothing is queued. */
void inval_attach(struct inval_queue *q, struct fuse_session *se);
/* Ends the thread before the session goes: 0, or -1 if it did not end within
 * a second (then nothing it may use must be freed). */
int inval_stop(struct inval_queue *q);
void inval_free(struct inval_queue *q);

/* The kernel must drop n's cached pages and attributes. n must be alive: the
 * request's own node, or one the caller holds a reference to. */
void inval_pages(struct pe_fs *fs, struct node *n);
/* A directory's attributes changed through n: its nodes at the other places
 * DIR's directories show must forget them. */
void inval_dir_changed(struct pe_fs *fs, struct node *n);
/* A directory as the node table keys it: a merged directory of the union
 * by its stack's key (bits STACK_DIR_PLACE), any other by its object's. */
struct inval_dir {
	dev_t dev;
	ino_t ino;
	uint64_t bits;
};
/* A name changed in the directory d through the node acting: every other
 * node showing that directory must forget the name and its listing. */
void inval_names_changed(struct pe_fs *fs, const struct inval_dir *d, const char *name, const struct node *acting);

#endif
