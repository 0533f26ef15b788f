/* SPDX-License-Identifier: MIT */
/*
 * What `snapfs image` shares between its catalog commands (cmd_image.c)
 * and the launch configurations it prints (image_launch.c).
 */
#ifndef SNAPFS_FS_IMAGE_LAUNCH_H
#define SNAPFS_FS_IMAGE_LAUNCH_H

#include "cli.h"
#include "snapfs/image.h"

/* Reads image NAME or ID in a short read transaction; prints the error
 * itself and returns an exit code. *ret is the caller's to release. */
int cli_image_load(struct sfs_store *s, const char *name_or_id, struct sfs_image *ret);

/* The name of the user running the command, as image records keep
 * owners; malloc'd, or NULL without memory. */
char *cli_image_owner_name(void);

/* `snapfs image copy ...` (cmd_copy.c; argv[0] is "copy"). */
int cmd_image_copy(const struct cli *c, int argc, char **argv);

/* `snapfs image launch-config ...` (argv[0] is "launch-config"). */
int cmd_image_launch_config(const struct cli *c, int argc, char **argv);

#endif
