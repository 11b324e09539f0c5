// SPDX-License-Identifier: GPL-2.0-or-later
/* I/O on backing objects: what the ops do to a node's object, by descriptor. */
#include "backing.h"
#include "creds.h"
#include "watch.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

int backing_as_caller(const struct pe_fs *fs, const struct caller *c, struct creds_saved *s)
{
	s->active = 0;
	return fs->daemon_is_root ? creds_become(c->uid, c->gid, s) : 0;
}

/* As the caller: the backing file system applies a sticky directory's rule
 * to what is at the name when it acts (backing_sticky_check saw it before).
 * The kernel is told of the change by the request; the watch need not. */
int backing_unlink_as(struct pe_fs *fs, const struct caller *c, int dfd, const char *name, int flags)
{
	struct creds_saved cs;
	int r = backing_as_caller(fs, c, &cs);
	if (r)
		return r;
	r = unlinkat(dfd, name, flags) ? -errno : 0;
	creds_restore(&cs);
	if (!r)
		watch_own_change(fs, dfd, name);
	return r;
}

int backing_rename_as(struct pe_fs *fs, const struct caller *c, int sfd, const char *name, int dfd,
		      const char *newname, unsigned flags)
{
	struct creds_saved cs;
	int r = backing_as_caller(fs, c, &cs);
	if (r)
		return r;
	r = renameat2(sfd, name, dfd, newname, flags) ? -errno : 0;
	creds_restore(&cs);
	if (!r) {
		watch_own_change(fs, sfd, name);
		watch_own_change(fs, dfd, newname);
	}
	return r;
}

/* The kernel checked it against the object it believes is there; DIR may
 * have changed under it within its timeout, and a root daemon would remove
 * anyone's file. So the check is made again on what is there. */
int backing_sticky_check(const struct pe_fs *fs, const struct caller *c, int dfd, const char *name)
{
	if (!fs->daemon_is_root)
		return 0;
	struct stat d, s;
	if (c->uid == 0 || fstatat(dfd, "", &d, AT_EMPTY_PATH) || !(d.st_mode & S_ISVTX))
		return 0;
	if (fstatat(dfd, name, &s, AT_SYMLINK_NOFOLLOW))
		return 0;               /* nothing there: nothing to protect */
	return backing_sticky_allows(fs, c, &d, &s);
}

int backing_sticky_allows(const struct pe_fs *fs, const struct caller *c, const struct stat *dir,
			  const struct stat *obj)
{
	if (!fs->daemon_is_root || c->uid == 0 || !(dir->st_mode & S_ISVTX))
		return 0;
	return obj->st_uid != c->uid && dir->st_uid != c->uid ? -EPERM : 0;
}

int backing_make_dirs(struct pe_fs *fs, unsigned layer, const char *path)
{
	const int root = fs->layers[layer].fd;
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

/* When the kernel opened the file itself (no handle): O_RDONLY for reading,
 * O_WRONLY for writing (the kernel checked the caller's permission for what
 * it opened; a file may be write-only, or become writable after it was
 * read). IO_ANY (fsync, lseek) takes either. */
int backing_io_fd(struct node *n, int fh, enum io_use use)
{
	if (fh)
		return fh;
	if (n->kind != NODE_PASS)
		return -EBADF;
	int fd = -1;
	if (use != IO_WRITE && (fd = __atomic_load_n(&n->io_fd, __ATOMIC_ACQUIRE)) >= 0)
		return fd;
	if (use != IO_READ && (fd = __atomic_load_n(&n->io_wfd, __ATOMIC_ACQUIRE)) >= 0)
		return fd;
	if (use == IO_WRITE && !n->writable)
		return -EROFS;
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
	int *slot = use == IO_WRITE ? &n->io_wfd : &n->io_fd;
	fd = open(pp, (use == IO_WRITE ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 && use == IO_ANY && n->writable) {
		slot = &n->io_wfd;
		fd = open(pp, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	int none = -1;
	if (!__atomic_compare_exchange_n(slot, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);              /* another thread was first */
		return none;
	}
	return fd;
}

void backing_keep_fd(struct node *n, int fd, int flags)
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

static int set_times(struct node *n, int fh, const struct timespec tv[2])
{
	if (fh)
		return futimens(fh, tv) ? -errno : 0;
	if (S_ISLNK(n->type))
		return utimensat(n->fd, "", tv, AT_EMPTY_PATH) ? -errno : 0;
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
	return utimensat(AT_FDCWD, pp, tv, 0) ? -errno : 0;
}

int backing_setattr(struct node *n, int fh, const struct stat *attr, unsigned what)
{
	char pp[PE_PROC_PATH_MAX];
	int r = 0;
	pe_proc_path(pp, n->fd);
	if ((what & SET_MODE) && !S_ISLNK(n->type))
		r = fh ? fchmod(fh, attr->st_mode) : chmod(pp, attr->st_mode);
	if (!r && (what & (SET_UID | SET_GID)))
		r = fchownat(n->fd, "", (what & SET_UID) ? attr->st_uid : (uid_t)-1,
			     (what & SET_GID) ? attr->st_gid : (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (!r && (what & SET_SIZE))
		r = fh ? ftruncate(fh, attr->st_size) : truncate(pp, attr->st_size);
	if (r)
		return -errno;
	if (what & (SET_ATIME | SET_MTIME)) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (what & SET_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (what & SET_ATIME)
			tv[0] = attr->st_atim;
		if (what & SET_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (what & SET_MTIME)
			tv[1] = attr->st_mtim;
		return set_times(n, fh, tv);
	}
	return 0;
}

static int sync_fd(int fd, int datasync)
{
	return (datasync ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
}

int backing_fsync(struct node *n, int fh, int datasync)
{
	if (n->kind != NODE_PASS)
		return 0;
	int fd = backing_io_fd(n, fh, IO_ANY);
	return fd < 0 ? fd : sync_fd(fd, datasync);
}

int backing_fsync_dir(struct node *n, int dir_fd, int datasync)
{
	if (dir_fd >= 0)
		return sync_fd(dir_fd, datasync);
	if (n->kind != NODE_PASS)
		return 0;
	int fd = pe_open_dir(n->fd);
	if (fd < 0)
		return -errno;
	int r = sync_fd(fd, datasync);
	close(fd);
	return r;
}

/* /proc's path of n's object, if it may have extended attributes (a symlink
 * is reached only by its target there). */
static int xattr_path(const struct node *n, char pp[PE_PROC_PATH_MAX])
{
	if (n->kind != NODE_PASS || S_ISLNK(n->type))
		return 0;
	pe_proc_path(pp, n->fd);
	return 1;
}

int backing_set_xattr(struct node *n, const char *name, const void *value, size_t size, int flags)
{
	char pp[PE_PROC_PATH_MAX];
	if (n->kind != NODE_PASS || !n->writable)
		return -EROFS;
	if (!xattr_path(n, pp))
		return -EPERM;
	int r = value ? setxattr(pp, name, value, size, flags) : removexattr(pp, name);
	return r ? -errno : 0;
}

ssize_t backing_get_xattr(struct node *n, const char *name, void *buf, size_t size)
{
	char pp[PE_PROC_PATH_MAX];
	if (!xattr_path(n, pp))
		return -ENODATA;
	ssize_t r = getxattr(pp, name, buf, size);
	return r < 0 ? -errno : r;
}

ssize_t backing_list_xattrs(struct node *n, int hide_trusted, char **list)
{
	char pp[PE_PROC_PATH_MAX];
	char *all = NULL;
	ssize_t len = 0;
	*list = NULL;
	if (!xattr_path(n, pp))
		return 0;
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
	if (len < 0)
		return -errno;
	/* The kernel lists trusted.* only to CAP_SYS_ADMIN: a root daemon
	 * leaves them out for other callers. */
	size_t n_out = 0;
	for (ssize_t i = 0; i < len;) {
		size_t l = strnlen(all + i, (size_t)(len - i)) + 1;
		if (!hide_trusted || strncmp(all + i, "trusted.", 8) != 0) {
			memmove(all + n_out, all + i, l);
			n_out += l;
		}
		i += (ssize_t)l;
	}
	*list = all;
	return (ssize_t)n_out;
}
