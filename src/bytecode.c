// SPDX-License-Identifier: GPL-2.0-or-later
/* Bytecode for read-only places, in the mount: the base's directories take
 * Python's bytecode into DIR's own area (bytecode.h). */
#include "bytecode.h"
#include "backing.h"
#include "inval.h"
#include "pycache.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct bytecode {
	char id[32];            /* "base-<hash of the base's path>" */
	char *base_path;        /* the base's root as /proc/self/fd shows it */
	char *area_path;        /* DIR/.pyenvfs/pycache/<id>, likewise */
	int legacy;             /* Python 2: X.pyc beside X.py */
};

/* The path of what fd stands for, 0 or -errno. */
static int fd_path(int fd, char *buf, size_t len)
{
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, fd);
	ssize_t k = readlink(pp, buf, len - 1);
	if (k <= 0)
		return k < 0 ? -errno : -EIO;
	buf[k] = '\0';
	return 0;
}

int bytecode_init(struct pe_fs *fs, int legacy)
{
	fs->pyc = NULL;
	if (!fs->layers[LAYER_SITE].writable)
		return 0;
	char base[PATH_MAX], dir[PATH_MAX];
	int r = fd_path(fs->layers[LAYER_BASE].fd, base, sizeof base);
	if (!r)
		r = fd_path(fs->layers[LAYER_SITE].fd, dir, sizeof dir);
	struct bytecode *bc = pe_xcalloc(1, sizeof *bc);
	if (!r)
		r = pycache_source_id(1, base, bc->id, sizeof bc->id);
	if (r) {
		free(bc);
		return r;
	}
	bc->base_path = pe_xstrdup(base);
	bc->area_path = pe_xasprintf("%s/%s/%s", strcmp(dir, "/") ? dir : "", PYCACHE_ROOT, bc->id);
	bc->legacy = legacy;
	fs->pyc = bc;
	return 0;
}

void bytecode_free(struct pe_fs *fs)
{
	if (!fs->pyc)
		return;
	free(fs->pyc->base_path);
	free(fs->pyc->area_path);
	free(fs->pyc);
	fs->pyc = NULL;
}

/* A directory the bytecode rules apply to: one of the base's, or one of the
 * redirect area's (a __pycache__ the base does not have). */
enum where_kind { W_NONE, W_BASE, W_AREA };

struct where {
	enum where_kind kind;
	char rel[PATH_MAX];     /* its path in the base ("" for the root) */
	uint64_t place;         /* of the directories made for it in the area */
	int basefd;             /* W_BASE: the base's directory (borrowed), or -1 */
};

/* rel: path below root, if it is there. */
static int below(const char *path, const char *root, char *rel, size_t len)
{
	size_t n = strcmp(root, "/") ? strlen(root) : 0;
	if (strncmp(path, root, n) != 0 || (path[n] && path[n] != '/'))
		return 0;
	const char *r = path[n] == '/' ? path + n + 1 : path + n;
	return snprintf(rel, len, "%s", r) < (int)len;
}

/* What p is for the bytecode rules (name: the name asked about in a view
 * directory, NULL for a listing). */
static enum where_kind where_of(struct pe_fs *fs, const struct node *p, const char *name, struct where *w)
{
	const struct bytecode *bc = fs->pyc;
	w->kind = W_NONE;
	w->basefd = -1;
	if (!bc)
		return W_NONE;
	if (p->kind == NODE_PASS) {
		char path[PATH_MAX];
		if (p->area || !S_ISDIR(p->type) || fd_path(p->fd, path, sizeof path))
			return W_NONE;
		if (p->layer == LAYER_BASE && below(path, bc->base_path, w->rel, sizeof w->rel)) {
			w->kind = W_BASE;
			w->basefd = p->fd;
			w->place = p->place | BYTECODE_PLACE;
		} else if (p->layer == LAYER_SITE && (p->place & BYTECODE_PLACE) &&
			   below(path, bc->area_path, w->rel, sizeof w->rel)) {
			w->kind = W_AREA;
			w->place = p->place;
		}
		return w->kind;
	}
	if (p->kind != NODE_VIEW)
		return W_NONE;
	/* A view directory that shows the base's and takes no names of the
	 * env's: the standard library's top. */
	const struct vdir *d = p->vdir;
	if (view_writable_source(d) || (name && (view_entry(d, name) || view_hides(d, name))))
		return W_NONE;
	for (size_t i = 0; i < d->nsrc; i++) {
		const struct view_source *s = &d->src[i];
		if (s->layer != LAYER_BASE || (name && !view_source_shows(s, name)))
			continue;
		if (snprintf(w->rel, sizeof w->rel, "%s", s->path) >= (int)sizeof w->rel)
			return W_NONE;
		w->kind = W_BASE;
		w->basefd = fs->src_fd[d->id * VIEW_MAX_SOURCES + i];
		w->place = view_source_place(d, i) | BYTECODE_PLACE;
		return W_BASE;
	}
	return W_NONE;
}

static const char *last_name(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	return slash ? slash + 1 : rel;
}

/* Whether name, in w's directory, is bytecode Python may write there. */
static int is_bytecode(const struct pe_fs *fs, const struct where *w, const char *name)
{
	const char *dir = last_name(w->rel);
	enum pycache_name k = pycache_classify(dir, name, fs->pyc->legacy);
	if (k == PYCACHE_NO)
		return 0;
	if (w->kind == W_AREA)
		return k == PYCACHE_FILE;
	if (k == PYCACHE_FILE && strcmp(dir, "__pycache__") != 0) {
		/* Python 2's X.pyc (X.pyo): beside its source X.py only. */
		size_t n = strlen(name);
		char src[NAME_MAX + 1];
		if (n > NAME_MAX || w->basefd < 0)
			return 0;
		memcpy(src, name, n - 1);
		src[n - 1] = '\0';
		struct stat st;
		return fstatat(w->basefd, src, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	}
	return 1;
}

static int base_has(const struct where *w, const char *name)
{
	struct stat st;
	return w->basefd >= 0 && fstatat(w->basefd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The area's directory for w (O_PATH), made first if make; -ENOENT if it
 * is not there. */
static int area_dir(struct pe_fs *fs, const struct where *w, int make)
{
	char path[PATH_MAX];
	int r = pycache_area_path(fs->pyc->id, w->rel, path, sizeof path);
	if (r)
		return r;
	if (make && (r = backing_make_dirs(fs, LAYER_SITE, path)) != 0)
		return r;
	int fd = openat_beneath(fs->layers[LAYER_SITE].fd, path, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? -ENOENT : -errno;
	return fd;
}

static void area_target(const struct where *w, int dfd, const char *name, struct target *t)
{
	*t = (struct target){ .dfd = dfd, .name = name, .owned = 1, .origin = { w->place, LAYER_SITE, 1, 0 } };
}

/* Whether name may be bytecode in some directory: checked before anything
 * that costs a system call. */
static int maybe_bytecode(const struct pe_fs *fs, const char *name)
{
	return pycache_classify("", name, fs->pyc->legacy) != PYCACHE_NO ||
	       pycache_classify("__pycache__", name, 0) != PYCACHE_NO;
}

/* Whether p may be a directory of the redirect area (whose other names are refused). */
static int maybe_area(const struct node *p)
{
	return p->kind == NODE_PASS && p->layer == LAYER_SITE && (p->place & BYTECODE_PLACE);
}

/* A base directory's missing __pycache__ is made in the area when it is
 * looked up, and shown: the kernel checks a caller's mkdir against the base
 * directory's shown mode (read-only, the base's owner) and would refuse any
 * caller but root. Finding it there, importlib's mkdir gets EEXIST (which it
 * ignores) and the env's owner may write in it, as in a directory of DIR.
 * 1 if the directory is new (the base directory's listing changed). */
static int make_pycache(struct pe_fs *fs, const struct where *w, const char *name)
{
	if (strcmp(name, "__pycache__") != 0)
		return 0;
	char rel[PATH_MAX], path[PATH_MAX];
	if (snprintf(rel, sizeof rel, "%s%s%s", w->rel, *w->rel ? "/" : "", name) >= (int)sizeof rel ||
	    pycache_area_path(fs->pyc->id, rel, path, sizeof path))
		return 0;
	struct stat st;
	if (fstatat(fs->layers[LAYER_SITE].fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return backing_make_dirs(fs, LAYER_SITE, path) == 0;
}

int bytecode_lookup(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	struct where w;
	if (!maybe_bytecode(fs, name) || where_of(fs, p, name, &w) != W_BASE || !is_bytecode(fs, &w, name))
		return 1;
	if (make_pycache(fs, &w, name) && fs->inval)
		inval_pages(fs, p);
	int dfd = area_dir(fs, &w, 0);
	if (dfd < 0)
		return dfd;
	area_target(&w, dfd, name, t);
	return 0;
}

/* Whether name in p is bytecode of a base directory (0, w filled), not
 * bytecode here (1: the caller's rules), or a name refused in a redirected
 * __pycache__ (-EROFS). */
static int base_bytecode(struct pe_fs *fs, struct node *p, const char *name, struct where *w)
{
	if (!maybe_bytecode(fs, name) && !maybe_area(p))
		return 1;
	enum where_kind k = where_of(fs, p, name, w);
	if (k == W_AREA)
		return is_bytecode(fs, w, name) ? 1 : -EROFS;
	return k == W_BASE && is_bytecode(fs, w, name) ? 0 : 1;
}

int bytecode_new_name(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	struct where w;
	int r = base_bytecode(fs, p, name, &w);
	if (r)
		return r;
	if (base_has(&w, name))
		return -EEXIST;
	int dfd = area_dir(fs, &w, 1);
	if (dfd < 0)
		return dfd;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dfd);
		return -EEXIST;         /* shown already */
	}
	area_target(&w, dfd, name, t);
	/* The base directory's listing, which the kernel may keep (its mtime
	 * does not change), gains the name. */
	if (fs->inval)
		inval_pages(fs, p);
	return 0;
}

int bytecode_existing(struct pe_fs *fs, struct node *p, const char *name, struct target *t)
{
	struct where w;
	int r = base_bytecode(fs, p, name, &w);
	if (r)
		return r;
	if (base_has(&w, name))
		return -EROFS;          /* the base's own bytecode is never replaced */
	int dfd = area_dir(fs, &w, 0);
	if (dfd < 0)
		return dfd;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		r = -errno;
		close(dfd);
		return r;
	}
	area_target(&w, dfd, name, t);
	if (fs->inval)
		inval_pages(fs, p);
	return 0;
}

int bytecode_list(struct pe_fs *fs, struct node *p, bytecode_each_fn each, void *arg)
{
	struct where w;
	if (where_of(fs, p, NULL, &w) != W_BASE)
		return 1;
	int pfd = area_dir(fs, &w, 0);
	if (pfd < 0)
		return 1;
	DIR *dp = pe_opendir_path(pfd);
	close(pfd);
	if (!dp)
		return 1;
	struct dirent *de;
	while ((de = readdir(dp)))
		if (is_bytecode(fs, &w, de->d_name) && !base_has(&w, de->d_name))
			each(de->d_name, de->d_type, arg);
	closedir(dp);
	return 0;
}
