// SPDX-License-Identifier: GPL-2.0-or-later
/* The FUSE operations: decode a request, ask resolve and backing, reply once. */
#include "ops.h"
#include "backing.h"
#include "inval.h"
#include "passthrough.h"
#include "resolve.h"
#include "stats.h"
#include "util.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static struct pe_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return fs_node(fs_of(req), ino);
}

static struct caller caller_of(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	return (struct caller){ c->uid, c->gid };
}

/* The request's own descriptor: 0 when the kernel opened the file itself. */
static int handle_of(const struct fuse_file_info *fi)
{
	return fi ? (int)fi->fh : 0;
}

/* ---- replies ------------------------------------------------------------- */

static void reply_entry(fuse_req_t req, int r, const struct resolved *res)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof e);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = fs_ino(fs_of(req), res->node);
	e.attr = res->st;
	e.attr_timeout = e.entry_timeout = res->timeout;
	fuse_reply_entry(req, &e);
}

/* How long the kernel may keep n's attributes (and, for a directory, a name
 * found missing in it): for long where a watch tells it of every change,
 * else the layer's timeout. */
static double attr_timeout(struct pe_fs *fs, const struct node *n)
{
	return watch_covers(fs, n) ? WATCH_TIMEOUT : resolve_timeout(fs, n);
}

static void reply_attr(fuse_req_t req, struct node *n)
{
	struct pe_fs *fs = fs_of(req);
	struct stat st;
	int r = resolve_stat(fs, n, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, attr_timeout(fs, n));
}

/* The kernel is about to learn res (name in p): a directory is watched
 * first, and the entry kept for long where notifications keep it coherent:
 * a name in a watched directory, or a fixed entry of the view (it never
 * changes) whose directory is watched itself. */
static void about_to_know(struct pe_fs *fs, struct node *p, const char *name, struct resolved *res)
{
	struct node *n = res->node;
	int covered = watch_covers(fs, p);
	if (n->kind == NODE_VIEW) {
		covered = watch_covers(fs, n);          /* a fixed entry: only its attributes change */
	} else if (n->kind != NODE_PASS) {
		return;
	} else if (S_ISDIR(n->type)) {
		int was = n->watched;
		watch_dir(fs, n);
		/* Changes from here on are notified: its attributes as they are now. */
		if (n->watched && !was)
			(void)resolve_stat(fs, n, &res->st);
		if (p->kind == NODE_VIEW && view_entry(p->vdir, name))
			covered = n->watched;
	} else if (covered && !fs->layers[n->layer].stable) {
		n->watched = 1;
	}
	/* A view directory also shows the base's names: base_timeout keeps them. */
	if (covered && n->kind == NODE_PASS && fs->layers[n->layer].stable)
		covered = 0;
	if (covered)
		res->timeout = WATCH_TIMEOUT;
}

/* The reply to a getxattr/listxattr of size bytes whose answer is data[0..n). */
static void reply_xattr_bytes(fuse_req_t req, size_t size, const char *data, size_t n)
{
	if (size == 0)
		fuse_reply_xattr(req, n);
	else if (size < n)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, n);
}

/* ---- names ----------------------------------------------------------------- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_count(STAT_LOOKUP);
	struct pe_fs *fs = fs_of(req);
	struct node *p = node_of(req, parent);
	struct resolved res;
	int r = resolve_lookup(fs, p, name, &res);
	if (r == -ENOENT) {
		/* A negative entry: the kernel remembers the miss (Python asks for
		 * many names that are not there), as long as the directory itself. */
		struct fuse_entry_param e;
		memset(&e, 0, sizeof e);
		e.entry_timeout = attr_timeout(fs, p);
		fuse_reply_entry(req, &e);
		return;
	}
	if (!r)
		about_to_know(fs, p, name, &res);
	reply_entry(req, r, &res);
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
	reply_attr(req, node_of(req, ino));
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

/* What the kernel and the other nodes must learn after t's name was made. */
static int made_at(fuse_req_t req, struct target *t, fuse_ino_t parent, struct resolved *res)
{
	struct pe_fs *fs = fs_of(req);
	inval_names_changed(fs, &t->dir, t->name, node_of(req, parent));
	watch_own_change(fs, t->dfd, t->name);
	return resolve_made(fs, t, res);
}

enum make_kind { MAKE_DIR, MAKE_NOD, MAKE_SYMLINK };

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, enum make_kind kind,
		      mode_t mode, dev_t rdev, const char *link)
{
	struct resolved res;
	struct target t;
	struct caller c = caller_of(req);
	struct creds_saved cs;
	int r = resolve_new_name(fs_of(req), node_of(req, parent), name, &t);
	if (!r)
		r = backing_as_caller(fs_of(req), &c, &cs);
	if (!r) {
		if (kind == MAKE_DIR)
			r = mkdirat(t.dfd, name, mode);
		else if (kind == MAKE_NOD)
			r = mknodat(t.dfd, name, mode, rdev);
		else
			r = symlinkat(link, t.dfd, name);
		r = r ? -errno : 0;
		creds_restore(&cs);
	}
	if (!r)
		r = made_at(req, &t, parent, &res);
	target_release(&t);
	if (!r)
		about_to_know(fs_of(req), node_of(req, parent), name, &res);
	reply_entry(req, r, &res);
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
	struct resolved res;
	struct target t = { .dfd = -1 };
	int r;
	/* A hard link to a base file would let a write through DIR reach the
	 * base; a layer's file is copied up first. */
	int copied = n->kind == NODE_PASS && !n->writable;
	r = resolve_copy_up(fs, n, 0);
	if (!r)
		r = resolve_new_name(fs, node_of(req, newparent), newname, &t);
	if (!r) {
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, n->fd);
		r = linkat(AT_FDCWD, pp, t.dfd, newname, AT_SYMLINK_FOLLOW) ? -errno : 0;
	}
	if (!r) {
		inval_names_changed(fs, &t.dir, newname, node_of(req, newparent));
		watch_own_change(fs, t.dfd, newname);
		r = resolve_made(fs, &t, &res);
	}
	/* The new name is another node than the copied-up file's (keyed by the
	 * layer's object): the kernel must forget the attributes it keeps for
	 * n (its link count). */
	if (!r && copied)
		inval_pages(fs, n);
	target_release(&t);
	if (!r)
		about_to_know(fs, node_of(req, newparent), newname, &res);
	reply_entry(req, r, &res);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct pe_fs *fs = fs_of(req);
	struct caller c = caller_of(req);
	struct inval_dir d;
	int r = resolve_remove(fs, &c, node_of(req, parent), name, flags, &d);
	if (!r)
		inval_names_changed(fs, &d, name, node_of(req, parent));
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
	struct caller c = caller_of(req);
	struct inval_dir from, to;
	int r = resolve_rename(fs, &c, node_of(req, parent), name, node_of(req, newparent), newname, flags, &from, &to);
	if (!r) {
		inval_names_changed(fs, &from, name, node_of(req, parent));
		inval_names_changed(fs, &to, newname, node_of(req, newparent));
	}
	fuse_reply_err(req, -r);
}

/* ---- attributes ------------------------------------------------------------ */

static unsigned set_what(int valid)
{
	static const struct { int fuse; unsigned ours; } map[] = {
		{ FUSE_SET_ATTR_MODE, SET_MODE }, { FUSE_SET_ATTR_UID, SET_UID }, { FUSE_SET_ATTR_GID, SET_GID },
		{ FUSE_SET_ATTR_SIZE, SET_SIZE }, { FUSE_SET_ATTR_ATIME, SET_ATIME },
		{ FUSE_SET_ATTR_ATIME_NOW, SET_ATIME_NOW }, { FUSE_SET_ATTR_MTIME, SET_MTIME },
		{ FUSE_SET_ATTR_MTIME_NOW, SET_MTIME_NOW },
	};
	unsigned what = 0;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (valid & map[i].fuse)
			what |= map[i].ours;
	return what;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	stats_count(STAT_SETATTR);
	struct node *n = node_of(req, ino);
	/* A layer's file truncated to nothing is copied up without its data. */
	int r = resolve_copy_up(fs_of(req), n, (valid & FUSE_SET_ATTR_SIZE) && attr->st_size == 0);
	if (!r)
		r = backing_setattr(n, handle_of(fi), attr, set_what(valid));
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	inval_dir_changed(fs_of(req), n);
	reply_attr(req, n);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	stats_count(STAT_SETXATTR);
	struct node *n = node_of(req, ino);
	int r = n->area ? resolve_copy_up(fs_of(req), n, 0) : 0;
	if (!r)
		r = backing_set_xattr(n, name, value, size, flags);
	if (!r)
		inval_dir_changed(fs_of(req), n);
	fuse_reply_err(req, -r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	stats_count(STAT_REMOVEXATTR);
	struct node *n = node_of(req, ino);
	int r = n->area ? resolve_copy_up(fs_of(req), n, 0) : 0;
	if (!r)
		r = backing_set_xattr(n, name, NULL, 0, 0);
	if (!r)
		inval_dir_changed(fs_of(req), n);
	fuse_reply_err(req, -r);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	stats_count(STAT_GETXATTR);
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
		if (n < sizeof text)
			n += watch_format_stats(fs_of(req), text + n, sizeof text - n);
		if (n > sizeof text - 1)
			n = sizeof text - 1;
		reply_xattr_bytes(req, size, text, n);
		return;
	}
	if (ino == FUSE_ROOT_ID && strcmp(name, INFO_XATTR) == 0) {
		char text[4096];
		reply_xattr_bytes(req, size, text, stats_format_info(text, sizeof text));
		return;
	}
	if (ino == FUSE_ROOT_ID && strcmp(name, PT_XATTR) == 0) {
		reply_xattr_bytes(req, size, pt_state_text(), strlen(pt_state_text()));
		return;
	}
	char *buf = size ? pe_xmalloc(size) : NULL;
	ssize_t r = backing_get_xattr(node_of(req, ino), name, buf, size);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	stats_count(STAT_LISTXATTR);
	char *list;
	int hide_trusted = fs_of(req)->daemon_is_root && fuse_req_ctx(req)->uid != 0;
	ssize_t r = backing_list_xattrs(node_of(req, ino), hide_trusted, &list);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		reply_xattr_bytes(req, size, list, (size_t)r);
	free(list);
}

/* ---- files ----------------------------------------------------------------- */

static int wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	stats_count(STAT_CREATE);
	struct pe_fs *fs = fs_of(req);
	struct resolved res;
	struct target t;
	struct caller c = caller_of(req);
	struct creds_saved cs;
	int fd = -1;
	int r = resolve_new_name(fs, node_of(req, parent), name, &t);
	if (!r)
		r = backing_as_caller(fs, &c, &cs);
	if (!r) {
		/* Always exclusive: the kernel sends CREATE when it believes the
		 * name absent, but a negative entry it keeps may be stale (DIR
		 * written directly). Opening an existing file here, as root, would
		 * skip the permission check and give the file to the caller. */
		fd = openat(t.dfd, name, (fi->flags | O_CREAT | O_EXCL | O_CLOEXEC) & ~O_NOFOLLOW, mode);
		r = fd < 0 ? -errno : 0;
		creds_restore(&cs);
	}
	/* The name is there after all (made directly in DIR, or in a layer,
	 * behind a negative entry): without O_EXCL asked for, ESTALE has the
	 * kernel look it up again (LOOKUP_REVAL) and open what it finds,
	 * checking permissions. */
	if (r == -EEXIST && !(fi->flags & O_EXCL))
		r = -ESTALE;
	if (!r)
		r = made_at(req, &t, parent, &res);
	/* The name is found again for its node; a user who may write the
	 * directory can have swapped it meanwhile (for a symlink, say: the
	 * kernel would refuse such a reply, and the handle would never be
	 * released). Only the file this create made is answered with. */
	struct stat made;
	if (!r && (fstat(fd, &made) || made.st_dev != res.node->dev || made.st_ino != res.node->ino)) {
		node_forget(fs->nodes, res.node, 1);
		r = fi->flags & O_EXCL ? -EEXIST : -ESTALE;
	}
	target_release(&t);
	if (r) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -r);
		return;
	}
	about_to_know(fs, node_of(req, parent), name, &res);
	struct fuse_entry_param e = { .ino = fs_ino(fs, res.node), .attr = res.st,
				      .attr_timeout = res.timeout, .entry_timeout = res.timeout };
	fi->fh = (uint64_t)fd;
	fi->noflush = !wants_write(fi->flags);
	if (fs->no_open) {
		/* Once an OPEN has answered ENOSYS, the kernel sends no RELEASE for
		 * a created file's handle either (measured on 6.18: one descriptor
		 * leaked per create). Keep it as the node's own instead. */
		fi->fh = 0;
		backing_keep_fd(res.node, fd, fi->flags);
		fuse_reply_create(req, &e, fi);
		return;
	}
	pt_open(req, e.ino, res.node->dev, res.node->ino, fd, fi);
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
	int w = wants_write(fi->flags) ? resolve_copy_up(fs, n, (fi->flags & O_TRUNC) != 0) : 0;
	if (w) {
		fuse_reply_err(req, -w);
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
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
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
	/* FLUSH only reports a delayed write error at close(): nothing to report
	 * for a file opened only for reading, or one that cannot be written. */
	fi->noflush = !wants_write(fi->flags) || !n->writable;
	/* A script whose first line is shown rewritten is read through the
	 * daemon, as generated files are; every other regular file may be
	 * passed through to its backing file. */
	int pass = S_ISREG(n->type) && !n->sb;
	if (pass)
		pt_open(req, ino, n->dev, n->ino, fd, fi);
	if (fuse_reply_open(req, fi)) {
		if (pass)
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
	int fd = backing_io_fd(n, handle_of(fi), IO_READ);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	if (n->sb) {                    /* a script shown rewritten (resolve_read_shebang) */
		char *b = malloc(size ? size : 1);
		int r = b ? resolve_read_shebang(n, fd, b, size, off) : -ENOMEM;
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_buf(req, b, (size_t)r);
		free(b);
		return;
	}
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, 0);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off, struct fuse_file_info *fi)
{
	stats_count(STAT_WRITE);
	struct node *n = node_of(req, ino);
	int w = fi->fh ? 0 : resolve_copy_up(fs_of(req), n, 0);
	if (w) {
		/* Opened by the kernel: refused here. Queued while the request
		 * keeps the node alive; the thread's notification waits in the
		 * kernel until the reply is in. */
		inval_pages(fs_of(req), n);
		fuse_reply_err(req, -w);
		return;
	}
	int fd = backing_io_fd(n, handle_of(fi), IO_WRITE);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
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
		if (S_ISREG(n->type) && !n->sb)         /* as op_open passed it through */
			pt_release(req, ino);
		close((int)fi->fh);
	}
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	stats_count(STAT_FSYNC);
	fuse_reply_err(req, -backing_fsync(node_of(req, ino), handle_of(fi), datasync));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	stats_count(STAT_FALLOCATE);
	struct node *n = node_of(req, ino);
	int r = resolve_copy_up(fs_of(req), n, 0);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	int fd = backing_io_fd(n, handle_of(fi), IO_WRITE);
	fuse_reply_err(req, fd < 0 ? -fd : fallocate(fd, mode, off, len) ? errno : 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	stats_count(STAT_LSEEK);
	struct node *n = node_of(req, ino);
	if (n->kind != NODE_PASS) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	int fd = backing_io_fd(n, handle_of(fi), IO_ANY);
	off_t r = fd < 0 ? (errno = -fd, -1) : lseek(fd, off, whence);
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

/* ---- directories ----------------------------------------------------------- */

static struct listing *listing_of(const struct fuse_file_info *fi)
{
	return (struct listing *)(uintptr_t)fi->fh;
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
	struct listing *l;
	int r = resolve_list(fs, n, &l);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)l;
	/* The kernel may keep a listing: it checks the directory's mtime when its
	 * attributes are refreshed (within the timeout) and drops a stale one. */
	if (resolve_list_cacheable(fs_of(req), n)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fuse_reply_open(req, fi))
		listing_free(l);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	stats_count(STAT_READDIR);
	struct listing *l = listing_of(fi), *own = NULL;
	/* Without OPENDIR (the kernel opens directories itself), one per READDIR. */
	int r = l ? 0 : resolve_list(fs_of(req), node_of(req, ino), &own);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	if (!l)
		l = own;
	char *buf = pe_xmalloc(size);
	size_t used = 0;
	struct listing_entry le;
	while ((r = listing_get(l, off, &le)) > 0) {
		struct stat st = { .st_ino = le.ino, .st_mode = (mode_t)le.type << 12 };
		size_t n = fuse_add_direntry(req, buf + used, size - used, le.name, &st, le.next);
		if (n > size - used)
			break;
		used += n;
		listing_advance(l);
		off = le.next;
	}
	if (r < 0 && used == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
	listing_free(own);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_count(STAT_RELEASEDIR);
	(void)ino;
	listing_free(listing_of(fi));
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	stats_count(STAT_FSYNCDIR);
	struct listing *l = listing_of(fi);
	struct node *n = node_of(req, ino);
	int r = 0;
	/* A view directory has nothing to sync of its own. */
	if (!l || listing_fd(l) >= 0)
		r = backing_fsync_dir(n, l ? listing_fd(l) : -1, datasync);
	fuse_reply_err(req, -r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	stats_count(STAT_STATFS);
	struct pe_fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct statvfs sv;
	/* The view's own objects report DIR's file system: where the env's data goes. */
	if (fstatvfs(n->kind == NODE_PASS ? n->fd : fs->layers[fs->home_layer].fd, &sv))
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- the session ----------------------------------------------------------- */

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
