// SPDX-License-Identifier: GPL-2.0-or-later
/* Directories pyenvfs keeps things in that others must not change: pyenvfs
 * run's runtime directory, the caches (layout, pip layers). A root pyenvfs
 * may be started with another user's XDG_RUNTIME_DIR, XDG_CACHE_HOME or
 * HOME (su without -, sudo -E, a unit's Environment=): what it finds or puts
 * below a directory that user can change, it would trust, or act on, as
 * root. So such a directory is used only if every directory from / down to
 * it belongs to the effective user or to root and no one else may write it
 * (unless it is sticky, as /tmp), and it is opened following no symlink. */
#ifndef PYENVFS_SAFEDIR_H
#define PYENVFS_SAFEDIR_H

#include <stddef.h>

/* Opens the directory path (absolute; its symlinks are resolved first,
 * then every component is opened following none) if it is safe as above.
 * Of its last `make` components, those missing are made (0700) on the way
 * (a cache's own directories; never the home directory above them). An
 * O_PATH descriptor, or -1 with a one-line reason in why (naming the
 * directory that failed, and whose it is) and errno set. */
int safedir_open(const char *path, int make, char *why, size_t len);

#endif
