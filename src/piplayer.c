// SPDX-License-Identifier: GPL-2.0-or-later
/* The pip layer: made once per base from its own ensurepip, kept in the cache. */
#include "piplayer.h"
#include "safedir.h"
#include "sha256.h"
#include "view.h"
#include "check.h"
#include "envs.h"
#include "layout.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/random.h>
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

/* The manifest of a layer: a line per object below its top (sorted, found
 * by descriptor, following no symlink), with what changes when the object
 * is written, replaced, chmod'ed or chown'ed: mode, owner, inode, and for
 * what is not a directory its size and ctime (which nobody but root with
 * the clock can set back). The key file itself is left out. Its sha256 is
 * recorded when the layer is made and checked each time it is used; and
 * nothing in it may be another user's or writable by others, so that it
 * cannot change between the check and the use. 0, or -1 with why. */
struct manifest {
	struct sha256 sum;
	char *why;
	size_t len;
};

static int PE_PRINTF(2, 3) manifest_fail(struct manifest *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->why, m->len, fmt, ap);
	va_end(ap);
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int manifest_dir(int dfd, const char *rel, struct manifest *m)
{
	DIR *d = pe_opendirat(dfd, ".");
	if (!d)
		return manifest_fail(m, "cannot read '%s': %s", *rel ? rel : ".", strerror(errno));
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (!strcmp(rel, VIEW_RESERVED) && !strcmp(e->d_name, PIPLAYER_KEY_FILE)))
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		if (!names)
			abort();
		names[n++] = pe_xstrdup(e->d_name);
	}
	qsort(names, n, sizeof *names, name_cmp);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		cleanup_free char *path = *rel ? path_join(rel, names[i]) : pe_xstrdup(names[i]);
		if (!r && fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW))
			r = manifest_fail(m, "'%s': %s", path, strerror(errno));
		if (!r && ((st.st_uid != geteuid() && st.st_uid != 0) ||
			   (!S_ISLNK(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)))))
			r = manifest_fail(m, "'%s' is uid %u's, mode %04o", path, (unsigned)st.st_uid,
					  (unsigned)(st.st_mode & 07777));
		if (!r) {
			char line[PATH_MAX + 128];
			int k = snprintf(line, sizeof line, "%s\t%o\t%u\t%u\t%llu", path, (unsigned)st.st_mode,
					 (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned long long)st.st_ino);
			if (!S_ISDIR(st.st_mode))
				k += snprintf(line + k, sizeof line - (size_t)k, "\t%lld\t%lld.%09ld", (long long)st.st_size,
					      (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
			sha256_update(&m->sum, line, (size_t)k);
			sha256_update(&m->sum, "\n", 1);
		}
		if (!r && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				r = manifest_fail(m, "'%s': %s", path, strerror(errno));
			else {
				r = manifest_dir(sub, path, m);
				close(sub);
			}
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	return r;
}

/* The manifest digest (hex) of the layer directory dfd, or -1 with why. */
static int manifest_digest(int dfd, char out[65], char *why, size_t len)
{
	struct manifest m = { .why = why, .len = len };
	sha256_init(&m.sum);
	int rd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rd < 0)
		return manifest_fail(&m, "cannot read the layer: %s", strerror(errno));
	int r = manifest_dir(rd, "", &m);
	close(rd);
	if (r)
		return -1;
	uint8_t d[32];
	sha256_final(&m.sum, d);
	sha256_tohex(d, out);
	return 0;
}

/* 1 if name in the cache directory dfd is a complete layer made for key,
 * unchanged since (its manifest's digest is the one it was made with). */
static int layer_ok(int dfd, const char *name, const char *key)
{
	int lfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd < 0)
		return 0;
	int fd = openat_beneath(lfd, VIEW_RESERVED "/" PIPLAYER_KEY_FILE, O_RDONLY);
	size_t klen = strlen(key);
	cleanup_free char *buf = pe_xmalloc(klen + 68);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, klen + 67);
	if (fd >= 0)
		close(fd);
	char digest[65], why[512];
	int ok = n == (ssize_t)klen + 66 && memcmp(buf, key, klen) == 0 && buf[klen] == '\n' &&
		 buf[klen + 65] == '\n' && manifest_digest(lfd, digest, why, sizeof why) == 0 &&
		 memcmp(buf + klen + 1, digest, 64) == 0;
	close(lfd);
	return ok;
}


/* Builds left by a builder that died: ".build.NAME.PID.XXXXXX" of a PID
 * that no longer exists, in the cache directory dfd. */
static void remove_dead_builds(int dfd)
{
	DIR *d = pe_opendirat(dfd, ".");
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
		(void)remove_tree_at(dirfd(d), e->d_name);
	}
	closedir(d);
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
	/* It takes seconds: said before it starts, and on a terminal the
	 * seconds are counted as they pass. */
	int tty = isatty(STDERR_FILENO), status = 0;
	const char *what = "pyenvfs: making the pip layer of Python";
	if (!tty)
		fprintf(stderr, "%s %s with %s's own ensurepip (once per base; it takes seconds)\n", what, xy, base);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long shown = -1;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long secs = (long)(now.tv_sec - t0.tv_sec);
		if (tty && secs != shown) {
			fprintf(stderr, "\r%s %s with %s's own ensurepip (once per base): %ld s ", what, xy, base, secs);
			shown = secs;
		}
		struct timespec nap = { 0, 100 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	if (tty)
		fputs("\r\033[K", stderr);    /* the line is replaced by the caller's */
	cleanup_free char *pip = path_join(layer, "pip/__init__.py");
	cleanup_free char *script = path_join(layer, ".pyenvfs/upper/bin/pip");
	struct stat st;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(pip, &st) == 0 && stat(script, &st) == 0)
		return 0;
	char line[300];
	pe_last_line(log, line, sizeof line);
	return pe_err(err, len, "--with-pip: %s could not make a pip layer with its ensurepip%s%s", exe,
		      line[0] ? ": " : "", line);
}

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The layer built in build/layer: its mounts file, then its key file with
 * the digest of everything else. 0, or -1 with err. */
static int seal_layer(int bfd, const char *key, char *err, size_t len)
{
	int lfd = openat(bfd, "layer", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int res = lfd < 0 ? -1 : openat(lfd, VIEW_RESERVED, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char digest[65], why[512];
	int r = res < 0 || pe_write_text_at(res, "mounts", PIPLAYER_ROOT "\n", O_CREAT | O_EXCL, 0644) ? -1 : 0;
	if (r)
		pe_err(err, len, "--with-pip: cannot write in the pip layer: %s", strerror(errno));
	if (!r && manifest_digest(lfd, digest, why, sizeof why))
		r = pe_err(err, len, "--with-pip: the pip layer just made: %s", why);
	cleanup_free char *text = r ? NULL : pe_xasprintf("%s\n%s\n", key, digest);
	if (!r && pe_write_text_at(res, PIPLAYER_KEY_FILE, text, O_CREAT | O_EXCL, 0644))
		r = pe_err(err, len, "--with-pip: cannot write in the pip layer: %s", strerror(errno));
	if (res >= 0)
		close(res);
	if (lfd >= 0)
		close(lfd);
	return r;
}

char *piplayer_get(const char *base, const char *xy, int system, double *built_secs, char *err, size_t len)
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
	char name[64], why[1024];
	snprintf(name, sizeof name, "%s-%016llx", xy, (unsigned long long)pe_hash(key));
	/* Root's system-wide layer first: every user may use it (root's, and
	 * written by nobody else: safedir's rule and the manifest's). */
	int sfd = system ? -1 : safedir_open(PIPLAYER_SYSTEM_DIR, 0, why, sizeof why);
	if (sfd >= 0) {
		int ok = layer_ok(sfd, name, key);
		close(sfd);
		if (ok)
			return path_join(PIPLAYER_SYSTEM_DIR, name);
	}
	if (system && geteuid() != 0) {
		pe_err(err, len, "pip-layer --system: only root makes the pip layer in %s", PIPLAYER_SYSTEM_DIR);
		return NULL;
	}
	cleanup_free char *cache = system ? pe_xstrdup(PIPLAYER_SYSTEM_DIR) : layout_cache_dir();
	if (!cache) {
		pe_err(err, len, "--with-pip: no cache directory for the pip layer (set HOME or XDG_CACHE_HOME)");
		return NULL;
	}
	cleanup_free char *dir = system ? pe_xstrdup(cache) : path_join(cache, "pip-layers");
	/* What is found there is run as the caller (pip): only a cache nobody
	 * else may change is used, and it is used through its descriptor. */
	int dfd = safedir_open(dir, system ? 2 : 3, why, sizeof why);  /* [.cache/]pyenvfs/pip-layers */
	if (dfd < 0) {
		pe_err(err, len, "--with-pip: the cache '%s' is not safe to use: %s (set XDG_CACHE_HOME to a directory of "
		       "your own)", dir, why);
		return NULL;
	}
	if (system) {
		/* safedir makes what is missing 0700: every user reads these */
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, dfd);
		int up = openat(dfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		(void)chmod(pp, 0755);
		if (up >= 0) {
			pe_proc_path(pp, up);
			(void)chmod(pp, 0755);
			close(up);
		}
	}
	char *final = path_join(dir, name);
	if (layer_ok(dfd, name, key)) {
		close(dfd);
		return final;
	}
	/* the system-wide layer is for every user: readable by all */
	mode_t old_umask = umask(022);
	if (!system)
		umask(old_umask);

	remove_dead_builds(dfd);
	cleanup_free char *bname = NULL;
	for (int tries = 0; !bname && tries < 100; tries++) {
		unsigned rnd = 0;
		if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			break;
		char *cand = pe_xasprintf(".build.%s.%ld.%08x", name, (long)getpid(), rnd);
		if (mkdirat(dfd, cand, 0700) == 0)
			bname = cand;
		else
			free(cand);
	}
	int bfd = bname ? openat(dfd, bname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (bfd < 0) {
		pe_err(err, len, "--with-pip: cannot make a directory in '%s': %s", dir, strerror(errno));
		close(dfd);
		free(final);
		return NULL;
	}
	cleanup_free char *build = path_join(dir, bname);
	int ok = mkdirat(bfd, "layer", 0755) == 0 && run_maker(base, xy, build, err, len) == 0 &&
		 seal_layer(bfd, key, err, len) == 0;
	if (ok && renameat(bfd, "layer", dfd, name)) {
		/* Another builder was first (ours is discarded), or what has the
		 * name is incomplete, stale or changed: moved aside and replaced. */
		if (!layer_ok(dfd, name, key)) {
			(void)renameat(dfd, name, bfd, "old");
			if (renameat(bfd, "layer", dfd, name) && !layer_ok(dfd, name, key)) {
				pe_err(err, len, "--with-pip: cannot put the pip layer at '%s': %s", final,
				       strerror(errno));
				ok = 0;
			}
		}
	}
	close(bfd);
	(void)remove_tree_at(dfd, bname);
	close(dfd);
	umask(old_umask);
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
	int system = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs("usage: pyenvfs pip-layer [--system] [--python X.Y] BASE\n"
			      "\n"
			      "Prints the path of the pip layer of BASE's Python (what --with-pip\n"
			      "stacks under the env's site-packages), making it first if it is not\n"
			      "there yet. It is made once per base interpreter from the base's own\n"
			      "bundled wheels. --with-pip uses root's system-wide one, in\n"
			      PIPLAYER_SYSTEM_DIR ", if it is there; else the user's, in\n"
			      "$XDG_CACHE_HOME/pyenvfs/pip-layers (else ~/.cache/...).\n"
			      "  --system        (root) make it in " PIPLAYER_SYSTEM_DIR ", for every user\n",
			      stdout);
			return 0;
		} else if (strcmp(argv[i], "--system") == 0) {
			system = 1;
		} else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) {
			python = argv[++i];
		} else if (strncmp(argv[i], "--python=", 9) == 0) {
			python = argv[i] + 9;
		} else if (argv[i][0] != '-' && !base) {
			base = argv[i];
		} else {
			fprintf(stderr, "pyenvfs: pip-layer: unexpected argument '%s' (see pyenvfs pip-layer --help)\n",
				argv[i]);
			return 1;
		}
	}
	if (!base) {
		fprintf(stderr, "pyenvfs: pip-layer: missing BASE: usage: pyenvfs pip-layer [--system] [--python X.Y] BASE\n");
		return 1;
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
	cleanup_free char *layer = piplayer_get(real, xy, system, &secs, err, sizeof err);
	if (!layer) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (secs >= 0)
		fprintf(stderr, "pyenvfs: made the pip layer of Python %s in %s in %.2f s\n", xy, real, secs);
	printf("%s\n", layer);
	return 0;
}
