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

#endif
