// SPDX-License-Identifier: MIT
/*
 * The image catalog: device names, architectures and boot modes, record
 * validation and round trips (and rejection of damaged records), create
 * against the catalog (unknown, pending and too-large snapshots, taken
 * names), images made in a writer session together with their
 * snapshots (and registered from a spec of sources, all or nothing),
 * deregister with shared snapshots, damaged records (skipped
 * by listings, removable, named by check), and launch permissions.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "snapfs/check.h"
#include "snapfs/checkpoint.h"
#include "snapfs/image.h"
#include "snapfs/ingest.h"
#include "fixture.h"
#include "store_int.h" /* the raw catalog API: records no encoder would write */

/* A completed snapshot of `size` bytes of text, as volume `volume`. */
static void make_snapshot(const char *volume, size_t size, uint64_t seed, char id[SFS_IDSTR_SIZE])
{
	struct sfs_ingest_opts o = {.volume = volume, .threads = 1};
	struct sfs_ingest_result res;
	char path[4200];
	uint8_t *buf = malloc(size ? size : 1);
	int fd, r;

	cr_assert_not_null(buf);
	fx_fill_text(buf, size, seed);
	snprintf(path, sizeof(path), "%s/../src-%s", fx_dir, volume);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
	o.source = path;
	r = sfs_ingest(fx_store, &o, &res);
	cr_assert_eq(r, 0, "ingest: %s (%s)", strerror(-r), res.error);
	memcpy(id, res.snap_id, SFS_IDSTR_SIZE);
}

static void image_with(struct sfs_image *img, const char *name, const char *dev, const char *snap)
{
	cr_assert_eq(sfs_image_init(img), 0);
	snprintf(img->name, sizeof(img->name), "%s", name);
	cr_assert_eq(sfs_image_add_device(img, dev, snap, 0), 0);
	snprintf(img->root_device, sizeof(img->root_device), "%s", dev);
}

static uint64_t generation(void)
{
	struct sfs_txn *t;
	uint64_t g;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_generation(t, &g), 0);
	sfs_txn_abort(t);
	return g;
}

static int create(struct sfs_image *img, char *err, size_t errlen)
{
	struct sfs_txn *t;
	int r;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	r = sfs_cat_image_create(t, img, err, errlen);
	if (r == 0)
		return sfs_txn_commit(t);
	sfs_txn_abort(t);
	return r;
}

static int get(const char *name, struct sfs_image *ret)
{
	struct sfs_txn *t;
	int r;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	r = sfs_cat_image_find(t, name, ret);
	sfs_txn_abort(t);
	return r;
}

Test(image, device_names)
{
	static const char *const good[] = {"sda",     "sdb",	  "vda",      "xvdf",
					   "hdc",     "sdaa",	  "sda1",     "xvda12",
					   "nvme0n1", "nvme10n2", "nvme0n1p1"};
	static const char *const bad[] = {"",	    "sd",	 "sda0",     "sdA",   "sdabc",
					  "sda123", "dev/sda",	 "/dev/sda", "nvme",  "nvme0",
					  "nvme0n", "nvme0n1p0", "nvme01n1", "loop0", "sda-1",
					  "../sda", "sda.img",	 "xvd"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(sfs_devname_valid(good[i]), "%s should be valid", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!sfs_devname_valid(bad[i]), "'%s' should be invalid", bad[i]);
}

Test(image, arch_and_boot_mode)
{
	cr_assert_eq(sfs_arch_parse("x86_64"), SFS_ARCH_X86_64);
	cr_assert_eq(sfs_arch_parse("amd64"), SFS_ARCH_X86_64);
	cr_assert_eq(sfs_arch_parse("arm64"), SFS_ARCH_ARM64);
	cr_assert_eq(sfs_arch_parse("aarch64"), SFS_ARCH_ARM64);
	cr_assert_eq(sfs_arch_parse("i386"), SFS_ARCH_I386);
	cr_assert_eq(sfs_arch_parse("sparc"), -EINVAL);
	cr_assert_eq(sfs_boot_mode_parse("uefi"), SFS_BOOT_UEFI);
	cr_assert_eq(sfs_boot_mode_parse("bios"), SFS_BOOT_BIOS);
	cr_assert_eq(sfs_boot_mode_parse("legacy"), -EINVAL);
	cr_assert_str_eq(sfs_arch_name(SFS_ARCH_ARM64), "arm64");
	cr_assert_null(sfs_arch_name(7));
	cr_assert_eq(sfs_boot_mode_default(SFS_ARCH_ARM64), SFS_BOOT_UEFI);
	cr_assert_eq(sfs_boot_mode_default(SFS_ARCH_X86_64), SFS_BOOT_BIOS);
}

Test(image, validate)
{
	struct sfs_image img;
	char err[256];

	image_with(&img, "web", "sda", "snap-0123456789abcdef0");
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(sfs_image_add_device(&img, "sda", "snap-0123456789abcdef1", 0), -EEXIST);
	cr_assert_eq(sfs_image_add_device(&img, "disk0", "snap-0123456789abcdef1", 0), -EINVAL);
	cr_assert_eq(sfs_image_add_device(&img, "sdb", "vol-0123456789abcdef1", 0), -EINVAL);

	snprintf(img.root_device, sizeof(img.root_device), "sdc");
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "root device 'sdc'"), "%s", err);
	snprintf(img.root_device, sizeof(img.root_device), "sda");

	img.arch = SFS_ARCH_I386;
	img.boot_mode = SFS_BOOT_UEFI;
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	img.arch = SFS_ARCH_ARM64;
	img.boot_mode = SFS_BOOT_BIOS;
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	img.boot_mode = SFS_BOOT_UEFI;
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), 0, "%s", err);
	img.arch = 9;
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	img.arch = SFS_ARCH_ARM64;

	snprintf(img.name, sizeof(img.name), "-bad");
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	sfs_image_release(&img);

	cr_assert_eq(sfs_image_init(&img), 0);
	snprintf(img.name, sizeof(img.name), "empty");
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "no device"), "%s", err);
	sfs_image_release(&img);
}

Test(image, record_round_trip)
{
	struct sfs_image img, back;
	char *json;

	image_with(&img, "web-2026-11", "sda", "snap-0123456789abcdef0");
	cr_assert_eq(sfs_image_add_device(&img, "nvme0n1", "snap-0123456789abcdef1", 1 << 20), 0);
	snprintf(img.id, sizeof(img.id), "ami-0123456789abcdef0");
	img.devices[0].size = 4096;
	img.created = 1795000000;
	img.arch = SFS_ARCH_ARM64;
	img.boot_mode = SFS_BOOT_UEFI;
	img.owner = strdup("alice");
	img.description = strdup("web tier");
	img.public = true;
	json_object_set_new(img.tags, "role", json_string("web"));
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, "bob"), 0);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_GROUP, "ops"), 0);

	json = sfs_image_encode(&img);
	cr_assert_not_null(json);
	cr_assert_null(strstr(json, "\"file\""), "derived fields are not stored: %s", json);
	cr_assert_eq(sfs_image_decode(json, strlen(json), &back), 0, "%s", json);
	cr_assert_str_eq(back.name, img.name);
	cr_assert_str_eq(back.id, img.id);
	cr_assert_eq(back.ndevices, 2);
	cr_assert_str_eq(back.devices[1].device, "nvme0n1");
	cr_assert_str_eq(back.devices[1].snapshot, "snap-0123456789abcdef1");
	cr_assert_eq(back.devices[0].size, 4096);
	cr_assert_eq(back.devices[1].size, 1 << 20);
	cr_assert_eq(back.created, img.created);
	cr_assert_eq(back.arch, SFS_ARCH_ARM64);
	cr_assert_eq(back.boot_mode, SFS_BOOT_UEFI);
	cr_assert_str_eq(back.root_device, "sda");
	cr_assert_str_eq(back.owner, "alice");
	cr_assert_str_eq(back.description, "web tier");
	cr_assert(back.public);
	cr_assert_str_eq(json_string_value(json_object_get(back.tags, "role")), "web");
	cr_assert_str_eq(json_string_value(json_array_get(back.users, 0)), "bob");
	cr_assert_str_eq(json_string_value(json_array_get(back.groups, 0)), "ops");
	free(json);
	sfs_image_release(&back);
	sfs_image_release(&img);
}

Test(image, policy_origin_round_trip)
{
	static const char bad_origin[] =
		"{\"v\":1,\"id\":\"ami-0123456789abcdef0\",\"name\":\"w\",\"created\":1,"
		"\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
		"\"devices\":[{\"device\":\"sda\",\"snapshot\":\"snap-0123456789abcdef0\","
		"\"size\":1}],\"tags\":{},\"launch_permissions\":{\"public\":false,\"users\":[],"
		"\"groups\":[]},\"policy\":{\"name\":\"web\",\"schedule\":\"daily 03:00\"}}";
	struct sfs_image img, back;
	char *json;

	image_with(&img, "web-20261101T0200Z", "vda", "snap-0123456789abcdef0");
	snprintf(img.id, sizeof(img.id), "ami-0123456789abcdef0");
	img.devices[0].size = 4096;
	json = sfs_image_encode(&img);
	cr_assert_not_null(json);
	cr_assert_null(strstr(json, "\"policy\""), "no origin, no field: %s", json);
	cr_assert_eq(sfs_image_decode(json, strlen(json), &back), 0, "%s", json);
	cr_assert_str_eq(back.origin.policy, "", "a hand-made image is no policy's");
	sfs_image_release(&back);
	free(json);

	snprintf(img.origin.policy, sizeof(img.origin.policy), "web-images");
	snprintf(img.origin.schedule, sizeof(img.origin.schedule), "weekly SUN 02:00");
	snprintf(img.origin.target, sizeof(img.origin.target), "web-1");
	img.origin.slot = 1793498400;
	json = sfs_image_encode(&img);
	cr_assert_not_null(json);
	cr_assert_eq(sfs_image_decode(json, strlen(json), &back), 0, "%s", json);
	cr_expect_str_eq(back.origin.policy, "web-images");
	cr_expect_str_eq(back.origin.schedule, "weekly SUN 02:00");
	cr_expect_str_eq(back.origin.target, "web-1");
	cr_expect_eq(back.origin.slot, 1793498400);
	sfs_image_release(&back);
	free(json);
	sfs_image_release(&img);

	/* a policy object without its slot is damage, not "no policy" */
	cr_expect_eq(sfs_image_decode(bad_origin, strlen(bad_origin), &back), -EBADMSG);
}

Test(image, decode_rejects_damage)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"v\":2}",
	    /* a device name that would escape the image's directory */
	    "{\"v\":1,\"id\":\"ami-0123456789abcdef0\",\"name\":\"w\",\"created\":1,"
	    "\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
	    "\"devices\":[{\"device\":\"../sda\",\"snapshot\":\"snap-0123456789abcdef0\","
	    "\"size\":1}],\"tags\":{},\"launch_permissions\":{\"public\":false,\"users\":[],"
	    "\"groups\":[]}}",
	    /* size 0 */
	    "{\"v\":1,\"id\":\"ami-0123456789abcdef0\",\"name\":\"w\",\"created\":1,"
	    "\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
	    "\"devices\":[{\"device\":\"sda\",\"snapshot\":\"snap-0123456789abcdef0\","
	    "\"size\":0}],\"tags\":{},\"launch_permissions\":{\"public\":false,\"users\":[],"
	    "\"groups\":[]}}",
	    /* unknown architecture */
	    "{\"v\":1,\"id\":\"ami-0123456789abcdef0\",\"name\":\"w\",\"created\":1,"
	    "\"architecture\":\"mips\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
	    "\"devices\":[{\"device\":\"sda\",\"snapshot\":\"snap-0123456789abcdef0\","
	    "\"size\":1}],\"tags\":{},\"launch_permissions\":{\"public\":false,\"users\":[],"
	    "\"groups\":[]}}",
	    /* a user name that is not a string */
	    "{\"v\":1,\"id\":\"ami-0123456789abcdef0\",\"name\":\"w\",\"created\":1,"
	    "\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
	    "\"devices\":[{\"device\":\"sda\",\"snapshot\":\"snap-0123456789abcdef0\","
	    "\"size\":1}],\"tags\":{},\"launch_permissions\":{\"public\":false,\"users\":[7],"
	    "\"groups\":[]}}",
	};
	const char *good = "{\"v\":1,\"id\":\"ami-0123456789abcdef0\",\"name\":\"w\",\"created\":1,"
			   "\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":"
			   "\"sda\",\"devices\":[{\"device\":\"sda\",\"snapshot\":"
			   "\"snap-0123456789abcdef0\",\"size\":1}],\"tags\":{},"
			   "\"launch_permissions\":{\"public\":false,\"users\":[],\"groups\":[]}}";
	struct sfs_image img;

	cr_assert_eq(sfs_image_decode(good, strlen(good), &img), 0);
	sfs_image_release(&img);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sfs_image_decode(bad[i], strlen(bad[i]), &img), -EBADMSG, "case %zu",
			     i);
}

Test(image, create_checks_the_catalog, .init = fx_setup, .fini = fx_teardown)
{
	struct sfs_image img, back;
	char snap[SFS_IDSTR_SIZE], err[256];
	uint64_t g;

	make_snapshot("root", 200000, 1, snap);

	image_with(&img, "web", "sda", "snap-0123456789abcdef0");
	cr_assert_eq(create(&img, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "no snapshot snap-0123456789abcdef0"), "%s", err);
	sfs_image_release(&img);

	image_with(&img, "web", "sda", snap);
	img.devices[0].size = 4096;
	cr_assert_eq(create(&img, err, sizeof(err)), -ERANGE);
	cr_assert(strstr(err, "smaller than snapshot"), "%s", err);
	sfs_image_release(&img);

	g = generation();
	image_with(&img, "web", "sda", snap);
	cr_assert_eq(sfs_image_add_device(&img, "sdb", snap, 1 << 30), 0);
	cr_assert_eq(create(&img, err, sizeof(err)), 0, "%s", err);
	cr_assert(sfs_idstr_valid(img.id, "ami-"), "%s", img.id);
	cr_assert_eq(img.devices[0].size, 200000, "size 0 becomes the snapshot's size");
	cr_assert_gt(generation(), g);

	cr_assert_eq(get("web", &back), 0);
	cr_assert_eq(back.devices[1].size, 1 << 30);
	sfs_image_release(&back);
	cr_assert_eq(get(img.id, &back), 0, "found by id");
	cr_assert_str_eq(back.name, "web");
	sfs_image_release(&back);
	cr_assert_eq(get("ami-0123456789abcdef0", &back), -ENOENT);

	/* the name is taken now */
	img.id[0] = '\0';
	cr_assert_eq(create(&img, err, sizeof(err)), -EEXIST);
	cr_assert(strstr(err, "already exists"), "%s", err);
	sfs_image_release(&img);
}

Test(image, pending_snapshot_refused, .init = fx_setup, .fini = fx_teardown)
{
	struct sfs_snapshot sn;
	struct sfs_image img;
	struct sfs_txn *t;
	char snap[SFS_IDSTR_SIZE], err[256];

	make_snapshot("root", 70000, 2, snap);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, snap, &sn), 0);
	sn.state = SFS_SNAP_ERROR;
	cr_assert_eq(sfs_cat_snapshot_put(t, &sn), 0);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_txn_commit(t), 0);

	image_with(&img, "web", "sda", snap);
	cr_assert_eq(create(&img, err, sizeof(err)), -EAGAIN);
	cr_assert(strstr(err, "not completed"), "%s", err);
	sfs_image_release(&img);
}

/* Writes size bytes of text to path. */
static void write_source(const char *path, size_t size, uint64_t seed)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_not_null(buf);
	cr_assert_geq(fd, 0);
	fx_fill_text(buf, size, seed);
	cr_assert_eq(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

Test(image, created_with_its_snapshots_in_one_commit, .init = fx_setup, .fini = fx_teardown)
{
	struct sfs_ingest_opts o = {.volume = "web-sda", .threads = 1};
	struct sfs_ingest_result res;
	struct sfs_writer *w;
	struct sfs_snapshot sn;
	struct sfs_image img, back;
	struct sfs_txn *t;
	char path[4200], err[256];

	snprintf(path, sizeof(path), "%s/../src", fx_dir);
	write_source(path, 300000, 3);
	o.source = path;

	/* aborted: neither the snapshot nor the image remains */
	cr_assert_eq(sfs_writer_begin(fx_store, &w), 0);
	cr_assert_eq(sfs_writer_snapshot(w, &o, &res), 0);
	image_with(&img, "web", "sda", res.snap_id);
	cr_assert_eq(sfs_writer_image_create(w, &img, err, sizeof(err)), 0, "%s", err);
	sfs_writer_abort(w);
	sfs_image_release(&img);
	cr_assert_eq(get("web", &back), -ENOENT);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, res.snap_id, &sn), -ENOENT);
	sfs_txn_abort(t);

	/* committed: both, the snapshot completed */
	cr_assert_eq(sfs_writer_begin(fx_store, &w), 0);
	cr_assert_eq(sfs_writer_snapshot(w, &o, &res), 0);
	image_with(&img, "web", "sda", res.snap_id);
	cr_assert_eq(sfs_writer_image_create(w, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(img.devices[0].size, 300000);
	cr_assert_eq(sfs_writer_commit(w), 0);
	cr_assert_eq(get("web", &back), 0);
	cr_assert_str_eq(back.devices[0].snapshot, res.snap_id);
	sfs_image_release(&back);
	sfs_image_release(&img);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, res.snap_id, &sn), 0);
	cr_assert_eq(sn.state, SFS_SNAP_COMPLETED);
	sfs_snapshot_release(&sn);
	sfs_txn_abort(t);
}

/* Whether volume has any snapshot, pending ones included. */
static int count_snaps_cb(void *ctx, const struct sfs_snapshot *sn)
{
	(*(int *)ctx)++;
	return 0;
}

static int snapshots_of(const char *volume)
{
	struct sfs_txn *t;
	int n = 0;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	sfs_cat_snapshot_foreach(t, volume, count_snaps_cb, &n);
	sfs_txn_abort(t);
	return n;
}

static void spec_init(struct sfs_image_spec *spec, const char *name, const char *root)
{
	cr_assert_eq(sfs_image_spec_init(spec), 0);
	snprintf(spec->image.name, sizeof(spec->image.name), "%s", name);
	snprintf(spec->image.root_device, sizeof(spec->image.root_device), "%s", root);
}

Test(image, register_snapshots_sources_with_the_image, .init = fx_setup, .fini = fx_teardown)
{
	struct sfs_image_spec spec;
	struct sfs_image_register_result res;
	struct sfs_image back;
	struct sfs_snapshot sn;
	struct sfs_txn *t;
	char path[4200], snap[SFS_IDSTR_SIZE];

	make_snapshot("data", 70000, 5, snap);
	snprintf(path, sizeof(path), "%s/../src-root", fx_dir);
	write_source(path, 200000, 6);
	spec_init(&spec, "web", "sda");
	cr_assert_eq(sfs_image_spec_add_source(&spec, "sda", path), 0);
	cr_assert_eq(sfs_image_spec_add_snapshot(&spec, "sdb", snap, 1 << 20), 0);
	cr_assert_eq(sfs_image_register(fx_store, &spec, NULL, &res), 0, "%s", res.error);

	/* the result and the record: the source's new snapshot, the given one */
	cr_assert_eq(res.image.ndevices, 2);
	cr_assert_str_neq(res.image.devices[0].snapshot, "snap-00000000000000000");
	cr_assert_eq(res.image.devices[0].size, 200000);
	cr_assert_str_eq(res.image.devices[1].snapshot, snap);
	cr_assert_eq(get("web", &back), 0);
	cr_assert_str_eq(back.id, res.image.id);
	cr_assert_str_eq(back.devices[0].snapshot, res.image.devices[0].snapshot);
	cr_assert_eq(back.devices[1].size, 1 << 20);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, back.devices[0].snapshot, &sn), 0);
	cr_assert_eq(sn.state, SFS_SNAP_COMPLETED);
	cr_assert_str_eq(sn.volume, "web-sda");
	sfs_snapshot_release(&sn);
	sfs_txn_abort(t);
	/* the spec is the caller's and left as it was */
	cr_assert_str_eq(spec.image.devices[0].snapshot, "snap-00000000000000000");
	sfs_image_release(&back);
	sfs_image_release(&res.image);

	/* the name is taken now: refused before any source is read */
	cr_assert_eq(sfs_image_register(fx_store, &spec, NULL, &res), -EEXIST);
	cr_assert(strstr(res.error, "already exists"), "%s", res.error);
	cr_assert_eq(snapshots_of("web-sda"), 1);
	sfs_image_spec_release(&spec);
}

static void count_problem(void *ctx, const char *line)
{
	cr_log_info("problem: %s", line);
	(*(int *)ctx)++;
}

Test(image, register_with_a_bad_device_leaves_nothing, .init = fx_setup, .fini = fx_teardown)
{
	static const char unknown[] = "snap-0123456789abcdef0";
	struct sfs_image_spec spec;
	struct sfs_image_register_result res;
	struct sfs_image back;
	struct sfs_check_result cr;
	char path[4200], missing[4200];
	int problems = 0;

	snprintf(path, sizeof(path), "%s/../src-root", fx_dir);
	snprintf(missing, sizeof(missing), "%s/../no-such-source", fx_dir);
	write_source(path, 200000, 7);

	/* a source that does not exist: refused before anything is read */
	spec_init(&spec, "web", "sda");
	cr_assert_eq(sfs_image_spec_add_source(&spec, "sda", path), 0);
	cr_assert_eq(sfs_image_spec_add_source(&spec, "sdb", missing), 0);
	cr_assert_eq(sfs_image_register(fx_store, &spec, NULL, &res), -ENOENT);
	cr_assert(strstr(res.error, "device sdb"), "%s", res.error);
	sfs_image_spec_release(&spec);

	/* a snapshot the store lacks: found only after sda's source was
	 * snapshotted, and that snapshot goes with the image */
	spec_init(&spec, "web", "sda");
	cr_assert_eq(sfs_image_spec_add_source(&spec, "sda", path), 0);
	cr_assert_eq(sfs_image_spec_add_snapshot(&spec, "sdb", unknown, 0), 0);
	cr_assert_eq(sfs_image_register(fx_store, &spec, NULL, &res), -ENOENT);
	cr_assert(strstr(res.error, unknown), "%s", res.error);
	cr_assert_eq(res.image.ndevices, 0);
	sfs_image_spec_release(&spec);

	cr_assert_eq(get("web", &back), -ENOENT);
	cr_assert_eq(snapshots_of("web-sda"), 0);
	cr_assert_eq(snapshots_of(NULL), 0);
	/* The aborted session may have recorded and removed a pending
	 * snapshot (generation moves), but the store is as clean as before. */
	cr_assert_eq(sfs_check(fx_store, true, count_problem, &problems, NULL, NULL, &cr), 0);
	cr_assert_eq(problems, 0);
	cr_assert_eq(cr.snapshots, 0);
	cr_assert_eq(cr.images, 0);
}

struct dereg_log {
	int deleted, kept;
	char kept_for[SFS_NAME_MAX + 1];
};

static void dereg_cb(void *ctx, const char *snap_id, bool deleted, const char *kept_for)
{
	struct dereg_log *l = ctx;

	if (deleted) {
		l->deleted++;
	} else {
		l->kept++;
		snprintf(l->kept_for, sizeof(l->kept_for), "%s", kept_for);
	}
}

Test(image, deregister_keeps_shared_snapshots, .init = fx_setup, .fini = fx_teardown)
{
	char shared[SFS_IDSTR_SIZE], own[SFS_IDSTR_SIZE], err[256], user[SFS_NAME_MAX + 1];
	struct dereg_log log = {0};
	struct sfs_snapshot sn;
	struct sfs_image a, b;
	struct sfs_txn *t;

	make_snapshot("shared", 70000, 4, shared);
	make_snapshot("own", 70000, 5, own);
	image_with(&a, "a", "sda", shared);
	cr_assert_eq(sfs_image_add_device(&a, "sdb", own, 0), 0);
	cr_assert_eq(sfs_image_add_device(&a, "sdc", own, 0), 0);
	cr_assert_eq(create(&a, err, sizeof(err)), 0, "%s", err);
	image_with(&b, "b", "xvda", shared);
	cr_assert_eq(create(&b, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_image_user_of(t, own, user, sizeof(user)), 1);
	cr_assert_str_eq(user, "a");
	cr_assert_eq(sfs_image_user_of(t, "snap-0123456789abcdef0", user, sizeof(user)), 0);
	sfs_txn_abort(t);

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_image_deregister(t, "a", true, dereg_cb, &log), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(log.deleted, 1, "own, once although mapped twice");
	cr_assert_eq(log.kept, 1);
	cr_assert_str_eq(log.kept_for, "image b");

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, own, &sn), -ENOENT);
	cr_assert_eq(sfs_cat_snapshot_get(t, shared, &sn), 0);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_cat_image_deregister(t, "a", false, NULL, NULL), -ENOENT);
	cr_assert_eq(sfs_cat_image_deregister(t, "b", false, NULL, NULL), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, shared, &sn), 0, "kept without --delete-snapshots");
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_txn_commit(t), 0);
	sfs_image_release(&a);
	sfs_image_release(&b);
}

/* A record as the encoder wrote one before sizes were bounded: 2^63 cast
 * to a signed JSON integer. */
static void put_raw_image(const char *name, const char *json)
{
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_IMAGES, name, strlen(name), json, strlen(json)), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

static int list_names_cb(void *ctx, const struct sfs_image *img)
{
	char *names = ctx;

	strcat(names, img->name);
	strcat(names, " ");
	return 0;
}

struct problems {
	char text[4096];
	int n;
};

static void problem_cb(void *ctx, const char *line)
{
	struct problems *p = ctx;

	p->n++;
	strncat(p->text, line, sizeof(p->text) - strlen(p->text) - 2);
	strcat(p->text, "\n");
}

Test(image, size_out_of_range_refused, .init = fx_setup, .fini = fx_teardown)
{
	struct sfs_image img;
	char snap[SFS_IDSTR_SIZE], err[256];

	make_snapshot("root", 70000, 1, snap);
	image_with(&img, "huge", "sda", snap);
	img.devices[0].size = UINT64_C(1) << 63;
	cr_assert_eq(sfs_image_validate(&img, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "device sda") && strstr(err, "larger"), "%s", err);
	cr_assert_eq(create(&img, err, sizeof(err)), -EINVAL);
	snprintf(img.id, sizeof(img.id), "ami-0123456789abcdef0");
	cr_assert_null(sfs_image_encode(&img), "an out-of-range size must not be encoded");
	img.devices[0].size = SFS_IMAGE_DEVICE_SIZE_MAX;
	img.id[0] = '\0';
	cr_assert_eq(create(&img, err, sizeof(err)), 0, "%s", err);
	sfs_image_release(&img);
}

Test(image, damaged_record_skipped_deregistered_and_checked, .init = fx_setup,
     .fini = fx_teardown)
{
	struct sfs_check_result res;
	struct problems pr = {0};
	struct sfs_snapshot sn;
	struct sfs_image img;
	struct sfs_txn *t;
	char snap[SFS_IDSTR_SIZE], err[256], json[1024], names[256] = "";

	make_snapshot("root", 70000, 1, snap);
	image_with(&img, "good", "sda", snap);
	cr_assert_eq(create(&img, err, sizeof(err)), 0, "%s", err);
	sfs_image_release(&img);
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"id\":\"ami-0123456789abcdef1\",\"name\":\"huge\",\"created\":1,"
		 "\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
		 "\"devices\":[{\"device\":\"sda\",\"snapshot\":\"%s\","
		 "\"size\":-9223372036854775808}],\"tags\":{},\"launch_permissions\":"
		 "{\"public\":false,\"users\":[],\"groups\":[]}}",
		 snap);
	put_raw_image("huge", json);
	put_raw_image("junk", "{not json");
	/* Decodes, but maps a snapshot the catalog does not have. */
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"id\":\"ami-0123456789abcdef2\",\"name\":\"orphan\",\"created\":1,"
		 "\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"root_device\":\"sda\","
		 "\"devices\":[{\"device\":\"sda\",\"snapshot\":\"snap-0123456789abcdef0\","
		 "\"size\":4096}],\"tags\":{},\"launch_permissions\":"
		 "{\"public\":false,\"users\":[],\"groups\":[]}}");
	put_raw_image("orphan", json);

	/* Listing skips the damaged records and shows every other one. */
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_image_foreach(t, list_names_cb, names), 0);
	cr_assert_str_eq(names, "good orphan ");
	cr_assert_eq(sfs_cat_image_get(t, "huge", &img), -EBADMSG);
	sfs_txn_abort(t);

	/* check names each bad image. */
	cr_assert_eq(sfs_check(fx_store, false, problem_cb, &pr, NULL, NULL, &res), 0);
	cr_assert_eq(res.images, 4);
	cr_assert_eq(pr.n, 3, "%s", pr.text);
	cr_assert(strstr(pr.text, "image huge: record is damaged: device sda: size") &&
		      strstr(pr.text, "out of range"),
		  "%s", pr.text);
	cr_assert(strstr(pr.text, "image junk: record is damaged"), "%s", pr.text);
	cr_assert(strstr(pr.text, "image orphan: device sda maps snapshot snap-0123456789abcdef0, "
				  "which does not exist"),
		  "%s", pr.text);

	/* Deregister removes a damaged record by name and no snapshot. */
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_image_deregister(t, "huge", true, NULL, NULL), 1);
	cr_assert_eq(sfs_cat_image_deregister(t, "junk", false, NULL, NULL), 1);
	cr_assert_eq(sfs_cat_image_deregister(t, "orphan", false, NULL, NULL), 0);
	cr_assert_eq(sfs_cat_image_get(t, "huge", &img), -ENOENT);
	cr_assert_eq(sfs_cat_snapshot_get(t, snap, &sn), 0, "a damaged record deleted a snapshot");
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_txn_commit(t), 0);
	memset(&pr, 0, sizeof(pr));
	cr_assert_eq(sfs_check(fx_store, false, problem_cb, &pr, NULL, NULL, &res), 0);
	cr_assert_eq(pr.n, 0, "%s", pr.text);
	cr_assert_eq(res.images, 1);
}

Test(image, permission_lists)
{
	struct sfs_image img;

	image_with(&img, "web", "sda", "snap-0123456789abcdef0");
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, "carol"), 0);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, "alice"), 0);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, "bob"), 0);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, "bob"), -EEXIST);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, ""), -EINVAL);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_GROUP, "a:b"), -EINVAL);
	cr_assert_eq(json_array_size(img.users), 3);
	cr_assert_str_eq(json_string_value(json_array_get(img.users, 0)), "alice");
	cr_assert_str_eq(json_string_value(json_array_get(img.users, 2)), "carol");
	cr_assert_eq(sfs_image_perm_remove(&img, SFS_PERM_USER, "bob"), 0);
	cr_assert_eq(sfs_image_perm_remove(&img, SFS_PERM_USER, "bob"), -ENOENT);
	cr_assert_eq(sfs_image_perm_remove(&img, SFS_PERM_GROUP, "alice"), -ENOENT);
	cr_assert_eq(json_array_size(img.users), 2);
	sfs_image_release(&img);
}

/* A writable transaction that runs one grant change and commits. */
static int grant(enum sfs_access_kind kind, const char *name, int pkind, const char *who,
		 bool add)
{
	struct sfs_txn *t;
	int r;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	r = sfs_cat_grant(t, kind, name, pkind, who, add);
	if (r == 0)
		return sfs_txn_commit(t);
	sfs_txn_abort(t);
	return r;
}

static int check(enum sfs_access_kind kind, const char *name, uid_t uid, gid_t gid)
{
	struct sfs_cred who = {.uid = uid, .groups = &gid, .ngroups = 1};
	struct sfs_txn *t;
	int r;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	r = sfs_access_check(t, kind, name, &who);
	sfs_txn_abort(t);
	return r;
}

/* Registers checkpoint name of image (or "") over two completed snapshots. */
static void add_checkpoint(const char *name, const char *image, const char *ram,
			   const char *state)
{
	struct sfs_checkpoint ck;
	struct sfs_writer *w;
	char err[256];

	cr_assert_eq(sfs_checkpoint_init(&ck), 0);
	snprintf(ck.name, sizeof(ck.name), "%s", name);
	snprintf(ck.vm, sizeof(ck.vm), "vm");
	snprintf(ck.image, sizeof(ck.image), "%s", image);
	snprintf(ck.ram.snapshot, sizeof(ck.ram.snapshot), "%s", ram);
	snprintf(ck.state.snapshot, sizeof(ck.state.snapshot), "%s", state);
	cr_assert_eq(sfs_writer_begin(fx_store, &w), 0);
	cr_assert_eq(sfs_writer_checkpoint_create(w, &ck, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sfs_writer_commit(w), 0);
	sfs_checkpoint_release(&ck);
}

/* A checkpoint's RAM and device state may be recorded shorter than their
 * snapshots (padded to volumes that never shrink), never longer; a disk
 * may be larger than its snapshot, never smaller. */
Test(image, checkpoint_ram_and_state_may_be_padded, .init = fx_setup, .fini = fx_teardown)
{
	char ram[SFS_IDSTR_SIZE], state[SFS_IDSTR_SIZE], disk[SFS_IDSTR_SIZE], err[256];
	struct sfs_checkpoint ck;
	struct sfs_writer *w;
	const struct {
		uint64_t ram, state, disk;
		const char *refused; /* the part named in the error, or NULL */
	} cases[] = {
		{70000, 70000 - 18, 70000, NULL},
		{70000 - 4096, 70000, 1u << 20, NULL},
		{0, 0, 0, NULL}, /* 0: the snapshot's size */
		{70000, 70000 + 1, 70000, "state"},
		{70000 + 1, 70000, 70000, "ram"},
		{70000, 70000, 70000 - 1, "sda"},
	};

	make_snapshot("vm-ram", 70000, 1, ram);
	make_snapshot("vm-state", 70000, 2, state);
	make_snapshot("vm-sda", 70000, 3, disk);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		cr_assert_eq(sfs_checkpoint_init(&ck), 0);
		snprintf(ck.name, sizeof(ck.name), "c%zu", i);
		snprintf(ck.vm, sizeof(ck.vm), "vm");
		snprintf(ck.ram.snapshot, sizeof(ck.ram.snapshot), "%s", ram);
		ck.ram.size = cases[i].ram;
		snprintf(ck.state.snapshot, sizeof(ck.state.snapshot), "%s", state);
		ck.state.size = cases[i].state;
		cr_assert_eq(sfs_checkpoint_add_device(&ck, "sda", disk, cases[i].disk), 0);
		err[0] = '\0';
		cr_assert_eq(sfs_writer_begin(fx_store, &w), 0);
		r = sfs_writer_checkpoint_create(w, &ck, err, sizeof(err));
		if (!cases[i].refused) {
			cr_assert_eq(r, 0, "case %zu: %s", i, err);
			cr_assert_eq(sfs_writer_commit(w), 0);
			cr_assert_eq(ck.ram.size, cases[i].ram ? cases[i].ram : 70000);
			cr_assert_eq(ck.state.size, cases[i].state ? cases[i].state : 70000);
			cr_assert_eq(ck.devices[0].size, cases[i].disk ? cases[i].disk : 70000);
		} else {
			cr_assert_eq(r, -ERANGE, "case %zu: %d (%s)", i, r, err);
			cr_assert(strstr(err, cases[i].refused), "case %zu: %s", i, err);
			sfs_writer_abort(w);
		}
		sfs_checkpoint_release(&ck);
	}
}

/* The one access decision: root and the store's owner always; others by a
 * grant on the snapshot or its volume (images: launch permissions), by
 * name, never by an image's permission on the snapshots it maps. */
Test(image, access_check, .init = fx_setup, .fini = fx_teardown)
{
	struct passwd *pw;
	struct group *g;
	char a1[SFS_IDSTR_SIZE], a2[SFS_IDSTR_SIZE], b1[SFS_IDSTR_SIZE], err[256];
	struct sfs_image img;
	struct sfs_txn *t;
	uid_t u, d;
	gid_t other = 4242, dg;

	/* getpwnam's result lives until the next call: copy the ids. */
	cr_assert_not_null(pw = getpwnam("nobody"));
	u = pw->pw_uid;
	cr_assert_not_null(pw = getpwnam("daemon"));
	d = pw->pw_uid;
	cr_assert_not_null(g = getgrnam("daemon"));
	dg = g->gr_gid;
	make_snapshot("vola", 100000, 1, a1);
	make_snapshot("vola", 100000, 2, a2);
	make_snapshot("volb", 100000, 3, b1);

	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a1, 0, 0), 0, "root");
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a1, getuid(), 0), 0, "the store's owner");
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a1, u, other), -EACCES);
	cr_assert_eq(check(SFS_ACCESS_VOLUME, "vola", u, other), -EACCES);
	cr_assert_eq(check(SFS_ACCESS_VOLUME, "nosuch", u, other), -ENOENT);

	/* A grant on the volume covers its snapshots, not another volume's. */
	cr_assert_eq(grant(SFS_ACCESS_VOLUME, "vola", SFS_PERM_USER, "nobody", true), 0);
	cr_assert_eq(grant(SFS_ACCESS_VOLUME, "vola", SFS_PERM_USER, "nobody", true), -EEXIST);
	cr_assert_eq(check(SFS_ACCESS_VOLUME, "vola", u, other), 0);
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a1, u, other), 0);
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a2, u, other), 0);
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, b1, u, other), -EACCES);
	cr_assert_eq(check(SFS_ACCESS_VOLUME, "vola", d, other), -EACCES);

	/* A grant on one snapshot covers that snapshot only. */
	cr_assert_eq(grant(SFS_ACCESS_SNAPSHOT, b1, SFS_PERM_GROUP, "daemon", true), 0);
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, b1, d, other), -EACCES, "not in the group");
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, b1, d, dg), 0, "member of the group");
	cr_assert_eq(check(SFS_ACCESS_VOLUME, "volb", d, dg), -EACCES);

	/* Removal revokes; a name that is not listed is -ENOENT. */
	cr_assert_eq(grant(SFS_ACCESS_VOLUME, "vola", SFS_PERM_USER, "nobody", false), 0);
	cr_assert_eq(grant(SFS_ACCESS_VOLUME, "vola", SFS_PERM_USER, "nobody", false), -ENOENT);
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a1, u, other), -EACCES);
	cr_assert_eq(grant(SFS_ACCESS_SNAPSHOT, a1, SFS_PERM_USER, "a:b", true), -EINVAL);
	cr_assert_eq(grant(SFS_ACCESS_SNAPSHOT, "snap-0123456789abcdef0", SFS_PERM_USER, "nobody",
			   true),
		     -ENOENT);

	/* A user named in a grant who does not exist on the host matches
	 * nobody, and a grant survives the record's other updates. */
	cr_assert_eq(grant(SFS_ACCESS_VOLUME, "vola", SFS_PERM_USER, "no-such-user-here", true), 0);
	make_snapshot("vola", 120000, 4, a2);
	cr_assert_eq(check(SFS_ACCESS_VOLUME, "vola", u, other), -EACCES);
	{
		json_t *users, *groups;

		cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
		cr_assert_eq(sfs_cat_grants_get(t, SFS_ACCESS_VOLUME, "vola", &users, &groups), 0);
		sfs_txn_abort(t);
		cr_assert_eq(json_array_size(users), 1);
		cr_assert_eq(json_array_size(groups), 0);
		json_decref(users);
		json_decref(groups);
	}

	/* An image's permission covers the image, not its snapshots. */
	image_with(&img, "web", "sda", a1);
	cr_assert_eq(sfs_image_perm_add(&img, SFS_PERM_USER, "nobody"), 0);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_image_create(t, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sfs_txn_commit(t), 0);
	sfs_image_release(&img);
	cr_assert_eq(check(SFS_ACCESS_IMAGE, "web", u, other), 0);
	cr_assert_eq(check(SFS_ACCESS_IMAGE, "web", d, dg), -EACCES);
	cr_assert_eq(check(SFS_ACCESS_SNAPSHOT, a1, u, other), -EACCES);

	/* A checkpoint follows its image's launch permissions; one without
	 * an image, or whose image is gone, only root and the owner. */
	add_checkpoint("ck-web", "web", a1, a2);
	add_checkpoint("ck-bare", "", a1, a2);
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-web", u, other), 0);
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-web", d, dg), -EACCES);
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-bare", u, other), -EACCES);
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-bare", 0, 0), 0, "root");
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-bare", getuid(), 0), 0, "the owner");
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "nosuch", u, other), -ENOENT);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_image_deregister(t, "web", false, NULL, NULL), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-web", u, other), -EACCES, "image gone");
	cr_assert_eq(check(SFS_ACCESS_CHECKPOINT, "ck-web", 0, 0), 0);
}
