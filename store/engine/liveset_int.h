/* SPDX-License-Identifier: MIT */
/*
 * A set of chunk ids whose memory does not grow with the store: ids are
 * gathered in a fixed buffer, which is sorted and written out as a run to
 * an unlinked temporary file whenever it fills; once sealed, the set is
 * read back as one ascending merge of the runs and answers "is this id a
 * member?" for ids asked in ascending order (the chunk index's own key
 * order, so a walk of the index is a merge join). gc and check keep what
 * snapshots reference in it; store/FORMAT.md, "Bounded memory for gc and
 * check", says why. Also a spool: fixed-size records appended to a
 * temporary file and read back in order. Neither is thread-safe.
 */
#ifndef SFS_LIVESET_INT_H
#define SFS_LIVESET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "snapfs/chunk.h"

/* The id buffer's default size: 1 Mi ids. */
#define SFS_LIVESET_MEM (32u << 20)

struct sfs_liveset;

/* mem is the id buffer in bytes (0: SFS_LIVESET_MEM); temporary files go
 * to $TMPDIR, or /var/tmp. -ENOMEM, or the error creating the file. */
int sfs_liveset_new(size_t mem, struct sfs_liveset **ret);
void sfs_liveset_free(struct sfs_liveset *ls);
/* Adds id (the zero id is never a member); may write a run. 0 or -errno.
 * Only before sfs_liveset_seal. */
int sfs_liveset_add(struct sfs_liveset *ls, const struct sfs_id *id);
/* Ends adding and starts the merge at the smallest member. */
int sfs_liveset_seal(struct sfs_liveset *ls);
/* After seal, for ids asked in non-decreasing order: 1 when id is a
 * member, 0 when not, -errno when a run cannot be read. */
int sfs_liveset_has(struct sfs_liveset *ls, const struct sfs_id *id);
/* After seal, the members in ascending order, each once: 1 with *ret set,
 * 0 after the last, -errno. Shares the merge position with has (a member
 * has passed over is not returned). */
int sfs_liveset_next(struct sfs_liveset *ls, struct sfs_id *ret);
/* Starts the merge again from the smallest member, for another pass. */
int sfs_liveset_rewind(struct sfs_liveset *ls);
/* The same set of fixed-size records of esz bytes (at most 64 KiB),
 * ordered and deduplicated by memcmp over all esz bytes: a record that
 * leads with a big-endian key is read back in that key's order. Freed
 * with sfs_liveset_free, sealed and rewound as above; add and next take
 * and give whole records (no record is skipped as the zero id is).
 * sfs_liveset_add, _has and _next are for sets of ids only. */
int sfs_recset_new(size_t mem, size_t esz, struct sfs_liveset **ret);
int sfs_recset_add(struct sfs_liveset *ls, const void *rec);
int sfs_recset_next(struct sfs_liveset *ls, void *ret);
/* The number of runs written (0 when every id fitted in the buffer). */
uint64_t sfs_liveset_runs(const struct sfs_liveset *ls);

/* An unlinked temporary file for records written once and read back in
 * order (stdio buffered); NULL with errno set when it cannot be made. */
FILE *sfs_spool_new(void);

#endif
