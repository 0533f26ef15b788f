// SPDX-License-Identifier: MIT
/*
 * Cheap catalog reads for the mount. Counting uses LMDB's own entry counts
 * or walks keys without touching values; the brief snapshot walk decodes
 * each record with the snapshot decoder's own checks but without its heap
 * fields (no tags object, no string copies) and copies out what a listing
 * shows. And the trim that keeps long catalog walks out of RSS, and the
 * prefetch that reads a small catalog in ahead of the faults.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "snapfs/catalog_scan.h"
#include "snapfs/log.h"
#include "store_int.h"


int sfs_cat_counts(struct sfs_txn *t, struct sfs_cat_counts *ret)
{
	struct sfs_store *s = sfs_txn_store(t);
	MDB_stat st;
	int rc;

	rc = mdb_stat(sfs_txn_mdb(t), s->dbi[SFS_DBI_SNAPSHOTS], &st);
	if (rc)
		return sfs_mdb_err(rc);
	ret->snapshots = st.ms_entries;
	rc = mdb_stat(sfs_txn_mdb(t), s->dbi[SFS_DBI_VOLUMES], &st);
	if (rc)
		return sfs_mdb_err(rc);
	ret->volumes = st.ms_entries;
	return 0;
}

static int count_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	(void)k;
	(void)v;
	(*(uint64_t *)ctx)++;
	return 0;
}

int sfs_cat_volume_snapshot_count(struct sfs_txn *t, const char *volume, uint64_t *ret)
{
	size_t pl = strlen(volume) + 1;

	*ret = 0;
	if (pl > SFS_NAME_MAX + 2)
		return -EINVAL;
	return sfs_cat_foreach_prefix(t, SFS_DBI_VOLSNAP, volume, pl, 0, count_cb, ret);
}

static int brief_decode(const void *buf, size_t len, struct sfs_snapshot_brief *ret)
{
	struct sfs_snapshot sn;
	int r = sfs_snapshot_decode_brief(buf, len, &sn);

	if (r < 0)
		return r;
	memcpy(ret->id, sn.id, sizeof(ret->id));
	memcpy(ret->volume, sn.volume, sizeof(ret->volume));
	ret->state = sn.state;
	ret->seq = sn.seq;
	ret->created = sn.created;
	ret->created_ns = sn.created_ns;
	ret->size = sn.size;
	ret->block_size = sn.block_size;
	ret->depth = sn.depth;
	ret->root = sn.root;
	ret->data_bytes = sn.data_bytes;
	return 0;
}

struct scan {
	sfs_snapshot_brief_fn fn;
	void *ctx;
};

static int scan_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct scan *sc = ctx;
	struct sfs_snapshot_brief sn;
	int r = brief_decode(v->mv_data, v->mv_size, &sn);

	if (r == -EBADMSG) {
		/* One damaged record must not empty a listing: skip it; check
		 * names it and snapshot delete removes it. */
		sfs_log(SFS_LOG_WARN, "catalog: snapshot record %.*s is damaged; skipped (run check)",
			(int)(k->mv_size > 64 ? 64 : k->mv_size), (const char *)k->mv_data);
		return 0;
	}
	return r < 0 ? r : sc->fn(sc->ctx, &sn);
}

int sfs_cat_snapshot_scan(struct sfs_txn *t, sfs_snapshot_brief_fn fn, void *ctx)
{
	struct scan sc = { fn, ctx };

	return sfs_cat_foreach_raw(t, SFS_DBI_SNAPSHOTS, scan_cb, &sc);
}

/* A catalog smaller than this may stay mapped whole: trimming it would
 * only cost the walk its faults. */
#define TRIM_FROM (128 << 20)

/* Where the catalog file is mapped: LMDB keeps its map address to itself
 * (mdb_env_info reports it only for MDB_FIXEDMAP), so find the mapping of
 * the file's inode in /proc/self/maps. NULL when none is found. */
static void *map_of(const struct stat *st, size_t *ret_len)
{
	char line[512];
	void *at = NULL;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return NULL;
	while (!at && fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off, ino;
		unsigned maj, min;
		char perms[8];

		/* Only a read-only shared mapping: dropping its pages loses
		 * nothing, where a private or writable one could lose changes. */
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off, &maj,
			   &min, &ino) == 7 &&
		    perms[1] == '-' && perms[3] == 's' && off == 0 && ino == (unsigned long long)st->st_ino && maj == major(st->st_dev) &&
		    min == minor(st->st_dev))
		{
			at = (void *)(uintptr_t)start;
			*ret_len = (size_t)(end - start);
		}
	}
	fclose(f);
	return at;
}

void sfs_cat_map_trim(struct sfs_store *s)
{
	sfs_mdb_map_trim(s->env);
}

void sfs_mdb_map_trim(MDB_env *env)
{
	mdb_filehandle_t fd;
	struct stat st;
	size_t len = 0;
	void *at;

	/* LMDB maps the file read-only and shared (no MDB_WRITEMAP): dropping
	 * the mapping loses nothing, a write transaction's pages are its own
	 * memory. Only the file's length is worth the call. The mapping is
	 * looked up afresh every time: a remembered address could since
	 * belong to other memory, which this would zero. */
	if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) != 0 ||
	    st.st_size < TRIM_FROM)
		return;
	at = map_of(&st, &len);
	if (at)
		madvise(at, (size_t)st.st_size < len ? (size_t)st.st_size : len, MADV_DONTNEED);
}

/* The most any prefetch reads: a quarter of the machine's memory. A
 * larger catalog would push its own first pages out of the page cache
 * before they were used, so it is faulted in as before. */
static uint64_t prefetch_budget(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)size / 4;
}

/* A prefetch's own descriptor for the catalog file and the bytes to read;
 * one at a time in a process. */
struct prefetch {
	int fd;
	uint64_t len;
};

static atomic_flag prefetching = ATOMIC_FLAG_INIT;

/* The kernel caps one readahead request (POSIX_FADV_WILLNEED, readahead,
 * MADV_WILLNEED) at the device's readahead window or its largest I/O,
 * whichever is more: 128 KiB on a default disk, so a single call over the
 * whole file read just its first pages. Asked for in pieces of that size,
 * in order, the reads go out in the background and this thread waits
 * only when the device's queue is full. */
#define PREFETCH_PIECE (128u << 10)

static void *prefetch_main(void *arg)
{
	struct prefetch *p = arg;

	for (uint64_t off = 0; off < p->len; off += PREFETCH_PIECE) {
		size_t n = p->len - off < PREFETCH_PIECE ? (size_t)(p->len - off) : PREFETCH_PIECE;

		if (readahead(p->fd, (off_t)off, n) < 0)
			break;
	}
	close(p->fd);
	free(p);
	atomic_flag_clear(&prefetching);
	return NULL;
}

void sfs_cat_prefetch(struct sfs_store *s, uint64_t max_bytes)
{
	mdb_filehandle_t fd;
	MDB_envinfo info;
	MDB_stat ms;
	struct prefetch *p;
	pthread_attr_t attr;
	pthread_t th;
	uint64_t used;
	int dfd;

	if (!s->env || mdb_env_get_fd(s->env, &fd) != 0 || mdb_env_info(s->env, &info) != 0 ||
	    mdb_env_stat(s->env, &ms) != 0)
		return;
	/* The pages up to the last one in use: past it lies only free
	 * space, and the reserve (sfs_catalog_reserve). */
	used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	if (used > max_bytes || used > prefetch_budget() || atomic_flag_test_and_set(&prefetching))
		return;
	/* Its own descriptor: the store may be closed before it is done. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	p = dfd >= 0 ? malloc(sizeof(*p)) : NULL;
	if (p) {
		p->fd = dfd;
		p->len = used;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &attr, prefetch_main, p) == 0) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		free(p);
	}
	if (dfd >= 0)
		close(dfd);
	atomic_flag_clear(&prefetching);
}
