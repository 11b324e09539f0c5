// SPDX-License-Identifier: GPL-2.0-or-later
/* Resolution: the view's rules for which layer answers a name and where
 * changes go. DIR's areas are the union's (stack.h: lookup, listing, upper,
 * dirops); the base and the bytecode redirect area are plain. */
#include "resolve.h"
#include "ownership.h"
#include "bytecode.h"
#include "dirops.h"
#include "distindex.h"
#include "lookup.h"
#include "script.h"
#include "shebang.h"
#include "stack.h"
#include "upper.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct layer *layer_of(const struct pe_fs *fs, unsigned layer)
{
	return &fs->layers[layer];
}

int resolve_init(struct pe_fs *fs)
{
	pthread_mutex_init(&fs->src_lock, NULL);
	node_table_set_stacks(fs->nodes, stack_get, stack_put);
	return stack_init(fs);
}

void resolve_destroy(struct pe_fs *fs)
{
	if (!fs->area_top[0])
		return;
	stack_fini(fs);
	pthread_mutex_destroy(&fs->src_lock);
	distidx_free(fs);
	bytecode_free(fs);
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
 * access(W_OK) as a user get the truth; a layer's object becomes the env's
 * by a copy-up when it changes. */
static void show_mode(const struct pe_fs *fs, const struct node *n, struct stat *st)
{
	/* A lower layer of another owner's: its owner's objects are DIR's
	 * owner's, and no set-id bit shows (ownership.h: the env's owner owns
	 * their env, layers included; nobody gains a right). A layer of DIR's
	 * owner's own is shown as it is, as overlayfs shows it. */
	unsigned l = n->kind == NODE_PASS && n->area ? n->layer : fs->nlayers;
	if (l < fs->nlayers && fs->layers[l].lower && fs->layers[l].owner != fs->owner) {
		const struct ownership o = { fs->owner, fs->group, fs->layers[l].owner };
		ownership_show(&o, st);
	}
	if (!n->writable && !(n->area && stack_writable(fs, n->area)))
		st->st_mode &= (mode_t)~(S_IWUSR | S_IWGRP | S_IWOTH);
}

static void resolved_node(struct pe_fs *fs, struct node *n, const struct stat *st, struct resolved *out)
{
	out->node = n;
	out->st = *st;
	out->timeout = resolve_timeout(fs, n);
}

static void shown(struct pe_fs *fs, struct node *n, struct stat *st, struct resolved *out)
{
	show_mode(fs, n, st);
	if (script_shown(n, st))
		st->st_size = shebang_size(n->sb, st->st_size);
	resolved_node(fs, n, st, out);
}

/* The merged directory a node stands for (a reference), or NULL. */
static struct stack *own_stack(struct pe_fs *fs, struct node *n)
{
	return n->kind == NODE_PASS && n->area && n->type == S_IFDIR ? node_stack(fs->nodes, n, NULL, 0) : NULL;
}

static int stat_view_dir(struct pe_fs *fs, struct node *n, struct stat *st);

int resolve_stat(struct pe_fs *fs, struct node *n, struct stat *st)
{
	switch (n->kind) {
	case NODE_VIEW:
		return stat_view_dir(fs, n, st);
	case NODE_GEN:
		synthetic_stat(fs, st, S_IFREG | 0444, (ino_t)((1ull << 62) | (1ull << 32) | (unsigned)n->gen),
			       (off_t)fs->gen_len[n->gen]);
		return 0;
	case NODE_PASS: {
		struct stack *s = own_stack(fs, n);
		if (s) {
			/* DIR's part made since n was looked up (a copy-up as the
			 * parent of a new name, through any place) is n's now. */
			int d0 = stack_dir0(fs, s);
			unsigned top = stack_dir_layer(fs, n->area);
			if (d0 >= 0 && n->layer != top && dup3(d0, n->fd, O_CLOEXEC) >= 0) {
				n->layer = top;
				n->writable = layer_of(fs, top)->writable;
			}
		}
		int r = fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
		if (!r && s)
			lookup_times(fs, s, st);
		if (s)
			stack_put(s);
		if (r)
			return r;
		show_mode(fs, n, st);
		if (script_shown(n, st))
			st->st_size = shebang_size(n->sb, st->st_size);
		return 0;
	}
	}
	return -EIO;
}

/* ---- the view's sources --------------------------------------------------- */

void target_release(struct target *t)
{
	if (t->owned)
		close(t->dfd);
	t->owned = 0;
	t->dfd = -1;
	if (t->stk)
		stack_put(t->stk);
	t->stk = NULL;
}

static void plain_key(int dfd, struct inval_dir *d)
{
	struct stat st;
	*d = (struct inval_dir){ 0, 0, 0 };
	if (dfd >= 0 && fstat(dfd, &st) == 0)
		*d = (struct inval_dir){ st.st_dev, st.st_ino, 0 };
}

/* The base directory of source i of d (stable: opened at start-up), as a
 * target for name. */
static int source_dir(struct pe_fs *fs, const struct vdir *d, size_t i, const char *name, struct target *t)
{
	const struct view_source *s = &d->src[i];
	*t = (struct target){ .dfd = fs->src_fd[d->id * VIEW_MAX_SOURCES + i], .name = name,
			      .origin = { view_source_place(d, i), s->layer, (unsigned char)s->writable, 0 } };
	return t->dfd >= 0 ? 0 : -ENOENT;
}

/* The merged directory of the union behind source i of d (a reference):
 * made on first use, and again when a directory of DIR's moved or went
 * through the mount (fs->dirs_gen), after DIR's timeout (changed there
 * directly) or the layers' (a layer's owner may add the directory). NULL if
 * it cannot be made. */
static struct stack *source_stack(struct pe_fs *fs, const struct vdir *d, size_t i)
{
	const struct view_source *src = &d->src[i];
	int area = stack_area_of(fs, src->layer);
	size_t k = d->id * VIEW_MAX_SOURCES + i;
	double now = stack_now();
	double timeout = layer_of(fs, stack_dir_layer(fs, area))->timeout;
	if (fs->nstack > 1 && stack_lower_timeout(fs) < timeout)
		timeout = stack_lower_timeout(fs);
	unsigned dirs = __atomic_load_n(&fs->dirs_gen, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&fs->src_lock);
	struct stack *s = fs->src_stack[k];
	if (s && now - fs->src_built[k] < timeout && fs->src_dirs[k] == dirs) {
		stack_get(s);
		pthread_mutex_unlock(&fs->src_lock);
		return s;
	}
	pthread_mutex_unlock(&fs->src_lock);
	int err;
	struct stack *ns = lookup_path(fs, area, src->path, 1, &err);
	if (!ns)
		return NULL;
	pthread_mutex_lock(&fs->src_lock);
	struct stack *old = fs->src_stack[k];
	fs->src_stack[k] = ns;
	fs->src_built[k] = now;
	fs->src_dirs[k] = dirs;
	stack_get(ns);
	pthread_mutex_unlock(&fs->src_lock);
	if (old)
		stack_put(old);
	return ns;
}

/* Whether name exists in the base source i of d. */
static int base_has(struct pe_fs *fs, const struct vdir *d, size_t i, const char *name)
{
	struct target t;
	struct stat st;
	return view_source_shows(&d->src[i], name) && source_dir(fs, d, i, name, &t) == 0 &&
	       fstatat(t.dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
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
	shown(fs, n, &st, out);
	return 0;
}

/* name in the merged directory s, as a node shown at place. */
static int union_lookup(struct pe_fs *fs, struct stack *s, const char *name, uint64_t place, struct resolved *out)
{
	struct node *n;
	struct stat st;
	int r = lookup_in(fs, s, name, place, &n, &st);
	if (!r)
		shown(fs, n, &st, out);
	return r;
}

int resolve_made(struct pe_fs *fs, const struct target *t, struct resolved *out)
{
	if (t->stk) {
		stack_changed(fs, t->stk);
		return union_lookup(fs, t->stk, t->name, t->origin.place, out);
	}
	return node_at(fs, t->dfd, t->name, 0, &t->origin, out);
}

/* Splits an area path into its directory (allocated) and last name. */
static char *split_path(const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	return slash ? strndup(path, (size_t)(slash - path)) : pe_xstrdup("");
}

/* An anchor into one of DIR's areas (site-packages, Debian's local/bin). */
static int anchor_lookup(struct pe_fs *fs, const struct vent *v, struct resolved *out)
{
	int area = stack_area_of(fs, v->layer);
	if (!*v->path) {
		struct node *n;
		struct stat st;
		int r = lookup_top(fs, fs->area_top[area - 1], v->place, &n, &st);
		if (!r)
			shown(fs, n, &st, out);
		return r;
	}
	const char *name;
	cleanup_free char *dir = split_path(v->path, &name);
	int err;
	struct stack *s = lookup_path(fs, area, dir, 0, &err);
	int r = s ? union_lookup(fs, s, name, v->place, out) : err;
	/* The env's own directory is always there: made again if removed. */
	if (r == -ENOENT && layer_of(fs, v->layer)->make_dirs && v->writable &&
	    backing_make_dirs(fs, v->layer, v->path) == 0) {
		stack_bump(fs);
		r = union_lookup(fs, s, name, v->place, out);
	}
	if (s)
		stack_put(s);
	return r;
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
		if (stack_area_of(fs, v->layer) && v->path[0] != '/')
			return anchor_lookup(fs, v, out);
		const struct layer *l = layer_of(fs, v->layer);
		int dfd = v->path[0] == '/' ? AT_FDCWD : l->fd;
		struct origin o = { v->place, v->layer, (unsigned char)v->writable, 0 };
		return node_at(fs, dfd, *v->path ? v->path : ".", l->follow, &o, out);
	}
	default:
		return -EIO;
	}
	struct stat st;
	resolve_stat(fs, n, &st);
	resolved_node(fs, n, &st, out);
	return 0;
}

/* A bytecode redirect's answer (1: none) as a node. */
static int bytecode_node(struct pe_fs *fs, struct node *p, const char *name, struct resolved *out)
{
	struct target t = { .dfd = -1 };
	int b = fs->pyc ? bytecode_lookup(fs, p, name, &t) : 1;
	if (b == 0) {
		b = node_at(fs, t.dfd, t.name, 0, &t.origin, out);
		target_release(&t);
	}
	return b;
}

int resolve_lookup(struct pe_fs *fs, struct node *p, const char *name, struct resolved *out)
{
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (p->kind == NODE_PASS) {
		struct stack *s = own_stack(fs, p);
		if (s) {
			int r = union_lookup(fs, s, name, p->place & ~STACK_DIR_PLACE, out);
			stack_put(s);
			return r;
		}
		struct origin o = { p->place, p->layer, p->writable, 0 };
		int r = node_at(fs, p->fd, name, 0, &o, out);
		if (r == -ENOENT) {
			int b = bytecode_node(fs, p, name, out);
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
		if (!view_source_shows(&d->src[i], name))
			continue;
		int r;
		if (stack_area_of(fs, d->src[i].layer)) {
			struct stack *s = source_stack(fs, d, i);
			r = s ? union_lookup(fs, s, name, view_source_place(d, i), out) : -ENOENT;
			if (s)
				stack_put(s);
		} else {
			struct target t;
			if (source_dir(fs, d, i, name, &t))
				continue;
			r = node_at(fs, t.dfd, name, 0, &t.origin, out);
		}
		if (r != -ENOENT)
			return r;
	}
	int b = bytecode_node(fs, p, name, out);
	return b == 1 ? -ENOENT : b;
}

/* ---- where a name lives ------------------------------------------------------ */

/* Where name of p is in the union: the merged directory (a reference), the
 * name there (an anchor's backing name) and the place of what is made. */
struct where {
	struct stack *s;
	const char *name;
	uint64_t place;
	char buf[NAME_MAX + 1];
};

static void where_release(struct where *w)
{
	if (w->s)
		stack_put(w->s);
	w->s = NULL;
}

/* An anchor into a writable area's subdirectory (Debian's local/bin, the
 * env's bin) is the env's: it may be renamed or removed like any directory
 * of DIR. DIR itself, and everything else fixed in the view, is not. */
static int anchor_where(struct pe_fs *fs, const struct vent *v, struct where *w)
{
	if (v->kind != VENT_ANCHOR || !stack_area_of(fs, v->layer) || !layer_of(fs, v->layer)->writable ||
	    !v->writable || !*v->path || v->path[0] == '/')
		return -EROFS;
	const char *name;
	cleanup_free char *dir = split_path(v->path, &name);
	int err;
	w->s = lookup_path(fs, stack_area_of(fs, v->layer), dir, 0, &err);
	if (!w->s)
		return err;
	snprintf(w->buf, sizeof w->buf, "%s", name);
	w->name = w->buf;
	w->place = v->place;
	return 0;
}

/* Where the existing name of p is: 0 with w->s (the union's), 0 with t (a
 * plain directory of the env's: the bytecode area), or -errno (-EROFS: the
 * base's or fixed; -ENOENT). */
static int find_existing(struct pe_fs *fs, struct node *p, const char *name, struct where *w, struct target *t)
{
	*w = (struct where){ .name = name };
	*t = (struct target){ .dfd = -1 };
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (p->kind == NODE_PASS) {
		if ((w->s = own_stack(fs, p))) {
			w->place = p->place & ~STACK_DIR_PLACE;
			return 0;
		}
		int b = fs->pyc ? bytecode_existing(fs, p, name, t) : 1;
		if (b != 1)
			return b;
		struct stat st;
		if (fstatat(p->fd, name, &st, AT_SYMLINK_NOFOLLOW))
			return -errno;
		if (!p->writable)
			return -EROFS;
		*t = (struct target){ p->fd, name, { p->place, p->layer, 1, 0 }, { 0, 0, 0 }, 0, NULL };
		return 0;
	}
	const struct vdir *d = p->vdir;
	const struct vent *v = view_entry(d, name);
	if (v)
		return anchor_where(fs, v, w);
	if (view_hides(d, name))
		return -ENOENT;
	/* The source that shows the name decides: the base's refuses. */
	for (size_t i = 0; i < d->nsrc; i++) {
		if (!view_source_shows(&d->src[i], name))
			continue;
		if (!stack_area_of(fs, d->src[i].layer)) {
			if (base_has(fs, d, i, name))
				return -EROFS;
			continue;
		}
		struct stack *s = source_stack(fs, d, i);
		struct stack_found f;
		stack_found_init(&f);
		int r = s ? lookup_probe(fs, s, name, &f) : -ENOENT;
		stack_found_free(&f);
		if (r == -ENOENT) {
			if (s)
				stack_put(s);
			continue;
		}
		if (r) {
			stack_put(s);
			return r;
		}
		w->s = s;
		w->place = view_source_place(d, i);
		return 0;
	}
	int b = fs->pyc ? bytecode_existing(fs, p, name, t) : 1;
	return b == 1 ? -ENOENT : b;
}

/* Where a new name of p goes in the union (0 with w->s), or in a plain
 * directory (0 with t), or -errno. */
static int find_new(struct pe_fs *fs, struct node *p, const char *name, struct where *w, struct target *t)
{
	*w = (struct where){ .name = name };
	*t = (struct target){ .dfd = -1 };
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (p->kind == NODE_PASS) {
		if ((w->s = own_stack(fs, p))) {
			w->place = p->place & ~STACK_DIR_PLACE;
			return 0;
		}
		int b = fs->pyc ? bytecode_new_name(fs, p, name, t) : 1;
		if (b != 1)
			return b;
		if (!p->writable)
			return -EROFS;
		*t = (struct target){ p->fd, name, { p->place, p->layer, 1, 0 }, { 0, 0, 0 }, 0, NULL };
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
		if (!stack_area_of(fs, d->src[i].layer) && base_has(fs, d, i, name))
			return -EEXIST;
	if (!stack_area_of(fs, ws->layer))
		return -EROFS;
	w->s = source_stack(fs, d, wi);
	w->place = view_source_place(d, wi);
	return w->s ? 0 : -ENOENT;
}

/* A new name in the merged directory w: -EEXIST if something shows there;
 * t is DIR's directory, its missing parents copied up. */
static int union_new(struct pe_fs *fs, struct where *w, struct target *t)
{
	struct stack_found f;
	int r = lookup_probe(fs, w->s, w->name, &f);
	stack_found_free(&f);
	if (r != -ENOENT)
		return r ? r : -EEXIST;
	if (!stack_writable(fs, w->s->area))
		return -EROFS;
	if (w->s->area == 1 && !*w->s->rel && view_reserved(w->name))
		return -EPERM;
	int dfd = upper_dir(fs, w->s);
	if (dfd < 0)
		return dfd;
	*t = (struct target){ dfd, w->name, { w->place, stack_dir_layer(fs, w->s->area), 1, (unsigned char)w->s->area },
			      { 0, 0, 0 }, 0, w->s };
	dirops_key(w->s, &t->dir);
	w->s = NULL;            /* the target holds the reference */
	return 0;
}

int resolve_new_name(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	struct where w;
	int r = find_new(fs, p, name, &w, t);
	if (!r && w.s)
		r = union_new(fs, &w, t);
	else if (!r)
		plain_key(t->dfd, &t->dir);
	where_release(&w);
	return r;
}

int resolve_existing(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	struct where w;
	int r = find_existing(fs, p, name, &w, t);
	if (!r && w.s) {
		struct stack_found f;
		r = lookup_probe(fs, w.s, w.name, &f);
		if (!r && f.top != 0)
			r = -EROFS;     /* a layer's: copied up or whited out first */
		stack_found_free(&f);
		if (!r && !stack_writable(fs, w.s->area))
			r = -EROFS;
		if (!r) {
			*t = (struct target){ stack_dir0(fs, w.s), w.name,
					      { w.place, stack_dir_layer(fs, w.s->area), 1, (unsigned char)w.s->area },
					      { 0, 0, 0 }, 0, w.s };
			dirops_key(w.s, &t->dir);
			w.s = NULL;
		}
	} else if (!r) {
		plain_key(t->dfd, &t->dir);
	}
	where_release(&w);
	return r;
}

/* ---- changes ------------------------------------------------------------------ */

int resolve_copy_up(struct pe_fs *fs, struct node *n, int trunc)
{
	return upper_copy(fs, n, trunc);
}

int resolve_remove(struct pe_fs *fs, const struct caller *c, struct node *p, const char *name, int flags,
		   struct inval_dir *d)
{
	struct where w;
	struct target t;
	*d = (struct inval_dir){ 0, 0, 0 };
	int r = find_existing(fs, p, name, &w, &t);
	if (!r && w.s) {
		r = dirops_remove(fs, c, w.s, w.name, flags, d);
	} else if (!r) {
		plain_key(t.dfd, d);
		r = backing_sticky_check(fs, c, t.dfd, t.name);
		if (!r)
			r = backing_unlink_as(fs, c, t.dfd, t.name, flags);
	}
	target_release(&t);
	where_release(&w);
	return r;
}

int resolve_rename(struct pe_fs *fs, const struct caller *c, struct node *p, const char *name, struct node *np,
		   const char *newname, unsigned flags, struct inval_dir *from, struct inval_dir *to)
{
	struct where w, nw;
	struct target t, nt;
	*from = *to = (struct inval_dir){ 0, 0, 0 };
	nw = (struct where){ 0 };
	nt = (struct target){ .dfd = -1 };
	int r = find_existing(fs, p, name, &w, &t);
	if (!r) {
		r = find_existing(fs, np, newname, &nw, &nt);
		if (r == -ENOENT)
			r = find_new(fs, np, newname, &nw, &nt);
	}
	if (!r && w.s && nw.s) {
		r = dirops_rename(fs, c, w.s, w.name, nw.s, nw.name, flags, from, to);
	} else if (!r && (w.s || nw.s)) {
		r = -EXDEV;     /* between the union and the bytecode area */
	} else if (!r) {
		plain_key(t.dfd, from);
		plain_key(nt.dfd, to);
		r = backing_sticky_check(fs, c, t.dfd, t.name);
		if (!r)
			r = backing_sticky_check(fs, c, nt.dfd, nt.name);
		if (!r)
			r = backing_rename_as(fs, c, t.dfd, t.name, nt.dfd, nt.name, flags);
	}
	target_release(&t);
	target_release(&nt);
	where_release(&w);
	where_release(&nw);
	return r;
}

int resolve_read_shebang(struct node *n, int fd, char *buf, size_t size, off_t off)
{
	return script_read(n, fd, buf, size, off);
}

/* ---- listings -------------------------------------------------------------- */

struct source_arg {
	const struct vdir *d;
	const struct view_source *s;
};

static int source_shows(const char *name, void *arg)
{
	const struct source_arg *a = arg;
	return !view_hides(a->d, name) && view_source_shows(a->s, name);
}

static void add_bytecode(const char *name, unsigned char type, void *arg)
{
	listing_add(arg, name, type);
}

/* The fixed entries first, then each source's names the view shows, the
 * first source winning a name. */
static void list_view_dir(struct pe_fs *fs, const struct vdir *d, struct listing *h)
{
	for (size_t i = 0; i < d->nents; i++) {
		const struct vent *v = &d->ents[i];
		listing_add(h, v->name, v->kind == VENT_DIR ? DT_DIR : v->kind == VENT_GEN ? DT_REG : DT_UNKNOWN);
	}
	for (size_t i = 0; i < d->nsrc; i++) {
		struct source_arg a = { d, &d->src[i] };
		if (stack_area_of(fs, d->src[i].layer)) {
			struct stack *s = source_stack(fs, d, i);
			if (s) {
				(void)listing_merged(fs, s, h, source_shows, &a);
				stack_put(s);
			}
			continue;
		}
		struct target t;
		if (source_dir(fs, d, i, NULL, &t))
			continue;
		DIR *dp = pe_opendir_path(t.dfd);
		if (!dp)
			continue;
		struct dirent *de;
		while ((de = readdir(dp)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && source_shows(de->d_name, &a))
				listing_add(h, de->d_name, de->d_type);
		closedir(dp);
	}
	if (fs->pyc && !view_writable_source(d))
		(void)bytecode_list(fs, &fs->vnodes[d->id], add_bytecode, h);
}

/* A base directory with bytecode in DIR's redirect area: its entries, then
 * those. 1 if it has none (the backing directory is listed as it is). */
static int list_with_bytecode(struct pe_fs *fs, struct node *n, struct listing **out)
{
	struct listing *extra = listing_new();
	int r = bytecode_list(fs, n, add_bytecode, extra);
	struct listing_entry e;
	if (r == 0 && listing_get(extra, 2, &e) == 1) {
		struct listing *h = listing_new();
		DIR *dp = pe_opendir_path(n->fd);
		struct dirent *de;
		while (dp && (de = readdir(dp)))
			listing_add(h, de->d_name, de->d_type);
		if (dp)
			closedir(dp);
		for (off_t off = 2; listing_get(extra, off, &e) == 1; off = e.next)
			listing_add(h, e.name, e.type);
		*out = h;
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
	if (n->kind == NODE_VIEW) {
		*out = listing_new();
		list_view_dir(fs, n->vdir, *out);
		return 0;
	}
	struct stack *s = own_stack(fs, n);
	if (s) {
		struct listing *h = listing_new();
		int r = listing_merged(fs, s, h, NULL, NULL);
		stack_put(s);
		if (r) {
			listing_free(h);
			return r;
		}
		*out = h;
		return 0;
	}
	if (!S_ISDIR(n->type))
		return -ENOTDIR;
	if (fs->pyc && n->layer == LAYER_BASE && list_with_bytecode(fs, n, out) == 0)
		return 0;
	return listing_backing(n->fd, 0, out);
}

int resolve_list_cacheable(const struct pe_fs *fs, const struct node *n)
{
	if (n->kind == NODE_PASS) {
		/* A merged directory's times follow its listing only where no
		 * layer's distribution may be shadowed (DIR's alone) or at the
		 * site area's top (lookup_times). */
		struct stack *s = own_stack((struct pe_fs *)fs, (struct node *)n);
		int keep = !s || !s->nlower || (s->area == 1 && !*s->rel);
		if (s)
			stack_put(s);
		return keep;
	}
	for (size_t i = 0; i < n->vdir->nsrc; i++)
		if (stack_area_of(fs, n->vdir->src[i].layer) && fs->nstack > 1)
			return 0;
	return !view_writable_source(n->vdir);
}

/* ---- a view directory's attributes -------------------------------------------- */

/* Its listing changes with the directories behind it, the env's own and the
 * base's (an upgraded base): the newest of their times tells the kernel
 * when a kept listing is stale. */
static int stat_view_dir(struct pe_fs *fs, struct node *n, struct stat *st)
{
	const struct vdir *d = n->vdir;
	const struct view_source *ws = view_writable_source(d);
	synthetic_stat(fs, st, S_IFDIR | (ws ? 0755 : 0555), (ino_t)((1ull << 62) | d->id), 0);
	struct stat zero = *st;
	int have = 0;
	for (size_t i = 0; i < d->nsrc; i++) {
		if (stack_area_of(fs, d->src[i].layer)) {
			struct stack *s = source_stack(fs, d, i);
			if (!s)
				continue;
			struct stat t = zero;
			memset(&t.st_mtim, 0, sizeof t.st_mtim);
			memset(&t.st_ctim, 0, sizeof t.st_ctim);
			stack_times(fs, s, &t);
			stack_put(s);
			if (!t.st_mtim.tv_sec && !t.st_mtim.tv_nsec)
				continue;
			if (!have || pe_ts_after(t.st_mtim, st->st_mtim))
				st->st_mtim = t.st_mtim;
			if (!have || pe_ts_after(t.st_ctim, st->st_ctim))
				st->st_ctim = t.st_ctim;
			have = 1;
			continue;
		}
		struct target t;
		struct stat up;
		if (source_dir(fs, d, i, NULL, &t) || fstat(t.dfd, &up) != 0)
			continue;
		if (!have || pe_ts_after(up.st_mtim, st->st_mtim))
			st->st_mtim = up.st_mtim;
		if (!have || pe_ts_after(up.st_ctim, st->st_ctim))
			st->st_ctim = up.st_ctim;
		have = 1;
	}
	return 0;
}
