// SPDX-License-Identifier: GPL-2.0-or-later
/* Resolution: the rules for which layer answers a name, and where changes go.
 * The stacked areas are stack.c's, their distribution index distindex.c's. */
#include "resolve.h"
#include "bytecode.h"
#include "creds.h"
#include "scripts.h"
#include "shebang.h"
#include "stack.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct layer *layer_of(const struct pe_fs *fs, unsigned layer)
{
	return &fs->layers[layer];
}

/* ---- attributes ---------------------------------------------------------- */

double resolve_timeout(const struct pe_fs *fs, const struct node *n)
{
	if (n->kind == NODE_PASS)
		return layer_of(fs, n->layer)->timeout;
	/* A view directory that takes the env's files changes with them. */
	const struct view_source *ws = n->kind == NODE_VIEW ? view_writable_source(n->vdir) : NULL;
	if (ws)
		return layer_of(fs, ws->layer)->timeout;
	return fs->fixed_timeout;
}

static void synthetic_stat(const struct pe_fs *fs, struct stat *st, mode_t mode, ino_t ino, off_t size)
{
	memset(st, 0, sizeof *st);
	st->st_mode = mode;
	st->st_ino = ino;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs->owner;
	st->st_gid = fs->group;
	st->st_size = size;
	st->st_blksize = 4096;
	st->st_blocks = (size + 511) / 512;
	st->st_atim = st->st_mtim = st->st_ctim = fs->started;
}

/* A read-only object is shown without write bits, so that tools asking
 * access(W_OK) as a user get the truth. */
static void show_mode(const struct pe_fs *fs, const struct node *n, struct stat *st)
{
	/* A stacked object becomes the env's by a copy-up when it changes. */
	if (!n->writable && !(n->area && fs->layers[n->area == 1 ? LAYER_SITE : LAYER_UPPER].writable))
		st->st_mode &= (mode_t)~(S_IWUSR | S_IWGRP | S_IWOTH);
}

int resolve_stat(struct pe_fs *fs, struct node *n, struct stat *st)
{
	switch (n->kind) {
	case NODE_VIEW: {
		const struct view_source *ws = view_writable_source(n->vdir);
		synthetic_stat(fs, st, S_IFDIR | (ws ? 0755 : 0555), (ino_t)((1ull << 62) | n->vdir->id), 0);
		/* Its listing changes with the directories behind it, the env's own
		 * and the base's (an upgraded base): the newest of their times tells
		 * the kernel when a kept listing is stale. */
		int have = 0;
		for (size_t i = 0; i < n->vdir->nsrc; i++) {
			const struct view_source *s = &n->vdir->src[i];
			struct stat up;
			if (fstatat(layer_of(fs, s->layer)->fd, *s->path ? s->path : ".", &up, 0) != 0)
				continue;
			if (!have || pe_ts_after(up.st_mtim, st->st_mtim))
				st->st_mtim = up.st_mtim;
			if (!have || pe_ts_after(up.st_ctim, st->st_ctim))
				st->st_ctim = up.st_ctim;
			have = 1;
		}
		return 0;
	}
	case NODE_GEN:
		synthetic_stat(fs, st, S_IFREG | 0444, (ino_t)((1ull << 62) | (1ull << 32) | (unsigned)n->gen),
			       (off_t)fs->gen_len[n->gen]);
		return 0;
	case NODE_PASS:
		if (n->area && n->type == S_IFDIR) {
			int r = stack_dir_stat(fs, n, st);
			if (r)
				return r;
		} else if (fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
			return -errno;
		}
		show_mode(fs, n, st);
		if (scripts_shown(n, st))
			st->st_size = shebang_size(n->sb, st->st_size);
		return 0;
	}
	return -EIO;
}

static void resolved_node(struct pe_fs *fs, struct node *n, const struct stat *st, struct resolved *out)
{
	out->node = n;
	out->st = *st;
	out->timeout = resolve_timeout(fs, n);
}

void resolve_shown(struct pe_fs *fs, struct node *n, struct stat *st, struct resolved *out)
{
	show_mode(fs, n, st);
	resolved_node(fs, n, st, out);
}

/* ---- the layers' directories --------------------------------------------- */

void target_release(struct target *t)
{
	free(t->dir);
	t->dir = NULL;
	if (t->owned)
		close(t->dfd);
	t->owned = 0;
	t->dfd = -1;
}

/* The directory of source i of d, as a target for name. */
static int source_dir(struct pe_fs *fs, const struct vdir *d, size_t i, const char *name, struct target *t)
{
	const struct view_source *s = &d->src[i];
	const struct layer *l = layer_of(fs, s->layer);
	*t = (struct target){ .dfd = -1, .name = name,
			      .origin = { view_source_place(d, i), (unsigned char)s->layer, (unsigned char)s->writable, 0, 0, NULL } };
	if (l->stable) {
		t->dfd = fs->src_fd[d->id * VIEW_MAX_SOURCES + i];
		return t->dfd >= 0 ? 0 : -ENOENT;
	}
	if (!*s->path) {
		t->dfd = l->fd;
		return 0;
	}
	/* The env's own area is its user's, who may change it natively: no
	 * symlink in it is followed. */
	int fd = openat_beneath(l->fd, s->path, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	t->dfd = fd;
	t->owned = 1;
	return 0;
}

/* Whether name exists in source i of d (without following symlinks). */
static int source_has(struct pe_fs *fs, const struct vdir *d, size_t i, const char *name)
{
	if (!view_source_shows(&d->src[i], name))
		return 0;
	struct target t;
	if (source_dir(fs, d, i, name, &t))
		return 0;
	struct stat st;
	int found = fstatat(t.dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	target_release(&t);
	return found;
}

int resolve_make_dirs(struct pe_fs *fs, unsigned layer, const char *path)
{
	const int root = layer_of(fs, layer)->fd;
	cleanup_free char *p = pe_xstrdup(path);
	int cur = root, r = 0;
	char *save = NULL;
	/* Made as DIR's owner (creds.h): born theirs, so that DIR stays its
	 * user's to change and delete, and nothing is chowned by name. */
	struct creds_saved cs = { 0 };
	if (fs->daemon_is_root)
		r = creds_become(fs->owner, fs->group, &cs);
	for (char *c = strtok_r(p, "/", &save); c && !r; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) && errno != EEXIST) {
			r = -errno;
			break;
		}
		int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			r = errno == ELOOP ? -ENOTDIR : -errno;
		if (cur != root)
			close(cur);
		cur = next;
	}
	creds_restore(&cs);
	if (cur >= 0 && cur != root)
		close(cur);
	return r;
}

/* ---- lookup ---------------------------------------------------------------- */

/* The object at name in dfd (following symlinks or not), as a node from o. */
static int node_at(struct pe_fs *fs, int dfd, const char *name, int follow, const struct origin *o,
		   struct resolved *out)
{
	int fd = follow ? openat(dfd, name, O_PATH | O_CLOEXEC) : openat_beneath(dfd, name, O_PATH);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		int r = -errno;
		close(fd);
		return r;
	}
	/* Only a directory needs a node per place it shows at (one dentry per
	 * directory inode); a file seen through two paths is one node, so that
	 * the kernel keeps one page cache for it. */
	struct origin where = *o;
	if (!S_ISDIR(st.st_mode))
		where.place = NONDIR_PLACE(o->layer);
	struct node *n = node_get(fs->nodes, fd, &st, &where);
	if (S_ISREG(st.st_mode) && o->layer == LAYER_UPPER && scripts_is_own_bin(fs, dfd))
		scripts_plan_own(fs, n, &st);
	resolve_shown(fs, n, &st, out);
	return 0;
}

int resolve_made(struct pe_fs *fs, const struct target *t, struct resolved *out)
{
	if (t->area) {
		struct merge_state m;
		int r = stack_probe(fs, t->area, t->dir, t->name, &m);
		return r ? r : stack_node(fs, t->area, t->dir, t->name, t->origin.place, &m, out);
	}
	return node_at(fs, t->dfd, t->name, 0, &t->origin, out);
}

static int lookup_fixed(struct pe_fs *fs, const struct vent *v, struct resolved *out)
{
	struct node *n;
	switch (v->kind) {
	case VENT_DIR:
		n = &fs->vnodes[v->dir->id];
		break;
	case VENT_GEN:
		n = &fs->gnodes[v->gen];
		break;
	case VENT_ANCHOR: {
		const struct layer *l = layer_of(fs, v->layer);
		if (stack_area_of(fs, v->layer) && v->path[0] != '/') {
			if (l->make_dirs && v->writable)
				(void)resolve_make_dirs(fs, v->layer, v->path);
			cleanup_free char *dir = NULL;
			const char *name;
			stack_split_rel(v->path, &dir, &name);
			struct merge_state m;
			int r = stack_probe(fs, stack_area_of(fs, v->layer), dir, name, &m);
			return r ? r : stack_node(fs, stack_area_of(fs, v->layer), dir, name, v->place, &m, out);
		}
		int dfd = v->path[0] == '/' ? AT_FDCWD : l->fd;
		struct origin o = { v->place, (unsigned char)v->layer, (unsigned char)v->writable, (unsigned char)v->site_root, 0, NULL };
		int r = node_at(fs, dfd, *v->path ? v->path : ".", l->follow, &o, out);
		/* The env's own directory is always there: made again if removed. */
		if (r == -ENOENT && l->make_dirs && v->writable && resolve_make_dirs(fs, v->layer, v->path) == 0)
			r = node_at(fs, dfd, v->path, l->follow, &o, out);
		return r;
	}
	default:
		return -EIO;
	}
	struct stat st;
	resolve_stat(fs, n, &st);
	resolved_node(fs, n, &st, out);
	return 0;
}

int resolve_lookup(struct pe_fs *fs, struct node *p, const char *name, struct resolved *out)
{
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	struct stack_ctx c;
	struct merge_state m;
	int s = stack_find(fs, p, name, &c, &m);
	if (s)
		return s < 0 ? s : stack_node(fs, c.area, c.dir, name, c.place, &m, out);
	if (p->kind == NODE_PASS) {
		if (p->site_root && view_reserved(name))
			return -ENOENT;
		struct origin o = { p->place, p->layer, p->writable, 0, 0, NULL };
		int r = node_at(fs, p->fd, name, 0, &o, out);
		if (r == -ENOENT && fs->pyc) {
			int b = bytecode_lookup(fs, p, name, out);
			r = b == 1 ? r : b;
		}
		return r;
	}
	const struct vdir *d = p->vdir;
	const struct vent *v = view_entry(d, name);
	if (v)
		return lookup_fixed(fs, v, out);
	if (view_hides(d, name))
		return -ENOENT;
	/* The first source that has the name answers. */
	for (size_t i = 0; i < d->nsrc; i++) {
		if (!view_source_shows(&d->src[i], name) || stack_area_of(fs, d->src[i].layer))
			continue;
		struct target t;
		if (source_dir(fs, d, i, name, &t))
			continue;       /* that layer has no such directory (yet) */
		int r = node_at(fs, t.dfd, name, 0, &t.origin, out);
		target_release(&t);
		if (r != -ENOENT)
			return r;
	}
	int b = fs->pyc ? bytecode_lookup(fs, p, name, out) : 1;
	return b == 1 ? -ENOENT : b;
}

/* ---- where changes go ------------------------------------------------------ */

int resolve_new_name(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	*t = (struct target){ .dfd = -1 };
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	struct stack_ctx c;
	if (stack_ctx(fs, p, name, &c)) {
		struct merge_state m;
		if (!stack_probe(fs, c.area, c.dir, name, &m))
			return -EEXIST;
		unsigned dl = stack_area_layer(fs, 0, c.area);
		if (!fs->layers[dl].writable)
			return -EROFS;
		if (c.area == 1 && !*c.dir && view_reserved(name))
			return -EPERM;
		int dfd = stack_copy_up_dirs(fs, c.area, c.dir);
		if (dfd < 0)
			return dfd;
		*t = (struct target){ dfd, name, { c.place, (unsigned char)dl, 1, 0, 0, NULL }, 1, pe_xstrdup(c.dir), c.area };
		return 0;
	}
	if (p->kind == NODE_PASS) {
		int b = fs->pyc ? bytecode_new_name(fs, p, name, t) : 1;
		if (b != 1)
			return b;
		if (!p->writable)
			return -EROFS;
		if (p->site_root && view_reserved(name))
			return -EPERM;
		*t = (struct target){ p->fd, name, { p->place, p->layer, 1, 0, 0, NULL }, 0, NULL, 0 };
		return 0;
	}
	const struct vdir *d = p->vdir;
	if (view_entry(d, name))
		return -EEXIST;
	const struct view_source *ws = view_writable_source(d);
	if (!ws) {
		int b = fs->pyc ? bytecode_new_name(fs, p, name, t) : 1;
		return b == 1 ? -EROFS : b;
	}
	if (view_hides(d, name))
		return -EPERM;
	/* A name a source before the writable one shows cannot be made again. */
	size_t wi = (size_t)(ws - d->src);
	for (size_t i = 0; i < wi; i++)
		if (source_has(fs, d, i, name))
			return -EEXIST;
	int r = source_dir(fs, d, wi, name, t);
	if (r == -ENOENT && layer_of(fs, ws->layer)->make_dirs) {
		/* The env's directory behind this one is made on first use. */
		r = resolve_make_dirs(fs, ws->layer, ws->path);
		if (!r)
			r = source_dir(fs, d, wi, name, t);
	}
	t->origin.writable = 1;
	return r;
}

/* An anchor into a writable layer's subdirectory (Debian's local/bin, the
 * env's bin) is the env's: it may be renamed or removed like any directory
 * of DIR. DIR itself, and everything else fixed in the view, is not. */
static int anchor_target(struct pe_fs *fs, const struct vent *v, struct target *t)
{
	if (v->kind != VENT_ANCHOR || !layer_of(fs, v->layer)->writable || !v->writable || !*v->path)
		return -EROFS;
	const int root = layer_of(fs, v->layer)->fd;
	const char *slash = strrchr(v->path, '/');
	*t = (struct target){ .dfd = root, .name = v->path,
			      .origin = { v->place, (unsigned char)v->layer, 1, 0, 0, NULL } };
	if (!slash)
		return 0;
	cleanup_free char *dir = strndup(v->path, (size_t)(slash - v->path));
	if (!dir)
		return -ENOMEM;
	t->dfd = openat_beneath(root, dir, O_PATH | O_DIRECTORY);
	if (t->dfd < 0)
		return -errno;
	t->owned = 1;
	t->name = slash + 1;
	return 0;
}

int resolve_existing(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	*t = (struct target){ .dfd = -1 };
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	struct stack_ctx c;
	struct merge_state m;
	int s = stack_find(fs, p, name, &c, &m);
	if (s < 0)
		return s;
	if (s) {
		unsigned dl = stack_area_layer(fs, 0, c.area);
		if (m.top != 0 || !fs->layers[dl].writable)
			return -EROFS;
		int dfd = stack_copy_up_dirs(fs, c.area, c.dir);
		if (dfd < 0)
			return dfd;
		*t = (struct target){ dfd, name, { c.place, (unsigned char)dl, 1, 0, 0, NULL }, 1, NULL, 0 };
		return 0;
	}
	if (p->kind == NODE_PASS) {
		if (p->site_root && view_reserved(name))
			return -ENOENT;
		int b = fs->pyc ? bytecode_existing(fs, p, name, t) : 1;
		if (b != 1)
			return b;
		if (!p->writable)
			return -EROFS;
		*t = (struct target){ p->fd, name, { p->place, p->layer, 1, 0, 0, NULL }, 0, NULL, 0 };
		return 0;
	}
	const struct vdir *d = p->vdir;
	const struct vent *v = view_entry(d, name);
	if (v)
		return anchor_target(fs, v, t);
	if (view_hides(d, name))
		return -ENOENT;
	/* The source that shows the name decides: a read-only one refuses. */
	for (size_t i = 0; i < d->nsrc; i++) {
		if (stack_area_of(fs, d->src[i].layer) || !source_has(fs, d, i, name))
			continue;
		if (!d->src[i].writable)
			return -EROFS;
		return source_dir(fs, d, i, name, t);
	}
	int b = fs->pyc ? bytecode_existing(fs, p, name, t) : 1;
	return b == 1 ? -ENOENT : b;
}

/* ---- listings -------------------------------------------------------------- */

struct listing {
	/* a backing directory */
	DIR *dp;
	off_t offset;
	struct dirent *entry;   /* read, not yet used */
	int hide_reserved;      /* DIR's top directory */
	/* a view directory: its merged listing */
	char **names;
	unsigned char *types;
	size_t n, cap;
};

/* A small open-addressing set of names, to merge listings in O(n). */
struct name_set {
	const char **slot;
	size_t cap, count;
};

static void name_set_put(const char **slot, size_t cap, const char *name)
{
	size_t h = (size_t)pe_hash(name) & (cap - 1);
	while (slot[h])
		h = (h + 1) & (cap - 1);
	slot[h] = name;
}

/* 1 if name was added, 0 if it was there. name must outlive the set. */
static int name_set_add(struct name_set *set, const char *name)
{
	if ((set->count + 1) * 2 > set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 64;
		const char **ns = pe_xcalloc(ncap, sizeof *ns);
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i])
				name_set_put(ns, ncap, set->slot[i]);
		free(set->slot);
		set->slot = ns;
		set->cap = ncap;
	}
	for (size_t h = (size_t)pe_hash(name) & (set->cap - 1); set->slot[h]; h = (h + 1) & (set->cap - 1))
		if (strcmp(set->slot[h], name) == 0)
			return 0;
	name_set_put(set->slot, set->cap, name);
	set->count++;
	return 1;
}

static void listing_add(struct listing *h, struct name_set *seen, const char *name, unsigned char type)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 32;
		h->names = realloc(h->names, h->cap * sizeof *h->names);
		h->types = realloc(h->types, h->cap);
		if (!h->names || !h->types)
			abort();
	}
	h->names[h->n] = pe_xstrdup(name);
	if (!name_set_add(seen, h->names[h->n])) {
		free(h->names[h->n]);
		return;
	}
	h->types[h->n++] = type;
}

struct list_arg {
	struct listing *h;
	struct name_set *seen;
	const struct vdir *d;           /* NULL for a stacked node */
	const struct view_source *s;
};

static void list_add_one(const char *name, unsigned char type, void *arg)
{
	struct list_arg *a = arg;
	if (a->d && (view_hides(a->d, name) || !view_source_shows(a->s, name)))
		return;
	listing_add(a->h, a->seen, name, type);
}

/* The fixed entries first, then each source's names the view shows, the
 * first source winning a name. */
static void list_view_dir(struct pe_fs *fs, const struct vdir *d, struct listing *h)
{
	struct name_set seen = { 0 };
	listing_add(h, &seen, ".", DT_DIR);
	listing_add(h, &seen, "..", DT_DIR);
	for (size_t i = 0; i < d->nents; i++) {
		const struct vent *v = &d->ents[i];
		listing_add(h, &seen, v->name, v->kind == VENT_DIR ? DT_DIR : v->kind == VENT_GEN ? DT_REG : DT_UNKNOWN);
	}
	for (size_t i = 0; i < d->nsrc; i++) {
		if (stack_area_of(fs, d->src[i].layer)) {
			struct list_arg a = { h, &seen, d, &d->src[i] };
			(void)stack_list(fs, stack_area_of(fs, d->src[i].layer), d->src[i].path, list_add_one, &a);
			continue;
		}
		struct target t;
		if (source_dir(fs, d, i, NULL, &t))
			continue;
		DIR *dp = pe_opendir_path(t.dfd);
		target_release(&t);
		if (!dp)
			continue;
		struct dirent *de;
		while ((de = readdir(dp))) {
			if (view_hides(d, de->d_name) || !view_source_shows(&d->src[i], de->d_name))
				continue;
			listing_add(h, &seen, de->d_name, de->d_type);
		}
		closedir(dp);
	}
	if (fs->pyc && !view_writable_source(d)) {
		struct list_arg a = { h, &seen, NULL, NULL };
		(void)bytecode_list(fs, &fs->vnodes[d->id], list_add_one, &a);
	}
	free(seen.slot);
}

/* A base directory with bytecode in DIR's redirect area: its entries, then
 * those. 1 if it has none (the backing directory is listed as it is). */
static int list_with_bytecode(struct pe_fs *fs, struct node *n, struct listing *h)
{
	struct listing *extra = pe_xcalloc(1, sizeof *extra);
	struct name_set eseen = { 0 };
	struct list_arg ea = { extra, &eseen, NULL, NULL };
	int r = bytecode_list(fs, n, list_add_one, &ea);
	free(eseen.slot);
	if (r == 0 && extra->n) {
		struct name_set seen = { 0 };
		listing_add(h, &seen, ".", DT_DIR);
		listing_add(h, &seen, "..", DT_DIR);
		DIR *dp = pe_opendir_path(n->fd);
		struct dirent *de;
		while (dp && (de = readdir(dp)))
			listing_add(h, &seen, de->d_name, de->d_type);
		if (dp)
			closedir(dp);
		for (size_t i = 0; i < extra->n; i++)
			listing_add(h, &seen, extra->names[i], extra->types[i]);
		free(seen.slot);
	} else {
		r = 1;
	}
	listing_free(extra);
	return r;
}

int resolve_list(struct pe_fs *fs, struct node *n, struct listing **out)
{
	*out = NULL;
	if (n->kind == NODE_GEN)
		return -ENOTDIR;
	struct listing *h = pe_xcalloc(1, sizeof *h);
	if (n->kind == NODE_VIEW) {
		list_view_dir(fs, n->vdir, h);
		*out = h;
		return 0;
	}
	if (n->area) {
		struct name_set seen = { 0 };
		listing_add(h, &seen, ".", DT_DIR);
		listing_add(h, &seen, "..", DT_DIR);
		char buf[PATH_MAX];
		struct list_arg a = { h, &seen, NULL, NULL };
		int r = stack_list(fs, n->area, stack_node_rel(fs, n, buf, sizeof buf), list_add_one, &a);
		free(seen.slot);
		if (r) {
			listing_free(h);
			return r;
		}
		*out = h;
		return 0;
	}
	if (fs->pyc && n->layer == LAYER_BASE && S_ISDIR(n->type) && list_with_bytecode(fs, n, h) == 0) {
		*out = h;
		return 0;
	}
	int fd = pe_open_dir(n->fd);
	if (fd < 0 || !(h->dp = fdopendir(fd))) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		free(h);
		return r;
	}
	h->hide_reserved = n->site_root;
	*out = h;
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

int resolve_list_cacheable(const struct pe_fs *fs, const struct node *n)
{
	if (n->kind == NODE_PASS)
		return !n->area;
	for (size_t i = 0; i < n->vdir->nsrc; i++)
		if (stack_area_of(fs, n->vdir->src[i].layer))
			return 0;
	return !view_writable_source(n->vdir);
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
	free(l);
}
