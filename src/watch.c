// SPDX-License-Identifier: GPL-2.0-or-later
/* Change notifications with inotify (see watch.h). */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include "watch.h"
#include "stack.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

/* What a directory reports: its names coming and going, its files written
 * and their attributes, and its own end. */
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB | \
		    IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
#define NAMESPACE_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)
#define CONTENT_EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)

/* What a layer's file system allows. */
enum layer_kind {
	KIND_NONE,              /* no notification: the layer's timeout */
	KIND_LOCAL,             /* every change is made on this host: watched */
	KIND_IMMUTABLE,         /* read-only: never changes */
};

struct wlink;

/* One watched backing directory: one inotify watch. */
struct wdir {
	int wd;                 /* -1 once the kernel has dropped the watch */
	int fd;                 /* O_PATH, for the names of its events */
	dev_t dev;
	ino_t ino;
	unsigned layer;         /* its layer: the key of its files' nodes */
	unsigned char meta;     /* with --lower-site, what the distribution index is
				 * read from: 1 a site area's top, 2 a metadata
				 * directory in it */
	struct wlink *links;
	struct wdir *next;      /* hash chain, by wd */
};

/* A node showing a watched directory. */
struct wlink {
	struct node *node;
	struct wdir *dir;
	unsigned char pending;  /* a view directory's source is missing: this is
				 * its nearest existing ancestor, where it may come */
	struct wlink *next_of_dir;
	struct wlink *next_of_node;
};

/* A name changed through the mount: what the kernel was told it is. */
struct own {
	dev_t ddev;
	ino_t dino;
	char *name;
	int present;
	dev_t dev;
	ino_t ino;
};

#define WD_BUCKETS 1024
#define OWN_SLOTS 1024
#define MAX_ANCHORS 16

struct watch {
	struct pe_fs *fs;
	int ifd;                        /* the inotify instance */
	int stop_pipe[2];
	struct fuse_session *se;
	pthread_t thread;
	int started;
	pthread_mutex_t lock;           /* everything below; never held while notifying */
	struct wdir *by_wd[WD_BUCKETS];
	struct own own[OWN_SLOTS];
	unsigned char *kind;            /* by layer index */
	/* Where DIR's top shows (the view directory and the anchor's name): a
	 * change that moves the distribution index, or lost events, has the
	 * kernel forget everything below it. */
	struct anchor { unsigned vdir; const char *name; } anchors[MAX_ANCHORS];
	size_t nanchors;
	uint64_t nwatches, nevents, ninvals, noverflows;
};

static void link_vdir(struct watch *w, struct node *vn);
static void unlink_all(struct watch *w, struct node *n);

/* ---- set-up ---------------------------------------------------------------- */

/* Local file systems, whose changes are all made through this kernel. Any
 * other (NFS, CIFS, 9p, Ceph, FUSE: CVMFS, bindfs, sshfs) may change
 * without an event here. */
static enum layer_kind kind_of_fs(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf))
		return KIND_NONE;
	switch ((unsigned long)sf.f_type) {
	case 0x73717368: /* squashfs */
	case 0xe0f5e1e2: /* erofs */
	case 0x9660:     /* iso9660 */
	case 0x28cd3d45: /* cramfs */
		return KIND_IMMUTABLE;
	case 0xef53:     /* ext2, ext3, ext4 */
	case 0x58465342: /* xfs */
	case 0x9123683e: /* btrfs */
	case 0x01021994: /* tmpfs */
	case 0x858458f6: /* ramfs */
	case 0xf2f52010: /* f2fs */
	case 0x2fc12fc1: /* zfs */
	case 0xca451a4e: /* bcachefs */
	case 0x52654973: /* reiserfs */
	case 0x3153464a: /* jfs */
	case 0x3434:     /* nilfs2 */
	case 0x794c7630: /* overlayfs: its layers do not change under it */
	case 0x4d44:     /* vfat */
	case 0x2011bab0: /* exfat */
	case 0x7366746e: /* ntfs3 */
		return (sf.f_flags & ST_RDONLY) ? KIND_IMMUTABLE : KIND_LOCAL;
	default:
		return KIND_NONE;
	}
}

int watch_init(struct pe_fs *fs, int off)
{
	fs->watch = NULL;
	if (off)
		return 0;
	struct watch *w = pe_xcalloc(1, sizeof *w);
	w->fs = fs;
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		int e = errno;
		free(w);
		return -e;
	}
	if (pipe2(w->stop_pipe, O_CLOEXEC)) {
		int e = errno;
		close(w->ifd);
		free(w);
		return -e;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->kind = pe_xcalloc(fs->nlayers, 1);
	for (size_t l = 0; l < fs->nlayers; l++)
		w->kind[l] = fs->layers[l].stable ? KIND_NONE : (unsigned char)kind_of_fs(fs->layers[l].fd);
	for (size_t i = 0; i < fs->view.ndirs; i++) {
		const struct vdir *d = fs->view.dirs[i];
		for (size_t k = 0; k < d->nents && w->nanchors < MAX_ANCHORS; k++) {
			const struct vent *v = &d->ents[k];
			if (v->kind == VENT_ANCHOR && v->layer == LAYER_SITE && !*v->path)
				w->anchors[w->nanchors++] = (struct anchor){ d->id, v->name };
		}
	}
	node_table_on_free(fs->nodes, watch_node_freed, fs);
	fs->watch = w;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < fs->view.ndirs; i++)
		link_vdir(w, &fs->vnodes[i]);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* ---- the watched directories ------------------------------------------------ */

static struct wdir **slot_of(struct watch *w, int wd)
{
	struct wdir **p = &w->by_wd[(unsigned)wd % WD_BUCKETS];
	while (*p && (*p)->wd != wd)
		p = &(*p)->next;
	return p;
}

/* Watches the directory dfd for n (w->lock held): 1 if a watch was added
 * or n linked to one, 0 if n was linked already, -errno. */
static int link_dir(struct watch *w, struct node *n, int dfd, unsigned layer, int meta, int pending)
{
	char pp[PE_PROC_PATH_MAX];
	pe_proc_path(pp, dfd);
	/* By descriptor: /proc/self/fd/N is the directory itself, whatever is
	 * at its name now. */
	int wd = inotify_add_watch(w->ifd, pp, WATCH_MASK);
	if (wd < 0)
		return -errno;
	struct wdir **p = slot_of(w, wd), *d = *p;
	if (!d) {
		struct stat st;
		int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0 || fstat(fd, &st)) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			inotify_rm_watch(w->ifd, wd);
			return -e;
		}
		d = pe_xcalloc(1, sizeof *d);
		*d = (struct wdir){ .wd = wd, .fd = fd, .dev = st.st_dev, .ino = st.st_ino, .layer = layer,
				    .meta = (unsigned char)meta };
		*p = d;
		w->nwatches++;
	}
	for (struct wlink *l = n->wlinks; l; l = l->next_of_node)
		if (l->dir == d)
			return 0;
	struct wlink *l = pe_xcalloc(1, sizeof *l);
	*l = (struct wlink){ n, d, (unsigned char)pending, d->links, n->wlinks };
	d->links = l;
	n->wlinks = l;
	return 1;
}

/* What the distribution index is built from: the site area's top (1) and
 * the metadata directories in it (2). */
static int is_meta(const char *rel)
{
	size_t n = strlen(rel);
	if (!n)
		return 1;
	if (strchr(rel, '/'))
		return 0;
	return ((n > 10 && strcmp(rel + n - 10, ".dist-info") == 0) || (n > 9 && strcmp(rel + n - 9, ".egg-info") == 0))
		? 2 : 0;
}

/* The files of a metadata directory the distribution index reads. */
static int dist_file(const char *name)
{
	static const char *const files[] = { "METADATA", "PKG-INFO", "RECORD", "installed-files.txt" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (strcmp(name, files[i]) == 0)
			return 1;
	return 0;
}

/* The directory rel of area in stack entry i (O_PATH), or -errno. */
static int layer_dir(struct pe_fs *fs, size_t i, int area, const char *rel)
{
	unsigned l = stack_area_layer(fs, i, area);
	if (l == STACK_NONE)
		return -ENOENT;
	int fd = *rel ? openat_beneath(fs->layers[l].fd, rel, O_PATH | O_DIRECTORY)
		      : fcntl(fs->layers[l].fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* Whether n is an area's top directory (DIR's, or the env area's). */
static int area_top(struct pe_fs *fs, struct node *n)
{
	if (n->kind != NODE_PASS || !n->area || n->type != S_IFDIR)
		return 0;
	struct stack *s = node_stack(fs->nodes, n, NULL, 0);
	int top = s && !*s->rel;
	if (s)
		stack_put(s);
	return top;
}

void watch_dir(struct pe_fs *fs, struct node *n)
{
	struct watch *w = fs->watch;
	if (!w || n->kind != NODE_PASS || !S_ISDIR(n->type))
		return;
	/* A plain directory is one backing directory for its life; a merged
	 * one may take a layer's new directory at its path. */
	if (n->watched && !n->area)
		return;
	if (!n->area && (n->layer >= fs->nlayers || w->kind[n->layer] != KIND_LOCAL)) {
		n->watched = n->layer < fs->nlayers && w->kind[n->layer] == KIND_IMMUTABLE;
		return;
	}
	/* Every part of the merged directory (its stack, stack.h): DIR's as it
	 * is now, and each layer's that holds it. */
	struct stack *s = n->area ? node_stack(fs->nodes, n, NULL, 0) : NULL;
	size_t cap = s ? s->n : 1, nd = 0;
	int *fds = pe_xcalloc(cap, sizeof *fds);
	unsigned *layers = pe_xcalloc(cap, sizeof *layers);
	int meta = 0;
	if (s) {
		meta = s->area == 1 ? is_meta(s->rel) : 0;
		for (size_t i = 0; i < s->n; i++) {
			int fd = i ? s->parts[i].fd : stack_dir0(fs, s);
			if (fd < 0 || (fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
				continue;       /* its coming shows in a parent's watch */
			fds[nd] = fd;
			layers[nd++] = stack_area_layer(fs, s->parts[i].idx, s->area);
		}
		stack_put(s);
	} else if (!n->area) {
		fds[0] = fcntl(n->fd, F_DUPFD_CLOEXEC, 0);
		layers[0] = n->layer;
		nd = fds[0] >= 0;
	}
	int all = nd > 0;
	pthread_mutex_lock(&w->lock);
	for (size_t k = 0; k < nd; k++) {
		if (layers[k] >= fs->nlayers || w->kind[layers[k]] == KIND_NONE)
			all = 0;
		else if (w->kind[layers[k]] == KIND_LOCAL && link_dir(w, n, fds[k], layers[k], meta, 0) < 0)
			all = 0;        /* e.g. ENOSPC: fs.inotify.max_user_watches */
	}
	n->watched = (unsigned char)all;
	pthread_mutex_unlock(&w->lock);
	for (size_t k = 0; k < nd; k++)
		close(fds[k]);
	free(fds);
	free(layers);
}

/* Drops d (w->lock held; no link left). */
static void drop_dir(struct watch *w, struct wdir *d)
{
	if (d->wd >= 0) {
		struct wdir **p = slot_of(w, d->wd);
		if (*p == d)
			*p = d->next;
		inotify_rm_watch(w->ifd, d->wd);
	}
	close(d->fd);
	free(d);
	w->nwatches--;
}

/* Drops every link of n (w->lock held). */
static void unlink_all(struct watch *w, struct node *n)
{
	while (n->wlinks) {
		struct wlink *l = n->wlinks;
		n->wlinks = l->next_of_node;
		struct wdir *d = l->dir;
		for (struct wlink **p = &d->links; *p; p = &(*p)->next_of_dir) {
			if (*p == l) {
				*p = l->next_of_dir;
				break;
			}
		}
		free(l);
		if (!d->links)
			drop_dir(w, d);
	}
}

void watch_node_freed(struct node *n, void *arg)
{
	struct pe_fs *fs = arg;
	struct watch *w = fs->watch;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	unlink_all(w, n);
	pthread_mutex_unlock(&w->lock);
}

/* The directory path of area (or, with area 0, of the layer) in stack entry
 * i, or its nearest existing ancestor (*pending set): O_PATH, or -errno. */
static int nearest_dir(struct pe_fs *fs, size_t i, int area, unsigned layer, const char *path, int *pending)
{
	cleanup_free char *p = pe_xstrdup(path);
	*pending = 0;
	for (;;) {
		int fd = area ? layer_dir(fs, i, area, p)
			      : *p ? openat_beneath(fs->layers[layer].fd, p, O_PATH | O_DIRECTORY)
				   : fcntl(fs->layers[layer].fd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0 || !*p)
			return fd >= 0 ? fd : area ? fd : -errno;
		char *slash = strrchr(p, '/');
		if (slash)
			*slash = '\0';
		else
			*p = '\0';
		*pending = 1;
	}
}

/* A view directory that takes the env's names (bin, local/lib, ...): its
 * writable source's directory in each layer that has it, or where it would
 * come (w->lock held). One without is made of the base: never changes. */
static void link_vdir(struct watch *w, struct node *vn)
{
	struct pe_fs *fs = w->fs;
	const struct view_source *ws = view_writable_source(vn->vdir);
	unlink_all(w, vn);
	vn->watched = 0;
	if (!ws)
		return;
	int area = stack_area_of(fs, ws->layer);
	int all = 1;
	for (size_t i = 0; i < (area ? fs->nstack : 1); i++) {
		unsigned layer = area ? stack_area_layer(fs, i, area) : ws->layer;
		if (layer == STACK_NONE)
			continue;
		if (layer >= fs->nlayers || w->kind[layer] == KIND_NONE) {
			all = 0;
			continue;
		}
		if (w->kind[layer] == KIND_IMMUTABLE)
			continue;
		int pending;
		int fd = nearest_dir(fs, i, area, layer, ws->path, &pending);
		if (fd < 0 || link_dir(w, vn, fd, layer, 0, pending) < 0)
			all = 0;
		if (fd >= 0)
			close(fd);
	}
	vn->watched = (unsigned char)all;
}

int watch_covers(const struct pe_fs *fs, const struct node *n)
{
	if (!fs->watch)
		return 0;
	if (n->watched)
		return 1;
	/* Nothing to watch on a read-only file system. */
	return n->kind == NODE_PASS && n->layer < fs->nlayers && fs->watch->kind[n->layer] == KIND_IMMUTABLE;
}

/* ---- what the daemon did itself --------------------------------------------- */

static size_t own_slot(dev_t ddev, ino_t dino, const char *name)
{
	uint64_t h = pe_hash(name) ^ ((uint64_t)dino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ddev;
	return (size_t)(h % OWN_SLOTS);
}

/* What name in dfd is now: 1 present (dev, ino set), 0 absent, -1 unknown. */
static int name_state(int dfd, const char *name, dev_t *dev, ino_t *ino)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*dev = st.st_dev;
		*ino = st.st_ino;
		return 1;
	}
	return errno == ENOENT ? 0 : -1;
}

void watch_own_change(struct pe_fs *fs, int dfd, const char *name)
{
	struct watch *w = fs->watch;
	struct stat d;
	if (!w || fstat(dfd, &d))
		return;
	struct own o = { d.st_dev, d.st_ino, NULL, 0, 0, 0 };
	o.present = name_state(dfd, name, &o.dev, &o.ino);
	if (o.present < 0)
		return;
	o.name = pe_xstrdup(name);
	pthread_mutex_lock(&w->lock);
	struct own *s = &w->own[own_slot(o.ddev, o.dino, name)];
	free(s->name);
	*s = o;
	pthread_mutex_unlock(&w->lock);
}

/* Whether the event for name in d is one the kernel knows of already: the
 * daemon made the change, and the name is still what the kernel was told.
 * The record is used up either way (w->lock held). */
static int own_and_unchanged(struct watch *w, struct wdir *d, const char *name)
{
	struct own *s = &w->own[own_slot(d->dev, d->ino, name)];
	if (!s->name || s->ddev != d->dev || s->dino != d->ino || strcmp(s->name, name) != 0)
		return 0;
	dev_t dev = 0;
	ino_t ino = 0;
	int now = name_state(d->fd, name, &dev, &ino);
	int same = now == s->present && (!now || (dev == s->dev && ino == s->ino));
	free(s->name);
	s->name = NULL;
	return same;
}

/* ---- events ------------------------------------------------------------------ */

/* What one batch of events makes the kernel forget: nodes held by a
 * reference (so that their ids stay theirs) until it is sent. References
 * are dropped after w->lock is let go: a node freed then runs its hook,
 * which takes it. */
struct batch {
	struct item { struct node *node; char *name; } *items;  /* name NULL: the inode */
	size_t n, cap;
	struct node **extra;    /* references to drop, nothing to send */
	size_t nextra, capextra;
	int site;               /* everything below DIR's top, at every place */
	struct node *relink[64];/* view directories whose source may have come */
	size_t nrelink;
};

static void batch_drop_later(struct batch *b, struct node *n)
{
	if (b->nextra == b->capextra) {
		b->capextra = b->capextra ? b->capextra * 2 : 16;
		b->extra = realloc(b->extra, b->capextra * sizeof *b->extra);
		if (!b->extra)
			abort();
	}
	b->extra[b->nextra++] = n;
}

/* Queues name in n (NULL: n's inode), taking over the reference held on n. */
static void batch_put(struct batch *b, struct node *n, const char *name)
{
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		if (it->node == n && (name ? it->name && strcmp(it->name, name) == 0 : !it->name)) {
			batch_drop_later(b, n);
			return;
		}
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->items = realloc(b->items, b->cap * sizeof *b->items);
		if (!b->items)
			abort();
	}
	b->items[b->n++] = (struct item){ n, name ? pe_xstrdup(name) : NULL };
}

/* The same for a node linked to a watched directory (w->lock held): it may
 * be on its way out (its free hook waits for the lock), so it is taken only
 * while the table still has it. */
static void batch_add(struct watch *w, struct batch *b, struct node *n, const char *name)
{
	if (n->kind != NODE_PASS) {
		batch_put(b, n, name);          /* the view's: lives as long as the mount */
		return;
	}
	struct node *live = node_find_ref(w->fs->nodes, n->dev, n->ino, n->place);
	if (live)
		batch_put(b, live, name);
}

static void batch_send(struct watch *w, struct batch *b)
{
	struct pe_fs *fs = w->fs;
	size_t sent = 0;
	if (b->site) {
		for (size_t i = 0; i < w->nanchors; i++) {
			const char *name = w->anchors[i].name;
			fuse_lowlevel_notify_inval_entry(w->se, fs_ino(fs, &fs->vnodes[w->anchors[i].vdir]), name,
							 strlen(name));
			sent++;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		struct node *n = b->items[i].node;
		uint64_t ino = fs_ino(fs, n);
		if (b->items[i].name)
			fuse_lowlevel_notify_inval_entry(w->se, ino, b->items[i].name, strlen(b->items[i].name));
		else
			fuse_lowlevel_notify_inval_inode(w->se, ino, 0, 0);
		free(b->items[i].name);
		if (n->kind == NODE_PASS)
			node_forget(fs->nodes, n, 1);
		sent++;
	}
	for (size_t i = 0; i < b->nextra; i++)
		if (b->extra[i]->kind == NODE_PASS)
			node_forget(fs->nodes, b->extra[i], 1);
	b->n = b->nextra = 0;
	b->site = 0;
	__atomic_fetch_add(&w->ninvals, sent, __ATOMIC_RELAXED);
}

/* The view directory at path, or NULL. */
static const struct vdir *vdir_at(const struct view *v, const char *path)
{
	for (size_t i = 0; i < v->ndirs; i++)
		if (strcmp(v->dirs[i]->path, path) == 0)
			return v->dirs[i];
	return NULL;
}

/* Everything the kernel keeps of view directory vn and below it: its entry
 * in its parent (the kernel drops what it cached below with it), its
 * listing; and its watches taken again (w->lock held). */
static void vdir_whole(struct watch *w, struct batch *b, struct node *vn)
{
	struct pe_fs *fs = w->fs;
	const char *path = vn->vdir->path;
	if (*path) {
		const char *slash = strrchr(path, '/');
		cleanup_free char *parent = slash ? strndup(path, (size_t)(slash - path)) : pe_xstrdup("");
		const struct vdir *pd = parent ? vdir_at(&fs->view, parent) : NULL;
		if (pd)
			batch_put(b, &fs->vnodes[pd->id], slash ? slash + 1 : path);
	}
	batch_put(b, vn, NULL);
	for (size_t i = 0; i < b->nrelink; i++)
		if (b->relink[i] == vn)
			return;
	if (b->nrelink < sizeof b->relink / sizeof b->relink[0])
		b->relink[b->nrelink++] = vn;
}

/* One event (w->lock held). */
static void on_event(struct watch *w, const struct inotify_event *ev, struct batch *b)
{
	struct pe_fs *fs = w->fs;
	struct wdir *d = *slot_of(w, ev->wd);
	if (!d)
		return;
	const char *name = ev->len ? ev->name : NULL;
	if (ev->mask & (IN_IGNORED | IN_UNMOUNT)) {
		/* The directory is gone: what showed it keeps the timeouts now. */
		struct wdir **p = slot_of(w, d->wd);
		*p = d->next;
		d->wd = -1;
		for (struct wlink *l = d->links; l; l = l->next_of_dir) {
			l->node->watched = 0;
			if (l->node->kind == NODE_VIEW)
				vdir_whole(w, b, l->node);
			else
				batch_add(w, b, l->node, NULL);
		}
		return;
	}
	int names = name && (ev->mask & NAMESPACE_EVENTS);
	/* What the union keeps of the backing directories (stack.h) is compared
	 * with them again: a lower layer's parts, times, kept listings and the
	 * distribution index's reads; DIR's directories found again, the
	 * view's sources looked up again, DIR's top read again by the index. */
	if (d->layer < fs->nlayers && fs->layers[d->layer].lower)
		__atomic_add_fetch(&fs->lower_gen, 1, __ATOMIC_RELEASE);
	else if (names)
		__atomic_add_fetch(&fs->stack_gen, 1, __ATOMIC_RELEASE);
	if (names)
		__atomic_add_fetch(&fs->dirs_gen, 1, __ATOMIC_RELEASE);
	if (d->meta)
		__atomic_add_fetch(&fs->site_gen, 1, __ATOMIC_RELEASE);
	/* The distribution index (with --lower-site) is read from the metadata
	 * directories at a site area's top and their METADATA and RECORD: one
	 * coming, going or written may hide or show another layer's files
	 * anywhere below. Also when the daemon made the change: it has the
	 * kernel forget only the names it changed. */
	if (name && d->meta && fs->nstack > 1 && (d->meta == 1 ? names && is_meta(name) == 2 : dist_file(name)))
		b->site = 1;
	if (names && own_and_unchanged(w, d, name))
		names = 0;
	struct stat st;
	int child = name && (ev->mask & CONTENT_EVENTS) && fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (child && !S_ISDIR(st.st_mode)) {
		/* A file's pages and attributes: one node per object and layer. */
		struct node *f = node_find_ref(fs->nodes, st.st_dev, st.st_ino, NONDIR_PLACE(d->layer));
		if (f)
			batch_put(b, f, NULL);
		return;
	}
	for (struct wlink *l = d->links; l; l = l->next_of_dir) {
		struct node *n = l->node;
		if (l->pending) {
			/* Where a view directory's source may come: any name. */
			if (names || !name)
				vdir_whole(w, b, n);
			continue;
		}
		if (names) {
			if (n->area == 1 && view_reserved(name) && area_top(fs, n))
				continue;
			batch_add(w, b, n, name);
			batch_add(w, b, n, NULL);       /* its listing and times */
		} else if (child) {
			/* A directory's attributes: looked up again (its own
			 * watch, if it has one, says the same). */
			batch_add(w, b, n, name);
		} else if (!name) {
			/* The directory itself: its attributes, or its end (its
			 * parent's watch reports the name; DIR's top and a view
			 * directory's source are shown by fixed entries). */
			if (n->kind == NODE_VIEW && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)))
				vdir_whole(w, b, n);
			else
				batch_add(w, b, n, NULL);
			if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && area_top(fs, n))
				b->site = 1;
		}
	}
}

/* Events were lost (the queue overflowed): the kernel forgets everything
 * below DIR's top and the view's directories that take the env's names,
 * and every listing it keeps of a watched directory. */
static void on_overflow(struct watch *w, struct batch *b)
{
	w->noverflows++;
	b->site = 1;
	for (size_t i = 0; i < WD_BUCKETS; i++)
		for (struct wdir *d = w->by_wd[i]; d; d = d->next)
			for (struct wlink *l = d->links; l; l = l->next_of_dir)
				batch_add(w, b, l->node, NULL);
	for (size_t i = 0; i < w->fs->view.ndirs; i++)
		if (view_writable_source(w->fs->view.dirs[i]))
			vdir_whole(w, b, &w->fs->vnodes[i]);
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct batch b = { 0 };
	for (;;) {
		struct pollfd pfd[2] = { { w->ifd, POLLIN, 0 }, { w->stop_pipe[0], POLLIN, 0 } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		/* The daemon's own change raises its event before the request that
		 * made it records it (watch_own_change): let it, and let a burst of
		 * events come in, before reading. What still comes first is only
		 * sent twice. */
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		ssize_t len = read(w->ifd, buf, sizeof buf);
		if (len <= 0) {
			if (len < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			break;
		}
		pthread_mutex_lock(&w->lock);
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			w->nevents++;
			if (ev->mask & IN_Q_OVERFLOW)
				on_overflow(w, &b);
			else
				on_event(w, ev, &b);
			p += sizeof *ev + ev->len;
		}
		/* The distribution index moved: merged listings the kernel keeps. */
		for (size_t i = 0; b.site && i < WD_BUCKETS; i++)
			for (struct wdir *d = w->by_wd[i]; d; d = d->next)
				for (struct wlink *l = d->links; l; l = l->next_of_dir)
					if (l->node->area)
						batch_add(w, &b, l->node, NULL);
		for (size_t i = 0; i < b.nrelink; i++)
			link_vdir(w, b.relink[i]);
		b.nrelink = 0;
		pthread_mutex_unlock(&w->lock);
		batch_send(w, &b);
	}
	free(b.items);
	free(b.extra);
	return NULL;
}

int watch_attach(struct pe_fs *fs, struct fuse_session *se)
{
	struct watch *w = fs->watch;
	if (!w)
		return 0;
	w->se = se;
	int r = pthread_create(&w->thread, NULL, watch_thread, w);
	if (r)
		return -r;
	w->started = 1;
	return 0;
}

int watch_stop(struct pe_fs *fs)
{
	struct watch *w = fs->watch;
	if (!w)
		return 0;
	if (w->started) {
		(void)!write(w->stop_pipe[1], "x", 1);
		/* A notification may wait in the kernel for a request that nobody
		 * answers now (as inval_stop's). */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (pthread_timedjoin_np(w->thread, NULL, &until) != 0)
			return -1;
		w->started = 0;
	}
	/* The nodes still known keep their links until the table is freed:
	 * from now on nothing is watched. */
	node_table_on_free(fs->nodes, NULL, NULL);
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < WD_BUCKETS; i++) {
		while (w->by_wd[i]) {
			struct wdir *d = w->by_wd[i];
			for (struct wlink *l = d->links, *next; l; l = next) {
				next = l->next_of_dir;
				l->node->wlinks = NULL;
				l->node->watched = 0;
				free(l);
			}
			d->links = NULL;
			drop_dir(w, d);
		}
	}
	for (size_t i = 0; i < OWN_SLOTS; i++)
		free(w->own[i].name);
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_destroy(&w->lock);
	close(w->ifd);
	close(w->stop_pipe[0]);
	close(w->stop_pipe[1]);
	free(w->kind);
	free(w);
	fs->watch = NULL;
	return 0;
}

size_t watch_format_stats(const struct pe_fs *fs, char *buf, size_t len)
{
	struct watch *w = fs->watch;
	unsigned long long nw = 0, ne = 0, ni = 0, no = 0;
	if (w) {
		pthread_mutex_lock(&w->lock);
		nw = w->nwatches;
		ne = w->nevents;
		no = w->noverflows;
		pthread_mutex_unlock(&w->lock);
		ni = __atomic_load_n(&w->ninvals, __ATOMIC_RELAXED);
	}
	int n = snprintf(buf, len, "watching %d\nwatches %llu\nwatch_events %llu\nwatch_invals %llu\nwatch_overflows %llu\n",
			 w != NULL, nw, ne, ni, no);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len;
}
