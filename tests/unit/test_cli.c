// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for cli: cli_parse, cli_fuse_optstring. */
#include "unit.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof(a)[0]))

static char err[512];

/* cli_parse on a literal argv (argv[0] included). */
static int parse(int argc, const char *const *argv, struct pe_opts *o)
{
	err[0] = '\0';
	return cli_parse(argc, (char **)argv, o, err, sizeof err);
}
#define PARSE(o, ...)                                                           \
	({                                                                      \
		static const char *const argv_[] = { "pyenvfs", __VA_ARGS__ };  \
		parse(ARGC(argv_), argv_, (o));                                 \
	})

static int has_fuse_opt(const struct pe_opts *o, const char *opt)
{
	for (size_t i = 0; i < o->nfuse_opts; i++)
		if (strcmp(o->fuse_opts[i], opt) == 0)
			return 1;
	return 0;
}

static void check_defaults_except(const struct pe_opts *o)
{
	CHECK(o->foreground == 0);
	CHECK(o->debug == 0);
	CHECK(o->single_thread == 0);
	CHECK(o->help == 0);
	CHECK(o->version == 0);
	CHECK(o->read_only == 0);
	CHECK(o->allow_other == 0);
	CHECK(o->base_timeout == 3600.0);
	CHECK(o->site_timeout == 1.0);
	CHECK(o->lower_timeout == 60.0);
	CHECK(o->nfuse_opts == 0);
}

static void test_positionals(void)
{
	struct pe_opts o;

	/* The card's form: positionals first. */
	CHECK(PARSE(&o, "/usr", "--site", "S", "M") == 0);
	CHECK_STR(o.base, "/usr");
	CHECK_STR(o.mountpoint, "M");
	CHECK_STR(o.site, "S");
	CHECK(o.python == NULL);
	CHECK(o.system_site == 0);
	check_defaults_except(&o);
	cli_free(&o);

	/* Options first, --site=DIR. */
	CHECK(PARSE(&o, "--site=S", "/usr", "M") == 0);
	CHECK_STR(o.base, "/usr");
	CHECK_STR(o.mountpoint, "M");
	CHECK_STR(o.site, "S");
	check_defaults_except(&o);
	cli_free(&o);

	CHECK(PARSE(&o, "/usr", "M", "--site", "S") == 0);
	CHECK_STR(o.base, "/usr");
	CHECK_STR(o.mountpoint, "M");
	CHECK_STR(o.site, "S");
	cli_free(&o);

	/* The fstab form: everything in -o, none of it for libfuse. */
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,python=3.12,system_site_packages") == 0);
	CHECK_STR(o.base, "/usr");
	CHECK_STR(o.mountpoint, "M");
	CHECK_STR(o.site, "S");
	CHECK_STR(o.python, "3.12");
	CHECK(o.system_site == 1);
	check_defaults_except(&o);
	cli_free(&o);

	/* After "--" a leading dash is a name. */
	CHECK(PARSE(&o, "--site", "S", "--", "-base", "-m") == 0);
	CHECK_STR(o.base, "-base");
	CHECK_STR(o.mountpoint, "-m");
	cli_free(&o);

	/* A later --site wins; --system-site-packages as a long option. */
	CHECK(PARSE(&o, "--site", "S1", "/usr", "M", "--site=S2", "--system-site-packages") == 0);
	CHECK_STR(o.site, "S2");
	CHECK(o.system_site == 1);
	cli_free(&o);
}

static void test_fuse_opts(void)
{
	struct pe_opts o;
	char *s;

	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "allow_other,ro") == 0);
	CHECK(o.read_only == 1);
	CHECK(o.allow_other == 1);
	CHECK(o.nfuse_opts == 2);
	CHECK(has_fuse_opt(&o, "allow_other"));
	CHECK(has_fuse_opt(&o, "ro"));
	s = cli_fuse_optstring(&o);
	CHECK_STR(s, "allow_other,ro");
	free(s);
	cli_free(&o);

	/* What mount(8) adds from fstab means nothing here: ignored, not passed on. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "defaults,nofail") == 0);
	CHECK(o.nfuse_opts == 0);
	check_defaults_except(&o);
	s = cli_fuse_optstring(&o);
	CHECK_STR(s, "");
	free(s);
	cli_free(&o);

	/* -oLIST, no space. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-oallow_other") == 0);
	CHECK(o.allow_other == 1);
	CHECK(o.read_only == 0);
	CHECK(o.nfuse_opts == 1);
	CHECK(has_fuse_opt(&o, "allow_other"));
	cli_free(&o);

	/* Several -o, mixed with ours, empty elements skipped, values kept whole. */
	CHECK(PARSE(&o, "-o", "rw,,fsname=pyenv:ENV1", "/usr", "M", "-o", "site=S,auto_unmount,noatime") == 0);
	CHECK_STR(o.site, "S");
	CHECK(o.read_only == 0);
	s = cli_fuse_optstring(&o);
	CHECK_STR(s, "rw,fsname=pyenv:ENV1,auto_unmount,noatime");
	free(s);
	cli_free(&o);

	/* ro then rw: the last one wins. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "ro", "-o", "rw") == 0);
	CHECK(o.read_only == 0);
	cli_free(&o);

	/* Timeouts. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "base_timeout=5,site_timeout=0.5") == 0);
	CHECK(o.base_timeout == 5.0);
	CHECK(o.site_timeout == 0.5);
	CHECK(o.nfuse_opts == 0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "site_timeout=0") == 0);
	CHECK(o.site_timeout == 0.0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "lower_timeout=2.5,site_timeout=3") == 0);
	CHECK(o.lower_timeout == 2.5);
	CHECK(o.site_timeout == 3.0);
	CHECK(o.nfuse_opts == 0);
	cli_free(&o);
}

static void test_flags(void)
{
	struct pe_opts o;

	CHECK(PARSE(&o, "-f", "/usr", "M", "--site", "S") == 0);
	CHECK(o.foreground == 1);
	CHECK(o.debug == 0);
	cli_free(&o);

	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-d") == 0);
	CHECK(o.debug == 1);
	CHECK(o.foreground == 1);        /* -d implies -f */
	cli_free(&o);

	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "--debug") == 0);
	CHECK(o.debug == 1 && o.foreground == 1);
	cli_free(&o);

	CHECK(PARSE(&o, "/usr", "-s", "M", "--site", "S") == 0);
	CHECK(o.single_thread == 1);
	CHECK(o.foreground == 0);
	CHECK_STR(o.mountpoint, "M");
	cli_free(&o);

	CHECK(PARSE(&o, "/usr", "M", "--site", "S") == 0);
	CHECK(o.passthrough_off == 0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,passthrough=off") == 0);
	CHECK(o.passthrough_off == 1);
	CHECK(o.nfuse_opts == 0);       /* pyenvfs's own, not libfuse's */
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,passthrough=off,passthrough=auto") == 0);
	CHECK(o.passthrough_off == 0);
	cli_free(&o);

	/* Who opens files: auto (neither flag), kernel, daemon; the last wins. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S") == 0);
	CHECK(o.no_open == 0 && o.open_daemon == 0 && o.watch_off == 0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,open=kernel") == 0);
	CHECK(o.no_open == 1 && o.open_daemon == 0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,no_open,open=daemon") == 0);
	CHECK(o.no_open == 0 && o.open_daemon == 1);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,open=daemon,open=auto") == 0);
	CHECK(o.no_open == 0 && o.open_daemon == 0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,watch=off") == 0);
	CHECK(o.watch_off == 1 && o.nfuse_opts == 0);
	cli_free(&o);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,watch=off,watch=auto") == 0);
	CHECK(o.watch_off == 0);
	cli_free(&o);

	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "--python", "3.11") == 0);
	CHECK_STR(o.python, "3.11");
	cli_free(&o);

	CHECK(PARSE(&o, "--python=3.11", "/usr", "M", "--site", "S") == 0);
	CHECK_STR(o.python, "3.11");
	CHECK_STR(o.base, "/usr");
	cli_free(&o);

	CHECK(PARSE(&o, "--python", "3.13", "-o", "python=2.7", "/usr", "M", "--site", "S") == 0);
	CHECK_STR(o.python, "2.7");      /* the later one wins */
	cli_free(&o);

	/* --help and --version need nothing else. */
	const char *const helps[] = { "--help", "-h" };
	for (size_t i = 0; i < 2; i++) {
		const char *argv[] = { "pyenvfs", helps[i] };
		CHECK(parse(2, argv, &o) == 0);
		CHECK(o.help == 1);
		CHECK(o.version == 0);
		cli_free(&o);
	}
	const char *const versions[] = { "--version", "-V" };
	for (size_t i = 0; i < 2; i++) {
		const char *argv[] = { "pyenvfs", versions[i] };
		CHECK(parse(2, argv, &o) == 0);
		CHECK(o.version == 1);
		CHECK(o.help == 0);
		cli_free(&o);
	}
	CHECK(PARSE(&o, "/usr", "-h") == 0);
	CHECK(o.help == 1);
	cli_free(&o);

	/* cli_free leaves it zeroed, and a second cli_free is harmless. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "--python", "3.11", "-o", "ro") == 0);
	cli_free(&o);
	CHECK(o.base == NULL && o.mountpoint == NULL && o.site == NULL && o.python == NULL);
	CHECK(o.fuse_opts == NULL && o.nfuse_opts == 0);
	cli_free(&o);
}

/* Each must fail with one "pyenvfs: ..." line that contains needle. */
static void expect_error(int argc, const char *const *argv, const char *needle, int line)
{
	struct pe_opts o;
	int r = parse(argc, argv, &o);
	int ok = r == -1 && strncmp(err, "pyenvfs: ", 9) == 0 && strlen(err) > 9 &&
		 !strchr(err, '\n') && (!needle || strstr(err, needle));
	if (ok) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAILED: cli_parse(", __FILE__, line);
		for (int i = 1; i < argc; i++)
			fprintf(stderr, "%s\"%s\"", i > 1 ? ", " : "", argv[i]);
		fprintf(stderr, ") returned %d, err \"%s\" (want -1 and \"%s\")\n", r, err,
			needle ? needle : "");
	}
	cli_free(&o);
}
#define EXPECT_ERROR(needle, ...)                                               \
	do {                                                                    \
		static const char *const argv_[] = { "pyenvfs", __VA_ARGS__ };  \
		expect_error(ARGC(argv_), argv_, needle, __LINE__);             \
	} while (0)

static void test_errors(void)
{
	EXPECT_ERROR("--bogus", "/usr", "M", "--site", "S", "--bogus");
	EXPECT_ERROR("-x", "-x", "/usr", "M", "--site", "S");
	EXPECT_ERROR("--sitex", "/usr", "M", "--sitex", "S");
	EXPECT_ERROR("bogus", "/usr", "M", "--site", "S", "-o", "bogus");
	EXPECT_ERROR("bogus", "/usr", "M", "-o", "site=S,bogus,ro");
	EXPECT_ERROR("fsnamex", "/usr", "M", "--site", "S", "-o", "fsnamex");
	EXPECT_ERROR("-o", "/usr", "M", "--site", "S", "-o");
	EXPECT_ERROR("--site", "/usr", "M");
	EXPECT_ERROR("--site", "/usr", "M", "-o", "ro");
	EXPECT_ERROR("MOUNTPOINT", "/usr", "--site", "S");
	EXPECT_ERROR("BASE", "--site", "S");
	EXPECT_ERROR("BASE", "");
	EXPECT_ERROR("'C'", "A", "B", "C", "--site", "S");
	EXPECT_ERROR("'C'", "--site", "S", "A", "B", "C");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python", "3");
	EXPECT_ERROR("x.y", "/usr", "M", "--site", "S", "--python", "x.y");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python", "3.11/../x");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python=3.");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python=.11");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python=3.11.2");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python=");
	EXPECT_ERROR("--python", "/usr", "M", "--site", "S", "--python");
	EXPECT_ERROR("python=", "/usr", "M", "--site", "S", "-o", "python=../3.1");
	EXPECT_ERROR("passthrough=", "/usr", "M", "--site", "S", "-o", "passthrough=on");
	EXPECT_ERROR("passthrough", "/usr", "M", "--site", "S", "-o", "passthrough");
	EXPECT_ERROR("open=", "/usr", "M", "--site", "S", "-o", "open=yes");
	EXPECT_ERROR("open=", "/usr", "M", "--site", "S", "-o", "open=");
	EXPECT_ERROR("watch=", "/usr", "M", "--site", "S", "-o", "watch=on");
	EXPECT_ERROR("watch", "/usr", "M", "--site", "S", "-o", "watch");
	EXPECT_ERROR("base_timeout", "/usr", "M", "--site", "S", "-o", "base_timeout=-1");
	EXPECT_ERROR("base_timeout", "/usr", "M", "--site", "S", "-o", "base_timeout=");
	EXPECT_ERROR("base_timeout", "/usr", "M", "--site", "S", "-o", "base_timeout=5s");
	EXPECT_ERROR("site_timeout", "/usr", "M", "--site", "S", "-o", "site_timeout=inf");
	EXPECT_ERROR("site_timeout", "/usr", "M", "--site", "S", "-o", "site_timeout=1e10");
	EXPECT_ERROR("lower_timeout", "/usr", "M", "--site", "S", "-o", "lower_timeout=-1");
	EXPECT_ERROR("lower_timeout", "/usr", "M", "--site", "S", "-o", "lower_timeout=");
	EXPECT_ERROR("--site", "/usr", "M", "--site");
	EXPECT_ERROR("--site", "/usr", "M", "--site=");
	EXPECT_ERROR("site=", "/usr", "M", "-o", "site=");
	EXPECT_ERROR("site=", "/usr", "M", "-o", "ro,site=");
	/* A newline in an argument does not split the message. */
	EXPECT_ERROR("'--bo?gus'", "/usr", "M", "--site", "S", "--bo\ngus");
	EXPECT_ERROR(NULL, "/usr", "M", "--site", "S", "-o", "a\nb");

	/* A timeout that is not a number at all. */
	struct pe_opts o;
	const char *const nan_argv[] = { "pyenvfs", "/usr", "M", "--site", "S", "-o", "base_timeout=nan" };
	int r = parse(ARGC(nan_argv), nan_argv, &o);
	CHECK(r == -1);
	cli_free(&o);
}

static void test_lower_sites(void)
{
	struct pe_opts o;

	CHECK(PARSE(&o, "/usr", "M", "--site", "S") == 0);
	CHECK(o.nlower_sites == 0 && o.lower_sites == NULL);
	cli_free(&o);

	/* Repeatable, in order (top first), both spellings, with -o after them. */
	CHECK(PARSE(&o, "--lower-site", "/l/a", "/usr", "M", "--site", "S", "--lower-site=/l/b",
		    "-o", "lower_site=/l/c:/l/d") == 0);
	CHECK(o.nlower_sites == 4);
	if (o.nlower_sites == 4) {
		CHECK_STR(o.lower_sites[0], "/l/a");
		CHECK_STR(o.lower_sites[1], "/l/b");
		CHECK_STR(o.lower_sites[2], "/l/c");
		CHECK_STR(o.lower_sites[3], "/l/d");
	}
	CHECK(o.nfuse_opts == 0);        /* ours, not libfuse's */
	CHECK_STR(o.site, "S");
	cli_free(&o);
	CHECK(o.lower_sites == NULL && o.nlower_sites == 0);

	/* The fstab form alone, among other options; a comma ends the list. */
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,lower_site=/shared/sci:rel/tools,ro") == 0);
	CHECK(o.nlower_sites == 2);
	if (o.nlower_sites == 2) {
		CHECK_STR(o.lower_sites[0], "/shared/sci");
		CHECK_STR(o.lower_sites[1], "rel/tools");
	}
	CHECK(o.read_only == 1);
	CHECK(o.nfuse_opts == 1);
	cli_free(&o);

	/* A ':' in a --lower-site path is part of the name. */
	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "--lower-site", "/a:b") == 0);
	CHECK(o.nlower_sites == 1 && strcmp(o.lower_sites[0], "/a:b") == 0);
	cli_free(&o);

	EXPECT_ERROR("--lower-site", "/usr", "M", "--site", "S", "--lower-site");
	EXPECT_ERROR("--lower-site", "/usr", "M", "--site", "S", "--lower-site=");
	EXPECT_ERROR("--lower-site", "/usr", "M", "--site", "S", "--lower-site", "");
	EXPECT_ERROR("--lower-sitex", "/usr", "M", "--site", "S", "--lower-sitex", "L");
	EXPECT_ERROR("lower_site=", "/usr", "M", "--site", "S", "-o", "lower_site=");
	EXPECT_ERROR("lower_site=/a::/b", "/usr", "M", "--site", "S", "-o", "lower_site=/a::/b");
	EXPECT_ERROR("lower_site=/a:", "/usr", "M", "--site", "S", "-o", "lower_site=/a:");
	EXPECT_ERROR("lower_site=:/a", "/usr", "M", "--site", "S", "-o", "lower_site=:/a");
	/* Still needs --site: layers are under DIR, never instead of it. */
	EXPECT_ERROR("--site", "/usr", "M", "--lower-site", "/l/a");
}

static void test_with_pip(void)
{
	struct pe_opts o;
	CHECK(PARSE(&o, "/usr", "M", "--site", "S") == 0);
	CHECK(o.with_pip == 0);
	cli_free(&o);
	/* Both forms; parsing adds no layer (the mount appends the pip layer,
	 * after the user's, once it knows which base it is). */
	CHECK(PARSE(&o, "--with-pip", "/usr", "M", "--site", "S", "--lower-site", "/l/a") == 0);
	CHECK(o.with_pip == 1 && o.nlower_sites == 1);
	cli_free(&o);
	CHECK(o.with_pip == 0);
	CHECK(PARSE(&o, "/usr", "M", "-o", "site=S,with_pip,ro") == 0);
	CHECK(o.with_pip == 1 && o.read_only == 1 && o.nfuse_opts == 1 && o.nlower_sites == 0);
	cli_free(&o);
	EXPECT_ERROR("--with-pipx", "/usr", "M", "--site", "S", "--with-pipx");
	EXPECT_ERROR("with_pip=1", "/usr", "M", "--site", "S", "-o", "with_pip=1");
	EXPECT_ERROR("--site", "/usr", "M", "--with-pip");
}

static void test_optstring(void)
{
	struct pe_opts o;
	memset(&o, 0, sizeof o);
	char *s = cli_fuse_optstring(&o);
	CHECK_STR(s, "");
	free(s);

	CHECK(PARSE(&o, "/usr", "M", "--site", "S", "-o", "ro", "-o", "allow_other", "-o", "subtype=pyenvfs") == 0);
	CHECK(o.nfuse_opts == 3);
	s = cli_fuse_optstring(&o);
	CHECK_STR(s, "ro,allow_other,subtype=pyenvfs");
	free(s);
	cli_free(&o);
}

static void test_usage(void)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	CHECK(f != NULL);
	if (!f)
		return;
	cli_usage(f);
	fclose(f);
	CHECK(strstr(buf, "usage: pyenvfs BASE MOUNTPOINT --site DIR") == buf);
	CHECK(strstr(buf, "--python X.Y") != NULL);
	CHECK(strstr(buf, "fusermount3 -u") != NULL);
	free(buf);
}

int main(void)
{
	test_positionals();
	test_fuse_opts();
	test_flags();
	test_errors();
	test_lower_sites();
	test_with_pip();
	test_optstring();
	test_usage();
	return UNIT_DONE();
}
