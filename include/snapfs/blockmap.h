/* SPDX-License-Identifier: MIT */
/*
 * Block maps: per snapshot, block index -> chunk id, kept as a tree of map
 * pages. A page holds up to SFS_MAP_FANOUT ids; a leaf page (level 0)
 * holds block ids, a page at level L the ids of pages at level L-1. A zero
 * id stands for an all-zero block or subtree, which is never stored.
 * Pages are chunks (type SFS_CHUNK_MAP): identical subtrees of two
 * snapshots are one stored page, and a lookup reads `depth` pages whatever
 * the history length.
 *
 * Page encoding (little-endian): magic u32 "SFMP", version u8, level u8,
 * reserved u16 (0), count u32, reserved u32 (0), then count ids of 32
 * bytes. count is trimmed so that the last id is non-zero; entries past
 * count are zero. Equal content gives equal bytes, hence equal ids.
 *
 * Builders are single-threaded; the index helpers are pure.
 */
#ifndef SNAPFS_BLOCKMAP_H
#define SNAPFS_BLOCKMAP_H

#include <stdint.h>

#include "snapfs/chunk.h"

#define SFS_MAP_FANOUT 1024u
#define SFS_MAP_SHIFT 10
#define SFS_MAP_MAGIC 0x504d4653u /* "SFMP" */
#define SFS_MAP_VERSION 1
#define SFS_MAP_HEADER_LEN 16
#define SFS_MAP_MAX_DEPTH 6
#define SFS_MAP_UNKNOWN UINT64_MAX /* nblocks of a map whose length is found at the end */
#define SFS_MAP_PAGE_MAX (SFS_MAP_HEADER_LEN + SFS_MAP_FANOUT * SFS_ID_LEN)

/* Levels of pages needed for nblocks blocks (0 for an empty volume). */
uint32_t sfs_map_depth(uint64_t nblocks);
/* Slot of `block` in its page at `level` (< SFS_MAP_MAX_DEPTH; the page
 * decoder refuses others, and a level past the block number's bits has
 * every block in slot 0). */
static inline uint32_t sfs_map_slot(uint64_t block, uint32_t level)
{
	if (SFS_MAP_SHIFT * level >= 64)
		return 0;
	return (uint32_t)((block >> (SFS_MAP_SHIFT * level)) & (SFS_MAP_FANOUT - 1));
}

/* A decoded page. ids points into the buffer that was decoded. */
struct sfs_map_page {
	uint8_t level;
	uint32_t count;
	const struct sfs_id *ids;
};

/* Checks magic, version, reserved fields, count <= fanout, the length and
 * that the last id is non-zero. Returns 0 or -EBADMSG. */
int sfs_map_page_decode(const void *buf, size_t len, struct sfs_map_page *ret);

/*
 * Stores a finished page and returns its id in *ret_id: the callback names
 * it with the store's id function (sfs_store_chunk_id), so that the
 * builder needs no store, and makes it durable-to-be (pack append) if the
 * store does not have it yet. Returns 0 or -errno.
 */
typedef int (*sfs_map_store_fn)(void *ctx, const void *page, size_t len, struct sfs_id *ret_id);

struct sfs_map_builder;

/* A builder for a map of nblocks blocks (SFS_MAP_UNKNOWN: as many as are added). */
int sfs_map_builder_new(uint64_t nblocks, sfs_map_store_fn store, void *ctx,
			struct sfs_map_builder **ret);
/* Appends the id of the next block (zero id for a zero block). */
int sfs_map_builder_add(struct sfs_map_builder *b, const struct sfs_id *id);
/* Appends a whole leaf page's worth of blocks at once: the next block must
 * be the first of a leaf (a multiple of SFS_MAP_FANOUT). leaf_id is the id
 * of an existing leaf page, or zero for SFS_MAP_FANOUT zero blocks. Blocks
 * past nblocks must be zero in that page. */
int sfs_map_builder_add_leaf(struct sfs_map_builder *b, const struct sfs_id *leaf_id);
/* Next block index the builder expects. */
uint64_t sfs_map_builder_pos(const struct sfs_map_builder *b);
/* Flushes every level; requires exactly nblocks blocks added. */
int sfs_map_builder_finish(struct sfs_map_builder *b, struct sfs_id *ret_root,
			   uint32_t *ret_depth);
void sfs_map_builder_free(struct sfs_map_builder *b); /* accepts NULL */

#endif
