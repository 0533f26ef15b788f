// SPDX-License-Identifier: MIT
/*
 * Ingest: changed-ranges parsing, full and incremental snapshots of files
 * read back through the reader, dedup, and the errors a bad source gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "snapfs/blockmap.h"
#include "snapfs/ingest.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "fixture.h"

static int parse(const char *text, uint64_t **r, size_t *n)
{
	char err[256] = "";
	return sfs_ranges_parse(text, strlen(text), r, n, err, sizeof(err));
}

Test(ranges, text_forms)
{
	uint64_t *r = NULL;
	size_t n = 0;

	cr_assert_eq(parse("# comment\n\n0 4096\n0x2000 0x1000\n  100000 5\n", &r, &n), 0);
	cr_assert_eq(n, 3, "got %zu ranges", n);
	cr_assert_eq(r[0], 0);
	cr_assert_eq(r[1], 4096);
	cr_assert_eq(r[2], 0x2000);
	cr_assert_eq(r[3], 0x1000);
	cr_assert_eq(r[4], 100000);
	cr_assert_eq(r[5], 5);
	free(r);
}

Test(ranges, merges_and_sorts)
{
	uint64_t *r = NULL;
	size_t n = 0;

	cr_assert_eq(parse("8192 4096\n0 4096\n4096 4096\n100 10\n", &r, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(r[0], 0);
	cr_assert_eq(r[1], 12288);
	free(r);
}

/* A leading zero is decimal, never octal: "0131072" is byte 131072. */
Test(ranges, leading_zeros_are_decimal)
{
	uint64_t *r = NULL;
	size_t n = 0;

	cr_assert_eq(parse("0131072 16\n00 010\n", &r, &n), 0);
	cr_assert_eq(n, 2, "got %zu ranges", n);
	cr_assert_eq(r[0], 0);
	cr_assert_eq(r[1], 10);
	cr_assert_eq(r[2], 131072);
	cr_assert_eq(r[3], 16);
	free(r);
}

Test(ranges, json_forms)
{
	uint64_t *r = NULL;
	size_t n = 0;

	cr_assert_eq(parse("[[0,4096],[65536,10]]", &r, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(r[2], 65536);
	cr_assert_eq(r[3], 10);
	free(r);
	cr_assert_eq(parse("[{\"offset\":4096,\"length\":4096}]", &r, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(r[0], 4096);
	free(r);
	cr_assert_eq(parse("[]", &r, &n), 0);
	cr_assert_eq(n, 0);
	free(r);
}

Test(ranges, malformed)
{
	const char *bad[] = { "x", "0", "0 4096 9", "-1 5", "0 -5", "0x 5", "[[1]]", "[[1,2]",
			      "[{\"offset\":1}]", "[[\"1\",\"2\"]]", "99999999999999999999 1",
			      "18446744073709551615 2", "+5 5", "5 +5", "0x 0x", "0xg 5", "08x 5",
			      "5 0x1p" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t *r = NULL;
		size_t n = 0;
		int ret = parse(bad[i], &r, &n);
		cr_assert_eq(ret, -EINVAL, "'%s' gave %d", bad[i], ret);
	}
}

/* ---- ingest ---- */

static char *src_dir;

static void setup(void)
{
	fx_setup_4k();
	src_dir = fx_tmpdir();
	sfs_log_set_level(0);
}

static void teardown(void)
{
	fx_teardown();
	fx_rm_rf(src_dir);
	free(src_dir);
}

TestSuite(ingest, .init = setup, .fini = teardown);

static char *write_src(const char *name, const uint8_t *data, size_t len)
{
	char *path;
	int fd;

	cr_assert_geq(asprintf(&path, "%s/%s", src_dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void read_back(const char *id, const uint8_t *want, size_t len)
{
	struct sfs_txn *t;
	struct sfs_snapshot sn;
	struct sfs_snapmap m;
	struct sfs_reader *r;
	uint8_t *buf = malloc(len + 1);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, id, &sn), 0);
	sfs_txn_abort(t);
	cr_assert_eq(sn.state, SFS_SNAP_COMPLETED);
	cr_assert_eq(sn.size, len);
	sfs_snapmap_from_snapshot(&sn, &m);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_reader_new(fx_store, 0, &r), 0);
	cr_assert_eq(sfs_reader_pread(r, &m, buf, len + 1, 0), (ssize_t)len);
	cr_assert_arr_eq(buf, want, len);
	sfs_reader_free(r);
	free(buf);
}

Test(ingest, full_incremental_and_unchanged)
{
	size_t len = 300 * 4096 + 123;
	uint8_t *data = calloc(1, len);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b;

	fx_fill_text(data, 100 * 4096, 1);
	fx_fill_random(data + 200 * 4096, 50 * 4096, 2);
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);
	cr_assert_eq(a.size, len);
	cr_assert_eq(a.parent[0], '\0');
	cr_assert_gt(a.zero_blocks, 100);
	read_back(a.snap_id, data, len);

	/* One block changes: one new data chunk and one new map page. */
	fx_fill_random(data + 10 * 4096, 4096, 3);
	free(write_src("src", data, len));
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_str_eq(b.parent, a.snap_id);
	cr_assert_eq(b.new_chunks, 2, "new chunks: %llu", (unsigned long long)b.new_chunks);
	cr_assert_leq(b.new_bytes, 4096 + 48 + 2 * 48 + 10000);
	read_back(b.snap_id, data, len);
	free((char *)o.source);
	free(data);
}

Test(ingest, unchanged_adds_nothing)
{
	size_t len = 64 * 4096;
	uint8_t *data = malloc(len);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b;

	fx_fill_text(data, len, 9);
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0);
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0);
	cr_assert_eq(b.new_chunks, 0);
	cr_assert_eq(b.new_bytes, 0);
	read_back(b.snap_id, data, len);
	free((char *)o.source);
	free(data);
}

Test(ingest, changed_ranges_equal_a_full_read)
{
	size_t len = 100 * 4096;
	uint8_t *data = malloc(len);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b;
	char *ranges;

	fx_fill_text(data, len, 4);
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0);
	fx_fill_random(data + 7 * 4096 + 100, 5000, 5);
	fx_fill_random(data + 90 * 4096, 4096, 6);
	free(write_src("src", data, len));
	{
		char text[128];
		snprintf(text, sizeof(text), "%d 5000\n0x%x 4096\n", 7 * 4096 + 100, 90 * 4096);
		ranges = write_src("ranges", (const uint8_t *)text, strlen(text));
	}
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_lt(b.read_bytes, len, "only the ranges were read");
	read_back(b.snap_id, data, len);
	free(ranges);
	free((char *)o.source);
	free(data);
}

Test(ingest, bad_sources)
{
	uint8_t data[8192];
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result res;
	char *missing;
	struct sfs_txn *t;
	uint64_t chunks;

	fx_fill_text(data, sizeof(data), 1);
	cr_assert_geq(asprintf(&missing, "%s/none", src_dir), 0);
	o.source = missing;
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), -ENOENT);
	o.source = src_dir;
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), -EISDIR);
	o.source = write_src("src", data, sizeof(data));
	o.volume = "../x";
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), -EINVAL);
	o.volume = "v";
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), 0);
	free((char *)o.source);
	o.source = write_src("src", data, 4096);
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), -ERANGE, "a source smaller than its volume");
	cr_assert_neq(res.error[0], '\0', "the error says why");
	free((char *)o.source);
	free(missing);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_count(t, &chunks), 0);
	cr_assert_eq(chunks, 3, "two blocks and a map page; failed ingests stored nothing: %llu", (unsigned long long)chunks);
	sfs_txn_abort(t);
}

Test(ingest, aborted_session_leaves_nothing)
{
	uint8_t data[16384];
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result res;
	struct sfs_writer *w;
	struct sfs_txn *t;
	struct sfs_snapshot sn;
	uint64_t chunks;

	fx_fill_text(data, sizeof(data), 1);
	o.source = write_src("src", data, sizeof(data));
	cr_assert_eq(sfs_writer_begin(fx_store, &w), 0);
	cr_assert_eq(sfs_writer_snapshot(w, &o, &res), 0);
	sfs_writer_abort(w);
	fx_reopen(true);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_neq(sfs_cat_snapshot_get(t, res.snap_id, &sn), 0);
	cr_assert_eq(sfs_cat_snapshot_latest(t, "v", &sn), -ENOENT);
	cr_assert_eq(sfs_cat_chunk_count(t, &chunks), 0);
	cr_assert_eq(chunks, 0);
	sfs_txn_abort(t);
	free((char *)o.source);
}

/* Whole unchanged leaves are taken from the parent by id, with their data
 * counted from the leaf: the result must be the very map a full read
 * makes (same root), with the same data and zero counts. */
Test(ingest, changed_ranges_whole_leaves_match_a_full_read)
{
	size_t nblocks = 3 * 1024 + 100, len = nblocks * 4096;
	uint8_t *data = calloc(1, len);
	struct sfs_ingest_opts o = { .volume = "v" }, f = { .volume = "full" };
	struct sfs_ingest_result a, b, full;
	struct sfs_snapshot sb, sf;
	struct sfs_txn *t;
	char text[64], *ranges;

	/* Leaf 0 text, leaf 1 all zeros, leaf 2 half random, a short tail. */
	fx_fill_text(data, 1024 * 4096, 11);
	fx_fill_random(data + 2048 * 4096, 512 * 4096, 12);
	fx_fill_text(data + 3072 * 4096, 100 * 4096, 13);
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);
	/* Change one block in the tail only: leaves 0-2 are inherited whole. */
	fx_fill_random(data + 3100 * 4096, 4096, 14);
	free(write_src("src", data, len));
	snprintf(text, sizeof(text), "%d 4096\n", 3100 * 4096);
	ranges = write_src("ranges", (const uint8_t *)text, strlen(text));
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_eq(b.read_bytes, 4096, "only the changed block was read");
	f.source = o.source;
	cr_assert_eq(sfs_ingest(fx_store, &f, &full), 0, "%s", full.error);

	cr_assert_eq(b.data_bytes, full.data_bytes);
	cr_assert_eq(b.zero_blocks, full.zero_blocks);
	cr_assert_eq(b.blocks, full.blocks);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, b.snap_id, &sb), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, full.snap_id, &sf), 0);
	sfs_txn_abort(t);
	cr_assert_arr_eq(sb.root.b, sf.root.b, SFS_ID_LEN, "same map as a full read");
	cr_assert_eq(sb.depth, 2);
	sfs_snapshot_release(&sb);
	sfs_snapshot_release(&sf);
	read_back(b.snap_id, data, len);
	free(ranges);
	free((char *)o.source);
	free(data);
}

/* Sets the data bytes recorded for volume v's latest snapshot, as a
 * record written by another tool or an older version may have them. */
static void set_latest_data_bytes(uint64_t data_bytes)
{
	struct sfs_writer *w;
	struct sfs_snapshot sn;

	cr_assert_eq(sfs_writer_begin(fx_store, &w), 0);
	cr_assert_eq(sfs_cat_snapshot_latest(sfs_writer_txn(w), "v", &sn), 0);
	sn.data_bytes = data_bytes;
	cr_assert_eq(sfs_cat_snapshot_put(sfs_writer_txn(w), &sn), 0);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_writer_commit(w), 0);
}

/* A changed-ranges snapshot of data and after it a full read of the same
 * file: the same map, the same data and zero counts. */
static void changed_matches_full(const char *src, const char *ranges, const uint8_t *data,
				 size_t len, const char *what)
{
	struct sfs_ingest_opts o = { .volume = "v", .source = src, .changed_ranges = ranges };
	struct sfs_ingest_opts f = { .volume = "full", .source = src };
	struct sfs_ingest_result b, full;
	struct sfs_snapshot sb, sf;
	struct sfs_txn *t;

	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s: %s", what, b.error);
	cr_assert_eq(sfs_ingest(fx_store, &f, &full), 0, "%s: %s", what, full.error);
	cr_assert_eq(b.data_bytes, full.data_bytes, "%s: data bytes %llu, a full read %llu", what,
		     (unsigned long long)b.data_bytes, (unsigned long long)full.data_bytes);
	cr_assert_eq(b.zero_blocks, full.zero_blocks, "%s", what);
	cr_assert_eq(b.blocks, full.blocks, "%s", what);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, b.snap_id, &sb), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, full.snap_id, &sf), 0);
	sfs_txn_abort(t);
	cr_assert_eq(sb.data_bytes, sf.data_bytes, "%s: as recorded", what);
	cr_assert_arr_eq(sb.root.b, sf.root.b, SFS_ID_LEN, "%s: same map as a full read", what);
	sfs_snapshot_release(&sb);
	sfs_snapshot_release(&sf);
	read_back(b.snap_id, data, len);
}

/* Block `block` of data rewritten (text of seed, or zeros for seed 0)
 * and a changed-ranges snapshot of just that block matched against a
 * full read. */
static void change_block_and_match(const char *src, uint8_t *data, size_t len, size_t block,
				   uint64_t seed, const char *what)
{
	char text[64], *ranges;

	if (seed)
		fx_fill_text(data + block * 4096, 4096, seed);
	else
		memset(data + block * 4096, 0, 4096);
	free(write_src("src", data, len));
	snprintf(text, sizeof(text), "%zu 4096\n", block * 4096);
	ranges = write_src("ranges", (const uint8_t *)text, strlen(text));
	changed_matches_full(src, ranges, data, len, what);
	free(ranges);
}

/* Whole leaves taken from the parent are not read: their data is the
 * parent's recorded count less what the parent had elsewhere. Ranges that
 * turn data into zeros and zeros into data over whole leaves and single
 * blocks, then parents whose recorded count is missing (counted from the
 * leaves as they are taken) or wrong (the parent's map counted): each
 * time the counts of a full read. */
Test(ingest, changed_ranges_count_the_leaves_they_take_whole)
{
	size_t nblocks = 7 * 1024 + 37, len = nblocks * 4096 - 100;
	uint8_t *data = calloc(1, len);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a;
	size_t cap = 4096, used = 0;
	char *text = malloc(cap), *ranges;

	/* Leaves: 0 text, 1 zero, 2 text, 3 random, 4 text, 5 zero, 6 text,
	 * then a short text tail. */
	fx_fill_text(data, 1024 * 4096, 41);
	fx_fill_text(data + 2048 * 4096, 1024 * 4096, 42);
	fx_fill_random(data + 3072 * 4096, 1024 * 4096, 43);
	fx_fill_text(data + 4096 * 4096, 1024 * 4096, 44);
	fx_fill_text(data + 6144 * 4096, len - 6144 * 4096, 45);
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);

#define RANGE(off, n) (used += (size_t)snprintf(text + used, cap - used, "%zu %zu\n", \
						 (size_t)(off), (size_t)(n)))
	/* leaf 2 whole and half of leaf 3 become zeros */
	memset(data + 2048 * 4096, 0, 1536 * 4096);
	RANGE(2048 * 4096, 1536 * 4096);
	/* leaf 5, zero, becomes data */
	fx_fill_text(data + 5120 * 4096, 1024 * 4096, 46);
	RANGE(5120 * 4096, 1024 * 4096);
	/* single blocks: two of leaf 0 zeroed, one of leaf 1 written */
	memset(data + 10 * 4096, 0, 2 * 4096);
	RANGE(10 * 4096, 2 * 4096);
	fx_fill_random(data + 1500 * 4096, 4096, 47);
	RANGE(1500 * 4096, 4096);
	/* the tail's last, partial block zeroed */
	memset(data + (nblocks - 1) * 4096, 0, len - (nblocks - 1) * 4096);
	RANGE((nblocks - 1) * 4096, len - (nblocks - 1) * 4096);
#undef RANGE
	free(write_src("src", data, len));
	ranges = write_src("ranges", (const uint8_t *)text, used);
	changed_matches_full(o.source, ranges, data, len, "recorded count");

	free(ranges);

	/* The parent (the changed-ranges snapshot just taken) recorded no
	 * data bytes: its leaves are counted as they are taken. */
	set_latest_data_bytes(0);
	change_block_and_match(o.source, data, len, 20, 48, "no count recorded");

	/* A count too small for what the parent has outside the leaves
	 * taken whole: the parent's map is counted instead. */
	set_latest_data_bytes(4096);
	change_block_and_match(o.source, data, len, 100, 0, "a wrong count");
	free(text);
	free((char *)o.source);
	free(data);
}

/* A sparse change: thousands of one-block ranges, several to a batch, some
 * adjacent (one run), one across a leaf boundary, one longer than a batch,
 * one ending in the partial last block. The blocks between them come from
 * the parent: the map must be the one a full read makes. */
Test(ingest, many_small_changed_ranges_match_a_full_read)
{
	size_t nblocks = 5 * 1024 + 10, len = nblocks * 4096 - 1000;
	uint8_t *data = calloc(1, len);
	struct sfs_ingest_opts o = { .volume = "v" }, f = { .volume = "full" };
	struct sfs_ingest_result a, b, full;
	struct sfs_snapshot sb, sf;
	struct sfs_txn *t;
	size_t cap = 64 * 1024, used = 0, changed = 0;
	char *text = malloc(cap), *ranges;

	fx_fill_text(data, len, 21);
	memset(data + 1024 * 4096, 0, 1024 * 4096); /* leaf 1 zero in gen 1 */
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);

#define CHANGE(off, n)                                                                  \
	do {                                                                            \
		fx_fill_random(data + (off), (n), (off) + 1);                           \
		used += (size_t)snprintf(text + used, cap - used, "%zu %zu\n", (size_t)(off), \
					 (size_t)(n));                                  \
		changed += (n);                                                         \
	} while (0)
	for (size_t blk = 3; blk < 2000; blk += 3)
		CHANGE(blk * 4096 + 7, 100); /* one block each, two unchanged between */
	CHANGE(2001 * 4096, 4096);
	CHANGE(2002 * 4096, 4096); /* adjacent: one run with the one before */
	CHANGE(2500 * 4096 + 4000, 50);
	CHANGE(2501 * 4096 + 10, 50); /* not adjacent, but in the next block */
	CHANGE(3071 * 4096 + 4000, 200); /* across the boundary of leaves 2 and 3 */
	CHANGE(3200 * 4096, 1500 * 4096); /* longer than a 4 MiB batch */
	CHANGE(len - 600, 600); /* in the partial last block */
#undef CHANGE
	free(write_src("src", data, len));
	ranges = write_src("ranges", (const uint8_t *)text, used);
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_lt(b.read_bytes, len / 2, "only the ranges were read");
	cr_assert_geq(b.read_bytes, changed);
	f.source = o.source;
	cr_assert_eq(sfs_ingest(fx_store, &f, &full), 0, "%s", full.error);

	cr_assert_eq(b.blocks, full.blocks);
	cr_assert_eq(b.zero_blocks, full.zero_blocks);
	cr_assert_eq(b.data_bytes, full.data_bytes);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, b.snap_id, &sb), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, full.snap_id, &sf), 0);
	sfs_txn_abort(t);
	cr_assert_arr_eq(sb.root.b, sf.root.b, SFS_ID_LEN, "same map as a full read");
	sfs_snapshot_release(&sb);
	sfs_snapshot_release(&sf);
	read_back(b.snap_id, data, len);
	free(ranges);
	free(text);
	free((char *)o.source);
	free(data);
}

/* A volume that grew: the ranges file lists one change inside the parent,
 * and the appended part (starting mid-block, so the parent's last block
 * changes too) must be read, not inherited as zeros. */
Test(ingest, changed_ranges_read_the_grown_part)
{
	size_t old_len = 10 * 4096 + 1000, len = 40 * 4096 + 123;
	uint8_t *data = calloc(1, len);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b;
	char text[64], *ranges;

	fx_fill_text(data, old_len, 21);
	o.source = write_src("src", data, old_len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);
	fx_fill_random(data + 2 * 4096, 100, 22);
	fx_fill_random(data + old_len, len - old_len, 23);
	free(write_src("src", data, len));
	snprintf(text, sizeof(text), "%d 100\n", 2 * 4096);
	ranges = write_src("ranges", (const uint8_t *)text, strlen(text));
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_eq(b.changed_ranges, 1);
	cr_assert_eq(b.read_bytes, 4096 + (len - 10 * 4096),
		     "the listed block and everything from the parent's last block on: %llu",
		     (unsigned long long)b.read_bytes);
	read_back(b.snap_id, data, len);
	free(ranges);
	free((char *)o.source);
	free(data);
}

/* An empty ranges file means "nothing changed": nothing is read, the
 * snapshot is the parent's data, even when the source did change. */
Test(ingest, empty_changed_ranges_read_nothing)
{
	size_t len = 20 * 4096;
	uint8_t *data = malloc(len), *old = malloc(len);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b;
	struct sfs_txn *t;
	struct sfs_snapshot sa, sb;
	char *ranges;

	fx_fill_text(data, len, 31);
	memcpy(old, data, len);
	o.source = write_src("src", data, len);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);
	/* A change the (empty) list does not report: it must not be seen. */
	fx_fill_random(data + 4096, 4096, 32);
	free(write_src("src", data, len));
	ranges = write_src("ranges", (const uint8_t *)"# nothing\n", 10);
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_eq(b.read_bytes, 0, "an empty list reads nothing, got %llu",
		     (unsigned long long)b.read_bytes);
	cr_assert_eq(b.changed_ranges, 0);
	read_back(b.snap_id, old, len);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, a.snap_id, &sa), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, b.snap_id, &sb), 0);
	sfs_txn_abort(t);
	cr_assert_arr_eq(sa.root.b, sb.root.b, SFS_ID_LEN, "the parent's very map");
	sfs_snapshot_release(&sa);
	sfs_snapshot_release(&sb);
	free(ranges);
	free((char *)o.source);
	free(data);
	free(old);
}

/* pad_to_parent (a VM's RAM or device state): a source shorter than its
 * volume is stored padded with zero blocks (whole leaves among them) to
 * the volume's size, its own length in source_size; without it, or with
 * a ranges file, it is refused. */
Test(ingest, a_shorter_source_padded_to_its_volume)
{
	size_t big = (2 * SFS_MAP_FANOUT + 37) * 4096 + 123, small = 5 * 4096 + 100;
	uint8_t *data = calloc(1, big);
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b, c;
	char *ranges;

	cr_assert_not_null(data);
	fx_fill_random(data, big, 51);
	o.source = write_src("src", data, big);
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);
	cr_assert_eq(a.source_size, big);
	free(write_src("src", data, small));
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), -ERANGE);
	o.pad_to_parent = true;
	ranges = write_src("ranges", (const uint8_t *)"0 4096\n", 7);
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), -ERANGE, "padding with a ranges file");
	o.changed_ranges = NULL;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), 0, "%s", b.error);
	cr_assert_eq(b.size, big);
	cr_assert_eq(b.source_size, small);
	cr_assert_str_eq(b.parent, a.snap_id);
	memset(data + small, 0, big - small);
	read_back(b.snap_id, data, big);
	/* The same again: nothing new. */
	cr_assert_eq(sfs_ingest(fx_store, &o, &c), 0, "%s", c.error);
	cr_assert_eq(c.size, big);
	cr_assert_eq(c.new_chunks, 0);
	read_back(c.snap_id, data, big);
	free(ranges);
	free((char *)o.source);
	free(data);
}

/* A volume cannot shrink, with or without a ranges file. */
Test(ingest, changed_ranges_on_a_shrunk_source_fail)
{
	uint8_t data[8 * 4096];
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result a, b;
	char *ranges;

	fx_fill_text(data, sizeof(data), 41);
	o.source = write_src("src", data, sizeof(data));
	cr_assert_eq(sfs_ingest(fx_store, &o, &a), 0, "%s", a.error);
	free(write_src("src", data, 4 * 4096));
	ranges = write_src("ranges", (const uint8_t *)"0 4096\n", 7);
	o.changed_ranges = ranges;
	cr_assert_eq(sfs_ingest(fx_store, &o, &b), -ERANGE);
	cr_assert(strstr(b.error, "never shrink"), "error: %s", b.error);
	free(ranges);
	free((char *)o.source);
}
