// SPDX-License-Identifier: GPL-2.0-or-later
/* A layer's console scripts, their first line shown rewritten. See script.h. */
#include "script.h"
#include "scripts.h"
#include "shebang.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Any <dir>/bin/python... is rewritten: the mount points a layer was used
 * at are not recorded yet. */
void script_plan(struct pe_fs *fs, struct node *n, const char *dir)
{
	size_t dl = strlen(dir);
	if (!fs->mountpoint || !(strcmp(dir, "bin") == 0 || (dl > 4 && strcmp(dir + dl - 4, "/bin") == 0)))
		return;
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, n->fd);
	int fd = open(pp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char head[SHEBANG_HEAD];
	ssize_t len = pread(fd, head, sizeof head, 0);
	close(fd);
	if (len <= 0)
		return;
	const struct shebang_match match = { NULL, 0, 1 };
	struct shebang_edit *e = pe_xcalloc(1, sizeof *e);
	struct shebang_edit *none = NULL;
	if (shebang_plan(head, (size_t)len, &match, fs->mountpoint, e) != 1 ||
	    !__atomic_compare_exchange_n(&n->sb, &none, e, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(e);
}

int script_read(struct node *n, int fd, char *buf, size_t size, off_t off)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	if (!scripts_shown(n, &st)) {           /* changed since it was planned */
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
