// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for whiteout (the record format) and merge (the union rule). */
#include "unit.h"
#include "merge.h"
#include "whiteout.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_names(void)
{
	char n255[256], n256[257];
	memset(n255, 'x', 255);
	n255[255] = '\0';
	memset(n256, 'x', 256);
	n256[256] = '\0';

	CHECK(wh_check_name("foo") == 0);
	CHECK(wh_check_name(".wh.foo") == 0);   /* no prefix is reserved: any name */
	CHECK(wh_check_name("...") == 0);
	CHECK(wh_check_name(" ") == 0);
	CHECK(wh_check_name(n255) == 0);        /* the longest name still has a record */
	CHECK(wh_check_name(n256) == -ENAMETOOLONG);
	CHECK(wh_check_name("") == -EINVAL);
	CHECK(wh_check_name(".") == -EINVAL);
	CHECK(wh_check_name("..") == -EINVAL);
	CHECK(wh_check_name("a/b") == -EINVAL);

	CHECK(wh_check_path("") == 0);
	CHECK(wh_check_path("a") == 0);
	CHECK(wh_check_path("a/b/.c") == 0);
	CHECK(wh_check_path("/a") == -EINVAL);
	CHECK(wh_check_path("a/") == -EINVAL);
	CHECK(wh_check_path("a//b") == -EINVAL);
	CHECK(wh_check_path("a/./b") == -EINVAL);
	CHECK(wh_check_path("a/../b") == -EINVAL);
	CHECK(wh_check_path("..") == -EINVAL);
	CHECK(wh_check_path(n256) == -ENAMETOOLONG);
}

static void test_record_path(void)
{
	char out[512];
	CHECK(wh_node_path(WH_AREA_SITE, "", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/site");
	CHECK(wh_node_path(WH_AREA_SITE, "google/auth", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/site/sub/google/sub/auth");
	CHECK(wh_node_path(WH_AREA_UPPER, "bin", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/upper/sub/bin");

	CHECK(wh_record_path(WH_AREA_SITE, "", "six.py", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/site/sub/six.py/kind");
	CHECK(wh_record_path(WH_AREA_SITE, "google/auth", "__init__.py", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/site/sub/google/sub/auth/sub/__init__.py/kind");
	CHECK(wh_record_path(WH_AREA_UPPER, "bin", "pip", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/upper/sub/bin/sub/pip/kind");
	/* In the upper area ".pyenvfs" is an ordinary name. */
	CHECK(wh_record_path(WH_AREA_UPPER, "", ".pyenvfs", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/upper/sub/.pyenvfs/kind");
	/* Names like the format's own are just names: no collision. */
	CHECK(wh_record_path(WH_AREA_SITE, "kind", "sub", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/site/sub/kind/sub/sub/kind");
	CHECK(wh_record_path(WH_AREA_SITE, "", ".wh.x", out, sizeof out) == 0);
	CHECK_STR(out, ".pyenvfs/whiteouts/site/sub/.wh.x/kind");

	/* The reserved area of the site top is never shown, so never removed. */
	CHECK(wh_record_path(WH_AREA_SITE, "", ".pyenvfs", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, ".pyenvfs", "upper", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, ".pyenvfs/whiteouts", "x", out, sizeof out) == -EINVAL);
	CHECK(wh_node_path(WH_AREA_SITE, ".pyenvfs", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, ".pyenvfsx", "y", out, sizeof out) == 0);
	CHECK(wh_record_path(WH_AREA_SITE, "pkg", ".pyenvfs", out, sizeof out) == 0);

	CHECK(wh_record_path(WH_AREA_SITE, "", "", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, "", "..", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, "", "a/b", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, "a/../b", "x", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path(WH_AREA_SITE, "/abs", "x", out, sizeof out) == -EINVAL);
	CHECK(wh_node_path(WH_AREA_SITE, "a/", out, sizeof out) == -EINVAL);
	CHECK(wh_record_path((enum wh_area)7, "", "x", out, sizeof out) == -EINVAL);
	/* ".pyenvfs/whiteouts/site/sub/six.py/kind" is 39 bytes. */
	CHECK(wh_record_path(WH_AREA_SITE, "", "six.py", out, 39) == -ENAMETOOLONG);
	CHECK(wh_record_path(WH_AREA_SITE, "", "six.py", out, 40) == 0);
	CHECK(wh_node_path(WH_AREA_SITE, "six.py", out, 30) == -ENAMETOOLONG);
	CHECK(wh_node_path(WH_AREA_SITE, "six.py", out, 35) == 0);
	char deep[5000];
	size_t k = 0;
	while (k + 2 < sizeof deep - 100) {
		deep[k++] = 'd';
		deep[k++] = '/';
	}
	deep[k++] = 'd';
	deep[k] = '\0';
	CHECK(wh_node_path(WH_AREA_SITE, deep, out, sizeof out) == -ENAMETOOLONG);
}

static void test_encode_decode(void)
{
	char t[64];
	struct wh_record rec;

	CHECK(wh_encode(WH_HIDE, t, sizeof t) == 0);
	CHECK_STR(t, "whiteout");
	CHECK(wh_decode(S_IFLNK | 0777, t, strlen(t), &rec) == 0 && rec.kind == WH_HIDE);
	CHECK(wh_encode(WH_DIR, t, sizeof t) == -EINVAL);
	CHECK(wh_encode(WH_NONE, t, sizeof t) == -EINVAL);
	CHECK(wh_encode(WH_HIDE, t, 8) == -ENAMETOOLONG);

	CHECK(wh_decode(S_IFDIR | 0755, NULL, 0, &rec) == -EINVAL && rec.kind == WH_HIDE);
	CHECK(wh_decode(S_IFLNK | 0777, "whiteout", 8, &rec) == 0 && rec.kind == WH_HIDE);
	/* Not NUL-terminated: only len bytes count. */
	CHECK(wh_decode(S_IFLNK | 0777, "whiteoutXYZ", 8, &rec) == 0 && rec.kind == WH_HIDE);
	/* Damage hides: -EINVAL, and the kind says WH_HIDE (a redirect record
	 * of an older design too). */
	const char *bad[] = { "whiteou", "whiteout ", "redirect:pkg/sub", "redirect:", "", "Whiteout", "redirect" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		rec.kind = WH_NONE;
		CHECK(wh_decode(S_IFLNK | 0777, bad[i], strlen(bad[i]), &rec) == -EINVAL);
		CHECK(rec.kind == WH_HIDE);
	}
	CHECK(wh_decode(S_IFREG | 0644, "whiteout", 8, &rec) == -EINVAL && rec.kind == WH_HIDE);
	CHECK(wh_decode(S_IFLNK | 0777, "white\0ut", 8, &rec) == -EINVAL);
	CHECK(wh_decode(S_IFLNK | 0777, NULL, 0, &rec) == -EINVAL);
}

/* Feeds probes until merge_feed says the answer is complete. */
static void feed(struct merge_state *s, const struct merge_probe *p, size_t n)
{
	merge_begin(s);
	for (size_t i = 0; i < n; i++)
		if (merge_feed(s, i, &p[i]) != 1)
			break;
}

#define P(obj, rec) ((struct merge_probe){ (obj), (rec), 0 })
#define A MERGE_ABSENT
#define D MERGE_DIR
#define F MERGE_OTHER

static void test_lookup(void)
{
	struct merge_state s;

	/* The first layer holding the name answers. */
	feed(&s, (struct merge_probe[]){ P(A, WH_NONE), P(F, WH_NONE), P(F, WH_NONE) }, 3);
	CHECK(s.found && !s.is_dir && s.top == 1 && s.done && s.nlayers == 0);
	/* Directories merge, top first, across a layer without the name. */
	feed(&s, (struct merge_probe[]){ P(D, WH_NONE), P(A, WH_DIR), P(D, WH_NONE) }, 3);
	CHECK(s.found && s.is_dir && s.top == 0 && s.nlayers == 2 && s.last == 2);
	CHECK(!s.done);         /* all three fed; a fourth could still merge */
	/* A file under a directory ends the merge: nothing below it either. */
	feed(&s, (struct merge_probe[]){ P(D, WH_NONE), P(F, WH_NONE), P(D, WH_NONE) }, 3);
	CHECK(s.found && s.is_dir && s.nlayers == 1 && s.done);
	/* A directory under a file does not show. */
	feed(&s, (struct merge_probe[]){ P(F, WH_NONE), P(D, WH_NONE) }, 2);
	CHECK(s.found && !s.is_dir && s.top == 0 && s.nlayers == 0);
	/* A whiteout hides the layers below it... */
	feed(&s, (struct merge_probe[]){ P(A, WH_HIDE), P(F, WH_NONE) }, 2);
	CHECK(!s.found && s.done);
	feed(&s, (struct merge_probe[]){ P(A, WH_NONE), P(A, WH_HIDE), P(F, WH_NONE) }, 3);
	CHECK(!s.found && s.done);
	/* ...not its own layer's object: made again after the removal. */
	feed(&s, (struct merge_probe[]){ P(F, WH_HIDE), P(F, WH_NONE) }, 2);
	CHECK(s.found && s.top == 0);
	/* A directory made again: opaque, nothing merged from below. */
	feed(&s, (struct merge_probe[]){ P(D, WH_HIDE), P(D, WH_NONE) }, 2);
	CHECK(s.found && s.is_dir && s.nlayers == 1 && s.last == 0 && s.done);
	/* A record in a lower layer acts below it only. */
	feed(&s, (struct merge_probe[]){ P(D, WH_NONE), P(D, WH_HIDE), P(D, WH_NONE) }, 3);
	CHECK(s.nlayers == 2 && s.last == 1 && s.done);
	/* A shadowed distribution's object is skipped; what is under it shows. */
	struct merge_probe sh[] = { P(A, WH_NONE), P(F, WH_NONE), P(F, WH_NONE) };
	sh[1].shadowed = 1;
	feed(&s, sh, 3);
	CHECK(s.found && s.top == 2);

	/* Any number of layers: a directory merged from the thousandth. */
	merge_begin(&s);
	for (size_t l = 0; l < 1000; l++)
		CHECK(merge_feed(&s, l, &P(l % 3 ? A : D, WH_NONE)) == 1);
	CHECK(s.found && s.is_dir && s.nlayers == 334 && s.last == 999 && s.merged);

	/* Layers in order. */
	merge_begin(&s);
	CHECK(merge_feed(&s, 2, &P(A, WH_NONE)) == 1);
	CHECK(merge_feed(&s, 2, &P(A, WH_NONE)) == -EINVAL);
	CHECK(merge_feed(&s, 1, &P(A, WH_NONE)) == -EINVAL);
	/* Once done, more layers change nothing. */
	feed(&s, (struct merge_probe[]){ P(F, WH_NONE) }, 1);
	CHECK(merge_feed(&s, 1, &P(D, WH_NONE)) == 0 && s.top == 0 && !s.is_dir);
}

static void test_list(void)
{
	struct merge_entry l0[] = { { "pkg_a", DT_DIR }, { "google", DT_DIR }, { "x.py", DT_REG } };
	struct merge_entry l1[] = { { "google", DT_DIR }, { "x.py", DT_REG }, { "gone.py", DT_REG },
				    { "six.py", DT_REG }, { "pkg_b", DT_DIR } };
	struct merge_entry l2[] = { { "six.py", DT_REG }, { "old", DT_DIR }, { "gone.py", DT_REG },
				    { "deep", DT_REG } };
	const char *h0[] = { "gone.py", "x.py" };       /* x.py: made again in DIR */
	const char *h1[] = { "old" };
	struct merge_dir_layer dirs[] = {
		{ 0, l0, 3, h0, 2 },
		{ 1, l1, 5, h1, 1 },
		{ 3, l2, 4, NULL, 0 },
	};
	struct merge_out *out;
	size_t n;
	CHECK(merge_list(dirs, 3, &out, &n) == 0);
	const char *want[] = { "deep", "google", "pkg_a", "pkg_b", "six.py", "x.py" };
	const size_t want_layer[] = { 3, 0, 0, 1, 1, 0 };
	CHECK(n == 6);
	for (size_t i = 0; i < n && i < 6; i++) {
		CHECK_STR(out[i].name, want[i]);
		CHECK(out[i].layer == want_layer[i]);
	}
	CHECK(n >= 2 && out[1].type == DT_DIR);
	free(out);

	/* Empty, one layer, hides without entries. */
	CHECK(merge_list(dirs, 0, &out, &n) == 0 && n == 0 && out == NULL);
	struct merge_dir_layer only_hides[] = { { 0, NULL, 0, h0, 2 }, { 1, NULL, 0, NULL, 0 } };
	CHECK(merge_list(only_hides, 2, &out, &n) == 0 && n == 0 && out == NULL);
	struct merge_entry gone[] = { { "gone.py", DT_REG } };
	struct merge_dir_layer all_hidden[] = { { 0, NULL, 0, h0, 2 }, { 1, gone, 1, NULL, 0 } };
	CHECK(merge_list(all_hidden, 2, &out, &n) == 0 && n == 0 && out == NULL);
	/* Out of order. */
	struct merge_dir_layer bad[] = { { 1, l0, 3, NULL, 0 }, { 1, l1, 5, NULL, 0 } };
	CHECK(merge_list(bad, 2, &out, &n) == -EINVAL);
}

/* The lookup rule and the listing rule, written apart, agree: a name is
 * listed iff a lookup finds it, from the same layer, for random layers. */
static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) % n;
}

static void test_lookup_agrees_with_list(void)
{
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	enum { NL = 4, NN = 5 };
	int disagreements = 0;
	for (int round = 0; round < 2000; round++) {
		struct merge_probe pr[NL][NN];
		struct merge_entry ents[NL][NN];
		const char *hides[NL][NN];
		struct merge_dir_layer dirs[NL];
		for (size_t l = 0; l < NL; l++) {
			dirs[l] = (struct merge_dir_layer){ l, ents[l], 0, hides[l], 0 };
			for (size_t k = 0; k < NN; k++) {
				struct merge_probe *p = &pr[l][k];
				p->obj = (enum merge_obj)rnd(3);
				p->record = rnd(4) == 0 ? WH_HIDE : WH_NONE;
				p->shadowed = rnd(6) == 0;
				if (p->obj != MERGE_ABSENT && !p->shadowed)
					ents[l][dirs[l].nents++] =
						(struct merge_entry){ names[k], p->obj == MERGE_DIR ? DT_DIR : DT_REG };
				if (p->record == WH_HIDE)
					hides[l][dirs[l].nhides++] = names[k];
			}
		}
		struct merge_out *out;
		struct merge_name *idx;
		size_t n, ni, *merged;
		if (merge_list(dirs, NL, &out, &n) || merge_index(dirs, NL, &idx, &ni, &merged) || ni != n) {
			disagreements++;
			continue;
		}
		for (size_t k = 0; k < NN; k++) {
			struct merge_state s;
			size_t lays[NL], nl = 0;
			merge_begin(&s);
			for (size_t l = 0; l < NL; l++) {
				int more = merge_feed(&s, l, &pr[l][k]);
				if (s.merged)
					lays[nl++] = l;
				if (more != 1)
					break;
			}
			const struct merge_out *o = NULL;
			const struct merge_name *m = NULL;
			for (size_t i = 0; i < n; i++)
				if (strcmp(out[i].name, names[k]) == 0) {
					o = &out[i];
					m = &idx[i];
				}
			if (s.found != (o != NULL) || (o && (o->layer != s.top ||
							    (o->type == DT_DIR) != s.is_dir)))
				disagreements++;
			/* the kept listing's answer for lookups: the same merged layers */
			if (m && (m->top != s.top || m->n != (s.is_dir ? nl : 0) ||
				  (m->n && memcmp(&merged[m->first], lays, nl * sizeof *lays))))
				disagreements++;
		}
		free(out);
		free(idx);
		free(merged);
	}
	CHECK(disagreements == 0);
}

int main(void)
{
	test_names();
	test_record_path();
	test_encode_decode();
	test_lookup();
	test_list();
	test_lookup_agrees_with_list();
	return UNIT_DONE();
}
