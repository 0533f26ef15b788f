/* SPDX-License-Identifier: MIT */
/*
 * The chunk store: the one place that names, encodes and decodes chunks of
 * a store. It owns the store's codec configuration (the compression level
 * from the store's config, the id function and, for an encrypted store,
 * its keys: a keyed id and sealed records) and one codec context per thread, so that
 * reader, writer, ingest, gc, copy and check never set up a codec of their
 * own and cannot disagree on how a chunk is made or checked.
 *
 * Thread safety: every function may be called from any thread at once.
 * Each thread gets its own zstd contexts and record buffer the first time
 * it calls in (kept in a thread-specific slot of the store and recycled
 * when the thread exits); they live until the store is closed.
 */
#ifndef SNAPFS_CHUNKSTORE_H
#define SNAPFS_CHUNKSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapfs/chunk.h"
#include "snapfs/pack.h"
#include "snapfs/store.h"

/*
 * The id of len bytes of chunk data in store s: SHA-256, or in an
 * encrypted store HMAC-SHA256 under the store's id key (here and nowhere
 * else). Returns 0, -ENOMEM when the calling thread's context cannot be
 * set up, or -EIO when OpenSSL fails.
 */
int sfs_store_chunk_id(struct sfs_store *s, const void *data, size_t len, struct sfs_id *ret_id);

/* Capacity sfs_store_chunk_encode needs for len raw bytes. */
size_t sfs_store_chunk_bound(size_t len);

/*
 * Encodes a chunk of type `type` whose id is *id (from sfs_store_chunk_id)
 * for the store's packs: compressed at the store's level, or raw when that
 * does not pay, then in an encrypted store sealed (AES-256-GCM, random
 * nonce, the record header as associated data; SFS_COMP_SEALED set). Writes the stored bytes into dst (capacity cap >=
 * sfs_store_chunk_bound(len), caller-owned) and the record header into
 * *ret_h. Returns 0, -EINVAL (cap too small, len > SFS_BLOCK_MAX),
 * -EBADMSG (the compressor failed) or -ENOMEM.
 */
int sfs_store_chunk_encode(struct sfs_store *s, uint8_t type, const void *raw, size_t len,
			   const struct sfs_id *id, void *dst, size_t cap,
			   struct sfs_rec_header *ret_h);

/*
 * The one function that reads, decodes and verifies a chunk. Looks id up
 * in the chunk index, or, when at is not NULL, reads it at that location
 * without a lookup (check verifies an index entry that way). The record
 * header must match the location and id, the type must be `type` (0: any),
 * an encrypted store's record must be sealed and its tag must match (a
 * plain store's must not be sealed), and the decoded bytes must have the
 * id (re-hashed, whatever sum or seal the record has): a chunk that fails
 * any of this never reaches dst. A summed record's sum must match too.
 *
 * dst: caller-owned, cap bytes; the chunk's raw length must fit.
 * ret_loc (may be NULL): where the chunk was read; its raw_len is the
 * length written to dst. ret_stored (may be NULL): the record's stored
 * bytes as in the pack (sealed, in an encrypted store; ret_loc->stored_len
 * of them), in the calling thread's buffer,
 * valid until the same thread calls into the chunk store again.
 *
 * Returns 0; -EBADMSG when the stored bytes, the header or the decoded
 * bytes do not match (or the raw length exceeds cap or the type differs);
 * -EUCLEAN when the index does not have id or names a pack that is gone;
 * -ENOMEM; other -errno from the system. dst is unspecified on error.
 */
int sfs_store_chunk_read(struct sfs_store *s, const struct sfs_id *id, uint8_t type,
			 const struct sfs_chunk_loc *at, void *dst, size_t cap,
			 struct sfs_chunk_loc *ret_loc, const void **ret_stored);

/*
 * The same read for serving data (the mount, restore): a record that
 * carries a sum (SFS_COMP_SUMMED) is verified by that sum before it is
 * decoded, and a sealed one by its tag; neither is re-hashed. A record
 * with neither (a version 1 store's) is re-hashed against id as in
 * sfs_store_chunk_read. Same arguments (no `at`, no stored bytes), same
 * returns. check, gc, copy and repair use sfs_store_chunk_read, which
 * re-hashes every chunk whatever else vouched for it.
 */
int sfs_store_chunk_fetch(struct sfs_store *s, const struct sfs_id *id, uint8_t type, void *dst,
			  size_t cap, struct sfs_chunk_loc *ret_loc);

/*
 * The checks of sfs_store_chunk_read, the full re-hash included, on a
 * record's stored bytes already in memory: loc gives its type, comp and
 * lengths as its header in the pack does (decoded by
 * sfs_rec_header_decode, which checks the lengths, and matched with
 * sfs_rec_header_is), stored its loc->stored_len bytes; type as in
 * sfs_store_chunk_read. For scans that read packs in
 * large pieces (check --read-data). Same returns, and no second reading:
 * a caller that gets -EBADMSG and wants the backend's word reads the
 * record again with sfs_store_chunk_read.
 */
int sfs_store_chunk_verify(struct sfs_store *s, const struct sfs_id *id, uint8_t type,
			   const struct sfs_chunk_loc *loc, const void *stored, void *dst,
			   size_t cap);

/* Counters of the chunk store since the store was opened. */
struct sfs_chunk_stats {
	uint64_t decodes;      /* chunks read and decoded (successful or not) */
	uint64_t decode_errors; /* of which failed verification or decoding */
	uint64_t encodes;      /* chunks encoded */
	uint64_t stored_bytes_read; /* bytes of records read from packs */
	uint64_t raw_bytes_decoded; /* bytes those decoded to, verified */
};
void sfs_store_chunk_stats(struct sfs_store *s, struct sfs_chunk_stats *ret);

#endif
