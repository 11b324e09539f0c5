// SPDX-License-Identifier: GPL-2.0-or-later
/* Small shared helpers: memory, paths, hashing, quoting, descriptors beneath a root. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void pe_freep(void *pp)
{
	free(*(void **)pp);
}

static void out_of_memory(void)
{
	fputs("pyenvfs: out of memory\n", stderr);
	abort();
}

void *pe_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *pe_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *pe_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		out_of_memory();
	return p;
}

char *pe_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory();
	va_end(ap);
	return s;
}

int pe_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (!buf || !len)
		return -1;
	n = snprintf(buf, len, "pyenvfs: ");
	if (n < 0 || (size_t)n >= len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	/* One line, always: a path with a newline must not split the message. */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = '?';
	return -1;
}

char *path_normalize(const char *abs)
{
	size_t n = strlen(abs);
	char *out = pe_xmalloc(n + 2);
	size_t o = 0;                    /* out[0..o) holds "/a/b" without a trailing slash */
	const char *p = abs;

	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;             /* and the slash before it */
		} else if (!(len == 1 && p[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

int path_is_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

char *path_join(const char *a, const char *b)
{
	if (!b || !*b)
		return pe_xstrdup(a);
	if (!*a)
		return pe_xstrdup(b);
	size_t la = strlen(a);
	return pe_xasprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

char *path_nearest_existing(const char *abs)
{
	char *p = path_normalize(abs);
	struct stat st;
	for (;;) {
		if (lstat(p, &st) == 0 || errno == ENOTCONN)
			return p;
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			p[1] = '\0';
			return p;
		}
		*slash = '\0';
	}
}

char *path_resolve_nearest(const char *path)
{
	cleanup_free char *abs = NULL;
	if (path[0] == '/') {
		abs = path_normalize(path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return NULL;
		cleanup_free char *j = path_join(cwd, path);
		abs = path_normalize(j);
	}
	cleanup_free char *near = path_nearest_existing(abs);
	char *real = realpath(near, NULL);
	if (!real)
		return NULL;
	const char *rest = abs + strlen(near);
	while (*rest == '/')
		rest++;
	char *joined = path_join(real, rest);
	free(real);
	char *out = path_normalize(joined);
	free(joined);
	return out;
}

char *pe_quote_sh(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *q = pe_xmalloc(n), *o = q;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

int pe_ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

void pe_times_newest(struct stat *st, struct timespec mtime, struct timespec ctime)
{
	if (pe_ts_after(mtime, st->st_mtim))
		st->st_mtim = mtime;
	if (pe_ts_after(ctime, st->st_ctim))
		st->st_ctim = ctime;
}

uint64_t pe_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int openat_beneath(int dfd, const char *path, int flags)
{
#ifdef SYS_openat2
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
	int r = (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
	if (r >= 0 || errno != ENOSYS)
		return r;
#endif
	return openat_beneath_walk(dfd, path, flags);
}

/* Kernels before 5.6: one component at a time, no "..". */
int openat_beneath_walk(int dfd, const char *path, int flags)
{
	if (*path == '/')
		return errno = EXDEV, -1;
	char *copy = strdup(path);
	if (!copy)
		return errno = ENOMEM, -1;
	int cur = dfd, fd = -1;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, "..") == 0) {
			errno = EXDEV;
			fd = -1;
		} else {
			fd = openat(cur, comp, next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
						  : flags | O_NOFOLLOW | O_CLOEXEC);
		}
		if (cur != dfd) {
			int e = errno;
			close(cur);
			errno = e;
		}
		if (fd < 0 || !next)
			break;
		cur = fd;
		comp = next;
	}
	if (!comp)                      /* "" or only slashes: dfd itself */
		fd = openat(dfd, ".", flags | O_CLOEXEC);
	free(copy);
	return fd;
}

void pe_proc_path(char buf[PE_PROC_PATH_MAX], int fd)
{
	snprintf(buf, PE_PROC_PATH_MAX, "/proc/self/fd/%d", fd);
}

int pe_open_dir(int path_fd)
{
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, path_fd);
	return open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static DIR *stream_of(int fd)
{
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

DIR *pe_opendir_path(int path_fd)
{
	if (path_fd < 0) {
		errno = EBADF;
		return NULL;
	}
	return stream_of(pe_open_dir(path_fd));
}

DIR *pe_opendirat(int dfd, const char *name)
{
	return stream_of(openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

int pe_write_text_at(int dfd, const char *name, const char *text, int flags, mode_t mode)
{
	int fd = openat(dfd, name, flags | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int r = write(fd, text, n) == (ssize_t)n ? 0 : -1;
	if (close(fd))
		r = -1;
	return r;
}

void pe_last_line(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n)
			snprintf(out, len, "%s", line);
	}
	fclose(f);
}
