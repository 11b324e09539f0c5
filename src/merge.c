// SPDX-License-Identifier: GPL-2.0-or-later
/* The union rule of stacked layers: lookup and merged listings. Pure. */
#include "merge.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void merge_begin(struct merge_state *s)
{
	memset(s, 0, sizeof *s);
	s->redirect = -1;
}

/* The object of one layer: the first one answers; a directory below a
 * directory merges; anything else below a directory ends the merge (as in
 * overlayfs: a lower file hides the directories under it). */
static void add_object(struct merge_state *s, size_t layer, enum merge_obj obj)
{
	if (obj == MERGE_ABSENT)
		return;
	if (!s->found) {
		s->found = 1;
		s->top = layer;
		s->is_dir = obj == MERGE_DIR;
		if (s->is_dir)
			s->layers[s->nlayers++] = layer;
		else
			s->done = 1;
		return;
	}
	if (obj == MERGE_DIR && s->is_dir)
		s->layers[s->nlayers++] = layer;
	else
		s->done = 1;
}

int merge_feed(struct merge_state *s, size_t layer, const struct merge_probe *p)
{
	if (layer >= MERGE_MAX_LAYERS || layer < s->next)
		return -EINVAL;
	s->next = layer + 1;
	if (s->done)
		return 0;
	add_object(s, layer, p->shadowed ? MERGE_ABSENT : p->obj);
	if (s->done)
		return 0;
	/* The layer's own object is in; its record acts on the layers below. */
	if (p->record == WH_HIDE) {
		s->done = 1;
	} else if (p->record == WH_REDIRECT) {
		s->done = 1;
		/* Only a directory of this layer is a renamed one; a redirect
		 * record anywhere else hides, as a damaged record does. */
		if (s->found && s->is_dir && s->layers[s->nlayers - 1] == layer)
			s->redirect = (long)layer;
	}
	return !s->done;
}

void merge_follow_redirect(struct merge_state *s)
{
	if (s->redirect < 0)
		return;
	s->redirect = -1;
	s->done = 0;
}

/* Candidates and hides, each (name, layer), sorted by name then layer. */
struct named {
	const char *name;
	size_t layer;
	unsigned char type;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->layer < y->layer ? -1 : x->layer > y->layer;
}

/* 1 if a record of a layer above `below` hides name. hides is sorted. */
static int hidden_above(const struct named *hides, size_t nhides, const char *name, size_t below)
{
	size_t lo = 0, hi = nhides;
	while (lo < hi) {               /* the first hide with this name */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(hides[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nhides && strcmp(hides[lo].name, name) == 0 && hides[lo].layer < below;
}

int merge_list(const struct merge_dir_layer *dirs, size_t n, struct merge_out **out, size_t *nout)
{
	size_t nc = 0, nh = 0;
	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && dirs[i].layer <= dirs[i - 1].layer)
			return -EINVAL;
		nc += dirs[i].nents;
		nh += dirs[i].nhides;
	}
	if (!nc)
		return 0;
	cleanup_free struct named *cand = pe_xcalloc(nc, sizeof *cand);
	cleanup_free struct named *hides = pe_xcalloc(nh ? nh : 1, sizeof *hides);
	size_t k = 0, h = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < dirs[i].nents; j++)
			cand[k++] = (struct named){ dirs[i].ents[j].name, dirs[i].layer, dirs[i].ents[j].type };
		for (size_t j = 0; j < dirs[i].nhides; j++)
			hides[h++] = (struct named){ dirs[i].hides[j], dirs[i].layer, 0 };
	}
	qsort(cand, nc, sizeof *cand, named_cmp);
	qsort(hides, nh, sizeof *hides, named_cmp);
	struct merge_out *res = pe_xcalloc(nc, sizeof *res);
	size_t m = 0;
	for (size_t i = 0; i < nc; i++) {
		if (i && strcmp(cand[i].name, cand[i - 1].name) == 0)
			continue;       /* a lower layer's: the first one won */
		if (hidden_above(hides, nh, cand[i].name, cand[i].layer))
			continue;
		res[m++] = (struct merge_out){ cand[i].name, cand[i].type, cand[i].layer };
	}
	if (!m) {
		free(res);
		res = NULL;
	}
	*out = res;
	*nout = m;
	return 0;
}
