// SPDX-License-Identifier: MIT
/*
 * The images/ part of a mount's view: one directory per machine image
 * holding image.json and one raw file per mapped device. It is built with
 * the rest of the view, from the same read transaction, so an image never
 * names a snapshot the view lacks. Launch permissions are resolved into
 * uids and gids here, once per catalog generation, because the user
 * database is too slow to ask on every open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mount_int.h"
#include "snapfs/log.h"

struct imgnum {
	char id[SFS_IDSTR_SIZE];
	uint64_t num;
};

struct sfs_imgnums {
	struct imgnum *v; /* sorted by id */
	size_t n, cap;
};

void sfs_imgnums_free(struct sfs_imgnums *n)
{
	if (!n)
		return;
	free(n->v);
	free(n);
}

static int cmp_imgnum(const void *a, const void *b)
{
	return strcmp(((const struct imgnum *)a)->id, ((const struct imgnum *)b)->id);
}

/* The number of image id: looked up, or given now. */
static int imgnum_of(struct sfs_imgnums **pn, const char *id, uint64_t *ret)
{
	struct sfs_imgnums *n = *pn;
	struct imgnum key = {0}, *hit;
	size_t lo = 0, hi;

	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		*pn = n;
	}
	snprintf(key.id, sizeof(key.id), "%s", id);
	hit = n->n ? bsearch(&key, n->v, n->n, sizeof(key), cmp_imgnum) : NULL;
	if (hit) {
		*ret = hit->num;
		return 0;
	}
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 16;
		void *p = realloc(n->v, cap * sizeof(*n->v));
		if (!p)
			return -ENOMEM;
		n->v = p;
		n->cap = cap;
	}
	for (hi = n->n; lo < hi;) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(n->v[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&n->v[lo + 1], &n->v[lo], (n->n - lo) * sizeof(key));
	key.num = n->n + 1;
	n->v[lo] = key;
	n->n++;
	*ret = key.num;
	return 0;
}

/* ---- collecting ---- */

struct collect {
	struct sfs_image *v;
	size_t n, cap;
};

static int collect_cb(void *ctx, const struct sfs_image *img)
{
	struct collect *c = ctx;
	char *json;
	int r;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		void *p = realloc(c->v, cap * sizeof(*c->v));
		if (!p)
			return -ENOMEM;
		c->v = p;
		c->cap = cap;
	}
	/* img is the walk's: keep a copy, through the record codec. */
	json = sfs_image_encode(img);
	if (!json)
		return -ENOMEM;
	r = sfs_image_decode(json, strlen(json), &c->v[c->n]);
	free(json);
	if (r == 0)
		c->n++;
	return r;
}

int sfs_images_collect(struct sfs_txn *txn, struct sfs_image **ret, size_t *ret_n)
{
	struct collect c = {0};
	int r = sfs_cat_image_foreach(txn, collect_cb, &c);

	if (r < 0) {
		sfs_images_free(c.v, c.n);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

void sfs_images_free(struct sfs_image *imgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sfs_image_release(&imgs[i]);
	free(imgs);
}

/* ---- building ---- */

static void timage_release(struct sfs_timage *ti)
{
	free(ti->json);
	free(ti->files);
}

void sfs_view_images_release(struct sfs_view *v)
{
	for (size_t i = 0; i < v->nimages; i++)
		timage_release(&v->images[i]);
	free(v->images);
	free(v->images_by_ino);
	v->images = NULL;
	v->images_by_ino = NULL;
	v->nimages = 0;
}

static int timage_build(struct sfs_view *v, const struct sfs_image *img, uint64_t num,
			struct sfs_timage *ti)
{
	json_t *j = sfs_image_to_json(img);
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	memset(ti, 0, sizeof(*ti));
	if (!text)
		return -ENOMEM;
	ti->json_len = strlen(text) + 1;
	ti->json = realloc(text, ti->json_len + 1);
	if (!ti->json) {
		free(text);
		return -ENOMEM;
	}
	ti->json[ti->json_len - 1] = '\n';
	ti->json[ti->json_len] = '\0';
	ti->ino = SFS_INO_MAKE(SFS_INO_KIND_IMAGE, num);
	snprintf(ti->name, sizeof(ti->name), "%s", img->name);
	ti->mtime = img->created;
	ti->files = calloc(img->ndevices + 1, sizeof(*ti->files));
	if (!ti->files)
		return -ENOMEM;
	ti->files[0].ino = SFS_INO_MAKE(SFS_INO_KIND_IMGFILE, num << SFS_IMGFILE_BITS);
	snprintf(ti->files[0].name, sizeof(ti->files[0].name), "image.json");
	ti->files[0].size = ti->json_len;
	ti->files[0].mtime = img->created;
	ti->files[0].data_bytes = ti->json_len;
	ti->nfiles = 1;
	for (size_t i = 0; i < img->ndevices; i++) {
		const struct sfs_image_device *d = &img->devices[i];
		const struct sfs_tsnap *ts = sfs_view_snap_by_id(v, d->snapshot);
		struct sfs_timgfile *f = &ti->files[ti->nfiles];

		if (!ts) {
			sfs_log(SFS_LOG_WARN,
				"image %s: device %s maps snapshot %s, which is not "
				"completed or was deleted: not shown",
				img->name, d->device, d->snapshot);
			continue;
		}
		/* Index i + 1, not nfiles: a device's number does not depend on
		 * whether an earlier one is shown. */
		f->ino = SFS_INO_MAKE(SFS_INO_KIND_IMGFILE, (num << SFS_IMGFILE_BITS) | (i + 1));
		snprintf(f->name, sizeof(f->name), "%s.img", d->device);
		f->map = ts->map;
		f->size = d->size > ts->map.size ? d->size : ts->map.size;
		f->mtime = ts->created;
		f->data_bytes = ts->data_bytes;
		ti->nfiles++;
	}
	return 0;
}

static int cmp_timage_name(const void *a, const void *b)
{
	return strcmp(((const struct sfs_timage *)a)->name, ((const struct sfs_timage *)b)->name);
}

static int cmp_timagep_ino(const void *a, const void *b)
{
	const struct sfs_timage *x = *(struct sfs_timage *const *)a;
	const struct sfs_timage *y = *(struct sfs_timage *const *)b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

int sfs_view_add_images(struct sfs_view *v, struct sfs_store *s, const struct sfs_image *imgs,
			size_t n, struct sfs_imgnums **nums)
{
	int r = 0;

	v->images = calloc(n ? n : 1, sizeof(*v->images));
	v->images_by_ino = calloc(n ? n : 1, sizeof(*v->images_by_ino));
	if (!v->images || !v->images_by_ino) {
		r = -ENOMEM;
		goto out_release;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t num;

		r = imgnum_of(nums, imgs[i].id, &num);
		if (r == 0 && num >= (UINT64_C(1) << (SFS_INO_KIND_SHIFT - SFS_IMGFILE_BITS)))
			r = -EOVERFLOW;
		if (r == 0)
			r = timage_build(v, &imgs[i], num, &v->images[v->nimages]);
		v->nimages++; /* counted even when half built, so that it is released */
		if (r < 0)
			goto out_release;
	}
	qsort(v->images, v->nimages, sizeof(*v->images), cmp_timage_name);
	for (size_t i = 0; i < v->nimages; i++)
		v->images_by_ino[i] = &v->images[i];
	qsort(v->images_by_ino, v->nimages, sizeof(*v->images_by_ino), cmp_timagep_ino);
	return 0;

out_release:
	sfs_view_images_release(v);
	return r;
}

/* ---- lookups ---- */

const struct sfs_timage *sfs_view_image_by_name(const struct sfs_view *v, const char *name)
{
	struct sfs_timage key;

	if (strlen(name) >= sizeof(key.name) || !v->nimages)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, v->images, v->nimages, sizeof(key), cmp_timage_name);
}

const struct sfs_timage *sfs_view_image_by_ino(const struct sfs_view *v, uint64_t ino)
{
	size_t lo = 0, hi = v->nimages;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->images_by_ino[mid]->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nimages && v->images_by_ino[lo]->ino == ino ? v->images_by_ino[lo] : NULL;
}

const struct sfs_timgfile *sfs_view_imgfile_by_ino(const struct sfs_view *v, uint64_t ino,
						   const struct sfs_timage **ret_image)
{
	uint64_t num = SFS_INO_NUM(ino) >> SFS_IMGFILE_BITS;
	const struct sfs_timage *ti;

	if (SFS_INO_KIND(ino) != SFS_INO_KIND_IMGFILE)
		return NULL;
	ti = sfs_view_image_by_ino(v, SFS_INO_MAKE(SFS_INO_KIND_IMAGE, num));
	if (!ti)
		return NULL;
	for (size_t i = 0; i < ti->nfiles; i++) {
		if (ti->files[i].ino == ino) {
			if (ret_image)
				*ret_image = ti;
			return &ti->files[i];
		}
	}
	return NULL;
}

const struct sfs_timgfile *sfs_timage_file_by_name(const struct sfs_timage *ti, const char *name)
{
	for (size_t i = 0; i < ti->nfiles; i++)
		if (!strcmp(ti->files[i].name, name))
			return &ti->files[i];
	return NULL;
}
