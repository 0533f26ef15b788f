/* SPDX-License-Identifier: MIT */
/*
 * The writer session's verbs for the store's operations (ingest, gc,
 * copy, images). The session's state is private to writer.c: an
 * operation asks the writer to seal a pack or checkpoint, it never swaps
 * the writer's pack or aliases its transaction.
 */
#ifndef SFS_WRITER_INT_H
#define SFS_WRITER_INT_H

#include "snapfs/catalog.h"
#include "snapfs/chunk.h"
#include "snapfs/ingest.h"
#include "snapfs/pack.h"
#include "snapfs/blockmap.h"

/* For gc on a full disk, in a session that has appended nothing: the
 * active pack, all of whose records are dead, is recorded at the commit as
 * holding only its header, so that its space comes back by cutting it
 * rather than by creating a new pack (which needs space). *ret_number is
 * the pack, for the caller to truncate after the commit. -EBUSY when the
 * session has written anything. */
int sfs_writer_rewind_active(struct sfs_writer *w, uint64_t *ret_number);
/* The store the session writes to. */
struct sfs_store *sfs_writer_store(const struct sfs_writer *w);
/* Appends an already-encoded chunk unless the store has it; counts it.
 * May commit a checkpoint: take sfs_writer_txn again afterwards. */
int sfs_writer_put_stored(struct sfs_writer *w, const struct sfs_rec_header *h,
			  const void *payload, bool *ret_new);
/* Syncs the pack and commits what was appended so far, keeping the session. */
int sfs_writer_checkpoint(struct sfs_writer *w);
/* Checkpoints when at least bytes were appended since the last commit. */
int sfs_writer_checkpoint_over(struct sfs_writer *w, uint64_t bytes);
/* Seals the pack being written (durable, never appended to again) and
 * creates the next one now, so that every later append, and pack.active
 * at the next commit, names a pack numbered above every older one. */
int sfs_writer_seal_pack(struct sfs_writer *w);
/* The pack appends go to (the last one written; 0 before any). */
uint64_t sfs_writer_pack(const struct sfs_writer *w);
/* The pack pack.active named when the session began (0: none). */
uint64_t sfs_writer_first_pack(const struct sfs_writer *w);
/* Record bytes (header + stored) and chunks appended since the last reset. */
void sfs_writer_stats(const struct sfs_writer *w, uint64_t *ret_bytes, uint64_t *ret_chunks);
void sfs_writer_stats_reset(struct sfs_writer *w);
/* Records a pending snapshot and commits it at once. */
int sfs_writer_add_pending(struct sfs_writer *w, struct sfs_snapshot *sn);
/* Queues sn (ownership of its heap fields moves to w) to complete at commit. */
int sfs_writer_add_done(struct sfs_writer *w, struct sfs_snapshot *sn);
/* A snapshot queued by sfs_writer_add_done in this session, or NULL;
 * borrowed until the session ends. w may be NULL. */
const struct sfs_snapshot *sfs_writer_session_snapshot(const struct sfs_writer *w, const char *id);
/* A disk (what names it in err) backed by snapshot id: the snapshot is
 * this session's or completed in the catalog (else -ENOENT or -EAGAIN);
 * a *size of 0 takes the snapshot's, a smaller one is -ERANGE. For the
 * devices of images and the parts of checkpoints alike. */
int sfs_writer_disk_fit(struct sfs_txn *t, const struct sfs_writer *w, const char *what,
			const char *id, uint64_t *size, char *err, size_t errlen);

#endif
