// SPDX-License-Identifier: GPL-2.0-or-later
/* An env's owner owns their env, layers included (ownership.h). Pure. */
#include "ownership.h"

#define SET_ID (S_ISUID | S_ISGID)

int ownership_mapped(const struct ownership *o, const struct stat *st)
{
	return st->st_uid == o->layer_uid;
}

/* The rwx bits (0..7) of the class of mode that applies to uid:gid natively. */
static mode_t native_class(const struct stat *st, uid_t uid, gid_t gid)
{
	if (st->st_uid == uid)
		return (st->st_mode >> 6) & 7;
	if (st->st_gid == gid)
		return (st->st_mode >> 3) & 7;
	return st->st_mode & 7;
}

/* Write only with read: a copy-up shows its writer the content. */
static mode_t with_write_if_readable(mode_t bits)
{
	return (bits & 4) ? (bits | 2) : (bits & ~(mode_t)2);
}

void ownership_show(const struct ownership *o, struct stat *st)
{
	mode_t type = st->st_mode & S_IFMT;
	mode_t perms = st->st_mode & 07777 & ~(mode_t)SET_ID;
	if (!ownership_mapped(o, st)) {
		st->st_mode = type | perms;
		return;
	}
	if (S_ISLNK(st->st_mode)) {     /* a symlink's mode means nothing */
		st->st_uid = o->env_uid;
		st->st_gid = o->env_gid;
		return;
	}
	mode_t user = with_write_if_readable(native_class(st, o->env_uid, o->env_gid));
	/* The env owner's group: what a member who is not the env's owner had. */
	mode_t group = st->st_gid == o->env_gid ? (st->st_mode >> 3) & 7 : st->st_mode & 7;
	mode_t other = st->st_mode & 7;
	st->st_mode = type | (perms & S_ISVTX) | (user << 6) | (group << 3) | other;
	st->st_uid = o->env_uid;
	st->st_gid = o->env_gid;
}

void ownership_copy_up(const struct ownership *o, const struct stat *st, uid_t *uid, gid_t *gid, mode_t *mode)
{
	struct stat shown = *st;
	ownership_show(o, &shown);
	*uid = shown.st_uid;
	*gid = shown.st_gid;
	*mode = shown.st_mode & 07777;
}

mode_t ownership_layer_mode(mode_t mode)
{
	mode_t perms = mode & 0777 & ~(mode_t)(S_IWGRP | S_IWOTH);
	perms |= S_IRUSR | S_IRGRP | S_IROTH;
	if (S_ISDIR(mode) || (perms & 0111))
		perms |= 0111;
	return perms;
}
