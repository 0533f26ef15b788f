/* SPDX-License-Identifier: MIT */
/*
 * The `snapfs mount` command: the entry point the command line calls to
 * mount a store through FUSE. It is the only function of the FUSE driver
 * that the rest of the program sees.
 */
#ifndef SNAPFS_FS_MOUNT_H
#define SNAPFS_FS_MOUNT_H

/*
 * Mounts the store at store_path (read-only) and serves it until the file
 * system is unmounted or the process gets SIGTERM/SIGINT/SIGHUP.
 *
 * argv[0] is "mount"; the rest is `MOUNTPOINT [-f] [-s] [-d] [-o OPTS]`,
 * options in any order, several -o allowed. Without -f the command returns
 * (in the parent) only once the mount is in place, or with an error when it
 * could not be made, so a script can use the mount as soon as it returns.
 *
 * Returns the process exit status: 0 after a clean unmount (or, in the
 * parent of a daemon, once the mount is ready), 1 on failure, 2 on a
 * usage error.
 */
int sfs_cmd_mount(const char *store_path, int argc, char **argv);

/* The extended attribute of a mount's root that holds its live figures as
 * JSON (`snapfs mount-status` reads it). */
#define SFS_STATS_XATTR "user.snapfs.stats"

#endif
