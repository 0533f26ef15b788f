// SPDX-License-Identifier: MIT
/*
 * The FUSE operations of files/: the ext2/3/4 filesystems inside
 * snapshots, read-only, through snapfs/fsview.h. fsops.c hands every
 * request on a files/ inode here. The snapshot's gate (access.c) is asked
 * first, on every request, as for the snapshot's image file; then the
 * kernel's default_permissions applies the files' own modes and owners,
 * so on an allow_other mount a user reads what the user could read on
 * the original machine. Nothing in a snapshot changes, so what the kernel
 * is told may be cached for long, except where the gate must see every
 * caller (timeout_of in fsops.c, repeated here).
 *
 * A volume that is not an ext filesystem, or whose filesystem cannot be
 * opened, shows an empty directory; the reason is logged once. A
 * partitioned disk shows p<N>/ for each ext partition and p<N>.img, the
 * raw bytes, for every partition. images/<name>/<device>.files/ is the
 * same tree for an image's device, gated as the image (the entry says
 * what its gate asks).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files_int.h"
#include "fsops_files.h"
#include "snapfs/log.h"

/* What a node of files/ is. */
struct node {
	struct sfs_fsent *e; /* NULL for files/ itself */
	uint32_t ext;        /* the filesystem's inode; SFS_FILES_TOP: a disk's list */
	bool fs;             /* ext names an inode of e's filesystem */
	bool img;            /* p<N>.img: partition e's raw bytes */
};

/* An open directory: its whole listing, read at opendir, so that readdir
 * offsets are indexes and a 20,000-entry htree directory is walked once. */
struct dirent_ {
	uint64_t ino;
	uint32_t ext; /* the filesystem's inode, for readdirplus; 0: none */
	bool reg;     /* p<N>.img: a regular file, not a directory */
	char *name;
};

struct listing {
	struct node node;
	struct dirent_ *ents;
	size_t n, cap;
};

/* An open file: its block runs (or, for p<N>.img, its partition) and
 * its readahead stream. */
struct fhandle {
	struct sfs_fsfile *f;
	const struct sfs_fsent *img;
	struct sfs_reader_stream *st;
};

static struct sfs_mount *mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

bool sfs_files_ino(uint64_t ino)
{
	return ino == SFS_INO_FILES || SFS_INO_KIND(ino) == SFS_INO_KIND_FILES;
}

/* How long the kernel may keep a name (entry) or the attributes of ino.
 * On a mount others reach, the name files/<id> is kept for no time (see
 * timeout_of in fsops.c): every path into a snapshot's files then passes
 * a lookup of it, which asks the gate as the caller. Nothing below, nor
 * the attributes of files/<id>/ itself, needs a second gate on every
 * walk: they are cached as long as any snapshot file, so a listing of
 * 20,000 entries is one READDIRPLUS stream, not a lookup and a getattr
 * per entry and path component. A caller never let in has no way below
 * files/<id>/ but through that lookup; opens and reads ask the gate
 * again. files/ itself lists what each caller may see: never cached. */
static bool is_top(uint64_t ino)
{
	return SFS_INO_KIND(ino) == SFS_INO_KIND_FILES && SFS_FILES_EXT(ino) == SFS_FILES_TOP;
}

static double entry_timeout(const struct sfs_mount *mt, uint64_t ino, double t)
{
	return mt->opts.allow_other && (ino == SFS_INO_FILES || is_top(ino)) ? 0.0 : t;
}

static double attr_timeout(const struct sfs_mount *mt, uint64_t ino, double t)
{
	return mt->opts.allow_other && ino == SFS_INO_FILES ? 0.0 : t;
}

/* Stored bytes that fail verification are a bad sector to a program. */
static int fuse_errno(int r)
{
	return r == -EBADMSG || r == -EUCLEAN ? EIO : -r;
}

static uint64_t ino_of(const struct sfs_fsent *e, uint32_t ext)
{
	/* An unpartitioned volume's root is files/<id>/ itself. */
	return SFS_FILES_INO(e->num, !e->partno && ext == SFS_FS_ROOT_INO ? SFS_FILES_TOP : ext);
}

/* What inode ino shows; probes the volume if need be. */
static int resolve(struct sfs_mount *mt, uint64_t ino, struct node *ret)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	if (ino == SFS_INO_FILES)
		return 0;
	r = sfs_files_get(mt->files, SFS_FILES_NUM(ino), &ret->e);
	if (r < 0)
		return r;
	ret->ext = SFS_FILES_EXT(ino);
	if (ret->e->partno && ret->ext == SFS_FILES_IMG) {
		ret->img = true;
		return 0;
	}
	if (ret->e->partno) {
		ret->fs = true;
		return ret->ext == SFS_FILES_TOP ? -ENOENT : 0;
	}
	r = sfs_files_probe(mt->files, ret->e);
	if (r < 0)
		return r;
	if (ret->e->whole_fs) {
		ret->fs = true;
		if (ret->ext == SFS_FILES_TOP)
			ret->ext = SFS_FS_ROOT_INO;
	} else if (ret->ext != SFS_FILES_TOP) {
		return -ENOENT;
	}
	return 0;
}

static int gate(fuse_req_t req, struct sfs_mount *mt, const struct node *n)
{
	return n->e ? sfs_gate(req, mt, n->e->gate_kind, n->e->gate_name) : 0;
}

/* Attributes of node n. A filesystem that cannot be opened shows its top
 * as an empty directory of the mount's. */
static int node_attr(struct sfs_mount *mt, const struct node *n, struct stat *st,
		     double *ret_timeout)
{
	struct sfs_fsview *fv;
	int r;

	sfs_attr_init(mt, st, ret_timeout);
	if (!n->e) {
		struct sfs_tree_stat ts;

		sfs_tree_stat(mt->tree, &ts);
		sfs_attr_dir(mt, st, SFS_INO_FILES, 2, ts.mtime, (off_t)ts.nsnaps);
		return 0;
	}
	if (n->img) {
		uint64_t data;

		r = sfs_files_part_data(mt->files, n->e, &data);
		if (r < 0)
			return r;
		st->st_ino = SFS_FILES_INO(n->e->num, SFS_FILES_IMG);
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)n->e->size;
		st->st_blocks = (blkcnt_t)(data / 512);
		st->st_mtime = st->st_ctime = st->st_atime = n->e->snap.created;
		*ret_timeout = FILE_ATTR_TIMEOUT;
		return 0;
	}
	if (n->fs) {
		r = sfs_files_acquire(mt->files, n->e, &fv);
		if (r == 0) {
			r = sfs_fsview_stat(fv, n->ext, st);
			sfs_files_release(mt->files, n->e);
			st->st_ino = ino_of(n->e, n->ext);
			*ret_timeout = FILE_ATTR_TIMEOUT;
			return r;
		}
		if (n->ext != SFS_FS_ROOT_INO)
			return r;
	}
	sfs_attr_dir(mt, st, ino_of(n->e, n->fs ? n->ext : SFS_FILES_TOP), 2, n->e->snap.created,
		     (off_t)n->e->nparts);
	*ret_timeout = FILE_ATTR_TIMEOUT;
	return 0;
}

static void reply_entry(fuse_req_t req, struct sfs_mount *mt, const struct stat *st, double t)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.attr = *st;
	e.ino = st->st_ino;
	e.generation = 1; /* numbers are never reused in a mount */
	e.attr_timeout = attr_timeout(mt, st->st_ino, t);
	e.entry_timeout = entry_timeout(mt, st->st_ino, t);
	fuse_reply_entry(req, &e);
}

/* The partition number of "p<N>" or, with *ret_img, "p<N>.img": N in
 * decimal without leading zeros, so that each node has one name. */
static int part_name(const char *name, unsigned *ret_partno, bool *ret_img)
{
	unsigned long n;
	char *end;

	if (name[0] != 'p' || name[1] < '1' || name[1] > '9')
		return -ENOENT;
	errno = 0;
	n = strtoul(name + 1, &end, 10);
	if (errno || n > UINT_MAX)
		return -ENOENT;
	if (*end && strcmp(end, ".img"))
		return -ENOENT;
	*ret_partno = (unsigned)n;
	*ret_img = *end != '\0';
	return 0;
}

/* Valid replies: fuse_reply_entry, fuse_reply_err. */
void sfs_files_lookup(fuse_req_t req, uint64_t parent, const char *name)
{
	struct sfs_mount *mt = mount_of(req);
	struct node p, c = { 0 };
	struct sfs_fsview *fv;
	struct sfs_tsnap ts;
	struct stat st;
	double t;
	unsigned partno;
	int r;

	r = resolve(mt, parent, &p);
	if (r == 0)
		r = gate(req, mt, &p);
	if (r < 0)
		goto out;
	if (!p.e) {
		/* files/<snapshot id> */
		r = sfs_tree_snap(mt->tree, name, &ts);
		if (r == 0)
			r = sfs_gate(req, mt, SFS_ACCESS_SNAPSHOT, ts.map.id);
		if (r == 0)
			r = sfs_files_volume(mt->files, &ts, &c.e);
		if (r == 0)
			r = resolve(mt, SFS_FILES_INO(c.e->num, SFS_FILES_TOP), &c);
	} else if (p.img) {
		r = -ENOTDIR;
	} else if (!p.fs) {
		/* files/<id>/p<N> or files/<id>/p<N>.img */
		bool img = false;

		r = part_name(name, &partno, &img);
		if (r == 0)
			r = sfs_files_part(mt->files, p.e, partno, !img, &c.e);
		c.ext = img ? SFS_FILES_IMG : SFS_FS_ROOT_INO;
		c.fs = !img;
		c.img = img;
	} else {
		c.e = p.e;
		c.fs = true;
		r = sfs_files_acquire(mt->files, p.e, &fv);
		if (r == 0) {
			r = sfs_fsview_lookup(fv, p.ext, name, &c.ext);
			sfs_files_release(mt->files, p.e);
		} else if (p.ext == SFS_FS_ROOT_INO) {
			r = -ENOENT; /* an unreadable filesystem is an empty directory */
		}
	}
	if (r == 0)
		r = node_attr(mt, &c, &st, &t);
out:
	if (r < 0)
		fuse_reply_err(req, fuse_errno(r));
	else
		reply_entry(req, mt, &st, t);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err. */
void sfs_files_getattr(fuse_req_t req, uint64_t ino)
{
	struct sfs_mount *mt = mount_of(req);
	struct node n;
	struct stat st;
	double t;
	int r = resolve(mt, ino, &n);

	if (r == 0)
		r = gate(req, mt, &n);
	if (r == 0)
		r = node_attr(mt, &n, &st, &t);
	if (r < 0)
		fuse_reply_err(req, fuse_errno(r));
	else
		fuse_reply_attr(req, &st, attr_timeout(mt, ino, ino == SFS_INO_FILES ? DIR_ATTR_TIMEOUT : t));
}

/* Valid replies: fuse_reply_readlink, fuse_reply_err. */
void sfs_files_readlink(fuse_req_t req, uint64_t ino)
{
	struct sfs_mount *mt = mount_of(req);
	char buf[PATH_MAX + 1];
	struct sfs_fsview *fv;
	struct node n;
	int r = resolve(mt, ino, &n);

	if (r == 0 && !n.fs)
		r = -EINVAL;
	if (r == 0)
		r = gate(req, mt, &n);
	if (r == 0)
		r = sfs_files_acquire(mt->files, n.e, &fv);
	if (r == 0) {
		ssize_t len = sfs_fsview_readlink(fv, n.ext, buf, sizeof(buf));

		sfs_files_release(mt->files, n.e);
		r = len < 0 ? (int)len : 0;
	}
	if (r < 0)
		fuse_reply_err(req, fuse_errno(r));
	else
		fuse_reply_readlink(req, buf);
}

/* ---- directories ---- */

static int list_add(struct listing *l, const char *name, size_t len, uint64_t ino, uint32_t ext)
{
	struct dirent_ *d;

	if (l->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 64;
		struct dirent_ *p = realloc(l->ents, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->ents = p;
		l->cap = n;
	}
	d = &l->ents[l->n];
	d->name = strndup(name, len);
	if (!d->name)
		return -ENOMEM;
	d->ino = ino;
	d->ext = ext;
	d->reg = false;
	l->n++;
	return 0;
}

static void listing_free(struct listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->ents[i].name);
	free(l->ents);
	free(l);
}

struct fs_list_ctx {
	struct listing *l;
	int err;
};

static int fs_entry(void *ctx, const char *name, size_t len, uint32_t ino, unsigned dtype)
{
	struct fs_list_ctx *c = ctx;

	c->err = list_add(c->l, name, len, ino_of(c->l->node.e, ino), ino);
	return c->err < 0;
}

/* files/: the snapshots the caller may read, by id. */
static int list_snapshots(fuse_req_t req, struct sfs_mount *mt, struct listing *l)
{
	struct sfs_fsent *e;
	struct sfs_view *v;
	struct sfs_gate g;
	int r = sfs_tree_get(mt->tree, &v);

	if (r < 0)
		return r;
	r = sfs_gate_begin(req, mt, &g);
	for (size_t i = 0; r == 0 && i < v->nsnaps; i++) {
		const struct sfs_tsnap *ts = &v->snaps[i];

		if (sfs_gate_check(&g, SFS_ACCESS_SNAPSHOT, ts->map.id) < 0)
			continue;
		r = sfs_files_volume(mt->files, ts, &e);
		if (r == 0)
			r = list_add(l, ts->map.id, strlen(ts->map.id), SFS_FILES_INO(e->num, SFS_FILES_TOP), 0);
	}
	sfs_gate_end(&g);
	sfs_view_put(v);
	return r;
}

/* files/<id>/ of a disk: p<N> for each partition with an ext filesystem,
 * p<N>.img for every partition. */
static int list_parts(struct sfs_mount *mt, struct listing *l)
{
	struct sfs_fsent *disk = l->node.e, *pe;
	int r = 0;

	for (size_t i = 0; r == 0 && i < disk->nparts; i++) {
		char name[16];

		r = sfs_files_part(mt->files, disk, disk->parts[i].partno, false, &pe);
		if (r == 0 && disk->parts[i].ext) {
			snprintf(name, sizeof(name), "p%u", disk->parts[i].partno);
			r = list_add(l, name, strlen(name), SFS_FILES_INO(pe->num, SFS_FS_ROOT_INO), 0);
		}
		snprintf(name, sizeof(name), "p%u.img", disk->parts[i].partno);
		if (r == 0)
			r = list_add(l, name, strlen(name), SFS_FILES_INO(pe->num, SFS_FILES_IMG), 0);
		if (r == 0)
			l->ents[l->n - 1].reg = true;
	}
	return r;
}

/* Valid replies: fuse_reply_open, fuse_reply_err. */
void sfs_files_opendir(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct listing *l = calloc(1, sizeof(*l));
	struct sfs_fsview *fv;
	int r = l ? resolve(mt, ino, &l->node) : -ENOMEM;

	if (r == 0)
		r = gate(req, mt, &l->node);
	if (r == 0 && l->node.img)
		r = -ENOTDIR;
	if (r < 0)
		goto out;
	if (!l->node.e) {
		r = list_snapshots(req, mt, l);
	} else if (!l->node.fs) {
		r = list_parts(mt, l);
	} else {
		struct fs_list_ctx c = { .l = l };

		r = sfs_files_acquire(mt->files, l->node.e, &fv);
		if (r == 0) {
			r = sfs_fsview_readdir(fv, l->node.ext, fs_entry, &c);
			sfs_files_release(mt->files, l->node.e);
			if (r == 0)
				r = c.err;
		} else if (l->node.ext == SFS_FS_ROOT_INO) {
			r = 0; /* unreadable: empty, and logged when it was opened */
		}
	}
out:
	if (r < 0) {
		listing_free(l);
		fuse_reply_err(req, fuse_errno(r));
		return;
	}
	fi->fh = (uintptr_t)l;
	fi->cache_readdir = 1; /* a snapshot's directories never change */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		listing_free(l);
}

/* Valid replies: fuse_reply_err. */
void sfs_files_releasedir(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	listing_free((struct listing *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_buf, fuse_reply_err. */
void sfs_files_readdir(fuse_req_t req, uint64_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct sfs_mount *mt = mount_of(req);
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	struct sfs_fsview *fv = NULL;
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* One acquire for the whole batch of attributes. */
	if (plus && l->node.fs && sfs_files_acquire(mt->files, l->node.e, &fv) < 0)
		fv = NULL;
	for (uint64_t i = off < 0 ? 0 : (uint64_t)off; i < l->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t n;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i ? ".." : ".";
			e.attr.st_ino = i ? SFS_INO_ROOT : ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct dirent_ *d = &l->ents[i - 2];

			name = d->name;
			e.attr.st_ino = d->ino;
			/* Attributes only for a filesystem's own entries;
			 * snapshots and partitions are looked up when asked, so
			 * that listing files/ probes no volume. */
			if (plus && fv && d->ext && sfs_fsview_stat(fv, d->ext, &e.attr) == 0) {
				e.attr.st_ino = d->ino;
				e.ino = d->ino;
				e.generation = 1;
				e.attr_timeout = attr_timeout(mt, d->ino, FILE_ATTR_TIMEOUT);
				e.entry_timeout = entry_timeout(mt, d->ino, FILE_ATTR_TIMEOUT);
			} else {
				/* Only d_type's kind matters here. */
				e.attr.st_mode = d->reg ? S_IFREG : S_IFDIR;
			}
		}
		if (plus)
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)i + 1);
		else
			n = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, (off_t)i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	if (fv)
		sfs_files_release(mt->files, l->node.e);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* ---- files ---- */

/* Valid replies: fuse_reply_open, fuse_reply_err. */
void sfs_files_open(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	struct sfs_mount *mt = mount_of(req);
	struct fhandle *h = NULL;
	struct sfs_fsview *fv;
	struct node n;
	int r = resolve(mt, ino, &n);

	if (r == 0 && !n.fs && !n.img)
		r = -EISDIR;
	if (r == 0 && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)))
		r = -EROFS;
	if (r == 0)
		r = gate(req, mt, &n);
	if (r == 0)
		r = (h = calloc(1, sizeof(*h))) ? 0 : -ENOMEM;
	if (r == 0 && n.img) {
		h->img = n.e; /* entries live as long as the mount */
	} else if (r == 0) {
		r = sfs_files_acquire(mt->files, n.e, &fv);
		if (r == 0) {
			r = sfs_fsfile_open(fv, n.ext, &h->f);
			sfs_files_release(mt->files, n.e);
		}
	}
	if (r == 0)
		r = sfs_reader_stream_new(mt->reader, &h->st);
	if (r < 0) {
		if (h)
			sfs_fsfile_free(h->f);
		free(h);
		fuse_reply_err(req, fuse_errno(r));
		return;
	}
	sfs_mount_tune_readahead(mt);
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1; /* a snapshot's files never change */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		sfs_files_release_file(req, ino, fi);
}

/* Also the cleanup of an open whose reply failed: then req is answered
 * already and gets no reply here. */
void sfs_files_release_file(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	struct fhandle *h = (struct fhandle *)(uintptr_t)fi->fh;

	if (h) {
		sfs_reader_stream_free(h->st);
		sfs_fsfile_free(h->f);
		free(h);
	}
	fi->fh = 0;
}

/* Reads p<N>.img: the partition's bytes, through the readahead stream. */
static ssize_t img_pread(struct fhandle *h, void *buf, size_t size, uint64_t off)
{
	const struct sfs_fsent *e = h->img;
	ssize_t n;

	if (off >= e->size)
		return 0;
	if (size > e->size - off)
		size = (size_t)(e->size - off);
	n = sfs_reader_stream_pread(h->st, &e->snap.map, buf, size, e->offset + off);
	/* The partition was clamped to the snapshot: a short read is damage. */
	return n >= 0 && (size_t)n < size ? -EUCLEAN : n;
}

/* Valid replies: fuse_reply_buf, fuse_reply_err. */
void sfs_files_read(fuse_req_t req, uint64_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fhandle *h = (struct fhandle *)(uintptr_t)fi->fh;
	void *buf = malloc(size ? size : 1);
	ssize_t n;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->img)
		n = img_pread(h, buf, size, off < 0 ? 0 : (uint64_t)off);
	else
		n = sfs_fsfile_pread(h->f, h->st, buf, size, off < 0 ? 0 : (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, fuse_errno((int)n));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* SEEK_DATA / SEEK_HOLE in p<N>.img, from the snapshot's map, within
 * the partition. */
static int img_seek(struct sfs_mount *mt, const struct sfs_fsent *e, uint64_t off, int whence,
		    uint64_t *ret)
{
	uint64_t pos;
	int r;

	if (off >= e->size)
		return -ENXIO;
	r = sfs_reader_seek(mt->reader, &e->snap.map, e->offset + off, whence, &pos);
	if (r == -ENXIO && whence == SEEK_HOLE)
		pos = e->offset + e->size, r = 0;
	if (r < 0)
		return r;
	if (pos >= e->offset + e->size) {
		if (whence == SEEK_DATA)
			return -ENXIO;
		pos = e->offset + e->size;
	}
	*ret = pos - e->offset;
	return 0;
}

/* Valid replies: fuse_reply_lseek, fuse_reply_err. */
void sfs_files_lseek(fuse_req_t req, uint64_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fhandle *h = (struct fhandle *)(uintptr_t)fi->fh;
	uint64_t pos;
	int r;

	if (h->img)
		r = off < 0 ? -ENXIO : img_seek(mount_of(req), h->img, (uint64_t)off, whence, &pos);
	else
		r = off < 0 ? -ENXIO : sfs_fsfile_seek(h->f, (uint64_t)off, whence, &pos);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

/* ---- extended attributes ---- */

/* Valid replies: fuse_reply_buf, fuse_reply_xattr, fuse_reply_err. Other
 * nodes of the mount have no xattrs. */
static void do_xattr(fuse_req_t req, uint64_t ino, const char *name, size_t size)
{
	struct sfs_mount *mt = mount_of(req);
	struct sfs_fsview *fv;
	char *buf = NULL;
	ssize_t len = 0;
	struct node n;
	int r;

	if (!sfs_files_ino(ino)) {
		if (name)
			fuse_reply_err(req, ENODATA);
		else if (size)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_xattr(req, 0);
		return;
	}
	r = resolve(mt, ino, &n);
	if (r == 0)
		r = gate(req, mt, &n);
	if (r == 0 && !n.fs)
		r = !name ? 0 : !strcmp(name, SFS_SELINUX_XATTR) ? -EOPNOTSUPP : -ENODATA;
	else if (r == 0 && size && !(buf = malloc(size)))
		r = -ENOMEM;
	if (r == 0 && n.fs)
		r = sfs_files_acquire(mt->files, n.e, &fv);
	if (r == 0 && n.fs) {
		if (name && !strcmp(name, SFS_SELINUX_XATTR) && !sfs_fsview_labelled(fv))
			len = -EOPNOTSUPP;
		else if (name)
			len = sfs_fsview_getxattr(fv, n.ext, name, buf, size);
		else
			len = sfs_fsview_listxattr(fv, n.ext, buf, size);
		sfs_files_release(mt->files, n.e);
		r = len < 0 ? (int)len : 0;
	}
	if (r < 0)
		fuse_reply_err(req, fuse_errno(r));
	else if (size)
		fuse_reply_buf(req, buf, (size_t)len);
	else
		fuse_reply_xattr(req, (size_t)len);
	free(buf);
}

void sfs_files_getxattr(fuse_req_t req, uint64_t ino, const char *name, size_t size)
{
	do_xattr(req, ino, name, size);
}

void sfs_files_listxattr(fuse_req_t req, uint64_t ino, size_t size)
{
	do_xattr(req, ino, NULL, size);
}

int sfs_files_image_dev(struct sfs_mount *mt, const struct sfs_timage *ti,
			const struct sfs_timgfile *tf, uint64_t *ret_ino)
{
	struct sfs_fsent *e;
	struct sfs_tsnap ts;
	int r = sfs_tree_snap(mt->tree, tf->map.id, &ts);

	if (r == 0)
		r = sfs_files_volume_as(mt->files, &ts, ti->access, ti->name, &e);
	if (r == 0)
		*ret_ino = SFS_FILES_INO(e->num, SFS_FILES_TOP);
	return r;
}

int sfs_files_stat(struct sfs_mount *mt, uint64_t ino, struct stat *st, double *ret_timeout)
{
	struct node n;
	int r = resolve(mt, ino, &n);

	return r < 0 ? r : node_attr(mt, &n, st, ret_timeout);
}

int sfs_files_latest_target(const char *latest_img, char *buf, size_t size)
{
	static const char prefix[] = "../../snapshots/";
	size_t len = strlen(latest_img);

	if (strncmp(latest_img, prefix, sizeof(prefix) - 1) || len < sizeof(prefix) + 4 ||
	    strcmp(latest_img + len - 4, ".img"))
		return -ENOENT;
	if ((size_t)snprintf(buf, size, "../../files/%.*s", (int)(len - sizeof(prefix) + 1 - 4),
			     latest_img + sizeof(prefix) - 1) >= size)
		return -ENAMETOOLONG;
	return 0;
}
