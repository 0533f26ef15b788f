// SPDX-License-Identifier: MIT
/*
 * The table of filesystems files/ has shown: numbers given at first
 * sight (kept for the mount's life, so the kernel's inode numbers stay
 * valid), each snapshot's partition table read once, and an open
 * libext2fs view per filesystem, opened on first use and closed again,
 * least recently used first, when more than SFS_FILES_OPEN_MAX are open
 * and idle. A view has its own lock (snapfs/fsview.h); this table's lock
 * only guards the table, so filesystems are read in parallel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files_int.h"
#include "snapfs/log.h"

struct sfs_files {
	struct sfs_reader *reader;
	pthread_mutex_t lock;     /* guards ents, nents, capents, nopen, clock and
				   * each entry's fv, users, last_use, broken */
	struct sfs_fsent **ents;  /* ents[num - 1] */
	size_t nents, capents;
	size_t nopen;
	uint64_t clock;
};

int sfs_files_new(struct sfs_reader *r, struct sfs_files **ret)
{
	struct sfs_files *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->reader = r;
	pthread_mutex_init(&f->lock, NULL);
	*ret = f;
	return 0;
}

void sfs_files_free(struct sfs_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nents; i++) {
		sfs_fsview_close(f->ents[i]->fv);
		free(f->ents[i]->parts);
		pthread_mutex_destroy(&f->ents[i]->open_lock);
		free(f->ents[i]);
	}
	free(f->ents);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Finds or adds the entry of (ts, partno), whose filesystem lies at
 * [offset, offset + size) of the snapshot. Called with the lock. */
static int entry_locked(struct sfs_files *f, const struct sfs_tsnap *ts, unsigned partno,
			uint64_t offset, uint64_t size, enum sfs_access_kind gate_kind,
			const char *gate_name, struct sfs_fsent **ret)
{
	struct sfs_fsent *e;

	/* Filesystems browsed in one mount are few: a scan is fine. */
	for (size_t i = 0; i < f->nents; i++) {
		e = f->ents[i];
		if (e->snap.seq == ts->seq && e->partno == partno &&
		    !strcmp(e->snap.map.id, ts->map.id) && e->gate_kind == gate_kind &&
		    !strcmp(e->gate_name, gate_name)) {
			*ret = e;
			return 0;
		}
	}
	if (f->nents >= SFS_FILES_NUM_MAX)
		return -ENOSPC;
	if (f->nents == f->capents) {
		size_t n = f->capents ? f->capents * 2 : 64;
		struct sfs_fsent **p = realloc(f->ents, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		f->ents = p;
		f->capents = n;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->open_lock, NULL);
	e->snap = *ts;
	e->partno = partno;
	e->gate_kind = gate_kind;
	snprintf(e->gate_name, sizeof(e->gate_name), "%s", gate_name);
	e->offset = offset; /* constant from here on: read without the lock */
	e->size = size;
	f->ents[f->nents++] = e;
	e->num = (uint32_t)f->nents;
	*ret = e;
	return 0;
}

int sfs_files_volume(struct sfs_files *f, const struct sfs_tsnap *ts, struct sfs_fsent **ret)
{
	return sfs_files_volume_as(f, ts, SFS_ACCESS_SNAPSHOT, ts->map.id, ret);
}

int sfs_files_volume_as(struct sfs_files *f, const struct sfs_tsnap *ts,
			enum sfs_access_kind gate_kind, const char *gate_name, struct sfs_fsent **ret)
{
	int r;

	pthread_mutex_lock(&f->lock);
	r = entry_locked(f, ts, 0, 0, ts->map.size, gate_kind, gate_name, ret);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int sfs_files_get(struct sfs_files *f, uint32_t num, struct sfs_fsent **ret)
{
	int r = -ENOENT;

	pthread_mutex_lock(&f->lock);
	if (num >= 1 && num <= f->nents) {
		*ret = f->ents[num - 1];
		r = 0;
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

int sfs_files_probe(struct sfs_files *f, struct sfs_fsent *e)
{
	char label[SFS_IDSTR_SIZE + 8];
	int r = 0;

	if (e->partno || __atomic_load_n(&e->probed, __ATOMIC_ACQUIRE))
		return 0;
	snprintf(label, sizeof(label), "%s", e->snap.map.id);
	pthread_mutex_lock(&e->open_lock);
	if (!e->probed) {
		r = sfs_parts_probe(f->reader, &e->snap.map, label, &e->parts, &e->nparts);
		if (r == 0 && !e->nparts) {
			r = sfs_parts_has_ext(f->reader, &e->snap.map, 0, e->snap.map.size);
			e->whole_fs = r > 0;
			if (r == 0)
				sfs_log(SFS_LOG_INFO,
					"%s: neither a partition table nor an ext2/3/4 filesystem: files/ shows nothing",
					label);
			r = r < 0 ? r : 0;
		}
		if (r == 0)
			__atomic_store_n(&e->probed, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&e->open_lock);
	return r;
}

int sfs_files_part(struct sfs_files *f, struct sfs_fsent *disk, unsigned partno, bool need_fs,
		   struct sfs_fsent **ret)
{
	const struct sfs_part *p = NULL;
	int r;

	if (!__atomic_load_n(&disk->probed, __ATOMIC_ACQUIRE) || disk->partno)
		return -ENOENT;
	for (size_t i = 0; i < disk->nparts; i++)
		if (disk->parts[i].partno == partno && (disk->parts[i].ext || !need_fs))
			p = &disk->parts[i];
	if (!p)
		return -ENOENT;
	pthread_mutex_lock(&f->lock);
	r = entry_locked(f, &disk->snap, partno, p->offset, p->size, disk->gate_kind,
			 disk->gate_name, ret);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int sfs_files_part_data(struct sfs_files *f, struct sfs_fsent *e, uint64_t *ret)
{
	uint64_t off = e->offset, end = e->offset + e->size, data = 0, at;
	int r = 0;

	if (__atomic_load_n(&e->data_known, __ATOMIC_ACQUIRE)) {
		*ret = e->data_bytes;
		return 0;
	}
	/* From the map alone: a walk over its data runs, no block read. */
	while (off < end) {
		r = sfs_reader_seek(f->reader, &e->snap.map, off, SEEK_DATA, &at);
		if (r == -ENXIO || (r == 0 && at >= end)) {
			r = 0;
			break;
		}
		if (r == 0)
			r = sfs_reader_seek(f->reader, &e->snap.map, at, SEEK_HOLE, &off);
		if (r < 0)
			return r;
		if (off > end)
			off = end;
		data += off - at;
	}
	pthread_mutex_lock(&e->open_lock);
	e->data_bytes = data;
	__atomic_store_n(&e->data_known, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->open_lock);
	*ret = data;
	return 0;
}

/* Closes idle views past the bound, least recently used first. Called
 * with the lock; returns the views to close once it is dropped. */
static size_t evict_locked(struct sfs_files *f, struct sfs_fsview **out, size_t max)
{
	size_t n = 0;

	while (f->nopen > SFS_FILES_OPEN_MAX && n < max) {
		struct sfs_fsent *lru = NULL;

		for (size_t i = 0; i < f->nents; i++) {
			struct sfs_fsent *e = f->ents[i];

			if (e->fv && !e->users && (!lru || e->last_use < lru->last_use))
				lru = e;
		}
		if (!lru)
			break; /* all in use: over the bound until released */
		out[n++] = lru->fv;
		lru->fv = NULL;
		f->nopen--;
	}
	return n;
}

int sfs_files_acquire(struct sfs_files *f, struct sfs_fsent *e, struct sfs_fsview **ret)
{
	struct sfs_fsview *fv = NULL, *closing[4];
	char label[SFS_IDSTR_SIZE + 16];
	size_t nclose;
	int r = 0;

	pthread_mutex_lock(&f->lock);
	if (e->fv || e->broken)
		goto out_hold;
	pthread_mutex_unlock(&f->lock);

	/* Opening reads the superblock and group descriptors: not under the
	 * table's lock, and once per entry however many threads ask. */
	pthread_mutex_lock(&e->open_lock);
	pthread_mutex_lock(&f->lock);
	if (e->fv || e->broken) {
		pthread_mutex_unlock(&e->open_lock);
		goto out_hold;
	}
	pthread_mutex_unlock(&f->lock);
	if (e->partno)
		snprintf(label, sizeof(label), "%s p%u", e->snap.map.id, e->partno);
	else
		snprintf(label, sizeof(label), "%s", e->snap.map.id);
	r = sfs_fsview_open(f->reader, &e->snap.map, e->offset, e->size, label, &fv);
	pthread_mutex_lock(&f->lock);
	if (r == 0) {
		e->fv = fv;
		f->nopen++;
	} else if (r != -ENOMEM && r != -EBADMSG && r != -EIO) {
		/* Not a passing fault: do not try (and log) again. */
		e->broken = true;
	}
	pthread_mutex_unlock(&e->open_lock);
out_hold:
	if (e->fv) {
		e->users++;
		e->last_use = ++f->clock;
		*ret = e->fv;
		r = 0;
	} else if (r == 0) {
		r = -EUCLEAN; /* broken on an earlier try */
	}
	nclose = evict_locked(f, closing, sizeof(closing) / sizeof(closing[0]));
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < nclose; i++)
		sfs_fsview_close(closing[i]);
	return r;
}

void sfs_files_release(struct sfs_files *f, struct sfs_fsent *e)
{
	pthread_mutex_lock(&f->lock);
	if (e->users)
		e->users--;
	pthread_mutex_unlock(&f->lock);
}
