// SPDX-License-Identifier: GPL-2.0-or-later
/* The union rule of stacked layers: which layer answers a name, which
 * layers' directories merge into one, and a merged directory's listing.
 * Layer 0 is the top (DIR), then L1, L2, ... Pure: the caller probes the
 * layers (fstatat, the whiteout records of whiteout.h, the distribution
 * rule of dist.h) and feeds what it found (docs/LAYERS.md, "Lookup"). */
#ifndef PYENVFS_MERGE_H
#define PYENVFS_MERGE_H

#include <stddef.h>

#include "whiteout.h"

enum merge_obj {
	MERGE_ABSENT,           /* no such name in this layer (or not shown) */
	MERGE_DIR,              /* a directory */
	MERGE_OTHER,            /* anything else: a file, a symbolic link, ... */
};

/* What the caller found for one name in one layer. */
struct merge_probe {
	enum merge_obj obj;
	enum wh_kind record;    /* this layer's record for the name: it acts on
				 * the layers under this one only */
	int shadowed;           /* this layer's object belongs to a distribution a
				 * higher layer shadows: not shown (lower layers'
				 * objects may still be) */
};

/* The answer so far, fed one layer at a time, top first. Any number of
 * layers: the caller keeps which ones merged (s->merged after each feed). */
struct merge_state {
	int found;              /* some layer's object answers the name */
	int is_dir;             /* it is a directory: lower ones may merge in */
	size_t top;             /* the layer of the answering object */
	size_t nlayers;         /* how many directories merge, top first */
	size_t last;            /* the lowest of them */
	int merged;             /* the layer just fed merged in (a directory of the answer) */
	int done;               /* no lower layer can change the answer */
	size_t next;            /* the lowest layer that may be fed next */
};

void merge_begin(struct merge_state *s);

/* Adds what layer holds (layers in increasing order). Returns 1 if the next
 * layer must be probed, 0 once the answer is complete (s->done). -EINVAL for
 * a layer out of order. */
int merge_feed(struct merge_state *s, size_t layer, const struct merge_probe *p);

/* One layer's part of a merged directory. */
struct merge_entry {
	const char *name;
	unsigned char type;     /* DT_* as readdir gives it */
};
struct merge_dir_layer {
	size_t layer;                   /* which layer (top first, as merged) */
	const struct merge_entry *ents; /* its entries, without "." and ".." and
					 * without the ones it does not show */
	size_t nents;
	const char *const *hides;       /* names its records hide in the layers
					 * under it */
	size_t nhides;
};

struct merge_out {
	const char *name;       /* the caller's string */
	unsigned char type;
	size_t layer;           /* the layer it comes from */
};

/* The listing of a directory merged from dirs[0..n) (as merge_state's
 * layers give them, top first): every name once, from the first layer
 * holding it, unless a record of a layer above that one hides it. Sorted by
 * name (a stable order for readdir offsets). *out is malloc'ed (NULL when
 * empty), *nout its length. 0 or -EINVAL (layers not in increasing order). */
int merge_list(const struct merge_dir_layer *dirs, size_t n, struct merge_out **out, size_t *nout);

/* The answer for every name of a merged directory at once, as merge_feed
 * gives it name by name: a kept listing that also answers lookups. */
struct merge_name {
	const char *name;       /* the caller's string */
	unsigned char type;     /* the answering object's (DT_*) */
	size_t top;             /* its layer */
	size_t first, n;        /* a directory: the layers merged, top first, are
				 * (*merged)[first .. first + n) */
};
/* The names some layer shows (hidden ones are left out), sorted by name:
 * *out (malloc'ed, NULL when empty), *nout; the merged layers of each
 * directory in *merged (malloc'ed). An entry of type DT_UNKNOWN counts as a
 * non-directory: the caller finds the type first. 0 or -EINVAL. */
int merge_index(const struct merge_dir_layer *dirs, size_t n, struct merge_name **out, size_t *nout,
		size_t **merged);

#endif
