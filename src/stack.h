// SPDX-License-Identifier: GPL-2.0-or-later
/* The stacked areas (--lower-site, docs/LAYERS.md): private to the
 * resolution modules (resolve.c, stack.c, distindex.c).
 *
 * With --lower-site, DIR's two areas (1: site-packages, 2: the env's upper
 * area) are each the top of a stack: DIR's, then each layer's, merged by
 * merge.c's rule with the whiteout records of records.c. A node there
 * records its area and its path in the area; a directory node stands for
 * the merged directory at that path and place. Layer 0 of a stack is DIR. */
#ifndef PYENVFS_STACK_H
#define PYENVFS_STACK_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "fs.h"
#include "merge.h"
#include "resolve.h"

/* The place of a non-directory: one per layer, apart from every view place
 * (bits 8-29 tell the names of a layer's file with several links apart). */
#define NONDIR_PLACE(layer) (0x80000000u | (unsigned)(layer))
/* Merged directories: apart from every other place. */
#define STACK_DIR_PLACE 0x40000000u

/* resolve.c: n's attributes as shown (write bits), and out filled for it. */
void resolve_shown(struct pe_fs *fs, struct node *n, struct stat *st, struct resolved *out);

/* The area (1 or 2) a view source's layer stacks, or 0. */
int stack_area_of(const struct pe_fs *fs, unsigned layer);
/* The layer of fs->layers holding area for stack entry i (STACK_NONE: none). */
unsigned stack_area_layer(const struct pe_fs *fs, size_t i, int area);
/* Whether stack entry i shows name in the area directory dir at all. */
int stack_area_shows(const struct pe_fs *fs, size_t i, int area, const char *dir, const char *name);
/* The directory dir of area in stack entry i (O_PATH), or -errno. */
int stack_layer_dir(struct pe_fs *fs, size_t i, int area, const char *dir);

/* Feeds stack entries from..n for name in dir into m. */
void stack_probe_from(struct pe_fs *fs, int area, const char *dir, const char *name, size_t from,
		      struct merge_state *m);
/* The same from the top: 0 if something shows, else -ENOENT. */
int stack_probe(struct pe_fs *fs, int area, const char *dir, const char *name, struct merge_state *m);
/* The node for what m found at dir/name of area, shown at place. */
int stack_node(struct pe_fs *fs, int area, const char *dir, const char *name, unsigned place,
	       const struct merge_state *m, struct resolved *out);

/* n's attributes (a stacked node): a directory made in DIR since n was
 * looked up becomes n's object; a directory's mtime and ctime are the
 * newest of its layers'. 0 or -errno. */
int stack_dir_stat(struct pe_fs *fs, struct node *n, struct stat *st);

/* Splits an area path into its directory (allocated) and last name. */
void stack_split_rel(const char *rel, char **dir, const char **name);
/* The area path of a stacked node now (buf may hold it). */
const char *stack_node_rel(struct pe_fs *fs, const struct node *n, char *buf, size_t len);

/* Where name in p is in a stack: its area, directory and place. */
struct stack_ctx {
	int area;
	const char *dir;
	unsigned place;
	char buf[PATH_MAX];
};

/* 1 with c filled if p stacks name, else 0. */
int stack_ctx(struct pe_fs *fs, struct node *p, const char *name, struct stack_ctx *c);
/* 1 with c and m filled if p stacks name and a layer shows it; 0 if p does
 * not stack it, or stacks it with nothing there but another source of a
 * view directory may answer; -ENOENT if nothing else can. */
int stack_find(struct pe_fs *fs, struct node *p, const char *name, struct stack_ctx *c, struct merge_state *m);

/* DIR's directory at the area path dir, the missing ones copied up from the
 * layers (mode, owner, times). Its descriptor (O_PATH), or -errno. */
int stack_copy_up_dirs(struct pe_fs *fs, int area, const char *dir);

/* The merged entries of the area directory rel: each(name, type, arg). */
typedef void (*stack_each_fn)(const char *name, unsigned char type, void *arg);
int stack_list(struct pe_fs *fs, int area, const char *rel, stack_each_fn each, void *arg);

#endif
