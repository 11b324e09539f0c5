// SPDX-License-Identifier: GPL-2.0-or-later
/* pylock.toml (PEP 751), pinned requirements files (pip's format) and
 * PEP 723 script metadata, read into struct lock. */
#include "lockfile.h"
#include "toml.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INCLUDE_DEPTH 8

void lock_free(struct lock *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct lock_package *p = &l->pkgs[i];
		for (size_t k = 0; k < p->nwheels; k++) {
			free(p->wheels[k].file);
			free(p->wheels[k].url);
			free(p->wheels[k].path);
		}
		free(p->wheels);
		free(p->name);
		free(p->norm);
		free(p->version);
	}
	free(l->pkgs);
	for (size_t i = 0; i < l->npip_args; i++)
		free(l->pip_args[i]);
	free(l->pip_args);
	free(l->requires_python);
	memset(l, 0, sizeof *l);
}

static struct lock_package *add_package(struct lock *l)
{
	l->pkgs = realloc(l->pkgs, (l->n + 1) * sizeof *l->pkgs);
	if (!l->pkgs)
		abort();
	struct lock_package *p = &l->pkgs[l->n++];
	memset(p, 0, sizeof *p);
	return p;
}

static struct lock_wheel *add_wheel(struct lock_package *p)
{
	p->wheels = realloc(p->wheels, (p->nwheels + 1) * sizeof *p->wheels);
	if (!p->wheels)
		abort();
	struct lock_wheel *w = &p->wheels[p->nwheels++];
	memset(w, 0, sizeof *w);
	return w;
}

static void add_pip_arg(struct lock *l, const char *a)
{
	l->pip_args = realloc(l->pip_args, (l->npip_args + 1) * sizeof *l->pip_args);
	if (!l->pip_args)
		abort();
	l->pip_args[l->npip_args++] = pe_xstrdup(a);
}

/* A sha256 digest as given: 64 hex digits, stored lower case; 0 or -1. */
static int set_sha256(char out[65], const char *hex)
{
	if (strlen(hex) != 64)
		return -1;
	for (int i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)hex[i]);
	}
	out[64] = '\0';
	return 0;
}

static const char *base_name(const char *s)
{
	const char *slash = strrchr(s, '/');
	return slash ? slash + 1 : s;
}

/* A URL's file name: its last path component, without query or fragment. */
static char *url_file(const char *url)
{
	size_t n = strcspn(url, "?#");
	cleanup_free char *u = strndup(url, n);
	if (!u)
		abort();
	return pe_xstrdup(base_name(u));
}

/* "file:///x" to "/x" (percent-escapes decoded); NULL if not a file URL. */
static char *file_url_path(const char *url)
{
	if (strncmp(url, "file://", 7) != 0)
		return NULL;
	const char *p = url + 7;
	if (strncmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/')
		return NULL;
	char *out = pe_xmalloc(strlen(p) + 1), *o = out;
	for (; *p && *p != '?' && *p != '#'; p++) {
		if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			char hex[3] = { p[1], p[2], 0 };
			*o++ = (char)strtol(hex, NULL, 16);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static char *abs_path(const char *dir, const char *path)
{
	if (path[0] == '/')
		return path_normalize(path);
	cleanup_free char *j = path_join(dir, path);
	return path_normalize(j);
}

static int set_version(struct lock_package *p, const char *v)
{
	struct spec_version sv;
	if (spec_parse_version(v, &sv))
		return -1;
	char buf[256];
	spec_version_str(&sv, buf, sizeof buf);
	free(p->version);
	p->version = pe_xstrdup(buf);
	return 0;
}

static int check_unique(const struct lock *l, const char *name, char *err, size_t errlen)
{
	const struct lock_package *last = &l->pkgs[l->n - 1];
	for (size_t i = 0; i + 1 < l->n; i++)
		if (strcmp(l->pkgs[i].norm, last->norm) == 0)
			return pe_err(err, errlen, "%s:%u: '%s' is pinned twice for this Python (also on line %u)", name,
				      last->line, last->name, l->pkgs[i].line);
	return 0;
}

/* -------------------------------------------------------------- pylock */

static const char *const *string_list(const struct toml_value *a, int *bad)
{
	*bad = 0;
	if (!a)
		return NULL;
	if (a->type != TOML_ARRAY) {
		*bad = 1;
		return NULL;
	}
	const char **out = pe_xcalloc(a->n + 1, sizeof *out);
	for (size_t i = 0; i < a->n; i++) {
		out[i] = toml_str(a->items[i]);
		if (!out[i])
			*bad = 1;
	}
	return out;
}

/* One wheel (an inline table of [[packages]].wheels, or an archive). */
static int pylock_wheel(struct lock_package *p, const struct toml_value *w, const char *dir, const char *name,
			char *err, size_t errlen)
{
	if (!w || w->type != TOML_TABLE)
		return pe_err(err, errlen, "%s:%u: a wheel of '%s' is not a table", name, p->line, p->name);
	const char *file = toml_get_str(w, "name"), *url = toml_get_str(w, "url"), *path = toml_get_str(w, "path");
	if (!url && !path && !file)
		return pe_err(err, errlen, "%s:%u: a wheel of '%s' has no name, url or path", name, w->line, p->name);
	struct lock_wheel *lw = add_wheel(p);
	if (file)
		lw->file = pe_xstrdup(file);
	else if (url)
		lw->file = url_file(url);
	else
		lw->file = pe_xstrdup(base_name(path));
	if (url) {
		lw->url = pe_xstrdup(url);
		char *local = file_url_path(url);
		if (local)
			lw->path = local;
	}
	if (path) {
		free(lw->path);
		lw->path = abs_path(dir, path);
	}
	const struct toml_value *hashes = toml_get(w, "hashes");
	const char *sha = toml_get_str(hashes, "sha256");
	if (sha && set_sha256(lw->sha256, sha))
		return pe_err(err, errlen, "%s:%u: the sha256 of '%s' is not 64 hex digits", name, w->line, lw->file);
	if (!sha && !lw->path)
		return pe_err(err, errlen, "%s:%u: the wheel '%s' has no sha256 hash (pyenvfs keys its store by it)",
			      name, w->line, lw->file);
	struct spec_wheel sw;
	if (spec_parse_wheel(lw->file, &sw))
		return pe_err(err, errlen, "%s:%u: '%s' is not a wheel's file name", name, w->line, lw->file);
	return 0;
}

static int pylock_package(struct lock *l, const struct toml_value *t, const char *dir, const struct spec_env *env,
			  const char *name, char *err, size_t errlen)
{
	if (t->type != TOML_TABLE)
		return pe_err(err, errlen, "%s: a [[packages]] element is not a table", name);
	const char *pname = toml_get_str(t, "name");
	if (!pname || !spec_valid_name(pname))
		return pe_err(err, errlen, "%s:%u: a package has no valid name", name, t->line);
	const char *marker = toml_get_str(t, "marker");
	if (marker) {
		char merr[256];
		int m = spec_marker(marker, env, merr, sizeof merr);
		if (m < 0)
			return pe_err(err, errlen, "%s:%u: %s: %s", name, t->line, pname, merr + 9);
		if (!m)
			return 0;
	}
	const char *rp = toml_get_str(t, "requires-python");
	if (rp) {
		int ok = spec_satisfies(env->python_full_version, rp);
		if (ok < 0)
			return pe_err(err, errlen, "%s:%u: %s: requires-python '%s' is not a PEP 440 specifier", name,
				      t->line, pname, rp);
		if (!ok)
			return pe_err(err, errlen, "%s:%u: %s needs Python %s; this is %s", name, t->line, pname, rp,
				      env->python_full_version);
	}
	struct lock_package *p = add_package(l);
	p->line = t->line;
	p->name = pe_xstrdup(pname);
	p->norm = spec_normalize_name(pname);
	const char *version = toml_get_str(t, "version");
	if (version && set_version(p, version))
		return pe_err(err, errlen, "%s:%u: %s: '%s' is not a PEP 440 version", name, t->line, pname, version);
	const struct toml_value *wheels = toml_get(t, "wheels");
	if (wheels && wheels->type != TOML_ARRAY)
		return pe_err(err, errlen, "%s:%u: %s: wheels is not an array", name, t->line, pname);
	for (size_t i = 0; wheels && i < wheels->n; i++)
		if (pylock_wheel(p, wheels->items[i], dir, name, err, errlen))
			return -1;
	const struct toml_value *archive = toml_get(t, "archive");
	const char *apath = toml_get_str(archive, "path"), *aurl = toml_get_str(archive, "url");
	if (archive && ((apath && strstr(apath, ".whl")) || (aurl && strstr(aurl, ".whl"))) &&
	    pylock_wheel(p, archive, dir, name, err, errlen))
		return -1;
	if (!p->nwheels) {
		const char *what = toml_get(t, "sdist") ? "an sdist" : toml_get(t, "vcs") ? "a VCS checkout" :
				   toml_get(t, "directory") ? "a directory" : archive ? "an archive" : "no source";
		return pe_err(err, errlen, "%s:%u: %s has %s and no wheel: pyenvfs composes envs of wheels only", name,
			      t->line, pname, what);
	}
	for (size_t i = 0; i < p->nwheels; i++) {
		struct spec_wheel sw;
		if (spec_parse_wheel(p->wheels[i].file, &sw))
			continue;
		cleanup_free char *wn = spec_normalize_name(sw.name);
		if (strcmp(wn, p->norm) != 0)
			return pe_err(err, errlen, "%s:%u: the wheel '%s' is not of %s", name, t->line, p->wheels[i].file,
				      pname);
		if (!p->version && set_version(p, sw.version))
			return pe_err(err, errlen, "%s:%u: '%s' has no valid version", name, t->line, p->wheels[i].file);
	}
	return check_unique(l, name, err, errlen);
}

static int parse_pylock(const struct toml_value *root, const char *name, const char *dir,
			const struct spec_env *env0, struct lock *l, char *err, size_t errlen)
{
	const char *lv = toml_get_str(root, "lock-version");
	if (!lv)
		return pe_err(err, errlen, "%s: no lock-version: not a pylock.toml (PEP 751)", name);
	if (strncmp(lv, "1.", 2) != 0 && strcmp(lv, "1") != 0)
		return pe_err(err, errlen, "%s: lock-version %s (pyenvfs reads 1.x)", name, lv);
	struct spec_env env = *env0;
	int bad;
	cleanup_free const char *const *groups = string_list(toml_get(root, "default-groups"), &bad);
	if (bad)
		return pe_err(err, errlen, "%s: default-groups is not a list of strings", name);
	env.dependency_groups = groups;
	const char *rp = toml_get_str(root, "requires-python");
	if (rp) {
		int ok = spec_satisfies(env.python_full_version, rp);
		if (ok < 0)
			return pe_err(err, errlen, "%s: requires-python '%s' is not a PEP 440 specifier", name, rp);
		if (!ok)
			return pe_err(err, errlen, "%s: the lock needs Python %s; this is %s", name, rp,
				      env.python_full_version);
		l->requires_python = pe_xstrdup(rp);
	}
	cleanup_free const char *const *envs = string_list(toml_get(root, "environments"), &bad);
	if (bad)
		return pe_err(err, errlen, "%s: environments is not a list of strings", name);
	if (envs && envs[0]) {
		int any = 0;
		for (size_t i = 0; envs[i] && !any; i++) {
			char merr[256];
			int m = spec_marker(envs[i], &env, merr, sizeof merr);
			if (m < 0)
				return pe_err(err, errlen, "%s: environments: %s", name, merr + 9);
			any = m;
		}
		if (!any)
			return pe_err(err, errlen, "%s: none of the lock's environments is this one (Python %s on %s)", name,
				      env.python_full_version, env.platform_machine ? env.platform_machine : "?");
	}
	const struct toml_value *pkgs = toml_get(root, "packages");
	if (!pkgs || pkgs->type != TOML_ARRAY)
		return pe_err(err, errlen, "%s: no [[packages]]", name);
	for (size_t i = 0; i < pkgs->n; i++)
		if (pylock_package(l, pkgs->items[i], dir, &env, name, err, errlen))
			return -1;
	return 0;
}

int lock_parse_pylock(const char *text, size_t len, const char *name, const char *dir, const struct spec_env *env,
		      struct lock *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct toml_value *root = toml_parse(text, len, name, err, errlen);
	if (!root)
		return -1;
	int r = parse_pylock(root, name, dir, env, out, err, errlen);
	toml_free(root);
	if (r)
		lock_free(out);
	return r;
}

/* -------------------------------------------------------- requirements */

struct reqctx {
	const struct spec_env *env;
	lock_reader read;
	void *arg;
	struct lock *l;
	char *err;
	size_t errlen;
	int depth;
};

/* Options that go to pip when a wheel is fetched; those with a value. */
static const char *const pip_value_opts[] = { "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
					      "--trusted-host", "--only-binary", "--no-binary", NULL };
static const char *const pip_flag_opts[] = { "--no-index", "--pre", "--prefer-binary", NULL };
/* Options that change nothing here: hashes are always checked when given. */
static const char *const ignored_opts[] = { "--require-hashes", NULL };

static int in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static int parse_req_text(struct reqctx *c, const char *text, size_t len, const char *name, const char *dir);

/* A line that is an option: "-r FILE", "--find-links=DIR", ... */
static int req_option(struct reqctx *c, char *line, const char *name, unsigned lineno, const char *dir)
{
	char *opt = line, *val = NULL;
	char shortopt[3];
	size_t n = strcspn(opt, " \t=");
	if (opt[n] == '=') {
		opt[n] = '\0';
		val = opt + n + 1;
	} else if (opt[n]) {
		opt[n] = '\0';
		val = opt + n + 1;
		val += strspn(val, " \t");
	} else if (opt[1] != '-' && strlen(opt) > 2) {
		/* -fDIR, -rFILE */
		memcpy(shortopt, opt, 2);
		shortopt[2] = '\0';
		val = opt + 2;
		opt = shortopt;
	}
	if (val) {
		size_t k = strlen(val);
		while (k && isspace((unsigned char)val[k - 1]))
			val[--k] = '\0';
		if (!*val)
			val = NULL;
	}
	if (strcmp(opt, "-r") == 0 || strcmp(opt, "--requirement") == 0) {
		if (!val)
			return pe_err(c->err, c->errlen, "%s:%u: %s needs a file", name, lineno, opt);
		if (!c->read || ++c->depth > MAX_INCLUDE_DEPTH)
			return pe_err(c->err, c->errlen, "%s:%u: -r %s: included too deep", name, lineno, val);
		size_t ilen;
		cleanup_free char *idir = NULL;
		cleanup_free char *itext = c->read(val, dir, &ilen, &idir, c->err, c->errlen, c->arg);
		if (!itext)
			return -1;
		cleanup_free char *iname = abs_path(dir, val);
		int r = parse_req_text(c, itext, ilen, iname, idir);
		c->depth--;
		return r;
	}
	if (in(ignored_opts, opt))
		return 0;
	if (in(pip_flag_opts, opt)) {
		if (val)
			return pe_err(c->err, c->errlen, "%s:%u: %s takes no value", name, lineno, opt);
		add_pip_arg(c->l, opt);
		return 0;
	}
	if (in(pip_value_opts, opt)) {
		if (!val)
			return pe_err(c->err, c->errlen, "%s:%u: %s needs a value", name, lineno, opt);
		add_pip_arg(c->l, opt);
		/* a find-links directory is relative to the file, as pip reads it */
		if ((strcmp(opt, "-f") == 0 || strcmp(opt, "--find-links") == 0) && !strstr(val, "://")) {
			cleanup_free char *a = abs_path(dir, val);
			add_pip_arg(c->l, a);
		} else {
			add_pip_arg(c->l, val);
		}
		return 0;
	}
	return pe_err(c->err, c->errlen, "%s:%u: the option %s is not one a lock of pinned wheels takes", name, lineno,
		      opt);
}

/* "NAME[extras] ==V ; marker --hash=sha256:H ..." or "NAME @ URL ; marker --hash=...". */
static int req_line(struct reqctx *c, char *line, const char *name, unsigned lineno, const char *dir)
{
	/* per-requirement options: --hash only */
	char *opts = strstr(line, " --");
	if (!opts)
		opts = strstr(line, "\t--");
	char *hashes[64];
	int nh = 0;
	if (opts) {
		*opts++ = '\0';
		char *save;
		for (char *tok = strtok_r(opts, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			const char *v = NULL;
			if (strncmp(tok, "--hash=", 7) == 0)
				v = tok + 7;
			else if (strcmp(tok, "--hash") == 0)
				v = strtok_r(NULL, " \t", &save);
			else
				return pe_err(c->err, c->errlen, "%s:%u: the option %s is not one a pinned wheel takes", name,
					      lineno, tok);
			if (!v || nh >= 64)
				return pe_err(c->err, c->errlen, "%s:%u: --hash needs ALGO:DIGEST", name, lineno);
			if (strncmp(v, "sha256:", 7) == 0)
				hashes[nh++] = (char *)v + 7;
			else if (!strchr(v, ':'))
				return pe_err(c->err, c->errlen, "%s:%u: --hash %s: expected ALGO:DIGEST", name, lineno, v);
		}
	}
	/* the marker */
	char *marker = NULL;
	char *semi = strchr(line, ';');
	if (semi) {
		*semi = '\0';
		marker = semi + 1;
	}
	/* the name */
	char *p = line + strspn(line, " \t");
	char *ne = p;
	while (*ne && (isalnum((unsigned char)*ne) || *ne == '-' || *ne == '_' || *ne == '.'))
		ne++;
	cleanup_free char *pname = strndup(p, (size_t)(ne - p));
	if (!pname)
		abort();
	if (!spec_valid_name(pname))
		return pe_err(c->err, c->errlen, "%s:%u: expected NAME==VERSION", name, lineno);
	p = ne + strspn(ne, " \t");
	if (*p == '[') {
		char *close = strchr(p, ']');
		if (!close)
			return pe_err(c->err, c->errlen, "%s:%u: an unclosed [extras]", name, lineno);
		p = close + 1 + strspn(close + 1, " \t");
	}
	char *url = NULL, *version = NULL;
	if (*p == '@') {
		p++;
		p += strspn(p, " \t");
		url = p;
		url[strcspn(url, " \t")] = '\0';
		if (!strstr(url, ".whl"))
			return pe_err(c->err, c->errlen, "%s:%u: %s @ %s is not a wheel: pyenvfs composes envs of wheels only",
				      name, lineno, pname, url);
	} else if (strncmp(p, "===", 3) == 0 || (strncmp(p, "==", 2) == 0)) {
		p += p[2] == '=' ? 3 : 2;
		p += strspn(p, " \t");
		version = p;
		size_t n = strcspn(version, " \t");
		if (version[n + strspn(version + n, " \t")])
			return pe_err(c->err, c->errlen, "%s:%u: %s is not pinned to one version with ==", name, lineno,
				      pname);
		version[n] = '\0';
		if (strchr(version, '*') || strchr(version, ','))
			return pe_err(c->err, c->errlen, "%s:%u: %s is not pinned to one version with ==", name, lineno,
				      pname);
	} else {
		return pe_err(c->err, c->errlen, "%s:%u: %s is not pinned with == (a lock names one version of each)",
			      name, lineno, pname);
	}
	if (marker) {
		char merr[256];
		int m = spec_marker(marker, c->env, merr, sizeof merr);
		if (m < 0)
			return pe_err(c->err, c->errlen, "%s:%u: %s: %s", name, lineno, pname, merr + 9);
		if (!m)
			return 0;
	}
	struct lock_package *pk = add_package(c->l);
	pk->line = lineno;
	pk->name = pe_xstrdup(pname);
	pk->norm = spec_normalize_name(pname);
	if (version && set_version(pk, version))
		return pe_err(c->err, c->errlen, "%s:%u: %s: '%s' is not a PEP 440 version", name, lineno, pname, version);
	if (url) {
		struct lock_wheel *w = add_wheel(pk);
		w->url = pe_xstrdup(url);
		w->file = url_file(url);
		w->path = file_url_path(url);
		if (!w->path && !strstr(url, "://"))
			w->path = abs_path(dir, url);
		struct spec_wheel sw;
		if (spec_parse_wheel(w->file, &sw) || set_version(pk, sw.version))
			return pe_err(c->err, c->errlen, "%s:%u: '%s' is not a wheel's file name", name, lineno, w->file);
		if (nh > 1)
			return pe_err(c->err, c->errlen, "%s:%u: one wheel, several hashes", name, lineno);
	}
	for (int i = 0; i < nh; i++) {
		struct lock_wheel *w = url ? &pk->wheels[0] : add_wheel(pk);
		if (set_sha256(w->sha256, hashes[i]))
			return pe_err(c->err, c->errlen, "%s:%u: --hash sha256:%s is not 64 hex digits", name, lineno,
				      hashes[i]);
	}
	if (!pk->nwheels)
		add_wheel(pk);  /* any wheel of NAME==VERSION */
	return check_unique(c->l, name, c->err, c->errlen);
}

static int parse_req_text(struct reqctx *c, const char *text, size_t len, const char *name, const char *dir)
{
	if (memchr(text, '\0', len))
		return pe_err(c->err, c->errlen, "%s: a NUL byte: not a requirements file", name);
	cleanup_free char *copy = strndup(text, len);
	if (!copy)
		abort();
	char *p = copy;
	unsigned lineno = 0;
	while (*p) {
		/* one logical line: physical lines joined where one ends with '\' */
		lineno++;
		unsigned first = lineno;
		size_t cap = 256, n = 0;
		cleanup_free char *line = pe_xmalloc(cap);
		for (;;) {
			size_t k = strcspn(p, "\n");
			char *e = p + k;
			int more = *e == '\n';
			size_t use = k;
			if (use && p[use - 1] == '\r')
				use--;
			int cont = use && p[use - 1] == '\\';
			if (cont)
				use--;
			if (n + use + 2 > cap) {
				cap = (n + use + 2) * 2;
				line = realloc(line, cap);
				if (!line)
					abort();
			}
			memcpy(line + n, p, use);
			n += use;
			line[n] = '\0';
			p = more ? e + 1 : e;
			if (!cont || !more)
				break;
			lineno++;
		}
		/* a comment: '#' at the start or after a blank */
		for (char *h = line; (h = strchr(h, '#')); h++)
			if (h == line || h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				break;
			}
		char *s = line + strspn(line, " \t");
		size_t k = strlen(s);
		while (k && isspace((unsigned char)s[k - 1]))
			s[--k] = '\0';
		if (!*s)
			continue;
		int r = s[0] == '-' ? req_option(c, s, name, first, dir) : req_line(c, s, name, first, dir);
		if (r)
			return -1;
	}
	return 0;
}

int lock_parse_requirements(const char *text, size_t len, const char *name, const char *dir,
			    const struct spec_env *env, lock_reader read, void *arg, struct lock *out, char *err,
			    size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct reqctx c = { env, read, arg, out, err, errlen, 0 };
	if (parse_req_text(&c, text, len, name, dir)) {
		lock_free(out);
		return -1;
	}
	return 0;
}

int lock_is_pylock(const char *path)
{
	const char *b = base_name(path);
	size_t n = strlen(b);
	return n >= 5 && strcmp(b + n - 5, ".toml") == 0;
}

/* ---------------------------------------------------------------- PEP 723 */

int lock_script_block(const char *text, size_t len, const char *name, char **toml, char *err, size_t errlen)
{
	*toml = NULL;
	const char *p = text, *end = text + len;
	unsigned lineno = 0;
	int found = 0;
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
		lineno++;
		size_t m = n && p[n - 1] == '\r' ? n - 1 : n;
		const char *next = e ? e + 1 : end;
		if (!(m == 12 && memcmp(p, "# /// script", 12) == 0)) {
			p = next;
			continue;
		}
		if (found) {
			free(*toml);
			*toml = NULL;
			return pe_err(err, errlen, "%s:%u: a second '# /// script' block", name, lineno);
		}
		found = 1;
		/* the comment lines after it, up to the last '# ///' among them */
		const char *q = next, *close = NULL, *after = NULL;
		while (q < end) {
			const char *qe = memchr(q, '\n', (size_t)(end - q));
			size_t qn = qe ? (size_t)(qe - q) : (size_t)(end - q);
			size_t qm = qn && q[qn - 1] == '\r' ? qn - 1 : qn;
			if (!(qm >= 1 && q[0] == '#' && (qm == 1 || q[1] == ' ')))
				break;
			if (qm == 5 && memcmp(q, "# ///", 5) == 0) {
				close = q;
				after = qe ? qe + 1 : end;
			}
			q = qe ? qe + 1 : end;
		}
		if (!close)
			return pe_err(err, errlen, "%s:%u: the '# /// script' block has no closing '# ///'", name, lineno);
		size_t cap = (size_t)(close - next) + 1, k = 0;
		char *out = pe_xmalloc(cap);
		for (const char *r = next; r < close;) {
			const char *re = memchr(r, '\n', (size_t)(close - r));
			size_t rn = re ? (size_t)(re - r) + 1 : (size_t)(close - r);
			size_t skip = rn >= 2 && r[1] == ' ' ? 2 : 1;
			memcpy(out + k, r + skip, rn - skip);
			k += rn - skip;
			r += rn;
		}
		out[k] = '\0';
		*toml = out;
		p = after;
	}
	return 0;
}

int lock_script_meta(const char *toml, const char *name, char ***deps, size_t *n, char **requires_python, char *err,
		     size_t errlen)
{
	*deps = NULL;
	*n = 0;
	*requires_python = NULL;
	struct toml_value *root = toml_parse(toml, strlen(toml), name, err, errlen);
	if (!root)
		return -1;
	int r = 0;
	const struct toml_value *d = toml_get(root, "dependencies");
	const struct toml_value *rp = toml_get(root, "requires-python");
	if (d && d->type != TOML_ARRAY) {
		r = pe_err(err, errlen, "%s: the script's dependencies is not a list", name);
	} else if (rp && !toml_str(rp)) {
		r = pe_err(err, errlen, "%s: the script's requires-python is not a string", name);
	} else {
		*deps = pe_xcalloc((d ? d->n : 0) + 1, sizeof **deps);
		for (size_t i = 0; d && i < d->n && !r; i++) {
			const char *s = toml_str(d->items[i]);
			if (!s)
				r = pe_err(err, errlen, "%s: a dependency of the script is not a string", name);
			else
				(*deps)[(*n)++] = pe_xstrdup(s);
		}
		if (!r && rp)
			*requires_python = pe_xstrdup(toml_str(rp));
	}
	toml_free(root);
	if (r) {
		for (size_t i = 0; *deps && i < *n; i++)
			free((*deps)[i]);
		free(*deps);
		*deps = NULL;
		*n = 0;
	}
	return r;
}

/* ------------------------------------------------------------- writing */

static void put_toml_string(char **buf, size_t *n, size_t *cap, const char *s)
{
	size_t need = *n + strlen(s) * 6 + 3;
	if (need > *cap) {
		*cap = need * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	char *o = *buf + *n;
	*o++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			*o++ = '\\';
			*o++ = (char)*c;
		} else if (*c < 0x20 || *c == 0x7f) {
			o += sprintf(o, "\\u%04x", *c);
		} else {
			*o++ = (char)*c;
		}
	}
	*o++ = '"';
	*o = '\0';
	*n = (size_t)(o - *buf);
}

static void put(char **buf, size_t *n, size_t *cap, const char *s)
{
	size_t k = strlen(s);
	if (*n + k + 1 > *cap) {
		*cap = (*n + k + 1) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	memcpy(*buf + *n, s, k + 1);
	*n += k;
}

char *lock_to_pylock(const struct lock *l, const char *created_by)
{
	size_t n = 0, cap = 4096;
	char *buf = pe_xmalloc(cap);
	buf[0] = '\0';
	put(&buf, &n, &cap, "lock-version = \"1.0\"\ncreated-by = ");
	put_toml_string(&buf, &n, &cap, created_by);
	put(&buf, &n, &cap, "\n");
	if (l->requires_python) {
		put(&buf, &n, &cap, "requires-python = ");
		put_toml_string(&buf, &n, &cap, l->requires_python);
		put(&buf, &n, &cap, "\n");
	}
	if (!l->n)
		put(&buf, &n, &cap, "packages = []\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct lock_package *p = &l->pkgs[i];
		put(&buf, &n, &cap, "\n[[packages]]\nname = ");
		put_toml_string(&buf, &n, &cap, p->name);
		if (p->version) {
			put(&buf, &n, &cap, "\nversion = ");
			put_toml_string(&buf, &n, &cap, p->version);
		}
		put(&buf, &n, &cap, "\nwheels = [");
		for (size_t k = 0; k < p->nwheels; k++) {
			const struct lock_wheel *w = &p->wheels[k];
			put(&buf, &n, &cap, k ? ",\n  { name = " : "\n  { name = ");
			put_toml_string(&buf, &n, &cap, w->file ? w->file : "");
			if (w->url) {
				put(&buf, &n, &cap, ", url = ");
				put_toml_string(&buf, &n, &cap, w->url);
			} else if (w->path) {
				put(&buf, &n, &cap, ", path = ");
				put_toml_string(&buf, &n, &cap, w->path);
			}
			if (w->sha256[0]) {
				put(&buf, &n, &cap, ", hashes = { sha256 = ");
				put_toml_string(&buf, &n, &cap, w->sha256);
				put(&buf, &n, &cap, " }");
			}
			put(&buf, &n, &cap, " }");
		}
		put(&buf, &n, &cap, "\n]\n");
	}
	return buf;
}
