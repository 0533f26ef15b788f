// SPDX-License-Identifier: MIT
/*
 * Snapshot deletion and garbage collection. gc runs inside an ordinary
 * writer session, so that the packs it writes are covered by the same
 * "pack.active" bookkeeping, checkpoints and recovery as a snapshot
 * create: new pack bytes are fsync'd before the LMDB commit that points
 * at them, and old packs are unlinked only after that commit. A crash at
 * any point leaves either the old locations (old packs still present) or
 * the new ones (new pack durable); at worst some unreferenced bytes stay
 * behind for the next run. The protocol is written down in
 * store/FORMAT.md, "Garbage collection".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "snapfs/bin.h"
#include "snapfs/gc.h"
#include "snapfs/checkpoint.h"
#include "snapfs/image.h"
#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "batchread_int.h"
#include "idset_int.h"
#include "liveset_int.h"
#include "store_int.h"
#include "util_int.h"
#include "writer_int.h"

#define DEFAULT_REWRITE_PCT 50

/* Map pages remembered to skip subtrees shared between snapshots: at most
 * this many (a 16 MiB table); past it a shared subtree is walked again,
 * which costs time, never correctness. */
#define PAGE_SET_MAX (3u << 17)

/* Catalog changes per transaction: LMDB keeps a transaction's dirty
 * pages in memory, and deletes scattered over the index dirty about a
 * page each; commit at least this often (32 MiB of pages at most). */
#define WRITES_PER_COMMIT 8192u

/* Moves sorted by location at a time (3.5 MiB). */
#define MOVE_BATCH 65536u

/* Moves sn's record into the recycle bin when a rule covers it, setting
 * *ret_until; leaves it for deletion otherwise. */
static int keep_in_bin(struct sfs_txn *t, const struct sfs_snapshot *sn, int64_t now,
		       int64_t *ret_until)
{
	int64_t period = sfs_bin_period(t, SFS_BIN_SNAPSHOTS, sn->tags);
	MDB_val v;
	int r;

	if (period <= 0)
		return (int)period;
	r = sfs_cat_get_raw(t, SFS_DBI_SNAPSHOTS, sn->id, strlen(sn->id), &v);
	if (r == 0)
		r = sfs_bin_keep(t, SFS_BIN_SNAPSHOTS, sn->id, sn->volume, v.mv_data, v.mv_size,
				 now, now + period);
	if (r == 0)
		*ret_until = now + period;
	return r;
}

int sfs_snapshot_remove(struct sfs_txn *t, const char *id, const struct sfs_delete_opts *o,
			struct sfs_delete_info *ret)
{
	static const struct sfs_delete_opts defaults;
	struct sfs_delete_info info = { 0 };
	struct sfs_snapshot sn;
	bool damaged = false;
	int64_t now;
	int r;

	o = o ? o : &defaults;
	now = o->now ? o->now : (int64_t)time(NULL);
	r = sfs_cat_snapshot_get(t, id, &sn);
	if (r == -EBADMSG) /* a damaged record can still be deleted */
		damaged = true;
	else if (r < 0)
		return r;
	/* An image or a checkpoint that maps it keeps it. */
	r = sfs_snapshot_user_of(t, id, info.image, sizeof(info.image));
	if (r > 0)
		r = -EBUSY;
	if (r == 0 && !damaged && sfs_snapshot_locked(&sn, now)) {
		info.lock_mode = sn.lock_mode;
		info.lock_until = sn.lock_until;
		r = -EPERM;
	}
	/* Only a completed snapshot is worth keeping: a pending or failed
	 * one could never be restored into anything usable. */
	if (r == 0 && !damaged && !o->force && sn.state == SFS_SNAP_COMPLETED)
		r = keep_in_bin(t, &sn, now, &info.bin_until);
	if (r == 0)
		r = sfs_cat_snapshot_del(t, id);
	if (!damaged)
		sfs_snapshot_release(&sn);
	if (ret)
		*ret = info;
	return r;
}

int sfs_snapshot_delete(struct sfs_txn *t, const char *id, char *ret_image, size_t len)
{
	struct sfs_delete_info info;
	int r = sfs_snapshot_remove(t, id, NULL, &info);

	if (r == -EBUSY && ret_image && len)
		snprintf(ret_image, len, "%s", info.image);
	return r;
}

/* What gc knows of one pack file. */
struct pack_stat {
	bool listed;  /* in the pack table */
	bool exists;  /* and its bytes are there */
	bool rewrite; /* live records move to a new pack, then the file goes */
	bool remove;  /* no live record: the file goes */
	uint64_t size;  /* file length */
	uint64_t disk;  /* st_blocks * 512 */
	uint64_t live, dead; /* record bytes the index points at */
};

struct live_ent {
	struct sfs_id id;
	struct sfs_chunk_loc loc;
};

struct gc {
	struct sfs_store *s;
	const struct sfs_gc_opts *o;
	struct sfs_gc_result *res;
	struct sfs_txn *txn;     /* the writer's, or a read txn on a dry run */
	struct sfs_writer *w;    /* NULL on a dry run */
	struct sfs_reader *reader;
	struct sfs_liveset *live;  /* every id a snapshot references, on disk past a buffer */
	struct sfs_idset pages;    /* map pages walked, up to PAGE_SET_MAX */
	struct pack_stat *packs; /* index = pack number */
	size_t n_packs;
	FILE *dead;              /* ids of dead index entries, spooled */
	FILE *moves;             /* live_ent of records to move, spooled */
	uint64_t n_moves, move_bytes;
	struct sfs_snapmap *maps;
	size_t n_maps, cap_maps;
	uint64_t active;         /* pack.active when gc began */
	bool remove_only;        /* no room to rewrite: only drop packs with nothing live */
	uint64_t rewound;        /* the active pack, emptied in place (remove_only), or 0 */
	uint64_t damaged;        /* index entries whose location is unreadable */
	int64_t now;             /* the time the recycle bin's periods are judged at */
	uint64_t ticks;          /* catalog entries touched, for trimming the map */
	uint64_t writes;         /* catalog changes since the last commit */
};

/* A checkpoint of the writer session every WRITES_PER_COMMIT changes.
 * What gc has changed so far is safe to commit on its own: dead entries
 * name chunks no snapshot references (the writer lock keeps new
 * snapshots out), and moved records are durable before the commit that
 * points at them. A crash leaves unreferenced bytes for the next run. */
static int wrote(struct gc *g)
{
	int r = 0;

	if (++g->writes % WRITES_PER_COMMIT == 0) {
		r = sfs_writer_checkpoint(g->w);
		g->txn = sfs_writer_txn(g->w);
	}
	return r;
}

/* Every so many catalog entries touched, drop the catalog's pages from
 * RSS, or millions of chunks would map all of it. An entry that a walk
 * reaches in order (the chunk index's, or a map's: a map page is looked
 * up once per 1,024 entries) counts 1. A record moved or an entry
 * deleted by id (the dead: a tenth of the index is spread over all of
 * it) counts TRIM_RANDOM, since each of its faults maps the cached pages
 * around its own too. */
#define TRIM_RANDOM 16u

static void tick(struct gc *g, unsigned weight)
{
	uint64_t before = g->ticks;

	g->ticks += weight;
	if (g->ticks / SFS_CAT_TRIM_EVERY != before / SFS_CAT_TRIM_EVERY)
		sfs_cat_map_trim(g->s);
}

static void progress(struct gc *g, uint64_t done, uint64_t total)
{
	if (g->o->progress)
		g->o->progress(g->o->progress_ctx, done, total);
}

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
	size_t c;
	void *q;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 256;
	q = realloc(*p, c * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static struct pack_stat *pack_at(struct gc *g, uint64_t number)
{
	if (number >= g->n_packs) {
		size_t n = g->n_packs ? g->n_packs : 64;
		struct pack_stat *p;

		if (number > (1u << 30))
			return NULL;
		while (n <= number)
			n *= 2;
		p = realloc(g->packs, n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + g->n_packs, 0, (n - g->n_packs) * sizeof(*p));
		g->packs = p;
		g->n_packs = n;
	}
	return &g->packs[number];
}

/* ---- mark ---- */

static int collect_map(void *ctx, const struct sfs_snapshot *sn)
{
	struct gc *g = ctx;
	int r;

	/* Every state counts: a pending or failed snapshot's record may be
	 * all that keeps chunks that a resumed create will name. */
	if (sfs_id_is_zero(&sn->root))
		return 0;
	r = grow((void **)&g->maps, &g->cap_maps, g->n_maps, sizeof(*g->maps));
	if (r < 0)
		return r;
	sfs_snapmap_from_snapshot(sn, &g->maps[g->n_maps++]);
	return 0;
}

static int mark_fn(void *ctx, int level, uint64_t first_block, const struct sfs_id *id)
{
	struct gc *g = ctx;

	(void)first_block;
	tick(g, 1);
	if (level >= 0) {
		/* A page seen before was walked with all its subtree. */
		if (sfs_idset_has(&g->pages, id))
			return 1;
		if (g->pages.n < PAGE_SET_MAX && sfs_idset_add(&g->pages, id) < 0)
			return -ENOMEM;
	}
	return sfs_liveset_add(g->live, id);
}

/* A snapshot in the recycle bin keeps its chunks until its period ends;
 * an expired one is dropped (on a real run) before mark, so it keeps
 * nothing. */
static int collect_bin(void *ctx, const struct sfs_bin_entry *e)
{
	struct gc *g = ctx;
	struct sfs_snapshot sn;
	int r;

	if (e->kind != SFS_BIN_SNAPSHOTS || e->until <= g->now)
		return 0;
	r = sfs_snapshot_decode(e->record, e->record_len, &sn);
	if (r < 0)
		return sfs_log_errno(r, "gc: the recycle bin's record of %s does not decode; "
					"nothing was collected",
				     e->id);
	r = collect_map(g, &sn);
	sfs_snapshot_release(&sn);
	if (r == 0)
		g->res->bin_snapshots++;
	return r;
}

static int mark(struct gc *g)
{
	uint64_t total = 0, done = 0;
	int r = sfs_cat_snapshot_foreach(g->txn, NULL, collect_map, g);

	if (r < 0)
		return sfs_log_errno(r, "gc: cannot list snapshots");
	if (!g->o->dry_run) {
		r = sfs_bin_purge(g->txn, g->now);
		if (r < 0)
			return sfs_log_errno(r, "gc: cannot empty the recycle bin");
		g->res->bin_purged = (uint64_t)r;
	}
	r = sfs_bin_foreach(g->txn, collect_bin, g);
	if (r < 0)
		return sfs_log_errno(r, "gc: cannot list the recycle bin");

	for (size_t i = 0; i < g->n_maps; i++)
		total += g->maps[i].size;
	for (size_t i = 0; i < g->n_maps; i++) {
		r = sfs_reader_walk(g->reader, &g->maps[i], true, mark_fn, g);
		if (r < 0)
			return sfs_log_errno(r, "gc: cannot walk the block map of snapshot %s; "
						"nothing was collected",
					     g->maps[i].id);
		done += g->maps[i].size;
		progress(g, done, total);
	}
	g->res->snapshots = g->n_maps;
	/* The pages only sped the walk up; the live set takes their room. */
	sfs_idset_release(&g->pages);
	r = sfs_liveset_seal(g->live);
	if (r < 0)
		return sfs_log_errno(r, "gc: cannot sort the live set");
	return 0;
}

/* ---- sweep ---- */

static int add_pack(struct gc *g, uint64_t number, const struct sfs_pack_info *info)
{
	struct pack_stat *p = pack_at(g, number);

	if (!p)
		return -ENOMEM;
	p->listed = true;
	if (!info)
		return 0;
	p->exists = true;
	p->size = info->length;
	p->disk = info->disk;
	g->res->packs_before++;
	g->res->disk_before += p->disk;
	return 0;
}

static int table_fn(void *ctx, const struct sfs_pack_rec *rec)
{
	struct gc *g = ctx;
	struct sfs_backend *b = sfs_store_backend(g->s);
	struct sfs_pack_info info;
	int r;

	if (!rec)
		return 0; /* a damaged row: check reports it; gc leaves it */
	r = b->ops->stat(b, rec->number, &info);
	if (r == -ENOENT)
		return add_pack(g, rec->number, NULL);
	if (r < 0)
		return sfs_log_errno(r, "gc: cannot stat pack %016" PRIx64, rec->number);
	return add_pack(g, rec->number, &info);
}

static int listed_fn(void *ctx, uint64_t number, const struct sfs_pack_info *info)
{
	return add_pack(ctx, number, info);
}

/* The packs the catalog's pack table names; a dry run on an older store
 * opened read-only (no table yet) asks the backend instead. */
static int list_packs(struct gc *g)
{
	struct sfs_backend *b = sfs_store_backend(g->s);

	if (sfs_cat_has_pack_table(g->txn))
		return sfs_cat_pack_foreach(g->txn, table_fn, g);
	return b->ops->list(b, listed_fn, g);
}

static int account_fn(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct gc *g = ctx;
	uint64_t bytes;
	struct pack_stat *p;
	int r;

	tick(g, 1);
	if (!loc) {
		/* check reports it; gc leaves it alone, and since the entry
		 * may name any pack, frees no pack at all (choose_packs). */
		g->damaged++;
		return 0;
	}
	bytes = SFS_REC_HEADER_LEN + (uint64_t)loc->stored_len;
	p = pack_at(g, loc->pack);
	if (!p)
		return -ENOMEM;
	r = sfs_liveset_has(g->live, id);
	if (r < 0)
		return r;
	if (r) {
		p->live += bytes;
		g->res->live_chunks++;
		g->res->live_bytes += bytes;
		return 0;
	}
	p->dead += bytes;
	g->res->dead_chunks++;
	g->res->dead_bytes += bytes;
	if (fwrite(id, sizeof(*id), 1, g->dead) != 1)
		return -EIO;
	return 0;
}

static void choose_packs(struct gc *g)
{
	unsigned pct = g->o->rewrite_pct ? g->o->rewrite_pct : DEFAULT_REWRITE_PCT;

	/* Repair never destroys: a pack goes only when the index proves that
	 * nothing live is in it, which a damaged entry makes unprovable. */
	if (g->damaged) {
		sfs_log(SFS_LOG_WARN,
			"gc: %" PRIu64 " chunk index entries are damaged, so no pack is removed or "
			"rewritten ('snapfs check' reports them)",
			g->damaged);
		return;
	}
	for (uint64_t n = 1; n < g->n_packs; n++) {
		struct pack_stat *p = &g->packs[n];
		uint64_t body;

		if (!p->exists || n > g->active)
			continue; /* above pack.active: never committed, recovery's */
		body = p->size > SFS_PACK_HEADER_LEN ? p->size - SFS_PACK_HEADER_LEN : 0;
		if (p->live == 0) {
			/* Nothing live: an empty active pack with nothing to free is
			 * left for the next create to append to. */
			if (n == g->active && p->dead == 0 && body == 0)
				continue;
			p->remove = true;
			g->res->packs_removed++;
		} else if (!g->remove_only && p->live * 100 < body * pct) {
			p->rewrite = true;
			g->res->packs_rewritten++;
		}
	}
}

static int collect_moves(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct gc *g = ctx;
	struct live_ent e;
	int r;

	tick(g, 1);
	if (!loc || loc->pack >= g->n_packs || !g->packs[loc->pack].rewrite)
		return 0;
	r = sfs_liveset_has(g->live, id);
	if (r <= 0)
		return r;
	e.id = *id;
	e.loc = *loc;
	if (fwrite(&e, sizeof(e), 1, g->moves) != 1)
		return -EIO;
	g->n_moves++;
	g->move_bytes += SFS_REC_HEADER_LEN + (uint64_t)loc->stored_len;
	return 0;
}

static int cmp_move(const void *a, const void *b)
{
	const struct sfs_chunk_loc *x = &((const struct live_ent *)a)->loc;
	const struct sfs_chunk_loc *y = &((const struct live_ent *)b)->loc;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * Appends go to a pack numbered above every pack gc may delete: when the
 * active pack itself is to go, a fresh pack is opened now (even if
 * nothing is moved, so that pack.active names a file that exists).
 */
static int fresh_pack(struct gc *g)
{
	struct pack_stat *p = g->active < g->n_packs ? &g->packs[g->active] : NULL;
	int r;

	if (!p || !(p->rewrite || p->remove))
		return 0;
	if (g->remove_only && p->remove) {
		/* No room for a new pack: keep the active one, emptied. */
		r = sfs_writer_rewind_active(g->w, &g->rewound);
		if (r == 0)
			p->remove = false;
		return r;
	}
	r = sfs_writer_seal_pack(g->w);
	g->txn = sfs_writer_txn(g->w);
	return r;
}

/* Rows of packs whose bytes are gone and that nothing points into (gc
 * stopped between removing a pack and dropping its row). */
static int drop_missing_rows(struct gc *g)
{
	for (uint64_t n = 1; n < g->n_packs; n++) {
		struct pack_stat *p = &g->packs[n];
		int r;

		if (!p->listed || p->exists || p->live || p->dead)
			continue;
		r = sfs_cat_pack_del(g->txn, n);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

/* Copies one live record, read and verified by the batch reader, to the
 * writer's pack. */
static int move_one(struct gc *g, const struct sfs_batch_ent *e)
{
	struct sfs_rec_header h = {
		.type = e->loc.type,
		.comp = e->loc.comp,
		.raw_len = e->loc.raw_len,
		.stored_len = e->loc.stored_len,
		.id = e->id,
	};
	char hex[SFS_ID_HEX_LEN + 1];
	bool is_new;
	int r = e->r;

	tick(g, TRIM_RANDOM);
	if (r < 0) {
		sfs_id_to_hex(&e->id, hex);
		sfs_log(SFS_LOG_ERR,
			"gc: live chunk %s in pack %016" PRIx64 " at offset %" PRIu64 ": %s; "
			"nothing was collected (run 'snapfs check --read-data')",
			hex, e->loc.pack, e->loc.offset,
			r == -EBADMSG   ? "stored bytes fail verification"
			: r == -EUCLEAN ? "its pack is missing"
					: strerror(-r));
		return r;
	}
	/* Dropping the entry first makes put_stored append rather than find
	 * the old copy; both changes land in the same transaction. */
	r = sfs_cat_chunk_del(g->txn, &e->id);
	if (r == 0)
		r = sfs_writer_put_stored(g->w, &h, e->stored, &is_new);
	/* put_stored may have committed a checkpoint: keep our handle fresh. */
	g->txn = sfs_writer_txn(g->w);
	if (r < 0)
		return r;
	g->res->copied_chunks++;
	g->res->copied_bytes += SFS_REC_HEADER_LEN + (uint64_t)h.stored_len;
	return wrote(g);
}

/* Records are read and verified READ_BATCH at a time on every CPU, the
 * next batch while this thread appends the last. */
#define READ_BATCH 64u

struct mover {
	struct gc *g;
	struct sfs_batchread *pool;
	struct sfs_batch_ent *ents[2];
	const struct live_ent *batch; /* a spooled batch, in pack order */
	size_t n, next;
	uint64_t done;
};

static int mover_init(struct mover *m, struct gc *g)
{
	/* A record is at most a block or a map page, with a sum or a seal. */
	size_t cap = (g->s->block_size > SFS_MAP_PAGE_MAX ? g->s->block_size : SFS_MAP_PAGE_MAX) +
		     SFS_SEAL_OVERHEAD + SFS_SUM_LEN;

	m->g = g;
	for (int k = 0; k < 2; k++) {
		m->ents[k] = calloc(READ_BATCH, sizeof(*m->ents[k]));
		if (!m->ents[k])
			return -ENOMEM;
		for (size_t i = 0; i < READ_BATCH; i++) {
			m->ents[k][i].stored = malloc(cap);
			m->ents[k][i].stored_cap = cap;
			if (!m->ents[k][i].stored)
				return -ENOMEM;
		}
	}
	return sfs_batchread_new(g->s, &m->pool);
}

static void mover_release(struct mover *m)
{
	sfs_batchread_free(m->pool);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; m->ents[k] && i < READ_BATCH; i++)
			free(m->ents[k][i].stored);
		free(m->ents[k]);
	}
}

/* The batch reader's fill: the next records of the spooled batch. */
static int moves_fill(void *ctx, struct sfs_batch_ent *e, size_t max,
		      const struct sfs_batch_ent *held, size_t n_held)
{
	struct mover *m = ctx;
	size_t k = 0;

	for (; m->next < m->n && k < max; m->next++, k++) {
		e[k].id = m->batch[m->next].id;
		e[k].type = 0;
		e[k].located = true;
		e[k].loc = m->batch[m->next].loc;
	}
	return (int)k;
}

/* The batch reader's drain: the records read, moved in order. */
static int moves_drain(void *ctx, struct sfs_batch_ent *e, size_t n)
{
	struct mover *m = ctx;
	struct gc *g = m->g;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++, m->done++) {
		r = move_one(g, &e[i]);
		if ((m->done & 255) == 0 || m->done + 1 == g->n_moves)
			progress(g, g->res->copied_bytes, g->move_bytes);
	}
	return r;
}

/* The spooled moves, a batch at a time, each batch in pack order so
 * that the old packs are read front to back. */
static int move_live(struct gc *g)
{
	struct live_ent *batch = malloc(MOVE_BATCH * sizeof(*batch));
	struct mover m = { 0 };
	struct sfs_batch_pipe pipe = { moves_fill, moves_drain, &m };
	int r = batch ? mover_init(&m, g) : -ENOMEM;

	if (r < 0)
		goto out;
	if (fflush(g->moves) != 0 || fseeko(g->moves, 0, SEEK_SET) != 0) {
		r = -EIO;
		goto out;
	}
	while (r == 0 && m.done < g->n_moves) {
		size_t n = fread(batch, sizeof(*batch), MOVE_BATCH, g->moves);

		if (n == 0) {
			r = -EIO;
			break;
		}
		qsort(batch, n, sizeof(*batch), cmp_move);
		m.batch = batch;
		m.n = n;
		m.next = 0;
		r = sfs_batchread_pipe(m.pool, m.ents, READ_BATCH, &pipe);
	}
out:
	mover_release(&m);
	free(batch);
	return r;
}

static int drop_dead(struct gc *g)
{
	struct sfs_id id;

	if (fflush(g->dead) != 0 || fseeko(g->dead, 0, SEEK_SET) != 0)
		return -EIO;
	while (fread(&id, sizeof(id), 1, g->dead) == 1) {
		int r = sfs_cat_chunk_del(g->txn, &id);
		if (r < 0 && r != -ENOENT)
			return r;
		tick(g, TRIM_RANDOM);
		r = wrote(g);
		if (r < 0)
			return r;
	}
	return ferror(g->dead) ? -EIO : 0;
}

/* After the commit: nothing points into these packs any more. Their rows
 * go only once the packs are gone, in a second transaction, so that a
 * crash in between leaves rows that the next gc finds and finishes. */
static int remove_packs(struct gc *g)
{
	struct sfs_backend *b = sfs_store_backend(g->s);
	struct sfs_txn *t;
	int r;

	/* Hosts reading a store on RADOS have the published catalog: until
	 * it no longer points into these packs, they stay. */
	r = sfs_rados_catalog_published(g->s);
	if (r < 0) {
		sfs_log(SFS_LOG_WARN, "gc: the catalog could not be published (%s); no pack is "
				      "removed until it is (the next gc removes them)",
			strerror(-r));
		return 0;
	}
	if (g->rewound) {
		r = b->ops->truncate(b, g->rewound, SFS_PACK_HEADER_LEN);
		if (r < 0)
			sfs_log(SFS_LOG_WARN, "gc: cannot cut pack %016" PRIx64 ": %s (the next "
					      "writer's recovery does)",
				g->rewound, strerror(-r));
	}
	r = sfs_txn_begin(g->s, true, &t);
	if (r < 0)
		return r;
	for (uint64_t n = 1; n < g->n_packs; n++) {
		if (!g->packs[n].rewrite && !g->packs[n].remove)
			continue;
		r = b->ops->remove(b, n);
		if (r < 0 && r != -ENOENT) {
			sfs_log(SFS_LOG_WARN, "gc: cannot remove pack %016" PRIx64 ": %s (the next gc "
					      "retries)",
				n, strerror(-r));
			continue;
		}
		r = sfs_cat_pack_del(t, n);
		if (r < 0 && r != -ENOENT) {
			sfs_txn_abort(t);
			return r;
		}
	}
	return sfs_txn_commit(t);
}

static void estimate_dry_run(struct gc *g)
{
	uint64_t freed = 0;

	for (uint64_t n = 1; n < g->n_packs; n++) {
		struct pack_stat *p = &g->packs[n];

		if (p->remove)
			freed += p->disk;
		else if (p->rewrite)
			freed += p->disk > p->live ? p->disk - p->live : 0;
	}
	g->res->freed_bytes = freed;
	g->res->disk_after = g->res->disk_before > freed ? g->res->disk_before - freed : 0;
}

static int sweep(struct gc *g)
{
	int r = sfs_cat_chunk_foreach(g->txn, account_fn, g);

	if (r < 0)
		return r;
	choose_packs(g);
	if (g->o->dry_run) {
		estimate_dry_run(g);
		return 0;
	}
	r = sfs_liveset_rewind(g->live);
	if (r == 0)
		r = sfs_cat_chunk_foreach(g->txn, collect_moves, g);
	if (r == 0)
		r = drop_dead(g);
	if (r == 0)
		r = drop_missing_rows(g);
	if (r == 0)
		r = fresh_pack(g);
	if (r == 0 && g->n_moves)
		r = move_live(g);
	return r;
}

static void gc_release(struct gc *g)
{
	sfs_reader_free(g->reader);
	sfs_liveset_free(g->live);
	sfs_idset_release(&g->pages);
	free(g->packs);
	if (g->dead)
		fclose(g->dead);
	if (g->moves)
		fclose(g->moves);
	free(g->maps);
}

static int gc_run(struct sfs_store *s, const struct sfs_gc_opts *o, bool remove_only,
		  struct sfs_gc_result *ret)
{
	struct gc g = { .s = s, .o = o, .res = ret, .remove_only = remove_only,
			.now = o->now ? o->now : (int64_t)time(NULL) };
	uint64_t packs_now = 0, cat = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	sfs_idset_init(&g.pages);
	if (!g.o->dry_run && !s->writable)
		return -EROFS;
	r = sfs_reader_new(s, 16u << 20, &g.reader);
	if (r < 0)
		return r;
	r = sfs_liveset_new(0, &g.live);
	if (r < 0)
		goto out;
	g.dead = sfs_spool_new();
	g.moves = sfs_spool_new();
	if (!g.dead || !g.moves) {
		r = sfs_log_errno(errno ? -errno : -EIO, "gc: cannot create a temporary file");
		goto out;
	}
	if (g.o->dry_run) {
		r = sfs_txn_begin(s, false, &g.txn);
	} else {
		r = sfs_writer_begin(s, &g.w);
		if (r == 0)
			g.txn = sfs_writer_txn(g.w);
	}
	if (r < 0)
		goto out;
	/* Without a readable pack.active no pack is known to be committed
	 * whole, so 0 makes choose_packs free none. */
	if (sfs_cat_meta_get(g.txn, "pack.active", &g.active) < 0)
		g.active = 0;
	r = list_packs(&g);
	if (r == 0)
		r = mark(&g);
	if (r == 0)
		r = sweep(&g);
	if (g.o->dry_run) {
		sfs_txn_abort(g.txn);
		goto out;
	}
	if (r < 0) {
		sfs_writer_abort(g.w);
		goto out;
	}
	{
		uint64_t last = sfs_writer_pack(g.w);
		g.res->packs_written = last > g.active ? last - g.active : 0;
	}
	r = sfs_writer_commit(g.w); /* frees the session whatever happens */
	if (r < 0)
		goto out;
	r = remove_packs(&g);
	if (r < 0)
		goto out;
	if (sfs_store_disk_usage(s, &packs_now, &cat) == 0) {
		ret->disk_after = packs_now;
		ret->freed_bytes = ret->disk_before > packs_now ? ret->disk_before - packs_now : 0;
	}
out:
	gc_release(&g);
	return r;
}

int sfs_gc(struct sfs_store *s, const struct sfs_gc_opts *o, struct sfs_gc_result *ret)
{
	static const struct sfs_gc_opts defaults;
	struct sfs_gc_result first;
	int r;

	o = o ? o : &defaults;
	r = gc_run(s, o, false, ret);
	if (r == -ENOSPC && !o->dry_run && sfs_space_release(s)) {
		sfs_log(SFS_LOG_WARN, "gc: the disk is full; using the store's space reserve");
		r = gc_run(s, o, false, ret);
	}
	if (r != -ENOSPC || o->dry_run) {
		if (r == 0 && !o->dry_run)
			sfs_space_reserve(s);
		return r;
	}
	/* A full disk is what gc is for, and rewriting needs room: first
	 * drop the packs with nothing live in them (that writes only the
	 * catalog, whose space is reserved), then try the whole pass again
	 * in the room that made. */
	sfs_log(SFS_LOG_WARN, "gc: no space to rewrite packs; removing the packs with no live "
			      "data first");
	r = gc_run(s, o, true, ret);
	if (r < 0)
		return r;
	first = *ret;
	r = gc_run(s, o, false, ret);
	if (r == -ENOSPC) {
		sfs_log(SFS_LOG_WARN, "gc: still no space to rewrite packs; freed what needed none");
		*ret = first;
		return 0;
	}
	if (r == 0) {
		ret->packs_removed += first.packs_removed;
		ret->dead_chunks += first.dead_chunks;
		ret->dead_bytes += first.dead_bytes;
		ret->freed_bytes += first.freed_bytes;
		ret->disk_before = first.disk_before;
	}
	return r;
}
