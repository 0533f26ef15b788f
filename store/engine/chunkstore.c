// SPDX-License-Identifier: MIT
/*
 * The chunk store: ids, encoding and the one verified read of a chunk,
 * with the store's codec configuration and per-thread codec contexts.
 * Contexts live in a thread-specific slot of the store and go back to a
 * free list when their thread exits, so that FUSE loops and worker pools
 * that start and stop threads reuse them instead of leaking them. A chunk
 * is re-hashed on every read: bytes that do not match their id are
 * -EBADMSG and never reach a caller.
 *
 * In an encrypted store the id is keyed (HMAC-SHA256 under the id key)
 * and every record's stored bytes are sealed after compression
 * (AES-256-GCM under the seal key, a random nonce per seal, the record
 * header as associated data); a read opens them, checking the tag, before
 * it decompresses and re-hashes. A plain store's chunk is never sealed
 * and an encrypted store's always is: a record of the other kind is
 * -EBADMSG. Everything a store writes into packs passes encode, so
 * whatever is added later (checkpoints) is sealed by construction.
 *
 * Re-hashing every chunk with SHA-256 on every read cost about a third of
 * a mount's read profile. A version 2 store therefore sums each unsealed
 * record (XXH3-64 over its header and stored bytes, kept at the end of the
 * stored bytes), and the mount's reads (sfs_store_chunk_fetch) verify that
 * sum, or a sealed record's tag, instead of the id; check, gc, copy and
 * repair keep the full re-hash (sfs_store_chunk_read). Records without a
 * sum or a seal (version 1 stores) are re-hashed on every read as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "crypt_int.h"
#include "snapfs/chunkstore.h"
#include "store_int.h"

/* One thread's codec and the stored bytes of the record it read last. */
struct cs_tctx {
	struct sfs_chunkstore *cs;
	struct sfs_codec *codec;
	uint8_t *stored;
	struct sfs_crypt_tctx *crypt; /* encrypted store only */
	uint8_t *opened;              /* a sealed record's plaintext (encrypted only) */
	struct cs_tctx *all_next, *free_next;
};

struct sfs_chunkstore {
	int level; /* zstd level, from the store's config */
	bool sum; /* sum unsealed records (format version 2 and up) */
	const struct sfs_keyring *keys; /* the store's; NULL for a plain store */
	pthread_key_t key;
	pthread_mutex_t lock; /* guards all and free_list */
	struct cs_tctx *all, *free_list;
	atomic_uint_fast64_t decodes, decode_errors, encodes;
	atomic_uint_fast64_t stored_read, raw_decoded;
};

static void tctx_release(void *p)
{
	struct cs_tctx *t = p;
	struct sfs_chunkstore *cs = t->cs;

	pthread_mutex_lock(&cs->lock);
	t->free_next = cs->free_list;
	cs->free_list = t;
	pthread_mutex_unlock(&cs->lock);
}

static struct cs_tctx *tctx_get(struct sfs_chunkstore *cs)
{
	struct cs_tctx *t = pthread_getspecific(cs->key);

	if (t)
		return t;
	pthread_mutex_lock(&cs->lock);
	t = cs->free_list;
	if (t)
		cs->free_list = t->free_next;
	pthread_mutex_unlock(&cs->lock);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->cs = cs;
		t->codec = sfs_codec_new(cs->level);
		t->stored = malloc(SFS_STORED_MAX);
		if (cs->keys) {
			t->crypt = sfs_crypt_tctx_new(cs->keys);
			t->opened = malloc(SFS_BLOCK_MAX);
		}
		if (!t->codec || !t->stored || (cs->keys && (!t->crypt || !t->opened))) {
			sfs_codec_free(t->codec);
			sfs_crypt_tctx_free(t->crypt);
			free(t->opened);
			free(t->stored);
			free(t);
			return NULL;
		}
		pthread_mutex_lock(&cs->lock);
		t->all_next = cs->all;
		cs->all = t;
		pthread_mutex_unlock(&cs->lock);
	}
	if (pthread_setspecific(cs->key, t) != 0) {
		tctx_release(t);
		return NULL;
	}
	return t;
}

int sfs_chunkstore_new(struct sfs_store *s)
{
	struct sfs_chunkstore *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return -ENOMEM;
	if (pthread_key_create(&cs->key, tctx_release) != 0) {
		free(cs);
		return -EAGAIN;
	}
	pthread_mutex_init(&cs->lock, NULL);
	cs->level = s->zstd_level;
	cs->keys = s->keyring;
	cs->sum = s->format_version >= 2 && !s->keyring;
	s->chunks = cs;
	return 0;
}

void sfs_chunkstore_free(struct sfs_store *s)
{
	struct sfs_chunkstore *cs = s->chunks;
	struct cs_tctx *t, *n;

	if (!cs)
		return;
	pthread_key_delete(cs->key);
	for (t = cs->all; t; t = n) {
		n = t->all_next;
		sfs_codec_free(t->codec);
		sfs_crypt_tctx_free(t->crypt);
		free(t->opened);
		free(t->stored);
		free(t);
	}
	pthread_mutex_destroy(&cs->lock);
	free(cs);
	s->chunks = NULL;
}

int sfs_store_chunk_id(struct sfs_store *s, const void *data, size_t len, struct sfs_id *ret_id)
{
	struct cs_tctx *t;

	if (!s->chunks->keys) {
		sfs_chunk_hash(data, len, ret_id);
		return 0;
	}
	t = tctx_get(s->chunks);
	if (!t)
		return -ENOMEM;
	return sfs_crypt_id(t->crypt, data, len, ret_id->b);
}

size_t sfs_store_chunk_bound(size_t len)
{
	return sfs_codec_bound(len) + SFS_SEAL_OVERHEAD;
}

/* The associated data of a sealed record: its header as it is on disk.
 * Neither pack nor offset is in it, so gc may move a record as it is. */
static void seal_aad(const struct sfs_rec_header *h, uint8_t aad[SFS_REC_HEADER_LEN])
{
	sfs_rec_header_encode(h, aad);
}

/* The sum of a summed record: XXH3-64 of the bytes before the sum,
 * seeded with XXH3-64 of the 48-byte header as written. The header holds
 * the id, so a record's bytes under another record's header fail too. */
static uint64_t record_sum(const struct sfs_rec_header *h, const uint8_t *payload, size_t len)
{
	uint8_t hb[SFS_REC_HEADER_LEN];

	sfs_rec_header_encode(h, hb);
	return XXH3_64bits_withSeed(payload, len, XXH3_64bits(hb, sizeof(hb)));
}

static void put_sum(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_sum(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int sfs_store_chunk_encode(struct sfs_store *s, uint8_t type, const void *raw, size_t len,
			   const struct sfs_id *id, void *dst, size_t cap,
			   struct sfs_rec_header *ret_h)
{
	struct cs_tctx *t;
	uint8_t comp;
	ssize_t n;

	bool seal = s->chunks->keys != NULL;
	bool sum = s->chunks->sum;
	uint8_t *out = dst;
	int r;

	if (len > SFS_BLOCK_MAX || cap < sfs_store_chunk_bound(len))
		return -EINVAL;
	t = tctx_get(s->chunks);
	if (!t)
		return -ENOMEM;
	if (seal) {
		out += SFS_GCM_NONCE; /* room for the nonce in front, the tag behind */
		cap -= SFS_SEAL_OVERHEAD;
	}
	if (sum)
		cap -= SFS_SUM_LEN; /* the sum goes behind the compressed bytes */
	n = sfs_codec_compress(t->codec, raw, len, out, cap, &comp);
	if (n < 0)
		return (int)n;
	memset(ret_h, 0, sizeof(*ret_h));
	ret_h->type = type;
	ret_h->comp = comp;
	ret_h->raw_len = (uint32_t)len;
	ret_h->stored_len = (uint32_t)n;
	ret_h->id = *id;
	if (sum) {
		ret_h->comp |= SFS_COMP_SUMMED;
		ret_h->stored_len += SFS_SUM_LEN;
		put_sum(out + n, record_sum(ret_h, out, (size_t)n));
	}
	if (seal) {
		uint8_t aad[SFS_REC_HEADER_LEN];

		ret_h->comp |= SFS_COMP_SEALED;
		ret_h->stored_len += SFS_SEAL_OVERHEAD;
		seal_aad(ret_h, aad);
		r = sfs_crypt_seal(t->crypt, aad, sizeof(aad), dst, (size_t)n);
		if (r < 0)
			return r;
	}
	atomic_fetch_add_explicit(&s->chunks->encodes, 1, memory_order_relaxed);
	return 0;
}

/* Checks a record's stored bytes (loc's lengths, type and comp, the
 * pack's header having matched them) and decodes them into dst: the sum
 * or the seal first, then zstd, then, when full or when neither vouched
 * for the bytes, the id of what they decode to. */
static int verify_stored(struct sfs_store *s, struct cs_tctx *t, const struct sfs_id *id,
			 uint8_t type, const struct sfs_chunk_loc *loc, const uint8_t *stored,
			 bool full, void *dst, size_t cap)
{
	struct sfs_chunkstore *cs = s->chunks;
	struct sfs_id got;
	bool vouched = false;
	int ret;

	if ((type && loc->type != type) || loc->raw_len > cap ||
	    !(loc->comp & SFS_COMP_SEALED) != !cs->keys) {
		/* Or a record sealed in a plain store, or one in the clear in an
		 * encrypted store: neither was written by this store. */
		ret = -EBADMSG;
	} else if (cs->keys) {
		struct sfs_rec_header h = { .type = loc->type, .comp = loc->comp,
					    .raw_len = loc->raw_len,
					    .stored_len = loc->stored_len, .id = *id };
		uint8_t aad[SFS_REC_HEADER_LEN];

		seal_aad(&h, aad);
		if ((loc->comp & SFS_COMP_MASK) == SFS_COMP_NONE) {
			/* Stored raw (lengths checked against the header): open
			 * straight into dst, without a copy. */
			ret = sfs_crypt_open(t->crypt, aad, sizeof(aad), stored, loc->stored_len, dst);
		} else {
			ret = sfs_crypt_open(t->crypt, aad, sizeof(aad), stored, loc->stored_len,
					     t->opened);
			if (ret == 0)
				ret = sfs_codec_decompress(t->codec, loc->comp & SFS_COMP_MASK,
							   t->opened,
							   loc->stored_len - SFS_SEAL_OVERHEAD, dst,
							   loc->raw_len);
		}
		vouched = ret == 0; /* the tag covers the header, id included */
	} else if (loc->comp & SFS_COMP_SUMMED) {
		struct sfs_rec_header h = { .type = loc->type, .comp = loc->comp,
					    .raw_len = loc->raw_len,
					    .stored_len = loc->stored_len, .id = *id };
		size_t n = loc->stored_len - SFS_SUM_LEN; /* > 0: lengths checked */

		/* Checked before decoding, so that zstd never sees bytes that
		 * are not the ones written. */
		if (record_sum(&h, stored, n) != get_sum(stored + n))
			ret = -EBADMSG;
		else
			ret = sfs_codec_decompress(t->codec, loc->comp & SFS_COMP_MASK, stored, n,
						   dst, loc->raw_len);
		vouched = ret == 0;
	} else {
		ret = sfs_codec_decompress(t->codec, loc->comp, stored, loc->stored_len, dst,
					   loc->raw_len);
	}
	if (ret == -EINVAL)
		ret = -EBADMSG; /* an unknown comp came from disk */
	if (ret == 0 && (full || !vouched)) {
		ret = sfs_store_chunk_id(s, dst, loc->raw_len, &got);
		if (ret == 0 && memcmp(got.b, id->b, SFS_ID_LEN) != 0)
			ret = -EBADMSG;
	}
	if (ret == 0)
		atomic_fetch_add_explicit(&cs->raw_decoded, loc->raw_len, memory_order_relaxed);
	return ret;
}

/* One read, decode and check of a record: chunk_read's. again: a second
 * reading of one record, which the decode counter leaves out. */
static int chunk_read_once(struct sfs_store *s, const struct sfs_id *id, uint8_t type,
			   const struct sfs_chunk_loc *at, bool full, bool again, void *dst,
			   size_t cap, struct sfs_chunk_loc *ret_loc, const void **ret_stored)
{
	struct sfs_chunkstore *cs = s->chunks;
	struct cs_tctx *t = tctx_get(cs);
	struct sfs_chunk_loc loc = { 0 };
	int ret;

	if (!t)
		return -ENOMEM;
	ret = sfs_read_stored(s, id, at, &loc, t->stored);
	if (ret < 0)
		goto out;
	if (!again)
		atomic_fetch_add_explicit(&cs->decodes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&cs->stored_read, loc.stored_len, memory_order_relaxed);
	ret = verify_stored(s, t, id, type, &loc, t->stored, full, dst, cap);
out:
	/* The location is worth reporting even when its bytes were bad. */
	if (ret_loc && (ret == 0 || ret == -EBADMSG))
		*ret_loc = at ? *at : loc;
	if (ret == 0 && ret_stored)
		*ret_stored = t->stored;
	return ret;
}

int sfs_store_chunk_verify(struct sfs_store *s, const struct sfs_id *id, uint8_t type,
			   const struct sfs_chunk_loc *loc, const void *stored, void *dst,
			   size_t cap)
{
	struct cs_tctx *t = tctx_get(s->chunks);
	int ret;

	if (!t)
		return -ENOMEM;
	atomic_fetch_add_explicit(&s->chunks->decodes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->chunks->stored_read, loc->stored_len, memory_order_relaxed);
	ret = verify_stored(s, t, id, type, loc, stored, true, dst, cap);
	if (ret < 0)
		atomic_fetch_add_explicit(&s->chunks->decode_errors, 1, memory_order_relaxed);
	return ret;
}

/* The one read behind sfs_store_chunk_read and sfs_store_chunk_fetch.
 * full: re-hash the decoded bytes against the id even when a sum or a
 * seal has already vouched for the record. A record that fails its
 * checks is read once more if the backend had copies of its pack's
 * bytes: those may predate another process cutting and rewriting the
 * pack's tail, or be a damaged local copy of a remote pack, where the
 * medium holds the good record. */
static int chunk_read(struct sfs_store *s, const struct sfs_id *id, uint8_t type,
		      const struct sfs_chunk_loc *at, bool full, void *dst, size_t cap,
		      struct sfs_chunk_loc *ret_loc, const void **ret_stored)
{
	struct sfs_chunk_loc loc = { 0 };
	int ret = chunk_read_once(s, id, type, at, full, false, dst, cap, &loc, ret_stored);

	if (ret == -EBADMSG && sfs_store_drop_pack_bytes(s, loc.pack) > 0)
		ret = chunk_read_once(s, id, type, at, full, true, dst, cap, &loc, ret_stored);
	if (ret < 0)
		atomic_fetch_add_explicit(&s->chunks->decode_errors, 1, memory_order_relaxed);
	if (ret_loc && (ret == 0 || ret == -EBADMSG))
		*ret_loc = loc;
	return ret;
}

int sfs_store_chunk_read(struct sfs_store *s, const struct sfs_id *id, uint8_t type,
			 const struct sfs_chunk_loc *at, void *dst, size_t cap,
			 struct sfs_chunk_loc *ret_loc, const void **ret_stored)
{
	return chunk_read(s, id, type, at, true, dst, cap, ret_loc, ret_stored);
}

int sfs_store_chunk_fetch(struct sfs_store *s, const struct sfs_id *id, uint8_t type, void *dst,
			  size_t cap, struct sfs_chunk_loc *ret_loc)
{
	return chunk_read(s, id, type, NULL, false, dst, cap, ret_loc, NULL);
}

void sfs_store_chunk_stats(struct sfs_store *s, struct sfs_chunk_stats *ret)
{
	ret->decodes = atomic_load(&s->chunks->decodes);
	ret->decode_errors = atomic_load(&s->chunks->decode_errors);
	ret->encodes = atomic_load(&s->chunks->encodes);
	ret->stored_bytes_read = atomic_load(&s->chunks->stored_read);
	ret->raw_bytes_decoded = atomic_load(&s->chunks->raw_decoded);
}
