// SPDX-License-Identifier: GPL-2.0-or-later
/* Acting as a user, on this thread: how a root daemon makes objects for the
 * users it serves (docs/ARCHITECTURE.md, "Security").
 *
 * A root daemon must never give an object its owner or mode afterwards by
 * name: between the create and the fix-up a user who can write the
 * directory swaps the name for a symlink (or a hard link) to a root file,
 * and the fix-up lands there. So objects are made *as* the user they are
 * for (the caller of a create; DIR's owner for what the daemon makes in DIR
 * for itself): the thread's file-system uid and gid become that user's
 * (setfsuid/setfsgid act on the calling thread only), and the object is
 * born with its owner and mode; there is nothing to fix.
 *
 * Of the capabilities a non-zero fsuid clears, the thread keeps
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (the kernel has already checked
 * the caller's right to the directory against what the view shows, which
 * may differ from the backing directory's bits: a layer's directory copied
 * up, the env's own area) and CAP_FSETID (the kernel has already stripped
 * the set-id bits the caller may not set; the backing file system must not
 * strip them again against the daemon's groups). It loses CAP_CHOWN,
 * CAP_FOWNER, CAP_MKNOD and the rest: what it makes as a user it can do
 * only what that user could. A daemon that is not root does nothing here. */
#ifndef PYENVFS_CREDS_H
#define PYENVFS_CREDS_H

#include <sys/types.h>

struct creds_saved {
	int active;             /* creds_restore has something to undo */
};

/* Makes the thread act as uid:gid for file-system access. 0, or -errno
 * (nothing changed). A no-op (0) when the process is not root, or for
 * 0:0. */
int creds_become(uid_t uid, gid_t gid, struct creds_saved *s);
/* Back to the daemon's own (root's) file-system identity and capabilities. */
void creds_restore(struct creds_saved *s);

#endif
