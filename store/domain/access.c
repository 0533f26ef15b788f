// SPDX-License-Identifier: MIT
/*
 * The access decision for everything a mount shows (access.h), and the
 * grant lists that volume and snapshot records keep. One function decides,
 * so that every tree of the mount, present or to come, applies the same
 * rule; the mount only says who asks and about which object.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapfs/access.h"
#include "snapfs/checkpoint.h"
#include "snapfs/image.h"
#include "store_int.h"

const char *sfs_access_kind_name(enum sfs_access_kind kind)
{
	switch (kind) {
	case SFS_ACCESS_VOLUME:
		return "volume";
	case SFS_ACCESS_SNAPSHOT:
		return "snapshot";
	case SFS_ACCESS_IMAGE:
		return "image";
	case SFS_ACCESS_CHECKPOINT:
		return "checkpoint";
	}
	return "object";
}

/* ---- grant lists ---- */

static ssize_t name_index(const json_t *arr, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		if (s && !strcmp(s, name))
			return (ssize_t)i;
	}
	return -1;
}

int sfs_grant_add(json_t **list, const char *name)
{
	size_t i;

	if (!*name || strlen(name) > SFS_NAME_MAX || strchr(name, ':') || strchr(name, '\n'))
		return -EINVAL;
	if (!*list) {
		*list = json_array();
		if (!*list)
			return -ENOMEM;
	}
	if (name_index(*list, name) >= 0)
		return -EEXIST;
	/* Kept sorted so that listings and records do not depend on the
	 * order in which grants were given. */
	for (i = 0; i < json_array_size(*list); i++) {
		const char *s = json_string_value(json_array_get(*list, i));
		if (s && strcmp(s, name) > 0)
			break;
	}
	return json_array_insert_new(*list, i, json_string(name)) < 0 ? -ENOMEM : 0;
}

int sfs_grant_remove(json_t **list, const char *name)
{
	ssize_t i = *list ? name_index(*list, name) : -1;

	if (i < 0)
		return -ENOENT;
	json_array_remove(*list, (size_t)i);
	return 0;
}

/* ---- resolving names ---- */

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

static bool user_is(const char *name, uid_t uid)
{
	id_t id;

	return name && lookup_id(name, false, &id) == 0 && (uid_t)id == uid;
}

/* Whether who is one of users or in one of groups. A name that does not
 * resolve, or whose lookup fails (an unreachable directory service),
 * grants nothing. */
static bool grants_cover(const json_t *users, const json_t *groups, const struct sfs_cred *who)
{
	json_t *v;
	size_t i;
	id_t id = 0;

	json_array_foreach(users, i, v) {
		if (user_is(json_string_value(v), who->uid))
			return true;
	}
	json_array_foreach(groups, i, v) {
		const char *s = json_string_value(v);

		if (!s || lookup_id(s, true, &id) < 0)
			continue;
		for (size_t j = 0; j < who->ngroups; j++)
			if (who->groups[j] == (gid_t)id)
				return true;
	}
	return false;
}

/* ---- the decision ---- */

/* Root, and the owner of the store directory, who could read its packs
 * anyway. */
static bool privileged(struct sfs_store *s, uid_t uid)
{
	struct stat st;

	return uid == 0 || (fstat(s->dirfd, &st) == 0 && st.st_uid == uid);
}

static int volume_check(struct sfs_txn *t, const char *name, const struct sfs_cred *who)
{
	struct sfs_volume v = { 0 };
	int r = sfs_cat_volume_get(t, name, &v);

	if (r < 0)
		return r;
	r = grants_cover(v.users, v.groups, who) ? 0 : -EACCES;
	sfs_volume_release(&v);
	return r;
}

static int snapshot_check(struct sfs_txn *t, const char *id, const struct sfs_cred *who)
{
	struct sfs_snapshot sn = { 0 };
	int r = sfs_cat_snapshot_get(t, id, &sn);

	if (r < 0)
		return r;
	r = grants_cover(sn.users, sn.groups, who) ? 0 : -EACCES;
	/* A grant on the volume covers all its snapshots. A volume record
	 * that is missing grants nothing more. */
	if (r == -EACCES) {
		r = volume_check(t, sn.volume, who);
		if (r == -ENOENT)
			r = -EACCES;
	}
	sfs_snapshot_release(&sn);
	return r;
}

static int image_check(struct sfs_txn *t, const char *name, const struct sfs_cred *who)
{
	struct sfs_image img;
	int r = sfs_cat_image_get(t, name, &img);

	if (r < 0)
		return r;
	if (img.public || user_is(img.owner, who->uid) || grants_cover(img.users, img.groups, who))
		r = 0;
	else
		r = -EACCES;
	sfs_image_release(&img);
	return r;
}

/* As the image it was launched from: the RAM it holds is the image's
 * users' business and nobody else's. */
static int checkpoint_check(struct sfs_txn *t, const char *name, const struct sfs_cred *who)
{
	struct sfs_checkpoint ck;
	int r = sfs_cat_checkpoint_get(t, name, &ck);

	if (r < 0)
		return r;
	r = ck.image[0] ? image_check(t, ck.image, who) : -EACCES;
	if (r == -ENOENT)
		r = -EACCES; /* the image went: nobody inherits its grants */
	sfs_checkpoint_release(&ck);
	return r;
}

int sfs_access_check(struct sfs_txn *t, enum sfs_access_kind kind, const char *name,
		     const struct sfs_cred *who)
{
	if (privileged(sfs_txn_store(t), who->uid))
		return 0;
	switch (kind) {
	case SFS_ACCESS_VOLUME:
		return volume_check(t, name, who);
	case SFS_ACCESS_SNAPSHOT:
		return snapshot_check(t, name, who);
	case SFS_ACCESS_IMAGE:
		return image_check(t, name, who);
	case SFS_ACCESS_CHECKPOINT:
		return checkpoint_check(t, name, who);
	}
	return -EINVAL;
}

/* ---- grants in the catalog ---- */

int sfs_cat_grants_get(struct sfs_txn *t, enum sfs_access_kind kind, const char *name,
		       json_t **ret_users, json_t **ret_groups)
{
	struct sfs_snapshot sn = { 0 };
	struct sfs_volume v = { 0 };
	json_t *users, *groups;
	int r;

	if (kind == SFS_ACCESS_VOLUME) {
		r = sfs_cat_volume_get(t, name, &v);
		users = v.users;
		groups = v.groups;
	} else if (kind == SFS_ACCESS_SNAPSHOT) {
		r = sfs_cat_snapshot_get(t, name, &sn);
		users = sn.users;
		groups = sn.groups;
	} else {
		return -EINVAL;
	}
	if (r < 0)
		return r;
	*ret_users = users ? json_incref(users) : json_array();
	*ret_groups = groups ? json_incref(groups) : json_array();
	sfs_volume_release(&v);
	sfs_snapshot_release(&sn);
	if (!*ret_users || !*ret_groups) {
		json_decref(*ret_users);
		json_decref(*ret_groups);
		return -ENOMEM;
	}
	return 0;
}

static int grant_change(json_t **list, const char *who, bool add)
{
	return add ? sfs_grant_add(list, who) : sfs_grant_remove(list, who);
}

int sfs_cat_grant(struct sfs_txn *t, enum sfs_access_kind kind, const char *name,
		  enum sfs_perm_kind pkind, const char *who, bool add)
{
	struct sfs_snapshot sn = { 0 };
	struct sfs_volume v = { 0 };
	int r;

	if (kind == SFS_ACCESS_VOLUME) {
		r = sfs_cat_volume_get(t, name, &v);
		if (r == 0)
			r = grant_change(pkind == SFS_PERM_USER ? &v.users : &v.groups, who, add);
		if (r == 0)
			r = sfs_cat_volume_put(t, &v);
		sfs_volume_release(&v);
		return r;
	}
	if (kind == SFS_ACCESS_SNAPSHOT) {
		r = sfs_cat_snapshot_get(t, name, &sn);
		if (r == 0)
			r = grant_change(pkind == SFS_PERM_USER ? &sn.users : &sn.groups, who, add);
		if (r == 0)
			r = sfs_cat_snapshot_put(t, &sn);
		sfs_snapshot_release(&sn);
		return r;
	}
	return -EINVAL;
}
