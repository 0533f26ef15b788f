/* SPDX-License-Identifier: MIT */
/*
 * A bounded, sharded cache of verified chunk contents keyed by chunk id.
 * Entries are refcounted: sfs_cache_get and sfs_cache_insert return an
 * entry the caller holds until sfs_cache_put; an entry in use is never
 * freed, only unlinked, so eviction never pulls bytes from under a reader.
 * Because keys are content hashes, a cached entry is right for every
 * snapshot that names it. All functions are thread-safe.
 */
#ifndef SNAPFS_CACHE_H
#define SNAPFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "snapfs/chunk.h"

struct sfs_cache;
struct sfs_cache_entry;

/* capacity: bytes of chunk data kept (at least one entry is always kept). */
struct sfs_cache *sfs_cache_new(size_t capacity);
/* Has a thread of the cache fault its memory in ahead of use, up to its
 * bound, so that readers do not wait for the kernel's zeroed pages (for
 * a long-lived cache with threads waiting on it: a mount's). */
void sfs_cache_prefault(struct sfs_cache *c);
/* Frees the cache; every entry must have been put. Accepts NULL. */
void sfs_cache_free(struct sfs_cache *c);

/* A held entry for id, or NULL when absent (or still being filled). */
struct sfs_cache_entry *sfs_cache_get(struct sfs_cache *c, const struct sfs_id *id);
/* Inserts a copy of len bytes under id and returns it held; when another
 * thread inserted id first, returns that entry instead. NULL on ENOMEM. */
struct sfs_cache_entry *sfs_cache_insert(struct sfs_cache *c, const struct sfs_id *id,
					 const void *data, size_t len);
void sfs_cache_put(struct sfs_cache *c, struct sfs_cache_entry *e); /* accepts NULL */
/* sfs_cache_put for an entry whose reader is done with it for good (a
 * long sequential run past it): it leaves the cache now, or at the last
 * put of whoever else holds it, so that a sequential read reuses the
 * memory of the blocks it just read instead of sweeping through the whole
 * cache. A reader's hit meanwhile keeps it; a decode pool's
 * (SFS_CACHE_POOL) does not. Accepts NULL. */
void sfs_cache_put_used(struct sfs_cache *c, struct sfs_cache_entry *e);

/* Filling an entry in place, without a copy: sfs_cache_entry_new gives an
 * unlinked entry of len bytes owned by the caller, who writes its data and
 * then either frees it (sfs_cache_entry_free) or hands it to sfs_cache_add,
 * which takes ownership and returns it held (or, when another thread
 * added id first, frees it and returns that entry held). */
struct sfs_cache_entry *sfs_cache_entry_new(size_t len);
void *sfs_cache_entry_data(struct sfs_cache_entry *e);
void sfs_cache_entry_free(struct sfs_cache_entry *e);
struct sfs_cache_entry *sfs_cache_add(struct sfs_cache *c, const struct sfs_id *id,
				      struct sfs_cache_entry *e);

/*
 * Single-flight fills: the way a cache is filled when a miss is costly (a
 * chunk decode) and many threads may miss the same id at once.
 *
 * sfs_cache_get_or_claim returns
 *   SFS_CACHE_HIT: *ret_e is id's entry, held (put it when done);
 *   SFS_CACHE_CLAIMED: *ret_e is a new held entry of len bytes for id in
 *     the filling state, visible to other threads, which wait for it; the
 *     caller writes its data (sfs_cache_entry_data) and must then call
 *     sfs_cache_fill_done exactly once;
 *   SFS_CACHE_BUSY: (only without SFS_CACHE_WAIT) another thread is
 *     filling id;
 *   -ENOMEM; or, when it waited, the error the filler failed with.
 * sfs_cache_fill_done publishes a claimed entry with its final length
 * (<= the claimed len) and keeps the caller's hold (err == 0), or, with
 * err < 0, removes it, hands err to every waiter and drops the caller's
 * hold: an error is never cached. sfs_cache_get treats an entry being
 * filled as absent; sfs_cache_add waits for it.
 *
 * flags: SFS_CACHE_WAIT waits for an entry another thread is filling;
 * SFS_CACHE_AHEAD marks a fill made before anyone asked (readahead): the
 * entry counts as read ahead, and the first hit on it by a caller without
 * the flag counts as a readahead hit (sfs_cache_ahead_stats);
 * SFS_CACHE_POOL marks a decode pool's fill, made for a reader and not a
 * use of the entry: its hit leaves a used-up entry (sfs_cache_put_used)
 * to leave at its last put.
 */
#define SFS_CACHE_WAIT 1u
#define SFS_CACHE_AHEAD 2u
#define SFS_CACHE_POOL 4u
#define SFS_CACHE_HIT 0
#define SFS_CACHE_CLAIMED 1
#define SFS_CACHE_BUSY 2
int sfs_cache_get_or_claim(struct sfs_cache *c, const struct sfs_id *id, size_t len, unsigned flags,
			   struct sfs_cache_entry **ret_e);
void sfs_cache_fill_done(struct sfs_cache *c, struct sfs_cache_entry *e, size_t len, int err);

const void *sfs_cache_data(const struct sfs_cache_entry *e);
size_t sfs_cache_len(const struct sfs_cache_entry *e);

/* Bytes currently held and hit/miss counters, for stats. */
void sfs_cache_stats(struct sfs_cache *c, size_t *ret_bytes, uint64_t *ret_hits,
		     uint64_t *ret_misses);
/* Entries filled ahead (SFS_CACHE_AHEAD) and how many of them a later
 * caller used before they were evicted. */
void sfs_cache_ahead_stats(struct sfs_cache *c, uint64_t *ret_fills, uint64_t *ret_hits);

#endif
