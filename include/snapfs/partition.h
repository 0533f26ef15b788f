/* SPDX-License-Identifier: MIT */
/*
 * The partitions of a snapshot of a whole disk, found by util-linux's
 * libblkid (GPT, MBR with logical partitions, and the other tables it
 * knows), so that the files of each partition's filesystem can be shown.
 * Only the sectors a table lives in are read from the store.
 */
#ifndef SNAPFS_PARTITION_H
#define SNAPFS_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/reader.h"

struct sfs_part {
	unsigned partno;   /* as the kernel numbers it: 1 for sda1 */
	uint64_t offset;   /* bytes from the disk's start */
	uint64_t size;     /* bytes, clamped to the snapshot's end */
	char type[40];     /* GPT type GUID, or "0x83" for MBR */
	bool ext;          /* an ext2/3/4 superblock magic at offset + 1024 */
};

/*
 * The partitions of snapshot m, in table order, without extended
 * (container) partitions. *ret_n is 0 when the snapshot has no partition
 * table. *ret is malloc'd (free it; NULL when none). 0, -ENOMEM, the
 * reader's -errno, or -ELIBACC when libblkid, loaded by the first call,
 * cannot be (logged); a table libblkid cannot parse is no table (logged).
 */
int sfs_parts_probe(struct sfs_reader *r, const struct sfs_snapmap *m, const char *label,
		    struct sfs_part **ret, size_t *ret_n);

/* Whether [offset, offset + size) of m starts like an ext2/3/4 filesystem
 * (the superblock magic): cheap, one block read. 1, 0 or -errno. */
int sfs_parts_has_ext(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t offset,
		      uint64_t size);

#endif
