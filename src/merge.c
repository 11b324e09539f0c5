// SPDX-License-Identifier: GPL-2.0-or-later
/* The union rule of stacked layers: lookup and merged listings. Pure. */
#include "merge.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void merge_begin(struct merge_state *s)
{
	memset(s, 0, sizeof *s);
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
		if (!s->is_dir) {
			s->done = 1;
			return;
		}
	} else if (obj != MERGE_DIR || !s->is_dir) {
		s->done = 1;
		return;
	}
	s->merged = 1;
	s->nlayers++;
	s->last = layer;
}

int merge_feed(struct merge_state *s, size_t layer, const struct merge_probe *p)
{
	if (layer < s->next)
		return -EINVAL;
	s->next = layer + 1;
	s->merged = 0;
	if (s->done)
		return 0;
	add_object(s, layer, p->shadowed ? MERGE_ABSENT : p->obj);
	if (s->done)
		return 0;
	/* The layer's own object is in; its record acts on the layers below. */
	if (p->record == WH_HIDE)
		s->done = 1;
	return !s->done;
}

/* Every layer's objects and records, each (name, layer), sorted by name,
 * then layer, then an object before a record of the same layer. */
struct event {
	const char *name;
	size_t layer;
	unsigned char type;
	unsigned char hide;     /* a record (else an object) */
};

static int event_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	return (int)x->hide - (int)y->hide;
}

int merge_index(const struct merge_dir_layer *dirs, size_t n, struct merge_name **out, size_t *nout,
		size_t **merged)
{
	size_t ne = 0;
	*out = NULL;
	*nout = 0;
	*merged = NULL;
	for (size_t i = 0; i < n; i++) {
		if (i && dirs[i].layer <= dirs[i - 1].layer)
			return -EINVAL;
		ne += dirs[i].nents + dirs[i].nhides;
	}
	if (!ne)
		return 0;
	cleanup_free struct event *ev = pe_xcalloc(ne, sizeof *ev);
	size_t k = 0, nobj = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < dirs[i].nents; j++)
			ev[k++] = (struct event){ dirs[i].ents[j].name, dirs[i].layer, dirs[i].ents[j].type, 0 };
		for (size_t j = 0; j < dirs[i].nhides; j++)
			ev[k++] = (struct event){ dirs[i].hides[j], dirs[i].layer, 0, 1 };
		nobj += dirs[i].nents;
	}
	qsort(ev, ne, sizeof *ev, event_cmp);
	struct merge_name *res = pe_xcalloc(nobj ? nobj : 1, sizeof *res);
	size_t *lay = pe_xcalloc(nobj ? nobj : 1, sizeof *lay);
	size_t m = 0, nl = 0;
	for (size_t i = 0; i < ne;) {
		size_t end = i;
		while (end < ne && strcmp(ev[end].name, ev[i].name) == 0)
			end++;
		struct merge_state s;
		merge_begin(&s);
		unsigned char type = 0;
		size_t first = nl;
		/* One probe per layer of the group: its object and its record. */
		for (size_t e = i; e < end && !s.done;) {
			struct merge_probe p = { MERGE_ABSENT, WH_NONE, 0 };
			size_t layer = ev[e].layer;
			unsigned char t = 0;
			for (; e < end && ev[e].layer == layer; e++) {
				if (ev[e].hide) {
					p.record = WH_HIDE;
				} else {
					p.obj = ev[e].type == DT_DIR ? MERGE_DIR : MERGE_OTHER;
					t = ev[e].type;
				}
			}
			int was = s.found;
			merge_feed(&s, layer, &p);
			if (!was && s.found)
				type = t;
			if (s.merged)
				lay[nl++] = layer;
		}
		if (s.found)
			res[m++] = (struct merge_name){ ev[i].name, type, s.top, first, s.is_dir ? nl - first : 0 };
		else
			nl = first;
		i = end;
	}
	if (!m) {
		free(res);
		free(lay);
		return 0;
	}
	*out = res;
	*nout = m;
	*merged = lay;
	return 0;
}

int merge_list(const struct merge_dir_layer *dirs, size_t n, struct merge_out **out, size_t *nout)
{
	struct merge_name *names;
	size_t nn, *merged;
	*out = NULL;
	*nout = 0;
	int r = merge_index(dirs, n, &names, &nn, &merged);
	if (r || !nn)
		return r;
	struct merge_out *res = pe_xcalloc(nn, sizeof *res);
	for (size_t i = 0; i < nn; i++)
		res[i] = (struct merge_out){ names[i].name, names[i].type, names[i].top };
	free(names);
	free(merged);
	*out = res;
	*nout = nn;
	return 0;
}
