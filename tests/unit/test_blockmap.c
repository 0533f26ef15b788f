// SPDX-License-Identifier: MIT
/*
 * Block maps: depth arithmetic, page decoding and its bounds checks, and
 * the builder for maps of 1, 1024, 1025 and 1024*1024+1 blocks, checked by
 * looking up every block in the pages it stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "snapfs/blockmap.h"
#include "fixture.h"

Test(blockmap, depth_and_slot)
{
	cr_assert_eq(sfs_map_depth(0), 0);
	cr_assert_eq(sfs_map_depth(1), 1);
	cr_assert_eq(sfs_map_depth(1024), 1);
	cr_assert_eq(sfs_map_depth(1025), 2);
	cr_assert_eq(sfs_map_depth(1024 * 1024), 2);
	cr_assert_eq(sfs_map_depth(1024 * 1024 + 1), 3);
	cr_assert_eq(sfs_map_depth(1ull << 30), 3);
	cr_assert_eq(sfs_map_depth((1ull << 30) + 1), 4);
	/* The largest volume a snapshot record allows (2^56 bytes) in the
	 * smallest blocks: 2^44 blocks, five levels. */
	cr_assert_eq(sfs_map_depth(1ull << 44), 5);
	cr_assert_eq(sfs_map_depth((1ull << 50) + 1), 6);
	cr_assert_eq(sfs_map_slot(0, 0), 0);
	cr_assert_eq(sfs_map_slot(1023, 0), 1023);
	cr_assert_eq(sfs_map_slot(1024, 0), 0);
	cr_assert_eq(sfs_map_slot(1024, 1), 1);
	cr_assert_eq(sfs_map_slot(1024 * 1024 + 5, 2), 1);
	cr_assert_eq(sfs_map_slot(1024 * 1024 + 5, 1), 0);
	cr_assert_eq(sfs_map_slot(1024 * 1024 + 5, 0), 5);
}

/* ---- an in-memory page store ---- */

struct page {
	struct sfs_id id;
	size_t len;
	uint8_t *bytes;
};

struct mem {
	struct page pages[4096];
	size_t n;
	size_t calls;
	int fail_after; /* return -EIO on the nth call, when > 0 */
};

/* Names pages by their SHA-256, as the store's id function does. */
static int mem_store(void *ctx, const void *page, size_t len, struct sfs_id *ret_id)
{
	struct mem *m = ctx;
	const struct sfs_id *id = ret_id;

	m->calls++;
	if (m->fail_after > 0 && (int)m->calls == m->fail_after)
		return -EIO;
	sfs_chunk_hash(page, len, ret_id);
	cr_assert_leq(len, SFS_MAP_PAGE_MAX);
	for (size_t i = 0; i < m->n; i++) {
		if (!memcmp(m->pages[i].id.b, id->b, SFS_ID_LEN)) {
			cr_assert_eq(m->pages[i].len, len);
			cr_assert_arr_eq(m->pages[i].bytes, page, len, "equal ids, equal bytes");
			return 0;
		}
	}
	cr_assert_lt(m->n, 4096);
	m->pages[m->n].id = *id;
	m->pages[m->n].len = len;
	m->pages[m->n].bytes = malloc(len);
	memcpy(m->pages[m->n].bytes, page, len);
	m->n++;
	return 0;
}

static void mem_free(struct mem *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->pages[i].bytes);
	m->n = 0;
}

static const struct page *mem_get(const struct mem *m, const struct sfs_id *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (!memcmp(m->pages[i].id.b, id->b, SFS_ID_LEN))
			return &m->pages[i];
	return NULL;
}

/* Looks block up through the stored pages, decoding each. */
static struct sfs_id lookup(const struct mem *m, struct sfs_id root, uint32_t depth, uint64_t block)
{
	struct sfs_id id = root;

	for (uint32_t lvl = depth; lvl-- > 0;) {
		const struct page *p;
		struct sfs_map_page mp;
		uint32_t slot;

		if (sfs_id_is_zero(&id))
			return id;
		p = mem_get(m, &id);
		cr_assert_not_null(p, "page at level %u for block %llu is stored", lvl,
				   (unsigned long long)block);
		cr_assert_eq(sfs_map_page_decode(p->bytes, p->len, &mp), 0);
		cr_assert_eq(mp.level, lvl);
		slot = sfs_map_slot(block, lvl);
		if (slot < mp.count)
			id = mp.ids[slot];
		else
			memset(&id, 0, sizeof(id));
	}
	return id;
}

/* Block i is non-zero for a sparse, deterministic set of blocks. */
static bool sparse_nonzero(uint64_t i, uint64_t n)
{
	return i == 0 || i == n - 1 || i == 1023 || i == 1024 || i % 99991 == 7 || i == n / 2;
}

static struct sfs_id block_id(uint64_t i, uint64_t n)
{
	struct sfs_id id = { 0 };

	if (sparse_nonzero(i, n)) {
		uint64_t v = i + 1;
		memcpy(id.b, &v, sizeof(v));
		id.b[31] = 0x5a;
	}
	return id;
}

static void build_and_check(uint64_t n)
{
	static struct mem m;
	struct sfs_map_builder *b;
	struct sfs_id root;
	uint32_t depth;

	memset(&m, 0, sizeof(m));
	cr_assert_eq(sfs_map_builder_new(n, mem_store, &m, &b), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct sfs_id id = block_id(i, n);
		cr_assert_eq(sfs_map_builder_pos(b), i);
		cr_assert_eq(sfs_map_builder_add(b, &id), 0);
	}
	{
		struct sfs_id extra = { 0 };
		cr_assert_eq(sfs_map_builder_add(b, &extra), -EINVAL, "past nblocks");
	}
	cr_assert_eq(sfs_map_builder_finish(b, &root, &depth), 0);
	sfs_map_builder_free(b);
	cr_assert_eq(depth, sfs_map_depth(n));
	cr_assert_not(sfs_id_is_zero(&root));
	for (uint64_t i = 0; i < n; i++) {
		struct sfs_id want = block_id(i, n), got = lookup(&m, root, depth, i);
		if (memcmp(want.b, got.b, SFS_ID_LEN))
			cr_assert_fail("block %llu of %llu has the wrong id", (unsigned long long)i,
				       (unsigned long long)n);
	}
	/* Zero subtrees are not stored: the number of pages is small. */
	cr_assert_leq(m.n, 64, "%zu pages", m.n);
	mem_free(&m);
}

Test(blockmap, one_block) { build_and_check(1); }
Test(blockmap, one_full_leaf) { build_and_check(1024); }
Test(blockmap, one_leaf_and_one_block) { build_and_check(1025); }
Test(blockmap, three_levels, .timeout = 60) { build_and_check(1024 * 1024 + 1); }

Test(blockmap, all_zero_map_stores_nothing)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct sfs_map_builder *b;
	struct sfs_id zero = { 0 }, root;
	uint32_t depth;

	cr_assert_eq(sfs_map_builder_new(5000, mem_store, m, &b), 0);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(sfs_map_builder_add(b, &zero), 0);
	cr_assert_eq(sfs_map_builder_finish(b, &root, &depth), 0);
	cr_assert(sfs_id_is_zero(&root));
	cr_assert_eq(depth, 2);
	cr_assert_eq(m->n, 0);
	sfs_map_builder_free(b);

	cr_assert_eq(sfs_map_builder_new(0, mem_store, m, &b), 0);
	cr_assert_eq(sfs_map_builder_finish(b, &root, &depth), 0);
	cr_assert_eq(depth, 0);
	cr_assert(sfs_id_is_zero(&root));
	sfs_map_builder_free(b);
	sfs_map_builder_free(NULL);
	free(m);
}

Test(blockmap, finish_requires_every_block)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct sfs_map_builder *b;
	struct sfs_id id = block_id(0, 10), root;
	uint32_t depth;

	cr_assert_eq(sfs_map_builder_new(10, mem_store, m, &b), 0);
	cr_assert_eq(sfs_map_builder_add(b, &id), 0);
	cr_assert_eq(sfs_map_builder_finish(b, &root, &depth), -EINVAL);
	sfs_map_builder_free(b);
	mem_free(m);
	free(m);
}

Test(blockmap, store_error_propagates)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct sfs_map_builder *b;
	struct sfs_id id = block_id(0, 10), root;
	uint32_t depth;
	int r = 0;

	m->fail_after = 1;
	cr_assert_eq(sfs_map_builder_new(3000, mem_store, m, &b), 0);
	for (int i = 0; i < 3000 && r == 0; i++)
		r = sfs_map_builder_add(b, &id);
	if (r == 0)
		r = sfs_map_builder_finish(b, &root, &depth);
	cr_assert_eq(r, -EIO);
	sfs_map_builder_free(b);
	mem_free(m);
	free(m);
}

/* Equal content, equal root; one changed block, a different root that
 * shares every untouched page. */
Test(blockmap, equal_content_shares_pages)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct sfs_id r1, r2, r3;
	uint32_t d;
	size_t after_first;

	for (int round = 0; round < 3; round++) {
		struct sfs_map_builder *b;
		cr_assert_eq(sfs_map_builder_new(4096, mem_store, m, &b), 0);
		for (uint64_t i = 0; i < 4096; i++) {
			struct sfs_id id;
			uint64_t v = i + 1;
			memset(&id, 0, sizeof(id));
			memcpy(id.b, &v, sizeof(v));
			if (round == 2 && i == 3000)
				id.b[20] = 1;
			cr_assert_eq(sfs_map_builder_add(b, &id), 0);
		}
		cr_assert_eq(sfs_map_builder_finish(b, round == 0 ? &r1 : round == 1 ? &r2 : &r3, &d), 0);
		sfs_map_builder_free(b);
		if (round == 0)
			after_first = m->n;
	}
	cr_assert_eq(after_first, 5, "4 leaves and a root");
	cr_assert_arr_eq(r1.b, r2.b, SFS_ID_LEN);
	cr_assert_arr_neq(r1.b, r3.b, SFS_ID_LEN);
	cr_assert_eq(m->n, 7, "only the changed leaf and a new root are new");
	mem_free(m);
	free(m);
}

Test(blockmap, add_leaf_equals_adding_blocks)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct sfs_map_builder *b;
	struct sfs_id r1, r2, leaf = { 0 }, zero = { 0 };
	uint32_t d1, d2;
	uint64_t n = 3 * 1024 + 10;

	cr_assert_eq(sfs_map_builder_new(n, mem_store, m, &b), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct sfs_id id = block_id(i, n);
		cr_assert_eq(sfs_map_builder_add(b, &id), 0);
	}
	cr_assert_eq(sfs_map_builder_finish(b, &r1, &d1), 0);
	sfs_map_builder_free(b);

	/* The id of the leaf that covers blocks 1024..2047. */
	{
		const struct page *root = mem_get(m, &r1);
		struct sfs_map_page mp;
		cr_assert_eq(sfs_map_page_decode(root->bytes, root->len, &mp), 0);
		leaf = mp.ids[1];
	}
	cr_assert_eq(sfs_map_builder_new(n, mem_store, m, &b), 0);
	for (uint64_t i = 0; i < 1024; i++) {
		struct sfs_id id = block_id(i, n);
		cr_assert_eq(sfs_map_builder_add(b, &id), 0);
	}
	cr_assert_eq(sfs_map_builder_add_leaf(b, &leaf), 0);
	cr_assert_eq(sfs_map_builder_pos(b), 2048);
	cr_assert_eq(sfs_map_builder_add_leaf(b, &zero), 0, "a zero leaf");
	cr_assert_eq(sfs_map_builder_pos(b), 3072);
	{
		struct sfs_id id = block_id(3072, n);
		cr_assert_eq(sfs_map_builder_add(b, &id), 0);
		cr_assert_eq(sfs_map_builder_add_leaf(b, &zero), -EINVAL, "not at a leaf boundary");
	}
	for (uint64_t i = 3073; i < n; i++) {
		struct sfs_id id = block_id(i, n);
		cr_assert_eq(sfs_map_builder_add(b, &id), 0);
	}
	cr_assert_eq(sfs_map_builder_finish(b, &r2, &d2), 0);
	sfs_map_builder_free(b);
	/* Blocks 2048..3071 of the first map hold no non-zero id except by
	 * the sparse rule; compare through lookups rather than roots. */
	for (uint64_t i = 0; i < n; i++) {
		struct sfs_id a = lookup(m, r1, d1, i), c = lookup(m, r2, d2, i);
		if (i >= 2048 && i < 3072)
			cr_assert(sfs_id_is_zero(&c));
		else
			cr_assert_arr_eq(a.b, c.b, SFS_ID_LEN, "block %llu", (unsigned long long)i);
	}

	/* In a single-page map, the one leaf added whole is the root. */
	cr_assert_eq(sfs_map_builder_new(1024, mem_store, m, &b), 0);
	cr_assert_eq(sfs_map_builder_add_leaf(b, &leaf), 0);
	cr_assert_eq(sfs_map_builder_finish(b, &r2, &d2), 0);
	cr_assert_eq(d2, 1);
	cr_assert_arr_eq(r2.b, leaf.b, SFS_ID_LEN);
	sfs_map_builder_free(b);
	mem_free(m);
	free(m);
}

/* ---- page decoding ---- */

static size_t make_page(uint8_t *buf, uint8_t level, uint32_t count)
{
	memset(buf, 0, SFS_MAP_PAGE_MAX);
	buf[0] = 'S'; buf[1] = 'F'; buf[2] = 'M'; buf[3] = 'P';
	buf[4] = SFS_MAP_VERSION;
	buf[5] = level;
	buf[8] = (uint8_t)count;
	buf[9] = (uint8_t)(count >> 8);
	for (uint32_t i = 0; i < count; i++) {
		buf[SFS_MAP_HEADER_LEN + i * SFS_ID_LEN] = (uint8_t)(i + 1);
		buf[SFS_MAP_HEADER_LEN + i * SFS_ID_LEN + 1] = (uint8_t)((i + 1) >> 8);
	}
	return SFS_MAP_HEADER_LEN + (size_t)count * SFS_ID_LEN;
}

Test(blockmap, page_decode_bounds)
{
	static uint8_t buf[SFS_MAP_PAGE_MAX + SFS_ID_LEN];
	struct sfs_map_page p;
	size_t len;

	len = make_page(buf, 2, 3);
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), 0);
	cr_assert_eq(p.level, 2);
	cr_assert_eq(p.count, 3);
	cr_assert_eq(p.ids[2].b[0], 3);
	cr_assert_eq((const void *)p.ids, (const void *)(buf + SFS_MAP_HEADER_LEN));

	len = make_page(buf, 0, SFS_MAP_FANOUT);
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), 0, "a full page");
	cr_assert_eq(sfs_map_page_decode(buf, len - 1, &p), -EBADMSG, "short by one");
	cr_assert_eq(sfs_map_page_decode(buf, len + 1, &p), -EBADMSG, "long by one");
	cr_assert_eq(sfs_map_page_decode(buf, 0, &p), -EBADMSG, "empty");
	cr_assert_eq(sfs_map_page_decode(buf, SFS_MAP_HEADER_LEN - 1, &p), -EBADMSG);

	len = make_page(buf, 0, 4);
	for (size_t off = 0; off < SFS_MAP_HEADER_LEN; off++) {
		if (off == 5 || off == 8)
			continue; /* level and count: checked below */
		buf[off] ^= 0x20;
		cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "header byte %zu", off);
		buf[off] ^= 0x20;
	}
	buf[5] = 8;
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "level 8");
	/* Found by fuzzing: level 7 decoded and then shifted a block number
	 * by 70 bits in sfs_map_slot. A map has levels 0 to 5 only. */
	buf[5] = 7;
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "level 7");
	buf[5] = SFS_MAP_MAX_DEPTH;
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "level 6");
	buf[5] = SFS_MAP_MAX_DEPTH - 1;
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), 0, "level 5, the highest");
	cr_assert_eq(sfs_map_slot(UINT64_MAX, 7), 0, "a level past 64 bits shifts nothing");
	buf[5] = 0;
	buf[8] = 5;
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "count disagrees with length");
	buf[8] = 4;

	len = make_page(buf, 0, 0);
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "count 0");
	len = make_page(buf, 0, SFS_MAP_FANOUT);
	buf[8] = 1; buf[9] = 4; /* 1025 */
	memset(buf + len, 1, SFS_ID_LEN);
	cr_assert_eq(sfs_map_page_decode(buf, len + SFS_ID_LEN, &p), -EBADMSG, "count > fanout");
	buf[8] = 0xff; buf[9] = 0xff; buf[10] = 0xff; buf[11] = 0xff;
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "count 2^32-1");

	len = make_page(buf, 1, 4);
	memset(buf + len - SFS_ID_LEN, 0, SFS_ID_LEN);
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG, "untrimmed trailing zero id");
}

/* A map of unknown length (a source read from a pipe) comes out the same
 * as one whose length was known up front. */
Test(blockmap, unknown_length_equals_known)
{
	uint64_t sizes[] = { 1, 1023, 1024, 1025, 2048, 5000 };
	struct mem *m = calloc(1, sizeof(*m));

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t n = sizes[k];
		struct sfs_map_builder *b1, *b2;
		struct sfs_id r1, r2;
		uint32_t d1, d2;

		cr_assert_eq(sfs_map_builder_new(n, mem_store, m, &b1), 0);
		cr_assert_eq(sfs_map_builder_new(SFS_MAP_UNKNOWN, mem_store, m, &b2), 0);
		for (uint64_t i = 0; i < n; i++) {
			struct sfs_id id = block_id(i, n);
			cr_assert_eq(sfs_map_builder_add(b1, &id), 0);
			cr_assert_eq(sfs_map_builder_add(b2, &id), 0);
		}
		cr_assert_eq(sfs_map_builder_finish(b1, &r1, &d1), 0);
		cr_assert_eq(sfs_map_builder_finish(b2, &r2, &d2), 0);
		cr_assert_eq(d1, sfs_map_depth(n));
		cr_assert_eq(d2, d1, "%llu blocks", (unsigned long long)n);
		cr_assert_arr_eq(r1.b, r2.b, SFS_ID_LEN, "%llu blocks", (unsigned long long)n);
		sfs_map_builder_free(b1);
		sfs_map_builder_free(b2);
	}
	mem_free(m);
	free(m);
}

/* ---- golden fixtures (tests/fixtures/README.md) ---- */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static size_t read_fixture(const char *name, uint8_t *buf, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s", path);
	n = read(fd, buf, cap);
	close(fd);
	cr_assert_geq(n, 0);
	return (size_t)n;
}

Test(golden, map_page)
{
	static uint8_t buf[SFS_MAP_PAGE_MAX];
	struct sfs_map_page p;
	struct sfs_id id, a, b;
	char hex[SFS_ID_HEX_LEN + 1];
	size_t len = read_fixture("golden.mappage", buf, sizeof(buf));

	cr_assert_eq(len, 144);
	sfs_chunk_hash(buf, len, &id);
	sfs_id_to_hex(&id, hex);
	cr_assert_str_eq(hex, "6eaef805ba219c5312cc7de8853afcaf14519dfec40081032bd66e09206f4b4c");
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), 0);
	cr_assert_eq(p.level, 0);
	cr_assert_eq(p.count, 4);
	sfs_id_from_hex("9fb1d64f9a92716af2cd03e6c3ec0cdfd4b02d764b09f4cd3afc1fd59224f584", &a);
	sfs_id_from_hex("5d936aa5f94c673e40eaf4604a693374a7c8d1e89da041a016a6c4b46edf295d", &b);
	cr_assert_arr_eq(p.ids[0].b, a.b, SFS_ID_LEN);
	cr_assert(sfs_id_is_zero(&p.ids[1]));
	cr_assert_arr_eq(p.ids[2].b, b.b, SFS_ID_LEN);
	cr_assert_arr_eq(p.ids[3].b, a.b, SFS_ID_LEN);

	/* The builder produces the same bytes for the same four blocks. */
	{
		struct mem *m = calloc(1, sizeof(*m));
		struct sfs_map_builder *bl;
		struct sfs_id zero = { 0 }, root;
		uint32_t depth;

		cr_assert_eq(sfs_map_builder_new(4, mem_store, m, &bl), 0);
		sfs_map_builder_add(bl, &a);
		sfs_map_builder_add(bl, &zero);
		sfs_map_builder_add(bl, &b);
		sfs_map_builder_add(bl, &a);
		cr_assert_eq(sfs_map_builder_finish(bl, &root, &depth), 0);
		cr_assert_arr_eq(root.b, id.b, SFS_ID_LEN);
		cr_assert_eq(m->n, 1);
		cr_assert_arr_eq(m->pages[0].bytes, buf, len);
		sfs_map_builder_free(bl);
		mem_free(m);
		free(m);
	}
}

Test(golden, damaged_map_pages_are_ebadmsg)
{
	static uint8_t buf[SFS_MAP_PAGE_MAX];
	struct sfs_map_page p;
	size_t len;

	len = read_fixture("golden-flipped-count.mappage", buf, sizeof(buf));
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG);
	len = read_fixture("golden-truncated.mappage", buf, sizeof(buf));
	cr_assert_eq(len, 143);
	cr_assert_eq(sfs_map_page_decode(buf, len, &p), -EBADMSG);
}
