// SPDX-License-Identifier: GPL-2.0-or-later
/* Installed distributions in stacked site layers: their names, their RECORD
 * files, and which distribution wins when several layers hold the same one
 * (docs/LAYERS.md, "A distribution wins as a whole"). Pure: the caller reads
 * the directories and files; nothing here touches the file system. */
#ifndef PYENVFS_DIST_H
#define PYENVFS_DIST_H

#include <stddef.h>

#define DIST_NAME_MAX 256       /* a directory entry's name, NUL included */

enum dist_kind { DIST_INFO, DIST_EGG_INFO };

/* What a metadata directory's name says. */
struct dist_id {
	char name[DIST_NAME_MAX];       /* as written in the entry name */
	char version[DIST_NAME_MAX];    /* "" when the name carries none (foo.egg-info) */
	enum dist_kind kind;
};

/* The PEP 503 normalized form of name: lowercase, every run of '-', '_' and
 * '.' one '-'. 0, -EINVAL for an empty name, -ENAMETOOLONG if out is short. */
int dist_normalize(const char *name, char *out, size_t outlen);

/* Parses "foo_bar-1.0.dist-info", "Foo-1.0-py3.11.egg-info", "foo.egg-info"
 * (the name is up to the first '-', as importlib.metadata reads it).
 * 0, or -EINVAL if entry is not a metadata directory's name. */
int dist_parse_entry(const char *entry, struct dist_id *id);

/* Calls fn with each path of a RECORD file (CSV: path,hash,size; a path with
 * a comma or quote is in double quotes, "" for a quote), in order. Returns 0,
 * -EINVAL for a malformed file (an unterminated quote, a NUL byte), or the
 * first non-zero value fn returns. */
int dist_record_each(const char *buf, size_t len, int (*fn)(const char *path, void *arg), void *arg);

/* The same for an egg-info's installed-files.txt: one path a line. */
int dist_lines_each(const char *buf, size_t len, int (*fn)(const char *path, void *arg), void *arg);

/* Where a file a RECORD names lives in a layer. */
enum dist_area {
	DIST_AREA_SITE,         /* below the site directory: the layer's top */
	DIST_AREA_PREFIX,       /* elsewhere below the install scheme's base:
				 * scripts, data, headers (the layer's .pyenvfs/upper) */
};
struct dist_file {
	enum dist_area area;
	char *path;             /* normalized, relative to the area, never "" */
};

/* Resolves path (relative to the directory holding the metadata directory:
 * "foo/__init__.py", "../../../bin/foo"; for installed-files.txt pass the
 * egg-info's name as from, since its paths are relative to it) against
 * site_rel, the site directory relative to the scheme's base
 * ("lib/python3.11/site-packages"). Fills f (f->path malloc'ed). 0, or
 * -EINVAL for an absolute path, one that leaves the base, or names a
 * directory of site_rel itself (nothing a layer could hide). */
int dist_resolve(const char *site_rel, const char *from, const char *path, struct dist_file *f);

/* One installed distribution of a layer. */
struct dist {
	char *entry;            /* its metadata directory in the layer's top */
	char *key;              /* the normalized name */
	struct dist_file *files;        /* from its RECORD, resolved */
	size_t nfiles;
};

/* One layer's distributions, and the ones it removes from the layers under
 * it. The rule allows for removals; the mount records none (distindex.c: a
 * whiteout of a metadata directory does not remove the distribution, since
 * pip's uninstall removes the metadata directory before the package's own
 * files, which must stay shown until then; each file has its whiteout). */
struct dist_layer {
	struct dist *dists;
	size_t ndists;
	char **removed;         /* normalized names */
	size_t nremoved;
};

/* Adds the distribution whose metadata directory is entry; its index in
 * *index. 0, or -EINVAL if entry is not a metadata directory's name. */
int dist_layer_add(struct dist_layer *l, const char *entry, size_t *index);
/* Records that l whites out the metadata directory entry. 0 or -EINVAL. */
int dist_layer_remove(struct dist_layer *l, const char *entry);
/* Adds a RECORD's (or installed-files.txt's) content to distribution i of l.
 * 0 or -EINVAL (a malformed file: nothing added). Unresolvable paths are
 * skipped: they name nothing a layer holds. */
int dist_layer_add_record(struct dist_layer *l, size_t i, const char *site_rel, const char *buf, size_t len);
/* For metadata that lists no files (an .egg-info without installed-files.txt,
 * as Debian's packages install them): what pip's own uninstall removes then,
 * from top_level.txt (one name a line): each NAME, NAME.py, NAME.pyc and
 * NAME.pyo of the site directory, but for the names namespace_packages.txt
 * (ns, may be NULL) lists. 0 or -EINVAL (a NUL byte). */
int dist_layer_add_top_level(struct dist_layer *l, size_t i, const char *buf, size_t len, const char *ns,
			     size_t nslen);
void dist_layer_free(struct dist_layer *l);

/* The layer (0 is the top) whose instance of distribution key wins, i.e. the
 * first holding it; -1 if none does or a higher layer removed it. */
long dist_winner(const struct dist_layer *layers, size_t n, const char *key);
/* 1 if distribution i of layers[layer] loses to a higher layer (or was removed). */
int dist_shadowed(const struct dist_layer *layers, size_t n, size_t layer, size_t i);
/* 1 if layers[layer] holds a shadowed distribution: only then are its RECORD
 * files needed (all of them: a file a winning one shares stays shown). */
int dist_layer_needs_records(const struct dist_layer *layers, size_t n, size_t layer);

/* What the shadowed distributions take out of each layer's contribution to
 * the view: their metadata directories, every file their RECORD lists, and
 * in the site area the directories those files are in, except what a
 * distribution of the same layer that is not shadowed lists too. */
struct dist_shadow {
	size_t nlayers;
	struct dist_file **hidden;      /* per layer, sorted by (area, path) */
	size_t *nhidden;
};

void dist_shadow_build(const struct dist_layer *layers, size_t n, struct dist_shadow *s);
/* 1 if path (in area) of layers[layer] is hidden by the rule above. */
int dist_shadow_hides(const struct dist_shadow *s, size_t layer, enum dist_area area, const char *path);
void dist_shadow_free(struct dist_shadow *s);
/* 1 if a and b hide the same paths of layer (a listing kept over a's view
 * of that layer holds with b's). */
int dist_shadow_same(const struct dist_shadow *a, const struct dist_shadow *b, size_t layer);

#endif
