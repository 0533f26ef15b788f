// SPDX-License-Identifier: MIT
/*
 * Which image uses a snapshot: the one question about images that the
 * snapshot lifecycle asks. A linear scan of the images database: images
 * are few (tens to thousands) and deletes are rare.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "snapfs/image.h"
#include "store_int.h"

struct user_of {
	const char *snap_id;
	char *name;
	size_t len;
};

/* 1 when the image at k maps the snapshot, with its name copied out. */
static int user_of_cb(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct user_of *u = ctx;
	json_t *o = json_loadb(v->mv_data, v->mv_size, 0, NULL), *d;
	int found = 0;
	size_t i;

	if (!o)
		return -EBADMSG;
	json_array_foreach(json_object_get(o, "devices"), i, d) {
		const char *sid = json_string_value(json_object_get(d, "snapshot"));
		if (sid && !strcmp(sid, u->snap_id)) {
			snprintf(u->name, u->len, "%.*s", (int)k->mv_size, (const char *)k->mv_data);
			found = 1;
			break;
		}
	}
	json_decref(o);
	return found;
}

int sfs_image_user_of(struct sfs_txn *t, const char *snap_id, char *ret_name, size_t len)
{
	struct user_of u = {snap_id, ret_name, len};

	return sfs_cat_foreach_raw(t, SFS_DBI_IMAGES, user_of_cb, &u);
}
