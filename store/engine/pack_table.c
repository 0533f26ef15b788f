// SPDX-License-Identifier: MIT
/*
 * The pack table: the catalog's list of the packs it has committed, with
 * their committed length and whether they are sealed. It is written in
 * the same transaction as the chunk locations that point into a pack, so
 * that gc, recovery and disk usage know which packs exist without asking
 * the backend for a listing, and so that recovery can prove a pack
 * uncommitted before removing it. Record layout: store/FORMAT.md.
 */
#include <errno.h>
#include <string.h>

#include "snapfs/catalog.h"
#include "store_int.h"
#include "util_int.h"

#define REC_LEN 24
#define REC_VERSION 1
#define FLAG_SEALED 1u

/* Big-endian keys: LMDB's byte order is then the numbers' order. */
static void key_encode(uint64_t number, uint8_t k[8])
{
	for (int i = 7; i >= 0; i--, number >>= 8)
		k[i] = (uint8_t)number;
}

static uint64_t key_decode(const uint8_t k[8])
{
	uint64_t n = 0;

	for (int i = 0; i < 8; i++)
		n = n << 8 | k[i];
	return n;
}

static int rec_decode(const MDB_val *k, const MDB_val *v, struct sfs_pack_rec *ret)
{
	const uint8_t *p = v->mv_data;

	if (k->mv_size != 8 || v->mv_size != REC_LEN || p[0] != REC_VERSION ||
	    (p[1] & ~FLAG_SEALED) || get_le16(p + 2) || get_le32(p + 4) || get_le64(p + 16))
		return -EBADMSG;
	ret->number = key_decode(k->mv_data);
	ret->sealed = p[1] & FLAG_SEALED;
	ret->length = get_le64(p + 8);
	if (ret->number == 0 || ret->length < SFS_PACK_HEADER_LEN)
		return -EBADMSG;
	return 0;
}

bool sfs_cat_has_pack_table(struct sfs_txn *t)
{
	return sfs_txn_store(t)->has_pack_table;
}

int sfs_cat_pack_get(struct sfs_txn *t, uint64_t number, struct sfs_pack_rec *ret)
{
	uint8_t k[8];
	MDB_val key = { 8, k }, v;
	int r;

	if (!sfs_cat_has_pack_table(t))
		return -ENOENT;
	key_encode(number, k);
	r = sfs_cat_get_raw(t, SFS_DBI_PACKS, k, 8, &v);
	if (r < 0)
		return r;
	return rec_decode(&key, &v, ret);
}

int sfs_cat_pack_put(struct sfs_txn *t, const struct sfs_pack_rec *p)
{
	uint8_t k[8], v[REC_LEN] = { 0 };

	if (!sfs_cat_has_pack_table(t))
		return -EROFS;
	key_encode(p->number, k);
	v[0] = REC_VERSION;
	v[1] = p->sealed ? FLAG_SEALED : 0;
	put_le64(v + 8, p->length);
	return sfs_cat_put_raw(t, SFS_DBI_PACKS, k, 8, v, sizeof(v));
}

int sfs_cat_pack_del(struct sfs_txn *t, uint64_t number)
{
	uint8_t k[8];

	if (!sfs_cat_has_pack_table(t))
		return -ENOENT;
	key_encode(number, k);
	return sfs_cat_del_raw(t, SFS_DBI_PACKS, k, 8);
}

struct iter {
	sfs_pack_rec_fn fn;
	void *ctx;
};

static int iter_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct iter *it = ctx;
	struct sfs_pack_rec p;

	if (rec_decode(k, v, &p) < 0)
		return it->fn(it->ctx, NULL);
	return it->fn(it->ctx, &p);
}

int sfs_cat_pack_foreach(struct sfs_txn *t, sfs_pack_rec_fn fn, void *ctx)
{
	struct iter it = { fn, ctx };

	if (!sfs_cat_has_pack_table(t))
		return 0;
	return sfs_cat_foreach_raw(t, SFS_DBI_PACKS, iter_cb, &it);
}
