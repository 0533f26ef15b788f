// SPDX-License-Identifier: MIT
/*
 * Repair: the chunk index rebuilt from the packs, which are
 * self-describing (store/FORMAT.md), on top of whatever catalog the store
 * has: its own, or the catalog's copy that SFS_OPEN_REPAIR put in place of
 * one LMDB could not read. Every record is read and verified through the
 * chunk store before it is indexed; an existing entry is replaced only
 * when it is damaged or its own record fails verification. Nothing is
 * removed: not a pack, not a byte of one, not a record. What cannot be
 * rebuilt (a snapshot whose map needs chunks no pack has, snapshot records
 * newer than the copy) is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "snapfs/blockmap.h"
#include "snapfs/catalog.h"
#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "snapfs/repair.h"
#include "idset_int.h"
#include "store_int.h"
#include "volcreated_int.h"

/* Entries put per transaction: bounds LMDB's dirty pages on a big store. */
#define PUTS_PER_COMMIT 65536

struct ids {
	struct sfs_id *v;
	size_t len, cap;
};

struct nums {
	uint64_t *v;
	size_t len, cap;
};

struct rp {
	struct sfs_store *s;
	struct sfs_repair_result *res;
	sfs_problem_fn note;
	void *ctx;
	struct sfs_txn *txn; /* write transaction */
	uint64_t puts;       /* entries put since the last commit */
	uint8_t *buf;        /* SFS_BLOCK_MAX */
	uint64_t pack;       /* being scanned */
	uint64_t put_end;    /* end of the last record indexed in it */
	struct ids new_maps; /* map pages indexed by this repair */
	/* the snapshot walk */
	struct sfs_txn *rtxn;
	struct sfs_reader *reader;
	struct sfs_idset seen, bad, blocks;
	struct sfs_id path[SFS_MAP_MAX_DEPTH];
	int depth;
	bool lost;
};

__attribute__((format(printf, 2, 3))) static void note(struct rp *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (p->note)
		p->note(p->ctx, line);
}

static int ids_add(struct ids *a, const struct sfs_id *id)
{
	if (a->len == a->cap) {
		size_t c = a->cap ? a->cap * 2 : 256;
		struct sfs_id *v = realloc(a->v, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = c;
	}
	a->v[a->len++] = *id;
	return 0;
}

/* ---- the packs ---- */

static int num_add(void *ctx, uint64_t number, const struct sfs_pack_info *info)
{
	struct nums *a = ctx;

	(void)info;
	if (a->len == a->cap) {
		size_t c = a->cap ? a->cap * 2 : 64;
		uint64_t *v = realloc(a->v, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = c;
	}
	a->v[a->len++] = number;
	return 0;
}

static int row_add(void *ctx, const struct sfs_pack_rec *p)
{
	return p ? num_add(ctx, p->number, NULL) : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every pack number the table names or the backend lists, once, in order. */
static int pack_numbers(struct rp *p, struct nums *ret)
{
	struct sfs_backend *b = &p->s->backend;
	size_t n = 0;
	int r;

	r = b->ops->list(b, num_add, ret);
	if (r == 0)
		r = sfs_cat_pack_foreach(p->txn, row_add, ret);
	if (r < 0)
		return r;
	if (ret->len)
		qsort(ret->v, ret->len, sizeof(*ret->v), cmp_u64);
	for (size_t i = 0; i < ret->len; i++)
		if (n == 0 || ret->v[n - 1] != ret->v[i])
			ret->v[n++] = ret->v[i];
	ret->len = n;
	return 0;
}

/* Commits what was put so far and goes on in a new transaction: a long
 * repair must not grow one transaction without bound, and what it
 * committed is safe to keep (entries point at verified records). */
static int maybe_commit(struct rp *p, bool force)
{
	int r;

	if (!force && p->puts < PUTS_PER_COMMIT)
		return 0;
	r = sfs_txn_commit(p->txn);
	p->txn = NULL;
	if (r == 0)
		r = sfs_txn_begin(p->s, true, &p->txn);
	p->puts = 0;
	return r;
}

static bool loc_eq(const struct sfs_chunk_loc *a, const struct sfs_chunk_loc *b)
{
	return a->pack == b->pack && a->offset == b->offset && a->stored_len == b->stored_len &&
	       a->raw_len == b->raw_len && a->type == b->type && a->comp == b->comp;
}

static int scan_cb(void *ctx, const struct sfs_rec_header *h, uint64_t offset, const void *payload)
{
	struct rp *p = ctx;
	struct sfs_chunk_loc loc = { .pack = p->pack, .offset = offset, .stored_len = h->stored_len,
				     .raw_len = h->raw_len, .type = h->type, .comp = h->comp };
	struct sfs_chunk_loc old;
	char hex[SFS_ID_HEX_LEN + 1];
	bool replace = false;
	int r;

	(void)payload; /* read again through the chunk store, the one verified read */
	r = sfs_store_chunk_read(p->s, &h->id, 0, &loc, p->buf, SFS_BLOCK_MAX, NULL, NULL);
	if (r == -EBADMSG || r == -EUCLEAN) {
		sfs_id_to_hex(&h->id, hex);
		p->res->bad_records++;
		note(p, "pack %016" PRIx64 ".pack offset %" PRIu64 ": record of chunk %s fails "
			"verification; left as it is",
		     p->pack, offset, hex);
		return 0;
	}
	if (r < 0)
		return r;
	p->res->records++;
	r = sfs_cat_chunk_get(p->txn, &h->id, &old);
	if (r == 0) {
		if (loc_eq(&old, &loc))
			return 0;
		/* Another copy of the chunk: keep the entry if its record
		 * still verifies. */
		r = sfs_store_chunk_read(p->s, &h->id, 0, &old, p->buf, SFS_BLOCK_MAX, NULL, NULL);
		if (r == 0)
			return 0;
		if (r != -EBADMSG && r != -EUCLEAN && r != -ENOENT)
			return r;
		replace = true;
	} else if (r == -EBADMSG) {
		replace = true;
	} else if (r != -ENOENT) {
		return r;
	}
	r = sfs_cat_chunk_put(p->txn, &h->id, &loc);
	if (r < 0)
		return r;
	if (replace) {
		sfs_id_to_hex(&h->id, hex);
		p->res->replaced++;
		note(p, "chunk %s: index entry was damaged or pointed at a bad record; now pack "
			"%016" PRIx64 ".pack offset %" PRIu64,
		     hex, p->pack, offset);
	} else {
		p->res->reindexed++;
		if (h->type == SFS_CHUNK_MAP && ids_add(&p->new_maps, &h->id) < 0)
			return -ENOMEM;
	}
	if (offset + SFS_REC_HEADER_LEN + h->stored_len > p->put_end)
		p->put_end = offset + SFS_REC_HEADER_LEN + h->stored_len;
	p->puts++;
	return maybe_commit(p, false);
}

/* A pack's row covers every record indexed in it; a row this repair
 * writes marks the pack sealed, so that nothing is appended after bytes
 * the scan could not read. */
static int fix_row(struct rp *p, uint64_t number, uint64_t length)
{
	struct sfs_pack_rec row;
	int r = sfs_cat_pack_get(p->txn, number, &row);

	if (r == 0 && row.length >= p->put_end)
		return 0;
	if (r < 0 && r != -ENOENT && r != -EBADMSG)
		return r;
	row.number = number;
	row.length = length;
	row.sealed = true;
	p->res->pack_rows++;
	return sfs_cat_pack_put(p->txn, &row);
}

static int scan_pack(struct rp *p, uint64_t number, uint64_t *ret_len)
{
	struct sfs_backend *b = &p->s->backend;
	struct sfs_pack_info info;
	uint64_t named = 0, end = 0;
	int r;

	*ret_len = 0;
	r = b->ops->stat(b, number, &info);
	if (r == -ENOENT)
		return 0; /* a row gc has not dropped yet */
	if (r < 0)
		return r;
	p->pack = number;
	p->put_end = 0;
	r = sfs_pack_scan(b, number, scan_cb, p, &named, &end);
	if (r == -EBADMSG || (r == 0 && named != number)) {
		p->res->bad_packs++;
		note(p, "pack %016" PRIx64 ".pack: %s; left as it is", number,
		     r ? "its header does not decode" : "its header names another number");
		return 0;
	}
	if (r < 0)
		return r;
	p->res->packs++;
	*ret_len = info.length;
	if (end < info.length) {
		p->res->torn_packs++;
		note(p, "pack %016" PRIx64 ".pack: its records end at byte %" PRIu64 " of %" PRIu64
			" (an interrupted write); left as it is",
		     number, end, info.length);
	}
	return fix_row(p, number, info.length);
}

/* pack.active names the highest pack and its length, so that recovery
 * keeps every pack this repair indexed and writers start a new one. */
static int fix_active(struct rp *p, uint64_t top, uint64_t top_len)
{
	uint64_t active = 0, len = 0;
	struct sfs_pack_rec row;
	int r;

	if (!top)
		return 0;
	if (sfs_cat_meta_get(p->txn, "pack.active", &active) == 0 &&
	    sfs_cat_meta_get(p->txn, "pack.active_len", &len) == 0 &&
	    (active > top || (active == top && len >= top_len)))
		return 0;
	row.number = top;
	row.length = top_len;
	row.sealed = true;
	r = sfs_cat_pack_put(p->txn, &row);
	if (r == 0)
		r = sfs_cat_meta_put(p->txn, "pack.active", top);
	if (r == 0)
		r = sfs_cat_meta_put(p->txn, "pack.active_len", top_len);
	if (r == 0)
		p->res->active_moved = true;
	return r;
}

static int scan_packs(struct rp *p, sfs_progress_fn progress, void *pctx)
{
	struct nums n = { 0 };
	uint64_t top = 0, top_len = 0;
	int r;

	r = pack_numbers(p, &n);
	for (size_t i = 0; r == 0 && i < n.len; i++) {
		uint64_t len;

		r = scan_pack(p, n.v[i], &len);
		if (r == 0 && len) {
			top = n.v[i];
			top_len = len;
		}
		if (progress)
			progress(pctx, i + 1, n.len);
	}
	if (r == 0)
		r = fix_active(p, top, top_len);
	free(n.v);
	return r;
}

/* ---- what is lost ---- */

/* A page or block is bad when its subtree lacks a chunk; every page on
 * the path to it is then bad too, so that a snapshot sharing any of them
 * (walked later, and skipped below a page already seen) is lost as well. */
static int mark_path_bad(struct rp *p, int from)
{
	for (int l = from < 0 ? 0 : from; l < p->depth; l++) {
		int r = sfs_idset_add(&p->bad, &p->path[l]);
		if (r < 0)
			return r;
	}
	p->lost = true;
	return 0;
}

static int lost_walk_fn(void *ctx, int level, uint64_t first_block, const struct sfs_id *id)
{
	struct rp *p = ctx;
	struct sfs_chunk_loc loc;
	int r;

	(void)first_block;
	if (level >= 0) {
		p->path[level] = *id;
		r = sfs_idset_add(&p->seen, id);
		if (r < 0)
			return r;
		if (r == 0) {
			if (sfs_idset_has(&p->bad, id)) {
				r = mark_path_bad(p, level + 1);
				if (r < 0)
					return r;
			}
			return 1;
		}
		return 0;
	}
	if (sfs_idset_has(&p->blocks, id))
		return 0;
	r = sfs_cat_chunk_get(p->rtxn, id, &loc);
	if (r == 0)
		return sfs_idset_add(&p->blocks, id) < 0 ? -ENOMEM : 0;
	return mark_path_bad(p, 0);
}

static int lost_snapshot_fn(void *ctx, const struct sfs_snapshot *sn)
{
	struct rp *p = ctx;
	struct sfs_snapmap m;
	int r;

	p->res->snapshots++;
	if (sn->state != SFS_SNAP_COMPLETED || sn->depth == 0 || sn->depth > SFS_MAP_MAX_DEPTH)
		return 0;
	sfs_snapmap_from_snapshot(sn, &m);
	p->depth = (int)sn->depth;
	p->lost = false;
	r = sfs_reader_walk(p->reader, &m, true, lost_walk_fn, p);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		/* A page that cannot be read: the walk stopped at it, and the
		 * path above it is on record. */
		for (int l = 0; l < p->depth; l++)
			sfs_idset_add(&p->bad, &p->path[l]);
		p->lost = true;
	}
	if (p->lost) {
		p->res->lost_snapshots++;
		note(p, "snapshot %s (volume %s): its map references chunks no pack holds; it is "
			"lost ('snapfs snapshot delete %s' removes it)",
		     sn->id, sn->volume, sn->id);
	}
	return 0;
}

/* Map trees re-indexed from the packs that no snapshot record reaches:
 * the roots among them are snapshots whose records the catalog lacks
 * (newer than a restored copy), or leftovers of deleted snapshots and
 * interrupted writers. */
static int count_orphans(struct rp *p)
{
	struct sfs_idset child;
	struct sfs_map_page pg;
	struct sfs_chunk_loc loc;
	int r = 0;

	sfs_idset_init(&child);
	for (size_t i = 0; r == 0 && i < p->new_maps.len; i++) {
		if (sfs_idset_has(&p->seen, &p->new_maps.v[i]))
			continue;
		r = sfs_store_chunk_read(p->s, &p->new_maps.v[i], SFS_CHUNK_MAP, NULL, p->buf,
					 SFS_BLOCK_MAX, &loc, NULL);
		if (r < 0) {
			r = r == -ENOMEM ? r : 0;
			continue;
		}
		if (sfs_map_page_decode(p->buf, loc.raw_len, &pg) < 0 || pg.level == 0)
			continue;
		for (uint32_t j = 0; r == 0 && j < pg.count; j++)
			if (!sfs_id_is_zero(&pg.ids[j]))
				r = sfs_idset_add(&child, &pg.ids[j]) < 0 ? -ENOMEM : 0;
	}
	for (size_t i = 0; r == 0 && i < p->new_maps.len; i++)
		if (!sfs_idset_has(&p->seen, &p->new_maps.v[i]) &&
		    !sfs_idset_has(&child, &p->new_maps.v[i]))
			p->res->orphan_maps++;
	sfs_idset_release(&child);
	return r;
}

static int find_lost(struct rp *p)
{
	int r = sfs_reader_new(p->s, 16u << 20, &p->reader);

	if (r < 0)
		return r;
	r = sfs_txn_begin(p->s, false, &p->rtxn);
	if (r == 0) {
		r = sfs_cat_snapshot_foreach(p->rtxn, NULL, lost_snapshot_fn, p);
		sfs_txn_abort(p->rtxn);
		p->rtxn = NULL;
	}
	sfs_reader_free(p->reader);
	p->reader = NULL;
	if (r == 0)
		r = count_orphans(p);
	return r;
}

static int64_t copy_time(struct sfs_store *s)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "catalog/%s", SFS_CATALOG_COPY);
	if (fstatat(s->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return st.st_mtime;
}

int sfs_repair(struct sfs_store *s, sfs_problem_fn note_fn, void *ctx, sfs_progress_fn progress,
	       void *progress_ctx, struct sfs_repair_result *ret)
{
	struct rp p = { .s = s, .res = ret, .note = note_fn, .ctx = ctx };
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!s->writable || !s->repair_pending)
		return -EINVAL;
	ret->restored = s->restored;
	snprintf(ret->damaged_name, sizeof(ret->damaged_name), "%s", s->damaged_name);
	if (s->restored)
		ret->copy_time = copy_time(s);
	sfs_idset_init(&p.seen);
	sfs_idset_init(&p.bad);
	sfs_idset_init(&p.blocks);
	p.buf = malloc(SFS_BLOCK_MAX);
	if (!p.buf) {
		r = -ENOMEM;
		goto out;
	}
	r = sfs_txn_begin(s, true, &p.txn);
	if (r < 0)
		goto out;
	r = scan_packs(&p, progress, progress_ctx);
	if (r == 0)
		r = maybe_commit(&p, true);
	if (r == 0)
		r = find_lost(&p);
	/* The index by creation time is rebuilt from the records whatever it
	 * held (check names entries that disagree with them). */
	if (r == 0)
		r = sfs_volcreated_rebuild(p.txn);
	/* The index by volume is mended: entries that disagree with their
	 * records go, missing ones are added (a damaged record's stays). */
	if (r == 0) {
		uint64_t fixed;

		r = sfs_cat_index_mend(p.txn, &sfs_index_volsnap, &fixed);
		if (r == 0 && fixed)
			sfs_log(SFS_LOG_INFO, "mended %" PRIu64 " entries of the index of snapshots by volume",
				fixed);
	}
	/* Done: mounts refresh, and ordinary writers may open the store. */
	if (r == 0)
		r = sfs_cat_bump_generation(p.txn);
	if (r == 0)
		r = sfs_store_repair_done(p.txn);
	if (r == 0) {
		r = sfs_txn_commit(p.txn);
		p.txn = NULL;
	}
	if (r == 0) {
		/* The store is closed with a fresh copy of what was rebuilt. */
		s->repair_pending = false;
		s->copy_force = true;
	}
out:
	sfs_txn_abort(p.txn);
	free(p.buf);
	free(p.new_maps.v);
	sfs_idset_release(&p.seen);
	sfs_idset_release(&p.bad);
	sfs_idset_release(&p.blocks);
	return r;
}
