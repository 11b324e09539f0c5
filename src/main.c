/* pyenvfs: session set-up and teardown. Everything that can refuse runs
 * before anything is created; the base interpreter is asked before mounting
 * (the daemon never runs Python once its mount is up). */
#include "check.h"
#include "cli.h"
#include "gen.h"
#include "layout.h"
#include "ops.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
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

static int fail(const char *err)
{
	fprintf(stderr, "%s\n", err);
	return 1;
}

int main(int argc, char **argv)
{
	char err[2048];
	struct pe_opts o;
	struct pe_paths p = { 0 };
	struct layout lay = { 0 };
	struct pe_fs fs;
	struct made made = { 0 };
	char xy[16];
	int ret = 1, r;
	struct fuse_session *se = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *exe_path = NULL, *config_path = NULL, *exe = NULL, *config = NULL;
	char *user_opts = NULL, *fsname = NULL, *mount_opts = NULL, *upper = NULL, *reserved = NULL;
	char *cache_dir = NULL, *cache_key = NULL, *probe = NULL;
	int probe_fresh = 0;

	memset(&fs, 0, sizeof fs);
	for (int i = 0; i < LAYER_COUNT; i++)
		fs.layer_fd[i] = -1;

	if (cli_parse(argc, argv, &o, err, sizeof err))
		return fail(err);
	if (o.help) {
		cli_usage(stdout);
		cli_free(&o);
		return 0;
	}
	if (o.version) {
		printf("pyenvfs %s (libfuse %s)\n", PYENVFS_VERSION, fuse_pkgversion());
		cli_free(&o);
		return 0;
	}
	if (check_fuse(err, sizeof err) || check_allow_other(&o, "/etc/fuse.conf", err, sizeof err) ||
	    check_paths(&o, &p, err, sizeof err) ||
	    check_python(p.base, o.python, xy, err, sizeof err)) {
		fail(err);
		goto out_opts;
	}
	/* Asking the interpreter is most of a mount's time: its answer is cached,
	 * keyed on the interpreter's identity, and stored once the mount is up. */
	cache_dir = layout_cache_dir();
	cache_key = layout_cache_key(p.base, xy);
	probe = cache_dir && cache_key ? layout_cache_load(cache_dir, cache_key) : NULL;
	probe_fresh = !probe;
	if (!probe)
		probe = layout_probe(p.base, xy, err, sizeof err);
	if (!probe || layout_parse(probe, &lay, err, sizeof err)) {
		fail(err);
		goto out_layout;
	}
	if (strcmp(lay.xy, xy) != 0) {
		pe_err(err, sizeof err, "%s/bin/python%s reports version %s", p.base, xy, lay.xy);
		fail(err);
		goto out_layout;
	}

	exe_path = pe_xasprintf("%s/bin/python%s", p.base, xy);
	config_path = pe_xasprintf("%s-config", exe_path);
	exe = realpath(exe_path, NULL);
	config = realpath(config_path, NULL);
	struct view_input vin = { &lay, exe ? exe : exe_path, config, o.system_site, o.read_only };
	if (view_build(&vin, &fs.view, err, sizeof err)) {
		fail(err);
		goto out_view;          /* frees what was built */
	}
	struct gen_input gin = { p.base, p.mountpoint, lay.version, o.system_site };
	for (int g = 0; g < GEN_COUNT; g++) {
		fs.gen[g] = gen_content((enum gen_file)g, &gin);
		fs.gen_len[g] = strlen(fs.gen[g]);
	}

	/* libfuse refuses what it does not know here, still before anything is made. */
	user_opts = cli_fuse_optstring(&o);
	fsname = strstr(user_opts, "fsname=") ? NULL : pe_xasprintf("fsname=%s", p.base);
	mount_opts = pe_xasprintf("default_permissions%s%s%s%s%s",
		fsname ? "," : "", fsname ? fsname : "",
		strstr(user_opts, "subtype=") ? "" : ",subtype=pyenvfs",
		*user_opts ? "," : "", user_opts);
	fuse_opt_add_arg(&args, argv[0]);
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, mount_opts);
	if (o.debug)
		fuse_opt_add_arg(&args, "-d");
	debug_log = o.debug;
	fuse_set_log_func(log_to_stderr);
	se = fuse_session_new(&args, &pe_ops, sizeof pe_ops, &fs);
	if (!se)
		goto out_view;

	/* The env's own area in DIR is the user's, who may change it natively:
	 * pyenvfs follows no symlink there, and says so rather than make one. */
	upper = path_join(p.site, VIEW_UPPER_IN_SITE);
	reserved = path_join(p.site, VIEW_RESERVED);
	const char *area[2] = { reserved, upper };     /* the env's own area, outer first */
	for (int i = 0; i < 2; i++) {
		struct stat lst;
		if (lstat(area[i], &lst) == 0 && !S_ISDIR(lst.st_mode)) {
			pe_err(err, sizeof err, "'%s' is not a directory%s: pyenvfs keeps the env's own files there; move it away",
			       area[i], S_ISLNK(lst.st_mode) ? " (a symlink)" : "");
			fail(err);
			goto out_session;
		}
	}
	/* From here on things are made: DIR, and its reserved directory. */
	r = make_dirs(upper, &made);
	if (r) {
		struct stat dst;
		/* Name what the user asked for when that is what failed. */
		if (stat(p.site, &dst))
			pe_err(err, sizeof err, "cannot create DIR '%s': %s", p.site, strerror(-r));
		else
			pe_err(err, sizeof err, "cannot create '%s' in DIR: %s", upper, strerror(-r));
		fail(err);
		goto out_session;
	}
	fs.layer_fd[LAYER_BASE] = open(p.base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fs.layer_fd[LAYER_SITE] = open(p.site, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fs.layer_fd[LAYER_UPPER] = fs.layer_fd[LAYER_SITE] < 0 ? -1 :
		openat_beneath(fs.layer_fd[LAYER_SITE], VIEW_UPPER_IN_SITE, O_PATH | O_DIRECTORY);
	struct stat sst;
	if (fs.layer_fd[LAYER_BASE] < 0 || fs.layer_fd[LAYER_SITE] < 0 || fs.layer_fd[LAYER_UPPER] < 0 ||
	    fstat(fs.layer_fd[LAYER_SITE], &sst)) {
		pe_err(err, sizeof err, "cannot open '%s': %s", p.site, strerror(errno));
		fail(err);
		goto out_made;
	}
	fs.owner = sst.st_uid;
	fs.group = sst.st_gid;
	fs.daemon_is_root = geteuid() == 0;
	/* A root daemon gives the env's area it made just now to DIR's owner, as
	 * it does the directories it makes later: DIR stays its user's to
	 * delete. By descriptor (opened following nothing), never by path. */
	if (fs.daemon_is_root) {
		int area_fd[2] = {
			openat(fs.layer_fd[LAYER_SITE], VIEW_RESERVED, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
			fs.layer_fd[LAYER_UPPER],
		};
		for (int i = 0; i < 2; i++) {
			int mine = 0;
			for (int k = 0; k < made.n; k++)
				mine |= strcmp(made.paths[k], area[i]) == 0;
			if (mine && area_fd[i] >= 0)
				(void)fchownat(area_fd[i], "", fs.owner, fs.group, AT_EMPTY_PATH);
		}
		if (area_fd[0] >= 0)
			close(area_fd[0]);
	}
	fs.base_timeout = o.base_timeout;
	fs.site_timeout = o.site_timeout;
	fs.want_no_open = o.no_open;
	clock_gettime(CLOCK_REALTIME, &fs.started);
	fs_init(&fs);
	/* A descriptor per node the kernel knows (up to three with -o no_open):
	 * as many as allowed; root may raise the hard limit to the system's. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		FILE *nr = fs.daemon_is_root ? fopen("/proc/sys/fs/nr_open", "re") : NULL;
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
	}

	fs.se = se;
	if (fuse_set_signal_handlers(se))
		goto out_made;
	if (fuse_session_mount(se, p.mountpoint)) {
		fuse_remove_signal_handlers(se);
		goto out_made;
	}
	forget_made(&made);
	if (probe_fresh && cache_dir && cache_key)
		layout_cache_store(cache_dir, cache_key, probe);
	fuse_daemonize(o.foreground);
#ifdef PYENVFS_TEST_PLANT_LEAK
	/* Test only (cmake -DPYENVFS_TEST_PLANT_LEAK=ON): a leak in a daemonized
	 * mount, which the sanitizer pass of scripts/test.sh must report. */
	if (!o.foreground) {
		static void *volatile planted __attribute__((unused));
		planted = malloc(4242);
		planted = NULL;
	}
#endif
	/* The kernel applied the caller's umask already. */
	umask(0);
	if (o.single_thread) {
		r = fuse_session_loop(se);
	} else {
		struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 10 };
		r = fuse_session_loop_mt(se, &cfg);
	}
	/* A signal that ended the loop is a clean end; an error is not. */
	ret = r < 0 ? 1 : 0;
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	/* The invalidation thread uses the session: it ends first (if it hangs
	 * in the kernel, nothing it may touch is freed: the process ends). */
	if (fs_stop(&fs))
		return ret;
out_made:
	unmake_dirs(&made);
out_session:
	fuse_session_destroy(se);
out_view:
	fuse_opt_free_args(&args);
	fs_destroy(&fs);
out_layout:
	layout_free(&lay);
	free(exe_path);
	free(config_path);
	free(exe);
	free(config);
	free(user_opts);
	free(fsname);
	free(mount_opts);
	free(upper);
	free(reserved);
	free(cache_dir);
	free(cache_key);
	free(probe);
out_opts:
	check_paths_free(&p);
	cli_free(&o);
	return ret;
}
