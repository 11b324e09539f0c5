// SPDX-License-Identifier: GPL-2.0-or-later
/* Console scripts, their first line shown naming this mount: a layer's,
 * and DIR's own. See script.h. */
#include "script.h"
#include "shebang.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first bytes of n's file into head: their number, or <= 0. */
static ssize_t read_head(const struct node *n, char head[SHEBANG_HEAD])
{
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
	int fd = open(pp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t len = pread(fd, head, SHEBANG_HEAD, 0);
	close(fd);
	return len;
}

/* Plans e from head and gives it to n, unless there is nothing to rewrite or
 * another thread gave n its plan first (then e is freed). */
static void give_plan(const struct pe_fs *fs, struct node *n, const char *head, size_t len,
		      const struct shebang_match *match, struct shebang_edit *e)
{
	struct shebang_edit *none = NULL;
	if (shebang_plan(head, len, match, fs->mountpoint, e) != 1 ||
	    !__atomic_compare_exchange_n(&n->sb, &none, e, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(e);
}

/* Any <dir>/bin/python... is rewritten: the mount points a layer was used
 * at are not recorded yet. */
void script_plan(struct pe_fs *fs, struct node *n, const char *dir)
{
	size_t dl = strlen(dir);
	if (!fs->mountpoint || !(strcmp(dir, "bin") == 0 || (dl > 4 && strcmp(dir + dl - 4, "/bin") == 0)))
		return;
	char head[SHEBANG_HEAD];
	ssize_t len = read_head(n, head);
	if (len <= 0)
		return;
	const struct shebang_match match = { NULL, 0, 1 };
	give_plan(fs, n, head, (size_t)len, &match, pe_xcalloc(1, sizeof(struct shebang_edit)));
}

int script_read(struct node *n, int fd, char *buf, size_t size, off_t off)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	if (!script_shown(n, &st)) {           /* changed since it was planned */
		ssize_t k = pread(fd, buf, size, off);
		return k < 0 ? -errno : (int)k;
	}
	struct shebang_piece pc[3];
	int np = shebang_map(n->sb, st.st_size, off, size, pc);
	size_t got = 0;
	for (int i = 0; i < np; i++) {
		if (pc[i].from_text) {
			memcpy(buf + got, n->sb->text + pc[i].pos, pc[i].n);
			got += pc[i].n;
			continue;
		}
		ssize_t k = pread(fd, buf + got, pc[i].n, pc[i].pos);
		if (k < 0)
			return -errno;
		got += (size_t)k;
		if ((size_t)k < pc[i].n)
			break;
	}
	return (int)got;
}

/* ---- DIR's own scripts ---------------------------------------------------- */

#define SCRIPT_MAX (64 << 20)   /* larger "scripts" are left as they are */

static pthread_mutex_t materialize_lock = PTHREAD_MUTEX_INITIALIZER;

int script_is_own_bin(const struct pe_fs *fs, int dfd)
{
	if (!fs->nown_roots)
		return 0;
	struct stat d, bin;
	return fstat(dfd, &d) == 0 && fstatat(fs->layers[LAYER_UPPER].fd, "bin", &bin, AT_SYMLINK_NOFOLLOW) == 0 &&
	       d.st_dev == bin.st_dev && d.st_ino == bin.st_ino;
}

void script_plan_own(struct pe_fs *fs, struct node *n, struct stat *st)
{
	if (n->sb || !fs->nown_roots || !fs->mountpoint || !S_ISREG(st->st_mode) || st->st_size < 2) {
		if (script_shown(n, st))
			st->st_size = shebang_size(n->sb, st->st_size);
		return;
	}
	char head[SHEBANG_HEAD];
	ssize_t len = read_head(n, head);
	if (len < 2 || head[0] != '#' || head[1] != '!')
		return;
	const struct shebang_match match = { (const char *const *)fs->own_roots, fs->nown_roots, 0 };
	struct shebang_edit *e = pe_xcalloc(1, sizeof *e);
	e->own = 1;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	give_plan(fs, n, head, (size_t)len, &match, e);
	if (script_shown(n, st))
		st->st_size = shebang_size(n->sb, st->st_size);
}

int script_shown(const struct node *n, const struct stat *st)
{
	const struct shebang_edit *e = __atomic_load_n(&n->sb, __ATOMIC_ACQUIRE);
	return shebang_applies(e, n->writable, st->st_size, st->st_mtim);
}

int script_materialize(struct node *n)
{
	const struct shebang_edit *e = __atomic_load_n(&n->sb, __ATOMIC_ACQUIRE);
	if (!e || !e->own)
		return 0;
	pthread_mutex_lock(&materialize_lock);
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
	int r = 0, fd = open(pp, O_RDWR | O_CLOEXEC);
	struct stat st;
	char *file = NULL, *shown = NULL;
	size_t shown_len = 0;
	if (fd < 0 || fstat(fd, &st)) {
		r = -errno;
		goto out;
	}
	if (!shebang_applies(e, n->writable, st.st_size, st.st_mtim) || st.st_size > SCRIPT_MAX)
		goto out;               /* changed since, or done by another thread */
	file = malloc((size_t)st.st_size + 1);
	if (!file) {
		r = -ENOMEM;
		goto out;
	}
	ssize_t got = pread(fd, file, (size_t)st.st_size, 0);
	if (got != st.st_size) {
		r = got < 0 ? -errno : -EIO;
		goto out;
	}
	shown = shebang_apply(e, file, (size_t)got, &shown_len);
	if (!shown) {
		r = -ENOMEM;
		goto out;
	}
	/* In place: the node keeps its object (a file opened before sees the
	 * new line too, as after any write). */
	errno = EIO;
	if (pwrite(fd, shown, shown_len, 0) != (ssize_t)shown_len || ftruncate(fd, (off_t)shown_len))
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(file);
	free(shown);
	pthread_mutex_unlock(&materialize_lock);
	return r;
}
