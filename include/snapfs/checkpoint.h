/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints: a hibernated virtual machine. A checkpoint names the
 * snapshots that hold what a VM needs to go on where it stopped: its RAM
 * image (the file that backed guest memory, zero pages as holes), its
 * device state (QEMU's migration stream without the RAM) and each of its
 * disks as the guest saw them, with the machine's shape (memory size,
 * CPUs, machine type, what was booted) that a resume must repeat. Kept
 * in the catalog's `checkpoints` database as versioned JSON records keyed
 * by name, like images (store/IMAGES.md lists the fields):
 *
 *   {"v":1, "id":"ckpt-...", "name":"web-1-nightly", "vm":"web-1",
 *    "image":"web-1", "ram":{"snapshot":..., "size":N},
 *    "state":{"snapshot":..., "size":N},
 *    "devices":[{"device":"sda", "snapshot":..., "size":N}, ...],
 *    "machine":{...}, ...}
 *
 * A checkpoint is registered in the same commit as the snapshots it was
 * made of (sfs_writer_checkpoint_create), so it exists whole or not at
 * all. Functions that take a transaction follow catalog.h's rules.
 */
#ifndef SNAPFS_CHECKPOINT_H
#define SNAPFS_CHECKPOINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "snapfs/image.h"

#define SFS_CKPT_MAX_DEVICES 64

/* One stored part: the RAM image, the device state or one disk. */
struct sfs_ckpt_part {
	char name[SFS_DEVNAME_MAX + 1]; /* a disk's drive id ("sda"); "ram", "state" */
	char snapshot[SFS_IDSTR_SIZE];
	uint64_t size;
};

struct sfs_checkpoint {
	char name[SFS_NAME_MAX + 1];
	char id[SFS_IDSTR_SIZE]; /* ckpt-... */
	int64_t created;	 /* unix seconds */
	char *owner;		 /* host user name of the creator; owned, may be NULL */
	char vm[SFS_NAME_MAX + 1];    /* the VM's name; its parts' volumes are VM-ram etc. */
	char image[SFS_NAME_MAX + 1]; /* the image it was launched from, or "" */
	struct sfs_ckpt_part ram, state;
	struct sfs_ckpt_part *devices; /* owned */
	size_t ndevices;
	json_t *machine; /* the shape a resume repeats: an object; owned */
};

/* A drive id usable as a checkpoint's file name: 1 to SFS_DEVNAME_MAX of
 * [A-Za-z0-9_-], and not "ram", "state" or "checkpoint". */
bool sfs_ckpt_device_valid(const char *name);

int sfs_checkpoint_init(struct sfs_checkpoint *ck); /* -ENOMEM */
void sfs_checkpoint_release(struct sfs_checkpoint *ck); /* accepts NULL */
/* Appends a disk. -EINVAL (bad name or snapshot id), -EEXIST, -E2BIG, -ENOMEM. */
int sfs_checkpoint_add_device(struct sfs_checkpoint *ck, const char *device,
			      const char *snap_id, uint64_t size);

/* What a record must satisfy on its own. 0 or -EINVAL with one line in err. */
int sfs_checkpoint_validate(const struct sfs_checkpoint *ck, char *err, size_t errlen);
/* -EBADMSG for anything that is not a valid record, or -ENOMEM. */
int sfs_checkpoint_decode(const void *buf, size_t len, struct sfs_checkpoint *ret);
char *sfs_checkpoint_encode(const struct sfs_checkpoint *ck); /* malloc'd, or NULL */
/* As `checkpoint show --json` and checkpoint.json show it: a new reference or NULL. */
json_t *sfs_checkpoint_to_json(const struct sfs_checkpoint *ck);

/* 0, -ENOENT, -EBADMSG or -errno. By name, or by id ("ckpt-..."). */
int sfs_cat_checkpoint_get(struct sfs_txn *t, const char *name, struct sfs_checkpoint *ret);
int sfs_cat_checkpoint_find(struct sfs_txn *t, const char *name_or_id, struct sfs_checkpoint *ret);

typedef int (*sfs_checkpoint_fn)(void *ctx, const struct sfs_checkpoint *ck);
/* In name order; a damaged record is logged and skipped. fn returns
 * non-zero to stop (returned). */
int sfs_cat_checkpoint_foreach(struct sfs_txn *t, sfs_checkpoint_fn fn, void *ctx);

struct sfs_writer;

/*
 * Registers ck in writer session w's transaction, after the session's
 * last snapshot: the name must be free (-EEXIST), every part's snapshot
 * must exist (-ENOENT) and be completed or made by this session
 * (-EAGAIN), and no part may be smaller than its snapshot (-ERANGE); a
 * part of size 0 gets its snapshot's. Fills an empty id and a zero
 * creation time. Then sfs_writer_commit. err says what is wrong.
 */
int sfs_writer_checkpoint_create(struct sfs_writer *w, struct sfs_checkpoint *ck, char *err,
				 size_t errlen);

/*
 * Removes checkpoint name in a write transaction, and with
 * delete_snapshots its parts' snapshots too (those no image or other
 * checkpoint uses; fn hears of each as sfs_deregister_fn does). Returns
 * 0, 1 for a damaged record (removed by name, no snapshot touched),
 * -ENOENT.
 */
int sfs_cat_checkpoint_delete(struct sfs_txn *t, const char *name, bool delete_snapshots,
			      sfs_deregister_fn fn, void *ctx);

/* Whether a checkpoint uses snapshot snap_id: 1 and its name in ret_name
 * (len bytes), 0, or -errno. */
int sfs_checkpoint_user_of(struct sfs_txn *t, const char *snap_id, char *ret_name, size_t len);

/* Whether an image or a checkpoint uses snapshot snap_id: 1 and "image
 * NAME" or "checkpoint NAME" in ret (len bytes), 0, or -errno. What keeps
 * a snapshot from being deleted. */
int sfs_snapshot_user_of(struct sfs_txn *t, const char *snap_id, char *ret, size_t len);

#endif
