// SPDX-License-Identifier: MIT
/*
 * The reader library: block lookups through the map tree, verified chunk
 * fetches, caches, SEEK_DATA/SEEK_HOLE from the map, map walks and diffs.
 * Per-thread zstd contexts and scratch buffers live in a thread-specific
 * slot of the reader and are recycled through a free list when a thread
 * exits, so a FUSE loop that starts and stops threads does not leak them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfs/blockmap.h"
#include "snapfs/cache.h"
#include "snapfs/log.h"
#include "snapfs/pack.h"
#include "snapfs/reader.h"
#include "store_int.h"

#define NOT_FOUND UINT64_MAX

struct tctx {
	struct sfs_reader *reader;
	struct sfs_codec *codec;
	uint8_t *buf; /* stored bytes of one chunk */
	struct tctx *all_next, *free_next;
};

struct sfs_reader {
	struct sfs_store *store;
	struct sfs_cache *blocks;
	struct sfs_cache *pages;
	pthread_key_t key;
	pthread_mutex_t lock; /* guards all and free_list */
	struct tctx *all, *free_list;
};

void sfs_snapmap_from_snapshot(const struct sfs_snapshot *sn, struct sfs_snapmap *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->id, sn->id, sizeof(ret->id));
	ret->size = sn->size;
	ret->block_size = sn->block_size;
	ret->depth = sn->depth;
	ret->root = sn->root;
}

static void tctx_release(void *p)
{
	struct tctx *t = p;
	struct sfs_reader *r = t->reader;

	pthread_mutex_lock(&r->lock);
	t->free_next = r->free_list;
	r->free_list = t;
	pthread_mutex_unlock(&r->lock);
}

static struct tctx *tctx_get(struct sfs_reader *r)
{
	struct tctx *t = pthread_getspecific(r->key);

	if (t)
		return t;
	pthread_mutex_lock(&r->lock);
	t = r->free_list;
	if (t)
		r->free_list = t->free_next;
	pthread_mutex_unlock(&r->lock);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->reader = r;
		t->codec = sfs_codec_new(1);
		t->buf = malloc(SFS_BLOCK_MAX);
		if (!t->codec || !t->buf) {
			sfs_codec_free(t->codec);
			free(t->buf);
			free(t);
			return NULL;
		}
		pthread_mutex_lock(&r->lock);
		t->all_next = r->all;
		r->all = t;
		pthread_mutex_unlock(&r->lock);
	}
	pthread_setspecific(r->key, t);
	return t;
}

int sfs_reader_new(struct sfs_store *s, size_t cache_bytes, struct sfs_reader **ret)
{
	struct sfs_reader *r = calloc(1, sizeof(*r));
	size_t page_bytes;

	if (!r)
		return -ENOMEM;
	if (!cache_bytes)
		cache_bytes = 64u << 20;
	page_bytes = cache_bytes / 8 > (4u << 20) ? cache_bytes / 8 : (4u << 20);
	r->store = s;
	r->blocks = sfs_cache_new(cache_bytes);
	r->pages = sfs_cache_new(page_bytes);
	pthread_mutex_init(&r->lock, NULL);
	if (!r->blocks || !r->pages || pthread_key_create(&r->key, tctx_release) != 0) {
		sfs_cache_free(r->blocks);
		sfs_cache_free(r->pages);
		free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

void sfs_reader_free(struct sfs_reader *r)
{
	struct tctx *t, *n;

	if (!r)
		return;
	pthread_key_delete(r->key);
	for (t = r->all; t; t = n) {
		n = t->all_next;
		sfs_codec_free(t->codec);
		free(t->buf);
		free(t);
	}
	sfs_cache_free(r->blocks);
	sfs_cache_free(r->pages);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* What a failed fetch was for, so that the log names it. */
struct what {
	const char *snap;
	uint64_t block;
	int level; /* -1 for a data block */
};

int sfs_read_stored(struct sfs_store *s, const struct sfs_id *id, struct sfs_chunk_loc *ret_loc,
		    void *buf)
{
	for (int attempt = 0;; attempt++) {
		struct sfs_txn *txn;
		int ret = sfs_txn_begin(s, false, &txn);

		if (ret < 0)
			return ret;
		ret = sfs_cat_chunk_get(txn, id, ret_loc);
		sfs_txn_abort(txn);
		if (ret == -ENOENT)
			return -EUCLEAN;
		if (ret < 0)
			return ret;
		if (ret_loc->stored_len > SFS_BLOCK_MAX)
			return -EBADMSG;
		ret = sfs_store_read_record(s, ret_loc, id, buf);
		/* gc moved the chunk and removed the pack between the lookup
		 * and the read: the index now names the new place. */
		if (ret == -ENOENT && attempt == 0)
			continue;
		return ret == -ENOENT ? -EUCLEAN : ret;
	}
}

static void log_fetch(int ret, const struct sfs_id *id, const struct sfs_chunk_loc *loc,
		      const struct what *w)
{
	const char *why = ret == -EBADMSG ? "stored bytes fail verification"
			  : ret == -EUCLEAN ? "chunk missing from the store"
					    : strerror(-ret);
	char hex[SFS_ID_HEX_LEN + 1], pack[64] = "?";

	sfs_id_to_hex(id, hex);
	if (loc)
		sfs_pack_name(loc->pack, pack, sizeof(pack));
	if (w->level < 0)
		sfs_log(SFS_LOG_ERR,
			"snapshot %s block %" PRIu64 ": chunk %s in pack %s at offset %" PRIu64 ": %s",
			w->snap, w->block, hex, pack, loc ? loc->offset : 0, why);
	else
		sfs_log(SFS_LOG_ERR, "snapshot %s block %" PRIu64 ": map page (level %d) %s in pack %s: %s",
			w->snap, w->block, w->level, hex, pack, why);
}

/* Reads, decodes and verifies chunk id of the given type into dst. The id
 * is formatted only when something failed and w asks for a log line. */
static int fetch(struct sfs_reader *r, const struct sfs_id *id, uint8_t type, void *dst,
		 size_t cap, size_t *ret_len, const struct what *w)
{
	struct sfs_chunk_loc loc;
	struct tctx *t = tctx_get(r);
	bool have_loc = false;
	int ret;

	if (!t)
		return -ENOMEM;
	ret = sfs_read_stored(r->store, id, &loc, t->buf);
	have_loc = ret != -EUCLEAN && ret != -ENOMEM;
	if (ret == 0 && (loc.type != type || loc.raw_len > cap))
		ret = -EBADMSG;
	if (ret == 0)
		ret = sfs_codec_decode(t->codec, loc.comp, t->buf, loc.stored_len, dst, loc.raw_len,
				       id);
	if (ret < 0) {
		if (w)
			log_fetch(ret, id, have_loc ? &loc : NULL, w);
		return ret;
	}
	*ret_len = loc.raw_len;
	return 0;
}

int sfs_reader_read_at(struct sfs_reader *r, const struct sfs_id *id,
		       const struct sfs_chunk_loc *loc, void *buf, size_t cap)
{
	struct tctx *t = tctx_get(r);
	int fd;

	if (!t)
		return -ENOMEM;
	if (loc->raw_len > cap)
		return -EINVAL;
	fd = sfs_store_read_record(r->store, loc, id, t->buf);
	if (fd < 0)
		return fd == -ENOENT ? -EUCLEAN : fd;
	return sfs_codec_decode(t->codec, loc->comp, t->buf, loc->stored_len, buf, loc->raw_len, id);
}

int sfs_reader_fetch_chunk(struct sfs_reader *r, const struct sfs_id *id, void *buf, size_t cap,
			   size_t *ret_len, struct sfs_chunk_loc *ret_loc)
{
	struct sfs_chunk_loc loc;
	struct tctx *t = tctx_get(r);
	int ret;

	if (!t)
		return -ENOMEM;
	ret = sfs_read_stored(r->store, id, &loc, t->buf);
	if (ret == 0 && loc.raw_len > cap)
		ret = -EINVAL;
	if (ret == 0)
		ret = sfs_codec_decode(t->codec, loc.comp, t->buf, loc.stored_len, buf, loc.raw_len,
				       id);
	if (ret < 0)
		return ret;
	*ret_len = loc.raw_len;
	if (ret_loc)
		*ret_loc = loc;
	return 0;
}

/* A held, decoded map page at `level`. */
static int get_page(struct sfs_reader *r, const struct sfs_snapmap *m, const struct sfs_id *id,
		    uint32_t level, uint64_t block, struct sfs_cache_entry **ret_e,
		    struct sfs_map_page *ret_page)
{
	struct sfs_cache_entry *e = sfs_cache_get(r->pages, id);
	int ret;

	if (!e) {
		struct tctx *t = tctx_get(r);
		struct what w = { m->id, block, (int)level };
		uint8_t *page;
		size_t len;

		if (!t)
			return -ENOMEM;
		page = malloc(SFS_MAP_PAGE_MAX);
		if (!page)
			return -ENOMEM;
		ret = fetch(r, id, SFS_CHUNK_MAP, page, SFS_MAP_PAGE_MAX, &len, &w);
		if (ret == 0) {
			struct sfs_map_page p;
			ret = sfs_map_page_decode(page, len, &p);
			if (ret == 0 && p.level != level)
				ret = -EBADMSG;
			if (ret < 0)
				sfs_log(SFS_LOG_ERR,
					"snapshot %s block %" PRIu64 ": map page at level %u is "
					"malformed",
					m->id, block, level);
		}
		if (ret == 0) {
			e = sfs_cache_insert(r->pages, id, page, len);
			if (!e)
				ret = -ENOMEM;
		}
		free(page);
		if (ret < 0)
			return ret;
	}
	ret = sfs_map_page_decode(sfs_cache_data(e), sfs_cache_len(e), ret_page);
	if (ret < 0) {
		sfs_cache_put(r->pages, e);
		return ret;
	}
	*ret_e = e;
	return 0;
}

static uint64_t nblocks_of(const struct sfs_snapmap *m)
{
	return (m->size + m->block_size - 1) / m->block_size;
}

/* Walks the map of m from the root towards block, stopping with stop
 * levels left: 0 gives the block's chunk id, 1 the id of the leaf map
 * page that holds it. A zero id under a hole. *ret_id is set only on
 * success. */
static int walk_to(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
		   uint32_t stop, struct sfs_id *ret_id)
{
	struct sfs_id id = m->root;

	for (uint32_t lvl = m->depth; lvl-- > stop;) {
		struct sfs_cache_entry *e;
		struct sfs_map_page p;
		uint32_t slot;
		int ret;

		if (sfs_id_is_zero(&id))
			break;
		ret = get_page(r, m, &id, lvl, block, &e, &p);
		if (ret < 0)
			return ret;
		slot = sfs_map_slot(block, lvl);
		if (slot < p.count)
			id = p.ids[slot];
		else
			memset(&id, 0, sizeof(id));
		sfs_cache_put(r->pages, e);
	}
	*ret_id = id;
	return 0;
}

int sfs_reader_block_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
			struct sfs_id *ret_id)
{
	if (block >= nblocks_of(m))
		return -EINVAL;
	return walk_to(r, m, block, 0, ret_id);
}

int sfs_reader_leaf_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
		       struct sfs_id *ret_id, uint32_t *ret_data_blocks)
{
	struct sfs_cache_entry *e;
	struct sfs_map_page p;
	int ret;

	memset(ret_id, 0, sizeof(*ret_id));
	if (ret_data_blocks)
		*ret_data_blocks = 0;
	if (block >= nblocks_of(m))
		return 0;
	ret = walk_to(r, m, block, 1, ret_id);
	if (ret < 0 || !ret_data_blocks || sfs_id_is_zero(ret_id))
		return ret;
	/* The leaf is one cached page away: count its non-zero ids there
	 * rather than walk from the root once per block. */
	ret = get_page(r, m, ret_id, 0, block, &e, &p);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < p.count; i++)
		*ret_data_blocks += !sfs_id_is_zero(&p.ids[i]);
	sfs_cache_put(r->pages, e);
	return 0;
}

/* A held cache entry with the verified contents of a non-zero block. */
static int get_block(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
		     const struct sfs_id *id, struct sfs_cache_entry **ret_e)
{
	struct sfs_cache_entry *e = sfs_cache_get(r->blocks, id);
	struct sfs_cache_entry *fresh;
	struct what w = { m->id, block, -1 };
	size_t len;
	int ret;

	if (e) {
		*ret_e = e;
		return 0;
	}
	/* Decode straight into the cache entry: no copy on the miss path. */
	fresh = sfs_cache_entry_new(m->block_size);
	if (!fresh)
		return -ENOMEM;
	ret = fetch(r, id, SFS_CHUNK_DATA, sfs_cache_entry_data(fresh), m->block_size, &len, &w);
	if (ret == 0 && len != m->block_size) {
		sfs_log(SFS_LOG_ERR, "snapshot %s block %" PRIu64 ": chunk has %zu bytes, not %u",
			m->id, block, len, m->block_size);
		ret = -EBADMSG;
	}
	if (ret < 0) {
		sfs_cache_entry_free(fresh);
		return ret;
	}
	*ret_e = sfs_cache_add(r->blocks, id, fresh);
	return 0;
}

int sfs_reader_read_block(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
			  void *buf)
{
	struct sfs_cache_entry *e;
	struct sfs_id id;
	int ret = sfs_reader_block_id(r, m, block, &id);

	if (ret < 0)
		return ret;
	if (sfs_id_is_zero(&id)) {
		memset(buf, 0, m->block_size);
		return 0;
	}
	ret = get_block(r, m, block, &id, &e);
	if (ret < 0)
		return ret;
	memcpy(buf, sfs_cache_data(e), m->block_size);
	sfs_cache_put(r->blocks, e);
	return 0;
}

int sfs_reader_prefetch(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block)
{
	struct sfs_cache_entry *e;
	struct sfs_id id;
	int ret = sfs_reader_block_id(r, m, block, &id);

	if (ret < 0 || sfs_id_is_zero(&id))
		return ret;
	ret = get_block(r, m, block, &id, &e);
	if (ret == 0)
		sfs_cache_put(r->blocks, e);
	return ret;
}

ssize_t sfs_reader_pread(struct sfs_reader *r, const struct sfs_snapmap *m, void *buf,
			 size_t len, uint64_t off)
{
	uint8_t *out = buf;
	size_t done = 0;
	uint32_t bs = m->block_size;

	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t block = pos / bs;
		size_t in = (size_t)(pos % bs);
		size_t n = bs - in < len - done ? bs - in : len - done;
		struct sfs_id id;
		int ret = sfs_reader_block_id(r, m, block, &id);

		if (ret < 0)
			return ret;
		if (sfs_id_is_zero(&id)) {
			memset(out + done, 0, n);
		} else {
			struct sfs_cache_entry *e;
			ret = get_block(r, m, block, &id, &e);
			if (ret < 0)
				return ret;
			memcpy(out + done, (const uint8_t *)sfs_cache_data(e) + in, n);
			sfs_cache_put(r->blocks, e);
		}
		done += n;
	}
	return (ssize_t)done;
}

static uint64_t span_of(int level)
{
	/* blocks covered by one node at `level` (-1 = a block) */
	return level < 0 ? 1 : UINT64_C(1) << (SFS_MAP_SHIFT * (unsigned)(level + 1));
}

/* First block >= from, in the subtree `id` at `level` starting at `base`,
 * whose zero-ness is !want_data; NOT_FOUND if none. */
static int find(struct sfs_reader *r, const struct sfs_snapmap *m, const struct sfs_id *id,
		int level, uint64_t base, uint64_t from, bool want_data, uint64_t *ret)
{
	struct sfs_cache_entry *e;
	struct sfs_map_page p;
	uint64_t child_span;
	int err;

	*ret = NOT_FOUND;
	if (sfs_id_is_zero(id)) {
		if (!want_data)
			*ret = from > base ? from : base;
		return 0;
	}
	if (level < 0) {
		if (want_data)
			*ret = base;
		return 0;
	}
	err = get_page(r, m, id, (uint32_t)level, base, &e, &p);
	if (err < 0)
		return err;
	child_span = span_of(level - 1);
	for (uint64_t slot = from > base ? (from - base) / child_span : 0; slot < SFS_MAP_FANOUT;
	     slot++) {
		static const struct sfs_id zero;
		uint64_t cb = base + slot * child_span;
		const struct sfs_id *cid = slot < p.count ? &p.ids[slot] : &zero;

		err = find(r, m, cid, level - 1, cb, from > cb ? from : cb, want_data, ret);
		if (err < 0 || *ret != NOT_FOUND)
			break;
	}
	sfs_cache_put(r->pages, e);
	return err;
}

int sfs_reader_seek(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t off, int whence,
		    uint64_t *ret_off)
{
	uint64_t nb = nblocks_of(m), found;
	bool want_data = whence == SEEK_DATA;
	int err;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off >= m->size)
		return -ENXIO;
	if (m->depth == 0) {
		found = want_data ? NOT_FOUND : off / m->block_size;
	} else {
		err = find(r, m, &m->root, (int)m->depth - 1, 0, off / m->block_size, want_data,
			   &found);
		if (err < 0)
			return err;
	}
	if (found == NOT_FOUND || found >= nb) {
		if (want_data)
			return -ENXIO;
		*ret_off = m->size; /* the end of a file is a hole */
		return 0;
	}
	found *= m->block_size;
	*ret_off = found > off ? found : off;
	if (*ret_off > m->size)
		*ret_off = m->size;
	return 0;
}

static int walk(struct sfs_reader *r, const struct sfs_snapmap *m, const struct sfs_id *id,
		int level, uint64_t base, bool leaves, sfs_map_walk_fn fn, void *ctx)
{
	struct sfs_cache_entry *e;
	struct sfs_map_page p;
	int ret;

	if (sfs_id_is_zero(id))
		return 0;
	ret = fn(ctx, level, base, id);
	if (ret == 1)
		return 0; /* seen: skip its children */
	if (ret != 0 || level < 0)
		return ret;
	ret = get_page(r, m, id, (uint32_t)level, base, &e, &p);
	if (ret < 0)
		return ret;
	for (uint32_t slot = 0; slot < p.count; slot++) {
		if (level == 0 && !leaves)
			break;
		ret = walk(r, m, &p.ids[slot], level - 1, base + slot * span_of(level - 1), leaves,
			   fn, ctx);
		if (ret != 0)
			break;
	}
	sfs_cache_put(r->pages, e);
	return ret;
}

int sfs_reader_walk(struct sfs_reader *r, const struct sfs_snapmap *m, bool leaves,
		    sfs_map_walk_fn fn, void *ctx)
{
	if (m->depth == 0)
		return 0;
	return walk(r, m, &m->root, (int)m->depth - 1, 0, leaves, fn, ctx);
}

struct diff_state {
	struct sfs_reader *r;
	const struct sfs_snapmap *a, *b;
	sfs_diff_fn fn;
	void *ctx;
	uint64_t run_first, run_len;
};

static int diff_emit(struct diff_state *d, uint64_t first, uint64_t n)
{
	int ret = 0;

	if (d->run_len && d->run_first + d->run_len == first) {
		d->run_len += n;
		return 0;
	}
	if (d->run_len)
		ret = d->fn(d->ctx, d->run_first, d->run_len);
	d->run_first = first;
	d->run_len = n;
	return ret;
}

/* The child at slot of node id in map m at level; levels at or above the
 * map's depth are virtual, with the root in slot 0. */
static int child_of(struct diff_state *d, const struct sfs_snapmap *m, const struct sfs_id *id,
		    int level, uint64_t base, struct sfs_cache_entry **e, struct sfs_map_page *p)
{
	*e = NULL;
	memset(p, 0, sizeof(*p));
	if (sfs_id_is_zero(id) || level >= (int)m->depth)
		return 0;
	return get_page(d->r, m, id, (uint32_t)level, base, e, p);
}

static int diff_rec(struct diff_state *d, const struct sfs_id *ia, const struct sfs_id *ib,
		    int level, uint64_t base)
{
	static const struct sfs_id zero;
	struct sfs_cache_entry *ea, *eb;
	struct sfs_map_page pa, pb;
	uint64_t cspan = span_of(level - 1);
	int ret;

	if (!memcmp(ia->b, ib->b, SFS_ID_LEN) && (level < (int)d->a->depth) == (level < (int)d->b->depth))
		return 0;
	if (level < 0)
		return diff_emit(d, base, 1);
	ret = child_of(d, d->a, ia, level, base, &ea, &pa);
	if (ret < 0)
		return ret;
	ret = child_of(d, d->b, ib, level, base, &eb, &pb);
	if (ret < 0) {
		sfs_cache_put(d->r->pages, ea);
		return ret;
	}
	for (uint32_t slot = 0; slot < SFS_MAP_FANOUT && ret == 0; slot++) {
		const struct sfs_id *ca, *cb;

		if (level >= (int)d->a->depth)
			ca = slot == 0 ? ia : &zero;
		else
			ca = slot < pa.count ? &pa.ids[slot] : &zero;
		if (level >= (int)d->b->depth)
			cb = slot == 0 ? ib : &zero;
		else
			cb = slot < pb.count ? &pb.ids[slot] : &zero;
		if (sfs_id_is_zero(ca) && sfs_id_is_zero(cb))
			continue;
		ret = diff_rec(d, ca, cb, level - 1, base + slot * cspan);
	}
	sfs_cache_put(d->r->pages, ea);
	sfs_cache_put(d->r->pages, eb);
	return ret;
}

int sfs_reader_diff(struct sfs_reader *r, const struct sfs_snapmap *a, const struct sfs_snapmap *b,
		    sfs_diff_fn fn, void *ctx)
{
	struct diff_state d = { r, a, b, fn, ctx, 0, 0 };
	uint32_t depth = a->depth > b->depth ? a->depth : b->depth;
	int ret;

	if (a->block_size != b->block_size)
		return -EINVAL;
	if (depth == 0)
		return 0;
	ret = diff_rec(&d, &a->root, &b->root, (int)depth - 1, 0);
	if (ret == 0 && d.run_len)
		ret = fn(ctx, d.run_first, d.run_len);
	return ret;
}

void sfs_reader_stats(struct sfs_reader *r, size_t *ret_cached, uint64_t *ret_hits,
		      uint64_t *ret_misses)
{
	sfs_cache_stats(r->blocks, ret_cached, ret_hits, ret_misses);
}
