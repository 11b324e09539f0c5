// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for view: view_build from parsed layouts, and the pure lookups. */
#include "unit.h"
#include "samples.h"
#include "view.h"
#include "layout.h"

#include <stdlib.h>
#include <string.h>

/* The vdir whose mount path is path ("" the root), or NULL. */
static const struct vdir *vdir_at(const struct view *v, const char *path)
{
	for (size_t i = 0; i < v->ndirs; i++)
		if (strcmp(v->dirs[i]->path, path) == 0)
			return v->dirs[i];
	return NULL;
}




#define DEB_EXE "/usr/bin/python3.11"
#define DEB_CONFIG "/usr/bin/python3.11-config"

static char err[512];

/* Parses text and builds a view from it; both must succeed. */
static int build(const char *text, const char *exe, const char *config, int system_site,
		 int read_only, struct layout *l, struct view *v)
{
	err[0] = '\0';
	if (layout_parse(text, l, err, sizeof err)) {
		fprintf(stderr, "layout_parse: %s\n", err);
		memset(v, 0, sizeof *v);
		return -1;
	}
	struct view_input in = { l, exe, config, system_site, read_only };
	int r = view_build(&in, v, err, sizeof err);
	if (r)
		fprintf(stderr, "view_build: %s\n", err);
	return r;
}

static void release(struct layout *l, struct view *v)
{
	view_free(v);
	layout_free(l);
}

/* The fixed entry name in the vdir at dir, or NULL. */
static const struct vent *ent(const struct view *v, const char *dir, const char *name)
{
	const struct vdir *d = vdir_at(v, dir);
	return d ? view_entry(d, name) : NULL;
}

static int is_anchor(const struct vent *e, enum view_layer layer, const char *path, int writable)
{
	return e && e->kind == VENT_ANCHOR && e->layer == layer && e->path &&
	       strcmp(e->path, path) == 0 && e->writable == writable;
}

static int is_source(const struct view_source *s, enum view_layer layer, const char *path,
		     const char *only, int writable)
{
	if (!s || s->layer != layer || !s->path || strcmp(s->path, path) != 0 || s->writable != writable)
		return 0;
	if (!only)
		return s->only == NULL;
	return s->only && strcmp(s->only, only) == 0;
}

static int has_alias_place(const struct view *v, unsigned place)
{
	for (size_t i = 0; i < v->nalias_places; i++)
		if (v->alias_places[i] == place)
			return 1;
	return 0;
}

static int has_alias_vdir(const struct view *v, const char *path)
{
	const struct vdir *d = vdir_at(v, path);
	for (size_t i = 0; d && i < v->nalias_vdirs; i++)
		if (v->alias_vdirs[i] == d->id)
			return 1;
	return 0;
}

/* Invariants every view must hold. */
static void check_invariants(const struct view *v)
{
	CHECK(v->ndirs >= 1);
	CHECK(vdir_at(v, "") == v->dirs[0]);
	CHECK(strcmp(v->dirs[0]->path, "") == 0);

	/* Anchors' places: exactly 1..nplaces, each once. */
	unsigned char *seen = calloc(v->nplaces + 1, 1);
	size_t nanchors = 0;
	for (size_t i = 0; i < v->ndirs; i++) {
		const struct vdir *d = v->dirs[i];
		CHECK(d->id == i);
		CHECK(vdir_at(v, d->path) == d);       /* reachable by its own path */
		CHECK(d->nsrc >= 1 && d->nsrc <= VIEW_MAX_SOURCES);
		for (size_t j = 0; j < d->nents; j++) {
			const struct vent *e = &d->ents[j];
			CHECK(view_entry(d, e->name) == e);   /* names unique in a dir */
			CHECK(strchr(e->name, '/') == NULL && *e->name);
			if (e->kind == VENT_DIR) {
				CHECK(e->dir != NULL);
				if (e->dir) {
					char want[1024];
					snprintf(want, sizeof want, "%s%s%s", d->path, *d->path ? "/" : "", e->name);
					CHECK_STR(e->dir->path, want);
				}
			} else if (e->kind == VENT_ANCHOR) {
				nanchors++;
				CHECK(e->place >= 1 && e->place <= v->nplaces);
				if (e->place >= 1 && e->place <= v->nplaces) {
					CHECK(!seen[e->place]);
					seen[e->place] = 1;
				}
				CHECK(e->layer != LAYER_BASE || !e->writable);
				CHECK(!e->site_root || (e->layer == LAYER_SITE && strcmp(e->path, "") == 0));
			}
		}
		/* A base source is never writable; the writable source is the one writable. */
		const struct view_source *w = view_writable_source(d);
		size_t nw = 0;
		for (size_t s = 0; s < d->nsrc; s++) {
			CHECK(d->src[s].path != NULL);
			CHECK(d->src[s].layer != LAYER_BASE || !d->src[s].writable);
			if (d->src[s].writable) {
				nw++;
				if (nw == 1)
					CHECK(w == &d->src[s]);
			}
		}
		CHECK(nw <= 1);
		CHECK((nw == 0) == (w == NULL));
	}
	CHECK(nanchors == v->nplaces);
	free(seen);

	/* Alias places: exactly the writable anchors' and writable sources' places. */
	size_t nalias = 0;
	for (size_t i = 0; i < v->ndirs; i++) {
		const struct vdir *d = v->dirs[i];
		for (size_t j = 0; j < d->nents; j++)
			if (d->ents[j].kind == VENT_ANCHOR && d->ents[j].writable) {
				nalias++;
				CHECK(has_alias_place(v, d->ents[j].place));
			}
		for (size_t s = 0; s < d->nsrc; s++)
			if (d->src[s].writable) {
				nalias++;
				CHECK(has_alias_place(v, view_source_place(d, s)));
			}
	}
	CHECK(nalias == v->nalias_places);
	/* Alias vdirs: each has a writable source below a layer's root. */
	for (size_t k = 0; k < v->nalias_vdirs; k++) {
		CHECK(v->alias_vdirs[k] < v->ndirs);
		const struct view_source *w = view_writable_source(v->dirs[v->alias_vdirs[k]]);
		CHECK(w && *w->path);
	}

	/* Source places: distinct across dirs and sources, never an anchor's. */
	for (size_t i = 0; i < v->ndirs; i++)
		for (size_t s = 0; s < v->dirs[i]->nsrc; s++) {
			unsigned p = view_source_place(v->dirs[i], s);
			CHECK(p == 0 || p > v->nplaces);
			CHECK(p != 0);
			for (size_t k = 0; k < v->ndirs; k++)
				for (size_t t = 0; t < v->dirs[k]->nsrc; t++)
					if (k != i || t != s)
						CHECK(view_source_place(v->dirs[k], t) != p);
		}
}

static void check_nothing_writable(const struct view *v)
{
	for (size_t i = 0; i < v->ndirs; i++) {
		const struct vdir *d = v->dirs[i];
		CHECK(view_writable_source(d) == NULL);
		for (size_t s = 0; s < d->nsrc; s++)
			CHECK(d->src[s].writable == 0);
		for (size_t j = 0; j < d->nents; j++)
			if (d->ents[j].kind == VENT_ANCHOR)
				CHECK(d->ents[j].writable == 0);
	}
}

static void test_debian(void)
{
	struct layout l;
	struct view v;
	CHECK(build(debian311, DEB_EXE, DEB_CONFIG, 0, 0, &l, &v) == 0);
	check_invariants(&v);

	/* The root. */
	const struct vdir *root = vdir_at(&v, "");
	CHECK(root != NULL);
	CHECK(root->nents == 5);
	const struct vent *e = view_entry(root, "pyvenv.cfg");
	CHECK(e && e->kind == VENT_GEN && e->gen == GEN_PYVENV_CFG);
	const char *const dirs[] = { "bin", "lib", "include", "local" };
	for (size_t i = 0; i < 4; i++) {
		e = view_entry(root, dirs[i]);
		CHECK(e && e->kind == VENT_DIR && e->dir);
	}
	CHECK(view_entry(root, "lib64") == NULL);
	CHECK(view_entry(root, "share") == NULL);
	CHECK(is_source(&root->src[0], LAYER_UPPER, "", NULL, 1));
	CHECK(vdir_at(&v, "nope") == NULL);
	CHECK(vdir_at(&v, "bin/python") == NULL);       /* an anchor is no vdir */
	CHECK(vdir_at(&v, "pyvenv.cfg") == NULL);
	CHECK(vdir_at(&v, "lib/python3") == NULL);      /* the base's, not shown */

	/* bin: the interpreter and its config script, then the env's scripts. */
	const struct vdir *bin = vdir_at(&v, "bin");
	CHECK(bin != NULL);
	if (bin) {
		const char *const exes[] = { "python", "python3", "python3.11" };
		for (size_t i = 0; i < 3; i++) {
			e = view_entry(bin, exes[i]);
			CHECK(is_anchor(e, LAYER_BASE, DEB_EXE, 0));
			CHECK(e && !e->site_root);
		}
		CHECK(is_anchor(view_entry(bin, "python3.11-config"), LAYER_BASE, DEB_CONFIG, 0));
		CHECK(is_anchor(view_entry(bin, "python3-config"), LAYER_BASE, DEB_CONFIG, 0));
		CHECK(view_entry(bin, "python2") == NULL);
		CHECK(view_entry(bin, "pip") == NULL);
		/* The generated activation scripts. */
		const struct { const char *name; enum gen_file gen; } acts[] = {
			{ "activate", GEN_ACTIVATE }, { "activate.fish", GEN_ACTIVATE_FISH },
			{ "activate.csh", GEN_ACTIVATE_CSH },
		};
		for (size_t i = 0; i < 3; i++) {
			e = view_entry(bin, acts[i].name);
			CHECK(e && e->kind == VENT_GEN && e->gen == acts[i].gen);
		}
		CHECK(bin->nents == 5 + 3);
		CHECK(bin->nsrc == 1);
		CHECK(is_source(&bin->src[0], LAYER_UPPER, "bin", NULL, 1));
		CHECK(view_writable_source(bin) == &bin->src[0]);
		CHECK(!view_hides(bin, "pip"));
	}
	/* local/bin: an anchor of the same upper directory (PATH=M/bin sees what
	 * pip puts in local/bin), which pip may move away as a whole. */
	const struct vent *lbin = ent(&v, "local", "bin");
	CHECK(is_anchor(lbin, LAYER_UPPER, "bin", 1));
	CHECK(vdir_at(&v, "local/bin") == NULL);
	/* A name changed through local/bin must be forgotten in bin, and the
	 * other way round: bin is an alias, and so is the anchor's place. */
	CHECK(has_alias_vdir(&v, "bin"));
	CHECK(!has_alias_vdir(&v, "include"));
	CHECK(!has_alias_vdir(&v, ""));
	CHECK(lbin && has_alias_place(&v, lbin->place));

	/* The standard library: the base's, read-only, minus a system install's marks. */
	const struct vdir *std = vdir_at(&v, "lib/python3.11");
	CHECK(std != NULL);
	if (std) {
		CHECK(std->nsrc == 1);
		CHECK(is_source(&std->src[0], LAYER_BASE, "lib/python3.11", NULL, 0));
		CHECK(view_writable_source(std) == NULL);
		CHECK(view_hides(std, "EXTERNALLY-MANAGED"));
		CHECK(view_hides(std, "dist-packages"));
		CHECK(!view_hides(std, "os.py"));
		CHECK(!view_hides(std, "site-packages"));
		CHECK(!view_hides(std, "encodings"));
		CHECK(!view_hides(std, "EXTERNALLY-MANAGED.bak"));
		CHECK(!view_hides(std, "dist"));
		CHECK(view_source_shows(&std->src[0], "os.py"));
		CHECK(std->nents == 1);
	}
	const struct vent *site1 = ent(&v, "lib/python3.11", "site-packages");
	CHECK(is_anchor(site1, LAYER_SITE, "", 1));
	CHECK(site1 && site1->site_root == 1);
	const struct vent *site2 = ent(&v, "local/lib/python3.11", "dist-packages");
	CHECK(is_anchor(site2, LAYER_SITE, "", 1));
	CHECK(site2 && site2->site_root == 1);
	CHECK(site1 && site2 && site1->place != site2->place);
	const struct vdir *llib = vdir_at(&v, "local/lib/python3.11");
	CHECK(llib && is_source(&llib->src[0], LAYER_UPPER, "local/lib/python3.11", NULL, 1));
	/* The headers. */
	/* include/pythonX.Y: the base's headers first, then the env's own (the
	 * prefix scheme puts a package's headers in include/pythonX.Y/<dist>). */
	const struct vdir *hdr = vdir_at(&v, "include/python3.11");
	CHECK(hdr && hdr->nsrc == 2 && hdr->nents == 0);
	CHECK(hdr && is_source(&hdr->src[0], LAYER_BASE, "include/python3.11", NULL, 0));
	CHECK(hdr && is_source(&hdr->src[1], LAYER_UPPER, "include/python3.11", NULL, 1));
	CHECK(hdr && view_writable_source(hdr) == &hdr->src[1]);
	const struct vdir *inc = vdir_at(&v, "include");
	CHECK(inc && inc->nents == 1 && inc->nsrc == 1);
	/* include/ holds the env's own headers besides the base's: pip writes a
	 * venv's to include/site/pythonX.Y/<dist>, which DESIGN.md lists as
	 * writable, although the anchor beside it is read-only. */
	CHECK(inc && is_source(&inc->src[0], LAYER_UPPER, "include", NULL, 1));
	CHECK(inc && inc->src[0].layer == LAYER_UPPER && strcmp(inc->src[0].path, "include") == 0);

	/* lib: the env's, with the stdlib and libdir in it. */
	const struct vdir *lib = vdir_at(&v, "lib");
	CHECK(lib && lib->nsrc == 1 && is_source(&lib->src[0], LAYER_UPPER, "lib", NULL, 1));
	CHECK(lib && lib->nents == 2);

	/* libpython, from the base first; the env's own files after it. */
	const struct vdir *ld = vdir_at(&v, "lib/x86_64-linux-gnu");
	CHECK(ld != NULL);
	if (ld) {
		CHECK(ld->nsrc == 2);
		CHECK(is_source(&ld->src[0], LAYER_BASE, "lib/x86_64-linux-gnu", "libpython", 0));
		CHECK(is_source(&ld->src[1], LAYER_UPPER, "lib/x86_64-linux-gnu", NULL, 1));
		CHECK(view_writable_source(ld) == &ld->src[1]);
		CHECK(view_source_shows(&ld->src[0], "libpython3.11.so"));
		CHECK(view_source_shows(&ld->src[0], "libpython3.11.so.1.0"));
		CHECK(view_source_shows(&ld->src[0], "libpython3.11.a"));
		CHECK(!view_source_shows(&ld->src[0], "libc.so.6"));
		CHECK(!view_source_shows(&ld->src[0], "libpytho"));
		CHECK(!view_source_shows(&ld->src[0], "python3.11"));
		CHECK(view_source_shows(&ld->src[1], "libc.so.6"));
		CHECK(view_source_place(ld, 0) != view_source_place(ld, 1));
	}
	const struct vdir *pc = vdir_at(&v, "lib/x86_64-linux-gnu/pkgconfig");
	CHECK(pc != NULL);
	if (pc) {
		CHECK(pc->nsrc == 2);
		CHECK(is_source(&pc->src[0], LAYER_BASE, "lib/x86_64-linux-gnu/pkgconfig", "python", 0));
		CHECK(is_source(&pc->src[1], LAYER_UPPER, "lib/x86_64-linux-gnu/pkgconfig", NULL, 1));
		CHECK(view_source_shows(&pc->src[0], "python3-embed.pc"));
		CHECK(view_source_shows(&pc->src[0], "python-3.11.pc"));
		CHECK(!view_source_shows(&pc->src[0], "zlib.pc"));
		CHECK(!view_source_shows(&pc->src[0], "libpython.pc"));
	}
	release(&l, &v);
	CHECK(v.ndirs == 0 && v.dirs == NULL && v.nplaces == 0);
}

static void test_debian_system_site(void)
{
	struct layout l;
	struct view v;
	CHECK(build(debian311, DEB_EXE, DEB_CONFIG, 1, 0, &l, &v) == 0);
	check_invariants(&v);

	CHECK(is_anchor(ent(&v, "lib/python3", "dist-packages"), LAYER_BASE, "lib/python3/dist-packages", 0));
	CHECK(is_anchor(ent(&v, "lib/python3.11", "dist-packages"), LAYER_BASE, "lib/python3.11/dist-packages", 0));
	const struct vdir *std = vdir_at(&v, "lib/python3.11");
	CHECK(std != NULL);
	if (std) {
		CHECK(!view_hides(std, "dist-packages"));
		CHECK(view_hides(std, "EXTERNALLY-MANAGED"));
		CHECK(is_source(&std->src[0], LAYER_BASE, "lib/python3.11", NULL, 0));
	}

	/* Every site path: DIR first (writable), the base's directory after it. */
	const char *const sites[] = { "lib/python3.11/site-packages", "local/lib/python3.11/dist-packages" };
	const struct vdir *sd[2] = { NULL, NULL };
	for (size_t i = 0; i < 2; i++) {
		const char *slash = strrchr(sites[i], '/');
		char parent[256];
		snprintf(parent, sizeof parent, "%.*s", (int)(slash - sites[i]), sites[i]);
		const struct vent *e = ent(&v, parent, slash + 1);
		CHECK(e && e->kind == VENT_DIR);
		const struct vdir *d = sd[i] = vdir_at(&v, sites[i]);
		CHECK(d != NULL);
		if (!d)
			continue;
		CHECK(d->nsrc == 2);
		CHECK(is_source(&d->src[0], LAYER_SITE, "", NULL, 1));
		CHECK(is_source(&d->src[1], LAYER_BASE, sites[i], NULL, 0));
		CHECK(view_writable_source(d) == &d->src[0]);
		CHECK(view_hides(d, VIEW_RESERVED));
		CHECK(!view_hides(d, "pip"));
		CHECK(d->nents == 0);
	}
	if (sd[0] && sd[1])
		CHECK(view_source_place(sd[0], 0) != view_source_place(sd[1], 0));
	release(&l, &v);
}

static void test_read_only(void)
{
	for (int sys = 0; sys <= 1; sys++) {
		struct layout l;
		struct view v;
		CHECK(build(debian311, DEB_EXE, DEB_CONFIG, sys, 1, &l, &v) == 0);
		check_invariants(&v);
		check_nothing_writable(&v);
		/* Nothing changes through the mount: nothing to forget elsewhere. */
		CHECK(v.nalias_places == 0 && v.nalias_vdirs == 0);
		/* Same shape, only nothing writable. */
		CHECK(is_anchor(ent(&v, "local", "bin"), LAYER_UPPER, "bin", 0));
		CHECK(is_anchor(ent(&v, "bin", "python3"), LAYER_BASE, DEB_EXE, 0));
		if (!sys) {
			const struct vent *e = ent(&v, "lib/python3.11", "site-packages");
			CHECK(is_anchor(e, LAYER_SITE, "", 0));
			CHECK(e && e->site_root);
		} else {
			const struct vdir *d = vdir_at(&v, "lib/python3.11/site-packages");
			CHECK(d && is_source(&d->src[0], LAYER_SITE, "", NULL, 0));
		}
		const struct vdir *ld = vdir_at(&v, "lib/x86_64-linux-gnu");
		CHECK(ld && ld->nsrc == 2 && is_source(&ld->src[1], LAYER_UPPER, "lib/x86_64-linux-gnu", NULL, 0));
		release(&l, &v);
	}
}

static void test_pyenv(void)
{
	struct layout l;
	struct view v;
	const char *exe = "/home/u/.pyenv/versions/3.6.15/bin/python3.6";
	CHECK(build(pyenv36, exe, NULL, 0, 0, &l, &v) == 0);
	check_invariants(&v);

	CHECK(is_anchor(ent(&v, "bin", "python"), LAYER_BASE, exe, 0));
	CHECK(is_anchor(ent(&v, "bin", "python3"), LAYER_BASE, exe, 0));
	CHECK(is_anchor(ent(&v, "bin", "python3.6"), LAYER_BASE, exe, 0));
	CHECK(ent(&v, "bin", "python3.6-config") == NULL);   /* no config: none */
	CHECK(ent(&v, "bin", "python3-config") == NULL);
	CHECK(v.nplaces == 3 + 1);                            /* 3 exes, site */
	CHECK(vdir_at(&v, "include/python3.6m") != NULL);
	CHECK(ent(&v, "include", "python3.6") == NULL);
	const struct vent *site = ent(&v, "lib/python3.6", "site-packages");
	CHECK(is_anchor(site, LAYER_SITE, "", 1) && site->site_root);
	CHECK(vdir_at(&v, "local") == NULL);

	const struct vdir *lib = vdir_at(&v, "lib");
	CHECK(lib != NULL);
	if (lib) {
		CHECK(lib->nsrc == 2);
		CHECK(is_source(&lib->src[0], LAYER_BASE, "lib", "libpython", 0));
		CHECK(is_source(&lib->src[1], LAYER_UPPER, "lib", NULL, 1));
		CHECK(view_writable_source(lib) == &lib->src[1]);
		CHECK(view_source_shows(&lib->src[0], "libpython3.6m.so.1.0"));
		CHECK(!view_source_shows(&lib->src[0], "python3.6"));
		CHECK(!view_source_shows(&lib->src[0], "libtcl8.6.so"));
		/* The stdlib is a fixed entry, ahead of any source. */
		const struct vent *e = view_entry(lib, "python3.6");
		CHECK(e && e->kind == VENT_DIR);
	}
	const struct vdir *pc = vdir_at(&v, "lib/pkgconfig");
	CHECK(pc && pc->nsrc == 2 && is_source(&pc->src[0], LAYER_BASE, "lib/pkgconfig", "python", 0));
	const struct vdir *std = vdir_at(&v, "lib/python3.6");
	CHECK(std && std->nhidden == 1 && view_hides(std, "EXTERNALLY-MANAGED"));
	release(&l, &v);

	/* 2.7 with its config script. */
	exe = "/home/u/.pyenv/versions/2.7.18/bin/python2.7";
	const char *config = "/home/u/.pyenv/versions/2.7.18/bin/python2.7-config";
	CHECK(build(pyenv27, exe, config, 0, 0, &l, &v) == 0);
	check_invariants(&v);
	CHECK(is_anchor(ent(&v, "bin", "python"), LAYER_BASE, exe, 0));
	CHECK(is_anchor(ent(&v, "bin", "python2"), LAYER_BASE, exe, 0));
	CHECK(is_anchor(ent(&v, "bin", "python2.7"), LAYER_BASE, exe, 0));
	CHECK(ent(&v, "bin", "python3") == NULL);
	CHECK(is_anchor(ent(&v, "bin", "python2.7-config"), LAYER_BASE, config, 0));
	CHECK(is_anchor(ent(&v, "bin", "python2-config"), LAYER_BASE, config, 0));
	CHECK(is_anchor(ent(&v, "lib/python2.7", "site-packages"), LAYER_SITE, "", 1));
	CHECK(ent(&v, "bin", "activate") && ent(&v, "bin", "activate")->kind == VENT_GEN);
	release(&l, &v);

	/* 2.7 with --system-site-packages: no base site dir to show, DIR over the base's. */
	CHECK(build(pyenv27, exe, config, 1, 0, &l, &v) == 0);
	check_invariants(&v);
	const struct vdir *d = vdir_at(&v, "lib/python2.7/site-packages");
	CHECK(d && d->nsrc == 2 && is_source(&d->src[1], LAYER_BASE, "lib/python2.7/site-packages", NULL, 0));
	release(&l, &v);
}

static void test_reserved(void)
{
	CHECK(view_reserved(".pyenvfs") == 1);
	CHECK(view_reserved(VIEW_RESERVED) == 1);
	CHECK(view_reserved("pyenvfs") == 0);
	CHECK(view_reserved(".pyenvfs2") == 0);
	CHECK(view_reserved(".pyenvf") == 0);
	CHECK(view_reserved("") == 0);
	CHECK(strncmp(VIEW_UPPER_IN_SITE, VIEW_RESERVED "/", strlen(VIEW_RESERVED) + 1) == 0);

	/* DIR's top directory hides the reserved name; a site anchor is DIR itself. */
	struct layout l;
	struct view v;
	CHECK(build(debian311, DEB_EXE, DEB_CONFIG, 0, 0, &l, &v) == 0);
	for (size_t i = 0; i < v.ndirs; i++)
		CHECK(!view_hides(v.dirs[i], VIEW_RESERVED));    /* no vdir is DIR here */
	release(&l, &v);
}

/* A source with and without a prefix filter. */
static void test_source_shows(void)
{
	struct view_source all = { LAYER_UPPER, (char *)"bin", NULL, 1 };
	struct view_source lp = { LAYER_BASE, (char *)"lib", "libpython", 0 };
	CHECK(view_source_shows(&all, "anything"));
	CHECK(view_source_shows(&all, ""));
	CHECK(view_source_shows(&lp, "libpython"));
	CHECK(view_source_shows(&lp, "libpython3.so"));
	CHECK(!view_source_shows(&lp, "libpytho"));
	CHECK(!view_source_shows(&lp, "xlibpython"));
	CHECK(!view_source_shows(&lp, ""));
}

static void expect_conflict(const char *text, int system_site, const char *needle, int line)
{
	struct layout l;
	struct view v;
	char e[512] = "";
	CHECK(layout_parse(text, &l, e, sizeof e) == 0);
	struct view_input in = { &l, DEB_EXE, DEB_CONFIG, system_site, 0 };
	int r = view_build(&in, &v, e, sizeof e);
	int ok = r == -1 && strncmp(e, "pyenvfs: ", 9) == 0 && !strchr(e, '\n') && strstr(e, needle);
	if (ok) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: view_build (system_site=%d) returned %d, err \"%s\" (want -1 and \"%s\")\n",
			__FILE__, line, system_site, r, e, needle);
	}
	view_free(&v);            /* a failed build is freed like any other */
	layout_free(&l);
}
#define EXPECT_CONFLICT(text, sys, needle) expect_conflict(text, sys, needle, __LINE__)

static void test_conflicts(void)
{
	/* A site path equal to an include path. */
	static const char site_is_include[] =
		"version=3.11.2\n"
		"stdlib=lib/python3.11\n"
		"include=include/python3.11\n"
		"site=include/python3.11\n"
		"scripts=bin\n";
	EXPECT_CONFLICT(site_is_include, 0, "include/python3.11");
	EXPECT_CONFLICT(site_is_include, 1, "include/python3.11");

	/* A site path below the interpreter (an anchor stands on the way). */
	static const char site_below_exe[] =
		"version=3.11.2\n"
		"stdlib=lib/python3.11\n"
		"include=include/python3.11\n"
		"site=bin/python3/site\n"
		"scripts=bin\n";
	EXPECT_CONFLICT(site_below_exe, 0, "bin/python3/site");
	EXPECT_CONFLICT(site_below_exe, 1, "bin/python3/site");

	/* A scripts dir where the interpreter goes. */
	static const char scripts_below_exe[] =
		"version=3.11.2\n"
		"stdlib=lib/python3.11\n"
		"site=lib/python3.11/site-packages\n"
		"scripts=bin\n"
		"scripts=bin/python3/x\n";
	EXPECT_CONFLICT(scripts_below_exe, 0, "bin/python3");

	/* The headers where the standard library is. */
	static const char include_is_stdlib[] =
		"version=3.11.2\n"
		"stdlib=lib/python3.11\n"
		"include=lib/python3.11\n"
		"site=lib/python3.11/site-packages\n"
		"scripts=bin\n";
	EXPECT_CONFLICT(include_is_stdlib, 0, "lib/python3.11");

	/* A site path on the generated pyvenv.cfg. */
	static const char site_on_cfg[] =
		"version=3.11.2\n"
		"stdlib=lib/python3.11\n"
		"site=pyvenv.cfg/x\n"
		"scripts=bin\n";
	EXPECT_CONFLICT(site_on_cfg, 0, "pyvenv.cfg/x");
	EXPECT_CONFLICT(site_on_cfg, 1, "pyvenv.cfg/x");

	/* A system site dir where the interpreter is, with --system-site-packages. */
	static const char syssite_on_exe[] =
		"version=3.11.2\n"
		"stdlib=lib/python3.11\n"
		"site=lib/python3.11/site-packages\n"
		"scripts=bin\n"
		"syssite=bin/python3\n";
	EXPECT_CONFLICT(syssite_on_exe, 1, "bin/python3");
	/* ... which without it only hides a name: no error. */
	struct layout l;
	struct view v;
	CHECK(build(syssite_on_exe, DEB_EXE, NULL, 0, 0, &l, &v) == 0);
	release(&l, &v);
}

/* The same view twice from one layout: equal, and the layout is not changed. */
static void test_rebuild(void)
{
	struct layout l;
	struct view a, b;
	CHECK(build(debian311, DEB_EXE, DEB_CONFIG, 0, 0, &l, &a) == 0);
	struct view_input in = { &l, DEB_EXE, DEB_CONFIG, 0, 0 };
	CHECK(view_build(&in, &b, err, sizeof err) == 0);
	CHECK(a.ndirs == b.ndirs && a.nplaces == b.nplaces);
	for (size_t i = 0; i < a.ndirs && i < b.ndirs; i++) {
		CHECK_STR(a.dirs[i]->path, b.dirs[i]->path);
		CHECK(a.dirs[i]->nents == b.dirs[i]->nents);
	}
	CHECK(l.nsite == 2 && l.nsyssite == 2);
	view_free(&a);
	view_free(&b);
	view_free(&b);            /* freeing a freed view is harmless */
	layout_free(&l);
}

int main(void)
{
	test_debian();
	test_debian_system_site();
	test_read_only();
	test_pyenv();
	test_reserved();
	test_source_shows();
	test_conflicts();
	test_rebuild();
	return UNIT_DONE();
}
