// SPDX-License-Identifier: MIT
/*
 * The chunk cache: hits and misses, the capacity bound under eviction,
 * held entries surviving eviction, and refcounts under many threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "snapfs/cache.h"
#include "fixture.h"

static struct sfs_id key(uint64_t i)
{
	struct sfs_id id;
	uint8_t b[8];

	memcpy(b, &i, sizeof(b));
	sfs_chunk_hash(b, sizeof(b), &id);
	return id;
}

Test(cache, get_insert_put)
{
	struct sfs_cache *c = sfs_cache_new(1 << 20);
	struct sfs_id k = key(1);
	struct sfs_cache_entry *e, *e2;
	size_t bytes;
	uint64_t hits, misses;
	char data[100];

	memset(data, 'x', sizeof(data));
	cr_assert_null(sfs_cache_get(c, &k));
	e = sfs_cache_insert(c, &k, data, sizeof(data));
	cr_assert_not_null(e);
	cr_assert_eq(sfs_cache_len(e), sizeof(data));
	cr_assert_arr_eq(sfs_cache_data(e), data, sizeof(data));
	data[0] = 'y'; /* the cache holds a copy */
	cr_assert_eq(((const char *)sfs_cache_data(e))[0], 'x');
	e2 = sfs_cache_get(c, &k);
	cr_assert_eq(e2, e);
	/* A second insert of the same id returns the first entry. */
	cr_assert_eq(sfs_cache_insert(c, &k, data, sizeof(data)), e);
	sfs_cache_put(c, e);
	sfs_cache_put(c, e);
	sfs_cache_put(c, e2);
	sfs_cache_put(c, NULL);
	sfs_cache_stats(c, &bytes, &hits, &misses);
	cr_assert_eq(bytes, sizeof(data));
	cr_assert_eq(hits, 1);
	cr_assert_eq(misses, 1);
	sfs_cache_free(c);
	sfs_cache_free(NULL);
}

#define SHARDS 32 /* the cache's sharding; the bound allows one entry per shard extra */

Test(cache, eviction_is_bounded)
{
	size_t cap = 256 * 4096, len = 4096;
	struct sfs_cache *c = sfs_cache_new(cap);
	uint8_t buf[4096];
	size_t bytes;
	uint64_t hits, misses;
	int present = 0;

	for (uint64_t i = 0; i < 5000; i++) {
		struct sfs_id k = key(i);
		struct sfs_cache_entry *e;

		fx_fill_random(buf, len, i);
		e = sfs_cache_insert(c, &k, buf, len);
		cr_assert_not_null(e);
		sfs_cache_put(c, e);
		sfs_cache_stats(c, &bytes, &hits, &misses);
		cr_assert_leq(bytes, cap + SHARDS * len, "after %llu inserts: %zu bytes",
			      (unsigned long long)i, bytes);
	}
	cr_assert_geq(bytes, cap / 2, "the cache is actually used: %zu bytes", bytes);
	/* The most recent entries are still there, the oldest are gone. */
	for (uint64_t i = 4990; i < 5000; i++) {
		struct sfs_id k = key(i);
		struct sfs_cache_entry *e = sfs_cache_get(c, &k);
		cr_assert_not_null(e, "recent entry %llu", (unsigned long long)i);
		fx_fill_random(buf, len, i);
		cr_assert_arr_eq(sfs_cache_data(e), buf, len);
		sfs_cache_put(c, e);
	}
	for (uint64_t i = 0; i < 100; i++) {
		struct sfs_id k = key(i);
		struct sfs_cache_entry *e = sfs_cache_get(c, &k);
		present += e != NULL;
		sfs_cache_put(c, e);
	}
	cr_assert_eq(present, 0, "%d of the oldest 100 entries survived", present);
	sfs_cache_free(c);
}

/* A held entry that is evicted keeps its bytes until the holder puts it. */
Test(cache, held_entry_survives_eviction)
{
	struct sfs_cache *c = sfs_cache_new(SHARDS * 4096);
	uint8_t buf[4096], want[4096];
	struct sfs_id k0 = key(0);
	struct sfs_cache_entry *held;

	fx_fill_random(want, sizeof(want), 999);
	held = sfs_cache_insert(c, &k0, want, sizeof(want));
	for (uint64_t i = 1; i < 2000; i++) {
		struct sfs_id k = key(i);
		fx_fill_random(buf, sizeof(buf), i);
		sfs_cache_put(c, sfs_cache_insert(c, &k, buf, sizeof(buf)));
	}
	/* Under ASan a freed entry would be reported here. */
	cr_assert_arr_eq(sfs_cache_data(held), want, sizeof(want));
	{
		struct sfs_cache_entry *e = sfs_cache_get(c, &k0);
		if (e) {
			cr_assert_eq(e, held);
			sfs_cache_put(c, e);
		} else {
			/* Evicted: a new insert makes a new entry beside the held one. */
			e = sfs_cache_insert(c, &k0, want, sizeof(want));
			cr_assert_neq(e, held);
			sfs_cache_put(c, e);
		}
	}
	sfs_cache_put(c, held);
	sfs_cache_free(c);
}

Test(cache, tiny_capacity_keeps_one_per_shard)
{
	struct sfs_cache *c = sfs_cache_new(1);
	uint8_t buf[512];
	size_t bytes;
	uint64_t h, m;

	for (uint64_t i = 0; i < 1000; i++) {
		struct sfs_id k = key(i);
		struct sfs_cache_entry *e;
		fx_fill_random(buf, sizeof(buf), i);
		e = sfs_cache_insert(c, &k, buf, sizeof(buf));
		cr_assert_not_null(e);
		cr_assert_arr_eq(sfs_cache_data(e), buf, sizeof(buf));
		sfs_cache_put(c, e);
	}
	sfs_cache_stats(c, &bytes, &h, &m);
	cr_assert_leq(bytes, SHARDS * sizeof(buf));
	sfs_cache_free(c);
}

/* ---- threads ---- */

struct thr {
	struct sfs_cache *c;
	uint64_t seed;
	uint64_t checked;
	size_t len;   /* entry length: 0 alternates the two big lengths */
	int iters;
};

#define KEYS 400
#define LEN 1024
#define BIG 32768 /* a block: the cache's slots */

static size_t len_of(const struct thr *t, uint64_t i)
{
	/* Odd keys take another size, which the slots do not hold. */
	return t->len ? t->len : i % 2 ? BIG / 2 : BIG;
}

static void expected(uint64_t i, uint8_t *buf, size_t len)
{
	fx_fill_random(buf, len, i * 7919);
}

static void *worker(void *p)
{
	struct thr *t = p;
	uint64_t s = t->seed;
	uint8_t *buf = malloc(BIG);
	void *ret = NULL;

	if (!buf)
		return (void *)4;
	for (int it = 0; it < t->iters && !ret; it++) {
		uint64_t i;
		size_t len;
		struct sfs_id k;
		struct sfs_cache_entry *e;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		i = (s >> 33) % KEYS;
		k = key(i);
		len = len_of(t, i);
		e = sfs_cache_get(t->c, &k);
		if (!e) {
			expected(i, buf, len);
			e = sfs_cache_insert(t->c, &k, buf, len);
			if (!e) {
				ret = (void *)1;
				break;
			}
		}
		/* Hold it across other operations so that eviction races us. */
		expected(i, buf, len);
		if (sfs_cache_len(e) != len)
			ret = (void *)2;
		else if (memcmp(sfs_cache_data(e), buf, len) != 0)
			ret = (void *)3;
		else
			t->checked++;
		sfs_cache_put(t->c, e);
	}
	free(buf);
	return ret;
}

/* 8 threads over KEYS keys with room for about a quarter of them:
 * constant eviction, every hit checked byte for byte. */
static void run_threads(size_t len, size_t room, int iters)
{
	struct sfs_cache *c = sfs_cache_new(KEYS / 4 * room);
	pthread_t th[8];
	struct thr t[8];
	size_t bytes;
	uint64_t hits, misses;

	for (int i = 0; i < 8; i++) {
		t[i] = (struct thr){ c, (uint64_t)i + 1, 0, len, iters };
		cr_assert_eq(pthread_create(&th[i], NULL, worker, &t[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *ret;
		cr_assert_eq(pthread_join(th[i], &ret), 0);
		cr_assert_null(ret, "thread %d failed with %p", i, ret);
		cr_assert_eq(t[i].checked, (uint64_t)iters);
	}
	sfs_cache_stats(c, &bytes, &hits, &misses);
	cr_assert_leq(bytes, KEYS / 4 * room + SHARDS * room);
	cr_assert_eq(hits + misses, 8 * (uint64_t)iters);
	cr_assert_gt(hits, 0);
	cr_assert_gt(misses, 0);
	sfs_cache_free(c);
}

Test(cache, refcounts_safe_under_threads, .timeout = 120)
{
	run_threads(LEN, LEN, 20000);
}

/* Entries of two big sizes side by side under constant eviction: the
 * first size claimed lives in reused slots, the other in malloc'd memory,
 * and no hit shows an old entry's bytes or another's. (Which entries are
 * slots is not visible from outside; the mount's fault count shows it.) */
Test(cache, slot_and_malloc_entries_safe_under_threads, .timeout = 120)
{
	run_threads(0, BIG, 3000);
}

Test(cache, fill_in_place_then_add)
{
	struct sfs_cache *c = sfs_cache_new(1 << 20);
	struct sfs_id k = key(42);
	struct sfs_cache_entry *fresh, *e, *again, *dup;

	fresh = sfs_cache_entry_new(64);
	cr_assert_not_null(fresh);
	memset(sfs_cache_entry_data(fresh), 7, 64);
	e = sfs_cache_add(c, &k, fresh);
	cr_assert_eq(e, fresh, "the filled entry itself is linked, not a copy");
	cr_assert_eq(sfs_cache_len(e), 64);
	cr_assert_eq(((const uint8_t *)sfs_cache_data(e))[63], 7);
	again = sfs_cache_get(c, &k);
	cr_assert_eq(again, e);

	/* Losing a race: the second entry is freed and the first returned. */
	dup = sfs_cache_entry_new(64);
	memset(sfs_cache_entry_data(dup), 9, 64);
	cr_assert_eq(sfs_cache_add(c, &k, dup), e);
	cr_assert_eq(((const uint8_t *)sfs_cache_data(e))[0], 7);

	/* An entry that is not added is the caller's to free. */
	sfs_cache_entry_free(sfs_cache_entry_new(16));
	sfs_cache_put(c, e);
	sfs_cache_put(c, e);
	sfs_cache_put(c, again);
	sfs_cache_free(c);
}

/* ---- single-flight fills ---- */

struct waiter {
	struct sfs_cache *c;
	struct sfs_id k;
	int ret;
	struct sfs_cache_entry *e;
};

static void *wait_for_fill(void *p)
{
	struct waiter *w = p;

	w->ret = sfs_cache_get_or_claim(w->c, &w->k, 64, SFS_CACHE_WAIT, &w->e);
	return NULL;
}

/* Waits until the shard's fill has had waiters long enough to block. */
static void let_waiters_block(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

Test(cache, claimed_fill_is_waited_for_and_its_error_delivered)
{
	struct sfs_cache *c = sfs_cache_new(1 << 20);
	struct sfs_id k = key(7);
	struct sfs_cache_entry *e, *other;
	struct waiter w[4];
	pthread_t th[4];
	size_t bytes;
	uint64_t hits, misses;

	/* A claimed entry is invisible to get, busy to a non-waiting claim. */
	cr_assert_eq(sfs_cache_get_or_claim(c, &k, 64, SFS_CACHE_WAIT, &e), SFS_CACHE_CLAIMED);
	cr_assert_null(sfs_cache_get(c, &k));
	cr_assert_eq(sfs_cache_get_or_claim(c, &k, 64, 0, &other), SFS_CACHE_BUSY);
	cr_assert_null(other);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){ .c = c, .k = k, .ret = 99 };
		cr_assert_eq(pthread_create(&th[i], NULL, wait_for_fill, &w[i]), 0);
	}
	let_waiters_block();
	sfs_cache_fill_done(c, e, 64, -EBADMSG);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].ret, -EBADMSG, "waiter %d got %d", i, w[i].ret);
		cr_assert_null(w[i].e);
	}
	sfs_cache_stats(c, &bytes, &hits, &misses);
	cr_assert_eq(bytes, 0, "a failed fill leaves nothing behind");

	/* The next reader fills afresh; this time the waiters get the bytes. */
	cr_assert_eq(sfs_cache_get_or_claim(c, &k, 64, SFS_CACHE_WAIT, &e), SFS_CACHE_CLAIMED);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){ .c = c, .k = k, .ret = 99 };
		cr_assert_eq(pthread_create(&th[i], NULL, wait_for_fill, &w[i]), 0);
	}
	let_waiters_block();
	memset(sfs_cache_entry_data(e), 0x5a, 64);
	sfs_cache_fill_done(c, e, 40, 0);
	cr_assert_eq(sfs_cache_len(e), 40, "published at its final length");
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].ret, SFS_CACHE_HIT);
		cr_assert_eq(w[i].e, e, "one entry for everyone");
		cr_assert_eq(((const uint8_t *)sfs_cache_data(w[i].e))[39], 0x5a);
		sfs_cache_put(c, w[i].e);
	}
	sfs_cache_put(c, e);
	other = sfs_cache_get(c, &k);
	cr_assert_eq(other, e);
	sfs_cache_put(c, other);
	sfs_cache_stats(c, &bytes, &hits, &misses);
	cr_assert_eq(bytes, 40);
	sfs_cache_free(c);
}

/* Readahead's fills and the reads they saved: a fill made ahead counts
 * once, at the first hit by a caller that is not readahead itself. */
Test(cache, ahead_hits)
{
	struct sfs_cache *c = sfs_cache_new(1 << 20);
	struct sfs_id k = key(11), k2 = key(12);
	struct sfs_cache_entry *e, *h;
	uint64_t fills, hits;

	cr_assert_eq(sfs_cache_get_or_claim(c, &k, 64, SFS_CACHE_AHEAD, &e), SFS_CACHE_CLAIMED);
	sfs_cache_fill_done(c, e, 64, 0);
	sfs_cache_put(c, e);
	/* A claim not made ahead counts as no fill ahead. */
	cr_assert_eq(sfs_cache_get_or_claim(c, &k2, 64, SFS_CACHE_WAIT, &e), SFS_CACHE_CLAIMED);
	sfs_cache_fill_done(c, e, 64, 0);
	sfs_cache_put(c, e);
	sfs_cache_ahead_stats(c, &fills, &hits);
	cr_assert_eq(fills, 1);
	cr_assert_eq(hits, 0);

	/* Readahead meeting its own block again is no hit of it. */
	cr_assert_eq(sfs_cache_get_or_claim(c, &k, 64, SFS_CACHE_AHEAD, &h), SFS_CACHE_HIT);
	sfs_cache_put(c, h);
	sfs_cache_ahead_stats(c, &fills, &hits);
	cr_assert_eq(hits, 0);

	cr_assert_eq(sfs_cache_get_or_claim(c, &k, 64, SFS_CACHE_WAIT, &h), SFS_CACHE_HIT);
	sfs_cache_put(c, h);
	h = sfs_cache_get(c, &k);
	cr_assert_not_null(h);
	sfs_cache_put(c, h);
	h = sfs_cache_get(c, &k2);
	cr_assert_not_null(h);
	sfs_cache_put(c, h);
	sfs_cache_ahead_stats(c, &fills, &hits);
	cr_assert_eq(fills, 1);
	cr_assert_eq(hits, 1, "only the first use of a block read ahead counts");
	sfs_cache_free(c);
}

static void fill(struct sfs_cache *c, const struct sfs_id *k, size_t len, unsigned flags,
		 struct sfs_cache_entry **ret)
{
	cr_assert_eq(sfs_cache_get_or_claim(c, k, len, flags, ret), SFS_CACHE_CLAIMED);
	memset(sfs_cache_entry_data(*ret), k->b[1], len);
	sfs_cache_fill_done(c, *ret, len, 0);
}

static size_t cached_bytes(struct sfs_cache *c)
{
	size_t bytes;
	uint64_t hits, misses;

	sfs_cache_stats(c, &bytes, &hits, &misses);
	return bytes;
}

/* A sequential reader's used-up blocks leave the cache at once instead of
 * filling it; one someone else holds leaves at that holder's put, unless
 * a reader's hit wanted it again meanwhile (a decode pool's does not). */
Test(cache, used_up_entries_leave_early)
{
	enum { N = 40, LEN_U = 4096 };
	struct sfs_cache *c = sfs_cache_new(64u << 20); /* room for all of them */
	struct sfs_cache_entry *e, *held, *hit;
	struct sfs_id k;

	for (int i = 0; i < N; i++) {
		k = key(1000 + i);
		fill(c, &k, LEN_U, 0, &e);
		sfs_cache_put_used(c, e);
	}
	cr_assert_eq(cached_bytes(c), 0, "%zu bytes of used-up entries stayed", cached_bytes(c));
	cr_assert_null(sfs_cache_get(c, &k), "the last used-up entry is still there");

	/* Held by another reader: it stays until that reader puts it. */
	k = key(1);
	fill(c, &k, LEN_U, 0, &e);
	held = sfs_cache_get(c, &k);
	sfs_cache_put_used(c, e);
	cr_assert_eq(cached_bytes(c), LEN_U, "a held entry left under its holder");
	cr_assert_eq(((const uint8_t *)sfs_cache_data(held))[LEN_U - 1], k.b[1]);
	sfs_cache_put(c, held);
	cr_assert_eq(cached_bytes(c), 0, "the holder's put did not drop a used-up entry");

	/* A decode pool's hit meanwhile does not keep it... */
	k = key(2);
	fill(c, &k, LEN_U, 0, &e);
	held = sfs_cache_get(c, &k);
	sfs_cache_put_used(c, e);
	cr_assert_eq(sfs_cache_get_or_claim(c, &k, LEN_U, SFS_CACHE_POOL | SFS_CACHE_AHEAD, &hit),
		     SFS_CACHE_HIT);
	sfs_cache_put(c, hit);
	sfs_cache_put(c, held);
	cr_assert_eq(cached_bytes(c), 0, "a pool's hit kept a used-up entry");

	/* ...a reader's does. */
	k = key(3);
	fill(c, &k, LEN_U, 0, &e);
	held = sfs_cache_get(c, &k);
	sfs_cache_put_used(c, e);
	cr_assert_eq(sfs_cache_get_or_claim(c, &k, LEN_U, SFS_CACHE_WAIT, &hit), SFS_CACHE_HIT);
	sfs_cache_put(c, hit);
	sfs_cache_put(c, held);
	cr_assert_eq(cached_bytes(c), LEN_U, "a reader's hit did not keep the entry");
	hit = sfs_cache_get(c, &k);
	cr_assert_not_null(hit);
	sfs_cache_put(c, hit);
	sfs_cache_free(c);
}

/* The process's resident memory, in bytes (VmRSS). */
static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kib = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %zu kB", &kib) == 1)
			break;
	fclose(f);
	return kib * 1024;
}

/*
 * A prefaulting cache faults its regions in from a thread of its own,
 * ahead of the slots handed out: with 50 MiB of blocks in a cache bound
 * to 96 MiB, the memory for the whole bound (three regions of 32 MiB)
 * becomes resident, where a cache without it holds only what its entries
 * touched. Every entry still reads back its own bytes.
 */
Test(cache, prefault_faults_in_ahead_of_use, .timeout = 60)
{
	enum { N = 1600 };
	struct sfs_cache *c = sfs_cache_new(96u << 20);
	uint8_t *buf = malloc(BIG);
	size_t rss0, grown = 0, present = 0;

	cr_assert_not_null(buf);
	sfs_cache_prefault(c);
	rss0 = rss_bytes();
	for (uint64_t i = 0; i < N; i++) {
		struct sfs_id k = key(50000 + i);
		struct sfs_cache_entry *e;

		expected(50000 + i, buf, BIG);
		e = sfs_cache_insert(c, &k, buf, BIG);
		cr_assert_not_null(e);
		sfs_cache_put(c, e);
	}
	for (int t = 0; t < 200; t++) {
		grown = rss_bytes() - rss0;
		if (grown >= (90u << 20))
			break;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_geq(grown, 90u << 20,
		      "only %zu MiB became resident for 50 MiB of entries in a 96 MiB cache",
		      grown >> 20);
	for (uint64_t i = 0; i < N; i++) {
		struct sfs_id k = key(50000 + i);
		struct sfs_cache_entry *e = sfs_cache_get(c, &k);

		if (!e)
			continue; /* evicted from a full shard */
		expected(50000 + i, buf, BIG);
		cr_assert_eq(memcmp(sfs_cache_data(e), buf, BIG), 0, "entry %" PRIu64 " changed", i);
		sfs_cache_put(c, e);
		present++;
	}
	cr_assert_gt(present, N * 9 / 10, "only %zu of %d entries stayed", present, N);
	sfs_cache_free(c);
	free(buf);
}

/* Freed while its filler is at work, or once it has a spare region
 * mapped and faulted in: the filler stops, and every region, the spare
 * too, is unmapped (resident memory falls back to where it was before
 * the round, within half a 32 MiB region: the malloc'd entry headers may
 * stay with the allocator, or in ASan's quarantine, a few MiB a round). */
Test(cache, prefault_stops_at_free, .timeout = 60)
{
	enum { N = 600 }; /* past half a region: the filler makes a spare */
	uint8_t *buf = malloc(BIG);

	cr_assert_not_null(buf);
	for (int round = 0; round < 6; round++) {
		size_t rss0 = rss_bytes(), grown = 0;
		struct sfs_cache *c = sfs_cache_new(256u << 20);

		sfs_cache_prefault(c);
		memset(buf, round, BIG);
		for (uint64_t i = 0; i < N; i++) {
			struct sfs_id k = key(90000 + i);
			struct sfs_cache_entry *e = sfs_cache_insert(c, &k, buf, BIG);

			cr_assert_not_null(e);
			sfs_cache_put(c, e);
		}
		/* odd rounds: wait for the current region and the spare, both
		 * faulted in (2 x 32 MiB), and for the filler to hand the spare
		 * over, a moment after its last fault */
		for (int t = 0; round % 2 && t < 400 && grown < (63u << 20); t++) {
			struct timespec ts = { 0, 25 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			grown = rss_bytes() - rss0;
		}
		if (round % 2) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			cr_assert_geq(grown, 63u << 20, "round %d: no spare region after %zu MiB",
				      round, grown >> 20);
			nanosleep(&ts, NULL);
		}
		sfs_cache_free(c);
		cr_assert_leq(rss_bytes(), rss0 + (16u << 20),
			      "round %d: %zu MiB still resident after the free", round,
			      (rss_bytes() - rss0) >> 20);
	}
	free(buf);
}
