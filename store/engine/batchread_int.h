/* SPDX-License-Identifier: MIT */
/*
 * Reads and verifies a batch of chunks on every CPU. Each read decodes
 * and re-hashes the chunk (sfs_store_chunk_read), and zstd and SHA-256
 * take most of the time of check --read-data, copy and gc's moves, which
 * read chunk after chunk: on one thread they left the other cores idle.
 * The calling thread takes its share of each batch; the helpers, as many
 * as the further CPUs online (at most SFS_BATCHREAD_THREADS_MAX in all),
 * wait between batches. One caller at a time.
 */
#ifndef SFS_BATCHREAD_INT_H
#define SFS_BATCHREAD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/chunk.h"
#include "snapfs/pack.h"

#define SFS_BATCHREAD_THREADS_MAX 8u

struct sfs_store;
struct sfs_batchread;

struct sfs_batch_ent {
	struct sfs_id id;
	uint8_t type;              /* enum sfs_chunk_type, or 0: either */
	bool located;              /* loc says where to read; else the index is asked */
	struct sfs_chunk_loc loc;  /* out: where it was read (when r is 0 or -EBADMSG) */
	uint8_t *raw;              /* the decoded bytes; NULL: the thread's scratch buffer */
	size_t cap;                /* the most raw bytes accepted (0: SFS_BLOCK_MAX, which
				    * is also the scratch buffer's size) */
	const uint8_t *given;      /* NULL, or the record's stored bytes, already read
				    * (loc as its header in the pack says): verified
				    * where they are, not read again */
	uint8_t *stored;           /* NULL, or stored_cap bytes for the stored payload */
	size_t stored_cap;
	int r;                     /* sfs_store_chunk_read's result; -ENOBUFS: stored_cap too small */
	void *arg;                 /* the caller's, for its then function */
};

/* Run by the reading thread after a good read, with the decoded bytes;
 * its result becomes e->r. */
typedef int (*sfs_batch_then_fn)(void *ctx, struct sfs_batch_ent *e, const uint8_t *raw);

/* -ENOMEM; a helper that cannot start leaves its share to the others. */
int sfs_batchread_new(struct sfs_store *s, struct sfs_batchread **ret);
/* Work each read is followed by, on the same thread (NULL: none). Set
 * between batches. */
void sfs_batchread_then(struct sfs_batchread *b, sfs_batch_then_fn fn, void *ctx);
/* Reads e[0..n) and returns when every one has its r. */
void sfs_batchread_run(struct sfs_batchread *b, struct sfs_batch_ent *e, size_t n);
/* The same in two halves, so that the caller can work while the helpers
 * read: start hands e[0..n) to them and returns at once; finish takes the
 * caller's share of what is left and waits for the rest. Between the two
 * the caller may read the entries' ids and nothing else, and start no
 * other batch. */
void sfs_batchread_start(struct sfs_batchread *b, struct sfs_batch_ent *e, size_t n);
void sfs_batchread_finish(struct sfs_batchread *b);

/* A caller that stores what it reads (copy, gc's moves) keeps two batches
 * going: the helpers read one while the caller's thread stores the other.
 * fill puts up to max entries into e (id, type, located, loc) and returns
 * how many, 0 when there are no more, or -errno; it may read the ids of
 * the batch being read meanwhile (held, n_held). drain stores a batch that
 * has been read, in order: 0 or -errno. */
struct sfs_batch_pipe {
	int (*fill)(void *ctx, struct sfs_batch_ent *e, size_t max,
		    const struct sfs_batch_ent *held, size_t n_held);
	int (*drain)(void *ctx, struct sfs_batch_ent *e, size_t n);
	void *ctx;
};
/* Runs fill and drain over bufs[0] and bufs[1], max entries each, until
 * fill has no more: 0, or the first error of either. */
int sfs_batchread_pipe(struct sfs_batchread *b, struct sfs_batch_ent *bufs[2], size_t max,
		       const struct sfs_batch_pipe *p);
void sfs_batchread_free(struct sfs_batchread *b);

#endif
