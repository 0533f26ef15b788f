/* SPDX-License-Identifier: MIT */
/*
 * Pack spans (span.c): aligned 1 MiB pieces of packs read past the page
 * cache (O_DIRECT) for readers that walk a pack in order, with the next
 * spans read ahead by threads of their own. Private to the local backend.
 */
#ifndef SFS_SPAN_INT_H
#define SFS_SPAN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SFS_SPAN_SIZE (1u << 20)

struct sfs_spans;

/* A cache of at most nspans spans; their memory is allocated on first
 * use. 0 or -errno. */
int sfs_spans_new(unsigned nspans, struct sfs_spans **ret);
/* Stops the read-ahead thread and frees every span. Accepts NULL. */
void sfs_spans_free(struct sfs_spans *sp);

/*
 * Copies [off, off + total) of pack `number` into iov (iovcnt buffers
 * holding total bytes) from its spans, reading missing spans through
 * dfd, a descriptor of the pack opened with O_DIRECT (borrowed; dup'ed
 * for a span read ahead). Returns total, or -EAGAIN when the spans cannot
 * serve the range (no free span, a failed direct read, or a range past a
 * span that ended at the pack's end when it was read, since the pack may
 * have grown): the caller then reads it the ordinary way. -EINVAL: the
 * file system refused a direct read, and the caller should stop using
 * spans for the store. Thread-safe.
 */
ssize_t sfs_spans_read(struct sfs_spans *sp, uint64_t number, int dfd, uint64_t off,
		       const struct iovec *iov, int iovcnt, size_t total);
/* Drops the spans of pack `number` (removed, cut, or its bytes in doubt);
 * one being read is dropped when its read ends. Returns how many. */
unsigned sfs_spans_forget(struct sfs_spans *sp, uint64_t number);
/* Spans read so far (read ahead included), for tests. */
uint64_t sfs_spans_loaded(struct sfs_spans *sp);

#endif
