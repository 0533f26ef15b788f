// SPDX-License-Identifier: MIT
/*
 * The mounted tree as immutable views, one per catalog generation. A view
 * is built in one short read transaction that copies out every completed
 * snapshot and every volume, then sorted so that lookups by name and by
 * inode are binary searches; readdir of thousands of snapshots is a walk
 * over an array. Requests check the generation (one LMDB read of a
 * counter) and rebuild only when the set of snapshots changed, so new
 * snapshots show up without a remount and without polling.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mount_int.h"
#include "snapfs/log.h"

/* A volume's inode number, given the first time this mount sees it. */
struct volnum {
	char name[SFS_NAME_MAX + 1];
	uint64_t num;
};

struct sfs_tree {
	struct sfs_store *store;
	pthread_mutex_t lock; /* guards cur (the pointer, not the view) */
	struct sfs_view *cur;
	pthread_mutex_t build_lock; /* one rebuild at a time; guards volnums */
	struct volnum *volnums; /* sorted by name */
	size_t nvolnums, capvolnums;
	struct sfs_imgnums *imgnums; /* guarded by build_lock */
};

/* What one build collects before it is sorted into a view. */
struct collect {
	struct sfs_tsnap *snaps;
	size_t nsnaps, capsnaps;
	struct sfs_tvol *vols;
	size_t nvols, capvols;
	char (*snapvol)[SFS_NAME_MAX + 1]; /* volume of snaps[i], until linked */
	size_t capsnapvol;
};

/* bsearch and qsort with a NULL base are undefined even for zero items. */
static void *find(const void *key, const void *base, size_t n, size_t size,
		  int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, base, n, size, cmp) : NULL;
}

static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static int collect_volume(void *ctx, const struct sfs_volume *v)
{
	struct collect *c = ctx;
	struct sfs_tvol *tv;

	if (grow((void **)&c->vols, &c->capvols, c->nvols + 1, sizeof(*c->vols)) < 0)
		return -ENOMEM;
	tv = &c->vols[c->nvols++];
	memset(tv, 0, sizeof(*tv));
	snprintf(tv->name, sizeof(tv->name), "%s", v->name);
	tv->mtime = v->created;
	return 0;
}

static int collect_snapshot(void *ctx, const struct sfs_snapshot *sn)
{
	struct collect *c = ctx;
	struct sfs_tsnap *ts;
	struct tm tm;
	time_t t = (time_t)sn->created;
	char stamp[20];

	if (sn->state != SFS_SNAP_COMPLETED)
		return 0;
	if (grow((void **)&c->snaps, &c->capsnaps, c->nsnaps + 1, sizeof(*c->snaps)) < 0 ||
	    grow((void **)&c->snapvol, &c->capsnapvol, c->nsnaps + 1, sizeof(*c->snapvol)) < 0)
		return -ENOMEM;
	snprintf(c->snapvol[c->nsnaps], sizeof(c->snapvol[0]), "%s", sn->volume);
	ts = &c->snaps[c->nsnaps++];
	memset(ts, 0, sizeof(*ts));
	ts->ino = SFS_INO_MAKE(SFS_INO_KIND_SNAP, sn->seq);
	ts->seq = sn->seq;
	ts->created = sn->created;
	ts->data_bytes = sn->data_bytes;
	sfs_snapmap_from_snapshot(sn, &ts->map);
	if (!gmtime_r(&t, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm))
		snprintf(stamp, sizeof(stamp), "00000000T000000Z");
	snprintf(ts->vname, sizeof(ts->vname), "%s-%s.img", stamp, sn->id);
	return 0;
}

static int cmp_snap_id(const void *a, const void *b)
{
	return strcmp(((const struct sfs_tsnap *)a)->map.id, ((const struct sfs_tsnap *)b)->map.id);
}

static int cmp_snapp_seq(const void *a, const void *b)
{
	const struct sfs_tsnap *x = *(struct sfs_tsnap *const *)a, *y = *(struct sfs_tsnap *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_snapp_vname(const void *a, const void *b)
{
	return strcmp((*(struct sfs_tsnap *const *)a)->vname, (*(struct sfs_tsnap *const *)b)->vname);
}

static int cmp_vol_name(const void *a, const void *b)
{
	return strcmp(((const struct sfs_tvol *)a)->name, ((const struct sfs_tvol *)b)->name);
}

static int cmp_volp_ino(const void *a, const void *b)
{
	const struct sfs_tvol *x = *(struct sfs_tvol *const *)a, *y = *(struct sfs_tvol *const *)b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_volnum(const void *a, const void *b)
{
	return strcmp(((const struct volnum *)a)->name, ((const struct volnum *)b)->name);
}

/* The inode number of volume `name`: looked up, or given now. Called with
 * build_lock held. */
static int volnum_of(struct sfs_tree *t, const char *name, uint64_t *ret)
{
	struct volnum key, *hit;
	size_t lo = 0, hi = t->nvolnums;

	snprintf(key.name, sizeof(key.name), "%s", name);
	hit = find(&key, t->volnums, t->nvolnums, sizeof(key), cmp_volnum);
	if (hit) {
		*ret = hit->num;
		return 0;
	}
	if (grow((void **)&t->volnums, &t->capvolnums, t->nvolnums + 1, sizeof(key)) < 0)
		return -ENOMEM;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(t->volnums[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&t->volnums[lo + 1], &t->volnums[lo], (t->nvolnums - lo) * sizeof(key));
	/* Numbers follow first sight, so they are never reused in this mount. */
	key.num = t->nvolnums + 1;
	t->volnums[lo] = key;
	t->nvolnums++;
	*ret = key.num;
	return 0;
}

static void view_free(struct sfs_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nvols; i++) {
		free(v->vols[i].snaps);
		free(v->vols[i].by_vname);
	}
	free(v->vols);
	free(v->by_ino);
	free(v->snaps);
	free(v->by_seq);
	sfs_view_images_release(v);
	free(v);
}

void sfs_view_put(struct sfs_view *v)
{
	if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
		view_free(v);
}

/* Adds the volumes that snapshots name but the volume table lacks, so
 * that no completed snapshot is left out of volumes/. */
static int add_missing_volumes(struct collect *c)
{
	sort(c->vols, c->nvols, sizeof(*c->vols), cmp_vol_name);
	for (size_t i = 0; i < c->nsnaps; i++) {
		struct sfs_tvol key;

		snprintf(key.name, sizeof(key.name), "%s", c->snapvol[i]);
		if (find(&key, c->vols, c->nvols, sizeof(key), cmp_vol_name))
			continue;
		if (grow((void **)&c->vols, &c->capvols, c->nvols + 1, sizeof(*c->vols)) < 0)
			return -ENOMEM;
		memset(&c->vols[c->nvols], 0, sizeof(c->vols[0]));
		memcpy(c->vols[c->nvols].name, key.name, sizeof(key.name));
		c->nvols++;
		sort(c->vols, c->nvols, sizeof(*c->vols), cmp_vol_name);
	}
	return 0;
}

/* Sorts what was collected into a view; takes ownership of c's arrays. */
static int view_assemble(struct sfs_tree *t, struct collect *c, uint64_t gen,
			 struct sfs_view **ret)
{
	struct sfs_view *v = calloc(1, sizeof(*v));
	int r = -ENOMEM;

	if (!v)
		goto out;
	v->refs = 1;
	v->generation = gen;
	r = add_missing_volumes(c);
	if (r < 0)
		goto out;
	/* Link snapshots to volumes before sorting snaps, as snapvol[] follows
	 * the order of collection. */
	for (size_t i = 0; i < c->nsnaps; i++) {
		struct sfs_tvol key, *tv;

		snprintf(key.name, sizeof(key.name), "%s", c->snapvol[i]);
		tv = find(&key, c->vols, c->nvols, sizeof(key), cmp_vol_name);
		tv->nsnaps++; /* counted now, filled below */
		c->snaps[i].volume = tv->name;
	}
	sort(c->snaps, c->nsnaps, sizeof(*c->snaps), cmp_snap_id);
	v->snaps = c->snaps;
	v->nsnaps = c->nsnaps;
	v->vols = c->vols;
	v->nvols = c->nvols;
	c->snaps = NULL;
	c->vols = NULL;
	c->nsnaps = c->nvols = 0;

	v->by_seq = calloc(v->nsnaps ? v->nsnaps : 1, sizeof(*v->by_seq));
	v->by_ino = calloc(v->nvols ? v->nvols : 1, sizeof(*v->by_ino));
	if (!v->by_seq || !v->by_ino)
		goto out_nomem;
	for (size_t i = 0; i < v->nvols; i++) {
		struct sfs_tvol *tv = &v->vols[i];
		uint64_t num;

		r = volnum_of(t, tv->name, &num);
		if (r < 0)
			goto out;
		tv->ino = SFS_INO_MAKE(SFS_INO_KIND_VOL, num);
		tv->latest_ino = SFS_INO_MAKE(SFS_INO_KIND_LATEST, num);
		tv->snaps = calloc(tv->nsnaps ? tv->nsnaps : 1, sizeof(*tv->snaps));
		tv->by_vname = calloc(tv->nsnaps ? tv->nsnaps : 1, sizeof(*tv->by_vname));
		if (!tv->snaps || !tv->by_vname)
			goto out_nomem;
		tv->nsnaps = 0; /* refilled below */
		v->by_ino[i] = tv;
	}
	for (size_t i = 0; i < v->nsnaps; i++) {
		struct sfs_tsnap *ts = &v->snaps[i];
		struct sfs_tvol *tv = (struct sfs_tvol *)sfs_view_vol_by_name(v, ts->volume);

		v->by_seq[i] = ts;
		tv->snaps[tv->nsnaps] = ts;
		tv->by_vname[tv->nsnaps++] = ts;
		if (ts->created > v->mtime)
			v->mtime = ts->created;
	}
	sort(v->by_seq, v->nsnaps, sizeof(*v->by_seq), cmp_snapp_seq);
	sort(v->by_ino, v->nvols, sizeof(*v->by_ino), cmp_volp_ino);
	for (size_t i = 0; i < v->nvols; i++) {
		struct sfs_tvol *tv = &v->vols[i];

		sort(tv->snaps, tv->nsnaps, sizeof(*tv->snaps), cmp_snapp_seq);
		sort(tv->by_vname, tv->nsnaps, sizeof(*tv->by_vname), cmp_snapp_vname);
		if (tv->nsnaps) {
			const struct sfs_tsnap *last = tv->snaps[tv->nsnaps - 1];
			snprintf(tv->latest, sizeof(tv->latest), "../../snapshots/%s.img",
				 last->map.id);
			if (last->created > tv->mtime)
				tv->mtime = last->created;
		}
	}
	*ret = v;
	return 0;

out_nomem:
	r = -ENOMEM;
out:
	view_free(v);
	return r;
}

static int view_build(struct sfs_tree *t, struct sfs_view **ret)
{
	struct collect c = { 0 };
	struct sfs_image *imgs = NULL;
	struct sfs_txn *txn;
	uint64_t gen = 0;
	size_t nimgs = 0;
	int r;

	r = sfs_txn_begin(t->store, false, &txn);
	if (r < 0)
		return sfs_log_errno(r, "cannot read the catalog");
	r = sfs_cat_generation(txn, &gen);
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = sfs_cat_volume_foreach(txn, collect_volume, &c);
	if (r == 0)
		r = sfs_cat_snapshot_foreach(txn, NULL, collect_snapshot, &c);
	/* A damaged image record hides images/, not the snapshots. */
	if (r == 0 && sfs_images_collect(txn, &imgs, &nimgs) < 0)
		sfs_log(SFS_LOG_ERR, "cannot list the images: the catalog's images are damaged");
	sfs_txn_abort(txn);
	if (r == 0)
		r = view_assemble(t, &c, gen, ret);
	else
		sfs_log(SFS_LOG_ERR, "cannot list the catalog: %s", strerror(-r));
	if (r == 0) {
		r = sfs_view_add_images(*ret, t->store, imgs, nimgs, &t->imgnums);
		if (r < 0) {
			sfs_log(SFS_LOG_ERR, "cannot list the images: %s", strerror(-r));
			view_free(*ret);
			*ret = NULL;
		}
	}
	sfs_images_free(imgs, nimgs);
	free(c.snaps);
	free(c.vols);
	free(c.snapvol);
	return r;
}

int sfs_tree_new(struct sfs_store *s, struct sfs_tree **ret)
{
	struct sfs_tree *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->store = s;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->build_lock, NULL);
	r = view_build(t, &t->cur);
	if (r < 0) {
		sfs_tree_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void sfs_tree_free(struct sfs_tree *t)
{
	if (!t)
		return;
	sfs_view_put(t->cur);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->build_lock);
	free(t->volnums);
	sfs_imgnums_free(t->imgnums);
	free(t);
}

struct sfs_view *sfs_tree_get(struct sfs_tree *t)
{
	struct sfs_view *v;

	pthread_mutex_lock(&t->lock);
	v = t->cur;
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
	return v;
}

static uint64_t current_generation(struct sfs_tree *t)
{
	uint64_t g;

	pthread_mutex_lock(&t->lock);
	g = t->cur->generation;
	pthread_mutex_unlock(&t->lock);
	return g;
}

int sfs_tree_refresh(struct sfs_tree *t)
{
	struct sfs_view *v, *old;
	struct sfs_txn *txn;
	uint64_t gen = 0;
	int r;

	r = sfs_txn_begin(t->store, false, &txn);
	if (r < 0)
		return r;
	r = sfs_cat_generation(txn, &gen);
	sfs_txn_abort(txn);
	if (r < 0 && r != -ENOENT)
		return r;
	if (gen == current_generation(t))
		return 0;
	pthread_mutex_lock(&t->build_lock);
	/* Another thread may have rebuilt while this one waited. */
	if (current_generation(t) >= gen) {
		pthread_mutex_unlock(&t->build_lock);
		return 0;
	}
	r = view_build(t, &v);
	pthread_mutex_unlock(&t->build_lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&t->lock);
	old = t->cur;
	t->cur = v;
	pthread_mutex_unlock(&t->lock);
	sfs_view_put(old);
	return 0;
}

const struct sfs_tsnap *sfs_view_snap_by_ino(const struct sfs_view *v, uint64_t ino)
{
	size_t lo = 0, hi = v->nsnaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->by_seq[mid]->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nsnaps && v->by_seq[lo]->ino == ino ? v->by_seq[lo] : NULL;
}

const struct sfs_tsnap *sfs_view_snap_by_id(const struct sfs_view *v, const char *id)
{
	struct sfs_tsnap key;

	if (strlen(id) >= sizeof(key.map.id))
		return NULL;
	snprintf(key.map.id, sizeof(key.map.id), "%s", id);
	return find(&key, v->snaps, v->nsnaps, sizeof(key), cmp_snap_id);
}

const struct sfs_tvol *sfs_view_vol_by_ino(const struct sfs_view *v, uint64_t ino)
{
	size_t lo = 0, hi = v->nvols;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->by_ino[mid]->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nvols && v->by_ino[lo]->ino == ino ? v->by_ino[lo] : NULL;
}

const struct sfs_tvol *sfs_view_vol_by_name(const struct sfs_view *v, const char *name)
{
	struct sfs_tvol key;

	if (strlen(name) >= sizeof(key.name))
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return find(&key, v->vols, v->nvols, sizeof(key), cmp_vol_name);
}

const struct sfs_tsnap *sfs_tvol_snap_by_vname(const struct sfs_tvol *vol, const char *name)
{
	size_t lo = 0, hi = vol->nsnaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(vol->by_vname[mid]->vname, name);
		if (c == 0)
			return vol->by_vname[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
