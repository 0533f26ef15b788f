// SPDX-License-Identifier: MIT
/*
 * The reader: verified reads of snapshots written through the store API,
 * SEEK_DATA/SEEK_HOLE, map walks and diffs, large sparse maps, the errors
 * that damaged packs and catalogs must produce, and concurrent readers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "snapfs/backend.h"
#include "snapfs/blockmap.h"
#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "fixture.h"
#include "store_int.h"

#define BS 4096u

TestSuite(reader, .init = fx_setup_4k, .fini = fx_teardown);

/* Content of block i of "image" seed: zero, text or random by pattern. */
static int kind(const char *pattern, uint64_t i)
{
	return pattern[i % strlen(pattern)];
}

struct image {
	uint64_t nblocks, size;
	uint8_t *bytes;
	struct sfs_snapmap map;
};

static void image_make(struct image *im, const char *pattern, uint64_t nblocks, uint64_t size,
		       uint64_t seed)
{
	const uint8_t **blocks = calloc(nblocks, sizeof(*blocks));

	im->nblocks = nblocks;
	im->size = size;
	im->bytes = calloc(nblocks, BS);
	for (uint64_t i = 0; i < nblocks; i++) {
		uint8_t *b = im->bytes + i * BS;
		switch (kind(pattern, i)) {
		case 'z':
			break;
		case 't':
			fx_fill_text(b, BS, seed * 1000 + i);
			break;
		case 'r':
			fx_fill_random(b, BS, seed * 1000 + i);
			break;
		case 'd': /* a duplicate of block 0's content */
			fx_fill_text(b, BS, 424242);
			break;
		}
		if (i == nblocks - 1 && size % BS)
			memset(b + size % BS, 0, BS - size % BS);
		blocks[i] = sfs_is_zero(b, BS) ? NULL : b;
	}
	cr_assert_eq(fx_snapshot_blocks(blocks, nblocks, size, &im->map), 0);
	free(blocks);
}

static struct sfs_reader *reader(void)
{
	struct sfs_reader *r;
	cr_assert_eq(sfs_reader_new(fx_store, 1 << 20, &r), 0);
	return r;
}

Test(reader, blocks_and_pread_round_trip)
{
	struct image im;
	struct sfs_reader *r;
	uint8_t *buf = malloc(8 * BS + 100);
	uint64_t size = 37 * BS + 1234;

	image_make(&im, "trzdtdrz", 38, size, 1);
	r = reader();
	for (uint64_t i = 0; i < im.nblocks; i++) {
		cr_assert_eq(sfs_reader_read_block(r, &im.map, i, buf), 0, "block %llu",
			     (unsigned long long)i);
		cr_assert_arr_eq(buf, im.bytes + i * BS, BS, "block %llu", (unsigned long long)i);
	}
	cr_assert_eq(sfs_reader_read_block(r, &im.map, im.nblocks, buf), -EINVAL);
	{
		struct sfs_id id;
		cr_assert_eq(sfs_reader_block_id(r, &im.map, im.nblocks, &id), -EINVAL);
		cr_assert_eq(sfs_reader_block_id(r, &im.map, UINT64_MAX, &id), -EINVAL);
		cr_assert_eq(sfs_reader_block_id(r, &im.map, 2, &id), 0);
		cr_assert(sfs_id_is_zero(&id), "pattern 'z' is a zero block");
	}
	/* Unaligned reads across block boundaries. */
	uint64_t offs[] = { 0, 1, BS - 1, BS, 3 * BS + 17, size - 5000, size - 1 };
	size_t lens[] = { 1, 100, BS, BS + 1, 3 * BS + 7, 8 * BS + 100 };
	for (size_t a = 0; a < sizeof(offs) / sizeof(offs[0]); a++) {
		for (size_t b = 0; b < sizeof(lens) / sizeof(lens[0]); b++) {
			size_t want = offs[a] + lens[b] > size ? size - offs[a] : lens[b];
			ssize_t n = sfs_reader_pread(r, &im.map, buf, lens[b], offs[a]);
			cr_assert_eq(n, (ssize_t)want, "off %llu len %zu",
				     (unsigned long long)offs[a], lens[b]);
			cr_assert_arr_eq(buf, im.bytes + offs[a], want);
		}
	}
	cr_assert_eq(sfs_reader_pread(r, &im.map, buf, 10, size), 0, "at end");
	cr_assert_eq(sfs_reader_pread(r, &im.map, buf, 10, size + BS), 0, "past end");
	cr_assert_eq(sfs_reader_pread(r, &im.map, buf, 0, 0), 0);
	{
		size_t cached;
		uint64_t hits, misses;
		sfs_reader_stats(r, &cached, &hits, &misses);
		cr_assert_gt(cached, 0);
		cr_assert_gt(hits, 0);
	}
	sfs_reader_free(r);
	sfs_reader_free(NULL);
	free(buf);
	free(im.bytes);
}

Test(reader, duplicate_blocks_are_stored_once)
{
	struct image im;
	struct sfs_txn *t;
	struct sfs_snapshot sn;
	uint64_t chunks;

	image_make(&im, "dddddddz", 64, 64 * BS, 2);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_count(t, &chunks), 0);
	cr_assert_eq(chunks, 2, "one data chunk and one map page");
	cr_assert_eq(sfs_cat_snapshot_get(t, im.map.id, &sn), 0);
	cr_assert_eq(sn.new_chunks, 2);
	sfs_snapshot_release(&sn);
	sfs_txn_abort(t);
	free(im.bytes);
}

static uint64_t expect_seek(const struct image *im, uint64_t off, int whence)
{
	for (uint64_t b = off / BS; b < im->nblocks; b++) {
		bool zero = sfs_is_zero(im->bytes + b * BS, BS);
		if (whence == SEEK_DATA ? !zero : zero) {
			uint64_t o = b * BS;
			return o > off ? o : off;
		}
	}
	return whence == SEEK_DATA ? UINT64_MAX : im->size;
}

static void check_seeks(struct sfs_reader *r, const struct image *im)
{
	for (uint64_t off = 0; off < im->size; off += BS / 2 + 1) {
		for (int w = 0; w < 2; w++) {
			int whence = w ? SEEK_HOLE : SEEK_DATA;
			uint64_t want = expect_seek(im, off, whence), got = 0;
			int ret = sfs_reader_seek(r, &im->map, off, whence, &got);
			if (want == UINT64_MAX) {
				cr_assert_eq(ret, -ENXIO, "SEEK_DATA at %llu", (unsigned long long)off);
			} else {
				cr_assert_eq(ret, 0);
				cr_assert_eq(got, want, "%s at %llu", w ? "SEEK_HOLE" : "SEEK_DATA",
					     (unsigned long long)off);
			}
		}
	}
	{
		uint64_t got;
		cr_assert_eq(sfs_reader_seek(r, &im->map, im->size, SEEK_DATA, &got), -ENXIO);
		cr_assert_eq(sfs_reader_seek(r, &im->map, im->size, SEEK_HOLE, &got), -ENXIO);
		cr_assert_eq(sfs_reader_seek(r, &im->map, 0, SEEK_SET, &got), -EINVAL);
	}
}

Test(reader, seek_data_and_hole)
{
	struct image a, b, c;
	struct sfs_reader *r;

	image_make(&a, "zztrzzzzr", 40, 40 * BS - 100, 3);
	image_make(&b, "zzzzzzzz", 16, 16 * BS, 4);
	image_make(&c, "rrrrrrt", 9, 9 * BS, 5);
	r = reader();
	check_seeks(r, &a);
	check_seeks(r, &b);
	cr_assert(sfs_id_is_zero(&b.map.root), "an all-zero volume has a zero root");
	check_seeks(r, &c);
	sfs_reader_free(r);
	free(a.bytes);
	free(b.bytes);
	free(c.bytes);
}

Test(reader, empty_snapshot)
{
	struct sfs_snapmap m;
	struct sfs_reader *r;
	uint64_t got;
	uint8_t buf[16];

	cr_assert_eq(fx_snapshot_blocks(NULL, 0, 0, &m), 0);
	cr_assert_eq(m.depth, 0);
	r = reader();
	cr_assert_eq(sfs_reader_pread(r, &m, buf, sizeof(buf), 0), 0);
	cr_assert_eq(sfs_reader_seek(r, &m, 0, SEEK_DATA, &got), -ENXIO);
	cr_assert_eq(sfs_reader_seek(r, &m, 0, SEEK_HOLE, &got), -ENXIO);
	sfs_reader_free(r);
}

/* ---- large sparse maps ---- */

struct sparse {
	uint64_t n;
	struct sfs_id data[8];
	uint64_t at[8];
	int count;
};

static void sparse_fn(void *ctx, uint64_t block, struct sfs_id *ret_id)
{
	struct sparse *s = ctx;

	memset(ret_id, 0, sizeof(*ret_id));
	for (int i = 0; i < s->count; i++)
		if (s->at[i] == block)
			*ret_id = s->data[i];
}

/* Ids of a run of blocks in one call: the same as block by block, across
 * leaves and up to the end of the map, and nothing past it. */
Test(reader, range_ids_match_block_ids)
{
	struct sparse s = { .n = 3 * 1024 + 5, .count = 5 };
	uint64_t at[5] = { 0, 1023, 1024, 2100, 3 * 1024 + 4 };
	uint64_t runs[4][2] = { { 0, 3 * 1024 + 5 }, { 1000, 100 }, { 3 * 1024, 5 }, { 1500, 0 } };
	struct sfs_id *ids = malloc((3 * 1024 + 5) * sizeof(*ids));
	struct fx_writer w;
	struct sfs_snapmap m;
	struct sfs_reader *r;
	uint8_t block[BS];

	cr_assert_eq(fx_writer_begin(&w), 0);
	for (int i = 0; i < s.count; i++) {
		s.at[i] = at[i];
		fx_fill_text(block, BS, (uint64_t)i + 5);
		cr_assert_eq(fx_writer_put(&w, SFS_CHUNK_DATA, block, BS, &s.data[i]), 0);
	}
	cr_assert_eq(fx_build_map(&w, s.n, BS, sparse_fn, &s, &m), 0);
	cr_assert_eq(fx_writer_commit(&w), 0);
	cr_assert_eq(m.depth, 2);

	r = reader();
	for (int k = 0; k < 4; k++) {
		cr_assert_eq(sfs_reader_range_ids(r, &m, runs[k][0], runs[k][1], ids), 0);
		for (uint64_t b = 0; b < runs[k][1]; b++) {
			struct sfs_id want;

			sparse_fn(&s, runs[k][0] + b, &want);
			if (memcmp(want.b, ids[b].b, SFS_ID_LEN))
				cr_assert_fail("run %d, block %llu", k,
					       (unsigned long long)(runs[k][0] + b));
		}
	}
	cr_assert_eq(sfs_reader_range_ids(r, &m, s.n - 1, 2, ids), -EINVAL);
	cr_assert_eq(sfs_reader_range_ids(r, &m, s.n + 1, 0, ids), -EINVAL);
	cr_assert_eq(sfs_reader_range_ids(r, &m, 1, UINT64_MAX, ids), -EINVAL);
	sfs_reader_free(r);
	free(ids);
}

Test(reader, three_level_map_every_block, .timeout = 120)
{
	struct sparse s = { .n = 1024 * 1024 + 1, .count = 6 };
	uint64_t at[6] = { 0, 1023, 1024, 500000, 1024 * 1024 - 1, 1024 * 1024 };
	struct fx_writer w;
	struct sfs_snapmap m;
	struct sfs_reader *r;
	uint8_t block[BS], buf[BS];

	cr_assert_eq(fx_writer_begin(&w), 0);
	for (int i = 0; i < s.count; i++) {
		s.at[i] = at[i];
		fx_fill_text(block, BS, (uint64_t)i + 77);
		cr_assert_eq(fx_writer_put(&w, SFS_CHUNK_DATA, block, BS, &s.data[i]), 0);
	}
	cr_assert_eq(fx_build_map(&w, s.n, BS, sparse_fn, &s, &m), 0);
	cr_assert_eq(fx_writer_commit(&w), 0);
	cr_assert_eq(m.depth, 3);

	r = reader();
	for (uint64_t b = 0; b < s.n; b++) {
		struct sfs_id want, got;
		sparse_fn(&s, b, &want);
		cr_assert_eq(sfs_reader_block_id(r, &m, b, &got), 0);
		if (memcmp(want.b, got.b, SFS_ID_LEN))
			cr_assert_fail("block %llu", (unsigned long long)b);
	}
	for (int i = 0; i < s.count; i++) {
		fx_fill_text(block, BS, (uint64_t)i + 77);
		cr_assert_eq(sfs_reader_read_block(r, &m, s.at[i], buf), 0);
		cr_assert_arr_eq(buf, block, BS);
	}
	/* Seeks hop over whole zero subtrees. */
	{
		uint64_t got;
		cr_assert_eq(sfs_reader_seek(r, &m, 1025 * BS, SEEK_DATA, &got), 0);
		cr_assert_eq(got, 500000ull * BS);
		cr_assert_eq(sfs_reader_seek(r, &m, 500000ull * BS + 1, SEEK_DATA, &got), 0);
		cr_assert_eq(got, 500000ull * BS + 1, "inside a data block");
		cr_assert_eq(sfs_reader_seek(r, &m, 500001ull * BS, SEEK_DATA, &got), 0);
		cr_assert_eq(got, (1024ull * 1024 - 1) * BS);
		cr_assert_eq(sfs_reader_seek(r, &m, 0, SEEK_HOLE, &got), 0);
		cr_assert_eq(got, BS);
		cr_assert_eq(sfs_reader_seek(r, &m, 1023ull * BS, SEEK_HOLE, &got), 0);
		cr_assert_eq(got, 1025ull * BS);
		cr_assert_eq(sfs_reader_seek(r, &m, 1024ull * 1024 * BS, SEEK_HOLE, &got), 0);
		cr_assert_eq(got, m.size, "the last block is data; the hole is at the end");
	}
	sfs_reader_free(r);
}

/* ---- walk ---- */

struct walk_ctx {
	int pages, leaves, skipped;
	struct sfs_id seen[64];
	int nseen;
};

static int walk_cb(void *ctx, int level, uint64_t first, const struct sfs_id *id)
{
	struct walk_ctx *w = ctx;

	(void)first;
	if (level < 0) {
		w->leaves++;
		return 0;
	}
	for (int i = 0; i < w->nseen; i++) {
		if (!memcmp(w->seen[i].b, id->b, SFS_ID_LEN)) {
			w->skipped++;
			return 1;
		}
	}
	if (w->nseen < 64)
		w->seen[w->nseen++] = *id;
	w->pages++;
	return 0;
}

Test(reader, walk_counts_pages_and_blocks)
{
	/* 2049+ blocks: a root and three leaves; the pattern makes leaves 0
	 * and 1 identical? No: text blocks differ by index. */
	struct image im;
	struct sfs_reader *r;
	struct walk_ctx w = { 0 };
	int nonzero = 0;

	image_make(&im, "zzzzzzzzzzzzzzzzzzzt", 2100, 2100 * BS, 6);
	for (uint64_t i = 0; i < im.nblocks; i++)
		nonzero += !sfs_is_zero(im.bytes + i * BS, BS);
	r = reader();
	cr_assert_eq(sfs_reader_walk(r, &im.map, true, walk_cb, &w), 0);
	cr_assert_eq(w.pages, 4, "root and three leaves");
	cr_assert_eq(w.leaves, nonzero);
	memset(&w, 0, sizeof(w));
	cr_assert_eq(sfs_reader_walk(r, &im.map, false, walk_cb, &w), 0);
	cr_assert_eq(w.pages, 4);
	cr_assert_eq(w.leaves, 0);
	/* A second walk with the pages already seen descends nowhere. */
	w.pages = 0;
	cr_assert_eq(sfs_reader_walk(r, &im.map, true, walk_cb, &w), 0);
	cr_assert_eq(w.pages, 0);
	cr_assert_eq(w.skipped, 1, "the root is seen, so its children are skipped");
	sfs_reader_free(r);
	free(im.bytes);
}

/* ---- diff ---- */

#define MAX_RANGES 4096

struct ranges {
	uint64_t first[MAX_RANGES], n[MAX_RANGES];
	int count;
};

static int diff_cb(void *ctx, uint64_t first, uint64_t n)
{
	struct ranges *r = ctx;
	cr_assert_lt(r->count, MAX_RANGES);
	if (r->count)
		cr_assert_gt(first, r->first[r->count - 1] + r->n[r->count - 1],
			     "ranges in order and coalesced");
	r->first[r->count] = first;
	r->n[r->count] = n;
	r->count++;
	return 0;
}

static void expect_diff(const struct image *a, const struct image *b, struct ranges *want)
{
	uint64_t n = a->nblocks > b->nblocks ? a->nblocks : b->nblocks;

	memset(want, 0, sizeof(*want));
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *pa = i < a->nblocks ? a->bytes + i * BS : NULL;
		const uint8_t *pb = i < b->nblocks ? b->bytes + i * BS : NULL;
		bool za = !pa || sfs_is_zero(pa, BS), zb = !pb || sfs_is_zero(pb, BS);
		bool differ = za != zb || (!za && memcmp(pa, pb, BS) != 0);
		if (!differ)
			continue;
		if (want->count && want->first[want->count - 1] + want->n[want->count - 1] == i) {
			want->n[want->count - 1]++;
		} else {
			cr_assert_lt(want->count, MAX_RANGES);
			want->first[want->count] = i;
			want->n[want->count] = 1;
			want->count++;
		}
	}
}

static void check_diff(struct sfs_reader *r, const struct image *a, const struct image *b)
{
	struct ranges *got = calloc(1, sizeof(*got)), *want = calloc(1, sizeof(*want));
	int ret;

	expect_diff(a, b, want);
	ret = sfs_reader_diff(r, &a->map, &b->map, diff_cb, got);
	cr_assert_eq(ret, 0, "diff: %d", ret);
	cr_assert_eq(got->count, want->count, "%d ranges, expected %d", got->count, want->count);
	for (int i = 0; i < want->count; i++) {
		cr_assert_eq(got->first[i], want->first[i], "range %d", i);
		cr_assert_eq(got->n[i], want->n[i], "range %d", i);
	}
	free(got);
	free(want);
}

Test(reader, diff_of_two_maps)
{
	struct image a, b;
	struct sfs_reader *r;
	uint64_t n = 3000;

	image_make(&a, "tzt", n, n * BS, 7);
	/* b: a copy of a with scattered changes, some to zero, some from zero,
	 * and a run that spans a leaf boundary. */
	b.nblocks = n;
	b.size = n * BS;
	b.bytes = malloc(n * BS);
	memcpy(b.bytes, a.bytes, n * BS);
	fx_fill_random(b.bytes + 5 * BS, BS, 1);        /* data -> other data */
	memset(b.bytes + 6 * BS, 0, BS);                 /* data -> zero */
	fx_fill_random(b.bytes + 1 * BS, BS, 2);        /* zero -> data */
	for (uint64_t i = 1020; i < 1030; i++)
		fx_fill_random(b.bytes + i * BS, BS, i); /* across leaves */
	fx_fill_random(b.bytes + (n - 1) * BS, BS, 3);
	{
		const uint8_t **blocks = calloc(n, sizeof(*blocks));
		for (uint64_t i = 0; i < n; i++)
			blocks[i] = sfs_is_zero(b.bytes + i * BS, BS) ? NULL : b.bytes + i * BS;
		cr_assert_eq(fx_snapshot_blocks(blocks, n, n * BS, &b.map), 0);
		free(blocks);
	}
	r = reader();
	check_diff(r, &a, &b);
	check_diff(r, &b, &a);
	{
		struct ranges *none = calloc(1, sizeof(*none));
		cr_assert_eq(sfs_reader_diff(r, &a.map, &a.map, diff_cb, none), 0);
		cr_assert_eq(none->count, 0, "a map does not differ from itself");
		free(none);
	}
	sfs_reader_free(r);
	free(a.bytes);
	free(b.bytes);
}

Test(reader, diff_of_maps_of_different_depth)
{
	struct image a, b;
	struct sfs_reader *r;

	image_make(&a, "trz", 1000, 1000 * BS, 8);   /* depth 1 */
	image_make(&b, "trz", 2500, 2500 * BS, 8);   /* depth 2, same first 1000 */
	cr_assert_eq(a.map.depth, 1);
	cr_assert_eq(b.map.depth, 2);
	r = reader();
	check_diff(r, &a, &b);
	check_diff(r, &b, &a);
	{
		struct sfs_snapmap odd = a.map;
		struct ranges *none = calloc(1, sizeof(*none));
		odd.block_size = 8192;
		cr_assert_eq(sfs_reader_diff(r, &a.map, &odd, diff_cb, none), -EINVAL);
		free(none);
	}
	sfs_reader_free(r);
	free(a.bytes);
	free(b.bytes);
}

/* ---- damage ---- */

static struct sfs_chunk_loc loc_of(const struct sfs_id *id)
{
	struct sfs_txn *t;
	struct sfs_chunk_loc l;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_get(t, id, &l), 0);
	sfs_txn_abort(t);
	return l;
}

static void quiet(void)
{
	sfs_log_set_level(0);
}

Test(reader, flipped_data_byte_is_ebadmsg)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_id id;
	uint8_t buf[BS];
	int what;

	quiet();
	image_make(&im, "tr", 10, 10 * BS, 9);
	for (what = 0; what < 2; what++) {
		uint64_t blk = 4 + (uint64_t)what; /* 4: compressed text, 5: raw random */
		struct sfs_chunk_loc l;

		r = reader();
		cr_assert_eq(sfs_reader_block_id(r, &im.map, blk, &id), 0);
		l = loc_of(&id);
		cr_assert_eq(l.comp & SFS_COMP_MASK, what ? SFS_COMP_NONE : SFS_COMP_ZSTD);
		cr_assert(l.comp & SFS_COMP_SUMMED, "a version 2 store sums its records");
		fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len / 2, 0x01);
		cr_assert_eq(sfs_reader_read_block(r, &im.map, blk, buf), -EBADMSG);
		cr_assert_eq(sfs_reader_pread(r, &im.map, buf, 10, blk * BS + 5), -EBADMSG);
		cr_assert_eq(sfs_reader_prefetch(r, &im.map, blk), -EBADMSG);
		cr_assert_eq(sfs_store_chunk_read(fx_store, &id, SFS_CHUNK_DATA, NULL, buf, BS,
						  NULL, NULL),
			     -EBADMSG);
		cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, &l, buf, BS, NULL, NULL),
			     -EBADMSG, "at a known location too");
		/* Neighbours are still good. */
		cr_assert_eq(sfs_reader_read_block(r, &im.map, blk + 2, buf), 0);
		cr_assert_arr_eq(buf, im.bytes + (blk + 2) * BS, BS);
		sfs_reader_free(r);
	}
	free(im.bytes);
}

Test(reader, flipped_record_header_is_ebadmsg)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_id id;
	struct sfs_chunk_loc l;
	uint8_t buf[BS];

	quiet();
	image_make(&im, "t", 4, 4 * BS, 10);
	r = reader();
	cr_assert_eq(sfs_reader_block_id(r, &im.map, 2, &id), 0);
	l = loc_of(&id);
	fx_pack_flip(l.pack, l.offset + 12, 0x01); /* stored_len */
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 2, buf), -EBADMSG);
	sfs_reader_free(r);
	free(im.bytes);
}

Test(reader, flipped_map_page_is_ebadmsg)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_chunk_loc l;
	uint8_t buf[BS];
	uint64_t got;

	quiet();
	image_make(&im, "tz", 2000, 2000 * BS, 11);
	cr_assert_eq(im.map.depth, 2);
	l = loc_of(&im.map.root);
	cr_assert_eq(l.type, SFS_CHUNK_MAP);
	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len - 1, 0x01);
	r = reader();
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 0, buf), -EBADMSG);
	cr_assert_eq(sfs_reader_pread(r, &im.map, buf, BS, 1500 * BS), -EBADMSG);
	cr_assert_eq(sfs_reader_seek(r, &im.map, 0, SEEK_HOLE, &got), -EBADMSG);
	{
		struct walk_ctx w = { 0 };
		cr_assert_eq(sfs_reader_walk(r, &im.map, true, walk_cb, &w), -EBADMSG);
	}
	sfs_reader_free(r);
	free(im.bytes);
}

Test(reader, missing_chunk_or_pack_is_euclean)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_id id;
	struct sfs_txn *t;
	uint8_t buf[BS];

	quiet();
	image_make(&im, "t", 8, 8 * BS, 12);
	r = reader();
	cr_assert_eq(sfs_reader_block_id(r, &im.map, 3, &id), 0);
	sfs_reader_free(r);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_del(t, &id), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	r = reader();
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 3, buf), -EUCLEAN);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, NULL, buf, BS, NULL, NULL), -EUCLEAN);
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 4, buf), 0);
	sfs_reader_free(r);

	/* The pack itself gone (a fresh store handle has no cached fd). */
	{
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/packs/0000000000000001.pack", fx_dir);
		cr_assert_eq(unlink(path), 0);
	}
	fx_reopen(false);
	r = reader();
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 4, buf), -EUCLEAN);
	sfs_reader_free(r);
	free(im.bytes);
}

/* A location that points at another chunk's record (a damaged catalog)
 * is caught by the record's id. */
Test(reader, location_pointing_elsewhere_is_ebadmsg)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_id a, b;
	struct sfs_txn *t;
	uint8_t buf[BS];

	quiet();
	image_make(&im, "r", 4, 4 * BS, 13);
	r = reader();
	cr_assert_eq(sfs_reader_block_id(r, &im.map, 1, &a), 0);
	cr_assert_eq(sfs_reader_block_id(r, &im.map, 2, &b), 0);
	sfs_reader_free(r);
	{
		struct sfs_chunk_loc lb = loc_of(&b);
		cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
		cr_assert_eq(sfs_cat_chunk_put(t, &a, &lb), 0);
		cr_assert_eq(sfs_txn_commit(t), 0);
	}
	r = reader();
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 1, buf), -EBADMSG);
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 2, buf), 0);
	sfs_reader_free(r);
	free(im.bytes);
}

/* ---- concurrency ---- */

struct rthr {
	struct sfs_reader *r;
	const struct image *im;
	uint64_t seed;
	int bad;
};

static void *rworker(void *p)
{
	struct rthr *t = p;
	uint8_t *buf = malloc(3 * BS);
	uint64_t s = t->seed;

	for (int i = 0; i < 3000; i++) {
		uint64_t off, len;
		ssize_t n;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		off = (s >> 20) % t->im->size;
		len = (s >> 8) % (3 * BS) + 1;
		n = sfs_reader_pread(t->r, &t->im->map, buf, len, off);
		if (n < 0 || (uint64_t)n != (off + len > t->im->size ? t->im->size - off : len) ||
		    memcmp(buf, t->im->bytes + off, (size_t)n) != 0) {
			t->bad++;
			break;
		}
	}
	free(buf);
	return NULL;
}

Test(reader, concurrent_readers, .timeout = 120)
{
	struct image im;
	struct sfs_reader *r;
	pthread_t th[6];
	struct rthr t[6];

	image_make(&im, "trzttr", 600, 600 * BS - 7, 14);
	/* A cache far smaller than the image: constant eviction. */
	cr_assert_eq(sfs_reader_new(fx_store, 64 * BS, &r), 0);
	for (int i = 0; i < 6; i++) {
		t[i] = (struct rthr){ r, &im, (uint64_t)i + 1, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, rworker, &t[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].bad, 0, "thread %d read wrong bytes", i);
	}
	sfs_reader_free(r);
	free(im.bytes);
}

/* ---- single-flight fills and parallel reads ---- */

static uint64_t decodes(void)
{
	struct sfs_chunk_stats cs;

	sfs_store_chunk_stats(fx_store, &cs);
	return cs.decodes;
}

struct sf_thr {
	struct sfs_reader *r;
	const struct image *im;
	pthread_barrier_t *go;
	uint64_t block;
	ssize_t ret;
	uint8_t buf[BS];
};

static void *sf_worker(void *p)
{
	struct sf_thr *t = p;

	pthread_barrier_wait(t->go);
	t->ret = sfs_reader_pread(t->r, &t->im->map, t->buf, BS, t->block * BS);
	return NULL;
}

/* Runs n threads that read block `block` at once. */
static void read_together(struct sfs_reader *r, const struct image *im, uint64_t block,
			  struct sf_thr *t, int n)
{
	pthread_barrier_t go;
	pthread_t th[16];

	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		t[i] = (struct sf_thr){ .r = r, .im = im, .go = &go, .block = block };
		cr_assert_eq(pthread_create(&th[i], NULL, sf_worker, &t[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
}

/* Many readers that miss the same block at once cost one decode, every
 * time: the others wait for it instead of decoding it again. */
Test(reader, concurrent_misses_decode_once, .timeout = 60)
{
	static struct sf_thr t[8];
	struct image im;
	struct sfs_reader *r;

	image_make(&im, "tr", 64, 64 * BS, 21);
	r = reader();
	/* Map pages first, so that only data blocks are decoded below. */
	cr_assert_eq(sfs_reader_pread(r, &im.map, t[0].buf, 1, 0), 1);
	for (uint64_t b = 1; b < im.nblocks; b++) {
		uint64_t before = decodes();

		read_together(r, &im, b, t, 8);
		for (int i = 0; i < 8; i++) {
			cr_assert_eq(t[i].ret, (ssize_t)BS, "block %llu thread %d",
				     (unsigned long long)b, i);
			cr_assert_arr_eq(t[i].buf, im.bytes + b * BS, BS);
		}
		cr_assert_eq(decodes() - before, 1, "block %llu decoded %llu times",
			     (unsigned long long)b, (unsigned long long)(decodes() - before));
	}
	sfs_reader_free(r);
	free(im.bytes);
}

/* A block that fails verification fails for every reader that waited for
 * it, and the failure is not cached: the next read decodes it again. */
Test(reader, corrupted_block_fails_every_waiter_and_is_not_cached, .timeout = 60)
{
	static struct sf_thr t[8];
	struct image im;
	struct sfs_reader *r;
	struct sfs_chunk_loc l;
	struct sfs_id id;
	uint64_t before, hits, misses;
	size_t cached, cached_after;

	quiet();
	image_make(&im, "t", 8, 8 * BS, 22);
	r = reader();
	cr_assert_eq(sfs_reader_block_id(r, &im.map, 5, &id), 0);
	l = loc_of(&id);
	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len / 2, 0x01);
	sfs_reader_stats(r, &cached, &hits, &misses);
	before = decodes();
	read_together(r, &im, 5, t, 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(t[i].ret, -EBADMSG, "thread %d", i);
	cr_assert_geq(decodes() - before, 1);
	sfs_reader_stats(r, &cached_after, &hits, &misses);
	cr_assert_eq(cached_after, cached, "nothing of the bad block is cached");
	before = decodes();
	cr_assert_eq(sfs_reader_pread(r, &im.map, t[0].buf, BS, 5 * BS), -EBADMSG);
	cr_assert_eq(decodes() - before, 1, "the error was not cached");
	/* The neighbours still read. */
	cr_assert_eq(sfs_reader_pread(r, &im.map, t[0].buf, BS, 4 * BS), (ssize_t)BS);
	cr_assert_arr_eq(t[0].buf, im.bytes + 4 * BS, BS);
	sfs_reader_free(r);
	free(im.bytes);
}

/* A record that fails its checks after coming from a pack span is read
 * again from the disk: the span may be older than the pack (another
 * process cut its tail after a crash and wrote other records there), and
 * the disk may hold the good bytes. */
Test(reader, a_bad_record_from_a_span_is_read_again_from_disk)
{
	struct sfs_backend *b = sfs_store_backend(fx_store);
	struct image im;
	struct sfs_reader *r;
	struct sfs_chunk_loc l;
	struct sfs_id id;
	uint8_t buf[BS];
	uint64_t spans, flip;

	quiet();
	image_make(&im, "r", 512, 512 * BS, 31); /* 2 MiB of records */
	r = reader();
	for (uint64_t i = 0; i < im.nblocks; i++)
		cr_assert_eq(sfs_reader_read_block(r, &im.map, i, buf), 0);
	cr_assert_gt(sfs_backend_local_spans_read(b), 0, "an ordered walk reads the pack in spans");
	cr_assert_eq(sfs_reader_block_id(r, &im.map, 400, &id), 0);
	sfs_reader_free(r);
	l = loc_of(&id);
	flip = l.offset + SFS_REC_HEADER_LEN + l.stored_len / 2;

	/* A second walk reads the damage into a span... */
	fx_pack_flip(l.pack, flip, 0x01);
	r = reader();
	for (uint64_t i = 0; i < 400; i++)
		cr_assert_eq(sfs_reader_read_block(r, &im.map, i, buf), 0);
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 400, buf), -EBADMSG);
	/* ...which the disk no longer has. */
	fx_pack_flip_on_disk(l.pack, flip, 0x01);
	spans = sfs_backend_local_spans_read(b);
	cr_assert_eq(sfs_reader_read_block(r, &im.map, 400, buf), 0);
	cr_assert_arr_eq(buf, im.bytes + 400 * BS, BS);
	cr_assert_gt(sfs_backend_local_spans_read(b), spans, "the read came through a span");
	sfs_reader_free(r);
	free(im.bytes);
}

/* With decode workers running, large reads and a stream's sequential
 * reads return exactly the image's bytes across block boundaries, holes
 * and the unaligned end, and every block is decoded once. */
Test(reader, parallel_and_stream_reads_are_byte_exact, .timeout = 120)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_reader_stream *st;
	uint64_t size = 1100 * BS - 123, before;
	uint8_t *buf = malloc(300 * BS);
	static const size_t lens[] = { 1, BS - 1, 2 * BS + 3, 37 * BS + 5, 200 * BS, 300 * BS };

	image_make(&im, "trzzdtrzt", 1100, size, 23);
	cr_assert_eq(sfs_reader_new(fx_store, 4096 * BS, &r), 0);
	cr_assert_eq(sfs_reader_start_readahead(r, 3, 64 * BS), 0);
	cr_assert_eq(sfs_reader_start_readahead(r, 3, 64 * BS), -EBUSY);
	cr_assert_eq(sfs_reader_stream_new(r, &st), 0);
	before = decodes();
	for (uint64_t off = 0; off < size;) {
		size_t len = lens[(off / BS) % 6];
		ssize_t want = (ssize_t)(off + len > size ? size - off : len);
		ssize_t n = sfs_reader_stream_pread(st, &im.map, buf, len, off);

		cr_assert_eq(n, want, "off %llu len %zu", (unsigned long long)off, len);
		cr_assert_arr_eq(buf, im.bytes + off, (size_t)n, "off %llu", (unsigned long long)off);
		off += (uint64_t)n;
	}
	/* 8 distinct kinds of content per 9 blocks ("d" repeats block 0,
	 * "z" is a hole), plus map pages: each decoded once, workers or not. */
	cr_assert_leq(decodes() - before, 1100 * 6 / 9 + 2 + 8, "decodes %llu",
		      (unsigned long long)(decodes() - before));
	for (uint64_t off = 3; off < size; off += 97 * BS + 11) {
		size_t len = 300 * BS;
		ssize_t want = (ssize_t)(off + len > size ? size - off : len);

		cr_assert_eq(sfs_reader_pread(r, &im.map, buf, len, off), want);
		cr_assert_arr_eq(buf, im.bytes + off, (size_t)want);
	}
	sfs_reader_stream_free(st);
	sfs_reader_free(r);
	free(buf);
	free(im.bytes);
}

/* Gathers a vec's spans into buf; returns the bytes gathered. */
static size_t gather(const struct sfs_reader_vec *v, uint8_t *buf)
{
	size_t n = 0;

	for (size_t i = 0; i < v->niov; i++) {
		memcpy(buf + n, v->iov[i].iov_base, v->iov[i].iov_len);
		n += v->iov[i].iov_len;
	}
	return n;
}

/* Vector reads hand out the cache's own entries: the spans hold the
 * file's bytes (zero blocks included) even while a cache far smaller
 * than the read evicts them. */
Test(reader, vector_reads_pin_entries_and_are_byte_exact, .timeout = 60)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_reader_stream *st;
	struct sfs_reader_vec v;
	uint64_t size = 200 * BS - 77;
	uint8_t *buf = malloc(40 * BS);
	static const size_t lens[] = { 1, BS - 1, 2 * BS + 3, 7 * BS + 5, 33 * BS };
	size_t cached;
	uint64_t hits, misses;

	image_make(&im, "trzdtz", 200, size, 61);
	cr_assert_eq(sfs_reader_new(fx_store, 4 * BS, &r), 0);
	cr_assert_eq(sfs_reader_start_readahead(r, 2, 16 * BS), 0);
	cr_assert_eq(sfs_reader_stream_new(r, &st), 0);
	sfs_reader_vec_init(&v, r);
	for (uint64_t off = 5; off < size;) {
		size_t len = lens[(off / BS) % 5];
		ssize_t want = (ssize_t)(off + len > size ? size - off : len);
		ssize_t n = sfs_reader_stream_preadv(st, &im.map, len, off, &v);

		cr_assert_eq(n, want, "off %llu len %zu", (unsigned long long)off, len);
		cr_assert_eq(gather(&v, buf), (size_t)n);
		cr_assert_arr_eq(buf, im.bytes + off, (size_t)n, "off %llu", (unsigned long long)off);
		sfs_reader_vec_release(&v);
		off += (uint64_t)n;
	}
	cr_assert_eq(sfs_reader_stream_preadv(st, &im.map, 10, size, &v), 0, "at end");
	cr_assert_eq(v.niov, 0);
	sfs_reader_vec_release(&v);
	sfs_reader_stats(r, &cached, &hits, &misses);
	/* About 100 distinct blocks (the 33 "d" blocks share one content):
	 * more misses than that, so blocks left the cache while read. */
	cr_assert_gt(misses, 120, "the cache, far smaller than a read, evicted throughout");
	sfs_reader_stream_free(st);
	sfs_reader_free(r);
	free(buf);
	free(im.bytes);
}

/* A sequential stream's vector reads hand back the blocks they used up:
 * with a cache that could hold the whole image, it ends up holding a few
 * blocks per shard and the readahead window, every byte still exact and
 * each block decoded about once. A hole skipped with
 * sfs_reader_stream_skip keeps the run sequential, readahead included. */
Test(reader, sequential_vector_reads_leave_little_cached, .timeout = 60)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_reader_stream *st;
	struct sfs_reader_vec v;
	uint64_t n_blocks = 4000, size = n_blocks * BS, before;
	uint8_t *buf = malloc(16 * BS);
	size_t cached;
	uint64_t chits, cmisses;

	/* 100 blocks of text or random data, then 60 holes (more than a
	 * sequential reader may jump without skip), and again */
	char pattern[161];
	for (int i = 0; i < 160; i++)
		pattern[i] = i >= 100 ? 'z' : i % 3 ? 't' : 'r';
	pattern[160] = '\0';
	image_make(&im, pattern, n_blocks, size, 83);
	cr_assert_eq(sfs_reader_new(fx_store, 1024 * BS, &r), 0);
	cr_assert_eq(sfs_reader_start_readahead(r, 2, 16 * BS), 0);
	cr_assert_eq(sfs_reader_stream_new(r, &st), 0);
	sfs_reader_vec_init(&v, r);
	before = decodes();
	for (uint64_t off = 0; off < size;) {
		/* Reads of 8 blocks, and now and then one that stops inside a
		 * block, which the next read starts with. */
		size_t len = (off / BS) % 50 == 7 ? 3 * BS + 100 : 8 * BS;
		ssize_t want = (ssize_t)(off + len > size ? size - off : len);
		uint64_t hole_at = off / BS % 160;
		ssize_t n;

		if (hole_at >= 100) { /* skip the holes, as a restore does */
			off += (160 - hole_at) * BS;
			sfs_reader_stream_skip(st, off);
			continue;
		}
		n = sfs_reader_stream_preadv(st, &im.map, len, off, &v);
		cr_assert_eq(n, want, "off %llu len %zu", (unsigned long long)off, len);
		cr_assert_eq(gather(&v, buf), (size_t)n);
		cr_assert_arr_eq(buf, im.bytes + off, (size_t)n, "off %llu", (unsigned long long)off);
		sfs_reader_vec_release(&v);
		off += (uint64_t)n;
	}
	sfs_reader_stats(r, &cached, &chits, &cmisses);
	/* The run's first half cache (512 blocks, some 820 of the image's,
	 * holes included), then the window and a block read into, and a few
	 * a late job decoded again; without used-up blocks leaving, or had a
	 * skip started the run over (and its half cache again), the cache
	 * would be full (1024 blocks). */
	cr_assert_leq(cached, (512 + 16 + 1 + 32) * (uint64_t)BS, "%zu blocks still cached",
		      cached / BS);
	/* 2500 data blocks, and map pages; a late job may decode a few again */
	cr_assert_leq(decodes() - before, 2500 + 60, "decodes %llu",
		      (unsigned long long)(decodes() - before));
	sfs_reader_stream_free(st);
	sfs_reader_free(r);
	free(buf);
	free(im.bytes);
}

/*
 * A stream that jumps around a snapshot (a VM's disk, a random-read
 * benchmark) has the catalog read ahead after SCATTERED_CATALOG (64)
 * reads that continue no run, as a sequential one has once its window is
 * full: its lookups land all over the catalog, which is mapped without
 * readahead and would otherwise cost a cold read per page.
 */
Test(reader, scattered_reads_read_the_catalog_ahead, .timeout = 120)
{
	struct image im;
	struct sfs_reader *r;
	struct sfs_reader_stream *st;
	uint64_t n_blocks = 20000, size = n_blocks * BS, s = 7;
	char pattern[2] = "t";
	uint8_t buf[64];
	size_t pages, in;

	image_make(&im, pattern, n_blocks, size, 91);
	fx_reopen_catalog_cold();
	in = fx_catalog_resident(&pages);
	cr_assert_gt(pages, 200, "catalog of %zu pages", pages);

	cr_assert_eq(sfs_reader_new(fx_store, 1024 * BS, &r), 0);
	cr_assert_eq(sfs_reader_start_readahead(r, 2, 16 * BS), 0);
	cr_assert_eq(sfs_reader_stream_new(r, &st), 0);
	for (int i = 0; i < 64; i++) {
		uint64_t off;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		off = (s >> 20) % (size - sizeof(buf));
		cr_assert_eq(sfs_reader_stream_pread(st, &im.map, buf, sizeof(buf), off),
			     (ssize_t)sizeof(buf));
		cr_assert_arr_eq(buf, im.bytes + off, sizeof(buf), "off %llu",
				 (unsigned long long)off);
		if (i == 62) {
			/* their own lookups fault in only a part of it */
			in = fx_catalog_resident(&pages);
			cr_assert_lt(in, pages / 2, "%zu of %zu pages resident after 63 reads", in,
				     pages);
		}
	}
	/* the readahead completes in the background: wait for it */
	for (int i = 0; i < 1000 && (in = fx_catalog_resident(&pages)) < pages * 9 / 10; i++)
		usleep(10 * 1000);
	cr_assert_geq(in, pages * 9 / 10, "%zu of %zu pages resident after 64 scattered reads",
		      in, pages);
	sfs_reader_stream_free(st);
	sfs_reader_free(r);
	free(im.bytes);
}
