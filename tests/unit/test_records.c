// SPDX-License-Identifier: GPL-2.0-or-later
/* Tests of records (whiteout records on disk) in a layer under $TMPDIR. */
#include "unit.h"
#include "records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int top;

static enum wh_kind kind_of(enum wh_area area, const char *dir, const char *name)
{
	struct wh_record rec;
	int r = records_read(top, area, dir, name, &rec);
	return r ? (enum wh_kind) - 1 : rec.kind;
}

static void test_set_and_read(void)
{
	struct wh_record rec;
	char target[64] = "";

	CHECK(kind_of(WH_AREA_SITE, "", "six.py") == WH_NONE);
	CHECK(records_set(top, WH_AREA_SITE, "", "six.py", WH_HIDE, NULL) == 0);
	CHECK(kind_of(WH_AREA_SITE, "", "six.py") == WH_HIDE);
	CHECK(readlinkat(top, ".pyenvfs/whiteouts/site/sub/six.py/kind", target, sizeof target - 1) == 8);
	CHECK_STR(target, "whiteout");
	CHECK(kind_of(WH_AREA_UPPER, "", "six.py") == WH_NONE);     /* the other area */

	/* Deeper: the nodes on the way read as WH_DIR. */
	CHECK(records_set(top, WH_AREA_SITE, "google/auth", "x.py", WH_HIDE, NULL) == 0);
	CHECK(kind_of(WH_AREA_SITE, "google/auth", "x.py") == WH_HIDE);
	CHECK(kind_of(WH_AREA_SITE, "google", "auth") == WH_DIR);
	CHECK(kind_of(WH_AREA_SITE, "", "google") == WH_DIR);
	CHECK(kind_of(WH_AREA_SITE, "google/auth", "y.py") == WH_NONE);
	CHECK(kind_of(WH_AREA_SITE, "nothing/here", "y.py") == WH_NONE);

	/* pip's uninstall: records below a name, then the name hidden; the
	 * records below stay. Made nodes are said so. */
	int made = 0;
	CHECK(records_set(top, WH_AREA_SITE, "~oo", "__init__.py", WH_HIDE, &made) == 0 && made);
	CHECK(kind_of(WH_AREA_SITE, "", "~oo") == WH_DIR);
	made = 0;
	CHECK(records_set(top, WH_AREA_SITE, "", "~oo", WH_HIDE, &made) == 0 && !made);
	CHECK(kind_of(WH_AREA_SITE, "", "~oo") == WH_HIDE);
	CHECK(kind_of(WH_AREA_SITE, "~oo", "__init__.py") == WH_HIDE);

	/* By descriptor: a directory's node, its children's, their kinds. */
	int node = records_node_open(top, WH_AREA_SITE, "google");
	CHECK(node >= 0);
	CHECK(records_read_at(node, "auth", &rec) == 0 && rec.kind == WH_NONE);   /* a node, no kind */
	int auth = records_child_open(node, "auth");
	CHECK(auth >= 0 && records_read_at(auth, "x.py", &rec) == 0 && rec.kind == WH_HIDE);
	CHECK(records_read_at(auth, "y.py", &rec) == 0 && rec.kind == WH_NONE);
	CHECK(records_child_open(auth, "x.py") >= 0 && records_child_open(auth, "y.py") == -ENOENT);
	CHECK(records_node_open(top, WH_AREA_SITE, "nothing/here") == -ENOENT);
	CHECK(records_read_at(node, "..", &rec) == -EINVAL);
	close(node);
	close(auth);

	/* The upper area, and names like the format's own. */
	CHECK(records_set(top, WH_AREA_UPPER, "bin", "pip", WH_HIDE, NULL) == 0);
	CHECK(kind_of(WH_AREA_UPPER, "bin", "pip") == WH_HIDE);
	CHECK(records_set(top, WH_AREA_SITE, "kind", "sub", WH_HIDE, NULL) == 0);
	CHECK(kind_of(WH_AREA_SITE, "kind", "sub") == WH_HIDE);
	CHECK(kind_of(WH_AREA_SITE, "", "kind") == WH_DIR);

	/* Refused: the reserved name, bad names, kinds that are not records. */
	CHECK(records_set(top, WH_AREA_SITE, "", ".pyenvfs", WH_HIDE, NULL) == -EINVAL);
	CHECK(records_set(top, WH_AREA_SITE, "", "a/b", WH_HIDE, NULL) == -EINVAL);
	CHECK(records_set(top, WH_AREA_SITE, "", "..", WH_HIDE, NULL) == -EINVAL);
	CHECK(records_set(top, WH_AREA_SITE, "", "r", WH_DIR, NULL) == -EINVAL);
	CHECK(records_read(top, WH_AREA_SITE, "", ".pyenvfs", &rec) == -EINVAL);
	CHECK(kind_of(WH_AREA_SITE, "", "r") == WH_NONE);
}

static void test_damage(void)
{
	struct wh_record rec;
	/* A kind that is a file, or a link with an unknown target: hides. */
	CHECK(records_set(top, WH_AREA_SITE, "", "d1", WH_HIDE, NULL) == 0);
	CHECK(unlinkat(top, ".pyenvfs/whiteouts/site/sub/d1/kind", 0) == 0);
	int fd = openat(top, ".pyenvfs/whiteouts/site/sub/d1/kind", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(records_read(top, WH_AREA_SITE, "", "d1", &rec) == 0 && rec.kind == WH_HIDE);
	CHECK(records_set(top, WH_AREA_SITE, "", "d2", WH_HIDE, NULL) == 0);
	CHECK(unlinkat(top, ".pyenvfs/whiteouts/site/sub/d2/kind", 0) == 0);
	CHECK(symlinkat("something else", top, ".pyenvfs/whiteouts/site/sub/d2/kind") == 0);
	CHECK(records_read(top, WH_AREA_SITE, "", "d2", &rec) == 0 && rec.kind == WH_HIDE);
	/* Setting it again repairs it. */
	CHECK(records_set(top, WH_AREA_SITE, "", "d2", WH_HIDE, NULL) == 0);
	char target[64] = "";
	CHECK(readlinkat(top, ".pyenvfs/whiteouts/site/sub/d2/kind", target, sizeof target - 1) == 8);
	/* By descriptor too: a kind that is a file hides. */
	int node = records_node_open(top, WH_AREA_SITE, "");
	CHECK(node >= 0 && records_read_at(node, "d1", &rec) == 0 && rec.kind == WH_HIDE);
	close(node);

	/* A symbolic link in the tree is never followed, to read or to write. */
	CHECK(mkdirat(top, "outside", 0700) == 0);
	CHECK(symlinkat("../../../../outside", top, ".pyenvfs/whiteouts/site/sub/evil") == 0);
	CHECK(records_read(top, WH_AREA_SITE, "evil", "x", &rec) == -ELOOP);
	CHECK(records_set(top, WH_AREA_SITE, "evil", "x", WH_HIDE, NULL) == -ELOOP);
	CHECK(records_set(top, WH_AREA_SITE, "", "evil", WH_HIDE, NULL) == -ELOOP);
	struct stat st;
	CHECK(fstatat(top, "outside/sub", &st, 0) == -1 && errno == ENOENT);
	CHECK(records_drop(top, WH_AREA_SITE, "", "evil") == 0);        /* drops the link itself */
	CHECK(fstatat(top, "outside", &st, 0) == 0);
	CHECK(fstatat(top, ".pyenvfs/whiteouts/site/sub/evil", &st, AT_SYMLINK_NOFOLLOW) == -1);
}

static void test_drop_below(void)
{
	CHECK(records_set(top, WH_AREA_SITE, "pkg", "a.py", WH_HIDE, NULL) == 0);
	CHECK(records_set(top, WH_AREA_SITE, "pkg/sub", "b.py", WH_HIDE, NULL) == 0);
	CHECK(records_set(top, WH_AREA_SITE, "", "pkg", WH_HIDE, NULL) == 0);
	CHECK(records_drop_below(top, WH_AREA_SITE, "", "pkg") == 0);
	CHECK(kind_of(WH_AREA_SITE, "", "pkg") == WH_HIDE);            /* its own kind stays */
	CHECK(kind_of(WH_AREA_SITE, "pkg", "a.py") == WH_NONE);
	CHECK(kind_of(WH_AREA_SITE, "pkg/sub", "b.py") == WH_NONE);
	CHECK(records_drop_below(top, WH_AREA_SITE, "", "pkg") == 0);  /* nothing below any more */
	CHECK(records_drop_below(top, WH_AREA_SITE, "no/such", "dir") == 0);
	CHECK(records_drop(top, WH_AREA_SITE, "", "pkg") == 0);
}

static void test_drop(void)
{
	CHECK(records_drop(top, WH_AREA_SITE, "", "google") == 0);
	CHECK(kind_of(WH_AREA_SITE, "", "google") == WH_NONE);
	CHECK(kind_of(WH_AREA_SITE, "google/auth", "x.py") == WH_NONE);
	CHECK(kind_of(WH_AREA_SITE, "", "six.py") == WH_HIDE);  /* the others stay */
	CHECK(records_drop(top, WH_AREA_SITE, "", "google") == 0);      /* gone already */
	CHECK(records_drop(top, WH_AREA_SITE, "no/such", "dir") == 0);
	CHECK(records_drop(top, WH_AREA_SITE, "", "six.py") == 0);
	CHECK(kind_of(WH_AREA_SITE, "", "six.py") == WH_NONE);
	CHECK(records_drop(top, WH_AREA_SITE, "", "..") == -EINVAL);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char root[512], cmd[700];
	snprintf(root, sizeof root, "%s/pyenvfs-records-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	top = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(top >= 0);
	test_set_and_read();
	test_damage();
	test_drop_below();
	test_drop();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	return UNIT_DONE();
}
