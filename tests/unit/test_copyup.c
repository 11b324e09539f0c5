// SPDX-License-Identifier: GPL-2.0-or-later
/* Tests of copyup on real directories under $TMPDIR: what a copy keeps, that
 * it never replaces a name, and that a copy killed with SIGKILL at any moment
 * leaves no file or the whole file under the name (both kinds of temporary). */
#include "unit.h"
#include "copyup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static char root[512];
static int lower, dst, tmp;

static int open_dir(const char *name)
{
	char p[700];
	snprintf(p, sizeof p, "%s/%s", root, name);
	mkdir(p, 0755);
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void write_file(int dir, const char *name, const char *data, size_t len, mode_t mode)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(fd >= 0);
	for (size_t done = 0; fd >= 0 && done < len;) {
		ssize_t n = write(fd, data + done, len - done);
		CHECK(n > 0);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	CHECK(fchmodat(dir, name, mode, 0) == 0);
}

/* 1 if name in dir holds exactly data. */
static int holds(int dir, const char *name, const char *data, size_t len)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char *buf = malloc(len + 1);
	size_t got = 0;
	ssize_t n;
	while (got <= len && (n = read(fd, buf + got, len + 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	int same = got == len && memcmp(buf, data, len) == 0;
	free(buf);
	return same;
}

static size_t entries(int dir)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(fd);
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_file(int named)
{
	struct copyup_opts o = { .named_tmp = named };
	const char *text = "print('from the lower layer')\n";
	write_file(lower, "mod.py", text, strlen(text), 0640);
	struct timespec t[2] = { { 1000000000, 5 }, { 1100000000, 123456789 } };
	CHECK(utimensat(lower, "mod.py", t, 0) == 0);
	int src = openat(lower, "mod.py", O_RDONLY | O_CLOEXEC);
	int xattrs = fsetxattr(src, "user.pyenvfs.test", "v1", 2, 0) == 0;
	CHECK(copyup_file(src, dst, "mod.py", tmp, &o) == 0);
	struct stat a, b;       /* before reading it, which may change its atime */
	CHECK(fstatat(lower, "mod.py", &a, 0) == 0 && fstatat(dst, "mod.py", &b, 0) == 0);
	CHECK(holds(dst, "mod.py", text, strlen(text)));
	CHECK((b.st_mode & 07777) == 0640);
	CHECK(b.st_mtim.tv_sec == 1100000000 && b.st_mtim.tv_nsec == 123456789);
	CHECK(b.st_atim.tv_sec == 1000000000);
	CHECK(a.st_ino != b.st_ino);
	if (xattrs) {
		char v[8];
		int fd = openat(dst, "mod.py", O_RDONLY | O_CLOEXEC);
		CHECK(fgetxattr(fd, "user.pyenvfs.test", v, sizeof v) == 2 && memcmp(v, "v1", 2) == 0);
		close(fd);
	}
	CHECK(entries(tmp) == 0);

	/* Never replaces: a name made meanwhile is kept, nothing left behind. */
	CHECK(copyup_file(src, dst, "mod.py", tmp, &o) == -EEXIST);
	write_file(dst, "theirs.py", "x", 1, 0600);
	CHECK(copyup_file(src, dst, "theirs.py", tmp, &o) == -EEXIST);
	CHECK(holds(dst, "theirs.py", "x", 1));
	CHECK(entries(tmp) == 0);

	/* O_TRUNC: the metadata without the data. */
	struct copyup_opts trunc = { .skip_data = 1, .named_tmp = named };
	CHECK(copyup_file(src, dst, "empty.py", tmp, &trunc) == 0);
	CHECK(fstatat(dst, "empty.py", &b, 0) == 0 && b.st_size == 0 && (b.st_mode & 07777) == 0640);
	close(src);

	/* Not a regular file. */
	CHECK(copyup_file(lower, dst, "dir", tmp, &o) == -EINVAL);
	unlinkat(dst, "mod.py", 0);
	unlinkat(dst, "theirs.py", 0);
	unlinkat(dst, "empty.py", 0);
}

static void test_dir_and_symlink(void)
{
	struct copyup_opts o = { 0 };
	CHECK(mkdirat(lower, "pkg", 0751) == 0 || errno == EEXIST);
	CHECK(fchmodat(lower, "pkg", 0751, 0) == 0);
	struct timespec t[2] = { { 1200000000, 0 }, { 1300000000, 0 } };
	CHECK(utimensat(lower, "pkg", t, 0) == 0);
	int src = openat(lower, "pkg", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(copyup_dir(src, dst, "pkg", &o) == 0);
	struct stat b;
	CHECK(fstatat(dst, "pkg", &b, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(b.st_mode));
	CHECK((b.st_mode & 07777) == 0751 && b.st_mtim.tv_sec == 1300000000);
	CHECK(copyup_dir(src, dst, "pkg", &o) == 0);    /* there already: fine */
	write_file(dst, "file", "x", 1, 0600);
	CHECK(copyup_dir(src, dst, "file", &o) == -EEXIST);
	int f = openat(dst, "file", O_RDONLY | O_CLOEXEC);
	CHECK(copyup_dir(f, dst, "other", &o) == -ENOTDIR);
	close(f);
	close(src);

	CHECK(symlinkat("../target with space", lower, "link") == 0);
	CHECK(copyup_symlink(lower, "link", dst, tmp, &o) == 0);
	char buf[64] = "";
	CHECK(readlinkat(dst, "link", buf, sizeof buf - 1) == 20);
	CHECK_STR(buf, "../target with space");
	CHECK(copyup_symlink(lower, "link", dst, tmp, &o) == -EEXIST);
	CHECK(copyup_symlink(lower, "pkg", dst, tmp, &o) == -EINVAL);
	CHECK(copyup_symlink(lower, "missing", dst, tmp, &o) == -ENOENT);
	CHECK(entries(tmp) == 0);
}

/* A copy of a large file killed at a spread of moments: the name holds
 * nothing or everything; named temporaries are cleaned, O_TMPFILE ones leave
 * nothing. Each round waits for the child to have started copying. */
static void test_killed(int named)
{
	size_t len = 48u << 20;
	char *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	write_file(lower, "big.bin", data, len, 0644);
	int whole = 0, none = 0;
	for (int round = 0; round < 12; round++) {
		int p[2];
		CHECK(pipe(p) == 0);
		pid_t pid = fork();
		if (pid == 0) {
			struct copyup_opts o = { .named_tmp = named };
			int src = openat(lower, "big.bin", O_RDONLY | O_CLOEXEC);
			if (write(p[1], "s", 1) != 1)
				_exit(2);
			_exit(copyup_file(src, dst, "big.bin", tmp, &o) == 0 ? 0 : 1);
		}
		char c;
		CHECK(read(p[0], &c, 1) == 1);
		usleep((useconds_t)(round * round * 2000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		close(p[0]);
		close(p[1]);
		struct stat st;
		if (fstatat(dst, "big.bin", &st, 0) == 0) {
			CHECK(holds(dst, "big.bin", data, len));
			whole++;
			CHECK(unlinkat(dst, "big.bin", 0) == 0);
		} else {
			none++;
		}
		CHECK(copyup_clean(tmp) == 0);
		CHECK(entries(tmp) == 0);
	}
	printf("killed copies (%s temporary): %d complete, %d absent, none partial\n", named ? "named" : "O_TMPFILE",
	       whole, none);
	CHECK(whole + none == 12);
	unlinkat(lower, "big.bin", 0);
	free(data);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/pyenvfs-copyup-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	lower = open_dir("lower");
	dst = open_dir("dir");
	tmp = open_dir("tmp");
	CHECK(lower >= 0 && dst >= 0 && tmp >= 0);
	mkdirat(lower, "dir", 0755);
	test_file(0);
	test_file(1);
	test_dir_and_symlink();
	test_killed(0);
	test_killed(1);
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	return UNIT_DONE();
}
