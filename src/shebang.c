// SPDX-License-Identifier: GPL-2.0-or-later
/* Console scripts that follow the env: the first line rewritten on read. Pure. */
#include "shebang.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_SHEBANG_MAX 256  /* BINPRM_BUF_SIZE: the first line, "#!" and '\n' included */

static const char trampoline_exec[] = "'''exec' ";

int shebang_python_name(const char *name)
{
	const char *p = name;
	if (strncmp(p, "python", 6) != 0)
		return 0;
	p += 6;
	if (!isdigit((unsigned char)*p))
		return *p == '\0';
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 't')
		p++;
	return *p == '\0';
}

/* A span of head. */
struct span {
	size_t off, len;
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The line starting at off: its length up to '\n' (excluded); -1 if no '\n'
 * within max bytes or a NUL before it (a binary file). */
static long line_len(const char *head, size_t len, size_t off, size_t max)
{
	for (size_t i = off; i < len && i - off < max; i++) {
		if (head[i] == '\n')
			return (long)(i - off);
		if (head[i] == '\0')
			return -1;
	}
	return -1;
}

/* 1 if path (n bytes) is <root>/bin/<python> for a matched root; *name is
 * where <python> starts. */
static int matches(const char *path, size_t n, const struct shebang_match *m, size_t *name)
{
	char buf[SHEBANG_TEXT_MAX];
	if (n >= sizeof buf || !n || path[0] != '/')
		return 0;
	memcpy(buf, path, n);
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!shebang_python_name(slash + 1))
		return 0;
	*slash = '\0';
	size_t dl = strlen(buf);
	if (dl < 4 || strcmp(buf + dl - 4, "/bin") != 0)
		return 0;
	*name = (size_t)(slash + 1 - buf);
	buf[dl - 4] = '\0';             /* the root; "" for /bin/python */
	if (m->any_python)
		return 1;
	for (size_t i = 0; i < m->nroots; i++)
		if (strcmp(buf, m->roots[i]) == 0)
			return 1;
	return 0;
}

static int mount_usable(const char *mount)
{
	if (mount[0] != '/')
		return 0;
	for (const char *p = mount; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"' || *p == '\\' || *p == '$' || *p == '`')
			return 0;
	return strlen(mount) < 4096;
}

static int has_blank(const char *s)
{
	return strchr(s, ' ') || strchr(s, '\t');
}

static int set_text(struct shebang_edit *e, size_t off, size_t old_len, int n)
{
	if (n < 0 || (size_t)n >= sizeof e->text)
		return -EINVAL;
	e->off = off;
	e->old_len = old_len;
	e->new_len = (size_t)n;
	return 1;
}

/* distlib's form for a path sh must see quoted:
 *   #!/bin/sh
 *   '''exec' "PATH" ARGS "$0" "$@"
 *   ' '''
 * Python reads the second and third lines as one string literal. */
static int plan_trampoline_from_simple(const char *head, size_t line, struct span args, const char *interp,
				       struct shebang_edit *e)
{
	int n = snprintf(e->text, sizeof e->text, "#!/bin/sh\n%s\"%s\"%.*s \"$0\" \"$@\"\n' '''", trampoline_exec,
			 interp, (int)args.len, head + args.off);
	return set_text(e, 0, line, n);
}

static int plan_simple(const char *head, size_t line, const struct shebang_match *m, const char *mount,
		       struct shebang_edit *e)
{
	size_t i = 2, name;
	while (i < line && is_blank(head[i]))
		i++;
	struct span interp = { i, 0 };
	while (i < line && !is_blank(head[i]))
		i++;
	interp.len = i - interp.off;
	if (!matches(head + interp.off, interp.len, m, &name))
		return 0;
	char new_interp[SHEBANG_TEXT_MAX];
	int n = snprintf(new_interp, sizeof new_interp, "%s/bin/%.*s", mount, (int)(interp.len - name),
			 head + interp.off + name);
	if (n < 0 || (size_t)n >= sizeof new_interp)
		return -EINVAL;
	if (interp.len == (size_t)n && memcmp(head + interp.off, new_interp, interp.len) == 0)
		return 0;               /* already this mount's */
	struct span args = { interp.off + interp.len, line - interp.off - interp.len };
	if (has_blank(mount) || line - interp.len + (size_t)n + 1 > KERNEL_SHEBANG_MAX)
		return plan_trampoline_from_simple(head, line, args, new_interp, e);
	memcpy(e->text, new_interp, (size_t)n + 1);
	return set_text(e, interp.off, interp.len, n);
}

/* A script that already is a trampoline: its path in the exec line. */
static int plan_trampoline(const char *head, size_t len, size_t line1, const struct shebang_match *m,
			   const char *mount, struct shebang_edit *e)
{
	size_t start = line1 + 1;
	long l2 = line_len(head, len, start, SHEBANG_HEAD);
	size_t tl = strlen(trampoline_exec);
	if (l2 < 0 || (size_t)l2 < tl || memcmp(head + start, trampoline_exec, tl) != 0)
		return 0;
	size_t i = start + tl, end = start + (size_t)l2, name;
	struct span tok = { i, 0 }, path;
	if (i < end && head[i] == '"') {
		const char *q = memchr(head + i + 1, '"', end - i - 1);
		if (!q)
			return 0;
		path = (struct span){ i + 1, (size_t)(q - (head + i + 1)) };
		tok.len = path.len + 2;
	} else {
		while (i < end && !is_blank(head[i]))
			i++;
		path = (struct span){ tok.off, i - tok.off };
		tok.len = path.len;
	}
	if (!matches(head + path.off, path.len, m, &name))
		return 0;
	int n = snprintf(e->text, sizeof e->text, "\"%s/bin/%.*s\"", mount, (int)(path.len - name),
			 head + path.off + name);
	if (n < 0 || (size_t)n >= sizeof e->text)
		return -EINVAL;
	if (tok.len == (size_t)n && memcmp(head + tok.off, e->text, tok.len) == 0)
		return 0;
	return set_text(e, tok.off, tok.len, n);
}

int shebang_plan(const char *head, size_t len, const struct shebang_match *m, const char *mount,
		 struct shebang_edit *e)
{
	if (len < 2 || head[0] != '#' || head[1] != '!')
		return 0;
	if (!mount_usable(mount))
		return -EINVAL;
	long line = line_len(head, len, 0, KERNEL_SHEBANG_MAX);
	if (line < 0)
		return 0;
	if ((size_t)line == strlen("#!/bin/sh") && memcmp(head, "#!/bin/sh", (size_t)line) == 0)
		return plan_trampoline(head, len, (size_t)line, m, mount, e);
	return plan_simple(head, (size_t)line, m, mount, e);
}

off_t shebang_size(const struct shebang_edit *e, off_t real_size)
{
	return real_size + (off_t)e->new_len - (off_t)e->old_len;
}

int shebang_applies(const struct shebang_edit *e, int writable, off_t size, struct timespec mtime)
{
	if (!e)
		return 0;
	if (!e->own)
		return !writable;
	return size == e->size && mtime.tv_sec == e->mtime.tv_sec && mtime.tv_nsec == e->mtime.tv_nsec;
}

char *shebang_apply(const struct shebang_edit *e, const char *file, size_t n, size_t *out_len)
{
	if (e->off + e->old_len > n)
		return NULL;
	size_t len = n - e->old_len + e->new_len;
	char *out = malloc(len ? len : 1);
	if (!out)
		return NULL;
	memcpy(out, file, e->off);
	memcpy(out + e->off, e->text, e->new_len);
	memcpy(out + e->off + e->new_len, file + e->off + e->old_len, n - e->off - e->old_len);
	*out_len = len;
	return out;
}

static void add_piece(struct shebang_piece *p, int *n, int from_text, off_t pos, size_t len)
{
	if (!len)
		return;
	p[*n] = (struct shebang_piece){ from_text, pos, len };
	(*n)++;
}

int shebang_map(const struct shebang_edit *e, off_t real_size, off_t off, size_t size,
		struct shebang_piece pieces[3])
{
	off_t shown = shebang_size(e, real_size);
	off_t a = off, b;
	int n = 0;
	if (off < 0 || off >= shown)
		return 0;
	b = (off_t)size > shown - off ? shown : off + (off_t)size;
	off_t t0 = (off_t)e->off, t1 = t0 + (off_t)e->new_len;
	if (a < t0) {                   /* before the edit: the file as it is */
		off_t end = b < t0 ? b : t0;
		add_piece(pieces, &n, 0, a, (size_t)(end - a));
		a = end;
	}
	if (a < b && a < t1) {          /* the edit's text */
		off_t end = b < t1 ? b : t1;
		add_piece(pieces, &n, 1, a - t0, (size_t)(end - a));
		a = end;
	}
	if (a < b)                      /* after it: the file, shifted */
		add_piece(pieces, &n, 0, a - (off_t)e->new_len + (off_t)e->old_len, (size_t)(b - a));
	return n;
}
