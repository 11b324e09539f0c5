// SPDX-License-Identifier: GPL-2.0-or-later
/* A mount and what DIR remembers (envrec.h): the Python X.Y, layers and pip
 * layer DIR was made over are used when not given, and a mount that would
 * show DIR over another X.Y or ABI, or without its layers, is refused before
 * anything is made; a layer that records another X.Y or ABI is refused too.
 * Once the mount is set up, what it was made over and where it is mounted
 * are written back into DIR. */
#ifndef PYENVFS_REMEMBER_H
#define PYENVFS_REMEMBER_H

#include <stddef.h>
#include <sys/types.h>

#include "check.h"
#include "cli.h"
#include "envrec.h"

/* Reads DIR's record (none if DIR does not exist) into rec and applies it
 * to o: with no --lower-site, the layers it remembers; its pip layer; its
 * X.Y when no --python is given and BASE has it. Refuses (-1, err) given
 * layers that leave out a remembered one, and a remembered layer that is
 * gone, unless o->restack. */
int remember_apply(struct pe_opts *o, struct envrec *rec, char *err, size_t len);

/* After the layout is known: DIR made for another X.Y or ABI, or a lower
 * layer that records another, is refused. nlayers: the user's layers in
 * p->lower (the pip layer after them is the base's own). */
int remember_check(const struct envrec *rec, const struct pe_paths *p, size_t nlayers, const char *xy,
		   const char *soabi, char *err, size_t len);

/* What the mount was made over, and where it is mounted, written into DIR
 * (site: DIR's descriptor, reserved: DIR/.pyenvfs's) as uid:gid where it
 * changed (if write: not for -o ro). *roots gets the mount points DIR was mounted at before (for
 * its console scripts), *nroots their number. Errors are ignored: a DIR
 * that cannot be written keeps what it had. */
void remember_store(int site, int reserved, uid_t uid, gid_t gid, const struct envrec *now, const char *mountpoint,
		    int write, char ***roots, size_t *nroots);

/* pyenvfs clone SRC_DIR DST_DIR: DST made to remember SRC as its top layer,
 * over SRC's layers, base and X.Y; nothing is copied. */
int clone_main(int argc, char **argv);

#endif
