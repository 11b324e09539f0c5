// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for envrec (what a DIR remembers: its env and mounts files,
 * parsed and made) and envfile (read and written in DIR/.pyenvfs). */
#include "unit.h"
#include "envfile.h"
#include "envrec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_round_trip(void)
{
	struct envrec r = { 0 };
	r.base = strdup("/opt/python 3.12");
	strcpy(r.xy, "3.12");
	strcpy(r.abi, "cpython-312-x86_64-linux-gnu");
	envrec_add_layer(&r, "/shared/layers/sci");
	envrec_add_layer(&r, "/home/u/sp/a b");
	r.with_pip = 1;
	char *text = envrec_format(&r);
	CHECK(text != NULL);
	struct envrec back;
	char err[256];
	CHECK(envrec_parse(text, &back, err, sizeof err) == 0);
	CHECK_STR(back.base, "/opt/python 3.12");
	CHECK_STR(back.xy, "3.12");
	CHECK_STR(back.abi, "cpython-312-x86_64-linux-gnu");
	CHECK(back.nlayers == 2);
	if (back.nlayers == 2) {
		CHECK_STR(back.layers[0], "/shared/layers/sci");
		CHECK_STR(back.layers[1], "/home/u/sp/a b");
	}
	CHECK(back.with_pip == 1);
	/* the same record gives the same text: the mount writes it only when it changes */
	char *again = envrec_format(&back);
	CHECK_STR(again, text);
	free(again);
	envrec_free(&back);
	free(text);
	/* a path that cannot be written in it */
	envrec_add_layer(&r, "/bad\nlayer");
	CHECK(envrec_format(&r) == NULL);
	envrec_free(&r);
	CHECK(r.base == NULL && r.nlayers == 0);
}

static void test_parse(void)
{
	struct envrec r;
	char err[256];
	/* comments, blank lines, unknown keys (a later version's) */
	CHECK(envrec_parse("# c\n\nbase /usr\nfuture thing\npython 3.11\nwith_pip no", &r, err, sizeof err) == 0);
	CHECK_STR(r.base, "/usr");
	CHECK_STR(r.xy, "3.11");
	CHECK(r.abi[0] == '\0' && r.nlayers == 0 && r.with_pip == 0);
	envrec_free(&r);
	CHECK(envrec_parse("", &r, err, sizeof err) == 0 && !r.base);
	envrec_free(&r);
	const char *bad[] = { "base usr\n", "python 3\n", "python 3.11.2\n", "python x.y\n", "layer rel/x\n",
			      "with_pip maybe\n", "abi a/b\n", "abi \n", "novalue\n" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = '\0';
		CHECK(envrec_parse(bad[i], &r, err, sizeof err) == -1);
		CHECK_ERRMSG(err);
		CHECK(r.base == NULL && r.layers == NULL);
	}
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_mounts(void)
{
	char *t = envrec_mounts_add(NULL, "/home/u/env", 4);
	CHECK_STR(t, "/home/u/env\n");
	/* the same mount point again: nothing to write */
	CHECK(envrec_mounts_add(t, "/home/u/env", 4) == NULL);
	char *t2 = envrec_mounts_add(t, "/tmp/run.1/env", 4);
	CHECK_STR(t2, "/home/u/env\n/tmp/run.1/env\n");
	/* one listed before moves to the end */
	char *t3 = envrec_mounts_add(t2, "/home/u/env", 4);
	CHECK_STR(t3, "/tmp/run.1/env\n/home/u/env\n");
	/* the oldest go beyond max */
	char *cur = t3;
	for (int i = 2; i < 9; i++) {
		char mp[64];
		snprintf(mp, sizeof mp, "/tmp/run.%d/env", i);
		char *next = envrec_mounts_add(cur, mp, 4);
		CHECK(next != NULL);
		free(cur);
		cur = next;
	}
	CHECK(count_lines(cur) == 4);
	CHECK(strncmp(cur, "/tmp/run.5/env\n", 15) == 0);
	size_t n;
	char **m = envrec_mounts_parse(cur, &n);
	CHECK(n == 4);
	CHECK_STR(m[3], "/tmp/run.8/env");
	envrec_mounts_free(m, n);
	/* not absolute, or a newline: not written */
	CHECK(envrec_mounts_add(cur, "rel/env", 4) == NULL);
	CHECK(envrec_mounts_add(cur, "/a\nb", 4) == NULL);
	/* lines that are not absolute paths are skipped when read */
	m = envrec_mounts_parse("/a\n\nrel\n/b c\n", &n);
	CHECK(n == 2);
	if (n == 2)
		CHECK_STR(m[1], "/b c");
	envrec_mounts_free(m, n);
	free(cur);
	free(t);
	free(t2);
}

/* envfile: written atomically, read back; only DIR's owner's (or root's)
 * regular file, never through a symlink. */
static void test_files(void)
{
	char dir[] = "/tmp/pyenvfs-envrec-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	char res[256], path[300];
	snprintf(res, sizeof res, "%s/.pyenvfs", dir);
	CHECK(mkdir(res, 0755) == 0);
	int dfd = open(dir, O_PATH | O_DIRECTORY);
	int rfd = open(res, O_PATH | O_DIRECTORY);
	CHECK(envfile_read(dfd, ENVREC_FILE) == NULL && errno == ENOENT);
	struct envrec r;
	char err[512];
	CHECK(envfile_load(dir, "DIR", &r, err, sizeof err) == 0);
	CHECK(envfile_write(rfd, ENVREC_FILE, "base /usr\npython 3.11\n", geteuid(), getegid()) == 0);
	char *text = envfile_read(dfd, ENVREC_FILE);
	CHECK_STR(text, "base /usr\npython 3.11\n");
	free(text);
	CHECK(envfile_load(dir, "DIR", &r, err, sizeof err) == 1);
	CHECK_STR(r.xy, "3.11");
	envrec_free(&r);
	/* replaced, no temporary left */
	CHECK(envfile_write(rfd, ENVREC_FILE, "python 3.12\n", geteuid(), getegid()) == 0);
	text = envfile_read(dfd, ENVREC_FILE);
	CHECK_STR(text, "python 3.12\n");
	free(text);
	DIR *d = opendir(res);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK(n == 1);
	/* malformed: one line naming the directory */
	CHECK(envfile_write(rfd, ENVREC_FILE, "python three\n", geteuid(), getegid()) == 0);
	CHECK(envfile_load(dir, "DIR", &r, err, sizeof err) == -1);
	CHECK_ERRMSG(err);
	CHECK(strstr(err, dir) != NULL);
	/* a symlink in its place is not followed */
	snprintf(path, sizeof path, "%s/%s", res, ENVREC_FILE);
	unlink(path);
	CHECK(symlink("/etc/passwd", path) == 0);
	CHECK(envfile_read(dfd, ENVREC_FILE) == NULL);
	CHECK(envfile_load(dir, "DIR", &r, err, sizeof err) == -1);
	unlink(path);
	/* nor a .pyenvfs that is a symlink */
	rmdir(res);
	CHECK(symlink(dir, res) == 0);
	CHECK(envfile_read(dfd, ENVREC_FILE) == NULL);
	unlink(res);
	close(rfd);
	close(dfd);
	rmdir(dir);
}

int main(void)
{
	test_round_trip();
	test_parse();
	test_mounts();
	test_files();
	return UNIT_DONE();
}
