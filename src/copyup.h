// SPDX-License-Identifier: GPL-2.0-or-later
/* Copy-up: an object of a read-only lower layer copied into DIR before it
 * changes, atomically: a crash leaves no copy or the whole copy under the
 * name, never a half file (docs/LAYERS.md, "Copy-up"). FUSE-free: directory
 * descriptors in, 0 or -errno out; resolution decides when and where. */
#ifndef PYENVFS_COPYUP_H
#define PYENVFS_COPYUP_H

#define COPYUP_TMP_PREFIX "copyup."     /* named temporaries in the tmp dir */

struct ownership;
struct copyup_opts {
	int keep_owner;         /* give the copy its owner (a root daemon): the source's
				 * uid/gid, or what own says */
	const struct ownership *own; /* the source is a lower layer's: the owner and mode
				 * its copy gets are ownership_copy_up's (no set-id
				 * bits); NULL: the source's as they are */
	int skip_data;          /* the caller truncates it anyway (open with O_TRUNC) */
	int named_tmp;          /* a named temporary even where O_TMPFILE works
				 * (the path taken on file systems without it) */
};

/* Copies the regular file src (a descriptor open for reading) to name in
 * the directory dst, through a temporary in the directory tmp (on dst's file
 * system): data, then the user.* xattrs, owner, mode, and times last. The
 * copy appears under name in one step (linkat of an O_TMPFILE, or
 * renameat2 RENAME_NOREPLACE of a named temporary). -EEXIST if name exists
 * in dst already (made by someone else meanwhile: theirs is kept). */
int copyup_file(int src, int dst, const char *name, int tmp, const struct copyup_opts *o);

/* Makes the directory name in dst with the mode, times (and owner) of the
 * directory src, without its contents. 0 also if it exists as a directory. */
int copyup_dir(int src, int dst, const char *name, const struct copyup_opts *o);

/* Copies the symbolic link name of the directory src_dir to the same name
 * in dst (through a temporary name in tmp), with its times (and owner). */
int copyup_symlink(int src_dir, const char *name, int dst, int tmp, const struct copyup_opts *o);

/* Removes the named temporaries a crash left in tmp (at mount). 0 or -errno. */
int copyup_clean(int tmp);

#endif
