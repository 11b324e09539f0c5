// SPDX-License-Identifier: GPL-2.0-or-later
/* The inode table: one node per object the kernel knows, found by
 * (device, inode, place). "place" keeps one backing directory shown at two
 * paths of the view (DIR under site-packages and under local/.../dist-packages)
 * as two nodes: the kernel allows one dentry per directory inode. */
#ifndef PYENVFS_NODE_H
#define PYENVFS_NODE_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct vdir;
struct shebang_edit;
struct wlink;

enum node_kind {
	NODE_VIEW,              /* a directory of the view; lives as long as the mount */
	NODE_GEN,               /* a generated file; likewise */
	NODE_PASS,              /* a backing object, held by an O_PATH descriptor */
};

struct node {
	enum node_kind kind;
	int fd;                 /* NODE_PASS: O_PATH descriptor */
	dev_t dev;
	ino_t ino;
	unsigned place;
	uint64_t nlookup;       /* NODE_PASS: the kernel's references */
	const struct vdir *vdir;/* NODE_VIEW */
	int gen;                /* NODE_GEN */
	unsigned char layer;    /* NODE_PASS: index in the fs's layers */
	unsigned char writable;
	unsigned char site_root;/* DIR's top directory */
	mode_t type;            /* NODE_PASS: S_IFMT bits */
	/* NODE_PASS in a stacked area (with --lower-site): which area (1 the
	 * site area, 2 the upper area; 0: not stacked) and its path in the
	 * area when it was looked up ("" for the area's top). */
	unsigned char area;
	char *rel;
	/* A layer's console script: its first line as this env shows it
	 * (shebang.h), while the node is the layer's (not writable). */
	struct shebang_edit *sb;
	/* NODE_PASS, for requests without a handle (-o no_open): opened on first
	 * use, or -1.  io_fd (O_RDONLY) for reading, io_wfd (O_WRONLY) for writing. */
	int io_fd;
	int io_wfd;
	/* Change notifications (watch.h): the watched directories a directory
	 * node shows (the watch module's, under its lock), and whether what the
	 * kernel caches of the node is kept coherent by them (a directory: all
	 * its backing directories watched; a file: looked up in such a one). */
	struct wlink *wlinks;
	unsigned char watched;
	struct node *next;      /* hash chain */
};

/* Where a backing object is shown from: what a new node records of it. */
struct origin {
	unsigned place;         /* where its subtree is shown (see view_source_place) */
	unsigned char layer;    /* index in the fs's layers */
	unsigned char writable; /* the env may change it */
	unsigned char site_root;/* it is DIR's top directory */
	unsigned char area;     /* stacked: 1 site area, 2 upper area, else 0 */
	const char *rel;        /* stacked: its path in the area (copied) */
};

struct node_table;

struct node_table *node_table_new(void);
void node_table_free(struct node_table *t);

/* The node for st at o->place, with one more lookup. fd (O_PATH, for st)
 * is kept by a new node and closed if the node existed already. */
struct node *node_get(struct node_table *t, int fd, const struct stat *st, const struct origin *o);

/* A stacked node's object shows at another area path now (a layer's
 * directory renamed by its owner): n->rel becomes rel. The old string stays
 * valid until the table is freed. */
void node_set_rel(struct node_table *t, struct node *n, const char *rel);

/* The node for (dev, ino, place) if the kernel knows it, with one more
 * reference (of a NODE_PASS node) that the caller drops with
 * node_forget(t, node, 1); NULL if the kernel does not know it. */
struct node *node_find_ref(struct node_table *t, dev_t dev, ino_t ino, unsigned place);

/* One more reference to a node the caller knows is alive (NODE_PASS only;
 * other kinds live as long as the mount). */
void node_ref(struct node_table *t, struct node *node);

/* Drops n lookups; the node is freed (and its fd closed) at zero. */
void node_forget(struct node_table *t, struct node *node, uint64_t n);
/* Gives node the key (dev, ino, place), keeping its id: a file copied up is
 * found by the copy's key from then on. -EEXIST (and no change) if another
 * node has that key. */
int node_rekey(struct node_table *t, struct node *node, dev_t dev, ino_t ino, unsigned place);

/* fn(node, arg) is called for each node before it is freed (NULL: none). */
void node_table_on_free(struct node_table *t, void (*fn)(struct node *, void *), void *arg);

/* Nodes currently in the table (for tests and statistics). */
size_t node_count(struct node_table *t);

#endif
