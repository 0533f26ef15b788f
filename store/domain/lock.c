// SPDX-License-Identifier: MIT
/*
 * Snapshot locks (include/snapfs/lock.h): the rules of who may set,
 * extend and remove a lock, applied to the snapshot record in one place.
 * A lock whose date has passed is treated as absent everywhere, so an
 * expired compliance lock neither blocks a delete nor an unlock.
 */
#include <errno.h>

#include "snapfs/lock.h"

static void old_lock(const struct sfs_snapshot *sn, int64_t now, int *ret_mode, int64_t *ret_until)
{
	bool held = sfs_snapshot_locked(sn, now);

	if (ret_mode)
		*ret_mode = held ? sn->lock_mode : SFS_LOCK_NONE;
	if (ret_until)
		*ret_until = held ? sn->lock_until : 0;
}

int sfs_snapshot_lock(struct sfs_txn *t, const char *id, int mode, int64_t until, int64_t now,
		      int *ret_old_mode, int64_t *ret_old_until)
{
	struct sfs_snapshot sn;
	int r;

	if (mode != SFS_LOCK_GOVERNANCE && mode != SFS_LOCK_COMPLIANCE)
		return -EINVAL;
	r = sfs_cat_snapshot_get(t, id, &sn);
	if (r < 0)
		return r;
	old_lock(&sn, now, ret_old_mode, ret_old_until);
	if (sn.state != SFS_SNAP_COMPLETED) {
		r = -EAGAIN;
		goto out_release;
	}
	if (until <= now) {
		r = -EINVAL;
		goto out_release;
	}
	/* A compliance lock is a promise to whoever relies on it: it may
	 * only grow, never weaken. */
	if (sfs_snapshot_locked(&sn, now) && sn.lock_mode == SFS_LOCK_COMPLIANCE &&
	    (mode != SFS_LOCK_COMPLIANCE || until < sn.lock_until)) {
		r = -EPERM;
		goto out_release;
	}
	sn.lock_mode = mode;
	sn.lock_until = until;
	r = sfs_cat_snapshot_put(t, &sn);
out_release:
	sfs_snapshot_release(&sn);
	return r;
}

int sfs_snapshot_unlock(struct sfs_txn *t, const char *id, int64_t now, int *ret_old_mode,
			int64_t *ret_old_until)
{
	struct sfs_snapshot sn;
	int r;

	r = sfs_cat_snapshot_get(t, id, &sn);
	if (r < 0)
		return r;
	old_lock(&sn, now, ret_old_mode, ret_old_until);
	if (sfs_snapshot_locked(&sn, now) && sn.lock_mode == SFS_LOCK_COMPLIANCE) {
		r = -EPERM;
		goto out_release;
	}
	if (sn.lock_mode == SFS_LOCK_NONE)
		goto out_release; /* nothing to write */
	sn.lock_mode = SFS_LOCK_NONE;
	sn.lock_until = 0;
	r = sfs_cat_snapshot_put(t, &sn);
out_release:
	sfs_snapshot_release(&sn);
	return r;
}
