// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/self/mountinfo parsing: the fields pyenvfs list and umount need. */
#include "mountinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel writes space, tab, newline and backslash in paths as \ooo. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static char *next_field(char **p)
{
	while (**p == ' ')
		(*p)++;
	if (!**p || **p == '\n')
		return NULL;
	char *f = *p;
	while (**p && **p != ' ' && **p != '\n')
		(*p)++;
	if (**p)
		*(*p)++ = '\0';
	return f;
}

int mountinfo_parse_line(char *line, struct mount_entry *e)
{
	char *p = line, *f[6];
	/* id, parent id, major:minor, root, mount point, options */
	for (int i = 0; i < 6; i++)
		if (!(f[i] = next_field(&p)))
			return -1;
	char *end;
	e->id = strtoull(f[0], &end, 10);
	if (*end)
		return -1;
	e->mountpoint = f[4];
	e->options = f[5];
	/* optional fields, up to a lone "-" */
	char *sep;
	do {
		if (!(sep = next_field(&p)))
			return -1;
	} while (strcmp(sep, "-") != 0);
	if (!(e->fstype = next_field(&p)) || !(e->source = next_field(&p)) ||
	    !(e->super_options = next_field(&p)))
		return -1;
	unescape(e->mountpoint);
	unescape(e->source);
	return 0;
}

int mountinfo_is_pyenvfs(const struct mount_entry *e)
{
	return strcmp(e->fstype, "fuse.pyenvfs") == 0 || strcmp(e->fstype, "fuseblk.pyenvfs") == 0;
}

const char *mountinfo_option(const char *opts, const char *name, char *buf, unsigned len)
{
	size_t n = strlen(name);
	for (const char *p = opts; p && *p;) {
		const char *end = strchr(p, ',');
		size_t flen = end ? (size_t)(end - p) : strlen(p);
		if (flen > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			size_t vlen = flen - n - 1;
			if (vlen >= len)
				vlen = len - 1;
			memcpy(buf, p + n + 1, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

int mountinfo_each(int (*fn)(const struct mount_entry *e, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (!r && getline(&line, &cap, f) > 0) {
		struct mount_entry e;
		if (mountinfo_parse_line(line, &e) == 0)
			r = fn(&e, arg);
	}
	free(line);
	fclose(f);
	return r;
}
