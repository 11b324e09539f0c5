// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for dist: names, RECORD parsing, and which distribution wins. */
#include "unit.h"
#include "dist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void check_norm(const char *in, const char *want, int line)
{
	char out[DIST_NAME_MAX];
	int r = dist_normalize(in, out, sizeof out);
	if (r == 0 && strcmp(out, want) == 0) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: dist_normalize(\"%s\") = %d \"%s\", want \"%s\"\n", __FILE__,
			line, in, r, r ? "" : out, want);
	}
}
#define NORM(in, want) check_norm(in, want, __LINE__)

static void test_normalize(void)
{
	/* PEP 503's examples, and the spellings pip, setuptools and wheels use. */
	NORM("friendly-bar", "friendly-bar");
	NORM("Friendly-Bar", "friendly-bar");
	NORM("friendly.bar", "friendly-bar");
	NORM("friendly_bar", "friendly-bar");
	NORM("FRIENDLY-._BAR", "friendly-bar");
	NORM("zope.interface", "zope-interface");
	NORM("typing_extensions", "typing-extensions");
	NORM("Jinja2", "jinja2");
	NORM("a", "a");
	NORM("A__B--C..D", "a-b-c-d");

	char out[8];
	CHECK(dist_normalize("", out, sizeof out) == -EINVAL);
	CHECK(dist_normalize("-_.", out, sizeof out) == -EINVAL);
	CHECK(dist_normalize("abcdefg", out, sizeof out) == 0);
	CHECK(dist_normalize("abcdefgh", out, sizeof out) == -ENAMETOOLONG);
	CHECK(dist_normalize("abc-defg", out, sizeof out) == -ENAMETOOLONG);
}

static void check_entry(const char *entry, const char *name, const char *version, enum dist_kind kind, int line)
{
	struct dist_id id;
	int r = dist_parse_entry(entry, &id);
	if (r == 0 && strcmp(id.name, name) == 0 && strcmp(id.version, version) == 0 && id.kind == kind) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: dist_parse_entry(\"%s\") = %d (\"%s\", \"%s\", %d)\n", __FILE__,
			line, entry, r, r ? "" : id.name, r ? "" : id.version, r ? -1 : (int)id.kind);
	}
}
#define ENTRY(e, n, v, k) check_entry(e, n, v, k, __LINE__)

static void test_parse_entry(void)
{
	ENTRY("foo_bar-1.0.dist-info", "foo_bar", "1.0", DIST_INFO);
	ENTRY("pip-23.0.1.dist-info", "pip", "23.0.1", DIST_INFO);
	ENTRY("zope.interface-6.1.dist-info", "zope.interface", "6.1", DIST_INFO);
	ENTRY("torch-2.1.0+cu121.dist-info", "torch", "2.1.0+cu121", DIST_INFO);
	ENTRY("Foo-1.0-py3.11.egg-info", "Foo", "1.0", DIST_EGG_INFO);
	ENTRY("Foo_Bar-1.0.dev0-py2.7.egg-info", "Foo_Bar", "1.0.dev0", DIST_EGG_INFO);
	ENTRY("foo.egg-info", "foo", "", DIST_EGG_INFO);    /* pip install -e, setup.py develop */
	ENTRY("foo-1.0-pyfoo.egg-info", "foo", "1.0-pyfoo", DIST_EGG_INFO);
	ENTRY("novers.dist-info", "novers", "", DIST_INFO);

	struct dist_id id;
	const char *bad[] = { "foo", "foo.py", ".dist-info", "-1.0.dist-info", "foo-1.0.dist-info.bak",
			      "foo-1.0.dist-infox", "a/b-1.0.dist-info", "foo-1.0.whl", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(dist_parse_entry(bad[i], &id) == -EINVAL);
	char longname[320];
	memset(longname, 'a', 290);
	strcpy(longname + 290, ".dist-info");
	CHECK(dist_parse_entry(longname, &id) == -EINVAL);
}

/* Collects the paths a parser reports, joined with '|'. */
static int collect(const char *path, void *arg)
{
	char *out = arg;
	if (*out)
		strcat(out, "|");
	strcat(out, path);
	return 0;
}

static int stop_at_second(const char *path, void *arg)
{
	(void)path;
	return ++*(int *)arg == 2 ? 42 : 0;
}

static void check_record(const char *content, const char *want, int line)
{
	char out[1024] = "";
	int r = dist_record_each(content, strlen(content), collect, out);
	if (r == 0 && strcmp(out, want) == 0) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: dist_record_each = %d \"%s\", want \"%s\"\n", __FILE__, line, r,
			out, want);
	}
}
#define RECORD(c, w) check_record(c, w, __LINE__)

static void test_record(void)
{
	/* What pip writes. */
	RECORD("foo/__init__.py,sha256=abc,12\n"
	       "foo-1.0.dist-info/RECORD,,\n"
	       "../../../bin/foo,sha256=def,200\n",
	       "foo/__init__.py|foo-1.0.dist-info/RECORD|../../../bin/foo");
	/* Quoted paths: a comma, a doubled quote, a newline inside the quotes. */
	RECORD("\"a,b.py\",sha256=x,1\n\"say \"\"hi\"\".txt\",,\n\"two\nlines\",,\n",
	       "a,b.py|say \"hi\".txt|two\nlines");
	/* CRLF line ends (older pip), no newline at the end, empty lines. */
	RECORD("a.py,h,1\r\n\r\nb.py,h,2\r\n\nc.py,,", "a.py|b.py|c.py");
	/* A quoted later field does not split the record. */
	RECORD("a.py,\"h,with,commas\",3\nb.py,,\n", "a.py|b.py");
	/* A path only, no other field. */
	RECORD("lonely.py\nnext.py,,\n", "lonely.py|next.py");
	RECORD("", "");

	char out[64] = "";
	CHECK(dist_record_each("\"open,,\n", 8, collect, out) == -EINVAL);
	CHECK(dist_record_each("a\0b,,\n", 6, collect, out) == -EINVAL);
	int calls = 0;
	CHECK(dist_record_each("a,,\nb,,\nc,,\n", 12, stop_at_second, &calls) == 42);
	CHECK(calls == 2);

	char lines[256] = "";
	const char *installed = "../foo/__init__.py\r\n../foo/x.py\n\nPKG-INFO";
	CHECK(dist_lines_each(installed, strlen(installed), collect, lines) == 0);
	CHECK_STR(lines, "../foo/__init__.py|../foo/x.py|PKG-INFO");
	CHECK(dist_lines_each("a\0", 2, collect, lines) == -EINVAL);
}

static void check_resolve(const char *site, const char *from, const char *path, int want_r,
			  enum dist_area area, const char *want, int line)
{
	struct dist_file f = { 0 };
	int r = dist_resolve(site, from, path, &f);
	int ok = r == want_r && (r || (f.area == area && strcmp(f.path, want) == 0));
	if (ok) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: dist_resolve(\"%s\", \"%s\", \"%s\") = %d %d \"%s\"\n", __FILE__,
			line, site, from ? from : "(null)", path, r, r ? -1 : (int)f.area, r ? "" : f.path);
	}
	if (!r)
		free(f.path);
}
#define SITE(site, from, path, want) check_resolve(site, from, path, 0, DIST_AREA_SITE, want, __LINE__)
#define PREFIX(site, from, path, want) check_resolve(site, from, path, 0, DIST_AREA_PREFIX, want, __LINE__)
#define NOPE(site, from, path) check_resolve(site, from, path, -EINVAL, 0, NULL, __LINE__)

static void test_resolve(void)
{
	const char *sp = "lib/python3.11/site-packages";
	SITE(sp, NULL, "foo/__init__.py", "foo/__init__.py");
	SITE(sp, NULL, "./foo//bar/../x.py", "foo/x.py");
	SITE(sp, NULL, "six.py", "six.py");
	PREFIX(sp, NULL, "../../../bin/foo", "bin/foo");
	PREFIX(sp, NULL, "../../../share/man/man1/foo.1", "share/man/man1/foo.1");
	PREFIX(sp, NULL, "../../../include/site/python3.11/foo/foo.h", "include/site/python3.11/foo/foo.h");
	/* Out and back in again: still the site directory. */
	SITE(sp, NULL, "../site-packages/foo.pth", "foo.pth");
	PREFIX(sp, NULL, "../dist-packages/foo.py", "lib/python3.11/dist-packages/foo.py");
	/* Debian's posix_local scheme: the same depth below local/. */
	PREFIX("local/lib/python3.11/dist-packages", NULL, "../../../bin/foo", "local/bin/foo");
	/* installed-files.txt: relative to the egg-info directory. */
	SITE(sp, "foo-1.0-py3.11.egg-info", "../foo/__init__.py", "foo/__init__.py");
	SITE(sp, "foo-1.0-py3.11.egg-info", "PKG-INFO", "foo-1.0-py3.11.egg-info/PKG-INFO");
	PREFIX(sp, "foo-1.0-py3.11.egg-info", "../../../../bin/foo", "bin/foo");

	NOPE(sp, NULL, "/usr/bin/foo");                 /* absolute: outside any layer */
	NOPE(sp, NULL, "");
	NOPE(sp, NULL, "../../../../etc/passwd");       /* above the scheme's base */
	NOPE(sp, NULL, "..");                           /* the site directory's parent */
	NOPE(sp, NULL, ".");
	NOPE(sp, NULL, "foo/../");
}

/* A layer from a list of metadata directory names. */
static void layer_of(struct dist_layer *l, const char *const *entries)
{
	memset(l, 0, sizeof *l);
	for (; *entries; entries++)
		CHECK(dist_layer_add(l, *entries, NULL) == 0);
}

static size_t index_of(const struct dist_layer *l, const char *entry)
{
	for (size_t i = 0; i < l->ndists; i++)
		if (strcmp(l->dists[i].entry, entry) == 0)
			return i;
	abort();
}

static void add_record(struct dist_layer *l, const char *entry, const char *record)
{
	CHECK(dist_layer_add_record(l, index_of(l, entry), "lib/python3.11/site-packages", record,
				    strlen(record)) == 0);
}

static void test_winner(void)
{
	struct dist_layer L[3];
	layer_of(&L[0], (const char *const[]){ "Foo_Bar-2.0.dist-info", "mine-1.0.dist-info", NULL });
	layer_of(&L[1], (const char *const[]){ "foo.bar-1.0.dist-info", "six-1.16.0.dist-info",
					       "gone-1.0.dist-info", NULL });
	layer_of(&L[2], (const char *const[]){ "six-1.15.0.dist-info", "Old-0.1-py3.11.egg-info",
					       "gone-0.9.dist-info", NULL });
	CHECK(dist_layer_add(&L[0], "not-metadata.txt", NULL) == -EINVAL);
	CHECK(dist_layer_remove(&L[0], "gone-1.0.dist-info") == 0);
	CHECK(dist_layer_remove(&L[0], "README") == -EINVAL);

	CHECK(dist_winner(L, 3, "foo-bar") == 0);       /* by normalized name */
	CHECK(dist_winner(L, 3, "six") == 1);
	CHECK(dist_winner(L, 3, "old") == 2);
	CHECK(dist_winner(L, 3, "mine") == 0);
	CHECK(dist_winner(L, 3, "gone") == -1);         /* uninstalled through the mount */
	CHECK(dist_winner(L, 3, "absent") == -1);
	CHECK(dist_winner(L, 1, "six") == -1);

	CHECK(dist_shadowed(L, 3, 0, 0) == 0);
	CHECK(dist_shadowed(L, 3, 1, index_of(&L[1], "foo.bar-1.0.dist-info")) == 1);
	CHECK(dist_shadowed(L, 3, 1, index_of(&L[1], "six-1.16.0.dist-info")) == 0);
	CHECK(dist_shadowed(L, 3, 1, index_of(&L[1], "gone-1.0.dist-info")) == 1);
	CHECK(dist_shadowed(L, 3, 2, index_of(&L[2], "six-1.15.0.dist-info")) == 1);
	CHECK(dist_shadowed(L, 3, 2, index_of(&L[2], "Old-0.1-py3.11.egg-info")) == 0);

	CHECK(dist_layer_needs_records(L, 3, 0) == 0);  /* DIR's own RECORDs are never read */
	CHECK(dist_layer_needs_records(L, 3, 1) == 1);
	CHECK(dist_layer_needs_records(L, 3, 2) == 1);
	CHECK(dist_layer_needs_records(L, 1, 0) == 0);

	/* An upgrade through the mount: DIR holds the new version and whites
	 * out the old metadata: DIR's own instance wins. */
	struct dist_layer up[2];
	layer_of(&up[0], (const char *const[]){ "six-1.17.0.dist-info", NULL });
	CHECK(dist_layer_remove(&up[0], "six-1.16.0.dist-info") == 0);
	layer_of(&up[1], (const char *const[]){ "six-1.16.0.dist-info", NULL });
	CHECK(dist_winner(up, 2, "six") == 0);
	CHECK(dist_shadowed(up, 2, 1, 0) == 1);

	for (int i = 0; i < 3; i++)
		dist_layer_free(&L[i]);
	CHECK(L[0].dists == NULL && L[0].ndists == 0 && L[0].removed == NULL);
	dist_layer_free(&up[0]);
	dist_layer_free(&up[1]);
}

static void test_shadow(void)
{
	struct dist_layer L[3];
	/* DIR: requests 2.31 (its RECORD is never read). */
	layer_of(&L[0], (const char *const[]){ "requests-2.31.0.dist-info", NULL });
	/* L1: requests 2.28 (shadowed), and google-auth, not shadowed, which
	 * shares the google/ namespace directory and one file with nothing. */
	layer_of(&L[1], (const char *const[]){ "requests-2.28.0.dist-info", "google_auth-2.0.dist-info", NULL });
	add_record(&L[1], "requests-2.28.0.dist-info",
		   "requests/__init__.py,h,1\n"
		   "requests/__pycache__/__init__.cpython-311.pyc,,\n"
		   "requests/packages/x.py,h,1\n"
		   "requests-2.28.0.dist-info/METADATA,h,1\n"
		   "../../../bin/requests-cli,h,1\n"
		   "google/shared.py,h,1\n"
		   "\"odd,name.py\",h,1\n"
		   "/abs/elsewhere.py,h,1\n");
	add_record(&L[1], "google_auth-2.0.dist-info",
		   "google/auth/__init__.py,h,1\n"
		   "google/shared.py,h,1\n"
		   "../../../bin/google-auth,h,1\n");
	/* L2: requests 2.0 as an egg-info with installed-files.txt. */
	layer_of(&L[2], (const char *const[]){ "requests-2.0-py3.11.egg-info", NULL });
	CHECK(dist_layer_add_record(&L[2], 0, "lib/python3.11/site-packages",
				    "../requests/__init__.py\nPKG-INFO\n../../../../bin/req\n", 53) == 0);

	struct dist_shadow s;
	dist_shadow_build(L, 3, &s);
	CHECK(s.nlayers == 3);
	CHECK(s.nhidden[0] == 0);
	/* The shadowed distribution goes as a whole... */
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "requests-2.28.0.dist-info") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "requests") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "requests/__init__.py") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "requests/__pycache__") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "requests/packages") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "odd,name.py") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_PREFIX, "bin/requests-cli") == 1);
	/* ...but not what a winner of the same layer lists, nor shared dirs
	 * outside the site directory, nor the other area's same path. */
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "google") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "google/shared.py") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "google/auth") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_PREFIX, "bin") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_PREFIX, "bin/google-auth") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_PREFIX, "requests") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "google_auth-2.0.dist-info") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "requests/__init__.pyc") == 0);
	/* Nothing of another layer, and not in DIR. */
	CHECK(dist_shadow_hides(&s, 0, DIST_AREA_SITE, "requests") == 0);
	CHECK(dist_shadow_hides(&s, 2, DIST_AREA_SITE, "requests") == 1);
	CHECK(dist_shadow_hides(&s, 2, DIST_AREA_SITE, "requests-2.0-py3.11.egg-info") == 1);
	CHECK(dist_shadow_hides(&s, 2, DIST_AREA_PREFIX, "bin/req") == 1);
	CHECK(dist_shadow_hides(&s, 2, DIST_AREA_SITE, "requests/__init__.py") == 1);
	CHECK(dist_shadow_hides(&s, 7, DIST_AREA_SITE, "requests") == 0);
	/* Sorted and unique (what the lookups' binary search needs). */
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 1; i < s.nhidden[l]; i++)
			CHECK(s.hidden[l][i - 1].area < s.hidden[l][i].area ||
			      (s.hidden[l][i - 1].area == s.hidden[l][i].area &&
			       strcmp(s.hidden[l][i - 1].path, s.hidden[l][i].path) < 0));
	dist_shadow_free(&s);
	CHECK(s.hidden == NULL && s.nlayers == 0);

	/* A malformed RECORD adds nothing. */
	size_t before = L[1].dists[0].nfiles;
	CHECK(dist_layer_add_record(&L[1], 0, "lib/python3.11/site-packages", "\"x,,\n", 5) == -EINVAL);
	CHECK(L[1].dists[0].nfiles == before);

	for (int i = 0; i < 3; i++)
		dist_layer_free(&L[i]);
}

/* RECORDs that reach into another distribution's metadata directory (found
 * by fuzz_layers): a shadowed one's stays hidden, a winner's stays whole. */
static void test_shadow_metadata_dirs(void)
{
	struct dist_layer L[2];
	layer_of(&L[0], (const char *const[]){ "foo-2.0.dist-info", NULL });
	layer_of(&L[1], (const char *const[]){ "foo-1.0.dist-info", "bar-1.0.dist-info", NULL });
	add_record(&L[1], "bar-1.0.dist-info", "bar.py,,\nfoo-1.0.dist-info/stray,,\n");
	add_record(&L[1], "foo-1.0.dist-info", "foo.py,,\nbar-1.0.dist-info/METADATA,,\nbar-1.0.dist-info,,\n");
	struct dist_shadow s;
	dist_shadow_build(L, 2, &s);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "foo-1.0.dist-info") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "foo.py") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "bar-1.0.dist-info") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "bar-1.0.dist-info/METADATA") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "bar.py") == 0);
	dist_shadow_free(&s);
	dist_layer_free(&L[0]);
	dist_layer_free(&L[1]);
}

/* Metadata without a file list (Debian's own .egg-info): top_level.txt
 * names what goes with it, as pip's uninstall reads it, but for the
 * namespace packages. */
static void test_top_level(void)
{
	struct dist_layer L[2];
	layer_of(&L[0], (const char *const[]){ "click-9.0.0.dist-info", NULL });
	layer_of(&L[1], (const char *const[]){ "click-8.1.3.egg-info", "zope.interface-5.0.egg-info", NULL });
	CHECK(dist_layer_add_top_level(&L[1], 0, "click\n", 6, NULL, 0) == 0);
	const char ns[] = "zope\r\n";
	CHECK(dist_layer_add_top_level(&L[1], 1, "zope\nzope_helpers\n", 18, ns, sizeof ns - 1) == 0);
	CHECK(dist_layer_add_top_level(&L[1], 1, "a\0b", 3, NULL, 0) == -EINVAL);
	struct dist_shadow s;
	dist_shadow_build(L, 2, &s);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "click") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "click.py") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "click.pyc") == 1);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "click-8.1.3.egg-info") == 1);
	/* zope.interface is not shadowed: nothing of it goes */
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "zope") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "zope_helpers") == 0);
	dist_shadow_free(&s);
	dist_layer_free(&L[0]);
	dist_layer_free(&L[1]);
	/* a shadowed one's namespace package is kept, its own name goes */
	layer_of(&L[0], (const char *const[]){ "zope.interface-6.0.dist-info", NULL });
	layer_of(&L[1], (const char *const[]){ "zope.interface-5.0.egg-info", NULL });
	CHECK(dist_layer_add_top_level(&L[1], 0, "zope\nzope_helpers\n", 18, ns, sizeof ns - 1) == 0);
	dist_shadow_build(L, 2, &s);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "zope") == 0);
	CHECK(dist_shadow_hides(&s, 1, DIST_AREA_SITE, "zope_helpers") == 1);
	/* The same sets built again compare equal, layer by layer; a layer
	 * that hides nothing in either too. */
	struct dist_shadow again;
	dist_shadow_build(L, 2, &again);
	CHECK(dist_shadow_same(&s, &again, 0) && dist_shadow_same(&s, &again, 1) && dist_shadow_same(&s, &again, 7));
	dist_shadow_free(&again);
	struct dist_layer none[2] = { { 0 }, { 0 } };
	dist_shadow_build(none, 2, &again);
	CHECK(!dist_shadow_same(&s, &again, 1) && dist_shadow_same(&s, &again, 0));
	dist_shadow_free(&again);
	dist_shadow_free(&s);
	dist_layer_free(&L[0]);
	dist_layer_free(&L[1]);
}

int main(void)
{
	test_normalize();
	test_parse_entry();
	test_record();
	test_resolve();
	test_winner();
	test_shadow();
	test_shadow_metadata_dirs();
	test_top_level();
	return UNIT_DONE();
}
