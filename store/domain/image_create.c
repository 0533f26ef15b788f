// SPDX-License-Identifier: MIT
/*
 * Registering a machine image whose devices are partly sources to be
 * snapshotted on the spot. Everything that can be wrong with the request
 * is checked before a source is read (a typo must not cost a long
 * snapshot); then every source is snapshotted in one writer session and
 * the image is written in that session's final commit, so that the image
 * and its new snapshots appear together or not at all. A device to be
 * snapshotted carries a placeholder id until its snapshot exists, which
 * lets the whole record be validated up front.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snapfs/image.h"

/* The id a source device holds until it is snapshotted: a valid id that
 * never names a snapshot of the store (sfs_image_register replaces it). */
#define PENDING_SNAP "snap-00000000000000000"

int sfs_image_spec_init(struct sfs_image_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	return sfs_image_init(&spec->image);
}

void sfs_image_spec_release(struct sfs_image_spec *spec)
{
	if (!spec)
		return;
	sfs_image_release(&spec->image);
	memset(spec->sources, 0, sizeof(spec->sources));
	memset(spec->volumes, 0, sizeof(spec->volumes));
}

int sfs_image_spec_add_snapshot(struct sfs_image_spec *spec, const char *device,
				const char *snap_id, uint64_t size)
{
	size_t n = spec->image.ndevices;
	int r = sfs_image_add_device(&spec->image, device, snap_id, size);

	if (r == 0)
		spec->sources[n] = spec->volumes[n] = NULL;
	return r;
}

int sfs_image_spec_add_source(struct sfs_image_spec *spec, const char *device,
			      const char *source)
{
	size_t n = spec->image.ndevices;
	int r;

	if (!source || !*source)
		return -EINVAL;
	r = sfs_image_add_device(&spec->image, device, PENDING_SNAP, 0);
	if (r == 0) {
		spec->sources[n] = source;
		spec->volumes[n] = NULL;
	}
	return r;
}

int sfs_image_spec_add_volume(struct sfs_image_spec *spec, const char *device,
			      const char *volume, const char *source)
{
	size_t n = spec->image.ndevices;
	int r = sfs_image_spec_add_source(spec, device, source);

	if (r == 0)
		spec->volumes[n] = volume;
	return r;
}

/* The volume source device i is snapshotted as: the one asked for, or
 * NAME-DEV. */
static int volume_of(const struct sfs_image_spec *spec, size_t i, char ret[SFS_NAME_MAX + 1])
{
	const struct sfs_image *img = &spec->image;
	const char *device = img->devices[i].device;
	int n;

	if (spec->volumes[i])
		n = snprintf(ret, SFS_NAME_MAX + 1, "%s", spec->volumes[i]);
	else
		n = snprintf(ret, SFS_NAME_MAX + 1, "%s-%s", img->name, device);

	return n < 0 || n > SFS_NAME_MAX || !sfs_name_valid(ret) ? -EINVAL : 0;
}

int sfs_image_spec_validate(const struct sfs_image_spec *spec, char *err, size_t errlen)
{
	const struct sfs_image *img = &spec->image;
	int r = sfs_image_validate(img, err, errlen);

	if (r < 0)
		return r;
	for (size_t i = 0; i < img->ndevices; i++) {
		const char *dev = img->devices[i].device, *src = spec->sources[i];
		char volume[SFS_NAME_MAX + 1];
		struct stat st;

		if (!src)
			continue;
		if (volume_of(spec, i, volume) < 0) {
			if (spec->volumes[i])
				snprintf(err, errlen, "device %s: invalid volume name", dev);
			else
				snprintf(err, errlen,
					 "image name %s is too long to name volume %s-%s",
					 img->name, img->name, dev);
			return -EINVAL;
		}
		if (stat(src, &st) < 0) {
			r = -errno;
			snprintf(err, errlen, "device %s: cannot use source %s: %s", dev, src,
				 strerror(-r));
			return r;
		}
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "device %s: source %s is a directory", dev, src);
			return -EISDIR;
		}
	}
	return 0;
}

/* A deep copy of src into ret (the result a caller keeps). */
static int image_copy(const struct sfs_image *src, struct sfs_image *ret)
{
	*ret = *src;
	ret->owner = src->owner ? strdup(src->owner) : NULL;
	ret->description = src->description ? strdup(src->description) : NULL;
	ret->devices = calloc(src->ndevices ? src->ndevices : 1, sizeof(*ret->devices));
	ret->tags = json_deep_copy(src->tags);
	ret->users = json_deep_copy(src->users);
	ret->groups = json_deep_copy(src->groups);
	if ((src->owner && !ret->owner) || (src->description && !ret->description) ||
	    !ret->devices || !ret->tags || !ret->users || !ret->groups) {
		sfs_image_release(ret);
		return -ENOMEM;
	}
	if (src->ndevices)
		memcpy(ret->devices, src->devices, src->ndevices * sizeof(*ret->devices));
	return 0;
}

/* Refuses a taken name before any source is read. */
static int check_name_free(struct sfs_txn *t, const char *name, char *err, size_t errlen)
{
	struct sfs_image other;
	int r = sfs_cat_image_get(t, name, &other);

	if (r == 0) {
		sfs_image_release(&other);
		snprintf(err, errlen, "an image named %s already exists", name);
		return -EEXIST;
	}
	if (r == -EBADMSG) {
		snprintf(err, errlen, "an image named %s already exists (its record is damaged)",
			 name);
		return -EEXIST;
	}
	return r == -ENOENT ? 0 : r;
}

/* Snapshots every source device of img in session w, filling in its
 * snapshot id and size. */
static int snapshot_sources(struct sfs_writer *w, const struct sfs_image_spec *spec,
			    struct sfs_image *img, const struct sfs_image_register_opts *o,
			    struct sfs_image_register_result *ret)
{
	for (size_t i = 0; i < img->ndevices; i++) {
		struct sfs_image_device *d = &img->devices[i];
		struct sfs_ingest_opts io = { 0 };
		struct sfs_ingest_result res = { 0 };
		char volume[SFS_NAME_MAX + 1], desc[256];
		int r;

		if (!spec->sources[i])
			continue;
		r = volume_of(spec, i, volume);
		if (r < 0)
			return r;
		snprintf(desc, sizeof(desc), "device %s of image %s", d->device, img->name);
		io.volume = volume;
		io.source = spec->sources[i];
		io.description = desc;
		io.tags = o->tags;
		io.threads = o->threads;
		io.progress = o->progress;
		io.progress_ctx = o->ctx;
		if (o->source_fn)
			o->source_fn(o->ctx, d->device, volume, false);
		r = sfs_writer_snapshot(w, &io, &res);
		if (o->source_fn)
			o->source_fn(o->ctx, d->device, volume, true);
		if (r < 0) {
			snprintf(ret->device, sizeof(ret->device), "%s", d->device);
			snprintf(ret->error, sizeof(ret->error), "%s", res.error);
			return r;
		}
		snprintf(d->snapshot, sizeof(d->snapshot), "%s", res.snap_id);
		d->size = res.size;
	}
	return 0;
}

/* Without sources: one catalog transaction, no writer session. */
static int register_mapped(struct sfs_store *s, struct sfs_image *img,
			   struct sfs_image_register_result *ret)
{
	struct sfs_txn *t;
	int r = sfs_txn_begin(s, true, &t);

	if (r < 0)
		return r;
	r = sfs_cat_image_create(t, img, ret->error, sizeof(ret->error));
	if (r < 0) {
		sfs_txn_abort(t);
		return r;
	}
	return sfs_txn_commit(t);
}

int sfs_image_register(struct sfs_store *s, const struct sfs_image_spec *spec,
		       const struct sfs_image_register_opts *o,
		       struct sfs_image_register_result *ret)
{
	static const struct sfs_image_register_opts none = { 0 };
	struct sfs_writer *w = NULL;
	struct sfs_image img;
	bool sources = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!o)
		o = &none;
	r = sfs_image_spec_validate(spec, ret->error, sizeof(ret->error));
	if (r < 0)
		return r;
	r = image_copy(&spec->image, &img);
	if (r < 0)
		return r;
	for (size_t i = 0; i < img.ndevices; i++)
		sources |= spec->sources[i] != NULL;
	if (!sources) {
		r = register_mapped(s, &img, ret);
		goto out;
	}
	r = sfs_writer_begin(s, &w);
	if (r < 0)
		goto out;
	r = check_name_free(sfs_writer_txn(w), img.name, ret->error, sizeof(ret->error));
	if (r < 0)
		goto out_abort_writer;
	r = snapshot_sources(w, spec, &img, o, ret);
	if (r < 0)
		goto out_abort_writer;
	/* After the last snapshot: the session may have committed checkpoints
	 * until then, and the image must land in the final commit only. */
	r = sfs_writer_image_create(w, &img, ret->error, sizeof(ret->error));
	if (r < 0)
		goto out_abort_writer;
	r = sfs_writer_commit(w); /* frees the session whatever happens */
	goto out;

out_abort_writer:
	sfs_writer_abort(w);
out:
	if (r < 0) {
		sfs_image_release(&img);
		return r;
	}
	ret->image = img;
	return 0;
}
