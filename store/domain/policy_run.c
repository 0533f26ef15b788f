// SPDX-License-Identifier: MIT
/*
 * Running lifecycle policies: for each due schedule, snapshot the
 * matching volumes, copy the new snapshots to the policy's other store,
 * apply retention in both stores, and record the slot as run (an image
 * policy's schedule is handed to policy_image.c instead). The caller
 * holds the store's writer lock for the whole run (the store is open for
 * writing), so runs never overlap and nothing else changes the catalog
 * under a retention decision.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapfs/copy.h"
#include "snapfs/gc.h"
#include "snapfs/checkpoint.h"
#include "snapfs/image.h"
#include "snapfs/ingest.h"
#include "snapfs/log.h"
#include "snapfs/policy.h"

#include "policy_int.h"

#define LOCK_WAIT_SECONDS 300

void sfs_policy_emit(struct sfs_policy_runner *r, int action, const char *store,
		     const char *volume, const char *snapshot, const char *image, const char *fmt,
		     ...)
{
	struct sfs_policy_event e = {
		.action = action,
		.policy = r->p->name,
		.schedule = r->sc->text,
		.volume = volume,
		.snapshot = snapshot,
		.image = image,
		.store = store,
		.slot = r->slot,
	};
	char msg[512];

	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		e.message = msg;
	}
	if (action == SFS_POLICY_FAILED) {
		if (!r->failures++)
			snprintf(r->first_error, sizeof(r->first_error), "%s",
				 e.message ? e.message : "failed");
		sfs_log(SFS_LOG_ERR, "policy %s, schedule '%s': %s", r->p->name, r->sc->text,
			e.message ? e.message : "failed");
	}
	if (r->o->event)
		r->o->event(r->o->event_ctx, &e);
}

const char *sfs_policy_iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* ---- which volumes ---- */

struct match {
	json_t *want;
	struct sfs_policy_vols *l;
};

static int match_cb(void *ctx, const struct sfs_volume *v)
{
	struct match *m = ctx;
	struct sfs_policy_vols *l = m->l;
	struct sfs_policy_vol *e;
	const char *k;
	json_t *val;
	void *p;

	json_object_foreach(m->want, k, val) {
		const char *have = json_string_value(json_object_get(v->tags, k));
		const char *want = json_string_value(val);

		if (!have || (strcmp(want, SFS_TARGET_ANY) && strcmp(have, want)))
			return 0;
	}
	p = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (!p)
		return -ENOMEM;
	l->v = p;
	e = &l->v[l->n];
	snprintf(e->name, sizeof(e->name), "%s", v->name);
	e->source = v->source ? strdup(v->source) : NULL;
	e->tags = json_deep_copy(v->tags);
	l->n++;
	if ((v->source && !e->source) || !e->tags)
		return -ENOMEM;
	return 0;
}

int sfs_policy_match_volumes(struct sfs_policy_runner *r, struct sfs_policy_vols *ret)
{
	struct match m = { .want = r->p->target_tags, .l = ret };
	struct sfs_txn *t;
	int err;

	memset(ret, 0, sizeof(*ret));
	err = sfs_txn_begin(r->s, false, &t);
	if (err < 0)
		return err;
	err = sfs_cat_volume_foreach(t, match_cb, &m);
	sfs_txn_abort(t);
	if (err < 0)
		sfs_policy_vols_release(ret);
	return err;
}

void sfs_policy_vols_release(struct sfs_policy_vols *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].source);
		json_decref(l->v[i].tags);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- retention ---- */

struct cand {
	char id[SFS_IDSTR_SIZE];
	char volume[SFS_NAME_MAX + 1];
	struct sfs_retain_item item;
};

struct cands {
	const char *policy, *schedule;
	struct cand *c;
	size_t n;
};

static bool tag_is(const struct sfs_snapshot *sn, const char *key, const char *value)
{
	const char *v = json_string_value(json_object_get(sn->tags, key));

	return v && !strcmp(v, value);
}

static int cand_cb(void *ctx, const struct sfs_snapshot *sn)
{
	struct cands *l = ctx;
	struct cand *c;
	void *p;

	/* Only what this policy's schedule made: never a hand-made snapshot. */
	if (sn->state != SFS_SNAP_COMPLETED || !tag_is(sn, TAG_POLICY, l->policy) ||
	    !tag_is(sn, TAG_SCHEDULE, l->schedule))
		return 0;
	p = realloc(l->c, (l->n + 1) * sizeof(*l->c));
	if (!p)
		return -ENOMEM;
	l->c = p;
	c = &l->c[l->n++];
	memset(c, 0, sizeof(*c));
	memcpy(c->id, sn->id, sizeof(c->id));
	memcpy(c->volume, sn->volume, sizeof(c->volume));
	c->item.seq = sn->seq;
	if (sfs_time_parse(json_string_value(json_object_get(sn->tags, TAG_SLOT)), &c->item.time) <
	    0)
		c->item.time = sn->created;
	return 0;
}

static int by_volume(const void *a, const void *b)
{
	return strcmp(((const struct cand *)a)->volume, ((const struct cand *)b)->volume);
}

/* Finds the candidate an item came from: seq is unique in a store. */
static struct cand *cand_of(struct cand *c, size_t n, const struct sfs_retain_item *it)
{
	for (size_t j = 0; j < n; j++)
		if (c[j].item.seq == it->seq)
			return &c[j];
	return NULL;
}

/* Applies retention to one volume's candidates c[0, n), deleting in t. */
static int retain_volume(struct sfs_policy_runner *r, struct sfs_txn *t, const char *store, struct cand *c,
			 size_t n, uint32_t count, int64_t age)
{
	struct sfs_retain_item *items = calloc(n ? n : 1, sizeof(*items));
	char image[SFS_NAME_MAX + 16];
	int err = 0;

	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < n && err == 0; i++) {
		int u = sfs_snapshot_user_of(t, c[i].id, image, sizeof(image));

		if (u < 0)
			err = u;
		items[i] = c[i].item;
		items[i].in_use = u > 0;
	}
	if (err == 0)
		sfs_retain_select(items, n, count, age, r->o->now);
	for (size_t i = 0; i < n && err == 0; i++) {
		struct cand *m = cand_of(c, n, &items[i]);
		bool keep = (count > 0 && i < count) || (age > 0 && items[i].time > r->o->now - age);

		if (!m)
			continue;
		if (items[i].remove) {
			struct sfs_delete_opts dopt = { .now = r->o->now };
			struct sfs_delete_info info;

			err = sfs_snapshot_remove(t, m->id, &dopt, &info);
			if (err == 0) {
				sfs_policy_emit(r, SFS_POLICY_DELETED, store, m->volume, m->id, NULL, NULL);
			} else if (err == -EPERM) {
				char until[32];

				sfs_policy_emit(r, SFS_POLICY_KEPT, store, m->volume, m->id, NULL,
				     "retention would delete %s but it is locked (%s) until %s",
				     m->id, sfs_lock_mode_name(info.lock_mode),
				     sfs_policy_iso(info.lock_until, until, sizeof(until)));
				err = 0;
			}
		} else if (items[i].in_use && !keep) {
			image[0] = '\0';
			sfs_snapshot_user_of(t, m->id, image, sizeof(image));
			sfs_policy_emit(r, SFS_POLICY_KEPT, store, m->volume, m->id, NULL,
			     "retention would delete %s but %s uses it", m->id, image);
		}
	}
	free(items);
	return err;
}

/* Retention for this schedule's snapshots in store s (the source store,
 * or the copy store with its own count). */
static int retain(struct sfs_policy_runner *r, struct sfs_store *s, uint32_t count, int64_t age)
{
	struct cands l = { .policy = r->p->name, .schedule = r->sc->text };
	struct sfs_txn *t;
	int err;

	if (count == 0 && age == 0)
		return 0;
	err = sfs_txn_begin(s, true, &t);
	if (err < 0)
		return err;
	err = sfs_cat_snapshot_foreach(t, NULL, cand_cb, &l);
	if (err == 0 && l.n)
		qsort(l.c, l.n, sizeof(*l.c), by_volume);
	for (size_t i = 0; err == 0 && i < l.n;) {
		size_t j = i;
		while (j < l.n && !strcmp(l.c[j].volume, l.c[i].volume))
			j++;
		err = retain_volume(r, t, sfs_store_path(s), l.c + i, j - i, count, age);
		i = j;
	}
	if (err == 0)
		err = sfs_txn_commit(t);
	else
		sfs_txn_abort(t);
	free(l.c);
	return err;
}

/* ---- one due schedule ---- */

void sfs_policy_retain_stores(struct sfs_policy_runner *r, struct sfs_store *dst,
			      sfs_policy_retain_fn retain_fn)
{
	int err = retain_fn(r, r->s, r->sc->retain_count, r->sc->retain_age);

	if (err < 0)
		sfs_policy_emit(r, SFS_POLICY_FAILED, sfs_store_path(r->s), NULL, NULL, NULL,
		     "retention failed: %s", strerror(-err));
	if (!dst)
		return;
	err = retain_fn(r, dst, r->p->copy_retain, 0);
	if (err < 0)
		sfs_policy_emit(r, SFS_POLICY_FAILED, r->p->copy_to, NULL, NULL, NULL,
		     "retention in copy store failed: %s", strerror(-err));
}

int sfs_policy_open_copy_store(struct sfs_policy_runner *r, struct sfs_store **ret)
{
	int err = sfs_copy_target_check(r->s, r->p->copy_to);

	/* This run holds its own store's writer lock: waiting for it would
	 * only time out. */
	if (err == -EINVAL) {
		sfs_policy_emit(r, SFS_POLICY_FAILED, r->p->copy_to, NULL, NULL, NULL,
		     "copy store %s is this store; not copying", r->p->copy_to);
		return err;
	}
	for (int waited = 0;; waited++) {
		err = sfs_store_open(r->p->copy_to, SFS_OPEN_WRITE, ret);
		if (err != -EBUSY || waited >= LOCK_WAIT_SECONDS)
			break;
		if (waited == 0)
			sfs_log(SFS_LOG_INFO, "policy %s: waiting for the writer lock of store %s",
				r->p->name, r->p->copy_to);
		sleep(1);
	}
	if (err < 0)
		sfs_policy_emit(r, SFS_POLICY_FAILED, r->p->copy_to, NULL, NULL, NULL,
		     "cannot open copy store %s: %s", r->p->copy_to,
		     err == -EBUSY ? "another writer holds its lock" : strerror(-err));
	return err;
}

json_t *sfs_policy_snapshot_tags(struct sfs_policy_runner *r)
{
	json_t *tags = json_deep_copy(r->p->tags);
	char when[32];

	if (!tags)
		return NULL;
	json_object_set_new(tags, TAG_POLICY, json_string(r->p->name));
	json_object_set_new(tags, TAG_SCHEDULE, json_string(r->sc->text));
	json_object_set_new(tags, TAG_SLOT, json_string(sfs_policy_iso(r->slot, when, sizeof(when))));
	return tags;
}

static int run_schedule(struct sfs_policy_runner *r)
{
	struct sfs_policy_vols l = { 0 };
	struct sfs_store *dst = NULL;
	json_t *tags = sfs_policy_snapshot_tags(r);
	char when[32], desc[256];
	int err;

	if (!tags)
		return -ENOMEM;
	snprintf(desc, sizeof(desc), "Created by policy %s, schedule '%s', for %s", r->p->name,
		 r->sc->text, sfs_policy_iso(r->slot, when, sizeof(when)));
	err = sfs_policy_match_volumes(r, &l);
	if (err < 0)
		goto out;
	if (r->p->copy_to && l.n)
		sfs_policy_open_copy_store(r, &dst);
	for (size_t i = 0; i < l.n; i++) {
		struct sfs_ingest_opts io = {
			.volume = l.v[i].name,
			.source = l.v[i].source,
			.description = desc,
			.tags = tags,
		};
		struct sfs_ingest_result res;
		struct sfs_copy_result cres;
		struct sfs_copy_opts co = { 0 };

		if (!io.source) {
			sfs_policy_emit(r, SFS_POLICY_FAILED, sfs_store_path(r->s), io.volume, NULL, NULL,
			     "volume %s has no source (set one with 'snapfs volume set-source %s "
			     "PATH')",
			     io.volume, io.volume);
			continue;
		}
		err = sfs_ingest(r->s, &io, &res);
		if (err < 0) {
			sfs_policy_emit(r, SFS_POLICY_FAILED, sfs_store_path(r->s), io.volume, NULL, NULL,
			     "snapshot of volume %s from %s failed: %s", io.volume, io.source,
			     res.error[0] ? res.error : strerror(-err));
			continue;
		}
		sfs_policy_emit(r, SFS_POLICY_CREATED, sfs_store_path(r->s), io.volume, res.snap_id, NULL, NULL);
		if (!dst)
			continue;
		err = sfs_copy_snapshot(r->s, res.snap_id, dst, &co, &cres);
		if (err < 0)
			sfs_policy_emit(r, SFS_POLICY_FAILED, r->p->copy_to, io.volume, res.snap_id, NULL,
			     "copy of %s to store %s failed: %s", res.snap_id, r->p->copy_to,
			     err == -EXDEV ? "the stores' block sizes differ" : strerror(-err));
		else
			sfs_policy_emit(r, SFS_POLICY_COPIED, r->p->copy_to, io.volume, cres.snap_id, NULL, NULL);
	}
	sfs_policy_retain_stores(r, dst, retain);
	err = 0;
out:
	sfs_store_close(dst);
	sfs_policy_vols_release(&l);
	json_decref(tags);
	return err;
}

/* Records the run in the policy's record (its outcome and first error,
 * for the report) and, when done is set, its slot as run for the
 * schedule with this text. */
static int record_run(struct sfs_store *s, const struct sfs_policy_runner *r, bool done,
		      const char *error)
{
	const char *name = r->p->name, *text = r->sc->text;
	struct sfs_policy p;
	struct sfs_txn *t;
	int err = sfs_txn_begin(s, true, &t);

	if (err < 0)
		return err;
	err = sfs_cat_policy_get(t, name, &p);
	if (err == 0) {
		for (size_t i = 0; done && i < p.n_schedules; i++)
			if (!strcmp(p.schedules[i].text, text) && p.schedules[i].last_run < r->slot)
				p.schedules[i].last_run = r->slot;
		err = sfs_policy_add_run(&p, r->o->now, text, r->slot,
					 (unsigned)r->failures + !done, error);
		if (err == 0)
			err = sfs_cat_policy_put(t, &p);
		sfs_policy_release(&p);
	}
	if (err == 0)
		return sfs_txn_commit(t);
	sfs_txn_abort(t);
	return err;
}

struct names {
	char (*v)[SFS_NAME_MAX + 1];
	size_t n;
};

static int name_cb(void *ctx, const struct sfs_policy *p)
{
	struct names *l = ctx;
	void *q = realloc(l->v, (l->n + 1) * sizeof(*l->v));

	if (!q)
		return -ENOMEM;
	l->v = q;
	snprintf(l->v[l->n++], sizeof(*l->v), "%s", p->name);
	return 0;
}

int sfs_policy_run(struct sfs_store *s, const struct sfs_policy_run_opts *o)
{
	struct names names = { 0 };
	struct sfs_txn *t;
	int err, failures = 0;

	if (!sfs_store_writable(s))
		return -EROFS;
	err = sfs_txn_begin(s, false, &t);
	if (err < 0)
		return err;
	err = sfs_cat_policy_foreach(t, name_cb, &names);
	sfs_txn_abort(t);
	for (size_t i = 0; err == 0 && i < names.n; i++) {
		struct sfs_policy p;

		if (o->only && strcmp(o->only, names.v[i]))
			continue;
		err = sfs_txn_begin(s, false, &t);
		if (err < 0)
			break;
		err = sfs_cat_policy_get(t, names.v[i], &p);
		sfs_txn_abort(t);
		if (err < 0)
			break;
		for (size_t k = 0; err == 0 && p.enabled && k < p.n_schedules; k++) {
			struct sfs_policy_runner r = { .s = s, .o = o, .p = &p, .sc = &p.schedules[k] };

			r.slot = sfs_sched_due(&p.schedules[k].sched, p.schedules[k].last_run, o->now);
			if (r.slot < 0)
				continue;
			err = p.type == SFS_POLICY_IMAGE ? sfs_policy_run_images(&r)
							 : run_schedule(&r);
			failures += r.failures;
			if (err == 0) {
				err = record_run(s, &r, true, r.failures ? r.first_error : NULL);
			} else {
				/* The run stopped: say so in the record, and keep
				 * the slot due so that the next run tries again. */
				char why[SFS_POLICY_ERROR_MAX];

				snprintf(why, sizeof(why), "the run stopped: %s", strerror(-err));
				record_run(s, &r, false, r.failures ? r.first_error : why);
			}
		}
		sfs_policy_release(&p);
	}
	free(names.v);
	return err < 0 ? err : failures;
}
