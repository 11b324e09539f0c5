// SPDX-License-Identifier: GPL-2.0-or-later
/* The pip layer (--with-pip): a read-only site layer holding the pip (and,
 * where the base bundles it, setuptools) of a base's own ensurepip wheels,
 * made once per base interpreter and kept in the user's cache:
 *
 *   $XDG_CACHE_HOME/pyenvfs/pip-layers/X.Y-<hash of the key>/
 *       pip/ pip-V.dist-info/ ...          the packages (the layer's site area)
 *       .pyenvfs/upper/bin/pip pipX pipX.Y the console scripts (its upper area)
 *       .pyenvfs/mounts                    PIPLAYER_ROOT, the one "mount" its
 *                                          scripts name (shebang.c rewrites them)
 *       .pyenvfs/pip-layer                 the key it was made for, and the
 *                                          sha256 of its manifest (piplayer.c)
 *
 * Made before mounting (the daemon never runs Python once the mount is up):
 * the base interpreter runs its own ensurepip into a temporary root, with
 * bytecode writing off, so nothing is written into the base. The layer is
 * built in a directory next to its final name and renamed into place; of
 * concurrent builders one wins, the others discard their copy. */
#ifndef PYENVFS_PIPLAYER_H
#define PYENVFS_PIPLAYER_H

#include <stddef.h>

/* The root whose bin/pythonX.Y the layer's scripts name in their first line
 * (#!/pyenvfs-pip-layer/bin/python3.11), and which the layer's
 * .pyenvfs/mounts lists: shebang.c rewrites such a line on read to name the
 * env's own bin/pythonX.Y. Outside a mount the scripts do not run. */
#define PIPLAYER_ROOT "/pyenvfs-pip-layer"
/* Its key file, in .pyenvfs/. */
#define PIPLAYER_KEY_FILE "pip-layer"
/* Where root keeps the pip layers every user's --with-pip uses first
 * (pyenvfs pip-layer --system BASE): root's, written by nobody else. */
#define PIPLAYER_SYSTEM_DIR "/var/cache/pyenvfs/pip-layers"

/* The key of base's pip layer: the interpreter's identity (as the layout
 * cache's key) and its ensurepip and wheels as they are now; NULL if base
 * has no ensurepip for X.Y. */
char *piplayer_key(const char *base, const char *xy);

/* The pip layer of Python xy in base: found in the system-wide directory
 * (root's), else in the user's cache, or made now in the user's cache (in
 * the system-wide one with system, root only). Returns its path
 * (malloc'ed); *built_secs is how long making it took, or -1 if it was
 * found. Before a build it says so on stderr (with the seconds passing, on
 * a terminal). NULL with a one-line message in err. */
char *piplayer_get(const char *base, const char *xy, int system, double *built_secs, char *err, size_t len);

/* pyenvfs pip-layer [--system] [--python X.Y] BASE: prints the layer's
 * path, making it if needed. */
int piplayer_main(int argc, char **argv);

/* The Python program that makes a layer (exposed for the tests). */
extern const char piplayer_py[];

#endif
