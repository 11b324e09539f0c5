// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for util: path helpers and pe_err. */
#include "unit.h"
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_norm(const char *in, const char *want, int line)
{
	char *got = path_normalize(in);
	if (strcmp(got, want) == 0) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: path_normalize(\"%s\") = \"%s\", want \"%s\"\n",
			__FILE__, line, in, got, want);
	}
	free(got);
}
#define NORM(in, want) check_norm(in, want, __LINE__)

static void test_path_normalize(void)
{
	NORM("/a//b/./c/../d/", "/a/b/d");
	NORM("/..", "/");
	NORM("/", "/");
	NORM("/a/..", "/");
	NORM("//", "/");
	NORM("/.", "/");
	NORM("/a", "/a");
	NORM("/a/", "/a");
	NORM("/a/b/..", "/a");
	NORM("/a/b/../..", "/");
	NORM("/a/b/../../../..", "/");
	NORM("/../a", "/a");
	NORM("/a/./././b", "/a/b");
	NORM("///usr///lib//", "/usr/lib");
	NORM("/a/..b/c", "/a/..b/c");          /* "..b" is a name, not ".." */
	NORM("/a/.b/c", "/a/.b/c");
	NORM("/a/.../c", "/a/.../c");
	NORM("/home/u/sp/ENV1/../ENV2", "/home/u/sp/ENV2");
	NORM("/x/y/z/../../w", "/x/w");
}

static void test_path_is_within(void)
{
	CHECK(path_is_within("/a/b", "/a/b") == 1);         /* equal */
	CHECK(path_is_within("/a/b/c", "/a/b") == 1);       /* child */
	CHECK(path_is_within("/a/b/c/d", "/a/b") == 1);     /* grandchild */
	CHECK(path_is_within("/a/bc", "/a/b") == 0);        /* sibling with the same prefix */
	CHECK(path_is_within("/a/b", "/a/bc") == 0);
	CHECK(path_is_within("/a", "/a/b") == 0);           /* parent */
	CHECK(path_is_within("/", "/a") == 0);
	CHECK(path_is_within("/x/y", "/a/b") == 0);
	CHECK(path_is_within("/a/b", "/") == 1);            /* root holds everything */
	CHECK(path_is_within("/", "/") == 1);
	CHECK(path_is_within("/home/u/sp/ENV1", "/home/u/pythonenv/ENV1") == 0);
	CHECK(path_is_within("/home/u/pythonenv/ENV1/sp", "/home/u/pythonenv/ENV1") == 1);
}

static void check_join(const char *a, const char *b, const char *want, int line)
{
	char *got = path_join(a, b);
	if (strcmp(got, want) == 0) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: path_join(\"%s\", \"%s\") = \"%s\", want \"%s\"\n",
			__FILE__, line, a, b ? b : "(null)", got, want);
	}
	free(got);
}
#define JOIN(a, b, want) check_join(a, b, want, __LINE__)

static void test_path_join(void)
{
	JOIN("/a", "b", "/a/b");
	JOIN("/a/", "b", "/a/b");                /* one slash, not two */
	JOIN("/", "b", "/b");
	JOIN("/a", "", "/a");                    /* "" gives a copy of a */
	JOIN("/a", NULL, "/a");
	JOIN("", "b", "b");
	JOIN("/a/b", "c/d", "/a/b/c/d");
	JOIN("lib", "python3.11", "lib/python3.11");

	/* A fresh copy, not a itself. */
	const char *a = "/a";
	char *j = path_join(a, "");
	CHECK(j != a);
	free(j);
}

static void test_pe_err(void)
{
	char buf[256];

	memset(buf, 'x', sizeof buf);
	CHECK(pe_err(buf, sizeof buf, "missing --site %s", "DIR") == -1);
	CHECK_STR(buf, "pyenvfs: missing --site DIR");

	/* A newline in a value (a path, say) must not split the message. */
	CHECK(pe_err(buf, sizeof buf, "cannot use '%s'", "/tmp/a\nb\n") == -1);
	CHECK_STR(buf, "pyenvfs: cannot use '/tmp/a?b?'");
	CHECK(strchr(buf, '\n') == NULL);

	/* ... nor one in the format itself. */
	pe_err(buf, sizeof buf, "one\ntwo");
	CHECK_STR(buf, "pyenvfs: one?two");

	/* Truncated, still terminated, still the prefix, still one line. */
	char small[16];
	memset(small, 'x', sizeof small);
	CHECK(pe_err(small, sizeof small, "%s", "a very long message\nindeed") == -1);
	CHECK(memchr(small, '\0', sizeof small) != NULL);
	CHECK(strlen(small) == sizeof small - 1);
	CHECK(strncmp(small, "pyenvfs: ", 9) == 0);
	CHECK(strchr(small, '\n') == NULL);

	/* A buffer too small even for the prefix, or none at all: still -1, no overflow. */
	char tiny[4] = { 'x', 'x', 'x', 'x' };
	CHECK(pe_err(tiny, sizeof tiny, "boom") == -1);
	CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);
	CHECK(pe_err(NULL, 0, "boom") == -1);
	CHECK(pe_err(buf, 0, "boom") == -1);
}

static void test_alloc_helpers(void)
{
	char *s = pe_xasprintf("python%d.%d", 3, 11);
	CHECK_STR(s, "python3.11");
	free(s);
	s = pe_xstrdup("abc");
	CHECK_STR(s, "abc");
	free(s);

	/* cleanup_free frees at the end of the scope (valgrind checks it). */
	{
		cleanup_free char *p = pe_xstrdup("scoped");
		CHECK_STR(p, "scoped");
	}
	{
		cleanup_free char *p = NULL;    /* NULL is fine */
		CHECK(p == NULL);
	}
}

/* These two touch the file system: a fresh temporary directory only. */
static void test_path_resolve(void)
{
	char tmpl[] = "/tmp/pyenvfs-unit-XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return;
	char *real = realpath(dir, NULL);
	CHECK(real != NULL);
	if (!real)
		return;

	char *missing = pe_xasprintf("%s/no/such/dir", dir);
	char *near = path_nearest_existing(missing);
	CHECK_STR(near, dir);
	free(near);
	near = path_nearest_existing(dir);
	CHECK_STR(near, dir);
	free(near);

	/* Resolved from the nearest existing ancestor, the rest lexically. */
	char *in = pe_xasprintf("%s//no/./such/../dir/", dir);
	char *want = pe_xasprintf("%s/no/dir", real);
	char *got = path_resolve_nearest(in);
	CHECK_STR(got, want);
	free(got);
	free(want);
	free(in);

	got = path_resolve_nearest("/");
	CHECK_STR(got, "/");
	free(got);

	free(missing);
	rmdir(dir);
	free(real);
}

/* openat_beneath follows no symlink and never leaves its directory. */
static void check_openat_beneath(int (*open_fn)(int, const char *, int))
{
	char tmpl[] = "/tmp/pyenvfs-unit-XXXXXX";
	char *d = mkdtemp(tmpl);
	CHECK(d != NULL);
	if (!d)
		return;
	int dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	CHECK(mkdirat(dfd, "a", 0755) == 0);
	CHECK(mkdirat(dfd, "a/b", 0755) == 0);
	CHECK(symlinkat("/", dfd, "root") == 0);
	CHECK(symlinkat("b", dfd, "a/lb") == 0);
	CHECK(symlinkat("..", dfd, "a/up") == 0);
	int fd = open_fn(dfd, "a/b", O_PATH | O_DIRECTORY);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	fd = open_fn(dfd, ".", O_PATH | O_DIRECTORY);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* A symlink as the last component: the link itself, never its target. */
	fd = open_fn(dfd, "root", O_PATH);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(fd >= 0 && fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISLNK(st.st_mode));
	if (fd >= 0)
		close(fd);
	errno = 0;
	CHECK(open_fn(dfd, "root", O_PATH | O_DIRECTORY) < 0);
	CHECK(open_fn(dfd, "root/tmp", O_PATH | O_DIRECTORY) < 0);
	CHECK(open_fn(dfd, "a/lb", O_PATH | O_DIRECTORY) < 0);
	CHECK(open_fn(dfd, "a/up/a", O_PATH | O_DIRECTORY) < 0);
	CHECK(open_fn(dfd, "../tmp", O_PATH | O_DIRECTORY) < 0);
	CHECK(open_fn(dfd, "/tmp", O_PATH | O_DIRECTORY) < 0);
	unlinkat(dfd, "a/up", 0);
	unlinkat(dfd, "a/lb", 0);
	unlinkat(dfd, "root", 0);
	unlinkat(dfd, "a/b", AT_REMOVEDIR);
	unlinkat(dfd, "a", AT_REMOVEDIR);
	close(dfd);
	rmdir(d);
}

static void test_openat_beneath(void)
{
	check_openat_beneath(openat_beneath);
	check_openat_beneath(openat_beneath_walk);
}

int main(void)
{
	test_path_normalize();
	test_path_is_within();
	test_path_join();
	test_pe_err();
	test_alloc_helpers();
	test_path_resolve();
	test_openat_beneath();
	return UNIT_DONE();
}
