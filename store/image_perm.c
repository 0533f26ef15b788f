// SPDX-License-Identifier: MIT
/*
 * Launch permissions of a machine image: the lists of host user and group
 * names a record keeps, and their resolution into uids and gids that the
 * mount checks on every open. Names rather than numbers are stored so that
 * a store copied to another host grants access to the same people, not to
 * whoever happens to have the same uid there.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfs/image.h"

static json_t *perm_list(struct sfs_image *img, int kind)
{
	switch (kind) {
	case SFS_PERM_USER:
		return img->users;
	case SFS_PERM_GROUP:
		return img->groups;
	}
	return NULL;
}

static ssize_t perm_index(json_t *arr, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);
		if (s && !strcmp(s, name))
			return (ssize_t)i;
	}
	return -1;
}

int sfs_image_perm_add(struct sfs_image *img, int kind, const char *name)
{
	json_t *arr = perm_list(img, kind);
	size_t i;

	if (!arr || !*name || strlen(name) > SFS_NAME_MAX || strchr(name, ':') ||
	    strchr(name, '\n'))
		return -EINVAL;
	if (perm_index(arr, name) >= 0)
		return -EEXIST;
	/* Kept sorted so that listings and records do not depend on the
	 * order in which permissions were granted. */
	for (i = 0; i < json_array_size(arr); i++)
		if (strcmp(json_string_value(json_array_get(arr, i)), name) > 0)
			break;
	return json_array_insert_new(arr, i, json_string(name)) < 0 ? -ENOMEM : 0;
}

int sfs_image_perm_remove(struct sfs_image *img, int kind, const char *name)
{
	json_t *arr = perm_list(img, kind);
	ssize_t i;

	if (!arr)
		return -EINVAL;
	i = perm_index(arr, name);
	if (i < 0)
		return -ENOENT;
	json_array_remove(arr, (size_t)i);
	return 0;
}

/* sysconf's hint, or a size that fits every realistic entry. */
static size_t pw_bufsize(int which)
{
	long n = sysconf(which);

	return n > 0 ? (size_t)n : 16384;
}

/* The id of a host user (group: false) or group (group: true) by name;
 * -ENOENT when there is none. The buffer grows until the entry fits. */
static int lookup_id(const char *name, bool group, id_t *ret)
{
	size_t cap = pw_bufsize(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *pwres = NULL;
	struct group gr, *grres = NULL;
	bool found;
	char *buf;
	int e;

	for (;;) {
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		if (group)
			e = getgrnam_r(name, &gr, buf, cap, &grres);
		else
			e = getpwnam_r(name, &pw, buf, cap, &pwres);
		if (e != ERANGE)
			break;
		free(buf);
		cap *= 2;
	}
	found = group ? grres != NULL : pwres != NULL;
	if (e == 0 && found)
		*ret = group ? (id_t)gr.gr_gid : (id_t)pw.pw_uid;
	free(buf);
	if (e)
		return -e;
	return found ? 0 : -ENOENT;
}

static int lookup_uid(const char *name, uid_t *ret)
{
	id_t id;
	int r = lookup_id(name, false, &id);

	if (r == 0)
		*ret = (uid_t)id;
	return r;
}

static int lookup_gid(const char *name, gid_t *ret)
{
	id_t id;
	int r = lookup_id(name, true, &id);

	if (r == 0)
		*ret = (gid_t)id;
	return r;
}

int sfs_image_acl_build(const struct sfs_image *img, struct sfs_image_acl *ret)
{
	struct sfs_image_acl acl = {.public = img->public};
	size_t nu = json_array_size(img->users), ng = json_array_size(img->groups);

	acl.uids = calloc(nu ? nu : 1, sizeof(*acl.uids));
	acl.gids = calloc(ng ? ng : 1, sizeof(*acl.gids));
	if (!acl.uids || !acl.gids) {
		sfs_image_acl_release(&acl);
		return -ENOMEM;
	}
	if (img->owner && lookup_uid(img->owner, &acl.owner) == 0)
		acl.has_owner = true;
	/* A name that does not resolve grants nothing; -ENOMEM aside, lookup
	 * errors (an unreachable directory service) grant nothing either. */
	for (size_t i = 0; i < nu; i++)
		if (lookup_uid(json_string_value(json_array_get(img->users, i)),
			       &acl.uids[acl.nuids]) == 0)
			acl.nuids++;
	for (size_t i = 0; i < ng; i++)
		if (lookup_gid(json_string_value(json_array_get(img->groups, i)),
			       &acl.gids[acl.ngids]) == 0)
			acl.ngids++;
	*ret = acl;
	return 0;
}

void sfs_image_acl_release(struct sfs_image_acl *acl)
{
	if (!acl)
		return;
	free(acl->uids);
	free(acl->gids);
	acl->uids = NULL;
	acl->gids = NULL;
	acl->nuids = acl->ngids = 0;
}

bool sfs_image_acl_allows(const struct sfs_image_acl *acl, uid_t uid, const gid_t *groups,
			  size_t ngroups, uid_t store_owner)
{
	if (uid == 0 || uid == store_owner || acl->public || (acl->has_owner && uid == acl->owner))
		return true;
	for (size_t i = 0; i < acl->nuids; i++)
		if (acl->uids[i] == uid)
			return true;
	for (size_t i = 0; i < acl->ngids; i++)
		for (size_t j = 0; j < ngroups; j++)
			if (acl->gids[i] == groups[j])
				return true;
	return false;
}
