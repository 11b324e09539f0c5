// SPDX-License-Identifier: GPL-2.0-or-later
/* The race of issue 18, item 1 (tests/test_security.py builds and runs it as
 * an unprivileged user): one process creates NAME with a set-id mode through
 * the mount, over and over, while another renames a symlink to TARGET over
 * the same name in the backing directory, natively. A root daemon that
 * fixes the owner or mode of what it made by name (following the symlink)
 * gives TARGET that mode.
 *
 *   race_setid VIEW_DIR BACKING_DIR NAME TARGET COUNT MODE(octal)
 *
 * Makes COUNT creates that succeed (giving up after 20 times as many
 * tries) and prints "creates N won M errors E": N creates that succeeded,
 * M of them after which TARGET's mode or owner had changed (the test checks
 * TARGET itself), E failed creates. Exit 0 unless set-up failed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whenever NAME is a file again (just created through the mount), a
 * symlink to TARGET is renamed over it: the window a root daemon that
 * fixes up what it made by name would act in. */
static void swapper(const char *backing, const char *name, const char *target)
{
	char tmp[4096], dst[4096];
	snprintf(tmp, sizeof tmp, "%s/.race-%d", backing, (int)getpid());
	snprintf(dst, sizeof dst, "%s/%s", backing, name);
	for (;;) {
		struct stat st;
		if (lstat(dst, &st) || !S_ISREG(st.st_mode))
			continue;
		unlink(tmp);
		if (symlink(target, tmp) == 0)
			rename(tmp, dst);
	}
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: race_setid VIEW_DIR BACKING_DIR NAME TARGET COUNT MODE\n");
		return 2;
	}
	const char *view = argv[1], *backing = argv[2], *name = argv[3], *target = argv[4];
	long count = atol(argv[5]);
	mode_t mode = (mode_t)strtol(argv[6], NULL, 8);
	struct stat before;
	if (stat(target, &before)) {
		perror(target);
		return 2;
	}
	umask(0);
	pid_t sw = fork();
	if (sw < 0) {
		perror("fork");
		return 2;
	}
	if (sw == 0) {
		swapper(backing, name, target);
		_exit(0);
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", view, name);
	long made = 0, won = 0, errors = 0;
	for (long i = 0; made < count && i < 20 * count; i++) {
		unlink(path);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, mode);
		if (fd < 0) {
			errors++;
			continue;
		}
		close(fd);
		made++;
		struct stat now;
		if (stat(target, &now) == 0 && (now.st_mode != before.st_mode || now.st_uid != before.st_uid))
			won++;
	}
	kill(sw, SIGKILL);
	waitpid(sw, NULL, 0);
	printf("creates %ld won %ld errors %ld\n", made, won, errors);
	return 0;
}
