/* SPDX-License-Identifier: MIT */
/*
 * The chunk codec: a chunk is one block (or one map page) identified by the
 * SHA-256 of its uncompressed bytes and stored zstd-compressed. A codec
 * holds one zstd compression and one decompression context; it is not
 * thread-safe, so every thread that compresses or decompresses owns one.
 * The id helpers are pure functions and thread-safe.
 *
 * These are the primitives. The store's code names, encodes and decodes
 * chunks only through the chunk store (snapfs/chunkstore.h), which holds
 * the store's level, id function and per-thread codecs.
 */
#ifndef SNAPFS_CHUNK_H
#define SNAPFS_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SFS_ID_LEN 32
#define SFS_ID_HEX_LEN (2 * SFS_ID_LEN)

/* A chunk id. The all-zero id means "zero block / nothing stored". */
struct sfs_id {
	uint8_t b[SFS_ID_LEN];
};

enum sfs_chunk_type {
	SFS_CHUNK_DATA = 1, /* a block of a volume */
	SFS_CHUNK_MAP = 2,  /* a block-map page */
};

enum sfs_comp {
	SFS_COMP_NONE = 0, /* stored raw: compression did not pay */
	SFS_COMP_ZSTD = 1,
};

/* Largest block size a store may have, and so the largest raw chunk. */
#define SFS_BLOCK_MIN (4u << 10)
#define SFS_BLOCK_MAX (4u << 20)

bool sfs_id_is_zero(const struct sfs_id *id);
/* Writes SFS_ID_HEX_LEN hex digits and a NUL into buf (size >= 65). */
void sfs_id_to_hex(const struct sfs_id *id, char *buf);
/* Parses exactly 64 hex digits. Returns 0 or -EINVAL. */
int sfs_id_from_hex(const char *hex, struct sfs_id *ret_id);

/* SHA-256 of data via OpenSSL libcrypto (uses the CPU's SHA extensions),
 * which the first call loads. The store's id function
 * (sfs_store_chunk_id) is built on it. */
void sfs_chunk_hash(const void *data, size_t len, struct sfs_id *ret_id);

/* True when all len bytes are zero. Fast (word at a time). */
bool sfs_is_zero(const void *data, size_t len);

struct sfs_codec;

/* Returns NULL on allocation failure. level is the zstd level (1..19). */
struct sfs_codec *sfs_codec_new(int level);
void sfs_codec_free(struct sfs_codec *c); /* accepts NULL */

/* Upper bound of sfs_codec_compress output for len input bytes. */
size_t sfs_codec_bound(size_t len);

/*
 * Compresses src into dst (capacity dst_cap >= sfs_codec_bound(len)).
 * When compression does not save at least 1/32 of the bytes the raw bytes
 * are copied and *ret_comp is SFS_COMP_NONE. Returns the stored length,
 * -EBADMSG on a zstd failure or -ENOMEM when the codec's compression
 * context (made on its first compression) cannot be.
 */
ssize_t sfs_codec_compress(struct sfs_codec *c, const void *src, size_t len, void *dst,
			   size_t dst_cap, uint8_t *ret_comp);

/*
 * Decompresses a stored chunk into dst, which must hold exactly raw_len
 * bytes. It does not verify the id: that is the chunk store's job, with
 * the store's id function. Returns 0, -EBADMSG when the bytes do not
 * decompress to exactly raw_len bytes (dst content is then unspecified),
 * -EINVAL on a bad comp.
 */
int sfs_codec_decompress(struct sfs_codec *c, uint8_t comp, const void *src, size_t stored_len,
			 void *dst, size_t raw_len);

#endif
