// SPDX-License-Identifier: MIT
/*
 * The reader's decode pool: worker threads that fetch, decompress and
 * verify blocks into the reader's block cache before a read copies them.
 * Decoding a block (pread, zstd, SHA-256) costs far more than copying it,
 * so a multi-block read is fastest when its blocks are decoded on several
 * cores at once, and a sequential reader when the blocks it reads next are
 * decoded while it copies the current ones. Jobs carry chunk ids that the
 * reader resolved, so a worker never walks the map. Two workers, or a
 * worker and a reader, never decode one block twice: the cache's
 * single-flight fill lets the first claim it and the others skip or wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include "snapfs/cache.h"
#include "snapfs/catalog.h"
#include "readahead_int.h"
#include "util_int.h"

#define QUEUE_CAP 1024

struct job {
	struct sfs_id id;
	uint64_t block;
	uint32_t bs;
	char snap[SFS_IDSTR_SIZE]; /* for the log line of a failed decode */
	bool ahead;                /* from the readahead ring, not an urgent one */
	const uint64_t *done;      /* its stream's progress (sfs_ra_pool_push), or NULL */
};

struct ring {
	struct job jobs[QUEUE_CAP];
	size_t head, count;
};

struct sfs_ra_pool {
	struct sfs_reader *reader;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t work;  /* a job was queued, or stop */
	struct ring urgent;   /* blocks a read is waiting for */
	struct ring ahead;    /* blocks a sequential reader will want */
	bool stop;
	pthread_t *threads;
	unsigned nthreads;
};

static bool ring_push(struct ring *r, const char *snap, uint32_t bs, uint64_t block,
		      const struct sfs_id *id, const uint64_t *done)
{
	struct job *j;

	if (r->count == QUEUE_CAP)
		return false;
	j = &r->jobs[(r->head + r->count++) % QUEUE_CAP];
	j->id = *id;
	j->block = block;
	j->bs = bs;
	j->done = done;
	snprintf(j->snap, sizeof(j->snap), "%s", snap);
	return true;
}

static bool ring_pop(struct ring *r, struct job *ret)
{
	if (!r->count)
		return false;
	*ret = r->jobs[r->head];
	r->head = (r->head + 1) % QUEUE_CAP;
	r->count--;
	return true;
}

static void *worker(void *arg)
{
	struct sfs_ra_pool *p = arg;
	struct job j;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct sfs_cache_entry *e;

		if (ring_pop(&p->urgent, &j)) {
			j.ahead = false;
		} else if (ring_pop(&p->ahead, &j)) {
			j.ahead = true;
			/* Its reader has gone past it (decoding it meanwhile):
			 * decoded now, it would only wait in the cache. */
			if (j.done && j.block < __atomic_load_n(j.done, __ATOMIC_ACQUIRE))
				continue;
		} else {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		/* Errors are logged by the reader; the read that needs the
		 * block meets the same error and reports it to its caller. A
		 * block someone else is decoding is theirs: skip it. */
		if (sfs_reader_fill_block(p->reader, j.snap, j.block, j.bs, &j.id,
					  SFS_CACHE_POOL | (j.ahead ? SFS_CACHE_AHEAD : 0), &e) == 0)
			sfs_reader_put_block(p->reader, e);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int sfs_ra_pool_new(struct sfs_reader *r, unsigned nthreads, struct sfs_ra_pool **ret)
{
	struct sfs_ra_pool *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	if (!nthreads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
		if (nthreads > 64)
			nthreads = 64;
	}
	p->reader = r;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->threads) {
		sfs_ra_pool_free(p);
		return -ENOMEM;
	}
	for (; p->nthreads < nthreads; p->nthreads++) {
		err = pthread_create(&p->threads[p->nthreads], NULL, worker, p);
		if (err) {
			sfs_ra_pool_free(p);
			return -err;
		}
	}
	*ret = p;
	return 0;
}

void sfs_ra_pool_free(struct sfs_ra_pool *p)
{
	if (!p)
		return;
	sfs_threads_stop(&p->lock, &p->work, &p->stop, p->threads, p->nthreads);
	free(p->threads);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void sfs_ra_pool_push(struct sfs_ra_pool *p, const char *snap, uint32_t bs, uint64_t first_block,
		      const struct sfs_id *ids, uint64_t n, bool urgent, const uint64_t *done)
{
	struct ring *r = urgent ? &p->urgent : &p->ahead;
	bool queued = false;

	pthread_mutex_lock(&p->lock);
	for (uint64_t i = 0; i < n; i++) {
		if (sfs_id_is_zero(&ids[i]))
			continue;
		if (!ring_push(r, snap, bs, first_block + i, &ids[i], done))
			break;
		queued = true;
	}
	if (queued)
		pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
}

/* Keeps, in order, the jobs of ring r but those of done's stream for
 * blocks first..last. */
static void ring_drop(struct ring *r, const uint64_t *done, uint64_t first, uint64_t last)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->count; i++) {
		struct job *j = &r->jobs[(r->head + i) % QUEUE_CAP];
		if (j->done != done || j->block < first || j->block > last)
			r->jobs[(r->head + kept++) % QUEUE_CAP] = *j;
	}
	r->count = kept;
}

void sfs_ra_pool_forget(struct sfs_ra_pool *p, const uint64_t *done)
{
	if (!p)
		return;
	/* Workers look at a job's done only under the lock, when they pop it. */
	pthread_mutex_lock(&p->lock);
	ring_drop(&p->urgent, done, 0, UINT64_MAX);
	ring_drop(&p->ahead, done, 0, UINT64_MAX);
	pthread_mutex_unlock(&p->lock);
}

void sfs_ra_pool_cancel(struct sfs_ra_pool *p, const uint64_t *done, uint64_t first, uint64_t last)
{
	pthread_mutex_lock(&p->lock);
	ring_drop(&p->urgent, done, first, last);
	pthread_mutex_unlock(&p->lock);
}
