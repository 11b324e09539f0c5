// SPDX-License-Identifier: GPL-2.0-or-later
/* DIR's own console scripts follow the mount (docs/LAYERS.md, "Console
 * scripts follow the env"). pip writes the mount point it ran through into
 * each script's first line (#!/old/mount/bin/python3). A script of DIR's
 * bin whose first line names a mount point DIR was mounted at before
 * (DIR/.pyenvfs/mounts, fs->own_roots) is shown naming this mount's
 * interpreter, as a layer's script is (shebang.c does the edit); so the
 * scripts work wherever DIR is mounted next (another mount point, a
 * `pyenvfs run --site DIR`, a renamed one), and each mount of DIR shows its
 * own. DIR's file is written with the line it shows before anything changes
 * it through the mount (scripts_materialize), so that what is written lands
 * where the writer saw it. FUSE-free. */
#ifndef PYENVFS_SCRIPTS_H
#define PYENVFS_SCRIPTS_H

#include <sys/stat.h>

#include "fs.h"

/* 1 if dfd (a directory descriptor) is DIR's own bin (the env's area's). */
int scripts_is_own_bin(const struct pe_fs *fs, int dfd);

/* n (a regular file of DIR's own bin, just looked up, st its attributes):
 * its first line planned if it names an earlier mount point; st's size
 * then is the size shown. */
void scripts_plan_own(struct pe_fs *fs, struct node *n, struct stat *st);

/* Whether n's first line is shown rewritten (st: the file's attributes now). */
int scripts_shown(const struct node *n, const struct stat *st);

/* Before n is changed through the mount: a script of DIR's shown rewritten
 * gets that line written into it (in place, through its descriptor). 0 or
 * -errno; 0 for every other node. */
int scripts_materialize(struct node *n);

#endif
