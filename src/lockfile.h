// SPDX-License-Identifier: GPL-2.0-or-later
/* Lock files, read into one list of pinned wheels: pylock.toml (PEP 751),
 * a requirements.txt of '==' pins (pip's format, --hash honoured), and the
 * dependencies of a script's inline metadata (PEP 723). Pure: the text comes
 * in, markers are evaluated against the spec_env given; reading an included
 * requirements file is the caller's callback. Unit-tested and fuzzed. */
#ifndef PYENVFS_LOCKFILE_H
#define PYENVFS_LOCKFILE_H

#include <stddef.h>

#include "pyspec.h"

struct lock_wheel {
	char *file;             /* the wheel's file name, or NULL (requirements) */
	char *url;              /* where to get it, or NULL */
	char *path;             /* a local file: absolute (relative to the lock's directory), or NULL */
	char sha256[65];        /* lower-case hex, or "" */
};

struct lock_package {
	char *name;             /* as written */
	char *norm;             /* PEP 503 normalized */
	char *version;          /* normalized (PEP 440) */
	struct lock_wheel *wheels;      /* the candidates, in the lock's order */
	size_t nwheels;
	unsigned line;          /* where it is in the file (messages) */
};

struct lock {
	struct lock_package *pkgs;      /* those whose markers hold, in the lock's order */
	size_t n;
	char **pip_args;        /* requirements.txt's --index-url, --find-links, ... */
	size_t npip_args;
	char *requires_python;  /* pylock's, or NULL */
};

/* A pylock.toml. dir: the lock's directory (absolute), for relative paths. */
int lock_parse_pylock(const char *text, size_t len, const char *name, const char *dir, const struct spec_env *env,
		      struct lock *out, char *err, size_t errlen);

/* Reads an included file (-r FILE) for lock_parse_requirements: its text
 * (malloc'ed, *len set, *dir its directory, malloc'ed), or NULL with err. */
typedef char *(*lock_reader)(const char *path, const char *from_dir, size_t *len, char **dir, char *err,
			     size_t errlen, void *arg);

/* A requirements file of '==' pins. */
int lock_parse_requirements(const char *text, size_t len, const char *name, const char *dir,
			    const struct spec_env *env, lock_reader read, void *arg, struct lock *out, char *err,
			    size_t errlen);

/* A file's format: 1 if it is a pylock.toml (by name: pylock.toml,
 * pylock.NAME.toml, or *.toml), 0 for a requirements file. */
int lock_is_pylock(const char *path);

/* PEP 723: the TOML of the "# /// script" block of a script's text, in
 * *toml (malloc'ed; NULL if there is none). -1 with err if the block is
 * malformed (unclosed, or two of them). */
int lock_script_block(const char *text, size_t len, const char *name, char **toml, char *err, size_t errlen);

/* The dependencies and requires-python of that block's TOML: requirement
 * strings (malloc'ed array, *n), *requires_python (or NULL). */
int lock_script_meta(const char *toml, const char *name, char ***deps, size_t *n, char **requires_python, char *err,
		     size_t errlen);

void lock_free(struct lock *l);

/* The lock as a pylock.toml that names every wheel by file, hash and where
 * it came from (what an env remembers in DIR/.pyenvfs/pylock.toml). */
char *lock_to_pylock(const struct lock *l, const char *created_by);

#endif
