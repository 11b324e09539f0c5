// SPDX-License-Identifier: GPL-2.0-or-later
/* FUSE passthrough (libfuse >= 3.17, Linux >= 6.9): reads, writes and mmap
 * of a file opened through the mount go straight to the backing file, so its
 * pages are the backing file's, shared by every env and by native users.
 *
 * The kernel puts each of its inodes in one I/O mode at a time: while a file
 * is open in passthrough mode, every other open of that inode must name the
 * same backing file (the same backing id), and no open may be served by the
 * daemon (cached mode), or the open fails with EIO.  This module keeps, per
 * inode with open files, the mode its opens were given and the backing id,
 * and lets the backing id go at the last release.  Files whose content
 * pyenvfs makes (generated files) never come here.
 *
 * Off without a word when the daemon may not use it (no CAP_SYS_ADMIN), the
 * kernel does not offer it, -o no_open is on (no OPEN request: nothing to
 * answer with a backing file) or -o passthrough=off.  The isatty ioctl Python
 * makes on each file it opens still reaches the daemon: the kernel forwards
 * every ioctl on a FUSE file, passthrough or not. */
#ifndef PYENVFS_PASSTHROUGH_H
#define PYENVFS_PASSTHROUGH_H

#include "ops.h"

#include <stddef.h>
#include <sys/types.h>

/* Text for --version: whether this build can use passthrough. */
const char *pt_build_note(void);

/* Before the session starts: what the user asked (off: -o passthrough=off;
 * no_open: -o no_open) and whether this daemon may use it. */
void pt_configure(int off, int no_open);

/* From the FUSE init: asks the kernel for passthrough when wanted and
 * offered, and turns splice reads off (libfuse 3.18 makes ~8 extra system
 * calls per request with them). */
void pt_init(struct fuse_conn_info *conn);

/* A regular file of inode ino (backing object dev, backing_ino) was opened
 * on fd, to be answered with fi: sets fi->backing_id when the open goes
 * through passthrough.  Every call must be matched by one pt_release (at
 * RELEASE, or when the reply to the open could not be sent). */
void pt_open(fuse_req_t req, fuse_ino_t ino, dev_t dev, ino_t backing_ino, int fd, struct fuse_file_info *fi);
void pt_release(fuse_req_t req, fuse_ino_t ino);

/* Whether passthrough is in use on this mount (after init). */
int pt_active(void);

/* Lines for the stats xattr: "passthrough 0|1", "passthrough_opens N" (opens
 * answered with a backing file), "daemon_opens N" (opens of regular files the
 * daemon serves), "backing_files N" (backing ids held now); returns the
 * length written. */
size_t pt_format_stats(char *buf, size_t len);

/* One line for the xattr PT_XATTR: "on", or "off: why". */
#define PT_XATTR "user.pyenvfs.passthrough"
const char *pt_state_text(void);

#endif
