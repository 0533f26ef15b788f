/* SPDX-License-Identifier: MIT */
/*
 * Verification of a store, and restoring a snapshot to a file or device.
 *
 * sfs_check walks the catalog (every record must decode; every image
 * record must also map existing, completed snapshots that fit its
 * devices), the chunk index (every location must lie inside its pack),
 * every completed snapshot's map (every page fetched and verified, every block id present in the
 * index) and, with read_data, every chunk (read, decompressed, re-hashed).
 * Each problem is reported once through the callback as one line naming
 * the object. Single-threaded.
 */
#ifndef SNAPFS_CHECK_H
#define SNAPFS_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "snapfs/ingest.h"
#include "snapfs/store.h"

struct sfs_check_result {
	uint64_t volumes, snapshots, pending, images, policies;
	uint64_t chunks, map_pages, chunks_read;
	uint64_t chunks_scanned; /* of chunks_read, those confirmed by reading their packs in order */
	uint64_t unreferenced, unreferenced_bytes;
	uint64_t problems;
	bool catalog_damaged; /* LMDB reported damage: write nothing to it */
};

typedef void (*sfs_problem_fn)(void *ctx, const char *line);

/* Returns 0 when the walk ran (problems are counted in ret, not errors),
 * or -errno when it could not run at all. */
int sfs_check(struct sfs_store *s, bool read_data, sfs_problem_fn problem, void *ctx,
	      sfs_progress_fn progress, void *progress_ctx, struct sfs_check_result *ret);

/* The last check's result as the catalog keeps it (meta keys check.*),
 * for the report. */
struct sfs_check_last {
	int64_t time;      /* unix seconds the check finished */
	bool read_data;    /* it read and verified every chunk */
	uint64_t problems; /* 0: passed */
	uint64_t snapshots, chunks_read;
};

/*
 * Records a finished check in the catalog of the store at path (opened
 * with SFS_OPEN_WRITE | SFS_OPEN_RECORD: no recovery, no key; the
 * check itself runs on a read-only open). -EBUSY when a writer holds the
 * store; then nothing is recorded. 0 or -errno.
 */
int sfs_check_record(const char *path, const struct sfs_check_last *last);
/* The last recorded check: 0, -ENOENT when none was, or -errno. */
int sfs_check_last_get(struct sfs_txn *t, struct sfs_check_last *ret);

enum sfs_restore_flags {
	SFS_RESTORE_FORCE = 1, /* replace an existing regular file, write a block device */
};

/*
 * Writes snapshot `id` to dest: a regular file (sparse: zero blocks are
 * holes) or, with FORCE, an existing block device (zero blocks are written
 * as zeros, since a device keeps old data; a link to a block device, as in
 * /dev/disk/by-id, is followed). Every block is verified before it is
 * written. A file is written to a temporary file created beside dest and
 * renamed over it only once complete and synced, so on any error dest is
 * as it was (absent, or the old file) and only the temporary file is
 * removed; a replaced file keeps its mode. A device is never unlinked.
 * Errors: -ENOENT (no such snapshot), -EAGAIN (not completed), -EEXIST
 * (dest exists, no FORCE), -EISDIR, -ELOOP (a symlink not to a block
 * device), -ENOTBLK (a character device, fifo or socket: never written),
 * -EFBIG (device smaller than the snapshot), -EBUSY (device in use),
 * -ENOSPC, -EBADMSG (corrupt chunk, logged), -errno.
 */
int sfs_restore(struct sfs_store *s, const char *id, const char *dest, int flags,
		sfs_progress_fn progress, void *progress_ctx);
/*
 * Writes snapshot `id` in order to fd, which the caller opened and still
 * owns (standard output, a pipe, a character device; a file is written
 * from its current offset, without holes): every byte, zero blocks as
 * zeros, each block verified before it is written. A pipe's buffer is
 * enlarged (F_SETPIPE_SZ, 1 MiB) when the system allows. Nothing is created or
 * removed, so on an error fd holds a prefix of the snapshot and the
 * caller must say so. Errors: -ENOENT, -EAGAIN, -EBADMSG as above, -EPIPE
 * (the reader went away, when SIGPIPE is ignored), -errno.
 */
int sfs_restore_stream(struct sfs_store *s, const char *id, int fd, sfs_progress_fn progress,
		       void *progress_ctx);

#endif
