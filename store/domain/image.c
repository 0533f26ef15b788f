// SPDX-License-Identifier: MIT
/*
 * The image catalog: the JSON record of a machine image (its block device
 * mapping, boot metadata, tags and launch permissions), the rules a record
 * must satisfy, and registering, updating, listing and deregistering
 * images in the catalog's `images` database. A record read back from disk
 * is validated as strictly as one about to be written, because a mount
 * turns device names into file names and sizes into file sizes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapfs/bin.h"
#include "snapfs/checkpoint.h"
#include "snapfs/gc.h"
#include "snapfs/image.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "writer_int.h"

#define IMAGE_RECORD_VERSION 1

/* ---- names ---- */

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1..max digits at *p, with no leading zero unless the number is 0. */
static bool digits(const char **p, int max)
{
	const char *s = *p;
	int n = 0;

	while (is_digit(s[n]) && n <= max)
		n++;
	if (n == 0 || n > max || (n > 1 && s[0] == '0'))
		return false;
	*p = s + n;
	return true;
}

bool sfs_devname_valid(const char *name)
{
	static const char *const prefixes[] = {"xvd", "sd", "hd", "vd"};
	const char *p = name;
	int letters = 0;

	if (!strncmp(p, "nvme", 4)) {
		p += 4;
		if (!digits(&p, 2) || *p++ != 'n' || !digits(&p, 2))
			return false;
		if (*p == 'p') {
			p++;
			if (*p == '0' || !digits(&p, 2))
				return false;
		}
		return *p == '\0';
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);
		if (!strncmp(p, prefixes[i], l)) {
			p += l;
			break;
		}
	}
	if (p == name)
		return false;
	while (is_lower(*p) && letters < 3) {
		p++;
		letters++;
	}
	if (letters < 1 || letters > 2)
		return false;
	/* A partition number starts at 1. */
	if (*p && (*p == '0' || !digits(&p, 2)))
		return false;
	return *p == '\0';
}

static const char *const arch_names[] = {"x86_64", "arm64", "i386"};
static const char *const boot_names[] = {"bios", "uefi"};

const char *sfs_arch_name(int arch)
{
	if (arch < 0 || arch >= (int)(sizeof(arch_names) / sizeof(arch_names[0])))
		return NULL;
	return arch_names[arch];
}

int sfs_arch_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(arch_names) / sizeof(arch_names[0])); i++)
		if (!strcmp(s, arch_names[i]))
			return i;
	if (!strcmp(s, "amd64"))
		return SFS_ARCH_X86_64;
	if (!strcmp(s, "aarch64"))
		return SFS_ARCH_ARM64;
	return -EINVAL;
}

const char *sfs_boot_mode_name(int mode)
{
	if (mode < 0 || mode >= (int)(sizeof(boot_names) / sizeof(boot_names[0])))
		return NULL;
	return boot_names[mode];
}

int sfs_boot_mode_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(boot_names) / sizeof(boot_names[0])); i++)
		if (!strcmp(s, boot_names[i]))
			return i;
	return -EINVAL;
}

int sfs_boot_mode_default(int arch)
{
	return arch == SFS_ARCH_ARM64 ? SFS_BOOT_UEFI : SFS_BOOT_BIOS;
}

/* ---- the record in memory ---- */

int sfs_image_init(struct sfs_image *img)
{
	memset(img, 0, sizeof(*img));
	img->tags = json_object();
	img->users = json_array();
	img->groups = json_array();
	if (!img->tags || !img->users || !img->groups) {
		sfs_image_release(img);
		return -ENOMEM;
	}
	return 0;
}

void sfs_image_release(struct sfs_image *img)
{
	if (!img)
		return;
	free(img->owner);
	free(img->devices);
	free(img->description);
	json_decref(img->tags);
	json_decref(img->users);
	json_decref(img->groups);
	memset(img, 0, sizeof(*img));
}

const struct sfs_image_device *sfs_image_device(const struct sfs_image *img, const char *device)
{
	for (size_t i = 0; i < img->ndevices; i++)
		if (!strcmp(img->devices[i].device, device))
			return &img->devices[i];
	return NULL;
}

int sfs_image_add_device(struct sfs_image *img, const char *device, const char *snap_id,
			 uint64_t size)
{
	struct sfs_image_device *d;

	if (!sfs_devname_valid(device) || !sfs_idstr_valid(snap_id, "snap-"))
		return -EINVAL;
	if (sfs_image_device(img, device))
		return -EEXIST;
	if (img->ndevices >= SFS_IMAGE_MAX_DEVICES)
		return -E2BIG;
	d = realloc(img->devices, (img->ndevices + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	img->devices = d;
	d = &img->devices[img->ndevices++];
	memset(d, 0, sizeof(*d));
	snprintf(d->device, sizeof(d->device), "%s", device);
	snprintf(d->snapshot, sizeof(d->snapshot), "%s", snap_id);
	d->size = size;
	return 0;
}

static bool names_valid(json_t *arr)
{
	json_t *v;
	size_t i;

	if (!json_is_array(arr))
		return false;
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);
		if (!s || !*s || strlen(s) > SFS_NAME_MAX || strchr(s, ':') || strchr(s, '\n'))
			return false;
	}
	return true;
}

int sfs_image_validate(const struct sfs_image *img, char *err, size_t errlen)
{
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -EINVAL;                                                                    \
	} while (0)

	if (!sfs_name_valid(img->name))
		FAIL("invalid image name '%s': use 1-128 of A-Z a-z 0-9 . _ -, not starting "
		     "with . or -",
		     img->name);
	if (img->id[0] && !sfs_idstr_valid(img->id, "ami-"))
		FAIL("invalid image id '%s'", img->id);
	if (img->ndevices == 0)
		FAIL("image %s maps no device: give at least one --device", img->name);
	if (img->ndevices > SFS_IMAGE_MAX_DEVICES)
		FAIL("image %s maps more than %d devices", img->name, SFS_IMAGE_MAX_DEVICES);
	for (size_t i = 0; i < img->ndevices; i++) {
		const struct sfs_image_device *d = &img->devices[i];

		if (!sfs_devname_valid(d->device))
			FAIL("'%s' is not a device name (like sda, vdb, xvdf, nvme0n1)", d->device);
		if (!sfs_idstr_valid(d->snapshot, "snap-"))
			FAIL("device %s: '%s' is not a snapshot id", d->device, d->snapshot);
		if (d->size > SFS_IMAGE_DEVICE_SIZE_MAX)
			FAIL("device %s: size %" PRIu64 " bytes is larger than the largest device "
			     "(%" PRIu64 " bytes, 1 EiB)",
			     d->device, d->size, SFS_IMAGE_DEVICE_SIZE_MAX);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(img->devices[j].device, d->device))
				FAIL("device %s is mapped twice", d->device);
	}
	if (!sfs_image_device(img, img->root_device))
		FAIL("root device '%s' is not in the block device mapping", img->root_device);
	if (!sfs_arch_name(img->arch))
		FAIL("unknown architecture %d", img->arch);
	if (!sfs_boot_mode_name(img->boot_mode))
		FAIL("unknown boot mode %d", img->boot_mode);
	if (img->arch == SFS_ARCH_I386 && img->boot_mode == SFS_BOOT_UEFI)
		FAIL("boot mode uefi is not supported for architecture i386 (use bios)");
	if (img->arch == SFS_ARCH_ARM64 && img->boot_mode == SFS_BOOT_BIOS)
		FAIL("boot mode bios does not exist on arm64 (use uefi)");
	if (!json_is_object(img->tags) || !names_valid(img->users) || !names_valid(img->groups))
		FAIL("image %s has malformed tags or launch permissions", img->name);
	return 0;
#undef FAIL
}

/* ---- the record on disk ---- */

json_t *sfs_image_to_json(const struct sfs_image *img)
{
	json_t *devs = json_array(), *o;

	if (!devs)
		return NULL;
	for (size_t i = 0; i < img->ndevices; i++) {
		const struct sfs_image_device *d = &img->devices[i];

		/* Beyond the bound a size would not even survive the cast to a
		 * JSON integer: 2^63 turns negative and no reader takes it. */
		if (d->size > SFS_IMAGE_DEVICE_SIZE_MAX) {
			json_decref(devs);
			return NULL;
		}
		if (json_array_append_new(devs, json_pack("{s:s, s:s, s:I, s:s+}", "device",
							  d->device, "snapshot", d->snapshot,
							  "size", (json_int_t)d->size, "file",
							  d->device, ".img")) < 0) {
			json_decref(devs);
			return NULL;
		}
	}
	/* Optional fields are left out rather than shown as null. */
	o = json_pack("{s:s, s:s, s:I, s:s*, s:s, s:s, s:s, s:o, s:s*, s:O, s:{s:b, s:O, s:O}}",
		      "id", img->id, "name", img->name, "created", (json_int_t)img->created,
		      "owner", img->owner, "architecture", sfs_arch_name(img->arch), "boot_mode",
		      sfs_boot_mode_name(img->boot_mode), "root_device", img->root_device,
		      "devices", devs, "description", img->description, "tags", img->tags,
		      "launch_permissions", "public", img->public, "users", img->users, "groups",
		      img->groups);
	if (o && img->origin.policy[0] &&
	    json_object_set_new(o, "policy",
				json_pack("{s:s, s:s, s:s, s:I}", "name", img->origin.policy,
					  "schedule", img->origin.schedule, "target",
					  img->origin.target, "slot",
					  (json_int_t)img->origin.slot)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *sfs_image_encode(const struct sfs_image *img)
{
	json_t *o = sfs_image_to_json(img);

	if (!o)
		return NULL;
	/* "file" is derived from the device name: shown, not stored. */
	for (size_t i = 0; i < json_array_size(json_object_get(o, "devices")); i++)
		json_object_del(json_array_get(json_object_get(o, "devices"), i), "file");
	return sfs_record_dumps(o, IMAGE_RECORD_VERSION);
}

/* A string field through its parser; -EINVAL when missing. */
static int parse_enum(json_t *o, const char *key, int (*parse)(const char *))
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? parse(s) : -EINVAL;
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -EBADMSG;                                                                   \
	} while (0)

static int decode_devices(json_t *arr, struct sfs_image *img, char *err, size_t errlen)
{
	json_t *d;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > SFS_IMAGE_MAX_DEVICES)
		BAD("devices is not a list of at most %d mappings", SFS_IMAGE_MAX_DEVICES);
	json_array_foreach(arr, i, d)
	{
		const char *dev = json_string_value(json_object_get(d, "device"));
		const char *snap = json_string_value(json_object_get(d, "snapshot"));
		json_t *size = json_object_get(d, "size");
		json_int_t n;
		int r;

		if (!dev || !snap || !json_is_integer(size))
			BAD("mapping %zu lacks its device, snapshot or size", i + 1);
		n = json_integer_value(size);
		if (n <= 0 || (uint64_t)n > SFS_IMAGE_DEVICE_SIZE_MAX)
			BAD("device %.*s: size %" JSON_INTEGER_FORMAT
			    " is out of range (1 to %" PRIu64 " bytes)",
			    SFS_DEVNAME_MAX, dev, n, SFS_IMAGE_DEVICE_SIZE_MAX);
		r = sfs_image_add_device(img, dev, snap, (uint64_t)n);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			BAD("mapping %zu: invalid or repeated device name, or invalid snapshot id",
			    i + 1);
	}
	return 0;
}

/* The optional "policy" object: which policy made the image. */
static int decode_origin(json_t *o, struct sfs_image_origin *ret)
{
	json_t *slot = json_object_get(o, "slot");

	if (!o)
		return 0;
	if (!json_is_object(o) || !json_is_integer(slot) || json_integer_value(slot) < 0 ||
	    sfs_json_str(o, "name", true, ret->policy, sizeof(ret->policy)) < 0 ||
	    !sfs_name_valid(ret->policy) ||
	    sfs_json_str(o, "schedule", true, ret->schedule, sizeof(ret->schedule)) < 0 ||
	    sfs_json_str(o, "target", true, ret->target, sizeof(ret->target)) < 0)
		return -EBADMSG;
	ret->slot = json_integer_value(slot);
	return 0;
}

static int decode_fields(json_t *o, struct sfs_image *img, char *err, size_t errlen)
{
	json_t *v, *perm, *tags;
	const char *k;
	int r;

	if (sfs_json_str(o, "name", true, img->name, sizeof(img->name)) < 0)
		BAD("name is missing or malformed");
	if (sfs_json_str(o, "id", true, img->id, sizeof(img->id)) < 0 || !img->id[0])
		BAD("id is missing or malformed");
	if (sfs_json_str(o, "root_device", true, img->root_device, sizeof(img->root_device)) < 0)
		BAD("root_device is missing or malformed");
	r = sfs_json_strdup(o, "owner", &img->owner);
	if (r == 0)
		r = sfs_json_strdup(o, "description", &img->description);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		BAD("owner or description is not a string");
	r = decode_devices(json_object_get(o, "devices"), img, err, errlen);
	if (r < 0)
		return r;
	v = json_object_get(o, "created");
	img->arch = parse_enum(o, "architecture", sfs_arch_parse);
	img->boot_mode = parse_enum(o, "boot_mode", sfs_boot_mode_parse);
	tags = json_object_get(o, "tags");
	perm = json_object_get(o, "launch_permissions");
	if (!json_is_integer(v) || !json_is_object(tags) || !json_is_object(perm) ||
	    !json_is_boolean(json_object_get(perm, "public")))
		BAD("created, tags or launch_permissions is missing or malformed");
	img->created = json_integer_value(v);
	json_object_foreach(tags, k, v)
	{
		if (!json_is_string(v))
			BAD("a tag value is not a string");
	}
	if (json_object_update(img->tags, tags) < 0 ||
	    json_array_extend(img->users, json_object_get(perm, "users")) < 0 ||
	    json_array_extend(img->groups, json_object_get(perm, "groups")) < 0) {
		/* Not arrays (or no memory): validate names the former. */
		if (!json_is_array(json_object_get(perm, "users")) ||
		    !json_is_array(json_object_get(perm, "groups")))
			BAD("launch permissions are malformed");
		return -ENOMEM;
	}
	img->public = json_is_true(json_object_get(perm, "public"));
	r = decode_origin(json_object_get(o, "policy"), &img->origin);
	if (r < 0)
		BAD("policy is malformed");
	if (sfs_image_validate(img, err, errlen) < 0)
		return -EBADMSG;
	return 0;
}

#undef BAD

int sfs_image_decode_why(const void *buf, size_t len, struct sfs_image *ret, char *err,
			 size_t errlen)
{
	struct sfs_image img;
	json_t *o;
	int r;

	r = sfs_image_init(&img);
	if (r < 0)
		return r;
	o = sfs_record_loads(buf, len, IMAGE_RECORD_VERSION, NULL);
	if (!o) {
		snprintf(err, errlen,
			 "not a version %d image record in JSON, or its checksum does not match",
			 IMAGE_RECORD_VERSION);
		r = -EBADMSG;
	} else {
		r = decode_fields(o, &img, err, errlen);
	}
	json_decref(o);
	if (r < 0) {
		sfs_image_release(&img);
		return r;
	}
	*ret = img;
	return 0;
}

int sfs_image_decode(const void *buf, size_t len, struct sfs_image *ret)
{
	char err[256];

	return sfs_image_decode_why(buf, len, ret, err, sizeof(err));
}

/* ---- the catalog ---- */

static int db_get(struct sfs_txn *t, const char *name, MDB_val *v)
{
	return sfs_cat_get_raw(t, SFS_DBI_IMAGES, name, strlen(name), v);
}

void sfs_image_key_name(const void *key, size_t len, char ret[SFS_NAME_MAX + 1])
{
	sfs_cat_key_name(key, len, ret);
}

static int db_put(struct sfs_txn *t, const struct sfs_image *img)
{
	char err[256], *json;
	int r;

	/* What no reader would take is never written. */
	if (sfs_image_validate(img, err, sizeof(err)) < 0 || !img->id[0])
		return -EINVAL;
	for (size_t i = 0; i < img->ndevices; i++)
		if (img->devices[i].size == 0)
			return -EINVAL;
	json = sfs_image_encode(img);
	if (!json)
		return -ENOMEM;
	r = sfs_cat_put_raw(t, SFS_DBI_IMAGES, img->name, strlen(img->name), json, strlen(json));
	free(json);
	return r;
}

int sfs_cat_image_get(struct sfs_txn *t, const char *name, struct sfs_image *ret)
{
	MDB_val v;
	int r;

	if (!sfs_name_valid(name))
		return -ENOENT;
	r = db_get(t, name, &v);
	if (r < 0)
		return r;
	return sfs_image_decode(v.mv_data, v.mv_size, ret);
}

static int codec_decode(const MDB_val *k, const MDB_val *v, void *rec, char *why, size_t whylen)
{
	(void)k;
	return sfs_image_decode_why(v->mv_data, v->mv_size, rec, why, whylen);
}

static void codec_release(void *rec)
{
	sfs_image_release(rec);
}

static const struct sfs_cat_codec codec = {
	SFS_DBI_IMAGES, "image", codec_decode, codec_release, offsetof(struct sfs_image, id),
};

int sfs_cat_image_find(struct sfs_txn *t, const char *name_or_id, struct sfs_image *ret)
{
	int r = sfs_cat_image_get(t, name_or_id, ret);

	if (r != -ENOENT || !sfs_idstr_valid(name_or_id, "ami-"))
		return r;
	return sfs_cat_find_decoded(t, &codec, name_or_id, ret);
}

/* Checks one mapping against its snapshot and fills a zero size. */
static int check_mapping(struct sfs_txn *t, const struct sfs_writer *w, struct sfs_image_device *d,
			 char *err, size_t errlen)
{
	char what[SFS_NAME_MAX + 16];
	int r;

	snprintf(what, sizeof(what), "device %s", d->device);
	r = sfs_writer_disk_fit(t, w, what, d->snapshot, &d->size, err, errlen);
	if (r < 0)
		return r;
	/* A disk of zero bytes cannot be attached to a VM. */
	if (d->size == 0) {
		snprintf(err, errlen, "device %s: snapshot %s is empty (give a size with :SIZE)",
			 d->device, d->snapshot);
		return -EINVAL;
	}
	return 0;
}

static int image_create(struct sfs_txn *t, const struct sfs_writer *w, struct sfs_image *img,
			char *err, size_t errlen)
{
	MDB_val v;
	int r;

	r = sfs_image_validate(img, err, errlen);
	if (r < 0)
		return r;
	r = db_get(t, img->name, &v);
	if (r == 0) {
		snprintf(err, errlen, "an image named %s already exists", img->name);
		return -EEXIST;
	}
	if (r != -ENOENT)
		return r;
	for (size_t i = 0; i < img->ndevices; i++) {
		r = check_mapping(t, w, &img->devices[i], err, errlen);
		if (r < 0)
			return r;
	}
	if (!img->id[0]) {
		r = sfs_idstr_new("ami-", img->id);
		if (r < 0)
			return r;
	}
	if (!img->created)
		img->created = (int64_t)time(NULL);
	r = db_put(t, img);
	return r;
}

int sfs_cat_image_create(struct sfs_txn *t, struct sfs_image *img, char *err, size_t errlen)
{
	return image_create(t, NULL, img, err, errlen);
}

int sfs_writer_image_create(struct sfs_writer *w, struct sfs_image *img, char *err, size_t errlen)
{
	return image_create(sfs_writer_txn(w), w, img, err, errlen);
}

int sfs_cat_image_update(struct sfs_txn *t, const struct sfs_image *img)
{
	char err[256];
	MDB_val v;
	int r;

	if (sfs_image_validate(img, err, sizeof(err)) < 0 || !img->id[0])
		return -EINVAL;
	r = db_get(t, img->name, &v);
	if (r < 0)
		return r;
	r = db_put(t, img);
	return r;
}

struct image_iter {
	sfs_image_fn fn;
	void *ctx;
};

static int image_iter_cb(void *ctx, void *img)
{
	struct image_iter *it = ctx;

	return it->fn(it->ctx, img);
}

int sfs_cat_image_foreach(struct sfs_txn *t, sfs_image_fn fn, void *ctx)
{
	struct image_iter it = {fn, ctx};
	struct sfs_image img;

	/* One bad record must not hide every other image: the walk skips
	 * it, says so (check names it too), and deregister removes it by
	 * name. */
	return sfs_cat_foreach_decoded(t, &codec, NULL, 0, &img, image_iter_cb, &it);
}

/* Keeps img's record in the recycle bin when a rule covers it. */
static int image_keep_in_bin(struct sfs_txn *t, const struct sfs_image *img, int64_t now,
			     int64_t *ret_until)
{
	int64_t period = sfs_bin_period(t, SFS_BIN_IMAGES, img->tags);
	MDB_val v;
	int r;

	if (period <= 0)
		return (int)period;
	r = sfs_cat_get_raw(t, SFS_DBI_IMAGES, img->name, strlen(img->name), &v);
	if (r == 0)
		r = sfs_bin_keep(t, SFS_BIN_IMAGES, img->id, img->name, v.mv_data, v.mv_size, now,
				 now + period);
	if (r == 0)
		*ret_until = now + period;
	return r;
}

int sfs_image_deregister(struct sfs_txn *t, const char *name, const struct sfs_deregister_opts *o,
			 struct sfs_deregister_result *ret)
{
	struct sfs_deregister_result res = { 0 };
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	struct sfs_delete_opts dopt = { .now = now, .force = o->force };
	struct sfs_image img;
	int r;

	r = sfs_cat_image_get(t, name, &img);
	if (r == -EBADMSG) {
		/* Which snapshots a damaged record maps cannot be trusted:
		 * remove the record only, never a snapshot on its word. */
		r = sfs_cat_del_raw(t, SFS_DBI_IMAGES, name, strlen(name));
		return r < 0 ? r : 1;
	}
	if (r < 0)
		return r;
	if (!o->force)
		r = image_keep_in_bin(t, &img, now, &res.bin_until);
	/* Deleted first, so that the image does not count as a user of its
	 * own snapshots below. */
	if (r == 0)
		r = sfs_cat_del_raw(t, SFS_DBI_IMAGES, name, strlen(name));
	for (size_t i = 0; r == 0 && o->delete_snapshots && i < img.ndevices; i++) {
		const char *sid = img.devices[i].snapshot;
		struct sfs_delete_info info;
		char user[SFS_NAME_MAX + 16];
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(img.devices[j].snapshot, sid);
		if (seen)
			continue;
		r = sfs_snapshot_user_of(t, sid, user, sizeof(user));
		if (r == 1) {
			if (o->fn)
				o->fn(o->ctx, sid, false, user);
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		r = sfs_snapshot_remove(t, sid, &dopt, &info);
		if (r == -ENOENT) { /* deleted behind the image's back: nothing to do */
			r = 0;
		} else if (r == -EPERM) {
			memcpy(res.locked, sid, sizeof(res.locked));
			res.lock_mode = info.lock_mode;
			res.lock_until = info.lock_until;
		} else if (r == 0 && o->fn) {
			o->fn(o->ctx, sid, true, NULL);
		}
	}
	sfs_image_release(&img);
	if (ret)
		*ret = res;
	return r;
}

int sfs_cat_image_deregister(struct sfs_txn *t, const char *name, bool delete_snapshots,
			     sfs_deregister_fn fn, void *ctx)
{
	struct sfs_deregister_opts o = { .delete_snapshots = delete_snapshots, .fn = fn,
					 .ctx = ctx };

	return sfs_image_deregister(t, name, &o, NULL);
}
