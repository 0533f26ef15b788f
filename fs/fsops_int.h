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

#endif
