/* SPDX-License-Identifier: MIT */
/*
 * A temporary store for the unit tests, plus a minimal writer that puts
 * chunks and snapshots into it through the public store API only, so
 * that the reader, catalog and pack tests do not depend on ingest.
 *
 * Criterion runs every test in its own process, so the fixture keeps its
 * state in globals: one store per test.
 */
#ifndef SNAPFS_TEST_FIXTURE_H
#define SNAPFS_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "snapfs/chunk.h"
#include "snapfs/chunkstore.h"
#include "snapfs/pack.h"
#include "snapfs/reader.h"
#include "snapfs/store.h"

extern char fx_dir[];              /* the store directory */
extern struct sfs_store *fx_store; /* opened for writing */

/* Criterion .init/.fini hooks: a store with 64 KiB or 4 KiB blocks. */
void fx_setup(void);
void fx_setup_4k(void);
void fx_teardown(void);

/* Creates and opens a store with these options; aborts the test on error. */
void fx_setup_opts(const struct sfs_store_options *o);
/* Closes and reopens the store (writable or not). */
void fx_reopen(bool writable);

/* rm -rf path (no symlinks followed). */
void fx_rm_rf(const char *path);
/* A fresh temporary directory (caller frees the string and removes it). */
char *fx_tmpdir(void);

/* Deterministic pseudo-random bytes. */
void fx_fill_random(void *buf, size_t len, uint64_t seed);
/* Bytes that compress well but are not zero. */
void fx_fill_text(void *buf, size_t len, uint64_t seed);

/* Decodes stored chunk bytes that live outside any store (a loose pack
 * file, a codec test) and checks them against id with SHA-256, as the
 * chunk store does for a store's chunks. 0, -EBADMSG or -EINVAL. */
int fx_decode(struct sfs_codec *c, uint8_t comp, const void *src, size_t stored_len, void *dst,
	      size_t raw_len, const struct sfs_id *id);

/*
 * A minimal single-threaded writer: one pack (number 1, or the store's
 * active pack), chunks deduplicated against the catalog, and one write
 * transaction committed after the pack is synced.
 */
struct fx_writer {
	struct sfs_pack_writer *pw;
	struct sfs_txn *txn;
	uint8_t *cbuf;
	uint64_t new_chunks, new_bytes;
};

int fx_writer_begin(struct fx_writer *w);
/* Stores a chunk unless the store has it; *ret_id is its id. */
int fx_writer_put(struct fx_writer *w, uint8_t type, const void *data, size_t len,
		  struct sfs_id *ret_id);
/* Syncs the pack, records it as active and commits. */
int fx_writer_commit(struct fx_writer *w);
void fx_writer_abort(struct fx_writer *w);

/* Yields the id of block i (zero id for a zero block). */
typedef void (*fx_block_fn)(void *ctx, uint64_t block, struct sfs_id *ret_id);

/*
 * Builds the map of nblocks blocks from fn, stores its pages through w
 * and fills *ret_map (id, size = nblocks * block_size).
 */
int fx_build_map(struct fx_writer *w, uint64_t nblocks, uint32_t block_size, fx_block_fn fn,
		 void *ctx, struct sfs_snapmap *ret_map);

/*
 * Writes a completed snapshot of `size` bytes whose blocks are the given
 * buffers (NULL for a zero block; each block_size bytes) and returns its
 * map. The snapshot record is stored too (volume "vol").
 */
int fx_snapshot_blocks(const uint8_t *const *blocks, uint64_t nblocks, uint64_t size,
		       struct sfs_snapmap *ret_map);

/* Closes fx_store, syncs its catalog file and drops it from the page
 * cache (nothing maps it then), and opens the store again read-only. */
void fx_reopen_catalog_cold(void);

/* Pages of file path in the page cache (*ret_pages: the file's), seen
 * through a mapping of our own that faults nothing in. */
size_t fx_file_resident(const char *path, size_t *ret_pages);
/* The same of the pages of [off, off + len) (len 0: to the end);
 * *ret_pages: the range's. */
size_t fx_range_resident(const char *path, uint64_t off, uint64_t len, size_t *ret_pages);
/* The same of fx_dir's catalog file. */
size_t fx_catalog_resident(size_t *ret_pages);
/* Writes path's dirty pages and drops all of its pages from the page cache. */
void fx_drop_file_cache(const char *path);

/* XORs one byte of a pack file of fx_dir with mask, through the file and
 * nothing else: what was read of the pack before may still be cached. */
void fx_pack_flip_on_disk(uint64_t pack, uint64_t off, uint8_t mask);
/* The same, then fx_store drops what it holds of the pack's bytes:
 * damage on the medium lies under every cache. */
void fx_pack_flip(uint64_t pack, uint64_t off, uint8_t mask);

#endif
