/* SPDX-License-Identifier: MIT */
/*
 * Snapshot locks: a snapshot locked until a time cannot be deleted, by a
 * user or by a policy's retention, and an image cannot be deregistered
 * with its snapshots while one of them is locked. A governance lock can
 * be changed and removed; a compliance lock can only be extended (a later
 * date, the same mode) and holds until its date passes, whoever asks. The
 * lock lives in the snapshot record (lock_mode, lock_until; FORMAT.md),
 * so a catalog copy and a repair keep it; a snapshot copy does not carry
 * it. Functions take a write transaction and follow catalog.h's rules.
 */
#ifndef SNAPFS_LOCK_H
#define SNAPFS_LOCK_H

#include <stdint.h>

#include "snapfs/catalog.h"

/*
 * Locks snapshot id in mode until `until` (unix seconds), now being the
 * current time. Returns 0, or: -EINVAL until is not after now or mode is
 * not a lock mode; -ENOENT no such snapshot; -EAGAIN the snapshot is not
 * completed; -EPERM it holds a compliance lock that this would shorten or
 * turn into a governance one. With ret_old, the lock it had before (mode
 * SFS_LOCK_NONE when none or expired) in every case the record was read.
 */
int sfs_snapshot_lock(struct sfs_txn *t, const char *id, int mode, int64_t until, int64_t now,
		      int *ret_old_mode, int64_t *ret_old_until);

/*
 * Removes snapshot id's lock. Returns 0 (also when there was none or it
 * had expired; *ret_old_mode says which), -ENOENT, or -EPERM for a
 * compliance lock that still holds at now.
 */
int sfs_snapshot_unlock(struct sfs_txn *t, const char *id, int64_t now, int *ret_old_mode,
			int64_t *ret_old_until);

#endif
