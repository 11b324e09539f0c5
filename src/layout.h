// SPDX-License-Identifier: GPL-2.0-or-later
/* What the base interpreter says about its own layout: its version, where its
 * install schemes put things for a prefix, its site directories. Asked once,
 * before mounting (the daemon never runs Python once the mount is up). */
#ifndef PYENVFS_LAYOUT_H
#define PYENVFS_LAYOUT_H

#include <stddef.h>

#define LAYOUT_MAX 8

/* Every path is relative to the prefix ("lib/python3.11"); "." is the prefix. */
struct layout {
	char version[32];             /* "3.11.2" */
	char xy[16];                  /* "3.11" */
	int major;
	char soabi[64];               /* sysconfig's SOABI ("cpython-311-x86_64-linux-gnu"), or "" (2.7) */
	char *stdlib[LAYOUT_MAX];     /* stdlib, platstdlib (deduplicated) */
	size_t nstdlib;
	char *include[LAYOUT_MAX];    /* include, platinclude */
	size_t ninclude;
	char *site[LAYOUT_MAX];       /* where installs go: these show DIR */
	size_t nsite;
	char *syssite[LAYOUT_MAX];    /* the base's own site dirs: hidden unless --system-site-packages */
	size_t nsyssite;
	char *scripts[LAYOUT_MAX];    /* scheme script dirs, the venv/prefix one first */
	size_t nscripts;
	char *libdir;                 /* where libpython is, or NULL if outside the prefix */
};

/* Parses the interpreter's answer ("key=value" lines). Pure. 0 or -1 with err. */
int layout_parse(const char *text, struct layout *l, char *err, size_t len);
void layout_free(struct layout *l);

/* The X.Y versions whose interpreter (bin/pythonX.Y) and standard library
 * (lib/pythonX.Y/os.py) are both in base, sorted. Returns the count (<= max). */
int layout_find_versions(int basefd, char vers[][16], int max);

/* Runs base/bin/pythonX.Y (isolated, writing nothing): its answer, malloc'ed,
 * or NULL with err. */
char *layout_probe(const char *base, const char *xy, char *err, size_t len);

/* The answer changes only with the interpreter and its sysconfig/site modules:
 * a key naming them as they are now (paths, inodes, sizes, mtimes), or NULL. */
char *layout_cache_key(const char *base, const char *xy);
/* The cached answer for key in dir, or NULL. */
char *layout_cache_load(const char *dir, const char *key);
/* Stores it (atomically; errors are ignored: the cache is only a shortcut). */
void layout_cache_store(const char *dir, const char *key, const char *text);
/* $XDG_CACHE_HOME/pyenvfs or $HOME/.cache/pyenvfs, or NULL. */
char *layout_cache_dir(void);

/* The Python program layout_query runs (exposed for the tests). */
extern const char layout_probe_py[];

#endif
