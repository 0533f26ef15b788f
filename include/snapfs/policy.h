/* SPDX-License-Identifier: MIT */
/*
 * Lifecycle policies (like Data Lifecycle Manager): snapshot the volumes
 * whose tags match, on up to four schedules, keep each schedule's
 * snapshots by count and/or age, and optionally copy them to another
 * store with a retention of their own. Policies are JSON records in the
 * catalog's `policies` database (fields in store/FORMAT.md).
 *
 * Time is UTC unix seconds throughout. A schedule has slots (the times it
 * fires); `sfs_policy_run` handles, per schedule, the latest slot at or
 * before `now` when it is newer than the slot recorded as last run: so a
 * run is idempotent, and slots missed while the machine was off are caught
 * up once, not once each.
 *
 * The schedule and retention helpers are pure and thread-safe. Record and
 * catalog functions follow catalog.h's rules. sfs_policy_run needs a
 * store opened with SFS_OPEN_WRITE and is single-threaded.
 */
#ifndef SNAPFS_POLICY_H
#define SNAPFS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/catalog.h"
#include "snapfs/store.h"

/* ---- schedules ---- */

enum sfs_sched_kind {
	SFS_SCHED_CRON = 1,     /* minute/hour/day/month/weekday sets */
	SFS_SCHED_INTERVAL = 2, /* every N seconds since the epoch */
};

struct sfs_sched {
	int kind;
	int64_t interval; /* seconds, SFS_SCHED_INTERVAL */
	uint64_t minutes; /* bit m: minute m (0..59) */
	uint32_t hours;   /* bit h: hour h (0..23) */
	uint32_t mdays;   /* bit d: day of month d (1..31) */
	uint16_t months;  /* bit m: month m (1..12) */
	uint8_t wdays;    /* bit d: weekday d (0 = Sunday .. 6) */
	bool mday_any, wday_any; /* the field was '*' (cron's day rule) */
};

/*
 * Parses a schedule: "hourly", "every Nh" (1..24), "every Nm" (1..1440),
 * "daily HH:MM", "weekly DAY[,DAY...] HH:MM" (MON..SUN), "monthly D HH:MM"
 * (D 1..28, so that every month has it) or a 5-field cron expression
 * ("MIN HOUR MDAY MONTH WDAY" with *, lists, ranges, /steps and names).
 * Intervals are aligned to multiples of N since 1970-01-01T00:00Z (every
 * 6h: 00:00, 06:00, 12:00, 18:00). Returns 0 or -EINVAL with a one-line
 * reason in err.
 */
int sfs_sched_parse(const char *text, struct sfs_sched *ret, char *err, size_t errlen);

/* The latest slot <= t, or -1 when there is none in the 5 years before t. */
int64_t sfs_sched_prev(const struct sfs_sched *s, int64_t t);
/* The earliest slot > t, or -1 when there is none in the 5 years after t. */
int64_t sfs_sched_next(const struct sfs_sched *s, int64_t t);
/* The slot to run at `now` given the slot last run (0: never): the latest
 * slot <= now when it is after last_run, else -1. */
int64_t sfs_sched_due(const struct sfs_sched *s, int64_t last_run, int64_t now);

/* "30d", "12h", "2w", "90m" into seconds (1 hour .. 100 years), by
 * sfs_parse_duration's rules. 0 or -EINVAL. */
int sfs_age_parse(const char *text, int64_t *ret);
/* "2026-12-01T03:00:00Z" (or "...T03:00Z", the Z optional) into unix
 * seconds: fixed-width digits, a real calendar date from 1970 on. 0 or
 * -EINVAL. */
int sfs_time_parse(const char *text, int64_t *ret);

/* ---- retention ---- */

struct sfs_retain_item {
	int64_t time;  /* when the snapshot's slot was */
	uint64_t seq;  /* tie-break: store creation order */
	bool in_use;   /* an image maps it: never removed */
	bool remove;   /* out: retention drops it */
};

/*
 * Marks which items retention removes: items are ranked newest first; one
 * is kept when it is among the newest `count` (count > 0) or younger than
 * `age` seconds at `now` (age > 0); with neither limit everything is kept.
 * Items in use are kept whatever the rank (and still take their place in
 * it). Returns how many are marked. Reorders items (newest first).
 */
size_t sfs_retain_select(struct sfs_retain_item *items, size_t n, uint32_t count, int64_t age,
			 int64_t now);

/* ---- policy records ---- */

#define SFS_POLICY_MAX_SCHEDULES 4
#define SFS_RETAIN_COUNT_MAX 1000
#define SFS_SCHED_TEXT_MAX 96

struct sfs_policy_schedule {
	char text[SFS_SCHED_TEXT_MAX]; /* as given; also the snapfs:schedule tag */
	struct sfs_sched sched;
	uint32_t retain_count;         /* 0: no count limit */
	int64_t retain_age;            /* seconds; 0: no age limit */
	int64_t last_run;              /* slot last handled; 0: never */
};

enum sfs_policy_type {
	SFS_POLICY_SNAPSHOT = 0, /* a snapshot of each matching volume */
	SFS_POLICY_IMAGE = 1,    /* an image of each target's volumes */
};

/* The volume tag that names the device a volume is in an image policy's
 * images ("vda"). Under SFS_TAG_RESERVED, so that only `volume tag`,
 * which checks the value is a device name, sets it. */
#define SFS_TAG_DEVICE "snapfs:device"
/* A target tag value that matches any value: an image policy then makes
 * one image per distinct value (instance=* : one per instance). */
#define SFS_TARGET_ANY "*"

struct sfs_policy {
	char name[SFS_NAME_MAX + 1];
	int type;            /* enum sfs_policy_type */
	bool enabled;
	int64_t created;
	json_t *target_tags; /* object of strings: a volume matches when it has all */
	json_t *tags;        /* object of strings added to every snapshot made */
	size_t n_schedules;
	struct sfs_policy_schedule schedules[SFS_POLICY_MAX_SCHEDULES];
	char *copy_to;       /* another store's path, or NULL */
	uint32_t copy_retain; /* copies kept per volume and schedule; 0: all */
	/* The latest runs, oldest first (at most SFS_POLICY_RUNS_MAX), so
	 * that a report can show when a policy ran and what failed without
	 * a log: an array of {"time", "schedule", "slot", "outcome" ("ok" or
	 * "failed"), "failures", "error" (the first failure's line, or
	 * null)}; NULL when it never ran. */
	json_t *runs;
};

#define SFS_POLICY_RUNS_MAX 32
#define SFS_POLICY_ERROR_MAX 512

/* Appends a run to p->runs, dropping the oldest beyond
 * SFS_POLICY_RUNS_MAX. error may be NULL (and is cut to
 * SFS_POLICY_ERROR_MAX bytes). 0 or -ENOMEM. */
int sfs_policy_add_run(struct sfs_policy *p, int64_t time, const char *schedule, int64_t slot,
		       unsigned failures, const char *error);

void sfs_policy_release(struct sfs_policy *p); /* accepts NULL */
/*
 * Checks a policy built by a caller: a valid name, at least one target
 * tag, 1..4 schedules with distinct texts, each with a count (1..1000)
 * and/or an age, copy_retain 0..1000 and only with copy_to. -EINVAL with
 * the reason in err.
 */
int sfs_policy_validate(const struct sfs_policy *p, char *err, size_t errlen);
int sfs_policy_decode(const void *buf, size_t len, struct sfs_policy *ret);
json_t *sfs_policy_to_json(const struct sfs_policy *p);

int sfs_cat_policy_get(struct sfs_txn *t, const char *name, struct sfs_policy *ret);
int sfs_cat_policy_put(struct sfs_txn *t, const struct sfs_policy *p);
int sfs_cat_policy_del(struct sfs_txn *t, const char *name); /* -ENOENT */
typedef int (*sfs_policy_fn)(void *ctx, const struct sfs_policy *p);
int sfs_cat_policy_foreach(struct sfs_txn *t, sfs_policy_fn fn, void *ctx);

/* ---- running ---- */

enum sfs_policy_action {
	SFS_POLICY_CREATED,  /* snapshot made */
	SFS_POLICY_COPIED,   /* copy made in copy_to */
	SFS_POLICY_DELETED,  /* removed by retention (store is src or copy_to) */
	SFS_POLICY_KEPT,     /* retention wanted it gone but an image uses it */
	SFS_POLICY_FAILED,   /* a step failed; message says what */
	SFS_POLICY_REGISTERED,   /* image policy: image made */
	SFS_POLICY_DEREGISTERED, /* image policy: image removed by retention */
};

struct sfs_policy_event {
	int action;
	const char *policy, *schedule, *volume; /* volume may be NULL */
	const char *snapshot;  /* may be NULL */
	const char *image;     /* image policies: the image; else NULL */
	const char *store;     /* the store acted on */
	int64_t slot;
	const char *message;   /* one line, for FAILED and KEPT; else NULL */
};

typedef void (*sfs_policy_event_fn)(void *ctx, const struct sfs_policy_event *e);

struct sfs_policy_run_opts {
	int64_t now;          /* the clock to run at */
	const char *only;     /* run this policy only, or NULL */
	sfs_policy_event_fn event; /* or NULL */
	void *event_ctx;
};

/*
 * Does what is due at o->now for every enabled policy: snapshots of the
 * matching volumes from their `source` (tagged snapfs:policy, snapfs:schedule,
 * snapfs:slot and the policy's tags), copies, then retention, and records
 * the slot as run. A failure of one volume or copy is reported as an
 * event and does not stop the others; the slot is recorded as run all the
 * same, so that a broken source is not snapshotted again every minute.
 * Returns the number of FAILED events, or -errno when the run could not
 * proceed at all (catalog errors).
 */
int sfs_policy_run(struct sfs_store *s, const struct sfs_policy_run_opts *o);

#endif
