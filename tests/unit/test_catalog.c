// SPDX-License-Identifier: MIT
/*
 * The catalog: location codec bounds, volume and snapshot records (round
 * trips and rejection of damaged values), per-volume ordering, latest,
 * pending discard, and store open errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "snapfs/bin.h"
#include "snapfs/catalog.h"
#include "snapfs/catalog_scan.h"
#include "fixture.h"
#include "store_int.h"

static struct sfs_chunk_loc good_loc(void)
{
	return (struct sfs_chunk_loc){ .pack = 7, .offset = 4096, .stored_len = 1000,
				       .raw_len = 65536, .type = SFS_CHUNK_DATA,
				       .comp = SFS_COMP_ZSTD };
}

static int loc_rt(const struct sfs_chunk_loc *l)
{
	uint8_t b[SFS_LOC_VALUE_LEN];
	struct sfs_chunk_loc d;

	sfs_loc_encode(l, b);
	return sfs_loc_decode(b, sizeof(b), &d);
}

Test(catalog, loc_round_trip)
{
	struct sfs_chunk_loc l = good_loc(), d;
	uint8_t b[SFS_LOC_VALUE_LEN];

	sfs_loc_encode(&l, b);
	cr_assert_eq(sfs_loc_decode(b, sizeof(b), &d), 0);
	cr_assert_eq(d.pack, l.pack);
	cr_assert_eq(d.offset, l.offset);
	cr_assert_eq(d.stored_len, l.stored_len);
	cr_assert_eq(d.raw_len, l.raw_len);
	cr_assert_eq(d.type, l.type);
	cr_assert_eq(d.comp, l.comp);
}

Test(catalog, loc_bounds)
{
	struct sfs_chunk_loc l = good_loc(), x;
	uint8_t b[SFS_LOC_VALUE_LEN + 1] = { 0 };
	struct sfs_chunk_loc d;

	x = l; x.pack = 0;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "pack 0");
	x = l; x.pack = (1ull << 30) + 1;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "pack huge");
	x = l; x.offset = SFS_PACK_HEADER_LEN - 1;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "offset inside pack header");
	x = l; x.offset = UINT64_MAX;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "offset huge");
	x = l; x.raw_len = 0;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "raw_len 0");
	x = l; x.raw_len = SFS_BLOCK_MAX + 1;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "raw_len too large");
	x = l; x.stored_len = 0;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "stored_len 0");
	x = l; x.stored_len = x.raw_len + 1;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "stored_len > raw_len");
	x = l; x.type = 9;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "type");
	x = l; x.comp = 9;
	cr_assert_eq(loc_rt(&x), -EBADMSG, "comp");

	sfs_loc_encode(&l, b);
	cr_assert_eq(sfs_loc_decode(b, SFS_LOC_VALUE_LEN - 1, &d), -EBADMSG, "short");
	cr_assert_eq(sfs_loc_decode(b, SFS_LOC_VALUE_LEN + 1, &d), -EBADMSG, "long");
	b[0] = 2;
	cr_assert_eq(sfs_loc_decode(b, SFS_LOC_VALUE_LEN, &d), -EBADMSG, "version");
	b[0] = 1;
	b[3] = 1;
	cr_assert_eq(sfs_loc_decode(b, SFS_LOC_VALUE_LEN, &d), -EBADMSG, "reserved byte 3");
	b[3] = 0;
	b[30] = 1;
	cr_assert_eq(sfs_loc_decode(b, SFS_LOC_VALUE_LEN, &d), -EBADMSG, "reserved tail");
}

Test(catalog, names_and_ids)
{
	char id[SFS_IDSTR_SIZE], id2[SFS_IDSTR_SIZE];
	char longname[SFS_NAME_MAX + 2];

	cr_assert(sfs_name_valid("vol1"));
	cr_assert(sfs_name_valid("a.b_c-d"));
	cr_assert_not(sfs_name_valid(""));
	cr_assert_not(sfs_name_valid(".hidden"));
	cr_assert_not(sfs_name_valid("-opt"));
	cr_assert_not(sfs_name_valid("a/b"));
	cr_assert_not(sfs_name_valid("a b"));
	memset(longname, 'a', SFS_NAME_MAX);
	longname[SFS_NAME_MAX] = '\0';
	cr_assert(sfs_name_valid(longname));
	longname[SFS_NAME_MAX] = 'a';
	longname[SFS_NAME_MAX + 1] = '\0';
	cr_assert_not(sfs_name_valid(longname));

	cr_assert_eq(sfs_idstr_new("snap-", id), 0);
	cr_assert_eq(strlen(id), SFS_IDSTR_LEN);
	cr_assert(sfs_idstr_valid(id, "snap-"));
	cr_assert_not(sfs_idstr_valid(id, "vol-"));
	cr_assert_eq(sfs_idstr_new("snap-", id2), 0);
	cr_assert_str_neq(id, id2);
	cr_assert(sfs_idstr_valid("vol-01234567", "vol-"));
	cr_assert_not(sfs_idstr_valid("vol-0123456", "vol-"), "7 digits");
	cr_assert_not(sfs_idstr_valid("vol-0123456789abcdef01", "vol-"), "18 digits");
	cr_assert_not(sfs_idstr_valid("vol-0123456A", "vol-"), "upper case");
	cr_assert_not(sfs_idstr_valid("vol-0123456g", "vol-"));
	cr_assert_eq(sfs_idstr_new("toolongprefix-", id), -EINVAL);
}

static struct sfs_snapshot make_snap(const char *volume, uint64_t seq, int state)
{
	struct sfs_snapshot sn = { 0 };

	cr_assert_eq(sfs_idstr_new("snap-", sn.id), 0);
	snprintf(sn.volume, sizeof(sn.volume), "%s", volume);
	sn.state = state;
	sn.seq = seq;
	sn.created = 1700000000 + (int64_t)seq;
	sn.size = 1 << 20;
	sn.block_size = 65536;
	sn.depth = 1;
	sn.root.b[0] = 0xab;
	sn.data_bytes = 65536;
	sn.new_bytes = 1234;
	sn.new_chunks = 2;
	return sn;
}

/* A first snapshot has no parent. Its record must survive a round trip. */
Test(catalog, snapshot_without_parent_round_trips)
{
	struct sfs_snapshot sn = make_snap("vol", 1, SFS_SNAP_COMPLETED), d;
	char *s = sfs_snapshot_encode(&sn);

	cr_assert_not_null(s);
	cr_assert_eq(sfs_snapshot_decode(s, strlen(s), &d), 0, "record: %s", s);
	cr_assert_str_eq(d.parent, "");
	sfs_snapshot_release(&d);
	free(s);
}

Test(catalog, snapshot_round_trip)
{
	struct sfs_snapshot sn = make_snap("vol", 5, SFS_SNAP_COMPLETED), d;
	char *s;

	sn.created_ns = 123456789;

	cr_assert_eq(sfs_idstr_new("snap-", sn.parent), 0);
	sn.description = strdup("nightly \"quoted\" \xc3\xa9");
	sn.copied_from = strdup("snap-0123456789abcdef0");
	sn.tags = json_pack("{s:s, s:s}", "env", "prod", "team", "db");
	s = sfs_snapshot_encode(&sn);
	cr_assert_not_null(s);
	cr_assert_eq(sfs_snapshot_decode(s, strlen(s), &d), 0, "record: %s", s);
	cr_assert_str_eq(d.id, sn.id);
	cr_assert_str_eq(d.volume, sn.volume);
	cr_assert_str_eq(d.parent, sn.parent);
	cr_assert_eq(d.state, sn.state);
	cr_assert_eq(d.seq, sn.seq);
	cr_assert_eq(d.created, sn.created);
	cr_assert_eq(d.created_ns, sn.created_ns);
	cr_assert_eq(d.size, sn.size);
	cr_assert_eq(d.block_size, sn.block_size);
	cr_assert_arr_eq(d.root.b, sn.root.b, SFS_ID_LEN);
	cr_assert_eq(d.depth, sn.depth);
	cr_assert_eq(d.data_bytes, sn.data_bytes);
	cr_assert_eq(d.new_bytes, sn.new_bytes);
	cr_assert_eq(d.new_chunks, sn.new_chunks);
	cr_assert_str_eq(d.description, sn.description);
	cr_assert_str_eq(d.copied_from, sn.copied_from);
	cr_assert(json_equal(d.tags, sn.tags));
	cr_assert_str_eq(sfs_snap_state_name(SFS_SNAP_PENDING), "pending");
	cr_assert_str_eq(sfs_snap_state_name(SFS_SNAP_ERROR), "error");
	cr_assert_str_eq(sfs_snap_state_name(99), "unknown");
	sfs_snapshot_release(&d);
	sfs_snapshot_release(&sn);
	sfs_snapshot_release(NULL);
	free(s);
}

static int snap_dec(const char *json)
{
	struct sfs_snapshot d;
	int r = sfs_snapshot_decode(json, strlen(json), &d);

	if (r == 0)
		sfs_snapshot_release(&d);
	return r;
}

#define ROOT "\"root\":\"ab00000000000000000000000000000000000000000000000000000000000000\""
#define SNAP_OK                                                                               \
	"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\"," \
	"\"seq\":1,\"created\":1,\"size\":1048576,\"block_size\":65536,\"depth\":1," ROOT    \
	",\"data_bytes\":65536}"

Test(catalog, snapshot_decode_rejects)
{
	cr_assert_eq(snap_dec(SNAP_OK), 0, "a record without created_ns (older snapfs) decodes");
	{
		struct sfs_snapshot d;
		const char *ns = "{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\","
				 "\"state\":\"completed\",\"seq\":1,\"created\":1,\"created_ns\":"
				 "999999999,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}";
		cr_assert_eq(sfs_snapshot_decode(SNAP_OK, strlen(SNAP_OK), &d), 0);
		cr_assert_eq(d.created_ns, 0u);
		sfs_snapshot_release(&d);
		cr_assert_eq(sfs_snapshot_decode(ns, strlen(ns), &d), 0);
		cr_assert_eq(d.created_ns, 999999999u);
		sfs_snapshot_release(&d);
	}
	cr_assert_eq(snap_dec(""), -EBADMSG);
	cr_assert_eq(snap_dec("[]"), -EBADMSG);
	cr_assert_eq(snap_dec("{\"v\":1}"), -EBADMSG);
	cr_assert_eq(snap_dec("{\"v\":2,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\","
			      "\"seq\":1,\"created\":1,\"size\":1048576,\"block_size\":65536,\"depth\":1," ROOT "}"),
		     -EBADMSG, "record version 2");
	const char *bad[] = {
		/* bad id */
		"{\"v\":1,\"id\":\"vol-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* bad state */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"done\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* block size not a power of two */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65535,\"depth\":1," ROOT "}",
		/* block size too small */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":2048,\"depth\":1," ROOT "}",
		/* depth too large */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":7," ROOT "}",
		/* root not hex */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1,\"root\":\"xyz\"}",
		/* negative size */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":-1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* data_bytes > size */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":10,\"block_size\":65536,\"depth\":1," ROOT ",\"data_bytes\":11}",
		/* seq is a string */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":\"1\",\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* bad volume name */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"../x\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* tag value not a string */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT ",\"tags\":{\"a\":1}}",
		/* duplicate key */
		"{\"v\":1,\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* parent that is not a snapshot id */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"parent\":\"bogus\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* nanoseconds that are a second or more */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"created_ns\":1000000000,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
		/* an id longer than the buffer */
		"{\"v\":1,\"id\":\"snap-0123456789abcdef0123456789\",\"volume\":\"vol\",\"state\":\"completed\",\"seq\":1,\"created\":1,\"size\":1,\"block_size\":65536,\"depth\":1," ROOT "}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(snap_dec(bad[i]), -EBADMSG, "record %zu: %s", i, bad[i]);
	/* Truncations of a good record never decode. */
	{
		const char *ok = SNAP_OK;
		struct sfs_snapshot d;
		for (size_t n = 0; n < strlen(ok); n++)
			cr_assert_eq(sfs_snapshot_decode(ok, n, &d), -EBADMSG, "prefix %zu", n);
	}
}

Test(catalog, volume_round_trip_and_rejects)
{
	struct sfs_volume v = { 0 }, d;
	char *s;

	strcpy(v.name, "db-01");
	strcpy(v.id, "vol-0123456789abcdef0");
	v.created = 1700000000;
	v.size = 1ull << 40;
	v.source = strdup("/dev/sdb");
	v.tags = json_pack("{s:s}", "k", "v");
	s = sfs_volume_encode(&v);
	cr_assert_eq(sfs_volume_decode(s, strlen(s), &d), 0);
	cr_assert_str_eq(d.name, v.name);
	cr_assert_str_eq(d.id, v.id);
	cr_assert_eq(d.created, v.created);
	cr_assert_eq(d.size, v.size);
	cr_assert_str_eq(d.source, v.source);
	cr_assert(json_equal(d.tags, v.tags));
	sfs_volume_release(&d);
	free(s);
	free(v.source);
	v.source = NULL;
	s = sfs_volume_encode(&v);
	cr_assert_eq(sfs_volume_decode(s, strlen(s), &d), 0, "no source: %s", s);
	cr_assert_null(d.source);
	sfs_volume_release(&d);
	free(s);
	sfs_volume_release(&v);
	sfs_volume_release(NULL);

	const char *bad[] = {
		"{\"v\":1,\"name\":\"a\",\"id\":\"snap-0123456789abcdef0\",\"created\":1,\"size\":1}",
		"{\"v\":1,\"name\":\"\",\"id\":\"vol-0123456789abcdef0\",\"created\":1,\"size\":1}",
		"{\"v\":1,\"name\":\"a\",\"id\":\"vol-0123456789abcdef0\",\"created\":1}",
		"{\"v\":1,\"name\":\"a\",\"id\":\"vol-0123456789abcdef0\",\"created\":1,\"size\":1,\"source\":5}",
		"{\"v\":1,\"name\":\"a\",\"id\":\"vol-0123456789abcdef0\",\"created\":1,\"size\":1,\"tags\":[]}",
		"{\"name\":\"a\",\"id\":\"vol-0123456789abcdef0\",\"created\":1,\"size\":1}",
		"not json",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(sfs_volume_decode(bad[i], strlen(bad[i]), &d), -EBADMSG, "%s", bad[i]);
}

/* ---- with a store ---- */

TestSuite(catalog_store, .init = fx_setup, .fini = fx_teardown);

Test(catalog_store, chunk_index_put_get_del)
{
	struct sfs_txn *t;
	struct sfs_id id;
	struct sfs_chunk_loc l = good_loc(), d;
	uint64_t n;

	fx_fill_random(id.b, SFS_ID_LEN, 1);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_get(t, &id, &d), -ENOENT);
	cr_assert_eq(sfs_cat_chunk_put(t, &id, &l), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_get(t, &id, &d), 0);
	cr_assert_eq(d.offset, l.offset);
	cr_assert_eq(sfs_cat_chunk_count(t, &n), 0);
	cr_assert_eq(n, 1);
	sfs_txn_abort(t);

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_del(t, &id), 0);
	cr_assert_eq(sfs_cat_chunk_del(t, &id), -ENOENT);
	sfs_txn_abort(t); /* aborted: the chunk is still there */
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_get(t, &id, &d), 0);
	sfs_txn_abort(t);
	sfs_txn_abort(NULL);
}

Test(catalog_store, read_only_store_refuses_writes)
{
	struct sfs_txn *t;

	fx_reopen(false);
	cr_assert_not(sfs_store_writable(fx_store));
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), -EROFS);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	sfs_txn_abort(t);
}

Test(catalog_store, meta_and_generation)
{
	struct sfs_txn *t;
	uint64_t v, g0, g1;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_meta_get(t, "nope", &v), -ENOENT);
	cr_assert_eq(sfs_cat_meta_put(t, "x", 0xffffffffffffull), 0);
	cr_assert_eq(sfs_cat_meta_get(t, "x", &v), 0);
	cr_assert_eq(v, 0xffffffffffffull);
	cr_assert_eq(sfs_cat_meta_get(t, "format_version", &v), 0);
	cr_assert_eq(v, SFS_FORMAT_VERSION);
	cr_assert_eq(sfs_cat_generation(t, &g0), 0);
	cr_assert_eq(sfs_cat_bump_generation(t), 0);
	cr_assert_eq(sfs_cat_generation(t, &g1), 0);
	cr_assert_eq(g1, g0 + 1);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

struct collect {
	char ids[16][SFS_IDSTR_SIZE];
	int n;
};

static int collect_cb(void *ctx, const struct sfs_snapshot *sn)
{
	struct collect *c = ctx;
	cr_assert_lt(c->n, 16);
	strcpy(c->ids[c->n++], sn->id);
	return 0;
}

static int stop_cb(void *ctx, const struct sfs_snapshot *sn)
{
	(void)sn;
	return ++*(int *)ctx == 2 ? 7 : 0;
}

Test(catalog_store, snapshots_by_volume_latest_and_pending)
{
	struct sfs_txn *t;
	struct sfs_snapshot a1 = make_snap("a", 1, SFS_SNAP_COMPLETED);
	struct sfs_snapshot b1 = make_snap("b", 2, SFS_SNAP_COMPLETED);
	struct sfs_snapshot a2 = make_snap("a", 3, SFS_SNAP_COMPLETED);
	struct sfs_snapshot ab = make_snap("ab", 4, SFS_SNAP_COMPLETED);
	struct sfs_snapshot a3 = make_snap("a", 5, SFS_SNAP_PENDING);
	struct sfs_snapshot got;
	struct collect c = { 0 };
	int stops = 0;

	strcpy(a2.parent, a1.id);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "a", &got), -ENOENT);
	cr_assert_eq(sfs_cat_snapshot_put(t, &a2), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &ab), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &a1), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &b1), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &a3), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_foreach(t, "a", collect_cb, &c), 0);
	cr_assert_eq(c.n, 3, "volume a only, not volume ab");
	cr_assert_str_eq(c.ids[0], a1.id, "oldest first");
	cr_assert_str_eq(c.ids[1], a2.id);
	cr_assert_str_eq(c.ids[2], a3.id);
	c.n = 0;
	cr_assert_eq(sfs_cat_snapshot_foreach(t, NULL, collect_cb, &c), 0);
	cr_assert_eq(c.n, 5);
	cr_assert_eq(sfs_cat_snapshot_foreach(t, NULL, stop_cb, &stops), 7);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "a", &got), 0);
	cr_assert_str_eq(got.id, a2.id, "latest completed, not the pending one");
	cr_assert_str_eq(got.parent, a1.id);
	sfs_snapshot_release(&got);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "b", &got), 0);
	cr_assert_str_eq(got.id, b1.id);
	sfs_snapshot_release(&got);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "ab", &got), 0);
	cr_assert_str_eq(got.id, ab.id, "volume ab, not a's");
	sfs_snapshot_release(&got);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "zzz", &got), -ENOENT);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "", &got), -ENOENT);
	sfs_txn_abort(t);

	/* A writer that opens the store discards the pending snapshot. */
	fx_reopen(true);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, a3.id, &got), -ENOENT);
	cr_assert_eq(sfs_cat_snapshot_get(t, a2.id, &got), 0);
	sfs_snapshot_release(&got);
	c.n = 0;
	cr_assert_eq(sfs_cat_snapshot_foreach(t, "a", collect_cb, &c), 0);
	cr_assert_eq(c.n, 2);
	sfs_txn_abort(t);

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_del(t, a2.id), 0);
	cr_assert_eq(sfs_cat_snapshot_del(t, a2.id), -ENOENT);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "a", &got), 0);
	cr_assert_str_eq(got.id, a1.id);
	sfs_snapshot_release(&got);
	cr_assert_eq(sfs_cat_discard_pending(t), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

/* latest follows creation time, not arrival: a copy of an older snapshot
 * arrives with a higher seq but keeps its creation time. Equal times go
 * by seq; the nanoseconds decide within a second. */
Test(catalog_store, latest_follows_creation_time)
{
	struct sfs_txn *t;
	struct sfs_snapshot newer = make_snap("v", 1, SFS_SNAP_COMPLETED);
	struct sfs_snapshot older = make_snap("v", 2, SFS_SNAP_COMPLETED);
	struct sfs_snapshot same_s = make_snap("w", 3, SFS_SNAP_COMPLETED);
	struct sfs_snapshot same_s2 = make_snap("w", 4, SFS_SNAP_COMPLETED);
	struct sfs_snapshot got;

	newer.created = 2000;
	older.created = 1000;
	same_s.created = same_s2.created = 3000;
	same_s.created_ns = 700000000; /* arrived first, taken later */
	same_s2.created_ns = 100000000;
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &newer), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &older), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &same_s), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &same_s2), 0);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "v", &got), 0);
	cr_assert_str_eq(got.id, newer.id, "the copy of an older snapshot is not the latest");
	sfs_snapshot_release(&got);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "w", &got), 0);
	cr_assert_str_eq(got.id, same_s.id, "the nanoseconds order one second");
	cr_assert_eq(got.created_ns, 700000000u);
	sfs_snapshot_release(&got);
	same_s2.created_ns = same_s.created_ns;
	cr_assert_eq(sfs_cat_snapshot_put(t, &same_s2), 0);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "w", &got), 0);
	cr_assert_str_eq(got.id, same_s2.id, "equal times: the higher seq");
	sfs_snapshot_release(&got);
	sfs_txn_abort(t);
}

Test(catalog_store, volumes)
{
	struct sfs_txn *t;
	struct sfs_volume v = { 0 }, d;

	strcpy(v.name, "data");
	strcpy(v.id, "vol-00000000000000001");
	v.size = 42;
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, "data", &d), -ENOENT);
	cr_assert_eq(sfs_cat_volume_put(t, &v), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, "data", &d), 0);
	cr_assert_eq(d.size, 42);
	cr_assert_not_null(d.tags);
	sfs_volume_release(&d);
	sfs_txn_abort(t);
}

/* ---- store open/init errors ---- */

Test(catalog_store, open_errors)
{
	char path[PATH_MAX + 64];
	struct sfs_store *s = NULL;
	struct sfs_store_options bad = { .block_size = 3000 };

	snprintf(path, sizeof(path), "%s/../nonexistent", fx_dir);
	cr_assert_eq(sfs_store_open(path, SFS_OPEN_READ, &s), -ENOENT);
	snprintf(path, sizeof(path), "%s/packs", fx_dir);
	cr_assert_eq(sfs_store_open(path, SFS_OPEN_READ, &s), -EMEDIUMTYPE, "not a store");
	snprintf(path, sizeof(path), "%s/config", fx_dir);
	cr_assert_eq(sfs_store_open(path, SFS_OPEN_READ, &s), -EMEDIUMTYPE, "a file");
	cr_assert_eq(sfs_store_init(fx_dir, NULL), -EEXIST, "init over a store");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_WRITE, &s), -EBUSY, "second writer");
	cr_assert_eq(sfs_store_lock_holder(fx_dir), (int)getpid());
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &s), 0, "readers coexist with a writer");
	sfs_store_close(s);
	snprintf(path, sizeof(path), "%s/../other", fx_dir);
	cr_assert_eq(sfs_store_init(path, &bad), -EINVAL);
	bad.block_size = 8u << 20;
	cr_assert_eq(sfs_store_init(path, &bad), -EINVAL);
	bad.block_size = 0;
	bad.zstd_level = 20;
	cr_assert_eq(sfs_store_init(path, &bad), -EINVAL);
	sfs_store_close(NULL);
}

static void write_config(const char *text)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config", fx_dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(catalog_store, config_versions)
{
	struct sfs_store *s = NULL;

	sfs_store_close(fx_store);
	fx_store = NULL;
	write_config("format_version = 99\nblock_size = 65536\nzstd_level = 3\npack_size = 67108864\n");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &s), -EPROTONOSUPPORT);
	write_config("format_version = 1\nblock_size = 65537\nzstd_level = 3\npack_size = 67108864\n");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &s), -EMEDIUMTYPE);
	write_config("garbage\n");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &s), -EMEDIUMTYPE);
	write_config("format_version = 1\nblock_size = 65536\nzstd_level = 3\npack_size = 67108864\n");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_WRITE, &s), 0);
	cr_assert_eq(sfs_store_block_size(s), 65536);
	cr_assert_eq(sfs_store_zstd_level(s), 3);
	cr_assert_eq(sfs_store_pack_size(s), 64ull << 20);
	cr_assert_str_eq(sfs_store_path(s), fx_dir);
	sfs_store_close(s);
}

Test(catalog_store, damaged_lmdb_file_is_euclean)
{
	char path[PATH_MAX + 32];
	struct sfs_store *s = NULL;
	int fd, r;
	uint8_t junk[4096];

	sfs_store_close(fx_store);
	fx_store = NULL;
	snprintf(path, sizeof(path), "%s/catalog/data.mdb", fx_dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	/* Both meta pages gone: LMDB cannot find a root. */
	fx_fill_random(junk, sizeof(junk), 9);
	cr_assert_eq(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	cr_assert_eq(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
	close(fd);
	r = sfs_store_open(fx_dir, SFS_OPEN_READ, &s);
	cr_assert_eq(r, -EUCLEAN, "got %d (%s)", r, strerror(-r));
}

/* What a mount shows changing moves the generation, once per transaction,
 * without the caller asking; chunk index and meta changes do not. */
Test(catalog_store, changes_bump_the_generation_once)
{
	struct sfs_snapshot a = make_snap("vol", 1, SFS_SNAP_COMPLETED);
	struct sfs_snapshot b = make_snap("vol", 2, SFS_SNAP_COMPLETED);
	struct sfs_chunk_loc loc = { .pack = 1, .offset = 32, .stored_len = 10, .raw_len = 10,
				     .type = SFS_CHUNK_DATA, .comp = SFS_COMP_NONE };
	struct sfs_id id = { .b = { 7 } };
	struct sfs_txn *t;
	uint64_t g0, g;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_generation(t, &g0), 0);
	sfs_txn_abort(t);

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_put(t, &id, &loc), 0);
	cr_assert_eq(sfs_cat_meta_put(t, "x", 1), 0);
	cr_assert_eq(sfs_cat_generation(t, &g), 0);
	cr_assert_eq(g, g0, "chunk and meta changes are not shown by a mount");
	cr_assert_eq(sfs_cat_snapshot_put(t, &a), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &b), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_generation(t, &g), 0);
	cr_assert_eq(g, g0 + 1, "two puts, one transaction, one bump");
	cr_assert_eq(sfs_cat_snapshot_del(t, a.id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_generation(t, &g), 0);
	cr_assert_eq(g, g0 + 2, "a delete bumps too");
	sfs_txn_abort(t);
	sfs_snapshot_release(&a);
	sfs_snapshot_release(&b);
}

static int count_brief(void *ctx, const struct sfs_snapshot_brief *sn)
{
	(void)sn;
	++*(int *)ctx;
	return 0;
}

/* One record that no longer decodes hides nothing else: listings, latest
 * and the mount's scan skip it, and it can still be deleted. */
Test(catalog_store, damaged_snapshot_record_is_skipped_and_deletable)
{
	struct sfs_txn *t;
	struct sfs_snapshot a1 = make_snap("a", 1, SFS_SNAP_COMPLETED);
	struct sfs_snapshot a2 = make_snap("a", 2, SFS_SNAP_COMPLETED);
	struct sfs_snapshot bad = make_snap("a", 3, SFS_SNAP_COMPLETED);
	struct sfs_snapshot got;
	struct collect c = { 0 };
	uint64_t n = 0;
	int briefs = 0;

	bad.block_size = 3; /* encodes, but no decoder accepts it */
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &a1), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &a2), 0);
	cr_assert_eq(sfs_cat_snapshot_put(t, &bad), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, bad.id, &got), -EBADMSG);
	cr_assert_eq(sfs_cat_snapshot_foreach(t, "a", collect_cb, &c), 0);
	cr_assert_eq(c.n, 2, "the damaged record is skipped, the others listed");
	c.n = 0;
	cr_assert_eq(sfs_cat_snapshot_foreach(t, NULL, collect_cb, &c), 0);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(sfs_cat_snapshot_scan(t, count_brief, &briefs), 0);
	cr_assert_eq(briefs, 2);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "a", &got), 0, "latest walks past the newest, damaged one");
	cr_assert_str_eq(got.id, a2.id);
	sfs_snapshot_release(&got);
	sfs_txn_abort(t);

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_del(t, bad.id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, bad.id, &got), -ENOENT);
	cr_assert_eq(sfs_cat_volume_snapshot_count(t, "a", &n), 0);
	cr_assert_eq(n, 2, "its index entry went with it");
	sfs_txn_abort(t);
}

Test(catalog_store, volume_ensure_makes_once)
{
	struct sfs_txn *t;
	struct sfs_volume v1, v2;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_volume_ensure(t, "web", 1700000000, NULL, &v1), 0);
	cr_assert_eq(sfs_cat_volume_ensure(t, "web", 1800000000, NULL, &v2), 0);
	cr_assert_str_eq(v1.id, v2.id, "the second call finds the first's volume");
	cr_assert_eq(v2.created, 1700000000);
	cr_assert(json_is_object(v2.tags));
	sfs_volume_release(&v1);
	sfs_volume_release(&v2);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

/* Every record carries its own check: a changed size (still a valid
 * number that fits the map's depth) is caught by the decoder, and a
 * record written before sums existed is still read. */
Test(catalog, record_sum_catches_a_changed_size)
{
	struct sfs_snapshot sn = make_snap("vol", 5, SFS_SNAP_COMPLETED), d;
	struct sfs_volume v = { .name = "vol", .id = "vol-0123456789abcdef0", .size = 4096 }, dv;
	char *s = sfs_snapshot_encode(&sn), *p, *vs;

	cr_assert(s);
	cr_assert_eq(sfs_snapshot_decode(s, strlen(s), &d), 0);
	sfs_snapshot_release(&d);
	p = strstr(s, "\"size\":1048576");
	cr_assert(p, "%s", s);
	p[strlen("\"size\":104857")] = '7';
	cr_assert_eq(sfs_snapshot_decode(s, strlen(s), &d), -EBADMSG, "size changed by one byte");
	free(s);

	/* The same record without its sum, as an older version wrote it. */
	s = sfs_snapshot_encode(&sn);
	p = strstr(s, ",\"xsum\":\"");
	cr_assert(p);
	memmove(p, p + strlen(",\"xsum\":\"0123456789abcdef\""),
		strlen(p + strlen(",\"xsum\":\"0123456789abcdef\"")) + 1);
	cr_assert_eq(sfs_snapshot_decode(s, strlen(s), &d), 0, "%s", s);
	cr_assert_eq(d.size, sn.size);
	sfs_snapshot_release(&d);
	free(s);

	v.tags = json_object();
	vs = sfs_volume_encode(&v);
	json_decref(v.tags);
	cr_assert(vs);
	p = strstr(vs, "\"size\":4096");
	cr_assert(p);
	p[strlen("\"size\":409")] = '7';
	cr_assert_eq(sfs_volume_decode(vs, strlen(vs), &dv), -EBADMSG);
	free(vs);
}

static int count_rule(void *ctx, const struct sfs_bin_rule *r)
{
	cr_assert_eq(r->retain, 3600);
	++*(int *)ctx;
	return 0;
}

static int count_entry(void *ctx, const struct sfs_bin_entry *e)
{
	cr_assert_str_eq(e->name, "kept");
	++*(int *)ctx;
	return 0;
}

/* The recycle bin's walks share one database: a damaged rule or entry
 * is passed over, and rules are never taken for damaged entries. */
Test(catalog_store, damaged_bin_records_are_skipped)
{
	static const char junk[] = "{\"v\": 1, \"id\": 7}";
	struct sfs_bin_rule rule = { .retain = 3600, .resources = SFS_BIN_BOTH };
	struct sfs_txn *t;
	int rules = 0, entries = 0;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_bin_rule_create(t, &rule), 0);
	cr_assert_eq(sfs_bin_keep(t, SFS_BIN_IMAGES, "ami-0123456789abcdef0", "kept", "{}", 2, 1,
				  INT64_MAX),
		     0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_BIN, "rule-damaged", 12, junk, strlen(junk)), 0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_BIN, "snap-damaged", 12, junk, strlen(junk)), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_bin_rule_foreach(t, count_rule, &rules), 0);
	cr_assert_eq(rules, 1, "the damaged rule is skipped, the other listed");
	cr_assert_eq(sfs_bin_foreach(t, count_entry, &entries), 0);
	cr_assert_eq(entries, 1, "the damaged entry is skipped, the rules are no entries");
	sfs_txn_abort(t);
	sfs_bin_rule_release(&rule);
}

/* Every byte of the record matters to both paths alike: a changed byte
 * fails the byte path, and the census's check then answers as the tree
 * path does. */
static void assert_bytes_paths(char *s)
{
	size_t n = strlen(s);
	json_t *t;

	cr_assert(sfs_record_bytes_verified(s, n, 1), "as written: %s", s);
	cr_assert(sfs_record_check(s, n, 1));
	cr_assert_not(sfs_record_bytes_verified(s, n, 2), "another version");
	t = sfs_record_loads(s, n, 1, NULL);
	cr_assert_not_null(t);
	json_decref(t);
	for (size_t i = 0; i < n; i++) {
		s[i] ^= 1;
		cr_assert_not(sfs_record_bytes_verified(s, n, 1), "byte %zu changed: %s", i, s);
		t = sfs_record_loads(s, n, 1, NULL);
		cr_assert_eq(sfs_record_check(s, n, 1), t != NULL, "byte %zu", i);
		json_decref(t);
		s[i] ^= 1;
	}
}

static void assert_record_paths(json_t *o)
{
	char *s = sfs_record_dumps(o, 1);

	cr_assert_not_null(s);
	/* Written with the XXH3 sum only. */
	o = json_loads(s, 0, NULL);
	cr_assert(json_is_string(json_object_get(o, "xsum")), "%s", s);
	cr_assert_null(json_object_get(o, "sum"), "%s", s);
	json_decref(o);
	assert_bytes_paths(s);
	free(s);
}

/* A record as a binary that knew only the SHA-256 "sum" wrote it: o with
 * "v" and the first 8 bytes of the SHA-256 of its compact sorted dump. */
static char *old_sum_dumps(json_t *o)
{
	struct sfs_id h;
	char hex[SFS_ID_HEX_LEN + 1], *s;

	json_object_set_new(o, "v", json_integer(1));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_not_null(s);
	sfs_chunk_hash(s, strlen(s), &h);
	free(s);
	sfs_id_to_hex(&h, hex);
	hex[16] = '\0';
	json_object_set_new(o, "sum", json_string(hex));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

Test(catalog, record_sum_kinds)
{
	char *s = old_sum_dumps(json_pack("{s:s, s:i}", "name", "x", "size", 4096));
	json_t *t;

	/* Records summed with SHA-256 stay readable, by both paths. */
	cr_assert_null(strstr(s, "xsum"));
	assert_bytes_paths(s);
	free(s);
	/* What such a binary summed may hold an "xsum" it carried over: its
	 * "sum" decides, and the stale "xsum" does not matter. */
	s = old_sum_dumps(json_pack("{s:s, s:s}", "name", "x", "xsum", "0123456789abcdef"));
	assert_bytes_paths(s);
	free(s);
	/* Without either, a record is read as unsummed. */
	s = strdup("{\"name\":\"x\",\"v\":1}");
	{
		bool unsummed = false;

		t = sfs_record_loads(s, strlen(s), 1, &unsummed);
		cr_assert_not_null(t);
		cr_assert(unsummed);
		json_decref(t);
	}
	free(s);
	/* A rewrite drops an old sum and writes the new one. */
	t = json_pack("{s:s, s:s}", "name", "x", "sum", "0123456789abcdef");
	s = sfs_record_dumps(t, 1);
	cr_assert_null(strstr(s, "\"sum\":"), "%s", s);
	cr_assert_not_null(strstr(s, "\"xsum\":"), "%s", s);
	cr_assert(sfs_record_bytes_verified(s, strlen(s), 1));
	free(s);
}

Test(catalog, record_sum_byte_path)
{
	struct sfs_snapshot sn = make_snap("vol", 7, SFS_SNAP_COMPLETED);
	char *s, *spaced;
	json_t *t;

	/* A "sum" key or text below the top level is not the record's. */
	sn.tags = json_pack("{s:s, s:s}", "sum", "0123456789abcdef", "a",
			    ",\"sum\":\"0123456789abcdef\"\\");
	sn.description = strdup("quotes \" and \\ and {[");
	assert_record_paths(sfs_snapshot_to_json(&sn));
	sfs_snapshot_release(&sn);
	/* "sum" as the first member, and in an array of objects. */
	assert_record_paths(json_pack("{s:i}", "x", 1));
	assert_record_paths(json_pack("{s:[{s:s}], s:{}}", "a", "sum", "0123456789abcdef", "z"));
	assert_record_paths(json_pack("{s:[{s:s}], s:{s:s}}", "a", "xsum", "0123456789abcdef", "z",
				      "xsum", "0123456789abcdef"));

	/* Bytes that are not the writer's (spaces) but mean the same: the
	 * byte path declines and the tree path accepts, as before. */
	s = sfs_record_dumps(json_pack("{s:s}", "name", "x"), 1);
	cr_assert_not_null(s);
	cr_assert_eq(asprintf(&spaced, "{ %s", s + 1), (int)strlen(s) + 1);
	cr_assert_not(sfs_record_bytes_verified(spaced, strlen(spaced), 1));
	cr_assert(sfs_record_check(spaced, strlen(spaced), 1));
	t = sfs_record_loads(spaced, strlen(spaced), 1, NULL);
	cr_assert_not_null(t);
	json_decref(t);
	free(spaced);
	free(s);
}

/* The kernel caps one readahead request at the device's readahead
 * window (128 KiB by default, a few MiB on some machines): a catalog of
 * over 16 MiB must still arrive whole. */
Test(catalog_store, prefetch_reads_a_catalog_within_its_bound_into_the_page_cache)
{
	struct sfs_chunk_loc loc = good_loc();
	struct sfs_txn *t;
	size_t pages, in;

	/* A catalog of some thousands of pages. */
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	for (uint32_t i = 0; i < 250000; i++) {
		struct sfs_id id = { 0 };

		memcpy(id.b, &i, sizeof(i));
		id.b[SFS_ID_LEN - 1] = 0x5a;
		loc.offset = 4096 + (uint64_t)i * 1000;
		cr_assert_eq(sfs_cat_chunk_put(t, &id, &loc), 0);
	}
	cr_assert_eq(sfs_txn_commit(t), 0);
	fx_reopen_catalog_cold();
	in = fx_catalog_resident(&pages);
	cr_assert_gt(pages, 4096, "catalog of %zu pages", pages);
	cr_assert_lt(in, pages / 2, "%zu of %zu pages resident before the prefetch", in, pages);

	/* A bound below the catalog's size: nothing is read. */
	sfs_cat_prefetch(fx_store, 4096);
	usleep(200 * 1000);
	in = fx_catalog_resident(&pages);
	cr_assert_lt(in, pages / 2, "%zu of %zu pages resident after a bounded prefetch", in, pages);

	/* Within the bound: all of the used part arrives (the reads complete
	 * in the background, so wait for them, however long they take). */
	sfs_cat_prefetch(fx_store, 1ull << 30);
	for (int i = 0; i < 1000 && (in = fx_catalog_resident(&pages)) < pages * 9 / 10; i++)
		usleep(10 * 1000);
	cr_assert_geq(in, pages * 9 / 10, "%zu of %zu pages resident after the prefetch", in, pages);
}
