/* SPDX-License-Identifier: MIT */
/*
 * The reader: what restore, check and the FUSE mount read snapshots
 * through. It resolves block -> map pages -> chunk location -> pread ->
 * zstd decode -> SHA-256 verify, with bounds checks on everything read
 * from disk, and keeps map pages and blocks in bounded caches.
 *
 * A reader is thread-safe: chunks are read and verified through the
 * store's chunk store (snapfs/chunkstore.h), which gives every thread its
 * own codec, chunk locations come from a short read transaction per
 * lookup, and packs are read with pread. Threads that miss the same block
 * or map page at once wait for one decode; a failed decode's error goes to
 * all of them and is not cached. A read of several blocks decodes them in
 * parallel once readahead workers are started, and a stream (one per open
 * file) gets the blocks after a sequential reader decoded ahead. Errors: -EBADMSG when stored bytes fail
 * verification (logged with snapshot, block, chunk id and pack),
 * -EUCLEAN when the catalog names a chunk it does not have, -ENXIO for
 * seeks past the data, other -errno from the system.
 */
#ifndef SNAPFS_READER_H
#define SNAPFS_READER_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

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
 * own cache of 1/8 of it (at least 4 MiB). The store must outlive it.
 * 0 or -ENOMEM; *ret is freed with sfs_reader_free. */
int sfs_reader_new(struct sfs_store *s, size_t cache_bytes, struct sfs_reader **ret);
/* The block cache faults its memory in ahead of use (sfs_cache_prefault). */
void sfs_reader_prefault(struct sfs_reader *r);
/* Joins the readahead workers and frees the caches; every stream must be
 * freed first. Accepts NULL. */
void sfs_reader_free(struct sfs_reader *r);

/*
 * Starts nthreads decode workers (0: one per online CPU) that decode the
 * blocks of multi-block reads in parallel and, for streams, up to
 * window_bytes ahead of a sequential reader (0: no readahead, parallel
 * reads only). Keep the window well below the cache bound, or blocks read
 * ahead are evicted before they are read. Call once, before the reader is
 * shared. 0, -EBUSY (already started), -ENOMEM, -errno of pthread_create.
 */
int sfs_reader_start_readahead(struct sfs_reader *r, unsigned nthreads, size_t window_bytes);

/* A stream: the reads of one open file, whose pattern the reader follows
 * to read ahead. Thread-safe (several threads may read one stream). 0 or
 * -ENOMEM; free it (accepts NULL) before its reader. */
struct sfs_reader_stream;
int sfs_reader_stream_new(struct sfs_reader *r, struct sfs_reader_stream **ret);
void sfs_reader_stream_free(struct sfs_reader_stream *st);
/* The stream's reader moves forward to off without reading what lies
 * between (a hole sfs_reader_seek found): the run stays sequential, with
 * its readahead window, instead of starting over at off. */
void sfs_reader_stream_skip(struct sfs_reader_stream *st, uint64_t off);

/* The chunk id of block `block` (zero id for a zero block). */
int sfs_reader_block_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
			struct sfs_id *ret_id);

/* The ids of blocks [first, first + n) into ret_ids (n of them), with one
 * walk per leaf page rather than one per block. -EINVAL when the range
 * passes the end of the map. */
int sfs_reader_range_ids(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t first,
			 uint64_t n, struct sfs_id *ret_ids);

/* How many of blocks [first, first + n) are not zero, reading only the
 * leaf pages that hold them (none for a zero leaf). -EINVAL when the range
 * passes the end of the map. */
int sfs_reader_range_data(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t first,
			  uint64_t n, uint64_t *ret_data_blocks);

/* The id of the leaf map page (level 0) that holds block `block`: zero
 * when that leaf is all zeros or lies past the end of the map. How many
 * of its blocks are not zero is sfs_reader_range_data's to say. */
int sfs_reader_leaf_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
		       struct sfs_id *ret_id);

/* The verified contents of block `block` into buf (block_size bytes; the
 * last block of a volume whose size is not a multiple is zero-padded). */
int sfs_reader_read_block(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
			  void *buf);

/* Reads up to len bytes at off into buf (caller-owned); short only at the
 * end of the snapshot. Each block's id is resolved once; blocks are
 * decoded in parallel when readahead workers run, with this thread
 * helping. Returns bytes read or -errno (buf is then unspecified). */
ssize_t sfs_reader_pread(struct sfs_reader *r, const struct sfs_snapmap *m, void *buf,
			 size_t len, uint64_t off);
/* sfs_reader_pread for a stream: when its reads are sequential the blocks
 * that follow are queued for the workers, in a window that doubles up to
 * the reader's readahead bound. */
ssize_t sfs_reader_stream_pread(struct sfs_reader_stream *st, const struct sfs_snapmap *m,
				void *buf, size_t len, uint64_t off);

/*
 * A read whose bytes stay where they are: one span per block, pointing
 * into the block cache's entries (pinned until sfs_reader_vec_release)
 * or into a shared region of zeros, so that a reply can hand the spans to
 * writev without copying the blocks once more. Spans are in file order
 * and add up to the length read. One thread uses a vec at a time.
 */
#define SFS_READER_VEC_LOCAL 16
struct sfs_cache_entry;
struct sfs_reader_vec {
	struct sfs_reader *reader;
	struct iovec *iov;              /* niov spans */
	size_t niov;
	struct sfs_cache_entry **held;  /* nheld pinned entries */
	size_t nheld, cap;
	/* A read of a sequential run longer than half the cache: the blocks
	 * it read to their end leave the cache on release
	 * (sfs_cache_put_used); keep is the one it stopped inside, which the
	 * next read starts with. */
	bool used_up;
	struct sfs_cache_entry *keep;
	struct iovec local_iov[SFS_READER_VEC_LOCAL];
	struct sfs_cache_entry *local_held[SFS_READER_VEC_LOCAL];
};
void sfs_reader_vec_init(struct sfs_reader_vec *v, struct sfs_reader *r);
/* Unpins every held entry and frees what the vec allocated; v may be
 * used again. Always call it after sfs_reader_stream_preadv, whatever it
 * returned. */
void sfs_reader_vec_release(struct sfs_reader_vec *v);
/* sfs_reader_stream_pread into a vec (initialised, empty): bytes read or
 * -errno; v->niov is 0 unless bytes were read. */
ssize_t sfs_reader_stream_preadv(struct sfs_reader_stream *st, const struct sfs_snapmap *m,
				 size_t len, uint64_t off, struct sfs_reader_vec *v);
/* SFS_BLOCK_MAX bytes of zeros (*ret_len), valid for the life of the
 * process, or NULL when they could not be mapped. */
const void *sfs_reader_zeros(size_t *ret_len);

/* SEEK_DATA / SEEK_HOLE answered from the map, at block granularity.
 * -ENXIO when off >= size (or no data follows, for SEEK_DATA). */
int sfs_reader_seek(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t off, int whence,
		    uint64_t *ret_off);

/* Loads block `block` into the block cache (readahead); errors ignored
 * by callers other than for logging. */
int sfs_reader_prefetch(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block);

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

/* Block cache statistics (a thread that waited for another's decode
 * counts as a hit). Decodes are counted by sfs_store_chunk_stats. */
void sfs_reader_stats(struct sfs_reader *r, size_t *ret_cached, uint64_t *ret_hits,
		      uint64_t *ret_misses);
/* Blocks the readahead workers decoded before a read asked for them, and
 * how many of those a read then used. Thread-safe. */
void sfs_reader_ahead_stats(struct sfs_reader *r, uint64_t *ret_fills, uint64_t *ret_hits);

#endif
