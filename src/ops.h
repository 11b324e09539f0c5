// SPDX-License-Identifier: GPL-2.0-or-later
/* The FUSE operations: the adapter between the kernel's requests and the
 * core (resolve, backing, node). Only ops.c replies to the kernel; every
 * request is replied to exactly once. */
#ifndef PYENVFS_OPS_H
#define PYENVFS_OPS_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include "fs.h"

/* The session's userdata is the struct pe_fs. */
extern const struct fuse_lowlevel_ops pe_ops;

#endif
