// SPDX-License-Identifier: MIT
/*
 * Readahead: a small pool of worker threads that fetch, decompress and
 * verify blocks into the reader's block cache before a read asks for them.
 * Decoding a block (pread, zstd, SHA-256) costs far more than copying it,
 * so a sequential reader is fastest when the blocks it will read next are
 * decoded on the other cores while it copies the current ones. A read that
 * spans several blocks is split the same way, and the reading thread helps
 * with its own blocks instead of idling. The pool tracks the blocks being
 * decoded so that a read waits for a worker's block rather than decoding
 * it a second time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mount_int.h"
#include "snapfs/log.h"

#define QUEUE_CAP 512
#define WINDOW_START 4 /* blocks ahead after the first sequential read */

struct job {
	struct sfs_snapmap map;
	uint64_t block;
	bool cancelled; /* claimed by a reader, which decodes it itself */
};

struct ring {
	struct job jobs[QUEUE_CAP];
	size_t head, count;
};

/* A block some thread is decoding right now; lives on that thread's stack. */
struct inflight {
	const struct sfs_id *root;
	uint64_t block;
	struct inflight *next;
};

struct sfs_ra_pool {
	struct sfs_reader *reader;
	size_t window_bytes;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t work;  /* a job was queued, or stop */
	pthread_cond_t done;  /* an inflight block finished */
	struct ring urgent;   /* blocks a read is waiting for */
	struct ring ahead;    /* blocks a sequential reader will want */
	struct inflight *running;
	bool stop;
	pthread_t *threads;
	unsigned nthreads;
};

static bool same_block(const struct sfs_id *root, uint64_t block, const struct sfs_snapmap *m,
		       uint64_t b)
{
	return block == b && !memcmp(root->b, m->root.b, SFS_ID_LEN);
}

static struct job *ring_find(struct ring *r, const struct sfs_snapmap *m, uint64_t block)
{
	for (size_t i = 0; i < r->count; i++) {
		struct job *j = &r->jobs[(r->head + i) % QUEUE_CAP];
		if (!j->cancelled && same_block(&j->map.root, j->block, m, block))
			return j;
	}
	return NULL;
}

static bool ring_push(struct ring *r, const struct sfs_snapmap *m, uint64_t block)
{
	struct job *j;

	if (r->count == QUEUE_CAP)
		return false;
	j = &r->jobs[(r->head + r->count++) % QUEUE_CAP];
	j->map = *m;
	j->block = block;
	j->cancelled = false;
	return true;
}

static bool ring_pop(struct ring *r, struct job *ret)
{
	while (r->count) {
		struct job *j = &r->jobs[r->head];
		r->head = (r->head + 1) % QUEUE_CAP;
		r->count--;
		if (!j->cancelled) {
			*ret = *j;
			return true;
		}
	}
	return false;
}

static bool is_running(struct sfs_ra_pool *p, const struct sfs_snapmap *m, uint64_t block)
{
	for (struct inflight *f = p->running; f; f = f->next)
		if (same_block(f->root, f->block, m, block))
			return true;
	return false;
}

static bool is_known(struct sfs_ra_pool *p, const struct sfs_snapmap *m, uint64_t block)
{
	return is_running(p, m, block) || ring_find(&p->urgent, m, block) ||
	       ring_find(&p->ahead, m, block);
}

static void inflight_remove(struct sfs_ra_pool *p, struct inflight *f)
{
	for (struct inflight **pp = &p->running; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	pthread_cond_broadcast(&p->done);
}

/* Decodes one block into the cache with the pool unlocked; called and
 * returns with p->lock held. */
static void decode_unlocked(struct sfs_ra_pool *p, const struct sfs_snapmap *m, uint64_t block)
{
	struct inflight f = { &m->root, block, p->running };

	p->running = &f;
	pthread_mutex_unlock(&p->lock);
	/* Errors are logged by the reader; the read that needs the block
	 * meets the same error and reports it to its caller. */
	(void)sfs_reader_prefetch(p->reader, m, block);
	pthread_mutex_lock(&p->lock);
	inflight_remove(p, &f);
}

static void *worker(void *arg)
{
	struct sfs_ra_pool *p = arg;
	struct job j;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (!ring_pop(&p->urgent, &j) && !ring_pop(&p->ahead, &j)) {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		decode_unlocked(p, &j.map, j.block);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int sfs_ra_pool_new(struct sfs_reader *r, unsigned nthreads, size_t window_bytes,
		    struct sfs_ra_pool **ret)
{
	struct sfs_ra_pool *p = calloc(1, sizeof(*p));
	int err = 0;

	if (!p)
		return -ENOMEM;
	if (!nthreads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
		if (nthreads > 64)
			nthreads = 64;
	}
	p->reader = r;
	p->window_bytes = window_bytes;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
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
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void sfs_ra_state_init(struct sfs_ra_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
}

void sfs_ra_state_release(struct sfs_ra_state *st)
{
	pthread_mutex_destroy(&st->lock);
}

/* Updates the reader's pattern and returns the blocks to read ahead,
 * [*ret_from, *ret_to). The kernel issues readahead for one file from
 * several threads, so reads arrive slightly out of order: anything within
 * the window of where the last read ended counts as sequential. */
static void plan_ahead(struct sfs_ra_pool *p, struct sfs_ra_state *st,
		       const struct sfs_snapmap *m, uint64_t off, size_t len, uint64_t *ret_from,
		       uint64_t *ret_to)
{
	uint64_t bs = m->block_size, nb = (m->size + bs - 1) / bs;
	uint64_t last = (off + len - 1) / bs, max_window = p->window_bytes / bs;
	uint64_t slack;

	pthread_mutex_lock(&st->lock);
	slack = (uint64_t)(st->window + 1) * bs + len;
	if (off + slack >= st->next_off && off <= st->next_off + slack) {
		uint64_t w = st->window ? (uint64_t)st->window * 2 : WINDOW_START;
		st->window = (uint32_t)(w < max_window ? w : max_window);
	} else {
		st->window = 0;
		st->next_block = last + 1;
	}
	if (off + len > st->next_off)
		st->next_off = off + len;
	*ret_from = st->next_block > last + 1 ? st->next_block : last + 1;
	*ret_to = last + 1 + st->window;
	if (*ret_to > nb)
		*ret_to = nb;
	if (*ret_to > *ret_from)
		st->next_block = *ret_to;
	pthread_mutex_unlock(&st->lock);
}

void sfs_ra_before_read(struct sfs_ra_pool *p, struct sfs_ra_state *st,
			const struct sfs_snapmap *m, uint64_t off, size_t len)
{
	uint64_t bs = m->block_size, first, last, from = 0, to = 0;
	bool queued = false;

	if (!len || off >= m->size || sfs_id_is_zero(&m->root))
		return;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	first = off / bs;
	last = (off + len - 1) / bs;
	if (p->window_bytes >= bs)
		plan_ahead(p, st, m, off, len, &from, &to);

	pthread_mutex_lock(&p->lock);
	/* The first block is the caller's own work; the others go to the
	 * workers, ahead of any readahead. */
	for (uint64_t b = first + 1; b <= last; b++)
		if (!is_known(p, m, b))
			queued |= ring_push(&p->urgent, m, b);
	for (uint64_t b = from; b < to; b++) {
		if (is_known(p, m, b))
			continue;
		if (!ring_push(&p->ahead, m, b))
			break; /* full: the reader will decode these itself */
		queued = true;
	}
	if (queued)
		pthread_cond_broadcast(&p->work);

	/* Help with this read's blocks that no worker has started, then wait
	 * for those that one has. */
	for (;;) {
		bool waiting = false, helped = false;

		for (uint64_t b = first; b <= last && !helped; b++) {
			struct job *j = ring_find(&p->urgent, m, b);

			if (!j)
				j = ring_find(&p->ahead, m, b);
			if (j) {
				j->cancelled = true;
				decode_unlocked(p, m, b);
				helped = true;
			} else if (is_running(p, m, b)) {
				waiting = true;
			}
		}
		if (helped)
			continue;
		if (!waiting)
			break;
		pthread_cond_wait(&p->done, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}
