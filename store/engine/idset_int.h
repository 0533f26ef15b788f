/* SPDX-License-Identifier: MIT */
/*
 * A set of chunk ids (open addressing; the zero id is the empty slot and
 * is never a member). Used by check and gc to mark what snapshots
 * reference. Not thread-safe.
 */
#ifndef SFS_IDSET_INT_H
#define SFS_IDSET_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "snapfs/chunk.h"

struct sfs_idset {
	struct sfs_id *slots;
	size_t cap, n;
};

void sfs_idset_init(struct sfs_idset *s);
void sfs_idset_release(struct sfs_idset *s);
/* 1 when added, 0 when already present, -ENOMEM. */
int sfs_idset_add(struct sfs_idset *s, const struct sfs_id *id);
bool sfs_idset_has(const struct sfs_idset *s, const struct sfs_id *id);

#endif
