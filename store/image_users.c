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

int sfs_image_user_of(struct sfs_txn *t, const char *snap_id, char *ret_name, size_t len)
{
	struct sfs_store *s = sfs_txn_store(t);
	MDB_cursor *c;
	MDB_val k, v;
	int rc, found = 0;

	rc = mdb_cursor_open(sfs_txn_mdb(t), s->dbi[SFS_DBI_IMAGES], &c);
	if (rc)
		return sfs_mdb_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !found;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL), *d;
		size_t i;

		if (!o) {
			found = -EBADMSG;
			break;
		}
		json_array_foreach(json_object_get(o, "devices"), i, d) {
			const char *sid = json_string_value(json_object_get(d, "snapshot"));
			if (sid && !strcmp(sid, snap_id)) {
				snprintf(ret_name, len, "%.*s", (int)k.mv_size,
					 (const char *)k.mv_data);
				found = 1;
				break;
			}
		}
		json_decref(o);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND && !found)
		return sfs_mdb_err(rc);
	return found;
}
