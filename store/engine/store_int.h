/* SPDX-License-Identifier: MIT */
/*
 * The store's private state, shared by the store modules. Nothing outside
 * store/ sees it.
 */
#ifndef SFS_STORE_INT_H
#define SFS_STORE_INT_H

#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "snapfs/backend.h"
#include "snapfs/catalog.h"
#include "snapfs/pack.h"
#include "snapfs/store.h"

enum sfs_dbi {
	SFS_DBI_META,
	SFS_DBI_CHUNKS,
	SFS_DBI_VOLUMES,
	SFS_DBI_SNAPSHOTS,
	SFS_DBI_VOLSNAP,
	SFS_DBI_IMAGES,
	SFS_DBI_POLICIES,
	SFS_DBI_PACKS,
	SFS_DBI_BIN,
	SFS_DBI_CHECKPOINTS,
	SFS_DBI_VOLCREATED,
	SFS_DBI_COUNT,
};

/* Databases added after stores existed: a read-only open of an older
 * store finds them missing (a writable open makes them). */
static inline bool sfs_dbi_optional(int which)
{
	return which == SFS_DBI_PACKS || which == SFS_DBI_BIN || which == SFS_DBI_CHECKPOINTS ||
	       which == SFS_DBI_VOLCREATED;
}

/* The names of the databases, in enum sfs_dbi order. */
extern const char *const sfs_dbi_names[SFS_DBI_COUNT];

struct sfs_store {
	char *path;
	int dirfd;
	int lock_fd;  /* -1 unless writable */
	bool writable;
	bool keeps_reserve; /* a writable open that keeps the space reserves (not repair) */
	bool packs_grew;    /* a writer appended to a pack since the open */
	uid_t owner;     /* of the store directory */
	bool owner_only; /* root over another user's store: its files must be the owner's */
	uint32_t block_size;
	int zstd_level;
	int format_version; /* from config: 2 and up write summed records */
	uint64_t pack_size;
	MDB_env *env;
	MDB_dbi dbi[SFS_DBI_COUNT];

	struct sfs_chunkstore *chunks; /* codec configuration and contexts */

	/* An encrypted store (config `encryption`): key_id is the config's
	 * fingerprint of the master key, keyring the unlocked keys (NULL
	 * for a plain store; never NULL for an open encrypted one). */
	bool encrypted;
	uint8_t key_id[16];
	struct sfs_keyring *keyring;

	bool has_pack_table; /* false: a read-only open of an older store */
	bool has_bin;        /* the same for the recycle bin's database */
	bool has_checkpoints; /* the same, for the checkpoints database */
	bool has_volcreated;  /* the same, for the creation-time index (volcreated.c) */
	/* Where the packs live; the only way to their bytes. */
	struct sfs_backend backend;
	_Atomic int64_t revalidated; /* CLOCK_MONOTONIC second of the last revalidate */

	/* The catalog's copy (catalog_copy.c), writer only. */
	bool repair_pending;   /* opened by SFS_OPEN_REPAIR: no copy until repaired */
	/* Opened by SFS_OPEN_RECORD: it commits check's result only, to a
	 * catalog check may have found damaged, so the catalog's copy (what
	 * a repair restores from) is not replaced from it. */
	bool record_only;
	uint64_t copied_txnid; /* LMDB txnid the last copy this process made holds */
	uint64_t copy_ms;      /* how long it took */
	bool copy_force;       /* copy at the next refresh whatever the catalog's size */
	bool restored;         /* SFS_OPEN_REPAIR put the copy in place of the catalog */
	char damaged_name[64]; /* what the damaged catalog was renamed to ("" none) */

	/* A store on RADOS (catalog_rados.c): the published generation this
	 * process has, when a reader last asked for the head, and the
	 * environments a reader switched away from. */
	bool rados;
	bool rados_unpublished; /* a commit's publish failed */
	uint64_t rados_gen;
	struct timespec rados_polled;
	pthread_mutex_t rados_lock;
	MDB_env **rados_old_envs;
	size_t rados_n_old;
};

/* ---- the catalog of a store on RADOS (catalog_rados.c) ---- */

/* Writer: publishes a compacted copy and the head naming it (after every
 * commit); failures are logged and returned, the commit stands. */
int sfs_rados_catalog_publish(struct sfs_store *s);
/* Writer, before opening the environment: takes the published catalog
 * when it is newer than the local one. */
int sfs_rados_catalog_writer_sync(struct sfs_store *s);
/* Reader: opens the environment on the newest published catalog. */
int sfs_rados_catalog_reader_open(struct sfs_store *s);
/* Reader: at most once a second, switches to a newer published catalog. */
void sfs_rados_catalog_refresh(struct sfs_store *s);
void sfs_rados_catalog_close(struct sfs_store *s);
/* Before removing or cutting packs (gc): 0 when every commit of this
 * writer is published (or the store is not on RADOS), else the error of
 * publishing it again now; readers must never be left with a catalog
 * that points at a removed pack. */
int sfs_rados_catalog_published(struct sfs_store *s);

struct sfs_txn;

/* Clears the mark SFS_OPEN_REPAIR set, in the repair's last transaction;
 * commit it, then clear s->repair_pending. */
int sfs_store_repair_done(struct sfs_txn *t);

/* ---- the catalog's copy (catalog_copy.c) ---- */

#define SFS_CATALOG_COPY "copy.mdb"

/* What a walk of every database of an LMDB file found. */
struct sfs_catalog_census {
	uint64_t entries[SFS_DBI_COUNT]; /* keys per database */
	uint64_t damaged;                /* values that fail their decoder's checks */
	unsigned present;                /* bit i: database i exists */
};

/* Walks every database of env (the free list included) in one read
 * transaction, checking every value as its decoder would. 0 (record
 * damage is counted, not an error), -EUCLEAN when LMDB reports damage or
 * the trees do not match their entry counts, -errno. May fault on a
 * damaged file: see sfs_catalog_probe. */
int sfs_catalog_census(MDB_env *env, struct sfs_catalog_census *ret);

/* The census of catalog/name (data.mdb or the copy, opened read-only
 * without a lock file) in a forked child, so that a fault inside LMDB
 * is an answer: 0 (and *ret, may be NULL), -ENOENT (no such file),
 * -ELOOP (not a regular file), -EUCLEAN (LMDB reports damage, or the
 * child faulted), -errno. Forks: call it before starting threads. */
int sfs_catalog_probe(int cfd, const char *name, struct sfs_catalog_census *ret);

/* Writes a verified copy of the catalog to catalog/copy.mdb (temporary
 * file, fsync, census, rename, fsync of the directory); the old copy is
 * kept on any failure. Writer only. 0, -EBADMSG (the catalog has damaged
 * records or the copy does not match it), -errno. */
int sfs_catalog_copy_save(struct sfs_store *s);
/* sfs_catalog_copy_save when the catalog changed since the last copy this
 * process made and a copy is due (every change for a catalog up to 64
 * MiB, less often above: see catalog_copy.c); failures are logged, never
 * returned (the commit before it stands). */
void sfs_catalog_copy_refresh(struct sfs_store *s);
/* Puts the copy in place of catalog/data.mdb, which is kept as
 * data.mdb.damaged-<UTC time> (its name in ret_damaged, "" when there was
 * none). Refused (-EBUSY) while another process has the catalog open;
 * -ENOENT without a copy, -EUCLEAN when the copy is damaged too. The
 * caller holds the writer lock and has not opened the environment. */
int sfs_catalog_restore(struct sfs_store *s, int cfd, char *ret_damaged, size_t cap);

/* Translate an LMDB return code into -errno, once, where LMDB is called. */
struct sfs_txn;

int sfs_mdb_err(int rc);

/* Reads the record at loc (sfs_pack_read through the store's backend),
 * first letting the backend drop what another process removed, at most
 * once a second. Thread-safe. */
int sfs_store_read_record(struct sfs_store *s, const struct sfs_chunk_loc *loc,
			  const struct sfs_id *id, void *buf);
/* Has the backend drop the copies of pack `pack`'s bytes it keeps (a
 * record read from it failed its checks). 1 when it dropped some, so that
 * reading the record again may give other bytes; else 0. Thread-safe. */
int sfs_store_drop_pack_bytes(struct sfs_store *s, uint64_t pack);

/* Keeps space allocated past the end of the catalog file for the commits
 * that free space (delete, gc) on a full disk. Writable stores only. */
void sfs_catalog_reserve(struct sfs_store *s);
/* The reserve file STORE/reserve that gc frees for pack rewrites on a full
 * disk (sfs_space_release: true when there was one to free) and writers
 * take again when there is room. Best effort, writable stores only. */
void sfs_space_reserve(struct sfs_store *s);
bool sfs_space_release(struct sfs_store *s);

MDB_txn *sfs_txn_mdb(struct sfs_txn *t);
struct sfs_store *sfs_txn_store(struct sfs_txn *t);

/* One key of a database of the catalog; -ENOENT when absent. The value
 * points into LMDB memory, valid until the transaction ends or writes. */
/* An index value (or a snapshots key) as an id string: false, and
 * nothing copied, when it is too long to be one. */
bool sfs_cat_idstr(const MDB_val *v, char id[SFS_IDSTR_SIZE]);

/* What check reports of an index of snapshots: an entry for a snapshot
 * (id, or NULL for an entry too damaged to name one) and what is wrong
 * with it. */
typedef void (*sfs_index_problem_fn)(void *ctx, const char *id, const char *what);

#define SFS_INDEX_KEY_MAX (SFS_NAME_MAX + 64)

/* An index of snapshots (its values are snapshot ids): its database, and
 * the key a snapshot has in it (0: none, as a volcreated key for a
 * snapshot that is not completed). */
struct sfs_index_kind {
	enum sfs_dbi dbi;
	size_t (*key_of)(const struct sfs_snapshot *sn, uint8_t key[SFS_INDEX_KEY_MAX]);
};
/* The volsnap index: a volume's snapshots in seq order. */
extern const struct sfs_index_kind sfs_index_volsnap;

/* check: each entry names a snapshot whose record gives it its key, and
 * each snapshot with a key has its entry; fn hears of each that does not.
 * A record that does not decode is check's to report elsewhere. 0 or
 * -errno. */
int sfs_cat_index_verify(struct sfs_txn *t, const struct sfs_index_kind *kind,
			 sfs_index_problem_fn fn, void *ctx);
/* check --repair: deletes the entries verify would name (an entry of a
 * record that does not decode stays, so that its delete still finds it)
 * and adds the missing ones; *ret_fixed says how many. 0 or -errno. */
int sfs_cat_index_mend(struct sfs_txn *t, const struct sfs_index_kind *kind, uint64_t *ret_fixed);

/* Deletes the entry of the index `which` (volsnap, volcreated) whose
 * value is id, found by a scan: for a record too damaged to give its key.
 * 0 (none is fine) or -errno. */
int sfs_cat_index_del_id(struct sfs_txn *t, enum sfs_dbi which, const char *id);

/* The brief record (sfs_snapshot_decode_brief) of snapshot id, which an
 * index entry names: 0, or 1 when it is missing or damaged (logged: the
 * caller skips the entry), or -errno. */
int sfs_cat_snapshot_brief(struct sfs_txn *t, const char *id, struct sfs_snapshot *ret);
int sfs_cat_get_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen,
		    MDB_val *ret);
int sfs_cat_put_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen,
		    const void *v, size_t vlen);
int sfs_cat_del_raw(struct sfs_txn *t, enum sfs_dbi which, const void *k, size_t klen);

/*
 * Calls fn on every key of a database in key order, with values in LMDB
 * memory valid only during the call. Stops at the first non-zero return
 * of fn and returns it; else 0 or the -errno of the cursor.
 */
typedef int (*sfs_cat_raw_fn)(void *ctx, const MDB_val *k, const MDB_val *v);
int sfs_cat_foreach_raw(struct sfs_txn *t, enum sfs_dbi which, sfs_cat_raw_fn fn, void *ctx);
/* Drops this process's mappings of the catalog's pages (they stay in the
 * page cache and fault back in when touched), so that a walk over a large
 * catalog does not keep all of it in RSS. gc and check call it as they
 * go; safe beside readers in other threads. */
void sfs_cat_map_trim(struct sfs_store *s);
/* The same for any environment (the catalog's copy being verified). */
void sfs_mdb_map_trim(MDB_env *env);
/* How many catalog entries gc, check and the copy's census touch between
 * trims. After a trim every page is faulted in again, and a fault maps
 * the other cached pages of its 64 KiB of the file too, which a walk in
 * key order may not reach for a while: trims every 256 entries took a
 * quarter of a dry-run gc's time over 4 million chunks. 4,096 entries of
 * a walk in order lie on some 70 leaf pages; an access by id may fault a
 * page of its own, and gc counts those 16 each. report does not trim: at
 * this rate its walk took 4.5 s instead of 0.7 s, and what it maps is
 * the catalog file's page cache, which the kernel can take back. */
#define SFS_CAT_TRIM_EVERY 4096u
/* Has a thread of its own read the catalog file into the page cache, in
 * order, when its used part is at most max_bytes and at most a quarter of
 * the machine's memory, and no other prefetch of this process is under
 * way; otherwise does nothing. Returns at once.
 * A writer whose lookups and whose copy after commit (catalog_copy.c)
 * will touch most pages of a small catalog calls it first, and so does a
 * walk over the whole chunk index, so that they hit the cache instead of
 * faulting in one 4 KiB page at a time: LMDB maps the file with
 * MADV_RANDOM, so a fault reads no more than its page. */
void sfs_cat_prefetch(struct sfs_store *s, uint64_t max_bytes);
/* A reader of a whole snapshot (a restore, a sequential read through the
 * mount) has the catalog read ahead when it is at most this share of the
 * snapshot's size: one sequential read of it costs less than a fault per
 * page looked up, and for a larger catalog the lookups are too few of it. */
#define SFS_CATALOG_PREFETCH_SHARE 16

/* The same over the keys that start with prefix (plen bytes, at most
 * SFS_NAME_MAX + 2; 0 for every key), newest-last order or, with
 * SFS_CAT_REVERSE, from the last such key back. The one cursor loop of
 * the catalog. */
#define SFS_CAT_REVERSE 1u
int sfs_cat_foreach_prefix(struct sfs_txn *t, enum sfs_dbi which, const void *prefix,
			   size_t plen, unsigned flags, sfs_cat_raw_fn fn, void *ctx);

/* A database key as a printable name for messages (unprintable bytes
 * become '?', cut at SFS_NAME_MAX): a damaged key is shown, not trusted. */
void sfs_cat_key_name(const void *key, size_t len, char ret[SFS_NAME_MAX + 1]);

/*
 * How the records of one database decode, for the walks below. decode
 * fills rec (a record of the caller's type) from key k and value v and
 * returns 0, 1 for a key that holds no such record (passed over
 * silently), -EBADMSG for a damaged record (with why, when it can say) or
 * -errno; release frees what a decoded rec holds; rec keeps its
 * NUL-terminated id at id_offset.
 */
struct sfs_cat_codec {
	enum sfs_dbi which;
	const char *what; /* names a record in the log: "image" */
	int (*decode)(const MDB_val *k, const MDB_val *v, void *rec, char *why, size_t whylen);
	void (*release)(void *rec);
	size_t id_offset;
};

/*
 * Calls fn(ctx, rec) on every record whose key starts with prefix (plen
 * bytes; 0 for every key), decoded into rec and released after the call.
 * A damaged record is logged ("WHAT KEY skipped: its record is damaged:
 * WHY") and passed over: one bad record must not hide every other, check
 * names it and a delete by name removes it. Stops at the first non-zero
 * return of fn and returns it; else 0 or -errno.
 */
typedef int (*sfs_cat_rec_fn)(void *ctx, void *rec);
int sfs_cat_foreach_decoded(struct sfs_txn *t, const struct sfs_cat_codec *c, const void *prefix,
			    size_t plen, void *rec, sfs_cat_rec_fn fn, void *ctx);

/* The record with id id, found by the same walk and decoded into ret,
 * which the caller releases: 0, -ENOENT or -errno. */
int sfs_cat_find_decoded(struct sfs_txn *t, const struct sfs_cat_codec *c, const char *id,
			 void *ret);

/* A catalog record: o (consumed, may be NULL) with "v": version and its
 * "xsum" (record_sum.c), as compact JSON with sorted keys. The caller
 * frees it; NULL: no memory. */
char *sfs_record_dumps(json_t *o, int version);

/* Parses a record written by sfs_record_dumps: a JSON object of that
 * version whose sum ("xsum", or an older "sum") matches its content.
 * NULL when it is not (the caller says -EBADMSG); a record from before
 * sums were written has none and is accepted, with *ret_unsummed set
 * (ret_unsummed may be NULL).
 * The caller decrefs the result. */
json_t *sfs_record_loads(const void *buf, size_t len, int version, bool *ret_unsummed);
/* Whether sfs_record_loads would accept buf, without building the JSON
 * tree for a record that is exactly as its writer wrote it (see
 * record_sum.c): the census's check of every JSON value. */
bool sfs_record_check(const void *buf, size_t len, int version);
/* Its byte path alone: true when buf is exactly as sfs_record_dumps wrote
 * it (a top-level "v":version and a sum that the bytes around it hash
 * to); false says nothing either way. */
bool sfs_record_bytes_verified(const void *buf, size_t len, int version);

/* Looks chunk id up in the index (unless the caller has its location, at)
 * and reads its stored bytes (header checked against the entry) into buf
 * (SFS_STORED_MAX bytes), looking up once more if gc removed the pack in
 * between. The one place that fetches pack bytes by id, for the chunk
 * store. 0, -EUCLEAN (not in the store, or its pack is gone), -EBADMSG,
 * -errno. Thread-safe. */
struct sfs_id;
struct sfs_chunk_loc;
int sfs_read_stored(struct sfs_store *s, const struct sfs_id *id, const struct sfs_chunk_loc *at,
		    struct sfs_chunk_loc *ret_loc, void *buf);

/* The store's chunk store (chunkstore.c): set up from the config by
 * sfs_store_open, torn down by sfs_store_close (after every thread that
 * used it is done with it). */
struct sfs_chunkstore;
int sfs_chunkstore_new(struct sfs_store *s);
void sfs_chunkstore_free(struct sfs_store *s);

/* Keys (keys.c). sfs_keys_unlock unwraps s's master key with cred into
 * s->keyring (-ENOKEY, -EKEYREJECTED, -errno). sfs_keys_master makes the
 * master key of a new store: random, or that of o->same_key_as unlocked
 * with o->encrypt (-EINVAL for a plain one). sfs_keys_create writes the
 * keys file of a new store in dirfd, master wrapped with cred, and
 * returns the key's fingerprint. */
struct sfs_unlock;
int sfs_keys_unlock(struct sfs_store *s, const struct sfs_unlock *cred);
int sfs_keys_master(const struct sfs_store_options *o, uint8_t master[32]);
int sfs_keys_create(int dirfd, const uint8_t master[32], const struct sfs_unlock *cred,
		    uint8_t ret_key_id[16]);

/* JSON record fields, for every record decoder (record.c). A string into
 * dst (capacity cap; missing or null gives "" unless required), or a
 * malloc'd copy (NULL when missing or null). 0, -EBADMSG or -ENOMEM. */
int sfs_json_str(json_t *o, const char *key, bool required, char *dst, size_t cap);
int sfs_json_strdup(json_t *o, const char *key, char **dst);

#endif
