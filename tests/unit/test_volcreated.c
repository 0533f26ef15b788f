// SPDX-License-Identifier: MIT
/*
 * The index of completed snapshots by creation time (volcreated): latest
 * through it after a copy of an older snapshot, a delete of the newest, a
 * pending newer snapshot and a recycle bin restore; a store made before it
 * (read-only: scanned; writable: rebuilt) or changed by a binary that does
 * not keep it; the census of the catalog's copy checking its entries; and
 * check naming entries that disagree with the records, which the rebuild
 * of check --repair puts right; and the same check and mending of the
 * index of a volume's snapshots in seq order (volsnap).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "snapfs/bin.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"
#include "fixture.h"
#include "store_int.h"
#include "volcreated_int.h"

TestSuite(volcreated, .init = fx_setup, .fini = fx_teardown);

static struct sfs_snapshot snap(const char *volume, uint64_t seq, int64_t created, int state)
{
	struct sfs_snapshot sn = { 0 };

	cr_assert_eq(sfs_idstr_new("snap-", sn.id), 0);
	snprintf(sn.volume, sizeof(sn.volume), "%s", volume);
	sn.state = state;
	sn.seq = seq;
	sn.created = created;
	sn.size = 1 << 20;
	sn.block_size = 65536;
	sn.depth = 1;
	sn.root.b[0] = 0xab;
	return sn;
}

static void put_all(const struct sfs_snapshot *sn, size_t n)
{
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(sfs_cat_snapshot_put(t, &sn[i]), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

static void assert_latest(const char *volume, const char *want, const char *why)
{
	struct sfs_snapshot got;
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	if (!want) {
		cr_assert_eq(sfs_cat_snapshot_latest(t, volume, &got), -ENOENT, "%s", why);
	} else {
		cr_assert_eq(sfs_cat_snapshot_latest(t, volume, &got), 0, "%s", why);
		cr_assert_str_eq(got.id, want, "%s", why);
		sfs_snapshot_release(&got);
	}
	sfs_txn_abort(t);
}

/* The index's entries of the whole store, in key order, as ids. */
struct entries {
	char ids[16][SFS_IDSTR_SIZE];
	size_t n;
};

static int entries_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct entries *e = ctx;

	(void)k;
	cr_assert_lt(e->n, 16);
	cr_assert_lt(v->mv_size, (size_t)SFS_IDSTR_SIZE);
	memcpy(e->ids[e->n], v->mv_data, v->mv_size);
	e->ids[e->n++][v->mv_size] = '\0';
	return 0;
}

static struct entries index_entries(void)
{
	struct entries e = { 0 };
	struct sfs_txn *t;

	cr_assert(fx_store->has_volcreated);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_foreach_raw(t, SFS_DBI_VOLCREATED, entries_cb, &e), 0);
	sfs_txn_abort(t);
	return e;
}

static uint64_t meta(const char *key)
{
	struct sfs_txn *t;
	uint64_t v = UINT64_MAX;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_meta_get(t, key, &v), 0, "meta %s", key);
	sfs_txn_abort(t);
	return v;
}

/* A copy of an older snapshot arrives last (higher seq) but sorts by its
 * creation time; only completed snapshots have entries. */
Test(volcreated, copy_of_an_older_snapshot_is_not_latest)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 2000, SFS_SNAP_COMPLETED),
		snap("v", 2, 1000, SFS_SNAP_COMPLETED), /* the copy */
		snap("v", 3, 3000, SFS_SNAP_PENDING),
		snap("w", 4, 5000, SFS_SNAP_COMPLETED),
	};
	struct entries e;

	put_all(sn, 4);
	cr_assert_eq(meta("volcreated"), meta("generation"), "the writes kept it current");
	assert_latest("v", sn[0].id, "the copy of an older snapshot is not the latest");
	e = index_entries();
	cr_assert_eq(e.n, 3, "completed snapshots only");
	cr_assert_str_eq(e.ids[0], sn[1].id, "creation order within a volume");
	cr_assert_str_eq(e.ids[1], sn[0].id);
	cr_assert_str_eq(e.ids[2], sn[3].id);
}

/* Deleting the newest leaves the one before it; deleting every one, none. */
Test(volcreated, delete_of_the_newest)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_COMPLETED),
	};
	struct sfs_txn *t;

	put_all(sn, 2);
	assert_latest("v", sn[1].id, "before the delete");
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_del(t, sn[1].id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	assert_latest("v", sn[0].id, "after deleting the newest");
	cr_assert_eq(index_entries().n, 1, "the deleted snapshot's entry went with it");
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_del(t, sn[0].id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	assert_latest("v", NULL, "no snapshot left");
	cr_assert_eq(index_entries().n, 0);
}

/* A newer snapshot counts once it completes, and no longer once it is
 * marked failed; a record rewritten with another time moves its entry. */
Test(volcreated, pending_then_completed_then_error)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_PENDING),
	};

	put_all(sn, 2);
	assert_latest("v", sn[0].id, "a pending snapshot is not the latest");
	sn[1].state = SFS_SNAP_COMPLETED;
	put_all(&sn[1], 1);
	assert_latest("v", sn[1].id, "once completed, it is");
	sn[1].state = SFS_SNAP_ERROR;
	put_all(&sn[1], 1);
	assert_latest("v", sn[0].id, "a failed snapshot is not the latest");
	cr_assert_eq(index_entries().n, 1);
	sn[1].state = SFS_SNAP_COMPLETED;
	sn[1].created = 500;
	put_all(&sn[1], 1);
	assert_latest("v", sn[0].id, "a rewrite with an older time moves the entry");
	cr_assert_eq(index_entries().n, 2);
}

/* A snapshot restored from the recycle bin is the latest again. */
Test(volcreated, recycle_bin_restore)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_COMPLETED),
	};
	struct sfs_txn *t;
	char err[256];
	MDB_val v;

	put_all(sn, 2);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_get_raw(t, SFS_DBI_SNAPSHOTS, sn[1].id, strlen(sn[1].id), &v), 0);
	cr_assert_eq(sfs_bin_keep(t, SFS_BIN_SNAPSHOTS, sn[1].id, "v", v.mv_data, v.mv_size, 100,
				  100000),
		     0);
	cr_assert_eq(sfs_cat_snapshot_del(t, sn[1].id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	assert_latest("v", sn[0].id, "the newest is in the bin");
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_bin_restore(t, sn[1].id, 200, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sfs_txn_commit(t), 0);
	assert_latest("v", sn[1].id, "restored from the bin");
	cr_assert_eq(index_entries().n, 2);
}

/* Makes the store look as if it was made before the index: no database,
 * no meta key. */
static void drop_index(void)
{
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(mdb_drop(sfs_txn_mdb(t), fx_store->dbi[SFS_DBI_VOLCREATED], 1), 0);
	cr_assert_eq(sfs_cat_meta_del(t, "volcreated"), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

/* An older store: a read-only open scans and finds the same answer; the
 * first writable open builds the index and marks it current. */
Test(volcreated, store_made_before_the_index)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 2000, SFS_SNAP_COMPLETED),
		snap("v", 2, 1000, SFS_SNAP_COMPLETED),
		snap("v", 3, 3000, SFS_SNAP_ERROR),
		snap("w", 4, 500, SFS_SNAP_COMPLETED),
	};
	struct entries e;

	put_all(sn, 4);
	drop_index();
	fx_reopen(false);
	cr_assert_not(fx_store->has_volcreated, "a read-only open does not make the database");
	assert_latest("v", sn[0].id, "read-only, without the index");
	assert_latest("w", sn[3].id, "read-only, without the index");
	fx_reopen(true);
	cr_assert(fx_store->has_volcreated);
	cr_assert_eq(meta("volcreated"), meta("generation"), "built and current");
	e = index_entries();
	cr_assert_eq(e.n, 3);
	cr_assert_str_eq(e.ids[0], sn[1].id);
	cr_assert_str_eq(e.ids[1], sn[0].id);
	cr_assert_str_eq(e.ids[2], sn[3].id);
	assert_latest("v", sn[0].id, "through the rebuilt index");
	fx_reopen(false);
	assert_latest("v", sn[0].id, "read-only, through the index");
}

/* A binary that does not keep the index writes a newer snapshot and bumps
 * the generation only: the index is no longer trusted (a scan answers)
 * until a writable open rebuilds it. */
Test(volcreated, changed_by_a_binary_without_the_index)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_COMPLETED),
	};
	char key[SFS_NAME_MAX + 32];
	struct sfs_txn *t;
	char *rec;
	uint64_t gen;

	put_all(sn, 1);
	rec = sfs_snapshot_encode(&sn[1]);
	cr_assert_not_null(rec);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_SNAPSHOTS, sn[1].id, strlen(sn[1].id), rec,
				     strlen(rec)),
		     0);
	snprintf(key, sizeof(key), "v%c%016x", 0, 2);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLSNAP, key, 18, sn[1].id, strlen(sn[1].id)), 0);
	/* What that binary's bump leaves: generation moved, volcreated not. */
	cr_assert_eq(sfs_cat_generation(t, &gen), 0);
	cr_assert_eq(sfs_cat_meta_put(t, "volcreated", gen - 1), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	free(rec);
	assert_latest("v", sn[1].id, "a stale index is not trusted");
	fx_reopen(false);
	assert_latest("v", sn[1].id, "read-only: scanned");
	fx_reopen(true);
	cr_assert_eq(meta("volcreated"), meta("generation"));
	cr_assert_eq(index_entries().n, 2, "rebuilt with the other binary's snapshot");
	assert_latest("v", sn[1].id, "through the rebuilt index");
}

/* The census behind the catalog's copy counts the index and refuses an
 * entry that is not one. */
Test(volcreated, census_checks_the_index)
{
	struct sfs_snapshot sn[] = { snap("v", 1, 1000, SFS_SNAP_COMPLETED) };
	struct sfs_catalog_census c;
	struct sfs_txn *t;

	put_all(sn, 1);
	cr_assert_eq(sfs_catalog_census(fx_store->env, &c), 0);
	cr_assert(c.present & (1u << SFS_DBI_VOLCREATED));
	cr_assert_eq(c.entries[SFS_DBI_VOLCREATED], 1);
	cr_assert_eq(c.damaged, 0);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLCREATED, "v\0short", 7, sn[0].id,
				     strlen(sn[0].id)),
		     0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(sfs_catalog_census(fx_store->env, &c), 0);
	cr_assert_eq(c.damaged, 1, "a key without the creation time");
	cr_assert_eq(sfs_catalog_copy_save(fx_store), -EBADMSG, "no copy of a damaged catalog");
}

/* An entry its record disagrees with (here: the record is pending) is
 * passed over, never served. */
Test(volcreated, entry_its_record_disagrees_with_is_skipped)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_PENDING),
	};
	uint8_t key[2 + 20] = { 'v', 0 };
	uint64_t created = (uint64_t)2000 ^ (UINT64_C(1) << 63);
	struct sfs_txn *t;

	put_all(sn, 2);
	for (int i = 0; i < 8; i++)
		key[2 + i] = (uint8_t)(created >> (56 - 8 * i));
	key[2 + 12 + 7] = 2; /* seq */
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLCREATED, key, sizeof(key), sn[1].id,
				     strlen(sn[1].id)),
		     0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(index_entries().n, 2);
	assert_latest("v", sn[0].id, "the pending snapshot's stray entry is passed over");
}

/* The key of a completed snapshot with created_ns 0, as FORMAT.md says. */
static size_t index_key(const char *volume, int64_t created, uint64_t seq, uint8_t *key)
{
	size_t n = strlen(volume);
	uint64_t c = (uint64_t)created ^ (UINT64_C(1) << 63);

	memcpy(key, volume, n + 1);
	memset(key + n + 1, 0, 20);
	for (int i = 0; i < 8; i++) {
		key[n + 1 + i] = (uint8_t)(c >> (56 - 8 * i));
		key[n + 1 + 12 + i] = (uint8_t)(seq >> (56 - 8 * i));
	}
	return n + 1 + 20;
}

struct lines {
	char text[8][512];
	size_t n, index;
};

static void collect(void *ctx, const char *line)
{
	struct lines *l = ctx;

	if (!strstr(line, "index of snapshots by "))
		return; /* the fake roots' maps are reported too */
	cr_assert_lt(l->index, 8);
	snprintf(l->text[l->index++], sizeof(l->text[0]), "%s", line);
}

static struct lines check_lines(void)
{
	struct sfs_check_result res;
	struct lines l = { 0 };

	cr_assert_eq(sfs_check(fx_store, false, collect, &l, NULL, NULL, &res), 0);
	return l;
}

static bool said(const struct lines *l, const char *a, const char *b)
{
	for (size_t i = 0; i < l->index; i++)
		if (strstr(l->text[i], a) && (!b || strstr(l->text[i], b)))
			return true;
	return false;
}

/* check names a completed snapshot without its entry, an entry naming no
 * record and one under a key its record disagrees with; the rebuild of
 * check --repair leaves none of them. */
Test(volcreated, check_names_what_disagrees_and_the_rebuild_fixes_it)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_COMPLETED),
		snap("w", 3, 3000, SFS_SNAP_COMPLETED),
	};
	const char *ghost = "snap-0123456789abcdef0";
	uint8_t key[64];
	struct sfs_txn *t;
	struct lines l;
	size_t kl;

	put_all(sn, 3);
	l = check_lines();
	cr_assert_eq(l.index, 0, "a consistent index: %s", l.index ? l.text[0] : "");

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	kl = index_key("v", 2000, 2, key); /* sn[1] loses its entry */
	cr_assert_eq(sfs_cat_del_raw(t, SFS_DBI_VOLCREATED, key, kl), 0);
	kl = index_key("v", 5000, 9, key); /* an entry for no record */
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLCREATED, key, kl, ghost, strlen(ghost)), 0);
	kl = index_key("w", 9000, 3, key); /* sn[2] also under a wrong time */
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLCREATED, key, kl, sn[2].id, strlen(sn[2].id)),
		     0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	l = check_lines();
	cr_assert_eq(l.index, 3, "three problems, got %zu", l.index);
	cr_assert(said(&l, sn[1].id, "missing from it"), "%s", l.text[0]);
	cr_assert(said(&l, ghost, "has no record"));
	cr_assert(said(&l, sn[2].id, "disagrees"));
	cr_assert(said(&l, "check --repair", NULL));
	assert_latest("v", sn[0].id, "latest passes over the ghost and misses sn[1]");

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_volcreated_rebuild(t), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	l = check_lines();
	cr_assert_eq(l.index, 0, "after the rebuild: %s", l.index ? l.text[0] : "");
	assert_latest("v", sn[1].id, "the rebuilt index serves the newest again");
	cr_assert_eq(index_entries().n, 3);
}

/* A volsnap key: volume, NUL, 16 hex digits of seq (store/FORMAT.md). */
static size_t volsnap_key(const char *volume, uint64_t seq, char *key)
{
	size_t n = strlen(volume);

	memcpy(key, volume, n + 1);
	snprintf(key + n + 1, 17, "%016llx", (unsigned long long)seq);
	return n + 1 + 16;
}

/* check names a snapshot without its volsnap entry, an entry naming no
 * record and one under a key its record disagrees with (pending
 * snapshots are indexed too); the repair mends exactly those. */
Test(volcreated, volsnap_check_names_what_disagrees_and_repair_mends_it)
{
	struct sfs_snapshot sn[] = {
		snap("v", 1, 1000, SFS_SNAP_COMPLETED),
		snap("v", 2, 2000, SFS_SNAP_COMPLETED),
		snap("w", 3, 3000, SFS_SNAP_PENDING),
	};
	const char *ghost = "snap-0123456789abcdef0";
	char key[64];
	struct sfs_txn *t;
	struct lines l;
	uint64_t fixed = 0;
	size_t kl;

	put_all(sn, 3);
	l = check_lines();
	cr_assert_eq(l.index, 0, "a consistent index: %s", l.index ? l.text[0] : "");

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	kl = volsnap_key("v", 2, key); /* sn[1] loses its entry */
	cr_assert_eq(sfs_cat_del_raw(t, SFS_DBI_VOLSNAP, key, kl), 0);
	kl = volsnap_key("v", 9, key); /* an entry for no record */
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLSNAP, key, kl, ghost, strlen(ghost)), 0);
	kl = volsnap_key("w", 7, key); /* sn[2] also under a wrong seq */
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_VOLSNAP, key, kl, sn[2].id, strlen(sn[2].id)), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	l = check_lines();
	cr_assert_eq(l.index, 3, "three problems, got %zu", l.index);
	cr_assert(said(&l, "index of snapshots by volume", sn[1].id));
	cr_assert(said(&l, sn[1].id, "missing from it"), "%s", l.text[0]);
	cr_assert(said(&l, ghost, "has no record"));
	cr_assert(said(&l, sn[2].id, "disagrees"));
	cr_assert(said(&l, "check --repair", NULL));

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_index_mend(t, &sfs_index_volsnap, &fixed), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(fixed, 3, "two entries deleted, one added: %llu", (unsigned long long)fixed);
	l = check_lines();
	cr_assert_eq(l.index, 0, "after the repair: %s", l.index ? l.text[0] : "");
	/* The mended entries are the records' own. */
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	for (int i = 0; i < 3; i++) {
		MDB_val v;

		kl = volsnap_key(sn[i].volume, sn[i].seq, key);
		cr_assert_eq(sfs_cat_get_raw(t, SFS_DBI_VOLSNAP, key, kl, &v), 0, "%d", i);
		cr_assert_eq(v.mv_size, strlen(sn[i].id));
		cr_assert_eq(memcmp(v.mv_data, sn[i].id, v.mv_size), 0);
	}
	sfs_txn_abort(t);
}
