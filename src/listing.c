// SPDX-License-Identifier: GPL-2.0-or-later
/* Listings: backing directories read as asked, made-up ones, and the
 * union's merged directories with their kept lower parts. See listing.h. */
#include "listing.h"
#include "distindex.h"
#include "merge.h"
#include "records.h"
#include "stack.h"
#include "util.h"
#include "view.h"
#include "whiteout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An open-addressing set of strings (they outlive it), to merge in O(n). */
struct name_set {
	const char **slot;
	size_t *val;
	size_t cap, count;
};

static void set_put(const char **slot, size_t *val, size_t cap, const char *name, size_t v)
{
	size_t h = (size_t)pe_hash(name) & (cap - 1);
	while (slot[h])
		h = (h + 1) & (cap - 1);
	slot[h] = name;
	val[h] = v;
}

/* The value of name, or (size_t)-1. */
static size_t set_find(const struct name_set *set, const char *name)
{
	if (!set->cap)
		return (size_t)-1;
	for (size_t h = (size_t)pe_hash(name) & (set->cap - 1); set->slot[h]; h = (h + 1) & (set->cap - 1))
		if (strcmp(set->slot[h], name) == 0)
			return set->val[h];
	return (size_t)-1;
}

/* 1 if name was added with v, 0 if it was there. */
static int set_add(struct name_set *set, const char *name, size_t v)
{
	if ((set->count + 1) * 2 > set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 64;
		const char **ns = pe_xcalloc(ncap, sizeof *ns);
		size_t *nv = pe_xcalloc(ncap, sizeof *nv);
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i])
				set_put(ns, nv, ncap, set->slot[i], set->val[i]);
		free(set->slot);
		free(set->val);
		set->slot = ns;
		set->val = nv;
		set->cap = ncap;
	}
	if (set_find(set, name) != (size_t)-1)
		return 0;
	set_put(set->slot, set->val, set->cap, name, v);
	set->count++;
	return 1;
}

static void set_free(struct name_set *set)
{
	free(set->slot);
	free(set->val);
	memset(set, 0, sizeof *set);
}

/* ---- listings ---------------------------------------------------------- */

struct listing {
	/* a backing directory */
	DIR *dp;
	off_t offset;
	struct dirent *entry;   /* read, not yet used */
	int hide_reserved;
	/* a made-up one */
	char **names;
	unsigned char *types;
	size_t n, cap;
	struct name_set seen;
};

struct listing *listing_new(void)
{
	struct listing *l = pe_xcalloc(1, sizeof *l);
	listing_add(l, ".", DT_DIR);
	listing_add(l, "..", DT_DIR);
	return l;
}

void listing_add(struct listing *l, const char *name, unsigned char type)
{
	if (set_find(&l->seen, name) != (size_t)-1)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->names = realloc(l->names, l->cap * sizeof *l->names);
		l->types = realloc(l->types, l->cap);
		if (!l->names || !l->types)
			abort();
	}
	l->names[l->n] = pe_xstrdup(name);
	set_add(&l->seen, l->names[l->n], l->n);
	l->types[l->n++] = type;
}

int listing_backing(int path_fd, int hide_reserved, struct listing **out)
{
	*out = NULL;
	struct listing *l = pe_xcalloc(1, sizeof *l);
	int fd = pe_open_dir(path_fd);
	if (fd < 0 || !(l->dp = fdopendir(fd))) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		free(l);
		return r;
	}
	l->hide_reserved = hide_reserved;
	*out = l;
	return 0;
}

int listing_get(struct listing *l, off_t off, struct listing_entry *e)
{
	if (!l->dp) {
		size_t i = off < 0 ? 0 : (size_t)off;
		if (i >= l->n)
			return 0;
		*e = (struct listing_entry){ l->names[i], (ino_t)(i + 1), l->types[i], (off_t)(i + 1) };
		return 1;
	}
	if (off != l->offset) {
		seekdir(l->dp, off);
		l->entry = NULL;
		l->offset = off;
	}
	for (;;) {
		if (!l->entry) {
			errno = 0;
			l->entry = readdir(l->dp);
			if (!l->entry)
				return errno ? -errno : 0;
		}
		if (!(l->hide_reserved && view_reserved(l->entry->d_name)))
			break;
		listing_advance(l);
	}
	*e = (struct listing_entry){ l->entry->d_name, l->entry->d_ino, l->entry->d_type, l->entry->d_off };
	return 1;
}

void listing_advance(struct listing *l)
{
	if (l->dp && l->entry) {
		l->offset = l->entry->d_off;
		l->entry = NULL;
	}
}

int listing_fd(const struct listing *l)
{
	return l->dp ? dirfd(l->dp) : -1;
}

void listing_free(struct listing *l)
{
	if (!l)
		return;
	if (l->dp)
		closedir(l->dp);
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->types);
	set_free(&l->seen);
	free(l);
}

/* ---- one part of a merged directory ----------------------------------------- */

/* A part's entries and the names its records hide (strings owned here). */
struct part_names {
	struct merge_entry *ents;
	size_t n, cap;
	const char **hides;
	size_t nhides, hcap;
	char **own;
	size_t nown, ocap;
};

static char *keep(struct part_names *p, const char *s)
{
	if (p->nown == p->ocap) {
		p->ocap = p->ocap ? p->ocap * 2 : 32;
		p->own = realloc(p->own, p->ocap * sizeof *p->own);
		if (!p->own)
			abort();
	}
	return p->own[p->nown++] = pe_xstrdup(s);
}

static void part_names_free(struct part_names *p)
{
	for (size_t i = 0; i < p->nown; i++)
		free(p->own[i]);
	free(p->own);
	free(p->ents);
	free(p->hides);
	memset(p, 0, sizeof *p);
}

/* The entries of the directory fd of part idx of s that it shows: not the
 * ones the distribution index hides (shadow), each with its type. */
static int read_entries(struct pe_fs *fs, struct stack *s, unsigned idx, int fd, const struct dist_shadow *shadow,
			struct part_names *p)
{
	DIR *dp = pe_opendir_path(fd);
	if (!dp)
		return -errno;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dp))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..") || !stack_area_shows(fs, idx, s->area, s->rel, name) ||
		    (idx && distidx_hidden_in(shadow, idx, s->area, s->rel, name)))
			continue;
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW))
				continue;
			type = (unsigned char)IFTODT(st.st_mode);
		}
		if (p->n == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 32;
			p->ents = realloc(p->ents, p->cap * sizeof *p->ents);
			if (!p->ents)
				abort();
		}
		p->ents[p->n++] = (struct merge_entry){ keep(p, name), type };
	}
	int r = errno ? -errno : 0;
	closedir(dp);
	return r;
}

/* The names a part's records node rec hides below it. */
static int read_hides(int rec, struct part_names *p)
{
	int sub = openat(rec, WH_SUB, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *dp = pe_opendir_path(sub);
	close(sub);
	if (!dp)
		return -errno;
	struct dirent *de;
	while ((de = readdir(dp))) {
		struct wh_record r;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || records_read_at(rec, de->d_name, &r) ||
		    r.kind != WH_HIDE)
			continue;
		if (p->nhides == p->hcap) {
			p->hcap = p->hcap ? p->hcap * 2 : 8;
			p->hides = realloc(p->hides, p->hcap * sizeof *p->hides);
			if (!p->hides)
				abort();
		}
		p->hides[p->nhides++] = keep(p, de->d_name);
	}
	closedir(dp);
	return 0;
}

/* ---- the kept lower parts ------------------------------------------------------ */

struct listing_lower {
	int refs;
	const struct dist_shadow *shadow;       /* the distribution index it was built with */
	double checked;                         /* when its parts' times were last compared (s->lock) */
	unsigned lower_gen;                     /* fs->lower_gen then */
	int racy;                               /* a part changed within LOWER_RACY_NS of the build: a
						 * change in the same clock tick leaves its times as
						 * they were, so it is built once more after that */
	double built;                           /* stack_now() at the build */
	struct timespec *times;                 /* mtime, ctime of each lower part's directory */
	struct part_names *parts;               /* [position] */
	size_t nparts;
	struct merge_name *names;
	size_t n;
	size_t *merged;
	struct name_set byname;
};

void listing_lower_put(struct listing_lower *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < l->nparts; i++)
		part_names_free(&l->parts[i]);
	free(l->parts);
	free(l->times);
	free(l->names);
	free(l->merged);
	set_free(&l->byname);
	free(l);
}

static void lower_free(void *p)
{
	listing_lower_put(p);
}

static void part_times(const struct stack *s, size_t pos, struct timespec t[2])
{
	struct stat st;
	if (s->parts[pos].fd < 0 || fstat(s->parts[pos].fd, &st))
		memset(&st, 0, sizeof st);
	t[0] = st.st_mtim;
	t[1] = st.st_ctim;
}

static int same_ts(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* A directory's times move in clock ticks (a few ms): a part whose times
 * are this close to the build's may change again unseen. */
#define LOWER_RACY_NS 20000000LL

static long long realtime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct listing_lower *lower_build(struct pe_fs *fs, struct stack *s, const struct dist_shadow *shadow)
{
	struct listing_lower *l = pe_xcalloc(1, sizeof *l);
	l->refs = 1;
	l->shadow = shadow;
	l->lower_gen = __atomic_load_n(&fs->lower_gen, __ATOMIC_ACQUIRE);
	l->checked = l->built = stack_now();
	long long real = realtime_ns();
	l->nparts = s->n;
	l->parts = pe_xcalloc(s->n, sizeof *l->parts);
	l->times = pe_xcalloc(2 * s->n, sizeof *l->times);
	struct merge_dir_layer *dl = pe_xcalloc(s->n, sizeof *dl);
	size_t nd = 0;
	for (size_t pos = 1; pos < s->n; pos++) {
		struct part_names *p = &l->parts[pos];
		/* (the times first: a change while it is read is seen next time) */
		part_times(s, pos, &l->times[2 * pos]);
		for (int k = 0; k < 2; k++) {
			const struct timespec *t = &l->times[2 * pos + k];
			if ((long long)t->tv_sec * 1000000000LL + t->tv_nsec > real - LOWER_RACY_NS)
				l->racy = 1;
		}
		if (s->parts[pos].fd >= 0)
			(void)read_entries(fs, s, s->parts[pos].idx, s->parts[pos].fd, shadow, p);
		if (s->parts[pos].rec >= 0)
			(void)read_hides(s->parts[pos].rec, p);
		dl[nd++] = (struct merge_dir_layer){ pos, p->ents, p->n, p->hides, p->nhides };
	}
	if (merge_index(dl, nd, &l->names, &l->n, &l->merged))
		l->n = 0;
	for (size_t i = 0; i < l->n; i++)
		set_add(&l->byname, l->names[i].name, i);
	free(dl);
	return l;
}

/* Whether l still holds: the same distribution index, and the lower parts'
 * times as they were (for many parts, compared at most every lower_timeout
 * or when the watch saw a layer change). */
static int lower_fresh(struct pe_fs *fs, struct stack *s, struct listing_lower *l, const struct dist_shadow *shadow)
{
	if (l->shadow != shadow) {
		/* a new index: it holds if it hides the same of these layers
		 * (an install in DIR that shadows none of them) */
		for (size_t pos = 1; pos < s->n; pos++)
			if (!dist_shadow_same(l->shadow, shadow, s->parts[pos].idx))
				return 0;
		l->shadow = shadow;
	}
	double now = stack_now();
	if (l->racy && now - l->built >= LOWER_RACY_NS / 1e9)
		return 0;
	/* A directory of few lower parts shows their times as they are now
	 * (lookup_times), so its kept listing is compared with them at each
	 * use (an fstat each); one of many shows the times stack_times keeps
	 * for lower_timeout, which drops this listing when they move. */
	if (s->nlower >= STACK_MANY_PARTS && !stack_lower_due(fs, l->checked, l->lower_gen, now))
		return 1;
	unsigned gen = __atomic_load_n(&fs->lower_gen, __ATOMIC_ACQUIRE);
	for (size_t pos = 1; pos < s->n; pos++) {
		struct timespec t[2];
		part_times(s, pos, t);
		if (!same_ts(t[0], l->times[2 * pos]) || !same_ts(t[1], l->times[2 * pos + 1]))
			return 0;
	}
	l->checked = now;
	l->lower_gen = gen;
	return 1;
}

struct listing_lower *listing_lower(struct pe_fs *fs, struct stack *s)
{
	const struct dist_shadow *shadow = distidx_current(fs);
	pthread_mutex_lock(&s->lock);
	struct listing_lower *l = s->index;
	if (!l || !lower_fresh(fs, s, l, shadow)) {
		struct listing_lower *nl = lower_build(fs, s, shadow);
		if (l)
			listing_lower_put(l);
		s->index = l = nl;
		s->index_free = lower_free;
	}
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	return l;
}

int listing_lower_find(const struct listing_lower *l, const char *name, struct stack_found *f)
{
	size_t i = set_find(&l->byname, name);
	if (i == (size_t)-1)
		return 0;
	const struct merge_name *m = &l->names[i];
	f->found = 1;
	f->is_dir = m->type == DT_DIR;
	f->top = m->top;
	for (size_t k = 0; k < m->n; k++)
		stack_found_add(f, l->merged[m->first + k]);
	return 1;
}

/* ---- a merged directory ---------------------------------------------------------- */

int listing_merged(struct pe_fs *fs, struct stack *s, struct listing *l, int (*shows)(const char *, void *),
		   void *arg)
{
	struct part_names dir = { 0 };
	int d0 = stack_dir0(fs, s), rec0 = stack_rec0(s);
	int r = 0;
	if (d0 >= 0)
		r = read_entries(fs, s, 0, d0, NULL, &dir);
	if (!r && rec0 >= 0)
		r = read_hides(rec0, &dir);
	if (r) {
		part_names_free(&dir);
		return r;
	}
	/* DIR's objects win; its records hide the lower parts' names. */
	for (size_t i = 0; i < dir.n; i++)
		if (!shows || shows(dir.ents[i].name, arg))
			listing_add(l, dir.ents[i].name, dir.ents[i].type);
	if (s->nlower) {
		struct name_set hidden = { 0 };
		for (size_t i = 0; i < dir.nhides; i++)
			set_add(&hidden, dir.hides[i], i);
		struct listing_lower *low = listing_lower(fs, s);
		for (size_t i = 0; low && i < low->n; i++) {
			const char *name = low->names[i].name;
			if (set_find(&hidden, name) == (size_t)-1 && (!shows || shows(name, arg)))
				listing_add(l, name, low->names[i].type);
		}
		listing_lower_put(low);
		set_free(&hidden);
	}
	part_names_free(&dir);
	return 0;
}
