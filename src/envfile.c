// SPDX-License-Identifier: GPL-2.0-or-later
/* What a DIR remembers, read and written in DIR/.pyenvfs (envfile.h). */
#include "envfile.h"
#include "creds.h"
#include "util.h"
#include "view.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

char *envfile_read(int dir, const char *name)
{
	struct stat dst, st;
	if (fstat(dir, &dst))
		return NULL;
	cleanup_free char *rel = pe_xasprintf("%s/%s", VIEW_RESERVED, name);
	int fd = openat_beneath(dir, rel, O_RDONLY);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_uid == dst.st_uid || st.st_uid == 0) &&
	    st.st_size < ENVREC_TEXT_MAX) {
		buf = pe_xmalloc((size_t)st.st_size + 1);
		ssize_t n = read(fd, buf, (size_t)st.st_size);
		if (n < 0) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	} else {
		errno = EINVAL;
	}
	int e = errno;
	close(fd);
	errno = e;
	return buf;
}

int envfile_write(int reserved, const char *name, const char *text, uid_t uid, gid_t gid)
{
	unsigned rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) < 0)
		rnd = (unsigned)getpid();
	char tmp[96];
	snprintf(tmp, sizeof tmp, ".%s.%ld.%08x", name, (long)getpid(), rnd);
	struct creds_saved cs;
	int r = creds_become(uid, gid, &cs);
	if (r)
		return r;
	int fd = openat(reserved, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
	} else {
		size_t n = strlen(text);
		if (write(fd, text, n) != (ssize_t)n || fdatasync(fd))
			r = -EIO;
		if (close(fd) && !r)
			r = -errno;
		if (!r && renameat(reserved, tmp, reserved, name))
			r = -errno;
		if (r)
			unlinkat(reserved, tmp, 0);
	}
	creds_restore(&cs);
	return r;
}

int envfile_load(const char *path, const char *what, struct envrec *r, char *err, size_t len)
{
	memset(r, 0, sizeof *r);
	int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 0;
	cleanup_free char *text = envfile_read(dir, ENVREC_FILE);
	int e = errno;
	close(dir);
	if (!text) {
		if (e == ENOENT || e == ENOTDIR)
			return 0;
		return pe_err(err, len, "%s '%s': cannot read %s/%s: %s", what, path, VIEW_RESERVED, ENVREC_FILE,
			      e == EINVAL ? "not a file of its owner's" : strerror(e));
	}
	char why[512];
	if (envrec_parse(text, r, why, sizeof why))
		return pe_err(err, len, "%s '%s': %s/%s: %s", what, path, VIEW_RESERVED, ENVREC_FILE,
			      why + strlen("pyenvfs: "));
	return 1;
}
