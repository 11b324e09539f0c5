// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs: session set-up and teardown. Everything that can refuse runs
 * before anything is created; the base interpreter is asked before mounting
 * (the daemon never runs Python once its mount is up). */
#include "check.h"
#include "copyup.h"
#include "cli.h"
#include "gen.h"
#include "inval.h"
#include "layout.h"
#include "bytecode.h"
#include "resolve.h"
#include "ops.h"
#include "passthrough.h"
#include "piplayer.h"
#include "run.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* The directories set-up made, so a failed mount leaves nothing behind. */
struct made {
	char *paths[64];
	int n;
};

static int make_dirs(const char *path, struct made *made)
{
	cleanup_free char *p = pe_xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0777) == 0) {
				if (made->n < 64)
					made->paths[made->n++] = pe_xstrdup(p);
			} else if (errno != EEXIST) {
				return -errno;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static void unmake_dirs(struct made *made)
{
	while (made->n > 0) {
		char *p = made->paths[--made->n];
		rmdir(p);
		free(p);
	}
}

static void forget_made(struct made *made)
{
	while (made->n > 0)
		free(made->paths[--made->n]);
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
	char *layer = piplayer_get(s->p.base, s->xy, &secs, s->err, sizeof s->err);
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

/* The refusals that need the system: /dev/fuse, allow_other, the paths,
 * which Python BASE holds. */
static int check_input(struct setup *s)
{
	return check_fuse(s->err, sizeof s->err) ||
	       check_allow_other(&s->o, "/etc/fuse.conf", s->err, sizeof s->err) ||
	       check_paths(&s->o, &s->p, s->err, sizeof s->err) ||
	       check_python(s->p.base, s->o.python, s->xy, s->err, sizeof s->err) ||
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
	return 0;
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
	/* the lower site layers, top first, as an fstab line writes them */
	cleanup_free char *layers = pe_xstrdup(s->p.nlower ? "" : "-");
	for (size_t i = 0; i < s->p.nlower; i++) {
		char *next = pe_xasprintf("%s%s%s", layers, i ? ":" : "", s->p.lower[i]);
		free(layers);
		layers = next;
	}
	cleanup_free char *text = pe_xasprintf("base %s\npython %s\nsite %s\nlayers %s\noptions %s\n",
		s->p.base, s->lay.version, s->p.site, layers, *opts ? opts : "-");
	stats_set_info(text);
}

/* The lower site layers (--lower-site), read only, under DIR's two areas
 * (fs->stack[0]). A layer with a .pyenvfs directory is an env's DIR (its
 * upper area and records in it); one without is a `pip install --target`
 * directory. -1 with errno if one cannot be opened. */
static int add_lower_layers(struct pe_fs *fs, const struct pe_paths *p, double timeout)
{
	if (mkdirat(fs->layers[LAYER_SITE].fd, VIEW_RESERVED "/tmp", 0700) && errno != EEXIST)
		return -1;
	fs->tmp_fd = openat_beneath(fs->layers[LAYER_SITE].fd, VIEW_RESERVED "/tmp", O_PATH | O_DIRECTORY);
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
		struct stat st;
		int is_env = fstatat(top, VIEW_RESERVED, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		int upper = is_env ? openat_beneath(top, VIEW_UPPER_IN_SITE, O_PATH | O_DIRECTORY) : dup(top);
		/* a literal: layers' names live as long as the process */
		const char *name = "a lower site layer";
		const struct layer site = { .name = name, .fd = top, .timeout = timeout };
		struct stack_layer sl = { fs_add_layer(fs, &site), STACK_NONE, -1, !is_env };
		if (upper >= 0) {
			const struct layer up = { .name = name, .fd = upper, .timeout = timeout };
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
 * env's own area in DIR. -1 with errno if one cannot be opened. */
static int add_layers(struct pe_fs *fs, const struct pe_paths *p, const struct pe_opts *o, const char *site_rel)
{
	const int rw = !o->read_only;
	int base = open(p->base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	int site = open(p->site, O_PATH | O_DIRECTORY | O_CLOEXEC);
	e = site < 0 ? errno : e;
	int upper = site < 0 ? -1 : openat_beneath(site, VIEW_UPPER_IN_SITE, O_PATH | O_DIRECTORY);
	e = site >= 0 && upper < 0 ? errno : e;
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
	errno = e;
	if (base < 0 || site < 0 || upper < 0)
		return -1;
	return p->nlower ? add_lower_layers(fs, p, o->lower_timeout) : 0;
}

/* DIR and the env's own area in it (made if missing), and the layers. The
 * area is the user's, who may change it natively: pyenvfs follows no
 * symlink there, and says so rather than make one. */
static int make_env_area(struct setup *s)
{
	cleanup_free char *upper = path_join(s->p.site, VIEW_UPPER_IN_SITE);
	cleanup_free char *reserved = path_join(s->p.site, VIEW_RESERVED);
	const char *area[2] = { reserved, upper };     /* outer first */
	for (int i = 0; i < 2; i++) {
		struct stat lst;
		if (lstat(area[i], &lst) == 0 && !S_ISDIR(lst.st_mode))
			return pe_err(s->err, sizeof s->err,
				      "'%s' is not a directory%s: pyenvfs keeps the env's own files there; move it away",
				      area[i], S_ISLNK(lst.st_mode) ? " (a symlink)" : "");
	}
	/* From here on things are made: DIR, and its reserved directory. */
	int r = make_dirs(upper, &s->made);
	if (r) {
		struct stat dst;
		/* Name what the user asked for when that is what failed. */
		if (stat(s->p.site, &dst))
			return pe_err(s->err, sizeof s->err, "cannot create DIR '%s': %s", s->p.site, strerror(-r));
		return pe_err(s->err, sizeof s->err, "cannot create '%s' in DIR: %s", upper, strerror(-r));
	}
	struct pe_fs *fs = &s->fs;
	struct stat sst;
	if (add_layers(fs, &s->p, &s->o, s->lay.nsite ? s->lay.site[0] : "lib/python3/site-packages") || fstat(fs->layers[LAYER_SITE].fd, &sst))
		return pe_err(s->err, sizeof s->err, "cannot open '%s': %s", s->p.site, strerror(errno));
	fs->owner = sst.st_uid;
	fs->group = sst.st_gid;
	fs->daemon_is_root = geteuid() == 0;
	/* A root daemon gives the env's area it made just now to DIR's owner, as
	 * it does the directories it makes later: DIR stays its user's to
	 * delete. By descriptor (opened following nothing), never by path. */
	if (fs->daemon_is_root) {
		int area_fd[2] = {
			openat(fs->layers[LAYER_SITE].fd, VIEW_RESERVED, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
			fs->layers[LAYER_UPPER].fd,
		};
		for (int i = 0; i < 2; i++) {
			int mine = 0;
			for (int k = 0; k < s->made.n; k++)
				mine |= strcmp(s->made.paths[k], area[i]) == 0;
			if (mine && area_fd[i] >= 0)
				(void)fchownat(area_fd[i], "", fs->owner, fs->group, AT_EMPTY_PATH);
		}
		if (area_fd[0] >= 0)
			close(area_fd[0]);
	}
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

/* Mounts, daemonizes and serves until unmounted or signalled: 0 for a clean
 * end, 1 for an error, -1 if the mount failed. */
static int serve(struct setup *s)
{
	struct fuse_session *se = s->se;
	inval_attach(s->fs.inval, se);
	if (fuse_set_signal_handlers(se))
		return -1;
	if (fuse_session_mount(se, s->p.mountpoint)) {
		fuse_remove_signal_handlers(se);
		return -1;
	}
	forget_made(&s->made);
	if (s->probe_fresh && s->cache_dir && s->cache_key)
		layout_cache_store(s->cache_dir, s->cache_key, s->probe);
	fuse_daemonize(s->o.foreground);
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
	if (ask_layout(&s) || build_view(&s)) {
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
	s.fs.want_no_open = s.o.no_open;
	pt_configure(s.o.passthrough_off, s.o.no_open);
	clock_gettime(CLOCK_REALTIME, &s.fs.started);
	fs_init(&s.fs);
	resolve_init(&s.fs);
	if (bytecode_init(&s.fs, s.lay.major == 2))
		fprintf(stderr, "pyenvfs: warning: no bytecode redirect for the base\n");
	ret = serve(&s);
	if (ret < 0) {
		ret = 1;
		goto out_made;
	}
	/* The invalidation thread uses the session: it ends first (if it hangs
	 * in the kernel, nothing it may touch is freed: the process ends). */
	if (inval_stop(s.fs.inval))
		return ret;
out_made:
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
	check_paths_free(&s.p);
	cli_free(&s.o);
	return ret;
}

int main(int argc, char **argv)
{
	/* Subcommands; a BASE called "run" is written ./run. */
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return run_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "list") == 0)
		return list_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "pip-layer") == 0)
		return piplayer_main(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "umount") == 0 || strcmp(argv[1], "stop") == 0))
		return umount_main(argc - 1, argv + 1);
	return mount_main(argc, argv);
}
