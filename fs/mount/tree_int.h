/* SPDX-License-Identifier: MIT */
/*
 * The tree's private state, shared by tree.c (views and catalog lookups)
 * and nodes.c (the table of snapshot inodes the kernel holds).
 */
#ifndef SNAPFS_FS_TREE_INT_H
#define SNAPFS_FS_TREE_INT_H

#include <pthread.h>

#include "mount_int.h"

/* A volume's inode number, given the first time this mount sees it. */
struct volnum {
	char name[SFS_NAME_MAX + 1];
	uint64_t num;
};

/* A snapshot inode the kernel holds: its attributes outlive the snapshot
 * until the kernel forgets the inode. */
struct node {
	struct node *next;
	uint64_t nlookup;
	struct sfs_tsnap snap;
};

struct sfs_tree {
	struct sfs_store *store;
	pthread_mutex_t lock;  /* guards cur (the pointer, not the view) and stat */
	struct sfs_view *cur;  /* NULL or maybe older than stat.generation */
	struct sfs_tree_stat stat;
	pthread_mutex_t build_lock; /* one view build at a time; guards imgnums */
	struct sfs_imgnums *imgnums;
	pthread_mutex_t num_lock; /* guards volnums */
	struct volnum *volnums;   /* sorted by name */
	size_t nvolnums, capvolnums;
	pthread_mutex_t node_lock; /* guards nodes, nnodes, nbuckets */
	struct node **nodes;       /* hash of snapshot inodes handed out */
	size_t nnodes, nbuckets;
};

#endif
