// SPDX-License-Identifier: GPL-2.0-or-later
/* The base's own pip for the store: fetching and resolving. */
#include "withreqs.h"
#include "layout.h"
#include "lockfile.h"
#include "check.h"
#include "piplayer.h"
#include "runopts.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
extern const char store_pip_py[];

#define RESOLVE_TTL_DEFAULT 600

static void copy_line(char *out, size_t len, const char *s)
{
	size_t n = strlen(s);
	if (n >= len)
		n = len - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* pip's last "ERROR: ..." line of the log (else its last line). */
static void pip_error(const char *log, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = fopen(log, "re");
	if (!f)
		return;
	char line[600], last[600] = "";
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (!n)
			continue;
		copy_line(last, sizeof last, line);
		if (strncmp(line, "ERROR: ", 7) == 0)
			copy_line(out, len, line + 7);
	}
	if (!out[0])
		copy_line(out, len, last);
	fclose(f);
}

int storepip_run(const char *base, const char *xy, const char *mode, const char *arg, char *const *args, size_t n,
		 const char *workdir, char **out, char *err, size_t len)
{
	double secs;
	cleanup_free char *layer = piplayer_get(base, xy, 0, &secs, err, len);
	if (!layer)
		return -1;
	if (secs >= 0)
		fprintf(stderr, "pyenvfs: made the pip layer of Python %s in %.2f s: %s\n", xy, secs, layer);
	cleanup_free char *exe = pe_xasprintf("%s/bin/python%s", base, xy);
	cleanup_free char *log = path_join(workdir, "pip.log");
	char **argv = pe_xcalloc(n + 10, sizeof *argv);
	size_t a = 0;
	argv[a++] = exe;
	argv[a++] = "-E";
	argv[a++] = "-s";
	argv[a++] = "-c";
	argv[a++] = (char *)store_pip_py;
	argv[a++] = layer;
	argv[a++] = (char *)mode;
	argv[a++] = (char *)arg;
	for (size_t i = 0; i < n; i++)
		argv[a++] = args[i];
	int pipefd[2] = { -1, -1 };
	if (out && pipe2(pipefd, O_CLOEXEC)) {
		free(argv);
		return pe_err(err, len, "pipe: %s", strerror(errno));
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		free(argv);
		return pe_err(err, len, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int in = open("/dev/null", O_RDONLY);
		int lg = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int o = out ? pipefd[1] : lg;
		if (in < 0 || lg < 0 || chdir(workdir))
			_exit(127);
		dup2(in, STDIN_FILENO);
		dup2(o, STDOUT_FILENO);
		dup2(lg, STDERR_FILENO);
		execve(exe, argv, environ);
		_exit(127);
	}
	free(argv);
	size_t got = 0, cap = 0;
	char *buf = NULL;
	if (out) {
		close(pipefd[1]);
		for (;;) {
			if (got + 4096 + 1 > cap) {
				cap = (got + 4096 + 1) * 2;
				buf = realloc(buf, cap);
				if (!buf)
					abort();
			}
			ssize_t k = read(pipefd[0], buf + got, cap - got - 1);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		close(pipefd[0]);
		buf[got] = '\0';
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(buf);
		char line[400];
		pip_error(log, line, sizeof line);
		return pe_err(err, len, "pip (of %s) failed%s%s", exe, line[0] ? ": " : "", line);
	}
	if (out)
		*out = buf;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_stat(char **key, const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return;
	char *next = pe_xasprintf("%s|%s:%llu:%lld.%09ld", *key, path, (unsigned long long)st.st_ino,
				  (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	free(*key);
	*key = next;
}

/* What pip's answer depends on that can be seen cheaply: the requirements,
 * the interpreter, PIP_* variables, pip's configuration files (and, within
 * the TTL, the indexes). */
static char *resolve_key(const char *base, const char *xy, char *const *reqs, size_t n)
{
	cleanup_free char *lkey = layout_cache_key(base, xy);
	if (!lkey)
		return NULL;
	char *key = pe_xasprintf("pyenvfs-with-1 %016llx %s", (unsigned long long)pe_hash(store_pip_py), lkey);
	for (size_t i = 0; i < n; i++) {
		char *next = pe_xasprintf("%s|req=%s", key, reqs[i]);
		free(key);
		key = next;
	}
	size_t ne = 0;
	for (char **e = environ; *e; e++)
		ne += strncmp(*e, "PIP_", 4) == 0;
	char **pipv = pe_xcalloc(ne + 1, sizeof *pipv);
	ne = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PIP_", 4) == 0)
			pipv[ne++] = *e;
	qsort(pipv, ne, sizeof *pipv, cmp_str);
	for (size_t i = 0; i < ne; i++) {
		char *next = pe_xasprintf("%s|%s", key, pipv[i]);
		free(key);
		key = next;
	}
	free(pipv);
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME"), *cf = getenv("PIP_CONFIG_FILE");
	add_stat(&key, "/etc/pip.conf");
	add_stat(&key, "/etc/xdg/pip/pip.conf");
	if (cf)
		add_stat(&key, cf);
	if (xdg && *xdg) {
		cleanup_free char *p = pe_xasprintf("%s/pip/pip.conf", xdg);
		add_stat(&key, p);
	}
	if (home && *home) {
		cleanup_free char *p1 = pe_xasprintf("%s/.config/pip/pip.conf", home);
		cleanup_free char *p2 = pe_xasprintf("%s/.pip/pip.conf", home);
		add_stat(&key, p1);
		add_stat(&key, p2);
	}
	return key;
}


int withreqs_lock(const char *base, const char *xy, char *const *reqs, size_t n, int refresh, const char *workdir,
		  const char *out_path, char *err, size_t len)
{
	const char *ttl_s = getenv("PYENVFS_RESOLVE_TTL");
	double ttl = ttl_s && *ttl_s ? atof(ttl_s) : RESOLVE_TTL_DEFAULT;
	cleanup_free char *key = resolve_key(base, xy, reqs, n);
	cleanup_free char *cache = layout_cache_dir();
	cleanup_free char *dir = cache ? path_join(cache, "resolved") : NULL;
	cleanup_free char *cached = dir && key && !refresh ? layout_cache_load(dir, key) : NULL;
	if (cached) {
		long long when = 0;
		char *nl = strchr(cached, '\n');
		if (sscanf(cached, "resolved-at %lld", &when) == 1 && nl && (double)(time(NULL) - when) <= ttl &&
		    time(NULL) >= when) {
			if (pe_write_text_at(AT_FDCWD, out_path, nl + 1, O_CREAT | O_TRUNC, 0600))
				return pe_err(err, len, "cannot write '%s': %s", out_path, strerror(errno));
			return 0;
		}
	}
	cleanup_free char *report = path_join(workdir, "pip-report.json");
	cleanup_free char *text = NULL;
	if (storepip_run(base, xy, "resolve", report, reqs, n, workdir, &text, err, len))
		return -1;
	if (pe_write_text_at(AT_FDCWD, out_path, text, O_CREAT | O_TRUNC, 0600))
		return pe_err(err, len, "cannot write '%s': %s", out_path, strerror(errno));
	if (dir && key) {
		cleanup_free char *entry = pe_xasprintf("resolved-at %lld\n%s", (long long)time(NULL), text);
		layout_cache_store(dir, key, entry);
	}
	return 0;
}

int withreqs_script(const char *script, const char *version, char ***deps, size_t *n, char *err, size_t len)
{
	*deps = NULL;
	*n = 0;
	int fd = open(script, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || st.st_size > (16 << 20)) {
		int e = fd < 0 ? errno : EFBIG;
		if (fd >= 0)
			close(fd);
		return pe_err(err, len, "'%s': %s", script, strerror(e));
	}
	char *text = pe_xmalloc((size_t)st.st_size + 1);
	ssize_t k = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (k < 0) {
		free(text);
		return pe_err(err, len, "'%s': %s", script, strerror(errno));
	}
	text[k] = '\0';
	cleanup_free char *toml = NULL;
	int r = lock_script_block(text, (size_t)k, script, &toml, err, len);
	free(text);
	if (r || !toml)
		return r;
	cleanup_free char *rp = NULL;
	if (lock_script_meta(toml, script, deps, n, &rp, err, len))
		return -1;
	if (rp) {
		int ok = spec_satisfies(version, rp);
		if (ok <= 0) {
			for (size_t i = 0; i < *n; i++)
				free((*deps)[i]);
			free(*deps);
			*deps = NULL;
			*n = 0;
			if (ok < 0)
				return pe_err(err, len, "%s: requires-python '%s' is not a PEP 440 specifier", script, rp);
			return pe_err(err, len, "%s needs Python %s; BASE's is %s", script, rp, version);
		}
	}
	return 0;
}

/* BASE's Python as the mount will choose it: --python X.Y or -o python=X.Y
 * among the mount options. */
static const char *python_of(const struct run_opts *o)
{
	const char *want = NULL;
	for (int i = 0; i < o->nmount_args; i++) {
		const char *a = o->mount_args[i];
		if (strcmp(a, "--python") == 0 && i + 1 < o->nmount_args)
			want = o->mount_args[i + 1];
		else if (strncmp(a, "--python=", 9) == 0)
			want = a + 9;
		else if (strncmp(a, "-o", 2) == 0) {
			const char *list = a[2] ? a + 2 : (i + 1 < o->nmount_args ? o->mount_args[i + 1] : "");
			const char *p = strstr(list, "python=");
			if (p && (p == list || p[-1] == ','))
				want = p + 7;   /* up to a comma: check_python refuses what is not X.Y */
		}
	}
	return want;
}

static int has_lock(const struct run_opts *o)
{
	for (int i = 0; i < o->nmount_args; i++) {
		const char *a = o->mount_args[i];
		if (strcmp(a, "--lock") == 0 || strncmp(a, "--lock=", 7) == 0 ||
		    (strncmp(a, "-o", 2) == 0 && strstr(a[2] ? a : (i + 1 < o->nmount_args ? o->mount_args[i + 1] : ""),
						       "lock=")))
			return 1;
	}
	return 0;
}

int withreqs_run_prepare(const struct run_opts *o, const char *rundir, char **lock, int *script, char *err,
			 size_t len)
{
	*lock = NULL;
	size_t cl = strlen(o->cmd[0]);
	struct stat st;
	*script = cl > 3 && strcmp(o->cmd[0] + cl - 3, ".py") == 0 && stat(o->cmd[0], &st) == 0 && S_ISREG(st.st_mode);
	if (!*script && !o->nwith)
		return 0;
	cleanup_free char *base = realpath(o->base, NULL);
	if (!base)
		return pe_err(err, len, "BASE '%s': %s", o->base, strerror(errno));
	char xy[16], want[16] = "";
	const char *py = python_of(o);
	if (py) {
		snprintf(want, sizeof want, "%.*s", (int)strcspn(py, ","), py);
		py = want;
	}
	if (check_python(base, py, xy, err, len))
		return -1;
	/* the full version, for requires-python: the layout's answer (cached) */
	cleanup_free char *cache = layout_cache_dir();
	cleanup_free char *key = layout_cache_key(base, xy);
	cleanup_free char *probe = cache && key ? layout_cache_load(cache, key) : NULL;
	if (!probe) {
		probe = layout_probe(base, xy, err, len);
		if (!probe)
			return -1;
		if (cache && key)
			layout_cache_store(cache, key, probe);
	}
	struct layout lay;
	if (layout_parse(probe, &lay, err, len))
		return -1;
	char version[32];
	snprintf(version, sizeof version, "%s", lay.version);
	layout_free(&lay);
	char **deps = NULL;
	size_t ndeps = 0;
	if (*script && withreqs_script(o->cmd[0], version, &deps, &ndeps, err, len))
		return -1;
	size_t n = (size_t)o->nwith + ndeps;
	int r = 0;
	if (n && has_lock(o)) {
		r = pe_err(err, len, "run: --with and a script's dependencies take no --lock (one lock per env)");
	} else if (n) {
		char **reqs = pe_xcalloc(n + 1, sizeof *reqs);
		for (int i = 0; i < o->nwith; i++)
			reqs[i] = o->with[i];
		for (size_t i = 0; i < ndeps; i++)
			reqs[(size_t)o->nwith + i] = deps[i];
		*lock = path_join(rundir, "pylock.toml");
		r = withreqs_lock(base, xy, reqs, n, o->refresh, rundir, *lock, err, len);
		free(reqs);
		if (r) {
			free(*lock);
			*lock = NULL;
		}
	}
	for (size_t i = 0; i < ndeps; i++)
		free(deps[i]);
	free(deps);
	return r;
}
