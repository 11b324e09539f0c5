// SPDX-License-Identifier: GPL-2.0-or-later
/* A layer's console scripts (docs/LAYERS.md, "Console scripts follow the
 * env"): the first line of a script in a layer's bin/ names the Python of
 * the mount it was installed through; shown here, it names this env's. The
 * rewrite itself is shebang.c's (pure); this is the I/O around it. */
#ifndef PYENVFS_SCRIPT_H
#define PYENVFS_SCRIPT_H

#include <sys/types.h>

#include "fs.h"

/* n, a layer's regular file in the upper area directory dir: its first line
 * rewritten when it is a script of a bin/ (n->sb set). */
void script_plan(struct pe_fs *fs, struct node *n, const char *dir);
/* A read of such a script (n->sb set, not writable) from fd: the bytes as
 * shown, into buf. Their number, or -errno. */
int script_read(struct node *n, int fd, char *buf, size_t size, off_t off);

#endif
