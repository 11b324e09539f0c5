// SPDX-License-Identifier: GPL-2.0-or-later
/* What a DIR remembers (envrec.h), on disk in DIR/.pyenvfs.
 *
 * DIR is its user's: a root pyenvfs reads these files by descriptor below
 * DIR, following no symlink, and only a regular file of DIR's owner or root;
 * it writes them as DIR's owner (creds.h), a temporary in .pyenvfs renamed
 * over the name, so that a reader sees the old text or the new one. */
#ifndef PYENVFS_ENVFILE_H
#define PYENVFS_ENVFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "envrec.h"

/* The text of .pyenvfs/NAME in the directory dir (a descriptor of DIR, or
 * of a layer), or NULL with errno (ENOENT: there is none). */
char *envfile_read(int dir, const char *name);
/* Writes text as NAME in the directory reserved (DIR/.pyenvfs, a
 * descriptor), as uid:gid. 0 or -errno. */
int envfile_write(int reserved, const char *name, const char *text, uid_t uid, gid_t gid);

/* The env record of the directory at path (a DIR or a layer): 1 and r
 * filled if it has one, 0 if not (or path does not exist), -1 with a
 * one-line message in err if it cannot be read or parsed (what names path). */
int envfile_load(const char *path, const char *what, struct envrec *r, char *err, size_t len);

#endif
