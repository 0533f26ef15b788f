// SPDX-License-Identifier: MIT
/*
 * Cheap catalog reads for the mount. Counting uses LMDB's own entry counts
 * or walks keys without touching values; the brief snapshot walk parses
 * each record once and copies out only what a listing shows, which is
 * most of the cost of listing thousands of snapshots saved (no tags
 * object, no string copies). Record checks match catalog.c's decoder for
 * every field decoded here.
 */
#include <errno.h>
#include <jansson.h>
#include <lmdb.h>
#include <string.h>

#include "snapfs/catalog_scan.h"
#include "store_int.h"

#define RECORD_VERSION 1

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

static int get_str(json_t *o, const char *key, bool required, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v || json_is_null(v)) {
		dst[0] = '\0';
		return required ? -EBADMSG : 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	if (strlen(s) >= cap)
		return -EBADMSG;
	strcpy(dst, s);
	return 0;
}

static int get_u64(json_t *o, const char *key, bool required, uint64_t *dst)
{
	json_t *v = json_object_get(o, key);

	*dst = 0;
	if (!v)
		return required ? -EBADMSG : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

static int brief_decode(const void *buf, size_t len, struct sfs_snapshot_brief *sn)
{
	char state[16], parent[SFS_IDSTR_SIZE], root[SFS_ID_HEX_LEN + 1];
	uint64_t created, bs, depth, ver;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	int r = -EBADMSG;

	if (!o)
		return -EBADMSG;
	if (!json_is_object(o) || get_u64(o, "v", true, &ver) < 0 || ver != RECORD_VERSION)
		goto out;
	if (get_str(o, "id", true, sn->id, sizeof(sn->id)) < 0 ||
	    get_str(o, "volume", true, sn->volume, sizeof(sn->volume)) < 0 ||
	    get_str(o, "parent", false, parent, sizeof(parent)) < 0 ||
	    get_str(o, "state", true, state, sizeof(state)) < 0 ||
	    get_str(o, "root", true, root, sizeof(root)) < 0 ||
	    get_u64(o, "seq", true, &sn->seq) < 0 || get_u64(o, "created", true, &created) < 0 ||
	    get_u64(o, "size", true, &sn->size) < 0 || get_u64(o, "block_size", true, &bs) < 0 ||
	    get_u64(o, "depth", true, &depth) < 0 ||
	    get_u64(o, "data_bytes", false, &sn->data_bytes) < 0)
		goto out;
	sn->state = !strcmp(state, "completed") ? SFS_SNAP_COMPLETED
		    : !strcmp(state, "pending") ? SFS_SNAP_PENDING
		    : !strcmp(state, "error")   ? SFS_SNAP_ERROR
						: -1;
	sn->created = (int64_t)created;
	sn->block_size = (uint32_t)bs;
	sn->depth = (uint32_t)depth;
	if (sn->state < 0 || !sfs_idstr_valid(sn->id, "snap-") || !sfs_name_valid(sn->volume) ||
	    (parent[0] && !sfs_idstr_valid(parent, "snap-")) || bs < SFS_BLOCK_MIN ||
	    bs > SFS_BLOCK_MAX || (bs & (bs - 1)) || depth > 6 ||
	    sfs_id_from_hex(root, &sn->root) < 0 || sn->size > (UINT64_C(1) << 56) ||
	    sn->data_bytes > sn->size)
		goto out;
	r = 0;
out:
	json_decref(o);
	return r;
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
