// SPDX-License-Identifier: GPL-2.0-or-later
/* A TOML 1.0 reader: the text of a file in, a tree of values out, or one
 * line saying where and why it is not TOML. For pylock.toml (PEP 751) and
 * PEP 723's inline script metadata. Pure: no I/O; unit-tested and fuzzed.
 *
 * Everything TOML 1.0 has is read: bare, quoted and dotted keys; tables,
 * arrays of tables, inline tables; the four kinds of strings with their
 * escapes; integers (decimal, hex, octal, binary, underscores), floats
 * (inf, nan), booleans; offset and local date-times, dates and times, kept
 * as their text (checked for form, not for calendar days). The rules on
 * defining a table twice, extending an inline table or a static array, and
 * dotted keys reopening a [table] are enforced. */
#ifndef PYENVFS_TOML_H
#define PYENVFS_TOML_H

#include <stddef.h>

enum toml_type {
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,          /* the text as written, with 'T' for a space */
	TOML_ARRAY,
	TOML_TABLE,
};

struct toml_value {
	enum toml_type type;
	char *str;              /* STRING (may hold no NUL: refused), DATETIME */
	long long i;            /* INTEGER; BOOL: 0 or 1 */
	double f;               /* FLOAT */
	size_t n;               /* ARRAY: items; TABLE: keys */
	size_t cap;
	struct toml_value **items;      /* ARRAY items, TABLE values */
	char **keys;                    /* TABLE keys, in the order written */
	unsigned line;          /* where it was defined (1-based) */
	unsigned flags;         /* the parser's: how a table or array was made */
};

/* Parses text[0..len). The root table, or NULL with "pyenvfs: NAME:LINE:
 * why" in err (name: the file's, for the message). */
struct toml_value *toml_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);
void toml_free(struct toml_value *v);

/* The value of key in table t; NULL if t is not a table or has no key. */
const struct toml_value *toml_get(const struct toml_value *t, const char *key);
/* The string of v, or NULL if v is not a string (or is NULL). */
const char *toml_str(const struct toml_value *v);
/* get + str */
const char *toml_get_str(const struct toml_value *t, const char *key);

#endif
