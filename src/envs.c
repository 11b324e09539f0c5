// SPDX-License-Identifier: GPL-2.0-or-later
/* Mounted envs: pyenvfs list and pyenvfs umount, and the unmount and tree
 * removal that pyenvfs run uses to leave nothing behind. */
#include "envs.h"
#include "mountinfo.h"
#include "run.h"
#include "runopts.h"
#include "stats.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

struct pyenvfs_filter {
	int (*fn)(const struct mount_entry *e, void *arg);
	void *arg;
};

static int if_pyenvfs(const struct mount_entry *e, void *arg)
{
	const struct pyenvfs_filter *f = arg;
	return mountinfo_is_pyenvfs(e) ? f->fn(e, f->arg) : 0;
}

/* Calls fn on each pyenvfs mount until it returns non-zero; returns that, or 0. */
static int each_pyenvfs_mount(int (*fn)(const struct mount_entry *e, void *arg), void *arg)
{
	struct pyenvfs_filter f = { fn, arg };
	return mountinfo_each(if_pyenvfs, &f);
}

static int is_path(const struct mount_entry *e, void *arg)
{
	return strcmp(e->mountpoint, (const char *)arg) == 0;
}

int env_is_mounted(const char *path)
{
	return each_pyenvfs_mount(is_path, (void *)path);
}

/* fusermount3 ARG PATH, its messages silenced; its exit status. */
static int fusermount(const char *arg, const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("fusermount3", "fusermount3", arg, "--", path, (char *)NULL);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int env_unmount(const char *path, int *lazy, char *err, size_t len)
{
	int root = geteuid() == 0, ok;
	if (lazy)
		*lazy = 0;
	ok = root ? umount2(path, 0) == 0 : fusermount("-u", path) == 0;
	if (ok)
		return 0;
	int e = errno;
	ok = root ? umount2(path, MNT_DETACH) == 0 : fusermount("-uz", path) == 0;
	if (ok) {
		if (lazy)
			*lazy = 1;
		return 0;
	}
	return pe_err(err, len, "cannot unmount '%s'%s%s", path, root ? ": " : "",
		      root ? strerror(e) : " (fusermount3 -uz failed)");
}

static int remove_below(int dfd, dev_t dev)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev) {         /* a mount below: leave it */
				errno = EBUSY;
				r = -1;
				continue;
			}
			int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				/* a directory made read-only by what ran in the env */
				if (fchmodat(dirfd(d), n, 0700, 0) == 0)
					sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub < 0) {
					r = -1;
					continue;
				}
			}
			fchmod(sub, 0700);
			if (remove_below(sub, dev))
				r = -1;
			if (unlinkat(dirfd(d), n, AT_REMOVEDIR))
				r = -1;
		} else if (unlinkat(dirfd(d), n, 0)) {
			r = -1;
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	return r;
}

int remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (remove_below(fd, st.st_dev))
		return -1;
	return rmdir(path);
}

/* --- pyenvfs list ------------------------------------------------------ */

struct env_row {
	char *mountpoint, *base, *python, *site, *layers, *options, *state, *pid;
};

struct env_rows {
	struct env_row *rows;
	size_t n;
};

/* A value of the daemon's info ("name value" lines), or "-". */
static char *info_value(const char *info, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = info; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		if (l > n && strncmp(p, name, n) == 0 && p[n] == ' ') {
			char *v = pe_xcalloc(1, l - n);
			memcpy(v, p + n + 1, l - n - 1);
			return v;
		}
		p = end ? end + 1 : NULL;
	}
	return pe_xstrdup("-");
}

static int add_row(const struct mount_entry *e, void *arg)
{
	struct env_rows *rows = arg;
	char uid[32], own[32];
	snprintf(own, sizeof own, "%u", (unsigned)geteuid());
	if (geteuid() != 0 && (!mountinfo_option(e->super_options, "user_id", uid, sizeof uid) ||
			       strcmp(uid, own) != 0))
		return 0;
	char info[4096];
	ssize_t n = getxattr(e->mountpoint, INFO_XATTR, info, sizeof info - 1);
	int stale = n < 0 && errno == ENOTCONN;
	/* a daemon older than the info attribute still answers its stats */
	int live = n > 0 || (!stale && getxattr(e->mountpoint, STATS_XATTR, NULL, 0) >= 0);
	info[n > 0 ? n : 0] = '\0';
	rows->rows = realloc(rows->rows, (rows->n + 1) * sizeof *rows->rows);
	if (!rows->rows)
		abort();
	struct env_row *r = &rows->rows[rows->n++];
	r->mountpoint = pe_xstrdup(e->mountpoint);
	r->base = n > 0 ? info_value(info, "base") : pe_xstrdup(e->source);
	r->python = info_value(info, "python");
	r->site = info_value(info, "site");
	r->layers = info_value(info, "layers");
	r->options = info_value(info, "options");
	r->pid = info_value(info, "pid");
	r->state = pe_xstrdup(stale ? "stale" : live ? "live" : "unknown");
	return 0;
}

static void free_rows(struct env_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		struct env_row *r = &rows->rows[i];
		free(r->mountpoint), free(r->base), free(r->python), free(r->site), free(r->layers);
		free(r->options), free(r->state), free(r->pid);
	}
	free(rows->rows);
}

static void put_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

#define NCOLS 8
static const char *const col_names[NCOLS] = {
	"mountpoint", "python", "base", "site", "layers", "state", "pid", "options"
};

static const char *col(const struct env_row *r, int c)
{
	const char *v[NCOLS] = { r->mountpoint, r->python, r->base, r->site, r->layers, r->state, r->pid, r->options };
	return v[c];
}

static void print_json(const struct env_rows *rows)
{
	fputc('[', stdout);
	for (size_t i = 0; i < rows->n; i++) {
		fputs(i ? ",\n {" : "{", stdout);
		for (int c = 0; c < NCOLS; c++) {
			if (c)
				fputs(", ", stdout);
			put_json_string(stdout, col_names[c]);
			fputs(": ", stdout);
			put_json_string(stdout, col(&rows->rows[i], c));
		}
		fputc('}', stdout);
	}
	fputs("]\n", stdout);
}

static void print_table(const struct env_rows *rows)
{
	size_t w[NCOLS];
	for (int c = 0; c < NCOLS; c++) {
		w[c] = strlen(col_names[c]);
		for (size_t i = 0; i < rows->n; i++)
			if (strlen(col(&rows->rows[i], c)) > w[c])
				w[c] = strlen(col(&rows->rows[i], c));
	}
	for (size_t i = 0; i <= rows->n; i++)
		for (int c = 0; c < NCOLS; c++) {
			const char *v = i == 0 ? col_names[c] : col(&rows->rows[i - 1], c);
			if (c == NCOLS - 1)
				printf("%s\n", v);
			else
				printf("%-*s  ", (int)w[c], v);
		}
}

int list_main(int argc, char **argv)
{
	char err[1024];
	struct list_opts o;
	if (list_parse(argc, argv, &o, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (o.help) {
		list_usage(stdout);
		return 0;
	}
	struct env_rows rows = { 0 };
	each_pyenvfs_mount(add_row, &rows);
	if (o.json)
		print_json(&rows);
	else if (rows.n)
		print_table(&rows);
	free_rows(&rows);
	return 0;
}

/* --- pyenvfs umount ---------------------------------------------------- */

/* The path as /proc/self/mountinfo writes it: absolute, its parent's
 * symlinks resolved (a stale mount point itself cannot be stat'ed). */
static char *mount_path(const char *given)
{
	char cwd[PATH_MAX];
	cleanup_free char *abs = given[0] == '/' ? pe_xstrdup(given)
		: pe_xasprintf("%s/%s", getcwd(cwd, sizeof cwd) ? cwd : "", given);
	cleanup_free char *norm = path_normalize(abs);
	char *slash = strrchr(norm, '/');
	if (!slash || !slash[1])
		return NULL;
	*slash = '\0';
	cleanup_free char *parent = realpath(*norm ? norm : "/", NULL);
	if (!parent)
		return NULL;
	return strcmp(parent, "/") == 0 ? pe_xasprintf("/%s", slash + 1) : path_join(parent, slash + 1);
}

int umount_main(int argc, char **argv)
{
	char err[2048];
	struct umount_opts o;
	if (umount_parse(argc, argv, &o, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (o.help) {
		umount_usage(stdout);
		return 0;
	}
	cleanup_free char *path = mount_path(o.mountpoint);
	if (!path || !env_is_mounted(path)) {
		fprintf(stderr, "pyenvfs: %s: '%s' is not a pyenvfs mount (see pyenvfs list)\n", argv[0],
			o.mountpoint);
		return 1;
	}
	/* Asked of the daemon: the kernel may answer a stat from its cache. */
	int stale = getxattr(path, INFO_XATTR, NULL, 0) < 0 && errno == ENOTCONN, lazy;
	if (env_unmount(path, &lazy, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (stale)
		fprintf(stderr, "pyenvfs: '%s' was stale (its daemon had died): cleared\n", path);
	else if (lazy)
		fprintf(stderr, "pyenvfs: '%s' was busy: unmounted lazily (it goes once nothing uses it)\n", path);
	return 0;
}
