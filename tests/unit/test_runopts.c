// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the subcommands' parsing: run_parse, list/umount_parse, and
 * the mountinfo lines pyenvfs list and umount read. */
#include "unit.h"
#include "cli.h"
#include "mountinfo.h"
#include "runopts.h"

#include <stdlib.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof(a)[0]))

static char err[512];

#define RUN(o, ...)                                                             \
	({                                                                      \
		static const char *const argv_[] = { "run", __VA_ARGS__ };      \
		err[0] = '\0';                                                  \
		run_parse(ARGC(argv_), (char **)argv_, (o), err, sizeof err);   \
	})

static void test_run_split(void)
{
	struct run_opts o;
	CHECK(RUN(&o, "/usr", "--", "python", "-c", "pass") == 0);
	CHECK_STR(o.base, "/usr");
	CHECK(o.nmount_args == 1 && o.ncmd == 3);
	CHECK_STR(o.cmd[0], "python");
	CHECK_STR(o.cmd[2], "pass");
	CHECK(!o.home && !o.has_site);
	run_opts_free(&o);

	/* without "--": CMD is the first word after BASE that no option takes */
	CHECK(RUN(&o, "--site", "/s", "/usr", "--python", "3.11", "python", "-V") == 0);
	CHECK_STR(o.base, "/usr");
	CHECK(o.has_site);
	CHECK(o.nmount_args == 5);
	CHECK_STR(o.mount_args[4], "3.11");
	CHECK(o.ncmd == 2);
	CHECK_STR(o.cmd[1], "-V");
	run_opts_free(&o);

	/* CMD's own options are CMD's */
	CHECK(RUN(&o, "--home", "/usr", "prog", "--site", "x", "--home") == 0);
	CHECK(o.home);
	CHECK(!o.has_site);
	CHECK(o.ncmd == 4);
	run_opts_free(&o);

	CHECK(RUN(&o, "-o", "ro,site=/s", "/usr", "--", "--weird-cmd") == 0);
	CHECK(o.has_site);
	CHECK_STR(o.cmd[0], "--weird-cmd");
	run_opts_free(&o);

	CHECK(RUN(&o, "-osite=/s", "/usr", "x") == 0 && o.has_site);
	run_opts_free(&o);
	CHECK(RUN(&o, "--site=/s", "/usr", "x") == 0 && o.has_site);
	run_opts_free(&o);
	/* an option whose name merely ends in site= is not DIR */
	CHECK(RUN(&o, "-o", "xsite=1", "/usr", "x") == 0 && !o.has_site);
	run_opts_free(&o);

	/* --with-pip is a flag: the word after BASE is still CMD; --lower-site
	 * takes the next word */
	CHECK(RUN(&o, "/usr", "--with-pip", "pip", "--version") == 0);
	CHECK(o.nmount_args == 2 && o.ncmd == 2);
	CHECK_STR(o.mount_args[1], "--with-pip");
	CHECK_STR(o.cmd[0], "pip");
	run_opts_free(&o);
	CHECK(RUN(&o, "--with-pip", "--lower-site", "/l", "/usr", "pip") == 0);
	CHECK(o.nmount_args == 4 && o.ncmd == 1);
	CHECK_STR(o.mount_args[2], "/l");
	CHECK_STR(o.base, "/usr");
	run_opts_free(&o);
}

static void test_run_refusals(void)
{
	struct run_opts o;
	CHECK(RUN(&o, "/usr") == -1);
	CHECK(strstr(err, "missing CMD") != NULL);
	CHECK(RUN(&o, "/usr", "--") == -1);
	CHECK(RUN(&o, "--", "python") == -1);
	CHECK(strstr(err, "missing BASE") != NULL);
	CHECK(RUN(&o, "/usr", "--site") == -1);
	CHECK(strstr(err, "needs a value") != NULL);
	CHECK(RUN(&o, "-f", "/usr", "x") == -1);
	CHECK(strncmp(err, "pyenvfs: run: ", 14) == 0);
	CHECK(strchr(err, '\n') == NULL);
	CHECK(RUN(&o, "--help") == 0 && o.help);
	run_opts_free(&o);
}

/* run --site DIR -- CMD: no BASE (DIR remembers it); which DIR was given. */
static void test_run_site_without_base(void)
{
	struct run_opts o;
	CHECK(RUN(&o, "--site", "/d", "--", "python", "-V") == 0);
	CHECK(o.base == NULL && o.has_site && o.ncmd == 2);
	CHECK_STR(o.site, "/d");
	run_opts_free(&o);
	CHECK(RUN(&o, "-o", "ro,site=/e,python=3.11", "--site=/f", "--", "x") == 0 && !o.base);
	CHECK_STR(o.site, "/f");
	run_opts_free(&o);
	CHECK(RUN(&o, "-osite=/g,ro", "/usr", "x") == 0);
	CHECK_STR(o.site, "/g");
	CHECK_STR(o.base, "/usr");
	run_opts_free(&o);
	/* without "--" the first word is BASE, as always */
	CHECK(RUN(&o, "--site", "/d", "python") == -1);
	CHECK(strstr(err, "missing CMD") != NULL);
	CHECK(RUN(&o, "--", "python") == -1);
	CHECK(strstr(err, "missing BASE") != NULL);
}

/* Every option run passes on with the next word as its value is one that
 * the mount's parser takes with a value. */
static void test_value_options_agree_with_cli(void)
{
	const char *vals[][2] = { { "--site", "/s" }, { "--python", "3.11" }, { "-o", "ro" },
				  { "--lower-site", "/l" } };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		CHECK(run_option_takes_value(vals[i][0]));
		const char *argv[] = { "pyenvfs", "/b", "/m", "--site", "/s", vals[i][0], vals[i][1] };
		struct pe_opts po;
		CHECK(cli_parse(ARGC(argv), (char **)argv, &po, err, sizeof err) == 0);
		cli_free(&po);
	}
	CHECK(!run_option_takes_value("--system-site-packages"));
	CHECK(!run_option_takes_value("--with-pip"));
	CHECK(!run_option_takes_value("--site=/s"));
}

static void test_list_umount(void)
{
	struct list_opts l;
	const char *a1[] = { "list", "--json" };
	CHECK(list_parse(2, (char **)a1, &l, err, sizeof err) == 0 && l.json);
	const char *a2[] = { "list", "x" };
	CHECK(list_parse(2, (char **)a2, &l, err, sizeof err) == -1);
	struct umount_opts u;
	const char *a3[] = { "umount", "/m" };
	CHECK(umount_parse(2, (char **)a3, &u, err, sizeof err) == 0);
	CHECK_STR(u.mountpoint, "/m");
	const char *a4[] = { "umount" };
	CHECK(umount_parse(1, (char **)a4, &u, err, sizeof err) == -1);
	CHECK(strstr(err, "missing MOUNTPOINT") != NULL);
	const char *a5[] = { "stop", "/a", "/b" };
	CHECK(umount_parse(3, (char **)a5, &u, err, sizeof err) == -1);
	CHECK(strstr(err, "stop:") != NULL);
	const char *a6[] = { "umount", "-z", "/a" };
	CHECK(umount_parse(3, (char **)a6, &u, err, sizeof err) == -1);
	CHECK(!u.stale_only);
	const char *a7[] = { "umount", "--stale", "/a" };
	CHECK(umount_parse(3, (char **)a7, &u, err, sizeof err) == 0 && u.stale_only);
	CHECK_STR(u.mountpoint, "/a");
}

static void test_mountinfo(void)
{
	char line[] = "36 35 0:40 / /home/u/my\\040env rw,nosuid,nodev,relatime shared:1 master:2 - "
		      "fuse.pyenvfs /usr rw,user_id=1000,group_id=1000,default_permissions\n";
	struct mount_entry e;
	CHECK(mountinfo_parse_line(line, &e) == 0);
	CHECK(e.id == 36);
	CHECK_STR(e.mountpoint, "/home/u/my env");
	CHECK_STR(e.fstype, "fuse.pyenvfs");
	CHECK_STR(e.source, "/usr");
	CHECK_STR(e.options, "rw,nosuid,nodev,relatime");
	CHECK(mountinfo_is_pyenvfs(&e));
	char buf[32];
	CHECK_STR(mountinfo_option(e.super_options, "user_id", buf, sizeof buf), "1000");
	CHECK(mountinfo_option(e.super_options, "user", buf, sizeof buf) == NULL);
	CHECK(mountinfo_option(e.super_options, "default_permissions", buf, sizeof buf) == NULL);

	char other[] = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
	CHECK(mountinfo_parse_line(other, &e) == 0);
	CHECK(!mountinfo_is_pyenvfs(&e));
	char bad_id[] = "x22 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
	CHECK(mountinfo_parse_line(bad_id, &e) == -1);
	char bad[] = "22 1 8:1 / / rw ext4 /dev/sda1 rw\n";   /* no "-" */
	CHECK(mountinfo_parse_line(bad, &e) == -1);
	char shortl[] = "22 1\n";
	CHECK(mountinfo_parse_line(shortl, &e) == -1);
	char bs[] = "1 1 0:1 / /a\\134b rw - fuse.pyenvfs /o\\011p rw\n";
	CHECK(mountinfo_parse_line(bs, &e) == 0);
	CHECK_STR(e.mountpoint, "/a\\b");
	CHECK_STR(e.source, "/o\tp");
}

int main(void)
{
	test_run_split();
	test_run_refusals();
	test_run_site_without_base();
	test_value_options_agree_with_cli();
	test_list_umount();
	test_mountinfo();
	return UNIT_DONE();
}
