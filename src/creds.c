// SPDX-License-Identifier: GPL-2.0-or-later
/* Acting as a user on this thread (creds.h). */
#include "creds.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The capabilities kept while acting as a user: see creds.h. */
#define KEPT_CAPS ((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FSETID))

static int raise_kept_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[0].effective |= KEPT_CAPS & d[0].permitted;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

int creds_become(uid_t uid, gid_t gid, struct creds_saved *s)
{
	s->active = 0;
	if (geteuid() != 0 || (uid == 0 && gid == 0))
		return 0;
	/* setfsuid/setfsgid report no error: asked again, they say what is. */
	setfsgid(gid);
	setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
		setfsuid(0);
		setfsgid(0);
		return -EPERM;
	}
	s->active = 1;
	int r = uid ? raise_kept_caps() : 0;
	if (r)
		creds_restore(s);
	return r;
}

void creds_restore(struct creds_saved *s)
{
	if (!s->active)
		return;
	/* Back to fsuid 0: the kernel puts the file-system capabilities of the
	 * permitted set back into the effective one. */
	setfsuid(0);
	setfsgid(0);
	s->active = 0;
}
