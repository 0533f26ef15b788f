/* SPDX-License-Identifier: MIT */
/*
 * Pack files: append-only files of chunk records. A pack starts with a
 * fixed header and is followed by records, each a fixed header (type,
 * compression, lengths, chunk id) and the stored bytes. Packs are
 * self-describing: scanning them rebuilds the chunk index. The format is
 * in store/FORMAT.md. All integers are little-endian.
 *
 * Pack bytes move only through a backend (snapfs/backend.h); this module
 * knows the format. A writer belongs to one thread (the store's single
 * writer). Reading a record is thread-safe.
 */
#ifndef SNAPFS_PACK_H
#define SNAPFS_PACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapfs/chunk.h"

#define SFS_PACK_MAGIC "SNAPFSPK"
#define SFS_PACK_VERSION 1
#define SFS_PACK_HEADER_LEN 32
#define SFS_REC_MAGIC 0x52434653u /* "SFCR" */
#define SFS_REC_HEADER_LEN 48

/* Bit 7 of a record's compression byte: the stored bytes are sealed (an
 * encrypted store's records): a 12-byte nonce, the AES-256-GCM ciphertext
 * of the compressed bytes, a 16-byte tag. The low bits name the
 * compression of what is inside. */
#define SFS_COMP_SEALED 0x80u
/* Bit 6: the stored bytes end in an 8-byte sum (XXH3-64 of the record
 * header as written followed by the bytes before the sum), so that a read
 * verifies a record without re-hashing what it decodes to. Written by
 * format version 2 stores into records that are not sealed (the AEAD tag
 * does that job there); never together with SFS_COMP_SEALED. */
#define SFS_COMP_SUMMED 0x40u
#define SFS_COMP_MASK 0x3fu
#define SFS_SEAL_OVERHEAD 28u
#define SFS_SUM_LEN 8u
/* Largest stored length of a record: a sealed, uncompressed 4 MiB block. */
#define SFS_STORED_MAX (SFS_BLOCK_MAX + SFS_SEAL_OVERHEAD)

/* Where a chunk lives. offset is that of its record header. */
struct sfs_chunk_loc {
	uint64_t pack;
	uint64_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t type; /* enum sfs_chunk_type */
	uint8_t comp; /* enum sfs_comp */
};

/* A decoded record header. */
struct sfs_rec_header {
	uint8_t type;
	uint8_t comp;
	uint32_t raw_len;
	uint32_t stored_len;
	struct sfs_id id;
};

/* Whether a record's lengths agree with its compression byte: unsealed,
 * stored == raw when uncompressed, else 1 .. raw - 1; sealed, the same of
 * stored - SFS_SEAL_OVERHEAD; summed, the same of stored - SFS_SUM_LEN;
 * raw 1 .. SFS_BLOCK_MAX; sealed and summed together are refused. Shared by the record
 * header and the catalog's location decoders. 0 or -EBADMSG. */
int sfs_rec_lengths_check(uint8_t comp, uint32_t raw_len, uint32_t stored_len);

/* Encode/decode the fixed headers. Decoders check magic, version, types
 * and lengths (raw_len <= SFS_BLOCK_MAX, stored_len <= bound of raw_len)
 * and return 0 or -EBADMSG. They are the fuzz targets' entry points. */
void sfs_pack_header_encode(uint64_t number, uint8_t out[SFS_PACK_HEADER_LEN]);
int sfs_pack_header_decode(const uint8_t *buf, size_t len, uint64_t *ret_number);
void sfs_rec_header_encode(const struct sfs_rec_header *h, uint8_t out[SFS_REC_HEADER_LEN]);
int sfs_rec_header_decode(const uint8_t *buf, size_t len, struct sfs_rec_header *ret);
/* Whether a decoded header is the record loc and id name: the same id,
 * type, comp and lengths. */
bool sfs_rec_header_is(const struct sfs_rec_header *h, const struct sfs_chunk_loc *loc,
		       const struct sfs_id *id);

/* "%016llx.pack", the name of pack `number` in a directory backend;
 * buf >= 32 bytes. */
void sfs_pack_name(uint64_t number, char *buf, size_t len);

struct sfs_backend;
struct sfs_pack_writer;

/*
 * Opens pack `number` of backend b for appending records. When
 * committed_len is 0 the pack is created (-EEXIST if it exists: numbers
 * are never reused) and its header queued; otherwise it is cut to
 * committed_len, dropping whatever an interrupted writer left after the
 * last commit. Returns 0 or -errno; *ret is owned by the caller
 * (sfs_pack_writer_seal or _close). One thread (the store's writer).
 */
int sfs_pack_writer_open(struct sfs_backend *b, uint64_t number, uint64_t committed_len,
			 struct sfs_pack_writer **ret);

/* Appends a record; *ret_loc says where it went. Data may sit in a buffer
 * until sfs_pack_writer_sync. Returns 0 or -errno (-ENOSPC on a full disk). */
int sfs_pack_append(struct sfs_pack_writer *w, const struct sfs_rec_header *h,
		    const void *payload, struct sfs_chunk_loc *ret_loc);

/* Flushes the buffer and makes the pack durable through the backend
 * (data, then the directory entry of a new pack). After it returns 0
 * every appended record is durable. */
int sfs_pack_writer_sync(struct sfs_pack_writer *w);

/* Syncs and closes: the pack is never appended to again. w is freed
 * whatever is returned. */
int sfs_pack_writer_seal(struct sfs_pack_writer *w);

uint64_t sfs_pack_writer_number(const struct sfs_pack_writer *w);
/* Logical size including buffered records. */
uint64_t sfs_pack_writer_size(const struct sfs_pack_writer *w);

/* Closes without syncing; unsynced records may be lost (that is safe, as
 * nothing points at them). Accepts NULL. */
void sfs_pack_writer_close(struct sfs_pack_writer *w);

/*
 * Reads the record at loc from backend b, header and stored bytes in one
 * backend read, stores the stored bytes in buf (capacity >=
 * loc->stored_len) and checks that the header matches loc and id. Returns
 * 0, -EBADMSG on a mismatch or short record, -ENOENT when the pack is
 * missing, or another -errno of the backend. Thread-safe.
 */
int sfs_pack_read(struct sfs_backend *b, const struct sfs_chunk_loc *loc, const struct sfs_id *id,
		  void *buf);

/*
 * Walks every record of pack `number` of b, calling cb with its header,
 * offset and stored bytes (valid only during the call). Stops at the first
 * record that does not decode or runs past the end, and reports the end of
 * the last good record in *ret_end (a torn tail is not an error). cb
 * returns 0 to go on, anything else to stop and have it returned.
 * *ret_number is the number the pack header names.
 */
typedef int (*sfs_pack_scan_fn)(void *ctx, const struct sfs_rec_header *h, uint64_t offset,
				const void *payload);
int sfs_pack_scan(struct sfs_backend *b, uint64_t number, sfs_pack_scan_fn cb, void *ctx,
		  uint64_t *ret_number, uint64_t *ret_end);

#endif
