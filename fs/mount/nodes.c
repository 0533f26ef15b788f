// SPDX-License-Identifier: MIT
/*
 * The table of snapshot inodes the kernel holds: counted on lookup and
 * readdirplus, dropped on forget. It keeps a deleted snapshot's attributes
 * answerable while a file of it is still open.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mount_int.h"
#include "tree_int.h"

/* ---- the node table ---- */

static size_t node_slot(const struct sfs_tree *t, uint64_t ino)
{
	return (size_t)((ino * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (t->nbuckets - 1);
}

/* Doubles the buckets when the table is full. Called with node_lock. */
static int node_grow(struct sfs_tree *t)
{
	size_t old = t->nbuckets, n = old ? old * 2 : 256;
	struct node **b;

	if (t->nnodes < old)
		return 0;
	b = calloc(n, sizeof(*b));
	if (!b)
		return old ? 0 : -ENOMEM; /* a full table still works, slower */
	t->nbuckets = n;
	for (size_t i = 0; i < old; i++) {
		while (t->nodes[i]) {
			struct node *e = t->nodes[i];
			size_t k = node_slot(t, e->snap.ino);

			t->nodes[i] = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(t->nodes);
	t->nodes = b;
	return 0;
}

int sfs_tree_node_ref(struct sfs_tree *t, const struct sfs_tsnap *ts)
{
	struct node *e;
	int r;

	pthread_mutex_lock(&t->node_lock);
	r = node_grow(t);
	if (r < 0)
		goto out;
	for (e = t->nodes[node_slot(t, ts->ino)]; e; e = e->next)
		if (e->snap.ino == ts->ino)
			break;
	if (!e) {
		size_t k = node_slot(t, ts->ino);

		e = malloc(sizeof(*e));
		if (!e) {
			r = -ENOMEM;
			goto out;
		}
		e->snap = *ts;
		e->nlookup = 0;
		e->next = t->nodes[k];
		t->nodes[k] = e;
		t->nnodes++;
	}
	e->nlookup++;
out:
	pthread_mutex_unlock(&t->node_lock);
	return r;
}

void sfs_tree_node_forget(struct sfs_tree *t, uint64_t ino, uint64_t nlookup)
{
	struct node **p, *e;

	pthread_mutex_lock(&t->node_lock);
	for (p = t->nbuckets ? &t->nodes[node_slot(t, ino)] : NULL; p && *p; p = &(*p)->next) {
		e = *p;
		if (e->snap.ino != ino)
			continue;
		if (e->nlookup > nlookup) {
			e->nlookup -= nlookup;
		} else {
			*p = e->next;
			free(e);
			t->nnodes--;
		}
		break;
	}
	pthread_mutex_unlock(&t->node_lock);
}

int sfs_tree_node_get(struct sfs_tree *t, uint64_t ino, struct sfs_tsnap *ret)
{
	struct node *e = NULL;

	pthread_mutex_lock(&t->node_lock);
	if (t->nbuckets)
		for (e = t->nodes[node_slot(t, ino)]; e; e = e->next)
			if (e->snap.ino == ino)
				break;
	if (e)
		*ret = e->snap;
	pthread_mutex_unlock(&t->node_lock);
	return e ? 0 : -ENOENT;
}

