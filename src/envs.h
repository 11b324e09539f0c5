// SPDX-License-Identifier: GPL-2.0-or-later
/* Mounted envs as the system sees them: which are mounted, live or stale,
 * and taking one down. Used by run, list and umount. */
#ifndef PYENVFS_ENVS_H
#define PYENVFS_ENVS_H

#include <stddef.h>

/* 1 if PATH is a mount point (live or stale) in /proc/self/mountinfo. */
int env_is_mounted(const char *path);

/* Unmounts PATH: umount(2) as root, else fusermount3 -u; a stale or busy
 * mount with the lazy form, and *lazy (if not NULL) says so. Returns 0, or -1
 * with a one-line message in err. */
int env_unmount(const char *path, int *lazy, char *err, size_t len);

/* Removes PATH and everything below it, following no symlink and staying
 * on PATH's file system. 0, or -1 with errno set. */
int remove_tree(const char *path);

#endif
