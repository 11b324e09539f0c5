// SPDX-License-Identifier: GPL-2.0-or-later
/* What a DIR remembers of itself: the text of .pyenvfs/env and .pyenvfs/mounts. Pure. */
#include "envrec.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENVREC_HEADER "# pyenvfs: how this env was made (docs/LAYERS.md); one key and value a line\n"

static int valid_xy(const char *v)
{
	const char *dot = strchr(v, '.');
	if (!dot || dot == v || !dot[1] || strlen(v) >= 16)
		return 0;
	for (const char *p = v; *p; p++)
		if (p != dot && (*p < '0' || *p > '9'))
			return 0;
	return 1;
}

static int valid_abi(const char *v)
{
	if (!*v || strlen(v) >= 64)
		return 0;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}

void envrec_add_layer(struct envrec *r, const char *layer)
{
	r->layers = realloc(r->layers, (r->nlayers + 1) * sizeof *r->layers);
	if (!r->layers)
		abort();
	r->layers[r->nlayers++] = pe_xstrdup(layer);
}

static int parse_line(char *line, struct envrec *r, char *err, size_t len)
{
	if (!*line || *line == '#')
		return 0;
	char *sp = strchr(line, ' ');
	if (!sp)
		return pe_err(err, len, "'%s': expected a key and a value", line);
	*sp = '\0';
	const char *k = line, *v = sp + 1;
	if (strcmp(k, "base") == 0) {
		if (v[0] != '/')
			return pe_err(err, len, "base '%s': expected an absolute path", v);
		free(r->base);
		r->base = pe_xstrdup(v);
	} else if (strcmp(k, "python") == 0) {
		if (!valid_xy(v))
			return pe_err(err, len, "python '%s': expected a version like 3.11", v);
		snprintf(r->xy, sizeof r->xy, "%s", v);
	} else if (strcmp(k, "abi") == 0) {
		if (!valid_abi(v))
			return pe_err(err, len, "abi '%s': expected a tag like cpython-311-x86_64-linux-gnu", v);
		snprintf(r->abi, sizeof r->abi, "%s", v);
	} else if (strcmp(k, "layer") == 0) {
		if (v[0] != '/')
			return pe_err(err, len, "layer '%s': expected an absolute path", v);
		envrec_add_layer(r, v);
	} else if (strcmp(k, "with_pip") == 0) {
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return pe_err(err, len, "with_pip '%s': expected yes or no", v);
		r->with_pip = strcmp(v, "yes") == 0;
	}
	return 0;
}

int envrec_parse(const char *text, struct envrec *r, char *err, size_t len)
{
	memset(r, 0, sizeof *r);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = pe_xcalloc(1, n + 1);
		memcpy(line, p, n);
		int bad = parse_line(line, r, err, len);
		free(line);
		if (bad) {
			envrec_free(r);
			return -1;
		}
		p += n + (nl ? 1 : 0);
	}
	return 0;
}

static int writable_value(const char *v)
{
	return !strchr(v, '\n') && !strchr(v, '\r');
}

char *envrec_format(const struct envrec *r)
{
	if (r->base && !writable_value(r->base))
		return NULL;
	for (size_t i = 0; i < r->nlayers; i++)
		if (!writable_value(r->layers[i]))
			return NULL;
	size_t n = strlen(ENVREC_HEADER) + 128 + (r->base ? strlen(r->base) : 0);
	for (size_t i = 0; i < r->nlayers; i++)
		n += strlen(r->layers[i]) + 8;
	char *s = pe_xcalloc(1, n), *p = s;
	p += sprintf(p, "%s", ENVREC_HEADER);
	if (r->base)
		p += sprintf(p, "base %s\n", r->base);
	if (r->xy[0])
		p += sprintf(p, "python %s\n", r->xy);
	if (r->abi[0])
		p += sprintf(p, "abi %s\n", r->abi);
	for (size_t i = 0; i < r->nlayers; i++)
		p += sprintf(p, "layer %s\n", r->layers[i]);
	sprintf(p, "with_pip %s\n", r->with_pip ? "yes" : "no");
	return s;
}

void envrec_free(struct envrec *r)
{
	free(r->base);
	for (size_t i = 0; i < r->nlayers; i++)
		free(r->layers[i]);
	free(r->layers);
	memset(r, 0, sizeof *r);
}

char **envrec_mounts_parse(const char *text, size_t *n)
{
	char **out = NULL;
	*n = 0;
	for (const char *p = text ? text : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l && p[0] == '/') {
			out = realloc(out, (*n + 1) * sizeof *out);
			if (!out)
				abort();
			char *m = pe_xcalloc(1, l + 1);
			memcpy(m, p, l);
			out[(*n)++] = m;
		}
		p += l + (nl ? 1 : 0);
	}
	return out;
}

void envrec_mounts_free(char **mounts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(mounts[i]);
	free(mounts);
}

char *envrec_mounts_add(const char *text, const char *mountpoint, size_t max)
{
	if (mountpoint[0] != '/' || !writable_value(mountpoint) || !max)
		return NULL;
	size_t n;
	char **m = envrec_mounts_parse(text, &n);
	if (n && strcmp(m[n - 1], mountpoint) == 0) {
		envrec_mounts_free(m, n);
		return NULL;
	}
	/* the others, in order, without mountpoint; then as many of the
	 * newest as fit with it */
	size_t keep = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i], mountpoint) != 0)
			m[keep++] = m[i];
		else
			free(m[i]);
	size_t first = keep + 1 > max ? keep + 1 - max : 0;
	size_t len = strlen(mountpoint) + 2;
	for (size_t i = first; i < keep; i++)
		len += strlen(m[i]) + 1;
	char *s = pe_xcalloc(1, len), *p = s;
	for (size_t i = first; i < keep; i++)
		p += sprintf(p, "%s\n", m[i]);
	sprintf(p, "%s\n", mountpoint);
	envrec_mounts_free(m, keep);
	return s;
}
