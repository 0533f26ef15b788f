// SPDX-License-Identifier: MIT
/*
 * The images/ and checkpoints/ parts of a mount's view: one directory per
 * record, holding the record as JSON (image.json, checkpoint.json) and one
 * raw file per part (an image's devices; a checkpoint's RAM image, device
 * state and disks). Both are built the same way, with the rest of the
 * view and from the same read transaction, so a record never names a
 * snapshot the view lacks; only collecting differs, which turns either
 * record into the same list of parts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mount_int.h"
#include "snapfs/checkpoint.h"
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
	struct sfs_rsrc *v;
	size_t n, cap;
};

void sfs_rsrcs_free(struct sfs_rsrc *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(src[i].json);
		free(src[i].parts);
	}
	free(src);
}

/* A new entry of c, its record file made from j (consumed), with room
 * for nparts parts. */
static int collect_add(struct collect *c, json_t *j, const char *id, const char *name,
		       int64_t created, size_t nparts, struct sfs_rsrc **ret)
{
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	struct sfs_rsrc *e;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		void *p = realloc(c->v, cap * sizeof(*c->v));
		if (!p) {
			free(text);
			return -ENOMEM;
		}
		c->v = p;
		c->cap = cap;
	}
	e = &c->v[c->n];
	memset(e, 0, sizeof(*e));
	e->json_len = strlen(text) + 1;
	e->json = realloc(text, e->json_len + 1);
	if (!e->json) {
		free(text);
		return -ENOMEM;
	}
	e->json[e->json_len - 1] = '\n';
	e->json[e->json_len] = '\0';
	e->parts = calloc(nparts ? nparts : 1, sizeof(*e->parts));
	if (!e->parts) {
		free(e->json);
		return -ENOMEM;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->created = created;
	e->nparts = nparts;
	c->n++;
	*ret = e;
	return 0;
}

static void part_set(struct sfs_rpart *p, const char *file, const char *suffix,
		     const char *snapshot, uint64_t size)
{
	snprintf(p->file, sizeof(p->file), "%s%s", file, suffix);
	snprintf(p->snapshot, sizeof(p->snapshot), "%s", snapshot);
	p->size = size;
}

static int image_cb(void *ctx, const struct sfs_image *img)
{
	struct sfs_rsrc *e;
	int r = collect_add(ctx, sfs_image_to_json(img), img->id, img->name, img->created,
			    img->ndevices, &e);

	for (size_t i = 0; r == 0 && i < img->ndevices; i++)
		part_set(&e->parts[i], img->devices[i].device, ".img",
			 img->devices[i].snapshot, img->devices[i].size);
	return r;
}

static int ckpt_cb(void *ctx, const struct sfs_checkpoint *ck)
{
	struct sfs_rsrc *e;
	int r = collect_add(ctx, sfs_checkpoint_to_json(ck), ck->id, ck->name, ck->created,
			    2 + ck->ndevices, &e);

	if (r < 0)
		return r;
	part_set(&e->parts[0], "ram", ".img", ck->ram.snapshot, ck->ram.size);
	part_set(&e->parts[1], "state", ".bin", ck->state.snapshot, ck->state.size);
	/* RAM and device state are padded to their volume's size when they
	 * came out shorter than the last of the VM (checkpoint create): they
	 * are the recorded length, and QEMU reads nothing after it. */
	e->parts[0].exact = true;
	e->parts[1].exact = true;
	for (size_t i = 0; i < ck->ndevices; i++)
		part_set(&e->parts[2 + i], ck->devices[i].name, ".img", ck->devices[i].snapshot,
			 ck->devices[i].size);
	return 0;
}

static int collect_done(int r, struct collect *c, struct sfs_rsrc **ret, size_t *ret_n)
{
	if (r < 0) {
		sfs_rsrcs_free(c->v, c->n);
		return r;
	}
	*ret = c->v;
	*ret_n = c->n;
	return 0;
}

int sfs_images_collect(struct sfs_txn *txn, struct sfs_rsrc **ret, size_t *ret_n)
{
	struct collect c = { 0 };

	return collect_done(sfs_cat_image_foreach(txn, image_cb, &c), &c, ret, ret_n);
}

int sfs_ckpts_collect(struct sfs_txn *txn, struct sfs_rsrc **ret, size_t *ret_n)
{
	struct collect c = { 0 };

	return collect_done(sfs_cat_checkpoint_foreach(txn, ckpt_cb, &c), &c, ret, ret_n);
}

/* ---- building ---- */

static void timage_release(struct sfs_timage *ti)
{
	free(ti->json);
	free(ti->files);
}

static void tdirs_release(struct sfs_tdirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		timage_release(&d->v[i]);
	free(d->v);
	free(d->by_ino);
	memset(d, 0, sizeof(*d));
}

void sfs_view_rdirs_release(struct sfs_view *v)
{
	tdirs_release(&v->images);
	tdirs_release(&v->ckpts);
}

static int timage_build(struct sfs_view *v, enum sfs_access_kind access,
			const struct sfs_rsrc *src, uint64_t num, struct sfs_timage *ti)
{
	bool image = access == SFS_ACCESS_IMAGE;
	unsigned fkind = image ? SFS_INO_KIND_IMGFILE : SFS_INO_KIND_CKPTFILE;

	memset(ti, 0, sizeof(*ti));
	ti->json = malloc(src->json_len + 1);
	if (!ti->json)
		return -ENOMEM;
	memcpy(ti->json, src->json, src->json_len + 1);
	ti->json_len = src->json_len;
	ti->ino = SFS_INO_MAKE(image ? SFS_INO_KIND_IMAGE : SFS_INO_KIND_CKPT, num);
	ti->access = access;
	snprintf(ti->name, sizeof(ti->name), "%s", src->name);
	ti->mtime = src->created;
	ti->files = calloc(src->nparts + 1, sizeof(*ti->files));
	if (!ti->files)
		return -ENOMEM;
	ti->files[0].ino = SFS_INO_MAKE(fkind, num << SFS_IMGFILE_BITS);
	snprintf(ti->files[0].name, sizeof(ti->files[0].name), "%s",
		 image ? "image.json" : "checkpoint.json");
	ti->files[0].size = ti->json_len;
	ti->files[0].mtime = src->created;
	ti->files[0].data_bytes = ti->json_len;
	ti->nfiles = 1;
	for (size_t i = 0; i < src->nparts; i++) {
		const struct sfs_rpart *p = &src->parts[i];
		const struct sfs_tsnap *ts = sfs_view_snap_by_id(v, p->snapshot);
		struct sfs_timgfile *f = &ti->files[ti->nfiles];

		if (!ts) {
			sfs_log(SFS_LOG_WARN,
				"%s %s: %s is snapshot %s, which is not completed or was "
				"deleted: not shown",
				sfs_access_kind_name(access), src->name, p->file, p->snapshot);
			continue;
		}
		/* Index i + 1, not nfiles: a part's number does not depend on
		 * whether an earlier one is shown. */
		f->ino = SFS_INO_MAKE(fkind, (num << SFS_IMGFILE_BITS) | (i + 1));
		snprintf(f->name, sizeof(f->name), "%s", p->file);
		f->map = ts->map;
		f->size = p->exact || p->size > ts->map.size ? p->size : ts->map.size;
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

int sfs_view_add_rdirs(struct sfs_view *v, enum sfs_access_kind access,
		       const struct sfs_rsrc *src, size_t n, struct sfs_imgnums **nums)
{
	struct sfs_tdirs *d = access == SFS_ACCESS_IMAGE ? &v->images : &v->ckpts;
	int r = 0;

	tdirs_release(d);
	d->v = calloc(n ? n : 1, sizeof(*d->v));
	d->by_ino = calloc(n ? n : 1, sizeof(*d->by_ino));
	if (!d->v || !d->by_ino) {
		r = -ENOMEM;
		goto out_release;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t num;

		r = imgnum_of(nums, src[i].id, &num);
		if (r == 0 && num >= (UINT64_C(1) << (SFS_INO_KIND_SHIFT - SFS_IMGFILE_BITS)))
			r = -EOVERFLOW;
		if (r == 0 && src[i].nparts + 1 >= (1u << SFS_IMGFILE_BITS))
			r = -EOVERFLOW;
		if (r == 0)
			r = timage_build(v, access, &src[i], num, &d->v[d->n]);
		d->n++; /* counted even when half built, so that it is released */
		if (r < 0)
			goto out_release;
	}
	qsort(d->v, d->n, sizeof(*d->v), cmp_timage_name);
	for (size_t i = 0; i < d->n; i++)
		d->by_ino[i] = &d->v[i];
	qsort(d->by_ino, d->n, sizeof(*d->by_ino), cmp_timagep_ino);
	return 0;

out_release:
	tdirs_release(d);
	return r;
}

/* ---- lookups ---- */

const struct sfs_timage *sfs_view_rdir_by_name(const struct sfs_view *v, uint64_t parent,
					       const char *name)
{
	const struct sfs_tdirs *d = parent == SFS_INO_IMAGES	  ? &v->images
				    : parent == SFS_INO_CHECKPOINTS ? &v->ckpts
								    : NULL;
	struct sfs_timage key;

	if (!d || strlen(name) >= sizeof(key.name) || !d->n)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, d->v, d->n, sizeof(key), cmp_timage_name);
}

const struct sfs_timage *sfs_view_image_by_ino(const struct sfs_view *v, uint64_t ino)
{
	const struct sfs_tdirs *d = SFS_INO_KIND(ino) == SFS_INO_KIND_IMAGE  ? &v->images
				    : SFS_INO_KIND(ino) == SFS_INO_KIND_CKPT ? &v->ckpts
									     : NULL;
	size_t lo = 0, hi;

	if (!d)
		return NULL;
	hi = d->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (d->by_ino[mid]->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->n && d->by_ino[lo]->ino == ino ? d->by_ino[lo] : NULL;
}

const struct sfs_timgfile *sfs_view_imgfile_by_ino(const struct sfs_view *v, uint64_t ino,
						   const struct sfs_timage **ret_image)
{
	uint64_t num = SFS_INO_NUM(ino) >> SFS_IMGFILE_BITS;
	const struct sfs_timage *ti;

	if (!sfs_ino_is_rfile(ino))
		return NULL;
	ti = sfs_view_image_by_ino(v, SFS_INO_MAKE(SFS_INO_KIND(ino) == SFS_INO_KIND_IMGFILE
							   ? SFS_INO_KIND_IMAGE
							   : SFS_INO_KIND_CKPT,
						   num));
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
