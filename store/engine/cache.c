// SPDX-License-Identifier: MIT
/*
 * The chunk cache: 32 shards, each a hash table with an LRU list under its
 * own mutex, so that threads reading different blocks rarely meet. The
 * shard is picked by the first bytes of the id, which are uniformly
 * distributed (SHA-256). An entry being filled sits in the table in the
 * FILLING state so that other readers of the same chunk wait on the
 * shard's condition variable for that one decode instead of starting
 * their own; a failed fill is unlinked and its error handed to the
 * waiters, never kept.
 *
 * The entries of the size most of them have (the blocks of a block
 * cache) are slots of large mappings that the kernel may back with
 * transparent huge pages, reused through a free list: filling a 256 MiB
 * cache of 32 KiB blocks then takes about 130 page faults, not 65,536,
 * and an evicted entry's memory is the next one's. A mapping holds the
 * slots' data first and their headers after it, so that the data of a
 * slot whose size is a multiple of the page size is page-aligned, as a
 * write past the page cache (O_DIRECT) needs it. Other sizes, and
 * entries made before the cache knows its size, come from malloc.
 *
 * The first write to fresh memory costs the kernel a zeroed page, and a
 * huge page costs 0.2-5 ms on a virtual machine: filling a mount's
 * 256 MiB cache spent about 0.5 s of a random reader's time in those
 * faults. A cache told to (sfs_cache_prefault) has a thread of its own
 * fault its regions in ahead of use, and the first 2 MiB of the first
 * region and the part of it where the headers are stay small pages, so
 * that the first read of a fresh mount waits for 4 KiB pages, not huge
 * ones.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "snapfs/cache.h"
#include "util_int.h"

#define SHARDS 32

enum { ENTRY_READY, ENTRY_FILLING, ENTRY_FAILED };

struct slots;

struct sfs_cache_entry {
	struct sfs_id id;
	struct slots *slots; /* the pool it is a slot of; NULL: malloc'd */
	int state;      /* ENTRY_*, guarded by the shard lock */
	int err;        /* the fill's error, when FAILED */
	struct sfs_cache_entry *hnext;             /* hash chain */
	struct sfs_cache_entry *lru_prev, *lru_next; /* LRU: head = most recent */
	unsigned refs;  /* holders, plus 1 while linked in the shard */
	bool linked;
	bool ahead;     /* filled ahead and not used yet (SFS_CACHE_AHEAD) */
	bool doomed;    /* used up (sfs_cache_put_used): its last put but the link drops it */
	size_t len;
	uint8_t *data;  /* len bytes: a slot's in its region, else right after this */
};

struct shard {
	pthread_mutex_t lock; /* guards everything below and entries' links, refs, state */
	pthread_cond_t filled; /* an entry of this shard left the FILLING state */
	struct sfs_cache_entry **table;
	struct sfs_cache_entry *lru_head, *lru_tail;
	size_t bytes;
	size_t capacity;
	uint64_t hits, misses;
	uint64_t ahead_fills, ahead_hits;
};

#define REGION_BYTES (32u << 20) /* one mapping of slots */
#define SLOTS_MIN_LEN 4096u      /* smaller entries come from malloc */

struct slots {
	pthread_mutex_t lock; /* guards everything below */
	size_t len;           /* data bytes of a slot; 0 until the first claim */
	size_t dstride;       /* bytes between slots' data */
	size_t hstride;       /* bytes between slots' headers */
	size_t per_region;    /* slots in a region */
	void *free;           /* free slots' headers, linked through their first word */
	uint8_t *cur;         /* the newest region */
	size_t used;          /* slots of it handed out */
	void **regions;       /* every mapping, for sfs_cache_free */
	size_t nregions;
	/* faulting in ahead of use (sfs_cache_prefault) */
	size_t bound;         /* the cache's capacity in bytes */
	size_t max_slots;     /* slots the bound holds: what is worth faulting in */
	bool prefault;        /* a filler is to start (cleared when it does) */
	bool filler_on, filler_stop;
	pthread_t filler;
	pthread_cond_t wake;  /* the filler has work, or is to stop */
	size_t ready;         /* bytes from the start of cur the filler has faulted in */
	uint8_t *spare;       /* the next region, mapped and faulted in */
};

struct sfs_cache {
	struct shard shards[SHARDS];
	struct slots slots;
	void *tables; /* every shard's buckets, one anonymous mapping */
};

#define BUCKETS 1024 /* per shard: 256 entries of a 256 MiB cache of 32 KiB blocks */
#define TABLES_BYTES (SHARDS * BUCKETS * sizeof(struct sfs_cache_entry *))

_Static_assert(REGION_BYTES % SFS_HUGE_PAGE == 0, "regions are whole huge pages");

/* A region's mapping (sfs_huge_map's): huge pages asked for but in its
 * first `head` and last `tail` bytes, which stay small pages (best
 * effort: without huge pages the slots work the same). */
static uint8_t *region_map(size_t head, size_t tail)
{
	uint8_t *m = sfs_huge_map(REGION_BYTES);

	if (!m)
		return NULL;
	if (head)
		madvise(m, head, MADV_NOHUGEPAGE);
	if (tail)
		madvise(m + REGION_BYTES - tail, tail, MADV_NOHUGEPAGE);
	return m;
}

/* A new region of slots (the filler's spare when it has one); false
 * when none can be mapped. Called with p->lock held. */
static bool slots_grow(struct slots *p)
{
	void **regions = realloc(p->regions, (p->nregions + 1) * sizeof(*regions));
	uint8_t *m;

	if (!regions)
		return false;
	p->regions = regions;
	if (p->spare) {
		m = p->spare;
		p->spare = NULL;
		p->ready = REGION_BYTES;
	} else {
		/* The first region's first slots and every header (after
		 * all the data) stay small pages: a fresh mount's first
		 * read is not to wait for a huge page to be cleared. */
		size_t hdr = (p->per_region * p->dstride) & ~(size_t)(SFS_HUGE_PAGE - 1);

		if (hdr < SFS_HUGE_PAGE)
			hdr = SFS_HUGE_PAGE;

		m = p->nregions ? region_map(0, 0) : region_map(SFS_HUGE_PAGE, REGION_BYTES - hdr);
		if (!m)
			return false;
		p->ready = 0;
	}
	p->regions[p->nregions++] = m;
	p->cur = m;
	p->used = 0;
	pthread_cond_signal(&p->wake);
	return true;
}

/* Faults in bytes [from, to) of region m, data and headers of the slots
 * that the cache's bound lets it hold. Called without the lock. */
static void region_fault_in(const struct slots *p, uint8_t *m, size_t slots, size_t from,
			    size_t to)
{
	size_t data_end = slots * p->dstride;

	if (from < data_end)
		madvise(m + from, (to < data_end ? to : data_end) - from, MADV_POPULATE_WRITE);
	if (to >= data_end)
		madvise(m + p->per_region * p->dstride, slots * p->hstride, MADV_POPULATE_WRITE);
}

/* Slots of region number i that the cache's bound can fill. */
static size_t region_slots(const struct slots *p, size_t i)
{
	size_t before = i * p->per_region;

	if (before >= p->max_slots)
		return 0;
	return p->max_slots - before < p->per_region ? p->max_slots - before : p->per_region;
}

/*
 * The filler: faults in the current region ahead of the slots handed out,
 * 2 MiB at a time, then maps and faults in the next region once half of
 * the current one is in use, as long as the cache's bound can use it.
 * Errors (no MADV_POPULATE_WRITE before Linux 5.14, no memory) only leave
 * the faults to the readers, as without it.
 */
static void *filler_main(void *arg)
{
	struct slots *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->filler_stop) {
		size_t slots = region_slots(p, p->nregions - 1);
		size_t end = slots * p->dstride;
		size_t at = p->used * p->dstride;

		if (p->cur && p->ready < end) {
			uint8_t *m = p->cur;
			size_t from = (at > p->ready ? at : p->ready) & ~(size_t)(SFS_HUGE_PAGE - 1);
			size_t to = from + SFS_HUGE_PAGE;

			if (from < p->ready)
				from = p->ready;
			if (to > end)
				to = end;
			p->ready = to;
			pthread_mutex_unlock(&p->lock);
			if (from < to)
				region_fault_in(p, m, slots, from, to);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		slots = region_slots(p, p->nregions);
		if (p->cur && !p->spare && slots && p->used >= p->per_region / 2) {
			uint8_t *m;

			pthread_mutex_unlock(&p->lock);
			m = region_map(0, 0);
			if (m)
				region_fault_in(p, m, slots, 0, slots * p->dstride);
			pthread_mutex_lock(&p->lock);
			if (!m)
				break;
			if (p->filler_stop) {
				sfs_huge_unmap(m, REGION_BYTES);
				break;
			}
			p->spare = m;
			continue;
		}
		if (!region_slots(p, p->nregions) && p->ready >= end)
			break; /* the cache's bound is mapped and faulted in */
		pthread_cond_wait(&p->wake, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Sizes a slot of len bytes: data on page boundaries when len is a
 * multiple of the page size, on cache lines otherwise; headers on cache
 * lines after all the data. false when not even one fits a region. */
static bool slots_size(struct slots *p, size_t len)
{
	p->dstride = len % 4096 == 0 ? len : (len + 63) & ~(size_t)63;
	p->hstride = (sizeof(struct sfs_cache_entry) + 63) & ~(size_t)63;
	p->per_region = REGION_BYTES / (p->dstride + p->hstride);
	return p->per_region > 0;
}

/* An unlinked entry of len data bytes: a slot when len is the slots'
 * size (the first claim of at least SLOTS_MIN_LEN sets it), else malloc'd. */
static struct sfs_cache_entry *entry_alloc(struct slots *p, size_t len)
{
	struct sfs_cache_entry *e = NULL;
	uint8_t *data = NULL;

	if (p && len >= SLOTS_MIN_LEN) {
		pthread_mutex_lock(&p->lock);
		if (!p->len) {
			p->len = slots_size(p, len) ? len : SIZE_MAX;
			p->max_slots = p->bound / len + 1;
		}
		if (len == p->len) {
			if (p->free) {
				e = p->free;
				p->free = *(void **)p->free;
				data = e->data;
			} else if ((p->cur && p->used < p->per_region) || slots_grow(p)) {
				e = (struct sfs_cache_entry *)(p->cur + p->per_region * p->dstride +
							       p->used * p->hstride);
				data = p->cur + p->used * p->dstride;
				if (++p->used == p->per_region / 2 && p->filler_on)
					pthread_cond_signal(&p->wake); /* time for a spare */
				/* The filler starts once the small pages at the
				 * start are used: a fresh mount's first read is
				 * not to share the CPU with it. */
				if (p->prefault &&
				    (p->nregions > 1 || p->used * p->dstride >= SFS_HUGE_PAGE)) {
					p->prefault = false; /* one try */
					p->filler_on = pthread_create(&p->filler, NULL, filler_main,
								      p) == 0;
				}
			}
		}
		pthread_mutex_unlock(&p->lock);
		if (e) {
			memset(e, 0, sizeof(*e));
			e->slots = p;
			e->len = len;
			e->data = data;
			return e;
		}
	}
	e = malloc(sizeof(*e) + len);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->len = len;
	e->data = (uint8_t *)(e + 1);
	return e;
}

static void entry_release(struct sfs_cache_entry *e)
{
	struct slots *p;

	if (!e)
		return;
	p = e->slots;
	if (!p) {
		free(e);
		return;
	}
	pthread_mutex_lock(&p->lock);
	*(void **)e = p->free;
	p->free = e;
	pthread_mutex_unlock(&p->lock);
}

static struct shard *shard_of(struct sfs_cache *c, const struct sfs_id *id)
{
	return &c->shards[id->b[0] % SHARDS];
}

static size_t bucket_of(const struct sfs_id *id)
{
	uint64_t h;

	memcpy(&h, id->b + 8, sizeof(h));
	return (size_t)(h % BUCKETS);
}

struct sfs_cache *sfs_cache_new(size_t capacity)
{
	struct sfs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->slots.lock, NULL);
	pthread_cond_init(&c->slots.wake, NULL);
	c->slots.bound = capacity;
	/* The buckets come zeroed from the kernel and a page of them is
	 * faulted in when first used: calloc'd shard by shard they cost a
	 * mount 130 page faults before its first answer (about 2 ms where
	 * a fault takes 15 us, as on a virtual machine). */
	c->tables = mmap(NULL, TABLES_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->tables == MAP_FAILED) {
		c->tables = NULL;
		sfs_cache_free(c);
		return NULL;
	}
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		pthread_cond_init(&s->filled, NULL);
		s->capacity = capacity / SHARDS;
		s->table = (struct sfs_cache_entry **)c->tables + (size_t)i * BUCKETS;
	}
	return c;
}

void sfs_cache_prefault(struct sfs_cache *c)
{
	pthread_mutex_lock(&c->slots.lock);
	c->slots.prefault = true;
	pthread_mutex_unlock(&c->slots.lock);
}

void sfs_cache_free(struct sfs_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->slots.lock);
	c->slots.filler_stop = true;
	pthread_cond_signal(&c->slots.wake);
	pthread_mutex_unlock(&c->slots.lock);
	if (c->slots.filler_on)
		pthread_join(c->slots.filler, NULL);
	if (c->slots.spare)
		sfs_huge_unmap(c->slots.spare, REGION_BYTES);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		struct sfs_cache_entry *e = s->lru_head, *n;
		for (; e; e = n) {
			n = e->lru_next;
			entry_release(e);
		}
		pthread_cond_destroy(&s->filled);
		pthread_mutex_destroy(&s->lock);
	}
	if (c->tables)
		munmap(c->tables, TABLES_BYTES);
	for (size_t i = 0; i < c->slots.nregions; i++)
		sfs_huge_unmap(c->slots.regions[i], REGION_BYTES);
	free(c->slots.regions);
	pthread_cond_destroy(&c->slots.wake);
	pthread_mutex_destroy(&c->slots.lock);
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
	struct sfs_cache_entry **pp = &s->table[bucket_of(&e->id)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			return;
		}
	}
}

static struct sfs_cache_entry *lookup(struct shard *s, const struct sfs_id *id)
{
	struct sfs_cache_entry *e = s->table[bucket_of(id)];

	for (; e; e = e->hnext)
		if (!memcmp(e->id.b, id->b, SFS_ID_LEN))
			return e;
	return NULL;
}

static void unlink_entry(struct shard *s, struct sfs_cache_entry *e)
{
	lru_unlink(s, e);
	hash_unlink(s, e);
	e->linked = false;
	s->bytes -= e->len;
}

/* Unlinks least recently used entries until the shard fits; entries still
 * held are freed by their last sfs_cache_put. Keeps at least the newest,
 * and entries being filled, whose readers wait on them in the table. */
static void evict(struct shard *s)
{
	struct sfs_cache_entry *e = s->lru_tail, *prev;

	for (; e && e != s->lru_head && s->bytes > s->capacity; e = prev) {
		prev = e->lru_prev;
		if (e->state != ENTRY_READY)
			continue;
		unlink_entry(s, e);
		if (--e->refs == 0)
			entry_release(e);
	}
}

/* Waits, with s->lock held, until e (held by the caller) is no longer
 * being filled. 0 when it is ready; else the fill's error, with the
 * caller's hold dropped. */
static int wait_filled(struct shard *s, struct sfs_cache_entry *e)
{
	int err;

	while (e->state == ENTRY_FILLING)
		pthread_cond_wait(&s->filled, &s->lock);
	if (e->state == ENTRY_READY)
		return 0;
	err = e->err;
	if (--e->refs == 0)
		entry_release(e);
	return err;
}

struct sfs_cache_entry *sfs_cache_get(struct sfs_cache *c, const struct sfs_id *id)
{
	struct shard *s = shard_of(c, id);
	struct sfs_cache_entry *e;

	pthread_mutex_lock(&s->lock);
	e = lookup(s, id);
	if (e && e->state != ENTRY_READY)
		e = NULL;
	if (e) {
		e->refs++;
		lru_unlink(s, e);
		lru_push_front(s, e);
		e->doomed = false; /* wanted again */
		s->hits++;
		if (e->ahead) {
			e->ahead = false;
			s->ahead_hits++;
		}
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

struct sfs_cache_entry *sfs_cache_entry_new(size_t len)
{
	return entry_alloc(NULL, len);
}

void *sfs_cache_entry_data(struct sfs_cache_entry *e)
{
	return e->data;
}

void sfs_cache_entry_free(struct sfs_cache_entry *e)
{
	entry_release(e);
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

	e->state = ENTRY_READY;
	pthread_mutex_lock(&s->lock);
	while ((old = lookup(s, id)) != NULL) {
		old->refs++;
		if (wait_filled(s, old) < 0)
			continue; /* that fill failed and left: look again */
		pthread_mutex_unlock(&s->lock);
		entry_release(e);
		return old;
	}
	{
		size_t b = bucket_of(id);
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
	struct sfs_cache_entry *e = entry_alloc(&c->slots, len);

	if (!e)
		return NULL;
	memcpy(e->data, data, len);
	return sfs_cache_add(c, id, e);
}

int sfs_cache_get_or_claim(struct sfs_cache *c, const struct sfs_id *id, size_t len, unsigned flags,
			   struct sfs_cache_entry **ret_e)
{
	struct shard *s = shard_of(c, id);
	struct sfs_cache_entry *e, *fresh = NULL;
	int ret;

	*ret_e = NULL;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		e = lookup(s, id);
		if (e)
			break;
		if (fresh) {
			e = fresh;
			e->id = *id;
			e->state = ENTRY_FILLING;
			e->ahead = flags & SFS_CACHE_AHEAD;
			e->refs = 2; /* the shard's link and the filler */
			e->linked = true;
			e->hnext = s->table[bucket_of(id)];
			s->table[bucket_of(id)] = e;
			lru_push_front(s, e);
			s->bytes += e->len;
			s->misses++;
			pthread_mutex_unlock(&s->lock);
			*ret_e = e;
			return SFS_CACHE_CLAIMED;
		}
		/* Allocate unlocked, then look again: another reader may have
		 * claimed the chunk meanwhile. */
		pthread_mutex_unlock(&s->lock);
		fresh = entry_alloc(&c->slots, len);
		if (!fresh)
			return -ENOMEM;
	}
	if (e->state == ENTRY_FILLING && !(flags & SFS_CACHE_WAIT)) {
		ret = SFS_CACHE_BUSY;
	} else {
		e->refs++;
		ret = wait_filled(s, e);
		if (ret == 0) {
			/* Eviction may have unlinked it while this thread waited. */
			if (e->linked) {
				lru_unlink(s, e);
				lru_push_front(s, e);
			}
			/* A reader, not a decode pool's job, wants it again. */
			if (!(flags & SFS_CACHE_POOL))
				e->doomed = false;
			s->hits++;
			/* Readahead meeting its own blocks is no hit of it. */
			if (e->ahead && !(flags & SFS_CACHE_AHEAD)) {
				e->ahead = false;
				s->ahead_hits++;
			}
			*ret_e = e;
			ret = SFS_CACHE_HIT;
		}
		/* Else the one decode this reader waited for failed: it gets
		 * that error, as the filler did; the next reader tries afresh. */
	}
	pthread_mutex_unlock(&s->lock);
	entry_release(fresh);
	return ret;
}

void sfs_cache_fill_done(struct sfs_cache *c, struct sfs_cache_entry *e, size_t len, int err)
{
	struct shard *s = shard_of(c, &e->id);
	bool last = false;

	pthread_mutex_lock(&s->lock);
	if (err < 0) {
		e->state = ENTRY_FAILED;
		e->err = err;
		if (e->linked) {
			unlink_entry(s, e);
			e->refs--;
		}
		last = --e->refs == 0; /* the filler's hold */
	} else {
		if (e->linked && len < e->len)
			s->bytes -= e->len - len;
		if (len < e->len)
			e->len = len;
		e->state = ENTRY_READY;
		if (e->ahead)
			s->ahead_fills++;
		evict(s);
	}
	pthread_cond_broadcast(&s->filled);
	pthread_mutex_unlock(&s->lock);
	if (last)
		entry_release(e);
}

/* Drops a hold, with s->lock held; true when it was the last. A doomed
 * entry leaves the cache when only its link holds it. */
static bool put_locked(struct shard *s, struct sfs_cache_entry *e)
{
	if (e->doomed && e->linked && e->refs == 2) {
		unlink_entry(s, e);
		e->refs--;
	}
	return --e->refs == 0;
}

/* sfs_cache_put, and with used sfs_cache_put_used. */
static void put(struct sfs_cache *c, struct sfs_cache_entry *e, bool used)
{
	struct shard *s;
	bool last;

	if (!e)
		return;
	s = shard_of(c, &e->id);
	pthread_mutex_lock(&s->lock);
	if (used && e->state == ENTRY_READY)
		e->doomed = true;
	last = put_locked(s, e);
	pthread_mutex_unlock(&s->lock);
	if (last)
		entry_release(e);
}

void sfs_cache_put(struct sfs_cache *c, struct sfs_cache_entry *e)
{
	put(c, e, false);
}

void sfs_cache_put_used(struct sfs_cache *c, struct sfs_cache_entry *e)
{
	put(c, e, true);
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

void sfs_cache_ahead_stats(struct sfs_cache *c, uint64_t *ret_fills, uint64_t *ret_hits)
{
	uint64_t fills = 0, hits = 0;

	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		fills += s->ahead_fills;
		hits += s->ahead_hits;
		pthread_mutex_unlock(&s->lock);
	}
	*ret_fills = fills;
	*ret_hits = hits;
}
