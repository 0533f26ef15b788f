/* SPDX-License-Identifier: MIT */
/*
 * The index of completed snapshots by creation time (volcreated.c), for
 * the catalog's snapshot functions, the writer's open and the census.
 */
#ifndef SFS_VOLCREATED_INT_H
#define SFS_VOLCREATED_INT_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "store_int.h"

struct sfs_txn;

/* Keeps the index in step with a snapshot record changing from old (NULL:
 * absent; old_damaged: there but unreadable) to sn (NULL: deleted), for
 * the record id. Called by sfs_cat_snapshot_put and _del in the same
 * transaction. 0 or -errno. */
int sfs_volcreated_update(struct sfs_txn *t, const struct sfs_snapshot *old, bool old_damaged,
			  const char *id, const struct sfs_snapshot *sn);

/* The id of volume's newest completed snapshot by creation time: 0,
 * -ENOENT (none), -EOPNOTSUPP (the index is missing or not current: the
 * caller scans), -errno. */
int sfs_volcreated_latest(struct sfs_txn *t, const char *volume, char ret_id[SFS_IDSTR_SIZE]);

/* sfs_cat_bump_generation moving generation from `from` to `to`: a
 * current index stays current. */
int sfs_volcreated_bumped(struct sfs_txn *t, uint64_t from, uint64_t to);

/* A writable open: builds the index from the snapshot records unless it
 * is current, and marks it current. 0 or -errno. */
int sfs_volcreated_build(struct sfs_txn *t);

/* check --repair: builds the index afresh from the snapshot records,
 * whatever it held. 0 or -errno. */
int sfs_volcreated_rebuild(struct sfs_txn *t);

/* check: each entry of a current index names a completed snapshot whose
 * record agrees with its key, and each completed snapshot has its entry;
 * fn (store_int.h) hears of each that does not. An index that is not
 * current is not used and not looked at. 0 or -errno. */
int sfs_volcreated_verify(struct sfs_txn *t, sfs_index_problem_fn fn, void *ctx);

/* Whether a key has the index's shape (for the census). */
bool sfs_volcreated_key_ok(const MDB_val *k);

#endif
