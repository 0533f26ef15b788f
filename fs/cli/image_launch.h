/* SPDX-License-Identifier: MIT */
/*
 * What `snapfs image` shares between its catalog commands (cmd_image.c)
 * and the launch configurations it prints (image_launch.c).
 */
#ifndef SNAPFS_FS_IMAGE_LAUNCH_H
#define SNAPFS_FS_IMAGE_LAUNCH_H

#include <stdio.h>

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

/* Quoting and paths for the launch scripts, shared by `checkpoint
 * launch-config`: one sh word (single-quoted when need be); a value for
 * QEMU's option syntax with commas doubled (malloc'd, NULL: no memory);
 * an absolute form of a path that need not exist (malloc'd); and the
 * check of a path bound for a script (no control characters, UTF-8: 0 or
 * the usage error's exit code). */
void cli_sh_word(FILE *f, const char *s);
char *cli_qemu_escape(const char *s);
char *cli_absolute(const char *p);
int cli_launch_path_arg(const char *cmd, const char *opt, const char *path);

#endif
