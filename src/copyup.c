// SPDX-License-Identifier: GPL-2.0-or-later
/* Copy-up of lower-layer objects into DIR, atomically. */
#include "copyup.h"
#include "creds.h"
#include "ownership.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define COPY_CHUNK (1 << 20)

static atomic_uint tmp_counter;

/* A unique name for a named temporary in the tmp dir. */
static void tmp_name(char *out, size_t len)
{
	snprintf(out, len, "%s%ld.%u", COPYUP_TMP_PREFIX, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
}

/* O_TMPFILE where the file system has it (nothing to clean after a crash),
 * else a named temporary (*named set to its name). fd or -errno. */
static int open_tmp(int tmp, int named_only, char *named, size_t len)
{
	named[0] = '\0';
	int fd = named_only ? -1 : openat(tmp, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (!named_only && (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)))
		return fd >= 0 ? fd : -errno;
	tmp_name(named, len);
	fd = openat(tmp, named, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd >= 0 ? fd : -errno;
}

static int copy_by_read(int src, int dst, off_t off)
{
	static __thread char buf[65536];
	for (;;) {
		ssize_t n = pread(src, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(dst, buf + done, (size_t)(n - done), off + done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			done += w;
		}
		off += n;
	}
}

/* copy_file_range where it works (a reflink on btrfs/XFS, a copy on the
 * server on NFS 4.2), else read and write from where it stopped. */
static int copy_data(int src, int dst)
{
	loff_t in = 0, out = 0;
	for (;;) {
		ssize_t n = copy_file_range(src, &in, dst, &out, COPY_CHUNK, 0);
		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
			return copy_by_read(src, dst, (off_t)in);
		return -errno;
	}
}

/* The user.* extended attributes. security.* and trusted.* need privileges
 * (and the copy has its own security label); a destination without xattrs
 * loses them rather than failing the write that asked for the copy. */
static int copy_user_xattrs(int src, int dst)
{
	ssize_t len = flistxattr(src, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP ? -errno : 0;
	char *names = malloc((size_t)len);
	if (!names)
		return -ENOMEM;
	len = flistxattr(src, names, (size_t)len);
	int r = len < 0 ? -errno : 0;
	for (char *n = names; !r && n < names + (len > 0 ? len : 0); n += strlen(n) + 1) {
		if (strncmp(n, "user.", 5) != 0)
			continue;
		char val[XATTR_SIZE_MAX > 65536 ? 65536 : XATTR_SIZE_MAX];
		ssize_t vl = fgetxattr(src, n, val, sizeof val);
		if (vl < 0) {
			r = errno == ENODATA ? 0 : -errno;      /* removed meanwhile: fine */
			continue;
		}
		if (fsetxattr(dst, n, val, (size_t)vl, 0) < 0 && errno != ENOTSUP)
			r = -errno;
	}
	free(names);
	return r;
}

/* The owner and mode the copy of st gets. */
static void copy_owner(const struct stat *st, const struct copyup_opts *o, uid_t *uid, gid_t *gid, mode_t *mode)
{
	*uid = st->st_uid;
	*gid = st->st_gid;
	*mode = st->st_mode & 07777;
	if (o && o->own)
		ownership_copy_up(o->own, st, uid, gid, mode);
}

/* Owner, then mode (a chown clears set-id bits), then times, last. */
static int copy_meta(int dst, const struct stat *st, const struct copyup_opts *o)
{
	uid_t uid;
	gid_t gid;
	mode_t mode;
	copy_owner(st, o, &uid, &gid, &mode);
	if (o && o->keep_owner && fchown(dst, uid, gid) < 0)
		return -errno;
	if (fchmod(dst, mode) < 0)
		return -errno;
	struct timespec t[2] = { st->st_atim, st->st_mtim };
	return futimens(dst, t) < 0 ? -errno : 0;
}

/* The temporary under its final name, never replacing anything. */
static int place(int fd, const char *named, int tmp, int dst, const char *name)
{
	if (!named[0]) {
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		return linkat(AT_FDCWD, proc, dst, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	}
	if (renameat2(tmp, named, dst, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* No RENAME_NOREPLACE here: a hard link does not replace either. */
	if (linkat(tmp, named, dst, name, 0) < 0)
		return -errno;
	unlinkat(tmp, named, 0);
	return 0;
}

int copyup_file(int src, int dst, const char *name, int tmp, const struct copyup_opts *o)
{
	struct stat st;
	char named[64];
	if (fstat(src, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	int fd = open_tmp(tmp, o && o->named_tmp, named, sizeof named);
	if (fd < 0)
		return fd;
	int r = o && o->skip_data ? 0 : copy_data(src, fd);
	if (!r)
		r = copy_user_xattrs(src, fd);
	if (!r)
		r = copy_meta(fd, &st, o);
	if (!r && fdatasync(fd) < 0)    /* the data is on disk before the name is */
		r = -errno;
	if (!r)
		r = place(fd, named, tmp, dst, name);
	if (r && named[0])
		unlinkat(tmp, named, 0);
	close(fd);
	return r;
}

int copyup_dir(int src, int dst, const char *name, const struct copyup_opts *o)
{
	struct stat st, have;
	if (fstat(src, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (mkdirat(dst, name, 0700) < 0) {
		if (errno == EEXIST && fstatat(dst, name, &have, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(have.st_mode))
			return 0;
		return -errno;
	}
	/* Made 0700 and opened without following anything, then given its
	 * metadata through that descriptor: nobody else gets in between with
	 * the lower mode. The name is in DIR, whose user may have swapped it
	 * for another directory meanwhile: only one this thread could have
	 * made (owned by its fsuid) is given the lower owner and mode. */
	int fd = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &have) < 0 || have.st_uid != (uid_t)setfsuid((uid_t)-1)) {
		close(fd);
		return -EEXIST;
	}
	int r = copy_user_xattrs(src, fd);
	if (!r)
		r = copy_meta(fd, &st, o);
	close(fd);
	return r;
}

int copyup_symlink(int src_dir, const char *name, int dst, int tmp, const struct copyup_opts *o)
{
	struct stat st;
	char target[PATH_MAX + 1], named[64];
	if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	ssize_t n = readlinkat(src_dir, name, target, sizeof target);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof target)
		return -ENAMETOOLONG;
	target[n] = '\0';
	tmp_name(named, sizeof named);
	/* Made as the lower link's owner (creds.h), not chowned afterwards: the
	 * temporary's name is in DIR, where its user may swap it. */
	struct creds_saved cs = { 0 };
	uid_t uid;
	gid_t gid;
	mode_t mode;
	copy_owner(&st, o, &uid, &gid, &mode);
	int r = o && o->keep_owner ? creds_become(uid, gid, &cs) : 0;
	if (!r && symlinkat(target, tmp, named) < 0)
		r = -errno;
	creds_restore(&cs);
	if (r)
		return r;
	/* Its times through a descriptor of the link made. */
	int fd = openat(tmp, named, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat made;
	struct timespec t[2] = { st.st_atim, st.st_mtim };
	if (fd < 0 || fstat(fd, &made) < 0)
		r = -errno;
	else if (!S_ISLNK(made.st_mode))
		return close(fd), -EEXIST;      /* swapped meanwhile: not ours to remove */
	else if (utimensat(fd, "", t, AT_EMPTY_PATH) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (!r)
		r = place(-1, named, tmp, dst, name);
	if (r)
		unlinkat(tmp, named, 0);
	return r;
}

int copyup_clean(int tmp)
{
	DIR *d = pe_opendirat(tmp, ".");
	if (!d)
		return -errno;
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, COPYUP_TMP_PREFIX, strlen(COPYUP_TMP_PREFIX)) == 0 &&
		    unlinkat(tmp, e->d_name, 0) < 0 && errno != ENOENT)
			r = -errno;
	closedir(d);
	return r;
}
