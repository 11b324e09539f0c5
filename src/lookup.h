// SPDX-License-Identifier: GPL-2.0-or-later
/* Lookups in the union (overlayfs's namei): what shows at a name of a
 * merged directory, found by probing only the parts the directory's stack
 * holds (or its kept listing, for a directory of many layers), and the node
 * of it. Private to the union's modules. */
#ifndef PYENVFS_LOOKUP_H
#define PYENVFS_LOOKUP_H

#include <sys/stat.h>

#include "fs.h"
#include "stack.h"

/* Lower parts from which a lookup asks the kept listing (one hash probe)
 * instead of each part (one fstatat each). */
#define LOOKUP_INDEX_MIN STACK_MANY_PARTS

/* What shows at name in p: 0 with f filled (free it), -ENOENT, or -errno
 * (-ENAMETOOLONG, a layer's EACCES or EIO, ...). */
int lookup_probe(struct pe_fs *fs, struct stack *p, const char *name, struct stack_found *f);
/* Whether a lower layer shows name in p, DIR's object and record left
 * aside (a removal must record a whiteout): 1, 0, or -errno. */
int lookup_below(struct pe_fs *fs, struct stack *p, const char *name);
/* The node of what f found at name in p, shown at place, with one more
 * lookup; st: its attributes as they are (the caller shows them). */
int lookup_node(struct pe_fs *fs, struct stack *p, const char *name, uint64_t place, const struct stack_found *f,
		struct node **out, struct stat *st);
/* name in p as a node shown at place (a probe, then lookup_node; one
 * openat for a stack of one): 0, -ENOENT, or -errno. */
int lookup_in(struct pe_fs *fs, struct stack *p, const char *name, uint64_t place, struct node **out, struct stat *st);
/* The node of the merged directory s itself (an area's top, anchored in the
 * view: site-packages), shown at place. */
int lookup_top(struct pe_fs *fs, struct stack *s, uint64_t place, struct node **out, struct stat *st);
/* The times a merged directory shows, into st (its object's): the newest of
 * its parts' (the kernel drops a kept listing when a layer's part changes)
 * and, at the site area's top, of the distribution index's last change (a
 * distribution shadowed by one made elsewhere changes the top's listing
 * without its directories' times). A merged directory below keeps its
 * layers' times (a copy-up keeps them), so the kernel may not keep its
 * listing (resolve_list_cacheable). */
void lookup_times(struct pe_fs *fs, struct stack *s, struct stat *st);
/* The stack of the area path path (its parents derived on the way): a
 * reference, or NULL with *err (-ENOENT: nothing shows there; a stack with
 * no part is given for a directory that shows nowhere yet when empty_ok). */
struct stack *lookup_path(struct pe_fs *fs, int area, const char *path, int empty_ok, int *err);

#endif
