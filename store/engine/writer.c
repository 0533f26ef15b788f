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

struct sfs_writer {
	struct sfs_store *store;
	struct sfs_txn *txn;
	struct sfs_pack_writer *pack; /* open pack, or NULL */
	uint64_t first_pack;          /* pack.active when the session began */
	uint64_t committed_pack;      /* pack.active at the last commit (0: none) */
	uint64_t committed_len;       /* pack.active_len at the last commit */
	bool keep_committed;          /* committed_len is not the pack's true end: never cut */
	uint64_t cur_pack;            /* last pack appended to (0: none) */
	uint64_t cur_len;             /* its size */
	bool cur_sealed;              /* cur_pack takes no more appends */
	uint64_t *created;            /* packs created since the last commit */
	size_t n_created, cap_created;
	uint64_t since_checkpoint;    /* bytes appended since the last commit */
	uint8_t *cbuf;                /* compression output for put_chunk */
	/* snapshots made in this session: completed at commit */
	struct sfs_snapshot *done;
	size_t n_done;
	/* ids of this session's pending records, removed on abort */
	char (*pending)[SFS_IDSTR_SIZE];
	size_t n_pending;
	/* counters of the snapshot being made */
	uint64_t new_bytes, new_chunks;
};

static int max_pack(void *ctx, const struct sfs_pack_rec *p)
{
	struct sfs_pack_rec *max = ctx;

	if (p && p->number > max->number)
		*max = *p;
	return 0;
}

int sfs_writer_begin(struct sfs_store *s, struct sfs_writer **ret)
{
	struct sfs_writer *w;
	struct sfs_pack_rec p;
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
	w->first_pack = w->cur_pack = w->committed_pack;
	w->cur_len = w->committed_len;
	w->cur_sealed = w->cur_pack && sfs_cat_pack_get(w->txn, w->cur_pack, &p) == 0 && p.sealed;
	if (w->cur_pack && !w->cur_sealed) {
		/* Recovery has cut every tail nothing points into, so a pack
		 * longer than pack.active_len holds committed records the key
		 * does not account for (a damaged catalog): append to no part
		 * of it, and let no abort cut it back. */
		struct sfs_pack_info info;

		if (s->backend.ops->stat(&s->backend, w->cur_pack, &info) == 0 &&
		    info.length != w->committed_len) {
			sfs_log(SFS_LOG_WARN,
				"pack %016" PRIx64 " is %" PRIu64 " bytes but the catalog says %" PRIu64
				"; writing to a new pack and leaving it as it is",
				w->cur_pack, info.length, w->committed_len);
			w->cur_sealed = true;
			w->keep_committed = true;
		}
	}
	if (!w->committed_pack) {
		/* No pack.active (a new store, or a damaged catalog): new packs
		 * go above every pack the table names, none is appended to. */
		struct sfs_pack_rec max = { 0 };

		r = sfs_cat_pack_foreach(w->txn, max_pack, &max);
		if (r < 0)
			goto fail;
		w->cur_pack = max.number;
		w->cur_len = max.length;
		w->cur_sealed = true;
	}
	*ret = w;
	return 0;
fail:
	sfs_txn_abort(w->txn);
	free(w->cbuf);
	free(w);
	return r;
}

struct sfs_txn *sfs_writer_txn(struct sfs_writer *w)
{
	return w->txn;
}

struct sfs_store *sfs_writer_store(const struct sfs_writer *w)
{
	return w->store;
}

uint64_t sfs_writer_pack(const struct sfs_writer *w)
{
	return w->cur_pack;
}

uint64_t sfs_writer_first_pack(const struct sfs_writer *w)
{
	return w->first_pack;
}

void sfs_writer_stats(const struct sfs_writer *w, uint64_t *ret_bytes, uint64_t *ret_chunks)
{
	if (ret_bytes)
		*ret_bytes = w->new_bytes;
	if (ret_chunks)
		*ret_chunks = w->new_chunks;
}

void sfs_writer_stats_reset(struct sfs_writer *w)
{
	w->new_bytes = w->new_chunks = 0;
}

/* The pack row goes into the same transaction as the locations that
 * point into the pack. */
static int record_pack(struct sfs_writer *w)
{
	struct sfs_pack_rec p = { .number = w->cur_pack, .length = w->cur_len,
				  .sealed = w->cur_sealed };

	return sfs_cat_pack_put(w->txn, &p);
}

/* Creates the pack after cur_pack. A number some earlier writer left a
 * file under (recovery keeps what it cannot prove uncommitted) is
 * skipped, never overwritten. */
static int create_next(struct sfs_writer *w)
{
	struct sfs_backend *b = &w->store->backend;
	uint64_t number = w->cur_pack + 1;
	void *p;
	int r;

	if (w->n_created == w->cap_created) {
		size_t c = w->cap_created ? w->cap_created * 2 : 8;
		p = realloc(w->created, c * sizeof(*w->created));
		if (!p)
			return -ENOMEM;
		w->created = p;
		w->cap_created = c;
	}
	for (int tries = 0;; tries++, number++) {
		r = sfs_pack_writer_open(b, number, 0, &w->pack);
		if (r != -EEXIST || tries == 1024)
			break;
		sfs_log(SFS_LOG_WARN, "pack %016" PRIx64 " exists but the catalog does not name it; "
				      "left alone, writing the next number",
			number);
	}
	if (r < 0)
		return sfs_log_errno(r, "cannot create pack %016" PRIx64, number);
	w->created[w->n_created++] = number;
	w->cur_pack = number;
	w->cur_len = sfs_pack_writer_size(w->pack);
	w->cur_sealed = false;
	return 0;
}

static int pack_for_append(struct sfs_writer *w)
{
	int r;

	if (w->pack)
		return 0;
	__atomic_store_n(&w->store->packs_grew, true, __ATOMIC_RELAXED);
	if (w->cur_pack && !w->cur_sealed && w->cur_len < w->store->pack_size) {
		r = sfs_pack_writer_open(&w->store->backend, w->cur_pack, w->cur_len, &w->pack);
		if (r < 0)
			return sfs_log_errno(r, "cannot open pack %016" PRIx64 " for writing",
					     w->cur_pack);
		w->cur_len = sfs_pack_writer_size(w->pack);
		return 0;
	}
	return create_next(w);
}

/* Seals the open pack: durable now, never appended to again. */
static int seal(struct sfs_writer *w)
{
	int r = 0;

	if (w->pack) {
		r = sfs_pack_writer_seal(w->pack);
		w->pack = NULL;
	}
	if (r < 0 || !w->cur_pack)
		return r;
	w->cur_sealed = true;
	return record_pack(w);
}

int sfs_writer_seal_pack(struct sfs_writer *w)
{
	int r = seal(w);

	if (r == 0)
		r = create_next(w);
	return r;
}

int sfs_writer_rewind_active(struct sfs_writer *w, uint64_t *ret_number)
{
	if (w->pack || !w->cur_pack || w->cur_pack != w->committed_pack || w->n_created)
		return -EBUSY;
	/* The commit records the pack as empty past its header and open for
	 * appends again; the caller cuts the file after that commit. A crash
	 * in between leaves a tail nothing points into, which recovery cuts. */
	w->cur_len = SFS_PACK_HEADER_LEN;
	w->cur_sealed = false;
	w->keep_committed = true;
	*ret_number = w->cur_pack;
	return record_pack(w);
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
	if (w->cur_len >= w->store->pack_size)
		return seal(w);
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
	if (r == 0)
		r = sfs_writer_checkpoint_over(w, CHECKPOINT_BYTES);
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
	r = record_pack(w);
	if (r == 0)
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
	w->n_created = 0;
	w->since_checkpoint = 0;
	return sfs_txn_begin(w->store, true, &w->txn);
}

int sfs_writer_checkpoint_over(struct sfs_writer *w, uint64_t bytes)
{
	if (w->since_checkpoint < bytes)
		return 0;
	return sfs_writer_checkpoint(w);
}

const struct sfs_snapshot *sfs_writer_session_snapshot(const struct sfs_writer *w, const char *id)
{
	for (size_t i = 0; w && i < w->n_done; i++)
		if (!strcmp(w->done[i].id, id))
			return &w->done[i];
	return NULL;
}

int sfs_writer_disk_fit(struct sfs_txn *t, const struct sfs_writer *w, const char *what,
			const char *id, uint64_t *size, char *err, size_t errlen)
{
	const struct sfs_snapshot *own = sfs_writer_session_snapshot(w, id);
	struct sfs_snapshot sn = {0};
	uint64_t have;
	int r;

	if (own) {
		have = own->size;
	} else {
		r = sfs_cat_snapshot_get(t, id, &sn);
		if (r == -ENOENT)
			snprintf(err, errlen, "%s: no snapshot %s", what, id);
		if (r < 0)
			return r;
		have = sn.size;
		if (sn.state != SFS_SNAP_COMPLETED) {
			snprintf(err, errlen, "%s: snapshot %s is %s, not completed", what, id,
				 sfs_snap_state_name(sn.state));
			sfs_snapshot_release(&sn);
			return -EAGAIN;
		}
		sfs_snapshot_release(&sn);
	}
	if (*size == 0)
		*size = have;
	if (*size < have) {
		snprintf(err, errlen, "%s: size %" PRIu64 " is smaller than snapshot %s (%" PRIu64
			 " bytes)", what, *size, id, have);
		return -ERANGE;
	}
	return 0;
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
	free(w->created);
	sfs_pack_writer_close(w->pack);
	sfs_txn_abort(w->txn);
	free(w->cbuf);
	free(w);
}

int sfs_writer_commit(struct sfs_writer *w)
{
	struct sfs_store *s = w->store;
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
	/* The snapshots just completed go into the catalog's copy now, not
	 * only when the store is closed. */
	sfs_catalog_copy_refresh(s);
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
	 * next writer: after ENOSPC this is what makes room again. Only the
	 * packs this session created since its last commit go. */
	for (size_t i = 0; i < w->n_created; i++)
		w->store->backend.ops->remove(&w->store->backend, w->created[i]);
	if (w->committed_pack && !w->keep_committed) {
		struct sfs_pack_info info;
		struct sfs_backend *b = &w->store->backend;

		if (b->ops->stat(b, w->committed_pack, &info) == 0 && info.length > w->committed_len)
			b->ops->truncate(b, w->committed_pack, w->committed_len);
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
