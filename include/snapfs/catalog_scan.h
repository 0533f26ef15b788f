/* SPDX-License-Identifier: MIT */
/*
 * Cheap reads of the catalog for readers that list or count snapshots
 * often (the mount): counts without decoding a record, and a walk over
 * every snapshot that decodes only the fields a listing shows. Same
 * transaction rules as snapfs/catalog.h; nothing returned points into
 * LMDB memory.
 */
#ifndef SNAPFS_CATALOG_SCAN_H
#define SNAPFS_CATALOG_SCAN_H

#include <stdint.h>

#include "snapfs/catalog.h"

/* What the catalog holds, counted without decoding: every snapshot record
 * whatever its state, and every volume record. 0 or -errno. */
struct sfs_cat_counts {
	uint64_t snapshots;
	uint64_t volumes;
};
int sfs_cat_counts(struct sfs_txn *t, struct sfs_cat_counts *ret);

/* How many snapshots of volume the per-volume index lists, whatever their
 * state, without decoding them. 0 (and *ret, maybe 0), -EINVAL for a name
 * that is too long, or -errno. */
int sfs_cat_volume_snapshot_count(struct sfs_txn *t, const char *volume, uint64_t *ret);

/* A snapshot as a listing needs it: no tags, description or copy source. */
struct sfs_snapshot_brief {
	char id[SFS_IDSTR_SIZE];
	char volume[SFS_NAME_MAX + 1];
	int state;
	uint64_t seq;
	int64_t created;
	uint32_t created_ns;
	uint64_t size;
	uint32_t block_size;
	uint32_t depth;
	struct sfs_id root;
	uint64_t data_bytes;
};

/* Calls fn for every snapshot in id order. The fields decoded are checked
 * as sfs_snapshot_decode checks them (a record that fails is logged and
 * skipped); the fields skipped are not looked at. fn's argument lives
 * until fn returns; a non-zero return from fn stops the walk and is
 * returned. */
typedef int (*sfs_snapshot_brief_fn)(void *ctx, const struct sfs_snapshot_brief *sn);
int sfs_cat_snapshot_scan(struct sfs_txn *t, sfs_snapshot_brief_fn fn, void *ctx);

#endif
