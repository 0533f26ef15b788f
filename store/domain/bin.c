// SPDX-License-Identifier: MIT
/*
 * The recycle bin (include/snapfs/bin.h): its rules, the records it keeps
 * and putting them back. A kept record is stored as the exact bytes it had
 * in its own database, inside a summed bin record, so that a restore gives
 * back what was deleted, checked by the same decoder as any record.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapfs/bin.h"
#include "snapfs/image.h"
#include "snapfs/log.h"
#include "store_int.h"

#define BIN_VERSION 1
#define RULE_PREFIX "rule-"

static bool has_bin(struct sfs_txn *t)
{
	return sfs_txn_store(t)->has_bin;
}

static bool is_rule_key(const MDB_val *k)
{
	return k->mv_size >= strlen(RULE_PREFIX) &&
	       !memcmp(k->mv_data, RULE_PREFIX, strlen(RULE_PREFIX));
}

static int json_i64(json_t *o, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -EBADMSG;
	*ret = (int64_t)json_integer_value(v);
	return 0;
}

/* ---- rules ---- */

void sfs_bin_rule_release(struct sfs_bin_rule *r)
{
	if (!r)
		return;
	free(r->tag_key);
	free(r->tag_value);
	r->tag_key = r->tag_value = NULL;
}

const char *sfs_bin_resources_name(unsigned resources)
{
	switch (resources) {
	case SFS_BIN_SNAPSHOTS:
		return "snapshots";
	case SFS_BIN_IMAGES:
		return "images";
	case SFS_BIN_BOTH:
		return "both";
	}
	return NULL;
}

static unsigned resources_parse(const char *s)
{
	for (unsigned i = SFS_BIN_SNAPSHOTS; i <= SFS_BIN_BOTH; i++)
		if (s && !strcmp(s, sfs_bin_resources_name(i)))
			return i;
	return 0;
}

static bool rule_valid(const struct sfs_bin_rule *r)
{
	return r->retain >= 1 && r->retain <= SFS_BIN_RETAIN_MAX &&
	       sfs_bin_resources_name(r->resources) && !r->tag_key == !r->tag_value &&
	       (!r->tag_key || (r->tag_key[0] && strlen(r->tag_key) <= SFS_NAME_MAX));
}

/* A rule record, decoded for the walk of sfs_bin_rule_foreach. */
static int rule_decode(const MDB_val *k, const MDB_val *v, void *rec, char *why, size_t whylen)
{
	struct sfs_bin_rule *ret = rec;
	json_t *o = sfs_record_loads(v->mv_data, v->mv_size, BIN_VERSION, NULL);
	char res[16];
	int64_t retain = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!o)
		return -EBADMSG;
	r = sfs_json_str(o, "id", true, ret->id, sizeof(ret->id));
	if (!r)
		r = sfs_json_str(o, "resources", true, res, sizeof(res));
	if (!r)
		r = json_i64(o, "retain", 1, (int64_t)SFS_BIN_RETAIN_MAX, &retain);
	if (!r)
		r = json_i64(o, "created", 0, INT64_MAX, &ret->created);
	if (!r)
		r = sfs_json_strdup(o, "tag_key", &ret->tag_key);
	if (!r)
		r = sfs_json_strdup(o, "tag_value", &ret->tag_value);
	json_decref(o);
	ret->retain = (uint64_t)retain;
	ret->resources = resources_parse(res);
	if (!r && (!sfs_idstr_valid(ret->id, RULE_PREFIX) || !rule_valid(ret)))
		r = -EBADMSG;
	if (r)
		sfs_bin_rule_release(ret);
	return r;
}

int sfs_bin_rule_create(struct sfs_txn *t, struct sfs_bin_rule *rule)
{
	char *s;
	int r;

	if (!rule_valid(rule))
		return -EINVAL;
	if (!has_bin(t))
		return -EROFS;
	r = sfs_idstr_new(RULE_PREFIX, rule->id);
	if (r < 0)
		return r;
	rule->created = (int64_t)time(NULL);
	s = sfs_record_dumps(json_pack("{s:s, s:I, s:s, s:I, s:s?, s:s?}", "id", rule->id, "retain",
				       (json_int_t)rule->retain, "resources",
				       sfs_bin_resources_name(rule->resources), "created",
				       (json_int_t)rule->created, "tag_key", rule->tag_key,
				       "tag_value", rule->tag_value),
			     BIN_VERSION);
	if (!s)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_BIN, rule->id, strlen(rule->id), s, strlen(s));
	free(s);
	return r;
}

int sfs_bin_rule_delete(struct sfs_txn *t, const char *id)
{
	if (!has_bin(t) || !sfs_idstr_valid(id, RULE_PREFIX))
		return -ENOENT;
	return sfs_cat_del_raw(t, SFS_DBI_BIN, id, strlen(id));
}

static void rule_codec_release(void *rec)
{
	sfs_bin_rule_release(rec);
}

static const struct sfs_cat_codec rule_codec = {
	SFS_DBI_BIN, "recycle bin rule", rule_decode, rule_codec_release,
	offsetof(struct sfs_bin_rule, id),
};

struct rule_iter {
	sfs_bin_rule_fn fn;
	void *ctx;
};

static int rule_iter_cb(void *ctx, void *rule)
{
	struct rule_iter *it = ctx;

	return it->fn(it->ctx, rule);
}

int sfs_bin_rule_foreach(struct sfs_txn *t, sfs_bin_rule_fn fn, void *ctx)
{
	struct rule_iter it = { fn, ctx };
	struct sfs_bin_rule rule;

	if (!has_bin(t))
		return 0;
	return sfs_cat_foreach_decoded(t, &rule_codec, RULE_PREFIX, strlen(RULE_PREFIX), &rule,
				       rule_iter_cb, &it);
}

struct period {
	unsigned kind;
	const json_t *tags;
	uint64_t longest;
};

static int period_cb(void *ctx, const struct sfs_bin_rule *r)
{
	struct period *p = ctx;
	const char *v;

	if (!(r->resources & p->kind))
		return 0;
	if (r->tag_key) {
		v = json_string_value(json_object_get(p->tags, r->tag_key));
		if (!v || strcmp(v, r->tag_value))
			return 0;
	}
	if (r->retain > p->longest)
		p->longest = r->retain;
	return 0;
}

int64_t sfs_bin_period(struct sfs_txn *t, unsigned kind, const json_t *tags)
{
	struct period p = { kind, tags, 0 };
	int r = sfs_bin_rule_foreach(t, period_cb, &p);

	return r < 0 ? r : (int64_t)p.longest;
}

/* ---- entries ---- */

void sfs_bin_entry_release(struct sfs_bin_entry *e)
{
	if (!e)
		return;
	free(e->record);
	e->record = NULL;
}

static int entry_decode(const MDB_val *v, struct sfs_bin_entry *ret)
{
	json_t *o = sfs_record_loads(v->mv_data, v->mv_size, BIN_VERSION, NULL);
	char kind[16];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!o)
		return -EBADMSG;
	r = sfs_json_str(o, "id", true, ret->id, sizeof(ret->id));
	if (!r)
		r = sfs_json_str(o, "kind", true, kind, sizeof(kind));
	if (!r)
		r = sfs_json_str(o, "name", true, ret->name, sizeof(ret->name));
	if (!r)
		r = json_i64(o, "deleted", 0, INT64_MAX, &ret->deleted);
	if (!r)
		r = json_i64(o, "until", 0, INT64_MAX, &ret->until);
	if (!r)
		r = sfs_json_strdup(o, "record", &ret->record);
	json_decref(o);
	if (!r && !strcmp(kind, "snapshot") && sfs_idstr_valid(ret->id, "snap-"))
		ret->kind = SFS_BIN_SNAPSHOTS;
	else if (!r && !strcmp(kind, "image") && sfs_idstr_valid(ret->id, "ami-"))
		ret->kind = SFS_BIN_IMAGES;
	else if (!r)
		r = -EBADMSG;
	if (!r && !ret->record)
		r = -EBADMSG;
	if (r) {
		sfs_bin_entry_release(ret);
		return r;
	}
	ret->record_len = strlen(ret->record);
	return 0;
}

int sfs_bin_keep(struct sfs_txn *t, unsigned kind, const char *id, const char *name,
		 const void *record, size_t len, int64_t now, int64_t until)
{
	char *rec, *s;
	int r;

	if (!has_bin(t))
		return -EROFS;
	rec = strndup(record, len);
	if (!rec)
		return -ENOMEM;
	s = sfs_record_dumps(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "id", id, "kind",
				       kind == SFS_BIN_IMAGES ? "image" : "snapshot", "name", name,
				       "deleted", (json_int_t)now, "until", (json_int_t)until,
				       "record", rec),
			     BIN_VERSION);
	free(rec);
	if (!s)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_BIN, id, strlen(id), s, strlen(s));
	free(s);
	return r;
}

/* The rules share the database: their keys hold no entry. */
static int entry_codec_decode(const MDB_val *k, const MDB_val *v, void *rec, char *why,
			      size_t whylen)
{
	(void)why, (void)whylen;
	return is_rule_key(k) ? 1 : entry_decode(v, rec);
}

static void entry_codec_release(void *rec)
{
	sfs_bin_entry_release(rec);
}

static const struct sfs_cat_codec entry_codec = {
	SFS_DBI_BIN, "recycle bin entry", entry_codec_decode, entry_codec_release,
	offsetof(struct sfs_bin_entry, id),
};

struct entry_iter {
	sfs_bin_entry_fn fn;
	void *ctx;
};

static int entry_iter_cb(void *ctx, void *e)
{
	struct entry_iter *it = ctx;

	return it->fn(it->ctx, e);
}

int sfs_bin_foreach(struct sfs_txn *t, sfs_bin_entry_fn fn, void *ctx)
{
	struct entry_iter it = { fn, ctx };
	struct sfs_bin_entry e;

	if (!has_bin(t))
		return 0;
	return sfs_cat_foreach_decoded(t, &entry_codec, NULL, 0, &e, entry_iter_cb, &it);
}

/* The unexpired entry id, or -ENOENT. */
static int entry_get(struct sfs_txn *t, const char *id, int64_t now, struct sfs_bin_entry *ret)
{
	MDB_val v;
	int r;

	if (!has_bin(t))
		return -ENOENT;
	r = sfs_cat_get_raw(t, SFS_DBI_BIN, id, strlen(id), &v);
	if (r < 0)
		return r;
	r = entry_decode(&v, ret);
	if (r == 0 && (ret->until <= now || strcmp(ret->id, id))) {
		sfs_bin_entry_release(ret);
		r = -ENOENT;
	}
	return r;
}

static int restore_snapshot(struct sfs_txn *t, const struct sfs_bin_entry *e)
{
	struct sfs_snapshot sn;
	int r = sfs_snapshot_decode(e->record, e->record_len, &sn);

	if (r < 0)
		return r;
	r = sfs_cat_volume_ensure(t, sn.volume, sn.created, NULL, NULL);
	if (r == 0)
		r = sfs_cat_snapshot_put(t, &sn);
	if (r == 0)
		r = sfs_cat_del_raw(t, SFS_DBI_BIN, e->id, strlen(e->id));
	sfs_snapshot_release(&sn);
	return r;
}

static int restore_image(struct sfs_txn *t, const struct sfs_bin_entry *e, int64_t now,
			 char *err, size_t errlen)
{
	struct sfs_image img, other;
	struct sfs_snapshot sn;
	struct sfs_bin_entry se;
	int r = sfs_image_decode(e->record, e->record_len, &img);

	if (r < 0)
		return r;
	r = sfs_cat_image_get(t, img.name, &other);
	if (r == 0) {
		sfs_image_release(&other);
		snprintf(err, errlen, "an image named %s exists", img.name);
		r = -EEXIST;
		goto out_release;
	}
	if (r != -ENOENT)
		goto out_release;
	/* Its snapshots first: those in the bin come back with it. */
	r = 0;
	for (size_t i = 0; r == 0 && i < img.ndevices; i++) {
		const char *sid = img.devices[i].snapshot;

		r = sfs_cat_snapshot_get(t, sid, &sn);
		if (r == 0) {
			sfs_snapshot_release(&sn);
			continue;
		}
		if (r != -ENOENT)
			break;
		r = entry_get(t, sid, now, &se);
		if (r == -ENOENT) {
			snprintf(err, errlen, "snapshot %s of its device %s is gone", sid,
				 img.devices[i].device);
			r = -ESRCH;
			break;
		}
		if (r == 0) {
			r = restore_snapshot(t, &se);
			sfs_bin_entry_release(&se);
		}
	}
	if (r == 0)
		r = sfs_cat_put_raw(t, SFS_DBI_IMAGES, img.name, strlen(img.name), e->record,
				    e->record_len);
	if (r == 0)
		r = sfs_cat_del_raw(t, SFS_DBI_BIN, e->id, strlen(e->id));
out_release:
	sfs_image_release(&img);
	return r;
}

int sfs_bin_restore(struct sfs_txn *t, const char *id, int64_t now, char *err, size_t errlen)
{
	struct sfs_bin_entry e;
	int r;

	err[0] = '\0';
	r = entry_get(t, id, now, &e);
	if (r < 0)
		return r;
	if (e.kind == SFS_BIN_SNAPSHOTS)
		r = restore_snapshot(t, &e);
	else
		r = restore_image(t, &e, now, err, errlen);
	sfs_bin_entry_release(&e);
	return r;
}

struct purge {
	int64_t now;
	char (*ids)[SFS_IDSTR_SIZE];
	size_t n, cap;
};

static int purge_cb(void *ctx, const struct sfs_bin_entry *e)
{
	struct purge *p = ctx;

	if (e->until > p->now)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		void *q = realloc(p->ids, cap * sizeof(*p->ids));

		if (!q)
			return -ENOMEM;
		p->ids = q;
		p->cap = cap;
	}
	memcpy(p->ids[p->n++], e->id, SFS_IDSTR_SIZE);
	return 0;
}

int sfs_bin_purge(struct sfs_txn *t, int64_t now)
{
	struct purge p = { .now = now };
	int r = sfs_bin_foreach(t, purge_cb, &p);

	/* Deleted after the walk: a cursor's database is not changed under it. */
	for (size_t i = 0; r == 0 && i < p.n; i++)
		r = sfs_cat_del_raw(t, SFS_DBI_BIN, p.ids[i], strlen(p.ids[i]));
	free(p.ids);
	return r < 0 ? r : (int)p.n;
}
