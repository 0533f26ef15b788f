/* SPDX-License-Identifier: MIT */
/*
 * The files inside a snapshot: an ext2/3/4 filesystem read in place, at a
 * byte offset of a snapshot (0, or a partition's start), through the
 * reader and its block cache. e2fsprogs' libext2fs does the format; its
 * blocks come from an io_manager of ours that reads the snapshot, never a
 * loop device or a copy. Opening reads the superblock and the group
 * descriptors; every other block is read when a lookup, listing or read
 * needs it.
 *
 * libext2fs is not thread-safe, so every call on one view is serialised
 * by the view's own lock; separate views (other snapshots, other
 * partitions) run in parallel. File contents do not take that lock: an
 * open file (sfs_fsfile) carries its block runs, resolved once at open,
 * and reads them straight through the reader, so many readers of one
 * filesystem read in parallel and sequential reads get readahead.
 *
 * Inode numbers are the filesystem's own (2 is the root). Errors: -ENOENT,
 * -ENOTDIR, -EINVAL (not a symlink), -ENODATA (no such xattr), -ERANGE
 * (buffer too small), -EMEDIUMTYPE (not an ext2/3/4 filesystem),
 * -EOPNOTSUPP (features libext2fs cannot read, encrypted files), -EUCLEAN
 * (metadata that fails libext2fs's checks or points outside the
 * filesystem), and the reader's errors (-EBADMSG for stored bytes that
 * fail verification). sfs_fsview_open loads libext2fs on first use and
 * fails with -ELIBACC (logged) when it cannot. Nothing here is ever written: the view is
 * read-only, and an attempt to write through it fails with -EROFS.
 */
#ifndef SNAPFS_FSVIEW_H
#define SNAPFS_FSVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "snapfs/reader.h"

#define SFS_FS_ROOT_INO 2u

struct sfs_fsview;

/*
 * Opens the filesystem at [offset, offset + size) of snapshot m. label
 * names it in log lines ("snap-… p2"); a filesystem that cannot be opened
 * is logged once, with the reason, at open. The reader must outlive the
 * view. 0 and *ret (free with sfs_fsview_close), or -errno as above.
 */
int sfs_fsview_open(struct sfs_reader *r, const struct sfs_snapmap *m, uint64_t offset,
		    uint64_t size, const char *label, struct sfs_fsview **ret);
void sfs_fsview_close(struct sfs_fsview *fv); /* accepts NULL; no sfs_fsfile needs it */

/* The attributes of inode ino: mode, owner, nlink, size, times with
 * nanoseconds, st_blocks as the filesystem counts them, st_rdev of device
 * nodes; st_ino is ino. */
int sfs_fsview_stat(struct sfs_fsview *fv, uint32_t ino, struct stat *ret);

/* The inode that name (a single component, not "." or "..") has in
 * directory dir. */
int sfs_fsview_lookup(struct sfs_fsview *fv, uint32_t dir, const char *name, uint32_t *ret_ino);

/* Calls fn for every entry of directory dir but "." and "..", in on-disk
 * order, with the view locked: fn must not call into the view. dtype is a
 * DT_* value (DT_UNKNOWN when the filesystem does not record types).
 * fn returns non-zero to stop. */
typedef int (*sfs_fsview_dirent_fn)(void *ctx, const char *name, size_t len, uint32_t ino,
				    unsigned dtype);
int sfs_fsview_readdir(struct sfs_fsview *fv, uint32_t dir, sfs_fsview_dirent_fn fn, void *ctx);

/* The target of symlink ino, NUL-terminated, into buf; -ERANGE when it
 * does not fit with its NUL. Returns its length. */
ssize_t sfs_fsview_readlink(struct sfs_fsview *fv, uint32_t ino, char *buf, size_t size);

/* Extended attributes as getxattr(2)/listxattr(2) return them: with
 * size 0, the size needed; -ERANGE when buf is too small. POSIX ACLs come
 * in the kernel's format. */
ssize_t sfs_fsview_listxattr(struct sfs_fsview *fv, uint32_t ino, char *buf, size_t size);
ssize_t sfs_fsview_getxattr(struct sfs_fsview *fv, uint32_t ino, const char *name, char *buf,
			    size_t size);

/* Whether the filesystem carries SELinux labels: its root has a
 * security.selinux attribute (labelled filesystems label every file).
 * Read once at open; thread-safe. */
bool sfs_fsview_labelled(const struct sfs_fsview *fv);

/*
 * An open regular file: its size and where its blocks lie, resolved at
 * open under the view's lock. It copies what it needs (reader, map,
 * offset), so it outlives the view that opened it; the reader must
 * outlive it. Reads and seeks on it are thread-safe and take no lock.
 */
struct sfs_fsfile;
int sfs_fsfile_open(struct sfs_fsview *fv, uint32_t ino, struct sfs_fsfile **ret);
void sfs_fsfile_free(struct sfs_fsfile *f); /* accepts NULL */
uint64_t sfs_fsfile_size(const struct sfs_fsfile *f);
/* Reads up to len bytes at off (short only at the end of the file);
 * holes and unwritten extents read as zeros. st: the caller's stream, for
 * readahead, or NULL. Returns bytes read or -errno. */
ssize_t sfs_fsfile_pread(struct sfs_fsfile *f, struct sfs_reader_stream *st, void *buf,
			 size_t len, uint64_t off);
/* SEEK_DATA / SEEK_HOLE at the filesystem's block granularity (unwritten
 * extents are holes). -ENXIO when off >= size, or no data follows. */
int sfs_fsfile_seek(const struct sfs_fsfile *f, uint64_t off, int whence, uint64_t *ret_off);

#endif
