// SPDX-License-Identifier: GPL-2.0-or-later
/* The inode table: one node per object the kernel knows, found by
 * (device, inode, place). "place" keeps one backing directory shown at two
 * paths of the view (DIR under site-packages and under local/.../dist-packages)
 * as two nodes: the kernel allows one dentry per directory inode. */
#ifndef PYENVFS_NODE_H
#define PYENVFS_NODE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct vdir;
struct shebang_edit;
struct wlink;
struct stack;

enum node_kind {
	NODE_VIEW,              /* a directory of the view; lives as long as the mount */
	NODE_GEN,               /* a generated file; likewise */
	NODE_PASS,              /* a backing object, held by an O_PATH descriptor */
};

struct node {
	enum node_kind kind;
	int fd;                 /* NODE_PASS: O_PATH descriptor; replaced in place
				 * (dup3) when a copy-up makes the object DIR's */
	dev_t dev;
	ino_t ino;
	uint64_t place;
	uint64_t nlookup;       /* NODE_PASS: the kernel's references */
	const struct vdir *vdir;/* NODE_VIEW */
	int gen;                /* NODE_GEN */
	/* NODE_PASS: index in the fs's layers, and whether the env may change
	 * it. A copy-up (or DIR's part appearing) changes both while other
	 * requests read them: atomic. */
	_Atomic unsigned layer;
	_Atomic unsigned char writable;
	unsigned char area;     /* NODE_PASS in one of DIR's areas: 1 the site
				 * area, 2 the upper area; 0 elsewhere */
	mode_t type;            /* NODE_PASS: S_IFMT bits */
	/* NODE_PASS in one of DIR's areas (the union, stack.h): a directory's
	 * own merged stack, a non-directory's parent's with its name there.
	 * Both are replaced whole, under lock, at each lookup; a reader takes
	 * its own reference (node_stack). */
	pthread_mutex_t lock;
	struct stack *stk;
	char *name;
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
	uint64_t place;         /* where its subtree is shown (see view_source_place) */
	unsigned layer;         /* index in the fs's layers */
	unsigned char writable; /* the env may change it */
	unsigned char area;     /* in one of DIR's areas (1, 2), or 0 */
};

struct node_table;

struct node_table *node_table_new(void);
/* get and put take and drop a reference to a stack (the union's, stack.h:
 * the table is below it); a node's is dropped when it is freed. Set before
 * any node has a stack. */
void node_table_set_stacks(struct node_table *t, void (*get)(struct stack *), void (*put)(struct stack *));
void node_table_free(struct node_table *t);

/* The node for st at o->place, with one more lookup. fd (O_PATH, for st)
 * is kept by a new node and closed if the node existed already. */
struct node *node_get(struct node_table *t, int fd, const struct stat *st, const struct origin *o);

/* n's stack and name (either may be NULL), with a reference to the stack
 * that the caller drops (stack_put); name copied into buf (len bytes). */
struct stack *node_stack(struct node_table *t, struct node *n, char *buf, size_t len);
/* Gives n the stack stk (the node takes the caller's reference) and name,
 * dropping the old ones. */
void node_set_stack(struct node_table *t, struct node *n, struct stack *stk, const char *name);

/* The node for (dev, ino, place) if the kernel knows it, with one more
 * reference (of a NODE_PASS node) that the caller drops with
 * node_forget(t, node, 1); NULL if the kernel does not know it. */
struct node *node_find_ref(struct node_table *t, dev_t dev, ino_t ino, uint64_t place);

/* One more reference to a node the caller knows is alive (NODE_PASS only;
 * other kinds live as long as the mount). */
void node_ref(struct node_table *t, struct node *node);

/* Drops n lookups; the node is freed (and its fd closed) at zero. */
void node_forget(struct node_table *t, struct node *node, uint64_t n);
/* Gives node the key (dev, ino, place), keeping its id: a file copied up is
 * found by the copy's key from then on. -EEXIST (and no change) if another
 * node has that key. */
int node_rekey(struct node_table *t, struct node *node, dev_t dev, ino_t ino, uint64_t place);

/* fn(node, arg) is called for each node before it is freed (NULL: none). */
void node_table_on_free(struct node_table *t, void (*fn)(struct node *, void *), void *arg);

/* Nodes currently in the table (for tests and statistics). */
size_t node_count(struct node_table *t);

#endif
