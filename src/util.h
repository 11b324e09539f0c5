// SPDX-License-Identifier: GPL-2.0-or-later
/* Small helpers shared by the set-up code and the core: paths, buffers. */
#ifndef PYENVFS_UTIL_H
#define PYENVFS_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#define PE_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Frees the pointed-to pointer when it goes out of scope (set-up paths only). */
#define cleanup_free __attribute__((cleanup(pe_freep)))
void pe_freep(void *pp);

void *pe_xmalloc(size_t n);
void *pe_xcalloc(size_t n, size_t size);
char *pe_xstrdup(const char *s);
char *pe_xasprintf(const char *fmt, ...) PE_PRINTF(1, 2);

/* Writes "pyenvfs: <message>" into buf (one line, no newline). Always returns -1. */
int pe_err(char *buf, size_t len, const char *fmt, ...) PE_PRINTF(3, 4);

/* Lexically normalises an absolute path: collapses "//", "/./" and "/../",
 * drops a trailing slash. Pure; the result is malloc'ed. */
char *path_normalize(const char *abs);

/* 1 if path equals dir or lies below it (both normalised, absolute). Pure. */
int path_is_within(const char *path, const char *dir);

/* Joins a and b with one slash; b == "" gives a copy of a. */
char *path_join(const char *a, const char *b);

/* The canonical absolute form of a path that may not exist yet: realpath()
 * of its nearest existing ancestor, then the rest lexically. NULL on error
 * (errno set), e.g. ENOTCONN for a stale mount on the way. */
char *path_resolve_nearest(const char *path);

/* A 64-bit FNV-1a hash of a string (for hash tables and cache file names). */
uint64_t pe_hash(const char *s);

/* Whether a is later than b. */
int pe_ts_after(struct timespec a, struct timespec b);
/* st's mtime and ctime, each made the later of itself and the one given. */
void pe_times_newest(struct stat *st, struct timespec mtime, struct timespec ctime);

/* s as one word for sh (and csh): in single quotes, ' written as '\''. */
char *pe_quote_sh(const char *s);

/* The first existing ancestor of an absolute path (the path itself if it exists). */
char *path_nearest_existing(const char *abs);

/* Opens path (relative; '/'-separated) below dfd following no symbolic link,
 * in any component, and never leaving dfd: ELOOP or EXDEV/ENOTDIR instead.
 * For the env's own area, which its user may change natively. */
int openat_beneath(int dfd, const char *path, int flags);
/* The same without openat2 (kernels before 5.6); for the unit tests too. */
int openat_beneath_walk(int dfd, const char *path, int flags);

/* "/proc/self/fd/N": the path that reopens an O_PATH descriptor. */
#define PE_PROC_PATH_MAX 32
void pe_proc_path(char buf[PE_PROC_PATH_MAX], int fd);

/* A readable descriptor of the directory behind an O_PATH one, or -1 (errno).
 * Through /proc, not openat(fd, "."): that would need search permission on
 * it, which listing a directory does not. */
int pe_open_dir(int path_fd);

/* A directory stream of the directory behind an O_PATH descriptor (left
 * open), or of name in dfd (following no symlink), or NULL (errno).
 * closedir() closes what they opened. */
DIR *pe_opendir_path(int path_fd);
DIR *pe_opendirat(int dfd, const char *name);

/* Writes text into name in dfd (AT_FDCWD: a path), made with flags
 * (O_CREAT | O_EXCL or O_TRUNC; O_WRONLY, O_NOFOLLOW and O_CLOEXEC are
 * added) and mode. 0, or -1 with errno. */
int pe_write_text_at(int dfd, const char *name, const char *text, int flags, mode_t mode);

/* The last non-empty line of the file at path (a log), for a one-line
 * message; "" if none or unreadable. */
void pe_last_line(const char *path, char *out, size_t len);

#endif
