// SPDX-License-Identifier: MIT
/*
 * The ingest pipeline. A producer thread (ingest_source.c) plans the source into segments
 * (blocks to read, blocks known to be zero from SEEK_HOLE, blocks taken
 * from the parent snapshot outside the changed ranges) and reads the data
 * into a ring of batch slots; worker threads, one per core, zero-test,
 * hash, look each block up in the committed chunk index and compress only
 * what is new; the calling thread, the single writer, consumes batches in
 * order, appends new chunks to the pack and feeds the map builder. Memory
 * is the ring (a few MiB per slot), whatever the volume size.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapfs/blockmap.h"
#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "store_int.h"
#include "util_int.h"
#include "writer_int.h"

#include "ingest_int.h"

/* A catalog up to this size, or up to a sixteenth of the bytes the
 * ingest will read (SFS_CATALOG_PREFETCH_SHARE), is read in whole, in the
 * background, as the ingest starts: the workers' lookups of scattered ids
 * and the copy after commit touch most of its pages, and a cold fault
 * reads one page at a time (about 150 ms of a 2 GiB volume's
 * changed-ranges snapshot with a 5 MiB catalog; with a 105 MiB catalog, a
 * plain incremental of a 4 GB volume took 6.3-8.1 s faulting it in and
 * 5.3-5.8 s with it read ahead). Past both, a small change must not pay
 * for reading the whole index. */
#define CATALOG_PREFETCH_MAX (64ull << 20)

static void work_batch(struct pipe *p, struct slot *s)
{
	struct sfs_txn *txn = NULL;

	if (s->kind != SEG_READ)
		return;
	/* One short read transaction per batch: blocks the store already has
	 * are not compressed at all. */
	if (sfs_txn_begin(p->store, false, &txn) < 0)
		txn = NULL;
	for (uint64_t i = 0; i < s->n; i++) {
		const uint8_t *d = s->data + i * p->bs;
		struct blk *b = &s->blk[i];
		struct sfs_chunk_loc loc;
		struct sfs_rec_header h;
		int n;

		if (sfs_is_zero(d, p->bs)) {
			b->kind = BLK_ZERO;
			memset(&b->id, 0, sizeof(b->id));
			continue;
		}
		n = sfs_store_chunk_id(p->store, d, p->bs, &b->id);
		if (n < 0) {
			sfs_txn_abort(txn);
			sfs_pipe_fail(p, n, NULL);
			return;
		}
		if (txn && sfs_cat_chunk_get(txn, &b->id, &loc) == 0) {
			b->kind = BLK_KNOWN;
			continue;
		}
		n = sfs_store_chunk_encode(p->store, SFS_CHUNK_DATA, d, p->bs, &b->id,
					   s->out + i * p->bound, p->bound, &h);
		if (n < 0) {
			sfs_txn_abort(txn);
			sfs_pipe_fail(p, n, NULL);
			return;
		}
		b->comp = h.comp;
		b->stored_len = h.stored_len;
		b->kind = BLK_NEW;
	}
	sfs_txn_abort(txn);
}

static void *worker_main(void *arg)
{
	struct pipe *p = arg;

	for (;;) {
		struct slot *s;

		pthread_mutex_lock(&p->lock);
		while (!p->stop && p->claimed >= p->produced)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		s = &p->slots[p->claimed % p->nslots];
		p->claimed++;
		pthread_mutex_unlock(&p->lock);

		work_batch(p, s);

		pthread_mutex_lock(&p->lock);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (s->kind == SEG_END)
			break;
	}
	return NULL;
}

/* How far ahead of the writer the warm thread reads the parent's leaves:
 * at most this many leaves' worth of blocks (2 GiB of volume at 32 KiB
 * blocks), so that the leaves it reads (32 KiB each, decoded) fill at
 * most half of the reader's 4 MiB page cache and are still there when
 * the writer gets to them. */
#define WARM_AHEAD_LEAVES 64

/* Waits until block is within reach of the writer; false when stopping. */
static bool warm_wait(struct pipe *p, uint64_t block)
{
	bool go;

	pthread_mutex_lock(&p->lock);
	while (!p->stop && block >= p->written + (uint64_t)WARM_AHEAD_LEAVES * SFS_MAP_FANOUT)
		pthread_cond_wait(&p->cond, &p->lock);
	go = !p->stop;
	pthread_mutex_unlock(&p->lock);
	return go;
}

/*
 * With changed ranges the writer takes the blocks around each range from
 * the parent's map, a leaf page at a time: on a cold cache it waited for
 * each leaf, queued behind the producer's reads (~0.1 s of a 2 GiB
 * volume's 1,651-range change). This thread reads those leaves into the
 * reader's cache ahead of the writer: the leaf before each range and the
 * one after it hold every block the writer looks up one by one (whole
 * leaves between ranges it adds by id, from the level above). It waits on
 * the disk, not the CPU. A failure is the writer's to see when it reads
 * the leaf again, so it is ignored here.
 */
static void *warm_main(void *arg)
{
	struct pipe *p = arg;
	uint64_t last = UINT64_MAX;

	for (size_t i = 0; i < p->n_ranges; i++) {
		uint64_t a = p->ranges[2 * i] / p->bs;
		uint64_t b = (p->ranges[2 * i] + p->ranges[2 * i + 1] + p->bs - 1) / p->bs;
		uint64_t at[2] = { a - 1, b };

		for (int k = a == 0; k < 2; k++) {
			struct sfs_id id;

			if (at[k] >= p->parent_blocks || at[k] / SFS_MAP_FANOUT == last)
				continue;
			last = at[k] / SFS_MAP_FANOUT;
			if (!warm_wait(p, at[k]))
				return NULL;
			(void)sfs_reader_block_id(p->reader, p->parent, at[k], &id);
		}
	}
	return NULL;
}

struct consume {
	struct sfs_writer *w;
	struct pipe *p;
	struct sfs_map_builder *mb;
	struct sfs_reader *reader; /* for the parent's map */
	struct sfs_snapmap parent;
	bool have_parent;
	struct sfs_ingest_result *res;
	const struct sfs_ingest_opts *o;
	uint64_t total, done;
	uint64_t data_blocks;
	uint64_t next; /* the next block of the map */
	uint64_t map_blocks; /* blocks of the map: the source's, or more when padded */
	struct sfs_id *ids; /* SFS_MAP_FANOUT of the parent's, for part of a leaf */
	uint64_t pnb;	    /* the parent's blocks */
	/* Whole leaves taken from the parent are added by id and not read
	 * (a leaf is 32 KiB of ids for 32 MiB of volume: reading each one
	 * made an unchanged 1 TiB volume's snapshot read 1 GiB of map).
	 * Their data blocks are then the parent's count less what the
	 * parent had in every other block, which the writer sees anyway: in
	 * the leaves it takes in part and under the ranges it reads. */
	bool derive;
	uint64_t parent_data; /* the parent's data blocks, from its record */
	uint64_t parent_seen; /* of the parent's, those outside whole leaves taken */
};

/* Adds to c->parent_seen the parent's data blocks among [first, end). */
static int parent_seen_in(struct consume *c, uint64_t first, uint64_t end)
{
	uint64_t n = 0;
	int r;

	if (!c->derive || first >= c->pnb)
		return 0;
	if (end > c->pnb)
		end = c->pnb;
	r = sfs_reader_range_data(c->reader, &c->parent, first, end - first, &n);
	c->parent_seen += n;
	return r;
}

/* The data blocks of the whole leaves taken from the parent, once every
 * block has been consumed. The parent's count disagreeing with its map
 * (more data seen outside those leaves than it has in all) is a record
 * written by another tool or a bug: the parent's map is counted then. */
static int derived_data(struct consume *c, uint64_t *ret)
{
	uint64_t all = c->parent_data;

	if (c->parent_seen > all) {
		int r;

		sfs_log(SFS_LOG_WARN,
			"snapshot %s: recorded data bytes disagree with its map; counting the map",
			c->parent.id);
		r = sfs_reader_range_data(c->reader, &c->parent, 0, c->pnb, &all);
		if (r < 0)
			return r;
		if (c->parent_seen > all)
			return -EIO;
	}
	*ret = all - c->parent_seen;
	return 0;
}

static int map_store(void *ctx, const void *page, size_t len, struct sfs_id *ret_id)
{
	struct consume *c = ctx;
	bool is_new;
	int r = sfs_store_chunk_id(c->p->store, page, len, ret_id);

	if (r < 0)
		return r;
	return sfs_writer_put_chunk(c->w, SFS_CHUNK_MAP, page, len, ret_id, &is_new);
}

/* Blocks [first, first+n) equal to the parent's (or zero when inherit is
 * false): whole leaves are added by id, the rest block by block. */
static int consume_copy(struct consume *c, uint64_t first, uint64_t n, bool inherit)
{
	static const struct sfs_id zero;
	uint64_t end = first + n;
	uint64_t pnb = c->pnb;
	int r;

	/* zeros over what the parent had there */
	if (!inherit) {
		r = parent_seen_in(c, first, end);
		if (r < 0)
			return r;
	}
	while (first < end) {
		uint64_t leaf_end = (first / SFS_MAP_FANOUT + 1) * SFS_MAP_FANOUT;
		uint64_t whole_end = leaf_end < c->map_blocks ? leaf_end : c->map_blocks;

		if (first % SFS_MAP_FANOUT == 0 && end >= whole_end) {
			struct sfs_id leaf = zero;
			uint64_t data = 0;

			if (inherit && first < pnb) {
				uint64_t in_parent = (whole_end < pnb ? whole_end : pnb) - first;

				r = sfs_reader_leaf_id(c->reader, &c->parent, first, &leaf);
				/* counted here only when not derived at the end */
				if (r == 0 && !c->derive && !sfs_id_is_zero(&leaf))
					r = sfs_reader_range_data(c->reader, &c->parent, first,
								  in_parent, &data);
				if (r < 0)
					return r;
			}
			r = sfs_map_builder_add_leaf(c->mb, &leaf);
			if (r < 0)
				return r;
			c->data_blocks += data;
			c->res->blocks += whole_end - first;
			first = whole_end;
			continue;
		}
		{
			/* Part of a leaf: the parent's ids for it in one walk
			 * (a sparse change leaves most leaves partly changed,
			 * and a walk per block cost the writer more than its
			 * share of the run). */
			uint64_t stop = leaf_end < end ? leaf_end : end, got = 0;

			if (inherit && first < pnb) {
				got = (stop < pnb ? stop : pnb) - first;
				r = sfs_reader_range_ids(c->reader, &c->parent, first, got, c->ids);
				if (r < 0)
					return r;
			}
			for (uint64_t i = 0; i < stop - first; i++) {
				const struct sfs_id *id = i < got ? &c->ids[i] : &zero;
				bool z = sfs_id_is_zero(id);

				c->data_blocks += !z;
				c->parent_seen += c->derive && !z;
				r = sfs_map_builder_add(c->mb, id);
				if (r < 0)
					return r;
			}
			c->res->blocks += stop - first;
			first = stop;
		}
	}
	c->next = end;
	return 0;
}

/* The blocks before `to` that the producer skipped: with changed ranges,
 * those between the runs it read are the parent's. Anywhere else the
 * producer covers every block in order, and a gap is a bug. */
static int consume_gap(struct consume *c, uint64_t to)
{
	if (to == c->next)
		return 0;
	if (to < c->next || !c->p->changed_only)
		return -EIO;
	return consume_copy(c, c->next, to - c->next, true);
}

/* Block i of the slot's data, the next block of the map. */
static int consume_block(struct consume *c, struct slot *s, uint64_t i)
{
	struct blk *b = &s->blk[i];
	int r;

	c->res->blocks++;
	if (b->kind != BLK_ZERO) {
		c->data_blocks++;
		if (b->kind == BLK_NEW) {
			struct sfs_rec_header h = {
				.type = SFS_CHUNK_DATA,
				.comp = b->comp,
				.raw_len = c->p->bs,
				.stored_len = b->stored_len,
				.id = b->id,
			};
			bool is_new = false;

			r = sfs_writer_put_stored(c->w, &h, s->out + i * c->p->bound, &is_new);
			if (r < 0)
				return r;
			c->res->dedup_blocks += !is_new;
		} else {
			/* A worker found it in the committed index, and only
			 * this writer removes entries (gc holds the same lock):
			 * it is still there, so no second lookup here. */
			c->res->dedup_blocks++;
		}
	}
	return sfs_map_builder_add(c->mb, &b->id);
}

/* A read batch: its runs in order, the parent's blocks between them. */
static int consume_read(struct consume *c, struct slot *s)
{
	uint64_t i = 0;
	int r;

	for (uint32_t e = 0; e < s->next; e++) {
		r = consume_gap(c, s->ext[e].first);
		if (r == 0)
			r = parent_seen_in(c, s->ext[e].first, s->ext[e].first + s->ext[e].n);
		if (r < 0)
			return r;
		for (uint64_t end = i + s->ext[e].n; i < end; i++) {
			r = consume_block(c, s, i);
			if (r < 0)
				return r;
		}
		c->next = s->ext[e].first + s->ext[e].n;
	}
	return i == s->n ? 0 : -EIO;
}

/* The writer's side: batches in order until SEG_END. */
static int consume_all(struct consume *c)
{
	struct pipe *p = c->p;
	uint64_t seq = 0;
	int r = 0;

	for (;;) {
		struct slot *s = &p->slots[seq % p->nslots];
		int kind;

		pthread_mutex_lock(&p->lock);
		while (!p->stop && !(s->state == SLOT_DONE && seq < p->produced))
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop) {
			r = p->err ? p->err : -ECANCELED;
			pthread_mutex_unlock(&p->lock);
			return r;
		}
		pthread_mutex_unlock(&p->lock);

		kind = s->kind;
		if (kind == SEG_READ) {
			r = consume_read(c, s);
		} else if (kind == SEG_ZERO || kind == SEG_INHERIT) {
			r = consume_gap(c, s->first);
			if (r == 0)
				r = consume_copy(c, s->first, s->n, kind == SEG_INHERIT);
		}
		if (r < 0)
			return r;
		if (kind == SEG_READ || !p->changed_only)
			c->done += s->n * p->bs;
		if (c->o->progress && kind != SEG_END)
			c->o->progress(c->o->progress_ctx, c->done > c->total && c->total ? c->total : c->done,
				       c->total);

		pthread_mutex_lock(&p->lock);
		s->state = SLOT_FREE;
		p->written = c->next;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		seq++;
		if (kind == SEG_END)
			return 0;
	}
}

static int pipe_init(struct pipe *p, struct sfs_store *s, unsigned threads)
{
	p->store = s;
	p->bs = s->block_size;
	p->bound = sfs_store_chunk_bound(p->bs);
	p->batch_blocks = BATCH_BYTES / p->bs ? BATCH_BYTES / p->bs : 1;
	p->nslots = 2 * threads + 2;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];
		/* aligned for reads that bypass the page cache */
		sl->data = sfs_buf_map((size_t)p->batch_blocks * p->bs);
		sl->out = sfs_buf_map((size_t)p->batch_blocks * p->bound);
		sl->blk = calloc(p->batch_blocks, sizeof(*sl->blk));
		sl->ext = calloc(p->batch_blocks, sizeof(*sl->ext));
		if (!sl->data || !sl->out || !sl->blk || !sl->ext)
			return -ENOMEM;
	}
	return 0;
}

static void pipe_release(struct pipe *p)
{
	for (unsigned i = 0; p->slots && i < p->nslots; i++) {
		sfs_buf_unmap(p->slots[i].data, (size_t)p->batch_blocks * p->bs);
		sfs_buf_unmap(p->slots[i].out, (size_t)p->batch_blocks * p->bound);
		free(p->slots[i].blk);
		free(p->slots[i].ext);
	}
	free(p->slots);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	if (p->fd >= 0)
		close(p->fd);
}

int sfs_writer_snapshot(struct sfs_writer *w, const struct sfs_ingest_opts *o,
			struct sfs_ingest_result *res)
{
	struct sfs_store *s = sfs_writer_store(w);
	struct pipe p = { .fd = -1 };
	struct consume c = { .w = w, .p = &p, .res = res, .o = o };
	struct sfs_snapshot sn = { 0 }, parent = { 0 };
	struct timespec now;
	uint64_t *ranges = NULL;
	pthread_t producer, warm, *workers = NULL;
	unsigned nworkers = o->threads, started = 0;
	uint64_t size; /* the snapshot's: the source's, or its parent's when padded */
	bool producer_started = false, warm_started = false;
	int r;

	memset(res, 0, sizeof(*res));
	if (!o->volume || !sfs_name_valid(o->volume)) {
		snprintf(res->error, sizeof(res->error),
			 "invalid volume name '%s': use 1-128 of A-Z a-z 0-9 . _ -, not starting "
			 "with . or -",
			 o->volume ? o->volume : "");
		return -EINVAL;
	}
	if (!nworkers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nworkers = n > 0 ? (unsigned)n : 1;
	}
	r = sfs_pipe_open_source(o, &p, res);
	if (r < 0)
		goto out;

	r = sfs_cat_snapshot_latest(sfs_writer_txn(w), o->volume, &parent);
	if (r == 0) {
		c.have_parent = true;
		sfs_snapmap_from_snapshot(&parent, &c.parent);
		memcpy(res->parent, parent.id, sizeof(res->parent));
	} else if (r != -ENOENT) {
		goto out;
	}
	/* A volume grows, never shrinks: a shorter source is refused, or
	 * padded when the caller asks for it. */
	size = p.size;
	if (c.have_parent && !p.stream && p.size < parent.size) {
		if (!o->pad_to_parent || o->changed_ranges) {
			snprintf(res->error, sizeof(res->error),
				 "source %s has %" PRIu64 " bytes, fewer than volume %s's %" PRIu64
				 " (volumes can grow, never shrink)",
				 o->source, p.size, o->volume, parent.size);
			r = -ERANGE;
			goto out;
		}
		size = parent.size;
	}
	if (o->changed_ranges) {
		if (p.stream) {
			snprintf(res->error, sizeof(res->error),
				 "--changed-ranges needs a file or block device source, not a pipe");
			r = -EINVAL;
			goto out;
		}
		if (!c.have_parent) {
			snprintf(res->error, sizeof(res->error),
				 "--changed-ranges: volume %s has no completed snapshot to take the "
				 "unchanged blocks from",
				 o->volume);
			r = -EINVAL;
			goto out;
		}
		r = sfs_pipe_load_ranges(o, &p, parent.size, res, &ranges);
		if (r < 0)
			goto out;
	}
	p.nblocks = p.stream ? SFS_MAP_UNKNOWN : (p.size + s->block_size - 1) / s->block_size;
	c.map_blocks = p.stream ? SFS_MAP_UNKNOWN : (size + s->block_size - 1) / s->block_size;
	/* the bytes to read: the progress's total, and the prefetch's bound */
	c.total = p.stream ? 0 : p.size;
	if (p.changed_only) {
		c.total = 0;
		for (size_t i = 0; i < p.n_ranges; i++)
			c.total += p.ranges[2 * i + 1];
	}
	sfs_cat_prefetch(s, c.total / SFS_CATALOG_PREFETCH_SHARE > CATALOG_PREFETCH_MAX
				    ? c.total / SFS_CATALOG_PREFETCH_SHARE
				    : CATALOG_PREFETCH_MAX);

	/* Record the snapshot as pending, durably, before any data. */
	r = sfs_idstr_new("snap-", sn.id);
	if (r < 0)
		goto out;
	snprintf(sn.volume, sizeof(sn.volume), "%s", o->volume);
	if (c.have_parent)
		memcpy(sn.parent, parent.id, sizeof(sn.parent));
	/* To the nanosecond: two snapshots in one second must still sort
	 * (and be named, in the mount) in the order they were taken. */
	clock_gettime(CLOCK_REALTIME, &now);
	sn.created = (int64_t)now.tv_sec;
	sn.created_ns = (uint32_t)now.tv_nsec;
	sn.block_size = s->block_size;
	sn.description = o->description ? strdup(o->description) : NULL;
	sn.tags = o->tags ? json_deep_copy(o->tags) : json_object();
	r = sfs_writer_add_pending(w, &sn);
	if (r < 0)
		goto out;

	r = sfs_reader_new(s, 16u << 20, &c.reader);
	if (r < 0)
		goto out;
	p.reader = c.reader;
	p.parent = &c.parent;
	p.parent_blocks = c.have_parent ? (parent.size + s->block_size - 1) / s->block_size : 0;
	c.pnb = p.parent_blocks;
	/* Only with changed ranges are leaves taken whole. A parent that
	 * recorded no data bytes (0, or a record without them) has its
	 * leaves counted as they are taken. The recorded bytes are its data
	 * blocks' bytes, cut to the volume's size when every block is data:
	 * rounded up to blocks, they are the count again. */
	c.parent_data = (parent.data_bytes + s->block_size - 1) / s->block_size;
	c.derive = p.changed_only && c.have_parent && parent.data_bytes > 0 &&
		   parent.data_bytes <= parent.size && c.parent_data <= c.pnb;
	r = sfs_map_builder_new(c.map_blocks, map_store, &c, &c.mb);
	if (r < 0)
		goto out;
	c.ids = malloc(SFS_MAP_FANOUT * sizeof(*c.ids));
	if (!c.ids) {
		r = -ENOMEM;
		goto out;
	}
	r = pipe_init(&p, s, nworkers);
	if (r < 0)
		goto out;
	sfs_writer_stats_reset(w);

	workers = calloc(nworkers, sizeof(*workers));
	if (!workers) {
		r = -ENOMEM;
		goto out;
	}
	for (; started < nworkers; started++) {
		if (pthread_create(&workers[started], NULL, worker_main, &p) != 0) {
			r = -EAGAIN;
			goto out_stop;
		}
	}
	if (pthread_create(&producer, NULL, sfs_pipe_produce, &p) != 0) {
		r = -EAGAIN;
		goto out_stop;
	}
	producer_started = true;
	/* Best effort: without it the writer reads the leaves itself. */
	if (p.changed_only)
		warm_started = pthread_create(&warm, NULL, warm_main, &p) == 0;
	r = consume_all(&c);
	/* Padded: zero blocks from the source's end to the parent's size. */
	if (r == 0 && c.map_blocks > p.nblocks)
		r = consume_copy(&c, p.nblocks, c.map_blocks - p.nblocks, false);

out_stop:
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	/* After an error the producer may still be reading: it is joined
	 * now. After a whole run it has handed over the end and only retires
	 * its AIO context (ingest_source.c): it is joined last, at out. */
	if (producer_started && r < 0) {
		pthread_join(producer, NULL);
		producer_started = false;
	}
	if (warm_started)
		pthread_join(warm, NULL);
	for (unsigned i = 0; i < started; i++)
		pthread_join(workers[i], NULL);
	if (r < 0) {
		if (p.errmsg[0])
			snprintf(res->error, sizeof(res->error), "source %s: %s", o->source,
				 p.errmsg);
		goto out;
	}

	if (p.stream) {
		p.nblocks = (p.size + s->block_size - 1) / s->block_size;
		if (c.have_parent && p.size < parent.size) {
			snprintf(res->error, sizeof(res->error),
				 "standard input gave %" PRIu64 " bytes, fewer than volume %s's %" PRIu64
				 " (volumes can grow, never shrink)",
				 p.size, o->volume, parent.size);
			r = -ERANGE;
			goto out;
		}
	}
	r = sfs_map_builder_finish(c.mb, &sn.root, &sn.depth);
	if (r == 0 && c.derive) {
		uint64_t whole = 0;

		r = derived_data(&c, &whole);
		c.data_blocks += whole;
	}
	if (r < 0)
		goto out;
	res->zero_blocks = res->blocks - c.data_blocks;
	sn.size = p.stream ? p.size : size;
	sn.data_bytes = c.data_blocks * s->block_size;
	if (sn.data_bytes > sn.size)
		sn.data_bytes = sn.size;
	sfs_writer_stats(w, &sn.new_bytes, &sn.new_chunks);
	res->size = sn.size;
	res->source_size = p.size;
	res->read_bytes = p.read_bytes;
	res->data_bytes = sn.data_bytes;
	res->new_bytes = sn.new_bytes;
	res->new_chunks = sn.new_chunks;
	memcpy(res->snap_id, sn.id, sizeof(res->snap_id));
	r = sfs_writer_add_done(w, &sn);

out:
	if (producer_started)
		pthread_join(producer, NULL);
	free(workers);
	sfs_map_builder_free(c.mb);
	free(c.ids);
	sfs_reader_free(c.reader);
	pipe_release(&p);
	free(ranges);
	sfs_snapshot_release(&sn);
	sfs_snapshot_release(&parent);
	return r;
}
