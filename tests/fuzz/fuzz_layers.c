// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for the pure groundwork of stacked site layers (issue 11):
 * dist (metadata directory names, RECORD and installed-files.txt parsing,
 * path resolution, the shadow rule), whiteout (record paths and targets),
 * merge (lookup against listing), shebang (plan and read mapping) and
 * pycache (which names are bytecode).
 * Built by tests/fuzz/run.sh as fuzz_layers. Every part sees the same input;
 * an invariant that does not hold aborts with a line saying which. */
#include "dist.h"
#include "merge.h"
#include "pycache.h"
#include "shebang.h"
#include "whiteout.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 8192

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: invariant violated: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

#define REQUIRE(cond, detail)                                                   \
	do {                                                                    \
		if (!(cond))                                                    \
			fail(#cond, detail);                                    \
	} while (0)

static const char *const sites[] = { "lib/python3.11/site-packages", "local/lib/python3.11/dist-packages" };

/* Every resolved path is a clean area path: what the shadow set compares. */
static int check_resolved(const char *path, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 2; i++) {
		struct dist_file f;
		if (dist_resolve(sites[i], NULL, path, &f))
			continue;
		REQUIRE(f.path && *f.path, path);
		REQUIRE(wh_check_path(f.path) == 0 || strlen(f.path) > 255, f.path);
		REQUIRE(f.area == DIST_AREA_SITE || f.area == DIST_AREA_PREFIX, path);
		free(f.path);
	}
	return 0;
}

static void fuzz_dist_parsing(const char *s, size_t n)
{
	dist_record_each(s, n, check_resolved, NULL);
	dist_lines_each(s, n, check_resolved, NULL);

	struct dist_id id;
	char key[DIST_NAME_MAX];
	if (dist_parse_entry(s, &id) == 0) {
		REQUIRE(id.name[0] && !strchr(id.name, '-'), s);
		if (dist_normalize(id.name, key, sizeof key) == 0) {
			REQUIRE(!strstr(key, "--") && !strchr(key, '_') && !strchr(key, '.'), key);
			for (const char *p = key; *p; p++)
				REQUIRE(*p < 'A' || *p > 'Z', key);
			char again[DIST_NAME_MAX];
			REQUIRE(dist_normalize(key, again, sizeof again) == 0 && strcmp(key, again) == 0, key);
		}
	}
}

/* Three layers whose metadata directories and RECORDs come from the input's
 * lines: "L NAME" adds a distribution to layer L (0-2), "rL NAME" removes
 * one, any other line is a RECORD line of the last distribution added. */
static void fuzz_dist_shadow(const char *s)
{
	struct dist_layer L[3];
	memset(L, 0, sizeof L);
	char *copy = strdup(s), *save = NULL;
	long cur_layer = -1;
	size_t cur = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] >= '0' && line[0] <= '2' && line[1] == ' ') {
			size_t idx;
			if (dist_layer_add(&L[line[0] - '0'], line + 2, &idx) == 0) {
				cur_layer = line[0] - '0';
				cur = idx;
			}
		} else if (line[0] == 'r' && line[1] >= '0' && line[1] <= '2' && line[2] == ' ') {
			dist_layer_remove(&L[line[1] - '0'], line + 3);
		} else if (cur_layer >= 0 && line[0] == 't' && line[1] == ' ') {
			/* an egg-info without a file list: its top_level.txt */
			dist_layer_add_top_level(&L[cur_layer], cur, line + 2, strlen(line + 2), "ns", 2);
		} else if (cur_layer >= 0) {
			dist_layer_add_record(&L[cur_layer], cur, sites[cur_layer & 1], line, strlen(line));
		}
	}
	struct dist_shadow sh;
	dist_shadow_build(L, 3, &sh);
	for (size_t l = 0; l < 3; l++) {
		for (size_t i = 1; i < sh.nhidden[l]; i++)
			REQUIRE(sh.hidden[l][i - 1].area < sh.hidden[l][i].area ||
					(sh.hidden[l][i - 1].area == sh.hidden[l][i].area &&
					 strcmp(sh.hidden[l][i - 1].path, sh.hidden[l][i].path) < 0),
				"hidden set not sorted and unique");
		for (size_t i = 0; i < L[l].ndists; i++) {
			int lost = dist_shadowed(L, 3, l, i);
			/* A winner's metadata directory always shows; a loser's never. */
			REQUIRE(dist_shadow_hides(&sh, l, DIST_AREA_SITE, L[l].dists[i].entry) == lost,
				L[l].dists[i].entry);
			REQUIRE(!lost || dist_layer_needs_records(L, 3, l), L[l].dists[i].entry);
			/* Nothing in a winner's metadata directory is hidden. */
			size_t elen = strlen(L[l].dists[i].entry);
			for (size_t h = 0; !lost && h < sh.nhidden[l]; h++)
				REQUIRE(sh.hidden[l][h].area != DIST_AREA_SITE ||
						strncmp(sh.hidden[l][h].path, L[l].dists[i].entry, elen) != 0 ||
						(sh.hidden[l][h].path[elen] != '/' && sh.hidden[l][h].path[elen] != '\0'),
					sh.hidden[l][h].path);
		}
	}
	REQUIRE(sh.nhidden[0] == 0 || L[0].ndists, "the top layer hides only what it holds");
	dist_shadow_free(&sh);
	for (size_t l = 0; l < 3; l++)
		dist_layer_free(&L[l]);
	free(copy);
}

static void fuzz_whiteout(const char *s, size_t n)
{
	struct wh_record rec;
	char path[8192];
	int r = wh_decode(S_IFLNK | 0777, s, n, &rec);
	REQUIRE(rec.kind == WH_HIDE, "a record (damaged or not) hides");
	(void)r;
	if (wh_record_path(WH_AREA_SITE, "", s, path, sizeof path) == 0)
		REQUIRE(wh_check_path(path) == 0, path);
	if (wh_node_path(WH_AREA_SITE, s, path, sizeof path) == 0)
		REQUIRE(wh_check_path(path) == 0 && strncmp(path, WH_ROOT "/site", strlen(WH_ROOT "/site")) == 0, path);
	if (wh_record_path(WH_AREA_UPPER, s, "x", path, sizeof path) == 0)
		REQUIRE(wh_check_path(path) == 0 && strncmp(path, WH_ROOT "/upper/", strlen(WH_ROOT "/upper/")) == 0, path);
}

/* Up to 4 layers x 4 names of probes from the input's bytes: the lookup of
 * each name agrees with the merged listing. */
static void fuzz_merge(const uint8_t *d, size_t n)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	enum { NL = 4, NN = 4 };
	struct merge_probe pr[NL][NN];
	struct merge_entry ents[NL][NN];
	const char *hides[NL][NN];
	struct merge_dir_layer dirs[NL];
	for (size_t l = 0; l < NL; l++) {
		dirs[l] = (struct merge_dir_layer){ l, ents[l], 0, hides[l], 0 };
		for (size_t k = 0; k < NN; k++) {
			uint8_t b = n ? d[(l * NN + k) % n] : 0;
			struct merge_probe *p = &pr[l][k];
			p->obj = (enum merge_obj)(b % 3);
			p->record = (b >> 2) & 1 ? WH_HIDE : WH_NONE;
			p->shadowed = (b >> 3) & 1;
			if (p->obj != MERGE_ABSENT && !p->shadowed)
				ents[l][dirs[l].nents++] =
					(struct merge_entry){ names[k], p->obj == MERGE_DIR ? DT_DIR : DT_REG };
			if (p->record == WH_HIDE)
				hides[l][dirs[l].nhides++] = names[k];
		}
	}
	struct merge_out *out;
	size_t nout;
	REQUIRE(merge_list(dirs, NL, &out, &nout) == 0, NULL);
	for (size_t k = 0; k < NN; k++) {
		struct merge_state s;
		merge_begin(&s);
		for (size_t l = 0; l < NL; l++)
			if (merge_feed(&s, l, &pr[l][k]) != 1)
				break;
		const struct merge_out *o = NULL;
		for (size_t i = 0; i < nout; i++)
			if (strcmp(out[i].name, names[k]) == 0)
				o = &out[i];
		REQUIRE(s.found == (o != NULL), names[k]);
		REQUIRE(!o || (o->layer == s.top && (o->type == DT_DIR) == s.is_dir), names[k]);
	}
	free(out);
}

static void fuzz_shebang(const char *s, size_t n)
{
	static const char *const roots[] = { "/old", "/old mount", "" };
	static const struct shebang_match m[] = { { roots, 3, 0 }, { NULL, 0, 1 } };
	static const char *const mounts[] = { "/m", "/new mount" };
	size_t head = n < SHEBANG_HEAD ? n : SHEBANG_HEAD;
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < 2; j++) {
			struct shebang_edit e;
			int r = shebang_plan(s, head, &m[i], mounts[j], &e);
			REQUIRE(r == 0 || r == 1, "plan");
			if (r != 1)
				continue;
			REQUIRE(e.off + e.old_len <= head && e.new_len < sizeof e.text, "edit out of the head");
			/* The pieces of a whole read are the file spliced by hand. */
			off_t size = shebang_size(&e, (off_t)n);
			REQUIRE(size >= 0, "size");
			char *want = malloc((size_t)size + 1), *got = malloc((size_t)size + 1);
			memcpy(want, s, e.off);
			memcpy(want + e.off, e.text, e.new_len);
			memcpy(want + e.off + e.new_len, s + e.off + e.old_len, n - e.off - e.old_len);
			struct shebang_piece p[3];
			size_t at = 0;
			for (off_t off = 0; off < size;) {
				int np = shebang_map(&e, (off_t)n, off, 7, p);
				REQUIRE(np >= 1 && np <= 3, "pieces");
				for (int k = 0; k < np; k++) {
					REQUIRE(p[k].pos >= 0, "piece position");
					if (p[k].from_text)
						REQUIRE((size_t)p[k].pos + p[k].n <= e.new_len, "text piece");
					else
						REQUIRE((size_t)p[k].pos + p[k].n <= n, "file piece");
					memcpy(got + at, p[k].from_text ? e.text + p[k].pos : s + p[k].pos, p[k].n);
					at += p[k].n;
					off += (off_t)p[k].n;
				}
			}
			REQUIRE(at == (size_t)size && memcmp(got, want, at) == 0, "mapped read");
			REQUIRE(strncmp(want, "#!", 2) == 0, "not a script any more");
			/* Planned again on what it shows: nothing more to do. */
			REQUIRE(shebang_plan(want, (size_t)size < SHEBANG_HEAD ? (size_t)size : SHEBANG_HEAD, &m[i],
					     mounts[j], &e) == 0, "not idempotent");
			free(want);
			free(got);
		}
	}
}

/* "DIR-NAME\nNAME": only bytecode names, and clean paths, come out. */
static void fuzz_pycache(const char *s)
{
	char *copy = strdup(s);
	char *nl = strchr(copy, '\n');
	const char *dir = nl ? copy : "__pycache__", *name = nl ? nl + 1 : copy;
	if (nl)
		*nl = '\0';
	for (int legacy = 0; legacy < 2; legacy++) {
		enum pycache_name k = pycache_classify(dir, name, legacy);
		if (k == PYCACHE_NO)
			continue;
		REQUIRE(wh_check_name(name) == 0, name);
		size_t n = strlen(name);
		if (k == PYCACHE_DIR)
			REQUIRE(strcmp(name, "__pycache__") == 0, name);
		else
			REQUIRE(strstr(name, ".pyc") || (legacy && n > 4 && strcmp(name + n - 4, ".pyo") == 0), name);
	}
	char out[8192];
	if (pycache_area_path("base-0123456789abcdef", s, out, sizeof out) == 0)
		REQUIRE(wh_check_path(out) == 0, out);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_dist_parsing(s, size);
	fuzz_dist_shadow(s);
	fuzz_whiteout(s, size);
	fuzz_merge(data, size);
	fuzz_shebang(s, size);
	fuzz_pycache(s);
	free(s);
	return 0;
}
