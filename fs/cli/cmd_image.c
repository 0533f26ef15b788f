// SPDX-License-Identifier: MIT
/*
 * `snapfs image ...`: register machine images from existing snapshots or
 * from sources snapshotted on the spot, list and show them, deregister
 * them (optionally with their snapshots) and edit their launch
 * permissions. The command line only parses: an image create becomes an
 * image spec and one sfs_image_register call, which checks everything
 * before a source is read and commits the image with the snapshots of
 * its sources, all or nothing.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image_launch.h"
#include "snapfs/image.h"
#include "snapfs/parse.h"

static const char image_help[] =
    "Usage: snapfs image COMMAND ...\n"
    "\n"
    "  create NAME --device DEV=SNAPSHOT[:SIZE] | --device DEV=SOURCE ...\n"
    "         [--root-device DEV] [--arch x86_64|arm64|i386] [--boot-mode bios|uefi]\n"
    "         [--description T] [--tag K=V]... [--user U]... [--group G]... [--public]\n"
    "         [--json] [--progress|--no-progress]\n"
    "      Register a machine image and print its id. DEV is a disk name (sda, vdb,\n"
    "      xvdf, sda1, nvme0n1; a leading /dev/ is dropped) and becomes DEV.img in\n"
    "      a mount. DEV=snap-... maps an existing completed snapshot; :SIZE (bytes,\n"
    "      or with a K, M, G, T or P suffix) shows the device larger than the snapshot,\n"
    "      the rest reading as zeros. DEV=SOURCE (a file or block device) snapshots\n"
    "      SOURCE now as volume NAME-DEV. All sources are snapshotted in one session\n"
    "      and the image is registered in the same commit: all or nothing. Defaults:\n"
    "      root device the first --device, architecture x86_64, boot mode bios\n"
    "      (uefi on arm64).\n"
    "  list [--json]\n"
    "  show NAME|ID [--json]\n"
    "  copy NAME|ID --to-store DEST [--name N] [--copy-permissions]\n"
    "       [--to-key-file F | --to-passphrase-fd N] [--json] [--progress|--no-progress]\n"
    "      Copy the image and every snapshot it maps to store DEST, sending only\n"
    "      the chunks DEST lacks, and register it there in one commit (a new id;\n"
    "      launch permissions only with --copy-permissions). An interrupted copy\n"
    "      run again reuses the snapshots already copied.\n"
    "  deregister NAME|ID [--delete-snapshots] [--force]\n"
    "      Remove the image. --delete-snapshots deletes its snapshots too, except\n"
    "      those another image maps (they are named); 'snapfs gc' reclaims space.\n"
    "      A locked snapshot refuses it. A recycle bin rule keeps the image and\n"
    "      the snapshots in the bin ('snapfs bin') unless --force.\n"
    "  permission add|remove NAME|ID (--user U | --group G | --public)...\n"
    "  permission list NAME|ID [--json]\n"
    "      Launch permissions: who, besides root, the store's owner and the\n"
    "      image's owner, may open the image's files in a mount made with\n"
    "      -o allow_other. Users and groups are host names; they must exist.\n"
    "  launch-config NAME|ID --mount DIR [--format qemu|libvirt]\n"
    "         [--overlay DIR | --snapshot-mode] [--kernel F] [--initrd F]\n"
    "         [--append T] [--memory MIB] [--cpus N] [--accel kvm|tcg]\n"
    "         [--serial FILE] [--device DEV=snap-ID[:SIZE] | --device DEV=none]...\n"
    "      Print a QEMU command line (as a sh script) or a libvirt domain that\n"
    "      boots the image straight from the mount at DIR. Drives are read-only\n"
    "      unless --overlay DIR (qcow2 overlays backed by the mount's files,\n"
    "      created by the script) or --snapshot-mode (QEMU -snapshot: writes go\n"
    "      to temporary files) is given. --device DEV=snap-ID adds a disk read\n"
    "      from snapshots/ID.img (or replaces DEV's mapping) for this launch;\n"
    "      SIZE above the snapshot's needs --overlay. DEV=none leaves a mapped\n"
    "      device out. Without --accel, QEMU tries KVM, then TCG; a libvirt\n"
    "      domain is type 'kvm' when /dev/kvm works here, else 'qemu' (TCG).\n"
    "      The image itself is not changed.\n";

/* "/dev/sda" -> "sda": people write device names both ways. */
static const char *strip_dev(const char *s)
{
	return strncmp(s, "/dev/", 5) ? s : s + 5;
}

static bool host_user_exists(const char *name)
{
	return getpwnam(name) != NULL;
}

static bool host_group_exists(const char *name)
{
	return getgrnam(name) != NULL;
}

/* Grants on img, each checked against the host: 0 or an exit code. */
static int grant(struct sfs_image *img, int kind, const char *name)
{
	const char *what = kind == SFS_PERM_USER ? "user" : "group";
	int r;

	if (!(kind == SFS_PERM_USER ? host_user_exists(name) : host_group_exists(name)))
		return cli_error("no %s named '%s' on this host", what, name);
	r = sfs_image_perm_add(img, kind, name);
	if (r == -EINVAL)
		return cli_error("invalid %s name '%s'", what, name);
	if (r < 0 && r != -EEXIST)
		return cli_fail(r, "launch permission for %s %s", what, name);
	return 0;
}

char *cli_image_owner_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	char *s = NULL;

	if (pw)
		return strdup(pw->pw_name);
	if (asprintf(&s, "%u", (unsigned)geteuid()) < 0)
		return NULL;
	return s;
}

/* --device DEV=SNAPSHOT[:SIZE] or DEV=SOURCE, into the spec (o->dest). */
static int opt_device(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
		      uint64_t v)
{
	struct sfs_image_spec *spec = o->dest;
	const char *eq = strchr(arg, '='), *val, *dev;
	char name[64];
	uint64_t size = 0;
	int r;

	if (!eq || eq == arg || !eq[1])
		return cli_usage_error(p->cmd,
				       "invalid --device '%s': expected "
				       "DEV=SNAPSHOT[:SIZE] or DEV=SOURCE",
				       arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	dev = strip_dev(name);
	val = eq + 1;
	if (!sfs_devname_valid(dev))
		return cli_error("'%s' is not a device name (like sda, vdb, xvdf, nvme0n1)", name);
	if (sfs_image_device(&spec->image, dev))
		return cli_error("device %s is given twice", dev);
	if (spec->image.ndevices >= SFS_IMAGE_MAX_DEVICES)
		return cli_error("an image maps at most %d devices", SFS_IMAGE_MAX_DEVICES);
	if (!strncmp(val, "snap-", 5) && !strchr(val, '/')) {
		const char *colon = strchr(val, ':');
		char id[SFS_IDSTR_SIZE + 8];

		snprintf(id, sizeof(id), "%.*s", colon ? (int)(colon - val) : (int)strlen(val),
			 val);
		if (!sfs_idstr_valid(id, "snap-"))
			return cli_error("device %s: '%s' is not a snapshot id (snap-<hex>)", dev,
					 id);
		if (colon && (sfs_parse_size(colon + 1, &size) < 0 || size == 0))
			return cli_usage_error(p->cmd,
					       "device %s: invalid size '%s' (1 byte to 4 EiB: a "
					       "number, or with a K, M, G, T or P suffix)",
					       dev, colon + 1);
		r = sfs_image_spec_add_snapshot(spec, dev, id, size);
	} else {
		r = sfs_image_spec_add_source(spec, dev, val);
	}
	if (r < 0)
		return cli_fail(r, "device %s", dev);
	return 0;
}

/* Shows one progress line per source, named after its volume. */
static void on_source(void *ctx, const char *device, const char *volume, bool done)
{
	struct cli_progress *prog = ctx;

	if (done)
		cli_progress_done(prog);
	else
		cli_progress_init(prog, volume, prog->mode);
}

/* The line of a failed sfs_image_register. */
static int register_error(const struct sfs_image_spec *spec,
			  const struct sfs_image_register_result *res, int r)
{
	const char *name = spec->image.name;

	if (res->device[0]) {
		const struct sfs_image_device *d = sfs_image_device(&spec->image, res->device);
		const char *src = spec->sources[d ? (size_t)(d - spec->image.devices) : 0];

		if (res->error[0])
			return cli_error("device %s: snapshot of %s failed: %s", res->device, src,
					 res->error);
		return cli_fail(r, "device %s: snapshot of %s failed", res->device, src);
	}
	if (res->error[0])
		return cli_error("image %s not registered: %s", name, res->error);
	return cli_fail(r, "image %s not registered", name);
}

static int image_create(const struct cli *c, int argc, char **argv)
{
	struct sfs_image_spec spec;
	struct sfs_image_register_result res;
	struct cli_grants g = {0};
	const char *root = NULL, *arch = NULL, *boot = NULL, *desc = NULL;
	struct sfs_store *s = NULL;
	struct cli_progress prog;
	char err[256];
	int r;

	if (sfs_image_spec_init(&spec) < 0)
		return cli_error("out of memory");
	const struct cli_opt opts[] = {
		{ .name = "device", .kind = CLI_STRING, .dest = &spec, .fn = opt_device },
		{ .name = "root-device", .kind = CLI_STRING, .dest = &root },
		{ .name = "arch", .kind = CLI_STRING, .dest = &arch },
		{ .name = "boot-mode", .kind = CLI_STRING, .dest = &boot },
		{ .name = "description", .kind = CLI_STRING, .dest = &desc },
		{ .name = "tag", .kind = CLI_STRING, .dest = spec.image.tags, .fn = cli_tag_opt },
		{ .name = "user", .kind = CLI_STRING, .dest = &g, .fn = cli_grant_opt },
		{ .name = "group", .kind = CLI_STRING, .dest = &g, .fn = cli_grant_opt },
		{ .name = "public", .kind = CLI_FLAG, .dest = &g, .fn = cli_grant_opt },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "image create ", .help = image_help, .opts = opts,
				.shared = CLI_JSON | CLI_PROGRESS, .min_args = 1, .max_args = 1,
				.args_help = "NAME and --device DEV=..." };
	struct sfs_image *img = &spec.image;

	r = cli_parse(&co, argc, argv);
	if (r) {
		r = cli_parse_exit(r);
		goto out_release;
	}
	if (desc && (r = cli_text_arg(co.cmd, "--description", desc)))
		goto out_release;
	snprintf(img->name, sizeof(img->name), "%.*s", SFS_NAME_MAX, co.args[0]);
	if (!sfs_name_valid(co.args[0])) {
		r = cli_error("invalid image name '%s': use 1-128 of A-Z a-z 0-9 . _ -, not "
			      "starting with . or -",
			      co.args[0]);
		goto out_release;
	}
	if (img->ndevices == 0) {
		r = cli_usage_error(co.cmd, "give at least one --device DEV=...");
		goto out_release;
	}
	img->arch = arch ? sfs_arch_parse(arch) : SFS_ARCH_X86_64;
	if (img->arch < 0) {
		r = cli_error("unknown architecture '%s' (x86_64, arm64 or i386)", arch);
		goto out_release;
	}
	img->boot_mode = boot ? sfs_boot_mode_parse(boot) : sfs_boot_mode_default(img->arch);
	if (img->boot_mode < 0) {
		r = cli_error("unknown boot mode '%s' (bios or uefi)", boot);
		goto out_release;
	}
	root = root ? strip_dev(root) : NULL;
	snprintf(img->root_device, sizeof(img->root_device), "%.*s", SFS_DEVNAME_MAX,
		 root ? root : img->devices[0].device);
	if (root && !sfs_image_device(img, root)) {
		r = cli_error("root device '%s' is not in the block device mapping", root);
		goto out_release;
	}
	r = 0;
	for (size_t i = 0; r == 0 && i < g.n; i++)
		r = g.v[i].kind == 'p' ? (img->public = true, 0)
				       : grant(img, g.v[i].kind == 'u' ? SFS_PERM_USER
									: SFS_PERM_GROUP,
					       g.v[i].name);
	if (r)
		goto out_release;
	if ((desc && !(img->description = strdup(desc))) || !(img->owner = cli_image_owner_name())) {
		r = cli_error("out of memory");
		goto out_release;
	}
	/* Before the store is opened (and its lock waited for). */
	if (sfs_image_spec_validate(&spec, err, sizeof(err)) < 0) {
		r = cli_error("%s", err);
		goto out_release;
	}
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out_release;
	cli_progress_init(&prog, co.cmd, co.progress);
	r = sfs_image_register(s, &spec,
			       &(struct sfs_image_register_opts){ .source_fn = on_source,
								   .progress = cli_progress_cb,
								   .ctx = &prog },
			       &res);
	if (r < 0) {
		r = register_error(&spec, &res, r);
		goto out_close_store;
	}
	if (co.json)
		r = cli_print_json(sfs_image_to_json(&res.image));
	else
		puts(res.image.id);
	sfs_image_release(&res.image);
out_close_store:
	sfs_store_close(s);
out_release:
	sfs_image_spec_release(&spec);
	cli_grants_release(&g);
	return r;
}

/* The exit code and line for an image that could not be read. */
static int image_error(struct sfs_store *s, const char *name_or_id, int r)
{
	if (r == -ENOENT)
		return cli_error("no image %s in store %s", name_or_id, sfs_store_path(s));
	if (r == -EBADMSG)
		return cli_error("image %s: its record is damaged ('snapfs check' says how; "
				 "'snapfs image deregister %s' removes it)",
				 name_or_id, name_or_id);
	return cli_fail(r, "cannot read image %s", name_or_id);
}

int cli_image_load(struct sfs_store *s, const char *name_or_id, struct sfs_image *ret)
{
	struct sfs_txn *t;
	int r = sfs_txn_begin(s, false, &t);

	if (r == 0) {
		r = sfs_cat_image_find(t, name_or_id, ret);
		sfs_txn_abort(t);
	}
	return r < 0 ? image_error(s, name_or_id, r) : 0;
}

struct list_ctx {
	json_t *arr;
	int count;
};

static int list_cb(void *ctx, const struct sfs_image *img)
{
	struct list_ctx *l = ctx;
	char t[32];

	if (l->arr)
		return json_array_append_new(l->arr, sfs_image_to_json(img)) < 0 ? -ENOMEM : 0;
	if (l->count++ == 0)
		printf("%-24s  %-22s  %-7s  %-5s  %-8s  %-7s  %s\n", "NAME", "ID", "ARCH", "BOOT",
		       "ROOT", "DEVICES", "CREATED");
	printf("%-24s  %-22s  %-7s  %-5s  %-8s  %-7zu  %s\n", img->name, img->id,
	       sfs_arch_name(img->arch), sfs_boot_mode_name(img->boot_mode), img->root_device,
	       img->ndevices, cli_time(img->created, t, sizeof(t)));
	return 0;
}

static int list_query(struct sfs_txn *t, void *ctx)
{
	return sfs_cat_image_foreach(t, list_cb, ctx);
}

static int image_list(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = {.cmd = "image list ", .help = image_help, .shared = CLI_JSON};
	struct list_ctx l = {0};
	int r = cli_parse(&co, argc, argv);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	return cli_read_listing(c, json, list_query, &l, &l.arr, "images");
}

static void print_names(const char *label, json_t *arr)
{
	json_t *v;
	size_t i;

	printf("%-13s ", label);
	if (!json_array_size(arr))
		fputs("-", stdout);
	json_array_foreach(arr, i, v)
	{
		printf("%s%s", i ? ", " : "", json_string_value(v));
	}
	fputc('\n', stdout);
}

static int image_show(const struct cli *c, int argc, char **argv)
{
	struct sfs_image img;
	struct sfs_store *s;
	struct cli_parse co = {.cmd = "image show ", .help = image_help, .shared = CLI_JSON,
			       .min_args = 1, .max_args = 1, .args_help = "NAME or ID"};
	int r = cli_parse_open(c, &co, argc, argv, SFS_OPEN_READ, &s);
	bool json = co.json;
	char t[32], h[32];
	const char *k;
	json_t *v;

	if (r)
		return cli_parse_exit(r);
	r = cli_image_load(s, co.args[0], &img);
	sfs_store_close(s);
	if (r)
		return r;
	if (json) {
		r = cli_print_json(sfs_image_to_json(&img));
		sfs_image_release(&img);
		return r;
	}
	printf("name:         %s\nid:           %s\ncreated:      %s\nowner:        %s\n"
	       "architecture: %s\nboot mode:    %s\nroot device:  %s\n",
	       img.name, img.id, cli_time(img.created, t, sizeof(t)), img.owner ? img.owner : "-",
	       sfs_arch_name(img.arch), sfs_boot_mode_name(img.boot_mode), img.root_device);
	for (size_t i = 0; i < img.ndevices; i++)
		printf("device:       %-8s %s  %s (%" PRIu64 " bytes)\n", img.devices[i].device,
		       img.devices[i].snapshot, cli_human(img.devices[i].size, h, sizeof(h)),
		       img.devices[i].size);
	if (img.description)
		printf("description:  %s\n", img.description);
	json_object_foreach(img.tags, k, v)
	    printf("tag:          %s=%s\n", k, json_string_value(v));
	printf("public:       %s\n", img.public ? "yes" : "no");
	print_names("users:", img.users);
	print_names("groups:", img.groups);
	sfs_image_release(&img);
	return 0;
}

/* What deregister did, printed only once it committed. */
struct dereg_ctx {
	json_t *lines;
	size_t kept;
};

static void dereg_cb(void *ctx, const char *snap_id, bool deleted, const char *kept_for)
{
	struct dereg_ctx *d = ctx;
	char line[256];

	if (deleted) {
		snprintf(line, sizeof(line), "deleted snapshot %s", snap_id);
	} else {
		snprintf(line, sizeof(line), "kept snapshot %s: %s still uses it", snap_id,
			 kept_for);
		d->kept++;
	}
	json_array_append_new(d->lines, json_string(line));
}

static int image_deregister(const struct cli *c, int argc, char **argv)
{
	bool del = false, damaged = false, force = false;
	const struct cli_opt opts[] = {
	    {.name = "delete-snapshots", .kind = CLI_FLAG, .dest = &del},
	    {.name = "force", .kind = CLI_FLAG, .dest = &force},
	    {0},
	};
	struct cli_parse co = {.cmd = "image deregister ", .help = image_help, .opts = opts,
			       .min_args = 1, .max_args = 1, .args_help = "NAME or ID"};
	struct dereg_ctx d = {NULL, 0};
	struct sfs_deregister_opts dopt = {.fn = dereg_cb, .ctx = &d};
	struct sfs_deregister_result res;
	struct sfs_image img;
	json_t *line;
	size_t i;
	struct sfs_store *s;
	struct sfs_txn *t;
	const char *name;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	name = co.args[0];
	d.lines = json_array();
	dopt.delete_snapshots = del;
	dopt.force = force;
	dopt.now = (int64_t)time(NULL);
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		return r;
	/* A record that does not decode is still removed by its name: it is
	 * the way out of a damaged image, and it touches no snapshot. */
	r = sfs_txn_begin(s, false, &t);
	if (r == 0) {
		r = sfs_cat_image_find(t, name, &img);
		sfs_txn_abort(t);
	}
	if (r == -EBADMSG) {
		r = sfs_image_init(&img);
		snprintf(img.name, sizeof(img.name), "%s", name);
	} else if (r < 0) {
		r = image_error(s, name, r);
		goto out_close_store;
	}
	if (r < 0) {
		r = cli_fail(r, "deregister of image %s failed", name);
		goto out_close_store;
	}
	r = sfs_txn_begin(s, true, &t);
	if (r == 0) {
		r = sfs_image_deregister(t, img.name, &dopt, &res);
		damaged = r == 1;
		if (r >= 0)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	if (r == -EPERM) {
		char until[32];

		r = cli_error("snapshot %s of image %s is locked (%s) until %s; nothing was changed",
			      res.locked, img.name, sfs_lock_mode_name(res.lock_mode),
			      cli_time(res.lock_until, until, sizeof(until)));
	} else if (r < 0) {
		r = cli_fail(r, "deregister of image %s failed; nothing was changed", img.name);
	} else if (damaged) {
		printf("deregistered image %s (its record was damaged)\n", img.name);
		if (del)
			fprintf(stderr, "snapfs: image %s: its damaged record does not say which "
					"snapshots are its own: none were deleted\n",
				img.name);
	} else {
		json_array_foreach(d.lines, i, line) puts(json_string_value(line));
		printf("deregistered image %s (%s)\n", img.name, img.id);
		if (d.kept)
			fprintf(stderr, "snapfs: kept %zu snapshot(s) that other images use\n",
				d.kept);
	}
	sfs_image_release(&img);
out_close_store:
	sfs_store_close(s);
	json_decref(d.lines);
	return r;
}

/* ---- permissions ---- */

static int perm_list(const struct cli *c, int argc, char **argv)
{
	struct sfs_image img;
	struct sfs_store *s;
	struct cli_parse co = {.cmd = "image permission list ", .help = image_help,
			       .shared = CLI_JSON, .min_args = 1, .max_args = 1,
			       .args_help = "NAME or ID"};
	json_t *v;
	size_t i;
	int r = cli_parse_open(c, &co, argc, argv, SFS_OPEN_READ, &s);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	r = cli_image_load(s, co.args[0], &img);
	sfs_store_close(s);
	if (r)
		return r;
	if (json) {
		r = cli_print_json(json_pack("{s:s, s:s, s:s*, s:b, s:O, s:O}", "image", img.name,
					     "id", img.id, "owner", img.owner, "public", img.public,
					     "users", img.users, "groups", img.groups));
	} else {
		printf("owner  %s\n", img.owner ? img.owner : "-");
		if (img.public)
			puts("public");
		json_array_foreach(img.users, i, v) printf("user   %s\n", json_string_value(v));
		json_array_foreach(img.groups, i, v) printf("group  %s\n", json_string_value(v));
	}
	sfs_image_release(&img);
	return r;
}

/* Applies one --user/--group/--public of add or remove; 0 or an exit code. */
static int perm_apply(struct sfs_image *img, bool add, char opt, const char *name)
{
	int kind = opt == 'u' ? SFS_PERM_USER : SFS_PERM_GROUP;
	const char *what = opt == 'u' ? "user" : "group";
	int r;

	if (opt == 'p') {
		img->public = add;
		return 0;
	}
	if (add)
		return grant(img, kind, name);
	r = sfs_image_perm_remove(img, kind, name);
	if (r == -ENOENT)
		return cli_error("%s %s has no launch permission on image %s", what, name,
				 img->name);
	if (r < 0)
		return cli_fail(r, "launch permission for %s %s", what, name);
	return 0;
}

static int perm_change(const struct cli *c, int argc, char **argv, bool add)
{
	struct cli_grants g = {0};
	const struct cli_opt opts[] = {
	    {.name = "user", .kind = CLI_STRING, .dest = &g, .fn = cli_grant_opt},
	    {.name = "group", .kind = CLI_STRING, .dest = &g, .fn = cli_grant_opt},
	    {.name = "public", .kind = CLI_FLAG, .dest = &g, .fn = cli_grant_opt},
	    {0},
	};
	const char *cmd = add ? "image permission add " : "image permission remove ";
	struct cli_parse co = {.cmd = cmd, .help = image_help, .opts = opts, .max_args = -1};
	struct sfs_store *s = NULL;
	struct sfs_image img;
	struct sfs_txn *t;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r) {
		r = cli_parse_exit(r);
		goto out_free;
	}
	if (co.nargs != 1 || g.n == 0) {
		r = cli_usage_error(cmd, "expected NAME and --user U, --group G or --public");
		goto out_free;
	}
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out_free;
	r = cli_image_load(s, co.args[0], &img);
	if (r)
		goto out_close_store;
	for (size_t i = 0; r == 0 && i < g.n; i++)
		r = perm_apply(&img, add, g.v[i].kind, g.v[i].name);
	if (r)
		goto out_release;
	r = sfs_txn_begin(s, true, &t);
	if (r == 0) {
		r = sfs_cat_image_update(t, &img);
		if (r == 0)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	if (r < 0)
		r = cli_fail(r, "cannot update image %s", img.name);
out_release:
	sfs_image_release(&img);
out_close_store:
	sfs_store_close(s);
out_free:
	cli_grants_release(&g);
	return r;
}

static int perm_add(const struct cli *c, int argc, char **argv)
{
	return perm_change(c, argc, argv, true);
}

static int perm_remove(const struct cli *c, int argc, char **argv)
{
	return perm_change(c, argc, argv, false);
}

static int image_permission(const struct cli *c, int argc, char **argv)
{
	static const char *const names[] = {"add", "remove", "list", NULL};
	static int (*const fns[])(const struct cli *, int, char **) = {perm_add, perm_remove,
									 perm_list};
	int i, r = cli_subcommand("image permission", image_help, names, "add, remove or list",
				  argc, argv, &i);

	if (r)
		return cli_parse_exit(r);
	return fns[i](c, argc - 1, argv + 1);
}

int cmd_image(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"create", image_create},	  {"list", image_list},
	    {"show", image_show},	  {"deregister", image_deregister},
	    {"permission", image_permission}, {"launch-config", cmd_image_launch_config},
	    {"copy", cmd_image_copy},
	    {0},
	};

	return cli_dispatch(c, "image", image_help, subs, argc, argv);
}
