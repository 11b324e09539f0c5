// SPDX-License-Identifier: GPL-2.0-or-later
/* Bytecode for read-only places: which names, and where they go. Pure. */
#include "pycache.h"
#include "util.h"
#include "whiteout.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* "X.pyc" with X not empty. */
static int pyc_name(const char *name)
{
	return ends_with(name, ".pyc");
}

/* "X.pyc.DIGITS": importlib names its temporary '{}.{}'.format(path, id(path)). */
static int pyc_temp_name(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot || !dot[1] || dot == name)
		return 0;
	for (const char *p = dot + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	size_t stem = (size_t)(dot - name);
	return stem > 4 && strncmp(dot - 4, ".pyc", 4) == 0;
}

enum pycache_name pycache_classify(const char *dir_name, const char *name, int legacy)
{
	if (wh_check_name(name))
		return PYCACHE_NO;
	int in_cache = strcmp(dir_name, "__pycache__") == 0;
	if (strcmp(name, "__pycache__") == 0)
		return in_cache ? PYCACHE_NO : PYCACHE_DIR;
	if (in_cache && (pyc_name(name) || pyc_temp_name(name)))
		return PYCACHE_FILE;
	if (legacy && !in_cache && (pyc_name(name) || ends_with(name, ".pyo")))
		return PYCACHE_FILE;
	return PYCACHE_NO;
}

static int valid_id(const char *id)
{
	const char *hex;
	if (strncmp(id, "base-", 5) == 0)
		hex = id + 5;
	else if (strncmp(id, "layer-", 6) == 0)
		hex = id + 6;
	else
		return 0;
	if (strlen(hex) != 16)
		return 0;
	for (const char *p = hex; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return 0;
	return 1;
}

int pycache_area_path(const char *source_id, const char *path, char *out, size_t len)
{
	if (!valid_id(source_id) || wh_check_path(path))
		return -EINVAL;
	int n = snprintf(out, len, "%s/%s%s%s", PYCACHE_ROOT, source_id, *path ? "/" : "", path);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int pycache_source_id(int is_base, const char *real_path, char *out, size_t len)
{
	int n = snprintf(out, len, "%s-%016llx", is_base ? "base" : "layer",
			 (unsigned long long)pe_hash(real_path));
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}
