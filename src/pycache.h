// SPDX-License-Identifier: GPL-2.0-or-later
/* Bytecode for read-only places (docs/LAYERS.md): which new names Python may
 * write in a directory of a lower layer or of the base, and where they go in
 * the env's own area instead. Everything else there stays EROFS. Pure. */
#ifndef PYENVFS_PYCACHE_H
#define PYENVFS_PYCACHE_H

#include <stddef.h>

#define PYCACHE_ROOT ".pyenvfs/pycache"       /* in DIR */

enum pycache_name {
	PYCACHE_NO = 0,         /* not bytecode: EROFS as before */
	PYCACHE_DIR,            /* "__pycache__", made where it is missing */
	PYCACHE_FILE,           /* a .pyc, or importlib's temporary for one */
};

/* What creating name in the directory called dir_name (its last component)
 * is. In a __pycache__: "X.pyc", or "X.pyc.DIGITS" (importlib's
 * _write_atomic writes that, then replaces the .pyc with it). With legacy
 * (Python 2, which writes "X.pyc"/"X.pyo" beside "X.py"): such a name in any
 * directory; the caller checks that X.py exists. */
enum pycache_name pycache_classify(const char *dir_name, const char *name, int legacy);

/* The directory in DIR that holds the bytecode written for the directory
 * path (relative to the source's root; "" is the root) of the source whose
 * id is source_id ("base-..." or "layer-...", see pycache_source_id). 0,
 * -EINVAL (a bad id or path), -ENAMETOOLONG. */
int pycache_area_path(const char *source_id, const char *path, char *out, size_t len);

/* "base-<16 hex>" or "layer-<16 hex>" from the source's canonical path: an
 * id that does not depend on the order of --lower-site. 0 or -ENAMETOOLONG. */
int pycache_source_id(int is_base, const char *real_path, char *out, size_t len);

#endif
