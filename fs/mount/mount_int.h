/* SPDX-License-Identifier: MIT */
/*
 * What the files of the FUSE driver share: the mount's one state struct
 * (reached from every request with fuse_req_userdata), the tree of
 * snapshots and volumes as immutable per-generation views, and the
 * mount's options (readahead is the reader's). Nothing here includes FUSE
 * headers, so the tree can be read without knowing FUSE.
 */
#ifndef SNAPFS_FS_MOUNT_INT_H
#define SNAPFS_FS_MOUNT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapfs/access.h"
#include "snapfs/catalog.h"
#include "snapfs/image.h"
#include "snapfs/reader.h"
#include "snapfs/store.h"

/* ---- inode numbers ----
 * Stable for the life of the mount and never reused: a snapshot's comes
 * from its store-wide seq, a volume's from the order in which this mount
 * first saw it. The kind sits in the top byte so the kinds cannot collide. */
#define SFS_INO_ROOT 1u
#define SFS_INO_SNAPSHOTS 2u
#define SFS_INO_VOLUMES 3u
#define SFS_INO_IMAGES 4u
#define SFS_INO_CHECKPOINTS 5u
#define SFS_INO_FILES 6u
#define SFS_INO_KIND_SHIFT 56
#define SFS_INO_KIND_SNAP 1u
#define SFS_INO_KIND_VOL 2u
#define SFS_INO_KIND_LATEST 3u
#define SFS_INO_KIND_IMAGE 4u   /* images/<name>/ */
#define SFS_INO_KIND_IMGFILE 5u /* a file in images/<name>/ */
#define SFS_INO_KIND_CKPT 6u     /* checkpoints/<name>/ */
#define SFS_INO_KIND_CKPTFILE 7u /* a file in checkpoints/<name>/ */
#define SFS_INO_KIND_LATEST_FILES 8u /* volumes/<vol>/latest.files */
#define SFS_INO_KIND_FILES 9u   /* below files/ (files_int.h) */
/* A record file's number: its record's number, then its index in the
 * directory (0: image.json or checkpoint.json, then the parts). */
#define SFS_IMGFILE_BITS 8
#define SFS_INO_MAKE(kind, n) (((uint64_t)(kind) << SFS_INO_KIND_SHIFT) | (uint64_t)(n))
#define SFS_INO_KIND(ino) ((unsigned)((ino) >> SFS_INO_KIND_SHIFT))
#define SFS_INO_NUM(ino) ((ino) & ((UINT64_C(1) << SFS_INO_KIND_SHIFT) - 1))

#define SFS_LATEST_NAME "latest.img"
/* "YYYYMMDDTHHMMSS.nnnnnnnnnZ-" + id + ".img": fixed width, so that the
 * names sort in creation order, to the nanosecond */
#define SFS_VNAME_SIZE 64

/* ---- the tree (tree.c) ---- */

/* A completed snapshot as the mount shows it. */
struct sfs_tsnap {
	uint64_t ino;
	uint64_t seq;
	int64_t created;
	uint32_t created_ns;
	uint64_t data_bytes;
	struct sfs_snapmap map; /* id, size, block size, map root */
	char volume[SFS_NAME_MAX + 1];
	char vname[SFS_VNAME_SIZE]; /* its name in volumes/<volume>/ */
};

struct sfs_tvol {
	uint64_t ino;        /* its directory */
	uint64_t latest_ino; /* its latest.img */
	char name[SFS_NAME_MAX + 1];
	int64_t mtime;       /* newest snapshot's time, or the volume's */
	struct sfs_tsnap **snaps; /* oldest first (creation order); latest last */
	struct sfs_tsnap **by_vname; /* sorted by vname, for lookups */
	size_t nsnaps;
	char latest[SFS_IDSTR_SIZE + 32]; /* symlink target, "" when no snapshot */
};

/* A file of images/<name>/ or checkpoints/<name>/: the record's JSON, or
 * one part's raw bytes (a device, the RAM image, the device state). */
struct sfs_timgfile {
	uint64_t ino;
	char name[SFS_DEVNAME_MAX + 8]; /* "image.json", "checkpoint.json", "sda.img" */
	uint64_t size;                  /* the mapping's size, past the snapshot's */
	int64_t mtime;
	uint64_t data_bytes;
	struct sfs_snapmap map;         /* the device's snapshot; unused for image.json */
};

/* A record's directory as the mount shows it: an image or a checkpoint. */
struct sfs_timage {
	uint64_t ino;
	char name[SFS_NAME_MAX + 1];
	enum sfs_access_kind access; /* what the gate asks about name */
	int64_t mtime;
	char *json; /* the record file's bytes */
	size_t json_len;
	struct sfs_timgfile *files; /* the record file first, then the parts' order */
	size_t nfiles;
};

/* The directories of one top directory (images/ or checkpoints/). */
struct sfs_tdirs {
	struct sfs_timage *v; /* sorted by name */
	struct sfs_timage **by_ino;
	size_t n;
};

/*
 * One generation of the catalog, as listings need it. Immutable once
 * built, so readdir reads it without locks; refcounted, so an open
 * directory keeps listing the view it started with.
 */
struct sfs_view {
	int refs; /* atomic */
	uint64_t generation;
	int64_t mtime; /* newest snapshot time: the mtime of the top directories */
	struct sfs_tsnap *snaps; /* sorted by id: the listing of snapshots/ */
	struct sfs_tsnap **by_seq; /* sorted by seq, hence by ino */
	size_t nsnaps;
	struct sfs_tvol *vols; /* sorted by name */
	struct sfs_tvol **by_ino;
	size_t nvols;
	struct sfs_tdirs images;
	struct sfs_tdirs ckpts;
};

struct sfs_tree;
struct sfs_files;

/* Reads the catalog's counts, not its snapshots: no view is built until a
 * listing needs one. */
int sfs_tree_new(struct sfs_store *s, struct sfs_tree **ret);
void sfs_tree_free(struct sfs_tree *t); /* accepts NULL */

/* Notes a new catalog generation: reads its cheap facts (O(volumes)) and
 * leaves the view to be rebuilt by the next sfs_tree_get. Cheap when the
 * generation did not move (one short read transaction). Thread-safe. */
int sfs_tree_refresh(struct sfs_tree *t);

/* What the top directories show, without listing: snapshot and volume
 * records counted by LMDB (any state, so a create in progress counts) and
 * the newest completed snapshot's time (0: none). */
struct sfs_tree_stat {
	uint64_t generation;
	int64_t mtime;
	uint64_t nsnaps, nvols;
};
void sfs_tree_stat(struct sfs_tree *t, struct sfs_tree_stat *ret); /* thread-safe */

/* The view of the current generation, built now if need be (O(snapshots)),
 * held until sfs_view_put. When the catalog cannot be listed, the last
 * view if any. 0 or -errno. Thread-safe. */
int sfs_tree_get(struct sfs_tree *t, struct sfs_view **ret);
/* The last view built, whatever its generation, held; NULL if none. */
struct sfs_view *sfs_tree_peek(struct sfs_tree *t);
void sfs_view_put(struct sfs_view *v); /* accepts NULL */

/* Lookups that need no view: each reads a record or two in its own short
 * read transaction and fills *ret with a copy. Inode numbers are the ones
 * a view gives. 0, -ENOENT (no such completed snapshot or volume) or
 * -errno. Thread-safe. */
int sfs_tree_snap(struct sfs_tree *t, const char *id, struct sfs_tsnap *ret);
/* name: "<UTC time>-<id>.img" as volumes/<volume>/ shows it. */
int sfs_tree_vol_snap(struct sfs_tree *t, const char *volume, const char *name,
		      struct sfs_tsnap *ret);

/* A volume directory as a lookup sees it. */
struct sfs_tvolinfo {
	uint64_t ino, latest_ino;
	char name[SFS_NAME_MAX + 1];
	int64_t mtime;   /* newest snapshot's time, or the volume's */
	uint64_t nsnaps; /* entries of its index, any state */
	int64_t latest_created;
	char latest[SFS_IDSTR_SIZE + 32]; /* symlink target, "" when no snapshot */
};
int sfs_tree_vol_by_name(struct sfs_tree *t, const char *name, struct sfs_tvolinfo *ret);
/* -ENOENT also for a volume number this mount never gave. */
int sfs_tree_vol_by_ino(struct sfs_tree *t, uint64_t ino, struct sfs_tvolinfo *ret);

/* The snapshot inodes the kernel holds, counted as the FUSE protocol
 * counts lookups: a snapshot's attributes stay available to getattr
 * until the kernel forgets its inode, even after the snapshot is
 * deleted. Thread-safe. */
int sfs_tree_node_ref(struct sfs_tree *t, const struct sfs_tsnap *ts); /* 0 or -ENOMEM */
void sfs_tree_node_forget(struct sfs_tree *t, uint64_t ino, uint64_t nlookup);
/* 0 and a copy in *ret, or -ENOENT: not held. */
int sfs_tree_node_get(struct sfs_tree *t, uint64_t ino, struct sfs_tsnap *ret);

const struct sfs_tsnap *sfs_view_snap_by_ino(const struct sfs_view *v, uint64_t ino);
const struct sfs_tsnap *sfs_view_snap_by_id(const struct sfs_view *v, const char *id);
const struct sfs_tvol *sfs_view_vol_by_ino(const struct sfs_view *v, uint64_t ino);
const struct sfs_tvol *sfs_view_vol_by_name(const struct sfs_view *v, const char *name);
const struct sfs_tsnap *sfs_tvol_snap_by_vname(const struct sfs_tvol *vol, const char *name);

/* ---- images/ and checkpoints/ (tree_images.c) ---- */

/* Both show catalog records the same way: a directory per record holding
 * the record as JSON and one read-only file per part, each part a
 * snapshot read lazily like any snapshot file. */

static inline bool sfs_ino_is_rdir(uint64_t ino)
{
	return SFS_INO_KIND(ino) == SFS_INO_KIND_IMAGE || SFS_INO_KIND(ino) == SFS_INO_KIND_CKPT;
}

static inline bool sfs_ino_is_rfile(uint64_t ino)
{
	return SFS_INO_KIND(ino) == SFS_INO_KIND_IMGFILE ||
	       SFS_INO_KIND(ino) == SFS_INO_KIND_CKPTFILE;
}

/* Inode numbers of records, by record id: given at first sight and never
 * reused in a mount, so a re-registered name is a new directory. Used by
 * view builds only, which the tree serialises. */
struct sfs_imgnums;
void sfs_imgnums_free(struct sfs_imgnums *n); /* accepts NULL */

/* One part of a record as its directory shows it. */
struct sfs_rpart {
	char file[SFS_DEVNAME_MAX + 8];
	char snapshot[SFS_IDSTR_SIZE];
	uint64_t size; /* what the record says; the snapshot's if larger */
	bool exact;    /* size is the file's even when the snapshot is larger */
};

/* A record copied out of the catalog, as its directory needs it. */
struct sfs_rsrc {
	char id[SFS_IDSTR_SIZE];
	char name[SFS_NAME_MAX + 1];
	int64_t created;
	char *json; /* the record file's bytes, newline-terminated */
	size_t json_len;
	struct sfs_rpart *parts;
	size_t nparts;
};

/* Copies every image (or checkpoint) record out of the catalog, in the
 * view's read transaction. *ret is released with sfs_rsrcs_free. */
int sfs_images_collect(struct sfs_txn *txn, struct sfs_rsrc **ret, size_t *ret_n);
int sfs_ckpts_collect(struct sfs_txn *txn, struct sfs_rsrc **ret, size_t *ret_n);
void sfs_rsrcs_free(struct sfs_rsrc *src, size_t n);

/* Adds images/ (access SFS_ACCESS_IMAGE) or checkpoints/ (_CHECKPOINT) to
 * a view whose snapshots are in place: a part whose snapshot the view
 * does not show (not completed) is left out, logged. */
int sfs_view_add_rdirs(struct sfs_view *v, enum sfs_access_kind access,
		       const struct sfs_rsrc *src, size_t n, struct sfs_imgnums **nums);
void sfs_view_rdirs_release(struct sfs_view *v);

/* By name in images/ or checkpoints/ (parent: SFS_INO_IMAGES or
 * SFS_INO_CHECKPOINTS). */
const struct sfs_timage *sfs_view_rdir_by_name(const struct sfs_view *v, uint64_t parent,
					       const char *name);
/* A record's directory by inode, of either kind. */
const struct sfs_timage *sfs_view_image_by_ino(const struct sfs_view *v, uint64_t ino);
/* The record file with inode ino, and its directory in *ret_image. */
const struct sfs_timgfile *sfs_view_imgfile_by_ino(const struct sfs_view *v, uint64_t ino,
						   const struct sfs_timage **ret_image);
const struct sfs_timgfile *sfs_timage_file_by_name(const struct sfs_timage *ti, const char *name);

/* ---- the mount's state ---- */

struct sfs_mount_counters {
	uint64_t reads;       /* read requests answered with bytes */
	uint64_t read_errors; /* read requests answered with an error */
	uint64_t bytes_served;
	uint64_t opens;       /* files opened since the mount */
	int64_t open_files;   /* open now */
	/* Requests of the kernel, to see what a listing costs in round trips. */
	uint64_t lookups, getattrs, getxattrs;
	uint64_t listings; /* READDIR and READDIRPLUS requests */
};

struct sfs_mount_opts {
	size_t cache_bytes;     /* block cache bound */
	size_t readahead_bytes; /* readahead window bound */
	unsigned ra_threads;    /* 0: one per CPU */
	bool foreground, single_thread, debug, allow_other;
	unsigned max_read;      /* 0: the kernel's largest */
	unsigned max_idle_threads;
	size_t kernel_readahead; /* bdi read_ahead_kb to set, bytes; 0: leave */
	const char *key_file;    /* -o key_file=F (points into argv), or NULL */
};

/* The readahead window a mount uses: it must fit the cache several times
 * over, or blocks read ahead would be evicted before the reader gets to
 * them. */
static inline size_t sfs_mount_ra_window(const struct sfs_mount_opts *o)
{
	return o->readahead_bytes < o->cache_bytes / 4 ? o->readahead_bytes : o->cache_bytes / 4;
}

/* Everything a request needs, reached with fuse_req_userdata. The pointers
 * are set before the session starts and constant while it runs; each
 * object says how it is safe to share. */
struct sfs_mount {
	struct sfs_mount_opts opts;
	struct sfs_store *store;   /* read-only, thread-safe */
	struct sfs_reader *reader; /* thread-safe; runs the readahead workers */
	struct sfs_tree *tree;     /* thread-safe */
	struct sfs_files *files;   /* thread-safe: files/ (files_int.h) */
	uid_t uid;                 /* owner shown on every inode */
	gid_t gid;
	int64_t mount_time;
	char bdi_ra_path[96]; /* sysfs read_ahead_kb of this mount, or "" */
	int bdi_tuned;        /* atomic: set once the kernel readahead was raised */
	const char *store_path; /* absolute; for the figures */
	const char *mountpoint;
	struct sfs_mount_counters counters;
	pthread_t stats_thread; /* logs the figures on SIGUSR1 (stats.c) */
	bool stats_thread_on;
	int stats_stop;         /* atomic: tells stats_thread to end */
};

/* Figures the read path keeps: all atomic (__atomic builtins, relaxed),
 * read while the mount serves (stats.c). */
#define SFS_COUNT(mt, field, n) __atomic_add_fetch(&(mt)->counters.field, (n), __ATOMIC_RELAXED)

/* Raises the kernel's readahead for this mount (once; needs root). The
 * kernel caps it at 128 KiB when the session starts, which splits large
 * sequential reads into many small requests. */
void sfs_mount_tune_readahead(struct sfs_mount *mt);

/* The mount's live figures (stats.c): cache, readahead, packs read,
 * verification failures, reads served and open files, as one JSON object
 * (the value of SFS_STATS_XATTR on the mount root). A malloc'd string the
 * caller frees, or NULL when out of memory. Thread-safe. */
char *sfs_mount_stats_json(struct sfs_mount *mt);

/* Logs the figures as one line at INFO level on each SIGUSR1, from a
 * thread of its own (sigwait: no work in a signal handler). _block
 * blocks SIGUSR1 in the calling thread; called before any other thread
 * exists, every thread inherits it blocked and leaves the signal to the
 * one _start makes (a signal sent before that stays pending for it).
 * _start: 0 or -errno. */
void sfs_mount_stats_signal_block(void);
int sfs_mount_stats_signal_start(struct sfs_mount *mt);
void sfs_mount_stats_signal_stop(struct sfs_mount *mt);

#endif
