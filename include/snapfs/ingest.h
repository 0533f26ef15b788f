/* SPDX-License-Identifier: MIT */
/*
 * Ingest: turning a source (file, block device, stdin) into a snapshot.
 * Work happens inside a writer session, which owns the store's write
 * transaction and the pack being appended to:
 *
 *   sfs_writer_begin -> sfs_writer_snapshot (one or more) -> sfs_writer_commit
 *
 * Snapshots made in a session become completed together, in the one LMDB
 * transaction of sfs_writer_commit, after every pack byte they need was
 * fsync'd: either all of them exist afterwards or none do. Until then they
 * are recorded as pending, so that an interrupted session is found and
 * cleaned by the next writer. A writer session belongs to one thread; the
 * hashing and compression it starts run on a pool of worker threads.
 */
#ifndef SNAPFS_INGEST_H
#define SNAPFS_INGEST_H

#include <jansson.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "snapfs/store.h"

typedef void (*sfs_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct sfs_ingest_opts {
	const char *volume;
	const char *source;         /* path, or "-" for standard input */
	const char *changed_ranges; /* path of a ranges file, or NULL */
	const char *description;    /* or NULL */
	json_t *tags;               /* object of strings, borrowed; or NULL */
	unsigned threads;           /* 0: one per online CPU */
	bool buffered;              /* read a whole source through the page cache */
	/* A file or device shorter than the volume's newest snapshot is
	 * stored padded with zero blocks to that snapshot's size instead of
	 * refused (a VM's RAM or device state, which may shrink from one
	 * checkpoint to the next; res->source_size keeps its own length).
	 * Not with changed_ranges, not for standard input. */
	bool pad_to_parent;
	sfs_progress_fn progress;   /* or NULL */
	void *progress_ctx;
};

struct sfs_ingest_result {
	char snap_id[SFS_IDSTR_SIZE];
	char parent[SFS_IDSTR_SIZE];
	uint64_t size;        /* logical bytes */
	uint64_t source_size; /* the source's bytes: less than size when padded */
	uint64_t read_bytes;  /* bytes read from the source */
	uint64_t data_bytes;  /* bytes in non-zero blocks */
	uint64_t new_bytes;   /* bytes appended to packs */
	uint64_t new_chunks;  /* chunks (blocks and map pages) added */
	uint64_t blocks, zero_blocks, dedup_blocks;
	uint64_t changed_ranges; /* ranges the changed-ranges file listed, merged */
	char error[256];      /* one line on failure when the cause is the input */
};

struct sfs_writer;

/* Requires a store opened with SFS_OPEN_WRITE. */
int sfs_writer_begin(struct sfs_store *s, struct sfs_writer **ret);

/*
 * Reads the source and records a snapshot of o->volume, incremental
 * against the volume's newest completed snapshot. With o->changed_ranges
 * only the listed ranges and the part past the parent's size are read
 * (an empty list reads only that part). Errors (-errno, with
 * ret->error set when the input is at fault): -ENOENT/-EACCES source,
 * -EISDIR directory source, -ERANGE source smaller than the volume (and
 * not padded: o->pad_to_parent),
 * -EINVAL bad volume name or ranges file, -ENOSPC disk full. After an
 * error the session must be aborted.
 */
int sfs_writer_snapshot(struct sfs_writer *w, const struct sfs_ingest_opts *o,
			struct sfs_ingest_result *ret);

/* The session's write transaction, for catalog changes that must commit
 * together with its snapshots (an image registration). Borrowed. */
struct sfs_txn *sfs_writer_txn(struct sfs_writer *w);

/* Stores one chunk (deduplicated), as the map builder and copy do. */
int sfs_writer_put_chunk(struct sfs_writer *w, uint8_t type, const void *data, size_t len,
			 const struct sfs_id *id, bool *ret_new);

/* Makes everything durable and commits; frees w whatever the outcome. */
int sfs_writer_commit(struct sfs_writer *w);

/* Drops the session: uncommitted chunks are truncated away and this
 * session's pending snapshots removed (best effort: the next writer
 * cleans what is left). Accepts NULL. */
void sfs_writer_abort(struct sfs_writer *w);

/* begin + snapshot + commit. */
int sfs_ingest(struct sfs_store *s, const struct sfs_ingest_opts *o,
	       struct sfs_ingest_result *ret);

/* Parses a changed-ranges file (see FORMAT.md) into sorted, merged
 * [offset, length) pairs. *ret is malloc'd (2 * *ret_n values). */
int sfs_ranges_parse(const char *text, size_t len, uint64_t **ret, size_t *ret_n,
		     char *err, size_t errlen);

#endif
