// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for toml.c: every kind of value and key, the table rules, and
 * a catalogue of invalid documents (each refused with one line naming the
 * file and line). */
#include "unit.h"
#include "toml.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

static struct toml_value *parse(const char *text)
{
	err[0] = '\0';
	return toml_parse(text, strlen(text), "t.toml", err, sizeof err);
}

static const struct toml_value *path(const struct toml_value *t, const char *a, const char *b)
{
	const struct toml_value *v = toml_get(t, a);
	return b ? toml_get(v, b) : v;
}

static void test_values(void)
{
	struct toml_value *t = parse(
		"# a comment\n"
		"s = \"a\\tb\\n\\u00e9\\U0001F600\\\"\\\\\"\n"
		"lit = 'C:\\path\\x'\n"
		"ml = \"\"\"\nline1\nline2 \\\n   joined\"\"\"\n"
		"mll = '''\nraw \\n ''text''''\n"
		"q = \"\"\"a\"\"\"\"\n"
		"i = +1_000\n"
		"neg = -17\n"
		"hex = 0xDEAD_beef\n"
		"oct = 0o755\n"
		"bin = 0b1101\n"
		"f = 6.626e-34\n"
		"f2 = -0.5\n"
		"inf1 = -inf\n"
		"nan1 = nan\n"
		"yes = true\n"
		"no = false\n"
		"odt = 1979-05-27T07:32:00.999-07:00\n"
		"ldt = 1979-05-27 07:32:00\n"
		"ld = 1979-05-27\n"
		"lt = 00:32:00.5\n"
		"arr = [ 1, [2, 3], \"x\", { a = 1 }, ]\n"
		"multi = [\n  1, # one\n  2,\n]\n"
		"\"quoted key\" = 1\n"
		"'lit key' = 2\n"
		"\"\" = 3\n"
		"dotted . key . here = 4\r\n");
	CHECK(t != NULL);
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_STR(toml_get_str(t, "s"), "a\tb\n\xc3\xa9\xf0\x9f\x98\x80\"\\");
	CHECK_STR(toml_get_str(t, "lit"), "C:\\path\\x");
	CHECK_STR(toml_get_str(t, "ml"), "line1\nline2 joined");
	CHECK_STR(toml_get_str(t, "mll"), "raw \\n ''text'");
	CHECK_STR(toml_get_str(t, "q"), "a\"");
	CHECK(toml_get(t, "i")->type == TOML_INTEGER && toml_get(t, "i")->i == 1000);
	CHECK(toml_get(t, "neg")->i == -17);
	CHECK(toml_get(t, "hex")->i == 0xdeadbeef);
	CHECK(toml_get(t, "oct")->i == 0755);
	CHECK(toml_get(t, "bin")->i == 13);
	CHECK(toml_get(t, "f")->type == TOML_FLOAT && fabs(toml_get(t, "f")->f - 6.626e-34) < 1e-40);
	CHECK(toml_get(t, "f2")->f == -0.5);
	CHECK(isinf(toml_get(t, "inf1")->f) && toml_get(t, "inf1")->f < 0);
	CHECK(isnan(toml_get(t, "nan1")->f));
	CHECK(toml_get(t, "yes")->type == TOML_BOOL && toml_get(t, "yes")->i == 1);
	CHECK(toml_get(t, "no")->i == 0);
	CHECK(toml_get(t, "odt")->type == TOML_DATETIME);
	CHECK_STR(toml_get(t, "odt")->str, "1979-05-27T07:32:00.999-07:00");
	CHECK_STR(toml_get(t, "ldt")->str, "1979-05-27T07:32:00");
	CHECK_STR(toml_get(t, "ld")->str, "1979-05-27");
	CHECK_STR(toml_get(t, "lt")->str, "00:32:00.5");
	const struct toml_value *arr = toml_get(t, "arr");
	CHECK(arr->type == TOML_ARRAY && arr->n == 4);
	CHECK(arr->items[1]->type == TOML_ARRAY && arr->items[1]->n == 2);
	CHECK(toml_get(arr->items[3], "a")->i == 1);
	CHECK(toml_get(t, "multi")->n == 2);
	CHECK(toml_get(t, "quoted key")->i == 1);
	CHECK(toml_get(t, "lit key")->i == 2);
	CHECK(toml_get(t, "")->i == 3);
	CHECK(toml_get(path(t, "dotted", "key"), "here")->i == 4);
	toml_free(t);
}

static void test_tables(void)
{
	struct toml_value *t = parse(
		"top = 1\n"
		"[a.b]\n"
		"x = 1\n"
		"[a]\n"                        /* a super-table defined after its child */
		"y = 2\n"
		"[[packages]]\n"
		"name = \"one\"\n"
		"[packages.extra]\n"           /* a table in the last element */
		"k = 1\n"
		"[[packages]]\n"
		"name = \"two\"\n"
		"wheels = [{ name = \"w.whl\", hashes = { sha256 = \"ab\" } }]\n"
		"[fruit]\n"
		"apple.color = \"red\"\n"
		"apple.taste.sweet = true\n"
		"[fruit.apple.texture]\n"      /* allowed: a sub-table of a dotted table */
		"smooth = true\n");
	CHECK(t != NULL);
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK(toml_get(t, "top")->i == 1);
	CHECK(path(t, "a", "b") && toml_get(path(t, "a", "b"), "x")->i == 1);
	CHECK(toml_get(toml_get(t, "a"), "y")->i == 2);
	const struct toml_value *p = toml_get(t, "packages");
	CHECK(p->type == TOML_ARRAY && p->n == 2);
	CHECK_STR(toml_get_str(p->items[0], "name"), "one");
	CHECK(toml_get(toml_get(p->items[0], "extra"), "k")->i == 1);
	CHECK_STR(toml_get_str(p->items[1]->items ? p->items[1] : NULL, "name"), "two");
	const struct toml_value *w = toml_get(p->items[1], "wheels");
	CHECK(w && w->n == 1);
	CHECK_STR(toml_get_str(toml_get(w->items[0], "hashes"), "sha256"), "ab");
	CHECK(toml_get(path(path(t, "fruit", "apple"), "texture", NULL), "smooth")->i == 1);
	CHECK_STR(toml_get_str(path(t, "fruit", "apple"), "color"), "red");
	/* the keys keep their order */
	CHECK_STR(t->keys[0], "top");
	toml_free(t);
}

static void test_invalid(void)
{
	static const char *const bad[] = {
		"a = 1\na = 2\n",                       /* duplicate key */
		"[a]\n[a]\n",                           /* table twice */
		"a = {}\n[a]\n",                        /* inline table reopened */
		"a = {x = 1}\na.y = 2\n",               /* inline table extended */
		"a = [1]\n[[a]]\n",                     /* static array appended */
		"[[a]]\n[a]\n",                         /* array of tables as table */
		"[fruit]\napple.color = 1\n[fruit.apple]\n",    /* dotted table as [header] */
		"[a.b.c]\nz = 1\n[a]\nb.c.t = 2\n",     /* dotted keys into a [header] table */
		"a = 1 b = 2\n",                        /* two on a line */
		"a = \"unterminated\n",
		"a = 'x\ny'\n",
		"a = \"\\q\"\n",                        /* unknown escape */
		"a = \"\\uD800\"\n",                    /* surrogate */
		"a = \"\\u0000\"\n",                    /* NUL */
		"a = 01\n",                             /* leading zero */
		"a = 1__0\n",
		"a = _1\n",
		"a = 1_\n",
		"a = 0x\n",
		"a = 1.\n",
		"a = .5\n",
		"a = 1e\n",
		"a = +0x10\n",
		"a = 99999999999999999999\n",
		"a = 1979-13-01\n",
		"a = 1979-05-27T25:00:00\n",
		"a = tru\n",
		"a = [1 2]\n",
		"a = {x = 1,}\n",                       /* trailing comma in inline table */
		"a = {x = 1\n}\n",                      /* newline in inline table */
		"a\n",
		"= 1\n",
		"[a\n",
		"[[a]\n",
		"a = \"\x01\"\n",                       /* control character */
		"# \x01 comment\n",
		"a = \"\xff\"\n",                       /* not UTF-8 */
		"a = \"\xc0\x80\"\n",                   /* overlong */
		"a.b = 1\na = 2\n",
		"a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		struct toml_value *t = parse(bad[i]);
		if (t) {
			fprintf(stderr, "accepted invalid TOML #%d: %s", i, bad[i]);
			toml_free(t);
		}
		CHECK(t == NULL);
		CHECK_ERRMSG(err);
		CHECK(strstr(err, "t.toml:") != NULL);
	}
	/* a NUL byte inside the text */
	struct toml_value *t = toml_parse("a = 1\n\0b", 8, "t.toml", err, sizeof err);
	CHECK(t == NULL);
	CHECK(strstr(err, "t.toml:2:") != NULL);
	/* the line is named */
	t = parse("a = 1\nb = 2\nc = \n");
	CHECK(t == NULL && strstr(err, "t.toml:3:") != NULL);
}

int main(void)
{
	test_values();
	test_tables();
	test_invalid();
	return UNIT_DONE();
}
