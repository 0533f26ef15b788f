// SPDX-License-Identifier: MIT
/*
 * Cheap catalog reads for the mount. Counting uses LMDB's own entry counts
 * or walks keys without touching values; the brief snapshot walk decodes
 * each record with the snapshot decoder's own checks but without its heap
 * fields (no tags object, no string copies) and copies out what a listing
 * shows.
 */
#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "snapfs/catalog_scan.h"
#include "store_int.h"


int sfs_cat_counts(struct sfs_txn *t, struct sfs_cat_counts *ret)
{
	struct sfs_store *s = sfs_txn_store(t);
	MDB_stat st;
	int rc;

	rc = mdb_stat(sfs_txn_mdb(t), s->dbi[SFS_DBI_SNAPSHOTS], &st);
	if (rc)
		return sfs_mdb_err(rc);
	ret->snapshots = st.ms_entries;
	rc = mdb_stat(sfs_txn_mdb(t), s->dbi[SFS_DBI_VOLUMES], &st);
	if (rc)
		return sfs_mdb_err(rc);
	ret->volumes = st.ms_entries;
	return 0;
}

int sfs_cat_volume_snapshot_count(struct sfs_txn *t, const char *volume, uint64_t *ret)
{
	struct sfs_store *s = sfs_txn_store(t);
	char prefix[SFS_NAME_MAX + 2];
	size_t pl = strlen(volume) + 1;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t n = 0;
	int rc, r = 0;

	if (pl > sizeof(prefix))
		return -EINVAL;
	memcpy(prefix, volume, pl);
	rc = mdb_cursor_open(sfs_txn_mdb(t), s->dbi[SFS_DBI_VOLSNAP], &c);
	if (rc)
		return sfs_mdb_err(rc);
	k.mv_data = prefix;
	k.mv_size = pl;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0)
			break;
		n++;
	}
	if (rc && rc != MDB_NOTFOUND)
		r = sfs_mdb_err(rc);
	mdb_cursor_close(c);
	*ret = n;
	return r;
}

static int brief_decode(const void *buf, size_t len, struct sfs_snapshot_brief *ret)
{
	struct sfs_snapshot sn;
	int r = sfs_snapshot_decode_brief(buf, len, &sn);

	if (r < 0)
		return r;
	memcpy(ret->id, sn.id, sizeof(ret->id));
	memcpy(ret->volume, sn.volume, sizeof(ret->volume));
	ret->state = sn.state;
	ret->seq = sn.seq;
	ret->created = sn.created;
	ret->size = sn.size;
	ret->block_size = sn.block_size;
	ret->depth = sn.depth;
	ret->root = sn.root;
	ret->data_bytes = sn.data_bytes;
	return 0;
}

int sfs_cat_snapshot_scan(struct sfs_txn *t, sfs_snapshot_brief_fn fn, void *ctx)
{
	struct sfs_store *s = sfs_txn_store(t);
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_cursor_open(sfs_txn_mdb(t), s->dbi[SFS_DBI_SNAPSHOTS], &c);
	if (rc)
		return sfs_mdb_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct sfs_snapshot_brief sn;

		r = brief_decode(v.mv_data, v.mv_size, &sn);
		if (r == 0)
			r = fn(ctx, &sn);
		if (r)
			break;
	}
	if (rc && rc != MDB_NOTFOUND)
		r = sfs_mdb_err(rc);
	mdb_cursor_close(c);
	return r;
}
