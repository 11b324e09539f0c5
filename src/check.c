// SPDX-License-Identifier: GPL-2.0-or-later
/* The refusals that look at the system: /dev/fuse, fuse.conf, the paths, which Python. */
#include "check.h"
#include "layout.h"
#include "mountinfo.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

int check_fuse(char *err, size_t len)
{
	if (access("/dev/fuse", F_OK))
		return pe_err(err, len, "/dev/fuse is missing: load the fuse module (modprobe fuse), or pass the device into this container");
	if (access("/dev/fuse", R_OK | W_OK))
		return pe_err(err, len, "/dev/fuse is not readable and writable for you: as root, 'chmod 0666 /dev/fuse' (Debian's default)");
	/* Files are opened through /proc/self/fd from their O_PATH descriptors. */
	if (access("/proc/self/fd", X_OK))
		return pe_err(err, len, "/proc is not mounted: pyenvfs needs it (mount -t proc proc /proc)");
	return 0;
}

/* Whether a line of the file is "user_allow_other" (blanks around it). */
static int conf_allows_other(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[512];
	int yes = 0;
	while (!yes && fgets(line, sizeof line, f)) {
		char *s = line + strspn(line, " \t");
		size_t n = strcspn(s, " \t\r\n");
		yes = n == 16 && strncmp(s, "user_allow_other", 16) == 0 && s[n + strspn(s + n, " \t\r\n")] == 0;
	}
	fclose(f);
	return yes;
}

int check_allow_other(const struct pe_opts *o, const char *fuse_conf, char *err, size_t len)
{
	if (geteuid() == 0 || !(o->allow_other || o->allow_root) || conf_allows_other(fuse_conf))
		return 0;
	return pe_err(err, len, "-o %s needs a line 'user_allow_other' in %s (ask root to add it), or mount as root",
		      o->allow_other ? "allow_other" : "allow_root", fuse_conf);
}

static int is_mount_point(const struct mount_entry *e, void *dir)
{
	return strcmp(e->mountpoint, (const char *)dir) == 0;
}

/* Whether dir is a mount point, as /proc/self/mountinfo lists it. */
static int is_mounted(const char *dir)
{
	return mountinfo_each(is_mount_point, (void *)dir);
}

/* The topmost directory on path's way that is a dead mount (ENOTCONN): the
 * one to unmount. */
static char *stale_point(const char *path)
{
	char *p = path_resolve_nearest(path);
	if (!p) {
		char cwd[4096];
		p = path[0] == '/' ? path_normalize(path)
				   : (getcwd(cwd, sizeof cwd) ? path_normalize(cwd) : pe_xstrdup(path));
		if (path[0] != '/' && p[0] == '/') {
			char *j = path_join(p, path);
			free(p);
			p = path_normalize(j);
			free(j);
		}
	}
	char *found = NULL;
	struct stat st;
	for (;;) {
		if (lstat(p, &st) && errno == ENOTCONN) {
			free(found);
			found = pe_xstrdup(p);
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	free(p);
	return found ? found : pe_xstrdup(path);
}

static int stale_message(const char *what, const char *path, char *err, size_t len)
{
	cleanup_free char *q = pe_quote_sh(path);
	return pe_err(err, len, "%s '%s' is a stale mount (Transport endpoint is not connected): clear it with: fusermount3 -u %s (or as root: umount -l %s), then mount again",
		      what, path, q, q);
}

/* The nestings refused: a daemon that serves a path through its own mount
 * waits on itself; DIR inside BASE would have pyenvfs write the base. */
static int check_nesting(const struct pe_paths *p, char *err, size_t len)
{
	const struct { const char *what; const char *path; } at[] = {
		{ "BASE", p->base }, { "MOUNTPOINT", p->mountpoint }, { "DIR", p->site },
	};
	enum { BASE, MOUNT, SITE };
	static const struct { int inner, outer; const char *advice; } refused[] = {
		{ SITE, MOUNT, ": put the site directory elsewhere" },
		{ MOUNT, SITE, ": mount the env elsewhere" },
		{ BASE, MOUNT, ": mount the env elsewhere" },
		{ SITE, BASE, ", which pyenvfs never writes: put the site directory elsewhere" },
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		int in = refused[i].inner, out = refused[i].outer;
		if (path_is_within(at[in].path, at[out].path))
			return pe_err(err, len, "%s '%s' is inside %s '%s'%s", at[in].what, at[in].path,
				      at[out].what, at[out].path, refused[i].advice);
	}
	return 0;
}

/* 1 if path is a squashfs image (its superblock's magic, "hsqs"). */
static int is_squashfs_image(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char magic[4];
	int yes = fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "hsqs", 4) == 0;
	if (fd >= 0)
		close(fd);
	return yes;
}

/* A layer this process cannot list would show as empty: refused. Root
 * reads anything; a layer root cannot read (an NFS root squash) is
 * caught by the same test. */
static int layer_unreadable(const char *path, const struct stat *st, char *err, size_t len)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	int e = errno;
	if (d) {
		errno = 0;
		e = readdir(d) || !errno ? 0 : errno;
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	if (!e)
		return 0;
	return pe_err(err, len, "--lower-site '%s' is not readable by you (%s; mode %04o, uid %u's): ask its owner "
		      "to make it readable (chmod -R a+rX), or mount as a user who can read it", path, strerror(e),
		      (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid);
}

/* The lower site layers: existing directories, read-only, never the same
 * files twice, never served through the mount itself (a deadlock). */
static int check_layers(const struct pe_opts *o, struct pe_paths *p, char *err, size_t len)
{
	p->lower = pe_xcalloc(o->nlower_sites + 1, sizeof *p->lower);
	for (size_t i = 0; i < o->nlower_sites; i++) {
		const char *l = o->lower_sites[i];
		struct stat st;
		if (stat(l, &st))
			return pe_err(err, len, "--lower-site '%s' does not exist (%s)", l, strerror(errno));
		if (S_ISREG(st.st_mode) && is_squashfs_image(l)) {
			cleanup_free char *q = pe_quote_sh(l);
			return pe_err(err, len, "--lower-site '%s' is a squashfs image: mount it first (as root: mkdir -p DIR "
				      "&& mount -o loop,ro %s DIR; as a user: squashfuse %s DIR), then give that DIR", l, q, q);
		}
		if (!S_ISDIR(st.st_mode))
			return pe_err(err, len, "--lower-site '%s' is not a directory", l);
		if (layer_unreadable(l, &st, err, len))
			return -1;
		char *real = realpath(l, NULL);
		if (!real)
			return pe_err(err, len, "--lower-site '%s': %s", l, strerror(errno));
		p->lower[p->nlower++] = real;
		const struct { const char *what; const char *path; } at[] = {
			{ "MOUNTPOINT", p->mountpoint }, { "DIR", p->site },
		};
		static const struct { int inner, outer; const char *advice; } refused[] = {
			{ 2, 0, ": the layer would be read through the mount itself" },
			{ 0, 2, ": mount the env elsewhere" },
			{ 2, 1, ": DIR's files would show twice" },
			{ 1, 2, ": DIR's files would show twice" },
		};
		if (strcmp(real, p->site) == 0)
			return pe_err(err, len, "--lower-site '%s' is DIR itself: give another env's DIR", l);
		for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
			int in = refused[k].inner, out = refused[k].outer;
			const char *ip = in == 2 ? real : at[in].path, *op = out == 2 ? real : at[out].path;
			if (path_is_within(ip, op))
				return pe_err(err, len, "%s '%s' is inside %s '%s'%s", in == 2 ? "--lower-site" : at[in].what,
					      ip, out == 2 ? "--lower-site" : at[out].what, op, refused[k].advice);
		}
		for (size_t k = 0; k + 1 < p->nlower; k++)
			if (strcmp(p->lower[k], real) == 0)
				return pe_err(err, len, "--lower-site '%s' is given twice (as '%s' and '%s')", real,
					      o->lower_sites[k], l);
	}
	return 0;
}

int check_paths(const struct pe_opts *o, struct pe_paths *p, char *err, size_t len)
{
	struct stat st;
	memset(p, 0, sizeof *p);

	if (stat(o->base, &st))
		return errno == ENOTCONN ? stale_message("BASE", o->base, err, len)
		       : pe_err(err, len, "BASE '%s' does not exist (%s)", o->base, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pe_err(err, len, "BASE '%s' is not a directory: give the prefix a Python is installed in, such as /usr", o->base);
	p->base = realpath(o->base, NULL);

	if (stat(o->mountpoint, &st)) {
		int e = errno;
		check_paths_free(p);
		if (e == ENOTCONN)
			return stale_message("MOUNTPOINT", o->mountpoint, err, len);
		if (e == ENOENT)
		{
			cleanup_free char *q = pe_quote_sh(o->mountpoint);
			return pe_err(err, len, "MOUNTPOINT '%s' does not exist: create it first (mkdir -p %s)", o->mountpoint, q);
		}
		return pe_err(err, len, "MOUNTPOINT '%s': %s", o->mountpoint, strerror(e));
	}
	if (!S_ISDIR(st.st_mode)) {
		check_paths_free(p);
		return pe_err(err, len, "MOUNTPOINT '%s' is not a directory", o->mountpoint);
	}
	p->mountpoint = realpath(o->mountpoint, NULL);
	p->site = path_resolve_nearest(o->site);
	if (!p->base || !p->mountpoint || !p->site) {
		int e = errno;
		check_paths_free(p);
		if (e == ENOTCONN) {
			cleanup_free char *dead = stale_point(o->site);
			if (strcmp(dead, o->site) == 0)
				return stale_message("DIR", dead, err, len);
			cleanup_free char *q = pe_quote_sh(dead);
			return pe_err(err, len, "DIR '%s' is under a stale mount (Transport endpoint is not connected): clear it with: fusermount3 -u %s",
				      o->site, q);
		}
		return pe_err(err, len, "cannot resolve the paths given: %s", strerror(e));
	}
	if (is_mounted(p->mountpoint)) {
		/* stat() may be answered from the kernel's cache; statfs always
		 * reaches the file system, and a dead daemon's says ENOTCONN. */
		struct statfs sfs;
		if (statfs(p->mountpoint, &sfs) && errno == ENOTCONN) {
			stale_message("MOUNTPOINT", p->mountpoint, err, len);
		} else {
			cleanup_free char *q = pe_quote_sh(p->mountpoint);
			pe_err(err, len, "MOUNTPOINT '%s' is already mounted: unmount it first (fusermount3 -u %s)", p->mountpoint, q);
		}
		goto fail;
	}
	if (check_nesting(p, err, len) || check_layers(o, p, err, len))
		goto fail;

	if (stat(p->site, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			pe_err(err, len, "DIR '%s' is not a directory", p->site);
			goto fail;
		}
		if (access(p->site, W_OK | X_OK)) {
			if (errno == EROFS)
				pe_err(err, len, "DIR '%s' is on a read-only file system: the env's packages need a writable directory", p->site);
			else
				pe_err(err, len, "DIR '%s' is not writable by you", p->site);
			goto fail;
		}
	} else {
		cleanup_free char *near = path_nearest_existing(p->site);
		if (stat(near, &st) || !S_ISDIR(st.st_mode)) {
			pe_err(err, len, "cannot create DIR '%s': '%s' is not a directory", p->site, near);
			goto fail;
		}
		if (access(near, W_OK | X_OK)) {
			pe_err(err, len, "cannot create DIR '%s': '%s' %s", p->site, near,
			       errno == EROFS ? "is on a read-only file system" : "is not writable by you");
			goto fail;
		}
	}
	return 0;
fail:
	check_paths_free(p);
	return -1;
}

int check_python(const char *base, const char *want, char xy[16], char *err, size_t len)
{
	char vers[16][16];
	int fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int n = fd < 0 ? 0 : layout_find_versions(fd, vers, 16);
	if (fd >= 0)
		close(fd);
	char found[16 * 18] = "";
	for (int i = 0; i < n; i++) {
		strcat(found, i ? ", " : "");
		strcat(found, vers[i]);
	}
	if (want) {
		for (int i = 0; i < n; i++)
			if (strcmp(vers[i], want) == 0) {
				snprintf(xy, 16, "%s", want);
				return 0;
			}
		if (n)
			return pe_err(err, len, "BASE '%s' has no Python %s (it has: %s)", base, want, found);
		return pe_err(err, len, "BASE '%s' has no Python %s (no bin/python%s with lib/python%s/os.py)", base, want, want, want);
	}
	if (n == 0)
		return pe_err(err, len, "BASE '%s' holds no Python: expected bin/pythonX.Y and lib/pythonX.Y/os.py in it", base);
	if (n > 1)
		return pe_err(err, len, "BASE '%s' holds several Pythons (%s): choose one with --python X.Y", base, found);
	snprintf(xy, 16, "%s", vers[0]);
	return 0;
}

void check_paths_free(struct pe_paths *p)
{
	free(p->base);
	free(p->mountpoint);
	free(p->site);
	for (size_t i = 0; i < p->nlower; i++)
		free(p->lower[i]);
	free(p->lower);
	memset(p, 0, sizeof *p);
}
