// SPDX-License-Identifier: GPL-2.0-or-later
/* Directory listings (overlayfs's readdir): a backing directory read as
 * asked, or a list of names made up (a view directory's, a merged one's).
 * A merged directory's lower parts are merged once and kept, versioned, in
 * its stack: the kept listing also answers lookups (listing_lower_find), so
 * that a directory merging hundreds of layers costs one hash probe per
 * lookup, not one per layer. DIR's part is read live, always. */
#ifndef PYENVFS_LISTING_H
#define PYENVFS_LISTING_H

#include <stddef.h>
#include <sys/types.h>

struct pe_fs;
struct stack;
struct stack_found;

struct listing;
struct listing_entry {
	const char *name;
	ino_t ino;              /* a made-up listing's: its position + 1 (never 0,
				 * which readdir callers take as a deleted entry) */
	unsigned char type;     /* DT_* */
	off_t next;             /* the offset of the entry after it */
};

/* An empty made-up listing with "." and ".."; listing_add adds a name once
 * (a later one of the same name is left out). */
struct listing *listing_new(void);
void listing_add(struct listing *l, const char *name, unsigned char type);
/* The backing directory behind path_fd, read as asked (its offsets are the
 * backing file system's), the reserved name left out if hide_reserved. */
int listing_backing(int path_fd, int hide_reserved, struct listing **out);
/* Adds the merged names of s (a merged directory of the union) to l, those
 * for which shows(name, arg) says so (shows may be NULL). 0 or -errno. */
int listing_merged(struct pe_fs *fs, struct stack *s, struct listing *l, int (*shows)(const char *, void *),
		   void *arg);

/* 1 with the entry at offset off (0: the first), 0 at the end, or -errno. */
int listing_get(struct listing *l, off_t off, struct listing_entry *e);
/* The entry listing_get gave was used: the next is read on. */
void listing_advance(struct listing *l);
/* The backing directory's readable descriptor, or -1 for a made-up one. */
int listing_fd(const struct listing *l);
void listing_free(struct listing *l);

/* The kept merge of s's lower parts, built now if it is missing or stale
 * (the distribution index changed, or a lower part's times after
 * lower_timeout): a reference, or NULL. */
struct listing_lower;
struct listing_lower *listing_lower(struct pe_fs *fs, struct stack *s);
void listing_lower_put(struct listing_lower *l);
/* name's answer among the lower parts (positions in s->parts) into f: 1,
 * or 0 if no lower part shows it. */
int listing_lower_find(const struct listing_lower *l, const char *name, struct stack_found *f);

#endif
