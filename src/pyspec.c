// SPDX-License-Identifier: GPL-2.0-or-later
/* Names, versions, specifiers, markers and wheel tags, from PEP 503, 440,
 * 508, 427, 425 and 600 (and packaging.python.org's specifications). */
#include "pyspec.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- names */

char *spec_normalize_name(const char *name)
{
	size_t n = strlen(name);
	char *out = pe_xmalloc(n + 1), *o = out;
	for (const char *p = name; *p;) {
		if (*p == '-' || *p == '_' || *p == '.') {
			while (*p == '-' || *p == '_' || *p == '.')
				p++;
			*o++ = '-';
		} else {
			*o++ = (char)tolower((unsigned char)*p++);
		}
	}
	*o = '\0';
	return out;
}

static int alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int spec_valid_name(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > 200 || !alnum((unsigned char)name[0]) || !alnum((unsigned char)name[n - 1]))
		return 0;
	for (const char *p = name; *p; p++)
		if (!alnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return 0;
	return 1;
}

/* -------------------------------------------------------------- versions */

struct cursor {
	const char *s;
};

static int sep(int c)
{
	return c == '.' || c == '-' || c == '_';
}

/* A decimal number at c->s (no sign): 1 with *out, or 0. */
static int number_at(struct cursor *c, long *out)
{
	if (!isdigit((unsigned char)*c->s))
		return 0;
	long v = 0;
	while (isdigit((unsigned char)*c->s)) {
		if (v > (LONG_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*c->s++ - '0');
	}
	*out = v;
	return 1;
}

/* word (lower case) at c->s, case-insensitively: 1 and consumed, or 0. */
static int word_at(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if (strncasecmp(c->s, word, n) != 0)
		return 0;
	c->s += n;
	return 1;
}

int spec_parse_version(const char *text, struct spec_version *v)
{
	memset(v, 0, sizeof *v);
	v->pre_kind = -1;
	v->post = v->dev = -1;
	struct cursor c = { text };
	while (isspace((unsigned char)*c.s))
		c.s++;
	if (*c.s == 'v' || *c.s == 'V')
		c.s++;
	long n;
	if (!number_at(&c, &n))
		return -1;
	if (*c.s == '!') {
		v->epoch = n;
		c.s++;
		if (!number_at(&c, &n))
			return -1;
	}
	v->release[v->nrelease++] = n;
	while (*c.s == '.' && isdigit((unsigned char)c.s[1])) {
		c.s++;
		if (v->nrelease >= SPEC_MAX_RELEASE || !number_at(&c, &n))
			return -1;
		v->release[v->nrelease++] = n;
	}
	/* pre-release */
	struct cursor save = c;
	if (sep(*c.s))
		c.s++;
	static const struct { const char *w; int kind; } pre[] = {
		{ "alpha", 0 }, { "beta", 1 }, { "preview", 2 }, { "pre", 2 }, { "rc", 2 }, { "a", 0 }, { "b", 1 }, { "c", 2 },
	};
	int found = 0;
	for (size_t i = 0; i < sizeof pre / sizeof pre[0] && !found; i++) {
		if (word_at(&c, pre[i].w)) {
			found = 1;
			v->pre_kind = pre[i].kind;
			struct cursor s2 = c;
			if (sep(*c.s))
				c.s++;
			if (!number_at(&c, &v->pre)) {
				c = s2;
				v->pre = 0;
			}
		}
	}
	if (!found)
		c = save;
	/* post-release */
	save = c;
	if (*c.s == '-' && isdigit((unsigned char)c.s[1])) {
		c.s++;
		number_at(&c, &v->post);
	} else {
		if (sep(*c.s))
			c.s++;
		if (word_at(&c, "post") || word_at(&c, "rev") || word_at(&c, "r")) {
			struct cursor s2 = c;
			if (sep(*c.s))
				c.s++;
			if (!number_at(&c, &v->post)) {
				c = s2;
				v->post = 0;
			}
		} else {
			c = save;
		}
	}
	/* dev-release */
	save = c;
	if (sep(*c.s))
		c.s++;
	if (word_at(&c, "dev")) {
		struct cursor s2 = c;
		if (sep(*c.s))
			c.s++;
		if (!number_at(&c, &v->dev)) {
			c = s2;
			v->dev = 0;
		}
	} else {
		c = save;
	}
	/* local version */
	if (*c.s == '+') {
		c.s++;
		size_t k = 0;
		int seg = 0;
		while (alnum((unsigned char)*c.s) || (sep(*c.s) && seg)) {
			if (k + 1 >= sizeof v->local)
				return -1;
			if (sep(*c.s)) {
				if (!alnum((unsigned char)c.s[1]))
					return -1;
				v->local[k++] = '.';
			} else {
				v->local[k++] = (char)tolower((unsigned char)*c.s);
			}
			seg = 1;
			c.s++;
		}
		if (!k)
			return -1;
		v->local[k] = '\0';
	}
	while (isspace((unsigned char)*c.s))
		c.s++;
	return *c.s ? -1 : 0;
}

static int cmp_long(long a, long b)
{
	return a < b ? -1 : a > b;
}

/* Local labels: segment by segment, a number after any letters. */
static int cmp_local(const char *a, const char *b)
{
	if (!*a || !*b)
		return !*a && !*b ? 0 : !*a ? -1 : 1;
	for (;;) {
		size_t na = strcspn(a, "."), nb = strcspn(b, ".");
		int da = na && strspn(a, "0123456789") >= na, db = nb && strspn(b, "0123456789") >= nb;
		int r;
		if (da && db)
			r = cmp_long(strtol(a, NULL, 10), strtol(b, NULL, 10));
		else if (da != db)
			r = da ? 1 : -1;
		else {
			r = strncmp(a, b, na < nb ? na : nb);
			if (!r)
				r = cmp_long((long)na, (long)nb);
		}
		if (r)
			return r;
		a += na;
		b += nb;
		if (!*a || !*b)
			return !*a && !*b ? 0 : !*a ? -1 : 1;
		a++;
		b++;
	}
}

static int cmp_public(const struct spec_version *a, const struct spec_version *b)
{
	int r = cmp_long(a->epoch, b->epoch);
	if (r)
		return r;
	int n = a->nrelease > b->nrelease ? a->nrelease : b->nrelease;
	for (int i = 0; i < n; i++) {
		r = cmp_long(i < a->nrelease ? a->release[i] : 0, i < b->nrelease ? b->release[i] : 0);
		if (r)
			return r;
	}
	/* pre: a dev release of a final sorts before its pre-releases; a final after them */
	long pa = a->pre_kind >= 0 ? a->pre_kind * 1000000L + a->pre : (a->post < 0 && a->dev >= 0 ? LONG_MIN : LONG_MAX);
	long pb = b->pre_kind >= 0 ? b->pre_kind * 1000000L + b->pre : (b->post < 0 && b->dev >= 0 ? LONG_MIN : LONG_MAX);
	if (a->pre_kind >= 0 && b->pre_kind >= 0 && a->pre_kind == b->pre_kind)
		r = cmp_long(a->pre, b->pre);
	else
		r = cmp_long(pa, pb);
	if (r)
		return r;
	r = cmp_long(a->post, b->post);   /* none (-1) first */
	if (r)
		return r;
	return cmp_long(a->dev < 0 ? LONG_MAX : a->dev, b->dev < 0 ? LONG_MAX : b->dev);
}

int spec_compare(const struct spec_version *a, const struct spec_version *b)
{
	int r = cmp_public(a, b);
	return r ? r : cmp_local(a->local, b->local);
}

void spec_version_str(const struct spec_version *v, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
#define OUT(...) (k += (size_t)snprintf(buf + (k < len ? k : len), k < len ? len - k : 0, __VA_ARGS__))
	if (v->epoch)
		OUT("%ld!", v->epoch);
	for (int i = 0; i < v->nrelease; i++)
		OUT("%s%ld", i ? "." : "", v->release[i]);
	if (v->pre_kind >= 0)
		OUT("%s%ld", v->pre_kind == 0 ? "a" : v->pre_kind == 1 ? "b" : "rc", v->pre);
	if (v->post >= 0)
		OUT(".post%ld", v->post);
	if (v->dev >= 0)
		OUT(".dev%ld", v->dev);
	if (v->local[0])
		OUT("+%s", v->local);
#undef OUT
}

/* ------------------------------------------------------------ specifiers */

/* One clause: 1 holds, 0 does not, -1 malformed. */
static int clause(const struct spec_version *cand, const char *candtext, const char *cl)
{
	while (isspace((unsigned char)*cl))
		cl++;
	static const char *const ops[] = { "===", "==", "!=", "~=", "<=", ">=", "<", ">", NULL };
	const char *op = NULL;
	for (int i = 0; ops[i]; i++)
		if (strncmp(cl, ops[i], strlen(ops[i])) == 0) {
			op = ops[i];
			break;
		}
	if (!op)
		return -1;
	char text[128];
	const char *vs = cl + strlen(op);
	while (isspace((unsigned char)*vs))
		vs++;
	size_t n = strlen(vs);
	while (n && isspace((unsigned char)vs[n - 1]))
		n--;
	if (!n || n >= sizeof text)
		return -1;
	memcpy(text, vs, n);
	text[n] = '\0';
	if (strcmp(op, "===") == 0)
		return strcasecmp(text, candtext) == 0;
	int wildcard = n > 2 && strcmp(text + n - 2, ".*") == 0;
	if (wildcard) {
		if (strcmp(op, "==") && strcmp(op, "!="))
			return -1;
		text[n - 2] = '\0';
	}
	struct spec_version v;
	if (spec_parse_version(text, &v))
		return -1;
	struct spec_version pub = *cand;
	pub.local[0] = '\0';
	if (wildcard) {
		/* the candidate's release, padded, starts with the given one */
		int eq = cand->epoch == v.epoch;
		for (int i = 0; eq && i < v.nrelease; i++)
			eq = (i < cand->nrelease ? cand->release[i] : 0) == v.release[i];
		if (eq && (v.pre_kind >= 0 || v.post >= 0 || v.dev >= 0))
			eq = cand->pre_kind == v.pre_kind && cand->pre == v.pre && cand->post == v.post &&
			     cand->dev == v.dev;
		return op[0] == '=' ? eq : !eq;
	}
	if (strcmp(op, "==") == 0 || strcmp(op, "!=") == 0) {
		int eq = spec_compare(v.local[0] ? cand : &pub, &v) == 0;
		return op[0] == '=' ? eq : !eq;
	}
	if (strcmp(op, "~=") == 0) {
		if (v.nrelease < 2 || v.local[0])
			return -1;
		if (spec_compare(&pub, &v) < 0)
			return 0;
		if (cand->epoch != v.epoch)
			return 0;
		for (int i = 0; i < v.nrelease - 1; i++)
			if ((i < cand->nrelease ? cand->release[i] : 0) != v.release[i])
				return 0;
		return 1;
	}
	int r = spec_compare(&pub, &v);
	if (strcmp(op, "<=") == 0)
		return r <= 0;
	if (strcmp(op, ">=") == 0)
		return r >= 0;
	/* the same release as V, for the exclusive comparisons */
	struct spec_version base_c = pub, base_v = v;
	base_c.pre_kind = base_v.pre_kind = -1;
	base_c.post = base_v.post = base_c.dev = base_v.dev = -1;
	int same = cmp_public(&base_c, &base_v) == 0;
	if (strcmp(op, "<") == 0)
		return r < 0 && !(same && v.pre_kind < 0 && v.dev < 0 && (cand->pre_kind >= 0 || cand->dev >= 0));
	/* ">" */
	return r > 0 && !(same && v.post < 0 && cand->post >= 0);
}

int spec_satisfies(const char *version, const char *specifiers)
{
	struct spec_version cand;
	if (spec_parse_version(version, &cand))
		return -1;
	int ok = 1;
	const char *p = specifiers;
	while (*p) {
		size_t n = strcspn(p, ",");
		char cl[160];
		if (n >= sizeof cl)
			return -1;
		memcpy(cl, p, n);
		cl[n] = '\0';
		size_t blank = strspn(cl, " \t");
		if (cl[blank]) {
			int r = clause(&cand, version, cl);
			if (r < 0)
				return -1;
			ok &= r;
		} else if (p != specifiers || p[n]) {
			return -1;      /* an empty clause between commas */
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return ok;
}

/* --------------------------------------------------------------- markers */

enum tok { T_END, T_STR, T_VAR, T_OP, T_LP, T_RP, T_AND, T_OR, T_IN, T_NOTIN, T_BAD };

struct lexer {
	const char *s;
	enum tok tok;
	char text[256];
	const struct spec_env *env;
	char *err;
	size_t errlen;
	int failed;
	int depth;
};

static int merr(struct lexer *lx, const char *why)
{
	if (!lx->failed)
		pe_err(lx->err, lx->errlen, "environment marker: %s", why);
	lx->failed = 1;
	return -1;
}

static void next(struct lexer *lx)
{
	while (isspace((unsigned char)*lx->s))
		lx->s++;
	lx->text[0] = '\0';
	char c = *lx->s;
	if (!c) {
		lx->tok = T_END;
		return;
	}
	if (c == '(' || c == ')') {
		lx->tok = c == '(' ? T_LP : T_RP;
		lx->s++;
		return;
	}
	if (c == '\'' || c == '"') {
		const char *e = strchr(lx->s + 1, c);
		if (!e || (size_t)(e - lx->s - 1) >= sizeof lx->text) {
			lx->tok = T_BAD;
			return;
		}
		memcpy(lx->text, lx->s + 1, (size_t)(e - lx->s - 1));
		lx->text[e - lx->s - 1] = '\0';
		lx->s = e + 1;
		lx->tok = T_STR;
		return;
	}
	static const char *const ops[] = { "===", "==", "!=", "~=", "<=", ">=", "<", ">", NULL };
	for (int i = 0; ops[i]; i++) {
		size_t n = strlen(ops[i]);
		if (strncmp(lx->s, ops[i], n) == 0) {
			memcpy(lx->text, ops[i], n + 1);
			lx->s += n;
			lx->tok = T_OP;
			return;
		}
	}
	if (isalpha((unsigned char)c) || c == '_') {
		size_t n = 0;
		while ((isalnum((unsigned char)lx->s[n]) || lx->s[n] == '_' || lx->s[n] == '.') && n + 1 < sizeof lx->text) {
			lx->text[n] = lx->s[n];
			n++;
		}
		lx->text[n] = '\0';
		lx->s += n;
		if (strcmp(lx->text, "and") == 0)
			lx->tok = T_AND;
		else if (strcmp(lx->text, "or") == 0)
			lx->tok = T_OR;
		else if (strcmp(lx->text, "in") == 0)
			lx->tok = T_IN;
		else if (strcmp(lx->text, "not") == 0) {
			const char *save = lx->s;
			next(lx);
			if (lx->tok == T_IN) {
				lx->tok = T_NOTIN;
				return;
			}
			lx->s = save;
			lx->tok = T_BAD;
		} else
			lx->tok = T_VAR;
		return;
	}
	lx->tok = T_BAD;
}

/* A marker operand: its value; *set is the set a variable names (extras,
 * dependency_groups). NULL if the variable is unknown. */
static const char *operand(struct lexer *lx, const char *const **set, int *is_set)
{
	*is_set = 0;
	if (lx->tok == T_STR)
		return lx->text;
	const struct spec_env *e = lx->env;
	static const struct { const char *name; size_t off; } vars[] = {
		{ "python_version", offsetof(struct spec_env, python_version) },
		{ "python_full_version", offsetof(struct spec_env, python_full_version) },
		{ "implementation_name", offsetof(struct spec_env, implementation_name) },
		{ "implementation_version", offsetof(struct spec_env, python_full_version) },
		{ "platform_python_implementation", offsetof(struct spec_env, platform_python_implementation) },
		{ "python_implementation", offsetof(struct spec_env, platform_python_implementation) },
		{ "platform.python_implementation", offsetof(struct spec_env, platform_python_implementation) },
		{ "os_name", offsetof(struct spec_env, os_name) },
		{ "os.name", offsetof(struct spec_env, os_name) },
		{ "sys_platform", offsetof(struct spec_env, sys_platform) },
		{ "sys.platform", offsetof(struct spec_env, sys_platform) },
		{ "platform_system", offsetof(struct spec_env, platform_system) },
		{ "platform_machine", offsetof(struct spec_env, platform_machine) },
		{ "platform.machine", offsetof(struct spec_env, platform_machine) },
		{ "platform_release", offsetof(struct spec_env, platform_release) },
		{ "platform_version", offsetof(struct spec_env, platform_version) },
		{ "platform.version", offsetof(struct spec_env, platform_version) },
	};
	if (lx->tok != T_VAR)
		return NULL;
	if (strcmp(lx->text, "extra") == 0)
		return "";      /* no extra is being installed */
	if (strcmp(lx->text, "extras") == 0 || strcmp(lx->text, "dependency_groups") == 0) {
		*is_set = 1;
		*set = lx->text[0] == 'e' ? e->extras : e->dependency_groups;
		return "";
	}
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		if (strcmp(lx->text, vars[i].name) == 0) {
			const char *v = *(const char *const *)((const char *)e + vars[i].off);
			return v ? v : "";
		}
	}
	return NULL;
}

static int in_set(const char *const *set, const char *name)
{
	cleanup_free char *want = spec_normalize_name(name);
	for (; set && *set; set++) {
		cleanup_free char *have = spec_normalize_name(*set);
		if (strcmp(have, want) == 0)
			return 1;
	}
	return 0;
}

static int compare_values(const char *l, const char *op, const char *r)
{
	struct spec_version vl, vr;
	if (strcmp(op, "===") != 0 && spec_parse_version(l, &vl) == 0 && spec_parse_version(r, &vr) == 0) {
		char spec[300];
		snprintf(spec, sizeof spec, "%s%s", op, r);
		int k = spec_satisfies(l, spec);
		if (k >= 0)
			return k;
	}
	int c = strcmp(l, r);
	if (strcmp(op, "==") == 0 || strcmp(op, "===") == 0)
		return c == 0;
	if (strcmp(op, "!=") == 0)
		return c != 0;
	if (strcmp(op, "<") == 0)
		return c < 0;
	if (strcmp(op, "<=") == 0)
		return c <= 0;
	if (strcmp(op, ">") == 0)
		return c > 0;
	if (strcmp(op, ">=") == 0)
		return c >= 0;
	return -1;      /* ~= on what is not a version */
}

static int marker_or(struct lexer *lx);

static int marker_atom(struct lexer *lx)
{
	if (lx->tok == T_LP) {
		if (++lx->depth > 32)
			return merr(lx, "parentheses nested too deep");
		next(lx);
		int r = marker_or(lx);
		if (r < 0)
			return -1;
		if (lx->tok != T_RP)
			return merr(lx, "expected ')'");
		lx->depth--;
		next(lx);
		return r;
	}
	char left[256], op[8];
	const char *const *lset = NULL, *const *rset = NULL;
	int lis, ris;
	const char *l = operand(lx, &lset, &lis);
	if (!l)
		return merr(lx, lx->tok == T_VAR ? "an unknown variable" : "expected a variable or a quoted string");
	snprintf(left, sizeof left, "%s", l);
	next(lx);
	if (lx->tok != T_OP && lx->tok != T_IN && lx->tok != T_NOTIN)
		return merr(lx, "expected a comparison");
	enum tok optok = lx->tok;
	snprintf(op, sizeof op, "%.4s", lx->tok == T_OP ? lx->text : "");
	next(lx);
	const char *r = operand(lx, &rset, &ris);
	if (!r)
		return merr(lx, lx->tok == T_VAR ? "an unknown variable" : "expected a variable or a quoted string");
	int res;
	if (optok == T_IN || optok == T_NOTIN) {
		res = ris ? in_set(rset, left) : strstr(r, left) != NULL;
		if (optok == T_NOTIN)
			res = !res;
	} else if (lis || ris) {
		return merr(lx, "extras and dependency_groups take 'in' and 'not in' only");
	} else {
		res = compare_values(left, op, r);
		if (res < 0)
			return merr(lx, "'~=' compares versions only");
	}
	next(lx);
	return res;
}

static int marker_and(struct lexer *lx)
{
	int r = marker_atom(lx);
	while (r >= 0 && lx->tok == T_AND) {
		next(lx);
		int k = marker_atom(lx);
		r = k < 0 ? -1 : r && k;
	}
	return r;
}

static int marker_or(struct lexer *lx)
{
	int r = marker_and(lx);
	while (r >= 0 && lx->tok == T_OR) {
		next(lx);
		int k = marker_and(lx);
		r = k < 0 ? -1 : r || k;
	}
	return r;
}

int spec_marker(const char *marker, const struct spec_env *env, char *err, size_t len)
{
	struct lexer lx = { .s = marker, .env = env, .err = err, .errlen = len };
	next(&lx);
	if (lx.tok == T_END)
		return merr(&lx, "empty");
	int r = marker_or(&lx);
	if (r >= 0 && lx.tok != T_END)
		return merr(&lx, "unexpected text after the marker");
	return r;
}

/* ---------------------------------------------------------------- wheels */

int spec_parse_wheel(const char *file, struct spec_wheel *w)
{
	memset(w, 0, sizeof *w);
	size_t n = strlen(file);
	if (n < 5 || n >= sizeof w->buf || strcmp(file + n - 4, ".whl") != 0 || strchr(file, '/'))
		return -1;
	memcpy(w->buf, file, n - 4);
	w->buf[n - 4] = '\0';
	char *part[7];
	int k = 0;
	for (char *p = w->buf; k < 7;) {
		part[k++] = p;
		char *d = strchr(p, '-');
		if (!d)
			break;
		*d = '\0';
		p = d + 1;
	}
	if (k != 5 && k != 6)
		return -1;
	for (int i = 0; i < k; i++)
		if (!*part[i])
			return -1;
	w->name = part[0];
	w->version = part[1];
	w->build = k == 6 ? part[2] : NULL;
	w->python = part[k - 3];
	w->abi = part[k - 2];
	w->platform = part[k - 1];
	if (w->build && !isdigit((unsigned char)w->build[0]))
		return -1;
	return 0;
}

/* The rank of one platform tag for t: 0 if it does not fit. */
static int platform_rank(const char *plat, const struct spec_target *t)
{
	if (strcmp(plat, "any") == 0)
		return 1;
	size_t ml = strlen(t->machine);
	size_t pl = strlen(plat);
	if (pl <= ml + 1 || strcmp(plat + pl - ml, t->machine) != 0 || plat[pl - ml - 1] != '_')
		return 0;
	size_t head = pl - ml - 1;   /* the part before "_MACHINE" */
	if (head == 5 && strncmp(plat, "linux", 5) == 0)
		return 4;
	if (!t->glibc_major)
		return 0;
	int need_major = 0, need_minor = 0;
	if (head == 10 && strncmp(plat, "manylinux1", 10) == 0)
		need_major = 2, need_minor = 5;
	else if (head == 13 && strncmp(plat, "manylinux2010", 13) == 0)
		need_major = 2, need_minor = 12;
	else if (head == 13 && strncmp(plat, "manylinux2014", 13) == 0)
		need_major = 2, need_minor = 17;
	else if (strncmp(plat, "manylinux_", 10) == 0) {
		char *end;
		long a = strtol(plat + 10, &end, 10);
		if (*end != '_')
			return 0;
		long b = strtol(end + 1, &end, 10);
		if (end != plat + head || a <= 0 || b < 0 || a > 1000 || b > 1000)
			return 0;
		need_major = (int)a;
		need_minor = (int)b;
	} else {
		return 0;
	}
	if (t->glibc_major < need_major || (t->glibc_major == need_major && t->glibc_minor < need_minor))
		return 0;
	return 3;
}

/* The rank of one (python, abi) pair: 0 if it does not fit. */
static int interp_rank(const char *py, const char *abi, const struct spec_target *t)
{
	char cp[16], cpabi[32], pyxy[16], pyx[8];
	snprintf(cp, sizeof cp, "cp%d%d", t->major, t->minor);
	snprintf(cpabi, sizeof cpabi, "cp%d%d%s", t->major, t->minor, t->abiflags ? t->abiflags : "");
	snprintf(pyxy, sizeof pyxy, "py%d%d", t->major, t->minor);
	snprintf(pyx, sizeof pyx, "py%d", t->major);
	if (strcmp(abi, cpabi) == 0)
		return strcmp(py, cp) == 0 ? 9 : 0;
	if (strcmp(abi, "abi3") == 0) {
		/* cp3Y-abi3 for every Y up to the target's */
		if (t->major != 3 || strncmp(py, "cp3", 3) != 0)
			return 0;
		char *end;
		long y = strtol(py + 3, &end, 10);
		return !*end && py[3] && y <= t->minor ? 7 : 0;
	}
	if (strcmp(abi, "none") != 0)
		return 0;
	if (strcmp(py, cp) == 0)
		return 6;
	if (strcmp(py, pyxy) == 0)
		return 5;
	if (strcmp(py, pyx) == 0)
		return 3;
	/* pyXZ for Z below the target's minor */
	if (strncmp(py, pyx, strlen(pyx)) == 0 && py[strlen(pyx)]) {
		char *end;
		long z = strtol(py + strlen(pyx), &end, 10);
		return !*end && z <= t->minor ? 2 : 0;
	}
	return 0;
}

int spec_wheel_fits(const struct spec_wheel *w, const struct spec_target *t)
{
	/* a compressed tag set ("py2.py3", "manylinux1_x86_64.manylinux2014_x86_64")
	 * fits if any one combination does */
	int best = 0;
	char pys[128], abis[128], plats[256];
	snprintf(pys, sizeof pys, "%s", w->python);
	snprintf(abis, sizeof abis, "%s", w->abi);
	snprintf(plats, sizeof plats, "%s", w->platform);
	char *s1, *s2, *s3;
	for (char *py = strtok_r(pys, ".", &s1); py; py = strtok_r(NULL, ".", &s1)) {
		snprintf(abis, sizeof abis, "%s", w->abi);
		for (char *abi = strtok_r(abis, ".", &s2); abi; abi = strtok_r(NULL, ".", &s2)) {
			int ir = interp_rank(py, abi, t);
			if (!ir)
				continue;
			snprintf(plats, sizeof plats, "%s", w->platform);
			for (char *pl = strtok_r(plats, ".", &s3); pl; pl = strtok_r(NULL, ".", &s3)) {
				int pr = platform_rank(pl, t);
				/* an interpreter-specific ABI needs a platform, not any */
				if (pr && !(pr == 1 && ir >= 7) && ir * 10 + pr > best)
					best = ir * 10 + pr;
			}
		}
	}
	return best;
}
