// SPDX-License-Identifier: GPL-2.0-or-later
/* The union of DIR's areas and the lower site layers (docs/LAYERS.md):
 * private to the union's modules (resolve, stack, lookup, listing, upper,
 * dirops, script, distindex, inval).
 *
 * DIR's two areas (1: the site area, DIR's top; 2: the upper area,
 * DIR/.pyenvfs/upper) are each the top of a stack: DIR's, then each
 * --lower-site layer's; without any layer, a stack of one. A directory of an
 * area is a struct stack: the layers that hold it, in order, down to where
 * the merge stops (an opaque directory, a whiteout, a non-directory above),
 * each with its directory's descriptor and, where that layer keeps whiteout
 * records below it, its records node's. It is derived from its parent's at
 * lookup (stack_child), as overlayfs keeps a lower stack per dentry: a
 * lookup probes only the layers the parent holds, once per component.
 *
 * A stack is shared and counted (stack_get, stack_put). What changes in it
 * while others read it: DIR's part, which a copy-up or a new whiteout in DIR
 * may make appear (looked for again when fs->stack_gen moves: stack_dir0),
 * its kept times and its kept listing (listing.c); under its lock, and a
 * replaced descriptor stays open until the stack is freed. */
#ifndef PYENVFS_STACK_H
#define PYENVFS_STACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"

/* Node places of the union: a merged directory's is its view place with
 * this bit; a non-directory's is its layer's (one node per layer, wherever
 * it shows), with a hash of its name for a layer's file of several links. */
#define STACK_DIR_PLACE (1ull << 30)
#define NONDIR_PLACE(layer) ((1ull << 63) | ((uint64_t)(layer) << 32))
#define NONDIR_LINK(hash) (((uint64_t)(hash) & 0xfffffu) << 8)

/* The layers' part of one merged directory. */
struct stack_part {
	unsigned idx;           /* the layer: index in fs->stack (0 is DIR) */
	int fd;                 /* O_PATH of its directory, or -1 (its records only) */
	int rec;                /* O_PATH of its records node for the directory, or -1 */
};

struct stack {
	int refs;               /* atomic */
	int area;               /* 1 the site area, 2 the upper area */
	char *rel;              /* the directory's path in the area ("" the top) */
	struct stack *parent;   /* a reference; NULL at the area's top */
	dev_t key_dev;          /* the node key of the directory: its lowest */
	ino_t key_ino;          /* part's (a copy-up into DIR keeps the node); set
				 * once, when a directory shown nowhere is made */
	size_t nlower;          /* parts of lower layers holding the directory */
	pthread_mutex_t lock;
	unsigned gen;           /* fs->stack_gen when DIR's part was last looked for (atomic) */
	int recsub;             /* DIR's records node's sub directory, once a whiteout
				 * was written through this stack (atomic), or -1 */
	int *old;               /* DIR's records nodes replaced: closed when freed */
	size_t nold;
	/* The newest times of the lower parts, read at most every lower_timeout. */
	struct timespec lower_mtime, lower_ctime;
	double lower_read;      /* CLOCK_MONOTONIC seconds, 0 before */
	unsigned lower_gen;     /* fs->lower_gen then */
	/* The kept listing of the lower parts (listing.c's), freed with it. */
	void *index;
	void (*index_free)(void *);
	size_t n;
	struct stack_part parts[]; /* parts[0] is DIR's (idx 0), then lower ones by idx */
};

/* Monotonic seconds, for the kept parts' ages. */
double stack_now(void);
/* How long what the daemon keeps of the lower layers (their parts' times,
 * kept listings, the distribution index's view of their tops) holds before
 * it is compared with them again: -o lower_timeout, and at least 20 ms (a
 * directory's times move in clock ticks; within one, comparing tells
 * nothing more). */
#define STACK_RECHECK_MIN 0.02
/* From this many lower parts on, a directory's lookups ask its kept listing
 * (lookup.c) and its times are the ones stack_times keeps; below it, both
 * are read from the parts at each use. */
#define STACK_MANY_PARTS 8
double stack_lower_timeout(const struct pe_fs *fs);
/* Whether what was compared with the lower layers at `checked` (with
 * fs->lower_gen at gen) must be compared again now: lower_timeout passed,
 * or the watch saw a lower layer change since. */
int stack_lower_due(const struct pe_fs *fs, double checked, unsigned gen, double now);

/* The areas' tops and the counters: at start-up, after the layers are set
 * (fs->stack). 0 or -errno. stack_fini drops what stack_init made. */
int stack_init(struct pe_fs *fs);
void stack_fini(struct pe_fs *fs);

void stack_get(struct stack *s);
void stack_put(struct stack *s);

/* A new stack for the directory rel of area with room for n parts (the
 * caller fills them and n), and a reference to parent. */
struct stack *stack_new(int area, const char *rel, struct stack *parent, size_t n);
/* Its key and nlower, once the parts are in (key: the lowest part's
 * attributes if the caller has them, else NULL). */
void stack_done(struct stack *s, const struct stat *key);
/* Its key (atomic: a stack made before its directory gets one later). */
void stack_key(const struct stack *s, dev_t *dev, ino_t *ino);

/* The area (1 or 2) a view layer stacks, or 0 (BASE). */
int stack_area_of(const struct pe_fs *fs, unsigned layer);
/* The layer of fs->layers holding area for stack entry idx (STACK_NONE: none). */
unsigned stack_area_layer(const struct pe_fs *fs, size_t idx, int area);
/* Whether stack entry idx shows name in the area directory rel at all: the
 * reserved name at a site top never; a target layer's top-level bin, share,
 * include and etc are its upper area, and only they. */
int stack_area_shows(const struct pe_fs *fs, size_t idx, int area, const char *rel, const char *name);
/* The whiteout area of an area. */
int stack_wh_area(int area);
/* The layer DIR's part of an area is in, and whether the env may write it. */
unsigned stack_dir_layer(const struct pe_fs *fs, int area);
int stack_writable(const struct pe_fs *fs, int area);

/* DIR's part of s now (O_PATH, borrowed while s is held), or -1: looked for
 * again, with its records node, when fs->stack_gen moved since. (One made
 * in DIR directly is found when the kernel looks the directory up again,
 * after its timeout: its stack is derived anew from its parent's.) */
int stack_dir0(struct pe_fs *fs, struct stack *s);
/* DIR's records node of s (after stack_dir0), borrowed, or -1. */
int stack_rec0(struct stack *s);
/* The sub directory of DIR's records node of s, opened (made) once and kept
 * (borrowed), or -errno; -ENOENT if s has no records node. */
int stack_recsub(struct pe_fs *fs, struct stack *s);
/* A directory or records node appeared in DIR: stacks lacking one look again. */
void stack_bump(struct pe_fs *fs);
/* s's DIR part is now fd (the caller's, kept by s) unless it has one: the
 * one s keeps, borrowed. */
int stack_set_dir0(struct pe_fs *fs, struct stack *s, int fd);

/* How many of s's parts hold its directory (DIR's as it is now). */
size_t stack_parts_shown(struct pe_fs *fs, struct stack *s);
/* A name of s changed through the mount: if the distribution index reads
 * s (the site area's top, a metadata directory in it), fs->site_gen moves. */
void stack_changed(struct pe_fs *fs, const struct stack *s);
/* The newest mtime and ctime of s's parts into st (DIR's read now, the
 * lower ones at most every lower_timeout). */
void stack_times(struct pe_fs *fs, struct stack *s, struct stat *st);

/* What shows at a name of a merged directory (lookup.c fills it). */
struct stack_found {
	int found;
	int is_dir;
	size_t top;             /* the answering part: a position in the parent's parts */
	size_t nmerged;         /* a directory: the parts merged, top first */
	size_t *merged;         /* positions; small or malloc'ed */
	size_t small[8];
	struct stat st;         /* the answering object's */
	struct stat key;        /* the lowest merged directory's, when have_key */
	int have_key;         /* the answering object's */
};
void stack_found_init(struct stack_found *f);
void stack_found_add(struct stack_found *f, size_t pos);
void stack_found_free(struct stack_found *f);

/* The stack of the directory name in p that f found, opened part by part:
 * the merged ones, and the records nodes of every part above the lowest.
 * top_fd (or -1): the answering part's directory, opened already (its
 * attributes top_st), duplicated rather than opened again. */
struct stack *stack_child(struct pe_fs *fs, struct stack *p, const char *name, const struct stack_found *f,
			  int top_fd, const struct stat *top_st);

#endif
