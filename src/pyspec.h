// SPDX-License-Identifier: GPL-2.0-or-later
/* The packaging standards a lock file is written in, as pure functions:
 * project names (PEP 503), versions and specifiers (PEP 440), environment
 * markers (PEP 508, with PEP 751's extras and dependency_groups), wheel file
 * names and tags (PEP 427, PEP 425, PEP 600). No I/O: what the base is
 * comes in a struct. Unit-tested and fuzzed. */
#ifndef PYENVFS_PYSPEC_H
#define PYENVFS_PYSPEC_H

#include <stddef.h>

/* PEP 503: lower case, each run of '-', '_', '.' one '-'. malloc'ed. */
char *spec_normalize_name(const char *name);
/* 1 if name is a valid project name (letters, digits, '-', '_', '.', starting
 * and ending with a letter or digit). */
int spec_valid_name(const char *name);

/* PEP 440 versions. */
#define SPEC_MAX_RELEASE 16
struct spec_version {
	long epoch;
	long release[SPEC_MAX_RELEASE];
	int nrelease;
	int pre_kind;           /* -1 none, 0 a, 1 b, 2 rc */
	long pre;
	long post;              /* -1 none */
	long dev;               /* -1 none */
	char local[64];         /* "" none; normalized (lower case, '.' separators) */
};
/* 0, or -1 if v is not a PEP 440 version. */
int spec_parse_version(const char *v, struct spec_version *out);
/* <0, 0, >0 as a orders before, equal to, after b. */
int spec_compare(const struct spec_version *a, const struct spec_version *b);
/* The normalized text of a version (PEP 440 "Normalization"), in buf. */
void spec_version_str(const struct spec_version *v, char *buf, size_t len);

/* 1 if version satisfies every clause of specifiers ("", ">=3.8,<4",
 * "==3.11.*", "~=1.4.2", "!=3.9.*"), 0 if not, -1 if either is malformed. */
int spec_satisfies(const char *version, const char *specifiers);

/* What markers are evaluated against. */
struct spec_env {
	const char *python_version;             /* "3.11" */
	const char *python_full_version;        /* "3.11.2" */
	const char *implementation_name;        /* "cpython" */
	const char *platform_python_implementation;     /* "CPython" */
	const char *os_name;                    /* "posix" */
	const char *sys_platform;               /* "linux" */
	const char *platform_system;            /* "Linux" */
	const char *platform_machine;           /* "x86_64" */
	const char *platform_release;
	const char *platform_version;
	const char *const *extras;              /* NULL-terminated, or NULL: PEP 751's set */
	const char *const *dependency_groups;   /* the same */
};

/* 1 if the marker holds in env, 0 if not, -1 (with err) if it is malformed. */
int spec_marker(const char *marker, const struct spec_env *env, char *err, size_t len);

/* A wheel's file name, split (PEP 427): pointers into buf. */
struct spec_wheel {
	char buf[512];
	const char *name, *version, *build, *python, *abi, *platform;
};
/* 0, or -1 if file (a base name) is not NAME-VER[-BUILD]-PY-ABI-PLAT.whl. */
int spec_parse_wheel(const char *file, struct spec_wheel *w);

/* Which wheels an interpreter takes. */
struct spec_target {
	int major, minor;
	const char *abiflags;   /* "" on 3.8 on, "m" on 3.6 and 3.7, "mu" or "m" on 2.7 */
	const char *machine;    /* "x86_64" */
	int glibc_major, glibc_minor;   /* 0 0 if not glibc */
};
/* How well a wheel's tags fit the target: 0 if not at all, higher the better
 * (an interpreter-specific ABI over abi3 over none; a platform over any). */
int spec_wheel_fits(const struct spec_wheel *w, const struct spec_target *t);

#endif
