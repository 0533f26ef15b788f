/* SPDX-License-Identifier: MIT */
/*
 * The ingest pipeline's shared state: the ring of batch slots that the
 * producer (ingest_source.c) fills and the workers and the writer
 * (ingest.c) consume. All of it is guarded by pipe.lock.
 */
#ifndef SFS_INGEST_INT_H
#define SFS_INGEST_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapfs/chunk.h"
#include "snapfs/ingest.h"
#include "snapfs/reader.h"
#include "store_int.h"

#define BATCH_BYTES (4u << 20)
/* Alignment of the slots' source buffers: what a read with O_DIRECT needs
 * of its buffer on every device with sectors of up to 4 KiB. */
#define SOURCE_ALIGN 4096u
#define SEG_MAX_BLOCKS (1u << 20) /* blocks in one zero/inherit batch */

enum seg_kind { SEG_READ, SEG_ZERO, SEG_INHERIT, SEG_END };
enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_DONE };
enum blk_kind { BLK_ZERO, BLK_KNOWN, BLK_NEW };

struct blk {
	struct sfs_id id;
	uint32_t stored_len;
	uint8_t comp;
	uint8_t kind;
};

/* A run of blocks read into a slot: n blocks from block first. */
struct ext {
	uint64_t first;
	uint64_t n;
};

struct slot {
	int state;
	int kind;
	uint64_t first;  /* first block */
	uint64_t n;      /* blocks */
	uint8_t *data;   /* READ: n * block size */
	uint8_t *out;    /* compressed blocks, bound(block size) apart */
	struct blk *blk;
	/* READ: where the n blocks of data come from, in order. One run,
	 * except with changed ranges, where the producer packs the small
	 * ranges of a sparse change into one slot (up to batch_blocks runs)
	 * and the writer takes the blocks between them from the parent. */
	struct ext *ext;
	uint32_t next;
};

struct pipe {
	struct sfs_store *store;
	uint32_t bs;
	size_t bound;
	uint32_t batch_blocks;
	int fd;
	bool read_direct;   /* a whole volume is read with O_DIRECT if it can */
	bool direct;        /* fd reads with O_DIRECT now (ingest_source.c) */
	bool stream;        /* size unknown until EOF */
	uint64_t size;      /* known size, or found at EOF for a stream */
	uint64_t nblocks;
	/* With a changed-ranges file: only these byte ranges (the grown part
	 * included) are read, everything else is the parent's. An empty list
	 * means nothing changed, not "read it all". */
	bool changed_only;
	const uint64_t *ranges;
	size_t n_ranges;

	/* With changed ranges: the parent's map, whose leaves around the
	 * ranges the warm thread (ingest.c) reads ahead for the writer. */
	struct sfs_reader *reader;
	const struct sfs_snapmap *parent;
	uint64_t parent_blocks;

	pthread_mutex_t lock; /* guards everything below and slot states */
	pthread_cond_t cond;
	struct slot *slots;
	unsigned nslots;
	uint64_t produced, claimed; /* sequence numbers */
	bool stop;
	int err;
	char errmsg[256];
	uint64_t read_bytes;
	uint64_t written; /* the writer's next block, when it frees a slot */
};

/* Records the first error (and a message for the user), stops the pipeline. */
void sfs_pipe_fail(struct pipe *p, int err, const char *msg);
/* The producer thread: plans the source into segments and reads them. */
void *sfs_pipe_produce(void *arg);
/* Opens and sizes the source; res->error says why when the input is at fault. */
int sfs_pipe_open_source(const struct sfs_ingest_opts *o, struct pipe *p,
			 struct sfs_ingest_result *res);
/* Reads, parses and bounds-checks the changed-ranges file into p, adding
 * the part of the source past parent_size (the parent snapshot's size). */
int sfs_pipe_load_ranges(const struct sfs_ingest_opts *o, struct pipe *p, uint64_t parent_size,
			 struct sfs_ingest_result *res, uint64_t **ret);

#endif
