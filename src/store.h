// SPDX-License-Identifier: GPL-2.0-or-later
/* The store of installed distributions: one read-only directory per
 * (wheel, Python X.Y), laid out as a site layer, made once and never changed,
 * found by name and content:
 *
 *   STORE/entries/NAME-VERSION-pyX.Y-SHA256/   an entry: a layer (LAYERS.md)
 *       name/ name-1.0.dist-info/ ...          its site area
 *       .pyenvfs/upper/bin/ share/ include/    its scripts, data, headers
 *       .pyenvfs/mounts                        STORE_SCRIPT_ROOT (its scripts' root)
 *       .pyenvfs/store-entry                   what it is: wheel, sha256, Python
 *   STORE/used/ENTRY                           its mtime: the entry's last mount
 *   STORE/tmp/build.PID.XXXXXX/                entries being made (storeadd.c)
 *
 * NAME is the PEP 503 name with '_' for '-', VERSION the normalized PEP 440
 * version, SHA256 the wheel file's digest (so two users or two hosts adding
 * one wheel make one entry). A user has one store of their own (written:
 * entries added, stamps, gc) and reads any number of shared ones (an admin's,
 * on NFS, CVMFS or squashfs), searched after it in order. A store is used
 * only when its owner is the user or root and nobody else may write it; one
 * is written only when the user owns it.
 *
 * A mount pins the entries of its own store it stacks: it holds a shared
 * flock on each for as long as the daemon runs, and gc removes only what it
 * can lock exclusively. */
#ifndef PYENVFS_STORE_H
#define PYENVFS_STORE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The root the entries' scripts name in their first line
 * (#!/pyenvfs-store/bin/python3.11); shebang.c shows them naming the env's
 * own bin/pythonX.Y. */
#define STORE_SCRIPT_ROOT "/pyenvfs-store"

struct store {
	char *path;             /* absolute */
	int own;                /* the user's own store: the one written */
	int exists;             /* its entries/ directory is there */
	char **names;           /* entries/, sorted (loaded by store_list_entries) */
	size_t nnames;
	int listed;
};

struct stores {
	struct store *s;        /* [0] the user's own, then the shared ones in order */
	size_t n;
};

/* Where the user's own store is: $PYENVFS_STORE, else $XDG_CACHE_HOME/pyenvfs/store,
 * else ~/.cache/pyenvfs/store; NULL if none of them is set. */
char *store_default_path(void);

/* The trust rule (DESIGN.md, Trust): a directory owned by uid or root that no
 * one else may write. 0, or -1 with the reason in why. */
int store_trusted(const struct stat *st, uid_t uid, char *why, size_t len);

/* The stores: own (NULL: the default), then the shared ones (a ':'-separated
 * list, and $PYENVFS_SHARED_STORES after it). Each must exist (the own one
 * may not, yet), be a directory and be trusted. Nothing is created. 0 or -1
 * with err. */
int stores_open(struct stores *ss, const char *own, const char *const *shared, size_t nshared, char *err,
		size_t len);
void stores_free(struct stores *ss);

/* Makes the own store's directories if missing (0700), checking the
 * trust rule on what is there. 0 or -1 with err. */
int store_make_own(struct store *s, char *err, size_t len);

/* Reads s's entries/ once (sorted). 0 or -1 (errno). */
int store_list_entries(struct store *s);

/* An entry's name (malloc'ed) from its parts; pure. */
char *store_entry_name(const char *norm, const char *version, const char *xy, const char *sha256);
/* Splits an entry's name; 0 or -1 if it is not one. Pure. */
int store_entry_parse(const char *name, char norm[256], char version[128], char xy[16], char sha256[65]);

/* The path (malloc'ed) of the first entry for norm==version on Python xy in
 * the stores, with the wheel digest sha256 if one is given (else any); NULL
 * if none. *several: more than one build of it and no digest to choose. */
char *stores_find(struct stores *ss, const char *norm, const char *version, const char *xy, const char *sha256,
		  int *several);

/* The store an entry path is in (NULL if none of ss). */
struct store *stores_of(struct stores *ss, const char *entry);

/* Pins an entry of the own store for the life of the process: a shared
 * flock on it (waiting for a gc that is removing it), then checks that the
 * name still holds that directory and that it is trusted. 0, -ENOENT if gc
 * took it, or -errno. */
int store_pin(const char *entry);
/* Marks the entries used now (STORE/used/NAME), for gc. Errors ignored. */
void store_stamp(const struct store *own, char *const *entries, size_t n);

/* What an entry's .pyenvfs/store-entry says: "key value" lines. */
char *store_entry_info(const char *entry, const char *key);

#endif
