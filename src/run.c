// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs run: an env for one command. It mounts BASE at a fresh private
 * mount point (the daemon is run's child, in the foreground, and dies with
 * it), runs CMD in the env, and when CMD ends takes everything down: the
 * mount, the mount point, and the temporary site directory. */
#include "envfile.h"
#include "envs.h"
#include "run.h"
#include "runopts.h"
#include "safedir.h"
#include "util.h"
#include "withreqs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_PREFIX "pyenvfs-run."
#define RUN_STATUS_FAILED 125           /* as env(1), timeout(1), chroot(1) */
#define MOUNT_WAIT_SECONDS 60
#define DAEMON_EXIT_SECONDS 10

/* The run's own directory: RUNTIME/pyenvfs-run.XXXXXX/{owner,env,site}.
 * From the moment it is made, run acts on it through its descriptor (fd),
 * never by its path: the paths are for the daemon's command line and CMD's
 * environment only. */
struct run_dir {
	char *dir;
	char *mnt;
	char *site;             /* the temporary site directory, if run made one */
	int root_fd;            /* the runtime directory (O_PATH), or -1 */
	char *name;             /* the run directory's name in it */
	int fd;                 /* the run directory (O_PATH), or -1 */
	char *lock;             /* the lock --with or a script's metadata resolved to, or NULL */
	int script;             /* CMD is a .py file, run with the env's Python */
};

static volatile sig_atomic_t cmd_pid;
static volatile sig_atomic_t pending_sig;

/* Until CMD runs, a signal ends the run; then it goes to CMD. A SIGINT or
 * SIGQUIT from the terminal reached CMD already (same process group): it is
 * not sent twice. */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if ((sig == SIGINT || sig == SIGQUIT) && si->si_code == SI_KERNEL && cmd_pid > 0)
		return;
	if (cmd_pid > 0)
		kill((pid_t)cmd_pid, sig);
	else
		pending_sig = sig;
}

static const int forwarded[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };
#define NFORWARDED ((int)(sizeof forwarded / sizeof forwarded[0]))

static void set_signal_handlers(void)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
}

/* In a child, before exec: the default actions and an empty mask back. */
static void reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	for (int i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Where runs make their directories: $XDG_RUNTIME_DIR if it is usable, else
 * $TMPDIR, else /tmp. */
static const char *runtime_root(void)
{
	const char *cand[] = { getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR"), "/tmp" };
	for (int i = 0; i < 3; i++) {
		struct stat st;
		if (cand[i] && cand[i][0] == '/' && stat(cand[i], &st) == 0 && S_ISDIR(st.st_mode) &&
		    access(cand[i], W_OK | X_OK) == 0)
			return cand[i];
	}
	return "/tmp";
}

/* A process's start time (field 22 of /proc/PID/stat), 0 if it is gone. */
static unsigned long long start_time_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');        /* the command name may hold spaces */
	unsigned long long t = 0;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &t) != 1)
		return 0;
	return t;
}

/* 1 if the run that owns the run directory dfd (its owner file: "PID
 * STARTTIME") is gone. */
static int owner_gone(int dfd)
{
	int fd = openat(dfd, "owner", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return 0;                   /* being made, or not a run's */
	}
	int pid = 0;
	unsigned long long t = 0;
	int ok = fscanf(f, "%d %llu", &pid, &t) == 2;
	fclose(f);
	return ok && pid > 0 && start_time_of((pid_t)pid) != t;
}

static int make_owner_file(int dfd)
{
	int fd = openat(dfd, "owner", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char line[64];
	int n = snprintf(line, sizeof line, "%d %llu\n", (int)getpid(), start_time_of(getpid()));
	int r = write(fd, line, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	return r;
}

/* Takes the run directory name in root (dfd: its descriptor) down: the
 * mount if one is there, then its content, through dfd; the directory
 * itself only if name is still it. */
static int clear_run_dir(int root, const char *name, int dfd, const char *shown, char *err, size_t len)
{
	int stale;
	if (env_mount_at(dfd, "env", &stale) && env_unmount_at(dfd, "env", NULL, err, len))
		return -1;
	unlinkat(dfd, "env", AT_REMOVEDIR);
	if (remove_tree_at(dfd, "site") && errno != ENOENT)
		return pe_err(err, len, "cannot remove '%s/site': %s", shown, strerror(errno));
	unlinkat(dfd, "owner", 0);
	/* what resolving --with or a script's dependencies left (withreqs.c) */
	static const char *const resolved[] = { "pylock.toml", "pip.log", "pip-report.json" };
	for (size_t i = 0; i < sizeof resolved / sizeof resolved[0]; i++)
		unlinkat(dfd, resolved[i], 0);
	struct stat mine, there;
	if (fstat(dfd, &mine) == 0 && fstatat(root, name, &there, AT_SYMLINK_NOFOLLOW) == 0 &&
	    mine.st_dev == there.st_dev && mine.st_ino == there.st_ino && unlinkat(root, name, AT_REMOVEDIR) &&
	    errno != ENOENT)
		return pe_err(err, len, "cannot remove '%s': %s", shown, strerror(errno));
	return 0;
}

/* What an earlier run killed with -9 left (its daemon took its mount down
 * when it died; a daemon killed too left a stale one): cleared now, or named. */
static void clear_dead_runs(int root, const char *root_path)
{
	DIR *d = pe_opendirat(root, ".");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, RUN_PREFIX, strlen(RUN_PREFIX)) != 0)
			continue;
		int dfd = openat(root, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (dfd < 0)
			continue;
		cleanup_free char *shown = path_join(root_path, de->d_name);
		char err[1024];
		if (fstat(dfd, &st) == 0 && st.st_uid == geteuid() && owner_gone(dfd) &&
		    clear_run_dir(root, de->d_name, dfd, shown, err, sizeof err))
			fprintf(stderr, "pyenvfs: run: an earlier run left '%s' (%s)\n", shown, err + strlen("pyenvfs: "));
		close(dfd);
	}
	closedir(d);
}

/* A new directory pyenvfs-run.XXXXXX in root (mkdtemp's, by descriptor). */
static char *make_unique_dir(int root)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (int tries = 0; tries < 100; tries++) {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			return NULL;
		char name[32];
		int n = snprintf(name, sizeof name, "%s", RUN_PREFIX);
		for (size_t i = 0; i < sizeof rnd; i++)
			name[n++] = chars[rnd[i] % (sizeof chars - 1)];
		name[n] = '\0';
		if (mkdirat(root, name, 0700) == 0)
			return pe_xstrdup(name);
		if (errno != EEXIST)
			return NULL;
	}
	return NULL;
}

static int make_run_dir(struct run_dir *rd, int temp_site, char *err, size_t len)
{
	const char *root = runtime_root();
	char why[1024];
	rd->root_fd = safedir_open(root, 0, why, sizeof why);
	if (rd->root_fd < 0)
		return pe_err(err, len, "run: the runtime directory '%s' is not safe to use: %s (unset XDG_RUNTIME_DIR "
			      "or TMPDIR, or name a directory of your own)", root, why);
	clear_dead_runs(rd->root_fd, root);
	rd->name = make_unique_dir(rd->root_fd);
	if (!rd->name)
		return pe_err(err, len, "run: cannot make a directory in '%s': %s", root, strerror(errno));
	rd->dir = path_join(root, rd->name);
	rd->mnt = path_join(rd->dir, "env");
	rd->fd = openat(rd->root_fd, rd->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = rd->fd < 0 ? -errno : make_owner_file(rd->fd);
	if (!r && mkdirat(rd->fd, "env", 0700))
		r = -errno;
	if (!r && temp_site) {
		rd->site = path_join(rd->dir, "site");
		if (mkdirat(rd->fd, "site", 0700))
			r = -errno;
	}
	if (r)
		return pe_err(err, len, "run: cannot make '%s': %s", rd->dir, strerror(-r));
	return 0;
}

static void free_run_dir(struct run_dir *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	if (rd->root_fd >= 0)
		close(rd->root_fd);
	free(rd->dir);
	free(rd->mnt);
	free(rd->site);
	free(rd->name);
	free(rd->lock);
}

/* The daemon: `pyenvfs -f MOUNT-ARGS MNT [--site SITE]` (mount_main in the
 * forked child, no exec), in a process group
 * of its own (a Ctrl-C is for CMD, not for it), ended by the kernel with
 * SIGTERM if run dies, however it dies. */
static pid_t start_daemon(const struct run_opts *o, const struct run_dir *rd)
{
	int n = 0;
	char **argv = pe_xcalloc((size_t)o->nmount_args + 8, sizeof *argv);
	argv[n++] = "pyenvfs";
	argv[n++] = "-f";
	for (int i = 0; i < o->nmount_args; i++)
		argv[n++] = o->mount_args[i];
	argv[n++] = rd->mnt;
	if (rd->site) {
		argv[n++] = "--site";
		argv[n++] = rd->site;
	}
	if (rd->lock) {
		argv[n++] = "--lock";
		argv[n++] = rd->lock;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(RUN_STATUS_FAILED);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		reset_signals();
		fflush(NULL);
		exit(mount_main(n, argv));     /* exit: the sanitizers check at exit */
	}
	free(argv);
	return pid;
}

/* A descriptor that polls readable when PID exits (-1 on kernels before 5.3:
 * the callers then poll with a short timeout). */
static int pid_fd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits until MNT is a mount (its device differs from its parent's), the
 * daemon has exited (it said why), or a signal came. poll() wakes at every
 * change of the mount table and when the daemon exits. */
static int wait_mounted(const struct run_dir *rd, pid_t daemon, int dfd, int *status)
{
	struct stat dst, mst;
	if (fstat(rd->fd, &dst))
		return -errno;
	int mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char drain[4096];
	int r = -ETIMEDOUT;
	for (;;) {
		if (waitpid(daemon, status, WNOHANG) == daemon) {
			r = -ECHILD;
			break;
		}
		if (fstatat(rd->fd, "env", &mst, 0) == 0 && mst.st_dev != dst.st_dev) {
			r = 0;
			break;
		}
		if (pending_sig) {
			r = -EINTR;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > MOUNT_WAIT_SECONDS)
			break;
		struct pollfd pfd[2] = { { .fd = mfd, .events = POLLPRI }, { .fd = dfd, .events = POLLIN } };
		if (poll(pfd, 2, mfd >= 0 && dfd >= 0 ? 1000 : 2) > 0 && (pfd[0].revents & (POLLPRI | POLLERR))) {
			/* re-read the table, so that poll waits for the next change */
			lseek(mfd, 0, SEEK_SET);
			while (read(mfd, drain, sizeof drain) > 0)
				;
		}
	}
	if (mfd >= 0)
		close(mfd);
	return r;
}

/* SIGTERM to the daemon (it unmounts on its way out), then, if it is slow or
 * the mount outlived it, by force. */
static void stop_daemon(pid_t daemon, int dfd, const struct run_dir *rd)
{
	int status;
	kill(daemon, SIGTERM);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (waitpid(daemon, &status, WNOHANG) != daemon) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= DAEMON_EXIT_SECONDS) {
			kill(daemon, SIGKILL);
			waitpid(daemon, &status, 0);
			break;
		}
		struct pollfd pfd = { .fd = dfd, .events = POLLIN };
		poll(&pfd, dfd >= 0 ? 1 : 0, dfd >= 0 ? 1000 : 2);
	}
	char err[1024];
	int stale;
	if (env_mount_at(rd->fd, "env", &stale) && env_unmount_at(rd->fd, "env", NULL, err, sizeof err))
		fprintf(stderr, "%s\n", err);
}

static char *env_path_with_bin(const char *mnt)
{
	const char *path = getenv("PATH");
	return pe_xasprintf("%s/bin%s%s", mnt, path && *path ? ":" : "", path && *path ? path : "");
}

/* CMD, with the env active: as bin/activate makes it (venv mode), or with
 * PYTHONHOME (--home). */
static pid_t start_cmd(const struct run_opts *o, const char *mnt, int script)
{
	cleanup_free char *path = env_path_with_bin(mnt);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("PATH", path, 1);
		if (o->home) {
			setenv("PYTHONHOME", mnt, 1);
			unsetenv("VIRTUAL_ENV");
		} else {
			setenv("VIRTUAL_ENV", mnt, 1);
			unsetenv("PYTHONHOME");
		}
		unsetenv("VIRTUAL_ENV_PROMPT");
		reset_signals();
		if (script) {
			/* a script: the env's Python runs it */
			char **argv = pe_xcalloc((size_t)o->ncmd + 2, sizeof *argv);
			argv[0] = "python";
			memcpy(argv + 1, o->cmd, (size_t)o->ncmd * sizeof *argv);
			cleanup_free char *py = pe_xasprintf("%s/bin/python", mnt);
			execv(py, argv);
		}
		execvp(o->cmd[0], o->cmd);
		int e = errno;
		if (e == ENOENT)
			fprintf(stderr, "pyenvfs: run: %s: command not found\n", o->cmd[0]);
		else
			fprintf(stderr, "pyenvfs: run: %s: %s\n", o->cmd[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	return pid;
}

static int exit_status_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return RUN_STATUS_FAILED;
}

/* The steps of a run once its options are known; every path out of here
 * leaves nothing behind. */
static int run_env(const struct run_opts *o)
{
	char err[2048];
	struct run_dir rd = { .root_fd = -1, .fd = -1 };
	int status = 0, ret = RUN_STATUS_FAILED, dfd = -1;

	set_signal_handlers();
	if (make_run_dir(&rd, !o->has_site, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (withreqs_run_prepare(o, rd.dir, &rd.lock, &rd.script, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	pid_t daemon = start_daemon(o, &rd);
	if (daemon < 0) {
		fprintf(stderr, "pyenvfs: run: fork: %s\n", strerror(errno));
		goto out;
	}
	dfd = pid_fd(daemon);
	int r = wait_mounted(&rd, daemon, dfd, &status);
	if (r == -ECHILD) {
		daemon = 0;             /* it refused, and said why on stderr */
		goto out;
	}
	if (r) {
		if (r == -ETIMEDOUT)
			fprintf(stderr, "pyenvfs: run: the env was not mounted after %d s\n", MOUNT_WAIT_SECONDS);
		if (r == -EINTR)
			ret = 128 + pending_sig;
		goto out_daemon;
	}

	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t cmd = start_cmd(o, rd.mnt, rd.script);
	cmd_pid = cmd;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (cmd < 0) {
		fprintf(stderr, "pyenvfs: run: fork: %s\n", strerror(errno));
		goto out_daemon;
	}
	if (pending_sig)                /* came while the env was being made */
		kill(cmd, pending_sig);
	while (waitpid(cmd, &status, 0) < 0 && errno == EINTR)
		;
	cmd_pid = 0;
	ret = exit_status_of(status);
out_daemon:
	stop_daemon(daemon, dfd, &rd);
out:
	if (dfd >= 0)
		close(dfd);
	if (rd.fd >= 0 && clear_run_dir(rd.root_fd, rd.name, rd.fd, rd.dir, err, sizeof err))
		fprintf(stderr, "%s\n", err);
	free_run_dir(&rd);
	return ret;
}

int run_main(int argc, char **argv)
{
	char err[2048];
	struct run_opts o;
	if (run_parse(argc, argv, &o, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return RUN_STATUS_FAILED;
	}
	if (o.help) {
		run_usage(stdout);
		run_opts_free(&o);
		return 0;
	}
	/* run --site DIR -- CMD: the base DIR remembers (DIR's layers and X.Y
	 * the mount finds in DIR itself). */
	struct envrec rec = { 0 };
	cleanup_free char *site = o.base ? NULL : path_resolve_nearest(o.site);
	if (!o.base) {
		int has = site ? envfile_load(site, "run: DIR", &rec, err, sizeof err) : 0;
		if (has <= 0 || !rec.base) {
			if (has >= 0)
				fprintf(stderr, "pyenvfs: run: missing BASE: DIR '%s' does not remember one (mount it once over "
					"a BASE, or give it: pyenvfs run --site DIR BASE -- CMD)\n", site ? site : o.site);
			else
				fprintf(stderr, "%s\n", err);
			envrec_free(&rec);
			run_opts_free(&o);
			return RUN_STATUS_FAILED;
		}
		o.base = rec.base;
		o.mount_args = realloc(o.mount_args, (size_t)(o.nmount_args + 1) * sizeof *o.mount_args);
		if (!o.mount_args)
			abort();
		o.mount_args[o.nmount_args++] = rec.base;
	}
	int ret = run_env(&o);
	envrec_free(&rec);
	run_opts_free(&o);
	return ret;
}
