// SPDX-License-Identifier: GPL-2.0-or-later
/* Resolution: the rules for which layer answers a name, and where changes go. */
#include "resolve.h"
#include "util.h"
#include "copyup.h"
#include "merge.h"
#include "records.h"
#include "shebang.h"
#include "dist.h"
#include "whiteout.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The place of a non-directory: one per layer, apart from every view place. */
#define NONDIR_PLACE(layer) (0x80000000u | (unsigned)(layer))

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

static int ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
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
			if (!have || ts_after(up.st_mtim, st->st_mtim))
				st->st_mtim = up.st_mtim;
			if (!have || ts_after(up.st_ctim, st->st_ctim))
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
		if (fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			return -errno;
		show_mode(fs, n, st);
		if (n->sb && !n->writable)
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
	for (char *c = strtok_r(p, "/", &save); c && !r; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) == 0) {
			if (fs->daemon_is_root)
				(void)fchownat(cur, c, fs->owner, fs->group, AT_SYMLINK_NOFOLLOW);
		} else if (errno != EEXIST) {
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
	show_mode(fs, n, &st);
	resolved_node(fs, n, &st, out);
	return 0;
}

struct merge_state;
static int stack_probe(struct pe_fs *fs, int area, const char *dir, const char *name, struct merge_state *m);
static int stack_node(struct pe_fs *fs, int area, const char *dir, const char *name, unsigned place,
		      const struct merge_state *m, struct resolved *out);

int resolve_made(struct pe_fs *fs, const struct target *t, struct resolved *out)
{
	if (t->area) {
		struct merge_state m;
		int r = stack_probe(fs, t->area, t->dir, t->name, &m);
		return r ? r : stack_node(fs, t->area, t->dir, t->name, t->origin.place, &m, out);
	}
	return node_at(fs, t->dfd, t->name, 0, &t->origin, out);
}

/* ---- the stacked areas (--lower-site) -------------------------------------- */

/* With --lower-site, DIR's two areas (site-packages and the env's upper
 * area) are each the top of a stack: DIR's, then each layer's, merged by
 * merge.c's rule with the whiteout records of records.c. A node there
 * records its area and path; a directory node stands for the merged
 * directory at that path and place. */

#define STACK_DIR_PLACE 0x40000000u     /* merged directories: apart from every other place */

int resolve_stacked(const struct pe_fs *fs)
{
	return fs->nstack > 1;
}

static int area_of_layer(const struct pe_fs *fs, unsigned layer)
{
	if (!resolve_stacked(fs))
		return 0;
	return layer == LAYER_SITE ? 1 : layer == LAYER_UPPER ? 2 : 0;
}

static unsigned area_layer(const struct pe_fs *fs, size_t i, int area)
{
	return area == 1 ? fs->stack[i].site : fs->stack[i].upper;
}

static int target_upper_name(const char *name)
{
	return !strcmp(name, "bin") || !strcmp(name, "share") || !strcmp(name, "include") || !strcmp(name, "etc");
}

/* Whether layer i shows name in the area directory dir at all: the reserved
 * name at a site top is never shown; a target layer's top-level bin, share,
 * include and etc are its upper area, and only they. */
static int area_shows(const struct pe_fs *fs, size_t i, int area, const char *dir, const char *name)
{
	if (*dir)
		return 1;
	if (area == 1 && view_reserved(name))
		return 0;
	if (fs->stack[i].target)
		return area == 1 ? !target_upper_name(name) : target_upper_name(name);
	return 1;
}

/* The directory dir of area in layer i (O_PATH), or -errno. */
static int layer_dir(struct pe_fs *fs, size_t i, int area, const char *dir)
{
	unsigned l = area_layer(fs, i, area);
	if (l == STACK_NONE)
		return -ENOENT;
	int root = fs->layers[l].fd;
	if (!*dir) {
		int fd = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	const char *slash = strchr(dir, '/');
	cleanup_free char *first = slash ? strndup(dir, (size_t)(slash - dir)) : pe_xstrdup(dir);
	if (!first)
		return -ENOMEM;
	if (!area_shows(fs, i, area, "", first))
		return -ENOENT;
	int fd = openat_beneath(root, dir, O_PATH | O_DIRECTORY);
	return fd < 0 ? -errno : fd;
}

/* Feeds layers from..n of the stack for name in dir into m. */
static int dist_hidden(struct pe_fs *fs, size_t i, int area, const char *dir, const char *name);

static void stack_probe_from(struct pe_fs *fs, int area, const char *dir, const char *name, size_t from,
			     struct merge_state *m)
{
	merge_begin(m);
	if (!*dir && !*name) {
		/* the area's top: every layer that has the area */
		for (size_t i = 0; i < fs->nstack; i++) {
			struct merge_probe pr = { MERGE_ABSENT, WH_NONE, 0 };
			int fd = layer_dir(fs, i, area, "");
			if (fd >= 0) {
				pr.obj = MERGE_DIR;
				close(fd);
			}
			if (merge_feed(m, i, &pr) <= 0)
				break;
		}
		return;
	}
	for (size_t i = from; i < fs->nstack; i++) {
		struct merge_probe pr = { MERGE_ABSENT, WH_NONE, 0 };
		if (area_shows(fs, i, area, dir, name)) {
			int dfd = layer_dir(fs, i, area, dir);
			struct stat st;
			if (dfd >= 0) {
				if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
					pr.obj = S_ISDIR(st.st_mode) ? MERGE_DIR : MERGE_OTHER;
				close(dfd);
			}
		}
		if (pr.obj != MERGE_ABSENT && dist_hidden(fs, i, area, dir, name))
			pr.shadowed = 1;
		if (fs->stack[i].top >= 0) {
			struct wh_record rec;
			if (records_read(fs->stack[i].top, area == 1 ? WH_AREA_SITE : WH_AREA_UPPER, dir, name, &rec) == 0)
				pr.record = rec.kind == WH_REDIRECT ? WH_HIDE : rec.kind;
		}
		if (merge_feed(m, i, &pr) <= 0)
			break;
	}
}

static int stack_probe(struct pe_fs *fs, int area, const char *dir, const char *name, struct merge_state *m)
{
	stack_probe_from(fs, area, dir, name, 0, m);
	return m->found ? 0 : -ENOENT;
}

/* Splits an area path into its directory and last name ("" and "" for the top). */
static void split_rel(const char *rel, char **dir, const char **name)
{
	const char *slash = strrchr(rel, '/');
	*dir = slash ? strndup(rel, (size_t)(slash - rel)) : pe_xstrdup("");
	*name = slash ? slash + 1 : rel;
	if (!*dir)
		abort();
}

/* The area path of a stacked node now: a directory of DIR's may have been
 * renamed, so it is read from its descriptor; anything else keeps its path. */
static const char *node_rel(struct pe_fs *fs, const struct node *n, char *buf, size_t len)
{
	if (n->type == S_IFDIR && n->layer == area_layer(fs, 0, n->area)) {
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, n->fd);
		ssize_t k = readlink(pp, buf, len - 1);
		if (k > 0) {
			buf[k] = '\0';
			const char *pre = fs->area_path[n->area - 1];
			size_t pl = strlen(pre);
			if (strncmp(buf, pre, pl) == 0 && (buf[pl] == '\0' || buf[pl] == '/'))
				return buf + pl + (buf[pl] == '/');
		}
	}
	return n->rel ? n->rel : "";
}

/* A layer's console script names the Python of the mount it was installed
 * through: shown here, its first line names this env's (docs/LAYERS.md,
 * "Console scripts follow the env"). Any <dir>/bin/python... is rewritten:
 * the mount points a layer was used at are not recorded yet. */
static void plan_shebang(struct pe_fs *fs, struct node *n, const char *dir)
{
	size_t dl = strlen(dir);
	if (!fs->mountpoint || !(strcmp(dir, "bin") == 0 || (dl > 4 && strcmp(dir + dl - 4, "/bin") == 0)))
		return;
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
	int fd = open(pp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char head[SHEBANG_HEAD];
	ssize_t len = pread(fd, head, sizeof head, 0);
	close(fd);
	if (len <= 0)
		return;
	const struct shebang_match match = { NULL, 0, 1 };
	struct shebang_edit *e = pe_xcalloc(1, sizeof *e);
	struct shebang_edit *none = NULL;
	if (shebang_plan(head, (size_t)len, &match, fs->mountpoint, e) != 1 ||
	    !__atomic_compare_exchange_n(&n->sb, &none, e, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(e);
}

int resolve_read_shebang(struct node *n, int fd, char *buf, size_t size, off_t off)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	struct shebang_piece pc[3];
	int np = shebang_map(n->sb, st.st_size, off, size, pc);
	size_t got = 0;
	for (int i = 0; i < np; i++) {
		if (pc[i].from_text) {
			memcpy(buf + got, n->sb->text + pc[i].pos, pc[i].n);
			got += pc[i].n;
			continue;
		}
		ssize_t k = pread(fd, buf + got, pc[i].n, pc[i].pos);
		if (k < 0)
			return -errno;
		got += (size_t)k;
		if ((size_t)k < pc[i].n)
			break;
	}
	return (int)got;
}

/* The node for what m found at dir/name of area, shown at place. */
static int stack_node(struct pe_fs *fs, int area, const char *dir, const char *name, unsigned place,
		      const struct merge_state *m, struct resolved *out)
{
	unsigned lay = area_layer(fs, m->top, area);
	int dfd = layer_dir(fs, m->top, area, dir);
	if (dfd < 0)
		return dfd;
	int fd = *name ? openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : openat(dfd, ".", O_PATH | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return -errno;
	struct stat st, key;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		int r = -errno;
		close(fd);
		return r;
	}
	cleanup_free char *rel = *name ? path_join(dir, name) : pe_xstrdup(dir);
	struct origin o = { place | STACK_DIR_PLACE, (unsigned char)lay,
			    (unsigned char)(m->top == 0 && fs->layers[lay].writable), 0, (unsigned char)area, rel };
	key = st;
	int spare = -1;
	if (S_ISDIR(st.st_mode)) {
		/* Keyed by the lowest directory merged: a copy-up into DIR keeps the node. */
		size_t bottom = m->nlayers ? m->layers[m->nlayers - 1] : m->top;
		int bfd = layer_dir(fs, bottom, area, rel);
		if (bfd >= 0) {
			if (fstat(bfd, &key))
				key = st;
			close(bfd);
		}
		spare = dup(fd);
	} else {
		o.place = NONDIR_PLACE(lay);
	}
	struct node *n = node_get(fs->nodes, fd, &key, &o);
	if (S_ISREG(st.st_mode) && m->top != 0 && area == 2 && !n->sb && !n->writable)
		plan_shebang(fs, n, dir);
	if (n->sb && !n->writable)
		st.st_size = shebang_size(n->sb, st.st_size);
	if (spare >= 0) {
		if (n->layer != lay && dup3(spare, n->fd, O_CLOEXEC) >= 0) {
			n->layer = (unsigned char)lay;
			n->writable = o.writable;
		}
		close(spare);
	}
	show_mode(fs, n, &st);
	resolved_node(fs, n, &st, out);
	return 0;
}

/* Where name in p is in a stack: its area, directory and place. 1 if it is,
 * 0 if p does not stack that name. */
struct stack_ctx {
	int area;
	const char *dir;
	unsigned place;
	char buf[PATH_MAX];
};

static int stack_ctx(struct pe_fs *fs, struct node *p, const char *name, struct stack_ctx *c)
{
	if (!resolve_stacked(fs))
		return 0;
	if (p->kind == NODE_PASS && p->area) {
		c->area = p->area;
		c->dir = node_rel(fs, p, c->buf, sizeof c->buf);
		c->place = p->place;
		return 1;
	}
	if (p->kind != NODE_VIEW)
		return 0;
	const struct vdir *d = p->vdir;
	if (view_entry(d, name) || view_hides(d, name))
		return 0;
	for (size_t i = 0; i < d->nsrc; i++) {
		int area = area_of_layer(fs, d->src[i].layer);
		if (area && view_source_shows(&d->src[i], name)) {
			c->area = area;
			c->dir = d->src[i].path;
			c->place = view_source_place(d, i);
			return 1;
		}
	}
	return 0;
}

/* Makes DIR's directory at the area path dir, copying the missing ones up
 * from the layers (mode, owner, times). Its descriptor (O_PATH), or -errno. */
static int copy_up_dirs(struct pe_fs *fs, int area, const char *dir)
{
	int cur = layer_dir(fs, 0, area, "");
	if (cur < 0 || !*dir)
		return cur;
	cleanup_free char *p = pe_xstrdup(dir);
	cleanup_free char *prefix = pe_xcalloc(1, strlen(dir) + 1);
	char *save = NULL;
	const struct copyup_opts opts = { .keep_owner = fs->daemon_is_root };
	for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (*prefix)
			strcat(prefix, "/");
		strcat(prefix, c);
		int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			int r = -ENOENT;
			for (size_t i = 1; i < fs->nstack && r == -ENOENT; i++) {
				int src = layer_dir(fs, i, area, prefix);
				if (src < 0)
					continue;
				char pp[PE_PROC_PATH_MAX];
				pe_proc_path(pp, src);
				int rd = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				close(src);
				if (rd < 0) {
					r = -errno;
					break;
				}
				char cp[PE_PROC_PATH_MAX];
				pe_proc_path(cp, cur);
				int w = open(cp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				r = w < 0 ? -errno : copyup_dir(rd, w, c, &opts);
				if (w >= 0)
					close(w);
				close(rd);
			}
			if (r) {
				close(cur);
				return r;
			}
			next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(cur);
		if (next < 0)
			return e == ELOOP ? -ENOTDIR : -e;
		cur = next;
	}
	return cur;
}

int resolve_copy_up(struct pe_fs *fs, struct node *n, int trunc)
{
	if (n->kind != NODE_PASS)
		return -EROFS;
	if (n->writable)
		return 0;
	if (!n->area || !fs->layers[area_layer(fs, 0, n->area)].writable)
		return -EROFS;
	char buf[PATH_MAX];
	const char *rel = node_rel(fs, n, buf, sizeof buf);
	cleanup_free char *dir = NULL;
	const char *name;
	split_rel(rel, &dir, &name);
	if (!*name)
		return -EROFS;
	int dfd = copy_up_dirs(fs, n->area, dir);
	if (dfd < 0)
		return dfd;
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, dfd);
	int w = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = w < 0 ? -errno : 0;
	const struct copyup_opts opts = { .keep_owner = fs->daemon_is_root, .skip_data = trunc };
	if (!r && n->type == S_IFREG) {
		char sp[PE_PROC_PATH_MAX];
		pe_proc_path(sp, n->fd);
		int src = open(sp, O_RDONLY | O_CLOEXEC);
		r = src < 0 ? -errno : copyup_file(src, w, name, fs->tmp_fd, &opts);
		if (src >= 0)
			close(src);
	} else if (!r && n->type == S_IFDIR) {
		char sp[PE_PROC_PATH_MAX];
		pe_proc_path(sp, n->fd);
		int src = open(sp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = src < 0 ? -errno : copyup_dir(src, w, name, &opts);
		if (src >= 0)
			close(src);
	} else if (!r && n->type == S_IFLNK) {
		struct merge_state m;
		r = -ENOENT;
		for (size_t i = 1; i < fs->nstack && r == -ENOENT; i++) {
			if (area_layer(fs, i, n->area) != n->layer)
				continue;
			int sd = layer_dir(fs, i, n->area, dir);
			if (sd < 0)
				continue;
			char sp[PE_PROC_PATH_MAX];
			pe_proc_path(sp, sd);
			int src = open(sp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			close(sd);
			r = src < 0 ? -errno : copyup_symlink(src, name, w, fs->tmp_fd, &opts);
			if (src >= 0)
				close(src);
		}
		(void)m;
	} else if (!r) {
		r = -EROFS;     /* devices, fifos, sockets of a layer stay read-only */
	}
	if (r == -EEXIST)
		r = 0;          /* copied meanwhile: theirs is the env's now */
	if (w >= 0)
		close(w);
	if (!r) {
		int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
		} else {
			/* The node keeps its id and now stands for the copy: its number
			 * is replaced in one step, so no other request sees it closed. */
			if (dup3(fd, n->fd, O_CLOEXEC) < 0)
				r = -errno;
			close(fd);
			if (!r && n->io_fd >= 0) {
				pe_proc_path(pp, n->fd);
				int io = open(pp, O_RDONLY | O_CLOEXEC);
				if (io >= 0) {
					dup3(io, n->io_fd, O_CLOEXEC);
					close(io);
				}
			}
			if (!r) {
				n->layer = (unsigned char)area_layer(fs, 0, n->area);
				n->writable = 1;
			}
		}
	}
	close(dfd);
	return r;
}

/* One layer's entries of a merged directory, and the names its records hide. */
struct layer_ents {
	struct merge_entry *ents;
	size_t n;
	char **names;           /* owned: the entries' and the hides' strings */
	size_t nnames;
	const char **hides;
	size_t nhides;
};

static void take_name(struct layer_ents *le, char *s)
{
	le->names = realloc(le->names, (le->nnames + 1) * sizeof *le->names);
	if (!le->names)
		abort();
	le->names[le->nnames++] = s;
}

static void read_layer_dir_records(struct pe_fs *fs, size_t i, int area, const char *dir, struct layer_ents *le);
static int dist_hidden_in(const struct dist_shadow *s, size_t i, int area, const char *dir, const char *name);
static const struct dist_shadow *dist_current(struct pe_fs *fs);

static void read_layer_dir(struct pe_fs *fs, size_t i, int area, const char *dir, struct layer_ents *le)
{
	const struct dist_shadow *shadow = i ? dist_current(fs) : NULL;
	int pfd = layer_dir(fs, i, area, dir);
	int fd = pfd >= 0 ? pe_open_dir(pfd) : -1;
	if (pfd >= 0)
		close(pfd);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dp && fd >= 0)
		close(fd);
	struct dirent *de;
	size_t cap = 0;
	while (dp && (de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !area_shows(fs, i, area, dir, de->d_name) ||
		    dist_hidden_in(shadow, i, area, dir, de->d_name))
			continue;
		if (le->n == cap) {
			cap = cap ? cap * 2 : 32;
			le->ents = realloc(le->ents, cap * sizeof *le->ents);
			if (!le->ents)
				abort();
		}
		char *s = pe_xstrdup(de->d_name);
		take_name(le, s);
		le->ents[le->n++] = (struct merge_entry){ s, de->d_type };
	}
	if (dp)
		closedir(dp);
	if (fs->stack[i].top >= 0)
		read_layer_dir_records(fs, i, area, dir, le);
}

/* The names layer i's records hide below dir: the names of its node's
 * sub/ with a kind. */
static void read_layer_dir_records(struct pe_fs *fs, size_t i, int area, const char *dir, struct layer_ents *le)
{
	struct dirent *de;
	enum wh_area wa = area == 1 ? WH_AREA_SITE : WH_AREA_UPPER;
	char node[PATH_MAX];
	if (wh_node_path(wa, dir, node, sizeof node - 8))
		return;
	strcat(node, "/" WH_SUB);
	int sfd = openat_beneath(fs->stack[i].top, node, O_PATH | O_DIRECTORY);
	int rfd = sfd >= 0 ? pe_open_dir(sfd) : -1;
	if (sfd >= 0)
		close(sfd);
	DIR *rp = rfd >= 0 ? fdopendir(rfd) : NULL;
	if (!rp && rfd >= 0)
		close(rfd);
	size_t hcap = 0;
	while (rp && (de = readdir(rp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct wh_record rec;
		if (records_read(fs->stack[i].top, wa, dir, de->d_name, &rec) || (rec.kind != WH_HIDE && rec.kind != WH_REDIRECT))
			continue;
		if (le->nhides == hcap) {
			hcap = hcap ? hcap * 2 : 8;
			le->hides = realloc(le->hides, hcap * sizeof *le->hides);
			if (!le->hides)
				abort();
		}
		char *s = pe_xstrdup(de->d_name);
		take_name(le, s);
		le->hides[le->nhides++] = s;
	}
	if (rp)
		closedir(rp);
}

/* ---- a distribution wins as a whole ----------------------------------------- */

/* Which objects of the lower layers belong to a distribution that a higher
 * layer holds too (or removed): they are not shown (dist.h). Built at the
 * first lookup, and again when DIR's top directory changes (an install or
 * removal there); an index replaced is kept until unmount, since other
 * requests may still read it. */
struct dist_index {
	struct dist_shadow shadow;
	struct timespec mtime, ctime;   /* of DIR's top when built */
	struct dist_index *older;
};

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

static void dist_read_layer(struct pe_fs *fs, size_t i, struct dist_layer *dl, int with_records)
{
	int top = layer_dir(fs, i, 1, "");
	int fd = top >= 0 ? pe_open_dir(top) : -1;
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dp && fd >= 0)
		close(fd);
	const char *site_rel = fs->stack[i].target ? "lib/python" : fs->site_rel;
	struct dirent *de;
	while (dp && (de = readdir(dp))) {
		struct dist_id id;
		size_t idx;
		if (dist_parse_entry(de->d_name, &id) || !area_shows(fs, i, 1, "", de->d_name))
			continue;
		/* A distribution is there only with its metadata: a metadata
		 * directory copied up into DIR for a change of one of its files
		 * (pip writing INSTALLER) is not DIR's distribution. */
		struct stat mst;
		cleanup_free char *meta = path_join(de->d_name, id.kind == DIST_INFO ? "METADATA" : "PKG-INFO");
		if (fstatat(top, de->d_name, &mst, AT_SYMLINK_NOFOLLOW) ||
		    (S_ISDIR(mst.st_mode) && fstatat(top, meta, &mst, AT_SYMLINK_NOFOLLOW)))
			continue;
		if (dist_layer_add(dl, de->d_name, &idx))
			continue;
		if (!with_records)
			continue;
		cleanup_free char *rec = path_join(de->d_name, id.kind == DIST_INFO ? "RECORD" : "installed-files.txt");
		size_t len = 0;
		char *buf = read_small(top, rec, &len);
		if (buf)
			(void)dist_layer_add_record(dl, idx, site_rel, buf, len);
		free(buf);
	}
	if (dp)
		closedir(dp);
	if (top >= 0)
		close(top);
	/* A layer's removals of metadata directories are not counted as
	 * removing the distribution: pip's uninstall removes the metadata
	 * directory before the package's own (its stash), and they must stay
	 * until it does. Each file pip removes has its own whiteout. */
}

static const struct dist_shadow *dist_current(struct pe_fs *fs)
{
	struct stat st;
	if (fstat(fs->layers[fs->stack[0].site].fd, &st))
		memset(&st, 0, sizeof st);
	struct dist_index *cur = __atomic_load_n(&fs->dist, __ATOMIC_ACQUIRE);
	if (cur && cur->mtime.tv_sec == st.st_mtim.tv_sec && cur->mtime.tv_nsec == st.st_mtim.tv_nsec &&
	    cur->ctime.tv_sec == st.st_ctim.tv_sec && cur->ctime.tv_nsec == st.st_ctim.tv_nsec)
		return &cur->shadow;
	pthread_mutex_lock(&dist_lock);
	cur = fs->dist;
	if (!cur || cur->mtime.tv_sec != st.st_mtim.tv_sec || cur->mtime.tv_nsec != st.st_mtim.tv_nsec ||
	    cur->ctime.tv_sec != st.st_ctim.tv_sec || cur->ctime.tv_nsec != st.st_ctim.tv_nsec) {
		size_t n = fs->nstack;
		struct dist_layer *dl = pe_xcalloc(n, sizeof *dl);
		for (size_t i = 0; i < n; i++)
			dist_read_layer(fs, i, &dl[i], 0);
		for (size_t i = 1; i < n; i++)
			if (dist_layer_needs_records(dl, n, i)) {
				dist_layer_free(&dl[i]);
				memset(&dl[i], 0, sizeof dl[i]);
				dist_read_layer(fs, i, &dl[i], 1);
			}
		struct dist_index *ni = pe_xcalloc(1, sizeof *ni);
		dist_shadow_build(dl, n, &ni->shadow);
		for (size_t i = 0; i < n; i++)
			dist_layer_free(&dl[i]);
		free(dl);
		ni->mtime = st.st_mtim;
		ni->ctime = st.st_ctim;
		ni->older = cur;
		__atomic_store_n(&fs->dist, ni, __ATOMIC_RELEASE);
		cur = ni;
	}
	pthread_mutex_unlock(&dist_lock);
	return &cur->shadow;
}

static int dist_hidden_in(const struct dist_shadow *s, size_t i, int area, const char *dir, const char *name)
{
	if (i == 0 || !s || !s->nlayers)
		return 0;
	cleanup_free char *path = path_join(dir, name);
	return dist_shadow_hides(s, i, area == 1 ? DIST_AREA_SITE : DIST_AREA_PREFIX, path);
}

static int dist_hidden(struct pe_fs *fs, size_t i, int area, const char *dir, const char *name)
{
	return i == 0 ? 0 : dist_hidden_in(dist_current(fs), i, area, dir, name);
}

void resolve_free_dist(struct pe_fs *fs)
{
	for (struct dist_index *d = fs->dist, *o; d; d = o) {
		o = d->older;
		dist_shadow_free(&d->shadow);
		free(d);
	}
	fs->dist = NULL;
}

static void free_layer_ents(struct layer_ents *le, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < le[i].nnames; k++)
			free(le[i].names[k]);
		free(le[i].names);
		free(le[i].ents);
		free(le[i].hides);
	}
	free(le);
}

/* The merged entries of the area directory rel: each(name, type, arg). */
typedef void (*stack_each_fn)(const char *name, unsigned char type, void *arg);

static int stack_list(struct pe_fs *fs, int area, const char *rel, stack_each_fn each, void *arg)
{
	struct merge_state m;
	cleanup_free char *dir = NULL;
	const char *name;
	split_rel(rel, &dir, &name);
	if (stack_probe(fs, area, dir, name, &m))
		return -ENOENT;
	if (!m.is_dir)
		return -ENOTDIR;
	/* Every layer down to the lowest merged one: the merged ones with their
	 * entries, the others for their records only (a layer above may have
	 * removed names of this directory without holding it). */
	size_t n = m.nlayers ? m.layers[m.nlayers - 1] + 1 : 0;
	struct layer_ents *le = pe_xcalloc(n + 1, sizeof *le);
	struct merge_dir_layer *dl = pe_xcalloc(n + 1, sizeof *dl);
	for (size_t i = 0, k = 0; i < n; i++) {
		if (k < m.nlayers && m.layers[k] == i) {
			read_layer_dir(fs, i, area, rel, &le[i]);
			k++;
		} else if (fs->stack[i].top >= 0) {
			read_layer_dir_records(fs, i, area, rel, &le[i]);
		}
		dl[i] = (struct merge_dir_layer){ i, le[i].ents, le[i].n, le[i].hides, le[i].nhides };
	}
	struct merge_out *out = NULL;
	size_t nout = 0;
	int r = merge_list(dl, n, &out, &nout);
	for (size_t k = 0; !r && k < nout; k++)
		each(out[k].name, out[k].type, arg);
	free(out);
	free(dl);
	free_layer_ents(le, n);
	return r;
}

/* Whether the merged directory rel shows nothing. */
static void count_one(const char *name, unsigned char type, void *arg)
{
	(void)name, (void)type;
	++*(size_t *)arg;
}

int resolve_remove(struct pe_fs *fs, struct node *p, const char *name, int flags, struct target *t)
{
	*t = (struct target){ .dfd = -1 };
	struct stack_ctx c;
	if (!stack_ctx(fs, p, name, &c))
		return resolve_existing(fs, p, name, t);
	struct merge_state m;
	if (stack_probe(fs, c.area, c.dir, name, &m))
		return resolve_existing(fs, p, name, t);        /* another source's (the base's): EROFS */
	if (!fs->layers[area_layer(fs, 0, c.area)].writable)
		return -EROFS;
	if ((flags & AT_REMOVEDIR) && !m.is_dir)
		return -ENOTDIR;
	if (!(flags & AT_REMOVEDIR) && m.is_dir)
		return -EISDIR;
	if (m.is_dir) {
		cleanup_free char *rel = path_join(c.dir, name);
		size_t count = 0;
		int r = stack_list(fs, c.area, rel, count_one, &count);
		if (r)
			return r;
		if (count)
			return -ENOTEMPTY;
	}
	struct merge_state below;
	stack_probe_from(fs, c.area, c.dir, name, 1, &below);
	/* Nothing is made in DIR for a removal: the record is enough (a copied
	 * up metadata directory would count as DIR's distribution). */
	int dfd = -1;
	if (m.top == 0) {
		dfd = layer_dir(fs, 0, c.area, c.dir);
		if (dfd < 0)
			return dfd;
	}
	*t = (struct target){ dfd, name, { c.place, (unsigned char)area_layer(fs, 0, c.area), 1, 0, 0, NULL },
			      dfd >= 0, NULL, 0 };
	/* The whiteout first: a crash after it hides the name (the new view). */
	if (below.found) {
		int r = records_set(fs->stack[0].top, c.area == 1 ? WH_AREA_SITE : WH_AREA_UPPER, c.dir, name, WH_HIDE, NULL);
		if (r)
			return r;
	}
	if (m.top == 0 && unlinkat(dfd, name, flags))
		return -errno;
	return 0;
}

int resolve_rename(struct pe_fs *fs, struct node *p, const char *name, struct node *np, const char *newname,
		   unsigned flags, struct target *from, struct target *to)
{
	*from = *to = (struct target){ .dfd = -1 };
	struct stack_ctx c, nc;
	if (!stack_ctx(fs, p, name, &c) || !stack_ctx(fs, np, newname, &nc))
		return 1;       /* not stacked: the caller's rules */
	struct merge_state m, nm, below, nbelow;
	if (stack_probe(fs, c.area, c.dir, name, &m))
		return 1;
	if (!fs->layers[area_layer(fs, 0, c.area)].writable)
		return -EROFS;
	if (c.area != nc.area)
		return -EXDEV;
	/* A layer's object, or a directory merging one, is not renamed: EXDEV
	 * makes mv and shutil.move copy it (up) and remove it (a whiteout). */
	if (m.top != 0 || (m.is_dir && m.nlayers > 1))
		return -EXDEV;
	int dst = stack_probe(fs, nc.area, nc.dir, newname, &nm) == 0;
	if (dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (dst && (nm.top != 0 || (nm.is_dir && nm.nlayers > 1)) && (nm.is_dir || (flags & RENAME_EXCHANGE)))
		return -EXDEV;
	if (dst && nm.is_dir != m.is_dir)
		return nm.is_dir ? -EISDIR : -ENOTDIR;
	stack_probe_from(fs, c.area, c.dir, name, 1, &below);
	stack_probe_from(fs, nc.area, nc.dir, newname, 1, &nbelow);
	if (below.found && (flags & RENAME_EXCHANGE))
		return -EXDEV;
	int sfd = copy_up_dirs(fs, c.area, c.dir);
	if (sfd < 0)
		return sfd;
	*from = (struct target){ sfd, name, { c.place, (unsigned char)area_layer(fs, 0, c.area), 1, 0, 0, NULL }, 1, NULL, 0 };
	int dfd = copy_up_dirs(fs, nc.area, nc.dir);
	if (dfd < 0)
		return dfd;
	*to = (struct target){ dfd, newname, { nc.place, (unsigned char)area_layer(fs, 0, nc.area), 1, 0, 0, NULL }, 1, NULL, 0 };
	enum wh_area wa = c.area == 1 ? WH_AREA_SITE : WH_AREA_UPPER;
	int r = 0;
	if (nbelow.found && !(flags & RENAME_EXCHANGE))
		r = records_set(fs->stack[0].top, wa, nc.dir, newname, WH_HIDE, NULL);
	if (!r && below.found)
		r = records_set(fs->stack[0].top, wa, c.dir, name, WH_HIDE, NULL);
	if (!r && renameat2(sfd, name, dfd, newname, flags))
		r = -errno;
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
		const struct layer *l = layer_of(fs, v->layer);
		if (area_of_layer(fs, v->layer) && v->path[0] != '/') {
			if (l->make_dirs && v->writable)
				(void)resolve_make_dirs(fs, v->layer, v->path);
			cleanup_free char *dir = NULL;
			const char *name;
			split_rel(v->path, &dir, &name);
			struct merge_state m;
			int r = stack_probe(fs, area_of_layer(fs, v->layer), dir, name, &m);
			return r ? r : stack_node(fs, area_of_layer(fs, v->layer), dir, name, v->place, &m, out);
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
	if (stack_ctx(fs, p, name, &c)) {
		struct merge_state m;
		if (!stack_probe(fs, c.area, c.dir, name, &m))
			return stack_node(fs, c.area, c.dir, name, c.place, &m, out);
		if (p->kind == NODE_PASS)
			return -ENOENT;
	}
	if (p->kind == NODE_PASS) {
		if (p->site_root && view_reserved(name))
			return -ENOENT;
		struct origin o = { p->place, p->layer, p->writable, 0, 0, NULL };
		return node_at(fs, p->fd, name, 0, &o, out);
	}
	const struct vdir *d = p->vdir;
	const struct vent *v = view_entry(d, name);
	if (v)
		return lookup_fixed(fs, v, out);
	if (view_hides(d, name))
		return -ENOENT;
	/* The first source that has the name answers. */
	for (size_t i = 0; i < d->nsrc; i++) {
		if (!view_source_shows(&d->src[i], name) || area_of_layer(fs, d->src[i].layer))
			continue;
		struct target t;
		if (source_dir(fs, d, i, name, &t))
			continue;       /* that layer has no such directory (yet) */
		int r = node_at(fs, t.dfd, name, 0, &t.origin, out);
		target_release(&t);
		if (r != -ENOENT)
			return r;
	}
	return -ENOENT;
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
		unsigned dl = area_layer(fs, 0, c.area);
		if (!fs->layers[dl].writable)
			return -EROFS;
		if (c.area == 1 && !*c.dir && view_reserved(name))
			return -EPERM;
		int dfd = copy_up_dirs(fs, c.area, c.dir);
		if (dfd < 0)
			return dfd;
		*t = (struct target){ dfd, name, { c.place, (unsigned char)dl, 1, 0, 0, NULL }, 1, pe_xstrdup(c.dir), c.area };
		return 0;
	}
	if (p->kind == NODE_PASS) {
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
	if (!ws)
		return -EROFS;
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
	if (stack_ctx(fs, p, name, &c)) {
		struct merge_state m;
		if (!stack_probe(fs, c.area, c.dir, name, &m)) {
			if (m.top != 0 || !fs->layers[area_layer(fs, 0, c.area)].writable)
				return -EROFS;
			int dfd = copy_up_dirs(fs, c.area, c.dir);
			if (dfd < 0)
				return dfd;
			*t = (struct target){ dfd, name, { c.place, (unsigned char)area_layer(fs, 0, c.area), 1, 0, 0, NULL }, 1, NULL, 0 };
			return 0;
		}
		if (p->kind == NODE_PASS)
			return -ENOENT;
	}
	if (p->kind == NODE_PASS) {
		if (p->site_root && view_reserved(name))
			return -ENOENT;
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
		if (area_of_layer(fs, d->src[i].layer) || !source_has(fs, d, i, name))
			continue;
		if (!d->src[i].writable)
			return -EROFS;
		return source_dir(fs, d, i, name, t);
	}
	return -ENOENT;
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
		if (area_of_layer(fs, d->src[i].layer)) {
			struct list_arg a = { h, &seen, d, &d->src[i] };
			(void)stack_list(fs, area_of_layer(fs, d->src[i].layer), d->src[i].path, list_add_one, &a);
			continue;
		}
		struct target t;
		if (source_dir(fs, d, i, NULL, &t))
			continue;
		int fd = pe_open_dir(t.dfd);
		target_release(&t);
		DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
		if (!dp) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(dp))) {
			if (view_hides(d, de->d_name) || !view_source_shows(&d->src[i], de->d_name))
				continue;
			listing_add(h, &seen, de->d_name, de->d_type);
		}
		closedir(dp);
	}
	free(seen.slot);
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
		int r = stack_list(fs, n->area, node_rel(fs, n, buf, sizeof buf), list_add_one, &a);
		free(seen.slot);
		if (r) {
			listing_free(h);
			return r;
		}
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

int resolve_list_cacheable(const struct node *n)
{
	return n->kind == NODE_PASS ? !n->area : !view_writable_source(n->vdir);
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
