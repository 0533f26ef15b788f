// SPDX-License-Identifier: MIT
/*
 * The ingest producer: opens and sizes the source, parses the changed
 * ranges, plans the volume into segments (blocks to read, holes the file
 * system reports, blocks taken from the parent outside the changed
 * ranges) and reads the data into the ring of batch slots, in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/aio_abi.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "ingest_int.h"
#include "util_int.h"

void sfs_pipe_fail(struct pipe *p, int err, const char *msg)
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

/*
 * A whole volume is read past the page cache (O_DIRECT), so that its
 * bytes are not copied through cache pages that are dropped right after:
 * a 2 GiB volume read cold costs 1.3-2.9 s of system CPU that way against
 * 0.1 s direct, most of an ingest's second core. Dirty pages of the range
 * are written back by the kernel before a direct read, so what it returns
 * is what a buffered read would. A file system that refuses O_DIRECT, or a
 * read it rejects (EINVAL), leaves the source buffered.
 */
static void source_direct(struct pipe *p, bool on)
{
	int fl = fcntl(p->fd, F_GETFL);

	if (fl < 0 || fcntl(p->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0) {
		p->direct = false;
		return;
	}
	p->direct = on;
}

/* Reads want bytes at off with O_DIRECT: len (want rounded up to blocks)
 * is asked for, and the read stops short only at the end of the source. */
static int pread_direct(struct pipe *p, uint8_t *dst, size_t want, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(p->fd, dst + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && got == 0) {
			source_direct(p, false);
			return sfs_preadn(p->fd, dst, want, off);
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		got += (size_t)n;
		/* a short read past what is aligned ends the direct run */
		if (got < want && got % SOURCE_ALIGN)
			return sfs_preadn(p->fd, dst + got, want - got, off + got);
	}
	return 0;
}

/* The bytes of blocks [first, first + n): len of them, want of which are
 * the source's (the rest is past its end). */
static void read_span(const struct pipe *p, uint64_t first, uint64_t n, uint64_t *off,
		      size_t *want, size_t *len)
{
	*len = (size_t)n * p->bs;
	*off = first * p->bs;
	*want = *len;
	if (!p->stream && *off + *want > p->size)
		*want = (size_t)(p->size - *off);
}

/* Ends a read of want bytes into dst (of len) that returned r. */
static int read_end(struct pipe *p, uint8_t *dst, size_t want, size_t len, int r)
{
	if (r == -ENODATA) {
		sfs_pipe_fail(p, -EIO, "the source shrank while it was being read");
		return -EIO;
	}
	if (r < 0) {
		sfs_pipe_fail(p, r, NULL);
		return r;
	}
	if (want < len)
		memset(dst + want, 0, len - want);
	pthread_mutex_lock(&p->lock);
	p->read_bytes += want;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Reads blocks [first, first + n) of the source into dst, zero-filling
 * past its end. */
static int read_blocks(struct pipe *p, uint8_t *dst, uint64_t first, uint64_t n)
{
	uint64_t off;
	size_t want, len;
	int r;

	read_span(p, first, n, &off, &want, &len);
	if (p->direct)
		r = pread_direct(p, dst, want, len, off);
	else
		r = sfs_preadn(p->fd, dst, want, off);
	return read_end(p, dst, want, len, r);
}

/*
 * Direct reads in flight at once, through Linux AIO: a direct read is
 * synchronous, and one at a time left the device idle whenever the
 * producer was handing a batch over, where the page cache's readahead
 * keeps reading (three in flight: an incremental snapshot of the 2 GiB
 * benchmark volume 1.81 s against 2.08 s, a full one 2.76 against 3.03).
 * A batch of a whole volume is one read; a batch of changed ranges is one
 * read per range in it, so that the device fetches scattered ranges side
 * by side. Up to AIO_DEPTH batches and AIO_READS reads are in flight, and
 * a batch is published, in order, when the last of its reads is in.
 * When io_setup fails (a kernel built without AIO, or fs.aio-max-nr
 * reached), the producer reads every batch itself with synchronous direct
 * reads, one at a time: the same bytes, only less overlap (test_ingest
 * runs that path with fs.aio-max-nr at 0).
 */
#define AIO_DEPTH 3u
#define AIO_READS 64u

struct aread {
	unsigned batch; /* index into aio.q */
	uint8_t *dst;
	uint64_t off;
	size_t want, len;
	struct iocb cb;
};

struct abatch {
	struct slot *s;
	unsigned pending; /* reads still in flight */
	bool sealed;      /* every read of the batch is started */
};

struct aio {
	aio_context_t ctx; /* 0: no AIO */
	unsigned depth, head, count; /* batches in flight, a ring of depth */
	struct abatch q[AIO_DEPTH];
	unsigned nidle;
	unsigned idle[AIO_READS]; /* reads not in flight */
	struct aread r[AIO_READS];
};

static void aio_start(struct pipe *p, struct aio *a)
{
	memset(a, 0, sizeof(*a));
	a->depth = p->nslots > AIO_DEPTH ? AIO_DEPTH : p->nslots - 1;
	for (unsigned i = 0; i < AIO_READS; i++)
		a->idle[a->nidle++] = i;
	/* Nothing to read, no context: retiring one waits about 30 ms. */
	if (!p->direct || a->depth < 2 || (p->changed_only && p->n_ranges == 0) ||
	    syscall(SYS_io_setup, AIO_READS, &a->ctx) < 0)
		a->ctx = 0;
}

/* Ends a read that completed with res: a direct read refused after all
 * (EINVAL) is made buffered, and so is every later one; a short one (only
 * at the end of the source) has the rest read buffered. */
static int aread_end(struct pipe *p, const struct aread *e, int64_t res)
{
	int r;

	if (res == -EINVAL) {
		source_direct(p, false);
		r = sfs_preadn(p->fd, e->dst, e->want, e->off);
	} else if (res < 0) {
		r = (int)res;
	} else if ((size_t)res < e->want) {
		r = sfs_preadn(p->fd, e->dst + res, e->want - (size_t)res, e->off + (uint64_t)res);
	} else {
		r = 0;
	}
	return read_end(p, e->dst, e->want, e->len, r);
}

/* Publishes the batches at the head of the ring whose reads are all in. */
static void aio_publish_ready(struct pipe *p, struct aio *a)
{
	while (a->count > 0 && a->q[a->head].sealed && a->q[a->head].pending == 0) {
		slot_publish(p, a->q[a->head].s);
		a->head = (a->head + 1) % a->depth;
		a->count--;
	}
}

/* Waits for at least one read in flight and ends those that completed. */
static int aio_reap(struct pipe *p, struct aio *a)
{
	struct io_event ev[AIO_READS];
	long n;

	do
		n = syscall(SYS_io_getevents, a->ctx, 1L, (long)AIO_READS, ev, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int r = -errno;

		sfs_pipe_fail(p, r, NULL);
		return r;
	}
	for (long i = 0; i < n; i++) {
		struct aread *e = &a->r[ev[i].data];
		int r = aread_end(p, e, ev[i].res);

		a->q[e->batch].pending--;
		a->idle[a->nidle++] = (unsigned)ev[i].data;
		if (r < 0)
			return r;
	}
	aio_publish_ready(p, a);
	return 0;
}

/* Waits for the oldest batch's reads and publishes it. */
static int aio_finish_oldest(struct pipe *p, struct aio *a)
{
	struct abatch *b = &a->q[a->head];

	b->sealed = true;
	while (b->pending > 0) {
		int r = aio_reap(p, a);

		if (r < 0)
			return r;
	}
	aio_publish_ready(p, a);
	return 0;
}

static int aio_drain(struct pipe *p, struct aio *a)
{
	while (a->count > 0) {
		int r = aio_finish_oldest(p, a);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Takes slot s into the ring as a batch whose reads follow; the ring has
 * room (count < depth). Returns its index. */
static unsigned aio_batch(struct aio *a, struct slot *s)
{
	unsigned i = (a->head + a->count) % a->depth;

	a->q[i] = (struct abatch){ .s = s };
	a->count++;
	return i;
}

/* Starts the read of blocks [first, first + n) into dst for batch i; once
 * direct reads are off, or the kernel does not take it, reads it here. */
static int aio_read(struct pipe *p, struct aio *a, unsigned i, uint8_t *dst, uint64_t first,
		    uint64_t n)
{
	struct aread *e;
	struct iocb *cbp;
	unsigned k;
	int r;

	if (!p->direct)
		return read_blocks(p, dst, first, n);
	while (a->nidle == 0) {
		r = aio_reap(p, a);
		if (r < 0)
			return r;
	}
	k = a->idle[--a->nidle];
	e = &a->r[k];
	e->batch = i;
	e->dst = dst;
	read_span(p, first, n, &e->off, &e->want, &e->len);
	memset(&e->cb, 0, sizeof(e->cb));
	e->cb.aio_data = k;
	e->cb.aio_lio_opcode = IOCB_CMD_PREAD;
	e->cb.aio_fildes = (uint32_t)p->fd;
	e->cb.aio_buf = (uint64_t)(uintptr_t)dst;
	e->cb.aio_nbytes = e->len;
	e->cb.aio_offset = (int64_t)e->off;
	cbp = &e->cb;
	if (syscall(SYS_io_submit, a->ctx, 1L, &cbp) != 1) {
		a->idle[a->nidle++] = k;
		return read_blocks(p, dst, first, n);
	}
	a->q[i].pending++;
	return 0;
}

/* No more reads come for batch i: it is published when they are in. */
static void aio_seal(struct pipe *p, struct aio *a, unsigned i)
{
	a->q[i].sealed = true;
	aio_publish_ready(p, a);
}

/* Ends AIO: waits for whatever is still in flight (after an error), so
 * that no read lands in a slot after the pipeline has let it go. */
static void aio_stop(struct aio *a)
{
	if (a->ctx)
		syscall(SYS_io_destroy, a->ctx);
}

/* Hands batches of a segment to the workers, in order; with a (AIO) the
 * reads of up to its depth of them are in flight at once. */
static int emit(struct pipe *p, uint64_t *seq, int kind, uint64_t first, uint64_t n,
		struct aio *a)
{
	bool async = a && a->ctx && kind == SEG_READ;
	int r;

	/* what is still being read goes first */
	if (a && !async) {
		r = aio_drain(p, a);
		if (r < 0)
			return r;
	}
	while (n > 0 || kind == SEG_END) {
		uint64_t take = kind == SEG_READ ? p->batch_blocks : SEG_MAX_BLOCKS;
		struct slot *s;

		if (async && a->count == a->depth) {
			r = aio_finish_oldest(p, a);
			if (r < 0)
				return r;
		}
		s = slot_for_produce(p, *seq);
		if (!s)
			return -ECANCELED;
		if (take > n)
			take = n;
		s->kind = kind;
		s->first = first;
		s->n = take;
		if (kind == SEG_READ) {
			s->ext[0] = (struct ext){ first, take };
			s->next = 1;
			if (async) {
				unsigned i = aio_batch(a, s);

				r = aio_read(p, a, i, s->data, first, take);
				if (r < 0)
					return r;
				aio_seal(p, a, i);
				goto next;
			}
			r = read_blocks(p, s->data, first, take);
			if (r < 0)
				return r;
		}
		slot_publish(p, s);
next:
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
			sfs_pipe_fail(p, (int)got, NULL);
			return (int)got;
		}
		if (got == 0)
			break;
		if ((size_t)got < len)
			memset(s->data + got, 0, len - (size_t)got);
		s->kind = SEG_READ;
		s->first = block;
		s->n = ((uint64_t)got + p->bs - 1) / p->bs;
		s->ext[0] = (struct ext){ block, s->n };
		s->next = 1;
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

/* Plans the whole source into batches, skipping holes the file system
 * reports. */
static int plan_full(struct pipe *p, uint64_t *seq, struct aio *a)
{
	uint64_t pos = 0; /* next block to plan */
	int r;

	while (pos < p->nblocks) {
		off_t d = lseek(p->fd, (off_t)(pos * p->bs), SEEK_DATA), h;
		uint64_t dblock, hblock;

		if (d < 0 && errno == ENXIO) {
			return emit(p, seq, SEG_ZERO, pos, p->nblocks - pos, a);
		} else if (d < 0) {
			/* No hole support (block device, old fs): read it all. */
			return emit(p, seq, SEG_READ, pos, p->nblocks - pos, a);
		}
		h = lseek(p->fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)p->size;
		dblock = (uint64_t)d / p->bs;
		hblock = ((uint64_t)h + p->bs - 1) / p->bs;
		if (hblock > p->nblocks)
			hblock = p->nblocks;
		if (dblock > pos) {
			r = emit(p, seq, SEG_ZERO, pos, dblock - pos, a);
			if (r < 0)
				return r;
		}
		if (hblock <= dblock)
			hblock = dblock + 1;
		r = emit(p, seq, SEG_READ, dblock, hblock - dblock, a);
		if (r < 0)
			return r;
		pos = hblock;
	}
	return 0;
}

/* Where the changed ranges are read buffered (no O_DIRECT or no AIO),
 * asks the kernel to start reading them up to `ahead` bytes past range i,
 * so that scattered small ranges are fetched in parallel by the device
 * instead of one synchronous read at a time. The window grows
 * with what was read, up to RANGES_AHEAD: each advice costs the producer
 * the page allocations for its range, and a full window advised up front
 * held the first read back by ~50 ms. */
#define RANGES_AHEAD (64u << 20)
#define RANGES_AHEAD_FIRST (1u << 20)

static void advise_ranges(struct pipe *p, size_t i, uint64_t ahead, size_t *advised,
			  uint64_t *advised_bytes)
{
	if (ahead < RANGES_AHEAD_FIRST)
		ahead = RANGES_AHEAD_FIRST;
	if (ahead > RANGES_AHEAD)
		ahead = RANGES_AHEAD;
	while (*advised < p->n_ranges && (*advised <= i || *advised_bytes < ahead)) {
		uint64_t off = p->ranges[2 * *advised], len = p->ranges[2 * *advised + 1];

		posix_fadvise(p->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
		*advised_bytes += len;
		(*advised)++;
	}
}

/*
 * Only the changed ranges, rounded out to blocks; the rest is the parent's,
 * which the writer takes for the blocks between the runs it is given. A
 * sparse change is thousands of ranges of a few blocks: each slot is
 * filled with as many of them as fit, so that the workers and the writer
 * see a few full batches instead of a batch (and a hand-over through the
 * ring) per range.
 */
/* The first batches of changed ranges are smaller, RAMP_FIRST bytes and
 * doubling: a full batch of scattered ranges takes ~80 ms of cold reads to
 * fill, and the workers would wait for all of it before they start. */
#define RAMP_FIRST (256u << 10)

static uint64_t ramp_blocks(const struct pipe *p, uint64_t seq)
{
	uint64_t bytes = seq < 16 ? (uint64_t)RAMP_FIRST << seq : BATCH_BYTES, n = bytes / p->bs;

	return n < 1 ? 1 : n > p->batch_blocks ? p->batch_blocks : n;
}

static int plan_ranges(struct pipe *p, uint64_t *seq, struct aio *a)
{
	uint64_t pos = 0, advised_bytes = 0, cap = 0;
	size_t advised = 0;
	struct slot *s = NULL;
	unsigned batch = 0;
	int r;

	for (size_t i = 0; i < p->n_ranges && pos < p->nblocks; i++) {
		/* Buffered, the kernel is asked to read ahead; direct, the
		 * reads in flight are the read-ahead. */
		if (!a->ctx || !p->direct) {
			if (advised_bytes >= p->ranges[2 * i + 1])
				advised_bytes -= p->ranges[2 * i + 1];
			else
				advised_bytes = 0;
			advise_ranges(p, i, p->read_bytes, &advised, &advised_bytes);
		}
		uint64_t a0 = p->ranges[2 * i] / p->bs;
		uint64_t b0 = (p->ranges[2 * i] + p->ranges[2 * i + 1] + p->bs - 1) / p->bs;

		if (b0 > p->nblocks)
			b0 = p->nblocks;
		if (a0 < pos)
			a0 = pos;
		if (a0 >= b0)
			continue;
		while (a0 < b0) {
			uint8_t *dst;
			uint64_t take;

			if (!s) {
				if (a->ctx && a->count == a->depth) {
					r = aio_finish_oldest(p, a);
					if (r < 0)
						return r;
				}
				s = slot_for_produce(p, *seq);
				if (!s)
					return -ECANCELED;
				s->kind = SEG_READ;
				s->first = a0;
				s->n = 0;
				s->next = 0;
				cap = ramp_blocks(p, *seq);
				if (a->ctx)
					batch = aio_batch(a, s);
			}
			take = cap - s->n;
			if (take > b0 - a0)
				take = b0 - a0;
			dst = s->data + s->n * p->bs;
			r = a->ctx ? aio_read(p, a, batch, dst, a0, take) : read_blocks(p, dst, a0, take);
			if (r < 0)
				return r;
			if (s->next && s->ext[s->next - 1].first + s->ext[s->next - 1].n == a0)
				s->ext[s->next - 1].n += take;
			else
				s->ext[s->next++] = (struct ext){ a0, take };
			s->n += take;
			a0 += take;
			if (s->n == cap) {
				if (a->ctx)
					aio_seal(p, a, batch);
				else
					slot_publish(p, s);
				(*seq)++;
				s = NULL;
			}
		}
		pos = b0;
	}
	if (s) {
		if (a->ctx)
			aio_seal(p, a, batch);
		else
			slot_publish(p, s);
		(*seq)++;
	}
	if (pos < p->nblocks)
		return emit(p, seq, SEG_INHERIT, pos, p->nblocks - pos, a);
	return 0;
}

/*
 * A whole source, and changed ranges likewise, are read past the page
 * cache if they can be: they are read once, and their pages would only be
 * dropped. The AIO context goes after the end is handed over: io_destroy
 * waits for the kernel to retire it (about 30 ms here), which nothing
 * needs to wait for (ingest.c joins this thread after its commit).
 */
void *sfs_pipe_produce(void *arg)
{
	struct pipe *p = arg;
	uint64_t seq = 0;
	struct aio a;
	int r;

	if (p->read_direct)
		source_direct(p, true);
	aio_start(p, &a);
	if (p->stream)
		r = produce_stream(p, &seq);
	else if (p->changed_only)
		r = plan_ranges(p, &seq, &a);
	else
		r = plan_full(p, &seq, &a);
	if (r == 0)
		r = aio_drain(p, &a);
	if (r == 0)
		emit(p, &seq, SEG_END, 0, 0, NULL);
	aio_stop(&a);
	return NULL;
}

int sfs_pipe_open_source(const struct sfs_ingest_opts *o, struct pipe *p,
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
	p->read_direct = !p->stream && !o->buffered;
	return 0;
}

/*
 * A volume that grew has no parent blocks past the parent's end: what a
 * change tracker reports there is not to be trusted to cover it (it lists
 * writes, and a resize is not one), and inheriting would give zeros. So
 * the grown part, from the parent's last, possibly partial, block on, is
 * one more changed range, merged with the listed ranges that reach it.
 * ranges holds n sorted, merged pairs; *ret_n is the new count.
 */
static int add_grown_part(uint64_t **ranges, size_t n, uint64_t parent_size, uint64_t size,
			  size_t *ret_n)
{
	uint64_t *v = *ranges, start = parent_size;
	size_t k = 0;

	if (size <= parent_size) {
		*ret_n = n;
		return 0;
	}
	while (k < n && v[2 * k] + v[2 * k + 1] < parent_size)
		k++;
	if (k == n) {
		v = realloc(v, 2 * (n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*ranges = v;
	} else if (v[2 * k] < start) {
		start = v[2 * k];
	}
	v[2 * k] = start;
	v[2 * k + 1] = size - start;
	*ret_n = k + 1;
	return 0;
}

int sfs_pipe_load_ranges(const struct sfs_ingest_opts *o, struct pipe *p, uint64_t parent_size,
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
	res->changed_ranges = n;
	r = add_grown_part(ret, n, parent_size, p->size, &n);
	if (r < 0)
		return r;
	p->changed_only = true;
	p->ranges = *ret;
	p->n_ranges = n;
	return 0;
}
