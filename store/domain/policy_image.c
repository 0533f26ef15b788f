// SPDX-License-Identifier: MIT
/*
 * Image policies (like Data Lifecycle Manager's AMI policies): at each
 * slot, one image of each target. A target is the set of matching
 * volumes that share the values of the policy's SFS_TARGET_ANY target
 * tags (all matching volumes when it has none); each volume's device in
 * the image is its SFS_TAG_DEVICE tag. A target's volumes are
 * snapshotted in one writer session and registered as an image in its
 * final commit (sfs_image_register), so an image is crash-consistent and
 * either whole or absent. Retention recognises the images it may remove
 * by their origin record, which only this runner sets, and removes their
 * snapshots by the rules of any delete (sfs_snapshot_remove): never one
 * another image or a checkpoint maps, never a locked one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapfs/copy.h"
#include "snapfs/gc.h"
#include "snapfs/image.h"
#include "snapfs/lock.h"
#include "snapfs/policy.h"

#include "policy_int.h"

/* One matched volume, placed in its target. */
struct member {
	const struct sfs_policy_vol *vol;
	char target[SFS_IMAGE_ORIGIN_TEXT_MAX];
	const char *device; /* borrowed from vol->tags; NULL: untagged or invalid */
};

static int by_target_device(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->target, y->target);

	if (c)
		return c;
	if (!x->device || !y->device)
		return !x->device - !y->device;
	return strcmp(x->device, y->device);
}

/* The values of the SFS_TARGET_ANY keys of v, joined by ','; "" when the
 * policy has none. -ENAMETOOLONG when they do not fit. */
static int target_of(const struct sfs_policy *p, const struct sfs_policy_vol *v,
		     char ret[SFS_IMAGE_ORIGIN_TEXT_MAX])
{
	const char *k;
	json_t *want;
	size_t n = 0;

	ret[0] = '\0';
	json_object_foreach(p->target_tags, k, want) {
		const char *have = json_string_value(json_object_get(v->tags, k));
		int w;

		if (strcmp(json_string_value(want), SFS_TARGET_ANY))
			continue;
		w = snprintf(ret + n, SFS_IMAGE_ORIGIN_TEXT_MAX - n, "%s%s", n ? "," : "", have);
		if (w < 0 || (size_t)w >= SFS_IMAGE_ORIGIN_TEXT_MAX - n)
			return -ENAMETOOLONG;
		n += (size_t)w;
	}
	return 0;
}

/* POLICY[-TARGET]-YYYYMMDDTHHMMZ, with every character of the target
 * that a name cannot hold made '_'. -ENAMETOOLONG when it is too long. */
static int image_name(const struct sfs_policy_runner *r, const char *target,
		      char ret[SFS_NAME_MAX + 1])
{
	char stamp[32], t[SFS_IMAGE_ORIGIN_TEXT_MAX];
	time_t tt = (time_t)r->slot;
	struct tm tm;
	int n;

	for (size_t i = 0;; i++) {
		char c = target[i];

		t[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				       c == '.' || c == '_' || c == '-' || !c
			       ? c
			       : '_';
		if (!c)
			break;
	}
	gmtime_r(&tt, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%MZ", &tm);
	n = snprintf(ret, SFS_NAME_MAX + 1, "%s%s%s-%s", r->p->name, t[0] ? "-" : "", t, stamp);
	return n < 0 || n > SFS_NAME_MAX || !sfs_name_valid(ret) ? -ENAMETOOLONG : 0;
}

/* Makes the image of one target m[0, n), all of whose members have a
 * device and a source, and copies it to dst when there is one. */
static void image_target(struct sfs_policy_runner *r, const struct member *m, size_t n,
			 json_t *snap_tags, struct sfs_store *dst)
{
	const char *store = sfs_store_path(r->s);
	struct sfs_image_register_opts ro = { .tags = snap_tags };
	struct sfs_image_register_result res;
	struct sfs_image_spec spec;
	struct sfs_image_origin origin = { .slot = r->slot };
	char name[SFS_NAME_MAX + 1], when[32], desc[256];
	int err;

	snprintf(origin.policy, sizeof(origin.policy), "%s", r->p->name);
	snprintf(origin.schedule, sizeof(origin.schedule), "%s", r->sc->text);
	snprintf(origin.target, sizeof(origin.target), "%s", m[0].target);
	if (image_name(r, m[0].target, name) < 0) {
		sfs_policy_emit(r, SFS_POLICY_FAILED, store, NULL, NULL, NULL,
				"target '%s': policy name and target are too long to name an image",
				m[0].target);
		return;
	}
	if (sfs_image_spec_init(&spec) < 0) {
		sfs_policy_emit(r, SFS_POLICY_FAILED, store, NULL, NULL, name, "out of memory");
		return;
	}
	snprintf(spec.image.name, sizeof(spec.image.name), "%s", name);
	spec.image.arch = SFS_ARCH_X86_64;
	spec.image.boot_mode = sfs_boot_mode_default(SFS_ARCH_X86_64);
	/* Members are in device order: the first is the boot disk (vda). */
	snprintf(spec.image.root_device, sizeof(spec.image.root_device), "%s", m[0].device);
	snprintf(desc, sizeof(desc), "Created by policy %s, schedule '%s', for %s", r->p->name,
		 r->sc->text, sfs_policy_iso(r->slot, when, sizeof(when)));
	spec.image.description = strdup(desc);
	spec.image.origin = origin;
	err = spec.image.description && !json_object_update(spec.image.tags, r->p->tags) ? 0
											   : -ENOMEM;
	for (size_t i = 0; err == 0 && i < n; i++) {
		err = sfs_image_spec_add_volume(&spec, m[i].device, m[i].vol->name,
						m[i].vol->source);
		if (err == -EEXIST)
			sfs_policy_emit(r, SFS_POLICY_FAILED, store, m[i].vol->name, NULL, name,
					"volumes %s and %s of target '%s' both have %s=%s; no image",
					m[i - 1].vol->name, m[i].vol->name, m[0].target,
					SFS_TAG_DEVICE, m[i].device);
		else if (err < 0)
			sfs_policy_emit(r, SFS_POLICY_FAILED, store, m[i].vol->name, NULL, name,
					"cannot map volume %s as device %s: %s", m[i].vol->name,
					m[i].device, strerror(-err));
	}
	if (err < 0)
		goto out;
	err = sfs_image_register(r->s, &spec, &ro, &res);
	if (err < 0) {
		sfs_policy_emit(r, SFS_POLICY_FAILED, store, NULL, NULL, name,
				"image %s of target '%s' failed%s%s: %s", name, m[0].target,
				res.device[0] ? " at device " : "", res.device,
				res.error[0] ? res.error : strerror(-err));
		goto out;
	}
	sfs_policy_emit(r, SFS_POLICY_REGISTERED, store, NULL, res.image.id, name, NULL);
	sfs_image_release(&res.image);
	if (dst) {
		struct sfs_image_copy_opts co = { .origin = &origin };
		struct sfs_image_copy_result cres;

		err = sfs_image_copy(r->s, name, dst, &co, &cres);
		if (err < 0) {
			sfs_policy_emit(r, SFS_POLICY_FAILED, r->p->copy_to, NULL, NULL, name,
					"copy of image %s to store %s failed: %s", name,
					r->p->copy_to,
					cres.error[0]	  ? cres.error
					: err == -EXDEV ? "the stores' block sizes differ"
							  : strerror(-err));
		} else {
			sfs_policy_emit(r, SFS_POLICY_COPIED, r->p->copy_to, NULL, cres.image.id,
					name, NULL);
			sfs_image_release(&cres.image);
		}
	}
out:
	sfs_image_spec_release(&spec);
}

/* ---- retention ---- */

struct made {
	char name[SFS_NAME_MAX + 1];
	char target[SFS_IMAGE_ORIGIN_TEXT_MAX];
	struct sfs_retain_item item;
};

struct mades {
	const struct sfs_policy_runner *r;
	struct made *v;
	size_t n;
};

static int made_cb(void *ctx, const struct sfs_image *img)
{
	struct mades *l = ctx;
	struct made *m;
	void *p;

	/* Only what this policy's schedule made, by the record's origin. */
	if (strcmp(img->origin.policy, l->r->p->name) ||
	    strcmp(img->origin.schedule, l->r->sc->text))
		return 0;
	p = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (!p)
		return -ENOMEM;
	l->v = p;
	m = &l->v[l->n];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", img->name);
	snprintf(m->target, sizeof(m->target), "%s", img->origin.target);
	m->item.time = img->origin.slot;
	m->item.seq = l->n++;
	return 0;
}

static int by_target(const void *a, const void *b)
{
	return strcmp(((const struct made *)a)->target, ((const struct made *)b)->target);
}

/* Deregisters image name and removes each of its snapshots that nothing
 * else keeps, reporting what stays and why. */
static int remove_image(struct sfs_policy_runner *r, struct sfs_txn *t, const char *store,
			const char *name)
{
	struct sfs_deregister_opts dopt = { .now = r->o->now };
	struct sfs_delete_opts sopt = { .now = r->o->now };
	struct sfs_image img;
	int err = sfs_cat_image_get(t, name, &img);

	if (err < 0)
		return err;
	err = sfs_image_deregister(t, name, &dopt, NULL);
	if (err == 0)
		sfs_policy_emit(r, SFS_POLICY_DEREGISTERED, store, NULL, img.id, name, NULL);
	for (size_t i = 0; err == 0 && i < img.ndevices; i++) {
		const char *sid = img.devices[i].snapshot;
		struct sfs_delete_info info;
		char until[32];
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(img.devices[j].snapshot, sid);
		if (seen)
			continue;
		err = sfs_snapshot_remove(t, sid, &sopt, &info);
		if (err == 0) {
			sfs_policy_emit(r, SFS_POLICY_DELETED, store, NULL, sid, name, NULL);
		} else if (err == -EBUSY) {
			sfs_policy_emit(r, SFS_POLICY_KEPT, store, NULL, sid, name,
					"retention of image %s keeps snapshot %s: %s uses it", name,
					sid, info.image);
			err = 0;
		} else if (err == -EPERM) {
			sfs_policy_emit(r, SFS_POLICY_KEPT, store, NULL, sid, name,
					"retention of image %s keeps snapshot %s: locked (%s) until %s",
					name, sid, sfs_lock_mode_name(info.lock_mode),
					sfs_policy_iso(info.lock_until, until, sizeof(until)));
			err = 0;
		} else if (err == -ENOENT) {
			err = 0; /* deleted behind the image's back */
		}
	}
	sfs_image_release(&img);
	return err;
}

/* Keeps, per target, the newest count images (or those younger than age)
 * this schedule made in store s; removes the others in one commit. */
static int retain_images(struct sfs_policy_runner *r, struct sfs_store *s, uint32_t count,
			 int64_t age)
{
	struct mades l = { .r = r };
	struct sfs_txn *t;
	int err;

	if (count == 0 && age == 0)
		return 0;
	err = sfs_txn_begin(s, true, &t);
	if (err < 0)
		return err;
	err = sfs_cat_image_foreach(t, made_cb, &l);
	if (err == 0 && l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_target);
	for (size_t i = 0; err == 0 && i < l.n;) {
		struct sfs_retain_item *it;
		size_t j = i, n;

		while (j < l.n && !strcmp(l.v[j].target, l.v[i].target))
			j++;
		n = j - i;
		it = calloc(n, sizeof(*it));
		if (!it) {
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < n; k++) {
			it[k] = l.v[i + k].item;
			it[k].seq = k;
		}
		sfs_retain_select(it, n, count, age, r->o->now);
		for (size_t k = 0; err == 0 && k < n; k++)
			if (it[k].remove)
				err = remove_image(r, t, sfs_store_path(s), l.v[i + it[k].seq].name);
		free(it);
		i = j;
	}
	if (err == 0)
		err = sfs_txn_commit(t);
	else
		sfs_txn_abort(t);
	free(l.v);
	return err;
}

/* ---- one due schedule ---- */

/* Fills m[] from the matched volumes; a volume that cannot be imaged
 * (no device tag, no source) is reported and breaks its target, whose
 * image would otherwise lack a device. */
static size_t place(struct sfs_policy_runner *r, const struct sfs_policy_vols *l,
		    struct member *m)
{
	const char *store = sfs_store_path(r->s);

	for (size_t i = 0; i < l->n; i++) {
		const struct sfs_policy_vol *v = &l->v[i];
		const char *dev = json_string_value(json_object_get(v->tags, SFS_TAG_DEVICE));

		m[i].vol = v;
		if (target_of(r->p, v, m[i].target) < 0) {
			sfs_policy_emit(r, SFS_POLICY_FAILED, store, v->name, NULL, NULL,
					"volume %s: its target tag values are too long", v->name);
			snprintf(m[i].target, sizeof(m[i].target), "%s", v->name);
		}
		if (!dev || !sfs_devname_valid(dev))
			sfs_policy_emit(r, SFS_POLICY_FAILED, store, v->name, NULL, NULL,
					"volume %s has %s %s%s%s: set one with 'snapfs volume tag "
					"%s %s=vda'; no image of its target",
					v->name, dev ? "an invalid device tag" : "no device tag",
					SFS_TAG_DEVICE, dev ? "=" : "", dev ? dev : "", v->name,
					SFS_TAG_DEVICE);
		else if (!v->source)
			sfs_policy_emit(r, SFS_POLICY_FAILED, store, v->name, NULL, NULL,
					"volume %s has no source (set one with 'snapfs volume "
					"set-source %s PATH'); no image of its target",
					v->name, v->name);
		else
			m[i].device = dev;
	}
	qsort(m, l->n, sizeof(*m), by_target_device);
	return l->n;
}

int sfs_policy_run_images(struct sfs_policy_runner *r)
{
	struct sfs_policy_vols l = { 0 };
	struct sfs_store *dst = NULL;
	struct member *m = NULL;
	json_t *tags = sfs_policy_snapshot_tags(r);
	int err;

	if (!tags)
		return -ENOMEM;
	err = sfs_policy_match_volumes(r, &l);
	if (err < 0)
		goto out;
	m = calloc(l.n ? l.n : 1, sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		goto out;
	}
	place(r, &l, m);
	if (r->p->copy_to && l.n)
		sfs_policy_open_copy_store(r, &dst);
	for (size_t i = 0; i < l.n;) {
		size_t j = i;
		bool whole = true;

		while (j < l.n && !strcmp(m[j].target, m[i].target)) {
			whole &= m[j].device != NULL;
			j++;
		}
		if (whole)
			image_target(r, m + i, j - i, tags, dst);
		i = j;
	}
	sfs_policy_retain_stores(r, dst, retain_images);
	err = 0;
out:
	sfs_store_close(dst);
	free(m);
	sfs_policy_vols_release(&l);
	json_decref(tags);
	return err;
}
