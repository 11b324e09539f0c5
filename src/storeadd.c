// SPDX-License-Identifier: GPL-2.0-or-later
/* Adding wheels to the store: hash, copy, install with the base interpreter,
 * seal, rename into place. */
#include "storeadd.h"
#include "envs.h"
#include "layout.h"
#include "sha256.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnu/libc-version.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void store_jobs_free(struct store_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].entry);
		free(jobs[i].error);
		jobs[i].entry = jobs[i].error = NULL;
	}
}

static void job_error(struct store_job *j, const char *fmt, ...) PE_PRINTF(2, 3);
static void job_error(struct store_job *j, const char *fmt, ...)
{
	if (j->error)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&j->error, fmt, ap) < 0)
		abort();
	va_end(ap);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* Runs argv with stdout to a pipe whose lines go to each_line, stderr to
 * log; the child dies with us. Returns the exit status (or -1). */
static int run_lines(char *const argv[], char *const envp[], const char *cwd, const char *log,
		     void (*each_line)(const char *line, void *arg), void *arg)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC))
		return -1;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int in = open("/dev/null", O_RDONLY);
		int err = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600) : open("/dev/null", O_WRONLY);
		if (in < 0 || err < 0 || (cwd && chdir(cwd)))
			_exit(127);
		dup2(in, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");
	if (f) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t k;
		while ((k = getline(&line, &cap, f)) > 0) {
			if (line[k - 1] == '\n')
				line[k - 1] = '\0';
			if (each_line)
				each_line(line, arg);
		}
		free(line);
		fclose(f);
	} else {
		close(out[0]);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}


static char *const clean_env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "PYTHONNOUSERSITE=1", "HOME=/nonexistent",
				   NULL };

static void take_abiflags(const char *line, void *arg)
{
	if (strncmp(line, "abiflags=", 9) == 0)
		snprintf((char *)arg, 16, "%.*s", (int)strcspn(line + 9, "\n"), line + 9);
}

int store_target(const char *base, const char *xy, struct spec_target *t, char *buf, size_t buflen, char *err,
		 size_t len)
{
	memset(t, 0, sizeof *t);
	if (sscanf(xy, "%d.%d", &t->major, &t->minor) != 2)
		return pe_err(err, len, "'%s' is not a Python version X.Y", xy);
	static struct utsname u;
	if (uname(&u))
		return pe_err(err, len, "uname: %s", strerror(errno));
	t->machine = u.machine;
	if (sscanf(gnu_get_libc_version(), "%d.%d", &t->glibc_major, &t->glibc_minor) != 2)
		t->glibc_major = t->glibc_minor = 0;
	/* The ABI flags: from the cache beside the layout's, else asked. */
	cleanup_free char *cache = layout_cache_dir();
	cleanup_free char *lkey = layout_cache_key(base, xy);
	cleanup_free char *key = lkey ? pe_xasprintf("pyenvfs-abiflags-1 %016llx %s",
						     (unsigned long long)pe_hash(store_install_py), lkey) : NULL;
	cleanup_free char *cached = cache && key ? layout_cache_load(cache, key) : NULL;
	char flags[16] = "?";
	if (cached)
		take_abiflags(cached, flags);
	if (strcmp(flags, "?") == 0) {
		cleanup_free char *exe = pe_xasprintf("%s/bin/python%s", base, xy);
		char *argv[] = { exe, "-E", "-s", "-B", "-c", (char *)store_install_py, "--abiflags", NULL };
		int st = run_lines(argv, clean_env, "/", NULL, take_abiflags, flags);
		if (st != 0 || strcmp(flags, "?") == 0)
			return pe_err(err, len, "%s does not run (it could not say which wheels it takes)", exe);
		if (cache && key) {
			cleanup_free char *text = pe_xasprintf("abiflags=%s\n", flags);
			layout_cache_store(cache, key, text);
		}
	}
	snprintf(buf, buflen, "%s", flags);
	t->abiflags = buf;
	return 0;
}

/* ---------------------------------------------------------------- builds */

int store_remove(const char *path)
{
	cleanup_free char *parent = pe_xstrdup(path);
	char *slash = strrchr(parent, '/');
	if (!slash || !slash[1]) {
		errno = EINVAL;
		return -1;
	}
	*slash = '\0';
	int dfd = open(*parent ? parent : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	/* its top may be read-only (a sealed entry): writable through a
	 * descriptor of it, never by its name */
	int top = openat(dfd, slash + 1, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (top >= 0) {
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, top);
		(void)chmod(pp, 0700);
		close(top);
	}
	int r = remove_tree_at(dfd, slash + 1);
	int e = errno;
	close(dfd);
	errno = e;
	return r;
}

/* A build or trash directory ("build.PID.X", "trash.PID.X") whose maker is gone. */
static int dead_maker(const char *name)
{
	const char *p = NULL;
	if (strncmp(name, "build.", 6) == 0)
		p = name + 6;
	else if (strncmp(name, "trash.", 6) == 0)
		p = name + 6;
	if (!p)
		return 0;
	long pid = atol(p);
	/* EPERM: another user's live process */
	return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void remove_dead_builds(const char *tmp)
{
	DIR *d = opendir(tmp);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!dead_maker(e->d_name))
			continue;
		cleanup_free char *path = path_join(tmp, e->d_name);
		(void)store_remove(path);
	}
	closedir(d);
}

static int seal_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_SL)
		return 0;
	mode_t m = st->st_mode & 07777 & ~(mode_t)0222;
	if (type == FTW_DP || type == FTW_D)
		m = 0555;
	return chmod(path, m) ? -1 : 0;
}

static int seal_below(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return ftw->level == 0 ? 0 : seal_one(path, st, type, ftw);
}

/* Nothing in the entry may be written, by its owner either: it is shared
 * by every env. Its top directory is sealed after the rename into entries/
 * (moving a directory to another parent needs write permission on it). */
static int seal(const char *dir)
{
	return nftw(dir, seal_below, 64, FTW_PHYS | FTW_DEPTH);
}


/* Copies the wheel to dst, hashing it; 0 or -errno. */
static int copy_hash(int src, const char *dst, char sha[65])
{
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	struct sha256 s;
	uint8_t d[32];
	sha256_init(&s);
	char buf[65536];
	int r = 0;
	if (lseek(src, 0, SEEK_SET) < 0)
		r = -errno;
	while (!r) {
		ssize_t n = read(src, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		sha256_update(&s, buf, (size_t)n);
		if (write(out, buf, (size_t)n) != n)
			r = -EIO;
	}
	if (close(out) && !r)
		r = -errno;
	sha256_final(&s, d);
	sha256_tohex(d, sha);
	return r;
}

struct build {
	struct stores *ss;
	struct store *own;
	struct store_job *jobs;
	size_t *todo;           /* index in jobs of each installer job */
	char **dest;            /* the installer job's directory */
	char **names;           /* the entry's name */
	size_t n;
	size_t done;
	int progress;
	const char *xy;
	struct timespec t0;
};

/* The installer finished job k: seal it and rename it into entries/. */
static void finish(struct build *b, size_t k, const char *why)
{
	struct store_job *j = &b->jobs[b->todo[k]];
	b->done++;
	if (b->progress) {
		fprintf(stderr, "\rpyenvfs: adding to the store %zu/%zu: %-50.50s", b->done, b->n,
			j->label ? j->label : base_name(j->wheel));
		fflush(stderr);
	}
	if (why || j->error) {
		job_error(j, "%s: %s", base_name(j->wheel), why);
		return;
	}
	char added[32];
	snprintf(added, sizeof added, "%lld", (long long)time(NULL));
	cleanup_free char *info = pe_xasprintf("wheel %s\nsha256 %s\npython %s\nadded %s\n", base_name(j->wheel), j->sha256,
					       b->xy, added);
	cleanup_free char *infodir = path_join(b->dest[k], ".pyenvfs");
	cleanup_free char *infofile = path_join(infodir, "store-entry");
	if ((mkdir(infodir, 0755) && errno != EEXIST) || pe_write_text_at(AT_FDCWD, infofile, info, O_CREAT | O_EXCL, 0644) || seal(b->dest[k])) {
		job_error(j, "%s: cannot finish its entry: %s", base_name(j->wheel), strerror(errno));
		return;
	}
	char *final = pe_xasprintf("%s/entries/%s", b->own->path, b->names[k]);
	if (rename(b->dest[k], final) == 0) {
		j->made = 1;
		(void)chmod(final, 0555);
	} else if (errno == EEXIST || errno == ENOTEMPTY) {
		/* another add was first: its entry is the same wheel's */
		(void)store_remove(b->dest[k]);
	} else {
		job_error(j, "%s: cannot put its entry in place: %s", base_name(j->wheel), strerror(errno));
		free(final);
		return;
	}
	j->entry = final;
}

static void on_line(const char *line, void *arg)
{
	struct build *b = arg;
	size_t k;
	int at;
	if (sscanf(line, "ok %zu%n", &k, &at) == 1 && k < b->n && !line[at])
		finish(b, k, NULL);
	else if (sscanf(line, "error %zu %n", &k, &at) == 1 && k < b->n)
		finish(b, k, line + at);
}

int store_add(struct stores *ss, const char *base, const char *xy, struct store_job *jobs, size_t n, int progress,
	      char *err, size_t len)
{
	struct store *own = ss->n && ss->s[0].own ? &ss->s[0] : NULL;
	struct spec_target target;
	char flags[16];
	int have_target = 0;
	struct build b = { .ss = ss, .own = own, .jobs = jobs, .progress = progress && isatty(STDERR_FILENO), .xy = xy };
	b.todo = pe_xcalloc(n + 1, sizeof *b.todo);
	b.dest = pe_xcalloc(n + 1, sizeof *b.dest);
	b.names = pe_xcalloc(n + 1, sizeof *b.names);
	int *fds = pe_xcalloc(n + 1, sizeof *fds);
	cleanup_free char *build = NULL;
	int ret = 0;

	/* Which are there already; which fit this Python at all. */
	for (size_t i = 0; i < n; i++) {
		struct store_job *j = &jobs[i];
		fds[i] = -1;
		struct spec_wheel w;
		if (spec_parse_wheel(base_name(j->wheel), &w)) {
			job_error(j, "'%s' is not a wheel (NAME-VERSION-PY-ABI-PLATFORM.whl)", j->wheel);
			continue;
		}
		int fd = open(j->wheel, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			job_error(j, "wheel '%s': %s", j->wheel, fd < 0 ? strerror(errno) : "not a file");
			if (fd >= 0)
				close(fd);
			continue;
		}
		int r = sha256_fd(fd, j->sha256);
		if (r) {
			job_error(j, "wheel '%s': %s", j->wheel, strerror(-r));
			close(fd);
			continue;
		}
		if (j->expect && *j->expect && strcmp(j->expect, j->sha256) != 0) {
			job_error(j, "wheel '%s' has sha256 %s, not the lock's %s", j->wheel, j->sha256, j->expect);
			close(fd);
			continue;
		}
		struct spec_version v;
		if (spec_parse_version(w.version, &v)) {
			job_error(j, "'%s': '%s' is not a PEP 440 version", j->wheel, w.version);
			close(fd);
			continue;
		}
		char ver[256];
		spec_version_str(&v, ver, sizeof ver);
		cleanup_free char *norm = spec_normalize_name(w.name);
		int several;
		j->entry = stores_find(ss, norm, ver, xy, j->sha256, &several);
		if (j->entry) {
			close(fd);
			continue;
		}
		if (!have_target) {
			if (store_target(base, xy, &target, flags, sizeof flags, err, len)) {
				close(fd);
				ret = -1;
				goto out;
			}
			have_target = 1;
		}
		if (!spec_wheel_fits(&w, &target)) {
			job_error(j, "%s is not for Python %s here (cp%d%d%s, %s)", base_name(j->wheel), xy, target.major,
				  target.minor, target.abiflags, target.machine);
			close(fd);
			continue;
		}
		if (!own) {
			job_error(j, "%s: no store of your own to add it to (set HOME, XDG_CACHE_HOME or PYENVFS_STORE)",
				  base_name(j->wheel));
			close(fd);
			continue;
		}
		fds[i] = fd;
		b.todo[b.n] = i;
		b.names[b.n] = store_entry_name(norm, ver, xy, j->sha256);
		b.n++;
	}
	if (b.n) {
		if (store_make_own(own, err, len)) {
			ret = -1;
			goto out;
		}
		cleanup_free char *tmp = path_join(own->path, "tmp");
		remove_dead_builds(tmp);
		build = pe_xasprintf("%s/build.%ld.XXXXXX", tmp, (long)getpid());
		if (!mkdtemp(build)) {
			pe_err(err, len, "cannot make a directory in '%s': %s", tmp, strerror(errno));
			free(build);
			build = NULL;
			ret = -1;
			goto out;
		}
		cleanup_free char *exe = pe_xasprintf("%s/bin/python%s", base, xy);
		char **argv = pe_xcalloc(2 * b.n + 9, sizeof *argv);
		size_t a = 0;
		argv[a++] = exe;
		argv[a++] = "-E";
		argv[a++] = "-s";
		argv[a++] = "-B";
		argv[a++] = "-c";
		argv[a++] = (char *)store_install_py;
		argv[a++] = STORE_SCRIPT_ROOT;
		char **wheels = pe_xcalloc(b.n + 1, sizeof *wheels);
		for (size_t k = 0; k < b.n; k++) {
			struct store_job *j = &jobs[b.todo[k]];
			/* The copy is what is installed: the one hashed. */
			wheels[k] = pe_xasprintf("%s/%zu-%s", build, k, base_name(j->wheel));
			b.dest[k] = pe_xasprintf("%s/%zu", build, k);
			char again[65];
			int r = copy_hash(fds[b.todo[k]], wheels[k], again);
			if (!r && mkdir(b.dest[k], 0755))
				r = -errno;
			if (r || strcmp(again, j->sha256) != 0) {
				job_error(j, "wheel '%s': %s", j->wheel, r ? strerror(-r) : "changed while it was being added");
				/* the installer is given an empty job: it fails, and is ignored */
			}
			argv[a++] = wheels[k];
			argv[a++] = b.dest[k];
		}
		cleanup_free char *log = path_join(build, "log");
		clock_gettime(CLOCK_MONOTONIC, &b.t0);
		int st = run_lines(argv, clean_env, build, log, on_line, &b);
		if (b.progress)
			fputc('\n', stderr);
		char line[300];
		if (st != 0)
			pe_last_line(log, line, sizeof line);
		for (size_t k = 0; k < b.n; k++) {
			struct store_job *j = &jobs[b.todo[k]];
			if (!j->entry && !j->error)
				job_error(j, "%s: %s stopped before installing it%s%s", base_name(j->wheel), exe,
					  st != 0 && line[0] ? ": " : "", st != 0 ? line : "");
			free(wheels[k]);
		}
		free(wheels);
		free(argv);
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (ret)
			continue;
		if (!jobs[i].entry && !jobs[i].error)
			job_error(&jobs[i], "%s: not added", base_name(jobs[i].wheel));
		if (jobs[i].error) {
			pe_err(err, len, "%s", jobs[i].error);
			ret = -1;
		}
	}
	if (build)
		(void)store_remove(build);
	for (size_t k = 0; k < b.n; k++) {
		free(b.dest[k]);
		free(b.names[k]);
	}
	free(b.todo);
	free(b.dest);
	free(b.names);
	free(fds);
	/* the own store's listing is stale now */
	if (own) {
		for (size_t k = 0; k < own->nnames; k++)
			free(own->names[k]);
		free(own->names);
		own->names = NULL;
		own->nnames = 0;
		own->listed = 0;
	}
	return ret;
}
