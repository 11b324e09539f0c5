// SPDX-License-Identifier: GPL-2.0-or-later
/* Request counters, kept lock-free, and their text form. */
#include "stats.h"

#include <stdint.h>
#include <stdio.h>

static const char *const names[STAT_COUNT] = {
	"lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir",
	"unlink", "rmdir", "symlink", "rename", "link", "open", "read", "write",
	"flush", "release", "fsync", "opendir", "readdir", "releasedir", "fsyncdir",
	"statfs", "setxattr", "getxattr", "listxattr", "removexattr", "create",
	"ioctl", "fallocate", "lseek",
};

static uint64_t counts[STAT_COUNT];

void stats_count(enum stat_op op)
{
	__atomic_fetch_add(&counts[op], 1, __ATOMIC_RELAXED);
}

size_t stats_format(char *buf, size_t len)
{
	size_t n = 0;
	uint64_t total = 0;
	for (int i = 0; i < STAT_COUNT; i++) {
		uint64_t c = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
		total += c;
		if (c && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s %llu\n", names[i], (unsigned long long)c);
	}
	uint64_t ioctls = __atomic_load_n(&counts[STAT_IOCTL], __ATOMIC_RELAXED);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, "total %llu\ntotal_without_ioctl %llu\n",
				      (unsigned long long)total, (unsigned long long)(total - ioctls));
	return n < len ? n : len;
}
