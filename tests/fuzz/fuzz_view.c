// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer targets for the pure core of pyenvfs.
 *
 * Built twice from this one file by tests/fuzz/run.sh:
 *
 *   fuzz_view  (default)        the input is what the base interpreter prints
 *                               ("key=value" lines): layout_parse, then
 *                               view_build for every combination of
 *                               system_site x read_only x config, a walk of
 *                               every vdir through the pure lookups, and the
 *                               view's invariants;
 *   fuzz_cli   (-DFUZZ_CLI)     the input is a command line, arguments
 *                               separated by NUL bytes: cli_parse, cli_free.
 *
 * An invariant that does not hold aborts (with a line on stderr saying which),
 * so libFuzzer records the input as a crash; ASan/LSan catch the rest. */
#include "cli.h"
#include "layout.h"
#include "util.h"
#include "view.h"

#include <stdint.h>
#include <stdio.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 8192     /* bytes looked at; longer inputs are ignored */
#define ERRLEN 512

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: invariant violated: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

#define REQUIRE(cond, detail)                                                   \
	do {                                                                    \
		if (!(cond))                                                    \
			fail(#cond, detail);                                    \
	} while (0)

/* An error message from pe_err: "pyenvfs: ...", one line, NUL-terminated. */
static void check_err(const char *err, size_t len)
{
	REQUIRE(memchr(err, '\0', len) != NULL, "error message not terminated");
	REQUIRE(strncmp(err, "pyenvfs: ", 9) == 0, err);
	REQUIRE(strchr(err, '\n') == NULL, err);
}

static char *dup_bytes(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#ifndef FUZZ_CLI

/* ---- fuzz_view ------------------------------------------------------- */

#define MAX_TOKENS 64
#define MAX_TOKEN_LEN 256
#define TOKEN_PROBES 128        /* (dir, token) pairs looked up per view */

/* Names and paths to look up: pieces of the input, and a few fixed ones. */
struct tokens {
	char *t[MAX_TOKENS];
	size_t n;
};

static void tokens_add(struct tokens *tk, const char *s, size_t n)
{
	if (tk->n >= MAX_TOKENS)
		return;
	if (n > MAX_TOKEN_LEN)
		n = MAX_TOKEN_LEN;
	char *c = strndup(s, n);
	if (!c)
		abort();
	tk->t[tk->n++] = c;
}

/* Splits text on delims into tokens (empty ones included: "" is a name too). */
static void tokens_split(struct tokens *tk, const char *text, const char *delims)
{
	const char *p = text;
	for (;;) {
		size_t n = strcspn(p, delims);
		tokens_add(tk, p, n);
		if (!p[n] || tk->n >= MAX_TOKENS)
			break;
		p += n + 1;
	}
}

static void tokens_free(struct tokens *tk)
{
	for (size_t i = 0; i < tk->n; i++)
		free(tk->t[i]);
	tk->n = 0;
}

/* A relative path the view stores: no leading "/", no ".." component. */
static int relpath_ok(const char *p)
{
	if (!p || p[0] == '/')
		return 0;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return 0;
		c += n;
		if (*c == '/')
			c++;
	}
	return 1;
}

/* path with empty components dropped ("a//b/" -> "a/b") into out (at least
 * strlen(path) + 1 bytes): what find_dir walks. */
static const char *squeeze_slashes(const char *path, char *out)
{
	size_t o = 0;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	return out;
}

static void check_layout(const struct layout *l)
{
	char *const *lists[] = { l->stdlib, l->include, l->site, l->syssite, l->scripts };
	const size_t counts[] = { l->nstdlib, l->ninclude, l->nsite, l->nsyssite, l->nscripts };
	REQUIRE(l->major >= 2 && l->major <= 9, l->version);
	REQUIRE(l->nstdlib >= 1 && l->nsite >= 1 && l->nscripts >= 1, NULL);
	for (size_t i = 0; i < 5; i++) {
		REQUIRE(counts[i] <= LAYOUT_MAX, NULL);
		for (size_t j = 0; j < counts[i]; j++) {
			const char *p = lists[i][j];
			REQUIRE(p && p[0] && relpath_ok(p), p);
			REQUIRE(strstr(p, "//") == NULL, p);
			for (size_t k = 0; k < j; k++)
				REQUIRE(strcmp(p, lists[i][k]) != 0, p);
		}
	}
	for (size_t i = 0; i < l->nsyssite; i++)
		for (size_t j = 0; j < l->nsite; j++)
			REQUIRE(strcmp(l->syssite[i], l->site[j]) != 0, l->syssite[i]);
	if (l->libdir)
		REQUIRE(relpath_ok(l->libdir) && l->libdir[0], l->libdir);
}

/* Every fixed entry and hidden name is a plain name (not "", ".", "..", no
 * "/"): layout_parse admits only canonical paths. PYENVFS_FUZZ_STRICT=0
 * turns the check off. */
static int strict(void)
{
	static int s = -1;
	if (s < 0) {
		const char *e = getenv("PYENVFS_FUZZ_STRICT");
		s = !(e && strcmp(e, "0") == 0);
	}
	return s;
}


/* A name a directory can list: not "", ".", "..", no "/". */
static int name_ok(const char *n)
{
	return n[0] && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 && !strchr(n, '/');
}

static int is_abs_target(const struct vent *e, const struct view_input *in)
{
	return strcmp(e->path, in->exe) == 0 || (in->config && strcmp(e->path, in->config) == 0);
}

#define PATHBUF (2 * FUZZ_MAX_INPUT + 16)    /* longer than any path made from the input */

/* A path of the mount: if it finds a dir, that dir's path is the path. */
static void probe_path(const struct view *v, const char *path)
{
	const struct vdir *f = vdir_at(v, path);
	if (f) {
		char sq[PATHBUF];
		REQUIRE(strlen(path) < sizeof sq, path);
		REQUIRE(strcmp(f->path, squeeze_slashes(path, sq)) == 0, path);
	}
}

/* The lookups on d for one name: run them, and check they agree with d.
 * deep: also look the name up below d as a path of the mount. */
static void probe_name(const struct view *v, const struct vdir *d, const char *name, int deep)
{
	const struct vent *e = view_entry(d, name);
	if (e) {
		REQUIRE(e >= d->ents && e < d->ents + d->nents, name);
		REQUIRE(strcmp(e->name, name) == 0, name);
	} else {
		for (size_t i = 0; i < d->nents; i++)
			REQUIRE(strcmp(d->ents[i].name, name) != 0, name);
	}
	int hidden = 0;
	for (size_t i = 0; i < d->nhidden; i++)
		hidden |= strcmp(d->hidden[i], name) == 0;
	REQUIRE(view_hides(d, name) == hidden, name);
	for (size_t i = 0; i < d->nsrc; i++) {
		const struct view_source *s = &d->src[i];
		int want = !s->only || strncmp(name, s->only, strlen(s->only)) == 0;
		REQUIRE(view_source_shows(s, name) == want, name);
	}
	REQUIRE(view_reserved(name) == (strcmp(name, VIEW_RESERVED) == 0), name);
	if (!deep)
		return;

	/* The name below d. */
	char sub[PATHBUF], sq[PATHBUF];
	size_t dl = strlen(d->path), nl = strlen(name);
	if (dl + nl + 2 > sizeof sub)
		return;
	memcpy(sub, d->path, dl);
	if (dl)
		sub[dl++] = '/';
	memcpy(sub + dl, name, nl + 1);
	const struct vdir *f = vdir_at(v, sub);
	if (f)
		REQUIRE(strcmp(f->path, squeeze_slashes(sub, sq)) == 0, sub);
	if (name[0] && !strchr(name, '/')) {
		/* A single name below d: found exactly when d has it as a dir. */
		if (e && e->kind == VENT_DIR)
			REQUIRE(f == e->dir, sub);
		else
			REQUIRE(f == NULL, sub);
	}
}

static void check_view(const struct view *v, const struct view_input *in, const struct tokens *tk)
{
	const int ro = in->read_only;
	REQUIRE(v->ndirs >= 1 && v->dirs, NULL);
	REQUIRE(v->dirs[0]->path[0] == '\0', "the root's path is not \"\"");
	REQUIRE(v->nplaces < (1u << 24), NULL);

	unsigned char *seen_place = pe_xcalloc((size_t)v->nplaces + 1, 1);
	size_t *parents = pe_xcalloc(v->ndirs, sizeof *parents);   /* VENT_DIR entries naming each dir */

	for (size_t i = 0; i < v->ndirs; i++) {
		const struct vdir *d = v->dirs[i];
		REQUIRE(d && d->id == i, d ? d->path : NULL);
		REQUIRE(d->path && relpath_ok(d->path), d->path);
		REQUIRE(vdir_at(v, d->path) == d, d->path);

		/* Sources: 1..VIEW_MAX_SOURCES, at most one writable, the base never. */
		REQUIRE(d->nsrc >= 1 && d->nsrc <= VIEW_MAX_SOURCES, d->path);
		size_t nwritable = 0;
		const struct view_source *w = NULL;
		for (size_t j = 0; j < d->nsrc; j++) {
			const struct view_source *s = &d->src[j];
			REQUIRE(s->layer < LAYER_COUNT, d->path);
			REQUIRE(s->path && relpath_ok(s->path), s->path);
			REQUIRE(!(s->layer == LAYER_BASE && s->writable), s->path);
			REQUIRE(!(ro && s->writable), s->path);
			if (s->writable && !nwritable++)
				w = s;
			unsigned place = view_source_place(d, j);
			REQUIRE(place > v->nplaces, d->path);
			for (size_t k = 0; k < j; k++)
				REQUIRE(view_source_place(d, k) != place, d->path);
		}
		REQUIRE(nwritable <= 1, d->path);
		REQUIRE(view_writable_source(d) == w, d->path);

		for (size_t j = 0; j < d->nhidden; j++) {
			REQUIRE(d->hidden[j] != NULL, d->path);
			if (strict())
				REQUIRE(name_ok(d->hidden[j]), d->hidden[j]);
		}

		/* Fixed entries. */
		for (size_t j = 0; j < d->nents; j++) {
			const struct vent *e = &d->ents[j];
			REQUIRE(e->name != NULL, d->path);
			if (strict())
				REQUIRE(name_ok(e->name), e->name);
			REQUIRE(view_entry(d, e->name) == e, e->name);   /* names are unique */
			switch (e->kind) {
			case VENT_DIR: {
				REQUIRE(e->dir != NULL, e->name);
				REQUIRE(e->dir->id < v->ndirs && v->dirs[e->dir->id] == e->dir, e->name);
				REQUIRE(e->dir->id != 0, e->name);
				parents[e->dir->id]++;
				char *want = d->path[0] ? pe_xasprintf("%s/%s", d->path, e->name) : pe_xstrdup(e->name);
				REQUIRE(strcmp(e->dir->path, want) == 0, want);
				free(want);
				break;
			}
			case VENT_ANCHOR:
				REQUIRE(e->layer < LAYER_COUNT, e->name);
				REQUIRE(e->path != NULL, e->name);
				REQUIRE(e->place >= 1 && e->place <= v->nplaces, e->name);
				REQUIRE(!seen_place[e->place], e->name);
				seen_place[e->place] = 1;
				REQUIRE(!(e->layer == LAYER_BASE && e->writable), e->path);
				REQUIRE(!(ro && e->writable), e->path);
				REQUIRE(!e->site_root || e->layer == LAYER_SITE, e->name);
				if (!is_abs_target(e, in))
					REQUIRE(relpath_ok(e->path), e->path);
				else
					REQUIRE(e->layer == LAYER_BASE && !e->writable, e->path);
				break;
			case VENT_GEN:
				REQUIRE(e->gen < GEN_COUNT, e->name);
				break;
			default:
				fail("unknown entry kind", e->name);
			}
		}
	}
	/* Every dir but the root hangs from exactly one VENT_DIR entry. */
	for (size_t i = 1; i < v->ndirs; i++)
		REQUIRE(parents[i] == 1, v->dirs[i]->path);
	REQUIRE(parents[0] == 0, NULL);
	/* Alias places name writable places; alias vdirs writable ones. */
	REQUIRE(v->nalias_places <= v->nplaces + v->ndirs * VIEW_MAX_SOURCES, NULL);
	for (size_t i = 0; i < v->nalias_places; i++)
		REQUIRE(!ro && v->alias_places[i] >= 1, NULL);
	for (size_t i = 0; i < v->nalias_vdirs; i++) {
		REQUIRE(v->alias_vdirs[i] < v->ndirs, NULL);
		const struct view_source *w = view_writable_source(v->dirs[v->alias_vdirs[i]]);
		REQUIRE(w && w->path[0], v->dirs[v->alias_vdirs[i]]->path);
	}
	/* Places are handed out 1..nplaces with none skipped. */
	for (unsigned p = 1; p <= v->nplaces; p++)
		REQUIRE(seen_place[p], NULL);
	free(seen_place);
	free(parents);

	/* The lookups with names from the dirs themselves and from the input.
	 * Bounded: the input's tokens against the dirs, TOKEN_PROBES in all. */
	static const char *const fixed[] = {
		"", ".", "..", "/", VIEW_RESERVED, VIEW_UPPER_IN_SITE, "EXTERNALLY-MANAGED",
		"libpython3.so", "python", "pkgconfig", "site-packages", "pyvenv.cfg",
	};
	for (size_t i = 0; i < v->ndirs; i++) {
		const struct vdir *d = v->dirs[i];
		for (size_t j = 0; j < d->nents; j++)
			probe_name(v, d, d->ents[j].name, 1);
		for (size_t j = 0; j < d->nhidden; j++)
			probe_name(v, d, d->hidden[j], 0);
		const char *last = strrchr(d->path, '/');
		probe_name(v, d, last ? last + 1 : d->path, 0);
		for (size_t j = 0; j < d->nsrc; j++)
			if (d->src[j].only)
				probe_name(v, d, d->src[j].only, 0);
		for (size_t j = 0; j < sizeof fixed / sizeof *fixed; j++)
			probe_name(v, d, fixed[j], j < 3);
	}
	for (size_t j = 0; j < tk->n; j++)
		probe_path(v, tk->t[j]);
	/* Every pair if there are few, else pairs spread over dirs and tokens. */
	if (tk->n) {
		size_t pairs = v->ndirs * tk->n;
		for (size_t k = 0; k < pairs && k < TOKEN_PROBES; k++)
			probe_name(v, v->dirs[k % v->ndirs],
				   tk->t[pairs <= TOKEN_PROBES ? k / v->ndirs : (k / v->ndirs + k) % tk->n], 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	char *text = dup_bytes(data, size);
	struct layout l;
	char err[ERRLEN];
	err[0] = '\0';
	if (layout_parse(text, &l, err, sizeof err)) {
		check_err(err, sizeof err);
		static const struct layout zero;
		REQUIRE(memcmp(&l, &zero, sizeof l) == 0, "layout_parse left something after failing");
		free(text);
		return 0;
	}
	check_layout(&l);

	struct tokens tk = { .n = 0 };
	tokens_split(&tk, text, "\n=");
	tokens_split(&tk, text, "\n=/");

	char *exe = pe_xasprintf("/usr/bin/python%s", l.xy);
	char *config = pe_xasprintf("/usr/bin/python%s-config", l.xy);
	for (int combo = 0; combo < 8; combo++) {
		struct view_input in = {
			.layout = &l,
			.exe = exe,
			.config = (combo & 4) ? config : NULL,
			.system_site = combo & 1,
			.read_only = (combo >> 1) & 1,
		};
		struct view v;
		err[0] = '\0';
		if (view_build(&in, &v, err, sizeof err) == 0) {
			check_view(&v, &in, &tk);
		} else {
			check_err(err, sizeof err);
		}
		/* On failure too: view_build leaves what it made to view_free. */
		view_free(&v);
		REQUIRE(v.dirs == NULL && v.ndirs == 0 && v.nplaces == 0, NULL);
	}
	free(exe);
	free(config);
	tokens_free(&tk);
	layout_free(&l);
	static const struct layout zero;
	REQUIRE(memcmp(&l, &zero, sizeof l) == 0, "layout_free left something");
	free(text);
	return 0;
}

#else

/* ---- fuzz_cli -------------------------------------------------------- */

#define MAX_ARGS 64

/* The oracle, said another way than cli.c says it: digits, one dot,
 * digits, at most 8 characters in all. */
static int valid_version(const char *v)
{
	static const char digits[] = "0123456789";
	size_t major = strspn(v, digits);
	if (major == 0 || v[major] != '.')
		return 0;
	size_t minor = strspn(v + major + 1, digits);
	return minor > 0 && v[major + 1 + minor] == '\0' && major + 1 + minor <= 8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	char *buf = dup_bytes(data, size);
	/* argv[0] is the program; the input's NUL-separated pieces follow. */
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = "pyenvfs";
	if (size > 0) {
		for (char *p = buf; argc <= MAX_ARGS;) {
			argv[argc++] = p;
			size_t n = strlen(p);
			if (p + n >= buf + size)
				break;
			p += n + 1;
		}
	}
	argv[argc] = NULL;

	struct pe_opts o;
	char err[ERRLEN];
	err[0] = '\0';
	if (cli_parse(argc, argv, &o, err, sizeof err)) {
		check_err(err, sizeof err);
		static const struct pe_opts zero;
		REQUIRE(memcmp(&o, &zero, sizeof o) == 0, "cli_parse left something after failing");
	} else {
		if (!o.help && !o.version) {
			REQUIRE(o.base && o.mountpoint && o.site && o.site[0], NULL);
		}
		if (o.python)
			REQUIRE(valid_version(o.python), o.python);
		REQUIRE(o.base_timeout >= 0 && o.base_timeout <= 1e9, NULL);
		REQUIRE(o.site_timeout >= 0 && o.site_timeout <= 1e9, NULL);
		REQUIRE(o.nfuse_opts == 0 || o.fuse_opts, NULL);
		char *s = cli_fuse_optstring(&o);
		size_t want = 0;
		for (size_t i = 0; i < o.nfuse_opts; i++) {
			REQUIRE(o.fuse_opts[i] && o.fuse_opts[i][0] && !strchr(o.fuse_opts[i], ','), o.fuse_opts[i]);
			want += strlen(o.fuse_opts[i]) + (i ? 1 : 0);
		}
		REQUIRE(strlen(s) == want, s);
		free(s);
	}
	cli_free(&o);
	static const struct pe_opts zero;
	REQUIRE(memcmp(&o, &zero, sizeof o) == 0, "cli_free left something");
	free(buf);
	return 0;
}

#endif
