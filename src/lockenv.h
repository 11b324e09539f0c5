// SPDX-License-Identifier: GPL-2.0-or-later
/* An env from a lock: the lock's distributions found in the stores (the
 * missing ones fetched with the base's pip and added to the user's store
 * first), pinned, and stacked under DIR as lower site layers, in the lock's
 * order. DIR remembers the lock (DIR/.pyenvfs/pylock.toml, every wheel by
 * file name and sha256), so a mount of DIR without --lock composes the same
 * env. Runs before the mount (it may run Python); lockenv_mounted after it. */
#ifndef PYENVFS_LOCKENV_H
#define PYENVFS_LOCKENV_H

#include <stddef.h>
#include <sys/types.h>

/* Where DIR keeps the lock it was composed from (relative to DIR). */
#define LOCKENV_REMEMBERED ".pyenvfs/pylock.toml"

struct lockenv_in {
	const char *base;               /* canonical */
	const char *xy;                 /* "3.11" */
	const char *version;            /* "3.11.2" */
	const char *site;               /* DIR, canonical (it may not exist yet) */
	const char *lock;               /* --lock FILE, or NULL: DIR's remembered one, if any */
	const char *store;              /* --store DIR, or NULL */
	char *const *shared;            /* --shared-store DIRs */
	size_t nshared;
};

/* The entries to stack (*paths, malloc'ed, in the lock's order; *n is 0
 * when there is no lock). 0, or -1 with a one-line err. */
int lockenv_layers(const struct lockenv_in *in, char ***paths, size_t *n, char *err, size_t len);

/* A one-line description for pyenvfs list ("FILE: N distributions"), or NULL. */
const char *lockenv_summary(void);

/* Once the mount is up: DIR/.pyenvfs/pylock.toml written (through site_fd,
 * DIR's descriptor, following no symlink; given to owner:group when the
 * daemon is root), and the entries stamped as used for gc. */
void lockenv_mounted(int site_fd, uid_t owner, gid_t group, int as_root);

#endif
