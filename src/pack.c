// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs layer pack (pack.h). */
#include "pack.h"
#include "envfile.h"
#include "ownership.h"
#include "util.h"
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* DIR's own areas that are no part of a layer: copy-up temporaries and the
 * base's bytecode of DIR's own env. */
static const char *const not_packed[] = { VIEW_RESERVED "/tmp", VIEW_RESERVED "/pycache", NULL };

static void pack_usage(FILE *f)
{
	fputs("usage: pyenvfs layer pack DIR IMAGE\n"
	      "\n"
	      "Publishes the env DIR (unmounted) as a read-only layer image: compiles its\n"
	      "bytecode with the Python of the base DIR remembers (as DIR's owner; the\n"
	      "base is not written), makes its files readable by everyone and writable\n"
	      "by their owner only, without set-user/group-ID bits, and writes IMAGE,\n"
	      "a squashfs image owned by root, the same bytes each time for the same\n"
	      "DIR (SOURCE_DATE_EPOCH, if set, is its time). Then, as root:\n"
	      "  mkdir -p L && mount -o loop,ro IMAGE L       (or squashfuse IMAGE L)\n"
	      "and users stack it with --lower-site L.\n", f);
}

/* Runs argv (as uid:gid if root and they are not root's), its output to a
 * pipe; 0 if it exited 0, else -1 with its last line of output in last. */
static int run_quiet(char *const argv[], uid_t uid, gid_t gid, char *last, size_t len)
{
	int pfd[2];
	last[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		if (geteuid() == 0 && uid != 0 && (setgroups(0, NULL) || setgid(gid) || setuid(uid)))
			_exit(126);
		char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", NULL };
		execvpe(argv[0], argv, envp);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	char buf[4096];
	size_t have = 0;
	ssize_t n;
	while ((n = read(pfd[0], buf + have, sizeof buf - 1 - have)) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		have += (size_t)n;
		buf[have] = '\0';
		/* keep the last lines only */
		if (have > sizeof buf / 2) {
			char *nl = strchr(buf + have - sizeof buf / 4, '\n');
			size_t keep = nl ? have - (size_t)(nl + 1 - buf) : 0;
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	close(pfd[0]);
	buf[have] = '\0';
	while (have && (buf[have - 1] == '\n' || buf[have - 1] == ' '))
		buf[--have] = '\0';
	char *l = strrchr(buf, '\n');
	l = l ? l + 1 : buf;
	size_t ll = strlen(l) < len ? strlen(l) : len - 1;
	memcpy(last, l, ll);
	last[ll] = '\0';
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The modes of everything below the directory dfd (readable) made right
 * for a published layer (ownership_layer_mode), through descriptors,
 * following no symlink; *newest: the newest mtime met. 0, or -1 with err. */
static int fix_modes(int dfd, const char *rel, time_t *newest, char *err, size_t len)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return pe_err(err, len, "layer pack: cannot read '%s': %s", rel, strerror(errno));
	}
	int r = 0;
	struct dirent *de;
	while (!r && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *path = *rel ? path_join(rel, de->d_name) : pe_xstrdup(de->d_name);
		int skip = 0;
		for (const char *const *n = not_packed; *n; n++)
			skip |= strcmp(path, *n) == 0;
		if (skip)
			continue;
		int fd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st)) {
			r = pe_err(err, len, "layer pack: '%s': %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		if (st.st_mtime > *newest)
			*newest = st.st_mtime;
		mode_t want = ownership_layer_mode(st.st_mode);
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, fd);
		if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != want && chmod(pp, want))
			r = pe_err(err, len, "layer pack: cannot change the mode of '%s': %s", path, strerror(errno));
		if (!r && S_ISDIR(st.st_mode)) {
			int sub = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = sub < 0 ? pe_err(err, len, "layer pack: cannot read '%s': %s", path, strerror(errno))
				    : fix_modes(sub, path, newest, err, len);
		}
		close(fd);
	}
	closedir(d);
	return r;
}

static int pack(const char *dir_arg, const char *image_arg)
{
	char err[2048], last[512];
	cleanup_free char *dir = realpath(dir_arg, NULL);
	struct stat st;
	if (!dir || stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pyenvfs: layer pack: DIR '%s' %s\n", dir_arg, !dir ? strerror(errno) : "is not a directory");
		return 1;
	}
	if (geteuid() != 0 && geteuid() != st.st_uid) {
		fprintf(stderr, "pyenvfs: layer pack: DIR '%s' is uid %u's: pack it as its owner or as root\n", dir,
			(unsigned)st.st_uid);
		return 1;
	}
	struct envrec rec;
	int has = envfile_load(dir, "layer pack: DIR", &rec, err, sizeof err);
	if (has < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int ret = 1;
	cleanup_free char *image = path_resolve_nearest(image_arg);
	cleanup_free char *exe = has && rec.base ? pe_xasprintf("%s/bin/python%s", rec.base, rec.xy) : NULL;
	/* (declared before the first goto: it must not skip them) */
	cleanup_free char *image_dir = NULL;
	cleanup_free char *tmp = NULL;
	if (!exe || !rec.xy[0]) {
		fprintf(stderr, "pyenvfs: layer pack: DIR '%s' does not remember its base and Python: mount it once "
			"(pyenvfs BASE MOUNTPOINT --site DIR) and install into it through the mount\n", dir);
		goto out;
	}
	if (access(exe, X_OK)) {
		fprintf(stderr, "pyenvfs: layer pack: DIR '%s' was made with %s, which cannot be run (%s)\n", dir, exe,
			strerror(errno));
		goto out;
	}
	if (!image || path_is_within(image, dir)) {
		fprintf(stderr, "pyenvfs: layer pack: IMAGE '%s' %s\n", image_arg,
			image ? "is inside DIR: write it elsewhere" : strerror(errno));
		goto out;
	}
	image_dir = pe_xstrdup(image);
	*strrchr(image_dir, '/') = '\0';
	if (stat(*image_dir ? image_dir : "/", &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pyenvfs: layer pack: IMAGE '%s': its directory does not exist\n", image);
		goto out;
	}
	struct stat dst;
	stat(dir, &dst);

	/* 1. bytecode, by the base's own Python, as DIR's owner; -B: nothing it
	 * imports is compiled into the base. */
	int major = 0, minor = 0;
	sscanf(rec.xy, "%d.%d", &major, &minor);
	char *compile[] = { exe, "-E", "-s", "-B", "-m", "compileall", "-q", "-x", "[/\\\\]\\.pyenvfs([/\\\\]|$)",
			    dir, NULL, NULL };
	if (major > 3 || (major == 3 && minor >= 5)) {  /* -j 0: every CPU */
		compile[9] = "-j0";
		compile[10] = dir;
	}
	if (run_quiet(compile, dst.st_uid, dst.st_gid, last, sizeof last)) {
		fprintf(stderr, "pyenvfs: layer pack: %s -m compileall failed on '%s'%s%s\n", exe, dir, last[0] ? ": " : "",
			last);
		goto out;
	}
	/* 2. the modes */
	time_t newest = 0;
	int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 || fix_modes(top, "", &newest, err, sizeof err)) {
		fprintf(stderr, "%s\n", top < 0 ? "pyenvfs: layer pack: cannot read DIR" : err);
		goto out;
	}
	if (!stat(dir, &st) && st.st_mtime > newest)
		newest = st.st_mtime;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char when[32];
	snprintf(when, sizeof when, "%lld", sde && *sde ? atoll(sde) : (long long)newest);
	/* 3. the image, beside its name, then renamed onto it */
	tmp = pe_xasprintf("%s.tmp.%ld", image, (long)getpid());
	char *mk[] = { "mksquashfs", dir, tmp, "-noappend", "-all-root", "-no-xattrs", "-mkfs-time", when,
		       "-quiet", "-no-progress", "-e", (char *)not_packed[0], (char *)not_packed[1], NULL };
	if (run_quiet(mk, geteuid(), getegid(), last, sizeof last)) {
		unlink(tmp);
		fprintf(stderr, "pyenvfs: layer pack: mksquashfs failed%s%s%s\n", last[0] ? ": " : "", last,
			strstr(last, "cannot run") ? " (install squashfs-tools)" : "");
		goto out;
	}
	if (rename(tmp, image)) {
		fprintf(stderr, "pyenvfs: layer pack: cannot put the image at '%s': %s\n", image, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fprintf(stderr, "pyenvfs: packed '%s' (Python %s%s%s) into '%s'\n", dir, rec.xy, rec.abi[0] ? ", " : "", rec.abi,
		image);
	ret = 0;
out:
	envrec_free(&rec);
	return ret;
}

int layer_main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		pack_usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "pack") != 0) {
		fprintf(stderr, "pyenvfs: layer: expected 'pack': usage: pyenvfs layer pack DIR IMAGE\n");
		return 1;
	}
	const char *pos[2] = { NULL, NULL };
	int npos = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			pack_usage(stdout);
			return 0;
		}
		if ((argv[i][0] == '-' && argv[i][1]) || npos == 2) {
			fprintf(stderr, "pyenvfs: layer pack: unexpected argument '%s': usage: pyenvfs layer pack DIR IMAGE\n",
				argv[i]);
			return 1;
		}
		pos[npos++] = argv[i];
	}
	if (npos < 2) {
		fprintf(stderr, "pyenvfs: layer pack: missing %s: usage: pyenvfs layer pack DIR IMAGE\n",
			npos ? "IMAGE" : "DIR and IMAGE");
		return 1;
	}
	return pack(pos[0], pos[1]);
}
