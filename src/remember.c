// SPDX-License-Identifier: GPL-2.0-or-later
/* A mount and what DIR remembers; pyenvfs clone (remember.h). */
#include "remember.h"
#include "envfile.h"
#include "util.h"
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "--lower-site 'A' --lower-site 'B'" (cut short if long), for messages. */
static char *layer_words(char **layers, size_t n)
{
	char *s = pe_xstrdup("");
	for (size_t i = 0; i < n; i++) {
		if (strlen(s) > 600) {
			char *next = pe_xasprintf("%s ...", s);
			free(s);
			return next;
		}
		char *next = pe_xasprintf("%s%s--lower-site '%s'", s, i ? " " : "", layers[i]);
		free(s);
		s = next;
	}
	return s;
}

static int given(const struct pe_opts *o, const char *layer)
{
	for (size_t i = 0; i < o->nlower_sites; i++) {
		cleanup_free char *real = realpath(o->lower_sites[i], NULL);
		if (real && strcmp(real, layer) == 0)
			return 1;
	}
	return 0;
}

int remember_apply(struct pe_opts *o, struct envrec *rec, char *err, size_t len)
{
	memset(rec, 0, sizeof *rec);
	cleanup_free char *site = path_resolve_nearest(o->site);
	if (!site)
		return 0;               /* check_paths says why */
	int has = envfile_load(site, "DIR", rec, err, len);
	if (has <= 0 || o->restack)
		return has;
	cleanup_free char *words = layer_words(rec->layers, rec->nlayers);
	for (size_t i = 0; i < rec->nlayers; i++) {
		struct stat st;
		const char *why = stat(rec->layers[i], &st) ? strerror(errno)
				  : S_ISDIR(st.st_mode) ? NULL : "not a directory";
		if (why)
			return pe_err(err, len, "DIR '%s' was made over --lower-site '%s', which is not there now (%s): "
				      "mount that layer there again, or stack DIR over others with --restack", site,
				      rec->layers[i], why);
	}
	if (o->nlower_sites == 0) {
		for (size_t i = 0; i < rec->nlayers; i++) {
			o->lower_sites = realloc(o->lower_sites, (o->nlower_sites + 1) * sizeof *o->lower_sites);
			if (!o->lower_sites)
				abort();
			o->lower_sites[o->nlower_sites++] = pe_xstrdup(rec->layers[i]);
		}
	} else {
		for (size_t i = 0; i < rec->nlayers; i++)
			if (!given(o, rec->layers[i]))
				return pe_err(err, len, "DIR '%s' was made over %s: give them all (or no --lower-site: DIR "
					      "remembers them), or add --restack to stack it over the layers given instead",
					      site, words);
	}
	if (rec->with_pip)
		o->with_pip = 1;
	return 1;
}

int remember_check(const struct envrec *rec, const struct pe_paths *p, size_t nlayers, const char *xy,
		   const char *soabi, char *err, size_t len)
{
	if (rec->xy[0] && strcmp(rec->xy, xy) != 0)
		return pe_err(err, len, "DIR '%s' was made for Python %s%s%s%s, not %s: mount it over a base with Python %s, "
			      "or use another DIR", p->site, rec->xy, rec->base ? " (over BASE '" : "",
			      rec->base ? rec->base : "", rec->base ? "')" : "", xy, rec->xy);
	if (rec->abi[0] && soabi[0] && strcmp(rec->abi, soabi) != 0)
		return pe_err(err, len, "DIR '%s' was made for %s, and BASE '%s' is %s: its compiled packages would not "
			      "load; mount it over a base of %s", p->site, rec->abi, p->base, soabi, rec->abi);
	for (size_t i = 0; i < nlayers && i < p->nlower; i++) {
		struct envrec lr;
		int has = envfile_load(p->lower[i], "--lower-site", &lr, err, len);
		if (has < 0)
			return -1;
		if (!has)
			continue;
		int r = 0;
		if (lr.xy[0] && strcmp(lr.xy, xy) != 0)
			r = pe_err(err, len, "--lower-site '%s' is for Python %s%s%s%s, not %s (BASE '%s'): give a layer made "
				   "for Python %s", p->lower[i], lr.xy, lr.abi[0] ? " (" : "", lr.abi, lr.abi[0] ? ")" : "",
				   xy, p->base, xy);
		else if (lr.abi[0] && soabi[0] && strcmp(lr.abi, soabi) != 0)
			r = pe_err(err, len, "--lower-site '%s' is for %s, and BASE '%s' is %s: give a layer made for %s",
				   p->lower[i], lr.abi, p->base, soabi, soabi);
		envrec_free(&lr);
		if (r)
			return r;
	}
	return 0;
}

void remember_store(int site, int reserved, uid_t uid, gid_t gid, const struct envrec *now, const char *mountpoint,
		    int write, char ***roots, size_t *nroots)
{
	*roots = NULL;
	*nroots = 0;
	cleanup_free char *text = envrec_format(now);
	cleanup_free char *old = envfile_read(site, ENVREC_FILE);
	if (write && text && (!old || strcmp(old, text) != 0))
		(void)envfile_write(reserved, ENVREC_FILE, text, uid, gid);
	cleanup_free char *mounts = envfile_read(site, ENVREC_MOUNTS_FILE);
	cleanup_free char *added = write ? envrec_mounts_add(mounts, mountpoint, ENVREC_MOUNTS_MAX) : NULL;
	if (added)
		(void)envfile_write(reserved, ENVREC_MOUNTS_FILE, added, uid, gid);
	size_t n;
	char **all = envrec_mounts_parse(added ? added : mounts, &n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i], mountpoint) == 0) {
			free(all[i]);
			continue;
		}
		all[(*nroots)++] = all[i];
	}
	*roots = all;
	if (!*nroots) {
		free(all);
		*roots = NULL;
	}
}

/* --- pyenvfs clone ----------------------------------------------------- */

static void clone_usage(FILE *f)
{
	fputs("usage: pyenvfs clone SRC_DIR DST_DIR\n"
	      "\n"
	      "Makes DST_DIR a clone of the env whose DIR is SRC_DIR, without copying\n"
	      "anything: DST_DIR remembers SRC_DIR as its top layer, over SRC_DIR's own\n"
	      "layers (and pip layer), with SRC_DIR's base and Python X.Y. Mount it as\n"
	      "any DIR (pyenvfs BASE MOUNTPOINT --site DST_DIR; no --lower-site needed),\n"
	      "or run in it (pyenvfs run --site DST_DIR -- CMD). What the clone installs\n"
	      "or removes stays in DST_DIR; SRC_DIR is never written through it.\n"
	      "SRC_DIR must remember how it was made: mount it once first.\n", f);
}

int clone_main(int argc, char **argv)
{
	const char *src = NULL, *dst = NULL;
	char err[2048];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			clone_usage(stdout);
			return 0;
		}
		if (a[0] == '-' && a[1]) {
			fprintf(stderr, "pyenvfs: clone: unknown option '%s' (see pyenvfs clone --help)\n", a);
			return 1;
		}
		if (!src)
			src = a;
		else if (!dst)
			dst = a;
		else {
			fprintf(stderr, "pyenvfs: clone: unexpected argument '%s': usage: pyenvfs clone SRC_DIR DST_DIR\n", a);
			return 1;
		}
	}
	if (!dst) {
		fprintf(stderr, "pyenvfs: clone: missing %s: usage: pyenvfs clone SRC_DIR DST_DIR\n",
			src ? "DST_DIR" : "SRC_DIR and DST_DIR");
		return 1;
	}
	cleanup_free char *rsrc = realpath(src, NULL);
	struct stat st;
	if (!rsrc || stat(rsrc, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pyenvfs: clone: SRC_DIR '%s' %s\n", src,
			!rsrc ? strerror(errno) : "is not a directory");
		return 1;
	}
	struct envrec rec;
	int has = envfile_load(rsrc, "clone: SRC_DIR", &rec, err, sizeof err);
	if (has < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!has || !rec.base || !rec.xy[0]) {
		fprintf(stderr, "pyenvfs: clone: SRC_DIR '%s' does not remember how it was made: mount it once "
			"(pyenvfs BASE MOUNTPOINT --site '%s'), or stack it by hand with --lower-site\n", rsrc, rsrc);
		envrec_free(&rec);
		return 1;
	}
	cleanup_free char *rdst = path_resolve_nearest(dst);
	char *text = NULL, *mk = NULL;  /* freed at out: a goto must not skip a cleanup variable */
	int r = 1;
	if (!rdst) {
		fprintf(stderr, "pyenvfs: clone: DST_DIR '%s': %s\n", dst, strerror(errno));
		goto out;
	}
	if (path_is_within(rdst, rsrc) || path_is_within(rsrc, rdst)) {
		fprintf(stderr, "pyenvfs: clone: DST_DIR '%s' and SRC_DIR '%s' are one inside the other\n", rdst, rsrc);
		goto out;
	}
	for (size_t i = 0; i < rec.nlayers; i++)
		if (path_is_within(rdst, rec.layers[i]) || path_is_within(rec.layers[i], rdst)) {
			fprintf(stderr, "pyenvfs: clone: DST_DIR '%s' and SRC_DIR's layer '%s' are one inside the other\n",
				rdst, rec.layers[i]);
			goto out;
		}
	if (stat(rdst, &st) == 0) {
		DIR *d = S_ISDIR(st.st_mode) ? opendir(rdst) : NULL;
		int empty = d != NULL;
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = 0;
		if (d)
			closedir(d);
		if (!empty) {
			fprintf(stderr, "pyenvfs: clone: DST_DIR '%s' exists and is not an empty directory\n", rdst);
			goto out;
		}
	}
	/* DST remembers SRC over SRC's layers; the rest as SRC. */
	struct envrec dr = { 0 };
	dr.base = pe_xstrdup(rec.base);
	memcpy(dr.xy, rec.xy, sizeof dr.xy);
	memcpy(dr.abi, rec.abi, sizeof dr.abi);
	dr.with_pip = rec.with_pip;
	envrec_add_layer(&dr, rsrc);
	for (size_t i = 0; i < rec.nlayers; i++)
		envrec_add_layer(&dr, rec.layers[i]);
	text = envrec_format(&dr);
	envrec_free(&dr);
	mk = pe_xasprintf("%s/%s", rdst, VIEW_RESERVED);
	/* made as the caller, with the missing parents (mkdir -p) */
	for (char *p = mk + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(mk, 0755) && errno != EEXIST) {
			fprintf(stderr, "pyenvfs: clone: cannot make '%s': %s\n", mk, strerror(errno));
			goto out;
		}
		*p = c;
		if (!c)
			break;
	}
	int res = text ? open(mk, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	int w = res < 0 ? -errno : envfile_write(res, ENVREC_FILE, text, geteuid(), getegid());
	if (res >= 0)
		close(res);
	if (w) {
		fprintf(stderr, "pyenvfs: clone: cannot write '%s/%s': %s\n", mk, ENVREC_FILE,
			text ? strerror(-w) : "a path has a newline");
		goto out;
	}
	r = 0;
out:
	free(text);
	free(mk);
	envrec_free(&rec);
	return r;
}
