// SPDX-License-Identifier: GPL-2.0-or-later
/* The base's own pip for the store (src/store_pip.py, run with the pip
 * layer of --with-pip): fetching a lock's wheels, and resolving the
 * requirements of pyenvfs run --with and of a PEP 723 script into a lock. */
#ifndef PYENVFS_WITHREQS_H
#define PYENVFS_WITHREQS_H

#include <stddef.h>

/* Runs store_pip.py MODE ARG ARGS... with base's Python and its pip layer
 * (made now if needed), the user's pip configuration in force, in workdir.
 * *out: its stdout (malloc'ed) if out is not NULL. pip's messages go to a
 * log; on failure err holds pip's last ERROR line. 0 or -1. */
int storepip_run(const char *base, const char *xy, const char *mode, const char *arg, char *const *args, size_t n,
		 const char *workdir, char **out, char *err, size_t len);

/* The requirements resolved by base's pip (pip install --dry-run --report)
 * as a pylock.toml written to out_path. The answer is cached for
 * $PYENVFS_RESOLVE_TTL seconds (default 600) under a key of the
 * requirements, the interpreter and the user's pip configuration; refresh
 * asks pip again. 0 or -1 with err. */
int withreqs_lock(const char *base, const char *xy, char *const *reqs, size_t n, int refresh, const char *workdir,
		  const char *out_path, char *err, size_t len);

/* A script's PEP 723 metadata: its dependencies (*deps, *n) and whether
 * its requires-python admits version ("3.11.2"). 0 (no block: *n 0) or -1
 * with err. */
int withreqs_script(const char *script, const char *version, char ***deps, size_t *n, char *err, size_t len);

struct run_opts;

/* What pyenvfs run adds for --with and for a CMD that is a .py script with
 * PEP 723 metadata: the lock it resolves to, written in rundir (*lock,
 * malloc'ed, or NULL when there is nothing to resolve), and whether CMD is a
 * script to run with the env's Python (*script). 0 or -1 with err. */
int withreqs_run_prepare(const struct run_opts *o, const char *rundir, char **lock, int *script, char *err,
			 size_t len);

#endif
