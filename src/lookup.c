// SPDX-License-Identifier: GPL-2.0-or-later
/* Lookups in the union: probing a merged directory's parts, the node of
 * what answers. See lookup.h. */
#include "lookup.h"
#include "distindex.h"
#include "listing.h"
#include "merge.h"
#include "records.h"
#include "script.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What part pos of p holds for name: its object (st), whether the
 * distribution index hides it (*shadow fetched at the first lower object),
 * its record. 0 or -errno. */
static int probe_part(struct pe_fs *fs, struct stack *p, size_t pos, const char *name,
		      const struct dist_shadow **shadow, struct merge_probe *pr, struct stat *st)
{
	const struct stack_part *part = &p->parts[pos];
	int fd = pos ? part->fd : stack_dir0(fs, p);
	int rec = pos ? part->rec : stack_rec0(p);
	*pr = (struct merge_probe){ MERGE_ABSENT, WH_NONE, 0 };
	if (fd >= 0 && stack_area_shows(fs, part->idx, p->area, p->rel, name)) {
		if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
			pr->obj = S_ISDIR(st->st_mode) ? MERGE_DIR : MERGE_OTHER;
		else if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
	}
	if (pr->obj != MERGE_ABSENT && part->idx) {
		if (!*shadow)
			*shadow = distidx_current(fs);
		pr->shadowed = distidx_hidden_in(*shadow, part->idx, p->area, p->rel, name);
	}
	if (rec >= 0) {
		struct wh_record r;
		int e = records_read_at(rec, name, &r);
		if (e)
			return e;
		pr->record = r.kind == WH_HIDE ? WH_HIDE : WH_NONE;
	}
	return 0;
}

/* Feeds the lower parts from the kept listing (one lookup in it). */
static int feed_index(struct pe_fs *fs, struct stack *p, const char *name, struct merge_state *m,
		      struct stack_found *f)
{
	struct listing_lower *idx = listing_lower(fs, p);
	if (!idx)
		return -ENOMEM;
	struct stack_found low;
	stack_found_init(&low);
	if (listing_lower_find(idx, name, &low)) {
		/* The lower answer merges under DIR's directory as the first lower
		 * object would: a directory merges with its merged ones, anything
		 * else ends the merge. */
		if (!m->found) {
			*f = low;
			if (low.merged == low.small)
				f->merged = f->small;
			m->found = 1;
			low.merged = low.small;
		} else if (m->is_dir && low.is_dir) {
			for (size_t i = 0; i < low.nmerged; i++)
				stack_found_add(f, low.merged[i]);
			f->have_key = 0;        /* the lowest one's is not known */
		}
	}
	stack_found_free(&low);
	listing_lower_put(idx);
	if (f->found && f->top && !f->st.st_mode) {
		/* the answering object's attributes, from its part */
		if (fstatat(p->parts[f->top].fd, name, &f->st, AT_SYMLINK_NOFOLLOW))
			return errno == ENOENT ? -ESTALE : -errno;
	}
	return 0;
}

int lookup_probe(struct pe_fs *fs, struct stack *p, const char *name, struct stack_found *f)
{
	stack_found_init(f);
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	const struct dist_shadow *shadow = NULL;
	struct merge_state m;
	merge_begin(&m);
	struct merge_probe pr;
	struct stat st;
	int r = probe_part(fs, p, 0, name, &shadow, &pr, &st);
	if (r)
		return r;
	merge_feed(&m, 0, &pr);
	if (m.found) {
		f->found = 1;
		f->is_dir = m.is_dir;
		f->top = 0;
		f->st = st;
		if (m.merged) {
			stack_found_add(f, 0);
			f->key = st;
			f->have_key = 1;
		}
	}
	if (!m.done && p->nlower >= LOOKUP_INDEX_MIN) {
		r = feed_index(fs, p, name, &m, f);
		if (r) {
			stack_found_free(f);
			return r;
		}
	} else {
		for (size_t pos = 1; pos < p->n && !m.done; pos++) {
			r = probe_part(fs, p, pos, name, &shadow, &pr, &st);
			if (r) {
				stack_found_free(f);
				return r;
			}
			int was = m.found;
			merge_feed(&m, p->parts[pos].idx, &pr);
			if (!was && m.found) {
				f->found = 1;
				f->is_dir = m.is_dir;
				f->top = pos;
				f->st = st;
			}
			if (m.merged) {
				stack_found_add(f, pos);
				f->key = st;
				f->have_key = 1;
			}
		}
	}
	if (!f->found) {
		stack_found_free(f);
		return -ENOENT;
	}
	return 0;
}

int lookup_below(struct pe_fs *fs, struct stack *p, const char *name)
{
	if (!p->nlower && p->n < 2)
		return 0;
	const struct dist_shadow *shadow = NULL;
	struct merge_state m;
	merge_begin(&m);
	for (size_t pos = 1; pos < p->n && !m.done; pos++) {
		struct merge_probe pr;
		struct stat st;
		int r = probe_part(fs, p, pos, name, &shadow, &pr, &st);
		if (r)
			return r;
		merge_feed(&m, p->parts[pos].idx, &pr);
	}
	return m.found;
}

void lookup_times(struct pe_fs *fs, struct stack *s, struct stat *st)
{
	if (stack_parts_shown(fs, s) > 1)
		stack_times(fs, s, st);
	if (s->area == 1 && fs->nstack > 1 && !*s->rel) {
		struct timespec t = distidx_changed(fs);
		pe_times_newest(st, t, t);
	}
}

/* Whether old, the stack an existing node keeps, still is what f found in
 * p: the same layers merged (their records nodes aside: a lower part of p
 * with records may have some for name, which only an open tells). */
static int same_parts(struct pe_fs *fs, struct stack *p, const struct stack_found *f, struct stack *old)
{
	size_t last = f->nmerged ? f->merged[f->nmerged - 1] : 0;
	for (size_t pos = 1; pos <= last && pos < p->n; pos++)
		if (p->parts[pos].rec >= 0)
			return 0;
	size_t k = 0;
	for (size_t i = 0; i < old->n; i++) {
		int fd = i ? old->parts[i].fd : stack_dir0(fs, old);
		if (fd < 0)
			continue;
		if (k >= f->nmerged || p->parts[f->merged[k]].idx != old->parts[i].idx)
			return 0;
		k++;
	}
	return k == f->nmerged;
}

/* The node the kernel may know already for what f found (st: its
 * attributes), with one more lookup and its stack or name brought up to
 * date, found without opening anything; NULL if there is none (or it
 * cannot be told). */
static struct node *known(struct pe_fs *fs, struct stack *p, const char *name, uint64_t place,
			  const struct stack_found *f, const struct stat *st)
{
	const struct stack_part *part = &p->parts[f->top];
	unsigned lay = stack_area_layer(fs, part->idx, p->area);
	if (!S_ISDIR(st->st_mode)) {
		uint64_t pl = NONDIR_PLACE(lay);
		if (part->idx && st->st_nlink > 1) {
			cleanup_free char *rel = path_join(p->rel, name);
			pl |= NONDIR_LINK(pe_hash(rel));
		}
		struct node *n = node_find_ref(fs->nodes, st->st_dev, st->st_ino, pl);
		if (n) {
			stack_get(p);
			node_set_stack(fs->nodes, n, p, name);
		}
		return n;
	}
	if (!f->have_key)
		return NULL;
	struct node *n = node_find_ref(fs->nodes, f->key.st_dev, f->key.st_ino, place | STACK_DIR_PLACE);
	if (!n)
		return NULL;
	struct stack *old = node_stack(fs->nodes, n, NULL, 0);
	int top = -1;
	for (size_t i = 0; old && i < old->n && top < 0; i++)
		if (old->parts[i].idx == part->idx)
			top = i ? old->parts[i].fd : stack_dir0(fs, old);
	if (!old || !same_parts(fs, p, f, old) || top < 0) {
		if (old)
			stack_put(old);
		node_forget(fs->nodes, n, 1);
		return NULL;
	}
	/* DIR's part made meanwhile through another place: n stands for it */
	if (n->layer != lay && dup3(top, n->fd, O_CLOEXEC) >= 0) {
		n->layer = lay;
		n->writable = part->idx == 0 && fs->layers[lay].writable;
	}
	stack_put(old);
	return n;
}

/* The node of what f found at name in p, whose answering object is fd
 * (O_PATH, the caller's, given to the node or closed) with attributes st. */
static int node_for(struct pe_fs *fs, struct stack *p, const char *name, uint64_t place, const struct stack_found *f,
		    int fd, struct stat *st, struct node **out)
{
	const struct stack_part *part = &p->parts[f->top];
	unsigned lay = stack_area_layer(fs, part->idx, p->area);
	struct origin o = { place | STACK_DIR_PLACE, lay, (unsigned char)(part->idx == 0 && fs->layers[lay].writable),
			    (unsigned char)p->area };
	struct node *n;
	if (S_ISDIR(st->st_mode)) {
		struct stack *c = stack_child(fs, p, name, f, fd, st);
		struct stat key = *st;
		stack_key(c, &key.st_dev, &key.st_ino);
		n = node_get(fs->nodes, fd, &key, &o);
		/* An existing node whose top changed (DIR's part made meanwhile
		 * through another place): it stands for the new top now. */
		if (n->layer != lay) {
			int top = -1;
			for (size_t i = 0; i < c->n && top < 0; i++)
				if (c->parts[i].idx == part->idx)
					top = c->parts[i].fd;
			if (top >= 0 && dup3(top, n->fd, O_CLOEXEC) >= 0) {
				n->layer = lay;
				n->writable = o.writable;
			}
		}
		node_set_stack(fs->nodes, n, c, NULL);
		lookup_times(fs, c, st);
	} else {
		o.place = NONDIR_PLACE(lay);
		/* A layer's file with several names: a node per name, as each is
		 * copied up on its own (overlayfs without index=on does the same). */
		if (part->idx && st->st_nlink > 1) {
			cleanup_free char *rel = path_join(p->rel, name);
			o.place |= NONDIR_LINK(pe_hash(rel));
		}
		n = node_get(fs->nodes, fd, st, &o);
		stack_get(p);
		node_set_stack(fs->nodes, n, p, name);
		if (S_ISREG(st->st_mode) && part->idx && p->area == 2 && !n->sb && !n->writable) {
			script_plan(fs, n, p->rel);
		} else if (S_ISREG(st->st_mode) && !part->idx && p->area == 2 && strcmp(p->rel, "bin") == 0) {
			struct stat planned = *st;      /* (the size shown is shown()'s) */
			script_plan_own(fs, n, &planned);
		}
	}
	*out = n;
	return 0;
}

int lookup_node(struct pe_fs *fs, struct stack *p, const char *name, uint64_t place, const struct stack_found *f,
		struct node **out, struct stat *st)
{
	if (f->st.st_mode && (*out = known(fs, p, name, place, f, &f->st))) {
		*st = f->st;
		struct stack *c = S_ISDIR(st->st_mode) ? node_stack(fs->nodes, *out, NULL, 0) : NULL;
		if (c) {
			lookup_times(fs, c, st);
			stack_put(c);
		}
		return 0;
	}
	const struct stack_part *part = &p->parts[f->top];
	int pfd = f->top ? part->fd : stack_dir0(fs, p);
	int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		int r = -errno;
		close(fd);
		return r;
	}
	return node_for(fs, p, name, place, f, fd, st, out);
}

int lookup_in(struct pe_fs *fs, struct stack *p, const char *name, uint64_t place, struct node **out, struct stat *st)
{
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	int d0 = stack_dir0(fs, p);
	if (p->n == 1 && stack_rec0(p) < 0 && stack_area_shows(fs, 0, p->area, p->rel, name)) {
		/* A stack of one (DIR alone, or a directory no layer holds): the
		 * open is the probe. */
		if (d0 < 0)
			return -ENOENT;
		struct stack_found f;
		stack_found_init(&f);
		if (fstatat(d0, name, &f.st, AT_SYMLINK_NOFOLLOW))
			return errno == ENOTDIR ? -ENOENT : -errno;
		f.found = 1;
		f.is_dir = S_ISDIR(f.st.st_mode);
		if (f.is_dir) {
			stack_found_add(&f, 0);
			f.key = f.st;
			f.have_key = 1;
		}
		return lookup_node(fs, p, name, place, &f, out, st);
	}
	struct stack_found f;
	int r = lookup_probe(fs, p, name, &f);
	if (!r)
		r = lookup_node(fs, p, name, place, &f, out, st);
	stack_found_free(&f);
	return r;
}

int lookup_top(struct pe_fs *fs, struct stack *s, uint64_t place, struct node **out, struct stat *st)
{
	size_t top = 0;
	int tfd = stack_dir0(fs, s);
	for (size_t i = 1; tfd < 0 && i < s->n; i++)
		if (s->parts[i].fd >= 0)
			tfd = s->parts[top = i].fd;
	if (tfd < 0)
		return -ENOENT;
	int fd = fcntl(tfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st)) {
		int r = -errno;
		close(fd);
		return r;
	}
	unsigned lay = stack_area_layer(fs, s->parts[top].idx, s->area);
	struct origin o = { place | STACK_DIR_PLACE, lay, (unsigned char)(top == 0 && fs->layers[lay].writable),
			    (unsigned char)s->area };
	struct stat key = *st;
	stack_key(s, &key.st_dev, &key.st_ino);
	struct node *n = node_get(fs->nodes, fd, &key, &o);
	stack_get(s);
	node_set_stack(fs->nodes, n, s, NULL);
	lookup_times(fs, s, st);
	*out = n;
	return 0;
}

struct stack *lookup_path(struct pe_fs *fs, int area, const char *path, int empty_ok, int *err)
{
	struct stack *cur = fs->area_top[area - 1];
	stack_get(cur);
	cleanup_free char *p = pe_xstrdup(path);
	char *save = NULL;
	*err = 0;
	for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stack_found f;
		int r = lookup_probe(fs, cur, c, &f);
		if (!r && !f.is_dir)
			r = -ENOTDIR;
		struct stack *next;
		if (r == -ENOENT && empty_ok) {
			/* shows nowhere yet: an empty stack, its DIR part looked
			 * for again when one is made */
			cleanup_free char *rel = path_join(cur->rel, c);
			next = stack_new(area, rel, cur, 1);
			next->parts[0] = (struct stack_part){ 0, -1, -1 };
			next->n = 1;
			next->gen = __atomic_load_n(&fs->stack_gen, __ATOMIC_ACQUIRE);
			stack_done(next, NULL);
		} else if (r) {
			stack_found_free(&f);
			stack_put(cur);
			*err = r;
			return NULL;
		} else {
			next = stack_child(fs, cur, c, &f, -1, NULL);
		}
		stack_found_free(&f);
		stack_put(cur);
		cur = next;
	}
	return cur;
}
