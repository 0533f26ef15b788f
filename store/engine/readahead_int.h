/* SPDX-License-Identifier: MIT */
/*
 * The reader's decode pool (readahead.c) and the reader's verbs it uses.
 * Private to store/: callers see only sfs_reader_start_readahead and the
 * stream reads of snapfs/reader.h.
 */
#ifndef SFS_READAHEAD_INT_H
#define SFS_READAHEAD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "snapfs/chunk.h"

struct sfs_reader;
struct sfs_cache_entry;
struct sfs_ra_pool;

/* nthreads 0: one per online CPU (at most 64). The reader must outlive
 * the pool. 0 or -errno. */
int sfs_ra_pool_new(struct sfs_reader *r, unsigned nthreads, struct sfs_ra_pool **ret);
/* Joins the workers; queued blocks are dropped. Accepts NULL. */
void sfs_ra_pool_free(struct sfs_ra_pool *p);

/* Queues n blocks from first_block with their ids (zero ids are skipped)
 * of snapshot snap for decoding into the cache. urgent: a read waits for
 * them, so they go before readahead. Blocks that do not fit the queue are
 * dropped: the reader decodes them itself. done (NULL for none): how far
 * the stream that asked has read (the block its furthest read ended in),
 * loaded with __atomic_load_n; a readahead job for a block below it is
 * dropped, not decoded: the stream is past it. Thread-safe. */
void sfs_ra_pool_push(struct sfs_ra_pool *p, const char *snap, uint32_t bs, uint64_t first_block,
		      const struct sfs_id *ids, uint64_t n, bool urgent, const uint64_t *done);
/* Drops every queued job that names done: its stream is going away. No
 * worker looks at done after this returns. Accepts a NULL pool. */
void sfs_ra_pool_forget(struct sfs_ra_pool *p, const uint64_t *done);
/* Drops the urgent jobs of done's stream for blocks first..last, which
 * its read has in hand: a worker popping one later would find the block
 * gone (a sequential reader's used-up blocks leave the cache) and decode
 * it again for nobody. */
void sfs_ra_pool_cancel(struct sfs_ra_pool *p, const uint64_t *done, uint64_t first, uint64_t last);

/*
 * The verified contents of data chunk id (block `block` of snapshot snap,
 * bs bytes) as a held block-cache entry, decoding it unless cached. When
 * another thread is decoding it: waits for that decode (SFS_CACHE_WAIT in
 * flags) or returns SFS_CACHE_BUSY. SFS_CACHE_AHEAD: a readahead decode. 0, SFS_CACHE_BUSY, -EBADMSG, -EUCLEAN, -ENOMEM, -errno.
 */
int sfs_reader_fill_block(struct sfs_reader *r, const char *snap, uint64_t block, uint32_t bs,
			  const struct sfs_id *id, unsigned flags, struct sfs_cache_entry **ret_e);
void sfs_reader_put_block(struct sfs_reader *r, struct sfs_cache_entry *e);

#endif
