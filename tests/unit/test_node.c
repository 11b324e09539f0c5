// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for node: the inode table's lookup counts, forget, and the
 * descriptors a node owns. */
#include "unit.h"
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static struct stat fake(dev_t dev, ino_t ino, mode_t type)
{
	struct stat st;
	memset(&st, 0, sizeof st);
	st.st_dev = dev;
	st.st_ino = ino;
	st.st_mode = type | 0644;
	return st;
}

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static int devnull(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void test_lookup_counts(void)
{
	struct node_table *t = node_table_new();
	struct stat st = fake(1, 42, S_IFREG);
	struct origin o = { .place = 7, .layer = 2, .writable = 1, .area = 0 };
	int fd1 = devnull(), fd2 = devnull();

	struct node *n = node_get(t, fd1, &st, &o);
	CHECK(n && n->kind == NODE_PASS && n->fd == fd1);
	CHECK(n->nlookup == 1 && node_count(t) == 1);
	CHECK(n->dev == 1 && n->ino == 42 && n->place == 7);
	CHECK(n->layer == 2 && n->writable == 1 && n->area == 0);
	CHECK(n->type == S_IFREG && n->io_fd == -1 && n->io_wfd == -1);

	/* The same object at the same place: the same node, the new fd closed. */
	CHECK(node_get(t, fd2, &st, &o) == n);
	CHECK(n->nlookup == 2 && node_count(t) == 1);
	CHECK(!fd_open(fd2) && fd_open(fd1));

	/* A reference taken and dropped leaves the kernel's count alone. */
	node_ref(t, n);
	CHECK(n->nlookup == 3);
	node_forget(t, n, 1);
	CHECK(n->nlookup == 2);

	/* Found by (dev, ino, place) with one more reference; not at another place. */
	CHECK(node_find_ref(t, 1, 42, 7) == n && n->nlookup == 3);
	node_forget(t, n, 1);
	CHECK(node_find_ref(t, 1, 42, 8) == NULL);
	CHECK(node_find_ref(t, 2, 42, 7) == NULL);

	/* The kernel forgets: the node goes at zero, and with it its descriptors. */
	int io = devnull(), wio = devnull();
	n->io_fd = io;
	n->io_wfd = wio;
	node_forget(t, n, 1);
	CHECK(node_count(t) == 1 && fd_open(fd1));
	node_forget(t, n, 1);
	CHECK(node_count(t) == 0);
	CHECK(!fd_open(fd1) && !fd_open(io) && !fd_open(wio));
	CHECK(node_find_ref(t, 1, 42, 7) == NULL);
	node_table_free(t);
}

static void test_places(void)
{
	struct node_table *t = node_table_new();
	struct stat st = fake(3, 9, S_IFDIR);
	struct origin a = { .place = 1 }, b = { .place = 2, .area = 1 };
	struct node *na = node_get(t, devnull(), &st, &a);
	struct node *nb = node_get(t, devnull(), &st, &b);
	/* One directory at two places is two nodes (one dentry per inode). */
	CHECK(na != nb && node_count(t) == 2);
	CHECK(nb->area == 1 && na->area == 0);
	/* Forgetting more than is held frees the node. */
	node_forget(t, na, 5);
	CHECK(node_count(t) == 1);
	CHECK(node_find_ref(t, 3, 9, 2) == nb && nb->nlookup == 2);
	node_table_free(t);         /* frees what is left, nb included */
}

/* Stacks are the union's (above the table): counted through its callbacks. */
static int stack_refs;
static void fake_get(struct stack *s)
{
	(void)s;
	stack_refs++;
}
static void fake_put(struct stack *s)
{
	(void)s;
	stack_refs--;
}

static void test_stacks(void)
{
	static char one, two;
	struct node_table *t = node_table_new();
	node_table_set_stacks(t, fake_get, fake_put);
	struct stat st = fake(4, 1, S_IFREG);
	struct origin o = { .place = 3, .area = 2 };
	struct node *n = node_get(t, devnull(), &st, &o);
	char name[16];
	CHECK(node_stack(t, n, name, sizeof name) == NULL && name[0] == '\0');
	stack_refs = 1;                 /* the caller's reference, given to the node */
	node_set_stack(t, n, (struct stack *)&one, "x.py");
	struct stack *s = node_stack(t, n, name, sizeof name);
	CHECK(s == (struct stack *)&one && strcmp(name, "x.py") == 0 && stack_refs == 2);
	fake_put(s);
	/* Replaced whole: the old one's reference dropped. */
	stack_refs++;
	node_set_stack(t, n, (struct stack *)&two, "y.py");
	CHECK(stack_refs == 1);
	node_forget(t, n, 1);
	CHECK(stack_refs == 0);
	node_table_free(t);
}

static void test_view_nodes(void)
{
	struct node_table *t = node_table_new();
	struct node v = { .kind = NODE_VIEW, .fd = -1 };
	/* The view's own nodes are not counted: they live as long as the mount. */
	node_ref(t, &v);
	CHECK(v.nlookup == 0 && node_count(t) == 0);
	node_table_free(t);
}

static void test_many(void)
{
	struct node_table *t = node_table_new();
	enum { N = 20000 };
	struct node **all = calloc(N, sizeof *all);
	struct origin o = { .place = 0x80000001u };
	for (int i = 0; i < N; i++) {
		struct stat st = fake(1, (ino_t)i + 1, S_IFREG);
		all[i] = node_get(t, -1, &st, &o);
	}
	CHECK(node_count(t) == N);
	/* Every node still found after the table grew. */
	int found = 0;
	for (int i = 0; i < N; i++) {
		struct node *n = node_find_ref(t, 1, (ino_t)i + 1, o.place);
		found += n == all[i];
		if (n)
			node_forget(t, n, 1);
	}
	CHECK(found == N);
	for (int i = 0; i < N; i += 2)
		node_forget(t, all[i], 1);
	CHECK(node_count(t) == N / 2);
	for (int i = 1; i < N; i += 2)
		CHECK(node_find_ref(t, 1, (ino_t)i + 1, o.place) == all[i]);
	free(all);
	node_table_free(t);
}

/* Lookups and forgets of the same objects from several threads: the counts
 * add up, and nothing is left. */
struct race {
	struct node_table *t;
	int rounds;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	struct origin o = { .place = 5 };
	for (int i = 0; i < r->rounds; i++) {
		struct stat st = fake(1, (ino_t)(i % 7) + 1, S_IFDIR);
		struct node *n = node_get(r->t, -1, &st, &o);
		node_ref(r->t, n);
		node_forget(r->t, n, 2);
	}
	return NULL;
}

static void test_threads(void)
{
	struct race r = { node_table_new(), 20000 };
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&th[i], NULL, racer, &r) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(node_count(r.t) == 0);
	node_table_free(r.t);
}

int main(void)
{
	test_lookup_counts();
	test_places();
	test_stacks();
	test_view_nodes();
	test_many();
	test_threads();
	return UNIT_DONE();
}
