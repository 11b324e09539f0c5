// SPDX-License-Identifier: GPL-2.0-or-later
/* Whiteout records on disk: read, set atomically, drop. */
#include "records.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_PATH_MAX 8192

static atomic_uint tmp_counter;

/* Opens the directory path below top, following no symbolic link (in one
 * call where the kernel has openat2); when create is set and a part is
 * missing, one component at a time, making the missing ones (*made set if
 * one was). An O_PATH descriptor, or -errno (-ENOENT: not there; -ELOOP: a
 * symlink or other non-directory on the way). */
static int walk(int top, const char *path, int create, int *made)
{
	if (strlen(path) >= RECORD_PATH_MAX)
		return -ENAMETOOLONG;
	if (!*path)
		return openat(top, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = openat_beneath(top, path, O_PATH | O_DIRECTORY);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT || !create)
		return errno == ENOTDIR ? -ELOOP : -errno;
	/* Its parent first (made as far up as it is missing), then it. */
	const char *slash = strrchr(path, '/');
	char parent[RECORD_PATH_MAX];
	snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - path) : 0, path);
	int pfd = walk(top, parent, 1, made);
	if (pfd < 0)
		return pfd;
	const char *name = slash ? slash + 1 : path;
	int r = 0;
	if (mkdirat(pfd, name, 0700) == 0) {
		if (made)
			*made = 1;
	} else if (errno != EEXIST) {
		r = -errno;
	}
	fd = r ? -1 : openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (!r && fd < 0)
		r = errno == ENOTDIR ? -ELOOP : -errno;     /* a symlink there */
	close(pfd);
	return r ? r : fd;
}

/* The node path of name in dir. */
static int node_of(enum wh_area area, const char *dir, const char *name, char *out, size_t len)
{
	char path[RECORD_PATH_MAX];
	int r = wh_check_name(name);
	if (r)
		return r;
	int n = snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof path)
		return -ENAMETOOLONG;
	return wh_node_path(area, path, out, len);
}

int records_read(int top, enum wh_area area, const char *dir, const char *name, struct wh_record *rec)
{
	char node[RECORD_PATH_MAX], target[PATH_MAX];
	int r = node_of(area, dir, name, node, sizeof node);
	rec->kind = WH_NONE;
	if (r)
		return r;
	int fd = walk(top, node, 0, NULL);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	ssize_t n = readlinkat(fd, WH_KIND, target, sizeof target);
	int e = errno;
	struct stat st;
	if (n < 0 && e == ENOENT) {
		rec->kind = WH_DIR;
	} else if (n < 0 && e == EINVAL && fstatat(fd, WH_KIND, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		wh_decode(st.st_mode, NULL, 0, rec);    /* not a link: damaged, hides */
	} else if (n < 0) {
		close(fd);
		return -e;
	} else {
		wh_decode(S_IFLNK, target, (size_t)n, rec);     /* damaged: WH_HIDE */
	}
	close(fd);
	return 0;
}

/* The directory name in dfd, opened (O_PATH), made first if it is missing;
 * -ELOOP for a symlink or other non-directory there. */
static int open_or_make(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd >= 0 ? fd : errno == ENOTDIR ? -ELOOP : -errno;
}

/* Gives name the kind, in the sub directory of its directory's node. */
static int set_in_sub(int sub, const char *name, enum wh_kind kind)
{
	char target[64], tmp[64];
	int r = wh_check_name(name);
	if (!r)
		r = wh_encode(kind, target, sizeof target);
	if (r)
		return r;
	/* The name's own node is mostly new (a first removal): made first. */
	int fresh = mkdirat(sub, name, 0700) == 0;
	int fd = !fresh && errno != EEXIST ? -errno : openat(sub, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		fd = errno == ENOTDIR ? -ELOOP : -errno;
	if (fd < 0)
		return fd;
	if (fresh) {
		/* a new node has no kind yet: the link is made in one step */
		r = symlinkat(target, fd, WH_KIND) < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	/* The new link beside the old one, then over it: one atomic step. */
	static long pid;
	if (!__atomic_load_n(&pid, __ATOMIC_RELAXED))
		__atomic_store_n(&pid, (long)getpid(), __ATOMIC_RELAXED);
	snprintf(tmp, sizeof tmp, ".%s.%ld.%u", WH_KIND, __atomic_load_n(&pid, __ATOMIC_RELAXED),
		 atomic_fetch_add(&tmp_counter, 1));
	r = symlinkat(target, fd, tmp) < 0 ? -errno : 0;
	if (!r && renameat(fd, tmp, fd, WH_KIND) < 0) {
		r = -errno;
		unlinkat(fd, tmp, 0);
	}
	close(fd);
	return r;
}

static int set_in(int dnode, const char *name, enum wh_kind kind)
{
	int sub = open_or_make(dnode, WH_SUB);
	if (sub < 0)
		return sub;
	int r = set_in_sub(sub, name, kind);
	close(sub);
	return r;
}

int records_sub_open(int dnode)
{
	return open_or_make(dnode, WH_SUB);
}

int records_set_in_sub(int sub, const char *name, enum wh_kind kind)
{
	return set_in_sub(sub, name, kind);
}

int records_set(int top, enum wh_area area, const char *dir, const char *name, enum wh_kind kind, int *made)
{
	char node[RECORD_PATH_MAX];
	int r = node_of(area, dir, name, node, sizeof node);   /* the name's checks */
	if (!r)
		r = wh_node_path(area, dir, node, sizeof node);
	if (r)
		return r;
	int dnode = walk(top, node, 1, made);
	if (dnode < 0)
		return dnode;
	r = set_in(dnode, name, kind);
	close(dnode);
	return r;
}

int records_set_at(int dnode, const char *name, enum wh_kind kind)
{
	return set_in(dnode, name, kind);
}

/* Removes name in the directory dfd and all below it, following no link. */
static int remove_tree(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	DIR *d = pe_opendirat(dfd, name);
	if (!d)
		return -errno;
	int r = 0;
	struct dirent *e;
	while (!r && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			r = remove_tree(dirfd(d), e->d_name);
	closedir(d);
	if (!r && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

/* Removes name and all below it in the records directory at path, if
 * there is one. */
static int remove_in(int top, const char *path, const char *name)
{
	int fd = walk(top, path, 0, NULL);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (dfd < 0)
		return -errno;
	int r = remove_tree(dfd, name);
	close(dfd);
	return r;
}

int records_drop(int top, enum wh_area area, const char *dir, const char *name)
{
	char node[RECORD_PATH_MAX];
	int r = node_of(area, dir, name, node, sizeof node);
	if (r)
		return r;
	/* The node is ".../sub/NAME": remove NAME in ".../sub". */
	char *slash = strrchr(node, '/');
	*slash = '\0';
	return remove_in(top, node, name);
}

int records_drop_below(int top, enum wh_area area, const char *dir, const char *name)
{
	char node[RECORD_PATH_MAX];
	int r = node_of(area, dir, name, node, sizeof node);
	return r ? r : remove_in(top, node, WH_SUB);
}

int records_node_open(int top, enum wh_area area, const char *dir)
{
	char node[RECORD_PATH_MAX];
	int r = wh_node_path(area, dir, node, sizeof node);
	return r ? r : walk(top, node, 0, NULL);
}

int records_child_open(int node, const char *name)
{
	char sub[RECORD_PATH_MAX];
	int r = wh_check_name(name);
	if (r)
		return r;
	snprintf(sub, sizeof sub, "%s/%s", WH_SUB, name);
	int fd = openat_beneath(node, sub, O_PATH | O_DIRECTORY);
	return fd >= 0 ? fd : errno == ENOTDIR ? -ELOOP : -errno;
}

int records_read_at(int node, const char *name, struct wh_record *rec)
{
	char kind[RECORD_PATH_MAX], target[64];
	rec->kind = WH_NONE;
	int r = wh_check_name(name);
	if (r)
		return r;
	snprintf(kind, sizeof kind, "%s/%s/%s", WH_SUB, name, WH_KIND);
	ssize_t n = readlinkat(node, kind, target, sizeof target);
	if (n >= 0) {
		wh_decode(S_IFLNK, target, (size_t)n, rec);     /* damaged: WH_HIDE */
		return 0;
	}
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;               /* no record of the name (nor records below it) */
	if (errno != EINVAL)
		return -errno;
	struct stat st;
	if (fstatat(node, kind, &st, AT_SYMLINK_NOFOLLOW) == 0)
		wh_decode(st.st_mode, NULL, 0, rec);    /* not a link: damaged, hides */
	return 0;
}
