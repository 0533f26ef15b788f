// SPDX-License-Identifier: MIT
/*
 * Restore: a snapshot written out through the verifying reader, for hosts
 * where the FUSE mount is not at hand. Holes are found from the map with
 * SEEK_DATA/SEEK_HOLE, so a sparse volume restores in the time of its data.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "snapfs/check.h"
#include "snapfs/reader.h"
#include "util_int.h"

/* Large reads fan out over the reader's workers, and a window of
 * readahead keeps them busy while this thread writes. */
#define CHUNK_BYTES (8u << 20)
#define READAHEAD_BYTES (16u << 20)
#define CACHE_BYTES (64u << 20)

int sfs_restore(struct sfs_store *s, const char *id, const char *dest, int flags,
		sfs_progress_fn progress, void *progress_ctx)
{
	struct sfs_snapshot sn;
	struct sfs_snapmap m;
	struct sfs_reader *r = NULL;
	struct sfs_reader_stream *rs = NULL;
	struct sfs_txn *t;
	struct stat st;
	bool is_dev = false, created = false;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int fd = -1, ret;

	ret = sfs_txn_begin(s, false, &t);
	if (ret < 0)
		return ret;
	ret = sfs_cat_snapshot_get(t, id, &sn);
	sfs_txn_abort(t);
	if (ret < 0)
		return ret;
	if (sn.state != SFS_SNAP_COMPLETED) {
		sfs_snapshot_release(&sn);
		return -EAGAIN;
	}
	sfs_snapmap_from_snapshot(&sn, &m);
	sfs_snapshot_release(&sn);

	if (stat(dest, &st) == 0 && S_ISBLK(st.st_mode)) {
		uint64_t devsize;
		fd = open(dest, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ioctl(fd, BLKGETSIZE64, &devsize) == 0 && devsize < m.size) {
			close(fd);
			return -EFBIG;
		}
		is_dev = true;
	} else {
		int oflags = O_WRONLY | O_CREAT | O_CLOEXEC | O_TRUNC;
		if (!(flags & SFS_RESTORE_FORCE))
			oflags |= O_EXCL;
		fd = open(dest, oflags, 0644);
		if (fd < 0)
			return -errno;
		created = true;
	}
	ret = sfs_reader_new(s, CACHE_BYTES, &r);
	if (ret == 0)
		ret = sfs_reader_start_readahead(r, 0, READAHEAD_BYTES);
	if (ret == 0)
		ret = sfs_reader_stream_new(r, &rs);
	if (ret < 0)
		goto out;
	buf = malloc(CHUNK_BYTES > m.block_size ? CHUNK_BYTES : m.block_size);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (off < m.size) {
		uint64_t data, hole;

		ret = sfs_reader_seek(r, &m, off, SEEK_DATA, &data);
		if (ret == -ENXIO)
			data = m.size;
		else if (ret < 0)
			goto out;
		if (is_dev && data > off) {
			/* A device keeps what it held: zero the hole explicitly. */
			memset(buf, 0, CHUNK_BYTES);
			while (off < data) {
				size_t n = data - off < CHUNK_BYTES ? (size_t)(data - off) : CHUNK_BYTES;
				ret = sfs_pwriten(fd, buf, n, off);
				if (ret < 0)
					goto out;
				off += n;
			}
		}
		off = data;
		if (off >= m.size)
			break;
		ret = sfs_reader_seek(r, &m, off, SEEK_HOLE, &hole);
		if (ret < 0)
			goto out;
		while (off < hole) {
			size_t n = hole - off < CHUNK_BYTES ? (size_t)(hole - off) : CHUNK_BYTES;
			ssize_t got = sfs_reader_stream_pread(rs, &m, buf, n, off);
			if (got < 0) {
				ret = (int)got;
				goto out;
			}
			if ((size_t)got != n) {
				ret = -EIO;
				goto out;
			}
			ret = sfs_pwriten(fd, buf, n, off);
			if (ret < 0)
				goto out;
			off += n;
			if (progress)
				progress(progress_ctx, off, m.size);
		}
	}
	if (!is_dev && ftruncate(fd, (off_t)m.size) < 0) {
		ret = -errno;
		goto out;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		goto out;
	}
	if (progress)
		progress(progress_ctx, m.size, m.size);
	ret = 0;
out:
	free(buf);
	sfs_reader_stream_free(rs);
	sfs_reader_free(r);
	if (fd >= 0)
		close(fd);
	if (ret < 0 && created)
		unlink(dest);
	return ret;
}
