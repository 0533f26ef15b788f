/* SPDX-License-Identifier: MIT */
/*
 * Machine images (like AMIs): a named block device mapping of device names
 * to snapshots, with boot metadata and launch permissions, kept in the
 * catalog's `images` database as versioned JSON records keyed by name:
 *
 *   {"v":1, "id":"ami-...", "name":"web", "devices":[{"device":"sda",
 *    "snapshot":"snap-...", "size":N}, ...], ...}
 *
 * (every field is listed in store/IMAGES.md). The record is the unit: a
 * caller reads one into a struct sfs_image, changes it and puts it back in
 * the same write transaction. Functions that take a transaction follow
 * catalog.h's rules (thread of the transaction only; results are copies
 * owned by the caller). Functions without one are pure and thread-safe,
 * except where they say they consult the host's user database.
 */
#ifndef SNAPFS_IMAGE_H
#define SNAPFS_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapfs/access.h"
#include "snapfs/catalog.h"
#include "snapfs/ingest.h"

#define SFS_DEVNAME_MAX	      15 /* "nvme12n12p12" fits */
#define SFS_IMAGE_MAX_DEVICES 64
/* The largest size a device may show: 1 EiB, far beyond any disk, and
 * small enough for every off_t and signed JSON integer on the way. */
#define SFS_IMAGE_DEVICE_SIZE_MAX (UINT64_C(1) << 60)

enum sfs_image_arch {
	SFS_ARCH_X86_64 = 0,
	SFS_ARCH_ARM64 = 1,
	SFS_ARCH_I386 = 2,
};

enum sfs_boot_mode {
	SFS_BOOT_BIOS = 0,
	SFS_BOOT_UEFI = 1,
};

struct sfs_image_device {
	char device[SFS_DEVNAME_MAX + 1]; /* "sda", "xvdf", "nvme0n1" */
	char snapshot[SFS_IDSTR_SIZE];
	uint64_t size; /* bytes shown; >= the snapshot's size, the rest reads as zeros */
};

/* Which policy made an image (policy.h), set by the policy runner only:
 * its retention recognises its images by this, never by tags a user
 * could set. policy[0] == '\0': not made by a policy. */
#define SFS_IMAGE_ORIGIN_TEXT_MAX 96
struct sfs_image_origin {
	char policy[SFS_NAME_MAX + 1];
	char schedule[SFS_IMAGE_ORIGIN_TEXT_MAX]; /* the schedule's text */
	char target[SFS_IMAGE_ORIGIN_TEXT_MAX];   /* which target; "" when the policy has one */
	int64_t slot;                             /* unix seconds */
};

struct sfs_image {
	char name[SFS_NAME_MAX + 1];
	char id[SFS_IDSTR_SIZE]; /* ami-... */
	int64_t created;	 /* unix seconds */
	char *owner;		 /* host user name of the creator; owned, may be NULL */
	int arch;		 /* enum sfs_image_arch */
	int boot_mode;		 /* enum sfs_boot_mode */
	char root_device[SFS_DEVNAME_MAX + 1];
	struct sfs_image_device *devices; /* mapping order; owned */
	size_t ndevices;
	char *description; /* owned, may be NULL */
	json_t *tags;	   /* object of string values; owned */
	/* Launch permissions: host user and group names, sorted, owned. */
	json_t *users;
	json_t *groups;
	bool public;
	struct sfs_image_origin origin;
};

/* ---- names ---- */

/*
 * A Linux-style disk name, without "/dev/": sd|hd|vd|xvd + 1-2 letters +
 * an optional partition number of 1-2 digits (sda, vdb, xvdf, sda1), or
 * nvme<N>n<M> with an optional p<P> (nvme0n1, nvme0n1p2).
 */
bool sfs_devname_valid(const char *name);

/* "x86_64", "arm64", "i386"; NULL for an unknown value. */
const char *sfs_arch_name(int arch);
/* The enum value, or -EINVAL. Accepts "amd64" and "aarch64" as aliases. */
int sfs_arch_parse(const char *s);
/* "bios", "uefi"; NULL for an unknown value. */
const char *sfs_boot_mode_name(int mode);
int sfs_boot_mode_parse(const char *s);
/* The boot mode an architecture gets when none is asked for: uefi for
 * arm64 (which has no BIOS), bios otherwise. */
int sfs_boot_mode_default(int arch);

/* ---- the record ---- */

/* Zeroes img and gives it empty tags and permission lists. -ENOMEM. */
int sfs_image_init(struct sfs_image *img);
void sfs_image_release(struct sfs_image *img); /* accepts NULL */

/*
 * Appends a mapping. Returns 0, -EINVAL (not a device name or snapshot
 * id), -EEXIST (device already mapped), -E2BIG (too many devices) or
 * -ENOMEM.
 */
int sfs_image_add_device(struct sfs_image *img, const char *device, const char *snap_id,
			 uint64_t size);
/* The mapping of device, or NULL. Borrowed from img. */
const struct sfs_image_device *sfs_image_device(const struct sfs_image *img, const char *device);

/*
 * Checks what a record must satisfy on its own: valid name and id, at
 * least one device, unique valid device names, sizes of at most
 * SFS_IMAGE_DEVICE_SIZE_MAX (0 is allowed here: create fills it from the
 * snapshot), a root device that is
 * mapped, a known architecture and boot mode and a combination of the two
 * that exists (uefi on i386 and bios on arm64 do not). Returns 0 or
 * -EINVAL with one line in err (errlen bytes) saying what is wrong.
 */
int sfs_image_validate(const struct sfs_image *img, char *err, size_t errlen);

/* -EBADMSG for anything that is not a valid record (a device size of 0
 * or above SFS_IMAGE_DEVICE_SIZE_MAX included), or -ENOMEM. */
int sfs_image_decode(const void *buf, size_t len, struct sfs_image *ret);
/* The same, with one line in err (errlen bytes) saying what is wrong. */
int sfs_image_decode_why(const void *buf, size_t len, struct sfs_image *ret, char *err,
			 size_t errlen);
/* malloc'd JSON, or NULL (no memory, or a size above the maximum). */
char *sfs_image_encode(const struct sfs_image *img);
/* The record as shown by `image show --json` and in image.json: a new
 * reference, or NULL on allocation failure. */
json_t *sfs_image_to_json(const struct sfs_image *img);

/* ---- launch permissions ---- */

/* Adds or removes a host user (SFS_PERM_USER) or group name: the errors
 * of sfs_grant_add and sfs_grant_remove (access.h). The mount checks
 * them with sfs_access_check. */
int sfs_image_perm_add(struct sfs_image *img, int kind, const char *name);
int sfs_image_perm_remove(struct sfs_image *img, int kind, const char *name);

/* ---- the catalog ---- */

/* 0, -ENOENT, -EBADMSG (damaged record) or -errno. */
int sfs_cat_image_get(struct sfs_txn *t, const char *name, struct sfs_image *ret);
/* By name, or by id when name_or_id looks like "ami-...". */
int sfs_cat_image_find(struct sfs_txn *t, const char *name_or_id, struct sfs_image *ret);

/*
 * Registers a new image in a write transaction. Checks img with
 * sfs_image_validate, then against the catalog: the name is free
 * (-EEXIST), every snapshot exists (-ENOENT) and is completed (-EAGAIN),
 * and no mapping is smaller than its snapshot (-ERANGE). A mapping of
 * size 0 gets its snapshot's size, written back into img. Fills an empty
 * id and a zero creation time. Bumps the generation. On failure err says
 * which device or snapshot is at fault and nothing is written.
 */
int sfs_cat_image_create(struct sfs_txn *t, struct sfs_image *img, char *err, size_t errlen);

struct sfs_writer;

/*
 * sfs_cat_image_create in a writer session's transaction (ingest.h), for
 * an image whose devices are snapshotted now: the snapshots this session
 * made are accepted although they are still pending, because they become
 * completed in the same commit as the image. Call it after the session's
 * last sfs_writer_snapshot (which may commit checkpoints) and follow it
 * with sfs_writer_commit, or sfs_writer_abort on failure.
 */
int sfs_writer_image_create(struct sfs_writer *w, struct sfs_image *img, char *err, size_t errlen);

/* ---- registering an image, sources included (image_create.c) ---- */

/*
 * What sfs_image_register makes: the record, and for each device either
 * the existing snapshot it maps or a source (a file or block device) to
 * snapshot at registration as volume NAME-DEV. Fill image's name, arch,
 * boot mode, root device, description, tags, owner and permissions as
 * for any record; add devices only with the two calls below, which keep
 * sources[] in step with image.devices[].
 */
struct sfs_image_spec {
	struct sfs_image image;
	const char *sources[SFS_IMAGE_MAX_DEVICES]; /* borrowed; NULL: a snapshot */
	const char *volumes[SFS_IMAGE_MAX_DEVICES]; /* borrowed; NULL: NAME-DEV */
};

/* sfs_image_init of spec->image, no sources. -ENOMEM. */
int sfs_image_spec_init(struct sfs_image_spec *spec);
void sfs_image_spec_release(struct sfs_image_spec *spec); /* accepts NULL */

/* Maps device to the existing snapshot snap_id, shown as size bytes (0:
 * the snapshot's size). The errors of sfs_image_add_device. */
int sfs_image_spec_add_snapshot(struct sfs_image_spec *spec, const char *device,
				const char *snap_id, uint64_t size);
/* Maps device to a snapshot of source taken by sfs_image_register.
 * source is borrowed until then. The errors of sfs_image_add_device. */
int sfs_image_spec_add_source(struct sfs_image_spec *spec, const char *device,
			      const char *source);
/* The same, snapshotted as the existing or new volume `volume` instead of
 * NAME-DEV (a policy's image of the volumes it targets). volume is
 * borrowed like source. The errors of sfs_image_add_device. */
int sfs_image_spec_add_volume(struct sfs_image_spec *spec, const char *device,
			      const char *volume, const char *source);

/*
 * Checks spec without reading a source or the store, so that a typo
 * costs nothing: the record (sfs_image_validate), every NAME-DEV a valid
 * volume name, every source something that exists and is not a
 * directory. Returns 0, or -EINVAL (record, name) or the stat error of a
 * source, with one line in err (errlen bytes) naming what is wrong.
 */
int sfs_image_spec_validate(const struct sfs_image_spec *spec, char *err, size_t errlen);

struct sfs_image_register_opts {
	/* Around each source's snapshot (done false before, true after, also
	 * when it failed): the device and the volume it is snapshotted as,
	 * both valid until the call with done true. Or NULL. */
	void (*source_fn)(void *ctx, const char *device, const char *volume, bool done);
	sfs_progress_fn progress;      /* bytes of the current source; or NULL */
	void *ctx;                      /* for both */
	unsigned threads;               /* for each snapshot; 0: one per online CPU */
	json_t *tags;                   /* of each snapshot taken, borrowed; or NULL */
};

struct sfs_image_register_result {
	/* On success: the record registered (id, creation time, snapshot ids
	 * and sizes filled in), the caller's to sfs_image_release. Zeroed
	 * otherwise. */
	struct sfs_image image;
	/* On failure: the device whose source could not be snapshotted, or
	 * empty; and one line saying why when the input is at fault, or
	 * empty. */
	char device[SFS_DEVNAME_MAX + 1];
	char error[256];
};

/*
 * Registers spec's image in store s (opened with SFS_OPEN_WRITE): checks
 * spec (sfs_image_spec_validate) and that the name is free, then
 * snapshots every source in one writer session and registers the image
 * in that session's final commit. All or nothing: afterwards either the
 * image and every snapshot it made exist, completed, or none of them
 * does. o may be NULL. Returns 0 or -errno: -EINVAL bad spec, -EEXIST
 * name taken, the errors of sfs_writer_snapshot for a source (ret->device
 * names it) and of sfs_cat_image_create for the mapping.
 */
int sfs_image_register(struct sfs_store *s, const struct sfs_image_spec *spec,
		       const struct sfs_image_register_opts *o,
		       struct sfs_image_register_result *ret);

/* Replaces an existing image's record (after a permission change) and
 * bumps the generation. -ENOENT when the image does not exist, -EINVAL
 * when the record fails sfs_image_validate. */
int sfs_cat_image_update(struct sfs_txn *t, const struct sfs_image *img);

typedef int (*sfs_image_fn)(void *ctx, const struct sfs_image *img);
/* Every image in name order; fn returns non-zero to stop (that value is
 * returned). A record that does not decode is skipped and logged (a
 * warning naming it), so that one damaged image hides no other. */
int sfs_cat_image_foreach(struct sfs_txn *t, sfs_image_fn fn, void *ctx);

typedef void (*sfs_image_problem_fn)(void *ctx, const char *line);
/*
 * For check: decodes every image record and checks it against the
 * catalog (its key is its name; every snapshot it maps exists, is
 * completed and is no larger than its device). Each problem is one line
 * through fn naming the image. Returns the number of records, or -errno
 * when the walk could not run.
 */
int sfs_cat_image_verify(struct sfs_txn *t, sfs_image_problem_fn fn, void *ctx);

/* An image database key as a printable name for messages (unprintable
 * bytes become '?', cut at SFS_NAME_MAX). */
void sfs_image_key_name(const void *key, size_t len, char ret[SFS_NAME_MAX + 1]);

/*
 * Whether a registered image maps snapshot snap_id. Returns 1 and the
 * first such image's name in ret_name (size len), 0 when none does, or
 * -errno. Snapshot deletion and retention call it to refuse deleting a
 * snapshot an image needs.
 */
int sfs_image_user_of(struct sfs_txn *t, const char *snap_id, char *ret_name, size_t len);

/* What deregistering did to one of the image's snapshots. */
typedef void (*sfs_deregister_fn)(void *ctx, const char *snap_id, bool deleted,
				  const char *kept_for_image);

/*
 * Removes image `name` in a write transaction. With delete_snapshots, its
 * snapshots are removed from the catalog too, except those another image
 * still maps (fn, if given, hears about each: deleted, or kept and for
 * which image); their space is reclaimed by gc. Bumps the generation.
 * Returns 0; 1 when the record was damaged (sfs_cat_image_get says
 * -EBADMSG): it is removed by name and no snapshot is touched, since
 * what it maps cannot be trusted; -ENOENT when there is no such image.
 */
int sfs_cat_image_deregister(struct sfs_txn *t, const char *name, bool delete_snapshots,
			     sfs_deregister_fn fn, void *ctx);

struct sfs_deregister_opts {
	bool delete_snapshots;
	bool force;   /* past the recycle bin, for the image and its snapshots */
	int64_t now;  /* the time locks and the bin go by; 0: the clock */
	sfs_deregister_fn fn; /* or NULL */
	void *ctx;
};

struct sfs_deregister_result {
	/* -EPERM: a snapshot it would delete is locked (lock.h). */
	char locked[SFS_IDSTR_SIZE];
	int lock_mode;
	int64_t lock_until;
	int64_t bin_until; /* the image went to the recycle bin until then; 0: gone */
};

/*
 * sfs_cat_image_deregister with the rules of a user's deregister: with
 * delete_snapshots, refuses (-EPERM, the snapshot and its lock in ret)
 * when a snapshot it would delete is locked at o->now, and the image and
 * its snapshots go to the recycle bin when a rule covers them, unless
 * o->force. ret may be NULL. Returns as sfs_cat_image_deregister.
 */
int sfs_image_deregister(struct sfs_txn *t, const char *name, const struct sfs_deregister_opts *o,
			 struct sfs_deregister_result *ret);

#endif
