/* SPDX-License-Identifier: MIT */
/*
 * The FUSE operations of files/ (fsops_files.c), called by fsops.c for
 * every inode sfs_files_ino() claims. Each replies to req itself; the
 * valid replies are those of the fsops.c operation it serves.
 */
#ifndef SNAPFS_FS_FSOPS_FILES_H
#define SNAPFS_FS_FSOPS_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/stat.h>

#include "fsops_int.h"

#define SFS_LATEST_FILES_NAME "latest.files"
/* images/<name>/<device>.files: the files of the device's snapshot. */
#define SFS_DEV_FILES_SUFFIX ".files"

/* SELinux labels: nodes that cannot carry one (all but the files of a
 * labelled filesystem in files/) answer EOPNOTSUPP, not ENODATA, for
 * it. ls -l, like other tools, asks for every file it lists and stops
 * asking on a device that answers "not supported": one round trip per
 * listing, not one per entry. */
#define SFS_SELINUX_XATTR "security.selinux"

bool sfs_files_ino(uint64_t ino);
void sfs_files_lookup(fuse_req_t req, uint64_t parent, const char *name);
void sfs_files_getattr(fuse_req_t req, uint64_t ino);
void sfs_files_readlink(fuse_req_t req, uint64_t ino);
void sfs_files_opendir(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi);
void sfs_files_readdir(fuse_req_t req, uint64_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus);
void sfs_files_releasedir(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi);
void sfs_files_open(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi);
/* Frees the open file; does not reply (fsops.c's release does). */
void sfs_files_release_file(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi);
void sfs_files_read(fuse_req_t req, uint64_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void sfs_files_lseek(fuse_req_t req, uint64_t ino, off_t off, int whence,
		     struct fuse_file_info *fi);
/* For every inode of the mount: other nodes have no xattrs. */
void sfs_files_getxattr(fuse_req_t req, uint64_t ino, const char *name, size_t size);
void sfs_files_listxattr(fuse_req_t req, uint64_t ino, size_t size);

/* images/<name>/<device>.files/: the inode of the files of image ti's
 * device file tf, numbered now if new, gated as the image. Reads no
 * block. 0, -ENOENT (the snapshot is gone), -ENOMEM, -ENOSPC. */
int sfs_files_image_dev(struct sfs_mount *mt, const struct sfs_timage *ti,
			const struct sfs_timgfile *tf, uint64_t *ret_ino);
/* The attributes of files/ inode ino (probes its volume). Not gated. */
int sfs_files_stat(struct sfs_mount *mt, uint64_t ino, struct stat *st, double *ret_timeout);

/* volumes/<vol>/latest.files's target, "../../files/<id>", from
 * latest.img's, "../../snapshots/<id>.img". 0, -ENOENT, -ENAMETOOLONG. */
int sfs_files_latest_target(const char *latest_img, char *buf, size_t size);

#endif
