// SPDX-License-Identifier: MIT
/*
 * The index of completed snapshots by creation time (database
 * `volcreated`): volume, NUL, then creation time and seq as fixed-width
 * big-endian numbers, so that LMDB's byte order is sfs_snap_created_cmp's
 * order and a volume's newest completed snapshot is the last key of its
 * prefix: one cursor step instead of decoding every record of the volume
 * (the volsnap index is in arrival order, and a copy of an older snapshot
 * arrives late). sfs_cat_snapshot_put and _del keep it, in the same
 * transaction as the record. It is trusted only while the meta key
 * `volcreated` equals `generation` (every bump by this code moves both):
 * a store made before it, or changed by a binary that does not keep it,
 * is scanned instead until a writable open rebuilds it. Layout:
 * store/FORMAT.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "snapfs/catalog.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "volcreated_int.h"

#define META_KEY "volcreated"
#define TIME_LEN 20 /* created (8), created_ns (4), seq (8) */
_Static_assert(SFS_NAME_MAX + 1 + TIME_LEN <= SFS_INDEX_KEY_MAX, "a key fits the index walk's");

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The key of a completed snapshot; created is offset by 2^63 so that a
 * negative time sorts before a positive one. */
static size_t key_encode(const char *volume, int64_t created, uint32_t ns, uint64_t seq,
			 uint8_t buf[SFS_NAME_MAX + 1 + TIME_LEN])
{
	size_t n = strlen(volume);

	memcpy(buf, volume, n);
	buf[n] = '\0';
	put_be(buf + n + 1, (uint64_t)created ^ (UINT64_C(1) << 63), 8);
	put_be(buf + n + 9, ns, 4);
	put_be(buf + n + 13, seq, 8);
	return n + 1 + TIME_LEN;
}

bool sfs_volcreated_key_ok(const MDB_val *k)
{
	const uint8_t *p = k->mv_data;

	return k->mv_size > TIME_LEN && k->mv_size <= SFS_NAME_MAX + 1 + TIME_LEN &&
	       p[k->mv_size - TIME_LEN - 1] == '\0' &&
	       memchr(p, '\0', k->mv_size - TIME_LEN - 1) == NULL &&
	       get_be(p + k->mv_size - 12, 4) < 1000000000u;
}

/* Whether the index is complete and current in this transaction. */
static int current(struct sfs_txn *t)
{
	uint64_t at, gen;
	int r;

	if (!sfs_txn_store(t)->has_volcreated)
		return 0;
	r = sfs_cat_meta_get(t, META_KEY, &at);
	if (r == -ENOENT || r == -EBADMSG)
		return 0;
	if (r == 0)
		r = sfs_cat_generation(t, &gen);
	return r < 0 ? r : at == gen;
}

int sfs_volcreated_bumped(struct sfs_txn *t, uint64_t from, uint64_t to)
{
	uint64_t at;

	if (!sfs_txn_store(t)->has_volcreated || sfs_cat_meta_get(t, META_KEY, &at) < 0 ||
	    at != from)
		return 0;
	return sfs_cat_meta_put(t, META_KEY, to);
}

static int entry_put(struct sfs_txn *t, const struct sfs_snapshot *sn)
{
	uint8_t k[SFS_NAME_MAX + 1 + TIME_LEN];
	size_t kl = key_encode(sn->volume, sn->created, sn->created_ns, sn->seq, k);

	return sfs_cat_put_raw(t, SFS_DBI_VOLCREATED, k, kl, sn->id, strlen(sn->id));
}

static int entry_del(struct sfs_txn *t, const struct sfs_snapshot *sn)
{
	uint8_t k[SFS_NAME_MAX + 1 + TIME_LEN];
	size_t kl = key_encode(sn->volume, sn->created, sn->created_ns, sn->seq, k);
	int r = sfs_cat_del_raw(t, SFS_DBI_VOLCREATED, k, kl);

	return r == -ENOENT ? 0 : r;
}

int sfs_volcreated_update(struct sfs_txn *t, const struct sfs_snapshot *old, bool old_damaged,
			  const char *id, const struct sfs_snapshot *sn)
{
	int r = 0;

	if (!sfs_txn_store(t)->has_volcreated)
		return 0;
	if (old && old->state == SFS_SNAP_COMPLETED)
		r = entry_del(t, old);
	else if (old_damaged)
		r = sfs_cat_index_del_id(t, SFS_DBI_VOLCREATED, id);
	if (r == 0 && sn && sn->state == SFS_SNAP_COMPLETED)
		r = entry_put(t, sn);
	return r;
}

struct latest {
	struct sfs_txn *t;
	const char *volume;
	char id[SFS_IDSTR_SIZE];
	bool found;
};

static int latest_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct latest *l = ctx;
	const uint8_t *tp = (const uint8_t *)k->mv_data + k->mv_size - TIME_LEN;
	char id[SFS_IDSTR_SIZE];
	struct sfs_snapshot sn;
	int r;

	if (!sfs_volcreated_key_ok(k) || !sfs_cat_idstr(v, id)) {
		sfs_log(SFS_LOG_WARN, "catalog: a volcreated entry of volume %s is damaged; "
				      "skipped (run check)",
			l->volume);
		return 0;
	}
	r = sfs_cat_snapshot_brief(l->t, id, &sn);
	if (r != 0)
		return r > 0 ? 0 : r;
	/* Only a record that says what its key says: an entry the record
	 * disagrees with is passed over, never served. */
	if (sn.state != SFS_SNAP_COMPLETED || strcmp(sn.volume, l->volume) != 0 ||
	    (uint64_t)sn.created != (get_be(tp, 8) ^ (UINT64_C(1) << 63)) ||
	    sn.created_ns != get_be(tp + 8, 4) || sn.seq != get_be(tp + 12, 8)) {
		sfs_log(SFS_LOG_WARN, "catalog: the volcreated entry of snapshot %s does not "
				      "match its record; skipped (run check)",
			id);
		return 0;
	}
	memcpy(l->id, id, sizeof(l->id));
	l->found = true;
	return 1;
}

int sfs_volcreated_latest(struct sfs_txn *t, const char *volume, char ret_id[SFS_IDSTR_SIZE])
{
	struct latest l = { .t = t, .volume = volume };
	char prefix[SFS_NAME_MAX + 2];
	size_t pl = strlen(volume) + 1;
	int r = current(t);

	if (r <= 0)
		return r < 0 ? r : -EOPNOTSUPP;
	if (pl > sizeof(prefix))
		return -EINVAL;
	memcpy(prefix, volume, pl);
	r = sfs_cat_foreach_prefix(t, SFS_DBI_VOLCREATED, prefix, pl, SFS_CAT_REVERSE, latest_cb,
				   &l);
	if (r < 0)
		return r;
	if (!l.found)
		return -ENOENT;
	memcpy(ret_id, l.id, SFS_IDSTR_SIZE);
	return 0;
}

struct build {
	struct sfs_txn *t;
	uint64_t n;
};

static int build_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct build *b = ctx;
	struct sfs_snapshot sn;
	int r = sfs_snapshot_decode_brief(v->mv_data, v->mv_size, &sn);

	(void)k;
	/* A damaged record has no entry; check reports it, and its delete
	 * or rewrite finds no entry to remove. */
	if (r == -EBADMSG || (r == 0 && sn.state != SFS_SNAP_COMPLETED))
		return 0;
	if (r == 0)
		r = entry_put(b->t, &sn);
	if (r == 0)
		b->n++;
	return r;
}

int sfs_volcreated_build(struct sfs_txn *t)
{
	struct sfs_store *s = sfs_txn_store(t);
	struct build b = { .t = t };
	uint64_t gen;
	int r = current(t);

	if (r != 0 || !s->has_volcreated)
		return r < 0 ? r : 0;
	r = sfs_mdb_err(mdb_drop(sfs_txn_mdb(t), s->dbi[SFS_DBI_VOLCREATED], 0));
	if (r == 0)
		r = sfs_cat_foreach_raw(t, SFS_DBI_SNAPSHOTS, build_cb, &b);
	if (r == 0)
		r = sfs_cat_generation(t, &gen);
	if (r == 0)
		r = sfs_cat_meta_put(t, META_KEY, gen);
	if (r == 0 && b.n)
		sfs_log(SFS_LOG_INFO, "%s: indexed %" PRIu64 " completed snapshots by creation time",
			s->path, b.n);
	return r;
}

int sfs_volcreated_rebuild(struct sfs_txn *t)
{
	int r;

	if (!sfs_txn_store(t)->has_volcreated)
		return 0;
	r = sfs_cat_meta_del(t, META_KEY);
	if (r < 0 && r != -ENOENT)
		return r;
	return sfs_volcreated_build(t);
}

/* A snapshot's key in the index: completed snapshots only. */
static size_t index_key_of(const struct sfs_snapshot *sn, uint8_t key[SFS_INDEX_KEY_MAX])
{
	if (sn->state != SFS_SNAP_COMPLETED)
		return 0;
	return key_encode(sn->volume, sn->created, sn->created_ns, sn->seq, key);
}

static const struct sfs_index_kind volcreated_kind = { SFS_DBI_VOLCREATED, index_key_of };

int sfs_volcreated_verify(struct sfs_txn *t, sfs_index_problem_fn fn, void *ctx)
{
	int r = current(t);

	/* An index that is not current is not used: nothing in it matters. */
	if (r <= 0)
		return r;
	return sfs_cat_index_verify(t, &volcreated_kind, fn, ctx);
}
