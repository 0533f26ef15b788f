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
#include "snapfs/image.h"
#include "snapfs/ingest.h"
#include "snapfs/store.h"

struct sfs_copy_opts {
	const char *description;  /* NULL: the source's */
	json_t *tags;             /* extra tags merged over the source's; borrowed; or NULL */
	uint64_t checkpoint_bytes; /* 0: 64 MiB */
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

/* ---- machine images (image_copy.c) ---- */

struct sfs_image_copy_opts {
	const char *name;      /* the name at the destination; NULL: the source's */
	const char *owner;     /* the copy's owner; NULL: the source's */
	bool copy_permissions; /* keep launch permissions (users, groups, public) */
	/* The copy's origin (image.h): a policy's copy, which its retention in
	 * dst recognises; NULL: none (a user's copy is no policy's). */
	const struct sfs_image_origin *origin;
	/* Before each snapshot copied: the device and the source snapshot. */
	void (*device_fn)(void *ctx, const char *device, const char *snap_id);
	sfs_progress_fn progress; /* of each snapshot's copy */
	void *progress_ctx;       /* for both */
};

struct sfs_image_copy_result {
	struct sfs_image image;  /* on success, the destination's record; release it */
	uint64_t sent_chunks, sent_bytes, present_chunks; /* summed over the snapshots */
	uint64_t reused;         /* snapshots an interrupted earlier run had copied */
	char device[SFS_DEVNAME_MAX + 1]; /* on failure: the device being copied, or "" */
	char error[256];         /* on a refused registration: why */
};

/*
 * Copies image name_or_id of src, with every snapshot it maps, to dst
 * (opened with SFS_OPEN_WRITE) and registers it there in one transaction
 * (new id, creation time now, launch permissions only when asked).
 * Rerunning after an interruption reuses the snapshots already copied.
 * Errors: -ENOENT no such image (or a snapshot it maps is gone; device
 * says which), -EEXIST the name is taken in dst, -EINVAL the same store,
 * -EXDEV block sizes differ, and those of sfs_copy_snapshot and
 * sfs_cat_image_create (error says why).
 */
int sfs_image_copy(struct sfs_store *src, const char *name_or_id, struct sfs_store *dst,
		   const struct sfs_image_copy_opts *o, struct sfs_image_copy_result *ret);

#endif
