// SPDX-License-Identifier: GPL-2.0-or-later
/* What the "a distribution wins as a whole" index costs on real site
 * directories (docs/LAYERS.md): the directories given are stacked as layers,
 * top first, and each round does what a mount (or a refresh) would do:
 * one readdir of each layer's top, the metadata directory names parsed, the
 * RECORD files of the layers that need them read, and the shadow sets built.
 *
 *   build/bench_dist_index [-n ROUNDS] SITE-DIR [SITE-DIR...]
 *   e.g. build/bench_dist_index $(python3 -c 'import site; print(site.getsitepackages()[0])') same-again
 *
 * Prints the median and the smallest time of a round (whole-process figures
 * are for tests/bench; this is a microbenchmark, never asserted on). */
#include "dist.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file_at(int dfd, const char *path, size_t *len)
{
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf && (r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	*len = n;
	return buf;
}

/* One layer's names: one readdir of its top. */
static void scan_layer(int dfd, struct dist_layer *l)
{
	int fd = dup(dfd);
	DIR *d = fdopendir(fd);
	struct dirent *e;
	if (d)
		rewinddir(d);   /* the dup shares the offset of the last round's */
	while (d && (e = readdir(d)))
		dist_layer_add(l, e->d_name, NULL);
	if (d)
		closedir(d);
}

static void read_records(int dfd, struct dist_layer *l, size_t *files, size_t *bytes)
{
	for (size_t i = 0; i < l->ndists; i++) {
		char path[600];
		struct dist_id id;
		dist_parse_entry(l->dists[i].entry, &id);
		snprintf(path, sizeof path, "%s/%s", l->dists[i].entry,
			 id.kind == DIST_INFO ? "RECORD" : "installed-files.txt");
		size_t len;
		char *buf = read_file_at(dfd, path, &len);
		if (!buf)
			continue;
		dist_layer_add_record(l, i, "lib/python3/site-packages", buf, len);
		(*files)++;
		*bytes += len;
		free(buf);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = 50, first = 1;
	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		rounds = atoi(argv[2]);
		first = 3;
	}
	size_t n = (size_t)(argc - first);
	if (n < 1 || rounds < 1) {
		fprintf(stderr, "usage: %s [-n ROUNDS] SITE-DIR [SITE-DIR...]\n", argv[0]);
		return 2;
	}
	int *fds = calloc(n, sizeof *fds);
	for (size_t i = 0; i < n; i++) {
		fds[i] = open(argv[first + i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0) {
			perror(argv[first + i]);
			return 2;
		}
	}
	double *t = calloc((size_t)rounds, sizeof *t), *tr = calloc((size_t)rounds, sizeof *tr);
	size_t dists = 0, shadowed = 0, hidden = 0, files = 0, bytes = 0;
	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		struct dist_layer *L = calloc(n, sizeof *L);
		for (size_t i = 0; i < n; i++)
			scan_layer(fds[i], &L[i]);
		files = bytes = 0;
		double t1 = now();
		for (size_t i = 0; i < n; i++)
			if (dist_layer_needs_records(L, n, i))
				read_records(fds[i], &L[i], &files, &bytes);
		tr[r] = now() - t1;
		struct dist_shadow s;
		dist_shadow_build(L, n, &s);
		t[r] = now() - t0;
		dists = shadowed = hidden = 0;
		for (size_t i = 0; i < n; i++) {
			dists += L[i].ndists;
			for (size_t j = 0; j < L[i].ndists; j++)
				shadowed += (size_t)dist_shadowed(L, n, i, j);
			hidden += s.nhidden[i];
		}
		dist_shadow_free(&s);
		for (size_t i = 0; i < n; i++)
			dist_layer_free(&L[i]);
		free(L);
	}
	qsort(t, (size_t)rounds, sizeof *t, cmp_double);
	qsort(tr, (size_t)rounds, sizeof *tr, cmp_double);
	printf("%zu layers, %zu distributions, %zu shadowed; %zu RECORD files read (%zu bytes); %zu paths hidden\n",
	       n, dists, shadowed, files, bytes, hidden);
	printf("per round (%d rounds): median %.3f ms, min %.3f ms; of which reading and parsing RECORDs: median %.3f ms\n",
	       rounds, t[rounds / 2] * 1e3, t[0] * 1e3, tr[rounds / 2] * 1e3);
	return 0;
}
