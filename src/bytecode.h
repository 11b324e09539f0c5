// SPDX-License-Identifier: GPL-2.0-or-later
/* Bytecode for read-only places, in the mount (docs/LAYERS.md): the base's
 * directories take the bytecode Python writes for them (a missing
 * "__pycache__", "X.pyc" and importlib's "X.pyc.DIGITS" in one, Python 2's
 * "X.pyc" beside "X.py"; pycache.h says which names), and it goes to
 * DIR/.pyenvfs/pycache/base-<id>/<path> instead. Lookups and listings of a
 * base directory show those entries after the base's own. Everything else of
 * the base stays EROFS; a base's own .pyc is never replaced.
 *
 * resolve.c calls these where the base would answer ENOENT or EROFS. Each
 * returns 1 for "not bytecode here: the caller's rules", else 0 or -errno;
 * a target given is the caller's to release. */
#ifndef PYENVFS_BYTECODE_H
#define PYENVFS_BYTECODE_H

#include <dirent.h>

#include "fs.h"
#include "resolve.h"

/* The place of a directory in the redirect area (apart from every other). */
#define BYTECODE_PLACE 0x20000000u

/* On for a writable DIR: the base's id and the paths compared later; legacy
 * for Python 2 (bytecode beside its source). 0 or -errno. */
int bytecode_init(struct pe_fs *fs, int legacy);
void bytecode_free(struct pe_fs *fs);

/* name in p after the base had none: 0 with t the redirect area's
 * directory holding it, -ENOENT, or 1. */
int bytecode_lookup(struct pe_fs *fs, struct node *p, const char *name, struct target *t);
/* Where a new name in p goes: the redirect area's directory (made), -EEXIST,
 * -EROFS (not bytecode in a redirected __pycache__), or 1. */
int bytecode_new_name(struct pe_fs *fs, struct node *p, const char *name, struct target *t);
/* Where an existing name of p is changed (unlink, rename): the redirect
 * area's directory, -ENOENT (neither the base nor the area has it), -EROFS
 * (the base's own, or not bytecode in a redirected __pycache__), or 1. */
int bytecode_existing(struct pe_fs *fs, struct node *p, const char *name, struct target *t);
/* Calls each(name, type, arg) for the names p's redirect area directory
 * adds to p's listing (bytecode the base does not have): 0, or 1 when p is
 * not a base directory or has no such directory. */
typedef void (*bytecode_each_fn)(const char *name, unsigned char type, void *arg);
int bytecode_list(struct pe_fs *fs, struct node *p, bytecode_each_fn each, void *arg);

#endif
