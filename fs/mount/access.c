// SPDX-License-Identifier: MIT
/*
 * The mount's side of access control: who is asking (uid, primary and
 * supplementary groups of the calling process) and which catalog object a
 * node shows. The decision itself is the store's (sfs_access_check); this
 * file only feeds it. A mount without allow_other is reached by its owner
 * alone, so it checks nothing.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "fsops_int.h"
#include "mount_int.h"

/* The caller's supplementary groups from /proc (fuse_req_getgroups), or,
 * where that is not available, from the group database. Fills g->list
 * after the primary group; returns how many in all, or -errno. */
static int caller_groups(fuse_req_t req, struct sfs_gate *g)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	size_t room = SFS_GATE_GROUPS - 1;
	struct passwd *pw;
	int n;

	g->list = g->groups;
	g->list[0] = ctx->gid;
	n = fuse_req_getgroups(req, (int)room, g->list + 1);
	if (n > (int)room) {
		g->list = calloc((size_t)n + 1, sizeof(gid_t));
		if (!g->list)
			return -ENOMEM;
		g->list[0] = ctx->gid;
		n = fuse_req_getgroups(req, n, g->list + 1);
	}
	if (n >= 0)
		return n + 1;
	if (g->list != g->groups)
		free(g->list);
	g->list = g->groups;
	pw = getpwuid(ctx->uid);
	if (!pw)
		return 1;
	n = (int)room;
	if (getgrouplist(pw->pw_name, ctx->gid, g->list + 1, &n) < 0)
		n = (int)room; /* the first ones; the rest are not worth a second lookup */
	return n + 1;
}

int sfs_gate_begin(fuse_req_t req, struct sfs_mount *mt, struct sfs_gate *g)
{
	int n, r;

	memset(g, 0, sizeof(*g));
	g->list = g->groups;
	if (!mt->opts.allow_other)
		return 0;
	n = caller_groups(req, g);
	if (n < 0)
		return n;
	g->cred.uid = fuse_req_ctx(req)->uid;
	g->cred.groups = g->list;
	g->cred.ngroups = (size_t)n;
	r = sfs_txn_begin(mt->store, false, &g->txn);
	if (r < 0) {
		if (g->list != g->groups)
			free(g->list);
		g->list = g->groups;
		return r;
	}
	g->on = true;
	return 0;
}

int sfs_gate_check(struct sfs_gate *g, enum sfs_access_kind kind, const char *name)
{
	return g->on ? sfs_access_check(g->txn, kind, name, &g->cred) : 0;
}

void sfs_gate_end(struct sfs_gate *g)
{
	sfs_txn_abort(g->txn);
	g->txn = NULL;
	if (g->list != g->groups)
		free(g->list);
	g->list = g->groups;
	g->on = false;
}

int sfs_gate(fuse_req_t req, struct sfs_mount *mt, enum sfs_access_kind kind, const char *name)
{
	struct sfs_gate g;
	int r;

	if (!mt->opts.allow_other)
		return 0;
	r = sfs_gate_begin(req, mt, &g);
	if (r == 0)
		r = sfs_gate_check(&g, kind, name);
	sfs_gate_end(&g);
	return r;
}

int sfs_gate_ino(fuse_req_t req, struct sfs_mount *mt, uint64_t ino)
{
	const struct sfs_timage *ti = NULL;
	char name[SFS_NAME_MAX + 1];
	enum sfs_access_kind kind = SFS_ACCESS_IMAGE;
	struct sfs_tvolinfo vi;
	struct sfs_tsnap ts;
	struct sfs_view *v;
	int r = 0;

	if (!mt->opts.allow_other || !sfs_ino_gated(ino))
		return 0;
	switch (SFS_INO_KIND(ino)) {
	case SFS_INO_KIND_SNAP:
		kind = SFS_ACCESS_SNAPSHOT;
		r = sfs_tree_node_get(mt->tree, ino, &ts);
		if (r < 0) {
			/* Not handed out by a lookup: ask a view. */
			const struct sfs_tsnap *vts;

			r = sfs_tree_get(mt->tree, &v);
			if (r < 0)
				return r;
			vts = sfs_view_snap_by_ino(v, ino);
			if (vts)
				ts = *vts;
			sfs_view_put(v);
			if (!vts)
				return -ENOENT;
		}
		snprintf(name, sizeof(name), "%s", ts.map.id);
		break;
	case SFS_INO_KIND_VOL:
	case SFS_INO_KIND_LATEST:
	case SFS_INO_KIND_LATEST_FILES:
		kind = SFS_ACCESS_VOLUME;
		r = sfs_tree_vol_by_ino(mt->tree, ino, &vi);
		if (r < 0)
			return r;
		snprintf(name, sizeof(name), "%s", vi.name);
		break;
	case SFS_INO_KIND_IMAGE:
	case SFS_INO_KIND_IMGFILE:
	case SFS_INO_KIND_CKPT:
	case SFS_INO_KIND_CKPTFILE:
		r = sfs_tree_get(mt->tree, &v);
		if (r < 0)
			return r;
		if (sfs_ino_is_rdir(ino))
			ti = sfs_view_image_by_ino(v, ino);
		else
			sfs_view_imgfile_by_ino(v, ino, &ti);
		if (ti) {
			kind = ti->access;
			snprintf(name, sizeof(name), "%s", ti->name);
		}
		sfs_view_put(v);
		if (!ti)
			return -ENOENT;
		break;
	default:
		return -ENOENT;
	}
	return sfs_gate(req, mt, kind, name);
}
