// SPDX-License-Identifier: GPL-2.0-or-later
/* Command line: parsing into options (pure), the usage text. The checks that
 * need the file system (paths exist, not mounted, ...) live in check.c. */
#ifndef PYENVFS_CLI_H
#define PYENVFS_CLI_H

#include <stddef.h>
#include <stdio.h>

struct pe_opts {
	char *base;             /* as given on the command line */
	char *mountpoint;
	char *site;
	char *python;           /* "X.Y" or NULL */
	char **lower_sites;     /* --lower-site L, -o lower_site=L1:L2: in order, top first */
	size_t nlower_sites;
	int with_pip;           /* --with-pip, -o with_pip: the base's pip layer, appended to lower_sites at mount */
	char *lock;             /* --lock FILE, -o lock=FILE: the env's distributions, from the store */
	char *store;            /* --store DIR, -o store=DIR: the user's own store */
	char **shared_stores;   /* --shared-store DIR, -o shared_store=A:B: read-only stores, in order */
	size_t nshared_stores;
	int restack;            /* --restack, -o restack: the layers given, not the ones DIR remembers */
	int foreground;
	int debug;
	int single_thread;
	int system_site;
	int help;
	int version;
	int read_only;          /* -o ro */
	int allow_other;
	int allow_root;
	int no_open;            /* -o no_open, -o open=kernel: the kernel opens files itself */
	int open_daemon;        /* -o open=daemon: every open is a request, whoever runs the daemon
				 * (neither: kernel opens unless the daemon runs as root) */
	int watch_off;          /* -o watch=off: no change notifications; the timeouts alone */
	int passthrough_off;    /* -o passthrough=off: the daemon serves every read and write */
	double base_timeout;    /* seconds the kernel may cache base entries/attrs */
	double site_timeout;    /* the same for DIR, which others may change directly */
	double lower_timeout;   /* the same for the lower site layers, changed by their owners */
	char **fuse_opts;       /* mount options for libfuse, one per element */
	size_t nfuse_opts;
};

/* Parses argv. Returns 0, or -1 with a one-line message in err. Pure. */
int cli_parse(int argc, char **argv, struct pe_opts *o, char *err, size_t len);
void cli_free(struct pe_opts *o);

/* The options for libfuse joined with commas ("" if none); malloc'ed. */
char *cli_fuse_optstring(const struct pe_opts *o);

void cli_usage(FILE *f);

#endif
