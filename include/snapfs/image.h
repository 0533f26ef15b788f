/* SPDX-License-Identifier: MIT */
/*
 * Machine images (like AMIs): a named block device mapping of device names
 * to snapshots, with boot metadata and launch permissions, kept in the
 * catalog's `images` database as versioned JSON records keyed by name:
 *
 *   {"v":1, "id":"ami-...", "name":"web", "devices":[{"device":"sda",
 *    "snapshot":"snap-...", "size":N}, ...], ...}
 *
 * Functions take a catalog transaction and follow catalog.h's rules.
 */
#ifndef SNAPFS_IMAGE_H
#define SNAPFS_IMAGE_H

#include <stddef.h>

#include "snapfs/catalog.h"

/*
 * Whether a registered image maps snapshot snap_id. Returns 1 and the
 * first such image's name in ret_name (size len), 0 when none does, or
 * -errno. Snapshot deletion and retention call it to refuse deleting a
 * snapshot an image needs.
 */
int sfs_image_user_of(struct sfs_txn *t, const char *snap_id, char *ret_name, size_t len);

#endif
