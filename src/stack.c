// SPDX-License-Identifier: GPL-2.0-or-later
/* The stacked areas (--lower-site): lookups and merged listings through
 * DIR and the layers, copy-up, removals with whiteouts, renames, and the
 * console-script rewrite of a layer's bin/. See stack.h. */
#include "stack.h"
#include "copyup.h"
#include "distindex.h"
#include "records.h"
#include "scripts.h"
#include "shebang.h"
#include "util.h"
#include "whiteout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int resolve_stacked(const struct pe_fs *fs)
{
	return fs->nstack > 1;
}

int stack_area_of(const struct pe_fs *fs, unsigned layer)
{
	if (!resolve_stacked(fs))
		return 0;
	return layer == LAYER_SITE ? 1 : layer == LAYER_UPPER ? 2 : 0;
}

unsigned stack_area_layer(const struct pe_fs *fs, size_t i, int area)
{
	return area == 1 ? fs->stack[i].site : fs->stack[i].upper;
}

static int target_upper_name(const char *name)
{
	return !strcmp(name, "bin") || !strcmp(name, "share") || !strcmp(name, "include") || !strcmp(name, "etc");
}

/* Whether layer i shows name in the area directory dir at all: the reserved
 * name at a site top is never shown; a target layer's top-level bin, share,
 * include and etc are its upper area, and only they. */
int stack_area_shows(const struct pe_fs *fs, size_t i, int area, const char *dir, const char *name)
{
	if (*dir)
		return 1;
	if (area == 1 && view_reserved(name))
		return 0;
	if (fs->stack[i].target)
		return area == 1 ? !target_upper_name(name) : target_upper_name(name);
	return 1;
}

/* The directory dir of area in layer i (O_PATH), or -errno. */
int stack_layer_dir(struct pe_fs *fs, size_t i, int area, const char *dir)
{
	unsigned l = stack_area_layer(fs, i, area);
	if (l == STACK_NONE)
		return -ENOENT;
	int root = fs->layers[l].fd;
	if (!*dir) {
		int fd = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	const char *slash = strchr(dir, '/');
	cleanup_free char *first = slash ? strndup(dir, (size_t)(slash - dir)) : pe_xstrdup(dir);
	if (!first)
		return -ENOMEM;
	if (!stack_area_shows(fs, i, area, "", first))
		return -ENOENT;
	int fd = openat_beneath(root, dir, O_PATH | O_DIRECTORY);
	return fd < 0 ? -errno : fd;
}

/* Feeds the layers from..n of the stack that are in mask for name in dir into m. */
static void probe_layers(struct pe_fs *fs, int area, const char *dir, const char *name, size_t from,
			 uint64_t mask, struct merge_state *m)
{
	merge_begin(m);
	if (!*dir && !*name) {
		/* the area's top: every layer that has the area */
		for (size_t i = 0; i < fs->nstack; i++) {
			struct merge_probe pr = { MERGE_ABSENT, WH_NONE, 0 };
			int fd = stack_layer_dir(fs, i, area, "");
			if (fd >= 0) {
				pr.obj = MERGE_DIR;
				close(fd);
			}
			if (merge_feed(m, i, &pr) <= 0)
				break;
		}
		return;
	}
	for (size_t i = from; i < fs->nstack; i++) {
		struct merge_probe pr = { MERGE_ABSENT, WH_NONE, 0 };
		/* A layer outside mask shows nothing here, but its records
		 * still act on the layers under it. */
		if ((mask >> i & 1) && stack_area_shows(fs, i, area, dir, name)) {
			int dfd = stack_layer_dir(fs, i, area, dir);
			struct stat st;
			if (dfd >= 0) {
				if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
					pr.obj = S_ISDIR(st.st_mode) ? MERGE_DIR : MERGE_OTHER;
				close(dfd);
			}
		}
		if (pr.obj != MERGE_ABSENT && distidx_hidden(fs, i, area, dir, name))
			pr.shadowed = 1;
		if (fs->stack[i].top >= 0) {
			struct wh_record rec;
			if (records_read(fs->stack[i].top, area == 1 ? WH_AREA_SITE : WH_AREA_UPPER, dir, name, &rec) == 0)
				pr.record = rec.kind == WH_REDIRECT ? WH_HIDE : rec.kind;
		}
		if (merge_feed(m, i, &pr) <= 0)
			break;
	}
}

/* The layers the area directory dir merges, a bit each. Only they can show
 * a name in it: an opaque directory, a whiteout or a non-directory of a
 * layer above, at dir or at any directory above it, hides the others'
 * names below (as the merged listing does). */
static uint64_t dir_layers(struct pe_fs *fs, int area, const char *dir)
{
	uint64_t mask = ~(uint64_t)0;
	if (!*dir)
		return mask;
	cleanup_free char *p = pe_xstrdup(dir);
	cleanup_free char *prefix = pe_xcalloc(1, strlen(dir) + 1);
	char *save = NULL;
	for (char *c = strtok_r(p, "/", &save); c && mask; c = strtok_r(NULL, "/", &save)) {
		struct merge_state m;
		probe_layers(fs, area, prefix, c, 0, mask, &m);
		mask = 0;
		for (size_t k = 0; m.found && m.is_dir && k < m.nlayers; k++)
			mask |= (uint64_t)1 << m.layers[k];
		if (*prefix)
			strcat(prefix, "/");
		strcat(prefix, c);
	}
	return mask;
}

/* Feeds layers from..n of the stack for name in dir into m. */
void stack_probe_from(struct pe_fs *fs, int area, const char *dir, const char *name, size_t from,
		      struct merge_state *m)
{
	probe_layers(fs, area, dir, name, from, dir_layers(fs, area, dir), m);
}

int stack_probe(struct pe_fs *fs, int area, const char *dir, const char *name, struct merge_state *m)
{
	stack_probe_from(fs, area, dir, name, 0, m);
	return m->found ? 0 : -ENOENT;
}

/* Splits an area path into its directory and last name ("" and "" for the top). */
void stack_split_rel(const char *rel, char **dir, const char **name)
{
	const char *slash = strrchr(rel, '/');
	*dir = slash ? strndup(rel, (size_t)(slash - rel)) : pe_xstrdup("");
	*name = slash ? slash + 1 : rel;
	if (!*dir)
		abort();
}

/* The area path of a stacked node now: a directory of DIR's may have been
 * renamed, so it is read from its descriptor; anything else keeps its path. */
const char *stack_node_rel(struct pe_fs *fs, const struct node *n, char *buf, size_t len)
{
	if (n->type == S_IFDIR && n->layer == stack_area_layer(fs, 0, n->area)) {
		char pp[PE_PROC_PATH_MAX];
		pe_proc_path(pp, n->fd);
		ssize_t k = readlink(pp, buf, len - 1);
		if (k > 0) {
			buf[k] = '\0';
			const char *pre = fs->area_path[n->area - 1];
			size_t pl = strlen(pre);
			if (strncmp(buf, pre, pl) == 0 && (buf[pl] == '\0' || buf[pl] == '/'))
				return buf + pl + (buf[pl] == '/');
		}
	}
	return n->rel ? n->rel : "";
}

/* A layer's console script names the Python of the mount it was installed
 * through: shown here, its first line names this env's (docs/LAYERS.md,
 * "Console scripts follow the env"). Any <dir>/bin/python... is rewritten:
 * the mount points a layer was used at are not recorded yet. */
static void plan_shebang(struct pe_fs *fs, struct node *n, const char *dir)
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

int resolve_read_shebang(struct node *n, int fd, char *buf, size_t size, off_t off)
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

/* A merged directory's mtime and ctime are the newest of its layers'
 * directories at rel (its other attributes are the top one's). The kernel
 * keeps a directory's listing until it sees a new mtime: so a name that a
 * layer's owner adds or removes there shows, as one changed in DIR does.
 * The site area's top is also no older than the distribution index's last
 * change (distidx_changed). */
static void stack_dir_times(struct pe_fs *fs, int area, const char *rel, struct stat *st)
{
	for (size_t i = 0; i < fs->nstack; i++) {
		int d = stack_layer_dir(fs, i, area, rel);
		if (d < 0)
			continue;
		struct stat ls;
		if (fstat(d, &ls) == 0 && S_ISDIR(ls.st_mode))
			pe_times_newest(st, ls.st_mtim, ls.st_ctim);
		close(d);
	}
	if (area == 1 && !*rel) {
		struct timespec t = distidx_changed(fs);
		pe_times_newest(st, t, t);
	}
}

int stack_dir_stat(struct pe_fs *fs, struct node *n, struct stat *st)
{
	char buf[PATH_MAX];
	const char *rel = stack_node_rel(fs, n, buf, sizeof buf);
	unsigned top = stack_area_layer(fs, 0, n->area);
	/* Made in DIR since it was looked up (copied up as the parent of a new
	 * name): DIR's directory is the top one now, as at the next lookup. */
	if (n->layer != top) {
		int d = stack_layer_dir(fs, 0, n->area, rel);
		if (d >= 0) {
			if (dup3(d, n->fd, O_CLOEXEC) >= 0) {
				n->layer = (unsigned char)top;
				n->writable = fs->layers[top].writable;
			}
			close(d);
		}
	}
	if (fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (S_ISDIR(st->st_mode))
		stack_dir_times(fs, n->area, rel, st);
	return 0;
}

/* The node for what m found at dir/name of area, shown at place. */
int stack_node(struct pe_fs *fs, int area, const char *dir, const char *name, unsigned place,
		      const struct merge_state *m, struct resolved *out)
{
	unsigned lay = stack_area_layer(fs, m->top, area);
	int dfd = stack_layer_dir(fs, m->top, area, dir);
	if (dfd < 0)
		return dfd;
	int fd = *name ? openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : openat(dfd, ".", O_PATH | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return -errno;
	struct stat st, key;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		int r = -errno;
		close(fd);
		return r;
	}
	cleanup_free char *rel = *name ? path_join(dir, name) : pe_xstrdup(dir);
	struct origin o = { place | STACK_DIR_PLACE, (unsigned char)lay,
			    (unsigned char)(m->top == 0 && fs->layers[lay].writable), 0, (unsigned char)area, rel };
	key = st;
	int spare = -1;
	if (S_ISDIR(st.st_mode)) {
		/* Keyed by the lowest directory merged: a copy-up into DIR keeps the node. */
		size_t bottom = m->nlayers ? m->layers[m->nlayers - 1] : m->top;
		int bfd = stack_layer_dir(fs, bottom, area, rel);
		if (bfd >= 0) {
			if (fstat(bfd, &key))
				key = st;
			close(bfd);
		}
		spare = dup(fd);
	} else {
		o.place = NONDIR_PLACE(lay);
		/* A layer's file with several names: a node per name, as each is
		 * copied up on its own (overlayfs without index=on does the same). */
		if (m->top != 0 && st.st_nlink > 1)
			o.place |= ((unsigned)pe_hash(rel) & 0x3fffffu) << 8;
	}
	struct node *n = node_get(fs->nodes, fd, &key, &o);
	/* The same object at another path: renamed in its layer by the layer's
	 * owner (an upgrade renames the .dist-info) since it was looked up. */
	if ((S_ISDIR(st.st_mode) || st.st_nlink == 1) && n->rel && strcmp(n->rel, rel) != 0)
		node_set_rel(fs->nodes, n, rel);
	if (S_ISREG(st.st_mode) && m->top != 0 && area == 2 && !n->sb && !n->writable)
		plan_shebang(fs, n, dir);
	if (S_ISREG(st.st_mode) && m->top == 0 && area == 2 && strcmp(dir, "bin") == 0)
		scripts_plan_own(fs, n, &st);   /* DIR's own script (scripts.h) */
	else if (scripts_shown(n, &st))
		st.st_size = shebang_size(n->sb, st.st_size);
	if (spare >= 0) {
		if (n->layer != lay && dup3(spare, n->fd, O_CLOEXEC) >= 0) {
			n->layer = (unsigned char)lay;
			n->writable = o.writable;
		}
		close(spare);
		stack_dir_times(fs, area, rel, &st);
	}
	resolve_shown(fs, n, &st, out);
	return 0;
}

int stack_ctx(struct pe_fs *fs, struct node *p, const char *name, struct stack_ctx *c)
{
	if (!resolve_stacked(fs))
		return 0;
	if (p->kind == NODE_PASS && p->area) {
		c->area = p->area;
		c->dir = stack_node_rel(fs, p, c->buf, sizeof c->buf);
		c->place = p->place;
		return 1;
	}
	if (p->kind != NODE_VIEW)
		return 0;
	const struct vdir *d = p->vdir;
	if (view_entry(d, name) || view_hides(d, name))
		return 0;
	for (size_t i = 0; i < d->nsrc; i++) {
		int area = stack_area_of(fs, d->src[i].layer);
		if (area && view_source_shows(&d->src[i], name)) {
			c->area = area;
			c->dir = d->src[i].path;
			c->place = view_source_place(d, i);
			return 1;
		}
	}
	return 0;
}

int stack_find(struct pe_fs *fs, struct node *p, const char *name, struct stack_ctx *c, struct merge_state *m)
{
	if (!stack_ctx(fs, p, name, c))
		return 0;
	if (!stack_probe(fs, c->area, c->dir, name, m))
		return 1;
	/* A view directory's other sources (the base's) may still show it. */
	return p->kind == NODE_PASS ? -ENOENT : 0;
}

int stack_copy_up_dirs(struct pe_fs *fs, int area, const char *dir)
{
	int cur = stack_layer_dir(fs, 0, area, "");
	if (cur < 0 || !*dir)
		return cur;
	cleanup_free char *p = pe_xstrdup(dir);
	cleanup_free char *prefix = pe_xcalloc(1, strlen(dir) + 1);
	char *save = NULL;
	const struct copyup_opts opts = { .keep_owner = fs->daemon_is_root };
	for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (*prefix)
			strcat(prefix, "/");
		strcat(prefix, c);
		int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			int r = -ENOENT;
			for (size_t i = 1; i < fs->nstack && r == -ENOENT; i++) {
				int src = stack_layer_dir(fs, i, area, prefix);
				if (src < 0)
					continue;
				char pp[PE_PROC_PATH_MAX];
				pe_proc_path(pp, src);
				int rd = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				close(src);
				if (rd < 0) {
					r = -errno;
					break;
				}
				char cp[PE_PROC_PATH_MAX];
				pe_proc_path(cp, cur);
				int w = open(cp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				r = w < 0 ? -errno : copyup_dir(rd, w, c, &opts);
				if (w >= 0)
					close(w);
				close(rd);
			}
			/* In no layer: a directory the view expects in the env's
			 * area (bin, share) is made, as without layers. */
			unsigned top = stack_area_layer(fs, 0, area);
			if (r == -ENOENT && fs->layers[top].make_dirs)
				r = resolve_make_dirs(fs, top, prefix);
			if (r) {
				close(cur);
				return r;
			}
			next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(cur);
		if (next < 0)
			return e == ELOOP ? -ENOTDIR : -e;
		cur = next;
	}
	return cur;
}

int resolve_copy_up(struct pe_fs *fs, struct node *n, int trunc)
{
	if (n->kind != NODE_PASS)
		return -EROFS;
	if (n->writable)
		return scripts_materialize(n);  /* DIR's own script shown rewritten */
	if (!n->area || !fs->layers[stack_area_layer(fs, 0, n->area)].writable)
		return -EROFS;
	char buf[PATH_MAX];
	const char *rel = stack_node_rel(fs, n, buf, sizeof buf);
	cleanup_free char *dir = NULL;
	const char *name;
	stack_split_rel(rel, &dir, &name);
	if (!*name)
		return -EROFS;
	int dfd = stack_copy_up_dirs(fs, n->area, dir);
	if (dfd < 0)
		return dfd;
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, dfd);
	/* The name was there before: its directory's times stay (as overlayfs
	 * keeps them), though the copy is put in with a rename. */
	struct stat parent;
	int keep_times = fstat(dfd, &parent) == 0;
	int w = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = w < 0 ? -errno : 0;
	const struct copyup_opts opts = { .keep_owner = fs->daemon_is_root, .skip_data = trunc };
	if (!r && n->type == S_IFREG) {
		char sp[PE_PROC_PATH_MAX];
		pe_proc_path(sp, n->fd);
		int src = open(sp, O_RDONLY | O_CLOEXEC);
		r = src < 0 ? -errno : copyup_file(src, w, name, fs->tmp_fd, &opts);
		if (src >= 0)
			close(src);
	} else if (!r && n->type == S_IFDIR) {
		char sp[PE_PROC_PATH_MAX];
		pe_proc_path(sp, n->fd);
		int src = open(sp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = src < 0 ? -errno : copyup_dir(src, w, name, &opts);
		if (src >= 0)
			close(src);
	} else if (!r && n->type == S_IFLNK) {
		struct merge_state m;
		r = -ENOENT;
		for (size_t i = 1; i < fs->nstack && r == -ENOENT; i++) {
			if (stack_area_layer(fs, i, n->area) != n->layer)
				continue;
			int sd = stack_layer_dir(fs, i, n->area, dir);
			if (sd < 0)
				continue;
			char sp[PE_PROC_PATH_MAX];
			pe_proc_path(sp, sd);
			int src = open(sp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			close(sd);
			r = src < 0 ? -errno : copyup_symlink(src, name, w, fs->tmp_fd, &opts);
			if (src >= 0)
				close(src);
		}
		(void)m;
	} else if (!r) {
		r = -EROFS;     /* devices, fifos, sockets of a layer stay read-only */
	}
	if (r == -EEXIST)
		r = 0;          /* copied meanwhile: theirs is the env's now */
	if (w >= 0)
		close(w);
	if (!r) {
		int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
		} else {
			/* The node keeps its id and now stands for the copy: its number
			 * is replaced in one step, so no other request sees it closed. */
			if (dup3(fd, n->fd, O_CLOEXEC) < 0)
				r = -errno;
			close(fd);
			if (!r && n->io_fd >= 0) {
				pe_proc_path(pp, n->fd);
				int io = open(pp, O_RDONLY | O_CLOEXEC);
				if (io >= 0) {
					dup3(io, n->io_fd, O_CLOEXEC);
					close(io);
				}
			}
			if (!r) {
				n->layer = (unsigned char)stack_area_layer(fs, 0, n->area);
				n->writable = 1;
				/* Found by the copy's key now: a lookup of this name
				 * (or of a hard link made to it) is this node, not a
				 * second inode of the same file in the kernel. */
				struct stat cst;
				if (n->type != S_IFDIR && fstat(n->fd, &cst) == 0)
					(void)node_rekey(fs->nodes, n, cst.st_dev, cst.st_ino, NONDIR_PLACE(n->layer));
			}
		}
	}
	if (!r && keep_times) {
		const struct timespec t[2] = { parent.st_atim, parent.st_mtim };
		pe_proc_path(pp, dfd);
		(void)utimensat(AT_FDCWD, pp, t, 0);
	}
	close(dfd);
	return r;
}

/* One layer's entries of a merged directory, and the names its records hide. */
struct layer_ents {
	struct merge_entry *ents;
	size_t n;
	char **names;           /* owned: the entries' and the hides' strings */
	size_t nnames;
	const char **hides;
	size_t nhides;
};

static void take_name(struct layer_ents *le, char *s)
{
	le->names = realloc(le->names, (le->nnames + 1) * sizeof *le->names);
	if (!le->names)
		abort();
	le->names[le->nnames++] = s;
}

static void read_layer_dir_records(struct pe_fs *fs, size_t i, int area, const char *dir, struct layer_ents *le);

static void read_layer_dir(struct pe_fs *fs, size_t i, int area, const char *dir, struct layer_ents *le)
{
	const struct dist_shadow *shadow = i ? distidx_current(fs) : NULL;
	int pfd = stack_layer_dir(fs, i, area, dir);
	DIR *dp = pe_opendir_path(pfd);
	if (pfd >= 0)
		close(pfd);
	struct dirent *de;
	size_t cap = 0;
	while (dp && (de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !stack_area_shows(fs, i, area, dir, de->d_name) ||
		    distidx_hidden_in(shadow, i, area, dir, de->d_name))
			continue;
		if (le->n == cap) {
			cap = cap ? cap * 2 : 32;
			le->ents = realloc(le->ents, cap * sizeof *le->ents);
			if (!le->ents)
				abort();
		}
		char *s = pe_xstrdup(de->d_name);
		take_name(le, s);
		le->ents[le->n++] = (struct merge_entry){ s, de->d_type };
	}
	if (dp)
		closedir(dp);
	if (fs->stack[i].top >= 0)
		read_layer_dir_records(fs, i, area, dir, le);
}

/* The names layer i's records hide below dir: the names of its node's
 * sub/ with a kind. */
static void read_layer_dir_records(struct pe_fs *fs, size_t i, int area, const char *dir, struct layer_ents *le)
{
	struct dirent *de;
	enum wh_area wa = area == 1 ? WH_AREA_SITE : WH_AREA_UPPER;
	char node[PATH_MAX];
	if (wh_node_path(wa, dir, node, sizeof node - 8))
		return;
	strcat(node, "/" WH_SUB);
	int sfd = openat_beneath(fs->stack[i].top, node, O_PATH | O_DIRECTORY);
	DIR *rp = pe_opendir_path(sfd);
	if (sfd >= 0)
		close(sfd);
	size_t hcap = 0;
	while (rp && (de = readdir(rp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct wh_record rec;
		if (records_read(fs->stack[i].top, wa, dir, de->d_name, &rec) || (rec.kind != WH_HIDE && rec.kind != WH_REDIRECT))
			continue;
		if (le->nhides == hcap) {
			hcap = hcap ? hcap * 2 : 8;
			le->hides = realloc(le->hides, hcap * sizeof *le->hides);
			if (!le->hides)
				abort();
		}
		char *s = pe_xstrdup(de->d_name);
		take_name(le, s);
		le->hides[le->nhides++] = s;
	}
	if (rp)
		closedir(rp);
}
static void free_layer_ents(struct layer_ents *le, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < le[i].nnames; k++)
			free(le[i].names[k]);
		free(le[i].names);
		free(le[i].ents);
		free(le[i].hides);
	}
	free(le);
}

int stack_list(struct pe_fs *fs, int area, const char *rel, stack_each_fn each, void *arg)
{
	struct merge_state m;
	cleanup_free char *dir = NULL;
	const char *name;
	stack_split_rel(rel, &dir, &name);
	if (stack_probe(fs, area, dir, name, &m))
		return -ENOENT;
	if (!m.is_dir)
		return -ENOTDIR;
	/* Every layer down to the lowest merged one: the merged ones with their
	 * entries, the others for their records only (a layer above may have
	 * removed names of this directory without holding it). */
	size_t n = m.nlayers ? m.layers[m.nlayers - 1] + 1 : 0;
	struct layer_ents *le = pe_xcalloc(n + 1, sizeof *le);
	struct merge_dir_layer *dl = pe_xcalloc(n + 1, sizeof *dl);
	for (size_t i = 0, k = 0; i < n; i++) {
		if (k < m.nlayers && m.layers[k] == i) {
			read_layer_dir(fs, i, area, rel, &le[i]);
			k++;
		} else if (fs->stack[i].top >= 0) {
			read_layer_dir_records(fs, i, area, rel, &le[i]);
		}
		dl[i] = (struct merge_dir_layer){ i, le[i].ents, le[i].n, le[i].hides, le[i].nhides };
	}
	struct merge_out *out = NULL;
	size_t nout = 0;
	int r = merge_list(dl, n, &out, &nout);
	for (size_t k = 0; !r && k < nout; k++)
		each(out[k].name, out[k].type, arg);
	free(out);
	free(dl);
	free_layer_ents(le, n);
	return r;
}

/* Whether the merged directory rel shows nothing. */
static void count_one(const char *name, unsigned char type, void *arg)
{
	(void)name, (void)type;
	++*(size_t *)arg;
}

int resolve_remove(struct pe_fs *fs, struct node *p, const char *name, int flags, struct target *t)
{
	*t = (struct target){ .dfd = -1 };
	struct stack_ctx c;
	if (!stack_ctx(fs, p, name, &c))
		return resolve_existing(fs, p, name, t);
	struct merge_state m;
	if (stack_probe(fs, c.area, c.dir, name, &m))
		return resolve_existing(fs, p, name, t);        /* another source's (the base's): EROFS */
	if (!fs->layers[stack_area_layer(fs, 0, c.area)].writable)
		return -EROFS;
	if ((flags & AT_REMOVEDIR) && !m.is_dir)
		return -ENOTDIR;
	if (!(flags & AT_REMOVEDIR) && m.is_dir)
		return -EISDIR;
	if (m.is_dir) {
		cleanup_free char *rel = path_join(c.dir, name);
		size_t count = 0;
		int r = stack_list(fs, c.area, rel, count_one, &count);
		if (r)
			return r;
		if (count)
			return -ENOTEMPTY;
	}
	struct merge_state below;
	stack_probe_from(fs, c.area, c.dir, name, 1, &below);
	/* Nothing is made in DIR for a removal: the record is enough (a copied
	 * up metadata directory would count as DIR's distribution). */
	int dfd = -1;
	if (m.top == 0) {
		dfd = stack_layer_dir(fs, 0, c.area, c.dir);
		if (dfd < 0)
			return dfd;
	}
	*t = (struct target){ dfd, name, { c.place, (unsigned char)stack_area_layer(fs, 0, c.area), 1, 0, 0, NULL },
			      dfd >= 0, NULL, 0 };
	/* The whiteout first: a crash after it hides the name (the new view). */
	if (below.found) {
		int r = records_set(fs->stack[0].top, c.area == 1 ? WH_AREA_SITE : WH_AREA_UPPER, c.dir, name, WH_HIDE, NULL);
		if (r)
			return r;
	}
	if (m.top == 0 && unlinkat(dfd, name, flags))
		return -errno;
	/* What the records said below a directory now gone is moot: pip's
	 * uninstall leaves one record for a package, not one per file. */
	if (below.found && m.is_dir)
		(void)records_drop_below(fs->stack[0].top, c.area == 1 ? WH_AREA_SITE : WH_AREA_UPPER, c.dir, name);
	return 0;
}

int resolve_rename(struct pe_fs *fs, struct node *p, const char *name, struct node *np, const char *newname,
		   unsigned flags, struct target *from, struct target *to)
{
	*from = *to = (struct target){ .dfd = -1 };
	struct stack_ctx c, nc;
	if (!stack_ctx(fs, p, name, &c) || !stack_ctx(fs, np, newname, &nc))
		return 1;       /* not stacked: the caller's rules */
	struct merge_state m, nm, below, nbelow;
	if (stack_probe(fs, c.area, c.dir, name, &m))
		return 1;
	if (!fs->layers[stack_area_layer(fs, 0, c.area)].writable)
		return -EROFS;
	if (c.area != nc.area)
		return -EXDEV;
	/* A layer's object, or a directory merging one, is not renamed: EXDEV
	 * makes mv and shutil.move copy it (up) and remove it (a whiteout). */
	if (m.top != 0 || (m.is_dir && m.nlayers > 1))
		return -EXDEV;
	int dst = stack_probe(fs, nc.area, nc.dir, newname, &nm) == 0;
	if (dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (dst && (nm.top != 0 || (nm.is_dir && nm.nlayers > 1)) && (nm.is_dir || (flags & RENAME_EXCHANGE))) {
		/* Over a layer's directory that is not empty: ENOTEMPTY, as
		 * rename(2) says for any such directory (and overlayfs here). */
		if (nm.is_dir && m.is_dir && !(flags & RENAME_EXCHANGE)) {
			cleanup_free char *rel = path_join(nc.dir, newname);
			size_t count = 0;
			int r = stack_list(fs, nc.area, rel, count_one, &count);
			if (r)
				return r;
			if (count)
				return -ENOTEMPTY;
		}
		return -EXDEV;
	}
	/* (An exchange swaps a file and a directory as well.) */
	if (dst && nm.is_dir != m.is_dir && !(flags & RENAME_EXCHANGE))
		return nm.is_dir ? -EISDIR : -ENOTDIR;
	stack_probe_from(fs, c.area, c.dir, name, 1, &below);
	stack_probe_from(fs, nc.area, nc.dir, newname, 1, &nbelow);
	if (below.found && (flags & RENAME_EXCHANGE))
		return -EXDEV;
	int sfd = stack_copy_up_dirs(fs, c.area, c.dir);
	if (sfd < 0)
		return sfd;
	*from = (struct target){ sfd, name, { c.place, (unsigned char)stack_area_layer(fs, 0, c.area), 1, 0, 0, NULL }, 1, NULL, 0 };
	int dfd = stack_copy_up_dirs(fs, nc.area, nc.dir);
	if (dfd < 0)
		return dfd;
	*to = (struct target){ dfd, newname, { nc.place, (unsigned char)stack_area_layer(fs, 0, nc.area), 1, 0, 0, NULL }, 1, NULL, 0 };
	enum wh_area wa = c.area == 1 ? WH_AREA_SITE : WH_AREA_UPPER;
	int r = 0;
	if (nbelow.found && !(flags & RENAME_EXCHANGE))
		r = records_set(fs->stack[0].top, wa, nc.dir, newname, WH_HIDE, NULL);
	if (!r && below.found)
		r = records_set(fs->stack[0].top, wa, c.dir, name, WH_HIDE, NULL);
	if (!r && renameat2(sfd, name, dfd, newname, flags))
		r = -errno;
	return r;
}