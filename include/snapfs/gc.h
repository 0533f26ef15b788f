/* SPDX-License-Identifier: MIT */
/*
 * Deleting snapshots and collecting the garbage they leave. Deleting is a
 * catalog change only: the snapshot record goes, its chunks stay until
 * sfs_gc finds that no snapshot reaches them (mark: every page and block
 * id reachable from every snapshot record, whatever its state; sweep:
 * dead index entries are deleted, packs with little live data are
 * rewritten, packs with none are removed). The protocol that keeps a
 * crash at any moment harmless is in store/FORMAT.md, "Garbage
 * collection".
 *
 * Both need a store opened with SFS_OPEN_WRITE: holding the writer lock
 * is what keeps a snapshot create from running while gc marks and
 * sweeps, so a create started meanwhile waits for (or is refused) the
 * lock. Readers (a mount) may run throughout; see FORMAT.md for why they
 * never see wrong bytes. Single-threaded.
 */
#ifndef SNAPFS_GC_H
#define SNAPFS_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "snapfs/ingest.h"
#include "snapfs/store.h"

/*
 * Deletes snapshot `id` from the catalog in transaction t (a write
 * transaction) and bumps the generation. Refuses a snapshot that an image
 * or a checkpoint uses: -EBUSY with "image NAME" or "checkpoint NAME" in
 * ret_image (size len; may be NULL when len is 0), and one locked now
 * (-EPERM). Other errors: -ENOENT (no such snapshot), -errno.
 * sfs_snapshot_remove with the clock and no force, so a recycle bin rule
 * applies.
 * Nothing is committed: the caller commits t.
 */
int sfs_snapshot_delete(struct sfs_txn *t, const char *id, char *ret_image, size_t len);

struct sfs_delete_opts {
	int64_t now; /* the time locks and the recycle bin go by; 0: the clock */
	bool force;  /* delete at once even when a recycle bin rule covers it */
};

/* Why a delete was refused, or where the snapshot went. */
struct sfs_delete_info {
	char image[SFS_NAME_MAX + 16]; /* -EBUSY: "image NAME" or "checkpoint NAME" that maps it */
	int lock_mode;                /* -EPERM: its lock (lock.h) */
	int64_t lock_until;
	int64_t bin_until;            /* 0: gone; else kept in the recycle bin until then */
};

/*
 * sfs_snapshot_delete with the rules of a user's or a policy's delete:
 * also refuses a snapshot locked at o->now (-EPERM, the lock in ret), and
 * moves a completed snapshot a recycle bin rule covers into the bin
 * (bin.h) instead of deleting it, unless o->force. o may be NULL, ret
 * too. Nothing is committed.
 */
int sfs_snapshot_remove(struct sfs_txn *t, const char *id, const struct sfs_delete_opts *o,
			struct sfs_delete_info *ret);

struct sfs_gc_opts {
	bool dry_run;       /* mark and count, change nothing */
	unsigned rewrite_pct; /* rewrite packs whose live share is below this (0: 50) */
	int64_t now;        /* recycle bin periods end by this time; 0: the clock */
	sfs_progress_fn progress; /* or NULL; (done, total) of the current phase */
	void *progress_ctx;
};

struct sfs_gc_result {
	uint64_t snapshots;      /* snapshots whose maps were marked */
	uint64_t bin_snapshots;  /* of which in the recycle bin */
	uint64_t bin_purged;     /* recycle bin entries whose period had ended, dropped */
	uint64_t live_chunks, live_bytes;  /* stored bytes incl. record headers */
	uint64_t dead_chunks, dead_bytes;  /* index entries dropped */
	uint64_t packs_before, packs_removed, packs_rewritten, packs_written;
	uint64_t copied_chunks, copied_bytes; /* live records moved by rewrites */
	uint64_t disk_before, disk_after;     /* bytes of pack files (st_blocks) */
	uint64_t freed_bytes;    /* disk_before - disk_after (estimate on a dry run) */
};

/*
 * Runs mark and sweep on s. Snapshots in the recycle bin (bin.h) count
 * as live until their period ends at o->now; entries past it are dropped
 * first (not on a dry run). On a dry run s may be read-only and nothing
 * changes (freed_bytes is then what a real run would free at most).
 * Errors: -EROFS (not a dry run and s read-only), -EBADMSG (a live chunk
 * fails verification while being moved: nothing is changed, run check),
 * -EUCLEAN (a snapshot's map names a chunk the index lacks: nothing is
 * changed), -ENOSPC, -errno. After an error the catalog is as before or
 * as after a checkpoint; both are consistent.
 */
int sfs_gc(struct sfs_store *s, const struct sfs_gc_opts *o, struct sfs_gc_result *ret);

#endif
