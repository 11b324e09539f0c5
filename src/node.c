// SPDX-License-Identifier: GPL-2.0-or-later
/* The inode table: a hash of nodes by (device, inode, place), with lookup counts. */
#include "node.h"
#include "util.h"

#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node_table {
	pthread_mutex_t lock;
	struct node **buckets;
	size_t nbuckets;
	size_t count;
	void (*get)(struct stack *);
	void (*put)(struct stack *);
	void (*on_free)(struct node *, void *);
	void *on_free_arg;
};

static size_t hash(dev_t dev, ino_t ino, uint64_t place)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull;
	h ^= (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
	h ^= (uint64_t)place * 0x165667B19E3779F9ull;
	return (size_t)(h ^ (h >> 29));
}

void node_table_set_stacks(struct node_table *t, void (*get)(struct stack *), void (*put)(struct stack *))
{
	t->get = get;
	t->put = put;
}

void node_table_on_free(struct node_table *t, void (*fn)(struct node *, void *), void *arg)
{
	pthread_mutex_lock(&t->lock);
	t->on_free = fn;
	t->on_free_arg = arg;
	pthread_mutex_unlock(&t->lock);
}

struct node_table *node_table_new(void)
{
	struct node_table *t = pe_xcalloc(1, sizeof *t);
	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = 1024;
	t->buckets = pe_xcalloc(t->nbuckets, sizeof *t->buckets);
	return t;
}

/* Closes what a node holds, and frees it. */
static void node_free(struct node_table *t, struct node *n)
{
	if (t->on_free)
		t->on_free(n, t->on_free_arg);
	if (n->stk && t->put)
		t->put(n->stk);
	free(n->name);
	pthread_mutex_destroy(&n->lock);
	close(n->fd);
	if (n->io_fd >= 0)
		close(n->io_fd);
	if (n->io_wfd >= 0)
		close(n->io_wfd);
	free(n->sb);
	free(n);
}

/* The node for (dev, ino, place), or NULL; t->lock held. */
static struct node *find_locked(struct node_table *t, dev_t dev, ino_t ino, uint64_t place)
{
	struct node *n = t->buckets[hash(dev, ino, place) & (t->nbuckets - 1)];
	while (n && !(n->ino == ino && n->dev == dev && n->place == place))
		n = n->next;
	return n;
}

void node_table_free(struct node_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *n = t->buckets[i], *next;
		for (; n; n = next) {
			next = n->next;
			node_free(t, n);
		}
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static void grow(struct node_table *t)
{
	size_t nb = t->nbuckets * 2;
	struct node **b = calloc(nb, sizeof *b);
	if (!b)
		return;         /* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *n = t->buckets[i], *next;
		for (; n; n = next) {
			next = n->next;
			size_t h = hash(n->dev, n->ino, n->place) & (nb - 1);
			n->next = b[h];
			b[h] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

struct node *node_get(struct node_table *t, int fd, const struct stat *st, const struct origin *o)
{
	uint64_t place = o->place;
	pthread_mutex_lock(&t->lock);
	struct node *n = find_locked(t, st->st_dev, st->st_ino, place);
	if (n) {
		n->nlookup++;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return n;
	}
	n = pe_xcalloc(1, sizeof *n);
	n->kind = NODE_PASS;
	n->fd = fd;
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->place = place;
	n->nlookup = 1;
	n->layer = o->layer;
	n->writable = o->writable;
	n->area = o->area;
	pthread_mutex_init(&n->lock, NULL);
	n->type = st->st_mode & S_IFMT;
	n->io_fd = -1;
	n->io_wfd = -1;
	size_t h = hash(n->dev, n->ino, place) & (t->nbuckets - 1);
	n->next = t->buckets[h];
	t->buckets[h] = n;
	if (++t->count > t->nbuckets * 2)
		grow(t);
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct stack *node_stack(struct node_table *t, struct node *n, char *buf, size_t len)
{
	pthread_mutex_lock(&n->lock);
	struct stack *stk = n->stk;
	if (stk && t->get)
		t->get(stk);
	if (buf && len)
		snprintf(buf, len, "%s", n->name ? n->name : "");
	pthread_mutex_unlock(&n->lock);
	return stk;
}

void node_set_stack(struct node_table *t, struct node *n, struct stack *stk, const char *name)
{
	char *nm = name ? pe_xstrdup(name) : NULL;
	pthread_mutex_lock(&n->lock);
	struct stack *old = n->stk;
	char *oldname = n->name;
	n->stk = stk;
	n->name = nm;
	pthread_mutex_unlock(&n->lock);
	if (old && t->put)
		t->put(old);
	free(oldname);
}

struct node *node_find_ref(struct node_table *t, dev_t dev, ino_t ino, uint64_t place)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = find_locked(t, dev, ino, place);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void node_ref(struct node_table *t, struct node *node)
{
	if (node->kind != NODE_PASS)
		return;
	pthread_mutex_lock(&t->lock);
	node->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

void node_forget(struct node_table *t, struct node *node, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	if (node->nlookup > n) {
		node->nlookup -= n;
		pthread_mutex_unlock(&t->lock);
		return;
	}
	size_t h = hash(node->dev, node->ino, node->place) & (t->nbuckets - 1);
	for (struct node **pp = &t->buckets[h]; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			t->count--;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	node_free(t, node);
}

int node_rekey(struct node_table *t, struct node *node, dev_t dev, ino_t ino, uint64_t place)
{
	pthread_mutex_lock(&t->lock);
	if (find_locked(t, dev, ino, place)) {
		pthread_mutex_unlock(&t->lock);
		return -EEXIST;
	}
	size_t h = hash(node->dev, node->ino, node->place) & (t->nbuckets - 1);
	for (struct node **pp = &t->buckets[h]; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			break;
		}
	}
	node->dev = dev;
	node->ino = ino;
	node->place = place;
	h = hash(dev, ino, place) & (t->nbuckets - 1);
	node->next = t->buckets[h];
	t->buckets[h] = node;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

size_t node_count(struct node_table *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
