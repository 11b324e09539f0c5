// SPDX-License-Identifier: GPL-2.0-or-later
/* From a lock to the layers of an env: read, find, fetch, add, pin. */
#include "lockenv.h"
#include "envs.h"
#include "lockfile.h"
#include "sha256.h"
#include "store.h"
#include "storeadd.h"
#include "util.h"
#include "withreqs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define LOCK_MAX_BYTES (64u << 20)

/* What lockenv_layers found, for lockenv_mounted. */
static struct {
	char *remember;         /* the pylock.toml DIR keeps */
	char *summary;
	struct store *own;      /* in stores, if the env uses entries of it */
	struct stores stores;
	char **entries;
	size_t n;
} state;

const char *lockenv_summary(void)
{
	return state.summary;
}

/* A file's text (NUL-terminated; *len without it): by path, or name below
 * dirfd following no symlink. NULL with errno. */
static char *read_text(int dirfd, const char *path, size_t *len)
{
	int fd = dirfd >= 0 ? openat_beneath(dirfd, path, O_RDONLY) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > LOCK_MAX_BYTES) {
		int e = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		close(fd);
		errno = e;
		return NULL;
	}
	char *buf = pe_xmalloc((size_t)st.st_size + 1);
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == (size_t)st.st_size)
			break;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *dir_of(const char *path)
{
	char *abs;
	if (path[0] == '/') {
		abs = path_normalize(path);
	} else {
		char cwd[4096];
		cleanup_free char *j = path_join(getcwd(cwd, sizeof cwd) ? cwd : "/", path);
		abs = path_normalize(j);
	}
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	return abs;
}

/* -r FILE in a requirements file: relative to the including file. */
static char *read_include(const char *path, const char *from_dir, size_t *len, char **dir, char *err, size_t errlen,
			  void *arg)
{
	(void)arg;
	cleanup_free char *full = path[0] == '/' ? pe_xstrdup(path) : path_join(from_dir, path);
	char *text = read_text(-1, full, len);
	if (!text) {
		pe_err(err, errlen, "-r %s: %s", full, strerror(errno));
		return NULL;
	}
	*dir = dir_of(full);
	return text;
}

static void fill_env(struct spec_env *e, const char *xy, const char *version)
{
	static struct utsname u;
	uname(&u);
	memset(e, 0, sizeof *e);
	e->python_version = xy;
	e->python_full_version = version;
	e->implementation_name = "cpython";
	e->platform_python_implementation = "CPython";
	e->os_name = "posix";
	e->sys_platform = "linux";
	e->platform_system = "Linux";
	e->platform_machine = u.machine;
	e->platform_release = u.release;
	e->platform_version = u.version;
}

/* The lock: --lock FILE, or DIR's remembered one; *none if neither. */
static int read_lock(const struct lockenv_in *in, struct lock *l, int *none, char *err, size_t len)
{
	struct spec_env env;
	fill_env(&env, in->xy, in->version);
	size_t n = 0;
	cleanup_free char *text = NULL;
	cleanup_free char *dir = NULL;
	const char *name;
	int pylock;
	*none = 0;
	if (in->lock) {
		text = read_text(-1, in->lock, &n);
		if (!text)
			return pe_err(err, len, "--lock '%s': %s", in->lock, strerror(errno));
		dir = dir_of(in->lock);
		name = in->lock;
		pylock = lock_is_pylock(in->lock);
	} else {
		int site = open(in->site, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (site >= 0) {
			text = read_text(site, LOCKENV_REMEMBERED, &n);
			close(site);
		}
		if (!text) {
			*none = 1;
			return 0;
		}
		dir = pe_xstrdup(in->site);
		name = "DIR/" LOCKENV_REMEMBERED;
		pylock = 1;
	}
	int r = pylock ? lock_parse_pylock(text, n, name, dir, &env, l, err, len)
		       : lock_parse_requirements(text, n, name, dir, &env, read_include, NULL, l, err, len);
	if (!r)
		state.summary = pe_xasprintf("%s: %zu distributions", in->lock ? in->lock : "DIR's remembered lock", l->n);
	return r;
}

/* The entry of a package, if a store has one. */
static char *find_entry(struct stores *ss, struct lock_package *p, const char *xy, size_t *which, char *err,
			size_t len, int *failed)
{
	*failed = 0;
	int any_unhashed = 0;
	for (size_t k = 0; k < p->nwheels; k++) {
		struct lock_wheel *w = &p->wheels[k];
		if (!w->sha256[0] && w->path) {
			/* a local wheel without a hash: hashed here */
			int fd = open(w->path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				(void)sha256_fd(fd, w->sha256);
				close(fd);
			}
		}
		if (!w->sha256[0]) {
			any_unhashed = 1;
			continue;
		}
		int several;
		char *e = stores_find(ss, p->norm, p->version ? p->version : "", xy, w->sha256, &several);
		if (e) {
			*which = k;
			return e;
		}
	}
	if (any_unhashed && p->version) {
		int several;
		char *e = stores_find(ss, p->norm, p->version, xy, NULL, &several);
		if (several) {
			*failed = 1;
			pe_err(err, len, "%s==%s: the stores hold several builds of it for Python %s: pin one with --hash",
			       p->name, p->version, xy);
			return NULL;
		}
		if (e) {
			*which = 0;
			return e;
		}
	}
	return NULL;
}

static int is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

struct missing {
	size_t pkg;             /* in the lock */
	char *wheel;            /* a local file, found or downloaded */
	const char *expect;     /* the sha256 it must have */
};

/* A requirements file for pip of the packages to fetch: by URL where the
 * lock names one, else NAME==VERSION, with the hashes when every one has
 * some. The count written, or -1 with err. */
static long write_wanted(const char *path, struct lock *l, const struct missing *m, size_t nm, char *err,
			 size_t len)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return pe_err(err, len, "cannot write '%s': %s", path, strerror(errno));
	int all_hashed = 1;
	for (size_t i = 0; i < nm; i++) {
		struct lock_package *p = &l->pkgs[m[i].pkg];
		int hashed = 0;
		for (size_t k = 0; k < p->nwheels; k++)
			hashed |= p->wheels[k].sha256[0] != 0;
		all_hashed &= hashed;
	}
	long wanted = 0;
	for (size_t i = 0; i < nm; i++) {
		if (m[i].wheel)
			continue;
		struct lock_package *p = &l->pkgs[m[i].pkg];
		const struct lock_wheel *url = NULL;
		for (size_t k = 0; k < p->nwheels && !url; k++)
			if (p->wheels[k].url && !p->wheels[k].path)
				url = &p->wheels[k];
		if (url)
			fprintf(f, "%s @ %s", p->name, url->url);
		else
			fprintf(f, "%s==%s", p->name, p->version ? p->version : "");
		for (size_t k = 0; all_hashed && k < p->nwheels; k++)
			if (p->wheels[k].sha256[0] && (!url || &p->wheels[k] == url))
				fprintf(f, " --hash=sha256:%s", p->wheels[k].sha256);
		fputc('\n', f);
		wanted++;
	}
	if (fclose(f))
		return pe_err(err, len, "cannot write '%s': %s", path, strerror(errno));
	return wanted;
}

/* Downloads with the base's pip what the lock names by URL or by NAME==VERSION
 * only; fills m->wheel. */
static int download(const struct lockenv_in *in, struct lock *l, struct missing *m, size_t nm, const char *dldir,
		    char *err, size_t len)
{
	cleanup_free char *reqfile = path_join(dldir, "requirements.txt");
	cleanup_free char *dest = path_join(dldir, "wheels");
	long wanted = write_wanted(reqfile, l, m, nm, err, len);
	if (wanted <= 0)
		return (int)wanted;
	if (mkdir(dest, 0700))
		return pe_err(err, len, "cannot make '%s': %s", dest, strerror(errno));
	size_t nargs = 0;
	char **args = pe_xcalloc(l->npip_args + 3, sizeof *args);
	for (size_t i = 0; i < l->npip_args; i++)
		args[nargs++] = l->pip_args[i];
	args[nargs++] = "-r";
	args[nargs++] = reqfile;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "pyenvfs: fetching %ld wheels with pip\n", wanted);
	int r = storepip_run(in->base, in->xy, "download", dest, args, nargs, dldir, NULL, err, len);
	free(args);
	if (r)
		return -1;
	/* which file is whose */
	DIR *d = opendir(dest);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct spec_wheel w;
		if (spec_parse_wheel(de->d_name, &w))
			continue;
		cleanup_free char *norm = spec_normalize_name(w.name);
		for (size_t i = 0; i < nm; i++)
			if (!m[i].wheel && strcmp(l->pkgs[m[i].pkg].norm, norm) == 0)
				m[i].wheel = path_join(dest, de->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < nm; i++)
		if (!m[i].wheel)
			return pe_err(err, len, "pip fetched no wheel of %s==%s", l->pkgs[m[i].pkg].name,
				      l->pkgs[m[i].pkg].version ? l->pkgs[m[i].pkg].version : "?");
	return 0;
}

/* The lock's packages that no store has: fetched if needed, added. */
static int add_missing(const struct lockenv_in *in, struct stores *ss, struct lock *l, struct missing *m, size_t nm,
		       char **entries, size_t *chosen, char *err, size_t len)
{
	struct spec_target t;
	char flags[16];
	if (store_target(in->base, in->xy, &t, flags, sizeof flags, err, len))
		return -1;
	struct store *own = ss->n && ss->s[0].own ? &ss->s[0] : NULL;
	if (!own)
		return pe_err(err, len, "%s==%s is in no store, and you have no store of your own to add it to (set HOME, XDG_CACHE_HOME or PYENVFS_STORE)",
			      l->pkgs[m[0].pkg].name, l->pkgs[m[0].pkg].version);
	/* the wheel for this Python: the best fit among those the lock names */
	int need_download = 0;
	for (size_t i = 0; i < nm; i++) {
		struct lock_package *p = &l->pkgs[m[i].pkg];
		int best = 0;
		size_t pick = 0;
		int named = 0;
		for (size_t k = 0; k < p->nwheels; k++) {
			struct spec_wheel w;
			if (!p->wheels[k].file || spec_parse_wheel(p->wheels[k].file, &w))
				continue;
			named = 1;
			int fit = spec_wheel_fits(&w, &t);
			if (fit > best) {
				best = fit;
				pick = k;
			}
		}
		if (named && !best)
			return pe_err(err, len, "%s==%s: none of the lock's wheels is for Python %s here (cp%d%d%s, %s)",
				      p->name, p->version, in->xy, t.major, t.minor, t.abiflags, t.machine);
		chosen[m[i].pkg] = pick;
		struct lock_wheel *w = &p->wheels[pick];
		m[i].expect = w->sha256[0] ? w->sha256 : NULL;
		if (named && w->path && access(w->path, R_OK) == 0) {
			m[i].wheel = pe_xstrdup(w->path);
		} else {
			if (named && w->path && !w->url)
				return pe_err(err, len, "%s==%s: the lock's wheel '%s': %s", p->name, p->version, w->path,
					      strerror(errno));
			need_download = 1;
			if (named && w->url) {
				/* only this wheel: the one chosen */
				for (size_t k = 0; k < p->nwheels; k++)
					if (k != pick)
						p->wheels[k].url = (free(p->wheels[k].url), NULL);
			}
		}
	}
	if (store_make_own(own, err, len))
		return -1;
	cleanup_free char *dldir = NULL;
	if (need_download) {
		dldir = pe_xasprintf("%s/tmp/build.%ld.XXXXXX", own->path, (long)getpid());
		if (!mkdtemp(dldir)) {
			pe_err(err, len, "cannot make a directory in '%s/tmp': %s", own->path, strerror(errno));
			free(dldir);
			dldir = NULL;
			return -1;
		}
		if (download(in, l, m, nm, dldir, err, len)) {
			(void)store_remove(dldir);
			return -1;
		}
	}
	struct store_job *jobs = pe_xcalloc(nm + 1, sizeof *jobs);
	for (size_t i = 0; i < nm; i++) {
		struct lock_package *p = &l->pkgs[m[i].pkg];
		jobs[i].wheel = m[i].wheel;
		jobs[i].label = p->name;
		jobs[i].expect = m[i].expect;
		if (!m[i].expect) {
			/* NAME==VERSION with several hashes (one per platform): the one fetched must be one of them */
			char sha[65];
			int fd = open(m[i].wheel, O_RDONLY | O_CLOEXEC);
			int ok = fd >= 0 && sha256_fd(fd, sha) == 0;
			if (fd >= 0)
				close(fd);
			int listed = 0, any = 0;
			for (size_t k = 0; ok && k < p->nwheels; k++) {
				any |= p->wheels[k].sha256[0] != 0;
				if (strcmp(p->wheels[k].sha256, sha) == 0) {
					listed = 1;
					chosen[m[i].pkg] = k;
				}
			}
			if (any && !listed) {
				pe_err(err, len, "%s==%s: the wheel pip fetched (sha256 %s) is none of the lock's --hash", p->name,
				       p->version, ok ? sha : "?");
				free(jobs);
				if (dldir)
					(void)store_remove(dldir);
				return -1;
			}
		}
	}
	int r = store_add(ss, in->base, in->xy, jobs, nm, 1, err, len);
	for (size_t i = 0; i < nm && !r; i++) {
		struct lock_package *p = &l->pkgs[m[i].pkg];
		entries[m[i].pkg] = jobs[i].entry;
		jobs[i].entry = NULL;
		/* the lock remembered names the wheel by what it is */
		struct lock_wheel *w = &p->wheels[chosen[m[i].pkg]];
		if (!w->sha256[0])
			memcpy(w->sha256, jobs[i].sha256, 65);
		if (!w->file) {
			const char *b = strrchr(m[i].wheel, '/');
			w->file = pe_xstrdup(b ? b + 1 : m[i].wheel);
		}
	}
	store_jobs_free(jobs, nm);
	free(jobs);
	if (dldir)
		(void)store_remove(dldir);
	return r;
}

/* The lock DIR remembers: each package with the wheel its entry holds. */
static char *remembered(struct lock *l, char **entries, const size_t *chosen)
{
	struct lock r = { 0 };
	r.n = l->n;
	r.pkgs = pe_xcalloc(l->n + 1, sizeof *r.pkgs);
	r.requires_python = l->requires_python;
	for (size_t i = 0; i < l->n; i++) {
		struct lock_package *p = &l->pkgs[i];
		struct lock_wheel *w = &p->wheels[chosen[i]];
		r.pkgs[i] = *p;
		r.pkgs[i].nwheels = 1;
		r.pkgs[i].wheels = pe_xcalloc(1, sizeof *r.pkgs[i].wheels);
		struct lock_wheel *o = &r.pkgs[i].wheels[0];
		char norm[256], ver[128], xy[16], sha[65];
		const char *b = strrchr(entries[i], '/');
		if (store_entry_parse(b ? b + 1 : entries[i], norm, ver, xy, sha) == 0)
			memcpy(o->sha256, sha, 65);
		o->file = store_entry_info(entries[i], "wheel");
		o->url = w->url;
		o->path = w->path;
		if (!r.pkgs[i].version)
			r.pkgs[i].version = pe_xstrdup(ver);
	}
	char *text = lock_to_pylock(&r, "pyenvfs");
	for (size_t i = 0; i < l->n; i++) {
		free(r.pkgs[i].wheels[0].file);
		if (!l->pkgs[i].version)
			free(r.pkgs[i].version);
		free(r.pkgs[i].wheels);
	}
	free(r.pkgs);
	return text;
}

int lockenv_layers(const struct lockenv_in *in, char ***paths, size_t *n, char *err, size_t len)
{
	*paths = NULL;
	*n = 0;
	struct lock l;
	int none;
	if (read_lock(in, &l, &none, err, len))
		return -1;
	if (none)
		return 0;
	struct stores *ss = &state.stores;
	if (stores_open(ss, in->store, (const char *const *)in->shared, in->nshared, err, len)) {
		lock_free(&l);
		return -1;
	}
	char **entries = pe_xcalloc(l.n + 1, sizeof *entries);
	size_t *chosen = pe_xcalloc(l.n + 1, sizeof *chosen);
	struct missing *m = pe_xcalloc(l.n + 1, sizeof *m);
	size_t nm = 0;
	int r = 0;
	for (size_t i = 0; i < l.n && !r; i++) {
		int failed;
		entries[i] = find_entry(ss, &l.pkgs[i], in->xy, &chosen[i], err, len, &failed);
		if (failed)
			r = -1;
		else if (!entries[i])
			m[nm++].pkg = i;
	}
	if (!r && nm)
		r = add_missing(in, ss, &l, m, nm, entries, chosen, err, len);
	/* pinned: gc leaves what a live mount stacks */
	for (size_t i = 0; i < l.n && !r; i++) {
		struct store *s = stores_of(ss, entries[i]);
		if (!s || !s->own)
			continue;
		state.own = s;
		int p = store_pin(entries[i]);
		if (p == -ENOENT)
			r = pe_err(err, len, "%s: removed by pyenvfs store gc while it was being mounted: mount again",
				   entries[i]);
		else if (p)
			r = pe_err(err, len, "%s: %s", entries[i], p == -EPERM ? "not trusted" : strerror(-p));
	}
	for (size_t i = 0; i < nm; i++)
		free(m[i].wheel);
	free(m);
	if (!r) {
		for (size_t i = 0; i < l.n; i++)
			if (!is_hex64(l.pkgs[i].wheels[chosen[i]].sha256) || !entries[i])
				r = pe_err(err, len, "%s: no entry", l.pkgs[i].name);
	}
	if (!r) {
		state.remember = remembered(&l, entries, chosen);
		state.entries = entries;
		state.n = l.n;
		*paths = entries;
		*n = l.n;
	} else {
		for (size_t i = 0; i < l.n; i++)
			free(entries[i]);
		free(entries);
	}
	free(chosen);
	lock_free(&l);
	return r;
}

/* Writes DIR/.pyenvfs/pylock.toml by descriptor: a new file beside it, renamed over it. */
static void remember_in(int site_fd, uid_t owner, gid_t group, int as_root)
{
	int dfd = openat_beneath(site_fd, ".pyenvfs", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return;
	size_t n;
	cleanup_free char *have = read_text(dfd, "pylock.toml", &n);
	if (have && strcmp(have, state.remember) == 0) {
		close(dfd);
		return;
	}
	char tmp[64];
	snprintf(tmp, sizeof tmp, ".pylock.toml.%ld", (long)getpid());
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		size_t len = strlen(state.remember);
		int ok = write(fd, state.remember, len) == (ssize_t)len;
		if (as_root)
			(void)fchown(fd, owner, group);
		if (close(fd) || !ok || renameat(dfd, tmp, dfd, "pylock.toml"))
			(void)unlinkat(dfd, tmp, 0);
	}
	close(dfd);
}

void lockenv_mounted(int site_fd, uid_t owner, gid_t group, int as_root)
{
	if (!state.remember)
		return;
	remember_in(site_fd, owner, group, as_root);
	if (state.own) {
		char **mine = pe_xcalloc(state.n + 1, sizeof *mine);
		size_t k = 0;
		for (size_t i = 0; i < state.n; i++)
			if (stores_of(&state.stores, state.entries[i]) == state.own)
				mine[k++] = state.entries[i];
		store_stamp(state.own, mine, k);
		free(mine);
	}
}
