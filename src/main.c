// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs: session set-up and teardown. Everything that can refuse runs
 * before anything is created; the base interpreter is asked before mounting
 * (the daemon never runs Python once its mount is up). */
#include "check.h"
#include "copyup.h"
#include "cli.h"
#include "envs.h"
#include "creds.h"
#include "envfile.h"
#include "gen.h"
#include "inval.h"
#include "layout.h"
#include "lockenv.h"
#include "bytecode.h"
#include "resolve.h"
#include "ops.h"
#include "passthrough.h"
#include "pack.h"
#include "piplayer.h"
#include "remember.h"
#include "run.h"
#include "stats.h"
#include "storecmd.h"
#include "util.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int debug_log;

/* libfuse's own messages, in our one-line form; with -d, its trace as it is. */
static void log_to_stderr(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (debug_log && level > FUSE_LOG_ERR) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	if (level > FUSE_LOG_ERR)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	char *m = msg;
	if (strncmp(m, "fuse: ", 6) == 0)
		m += 6;
	size_t n = strlen(m);
	while (n && m[n - 1] == '\n')
		m[--n] = '\0';
	for (char *c = m; *c; c++)
		if (*c == '\n')
			*c = ' ';
	fprintf(stderr, "pyenvfs: %s\n", m);
}

/* The directories set-up made, so a failed mount leaves nothing behind:
 * each by its parent's descriptor and its name, never by a path (DIR's
 * owner may change DIR's tree meanwhile). */
#define MADE_MAX 64
struct made {
	int parent[MADE_MAX];
	char *name[MADE_MAX];
	int n;
};

/* name in the directory dfd, made first if missing (as uid:gid, creds.h)
 * and noted in made; opened following no symlink. O_PATH descriptor, or
 * -errno (-ENOTDIR for a symlink or a file there). */
static int make_subdir(int dfd, const char *name, uid_t uid, gid_t gid, struct made *made)
{
	struct creds_saved cs;
	int r = creds_become(uid, gid, &cs);
	if (r)
		return r;
	if (mkdirat(dfd, name, 0777) == 0) {
		if (made->n < MADE_MAX) {
			made->parent[made->n] = dup(dfd);
			made->name[made->n++] = pe_xstrdup(name);
		}
	} else if (errno != EEXIST) {
		r = -errno;
	}
	creds_restore(&cs);
	if (r)
		return r;
	int fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : errno == ELOOP ? -ENOTDIR : -errno;
}

/* The directory at path (absolute), made with its missing parents first.
 * What exists of the path is the user's as given (its symlinks followed);
 * what is made is opened following nothing. O_PATH descriptor, or -errno. */
static int make_dir_path(const char *path, struct made *made)
{
	cleanup_free char *near = path_nearest_existing(path);
	int cur = open(near, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	size_t nl = strlen(near);
	cleanup_free char *rest = pe_xstrdup(strncmp(path, near, nl) == 0 ? path + nl : "");
	char *save = NULL;
	for (char *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next = make_subdir(cur, c, geteuid(), getegid(), made);
		close(cur);
		if (next < 0)
			return next;
		cur = next;
	}
	return cur;
}

static void unmake_dirs(struct made *made)
{
	while (made->n > 0) {
		made->n--;
		(void)unlinkat(made->parent[made->n], made->name[made->n], AT_REMOVEDIR);
		close(made->parent[made->n]);
		free(made->name[made->n]);
	}
}

static void forget_made(struct made *made)
{
	while (made->n > 0) {
		made->n--;
		close(made->parent[made->n]);
		free(made->name[made->n]);
	}
}

/* What main makes, in the order it makes it; undone in reverse. */
struct setup {
	char err[2048];
	struct pe_opts o;
	struct pe_paths p;
	char xy[16];
	struct layout lay;
	char *probe;            /* the interpreter's answer about its layout */
	int probe_fresh;        /* ... asked now, not read from the cache */
	char *cache_dir, *cache_key;
	struct pe_fs fs;
	struct fuse_args args;
	struct fuse_session *se;
	struct made made;       /* directories made for DIR and its reserved area */
	size_t store_first;     /* p.lower[store_first..+nstore) are the lock's store entries */
	size_t nstore;
	struct envrec rec;      /* what DIR remembers of how it was made (remember.h) */
	size_t nuser_layers;    /* the layers in p.lower before the pip layer */
};

static int fail(const char *err)
{
	fprintf(stderr, "%s\n", err);
	return 1;
}

/* --with-pip: the base's pip layer (made now if it is not in the cache),
 * stacked as the last lower site layer, after the user's. */
static int add_pip_layer(struct setup *s)
{
	double secs;
	char *layer = piplayer_get(s->p.base, s->xy, 0, &secs, s->err, sizeof s->err);
	if (!layer)
		return -1;
	if (secs >= 0)
		fprintf(stderr, "pyenvfs: made the pip layer of Python %s in %.2f s: %s\n", s->xy, secs, layer);
	s->o.lower_sites = realloc(s->o.lower_sites, (s->o.nlower_sites + 1) * sizeof *s->o.lower_sites);
	if (!s->o.lower_sites)
		abort();
	s->o.lower_sites[s->o.nlower_sites++] = layer;
	/* check_paths has made the list of layers already: the pip layer joins
	 * it, canonical as the others are. */
	char *real = realpath(layer, NULL);
	if (!real)
		return pe_err(s->err, sizeof s->err, "the pip layer '%s': %s", layer, strerror(errno));
	s->p.lower = realloc(s->p.lower, (s->p.nlower + 2) * sizeof *s->p.lower);
	if (!s->p.lower)
		abort();
	s->p.lower[s->p.nlower++] = real;
	s->p.lower[s->p.nlower] = NULL;
	return 0;
}

static rlim_t raise_fd_limit(int is_root);

/* --lock, or the lock DIR remembers: the store's entries of its
 * distributions (fetched and added first if missing), stacked after the
 * user's lower site layers and before the pip layer. */
static int add_store_layers(struct setup *s)
{
	/* a descriptor or two per layer, and a pin per entry */
	raise_fd_limit(geteuid() == 0);
	struct lockenv_in in = { s->p.base, s->xy, s->lay.version, s->p.site, s->o.lock, s->o.store,
				 s->o.shared_stores, s->o.nshared_stores };
	char **entries;
	size_t n;
	if (lockenv_layers(&in, &entries, &n, s->err, sizeof s->err))
		return -1;
	/* the pip layer (already last) stays last */
	size_t pip = s->o.with_pip && s->p.nlower ? 1 : 0;
	s->o.lower_sites = realloc(s->o.lower_sites, (s->o.nlower_sites + n + 1) * sizeof *s->o.lower_sites);
	s->p.lower = realloc(s->p.lower, (s->p.nlower + n + 2) * sizeof *s->p.lower);
	if (!s->o.lower_sites || !s->p.lower)
		abort();
	size_t at = s->p.nlower - pip;
	memmove(&s->p.lower[at + n], &s->p.lower[at], (pip + 1) * sizeof *s->p.lower);
	at = s->o.nlower_sites - pip;
	memmove(&s->o.lower_sites[at + n], &s->o.lower_sites[at], pip * sizeof *s->o.lower_sites);
	s->store_first = s->p.nlower - pip;
	s->nstore = n;
	for (size_t i = 0; i < n; i++) {
		s->p.lower[s->store_first + i] = pe_xstrdup(entries[i]);
		s->o.lower_sites[at + i] = pe_xstrdup(entries[i]);
	}
	s->p.nlower += n;
	s->o.nlower_sites += n;
	return 0;
}

/* The refusals that need the system: /dev/fuse, allow_other, what DIR
 * remembers (its layers are used when none are given), the paths, which
 * Python BASE holds (the one DIR was made for, if BASE has several). */
static int check_input(struct setup *s)
{
	if (check_fuse(s->err, sizeof s->err) ||
	    check_allow_other(&s->o, "/etc/fuse.conf", s->err, sizeof s->err) ||
	    remember_apply(&s->o, &s->rec, s->err, sizeof s->err) < 0 ||
	    check_paths(&s->o, &s->p, s->err, sizeof s->err))
		return -1;
	s->nuser_layers = s->p.nlower;
	const char *want = s->o.python;
	char ignored[16], why[1024];
	if (!want && s->rec.xy[0] && check_python(s->p.base, s->rec.xy, ignored, why, sizeof why) == 0)
		want = s->rec.xy;
	return check_python(s->p.base, want, s->xy, s->err, sizeof s->err) ||
	       (s->o.with_pip && add_pip_layer(s));
}

/* What the base interpreter says about itself. Asking it is most of a
 * mount's time: its answer is cached, keyed on the interpreter's identity,
 * and stored once the mount is up. */
static int ask_layout(struct setup *s)
{
	s->cache_dir = layout_cache_dir();
	s->cache_key = layout_cache_key(s->p.base, s->xy);
	s->probe = s->cache_dir && s->cache_key ? layout_cache_load(s->cache_dir, s->cache_key) : NULL;
	s->probe_fresh = !s->probe;
	if (!s->probe)
		s->probe = layout_probe(s->p.base, s->xy, s->err, sizeof s->err);
	if (!s->probe || layout_parse(s->probe, &s->lay, s->err, sizeof s->err))
		return -1;
	if (strcmp(s->lay.xy, s->xy) != 0)
		return pe_err(s->err, sizeof s->err, "%s/bin/python%s reports version %s", s->p.base, s->xy, s->lay.xy);
	/* DIR, and each layer, made for another X.Y or ABI */
	return remember_check(&s->rec, &s->p, s->nuser_layers, s->xy, s->lay.soabi, s->err, sizeof s->err);
}

/* Debian's site.py, in a venv, adds both DIR's places the view has for it
 * (lib/pythonX.Y/site-packages, and local/lib/pythonX.Y/dist-packages,
 * which PYTHONHOME mode needs): every distribution would be found twice.
 * This .pth in DIR takes the second off sys.path in a venv, as a native
 * venv has it; in PYTHONHOME mode it does nothing. */
#define VENV_PTH "pyenvfs-venv.pth"
static const char venv_pth[] =
"# pyenvfs (docs/USAGE.md, \"Debian's Python\"): in venv mode, DIR once on sys.path\n"
"import os, sys; p = os.path.join(sys.prefix, 'local', 'lib', 'python%d.%d' % sys.version_info[:2], "
"'dist-packages'); sys.prefix != sys.base_prefix and p in sys.path and os.path.join(sys.prefix, 'lib', "
"'python%d.%d' % sys.version_info[:2], 'site-packages') in sys.path and sys.path.remove(p)\n";

static void write_venv_pth(struct setup *s, int site)
{
	int local = 0, plain = 0;
	for (size_t i = 0; i < s->lay.nsite; i++) {
		if (strncmp(s->lay.site[i], "local/", 6) == 0)
			local = 1;
		else
			plain = 1;
	}
	if (!local || !plain)
		return;
	char have[sizeof venv_pth + 1];
	int fd = openat(site, VENV_PTH, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, have, sizeof have);
	if (fd >= 0)
		close(fd);
	if (n == (ssize_t)strlen(venv_pth) && memcmp(have, venv_pth, (size_t)n) == 0)
		return;
	(void)envfile_write(site, VENV_PTH, venv_pth, s->fs.owner, s->fs.group);
}

/* Once mounted: DIR remembers how it was made and where it is mounted; its
 * scripts that name an earlier mount point are shown naming this one. */
static void remember_mount(struct setup *s)
{
	struct pe_fs *fs = &s->fs;
	struct envrec now = { .base = s->p.base, .layers = s->p.lower, .nlayers = s->nuser_layers,
			      .with_pip = s->o.with_pip };
	snprintf(now.xy, sizeof now.xy, "%s", s->xy);
	snprintf(now.abi, sizeof now.abi, "%s", s->lay.soabi);
	int site = fs->layers[LAYER_SITE].fd;
	int res = openat(site, VIEW_RESERVED, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (res < 0)
		return;
	remember_store(site, res, fs->owner, fs->group, &now, s->p.mountpoint, !s->o.read_only, &fs->own_roots,
		       &fs->nown_roots);
	close(res);
	if (!s->o.read_only) {
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, site);
		int w = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (w >= 0) {
			write_venv_pth(s, w);
			close(w);
		}
	}
}

/* The view, and the generated files' contents. */
static int build_view(struct setup *s)
{
	cleanup_free char *exe_path = pe_xasprintf("%s/bin/python%s", s->p.base, s->xy);
	cleanup_free char *config_path = pe_xasprintf("%s-config", exe_path);
	cleanup_free char *exe = realpath(exe_path, NULL);
	cleanup_free char *config = realpath(config_path, NULL);
	struct view_input vin = { &s->lay, exe ? exe : exe_path, config, s->o.system_site, s->o.read_only };
	if (view_build(&vin, &s->fs.view, s->err, sizeof s->err))
		return -1;
	struct gen_input gin = { s->p.base, s->p.mountpoint, s->lay.version, s->o.system_site };
	for (int g = 0; g < GEN_COUNT; g++) {
		s->fs.gen[g] = gen_content((enum gen_file)g, &gin);
		s->fs.gen_len[g] = strlen(s->fs.gen[g]);
	}
	return 0;
}

/* The session, with the mount options: libfuse refuses what it does not
 * know here, still before anything is made. */
static int new_session(struct setup *s, const char *argv0)
{
	cleanup_free char *user_opts = cli_fuse_optstring(&s->o);
	cleanup_free char *fsname = strstr(user_opts, "fsname=") ? NULL : pe_xasprintf("fsname=%s", s->p.base);
	cleanup_free char *mount_opts = pe_xasprintf("default_permissions%s%s%s%s%s",
		fsname ? "," : "", fsname ? fsname : "",
		strstr(user_opts, "subtype=") ? "" : ",subtype=pyenvfs",
		*user_opts ? "," : "", user_opts);
	fuse_opt_add_arg(&s->args, argv0);
	fuse_opt_add_arg(&s->args, "-o");
	fuse_opt_add_arg(&s->args, mount_opts);
	if (s->o.debug)
		fuse_opt_add_arg(&s->args, "-d");
	debug_log = s->o.debug;
	fuse_set_log_func(log_to_stderr);
	s->se = fuse_session_new(&s->args, &pe_ops, sizeof pe_ops, &s->fs);
	return s->se ? 0 : -1;
}

/* What pyenvfs list shows of this env (stats.h, user.pyenvfs.info). */
static void set_info(const struct setup *s)
{
	cleanup_free char *user_opts = cli_fuse_optstring(&s->o);
	cleanup_free char *opts = pe_xasprintf("%s%s%s%s%s",
		s->o.read_only ? "" : "rw,", s->o.system_site ? "system_site_packages," : "",
		s->o.with_pip ? "with_pip," : "", s->o.no_open ? "no_open," : "", user_opts);
	size_t n = strlen(opts);
	if (n && opts[n - 1] == ',')
		opts[n - 1] = '\0';
	/* the lower site layers, top first: one line each ("layers" as an
	 * fstab line writes them, for an older pyenvfs list); a lock's store
	 * entries are not listed one by one: "lock" says what they are */
	cleanup_free char *layers = pe_xstrdup(s->p.nlower > s->nstore ? "" : "-");
	cleanup_free char *lines = pe_xstrdup("");
	for (size_t i = 0, k = 0; i < s->p.nlower; i++) {
		if (i >= s->store_first && i < s->store_first + s->nstore)
			continue;
		char *next = pe_xasprintf("%s%s%s", layers, k++ ? ":" : "", s->p.lower[i]);
		free(layers);
		layers = next;
		next = pe_xasprintf("%slayer %s\n", lines, s->p.lower[i]);
		free(lines);
		lines = next;
	}
	cleanup_free char *text = pe_xasprintf("base %s\npython %s\nsite %s\nlayers %s\n%soptions %s\n%s%s%s",
		s->p.base, s->lay.version, s->p.site, layers, lines, *opts ? opts : "-",
		lockenv_summary() ? "lock " : "", lockenv_summary() ? lockenv_summary() : "",
		lockenv_summary() ? "\n" : "");
	stats_set_info(text);
}

/* The lower site layers (--lower-site), read only, under DIR's two areas
 * (fs->stack[0]). A layer with a .pyenvfs directory is an env's DIR (its
 * upper area and records in it); one without is a `pip install --target`
 * directory. Copy-up's temporaries go to DIR/.pyenvfs/tmp (reserved: DIR's
 * .pyenvfs), made as DIR's owner. -1 with errno if one cannot be opened. */
static int add_lower_layers(struct pe_fs *fs, const struct pe_paths *p, int reserved, double timeout)
{
	struct creds_saved cs;
	if (creds_become(fs->owner, fs->group, &cs))
		return -1;
	int made = mkdirat(reserved, "tmp", 0700);
	int e = errno;
	creds_restore(&cs);
	if (made && e != EEXIST)
		return errno = e, -1;
	fs->tmp_fd = openat(reserved, "tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fs->tmp_fd < 0)
		return -1;
	/* copy-up's temporaries need a descriptor that can be written in */
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, fs->tmp_fd);
	int t = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fs->tmp_fd);
	fs->tmp_fd = t;
	if (t < 0)
		return -1;
	copyup_clean(t);
	for (size_t i = 0; i < p->nlower; i++) {
		int top = open(p->lower[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (top < 0)
			return -1;
		struct stat st, tst;
		int is_env = fstatat(top, VIEW_RESERVED, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		int upper = is_env ? openat_beneath(top, VIEW_UPPER_IN_SITE, O_PATH | O_DIRECTORY) : dup(top);
		/* The layer's owner (its top's): whose objects show as DIR's owner's. */
		uid_t owner = fstat(top, &tst) == 0 ? tst.st_uid : (uid_t)-1;
		/* a literal: layers' names live as long as the process */
		const char *name = "a lower site layer";
		const struct layer site = { .name = name, .fd = top, .timeout = timeout, .lower = 1, .owner = owner };
		struct stack_layer sl = { fs_add_layer(fs, &site), STACK_NONE, -1, !is_env };
		if (upper >= 0) {
			const struct layer up = { .name = name, .fd = upper, .timeout = timeout, .lower = 1, .owner = owner };
			sl.upper = fs_add_layer(fs, &up);
		}
		if (is_env)
			sl.top = top;
		fs->stack[fs->nstack++] = sl;
	}
	return 0;
}

/* The layers the view shows, in the order of enum view_layer: BASE, read-only
 * and followed through its symlinks where the view anchors into it; DIR; the
 * env's own area in DIR (site, reserved and upper: DIR's descriptors, which
 * the layers own from here on). -1 with errno if one cannot be opened. */
static int add_layers(struct pe_fs *fs, const struct pe_paths *p, const struct pe_opts *o, const char *site_rel,
		      int site, int reserved, int upper)
{
	const int rw = !o->read_only;
	int base = open(p->base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	const struct layer layers[LAYER_COUNT] = {
		[LAYER_BASE] = { .name = "BASE", .fd = base, .timeout = o->base_timeout, .follow = 1, .stable = 1 },
		[LAYER_SITE] = { .name = "DIR", .fd = site, .timeout = o->site_timeout, .writable = rw },
		[LAYER_UPPER] = { .name = "the env's area", .fd = upper, .timeout = o->site_timeout,
				  .writable = rw, .make_dirs = 1 },
	};
	for (int i = 0; i < LAYER_COUNT; i++)
		fs_add_layer(fs, &layers[i]);
	fs->home_layer = LAYER_SITE;
	fs->fixed_timeout = o->base_timeout;
	/* DIR's areas are the top of the union's stacks: alone, or over the
	 * lower site layers. */
	fs->tmp_fd = -1;
	fs->mountpoint = p->mountpoint;
	fs->site_rel = pe_xstrdup(site_rel);
	fs->stack = pe_xcalloc(p->nlower + 1, sizeof *fs->stack);
	fs->stack[0] = (struct stack_layer){ LAYER_SITE, LAYER_UPPER, site, 0 };
	fs->nstack = 1;
	int r = -1;
	if (base >= 0)
		r = p->nlower ? add_lower_layers(fs, p, reserved, o->lower_timeout) : 0;
	else
		errno = e;
	e = errno;
	close(reserved);
	errno = e;
	return r;
}

/* DIR and the env's own area in it (made if missing), and the layers. The
 * area is the user's, who may change it natively: pyenvfs follows no
 * symlink there, and says so rather than make one. Everything is made and
 * opened by descriptor; what a root daemon makes in DIR it makes as DIR's
 * owner (creds.h), so DIR stays its user's to change and delete. */
static int make_env_area(struct setup *s)
{
	cleanup_free char *upper = path_join(s->p.site, VIEW_UPPER_IN_SITE);
	cleanup_free char *reserved = path_join(s->p.site, VIEW_RESERVED);
	/* From here on things are made: DIR, and its reserved directory. */
	int site = make_dir_path(s->p.site, &s->made);
	if (site < 0)
		return pe_err(s->err, sizeof s->err, "cannot create DIR '%s': %s", s->p.site, strerror(-site));
	struct stat sst;
	int res = -1, up = -1;
	if (fstat(site, &sst) == 0)
		res = make_subdir(site, VIEW_RESERVED, sst.st_uid, sst.st_gid, &s->made);
	if (res >= 0)
		up = make_subdir(res, "upper", sst.st_uid, sst.st_gid, &s->made);
	if (res < 0 || up < 0) {
		int e = res < 0 ? -res : -up;
		const char *what = res < 0 ? reserved : upper;
		struct stat lst;
		close(site);
		if (res >= 0)
			close(res);
		if (e == ENOTDIR && fstatat(AT_FDCWD, what, &lst, AT_SYMLINK_NOFOLLOW) == 0)
			return pe_err(s->err, sizeof s->err,
				      "'%s' is not a directory%s: pyenvfs keeps the env's own files there; move it away",
				      what, S_ISLNK(lst.st_mode) ? " (a symlink)" : "");
		return pe_err(s->err, sizeof s->err, "cannot create '%s' in DIR: %s", upper, strerror(e));
	}
	struct pe_fs *fs = &s->fs;
	fs->mountpoint = s->p.mountpoint;
	fs->owner = sst.st_uid;
	fs->group = sst.st_gid;
	fs->daemon_is_root = geteuid() == 0;
	if (add_layers(fs, &s->p, &s->o, s->lay.nsite ? s->lay.site[0] : "lib/python3/site-packages", site, res, up))
		return pe_err(s->err, sizeof s->err, "cannot open '%s': %s", s->p.site, strerror(errno));
	return 0;
}

/* A descriptor per node the kernel knows (up to three with -o no_open): as
 * many as allowed; root may raise the hard limit to the system's. */
static rlim_t raise_fd_limit(int is_root)
{
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile))
		return 0;
	FILE *nr = is_root ? fopen("/proc/sys/fs/nr_open", "re") : NULL;
	unsigned long long most = 0;
	if (nr && fscanf(nr, "%llu", &most) == 1 && most > nofile.rlim_max)
		nofile.rlim_max = (rlim_t)most;
	if (nr)
		fclose(nr);
	nofile.rlim_cur = nofile.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &nofile) && getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	return getrlimit(RLIMIT_NOFILE, &nofile) == 0 ? nofile.rlim_cur : 0;
}

/* The one hard limit on layers: descriptors. Each layer holds a few (its
 * areas' roots, their parts of the areas' tops and of the directories many
 * layers merge); the nodes the kernel knows need the rest. */
#define FDS_PER_LAYER 8
#define FDS_FOR_NODES 1024
static int check_fd_limit(struct setup *s)
{
	rlim_t have = raise_fd_limit(geteuid() == 0);
	unsigned long long need = (unsigned long long)s->p.nlower * FDS_PER_LAYER + FDS_FOR_NODES;
	if (have != RLIM_INFINITY && (unsigned long long)have < need)
		return pe_err(s->err, sizeof s->err,
			      "%zu lower site layers need about %llu open files, and the limit (RLIMIT_NOFILE) is %llu: "
			      "raise it (ulimit -n) or use fewer layers", s->p.nlower, need, (unsigned long long)have);
	return 0;
}

/* Where a root daemon mounts and unmounts. mount(2) and umount(2) take a
 * path, and the mount point's parent may be a user's (a lab's env under
 * /home/u, an fstab line without "user"): resolved twice, a name the user
 * swaps for a symlink between the check and the mount would have root mount
 * over, or unmount, anything. So the mount point is resolved once, to
 * descriptors: the mount goes onto /proc/self/fd/N of the directory itself,
 * and the unmount at the end through the parent's descriptor and the name
 * (never followed), only if the mount there is still this one (its id). A
 * daemon that is not root mounts and unmounts through fusermount3, which
 * takes the same care, and so does a root mount with auto_unmount (which
 * libfuse makes through fusermount3, by the path). */
struct mount_at {
	int parent;             /* the mount point's directory (O_PATH), or -1 */
	char name[NAME_MAX + 1];
	int dir;                /* the mount point itself (O_PATH) until mounted */
	unsigned long long id;  /* the mount's id, 0 if unknown */
};

static int mount_at_open(const char *mountpoint, struct mount_at *m)
{
	m->parent = env_open_parent(mountpoint, m->name);
	m->dir = m->parent < 0 ? -1 : openat(m->parent, m->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (m->dir >= 0)
		return 0;
	fprintf(stderr, "pyenvfs: MOUNTPOINT '%s': %s\n", mountpoint, strerror(errno));
	if (m->parent >= 0)
		close(m->parent);
	m->parent = -1;
	return -1;
}

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U  /* Linux 6.8: a mount id never reused */
#endif

/* The id of the mount at the mount point: the unique one where the kernel
 * has it (a plain mount id is reused as soon as it is freed), else 0. */
static unsigned long long mount_at_id(const struct mount_at *m)
{
	struct statx stx;
	/* AT_STATX_DONT_SYNC: answered from what the kernel keeps, without a
	 * request to this daemon (which may not serve yet). */
	if (statx(m->parent, m->name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &stx) ||
	    !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return 0;
	if (stx.stx_mask & STATX_MNT_ID_UNIQUE)
		return stx.stx_mnt_id;
	if (statx(m->parent, m->name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return 0;
	return stx.stx_mnt_id;
}

/* The end of a root daemon's mount: unmounted through the descriptors, if
 * it is still mounted (its connection alive: once unmounted, fusermount3 -u
 * or umount, the device says POLLERR) and still at the mount point (the same
 * id: while this mount lives, no other has its id, unique or not). */
static void mount_at_unmount(struct mount_at *m, struct fuse_session *se)
{
	struct pollfd pfd = { .fd = fuse_session_fd(se), .events = 0 };
	int gone = poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR);
	if (!gone && m->id && mount_at_id(m) == m->id) {
		char err[1024];
		if (env_unmount_at(m->parent, m->name, NULL, err, sizeof err))
			fprintf(stderr, "%s\n", err);
	}
	close(m->parent);
	m->parent = -1;
}

/* Mounts, daemonizes and serves until unmounted or signalled: 0 for a clean
 * end, 1 for an error, -1 if the mount failed. */
static int serve(struct setup *s)
{
	struct fuse_session *se = s->se;
	struct mount_at at = { .parent = -1, .dir = -1 };
	char by_fd[PE_PROC_PATH_MAX];
	const char *where = s->p.mountpoint;
	inval_attach(s->fs.inval, se);
	if (fuse_set_signal_handlers(se))
		return -1;
	cleanup_free char *user_opts = cli_fuse_optstring(&s->o);
	if (geteuid() == 0) {
		if (mount_at_open(s->p.mountpoint, &at)) {
			fuse_remove_signal_handlers(se);
			return -1;
		}
		/* (auto_unmount mounts through fusermount3, with the path.) */
		pe_proc_path(by_fd, at.dir);
		if (!strstr(user_opts, "auto_unmount"))
			where = by_fd;
	}
	int mounted = fuse_session_mount(se, where) == 0;
	if (at.dir >= 0) {
		close(at.dir);
		at.id = mounted ? mount_at_id(&at) : 0;
	}
	if (!mounted) {
		if (at.parent >= 0)
			close(at.parent);
		fuse_remove_signal_handlers(se);
		return -1;
	}
	forget_made(&s->made);
	lockenv_mounted(s->fs.layers[LAYER_SITE].fd, s->fs.owner, s->fs.group, s->fs.daemon_is_root);
	if (s->probe_fresh && s->cache_dir && s->cache_key)
		layout_cache_store(s->cache_dir, s->cache_key, s->probe);
	remember_mount(s);
	fuse_daemonize(s->o.foreground);
	/* After the fork: the thread reading change notifications. Without it
	 * the timeouts alone bound what the kernel keeps. */
	int wr = watch_attach(&s->fs, se);
	if (wr)
		fprintf(stderr, "pyenvfs: warning: no change notifications: %s\n", strerror(-wr));
#ifdef PYENVFS_TEST_PLANT_LEAK
	/* Test only (cmake -DPYENVFS_TEST_PLANT_LEAK=ON): a leak in a daemonized
	 * mount, which the sanitizer pass of scripts/test.sh must report. */
	if (!s->o.foreground) {
		static void *volatile planted __attribute__((unused));
		planted = malloc(4242);
		planted = NULL;
	}
#endif
	/* The kernel applied the caller's umask already. */
	umask(0);
	int r;
	if (s->o.single_thread) {
		r = fuse_session_loop(se);
	} else {
		struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 10 };
		r = fuse_session_loop_mt(se, &cfg);
	}
	/* libfuse would unmount by the path it was given (here /proc/self/fd/N,
	 * closed by now): a root daemon unmounts itself through its descriptor. */
	if (at.parent >= 0)
		mount_at_unmount(&at, se);
	else
		fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	/* A signal that ended the loop is a clean end; an error is not. */
	return r < 0 ? 1 : 0;
}

int mount_main(int argc, char **argv)
{
	static struct setup s;  /* large; zeroed */
	int ret = 1;

	s.args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (cli_parse(argc, argv, &s.o, s.err, sizeof s.err))
		return fail(s.err);
	if (s.o.help || s.o.version) {
		if (s.o.help)
			cli_usage(stdout);
		else
			printf("pyenvfs %s (libfuse %s; %s)\n", PYENVFS_VERSION, fuse_pkgversion(), pt_build_note());
		cli_free(&s.o);
		return 0;
	}
	if (check_input(&s) || check_fd_limit(&s)) {
		fail(s.err);
		goto out_opts;
	}
	if (ask_layout(&s) || add_store_layers(&s) || check_fd_limit(&s) || build_view(&s)) {
		fail(s.err);
		goto out_view;          /* frees what was built */
	}
	set_info(&s);
	if (new_session(&s, argv[0]))
		goto out_view;
	if (make_env_area(&s)) {
		fail(s.err);
		goto out_made;
	}
	/* An unprivileged daemon has nothing to do at an open: the kernel's
	 * permission check already refuses writes to what is shown read-only,
	 * and there is no passthrough without CAP_SYS_ADMIN. So the kernel
	 * opens files itself (no OPEN, FLUSH or RELEASE per file). */
	s.fs.want_no_open = s.o.no_open || (!s.o.open_daemon && !s.fs.daemon_is_root);
	pt_configure(s.o.passthrough_off, s.fs.want_no_open);
	clock_gettime(CLOCK_REALTIME, &s.fs.started);
	fs_init(&s.fs);
	resolve_init(&s.fs);
	/* Not fatal: without notifications the timeouts alone keep the cache right. */
	int wr = watch_init(&s.fs, s.o.watch_off);
	if (wr)
		fprintf(stderr, "pyenvfs: warning: no change notifications (inotify: %s): the kernel keeps DIR's "
			"entries for -o site_timeout\n", strerror(-wr));
	if (bytecode_init(&s.fs, s.lay.major == 2))
		fprintf(stderr, "pyenvfs: warning: no bytecode redirect for the base\n");
	ret = serve(&s);
	if (ret < 0) {
		ret = 1;
		goto out_made;
	}
	/* The invalidation thread uses the session: it ends first (if it hangs
	 * in the kernel, nothing it may touch is freed: the process ends). */
	if (inval_stop(s.fs.inval) || watch_stop(&s.fs))
		return ret;
out_made:
	(void)watch_stop(&s.fs);        /* not started: nothing to wait for */
	unmake_dirs(&s.made);
	fuse_session_destroy(s.se);
out_view:
	fuse_opt_free_args(&s.args);
	resolve_destroy(&s.fs);
	fs_destroy(&s.fs);
	layout_free(&s.lay);
	free(s.cache_dir);
	free(s.cache_key);
	free(s.probe);
out_opts:
	envrec_free(&s.rec);
	check_paths_free(&s.p);
	cli_free(&s.o);
	return ret;
}

/* The mounting user's home. mount(8) runs an fstab line's `user` mount as
 * that user with root's HOME, and a unit may give none: the caches
 * (layout, pip layers) would then be refused or go nowhere. A user's own
 * is in the passwd database. */
static void use_own_home(void)
{
	if (geteuid() == 0)
		return;
	const char *home = getenv("HOME");
	const struct passwd *pw = getpwuid(0);
	cleanup_free char *root_home = pw && pw->pw_dir ? pe_xstrdup(pw->pw_dir) : NULL;
	int roots = home && root_home && strcmp(home, root_home) == 0;
	if (home && *home && !roots)
		return;
	pw = getpwuid(geteuid());
	if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
		return;
	setenv("HOME", pw->pw_dir, 1);
	/* a cache directory under root's home is root's too */
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (roots && xdg && xdg[0] == '/' && path_is_within(xdg, root_home))
		unsetenv("XDG_CACHE_HOME");
}

int main(int argc, char **argv)
{
	use_own_home();
	/* Subcommands; a BASE called "run" is written ./run. */
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return run_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "list") == 0)
		return list_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "pip-layer") == 0)
		return piplayer_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "store") == 0)
		return store_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "clone") == 0)
		return clone_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "layer") == 0)
		return layer_main(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "umount") == 0 || strcmp(argv[1], "stop") == 0))
		return umount_main(argc - 1, argv + 1);
	return mount_main(argc, argv);
}
