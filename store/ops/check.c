// SPDX-License-Identifier: MIT
/*
 * check: verify a store from the catalog down to (optionally) every stored
 * byte, reporting each problem as one line that names the object. The walk
 * goes on past problems so that one run lists them all.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "snapfs/check.h"
#include "snapfs/policy.h"
#include "snapfs/chunkstore.h"
#include "snapfs/blockmap.h"
#include "snapfs/image.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "batchread_int.h"
#include "idset_int.h"
#include "liveset_int.h"
#include "store_int.h"
#include "util_int.h"
#include "volcreated_int.h"

/* As in gc: pages remembered to skip shared subtrees (a 16 MiB table);
 * past it a shared subtree is walked again. */
#define PAGE_SET_MAX (3u << 17)

/* Missing chunks whose first reference (snapshot, block) a second walk
 * names; past this many, only the id is named. */
#define MISSING_CONTEXT_MAX 65536u

struct ck {
	struct sfs_store *s;
	struct sfs_reader *r;
	struct sfs_check_result *res;
	sfs_problem_fn problem;
	void *ctx;
	struct sfs_idset pages;  /* map pages walked, up to PAGE_SET_MAX */
	struct sfs_idset missing; /* referenced, absent from the index: named in the context pass */
	struct sfs_idset named;   /* of those, named already */
	bool context_pass;        /* walking again to say where the missing are referenced */
	struct sfs_id next_blk;   /* the data chunk set's smallest member not yet merged */
	bool have_next_blk;
	struct sfs_liveset *live_pages;  /* map pages referenced */
	struct sfs_liveset *live_blocks; /* data chunks referenced */
	struct sfs_txn *txn;
	const char *snap;        /* snapshot being walked */
	bool active_known;       /* pack.active and pack.active_len were read */
	uint64_t active, active_len;
	struct ck_pack *packs;   /* index = pack number */
	size_t n_packs;
	uint64_t unplaced;       /* entries naming a pack that is not there */
	/* --read-data: the index's entries, read back in pack order (NULL
	 * when they could not be gathered: every entry is then read by id) */
	struct sfs_liveset *by_place;
	uint64_t ticks;          /* catalog entries touched, for trimming the map */
};

/* As gc does: drop the catalog's pages from RSS every so many entries. */
static void tick(struct ck *c)
{
	if (++c->ticks % SFS_CAT_TRIM_EVERY == 0)
		sfs_cat_map_trim(c->s);
}

__attribute__((format(printf, 2, 3))) static void report(struct ck *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->res->problems++;
	if (c->problem)
		c->problem(c->ctx, line);
}

/* What check knows of a pack the index points into. */
struct ck_pack {
	uint64_t size;      /* its length; 0: missing */
	uint64_t expect;    /* index entries that point into it */
	uint64_t confirmed; /* of those, verified where they point by the scan */
};

/* The pack's size, looked up on first use (0: missing), and its entry in
 * *ret (NULL without memory for it: its entries are then read one by
 * one, as those of a missing pack are). */
static uint64_t pack_size(struct ck *c, uint64_t number, struct ck_pack **ret)
{
	struct sfs_backend *b = sfs_store_backend(c->s);
	struct sfs_pack_info st;

	*ret = NULL;
	if (number < c->n_packs && c->packs[number].size) {
		*ret = &c->packs[number];
		return c->packs[number].size;
	}
	if (b->ops->stat(b, number, &st) < 0)
		return 0;
	if (number >= c->n_packs) {
		size_t n = number + 64;
		struct ck_pack *p = realloc(c->packs, n * sizeof(*p));
		if (!p)
			return st.length;
		memset(p + c->n_packs, 0, (n - c->n_packs) * sizeof(*p));
		c->packs = p;
		c->n_packs = n;
	}
	c->packs[number].size = st.length;
	*ret = &c->packs[number];
	return st.length;
}

/* An index entry as --read-data's scan meets it: pack and offset
 * big-endian first, so that the set of them (compared with memcmp)
 * gives them in the order the packs are read in. */
struct placed {
	uint8_t pack[8], offset[8];
	struct sfs_id id;
	uint32_t raw_len, stored_len;
	uint8_t type, comp, pad[6];
};

static void place(struct ck *c, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct placed e = { .id = *id, .raw_len = loc->raw_len, .stored_len = loc->stored_len,
			    .type = loc->type, .comp = loc->comp };
	uint64_t pack = htobe64(loc->pack), offset = htobe64(loc->offset);

	memcpy(e.pack, &pack, sizeof(pack));
	memcpy(e.offset, &offset, sizeof(offset));
	if (sfs_recset_add(c->by_place, &e) < 0) {
		/* A full temporary directory: read every entry by id instead. */
		sfs_liveset_free(c->by_place);
		c->by_place = NULL;
	}
}

static int check_chunk_entry(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct ck *c = ctx;
	char hex[SFS_ID_HEX_LEN + 1];
	struct ck_pack *pk;
	uint64_t size;

	tick(c);
	sfs_id_to_hex(id, hex);
	c->res->chunks++;
	if (!loc) {
		report(c, "chunk index: entry for %s is damaged", hex);
		return 0;
	}
	size = pack_size(c, loc->pack, &pk);
	if (pk)
		pk->expect++;
	else
		c->unplaced++;
	if (pk && c->by_place)
		place(c, id, loc);
	if (size == 0) {
		report(c, "chunk %s: pack %016" PRIx64 ".pack is missing", hex, loc->pack);
		return 0;
	}
	if (loc->offset + SFS_REC_HEADER_LEN + loc->stored_len > size)
		report(c, "chunk %s: record at offset %" PRIu64 " runs past the end of pack %016" PRIx64
			  ".pack (%" PRIu64 " bytes)",
		       hex, loc->offset, loc->pack, size);
	else if (c->active_known &&
		 (loc->pack > c->active ||
		  (loc->pack == c->active &&
		   loc->offset + SFS_REC_HEADER_LEN + loc->stored_len > c->active_len)))
		report(c, "chunk %s: record in pack %016" PRIx64 ".pack at offset %" PRIu64
			  " lies past the committed end the catalog records (pack.active %016" PRIx64
			  ", pack.active_len %" PRIu64 ")",
		       hex, loc->pack, loc->offset, c->active, c->active_len);
	return 0;
}

static int row_fn(void *ctx, const struct sfs_pack_rec *p)
{
	(void)p;
	*(bool *)ctx = true;
	return 1;
}

/* Whether the catalog has ever committed a pack: a row in the pack table
 * (a store from before the table has rows once a writer opened it). */
static bool any_pack_row(struct ck *c)
{
	bool found = false;

	sfs_cat_pack_foreach(c->txn, row_fn, &found);
	return found;
}

/* pack.active and pack.active_len say where the committed data ends; a
 * store that holds chunks or packs must have both, or recovery cannot
 * tell committed packs from leftovers (and so removes nothing). */
static int check_active(struct ck *c)
{
	uint64_t chunks = 0;
	int ra = sfs_cat_meta_get(c->txn, "pack.active", &c->active);
	int rl = sfs_cat_meta_get(c->txn, "pack.active_len", &c->active_len);
	int bad, r;

	if (ra == 0 && rl == 0) {
		c->active_known = true;
		return 0;
	}
	bad = ra < 0 ? ra : rl;
	if (bad != -ENOENT && bad != -EBADMSG)
		return bad; /* LMDB itself failed: reported by the caller */
	if (ra == -ENOENT && rl == -ENOENT) {
		r = sfs_cat_chunk_count(c->txn, &chunks);
		if (r < 0)
			return r;
		/* Nothing committed yet: a pack file here is what a first
		 * writer left when it was killed before its first commit. */
		if (chunks == 0 && !any_pack_row(c))
			return 0;
	}
	report(c, "catalog: meta key %s is %s, so the committed end of the packs is unknown "
		  "(no pack was removed or truncated)",
	       ra < 0 ? "pack.active" : "pack.active_len", bad == -ENOENT ? "missing" : "damaged");
	return 0;
}

/* The context pass: the first reference of each missing chunk. */
static int context_fn(struct ck *c, int level, uint64_t first_block, const struct sfs_id *id)
{
	char hex[SFS_ID_HEX_LEN + 1];

	if (level >= 0) {
		if (sfs_idset_has(&c->pages, id))
			return 1;
		if (c->pages.n < PAGE_SET_MAX && sfs_idset_add(&c->pages, id) < 0)
			return -ENOMEM;
		return 0;
	}
	if (!sfs_idset_has(&c->missing, id) || sfs_idset_has(&c->named, id))
		return 0;
	if (sfs_idset_add(&c->named, id) < 0)
		return -ENOMEM;
	sfs_id_to_hex(id, hex);
	report(c, "snapshot %s block %" PRIu64 ": chunk %s is missing from the store", c->snap,
	       first_block, hex);
	return 0;
}

static int walk_fn(void *ctx, int level, uint64_t first_block, const struct sfs_id *id)
{
	struct ck *c = ctx;

	tick(c);
	if (c->context_pass)
		return context_fn(c, level, first_block, id);
	if (level >= 0) {
		if (sfs_idset_has(&c->pages, id))
			return 1; /* shared with a snapshot already walked */
		if (c->pages.n < PAGE_SET_MAX && sfs_idset_add(&c->pages, id) < 0)
			return -ENOMEM;
		c->res->map_pages++;
		return sfs_liveset_add(c->live_pages, id);
	}
	/* Whether it is in the index is found by the merge in unref_fn, in
	 * the index's order: no lookup here, which would touch the whole
	 * catalog at random. */
	return sfs_liveset_add(c->live_blocks, id);
}

static void check_snapshot(struct ck *c, const struct sfs_snapshot *sn)
{
	struct sfs_snapmap m;
	int r;

	if (c->context_pass) {
		/* Only where the first walk went, and without its reports. */
		if (sn->state != SFS_SNAP_COMPLETED || sn->block_size != c->s->block_size ||
		    sn->depth != sfs_map_depth((sn->size + sn->block_size - 1) / sn->block_size))
			return;
		goto walk;
	}
	c->res->snapshots++;
	if (sn->state == SFS_SNAP_PENDING) {
		c->res->pending++;
		return;
	}
	if (sn->state != SFS_SNAP_COMPLETED)
		return;
	if (sn->block_size != c->s->block_size) {
		report(c, "snapshot %s: block size %u differs from the store's %u", sn->id,
		       sn->block_size, c->s->block_size);
		return;
	}
	if (sn->depth != sfs_map_depth((sn->size + sn->block_size - 1) / sn->block_size)) {
		report(c, "snapshot %s: map depth %u does not fit its size", sn->id, sn->depth);
		return;
	}
walk:
	sfs_snapmap_from_snapshot(sn, &m);
	c->snap = sn->id;
	r = sfs_reader_walk(c->r, &m, true, walk_fn, c);
	if (r < 0 && !c->context_pass)
		report(c, "snapshot %s: block map cannot be read: %s", sn->id,
		       r == -EBADMSG ? "a map page fails verification" : strerror(-r));
}

/* Snapshot records straight from LMDB, so that one damaged record is
 * reported and the walk goes on. */
static int check_snapshot_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct ck *c = ctx;
	struct sfs_snapshot sn;
	char key[64];
	size_t kl = k->mv_size < sizeof(key) - 1 ? k->mv_size : sizeof(key) - 1;

	memcpy(key, k->mv_data, kl);
	key[kl] = '\0';
	if (sfs_snapshot_decode(v->mv_data, v->mv_size, &sn) < 0) {
		if (c->context_pass)
			return 0;
		report(c, "catalog: snapshot record %s is damaged (snapfs snapshot delete %s removes it)",
		       key, key);
		return 0;
	}
	if (strcmp(sn.id, key)) {
		if (!c->context_pass)
			report(c, "catalog: snapshot record %s carries id %s", key, sn.id);
	}
	else
		check_snapshot(c, &sn);
	sfs_snapshot_release(&sn);
	return 0;
}

static int check_volume_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct ck *c = ctx;
	struct sfs_volume vol;

	c->res->volumes++;
	if (sfs_volume_decode(v->mv_data, v->mv_size, &vol) < 0) {
		report(c, "catalog: volume record %.*s is damaged",
		       (int)(k->mv_size > 128 ? 128 : k->mv_size), (const char *)k->mv_data);
		return 0;
	}
	sfs_volume_release(&vol);
	return 0;
}

static int check_snapshots(struct ck *c)
{
	return sfs_cat_foreach_raw(c->txn, SFS_DBI_SNAPSHOTS, check_snapshot_cb, c);
}

/* A problem of one of the indexes of snapshots, which check --repair puts
 * right. */
static void report_index(struct ck *c, const char *index, const char *id, const char *what)
{
	if (id)
		report(c, "catalog: index of snapshots by %s: snapshot %s %s "
			  "(snapfs check --repair mends the index)", index, id, what);
	else
		report(c, "catalog: index of snapshots by %s: %s "
			  "(snapfs check --repair mends the index)", index, what);
}

static void index_problem(void *ctx, const char *id, const char *what)
{
	report_index(ctx, "creation time", id, what);
}

static void volsnap_problem(void *ctx, const char *id, const char *what)
{
	report_index(ctx, "volume", id, what);
}

static int check_volumes(struct ck *c)
{
	return sfs_cat_foreach_raw(c->txn, SFS_DBI_VOLUMES, check_volume_cb, c);
}

/* Policy records: each one decodes and validates as `policy create`
 * would accept it; a damaged one is named (policy delete removes it). */
static int check_policy_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct ck *c = ctx;
	struct sfs_policy p;
	char err[256] = "";
	int r = sfs_policy_decode(v->mv_data, v->mv_size, &p);

	c->res->policies++;
	if (r == 0) {
		r = sfs_policy_validate(&p, err, sizeof(err));
		sfs_policy_release(&p);
	}
	if (r < 0)
		report(c, "catalog: policy record %.*s is damaged%s%s",
		       (int)(k->mv_size > 128 ? 128 : k->mv_size), (const char *)k->mv_data,
		       err[0] ? ": " : "", err);
	return 0;
}

static int check_policies(struct ck *c)
{
	return sfs_cat_foreach_raw(c->txn, SFS_DBI_POLICIES, check_policy_cb, c);
}

static void image_problem(void *ctx, const char *line)
{
	report(ctx, "%s", line);
}

/* Image records: each one decoded and held against the snapshots it maps
 * (store/image_check.c knows the rules). */
static int check_images(struct ck *c)
{
	int n = sfs_cat_image_verify(c->txn, image_problem, c);

	if (n < 0)
		return n;
	c->res->images = (uint64_t)n;
	return 0;
}

/*
 * --read-data reads every chunk the index names back and verifies it as
 * sfs_store_chunk_read does (the full re-hash included), on every CPU, in
 * two passes:
 *
 * - The scan reads each pack the index points into in order, in windows
 *   of SCAN_WINDOW bytes, beside the index's entries in the same order
 *   (by_place: gathered during the index pass, sorted in runs on a
 *   temporary file when they do not fit the set's buffer). A record
 *   whose entry names its pack, its offset and its header's type, comp
 *   and lengths is verified where it lies in the window, in batches of
 *   RD_BATCH on the batch reader's threads, and counts as confirmed for
 *   its pack. One read per window instead of one per chunk: the
 *   benchmark's store (54,960 chunks of 32 KiB) took 1.74-1.84 s instead
 *   of 2.58-2.63 s, at a third of the system time.
 * - A pack whose confirmed count falls short of the entries that point
 *   into it (damage, a record not where its entry says, a missing pack)
 *   is read again entry by entry: the index walk gathers that pack's
 *   entries RD_BATCH at a time, the batch reader reads them, and their
 *   problems are reported in id order, as one thread would report them.
 *   A sound store never takes this pass.
 *
 * Looking each record's id up in the index instead touched the catalog at
 * random: trimming its map as the walks do made each lookup fault again
 * (a million chunks: 18.9 s instead of 9.7), and not trimming it let the
 * resident set grow with the catalog (207-250 MiB there).
 *
 * The second pass reads in id order, not sorted by pack and offset: a
 * sorted batch touches every pack sparsely in order, which the local
 * backend takes for a walk and reads whole spans for (a 2 GiB volume's
 * check took 1.1-1.6x as long as unsorted).
 */
#define RD_BATCH 4096u
/* At least the largest record, header included, so that any record
 * that fits in its pack fits in one window. */
#define SCAN_WINDOW (8u << 20)
_Static_assert(SCAN_WINDOW >= SFS_REC_HEADER_LEN + SFS_STORED_MAX, "a record fits a window");

struct rd {
	struct ck *c;
	sfs_progress_fn progress;
	void *progress_ctx;
	uint64_t total;
	struct sfs_batchread *pool;
	struct sfs_batch_ent *ents; /* the batch, in id order */
	size_t n;
	uint64_t shown; /* the progress reported last */
};

/* Reports progress that never goes back: the second pass counts again
 * what the scan confirmed in the packs it reads again. */
static void rd_progress(struct rd *d, uint64_t done)
{
	if (done > d->shown)
		d->shown = done;
	if (d->progress)
		d->progress(d->progress_ctx, d->shown, d->total);
}

/* Reads the batch, then reports it in id order. */
static void rd_flush(struct rd *d)
{
	struct ck *c = d->c;

	if (!d->n)
		return;
	sfs_batchread_run(d->pool, d->ents, d->n);
	for (size_t i = 0; i < d->n; i++) {
		const struct sfs_batch_ent *e = &d->ents[i];
		char hex[SFS_ID_HEX_LEN + 1];

		c->res->chunks_read++;
		if (e->r < 0) {
			sfs_id_to_hex(&e->id, hex);
			report(c, "chunk %s in pack %016" PRIx64 ".pack at offset %" PRIu64 ": %s",
			       hex, e->loc.pack, e->loc.offset,
			       e->r == -EBADMSG ? "stored bytes fail verification"
						: strerror(-e->r));
		}
	}
	d->n = 0;
	rd_progress(d, c->res->chunks_read);
}

/* Whether the scan left some of the pack's entries unconfirmed. */
static bool pack_short(const struct ck *c, uint64_t number)
{
	return number >= c->n_packs || !c->packs[number].size ||
	       c->packs[number].confirmed != c->packs[number].expect;
}

static int read_fn(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct rd *d = ctx;

	tick(d->c);
	if (!loc || !pack_short(d->c, loc->pack))
		return 0; /* reported by the index pass, or confirmed by the scan */
	/* This very entry's location: a second lookup could only find the
	 * same. */
	d->ents[d->n] = (struct sfs_batch_ent){ .id = *id, .located = true, .loc = *loc };
	if (++d->n == RD_BATCH)
		rd_flush(d);
	return 0;
}

struct scan {
	struct rd *d;
	uint8_t *win[2];              /* windows, read in turn */
	struct sfs_batch_ent *ents[2]; /* batches, verified in turn */
	unsigned w, b;                /* the window being read, the batch being filled */
	size_t busy;                  /* entries of the batch the threads have (in ents[b ^ 1]) */
	uint64_t confirmed;
	struct placed cur;            /* the next entry in pack order, when have */
	bool have;
	int err;                      /* the set could not be read back */
};

/* Moves to the next entry in pack order. */
static void scan_next(struct scan *sc)
{
	int r = sfs_recset_next(sc->d->c->by_place, &sc->cur);

	sc->have = r == 1;
	if (r < 0)
		sc->err = r;
}

/* Compares the current entry's place with (pack, offset). */
static int scan_cmp(const struct scan *sc, uint64_t pack, uint64_t offset)
{
	uint64_t p, o;

	memcpy(&p, sc->cur.pack, sizeof(p));
	memcpy(&o, sc->cur.offset, sizeof(o));
	p = be64toh(p);
	o = be64toh(o);
	if (p != pack)
		return p < pack ? -1 : 1;
	return o == offset ? 0 : o < offset ? -1 : 1;
}

/* Waits for the batch the threads have and counts what it confirmed. */
static void scan_finish(struct scan *sc)
{
	struct ck *c = sc->d->c;
	const struct sfs_batch_ent *e = sc->ents[sc->b ^ 1];

	if (!sc->busy)
		return;
	sfs_batchread_finish(sc->d->pool);
	for (size_t i = 0; i < sc->busy; i++) {
		if (e[i].r == 0) {
			c->packs[e[i].loc.pack].confirmed++;
			sc->confirmed++;
		}
	}
	sc->busy = 0;
	rd_progress(sc->d, sc->confirmed);
}

/* Hands the n entries filled to the threads, once they are done with the
 * batch before. */
static void scan_start(struct scan *sc, size_t n)
{
	scan_finish(sc);
	if (!n)
		return;
	sfs_batchread_start(sc->d->pool, sc->ents[sc->b], n);
	sc->busy = n;
	sc->b ^= 1;
}

/*
 * Gathers the records of w[*pos, len), window of pack pk at off, that are
 * where their entries say, up to RD_BATCH, into the batch being filled;
 * *pos moves past each record looked at. Returns how many were gathered;
 * *ret_end is set when no record can be read past *pos (the window's
 * end; or the pack's: a header that does not decode, a record that runs
 * past the pack).
 */
static size_t scan_gather(struct scan *sc, uint64_t number, uint64_t off, const uint8_t *w,
			  size_t len, size_t *pos, bool *ret_end, bool *ret_stop)
{
	struct ck *c = sc->d->c;
	struct sfs_batch_ent *e = sc->ents[sc->b];
	size_t n = 0;

	*ret_end = *ret_stop = false;
	while (n < RD_BATCH) {
		struct sfs_rec_header h;
		size_t rec;
		int cmp = 1;

		if (*pos + SFS_REC_HEADER_LEN > len ||
		    sfs_rec_header_decode(w + *pos, SFS_REC_HEADER_LEN, &h) < 0) {
			*ret_end = true;
			*ret_stop = *pos + SFS_REC_HEADER_LEN <= len || off + len >= c->packs[number].size;
			break;
		}
		rec = SFS_REC_HEADER_LEN + (size_t)h.stored_len;
		if (*pos + rec > len) {
			*ret_end = true;
			/* Not even a whole window holds it: it runs past the pack. */
			*ret_stop = *pos == 0 || off + *pos + rec > c->packs[number].size;
			break;
		}
		/* Entries placed before this record name no record's start:
		 * they stay unconfirmed. */
		while (sc->have && (cmp = scan_cmp(sc, number, off + *pos)) < 0)
			scan_next(sc);
		if (sc->have && cmp == 0) {
			const struct placed *p = &sc->cur;
			struct sfs_chunk_loc loc = { .pack = number, .offset = off + *pos,
						     .stored_len = p->stored_len,
						     .raw_len = p->raw_len, .type = p->type,
						     .comp = p->comp };

			if (sfs_rec_header_is(&h, &loc, &p->id))
				e[n++] = (struct sfs_batch_ent){
					.id = p->id,
					.located = true,
					.loc = loc,
					.given = w + *pos + SFS_REC_HEADER_LEN,
				};
			scan_next(sc);
		}
		*pos += rec;
	}
	return n;
}

/* Scans pack number (see above). A window that cannot be read, or a
 * record that cannot be, ends the pack's scan: what it did not confirm
 * is the second pass's. */
static void scan_pack(struct scan *sc, uint64_t number)
{
	struct sfs_backend *b = sfs_store_backend(sc->d->c->s);
	uint64_t size = sc->d->c->packs[number].size;
	uint64_t off = SFS_PACK_HEADER_LEN;
	bool stop = false;

	while (!stop && off + SFS_REC_HEADER_LEN <= size) {
		size_t want = size - off < SCAN_WINDOW ? (size_t)(size - off) : SCAN_WINDOW;
		/* The threads may still have a batch of the other window, never
		 * of this one: each window that was read has its batches
		 * started, the one before them finished, before the next
		 * window is read into the other. A window that could not be
		 * read is not the other's turn. */
		uint8_t *w = sc->win[sc->w];
		struct iovec iov = { w, want };
		ssize_t got = b->ops->read(b, number, off, &iov, 1);
		size_t pos = 0;
		bool end = false;

		if (got <= 0)
			break;
		sc->w ^= 1;
		while (!end && !sc->err)
			scan_start(sc, scan_gather(sc, number, off, w, (size_t)got, &pos, &end, &stop));
		stop = stop || pos == 0 || sc->err;
		off += pos;
	}
}

/* The first pass: every pack some entry points into. What it cannot do
 * (no memory, the entries' set unreadable) it leaves unconfirmed, for the
 * second pass to read by id. */
static void scan_all(struct rd *d)
{
	struct ck *c = d->c;
	struct scan sc = { .d = d };

	sc.win[0] = sfs_buf_map(SCAN_WINDOW);
	sc.win[1] = sfs_buf_map(SCAN_WINDOW);
	sc.ents[0] = malloc(RD_BATCH * sizeof(*sc.ents[0]));
	sc.ents[1] = malloc(RD_BATCH * sizeof(*sc.ents[1]));
	if (c->by_place && sc.win[0] && sc.win[1] && sc.ents[0] && sc.ents[1] &&
	    sfs_liveset_seal(c->by_place) == 0) {
		scan_next(&sc);
		for (uint64_t p = 0; p < c->n_packs && !sc.err; p++)
			if (c->packs[p].expect)
				scan_pack(&sc, p);
		scan_finish(&sc);
		for (uint64_t p = 0; sc.err && p < c->n_packs; p++)
			c->packs[p].confirmed = 0;
	}
	/* What the second pass reads again is counted there. */
	for (uint64_t p = 0; p < c->n_packs; p++)
		if (!pack_short(c, p))
			c->res->chunks_scanned += c->packs[p].confirmed;
	c->res->chunks_read += c->res->chunks_scanned;
	sfs_buf_unmap(sc.win[0], SCAN_WINDOW);
	sfs_buf_unmap(sc.win[1], SCAN_WINDOW);
	free(sc.ents[0]);
	free(sc.ents[1]);
}

/* Reads every chunk the index names back: the scan, then, where it fell
 * short, the index walk. */
static int read_all(struct ck *c, sfs_progress_fn progress, void *progress_ctx)
{
	struct rd d = { .c = c, .progress = progress, .progress_ctx = progress_ctx,
			.total = c->res->chunks };
	bool again = c->unplaced > 0;
	int r = -ENOMEM;

	d.ents = malloc(RD_BATCH * sizeof(*d.ents));
	if (d.ents)
		r = sfs_batchread_new(c->s, &d.pool);
	if (r == 0)
		scan_all(&d);
	for (uint64_t p = 0; r == 0 && !again && p < c->n_packs; p++)
		again = c->packs[p].expect && pack_short(c, p);
	if (r == 0 && again)
		r = sfs_cat_chunk_foreach(c->txn, read_fn, &d);
	if (r == 0)
		rd_flush(&d);
	sfs_batchread_free(d.pool);
	free(d.ents);
	return r;
}

/* A data chunk a snapshot references that the index lacks (or has only a
 * damaged entry for): named with its first reference by the context pass,
 * or here when there are too many to remember. */
static int missing(struct ck *c, const struct sfs_id *id)
{
	char hex[SFS_ID_HEX_LEN + 1];

	if (c->missing.n < MISSING_CONTEXT_MAX)
		return sfs_idset_add(&c->missing, id) < 0 ? -ENOMEM : 0;
	sfs_id_to_hex(id, hex);
	report(c, "chunk %s is referenced by a snapshot but missing from the store", hex);
	return 0;
}

/* Merges the referenced data chunks up to id (all of them when id is
 * NULL): those below it are missing from the index; *ret_hit says whether
 * id itself is one (when present is false, it is missing too). */
static int merge_blocks(struct ck *c, const struct sfs_id *id, bool present, bool *ret_hit)
{
	int r;

	*ret_hit = false;
	while (c->have_next_blk) {
		int cmp = id ? memcmp(c->next_blk.b, id->b, SFS_ID_LEN) : -1;

		if (cmp > 0)
			break;
		if (cmp == 0)
			*ret_hit = true;
		if (cmp < 0 || !present) {
			r = missing(c, &c->next_blk);
			if (r < 0)
				return r;
		}
		r = sfs_liveset_next(c->live_blocks, &c->next_blk);
		if (r < 0)
			return r;
		c->have_next_blk = r == 1;
	}
	return 0;
}

static int unref_fn(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct ck *c = ctx;
	bool hit;
	int r;

	tick(c);
	/* The index walk is in id order, which is the order the sets answer
	 * in. An entry of either type satisfies a data reference, as a lookup
	 * would; a damaged one does not. */
	r = merge_blocks(c, id, loc != NULL, &hit);
	if (r < 0 || !loc)
		return r;
	if (loc->type == SFS_CHUNK_MAP) {
		r = sfs_liveset_has(c->live_pages, id);
		if (r < 0)
			return r;
		hit = r == 1;
	}
	if (hit)
		return 0;
	c->res->unreferenced++;
	c->res->unreferenced_bytes += SFS_REC_HEADER_LEN + loc->stored_len;
	return 0;
}

/* Every pack the pack table names is there, at least as long as what was
 * committed. (A pack gc has emptied may still have its row: gc drops
 * rows after removing the packs, and finishes an interrupted run.) */
static int check_pack_row(void *ctx, const struct sfs_pack_rec *p)
{
	struct ck *c = ctx;
	struct sfs_backend *b = sfs_store_backend(c->s);
	struct sfs_pack_info info;
	int r;

	if (!p) {
		report(c, "pack table: a row is damaged");
		return 0;
	}
	r = b->ops->stat(b, p->number, &info);
	if (r == -ENOENT)
		return 0; /* reported per chunk entry when anything points into it */
	if (r < 0)
		report(c, "pack %016" PRIx64 ".pack: %s", p->number, strerror(-r));
	else if (info.length < p->length)
		report(c,
		       "pack %016" PRIx64 ".pack is %" PRIu64 " bytes, the catalog committed %" PRIu64,
		       p->number, info.length, p->length);
	return 0;
}

/* The writer lock is the writers' to open (with O_NOFOLLOW, refusing
 * anything else); check, a reader, only says what it finds there. */
static void check_store_files(struct ck *c)
{
	struct stat st;

	if (fstatat(c->s->dirfd, "lock", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		report(c, "store: lock is %s, not a regular file; writers refuse the store until it "
			  "is removed",
		       S_ISLNK(st.st_mode) ? "a symlink" : "a special file");
}

int sfs_check(struct sfs_store *s, bool read_data, sfs_problem_fn problem, void *ctx,
	      sfs_progress_fn progress, void *progress_ctx, struct sfs_check_result *ret)
{
	struct ck c = { .s = s, .res = ret, .problem = problem, .ctx = ctx };
	int r;

	memset(ret, 0, sizeof(*ret));
	sfs_idset_init(&c.pages);
	sfs_idset_init(&c.missing);
	sfs_idset_init(&c.named);
	r = sfs_reader_new(s, 16u << 20, &c.r);
	if (r < 0)
		return r;
	r = sfs_liveset_new(0, &c.live_pages);
	if (r == 0)
		r = sfs_liveset_new(0, &c.live_blocks);
	if (r == 0 && read_data && sfs_recset_new(0, sizeof(struct placed), &c.by_place) < 0)
		c.by_place = NULL; /* every entry is read by id */
	if (r < 0)
		goto out;
	/* One read transaction for the whole walk: a consistent view, and
	 * check runs alone or beside readers only. */
	r = sfs_txn_begin(s, false, &c.txn);
	if (r < 0)
		goto out;
	check_store_files(&c);
	r = check_active(&c);
	if (r == 0)
		r = sfs_cat_chunk_foreach(c.txn, check_chunk_entry, &c);
	if (r == 0)
		r = sfs_cat_pack_foreach(c.txn, check_pack_row, &c);
	if (r == 0)
		r = check_volumes(&c);
	if (r == 0)
		r = check_snapshots(&c);
	if (r == 0)
		r = sfs_volcreated_verify(c.txn, index_problem, &c);
	if (r == 0)
		r = sfs_cat_index_verify(c.txn, &sfs_index_volsnap, volsnap_problem, &c);
	if (r == 0)
		r = check_images(&c);
	if (r == 0)
		r = check_policies(&c);
	if (r == 0) {
		/* The pages only sped the walk up. */
		sfs_idset_release(&c.pages);
		r = sfs_liveset_seal(c.live_pages);
	}
	if (r == 0)
		r = sfs_liveset_seal(c.live_blocks);
	if (r == 0) {
		r = sfs_liveset_next(c.live_blocks, &c.next_blk);
		c.have_next_blk = r == 1;
	}
	if (r >= 0)
		r = sfs_cat_chunk_foreach(c.txn, unref_fn, &c);
	if (r == 0) {
		bool hit;
		r = merge_blocks(&c, NULL, false, &hit); /* past the index's last id */
	}
	if (r == 0 && c.missing.n) {
		/* A damaged store: walk again to say where each is referenced. */
		sfs_idset_init(&c.pages);
		c.context_pass = true;
		r = check_snapshots(&c);
		for (size_t i = 0; r == 0 && i < c.missing.cap; i++) {
			char hex[SFS_ID_HEX_LEN + 1];

			if (sfs_id_is_zero(&c.missing.slots[i]) ||
			    sfs_idset_has(&c.named, &c.missing.slots[i]))
				continue;
			/* Its snapshot's map could not be walked again. */
			sfs_id_to_hex(&c.missing.slots[i], hex);
			report(&c, "chunk %s is referenced by a snapshot but missing from the store",
			       hex);
		}
	}
	if (r == 0 && read_data)
		r = read_all(&c, progress, progress_ctx);
	sfs_txn_abort(c.txn);
	if (r == -EUCLEAN || r == -EBADMSG) {
		report(&c, "catalog: LMDB reports damage (%s)", strerror(-r));
		ret->catalog_damaged = true;
		r = 0;
	}
out:
	free(c.packs);
	sfs_idset_release(&c.pages);
	sfs_idset_release(&c.missing);
	sfs_idset_release(&c.named);
	sfs_liveset_free(c.live_pages);
	sfs_liveset_free(c.live_blocks);
	sfs_liveset_free(c.by_place);
	sfs_reader_free(c.r);
	return r;
}

/* ---- the recorded result ---- */

int sfs_check_record(const char *path, const struct sfs_check_last *last)
{
	struct sfs_store *s;
	struct sfs_txn *t;
	int r = sfs_store_open(path, SFS_OPEN_WRITE | SFS_OPEN_RECORD, &s);

	if (r < 0)
		return r;
	r = sfs_txn_begin(s, true, &t);
	if (r < 0)
		goto out_close;
	if ((r = sfs_cat_meta_put(t, "check.time", (uint64_t)last->time)) < 0 ||
	    (r = sfs_cat_meta_put(t, "check.read_data", last->read_data)) < 0 ||
	    (r = sfs_cat_meta_put(t, "check.problems", last->problems)) < 0 ||
	    (r = sfs_cat_meta_put(t, "check.snapshots", last->snapshots)) < 0 ||
	    (r = sfs_cat_meta_put(t, "check.chunks_read", last->chunks_read)) < 0) {
		sfs_txn_abort(t);
		goto out_close;
	}
	r = sfs_txn_commit(t);
out_close:
	sfs_store_close(s);
	return r;
}

int sfs_check_last_get(struct sfs_txn *t, struct sfs_check_last *ret)
{
	uint64_t time, rd = 0;
	int r = sfs_cat_meta_get(t, "check.time", &time);

	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	/* Written together with check.time: a missing one reads as 0. */
	sfs_cat_meta_get(t, "check.read_data", &rd);
	sfs_cat_meta_get(t, "check.problems", &ret->problems);
	sfs_cat_meta_get(t, "check.snapshots", &ret->snapshots);
	sfs_cat_meta_get(t, "check.chunks_read", &ret->chunks_read);
	ret->time = (int64_t)time;
	ret->read_data = rd != 0;
	return 0;
}
