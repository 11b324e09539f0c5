// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs layer pack DIR IMAGE: what an admin publishing a layer must do,
 * in one command (docs/USAGE.md, "Publishing a layer"):
 *
 *   1. compile DIR's bytecode with the base's own Python (the one DIR
 *      remembers), as DIR's owner, writing nothing into the base, so that
 *      no user's env has to compile the layer at each start-up;
 *   2. give DIR's objects the modes the ownership rule wants (ownership.h:
 *      readable by everyone, writable by the owner only, no set-id bits),
 *      through descriptors;
 *   3. write a squashfs image of DIR that is the same bytes for the same
 *      DIR: mksquashfs with its objects root's, no xattrs, the file
 *      system's time the newest mtime in DIR (or SOURCE_DATE_EPOCH), and
 *      without DIR's own temporary and base-bytecode areas. It is written
 *      beside IMAGE and renamed onto it.
 *
 * The image says what it is: DIR's .pyenvfs/env (its Python X.Y and ABI)
 * is in it, and an env of another X.Y refuses it. */
#ifndef PYENVFS_PACK_H
#define PYENVFS_PACK_H

int layer_main(int argc, char **argv);

#endif
