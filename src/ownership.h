// SPDX-License-Identifier: GPL-2.0-or-later
/* An env's owner owns their env, layers included (docs/LAYERS.md, "Who owns
 * a layer's objects"). The rule, as the container world has it for a
 * rootless overlay over idmapped layers: the objects of the layer's owner
 * (the owner of the layer's top directory: root, for an admin's squashfs)
 * are shown as the env owner's (DIR's owner's), so that the env's owner may
 * uninstall, upgrade and compile what a layer holds, by copying up into DIR,
 * as in a venv of their own. Nobody gains a right:
 *
 *   - the env's owner gets, over a mapped object, the read and execute
 *     rights they have natively (the class of the layer's mode that applies
 *     to them), and write only where they may read (a copy-up reveals the
 *     content); the layer itself is never written (copy-up);
 *   - the env owner's group gets what it had natively (the group bits if
 *     the object's group is theirs, else the other bits), and everybody
 *     else the other bits: over a layer's object other users of an
 *     allow_other env have exactly the rights they have over DIR's;
 *   - a layer's set-user-ID and set-group-ID bits are never shown (they
 *     would run as the env's owner, or take their group, a gift of the
 *     layer's owner's that the layer's owner never made);
 *   - objects of other owners in the layer are shown as they are, less the
 *     set-id bits.
 *
 * A copy-up of a mapped object is owned by DIR's owner, with the mode
 * shown; of another owner's object, by that owner (a root daemon), with
 * its mode less the set-id bits.
 *
 * `pyenvfs layer pack` gives a layer's objects the mode this rule wants:
 * readable by everyone, executable by everyone where by anyone, writable
 * by the owner only, no set-id or sticky bits (ownership_layer_mode).
 * Pure: unit-tested alone; the union engine applies it where a layer's
 * attributes are shown and where a copy-up is made, for a layer whose owner
 * is another than DIR's (a layer of the env owner's own is shown as it
 * is, as overlayfs shows it). */
#ifndef PYENVFS_OWNERSHIP_H
#define PYENVFS_OWNERSHIP_H

#include <sys/stat.h>
#include <sys/types.h>

struct ownership {
	uid_t env_uid;          /* DIR's owner */
	gid_t env_gid;
	uid_t layer_uid;        /* the layer's owner: its top directory's */
};

/* 1 if a layer's object with these attributes is shown as the env owner's. */
int ownership_mapped(const struct ownership *o, const struct stat *st);

/* st (a layer's object as on disk) becomes what the env shows: owner,
 * group and permission bits as above. */
void ownership_show(const struct ownership *o, struct stat *st);

/* The owner, group and mode (permission bits) a copy-up of the layer's
 * object st (as on disk) gets in DIR. */
void ownership_copy_up(const struct ownership *o, const struct stat *st, uid_t *uid, gid_t *gid, mode_t *mode);

/* The permission bits a published layer's object gets (layer pack), from
 * its mode (type bits included). */
mode_t ownership_layer_mode(mode_t mode);

#endif
