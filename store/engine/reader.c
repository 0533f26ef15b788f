// SPDX-License-Identifier: MIT
/*
 * The reader library: block lookups through the map tree, verified chunk
 * fetches through the chunk store, caches with single-flight fills,
 * parallel multi-block reads and readahead (readahead.c),
 * SEEK_DATA/SEEK_HOLE from the map, map walks and diffs. A read resolves
 * the ids of all its blocks with one walk per leaf page, then copies the
 * blocks that are cached, decodes the ones nobody has started and waits
 * for the ones a worker or another reader is decoding.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapfs/blockmap.h"
#include "snapfs/cache.h"
#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "snapfs/pack.h"
#include "snapfs/reader.h"
#include "readahead_int.h"
#include "store_int.h"

#define NOT_FOUND UINT64_MAX
#define WINDOW_START 4 /* blocks ahead after the first sequential read */

struct sfs_reader {
	struct sfs_store *store;
	struct sfs_cache *blocks;
	struct sfs_cache *pages;
	struct sfs_ra_pool *pool; /* NULL until sfs_reader_start_readahead */
	size_t window_bytes;      /* most bytes read ahead of a stream */
	size_t cache_bytes;       /* the block cache's bound */
};

/* Per open file: what its reads looked like so far. */
struct sfs_reader_stream {
	struct sfs_reader *reader;
	pthread_mutex_t lock; /* guards everything below */
	uint64_t next_off;    /* where a sequential reader reads next */
	uint64_t next_block;  /* first block not yet handed to the pool */
	uint32_t window;      /* blocks to keep ahead of a sequential reader */
	bool catalog_ahead;   /* this stream had the catalog read ahead */
	uint32_t scattered;   /* reads that continued no sequential run */
	uint64_t done;        /* the furthest block end read (atomic; readahead skips below) */
	uint64_t run;         /* bytes read in the current sequential run */
};

static const uint8_t *zero_region;

static void zero_map(void)
{
	void *p = mmap(NULL, SFS_BLOCK_MAX, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* NULL when even that fails: vector reads of zero blocks are then
	 * -ENOMEM. Never unmapped: it outlives every reader. */
	zero_region = p == MAP_FAILED ? NULL : p;
}

static int vec_reserve(struct sfs_reader_vec *v, size_t n);

void sfs_snapmap_from_snapshot(const struct sfs_snapshot *sn, struct sfs_snapmap *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->id, sn->id, sizeof(ret->id));
	ret->size = sn->size;
	ret->block_size = sn->block_size;
	ret->depth = sn->depth;
	ret->root = sn->root;
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
	r->cache_bytes = cache_bytes;
	r->blocks = sfs_cache_new(cache_bytes);
	r->pages = sfs_cache_new(page_bytes);
	if (!r->blocks || !r->pages) {
		sfs_cache_free(r->blocks);
		sfs_cache_free(r->pages);
		free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

void sfs_reader_prefault(struct sfs_reader *r)
{
	sfs_cache_prefault(r->blocks);
}

int sfs_reader_start_readahead(struct sfs_reader *r, unsigned nthreads, size_t window_bytes)
{
	if (r->pool)
		return -EBUSY;
	r->window_bytes = window_bytes;
	return sfs_ra_pool_new(r, nthreads, &r->pool);
}

void sfs_reader_free(struct sfs_reader *r)
{
	if (!r)
		return;
	sfs_ra_pool_free(r->pool); /* joins the workers before the caches go */
	sfs_cache_free(r->blocks);
	sfs_cache_free(r->pages);
	free(r);
}

int sfs_reader_stream_new(struct sfs_reader *r, struct sfs_reader_stream **ret)
{
	struct sfs_reader_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->reader = r;
	pthread_mutex_init(&st->lock, NULL);
	*ret = st;
	return 0;
}

void sfs_reader_stream_free(struct sfs_reader_stream *st)
{
	if (!st)
		return;
	sfs_ra_pool_forget(st->reader->pool, &st->done);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void sfs_reader_stream_skip(struct sfs_reader_stream *st, uint64_t off)
{
	pthread_mutex_lock(&st->lock);
	if (off > st->next_off)
		st->next_off = off;
	pthread_mutex_unlock(&st->lock);
}

/* What a failed fetch was for, so that the log names it. */
struct what {
	const char *snap;
	uint64_t block;
	int level; /* -1 for a data block */
};

int sfs_read_stored(struct sfs_store *s, const struct sfs_id *id, const struct sfs_chunk_loc *at,
		    struct sfs_chunk_loc *ret_loc, void *buf)
{
	for (int attempt = 0;; attempt++) {
		struct sfs_txn *txn;
		int ret;

		if (at) {
			*ret_loc = *at;
		} else {
			ret = sfs_txn_begin(s, false, &txn);
			if (ret < 0)
				return ret;
			ret = sfs_cat_chunk_get(txn, id, ret_loc);
			sfs_txn_abort(txn);
			if (ret == -ENOENT)
				return -EUCLEAN;
			if (ret < 0)
				return ret;
		}
		if (ret_loc->stored_len > SFS_STORED_MAX)
			return -EBADMSG;
		ret = sfs_store_read_record(s, ret_loc, id, buf);
		/* gc moved the chunk and removed the pack between the lookup
		 * and the read: the index now names the new place. */
		if (ret == -ENOENT && attempt == 0 && !at)
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

/* Reads, decodes and verifies chunk id of the given type into dst through
 * the chunk store, and logs what failed. */
static int fetch(struct sfs_reader *r, const struct sfs_id *id, uint8_t type, void *dst,
		 size_t cap, size_t *ret_len, const struct what *w)
{
	struct sfs_chunk_loc loc;
	int ret = sfs_store_chunk_fetch(r->store, id, type, dst, cap, &loc);

	if (ret < 0) {
		log_fetch(ret, id, ret == -EBADMSG ? &loc : NULL, w);
		return ret;
	}
	*ret_len = loc.raw_len;
	return 0;
}

/* A held, decoded map page at `level`. Concurrent misses of one page wait
 * for a single decode. */
static int get_page(struct sfs_reader *r, const struct sfs_snapmap *m, const struct sfs_id *id,
		    uint32_t level, uint64_t block, struct sfs_cache_entry **ret_e,
		    struct sfs_map_page *ret_page)
{
	struct sfs_cache_entry *e;
	int ret = sfs_cache_get_or_claim(r->pages, id, SFS_MAP_PAGE_MAX, SFS_CACHE_WAIT, &e);

	if (ret < 0)
		return ret;
	if (ret == SFS_CACHE_CLAIMED) {
		struct what w = { m->id, block, (int)level };
		struct sfs_map_page p;
		size_t len = 0;

		ret = fetch(r, id, SFS_CHUNK_MAP, sfs_cache_entry_data(e), SFS_MAP_PAGE_MAX, &len,
			    &w);
		if (ret == 0) {
			ret = sfs_map_page_decode(sfs_cache_entry_data(e), len, &p);
			if (ret == 0 && p.level != level)
				ret = -EBADMSG;
			if (ret < 0)
				sfs_log(SFS_LOG_ERR,
					"snapshot %s block %" PRIu64 ": map page at level %u is "
					"malformed",
					m->id, block, level);
		}
		sfs_cache_fill_done(r->pages, e, len, ret);
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

/* Blocks [first, first+n), all below nblocks_of(m), with one walk per
 * leaf page rather than one per block: their ids into ids (unless NULL)
 * and how many of them are not zero added to *data (unless NULL). */
static int range_scan(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t first,
		      uint64_t n, struct sfs_id *ids, uint64_t *data)
{
	uint64_t b = first, end = first + n;

	if (m->depth == 0) {
		if (ids)
			memset(ids, 0, n * sizeof(*ids));
		return 0;
	}
	while (b < end) {
		uint64_t leaf_end = (b / SFS_MAP_FANOUT + 1) * SFS_MAP_FANOUT;
		struct sfs_cache_entry *e;
		struct sfs_map_page p;
		struct sfs_id leaf;
		int ret;

		if (leaf_end > end)
			leaf_end = end;
		ret = walk_to(r, m, b, 1, &leaf);
		if (ret < 0)
			return ret;
		if (sfs_id_is_zero(&leaf)) {
			if (ids)
				memset(ids + (b - first), 0, (leaf_end - b) * sizeof(*ids));
			b = leaf_end;
			continue;
		}
		ret = get_page(r, m, &leaf, 0, b, &e, &p);
		if (ret < 0)
			return ret;
		for (; b < leaf_end; b++) {
			uint32_t slot = sfs_map_slot(b, 0);
			bool in = slot < p.count;

			if (ids) {
				if (in)
					ids[b - first] = p.ids[slot];
				else
					memset(&ids[b - first], 0, sizeof(*ids));
			}
			if (data && in)
				*data += !sfs_id_is_zero(&p.ids[slot]);
		}
		sfs_cache_put(r->pages, e);
	}
	return 0;
}

int sfs_reader_range_ids(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t first,
			 uint64_t n, struct sfs_id *ret_ids)
{
	if (first > nblocks_of(m) || n > nblocks_of(m) - first)
		return -EINVAL;
	return range_scan(r, m, first, n, ret_ids, NULL);
}

int sfs_reader_range_data(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t first,
			  uint64_t n, uint64_t *ret_data_blocks)
{
	*ret_data_blocks = 0;
	if (first > nblocks_of(m) || n > nblocks_of(m) - first)
		return -EINVAL;
	return range_scan(r, m, first, n, NULL, ret_data_blocks);
}

int sfs_reader_leaf_id(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t block,
		       struct sfs_id *ret_id)
{
	memset(ret_id, 0, sizeof(*ret_id));
	if (block >= nblocks_of(m))
		return 0;
	return walk_to(r, m, block, 1, ret_id);
}

int sfs_reader_fill_block(struct sfs_reader *r, const char *snap, uint64_t block, uint32_t bs,
			  const struct sfs_id *id, unsigned flags, struct sfs_cache_entry **ret_e)
{
	struct sfs_cache_entry *e;
	int ret = sfs_cache_get_or_claim(r->blocks, id, bs, flags, &e);

	if (ret == SFS_CACHE_CLAIMED) {
		struct what w = { snap, block, -1 };
		size_t len = 0;

		/* Decode straight into the cache entry: no copy on a miss. */
		ret = fetch(r, id, SFS_CHUNK_DATA, sfs_cache_entry_data(e), bs, &len, &w);
		if (ret == 0 && len != bs) {
			sfs_log(SFS_LOG_ERR, "snapshot %s block %" PRIu64 ": chunk has %zu bytes, not %u",
				snap, block, len, bs);
			ret = -EBADMSG;
		}
		sfs_cache_fill_done(r->blocks, e, bs, ret);
		if (ret < 0)
			return ret;
	} else if (ret != SFS_CACHE_HIT) {
		return ret; /* -errno, or SFS_CACHE_BUSY */
	}
	*ret_e = e;
	return 0;
}

void sfs_reader_put_block(struct sfs_reader *r, struct sfs_cache_entry *e)
{
	sfs_cache_put(r->blocks, e);
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
	ret = sfs_reader_fill_block(r, m->id, block, m->block_size, &id, SFS_CACHE_WAIT, &e);
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
	ret = sfs_reader_fill_block(r, m->id, block, m->block_size, &id, SFS_CACHE_WAIT, &e);
	if (ret == 0)
		sfs_cache_put(r->blocks, e);
	return ret;
}

/* Scattered reads of one stream after which the catalog is read ahead. */
#define SCATTERED_CATALOG 64u

/* Updates a stream's pattern and returns the blocks to read ahead,
 * [*ret_from, *ret_to). The kernel issues readahead for one file from
 * several threads, so reads arrive slightly out of order: anything within
 * the window of where the last read ended counts as sequential. */
static void plan_ahead(struct sfs_reader_stream *st, const struct sfs_snapmap *m, uint64_t off,
		       size_t len, uint64_t *ret_from, uint64_t *ret_to, bool *ret_seq)
{
	uint64_t bs = m->block_size, nb = nblocks_of(m);
	uint64_t last = (off + len - 1) / bs, max_window = st->reader->window_bytes / bs;
	uint64_t slack;
	bool catalog = false;

	*ret_from = *ret_to = 0;
	if (!max_window)
		return;
	pthread_mutex_lock(&st->lock);
	slack = (uint64_t)(st->window + 1) * bs + len;
	if (off + slack >= st->next_off && off <= st->next_off + slack) {
		uint64_t w = st->window ? (uint64_t)st->window * 2 : WINDOW_START;
		st->window = (uint32_t)(w < max_window ? w : max_window);
		/* A reader this far into a sequential run is reading the
		 * snapshot through: its lookups will land all over the
		 * catalog, which is mapped without readahead. */
		if (st->window == max_window && !st->catalog_ahead)
			catalog = st->catalog_ahead = true;
		/* A run longer than half the cache would push everything
		 * out of it anyway: from there on its blocks are used once
		 * (sfs_cache_put_used). A shorter one, a small image read
		 * through, stays cached for the next reader of its blocks. */
		st->run += len;
		*ret_seq = st->window == max_window && st->run > st->reader->cache_bytes / 2;
	} else {
		st->window = 0;
		st->run = len;
		st->next_block = last + 1;
		/* A reader jumping around the snapshot (a VM's disk, a
		 * random-read benchmark) looks its blocks up all over the
		 * catalog too: after a few such reads the catalog is read
		 * ahead as for a sequential one, instead of a fault per page. */
		if (++st->scattered == SCATTERED_CATALOG && !st->catalog_ahead)
			catalog = st->catalog_ahead = true;
	}
	if (off + len > st->next_off)
		st->next_off = off + len;
	*ret_from = st->next_block > last + 1 ? st->next_block : last + 1;
	*ret_to = last + 1 + st->window;
	if (*ret_to > nb)
		*ret_to = nb;
	if (*ret_to > *ret_from)
		st->next_block = *ret_to;
	else
		*ret_from = *ret_to = 0;
	pthread_mutex_unlock(&st->lock);
	if (catalog)
		sfs_cat_prefetch(st->reader->store, m->size / SFS_CATALOG_PREFETCH_SHARE);
}

/* The stream's reads have reached block b. Its reads may run
 * concurrently, so the mark is the furthest end so far: an earlier read
 * still running decodes itself what readahead then skips below it. */
static void done_advance(struct sfs_reader_stream *st, uint64_t b)
{
	uint64_t cur = __atomic_load_n(&st->done, __ATOMIC_RELAXED);

	while (cur < b && !__atomic_compare_exchange_n(&st->done, &cur, b, true, __ATOMIC_RELEASE,
						       __ATOMIC_RELAXED))
		;
}

/* Zero bytes for the spans of zero blocks: an anonymous mapping that is
 * never written, so its pages are the kernel's zero page and cost no
 * memory however often they are read. */
static const uint8_t *zero_bytes(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, zero_map);
	return zero_region;
}

/* Where the bytes of block b of a read go: copied into out, or, for a
 * vector read, left in the pinned cache entry that the span points at. */
static void deliver(uint8_t *out, struct sfs_reader_vec *v, uint64_t b, uint64_t first,
		    uint64_t off, uint64_t pos, const void *src, size_t n,
		    struct sfs_cache_entry *e)
{
	if (v) {
		v->iov[b - first] = (struct iovec){ .iov_base = (void *)src, .iov_len = n };
		if (e)
			v->held[v->nheld++] = e;
	} else {
		memcpy(out + (pos - off), src, n);
	}
}

static ssize_t pread_blocks(struct sfs_reader *r, struct sfs_reader_stream *st,
			    const struct sfs_snapmap *m, void *buf, struct sfs_reader_vec *v,
			    size_t len, uint64_t off)
{
	uint8_t *out = buf;
	uint32_t bs = m->block_size;
	uint64_t first, last, from = 0, to = 0, nids;
	struct sfs_id local_ids[8], *ids = local_ids;
	bool local_pend[8], *pend = local_pend;
	bool seq = false;
	struct sfs_cache_entry *last_e = NULL;
	ssize_t ret = 0;

	if (off >= m->size || !len)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	first = off / bs;
	last = (off + len - 1) / bs;
	if (v) {
		ret = vec_reserve(v, (size_t)(last + 1 - first));
		if (ret < 0)
			return ret;
		v->niov = (size_t)(last + 1 - first);
	}
	if (st && r->pool)
		plan_ahead(st, m, off, len, &from, &to, &seq);
	nids = (to > last + 1 ? to : last + 1) - first;
	if (nids > 8) {
		ids = malloc(nids * sizeof(*ids));
		pend = malloc((last + 1 - first) * sizeof(*pend));
		if (!ids || !pend) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	/* Ids of the read's blocks and of the readahead window in one pass
	 * over the leaves; nothing below walks the map again. */
	ret = range_scan(r, m, first, nids, ids, NULL);
	if (ret < 0)
		goto out_free;
	if (r->pool) {
		if (last > first)
			sfs_ra_pool_push(r->pool, m->id, bs, first + 1, ids + 1, last - first, true,
					 st ? &st->done : NULL);
		if (to > from)
			sfs_ra_pool_push(r->pool, m->id, bs, from, ids + (from - first), to - from,
					 false, &st->done);
	}
	/* Copy what is cached and decode what nobody has started; a block
	 * that a worker or another reader is decoding is waited for after,
	 * so that this thread helps instead of idling. */
	for (uint64_t b = first; b <= last; b++) {
		uint64_t pos = b == first ? off : b * bs;
		size_t in = (size_t)(pos % bs);
		size_t n = bs - in < off + len - pos ? bs - in : (size_t)(off + len - pos);
		struct sfs_cache_entry *e;
		int r2;

		pend[b - first] = false;
		if (sfs_id_is_zero(&ids[b - first])) {
			if (v && !zero_bytes()) {
				ret = -ENOMEM;
				goto out_free;
			}
			if (v)
				deliver(out, v, b, first, off, pos, zero_bytes(), n, NULL);
			else
				memset(out + (pos - off), 0, n);
			continue;
		}
		r2 = sfs_reader_fill_block(r, m->id, b, bs, &ids[b - first], 0, &e);
		if (r2 == SFS_CACHE_BUSY) {
			pend[b - first] = true;
			continue;
		}
		if (r2 < 0) {
			ret = r2;
			goto out_free;
		}
		deliver(out, v, b, first, off, pos, (const uint8_t *)sfs_cache_data(e) + in, n, e);
		if (b == last)
			last_e = e;
		if (!v)
			sfs_cache_put(r->blocks, e);
	}
	for (uint64_t b = first; b <= last; b++) {
		uint64_t pos = b == first ? off : b * bs;
		size_t in = (size_t)(pos % bs);
		size_t n = bs - in < off + len - pos ? bs - in : (size_t)(off + len - pos);
		struct sfs_cache_entry *e;
		int r2;

		if (!pend[b - first])
			continue;
		r2 = sfs_reader_fill_block(r, m->id, b, bs, &ids[b - first], SFS_CACHE_WAIT,
					   &e);
		if (r2 < 0) {
			ret = r2;
			goto out_free;
		}
		deliver(out, v, b, first, off, pos, (const uint8_t *)sfs_cache_data(e) + in, n, e);
		if (b == last)
			last_e = e;
		if (!v)
			sfs_cache_put(r->blocks, e);
	}
	/* A long sequential run (plan_ahead) reads each block once: what
	 * it read to the end goes back to the cache's free memory when the
	 * reply is out, so that the run works in the few blocks in flight
	 * instead of sweeping through the whole cache. */
	if (v && seq) {
		v->used_up = true;
		v->keep = (off + len) % bs ? last_e : NULL;
	}
	if (st) {
		if (r->pool && last > first)
			sfs_ra_pool_cancel(r->pool, &st->done, first + 1, last);
		done_advance(st, (off + len) / bs);
	}
	ret = (ssize_t)len;
out_free:
	if (ids != local_ids) {
		free(ids);
		free(pend);
	}
	return ret;
}

ssize_t sfs_reader_pread(struct sfs_reader *r, const struct sfs_snapmap *m, void *buf,
			 size_t len, uint64_t off)
{
	return pread_blocks(r, NULL, m, buf, NULL, len, off);
}

ssize_t sfs_reader_stream_pread(struct sfs_reader_stream *st, const struct sfs_snapmap *m,
				void *buf, size_t len, uint64_t off)
{
	return pread_blocks(st->reader, st, m, buf, NULL, len, off);
}

void sfs_reader_vec_init(struct sfs_reader_vec *v, struct sfs_reader *r)
{
	memset(v, 0, sizeof(*v));
	v->reader = r;
	v->iov = v->local_iov;
	v->held = v->local_held;
	v->cap = SFS_READER_VEC_LOCAL;
}

/* Room for n spans (and as many held entries). */
static int vec_reserve(struct sfs_reader_vec *v, size_t n)
{
	struct iovec *iov;
	struct sfs_cache_entry **held;

	if (n <= v->cap)
		return 0;
	iov = malloc(n * sizeof(*iov));
	held = malloc(n * sizeof(*held));
	if (!iov || !held) {
		free(iov);
		free(held);
		return -ENOMEM;
	}
	if (v->iov != v->local_iov) {
		free(v->iov);
		free(v->held);
	}
	v->iov = iov;
	v->held = held;
	v->cap = n;
	return 0;
}

void sfs_reader_vec_release(struct sfs_reader_vec *v)
{
	for (size_t i = 0; i < v->nheld; i++) {
		if (v->used_up && v->held[i] != v->keep)
			sfs_cache_put_used(v->reader->blocks, v->held[i]);
		else
			sfs_cache_put(v->reader->blocks, v->held[i]);
	}
	if (v->iov != v->local_iov) {
		free(v->iov);
		free(v->held);
	}
	sfs_reader_vec_init(v, v->reader);
}

ssize_t sfs_reader_stream_preadv(struct sfs_reader_stream *st, const struct sfs_snapmap *m,
				 size_t len, uint64_t off, struct sfs_reader_vec *v)
{
	ssize_t n = pread_blocks(st->reader, st, m, NULL, v, len, off);

	if (n <= 0)
		v->niov = 0; /* nothing to send; what was pinned is still held */
	return n;
}

const void *sfs_reader_zeros(size_t *ret_len)
{
	*ret_len = SFS_BLOCK_MAX;
	return zero_bytes();
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

void sfs_reader_ahead_stats(struct sfs_reader *r, uint64_t *ret_fills, uint64_t *ret_hits)
{
	sfs_cache_ahead_stats(r->blocks, ret_fills, ret_hits);
}
