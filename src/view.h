// SPDX-License-Identifier: GPL-2.0-or-later
/* The view: what each path of the mount shows. Built once from the layout,
 * then only read. Pure: no I/O here, so it is unit-tested and fuzzed alone.
 *
 * A view directory (vdir) shows, in this order of precedence:
 *   1. its fixed entries: sub-vdirs, generated files, and anchors (a base
 *      object such as bin/python3, or DIR itself at a site-packages path);
 *   2. the entries of its sources, backing directories in a layer, first
 *      source first, minus its hidden names. New names go to its one
 *      writable source, if it has one.
 * Below an anchor or a source entry everything is plain passthrough. */
#ifndef PYENVFS_VIEW_H
#define PYENVFS_VIEW_H

#include <stddef.h>

struct layout;

/* The layers every backing path is relative to: indexes into the layer
 * array the daemon builds at start-up (struct layer in fs.h), which says what
 * each one is (writable, followed, ...). The view builds with these three;
 * fs.h says where else they are compared. */
enum view_layer {
	LAYER_BASE = 0,         /* BASE: read-only, always */
	LAYER_SITE = 1,         /* DIR */
	LAYER_UPPER = 2,        /* DIR/.pyenvfs/upper: the env's files outside site-packages */
	LAYER_COUNT
};

/* The reserved name in DIR that holds the env's other state; never shown. */
#define VIEW_RESERVED ".pyenvfs"
#define VIEW_UPPER_IN_SITE ".pyenvfs/upper"

#define VIEW_MAX_SOURCES 3

enum gen_file { GEN_PYVENV_CFG = 0, GEN_ACTIVATE, GEN_ACTIVATE_FISH, GEN_ACTIVATE_CSH, GEN_COUNT };

struct view_source {
	enum view_layer layer;
	char *path;             /* relative to the layer root; "" is the root */
	const char *only;       /* NULL: every name; else only names starting with it */
	int writable;
};

enum vent_kind { VENT_DIR, VENT_ANCHOR, VENT_GEN };

struct vent {
	char *name;
	enum vent_kind kind;
	struct vdir *dir;       /* VENT_DIR */
	enum view_layer layer;  /* VENT_ANCHOR: the layer of what it shows, */
	char *path;             /*   relative to the layer root, or absolute */
	int writable;
	int site_root;          /*   it is DIR itself (the reserved name is hidden in it) */
	unsigned place;         /*   distinct per anchor: where its subtree is shown */
	enum gen_file gen;      /* VENT_GEN */
};

struct vdir {
	unsigned id;            /* index in view.dirs; 0 is the root */
	char *path;             /* its path in the mount, "" for the root */
	struct vent *ents;
	size_t nents;
	char **hidden;
	size_t nhidden;
	struct view_source src[VIEW_MAX_SOURCES];
	size_t nsrc;
};

struct view {
	struct vdir **dirs;
	size_t ndirs;
	unsigned nplaces;       /* anchors' places are 1..nplaces */
	/* Aliases: what a change through one path must make the kernel forget
	 * at another. The places where a writable directory (DIR's, the env's)
	 * may show: each writable anchor's and writable source's. */
	unsigned *alias_places;
	size_t nalias_places;
	/* The view directories whose writable source directory also shows
	 * elsewhere (bin and Debian's local/bin), by id. */
	unsigned *alias_vdirs;
	size_t nalias_vdirs;
};

struct view_input {
	const struct layout *layout;
	const char *exe;        /* the base interpreter, symlinks resolved (absolute) */
	const char *config;     /* its pythonX.Y-config, resolved, or NULL */
	int system_site;        /* show the base's site dirs, read-only, after DIR */
	int read_only;          /* nothing writable anywhere */
};

int view_build(const struct view_input *in, struct view *v, char *err, size_t len);
void view_free(struct view *v);

/* The fixed entry called name, or NULL. */
const struct vent *view_entry(const struct vdir *d, const char *name);
/* 1 if name is hidden in d (not shown from any source). */
int view_hides(const struct vdir *d, const char *name);
/* 1 if source s may show name. */
int view_source_shows(const struct view_source *s, const char *name);
/* The source that new names in d are created in, or NULL (read-only). */
const struct view_source *view_writable_source(const struct vdir *d);
/* 1 for the reserved name (hidden and refused in DIR's top directory). */
int view_reserved(const char *name);
/* The place of entries found in source i of d: distinct from every anchor's. */
unsigned view_source_place(const struct vdir *d, size_t i);

#endif
