// SPDX-License-Identifier: MIT
/*
 * Pack files. The writer appends records through a buffer to a backend
 * (snapfs/backend.h) and makes them durable in sfs_pack_writer_sync (the
 * backend syncs data, then the directory entry of a new pack). Readers
 * find records by the location in the chunk index and cross-check the
 * record header against it before trusting any length.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/backend.h"
#include "snapfs/pack.h"
#include "util_int.h"

/* Small enough that the buffer is still in the core's cache when write(2)
 * copies it into the page cache: with 4 MiB the copy ran from memory and
 * cost about twice the system time of a whole ingest. Records larger than
 * this go out as one append of their own. */
#define WRITE_BUF (256u << 10)

struct sfs_pack_writer {
	struct sfs_backend *b;     /* borrowed */
	struct sfs_pack_out *out;  /* the backend's append handle */
	uint64_t number;
	uint64_t flushed;          /* bytes handed to the backend */
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

int sfs_rec_lengths_check(uint8_t comp, uint32_t raw_len, uint32_t stored_len)
{
	uint8_t alg = comp & SFS_COMP_MASK;

	if (alg != SFS_COMP_NONE && alg != SFS_COMP_ZSTD)
		return -EBADMSG;
	/* Map pages of a 4 KiB-block store are larger than a block but still
	 * far below SFS_BLOCK_MAX. */
	if (raw_len == 0 || raw_len > SFS_BLOCK_MAX)
		return -EBADMSG;
	if ((comp & SFS_COMP_SEALED) && (comp & SFS_COMP_SUMMED))
		return -EBADMSG;
	if (comp & SFS_COMP_SEALED) {
		if (stored_len <= SFS_SEAL_OVERHEAD)
			return -EBADMSG;
		stored_len -= SFS_SEAL_OVERHEAD;
	}
	if (comp & SFS_COMP_SUMMED) {
		if (stored_len <= SFS_SUM_LEN)
			return -EBADMSG;
		stored_len -= SFS_SUM_LEN;
	}
	if (alg == SFS_COMP_NONE ? stored_len != raw_len : (stored_len == 0 || stored_len >= raw_len))
		return -EBADMSG;
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
	if (sfs_rec_lengths_check(h.comp, h.raw_len, h.stored_len) < 0)
		return -EBADMSG;
	*ret = h;
	return 0;
}

bool sfs_rec_header_is(const struct sfs_rec_header *h, const struct sfs_chunk_loc *loc,
		       const struct sfs_id *id)
{
	return h->type == loc->type && h->comp == loc->comp && h->raw_len == loc->raw_len &&
	       h->stored_len == loc->stored_len && memcmp(h->id.b, id->b, SFS_ID_LEN) == 0;
}

int sfs_pack_writer_open(struct sfs_backend *b, uint64_t number, uint64_t committed_len,
			 struct sfs_pack_writer **ret)
{
	struct sfs_pack_writer *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->buf = malloc(WRITE_BUF);
	if (!w->buf) {
		r = -ENOMEM;
		goto out_free;
	}
	w->b = b;
	w->number = number;
	r = b->ops->create(b, number, committed_len, &w->out);
	if (r < 0)
		goto out_free;
	if (committed_len == 0) {
		sfs_pack_header_encode(number, w->buf);
		w->buf_len = SFS_PACK_HEADER_LEN;
	}
	w->flushed = committed_len;
	*ret = w;
	return 0;

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
	r = w->b->ops->append(w->out, w->buf, w->buf_len);
	/* On failure the backend keeps the pack at its previous length, a
	 * record boundary; the buffered records are dropped (nothing points
	 * at them yet). */
	if (r == 0)
		w->flushed += w->buf_len;
	w->buf_len = 0;
	return r;
}

int sfs_pack_append(struct sfs_pack_writer *w, const struct sfs_rec_header *h,
		    const void *payload, struct sfs_chunk_loc *ret_loc)
{
	size_t need = SFS_REC_HEADER_LEN + h->stored_len;
	uint64_t off;
	int r;

	if (w->buf_len + need > WRITE_BUF) {
		r = writer_flush(w);
		if (r < 0)
			return r;
	}
	off = w->flushed + w->buf_len;
	if (need > WRITE_BUF) {
		/* Larger than the buffer (a block of a large-block store):
		 * header and payload go out as one append, so that the pack
		 * still ends at a record boundary if it fails. */
		uint8_t *rec = malloc(need);

		if (!rec)
			return -ENOMEM;
		sfs_rec_header_encode(h, rec);
		memcpy(rec + SFS_REC_HEADER_LEN, payload, h->stored_len);
		r = w->b->ops->append(w->out, rec, need);
		free(rec);
		if (r < 0)
			return r;
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
	return w->b->ops->sync(w->out);
}

int sfs_pack_writer_seal(struct sfs_pack_writer *w)
{
	int r = writer_flush(w);

	if (r == 0) {
		r = w->b->ops->seal(w->out);
		w->out = NULL;
	}
	sfs_pack_writer_close(w);
	return r;
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
	if (w->out)
		w->b->ops->abandon(w->out);
	free(w->buf);
	free(w);
}

int sfs_pack_read(struct sfs_backend *b, const struct sfs_chunk_loc *loc, const struct sfs_id *id,
		  void *buf)
{
	uint8_t hdr[SFS_REC_HEADER_LEN];
	struct iovec iov[2] = {
		{ hdr, sizeof(hdr) },
		{ buf, loc->stored_len },
	};
	struct sfs_rec_header h;
	ssize_t n;

	if (loc->offset < SFS_PACK_HEADER_LEN || loc->offset > UINT64_MAX / 2 ||
	    loc->stored_len > SFS_STORED_MAX)
		return -EBADMSG;
	/* Header and payload in one request; the header is checked against
	 * the location before the payload length is believed. */
	n = b->ops->read(b, loc->pack, loc->offset, iov, 2);
	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(hdr) || sfs_rec_header_decode(hdr, sizeof(hdr), &h) < 0)
		return -EBADMSG;
	if (!sfs_rec_header_is(&h, loc, id))
		return -EBADMSG;
	if ((size_t)n != sizeof(hdr) + loc->stored_len)
		return -EBADMSG; /* the payload was cut short */
	return 0;
}

static int read_exact(struct sfs_backend *b, uint64_t number, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	ssize_t n = b->ops->read(b, number, off, &iov, 1);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -ENODATA;
}

int sfs_pack_scan(struct sfs_backend *b, uint64_t number, sfs_pack_scan_fn cb, void *ctx,
		  uint64_t *ret_number, uint64_t *ret_end)
{
	uint8_t hdr[SFS_PACK_HEADER_LEN];
	uint8_t rh[SFS_REC_HEADER_LEN];
	struct sfs_pack_info info;
	uint8_t *payload = NULL;
	uint64_t off, named;
	int r;

	r = b->ops->stat(b, number, &info);
	if (r < 0)
		return r;
	r = read_exact(b, number, 0, hdr, sizeof(hdr));
	if (r == -ENODATA)
		return -EBADMSG;
	if (r < 0)
		return r;
	r = sfs_pack_header_decode(hdr, sizeof(hdr), &named);
	if (r < 0)
		return r;
	if (ret_number)
		*ret_number = named;
	payload = malloc(SFS_STORED_MAX);
	if (!payload)
		return -ENOMEM;
	off = SFS_PACK_HEADER_LEN;
	r = 0;
	while (off + SFS_REC_HEADER_LEN <= info.length) {
		struct sfs_rec_header h;

		r = read_exact(b, number, off, rh, sizeof(rh));
		if (r == -ENODATA)
			break;
		if (r < 0)
			goto out;
		if (sfs_rec_header_decode(rh, sizeof(rh), &h) < 0)
			break;
		if (off + SFS_REC_HEADER_LEN + h.stored_len > info.length)
			break;
		r = read_exact(b, number, off + SFS_REC_HEADER_LEN, payload, h.stored_len);
		if (r == -ENODATA)
			break;
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
