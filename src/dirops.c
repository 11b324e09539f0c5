// SPDX-License-Identifier: GPL-2.0-or-later
/* Removals and renames in the union, planned then applied. See dirops.h. */
#include "dirops.h"
#include "creds.h"
#include "listing.h"
#include "lookup.h"
#include "records.h"
#include "upper.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void dirops_key(const struct stack *s, struct inval_dir *d)
{
	dev_t dev;
	ino_t ino;
	stack_key(s, &dev, &ino);
	*d = (struct inval_dir){ dev, ino, STACK_DIR_PLACE };
}

/* 0 if the merged directory name of s (found as f) shows nothing. */
static int check_empty(struct pe_fs *fs, struct stack *s, const char *name, const struct stack_found *f)
{
	struct stack *c = stack_child(fs, s, name, f, -1, NULL);
	struct listing *l = listing_new();
	int r = listing_merged(fs, c, l, NULL, NULL);
	struct listing_entry e;
	if (!r && listing_get(l, 2, &e) == 1)
		r = -ENOTEMPTY;
	listing_free(l);
	stack_put(c);
	return r;
}

/* The attributes of the directory s as shown (its top part's). */
static int top_stat(struct pe_fs *fs, struct stack *s, struct stat *st)
{
	int fd = stack_dir0(fs, s);
	for (size_t i = 1; fd < 0 && i < s->n; i++)
		fd = s->parts[i].fd;
	return fd >= 0 && fstat(fd, st) == 0 ? 0 : -ENOENT;
}

/* A root daemon checks a sticky directory against what is there now: the
 * kernel checked the attributes it keeps, which a change made directly in
 * DIR (within its timeout) leaves stale. */
static int sticky(struct pe_fs *fs, const struct caller *c, struct stack *s, const struct stack_found *f)
{
	struct stat dir;
	if (!fs->daemon_is_root || top_stat(fs, s, &dir))
		return 0;
	return backing_sticky_allows(fs, c, &dir, &f->st);
}

/* The records are DIR's: a root daemon makes them as DIR's owner
 * (creds.h), so that its user can delete DIR and read them when mounting it
 * with a daemon of their own. */
static int whiteout(struct pe_fs *fs, struct stack *s, const char *name)
{
	struct creds_saved cs = { 0 };
	int r = fs->daemon_is_root ? creds_become(fs->owner, fs->group, &cs) : 0;
	if (r)
		return r;
	int sub = stack_recsub(fs, s);
	if (sub >= 0) {
		r = records_set_in_sub(sub, name, WH_HIDE);
		creds_restore(&cs);
		return r;
	}
	int made = 0;
	r = records_set(fs->stack[0].top, stack_wh_area(s->area), s->rel, name, WH_HIDE, &made);
	creds_restore(&cs);
	if (!r && made)
		stack_bump(fs);         /* a directory's records node: its stacks look again */
	return r;
}

/* Whether f (a name of s) involves a lower layer: a layer's object, or a
 * directory merging one. */
static int has_lower(const struct stack_found *f)
{
	return f->top != 0 || (f->is_dir && f->nmerged && f->merged[f->nmerged - 1] != 0);
}

int dirops_remove(struct pe_fs *fs, const struct caller *c, struct stack *s, const char *name, int flags,
		  struct inval_dir *d)
{
	struct stack_found f;
	dirops_key(s, d);
	int r = lookup_probe(fs, s, name, &f);
	if (r)
		return r;
	if (!stack_writable(fs, s->area))
		r = -EROFS;
	else if ((flags & AT_REMOVEDIR) && !f.is_dir)
		r = -ENOTDIR;
	else if (!(flags & AT_REMOVEDIR) && f.is_dir)
		r = -EISDIR;
	if (!r && f.is_dir)
		r = check_empty(fs, s, name, &f);
	if (!r)
		r = sticky(fs, c, s, &f);
	/* A lower layer shows it (or would, DIR's object gone): a whiteout. */
	int below = r ? 0 : has_lower(&f) ? 1 : lookup_below(fs, s, name);
	if (below < 0)
		r = below;
	/* Nothing is made in DIR for a removal: the record is enough (a copied
	 * up metadata directory would count as DIR's distribution). The
	 * whiteout first: a crash after it hides the name (the new view). */
	if (!r && below)
		r = whiteout(fs, s, name);
	if (!r && f.top == 0)
		r = backing_unlink_as(fs, c, stack_dir0(fs, s), name, flags);
	/* What the records said below a directory now gone is moot: pip's
	 * uninstall leaves one record for a package, not one per file. */
	if (!r && below && f.is_dir)
		(void)records_drop_below(fs->stack[0].top, stack_wh_area(s->area), s->rel, name);
	if (!r)
		stack_changed(fs, s);
	if (!r && f.is_dir)
		__atomic_add_fetch(&fs->dirs_gen, 1, __ATOMIC_RELEASE);
	stack_found_free(&f);
	return r;
}

/* The layer's file or symlink at name of s becomes DIR's (its node too, if
 * the kernel knows it). */
static int copy_up(struct pe_fs *fs, struct stack *s, const char *name, const struct stack_found *f)
{
	struct node *n;
	struct stat st;
	int r = lookup_node(fs, s, name, 0, f, &n, &st);
	if (r)
		return r;
	r = upper_copy(fs, n, 0);
	node_forget(fs->nodes, n, 1);
	return r;
}

static int rename_plan(struct pe_fs *fs, const struct caller *c, struct stack *s, const char *name,
		       struct stack *ns, const char *newname, unsigned flags, struct stack_found *f,
		       struct stack_found *nf, int *dst)
{
	int r = lookup_probe(fs, s, name, f);
	if (r)
		return r;
	if (!stack_writable(fs, s->area))
		return -EROFS;
	if (s->area != ns->area)
		return -EXDEV;
	if (ns->area == 1 && !*ns->rel && view_reserved(newname))
		return -EPERM;          /* DIR's own state: never made, moved or replaced */
	/* A layer's directory, or one merging one: EXDEV makes mv and
	 * shutil.move copy it (up) and remove it (whiteouts). */
	if (f->is_dir && has_lower(f))
		return -EXDEV;
	r = lookup_probe(fs, ns, newname, nf);
	if (r && r != -ENOENT)
		return r;
	*dst = r == 0;
	if (*dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (flags & RENAME_EXCHANGE) {
		if (!*dst)
			return -ENOENT;
		int b1 = lookup_below(fs, s, name), b2 = lookup_below(fs, ns, newname);
		if (b1 < 0 || b2 < 0)
			return b1 < 0 ? b1 : b2;
		if (has_lower(f) || has_lower(nf) || b1 || b2)
			return -EXDEV;
	} else if (*dst) {
		if (nf->is_dir && !f->is_dir)
			return -EISDIR;
		if (!nf->is_dir && f->is_dir)
			return -ENOTDIR;
		if (nf->is_dir && (r = check_empty(fs, ns, newname, nf)))
			return r;
	}
	r = sticky(fs, c, s, f);
	if (!r && *dst)
		r = sticky(fs, c, ns, nf);
	return r;
}

int dirops_rename(struct pe_fs *fs, const struct caller *c, struct stack *s, const char *name, struct stack *ns,
		  const char *newname, unsigned flags, struct inval_dir *from, struct inval_dir *to)
{
	struct stack_found f, nf;
	int dst = 0;
	dirops_key(s, from);
	dirops_key(ns, to);
	stack_found_init(&nf);
	int r = rename_plan(fs, c, s, name, ns, newname, flags, &f, &nf, &dst);
	int below = 0, nbelow = 0;
	if (!r && !(flags & RENAME_EXCHANGE)) {
		below = has_lower(&f) ? 1 : lookup_below(fs, s, name);
		nbelow = dst && has_lower(&nf) ? 1 : lookup_below(fs, ns, newname);
		r = below < 0 ? below : nbelow < 0 ? nbelow : 0;
	}
	/* A layer's file: copied up, then renamed as DIR's (its whiteout
	 * below, as for any name a lower layer shows). */
	if (!r && f.top != 0)
		r = copy_up(fs, s, name, &f);
	int sfd = r ? -1 : upper_dir(fs, s);
	if (sfd < 0 && !r)
		r = sfd;
	int dfd = r ? -1 : upper_dir(fs, ns);
	if (dfd < 0 && !r)
		r = dfd;
	if (!r && nbelow)
		r = whiteout(fs, ns, newname);
	if (!r && below)
		r = whiteout(fs, s, name);
	if (!r)
		r = backing_rename_as(fs, c, sfd, name, dfd, newname, flags);
	if (!r && below && f.is_dir)
		(void)records_drop_below(fs->stack[0].top, stack_wh_area(s->area), s->rel, name);
	if (!r) {
		stack_changed(fs, s);
		stack_changed(fs, ns);
	}
	if (!r && (f.is_dir || (dst && nf.is_dir)))
		__atomic_add_fetch(&fs->dirs_gen, 1, __ATOMIC_RELEASE);
	stack_found_free(&f);
	stack_found_free(&nf);
	return r;
}
