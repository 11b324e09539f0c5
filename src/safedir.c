// SPDX-License-Identifier: GPL-2.0-or-later
/* Safe directories: owned by the effective user or root all the way up,
 * writable by no one else (safedir.h). */
#include "safedir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 if the directory dir (shown as where) may be trusted, else -1 with why. */
static int check_one(int dir, const char *where, char *why, size_t len)
{
	struct stat st;
	if (fstat(dir, &st))
		return snprintf(why, len, "cannot stat '%s': %s", where, strerror(errno)), -1;
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(why, len, "'%s' belongs to uid %u, not to uid %u or root", where, (unsigned)st.st_uid,
			 (unsigned)geteuid());
		return errno = EPERM, -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(why, len, "'%s' is writable by %s (mode %04o)", where,
			 st.st_mode & S_IWOTH ? "everyone" : "its group", (unsigned)(st.st_mode & 07777));
		return errno = EPERM, -1;
	}
	return 0;
}

int safedir_open(const char *path, int make, char *why, size_t len)
{
	why[0] = '\0';
	cleanup_free char *real = path_resolve_nearest(path);
	if (!real)
		return snprintf(why, len, "'%s': %s", path, strerror(errno)), -1;
	int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0 || check_one(cur, "/", why, len)) {
		int e = errno;
		if (cur >= 0)
			close(cur);
		return errno = e, -1;
	}
	cleanup_free char *walk = pe_xstrdup(real);
	cleanup_free char *shown = pe_xcalloc(1, strlen(real) + 2);
	int left = 0;
	for (const char *c = real; *c; c++)
		left += c[0] == '/' && c[1] && c[1] != '/';
	char *save = NULL;
	for (char *c = strtok_r(walk, "/", &save); c; c = strtok_r(NULL, "/", &save), left--) {
		strcat(shown, "/");
		strcat(shown, c);
		int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && left <= make) {
			if (mkdirat(cur, c, 0700) && errno != EEXIST)
				next = -1;
			else
				next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(cur);
		if (next < 0) {
			snprintf(why, len, "'%s': %s", shown, e == ELOOP ? "a symlink appeared on the way" : strerror(e));
			return errno = e, -1;
		}
		cur = next;
		if (check_one(cur, shown, why, len)) {
			e = errno;
			close(cur);
			return errno = e, -1;
		}
	}
	return cur;
}
