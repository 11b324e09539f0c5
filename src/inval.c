// SPDX-License-Identifier: GPL-2.0-or-later
/* The invalidation queue and the rules for which nodes a change concerns. */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include "inval.h"
#include "stack.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define INVAL_MAX 256

struct inval {
	fuse_ino_t ino;
	char *name;             /* NULL: the inode's attributes and pages */
	struct node *ref;       /* a reference held on a NODE_PASS node until sent */
};

struct inval_queue {
	struct node_table *nodes;
	struct fuse_session *se;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct inval items[INVAL_MAX];
	size_t n;
	int started;
	int stop;               /* set by inval_stop: the thread ends */
	pthread_t thread;
};

struct inval_queue *inval_new(struct node_table *nodes)
{
	struct inval_queue *q = pe_xcalloc(1, sizeof *q);
	q->nodes = nodes;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return q;
}

void inval_attach(struct inval_queue *q, struct fuse_session *se)
{
	q->se = se;
}

/* Sends the queued invalidations from a thread of its own: a notification
 * may wait in the kernel for the reply to the request that caused it (a
 * refused write through a shared mapping holds the pages), and a request's
 * own thread would then wait for itself. */
static void *worker(void *arg)
{
	struct inval_queue *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->n && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stop)
			break;
		struct inval it = q->items[--q->n];
		pthread_mutex_unlock(&q->lock);
		if (it.name)
			fuse_lowlevel_notify_inval_entry(q->se, it.ino, it.name, strlen(it.name));
		else
			fuse_lowlevel_notify_inval_inode(q->se, it.ino, 0, 0);
		free(it.name);
		/* Until now the node's id could not be given to another node. */
		if (it.ref)
			node_forget(q->nodes, it.ref, 1);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int inval_stop(struct inval_queue *q)
{
	if (!q)
		return 0;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	int started = q->started;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (!started)
		return 0;
	/* It may wait in the kernel for a request that nobody answers now. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_timedjoin_np(q->thread, NULL, &until) != 0)
		return -1;
	q->started = 0;
	for (size_t i = 0; i < q->n; i++)
		free(q->items[i].name);
	q->n = 0;
	return 0;
}

void inval_free(struct inval_queue *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}

/* Queues what the kernel must forget about n (an entry, or with name NULL an
 * inode's pages). The queue holds a reference of its own until it is sent,
 * so that the node's id names the same node then. */
static void inval_later(struct pe_fs *fs, struct node *n, const char *name)
{
	struct inval_queue *q = fs->inval;
	if (!q->se)
		return;
	struct node *ref = n->kind == NODE_PASS ? n : NULL;
	if (ref)
		node_ref(q->nodes, ref);
	pthread_mutex_lock(&q->lock);
	if (!q->started && !q->stop && pthread_create(&q->thread, NULL, worker, q) == 0)
		q->started = 1;
	/* A full queue drops the item: the timeouts still bound what is stale. */
	int queued = q->n < INVAL_MAX && !q->stop;
	if (queued)
		q->items[q->n++] = (struct inval){ fs_ino(fs, n), name ? pe_xstrdup(name) : NULL, ref };
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (!queued && ref)
		node_forget(q->nodes, ref, 1);
}

void inval_pages(struct pe_fs *fs, struct node *n)
{
	inval_later(fs, n, NULL);
}

void inval_dir_changed(struct pe_fs *fs, struct node *n)
{
	/* Files have one node, wherever they show. */
	if (n->kind != NODE_PASS || !S_ISDIR(n->type))
		return;
	uint64_t bits = n->place & STACK_DIR_PLACE;
	for (size_t i = 0; i < fs->view.nalias_places; i++) {
		struct node *other = node_find_ref(fs->nodes, n->dev, n->ino, fs->view.alias_places[i] | bits);
		if (!other)
			continue;
		if (other != n)
			inval_later(fs, other, NULL);
		node_forget(fs->nodes, other, 1);
	}
}

/* DIR under site-packages and Debian's local/.../dist-packages, the env's
 * scripts under bin and local/bin: without this a name changed at one
 * would be seen at the other only after the layer's timeout. */
void inval_names_changed(struct pe_fs *fs, const struct inval_dir *d, const char *name, const struct node *acting)
{
	const struct view *v = &fs->view;
	if (!v->nalias_places || (!d->dev && !d->ino))
		return;
	for (size_t i = 0; i < v->nalias_places; i++) {
		struct node *n = node_find_ref(fs->nodes, d->dev, d->ino, v->alias_places[i] | d->bits);
		if (!n)
			continue;
		if (n != acting) {
			inval_later(fs, n, name);       /* the name */
			inval_later(fs, n, NULL);       /* the directory's listing and times */
		}
		node_forget(fs->nodes, n, 1);
	}
	/* The view's directories whose env directory also shows elsewhere. */
	for (size_t k = 0; d->bits && k < v->nalias_vdirs; k++) {
		size_t i = v->alias_vdirs[k];
		const struct view_source *ws = view_writable_source(v->dirs[i]);
		pthread_mutex_lock(&fs->src_lock);
		struct stack *s = fs->src_stack ? fs->src_stack[i * VIEW_MAX_SOURCES + (size_t)(ws - v->dirs[i]->src)]
						: NULL;
		if (s)
			stack_get(s);
		pthread_mutex_unlock(&fs->src_lock);
		dev_t kd = 0;
		ino_t ki = 0;
		if (s) {
			(void)stack_dir0(fs, s);        /* made since it was (a first script) */
			stack_key(s, &kd, &ki);
			stack_put(s);
		}
		int same = s && kd == d->dev && ki == d->ino;
		if (same && &fs->vnodes[i] != acting) {
			inval_later(fs, &fs->vnodes[i], name);
			inval_later(fs, &fs->vnodes[i], NULL);
		}
	}
}
