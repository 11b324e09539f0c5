// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ownership: a layer's objects as the env owner's, nobody
 * gaining a right; what a copy-up gets; the mode layer pack gives. */
#include "unit.h"
#include "ownership.h"

#include <string.h>

#define ROOT 0
#define U 1000          /* the env's owner */
#define G 1000
#define OTHER 1234

static struct stat obj(mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	memset(&st, 0, sizeof st);
	st.st_mode = mode;
	st.st_uid = uid;
	st.st_gid = gid;
	return st;
}

static const struct ownership root_layer = { U, G, ROOT };

static mode_t shown(mode_t mode, uid_t uid, gid_t gid, uid_t *su, gid_t *sg)
{
	struct stat st = obj(mode, uid, gid);
	ownership_show(&root_layer, &st);
	*su = st.st_uid;
	*sg = st.st_gid;
	CHECK((st.st_mode & S_IFMT) == (mode & S_IFMT));
	return st.st_mode & 07777;
}

static void test_show(void)
{
	uid_t u;
	gid_t g;
	/* the usual: the env owner's, writable by them (a copy-up), read by others */
	CHECK(shown(S_IFREG | 0644, ROOT, ROOT, &u, &g) == 0644 && u == U && g == G);
	CHECK(shown(S_IFDIR | 0755, ROOT, ROOT, &u, &g) == 0755 && u == U && g == G);
	CHECK(shown(S_IFREG | 0755, ROOT, ROOT, &u, &g) == 0755);
	/* read-only to the world: still readable and writable by the env owner */
	CHECK(shown(S_IFREG | 0444, ROOT, ROOT, &u, &g) == 0644);
	/* root's private file: nothing for anyone (no read, so no write) */
	CHECK(shown(S_IFREG | 0600, ROOT, ROOT, &u, &g) == 0000 && u == U);
	CHECK(shown(S_IFDIR | 0700, ROOT, ROOT, &u, &g) == 0000);
	/* executable by its group only (root's): not by the env owner */
	CHECK(shown(S_IFREG | 0754, ROOT, ROOT, &u, &g) == 0644);
	/* set-id bits give nothing to anyone; sticky stays */
	CHECK(shown(S_IFREG | 04755, ROOT, ROOT, &u, &g) == 0755);
	CHECK(shown(S_IFREG | 02755, ROOT, ROOT, &u, &g) == 0755);
	CHECK(shown(S_IFDIR | 03777, ROOT, ROOT, &u, &g) == 01777);
	/* the env owner's group: what its members had natively */
	CHECK(shown(S_IFREG | 0640, ROOT, G, &u, &g) == 0640);
	CHECK(shown(S_IFREG | 0640, ROOT, ROOT, &u, &g) == 0000);
	CHECK(shown(S_IFREG | 0664, ROOT, ROOT, &u, &g) == 0644);
	CHECK(shown(S_IFREG | 0664, ROOT, G, &u, &g) == 0664);
	/* another owner's object in the layer: as it is, less set-id */
	CHECK(shown(S_IFREG | 04644, OTHER, OTHER, &u, &g) == 0644 && u == OTHER && g == OTHER);
	CHECK(shown(S_IFDIR | 0700, OTHER, OTHER, &u, &g) == 0700 && u == OTHER);
	/* a symlink: the env owner's */
	CHECK(shown(S_IFLNK | 0777, ROOT, ROOT, &u, &g) == 0777 && u == U && g == G);
	struct stat st = obj(S_IFREG | 0644, ROOT, ROOT);
	CHECK(ownership_mapped(&root_layer, &st));
	st.st_uid = OTHER;
	CHECK(!ownership_mapped(&root_layer, &st));
	/* a layer of the env owner's own: their own objects as they are */
	const struct ownership own = { U, G, U };
	st = obj(S_IFREG | 04750, U, G);
	ownership_show(&own, &st);
	CHECK((st.st_mode & 07777) == 0750 && st.st_uid == U);
}

/* Nobody gains: for every mode and class, what the env owner's group and
 * everybody else are shown is at most what they had natively, and the env
 * owner gets only read/execute they had, plus write where they read. */
static void test_nobody_gains(void)
{
	for (mode_t m = 0; m <= 07777; m++) {
		for (int gi = 0; gi < 2; gi++) {
			gid_t og = gi ? G : ROOT;
			struct stat st = obj(S_IFREG | m, ROOT, og);
			ownership_show(&root_layer, &st);
			mode_t s = st.st_mode & 07777;
			mode_t native_user = og == G ? (m >> 3) & 7 : m & 7;
			mode_t su = (s >> 6) & 7, sg = (s >> 3) & 7, so = s & 7;
			if (s & (S_ISUID | S_ISGID))
				unit_failed++, fprintf(stderr, "mode %04o: set-id shown\n", (unsigned)m);
			if ((su & 5) != (native_user & 5) || ((su & 2) && !(su & 4)))
				unit_failed++, fprintf(stderr, "mode %04o: user %o from %o\n", (unsigned)m, su, native_user);
			if ((sg & ~(og == G ? (m >> 3) & 7 : m & 7)) || (so & ~(m & 7)))
				unit_failed++, fprintf(stderr, "mode %04o: group/other gained\n", (unsigned)m);
		}
	}
	unit_passed++;
}

static void test_copy_up(void)
{
	uid_t u;
	gid_t g;
	mode_t mode;
	struct stat st = obj(S_IFREG | 04755, ROOT, ROOT);
	ownership_copy_up(&root_layer, &st, &u, &g, &mode);
	CHECK(u == U && g == G && mode == 0755);
	st = obj(S_IFDIR | 02775, OTHER, OTHER);
	ownership_copy_up(&root_layer, &st, &u, &g, &mode);
	CHECK(u == OTHER && g == OTHER && mode == 0775);
}

static void test_layer_mode(void)
{
	CHECK(ownership_layer_mode(S_IFREG | 0600) == 0644);
	CHECK(ownership_layer_mode(S_IFREG | 0700) == 0755);
	CHECK(ownership_layer_mode(S_IFREG | 0666) == 0644);
	CHECK(ownership_layer_mode(S_IFREG | 04755) == 0755);
	CHECK(ownership_layer_mode(S_IFDIR | 0700) == 0755);
	CHECK(ownership_layer_mode(S_IFDIR | 01777) == 0755);
	CHECK(ownership_layer_mode(S_IFREG | 0010) == 0555);
}

int main(void)
{
	test_show();
	test_nobody_gains();
	test_copy_up();
	test_layer_mode();
	return UNIT_DONE();
}
