/* SPDX-License-Identifier: MIT */
/*
 * Repair of a store (`snapfs check --repair`): rebuilds what it can from
 * the packs, which are self-describing, and reports what is lost. It
 * never destroys: no pack is removed or shortened, no record deleted, and
 * an index entry is replaced only by a record that was read and verified.
 *
 * Open the store with SFS_OPEN_WRITE | SFS_OPEN_REPAIR first: a catalog
 * LMDB cannot read is then already replaced by the catalog's copy
 * (catalog/copy.mdb, see store/FORMAT.md), the damaged file kept beside
 * it. sfs_repair then walks every pack, the ones the pack table names and
 * the ones the backend lists, reads and verifies every record, and indexes
 * the records the chunk index lacks (or holds damaged); completes the pack
 * table and pack.active so that recovery keeps every pack; and walks every
 * snapshot's map to name the snapshots that reference chunks the store no
 * longer has. Single-threaded; the caller holds the writer lock (the open
 * did that).
 */
#ifndef SNAPFS_REPAIR_H
#define SNAPFS_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "snapfs/check.h"
#include "snapfs/store.h"

struct sfs_repair_result {
	bool restored;           /* catalog/data.mdb was replaced by the catalog's copy */
	char damaged_name[64];   /* the damaged catalog, kept as catalog/<this> ("" none) */
	int64_t copy_time;       /* when the copy restored was written (unix seconds) */
	uint64_t snapshots;      /* snapshot records in the catalog (the copy's, if restored) */
	uint64_t packs;          /* packs scanned */
	uint64_t records;        /* records read from them and verified */
	uint64_t reindexed;      /* chunk-index entries added from the packs */
	uint64_t replaced;       /* damaged or unreadable entries replaced by verified records */
	uint64_t bad_records;    /* records that fail verification: left as they are */
	uint64_t bad_packs;      /* packs whose header does not decode: left as they are */
	uint64_t torn_packs;     /* packs whose last good record ends before the file does */
	uint64_t pack_rows;      /* pack-table rows added or extended */
	bool active_moved;       /* pack.active was set to the highest pack */
	uint64_t lost_snapshots; /* completed snapshots whose maps reference missing chunks */
	uint64_t orphan_maps;    /* re-indexed map trees that no snapshot record names */
};

/*
 * Repairs the store s (opened with SFS_OPEN_WRITE | SFS_OPEN_REPAIR).
 * note gets one line per thing worth telling (a lost snapshot, a record
 * that fails verification, a torn pack); progress counts packs. Returns 0
 * when the repair ran to the end (ret says what it found), or -errno when
 * it could not (then the store stays marked and ordinary writers refuse
 * it until a repair completes).
 */
int sfs_repair(struct sfs_store *s, sfs_problem_fn note, void *ctx, sfs_progress_fn progress,
	       void *progress_ctx, struct sfs_repair_result *ret);

#endif
