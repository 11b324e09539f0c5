// SPDX-License-Identifier: GPL-2.0-or-later
/* Console scripts that follow the env: a script a layer's package installed
 * names, in its first line, the Python of the mount it was installed through.
 * Shown in another env (a clone, a layer shared by many envs, an env mounted
 * elsewhere), that line is rewritten on read to name this env's Python, and
 * the file's size is adjusted (docs/LAYERS.md, "Console scripts"). Pure: the
 * read path gives the file's first bytes and maps read offsets. */
#ifndef PYENVFS_SHEBANG_H
#define PYENVFS_SHEBANG_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* How many of a file's first bytes decide: the kernel reads 256 for "#!"
 * (BINPRM_BUF_SIZE); distlib's /bin/sh trampoline takes a second line. */
#define SHEBANG_HEAD 512
#define SHEBANG_TEXT_MAX 4352   /* a PATH_MAX interpreter, quoted, plus the trampoline */

/* Which interpreters are rewritten: <root>/bin/<python> for one of roots
 * (the mount points a layer was installed through, as its env recorded
 * them), or, with any_python, every <dir>/bin/<python> (a layer made by
 * `pip install --target`: its scripts name whatever Python ran pip).
 * <python> is python, pythonN, pythonN.M, with an optional 't' (free-threaded). */
struct shebang_match {
	const char *const *roots;
	size_t nroots;
	int any_python;
};

/* The edit: bytes [off, off + old_len) of the file are shown as text. */
struct shebang_edit {
	size_t off;
	size_t old_len;
	char text[SHEBANG_TEXT_MAX];
	size_t new_len;
	/* Set by the caller for a script of DIR's own (not a layer's): the
	 * file's size and mtime when the edit was planned. It applies while
	 * they are unchanged (shebang_applies). */
	int own;
	off_t size;
	struct timespec mtime;
};

/* 1 if name is a Python interpreter's file name, as above. */
int shebang_python_name(const char *name);

/* Decides, from head (the file's first len bytes, len <= SHEBANG_HEAD or the
 * whole file if shorter), whether the file is a console script of one of the
 * matched interpreters; if so fills e so that it names mount/bin/<the same
 * file name> instead, keeping any arguments. Returns 1 (rewrite), 0 (leave
 * it: not a script, a binary, another interpreter, already this mount's),
 * or -EINVAL (mount unusable in a script's first line: not absolute, or a
 * newline or a character sh would expand). A mount path with a space or tab
 * gets distlib's /bin/sh trampoline, as pip writes it for such paths. */
int shebang_plan(const char *head, size_t len, const struct shebang_match *m, const char *mount,
		 struct shebang_edit *e);

/* The file's size as shown. */
off_t shebang_size(const struct shebang_edit *e, off_t real_size);

/* Whether e (or no edit: NULL) applies to the file now: a layer's edit
 * while the node shows the layer's file (not writable: a copy-up makes it
 * DIR's, with the line it had); DIR's own while the file's size and mtime
 * are those it was planned with (a script changed since shows as it is). */
int shebang_applies(const struct shebang_edit *e, int writable, off_t size, struct timespec mtime);

/* The whole file as shown, made from its n bytes: malloc'ed, *out_len
 * (shebang_size) bytes. NULL if out of memory. */
char *shebang_apply(const struct shebang_edit *e, const char *file, size_t n, size_t *out_len);

/* One piece of a read: n bytes from the edit's text at pos, or from the
 * file at pos. */
struct shebang_piece {
	int from_text;
	off_t pos;
	size_t n;
};

/* Splits a read of size bytes at offset off of the file as shown (real_size
 * bytes on disk) into at most 3 pieces, in order. Returns how many. */
int shebang_map(const struct shebang_edit *e, off_t real_size, off_t off, size_t size,
		struct shebang_piece pieces[3]);

#endif
