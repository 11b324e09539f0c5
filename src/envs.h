// SPDX-License-Identifier: GPL-2.0-or-later
/* Mounted envs as the system sees them: which are mounted, live or stale,
 * and taking one down. Used by run, list and umount. */
#ifndef PYENVFS_ENVS_H
#define PYENVFS_ENVS_H

#include <limits.h>
#include <stddef.h>

/* 1 if PATH is a mount point (live or stale) in /proc/self/mountinfo. */
int env_is_mounted(const char *path);

/* The directory that holds path's last name, opened (O_PATH) following
 * the symlinks of path once, and that name. A descriptor, or -1 (errno). */
int env_open_parent(const char *path, char name[NAME_MAX + 1]);

/* 1 if name in the directory dfd is (the root of) a pyenvfs mount, matched
 * by its mount id in /proc/self/mountinfo (*stale: its daemon is dead, and
 * it was matched by path); else 0. */
int env_mount_at(int dfd, const char *name, int *stale);

/* Unmounts the mount at name in the directory dfd: as root umount(2)
 * through the descriptor, the name never followed (UMOUNT_NOFOLLOW), else
 * fusermount3 -u; a stale or busy mount with the lazy form, and *lazy (if
 * not NULL) says so. Returns 0, or -1 with a one-line message in err. */
int env_unmount_at(int dfd, const char *name, int *lazy, char *err, size_t len);

/* Removes name in the directory dfd and everything below it, following no
 * symlink and staying on its file system. 0, or -1 with errno set. */
int remove_tree_at(int dfd, const char *name);

#endif
