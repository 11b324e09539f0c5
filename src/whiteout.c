// SPDX-License-Identifier: GPL-2.0-or-later
/* Whiteout records: their paths and their encoding. Pure. */
#include "whiteout.h"
#include "view.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define WH_NAME_MAX 255

int wh_check_name(const char *name)
{
	size_t n = strlen(name);
	if (!n || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
		return -EINVAL;
	return n > WH_NAME_MAX ? -ENAMETOOLONG : 0;
}

int wh_check_path(const char *path)
{
	if (!*path)
		return 0;
	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (n > WH_NAME_MAX)
			return -ENAMETOOLONG;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

static const char *area_name(enum wh_area area)
{
	return area == WH_AREA_SITE ? "site" : "upper";
}

/* The first component of an area path. */
static int top_is(const char *path, const char *name)
{
	size_t n = strlen(name);
	return strncmp(path, name, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int wh_node_path(enum wh_area area, const char *path, char *out, size_t len)
{
	int r = wh_check_path(path);
	if (r)
		return r;
	if (area != WH_AREA_SITE && area != WH_AREA_UPPER)
		return -EINVAL;
	/* The reserved area holds the records themselves and the upper area:
	 * never shown, so never removed or renamed through the mount. */
	if (area == WH_AREA_SITE && top_is(path, VIEW_RESERVED))
		return -EINVAL;
	int n = snprintf(out, len, "%s/%s", WH_ROOT, area_name(area));
	for (const char *p = path; n >= 0 && (size_t)n < len && *p;) {
		const char *slash = strchr(p, '/');
		int c = slash ? (int)(slash - p) : (int)strlen(p);
		int k = snprintf(out + n, len - (size_t)n, "/%s/%.*s", WH_SUB, c, p);
		n = k < 0 ? k : n + k;
		p += c + (slash ? 1 : 0);
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int wh_record_path(enum wh_area area, const char *dir, const char *name, char *out, size_t len)
{
	int r;
	if ((r = wh_check_name(name)) || (r = wh_check_path(dir)))
		return r;
	char path[8192];
	int n = snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof path)
		return -ENAMETOOLONG;
	if ((r = wh_node_path(area, path, out, len)))
		return r;
	size_t used = strlen(out);
	n = snprintf(out + used, len - used, "/%s", WH_KIND);
	if (n < 0 || (size_t)n >= len - used)
		return -ENAMETOOLONG;
	return 0;
}

int wh_encode(enum wh_kind kind, char *out, size_t len)
{
	if (kind != WH_HIDE)
		return -EINVAL;
	int n = snprintf(out, len, "%s", WH_TARGET_HIDE);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int wh_decode(mode_t mode, const char *target, size_t len, struct wh_record *rec)
{
	rec->kind = WH_HIDE;            /* what a damaged record counts as */
	if (!S_ISLNK(mode) || !target || memchr(target, '\0', len))
		return -EINVAL;
	if (len == strlen(WH_TARGET_HIDE) && memcmp(target, WH_TARGET_HIDE, len) == 0)
		return 0;
	return -EINVAL;
}
