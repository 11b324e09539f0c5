// SPDX-License-Identifier: GPL-2.0-or-later
/* pyenvfs store add|list|du|gc: the subcommand, and gc. */
#ifndef PYENVFS_STORECMD_H
#define PYENVFS_STORECMD_H

#include <stddef.h>
#include <stdio.h>

struct store_opts {
	const char *cmd;                /* "add", "list", "du", "gc" */
	int help;
	const char *store;              /* --store DIR */
	const char **shared;            /* --shared-store DIR, in order */
	size_t nshared;
	const char *python;             /* add: --python X.Y */
	const char *base;               /* add: BASE */
	const char **paths;             /* add: WHEEL or DIR, in order */
	size_t npaths;
	int json;                       /* list --json */
	double older_than_days;         /* gc: --older-than DAYS (default 30) */
	long long max_size;             /* gc: --max-size SIZE, or -1 */
	int dry_run;                    /* gc: --dry-run */
};

/* Parses argv of "pyenvfs store ..." (argv[0] "store"). Pure; 0 or -1 with
 * err. store_opts_free frees the arrays (the strings are argv's). */
int store_parse(int argc, char **argv, struct store_opts *o, char *err, size_t len);
void store_opts_free(struct store_opts *o);
/* "10G", "500M", "64K", "123": bytes, or -1. Pure. */
long long store_parse_size(const char *s);

void store_usage(FILE *f);
int store_main(int argc, char **argv);

#endif
