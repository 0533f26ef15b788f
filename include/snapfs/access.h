/* SPDX-License-Identifier: MIT */
/*
 * Who may read what a mount shows: the one access decision of the store,
 * for every gated tree of a mount (volumes/, snapshots/, images/,
 * checkpoints/, and the trees to come, which name the volume, snapshot or image they show).
 * Root and the owner of the store directory may read everything; anyone
 * else needs a grant on the object: a host user or group name listed in
 * its record (volumes and snapshots: "users" and "groups"; images: their
 * launch permissions, owner and public flag). A grant on a volume covers
 * every snapshot of the volume; an image's permission covers the image's
 * own files only, not the snapshots it maps. A checkpoint holds a VM's
 * RAM, hence its secrets: its files are granted by the launch permissions
 * of the image it records (those who may launch the image may resume it),
 * and a checkpoint that records no image, or whose image is gone, by
 * nobody but root and the store's owner.
 *
 * Names rather than numbers are stored so that a store copied to another
 * host grants access to the same people; they are resolved with
 * getpwnam_r/getgrnam_r on every check, so a name that does not resolve
 * (a user deleted since) matches nobody. Functions that take a transaction
 * follow catalog.h's rules; the others are pure and thread-safe.
 */
#ifndef SNAPFS_ACCESS_H
#define SNAPFS_ACCESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "snapfs/catalog.h"

enum sfs_access_kind {
	SFS_ACCESS_VOLUME = 0,   /* name: the volume's name */
	SFS_ACCESS_SNAPSHOT = 1, /* name: the snapshot's id */
	SFS_ACCESS_IMAGE = 2,    /* name: the image's name */
	SFS_ACCESS_CHECKPOINT = 3, /* name: the checkpoint's name */
};

/* "volume", "snapshot", "image", "checkpoint". */
const char *sfs_access_kind_name(enum sfs_access_kind kind);

/* Who asks: a uid and every group of the process, primary included. */
struct sfs_cred {
	uid_t uid;
	const gid_t *groups;
	size_t ngroups;
};

/*
 * Whether who may read the object (list it, stat it, open it). Returns 0
 * (allowed), -EACCES (denied), -ENOENT (no such object), -EBADMSG (a
 * damaged record: denied to everyone but root and the store's owner) or
 * -errno. Root and the store's owner are answered without reading the
 * catalog.
 */
int sfs_access_check(struct sfs_txn *t, enum sfs_access_kind kind, const char *name,
		     const struct sfs_cred *who);

/* ---- grant lists ---- */

enum sfs_perm_kind {
	SFS_PERM_USER = 0,
	SFS_PERM_GROUP = 1,
};

/*
 * Adds name to or removes it from *list, a sorted JSON array of strings
 * (NULL: empty; made on first add). Records are encoded without empty
 * lists, so a record whose grants all went keeps its old bytes. -EEXIST when already
 * listed (add), -ENOENT when not listed (remove), -EINVAL for an empty or
 * over-long name or one with ':' or a newline, -ENOMEM. Names are not
 * checked against the host.
 */
int sfs_grant_add(json_t **list, const char *name);
int sfs_grant_remove(json_t **list, const char *name);

/*
 * Reads the grants of a volume or snapshot into *ret_users and
 * *ret_groups (new references to arrays, possibly empty; the caller
 * decrefs). 0, -ENOENT, -EBADMSG, -EINVAL (kind is not a volume or
 * snapshot) or -errno.
 */
int sfs_cat_grants_get(struct sfs_txn *t, enum sfs_access_kind kind, const char *name,
		       json_t **ret_users, json_t **ret_groups);

/*
 * Adds (add true) or removes a user or group grant on a volume or
 * snapshot in a write transaction, through the record's own put (which
 * bumps the generation). The errors of sfs_grant_add/_remove and of
 * sfs_cat_grants_get.
 */
int sfs_cat_grant(struct sfs_txn *t, enum sfs_access_kind kind, const char *name,
		  enum sfs_perm_kind pkind, const char *who, bool add);

#endif
