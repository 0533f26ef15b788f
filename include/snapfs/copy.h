/* SPDX-License-Identifier: MIT */
/*
 * Copying a snapshot to another store (like CopySnapshot). Chunk ids are
 * content hashes, so they stay the same across stores and the copy sends
 * only what the destination lacks: the source map is walked top-down and
 * a subtree whose page id the destination already has is skipped whole.
 * That is sound because a map page only ever enters a store after every
 * chunk below it (writers store children first, gc keeps or drops whole
 * reachable subtrees), so a present page vouches for its subtree.
 *
 * Every chunk is read from the source pack, decompressed and re-hashed
 * before it is appended; when both stores use the same zstd level the
 * stored bytes are appended as they are, otherwise the block is
 * recompressed at the destination's level. The destination session
 * commits checkpoints every few MiB, so an interrupted copy leaves what
 * arrived durable in the destination index, and running the copy again
 * sends only the rest. The copy is a new snapshot in the destination,
 * with a new id, the source's volume name, creation time, tags and
 * description, and `copied_from` set to the source id.
 *
 * The source may be open read-only (readers and its own writer may run);
 * the destination must be open with SFS_OPEN_WRITE. Single-threaded.
 */
#ifndef SNAPFS_COPY_H
#define SNAPFS_COPY_H

#include <jansson.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "snapfs/ingest.h"
#include "snapfs/store.h"

struct sfs_copy_opts {
	const char *description;  /* NULL: the source's */
	json_t *tags;             /* extra tags merged over the source's; borrowed; or NULL */
	uint64_t checkpoint_bytes; /* 0: 16 MiB */
	sfs_progress_fn progress; /* (logical bytes walked, snapshot size) */
	void *progress_ctx;
};

struct sfs_copy_result {
	char snap_id[SFS_IDSTR_SIZE]; /* the copy's id in the destination */
	uint64_t sent_chunks;    /* chunks appended to the destination */
	uint64_t sent_bytes;     /* bytes appended (record headers included) */
	uint64_t sent_raw_bytes; /* their uncompressed size */
	uint64_t present_chunks; /* chunks or subtree roots found already there */
};

/*
 * Copies completed snapshot `id` of src into dst. Errors: -ENOENT (no
 * such snapshot), -EAGAIN (not completed), -EXDEV (the stores' block
 * sizes differ), -EINVAL (src and dst are the same store), -EBADMSG (a
 * source chunk fails verification; nothing of it reaches dst), -EUCLEAN
 * (the source lacks a chunk its map names), -ENOSPC, -errno.
 */
/* Whether the store directory at path (symlinks resolved) is src itself,
 * compared by device and inode: 0 when it is another directory, -EINVAL
 * when it is src, -errno when path cannot be looked at. For checking a
 * copy target before anything waits for its writer lock, which src's
 * own writer holds. */
int sfs_copy_target_check(struct sfs_store *src, const char *path);

int sfs_copy_snapshot(struct sfs_store *src, const char *id, struct sfs_store *dst,
		      const struct sfs_copy_opts *o, struct sfs_copy_result *ret);

#endif
