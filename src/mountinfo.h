// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/self/mountinfo: parsing one line (pure), and reading the table. */
#ifndef PYENVFS_MOUNTINFO_H
#define PYENVFS_MOUNTINFO_H

struct mount_entry {
	unsigned long long id;  /* the mount id (statx's stx_mnt_id) */
	char *mountpoint;       /* unescaped; points into the parsed line */
	char *fstype;           /* e.g. "fuse.pyenvfs" */
	char *source;           /* unescaped; pyenvfs's is its BASE (fsname) */
	char *options;          /* the per-mount options ("rw,nosuid,...") */
	char *super_options;    /* the file system's ("rw,user_id=0,...") */
};

/* Parses one line in place (it is modified). Returns 0, or -1 if it is not a
 * well-formed mountinfo line. */
int mountinfo_parse_line(char *line, struct mount_entry *e);

/* Calls fn on each well-formed line of /proc/self/mountinfo until it returns
 * non-zero; returns that, or 0 (also when the table cannot be read). */
int mountinfo_each(int (*fn)(const struct mount_entry *e, void *arg), void *arg);

/* 1 for a pyenvfs mount (fuse.pyenvfs, or fuse with a pyenvfs subtype). */
int mountinfo_is_pyenvfs(const struct mount_entry *e);

/* The value of NAME= in a comma-separated option list (copied into buf), or
 * NULL if absent. */
const char *mountinfo_option(const char *opts, const char *name, char *buf, unsigned len);

#endif
