// SPDX-License-Identifier: MIT
/*
 * The catalog's records as bytes: validation of names and ids, and the
 * versioned JSON encoding of volume and snapshot records. Decoders check
 * every field they read, since a catalog on disk is as untrusted as a
 * pack; they are also the fuzz targets' entry points.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "snapfs/catalog.h"
#include "store_int.h"

#define RECORD_VERSION 1

/* ---- names and ids ---- */

bool sfs_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SFS_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. jansson refuses anything else when a record is encoded, and
 * that refusal surfaced as a failed allocation or a tag silently lost. */
int sfs_text_check(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p) {
		unsigned c = *p, n, cp, min;

		if (c < 0x80) {
			p++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return -EILSEQ;
		}
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -EILSEQ;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -EILSEQ;
		p += n + 1;
	}
	return 0;
}

int sfs_tag_check(const char *key, const char *value)
{
	if (sfs_text_check(key) < 0 || sfs_text_check(value) < 0)
		return -EILSEQ;
	if (!strncmp(key, SFS_TAG_RESERVED, strlen(SFS_TAG_RESERVED)))
		return -EPERM;
	return 0;
}

bool sfs_idstr_valid(const char *id, const char *prefix)
{
	size_t pl = strlen(prefix), n;

	if (strncmp(id, prefix, pl) != 0)
		return false;
	n = strlen(id + pl);
	if (n < 8 || n > 17)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[pl + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

int sfs_idstr_new(const char *prefix, char buf[SFS_IDSTR_SIZE])
{
	uint8_t rnd[9];
	size_t pl = strlen(prefix);

	if (pl + 17 >= SFS_IDSTR_SIZE)
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	memcpy(buf, prefix, pl);
	for (int i = 0; i < 17; i++) {
		uint8_t nib = (uint8_t)(i & 1 ? rnd[i / 2] & 15 : rnd[i / 2] >> 4);
		buf[pl + (size_t)i] = "0123456789abcdef"[nib];
	}
	buf[pl + 17] = '\0';
	return 0;
}

/* ---- JSON field helpers ---- */

int sfs_json_str(json_t *o, const char *key, bool required, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!v || json_is_null(v)) {
		if (required)
			return -EBADMSG;
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	n = strlen(s);
	if (n >= cap)
		return -EBADMSG;
	memcpy(dst, s, n + 1);
	return 0;
}

int sfs_json_strdup(json_t *o, const char *key, char **dst)
{
	json_t *v = json_object_get(o, key);

	*dst = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*dst = strdup(json_string_value(v));
	return *dst ? 0 : -ENOMEM;
}

static int ju64(json_t *o, const char *key, bool required, uint64_t *dst)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		*dst = 0;
		return required ? -EBADMSG : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

static int jtags(json_t *o, json_t **dst)
{
	json_t *v = json_object_get(o, "tags"), *val;
	const char *k;

	if (!v) {
		*dst = json_object();
		return *dst ? 0 : -ENOMEM;
	}
	if (!json_is_object(v))
		return -EBADMSG;
	json_object_foreach(v, k, val) {
		if (!json_is_string(val))
			return -EBADMSG;
	}
	*dst = json_deep_copy(v);
	return *dst ? 0 : -ENOMEM;
}

/* An optional list of names (read grants): NULL when absent, null or
 * empty; otherwise an array of strings, copied. */
static int jnames(json_t *o, const char *key, json_t **dst)
{
	json_t *v = json_object_get(o, key), *e;
	size_t i;

	*dst = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return -EBADMSG;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return -EBADMSG;
	}
	if (!json_array_size(v))
		return 0;
	*dst = json_deep_copy(v);
	return *dst ? 0 : -ENOMEM;
}

/* Adds the grant lists to a record being encoded (o may be NULL: no
 * memory). Written only when non-empty, so a record without grants has
 * the bytes it had before grants existed. */
static json_t *with_grants(json_t *o, json_t *users, json_t *groups)
{
	if (o && users && json_array_size(users) && json_object_set(o, "users", users) < 0)
		goto out_free;
	if (o && groups && json_array_size(groups) && json_object_set(o, "groups", groups) < 0)
		goto out_free;
	return o;
out_free:
	json_decref(o);
	return NULL;
}

static json_t *parse_record(const void *buf, size_t len)
{
	return sfs_record_loads(buf, len, RECORD_VERSION, NULL);
}

/* ---- volumes ---- */

void sfs_volume_release(struct sfs_volume *v)
{
	if (!v)
		return;
	free(v->source);
	json_decref(v->tags);
	json_decref(v->users);
	json_decref(v->groups);
	v->source = NULL;
	v->tags = NULL;
	v->users = v->groups = NULL;
}

int sfs_volume_decode(const void *buf, size_t len, struct sfs_volume *ret)
{
	struct sfs_volume v = { 0 };
	uint64_t created = 0;
	json_t *o = parse_record(buf, len);
	int r;

	if (!o)
		return -EBADMSG;
	r = sfs_json_str(o, "name", true, v.name, sizeof(v.name));
	if (r == 0)
		r = sfs_json_str(o, "id", true, v.id, sizeof(v.id));
	if (r == 0)
		r = ju64(o, "created", true, &created);
	if (r == 0)
		r = ju64(o, "size", true, &v.size);
	if (r == 0)
		r = sfs_json_strdup(o, "source", &v.source);
	if (r == 0)
		r = jtags(o, &v.tags);
	if (r == 0)
		r = jnames(o, "users", &v.users);
	if (r == 0)
		r = jnames(o, "groups", &v.groups);
	if (r == 0 && (!sfs_name_valid(v.name) || !sfs_idstr_valid(v.id, "vol-")))
		r = -EBADMSG;
	json_decref(o);
	if (r < 0) {
		sfs_volume_release(&v);
		return r;
	}
	v.created = (int64_t)created;
	*ret = v;
	return 0;
}

json_t *sfs_volume_to_json(const struct sfs_volume *v)
{
	return with_grants(json_pack("{s:s, s:s, s:I, s:I, s:s?, s:o}", "name", v->name, "id",
				     v->id, "created", (json_int_t)v->created, "size",
				     (json_int_t)v->size, "source", v->source, "tags",
				     v->tags ? json_incref(v->tags) : json_object()),
			   v->users, v->groups);
}

char *sfs_volume_encode(const struct sfs_volume *v)
{
	return sfs_record_dumps(sfs_volume_to_json(v), RECORD_VERSION);
}

const char *sfs_snap_state_name(int state)
{
	switch (state) {
	case SFS_SNAP_PENDING:
		return "pending";
	case SFS_SNAP_COMPLETED:
		return "completed";
	case SFS_SNAP_ERROR:
		return "error";
	}
	return "unknown";
}

const char *sfs_lock_mode_name(int mode)
{
	switch (mode) {
	case SFS_LOCK_GOVERNANCE:
		return "governance";
	case SFS_LOCK_COMPLIANCE:
		return "compliance";
	}
	return NULL;
}

int sfs_lock_mode_parse(const char *s)
{
	for (int i = SFS_LOCK_GOVERNANCE; i <= SFS_LOCK_COMPLIANCE; i++)
		if (s && !strcmp(s, sfs_lock_mode_name(i)))
			return i;
	return -EINVAL;
}

static int state_from_name(const char *s)
{
	for (int i = SFS_SNAP_PENDING; i <= SFS_SNAP_ERROR; i++)
		if (!strcmp(s, sfs_snap_state_name(i)))
			return i;
	return -1;
}

void sfs_snapshot_release(struct sfs_snapshot *sn)
{
	if (!sn)
		return;
	free(sn->description);
	free(sn->copied_from);
	json_decref(sn->tags);
	json_decref(sn->users);
	json_decref(sn->groups);
	sn->description = sn->copied_from = NULL;
	sn->tags = sn->users = sn->groups = NULL;
}

/* The fields of a snapshot record and the checks on them, shared by the
 * full decoder and the listing decoder (which skips the heap fields: no
 * description, copy source or tags). */
static int snapshot_fields(json_t *o, bool heap_fields, struct sfs_snapshot *sn)
{
	char state[16], root[SFS_ID_HEX_LEN + 1], lock_mode[16] = "";
	uint64_t created = 0, created_ns = 0, bs = 0, depth = 0, lock_until = 0;
	int r;

	r = sfs_json_str(o, "id", true, sn->id, sizeof(sn->id));
	if (!r)
		r = sfs_json_str(o, "volume", true, sn->volume, sizeof(sn->volume));
	if (!r)
		r = sfs_json_str(o, "parent", false, sn->parent, sizeof(sn->parent));
	if (!r)
		r = sfs_json_str(o, "state", true, state, sizeof(state));
	if (!r)
		r = sfs_json_str(o, "root", true, root, sizeof(root));
	if (!r)
		r = ju64(o, "seq", true, &sn->seq);
	if (!r)
		r = ju64(o, "created", true, &created);
	if (!r) /* optional: records made before it have whole seconds */
		r = ju64(o, "created_ns", false, &created_ns);
	if (!r)
		r = ju64(o, "size", true, &sn->size);
	if (!r)
		r = ju64(o, "block_size", true, &bs);
	if (!r)
		r = ju64(o, "depth", true, &depth);
	if (!r)
		r = ju64(o, "data_bytes", false, &sn->data_bytes);
	if (!r)
		r = ju64(o, "new_bytes", false, &sn->new_bytes);
	if (!r)
		r = ju64(o, "new_chunks", false, &sn->new_chunks);
	if (!r) /* optional, both or neither: a lock */
		r = sfs_json_str(o, "lock_mode", false, lock_mode, sizeof(lock_mode));
	if (!r)
		r = ju64(o, "lock_until", false, &lock_until);
	if (!r && heap_fields)
		r = sfs_json_strdup(o, "description", &sn->description);
	if (!r && heap_fields)
		r = sfs_json_strdup(o, "copied_from", &sn->copied_from);
	if (!r && heap_fields)
		r = jtags(o, &sn->tags);
	if (!r && heap_fields)
		r = jnames(o, "users", &sn->users);
	if (!r && heap_fields)
		r = jnames(o, "groups", &sn->groups);
	if (r)
		return r;
	sn->state = state_from_name(state);
	sn->created = (int64_t)created;
	sn->created_ns = (uint32_t)created_ns;
	sn->block_size = (uint32_t)bs;
	sn->depth = (uint32_t)depth;
	sn->lock_mode = lock_mode[0] ? sfs_lock_mode_parse(lock_mode) : SFS_LOCK_NONE;
	sn->lock_until = (int64_t)lock_until;
	if (sn->lock_mode < 0 || (sn->lock_mode == SFS_LOCK_NONE) != (lock_until == 0) ||
	    lock_until > (UINT64_C(1) << 40))
		return -EBADMSG;
	if (sn->state < 0 || !sfs_idstr_valid(sn->id, "snap-") || !sfs_name_valid(sn->volume) ||
	    (sn->parent[0] && !sfs_idstr_valid(sn->parent, "snap-")) || bs < SFS_BLOCK_MIN ||
	    bs > SFS_BLOCK_MAX || (bs & (bs - 1)) || depth > 6 ||
	    sfs_id_from_hex(root, &sn->root) < 0 || sn->size > (UINT64_C(1) << 56) ||
	    sn->data_bytes > sn->size || created_ns > 999999999)
		return -EBADMSG;
	return 0;
}

int sfs_snapshot_decode(const void *buf, size_t len, struct sfs_snapshot *ret)
{
	struct sfs_snapshot sn = { 0 };
	json_t *o = parse_record(buf, len);
	int r;

	if (!o)
		return -EBADMSG;
	r = snapshot_fields(o, true, &sn);
	json_decref(o);
	if (r < 0) {
		sfs_snapshot_release(&sn);
		return r;
	}
	*ret = sn;
	return 0;
}

int sfs_snapshot_decode_brief(const void *buf, size_t len, struct sfs_snapshot *ret)
{
	json_t *o = parse_record(buf, len);
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!o)
		return -EBADMSG;
	r = snapshot_fields(o, false, ret);
	json_decref(o);
	return r;
}

json_t *sfs_snapshot_to_json(const struct sfs_snapshot *sn)
{
	char root[SFS_ID_HEX_LEN + 1];

	sfs_id_to_hex(&sn->root, root);
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, "
			 "s:I, s:s?, s:s?, s:o}",
			 "id", sn->id, "volume", sn->volume, "parent",
			 sn->parent[0] ? sn->parent : NULL, "state", sfs_snap_state_name(sn->state),
			 "seq", (json_int_t)sn->seq, "created", (json_int_t)sn->created,
			 "created_ns", (json_int_t)sn->created_ns, "size",
			 (json_int_t)sn->size, "block_size", (json_int_t)sn->block_size, "root",
			 root, "depth", (json_int_t)sn->depth, "data_bytes",
			 (json_int_t)sn->data_bytes, "new_bytes", (json_int_t)sn->new_bytes,
			 "new_chunks", (json_int_t)sn->new_chunks, "description", sn->description,
			 "copied_from", sn->copied_from, "tags",
			 sn->tags ? json_incref(sn->tags) : json_object());

	/* Written only when locked, so an unlocked record keeps the bytes it
	 * had before locks existed. */
	if (o && sn->lock_mode != SFS_LOCK_NONE) {
		json_object_set_new(o, "lock_mode", json_string(sfs_lock_mode_name(sn->lock_mode)));
		json_object_set_new(o, "lock_until", json_integer((json_int_t)sn->lock_until));
	}
	return with_grants(o, sn->users, sn->groups);
}

char *sfs_snapshot_encode(const struct sfs_snapshot *sn)
{
	return sfs_record_dumps(sfs_snapshot_to_json(sn), RECORD_VERSION);
}

