// SPDX-License-Identifier: GPL-2.0-or-later
/* Adding wheels to the user's own store. Each wheel is hashed, copied into
 * a build directory inside the store (and hashed again: what is installed
 * is what was hashed), installed there by the base interpreter running
 * src/store_install.py (so that its bytecode is that interpreter's), made
 * read-only and renamed into entries/ in one step: a crash leaves a build
 * directory that the next add removes, never a half entry. Of two adds of
 * one wheel, one rename wins and the other's copy is dropped. */
#ifndef PYENVFS_STOREADD_H
#define PYENVFS_STOREADD_H

#include <stddef.h>

#include "pyspec.h"
#include "store.h"

struct store_job {
	const char *wheel;      /* the wheel file (given) */
	const char *expect;     /* the sha256 it must have, or NULL */
	const char *label;      /* for progress and messages: NAME==VERSION, or NULL */
	char sha256[65];        /* out: its digest */
	char *entry;            /* out: its entry (malloc'ed), found or made */
	int made;               /* out: made now */
	char *error;            /* out: why it failed (one line), or NULL */
};

/* What base's Python X.Y takes: its ABI flags (asked once, then cached with
 * the layout), the machine, the C library. abiflags points into buf. */
int store_target(const char *base, const char *xy, struct spec_target *t, char *buf, size_t buflen, char *err,
		 size_t len);

/* Adds the wheels of jobs to ss's own store (entries any store has already
 * are found, not made). progress: a line on a terminal as each is done.
 * 0 if every job has its entry; -1 with err (the first failure) if not. */
int store_add(struct stores *ss, const char *base, const char *xy, struct store_job *jobs, size_t n, int progress,
	      char *err, size_t len);
void store_jobs_free(struct store_job *jobs, size_t n);

/* Removes path and everything below it (a build, a download, a removed
 * entry: read-only directories made writable first), following no symlink
 * below path's parent. 0, or -1 with errno. */
int store_remove(const char *path);

/* The installer program (src/store_install.py), for the tests. */
extern const char store_install_py[];

#endif
