// SPDX-License-Identifier: MIT
/*
 * Attributes of the mounted tree: directories, snapshot files, latest.img
 * links, image and checkpoint files, from the tree's views or straight from the
 * catalog. Snapshot files are read-only, sized as the volume was, dated by
 * the snapshot, and count only non-zero data in st_blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsops_files.h"
#include "fsops_int.h"
#include "mount_int.h"
#include "snapfs/log.h"

static const struct sfs_tvol *vol_of_latest(const struct sfs_view *v, uint64_t ino)
{
	return sfs_view_vol_by_ino(v, SFS_INO_MAKE(SFS_INO_KIND_VOL, SFS_INO_NUM(ino)));
}

void sfs_attr_dir(struct sfs_mount *mt, struct stat *st, uint64_t ino, nlink_t nlink,
		     int64_t mtime, off_t size)
{
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = nlink;
	st->st_size = size;
	st->st_mtime = st->st_ctime = st->st_atime = mtime ? mtime : mt->mount_time;
}

void sfs_attr_snap(struct sfs_mount *mt, struct stat *st, const struct sfs_tsnap *ts)
{
	st->st_ino = ts->ino;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 2; /* snapshots/<id>.img and volumes/<vol>/<time>-<id>.img */
	st->st_size = (off_t)ts->map.size;
	st->st_blocks = (blkcnt_t)(ts->data_bytes / 512);
	st->st_blksize = (blksize_t)ts->map.block_size;
	st->st_mtime = st->st_ctime = st->st_atime = ts->created;
}

void sfs_attr_latest(struct stat *st, uint64_t ino, const char *target, int64_t created)
{
	st->st_ino = ino;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(target);
	st->st_mtime = st->st_ctime = st->st_atime = created;
}

/* latest.img, or latest.files with its own target. */
static int latest_attr(struct stat *st, uint64_t ino, const char *latest_img, int64_t created)
{
	char target[SFS_IDSTR_SIZE + 32];
	int r = 0;

	if (SFS_INO_KIND(ino) == SFS_INO_KIND_LATEST_FILES)
		r = sfs_files_latest_target(latest_img, target, sizeof(target));
	else
		snprintf(target, sizeof(target), "%s", latest_img);
	if (r == 0)
		sfs_attr_latest(st, ino, target, created);
	return r;
}

static void imgfile_attr(struct stat *st, const struct sfs_timgfile *tf)
{
	st->st_ino = tf->ino;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)tf->size;
	st->st_blocks = (blkcnt_t)((tf->data_bytes + 511) / 512);
	if (tf->map.block_size)
		st->st_blksize = (blksize_t)tf->map.block_size;
	st->st_mtime = st->st_ctime = st->st_atime = tf->mtime;
}

void sfs_attr_init(struct sfs_mount *mt, struct stat *st, double *ret_timeout)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = mt->uid;
	st->st_gid = mt->gid;
	st->st_blksize = 4096;
	*ret_timeout = DIR_ATTR_TIMEOUT;
}

/* The top directories: from the tree's counts, never from a view, so that
 * they look the same whether a listing was built or not. -ENOENT for any
 * other inode. */
int sfs_attr_top(struct sfs_mount *mt, uint64_t ino, struct stat *st)
{
	struct sfs_tree_stat ts;
	struct sfs_view *v;
	size_t n = 0;

	if (ino < SFS_INO_ROOT || ino > SFS_INO_FILES)
		return -ENOENT;
	sfs_tree_stat(mt->tree, &ts);
	switch (ino) {
	case SFS_INO_ROOT:
		sfs_attr_dir(mt, st, ino, 7, ts.mtime, 5); /* ., .. and five trees */
		break;
	case SFS_INO_SNAPSHOTS:
	case SFS_INO_FILES:
		sfs_attr_dir(mt, st, ino, 2, ts.mtime, (off_t)ts.nsnaps);
		break;
	case SFS_INO_VOLUMES:
		sfs_attr_dir(mt, st, ino, 2 + ts.nvols, ts.mtime, (off_t)ts.nvols);
		break;
	case SFS_INO_IMAGES:
	case SFS_INO_CHECKPOINTS:
		/* Images and checkpoints are few, but counting them needs a
		 * view: the last one built, if any. */
		v = sfs_tree_peek(mt->tree);
		if (v)
			n = ino == SFS_INO_IMAGES ? v->images.n : v->ckpts.n;
		sfs_view_put(v);
		sfs_attr_dir(mt, st, ino, 2 + n, ts.mtime, (off_t)n);
		break;
	}
	return 0;
}

/* Fills st for ino as view v shows it, for listings; -ENOENT when v does
 * not have it. */
int sfs_attr_of(struct sfs_mount *mt, const struct sfs_view *v, uint64_t ino, struct stat *st,
		   double *ret_timeout)
{
	const struct sfs_timgfile *tf;
	const struct sfs_timage *ti;
	const struct sfs_tsnap *ts;
	const struct sfs_tvol *tv;

	sfs_attr_init(mt, st, ret_timeout);
	if (sfs_attr_top(mt, ino, st) == 0)
		return 0;
	switch (SFS_INO_KIND(ino)) {
	case SFS_INO_KIND_SNAP:
		ts = sfs_view_snap_by_ino(v, ino);
		if (!ts)
			return -ENOENT;
		sfs_attr_snap(mt, st, ts);
		*ret_timeout = FILE_ATTR_TIMEOUT;
		return 0;
	case SFS_INO_KIND_VOL:
		tv = sfs_view_vol_by_ino(v, ino);
		if (!tv)
			return -ENOENT;
		sfs_attr_dir(mt, st, ino, 2, tv->mtime, (off_t)tv->nsnaps);
		return 0;
	case SFS_INO_KIND_IMAGE:
	case SFS_INO_KIND_CKPT:
		ti = sfs_view_image_by_ino(v, ino);
		if (!ti)
			return -ENOENT;
		sfs_attr_dir(mt, st, ino, 2, ti->mtime, (off_t)ti->nfiles);
		return 0;
	case SFS_INO_KIND_IMGFILE:
	case SFS_INO_KIND_CKPTFILE:
		tf = sfs_view_imgfile_by_ino(v, ino, NULL);
		if (!tf)
			return -ENOENT;
		imgfile_attr(st, tf);
		/* image.json changes with the permissions; a device's file
		 * never changes while its image id, hence its inode, lives. */
		if (SFS_INO_NUM(ino) & ((1u << SFS_IMGFILE_BITS) - 1))
			*ret_timeout = FILE_ATTR_TIMEOUT;
		return 0;
	case SFS_INO_KIND_LATEST:
	case SFS_INO_KIND_LATEST_FILES:
		tv = vol_of_latest(v, ino);
		if (!tv || !tv->nsnaps)
			return -ENOENT;
		return latest_attr(st, ino, tv->latest, tv->snaps[tv->nsnaps - 1]->created);
	}
	return -ENOENT;
}

/* Fills st for ino without a view where one is not needed: a snapshot
 * from the inodes the kernel holds (so a deleted snapshot's file keeps
 * its attributes until forgotten), a volume or its latest.img from the
 * catalog. Images still read a view. */
int sfs_attr_lookup(struct sfs_mount *mt, uint64_t ino, struct stat *st, double *ret_timeout)
{
	struct sfs_tvolinfo vi;
	struct sfs_tsnap ts;
	struct sfs_view *v;
	int r;

	sfs_attr_init(mt, st, ret_timeout);
	if (sfs_attr_top(mt, ino, st) == 0)
		return 0;
	switch (SFS_INO_KIND(ino)) {
	case SFS_INO_KIND_SNAP:
		if (sfs_tree_node_get(mt->tree, ino, &ts) < 0)
			break; /* not handed out by a lookup: ask a view */
		sfs_attr_snap(mt, st, &ts);
		*ret_timeout = FILE_ATTR_TIMEOUT;
		return 0;
	case SFS_INO_KIND_VOL:
		r = sfs_tree_vol_by_ino(mt->tree, ino, &vi);
		if (r < 0)
			return r;
		sfs_attr_dir(mt, st, ino, 2, vi.mtime, (off_t)vi.nsnaps);
		return 0;
	case SFS_INO_KIND_LATEST:
	case SFS_INO_KIND_LATEST_FILES:
		r = sfs_tree_vol_by_ino(mt->tree, ino, &vi);
		if (r == 0 && !vi.latest[0])
			r = -ENOENT;
		if (r < 0)
			return r;
		return latest_attr(st, ino, vi.latest, vi.latest_created);
	}
	r = sfs_tree_get(mt->tree, &v);
	if (r < 0)
		return r;
	r = sfs_attr_of(mt, v, ino, st, ret_timeout);
	sfs_view_put(v);
	return r;
}

