// SPDX-License-Identifier: GPL-2.0-or-later
/* What a DIR remembers of itself, in its reserved directory (docs/LAYERS.md,
 * "What a DIR remembers"):
 *
 *   DIR/.pyenvfs/env       how the env was made: the base, its Python X.Y and
 *                          ABI tag, the lower site layers (top first), whether
 *                          it has the pip layer. Read at each mount (another
 *                          X.Y, or missing layers, are refused; no --lower-site
 *                          means the remembered ones), by `pyenvfs clone`, by
 *                          `pyenvfs run --site DIR` without BASE, and, when
 *                          DIR is a layer of another env, for its X.Y.
 *   DIR/.pyenvfs/mounts    the mount points it was mounted at, oldest first:
 *                          its console scripts that name one of them are
 *                          shown naming the current one (shebang.c).
 *
 * Pure: the text of the two files, parsed and made. envfile.c reads and
 * writes them. */
#ifndef PYENVFS_ENVREC_H
#define PYENVFS_ENVREC_H

#include <stddef.h>

#define ENVREC_FILE "env"
#define ENVREC_MOUNTS_FILE "mounts"
/* A run's mount point is new each time: the oldest are dropped beyond this. */
#define ENVREC_MOUNTS_MAX 64
#define ENVREC_TEXT_MAX 65536

struct envrec {
	char *base;             /* canonical path, or NULL */
	char xy[16];            /* "3.11", or "" */
	char abi[64];           /* SOABI ("cpython-311-x86_64-linux-gnu"), or "" */
	char **layers;          /* canonical paths, top first; the pip layer is not one */
	size_t nlayers;
	int with_pip;
};

/* Parses the env file. Unknown keys are ignored (a later version's); a
 * malformed one is -1 with a one-line message in err. Pure. */
int envrec_parse(const char *text, struct envrec *r, char *err, size_t len);
/* Its text (malloc'ed), or NULL if a value cannot be written in it (a
 * newline in a path). */
char *envrec_format(const struct envrec *r);
void envrec_add_layer(struct envrec *r, const char *layer);
void envrec_free(struct envrec *r);

/* The mounts file's lines (malloc'ed array of malloc'ed strings, *n of
 * them): absolute paths only, as written. */
char **envrec_mounts_parse(const char *text, size_t *n);
void envrec_mounts_free(char **mounts, size_t n);
/* The file's text with mountpoint last (moved there if listed before; the
 * oldest dropped beyond max). NULL if the text would not change (it is the
 * last already) or mountpoint cannot be written (not absolute, a newline). */
char *envrec_mounts_add(const char *text, const char *mountpoint, size_t max);

#endif
