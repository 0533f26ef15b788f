/* SPDX-License-Identifier: MIT */
/*
 * The catalog: an LMDB environment with the chunk index (chunk id -> pack
 * location), volumes, snapshots and a per-volume snapshot index. Chunk
 * locations are fixed-size little-endian binary; volume and snapshot
 * records are versioned JSON objects (field names in store/FORMAT.md).
 *
 * Transactions: a read transaction may be used by the thread that began it
 * only, and should be short (the environment is opened with MDB_NOTLS, so
 * any thread may begin one). Write transactions exist only on a store
 * opened with SFS_OPEN_WRITE. Every pointer or record returned is a copy
 * owned by the caller: nothing points into LMDB memory after a call.
 */
#ifndef SNAPFS_CATALOG_H
#define SNAPFS_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapfs/chunk.h"
#include "snapfs/pack.h"
#include "snapfs/store.h"

#define SFS_NAME_MAX 128  /* volume and image names */
#define SFS_IDSTR_LEN 22 /* "snap-" + 17 hex digits: the longest id */
#define SFS_IDSTR_SIZE 24

struct sfs_txn;

/* Begins a transaction. write requires a writable store. Returns 0,
 * -EROFS, -EUCLEAN (damaged catalog) or -errno. */
int sfs_txn_begin(struct sfs_store *s, bool write, struct sfs_txn **ret);
/* Commits and frees t. -ENOSPC when the catalog or disk is full. */
int sfs_txn_commit(struct sfs_txn *t);
/* Aborts and frees t. Accepts NULL. */
void sfs_txn_abort(struct sfs_txn *t);

/* ---- chunk index ---- */

#define SFS_LOC_VALUE_LEN 32
void sfs_loc_encode(const struct sfs_chunk_loc *loc, uint8_t out[SFS_LOC_VALUE_LEN]);
/* Returns 0 or -EBADMSG (wrong length, version, type or compression). */
int sfs_loc_decode(const void *buf, size_t len, struct sfs_chunk_loc *ret);

/* 0, -ENOENT, -EBADMSG (damaged value) or -errno. */
int sfs_cat_chunk_get(struct sfs_txn *t, const struct sfs_id *id, struct sfs_chunk_loc *ret);
int sfs_cat_chunk_put(struct sfs_txn *t, const struct sfs_id *id, const struct sfs_chunk_loc *loc);
int sfs_cat_chunk_del(struct sfs_txn *t, const struct sfs_id *id);
typedef int (*sfs_chunk_fn)(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc);
/* Calls fn for every entry in id order; a damaged entry is passed to fn
 * with loc == NULL. fn returns non-zero to stop (that value is returned). */
int sfs_cat_chunk_foreach(struct sfs_txn *t, sfs_chunk_fn fn, void *ctx);
int sfs_cat_chunk_count(struct sfs_txn *t, uint64_t *ret);

/* ---- pack table: the packs the catalog has committed ---- */

struct sfs_pack_rec {
	uint64_t number;
	uint64_t length; /* committed length in bytes */
	bool sealed;     /* never appended to again */
};

/* false on a read-only open of a store made before the table existed
 * (a writable open builds it); the functions below then see no rows. */
bool sfs_cat_has_pack_table(struct sfs_txn *t);
/* 0, -ENOENT, -EBADMSG (damaged row) or -errno. */
int sfs_cat_pack_get(struct sfs_txn *t, uint64_t number, struct sfs_pack_rec *ret);
int sfs_cat_pack_put(struct sfs_txn *t, const struct sfs_pack_rec *p);
int sfs_cat_pack_del(struct sfs_txn *t, uint64_t number);
/* fn gets every row in number order, NULL for a damaged row; non-zero
 * from fn stops the walk and is returned. */
typedef int (*sfs_pack_rec_fn)(void *ctx, const struct sfs_pack_rec *p);
int sfs_cat_pack_foreach(struct sfs_txn *t, sfs_pack_rec_fn fn, void *ctx);

/* ---- meta: small named counters ---- */

/* 0 and *ret, or -ENOENT. */
int sfs_cat_meta_get(struct sfs_txn *t, const char *key, uint64_t *ret);
int sfs_cat_meta_put(struct sfs_txn *t, const char *key, uint64_t value);
/* Removes a counter; 0 or -ENOENT when absent. For repair and tests. */
int sfs_cat_meta_del(struct sfs_txn *t, const char *key);
/* Bumps "generation", which changes whenever what a mount shows changes.
 * Every put or delete of a volume, snapshot or image record does this
 * itself, once per transaction; callers need not. */
int sfs_cat_bump_generation(struct sfs_txn *t);
/* The current generation; readers compare it to detect changes cheaply. */
int sfs_cat_generation(struct sfs_txn *t, uint64_t *ret);

/* ---- volumes ---- */

struct sfs_volume {
	char name[SFS_NAME_MAX + 1];
	char id[SFS_IDSTR_SIZE]; /* vol-... */
	int64_t created;         /* unix seconds */
	uint64_t size;           /* logical size of its latest snapshot */
	char *source;            /* where scheduled snapshots read; NULL if unset */
	json_t *tags;            /* object of string values; owned */
	/* Read grants (access.h): sorted arrays of host user and group
	 * names, owned; NULL when there are none. */
	json_t *users;
	json_t *groups;
};

/* The one check of user text bound for a record (a description, a path,
 * a tag): 0 when text is valid UTF-8, -EILSEQ when it is not. Every
 * command that stores such text calls it before opening the store. */
int sfs_text_check(const char *text);

/* Tags under this prefix are set by snapfs itself (a policy marks the
 * snapshots it made with them, and its retention deletes by them), so a
 * user may not set them. */
#define SFS_TAG_RESERVED "snapfs:"
/* A tag a user sets: 0, -EILSEQ (key or value is not valid UTF-8) or
 * -EPERM (key under SFS_TAG_RESERVED). */
int sfs_tag_check(const char *key, const char *value);

/* Valid: 1..128 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool sfs_name_valid(const char *name);
void sfs_volume_release(struct sfs_volume *v); /* accepts NULL */
int sfs_volume_decode(const void *buf, size_t len, struct sfs_volume *ret);
char *sfs_volume_encode(const struct sfs_volume *v); /* malloc'd JSON or NULL */
json_t *sfs_volume_to_json(const struct sfs_volume *v);

int sfs_cat_volume_get(struct sfs_txn *t, const char *name, struct sfs_volume *ret);
int sfs_cat_volume_put(struct sfs_txn *t, const struct sfs_volume *v);
/* The volume record of name, made (with a new id, created and a copy of
 * tags, or none) when there is none yet: the one place that makes a
 * volume. With ret, the record is returned (release it); 0 or -errno. */
int sfs_cat_volume_ensure(struct sfs_txn *t, const char *name, int64_t created,
			  const json_t *tags, struct sfs_volume *ret);
/* Volume records in name order; a damaged record is logged and skipped. */
typedef int (*sfs_volume_fn)(void *ctx, const struct sfs_volume *v);
int sfs_cat_volume_foreach(struct sfs_txn *t, sfs_volume_fn fn, void *ctx);

/* ---- snapshots ---- */

enum sfs_snap_state {
	SFS_SNAP_PENDING = 0,
	SFS_SNAP_COMPLETED = 1,
	SFS_SNAP_ERROR = 2,
};

/* A snapshot lock (lock.h): governance locks can be removed, compliance
 * locks only extended. */
enum sfs_lock_mode {
	SFS_LOCK_NONE = 0,
	SFS_LOCK_GOVERNANCE = 1,
	SFS_LOCK_COMPLIANCE = 2,
};

struct sfs_snapshot {
	char id[SFS_IDSTR_SIZE];
	char volume[SFS_NAME_MAX + 1];
	char parent[SFS_IDSTR_SIZE]; /* "" for a first snapshot */
	int state;
	uint64_t seq;        /* store-wide arrival order */
	int64_t created;     /* unix seconds */
	uint32_t created_ns; /* nanoseconds past created; 0 in older records */
	uint64_t size;       /* logical bytes */
	uint32_t block_size;
	struct sfs_id root;  /* block-map root; zero when the volume is all zeros */
	uint32_t depth;      /* levels of map pages */
	uint64_t data_bytes; /* bytes in non-zero blocks */
	uint64_t new_bytes;  /* stored bytes this snapshot added to the store */
	uint64_t new_chunks;
	char *description;   /* NULL if none; owned */
	char *copied_from;   /* source snapshot id of a copy; NULL if none; owned */
	json_t *tags;        /* object of string values; owned */
	json_t *users;       /* read grants, as a volume's; not kept by copies */
	json_t *groups;
	int lock_mode;       /* enum sfs_lock_mode; SFS_LOCK_NONE: not locked */
	int64_t lock_until;  /* unix seconds the lock holds until; 0 when none */
};

/* Whether sn's lock forbids deleting it at time now. */
static inline bool sfs_snapshot_locked(const struct sfs_snapshot *sn, int64_t now)
{
	return sn->lock_mode != SFS_LOCK_NONE && sn->lock_until > now;
}

/* "governance", "compliance"; NULL for SFS_LOCK_NONE or an unknown value. */
const char *sfs_lock_mode_name(int mode);
/* The enum value of a name above, or -EINVAL. */
int sfs_lock_mode_parse(const char *s);

/* Creation order, the order "latest" and listings follow: creation time
 * (created, then created_ns), and for equal times seq. A copy keeps its
 * source's creation time but gets a new seq, so seq alone is arrival
 * order, not creation order. Returns <0, 0 or >0 as a sorts before b. */
static inline int sfs_snap_created_cmp(int64_t a_created, uint32_t a_ns, uint64_t a_seq,
				       int64_t b_created, uint32_t b_ns, uint64_t b_seq)
{
	if (a_created != b_created)
		return a_created < b_created ? -1 : 1;
	if (a_ns != b_ns)
		return a_ns < b_ns ? -1 : 1;
	return a_seq < b_seq ? -1 : a_seq > b_seq;
}

const char *sfs_snap_state_name(int state);
void sfs_snapshot_release(struct sfs_snapshot *sn); /* accepts NULL */
int sfs_snapshot_decode(const void *buf, size_t len, struct sfs_snapshot *ret);
/* The same checks, without the heap fields (description, copied_from,
 * tags and grants stay NULL, so nothing needs releasing): for listings. */
int sfs_snapshot_decode_brief(const void *buf, size_t len, struct sfs_snapshot *ret);
char *sfs_snapshot_encode(const struct sfs_snapshot *sn);
json_t *sfs_snapshot_to_json(const struct sfs_snapshot *sn);

/* True for "vol-"/"snap-"/"ami-" followed by 8..17 hex digits. */
bool sfs_idstr_valid(const char *id, const char *prefix);
/* Fills buf with prefix + 17 random hex digits. */
int sfs_idstr_new(const char *prefix, char buf[SFS_IDSTR_SIZE]);

int sfs_cat_snapshot_get(struct sfs_txn *t, const char *id, struct sfs_snapshot *ret);
/* Inserts or replaces; keeps the per-volume index in step. */
int sfs_cat_snapshot_put(struct sfs_txn *t, const struct sfs_snapshot *sn);
/* Deletes the record and its index entry; a record that no longer decodes
 * is deleted too (its index entry found by a scan). */
int sfs_cat_snapshot_del(struct sfs_txn *t, const char *id);
typedef int (*sfs_snapshot_fn)(void *ctx, const struct sfs_snapshot *sn);
/* volume NULL: every snapshot in id order; else that volume's, oldest
 * first. A damaged record is logged and skipped, so that one bad record
 * does not hide the others (check reports it; _del removes it). */
int sfs_cat_snapshot_foreach(struct sfs_txn *t, const char *volume, sfs_snapshot_fn fn, void *ctx);
/* Adjusts meta "pending", the number of pending snapshot records.
 * sfs_cat_snapshot_put and _del keep it in step themselves. */
int sfs_cat_pending_add(struct sfs_txn *t, int delta);
/* Deletes every pending snapshot (left by an interrupted writer), logging
 * each. Returns how many or -errno. Their chunks are left to gc. */
int sfs_cat_discard_pending(struct sfs_txn *t);
/* The newest completed snapshot of volume by creation order
 * (sfs_snap_created_cmp), not by arrival: a copy of an older snapshot
 * that arrives last is not the latest. O(log n) through the creation-time
 * index (volcreated); a store without a current one (made before it, opened
 * read-only) decodes every volsnap entry of the volume (the brief fields)
 * instead. 0 or -ENOENT. */
int sfs_cat_snapshot_latest(struct sfs_txn *t, const char *volume, struct sfs_snapshot *ret);

#endif
