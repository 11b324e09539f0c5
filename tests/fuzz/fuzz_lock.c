// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for the lock readers of the store (issue 22): toml
 * (a TOML 1.0 reader), lockfile (pylock.toml, requirements files, PEP 723
 * blocks) and pyspec (versions, specifiers, markers, wheel names and tags).
 * Built by tests/fuzz/run.sh as fuzz_lock. Every reader sees the same input;
 * an invariant that does not hold aborts with a line saying which:
 *   - a refusal is one line starting "pyenvfs: ";
 *   - a pylock read is written back (lock_to_pylock) and read again to the
 *     same packages, versions, wheels and hashes;
 *   - a version's normal form reads back to an equal version, and compare
 *     is antisymmetric;
 *   - a TOML document's every string is NUL-free (a NUL is refused). */
#include "lockfile.h"
#include "pyspec.h"
#include "toml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 16384

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: invariant violated: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

#define REQUIRE(cond, detail)                                                   \
	do {                                                                    \
		if (!(cond))                                                    \
			fail(#cond, detail);                                    \
	} while (0)

static void check_err(const char *err)
{
	REQUIRE(strncmp(err, "pyenvfs: ", 9) == 0, err);
	REQUIRE(strchr(err, '\n') == NULL, err);
}

static const struct spec_env env = { "3.11", "3.11.2", "cpython", "CPython", "posix", "linux", "Linux", "x86_64",
				     "6.1.0", "#1 SMP", NULL, NULL };

static void walk(const struct toml_value *v, int depth)
{
	REQUIRE(depth < 200, "nested too deep");
	if (v->type == TOML_STRING || v->type == TOML_DATETIME)
		REQUIRE(v->str != NULL, "a string without text");
	for (size_t i = 0; (v->type == TOML_ARRAY || v->type == TOML_TABLE) && i < v->n; i++) {
		if (v->type == TOML_TABLE)
			for (size_t k = 0; k < i; k++)
				REQUIRE(strcmp(v->keys[k], v->keys[i]) != 0, v->keys[i]);
		walk(v->items[i], depth + 1);
	}
}

static void same_lock(const struct lock *a, const struct lock *b)
{
	REQUIRE(a->n == b->n, "the lock read back has another count");
	for (size_t i = 0; i < a->n; i++) {
		REQUIRE(strcmp(a->pkgs[i].norm, b->pkgs[i].norm) == 0, a->pkgs[i].norm);
		REQUIRE(!a->pkgs[i].version == !b->pkgs[i].version, a->pkgs[i].norm);
		REQUIRE(!a->pkgs[i].version || strcmp(a->pkgs[i].version, b->pkgs[i].version) == 0, a->pkgs[i].version);
		REQUIRE(a->pkgs[i].nwheels == b->pkgs[i].nwheels, a->pkgs[i].norm);
		for (size_t k = 0; k < a->pkgs[i].nwheels; k++) {
			REQUIRE(strcmp(a->pkgs[i].wheels[k].sha256, b->pkgs[i].wheels[k].sha256) == 0, a->pkgs[i].norm);
			REQUIRE(strcmp(a->pkgs[i].wheels[k].file, b->pkgs[i].wheels[k].file) == 0, a->pkgs[i].wheels[k].file);
		}
	}
}

static void fuzz_versions(const char *s)
{
	struct spec_version v, w;
	if (spec_parse_version(s, &v) == 0) {
		char buf[512];
		spec_version_str(&v, buf, sizeof buf);
		REQUIRE(spec_parse_version(buf, &w) == 0, buf);
		REQUIRE(spec_compare(&v, &w) == 0, buf);
		struct spec_version one;
		spec_parse_version("1.0", &one);
		int a = spec_compare(&v, &one), b = spec_compare(&one, &v);
		REQUIRE((a < 0 && b > 0) || (a > 0 && b < 0) || (a == 0 && b == 0), buf);
	}
	(void)spec_satisfies("3.11.2", s);
	(void)spec_satisfies(s, ">=1.0,!=2.*");
	char err[256];
	if (spec_marker(s, &env, err, sizeof err) < 0)
		check_err(err);
	struct spec_wheel wh;
	if (spec_parse_wheel(s, &wh) == 0) {
		struct spec_target t = { 3, 11, "", "x86_64", 2, 36 };
		REQUIRE(spec_wheel_fits(&wh, &t) >= 0, s);
	}
	char *n = spec_normalize_name(s);
	REQUIRE(strlen(n) <= strlen(s), s);
	free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	char err[512];

	struct toml_value *t = toml_parse(s, size, "f.toml", err, sizeof err);
	if (t) {
		walk(t, 0);
		toml_free(t);
	} else {
		check_err(err);
	}

	struct lock l;
	if (lock_parse_pylock(s, size, "pylock.toml", "/d", &env, &l, err, sizeof err) == 0) {
		char *text = lock_to_pylock(&l, "fuzz");
		struct lock again;
		if (lock_parse_pylock(text, strlen(text), "again.toml", "/d", &env, &again, err, sizeof err))
			fail("a lock written by lock_to_pylock does not read back", err);
		same_lock(&l, &again);
		lock_free(&again);
		free(text);
		lock_free(&l);
	} else {
		check_err(err);
	}
	if (lock_parse_requirements(s, size, "req.txt", "/d", &env, NULL, NULL, &l, err, sizeof err) == 0)
		lock_free(&l);
	else
		check_err(err);

	char *block;
	if (lock_script_block(s, size, "s.py", &block, err, sizeof err) == 0) {
		if (block) {
			char **deps, *rp;
			size_t n;
			if (lock_script_meta(block, "s.py", &deps, &n, &rp, err, sizeof err) == 0) {
				for (size_t i = 0; i < n; i++)
					free(deps[i]);
				free(deps);
				free(rp);
			} else {
				check_err(err);
			}
			free(block);
		}
	} else {
		check_err(err);
	}

	if (!memchr(s, '\0', size))
		fuzz_versions(s);
	free(s);
	return 0;
}
