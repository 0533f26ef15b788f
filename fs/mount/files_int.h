/* SPDX-License-Identifier: MIT */
/*
 * files/: the filesystems inside snapshots, shared by tree_files.c (the
 * table of filesystems this mount has seen, their numbers and their
 * lazily opened views) and fsops_files.c (the FUSE operations on them).
 *
 * Inode numbers: kind SFS_INO_KIND_FILES, then a 24-bit filesystem number
 * given at first sight and never reused in the mount, then the
 * filesystem's own 32-bit inode number, so hard links keep sharing one
 * inode and nothing collides with the other trees. Number n with inode 1
 * (ext's bad-blocks inode, never named) is files/<id>/ itself: the root
 * of an unpartitioned volume's filesystem (ext inode 2), or the list of a
 * disk's partitions; a partition's filesystem has its own number.
 */
#ifndef SNAPFS_FS_FILES_INT_H
#define SNAPFS_FS_FILES_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mount_int.h"
#include "snapfs/fsview.h"
#include "snapfs/partition.h"

#define SFS_FILES_TOP 1u /* the inode of files/<id>/ */
/* With a partition's number: files/<id>/p<N>.img, the partition's raw
 * bytes (ext has no inode 0, so nothing of the filesystem collides). */
#define SFS_FILES_IMG 0u
#define SFS_FILES_NUM_MAX ((1u << 24) - 1)
#define SFS_FILES_INO(num, ext) \
	SFS_INO_MAKE(SFS_INO_KIND_FILES, ((uint64_t)(num) << 32) | (uint32_t)(ext))
#define SFS_FILES_NUM(ino) ((uint32_t)(SFS_INO_NUM(ino) >> 32))
#define SFS_FILES_EXT(ino) ((uint32_t)(ino))
/* Open filesystems kept at once; more are closed, least recently used
 * first, once nobody reads them. */
#define SFS_FILES_OPEN_MAX 16

/* A filesystem of a snapshot (partno > 0: a partition), or, with partno
 * 0, the snapshot's volume: its filesystem, or its partition table. */
struct sfs_fsent {
	uint32_t num;
	unsigned partno;
	struct sfs_tsnap snap; /* a copy: id, map, times */
	/* What the gate asks about, set at creation: the snapshot, for
	 * files/<id>/; the image, for images/<name>/<device>.files/. */
	enum sfs_access_kind gate_kind;
	char gate_name[SFS_NAME_MAX + 1];
	uint64_t offset, size; /* set at creation, then constant */
	pthread_mutex_t open_lock; /* one probe, one open at a time */
	/* Set once under open_lock, then constant (probed is read with
	 * acquire): partno 0 only. */
	bool probed;
	bool whole_fs;         /* the volume holds an ext filesystem */
	struct sfs_part *parts; /* else its partitions, if any */
	size_t nparts;
	/* Guarded by the table's lock. */
	struct sfs_fsview *fv;
	unsigned users;
	uint64_t last_use;
	bool broken; /* could not be opened: shown empty, logged once */
	/* partno > 0: the non-zero bytes of the partition, for st_blocks of
	 * p<N>.img; counted on first need (data_known, read with acquire). */
	uint64_t data_bytes;
	bool data_known;
};

struct sfs_files;

int sfs_files_new(struct sfs_reader *r, struct sfs_files **ret);
void sfs_files_free(struct sfs_files *f); /* accepts NULL */

/* The entry of snapshot ts's volume, numbered now if new. 0 or -ENOMEM,
 * -ENOSPC when the mount has given every number. Thread-safe. */
int sfs_files_volume(struct sfs_files *f, const struct sfs_tsnap *ts, struct sfs_fsent **ret);
/* The same for a snapshot reached through a record of kind gate_kind
 * named gate_name (an image's device): its own entry and numbers, gated
 * as that record. */
int sfs_files_volume_as(struct sfs_files *f, const struct sfs_tsnap *ts,
			enum sfs_access_kind gate_kind, const char *gate_name, struct sfs_fsent **ret);
/* The entry numbered num (borrowed for the mount's life), or -ENOENT. */
int sfs_files_get(struct sfs_files *f, uint32_t num, struct sfs_fsent **ret);
/* Reads volume entry e's partition table and superblock magic, once.
 * 0 or -errno (the reader's); a volume with neither is empty, logged. */
int sfs_files_probe(struct sfs_files *f, struct sfs_fsent *e);
/* The entry of partition partno of probed volume entry disk: -ENOENT
 * when it has no such partition, or (need_fs) none with an ext
 * filesystem. */
int sfs_files_part(struct sfs_files *f, struct sfs_fsent *disk, unsigned partno, bool need_fs,
		   struct sfs_fsent **ret);
/* The non-zero bytes of partition entry e, from the snapshot's map
 * (counted once). 0 or the reader's -errno. */
int sfs_files_part_data(struct sfs_files *f, struct sfs_fsent *e, uint64_t *ret);
/* The open view of filesystem entry e, opened now if need be; hold it
 * until sfs_files_release. -EMEDIUMTYPE, -EUCLEAN... for a filesystem
 * that cannot be opened (logged on the first try only). */
int sfs_files_acquire(struct sfs_files *f, struct sfs_fsent *e, struct sfs_fsview **ret);
void sfs_files_release(struct sfs_files *f, struct sfs_fsent *e);

#endif
