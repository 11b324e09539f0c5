// SPDX-License-Identifier: GPL-2.0-or-later
/* safedir_open (whose directories may be trusted) and creds_become (making
 * objects as a user). As root, both cover every case; as another user, the
 * cases that need root are left out. */
#include "creds.h"
#include "safedir.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[256];

static char *at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", top, rel);
	return buf[k];
}

static int opens(const char *rel, int make, const char *want_in_why)
{
	char why[1024];
	int fd = safedir_open(at(rel), make, why, sizeof why);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (want_in_why && !strstr(why, want_in_why))
		fprintf(stderr, "why: %s (wanted %s)\n", why, want_in_why);
	return 0;
}

static void test_safedir(void)
{
	CHECK(mkdir(at("a"), 0755) == 0);
	CHECK(mkdir(at("a/b"), 0700) == 0);
	CHECK(opens("a/b", 0, NULL));
	CHECK(!opens("a/b/c", 0, NULL));                /* missing, not made */
	CHECK(opens("a/b/c/d", 2, NULL));               /* the last two made */
	struct stat st;
	CHECK(stat(at("a/b/c/d"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	CHECK(!opens("a/x/y/z", 2, NULL));              /* x is not among the last two */
	CHECK(stat(at("a/x"), &st) == -1 && errno == ENOENT);

	CHECK(chmod(at("a"), 0777) == 0);               /* anyone may swap b */
	CHECK(!opens("a/b", 0, "writable by everyone"));
	CHECK(chmod(at("a"), 01777) == 0);              /* sticky: only b's owner */
	CHECK(opens("a/b", 0, NULL));
	CHECK(chmod(at("a"), 0775) == 0);
	CHECK(!opens("a/b", 0, "writable by its group"));
	CHECK(chmod(at("a"), 0755) == 0);

	/* A symlink given is resolved first; its target must be safe too. */
	CHECK(symlink("a/b", at("link")) == 0);
	CHECK(opens("link", 0, NULL));

	if (geteuid() == 0) {
		CHECK(chown(at("a"), 4242, 4242) == 0);         /* another user's */
		CHECK(!opens("a/b", 0, "belongs to uid 4242"));
		CHECK(chown(at("a"), 0, 0) == 0);
	}
}

static void test_creds(void)
{
	struct creds_saved cs;
	if (geteuid() != 0) {
		CHECK(creds_become(4242, 4243, &cs) == 0 && !cs.active);       /* a no-op */
		creds_restore(&cs);
		return;
	}
	CHECK(mkdir(at("c"), 0700) == 0);               /* root's, closed to others */
	CHECK(creds_become(4242, 4243, &cs) == 0 && cs.active);
	/* Made as the user, in a directory the user could not write itself
	 * (the kernel checked the caller's right against the view). */
	int fd = open(at("c/f"), O_CREAT | O_EXCL | O_WRONLY, 04755);
	int made_dir = mkdir(at("c/d"), 0755);
	/* What the user could not do: chown to someone else. */
	int chowned = fd >= 0 ? fchown(fd, 0, 0) : 0;
	int e = errno;
	creds_restore(&cs);
	CHECK(fd >= 0 && made_dir == 0);
	CHECK(chowned == -1 && e == EPERM);
	if (fd >= 0)
		close(fd);
	struct stat st;
	CHECK(stat(at("c/f"), &st) == 0 && st.st_uid == 4242 && st.st_gid == 4243 && (st.st_mode & 07777) == 04755);
	CHECK(stat(at("c/d"), &st) == 0 && st.st_uid == 4242 && st.st_gid == 4243);
	/* Back to root: made as root again. */
	CHECK(mkdir(at("c/r"), 0755) == 0 && stat(at("c/r"), &st) == 0 && st.st_uid == 0);
	CHECK(creds_become(0, 0, &cs) == 0 && !cs.active);
}

int main(void)
{
	snprintf(top, sizeof top, "%s/pyenvfs-safedir-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	chmod(top, 0755);
	test_safedir();
	test_creds();
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", top);
	return UNIT_DONE();
}
