// SPDX-License-Identifier: MIT
/*
 * A batch of chunk reads shared among the caller and its helpers: each
 * thread takes the next entry from an atomic counter, so a slow read (a
 * cold pack, a remote object) holds up only its own thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchread_int.h"
#include "snapfs/chunkstore.h"
#include "store_int.h"
#include "util_int.h"

struct sfs_batchread {
	struct sfs_store *s;
	struct sfs_batch_ent *ents;
	size_t n;
	atomic_size_t next;   /* the next entry to take */
	uint8_t *scratch;     /* the caller's; each helper has its own */
	sfs_batch_then_fn then;
	void *then_ctx;
	pthread_t threads[SFS_BATCHREAD_THREADS_MAX];
	unsigned helpers;     /* threads started beside the caller */
	pthread_mutex_t lock;
	pthread_cond_t go, idle;
	uint64_t gen;         /* batches handed out; guarded by lock */
	unsigned busy;        /* helpers still on this batch; guarded by lock */
	bool quit;            /* guarded by lock */
};

static void read_one(struct sfs_batchread *b, struct sfs_batch_ent *e, uint8_t *scratch)
{
	const void *stored = NULL;
	struct sfs_chunk_loc at = e->loc;
	uint8_t *raw = e->raw ? e->raw : scratch;

	if (e->given) {
		e->r = sfs_store_chunk_verify(b->s, &e->id, e->type, &e->loc, e->given, raw,
					      e->cap ? e->cap : SFS_BLOCK_MAX);
		stored = e->given;
	} else {
		e->r = sfs_store_chunk_read(b->s, &e->id, e->type, e->located ? &at : NULL, raw,
					    e->cap ? e->cap : SFS_BLOCK_MAX, &e->loc,
					    e->stored ? &stored : NULL);
	}
	if (e->r == 0 && e->stored) {
		if (e->loc.stored_len > e->stored_cap)
			e->r = -ENOBUFS;
		else
			memcpy(e->stored, stored, e->loc.stored_len);
	}
	if (e->r == 0 && b->then)
		e->r = b->then(b->then_ctx, e, raw);
}

static void run(struct sfs_batchread *b, uint8_t *scratch)
{
	size_t i;

	while ((i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed)) < b->n)
		read_one(b, &b->ents[i], scratch);
}

static void *helper_main(void *arg)
{
	struct sfs_batchread *b = arg;
	uint8_t *scratch = malloc(SFS_BLOCK_MAX);
	uint64_t seen = 0;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (b->gen == seen && !b->quit)
			pthread_cond_wait(&b->go, &b->lock);
		if (b->quit)
			break;
		seen = b->gen;
		pthread_mutex_unlock(&b->lock);
		if (scratch) /* without one, the others take its share */
			run(b, scratch);
		pthread_mutex_lock(&b->lock);
		if (--b->busy == 0)
			pthread_cond_signal(&b->idle);
	}
	pthread_mutex_unlock(&b->lock);
	free(scratch);
	return NULL;
}

int sfs_batchread_new(struct sfs_store *s, struct sfs_batchread **ret)
{
	struct sfs_batchread *b = calloc(1, sizeof(*b));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want;

	if (!b)
		return -ENOMEM;
	b->scratch = malloc(SFS_BLOCK_MAX);
	if (!b->scratch) {
		free(b);
		return -ENOMEM;
	}
	b->s = s;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->go, NULL);
	pthread_cond_init(&b->idle, NULL);
	want = cpus < 1 ? 0
	       : (unsigned)(cpus > SFS_BATCHREAD_THREADS_MAX ? SFS_BATCHREAD_THREADS_MAX : cpus) - 1;
	while (b->helpers < want &&
	       pthread_create(&b->threads[b->helpers], NULL, helper_main, b) == 0)
		b->helpers++;
	*ret = b;
	return 0;
}

void sfs_batchread_then(struct sfs_batchread *b, sfs_batch_then_fn fn, void *ctx)
{
	b->then = fn;
	b->then_ctx = ctx;
}

void sfs_batchread_start(struct sfs_batchread *b, struct sfs_batch_ent *e, size_t n)
{
	b->ents = e;
	b->n = n;
	atomic_store_explicit(&b->next, 0, memory_order_relaxed);
	if (!n || !b->helpers)
		return;
	pthread_mutex_lock(&b->lock);
	b->gen++;
	b->busy = b->helpers;
	pthread_cond_broadcast(&b->go);
	pthread_mutex_unlock(&b->lock);
}

void sfs_batchread_finish(struct sfs_batchread *b)
{
	run(b, b->scratch);
	pthread_mutex_lock(&b->lock);
	while (b->busy)
		pthread_cond_wait(&b->idle, &b->lock);
	pthread_mutex_unlock(&b->lock);
	b->n = 0;
}

void sfs_batchread_run(struct sfs_batchread *b, struct sfs_batch_ent *e, size_t n)
{
	sfs_batchread_start(b, e, n);
	sfs_batchread_finish(b);
}

int sfs_batchread_pipe(struct sfs_batchread *b, struct sfs_batch_ent *bufs[2], size_t max,
		       const struct sfs_batch_pipe *p)
{
	struct sfs_batch_ent *fill = bufs[0], *held = bufs[1];
	size_t n_held = 0; /* held: read (or being read), not yet drained */
	int n, r = 0;

	while ((n = p->fill(p->ctx, fill, max, held, n_held)) > 0) {
		if (n_held)
			sfs_batchread_finish(b);
		sfs_batchread_start(b, fill, (size_t)n);
		r = p->drain(p->ctx, held, n_held);
		held = fill;
		n_held = (size_t)n;
		fill = held == bufs[0] ? bufs[1] : bufs[0];
		if (r < 0)
			break;
	}
	if (n_held)
		sfs_batchread_finish(b);
	if (n < 0)
		return n;
	return r < 0 ? r : p->drain(p->ctx, held, n_held);
}

void sfs_batchread_free(struct sfs_batchread *b)
{
	if (!b)
		return;
	sfs_threads_stop(&b->lock, &b->go, &b->quit, b->threads, b->helpers);
	pthread_cond_destroy(&b->idle);
	pthread_cond_destroy(&b->go);
	pthread_mutex_destroy(&b->lock);
	free(b->scratch);
	free(b);
}
