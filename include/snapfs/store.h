/* SPDX-License-Identifier: MIT */
/*
 * A store: one directory holding `config`, the LMDB catalog in `catalog/`
 * and pack files in `packs/`. This header is the entry point of the store
 * library: create, open (read-only or as the single writer) and close.
 *
 * A store opened read-only may be used from many threads at once; every
 * function that reads through it says so. A store opened for writing also
 * holds the store's writer lock until it is closed.
 */
#ifndef SNAPFS_STORE_H
#define SNAPFS_STORE_H

#include <stdbool.h>
#include <stdint.h>

/* The newest store format this binary reads and the one init writes.
 * Version 2 adds summed records (store/FORMAT.md); version 1 stores are
 * read and written as they were. */
#define SFS_FORMAT_VERSION 2
#define SFS_DEFAULT_BLOCK_SIZE (32u << 10)
#define SFS_DEFAULT_ZSTD_LEVEL 1
#define SFS_DEFAULT_PACK_SIZE (64ull << 20)

struct sfs_store;
struct sfs_unlock;

struct sfs_store_options {
	uint32_t block_size; /* 0: SFS_DEFAULT_BLOCK_SIZE; power of two, 4 KiB..4 MiB */
	int zstd_level;      /* 0: SFS_DEFAULT_ZSTD_LEVEL; 1..19 */
	uint64_t pack_size;  /* 0: SFS_DEFAULT_PACK_SIZE; a pack is sealed past this */
	/* Non-NULL: an encrypted store (snapfs/keys.h), its master key
	 * wrapped with this credential's key or passphrase. */
	const struct sfs_unlock *encrypt;
	/* With encrypt: share the master key of the encrypted store at this
	 * path (unlocked with encrypt) instead of making a new one. */
	const char *same_key_as;
	/* Non-NULL: a store on RADOS, "rados:POOL?conf=F[&user=client.X]":
	 * path is this host's state directory for it (or the same spec,
	 * for one under the cache directory). */
	const char *rados;
};

/* Where a host keeps its state for stores opened as "rados:..." specs,
 * one directory per pool and conf, and their chunk caches:
 * $SNAPFS_CACHE_DIR, else $XDG_CACHE_HOME/snapfs, else /var/cache/snapfs
 * for root and ~/.cache/snapfs for others. Into buf: 0 or -ENAMETOOLONG. */
int sfs_store_cache_root(char *buf, size_t cap);

/* What the last failed open or init of a store on RADOS in this thread
 * said about the cluster ("ceph pool 'x' does not exist", "held by host
 * H pid P (client.N)"), copied into buf: for the one line a command
 * prints. False (buf "") when it said nothing. */
bool sfs_store_error_detail(char *buf, size_t cap);

/* Breaks the writer lock of a store on RADOS (a spec or a state
 * directory), naming the holder it broke in ret: 0, -ENOENT (not held),
 * -EMEDIUMTYPE (not a store on RADOS), -errno. */
int sfs_store_break_lock(const char *path, char *ret, size_t cap);

/*
 * Creates a store at path (the directory may exist if empty). Returns 0,
 * -EEXIST when path already holds a store or other files, -EINVAL on bad
 * options (or same_key_as names a plain store), -ENOKEY/-EKEYREJECTED
 * when same_key_as does not unlock with encrypt, or another -errno.
 */
int sfs_store_init(const char *path, const struct sfs_store_options *opts);

enum sfs_open_flags {
	SFS_OPEN_READ = 0,
	SFS_OPEN_WRITE = 1, /* take the writer lock; fail with -EBUSY if held */
	/* With SFS_OPEN_WRITE, for sfs_repair (snapfs/repair.h) only: a
	 * catalog LMDB cannot read (or a missing one) is first replaced by
	 * the catalog's copy, the damaged file kept beside it; recovery is
	 * not run, and until sfs_repair finishes, ordinary writers refuse
	 * the store (-EUCLEAN). Forks: call before starting threads. */
	SFS_OPEN_REPAIR = 2,
	/* With SFS_OPEN_WRITE: to commit only catalog records that name no
	 * stored data (check's result). Takes the writer lock but runs no
	 * recovery and needs no key: a store opened so must write no chunk. */
	SFS_OPEN_RECORD = 4,
};

/*
 * Opens the store at path. Errors: -ENOENT (no such directory),
 * -EMEDIUMTYPE (a directory but not a snapfs store), -EPROTONOSUPPORT (a
 * store of a newer format, or configured for a backend or with a config
 * key this binary does not know), -EBUSY (SFS_OPEN_WRITE and another process
 * holds the writer lock; sfs_store_lock_holder says who), -EUCLEAN (the
 * catalog is damaged), another -errno. A writer also recovers from an
 * interrupted earlier writer: it truncates the pack tail past the last
 * commit and marks pending snapshots as error, logging what it cleaned.
 * An encrypted store needs a credential: -ENOKEY here, see
 * sfs_store_open_cred (snapfs/keys.h).
 */
int sfs_store_open(const char *path, int flags, struct sfs_store **ret);

/* Closes the store and releases the lock. Accepts NULL. */
void sfs_store_close(struct sfs_store *s);

/* pid of the process holding the writer lock of the store at path, or 0. */
int sfs_store_lock_holder(const char *path);

uint32_t sfs_store_block_size(const struct sfs_store *s);
int sfs_store_zstd_level(const struct sfs_store *s);
/* The format_version of the store's config (1 .. SFS_FORMAT_VERSION). */
int sfs_store_format_version(const struct sfs_store *s);
uint64_t sfs_store_pack_size(const struct sfs_store *s);
const char *sfs_store_path(const struct sfs_store *s);
bool sfs_store_writable(const struct sfs_store *s);

/* The store's pack backend (snapfs/backend.h), owned by the store and
 * valid until sfs_store_close. Its read ops are thread-safe; its write
 * ops belong to the store's writer session. */
struct sfs_backend *sfs_store_backend(struct sfs_store *s);

/* sfs_store_open with the pack backend ops instead of the one the config
 * names (a wrapper, e.g. one that injects faults in tests). ops must
 * outlive the store. */
struct sfs_backend_ops;
int sfs_store_open_with(const char *path, int flags, const struct sfs_backend_ops *ops,
			struct sfs_store **ret);

/* Bytes used by the packs the catalog knows and by the catalog, on disk. */
int sfs_store_disk_usage(struct sfs_store *s, uint64_t *ret_packs, uint64_t *ret_catalog);

#endif
