// SPDX-License-Identifier: GPL-2.0-or-later
/* Building the view from the layout, and its pure lookups. */
#include "view.h"
#include "layout.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static int add_hidden(struct vdir *d, const char *name)
{
	for (size_t i = 0; i < d->nhidden; i++)
		if (strcmp(d->hidden[i], name) == 0)
			return 0;
	char **h = realloc(d->hidden, (d->nhidden + 1) * sizeof *h);
	if (!h)
		return -1;
	d->hidden = h;
	d->hidden[d->nhidden++] = pe_xstrdup(name);
	return 0;
}

static void set_source(struct view_source *s, enum view_layer layer, const char *path,
		       const char *only, int writable)
{
	free(s->path);
	s->layer = layer;
	s->path = pe_xstrdup(path);
	s->only = only;
	s->writable = writable;
}

static struct vdir *new_dir(struct view *v, const char *path, int writable)
{
	struct vdir **dirs = realloc(v->dirs, (v->ndirs + 1) * sizeof *dirs);
	if (!dirs)
		abort();
	v->dirs = dirs;
	struct vdir *d = pe_xcalloc(1, sizeof *d);
	d->id = (unsigned)v->ndirs;
	d->path = pe_xstrdup(path);
	/* By default a directory of the view holds the env's own files. */
	set_source(&d->src[0], LAYER_UPPER, path, NULL, writable);
	d->nsrc = 1;
	v->dirs[v->ndirs++] = d;
	return d;
}

static struct vent *add_entry(struct vdir *d, const char *name, enum vent_kind kind)
{
	struct vent *e = realloc(d->ents, (d->nents + 1) * sizeof *e);
	if (!e)
		abort();
	d->ents = e;
	e = &d->ents[d->nents++];
	memset(e, 0, sizeof *e);
	e->name = pe_xstrdup(name);
	e->kind = kind;
	return e;
}

static struct vent *find_entry(const struct vdir *d, const char *name)
{
	for (size_t i = 0; i < d->nents; i++)
		if (strcmp(d->ents[i].name, name) == 0)
			return &d->ents[i];
	return NULL;
}

/* The vdir at path. With create, missing ones (and their parents) are made,
 * and NULL means an anchor or a generated file stands on the way; without,
 * NULL means there is no such vdir. */
static struct vdir *walk(struct view *v, const char *path, int create, int writable)
{
	struct vdir *d = v->dirs[0];
	const char *p = path;
	if (create && strcmp(path, ".") == 0)
		return d;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		cleanup_free char *name = strndup(p, n);
		if (!name)
			abort();
		struct vent *ent = find_entry(d, name);
		if (!ent && create) {
			cleanup_free char *sub = strndup(path, (size_t)(p - path) + n);
			if (!sub)
				abort();
			ent = add_entry(d, name, VENT_DIR);
			ent->dir = new_dir(v, sub, writable);
		}
		if (!ent || ent->kind != VENT_DIR)
			return NULL;
		d = ent->dir;
		p += n;
		while (*p == '/')
			p++;
	}
	return d;
}

static struct vdir *mkdirs(struct view *v, const char *path, int writable)
{
	return walk(v, path, 1, writable);
}

static const struct vdir *find_dir(const struct view *v, const char *path)
{
	return walk((struct view *)v, path, 0, 0);   /* without create, nothing changes */
}

/* Splits "a/b/c" into a made parent vdir and the last name. */
static struct vdir *parent_of(struct view *v, const char *path, const char **name, int writable)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*name = path;
		return v->dirs[0];
	}
	*name = slash + 1;
	cleanup_free char *dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		abort();
	return mkdirs(v, dir, writable);
}

static struct vent *add_anchor(struct view *v, const char *path, enum view_layer layer,
			       const char *target, int writable, int dirs_writable)
{
	const char *name;
	/* The directories on the way are the env's (include/ holds include/site/
	 * beside the base's headers), whatever the anchor itself is. */
	struct vdir *d = parent_of(v, path, &name, dirs_writable);
	if (!d || find_entry(d, name))
		return NULL;
	struct vent *e = add_entry(d, name, VENT_ANCHOR);
	e->layer = layer;
	e->path = pe_xstrdup(target);
	e->writable = writable;
	e->place = ++v->nplaces;
	return e;
}

static int conflict(const char *what, const char *path, char *err, size_t len)
{
	return pe_err(err, len, "the base interpreter's layout puts %s at '%s', where the view already has something else", what, path);
}

/* Whether the directory at path of the writable layer also shows at
 * another place than vdir i's source: anchored, or another vdir's source. */
static int shown_elsewhere(const struct view *v, size_t i, enum view_layer layer, const char *path)
{
	for (size_t k = 0; k < v->ndirs; k++) {
		const struct vdir *o = v->dirs[k];
		const struct view_source *os = view_writable_source(o);
		if (k != i && os && os->layer == layer && strcmp(os->path, path) == 0)
			return 1;
		for (size_t j = 0; j < o->nents; j++)
			if (o->ents[j].kind == VENT_ANCHOR && o->ents[j].layer == layer &&
			    strcmp(o->ents[j].path, path) == 0)
				return 1;
	}
	return 0;
}

static void find_aliases(struct view *v)
{
	size_t most = v->nplaces + v->ndirs * VIEW_MAX_SOURCES + 1;
	v->alias_places = pe_xcalloc(most, sizeof *v->alias_places);
	for (size_t i = 0; i < v->ndirs; i++) {
		const struct vdir *d = v->dirs[i];
		for (size_t j = 0; j < d->nents; j++)
			if (d->ents[j].kind == VENT_ANCHOR && d->ents[j].writable)
				v->alias_places[v->nalias_places++] = d->ents[j].place;
		for (size_t j = 0; j < d->nsrc; j++)
			if (d->src[j].writable)
				v->alias_places[v->nalias_places++] = view_source_place(d, j);
	}
	v->alias_vdirs = pe_xcalloc(v->ndirs + 1, sizeof *v->alias_vdirs);
	for (size_t i = 0; i < v->ndirs; i++) {
		const struct view_source *ws = view_writable_source(v->dirs[i]);
		if (ws && *ws->path && shown_elsewhere(v, i, ws->layer, ws->path))
			v->alias_vdirs[v->nalias_vdirs++] = (unsigned)i;
	}
}

/* Scripts: every scheme's scripts dir shows the same directory of the env's
 * own, so that PATH=M/bin finds what pip put in local/bin (Debian) too; in it
 * the interpreter, the activation scripts and python-config. */
static int add_scripts(struct view *v, const struct view_input *in, int rw, char *err, size_t len)
{
	const struct layout *l = in->layout;
	const char *scripts = l->scripts[0];
	struct vdir *bin = mkdirs(v, scripts, rw);
	if (!bin)
		return conflict("the scripts directory", scripts, err, len);
	set_source(&bin->src[0], LAYER_UPPER, scripts, NULL, rw);
	/* The other schemes' script dirs (Debian's local/bin) are that same
	 * directory of the env's own, anchored: pip may move or remove all of
	 * it when it uninstalls the last script. */
	for (size_t i = 1; i < l->nscripts; i++)
		if (!add_anchor(v, l->scripts[i], LAYER_UPPER, scripts, rw, rw))
			return conflict("a scripts directory", l->scripts[i], err, len);
	cleanup_free char *exe_x = pe_xasprintf("python%d", l->major);
	cleanup_free char *exe_xy = pe_xasprintf("python%s", l->xy);
	const char *const exe_names[] = { "python", exe_x, exe_xy };
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *path = pe_xasprintf("%s/%s", scripts, exe_names[i]);
		if (!add_anchor(v, path, LAYER_BASE, in->exe, 0, rw))
			return conflict("the interpreter", path, err, len);
	}
	static const struct { const char *name; enum gen_file gen; } activators[] = {
		{ "activate", GEN_ACTIVATE }, { "activate.fish", GEN_ACTIVATE_FISH }, { "activate.csh", GEN_ACTIVATE_CSH },
	};
	for (size_t i = 0; i < 3; i++) {
		struct vdir *d = mkdirs(v, scripts, rw);
		if (find_entry(d, activators[i].name))
			return conflict("an activation script", scripts, err, len);
		add_entry(d, activators[i].name, VENT_GEN)->gen = activators[i].gen;
	}
	if (in->config) {
		cleanup_free char *a = pe_xasprintf("%s/python%s-config", scripts, l->xy);
		cleanup_free char *b = pe_xasprintf("%s/python%d-config", scripts, l->major);
		if (!add_anchor(v, a, LAYER_BASE, in->config, 0, rw) || !add_anchor(v, b, LAYER_BASE, in->config, 0, rw))
			return conflict("python-config", a, err, len);
	}
	return 0;
}

/* The standard library: the base's, read-only, minus what makes it a system
 * install (its site dirs, PEP 668's marker). */
static int add_stdlib(struct view *v, const struct layout *l, int rw, char *err, size_t len)
{
	for (size_t i = 0; i < l->nstdlib; i++) {
		struct vdir *d = mkdirs(v, l->stdlib[i], rw);
		if (!d)
			return conflict("the standard library", l->stdlib[i], err, len);
		set_source(&d->src[0], LAYER_BASE, l->stdlib[i], NULL, 0);
		if (add_hidden(d, "EXTERNALLY-MANAGED"))
			abort();
	}
	return 0;
}

/* The headers: the base's, and beside them the env's own (the prefix scheme
 * installs a package's headers to include/pythonX.Y/<dist>). The base's come
 * first: the env cannot shadow Python.h. */
static int add_headers(struct view *v, const struct layout *l, int rw, char *err, size_t len)
{
	for (size_t i = 0; i < l->ninclude; i++) {
		struct vdir *d = mkdirs(v, l->include[i], rw);
		if (!d || d->nsrc != 1 || d->src[0].layer != LAYER_UPPER)
			return conflict("the headers", l->include[i], err, len);
		set_source(&d->src[1], LAYER_UPPER, l->include[i], NULL, rw);
		set_source(&d->src[0], LAYER_BASE, l->include[i], NULL, 0);
		d->nsrc = 2;
	}
	return 0;
}

/* DIR at every site path; with --system-site-packages over the base's own
 * directory at that path, which it shadows name by name. */
static int add_site(struct view *v, const struct view_input *in, int rw, char *err, size_t len)
{
	const struct layout *l = in->layout;
	for (size_t i = 0; i < l->nsite; i++) {
		if (in->system_site) {
			const char *name;
			struct vdir *p = parent_of(v, l->site[i], &name, rw);
			if (!p || find_entry(p, name))
				return conflict("site-packages", l->site[i], err, len);
			struct vdir *d = mkdirs(v, l->site[i], rw);
			set_source(&d->src[0], LAYER_SITE, "", NULL, rw);
			set_source(&d->src[1], LAYER_BASE, l->site[i], NULL, 0);
			d->nsrc = 2;
			if (add_hidden(d, VIEW_RESERVED))
				abort();
		} else {
			struct vent *e = add_anchor(v, l->site[i], LAYER_SITE, "", rw, rw);
			if (!e)
				return conflict("site-packages", l->site[i], err, len);
			e->site_root = 1;
		}
	}
	return 0;
}

/* The base's own site directories: shown read-only with
 * --system-site-packages, else hidden where the view shows their parent. */
static int add_system_site(struct view *v, const struct view_input *in, int rw, char *err, size_t len)
{
	const struct layout *l = in->layout;
	for (size_t i = 0; i < l->nsyssite; i++) {
		const char *slash = strrchr(l->syssite[i], '/');
		if (in->system_site) {
			if (!add_anchor(v, l->syssite[i], LAYER_BASE, l->syssite[i], 0, rw))
				return conflict("a system site directory", l->syssite[i], err, len);
		} else if (slash) {
			cleanup_free char *dir = strndup(l->syssite[i], (size_t)(slash - l->syssite[i]));
			struct vdir *d = (struct vdir *)find_dir(v, dir);
			if (d && add_hidden(d, slash + 1))
				abort();
		}
	}
	return 0;
}

/* libpython and its pkg-config files, for $ORIGIN-relative and embedding builds. */
static void add_libpython(struct view *v, const struct layout *l, int rw)
{
	if (!l->libdir)
		return;
	cleanup_free char *pc = pe_xasprintf("%s/pkgconfig", l->libdir);
	const char *const paths[2] = { l->libdir, pc };
	const char *const only[2] = { "libpython", "python" };
	for (size_t i = 0; i < 2; i++) {
		struct vdir *d = mkdirs(v, paths[i], rw);
		if (!d || d->nsrc != 1 || d->src[0].layer != LAYER_UPPER)
			continue;       /* inside the stdlib or DIR: shown there already */
		/* Base first: the env cannot shadow the base's libpython. */
		d->src[1] = d->src[0];
		d->src[0] = (struct view_source){ 0 };
		set_source(&d->src[0], LAYER_BASE, paths[i], only[i], 0);
		d->nsrc = 2;
	}
}

int view_build(const struct view_input *in, struct view *v, char *err, size_t len)
{
	const int rw = !in->read_only;

	memset(v, 0, sizeof *v);
	new_dir(v, "", rw);
	add_entry(v->dirs[0], "pyvenv.cfg", VENT_GEN)->gen = GEN_PYVENV_CFG;
	if (add_scripts(v, in, rw, err, len) || add_stdlib(v, in->layout, rw, err, len) ||
	    add_headers(v, in->layout, rw, err, len) || add_site(v, in, rw, err, len) ||
	    add_system_site(v, in, rw, err, len))
		return -1;
	add_libpython(v, in->layout, rw);
	find_aliases(v);
	return 0;
}

void view_free(struct view *v)
{
	for (size_t i = 0; i < v->ndirs; i++) {
		struct vdir *d = v->dirs[i];
		for (size_t j = 0; j < d->nents; j++) {
			free(d->ents[j].name);
			free(d->ents[j].path);
		}
		for (size_t j = 0; j < d->nhidden; j++)
			free(d->hidden[j]);
		for (size_t j = 0; j < d->nsrc; j++)
			free(d->src[j].path);
		free(d->ents);
		free(d->hidden);
		free(d->path);
		free(d);
	}
	free(v->dirs);
	free(v->alias_places);
	free(v->alias_vdirs);
	memset(v, 0, sizeof *v);
}

const struct vent *view_entry(const struct vdir *d, const char *name)
{
	return find_entry(d, name);
}

int view_hides(const struct vdir *d, const char *name)
{
	for (size_t i = 0; i < d->nhidden; i++)
		if (strcmp(d->hidden[i], name) == 0)
			return 1;
	return 0;
}

int view_source_shows(const struct view_source *s, const char *name)
{
	return !s->only || strncmp(name, s->only, strlen(s->only)) == 0;
}

const struct view_source *view_writable_source(const struct vdir *d)
{
	for (size_t i = 0; i < d->nsrc; i++)
		if (d->src[i].writable)
			return &d->src[i];
	return NULL;
}

int view_reserved(const char *name)
{
	return strcmp(name, VIEW_RESERVED) == 0;
}

unsigned view_source_place(const struct vdir *d, size_t i)
{
	return (1u << 24) + d->id * VIEW_MAX_SOURCES + (unsigned)i;
}

