/* SPDX-License-Identifier: MIT */
/*
 * The reader: what restore, check and the FUSE mount read snapshots
 * through. It resolves block -> map pages -> chunk location -> pread ->
 * zstd decode -> SHA-256 verify, with bounds checks on everything read
 * from disk, and keeps map pages and blocks in bounded caches.
 *
 * A reader is thread-safe: every thread gets its own zstd context and
 * buffers, chunk locations come from a short read transaction per lookup,
 * and packs are read with pread. Errors: -EBADMSG when stored bytes fail
 * verification (logged with snapshot, block, chunk id and pack),
 * -EUCLEAN when the catalog names a chunk it does not have, -ENXIO for
 * seeks past the data, other -errno from the system.
 */
#ifndef SNAPFS_READER_H
#define SNAPFS_READER_H

#include <stdint.h>
#include <sys/types.h>

#include "snapfs/catalog.h"
#include "snapfs/chunk.h"
#include "snapfs/store.h"

/* What the reader needs of a snapshot: a small value, copied freely. */
struct sfs_snapmap {
	char id[SFS_IDSTR_SIZE];
	uint64_t size;
	uint32_t block_size;
	uint32_t depth;
	struct sfs_id root;
};

void sfs_snapmap_from_snapshot(const struct sfs_snapshot *sn, struct sfs_snapmap *ret);

struct sfs_reader;

/* cache_bytes: the block cache's bound (0: 64 MiB); map pages have their
 * own cache of 1/8 of it (at least 4 MiB). The store must outlive it. */
int sfs_reader_new(struct sfs_store *s, size_t cache_bytes, struct sfs_reader **ret);
void sfs_reader_free(struct sfs_reader *r); /* accepts NULL */

/* The chunk id of block `block` (zero id for a zero block). */
int sfs_reader_block_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
			struct sfs_id *ret_id);

/* The id of the leaf map page (level 0) that holds block `block`: zero
 * when that leaf is all zeros or lies past the end of the map. With
 * ret_data_blocks, also how many of the leaf's blocks are not zero. */
int sfs_reader_leaf_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
		       struct sfs_id *ret_id, uint32_t *ret_data_blocks);

/* The verified contents of block `block` into buf (block_size bytes; the
 * last block of a volume whose size is not a multiple is zero-padded). */
int sfs_reader_read_block(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
			  void *buf);

/* Reads up to len bytes at off; short only at end of the snapshot.
 * Returns bytes read or -errno. */
ssize_t sfs_reader_pread(struct sfs_reader *r, const struct sfs_snapmap *m, void *buf,
			 size_t len, uint64_t off);

/* SEEK_DATA / SEEK_HOLE answered from the map, at block granularity.
 * -ENXIO when off >= size (or no data follows, for SEEK_DATA). */
int sfs_reader_seek(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t off, int whence,
		    uint64_t *ret_off);

/* Loads block `block` into the block cache (readahead); errors ignored
 * by callers other than for logging. */
int sfs_reader_prefetch(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block);

/* Reads and verifies one chunk by id into buf (capacity cap), bypassing
 * the caches. *ret_len is its raw length. For check. */
int sfs_reader_fetch_chunk(struct sfs_reader *r, const struct sfs_id *id, void *buf, size_t cap,
			   size_t *ret_len, struct sfs_chunk_loc *ret_loc);

/* Reads and verifies the chunk at a location the caller already has (an
 * index entry being checked), without looking it up again. buf holds
 * cap >= loc->raw_len bytes. 0, -EBADMSG, -EUCLEAN (pack missing), -errno. */
int sfs_reader_read_at(struct sfs_reader *r, const struct sfs_id *id,
		       const struct sfs_chunk_loc *loc, void *buf, size_t cap);

/* Walks the pages of a map depth-first, calling fn for every page id
 * (level >= 0) and, when leaves is set, every non-zero block id (level
 * -1) with its block index. fn returns non-zero to stop. A page whose id
 * was seen before (set by fn returning 1 for "skip children") is not
 * descended into. */
typedef int (*sfs_map_walk_fn)(void *ctx, int level, uint64_t first_block,
			       const struct sfs_id *id);
int sfs_reader_walk(struct sfs_reader *r, const struct sfs_snapmap *m, bool leaves,
		    sfs_map_walk_fn fn, void *ctx);

/* Block ranges in which the two maps differ, as [first, first+count)
 * pairs, reported in order; identical subtrees are skipped without
 * reading them. The maps must have the same block size. */
typedef int (*sfs_diff_fn)(void *ctx, uint64_t first_block, uint64_t nblocks);
int sfs_reader_diff(struct sfs_reader *r, const struct sfs_snapmap *a, const struct sfs_snapmap *b,
		    sfs_diff_fn fn, void *ctx);

/* Cache statistics. */
void sfs_reader_stats(struct sfs_reader *r, size_t *ret_cached, uint64_t *ret_hits,
		      uint64_t *ret_misses);

#endif
