// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for layout: parsing what the probe prints (layout_parse), and
 * layout_find_versions / layout_query on small trees where available. */
#include "unit.h"
#include "samples.h"
#include "layout.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>




static const char pyenv313[] =
	"version=3.13.0\n"
	"stdlib=lib/python3.13\n"
	"stdlib=lib/python3.13\n"
	"include=include/python3.13\n"
	"include=include/python3.13\n"
	"site=lib/python3.13/site-packages\n"
	"site=lib/python3.13/site-packages\n"
	"scripts=bin\n"
	"stdlib=lib/python3.13\n"
	"stdlib=lib/python3.13\n"
	"include=include/python3.13\n"
	"include=include/python3.13\n"
	"site=lib/python3.13/site-packages\n"
	"site=lib/python3.13/site-packages\n"
	"scripts=bin\n"
	"syssite=lib/python3.13/site-packages\n"
	"libdir=lib\n";

/* A minimal valid answer, to which the error tests add or remove one line. */
#define MIN_STDLIB "stdlib=lib/python3.12\n"
#define MIN_SITE "site=lib/python3.12/site-packages\n"
#define MIN_SCRIPTS "scripts=bin\n"
#define MIN_VERSION "version=3.12.1\n"

static int is_zeroed(const struct layout *l)
{
	static const struct layout zero;
	return memcmp(l, &zero, sizeof zero) == 0;
}

/* Nothing in the layout may leave the prefix. */
static int all_safe(char *const *arr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = arr[i];
		if (!p || !*p || p[0] == '/' || strstr(p, "..") || strstr(p, "//") ||
		    strstr(p, "/./") || strncmp(p, "./", 2) == 0)
			return 0;
	}
	return 1;
}

static int layout_all_safe(const struct layout *l)
{
	return all_safe(l->stdlib, l->nstdlib) && all_safe(l->include, l->ninclude) &&
	       all_safe(l->site, l->nsite) && all_safe(l->syssite, l->nsyssite) &&
	       all_safe(l->scripts, l->nscripts) && (!l->libdir || all_safe(&l->libdir, 1));
}

static void test_debian(void)
{
	struct layout l;
	char err[512] = "";
	CHECK(layout_parse(debian311, &l, err, sizeof err) == 0);
	CHECK_STR(l.version, "3.11.2");
	CHECK_STR(l.xy, "3.11");
	CHECK(l.major == 3);
	/* Deduplicated: every stdlib/include line was printed four times. */
	CHECK(l.nstdlib == 1);
	CHECK_STR(l.stdlib[0], "lib/python3.11");
	CHECK(l.ninclude == 1);
	CHECK_STR(l.include[0], "include/python3.11");
	/* The venv scheme first, then Debian's posix_local. */
	CHECK(l.nsite == 2);
	CHECK_STR(l.site[0], "lib/python3.11/site-packages");
	CHECK_STR(l.site[1], "local/lib/python3.11/dist-packages");
	CHECK(l.nscripts == 2);
	CHECK_STR(l.scripts[0], "bin");
	CHECK_STR(l.scripts[1], "local/bin");
	/* local/lib/python3.11/dist-packages is a site path (DIR), so it is no
	 * base site dir; the other two stay, in order. */
	CHECK(l.nsyssite == 2);
	CHECK_STR(l.syssite[0], "lib/python3/dist-packages");
	CHECK_STR(l.syssite[1], "lib/python3.11/dist-packages");
	for (size_t i = 0; i < l.nsyssite; i++)
		for (size_t j = 0; j < l.nsite; j++)
			CHECK(strcmp(l.syssite[i], l.site[j]) != 0);
	CHECK_STR(l.libdir, "lib/x86_64-linux-gnu");
	CHECK(layout_all_safe(&l));
	layout_free(&l);
	CHECK(is_zeroed(&l));
}

static void test_pyenv36(void)
{
	struct layout l;
	char err[512] = "";
	CHECK(layout_parse(pyenv36, &l, err, sizeof err) == 0);
	CHECK_STR(l.version, "3.6.15");
	CHECK_STR(l.xy, "3.6");
	CHECK(l.major == 3);
	CHECK(l.nstdlib == 1);
	CHECK_STR(l.stdlib[0], "lib/python3.6");
	CHECK(l.ninclude == 1);
	CHECK_STR(l.include[0], "include/python3.6m");   /* the ABI flag stays */
	CHECK(l.nsite == 1);
	CHECK_STR(l.site[0], "lib/python3.6/site-packages");
	CHECK(l.nscripts == 1);
	CHECK_STR(l.scripts[0], "bin");
	CHECK(l.nsyssite == 0);       /* its only site dir is the site path */
	CHECK_STR(l.libdir, "lib");
	layout_free(&l);
}

static void test_py27(void)
{
	struct layout l;
	char err[512] = "";
	CHECK(layout_parse(pyenv27, &l, err, sizeof err) == 0);
	CHECK_STR(l.version, "2.7.18");
	CHECK_STR(l.xy, "2.7");
	CHECK(l.major == 2);
	CHECK(l.nstdlib == 1);
	CHECK_STR(l.stdlib[0], "lib/python2.7");
	CHECK(l.ninclude == 1);
	CHECK_STR(l.include[0], "include/python2.7");
	CHECK(l.nsite == 1);
	CHECK_STR(l.site[0], "lib/python2.7/site-packages");
	CHECK(l.nscripts == 1);
	CHECK(l.nsyssite == 0);
	CHECK_STR(l.libdir, "lib");
	layout_free(&l);

	/* 3.13: venv and posix_prefix schemes agree; its one site dir is the site path. */
	CHECK(layout_parse(pyenv313, &l, err, sizeof err) == 0);
	CHECK_STR(l.xy, "3.13");
	CHECK(l.nstdlib == 1 && l.ninclude == 1 && l.nsite == 1 && l.nscripts == 1);
	CHECK(l.nsyssite == 0);
	layout_free(&l);
}

static void test_unsafe_paths_ignored(void)
{
	static const char text[] =
		"version=3.11.2\n"
		"stdlib=/usr/lib/python3.11\n"
		"stdlib=lib/../../etc\n"
		"stdlib=lib/./python3.11\n"
		"stdlib=lib//python3.11\n"
		"stdlib=lib/python3.11\n"
		"include=/usr/include/python3.11\n"
		"include=..\n"
		"include=include/python3.11\n"
		"site=../site-packages\n"
		"site=/home/u/.local/lib/python3.11/site-packages\n"
		"site=lib/python3.11/site-packages/..\n"
		"site=\n"
		"site=lib/python3.11/site-packages\n"
		"scripts=/usr/bin\n"
		"scripts=bin/..\n"
		"scripts=bin\n"
		"syssite=/usr/lib/python3/dist-packages\n"
		"syssite=lib/../lib/python3/dist-packages\n"
		"libdir=/usr/lib/x86_64-linux-gnu\n"
		"libdir=../lib\n"
		"libdir=lib\n"
		"no equals sign here\n"
		"unknown=lib/whatever\n"
		"=lib\n";
	struct layout l;
	char err[512] = "";
	CHECK(layout_parse(text, &l, err, sizeof err) == 0);
	CHECK(layout_all_safe(&l));
	CHECK(l.nstdlib == 1);
	CHECK_STR(l.stdlib[0], "lib/python3.11");
	CHECK(l.ninclude == 1);
	CHECK_STR(l.include[0], "include/python3.11");
	CHECK(l.nsite == 1);
	CHECK_STR(l.site[0], "lib/python3.11/site-packages");
	CHECK(l.nscripts == 1);
	CHECK_STR(l.scripts[0], "bin");
	CHECK(l.nsyssite == 0);
	CHECK_STR(l.libdir, "lib");       /* the first safe one */
	layout_free(&l);

	/* Only unsafe site paths: the site path is missing. */
	static const char nosite[] = MIN_VERSION MIN_STDLIB MIN_SCRIPTS
		"site=/usr/lib/python3/dist-packages\nsite=../x\n";
	CHECK(layout_parse(nosite, &l, err, sizeof err) == -1);
	CHECK_ERRMSG(err);
	layout_free(&l);

	/* A libdir outside the prefix: none. */
	static const char noabslib[] = MIN_VERSION MIN_STDLIB MIN_SITE MIN_SCRIPTS
		"libdir=/usr/lib64\n";
	CHECK(layout_parse(noabslib, &l, err, sizeof err) == 0);
	CHECK(l.libdir == NULL);
	layout_free(&l);

	/* No newline at the end: the last line still counts. */
	static const char nonl[] = MIN_VERSION MIN_STDLIB MIN_SITE "scripts=bin";
	CHECK(layout_parse(nonl, &l, err, sizeof err) == 0);
	CHECK(l.nscripts == 1);
	CHECK_STR(l.scripts[0], "bin");
	layout_free(&l);
}

static void expect_error(const char *text, const char *needle, int line)
{
	struct layout l;
	char err[512] = "";
	int r = layout_parse(text, &l, err, sizeof err);
	int ok = r == -1 && strncmp(err, "pyenvfs: ", 9) == 0 && !strchr(err, '\n') &&
		 (!needle || strstr(err, needle));
	if (ok) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: layout_parse of\n%s\nreturned %d, err \"%s\" (want -1 and \"%s\")\n",
			__FILE__, line, text, r, err, needle ? needle : "");
	}
	layout_free(&l);          /* whatever it holds; valgrind checks nothing leaks */
	CHECK(is_zeroed(&l));
}
#define EXPECT_ERROR(text, needle) expect_error(text, needle, __LINE__)

/* Found by the fuzzer: a trailing slash or a lone "." made non-canonical
 * view paths ("l//pkgconfig", an anchor named ""). Such paths are ignored. */
static void test_noncanonical_paths_ignored(void)
{
	static const char text[] =
		"version=3.1.2\n"
		"site=s/\n"
		"site=.\n"
		"site=lib/python3.1/site-packages\n"
		"scripts=b/\n"
		"scripts=bin\n"
		"stdlib=l/\n"
		"stdlib=./lib\n"
		"stdlib=lib/python3.1\n"
		"libdir=l/\n";
	struct layout l;
	char err[256];
	CHECK(layout_parse(text, &l, err, sizeof err) == 0);
	CHECK(l.nsite == 1 && strcmp(l.site[0], "lib/python3.1/site-packages") == 0);
	CHECK(l.nscripts == 1 && strcmp(l.scripts[0], "bin") == 0);
	CHECK(l.nstdlib == 1 && strcmp(l.stdlib[0], "lib/python3.1") == 0);
	CHECK(l.libdir == NULL);
	layout_free(&l);
}

static void test_errors(void)
{
	EXPECT_ERROR("", "version");
	EXPECT_ERROR(MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	EXPECT_ERROR("version=\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	EXPECT_ERROR("version=3.x.1\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "3.x.1");
	EXPECT_ERROR("version=3.11\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	EXPECT_ERROR("version=abc\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	EXPECT_ERROR("version=1.0.0\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	EXPECT_ERROR("version=3.100.0\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	EXPECT_ERROR("version=3.-1.0\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");
	/* A bad version after good paths: an error, and nothing leaks. */
	EXPECT_ERROR(MIN_STDLIB MIN_SITE MIN_SCRIPTS "version=x\n", "version");
	/* Each of stdlib, site and scripts is required. */
	EXPECT_ERROR(MIN_VERSION MIN_SITE MIN_SCRIPTS, "standard library");
	EXPECT_ERROR(MIN_VERSION MIN_STDLIB MIN_SCRIPTS, "site-packages");
	EXPECT_ERROR(MIN_VERSION MIN_STDLIB MIN_SITE, "scripts");
	/* A newline-free message even for a version with odd bytes in it. */
	EXPECT_ERROR("version=3.1\r\n" MIN_STDLIB MIN_SITE MIN_SCRIPTS, "version");

	/* LAYOUT_MAX distinct paths are fine, duplicates do not count ... */
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof text, MIN_VERSION MIN_STDLIB MIN_SCRIPTS);
	for (int i = 0; i < LAYOUT_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "site=lib/s%d\nsite=lib/s%d\n", i, i);
	struct layout l;
	char err[512] = "";
	CHECK(layout_parse(text, &l, err, sizeof err) == 0);
	CHECK(l.nsite == LAYOUT_MAX);
	CHECK_STR(l.site[LAYOUT_MAX - 1], "lib/s7");
	layout_free(&l);
	/* ... one more is an error that names the key. */
	snprintf(text + n, sizeof text - n, "site=lib/s%d\n", LAYOUT_MAX);
	EXPECT_ERROR(text, "'site'");

	const char *const keys[] = { "stdlib", "include", "syssite", "scripts" };
	for (size_t k = 0; k < 4; k++) {
		n = (size_t)snprintf(text, sizeof text, MIN_VERSION MIN_STDLIB MIN_SITE MIN_SCRIPTS);
		for (int i = 0; i <= LAYOUT_MAX; i++)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s=x/p%d\n", keys[k], i);
		EXPECT_ERROR(text, keys[k]);
	}
}

static void test_reuse(void)
{
	struct layout l;
	char err[512] = "";
	CHECK(layout_parse(debian311, &l, err, sizeof err) == 0);
	layout_free(&l);
	CHECK(is_zeroed(&l));
	layout_free(&l);                  /* freeing a freed layout is harmless */
	CHECK(is_zeroed(&l));
	/* The same struct takes another answer, with nothing of the first left. */
	CHECK(layout_parse(pyenv36, &l, err, sizeof err) == 0);
	CHECK_STR(l.xy, "3.6");
	CHECK(l.nsite == 1 && l.nscripts == 1 && l.nsyssite == 0);
	CHECK_STR(l.libdir, "lib");
	layout_free(&l);
	/* And after a failed parse too. */
	CHECK(layout_parse(MIN_VERSION MIN_STDLIB, &l, err, sizeof err) == -1);
	layout_free(&l);
	CHECK(layout_parse(pyenv27, &l, err, sizeof err) == 0);
	CHECK_STR(l.xy, "2.7");
	layout_free(&l);
}

/* A small fake prefix in a temporary directory. */
static void touch(const char *root, const char *rel, mode_t mode)
{
	char *p = pe_xasprintf("%s/%s", root, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	chmod(p, mode);
	free(p);
}

static void mkd(const char *root, const char *rel)
{
	char *p = pe_xasprintf("%s/%s", root, rel);
	CHECK(mkdir(p, 0755) == 0);
	free(p);
}

static void test_find_versions(void)
{
	char tmpl[] = "/tmp/pyenvfs-unit-XXXXXX";
	char *root = mkdtemp(tmpl);
	CHECK(root != NULL);
	if (!root)
		return;
	mkd(root, "bin");
	mkd(root, "lib");
	/* Complete: 3.9, 3.10, 3.11 (sorted numerically, not as strings). */
	const char *const good[] = { "3.11", "3.9", "3.10" };
	for (size_t i = 0; i < 3; i++) {
		char *d = pe_xasprintf("lib/python%s", good[i]);
		char *os = pe_xasprintf("lib/python%s/os.py", good[i]);
		char *exe = pe_xasprintf("bin/python%s", good[i]);
		mkd(root, d);
		touch(root, os, 0644);
		touch(root, exe, 0755);
		free(d);
		free(os);
		free(exe);
	}
	/* Incomplete or odd ones that do not count. */
	mkd(root, "lib/python3.8");                 /* no os.py, no interpreter */
	mkd(root, "lib/python3.7");
	touch(root, "lib/python3.7/os.py", 0644);   /* no interpreter */
	mkd(root, "lib/python3.12");
	touch(root, "lib/python3.12/os.py", 0644);
	touch(root, "bin/python3.12", 0644);        /* not executable */
	mkd(root, "lib/python3.11a");
	touch(root, "lib/python3.11a/os.py", 0644);
	touch(root, "bin/python3.11a", 0755);
	mkd(root, "lib/python3");

	int fd = open(root, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	char vers[8][16];
	int n = layout_find_versions(fd, vers, 8);
	CHECK(n == 3);
	if (n == 3) {
		CHECK_STR(vers[0], "3.9");
		CHECK_STR(vers[1], "3.10");
		CHECK_STR(vers[2], "3.11");
	}
	CHECK(layout_find_versions(fd, vers, 1) == 1);
	close(fd);

	char *cmd = pe_xasprintf("rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	free(cmd);

	/* A base without lib/: none. */
	fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(layout_find_versions(fd, vers, 8) == 0);
	close(fd);
}

/* The real probe against Debian's Python, where it is installed. */
static void test_probe(void)
{
	struct layout l;
	char err[512] = "";
	if (access("/usr/bin/python3.11", X_OK) == 0) {
		char *text = layout_probe("/usr", "3.11", err, sizeof err);
		CHECK(text != NULL);
		CHECK(text && layout_parse(text, &l, err, sizeof err) == 0);
		if (text) {
			CHECK_STR(l.xy, "3.11");
			CHECK(l.nstdlib >= 1 && l.nsite >= 1 && l.nscripts >= 1);
			CHECK(layout_all_safe(&l));
			layout_free(&l);
		}
		free(text);
	}
	CHECK(layout_probe("/nonexistent-pyenvfs-base", "3.11", err, sizeof err) == NULL);
	CHECK_ERRMSG(err);
	CHECK(strstr(err, "/nonexistent-pyenvfs-base/bin/python3.11") != NULL);
	CHECK(strstr(layout_probe_py, "getsitepackages") != NULL);
}

/* The cache: a key follows the interpreter's files; a stored answer comes
 * back only for the same key. Runs on a fake prefix in a temporary dir. */
static void test_cache(void)
{
	char tmpl[] = "/tmp/pyenvfs-unit-cache-XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return;
	char *base = pe_xasprintf("%s/base", dir), *cache = pe_xasprintf("%s/cache/pyenvfs", dir);
	char *paths[] = { pe_xasprintf("%s/bin", base), pe_xasprintf("%s/lib", base), pe_xasprintf("%s/lib/python3.9", base) };
	mkdir(base, 0755);
	for (int i = 0; i < 3; i++)
		mkdir(paths[i], 0755);
	char *files[] = { pe_xasprintf("%s/bin/python3.9", base), pe_xasprintf("%s/lib/python3.9/sysconfig.py", base),
			  pe_xasprintf("%s/lib/python3.9/site.py", base) };
	CHECK(layout_cache_key(base, "3.9") == NULL);   /* missing files: no key */
	for (int i = 0; i < 3; i++) {
		FILE *f = fopen(files[i], "w");
		if (f) {
			fputs("x", f);
			fclose(f);
		}
	}
	char *key = layout_cache_key(base, "3.9");
	CHECK(key != NULL);
	CHECK(layout_cache_load(cache, key) == NULL);   /* nothing stored yet */
	layout_cache_store(cache, key, "version=3.9.1\n");
	char *got = layout_cache_load(cache, key);
	CHECK(got && strcmp(got, "version=3.9.1\n") == 0);
	free(got);
	/* The interpreter changes (a new size): a new key, and a miss. */
	FILE *f = fopen(files[0], "a");
	if (f) {
		fputs("more", f);
		fclose(f);
	}
	char *key2 = layout_cache_key(base, "3.9");
	CHECK(key2 && strcmp(key, key2) != 0);
	CHECK(key2 && layout_cache_load(cache, key2) == NULL);
	free(key);
	free(key2);
	char *cmd = pe_xasprintf("rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	free(cmd);
	for (int i = 0; i < 3; i++) {
		free(paths[i]);
		free(files[i]);
	}
	free(base);
	free(cache);
}

/* 3.13 made sysconfig a package: its bases get a key too. */
static void test_cache_key_sysconfig_package(void)
{
	char tmpl[] = "/tmp/pyenvfs-unit-cache13-XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return;
	char *cmd = pe_xasprintf("mkdir -p '%s/bin' '%s/lib/python3.13/sysconfig' && touch '%s/bin/python3.13' "
				 "'%s/lib/python3.13/site.py'", dir, dir, dir, dir);
	CHECK(system(cmd) == 0);
	free(cmd);
	CHECK(layout_cache_key(dir, "3.13") == NULL);    /* the package has no __init__.py yet */
	char *init = pe_xasprintf("%s/lib/python3.13/sysconfig/__init__.py", dir);
	FILE *f = fopen(init, "w");
	if (f)
		fclose(f);
	char *key = layout_cache_key(dir, "3.13");
	CHECK(key != NULL && strstr(key, "sysconfig/__init__.py") != NULL);
	free(key);
	free(init);
	cmd = pe_xasprintf("rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	free(cmd);
}

int main(void)
{
	test_debian();
	test_pyenv36();
	test_py27();
	test_unsafe_paths_ignored();
	test_noncanonical_paths_ignored();
	test_errors();
	test_reuse();
	test_find_versions();
	test_probe();
	test_cache();
	test_cache_key_sysconfig_package();
	return UNIT_DONE();
}
