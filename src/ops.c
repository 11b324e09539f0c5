#include "ops.h"
#include "passthrough.h"
#include "stats.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PROC_PATH_MAX 64
/* The place of a non-directory: one per layer, apart from every view place. */
#define NONDIR_PLACE(layer) (0x80000000u | (unsigned)(layer))

static struct pe_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs_of(req)->vnodes[0];
	return (struct node *)(uintptr_t)ino;
}

static fuse_ino_t id_of(struct pe_fs *fs, struct node *n)
{
	return n == &fs->vnodes[0] ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static void proc_path(char buf[PROC_PATH_MAX], int fd)
{
	snprintf(buf, PROC_PATH_MAX, "/proc/self/fd/%d", fd);
}

/* A readable descriptor of the directory behind an O_PATH one.  Through
 * /proc, not openat(fd, "."): that would need search permission on it,
 * which listing a directory does not (an unprivileged daemon saw EACCES). */
static int open_dir_fd(int path_fd)
{
	char pp[PROC_PATH_MAX];
	proc_path(pp, path_fd);
	return open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static double layer_timeout(const struct pe_fs *fs, int layer)
{
	return layer == LAYER_BASE ? fs->base_timeout : fs->site_timeout;
}

static double node_timeout(const struct pe_fs *fs, const struct node *n)
{
	if (n->kind == NODE_PASS)
		return layer_timeout(fs, n->layer);
	/* A view directory that takes the env's files changes with DIR. */
	if (n->kind == NODE_VIEW && view_writable_source(n->vdir))
		return fs->site_timeout;
	return fs->base_timeout;
}


/* ---- attributes ---------------------------------------------------------- */

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
static void show_mode(const struct node *n, struct stat *st)
{
	if (!n->writable)
		st->st_mode &= (mode_t)~(S_IWUSR | S_IWGRP | S_IWOTH);
}

/* What the view shows of a node's attributes. */
static int node_stat(struct pe_fs *fs, struct node *n, struct stat *st)
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
			if (fstatat(fs->layer_fd[s->layer], *s->path ? s->path : ".", &up, 0) != 0)
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
		show_mode(n, st);
		return 0;
	}
	return -EIO;
}

static void fill_entry(struct pe_fs *fs, struct node *n, const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = id_of(fs, n);
	e->attr = *st;
	e->attr_timeout = e->entry_timeout = node_timeout(fs, n);
}

/* ---- finding things ------------------------------------------------------ */

/* The entry for name in the backing directory dfd, as a node at place. */
static int entry_at(struct pe_fs *fs, int dfd, const char *name, int follow, unsigned place, int layer,
		    int writable, int site_root, struct fuse_entry_param *e)
{
	/* Only the base's own symlinks are followed (bin/python shows the
	 * interpreter); in DIR and the env's area, a symlink is shown as one. */
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
	if (!S_ISDIR(st.st_mode))
		place = NONDIR_PLACE(layer);
	struct node *n = node_get(fs->nodes, fd, &st, place, layer, writable, site_root);
	show_mode(n, &st);
	fill_entry(fs, n, &st, e);
	return 0;
}

/* The directory of source i of d; *owned says whether the caller closes it. */
static int source_fd(struct pe_fs *fs, const struct vdir *d, size_t i, int *owned)
{
	const struct view_source *s = &d->src[i];
	*owned = 0;
	if (s->layer == LAYER_BASE) {
		int fd = fs->base_src_fd[d->id * VIEW_MAX_SOURCES + i];
		return fd >= 0 ? fd : -ENOENT;
	}
	if (!*s->path)
		return fs->layer_fd[s->layer];
	int fd = openat_beneath(fs->layer_fd[s->layer], s->path, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	*owned = 1;
	return fd;
}

static int ensure_dir(struct pe_fs *fs, int layer, const char *path);
static void names_changed(struct pe_fs *fs, int dfd, const char *name, fuse_ino_t acting);
static void dir_changed(struct pe_fs *fs, struct node *n);

static int entry_of_vent(struct pe_fs *fs, const struct vent *v, struct fuse_entry_param *e)
{
	struct stat st;
	struct node *n;
	switch (v->kind) {
	case VENT_DIR:
		n = &fs->vnodes[v->dir->id];
		break;
	case VENT_GEN:
		n = &fs->gnodes[v->gen];
		break;
	case VENT_ANCHOR: {
		int dfd = v->path[0] == '/' ? AT_FDCWD : fs->layer_fd[v->layer];
		/* The base's anchors follow symlinks: bin/python shows the
		 * interpreter itself.  The env's never do. */
		int follow = v->layer == LAYER_BASE;
		int r = entry_at(fs, dfd, *v->path ? v->path : ".", follow, v->place, v->layer,
				 v->writable, v->site_root, e);
		/* The env's own directory is always there: made again if removed. */
		if (r == -ENOENT && v->layer == LAYER_UPPER && v->writable && ensure_dir(fs, LAYER_UPPER, v->path) == 0)
			r = entry_at(fs, dfd, v->path, follow, v->place, v->layer, v->writable, 0, e);
		return r;
	}
	default:
		return -EIO;
	}
	node_stat(fs, n, &st);
	fill_entry(fs, n, &st, e);
	return 0;
}

/* Whether name exists in source i of d (without following symlinks). */
static int source_has(struct pe_fs *fs, const struct vdir *d, size_t i, const char *name)
{
	if (!view_source_shows(&d->src[i], name))
		return 0;
	int owned, dfd = source_fd(fs, d, i, &owned);
	if (dfd < 0)
		return 0;
	struct stat st;
	int found = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (owned)
		close(dfd);
	return found;
}

static int do_lookup(struct pe_fs *fs, struct node *p, const char *name, struct fuse_entry_param *e)
{
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	if (p->kind == NODE_PASS) {
		if (p->site_root && view_reserved(name))
			return -ENOENT;
		return entry_at(fs, p->fd, name, 0, p->place, p->layer, p->writable, 0, e);
	}
	const struct vdir *d = p->vdir;
	const struct vent *v = view_entry(d, name);
	if (v)
		return entry_of_vent(fs, v, e);
	if (view_hides(d, name))
		return -ENOENT;
	for (size_t i = 0; i < d->nsrc; i++) {
		if (!view_source_shows(&d->src[i], name))
			continue;
		int owned, dfd = source_fd(fs, d, i, &owned);
		if (dfd < 0)
			continue;       /* that layer has no such directory (yet) */
		int r = entry_at(fs, dfd, name, 0, view_source_place(d, i), d->src[i].layer,
				 d->src[i].writable, 0, e);
		if (owned)
			close(dfd);
		if (r != -ENOENT)
			return r;
	}
	return -ENOENT;
}

static void reply_entry(fuse_req_t req, struct pe_fs *fs, struct node *p, int r, struct fuse_entry_param *e)
{
	if (r == -ENOENT && p) {
		/* A negative entry: the kernel remembers the miss (Python asks for
		 * many names that are not there). */
		memset(e, 0, sizeof *e);
		e->entry_timeout = node_timeout(fs, p);   /* as long as the directory's own */
		fuse_reply_entry(req, e);
	} else if (r) {
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, e);
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_count(STAT_LOOKUP);
	struct pe_fs *fs = fs_of(req);
	struct node *p = node_of(req, parent);
	struct fuse_entry_param e;
	reply_entry(req, fs, p, do_lookup(fs, p, name, &e), &e);
}

static void forget_one(struct pe_fs *fs, struct node *n, uint64_t nlookup)
{
	if (n->kind == NODE_PASS)
		node_forget(fs->nodes, n, nlookup);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	stats_count(STAT_FORGET);
	forget_one(fs_of(req), node_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *list)
{
	stats_count(STAT_FORGET);
	for (size_t i = 0; i < count; i++)
		forget_one(fs_of(req), node_of(req, list[i].ino), list[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_GETATTR);
	(void)fi;
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct stat st;
	int r = node_stat(fs, n, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, node_timeout(fs, n));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	stats_count(STAT_READLINK);
	struct node *n = node_of(req, ino);
	char buf[PATH_MAX + 1];
	if (n->kind != NODE_PASS) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ssize_t r = readlinkat(n->fd, "", buf, sizeof buf);
	if (r < 0)
		fuse_reply_err(req, errno);
	else if (r >= (ssize_t)sizeof buf)
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[r] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* ---- changing things ----------------------------------------------------- */

/* A backing directory where a name is created, renamed or removed. */
struct target {
	int dfd;
	int owned;
	unsigned place;
	int layer;
	const char *name;       /* the name in dfd: a view name, or an anchor's backing name */
};

static void target_release(struct target *t)
{
	if (t->owned)
		close(t->dfd);
	t->owned = 0;
}

/* Makes path (relative to the layer root) and its parents, owned like DIR,
 * one component at a time and following no symlink (the user may have put
 * one in the env's area natively: it is not followed). */
static int ensure_dir(struct pe_fs *fs, int layer, const char *path)
{
	cleanup_free char *p = pe_xstrdup(path);
	int cur = fs->layer_fd[layer], r = 0;
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
		if (cur != fs->layer_fd[layer])
			close(cur);
		cur = next;
	}
	if (cur >= 0 && cur != fs->layer_fd[layer])
		close(cur);
	return r;
}

/* Where a new name in p goes. */
static int new_name_target(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	memset(t, 0, sizeof *t);
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	if (p->kind == NODE_PASS) {
		if (!p->writable)
			return -EROFS;
		if (p->site_root && view_reserved(name))
			return -EPERM;
		*t = (struct target){ p->fd, 0, p->place, p->layer, name };
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
	size_t wi = (size_t)(ws - d->src);
	for (size_t i = 0; i < wi; i++)
		if (source_has(fs, d, i, name))
			return -EEXIST;
	int dfd = source_fd(fs, d, wi, &t->owned);
	if (dfd == -ENOENT) {
		/* The env's directory behind this one is made on first use. */
		int r = ensure_dir(fs, ws->layer, ws->path);
		if (r)
			return r;
		dfd = source_fd(fs, d, wi, &t->owned);
	}
	if (dfd < 0)
		return dfd;
	*t = (struct target){ dfd, t->owned, view_source_place(d, wi), ws->layer, name };
	return 0;
}

/* An anchor into the env's own area (Debian's local/bin) is the env's: it
 * may be renamed or removed like any directory of DIR. Everything else fixed
 * in the view is not. */
static int anchor_target(struct pe_fs *fs, const struct vent *v, struct target *t)
{
	if (v->kind != VENT_ANCHOR || v->layer != LAYER_UPPER || !v->writable || !*v->path)
		return -EROFS;
	const char *slash = strrchr(v->path, '/');
	t->layer = LAYER_UPPER;
	t->place = v->place;
	if (!slash) {
		t->dfd = fs->layer_fd[LAYER_UPPER];
		t->name = v->path;
		return 0;
	}
	cleanup_free char *dir = strndup(v->path, (size_t)(slash - v->path));
	if (!dir)
		return -ENOMEM;
	t->dfd = openat_beneath(fs->layer_fd[LAYER_UPPER], dir, O_PATH | O_DIRECTORY);
	if (t->dfd < 0)
		return -errno;
	t->owned = 1;
	t->name = slash + 1;
	return 0;
}

/* Where the existing name in p is, if the env may change it. */
static int existing_target(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	memset(t, 0, sizeof *t);
	if (p->kind == NODE_GEN)
		return -ENOTDIR;
	if (p->kind == NODE_PASS) {
		if (p->site_root && view_reserved(name))
			return -ENOENT;
		if (!p->writable)
			return -EROFS;
		*t = (struct target){ p->fd, 0, p->place, p->layer, name };
		return 0;
	}
	const struct vdir *d = p->vdir;
	const struct vent *v = view_entry(d, name);
	if (v)
		return anchor_target(fs, v, t);
	if (view_hides(d, name))
		return -ENOENT;
	for (size_t i = 0; i < d->nsrc; i++) {
		if (!source_has(fs, d, i, name))
			continue;
		if (!d->src[i].writable)
			return -EROFS;
		int dfd = source_fd(fs, d, i, &t->owned);
		if (dfd < 0)
			return dfd;
		*t = (struct target){ dfd, t->owned, view_source_place(d, i), d->src[i].layer, name };
		return 0;
	}
	return -ENOENT;
}

/* The kernel checked the caller may do this; a root daemon then makes what
 * it created the caller's, as the caller would have made it. */
static void give_to_caller(fuse_req_t req, struct pe_fs *fs, int dfd, const char *name, mode_t mode)
{
	if (!fs->daemon_is_root)
		return;
	const struct fuse_ctx *c = fuse_req_ctx(req);
	if (c->uid == 0 && c->gid == 0)
		return;
	struct stat pst;
	gid_t gid = c->gid;
	if (fstatat(dfd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID))
		gid = (gid_t)-1;        /* a setgid directory decides the group */
	if (fchownat(dfd, name, c->uid, gid, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(mode) && !S_ISLNK(mode) && (mode & (S_ISUID | S_ISGID)))
		/* A chown clears the setuid/setgid bits of a non-directory; the
		 * kernel has already stripped what the caller may not have. */
		(void)fchmodat(dfd, name, mode & 07777, 0);
}

enum make_kind { MAKE_DIR, MAKE_NOD, MAKE_SYMLINK };

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, enum make_kind kind,
		      mode_t mode, dev_t rdev, const char *link)
{
	struct pe_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct target t;
	int r = new_name_target(fs, node_of(req, parent), name, &t);
	if (!r) {
		if (kind == MAKE_DIR)
			r = mkdirat(t.dfd, name, mode);
		else if (kind == MAKE_NOD)
			r = mknodat(t.dfd, name, mode, rdev);
		else
			r = symlinkat(link, t.dfd, name);
		r = r ? -errno : 0;
	}
	if (!r) {
		mode_t made = kind == MAKE_DIR ? (mode | S_IFDIR) : kind == MAKE_SYMLINK ? S_IFLNK : mode;
		give_to_caller(req, fs, t.dfd, name, made);
		names_changed(fs, t.dfd, name, parent);
		r = entry_at(fs, t.dfd, name, 0, t.place, t.layer, 1, 0, &e);
	}
	target_release(&t);
	reply_entry(req, fs, NULL, r, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	stats_count(STAT_MKDIR);
	make_node(req, parent, name, MAKE_DIR, mode, 0, NULL);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	stats_count(STAT_MKNOD);
	make_node(req, parent, name, MAKE_NOD, mode, rdev, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	stats_count(STAT_SYMLINK);
	make_node(req, parent, name, MAKE_SYMLINK, 0, 0, link);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	stats_count(STAT_LINK);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct fuse_entry_param e;
	struct target t = { 0 };
	int r;
	/* A hard link to a base file would let a write through DIR reach the base. */
	if (n->kind != NODE_PASS || !n->writable)
		r = -EROFS;
	else
		r = new_name_target(fs, node_of(req, newparent), newname, &t);
	if (!r) {
		char pp[PROC_PATH_MAX];
		proc_path(pp, n->fd);
		r = linkat(AT_FDCWD, pp, t.dfd, newname, AT_SYMLINK_FOLLOW) ? -errno : 0;
	}
	if (!r) {
		names_changed(fs, t.dfd, newname, newparent);
		r = entry_at(fs, t.dfd, newname, 0, t.place, t.layer, 1, 0, &e);
	}
	target_release(&t);
	reply_entry(req, fs, NULL, r, &e);
}

/* -EPERM when a sticky directory forbids the caller to remove or replace
 * name. The kernel checked it against the object it believes is there; DIR
 * may have changed under it within site_timeout, and this root daemon would
 * remove anyone's file. So the check is made again on what is there. */
static int sticky_check(fuse_req_t req, struct pe_fs *fs, int dfd, const char *name)
{
	if (!fs->daemon_is_root)
		return 0;
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct stat d, s;
	if (c->uid == 0 || fstatat(dfd, "", &d, AT_EMPTY_PATH) || !(d.st_mode & S_ISVTX))
		return 0;
	if (fstatat(dfd, name, &s, AT_SYMLINK_NOFOLLOW))
		return 0;               /* nothing there: nothing to protect */
	return s.st_uid != c->uid && d.st_uid != c->uid ? -EPERM : 0;
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct pe_fs *fs = fs_of(req);
	struct target t;
	int r = existing_target(fs, node_of(req, parent), name, &t);
	if (!r)
		r = sticky_check(req, fs, t.dfd, t.name);
	if (!r)
		r = unlinkat(t.dfd, t.name, flags) ? -errno : 0;
	if (!r)
		names_changed(fs, t.dfd, t.name, parent);
	target_release(&t);
	fuse_reply_err(req, -r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_count(STAT_UNLINK);
	remove_name(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_count(STAT_RMDIR);
	remove_name(req, parent, name, AT_REMOVEDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	stats_count(STAT_RENAME);
	struct pe_fs *fs = fs_of(req);
	struct target from, to = { 0 };
	int r = existing_target(fs, node_of(req, parent), name, &from);
	if (!r) {
		r = existing_target(fs, node_of(req, newparent), newname, &to);
		if (r == -ENOENT)
			r = new_name_target(fs, node_of(req, newparent), newname, &to);
	}
	if (!r)
		r = sticky_check(req, fs, from.dfd, from.name);
	if (!r)
		r = sticky_check(req, fs, to.dfd, to.name);
	if (!r)
		r = renameat2(from.dfd, from.name, to.dfd, to.name, flags) ? -errno : 0;
	if (!r) {
		names_changed(fs, from.dfd, from.name, parent);
		names_changed(fs, to.dfd, to.name, newparent);
	}
	target_release(&from);
	target_release(&to);
	fuse_reply_err(req, -r);
}

static int set_times(struct node *n, const struct timespec tv[2], struct fuse_file_info *fi)
{
	if (fi)
		return futimens((int)fi->fh, tv);
	if (S_ISLNK(n->type))
		return utimensat(n->fd, "", tv, AT_EMPTY_PATH);
	char pp[PROC_PATH_MAX];
	proc_path(pp, n->fd);
	return utimensat(AT_FDCWD, pp, tv, 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	stats_count(STAT_SETATTR);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	char pp[PROC_PATH_MAX];
	int r = 0;

	if (n->kind != NODE_PASS || !n->writable) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (fi && !fi->fh)
		fi = NULL;              /* opened by the kernel itself: work by path */
	proc_path(pp, n->fd);
	if ((valid & FUSE_SET_ATTR_MODE) && !S_ISLNK(n->type))
		r = fi ? fchmod((int)fi->fh, attr->st_mode) : chmod(pp, attr->st_mode);
	if (!r && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = fchownat(n->fd, "", (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
			     (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (!r && (valid & FUSE_SET_ATTR_SIZE))
		r = fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(pp, attr->st_size);
	if (!r && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		r = set_times(n, tv, fi);
	}
	if (r) {
		fuse_reply_err(req, errno);
		return;
	}
	dir_changed(fs, n);
	struct stat st;
	r = node_stat(fs, n, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, node_timeout(fs, n));
}

/* ---- files ---------------------------------------------------------------- */

enum io_use { IO_READ, IO_WRITE, IO_ANY };

/* The descriptor for a request on an open file: its handle, or (when the
 * kernel opened the file itself: no handle) one of the node's own, opened on
 * first use: O_RDONLY for reading, O_WRONLY for writing (the kernel checked
 * the caller's permission for what it opened; a file may be write-only, or
 * become writable after it was read).  IO_ANY (fsync, lseek) takes either. */
static int io_fd(struct node *n, struct fuse_file_info *fi, enum io_use use)
{
	if (fi && fi->fh)
		return (int)fi->fh;
	if (n->kind != NODE_PASS)
		return -1;
	int fd = -1;
	if (use != IO_WRITE && (fd = __atomic_load_n(&n->io_fd, __ATOMIC_ACQUIRE)) >= 0)
		return fd;
	if (use != IO_READ && (fd = __atomic_load_n(&n->io_wfd, __ATOMIC_ACQUIRE)) >= 0)
		return fd;
	if (use == IO_WRITE && !n->writable) {
		errno = EROFS;
		return -1;
	}
	char pp[PROC_PATH_MAX];
	proc_path(pp, n->fd);
	int *slot = use == IO_WRITE ? &n->io_wfd : &n->io_fd;
	fd = open(pp, (use == IO_WRITE ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 && use == IO_ANY && n->writable) {
		slot = &n->io_wfd;
		fd = open(pp, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	int none = -1;
	if (!__atomic_compare_exchange_n(slot, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);              /* another thread was first */
		return none;
	}
	return fd;
}

/* fd, opened with flags on n's object, becomes n's own descriptor for
 * reading or writing (io_fd), or is closed if n has one already. */
static void keep_as_node_fd(struct node *n, int fd, int flags)
{
	int *slot = (flags & O_ACCMODE) == O_RDONLY ? &n->io_fd : &n->io_wfd;
	int fl = fcntl(fd, F_GETFL);
	/* The node's descriptor writes where it is told (pwrite). */
	if (fl >= 0 && (fl & (O_APPEND | O_DIRECT)))
		(void)fcntl(fd, F_SETFL, fl & ~(O_APPEND | O_DIRECT));
	int none = -1;
	if (n->kind != NODE_PASS ||
	    !__atomic_compare_exchange_n(slot, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		close(fd);
}

static int wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	stats_count(STAT_CREATE);
	struct pe_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct target t;
	int fd = -1;
	int r = new_name_target(fs, node_of(req, parent), name, &t);
	if (!r) {
		/* Always exclusive: the kernel sends CREATE when it believes the
		 * name absent, but a negative entry it keeps may be stale (DIR
		 * written directly). Opening an existing file here, as root, would
		 * skip the permission check and give the file to the caller. */
		fd = openat(t.dfd, name, (fi->flags | O_CREAT | O_EXCL | O_CLOEXEC) & ~O_NOFOLLOW, mode);
		r = fd < 0 ? -errno : 0;
		/* Without O_EXCL asked for, ESTALE has the kernel look the name up
		 * again (LOOKUP_REVAL) and open what it finds, checking permissions. */
		if (r == -EEXIST && !(fi->flags & O_EXCL))
			r = -ESTALE;
	}
	if (!r) {
		give_to_caller(req, fs, t.dfd, name, S_IFREG | (mode & 07777));
		names_changed(fs, t.dfd, name, parent);
		r = entry_at(fs, t.dfd, name, 0, t.place, t.layer, 1, 0, &e);
	}
	target_release(&t);
	if (r) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)fd;
	if (fs->no_open) {
		/* Once an OPEN has answered ENOSYS, the kernel sends no RELEASE for
		 * a created file's handle either (measured on 6.18: one descriptor
		 * leaked per create). Keep it as the node's own instead. */
		fi->fh = 0;
		keep_as_node_fd(node_of(req, e.ino), fd, fi->flags);
		fuse_reply_create(req, &e, fi);
		return;
	}
	struct node *made = node_of(req, e.ino);
	pt_open(req, e.ino, made->dev, made->ino, fd, fi);
	if (fuse_reply_create(req, &e, fi)) {
		pt_release(req, e.ino);
		close(fd);
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_OPEN);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	if (n->kind == NODE_VIEW) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (wants_write(fi->flags) && (n->kind == NODE_GEN || !n->writable)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);    /* "done; open the others yourself" */
		return;
	}
	if (n->kind == NODE_GEN) {
		fi->fh = 0;
		fi->keep_cache = 1;
		fi->noflush = 1;
		fuse_reply_open(req, fi);
		return;
	}
	char pp[PROC_PATH_MAX];
	proc_path(pp, n->fd);
	int fd = open(pp, (fi->flags | O_CLOEXEC) & ~(O_NOFOLLOW | O_CREAT | O_EXCL));
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	/* Pages are kept across opens. What is written through the mount updates
	 * them; a change made directly in DIR (or an upgraded base) is noticed
	 * when the kernel next asks for the attributes, within the timeout
	 * (auto_inval_data compares mtime and size). */
	fi->keep_cache = 1;
	/* Nothing to flush from a file that cannot be written: spare the request. */
	fi->noflush = !n->writable;
	if (S_ISREG(n->type))
		pt_open(req, ino, n->dev, n->ino, fd, fi);
	if (fuse_reply_open(req, fi)) {
		if (S_ISREG(n->type))
			pt_release(req, ino);
		close(fd);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	stats_count(STAT_READ);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	if (n->kind == NODE_GEN) {
		size_t len = fs->gen_len[n->gen];
		size_t start = off < 0 || (size_t)off > len ? len : (size_t)off;
		size_t count = len - start < size ? len - start : size;
		fuse_reply_buf(req, fs->gen[n->gen] + start, count);
		return;
	}
	int fd = io_fd(n, fi, IO_READ);
	if (fd < 0) {
		fuse_reply_err(req, errno ? errno : EBADF);
		return;
	}
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, 0);
}

/* Sends the queued invalidations (inval_later), from a thread of its own:
 * a notification may wait in the kernel for the reply to the request that
 * caused it (a refused write through a shared mapping holds the pages), and
 * a request's own thread would then wait for itself. */
static void *inval_worker(void *arg)
{
	struct pe_fs *fs = arg;
	pthread_mutex_lock(&fs->inval_lock);
	for (;;) {
		while (!fs->ninval && !fs->inval_stop)
			pthread_cond_wait(&fs->inval_cond, &fs->inval_lock);
		if (fs->inval_stop)
			break;
		struct inval it = fs->inval[--fs->ninval];
		pthread_mutex_unlock(&fs->inval_lock);
		if (it.name)
			fuse_lowlevel_notify_inval_entry(fs->se, it.ino, it.name, strlen(it.name));
		else
			fuse_lowlevel_notify_inval_inode(fs->se, it.ino, 0, 0);
		free(it.name);
		/* Until now the node's id could not be given to another node. */
		if (it.ref)
			node_forget(fs->nodes, it.ref, 1);
		pthread_mutex_lock(&fs->inval_lock);
	}
	pthread_mutex_unlock(&fs->inval_lock);
	return NULL;
}

/* Queues what the kernel must forget about n (an entry, or with name NULL an
 * inode's pages); sent by a thread of its own once the current request is
 * replied to.  n must be alive: the request's own node, or one the caller
 * holds a reference to.  The queue holds one of its own until it is sent,
 * so that the node's id names the same node then. */
static void inval_later(struct pe_fs *fs, struct node *n, const char *name)
{
	if (!fs->se)
		return;
	struct node *ref = n->kind == NODE_PASS ? n : NULL;
	if (ref)
		node_ref(fs->nodes, ref);
	pthread_mutex_lock(&fs->inval_lock);
	if (!fs->inval_thread_started && !fs->inval_stop &&
	    pthread_create(&fs->inval_thread, NULL, inval_worker, fs) == 0)
		fs->inval_thread_started = 1;
	/* A full queue drops the item: the timeouts still bound what is stale. */
	int queued = fs->ninval < sizeof fs->inval / sizeof fs->inval[0] && !fs->inval_stop;
	if (queued)
		fs->inval[fs->ninval++] = (struct inval){ id_of(fs, n), name ? pe_xstrdup(name) : NULL, ref };
	pthread_cond_signal(&fs->inval_cond);
	pthread_mutex_unlock(&fs->inval_lock);
	if (!queued && ref)
		node_forget(fs->nodes, ref, 1);
}

static void drop_cached_pages_later(struct pe_fs *fs, struct node *n)
{
	inval_later(fs, n, NULL);
}

/* A directory's attributes changed through n: its nodes at DIR's other
 * places must forget them (files have one node, wherever they show). */
static void dir_changed(struct pe_fs *fs, struct node *n)
{
	if (n->kind != NODE_PASS || !S_ISDIR(n->type))
		return;
	for (size_t i = 0; i < fs->nalias_places; i++) {
		struct node *other = node_find_ref(fs->nodes, n->dev, n->ino, fs->alias_places[i]);
		if (!other)
			continue;
		if (other != n)
			inval_later(fs, other, NULL);
		node_forget(fs->nodes, other, 1);
	}
}

/* A name changed in the backing directory dfd. Every other node showing that
 * directory (DIR under site-packages and Debian's local/.../dist-packages; the
 * env's scripts under bin and local/bin) must forget what it knew of the name,
 * or it would be seen only after site_timeout. */
static void names_changed(struct pe_fs *fs, int dfd, const char *name, fuse_ino_t acting)
{
	struct stat d;
	if (!fs->nalias_places || fstat(dfd, &d))
		return;
	for (size_t i = 0; i < fs->nalias_places; i++) {
		struct node *n = node_find_ref(fs->nodes, d.st_dev, d.st_ino, fs->alias_places[i]);
		if (!n)
			continue;
		if (id_of(fs, n) != acting) {
			inval_later(fs, n, name);       /* the name */
			inval_later(fs, n, NULL);       /* the directory's listing and times */
		}
		node_forget(fs->nodes, n, 1);
	}
	/* The view's directories whose env directory also shows elsewhere. */
	for (size_t k = 0; k < fs->nalias_vdirs; k++) {
		size_t i = fs->alias_vdirs[k];
		const struct view_source *ws = view_writable_source(fs->view.dirs[i]);
		struct stat s;
		if (fstatat(fs->layer_fd[LAYER_UPPER], ws->path, &s, 0) == 0 &&
		    s.st_dev == d.st_dev && s.st_ino == d.st_ino && id_of(fs, &fs->vnodes[i]) != acting) {
			inval_later(fs, &fs->vnodes[i], name);
			inval_later(fs, &fs->vnodes[i], NULL);
		}
	}
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off, struct fuse_file_info *fi)
{
	stats_count(STAT_WRITE);
	struct node *n = node_of(req, ino);
	if (!fi->fh && (n->kind != NODE_PASS || !n->writable)) {
		/* Queued while the request keeps the node alive; the thread's
		 * notification waits in the kernel until the reply is in. */
		drop_cached_pages_later(fs_of(req), n);
		fuse_reply_err(req, EROFS);     /* opened by the kernel: refused here */
		return;
	}
	int fd = io_fd(n, fi, IO_WRITE);
	if (fd < 0) {
		fuse_reply_err(req, errno ? errno : EBADF);
		return;
	}
	/* A write-back of pages written through a mapping keeps set-user/group-ID
	 * bits on the native disk; a daemon without CAP_FSETID would have the
	 * backing file system drop them at its write: put them back. */
	struct stat before;
	int keep_privs = fi->writepage && !fs_of(req)->daemon_is_root && fstat(fd, &before) == 0 &&
			 (before.st_mode & (S_ISUID | S_ISGID));
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	ssize_t r = fuse_buf_copy(&out, in, 0);
	struct stat after;
	if (keep_privs && fstat(fd, &after) == 0 && after.st_mode != before.st_mode)
		fchmod(fd, before.st_mode & 07777);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_FLUSH);
	struct node *n = node_of(req, ino);
	int r = 0;
	if (fs_of(req)->no_open) {
		fuse_reply_err(req, ENOSYS);    /* no flush without handles: the kernel stops asking */
		return;
	}
	/* Reports a delayed write error at close(), as the backing fs would. */
	if (n->kind == NODE_PASS && n->writable && fi->fh)
		r = close(dup((int)fi->fh)) ? errno : 0;
	fuse_reply_err(req, r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_RELEASE);
	struct node *n = node_of(req, ino);
	if (n->kind == NODE_PASS && fi->fh) {
		if (S_ISREG(n->type))
			pt_release(req, ino);
		close((int)fi->fh);
	}
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	stats_count(STAT_FSYNC);
	int r = 0;
	struct node *n = node_of(req, ino);
	if (n->kind == NODE_PASS) {
		int fd = io_fd(n, fi, IO_ANY);
		r = fd < 0 ? EBADF : (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0;
	}
	fuse_reply_err(req, r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	stats_count(STAT_FALLOCATE);
	struct node *n = node_of(req, ino);
	if (n->kind != NODE_PASS || !n->writable) {
		fuse_reply_err(req, EROFS);
		return;
	}
	int fd = io_fd(n, fi, IO_WRITE);
	fuse_reply_err(req, fd < 0 ? EBADF : fallocate(fd, mode, off, len) ? errno : 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	stats_count(STAT_LSEEK);
	if (node_of(req, ino)->kind != NODE_PASS) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	int fd = io_fd(node_of(req, ino), fi, IO_ANY);
	off_t r = fd < 0 ? -1 : lseek(fd, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* Python asks isatty() of every file it opens: answer at once. */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, int cmd, void *arg, struct fuse_file_info *fi,
		     unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	stats_count(STAT_IOCTL);
	(void)ino, (void)cmd, (void)arg, (void)fi, (void)flags, (void)in_buf, (void)in_bufsz, (void)out_bufsz;
	fuse_reply_err(req, ENOTTY);
}

/* ---- directories ---------------------------------------------------------- */

struct dir_handle {
	int is_view;
	/* a backing directory */
	DIR *dp;
	off_t offset;
	struct dirent *entry;
	int site_root;
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

static int name_set_add(struct name_set *set, const char *name)
{
	if ((set->count + 1) * 2 > set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 64;
		const char **ns = pe_xcalloc(ncap, sizeof *ns);
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i]) {
				size_t h = (size_t)pe_hash(set->slot[i]) & (ncap - 1);
				while (ns[h])
					h = (h + 1) & (ncap - 1);
				ns[h] = set->slot[i];
			}
		free(set->slot);
		set->slot = ns;
		set->cap = ncap;
	}
	size_t h = (size_t)pe_hash(name) & (set->cap - 1);
	while (set->slot[h]) {
		if (strcmp(set->slot[h], name) == 0)
			return 0;
		h = (h + 1) & (set->cap - 1);
	}
	set->slot[h] = name;
	set->count++;
	return 1;
}

static void listing_add(struct dir_handle *h, struct name_set *seen, const char *name, unsigned char type)
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

static int list_view_dir(struct pe_fs *fs, const struct vdir *d, struct dir_handle *h)
{
	struct name_set seen = { 0 };
	listing_add(h, &seen, ".", DT_DIR);
	listing_add(h, &seen, "..", DT_DIR);
	for (size_t i = 0; i < d->nents; i++) {
		const struct vent *v = &d->ents[i];
		listing_add(h, &seen, v->name, v->kind == VENT_DIR ? DT_DIR : v->kind == VENT_GEN ? DT_REG : DT_UNKNOWN);
	}
	for (size_t i = 0; i < d->nsrc; i++) {
		int owned, sfd = source_fd(fs, d, i, &owned);
		if (sfd < 0)
			continue;
		int fd = open_dir_fd(sfd);
		if (owned)
			close(sfd);
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
	return 0;
}

static void dir_handle_free(struct dir_handle *h)
{
	if (h->dp)
		closedir(h->dp);
	for (size_t i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	free(h->types);
	free(h);
}

/* A listing of directory n: for an OPENDIR, or for one READDIR when the
 * kernel opens directories itself.  NULL with errno set if it cannot be read. */
static struct dir_handle *dir_handle_for(struct pe_fs *fs, struct node *n)
{
	struct dir_handle *h = pe_xcalloc(1, sizeof *h);
	if (n->kind == NODE_VIEW) {
		h->is_view = 1;
		list_view_dir(fs, n->vdir, h);
		return h;
	}
	int fd = n->kind == NODE_PASS ? open_dir_fd(n->fd) : (errno = ENOTDIR, -1);
	if (fd < 0 || !(h->dp = fdopendir(fd))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		free(h);
		errno = e;
		return NULL;
	}
	h->site_root = n->site_root;
	return h;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_OPENDIR);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	/* "Success, and no more opendir/releasedir": the kernel still keeps the
	 * listings, checked against the directory's mtime. */
	if (fs->no_opendir && n->kind != NODE_GEN) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	struct dir_handle *h = dir_handle_for(fs, n);
	if (!h) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* The kernel may keep a listing: it checks the directory's mtime when its
	 * attributes are refreshed (within the timeout) and drops a stale one. A
	 * view directory with a writable source has no mtime of its own to
	 * follow: its listing is made again at every open. */
	if (n->kind == NODE_PASS || !view_writable_source(n->vdir)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fuse_reply_open(req, fi))
		dir_handle_free(h);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	stats_count(STAT_READDIR);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	struct dir_handle *own = NULL;
	if (!h && !(h = own = dir_handle_for(fs_of(req), node_of(req, ino)))) {
		fuse_reply_err(req, errno ? errno : EIO);
		return;
	}
	char *buf = pe_xmalloc(size);
	size_t used = 0;
	int err = 0;

	if (h->is_view) {
		for (size_t i = off < 0 ? 0 : (size_t)off; i < h->n; i++) {
			struct stat st = { .st_ino = (ino_t)(i + 1), .st_mode = (mode_t)h->types[i] << 12 };
			size_t l = fuse_add_direntry(req, buf + used, size - used, h->names[i], &st, (off_t)(i + 1));
			if (l > size - used)
				break;
			used += l;
		}
	} else {
		if (off != h->offset) {
			seekdir(h->dp, off);
			h->entry = NULL;
			h->offset = off;
		}
		for (;;) {
			if (!h->entry) {
				errno = 0;
				h->entry = readdir(h->dp);
				if (!h->entry) {
					err = errno;
					break;
				}
			}
			off_t next = h->entry->d_off;
			if (!(h->site_root && view_reserved(h->entry->d_name))) {
				struct stat st = { .st_ino = h->entry->d_ino, .st_mode = (mode_t)h->entry->d_type << 12 };
				size_t l = fuse_add_direntry(req, buf + used, size - used, h->entry->d_name, &st, next);
				if (l > size - used)
					break;
				used += l;
			}
			h->entry = NULL;
			h->offset = next;
		}
	}
	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
	if (own)
		dir_handle_free(own);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_RELEASEDIR);
	(void)ino;
	if (fi->fh)
		dir_handle_free((struct dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	stats_count(STAT_FSYNCDIR);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	struct node *n = node_of(req, ino);
	int r = 0;
	if (h && h->dp) {
		r = (datasync ? fdatasync(dirfd(h->dp)) : fsync(dirfd(h->dp))) ? errno : 0;
	} else if (!h && n->kind == NODE_PASS) {
		int fd = open_dir_fd(n->fd);
		r = fd < 0 ? errno : (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0;
		if (fd >= 0)
			close(fd);
	}
	fuse_reply_err(req, r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	stats_count(STAT_STATFS);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct statvfs sv;
	if (fstatvfs(n->kind == NODE_PASS ? n->fd : fs->layer_fd[LAYER_SITE], &sv))
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes --------------------------------------------------- */

static int xattr_node(struct node *n, char pp[PROC_PATH_MAX])
{
	if (n->kind != NODE_PASS || S_ISLNK(n->type))
		return 0;
	proc_path(pp, n->fd);
	return 1;
}

static void reply_xattr_result(fuse_req_t req, ssize_t r, size_t size, const char *buf)
{
	if (r < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

/* The reply to a getxattr/listxattr of size bytes whose answer, made here,
 * is data[0..n). */
static void reply_xattr_bytes(fuse_req_t req, size_t size, const char *data, size_t n)
{
	if (size == 0)
		fuse_reply_xattr(req, n);
	else if (size < n)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	stats_count(STAT_GETXATTR);
	char pp[PROC_PATH_MAX];
	if (ino == FUSE_ROOT_ID && strcmp(name, STATS_XATTR) == 0) {
		char text[2048];
		size_t n = stats_format(text, sizeof text);
		/* And how many backing objects the daemon holds open for the
		 * kernel (one O_PATH descriptor each): what FORGET brings down. */
		if (n < sizeof text)
			n += (size_t)snprintf(text + n, sizeof text - n, "nodes %zu\n",
					      node_count(fs_of(req)->nodes));
		if (n < sizeof text)
			n += pt_format_stats(text + n, sizeof text - n);
		if (n > sizeof text - 1)
			n = sizeof text - 1;
		reply_xattr_bytes(req, size, text, n);
		return;
	}
	if (ino == FUSE_ROOT_ID && strcmp(name, PT_XATTR) == 0) {
		reply_xattr_bytes(req, size, pt_state_text(), strlen(pt_state_text()));
		return;
	}
	if (!xattr_node(node_of(req, ino), pp)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	char *buf = size ? pe_xmalloc(size) : NULL;
	reply_xattr_result(req, getxattr(pp, name, buf, size), size, buf);
	free(buf);
}

/* listxattr for a caller other than root, from a root daemon: without the
 * trusted.* names, which the kernel lists only to CAP_SYS_ADMIN. */
static void reply_visible_xattrs(fuse_req_t req, const char *pp, size_t size)
{
	char *all = NULL;
	ssize_t len = 0;
	for (int tries = 0; tries < 5; tries++) {
		len = listxattr(pp, NULL, 0);
		if (len <= 0)
			break;
		all = pe_xmalloc((size_t)len);
		ssize_t got = listxattr(pp, all, (size_t)len);
		if (got >= 0) {
			len = got;
			break;
		}
		free(all);
		all = NULL;
		len = -1;
		if (errno != ERANGE)    /* ERANGE: the list grew meanwhile */
			break;
	}
	if (len < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	size_t n = 0;
	for (ssize_t i = 0; i < len;) {
		size_t l = strnlen(all + i, (size_t)(len - i)) + 1;
		if (strncmp(all + i, "trusted.", 8) != 0) {
			memmove(all + n, all + i, l);
			n += l;
		}
		i += (ssize_t)l;
	}
	reply_xattr_bytes(req, size, all, n);
	free(all);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	stats_count(STAT_LISTXATTR);
	char pp[PROC_PATH_MAX];
	if (!xattr_node(node_of(req, ino), pp)) {
		reply_xattr_result(req, 0, size, "");
		return;
	}
	struct pe_fs *fs = fs_of(req);
	if (fs->daemon_is_root && fuse_req_ctx(req)->uid != 0) {
		reply_visible_xattrs(req, pp, size);
		return;
	}
	char *buf = size ? pe_xmalloc(size) : NULL;
	reply_xattr_result(req, listxattr(pp, buf, size), size, buf);
	free(buf);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	stats_count(STAT_SETXATTR);
	struct node *n = node_of(req, ino);
	char pp[PROC_PATH_MAX];
	if (n->kind != NODE_PASS || !n->writable)
		fuse_reply_err(req, EROFS);
	else if (!xattr_node(n, pp))
		fuse_reply_err(req, EPERM);
	else {
		int r = setxattr(pp, name, value, size, flags) ? errno : 0;
		if (!r)
			dir_changed(fs_of(req), n);
		fuse_reply_err(req, r);
	}
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	stats_count(STAT_REMOVEXATTR);
	struct node *n = node_of(req, ino);
	char pp[PROC_PATH_MAX];
	if (n->kind != NODE_PASS || !n->writable)
		fuse_reply_err(req, EROFS);
	else if (!xattr_node(n, pp))
		fuse_reply_err(req, EPERM);
	else {
		int r = removexattr(pp, name) ? errno : 0;
		if (!r)
			dir_changed(fs_of(req), n);
		fuse_reply_err(req, r);
	}
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct pe_fs *fs = userdata;
	/* No atomic O_TRUNC: with it, the kernel leaves the truncation to OPEN
	 * (which -o no_open never sends) and drops the setuid/setgid bits a
	 * truncation by another user must clear (this root daemon would keep
	 * them). Without it, O_TRUNC of an existing file arrives as a SETATTR
	 * that carries the cleared mode. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	if (fs->want_no_open && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		fs->no_open = 1;
	}
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		fs->no_opendir = 1;
	}
	/* Symlinks never change in place (a new one is a new inode). */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* No SPLICE_MOVE: moving page-cache pages makes the kernel warn
	 * ("trying to steal weird page") and gains little. */
	conn->want &= ~FUSE_CAP_SPLICE_MOVE;
	/* Python's own data is never written back lazily: DIR must hold what a
	 * write wrote when it returns. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Kept pages and listings rely on it: a changed mtime or size seen on an
	 * attribute refresh drops them. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	pt_init(conn);
}

const struct fuse_lowlevel_ops pe_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.ioctl = op_ioctl,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
};

int fs_init(struct pe_fs *fs)
{
	fs->nodes = node_table_new();
	pthread_mutex_init(&fs->inval_lock, NULL);
	pthread_cond_init(&fs->inval_cond, NULL);
	fs->vnodes = pe_xcalloc(fs->view.ndirs, sizeof *fs->vnodes);
	fs->base_src_fd = pe_xmalloc(fs->view.ndirs * VIEW_MAX_SOURCES * sizeof *fs->base_src_fd);
	for (size_t i = 0; i < fs->view.ndirs; i++) {
		const struct vdir *d = fs->view.dirs[i];
		fs->vnodes[i] = (struct node){ .kind = NODE_VIEW, .fd = -1, .vdir = d };
		for (size_t j = 0; j < VIEW_MAX_SOURCES; j++) {
			int *fd = &fs->base_src_fd[i * VIEW_MAX_SOURCES + j];
			*fd = -1;
			if (j < d->nsrc && d->src[j].layer == LAYER_BASE)
				*fd = openat(fs->layer_fd[LAYER_BASE], *d->src[j].path ? d->src[j].path : ".",
					     O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
	}
	for (int g = 0; g < GEN_COUNT; g++)
		fs->gnodes[g] = (struct node){ .kind = NODE_GEN, .fd = -1, .gen = g };
	/* Where a directory of DIR or of the env's own area may show. */
	fs->alias_places = pe_xcalloc(fs->view.nplaces + fs->view.ndirs * VIEW_MAX_SOURCES + 1, sizeof *fs->alias_places);
	for (size_t i = 0; i < fs->view.ndirs; i++) {
		const struct vdir *d = fs->view.dirs[i];
		for (size_t j = 0; j < d->nents; j++)
			if (d->ents[j].kind == VENT_ANCHOR && d->ents[j].layer != LAYER_BASE)
				fs->alias_places[fs->nalias_places++] = d->ents[j].place;
		for (size_t j = 0; j < d->nsrc; j++)
			if (d->src[j].layer != LAYER_BASE)
				fs->alias_places[fs->nalias_places++] = view_source_place(d, j);
	}
	/* A view directory whose env directory is anchored elsewhere too (bin,
	 * and Debian's local/bin), or shown by another view directory. */
	fs->alias_vdirs = pe_xcalloc(fs->view.ndirs + 1, sizeof *fs->alias_vdirs);
	for (size_t i = 0; i < fs->view.ndirs; i++) {
		const struct view_source *ws = view_writable_source(fs->view.dirs[i]);
		if (!ws || ws->layer != LAYER_UPPER || !*ws->path)
			continue;
		int shown_elsewhere = 0;
		for (size_t k = 0; k < fs->view.ndirs && !shown_elsewhere; k++) {
			const struct vdir *o = fs->view.dirs[k];
			const struct view_source *os = view_writable_source(o);
			shown_elsewhere = k != i && os && os->layer == LAYER_UPPER && strcmp(os->path, ws->path) == 0;
			for (size_t j = 0; j < o->nents && !shown_elsewhere; j++)
				shown_elsewhere = o->ents[j].kind == VENT_ANCHOR && o->ents[j].layer == LAYER_UPPER &&
						  strcmp(o->ents[j].path, ws->path) == 0;
		}
		if (shown_elsewhere)
			fs->alias_vdirs[fs->nalias_vdirs++] = (unsigned)i;
	}
	return 0;
}

int fs_stop(struct pe_fs *fs)
{
	pthread_mutex_lock(&fs->inval_lock);
	fs->inval_stop = 1;
	int started = fs->inval_thread_started;
	pthread_cond_signal(&fs->inval_cond);
	pthread_mutex_unlock(&fs->inval_lock);
	if (!started)
		return 0;
	/* It may wait in the kernel for a request that nobody answers now. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_timedjoin_np(fs->inval_thread, NULL, &until) != 0)
		return -1;
	for (size_t i = 0; i < fs->ninval; i++)
		free(fs->inval[i].name);
	fs->ninval = 0;
	return 0;
}

void fs_destroy(struct pe_fs *fs)
{
	node_table_free(fs->nodes);
	if (fs->base_src_fd)
		for (size_t i = 0; i < fs->view.ndirs * VIEW_MAX_SOURCES; i++)
			if (fs->base_src_fd[i] >= 0)
				close(fs->base_src_fd[i]);
	free(fs->base_src_fd);
	free(fs->vnodes);
	free(fs->alias_places);
	free(fs->alias_vdirs);
	for (int g = 0; g < GEN_COUNT; g++)
		free(fs->gen[g]);
	for (int l = 0; l < LAYER_COUNT; l++)
		if (fs->layer_fd[l] > 0)
			close(fs->layer_fd[l]);
	view_free(&fs->view);
}
