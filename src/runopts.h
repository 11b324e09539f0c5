// SPDX-License-Identifier: GPL-2.0-or-later
/* The command lines of the subcommands (pyenvfs run, list, umount): parsing
 * only, no I/O, so that the unit tests reach every case. */
#ifndef PYENVFS_RUNOPTS_H
#define PYENVFS_RUNOPTS_H

#include <stddef.h>
#include <stdio.h>

struct run_opts {
	int help;
	int home;               /* --home: PYTHONHOME mode instead of venv mode */
	int has_site;           /* --site or -o site= among the mount options */
	char *site;             /* ... its value (the last one given), malloc'ed */
	const char *base;       /* BASE, as given; NULL with --site before "--": the
				 * base DIR remembers (run.c) */
	char **mount_args;      /* the options for the mount, BASE among them */
	int nmount_args;
	char **cmd;             /* CMD and its arguments (pointers into argv) */
	int ncmd;
	char **with;            /* --with REQ, in order (pointers into argv) */
	int nwith;
	int refresh;            /* --refresh: resolve --with and a script's dependencies again */
};

/* Parses argv of "pyenvfs run ..." (argv[0] is "run"). Everything before CMD
 * that is not run's own option goes to the mount unchanged; CMD starts after
 * "--", or at the first word after BASE that no option consumes. Returns 0, or
 * -1 with a one-line message in err. Pure; run_opts_free frees. */
int run_parse(int argc, char **argv, struct run_opts *o, char *err, size_t len);
void run_opts_free(struct run_opts *o);

/* 1 if a mount option word (e.g. "--site", "-o") takes the next word as its
 * value when it has none of its own ("--site=DIR", "-oro"). */
int run_option_takes_value(const char *arg);

struct list_opts {
	int help;
	int json;
};
int list_parse(int argc, char **argv, struct list_opts *o, char *err, size_t len);

struct umount_opts {
	int help;
	int stale_only;         /* --stale: only a stale mount; nothing to do is no error */
	const char *mountpoint;
};
int umount_parse(int argc, char **argv, struct umount_opts *o, char *err, size_t len);

/* The usage texts of the subcommands. */
void run_usage(FILE *f);
void list_usage(FILE *f);
void umount_usage(FILE *f);

#endif
