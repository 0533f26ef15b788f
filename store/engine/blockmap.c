// SPDX-License-Identifier: MIT
/*
 * Block-map pages and the streaming builder that turns a snapshot's block
 * ids, in order, into a tree of pages. Memory is one page per level, so a
 * map of any size is built in O(depth) space.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/blockmap.h"
#include "util_int.h"

struct level {
	uint8_t page[SFS_MAP_PAGE_MAX];
	uint32_t n; /* entries filled so far */
};

struct sfs_map_builder {
	uint64_t nblocks;
	uint64_t pos;
	uint32_t depth;
	sfs_map_store_fn store;
	void *ctx;
	struct level *levels; /* depth of them */
};

uint32_t sfs_map_depth(uint64_t nblocks)
{
	uint32_t d = 0;

	if (nblocks == 0)
		return 0;
	do {
		d++;
		nblocks = (nblocks + SFS_MAP_FANOUT - 1) >> SFS_MAP_SHIFT;
	} while (nblocks > 1);
	return d;
}

int sfs_map_page_decode(const void *buf, size_t len, struct sfs_map_page *ret)
{
	const uint8_t *p = buf;
	uint32_t count;

	if (len < SFS_MAP_HEADER_LEN || get_le32(p) != SFS_MAP_MAGIC || p[4] != SFS_MAP_VERSION ||
	    get_le16(p + 6) != 0 || get_le32(p + 12) != 0)
		return -EBADMSG;
	count = get_le32(p + 8);
	/* Levels 0 to SFS_MAP_MAX_DEPTH - 1 are all a map can have; a higher
	 * one would also shift a block number by 64 bits or more. */
	if (count == 0 || count > SFS_MAP_FANOUT || p[5] >= SFS_MAP_MAX_DEPTH ||
	    len != SFS_MAP_HEADER_LEN + (size_t)count * SFS_ID_LEN)
		return -EBADMSG;
	ret->level = p[5];
	ret->count = count;
	ret->ids = (const struct sfs_id *)(const void *)(p + SFS_MAP_HEADER_LEN);
	if (sfs_id_is_zero(&ret->ids[count - 1]))
		return -EBADMSG;
	return 0;
}

int sfs_map_builder_new(uint64_t nblocks, sfs_map_store_fn store, void *ctx,
			struct sfs_map_builder **ret)
{
	struct sfs_map_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->nblocks = nblocks;
	/* Levels are kept up to the deepest possible tree, so that a map of
	 * unknown length (a source read from a pipe) can be built in one
	 * pass; finish() takes the real root from the level that fits. */
	b->depth = SFS_MAP_MAX_DEPTH;
	b->store = store;
	b->ctx = ctx;
	b->levels = calloc(b->depth, sizeof(*b->levels));
	if (!b->levels) {
		free(b);
		return -ENOMEM;
	}
	*ret = b;
	return 0;
}

void sfs_map_builder_free(struct sfs_map_builder *b)
{
	if (!b)
		return;
	free(b->levels);
	free(b);
}

uint64_t sfs_map_builder_pos(const struct sfs_map_builder *b)
{
	return b->pos;
}

static int push(struct sfs_map_builder *b, uint32_t level, const struct sfs_id *id);

/* Closes the page at `level`: trims trailing zero ids, stores it unless it
 * is empty, and pushes its id one level up. */
static int flush_level(struct sfs_map_builder *b, uint32_t level, struct sfs_id *ret_id)
{
	struct level *lv = &b->levels[level];
	struct sfs_id id = { 0 };
	uint32_t count = lv->n;
	int r;

	while (count > 0 &&
	       sfs_id_is_zero((const struct sfs_id *)(const void *)(lv->page + SFS_MAP_HEADER_LEN +
								    (count - 1) * SFS_ID_LEN)))
		count--;
	if (count > 0) {
		size_t len = SFS_MAP_HEADER_LEN + (size_t)count * SFS_ID_LEN;

		put_le32(lv->page, SFS_MAP_MAGIC);
		lv->page[4] = SFS_MAP_VERSION;
		lv->page[5] = (uint8_t)level;
		put_le16(lv->page + 6, 0);
		put_le32(lv->page + 8, count);
		put_le32(lv->page + 12, 0);
		r = b->store(b->ctx, lv->page, len, &id);
		if (r < 0)
			return r;
	}
	lv->n = 0;
	if (ret_id) {
		*ret_id = id;
		return 0;
	}
	return push(b, level + 1, &id);
}

static int push(struct sfs_map_builder *b, uint32_t level, const struct sfs_id *id)
{
	struct level *lv;

	if (level >= b->depth)
		return -EINVAL;
	lv = &b->levels[level];
	if (lv->n >= SFS_MAP_FANOUT)
		return -EFBIG;
	memcpy(lv->page + SFS_MAP_HEADER_LEN + (size_t)lv->n * SFS_ID_LEN, id->b, SFS_ID_LEN);
	lv->n++;
	if (lv->n == SFS_MAP_FANOUT && level + 1 < b->depth)
		return flush_level(b, level, NULL);
	return 0;
}

int sfs_map_builder_add(struct sfs_map_builder *b, const struct sfs_id *id)
{
	int r;

	if (b->pos >= b->nblocks)
		return -EINVAL;
	r = push(b, 0, id);
	if (r == 0)
		b->pos++;
	return r;
}

int sfs_map_builder_add_leaf(struct sfs_map_builder *b, const struct sfs_id *leaf_id)
{
	uint64_t n;
	int r;

	if (b->pos % SFS_MAP_FANOUT || b->pos >= b->nblocks || b->levels[0].n != 0)
		return -EINVAL;
	n = b->nblocks - b->pos < SFS_MAP_FANOUT ? b->nblocks - b->pos : SFS_MAP_FANOUT;
	r = push(b, 1, leaf_id);
	if (r == 0)
		b->pos += n;
	return r;
}

int sfs_map_builder_finish(struct sfs_map_builder *b, struct sfs_id *ret_root,
			   uint32_t *ret_depth)
{
	uint32_t depth, top;
	int r;

	if (b->nblocks != SFS_MAP_UNKNOWN && b->pos != b->nblocks)
		return -EINVAL;
	memset(ret_root, 0, sizeof(*ret_root));
	depth = sfs_map_depth(b->pos);
	*ret_depth = depth;
	if (depth == 0)
		return 0;
	top = depth - 1;
	/* Flush partial pages bottom-up into the root's level. */
	for (uint32_t l = 0; l < top; l++) {
		if (b->levels[l].n == 0)
			continue;
		r = flush_level(b, l, NULL);
		if (r < 0)
			return r;
	}
	if (b->levels[top].n == 0 && b->levels[top + 1].n == 1) {
		/* A single whole leaf added with add_leaf is the root itself. */
		memcpy(ret_root->b, b->levels[top + 1].page + SFS_MAP_HEADER_LEN, SFS_ID_LEN);
		return 0;
	}
	return flush_level(b, top, ret_root);
}
