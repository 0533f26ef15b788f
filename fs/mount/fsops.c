// SPDX-License-Identifier: MIT
/*
 * The FUSE low-level operations: a thin shim that maps inodes and names to
 * the tree's views and reads to the reader. Every snapshot is a read-only
 * file whose bytes never change, so the kernel may cache them for good
 * (keep_cache, long attribute timeouts); names are cached for a second
 * only, because snapshots come and go while mounted. Errors keep their
 * errno, except that a block whose stored bytes fail verification fails
 * the read with EIO, which is what programs expect of a bad sector.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsops_files.h"
#include "fsops_int.h"
#include "mount.h"
#include "mount_int.h"
#include "snapfs/log.h"

/* What an open file carries: a copy of its map, so reads need neither
 * the tree nor the catalog, and its stream, whose pattern the reader
 * follows to read ahead. An image's device
 * file may be larger than its snapshot (size > map.size: the rest reads as
 * zeros); an image.json carries its bytes (data). */
struct handle {
	struct sfs_snapmap map;
	struct sfs_reader_stream *stream;
	uint64_t size;
	char *data; /* image.json only */
};

static struct sfs_mount *mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Picks up new or deleted snapshots. A catalog that cannot be read now
 * leaves the last state in place: stale names beat a failing mount. */
static void refresh(struct sfs_mount *mt)
{
	int r = sfs_tree_refresh(mt->tree);

	if (r < 0)
		sfs_log(SFS_LOG_WARN, "cannot refresh the snapshot list: %s", strerror(-r));
}

static bool is_dir_ino(uint64_t ino)
{
	return ino == SFS_INO_ROOT || ino == SFS_INO_SNAPSHOTS || ino == SFS_INO_VOLUMES ||
	       ino == SFS_INO_IMAGES || ino == SFS_INO_CHECKPOINTS ||
	       SFS_INO_KIND(ino) == SFS_INO_KIND_VOL || sfs_ino_is_rdir(ino);
}

/* How long the kernel may keep what it was told about ino. Zero for a
 * gated node on a mount others reach: the kernel's caches are shared by
 * all callers, so a name or attributes cached for a permitted caller
 * would let anyone else stat the node without asking the gate. */
static double timeout_of(const struct sfs_mount *mt, uint64_t ino, double timeout)
{
	return mt->opts.allow_other && sfs_ino_gated(ino) ? 0.0 : timeout;
}

static void fill_entry(struct sfs_mount *mt, const struct sfs_view *v, uint64_t ino,
		       struct fuse_entry_param *e)
{
	double attr_timeout;

	memset(e, 0, sizeof(*e));
	if (sfs_attr_of(mt, v, ino, &e->attr, &attr_timeout) < 0)
		return;
	e->ino = ino;
	e->generation = 1; /* inode numbers are never reused in a mount */
	e->attr_timeout = timeout_of(mt, ino, attr_timeout);
	e->entry_timeout = timeout_of(mt, ino, ENTRY_TIMEOUT);
}

static void entry_of(const struct sfs_mount *mt, struct stat *st, double attr_timeout,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr = *st;
	e->ino = st->st_ino;
	e->generation = 1; /* inode numbers are never reused in a mount */
	e->attr_timeout = timeout_of(mt, e->ino, attr_timeout);
	e->entry_timeout = timeout_of(mt, e->ino, ENTRY_TIMEOUT);
}

/* A snapshot file found by a lookup: counted in the node table, as the
 * kernel now holds its inode. */
static int snap_entry(struct sfs_mount *mt, const struct sfs_tsnap *ts, struct stat *st,
		      double *ret_timeout)
{
	int r = sfs_tree_node_ref(mt->tree, ts);

	if (r < 0)
		return r;
	sfs_attr_snap(mt, st, ts);
	*ret_timeout = FILE_ATTR_TIMEOUT;
	return 0;
}

/* The device file "<device>.img" of image ti whose files name shows
 * ("<device>.files"), or NULL. */
static const struct sfs_timgfile *files_dev(const struct sfs_timage *ti, const char *name)
{
	size_t len = strlen(name), sfx = strlen(SFS_DEV_FILES_SUFFIX);
	char img[SFS_DEVNAME_MAX + 8];

	if (len <= sfx || strcmp(name + len - sfx, SFS_DEV_FILES_SUFFIX) ||
	    (size_t)snprintf(img, sizeof(img), "%.*s.img", (int)(len - sfx), name) >= sizeof(img))
		return NULL;
	return sfs_timage_file_by_name(ti, img);
}

/* The child name of parent in images/ or checkpoints/, from a view, if
 * the caller may use its record. An image's "<device>.files" is the
 * top of the device's files, a files/ inode gated as the image. */
static int lookup_image(fuse_req_t req, struct sfs_mount *mt, uint64_t parent, const char *name,
			struct stat *st, double *ret_timeout)
{
	const struct sfs_timage *ti;
	const struct sfs_timgfile *tf, *dev = NULL;
	struct sfs_view *v;
	uint64_t ino = 0;
	int r = sfs_tree_get(mt->tree, &v);

	if (r < 0)
		return r;
	if (parent == SFS_INO_IMAGES || parent == SFS_INO_CHECKPOINTS) {
		ti = sfs_view_rdir_by_name(v, parent, name);
		ino = ti ? ti->ino : 0;
	} else {
		ti = sfs_view_image_by_ino(v, parent);
		tf = ti ? sfs_timage_file_by_name(ti, name) : NULL;
		ino = tf ? tf->ino : 0;
		if (!tf && ti && SFS_INO_KIND(parent) == SFS_INO_KIND_IMAGE)
			dev = files_dev(ti, name);
	}
	r = ino || dev ? sfs_gate(req, mt, ti->access, ti->name) : -ENOENT;
	if (r == 0 && dev) {
		r = sfs_files_image_dev(mt, ti, dev, &ino);
		if (r == 0)
			r = sfs_files_stat(mt, ino, st, ret_timeout);
	} else if (r == 0) {
		r = sfs_attr_of(mt, v, ino, st, ret_timeout);
	}
	sfs_view_put(v);
	return r;
}

/* Valid replies: fuse_reply_entry, fuse_reply_err. Snapshots and volumes
 * are looked up in the catalog, not in a listing, so a lookup costs the
 * same however many snapshots the store holds. */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs_mount *mt = mount_of(req);
	struct fuse_entry_param e;
	struct sfs_tvolinfo vi;

	SFS_COUNT(mt, lookups, 1);
	struct sfs_tsnap ts;
	struct stat st;
	double timeout;
	size_t len = strlen(name);
	int r = -ENOENT;

	refresh(mt);
	if (sfs_files_ino(parent)) {
		sfs_files_lookup(req, parent, name);
		return;
	}
	sfs_attr_init(mt, &st, &timeout);
	if (parent == SFS_INO_ROOT) {
		uint64_t ino = !strcmp(name, "snapshots") ? SFS_INO_SNAPSHOTS
			       : !strcmp(name, "volumes") ? SFS_INO_VOLUMES
			       : !strcmp(name, "images")  ? SFS_INO_IMAGES
			       : !strcmp(name, "checkpoints") ? SFS_INO_CHECKPOINTS
			       : !strcmp(name, "files")   ? SFS_INO_FILES
							  : 0;
		if (ino)
			r = sfs_attr_top(mt, ino, &st);
	} else if (parent == SFS_INO_SNAPSHOTS) {
		char id[SFS_IDSTR_SIZE];

		if (len > 4 && len - 4 < sizeof(id) && !strcmp(name + len - 4, ".img")) {
			memcpy(id, name, len - 4);
			id[len - 4] = '\0';
			r = sfs_tree_snap(mt->tree, id, &ts);
			if (r == 0)
				r = sfs_gate(req, mt, SFS_ACCESS_SNAPSHOT, ts.map.id);
			if (r == 0)
				r = snap_entry(mt, &ts, &st, &timeout);
		}
	} else if (parent == SFS_INO_VOLUMES) {
		r = sfs_tree_vol_by_name(mt->tree, name, &vi);
		if (r == 0)
			r = sfs_gate(req, mt, SFS_ACCESS_VOLUME, vi.name);
		if (r == 0)
			sfs_attr_dir(mt, &st, vi.ino, 2, vi.mtime, (off_t)vi.nsnaps);
	} else if (parent == SFS_INO_IMAGES || parent == SFS_INO_CHECKPOINTS ||
		   sfs_ino_is_rdir(parent)) {
		r = lookup_image(req, mt, parent, name, &st, &timeout);
	} else if (SFS_INO_KIND(parent) == SFS_INO_KIND_VOL) {
		r = sfs_tree_vol_by_ino(mt->tree, parent, &vi);
		/* Checked again here, not only at the directory: a directory
		 * opened before a grant was removed still looks names up. */
		if (r == 0)
			r = sfs_gate(req, mt, SFS_ACCESS_VOLUME, vi.name);
		if (r == 0 && !strcmp(name, SFS_LATEST_NAME)) {
			if (vi.latest[0])
				sfs_attr_latest(&st, vi.latest_ino, vi.latest, vi.latest_created);
			else
				r = -ENOENT;
		} else if (r == 0 && !strcmp(name, SFS_LATEST_FILES_NAME)) {
			r = vi.latest[0] ? 0 : -ENOENT;
			if (r == 0)
				r = sfs_attr_lookup(mt, SFS_INO_MAKE(SFS_INO_KIND_LATEST_FILES,
								     SFS_INO_NUM(vi.ino)),
						    &st, &timeout);
		} else if (r == 0) {
			r = sfs_tree_vol_snap(mt->tree, vi.name, name, &ts);
			if (r == 0)
				r = snap_entry(mt, &ts, &st, &timeout);
		}
	} else {
		r = -ENOTDIR;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	entry_of(mt, &st, timeout, &e);
	if (fuse_reply_entry(req, &e) != 0 && SFS_INO_KIND(e.ino) == SFS_INO_KIND_SNAP)
		sfs_tree_node_forget(mt->tree, e.ino, 1);
}

/* Valid replies: none. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (SFS_INO_KIND(ino) == SFS_INO_KIND_SNAP)
		sfs_tree_node_forget(mount_of(req)->tree, ino, nlookup);
	fuse_reply_none(req);
}

/* Valid replies: none. */
static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct sfs_mount *mt = mount_of(req);

	for (size_t i = 0; i < count; i++)
		if (SFS_INO_KIND(forgets[i].ino) == SFS_INO_KIND_SNAP)
			sfs_tree_node_forget(mt->tree, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err. */
static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct stat st;
	double timeout;

	SFS_COUNT(mt, getattrs, 1);
	int r;

	if (sfs_files_ino(ino)) {
		sfs_files_getattr(req, ino);
		return;
	}
	if (is_dir_ino(ino) || SFS_INO_KIND(ino) == SFS_INO_KIND_LATEST ||
	    SFS_INO_KIND(ino) == SFS_INO_KIND_LATEST_FILES)
		refresh(mt);
	r = sfs_gate_ino(req, mt, ino);
	if (r == 0)
		r = sfs_attr_lookup(mt, ino, &st, &timeout);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout_of(mt, ino, timeout));
}

/* Valid replies: fuse_reply_readlink, fuse_reply_err. */
static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs_mount *mt = mount_of(req);
	struct sfs_tvolinfo vi;
	char target[SFS_IDSTR_SIZE + 32];
	int r;

	if (sfs_files_ino(ino)) {
		sfs_files_readlink(req, ino);
		return;
	}
	if (SFS_INO_KIND(ino) != SFS_INO_KIND_LATEST &&
	    SFS_INO_KIND(ino) != SFS_INO_KIND_LATEST_FILES) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* The link follows the newest snapshot, so ask the catalog each time
	 * (the kernel does not cache link targets unless told to). */
	r = sfs_tree_vol_by_ino(mt->tree, ino, &vi);
	if (r == 0 && !vi.latest[0])
		r = -ENOENT;
	if (r == 0)
		r = sfs_gate(req, mt, SFS_ACCESS_VOLUME, vi.name);
	if (r == 0 && SFS_INO_KIND(ino) == SFS_INO_KIND_LATEST_FILES)
		r = sfs_files_latest_target(vi.latest, target, sizeof(target));
	else if (r == 0)
		snprintf(target, sizeof(target), "%s", vi.latest);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
}

/* Valid replies: fuse_reply_open, fuse_reply_err. The handle holds the
 * view, so that one listing is consistent however many readdir calls it
 * takes, even if snapshots are added meanwhile. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct sfs_view *v;

	if (sfs_files_ino(ino)) {
		refresh(mt);
		sfs_files_opendir(req, ino, fi);
		return;
	}
	if (!is_dir_ino(ino)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	refresh(mt);
	/* The root lists four fixed names: no view. */
	v = NULL;
	if (ino != SFS_INO_ROOT) {
		int r = sfs_tree_get(mt->tree, &v);

		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
	}
	if (SFS_INO_KIND(ino) == SFS_INO_KIND_VOL || sfs_ino_is_rdir(ino)) {
		const struct sfs_timage *ti = sfs_view_image_by_ino(v, ino);
		const struct sfs_tvol *tv = sfs_view_vol_by_ino(v, ino);
		int r = ti   ? sfs_gate(req, mt, ti->access, ti->name)
			: tv ? sfs_gate(req, mt, SFS_ACCESS_VOLUME, tv->name)
			     : -ENOENT;

		if (r < 0) {
			sfs_view_put(v);
			fuse_reply_err(req, -r);
			return;
		}
	}
	fi->fh = (uintptr_t)v;
	if (fuse_reply_open(req, fi) != 0)
		sfs_view_put(v);
}

/* Valid replies: fuse_reply_err. */
static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (sfs_files_ino(ino)) {
		sfs_files_releasedir(req, ino, fi);
		return;
	}
	sfs_view_put((struct sfs_view *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Entry i of directory ino in view v ("." and ".." first): its name and
 * inode. Returns false past the end. v may be NULL for the root only. */
static bool dir_entry(const struct sfs_view *v, uint64_t ino, uint64_t i, const char **ret_name,
		      uint64_t *ret_ino)
{
	/* In inode order: SFS_INO_SNAPSHOTS + i. */
	static const char *const top[] = { "snapshots", "volumes", "images", "checkpoints",
					   "files" };
	const struct sfs_tvol *tv = NULL;

	if (i == 0) {
		*ret_name = ".";
		*ret_ino = ino;
		return true;
	}
	if (i == 1) {
		*ret_name = "..";
		*ret_ino = SFS_INO_KIND(ino) == SFS_INO_KIND_VOL     ? SFS_INO_VOLUMES
			   : SFS_INO_KIND(ino) == SFS_INO_KIND_IMAGE ? SFS_INO_IMAGES
			   : SFS_INO_KIND(ino) == SFS_INO_KIND_CKPT  ? SFS_INO_CHECKPOINTS
								     : SFS_INO_ROOT;
		return true;
	}
	i -= 2;
	switch (ino) {
	case SFS_INO_ROOT:
		if (i >= sizeof(top) / sizeof(top[0]))
			return false;
		*ret_name = top[i];
		*ret_ino = SFS_INO_SNAPSHOTS + i;
		return true;
	case SFS_INO_SNAPSHOTS:
		if (i >= v->nsnaps)
			return false;
		/* The name is "<id>.img": built by the caller from the id. */
		*ret_name = v->snaps[i].map.id;
		*ret_ino = v->snaps[i].ino;
		return true;
	case SFS_INO_VOLUMES:
		if (i >= v->nvols)
			return false;
		*ret_name = v->vols[i].name;
		*ret_ino = v->vols[i].ino;
		return true;
	case SFS_INO_IMAGES:
	case SFS_INO_CHECKPOINTS: {
		const struct sfs_tdirs *d = ino == SFS_INO_IMAGES ? &v->images : &v->ckpts;

		if (i >= d->n)
			return false;
		*ret_name = d->v[i].name;
		*ret_ino = d->v[i].ino;
		return true;
	}
	}
	if (sfs_ino_is_rdir(ino)) {
		const struct sfs_timage *ti = sfs_view_image_by_ino(v, ino);

		if (!ti)
			return false;
		if (i < ti->nfiles) {
			*ret_name = ti->files[i].name;
			*ret_ino = ti->files[i].ino;
			return true;
		}
		/* An image's "<device>.files" after its files (the first is
		 * image.json): the name is built by the caller from
		 * "<device>.img", the inode numbered by it (0 here). */
		if (SFS_INO_KIND(ino) != SFS_INO_KIND_IMAGE || i - ti->nfiles + 1 >= ti->nfiles)
			return false;
		*ret_name = ti->files[i - ti->nfiles + 1].name;
		*ret_ino = 0;
		return true;
	}
	tv = sfs_view_vol_by_ino(v, ino);
	if (!tv)
		return false;
	if (i < tv->nsnaps) {
		*ret_name = tv->snaps[i]->vname;
		*ret_ino = tv->snaps[i]->ino;
		return true;
	}
	if (i == tv->nsnaps && tv->nsnaps) {
		*ret_name = SFS_LATEST_NAME;
		*ret_ino = tv->latest_ino;
		return true;
	}
	if (i == tv->nsnaps + 1 && tv->nsnaps) {
		*ret_name = SFS_LATEST_FILES_NAME;
		*ret_ino = SFS_INO_MAKE(SFS_INO_KIND_LATEST_FILES, SFS_INO_NUM(tv->ino));
		return true;
	}
	return false;
}

/* Whether the caller may see entry name (its catalog name) of directory
 * ino: the top directories list only what the caller may use. Entries of
 * a volume's, image's or checkpoint's directory were checked when it was
 * opened. */
static bool entry_visible(struct sfs_gate *g, uint64_t ino, uint64_t i, const char *name)
{
	enum sfs_access_kind kind;

	if (i < 2)
		return true;
	switch (ino) {
	case SFS_INO_SNAPSHOTS:
		kind = SFS_ACCESS_SNAPSHOT;
		break;
	case SFS_INO_VOLUMES:
		kind = SFS_ACCESS_VOLUME;
		break;
	case SFS_INO_IMAGES:
		kind = SFS_ACCESS_IMAGE;
		break;
	case SFS_INO_CHECKPOINTS:
		kind = SFS_ACCESS_CHECKPOINT;
		break;
	default:
		return true;
	}
	return sfs_gate_check(g, kind, name) == 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct sfs_mount *mt = mount_of(req);
	const struct sfs_view *v = (const struct sfs_view *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	const char *name;
	struct sfs_gate g;
	uint64_t child;
	int r;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = sfs_gate_begin(req, mt, &g);
	if (r < 0) {
		sfs_gate_end(&g);
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	for (uint64_t i = off < 0 ? 0 : (uint64_t)off; dir_entry(v, ino, i, &name, &child); i++) {
		char full[SFS_VNAME_SIZE + 8];
		size_t n;

		if (!entry_visible(&g, ino, i, name))
			continue;

		if (ino == SFS_INO_SNAPSHOTS && i >= 2) {
			snprintf(full, sizeof(full), "%s.img", name);
			name = full;
		} else if (!child && i >= 2) {
			/* "<device>.img" -> "<device>.files", a files/ inode. */
			const struct sfs_timage *ti = sfs_view_image_by_ino(v, ino);
			const struct sfs_timgfile *tf = ti ? sfs_timage_file_by_name(ti, name) : NULL;

			if (!tf || sfs_files_image_dev(mt, ti, tf, &child) < 0)
				continue;
			snprintf(full, sizeof(full), "%.*s%s", (int)(strlen(name) - 4), name,
				 SFS_DEV_FILES_SUFFIX);
			name = full;
		}
		if (plus) {
			struct fuse_entry_param e;

			if (i < 2) {
				/* The kernel does not look up "." and "..": no entry. */
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = child;
				e.attr.st_mode = S_IFDIR;
			} else if (sfs_files_ino(child)) {
				/* Looked up when asked: listing probes no volume. */
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = child;
				e.attr.st_mode = S_IFDIR;
			} else {
				fill_entry(mt, v, child, &e);
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						   (off_t)i + 1);
			/* The kernel counts each entry it is given as a lookup. */
			if (n <= size - used && e.ino && SFS_INO_KIND(e.ino) == SFS_INO_KIND_SNAP &&
			    sfs_tree_node_ref(mt->tree, sfs_view_snap_by_ino(v, e.ino)) < 0)
				break;
		} else {
			struct stat st = { 0 };
			double timeout;

			if (sfs_attr_of(mt, v, child, &st, &timeout) < 0) {
				st.st_ino = child;
				st.st_mode = S_IFDIR;
			}
			n = fuse_add_direntry(req, buf + used, size - used, name, &st,
					      (off_t)i + 1);
		}
		if (n > size - used)
			break;
		used += n;
	}
	sfs_gate_end(&g);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Valid replies: fuse_reply_buf, fuse_reply_data, fuse_reply_err. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	SFS_COUNT(mount_of(req), listings, 1);
	if (sfs_files_ino(ino)) {
		sfs_files_readdir(req, ino, size, off, fi, false);
		return;
	}
	do_readdir(req, ino, size, off, fi, false);
}

/* Valid replies: fuse_reply_buf, fuse_reply_data, fuse_reply_err. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	SFS_COUNT(mount_of(req), listings, 1);
	if (sfs_files_ino(ino)) {
		sfs_files_readdir(req, ino, size, off, fi, true);
		return;
	}
	do_readdir(req, ino, size, off, fi, true);
}

static void handle_free(struct handle *h)
{
	if (!h)
		return;
	sfs_reader_stream_free(h->stream);
	free(h->data);
	free(h);
}

/* An empty handle with its stream. 0 or -ENOMEM. */
static int handle_new(struct sfs_mount *mt, struct handle **ret)
{
	struct handle *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	r = sfs_reader_stream_new(mt->reader, &h->stream);
	if (r < 0) {
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

/* A handle for a file of images/<name>/ or checkpoints/<name>/, if the
 * caller may use the record. 0, -ENOENT, -EACCES or -ENOMEM. */
static int open_imgfile(fuse_req_t req, struct sfs_mount *mt, const struct sfs_view *v,
			uint64_t ino, struct handle **ret)
{
	const struct sfs_timage *ti = NULL;
	const struct sfs_timgfile *tf = sfs_view_imgfile_by_ino(v, ino, &ti);
	struct handle *h;
	int r;

	*ret = NULL;
	if (!tf)
		return -ENOENT;
	r = sfs_gate(req, mt, ti->access, ti->name);
	if (r < 0)
		return r;
	r = handle_new(mt, &h);
	if (r < 0)
		return r;
	h->size = tf->size;
	if (tf == &ti->files[0]) {
		/* Copied: the view may be replaced while the file is open. */
		h->data = malloc(ti->json_len);
		if (!h->data) {
			handle_free(h);
			return -ENOMEM;
		}
		memcpy(h->data, ti->json, ti->json_len);
		h->size = ti->json_len;
	} else {
		h->map = tf->map;
	}
	*ret = h;
	return 0;
}

/* Valid replies: fuse_reply_open, fuse_reply_err. */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct sfs_tsnap ts;
	struct sfs_view *v;
	struct handle *h = NULL;
	int r, keep = 1;

	if (sfs_files_ino(ino)) {
		sfs_files_open(req, ino, fi);
		return;
	}
	if (is_dir_ino(ino)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* Not in init: the kernel applies its own cap after init returns. */
	sfs_mount_tune_readahead(mt);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (sfs_ino_is_rfile(ino)) {
		refresh(mt); /* permissions apply from the next open on */
		r = sfs_tree_get(mt->tree, &v);
		if (r == 0)
			r = open_imgfile(req, mt, v, ino, &h);
		sfs_view_put(v);
		/* image.json changes with the image's permissions, size and
		 * all: read it afresh, past whatever size the kernel cached
		 * (checkpoint.json alike, for simplicity). */
		if (h && h->data) {
			keep = 0;
			fi->direct_io = 1;
		}
	} else {
		/* The kernel holds the inode, so the node table has it; the
		 * snapshot must still exist to be opened anew. */
		r = sfs_tree_node_get(mt->tree, ino, &ts);
		if (r == 0)
			r = sfs_tree_snap(mt->tree, ts.map.id, &ts);
		if (r == 0)
			r = sfs_gate(req, mt, SFS_ACCESS_SNAPSHOT, ts.map.id);
		if (r == 0)
			r = handle_new(mt, &h);
		if (r == 0) {
			h->map = ts.map;
			h->size = ts.map.size;
		}
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = keep; /* a snapshot's bytes never change */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0) {
		handle_free(h);
		return;
	}
	SFS_COUNT(mt, opens, 1);
	SFS_COUNT(mt, open_files, 1);
}

/* Valid replies: fuse_reply_err. */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (sfs_files_ino(ino))
		sfs_files_release_file(req, ino, fi);
	else
		handle_free((struct handle *)(uintptr_t)fi->fh);
	SFS_COUNT(mount_of(req), open_files, -1);
	fuse_reply_err(req, 0);
}

/* The errno a reader failure becomes: stored bytes that fail verification
 * or a chunk the catalog lost are a bad sector to the program reading,
 * which is EIO; everything else (ENOMEM, EMFILE...) keeps its meaning. */
static int read_errno(int r)
{
	return r == -EBADMSG || r == -EUCLEAN ? EIO : -r;
}

/* Valid replies: fuse_reply_buf, fuse_reply_iov, fuse_reply_data,
 * fuse_reply_err. Only the blocks the range touches are resolved. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	uint64_t uoff = off < 0 ? 0 : (uint64_t)off;
	struct sfs_reader_vec v;
	ssize_t n;

	if (sfs_files_ino(ino)) {
		sfs_files_read(req, ino, size, off, fi);
		return;
	}
	if (uoff >= h->size || !size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->size - uoff)
		size = (size_t)(h->size - uoff);
	if (h->data) {
		SFS_COUNT(mt, reads, 1);
		SFS_COUNT(mt, bytes_served, size);
		fuse_reply_buf(req, h->data + uoff, size);
		return;
	}
	/* The reply is gathered from the cache's entries where they are
	 * (pinned until it is sent): the bytes are copied once, into the
	 * kernel, rather than into a buffer first. */
	sfs_reader_vec_init(&v, mt->reader);
	n = 0;
	if (uoff < h->map.size) {
		size_t in_map = size < h->map.size - uoff ? size : (size_t)(h->map.size - uoff);

		n = sfs_reader_stream_preadv(h->stream, &h->map, in_map, uoff, &v);
	}
	/* An image's device may be larger than its snapshot: zeros follow. */
	if (n >= 0 && (size_t)n < size && uoff + (uint64_t)n >= h->map.size) {
		size_t zlen, left = size - (size_t)n;
		const void *z = sfs_reader_zeros(&zlen);

		if (!z || v.niov == v.cap)
			n = -ENOMEM; /* the tail is rare: no vec growth for it */
		else if (left <= zlen)
			v.iov[v.niov++] = (struct iovec){ .iov_base = (void *)z, .iov_len = left };
		else
			n = -EINVAL; /* a read larger than SFS_BLOCK_MAX: max_read forbids it */
		if (n >= 0)
			n = (ssize_t)size;
	}
	if (n < 0) {
		SFS_COUNT(mt, read_errors, 1);
		fuse_reply_err(req, read_errno((int)n));
	} else {
		SFS_COUNT(mt, reads, 1);
		SFS_COUNT(mt, bytes_served, (uint64_t)n);
		fuse_reply_iov(req, v.iov, (int)v.niov);
	}
	sfs_reader_vec_release(&v);
}

/* Valid replies: fuse_reply_buf, fuse_reply_xattr, fuse_reply_err. The
 * root's SFS_STATS_XATTR is the mount's live figures; nothing else has
 * attributes. ENODATA rather than ENOSYS for those: the kernel takes
 * ENOSYS as "no xattr support" and would never ask again. */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *json;
	size_t len;

	SFS_COUNT(mount_of(req), getxattrs, 1);
	if (sfs_files_ino(ino)) {
		sfs_files_getxattr(req, ino, name, size);
		return;
	}
	if (!strcmp(name, SFS_SELINUX_XATTR)) {
		fuse_reply_err(req, EOPNOTSUPP); /* see SFS_SELINUX_XATTR */
		return;
	}
	if (ino != SFS_INO_ROOT || strcmp(name, SFS_STATS_XATTR) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	json = sfs_mount_stats_json(mount_of(req));
	if (!json) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	len = strlen(json);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, json, len);
	free(json);
}

/* Valid replies: fuse_reply_lseek, fuse_reply_err. The kernel sends only
 * SEEK_DATA and SEEK_HOLE here; the map knows which blocks are zero. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	uint64_t pos;
	int r;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (sfs_files_ino(ino)) {
		sfs_files_lseek(req, ino, off, whence, fi);
		return;
	}
	if (off < 0 || (uint64_t)off >= h->size) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (h->data) {
		/* image.json is data from start to end. */
		fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)h->size);
		return;
	}
	if ((uint64_t)off >= h->map.size) {
		/* A device's tail past its snapshot is one hole to the end. */
		if (whence == SEEK_DATA)
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, off);
		return;
	}
	r = sfs_reader_seek(mt->reader, &h->map, (uint64_t)off, whence, &pos);
	if (r < 0)
		fuse_reply_err(req, r == -ENXIO ? ENXIO : read_errno(r));
	else
		fuse_reply_lseek(req, (off_t)pos);
}

/* Valid replies: fuse_reply_statfs, fuse_reply_err. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs_mount *mt = mount_of(req);
	uint32_t bs = sfs_store_block_size(mt->store);
	uint64_t packs = 0, catalog = 0;
	struct statvfs sv = { 0 };
	struct sfs_tree_stat ts;
	struct sfs_view *v;

	if (sfs_store_disk_usage(mt->store, &packs, &catalog) < 0)
		packs = catalog = 0;
	sfs_tree_stat(mt->tree, &ts);
	sv.f_bsize = bs;
	sv.f_frsize = bs;
	sv.f_blocks = (packs + catalog + bs - 1) / bs;
	sv.f_files = 5 + ts.nsnaps + 2 * ts.nvols;
	/* Counting images and checkpoints needs a view: the last one built,
	 * if any. */
	v = sfs_tree_peek(mt->tree);
	for (size_t i = 0; v && i < v->images.n; i++)
		sv.f_files += 1 + v->images.v[i].nfiles;
	for (size_t i = 0; v && i < v->ckpts.n; i++)
		sv.f_files += 1 + v->ckpts.v[i].nfiles;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	sfs_view_put(v);
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sfs_mount *mt = userdata;

	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Nothing ever changes a file's bytes: never drop its pages. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* files/ shows POSIX ACLs: the kernel must enforce them, or the
	 * group bits (the ACL's mask) would let the owning group in where
	 * the ACL shuts it out. Other nodes have no ACLs. */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* Always READDIRPLUS, never the kernel's switch to plain READDIR
	 * once it sees no lookups follow: find and tar stat every entry
	 * after the listing, and entries that came with their attributes
	 * need no lookup each (a lookup in a big directory of a snapshot's
	 * filesystem costs a round trip and a directory search). */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* latest.img moves: the kernel must ask for its target each time. */
	conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
	/* libfuse ends the session unless this repeats the max_read mount
	 * option exactly (0 when none was given). */
	conn->max_read = mt->opts.max_read;
	/* Let the kernel keep many readahead requests in flight. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	sfs_log(SFS_LOG_DEBUG, "fuse: max_read %u, max_readahead %u, max_write %u, caps 0x%x",
		conn->max_read, conn->max_readahead, conn->max_write, conn->want);
}

const struct fuse_lowlevel_ops sfs_fsops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.lseek = op_lseek,
	.getxattr = op_getxattr,
	.listxattr = sfs_files_listxattr,
	.statfs = op_statfs,
};
