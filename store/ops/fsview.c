// SPDX-License-Identifier: MIT
/*
 * An ext2/3/4 filesystem inside a snapshot, through libext2fs with an
 * io_manager of our own (snapfs/fsview.h). libext2fs asks its io_manager
 * for blocks of "the device"; ours answers from the snapshot through the
 * reader, at the filesystem's byte offset, with bounds checks against the
 * partition, and refuses every write. libext2fs finds the channel's
 * state only through the name it passes to open, so the name carries the
 * address of that state; nothing but sfs_fsview_open makes such names.
 *
 * libext2fs keeps no thread-safe state, hence one lock per view. File
 * contents avoid it: sfs_fsfile_open turns a file's extent tree (or
 * block map) into a sorted array of runs once, and reads then go to the
 * reader without libext2fs.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <ext2fs/ext2_ext_attr.h>

#include "fsview_int.h"
#include "lazylib_int.h"
#include "snapfs/fsview.h"
#include "snapfs/log.h"

/* ---- libext2fs, loaded by the first view opened ---- */

/*
 * Only files/ needs libext2fs (and libcom_err for its messages), so a
 * mount does not map them at start-up (lazylib_int.h): sfs_fsview_open
 * loads them, and every other call here takes a view, which exists only
 * once they are loaded. The header's inline functions (ext2fs_get_mem,
 * ext2fs_has_feature_*, ext2fs_dirent_name_len, ...) stay direct calls:
 * they reference nothing in the library.
 */
#define LIBEXT2FS_FNS(X)                                                                           \
	X(ext2fs_block_iterate3)                                                                   \
	X(ext2fs_blocks_count)                                                                     \
	X(ext2fs_close_free)                                                                       \
	X(ext2fs_dir_iterate2)                                                                     \
	X(ext2fs_extent_free)                                                                      \
	X(ext2fs_extent_get)                                                                       \
	X(ext2fs_extent_open2)                                                                     \
	X(ext2fs_file_acl_block)                                                                   \
	X(ext2fs_file_close)                                                                       \
	X(ext2fs_file_open2)                                                                       \
	X(ext2fs_file_read)                                                                        \
	X(ext2fs_get_stat_i_blocks)                                                                \
	X(ext2fs_inline_data_get)                                                                  \
	X(ext2fs_inline_data_size)                                                                 \
	X(ext2fs_is_fast_symlink)                                                                  \
	X(ext2fs_lookup)                                                                           \
	X(ext2fs_open2)                                                                            \
	X(ext2fs_read_inode_full)                                                                  \
	X(ext2fs_xattr_get)                                                                        \
	X(ext2fs_xattrs_close)                                                                     \
	X(ext2fs_xattrs_iterate)                                                                   \
	X(ext2fs_xattrs_open)                                                                      \
	X(ext2fs_xattrs_read)
SFS_LAZYLIB(e2fs, "libext2fs.so.2", LIBEXT2FS_FNS);

#define LIBCOM_ERR_FNS(X) X(error_message)
SFS_LAZYLIB(comerr, "libcom_err.so.2", LIBCOM_ERR_FNS);

/* 0 once libext2fs is loaded, or -ELIBACC, logged, for the view's caller
 * to pass on: a host without it shows no files, and nothing else fails. */
static int e2fs_need(const char *label)
{
	if (sfs_lazylib_need(&e2fs_lib) == 0)
		return 0;
	sfs_log(SFS_LOG_ERR, "%s: no files shown: cannot load %s: %s", label, e2fs_lib.soname,
		e2fs_lib.error);
	return -ELIBACC;
}

/* libext2fs's message for code e. libext2fs itself needs libcom_err, so
 * this load maps nothing new; should it fail, the code is still said. */
static const char *ext_strerror(errcode_t e)
{
	static __thread char buf[48];

	if (sfs_lazylib_need(&comerr_lib) == 0)
		return comerr.error_message(e);
	snprintf(buf, sizeof(buf), "libext2fs error %ld", (long)e);
	return buf;
}

errcode_t sfs_fsview_dir_iterate(ext2_filsys fs, ext2_ino_t dir, sfs_ext2_dirent_fn fn,
				 void *priv)
{
	return e2fs.ext2fs_dir_iterate2(fs, dir, 0, NULL, fn, priv);
}

/* ---- the io_manager ---- */

/* What a channel reads: the filesystem's bytes are [offset, offset+size)
 * of the snapshot. */
struct chan {
	struct sfs_reader *reader;
	struct sfs_snapmap map;
	uint64_t offset, size;
	int err; /* the last reader error, as -errno, for the view's caller */
};

#define CHAN_PREFIX "snapfs-fsview:"

static errcode_t chan_open(const char *name, int flags, io_channel *ret);

static errcode_t chan_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return 0;
}

static errcode_t chan_set_blksize(io_channel ch, int blksize)
{
	if (blksize <= 0)
		return EXT2_ET_INVALID_ARGUMENT;
	ch->block_size = blksize;
	return 0;
}

static errcode_t chan_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
	struct chan *c = ch->private_data;
	uint64_t len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)ch->block_size;
	uint64_t off = (uint64_t)block * (uint64_t)ch->block_size;
	ssize_t n;

	/* A block number from damaged metadata may point anywhere. */
	if (block > UINT64_MAX / (uint64_t)ch->block_size || off > c->size || len > c->size - off)
		return EXT2_ET_SHORT_READ;
	n = sfs_reader_pread(c->reader, &c->map, data, (size_t)len, c->offset + off);
	if (n < 0) {
		c->err = (int)n;
		return (errcode_t)-n;
	}
	if ((uint64_t)n < len)
		memset((char *)data + n, 0, (size_t)(len - (uint64_t)n));
	return 0;
}

static errcode_t chan_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
	return chan_read_blk64(ch, block, count, data);
}

/* Snapshots are immutable: libext2fs is never asked to write (the view
 * opens without EXT2_FLAG_RW), and if it did, it would be refused. */
static errcode_t chan_write_blk64(io_channel ch, unsigned long long block, int count,
				  const void *data)
{
	return EROFS;
}

static errcode_t chan_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
	return EROFS;
}

static errcode_t chan_write_byte(io_channel ch, unsigned long offset, int count, const void *data)
{
	return EROFS;
}

static errcode_t chan_flush(io_channel ch)
{
	return 0;
}

static errcode_t chan_set_option(io_channel ch, const char *option, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager sfs_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "snapfs snapshot I/O manager",
	.open = chan_open,
	.close = chan_close,
	.set_blksize = chan_set_blksize,
	.read_blk = chan_read_blk,
	.write_blk = chan_write_blk,
	.flush = chan_flush,
	.write_byte = chan_write_byte,
	.set_option = chan_set_option,
	.read_blk64 = chan_read_blk64,
	.write_blk64 = chan_write_blk64,
};

static errcode_t chan_open(const char *name, int flags, io_channel *ret)
{
	struct chan *c = NULL;
	io_channel ch;
	errcode_t err;

	if (!name || strncmp(name, CHAN_PREFIX, strlen(CHAN_PREFIX)) ||
	    sscanf(name + strlen(CHAN_PREFIX), "%p", (void **)&c) != 1 || !c)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EROFS;
	err = ext2fs_get_memzero(sizeof(*ch), &ch);
	if (err)
		return err;
	err = ext2fs_get_mem(strlen(name) + 1, &ch->name);
	if (err) {
		ext2fs_free_mem(&ch);
		return err;
	}
	strcpy(ch->name, name);
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &sfs_io_manager;
	ch->block_size = 1024;
	ch->private_data = c;
	ch->refcount = 1;
	*ret = ch;
	return 0;
}

/* ---- the view ---- */

struct sfs_fsview {
	pthread_mutex_t lock; /* guards fs and chan.err: every libext2fs call */
	ext2_filsys fs;
	struct chan chan;
	uint32_t block_size;
	bool labelled; /* set at open, then constant */
	struct sfs_dirx_cache dirx; /* guarded by lock */
	char label[96];
};

/* A libext2fs code as -errno, translated once here. Our io_manager passes
 * the reader's errno through as a small positive code. */
static int ext_err(struct sfs_fsview *fv, errcode_t e)
{
	if (e > 0 && e < 4096)
		return -(int)e;
	switch (e) {
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_FILE_NOT_FOUND:
		return -ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return -ENOTDIR;
	case EXT2_ET_BAD_MAGIC:
		return -EMEDIUMTYPE;
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
	case EXT2_ET_EA_INODE_CORRUPTED:
		return -EOPNOTSUPP;
	case EXT2_ET_EA_KEY_NOT_FOUND:
		return -ENODATA;
	case EXT2_ET_SHORT_READ:
		/* Our channel fails a read for two reasons: the reader's
		 * error, kept in chan.err, or a block outside the filesystem. */
		if (fv && fv->chan.err)
			return fv->chan.err;
		return -EUCLEAN;
	}
	return -EUCLEAN;
}

int sfs_fsview_open(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t offset,
		    uint64_t size, const char *label, struct sfs_fsview **ret)
{
	struct sfs_fsview *fv = calloc(1, sizeof(*fv));
	char name[64];
	errcode_t e;
	int err;

	if (!fv)
		return -ENOMEM;
	err = e2fs_need(label);
	if (err < 0) {
		free(fv);
		return err;
	}
	pthread_mutex_init(&fv->lock, NULL);
	snprintf(fv->label, sizeof(fv->label), "%s", label);
	fv->chan.reader = r;
	fv->chan.map = *m;
	fv->chan.offset = offset;
	fv->chan.size = size;
	if (offset > m->size || size > m->size - offset) {
		err = -EINVAL;
		sfs_log(SFS_LOG_WARN, "%s: no filesystem shown: the partition lies past the volume's end",
			fv->label);
		goto out_free;
	}
	snprintf(name, sizeof(name), CHAN_PREFIX "%p", (void *)&fv->chan);
	e = e2fs.ext2fs_open2(name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, &sfs_io_manager,
			 &fv->fs);
	if (e) {
		err = ext_err(fv, e);
		fv->fs = NULL;
		sfs_log(SFS_LOG_WARN, "%s: no ext2/3/4 filesystem shown: %s", fv->label,
			err == -EMEDIUMTYPE ? "no ext2/3/4 superblock" : ext_strerror(e));
		goto out_free;
	}
	fv->block_size = fv->fs->blocksize;
	if (e2fs.ext2fs_blocks_count(fv->fs->super) > size / fv->block_size) {
		err = -EUCLEAN;
		sfs_log(SFS_LOG_WARN,
			"%s: no ext2/3/4 filesystem shown: it claims %llu blocks of %u bytes, past its %" PRIu64 "-byte container",
			fv->label, (unsigned long long)e2fs.ext2fs_blocks_count(fv->fs->super),
			fv->block_size, size);
		goto out_close_fs;
	}
	/* libext2fs replays a journal only by writing the device, and a
	 * snapshot is never written: what shows is the filesystem as of its
	 * last checkpoint, as a read-only mount with -o noload would. */
	if (ext2fs_has_feature_journal_needs_recovery(fv->fs->super))
		sfs_log(SFS_LOG_WARN,
			"%s: the journal needs recovery and is not replayed: files shown as of its last checkpoint",
			fv->label);
	fv->labelled = sfs_fsview_getxattr(fv, SFS_FS_ROOT_INO, "security.selinux", NULL, 0) >= 0;
	*ret = fv;
	return 0;

out_close_fs:
	e2fs.ext2fs_close_free(&fv->fs);
out_free:
	pthread_mutex_destroy(&fv->lock);
	free(fv);
	return err;
}

void sfs_fsview_close(struct sfs_fsview *fv)
{
	if (!fv)
		return;
	sfs_dirx_cache_release(&fv->dirx);
	e2fs.ext2fs_close_free(&fv->fs);
	pthread_mutex_destroy(&fv->lock);
	free(fv);
}

/* Locks the view and clears the reader error of the previous call. */
static void view_lock(struct sfs_fsview *fv)
{
	pthread_mutex_lock(&fv->lock);
	fv->chan.err = 0;
}

static void view_unlock(struct sfs_fsview *fv)
{
	pthread_mutex_unlock(&fv->lock);
}

/* Reads inode ino, bounds-checked. Called locked. */
static int read_inode(struct sfs_fsview *fv, uint32_t ino, struct ext2_inode_large *ret)
{
	errcode_t e;

	if (ino < 1 || ino > fv->fs->super->s_inodes_count)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	e = e2fs.ext2fs_read_inode_full(fv->fs, ino, (struct ext2_inode *)ret, sizeof(*ret));
	if (e)
		return ext_err(fv, e);
	/* A free inode (never used, or deleted) is no file. */
	if (!ret->i_links_count || !ret->i_mode)
		return -ENOENT;
	return 0;
}

/* An inode time with its nanoseconds and epoch bits, where the inode has
 * room for them. */
static struct timespec inode_time(const struct ext2_inode_large *in, uint32_t sec,
				  size_t extra_off, uint32_t extra)
{
	struct timespec ts = { .tv_sec = (int32_t)sec, .tv_nsec = 0 };

	if ((size_t)EXT2_GOOD_OLD_INODE_SIZE + in->i_extra_isize >= extra_off + sizeof(uint32_t)) {
		ts.tv_sec += (int64_t)(extra & 3) << 32;
		ts.tv_nsec = extra >> 2;
		if (ts.tv_nsec > 999999999)
			ts.tv_nsec = 0;
	}
	return ts;
}

int sfs_fsview_stat(struct sfs_fsview *fv, uint32_t ino, struct stat *ret)
{
	struct ext2_inode_large in;
	int r;

	view_lock(fv);
	r = read_inode(fv, ino, &in);
	if (r < 0)
		goto out;
	memset(ret, 0, sizeof(*ret));
	ret->st_ino = ino;
	ret->st_mode = in.i_mode;
	ret->st_nlink = in.i_links_count;
	ret->st_uid = inode_uid(in);
	ret->st_gid = inode_gid(in);
	ret->st_size = (off_t)EXT2_I_SIZE(&in);
	ret->st_blksize = (blksize_t)fv->block_size;
	ret->st_blocks = (blkcnt_t)e2fs.ext2fs_get_stat_i_blocks(fv->fs, (struct ext2_inode *)&in);
	ret->st_atim = inode_time(&in, in.i_atime, offsetof(struct ext2_inode_large, i_atime_extra),
				  in.i_atime_extra);
	ret->st_mtim = inode_time(&in, in.i_mtime, offsetof(struct ext2_inode_large, i_mtime_extra),
				  in.i_mtime_extra);
	ret->st_ctim = inode_time(&in, in.i_ctime, offsetof(struct ext2_inode_large, i_ctime_extra),
				  in.i_ctime_extra);
	if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode)) {
		/* Old encoding in block[0], new (huge numbers) in block[1]. */
		if (in.i_block[0])
			ret->st_rdev = makedev((in.i_block[0] >> 8) & 255, in.i_block[0] & 255);
		else
			ret->st_rdev = makedev((in.i_block[1] & 0xfff00) >> 8,
					       (in.i_block[1] & 0xff) | ((in.i_block[1] >> 12) & 0xfff00));
	}
out:
	view_unlock(fv);
	return r;
}

int sfs_fsview_lookup(struct sfs_fsview *fv, uint32_t dir, const char *name, uint32_t *ret_ino)
{
	struct ext2_inode_large in;
	size_t len = strlen(name);
	ext2_ino_t ino = 0;
	errcode_t e;
	int r;

	if (!len || len > EXT2_NAME_LEN)
		return -ENOENT;
	view_lock(fv);
	r = read_inode(fv, dir, &in);
	if (r == 0 && !LINUX_S_ISDIR(in.i_mode))
		r = -ENOTDIR;
	/* A large directory is searched in its name index (fsview_int.h);
	 * casefolded ones compare names as libext2fs does. */
	if (r == 0 && EXT2_I_SIZE(&in) >= SFS_DIRX_MIN_BYTES && !(in.i_flags & EXT4_CASEFOLD_FL)) {
		uint32_t xino = 0;

		e = 0;
		r = sfs_dirx_lookup(&fv->dirx, fv->fs, dir, name, len, &xino, &e);
		if (r == -EIO)
			r = ext_err(fv, e);
		ino = xino;
		if (r == -ENOMEM)
			r = 1; /* no room for an index: search as for a small one */
	} else if (r == 0) {
		r = 1;
	}
	if (r == 1) {
		e = e2fs.ext2fs_lookup(fv->fs, dir, name, (int)len, NULL, &ino);
		r = e ? ext_err(fv, e) : 0;
	}
	if (r == 0 && (ino < 1 || ino > fv->fs->super->s_inodes_count))
		r = -EUCLEAN;
	view_unlock(fv);
	if (r == 0)
		*ret_ino = ino;
	return r;
}

struct dir_ctx {
	sfs_fsview_dirent_fn fn;
	void *ctx;
	uint32_t ninodes;
	bool has_types;
};

static unsigned dtype_of(int ft)
{
	switch (ft) {
	case EXT2_FT_REG_FILE:
		return DT_REG;
	case EXT2_FT_DIR:
		return DT_DIR;
	case EXT2_FT_CHRDEV:
		return DT_CHR;
	case EXT2_FT_BLKDEV:
		return DT_BLK;
	case EXT2_FT_FIFO:
		return DT_FIFO;
	case EXT2_FT_SOCK:
		return DT_SOCK;
	case EXT2_FT_SYMLINK:
		return DT_LNK;
	}
	return DT_UNKNOWN;
}

static int dir_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
		     int blocksize, char *buf, void *priv)
{
	struct dir_ctx *c = priv;
	int len = ext2fs_dirent_name_len(de);

	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	/* An inode number outside the table is damage: skip the entry. */
	if (!de->inode || de->inode > c->ninodes || !len)
		return 0;
	if (c->fn(c->ctx, de->name, (size_t)len, de->inode,
		  c->has_types ? dtype_of(ext2fs_dirent_file_type(de)) : DT_UNKNOWN))
		return DIRENT_ABORT;
	return 0;
}

int sfs_fsview_readdir(struct sfs_fsview *fv, uint32_t dir, sfs_fsview_dirent_fn fn, void *ctx)
{
	struct ext2_inode_large in;
	struct dir_ctx c = { .fn = fn, .ctx = ctx };
	errcode_t e;
	int r;

	view_lock(fv);
	r = read_inode(fv, dir, &in);
	if (r == 0 && !LINUX_S_ISDIR(in.i_mode))
		r = -ENOTDIR;
	if (r == 0) {
		c.ninodes = fv->fs->super->s_inodes_count;
		c.has_types = ext2fs_has_feature_filetype(fv->fs->super);
		e = e2fs.ext2fs_dir_iterate2(fv->fs, dir, 0, NULL, dir_entry, &c);
		r = e ? ext_err(fv, e) : 0;
	}
	view_unlock(fv);
	return r;
}

ssize_t sfs_fsview_readlink(struct sfs_fsview *fv, uint32_t ino, char *buf, size_t size)
{
	struct ext2_inode_large in;
	ext2_file_t file = NULL;
	uint64_t len = 0;
	unsigned got = 0;
	errcode_t e;
	int r;

	view_lock(fv);
	r = read_inode(fv, ino, &in);
	if (r == 0 && !LINUX_S_ISLNK(in.i_mode))
		r = -EINVAL;
	if (r < 0)
		goto out;
	len = EXT2_I_SIZE(&in);
	if (len >= size) {
		r = len > fv->block_size ? -EUCLEAN : -ERANGE;
		goto out;
	}
	if (e2fs.ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
		/* The target sits in the inode's block pointers. */
		if (len > sizeof(in.i_block)) {
			r = -EUCLEAN;
			goto out;
		}
		memcpy(buf, in.i_block, (size_t)len);
	} else {
		/* In a block, or inline in the inode (ext2fs_file_read knows
		 * both). */
		e = e2fs.ext2fs_file_open2(fv->fs, ino, (struct ext2_inode *)&in, 0, &file);
		if (!e)
			e = e2fs.ext2fs_file_read(file, buf, (unsigned)len, &got);
		if (file)
			e2fs.ext2fs_file_close(file);
		if (e) {
			r = ext_err(fv, e);
			goto out;
		}
		if (got != len) {
			r = -EUCLEAN;
			goto out;
		}
	}
	buf[len] = '\0';
out:
	view_unlock(fv);
	return r < 0 ? r : (ssize_t)len;
}

/* ---- extended attributes ---- */

struct xlist {
	char *buf;
	size_t size, used;
};

static int xattr_name(char *name, char *value, size_t value_len, void *data)
{
	struct xlist *x = data;
	size_t n = strlen(name) + 1;

	/* Inline data is kept in an xattr the kernel never lists. */
	if (!strcmp(name, "system.data"))
		return 0;
	if (x->buf && x->used + n <= x->size)
		memcpy(x->buf + x->used, name, n);
	x->used += n;
	return 0;
}

/* Whether inode ino may have xattrs: an xattr block, or the in-inode
 * area's magic. The kernel asks for POSIX ACLs of every inode it checks
 * permissions on, and most have none: answered here from the inode (which
 * libext2fs caches) without setting up an xattr handle. When unsure
 * (inodes larger than the buffer, odd extra sizes), true: libext2fs
 * decides. Called locked. */
static int may_have_xattrs(struct sfs_fsview *fv, uint32_t ino)
{
	union {
		struct ext2_inode_large in;
		uint8_t raw[1024];
	} u;
	unsigned isize = EXT2_INODE_SIZE(fv->fs->super);
	uint32_t magic;
	size_t at;

	if (isize > sizeof(u.raw))
		return 1;
	memset(&u, 0, sizeof(u));
	if (ino < 1 || ino > fv->fs->super->s_inodes_count)
		return -ENOENT;
	if (e2fs.ext2fs_read_inode_full(fv->fs, ino, (struct ext2_inode *)&u.in, isize))
		return 1;
	if (!u.in.i_links_count || !u.in.i_mode)
		return -ENOENT;
	if (e2fs.ext2fs_file_acl_block(fv->fs, (struct ext2_inode *)&u.in))
		return 1;
	if (isize <= EXT2_GOOD_OLD_INODE_SIZE)
		return 0;
	at = EXT2_GOOD_OLD_INODE_SIZE + (size_t)u.in.i_extra_isize;
	if (at > isize || (u.in.i_extra_isize & 3))
		return 1; /* damaged or odd: libext2fs decides */
	if (at + sizeof(magic) > isize)
		return 0; /* no room for an in-inode area */
	memcpy(&magic, u.raw + at, sizeof(magic));
	return ext2fs_le32_to_cpu(magic) == EXT2_EXT_ATTR_MAGIC;
}

/* Opens and reads inode ino's xattrs; -ENODATA when it has none. Called
 * locked. */
static int xattrs_read(struct sfs_fsview *fv, uint32_t ino, struct ext2_xattr_handle **ret)
{
	errcode_t e;
	int r = may_have_xattrs(fv, ino);

	if (r <= 0)
		return r < 0 ? r : -ENODATA;
	e = e2fs.ext2fs_xattrs_open(fv->fs, ino, ret);
	if (e)
		return ext_err(fv, e);
	e = e2fs.ext2fs_xattrs_read(*ret);
	if (e) {
		e2fs.ext2fs_xattrs_close(ret);
		return ext_err(fv, e);
	}
	return 0;
}

ssize_t sfs_fsview_listxattr(struct sfs_fsview *fv, uint32_t ino, char *buf, size_t size)
{
	struct ext2_xattr_handle *h = NULL;
	struct xlist x = { .buf = size ? buf : NULL, .size = size };
	errcode_t e;
	int r;

	view_lock(fv);
	r = xattrs_read(fv, ino, &h);
	if (r == 0) {
		e = e2fs.ext2fs_xattrs_iterate(h, xattr_name, &x);
		r = e ? ext_err(fv, e) : 0;
		e2fs.ext2fs_xattrs_close(&h);
	} else if (r == -ENODATA) {
		r = 0; /* no xattrs: an empty list */
	}
	view_unlock(fv);
	if (r < 0)
		return r;
	if (size && x.used > size)
		return -ERANGE;
	return (ssize_t)x.used;
}

ssize_t sfs_fsview_getxattr(struct sfs_fsview *fv, uint32_t ino, const char *name, char *buf,
			    size_t size)
{
	struct ext2_xattr_handle *h = NULL;
	void *val = NULL;
	size_t len = 0;
	errcode_t e;
	int r;

	if (!strcmp(name, "system.data"))
		return -ENODATA;
	view_lock(fv);
	r = xattrs_read(fv, ino, &h);
	if (r == 0) {
		e = e2fs.ext2fs_xattr_get(h, name, &val, &len);
		r = e ? ext_err(fv, e) : 0;
		e2fs.ext2fs_xattrs_close(&h);
	}
	view_unlock(fv);
	if (r == 0 && size) {
		if (len > size)
			r = -ERANGE;
		else
			memcpy(buf, val, len);
	}
	ext2fs_free_mem(&val);
	return r < 0 ? r : (ssize_t)len;
}

bool sfs_fsview_labelled(const struct sfs_fsview *fv)
{
	return fv->labelled;
}

/* ---- open files ---- */

/* A run of a file's blocks: [lblk, lblk+len) at pblk, or zeros (hole:
 * no run covers it; unwritten: a run with pblk 0 and zero set). */
struct run {
	uint64_t lblk, pblk, len;
	bool zero;
};

struct sfs_fsfile {
	struct sfs_reader *reader;
	struct sfs_snapmap map;
	uint64_t offset;   /* the filesystem's start in the snapshot */
	uint64_t fs_bytes; /* and its size: no run may point past it */
	uint32_t block_size;
	uint64_t size;
	char *inline_data; /* small files kept in the inode, or NULL */
	struct run *runs;  /* sorted by lblk, not overlapping */
	size_t nruns, capruns;
};

void sfs_fsfile_free(struct sfs_fsfile *f)
{
	if (!f)
		return;
	free(f->inline_data);
	free(f->runs);
	free(f);
}

uint64_t sfs_fsfile_size(const struct sfs_fsfile *f)
{
	return f->size;
}

/* Appends a run, merging it with the previous one when contiguous. */
static int run_add(struct sfs_fsfile *f, uint64_t lblk, uint64_t pblk, uint64_t len, bool zero)
{
	struct run *last = f->nruns ? &f->runs[f->nruns - 1] : NULL;

	if (!len)
		return 0;
	if (last && lblk < last->lblk + last->len)
		return -EUCLEAN; /* out of order or overlapping: damaged tree */
	if (pblk > UINT64_MAX - len || pblk + len > f->fs_bytes / f->block_size)
		return -EUCLEAN;
	if (last && last->zero == zero && last->lblk + last->len == lblk &&
	    (zero || last->pblk + last->len == pblk)) {
		last->len += len;
		return 0;
	}
	if (f->nruns == f->capruns) {
		size_t n = f->capruns ? f->capruns * 2 : 16;
		struct run *p = realloc(f->runs, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		f->runs = p;
		f->capruns = n;
	}
	f->runs[f->nruns++] = (struct run){ .lblk = lblk, .pblk = pblk, .len = len, .zero = zero };
	return 0;
}

/* The runs of an extent-mapped file: one walk over the leaves. */
static int runs_from_extents(struct sfs_fsview *fv, uint32_t ino, struct ext2_inode_large *in,
			     struct sfs_fsfile *f)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	errcode_t e;
	int op = EXT2_EXTENT_ROOT, r = 0;

	e = e2fs.ext2fs_extent_open2(fv->fs, ino, (struct ext2_inode *)in, &h);
	if (e)
		return ext_err(fv, e);
	for (;;) {
		e = e2fs.ext2fs_extent_get(h, op, &ex);
		op = EXT2_EXTENT_NEXT_LEAF;
		if (e == EXT2_ET_EXTENT_NO_NEXT || e == EXT2_ET_EXTENT_NO_DOWN)
			break;
		if (e) {
			r = ext_err(fv, e);
			break;
		}
		if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF))
			continue;
		r = run_add(f, ex.e_lblk, (ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT) ? 0 : ex.e_pblk,
			    ex.e_len, ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT);
		if (r < 0)
			break;
	}
	e2fs.ext2fs_extent_free(h);
	return r;
}

struct bmap_ctx {
	struct sfs_fsfile *f;
	int err;
};

static int bmap_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
		      int ref_offset, void *priv)
{
	struct bmap_ctx *c = priv;

	if (blockcnt < 0)
		return 0; /* an indirect block, not data */
	c->err = run_add(c->f, (uint64_t)blockcnt, *blocknr, 1, false);
	return c->err < 0 ? BLOCK_ABORT : 0;
}

/* The runs of a block-mapped (ext2/3) file. */
static int runs_from_blockmap(struct sfs_fsview *fv, uint32_t ino, struct sfs_fsfile *f)
{
	struct bmap_ctx c = { .f = f };
	errcode_t e;

	e = e2fs.ext2fs_block_iterate3(fv->fs, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY, NULL,
				  bmap_block, &c);
	if (c.err < 0)
		return c.err;
	return e ? ext_err(fv, e) : 0;
}

int sfs_fsfile_open(struct sfs_fsview *fv, uint32_t ino, struct sfs_fsfile **ret)
{
	struct sfs_fsfile *f = calloc(1, sizeof(*f));
	struct ext2_inode_large in;
	errcode_t e;
	int r;

	if (!f)
		return -ENOMEM;
	f->reader = fv->chan.reader;
	f->map = fv->chan.map;
	f->offset = fv->chan.offset;
	f->fs_bytes = fv->chan.size;
	f->block_size = fv->block_size;
	view_lock(fv);
	r = read_inode(fv, ino, &in);
	if (r == 0 && LINUX_S_ISDIR(in.i_mode))
		r = -EISDIR;
	else if (r == 0 && !LINUX_S_ISREG(in.i_mode))
		r = -EINVAL;
	else if (r == 0 && (in.i_flags & (EXT4_ENCRYPT_FL | EXT2_COMPR_FL)))
		r = -EOPNOTSUPP; /* the bytes on disk are not the file's */
	if (r < 0)
		goto out;
	f->size = EXT2_I_SIZE(&in);
	if (in.i_flags & EXT4_INLINE_DATA_FL) {
		size_t len = 0;

		e = e2fs.ext2fs_inline_data_size(fv->fs, ino, &len);
		if (!e && len < f->size)
			f->size = len; /* never read past what the inode holds */
		f->inline_data = malloc(len ? len : 1);
		if (!f->inline_data)
			r = -ENOMEM;
		else if (!e)
			e = e2fs.ext2fs_inline_data_get(fv->fs, ino, (struct ext2_inode *)&in,
						   f->inline_data, &len);
		if (r == 0 && e)
			r = ext_err(fv, e);
	} else if (in.i_flags & EXT4_EXTENTS_FL) {
		r = runs_from_extents(fv, ino, &in, f);
	} else {
		r = runs_from_blockmap(fv, ino, f);
	}
out:
	view_unlock(fv);
	if (r < 0) {
		sfs_fsfile_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

/* The index of the first run that ends past lblk (nruns if none). */
static size_t run_find(const struct sfs_fsfile *f, uint64_t lblk)
{
	size_t lo = 0, hi = f->nruns;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->runs[mid].lblk + f->runs[mid].len <= lblk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t sfs_fsfile_pread(struct sfs_fsfile *f, struct sfs_reader_stream *st, void *buf,
			 size_t len, uint64_t off)
{
	uint64_t bs = f->block_size, done = 0;
	size_t i;

	if (off >= f->size || !len)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (f->inline_data) {
		memcpy(buf, f->inline_data + off, len);
		return (ssize_t)len;
	}
	i = run_find(f, off / bs);
	while (done < len) {
		uint64_t pos = off + done, lblk = pos / bs, in_blk = pos % bs;
		const struct run *rn = i < f->nruns ? &f->runs[i] : NULL;
		uint64_t n;

		if (!rn || lblk < rn->lblk || rn->zero) {
			/* A hole up to the next run (or the end), or unwritten. */
			uint64_t end = !rn ? UINT64_MAX / bs
				       : lblk < rn->lblk ? rn->lblk
							 : rn->lblk + rn->len;

			n = (end - lblk) * bs - in_blk;
			if (n > len - done)
				n = len - done;
			memset((char *)buf + done, 0, (size_t)n);
		} else {
			uint64_t dev = f->offset + (rn->pblk + (lblk - rn->lblk)) * bs + in_blk;
			ssize_t got;

			n = (rn->lblk + rn->len - lblk) * bs - in_blk;
			if (n > len - done)
				n = len - done;
			got = st ? sfs_reader_stream_pread(st, &f->map, (char *)buf + done, (size_t)n, dev)
				 : sfs_reader_pread(f->reader, &f->map, (char *)buf + done, (size_t)n,
						    dev);
			if (got < 0)
				return got;
			if ((uint64_t)got < n)
				return -EUCLEAN; /* run_add kept runs inside the volume */
		}
		done += n;
		if (rn && (off + done) / bs >= rn->lblk + rn->len)
			i++;
	}
	return (ssize_t)len;
}

int sfs_fsfile_seek(const struct sfs_fsfile *f, uint64_t off, int whence, uint64_t *ret_off)
{
	uint64_t bs = f->block_size, lblk = off / bs;
	size_t i;

	if (off >= f->size)
		return -ENXIO;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (f->inline_data) {
		*ret_off = whence == SEEK_DATA ? off : f->size;
		return 0;
	}
	for (i = run_find(f, lblk); i < f->nruns; i++) {
		const struct run *rn = &f->runs[i];
		bool data_here = !rn->zero && rn->lblk <= lblk;

		if (whence == SEEK_DATA && !rn->zero) {
			uint64_t at = rn->lblk <= lblk ? off : rn->lblk * bs;

			if (at >= f->size)
				return -ENXIO;
			*ret_off = at;
			return 0;
		}
		if (whence == SEEK_HOLE) {
			if (!data_here) {
				*ret_off = off;
				return 0;
			}
			/* Data up to this run's end: a hole starts there unless
			 * the next run follows at once (runs merge only when
			 * contiguous on disk too). */
			lblk = rn->lblk + rn->len;
			off = lblk * bs;
			if (off >= f->size) {
				*ret_off = f->size;
				return 0;
			}
		}
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*ret_off = off;
	return 0;
}
