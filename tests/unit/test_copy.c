// SPDX-License-Identifier: MIT
/*
 * Snapshot copy between stores: the copy reads back byte-exact with its
 * record (new id, copied_from, volume tags, description), a later
 * snapshot's copy sends about the changed bytes, what arrived before is
 * not sent again, levels may differ, block sizes may not, and damaged
 * source data never reaches the destination.
 */
#include <criterion/criterion.h>

#include "snapfs/check.h"
#include "snapfs/copy.h"
#include "lifecycle_util.h"

#define BS 4096u
#define MIB (1u << 20)

static void get(struct sfs_store *s, const char *id, struct sfs_snapshot *sn)
{
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(s, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, id, sn), 0);
	sfs_txn_abort(t);
}

static void tag_volume(struct sfs_store *s, const char *vol, const char *k, const char *v)
{
	struct sfs_volume vv;
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, vol, &vv), 0);
	json_object_set_new(vv.tags, k, json_string(v));
	cr_assert_eq(sfs_cat_volume_put(t, &vv), 0);
	sfs_volume_release(&vv);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

static void check_ok(struct sfs_store *s)
{
	struct sfs_check_result cr;

	cr_assert_eq(sfs_check(s, true, NULL, NULL, NULL, NULL, &cr), 0);
	cr_expect_eq(cr.problems, 0);
}

Test(copy, incremental_copy_sends_about_the_changes)
{
	char *dir = fx_tmpdir(), id1[SFS_IDSTR_SIZE], id2[SFS_IDSTR_SIZE];
	struct sfs_store *src = lc_store(dir, "src", BS, 1, 0);
	struct sfs_store *dst = lc_store(dir, "dst", BS, 1, 0);
	size_t len = 8 * MIB, changed = 512 * 1024;
	uint8_t *v1 = malloc(len), *v2 = malloc(len);
	json_t *tags = json_pack("{s:s}", "k", "v");
	struct sfs_copy_opts o = { .description = "dr copy" };
	struct sfs_copy_result r1, r2, r3;
	struct sfs_snapshot sn;
	struct sfs_volume vol;
	struct sfs_txn *t;

	fx_fill_random(v1, len, 1);
	memcpy(v2, v1, len);
	fx_fill_random(v2 + 3 * MIB, changed, 2);
	lc_snap(src, dir, "vol", v1, len, tags, id1);
	tag_volume(src, "vol", "env", "prod");
	lc_snap(src, dir, "vol", v2, len, tags, id2);

	cr_assert_eq(sfs_copy_snapshot(src, id1, dst, &o, &r1), 0);
	cr_expect_geq(r1.sent_raw_bytes, len);
	cr_assert_eq(sfs_copy_snapshot(src, id2, dst, NULL, &r2), 0);
	/* the changed blocks plus the pages on their paths (2 leaves + root) */
	cr_expect_geq(r2.sent_raw_bytes, changed);
	cr_expect_leq(r2.sent_bytes, changed + changed / 16 + 3 * 32 * 1024,
		      "second copy sent %llu bytes for %zu changed",
		      (unsigned long long)r2.sent_bytes, changed);

	lc_expect(dst, r1.snap_id, v1, len);
	lc_expect(dst, r2.snap_id, v2, len);
	get(dst, r2.snap_id, &sn);
	cr_expect_str_neq(sn.id, id2, "a copy gets a new id");
	cr_expect_str_eq(sn.copied_from, id2);
	cr_expect_eq(sn.state, SFS_SNAP_COMPLETED);
	cr_expect_str_eq(json_string_value(json_object_get(sn.tags, "k")), "v");
	sfs_snapshot_release(&sn);
	get(dst, r1.snap_id, &sn);
	cr_expect_str_eq(sn.description, "dr copy");
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_txn_begin(dst, false, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, "vol", &vol), 0);
	sfs_txn_abort(t);
	cr_expect_str_eq(json_string_value(json_object_get(vol.tags, "env")), "prod");
	sfs_volume_release(&vol);

	/* copying again sends nothing: the root is already there */
	cr_assert_eq(sfs_copy_snapshot(src, id2, dst, NULL, &r3), 0);
	cr_expect_eq(r3.sent_chunks, 0);
	cr_expect_eq(r3.present_chunks, 1);
	check_ok(dst);

	json_decref(tags);
	free(v1);
	free(v2);
	sfs_store_close(src);
	sfs_store_close(dst);
	fx_rm_rf(dir);
	free(dir);
}

/* What arrived before an interruption (committed chunks without their
 * snapshot: the pending record was discarded) is not sent again. */
Test(copy, resume_skips_what_arrived)
{
	char *dir = fx_tmpdir(), id[SFS_IDSTR_SIZE], *dpath;
	struct sfs_store *src = lc_store(dir, "src", BS, 1, 0);
	struct sfs_store *dst = lc_store(dir, "dst", BS, 1, 0);
	size_t len = 4 * MIB;
	uint8_t *v = malloc(len);
	struct sfs_copy_result r1, r2;
	struct sfs_txn *t;

	fx_fill_random(v, len, 7);
	lc_snap(src, dir, "vol", v, len, NULL, id);
	cr_assert_eq(sfs_copy_snapshot(src, id, dst, NULL, &r1), 0);
	/* forget the snapshot record, as recovery does with an interrupted copy */
	cr_assert_eq(sfs_txn_begin(dst, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_del(t, r1.snap_id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	sfs_store_close(dst);
	cr_assert(asprintf(&dpath, "%s/dst", dir) > 0);
	cr_assert_eq(sfs_store_open(dpath, SFS_OPEN_WRITE, &dst), 0);
	cr_assert_eq(sfs_copy_snapshot(src, id, dst, NULL, &r2), 0);
	cr_expect_eq(r2.sent_chunks, 0);
	lc_expect(dst, r2.snap_id, v, len);
	free(dpath);
	free(v);
	sfs_store_close(src);
	sfs_store_close(dst);
	fx_rm_rf(dir);
	free(dir);
}

Test(copy, other_level_same_block_size_only)
{
	char *dir = fx_tmpdir(), id[SFS_IDSTR_SIZE];
	struct sfs_store *src = lc_store(dir, "src", BS, 1, 0);
	struct sfs_store *dst = lc_store(dir, "dst", BS, 9, 0);
	struct sfs_store *big = lc_store(dir, "big", 65536, 1, 0);
	size_t len = 2 * MIB;
	uint8_t *v = malloc(len);
	struct sfs_copy_result r;

	/* compressible halves so that the level matters */
	fx_fill_random(v, len, 3);
	for (size_t i = 0; i < len / 2; i++)
		v[i] = (uint8_t)"snapfs copies "[i % 14];
	lc_snap(src, dir, "vol", v, len, NULL, id);
	cr_assert_eq(sfs_copy_snapshot(src, id, dst, NULL, &r), 0);
	lc_expect(dst, r.snap_id, v, len);
	check_ok(dst);
	cr_expect_eq(sfs_copy_snapshot(src, id, big, NULL, &r), -EXDEV);
	cr_expect_eq(sfs_copy_snapshot(src, id, src, NULL, &r), -EINVAL);
	cr_expect_eq(sfs_copy_snapshot(src, "snap-00000000000000000", dst, NULL, &r), -ENOENT);
	free(v);
	sfs_store_close(src);
	sfs_store_close(dst);
	sfs_store_close(big);
	fx_rm_rf(dir);
	free(dir);
}

/* A source chunk whose bytes were damaged is refused; the destination
 * gets no snapshot and stays consistent. */
Test(copy, damaged_source_never_arrives)
{
	char *dir = fx_tmpdir(), id[SFS_IDSTR_SIZE], *pack;
	struct sfs_store *src = lc_store(dir, "src", BS, 1, 0);
	struct sfs_store *dst = lc_store(dir, "dst", BS, 1, 0);
	size_t len = MIB;
	uint8_t *v = malloc(len), junk[64];
	struct sfs_copy_result r;
	int fd;

	fx_fill_random(v, len, 5);
	lc_snap(src, dir, "vol", v, len, NULL, id);
	cr_assert(asprintf(&pack, "%s/src/packs/0000000000000001.pack", dir) > 0);
	fd = open(pack, O_WRONLY);
	cr_assert(fd >= 0);
	memset(junk, 0xa5, sizeof(junk));
	cr_assert_eq(pwrite(fd, junk, sizeof(junk), 4096 * 10), (ssize_t)sizeof(junk));
	close(fd);
	cr_expect_eq(sfs_copy_snapshot(src, id, dst, NULL, &r), -EBADMSG);
	check_ok(dst);
	free(pack);
	free(v);
	sfs_store_close(src);
	sfs_store_close(dst);
	fx_rm_rf(dir);
	free(dir);
}

/* A leaf's chunks are read in batches while the batch before is stored:
 * a block met again in its own batch, in the batch still being stored or
 * long after counts as present each time and is sent once, whether the
 * stored bytes go as they are or are compressed again. */
Test(copy, repeated_blocks_are_sent_once_whatever_their_batch)
{
	static const size_t pairs[][2] = { { 0, 1 }, { 5, 105 }, { 10, 200 }, { 20, 900 } };
	enum { N = sizeof(pairs) / sizeof(pairs[0]) };
	char *dir = fx_tmpdir(), id[SFS_IDSTR_SIZE];
	struct sfs_store *src = lc_store(dir, "src", BS, 1, 0);
	struct sfs_store *dst = lc_store(dir, "dst", BS, 1, 0);
	struct sfs_store *dst9 = lc_store(dir, "dst9", BS, 9, 0);
	size_t len = 4 * MIB, blocks = len / BS;
	uint8_t *v = malloc(len);
	struct sfs_copy_result r;

	fx_fill_random(v, len, 11);
	for (int i = 0; i < N; i++)
		memcpy(v + pairs[i][1] * BS, v + pairs[i][0] * BS, BS);
	lc_snap(src, dir, "vol", v, len, NULL, id);
	cr_assert_eq(sfs_copy_snapshot(src, id, dst, NULL, &r), 0);
	cr_expect_eq(r.present_chunks, N);
	/* The distinct blocks and one map page: a leaf of 1,024 ids is the root. */
	cr_expect_eq(r.sent_chunks, blocks - N + 1);
	lc_expect(dst, r.snap_id, v, len);
	check_ok(dst);
	/* At another level the helpers also compress: the same counts. */
	cr_assert_eq(sfs_copy_snapshot(src, id, dst9, NULL, &r), 0);
	cr_expect_eq(r.present_chunks, N);
	cr_expect_eq(r.sent_chunks, blocks - N + 1);
	lc_expect(dst9, r.snap_id, v, len);
	check_ok(dst9);
	free(v);
	sfs_store_close(src);
	sfs_store_close(dst);
	sfs_store_close(dst9);
	fx_rm_rf(dir);
	free(dir);
}
