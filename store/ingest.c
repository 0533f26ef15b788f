// SPDX-License-Identifier: MIT
/*
 * The ingest pipeline. A producer thread plans the source into segments
 * (blocks to read, blocks known to be zero from SEEK_HOLE, blocks taken
 * from the parent snapshot outside the changed ranges) and reads the data
 * into a ring of batch slots; worker threads, one per core, zero-test,
 * hash, look each block up in the committed chunk index and compress only
 * what is new; the calling thread, the single writer, consumes batches in
 * order, appends new chunks to the pack and feeds the map builder. Memory
 * is the ring (a few MiB per slot), whatever the volume size.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "snapfs/blockmap.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "store_int.h"
#include "util_int.h"
#include "writer_int.h"

#define BATCH_BYTES (4u << 20)
#define SEG_MAX_BLOCKS (1u << 20) /* blocks in one zero/inherit batch */

enum seg_kind { SEG_READ, SEG_ZERO, SEG_INHERIT, SEG_END };
enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_DONE };
enum blk_kind { BLK_ZERO, BLK_KNOWN, BLK_NEW };

struct blk {
	struct sfs_id id;
	uint32_t stored_len;
	uint8_t comp;
	uint8_t kind;
};

struct slot {
	int state;
	int kind;
	uint64_t first;  /* first block */
	uint64_t n;      /* blocks */
	uint8_t *data;   /* READ: n * block size */
	uint8_t *out;    /* compressed blocks, bound(block size) apart */
	struct blk *blk;
};

struct pipe {
	struct sfs_store *store;
	uint32_t bs;
	size_t bound;
	uint32_t batch_blocks;
	int fd;
	bool stream;        /* size unknown until EOF */
	uint64_t size;      /* known size, or found at EOF for a stream */
	uint64_t nblocks;
	const uint64_t *ranges; /* changed ranges, or NULL */
	size_t n_ranges;
	int level;

	pthread_mutex_t lock; /* guards everything below and slot states */
	pthread_cond_t cond;
	struct slot *slots;
	unsigned nslots;
	uint64_t produced, claimed; /* sequence numbers */
	bool stop;
	int err;
	char errmsg[256];
	uint64_t read_bytes;
};

static void pipe_fail(struct pipe *p, int err, const char *msg)
{
	pthread_mutex_lock(&p->lock);
	if (!p->err) {
		p->err = err;
		if (msg)
			snprintf(p->errmsg, sizeof(p->errmsg), "%s", msg);
	}
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Waits for the slot of sequence seq to be free and returns it, or NULL
 * when the pipeline stops. */
static struct slot *slot_for_produce(struct pipe *p, uint64_t seq)
{
	struct slot *s = &p->slots[seq % p->nslots];

	pthread_mutex_lock(&p->lock);
	while (!p->stop && s->state != SLOT_FREE)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return p->stop ? NULL : s;
}

static void slot_publish(struct pipe *p, struct slot *s)
{
	pthread_mutex_lock(&p->lock);
	s->state = SLOT_FILLED;
	p->produced++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static int emit(struct pipe *p, uint64_t *seq, int kind, uint64_t first, uint64_t n)
{
	while (n > 0 || kind == SEG_END) {
		uint64_t take = kind == SEG_READ ? p->batch_blocks : SEG_MAX_BLOCKS;
		struct slot *s = slot_for_produce(p, *seq);

		if (!s)
			return -ECANCELED;
		if (take > n)
			take = n;
		s->kind = kind;
		s->first = first;
		s->n = take;
		if (kind == SEG_READ) {
			size_t len = (size_t)take * p->bs;
			uint64_t off = first * p->bs;
			size_t want = len;
			int r;

			if (!p->stream && off + want > p->size)
				want = (size_t)(p->size - off);
			r = sfs_preadn(p->fd, s->data, want, off);
			if (r == -ENODATA) {
				pipe_fail(p, -EIO, "the source shrank while it was being read");
				return -EIO;
			}
			if (r < 0) {
				pipe_fail(p, r, NULL);
				return r;
			}
			if (want < len)
				memset(s->data + want, 0, len - want);
			pthread_mutex_lock(&p->lock);
			p->read_bytes += want;
			pthread_mutex_unlock(&p->lock);
		}
		slot_publish(p, s);
		(*seq)++;
		first += take;
		n -= take;
		if (kind == SEG_END)
			break;
	}
	return 0;
}

/* A stream: read batches until EOF; the size is what was read. */
static int produce_stream(struct pipe *p, uint64_t *seq)
{
	uint64_t block = 0;

	for (;;) {
		struct slot *s = slot_for_produce(p, *seq);
		size_t len = (size_t)p->batch_blocks * p->bs;
		ssize_t got;

		if (!s)
			return -ECANCELED;
		got = sfs_read_full(p->fd, s->data, len);
		if (got < 0) {
			pipe_fail(p, (int)got, NULL);
			return (int)got;
		}
		if (got == 0)
			break;
		if ((size_t)got < len)
			memset(s->data + got, 0, len - (size_t)got);
		s->kind = SEG_READ;
		s->first = block;
		s->n = ((uint64_t)got + p->bs - 1) / p->bs;
		pthread_mutex_lock(&p->lock);
		p->read_bytes += (uint64_t)got;
		p->size += (uint64_t)got;
		pthread_mutex_unlock(&p->lock);
		block += s->n;
		slot_publish(p, s);
		(*seq)++;
		if ((size_t)got < len)
			break;
	}
	return 0;
}

/* Whole source, skipping holes the file system reports. */
static int produce_full(struct pipe *p, uint64_t *seq)
{
	uint64_t pos = 0; /* next block to plan */
	int r;

	while (pos < p->nblocks) {
		off_t d = lseek(p->fd, (off_t)(pos * p->bs), SEEK_DATA), h;
		uint64_t dblock, hblock;

		if (d < 0 && errno == ENXIO) {
			return emit(p, seq, SEG_ZERO, pos, p->nblocks - pos);
		} else if (d < 0) {
			/* No hole support (block device, old fs): read it all. */
			return emit(p, seq, SEG_READ, pos, p->nblocks - pos);
		}
		h = lseek(p->fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)p->size;
		dblock = (uint64_t)d / p->bs;
		hblock = ((uint64_t)h + p->bs - 1) / p->bs;
		if (hblock > p->nblocks)
			hblock = p->nblocks;
		if (dblock > pos) {
			r = emit(p, seq, SEG_ZERO, pos, dblock - pos);
			if (r < 0)
				return r;
		}
		if (hblock <= dblock)
			hblock = dblock + 1;
		r = emit(p, seq, SEG_READ, dblock, hblock - dblock);
		if (r < 0)
			return r;
		pos = hblock;
	}
	return 0;
}

/* Asks the kernel to start reading the changed ranges up to RANGES_AHEAD
 * bytes past range i, so that scattered small ranges are fetched in
 * parallel by the device instead of one synchronous read at a time. */
#define RANGES_AHEAD (64u << 20)

static void advise_ranges(struct pipe *p, size_t i, size_t *advised, uint64_t *advised_bytes)
{
	while (*advised < p->n_ranges && (*advised <= i || *advised_bytes < RANGES_AHEAD)) {
		uint64_t off = p->ranges[2 * *advised], len = p->ranges[2 * *advised + 1];

		posix_fadvise(p->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
		*advised_bytes += len;
		(*advised)++;
	}
}

/* Only the changed ranges, rounded out to blocks; the rest from the parent. */
static int produce_ranges(struct pipe *p, uint64_t *seq)
{
	uint64_t pos = 0, advised_bytes = 0;
	size_t advised = 0;
	int r;

	for (size_t i = 0; i < p->n_ranges && pos < p->nblocks; i++) {
		if (advised_bytes >= p->ranges[2 * i + 1])
			advised_bytes -= p->ranges[2 * i + 1];
		else
			advised_bytes = 0;
		advise_ranges(p, i, &advised, &advised_bytes);
		uint64_t a = p->ranges[2 * i] / p->bs;
		uint64_t b = (p->ranges[2 * i] + p->ranges[2 * i + 1] + p->bs - 1) / p->bs;

		if (b > p->nblocks)
			b = p->nblocks;
		if (a < pos)
			a = pos;
		if (a >= b)
			continue;
		if (a > pos) {
			r = emit(p, seq, SEG_INHERIT, pos, a - pos);
			if (r < 0)
				return r;
		}
		r = emit(p, seq, SEG_READ, a, b - a);
		if (r < 0)
			return r;
		pos = b;
	}
	if (pos < p->nblocks)
		return emit(p, seq, SEG_INHERIT, pos, p->nblocks - pos);
	return 0;
}

static void *producer_main(void *arg)
{
	struct pipe *p = arg;
	uint64_t seq = 0;
	int r;

	if (p->stream)
		r = produce_stream(p, &seq);
	else if (p->ranges)
		r = produce_ranges(p, &seq);
	else
		r = produce_full(p, &seq);
	if (r == 0)
		emit(p, &seq, SEG_END, 0, 0);
	return NULL;
}

static void work_batch(struct pipe *p, struct slot *s, struct sfs_codec *codec)
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
		ssize_t n;

		if (sfs_is_zero(d, p->bs)) {
			b->kind = BLK_ZERO;
			memset(&b->id, 0, sizeof(b->id));
			continue;
		}
		sfs_chunk_hash(d, p->bs, &b->id);
		if (txn && sfs_cat_chunk_get(txn, &b->id, &loc) == 0) {
			b->kind = BLK_KNOWN;
			continue;
		}
		n = sfs_codec_compress(codec, d, p->bs, s->out + i * p->bound, p->bound, &b->comp);
		if (n < 0) {
			sfs_txn_abort(txn);
			pipe_fail(p, (int)n, NULL);
			return;
		}
		b->stored_len = (uint32_t)n;
		b->kind = BLK_NEW;
	}
	sfs_txn_abort(txn);
}

static void *worker_main(void *arg)
{
	struct pipe *p = arg;
	struct sfs_codec *codec = sfs_codec_new(p->level);

	if (!codec) {
		pipe_fail(p, -ENOMEM, NULL);
		return NULL;
	}
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

		work_batch(p, s, codec);

		pthread_mutex_lock(&p->lock);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (s->kind == SEG_END)
			break;
	}
	sfs_codec_free(codec);
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
};

static int map_store(void *ctx, const void *page, size_t len, const struct sfs_id *id)
{
	struct consume *c = ctx;
	bool is_new;

	return sfs_writer_put_chunk(c->w, SFS_CHUNK_MAP, page, len, id, &is_new);
}

/* Blocks [first, first+n) equal to the parent's (or zero when inherit is
 * false): whole leaves are added by id, the rest block by block. */
static int consume_copy(struct consume *c, uint64_t first, uint64_t n, bool inherit)
{
	static const struct sfs_id zero;
	uint64_t end = first + n;
	uint64_t pnb = c->have_parent ? (c->parent.size + c->p->bs - 1) / c->p->bs : 0;
	int r;

	while (first < end) {
		uint64_t leaf_end = (first / SFS_MAP_FANOUT + 1) * SFS_MAP_FANOUT;
		uint64_t whole_end = leaf_end < c->p->nblocks ? leaf_end : c->p->nblocks;

		if (first % SFS_MAP_FANOUT == 0 && end >= whole_end) {
			struct sfs_id leaf = zero;

			if (inherit && first < pnb) {
				r = sfs_reader_leaf_id(c->reader, &c->parent, first, &leaf);
				if (r < 0)
					return r;
				for (uint64_t b = first; b < whole_end && b < pnb; b++) {
					struct sfs_id id;
					r = sfs_reader_block_id(c->reader, &c->parent, b, &id);
					if (r < 0)
						return r;
					c->data_blocks += !sfs_id_is_zero(&id);
				}
			}
			r = sfs_map_builder_add_leaf(c->mb, &leaf);
			if (r < 0)
				return r;
			c->res->blocks += whole_end - first;
			first = whole_end;
			continue;
		}
		{
			struct sfs_id id = zero;
			if (inherit && first < pnb) {
				r = sfs_reader_block_id(c->reader, &c->parent, first, &id);
				if (r < 0)
					return r;
			}
			c->data_blocks += !sfs_id_is_zero(&id);
			c->res->zero_blocks += sfs_id_is_zero(&id);
			r = sfs_map_builder_add(c->mb, &id);
			if (r < 0)
				return r;
			c->res->blocks++;
			first++;
		}
	}
	return 0;
}

static int consume_read(struct consume *c, struct slot *s)
{
	int r;

	for (uint64_t i = 0; i < s->n; i++) {
		struct blk *b = &s->blk[i];

		c->res->blocks++;
		if (b->kind == BLK_ZERO) {
			c->res->zero_blocks++;
		} else {
			bool is_new = false;

			c->data_blocks++;
			if (b->kind == BLK_NEW) {
				struct sfs_rec_header h = {
					.type = SFS_CHUNK_DATA,
					.comp = b->comp,
					.raw_len = c->p->bs,
					.stored_len = b->stored_len,
					.id = b->id,
				};
				r = sfs_writer_put_stored(c->w, &h, s->out + i * c->p->bound, &is_new);
			} else {
				r = sfs_writer_put_chunk(c->w, SFS_CHUNK_DATA, s->data + i * c->p->bs,
							 c->p->bs, &b->id, &is_new);
			}
			if (r < 0)
				return r;
			if (!is_new)
				c->res->dedup_blocks++;
		}
		r = sfs_map_builder_add(c->mb, &b->id);
		if (r < 0)
			return r;
	}
	return 0;
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
		if (kind == SEG_READ)
			r = consume_read(c, s);
		else if (kind == SEG_ZERO || kind == SEG_INHERIT)
			r = consume_copy(c, s->first, s->n, kind == SEG_INHERIT);
		if (r < 0)
			return r;
		if (kind == SEG_READ || !p->ranges)
			c->done += s->n * p->bs;
		if (c->o->progress && kind != SEG_END)
			c->o->progress(c->o->progress_ctx, c->done > c->total && c->total ? c->total : c->done,
				       c->total);

		pthread_mutex_lock(&p->lock);
		s->state = SLOT_FREE;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		seq++;
		if (kind == SEG_END)
			return 0;
	}
}

static int open_source(const struct sfs_ingest_opts *o, struct pipe *p,
		       struct sfs_ingest_result *res)
{
	struct stat st;

	if (!strcmp(o->source, "-")) {
		p->fd = dup(STDIN_FILENO);
	} else {
		p->fd = open(o->source, O_RDONLY | O_CLOEXEC);
	}
	if (p->fd < 0) {
		int e = errno;
		snprintf(res->error, sizeof(res->error), "cannot open source %s: %s", o->source,
			 strerror(e));
		return -e;
	}
	if (fstat(p->fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode)) {
		snprintf(res->error, sizeof(res->error),
			 "source %s is a directory, not a file or block device", o->source);
		return -EISDIR;
	}
	if (S_ISREG(st.st_mode)) {
		p->size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		uint64_t sz;
		if (ioctl(p->fd, BLKGETSIZE64, &sz) < 0) {
			int e = errno;
			snprintf(res->error, sizeof(res->error), "cannot size block device %s: %s",
				 o->source, strerror(e));
			return -e;
		}
		p->size = sz;
	} else {
		p->stream = true;
	}
	if (!p->stream)
		posix_fadvise(p->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static int load_ranges(const struct sfs_ingest_opts *o, struct pipe *p,
		       struct sfs_ingest_result *res, uint64_t **ret)
{
	char *text = NULL, err[160] = "";
	size_t len, n;
	int r;

	r = sfs_read_file(AT_FDCWD, o->changed_ranges, 256u << 20, &text, &len);
	if (r < 0) {
		snprintf(res->error, sizeof(res->error), "cannot read changed-ranges file %s: %s",
			 o->changed_ranges, strerror(-r));
		return r;
	}
	r = sfs_ranges_parse(text, len, ret, &n, err, sizeof(err));
	free(text);
	if (r < 0) {
		snprintf(res->error, sizeof(res->error), "changed-ranges file %s: %s",
			 o->changed_ranges, err);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		if ((*ret)[2 * i] + (*ret)[2 * i + 1] > p->size) {
			snprintf(res->error, sizeof(res->error),
				 "changed-ranges file %s: range %" PRIu64 "+%" PRIu64
				 " lies past the end of the source (%" PRIu64 " bytes)",
				 o->changed_ranges, (*ret)[2 * i], (*ret)[2 * i + 1], p->size);
			free(*ret);
			*ret = NULL;
			return -EINVAL;
		}
	}
	p->ranges = *ret;
	p->n_ranges = n;
	return 0;
}

static int pipe_init(struct pipe *p, struct sfs_store *s, unsigned threads)
{
	p->store = s;
	p->bs = s->block_size;
	p->bound = sfs_codec_bound(p->bs);
	p->level = s->zstd_level;
	p->batch_blocks = BATCH_BYTES / p->bs ? BATCH_BYTES / p->bs : 1;
	p->nslots = 2 * threads + 2;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];
		sl->data = malloc((size_t)p->batch_blocks * p->bs);
		sl->out = malloc((size_t)p->batch_blocks * p->bound);
		sl->blk = calloc(p->batch_blocks, sizeof(*sl->blk));
		if (!sl->data || !sl->out || !sl->blk)
			return -ENOMEM;
	}
	return 0;
}

static void pipe_release(struct pipe *p)
{
	for (unsigned i = 0; p->slots && i < p->nslots; i++) {
		free(p->slots[i].data);
		free(p->slots[i].out);
		free(p->slots[i].blk);
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
	struct sfs_store *s = w->store;
	struct pipe p = { .fd = -1 };
	struct consume c = { .w = w, .p = &p, .res = res, .o = o };
	struct sfs_snapshot sn = { 0 }, parent = { 0 };
	uint64_t *ranges = NULL;
	pthread_t producer, *workers = NULL;
	unsigned nworkers = o->threads, started = 0;
	bool producer_started = false;
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
	r = open_source(o, &p, res);
	if (r < 0)
		goto out;

	r = sfs_cat_snapshot_latest(w->txn, o->volume, &parent);
	if (r == 0) {
		c.have_parent = true;
		sfs_snapmap_from_snapshot(&parent, &c.parent);
		memcpy(res->parent, parent.id, sizeof(res->parent));
	} else if (r != -ENOENT) {
		goto out;
	}
	if (c.have_parent && !p.stream && p.size < parent.size) {
		snprintf(res->error, sizeof(res->error),
			 "source %s has %" PRIu64 " bytes, fewer than volume %s's %" PRIu64
			 " (volumes can grow, never shrink)",
			 o->source, p.size, o->volume, parent.size);
		r = -ERANGE;
		goto out;
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
		r = load_ranges(o, &p, res, &ranges);
		if (r < 0)
			goto out;
	}
	p.nblocks = p.stream ? SFS_MAP_UNKNOWN : (p.size + s->block_size - 1) / s->block_size;

	/* Record the snapshot as pending, durably, before any data. */
	r = sfs_idstr_new("snap-", sn.id);
	if (r < 0)
		goto out;
	snprintf(sn.volume, sizeof(sn.volume), "%s", o->volume);
	if (c.have_parent)
		memcpy(sn.parent, parent.id, sizeof(sn.parent));
	sn.created = (int64_t)time(NULL);
	sn.block_size = s->block_size;
	sn.description = o->description ? strdup(o->description) : NULL;
	sn.tags = o->tags ? json_deep_copy(o->tags) : json_object();
	r = sfs_writer_add_pending(w, &sn);
	if (r < 0)
		goto out;

	r = sfs_reader_new(s, 16u << 20, &c.reader);
	if (r < 0)
		goto out;
	r = sfs_map_builder_new(p.nblocks, map_store, &c, &c.mb);
	if (r < 0)
		goto out;
	r = pipe_init(&p, s, nworkers);
	if (r < 0)
		goto out;
	c.total = p.stream ? 0 : p.size;
	if (p.ranges) {
		c.total = 0;
		for (size_t i = 0; i < p.n_ranges; i++)
			c.total += p.ranges[2 * i + 1];
	}
	w->new_bytes = w->new_chunks = 0;

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
	if (pthread_create(&producer, NULL, producer_main, &p) != 0) {
		r = -EAGAIN;
		goto out_stop;
	}
	producer_started = true;
	r = consume_all(&c);

out_stop:
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	if (producer_started)
		pthread_join(producer, NULL);
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
	if (r < 0)
		goto out;
	sn.size = p.size;
	sn.data_bytes = c.data_blocks * s->block_size;
	if (sn.data_bytes > sn.size)
		sn.data_bytes = sn.size;
	sn.new_bytes = w->new_bytes;
	sn.new_chunks = w->new_chunks;
	res->size = sn.size;
	res->read_bytes = p.read_bytes;
	res->data_bytes = sn.data_bytes;
	res->new_bytes = sn.new_bytes;
	res->new_chunks = sn.new_chunks;
	memcpy(res->snap_id, sn.id, sizeof(res->snap_id));
	r = sfs_writer_add_done(w, &sn);

out:
	free(workers);
	sfs_map_builder_free(c.mb);
	sfs_reader_free(c.reader);
	pipe_release(&p);
	free(ranges);
	sfs_snapshot_release(&sn);
	sfs_snapshot_release(&parent);
	return r;
}
