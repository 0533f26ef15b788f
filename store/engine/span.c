// SPDX-License-Identifier: MIT
/*
 * Pack spans: a small cache of aligned 1 MiB pieces of packs, read with
 * O_DIRECT, for readers that walk a pack in order (a mount's sequential
 * read, a restore, a check). Read the ordinary way, each record of ~12
 * KiB is copied out of the page cache, and the pages the kernel fills
 * for it and for its readahead have to be found first: on a host where
 * freed memory is slow to reuse that cost a cold read of the benchmark
 * volume 0.14-0.62 s of system CPU for 760 MB of packs, against 0.05 s
 * read directly in 1 MiB pieces. A span that a reader starts on has the
 * AHEAD after it read ahead by threads of this cache, so that the decode
 * workers seldom wait for the disk. Records are copied out of a span
 * under a reference, never under the lock; a span being read in has one
 * reference, its reader's, and the others wait for it.
 *
 * Pack bytes below a pack's end never change while the store is in use,
 * so a span stays good until its pack is removed or cut (the backend
 * forgets it then). A span read at a pack's end serves only the bytes it
 * got: a range past them goes the ordinary way, since the pack may have
 * grown.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "span_int.h"
#include "util_int.h"

#define DIO_ALIGN 4096
#define QUEUE_CAP 8
/* Spans read ahead of the one a reader starts on, by LOADERS threads
 * that each read one span at a time: two reads in flight kept a restore
 * and a cold read through the mount as fast as the kernel's own
 * readahead, where one left the decode workers waiting. */
#define AHEAD 4
#define LOADERS 2
#define MAX_LOADS 4 /* per call: evicted again at once means too little room */

enum span_state { SPAN_FREE, SPAN_LOADING, SPAN_READY };

struct span {
	uint64_t pack, off;    /* off: a multiple of SFS_SPAN_SIZE */
	size_t valid;          /* bytes read; short only at the pack's end */
	enum span_state state;
	unsigned refs;         /* readers copying out, or the one reading it in */
	bool gone;             /* forgotten: found by nobody, reused first */
	bool fresh;            /* read ahead or just read in, no reader started on it */
	uint64_t used;         /* clock of its last use, for LRU */
	uint8_t *buf;          /* SFS_SPAN_SIZE bytes, DIO_ALIGN-aligned, or NULL */
};

struct ahead_job {
	uint64_t pack, off;
	int fd; /* a dup of the reader's direct descriptor */
};

struct sfs_spans {
	atomic_uint_fast64_t nloaded; /* spans read in, for tests */
	pthread_mutex_t lock;  /* guards everything below */
	pthread_cond_t loaded; /* a span left SPAN_LOADING */
	pthread_cond_t work;   /* a job was queued, or stop */
	struct span *s;
	unsigned n;
	uint64_t clock;
	struct ahead_job q[QUEUE_CAP];
	unsigned qhead, qcount;
	pthread_t threads[LOADERS];
	unsigned started;
	bool stop;
};

int sfs_spans_new(unsigned nspans, struct sfs_spans **ret)
{
	struct sfs_spans *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return -ENOMEM;
	sp->s = calloc(nspans, sizeof(*sp->s));
	if (!sp->s) {
		free(sp);
		return -ENOMEM;
	}
	sp->n = nspans;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->loaded, NULL);
	pthread_cond_init(&sp->work, NULL);
	*ret = sp;
	return 0;
}

void sfs_spans_free(struct sfs_spans *sp)
{
	if (!sp)
		return;
	sfs_threads_stop(&sp->lock, &sp->work, &sp->stop, sp->threads, sp->started);
	for (; sp->qcount; sp->qcount--, sp->qhead = (sp->qhead + 1) % QUEUE_CAP)
		close(sp->q[sp->qhead].fd);
	for (unsigned i = 0; i < sp->n; i++)
		free(sp->s[i].buf);
	free(sp->s);
	pthread_cond_destroy(&sp->work);
	pthread_cond_destroy(&sp->loaded);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

/* ---- all under sp->lock ---- */

static struct span *find(struct sfs_spans *sp, uint64_t pack, uint64_t off)
{
	for (unsigned i = 0; i < sp->n; i++) {
		struct span *s = &sp->s[i];
		if (s->state != SPAN_FREE && !s->gone && s->pack == pack && s->off == off)
			return s;
	}
	return NULL;
}

/* The free span, or else the least recently used one nobody holds, with
 * its memory; NULL when every span is held or memory is short. */
static struct span *claim(struct sfs_spans *sp, uint64_t pack, uint64_t off)
{
	struct span *best = NULL;

	for (unsigned i = 0; i < sp->n; i++) {
		struct span *s = &sp->s[i];
		if (s->refs || s->state == SPAN_LOADING)
			continue;
		if (s->state == SPAN_FREE || s->gone) {
			best = s;
			break;
		}
		if (!best || s->used < best->used)
			best = s;
	}
	if (!best)
		return NULL;
	if (!best->buf && posix_memalign((void **)&best->buf, DIO_ALIGN, SFS_SPAN_SIZE) != 0) {
		best->buf = NULL;
		return NULL;
	}
	best->pack = pack;
	best->off = off;
	best->valid = 0;
	best->gone = false;
	best->fresh = true;
	best->state = SPAN_LOADING;
	best->refs = 1;
	best->used = ++sp->clock;
	return best;
}

/* Reads claimed span s in through fd, dropping the lock meanwhile. 0, or
 * -errno with s free again. */
static int load(struct sfs_spans *sp, struct span *s, int fd)
{
	size_t got = 0;
	int r = 0;

	pthread_mutex_unlock(&sp->lock);
	while (got < SFS_SPAN_SIZE) {
		ssize_t n = pread(fd, s->buf + got, SFS_SPAN_SIZE - got, (off_t)(s->off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		got += (size_t)n;
		/* Short only at the end: past an unaligned end there is no
		 * more, and a direct read could not ask for it anyway. */
		if (n == 0 || got % DIO_ALIGN)
			break;
	}
	pthread_mutex_lock(&sp->lock);
	s->refs--;
	if (r < 0 || s->gone) {
		s->state = SPAN_FREE;
		s->gone = false;
	} else {
		s->valid = got;
		s->state = SPAN_READY;
		atomic_fetch_add_explicit(&sp->nloaded, 1, memory_order_relaxed);
	}
	pthread_cond_broadcast(&sp->loaded);
	return r;
}

static void *ahead_main(void *arg)
{
	struct sfs_spans *sp = arg;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		struct ahead_job j;
		struct span *s;

		if (!sp->qcount) {
			pthread_cond_wait(&sp->work, &sp->lock);
			continue;
		}
		j = sp->q[sp->qhead];
		sp->qhead = (sp->qhead + 1) % QUEUE_CAP;
		sp->qcount--;
		if (!find(sp, j.pack, j.off) && (s = claim(sp, j.pack, j.off)))
			(void)load(sp, s, j.fd);
		pthread_mutex_unlock(&sp->lock);
		close(j.fd);
		pthread_mutex_lock(&sp->lock);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

/* Queues the AHEAD spans after the one at off for reading ahead; those
 * present, past a full queue, or past the pack's end are skipped. */
static void queue_ahead(struct sfs_spans *sp, const struct span *at, int dfd)
{
	uint64_t pack = at->pack, off = at->off;

	if (at->valid < SFS_SPAN_SIZE)
		return; /* the pack ended there */
	for (unsigned k = 1; k <= AHEAD && sp->qcount < QUEUE_CAP; k++) {
		uint64_t next = off + (uint64_t)k * SFS_SPAN_SIZE;
		struct ahead_job *j;
		int fd;

		if (find(sp, pack, next))
			continue;
		while (sp->started < LOADERS &&
		       pthread_create(&sp->threads[sp->started], NULL, ahead_main, sp) == 0)
			sp->started++;
		if (!sp->started)
			return;
		fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return;
		j = &sp->q[(sp->qhead + sp->qcount++) % QUEUE_CAP];
		j->pack = pack;
		j->off = next;
		j->fd = fd;
		pthread_cond_signal(&sp->work);
	}
}

/* ---- callers ---- */

ssize_t sfs_spans_read(struct sfs_spans *sp, uint64_t number, int dfd, uint64_t off,
		       const struct iovec *iov, int iovcnt, size_t total)
{
	size_t done = 0;
	unsigned loads = 0;
	int r = -EAGAIN;

	pthread_mutex_lock(&sp->lock);
	while (done < total) {
		uint64_t pos = off + done, soff = pos & ~(uint64_t)(SFS_SPAN_SIZE - 1);
		struct span *s = find(sp, number, soff);
		size_t in = (size_t)(pos - soff), n;

		if (!s) {
			if (loads++ == MAX_LOADS)
				goto out_again;
			s = claim(sp, number, soff);
			if (!s)
				goto out_again;
			r = load(sp, s, dfd);
			if (r < 0)
				goto out_again;
			continue; /* find it again: it may have been forgotten */
		}
		if (s->state == SPAN_LOADING) {
			pthread_cond_wait(&sp->loaded, &sp->lock);
			continue;
		}
		if (s->fresh) {
			s->fresh = false;
			queue_ahead(sp, s, dfd);
		}
		n = total - done;
		if (in + n > s->valid) {
			if (s->valid < SFS_SPAN_SIZE)
				goto out_again; /* the pack's end when read: it may have grown */
			n = s->valid - in;
		}
		s->refs++;
		s->used = ++sp->clock;
		pthread_mutex_unlock(&sp->lock);
		sfs_iov_copy_in(iov, iovcnt, done, s->buf + in, n);
		pthread_mutex_lock(&sp->lock);
		s->refs--;
		done += n;
	}
	pthread_mutex_unlock(&sp->lock);
	return (ssize_t)total;
out_again:
	pthread_mutex_unlock(&sp->lock);
	return r == -EINVAL ? -EINVAL : -EAGAIN;
}

unsigned sfs_spans_forget(struct sfs_spans *sp, uint64_t number)
{
	unsigned n = 0;

	pthread_mutex_lock(&sp->lock);
	for (unsigned i = 0; i < sp->n; i++) {
		struct span *s = &sp->s[i];
		if (s->state == SPAN_FREE || s->gone || s->pack != number)
			continue;
		n++;
		if (s->state == SPAN_READY && !s->refs)
			s->state = SPAN_FREE;
		else
			s->gone = true; /* its reader or copiers let go of it */
	}
	pthread_mutex_unlock(&sp->lock);
	return n;
}

uint64_t sfs_spans_loaded(struct sfs_spans *sp)
{
	return atomic_load_explicit(&sp->nloaded, memory_order_relaxed);
}
