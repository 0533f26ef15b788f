// SPDX-License-Identifier: MIT
/*
 * Restore: a snapshot written out through the verifying reader, for hosts
 * where the FUSE mount is not at hand. Holes are found from the map with
 * SEEK_DATA/SEEK_HOLE, so a sparse volume restores in the time of its data.
 *
 * A restore destroys nothing it did not create: a file destination is
 * written to a temporary file of its own, made with O_EXCL beside it, and
 * renamed over the destination only once complete and durable, so a
 * failure removes that temporary file and never the destination. A block
 * device is written in place and never unlinked. Anything else (character
 * devices such as /dev/null, fifos, sockets, directories, symlinks) is
 * refused before a byte is written. A stream (standard output, a pipe)
 * is the caller's to open: it gets every byte in order, holes as zeros.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "snapfs/check.h"
#include "snapfs/reader.h"
#include "store_int.h"
#include "util_int.h"

/* Large reads fan out over the reader's workers, and a window of
 * readahead keeps them busy while this thread writes. */
#define CHUNK_BYTES (8u << 20)
#define READAHEAD_BYTES (16u << 20)
#define CACHE_BYTES (64u << 20)
#define PIPE_BYTES (1 << 20)

/* Where the bytes go, and what may be undone on failure. */
struct dest {
	int fd;
	int dirfd;	/* the destination's directory; -1 for a device */
	char base[256]; /* the destination's name in dirfd */
	char tmp[256];	/* our temporary file in dirfd; "" once renamed or none */
	bool is_dev;
	bool replace; /* a regular file is there and FORCE allows replacing it */
	mode_t mode;  /* of the file replaced, kept on the new one */
};

/* The kind of a destination that is neither a regular file nor a block
 * device, as an error: a directory, a symlink (never followed: the link
 * and not its target would be replaced) or anything else. */
static int refuse_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return -EISDIR;
	if (S_ISLNK(mode))
		return -ELOOP;
	return -ENOTBLK;
}

static int open_device(const char *path, uint64_t need, struct dest *d)
{
	uint64_t devsize;
	struct stat st;
	int r;

	/* O_EXCL on a block device: refused while it is mounted or held. */
	d->fd = open(path, O_WRONLY | O_EXCL | O_NOFOLLOW | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	if (fstat(d->fd, &st) < 0)
		return -errno;
	/* Replaced between the lstat and the open. */
	if (!S_ISBLK(st.st_mode))
		return refuse_type(st.st_mode);
	if (ioctl(d->fd, BLKGETSIZE64, &devsize) < 0)
		return -errno;
	r = devsize < need ? -EFBIG : 0;
	d->is_dev = true;
	return r;
}

/* A temporary file of our own beside the destination: O_EXCL, so that it
 * is certainly ours to remove. */
static int open_temp(struct dest *d)
{
	for (int tries = 0; tries < 64; tries++) {
		uint32_t rnd;

		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -errno;
		snprintf(d->tmp, sizeof(d->tmp), ".%.200s.restore-%08x", d->base, rnd);
		d->fd = openat(d->dirfd, d->tmp,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (d->fd >= 0)
			return 0;
		d->tmp[0] = '\0';
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int open_file(const char *path, int flags, struct dest *d)
{
	char *dir_copy = strdup(path), *base_copy = strdup(path);
	const char *base;
	struct stat st;
	int r;

	if (!dir_copy || !base_copy) {
		r = -ENOMEM;
		goto out_free;
	}
	base = basename(base_copy);
	if (!*base || !strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, "..") ||
	    strlen(base) >= sizeof(d->base)) {
		r = -EISDIR;
		goto out_free;
	}
	snprintf(d->base, sizeof(d->base), "%s", base);
	d->dirfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		r = -errno;
		goto out_free;
	}
	r = fstatat(d->dirfd, d->base, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (r == 0) {
		if (!(flags & SFS_RESTORE_FORCE)) {
			r = -EEXIST;
			goto out_free;
		}
		/* Replaced only by someone who could have written it. O_NONBLOCK:
		 * should a fifo have taken its place, this must not wait. */
		int fd = openat(d->dirfd, d->base, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			goto out_free;
		}
		close(fd);
		d->replace = true;
		d->mode = st.st_mode & 07777;
	} else if (r != -ENOENT) {
		goto out_free;
	}
	r = open_temp(d);
	if (r == 0 && d->replace && fchmod(d->fd, d->mode) < 0)
		r = -errno;
out_free:
	free(dir_copy);
	free(base_copy);
	return r;
}

/* Opens dest as struct dest says; on failure the caller still runs
 * close_dest, which removes only what was created here. */
static int open_dest(const char *path, int flags, uint64_t need, struct dest *d)
{
	struct stat st;
	char *real;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? open_file(path, flags, d) : -errno;
	if (S_ISREG(st.st_mode))
		return open_file(path, flags, d);
	if (S_ISBLK(st.st_mode))
		return flags & SFS_RESTORE_FORCE ? open_device(path, need, d) : -EEXIST;
	/* /dev/disk/by-id and /dev/mapper names are links to devices: follow
	 * a link to a block device only. Replacing a link to a file would
	 * replace the link, not the file it names. */
	if (!S_ISLNK(st.st_mode))
		return refuse_type(st.st_mode);
	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return -ELOOP;
	if (!(flags & SFS_RESTORE_FORCE))
		return -EEXIST;
	real = realpath(path, NULL);
	if (!real)
		return -errno;
	r = open_device(real, need, d);
	free(real);
	return r;
}

/* Publishes the finished temporary file under the destination's name:
 * file data first, then the name, then the directory entry. */
static int commit_file(struct dest *d)
{
	int r;

	if (fsync(d->fd) < 0)
		return -errno;
	if (d->replace) {
		struct stat st;

		/* Still the regular file we were allowed to replace? */
		if (fstatat(d->dirfd, d->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode))
			return refuse_type(st.st_mode);
		r = renameat(d->dirfd, d->tmp, d->dirfd, d->base) < 0 ? -errno : 0;
	} else {
		r = renameat2(d->dirfd, d->tmp, d->dirfd, d->base, RENAME_NOREPLACE) < 0 ? -errno
											 : 0;
		/* A file system without RENAME_NOREPLACE: link(2) refuses too. */
		if (r == -EINVAL) {
			r = linkat(d->dirfd, d->tmp, d->dirfd, d->base, 0) < 0 ? -errno : 0;
			if (r == 0)
				unlinkat(d->dirfd, d->tmp, 0);
		}
	}
	if (r < 0)
		return r;
	d->tmp[0] = '\0';
	return sfs_fsync_dir(d->dirfd);
}

static void close_dest(struct dest *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->tmp[0])
		unlinkat(d->dirfd, d->tmp, 0);
	if (d->dirfd >= 0)
		close(d->dirfd);
}

/* How a destination takes the bytes: a regular file keeps holes as
 * holes (it is written with pwrite and extended by ftruncate), a device
 * gets them as zeros in place, and a stream (a pipe, a character device)
 * gets every byte in order with write. */
enum sink {
	SINK_FILE,
	SINK_DEVICE,
	SINK_STREAM,
};

/* Where copy_out writes: the descriptor, the kind of sink, whether its
 * writes may go past the page cache and whether they do now. */
struct out {
	int fd;
	enum sink kind;
	bool can_direct;
	bool direct;
};

/* What a write with O_DIRECT needs aligned (its offset, every buffer and
 * length) on devices with sectors of up to 4 KiB. Cache entries and the
 * zero region are page-aligned and blocks are at least 4 KiB; only the
 * last block of a volume whose size is not a multiple of it is not. */
#define DIRECT_ALIGN 4096u

/*
 * A file or device is written past the page cache (O_DIRECT): each page
 * would otherwise be copied once more, written back and dropped, and a
 * cold machine spends more CPU allocating those pages than decoding the
 * blocks (a 1 GiB write: 0.8-3.4 s buffered, 0.8-0.9 s direct, with dd).
 * A write that is not aligned for it (the last, partial block of a
 * volume) is buffered; a file system that refuses O_DIRECT keeps every
 * write buffered.
 */
static void set_direct(struct out *o, bool on)
{
	int fl = fcntl(o->fd, F_GETFL);

	if (fl >= 0 && fcntl(o->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) == 0) {
		o->direct = on;
		return;
	}
	o->can_direct = false;
	o->direct = fl >= 0 && (fl & O_DIRECT);
}

/* How many of the spans iov[0..n) at off a direct write can take: those
 * up to the first that is not aligned for it. */
static size_t direct_prefix(const struct iovec *iov, size_t n, uint64_t off)
{
	size_t i = 0;

	if (off % DIRECT_ALIGN)
		return 0;
	while (i < n && (uintptr_t)iov[i].iov_base % DIRECT_ALIGN == 0 &&
	       iov[i].iov_len % DIRECT_ALIGN == 0)
		i++;
	return i;
}

/* Writes the spans iov[0..n) at off (pwritev), or at the stream's position
 * for SINK_STREAM, in batches of IOV_MAX and across short writes, as the
 * descriptor is set now. The spans are consumed (advanced) as they are
 * written. */
static int write_run(struct out *o, struct iovec *iov, size_t n, uint64_t off)
{
	while (n > 0) {
		int cnt = n < IOV_MAX ? (int)n : IOV_MAX;
		ssize_t w = o->kind == SINK_STREAM ? writev(o->fd, iov, cnt)
						   : pwritev(o->fd, iov, cnt, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* refused by the file system after all: buffered */
			if (errno == EINVAL && o->direct) {
				o->can_direct = false;
				set_direct(o, false);
				if (o->direct)
					return -EINVAL;
				continue;
			}
			return -errno;
		}
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Writes the spans iov[0..n) at off: the aligned ones first past the page
 * cache when the destination allows it, the rest (the partial last block
 * of a volume) through it. */
static int write_spans(struct out *o, struct iovec *iov, size_t n, uint64_t off)
{
	size_t k = o->can_direct ? direct_prefix(iov, n, off) : 0;
	int r;

	if (k > 0) {
		uint64_t len = 0;

		for (size_t i = 0; i < k; i++)
			len += iov[i].iov_len;
		if (!o->direct)
			set_direct(o, true);
		r = write_run(o, iov, k, off);
		if (r < 0 || k == n)
			return r;
		iov += k;
		n -= k;
		off += len;
	}
	if (o->direct)
		set_direct(o, false);
	return write_run(o, iov, n, off);
}

/* len bytes of zeros at off: a device's old data under a hole, or a
 * stream's hole. Spans of the shared zero region, so nothing is cleared. */
static int write_zeros(struct out *o, uint64_t len, uint64_t off)
{
	struct iovec iov[64];
	size_t zlen;
	const void *z = sfs_reader_zeros(&zlen);

	if (!z)
		return -ENOMEM;
	while (len > 0) {
		size_t n = 0;
		uint64_t part = 0;
		int ret;

		for (; n < 64 && part < len; n++) {
			size_t l = len - part < zlen ? (size_t)(len - part) : zlen;
			iov[n] = (struct iovec){ .iov_base = (void *)z, .iov_len = l };
			part += l;
		}
		ret = write_spans(o, iov, n, off);
		if (ret < 0)
			return ret;
		off += part;
		len -= part;
	}
	return 0;
}

/* A pipe's default 64 KiB buffer makes the writer and the reader take
 * turns every 64 KiB, and those switches cost the restore more CPU than
 * its writes (a 2 GiB restore: 37,000 switches and 3.6 s of CPU, against
 * 6,900 and 2.4 s with 1 MiB). A larger buffer is a hint: an unprivileged
 * process may be refused more than /proc/sys/fs/pipe-max-size. */
static void widen_pipe(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		(void)fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES);
}

/* Asks the kernel to start writing back what was just written through
 * the page cache, so that dirty pages do not pile up for the final fsync
 * to wait on: the disk writes while the next blocks decode. A hint; its
 * errors surface at fsync. */
static void start_writeback(const struct out *o, uint64_t off, uint64_t len)
{
	if (o->kind != SINK_STREAM && !o->direct)
		(void)sync_file_range(o->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

/* Copies the snapshot's bytes into fd as the sink wants them. Reads leave
 * the verified blocks in the reader's cache and the write takes them from
 * there (one copy, into the destination), in writes of up to CHUNK_BYTES. */
static int copy_out(struct sfs_store *s, const struct sfs_snapmap *m, uint64_t data_bytes,
		    struct out *o, sfs_progress_fn progress, void *progress_ctx)
{
	struct sfs_reader *r = NULL;
	struct sfs_reader_stream *rs = NULL;
	struct sfs_reader_vec v;
	size_t chunk = CHUNK_BYTES > m->block_size ? CHUNK_BYTES : m->block_size;
	uint64_t off = 0;
	int ret;

	/* Every data block is one chunk lookup at a random place in the
	 * catalog: read it whole first unless it is large beside the data
	 * (a snapshot that did not record its data bytes: its size). */
	sfs_cat_prefetch(s, (data_bytes ? data_bytes : m->size) / SFS_CATALOG_PREFETCH_SHARE);
	/* The mount's parallel path: workers decode the blocks ahead while
	 * this thread writes the ones it has. */
	ret = sfs_reader_new(s, CACHE_BYTES, &r);
	if (ret == 0)
		ret = sfs_reader_start_readahead(r, 0, READAHEAD_BYTES);
	if (ret == 0)
		ret = sfs_reader_stream_new(r, &rs);
	if (ret < 0)
		goto out;
	sfs_reader_vec_init(&v, r);
	while (off < m->size) {
		uint64_t data, hole;

		ret = sfs_reader_seek(r, m, off, SEEK_DATA, &data);
		if (ret == -ENXIO)
			data = m->size;
		else if (ret < 0)
			goto out;
		/* A file keeps the hole; a device must lose what it held there
		 * and a stream must see the zeros. */
		if (o->kind != SINK_FILE && data > off) {
			ret = write_zeros(o, data - off, off);
			if (ret < 0)
				goto out;
		}
		off = data;
		if (off >= m->size)
			break;
		sfs_reader_stream_skip(rs, off);
		ret = sfs_reader_seek(r, m, off, SEEK_HOLE, &hole);
		if (ret < 0)
			goto out;
		while (off < hole) {
			size_t n = hole - off < chunk ? (size_t)(hole - off) : chunk;
			ssize_t got = sfs_reader_stream_preadv(rs, m, n, off, &v);

			if (got >= 0 && (size_t)got != n)
				got = -EIO;
			ret = got < 0 ? (int)got : write_spans(o, v.iov, v.niov, off);
			sfs_reader_vec_release(&v);
			if (ret < 0)
				goto out;
			start_writeback(o, off, n);
			off += n;
			if (progress)
				progress(progress_ctx, off, m->size);
		}
	}
	if (o->kind == SINK_FILE && ftruncate(o->fd, (off_t)m->size) < 0) {
		ret = -errno;
		goto out;
	}
	ret = 0;
out:
	sfs_reader_stream_free(rs);
	sfs_reader_free(r);
	return ret;
}

/* The map of completed snapshot id, and how many bytes of it are data. */
static int load_map(struct sfs_store *s, const char *id, struct sfs_snapmap *ret,
		    uint64_t *ret_data)
{
	struct sfs_snapshot sn;
	struct sfs_txn *t;
	int r;

	r = sfs_txn_begin(s, false, &t);
	if (r < 0)
		return r;
	r = sfs_cat_snapshot_get(t, id, &sn);
	sfs_txn_abort(t);
	if (r < 0)
		return r;
	if (sn.state == SFS_SNAP_COMPLETED) {
		sfs_snapmap_from_snapshot(&sn, ret);
		*ret_data = sn.data_bytes;
	} else {
		r = -EAGAIN;
	}
	sfs_snapshot_release(&sn);
	return r;
}

int sfs_restore(struct sfs_store *s, const char *id, const char *dest, int flags,
		sfs_progress_fn progress, void *progress_ctx)
{
	struct dest d = {.fd = -1, .dirfd = -1};
	struct out o;
	struct sfs_snapmap m;
	uint64_t data;
	int ret = load_map(s, id, &m, &data);

	if (ret < 0)
		return ret;
	ret = open_dest(dest, flags, m.size, &d);
	if (ret < 0)
		goto out_close_dest;
	o = (struct out){ .fd = d.fd, .kind = d.is_dev ? SINK_DEVICE : SINK_FILE,
			  .can_direct = true };
	ret = copy_out(s, &m, data, &o, progress, progress_ctx);
	if (ret < 0)
		goto out_close_dest;
	if (d.is_dev)
		ret = fsync(d.fd) < 0 ? -errno : 0;
	else
		ret = commit_file(&d);
	if (ret == 0 && progress)
		progress(progress_ctx, m.size, m.size);
out_close_dest:
	close_dest(&d);
	return ret;
}

int sfs_restore_stream(struct sfs_store *s, const char *id, int fd, sfs_progress_fn progress,
		       void *progress_ctx)
{
	struct sfs_snapmap m;
	uint64_t data;
	int ret = load_map(s, id, &m, &data);

	if (ret < 0)
		return ret;
	struct out o = { .fd = fd, .kind = SINK_STREAM };

	widen_pipe(fd);
	ret = copy_out(s, &m, data, &o, progress, progress_ctx);
	if (ret == 0 && progress)
		progress(progress_ctx, m.size, m.size);
	return ret;
}
