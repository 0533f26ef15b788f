/* SPDX-License-Identifier: MIT */
/*
 * What the two kinds of policy run share: the state of one due schedule,
 * its events, the volumes its target tags match, the copy store and the
 * tags that mark what a run made. policy_run.c runs snapshot policies and
 * drives both; policy_image.c runs image policies.
 */
#ifndef SNAPFS_POLICY_INT_H
#define SNAPFS_POLICY_INT_H

#include <jansson.h>

#include "snapfs/policy.h"

#define TAG_POLICY "snapfs:policy"
#define TAG_SCHEDULE "snapfs:schedule"
#define TAG_SLOT "snapfs:slot"

/* One due schedule of one policy. */
struct sfs_policy_runner {
	struct sfs_store *s;
	const struct sfs_policy_run_opts *o;
	const struct sfs_policy *p;
	const struct sfs_policy_schedule *sc;
	int64_t slot;
	int failures; /* FAILED events so far */
	char first_error[SFS_POLICY_ERROR_MAX]; /* the first FAILED message, for the record */
};

/* Reports one event (image may be NULL); a FAILED one is also logged. */
__attribute__((format(printf, 7, 8))) void
sfs_policy_emit(struct sfs_policy_runner *r, int action, const char *store, const char *volume,
		const char *snapshot, const char *image, const char *fmt, ...);

/* t as YYYY-MM-DDTHH:MM:SSZ in buf, which it returns. */
const char *sfs_policy_iso(int64_t t, char *buf, size_t len);

struct sfs_policy_vol {
	char name[SFS_NAME_MAX + 1];
	char *source; /* NULL when unset */
	json_t *tags;
};

struct sfs_policy_vols {
	struct sfs_policy_vol *v;
	size_t n;
};

/* The volumes whose tags match the policy's target tags (a value of
 * SFS_TARGET_ANY matches any), in name order. Release with
 * sfs_policy_vols_release. 0 or -errno. */
int sfs_policy_match_volumes(struct sfs_policy_runner *r, struct sfs_policy_vols *ret);
void sfs_policy_vols_release(struct sfs_policy_vols *l);

/* Opens the policy's copy store for writing, waiting a while for its
 * writer lock; a failure is reported as an event. 0 or -errno. */
int sfs_policy_open_copy_store(struct sfs_policy_runner *r, struct sfs_store **ret);

/* Retention of what the running schedule made in store s: the newest
 * count kept, and what is younger than age (0: no such rule). 0 or
 * -errno. */
typedef int (*sfs_policy_retain_fn)(struct sfs_policy_runner *r, struct sfs_store *s,
				    uint32_t count, int64_t age);

/* Runs retain in the policy's store with the schedule's count and age
 * and, when dst is open, in the copy store with the policy's copy count;
 * a failure is reported as an event. */
void sfs_policy_retain_stores(struct sfs_policy_runner *r, struct sfs_store *dst,
			      sfs_policy_retain_fn retain_fn);

/* The policy's tags plus TAG_POLICY, TAG_SCHEDULE and TAG_SLOT: a new
 * reference, or NULL on allocation failure. */
json_t *sfs_policy_snapshot_tags(struct sfs_policy_runner *r);

/* Runs one due schedule of an image policy (policy_image.c). Failures
 * of a target are events; -errno only when nothing could run. */
int sfs_policy_run_images(struct sfs_policy_runner *r);

#endif
