// SPDX-License-Identifier: GPL-2.0-or-later
/* FUSE passthrough: the capability, the per-inode backing files, the
 * counters (see passthrough.h). */
#include "passthrough.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

enum pt_state {
	PT_NOT_BUILT,           /* libfuse < 3.17 */
	PT_OFF_OPTION,          /* -o passthrough=off */
	PT_OFF_NO_OPEN,         /* -o no_open */
	PT_OFF_NO_CAP,          /* the daemon lacks CAP_SYS_ADMIN */
	PT_OFF_KERNEL,          /* the kernel does not offer it */
	PT_WANTED,              /* configured; the kernel not asked yet */
	PT_ON,
};

static const char *const state_text[] = {
	[PT_NOT_BUILT] = "off: this build's libfuse is older than 3.17",
	[PT_OFF_OPTION] = "off: -o passthrough=off",
	[PT_OFF_NO_OPEN] = "off: -o no_open (the kernel opens files itself)",
	[PT_OFF_NO_CAP] = "off: the daemon lacks CAP_SYS_ADMIN (passthrough needs a root daemon)",
	[PT_OFF_KERNEL] = "off: the kernel does not offer it (needs Linux 6.9 or later, CONFIG_FUSE_PASSTHROUGH)",
	[PT_WANTED] = "off: not negotiated yet",
	[PT_ON] = "on",
};

static enum pt_state state = PYENVFS_PASSTHROUGH ? PT_WANTED : PT_NOT_BUILT;
static uint64_t pt_opens, daemon_opens;
static uint64_t backing_files;   /* backing ids held: inodes open in passthrough mode */

const char *pt_build_note(void)
{
	return PYENVFS_PASSTHROUGH ? "passthrough: available (a root daemon, Linux >= 6.9)"
				   : "passthrough: not built (libfuse < 3.17)";
}

static int have_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { 0 };
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN)) != 0;
}

void pt_configure(int off, int no_open)
{
	if (state == PT_NOT_BUILT)
		return;
	if (off)
		state = PT_OFF_OPTION;
	else if (!have_cap_sys_admin())
		state = PT_OFF_NO_CAP;
	else if (no_open)
		state = PT_OFF_NO_OPEN;
	else
		state = PT_WANTED;
}

int pt_active(void)
{
	return state == PT_ON;
}

const char *pt_state_text(void)
{
	return state_text[state];
}

size_t pt_format_stats(char *buf, size_t len)
{
	int n = snprintf(buf, len, "passthrough %d\npassthrough_opens %llu\ndaemon_opens %llu\nbacking_files %llu\n",
			 pt_active(),
			 (unsigned long long)__atomic_load_n(&pt_opens, __ATOMIC_RELAXED),
			 (unsigned long long)__atomic_load_n(&daemon_opens, __ATOMIC_RELAXED),
			 (unsigned long long)__atomic_load_n(&backing_files, __ATOMIC_RELAXED));
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len;
}

#if PYENVFS_PASSTHROUGH

void pt_init(struct fuse_conn_info *conn)
{
	/* libfuse 3.18 makes a pipe for each spliced read request, fails to
	 * grow it, and throws it away: 7 system calls more per request
	 * (strace). Plain reads. */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (state != PT_WANTED)
		return;
	if (!(conn->capable & FUSE_CAP_PASSTHROUGH)) {
		state = PT_OFF_KERNEL;
		return;
	}
	conn->want |= FUSE_CAP_PASSTHROUGH;
	/* Backing files may be on a stacked file system (a base on overlayfs,
	 * as in containers); the cost: nothing can be stacked over pyenvfs. */
	conn->max_backing_stack_depth = FUSE_BACKING_STACKED_OVER;
	state = PT_ON;
}

/* The inodes with open files: the mode their opens were given (a backing
 * id, or 0: served by the daemon) and how many are open. */
struct pt_inode {
	fuse_ino_t ino;
	dev_t dev;              /* the backing object's */
	ino_t backing_ino;
	int backing_id;
	uint64_t nopen;
	struct pt_inode *next;
};

#define PT_BUCKETS 1024
static struct pt_inode *buckets[PT_BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct pt_inode **slot_of(fuse_ino_t ino)
{
	struct pt_inode **p = &buckets[(ino ^ (ino >> 17)) % PT_BUCKETS];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

static void drop(fuse_req_t req, struct pt_inode **p)
{
	struct pt_inode *pi = *p;
	*p = pi->next;
	/* The kernel holds its own reference to the backing file for the
	 * files still open on it; the id is only for new opens. */
	if (pi->backing_id > 0) {
		fuse_passthrough_close(req, pi->backing_id);
		__atomic_fetch_sub(&backing_files, 1, __ATOMIC_RELAXED);
	}
	free(pi);
}

void pt_open(fuse_req_t req, fuse_ino_t ino, dev_t dev, ino_t backing_ino, int fd, struct fuse_file_info *fi)
{
	if (state != PT_ON) {
		__atomic_fetch_add(&daemon_opens, 1, __ATOMIC_RELAXED);
		return;
	}
	pthread_mutex_lock(&lock);
	struct pt_inode **p = slot_of(ino);
	/* An open whose RELEASE never came (the opener killed while the kernel
	 * waited for the reply) leaves an entry behind; once its node is gone,
	 * the id may name another file: never give that one its backing file. */
	if (*p && ((*p)->dev != dev || (*p)->backing_ino != backing_ino))
		drop(req, p);
	if (!*p) {
		struct pt_inode *pi = calloc(1, sizeof *pi);
		if (!pi)
			abort();
		pi->ino = ino;
		pi->dev = dev;
		pi->backing_ino = backing_ino;
		/* 0 (libfuse has logged why) leaves this inode served by the
		 * daemon for as long as it has files open: the kernel allows no
		 * mix of the two modes on one inode. */
		pi->backing_id = fuse_passthrough_open(req, fd);
		if (pi->backing_id > 0)
			__atomic_fetch_add(&backing_files, 1, __ATOMIC_RELAXED);
		*p = pi;
	}
	(*p)->nopen++;
	fi->backing_id = (*p)->backing_id;
	pthread_mutex_unlock(&lock);
	if (fi->backing_id > 0) {
		/* The kernel's own page cache of the inode is not used; the
		 * backing file's is. */
		fi->keep_cache = 0;
		__atomic_fetch_add(&pt_opens, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&daemon_opens, 1, __ATOMIC_RELAXED);
	}
}

void pt_release(fuse_req_t req, fuse_ino_t ino)
{
	if (state != PT_ON)
		return;
	pthread_mutex_lock(&lock);
	struct pt_inode **p = slot_of(ino);
	if (*p && --(*p)->nopen == 0)
		drop(req, p);
	pthread_mutex_unlock(&lock);
}

#else /* libfuse < 3.17: no passthrough in this build */

void pt_init(struct fuse_conn_info *conn)
{
	(void)conn;
}

void pt_open(fuse_req_t req, fuse_ino_t ino, dev_t dev, ino_t backing_ino, int fd, struct fuse_file_info *fi)
{
	(void)req, (void)ino, (void)dev, (void)backing_ino, (void)fd, (void)fi;
	__atomic_fetch_add(&daemon_opens, 1, __ATOMIC_RELAXED);
}

void pt_release(fuse_req_t req, fuse_ino_t ino)
{
	(void)req, (void)ino;
}

#endif
