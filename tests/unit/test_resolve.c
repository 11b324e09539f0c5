// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for resolve: the view over real layer directories (a small
 * BASE, DIR and the env's area in a temporary directory), without a mount. */
#include "unit.h"
#include "samples.h"
#include "bytecode.h"
#include "fs.h"
#include "layout.h"
#include "pycache.h"
#include "resolve.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[] = "/tmp/pyenvfs-test-resolve-XXXXXX";

static void put(const char *rel, const char *content)
{
	cleanup_free char *path = pe_xasprintf("%s/%s", top, rel);
	/* Parents first. */
	for (char *s = path + strlen(top) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	if (content) {
		FILE *f = fopen(path, "w");
		fputs(content, f);
		fclose(f);
	} else {
		mkdir(path, 0755);
	}
}

static int exists(const char *rel)
{
	cleanup_free char *path = pe_xasprintf("%s/%s", top, rel);
	struct stat st;
	return lstat(path, &st) == 0;
}

static void make_fs(struct pe_fs *fs, struct layout *l)
{
	char err[512];
	put("base/bin/python3.11", "#!fake interpreter\n");
	put("base/lib/python3.11/os.py", "# os\n");
	put("base/lib/python3.11/dist-packages/system_pkg.py", "");
	put("base/lib/python3.11/EXTERNALLY-MANAGED", "");
	put("base/include/python3.11/Python.h", "");
	put("base/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "");
	put("base/lib/x86_64-linux-gnu/libc.so.6", "");
	put("site/.pyenvfs/upper", NULL);
	put("site/requests/__init__.py", "");

	memset(fs, 0, sizeof *fs);
	CHECK(layout_parse(debian311, l, err, sizeof err) == 0);
	cleanup_free char *exe = pe_xasprintf("%s/base/bin/python3.11", top);
	struct view_input in = { l, exe, NULL, 0, 0 };
	CHECK(view_build(&in, &fs->view, err, sizeof err) == 0);

	cleanup_free char *base = pe_xasprintf("%s/base", top);
	cleanup_free char *site = pe_xasprintf("%s/site", top);
	int site_fd = open(site, O_PATH | O_DIRECTORY | O_CLOEXEC);
	const struct layer layers[LAYER_COUNT] = {
		[LAYER_BASE] = { .name = "BASE", .fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC),
				 .timeout = 3600, .follow = 1, .stable = 1 },
		[LAYER_SITE] = { .name = "DIR", .fd = site_fd, .timeout = 1, .writable = 1 },
		[LAYER_UPPER] = { .name = "the env's area", .timeout = 1, .writable = 1, .make_dirs = 1,
				  .fd = openat_beneath(site_fd, VIEW_UPPER_IN_SITE, O_PATH | O_DIRECTORY) },
	};
	for (int i = 0; i < LAYER_COUNT; i++) {
		CHECK(layers[i].fd >= 0);
		CHECK(fs_add_layer(fs, &layers[i]) == (unsigned)i);
	}
	fs->home_layer = LAYER_SITE;
	fs->fixed_timeout = 3600;
	/* DIR's areas: a stack of one (no lower layers). */
	fs->stack = pe_xcalloc(1, sizeof *fs->stack);
	fs->stack[0] = (struct stack_layer){ LAYER_SITE, LAYER_UPPER, site_fd, 0 };
	fs->nstack = 1;
	fs->tmp_fd = -1;
	fs->owner = getuid();
	fs->group = getgid();
	for (int g = 0; g < GEN_COUNT; g++) {
		fs->gen[g] = pe_xstrdup("generated\n");
		fs->gen_len[g] = strlen(fs->gen[g]);
	}
	CHECK(fs_init(fs) == 0);
	CHECK(resolve_init(fs) == 0);
}

/* The node at a '/'-separated path of the mount, or NULL (r: the answer). */
static struct node *walk(struct pe_fs *fs, const char *path, int *r)
{
	struct node *n = &fs->vnodes[0];
	cleanup_free char *p = pe_xstrdup(path);
	char *save = NULL;
	*r = 0;
	for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct resolved res;
		*r = resolve_lookup(fs, n, c, &res);
		if (*r)
			return NULL;
		n = res.node;
	}
	return n;
}

static struct node *at(struct pe_fs *fs, const char *path)
{
	int r;
	return walk(fs, path, &r);
}

static int lookup_error(struct pe_fs *fs, const char *path)
{
	int r;
	walk(fs, path, &r);
	return r;
}

/* Whether n's listing has name. */
static int lists(struct pe_fs *fs, struct node *n, const char *name)
{
	struct listing *l;
	if (!n || resolve_list(fs, n, &l))
		return -1;
	struct listing_entry e;
	int found = 0;
	off_t off = 0;
	while (listing_get(l, off, &e) > 0) {
		found |= strcmp(e.name, name) == 0;
		listing_advance(l);
		off = e.next;
	}
	listing_free(l);
	return found;
}

static void test_lookup(struct pe_fs *fs)
{
	struct node *n = at(fs, "pyvenv.cfg");
	CHECK(n && n->kind == NODE_GEN);
	n = at(fs, "lib/python3.11");
	CHECK(n && n->kind == NODE_VIEW);
	/* The base's objects: read-only, shown without write bits. */
	n = at(fs, "lib/python3.11/os.py");
	CHECK(n && n->kind == NODE_PASS && n->layer == LAYER_BASE && !n->writable);
	struct stat st;
	CHECK(n && resolve_stat(fs, n, &st) == 0 && !(st.st_mode & 0222) && S_ISREG(st.st_mode));
	CHECK(n && resolve_timeout(fs, n) == 3600);
	CHECK(lookup_error(fs, "lib/python3.11/EXTERNALLY-MANAGED") == -ENOENT);
	CHECK(lookup_error(fs, "lib/python3.11/dist-packages") == -ENOENT);
	CHECK(lookup_error(fs, "lib/python3.11/nothing.py") == -ENOENT);
	CHECK(lookup_error(fs, "pyvenv.cfg/x") == -ENOTDIR);
	/* The interpreter: the base's file, through its anchor. */
	n = at(fs, "bin/python3");
	CHECK(n && n->kind == NODE_PASS && !n->writable && n->type == S_IFREG);
	/* libpython from the base, nothing else of its libdir. */
	CHECK(at(fs, "lib/x86_64-linux-gnu/libpython3.11.so.1.0") != NULL);
	CHECK(lookup_error(fs, "lib/x86_64-linux-gnu/libc.so.6") == -ENOENT);
	/* DIR at both site paths, as two nodes of one directory; its reserved
	 * name never shows. */
	struct node *s1 = at(fs, "lib/python3.11/site-packages");
	struct node *s2 = at(fs, "local/lib/python3.11/dist-packages");
	CHECK(s1 && s2 && s1 != s2 && s1->ino == s2->ino && s1->area == 1 && s1->writable);
	CHECK(s1 && resolve_timeout(fs, s1) == 1);
	CHECK(at(fs, "lib/python3.11/site-packages/requests/__init__.py") != NULL);
	CHECK(lookup_error(fs, "lib/python3.11/site-packages/.pyenvfs") == -ENOENT);
	/* A file seen through two paths is one node. */
	CHECK(at(fs, "lib/python3.11/site-packages/requests/__init__.py") ==
	      at(fs, "local/lib/python3.11/dist-packages/requests/__init__.py"));
}

static void test_changes(struct pe_fs *fs)
{
	struct target t;
	struct node *std = at(fs, "lib/python3.11"), *bin = at(fs, "bin"), *root = &fs->vnodes[0];
	struct node *hdr = at(fs, "include/python3.11"), *site = at(fs, "lib/python3.11/site-packages");
	struct node *os_py = at(fs, "lib/python3.11/os.py");

	/* The base and the view's fixed objects refuse every change. */
	CHECK(resolve_new_name(fs, std, "new.py", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_existing(fs, std, "os.py", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_existing(fs, root, "pyvenv.cfg", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_existing(fs, bin, "python3", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_new_name(fs, bin, "python3", &t) == -EEXIST);
	target_release(&t);
	CHECK(resolve_existing(fs, std, "nothing.py", &t) == -ENOENT);
	target_release(&t);
	CHECK(resolve_new_name(fs, os_py, "x", &t) == -EROFS);
	target_release(&t);
	/* The reserved name in DIR's top directory. */
	CHECK(resolve_new_name(fs, site, ".pyenvfs", &t) == -EPERM);
	target_release(&t);
	CHECK(resolve_existing(fs, site, ".pyenvfs", &t) == -ENOENT);
	target_release(&t);
	/* A header beside the base's: Python.h cannot be shadowed. */
	CHECK(resolve_new_name(fs, hdr, "Python.h", &t) == -EEXIST);
	target_release(&t);

	/* A new script goes to the env's area, whose bin is made on first use. */
	CHECK(!exists("site/.pyenvfs/upper/bin"));
	CHECK(resolve_new_name(fs, bin, "tool", &t) == 0);
	CHECK(exists("site/.pyenvfs/upper/bin"));
	CHECK(t.dfd >= 0 && strcmp(t.name, "tool") == 0 && t.origin.writable && t.origin.layer == LAYER_UPPER);
	int fd = openat(t.dfd, t.name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0755);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	struct resolved res;
	CHECK(resolve_made(fs, &t, &res) == 0 && res.node->writable && res.node->layer == LAYER_UPPER);
	target_release(&t);
	CHECK(exists("site/.pyenvfs/upper/bin/tool"));
	/* ... shown in bin and in Debian's local/bin, and changeable there. */
	CHECK(at(fs, "local/bin/tool") == res.node);
	CHECK(resolve_existing(fs, bin, "tool", &t) == 0 && strcmp(t.name, "tool") == 0);
	target_release(&t);
	CHECK(lists(fs, bin, "tool") == 1 && lists(fs, bin, "python3") == 1 && lists(fs, bin, "activate") == 1);
	/* Debian's local/bin is the env's own: it may go as a whole. */
	CHECK(resolve_existing(fs, at(fs, "local"), "bin", &t) == 0 && strcmp(t.name, "bin") == 0);
	target_release(&t);

	/* DIR's listing hides the reserved name; the view's merges its sources. */
	CHECK(lists(fs, site, "requests") == 1 && lists(fs, site, ".pyenvfs") == 0);
	CHECK(lists(fs, std, "os.py") == 1 && lists(fs, std, "dist-packages") == 0);
	CHECK(lists(fs, root, "pyvenv.cfg") == 1 && lists(fs, root, "lib") == 1);
	CHECK(lists(fs, os_py, "x") == -1);
}

static void test_forget(struct pe_fs *fs)
{
	/* A lookup of a known object adds a reference to its node, not a node. */
	size_t before = node_count(fs->nodes);
	struct node *n = at(fs, "lib/python3.11/os.py");
	CHECK(n && node_count(fs->nodes) == before && n->nlookup >= 2);
	/* The kernel forgets all of them: the node goes; the next lookup makes
	 * a new one. The view's own nodes never go. */
	if (n)
		node_forget(fs->nodes, n, n->nlookup);
	CHECK(node_count(fs->nodes) == before - 1);
	CHECK(at(fs, "lib/python3.11/os.py") != NULL && node_count(fs->nodes) == before);
	struct node *lib = at(fs, "lib");
	CHECK(lib && lib->kind == NODE_VIEW && strcmp(lib->vdir->path, "lib") == 0 && lib == &fs->vnodes[lib->vdir->id]);
}

/* Creates t's name as a file (or a directory) and releases t. */
static int make_at(struct target *t, int dir)
{
	int r = dir ? mkdirat(t->dfd, t->name, 0755) : openat(t->dfd, t->name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (!dir && r >= 0)
		close(r);
	target_release(t);
	return r < 0 ? -1 : 0;
}

static void test_bytecode(struct pe_fs *fs)
{
	struct target t;
	put("base/lib/python3.11/json/__init__.py", "");
	put("base/lib/python3.11/email/__init__.py", "");
	put("base/lib/python3.11/email/__pycache__/__init__.cpython-311.pyc", "own");
	CHECK(bytecode_init(fs, 0) == 0);
	char real[PATH_MAX], id[32];
	cleanup_free char *base = pe_xasprintf("%s/base", top);
	CHECK(realpath(base, real) && pycache_source_id(1, real, id, sizeof id) == 0);
	cleanup_free char *area = pe_xasprintf("site/.pyenvfs/pycache/%s/lib/python3.11", id);
	struct node *std = at(fs, "lib/python3.11"), *json = at(fs, "lib/python3.11/json");
	struct node *email_pc = at(fs, "lib/python3.11/email/__pycache__");
	CHECK(std && json && email_pc);

	/* A missing __pycache__ in a base directory is made in DIR's area when
	 * it is looked up (importlib looks before it makes one), and shown from
	 * there, the env's: a mkdir of it is EEXIST. */
	cleanup_free char *json_pc = pe_xasprintf("%s/json/__pycache__", area);
	CHECK(!exists(json_pc));
	struct node *pc = at(fs, "lib/python3.11/json/__pycache__");
	CHECK(pc && pc->writable && pc->layer == LAYER_SITE);
	CHECK(exists(json_pc) && !exists("base/lib/python3.11/json/__pycache__"));
	CHECK(resolve_new_name(fs, json, "__pycache__", &t) == -EEXIST);
	target_release(&t);
	CHECK(lists(fs, json, "__pycache__") == 1 && lists(fs, json, "__init__.py") == 1);
	/* In it: importlib's temporary and the .pyc, nothing else. */
	CHECK(resolve_new_name(fs, pc, "__init__.cpython-311.pyc.140", &t) == 0 && make_at(&t, 0) == 0);
	CHECK(resolve_existing(fs, pc, "__init__.cpython-311.pyc.140", &t) == 0);
	target_release(&t);
	CHECK(resolve_new_name(fs, pc, "__init__.cpython-311.pyc", &t) == 0);
	target_release(&t);
	CHECK(resolve_new_name(fs, pc, "notes.txt", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_new_name(fs, pc, "sub", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_existing(fs, pc, "notes.txt", &t) == -EROFS);
	target_release(&t);
	/* Beside the source (Python 3), or any other name: EROFS as before. */
	CHECK(resolve_new_name(fs, json, "stray.pyc", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_new_name(fs, json, "notes.txt", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_existing(fs, json, "__init__.py", &t) == -EROFS);
	target_release(&t);
	/* The standard library's top, a view directory. */
	CHECK(resolve_new_name(fs, std, "__pycache__", &t) == 0 && make_at(&t, 1) == 0);
	CHECK(at(fs, "lib/python3.11/__pycache__") != NULL);
	CHECK(lists(fs, std, "__pycache__") == 1 && lists(fs, std, "os.py") == 1 && lists(fs, std, ".pyenvfs") == 0);
	/* A base's __pycache__: the area's bytecode merged in; its own .pyc stays. */
	CHECK(resolve_existing(fs, email_pc, "__init__.cpython-311.pyc", &t) == -EROFS);
	target_release(&t);
	CHECK(resolve_new_name(fs, email_pc, "__init__.cpython-311.pyc", &t) == -EEXIST);
	target_release(&t);
	CHECK(resolve_new_name(fs, email_pc, "parser.cpython-311.pyc", &t) == 0 && make_at(&t, 0) == 0);
	struct node *p = at(fs, "lib/python3.11/email/__pycache__/parser.cpython-311.pyc");
	CHECK(p && p->writable && p->layer == LAYER_SITE);
	CHECK(lists(fs, email_pc, "parser.cpython-311.pyc") == 1 && lists(fs, email_pc, "__init__.cpython-311.pyc") == 1);
	CHECK(resolve_existing(fs, email_pc, "parser.cpython-311.pyc", &t) == 0 && t.origin.layer == LAYER_SITE);
	target_release(&t);
	CHECK(resolve_existing(fs, email_pc, "decoder.cpython-311.pyc", &t) == -ENOENT);
	target_release(&t);
	CHECK(!exists("base/lib/python3.11/__pycache__") &&
	      !exists("base/lib/python3.11/email/__pycache__/parser.cpython-311.pyc"));
	bytecode_free(fs);

	/* Python 2: X.pyc beside X.py only. */
	CHECK(bytecode_init(fs, 1) == 0);
	CHECK(resolve_new_name(fs, json, "__init__.pyc", &t) == 0);
	target_release(&t);
	CHECK(resolve_new_name(fs, json, "nosource.pyc", &t) == -EROFS);
	target_release(&t);
	bytecode_free(fs);

	/* Without the redirect (a read-only DIR, or before): EROFS. */
	CHECK(resolve_new_name(fs, json, "__init__.pyc", &t) == -EROFS);
	target_release(&t);
}

int main(void)
{
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	struct pe_fs fs;
	struct layout l;
	make_fs(&fs, &l);
	test_lookup(&fs);
	test_changes(&fs);
	test_forget(&fs);
	test_bytecode(&fs);
	resolve_destroy(&fs);
	fs_destroy(&fs);
	layout_free(&l);
	cleanup_free char *cmd = pe_xasprintf("rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", top);
	return UNIT_DONE();
}
