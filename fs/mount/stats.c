// SPDX-License-Identifier: MIT
/*
 * A running mount's figures, readable without stopping anything: the
 * block cache (size, bound, hits and misses), readahead (blocks decoded
 * ahead and how many a read then used), what was read from packs against
 * what was served to readers, verification failures and open files. They
 * are gathered from the counters the reader, the chunk store and the read
 * path already keep, on demand: as JSON in the root's SFS_STATS_XATTR
 * (what `snapfs mount-status` shows), and as one log line on SIGUSR1.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mount_int.h"
#include "snapfs/chunkstore.h"
#include "snapfs/log.h"

/* Every figure, read once so that the JSON and the log line agree. */
struct figures {
	size_t cached;
	uint64_t hits, misses, ahead_fills, ahead_hits;
	struct sfs_chunk_stats cs;
	struct sfs_mount_counters c;
};

static void gather(struct sfs_mount *mt, struct figures *f)
{
	sfs_reader_stats(mt->reader, &f->cached, &f->hits, &f->misses);
	sfs_reader_ahead_stats(mt->reader, &f->ahead_fills, &f->ahead_hits);
	sfs_store_chunk_stats(mt->store, &f->cs);
	f->c.reads = __atomic_load_n(&mt->counters.reads, __ATOMIC_RELAXED);
	f->c.read_errors = __atomic_load_n(&mt->counters.read_errors, __ATOMIC_RELAXED);
	f->c.bytes_served = __atomic_load_n(&mt->counters.bytes_served, __ATOMIC_RELAXED);
	f->c.opens = __atomic_load_n(&mt->counters.opens, __ATOMIC_RELAXED);
	f->c.open_files = __atomic_load_n(&mt->counters.open_files, __ATOMIC_RELAXED);
	f->c.lookups = __atomic_load_n(&mt->counters.lookups, __ATOMIC_RELAXED);
	f->c.getattrs = __atomic_load_n(&mt->counters.getattrs, __ATOMIC_RELAXED);
	f->c.getxattrs = __atomic_load_n(&mt->counters.getxattrs, __ATOMIC_RELAXED);
	f->c.listings = __atomic_load_n(&mt->counters.listings, __ATOMIC_RELAXED);
}

static double ratio(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0.0;
}

char *sfs_mount_stats_json(struct sfs_mount *mt)
{
	struct figures f;
	json_t *o;
	char *s;

	gather(mt, &f);
	o = json_pack("{s:s?, s:s?, s:I, s:I, s:I,"
		      " s:{s:I, s:I, s:I, s:I, s:f},"
		      " s:{s:I, s:I, s:I},"
		      " s:{s:I, s:I, s:I, s:I},"
		      " s:{s:I, s:I, s:I},"
		      " s:{s:I, s:I},"
		      " s:{s:I, s:I, s:I, s:I}}",
		      "store", mt->store_path, "mountpoint", mt->mountpoint,
		      "pid", (json_int_t)getpid(), "mounted", (json_int_t)mt->mount_time,
		      "uptime_seconds", (json_int_t)(time(NULL) - mt->mount_time),
		      "cache", "bytes", (json_int_t)f.cached,
		      "capacity", (json_int_t)mt->opts.cache_bytes,
		      "hits", (json_int_t)f.hits, "misses", (json_int_t)f.misses,
		      "hit_rate", ratio(f.hits, f.hits + f.misses),
		      "readahead", "window_bytes", (json_int_t)sfs_mount_ra_window(&mt->opts),
		      "blocks_read_ahead", (json_int_t)f.ahead_fills,
		      "hits", (json_int_t)f.ahead_hits,
		      "packs", "chunks_decoded", (json_int_t)f.cs.decodes,
		      "stored_bytes_read", (json_int_t)f.cs.stored_bytes_read,
		      "decoded_bytes", (json_int_t)f.cs.raw_bytes_decoded,
		      "verification_failures", (json_int_t)f.cs.decode_errors,
		      "served", "reads", (json_int_t)f.c.reads,
		      "bytes", (json_int_t)f.c.bytes_served,
		      "read_errors", (json_int_t)f.c.read_errors,
		      "files", "open", (json_int_t)f.c.open_files,
		      "opened", (json_int_t)f.c.opens,
		      "requests", "lookups", (json_int_t)f.c.lookups,
		      "getattrs", (json_int_t)f.c.getattrs, "getxattrs", (json_int_t)f.c.getxattrs,
		      "listings", (json_int_t)f.c.listings);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static void log_figures(struct sfs_mount *mt)
{
	struct figures f;

	gather(mt, &f);
	sfs_log(SFS_LOG_INFO,
		"figures of %s: cache %zu of %zu bytes, %llu hits, %llu misses; readahead %llu "
		"blocks, %llu used; packs %llu chunks, %llu bytes read, %llu decoded, %llu "
		"verification failures; served %llu reads, %llu bytes, %llu errors; %lld open files",
		mt->mountpoint ? mt->mountpoint : "?", f.cached, mt->opts.cache_bytes,
		(unsigned long long)f.hits, (unsigned long long)f.misses,
		(unsigned long long)f.ahead_fills, (unsigned long long)f.ahead_hits,
		(unsigned long long)f.cs.decodes, (unsigned long long)f.cs.stored_bytes_read,
		(unsigned long long)f.cs.raw_bytes_decoded, (unsigned long long)f.cs.decode_errors,
		(unsigned long long)f.c.reads, (unsigned long long)f.c.bytes_served,
		(unsigned long long)f.c.read_errors, (long long)f.c.open_files);
}

static void *sig_main(void *arg)
{
	struct sfs_mount *mt = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !__atomic_load_n(&mt->stats_stop, __ATOMIC_ACQUIRE))
		log_figures(mt);
	return NULL;
}

void sfs_mount_stats_signal_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int sfs_mount_stats_signal_start(struct sfs_mount *mt)
{
	int r = pthread_create(&mt->stats_thread, NULL, sig_main, mt);

	if (r != 0)
		return -r;
	mt->stats_thread_on = true;
	return 0;
}

void sfs_mount_stats_signal_stop(struct sfs_mount *mt)
{
	if (!mt->stats_thread_on)
		return;
	__atomic_store_n(&mt->stats_stop, 1, __ATOMIC_RELEASE);
	pthread_kill(mt->stats_thread, SIGUSR1);
	pthread_join(mt->stats_thread, NULL);
	mt->stats_thread_on = false;
}
