// SPDX-License-Identifier: MIT
/*
 * Copying a machine image to another store (like CopyImage): every
 * snapshot the image maps is copied with sfs_copy_snapshot, so only the
 * chunks the destination lacks travel and an encrypted destination gets
 * them re-encrypted, and then the image is registered at the destination
 * in one transaction, so that the image is there whole or not at all.
 *
 * Each snapshot copy commits on its own, so a copy killed halfway leaves
 * completed snapshots at the destination that no image maps yet. They are
 * tagged with the source image's id (snapfs:copy-of-image) and a rerun
 * takes them instead of copying again, so the rerun finishes the same
 * image without leaving a second set of snapshots behind; an interrupted
 * snapshot copy is a pending record the destination's next writer drops,
 * its arrived chunks kept and not sent again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/copy.h"
#include "snapfs/image.h"

#define TAG_COPY_OF "snapfs:copy-of-image"

struct find_copy {
	const char *src_id, *image_id;
	char found[SFS_IDSTR_SIZE];
};

static int find_copy_cb(void *ctx, const struct sfs_snapshot *sn)
{
	struct find_copy *f = ctx;
	const char *tag;

	if (sn->state != SFS_SNAP_COMPLETED || !sn->copied_from || strcmp(sn->copied_from, f->src_id))
		return 0;
	tag = json_string_value(json_object_get(sn->tags, TAG_COPY_OF));
	if (!tag || strcmp(tag, f->image_id))
		return 0;
	memcpy(f->found, sn->id, sizeof(f->found));
	return 1;
}

/* The completed copy of src_sn an earlier run of this image copy left in
 * dst: 1 and its id in ret, or 0. */
static int earlier_copy(struct sfs_store *dst, const struct sfs_snapshot *src_sn,
			const char *image_id, char ret[SFS_IDSTR_SIZE])
{
	struct find_copy f = { .src_id = src_sn->id, .image_id = image_id };
	struct sfs_txn *t;
	int r = sfs_txn_begin(dst, false, &t);

	if (r < 0)
		return r;
	r = sfs_cat_snapshot_foreach(t, src_sn->volume, find_copy_cb, &f);
	sfs_txn_abort(t);
	if (r == 1)
		memcpy(ret, f.found, SFS_IDSTR_SIZE);
	return r;
}

static int get_snapshot(struct sfs_store *s, const char *id, struct sfs_snapshot *ret)
{
	struct sfs_txn *t;
	int r = sfs_txn_begin(s, false, &t);

	if (r < 0)
		return r;
	r = sfs_cat_snapshot_get(t, id, ret);
	sfs_txn_abort(t);
	return r;
}

/* 0 when name is free in dst, -EEXIST when an image has it. */
static int name_free(struct sfs_store *dst, const char *name)
{
	struct sfs_image other;
	struct sfs_txn *t;
	int r = sfs_txn_begin(dst, false, &t);

	if (r < 0)
		return r;
	r = sfs_cat_image_get(t, name, &other);
	sfs_txn_abort(t);
	if (r == 0 || r == -EBADMSG) {
		if (r == 0)
			sfs_image_release(&other);
		return -EEXIST;
	}
	return r == -ENOENT ? 0 : r;
}

/* The destination record: src's, without its id, creation time and (unless
 * asked) launch permissions, under name and owner. */
static int new_record(const struct sfs_image *src, const struct sfs_image_copy_opts *o,
		      const char *name, struct sfs_image *ret)
{
	const char *owner = o->owner ? o->owner : src->owner;
	int r = sfs_image_init(ret);

	if (r < 0)
		return r;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	ret->arch = src->arch;
	ret->boot_mode = src->boot_mode;
	memcpy(ret->root_device, src->root_device, sizeof(ret->root_device));
	if ((src->description && !(ret->description = strdup(src->description))) ||
	    (owner && !(ret->owner = strdup(owner))) || json_object_update(ret->tags, src->tags))
		return -ENOMEM;
	if (o->origin)
		ret->origin = *o->origin;
	if (o->copy_permissions) {
		if (json_array_extend(ret->users, src->users) ||
		    json_array_extend(ret->groups, src->groups))
			return -ENOMEM;
		ret->public = src->public;
	}
	return 0;
}

int sfs_image_copy(struct sfs_store *src, const char *name_or_id, struct sfs_store *dst,
		   const struct sfs_image_copy_opts *o, struct sfs_image_copy_result *ret)
{
	static const struct sfs_image_copy_opts defaults;
	struct sfs_image img = { 0 };
	struct sfs_txn *t;
	json_t *tags = NULL;
	const char *name;
	int r;

	o = o ? o : &defaults;
	memset(ret, 0, sizeof(*ret));
	r = sfs_copy_target_check(src, sfs_store_path(dst));
	if (r < 0)
		return r;
	if (sfs_store_block_size(src) != sfs_store_block_size(dst))
		return -EXDEV;
	r = sfs_txn_begin(src, false, &t);
	if (r < 0)
		return r;
	r = sfs_cat_image_find(t, name_or_id, &img);
	sfs_txn_abort(t);
	if (r < 0)
		return r;
	name = o->name ? o->name : img.name;
	r = name_free(dst, name);
	if (r < 0)
		goto out_release;
	r = new_record(&img, o, name, &ret->image);
	tags = json_pack("{s:s}", TAG_COPY_OF, img.id);
	if (r == 0 && !tags)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < img.ndevices; i++) {
		const struct sfs_image_device *d = &img.devices[i];
		const struct sfs_image_device *same = NULL;
		struct sfs_copy_opts co = { .tags = tags, .progress = o->progress,
					    .progress_ctx = o->progress_ctx };
		struct sfs_copy_result cr;
		struct sfs_snapshot sn;
		char copy_id[SFS_IDSTR_SIZE];

		/* Two devices mapping one snapshot map one copy. */
		for (size_t j = 0; j < i; j++)
			if (!strcmp(img.devices[j].snapshot, d->snapshot))
				same = &ret->image.devices[j];
		if (same) {
			r = sfs_image_add_device(&ret->image, d->device, same->snapshot, d->size);
			continue;
		}
		if (o->device_fn)
			o->device_fn(o->progress_ctx, d->device, d->snapshot);
		r = get_snapshot(src, d->snapshot, &sn);
		if (r < 0) {
			snprintf(ret->device, sizeof(ret->device), "%s", d->device);
			break;
		}
		r = earlier_copy(dst, &sn, img.id, copy_id);
		if (r == 0) {
			r = sfs_copy_snapshot(src, d->snapshot, dst, &co, &cr);
			memcpy(copy_id, cr.snap_id, sizeof(copy_id));
			ret->sent_chunks += cr.sent_chunks;
			ret->sent_bytes += cr.sent_bytes;
			ret->present_chunks += cr.present_chunks;
		} else if (r == 1) {
			ret->reused++;
			r = 0;
		}
		sfs_snapshot_release(&sn);
		if (r < 0) {
			snprintf(ret->device, sizeof(ret->device), "%s", d->device);
			break;
		}
		r = sfs_image_add_device(&ret->image, d->device, copy_id, d->size);
	}
	if (r < 0)
		goto out_release;
	r = sfs_txn_begin(dst, true, &t);
	if (r < 0)
		goto out_release;
	r = sfs_cat_image_create(t, &ret->image, ret->error, sizeof(ret->error));
	if (r == 0)
		r = sfs_txn_commit(t);
	else
		sfs_txn_abort(t);
out_release:
	json_decref(tags);
	sfs_image_release(&img);
	if (r < 0) {
		sfs_image_release(&ret->image);
		memset(&ret->image, 0, sizeof(ret->image));
	}
	return r;
}
