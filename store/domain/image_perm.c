// SPDX-License-Identifier: MIT
/*
 * Launch permissions of a machine image: the lists of host user and group
 * names a record keeps. They are grant lists like a volume's (access.h),
 * and the mount checks them through sfs_access_check like every other
 * grant.
 */
#include <errno.h>

#include "snapfs/access.h"
#include "snapfs/image.h"

static json_t **perm_list(struct sfs_image *img, int kind)
{
	switch (kind) {
	case SFS_PERM_USER:
		return &img->users;
	case SFS_PERM_GROUP:
		return &img->groups;
	}
	return NULL;
}

int sfs_image_perm_add(struct sfs_image *img, int kind, const char *name)
{
	json_t **list = perm_list(img, kind);

	return list ? sfs_grant_add(list, name) : -EINVAL;
}

int sfs_image_perm_remove(struct sfs_image *img, int kind, const char *name)
{
	json_t **list = perm_list(img, kind);

	return list ? sfs_grant_remove(list, name) : -EINVAL;
}
