// SPDX-License-Identifier: GPL-2.0-or-later
/* The pure layer modules on real files, for tests/test_layers_pure.py, which
 * checks them against Python's own csv module, package metadata and pip's
 * console scripts. Output fields end with NUL bytes (paths may hold
 * anything else).
 *
 *   layers_tool record FILE SITE_REL     per RECORD path: raw, area ("site",
 *                                        "prefix" or "-"), resolved ("" if "-")
 *   layers_tool entry NAME...            per name: name, version, normalized key
 *                                        ("-" three times if not a metadata dir)
 *   layers_tool shebang FILE MOUNT [--any | ROOT...]
 *                                        the file as shown, on stdout; exit 0 if
 *                                        rewritten, 3 if left alone, 2 on error
 *   layers_tool pyc DIR-NAME NAME [legacy]
 *                                        what creating NAME in a directory called
 *                                        DIR-NAME is: "no", "dir" or "file"
 *   layers_tool tree L0 L1...            the merged site area of the layers (top
 *                                        first), with their records: per path,
 *                                        its type (d, f, l) and layer, sorted */
#include "dist.h"
#include "merge.h"
#include "pycache.h"
#include "records.h"
#include "shebang.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap);
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

static void field(const char *s)
{
	fwrite(s, 1, strlen(s) + 1, stdout);
}

static int print_resolved(const char *path, void *arg)
{
	struct dist_file f;
	field(path);
	if (dist_resolve(arg, NULL, path, &f) == 0) {
		field(f.area == DIST_AREA_SITE ? "site" : "prefix");
		field(f.path);
		free(f.path);
	} else {
		field("-");
		field("");
	}
	return 0;
}

static int cmd_record(int argc, char **argv)
{
	size_t len;
	char *buf = argc == 2 ? slurp(argv[0], &len) : NULL;
	if (!buf)
		return 2;
	int r = dist_record_each(buf, len, print_resolved, argv[1]);
	free(buf);
	return r ? 2 : 0;
}

static int cmd_entry(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		struct dist_id id;
		char key[DIST_NAME_MAX];
		if (dist_parse_entry(argv[i], &id) || dist_normalize(id.name, key, sizeof key)) {
			field("-");
			field("-");
			field("-");
			continue;
		}
		field(id.name);
		field(id.version);
		field(key);
	}
	return 0;
}

static int cmd_shebang(int argc, char **argv)
{
	size_t len;
	char *buf = argc >= 2 ? slurp(argv[0], &len) : NULL;
	if (!buf)
		return 2;
	struct shebang_match m = { (const char *const *)argv + 2, (size_t)argc - 2, 0 };
	if (argc == 3 && strcmp(argv[2], "--any") == 0)
		m = (struct shebang_match){ NULL, 0, 1 };
	static struct shebang_edit e;
	int r = shebang_plan(buf, len < SHEBANG_HEAD ? len : SHEBANG_HEAD, &m, argv[1], &e);
	if (r == 1) {
		fwrite(buf, 1, e.off, stdout);
		fwrite(e.text, 1, e.new_len, stdout);
		fwrite(buf + e.off + e.old_len, 1, len - e.off - e.old_len, stdout);
	}
	free(buf);
	return r == 1 ? 0 : r == 0 ? 3 : 2;
}

#define TOOL_MAX_LAYERS 64
static int tops[TOOL_MAX_LAYERS];
static size_t ntops;

/* The entries of dir in layer l (none if it has no such directory), and the
 * names its records hide below it; malloc'ed, the caller frees. */
static void layer_dir(size_t l, const char *dir, struct merge_entry **ents, size_t *nents, char ***hides,
		      size_t *nhides)
{
	*ents = NULL;
	*nents = *nhides = 0;
	*hides = NULL;
	int fd = *dir ? openat(tops[l], dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		      : openat(tops[l], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || (!*dir && !strcmp(e->d_name, ".pyenvfs")))
			continue;
		struct stat st;
		fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW);
		*ents = realloc(*ents, (*nents + 1) * sizeof **ents);
		(*ents)[(*nents)++] = (struct merge_entry){ strdup(e->d_name),
							    S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG };
	}
	if (d)
		closedir(d);
	char node[8192];
	if (wh_node_path(WH_AREA_SITE, dir, node, sizeof node))
		return;
	strcat(node, "/" WH_SUB);
	fd = openat(tops[l], node, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	while (d && (e = readdir(d))) {
		struct wh_record rec;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    records_read(tops[l], WH_AREA_SITE, dir, e->d_name, &rec) ||
		    rec.kind != WH_HIDE)
			continue;
		*hides = realloc(*hides, (*nhides + 1) * sizeof **hides);
		(*hides)[(*nhides)++] = strdup(e->d_name);
	}
	if (d)
		closedir(d);
}

/* What layer l holds at path. */
static struct merge_probe probe(size_t l, const char *dir, const char *name)
{
	char path[8192];
	struct stat st;
	struct wh_record rec;
	struct merge_probe p = { MERGE_ABSENT, WH_NONE, 0 };
	snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", name);
	if (fstatat(tops[l], path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		p.obj = S_ISDIR(st.st_mode) ? MERGE_DIR : MERGE_OTHER;
	if (records_read(tops[l], WH_AREA_SITE, dir, name, &rec) == 0)
		p.record = rec.kind;
	return p;
}

/* Prints the merged directory dir made of layers[0..n) and all below it. */
static void print_tree(const char *dir, const size_t *layers, size_t n)
{
	struct merge_dir_layer dl[TOOL_MAX_LAYERS] = { { 0 } };
	char **hides[TOOL_MAX_LAYERS];
	struct merge_entry *ents[TOOL_MAX_LAYERS];
	for (size_t i = 0; i < n; i++) {
		size_t ne, nh;
		layer_dir(layers[i], dir, &ents[i], &ne, &hides[i], &nh);
		dl[i] = (struct merge_dir_layer){ layers[i], ents[i], ne, (const char *const *)hides[i], nh };
	}
	struct merge_out *out;
	size_t nout;
	if (merge_list(dl, n, &out, &nout) == 0) {
		for (size_t i = 0; i < nout; i++) {
			char path[8192];
			snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", out[i].name);
			printf("%s\t%c\t%zu\n", path, out[i].type == DT_DIR ? 'd' : out[i].type == DT_LNK ? 'l' : 'f',
			       out[i].layer);
			if (out[i].type != DT_DIR)
				continue;
			/* The lookup of the directory: which of the layers merge into it. */
			struct merge_state s;
			size_t merged[TOOL_MAX_LAYERS], nm = 0;
			merge_begin(&s);
			for (size_t k = 0; k < n; k++) {
				struct merge_probe p = probe(layers[k], dir, out[i].name);
				int more = merge_feed(&s, layers[k], &p);
				if (s.merged)
					merged[nm++] = layers[k];
				if (more != 1)
					break;
			}
			print_tree(path, merged, nm);
		}
		free(out);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < dl[i].nents; j++)
			free((char *)ents[i][j].name);
		free(ents[i]);
		for (size_t j = 0; j < dl[i].nhides; j++)
			free(hides[i][j]);
		free(hides[i]);
	}
}

static int cmd_tree(int argc, char **argv)
{
	size_t layers[TOOL_MAX_LAYERS];
	if (argc < 1 || argc > TOOL_MAX_LAYERS)
		return 2;
	for (int i = 0; i < argc; i++) {
		tops[i] = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tops[i] < 0)
			return 2;
		layers[i] = (size_t)i;
	}
	ntops = (size_t)argc;
	print_tree("", layers, ntops);
	return 0;
}

static int cmd_pyc(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	enum pycache_name k = pycache_classify(argv[0], argv[1], argc > 2 && strcmp(argv[2], "legacy") == 0);
	puts(k == PYCACHE_DIR ? "dir" : k == PYCACHE_FILE ? "file" : "no");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "pyc") == 0)
		return cmd_pyc(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "tree") == 0)
		return cmd_tree(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "record") == 0)
		return cmd_record(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "entry") == 0)
		return cmd_entry(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "shebang") == 0)
		return cmd_shebang(argc - 2, argv + 2);
	fprintf(stderr, "usage: layers_tool record FILE SITE_REL | entry NAME... | shebang FILE MOUNT [--any | ROOT...] | pyc DIR-NAME NAME [legacy] | tree L0 L1...\n");
	return 2;
}
