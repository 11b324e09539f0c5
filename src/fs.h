// SPDX-License-Identifier: GPL-2.0-or-later
/* The mounted file system's state: the view, its layers on disk, the node
 * table. Shared by resolve, inval and ops; built by main, freed by fs_destroy. */
#ifndef PYENVFS_FS_H
#define PYENVFS_FS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "node.h"
#include "view.h"

/* One directory tree the view shows objects from. The view names a layer by
 * its index in pe_fs.layers (enum view_layer for the three it builds: BASE,
 * DIR, DIR's upper area; the lower site layers' follow); what differs
 * between layers is a field here. The indexes are compared where a place
 * is one of those three by its nature: view.c and main.c, which build them,
 * stack_area_of (DIR's two areas are the union's), bytecode.c (the base's
 * directories, DIR's redirect area) and resolve_list (a base directory's
 * redirected bytecode). */
struct layer {
	const char *name;       /* for messages and debugging: "BASE", "DIR", ... */
	int fd;                 /* O_PATH descriptor of its root; owned by pe_fs */
	double timeout;         /* how long the kernel caches its entries and attributes */
	unsigned writable : 1;  /* the env may change it (DIR, the env's area) */
	unsigned follow : 1;    /* the view's anchors into it follow symlinks (bin/python
				 * shows the base's interpreter); names below an anchor
				 * or in a source never do */
	unsigned make_dirs : 1; /* a directory the view expects in it is made when missing */
	unsigned stable : 1;    /* never changes under the mount: the view's source
				 * directories in it are opened once, at start-up */
	unsigned lower : 1;     /* an area of a lower site layer: its owner's objects
				 * are shown as DIR's owner's (ownership.h) */
	uid_t owner;            /* lower: the owner of the layer's top directory */
};

struct inval_queue;
struct watch;
struct dist_index;
struct bytecode;
struct stack;

/* One layer of DIR's stacked areas: [0] is DIR, then L1..Ln (--lower-site). */
struct stack_layer {
	unsigned site;          /* index in layers of its site area (its top) */
	unsigned upper;         /* of its upper area, or STACK_NONE */
	int top;                /* its top directory, whose records it reads, or -1 (a target layer) */
	unsigned target : 1;    /* a `pip install --target` directory: its top-level
				 * bin, share, include, etc are its upper area */
};
#define STACK_NONE 0xffffu

struct pe_fs {
	struct view view;
	struct layer *layers;           /* by enum view_layer */
	size_t nlayers;
	unsigned home_layer;            /* DIR: whose file system statfs reports for the view's own objects */
	double fixed_timeout;           /* the kernel's cache timeout for what the view itself makes */
	struct node_table *nodes;
	struct node *vnodes;            /* one per view directory, by vdir id; [0] is the root */
	struct node gnodes[GEN_COUNT];  /* one per generated file */
	char *gen[GEN_COUNT];
	size_t gen_len[GEN_COUNT];
	int *src_fd;                    /* sources in stable layers: [vdir id * VIEW_MAX_SOURCES + i], or -1 */
	uid_t owner;                    /* of the view's own directories: DIR's owner */
	gid_t group;
	struct timespec started;
	int daemon_is_root;
	int no_opendir;                 /* the kernel opens directories itself */
	int want_no_open;               /* -o no_open */
	int no_open;                    /* ... and the kernel can: files too */
	struct inval_queue *inval;      /* what the kernel must forget, sent after the reply */
	struct watch *watch;            /* change notifications (watch.h), or NULL */
	struct stack_layer *stack;      /* DIR, then L1, ... Ln (--lower-site) */
	size_t nstack;
	int tmp_fd;                     /* DIR/.pyenvfs/tmp: copy-up temporaries (with layers), or -1 */
	/* The union's state (stack.c): each area's top, the view sources'
	 * merged directories, and a count that moves when a directory or a
	 * records node appears in DIR (stacks that lacked it look again). */
	struct stack *area_top[2];
	struct stack **src_stack;       /* [vdir id * VIEW_MAX_SOURCES + i], made on first use */
	double *src_built;              /* when each was made (CLOCK_MONOTONIC seconds) */
	unsigned *src_dirs;             /* and fs->dirs_gen then */
	pthread_mutex_t src_lock;       /* guards both */
	unsigned stack_gen;             /* atomic */
	unsigned dirs_gen;              /* atomic: moves when a directory of DIR's areas is
					 * removed or renamed through the mount (the view's
					 * sources are looked up again) */
	unsigned site_gen;              /* atomic: moves at each change through the mount of what
					 * the distribution index reads (the site area's top and
					 * its metadata directories), and at each the watch sees
					 * made there outside it */
	unsigned lower_gen;             /* atomic: moves when the watch (watch.h) sees a lower
					 * layer change: what the union keeps of the layers
					 * (their parts' times, kept listings, the distribution
					 * index's reads) is compared with them again at once,
					 * not only after lower_timeout */
	const char *mountpoint;         /* for the console scripts' first lines (script.h) */
	char **own_roots;               /* the mount points DIR was mounted at before (script.h) */
	size_t nown_roots;
	char *site_rel;                 /* the site directory relative to the prefix, for RECORDs */
	struct dist_index *dist;        /* which distributions the layers shadow (distindex.c) */
	struct bytecode *pyc;           /* the base's bytecode redirect (bytecode.c), or NULL */
};

/* Adds a layer (its root descriptor is then the fs's); returns its index. */
unsigned fs_add_layer(struct pe_fs *fs, const struct layer *l);
/* Opens the stable layers' sources and makes the view's nodes. 0 or -errno. */
int fs_init(struct pe_fs *fs);
void fs_destroy(struct pe_fs *fs);

/* The inode number the kernel knows n by (FUSE_ROOT_ID is 1 for the root). */
static inline uint64_t fs_ino(const struct pe_fs *fs, const struct node *n)
{
	return n == &fs->vnodes[0] ? 1 : (uint64_t)(uintptr_t)n;
}

static inline struct node *fs_node(struct pe_fs *fs, uint64_t ino)
{
	return ino == 1 ? &fs->vnodes[0] : (struct node *)(uintptr_t)ino;
}

#endif
