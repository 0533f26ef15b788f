// SPDX-License-Identifier: MIT
/*
 * Partition tables through libblkid. libblkid reads a file descriptor,
 * not a callback, and no snapshot has a device node, so the probe reads
 * a sparse memfd of the disk's size that holds only the sectors where
 * tables live: the first and the last MiB (MBR, GPT and its backup
 * header), and, for MBR extended partitions, the first MiB of the
 * container and the 2 MiB after each logical partition found, where
 * partitioning tools put the next extended boot record. The probe runs
 * again until no new partition appears, so a chain of logical
 * partitions is followed one link per round. The memfd's holes cost no
 * memory, and nothing but those sectors is read from the store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <blkid/blkid.h>

#include "lazylib_int.h"
#include "snapfs/log.h"
#include "snapfs/partition.h"

/* Only files/ reads partition tables, so libblkid is loaded by the first
 * probe rather than mapped at every start-up (lazylib_int.h). */
#define LIBBLKID_FNS(X)                                                                            \
	X(blkid_free_probe)                                                                        \
	X(blkid_new_probe)                                                                         \
	X(blkid_partition_get_partno)                                                              \
	X(blkid_partition_get_size)                                                                \
	X(blkid_partition_get_start)                                                               \
	X(blkid_partition_get_type)                                                                \
	X(blkid_partition_get_type_string)                                                         \
	X(blkid_partition_is_extended)                                                             \
	X(blkid_partition_is_logical)                                                              \
	X(blkid_partlist_get_partition)                                                            \
	X(blkid_partlist_numof_partitions)                                                         \
	X(blkid_probe_enable_partitions)                                                           \
	X(blkid_probe_enable_superblocks)                                                          \
	X(blkid_probe_get_partitions)                                                              \
	X(blkid_probe_set_device)                                                                  \
	X(blkid_probe_set_sectorsize)
SFS_LAZYLIB(blk, "libblkid.so.1", LIBBLKID_FNS);

#define MIB (UINT64_C(1) << 20)
#define MAX_ROUNDS 128 /* links of a logical partition chain followed */
#define EXT_MAGIC_OFF (1024 + 56)
#define PROBE_NONE 1 /* probe_once: no table (not an errno: those are < 0) */

/* Copies [off, off + len) of the snapshot into the memfd (clamped). */
static int copy_range(struct sfs_reader *r, const struct sfs_snapmap *m, int fd, uint64_t off,
		      uint64_t len, char *buf)
{
	while (len && off < m->size) {
		size_t n = len < MIB ? (size_t)len : (size_t)MIB;
		ssize_t got;

		if (n > m->size - off)
			n = (size_t)(m->size - off);
		got = sfs_reader_pread(r, m, buf, n, off);
		if (got < 0)
			return (int)got;
		if (got == 0)
			break;
		if (pwrite(fd, buf, (size_t)got, (off_t)off) != got)
			return -errno;
		off += (uint64_t)got;
		len -= (uint64_t)got < len ? (uint64_t)got : len;
	}
	return 0;
}

int sfs_parts_has_ext(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t offset,
		      uint64_t size)
{
	uint8_t magic[2];
	ssize_t n;

	if (size < 2048 || offset > m->size || m->size - offset < 2048)
		return 0;
	n = sfs_reader_pread(r, m, magic, 2, offset + EXT_MAGIC_OFF);
	if (n < 0)
		return (int)n;
	return n == 2 && magic[0] == 0x53 && magic[1] == 0xEF;
}

/* One probe of the memfd, as a disk of sector_size-byte sectors: the
 * partitions libblkid sees now, extended ones included (the caller
 * follows them). PROBE_NONE when it sees no table. libblkid gives starts and
 * sizes in 512-byte units whatever the sector size. */
static int probe_once(int fd, uint64_t size, unsigned sector_size, struct sfs_part **ret,
		      size_t *ret_n, uint64_t **ret_ext, size_t *ret_next)
{
	blkid_probe pr = blk.blkid_new_probe();
	blkid_partlist ls;
	int n, r = 0;

	*ret = NULL;
	*ret_n = *ret_next = 0;
	*ret_ext = NULL;
	if (!pr)
		return -ENOMEM;
	if (blk.blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)size) < 0 ||
	    blk.blkid_probe_set_sectorsize(pr, sector_size) < 0 ||
	    blk.blkid_probe_enable_superblocks(pr, 0) < 0 || blk.blkid_probe_enable_partitions(pr, 1) < 0) {
		r = -EIO;
		goto out_free_probe;
	}
	ls = blk.blkid_probe_get_partitions(pr);
	n = ls ? blk.blkid_partlist_numof_partitions(ls) : -1;
	if (n <= 0) {
		r = n < 0 ? PROBE_NONE : 0;
		goto out_free_probe;
	}
	*ret = calloc((size_t)n, sizeof(**ret));
	*ret_ext = calloc((size_t)n, sizeof(**ret_ext) * 2);
	if (!*ret || !*ret_ext) {
		r = -ENOMEM;
		goto out_free_probe;
	}
	for (int i = 0; i < n; i++) {
		blkid_partition p = blk.blkid_partlist_get_partition(ls, i);
		blkid_loff_t start = p ? blk.blkid_partition_get_start(p) : -1;
		blkid_loff_t len = p ? blk.blkid_partition_get_size(p) : -1;
		struct sfs_part *sp;
		const char *ts;

		if (!p || start < 0 || len <= 0 || (uint64_t)start > size / 512)
			continue;
		if (blk.blkid_partition_is_extended(p) || blk.blkid_partition_is_logical(p)) {
			/* Where the next extended boot record may be. */
			uint64_t at = (uint64_t)start * 512;

			(*ret_ext)[(*ret_next)++] = blk.blkid_partition_is_extended(p)
							    ? at
							    : at + (uint64_t)len * 512;
			if (blk.blkid_partition_is_extended(p))
				continue;
		}
		sp = &(*ret)[(*ret_n)++];
		sp->partno = (unsigned)blk.blkid_partition_get_partno(p);
		sp->offset = (uint64_t)start * 512;
		sp->size = (uint64_t)len <= (size - sp->offset) / 512 ? (uint64_t)len * 512
								       : size - sp->offset;
		ts = blk.blkid_partition_get_type_string(p);
		if (ts)
			snprintf(sp->type, sizeof(sp->type), "%s", ts);
		else
			snprintf(sp->type, sizeof(sp->type), "0x%02x", blk.blkid_partition_get_type(p));
	}
out_free_probe:
	blk.blkid_free_probe(pr);
	return r;
}

int sfs_parts_probe(struct sfs_reader *r, const struct sfs_snapmap *m, const char *label,
		    struct sfs_part **ret, size_t *ret_n)
{
	struct sfs_part *parts = NULL;
	uint64_t *ext = NULL;
	size_t n = 0, next = 0, prev = SIZE_MAX;
	unsigned sector_size = 512;
	char *buf = malloc(MIB);
	int fd = -1, rc = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!buf)
		return -ENOMEM;
	if (sfs_lazylib_need(&blk_lib) < 0) {
		static bool logged; /* once: files/ asks again on every look */

		if (!__atomic_exchange_n(&logged, true, __ATOMIC_RELAXED))
			sfs_log(SFS_LOG_ERR, "%s: no partitions shown: cannot load %s: %s", label,
				blk_lib.soname, blk_lib.error);
		rc = -ELIBACC;
		goto out_free_buf;
	}
	fd = memfd_create("snapfs-partitions", MFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_free_buf;
	}
	if (ftruncate(fd, (off_t)m->size) < 0) {
		rc = -errno;
		goto out_close_fd;
	}
	rc = copy_range(r, m, fd, 0, MIB, buf);
	if (rc == 0 && m->size > MIB)
		rc = copy_range(r, m, fd, m->size - MIB, MIB, buf);
	for (int round = 0; rc == 0 && round < MAX_ROUNDS; round++) {
		free(parts);
		free(ext);
		rc = probe_once(fd, m->size, sector_size, &parts, &n, &ext, &next);
		if (round == 0 && sector_size == 512 && (rc == PROBE_NONE || (rc == 0 && !n))) {
			/* A snapshot does not say what sectors its disk had: a
			 * GPT made on a 4096-byte-sector disk has its header at
			 * byte 4096, where 512-byte sectors find none. */
			sector_size = 4096;
			round = -1;
			rc = 0;
			continue;
		}
		if (rc == PROBE_NONE) {
			rc = 0; /* no table: an unpartitioned volume */
			n = 0;
			break;
		}
		/* Done when a round found nothing new to follow. */
		if (rc < 0 || !next || n == prev)
			break;
		prev = n;
		for (size_t i = 0; i < next && rc == 0; i++)
			rc = copy_range(r, m, fd, ext[i], 2 * MIB, buf);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int e = sfs_parts_has_ext(r, m, parts[i].offset, parts[i].size);

		if (e < 0)
			rc = e;
		parts[i].ext = e > 0;
		if (e == 0)
			sfs_log(SFS_LOG_INFO, "%s p%u: no ext2/3/4 filesystem (partition type %s): not shown",
				label, parts[i].partno, parts[i].type);
	}
	if (rc == 0) {
		*ret = n ? parts : NULL;
		*ret_n = n;
		if (n)
			parts = NULL;
	}
	free(parts);
	free(ext);
out_close_fd:
	close(fd);
out_free_buf:
	free(buf);
	return rc;
}
