// SPDX-License-Identifier: GPL-2.0-or-later
/* Change notifications: the kernel may cache DIR's and the lower layers'
 * entries, attributes, pages and listings for long, because the daemon
 * tells it when they change outside the mount (a file edited in DIR
 * directly, a second mount of the same DIR, a layer's owner adding a
 * package). Changes through the mount are inval.c's.
 *
 * One inotify instance per mount; a watch on each backing directory of a
 * directory node the kernel knows (DIR's, its area's and, with
 * --lower-site, every layer's directory that a merged directory merges),
 * taken when the kernel learns the node and dropped when it forgets it. A
 * thread reads the events and sends the kernel what to forget: the name's
 * entry and the directory's listing and attributes, or a file's pages and
 * attributes. Changes the daemon made itself (watch_own_change) are not
 * sent again while the name still is what the kernel was told.
 *
 * Where no notification can be had the timeouts stay: a layer on a file
 * system whose changes may be made elsewhere (NFS, CVMFS and any FUSE file
 * system, bindfs included: another host's or the server's change raises no
 * event here), a directory whose watch could not be added (the per-user
 * limit fs.inotify.max_user_watches), -o watch=off. Read-only file systems
 * (squashfs, erofs, iso9660) never change: cached for long, not watched.
 * Not seen: a change through a shared writable mapping made outside the
 * mount (inotify reports none), a file changed through a hard link in a
 * directory the kernel does not know, and whiteout records written by
 * another mount (docs/USAGE.md, "Caching").
 *
 * Interface for the engine: watch_dir when a directory node is given to
 * the kernel, watch_node_freed when the node table frees one (its free
 * hook), watch_own_change for each name changed through the mount;
 * watch_covers says whether what the kernel caches under a node is kept
 * coherent, and so may be cached for WATCH_TIMEOUT. */
#ifndef PYENVFS_WATCH_H
#define PYENVFS_WATCH_H

#include "fs.h"

struct fuse_session;

/* How long the kernel may keep what a watch keeps coherent (seconds). */
#define WATCH_TIMEOUT 86400.0

/* The watches of fs (fs->watch), or none with off (-o watch=off) or when
 * inotify cannot be had (then everything keeps its layer's timeout).
 * After fs_init. 0, or -errno (fs->watch stays NULL: not fatal). */
int watch_init(struct pe_fs *fs, int off);
/* Notifications go to se from now on: starts the thread. */
int watch_attach(struct pe_fs *fs, struct fuse_session *se);
/* Ends the thread (before the session goes) and frees everything: 0, or
 * -1 if the thread did not end within a second (then nothing it may use
 * must be freed). */
int watch_stop(struct pe_fs *fs);

/* The kernel is given directory node n: its backing directories are
 * watched (again: a merged directory may merge a new layer's directory).
 * Sets n->watched when every one of them is. NODE_PASS directories only;
 * anything else is ignored. */
void watch_dir(struct pe_fs *fs, struct node *n);
/* The node table frees n (its free hook): its watches are dropped. */
void watch_node_freed(struct node *n, void *fs);
/* The name in the backing directory dfd was changed through the mount
 * and the kernel told what it is now. */
void watch_own_change(struct pe_fs *fs, int dfd, const char *name);

/* Whether what the kernel caches of names in directory n (and of n's own
 * attributes) is kept coherent by notifications. */
int watch_covers(const struct pe_fs *fs, const struct node *n);

/* A line for the stats xattr: "watches N\nwatch_events N\nwatch_invals N\n". */
size_t watch_format_stats(const struct pe_fs *fs, char *buf, size_t len);

#endif
