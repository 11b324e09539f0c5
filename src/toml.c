// SPDX-License-Identifier: GPL-2.0-or-later
/* A TOML 1.0 reader (toml.io/en/v1.0.0), written from the specification. */
#include "toml.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a table or array came to be: what may still be done to it. */
#define F_EXPLICIT 1u   /* a [header] defined it */
#define F_DOTTED 2u     /* a dotted key made it */
#define F_INLINE 4u     /* an inline table: closed */
#define F_AOT 8u        /* an array [[header]]s append to */
#define F_IMPLICIT 16u  /* made on the way to a [header] below it */

#define MAX_DEPTH 64    /* nested arrays and inline tables */

struct parser {
	const char *p, *end;
	unsigned line;
	const char *name;
	char *err;
	size_t errlen;
	int failed;
	int depth;
	struct toml_value *root, *cur;
};

static int fail(struct parser *ps, const char *fmt, ...) PE_PRINTF(2, 3);
static int fail(struct parser *ps, const char *fmt, ...)
{
	if (ps->failed)
		return -1;
	ps->failed = 1;
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	pe_err(ps->err, ps->errlen, "%s:%u: %s", ps->name, ps->line, why);
	return -1;
}

static struct toml_value *new_value(struct parser *ps, enum toml_type type)
{
	struct toml_value *v = pe_xcalloc(1, sizeof *v);
	v->type = type;
	v->line = ps->line;
	return v;
}

void toml_free(struct toml_value *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		toml_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

static void grow(struct toml_value *v)
{
	if (v->n < v->cap)
		return;
	v->cap = v->cap ? v->cap * 2 : 4;
	v->items = realloc(v->items, v->cap * sizeof *v->items);
	if (!v->items)
		abort();
	if (v->type == TOML_TABLE) {
		v->keys = realloc(v->keys, v->cap * sizeof *v->keys);
		if (!v->keys)
			abort();
	}
}

static void array_push(struct toml_value *a, struct toml_value *item)
{
	grow(a);
	a->items[a->n++] = item;
}

/* Adds key (taken) to table t with value v (taken). */
static void table_put(struct toml_value *t, char *key, struct toml_value *v)
{
	grow(t);
	t->keys[t->n] = key;
	t->items[t->n++] = v;
}

static struct toml_value *table_find(const struct toml_value *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->keys[i], key) == 0)
			return t->items[i];
	return NULL;
}

const struct toml_value *toml_get(const struct toml_value *t, const char *key)
{
	return t && t->type == TOML_TABLE ? table_find(t, key) : NULL;
}

const char *toml_str(const struct toml_value *v)
{
	return v && v->type == TOML_STRING ? v->str : NULL;
}

const char *toml_get_str(const struct toml_value *t, const char *key)
{
	return toml_str(toml_get(t, key));
}

/* ------------------------------------------------------------ characters */

static int at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static int peek(const struct parser *ps, size_t k)
{
	return ps->p + k < ps->end ? (unsigned char)ps->p[k] : -1;
}

static int starts(const struct parser *ps, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

/* The length of the valid UTF-8 sequence at s (< end), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - s) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void put_utf8(char **buf, size_t *n, size_t *cap, unsigned cp)
{
	char tmp[4];
	size_t k;
	if (cp < 0x80) {
		tmp[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | cp >> 6);
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xe0 | cp >> 12);
		tmp[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		tmp[0] = (char)(0xf0 | cp >> 18);
		tmp[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		tmp[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k + 1 > *cap) {
		*cap = (*n + k + 1) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	memcpy(*buf + *n, tmp, k);
	*n += k;
	(*buf)[*n] = '\0';
}

static void put_bytes(char **buf, size_t *n, size_t *cap, const char *s, size_t k)
{
	if (*n + k + 1 > *cap) {
		*cap = (*n + k + 1) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	memcpy(*buf + *n, s, k);
	*n += k;
	(*buf)[*n] = '\0';
}

static void skip_ws(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* A newline here (LF or CRLF): consumed, 1; else 0. */
static int newline(struct parser *ps)
{
	if (peek(ps, 0) == '\n') {
		ps->p++;
		ps->line++;
		return 1;
	}
	if (peek(ps, 0) == '\r' && peek(ps, 1) == '\n') {
		ps->p += 2;
		ps->line++;
		return 1;
	}
	return 0;
}

/* A comment here, to the end of its line (the newline not consumed). */
static int comment(struct parser *ps)
{
	if (peek(ps, 0) != '#')
		return 0;
	ps->p++;
	while (!at_end(ps) && *ps->p != '\n') {
		unsigned char c = (unsigned char)*ps->p;
		if (c == '\r' && peek(ps, 1) == '\n')
			break;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(ps, "a control character in a comment");
		ps->p += c < 0x80 ? 1 : utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
	}
	return 0;
}

/* What may end a line: blanks, a comment, then a newline or the end. */
static int end_of_line(struct parser *ps)
{
	skip_ws(ps);
	if (comment(ps))
		return -1;
	if (at_end(ps) || newline(ps))
		return 0;
	return fail(ps, "expected the end of the line");
}

/* Blanks, newlines and comments (inside arrays). */
static int skip_space(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (comment(ps))
			return -1;
		if (!newline(ps))
			return 0;
	}
}

/* --------------------------------------------------------------- strings */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One character of a string body (not the quote): appended; -1 on error. */
static int string_char(struct parser *ps, char **buf, size_t *n, size_t *cap, int multiline)
{
	unsigned char c = (unsigned char)*ps->p;
	if (multiline && (c == '\n' || (c == '\r' && peek(ps, 1) == '\n'))) {
		put_bytes(buf, n, cap, "\n", 1);
		newline(ps);
		return 0;
	}
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return fail(ps, "a control character in a string");
	size_t k = utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
	put_bytes(buf, n, cap, ps->p, k);
	ps->p += k;
	return 0;
}

static int escape(struct parser *ps, char **buf, size_t *n, size_t *cap)
{
	ps->p++;        /* the backslash */
	int c = peek(ps, 0);
	static const char simple[] = "b\bt\tn\nf\fr\r\"\"\\\\";
	for (const char *s = simple; *s; s += 2) {
		if (c == *s) {
			put_bytes(buf, n, cap, s + 1, 1);
			ps->p++;
			return 0;
		}
	}
	if (c == 'u' || c == 'U') {
		int digits = c == 'u' ? 4 : 8;
		unsigned cp = 0;
		for (int i = 1; i <= digits; i++) {
			int h = hexval(peek(ps, (size_t)i));
			if (h < 0)
				return fail(ps, "\\%c needs %d hex digits", c, digits);
			cp = cp << 4 | (unsigned)h;
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return fail(ps, "\\%c%.*s is not a Unicode scalar value", c, digits, ps->p + 1);
		if (cp == 0)
			return fail(ps, "a string holds a NUL character");
		ps->p += 1 + digits;
		put_utf8(buf, n, cap, cp);
		return 0;
	}
	return fail(ps, "an unknown escape in a string");
}

/* A basic ("...") or literal ('...') string, single- or multi-line: its
 * value (malloc'ed), or NULL. keyonly: single-line forms only. */
static char *string(struct parser *ps, int keyonly)
{
	char q = *ps->p;
	int literal = q == '\'';
	int multi = !keyonly && (literal ? starts(ps, "'''") : starts(ps, "\"\"\""));
	size_t n = 0, cap = 16;
	char *buf = pe_xmalloc(cap);
	buf[0] = '\0';
	ps->p += multi ? 3 : 1;
	if (multi)
		newline(ps);    /* a newline right after the opening quotes is not part of it */
	for (;;) {
		if (at_end(ps)) {
			fail(ps, "a string is not closed");
			break;
		}
		if (*ps->p == q) {
			if (!multi) {
				ps->p++;
				return buf;
			}
			if (starts(ps, literal ? "'''" : "\"\"\"")) {
				/* up to two quotes of the body may come right before the closing three */
				int extra = 0;
				while (extra < 2 && peek(ps, 3 + (size_t)extra) == q)
					extra++;
				put_bytes(&buf, &n, &cap, ps->p, (size_t)extra);
				ps->p += 3 + extra;
				return buf;
			}
			put_bytes(&buf, &n, &cap, ps->p, 1);
			ps->p++;
			continue;
		}
		if (!multi && (*ps->p == '\n' || *ps->p == '\r')) {
			fail(ps, "a newline in a single-line string");
			break;
		}
		if (!literal && *ps->p == '\\') {
			if (multi) {
				/* a line-ending backslash: the newline and the blanks after it go */
				const char *s = ps->p + 1;
				while (s < ps->end && (*s == ' ' || *s == '\t'))
					s++;
				if (s < ps->end && (*s == '\n' || (*s == '\r' && s + 1 < ps->end && s[1] == '\n'))) {
					ps->p = s;
					for (;;) {
						if (newline(ps))
							continue;
						if (at_end(ps) || (*ps->p != ' ' && *ps->p != '\t'))
							break;
						ps->p++;
					}
					continue;
				}
			}
			if (escape(ps, &buf, &n, &cap))
				break;
			continue;
		}
		if (string_char(ps, &buf, &n, &cap, multi))
			break;
	}
	free(buf);
	return NULL;
}

/* ------------------------------------------------------------------ keys */

static int bare_key_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

struct key {
	char **part;
	size_t n;
};

static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->part[i]);
	free(k->part);
	k->part = NULL;
	k->n = 0;
}

/* A key: simple keys joined by dots (blanks around the dots allowed). */
static int parse_key(struct parser *ps, struct key *k)
{
	k->part = NULL;
	k->n = 0;
	for (;;) {
		skip_ws(ps);
		char *part;
		int c = peek(ps, 0);
		if (c == '"' || c == '\'') {
			part = string(ps, 1);
			if (!part)
				return -1;
		} else if (bare_key_char(c)) {
			const char *s = ps->p;
			while (!at_end(ps) && bare_key_char(*ps->p))
				ps->p++;
			part = pe_xmalloc((size_t)(ps->p - s) + 1);
			memcpy(part, s, (size_t)(ps->p - s));
			part[ps->p - s] = '\0';
		} else {
			return fail(ps, "expected a key");
		}
		k->part = realloc(k->part, (k->n + 1) * sizeof *k->part);
		if (!k->part)
			abort();
		k->part[k->n++] = part;
		skip_ws(ps);
		if (peek(ps, 0) != '.')
			return 0;
		ps->p++;
	}
}

/* --------------------------------------------------------------- numbers */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Digits in base with single underscores between them, copied to out
 * without the underscores: the count, or -1. */
static int digits(const char **s, const char *end, int base, char *out, size_t *nout, size_t cap)
{
	int count = 0, prev_us = 1;
	while (*s < end) {
		int c = (unsigned char)**s;
		int ok = base == 16 ? hexval(c) >= 0 : base == 8 ? (c >= '0' && c <= '7') : base == 2 ? (c == '0' || c == '1') : is_digit(c);
		if (c == '_') {
			if (prev_us)
				return -1;
			prev_us = 1;
			(*s)++;
			continue;
		}
		if (!ok)
			break;
		if (*nout + 1 >= cap)
			return -1;
		out[(*nout)++] = (char)c;
		prev_us = 0;
		count++;
		(*s)++;
	}
	if (prev_us)
		return -1;      /* empty, or ends with '_' */
	return count;
}

static struct toml_value *number(struct parser *ps, const char *tok, size_t len)
{
	const char *s = tok, *end = tok + len;
	char buf[128];
	size_t n = 0;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		s += 2;
		if (digits(&s, end, base, buf, &n, sizeof buf) < 0 || s != end)
			goto bad;
		buf[n] = '\0';
		errno = 0;
		unsigned long long u = strtoull(buf, NULL, base);
		if (errno || u > (unsigned long long)__LONG_LONG_MAX__)
			return fail(ps, "an integer out of range"), NULL;
		struct toml_value *v = new_value(ps, TOML_INTEGER);
		v->i = (long long)u;
		return v;
	}
	if (s < end && (*s == '+' || *s == '-'))
		buf[n++] = *s++;
	if (end - s == 3 && (memcmp(s, "inf", 3) == 0 || memcmp(s, "nan", 3) == 0)) {
		struct toml_value *v = new_value(ps, TOML_FLOAT);
		v->f = s[0] == 'i' ? (buf[0] == '-' ? -INFINITY : INFINITY) : NAN;
		return v;
	}
	const char *int_start = s;
	if (digits(&s, end, 10, buf, &n, sizeof buf) < 0)
		goto bad;
	if (*int_start == '0' && s - int_start > 1)
		goto bad;       /* leading zero */
	int is_float = 0;
	if (s < end && *s == '.') {
		is_float = 1;
		buf[n++] = *s++;
		if (s >= end || !is_digit(*s) || digits(&s, end, 10, buf, &n, sizeof buf) < 0)
			goto bad;
	}
	if (s < end && (*s == 'e' || *s == 'E')) {
		is_float = 1;
		buf[n++] = 'e';
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			buf[n++] = *s++;
		if (s >= end || !is_digit(*s) || digits(&s, end, 10, buf, &n, sizeof buf) < 0)
			goto bad;
	}
	if (s != end)
		goto bad;
	buf[n] = '\0';
	errno = 0;
	struct toml_value *v = new_value(ps, is_float ? TOML_FLOAT : TOML_INTEGER);
	if (is_float)
		v->f = strtod(buf, NULL);
	else
		v->i = strtoll(buf, NULL, 10);
	if (errno && !is_float) {
		toml_free(v);
		return fail(ps, "an integer out of range"), NULL;
	}
	return v;
bad:
	fail(ps, "'%.*s' is not a valid value", (int)(len > 40 ? 40 : len), tok);
	return NULL;
}

/* ------------------------------------------------------------ date-times */

static int ndigits(const char *s, const char *end, int n)
{
	for (int i = 0; i < n; i++)
		if (s + i >= end || !is_digit(s[i]))
			return 0;
	return 1;
}

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* HH:MM:SS[.frac] at *s: 1 and *s past it, or 0. */
static int time_part(const char **s, const char *end)
{
	const char *t = *s;
	if (!ndigits(t, end, 2) || t + 2 >= end || t[2] != ':' || !ndigits(t + 3, end, 2) || t + 5 >= end ||
	    t[5] != ':' || !ndigits(t + 6, end, 2))
		return 0;
	if (num2(t) > 23 || num2(t + 3) > 59 || num2(t + 6) > 60)
		return 0;
	t += 8;
	if (t < end && *t == '.') {
		t++;
		if (t >= end || !is_digit(*t))
			return 0;
		while (t < end && is_digit(*t))
			t++;
	}
	*s = t;
	return 1;
}

/* A date-time, date or time starting here: the value, or NULL if none
 * starts here (nothing consumed, no error) or one is malformed (error). */
static struct toml_value *datetime(struct parser *ps, int *none)
{
	const char *s = ps->p, *end = ps->end;
	*none = 0;
	size_t n = 0, cap = 64;
	char *text;
	if (ndigits(s, end, 2) && s + 2 < end && s[2] == ':') {
		if (!time_part(&s, end))
			goto bad;
		goto done;
	}
	if (!(ndigits(s, end, 4) && s + 4 < end && s[4] == '-')) {
		*none = 1;
		return NULL;
	}
	if (!ndigits(s + 5, end, 2) || s + 7 >= end || s[7] != '-' || !ndigits(s + 8, end, 2))
		goto bad;
	int mon = num2(s + 5), day = num2(s + 8);
	if (mon < 1 || mon > 12 || day < 1 || day > 31)
		goto bad;
	s += 10;
	if (s < end && (*s == 'T' || *s == 't' || (*s == ' ' && ndigits(s + 1, end, 2)))) {
		s++;
		if (!time_part(&s, end))
			goto bad;
		if (s < end && (*s == 'Z' || *s == 'z')) {
			s++;
		} else if (s < end && (*s == '+' || *s == '-')) {
			if (!ndigits(s + 1, end, 2) || s + 3 >= end || s[3] != ':' || !ndigits(s + 4, end, 2) ||
			    num2(s + 1) > 23 || num2(s + 4) > 59)
				goto bad;
			s += 6;
		}
	}
done:
	n = (size_t)(s - ps->p);
	text = pe_xmalloc(n + 1 < cap ? cap : n + 1);
	memcpy(text, ps->p, n);
	text[n] = '\0';
	if (n > 10 && text[10] == ' ')
		text[10] = 'T';
	ps->p = s;
	struct toml_value *v = new_value(ps, TOML_DATETIME);
	v->str = text;
	return v;
bad:
	fail(ps, "a malformed date or time");
	return NULL;
}

/* ---------------------------------------------------------------- values */

static struct toml_value *value(struct parser *ps);

static struct toml_value *array(struct parser *ps)
{
	struct toml_value *a = new_value(ps, TOML_ARRAY);
	ps->p++;        /* [ */
	for (;;) {
		if (skip_space(ps))
			goto bad;
		if (peek(ps, 0) == ']') {
			ps->p++;
			return a;
		}
		struct toml_value *item = value(ps);
		if (!item)
			goto bad;
		array_push(a, item);
		if (skip_space(ps))
			goto bad;
		if (peek(ps, 0) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps, 0) == ']') {
			ps->p++;
			return a;
		}
		fail(ps, "expected ',' or ']' in an array");
		goto bad;
	}
bad:
	toml_free(a);
	return NULL;
}

static int key_value(struct parser *ps, struct toml_value *table);

static struct toml_value *inline_table(struct parser *ps)
{
	struct toml_value *t = new_value(ps, TOML_TABLE);
	ps->p++;        /* { */
	skip_ws(ps);
	if (peek(ps, 0) == '}') {
		ps->p++;
		t->flags = F_INLINE;
		return t;
	}
	for (;;) {
		if (key_value(ps, t))
			goto bad;
		skip_ws(ps);
		if (peek(ps, 0) == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (peek(ps, 0) == '}') {
			ps->p++;
			/* closed, with every table its dotted keys made in it */
			t->flags = F_INLINE;
			return t;
		}
		fail(ps, "expected ',' or '}' in an inline table (on one line, no trailing comma)");
		goto bad;
	}
bad:
	toml_free(t);
	return NULL;
}

/* Marks t and the tables dotted keys made in it closed (an inline table). */
static void close_inline(struct toml_value *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->items[i]->type == TOML_TABLE && (t->items[i]->flags & F_DOTTED))
			close_inline(t->items[i]);
	t->flags |= F_INLINE;
}

static struct toml_value *value(struct parser *ps)
{
	if (++ps->depth > MAX_DEPTH) {
		fail(ps, "arrays or inline tables nested more than %d deep", MAX_DEPTH);
		return NULL;
	}
	struct toml_value *v = NULL;
	int c = peek(ps, 0);
	if (c == '"' || c == '\'') {
		char *s = string(ps, 0);
		if (s) {
			v = new_value(ps, TOML_STRING);
			v->str = s;
		}
	} else if (c == '[') {
		v = array(ps);
	} else if (c == '{') {
		v = inline_table(ps);
		if (v)
			close_inline(v);
	} else if (starts(ps, "true") && !bare_key_char(peek(ps, 4))) {
		v = new_value(ps, TOML_BOOL);
		v->i = 1;
		ps->p += 4;
	} else if (starts(ps, "false") && !bare_key_char(peek(ps, 5))) {
		v = new_value(ps, TOML_BOOL);
		ps->p += 5;
	} else if (c >= 0) {
		int none;
		v = datetime(ps, &none);
		if (!v && none) {
			/* a number: up to a delimiter */
			const char *s = ps->p;
			while (!at_end(ps) && (bare_key_char(*ps->p) || *ps->p == '.' || *ps->p == '+'))
				ps->p++;
			if (ps->p == s)
				fail(ps, "expected a value");
			else
				v = number(ps, s, (size_t)(ps->p - s));
		}
	} else {
		fail(ps, "expected a value");
	}
	ps->depth--;
	return v;
}

/* ---------------------------------------------------------------- tables */

/* key = value into table (dotted keys make tables on the way). */
static int key_value(struct parser *ps, struct toml_value *table)
{
	struct key k;
	if (parse_key(ps, &k))
		return key_free(&k), -1;
	struct toml_value *t = table;
	for (size_t i = 0; i + 1 < k.n; i++) {
		struct toml_value *next = table_find(t, k.part[i]);
		if (!next) {
			next = new_value(ps, TOML_TABLE);
			next->flags = F_DOTTED;
			table_put(t, pe_xstrdup(k.part[i]), next);
		} else if (next->type != TOML_TABLE || !(next->flags & F_DOTTED) || (next->flags & F_INLINE)) {
			fail(ps, "'%s' is defined already and cannot take dotted keys", k.part[i]);
			key_free(&k);
			return -1;
		}
		t = next;
	}
	const char *last = k.part[k.n - 1];
	if (table_find(t, last)) {
		fail(ps, "'%s' is defined twice", last);
		key_free(&k);
		return -1;
	}
	skip_ws(ps);
	if (peek(ps, 0) != '=') {
		key_free(&k);
		return fail(ps, "expected '=' after a key");
	}
	ps->p++;
	skip_ws(ps);
	struct toml_value *v = value(ps);
	if (!v) {
		key_free(&k);
		return -1;
	}
	table_put(t, pe_xstrdup(last), v);
	key_free(&k);
	return 0;
}

/* [a.b.c] or [[a.b.c]]: makes or finds the table, which becomes current. */
static int header(struct parser *ps)
{
	int aot = starts(ps, "[[");
	ps->p += aot ? 2 : 1;
	struct key k;
	if (parse_key(ps, &k))
		return key_free(&k), -1;
	skip_ws(ps);
	if (aot ? !starts(ps, "]]") : peek(ps, 0) != ']') {
		key_free(&k);
		return fail(ps, "expected '%s' to close the table's name", aot ? "]]" : "]");
	}
	ps->p += aot ? 2 : 1;
	struct toml_value *t = ps->root;
	for (size_t i = 0; i + 1 < k.n; i++) {
		struct toml_value *next = table_find(t, k.part[i]);
		if (!next) {
			next = new_value(ps, TOML_TABLE);
			next->flags = F_IMPLICIT;
			table_put(t, pe_xstrdup(k.part[i]), next);
		} else if (next->type == TOML_ARRAY && (next->flags & F_AOT)) {
			next = next->items[next->n - 1];
		} else if (next->type != TOML_TABLE || (next->flags & F_INLINE)) {
			fail(ps, "'%s' is not a table", k.part[i]);
			key_free(&k);
			return -1;
		}
		t = next;
	}
	const char *last = k.part[k.n - 1];
	struct toml_value *have = table_find(t, last);
	struct toml_value *cur;
	if (aot) {
		if (have && !(have->type == TOML_ARRAY && (have->flags & F_AOT))) {
			fail(ps, "'%s' is defined already, not as an array of tables", last);
			key_free(&k);
			return -1;
		}
		if (!have) {
			have = new_value(ps, TOML_ARRAY);
			have->flags = F_AOT;
			table_put(t, pe_xstrdup(last), have);
		}
		cur = new_value(ps, TOML_TABLE);
		cur->flags = F_EXPLICIT;
		array_push(have, cur);
	} else if (have) {
		if (have->type != TOML_TABLE || have->flags != F_IMPLICIT) {
			fail(ps, "the table '%s' is defined twice", last);
			key_free(&k);
			return -1;
		}
		have->flags = F_EXPLICIT;
		cur = have;
	} else {
		cur = new_value(ps, TOML_TABLE);
		cur->flags = F_EXPLICIT;
		table_put(t, pe_xstrdup(last), cur);
	}
	ps->cur = cur;
	key_free(&k);
	return 0;
}

static int check_text(struct parser *ps)
{
	const unsigned char *s = (const unsigned char *)ps->p, *end = (const unsigned char *)ps->end;
	unsigned line = 1;
	while (s < end) {
		if (*s == 0) {
			ps->line = line;
			return fail(ps, "a NUL byte");
		}
		if (*s == '\n')
			line++;
		size_t k = utf8_len(s, end);
		if (!k) {
			ps->line = line;
			return fail(ps, "not valid UTF-8");
		}
		s += k;
	}
	return 0;
}

struct toml_value *toml_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	struct parser ps = { .p = text, .end = text + len, .line = 1, .name = name, .err = err, .errlen = errlen };
	if (check_text(&ps))
		return NULL;
	ps.line = 1;
	/* a byte order mark at the start is allowed */
	if (starts(&ps, "\xef\xbb\xbf"))
		ps.p += 3;
	ps.root = new_value(&ps, TOML_TABLE);
	ps.root->flags = F_EXPLICIT;
	ps.cur = ps.root;
	while (!at_end(&ps)) {
		skip_ws(&ps);
		if (comment(&ps))
			break;
		if (newline(&ps) || at_end(&ps))
			continue;
		if (peek(&ps, 0) == '[') {
			if (header(&ps) || end_of_line(&ps))
				break;
		} else if (key_value(&ps, ps.cur) || end_of_line(&ps)) {
			break;
		}
	}
	if (ps.failed) {
		toml_free(ps.root);
		return NULL;
	}
	return ps.root;
}
