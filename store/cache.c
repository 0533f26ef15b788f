// SPDX-License-Identifier: MIT
/*
 * The chunk cache: 32 shards, each a hash table with an LRU list under its
 * own mutex, so that threads reading different blocks rarely meet. The
 * shard is picked by the first bytes of the id, which are uniformly
 * distributed (SHA-256).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/cache.h"

#define SHARDS 32

struct sfs_cache_entry {
	struct sfs_id id;
	struct sfs_cache_entry *hnext;             /* hash chain */
	struct sfs_cache_entry *lru_prev, *lru_next; /* LRU: head = most recent */
	unsigned refs;  /* holders, plus 1 while linked in the shard */
	bool linked;
	size_t len;
	uint8_t data[];
};

struct shard {
	pthread_mutex_t lock; /* guards everything below and entries' links and refs */
	struct sfs_cache_entry **table;
	size_t nbuckets;
	struct sfs_cache_entry *lru_head, *lru_tail;
	size_t bytes;
	size_t capacity;
	uint64_t hits, misses;
};

struct sfs_cache {
	struct shard shards[SHARDS];
};

static struct shard *shard_of(struct sfs_cache *c, const struct sfs_id *id)
{
	return &c->shards[id->b[0] % SHARDS];
}

static size_t bucket_of(const struct shard *s, const struct sfs_id *id)
{
	uint64_t h;

	memcpy(&h, id->b + 8, sizeof(h));
	return (size_t)(h % s->nbuckets);
}

struct sfs_cache *sfs_cache_new(size_t capacity)
{
	struct sfs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->capacity = capacity / SHARDS;
		s->nbuckets = 1024;
		s->table = calloc(s->nbuckets, sizeof(*s->table));
		if (!s->table) {
			sfs_cache_free(c);
			return NULL;
		}
	}
	return c;
}

void sfs_cache_free(struct sfs_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		struct sfs_cache_entry *e = s->lru_head, *n;
		for (; e; e = n) {
			n = e->lru_next;
			free(e);
		}
		free(s->table);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

static void lru_unlink(struct shard *s, struct sfs_cache_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		s->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct shard *s, struct sfs_cache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = s->lru_head;
	if (s->lru_head)
		s->lru_head->lru_prev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
}

static void hash_unlink(struct shard *s, struct sfs_cache_entry *e)
{
	struct sfs_cache_entry **pp = &s->table[bucket_of(s, &e->id)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			return;
		}
	}
}

static struct sfs_cache_entry *lookup(struct shard *s, const struct sfs_id *id)
{
	struct sfs_cache_entry *e = s->table[bucket_of(s, id)];

	for (; e; e = e->hnext)
		if (!memcmp(e->id.b, id->b, SFS_ID_LEN))
			return e;
	return NULL;
}

/* Unlinks least recently used entries until the shard fits; entries still
 * held are freed by their last sfs_cache_put. Keeps at least the newest. */
static void evict(struct shard *s)
{
	while (s->bytes > s->capacity && s->lru_tail && s->lru_tail != s->lru_head) {
		struct sfs_cache_entry *e = s->lru_tail;

		lru_unlink(s, e);
		hash_unlink(s, e);
		e->linked = false;
		s->bytes -= e->len;
		if (--e->refs == 0)
			free(e);
	}
}

struct sfs_cache_entry *sfs_cache_get(struct sfs_cache *c, const struct sfs_id *id)
{
	struct shard *s = shard_of(c, id);
	struct sfs_cache_entry *e;

	pthread_mutex_lock(&s->lock);
	e = lookup(s, id);
	if (e) {
		e->refs++;
		lru_unlink(s, e);
		lru_push_front(s, e);
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

struct sfs_cache_entry *sfs_cache_entry_new(size_t len)
{
	struct sfs_cache_entry *e = malloc(sizeof(*e) + len);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->len = len;
	return e;
}

void *sfs_cache_entry_data(struct sfs_cache_entry *e)
{
	return e->data;
}

void sfs_cache_entry_free(struct sfs_cache_entry *e)
{
	free(e);
}

struct sfs_cache_entry *sfs_cache_add(struct sfs_cache *c, const struct sfs_id *id,
				      struct sfs_cache_entry *e)
{
	struct shard *s = shard_of(c, id);
	struct sfs_cache_entry *old;

	e->id = *id;
	e->refs = 2; /* the shard's link and the caller */
	e->linked = true;
	e->lru_prev = e->lru_next = NULL;

	pthread_mutex_lock(&s->lock);
	old = lookup(s, id);
	if (old) {
		old->refs++;
		pthread_mutex_unlock(&s->lock);
		free(e);
		return old;
	}
	{
		size_t b = bucket_of(s, id);
		e->hnext = s->table[b];
		s->table[b] = e;
	}
	lru_push_front(s, e);
	s->bytes += e->len;
	evict(s);
	pthread_mutex_unlock(&s->lock);
	return e;
}

struct sfs_cache_entry *sfs_cache_insert(struct sfs_cache *c, const struct sfs_id *id,
					 const void *data, size_t len)
{
	struct sfs_cache_entry *e = sfs_cache_entry_new(len);

	if (!e)
		return NULL;
	memcpy(e->data, data, len);
	return sfs_cache_add(c, id, e);
}

void sfs_cache_put(struct sfs_cache *c, struct sfs_cache_entry *e)
{
	struct shard *s;
	bool last;

	if (!e)
		return;
	s = shard_of(c, &e->id);
	pthread_mutex_lock(&s->lock);
	last = --e->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		free(e);
}

const void *sfs_cache_data(const struct sfs_cache_entry *e)
{
	return e->data;
}

size_t sfs_cache_len(const struct sfs_cache_entry *e)
{
	return e->len;
}

void sfs_cache_stats(struct sfs_cache *c, size_t *ret_bytes, uint64_t *ret_hits,
		     uint64_t *ret_misses)
{
	size_t bytes = 0;
	uint64_t hits = 0, misses = 0;

	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		bytes += s->bytes;
		hits += s->hits;
		misses += s->misses;
		pthread_mutex_unlock(&s->lock);
	}
	*ret_bytes = bytes;
	*ret_hits = hits;
	*ret_misses = misses;
}
