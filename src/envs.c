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

struct by_id {
	unsigned long long id;
	const char *path;       /* or, where the id cannot be had, the mount point */
};

static int is_mount(const struct mount_entry *e, void *arg)
{
	const struct by_id *b = arg;
	return b->path ? strcmp(e->mountpoint, b->path) == 0 : e->id == b->id;
}

/* "/proc/self/fd/DFD/NAME": name in dfd, reached through the descriptor. */
static void path_at(char *buf, size_t len, int dfd, const char *name)
{
	snprintf(buf, len, "/proc/self/fd/%d/%s", dfd, name);
}

int env_mount_at(int dfd, const char *name, int *stale)
{
	*stale = 0;
	struct statx stx;
	struct by_id b = { 0, NULL };
	cleanup_free char *where = NULL;
	/* AT_STATX_DONT_SYNC: a FUSE mount answers from what the kernel keeps,
	 * without asking its daemon (which may be dead, or this process). */
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) == 0) {
		if (!(stx.stx_mask & STATX_MNT_ID) || !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
			return 0;
		b.id = stx.stx_mnt_id;
	} else if (errno == ENOTCONN) {
		/* A stale mount: its mount point's path, as the descriptor's. */
		char pp[PE_PROC_PATH_MAX], parent[PATH_MAX];
		pe_proc_path(pp, dfd);
		ssize_t k = readlink(pp, parent, sizeof parent - 1);
		if (k <= 0)
			return 0;
		parent[k] = '\0';
		where = strcmp(parent, "/") == 0 ? pe_xasprintf("/%s", name) : path_join(parent, name);
		b.path = where;
		*stale = 1;
	} else {
		return 0;
	}
	if (!each_pyenvfs_mount(is_mount, &b))
		return 0;
	/* Its daemon dead? Asked for real (the kernel may have kept what it
	 * last knew), a dead one's mount says ENOTCONN. */
	if (!*stale && statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_FORCE_SYNC, STATX_TYPE, &stx) &&
	    errno == ENOTCONN)
		*stale = 1;
	return 1;
}

int env_unmount_at(int dfd, const char *name, int *lazy, char *err, size_t len)
{
	char at[PATH_MAX + 64];
	path_at(at, sizeof at, dfd, name);
	if (lazy)
		*lazy = 0;
	if (geteuid() != 0) {
		/* fusermount3 (setuid root) resolves the path itself, carefully;
		 * it is given the real one, as the descriptor has it. */
		char pp[PE_PROC_PATH_MAX], parent[PATH_MAX];
		pe_proc_path(pp, dfd);
		ssize_t k = readlink(pp, parent, sizeof parent - 1);
		if (k <= 0)
			return pe_err(err, len, "cannot unmount '%s': %s", name, strerror(errno));
		parent[k] = '\0';
		cleanup_free char *path = strcmp(parent, "/") == 0 ? pe_xasprintf("/%s", name) : path_join(parent, name);
		if (fusermount("-u", path) == 0)
			return 0;
		if (fusermount("-uz", path) == 0) {
			if (lazy)
				*lazy = 1;
			return 0;
		}
		return pe_err(err, len, "cannot unmount '%s' (fusermount3 -uz failed)", path);
	}
	/* Root: the parent by descriptor, the last name never followed; a
	 * mount point cannot be renamed, so that name is that mount. */
	if (umount2(at, UMOUNT_NOFOLLOW) == 0)
		return 0;
	int e = errno;
	if (umount2(at, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
		if (lazy)
			*lazy = 1;
		return 0;
	}
	return pe_err(err, len, "cannot unmount '%s': %s", name, strerror(e));
}

int env_open_parent(const char *path, char name[NAME_MAX + 1])
{
	char cwd[PATH_MAX];
	cleanup_free char *abs = path[0] == '/' ? pe_xstrdup(path)
		: pe_xasprintf("%s/%s", getcwd(cwd, sizeof cwd) ? cwd : "", path);
	cleanup_free char *norm = path_normalize(abs);
	char *slash = strrchr(norm, '/');
	if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX)
		return errno = EINVAL, -1;
	snprintf(name, NAME_MAX + 1, "%s", slash + 1);
	*slash = '\0';
	return open(*norm ? norm : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Removes everything below the directory dfd (readable), following no
 * symlink and staying on the file system dev. */
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
				/* a directory made read-only by what ran in the env;
				 * made searchable through a descriptor of it, never
				 * by its name (a symlink swapped in is not followed) */
				int p = openat(dirfd(d), n, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				char pp[PE_PROC_PATH_MAX];
				pe_proc_path(pp, p);
				if (p >= 0 && chmod(pp, 0700) == 0)
					sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (p >= 0)
					close(p);
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

int remove_tree_at(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (remove_below(fd, st.st_dev))
		return -1;
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

/* --- pyenvfs list ------------------------------------------------------ */

/* A row: each value NULL where it is not known (the daemon did not say:
 * dead, another user's, or older). */
struct env_row {
	char *mountpoint, *base, *python, *site, *options, *state, *pid;
	char **layers;
	size_t nlayers;
	int layers_known;
};

struct env_rows {
	struct env_row *rows;
	size_t n;
};

/* A value of the daemon's info ("name value" lines), or NULL. */
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
	return NULL;
}

static void add_layer(struct env_row *r, const char *l, size_t n)
{
	r->layers = realloc(r->layers, (r->nlayers + 1) * sizeof *r->layers);
	if (!r->layers)
		abort();
	char *v = pe_xcalloc(1, n + 1);
	memcpy(v, l, n);
	r->layers[r->nlayers++] = v;
}

/* The layers, one "layer PATH" line each; from a daemon that wrote them
 * as one "layers L1:L2" line ("-" for none), split at ':'. */
static void info_layers(const char *info, struct env_row *r)
{
	for (const char *p = info; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		if (l > 6 && strncmp(p, "layer ", 6) == 0) {
			add_layer(r, p + 6, l - 6);
			r->layers_known = 1;
		}
		p = end ? end + 1 : NULL;
	}
	if (r->layers_known)
		return;
	cleanup_free char *old = info_value(info, "layers");
	if (!old)
		return;
	r->layers_known = 1;
	if (strcmp(old, "-") == 0)
		return;
	for (const char *p = old;;) {
		const char *colon = strchr(p, ':');
		add_layer(r, p, colon ? (size_t)(colon - p) : strlen(p));
		if (!colon)
			break;
		p = colon + 1;
	}
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
	memset(r, 0, sizeof *r);
	r->mountpoint = pe_xstrdup(e->mountpoint);
	r->base = n > 0 ? info_value(info, "base") : pe_xstrdup(e->source);
	r->python = info_value(info, "python");
	r->site = info_value(info, "site");
	info_layers(info, r);
	r->options = info_value(info, "options");
	r->pid = info_value(info, "pid");
	/* unknown: the daemon does not answer this user (another user's mount
	 * without allow_other: FUSE lets only its owner in, root included) */
	r->state = pe_xstrdup(stale ? "stale" : live ? "live" : "unknown");
	return 0;
}

static void free_rows(struct env_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		struct env_row *r = &rows->rows[i];
		free(r->mountpoint), free(r->base), free(r->python), free(r->site);
		free(r->options), free(r->state), free(r->pid);
		for (size_t k = 0; k < r->nlayers; k++)
			free(r->layers[k]);
		free(r->layers);
	}
	free(rows->rows);
}

static void put_json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
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
enum { COL_LAYERS = 4, COL_PID = 6 };

/* A column's text for the table: "-" where unknown or none. */
static char *col(const struct env_row *r, int c)
{
	if (c == COL_LAYERS) {
		char *s = pe_xstrdup(r->nlayers ? "" : "-");
		for (size_t i = 0; i < r->nlayers; i++) {
			char *next = pe_xasprintf("%s%s%s", s, i ? ":" : "", r->layers[i]);
			free(s);
			s = next;
		}
		return s;
	}
	const char *v[NCOLS] = { r->mountpoint, r->python, r->base, r->site, NULL, r->state, r->pid, r->options };
	return pe_xstrdup(v[c] ? v[c] : "-");
}

/* JSON: strings, null where unknown, the pid a number, the layers an array
 * (null if the daemon did not say). */
static void print_json(const struct env_rows *rows)
{
	fputc('[', stdout);
	for (size_t i = 0; i < rows->n; i++) {
		const struct env_row *r = &rows->rows[i];
		const char *v[NCOLS] = { r->mountpoint, r->python, r->base, r->site, NULL, r->state, NULL, r->options };
		fputs(i ? ",\n {" : "{", stdout);
		for (int c = 0; c < NCOLS; c++) {
			if (c)
				fputs(", ", stdout);
			put_json_string(stdout, col_names[c]);
			fputs(": ", stdout);
			if (c == COL_PID) {
				char *end = NULL;
				long pid = r->pid ? strtol(r->pid, &end, 10) : 0;
				if (r->pid && end && !*end && pid > 0)
					printf("%ld", pid);
				else
					fputs("null", stdout);
			} else if (c == COL_LAYERS) {
				if (!r->layers_known) {
					fputs("null", stdout);
					continue;
				}
				fputc('[', stdout);
				for (size_t k = 0; k < r->nlayers; k++) {
					if (k)
						fputs(", ", stdout);
					put_json_string(stdout, r->layers[k]);
				}
				fputc(']', stdout);
			} else {
				put_json_string(stdout, v[c]);
			}
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
		for (size_t i = 0; i < rows->n; i++) {
			cleanup_free char *v = col(&rows->rows[i], c);
			if (strlen(v) > w[c])
				w[c] = strlen(v);
		}
	}
	for (size_t i = 0; i <= rows->n; i++)
		for (int c = 0; c < NCOLS; c++) {
			cleanup_free char *v = i == 0 ? pe_xstrdup(col_names[c]) : col(&rows->rows[i - 1], c);
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
		return 1;
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

int umount_main(int argc, char **argv)
{
	char err[2048], name[NAME_MAX + 1];
	struct umount_opts o;
	if (umount_parse(argc, argv, &o, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (o.help) {
		umount_usage(stdout);
		return 0;
	}
	/* The parent once, by descriptor; the mount at its name is matched by
	 * its mount id, and unmounted through the same descriptor. */
	int dfd = env_open_parent(o.mountpoint, name);
	int stale = 0, lazy;
	if (dfd < 0 || !env_mount_at(dfd, name, &stale) || (o.stale_only && !stale)) {
		if (!o.stale_only)
			fprintf(stderr, "pyenvfs: %s: '%s' is not a pyenvfs mount (see pyenvfs list)\n", argv[0],
				o.mountpoint);
		if (dfd >= 0)
			close(dfd);
		return o.stale_only ? 0 : 1;
	}
	int r = env_unmount_at(dfd, name, &lazy, err, sizeof err);
	close(dfd);
	if (r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (stale)
		fprintf(stderr, "pyenvfs: '%s' was stale (its daemon had died): cleared\n", o.mountpoint);
	else if (lazy)
		fprintf(stderr, "pyenvfs: '%s' was busy: unmounted lazily (it goes once nothing uses it)\n", o.mountpoint);
	return 0;
}
