// SPDX-License-Identifier: GPL-2.0-or-later
/* Asking the base interpreter about its layout, parsing its answer, caching it. */
#include "layout.h"
#include "safedir.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs on every Python from 2.7 on. It reports paths for a placeholder prefix,
 * so the answer does not depend on the mount point. */
const char layout_probe_py[] =
"import sys, sysconfig\n"
"P = '/@pyenvfs@'\n"
"def rel(p):\n"
"    if p is None: return None\n"
"    p = p.rstrip('/')\n"
"    if p == P: return '.'\n"
"    if p.startswith(P + '/'): return p[len(P) + 1:]\n"
"    return None\n"
"def out(k, v):\n"
"    if v is not None: sys.stdout.write('%s=%s\\n' % (k, v))\n"
"out('version', '%d.%d.%d' % tuple(sys.version_info[:3]))\n"
"names = sysconfig.get_scheme_names()\n"
"schemes = ['venv' if 'venv' in names else 'posix_prefix']\n"
"get_default = getattr(sysconfig, 'get_default_scheme', None) or getattr(sysconfig, '_get_default_scheme', None)\n"
"d = get_default() if get_default else 'posix_prefix'\n"
"if d not in schemes: schemes.append(d)\n"
"v = {'base': P, 'platbase': P, 'installed_base': P, 'installed_platbase': P}\n"
"for s in schemes:\n"
"    p = sysconfig.get_paths(s, v)\n"
"    out('stdlib', rel(p['stdlib'])); out('stdlib', rel(p['platstdlib']))\n"
"    out('include', rel(p['include'])); out('include', rel(p['platinclude']))\n"
"    out('site', rel(p['purelib'])); out('site', rel(p['platlib']))\n"
"    out('scripts', rel(p['scripts']))\n"
"try:\n"
"    import site\n"
"    for p in site.getsitepackages([P]): out('syssite', rel(p))\n"
"except Exception:\n"
"    pass\n"
"cv = sysconfig.get_config_var\n"
"prefix, libdir = cv('prefix') or sys.prefix, cv('LIBDIR')\n"
"if libdir and libdir.startswith(prefix.rstrip('/') + '/'): out('libdir', libdir[len(prefix.rstrip('/')) + 1:].rstrip('/'))\n"
"out('soabi', cv('SOABI'))\n";

static int add_unique(char **arr, size_t *n, const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(arr[i], v) == 0)
			return 0;
	if (*n >= LAYOUT_MAX)
		return -1;
	arr[(*n)++] = pe_xstrdup(v);
	return 0;
}

/* A path from the interpreter must name a directory strictly inside the
 * prefix, in canonical form: "a/b", no "", "." or ".." component (so no
 * leading, trailing or doubled slash either). */
static int safe_relpath(const char *p)
{
	if (!*p)
		return 0;
	for (const char *c = p;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!e)
			return 1;
		c = e + 1;
	}
}

static int parse_lines(const char *text, struct layout *l, char *err, size_t len);

int layout_parse(const char *text, struct layout *l, char *err, size_t len)
{
	memset(l, 0, sizeof *l);
	if (parse_lines(text, l, err, len)) {
		layout_free(l);         /* nothing half-made is left to the caller */
		return -1;
	}
	return 0;
}

static int parse_lines(const char *text, struct layout *l, char *err, size_t len)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		cleanup_free char *line = strndup(p, n);
		p += n + (nl ? 1 : 0);
		if (!line)
			return pe_err(err, len, "out of memory");
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *k = line, *v = eq + 1;
		int r = 0;
		if (strcmp(k, "version") == 0) {
			int ma, mi, pa;
			if (sscanf(v, "%d.%d.%d", &ma, &mi, &pa) != 3 || ma < 2 || ma > 9 || mi < 0 || mi > 99)
				return pe_err(err, len, "the base interpreter reported an unexpected version '%s'", v);
			snprintf(l->version, sizeof l->version, "%d.%d.%d", ma, mi, pa);
			snprintf(l->xy, sizeof l->xy, "%d.%d", ma, mi);
			l->major = ma;
			continue;
		}
		if (strcmp(k, "soabi") == 0) {
			/* the ABI tag of its extension modules: what a layer records */
			if (strlen(v) < sizeof l->soabi && strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-.") == strlen(v))
				snprintf(l->soabi, sizeof l->soabi, "%s", v);
			continue;
		}
		if (!safe_relpath(v))
			continue;       /* outside the prefix: nothing the view can show */
		if (strcmp(k, "stdlib") == 0)
			r = add_unique(l->stdlib, &l->nstdlib, v);
		else if (strcmp(k, "include") == 0)
			r = add_unique(l->include, &l->ninclude, v);
		else if (strcmp(k, "site") == 0)
			r = add_unique(l->site, &l->nsite, v);
		else if (strcmp(k, "syssite") == 0)
			r = add_unique(l->syssite, &l->nsyssite, v);
		else if (strcmp(k, "scripts") == 0)
			r = add_unique(l->scripts, &l->nscripts, v);
		else if (strcmp(k, "libdir") == 0 && !l->libdir)
			l->libdir = pe_xstrdup(v);
		if (r)
			return pe_err(err, len, "the base interpreter reported too many '%s' paths", k);
	}
	if (!l->major)
		return pe_err(err, len, "the base interpreter did not report its version");
	if (!l->nstdlib || !l->nsite || !l->nscripts)
		return pe_err(err, len, "the base interpreter did not report its standard library, site-packages and scripts directories under its prefix");
	/* A site dir the schemes install into is DIR, never also a base site dir. */
	size_t k = 0;
	for (size_t i = 0; i < l->nsyssite; i++) {
		int dup = 0;
		for (size_t j = 0; j < l->nsite; j++)
			dup |= strcmp(l->syssite[i], l->site[j]) == 0;
		if (dup)
			free(l->syssite[i]);
		else
			l->syssite[k++] = l->syssite[i];
	}
	l->nsyssite = k;
	return 0;
}

void layout_free(struct layout *l)
{
	char **lists[] = { l->stdlib, l->include, l->site, l->syssite, l->scripts };
	size_t counts[] = { l->nstdlib, l->ninclude, l->nsite, l->nsyssite, l->nscripts };
	for (size_t i = 0; i < 5; i++)
		for (size_t j = 0; j < counts[i]; j++)
			free(lists[i][j]);
	free(l->libdir);
	memset(l, 0, sizeof *l);
}

static int cmp_version(const void *a, const void *b)
{
	int ma, mia, mb, mib;
	sscanf(a, "%d.%d", &ma, &mia);
	sscanf(b, "%d.%d", &mb, &mib);
	return ma != mb ? ma - mb : mia - mib;
}

int layout_find_versions(int basefd, char vers[][16], int max)
{
	int n = 0;
	int dfd = openat(basefd, "lib", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		int ma, mi;
		char tail;
		if (sscanf(e->d_name, "python%d.%d%c", &ma, &mi, &tail) != 2 || ma < 2 || mi < 0)
			continue;
		char xy[32], probe[96];
		snprintf(xy, sizeof xy, "%d.%d", ma, mi);
		if (strcmp(e->d_name + 6, xy) != 0)
			continue;   /* "python3.11a" or "python03.1" */
		struct stat st;
		snprintf(probe, sizeof probe, "lib/python%s/os.py", xy);
		if (fstatat(basefd, probe, &st, 0) || !S_ISREG(st.st_mode))
			continue;
		snprintf(probe, sizeof probe, "bin/python%s", xy);
		if (fstatat(basefd, probe, &st, 0) || !S_ISREG(st.st_mode) || faccessat(basefd, probe, X_OK, 0))
			continue;
		snprintf(vers[n++], 16, "%d.%d", ma, mi);
	}
	closedir(d);
	qsort(vers, (size_t)n, 16, cmp_version);
	return n;
}

char *layout_probe(const char *base, const char *xy, char *err, size_t len)
{
	cleanup_free char *exe = pe_xasprintf("%s/bin/python%s", base, xy);
	int out[2];
	if (pipe2(out, O_CLOEXEC)) {
		pe_err(err, len, "pipe: %s", strerror(errno));
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		pe_err(err, len, "fork: %s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		/* -E: ignore PYTHON* variables (an exported PYTHONHOME of another
		 * version would kill it); -S -s: no site; -B: no .pyc into the base. */
		char *argv[] = { exe, "-E", "-S", "-s", "-B", "-c", (char *)layout_probe_py, NULL };
		char *envp[] = { "LC_ALL=C", "PATH=/usr/bin:/bin", NULL };
		execve(exe, argv, envp);
		_exit(127);
	}
	close(out[1]);
	size_t cap = 8192, n = 0;
	char *buf = pe_xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t r = read(out[0], buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(out[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(buf);
		pe_err(err, len, "%s does not run (it could not report its layout)", exe);
		return NULL;
	}
	return buf;
}

char *layout_cache_key(const char *base, const char *xy)
{
	/* What the probe's answer depends on. */
	const char *const parts[] = { "bin/python%s", "lib/python%s/sysconfig.py", "lib/python%s/site.py" };
	/* ... and on the question asked: a changed probe is a new key. */
	cleanup_free char *key = pe_xasprintf("pyenvfs-layout-1 %s probe-%016llx %s", PYENVFS_VERSION,
					      (unsigned long long)pe_hash(layout_probe_py), base);
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *rel = pe_xasprintf(parts[i], xy);
		cleanup_free char *path = path_join(base, rel);
		struct stat st;
		if (stat(path, &st) && i == 1) {
			/* 3.13 made sysconfig a package */
			free(rel);
			free(path);
			rel = pe_xasprintf("lib/python%s/sysconfig/__init__.py", xy);
			path = path_join(base, rel);
		}
		if (stat(path, &st))
			return NULL;
		char *next = pe_xasprintf("%s|%s:%llu:%llu:%lld:%lld.%09ld", key, rel,
					  (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
					  (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		free(key);
		key = next;
	}
	char *out = key;
	key = NULL;
	return out;
}

static char *cache_file(const char *key)
{
	return pe_xasprintf("layout-%016llx", (unsigned long long)pe_hash(key));
}

/* The cache is read and written only where nobody but the user (or root)
 * may change it (safedir.h), through its descriptor. */
char *layout_cache_load(const char *dir, const char *key)
{
	char why[512];
	int dfd = safedir_open(dir, 0, why, sizeof why);
	if (dfd < 0)
		return NULL;
	cleanup_free char *file = cache_file(key);
	int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	close(dfd);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_size < 65536) {
		buf = pe_xmalloc((size_t)st.st_size + 1);
		ssize_t n = read(fd, buf, (size_t)st.st_size);
		size_t klen = strlen(key);
		/* The first line is the whole key: a hash collision is a miss. */
		if (n != st.st_size || (size_t)n <= klen || memcmp(buf, key, klen) || buf[klen] != '\n') {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			memmove(buf, buf + klen + 1, (size_t)n - klen);
		}
	}
	close(fd);
	return buf;
}

void layout_cache_store(const char *dir, const char *key, const char *text)
{
	char why[512];
	int dfd = safedir_open(dir, 2, why, sizeof why);        /* [.cache/]pyenvfs */
	if (dfd < 0)
		return;
	cleanup_free char *file = cache_file(key);
	cleanup_free char *tmp = pe_xasprintf("%s.%d.tmp", file, (int)getpid());
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		close(dfd);
		return;
	}
	size_t klen = strlen(key), tlen = strlen(text);
	int ok = write(fd, key, klen) == (ssize_t)klen && write(fd, "\n", 1) == 1 &&
		 write(fd, text, tlen) == (ssize_t)tlen;
	if (close(fd) || !ok || renameat(dfd, tmp, dfd, file))
		unlinkat(dfd, tmp, 0);
	close(dfd);
}

char *layout_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return pe_xasprintf("%s/pyenvfs", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/' && strcmp(home, "/") != 0)
		return pe_xasprintf("%s/.cache/pyenvfs", home);
	return NULL;
}
