/* SPDX-License-Identifier: MIT */
/*
 * Pack backends: where pack files live. The store reaches pack bytes only
 * through this ops table (the erofs-utils compressor pattern: a const
 * table of function pointers and a struct holding it with the backend's
 * private state), so that a backend other than a local directory (an
 * object store, a cluster) plugs in without the store knowing. Packs are
 * named by number; a pack is created, appended to by one writer, synced
 * (durable), sealed (never appended to again), read at any offset by any
 * thread, listed, statted, truncated (recovery of a torn tail) and
 * removed. Record formats stay in pack.c: a backend moves bytes only.
 *
 * Every op returns >= 0 or -errno. -ENOENT always means "no such pack".
 * A backend never interprets pack contents and never follows anything
 * outside its own namespace.
 */
#ifndef SNAPFS_BACKEND_H
#define SNAPFS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SFS_BACKEND_IOV_MAX 4

struct sfs_backend;
/* A pack open for appending; each backend defines it. Owned by the one
 * thread that appends (the store's writer). */
struct sfs_pack_out;

enum sfs_backend_flags {
	SFS_BACKEND_WRITE = 1,  /* the store's writer: the write ops may be called */
	SFS_BACKEND_CREATE = 2, /* a new store: make the pack space */
};

struct sfs_pack_info {
	uint64_t length; /* bytes */
	uint64_t disk;   /* bytes the pack occupies on its medium (>= 0, may be an estimate) */
};

/* Called by list for every pack; non-zero stops the walk and is returned. */
typedef int (*sfs_pack_list_fn)(void *ctx, uint64_t number, const struct sfs_pack_info *info);

struct sfs_backend_ops {
	const char *name; /* the config's `backend =` value */

	/* Sets b->priv for the store directory store_dirfd (borrowed; the
	 * backend keeps its own descriptors). flags: SFS_BACKEND_*. 0,
	 * -EMEDIUMTYPE (no pack space here), -EEXIST (CREATE and it exists),
	 * -errno. Called once, before any other op. */
	int (*open)(struct sfs_backend *b, int store_dirfd, unsigned flags);
	/* Releases everything; open packs and cached descriptors included. */
	void (*close)(struct sfs_backend *b);

	/*
	 * Opens pack `number` for appending. len == 0: creates it, empty;
	 * -EEXIST if it exists (a number is never reused). len > 0: opens
	 * the existing pack and cuts it to len bytes (what a previous writer
	 * committed); -ENOENT when missing, -EUCLEAN when shorter than len.
	 * *ret is the caller's until seal or abandon. Writer thread only.
	 */
	int (*create)(struct sfs_backend *b, uint64_t number, uint64_t len,
		      struct sfs_pack_out **ret);
	/* Appends len bytes at the end. On failure (-ENOSPC, -EIO, ...) the
	 * pack keeps its previous length where the medium allows it. */
	int (*append)(struct sfs_pack_out *p, const void *buf, size_t len);
	/* Makes every appended byte durable: the data, then (the first time
	 * for a new pack) the directory entry or its equivalent. After 0 a
	 * crash loses nothing appended so far. */
	int (*sync)(struct sfs_pack_out *p);
	/* Syncs and releases p; the pack is never appended to again. p is
	 * gone whatever is returned. */
	int (*seal)(struct sfs_pack_out *p);
	/* Releases p without syncing (unsynced bytes may be lost, which is
	 * safe: nothing committed points at them). Accepts NULL. */
	void (*abandon)(struct sfs_pack_out *p);

	/*
	 * Reads the byte range at offset of pack `number` into the iovcnt
	 * buffers of iov (at most SFS_BACKEND_IOV_MAX), in order, preadv
	 * semantics: returns the bytes read, fewer only at the end of the
	 * pack (0 at or past it). One call per range, so that a record's
	 * header and payload arrive in one request. -ENOENT when the pack
	 * does not exist (gc removed it). Thread-safe: any thread, alongside
	 * a writer appending to another pack and alongside removes.
	 */
	ssize_t (*read)(struct sfs_backend *b, uint64_t number, uint64_t offset,
			const struct iovec *iov, int iovcnt);
	/* Calls fn for every pack present, in no particular order. Thread-safe. */
	int (*list)(struct sfs_backend *b, sfs_pack_list_fn fn, void *ctx);
	/* Length and disk use of a pack; -ENOENT when missing. Thread-safe. */
	int (*stat)(struct sfs_backend *b, uint64_t number, struct sfs_pack_info *ret);
	/* Cuts a pack that is not open for appending to len bytes, durably
	 * (recovery of a torn tail). -ENOENT, -EINVAL when len > length. */
	int (*truncate)(struct sfs_backend *b, uint64_t number, uint64_t len);
	/* Removes a pack durably and drops anything cached for it; -ENOENT
	 * when missing. Readers still inside a read of it finish that read. */
	int (*remove)(struct sfs_backend *b, uint64_t number);
	/* Drops cached state of packs that another process removed (their
	 * space is freed only once nothing holds them). Cheap, thread-safe;
	 * the store calls it at most once a second from the read path. NULL
	 * when a backend caches nothing. */
	void (*revalidate)(struct sfs_backend *b);
	/* Drops whatever copies of pack `number`'s bytes the backend keeps
	 * (in memory, or in a local cache of a remote medium): a record read
	 * from them failed its checks, and they may be older than a cut and
	 * rewrite of the pack's tail by another process, or damaged where
	 * the medium itself is not. Returns 1 when something was dropped (a
	 * second read may differ), else 0. NULL when a backend keeps no
	 * copies. Thread-safe. */
	int (*drop)(struct sfs_backend *b, uint64_t number);
};

struct sfs_backend {
	const struct sfs_backend_ops *ops;
	void *priv;
};

/* The local directory backend: STORE/packs/NNNNNNNNNNNNNNNN.pack. */
extern const struct sfs_backend_ops sfs_backend_local;

/* The backend named name (a config value), or NULL when this binary has
 * none of that name. */
const struct sfs_backend_ops *sfs_backend_find(const char *name);

/* Number of read descriptors the local backend keeps open at most (a
 * quarter of the soft RLIMIT_NOFILE, at least 16). For tests and info. */
size_t sfs_backend_local_fd_bound(const struct sfs_backend *b);
/* Read descriptors the local backend has open now. */
size_t sfs_backend_local_fds_open(const struct sfs_backend *b);
/* 1 MiB spans of packs the local backend has read past the page cache so
 * far (for ordered reads; read ahead included). For tests and info. */
uint64_t sfs_backend_local_spans_read(const struct sfs_backend *b);

#endif
