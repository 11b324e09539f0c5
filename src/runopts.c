// SPDX-License-Identifier: GPL-2.0-or-later
/* The command lines of pyenvfs run, list and umount (pure parsing). */
#include "runopts.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The mount options that take a value; they must agree with cli.c (the unit
 * tests check that cli_parse accepts each of them with a value). */
static const char *const value_opts[] = { "--site", "--python", "--lower-site", "-o", "--lock", "--store",
					  "--shared-store", NULL };

int run_option_takes_value(const char *arg)
{
	for (const char *const *v = value_opts; *v; v++)
		if (strcmp(arg, *v) == 0)
			return 1;
	return 0;
}

static void add_mount_arg(struct run_opts *o, char *arg)
{
	o->mount_args = realloc(o->mount_args, (size_t)(o->nmount_args + 1) * sizeof *o->mount_args);
	if (!o->mount_args)
		abort();
	o->mount_args[o->nmount_args++] = arg;
}

/* The DIR an option names (malloc'ed), or NULL. */
static char *names_site(const char *arg, const char *value)
{
	if (strcmp(arg, "--site") == 0)
		return pe_xstrdup(value ? value : "");
	if (strncmp(arg, "--site=", 7) == 0)
		return pe_xstrdup(arg + 7);
	if (strncmp(arg, "-o", 2) != 0)
		return NULL;
	const char *list = arg[2] ? arg + 2 : value;
	char *found = NULL;
	for (const char *p = list; p && (p = strstr(p, "site=")); p++)
		if (p == list || p[-1] == ',') {
			free(found);
			found = strndup(p + 5, strcspn(p + 5, ","));
			if (!found)
				abort();
		}
	return found;
}

static int parse_run(int argc, char **argv, struct run_opts *o, char *err, size_t len)
{
	int i = 1;
	for (; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (o->base)
				break;          /* the first word after BASE: CMD */
			o->base = a;
			add_mount_arg(o, a);
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = 1;
		} else if (strcmp(a, "--home") == 0) {
			o->home = 1;
		} else if (strcmp(a, "--refresh") == 0) {
			o->refresh = 1;
		} else if (strcmp(a, "--with") == 0 || strncmp(a, "--with=", 7) == 0) {
			char *req = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
			if (!req || !*req)
				return pe_err(err, len, "run: --with needs a requirement (NAME or NAME==VERSION)");
			o->with = realloc(o->with, (size_t)(o->nwith + 1) * sizeof *o->with);
			if (!o->with)
				abort();
			o->with[o->nwith++] = req;
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			return pe_err(err, len, "run: '%s' means nothing here (see pyenvfs run --help)", a);
		} else {
			const char *value = NULL;
			add_mount_arg(o, a);
			if (run_option_takes_value(a)) {
				if (i + 1 >= argc)
					return pe_err(err, len, "run: %s needs a value", a);
				value = argv[++i];
				add_mount_arg(o, argv[i]);
			}
			char *site = names_site(a, value);
			if (site) {
				free(o->site);
				o->site = site;
				o->has_site = 1;
			}
		}
	}
	if (o->help)
		return 0;
	if (!o->base && (!o->has_site || i > argc || strcmp(argv[i - 1], "--") != 0))
		return pe_err(err, len, "run: missing BASE: usage: pyenvfs run [options] BASE [--] CMD [ARGS...] "
			      "(or --site DIR -- CMD, for a DIR that remembers its base)");
	if (i >= argc)
		return pe_err(err, len, "run: missing CMD: usage: pyenvfs run [options] BASE [--] CMD [ARGS...]");
	o->cmd = argv + i;
	o->ncmd = argc - i;
	return 0;
}

int run_parse(int argc, char **argv, struct run_opts *o, char *err, size_t len)
{
	memset(o, 0, sizeof *o);
	if (parse_run(argc, argv, o, err, len)) {
		run_opts_free(o);
		return -1;
	}
	return 0;
}

void run_opts_free(struct run_opts *o)
{
	free(o->mount_args);
	free(o->with);
	free(o->site);
	memset(o, 0, sizeof *o);
}

int list_parse(int argc, char **argv, struct list_opts *o, char *err, size_t len)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			o->help = 1;
		else if (strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else
			return pe_err(err, len, "list: unexpected argument '%s' (see pyenvfs list --help)", argv[i]);
	}
	return 0;
}

int umount_parse(int argc, char **argv, struct umount_opts *o, char *err, size_t len)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			o->help = 1;
		else if (strcmp(a, "--stale") == 0)
			o->stale_only = 1;
		else if (a[0] == '-' && a[1])
			return pe_err(err, len, "%s: unknown option '%s' (see pyenvfs %s --help)", argv[0], a, argv[0]);
		else if (o->mountpoint)
			return pe_err(err, len, "%s: unexpected argument '%s': one MOUNTPOINT", argv[0], a);
		else
			o->mountpoint = a;
	}
	if (!o->help && !o->mountpoint)
		return pe_err(err, len, "%s: missing MOUNTPOINT: usage: pyenvfs %s MOUNTPOINT", argv[0], argv[0]);
	return 0;
}

void run_usage(FILE *f)
{
	fputs(
"usage: pyenvfs run [--home] [--site DIR] [--with REQ]... [mount options] BASE [--] CMD [ARGS...]\n"
"       pyenvfs run [options] BASE SCRIPT.py [ARGS...]\n"
"\n"
"Makes an env of BASE's Python at a fresh private mount point, runs CMD in it,\n"
"and takes the env down when CMD ends, however it ends. The env is active for\n"
"CMD as bin/activate would make it: VIRTUAL_ENV set, the env's bin first in\n"
"PATH, PYTHONHOME unset. Its site-packages is a fresh temporary directory,\n"
"deleted afterwards, unless --site DIR names one to keep.\n"
"\n"
"A CMD that is a .py file runs with the env's Python; its inline metadata\n"
"(PEP 723: a '# /// script' block) gives the env's dependencies, as --with\n"
"does, and its requires-python is checked against BASE's Python.\n"
"\n"
"options:\n"
"  --home            PYTHONHOME mode: PYTHONHOME set to the env (for embedders\n"
"                    and Python 2.7) instead of venv mode\n"
"  --site DIR        keep the env's packages in DIR (created if missing)\n"
"  --with-pip        pip in the env at once (BASE's own bundled pip, made once\n"
"                    into the cache; see pyenvfs --help)\n"
"  --with REQ        a distribution in the env (NAME, NAME==VERSION, any pip\n"
"                    requirement; repeatable): resolved with its dependencies\n"
"                    by BASE's own pip against your pip configuration (index,\n"
"                    --find-links), installed into your store once, stacked\n"
"                    under the env's DIR. pip's answer is kept for\n"
"                    $PYENVFS_RESOLVE_TTL seconds (600)\n"
"  --refresh         ask pip again now\n"
"  --lock FILE       the env's distributions from a lock (see pyenvfs --help)\n"
"  --store DIR, --shared-store DIR\n"
"                    the stores (see pyenvfs store --help)\n"
"  --python X.Y, --system-site-packages, --lower-site L, -o OPTIONS\n"
"                    as for a mount (see pyenvfs --help)\n"
"  -h, --help        this text\n"
"\n"
"The exit status is CMD's (128+N if a signal N ended it), 127 if CMD is not\n"
"found, 126 if it cannot be run, and 125 if pyenvfs refused or could not make\n"
"the env (one line on stderr says why; nothing is left behind).\n", f);
}

void list_usage(FILE *f)
{
	fputs(
"usage: pyenvfs list [--json]\n"
"\n"
"Lists the pyenvfs envs mounted by you (by anyone, for root): mount point,\n"
"Python version, base, site directory, lower layers, options, the daemon's\n"
"PID, and whether it is live or the mount is stale (its daemon died: clear\n"
"it with pyenvfs umount).\n"
"  --json            one JSON array, for scripts\n", f);
}

void umount_usage(FILE *f)
{
	fputs(
"usage: pyenvfs umount [--stale] MOUNTPOINT\n"
"\n"
"Unmounts a pyenvfs env (fusermount3 -u, or umount as root). A stale mount,\n"
"whose daemon died, is cleared with a lazy unmount, and pyenvfs says so.\n"
"  --stale           only a stale mount: a live one is left, and nothing\n"
"                    mounted is no error (a systemd unit's ExecStartPre)\n"
"\n"
"Exit status: 0 if done (or, with --stale, nothing to do), 1 if not.\n", f);
}
