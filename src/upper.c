// SPDX-License-Identifier: GPL-2.0-or-later
/* Copy-up into DIR: a merged directory's DIR part, a layer's object made
 * DIR's for a change. See upper.h. */
#include "upper.h"
#include "backing.h"
#include "copyup.h"
#include "ownership.h"
#include "script.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *last_name(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	return slash ? slash + 1 : rel;
}

/* Whether layer's objects are shown through the ownership rule (a lower
 * layer of another owner than DIR's; resolve.c's show_mode): then a copy
 * gets the owner and mode shown. */
static int upper_mapped(const struct pe_fs *fs, unsigned layer)
{
	return layer < fs->nlayers && fs->layers[layer].lower && fs->layers[layer].owner != fs->owner;
}

int upper_dir(struct pe_fs *fs, struct stack *s)
{
	int fd = stack_dir0(fs, s);
	if (fd >= 0)
		return fd;
	if (!stack_writable(fs, s->area))
		return -EROFS;
	if (!s->parent)
		return -ENOENT;
	int pfd = upper_dir(fs, s->parent);
	if (pfd < 0)
		return pfd;
	const char *name = last_name(s->rel);
	unsigned layer = stack_dir_layer(fs, s->area);
	int src = -1;
	unsigned from = layer;
	for (size_t i = 1; i < s->n && src < 0; i++) {
		src = s->parts[i].fd;
		from = stack_area_layer(fs, s->parts[i].idx, s->area);
	}
	int r;
	if (src >= 0) {
		/* A layer's directory: made with its times, and the owner and
		 * mode the ownership rule gives it. */
		const struct ownership own = { fs->owner, fs->group, fs->layers[from].owner };
		const struct copyup_opts opts = { .keep_owner = fs->daemon_is_root,
						  .own = upper_mapped(fs, from) ? &own : NULL };
		int rd = pe_open_dir(src);
		int w = rd < 0 ? -1 : pe_open_dir(pfd);
		r = rd < 0 || w < 0 ? -errno : copyup_dir(rd, w, name, &opts);
		if (rd >= 0)
			close(rd);
		if (w >= 0)
			close(w);
	} else if (fs->layers[layer].make_dirs) {
		/* Shown nowhere yet (the env's bin before its first script). */
		r = backing_make_dirs(fs, layer, s->rel);
	} else {
		r = -ENOENT;
	}
	if (r)
		return r;
	fd = openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	return stack_set_dir0(fs, s, fd);
}

/* n stands for DIR's object fd now (its number replaced in one step, so
 * no other request sees it closed), and is found by the copy's key. */
static int become(struct pe_fs *fs, struct node *n, int fd, int area)
{
	int r = dup3(fd, n->fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(fd);
	if (r)
		return r;
	int io = __atomic_load_n(&n->io_fd, __ATOMIC_ACQUIRE);
	if (io >= 0) {
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, n->fd);
		int nio = open(pp, O_RDONLY | O_CLOEXEC);
		if (nio >= 0) {
			dup3(nio, io, O_CLOEXEC);
			close(nio);
		}
	}
	unsigned layer = stack_dir_layer(fs, area);
	n->layer = layer;
	n->writable = 1;
	/* A lookup of this name (or of a hard link made to it) is this node,
	 * not a second inode of the same file in the kernel. */
	struct stat st;
	if (n->type != S_IFDIR && fstat(n->fd, &st) == 0)
		(void)node_rekey(fs->nodes, n, st.st_dev, st.st_ino, NONDIR_PLACE(layer));
	return 0;
}

/* Copies the non-directory n (name in the merged directory s) into DIR's
 * directory dst. */
static int copy_object(struct pe_fs *fs, struct node *n, struct stack *s, const char *name, int dst, int trunc)
{
	const struct ownership own = { fs->owner, fs->group, fs->layers[n->layer].owner };
	const struct copyup_opts opts = { .keep_owner = fs->daemon_is_root, .skip_data = trunc,
					  .own = upper_mapped(fs, n->layer) ? &own : NULL };
	char pp[PE_PROC_PATH_MAX];
	int w = pe_open_dir(dst);
	if (w < 0)
		return -errno;
	int r;
	if (n->type == S_IFREG) {
		pe_proc_path(pp, n->fd);
		int src = open(pp, O_RDONLY | O_CLOEXEC);
		r = src < 0 ? -errno : copyup_file(src, w, name, fs->tmp_fd, &opts);
		if (src >= 0)
			close(src);
	} else if (n->type == S_IFLNK) {
		r = -ENOENT;
		for (size_t i = 1; i < s->n && r == -ENOENT; i++) {
			if (s->parts[i].fd < 0 || stack_area_layer(fs, s->parts[i].idx, s->area) != n->layer)
				continue;
			int src = pe_open_dir(s->parts[i].fd);
			r = src < 0 ? -errno : copyup_symlink(src, name, w, fs->tmp_fd, &opts);
			if (src >= 0)
				close(src);
		}
	} else {
		r = -EROFS;     /* devices, fifos, sockets of a layer stay read-only */
	}
	close(w);
	return r == -EEXIST ? 0 : r;    /* copied meanwhile: theirs is the env's now */
}

int upper_copy(struct pe_fs *fs, struct node *n, int trunc)
{
	if (n->kind == NODE_PASS && n->writable)
		return script_materialize(n);  /* DIR's own script shown rewritten */
	if (n->kind != NODE_PASS || !n->area)
		return -EROFS;
	if (!stack_writable(fs, n->area))
		return -EROFS;
	char name[NAME_MAX + 1];
	struct stack *s = node_stack(fs->nodes, n, name, sizeof name);
	if (!s)
		return -EROFS;
	int r, d = upper_dir(fs, s);
	if (d < 0) {
		r = d;
	} else if (n->type == S_IFDIR) {
		int fd = fcntl(d, F_DUPFD_CLOEXEC, 0);
		r = fd < 0 ? -errno : become(fs, n, fd, s->area);
	} else {
		/* The name was there before: its directory's times stay (as
		 * overlayfs keeps them), though the copy is put in with a rename. */
		struct stat parent;
		int keep_times = fstat(d, &parent) == 0;
		r = copy_object(fs, n, s, name, d, trunc);
		if (!r) {
			int fd = openat(d, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			r = fd < 0 ? -errno : become(fs, n, fd, s->area);
		}
		if (!r && keep_times) {
			const struct timespec t[2] = { parent.st_atim, parent.st_mtim };
			char pp[PE_PROC_PATH_MAX];
			pe_proc_path(pp, d);
			(void)utimensat(AT_FDCWD, pp, t, 0);
		}
	}
	stack_put(s);
	return r;
}
