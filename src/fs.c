// SPDX-License-Identifier: GPL-2.0-or-later
/* The file system's state: its layers, the view's own nodes, set up and freed. */
#include "fs.h"
#include "inval.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned fs_add_layer(struct pe_fs *fs, const struct layer *l)
{
	struct layer *a = realloc(fs->layers, (fs->nlayers + 1) * sizeof *a);
	if (!a)
		abort();
	fs->layers = a;
	fs->layers[fs->nlayers] = *l;
	return (unsigned)fs->nlayers++;
}

int fs_init(struct pe_fs *fs)
{
	fs->nodes = node_table_new();
	fs->inval = inval_new(fs->nodes);
	fs->vnodes = pe_xcalloc(fs->view.ndirs, sizeof *fs->vnodes);
	fs->src_fd = pe_xmalloc(fs->view.ndirs * VIEW_MAX_SOURCES * sizeof *fs->src_fd);
	for (size_t i = 0; i < fs->view.ndirs; i++) {
		const struct vdir *d = fs->view.dirs[i];
		fs->vnodes[i] = (struct node){ .kind = NODE_VIEW, .fd = -1, .vdir = d };
		for (size_t j = 0; j < VIEW_MAX_SOURCES; j++) {
			int *fd = &fs->src_fd[i * VIEW_MAX_SOURCES + j];
			*fd = -1;
			if (j < d->nsrc && fs->layers[d->src[j].layer].stable)
				*fd = openat(fs->layers[d->src[j].layer].fd, *d->src[j].path ? d->src[j].path : ".",
					     O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
	}
	for (int g = 0; g < GEN_COUNT; g++)
		fs->gnodes[g] = (struct node){ .kind = NODE_GEN, .fd = -1, .gen = g };
	return 0;
}

void fs_destroy(struct pe_fs *fs)
{
	node_table_free(fs->nodes);
	inval_free(fs->inval);
	if (fs->src_fd)
		for (size_t i = 0; i < fs->view.ndirs * VIEW_MAX_SOURCES; i++)
			if (fs->src_fd[i] >= 0)
				close(fs->src_fd[i]);
	free(fs->src_fd);
	free(fs->vnodes);
	for (int g = 0; g < GEN_COUNT; g++)
		free(fs->gen[g]);
	for (size_t l = 0; l < fs->nlayers; l++)
		if (fs->layers[l].fd >= 0)
			close(fs->layers[l].fd);
	free(fs->layers);
	if (fs->nstack > 1 && fs->tmp_fd >= 0)
		close(fs->tmp_fd);
	free(fs->stack);
	free(fs->site_rel);
	for (size_t i = 0; i < fs->nown_roots; i++)
		free(fs->own_roots[i]);
	free(fs->own_roots);
	view_free(&fs->view);
	memset(fs, 0, sizeof *fs);
}
