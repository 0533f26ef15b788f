// SPDX-License-Identifier: MIT
/*
 * Image records under check: every record decoded as strictly as a reader
 * would, then held against the catalog, so that an image that would fail
 * to list, mount or launch is named by `snapfs check` rather than found
 * by its user. Read-only; one problem line per fault, and the walk goes on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "snapfs/image.h"
#include "store_int.h"

struct verify {
	struct sfs_txn *t;
	sfs_image_problem_fn fn;
	void *ctx;
	int count;
};

__attribute__((format(printf, 2, 3))) static void problem(struct verify *v, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (v->fn)
		v->fn(v->ctx, line);
}

static int check_device(struct verify *v, const struct sfs_image *img,
			const struct sfs_image_device *d)
{
	struct sfs_snapshot sn;
	int r = sfs_cat_snapshot_get(v->t, d->snapshot, &sn);

	if (r == -ENOENT) {
		problem(v, "image %s: device %s maps snapshot %s, which does not exist", img->name,
			d->device, d->snapshot);
		return 0;
	}
	if (r == -EBADMSG) {
		problem(v, "image %s: device %s maps snapshot %s, whose record is damaged",
			img->name, d->device, d->snapshot);
		return 0;
	}
	if (r < 0)
		return r;
	if (sn.state != SFS_SNAP_COMPLETED)
		problem(v, "image %s: device %s maps snapshot %s, which is %s, not completed",
			img->name, d->device, d->snapshot, sfs_snap_state_name(sn.state));
	else if (d->size < sn.size)
		problem(v,
			"image %s: device %s shows %" PRIu64
			" bytes, less than snapshot %s (%" PRIu64 " bytes)",
			img->name, d->device, d->size, d->snapshot, sn.size);
	sfs_snapshot_release(&sn);
	return 0;
}

static int verify_cb(void *ctx, const MDB_val *k, const MDB_val *val)
{
	struct verify *v = ctx;
	char key[SFS_NAME_MAX + 1], err[256];
	struct sfs_image img;
	int r;

	v->count++;
	sfs_image_key_name(k->mv_data, k->mv_size, key);
	r = sfs_image_decode_why(val->mv_data, val->mv_size, &img, err, sizeof(err));
	if (r == -EBADMSG) {
		problem(v,
			"image %s: record is damaged: %s ('snapfs image deregister %s' removes it)",
			key, err, key);
		return 0;
	}
	if (r < 0)
		return r;
	if (k->mv_size != strlen(img.name) || memcmp(k->mv_data, img.name, k->mv_size))
		problem(v, "image %s: record carries the name %s", key, img.name);
	for (size_t i = 0; r == 0 && i < img.ndevices; i++)
		r = check_device(v, &img, &img.devices[i]);
	sfs_image_release(&img);
	return r;
}

int sfs_cat_image_verify(struct sfs_txn *t, sfs_image_problem_fn fn, void *ctx)
{
	struct verify v = {t, fn, ctx, 0};
	int r = sfs_cat_foreach_raw(t, SFS_DBI_IMAGES, verify_cb, &v);

	return r < 0 ? r : v.count;
}
