// SPDX-License-Identifier: GPL-2.0-or-later
/* The union's merged directories: their stacks of layer parts, derived from
 * the parent's, counted, and DIR's part looked for again when it may have
 * appeared. See stack.h. */
#include "stack.h"
#include "records.h"
#include "util.h"
#include "whiteout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double stack_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double stack_lower_timeout(const struct pe_fs *fs)
{
	double t = fs->nstack > 1 ? fs->layers[fs->stack[1].site].timeout : 0;
	return t > STACK_RECHECK_MIN ? t : STACK_RECHECK_MIN;
}

int stack_lower_due(const struct pe_fs *fs, double checked, unsigned gen, double now)
{
	return now - checked >= stack_lower_timeout(fs) || __atomic_load_n(&fs->lower_gen, __ATOMIC_ACQUIRE) != gen;
}

int stack_area_of(const struct pe_fs *fs, unsigned layer)
{
	(void)fs;
	return layer == LAYER_SITE ? 1 : layer == LAYER_UPPER ? 2 : 0;
}

unsigned stack_area_layer(const struct pe_fs *fs, size_t idx, int area)
{
	return area == 1 ? fs->stack[idx].site : fs->stack[idx].upper;
}

unsigned stack_dir_layer(const struct pe_fs *fs, int area)
{
	return stack_area_layer(fs, 0, area);
}

int stack_writable(const struct pe_fs *fs, int area)
{
	return fs->layers[stack_dir_layer(fs, area)].writable;
}

int stack_wh_area(int area)
{
	return area == 1 ? WH_AREA_SITE : WH_AREA_UPPER;
}

static int target_upper_name(const char *name)
{
	return !strcmp(name, "bin") || !strcmp(name, "share") || !strcmp(name, "include") || !strcmp(name, "etc");
}

int stack_area_shows(const struct pe_fs *fs, size_t idx, int area, const char *rel, const char *name)
{
	if (*rel)
		return 1;
	if (area == 1 && view_reserved(name))
		return 0;
	if (fs->stack[idx].target)
		return area == 1 ? !target_upper_name(name) : target_upper_name(name);
	return 1;
}

/* ---- counting ------------------------------------------------------------ */

struct stack *stack_new(int area, const char *rel, struct stack *parent, size_t n)
{
	struct stack *s = pe_xcalloc(1, sizeof *s + n * sizeof s->parts[0]);
	s->refs = 1;
	s->recsub = -1;
	s->area = area;
	s->rel = pe_xstrdup(rel);
	s->parent = parent;
	if (parent)
		stack_get(parent);
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void stack_done(struct stack *s, const struct stat *key)
{
	s->nlower = 0;
	for (size_t i = 1; i < s->n; i++)
		if (s->parts[i].fd >= 0)
			s->nlower++;
	if (key) {
		s->key_dev = key->st_dev;
		s->key_ino = key->st_ino;
		return;
	}
	for (size_t i = s->n; i-- > 0;) {
		struct stat st;
		if (s->parts[i].fd >= 0 && fstat(s->parts[i].fd, &st) == 0) {
			s->key_dev = st.st_dev;
			s->key_ino = st.st_ino;
			return;
		}
	}
}

void stack_key(const struct stack *s, dev_t *dev, ino_t *ino)
{
	*dev = __atomic_load_n(&s->key_dev, __ATOMIC_ACQUIRE);
	*ino = __atomic_load_n(&s->key_ino, __ATOMIC_ACQUIRE);
}

void stack_get(struct stack *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void stack_put(struct stack *s)
{
	/* Iterative: a long chain of parents held only by their children. */
	while (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		struct stack *parent = s->parent;
		for (size_t i = 0; i < s->n; i++) {
			if (s->parts[i].fd >= 0)
				close(s->parts[i].fd);
			if (s->parts[i].rec >= 0)
				close(s->parts[i].rec);
		}
		if (s->recsub >= 0)
			close(s->recsub);
		for (size_t i = 0; i < s->nold; i++)
			close(s->old[i]);
		free(s->old);
		if (s->index && s->index_free)
			s->index_free(s->index);
		pthread_mutex_destroy(&s->lock);
		free(s->rel);
		free(s);
		s = parent;
	}
}

/* ---- the areas' tops ------------------------------------------------------- */

static struct stack *make_top(struct pe_fs *fs, int area)
{
	struct stack *s = stack_new(area, "", NULL, fs->nstack);
	for (size_t i = 0; i < fs->nstack; i++) {
		unsigned l = stack_area_layer(fs, i, area);
		int fd = l == STACK_NONE ? -1 : fcntl(fs->layers[l].fd, F_DUPFD_CLOEXEC, 0);
		int rec = -1;
		if (fs->stack[i].top >= 0) {
			rec = records_node_open(fs->stack[i].top, stack_wh_area(area), "");
			rec = rec < 0 ? -1 : rec;
		}
		if (i && fd < 0 && rec < 0)
			continue;
		s->parts[s->n++] = (struct stack_part){ (unsigned)i, fd, rec };
	}
	s->gen = __atomic_load_n(&fs->stack_gen, __ATOMIC_ACQUIRE);
	stack_done(s, NULL);
	return s;
}

int stack_init(struct pe_fs *fs)
{
	size_t nsrc = fs->view.ndirs * VIEW_MAX_SOURCES;
	fs->src_stack = pe_xcalloc(nsrc ? nsrc : 1, sizeof *fs->src_stack);
	fs->src_built = pe_xcalloc(nsrc ? nsrc : 1, sizeof *fs->src_built);
	fs->src_dirs = pe_xcalloc(nsrc ? nsrc : 1, sizeof *fs->src_dirs);
	for (int a = 0; a < 2; a++)
		fs->area_top[a] = make_top(fs, a + 1);
	return 0;
}

void stack_fini(struct pe_fs *fs)
{
	for (int a = 0; a < 2; a++) {
		if (fs->area_top[a])
			stack_put(fs->area_top[a]);
		fs->area_top[a] = NULL;
	}
	for (size_t i = 0; fs->src_stack && i < fs->view.ndirs * VIEW_MAX_SOURCES; i++)
		if (fs->src_stack[i])
			stack_put(fs->src_stack[i]);
	free(fs->src_stack);
	free(fs->src_built);
	free(fs->src_dirs);
	fs->src_stack = NULL;
	fs->src_built = NULL;
	fs->src_dirs = NULL;
}

/* ---- DIR's part ------------------------------------------------------------ */

void stack_bump(struct pe_fs *fs)
{
	__atomic_add_fetch(&fs->stack_gen, 1, __ATOMIC_RELEASE);
}

/* Looks for DIR's directory and records node of s again. Only a stack
 * whose path cannot have moved needs it: one lacking DIR's directory, or
 * holding a lower layer's (neither is renamed through the mount). */
static void refresh(struct pe_fs *fs, struct stack *s, unsigned g)
{
	pthread_mutex_lock(&s->lock);
	if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == g) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (__atomic_load_n(&s->parts[0].fd, __ATOMIC_ACQUIRE) < 0) {
		unsigned l = stack_dir_layer(fs, s->area);
		int fd = *s->rel ? openat_beneath(fs->layers[l].fd, s->rel, O_PATH | O_DIRECTORY)
				 : fcntl(fs->layers[l].fd, F_DUPFD_CLOEXEC, 0);
		struct stat st;
		if (fd >= 0 && !s->key_dev && !s->key_ino && fstat(fd, &st) == 0) {
			/* shown nowhere until now: the directory's key is DIR's */
			__atomic_store_n(&s->key_dev, st.st_dev, __ATOMIC_RELEASE);
			__atomic_store_n(&s->key_ino, st.st_ino, __ATOMIC_RELEASE);
		}
		if (fd >= 0)
			__atomic_store_n(&s->parts[0].fd, fd, __ATOMIC_RELEASE);
	}
	if (s->nlower) {
		int rec = records_node_open(fs->stack[0].top, stack_wh_area(s->area), s->rel);
		int old = s->parts[0].rec;
		int oldsub = __atomic_exchange_n(&s->recsub, -1, __ATOMIC_ACQ_REL);
		__atomic_store_n(&s->parts[0].rec, rec < 0 ? -1 : rec, __ATOMIC_RELEASE);
		for (int k = 0; k < 2; k++) {
			int fd = k ? oldsub : old;
			if (fd < 0)
				continue;
			s->old = realloc(s->old, (s->nold + 1) * sizeof *s->old);
			if (!s->old)
				abort();
			s->old[s->nold++] = fd;
		}
	}
	__atomic_store_n(&s->gen, g, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
}

int stack_dir0(struct pe_fs *fs, struct stack *s)
{
	unsigned g = __atomic_load_n(&fs->stack_gen, __ATOMIC_ACQUIRE);
	int fd = __atomic_load_n(&s->parts[0].fd, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != g && (s->nlower || fd < 0))
		refresh(fs, s, g);
	return __atomic_load_n(&s->parts[0].fd, __ATOMIC_ACQUIRE);
}

int stack_rec0(struct stack *s)
{
	return __atomic_load_n(&s->parts[0].rec, __ATOMIC_ACQUIRE);
}

int stack_recsub(struct pe_fs *fs, struct stack *s)
{
	stack_dir0(fs, s);
	int sub = __atomic_load_n(&s->recsub, __ATOMIC_ACQUIRE);
	if (sub >= 0)
		return sub;
	pthread_mutex_lock(&s->lock);
	int rec = stack_rec0(s);
	sub = s->recsub;
	if (sub < 0 && rec >= 0) {
		sub = records_sub_open(rec);
		if (sub >= 0)
			__atomic_store_n(&s->recsub, sub, __ATOMIC_RELEASE);
	} else if (rec < 0) {
		sub = -ENOENT;
	}
	pthread_mutex_unlock(&s->lock);
	return sub;
}

int stack_set_dir0(struct pe_fs *fs, struct stack *s, int fd)
{
	int none = -1;
	if (!__atomic_compare_exchange_n(&s->parts[0].fd, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);
		return none;
	}
	stack_bump(fs);
	return fd;
}

void stack_changed(struct pe_fs *fs, const struct stack *s)
{
	if (s->area != 1)
		return;
	size_t n = strlen(s->rel);
	int meta = n && !strchr(s->rel, '/') &&
		   ((n > 10 && !strcmp(s->rel + n - 10, ".dist-info")) || (n > 9 && !strcmp(s->rel + n - 9, ".egg-info")));
	if (!n || meta)
		__atomic_add_fetch(&fs->site_gen, 1, __ATOMIC_RELEASE);
}

/* ---- times ------------------------------------------------------------------ */

size_t stack_parts_shown(struct pe_fs *fs, struct stack *s)
{
	return s->nlower + (stack_dir0(fs, s) >= 0);
}

static int same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

void stack_times(struct pe_fs *fs, struct stack *s, struct stat *st)
{
	struct stat ds;
	int d0 = stack_dir0(fs, s);
	if (d0 >= 0 && fstat(d0, &ds) == 0)
		pe_times_newest(st, ds.st_mtim, ds.st_ctim);
	if (!s->nlower)
		return;
	double now = stack_now();
	pthread_mutex_lock(&s->lock);
	if (!s->lower_read || stack_lower_due(fs, s->lower_read, s->lower_gen, now)) {
		/* (the counter first: a change while they are read is seen next time) */
		s->lower_gen = __atomic_load_n(&fs->lower_gen, __ATOMIC_ACQUIRE);
		struct timespec m = { 0, 0 }, c = { 0, 0 };
		for (size_t i = 1; i < s->n; i++) {
			struct stat ls;
			if (s->parts[i].fd < 0 || fstat(s->parts[i].fd, &ls) || !S_ISDIR(ls.st_mode))
				continue;
			if (pe_ts_after(ls.st_mtim, m))
				m = ls.st_mtim;
			if (pe_ts_after(ls.st_ctim, c))
				c = ls.st_ctim;
		}
		/* The kept listing of the lower parts (listing.c) is older than
		 * these times: it goes, so that no listing older than the times
		 * the kernel is given is served (the kernel keeps a listing as
		 * long as the directory's mtime it knows). */
		if (s->lower_read && (!same_time(m, s->lower_mtime) || !same_time(c, s->lower_ctime)) && s->index) {
			s->index_free(s->index);
			s->index = NULL;
		}
		s->lower_mtime = m;
		s->lower_ctime = c;
		s->lower_read = now;
	}
	pe_times_newest(st, s->lower_mtime, s->lower_ctime);
	pthread_mutex_unlock(&s->lock);
}

/* ---- found ------------------------------------------------------------------- */

void stack_found_init(struct stack_found *f)
{
	memset(f, 0, sizeof *f);
	f->merged = f->small;
}

void stack_found_add(struct stack_found *f, size_t pos)
{
	size_t cap = sizeof f->small / sizeof f->small[0];
	if (f->nmerged >= cap && (f->nmerged & (f->nmerged - 1)) == 0) {
		size_t *m = pe_xmalloc(2 * f->nmerged * sizeof *m);
		memcpy(m, f->merged, f->nmerged * sizeof *m);
		if (f->merged != f->small)
			free(f->merged);
		f->merged = m;
	}
	f->merged[f->nmerged++] = pos;
}

void stack_found_free(struct stack_found *f)
{
	if (f->merged != f->small)
		free(f->merged);
	f->merged = f->small;
	f->nmerged = 0;
}

/* ---- a child --------------------------------------------------------------- */

struct stack *stack_child(struct pe_fs *fs, struct stack *p, const char *name, const struct stack_found *f,
			  int top_fd, const struct stat *top_st)
{
	size_t last = f->nmerged ? f->merged[f->nmerged - 1] : 0;
	cleanup_free char *rel = path_join(p->rel, name);
	struct stack *s = stack_new(p->area, rel, p, last + 1);
	s->gen = __atomic_load_n(&fs->stack_gen, __ATOMIC_ACQUIRE);
	size_t k = 0;
	for (size_t pos = 0; pos <= last && pos < p->n; pos++) {
		const struct stack_part *pp = &p->parts[pos];
		int fd = -1, rec = -1;
		int pfd = pos ? pp->fd : stack_dir0(fs, p);
		int prec = pos ? pp->rec : stack_rec0(p);
		if (k < f->nmerged && f->merged[k] == pos) {
			k++;
			fd = pos == f->top && top_fd >= 0 ? fcntl(top_fd, F_DUPFD_CLOEXEC, 0)
							  : openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (prec >= 0) {
			rec = records_child_open(prec, name);
			rec = rec < 0 ? -1 : rec;
		}
		if (pos && fd < 0 && rec < 0)
			continue;
		s->parts[s->n++] = (struct stack_part){ pp->idx, fd, rec };
	}
	/* one directory merged, the answering one: its key is known */
	stack_done(s, f->nmerged == 1 && top_st && top_fd >= 0 ? top_st : NULL);
	return s;
}
