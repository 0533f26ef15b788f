// SPDX-License-Identifier: MIT
/*
 * The checkpoint catalog (checkpoint.h): the record of a hibernated VM,
 * its rules, and registering, listing and deleting checkpoints in the
 * catalog's `checkpoints` database. Like an image record, one read back
 * is checked as strictly as one about to be written: a mount turns its
 * part names into file names and its sizes into file sizes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapfs/checkpoint.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "writer_int.h"

#define CKPT_RECORD_VERSION 1

bool sfs_ckpt_device_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SFS_DEVNAME_MAX || !strcmp(name, "ram") || !strcmp(name, "state") ||
	    !strcmp(name, "checkpoint"))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int sfs_checkpoint_init(struct sfs_checkpoint *ck)
{
	memset(ck, 0, sizeof(*ck));
	snprintf(ck->ram.name, sizeof(ck->ram.name), "ram");
	snprintf(ck->state.name, sizeof(ck->state.name), "state");
	ck->machine = json_object();
	return ck->machine ? 0 : -ENOMEM;
}

void sfs_checkpoint_release(struct sfs_checkpoint *ck)
{
	if (!ck)
		return;
	free(ck->owner);
	free(ck->devices);
	json_decref(ck->machine);
	memset(ck, 0, sizeof(*ck));
}

int sfs_checkpoint_add_device(struct sfs_checkpoint *ck, const char *device,
			      const char *snap_id, uint64_t size)
{
	struct sfs_ckpt_part *p;

	if (!sfs_ckpt_device_valid(device) || !sfs_idstr_valid(snap_id, "snap-"))
		return -EINVAL;
	for (size_t i = 0; i < ck->ndevices; i++)
		if (!strcmp(ck->devices[i].name, device))
			return -EEXIST;
	if (ck->ndevices >= SFS_CKPT_MAX_DEVICES)
		return -E2BIG;
	p = realloc(ck->devices, (ck->ndevices + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ck->devices = p;
	p = &ck->devices[ck->ndevices++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", device);
	snprintf(p->snapshot, sizeof(p->snapshot), "%s", snap_id);
	p->size = size;
	return 0;
}

int sfs_checkpoint_validate(const struct sfs_checkpoint *ck, char *err, size_t errlen)
{
	const struct sfs_ckpt_part *parts[2] = {&ck->ram, &ck->state};

	if (!sfs_name_valid(ck->name)) {
		snprintf(err, errlen, "invalid checkpoint name '%s'", ck->name);
		return -EINVAL;
	}
	if (ck->id[0] && !sfs_idstr_valid(ck->id, "ckpt-")) {
		snprintf(err, errlen, "invalid checkpoint id '%s'", ck->id);
		return -EINVAL;
	}
	if (!sfs_name_valid(ck->vm) || (ck->image[0] && !sfs_name_valid(ck->image))) {
		snprintf(err, errlen, "invalid VM or image name");
		return -EINVAL;
	}
	for (int i = 0; i < 2; i++) {
		if (!sfs_idstr_valid(parts[i]->snapshot, "snap-") ||
		    parts[i]->size > SFS_IMAGE_DEVICE_SIZE_MAX) {
			snprintf(err, errlen, "the %s part has no valid snapshot or size",
				 parts[i]->name);
			return -EINVAL;
		}
	}
	if (ck->ndevices > SFS_CKPT_MAX_DEVICES) {
		snprintf(err, errlen, "more than %d disks", SFS_CKPT_MAX_DEVICES);
		return -EINVAL;
	}
	for (size_t i = 0; i < ck->ndevices; i++) {
		const struct sfs_ckpt_part *d = &ck->devices[i];

		if (!sfs_ckpt_device_valid(d->name) || !sfs_idstr_valid(d->snapshot, "snap-") ||
		    d->size > SFS_IMAGE_DEVICE_SIZE_MAX) {
			snprintf(err, errlen, "disk %zu has no valid name, snapshot or size", i + 1);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(ck->devices[j].name, d->name)) {
				snprintf(err, errlen, "disk %s appears twice", d->name);
				return -EINVAL;
			}
		}
	}
	if (!json_is_object(ck->machine)) {
		snprintf(err, errlen, "the machine shape is not an object");
		return -EINVAL;
	}
	return 0;
}

static json_t *part_json(const struct sfs_ckpt_part *p, bool with_name)
{
	json_t *o = json_pack("{s:s, s:I}", "snapshot", p->snapshot, "size", (json_int_t)p->size);

	if (o && with_name)
		json_object_set_new(o, "device", json_string(p->name));
	return o;
}

json_t *sfs_checkpoint_to_json(const struct sfs_checkpoint *ck)
{
	json_t *o = json_object(), *devs = json_array();

	if (!o || !devs)
		goto fail;
	for (size_t i = 0; i < ck->ndevices; i++)
		if (json_array_append_new(devs, part_json(&ck->devices[i], true)))
			goto fail;
	if (json_object_set_new(o, "name", json_string(ck->name)) ||
	    json_object_set_new(o, "id", json_string(ck->id)) ||
	    json_object_set_new(o, "created", json_integer(ck->created)) ||
	    json_object_set_new(o, "vm", json_string(ck->vm)) ||
	    json_object_set_new(o, "ram", part_json(&ck->ram, false)) ||
	    json_object_set_new(o, "state", part_json(&ck->state, false)) ||
	    json_object_set(o, "devices", devs) ||
	    json_object_set(o, "machine", ck->machine))
		goto fail;
	if (ck->owner && json_object_set_new(o, "owner", json_string(ck->owner)))
		goto fail;
	if (ck->image[0] && json_object_set_new(o, "image", json_string(ck->image)))
		goto fail;
	json_decref(devs);
	return o;
fail:
	json_decref(devs);
	json_decref(o);
	return NULL;
}

char *sfs_checkpoint_encode(const struct sfs_checkpoint *ck)
{
	json_t *o = sfs_checkpoint_to_json(ck);

	return o ? sfs_record_dumps(o, CKPT_RECORD_VERSION) : NULL;
}

/* A part from its JSON; false when it is not one. */
static bool part_decode(json_t *o, const char *name, struct sfs_ckpt_part *ret)
{
	const char *snap = json_string_value(json_object_get(o, "snapshot"));
	json_t *size = json_object_get(o, "size");

	if (!snap || strlen(snap) >= sizeof(ret->snapshot) || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || strlen(name) >= sizeof(ret->name))
		return false;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->snapshot, sizeof(ret->snapshot), "%s", snap);
	ret->size = (uint64_t)json_integer_value(size);
	return true;
}

static bool copy_str(char *dst, size_t cap, json_t *v, bool optional)
{
	const char *s = json_string_value(v);

	if (!s)
		return optional && !v;
	if (strlen(s) >= cap)
		return false;
	snprintf(dst, cap, "%s", s);
	return true;
}

int sfs_checkpoint_decode(const void *buf, size_t len, struct sfs_checkpoint *ret)
{
	json_t *o = sfs_record_loads(buf, len, CKPT_RECORD_VERSION, NULL), *devs, *d;
	const char *owner;
	char err[256];
	size_t i;
	int r = -EBADMSG;

	if (!o)
		return -EBADMSG;
	r = sfs_checkpoint_init(ret);
	if (r < 0)
		goto out;
	r = -EBADMSG;
	devs = json_object_get(o, "devices");
	if (!copy_str(ret->name, sizeof(ret->name), json_object_get(o, "name"), false) ||
	    !copy_str(ret->id, sizeof(ret->id), json_object_get(o, "id"), false) ||
	    !copy_str(ret->vm, sizeof(ret->vm), json_object_get(o, "vm"), false) ||
	    !copy_str(ret->image, sizeof(ret->image), json_object_get(o, "image"), true) ||
	    !json_is_integer(json_object_get(o, "created")) ||
	    !part_decode(json_object_get(o, "ram"), "ram", &ret->ram) ||
	    !part_decode(json_object_get(o, "state"), "state", &ret->state) ||
	    !json_is_array(devs) || json_array_size(devs) > SFS_CKPT_MAX_DEVICES ||
	    !json_is_object(json_object_get(o, "machine")))
		goto out_release;
	ret->created = json_integer_value(json_object_get(o, "created"));
	json_decref(ret->machine);
	ret->machine = json_deep_copy(json_object_get(o, "machine"));
	owner = json_string_value(json_object_get(o, "owner"));
	if (owner) {
		ret->owner = strdup(owner);
		if (!ret->owner) {
			r = -ENOMEM;
			goto out_release;
		}
	}
	json_array_foreach(devs, i, d) {
		const char *name = json_string_value(json_object_get(d, "device"));
		struct sfs_ckpt_part p;

		if (!name || !part_decode(d, name, &p))
			goto out_release;
		r = sfs_checkpoint_add_device(ret, p.name, p.snapshot, p.size);
		if (r < 0) {
			r = r == -ENOMEM ? r : -EBADMSG;
			goto out_release;
		}
	}
	r = -EBADMSG;
	if (!ret->machine || sfs_checkpoint_validate(ret, err, sizeof(err)) < 0 || !ret->id[0])
		goto out_release;
	r = 0;
	goto out;
out_release:
	sfs_checkpoint_release(ret);
out:
	json_decref(o);
	return r;
}

/* ---- the catalog ---- */

static bool has_db(struct sfs_txn *t)
{
	return sfs_txn_store(t)->has_checkpoints;
}

int sfs_cat_checkpoint_get(struct sfs_txn *t, const char *name, struct sfs_checkpoint *ret)
{
	MDB_val v;
	int r;

	if (!sfs_name_valid(name) || !has_db(t))
		return -ENOENT;
	r = sfs_cat_get_raw(t, SFS_DBI_CHECKPOINTS, name, strlen(name), &v);
	if (r < 0)
		return r;
	return sfs_checkpoint_decode(v.mv_data, v.mv_size, ret);
}

static int codec_decode(const MDB_val *k, const MDB_val *v, void *rec, char *why, size_t whylen)
{
	(void)k, (void)why, (void)whylen;
	return sfs_checkpoint_decode(v->mv_data, v->mv_size, rec);
}

static void codec_release(void *rec)
{
	sfs_checkpoint_release(rec);
}

static const struct sfs_cat_codec codec = {
	SFS_DBI_CHECKPOINTS, "checkpoint", codec_decode, codec_release,
	offsetof(struct sfs_checkpoint, id),
};

struct iter {
	sfs_checkpoint_fn fn;
	void *ctx;
};

static int iter_cb(void *ctx, void *ck)
{
	struct iter *it = ctx;

	return it->fn(it->ctx, ck);
}

int sfs_cat_checkpoint_foreach(struct sfs_txn *t, sfs_checkpoint_fn fn, void *ctx)
{
	struct iter it = {fn, ctx};
	struct sfs_checkpoint ck;

	if (!has_db(t))
		return 0;
	return sfs_cat_foreach_decoded(t, &codec, NULL, 0, &ck, iter_cb, &it);
}

int sfs_cat_checkpoint_find(struct sfs_txn *t, const char *name_or_id, struct sfs_checkpoint *ret)
{
	int r = sfs_cat_checkpoint_get(t, name_or_id, ret);

	if (r != -ENOENT || !has_db(t) || !sfs_idstr_valid(name_or_id, "ckpt-"))
		return r;
	return sfs_cat_find_decoded(t, &codec, name_or_id, ret);
}

/* One part against its snapshot: made by this session or completed. */
static int fit(struct sfs_txn *t, const struct sfs_writer *w, struct sfs_ckpt_part *p, char *err,
	       size_t errlen)
{
	return sfs_writer_disk_fit(t, w, p->name, p->snapshot, &p->size, err, errlen);
}

/* RAM or the device state against its snapshot. Their length, which the
 * checkpoint records, may be shorter than the snapshot (a volume never
 * shrinks, so a shorter one is stored padded with zeros), but never
 * longer, or a resume would read zeros that were never saved. */
static int fit_padded(struct sfs_txn *t, const struct sfs_writer *w, struct sfs_ckpt_part *p,
		      char *err, size_t errlen)
{
	uint64_t have = 0;
	int r = sfs_writer_disk_fit(t, w, p->name, p->snapshot, &have, err, errlen);

	if (r < 0)
		return r;
	if (p->size == 0)
		p->size = have;
	if (p->size > have) {
		snprintf(err, errlen, "%s: %" PRIu64 " bytes is longer than snapshot %s (%" PRIu64
			 " bytes)", p->name, p->size, p->snapshot, have);
		return -ERANGE;
	}
	return 0;
}

int sfs_writer_checkpoint_create(struct sfs_writer *w, struct sfs_checkpoint *ck, char *err,
				 size_t errlen)
{
	struct sfs_txn *t = sfs_writer_txn(w);
	char *json;
	MDB_val v;
	int r;

	r = sfs_checkpoint_validate(ck, err, errlen);
	if (r < 0)
		return r;
	if (!has_db(t))
		return -EROFS;
	r = sfs_cat_get_raw(t, SFS_DBI_CHECKPOINTS, ck->name, strlen(ck->name), &v);
	if (r == 0) {
		snprintf(err, errlen, "a checkpoint named %s already exists", ck->name);
		return -EEXIST;
	}
	if (r != -ENOENT)
		return r;
	r = fit_padded(t, w, &ck->ram, err, errlen);
	if (r == 0)
		r = fit_padded(t, w, &ck->state, err, errlen);
	for (size_t i = 0; r == 0 && i < ck->ndevices; i++)
		r = fit(t, w, &ck->devices[i], err, errlen);
	if (r < 0)
		return r;
	if (!ck->id[0]) {
		r = sfs_idstr_new("ckpt-", ck->id);
		if (r < 0)
			return r;
	}
	if (!ck->created)
		ck->created = (int64_t)time(NULL);
	json = sfs_checkpoint_encode(ck);
	if (!json)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_CHECKPOINTS, ck->name, strlen(ck->name), json,
			    strlen(json));
	free(json);
	return r;
}

struct user {
	const char *id;
	char *ret;
	size_t len;
};

static int user_cb(void *ctx, const struct sfs_checkpoint *ck)
{
	struct user *u = ctx;
	bool uses = !strcmp(ck->ram.snapshot, u->id) || !strcmp(ck->state.snapshot, u->id);

	for (size_t i = 0; !uses && i < ck->ndevices; i++)
		uses = !strcmp(ck->devices[i].snapshot, u->id);
	if (!uses)
		return 0;
	if (u->ret && u->len)
		snprintf(u->ret, u->len, "%s", ck->name);
	return 1;
}

int sfs_checkpoint_user_of(struct sfs_txn *t, const char *snap_id, char *ret_name, size_t len)
{
	struct user u = {snap_id, ret_name, len};

	return sfs_cat_checkpoint_foreach(t, user_cb, &u);
}

int sfs_snapshot_user_of(struct sfs_txn *t, const char *snap_id, char *ret, size_t len)
{
	char name[SFS_NAME_MAX + 1];
	int r = sfs_image_user_of(t, snap_id, name, sizeof(name));

	if (r == 1) {
		snprintf(ret, len, "image %s", name);
		return 1;
	}
	if (r < 0)
		return r;
	r = sfs_checkpoint_user_of(t, snap_id, name, sizeof(name));
	if (r == 1)
		snprintf(ret, len, "checkpoint %s", name);
	return r;
}

int sfs_cat_checkpoint_delete(struct sfs_txn *t, const char *name, bool delete_snapshots,
			      sfs_deregister_fn fn, void *ctx)
{
	struct sfs_checkpoint ck;
	const struct sfs_ckpt_part **parts;
	size_t n = 0;
	int r;

	if (!has_db(t) || !sfs_name_valid(name))
		return -ENOENT;
	r = sfs_cat_checkpoint_get(t, name, &ck);
	if (r == -EBADMSG) {
		/* What a damaged record names cannot be trusted. */
		r = sfs_cat_del_raw(t, SFS_DBI_CHECKPOINTS, name, strlen(name));
		return r < 0 ? r : 1;
	}
	if (r < 0)
		return r;
	/* First, so that it is no user of its own snapshots below. */
	r = sfs_cat_del_raw(t, SFS_DBI_CHECKPOINTS, name, strlen(name));
	parts = calloc(ck.ndevices + 2, sizeof(*parts));
	if (!parts)
		r = r ? r : -ENOMEM;
	if (parts) {
		parts[n++] = &ck.ram;
		parts[n++] = &ck.state;
		for (size_t i = 0; i < ck.ndevices; i++)
			parts[n++] = &ck.devices[i];
	}
	for (size_t i = 0; r == 0 && delete_snapshots && i < n; i++) {
		const char *sid = parts[i]->snapshot;
		char user[SFS_NAME_MAX + 16];
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(parts[j]->snapshot, sid);
		if (seen)
			continue;
		r = sfs_snapshot_user_of(t, sid, user, sizeof(user));
		if (r == 1) {
			if (fn)
				fn(ctx, sid, false, user);
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		r = sfs_cat_snapshot_del(t, sid);
		if (r == -ENOENT)
			r = 0;
		else if (r == 0 && fn)
			fn(ctx, sid, true, NULL);
	}
	free(parts);
	sfs_checkpoint_release(&ck);
	return r;
}
