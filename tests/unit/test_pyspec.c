// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for pyspec.c: names, PEP 440 versions and specifiers (the
 * examples of the specification), markers, wheel names and tags. */
#include "unit.h"
#include "pyspec.h"

#include <stdlib.h>
#include <string.h>

static int cmp(const char *a, const char *b)
{
	struct spec_version x, y;
	if (spec_parse_version(a, &x) || spec_parse_version(b, &y))
		return 99;
	int r = spec_compare(&x, &y);
	return r < 0 ? -1 : r > 0;
}

static const char *norm_version(const char *v)
{
	static char buf[128];
	struct spec_version x;
	if (spec_parse_version(v, &x))
		return "(invalid)";
	spec_version_str(&x, buf, sizeof buf);
	return buf;
}

static void test_names(void)
{
	char *n = spec_normalize_name("Foo.Bar__baz--QUX");
	CHECK_STR(n, "foo-bar-baz-qux");
	free(n);
	CHECK(spec_valid_name("a"));
	CHECK(spec_valid_name("zope.interface"));
	CHECK(!spec_valid_name("-a"));
	CHECK(!spec_valid_name("a b"));
	CHECK(!spec_valid_name(""));
}

static void test_versions(void)
{
	/* the order of PEP 440's example, each before the next */
	static const char *const order[] = { "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
					     "1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345",
					     "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5",
					     "1.0.post456.dev34", "1.0.post456", "1.1.dev1", "2!0.1", NULL };
	for (int i = 0; order[i + 1]; i++) {
		if (cmp(order[i], order[i + 1]) != -1)
			fprintf(stderr, "order: %s < %s\n", order[i], order[i + 1]);
		CHECK(cmp(order[i], order[i + 1]) == -1);
		CHECK(cmp(order[i + 1], order[i]) == 1);
	}
	CHECK(cmp("1.0", "1.0.0") == 0);
	CHECK(cmp("1.0", "1") == 0);
	CHECK(cmp("1.10", "1.9") == 1);
	CHECK_STR(norm_version("1.0-ALPHA.1"), "1.0a1");
	CHECK_STR(norm_version("v1.0.0-1"), "1.0.0.post1");
	CHECK_STR(norm_version("1.0rev2"), "1.0.post2");
	CHECK_STR(norm_version("1.0-dev"), "1.0.dev0");
	CHECK_STR(norm_version("1.0c1"), "1.0rc1");
	CHECK_STR(norm_version("1.0+Ubuntu-1"), "1.0+ubuntu.1");
	CHECK_STR(norm_version(" 2.0 "), "2.0");
	CHECK_STR(norm_version("1.0.x"), "(invalid)");
	CHECK_STR(norm_version("one"), "(invalid)");
	CHECK_STR(norm_version("1.0+"), "(invalid)");
}

static void test_specifiers(void)
{
	CHECK(spec_satisfies("3.11.2", ">=3.8") == 1);
	CHECK(spec_satisfies("3.11.2", ">=3.8,<3.11") == 0);
	CHECK(spec_satisfies("3.11.2", "==3.11.*") == 1);
	CHECK(spec_satisfies("3.11.2", "!=3.11.*") == 0);
	CHECK(spec_satisfies("3.12.0", "!=3.11.*") == 1);
	CHECK(spec_satisfies("2.2.1", "~=2.2") == 1);
	CHECK(spec_satisfies("3.0", "~=2.2") == 0);
	CHECK(spec_satisfies("1.4.5", "~=1.4.2") == 1);
	CHECK(spec_satisfies("1.5.0", "~=1.4.2") == 0);
	CHECK(spec_satisfies("1.0+local", "==1.0") == 1);
	CHECK(spec_satisfies("1.0+local", "==1.0+other") == 0);
	CHECK(spec_satisfies("1.7.1", ">1.7") == 1);
	CHECK(spec_satisfies("1.7.0.post1", ">1.7") == 0);
	CHECK(spec_satisfies("1.7a1", "<1.7") == 0);
	CHECK(spec_satisfies("1.6", "<1.7") == 1);
	CHECK(spec_satisfies("3.11.2", "") == 1);
	CHECK(spec_satisfies("3.11.2", " >= 3.6 , != 3.7.* ") == 1);
	CHECK(spec_satisfies("1.0", "===1.0") == 1);
	CHECK(spec_satisfies("1.0.0", "===1.0") == 0);
	CHECK(spec_satisfies("3.11.2", ">>3") == -1);
	CHECK(spec_satisfies("3.11.2", ">=3.8,,<4") == -1);
	CHECK(spec_satisfies("3.11.2", "~=3") == -1);
	CHECK(spec_satisfies("x", ">=3") == -1);
}

static void test_markers(void)
{
	const char *extras[] = { "Feature_A", NULL };
	const char *groups[] = { "dev", NULL };
	struct spec_env e = { "3.11", "3.11.2", "cpython", "CPython", "posix", "linux", "Linux", "x86_64",
			      "6.1.0", "#1 SMP", extras, groups };
	char err[256];
	CHECK(spec_marker("python_version >= '3.8'", &e, err, sizeof err) == 1);
	CHECK(spec_marker("python_version < \"3.10\"", &e, err, sizeof err) == 0);
	CHECK(spec_marker("python_version == '3.11' and sys_platform == 'linux'", &e, err, sizeof err) == 1);
	CHECK(spec_marker("sys_platform == 'win32' or os_name == 'posix'", &e, err, sizeof err) == 1);
	CHECK(spec_marker("(sys_platform == 'win32' or os_name == 'nt') and python_version > '3'", &e, err,
			  sizeof err) == 0);
	CHECK(spec_marker("platform_machine in 'x86_64 aarch64'", &e, err, sizeof err) == 1);
	CHECK(spec_marker("'arm' not in platform_machine", &e, err, sizeof err) == 1);
	CHECK(spec_marker("extra == 'test'", &e, err, sizeof err) == 0);
	CHECK(spec_marker("'feature-a' in extras", &e, err, sizeof err) == 1);
	CHECK(spec_marker("'dev' in dependency_groups and 'docs' not in dependency_groups", &e, err, sizeof err) == 1);
	CHECK(spec_marker("python_full_version >= '3.11.1'", &e, err, sizeof err) == 1);
	CHECK(spec_marker("implementation_name == 'pypy'", &e, err, sizeof err) == 0);
	CHECK(spec_marker("python_version ~= '3.9'", &e, err, sizeof err) == 1);
	/* '3.10' > '3.9' as versions, not as strings */
	struct spec_env e10 = e;
	e10.python_version = "3.10";
	CHECK(spec_marker("python_version > '3.9'", &e10, err, sizeof err) == 1);
	static const char *const bad[] = { "", "python_version", "python_version >= ", "nonsense == '1'",
					   "python_version >= '3' and", "(python_version >= '3'", "'a' == 'b' 'c'",
					   "extras == 'x'", "os_name ~= 'posix'", NULL };
	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		CHECK(spec_marker(bad[i], &e, err, sizeof err) == -1);
		CHECK_ERRMSG(err);
	}
}

static void test_wheels(void)
{
	struct spec_wheel w;
	CHECK(spec_parse_wheel("numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", &w) == 0);
	CHECK_STR(w.name, "numpy");
	CHECK_STR(w.version, "1.26.4");
	CHECK(w.build == NULL);
	CHECK_STR(w.python, "cp311");
	CHECK_STR(w.abi, "cp311");
	CHECK(spec_parse_wheel("pkg-1.0-1build-py3-none-any.whl", &w) == 0 && strcmp(w.build, "1build") == 0);
	CHECK(spec_parse_wheel("pkg-1.0-py3-none.whl", &w) == -1);
	CHECK(spec_parse_wheel("pkg-1.0-x-py3-none-any.whl", &w) == -1);       /* a build tag starts with a digit */
	CHECK(spec_parse_wheel("pkg-1.0.tar.gz", &w) == -1);
	CHECK(spec_parse_wheel("a/pkg-1.0-py3-none-any.whl", &w) == -1);

	struct spec_target t311 = { 3, 11, "", "x86_64", 2, 36 };
	struct spec_target t27 = { 2, 7, "mu", "x86_64", 2, 36 };
	struct spec_target t37 = { 3, 7, "m", "x86_64", 2, 17 };
#define FITS(file, t) (spec_parse_wheel(file, &w) == 0 ? spec_wheel_fits(&w, t) : -1)
	CHECK(FITS("a-1-py3-none-any.whl", &t311) > 0);
	CHECK(FITS("a-1-py2.py3-none-any.whl", &t27) > 0);
	CHECK(FITS("a-1-py3-none-any.whl", &t27) == 0);
	CHECK(FITS("a-1-py39-none-any.whl", &t311) > 0);
	CHECK(FITS("a-1-py312-none-any.whl", &t311) == 0);
	CHECK(FITS("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", &t311) > 0);
	CHECK(FITS("a-1-cp311-cp311-manylinux_2_38_x86_64.whl", &t311) == 0);  /* glibc too old */
	CHECK(FITS("a-1-cp311-cp311-manylinux2014_aarch64.whl", &t311) == 0);
	CHECK(FITS("a-1-cp312-cp312-manylinux2014_x86_64.whl", &t311) == 0);
	CHECK(FITS("a-1-cp38-abi3-manylinux2014_x86_64.whl", &t311) > 0);
	CHECK(FITS("a-1-cp312-abi3-manylinux2014_x86_64.whl", &t311) == 0);
	CHECK(FITS("a-1-cp37-cp37m-linux_x86_64.whl", &t37) > 0);
	CHECK(FITS("a-1-cp37-cp37-linux_x86_64.whl", &t37) == 0);
	CHECK(FITS("a-1-cp27-cp27mu-manylinux1_x86_64.whl", &t27) > 0);
	CHECK(FITS("a-1-cp27-cp27m-manylinux1_x86_64.whl", &t27) == 0);
	CHECK(FITS("a-1-cp311-cp311-any.whl", &t311) == 0);
	/* the better fit ranks higher: the interpreter's own ABI, then abi3, then pure */
	CHECK(FITS("a-1-cp311-cp311-manylinux2014_x86_64.whl", &t311) > FITS("a-1-cp38-abi3-manylinux2014_x86_64.whl", &t311));
	CHECK(FITS("a-1-cp38-abi3-manylinux2014_x86_64.whl", &t311) > FITS("a-1-py3-none-any.whl", &t311));
	struct spec_target musl = { 3, 11, "", "x86_64", 0, 0 };
	CHECK(FITS("a-1-cp311-cp311-manylinux2014_x86_64.whl", &musl) == 0);
	CHECK(FITS("a-1-cp311-cp311-linux_x86_64.whl", &musl) > 0);
#undef FITS
}

int main(void)
{
	test_names();
	test_versions();
	test_specifiers();
	test_markers();
	test_wheels();
	return UNIT_DONE();
}
