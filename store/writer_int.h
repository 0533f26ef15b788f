/* SPDX-License-Identifier: MIT */
/* The writer session's state, shared by writer.c and ingest.c. */
#ifndef SFS_WRITER_INT_H
#define SFS_WRITER_INT_H

#include "snapfs/catalog.h"
#include "snapfs/chunk.h"
#include "snapfs/ingest.h"
#include "snapfs/pack.h"
#include "snapfs/blockmap.h"

struct sfs_writer {
	struct sfs_store *store;
	struct sfs_txn *txn;
	struct sfs_pack_writer *pack; /* open pack, or NULL */
	uint64_t committed_pack;      /* pack.active at the last commit (0: none) */
	uint64_t committed_len;       /* pack.active_len at the last commit */
	uint64_t cur_pack;            /* last pack appended to (0: none) */
	uint64_t cur_len;             /* its size */
	uint64_t since_checkpoint;    /* bytes appended since the last commit */
	uint8_t *cbuf;                /* compression output for put_chunk */
	/* snapshots made in this session: completed at commit */
	struct sfs_snapshot *done;
	size_t n_done;
	/* ids of this session's pending records, removed on abort */
	char (*pending)[SFS_IDSTR_SIZE];
	size_t n_pending;
	/* counters of the snapshot being made */
	uint64_t new_bytes, new_chunks;
};

/* Appends an already-encoded chunk unless the store has it; counts it. */
int sfs_writer_put_stored(struct sfs_writer *w, const struct sfs_rec_header *h,
			  const void *payload, bool *ret_new);
/* Syncs the pack and commits what was appended so far, keeping the session. */
int sfs_writer_checkpoint(struct sfs_writer *w);
/* Records a pending snapshot and commits it at once. */
int sfs_writer_add_pending(struct sfs_writer *w, struct sfs_snapshot *sn);
/* Queues sn (ownership of its heap fields moves to w) to complete at commit. */
int sfs_writer_add_done(struct sfs_writer *w, struct sfs_snapshot *sn);

#endif
