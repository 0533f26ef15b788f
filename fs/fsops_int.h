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

extern const struct fuse_lowlevel_ops sfs_fsops;

struct sfs_mount;
struct sfs_view;
struct sfs_timage;

/*
 * Whether the caller of req may use image ti (list its directory, open
 * its files): always on a mount only its owner can reach, else by the
 * image's launch permissions (image.h). 0 or -EACCES; -ENOMEM.
 */
int sfs_image_access(fuse_req_t req, const struct sfs_mount *mt, const struct sfs_view *v,
		     const struct sfs_timage *ti);

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
