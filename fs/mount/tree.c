// SPDX-License-Identifier: MIT
/*
 * The mounted tree. Lookups go straight to the catalog: a snapshot by id,
 * a volume by name, a volume's newest snapshot, each one short read
 * transaction, so the first byte of a fresh mount costs the same with ten
 * thousand snapshots as with one. Listings need every snapshot, so they
 * read immutable views, one per catalog generation, built only when a
 * directory that lists snapshots is opened: one read transaction copies
 * out every completed snapshot and volume, sorted so that readdir of
 * thousands of snapshots is a walk over an array. Requests check the
 * generation (one LMDB read of a counter), so new snapshots show up
 * without a remount and without polling.
 *
 * Inode numbers come from the catalog (a snapshot's seq) or from tables
 * kept here (volumes), never from a view, so both paths give the same
 * numbers. The kernel may ask for the attributes of a snapshot file it
 * holds after the snapshot was deleted; the node table keeps a copy of
 * every snapshot inode handed out until the kernel forgets it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mount_int.h"
#include "tree_int.h"
#include "snapfs/catalog_scan.h"
#include "snapfs/log.h"

/* What one build collects before it is sorted into a view. */
struct collect {
	struct sfs_tsnap *snaps;
	size_t nsnaps, capsnaps;
	struct sfs_tvol *vols;
	size_t nvols, capvols;
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

/* The one place a snapshot becomes what the mount shows, for views and
 * lookups alike: the inode number follows from seq alone. */
static void tsnap_fill(struct sfs_tsnap *ts, const struct sfs_snapshot_brief *sn)
{
	struct tm tm;
	time_t t = (time_t)sn->created;
	char stamp[20];

	memset(ts, 0, sizeof(*ts));
	ts->ino = SFS_INO_MAKE(SFS_INO_KIND_SNAP, sn->seq);
	ts->seq = sn->seq;
	ts->created = sn->created;
	ts->created_ns = sn->created_ns;
	ts->data_bytes = sn->data_bytes;
	memcpy(ts->map.id, sn->id, sizeof(ts->map.id));
	ts->map.size = sn->size;
	ts->map.block_size = sn->block_size;
	ts->map.depth = sn->depth;
	ts->map.root = sn->root;
	memcpy(ts->volume, sn->volume, sizeof(ts->volume));
	if (!gmtime_r(&t, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm))
		snprintf(stamp, sizeof(stamp), "00000000T000000");
	/* The fraction, fixed width, makes plain ls order creation order
	 * even for snapshots taken in the same second. */
	snprintf(ts->vname, sizeof(ts->vname), "%s.%09uZ-%s.img", stamp, (unsigned)sn->created_ns,
		 sn->id);
}

static void brief_of(const struct sfs_snapshot *sn, struct sfs_snapshot_brief *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->id, sn->id, sizeof(ret->id));
	memcpy(ret->volume, sn->volume, sizeof(ret->volume));
	ret->state = sn->state;
	ret->seq = sn->seq;
	ret->created = sn->created;
	ret->created_ns = sn->created_ns;
	ret->size = sn->size;
	ret->block_size = sn->block_size;
	ret->depth = sn->depth;
	ret->root = sn->root;
	ret->data_bytes = sn->data_bytes;
}

static int collect_snapshot(void *ctx, const struct sfs_snapshot_brief *sn)
{
	struct collect *c = ctx;

	if (sn->state != SFS_SNAP_COMPLETED)
		return 0;
	if (grow((void **)&c->snaps, &c->capsnaps, c->nsnaps + 1, sizeof(*c->snaps)) < 0)
		return -ENOMEM;
	tsnap_fill(&c->snaps[c->nsnaps++], sn);
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

static int cmp_snapp_created(const void *a, const void *b)
{
	const struct sfs_tsnap *x = *(struct sfs_tsnap *const *)a, *y = *(struct sfs_tsnap *const *)b;

	return sfs_snap_created_cmp(x->created, x->created_ns, x->seq, y->created, y->created_ns,
				    y->seq);
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

static int volnum_locked(struct sfs_tree *t, const char *name, uint64_t *ret)
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

/* The name of the volume numbered num, or -ENOENT: a number this mount
 * never gave. Volumes are few; a scan is fine. */
static int volname_of(struct sfs_tree *t, uint64_t num, char ret[SFS_NAME_MAX + 1])
{
	int r = -ENOENT;

	pthread_mutex_lock(&t->num_lock);
	for (size_t i = 0; i < t->nvolnums; i++) {
		if (t->volnums[i].num == num) {
			memcpy(ret, t->volnums[i].name, SFS_NAME_MAX + 1);
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&t->num_lock);
	return r;
}

/* The inode number of volume `name`: looked up, or given now. */
static int volnum_of(struct sfs_tree *t, const char *name, uint64_t *ret)
{
	int r;

	pthread_mutex_lock(&t->num_lock);
	r = volnum_locked(t, name, ret);
	pthread_mutex_unlock(&t->num_lock);
	return r;
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
	sfs_view_rdirs_release(v);
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

		memcpy(key.name, c->snaps[i].volume, sizeof(key.name));
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
	for (size_t i = 0; i < c->nsnaps; i++) {
		struct sfs_tvol key, *tv;

		memcpy(key.name, c->snaps[i].volume, sizeof(key.name));
		tv = find(&key, c->vols, c->nvols, sizeof(key), cmp_vol_name);
		tv->nsnaps++; /* counted now, filled below */
	}
	/* The catalog walks snapshots in id order: sort only if a record's id
	 * disagrees with its key. */
	for (size_t i = 1; i < c->nsnaps; i++) {
		if (cmp_snap_id(&c->snaps[i - 1], &c->snaps[i]) > 0) {
			sort(c->snaps, c->nsnaps, sizeof(*c->snaps), cmp_snap_id);
			break;
		}
	}
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

		/* Listed, and latest.img chosen, in creation order: a copy of
		 * an older snapshot arrives with a higher seq. */
		sort(tv->snaps, tv->nsnaps, sizeof(*tv->snaps), cmp_snapp_created);
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
	struct sfs_rsrc *imgs = NULL, *ckpts = NULL;
	struct sfs_view *v = NULL;
	struct sfs_txn *txn;
	uint64_t gen = 0;
	size_t nimgs = 0, nckpts = 0;
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
		r = sfs_cat_snapshot_scan(txn, collect_snapshot, &c);
	/* A damaged image or checkpoint record hides its directory, not the
	 * snapshots. */
	if (r == 0 && sfs_images_collect(txn, &imgs, &nimgs) < 0)
		sfs_log(SFS_LOG_ERR, "cannot list the images: the catalog's images are damaged");
	if (r == 0 && sfs_ckpts_collect(txn, &ckpts, &nckpts) < 0)
		sfs_log(SFS_LOG_ERR,
			"cannot list the checkpoints: the catalog's checkpoints are damaged");
	sfs_txn_abort(txn);
	if (r == 0)
		r = view_assemble(t, &c, gen, &v);
	else
		sfs_log(SFS_LOG_ERR, "cannot list the catalog: %s", strerror(-r));
	if (r == 0) {
		r = sfs_view_add_rdirs(v, SFS_ACCESS_IMAGE, imgs, nimgs, &t->imgnums);
		if (r < 0)
			sfs_log(SFS_LOG_ERR, "cannot list the images: %s", strerror(-r));
	}
	if (r == 0) {
		r = sfs_view_add_rdirs(v, SFS_ACCESS_CHECKPOINT, ckpts, nckpts, &t->imgnums);
		if (r < 0)
			sfs_log(SFS_LOG_ERR, "cannot list the checkpoints: %s", strerror(-r));
	}
	if (r < 0)
		view_free(v);
	else
		*ret = v;
	sfs_rsrcs_free(imgs, nimgs);
	sfs_rsrcs_free(ckpts, nckpts);
	free(c.snaps);
	free(c.vols);
	return r;
}

struct stat_ctx {
	struct sfs_txn *txn;
	int64_t mtime;
};

static int stat_volume(void *ctx, const struct sfs_volume *vol)
{
	struct stat_ctx *c = ctx;
	struct sfs_snapshot sn;
	int r = sfs_cat_snapshot_latest(c->txn, vol->name, &sn);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (sn.created > c->mtime)
		c->mtime = sn.created;
	sfs_snapshot_release(&sn);
	return 0;
}

/* The cheap facts of generation gen: counts from LMDB and the newest
 * snapshot of each volume, O(volumes) records decoded. */
static int stat_read(struct sfs_txn *txn, uint64_t gen, struct sfs_tree_stat *ret)
{
	struct stat_ctx c = { .txn = txn };
	struct sfs_cat_counts n;
	int r = sfs_cat_counts(txn, &n);

	if (r == 0)
		r = sfs_cat_volume_foreach(txn, stat_volume, &c);
	if (r < 0)
		return r;
	ret->generation = gen;
	ret->mtime = c.mtime;
	ret->nsnaps = n.snapshots;
	ret->nvols = n.volumes;
	return 0;
}

int sfs_tree_new(struct sfs_store *s, struct sfs_tree **ret)
{
	struct sfs_tree *t = calloc(1, sizeof(*t));
	struct sfs_txn *txn;
	uint64_t gen = 0;
	int r;

	if (!t)
		return -ENOMEM;
	t->store = s;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->build_lock, NULL);
	pthread_mutex_init(&t->num_lock, NULL);
	pthread_mutex_init(&t->node_lock, NULL);
	r = sfs_txn_begin(s, false, &txn);
	if (r < 0) {
		sfs_tree_free(t);
		return sfs_log_errno(r, "cannot read the catalog");
	}
	r = sfs_cat_generation(txn, &gen);
	if (r == 0 || r == -ENOENT)
		r = stat_read(txn, gen, &t->stat);
	sfs_txn_abort(txn);
	if (r < 0) {
		sfs_tree_free(t);
		return sfs_log_errno(r, "cannot read the catalog");
	}
	*ret = t;
	return 0;
}

void sfs_tree_free(struct sfs_tree *t)
{
	if (!t)
		return;
	sfs_view_put(t->cur);
	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->nodes[i]) {
			struct node *n = t->nodes[i];
			t->nodes[i] = n->next;
			free(n);
		}
	}
	free(t->nodes);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->build_lock);
	pthread_mutex_destroy(&t->num_lock);
	pthread_mutex_destroy(&t->node_lock);
	free(t->volnums);
	sfs_imgnums_free(t->imgnums);
	free(t);
}

void sfs_tree_stat(struct sfs_tree *t, struct sfs_tree_stat *ret)
{
	pthread_mutex_lock(&t->lock);
	*ret = t->stat;
	pthread_mutex_unlock(&t->lock);
}

/* The current view, if built for the current generation, held. */
static struct sfs_view *view_current(struct sfs_tree *t, bool stale_ok)
{
	struct sfs_view *v;

	pthread_mutex_lock(&t->lock);
	v = t->cur;
	if (v && (stale_ok || v->generation >= t->stat.generation))
		__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	else
		v = NULL;
	pthread_mutex_unlock(&t->lock);
	return v;
}

int sfs_tree_get(struct sfs_tree *t, struct sfs_view **ret)
{
	struct sfs_view *v = NULL, *old;
	int r;

	*ret = view_current(t, false);
	if (*ret)
		return 0;
	pthread_mutex_lock(&t->build_lock);
	/* Another thread may have built it while this one waited. */
	*ret = view_current(t, false);
	if (*ret) {
		pthread_mutex_unlock(&t->build_lock);
		return 0;
	}
	r = view_build(t, &v);
	pthread_mutex_unlock(&t->build_lock);
	if (r < 0) {
		/* A catalog that cannot be listed now leaves the last view in
		 * place: stale names beat a failing mount. */
		*ret = view_current(t, true);
		return *ret ? 0 : r;
	}
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED); /* the caller's */
	pthread_mutex_lock(&t->lock);
	old = t->cur;
	t->cur = v;
	pthread_mutex_unlock(&t->lock);
	sfs_view_put(old);
	*ret = v;
	return 0;
}

struct sfs_view *sfs_tree_peek(struct sfs_tree *t)
{
	return view_current(t, true);
}

int sfs_tree_refresh(struct sfs_tree *t)
{
	struct sfs_tree_stat st;
	struct sfs_txn *txn;
	uint64_t gen = 0;
	bool same;
	int r;

	r = sfs_txn_begin(t->store, false, &txn);
	if (r < 0)
		return r;
	r = sfs_cat_generation(txn, &gen);
	if (r == -ENOENT)
		r = 0;
	pthread_mutex_lock(&t->lock);
	same = gen <= t->stat.generation;
	pthread_mutex_unlock(&t->lock);
	/* The view is rebuilt when a listing next needs it; only the cheap
	 * facts are read now. */
	if (r == 0 && !same)
		r = stat_read(txn, gen, &st);
	sfs_txn_abort(txn);
	if (r < 0 || same)
		return r;
	pthread_mutex_lock(&t->lock);
	if (st.generation > t->stat.generation)
		t->stat = st;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* ---- lookups straight from the catalog ---- */

int sfs_tree_snap(struct sfs_tree *t, const char *id, struct sfs_tsnap *ret)
{
	struct sfs_snapshot_brief b;
	struct sfs_snapshot sn;
	struct sfs_txn *txn;
	int r;

	if (!sfs_idstr_valid(id, "snap-"))
		return -ENOENT;
	r = sfs_txn_begin(t->store, false, &txn);
	if (r < 0)
		return r;
	r = sfs_cat_snapshot_get(txn, id, &sn);
	sfs_txn_abort(txn);
	if (r < 0)
		return r;
	brief_of(&sn, &b);
	sfs_snapshot_release(&sn);
	if (b.state != SFS_SNAP_COMPLETED)
		return -ENOENT;
	tsnap_fill(ret, &b);
	return 0;
}

int sfs_tree_vol_snap(struct sfs_tree *t, const char *volume, const char *name,
		      struct sfs_tsnap *ret)
{
	/* name is "YYYYMMDDTHHMMSS.nnnnnnnnnZ-" + id + ".img"; the whole
	 * name is compared with the one tsnap_fill makes below. */
	enum { STAMP = sizeof("YYYYMMDDTHHMMSS.nnnnnnnnnZ-") - 1 };
	char id[SFS_IDSTR_SIZE];
	size_t len = strlen(name);
	int r;

	if (len <= STAMP + 4 || len - STAMP - 4 >= sizeof(id) || name[STAMP - 1] != '-' ||
	    strcmp(name + len - 4, ".img"))
		return -ENOENT;
	memcpy(id, name + STAMP, len - STAMP - 4);
	id[len - STAMP - 4] = '\0';
	r = sfs_tree_snap(t, id, ret);
	if (r == 0 && (strcmp(ret->volume, volume) || strcmp(ret->vname, name)))
		r = -ENOENT;
	return r;
}

/* Fills ret for volume name, whose number is num (0: look it up or give
 * one). Reads the volume record, its index and its newest snapshot. */
static int vol_read(struct sfs_tree *t, const char *name, uint64_t num, struct sfs_tvolinfo *ret)
{
	struct sfs_volume vol;
	struct sfs_snapshot sn;
	struct sfs_txn *txn;
	bool have_record;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (strlen(name) >= sizeof(ret->name))
		return -ENOENT;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	r = sfs_txn_begin(t->store, false, &txn);
	if (r < 0)
		return r;
	r = sfs_cat_volume_get(txn, name, &vol);
	have_record = r == 0;
	if (have_record) {
		ret->mtime = vol.created;
		sfs_volume_release(&vol);
	}
	if (r == 0 || r == -ENOENT)
		r = sfs_cat_volume_snapshot_count(txn, name, &ret->nsnaps);
	if (r == 0) {
		r = sfs_cat_snapshot_latest(txn, name, &sn);
		if (r == 0) {
			snprintf(ret->latest, sizeof(ret->latest), "../../snapshots/%s.img", sn.id);
			ret->latest_created = sn.created;
			if (sn.created > ret->mtime)
				ret->mtime = sn.created;
			sfs_snapshot_release(&sn);
		} else if (r == -ENOENT) {
			r = 0;
		}
	}
	sfs_txn_abort(txn);
	/* A volume the table lacks is still shown while snapshots name it. */
	if (r == 0 && !have_record && !ret->nsnaps)
		r = -ENOENT;
	if (r == 0 && !num)
		r = volnum_of(t, name, &num);
	if (r < 0)
		return r;
	ret->ino = SFS_INO_MAKE(SFS_INO_KIND_VOL, num);
	ret->latest_ino = SFS_INO_MAKE(SFS_INO_KIND_LATEST, num);
	return 0;
}

int sfs_tree_vol_by_name(struct sfs_tree *t, const char *name, struct sfs_tvolinfo *ret)
{
	if (!sfs_name_valid(name))
		return -ENOENT;
	return vol_read(t, name, 0, ret);
}

int sfs_tree_vol_by_ino(struct sfs_tree *t, uint64_t ino, struct sfs_tvolinfo *ret)
{
	char name[SFS_NAME_MAX + 1];
	uint64_t num = SFS_INO_NUM(ino);
	int r = volname_of(t, num, name);

	return r < 0 ? r : vol_read(t, name, num, ret);
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
