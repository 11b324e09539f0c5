// SPDX-License-Identifier: GPL-2.0-or-later
/* Console scripts follow the env (docs/LAYERS.md, "Console scripts follow
 * the env"). The first line of a script in a layer's bin/ names the Python
 * of the mount it was installed through; shown here, it names this env's.
 * pip writes the mount point it ran through into each script's first line
 * (#!/old/mount/bin/python3): a script of DIR's own bin whose first line
 * names a mount point DIR was mounted at before (DIR/.pyenvfs/mounts,
 * fs->own_roots) is shown naming this mount's interpreter, as a layer's
 * script is; so the scripts work wherever DIR is mounted next (another mount
 * point, a `pyenvfs run --site DIR`, a renamed one), and each mount of DIR
 * shows its own. DIR's file is written with the line it shows before
 * anything changes it through the mount (script_materialize), so that what
 * is written lands where the writer saw it. The rewrite itself is
 * shebang.c's (pure); this is the I/O around it. */
#ifndef PYENVFS_SCRIPT_H
#define PYENVFS_SCRIPT_H

#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"

/* n, a layer's regular file in the upper area directory dir: its first line
 * rewritten when it is a script of a bin/ (n->sb set). */
void script_plan(struct pe_fs *fs, struct node *n, const char *dir);
/* A read of such a script (n->sb set, not writable) from fd: the bytes as
 * shown, into buf. Their number, or -errno. */
int script_read(struct node *n, int fd, char *buf, size_t size, off_t off);

/* 1 if dfd (a directory descriptor) is DIR's own bin (the env's area's). */
int script_is_own_bin(const struct pe_fs *fs, int dfd);

/* n (a regular file of DIR's own bin, just looked up, st its attributes):
 * its first line planned if it names an earlier mount point; st's size
 * then is the size shown. */
void script_plan_own(struct pe_fs *fs, struct node *n, struct stat *st);

/* Whether n's first line is shown rewritten (st: the file's attributes now). */
int script_shown(const struct node *n, const struct stat *st);

/* Before n is changed through the mount: a script of DIR's shown rewritten
 * gets that line written into it (in place, through its descriptor). 0 or
 * -errno; 0 for every other node. */
int script_materialize(struct node *n);

#endif
