/* The FUSE operations: a thin layer over the view and the node table. Only
 * this file replies to the kernel; every request is replied to exactly once. */
#ifndef PYENVFS_OPS_H
#define PYENVFS_OPS_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include "node.h"
#include "view.h"

struct pe_fs {
	struct view view;
	struct node_table *nodes;
	struct node *vnodes;            /* one per view directory, by vdir id; [0] is the root */
	struct node gnodes[GEN_COUNT];  /* one per generated file */
	char *gen[GEN_COUNT];
	size_t gen_len[GEN_COUNT];
	int layer_fd[LAYER_COUNT];      /* O_PATH roots: BASE, DIR, DIR/.pyenvfs/upper */
	int *base_src_fd;               /* base sources, opened once: [vdir id * VIEW_MAX_SOURCES + i] */
	double base_timeout;
	double site_timeout;
	uid_t owner;                    /* of the view's own directories: DIR's owner */
	gid_t group;
	struct timespec started;
	int daemon_is_root;
	int no_opendir;                 /* the kernel opens directories itself */
	int want_no_open;               /* -o no_open */
	int no_open;                    /* ... and the kernel can: files too */
	struct fuse_session *se;        /* for notifications to the kernel */
	pthread_mutex_t inval_lock;     /* what the kernel must forget, sent after the reply */
	pthread_cond_t inval_cond;
	struct inval { fuse_ino_t ino; char *name; struct node *ref; } inval[256];   /* name NULL: the inode's pages; ref: a reference held on a NODE_PASS node until sent */
	size_t ninval;
	int inval_thread_started;
	int inval_stop;                 /* set by fs_stop: the thread ends */
	pthread_t inval_thread;
	unsigned *alias_places;         /* places where DIR's or the env's directories show */
	size_t nalias_places;
	unsigned *alias_vdirs;          /* view dirs whose env directory also shows elsewhere (bin) */
	size_t nalias_vdirs;
};

/* Opens the base sources and makes the view's nodes. 0 or -errno. */
int fs_init(struct pe_fs *fs);
/* Ends the daemon's own thread before the session goes: 0, or -1 if it did
 * not end within a second (then nothing it may use must be freed). */
int fs_stop(struct pe_fs *fs);
void fs_destroy(struct pe_fs *fs);

extern const struct fuse_lowlevel_ops pe_ops;

#endif
