// SPDX-License-Identifier: MIT
/*
 * The writer session: the one place that appends to packs and writes the
 * catalog. Durability is ordered here: pack bytes are fsync'd (and the
 * packs directory, for a new pack) before the LMDB transaction that
 * records their locations commits, so a committed location always points
 * at durable bytes. Long sessions commit checkpoints so that the write
 * transaction stays bounded; snapshots still become completed only in the
 * final commit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "writer_int.h"

#define CHECKPOINT_BYTES (1ull << 30)

int sfs_writer_begin(struct sfs_store *s, struct sfs_writer **ret)
{
	struct sfs_writer *w;
	int r;

	if (!s->writable)
		return -EROFS;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->store = s;
	w->cbuf = malloc(sfs_store_chunk_bound(SFS_MAP_PAGE_MAX > s->block_size
						       ? SFS_MAP_PAGE_MAX
						       : s->block_size));
	if (!w->cbuf) {
		r = -ENOMEM;
		goto fail;
	}
	r = sfs_txn_begin(s, true, &w->txn);
	if (r < 0)
		goto fail;
	if (sfs_cat_meta_get(w->txn, "pack.active", &w->committed_pack) < 0 ||
	    sfs_cat_meta_get(w->txn, "pack.active_len", &w->committed_len) < 0)
		w->committed_pack = w->committed_len = 0;
	w->cur_pack = w->committed_pack;
	w->cur_len = w->committed_len;
	*ret = w;
	return 0;
fail:
	free(w->cbuf);
	free(w);
	return r;
}

struct sfs_txn *sfs_writer_txn(struct sfs_writer *w)
{
	return w->txn;
}

static int pack_for_append(struct sfs_writer *w)
{
	uint64_t number;
	int r;

	if (w->pack)
		return 0;
	if (w->cur_pack && w->cur_len < w->store->pack_size) {
		number = w->cur_pack;
		r = sfs_pack_writer_open(w->store->packs_dirfd, number, w->cur_len, &w->pack);
	} else {
		number = w->cur_pack + 1;
		r = sfs_pack_writer_open(w->store->packs_dirfd, number, 0, &w->pack);
	}
	if (r < 0)
		return sfs_log_errno(r, "cannot open pack %016" PRIx64 " for writing", number);
	sfs_store_forget_pack(w->store, number);
	w->cur_pack = number;
	w->cur_len = sfs_pack_writer_size(w->pack);
	return 0;
}

static int append(struct sfs_writer *w, const struct sfs_rec_header *h, const void *payload,
		  struct sfs_chunk_loc *loc)
{
	int r = pack_for_append(w);

	if (r < 0)
		return r;
	r = sfs_pack_append(w->pack, h, payload, loc);
	if (r < 0)
		return r;
	w->cur_len = sfs_pack_writer_size(w->pack);
	w->since_checkpoint += SFS_REC_HEADER_LEN + h->stored_len;
	w->new_bytes += SFS_REC_HEADER_LEN + h->stored_len;
	w->new_chunks++;
	if (w->cur_len >= w->store->pack_size) {
		/* Seal: durable now, never appended to again. */
		r = sfs_pack_writer_sync(w->pack);
		if (r < 0)
			return r;
		sfs_pack_writer_close(w->pack);
		w->pack = NULL;
	}
	return 0;
}

/* 1 when the index (this session's transaction included) has id, 0 when
 * not, or -errno. A damaged entry counts as absent: storing the chunk
 * again replaces it with a good one. */
static int has_chunk(struct sfs_writer *w, const struct sfs_id *id)
{
	struct sfs_chunk_loc loc;
	int r = sfs_cat_chunk_get(w->txn, id, &loc);

	if (r == 0)
		return 1;
	return r == -ENOENT || r == -EBADMSG ? 0 : r;
}

/* Appends a chunk known to be absent and records its location. */
static int store_new(struct sfs_writer *w, const struct sfs_rec_header *h, const void *payload)
{
	struct sfs_chunk_loc loc;
	int r = append(w, h, payload, &loc);

	if (r == 0)
		r = sfs_cat_chunk_put(w->txn, &h->id, &loc);
	if (r == 0 && w->since_checkpoint >= CHECKPOINT_BYTES)
		r = sfs_writer_checkpoint(w);
	return r;
}

int sfs_writer_put_stored(struct sfs_writer *w, const struct sfs_rec_header *h,
			  const void *payload, bool *ret_new)
{
	int r = has_chunk(w, &h->id);

	if (ret_new)
		*ret_new = r == 0;
	if (r != 0)
		return r < 0 ? r : 0;
	return store_new(w, h, payload);
}

int sfs_writer_put_chunk(struct sfs_writer *w, uint8_t type, const void *data, size_t len,
			 const struct sfs_id *id, bool *ret_new)
{
	struct sfs_rec_header h;
	int r = has_chunk(w, id);

	if (ret_new)
		*ret_new = r == 0;
	if (r != 0)
		return r < 0 ? r : 0;
	/* Compress only what the store lacks; one lookup, not two. */
	r = sfs_store_chunk_encode(w->store, type, data, len, id, w->cbuf,
				   sfs_store_chunk_bound(len), &h);
	if (r < 0)
		return r;
	return store_new(w, &h, w->cbuf);
}

static int sync_and_record(struct sfs_writer *w)
{
	int r;

	if (w->pack) {
		r = sfs_pack_writer_sync(w->pack);
		if (r < 0)
			return r;
	}
	if (w->cur_pack == 0)
		return 0;
	r = sfs_cat_meta_put(w->txn, "pack.active", w->cur_pack);
	if (r == 0)
		r = sfs_cat_meta_put(w->txn, "pack.active_len", w->cur_len);
	return r;
}

int sfs_writer_checkpoint(struct sfs_writer *w)
{
	int r = sync_and_record(w);

	if (r == 0) {
		r = sfs_txn_commit(w->txn);
		w->txn = NULL;
	}
	if (r < 0)
		return r;
	w->committed_pack = w->cur_pack;
	w->committed_len = w->cur_len;
	w->since_checkpoint = 0;
	return sfs_txn_begin(w->store, true, &w->txn);
}

int sfs_writer_add_pending(struct sfs_writer *w, struct sfs_snapshot *sn)
{
	uint64_t seq = 0;
	void *p;
	int r;

	r = sfs_cat_meta_get(w->txn, "seq", &seq);
	if (r < 0 && r != -ENOENT)
		return r;
	sn->seq = seq + 1;
	sn->state = SFS_SNAP_PENDING;
	r = sfs_cat_meta_put(w->txn, "seq", sn->seq);
	if (r == 0)
		r = sfs_cat_snapshot_put(w->txn, sn);
	if (r < 0)
		return r;
	p = realloc(w->pending, (w->n_pending + 1) * sizeof(*w->pending));
	if (!p)
		return -ENOMEM;
	w->pending = p;
	memcpy(w->pending[w->n_pending++], sn->id, SFS_IDSTR_SIZE);
	return sfs_writer_checkpoint(w);
}

int sfs_writer_add_done(struct sfs_writer *w, struct sfs_snapshot *sn)
{
	void *p = realloc(w->done, (w->n_done + 1) * sizeof(*w->done));

	if (!p)
		return -ENOMEM;
	w->done = p;
	w->done[w->n_done++] = *sn;
	memset(sn, 0, sizeof(*sn));
	return 0;
}

static int complete(struct sfs_writer *w, struct sfs_snapshot *sn)
{
	struct sfs_volume v = { 0 };
	int r;

	sn->state = SFS_SNAP_COMPLETED;
	r = sfs_cat_snapshot_put(w->txn, sn);
	if (r < 0)
		return r;
	r = sfs_cat_volume_get(w->txn, sn->volume, &v);
	if (r == -ENOENT) {
		memset(&v, 0, sizeof(v));
		snprintf(v.name, sizeof(v.name), "%s", sn->volume);
		r = sfs_idstr_new("vol-", v.id);
		v.created = sn->created;
		v.tags = json_object();
	}
	if (r < 0)
		return r;
	if (sn->size > v.size)
		v.size = sn->size;
	r = sfs_cat_volume_put(w->txn, &v);
	sfs_volume_release(&v);
	return r;
}

static void writer_free(struct sfs_writer *w)
{
	for (size_t i = 0; i < w->n_done; i++)
		sfs_snapshot_release(&w->done[i]);
	free(w->done);
	free(w->pending);
	sfs_pack_writer_close(w->pack);
	sfs_txn_abort(w->txn);
	free(w->cbuf);
	free(w);
}

int sfs_writer_commit(struct sfs_writer *w)
{
	int r = sync_and_record(w);

	for (size_t i = 0; r == 0 && i < w->n_done; i++)
		r = complete(w, &w->done[i]);
	if (r == 0) {
		r = sfs_txn_commit(w->txn);
		w->txn = NULL;
	}
	if (r < 0) {
		sfs_writer_abort(w);
		return r;
	}
	w->n_pending = 0;
	writer_free(w);
	return 0;
}

void sfs_writer_abort(struct sfs_writer *w)
{
	struct sfs_txn *t;

	if (!w)
		return;
	sfs_txn_abort(w->txn);
	w->txn = NULL;
	sfs_pack_writer_close(w->pack);
	w->pack = NULL;
	/* Give back the space of uncommitted records now rather than at the
	 * next writer: after ENOSPC this is what makes room again. */
	if (w->cur_pack && w->cur_pack != w->committed_pack) {
		char name[64];

		for (uint64_t n = w->committed_pack + 1; n <= w->cur_pack; n++) {
			sfs_pack_name(n, name, sizeof(name));
			unlinkat(w->store->packs_dirfd, name, 0);
			sfs_store_forget_pack(w->store, n);
		}
	}
	if (w->committed_pack) {
		struct sfs_pack_writer *pw;
		if (sfs_pack_writer_open(w->store->packs_dirfd, w->committed_pack, w->committed_len,
					 &pw) == 0)
			sfs_pack_writer_close(pw);
	}
	if (w->n_pending && sfs_txn_begin(w->store, true, &t) == 0) {
		int r = 0;
		for (size_t i = 0; r == 0 && i < w->n_pending; i++) {
			r = sfs_cat_snapshot_del(t, w->pending[i]);
			if (r == -ENOENT)
				r = 0;
		}
		if (r == 0)
			sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	writer_free(w);
}

int sfs_ingest(struct sfs_store *s, const struct sfs_ingest_opts *o, struct sfs_ingest_result *ret)
{
	struct sfs_writer *w;
	int r = sfs_writer_begin(s, &w);

	if (r < 0)
		return r;
	r = sfs_writer_snapshot(w, o, ret);
	if (r < 0) {
		sfs_writer_abort(w);
		return r;
	}
	return sfs_writer_commit(w);
}
