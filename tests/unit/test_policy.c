// SPDX-License-Identifier: MIT
/*
 * Lifecycle policies: schedule parsing, slots before and after a time,
 * the catch-up-once rule, retention selection, record round trips and a
 * simulated month of daily runs with an image holding one snapshot.
 */
#include <criterion/criterion.h>

#include "snapfs/gc.h"
#include "snapfs/policy.h"
#include "lifecycle_util.h"

static int64_t T(const char *s)
{
	int64_t t;

	cr_assert_eq(sfs_time_parse(s, &t), 0, "time %s", s);
	return t;
}

static struct sfs_sched P(const char *text)
{
	struct sfs_sched s;
	char err[200];

	cr_assert_eq(sfs_sched_parse(text, &s, err, sizeof(err)), 0, "%s: %s", text, err);
	return s;
}

static void expect_next(const char *sched, const char *from, const char *want)
{
	struct sfs_sched s = P(sched);

	cr_expect_eq(sfs_sched_next(&s, T(from)), T(want), "%s after %s", sched, from);
}

static void expect_prev(const char *sched, const char *at, const char *want)
{
	struct sfs_sched s = P(sched);

	cr_expect_eq(sfs_sched_prev(&s, T(at)), T(want), "%s at or before %s", sched, at);
}

Test(schedule, forms_parse_and_bad_ones_explain)
{
	static const char *const good[] = {
		"hourly", "every 6h", "every 15m", "every 24h", "daily 03:00", "weekly MON 04:30",
		"weekly mon,thu 23:59", "monthly 1 00:00", "monthly 28 12:00", "*/15 * * * *",
		"0 9 * * 1-5", "30 2 1,15 * *", "0 0 * JAN-MAR SUN", "0 0 * * 7",
	};
	static const char *const bad[] = {
		"", "daily", "daily 24:00", "daily 3:00", "weekly XYZ 03:00", "monthly 29 03:00",
		"monthly 0 03:00", "every 0h", "every 25h", "every 1441m", "every 5s",
		"61 * * * *", "* * * *", "0 0 31 2 *", "sometimes",
	};
	struct sfs_sched s;
	char err[200];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect_eq(sfs_sched_parse(good[i], &s, err, sizeof(err)), 0, "%s: %s", good[i],
			     err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(sfs_sched_parse(bad[i], &s, err, sizeof(err)), -EINVAL, "%s", bad[i]);
		cr_expect(err[0] != '\0', "no reason given for '%s'", bad[i]);
	}
}

Test(schedule, next_and_prev)
{
	expect_next("daily 03:00", "2026-12-01T02:59:59Z", "2026-12-01T03:00:00Z");
	expect_next("daily 03:00", "2026-12-01T03:00:00Z", "2026-12-02T03:00:00Z");
	expect_prev("daily 03:00", "2026-12-01T03:00:00Z", "2026-12-01T03:00:00Z");
	expect_prev("daily 03:00", "2026-12-01T02:59:00Z", "2026-11-30T03:00:00Z");
	expect_next("hourly", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z");
	expect_prev("hourly", "2026-12-01T10:59:59Z", "2026-12-01T10:00:00Z");
	/* intervals are aligned to the epoch, so every 6h is 00/06/12/18 UTC */
	expect_next("every 6h", "2026-12-01T07:00:00Z", "2026-12-01T12:00:00Z");
	expect_prev("every 6h", "2026-12-01T05:59:00Z", "2026-12-01T00:00:00Z");
	expect_next("every 15m", "2026-12-01T07:01:00Z", "2026-12-01T07:15:00Z");
	/* 2026-12-01 is a Tuesday */
	expect_next("weekly MON 04:30", "2026-12-01T00:00:00Z", "2026-12-07T04:30:00Z");
	expect_prev("weekly MON 04:30", "2026-12-01T00:00:00Z", "2026-11-30T04:30:00Z");
	expect_next("weekly SUN 00:00", "2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z");
	expect_next("0 0 * * 7", "2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z");
	expect_next("monthly 1 06:00", "2026-12-01T06:00:00Z", "2027-01-01T06:00:00Z");
	expect_prev("monthly 15 06:00", "2026-12-01T00:00:00Z", "2026-11-15T06:00:00Z");
	expect_next("*/15 * * * *", "2026-12-01T10:14:59Z", "2026-12-01T10:15:00Z");
	expect_next("0 9 * * 1-5", "2026-12-04T09:00:00Z", "2026-12-07T09:00:00Z");
	/* cron: both day fields restricted means either (the 13th, or a Friday) */
	expect_next("0 0 13 * 5", "2026-12-05T00:00:00Z", "2026-12-11T00:00:00Z");
	expect_next("0 0 13 * 5", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z");
	expect_next("0 12 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z");
	expect_next("daily 23:59", "2026-12-31T23:59:00Z", "2027-01-01T23:59:00Z");
}

Test(schedule, due_catches_up_once)
{
	struct sfs_sched s = P("daily 03:00");
	int64_t last = T("2026-12-01T03:00:00Z");

	/* nothing new yet */
	cr_expect_eq(sfs_sched_due(&s, last, T("2026-12-02T02:59:00Z")), -1);
	/* four slots missed while off: one run, for the latest of them */
	cr_expect_eq(sfs_sched_due(&s, last, T("2026-12-05T10:00:00Z")), T("2026-12-05T03:00:00Z"));
	last = T("2026-12-05T03:00:00Z");
	cr_expect_eq(sfs_sched_due(&s, last, T("2026-12-05T10:00:00Z")), -1);
	/* never run: the latest slot passed */
	cr_expect_eq(sfs_sched_due(&s, 0, T("2026-12-05T10:00:00Z")), T("2026-12-05T03:00:00Z"));
	/* a clock that goes back does nothing */
	cr_expect_eq(sfs_sched_due(&s, last, T("2026-12-03T10:00:00Z")), -1);
}

Test(schedule, ages_and_times)
{
	int64_t v;

	cr_expect_eq(sfs_age_parse("30d", &v), 0);
	cr_expect_eq(v, 30 * 86400);
	cr_expect_eq(sfs_age_parse("12h", &v), 0);
	cr_expect_eq(v, 12 * 3600);
	cr_expect_eq(sfs_age_parse("2w", &v), 0);
	cr_expect_eq(v, 14 * 86400);
	cr_expect_eq(sfs_age_parse("0d", &v), -EINVAL);
	cr_expect_eq(sfs_age_parse("5m", &v), -EINVAL);
	cr_expect_eq(sfs_age_parse("d", &v), -EINVAL);
	cr_expect_eq(sfs_time_parse("2026-12-01T03:00Z", &v), 0);
	cr_expect_eq(v, T("2026-12-01T03:00:00Z"));
	cr_expect_eq(sfs_time_parse("2026-12-01 03:00", &v), -EINVAL);
	cr_expect_eq(sfs_time_parse("2026-12-01T03:00:00+02", &v), -EINVAL);
}

static size_t removed(struct sfs_retain_item *it, size_t n, bool *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		/* items come back newest first; report by seq (= day) */
		out[it[i].seq] = it[i].remove;
		k += it[i].remove;
	}
	return k;
}

Test(retention, count_age_both_and_images)
{
	struct sfs_retain_item it[10];
	bool rm[10];
	int64_t day = 86400, now = 100 * day;

	/* day i snapshot, shuffled order in */
	for (int i = 0; i < 10; i++)
		it[i] = (struct sfs_retain_item){ .time = now - (9 - ((i * 7) % 10)) * day,
						  .seq = (uint64_t)((i * 7) % 10) };
	cr_expect_eq(sfs_retain_select(it, 10, 7, 0, now), 3);
	removed(it, 10, rm);
	for (int d = 0; d < 10; d++)
		cr_expect_eq(rm[d], d < 3, "count 7: day %d", d);

	/* age 4.5 days: days 5..9 stay */
	cr_expect_eq(sfs_retain_select(it, 10, 0, 4 * day + day / 2, now), 5);
	removed(it, 10, rm);
	for (int d = 0; d < 10; d++)
		cr_expect_eq(rm[d], d < 5, "age: day %d", d);

	/* both: kept while either keeps it */
	cr_expect_eq(sfs_retain_select(it, 10, 7, 2 * day, now), 3);
	cr_expect_eq(sfs_retain_select(it, 10, 2, 5 * day + 1, now), 4);

	/* an image's snapshot stays and keeps its rank */
	for (int i = 0; i < 10; i++)
		it[i].in_use = it[i].seq == 1;
	cr_expect_eq(sfs_retain_select(it, 10, 7, 0, now), 2);
	removed(it, 10, rm);
	cr_expect(!rm[1] && rm[0] && rm[2] && !rm[3]);

	/* no limits: nothing goes */
	cr_expect_eq(sfs_retain_select(it, 10, 0, 0, now), 0);
}

static struct sfs_policy make_policy(const char *name)
{
	struct sfs_policy p = { .enabled = true };

	snprintf(p.name, sizeof(p.name), "%s", name);
	p.target_tags = json_pack("{s:s}", "env", "prod");
	p.tags = json_pack("{s:s}", "team", "ops");
	p.n_schedules = 1;
	snprintf(p.schedules[0].text, sizeof(p.schedules[0].text), "daily 03:00");
	p.schedules[0].sched = P("daily 03:00");
	p.schedules[0].retain_count = 7;
	return p;
}

Test(policy, record_round_trip_and_validation)
{
	struct sfs_policy p = make_policy("nightly"), q;
	char err[256], *s;
	json_t *o;

	cr_assert_eq(sfs_policy_validate(&p, err, sizeof(err)), 0, "%s", err);
	p.schedules[0].last_run = 1795316400;
	p.n_schedules = 2;
	snprintf(p.schedules[1].text, sizeof(p.schedules[1].text), "0 */6 * * *");
	p.schedules[1].retain_age = 86400;
	p.copy_to = strdup("/mnt/dr");
	p.copy_retain = 30;
	o = sfs_policy_to_json(&p);
	json_object_set_new(o, "v", json_integer(1));
	s = json_dumps(o, JSON_COMPACT);
	cr_assert_eq(sfs_policy_decode(s, strlen(s), &q), 0);
	cr_expect_str_eq(q.name, "nightly");
	cr_expect_eq(q.n_schedules, 2);
	cr_expect_eq(q.schedules[0].last_run, 1795316400);
	cr_expect_eq(q.schedules[1].retain_age, 86400);
	cr_expect_str_eq(q.copy_to, "/mnt/dr");
	cr_expect_eq(q.copy_retain, 30);
	cr_expect_str_eq(json_string_value(json_object_get(q.target_tags, "env")), "prod");

	cr_expect_eq(q.type, SFS_POLICY_SNAPSHOT);
	sfs_policy_release(&q);
	free(s);

	/* the type survives; a record from before types is a snapshot policy;
	 * an unknown type is damage */
	p.type = SFS_POLICY_IMAGE;
	json_decref(o);
	o = sfs_policy_to_json(&p);
	json_object_set_new(o, "v", json_integer(1));
	s = json_dumps(o, JSON_COMPACT);
	cr_assert_eq(sfs_policy_decode(s, strlen(s), &q), 0);
	cr_expect_eq(q.type, SFS_POLICY_IMAGE);
	sfs_policy_release(&q);
	free(s);
	json_object_del(o, "type");
	s = json_dumps(o, JSON_COMPACT);
	cr_assert_eq(sfs_policy_decode(s, strlen(s), &q), 0);
	cr_expect_eq(q.type, SFS_POLICY_SNAPSHOT);
	sfs_policy_release(&q);
	free(s);
	json_object_set_new(o, "type", json_string("volume"));
	s = json_dumps(o, JSON_COMPACT);
	cr_expect_eq(sfs_policy_decode(s, strlen(s), &q), -EBADMSG);
	free(s);
	json_decref(o);
	p.type = SFS_POLICY_SNAPSHOT;

	/* a record whose schedule no longer parses is refused */
	cr_expect_eq(sfs_policy_decode("{\"v\":1,\"name\":\"x\",\"enabled\":true,\"created\":0,"
				       "\"copy_retain\":0,\"target_tags\":{\"a\":\"b\"},\"tags\":{},"
				       "\"schedules\":[{\"schedule\":\"daily 25:00\",\"retain_count\":"
				       "1,\"retain_age\":0,\"last_run\":0}]}",
				       250, &q),
		     -EBADMSG);

	p.schedules[1].retain_age = 0;
	cr_expect_eq(sfs_policy_validate(&p, err, sizeof(err)), -EINVAL, "no retention");
	p.schedules[1].retain_count = 1001;
	cr_expect_eq(sfs_policy_validate(&p, err, sizeof(err)), -EINVAL);
	snprintf(p.schedules[1].text, sizeof(p.schedules[1].text), "daily 03:00");
	p.schedules[1].retain_count = 3;
	cr_expect_eq(sfs_policy_validate(&p, err, sizeof(err)), -EINVAL, "duplicate schedule");
	p.n_schedules = 1;
	json_object_clear(p.target_tags);
	cr_expect_eq(sfs_policy_validate(&p, err, sizeof(err)), -EINVAL, "no target");
	sfs_policy_release(&p);
}

struct tally {
	int created, deleted, kept, failed;
};

static void count_event(void *ctx, const struct sfs_policy_event *e)
{
	struct tally *t = ctx;

	t->created += e->action == SFS_POLICY_CREATED;
	t->deleted += e->action == SFS_POLICY_DELETED;
	t->kept += e->action == SFS_POLICY_KEPT;
	t->failed += e->action == SFS_POLICY_FAILED;
}

struct snaps {
	char ids[64][SFS_IDSTR_SIZE];
	char slots[64][32];
	int n, policy_made;
};

static int collect(void *ctx, const struct sfs_snapshot *sn)
{
	struct snaps *s = ctx;
	const char *slot = json_string_value(json_object_get(sn->tags, "snapfs:slot"));

	cr_assert(s->n < 64);
	memcpy(s->ids[s->n], sn->id, SFS_IDSTR_SIZE);
	snprintf(s->slots[s->n], sizeof(s->slots[0]), "%s", slot ? slot : "");
	s->policy_made += slot != NULL;
	s->n++;
	return 0;
}

static struct snaps list(struct sfs_store *s)
{
	struct snaps l = { 0 };
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(s, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_foreach(t, "web", collect, &l), 0);
	sfs_txn_abort(t);
	return l;
}

static bool has_slot(const struct snaps *l, const char *slot)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->slots[i], slot))
			return true;
	return false;
}

static struct tally run_at(struct sfs_store *s, const char *when)
{
	struct tally t = { 0 };
	struct sfs_policy_run_opts o = { .now = T(when), .event = count_event, .event_ctx = &t };

	cr_assert_eq(sfs_policy_run(s, &o), 0, "run at %s", when);
	return t;
}

Test(policy, thirty_days_daily_keep_7_with_an_image)
{
	char *dir = fx_tmpdir(), *src, hand[SFS_IDSTR_SIZE], held[SFS_IDSTR_SIZE] = "";
	struct sfs_store *s = lc_store(dir, "store", 4096, 1, 0);
	struct sfs_policy p = make_policy("nightly");
	struct sfs_volume v;
	struct sfs_txn *t;
	uint8_t buf[8192];
	struct snaps l;

	/* the volume, its source, its tag, and one snapshot made by hand */
	fx_fill_random(buf, sizeof(buf), 1);
	lc_snap(s, dir, "web", buf, sizeof(buf), NULL, hand);
	cr_assert(asprintf(&src, "%s/web.img", dir) > 0);
	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, "web", &v), 0);
	v.source = strdup(src);
	json_object_set_new(v.tags, "env", json_string("prod"));
	cr_assert_eq(sfs_cat_volume_put(t, &v), 0);
	sfs_volume_release(&v);
	cr_assert_eq(sfs_cat_policy_put(t, &p), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);

	for (int d = 1; d <= 30; d++) {
		char when[32];
		struct tally a, b;

		snprintf(when, sizeof(when), "2026-12-%02dT03:00:00Z", d);
		a = run_at(s, when);
		cr_expect_eq(a.created, 1, "day %d", d);
		cr_expect_eq(a.failed, 0, "day %d", d);
		/* idempotent: a second run at the same time does nothing */
		b = run_at(s, when);
		cr_expect_eq(b.created + b.deleted, 0, "day %d again", d);
		if (d == 3) {
			/* an image takes the day-3 snapshot: retention must keep it */
			l = list(s);
			for (int i = 0; i < l.n; i++)
				if (!strcmp(l.slots[i], "2026-12-03T03:00:00Z"))
					memcpy(held, l.ids[i], SFS_IDSTR_SIZE);
			cr_assert(held[0]);
			lc_image(s, "golden", held);
		}
	}
	l = list(s);
	/* 7 newest days, the image's day 3, and the hand-made one */
	cr_expect_eq(l.n, 9, "%d snapshots", l.n);
	cr_expect_eq(l.policy_made, 8);
	for (int d = 24; d <= 30; d++) {
		char slot[32];
		snprintf(slot, sizeof(slot), "2026-12-%02dT03:00:00Z", d);
		cr_expect(has_slot(&l, slot), "day %d kept", d);
	}
	cr_expect(has_slot(&l, "2026-12-03T03:00:00Z"), "the image's snapshot survives");
	cr_expect(!has_slot(&l, "2026-12-23T03:00:00Z"));
	{
		bool found = false;
		for (int i = 0; i < l.n; i++)
			found |= !strcmp(l.ids[i], hand);
		cr_expect(found, "a snapshot the policy did not make is never deleted");
	}
	{
		char image[64];
		cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
		cr_expect_eq(sfs_snapshot_delete(t, held, image, sizeof(image)), -EBUSY);
		cr_expect_str_eq(image, "image golden");
		sfs_txn_abort(t);
	}

	/* off for five days: one catch-up snapshot, not five */
	{
		struct tally a = run_at(s, "2027-01-04T09:00:00Z");
		cr_expect_eq(a.created, 1);
		a = run_at(s, "2027-01-04T09:30:00Z");
		cr_expect_eq(a.created, 0);
		l = list(s);
		cr_expect(has_slot(&l, "2027-01-04T03:00:00Z"));
		cr_expect(!has_slot(&l, "2027-01-02T03:00:00Z"));
	}

	/* disabled: nothing happens */
	sfs_policy_release(&p);
	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	cr_assert_eq(sfs_cat_policy_get(t, "nightly", &p), 0);
	p.enabled = false;
	cr_assert_eq(sfs_cat_policy_put(t, &p), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_expect_eq(run_at(s, "2027-01-10T09:00:00Z").created, 0);

	sfs_policy_release(&p);
	sfs_store_close(s);
	fx_rm_rf(dir);
	free(src);
	free(dir);
}

Test(policy, volume_without_source_fails_cleanly)
{
	char *dir = fx_tmpdir(), id[SFS_IDSTR_SIZE];
	struct sfs_store *s = lc_store(dir, "store", 4096, 1, 0);
	struct sfs_policy p = make_policy("nightly");
	struct sfs_volume v;
	struct sfs_txn *t;
	struct tally tl = { 0 };
	struct sfs_policy_run_opts o = { .now = T("2026-12-01T03:00:00Z"), .event = count_event,
					 .event_ctx = &tl };
	uint8_t buf[4096];

	fx_fill_random(buf, sizeof(buf), 2);
	lc_snap(s, dir, "web", buf, sizeof(buf), NULL, id);
	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, "web", &v), 0);
	json_object_set_new(v.tags, "env", json_string("prod"));
	cr_assert_eq(sfs_cat_volume_put(t, &v), 0);
	sfs_volume_release(&v);
	cr_assert_eq(sfs_cat_policy_put(t, &p), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_expect_eq(sfs_policy_run(s, &o), 1);
	cr_expect_eq(tl.failed, 1);
	cr_expect_eq(tl.created, 0);
	/* the slot counts as run: no retry storm every minute */
	tl = (struct tally){ 0 };
	cr_expect_eq(sfs_policy_run(s, &o), 0);
	sfs_policy_release(&p);
	sfs_store_close(s);
	fx_rm_rf(dir);
	free(dir);
}

/* A policy's runs: kept in its record, capped, the oldest dropped, an
 * over-long error cut on a character boundary, damage refused. */
Test(policy, runs_are_recorded_and_capped)
{
	struct sfs_policy p = make_policy("nightly"), q;
	char long_err[SFS_POLICY_ERROR_MAX + 40], *s;
	json_t *o, *last;

	cr_assert_eq(sfs_policy_add_run(&p, 100, "daily 03:00", 90, 0, NULL), 0);
	/* 'é' is two bytes: one straddles the cut */
	memset(long_err, 'x', sizeof(long_err));
	memcpy(long_err + SFS_POLICY_ERROR_MAX - 1, "\xc3\xa9", 2);
	long_err[sizeof(long_err) - 1] = '\0';
	for (int i = 1; i <= SFS_POLICY_RUNS_MAX + 4; i++)
		cr_assert_eq(sfs_policy_add_run(&p, 100 + i, "daily 03:00", 90 + i, i == 5 ? 2 : 0,
						i == 5 ? "snapshot of volume web failed" : NULL),
			     0);
	cr_assert_eq(sfs_policy_add_run(&p, 1000, "daily 03:00", 999, 1, long_err), 0);
	cr_expect_eq(json_array_size(p.runs), SFS_POLICY_RUNS_MAX);
	/* oldest first, the first ones gone */
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(p.runs, 0), "time")),
		     100 + 6);
	last = json_array_get(p.runs, SFS_POLICY_RUNS_MAX - 1);
	cr_expect_str_eq(json_string_value(json_object_get(last, "outcome")), "failed");
	cr_expect_eq(strlen(json_string_value(json_object_get(last, "error"))),
		     SFS_POLICY_ERROR_MAX - 1);

	o = sfs_policy_to_json(&p);
	json_object_set_new(o, "v", json_integer(1));
	s = json_dumps(o, JSON_COMPACT);
	cr_assert_eq(sfs_policy_decode(s, strlen(s), &q), 0);
	cr_expect(json_equal(q.runs, p.runs));
	sfs_policy_release(&q);
	free(s);
	/* a record from before runs has none; a damaged run is refused */
	json_object_del(o, "runs");
	s = json_dumps(o, JSON_COMPACT);
	cr_assert_eq(sfs_policy_decode(s, strlen(s), &q), 0);
	cr_expect_null(q.runs);
	sfs_policy_release(&q);
	free(s);
	json_object_set_new(o, "runs", json_pack("[{s:I, s:s, s:I, s:s, s:I}]", "time",
						  (json_int_t)1, "schedule", "hourly", "slot",
						  (json_int_t)1, "outcome", "maybe", "failures",
						  (json_int_t)0));
	s = json_dumps(o, JSON_COMPACT);
	cr_expect_eq(sfs_policy_decode(s, strlen(s), &q), -EBADMSG);
	free(s);
	json_decref(o);
	sfs_policy_release(&p);
}

/* A run's outcome lands in the record: the failed volume's error line,
 * then an ok run. */
Test(policy, run_outcome_in_the_record)
{
	char *dir = fx_tmpdir(), id[SFS_IDSTR_SIZE];
	struct sfs_store *s = lc_store(dir, "store", 4096, 1, 0);
	struct sfs_policy p = make_policy("nightly"), q;
	struct sfs_volume v;
	struct sfs_txn *t;
	struct sfs_policy_run_opts o = { .now = T("2026-12-01T03:00:00Z") };
	uint8_t buf[4096];
	json_t *r;

	fx_fill_random(buf, sizeof(buf), 2);
	lc_snap(s, dir, "web", buf, sizeof(buf), NULL, id);
	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	cr_assert_eq(sfs_cat_volume_get(t, "web", &v), 0);
	json_object_set_new(v.tags, "env", json_string("prod"));
	cr_assert_eq(sfs_cat_volume_put(t, &v), 0);
	sfs_volume_release(&v);
	cr_assert_eq(sfs_cat_policy_put(t, &p), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_expect_eq(sfs_policy_run(s, &o), 1);
	/* nothing due: nothing recorded */
	cr_expect_eq(sfs_policy_run(s, &o), 0);
	cr_assert_eq(sfs_txn_begin(s, false, &t), 0);
	cr_assert_eq(sfs_cat_policy_get(t, "nightly", &q), 0);
	sfs_txn_abort(t);
	cr_assert_eq(json_array_size(q.runs), 1);
	r = json_array_get(q.runs, 0);
	cr_expect_eq(json_integer_value(json_object_get(r, "time")), o.now);
	cr_expect_str_eq(json_string_value(json_object_get(r, "outcome")), "failed");
	cr_expect_eq(json_integer_value(json_object_get(r, "failures")), 1);
	cr_expect(strstr(json_string_value(json_object_get(r, "error")), "no source") != NULL,
		  "error: %s", json_string_value(json_object_get(r, "error")));
	sfs_policy_release(&q);
	sfs_policy_release(&p);
	sfs_store_close(s);
	fx_rm_rf(dir);
	free(dir);
}
