// SPDX-License-Identifier: MIT
/*
 * Launch permissions at the FUSE boundary: who is asking (uid, primary
 * and supplementary groups of the calling process) and whether the
 * image's permissions cover them. A mount without allow_other is reached
 * by its owner alone (and root), so it checks nothing.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

#include "fsops_int.h"
#include "mount_int.h"

#define GROUPS_ON_STACK 64

/* The caller's groups from /proc (fuse_req_getgroups), or, where that
 * is not available, from the group database. Returns how many, or -errno;
 * *list is groups or a malloc'd array the caller frees. */
static int caller_groups(fuse_req_t req, gid_t *groups, gid_t **list)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct passwd *pw;
	int n = fuse_req_getgroups(req, GROUPS_ON_STACK, groups);

	*list = groups;
	if (n > GROUPS_ON_STACK) {
		*list = calloc((size_t)n, sizeof(gid_t));
		if (!*list)
			return -ENOMEM;
		n = fuse_req_getgroups(req, n, *list);
	}
	if (n >= 0)
		return n;
	if (*list != groups)
		free(*list);
	*list = groups;
	pw = getpwuid(ctx->uid);
	if (!pw)
		return 0;
	n = GROUPS_ON_STACK;
	if (getgrouplist(pw->pw_name, ctx->gid, groups, &n) < 0)
		n = GROUPS_ON_STACK; /* the first ones; the rest are not worth a second lookup */
	return n;
}

int sfs_image_access(fuse_req_t req, const struct sfs_mount *mt, const struct sfs_view *v,
		     const struct sfs_timage *ti)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[GROUPS_ON_STACK + 1], *list;
	bool ok;
	int n;

	if (!mt->opts.allow_other)
		return 0;
	if (sfs_image_acl_allows(&ti->acl, ctx->uid, &ctx->gid, 1, v->store_owner))
		return 0;
	n = caller_groups(req, groups, &list);
	if (n < 0)
		return n;
	ok = sfs_image_acl_allows(&ti->acl, ctx->uid, list, (size_t)n, v->store_owner);
	if (list != groups)
		free(list);
	return ok ? 0 : -EACCES;
}
