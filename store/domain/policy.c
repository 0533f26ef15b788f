// SPDX-License-Identifier: MIT
/*
 * Lifecycle policy records (JSON in the `policies` database, keyed by
 * name) and the retention rule. A record keeps each schedule's text, not
 * a compiled form: the text is parsed again on every load, so that a
 * record can never hold a schedule that the parser would refuse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/policy.h"
#include "store_int.h"

#define RECORD_VERSION 1

/* ---- retention ---- */

static int newest_first(const void *a, const void *b)
{
	const struct sfs_retain_item *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq > y->seq ? -1 : 1;
	return 0;
}

size_t sfs_retain_select(struct sfs_retain_item *items, size_t n, uint32_t count, int64_t age,
			 int64_t now)
{
	size_t removed = 0;

	qsort(items, n, sizeof(*items), newest_first);
	for (size_t i = 0; i < n; i++) {
		bool by_count = count > 0 && i < count;
		bool by_age = age > 0 && items[i].time > now - age;

		items[i].remove = !(by_count || by_age || (count == 0 && age == 0)) &&
				  !items[i].in_use;
		removed += items[i].remove;
	}
	return removed;
}

/* ---- records ---- */

void sfs_policy_release(struct sfs_policy *p)
{
	if (!p)
		return;
	json_decref(p->target_tags);
	json_decref(p->tags);
	json_decref(p->runs);
	free(p->copy_to);
	p->target_tags = p->tags = p->runs = NULL;
	p->copy_to = NULL;
}

static bool string_object(json_t *o)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return false;
	json_object_foreach(o, k, v) {
		if (!json_is_string(v) || !*k || strlen(k) > 128 || strlen(json_string_value(v)) > 256)
			return false;
	}
	return true;
}

int sfs_policy_validate(const struct sfs_policy *p, char *err, size_t errlen)
{
#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)
	if (!sfs_name_valid(p->name))
		return FAIL("invalid policy name '%s': use 1-128 of A-Z a-z 0-9 . _ -", p->name);
	if (!string_object(p->target_tags) || json_object_size(p->target_tags) == 0)
		return FAIL("policy %s needs at least one target tag (--target-tag KEY=VALUE)",
			    p->name);
	if (p->type != SFS_POLICY_SNAPSHOT && p->type != SFS_POLICY_IMAGE)
		return FAIL("policy %s: unknown type", p->name);
	if (p->type == SFS_POLICY_IMAGE && strlen(p->name) > 100)
		return FAIL("image policy name %s is too long: at most 100 characters, to leave "
			    "room for the slot in its images' names",
			    p->name);
	if (p->tags && !string_object(p->tags))
		return FAIL("policy %s: bad tags", p->name);
	if (p->n_schedules < 1 || p->n_schedules > SFS_POLICY_MAX_SCHEDULES)
		return FAIL("policy %s needs 1 to %d schedules", p->name, SFS_POLICY_MAX_SCHEDULES);
	for (size_t i = 0; i < p->n_schedules; i++) {
		const struct sfs_policy_schedule *s = &p->schedules[i];
		struct sfs_sched tmp;
		char why[160];

		if (sfs_sched_parse(s->text, &tmp, why, sizeof(why)) < 0)
			return FAIL("policy %s: %s", p->name, why);
		if (s->retain_count == 0 && s->retain_age == 0)
			return FAIL("policy %s: schedule '%s' needs --retain-count N or "
				    "--retain-age AGE",
				    p->name, s->text);
		if (s->retain_count > SFS_RETAIN_COUNT_MAX)
			return FAIL("policy %s: schedule '%s': retain count is 1 to %d", p->name,
				    s->text, SFS_RETAIN_COUNT_MAX);
		if (s->retain_age < 0)
			return FAIL("policy %s: schedule '%s': bad retain age", p->name, s->text);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->schedules[j].text, s->text))
				return FAIL("policy %s: schedule '%s' is given twice", p->name,
					    s->text);
	}
	if (p->copy_retain > SFS_RETAIN_COUNT_MAX)
		return FAIL("policy %s: copy retain count is 0 to %d", p->name,
			    SFS_RETAIN_COUNT_MAX);
	if (p->copy_retain && !p->copy_to)
		return FAIL("policy %s: --copy-retain needs --copy-to", p->name);
	if (p->copy_to && p->copy_to[0] != '/')
		return FAIL("policy %s: --copy-to needs an absolute path (policies run from a "
			    "service)",
			    p->name);
	return 0;
#undef FAIL
}

json_t *sfs_policy_to_json(const struct sfs_policy *p)
{
	json_t *sched = json_array();

	for (size_t i = 0; sched && i < p->n_schedules; i++) {
		const struct sfs_policy_schedule *s = &p->schedules[i];
		json_array_append_new(sched, json_pack("{s:s, s:I, s:I, s:I}", "schedule", s->text,
						       "retain_count", (json_int_t)s->retain_count,
						       "retain_age", (json_int_t)s->retain_age,
						       "last_run", (json_int_t)s->last_run));
	}
	return json_pack("{s:s, s:s, s:b, s:I, s:o, s:o, s:o, s:s?, s:I, s:o}", "name", p->name,
			 "type", p->type == SFS_POLICY_IMAGE ? "image" : "snapshot", "enabled",
			 p->enabled, "created", (json_int_t)p->created, "target_tags",
			 p->target_tags ? json_incref(p->target_tags) : json_object(), "tags",
			 p->tags ? json_incref(p->tags) : json_object(), "schedules", sched,
			 "copy_to", p->copy_to, "copy_retain", (json_int_t)p->copy_retain, "runs",
			 p->runs ? json_incref(p->runs) : json_array());
}

int sfs_policy_add_run(struct sfs_policy *p, int64_t time, const char *schedule, int64_t slot,
		       unsigned failures, const char *error)
{
	char cut[SFS_POLICY_ERROR_MAX + 1];
	json_t *run;

	if (!p->runs && !(p->runs = json_array()))
		return -ENOMEM;
	if (error) {
		/* Cut on a UTF-8 boundary: a record holds only valid text. */
		size_t n = strlen(error);

		if (n > SFS_POLICY_ERROR_MAX) {
			n = SFS_POLICY_ERROR_MAX;
			while (n && ((unsigned char)error[n] & 0xc0) == 0x80)
				n--;
		}
		memcpy(cut, error, n);
		cut[n] = '\0';
	}
	/* A message cut by its formatter may end inside a UTF-8 sequence,
	 * which JSON cannot hold: drop the partial tail. */
	for (size_t n = error ? strlen(cut) : 0; n; n--) {
		json_t *js = json_string(cut);

		if (js) {
			json_decref(js);
			break;
		}
		cut[n - 1] = '\0';
	}
	run = json_pack("{s:I, s:s, s:I, s:s, s:I, s:s?}", "time", (json_int_t)time, "schedule",
			schedule, "slot", (json_int_t)slot, "outcome", failures ? "failed" : "ok",
			"failures", (json_int_t)failures, "error", error && cut[0] ? cut : NULL);
	if (!run || json_array_append_new(p->runs, run) < 0)
		return -ENOMEM;
	while (json_array_size(p->runs) > SFS_POLICY_RUNS_MAX)
		json_array_remove(p->runs, 0);
	return 0;
}

/* A runs array as sfs_policy_add_run makes it. */
static bool runs_valid(json_t *a)
{
	size_t i;
	json_t *r, *e;

	if (!json_is_array(a) || json_array_size(a) > SFS_POLICY_RUNS_MAX)
		return false;
	json_array_foreach(a, i, r) {
		const char *out = json_string_value(json_object_get(r, "outcome"));

		e = json_object_get(r, "error");
		if (!json_is_object(r) || !json_is_integer(json_object_get(r, "time")) ||
		    !json_is_integer(json_object_get(r, "slot")) ||
		    !json_is_integer(json_object_get(r, "failures")) ||
		    !json_is_string(json_object_get(r, "schedule")) || !out ||
		    (strcmp(out, "ok") && strcmp(out, "failed")) ||
		    (e && !json_is_null(e) && !json_is_string(e)))
			return false;
	}
	return true;
}

static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

static int decode_schedule(json_t *o, struct sfs_policy_schedule *s)
{
	const char *text = json_string_value(json_object_get(o, "schedule"));
	int64_t count, age, last;

	if (!text || strlen(text) >= sizeof(s->text) ||
	    get_int(o, "retain_count", 0, SFS_RETAIN_COUNT_MAX, &count) < 0 ||
	    get_int(o, "retain_age", 0, INT64_MAX, &age) < 0 ||
	    get_int(o, "last_run", 0, INT64_MAX, &last) < 0)
		return -EBADMSG;
	snprintf(s->text, sizeof(s->text), "%s", text);
	if (sfs_sched_parse(text, &s->sched, NULL, 0) < 0)
		return -EBADMSG;
	s->retain_count = (uint32_t)count;
	s->retain_age = age;
	s->last_run = last;
	return 0;
}

int sfs_policy_decode(const void *buf, size_t len, struct sfs_policy *ret)
{
	struct sfs_policy p = { 0 };
	json_t *o = sfs_record_loads(buf, len, RECORD_VERSION, NULL), *sched, *v;
	const char *name, *copy_to;
	int64_t created, copy_retain, version;
	size_t i;
	int r = -EBADMSG;

	if (!json_is_object(o))
		goto out;
	name = json_string_value(json_object_get(o, "name"));
	sched = json_object_get(o, "schedules");
	v = json_object_get(o, "copy_to");
	copy_to = json_string_value(v);
	if (get_int(o, "v", RECORD_VERSION, RECORD_VERSION, &version) < 0 || !name ||
	    strlen(name) > SFS_NAME_MAX || !json_is_boolean(json_object_get(o, "enabled")) ||
	    get_int(o, "created", 0, INT64_MAX, &created) < 0 ||
	    get_int(o, "copy_retain", 0, SFS_RETAIN_COUNT_MAX, &copy_retain) < 0 ||
	    !json_is_array(sched) || json_array_size(sched) > SFS_POLICY_MAX_SCHEDULES ||
	    (v && !json_is_null(v) && !copy_to) ||
	    !string_object(json_object_get(o, "target_tags")) ||
	    !string_object(json_object_get(o, "tags")))
		goto out;
	v = json_object_get(o, "type");
	if (!v || (json_is_string(v) && !strcmp(json_string_value(v), "snapshot")))
		p.type = SFS_POLICY_SNAPSHOT; /* records from before image policies */
	else if (json_is_string(v) && !strcmp(json_string_value(v), "image"))
		p.type = SFS_POLICY_IMAGE;
	else
		goto out;
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.enabled = json_is_true(json_object_get(o, "enabled"));
	p.created = created;
	p.copy_retain = (uint32_t)copy_retain;
	json_array_foreach(sched, i, v) {
		if (decode_schedule(v, &p.schedules[i]) < 0)
			goto out;
		p.n_schedules++;
	}
	p.target_tags = json_deep_copy(json_object_get(o, "target_tags"));
	p.tags = json_deep_copy(json_object_get(o, "tags"));
	p.copy_to = copy_to ? strdup(copy_to) : NULL;
	/* Records from before runs were kept have none. */
	v = json_object_get(o, "runs");
	if (v && !runs_valid(v))
		goto out;
	p.runs = v && json_array_size(v) ? json_deep_copy(v) : NULL;
	if (!p.target_tags || !p.tags || (copy_to && !p.copy_to) ||
	    (v && json_array_size(v) && !p.runs)) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	json_decref(o);
	if (r < 0)
		sfs_policy_release(&p);
	else
		*ret = p;
	return r;
}

/* ---- catalog ---- */

int sfs_cat_policy_get(struct sfs_txn *t, const char *name, struct sfs_policy *ret)
{
	MDB_val v;
	int r = sfs_cat_get_raw(t, SFS_DBI_POLICIES, name, strlen(name), &v);

	if (r < 0)
		return r;
	return sfs_policy_decode(v.mv_data, v.mv_size, ret);
}

int sfs_cat_policy_put(struct sfs_txn *t, const struct sfs_policy *p)
{
	char *s = sfs_record_dumps(sfs_policy_to_json(p), RECORD_VERSION);
	int r;

	if (!s)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_POLICIES, p->name, strlen(p->name), s, strlen(s));
	free(s);
	return r;
}

int sfs_cat_policy_del(struct sfs_txn *t, const char *name)
{
	return sfs_cat_del_raw(t, SFS_DBI_POLICIES, name, strlen(name));
}

struct policy_iter {
	sfs_policy_fn fn;
	void *ctx;
};

static int policy_iter_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct policy_iter *it = ctx;
	struct sfs_policy p;
	int r = sfs_policy_decode(v->mv_data, v->mv_size, &p);

	(void)k;
	if (r < 0)
		return r;
	r = it->fn(it->ctx, &p);
	sfs_policy_release(&p);
	return r;
}

int sfs_cat_policy_foreach(struct sfs_txn *t, sfs_policy_fn fn, void *ctx)
{
	struct policy_iter it = { fn, ctx };

	return sfs_cat_foreach_raw(t, SFS_DBI_POLICIES, policy_iter_cb, &it);
}
