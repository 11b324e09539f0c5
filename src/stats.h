// SPDX-License-Identifier: GPL-2.0-or-later
/* Counters of the requests that reach the daemon, by kind: how much work a
 * workload costs the daemon, read through the mount root's extended attribute
 * "user.pyenvfs.stats" (getfattr -n user.pyenvfs.stats M). */
#ifndef PYENVFS_STATS_H
#define PYENVFS_STATS_H

#include <stddef.h>

enum stat_op {
	STAT_LOOKUP, STAT_FORGET, STAT_GETATTR, STAT_SETATTR, STAT_READLINK, STAT_MKNOD, STAT_MKDIR,
	STAT_UNLINK, STAT_RMDIR, STAT_SYMLINK, STAT_RENAME, STAT_LINK, STAT_OPEN, STAT_READ, STAT_WRITE,
	STAT_FLUSH, STAT_RELEASE, STAT_FSYNC, STAT_OPENDIR, STAT_READDIR, STAT_RELEASEDIR, STAT_FSYNCDIR,
	STAT_STATFS, STAT_SETXATTR, STAT_GETXATTR, STAT_LISTXATTR, STAT_REMOVEXATTR, STAT_CREATE,
	STAT_IOCTL, STAT_FALLOCATE, STAT_LSEEK, STAT_COUNT
};

#define STATS_XATTR "user.pyenvfs.stats"

void stats_count(enum stat_op op);
/* "name count" lines, then "total N" and "total_without_ioctl N"; returns the length. */
size_t stats_format(char *buf, size_t len);

#endif
