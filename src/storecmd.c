// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs store: add wheels, list entries, their disk use, and gc. */
#include "storecmd.h"
#include "check.h"
#include "envs.h"
#include "store.h"
#include "storeadd.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- parsing */

static void push(const char ***arr, size_t *n, const char *s)
{
	*arr = realloc(*arr, (*n + 1) * sizeof **arr);
	if (!*arr)
		abort();
	(*arr)[(*n)++] = s;
}

long long store_parse_size(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return -1;
	double mult = 1;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1024.0; end++; break;
	case 'M': mult = 1024.0 * 1024; end++; break;
	case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v * mult > 9e18)
		return -1;
	return (long long)(v * mult);
}

static int value_of(int argc, char **argv, int *i, const char *name, const char **out)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*out = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] == '\0') {
		*out = *i + 1 < argc ? argv[++*i] : NULL;
		return 1;
	}
	return 0;
}

static int parse(int argc, char **argv, struct store_opts *o, char *err, size_t len)
{
	if (argc < 2)
		return pe_err(err, len, "store: missing a command: add, list, du or gc (see pyenvfs store --help)");
	int i = 1;
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		o->help = 1;
		return 0;
	}
	o->cmd = argv[1];
	if (strcmp(o->cmd, "add") && strcmp(o->cmd, "list") && strcmp(o->cmd, "du") && strcmp(o->cmd, "gc"))
		return pe_err(err, len, "store: unknown command '%s': add, list, du or gc", o->cmd);
	int add = strcmp(o->cmd, "add") == 0, gc = strcmp(o->cmd, "gc") == 0;
	int only_pos = 0;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v;
		if (only_pos || a[0] != '-' || !a[1]) {
			if (!add)
				return pe_err(err, len, "store %s: unexpected argument '%s'", o->cmd, a);
			if (!o->base)
				o->base = a;
			else
				push(&o->paths, &o->npaths, a);
		} else if (strcmp(a, "--") == 0) {
			only_pos = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = 1;
		} else if (value_of(argc, argv, &i, "--store", &v)) {
			if (!v || !*v)
				return pe_err(err, len, "store: --store needs a directory");
			o->store = v;
		} else if (value_of(argc, argv, &i, "--shared-store", &v)) {
			if (!v || !*v)
				return pe_err(err, len, "store: --shared-store needs a directory");
			push(&o->shared, &o->nshared, v);
		} else if (add && value_of(argc, argv, &i, "--python", &v)) {
			if (!v || !*v)
				return pe_err(err, len, "store add: --python needs a version like 3.11");
			o->python = v;
		} else if (strcmp(o->cmd, "list") == 0 && strcmp(a, "--json") == 0) {
			o->json = 1;
		} else if (gc && value_of(argc, argv, &i, "--older-than", &v)) {
			char *end;
			if (!v || (o->older_than_days = strtod(v, &end), end == v || *end || !(o->older_than_days >= 0)))
				return pe_err(err, len, "store gc: --older-than needs a number of days");
		} else if (gc && value_of(argc, argv, &i, "--max-size", &v)) {
			if (!v || (o->max_size = store_parse_size(v)) < 0)
				return pe_err(err, len, "store gc: --max-size needs a size (like 20G, 500M)");
		} else if (gc && strcmp(a, "--dry-run") == 0) {
			o->dry_run = 1;
		} else {
			return pe_err(err, len, "store %s: unknown option '%s' (see pyenvfs store --help)", o->cmd, a);
		}
	}
	if (o->help)
		return 0;
	if (add && !o->base)
		return pe_err(err, len, "store add: missing BASE: usage: pyenvfs store add [--python X.Y] BASE WHEEL|DIR...");
	if (add && !o->npaths)
		return pe_err(err, len, "store add: missing WHEEL or DIR: usage: pyenvfs store add [--python X.Y] BASE WHEEL|DIR...");
	return 0;
}

int store_parse(int argc, char **argv, struct store_opts *o, char *err, size_t len)
{
	memset(o, 0, sizeof *o);
	o->older_than_days = 30;
	o->max_size = -1;
	if (parse(argc, argv, o, err, len)) {
		store_opts_free(o);
		return -1;
	}
	return 0;
}

void store_opts_free(struct store_opts *o)
{
	free(o->shared);
	free(o->paths);
	o->shared = o->paths = NULL;
	o->nshared = o->npaths = 0;
}

void store_usage(FILE *f)
{
	fputs(
"usage: pyenvfs store add [--python X.Y] BASE WHEEL|WHEELHOUSE...\n"
"       pyenvfs store list [--json]\n"
"       pyenvfs store du\n"
"       pyenvfs store gc [--older-than DAYS] [--max-size SIZE] [--dry-run]\n"
"\n"
"The store holds installed distributions: one read-only directory per wheel\n"
"(by its sha256) and Python X.Y, stacked under an env's DIR as a layer by\n"
"--lock, run --with and run SCRIPT.py. Nothing is copied or linked per env.\n"
"\n"
"  add    install wheels (files, or every *.whl of a directory) into your\n"
"         store with BASE's Python: compiled by it, made read-only\n"
"  list   the entries of your store and the shared ones, when each was last\n"
"         mounted, and which a live mount uses now\n"
"  du     what each store holds on disk\n"
"  gc     remove the entries of your store that no live mount uses and no\n"
"         mount used for DAYS (default 30); --max-size then removes the\n"
"         least recently used until the store fits; --dry-run only says what\n"
"\n"
"options:\n"
"  --store DIR          your store (default $PYENVFS_STORE, else\n"
"                       $XDG_CACHE_HOME/pyenvfs/store, else ~/.cache/pyenvfs/store)\n"
"  --shared-store DIR   a read-only store to look in after yours (repeatable;\n"
"                       also $PYENVFS_SHARED_STORES, ':'-separated). Used only\n"
"                       when owned by you or root and writable by nobody else\n", f);
}

/* ---------------------------------------------------------------- add */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The wheels named: files as given, a directory's *.whl sorted. */
static int collect_wheels(const struct store_opts *o, char ***out, size_t *n, char *err, size_t len)
{
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < o->npaths; i++) {
		struct stat st;
		if (stat(o->paths[i], &st))
			return pe_err(err, len, "store add: '%s': %s", o->paths[i], strerror(errno));
		if (!S_ISDIR(st.st_mode)) {
			push((const char ***)out, n, pe_xstrdup(o->paths[i]));
			continue;
		}
		DIR *d = opendir(o->paths[i]);
		if (!d)
			return pe_err(err, len, "store add: '%s': %s", o->paths[i], strerror(errno));
		size_t first = *n;
		struct dirent *de;
		while ((de = readdir(d))) {
			size_t k = strlen(de->d_name);
			if (k > 4 && strcmp(de->d_name + k - 4, ".whl") == 0 && de->d_name[0] != '.')
				push((const char ***)out, n, path_join(o->paths[i], de->d_name));
		}
		closedir(d);
		if (*n == first)
			return pe_err(err, len, "store add: '%s' holds no wheel (*.whl)", o->paths[i]);
		qsort(*out + first, *n - first, sizeof **out, cmp_str);
	}
	return 0;
}

static int cmd_add(struct store_opts *o, struct stores *ss, char *err, size_t len)
{
	cleanup_free char *base = realpath(o->base, NULL);
	if (!base)
		return pe_err(err, len, "BASE '%s': %s", o->base, strerror(errno));
	char xy[16];
	if (check_python(base, o->python, xy, err, len))
		return -1;
	char **wheels;
	size_t n;
	if (collect_wheels(o, &wheels, &n, err, len)) {
		for (size_t i = 0; i < n; i++)
			free(wheels[i]);
		free(wheels);
		return -1;
	}
	struct store_job *jobs = pe_xcalloc(n + 1, sizeof *jobs);
	for (size_t i = 0; i < n; i++)
		jobs[i].wheel = wheels[i];
	int r = store_add(ss, base, xy, jobs, n, 1, err, len);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].entry)
			printf("%s %s\n", jobs[i].made ? "added" : "present", jobs[i].entry);
		else
			failed++;
	}
	/* one line for one failure; a count and the first for several */
	if (r && failed > 1) {
		char first[1024];
		snprintf(first, sizeof first, "%.1000s", err + 9);
		pe_err(err, len, "store add: %zu of %zu wheels not added; the first: %s", failed, n, first);
	}
	store_jobs_free(jobs, n);
	free(jobs);
	for (size_t i = 0; i < n; i++)
		free(wheels[i]);
	free(wheels);
	return r;
}

/* -------------------------------------------------------- list, du, gc */

/* 1 if a live mount holds the entry (a shared flock), 0 if not; with
 * keep_fd, the entry stays locked exclusively through *fd (0 only). */
static int in_use(const char *entry, int *keep_fd)
{
	int fd = open(entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return errno == EWOULDBLOCK;
	}
	if (keep_fd)
		*keep_fd = fd;
	else
		close(fd);
	return 0;
}

static long long tree_blocks, tree_files;

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)type;
	(void)ftw;
	tree_blocks += (long long)st->st_blocks * 512;
	tree_files++;
	return 0;
}

/* Bytes on disk and files of a tree. */
static void tree_size(const char *dir, long long *bytes, long long *files)
{
	tree_blocks = tree_files = 0;
	nftw(dir, count_one, 32, FTW_PHYS);
	*bytes = tree_blocks;
	*files = tree_files;
}

/* When an entry was last used: its stamp, or when it was added. */
static time_t last_used(const struct store *s, const char *name)
{
	cleanup_free char *stamp = pe_xasprintf("%s/used/%s", s->path, name);
	cleanup_free char *entry = pe_xasprintf("%s/entries/%s", s->path, name);
	struct stat st;
	time_t t = 0;
	if (lstat(stamp, &st) == 0)
		t = st.st_mtime;
	cleanup_free char *added = store_entry_info(entry, "added");
	if (added && atoll(added) > t)
		t = (time_t)atoll(added);
	if (!t && lstat(entry, &st) == 0)
		t = st.st_mtime;
	return t;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int cmd_list(struct store_opts *o, struct stores *ss)
{
	int first = 1;
	if (o->json)
		printf("[");
	for (size_t i = 0; i < ss->n; i++) {
		struct store *s = &ss->s[i];
		if (store_list_entries(s))
			continue;
		for (size_t k = 0; k < s->nnames; k++) {
			char norm[256], ver[128], xy[16], sha[65];
			if (store_entry_parse(s->names[k], norm, ver, xy, sha))
				continue;
			cleanup_free char *entry = pe_xasprintf("%s/entries/%s", s->path, s->names[k]);
			int busy = in_use(entry, NULL);
			time_t t = last_used(s, s->names[k]);
			char when[32];
			strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
			if (o->json) {
				printf("%s\n  {\"name\": ", first ? "" : ",");
				json_str(norm);
				printf(", \"version\": ");
				json_str(ver);
				printf(", \"python\": ");
				json_str(xy);
				printf(", \"sha256\": \"%s\", \"last_used\": %lld, \"in_use\": %s, \"shared\": %s, \"path\": ",
				       sha, (long long)t, busy ? "true" : "false", s->own ? "false" : "true");
				json_str(entry);
				printf("}");
			} else {
				printf("%-30s %-14s py%-5s %s%s%s%s\n", norm, ver, xy, when, busy ? "  in use" : "",
				       s->own ? "" : "  shared: ", s->own ? "" : s->path);
			}
			first = 0;
		}
	}
	if (o->json)
		printf("%s]\n", first ? "" : "\n");
	return 0;
}

static void human(long long b, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static int cmd_du(struct stores *ss)
{
	for (size_t i = 0; i < ss->n; i++) {
		struct store *s = &ss->s[i];
		if (store_list_entries(s))
			continue;
		long long total = 0, files = 0, busy_bytes = 0;
		size_t busy = 0;
		for (size_t k = 0; k < s->nnames; k++) {
			cleanup_free char *entry = pe_xasprintf("%s/entries/%s", s->path, s->names[k]);
			long long b, f;
			tree_size(entry, &b, &f);
			total += b;
			files += f;
			if (in_use(entry, NULL)) {
				busy++;
				busy_bytes += b;
			}
		}
		char h[32], hb[32];
		human(total, h, sizeof h);
		human(busy_bytes, hb, sizeof hb);
		printf("%s%s: %zu entries, %lld files, %s (%lld bytes); in use by live mounts: %zu entries, %s\n",
		       s->own ? "" : "shared ", s->path, s->nnames, files, h, total, busy, hb);
	}
	return 0;
}

struct gc_entry {
	char *name;
	time_t used;
	long long bytes;
	int busy;
	int gone;
};

static int by_use(const void *a, const void *b)
{
	const struct gc_entry *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used;
}

/* Removes one entry: locked exclusively (a live mount holds it shared: then
 * it stays), renamed out of entries/ while locked, then deleted. */
static int gc_remove(const struct store *s, const char *name)
{
	cleanup_free char *entry = pe_xasprintf("%s/entries/%s", s->path, name);
	int fd = -1;
	if (in_use(entry, &fd) || fd < 0)
		return -1;
	cleanup_free char *trash = pe_xasprintf("%s/tmp/trash.%ld.%s", s->path, (long)getpid(), name);
	/* moved to another directory: it needs write permission (its "..") */
	(void)fchmod(fd, 0755);
	int r = rename(entry, trash);
	if (r)
		(void)fchmod(fd, 0555);
	close(fd);
	if (r)
		return -1;
	(void)store_remove(trash);
	cleanup_free char *stamp = pe_xasprintf("%s/used/%s", s->path, name);
	(void)unlink(stamp);
	return 0;
}

static int cmd_gc(struct store_opts *o, struct stores *ss, char *err, size_t len)
{
	struct store *s = ss->n && ss->s[0].own ? &ss->s[0] : NULL;
	if (!s)
		return pe_err(err, len, "store gc: no store of your own (set HOME, XDG_CACHE_HOME or PYENVFS_STORE)");
	if (!s->exists) {
		printf("%s: no store yet\n", s->path);
		return 0;
	}
	if (store_list_entries(s))
		return pe_err(err, len, "store gc: cannot read '%s/entries': %s", s->path, strerror(errno));
	time_t now = time(NULL);
	time_t cut = now - (time_t)(o->older_than_days * 86400.0);
	struct gc_entry *e = pe_xcalloc(s->nnames + 1, sizeof *e);
	long long total = 0, freed = 0;
	size_t removed = 0, kept_busy = 0;
	for (size_t k = 0; k < s->nnames; k++) {
		cleanup_free char *entry = pe_xasprintf("%s/entries/%s", s->path, s->names[k]);
		long long files;
		e[k].name = s->names[k];
		e[k].used = last_used(s, s->names[k]);
		tree_size(entry, &e[k].bytes, &files);
		e[k].busy = in_use(entry, NULL);
		total += e[k].bytes;
	}
	qsort(e, s->nnames, sizeof *e, by_use);
	for (size_t k = 0; k < s->nnames; k++) {
		int old = e[k].used < cut || (o->older_than_days == 0 && e[k].used <= now);
		int over = o->max_size >= 0 && total - freed > o->max_size;
		if (e[k].busy) {
			kept_busy++;
			continue;
		}
		if (!old && !over)
			continue;
		if (o->dry_run || gc_remove(s, e[k].name) == 0) {
			printf("%s %s\n", o->dry_run ? "would remove" : "removed", e[k].name);
			e[k].gone = 1;
			freed += e[k].bytes;
			removed++;
		} else {
			kept_busy++;
		}
	}
	/* stamps of entries that are gone */
	cleanup_free char *used = path_join(s->path, "used");
	DIR *d = o->dry_run ? NULL : opendir(used);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *entry = pe_xasprintf("%s/entries/%s", s->path, de->d_name);
		struct stat st;
		if (lstat(entry, &st) && errno == ENOENT)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	char hf[32], hl[32];
	human(freed, hf, sizeof hf);
	human(total - freed, hl, sizeof hl);
	printf("%s %zu entries (%s); %zu in use by live mounts; the store holds %s\n",
	       o->dry_run ? "would remove" : "removed", removed, hf, kept_busy, hl);
	free(e);
	return 0;
}

int store_main(int argc, char **argv)
{
	char err[2048];
	struct store_opts o;
	if (store_parse(argc, argv, &o, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (o.help) {
		store_usage(stdout);
		store_opts_free(&o);
		return 0;
	}
	struct stores ss;
	int r = stores_open(&ss, o.store, o.shared, o.nshared, err, sizeof err);
	if (!r) {
		if (strcmp(o.cmd, "add") == 0)
			r = cmd_add(&o, &ss, err, sizeof err);
		else if (strcmp(o.cmd, "list") == 0)
			r = cmd_list(&o, &ss);
		else if (strcmp(o.cmd, "du") == 0)
			r = cmd_du(&ss);
		else
			r = cmd_gc(&o, &ss, err, sizeof err);
		stores_free(&ss);
	}
	if (r)
		fprintf(stderr, "%s\n", err);
	store_opts_free(&o);
	return r ? 1 : 0;
}
