/* SPDX-License-Identifier: MIT */
/*
 * The table of FUSE low-level operations that serves a mount. Every
 * operation finds the mount's state with fuse_req_userdata(req), which is
 * the struct sfs_mount passed to fuse_session_new.
 */
#ifndef SNAPFS_FS_FSOPS_INT_H
#define SNAPFS_FS_FSOPS_INT_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "mount_int.h"
#include "snapfs/access.h"

extern const struct fuse_lowlevel_ops sfs_fsops;

/*
 * Access control at the FUSE boundary (access.c): the caller of a request
 * and the store's decision (snapfs/access.h) about the object a node
 * shows. On a mount without allow_other every check passes. Every node
 * but the root and the four top directories is gated; a gated node's
 * names and attributes are not cached by the kernel on an allow_other
 * mount (timeouts of 0), so that each caller's own lookup, getattr and
 * path-walk permission check reach the gate instead of reusing what a
 * permitted caller was shown.
 */
#define SFS_GATE_GROUPS 65 /* primary group + what fits on the stack */
struct sfs_gate {
	bool on;              /* allow_other: checks apply */
	struct sfs_cred cred; /* borrows list */
	gid_t groups[SFS_GATE_GROUPS];
	gid_t *list; /* groups, or a malloc'd array for many groups */
	struct sfs_txn *txn;
};

static inline bool sfs_ino_gated(uint64_t ino)
{
	return SFS_INO_KIND(ino) != 0;
}

/* One caller, many checks (a readdir): _begin takes the caller's groups
 * and a read transaction, _check asks the store (0, -EACCES, -ENOENT,
 * -errno), _end releases (also after a failed _begin). */
int sfs_gate_begin(fuse_req_t req, struct sfs_mount *mt, struct sfs_gate *g);
int sfs_gate_check(struct sfs_gate *g, enum sfs_access_kind kind, const char *name);
void sfs_gate_end(struct sfs_gate *g);
/* One check. */
int sfs_gate(fuse_req_t req, struct sfs_mount *mt, enum sfs_access_kind kind, const char *name);
/* The check of the object gated node ino shows: 0 for nodes not gated. */
int sfs_gate_ino(fuse_req_t req, struct sfs_mount *mt, uint64_t ino);

/* Names may go away when a snapshot is deleted: cache them briefly. A
 * snapshot's attributes never change while its inode lives. */
#define ENTRY_TIMEOUT 1.0
#define DIR_ATTR_TIMEOUT 1.0
#define FILE_ATTR_TIMEOUT 3600.0

struct stat;
struct sfs_tsnap;

/* Attributes of the mounted tree's nodes (attr.c). *ret_timeout is how
 * long the kernel may cache them. 0 or -ENOENT (or -errno). */
void sfs_attr_init(struct sfs_mount *mt, struct stat *st, double *ret_timeout);
void sfs_attr_dir(struct sfs_mount *mt, struct stat *st, uint64_t ino, nlink_t nlink,
		  int64_t mtime, off_t size);
void sfs_attr_snap(struct sfs_mount *mt, struct stat *st, const struct sfs_tsnap *ts);
void sfs_attr_latest(struct stat *st, uint64_t ino, const char *target, int64_t created);
int sfs_attr_top(struct sfs_mount *mt, uint64_t ino, struct stat *st);
int sfs_attr_of(struct sfs_mount *mt, const struct sfs_view *v, uint64_t ino, struct stat *st,
		double *ret_timeout);
int sfs_attr_lookup(struct sfs_mount *mt, uint64_t ino, struct stat *st, double *ret_timeout);

#endif
