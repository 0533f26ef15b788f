// SPDX-License-Identifier: MIT
/*
 * The LMDB catalog: transactions, the chunk index, meta counters, volumes
 * and snapshots. Every value is copied out of LMDB memory before a
 * function returns; decoders check every field they read, since a catalog
 * on disk is as untrusted as a pack.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "snapfs/catalog.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "util_int.h"
#include "volcreated_int.h"

#define LOC_VERSION 1

struct sfs_txn {
	struct sfs_store *store;
	MDB_txn *txn;
	bool write;
	bool bumped; /* generation already bumped in this transaction */
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
	if (s->rados && !s->writable)
		sfs_rados_catalog_refresh(s);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = mdb_txn_begin(__atomic_load_n(&s->env, __ATOMIC_ACQUIRE), NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return sfs_mdb_err(rc);
	}
	t->store = s;
	t->write = write;
	*ret = t;
	return 0;
}

/* Space past the end of data.mdb allocated ahead (FALLOC_FL_KEEP_SIZE):
 * the pages a later commit appends land in blocks the filesystem already
 * gave us, so that deleting snapshots and running gc, the way out of a
 * full disk, still commit when nothing is free. Best effort: on a full
 * disk the call fails and the reserve already there is what is left. */
#define RESERVE_MIN (256u << 10)
#define RESERVE_MAX (16u << 20)

void sfs_catalog_reserve(struct sfs_store *s)
{
	struct statvfs vfs;
	struct stat st;
	uint64_t want, fs;
	int fd;

	if (!s->writable || mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) < 0 ||
	    fstatvfs(fd, &vfs) < 0)
		return;
	/* An eighth of the catalog, what the commits of a large delete or gc
	 * touch at most, within bounds; and never more than 1/128 of the
	 * filesystem, so that a small disk is not eaten by its own reserve. */
	want = (uint64_t)st.st_size / 8;
	want = want < RESERVE_MIN ? RESERVE_MIN : want > RESERVE_MAX ? RESERVE_MAX : want;
	fs = (uint64_t)vfs.f_blocks * vfs.f_frsize / 128;
	if (want > fs)
		want = fs;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, (off_t)want) < 0 && errno != ENOSPC &&
	    errno != EOPNOTSUPP)
		sfs_log(SFS_LOG_DEBUG, "cannot reserve catalog space: %s", strerror(errno));
}

/* The space reserve for gc's pack rewrites: a preallocated file that gc
 * gives back when a rewrite finds the disk full, and that the next
 * writable open takes again when there is room. */
#define SPACE_RESERVE_NAME "reserve"

static int add_committed(void *ctx, const struct sfs_pack_rec *p)
{
	if (p)
		*(uint64_t *)ctx += p->length;
	return 0;
}

/* The bytes the pack table says are committed: what the reserve is sized
 * from, without a stat of every pack (an object of a RADOS pool each). */
static int committed_pack_bytes(struct sfs_store *s, uint64_t *ret)
{
	struct sfs_txn *t;
	int r = sfs_txn_begin(s, false, &t);

	*ret = 0;
	if (r < 0)
		return r;
	r = sfs_cat_pack_foreach(t, add_committed, ret);
	sfs_txn_abort(t);
	return r;
}

void sfs_space_reserve(struct sfs_store *s)
{
	struct statvfs vfs;
	struct stat st;
	uint64_t want, packs = 0, cap;
	int fd;

	if (!s->writable || fstatvfs(s->dirfd, &vfs) < 0)
		return;
	/* Room to rewrite a quarter pack, scaled down for a small store (1/64
	 * of its packs, at least 1 MiB) and for a small disk (1/64 of it). */
	want = s->pack_size / 4;
	if (committed_pack_bytes(s, &packs) == 0) {
		cap = packs / 64 > (1u << 20) ? packs / 64 : (1u << 20);
		if (want > cap)
			want = cap;
	}
	cap = (uint64_t)vfs.f_blocks * vfs.f_frsize / 64;
	if (want > cap)
		want = cap;
	if (fstatat(s->dirfd, SPACE_RESERVE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && (uint64_t)st.st_blocks * 512 >= want)
		return;
	fd = openat(s->dirfd, SPACE_RESERVE_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fallocate(fd, 0, 0, (off_t)want) < 0)
		sfs_log(SFS_LOG_DEBUG, "cannot reserve space for gc: %s", strerror(errno));
	close(fd);
}

bool sfs_space_release(struct sfs_store *s)
{
	struct stat st;

	if (fstatat(s->dirfd, SPACE_RESERVE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_blocks == 0)
		return false;
	return unlinkat(s->dirfd, SPACE_RESERVE_NAME, 0) == 0;
}

int sfs_txn_commit(struct sfs_txn *t)
{
	struct sfs_store *s = t->store;
	bool write = t->write;
	int rc = mdb_txn_commit(t->txn);

	free(t);
	if (rc == 0 && write)
		sfs_catalog_reserve(s);
	/* Every commit of a store on RADOS is published before the caller
	 * goes on (gc removes packs only after the catalog without them is
	 * out there). */
	if (rc == 0 && write && s->rados)
		sfs_rados_catalog_publish(s);
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

/* A change to what a mount shows (volumes, snapshots, images) bumps the
 * generation, once per transaction, here where every such change passes,
 * so that no caller can forget it and leave a mount showing stale names. */
static int note_change(struct sfs_txn *t, enum sfs_dbi which)
{
	int r;

	if (t->bumped ||
	    (which != SFS_DBI_VOLUMES && which != SFS_DBI_SNAPSHOTS && which != SFS_DBI_IMAGES &&
	     which != SFS_DBI_CHECKPOINTS))
		return 0;
	r = sfs_cat_bump_generation(t);
	if (r == 0)
		t->bumped = true;
	return r;
}

int sfs_cat_put_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen,
		    const void *v, size_t vlen)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
	int r = sfs_mdb_err(mdb_put(t->txn, dbi(t, which), &key, &val, 0));

	return r < 0 ? r : note_change(t, which);
}

int sfs_cat_del_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen)
{
	MDB_val key = { klen, (void *)k };
	int r = sfs_mdb_err(mdb_del(t->txn, dbi(t, which), &key, NULL));

	return r < 0 ? r : note_change(t, which);
}

int sfs_cat_foreach_prefix(struct sfs_txn *t, enum sfs_dbi which, const void *prefix,
			   size_t plen, unsigned flags, sfs_cat_raw_fn fn, void *ctx)
{
	bool reverse = flags & SFS_CAT_REVERSE;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t end[SFS_NAME_MAX + 2];
	int rc, r = 0;

	if (plen > sizeof(end))
		return -EINVAL;
	rc = mdb_cursor_open(t->txn, dbi(t, which), &c);
	if (rc)
		return sfs_mdb_err(rc);
	if (plen == 0) {
		rc = mdb_cursor_get(c, &k, &v, reverse ? MDB_LAST : MDB_FIRST);
	} else if (!reverse) {
		k.mv_data = (void *)prefix;
		k.mv_size = plen;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else {
		/* The first key past the range is prefix with its last byte
		 * raised (prefixes here end in NUL, so no carry), and the
		 * range's last key is the one before it. */
		memcpy(end, prefix, plen);
		end[plen - 1]++;
		k.mv_data = end;
		k.mv_size = plen;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, reverse ? MDB_PREV : MDB_NEXT)) {
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		r = fn(ctx, &k, &v);
		if (r)
			break;
	}
	if (rc && rc != MDB_NOTFOUND)
		r = sfs_mdb_err(rc);
	mdb_cursor_close(c);
	return r;
}

int sfs_cat_foreach_raw(struct sfs_txn *t, enum sfs_dbi which, sfs_cat_raw_fn fn, void *ctx)
{
	return sfs_cat_foreach_prefix(t, which, NULL, 0, 0, fn, ctx);
}

void sfs_cat_key_name(const void *key, size_t len, char ret[SFS_NAME_MAX + 1])
{
	const char *k = key;
	size_t n = len < SFS_NAME_MAX ? len : SFS_NAME_MAX;

	/* Nothing unprintable reaches a log line or a terminal. */
	for (size_t i = 0; i < n; i++)
		ret[i] = k[i] > ' ' && k[i] < 0x7f ? k[i] : '?';
	ret[n] = '\0';
}

struct decoded_walk {
	const struct sfs_cat_codec *c;
	void *rec;
	sfs_cat_rec_fn fn; /* a listing: called on each record */
	void *ctx;
	const char *id; /* a find: the id sought, its record kept */
};

/* Decodes one record into w->rec: 0, 1 to pass it over (not a record of
 * the walk, or damaged, which is logged) or -errno. */
static int walk_decode(const struct decoded_walk *w, const MDB_val *k, const MDB_val *v)
{
	char why[256] = "", key[SFS_NAME_MAX + 1];
	int r = w->c->decode(k, v, w->rec, why, sizeof(why));

	if (r != -EBADMSG)
		return r;
	sfs_cat_key_name(k->mv_data, k->mv_size, key);
	sfs_log(SFS_LOG_WARN, "%s %s skipped: its record is damaged%s%s", w->c->what, key,
		why[0] ? ": " : "", why);
	return 1;
}

static int decoded_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct decoded_walk *w = ctx;
	int r = walk_decode(w, k, v);

	if (r)
		return r < 0 ? r : 0;
	r = w->fn(w->ctx, w->rec);
	w->c->release(w->rec);
	return r;
}

int sfs_cat_foreach_decoded(struct sfs_txn *t, const struct sfs_cat_codec *c, const void *prefix,
			    size_t plen, void *rec, sfs_cat_rec_fn fn, void *ctx)
{
	struct decoded_walk w = { c, rec, fn, ctx, NULL };

	return sfs_cat_foreach_prefix(t, c->which, prefix, plen, 0, decoded_cb, &w);
}

static int find_decoded_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct decoded_walk *w = ctx;
	int r = walk_decode(w, k, v);

	if (r)
		return r < 0 ? r : 0;
	if (!strcmp((const char *)w->rec + w->c->id_offset, w->id))
		return 1; /* the caller's now */
	w->c->release(w->rec);
	return 0;
}

int sfs_cat_find_decoded(struct sfs_txn *t, const struct sfs_cat_codec *c, const char *id,
			 void *ret)
{
	struct decoded_walk w = { c, ret, NULL, NULL, id };
	int r = sfs_cat_foreach_prefix(t, c->which, NULL, 0, 0, find_decoded_cb, &w);

	if (r < 0)
		return r;
	return r == 1 ? 0 : -ENOENT;
}

/* Logs a record that does not decode, once per listing, so that
 * listings go on without it; check names it and delete can remove it. */
static void log_damaged(const MDB_val *k, const char *what)
{
	sfs_log(SFS_LOG_WARN, "catalog: %s record %.*s is damaged; skipped (run check)", what,
		(int)(k->mv_size > 64 ? 64 : k->mv_size), (const char *)k->mv_data);
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
	    sfs_rec_lengths_check(l.comp, l.raw_len, l.stored_len) < 0 ||
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

	/* The walk touches every page of the chunk index, in key order,
	 * which is not the file's: faulted in one page at a time, a cold
	 * 460 MB catalog (4 million chunks) took a report 10 s, against 0.1
	 * s to read the file in order and 0.4 s for the report then. */
	sfs_cat_prefetch(t->store, UINT64_MAX);
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

int sfs_cat_meta_del(struct sfs_txn *t, const char *key)
{
	return sfs_cat_del_raw(t, SFS_DBI_META, key, strlen(key));
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
	r = sfs_volcreated_bumped(t, g, g + 1);
	return r < 0 ? r : sfs_cat_meta_put(t, "generation", g + 1);
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

int sfs_cat_volume_ensure(struct sfs_txn *t, const char *name, int64_t created,
			  const json_t *tags, struct sfs_volume *ret)
{
	struct sfs_volume v = { 0 };
	int r = sfs_cat_volume_get(t, name, &v);

	if (r != -ENOENT)
		goto out;
	memset(&v, 0, sizeof(v));
	if (strlen(name) > SFS_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.created = created;
	v.tags = tags ? json_deep_copy(tags) : json_object();
	if (!v.tags)
		return -ENOMEM;
	r = sfs_idstr_new("vol-", v.id);
	if (r == 0)
		r = sfs_cat_volume_put(t, &v);
out:
	if (r == 0 && ret)
		*ret = v;
	else
		sfs_volume_release(&v);
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

	if (r == -EBADMSG) {
		log_damaged(k, "volume");
		return 0;
	}
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

/* The stored record id, brief: 0 (in *ret), -ENOENT, -EBADMSG, -errno. */
static int stored_brief(struct sfs_txn *t, const char *id, struct sfs_snapshot *ret)
{
	MDB_val v;
	int r = sfs_cat_get_raw(t, SFS_DBI_SNAPSHOTS, id, strlen(id), &v);

	return r < 0 ? r : sfs_snapshot_decode_brief(v.mv_data, v.mv_size, ret);
}

int sfs_cat_snapshot_put(struct sfs_txn *t, const struct sfs_snapshot *sn)
{
	struct sfs_snapshot old;
	char key[SFS_NAME_MAX + 32];
	char *s;
	size_t kl;
	int had = stored_brief(t, sn->id, &old), r;
	bool was;

	if (had < 0 && had != -ENOENT && had != -EBADMSG)
		return had;
	was = had == 0 && old.state == SFS_SNAP_PENDING;
	s = sfs_snapshot_encode(sn);
	if (!s)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_SNAPSHOTS, sn->id, strlen(sn->id), s, strlen(s));
	free(s);
	if (r == 0 && was != (sn->state == SFS_SNAP_PENDING))
		r = sfs_cat_pending_add(t, was ? -1 : 1);
	if (r == 0)
		r = sfs_volcreated_update(t, had == 0 ? &old : NULL, had == -EBADMSG, sn->id, sn);
	if (r < 0)
		return r;
	kl = volsnap_key(sn->volume, sn->seq, key);
	return sfs_cat_put_raw(t, SFS_DBI_VOLSNAP, key, kl, sn->id, strlen(sn->id));
}

bool sfs_cat_idstr(const MDB_val *v, char id[SFS_IDSTR_SIZE])
{
	if (v->mv_size >= SFS_IDSTR_SIZE)
		return false;
	memcpy(id, v->mv_data, v->mv_size);
	id[v->mv_size] = '\0';
	return true;
}

/* The key of `which` whose value is id, for a record too damaged to say
 * its volume, time or seq. */
struct index_find {
	const char *id;
	char key[SFS_NAME_MAX + 32];
	size_t klen;
};

static int index_find_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct index_find *f = ctx;

	if (v->mv_size != strlen(f->id) || memcmp(v->mv_data, f->id, v->mv_size) != 0 ||
	    k->mv_size > sizeof(f->key))
		return 0;
	memcpy(f->key, k->mv_data, k->mv_size);
	f->klen = k->mv_size;
	return 1;
}

int sfs_cat_index_del_id(struct sfs_txn *t, enum sfs_dbi which, const char *id)
{
	struct index_find f = { .id = id };
	int r = sfs_cat_foreach_raw(t, which, index_find_cb, &f);

	if (r < 0 || !f.klen)
		return r < 0 ? r : 0;
	return sfs_cat_del_raw(t, which, f.key, f.klen);
}

int sfs_cat_snapshot_del(struct sfs_txn *t, const char *id)
{
	struct sfs_snapshot sn;
	char key[SFS_NAME_MAX + 32];
	size_t kl;
	int r = sfs_cat_snapshot_get(t, id, &sn);

	if (r == -EBADMSG) {
		/* A damaged record can still be deleted: its index entry is
		 * found by the id it points at (a scan, only in this case). */
		r = sfs_cat_index_del_id(t, SFS_DBI_VOLSNAP, id);
		if (r == 0)
			r = sfs_volcreated_update(t, NULL, true, id, NULL);
		if (r < 0)
			return r;
		sfs_log(SFS_LOG_WARN, "catalog: deleting damaged snapshot record %s", id);
		return sfs_cat_del_raw(t, SFS_DBI_SNAPSHOTS, id, strlen(id));
	}
	if (r < 0)
		return r;
	kl = volsnap_key(sn.volume, sn.seq, key);
	r = sn.state == SFS_SNAP_PENDING ? sfs_cat_pending_add(t, -1) : 0;
	if (r == 0)
		r = sfs_volcreated_update(t, &sn, false, id, NULL);
	sfs_snapshot_release(&sn);
	if (r < 0)
		return r;
	r = sfs_cat_del_raw(t, SFS_DBI_VOLSNAP, key, kl);
	if (r < 0 && r != -ENOENT)
		return r;
	return sfs_cat_del_raw(t, SFS_DBI_SNAPSHOTS, id, strlen(id));
}

/* ---- the indexes of snapshots: check and mend ---- */

struct index_walk {
	struct sfs_txn *t;
	const struct sfs_index_kind *kind;
	sfs_index_problem_fn fn; /* NULL: mend */
	void *ctx;
	MDB_val *stale; /* mend: keys of entries to delete */
	size_t n_stale, cap_stale;
	uint64_t fixed;
};

static int index_problem(struct index_walk *w, const MDB_val *k, const char *id, const char *what)
{
	MDB_val *grown;

	if (w->fn) {
		w->fn(w->ctx, id, what);
		return 0;
	}
	if (w->n_stale == w->cap_stale) {
		w->cap_stale = w->cap_stale ? 2 * w->cap_stale : 16;
		grown = realloc(w->stale, w->cap_stale * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		w->stale = grown;
	}
	w->stale[w->n_stale].mv_data = malloc(k->mv_size);
	if (!w->stale[w->n_stale].mv_data)
		return -ENOMEM;
	memcpy(w->stale[w->n_stale].mv_data, k->mv_data, k->mv_size);
	w->stale[w->n_stale++].mv_size = k->mv_size;
	return 0;
}

/* The key snapshot record v has in the index (0: none), or -1 when the
 * record does not decode, which is check's to report: its entry stays. */
static ssize_t index_key_of(const struct index_walk *w, const MDB_val *v,
			    uint8_t key[SFS_INDEX_KEY_MAX])
{
	struct sfs_snapshot sn;

	if (sfs_snapshot_decode_brief(v->mv_data, v->mv_size, &sn) < 0)
		return -1;
	return (ssize_t)w->kind->key_of(&sn, key);
}

/* An entry names a snapshot whose record gives it its key. */
static int index_entry_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct index_walk *w = ctx;
	uint8_t want[SFS_INDEX_KEY_MAX];
	char id[SFS_IDSTR_SIZE];
	MDB_val rec;
	ssize_t kl;
	int r;

	if (!sfs_cat_idstr(v, id))
		return index_problem(w, k, NULL, "an entry is damaged");
	r = sfs_cat_get_raw(w->t, SFS_DBI_SNAPSHOTS, id, strlen(id), &rec);
	if (r == -ENOENT)
		return index_problem(w, k, id, "is named but has no record");
	if (r < 0)
		return r;
	kl = index_key_of(w, &rec, want);
	if (kl >= 0 && ((size_t)kl != k->mv_size || memcmp(want, k->mv_data, (size_t)kl)))
		return index_problem(w, k, id, "is named under a key its record disagrees with");
	return 0;
}

/* Every snapshot with a key has its entry, naming it. */
static int index_record_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct index_walk *w = ctx;
	uint8_t key[SFS_INDEX_KEY_MAX];
	char id[SFS_IDSTR_SIZE];
	MDB_val got;
	ssize_t kl;
	int r;

	if (!sfs_cat_idstr(k, id))
		return 0;
	kl = index_key_of(w, v, key);
	if (kl <= 0)
		return 0;
	r = sfs_cat_get_raw(w->t, w->kind->dbi, key, (size_t)kl, &got);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && got.mv_size == strlen(id) && !memcmp(got.mv_data, id, got.mv_size))
		return 0;
	if (w->fn) {
		w->fn(w->ctx, id, "is missing from it");
		return 0;
	}
	/* Mending: the entries that disagreed are gone by now, so this key is
	 * free or held by another record with the same key. */
	r = sfs_cat_put_raw(w->t, w->kind->dbi, key, (size_t)kl, id, strlen(id));
	if (r == 0)
		w->fixed++;
	return r;
}

static int index_walk(struct index_walk *w)
{
	int r = sfs_cat_foreach_raw(w->t, w->kind->dbi, index_entry_cb, w);

	for (size_t i = 0; i < w->n_stale; i++) {
		if (r == 0) {
			r = sfs_cat_del_raw(w->t, w->kind->dbi, w->stale[i].mv_data,
					    w->stale[i].mv_size);
			w->fixed += r == 0;
		}
		free(w->stale[i].mv_data);
	}
	free(w->stale);
	if (r == 0)
		r = sfs_cat_foreach_raw(w->t, SFS_DBI_SNAPSHOTS, index_record_cb, w);
	return r;
}

int sfs_cat_index_verify(struct sfs_txn *t, const struct sfs_index_kind *kind,
			 sfs_index_problem_fn fn, void *ctx)
{
	struct index_walk w = { .t = t, .kind = kind, .fn = fn, .ctx = ctx };

	return index_walk(&w);
}

int sfs_cat_index_mend(struct sfs_txn *t, const struct sfs_index_kind *kind, uint64_t *ret_fixed)
{
	struct index_walk w = { .t = t, .kind = kind };
	int r = index_walk(&w);

	*ret_fixed = w.fixed;
	return r;
}

static size_t volsnap_key_of(const struct sfs_snapshot *sn, uint8_t key[SFS_INDEX_KEY_MAX])
{
	return volsnap_key(sn->volume, sn->seq, (char *)key);
}

const struct sfs_index_kind sfs_index_volsnap = { SFS_DBI_VOLSNAP, volsnap_key_of };

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

	if (r == -EBADMSG && it->skip_damaged) {
		log_damaged(k, "snapshot");
		return 0;
	}
	if (r < 0)
		return r;
	r = it->fn(it->ctx, &sn);
	sfs_snapshot_release(&sn);
	return r;
}

/* A volume's prefix in the volsnap index: its name and the NUL. */
static int volsnap_prefix(const char *volume, char *buf, size_t *ret_len)
{
	size_t pl = strlen(volume) + 1;

	if (pl > SFS_NAME_MAX + 2)
		return -EINVAL;
	memcpy(buf, volume, pl);
	*ret_len = pl;
	return 0;
}

struct volsnap_iter {
	struct sfs_txn *t;
	sfs_snapshot_fn fn;
	void *ctx;
};

static int volsnap_iter_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct volsnap_iter *it = ctx;
	char id[SFS_IDSTR_SIZE];
	struct sfs_snapshot sn;
	int r;

	if (!sfs_cat_idstr(v, id)) {
		log_damaged(k, "volume index");
		return 0;
	}
	r = sfs_cat_snapshot_get(it->t, id, &sn);
	if (r == -EBADMSG || r == -ENOENT) {
		sfs_log(SFS_LOG_WARN, "catalog: snapshot record %s is %s; skipped (run check)", id,
			r == -ENOENT ? "missing" : "damaged");
		return 0;
	}
	if (r < 0)
		return r;
	r = it->fn(it->ctx, &sn);
	sfs_snapshot_release(&sn);
	return r;
}

int sfs_cat_snapshot_foreach(struct sfs_txn *t, const char *volume, sfs_snapshot_fn fn, void *ctx)
{
	char prefix[SFS_NAME_MAX + 2];
	struct volsnap_iter vi = { t, fn, ctx };
	size_t pl;
	int r;

	if (!volume) {
		struct snapshot_iter it = { fn, ctx, true };
		return sfs_cat_foreach_raw(t, SFS_DBI_SNAPSHOTS, snapshot_iter_cb, &it);
	}
	r = volsnap_prefix(volume, prefix, &pl);
	if (r < 0)
		return r;
	return sfs_cat_foreach_prefix(t, SFS_DBI_VOLSNAP, prefix, pl, 0, volsnap_iter_cb, &vi);
}

int sfs_cat_snapshot_brief(struct sfs_txn *t, const char *id, struct sfs_snapshot *ret)
{
	MDB_val rec;
	int r = sfs_cat_get_raw(t, SFS_DBI_SNAPSHOTS, id, strlen(id), &rec);

	if (r == 0)
		r = sfs_snapshot_decode_brief(rec.mv_data, rec.mv_size, ret);
	if (r == -EBADMSG || r == -ENOENT) {
		sfs_log(SFS_LOG_WARN, "catalog: snapshot record %s is %s; skipped (run check)", id,
			r == -ENOENT ? "missing" : "damaged");
		return 1;
	}
	return r;
}

/* The best completed snapshot so far, in creation order. */
struct latest_find {
	struct sfs_txn *t;
	bool found;
	char id[SFS_IDSTR_SIZE];
	int64_t created;
	uint32_t created_ns;
	uint64_t seq;
};

static int latest_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct latest_find *f = ctx;
	char id[SFS_IDSTR_SIZE];
	struct sfs_snapshot sn;
	int r;

	if (!sfs_cat_idstr(v, id)) {
		log_damaged(k, "volume index");
		return 0;
	}
	r = sfs_cat_snapshot_brief(f->t, id, &sn);
	if (r != 0)
		return r > 0 ? 0 : r;
	if (sn.state != SFS_SNAP_COMPLETED ||
	    (f->found && sfs_snap_created_cmp(sn.created, sn.created_ns, sn.seq, f->created,
					      f->created_ns, f->seq) <= 0))
		return 0;
	f->found = true;
	memcpy(f->id, id, sizeof(f->id));
	f->created = sn.created;
	f->created_ns = sn.created_ns;
	f->seq = sn.seq;
	return 0;
}

int sfs_cat_snapshot_latest(struct sfs_txn *t, const char *volume, struct sfs_snapshot *ret)
{
	char prefix[SFS_NAME_MAX + 2];
	struct latest_find f = { .t = t };
	size_t pl;
	int r = volsnap_prefix(volume, prefix, &pl);

	if (r < 0)
		return r;
	/* The creation-time index has the answer at the end of the
	 * volume's range. */
	r = sfs_volcreated_latest(t, volume, f.id);
	if (r == 0)
		return sfs_cat_snapshot_get(t, f.id, ret);
	if (r != -EOPNOTSUPP)
		return r;
	/* A store without a current index (made before it, opened
	 * read-only): volsnap is in seq (arrival) order, and a copy of an
	 * older snapshot arrives after newer ones, so no end of it is the
	 * newest by creation time: every entry is looked at, with the brief
	 * decoder (no heap fields), and only the winner is read whole. */
	r = sfs_cat_foreach_prefix(t, SFS_DBI_VOLSNAP, prefix, pl, 0, latest_cb, &f);
	if (r < 0)
		return r;
	if (!f.found)
		return -ENOENT;
	return sfs_cat_snapshot_get(t, f.id, ret);
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
	return r < 0 ? r : (int)p.n;
}
