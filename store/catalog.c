// SPDX-License-Identifier: MIT
/*
 * The LMDB catalog: transactions, the chunk index, meta counters, volumes
 * and snapshots. Every value is copied out of LMDB memory before a
 * function returns; decoders check every field they read, since a catalog
 * on disk is as untrusted as a pack.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "snapfs/catalog.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "util_int.h"

#define LOC_VERSION 1
#define RECORD_VERSION 1

struct sfs_txn {
	struct sfs_store *store;
	MDB_txn *txn;
	bool write;
};

MDB_txn *sfs_txn_mdb(struct sfs_txn *t)
{
	return t->txn;
}

struct sfs_store *sfs_txn_store(struct sfs_txn *t)
{
	return t->store;
}

int sfs_txn_begin(struct sfs_store *s, bool write, struct sfs_txn **ret)
{
	struct sfs_txn *t;
	int rc;

	if (write && !s->writable)
		return -EROFS;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return sfs_mdb_err(rc);
	}
	t->store = s;
	t->write = write;
	*ret = t;
	return 0;
}

int sfs_txn_commit(struct sfs_txn *t)
{
	int rc = mdb_txn_commit(t->txn);

	free(t);
	return sfs_mdb_err(rc);
}

void sfs_txn_abort(struct sfs_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

static MDB_dbi dbi(struct sfs_txn *t, enum sfs_dbi which)
{
	return t->store->dbi[which];
}

int sfs_cat_get_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen,
		    MDB_val *ret)
{
	MDB_val key = { klen, (void *)k };
	return sfs_mdb_err(mdb_get(t->txn, dbi(t, which), &key, ret));
}

int sfs_cat_put_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen,
		    const void *v, size_t vlen)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
	return sfs_mdb_err(mdb_put(t->txn, dbi(t, which), &key, &val, 0));
}

int sfs_cat_del_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen)
{
	MDB_val key = { klen, (void *)k };
	return sfs_mdb_err(mdb_del(t->txn, dbi(t, which), &key, NULL));
}

int sfs_cat_foreach_raw(struct sfs_txn *t, enum sfs_dbi which,
			int (*fn)(void *ctx, const MDB_val *k, const MDB_val *v), void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_cursor_open(t->txn, dbi(t, which), &c);
	if (rc)
		return sfs_mdb_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		r = fn(ctx, &k, &v);
		if (r)
			break;
	}
	if (rc && rc != MDB_NOTFOUND)
		r = sfs_mdb_err(rc);
	mdb_cursor_close(c);
	return r;
}

char *sfs_record_dumps(json_t *o, int version)
{
	char *s;

	if (!o)
		return NULL;
	json_object_set_new(o, "v", json_integer(version));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* ---- chunk index ---- */

void sfs_loc_encode(const struct sfs_chunk_loc *loc, uint8_t out[SFS_LOC_VALUE_LEN])
{
	memset(out, 0, SFS_LOC_VALUE_LEN);
	out[0] = LOC_VERSION;
	out[1] = loc->type;
	out[2] = loc->comp;
	put_le64(out + 4, loc->pack);
	put_le64(out + 12, loc->offset);
	put_le32(out + 20, loc->stored_len);
	put_le32(out + 24, loc->raw_len);
}

int sfs_loc_decode(const void *buf, size_t len, struct sfs_chunk_loc *ret)
{
	const uint8_t *p = buf;
	struct sfs_chunk_loc l;

	if (len != SFS_LOC_VALUE_LEN || p[0] != LOC_VERSION || p[3] != 0 || get_le32(p + 28) != 0)
		return -EBADMSG;
	l.type = p[1];
	l.comp = p[2];
	l.pack = get_le64(p + 4);
	l.offset = get_le64(p + 12);
	l.stored_len = get_le32(p + 20);
	l.raw_len = get_le32(p + 24);
	if ((l.type != SFS_CHUNK_DATA && l.type != SFS_CHUNK_MAP) ||
	    (l.comp != SFS_COMP_NONE && l.comp != SFS_COMP_ZSTD) || l.raw_len == 0 ||
	    l.raw_len > SFS_BLOCK_MAX || l.stored_len == 0 || l.stored_len > l.raw_len ||
	    l.offset < SFS_PACK_HEADER_LEN || l.offset > (UINT64_C(1) << 48) || l.pack == 0 ||
	    l.pack > (1u << 30))
		return -EBADMSG;
	*ret = l;
	return 0;
}

int sfs_cat_chunk_get(struct sfs_txn *t, const struct sfs_id *id, struct sfs_chunk_loc *ret)
{
	MDB_val v;
	int r = sfs_cat_get_raw(t, SFS_DBI_CHUNKS, id->b, SFS_ID_LEN, &v);

	if (r < 0)
		return r;
	return sfs_loc_decode(v.mv_data, v.mv_size, ret);
}

int sfs_cat_chunk_put(struct sfs_txn *t, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	uint8_t buf[SFS_LOC_VALUE_LEN];

	sfs_loc_encode(loc, buf);
	return sfs_cat_put_raw(t, SFS_DBI_CHUNKS, id->b, SFS_ID_LEN, buf, sizeof(buf));
}

int sfs_cat_chunk_del(struct sfs_txn *t, const struct sfs_id *id)
{
	return sfs_cat_del_raw(t, SFS_DBI_CHUNKS, id->b, SFS_ID_LEN);
}

struct chunk_iter {
	sfs_chunk_fn fn;
	void *ctx;
};

static int chunk_iter_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct chunk_iter *it = ctx;
	struct sfs_id id = { 0 };
	struct sfs_chunk_loc loc;
	bool ok;

	if (k->mv_size == SFS_ID_LEN)
		memcpy(id.b, k->mv_data, SFS_ID_LEN);
	ok = k->mv_size == SFS_ID_LEN && sfs_loc_decode(v->mv_data, v->mv_size, &loc) == 0;
	return it->fn(it->ctx, &id, ok ? &loc : NULL);
}

int sfs_cat_chunk_foreach(struct sfs_txn *t, sfs_chunk_fn fn, void *ctx)
{
	struct chunk_iter it = { fn, ctx };

	return sfs_cat_foreach_raw(t, SFS_DBI_CHUNKS, chunk_iter_cb, &it);
}

int sfs_cat_chunk_count(struct sfs_txn *t, uint64_t *ret)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, dbi(t, SFS_DBI_CHUNKS), &st);

	if (rc)
		return sfs_mdb_err(rc);
	*ret = st.ms_entries;
	return 0;
}

/* ---- meta ---- */

int sfs_cat_meta_get(struct sfs_txn *t, const char *key, uint64_t *ret)
{
	MDB_val v;
	int r = sfs_cat_get_raw(t, SFS_DBI_META, key, strlen(key), &v);

	if (r < 0)
		return r;
	if (v.mv_size != 8)
		return -EBADMSG;
	*ret = get_le64(v.mv_data);
	return 0;
}

int sfs_cat_meta_put(struct sfs_txn *t, const char *key, uint64_t value)
{
	uint8_t buf[8];

	put_le64(buf, value);
	return sfs_cat_put_raw(t, SFS_DBI_META, key, strlen(key), buf, sizeof(buf));
}

int sfs_cat_generation(struct sfs_txn *t, uint64_t *ret)
{
	int r = sfs_cat_meta_get(t, "generation", ret);

	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	return r;
}

int sfs_cat_bump_generation(struct sfs_txn *t)
{
	uint64_t g;
	int r = sfs_cat_generation(t, &g);

	if (r < 0)
		return r;
	return sfs_cat_meta_put(t, "generation", g + 1);
}

/* ---- names and ids ---- */

bool sfs_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SFS_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool sfs_idstr_valid(const char *id, const char *prefix)
{
	size_t pl = strlen(prefix), n;

	if (strncmp(id, prefix, pl) != 0)
		return false;
	n = strlen(id + pl);
	if (n < 8 || n > 17)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[pl + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

int sfs_idstr_new(const char *prefix, char buf[SFS_IDSTR_SIZE])
{
	uint8_t rnd[9];
	size_t pl = strlen(prefix);

	if (pl + 17 >= SFS_IDSTR_SIZE)
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	memcpy(buf, prefix, pl);
	for (int i = 0; i < 17; i++) {
		uint8_t nib = (uint8_t)(i & 1 ? rnd[i / 2] & 15 : rnd[i / 2] >> 4);
		buf[pl + (size_t)i] = "0123456789abcdef"[nib];
	}
	buf[pl + 17] = '\0';
	return 0;
}

/* ---- JSON field helpers ---- */

static int jstr(json_t *o, const char *key, bool required, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v || json_is_null(v)) {
		if (required)
			return -EBADMSG;
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	if (strlen(s) >= cap)
		return -EBADMSG;
	strcpy(dst, s);
	return 0;
}

static int jstrdup(json_t *o, const char *key, char **dst)
{
	json_t *v = json_object_get(o, key);

	*dst = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*dst = strdup(json_string_value(v));
	return *dst ? 0 : -ENOMEM;
}

static int ju64(json_t *o, const char *key, bool required, uint64_t *dst)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		*dst = 0;
		return required ? -EBADMSG : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

static int jtags(json_t *o, json_t **dst)
{
	json_t *v = json_object_get(o, "tags"), *val;
	const char *k;

	if (!v) {
		*dst = json_object();
		return *dst ? 0 : -ENOMEM;
	}
	if (!json_is_object(v))
		return -EBADMSG;
	json_object_foreach(v, k, val) {
		if (!json_is_string(val))
			return -EBADMSG;
	}
	*dst = json_deep_copy(v);
	return *dst ? 0 : -ENOMEM;
}

static json_t *parse_record(const void *buf, size_t len)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *v;

	if (!o)
		return NULL;
	v = json_object_get(o, "v");
	if (!json_is_object(o) || !json_is_integer(v) || json_integer_value(v) != RECORD_VERSION) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- volumes ---- */

void sfs_volume_release(struct sfs_volume *v)
{
	if (!v)
		return;
	free(v->source);
	json_decref(v->tags);
	v->source = NULL;
	v->tags = NULL;
}

int sfs_volume_decode(const void *buf, size_t len, struct sfs_volume *ret)
{
	struct sfs_volume v = { 0 };
	uint64_t created = 0;
	json_t *o = parse_record(buf, len);
	int r;

	if (!o)
		return -EBADMSG;
	r = jstr(o, "name", true, v.name, sizeof(v.name));
	if (r == 0)
		r = jstr(o, "id", true, v.id, sizeof(v.id));
	if (r == 0)
		r = ju64(o, "created", true, &created);
	if (r == 0)
		r = ju64(o, "size", true, &v.size);
	if (r == 0)
		r = jstrdup(o, "source", &v.source);
	if (r == 0)
		r = jtags(o, &v.tags);
	if (r == 0 && (!sfs_name_valid(v.name) || !sfs_idstr_valid(v.id, "vol-")))
		r = -EBADMSG;
	json_decref(o);
	if (r < 0) {
		sfs_volume_release(&v);
		return r;
	}
	v.created = (int64_t)created;
	*ret = v;
	return 0;
}

json_t *sfs_volume_to_json(const struct sfs_volume *v)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:s?, s:O}", "name", v->name, "id", v->id,
			 "created", (json_int_t)v->created, "size", (json_int_t)v->size, "source",
			 v->source, "tags", v->tags ? v->tags : json_object());
}

char *sfs_volume_encode(const struct sfs_volume *v)
{
	return sfs_record_dumps(sfs_volume_to_json(v), RECORD_VERSION);
}

int sfs_cat_volume_get(struct sfs_txn *t, const char *name, struct sfs_volume *ret)
{
	MDB_val v;
	int r = sfs_cat_get_raw(t, SFS_DBI_VOLUMES, name, strlen(name), &v);

	if (r < 0)
		return r;
	return sfs_volume_decode(v.mv_data, v.mv_size, ret);
}

int sfs_cat_volume_put(struct sfs_txn *t, const struct sfs_volume *v)
{
	char *s = sfs_volume_encode(v);
	int r;

	if (!s)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_VOLUMES, v->name, strlen(v->name), s, strlen(s));
	free(s);
	return r;
}

struct volume_iter {
	sfs_volume_fn fn;
	void *ctx;
};

static int volume_iter_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct volume_iter *it = ctx;
	struct sfs_volume vol;
	int r = sfs_volume_decode(v->mv_data, v->mv_size, &vol);

	(void)k;
	if (r < 0)
		return r;
	r = it->fn(it->ctx, &vol);
	sfs_volume_release(&vol);
	return r;
}

int sfs_cat_volume_foreach(struct sfs_txn *t, sfs_volume_fn fn, void *ctx)
{
	struct volume_iter it = { fn, ctx };

	return sfs_cat_foreach_raw(t, SFS_DBI_VOLUMES, volume_iter_cb, &it);
}

/* ---- snapshots ---- */

const char *sfs_snap_state_name(int state)
{
	switch (state) {
	case SFS_SNAP_PENDING:
		return "pending";
	case SFS_SNAP_COMPLETED:
		return "completed";
	case SFS_SNAP_ERROR:
		return "error";
	}
	return "unknown";
}

static int state_from_name(const char *s)
{
	for (int i = SFS_SNAP_PENDING; i <= SFS_SNAP_ERROR; i++)
		if (!strcmp(s, sfs_snap_state_name(i)))
			return i;
	return -1;
}

void sfs_snapshot_release(struct sfs_snapshot *sn)
{
	if (!sn)
		return;
	free(sn->description);
	free(sn->copied_from);
	json_decref(sn->tags);
	sn->description = sn->copied_from = NULL;
	sn->tags = NULL;
}

int sfs_snapshot_decode(const void *buf, size_t len, struct sfs_snapshot *ret)
{
	struct sfs_snapshot sn = { 0 };
	char state[16], root[SFS_ID_HEX_LEN + 1];
	uint64_t created = 0, bs = 0, depth = 0;
	json_t *o = parse_record(buf, len);
	int r;

	if (!o)
		return -EBADMSG;
	r = jstr(o, "id", true, sn.id, sizeof(sn.id));
	if (!r)
		r = jstr(o, "volume", true, sn.volume, sizeof(sn.volume));
	if (!r)
		r = jstr(o, "parent", false, sn.parent, sizeof(sn.parent));
	if (!r)
		r = jstr(o, "state", true, state, sizeof(state));
	if (!r)
		r = jstr(o, "root", true, root, sizeof(root));
	if (!r)
		r = ju64(o, "seq", true, &sn.seq);
	if (!r)
		r = ju64(o, "created", true, &created);
	if (!r)
		r = ju64(o, "size", true, &sn.size);
	if (!r)
		r = ju64(o, "block_size", true, &bs);
	if (!r)
		r = ju64(o, "depth", true, &depth);
	if (!r)
		r = ju64(o, "data_bytes", false, &sn.data_bytes);
	if (!r)
		r = ju64(o, "new_bytes", false, &sn.new_bytes);
	if (!r)
		r = ju64(o, "new_chunks", false, &sn.new_chunks);
	if (!r)
		r = jstrdup(o, "description", &sn.description);
	if (!r)
		r = jstrdup(o, "copied_from", &sn.copied_from);
	if (!r)
		r = jtags(o, &sn.tags);
	if (!r) {
		sn.state = state_from_name(state);
		sn.created = (int64_t)created;
		sn.block_size = (uint32_t)bs;
		sn.depth = (uint32_t)depth;
		if (sn.state < 0 || !sfs_idstr_valid(sn.id, "snap-") || !sfs_name_valid(sn.volume) ||
		    (sn.parent[0] && !sfs_idstr_valid(sn.parent, "snap-")) ||
		    bs < SFS_BLOCK_MIN || bs > SFS_BLOCK_MAX || (bs & (bs - 1)) || depth > 6 ||
		    sfs_id_from_hex(root, &sn.root) < 0 || sn.size > (UINT64_C(1) << 56) ||
		    sn.data_bytes > sn.size)
			r = -EBADMSG;
	}
	json_decref(o);
	if (r < 0) {
		sfs_snapshot_release(&sn);
		return r;
	}
	*ret = sn;
	return 0;
}

json_t *sfs_snapshot_to_json(const struct sfs_snapshot *sn)
{
	char root[SFS_ID_HEX_LEN + 1];

	sfs_id_to_hex(&sn->root, root);
	return json_pack("{s:s, s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, "
			 "s:s?, s:s?, s:O}",
			 "id", sn->id, "volume", sn->volume, "parent",
			 sn->parent[0] ? sn->parent : NULL, "state", sfs_snap_state_name(sn->state),
			 "seq", (json_int_t)sn->seq, "created", (json_int_t)sn->created, "size",
			 (json_int_t)sn->size, "block_size", (json_int_t)sn->block_size, "root",
			 root, "depth", (json_int_t)sn->depth, "data_bytes",
			 (json_int_t)sn->data_bytes, "new_bytes", (json_int_t)sn->new_bytes,
			 "new_chunks", (json_int_t)sn->new_chunks, "description", sn->description,
			 "copied_from", sn->copied_from, "tags",
			 sn->tags ? sn->tags : json_object());
}

char *sfs_snapshot_encode(const struct sfs_snapshot *sn)
{
	return sfs_record_dumps(sfs_snapshot_to_json(sn), RECORD_VERSION);
}

/* volsnap key: volume name, NUL, 16 hex digits of seq. Sorts a volume's
 * snapshots oldest first and keeps volumes apart. */
static size_t volsnap_key(const char *volume, uint64_t seq, char *buf)
{
	size_t n = strlen(volume);

	memcpy(buf, volume, n);
	buf[n] = '\0';
	snprintf(buf + n + 1, 17, "%016" PRIx64, seq);
	return n + 1 + 16;
}

int sfs_cat_snapshot_get(struct sfs_txn *t, const char *id, struct sfs_snapshot *ret)
{
	MDB_val v;
	int r = sfs_cat_get_raw(t, SFS_DBI_SNAPSHOTS, id, strlen(id), &v);

	if (r < 0)
		return r;
	return sfs_snapshot_decode(v.mv_data, v.mv_size, ret);
}

/* The pending state of the stored record id: 1 pending, 0 not or absent. */
static int stored_pending(struct sfs_txn *t, const char *id)
{
	struct sfs_snapshot old;
	int r = sfs_cat_snapshot_get(t, id, &old);

	if (r == -ENOENT || r == -EBADMSG)
		return 0;
	if (r < 0)
		return r;
	r = old.state == SFS_SNAP_PENDING;
	sfs_snapshot_release(&old);
	return r;
}

int sfs_cat_snapshot_put(struct sfs_txn *t, const struct sfs_snapshot *sn)
{
	char key[SFS_NAME_MAX + 32];
	char *s;
	size_t kl;
	int was = stored_pending(t, sn->id), r;

	if (was < 0)
		return was;
	s = sfs_snapshot_encode(sn);
	if (!s)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_SNAPSHOTS, sn->id, strlen(sn->id), s, strlen(s));
	free(s);
	if (r == 0 && was != (sn->state == SFS_SNAP_PENDING))
		r = sfs_cat_pending_add(t, was ? -1 : 1);
	if (r < 0)
		return r;
	kl = volsnap_key(sn->volume, sn->seq, key);
	return sfs_cat_put_raw(t, SFS_DBI_VOLSNAP, key, kl, sn->id, strlen(sn->id));
}

int sfs_cat_snapshot_del(struct sfs_txn *t, const char *id)
{
	struct sfs_snapshot sn;
	char key[SFS_NAME_MAX + 32];
	size_t kl;
	int r = sfs_cat_snapshot_get(t, id, &sn);

	if (r < 0)
		return r;
	kl = volsnap_key(sn.volume, sn.seq, key);
	r = sn.state == SFS_SNAP_PENDING ? sfs_cat_pending_add(t, -1) : 0;
	sfs_snapshot_release(&sn);
	if (r < 0)
		return r;
	r = sfs_cat_del_raw(t, SFS_DBI_VOLSNAP, key, kl);
	if (r < 0 && r != -ENOENT)
		return r;
	return sfs_cat_del_raw(t, SFS_DBI_SNAPSHOTS, id, strlen(id));
}

struct snapshot_iter {
	sfs_snapshot_fn fn;
	void *ctx;
	bool skip_damaged; /* pass over a record that does not decode */
};

static int snapshot_iter_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct snapshot_iter *it = ctx;
	struct sfs_snapshot sn;
	int r = sfs_snapshot_decode(v->mv_data, v->mv_size, &sn);

	(void)k;
	if (r < 0)
		return it->skip_damaged ? 0 : r;
	r = it->fn(it->ctx, &sn);
	sfs_snapshot_release(&sn);
	return r;
}

static int foreach_all(struct sfs_txn *t, sfs_snapshot_fn fn, void *ctx)
{
	struct snapshot_iter it = { fn, ctx, false };

	return sfs_cat_foreach_raw(t, SFS_DBI_SNAPSHOTS, snapshot_iter_cb, &it);
}

int sfs_cat_snapshot_foreach(struct sfs_txn *t, const char *volume, sfs_snapshot_fn fn, void *ctx)
{
	char prefix[SFS_NAME_MAX + 2];
	size_t pl;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (!volume)
		return foreach_all(t, fn, ctx);
	pl = strlen(volume) + 1;
	if (pl > sizeof(prefix))
		return -EINVAL;
	memcpy(prefix, volume, pl);
	rc = mdb_cursor_open(t->txn, dbi(t, SFS_DBI_VOLSNAP), &c);
	if (rc)
		return sfs_mdb_err(rc);
	k.mv_data = prefix;
	k.mv_size = pl;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char id[SFS_IDSTR_SIZE];
		struct sfs_snapshot sn;

		if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0)
			break;
		if (v.mv_size >= sizeof(id)) {
			r = -EBADMSG;
			break;
		}
		memcpy(id, v.mv_data, v.mv_size);
		id[v.mv_size] = '\0';
		r = sfs_cat_snapshot_get(t, id, &sn);
		if (r < 0)
			break;
		r = fn(ctx, &sn);
		sfs_snapshot_release(&sn);
		if (r)
			break;
	}
	if (rc && rc != MDB_NOTFOUND)
		r = sfs_mdb_err(rc);
	mdb_cursor_close(c);
	return r;
}

int sfs_cat_snapshot_latest(struct sfs_txn *t, const char *volume, struct sfs_snapshot *ret)
{
	/* Walk backwards from the end of the volume's key range: the newest
	 * completed snapshot is almost always the last key, so this is O(1)
	 * in the number of snapshots. */
	char prefix[SFS_NAME_MAX + 2], endkey[SFS_NAME_MAX + 2];
	size_t pl;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = -ENOENT;

	pl = strlen(volume) + 1;
	if (pl > sizeof(prefix))
		return -EINVAL;
	memcpy(prefix, volume, pl);
	memcpy(endkey, volume, pl);
	endkey[pl - 1] = '\x01'; /* first key after every "volume\0..." */
	rc = mdb_cursor_open(t->txn, dbi(t, SFS_DBI_VOLSNAP), &c);
	if (rc)
		return sfs_mdb_err(rc);
	k.mv_data = endkey;
	k.mv_size = pl;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		char id[SFS_IDSTR_SIZE];
		struct sfs_snapshot sn;

		if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0)
			break;
		if (v.mv_size >= sizeof(id)) {
			r = -EBADMSG;
			break;
		}
		memcpy(id, v.mv_data, v.mv_size);
		id[v.mv_size] = '\0';
		r = sfs_cat_snapshot_get(t, id, &sn);
		if (r < 0)
			break;
		if (sn.state == SFS_SNAP_COMPLETED) {
			*ret = sn;
			r = 0;
			break;
		}
		sfs_snapshot_release(&sn);
		r = -ENOENT;
	}
	if (rc && rc != MDB_NOTFOUND)
		r = sfs_mdb_err(rc);
	mdb_cursor_close(c);
	return r;
}

struct pending_ctx {
	char (*ids)[SFS_IDSTR_SIZE];
	size_t n, cap;
};

static int pending_cb(void *ctx, const struct sfs_snapshot *sn)
{
	struct pending_ctx *p = ctx;

	if (sn->state != SFS_SNAP_PENDING)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		void *n = realloc(p->ids, cap * sizeof(*p->ids));
		if (!n)
			return -ENOMEM;
		p->ids = n;
		p->cap = cap;
	}
	memcpy(p->ids[p->n++], sn->id, SFS_IDSTR_SIZE);
	sfs_log(SFS_LOG_WARN, "discarding snapshot %s of volume %s: its create was interrupted",
		sn->id, sn->volume);
	return 0;
}

int sfs_cat_pending_add(struct sfs_txn *t, int delta)
{
	uint64_t n = 0;
	int r = sfs_cat_meta_get(t, "pending", &n);

	if (r < 0 && r != -ENOENT)
		return r;
	if (delta < 0 && (uint64_t)-delta > n)
		n = 0;
	else
		n += (uint64_t)(int64_t)delta;
	return sfs_cat_meta_put(t, "pending", n);
}

int sfs_cat_discard_pending(struct sfs_txn *t)
{
	struct pending_ctx p = { 0 };
	struct snapshot_iter it = { pending_cb, &p, true };
	uint64_t count = 0;
	int r;

	/* The count of pending records keeps every writer's open O(1) in the
	 * number of snapshots; only after an interrupted writer is there
	 * anything to scan for. */
	r = sfs_cat_meta_get(t, "pending", &count);
	if (r < 0 && r != -ENOENT)
		return r;
	if (count == 0)
		return 0;
	/* A damaged record must not stop recovery (and with it every writer
	 * and check); it is skipped here and reported by check. */
	r = sfs_cat_foreach_raw(t, SFS_DBI_SNAPSHOTS, snapshot_iter_cb, &it);
	for (size_t i = 0; r == 0 && i < p.n; i++)
		r = sfs_cat_snapshot_del(t, p.ids[i]);
	free(p.ids);
	if (r == 0)
		r = sfs_cat_meta_put(t, "pending", 0);
	if (r == 0 && p.n)
		r = sfs_cat_bump_generation(t);
	return r < 0 ? r : (int)p.n;
}
