// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for shebang: which scripts are rewritten, the new first line,
 * the read mapping; and that a rewritten script really runs (with /bin/sh
 * and the base's python3 behind a mount-like directory with a space). */
#include "unit.h"
#include "shebang.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const old_roots[] = { "/home/u/envs/base", "/old mount" };
static const struct shebang_match by_root = { old_roots, 2, 0 };
static const struct shebang_match any_python = { NULL, 0, 1 };

/* The file as shown, through shebang_map, read in pieces of step bytes. */
static char *shown(const char *file, const struct shebang_edit *e, size_t step)
{
	off_t real = (off_t)strlen(file), size = shebang_size(e, real);
	char *out = calloc(1, (size_t)size + 1);
	for (off_t off = 0; off < size; off += (off_t)step) {
		struct shebang_piece p[3];
		int n = shebang_map(e, real, off, step, p);
		size_t at = (size_t)off;
		for (int i = 0; i < n; i++) {
			memcpy(out + at, p[i].from_text ? e->text + p[i].pos : file + p[i].pos, p[i].n);
			at += p[i].n;
		}
	}
	return out;
}

/* plan must say 1, and every read size must give want. */
static void check_rewrite(const char *file, const struct shebang_match *m, const char *mount, const char *want,
			  int line)
{
	struct shebang_edit e;
	int r = shebang_plan(file, strlen(file), m, mount, &e);
	if (r != 1) {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: shebang_plan = %d, want 1\n", __FILE__, line, r);
		return;
	}
	CHECK(shebang_size(&e, (off_t)strlen(file)) == (off_t)strlen(want));
	const size_t steps[] = { 1, 2, 3, 7, 64, 4096 };
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		char *got = shown(file, &e, steps[i]);
		if (strcmp(got, want) == 0) {
			unit_passed++;
		} else {
			unit_failed++;
			fprintf(stderr, "%s:%d: FAILED: read by %zu:\n%s\n--- want:\n%s\n", __FILE__, line, steps[i],
				got, want);
		}
		free(got);
	}
}
#define REWRITE(file, m, mount, want) check_rewrite(file, m, mount, want, __LINE__)

static void check_left(const char *file, size_t len, const struct shebang_match *m, const char *mount, int want_r,
		       int line)
{
	struct shebang_edit e;
	int r = shebang_plan(file, len, m, mount, &e);
	if (r == want_r) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: shebang_plan = %d, want %d\n", __FILE__, line, r, want_r);
	}
}
#define LEFT(file, m, mount) check_left(file, strlen(file), m, mount, 0, __LINE__)

static const char body[] = "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom pip._internal.cli.main import main\n"
			   "if __name__ == '__main__':\n    sys.exit(main())\n";

static void test_python_name(void)
{
	const char *yes[] = { "python", "python3", "python3.11", "python2.7", "python3.13t", "python10.20" };
	const char *no[] = { "python3.", "python.3", "python3.11.2", "pythonw", "python3-config", "ipython",
			     "python3.11m", "Python3", "", "pythont", "python3.11tt" };
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		CHECK(shebang_python_name(yes[i]) == 1);
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		CHECK(shebang_python_name(no[i]) == 0);
}

static void test_simple(void)
{
	char file[1024], want[1024];

	/* pip's console script, installed through another mount. */
	snprintf(file, sizeof file, "#!/home/u/envs/base/bin/python3.11\n%s", body);
	snprintf(want, sizeof want, "#!/home/u/pythonenv/ENV2/bin/python3.11\n%s", body);
	REWRITE(file, &by_root, "/home/u/pythonenv/ENV2", want);
	/* Shorter: the size goes down. */
	snprintf(want, sizeof want, "#!/e/bin/python3.11\n%s", body);
	REWRITE(file, &by_root, "/e", want);
	/* Arguments and the blank after "#!" are kept. */
	REWRITE("#! /home/u/envs/base/bin/python -E -s\nx\n", &by_root, "/m", "#! /m/bin/python -E -s\nx\n");
	/* The whole file is the first line. */
	REWRITE("#!/home/u/envs/base/bin/python3\n", &by_root, "/m", "#!/m/bin/python3\n");
	/* pip install --target: any Python's bin. */
	REWRITE("#!/usr/bin/python3\nimport x\n", &any_python, "/m", "#!/m/bin/python3\nimport x\n");
	REWRITE("#!/bin/python3\nimport x\n", &any_python, "/m", "#!/m/bin/python3\nimport x\n");

	/* Left alone. */
	LEFT("#!/usr/bin/python3\nimport x\n", &by_root, "/m");               /* not a recorded root */
	LEFT("#!/home/u/envs/base/bin/python3\n", &by_root, "/home/u/envs/base"); /* already this mount's */
	LEFT("#!/home/u/envs/base/bin/pip\n", &by_root, "/m");                /* not a Python */
	LEFT("#!/home/u/envs/base/python3\n", &by_root, "/m");                /* not in bin/ */
	LEFT("#!/home/u/envs/base/bin/python3.11-config\n", &by_root, "/m");
	LEFT("#!/usr/bin/env python3\nimport x\n", &any_python, "/m");        /* env finds it on PATH */
	LEFT("#!/bin/bash\necho hi\n", &any_python, "/m");
	LEFT("import sys\n", &any_python, "/m");
	LEFT("", &any_python, "/m");
	LEFT("#", &any_python, "/m");
	LEFT("#!/home/u/envs/base/bin/python3", &by_root, "/m");              /* no newline in the head */
	LEFT("\x7f" "ELF\x02\x01\x01", &any_python, "/m");
	check_left("#!/usr/bin/python3\0\n", 20, &any_python, "/m", 0, __LINE__);  /* binary */
	char longline[400];
	memset(longline, 'a', sizeof longline);
	memcpy(longline, "#!/usr/bin/python3 ", 19);
	longline[sizeof longline - 1] = '\n';
	check_left(longline, sizeof longline, &any_python, "/m", 0, __LINE__); /* beyond the kernel's 256 */

	/* Mounts a first line cannot name. */
	struct shebang_edit e;
	const char *bad[] = { "relative", "/a\nb", "/a\"b", "/a$b", "/a`b", "/a\\b", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(shebang_plan("#!/usr/bin/python3\n", 19, &any_python, bad[i], &e) == -EINVAL);
	CHECK(shebang_plan("no script", 9, &any_python, "relative", &e) == 0);
}

static void test_trampoline(void)
{
	char want[1024];
	/* A mount with a space: distlib's /bin/sh form, as pip writes it. */
	snprintf(want, sizeof want,
		 "#!/bin/sh\n'''exec' \"/new mount/bin/python3\" -E \"$0\" \"$@\"\n' '''\nimport x\n");
	REWRITE("#!/home/u/envs/base/bin/python3 -E\nimport x\n", &by_root, "/new mount", want);
	/* An existing trampoline (the old mount had a space): the path in it. */
	REWRITE("#!/bin/sh\n'''exec' \"/old mount/bin/python3\" \"$0\" \"$@\"\n' '''\nimport x\n", &by_root, "/m",
		"#!/bin/sh\n'''exec' \"/m/bin/python3\" \"$0\" \"$@\"\n' '''\nimport x\n");
	/* Unquoted (distlib's form for a long path without a space). */
	REWRITE("#!/bin/sh\n'''exec' /home/u/envs/base/bin/python \"$0\" \"$@\"\n' '''\nimport x\n", &by_root,
		"/m", "#!/bin/sh\n'''exec' \"/m/bin/python\" \"$0\" \"$@\"\n' '''\nimport x\n");
	/* A long mount: beyond what the kernel reads of a first line. */
	char mount[300];
	memset(mount, 'd', sizeof mount);
	mount[0] = '/';
	mount[sizeof mount - 1] = '\0';
	snprintf(want, sizeof want, "#!/bin/sh\n'''exec' \"%s/bin/python3\" \"$0\" \"$@\"\n' '''\nimport x\n", mount);
	REWRITE("#!/home/u/envs/base/bin/python3\nimport x\n", &by_root, mount, want);

	LEFT("#!/bin/sh\necho hi\n", &any_python, "/m");
	LEFT("#!/bin/sh\n'''exec' \"/other/bin/python3\" \"$0\" \"$@\"\n' '''\n", &by_root, "/m");
	LEFT("#!/bin/sh\n'''exec' \"/m/bin/python3\" \"$0\" \"$@\"\n' '''\n", &any_python, "/m");
	LEFT("#!/bin/sh\n'''exec' \"/old mount/bin/python3\n", &by_root, "/m");  /* no closing quote */
	LEFT("#!/bin/sh\n'''exec' \"/old mount/bin/python3\"", &by_root, "/m");  /* no end of line */
}

static void test_map(void)
{
	struct shebang_edit e = { .off = 2, .old_len = 5, .new_len = 3 };
	memcpy(e.text, "XYZ", 4);
	/* File "#!abcde\nrest" (12 bytes) shows "#!XYZ\nrest" (10). */
	CHECK(shebang_size(&e, 12) == 10);
	struct shebang_piece p[3];
	CHECK(shebang_map(&e, 12, 0, 100, p) == 3);
	CHECK(!p[0].from_text && p[0].pos == 0 && p[0].n == 2);
	CHECK(p[1].from_text && p[1].pos == 0 && p[1].n == 3);
	CHECK(!p[2].from_text && p[2].pos == 7 && p[2].n == 5);
	CHECK(shebang_map(&e, 12, 3, 1, p) == 1 && p[0].from_text && p[0].pos == 1 && p[0].n == 1);
	CHECK(shebang_map(&e, 12, 5, 2, p) == 1 && !p[0].from_text && p[0].pos == 7 && p[0].n == 2);
	CHECK(shebang_map(&e, 12, 10, 5, p) == 0);      /* at the end as shown */
	CHECK(shebang_map(&e, 12, 9, 5, p) == 1 && p[0].pos == 11 && p[0].n == 1);
	CHECK(shebang_map(&e, 12, -1, 5, p) == 0);
	CHECK(shebang_map(&e, 12, 0, 0, p) == 0);
}

/* A rewritten script runs: the simple form and the trampoline, under a
 * "mount" that is a directory whose bin/python3 is the base's. */
static void test_runs(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], mount[600], bin[700], script[700], cmd[1600];
	snprintf(dir, sizeof dir, "%s/pyenvfs-shebang-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || access("/usr/bin/python3", X_OK) != 0) {
		printf("test_runs skipped: no temporary directory or no /usr/bin/python3\n");
		return;
	}
	const char *mounts[] = { "env", "env with space" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(mount, sizeof mount, "%s/%s", dir, mounts[i]);
		snprintf(bin, sizeof bin, "%s/bin", mount);
		CHECK(mkdir(mount, 0755) == 0 && mkdir(bin, 0755) == 0);
		snprintf(script, sizeof script, "%s/bin/python3", mount);
		CHECK(symlink("/usr/bin/python3", script) == 0);
		const char *orig = "#!/home/u/envs/base/bin/python3 -E\nimport sys\nprint('ran', len(sys.argv))\n";
		struct shebang_edit e;
		CHECK(shebang_plan(orig, strlen(orig), &by_root, mount, &e) == 1);
		char *text = shown(orig, &e, 4096);
		snprintf(script, sizeof script, "%s/bin/tool", mount);
		FILE *f = fopen(script, "w");
		CHECK(f != NULL);
		if (f) {
			fputs(text, f);
			fclose(f);
		}
		free(text);
		CHECK(chmod(script, 0755) == 0);
		snprintf(cmd, sizeof cmd, "'%s' a b > '%s/out' 2>&1", script, dir);
		CHECK(system(cmd) == 0);
		snprintf(cmd, sizeof cmd, "%s/out", dir);
		char out[64] = "";
		f = fopen(cmd, "r");
		if (f) {
			if (!fgets(out, sizeof out, f))
				out[0] = '\0';
			fclose(f);
		}
		CHECK_STR(out, "ran 3\n");
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_python_name();
	test_simple();
	test_trampoline();
	test_map();
	test_runs();
	return UNIT_DONE();
}
