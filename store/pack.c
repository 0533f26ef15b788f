// SPDX-License-Identifier: MIT
/*
 * Pack files. The writer appends records through a buffer and makes them
 * durable in sfs_pack_writer_sync (data, then the directory entry of a new
 * pack). Readers find records by the location in the chunk index and
 * cross-check the record header against it before trusting any length.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "snapfs/pack.h"
#include "util_int.h"

#define WRITE_BUF (4u << 20)

struct sfs_pack_writer {
	int fd;
	int dirfd;           /* borrowed */
	uint64_t number;
	uint64_t flushed;    /* bytes written to the file */
	uint64_t synced;     /* bytes known durable */
	bool dir_synced;
	uint8_t *buf;
	size_t buf_len;
};

void sfs_pack_name(uint64_t number, char *buf, size_t len)
{
	snprintf(buf, len, "%016llx.pack", (unsigned long long)number);
}

void sfs_pack_header_encode(uint64_t number, uint8_t out[SFS_PACK_HEADER_LEN])
{
	memset(out, 0, SFS_PACK_HEADER_LEN);
	memcpy(out, SFS_PACK_MAGIC, 8);
	put_le32(out + 8, SFS_PACK_VERSION);
	put_le32(out + 12, SFS_PACK_HEADER_LEN);
	put_le64(out + 16, number);
}

int sfs_pack_header_decode(const uint8_t *buf, size_t len, uint64_t *ret_number)
{
	if (len < SFS_PACK_HEADER_LEN || memcmp(buf, SFS_PACK_MAGIC, 8) != 0)
		return -EBADMSG;
	if (get_le32(buf + 8) != SFS_PACK_VERSION || get_le32(buf + 12) != SFS_PACK_HEADER_LEN)
		return -EBADMSG;
	if (get_le64(buf + 24) != 0)
		return -EBADMSG;
	if (ret_number)
		*ret_number = get_le64(buf + 16);
	return 0;
}

void sfs_rec_header_encode(const struct sfs_rec_header *h, uint8_t out[SFS_REC_HEADER_LEN])
{
	put_le32(out, SFS_REC_MAGIC);
	out[4] = h->type;
	out[5] = h->comp;
	put_le16(out + 6, 0);
	put_le32(out + 8, h->raw_len);
	put_le32(out + 12, h->stored_len);
	memcpy(out + 16, h->id.b, SFS_ID_LEN);
}

int sfs_rec_header_decode(const uint8_t *buf, size_t len, struct sfs_rec_header *ret)
{
	struct sfs_rec_header h;

	if (len < SFS_REC_HEADER_LEN || get_le32(buf) != SFS_REC_MAGIC || get_le16(buf + 6) != 0)
		return -EBADMSG;
	h.type = buf[4];
	h.comp = buf[5];
	h.raw_len = get_le32(buf + 8);
	h.stored_len = get_le32(buf + 12);
	memcpy(h.id.b, buf + 16, SFS_ID_LEN);
	if (h.type != SFS_CHUNK_DATA && h.type != SFS_CHUNK_MAP)
		return -EBADMSG;
	if (h.comp != SFS_COMP_NONE && h.comp != SFS_COMP_ZSTD)
		return -EBADMSG;
	/* Map pages of a 4 KiB-block store are larger than a block but still
	 * far below SFS_BLOCK_MAX. */
	if (h.raw_len == 0 || h.raw_len > SFS_BLOCK_MAX)
		return -EBADMSG;
	if (h.comp == SFS_COMP_NONE ? h.stored_len != h.raw_len
				    : (h.stored_len == 0 || h.stored_len >= h.raw_len))
		return -EBADMSG;
	*ret = h;
	return 0;
}

int sfs_pack_writer_open(int dirfd, uint64_t number, uint64_t committed_len,
			 struct sfs_pack_writer **ret)
{
	struct sfs_pack_writer *w;
	char name[64];
	int r;

	sfs_pack_name(number, name, sizeof(name));
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->buf = malloc(WRITE_BUF);
	if (!w->buf) {
		r = -ENOMEM;
		goto out_free;
	}
	w->dirfd = dirfd;
	w->number = number;
	if (committed_len == 0) {
		uint8_t hdr[SFS_PACK_HEADER_LEN];

		/* Exclusive: a pack number is never used twice, so an existing
		 * file is someone's data, not ours to truncate. */
		w->fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0644);
		if (w->fd < 0) {
			r = -errno;
			goto out_free;
		}
		sfs_pack_header_encode(number, hdr);
		memcpy(w->buf, hdr, sizeof(hdr));
		w->buf_len = sizeof(hdr);
	} else {
		w->fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (w->fd < 0) {
			r = -errno;
			goto out_free;
		}
		if (ftruncate(w->fd, (off_t)committed_len) < 0) {
			r = -errno;
			goto out_close;
		}
		w->flushed = w->synced = committed_len;
		w->dir_synced = true;
	}
	*ret = w;
	return 0;

out_close:
	close(w->fd);
out_free:
	free(w->buf);
	free(w);
	return r;
}

static int writer_flush(struct sfs_pack_writer *w)
{
	int r;

	if (w->buf_len == 0)
		return 0;
	r = sfs_pwriten(w->fd, w->buf, w->buf_len, w->flushed);
	if (r < 0) {
		/* Drop what may have been partly written: the file must end at a
		 * record boundary for the next append. */
		if (ftruncate(w->fd, (off_t)w->flushed) < 0)
			return r;
		w->buf_len = 0;
		return r;
	}
	w->flushed += w->buf_len;
	w->buf_len = 0;
	return 0;
}

int sfs_pack_append(struct sfs_pack_writer *w, const struct sfs_rec_header *h,
		    const void *payload, struct sfs_chunk_loc *ret_loc)
{
	size_t need = SFS_REC_HEADER_LEN + h->stored_len;
	uint64_t off = w->flushed + w->buf_len;
	int r;

	if (w->buf_len + need > WRITE_BUF) {
		r = writer_flush(w);
		if (r < 0)
			return r;
	}
	if (need > WRITE_BUF) {
		uint8_t hdr[SFS_REC_HEADER_LEN];

		sfs_rec_header_encode(h, hdr);
		r = sfs_pwriten(w->fd, hdr, sizeof(hdr), off);
		if (r == 0)
			r = sfs_pwriten(w->fd, payload, h->stored_len, off + sizeof(hdr));
		if (r < 0) {
			if (ftruncate(w->fd, (off_t)off) < 0)
				return r;
			return r;
		}
		w->flushed += need;
	} else {
		sfs_rec_header_encode(h, w->buf + w->buf_len);
		memcpy(w->buf + w->buf_len + SFS_REC_HEADER_LEN, payload, h->stored_len);
		w->buf_len += need;
	}
	ret_loc->pack = w->number;
	ret_loc->offset = off;
	ret_loc->stored_len = h->stored_len;
	ret_loc->raw_len = h->raw_len;
	ret_loc->type = h->type;
	ret_loc->comp = h->comp;
	return 0;
}

int sfs_pack_writer_sync(struct sfs_pack_writer *w)
{
	int r = writer_flush(w);

	if (r < 0)
		return r;
	if (w->synced != w->flushed) {
		if (fdatasync(w->fd) < 0)
			return -errno;
		w->synced = w->flushed;
	}
	if (!w->dir_synced) {
		r = sfs_fsync_dir(w->dirfd);
		if (r < 0)
			return r;
		w->dir_synced = true;
	}
	return 0;
}

uint64_t sfs_pack_writer_number(const struct sfs_pack_writer *w)
{
	return w->number;
}

uint64_t sfs_pack_writer_size(const struct sfs_pack_writer *w)
{
	return w->flushed + w->buf_len;
}

void sfs_pack_writer_close(struct sfs_pack_writer *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w->buf);
	free(w);
}

int sfs_pack_read(int fd, const struct sfs_chunk_loc *loc, const struct sfs_id *id, void *buf)
{
	uint8_t hdr[SFS_REC_HEADER_LEN];
	struct sfs_rec_header h;
	int r;

	if (loc->offset < SFS_PACK_HEADER_LEN || loc->offset > UINT64_MAX / 2)
		return -EBADMSG;
	r = sfs_preadn(fd, hdr, sizeof(hdr), loc->offset);
	if (r == -ENODATA)
		return -EBADMSG;
	if (r < 0)
		return r;
	if (sfs_rec_header_decode(hdr, sizeof(hdr), &h) < 0)
		return -EBADMSG;
	if (h.type != loc->type || h.comp != loc->comp || h.raw_len != loc->raw_len ||
	    h.stored_len != loc->stored_len || memcmp(h.id.b, id->b, SFS_ID_LEN) != 0)
		return -EBADMSG;
	r = sfs_preadn(fd, buf, h.stored_len, loc->offset + SFS_REC_HEADER_LEN);
	if (r == -ENODATA)
		return -EBADMSG;
	return r;
}

int sfs_pack_scan(int fd, sfs_pack_scan_fn cb, void *ctx, uint64_t *ret_number,
		  uint64_t *ret_end)
{
	uint8_t hdr[SFS_PACK_HEADER_LEN];
	uint8_t rh[SFS_REC_HEADER_LEN];
	struct stat st;
	uint8_t *payload = NULL;
	uint64_t off, number;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	r = sfs_preadn(fd, hdr, sizeof(hdr), 0);
	if (r == -ENODATA)
		return -EBADMSG;
	if (r < 0)
		return r;
	r = sfs_pack_header_decode(hdr, sizeof(hdr), &number);
	if (r < 0)
		return r;
	if (ret_number)
		*ret_number = number;
	payload = malloc(SFS_BLOCK_MAX);
	if (!payload)
		return -ENOMEM;
	off = SFS_PACK_HEADER_LEN;
	r = 0;
	while (off + SFS_REC_HEADER_LEN <= (uint64_t)st.st_size) {
		struct sfs_rec_header h;

		r = sfs_preadn(fd, rh, sizeof(rh), off);
		if (r < 0)
			goto out;
		if (sfs_rec_header_decode(rh, sizeof(rh), &h) < 0)
			break;
		if (off + SFS_REC_HEADER_LEN + h.stored_len > (uint64_t)st.st_size)
			break;
		r = sfs_preadn(fd, payload, h.stored_len, off + SFS_REC_HEADER_LEN);
		if (r < 0)
			goto out;
		r = cb ? cb(ctx, &h, off, payload) : 0;
		if (r != 0)
			goto out;
		off += SFS_REC_HEADER_LEN + h.stored_len;
	}
	r = 0;
out:
	if (ret_end)
		*ret_end = off;
	free(payload);
	return r;
}
