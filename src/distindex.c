// SPDX-License-Identifier: GPL-2.0-or-later
/* The distribution index of the stacked layers: reads each layer's
 * metadata directories (and, where a higher layer shadows them, their
 * RECORDs) and keeps dist.c's shadow sets. See distindex.h. */
#include "distindex.h"
#include "stack.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* Which objects of the lower layers belong to a distribution that a higher
 * layer holds too (or removed): they are not shown (dist.h). Built at the
 * first lookup, and again when the top directory of DIR changes (an install
 * or removal through the mount, or in DIR directly) or a layer's (by its
 * owner: looked at every lower_timeout, as the kernel caches the layers),
 * when a metadata directory that had no metadata yet changes (pip writes
 * METADATA into it after making it), and once more after a build
 * that came within a clock tick of a change (the times may not show a
 * second change in that tick). An index replaced is kept until unmount,
 * since other requests may still read it. */
struct incomplete {                     /* a metadata directory without its metadata yet */
	size_t layer;
	char *name;
	struct timespec mtime, ctime;
};

/* What is kept of a lower layer between builds: its metadata directories as
 * read (without RECORDs), for the top's times and the incomplete metadata
 * directories' times it was read at, so that a build after a change in DIR
 * alone reads no layer again. */
struct layer_read {
	int valid;
	struct timespec mtime, ctime;
	struct dist_layer dl;
	struct incomplete *inc;
	size_t ninc;
};

struct dist_index {
	struct dist_shadow shadow;
	struct layer_read *reads;       /* [stack entry]: the newest index keeps them */
	struct timespec *times;         /* mtime, ctime of each stack entry's top when built */
	struct incomplete *inc;         /* looked at again: their metadata may come */
	size_t ninc;
	int racy;                       /* a top changed within RACY_NS of the build */
	struct timespec built;          /* CLOCK_MONOTONIC */
	_Atomic double lower_checked;   /* when the layers' tops were compared (stack_now) */
	_Atomic unsigned lower_gen;     /* fs->lower_gen then */
	_Atomic double dir_checked;     /* when DIR's was */
	unsigned site_gen;              /* fs->site_gen when built */
	struct timespec changed;        /* CLOCK_REALTIME when it replaced one, else as the older */
	struct dist_index *older;
};

/* A directory's times come from a coarse clock (a tick, up to 10 ms): a
 * change in the same tick as a build may leave them as they were. An index
 * built that close to a change is built again once that much has passed. */
#define RACY_NS 20000000LL

static long long ns_of(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long now_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return ns_of(t);
}

static pthread_mutex_t dist_lock = PTHREAD_MUTEX_INITIALIZER;

static char *read_small(int dfd, const char *path, size_t *len)
{
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 8192, n = 0;
	char *buf = pe_xcalloc(1, cap);
	for (;;) {
		if (n == cap) {
			if (cap >= (64u << 20))
				break;
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		ssize_t k = read(fd, buf + n, cap - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	*len = n;
	return buf;
}

/* The files a distribution's metadata lists: its RECORD (installed-files.txt
 * for an egg-info), or where there is none (Debian's own egg-info
 * directories), what its top_level.txt names, as pip's uninstall reads it. */
static void read_files(int top, const char *entry, const struct dist_id *id, const char *site_rel,
		       struct dist_layer *dl, size_t idx)
{
	cleanup_free char *rec = path_join(entry, id->kind == DIST_INFO ? "RECORD" : "installed-files.txt");
	size_t len = 0;
	char *buf = read_small(top, rec, &len);
	if (buf) {
		(void)dist_layer_add_record(dl, idx, site_rel, buf, len);
		free(buf);
		return;
	}
	if (id->kind != DIST_EGG_INFO)
		return;
	cleanup_free char *tl = path_join(entry, "top_level.txt");
	cleanup_free char *nsp = path_join(entry, "namespace_packages.txt");
	size_t nslen = 0;
	buf = read_small(top, tl, &len);
	char *ns = buf ? read_small(top, nsp, &nslen) : NULL;
	if (buf)
		(void)dist_layer_add_top_level(dl, idx, buf, len, ns, nslen);
	free(buf);
	free(ns);
}

static void dist_read_layer(struct pe_fs *fs, size_t i, struct dist_layer *dl, int with_records,
			    struct incomplete **inc, size_t *ninc)
{
	int top = fs->layers[fs->stack[i].site].fd;
	DIR *dp = pe_opendir_path(top);
	const char *site_rel = fs->stack[i].target ? "lib/python" : fs->site_rel;
	struct dirent *de;
	while (dp && (de = readdir(dp))) {
		struct dist_id id;
		size_t idx;
		if (dist_parse_entry(de->d_name, &id) || !stack_area_shows(fs, i, 1, "", de->d_name))
			continue;
		/* A distribution is there only with its metadata: a metadata
		 * directory copied up into DIR for a change of one of its files
		 * (pip writing INSTALLER) is not DIR's distribution. */
		struct stat dst, mst;
		cleanup_free char *meta = path_join(de->d_name, id.kind == DIST_INFO ? "METADATA" : "PKG-INFO");
		if (fstatat(top, de->d_name, &dst, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISDIR(dst.st_mode) && fstatat(top, meta, &mst, AT_SYMLINK_NOFOLLOW)) {
			/* Being installed, perhaps: its metadata is written into
			 * it later, which its parent's times do not show. */
			if (inc) {
				*inc = realloc(*inc, (*ninc + 1) * sizeof **inc);
				if (!*inc)
					abort();
				(*inc)[(*ninc)++] = (struct incomplete){ i, pe_xstrdup(de->d_name), dst.st_mtim, dst.st_ctim };
			}
			continue;
		}
		if (dist_layer_add(dl, de->d_name, &idx))
			continue;
		if (with_records)
			read_files(top, de->d_name, &id, site_rel, dl, idx);
	}
	if (dp)
		closedir(dp);
	/* A layer's removals of metadata directories are not counted as
	 * removing the distribution: pip's uninstall removes the metadata
	 * directory before the package's own (its stash), and they must stay
	 * until it does. Each file pip removes has its own whiteout. */
}

/* The mtime and ctime of stack entry i's top directory (zero if it cannot be
 * read: a layer gone away counts as changed once). */
static void top_times(struct pe_fs *fs, size_t i, struct timespec t[2])
{
	struct stat st;
	if (fstat(fs->layers[fs->stack[i].site].fd, &st))
		memset(&st, 0, sizeof st);
	t[0] = st.st_mtim;
	t[1] = st.st_ctim;
}

static int same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Whether idx was built from the tops as they are now: one fstat of DIR's
 * (and one per metadata directory of DIR's that had no metadata), far below
 * the cost of the request that asks; the layers', changed only by their
 * owners, at most every lower_timeout (one fstat each). */
static int index_fresh(struct pe_fs *fs, struct dist_index *idx)
{
	if (!idx)
		return 0;
	if (idx->racy && now_ns(CLOCK_MONOTONIC) - ns_of(idx->built) >= RACY_NS)
		return 0;
	double now = stack_now();
	unsigned gen = __atomic_load_n(&fs->lower_gen, __ATOMIC_ACQUIRE);
	int lower = stack_lower_due(fs, idx->lower_checked, idx->lower_gen, now);
	/* DIR's top: compared when the mount changed what the index reads
	 * (fs->site_gen), else at most every site_timeout (a change made in
	 * DIR directly shows within it, as the kernel's cache of DIR). */
	int dir = lower || __atomic_load_n(&fs->site_gen, __ATOMIC_ACQUIRE) != idx->site_gen ||
		  now - idx->dir_checked >= fs->layers[fs->stack[0].site].timeout;
	for (size_t i = lower ? 0 : !dir; i < (lower ? fs->nstack : 1); i++) {
		struct timespec t[2];
		top_times(fs, i, t);
		if (!same_time(t[0], idx->times[2 * i]) || !same_time(t[1], idx->times[2 * i + 1]))
			return 0;
	}
	for (size_t k = 0; k < idx->ninc; k++) {
		const struct incomplete *c = &idx->inc[k];
		struct stat st;
		if ((c->layer && !lower) || (!c->layer && !dir))
			continue;
		if (fstatat(fs->layers[fs->stack[c->layer].site].fd, c->name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !same_time(st.st_mtim, c->mtime) || !same_time(st.st_ctim, c->ctime))
			return 0;
	}
	if (lower) {
		idx->lower_checked = now;
		idx->lower_gen = gen;
	}
	if (dir)
		idx->dir_checked = now;
	return 1;
}

static void free_inc(struct incomplete *inc, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(inc[k].name);
	free(inc);
}

/* Whether the incomplete metadata directories of a kept read are as they were. */
static int inc_same(struct pe_fs *fs, const struct layer_read *r)
{
	for (size_t k = 0; k < r->ninc; k++) {
		struct stat st;
		if (fstatat(fs->layers[fs->stack[r->inc[k].layer].site].fd, r->inc[k].name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !same_time(st.st_mtim, r->inc[k].mtime) || !same_time(st.st_ctim, r->inc[k].ctime))
			return 0;
	}
	return 1;
}

/* Stack entry i's metadata directories into *dl for the index ni (whose
 * times are read already): a lower layer's kept read if its top (and its
 * incomplete metadata directories) did not change, else read again and
 * kept; DIR's read each time (*owned then set). Its incomplete metadata
 * directories go to ni->inc. */
static void read_kept(struct pe_fs *fs, size_t i, struct dist_index *ni, struct dist_layer *dl, char *owned)
{
	struct layer_read *r = &ni->reads[i];
	struct incomplete *inc = NULL;
	size_t ninc = 0;
	if (i == 0) {
		dist_read_layer(fs, i, dl, 0, &inc, &ninc);
		*owned = 1;
	} else {
		if (!r->valid || !same_time(r->mtime, ni->times[2 * i]) || !same_time(r->ctime, ni->times[2 * i + 1]) ||
		    !inc_same(fs, r)) {
			if (r->valid)
				dist_layer_free(&r->dl);
			free_inc(r->inc, r->ninc);
			memset(r, 0, sizeof *r);
			dist_read_layer(fs, i, &r->dl, 0, &r->inc, &r->ninc);
			r->mtime = ni->times[2 * i];
			r->ctime = ni->times[2 * i + 1];
			r->valid = 1;
		}
		*dl = r->dl;
		*owned = 0;
		for (size_t k = 0; k < r->ninc; k++) {
			inc = realloc(inc, (ninc + 1) * sizeof *inc);
			if (!inc)
				abort();
			inc[ninc++] = (struct incomplete){ r->inc[k].layer, pe_xstrdup(r->inc[k].name), r->inc[k].mtime,
							   r->inc[k].ctime };
		}
	}
	if (ninc) {
		ni->inc = realloc(ni->inc, (ni->ninc + ninc) * sizeof *ni->inc);
		if (!ni->inc)
			abort();
		memcpy(ni->inc + ni->ninc, inc, ninc * sizeof *inc);
		ni->ninc += ninc;
	}
	free(inc);
}

const struct dist_shadow *distidx_current(struct pe_fs *fs)
{
	struct dist_index *cur = __atomic_load_n(&fs->dist, __ATOMIC_ACQUIRE);
	if (index_fresh(fs, cur))
		return &cur->shadow;
	pthread_mutex_lock(&dist_lock);
	cur = fs->dist;
	if (!index_fresh(fs, cur)) {
		size_t n = fs->nstack;
		struct dist_index *ni = pe_xcalloc(1, sizeof *ni);
		/* The times first: a change made while the layers are read is
		 * seen at the next call, not lost. */
		ni->times = pe_xcalloc(2 * n, sizeof *ni->times);
		/* (the counter first: a change while the layers are read is
		 * seen at the next call) */
		ni->site_gen = __atomic_load_n(&fs->site_gen, __ATOMIC_ACQUIRE);
		clock_gettime(CLOCK_MONOTONIC, &ni->built);
		ni->lower_gen = __atomic_load_n(&fs->lower_gen, __ATOMIC_ACQUIRE);
		ni->lower_checked = ni->dir_checked = stack_now();
		long long real = now_ns(CLOCK_REALTIME);
		for (size_t i = 0; i < n; i++) {
			top_times(fs, i, &ni->times[2 * i]);
			if (ns_of(ni->times[2 * i]) > real - RACY_NS || ns_of(ni->times[2 * i + 1]) > real - RACY_NS)
				ni->racy = 1;
		}
		ni->reads = cur && cur->reads ? cur->reads : pe_xcalloc(n, sizeof *ni->reads);
		if (cur)
			cur->reads = NULL;
		struct dist_layer *dl = pe_xcalloc(n, sizeof *dl);
		char *owned = pe_xcalloc(n, 1);         /* dl[i] is this build's (else the kept read's) */
		for (size_t i = 0; i < n; i++)
			read_kept(fs, i, ni, &dl[i], &owned[i]);
		for (size_t i = 1; i < n; i++)
			if (dist_layer_needs_records(dl, n, i)) {
				if (owned[i])
					dist_layer_free(&dl[i]);
				memset(&dl[i], 0, sizeof dl[i]);
				dist_read_layer(fs, i, &dl[i], 1, NULL, NULL);
				owned[i] = 1;
			}
		dist_shadow_build(dl, n, &ni->shadow);
		for (size_t i = 0; i < n; i++)
			if (owned[i])
				dist_layer_free(&dl[i]);
		free(owned);
		free(dl);
		ni->older = cur;
		if (cur)
			clock_gettime(CLOCK_REALTIME, &ni->changed);
		__atomic_store_n(&fs->dist, ni, __ATOMIC_RELEASE);
		cur = ni;
	}
	pthread_mutex_unlock(&dist_lock);
	return &cur->shadow;
}

struct timespec distidx_changed(struct pe_fs *fs)
{
	(void)distidx_current(fs);
	const struct dist_index *cur = __atomic_load_n(&fs->dist, __ATOMIC_ACQUIRE);
	return cur->changed;
}

int distidx_hidden_in(const struct dist_shadow *s, size_t i, int area, const char *dir, const char *name)
{
	if (i == 0 || !s || !s->nlayers)
		return 0;
	cleanup_free char *path = path_join(dir, name);
	return dist_shadow_hides(s, i, area == 1 ? DIST_AREA_SITE : DIST_AREA_PREFIX, path);
}

int distidx_hidden(struct pe_fs *fs, size_t i, int area, const char *dir, const char *name)
{
	return i == 0 ? 0 : distidx_hidden_in(distidx_current(fs), i, area, dir, name);
}

void distidx_free(struct pe_fs *fs)
{
	for (struct dist_index *d = fs->dist, *o; d; d = o) {
		o = d->older;
		for (size_t i = 0; d->reads && i < fs->nstack; i++) {
			if (d->reads[i].valid)
				dist_layer_free(&d->reads[i].dl);
			free_inc(d->reads[i].inc, d->reads[i].ninc);
		}
		free(d->reads);
		dist_shadow_free(&d->shadow);
		free(d->times);
		for (size_t k = 0; k < d->ninc; k++)
			free(d->inc[k].name);
		free(d->inc);
		free(d);
	}
	fs->dist = NULL;
}