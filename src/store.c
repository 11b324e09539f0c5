// SPDX-License-Identifier: GPL-2.0-or-later
/* The store: where it is, whether it is trusted, its entries' names, finding
 * and pinning them. Adding is storeadd.c; list, du and gc storecmd.c. */
#include "store.h"
#include "safedir.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *store_default_path(void)
{
	const char *env = getenv("PYENVFS_STORE");
	if (env && *env)
		return pe_xstrdup(env);
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return pe_xasprintf("%s/pyenvfs/store", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/' && strcmp(home, "/") != 0)
		return pe_xasprintf("%s/.cache/pyenvfs/store", home);
	return NULL;
}

int store_trusted(const struct stat *st, uid_t uid, char *why, size_t len)
{
	if (!S_ISDIR(st->st_mode))
		return snprintf(why, len, "not a directory"), -1;
	if (st->st_uid != uid && st->st_uid != 0)
		return snprintf(why, len, "owned by uid %u, neither you nor root", (unsigned)st->st_uid), -1;
	if (st->st_mode & 022)
		return snprintf(why, len, "writable by others (mode %03o)", (unsigned)(st->st_mode & 07777)), -1;
	return 0;
}

/* A store given by the user: absolute, trusted (if it exists; an own one
 * may not yet, and must be the user's). */
static int add_store(struct stores *ss, const char *path, int own, char *err, size_t len)
{
	if (!*path)
		return pe_err(err, len, "an empty store path");
	cleanup_free char *abs = path[0] == '/' ? pe_xstrdup(path) : NULL;
	if (!abs) {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			return pe_err(err, len, "store '%s': %s", path, strerror(errno));
		abs = path_join(cwd, path);
	}
	cleanup_free char *norm = path_normalize(abs);
	struct stat st;
	const char *what = own ? "the store" : "the shared store";
	cleanup_free char *entries = path_join(norm, "entries");
	char why[128];
	if (stat(norm, &st)) {
		if (!own || errno != ENOENT)
			return pe_err(err, len, "%s '%s': %s", what, norm, strerror(errno));
	} else {
		if (store_trusted(&st, geteuid(), why, sizeof why))
			return pe_err(err, len, "%s '%s' is %s: pyenvfs uses a store only when its owner (you or root) alone may write it",
				      what, norm, why);
		if (own && st.st_uid != geteuid())
			return pe_err(err, len, "the store '%s' is not yours: pyenvfs writes only into your own; name it with --shared-store to read from it",
				      norm);
		if (stat(entries, &st) == 0 && store_trusted(&st, geteuid(), why, sizeof why))
			return pe_err(err, len, "%s '%s': its entries directory is %s", what, norm, why);
		/* and every directory above it (safedir.h: as the caches) */
		char why2[512];
		int fd = safedir_open(norm, 0, why2, sizeof why2);
		if (fd < 0)
			return pe_err(err, len, "%s '%s' cannot be trusted: %s", what, norm, why2);
		close(fd);
	}
	for (size_t i = 0; i < ss->n; i++)
		if (strcmp(ss->s[i].path, norm) == 0)
			return 0;       /* named twice: the first place counts */
	ss->s = realloc(ss->s, (ss->n + 1) * sizeof *ss->s);
	if (!ss->s)
		abort();
	struct store *s = &ss->s[ss->n++];
	memset(s, 0, sizeof *s);
	s->path = norm;
	norm = NULL;
	s->own = own;
	s->exists = stat(entries, &st) == 0 && S_ISDIR(st.st_mode);
	return 0;
}

int stores_open(struct stores *ss, const char *own, const char *const *shared, size_t nshared, char *err,
		size_t len)
{
	memset(ss, 0, sizeof *ss);
	cleanup_free char *def = own ? NULL : store_default_path();
	const char *mine = own ? own : def;
	if (mine && add_store(ss, mine, 1, err, len))
		goto bad;
	for (size_t i = 0; i < nshared; i++)
		if (add_store(ss, shared[i], 0, err, len))
			goto bad;
	const char *env = getenv("PYENVFS_SHARED_STORES");
	if (env && *env) {
		cleanup_free char *copy = pe_xstrdup(env);
		char *save;
		for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
			if (add_store(ss, p, 0, err, len))
				goto bad;
	}
	return 0;
bad:
	stores_free(ss);
	return -1;
}

void stores_free(struct stores *ss)
{
	for (size_t i = 0; i < ss->n; i++) {
		for (size_t k = 0; k < ss->s[i].nnames; k++)
			free(ss->s[i].names[k]);
		free(ss->s[i].names);
		free(ss->s[i].path);
	}
	free(ss->s);
	memset(ss, 0, sizeof *ss);
}

int store_make_own(struct store *s, char *err, size_t len)
{
	/* the store itself, and what is missing above it, made 0700 by
	 * safedir_open, which trusts it only if every directory from / down
	 * is yours or root's and nobody else's to write */
	int missing = 0;
	cleanup_free char *p = pe_xstrdup(s->path);
	struct stat st;
	for (char *slash; lstat(p, &st) && errno == ENOENT && (slash = strrchr(p, '/')) && slash != p;) {
		*slash = '\0';
		missing++;
	}
	char why[512];
	int top = safedir_open(s->path, missing, why, sizeof why);
	if (top < 0)
		return pe_err(err, len, "your store '%s' cannot be used: %s", s->path, why);
	if (fstat(top, &st) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(top);
		return pe_err(err, len, "the store '%s' is not yours alone", s->path);
	}
	/* The store is the user's alone (0700); an admin publishing one opens
	 * its top (chmod 755), and what is below is readable already. */
	static const char *const sub[] = { "entries", "used", "tmp" };
	static const mode_t mode[] = { 0755, 0755, 0700 };
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		if (mkdirat(top, sub[i], mode[i]) && errno != EEXIST) {
			int e = errno;
			close(top);
			return pe_err(err, len, "cannot make '%s/%s': %s", s->path, sub[i], strerror(e));
		}
		char w[128];
		if (fstatat(top, sub[i], &st, AT_SYMLINK_NOFOLLOW) || store_trusted(&st, geteuid(), w, sizeof w) ||
		    st.st_uid != geteuid()) {
			close(top);
			return pe_err(err, len, "'%s/%s' in your store is %s", s->path, sub[i],
				      S_ISLNK(st.st_mode) ? "a symbolic link" : st.st_uid != geteuid() ? "not yours" : w);
		}
	}
	close(top);
	s->exists = 1;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list_entries(struct store *s)
{
	if (s->listed)
		return 0;
	s->listed = 1;
	if (!s->exists)
		return 0;
	cleanup_free char *e = path_join(s->path, "entries");
	DIR *d = opendir(e);
	if (!d)
		return -1;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (s->nnames == cap) {
			cap = cap ? cap * 2 : 64;
			s->names = realloc(s->names, cap * sizeof *s->names);
			if (!s->names)
				abort();
		}
		s->names[s->nnames++] = pe_xstrdup(de->d_name);
	}
	closedir(d);
	if (s->nnames)
		qsort(s->names, s->nnames, sizeof *s->names, cmp_names);
	return 0;
}

char *store_entry_name(const char *norm, const char *version, const char *xy, const char *sha256)
{
	char *name = pe_xasprintf("%s-%s-py%s-%s", norm, version, xy, sha256);
	/* the name part: '-' is the separator, so the name's own are '_' */
	for (char *p = name; *p && p < name + strlen(norm); p++)
		if (*p == '-')
			*p = '_';
	return name;
}

int store_entry_parse(const char *name, char norm[256], char version[128], char xy[16], char sha256[65])
{
	const char *d1 = strchr(name, '-');
	const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
	const char *d3 = d2 ? strchr(d2 + 1, '-') : NULL;
	if (!d3 || strchr(d3 + 1, '-') || d1 == name || (size_t)(d1 - name) >= 256 || d2 == d1 + 1 ||
	    (size_t)(d2 - d1 - 1) >= 128 || strncmp(d2 + 1, "py", 2) != 0 || (size_t)(d3 - d2 - 3) >= 16 ||
	    d3 == d2 + 3 || strlen(d3 + 1) != 64)
		return -1;
	for (const char *h = d3 + 1; *h; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			return -1;
	memcpy(norm, name, (size_t)(d1 - name));
	norm[d1 - name] = '\0';
	for (char *p = norm; *p; p++)
		if (*p == '_')
			*p = '-';
	memcpy(version, d1 + 1, (size_t)(d2 - d1 - 1));
	version[d2 - d1 - 1] = '\0';
	memcpy(xy, d2 + 3, (size_t)(d3 - d2 - 3));
	xy[d3 - d2 - 3] = '\0';
	memcpy(sha256, d3 + 1, 65);
	return 0;
}

char *stores_find(struct stores *ss, const char *norm, const char *version, const char *xy, const char *sha256,
		  int *several)
{
	*several = 0;
	cleanup_free char *prefix = store_entry_name(norm, version, xy, "");
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < ss->n; i++) {
		struct store *s = &ss->s[i];
		if (store_list_entries(s) || !s->nnames)
			continue;
		/* the first name >= prefix, then those that start with it */
		size_t lo = 0, hi = s->nnames;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(s->names[mid], prefix) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		const char *hit = NULL;
		int count = 0;
		for (size_t k = lo; k < s->nnames && strncmp(s->names[k], prefix, plen) == 0; k++) {
			if (strlen(s->names[k]) != plen + 64)
				continue;
			if (sha256 && *sha256) {
				if (strcmp(s->names[k] + plen, sha256) == 0)
					hit = s->names[k];
			} else {
				hit = hit ? hit : s->names[k];
				count++;
			}
		}
		if (count > 1) {
			*several = 1;
			return NULL;
		}
		if (hit)
			return pe_xasprintf("%s/entries/%s", s->path, hit);
	}
	return NULL;
}

struct store *stores_of(struct stores *ss, const char *entry)
{
	for (size_t i = 0; i < ss->n; i++) {
		size_t n = strlen(ss->s[i].path);
		if (strncmp(entry, ss->s[i].path, n) == 0 && strncmp(entry + n, "/entries/", 9) == 0)
			return &ss->s[i];
	}
	return NULL;
}

int store_pin(const char *entry)
{
	int fd = open(entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_SH) && errno == EINTR)
		;
	struct stat a, b;
	char why[128];
	int r = 0;
	if (fstat(fd, &a) || lstat(entry, &b))
		r = -ENOENT;            /* gc moved it away while we waited */
	else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		r = -ENOENT;
	else if (store_trusted(&a, geteuid(), why, sizeof why))
		r = -EPERM;
	if (r) {
		close(fd);
		return r;
	}
	/* kept open, and so locked, until the process ends */
	return 0;
}

void store_stamp(const struct store *own, char *const *entries, size_t n)
{
	cleanup_free char *used = path_join(own->path, "used");
	int dfd = open(used, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < n; i++) {
		const char *name = strrchr(entries[i], '/');
		name = name ? name + 1 : entries[i];
		struct stat st;
		/* a stamp younger than a minute is new enough: no write */
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_mtim.tv_sec > now.tv_sec - 60 && st.st_mtim.tv_sec <= now.tv_sec)
			continue;
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			(void)futimens(fd, NULL);
		close(fd);
	}
	close(dfd);
}

char *store_entry_info(const char *entry, const char *key)
{
	cleanup_free char *path = path_join(entry, ".pyenvfs/store-entry");
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char line[1024];
	size_t n = strlen(key);
	char *out = NULL;
	while (!out && fgets(line, sizeof line, f)) {
		if (strncmp(line, key, n) == 0 && line[n] == ' ') {
			line[strcspn(line, "\n")] = '\0';
			out = pe_xstrdup(line + n + 1);
		}
	}
	fclose(f);
	return out;
}
