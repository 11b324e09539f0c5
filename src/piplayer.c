// SPDX-License-Identifier: GPL-2.0-or-later
/* The pip layer: made once per base from its own ensurepip, kept in the cache. */
#include "piplayer.h"
#include "check.h"
#include "envs.h"
#include "layout.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Run by the base interpreter: argv is ROOT LAYER X.Y SCRIPT-ROOT. Its own
 * ensurepip installs pip into the temporary ROOT (the scheme's paths below
 * it); the site directory's entries are moved to LAYER's top and the scripts
 * to LAYER/.pyenvfs/upper/bin, their first line naming SCRIPT-ROOT/bin/pythonX.Y
 * (and the RECORDs updated to match). Runs on 2.7 and 3.x. */
const char piplayer_py[] =
"import base64, hashlib, os, re, sys\n"
"root, layer, xy, sroot = sys.argv[1:5]\n"
"def b(s):\n"
"    return s if isinstance(s, bytes) else s.encode('utf-8')\n"
"import ensurepip\n"
"# Debian's ensurepip refuses to run outside a venv, to keep pip out of the\n"
"# system's site-packages; this install goes into a root of its own.\n"
"if hasattr(ensurepip, '_ensurepip_is_disabled_in_debian_for_system'):\n"
"    ensurepip._ensurepip_is_disabled_in_debian_for_system = lambda: None\n"
"# pip would find the base's own pip installed and install nothing.\n"
"_run_pip = ensurepip._run_pip\n"
"def run_pip(args, *a, **k):\n"
"    args = list(args)\n"
"    args.insert(args.index('install') + 1, '--ignore-installed')\n"
"    return _run_pip(args, *a, **k)\n"
"ensurepip._run_pip = run_pip\n"
"ensurepip.bootstrap(root=root, default_pip=True)\n"
"def find(test):\n"
"    for d, dirs, files in os.walk(root):\n"
"        if test(d, dirs, files):\n"
"            return d\n"
"    sys.exit('ensurepip installed no pip into %s' % root)\n"
"site = find(lambda d, dirs, files: os.path.isfile(os.path.join(d, 'pip', '__init__.py')))\n"
"bindir = find(lambda d, dirs, files: 'pip' + xy in files)\n"
"for n in os.listdir(site):\n"
"    os.rename(os.path.join(site, n), os.path.join(layer, n))\n"
"up = os.path.join(layer, '.pyenvfs', 'upper', 'bin')\n"
"os.makedirs(up)\n"
"PY = br'/\\S*/bin/python(?:[0-9]+(?:\\.[0-9]+)?)?t?'\n"
"SIMPLE = re.compile(br'#![ \\t]*' + PY + br'([ \\t][^\\n]*)?\\n')\n"
"TRAMPOLINE = re.compile(br\"#!/bin/sh\\n'''exec' \\\"?\" + PY + br\"\\\"?( [^\\n]*)? \\\"\\$0\\\" \\\"\\$@\\\"\\n' '''\\n\")\n"
"changed = {}\n"
"for n in os.listdir(bindir):\n"
"    src, dst = os.path.join(bindir, n), os.path.join(up, n)\n"
"    m = None\n"
"    if os.path.isfile(src) and not os.path.islink(src):\n"
"        f = open(src, 'rb')\n"
"        data = f.read()\n"
"        f.close()\n"
"        m = SIMPLE.match(data) or TRAMPOLINE.match(data)\n"
"    if not m:\n"
"        os.rename(src, dst)\n"
"        continue\n"
"    new = b'#!' + b(sroot) + b'/bin/python' + b(xy) + (m.group(1) or b'') + b'\\n' + data[m.end():]\n"
"    f = open(dst, 'wb')\n"
"    f.write(new)\n"
"    f.close()\n"
"    os.chmod(dst, 0o755)\n"
"    os.unlink(src)\n"
"    changed[os.path.normpath(src)] = new\n"
"# The RECORDs list the scripts with their digests: those of the new lines.\n"
"for n in os.listdir(layer):\n"
"    rec = os.path.join(layer, n, 'RECORD')\n"
"    if not n.endswith('.dist-info') or not os.path.isfile(rec):\n"
"        continue\n"
"    f = open(rec, 'rb')\n"
"    lines = f.read().split(b'\\n')\n"
"    f.close()\n"
"    for i, line in enumerate(lines):\n"
"        parts = line.rstrip(b'\\r').rsplit(b',', 2)\n"
"        full = os.path.normpath(os.path.join(site, parts[0].decode('utf-8')))\n"
"        if len(parts) == 3 and full in changed:\n"
"            data = changed[full]\n"
"            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=')\n"
"            lines[i] = parts[0] + b',sha256=' + digest + b',' + b(str(len(data)))\n"
"    f = open(rec, 'wb')\n"
"    f.write(b'\\n'.join(lines))\n"
"    f.close()\n";

/* "path:dev:ino:size:mtime" of path, appended to key; 0, or -1 if missing. */
static int add_stat(char **key, const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return -1;
	char *next = pe_xasprintf("%s|%s:%llu:%llu:%lld:%lld.%09ld", *key, path, (unsigned long long)st.st_dev,
				  (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
				  st.st_mtim.tv_nsec);
	free(*key);
	*key = next;
	return 0;
}

char *piplayer_key(const char *base, const char *xy)
{
	/* The interpreter's identity as the layout cache's key names it
	 * (layout_cache_key also wants sysconfig.py and site.py, which the
	 * layer does not depend on, and 3.13's sysconfig is a package). */
	cleanup_free char *exe = pe_xasprintf("%s/bin/python%s", base, xy);
	cleanup_free char *ensurepip = pe_xasprintf("%s/lib/python%s/ensurepip/__init__.py", base, xy);
	cleanup_free char *bundled = pe_xasprintf("%s/lib/python%s/ensurepip/_bundled", base, xy);
	char *key = pe_xasprintf("pyenvfs-pip-layer-1 %s maker-%016llx %s", PYENVFS_VERSION,
				 (unsigned long long)pe_hash(piplayer_py), base);
	if (add_stat(&key, exe) || add_stat(&key, ensurepip)) {
		free(key);
		return NULL;
	}
	/* The wheels: ensurepip's own, or the distribution's (Debian's and
	 * Fedora's WHEEL_PKG_DIR). A replaced wheel changes its directory. */
	(void)add_stat(&key, bundled);
	(void)add_stat(&key, "/usr/share/python-wheels");
	return key;
}

/* 1 if dir is a complete layer made for key. */
static int layer_ok(const char *dir, const char *key)
{
	cleanup_free char *keyfile = pe_xasprintf("%s/.pyenvfs/pip-layer", dir);
	cleanup_free char *pip = pe_xasprintf("%s/pip/__init__.py", dir);
	struct stat st;
	if (stat(pip, &st))
		return 0;
	int fd = open(keyfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	size_t klen = strlen(key);
	cleanup_free char *buf = pe_xmalloc(klen + 2);
	ssize_t n = read(fd, buf, klen + 2);
	close(fd);
	return n == (ssize_t)klen + 1 && memcmp(buf, key, klen) == 0 && buf[klen] == '\n';
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int r = write(fd, text, n) == (ssize_t)n ? 0 : -1;
	if (close(fd))
		r = -1;
	return r;
}

/* Builds left by a builder that died: ".build.NAME.PID.XXXXXX" of a PID
 * that no longer exists. */
static void remove_dead_builds(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".build.", 7) != 0)
			continue;
		cleanup_free char *copy = pe_xstrdup(e->d_name);
		char *dot = strrchr(copy, '.');
		*dot = '\0';
		dot = strrchr(copy, '.');
		long pid = dot ? atol(dot + 1) : 0;
		/* EPERM: another user's live process */
		if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		cleanup_free char *path = path_join(dir, e->d_name);
		(void)remove_tree(path);
	}
	closedir(d);
}

/* The last non-empty line of the log, for the error message. */
static void last_line(const char *log, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = fopen(log, "r");
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

/* The base interpreter runs piplayer_py in build/: 0 or -1 with err. */
static int run_maker(const char *base, const char *xy, const char *build, char *err, size_t len)
{
	cleanup_free char *exe = pe_xasprintf("%s/bin/python%s", base, xy);
	cleanup_free char *root = path_join(build, "root");
	cleanup_free char *layer = path_join(build, "layer");
	cleanup_free char *log = path_join(build, "log");
	cleanup_free char *home = pe_xasprintf("HOME=%s", build);
	cleanup_free char *tmp = pe_xasprintf("TMPDIR=%s", build);
	pid_t pid = fork();
	if (pid < 0)
		return pe_err(err, len, "fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in < 0 || out < 0 || chdir(build))
			_exit(127);
		dup2(in, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(out, STDERR_FILENO);
		/* Nothing may be written into the base: -B, and for the
		 * interpreters ensurepip starts itself (3.12 on), which take no
		 * flags from it, PYTHONDONTWRITEBYTECODE. -E -s ignore the
		 * caller's PYTHON* variables and user site (the environment is
		 * ours anyway). Not -I: ensurepip passes it on, and it would
		 * make those interpreters ignore PYTHONDONTWRITEBYTECODE. pip
		 * compiles the bytecode of what it installs, into the layer. */
		char *argv[] = { exe, "-E", "-s", "-B", "-c", (char *)piplayer_py, root, layer, (char *)xy,
				 PIPLAYER_ROOT, NULL };
		char *envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
				 "PYTHONNOUSERSITE=1", "PIP_CONFIG_FILE=/dev/null", "PIP_NO_INPUT=1", home, tmp, NULL };
		execve(exe, argv, envp);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	cleanup_free char *pip = path_join(layer, "pip/__init__.py");
	cleanup_free char *script = path_join(layer, ".pyenvfs/upper/bin/pip");
	struct stat st;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(pip, &st) == 0 && stat(script, &st) == 0)
		return 0;
	char line[300];
	last_line(log, line, sizeof line);
	return pe_err(err, len, "--with-pip: %s could not make a pip layer with its ensurepip%s%s", exe,
		      line[0] ? ": " : "", line);
}

static int mkdir_p(const char *path)
{
	cleanup_free char *p = pe_xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) && errno != EEXIST)
				return -1;
			*s = c;
			if (!c)
				return 0;
		}
	}
}

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

char *piplayer_get(const char *base, const char *xy, double *built_secs, char *err, size_t len)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*built_secs = -1;
	cleanup_free char *key = piplayer_key(base, xy);
	if (!key) {
		pe_err(err, len, "--with-pip: %s/lib/python%s has no ensurepip (no bundled pip to make a layer of)", base,
		       xy);
		return NULL;
	}
	cleanup_free char *cache = layout_cache_dir();
	if (!cache) {
		pe_err(err, len, "--with-pip: no cache directory for the pip layer (set HOME or XDG_CACHE_HOME)");
		return NULL;
	}
	cleanup_free char *dir = path_join(cache, "pip-layers");
	char name[64];
	snprintf(name, sizeof name, "%s-%016llx", xy, (unsigned long long)pe_hash(key));
	char *final = path_join(dir, name);
	if (layer_ok(final, key))
		return final;

	if (mkdir_p(dir)) {
		pe_err(err, len, "--with-pip: cannot make '%s': %s", dir, strerror(errno));
		free(final);
		return NULL;
	}
	remove_dead_builds(dir);
	cleanup_free char *build = pe_xasprintf("%s/.build.%s.%ld.XXXXXX", dir, name, (long)getpid());
	if (!mkdtemp(build)) {
		pe_err(err, len, "--with-pip: cannot make a directory in '%s': %s", dir, strerror(errno));
		free(final);
		return NULL;
	}
	cleanup_free char *layer = path_join(build, "layer");
	cleanup_free char *mounts = path_join(layer, ".pyenvfs/mounts");
	cleanup_free char *keyfile = path_join(layer, ".pyenvfs/pip-layer");
	cleanup_free char *keytext = pe_xasprintf("%s\n", key);
	int ok = mkdir(layer, 0755) == 0 && run_maker(base, xy, build, err, len) == 0;
	if (ok && (write_file(mounts, PIPLAYER_ROOT "\n") || write_file(keyfile, keytext))) {
		pe_err(err, len, "--with-pip: cannot write in '%s': %s", layer, strerror(errno));
		ok = 0;
	}
	if (ok && rename(layer, final)) {
		/* Another builder was first (ours is discarded), or what has the
		 * name is incomplete or stale: moved aside and replaced. */
		if (!layer_ok(final, key)) {
			cleanup_free char *old = path_join(build, "old");
			(void)rename(final, old);
			if (rename(layer, final) && !layer_ok(final, key)) {
				pe_err(err, len, "--with-pip: cannot put the pip layer at '%s': %s", final,
				       strerror(errno));
				ok = 0;
			}
		}
	}
	(void)remove_tree(build);
	if (!ok) {
		free(final);
		return NULL;
	}
	*built_secs = since(&t0);
	return final;
}

int piplayer_main(int argc, char **argv)
{
	const char *python = NULL, *base = NULL;
	char err[2048];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs("usage: pyenvfs pip-layer [--python X.Y] BASE\n"
			      "\n"
			      "Prints the path of the pip layer of BASE's Python (what --with-pip\n"
			      "stacks under the env's site-packages), making it first if it is not in\n"
			      "the cache ($XDG_CACHE_HOME/pyenvfs/pip-layers, else ~/.cache/...) yet.\n"
			      "It is made once per base interpreter from the base's own bundled wheels.\n",
			      stdout);
			return 0;
		} else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) {
			python = argv[++i];
		} else if (strncmp(argv[i], "--python=", 9) == 0) {
			python = argv[i] + 9;
		} else if (argv[i][0] != '-' && !base) {
			base = argv[i];
		} else {
			fprintf(stderr, "pyenvfs: pip-layer: unexpected argument '%s' (see pyenvfs pip-layer --help)\n",
				argv[i]);
			return 2;
		}
	}
	if (!base) {
		fprintf(stderr, "pyenvfs: pip-layer: missing BASE: usage: pyenvfs pip-layer [--python X.Y] BASE\n");
		return 2;
	}
	cleanup_free char *real = realpath(base, NULL);
	if (!real) {
		fprintf(stderr, "pyenvfs: BASE '%s': %s\n", base, strerror(errno));
		return 1;
	}
	char xy[16];
	if (check_python(real, python, xy, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double secs;
	cleanup_free char *layer = piplayer_get(real, xy, &secs, err, sizeof err);
	if (!layer) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (secs >= 0)
		fprintf(stderr, "pyenvfs: made the pip layer of Python %s in %s in %.2f s\n", xy, real, secs);
	printf("%s\n", layer);
	return 0;
}
