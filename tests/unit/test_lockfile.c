// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for lockfile.c (pylock.toml, requirements files, PEP 723) and
 * the store's entry names (store.c). */
#include "unit.h"
#include "lockfile.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const struct spec_env env = { "3.11", "3.11.2", "cpython", "CPython", "posix", "linux", "Linux", "x86_64",
				     "6.1", "#1", NULL, NULL };
static char err[512];

static int pylock(const char *text, struct lock *l)
{
	err[0] = '\0';
	return lock_parse_pylock(text, strlen(text), "pylock.toml", "/locks", &env, l, err, sizeof err);
}

static int reqs(const char *text, struct lock *l)
{
	err[0] = '\0';
	return lock_parse_requirements(text, strlen(text), "req.txt", "/locks", &env, NULL, NULL, l, err, sizeof err);
}

static void test_pylock(void)
{
	struct lock l;
	const char *text =
		"lock-version = \"1.0\"\n"
		"created-by = \"uv\"\n"
		"requires-python = \">=3.9\"\n"
		"environments = [\"sys_platform == 'win32'\", \"sys_platform == 'linux'\"]\n"
		"default-groups = [\"dev\"]\n"
		"[[packages]]\n"
		"name = \"Foo_Bar\"\n"
		"version = \"1.0.0\"\n"
		"wheels = [\n"
		"  { name = \"foo_bar-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl\", url = \"https://x/foo_bar-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl\", hashes = { sha256 = \"" SHA_A "\" }, upload-time = 2024-01-01T00:00:00Z, size = 100 },\n"
		"  { path = \"w/foo_bar-1.0.0-py3-none-any.whl\", hashes = { sha256 = \"" SHA_B "\" } },\n"
		"]\n"
		"[[packages]]\n"
		"name = \"winonly\"\n"
		"version = \"2\"\n"
		"marker = \"sys_platform == 'win32'\"\n"
		"wheels = [{ name = \"winonly-2-py3-none-any.whl\", hashes = { sha256 = \"" SHA_A "\" } }]\n"
		"[[packages]]\n"
		"name = \"devtool\"\n"
		"marker = \"'dev' in dependency_groups\"\n"
		"wheels = [{ url = \"file:///srv/wh/devtool-3.1-py3-none-any.whl\", hashes = { sha256 = \"" SHA_B "\" } }]\n"
		"[packages.tool.x]\n"
		"y = 1\n";
	CHECK(pylock(text, &l) == 0);
	if (err[0])
		fprintf(stderr, "%s\n", err);
	CHECK(l.n == 2);
	if (l.n == 2) {
		CHECK_STR(l.pkgs[0].norm, "foo-bar");
		CHECK_STR(l.pkgs[0].version, "1.0.0");
		CHECK(l.pkgs[0].nwheels == 2);
		CHECK_STR(l.pkgs[0].wheels[0].sha256, SHA_A);
		CHECK(l.pkgs[0].wheels[0].path == NULL);
		CHECK_STR(l.pkgs[0].wheels[1].path, "/locks/w/foo_bar-1.0.0-py3-none-any.whl");
		CHECK_STR(l.pkgs[0].wheels[1].file, "foo_bar-1.0.0-py3-none-any.whl");
		CHECK_STR(l.pkgs[1].norm, "devtool");
		CHECK_STR(l.pkgs[1].version, "3.1");       /* from the wheel's name */
		CHECK_STR(l.pkgs[1].wheels[0].path, "/srv/wh/devtool-3.1-py3-none-any.whl");
	}
	CHECK_STR(l.requires_python, ">=3.9");
	/* written and read back */
	char *again = lock_to_pylock(&l, "pyenvfs");
	struct lock l2;
	CHECK(pylock(again, &l2) == 0);
	CHECK(l2.n == l.n && strcmp(l2.pkgs[0].wheels[1].path, l.pkgs[0].wheels[1].path) == 0);
	CHECK(l2.n == l.n && strcmp(l2.pkgs[1].wheels[0].url, "file:///srv/wh/devtool-3.1-py3-none-any.whl") == 0);
	free(again);
	lock_free(&l2);
	lock_free(&l);

	static const char *const bad[] = {
		"created-by = \"x\"\n[[packages]]\nname = \"a\"\n",                     /* no lock-version */
		"lock-version = \"2.0\"\n",
		"lock-version = \"1.0\"\nrequires-python = \">=3.12\"\n[[packages]]\nname=\"a\"\n",
		"lock-version = \"1.0\"\nenvironments = [\"sys_platform == 'win32'\"]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\nsdist = { name = \"a-1.tar.gz\", hashes = { sha256 = \"" SHA_A "\" } }\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nwheels = [{ name = \"a-1-py3-none-any.whl\", url = \"https://x/a.whl\" }]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nwheels = [{ name = \"a-1-py3-none-any.whl\", hashes = { sha256 = \"xyz\" } }]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nwheels = [{ name = \"b-1-py3-none-any.whl\", hashes = { sha256 = \"" SHA_A "\" } }]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nwheels = [{ name = \"a-1.tar.gz\", hashes = { sha256 = \"" SHA_A "\" } }]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nrequires-python = \">=4\"\nwheels = [{ name = \"a-1-py3-none-any.whl\", hashes = { sha256 = \"" SHA_A "\" } }]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nwheels = [{ name = \"a-1-py3-none-any.whl\", hashes = { sha256 = \"" SHA_A "\" } }]\n"
		"[[packages]]\nname = \"A\"\nwheels = [{ name = \"a-2-py3-none-any.whl\", hashes = { sha256 = \"" SHA_B "\" } }]\n",
		"lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nmarker = \"bogus\"\nwheels = []\n",
		"lock-version = 1\n",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		int r = pylock(bad[i], &l);
		if (r == 0)
			fprintf(stderr, "accepted bad pylock #%d\n", i);
		CHECK(r == -1);
		CHECK_ERRMSG(err);
		CHECK(strstr(err, "pylock.toml") != NULL);
		if (r == 0)
			lock_free(&l);
	}
}

static void test_requirements(void)
{
	struct lock l;
	const char *text =
		"# pinned by pip-compile\n"
		"--index-url https://example/simple\n"
		"-f ./wheels\n"
		"--require-hashes\n"
		"foo==1.0 \\\n"
		"    --hash=sha256:" SHA_A " \\\n"
		"    --hash=sha256:" SHA_B "\n"
		"Bar_Baz[extra] == 2.0.0 ; python_version >= '3.8'  # a comment\n"
		"old==0.1 ; python_version < '3'\n"
		"direct @ file:///srv/direct-1.0-py3-none-any.whl --hash=sha256:" SHA_A "\n";
	CHECK(reqs(text, &l) == 0);
	if (err[0])
		fprintf(stderr, "%s\n", err);
	CHECK(l.n == 3);
	if (l.n == 3) {
		CHECK_STR(l.pkgs[0].norm, "foo");
		CHECK_STR(l.pkgs[0].version, "1.0");
		CHECK(l.pkgs[0].nwheels == 2);
		CHECK_STR(l.pkgs[0].wheels[1].sha256, SHA_B);
		CHECK(l.pkgs[0].wheels[0].file == NULL);
		CHECK_STR(l.pkgs[1].norm, "bar-baz");
		CHECK_STR(l.pkgs[1].version, "2.0.0");
		CHECK(l.pkgs[1].nwheels == 1 && l.pkgs[1].wheels[0].sha256[0] == 0);
		CHECK_STR(l.pkgs[2].wheels[0].path, "/srv/direct-1.0-py3-none-any.whl");
		CHECK_STR(l.pkgs[2].version, "1.0");
	}
	CHECK(l.npip_args == 4);
	if (l.npip_args == 4) {
		CHECK_STR(l.pip_args[0], "--index-url");
		CHECK_STR(l.pip_args[2], "-f");
		CHECK_STR(l.pip_args[3], "/locks/wheels");
	}
	lock_free(&l);

	static const char *const bad[] = {
		"foo>=1.0\n", "foo\n", "foo==1.*\n", "foo==1.0,<2\n", "foo==1.0 --install-option=x\n",
		"--editable .\n", "foo==1.0\nFOO==1.0\n", "foo==1.0 --hash=sha256:abc\n", "foo @ https://x/foo.tar.gz\n",
		"-r other.txt\n",    /* no reader given */
		"foo==1.0 ; bogus\n", "==1.0\n", NULL,
	};
	for (int i = 0; bad[i]; i++) {
		int r = reqs(bad[i], &l);
		if (r == 0)
			fprintf(stderr, "accepted bad requirements #%d: %s", i, bad[i]);
		CHECK(r == -1);
		CHECK_ERRMSG(err);
		CHECK(strstr(err, "req.txt:") != NULL);
		if (r == 0)
			lock_free(&l);
	}
	CHECK(lock_is_pylock("/x/pylock.toml"));
	CHECK(lock_is_pylock("pylock.dev.toml"));
	CHECK(!lock_is_pylock("requirements.txt"));
}

static void test_script(void)
{
	const char *script =
		"#!/usr/bin/env python\n"
		"# /// script\n"
		"# requires-python = \">=3.8\"\n"
		"# dependencies = [\n"
		"#   \"requests<3\",\n"
		"#   \"rich\",\n"
		"# ]\n"
		"#\n"
		"# [tool.x]\n"
		"# y = \"# ///\"\n"
		"# ///\n"
		"\n"
		"import rich\n";
	char *toml;
	CHECK(lock_script_block(script, strlen(script), "s.py", &toml, err, sizeof err) == 0);
	CHECK(toml != NULL);
	char **deps;
	size_t n;
	char *rp;
	CHECK(toml && lock_script_meta(toml, "s.py", &deps, &n, &rp, err, sizeof err) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STR(deps[0], "requests<3");
		CHECK_STR(deps[1], "rich");
	}
	CHECK_STR(rp, ">=3.8");
	for (size_t i = 0; i < n; i++)
		free(deps[i]);
	free(deps);
	free(rp);
	free(toml);
	/* none, unclosed, twice */
	CHECK(lock_script_block("print(1)\n", 9, "s.py", &toml, err, sizeof err) == 0 && toml == NULL);
	const char *unclosed = "# /// script\n# dependencies = []\nprint(1)\n";
	CHECK(lock_script_block(unclosed, strlen(unclosed), "s.py", &toml, err, sizeof err) == -1);
	CHECK_ERRMSG(err);
	const char *twice = "# /// script\n# dependencies = []\n# ///\nx = 1\n# /// script\n# dependencies = []\n# ///\n";
	CHECK(lock_script_block(twice, strlen(twice), "s.py", &toml, err, sizeof err) == -1);
	CHECK(toml == NULL);
	CHECK(lock_script_meta("dependencies = \"x\"\n", "s.py", &deps, &n, &rp, err, sizeof err) == -1);
	CHECK(lock_script_meta("dependencies = [1]\n", "s.py", &deps, &n, &rp, err, sizeof err) == -1);
}

static void test_entry_names(void)
{
	char *name = store_entry_name("foo-bar", "1.0.post1", "3.11", SHA_A);
	CHECK_STR(name, "foo_bar-1.0.post1-py3.11-" SHA_A);
	char norm[256], ver[128], xy[16], sha[65];
	CHECK(store_entry_parse(name, norm, ver, xy, sha) == 0);
	CHECK_STR(norm, "foo-bar");
	CHECK_STR(ver, "1.0.post1");
	CHECK_STR(xy, "3.11");
	CHECK_STR(sha, SHA_A);
	free(name);
	CHECK(store_entry_parse("foo-1.0-py3.11-abc", norm, ver, xy, sha) == -1);
	CHECK(store_entry_parse("foo-1.0-3.11-" SHA_A, norm, ver, xy, sha) == -1);
	CHECK(store_entry_parse("a-b-1.0-py3.11-" SHA_A, norm, ver, xy, sha) == -1);
	CHECK(store_entry_parse("foo-1.0-py3.11-" SHA_A "x", norm, ver, xy, sha) == -1);
	CHECK(store_entry_parse("build.123.abc", norm, ver, xy, sha) == -1);
	struct stat st = { 0 };
	char why[128];
	st.st_mode = S_IFDIR | 0755;
	st.st_uid = 1000;
	CHECK(store_trusted(&st, 1000, why, sizeof why) == 0);
	CHECK(store_trusted(&st, 1001, why, sizeof why) == -1);
	st.st_uid = 0;
	CHECK(store_trusted(&st, 1001, why, sizeof why) == 0);
	st.st_mode = S_IFDIR | 0775;
	CHECK(store_trusted(&st, 0, why, sizeof why) == -1);
	st.st_mode = S_IFDIR | 01777;
	CHECK(store_trusted(&st, 0, why, sizeof why) == -1);
}

int main(void)
{
	test_pylock();
	test_requirements();
	test_script();
	test_entry_names();
	return UNIT_DONE();
}
