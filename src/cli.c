// SPDX-License-Identifier: GPL-2.0-or-later
/* Command-line parsing (pure) and the usage text. */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Mount options that belong to libfuse or the kernel, passed through as given.
 * Anything else is refused here, before anything is created or mounted. */
static const char *const fuse_flag_opts[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions",
	"ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
	"atime", "noatime", "nodiratime", "relatime", "strictatime",
	"sync", "async", "dirsync", "blkdev", NULL
};
static const char *const fuse_value_opts[] = {
	"fsname=", "subtype=", "max_read=", "blksize=", "context=",
	"fscontext=", "defcontext=", "rootcontext=", NULL
};
/* Options mount(8) and fstab may pass that mean nothing to a FUSE daemon. */
static const char *const ignored_opts[] = {
	"auto", "noauto", "user", "nouser", "users", "defaults", "_netdev",
	"nofail", NULL
};

static int in_list(const char *const *list, const char *s, int prefix)
{
	for (; *list; list++)
		if (prefix ? strncmp(s, *list, strlen(*list)) == 0 : strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static void add_fuse_opt(struct pe_opts *o, const char *opt)
{
	o->fuse_opts = realloc(o->fuse_opts, (o->nfuse_opts + 1) * sizeof *o->fuse_opts);
	if (!o->fuse_opts)
		abort();
	o->fuse_opts[o->nfuse_opts++] = pe_xstrdup(opt);
}

static int add_lower_site(struct pe_opts *o, const char *dir, char *err, size_t len)
{
	if (!*dir)
		return pe_err(err, len, "--lower-site needs a directory (-o lower_site=L1:L2 in fstab)");
	o->lower_sites = realloc(o->lower_sites, (o->nlower_sites + 1) * sizeof *o->lower_sites);
	if (!o->lower_sites)
		abort();
	o->lower_sites[o->nlower_sites++] = pe_xstrdup(dir);
	return 0;
}

/* "L1:L2:..." of -o lower_site=, in order; an empty element is refused (it
 * would be the working directory, which means nothing to a daemon). */
static int add_lower_site_list(struct pe_opts *o, const char *list, char *err, size_t len)
{
	cleanup_free char *copy = pe_xstrdup(list);
	char *p = copy;
	for (;;) {
		char *colon = strchr(p, ':');
		if (colon)
			*colon = '\0';
		if (!*p)
			return pe_err(err, len, "-o lower_site=%s: expected directories separated by ':'", list);
		if (add_lower_site(o, p, err, len))
			return -1;
		if (!colon)
			return 0;
		p = colon + 1;
	}
}

static int add_shared_store(struct pe_opts *o, const char *dir, char *err, size_t len)
{
	if (!*dir)
		return pe_err(err, len, "--shared-store needs a directory (-o shared_store=A:B in fstab)");
	o->shared_stores = realloc(o->shared_stores, (o->nshared_stores + 1) * sizeof *o->shared_stores);
	if (!o->shared_stores)
		abort();
	o->shared_stores[o->nshared_stores++] = pe_xstrdup(dir);
	return 0;
}

static int add_shared_store_list(struct pe_opts *o, const char *list, char *err, size_t len)
{
	cleanup_free char *copy = pe_xstrdup(list);
	for (char *p = copy;;) {
		char *colon = strchr(p, ':');
		if (colon)
			*colon = '\0';
		if (add_shared_store(o, p, err, len))
			return -1;
		if (!colon)
			return 0;
		p = colon + 1;
	}
}

static void set_str(char **dst, const char *val)
{
	free(*dst);
	*dst = pe_xstrdup(val);
}

static int parse_seconds(const char *val, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(val, &end);
	if (errno || end == val || *end || !(d >= 0 && d <= 1e9))   /* refuses NaN too */
		return -1;
	*out = d;
	return 0;
}

static int valid_version(const char *v)
{
	/* X.Y with digits only: it becomes part of a path ("bin/pythonX.Y"). */
	const char *dot = strchr(v, '.');
	if (!dot || dot == v || !dot[1] || strlen(v) > 8)
		return 0;
	for (const char *p = v; *p; p++)
		if (p != dot && (*p < '0' || *p > '9'))
			return 0;
	return 1;
}

/* One element of a -o list. */
static int parse_mount_opt(struct pe_opts *o, const char *opt, char *err, size_t len)
{
	if (!*opt)
		return 0;
	if (strncmp(opt, "site=", 5) == 0) {
		if (!opt[5])
			return pe_err(err, len, "-o site= needs a directory");
		set_str(&o->site, opt + 5);
	} else if (strncmp(opt, "python=", 7) == 0) {
		if (!valid_version(opt + 7))
			return pe_err(err, len, "-o python=%s: expected a version like 3.11", opt + 7);
		set_str(&o->python, opt + 7);
	} else if (strncmp(opt, "lower_site=", 11) == 0) {
		if (add_lower_site_list(o, opt + 11, err, len))
			return -1;
	} else if (strncmp(opt, "lock=", 5) == 0) {
		if (!opt[5])
			return pe_err(err, len, "-o lock= needs a lock file");
		set_str(&o->lock, opt + 5);
	} else if (strncmp(opt, "store=", 6) == 0) {
		if (!opt[6])
			return pe_err(err, len, "-o store= needs a directory");
		set_str(&o->store, opt + 6);
	} else if (strncmp(opt, "shared_store=", 13) == 0) {
		if (add_shared_store_list(o, opt + 13, err, len))
			return -1;
	} else if (strcmp(opt, "with_pip") == 0) {
		o->with_pip = 1;
	} else if (strcmp(opt, "restack") == 0) {
		o->restack = 1;
	} else if (strcmp(opt, "system_site_packages") == 0) {
		o->system_site = 1;
	} else if (strcmp(opt, "no_open") == 0) {
		o->no_open = 1;
		o->open_daemon = 0;
	} else if (strncmp(opt, "open=", 5) == 0) {
		if (strcmp(opt + 5, "auto") && strcmp(opt + 5, "kernel") && strcmp(opt + 5, "daemon"))
			return pe_err(err, len, "-o %s: expected open=auto, open=kernel or open=daemon", opt);
		o->no_open = strcmp(opt + 5, "kernel") == 0;
		o->open_daemon = strcmp(opt + 5, "daemon") == 0;
	} else if (strncmp(opt, "watch=", 6) == 0) {
		if (strcmp(opt + 6, "off") && strcmp(opt + 6, "auto"))
			return pe_err(err, len, "-o %s: expected watch=auto or watch=off", opt);
		o->watch_off = strcmp(opt + 6, "off") == 0;
	} else if (strncmp(opt, "passthrough=", 12) == 0) {
		if (strcmp(opt + 12, "off") && strcmp(opt + 12, "auto"))
			return pe_err(err, len, "-o %s: expected passthrough=auto or passthrough=off", opt);
		o->passthrough_off = strcmp(opt + 12, "off") == 0;
	} else if (strncmp(opt, "base_timeout=", 13) == 0) {
		if (parse_seconds(opt + 13, &o->base_timeout))
			return pe_err(err, len, "-o %s: expected a number of seconds", opt);
	} else if (strncmp(opt, "site_timeout=", 13) == 0) {
		if (parse_seconds(opt + 13, &o->site_timeout))
			return pe_err(err, len, "-o %s: expected a number of seconds", opt);
	} else if (strncmp(opt, "lower_timeout=", 14) == 0) {
		if (parse_seconds(opt + 14, &o->lower_timeout))
			return pe_err(err, len, "-o %s: expected a number of seconds", opt);
	} else if (in_list(ignored_opts, opt, 0)) {
		return 0;
	} else if (in_list(fuse_flag_opts, opt, 0) || in_list(fuse_value_opts, opt, 1)) {
		if (strcmp(opt, "ro") == 0)
			o->read_only = 1;
		else if (strcmp(opt, "rw") == 0)
			o->read_only = 0;
		else if (strcmp(opt, "allow_other") == 0)
			o->allow_other = 1;
		else if (strcmp(opt, "allow_root") == 0)
			o->allow_root = 1;
		add_fuse_opt(o, opt);
	} else {
		return pe_err(err, len, "unknown mount option '-o %s' (see pyenvfs --help)", opt);
	}
	return 0;
}

static int parse_mount_opts(struct pe_opts *o, const char *list, char *err, size_t len)
{
	cleanup_free char *copy = pe_xstrdup(list);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (parse_mount_opt(o, tok, err, len))
			return -1;
	return 0;
}

/* "--name=value" or "--name value": returns the value, advancing *i as needed. */
static const char *long_value(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int parse_args(int argc, char **argv, struct pe_opts *o, char *err, size_t len);

int cli_parse(int argc, char **argv, struct pe_opts *o, char *err, size_t len)
{
	if (parse_args(argc, argv, o, err, len)) {
		cli_free(o);            /* nothing half-made is left to the caller */
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct pe_opts *o, char *err, size_t len)
{
	const char *positional[2] = { NULL, NULL };
	int npos = 0, only_positional = 0;

	memset(o, 0, sizeof *o);
	o->base_timeout = 3600.0;
	o->site_timeout = 1.0;
	o->lower_timeout = 60.0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (only_positional || a[0] != '-' || a[1] == '\0') {
			if (npos == 2)
				return pe_err(err, len, "unexpected argument '%s': expected BASE MOUNTPOINT --site DIR", a);
			positional[npos++] = a;
		} else if (strcmp(a, "--") == 0) {
			only_positional = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = 1;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			o->version = 1;
		} else if (strcmp(a, "-f") == 0) {
			o->foreground = 1;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
			o->debug = o->foreground = 1;
		} else if (strcmp(a, "-s") == 0) {
			o->single_thread = 1;
		} else if (strcmp(a, "--system-site-packages") == 0) {
			o->system_site = 1;
		} else if (strcmp(a, "--with-pip") == 0) {
			o->with_pip = 1;
		} else if (strcmp(a, "--restack") == 0) {
			o->restack = 1;
		} else if (strncmp(a, "--site", 6) == 0 && (a[6] == '\0' || a[6] == '=')) {
			if (!(v = long_value(argc, argv, &i, "--site")) || !*v)
				return pe_err(err, len, "--site needs a directory");
			set_str(&o->site, v);
		} else if (strncmp(a, "--lower-site", 12) == 0 && (a[12] == '\0' || a[12] == '=')) {
			if (!(v = long_value(argc, argv, &i, "--lower-site")))
				return pe_err(err, len, "--lower-site needs a directory");
			if (add_lower_site(o, v, err, len))
				return -1;
		} else if (strncmp(a, "--lock", 6) == 0 && (a[6] == '\0' || a[6] == '=')) {
			if (!(v = long_value(argc, argv, &i, "--lock")) || !*v)
				return pe_err(err, len, "--lock needs a lock file (pylock.toml or requirements.txt)");
			set_str(&o->lock, v);
		} else if (strncmp(a, "--store", 7) == 0 && (a[7] == '\0' || a[7] == '=')) {
			if (!(v = long_value(argc, argv, &i, "--store")) || !*v)
				return pe_err(err, len, "--store needs a directory");
			set_str(&o->store, v);
		} else if (strncmp(a, "--shared-store", 14) == 0 && (a[14] == '\0' || a[14] == '=')) {
			if (!(v = long_value(argc, argv, &i, "--shared-store")))
				return pe_err(err, len, "--shared-store needs a directory");
			if (add_shared_store(o, v, err, len))
				return -1;
		} else if (strncmp(a, "--python", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
			if (!(v = long_value(argc, argv, &i, "--python")))
				return pe_err(err, len, "--python needs a version like 3.11");
			if (!valid_version(v))
				return pe_err(err, len, "--python %s: expected a version like 3.11", v);
			set_str(&o->python, v);
		} else if (strncmp(a, "-o", 2) == 0) {
			const char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (!list)
				return pe_err(err, len, "-o needs a list of options");
			if (parse_mount_opts(o, list, err, len))
				return -1;
		} else {
			return pe_err(err, len, "unknown option '%s' (see pyenvfs --help)", a);
		}
	}
	if (o->help || o->version)
		return 0;
	if (npos < 2)
		return pe_err(err, len, npos == 0 ? "missing BASE and MOUNTPOINT: usage: pyenvfs BASE MOUNTPOINT --site DIR"
						  : "missing MOUNTPOINT: usage: pyenvfs BASE MOUNTPOINT --site DIR");
	if (!o->site)
		return pe_err(err, len, "missing --site DIR (the env's site-packages directory; -o site=DIR in fstab)");
	o->base = pe_xstrdup(positional[0]);
	o->mountpoint = pe_xstrdup(positional[1]);
	return 0;
}

void cli_free(struct pe_opts *o)
{
	free(o->base);
	free(o->mountpoint);
	free(o->site);
	free(o->python);
	for (size_t i = 0; i < o->nlower_sites; i++)
		free(o->lower_sites[i]);
	free(o->lower_sites);
	free(o->lock);
	free(o->store);
	for (size_t i = 0; i < o->nshared_stores; i++)
		free(o->shared_stores[i]);
	free(o->shared_stores);
	for (size_t i = 0; i < o->nfuse_opts; i++)
		free(o->fuse_opts[i]);
	free(o->fuse_opts);
	memset(o, 0, sizeof *o);
}

char *cli_fuse_optstring(const struct pe_opts *o)
{
	size_t n = 1;
	for (size_t i = 0; i < o->nfuse_opts; i++)
		n += strlen(o->fuse_opts[i]) + 1;
	char *s = pe_xcalloc(1, n);
	for (size_t i = 0; i < o->nfuse_opts; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, o->fuse_opts[i]);
	}
	return s;
}

void cli_usage(FILE *f)
{
	fputs(
"usage: pyenvfs BASE MOUNTPOINT --site DIR [options]\n"
"       pyenvfs BASE MOUNTPOINT -o site=DIR[,python=X.Y][,system_site_packages]\n"
"       pyenvfs run [--home] [--site DIR] [--with REQ]... [options] BASE [--] CMD [ARGS...]\n"
"       pyenvfs run --site DIR [options] -- CMD [ARGS...]\n"
"       pyenvfs run [options] BASE SCRIPT.py [ARGS...]\n"
"       pyenvfs store add|list|du|gc ...\n"
"       pyenvfs list [--json]\n"
"       pyenvfs umount [--stale] MOUNTPOINT\n"
"       pyenvfs clone SRC_DIR DST_DIR\n"
"       pyenvfs pip-layer [--system] [--python X.Y] BASE\n"
"       pyenvfs layer pack DIR IMAGE\n"
"\n"
"Mounts at MOUNTPOINT a Python environment made of the Python installed in the\n"
"prefix BASE (interpreter, headers, standard library; never written) and the\n"
"writable site-packages directory DIR. Use it with PYTHONHOME=MOUNTPOINT and\n"
"PATH=MOUNTPOINT/bin:$PATH, or run MOUNTPOINT/bin/python as a venv.\n"
"Unmount with: fusermount3 -u MOUNTPOINT\n"
"\n"
"options:\n"
"  --site DIR, -o site=DIR      the env's site-packages (created if missing);\n"
"                               DIR holds the whole state of the env\n"
"  --python X.Y, -o python=X.Y  which Python in BASE, when it holds several\n"
"  --lower-site L, -o lower_site=L1:L2\n"
"                               a read-only layer under DIR (repeatable, first\n"
"                               given first): another env's DIR (a clone) or a\n"
"                               `pip install --target` directory; never written:\n"
"                               changes are copied up into DIR, removals recorded\n"
"                               there (see docs/USAGE.md, \"Shared layers\"); a\n"
"                               layer of another Python X.Y is refused\n"
"  --restack, -o restack        stack DIR over the layers given, not the ones it\n"
"                               remembers (DIR/.pyenvfs/env), and remember these;\n"
"                               without --lower-site, DIR's own are used\n"
"  --lock FILE, -o lock=FILE    the env's distributions: a pylock.toml (PEP 751)\n"
"                               or a requirements.txt of == pins (--hash\n"
"                               honoured), stacked under DIR from the store\n"
"                               (missing ones fetched with BASE's pip and added\n"
"                               first); DIR remembers it, so a remount needs no\n"
"                               --lock (see pyenvfs store --help)\n"
"  --store DIR, -o store=DIR    your store (default ~/.cache/pyenvfs/store)\n"
"  --shared-store DIR, -o shared_store=A:B\n"
"                               a read-only store looked in after yours\n"
"                               (repeatable; an admin's, on NFS or squashfs)\n"
"  --system-site-packages, -o system_site_packages\n"
"                               also show BASE's site directories, read-only\n"
"  --with-pip, -o with_pip      pip in the env at once: BASE's own bundled pip,\n"
"                               made once per base into a read-only layer (root's\n"
"                               in /var/cache/pyenvfs/pip-layers, else yours in\n"
"                               ~/.cache/pyenvfs/pip-layers) and stacked under\n"
"                               DIR (last of the lower site layers); pip install\n"
"                               -U pip puts the new pip in DIR, where it wins\n"
"  -o base_timeout=SECS         how long the kernel caches BASE's entries and\n"
"                               attributes (default 3600; lower it if BASE is\n"
"                               upgraded in place while mounted)\n"
"  -o watch=auto|off            auto (the default): the daemon learns of changes\n"
"                               made to DIR and the layers outside the mount\n"
"                               (inotify) and the kernel caches them for long;\n"
"                               off: the timeouts below alone\n"
"  -o site_timeout=SECS         how long the kernel caches DIR's entries and\n"
"                               attributes where no change notification can be\n"
"                               had (default 1)\n"
"  -o lower_timeout=SECS        the same for the lower site layers (default 60):\n"
"                               a layer on NFS, CVMFS or FUSE changed by its\n"
"                               owner shows within it\n"
"  -o open=auto|kernel|daemon   who opens files: kernel (also -o no_open) sends\n"
"                               no request per file opened; daemon answers each\n"
"                               open (FUSE passthrough needs it); auto (the\n"
"                               default): daemon for a root daemon, kernel\n"
"                               otherwise. The cost of kernel as root: opening\n"
"                               a base file for writing succeeds and the write\n"
"                               fails with EROFS (see docs/USAGE.md)\n"
"  -o passthrough=auto|off      reads, writes and mmap of opened files go to the\n"
"                               backing file, by the kernel (auto, the default:\n"
"                               when the kernel offers it and the daemon runs as\n"
"                               root; not with open=kernel); off: the daemon\n"
"                               serves them\n"
"  -f                           stay in the foreground\n"
"  -d, --debug                  foreground, and log every FUSE request\n"
"  -s                           single-threaded\n"
"  -o allow_other, -o ro, -o auto_unmount, -o fsname=NAME, ...\n"
"                               the usual FUSE mount options\n"
"                               (default_permissions is always on)\n"
"  -h, --help                   this text\n"
"  -V, --version                the version\n"
"\n"
"DIR remembers how it was made (DIR/.pyenvfs/env: base, X.Y, layers, pip\n"
"layer): mounted again over another X.Y, or without a layer it was made over,\n"
"it is refused. Its console scripts name the current mount point.\n"
"\n"
"subcommands (pyenvfs SUBCOMMAND --help for each):\n"
"  run      an env for one command: mounted, CMD run in it, taken down after\n"
"  list     the envs you have mounted, live or stale\n"
"  umount   unmount an env (a stale one too)\n"
"  clone    a clone of an env's DIR, nothing copied\n"
"  pip-layer  print the path of BASE's pip layer, making it if needed\n"
"  layer pack  publish an env's DIR as a read-only layer image\n"
"  store    the store of installed distributions: add, list, du, gc\n"
"\n"
"Exit status: 0, or 1 with one line on stderr (pyenvfs run: CMD's, or 125).\n", f);
}
