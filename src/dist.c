// SPDX-License-Identifier: GPL-2.0-or-later
/* Installed distributions across stacked site layers: names, RECORD files,
 * and the rule that a distribution wins or loses as a whole. Pure. */
#include "dist.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int dist_normalize(const char *name, char *out, size_t outlen)
{
	size_t n = 0;
	int in_run = 0;
	if (!*name)
		return -EINVAL;
	for (const char *p = name; *p; p++) {
		if (*p == '-' || *p == '_' || *p == '.') {
			in_run = 1;
			continue;
		}
		if (in_run && n > 0) {
			if (n + 1 >= outlen)
				return -ENAMETOOLONG;
			out[n++] = '-';
		}
		in_run = 0;
		if (n + 1 >= outlen)
			return -ENAMETOOLONG;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	/* PEP 503 keeps a leading or trailing run ("-foo" -> "-foo"); names like
	 * that are not valid distribution names, and none is installed by pip:
	 * folding them away too keeps one key per name that tools compare. */
	if (!n)
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

static int has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/* The "-pyX.Y" tag setuptools appends to an egg-info's version, or NULL. */
static char *py_tag(char *version)
{
	for (char *p = strstr(version, "-py"); p; p = strstr(p + 1, "-py"))
		if (isdigit((unsigned char)p[3]))
			return p;
	return NULL;
}

int dist_parse_entry(const char *entry, struct dist_id *id)
{
	size_t n = strlen(entry);
	size_t stem;
	if (n >= DIST_NAME_MAX || strchr(entry, '/'))
		return -EINVAL;
	if (has_suffix(entry, n, ".dist-info")) {
		id->kind = DIST_INFO;
		stem = n - strlen(".dist-info");
	} else if (has_suffix(entry, n, ".egg-info")) {
		id->kind = DIST_EGG_INFO;
		stem = n - strlen(".egg-info");
	} else {
		return -EINVAL;
	}
	const char *dash = memchr(entry, '-', stem);
	size_t name_len = dash ? (size_t)(dash - entry) : stem;
	if (!name_len)
		return -EINVAL;
	memcpy(id->name, entry, name_len);
	id->name[name_len] = '\0';
	id->version[0] = '\0';
	if (dash) {
		size_t vlen = stem - name_len - 1;
		memcpy(id->version, dash + 1, vlen);
		id->version[vlen] = '\0';
		char *tag = id->kind == DIST_EGG_INFO ? py_tag(id->version) : NULL;
		if (tag)
			*tag = '\0';
	}
	return 0;
}

/* One CSV field starting at *pos, unquoted into out (room for len bytes);
 * *pos ends after the field's terminator. *eol says the record ended. */
static int csv_field(const char *buf, size_t len, size_t *pos, char *out, int *eol)
{
	size_t i = *pos, n = 0;
	*eol = 0;
	if (i < len && buf[i] == '"') {
		for (i++;; i++) {
			if (i >= len)
				return -EINVAL;         /* an unterminated quote */
			if (buf[i] == '"') {
				if (i + 1 < len && buf[i + 1] == '"') {
					out[n++] = '"';
					i++;
					continue;
				}
				i++;
				break;
			}
			out[n++] = buf[i];
		}
	}
	/* Unquoted text (or what follows a closing quote) up to ',' or the end. */
	for (; i < len && buf[i] != ',' && buf[i] != '\n'; i++)
		out[n++] = buf[i];
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	if (i >= len || buf[i] == '\n')
		*eol = 1;
	*pos = i < len ? i + 1 : len;
	return 0;
}

int dist_record_each(const char *buf, size_t len, int (*fn)(const char *path, void *arg), void *arg)
{
	if (memchr(buf, '\0', len))
		return -EINVAL;
	cleanup_free char *field = pe_xmalloc(len + 1);
	cleanup_free char *path = pe_xmalloc(len + 1);
	size_t pos = 0;
	while (pos < len) {
		int eol, r = csv_field(buf, len, &pos, path, &eol);
		while (!r && !eol)
			r = csv_field(buf, len, &pos, field, &eol);
		if (r)
			return r;
		if (*path && (r = fn(path, arg)))
			return r;
	}
	return 0;
}

int dist_lines_each(const char *buf, size_t len, int (*fn)(const char *path, void *arg), void *arg)
{
	if (memchr(buf, '\0', len))
		return -EINVAL;
	cleanup_free char *line = pe_xmalloc(len + 1);
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		memcpy(line, buf + pos, n);
		if (n && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		pos = nl ? (size_t)(nl - buf) + 1 : len;
		int r;
		if (*line && (r = fn(line, arg)))
			return r;
	}
	return 0;
}

/* Splits s in place at '/' and pushes its components onto st, applying "."
 * and "..". -EINVAL if ".." climbs above the start. */
static int push_components(char *s, char **st, size_t *n)
{
	char *save = NULL;
	for (char *c = strtok_r(s, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			if (!*n)
				return -EINVAL;
			(*n)--;
			continue;
		}
		st[(*n)++] = c;
	}
	return 0;
}

static char *join_components(char **st, size_t from, size_t n)
{
	size_t len = 1;
	for (size_t i = from; i < n; i++)
		len += strlen(st[i]) + 1;
	char *s = pe_xcalloc(1, len);
	for (size_t i = from; i < n; i++) {
		if (i > from)
			strcat(s, "/");
		strcat(s, st[i]);
	}
	return s;
}

/* 1 if path is already a clean relative path: no "", "." or ".." component. */
static int clean_relative(const char *path)
{
	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

int dist_resolve(const char *site_rel, const char *from, const char *path, struct dist_file *f)
{
	if (!*path || *path == '/')
		return -EINVAL;
	/* Most of a RECORD: a file below the site directory, said plainly. */
	if ((!from || !*from) && clean_relative(path)) {
		f->area = DIST_AREA_SITE;
		f->path = pe_xstrdup(path);
		return 0;
	}
	cleanup_free char *site = pe_xstrdup(site_rel);
	cleanup_free char *work = pe_xasprintf("%s/%s/%s", site_rel, from ? from : "", path);
	cleanup_free char **st = pe_xcalloc(strlen(work) + 1, sizeof *st);
	cleanup_free char **sv = pe_xcalloc(strlen(site) + 1, sizeof *sv);
	size_t n = 0, nsite = 0;
	if (push_components(site, sv, &nsite) || push_components(work, st, &n))
		return -EINVAL;
	size_t common = 0;
	while (common < nsite && common < n && strcmp(st[common], sv[common]) == 0)
		common++;
	if (common == n)
		return -EINVAL;         /* the site directory or one of its parents */
	if (common == nsite) {
		f->area = DIST_AREA_SITE;
		f->path = join_components(st, nsite, n);
	} else {
		f->area = DIST_AREA_PREFIX;
		f->path = join_components(st, 0, n);
	}
	return 0;
}

int dist_layer_add(struct dist_layer *l, const char *entry, size_t *index)
{
	struct dist_id id;
	char key[DIST_NAME_MAX];
	if (dist_parse_entry(entry, &id) || dist_normalize(id.name, key, sizeof key))
		return -EINVAL;
	l->dists = realloc(l->dists, (l->ndists + 1) * sizeof *l->dists);
	if (!l->dists)
		abort();
	struct dist *d = &l->dists[l->ndists];
	memset(d, 0, sizeof *d);
	d->entry = pe_xstrdup(entry);
	d->key = pe_xstrdup(key);
	if (index)
		*index = l->ndists;
	l->ndists++;
	return 0;
}

int dist_layer_remove(struct dist_layer *l, const char *entry)
{
	struct dist_id id;
	char key[DIST_NAME_MAX];
	if (dist_parse_entry(entry, &id) || dist_normalize(id.name, key, sizeof key))
		return -EINVAL;
	l->removed = realloc(l->removed, (l->nremoved + 1) * sizeof *l->removed);
	if (!l->removed)
		abort();
	l->removed[l->nremoved++] = pe_xstrdup(key);
	return 0;
}

struct record_ctx {
	const char *site_rel;
	const char *from;
	struct dist_file *files;
	size_t n, cap;
};

static int add_record_path(const char *path, void *arg)
{
	struct record_ctx *c = arg;
	struct dist_file f;
	if (dist_resolve(c->site_rel, c->from, path, &f))
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->files = realloc(c->files, c->cap * sizeof *c->files);
		if (!c->files)
			abort();
	}
	c->files[c->n++] = f;
	return 0;
}

static void free_files(struct dist_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i].path);
	free(files);
}

int dist_layer_add_record(struct dist_layer *l, size_t i, const char *site_rel, const char *buf, size_t len)
{
	struct dist *d = &l->dists[i];
	struct dist_id id;
	if (dist_parse_entry(d->entry, &id))
		return -EINVAL;
	/* A dist-info's RECORD is CSV relative to the site directory; an
	 * egg-info's installed-files.txt is lines relative to the egg-info. */
	struct record_ctx c = { site_rel, id.kind == DIST_EGG_INFO ? d->entry : NULL, NULL, 0, 0 };
	int r = id.kind == DIST_INFO ? dist_record_each(buf, len, add_record_path, &c)
				     : dist_lines_each(buf, len, add_record_path, &c);
	if (r) {
		free_files(c.files, c.n);
		return r;
	}
	d->files = realloc(d->files, (d->nfiles + c.n + 1) * sizeof *d->files);
	if (!d->files)
		abort();
	if (c.n)
		memcpy(d->files + d->nfiles, c.files, c.n * sizeof *c.files);
	d->nfiles += c.n;
	free(c.files);
	return 0;
}

struct top_level_ctx {
	const char *ns;
	size_t nslen;
	struct record_ctx rc;
};

/* 1 if name is one of ns's lines. */
static int in_lines(const char *ns, size_t nslen, const char *name)
{
	size_t n = strlen(name);
	for (size_t pos = 0; ns && pos < nslen;) {
		const char *nl = memchr(ns + pos, '\n', nslen - pos);
		size_t len = nl ? (size_t)(nl - (ns + pos)) : nslen - pos;
		size_t k = len && ns[pos + len - 1] == '\r' ? len - 1 : len;
		if (k == n && memcmp(ns + pos, name, n) == 0)
			return 1;
		pos += len + 1;
	}
	return 0;
}

static int add_top_level_name(const char *name, void *arg)
{
	struct top_level_ctx *c = arg;
	if (in_lines(c->ns, c->nslen, name))
		return 0;
	static const char *const suffix[] = { "", ".py", ".pyc", ".pyo" };
	for (size_t i = 0; i < 4; i++) {
		cleanup_free char *p = pe_xasprintf("%s%s", name, suffix[i]);
		(void)add_record_path(p, &c->rc);
	}
	return 0;
}

int dist_layer_add_top_level(struct dist_layer *l, size_t i, const char *buf, size_t len, const char *ns,
			     size_t nslen)
{
	struct dist *d = &l->dists[i];
	struct top_level_ctx c = { ns, nslen, { "", NULL, NULL, 0, 0 } };
	if ((ns && memchr(ns, '\0', nslen)) || dist_lines_each(buf, len, add_top_level_name, &c)) {
		free_files(c.rc.files, c.rc.n);
		return -EINVAL;
	}
	d->files = realloc(d->files, (d->nfiles + c.rc.n + 1) * sizeof *d->files);
	if (!d->files)
		abort();
	if (c.rc.n)
		memcpy(d->files + d->nfiles, c.rc.files, c.rc.n * sizeof *c.rc.files);
	d->nfiles += c.rc.n;
	free(c.rc.files);
	return 0;
}

void dist_layer_free(struct dist_layer *l)
{
	for (size_t i = 0; i < l->ndists; i++) {
		free(l->dists[i].entry);
		free(l->dists[i].key);
		free_files(l->dists[i].files, l->dists[i].nfiles);
	}
	free(l->dists);
	for (size_t i = 0; i < l->nremoved; i++)
		free(l->removed[i]);
	free(l->removed);
	memset(l, 0, sizeof *l);
}

static int layer_holds(const struct dist_layer *l, const char *key)
{
	for (size_t i = 0; i < l->ndists; i++)
		if (strcmp(l->dists[i].key, key) == 0)
			return 1;
	return 0;
}

static int layer_removes(const struct dist_layer *l, const char *key)
{
	for (size_t i = 0; i < l->nremoved; i++)
		if (strcmp(l->removed[i], key) == 0)
			return 1;
	return 0;
}

long dist_winner(const struct dist_layer *layers, size_t n, const char *key)
{
	/* A layer's own instance beats its own whiteout: pip upgrading a lower
	 * distribution installs the new version, then removes the old one. */
	for (size_t i = 0; i < n; i++) {
		if (layer_holds(&layers[i], key))
			return (long)i;
		if (layer_removes(&layers[i], key))
			return -1;
	}
	return -1;
}

int dist_shadowed(const struct dist_layer *layers, size_t n, size_t layer, size_t i)
{
	return dist_winner(layers, n, layers[layer].dists[i].key) != (long)layer;
}

int dist_layer_needs_records(const struct dist_layer *layers, size_t n, size_t layer)
{
	for (size_t i = 0; i < layers[layer].ndists; i++)
		if (dist_shadowed(layers, n, layer, i))
			return 1;
	return 0;
}

/* A growing list of (area, path) with its own copies of the paths. */
struct file_set {
	struct dist_file *v;
	size_t n, cap;
};

static void set_add(struct file_set *s, enum dist_area area, const char *path, size_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			abort();
	}
	s->v[s->n].area = area;
	s->v[s->n].path = strndup(path, len);
	if (!s->v[s->n].path)
		abort();
	s->n++;
}

/* The length of the directories two paths share ("a/b/c" and "a/b/d": 3). */
static size_t common_dirs(const char *a, const char *b)
{
	size_t i = 0, last = 0;
	for (; a[i] && a[i] == b[i]; i++)
		if (a[i] == '/')
			last = i;
	return last;
}

/* The file, and in the site area every directory it is in: a package's
 * directories belong to it; elsewhere (bin, share/man/man1) they are shared.
 * The directories prev (the file added before) is in are there already: a
 * RECORD lists a directory's files together, so this keeps the set small. */
static void set_add_with_dirs(struct file_set *s, const struct dist_file *f, const struct dist_file *prev)
{
	set_add(s, f->area, f->path, strlen(f->path));
	if (f->area != DIST_AREA_SITE)
		return;
	size_t known = prev && prev->area == DIST_AREA_SITE ? common_dirs(f->path, prev->path) : 0;
	for (const char *p = strchr(f->path, '/'); p; p = strchr(p + 1, '/'))
		if ((size_t)(p - f->path) > known)
			set_add(s, f->area, f->path, (size_t)(p - f->path));
}

static int file_cmp(const void *a, const void *b)
{
	const struct dist_file *x = a, *y = b;
	if (x->area != y->area)
		return x->area < y->area ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void set_sort_unique(struct file_set *s)
{
	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof *s->v, file_cmp);
	size_t k = 1;
	for (size_t i = 1; i < s->n; i++) {
		if (file_cmp(&s->v[i], &s->v[k - 1]) == 0)
			free(s->v[i].path);
		else
			s->v[k++] = s->v[i];
	}
	s->n = k;
}

static int set_has(const struct dist_file *v, size_t n, enum dist_area area, const char *path)
{
	struct dist_file key = { area, (char *)path };
	return v && n && bsearch(&key, v, n, sizeof *v, file_cmp) != NULL;
}

/* 1 if path (site area) is the metadata directory of a distribution of l
 * that is not shadowed, or lies in one. */
static int in_winner_metadata(const struct dist_layer *layers, size_t n, size_t l, const char *path)
{
	const char *slash = strchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : strlen(path);
	for (size_t i = 0; i < layers[l].ndists; i++) {
		const char *e = layers[l].dists[i].entry;
		if (strlen(e) == len && strncmp(e, path, len) == 0 && !dist_shadowed(layers, n, l, i))
			return 1;
	}
	return 0;
}

/* What the shadowed distributions of layer l hide: their metadata
 * directories always (no tool may see two versions), and what their RECORDs
 * list except what a winning distribution of the same layer lists too or
 * what lies in a winner's metadata directory. Sorted, unique. */
static struct file_set hidden_in_layer(const struct dist_layer *layers, size_t n, size_t l)
{
	struct file_set lost = { 0 }, kept = { 0 };
	for (size_t i = 0; i < layers[l].ndists; i++) {
		const struct dist *d = &layers[l].dists[i];
		struct file_set *to = dist_shadowed(layers, n, l, i) ? &lost : &kept;
		for (size_t j = 0; j < d->nfiles; j++)
			set_add_with_dirs(to, &d->files[j], j ? &d->files[j - 1] : NULL);
	}
	set_sort_unique(&lost);
	set_sort_unique(&kept);
	size_t k = 0;
	for (size_t i = 0; i < lost.n; i++) {
		const struct dist_file *f = &lost.v[i];
		if (set_has(kept.v, kept.n, f->area, f->path) ||
		    (f->area == DIST_AREA_SITE && in_winner_metadata(layers, n, l, f->path)))
			free(f->path);
		else
			lost.v[k++] = lost.v[i];
	}
	lost.n = k;
	for (size_t i = 0; i < layers[l].ndists; i++)
		if (dist_shadowed(layers, n, l, i))
			set_add(&lost, DIST_AREA_SITE, layers[l].dists[i].entry, strlen(layers[l].dists[i].entry));
	set_sort_unique(&lost);
	free_files(kept.v, kept.n);
	return lost;
}

void dist_shadow_build(const struct dist_layer *layers, size_t n, struct dist_shadow *s)
{
	s->nlayers = n;
	s->hidden = pe_xcalloc(n, sizeof *s->hidden);
	s->nhidden = pe_xcalloc(n, sizeof *s->nhidden);
	for (size_t l = 0; l < n; l++) {
		if (!dist_layer_needs_records(layers, n, l))
			continue;
		struct file_set h = hidden_in_layer(layers, n, l);
		s->hidden[l] = h.v;
		s->nhidden[l] = h.n;
	}
}

int dist_shadow_hides(const struct dist_shadow *s, size_t layer, enum dist_area area, const char *path)
{
	if (layer >= s->nlayers)
		return 0;
	return set_has(s->hidden[layer], s->nhidden[layer], area, path);
}

int dist_shadow_same(const struct dist_shadow *a, const struct dist_shadow *b, size_t layer)
{
	size_t na = layer < a->nlayers ? a->nhidden[layer] : 0;
	size_t nb = layer < b->nlayers ? b->nhidden[layer] : 0;
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (file_cmp(&a->hidden[layer][i], &b->hidden[layer][i]) != 0)
			return 0;
	return 1;
}

void dist_shadow_free(struct dist_shadow *s)
{
	for (size_t l = 0; l < s->nlayers; l++)
		free_files(s->hidden[l], s->nhidden[l]);
	free(s->hidden);
	free(s->nhidden);
	memset(s, 0, sizeof *s);
}
