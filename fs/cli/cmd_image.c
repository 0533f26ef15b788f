// SPDX-License-Identifier: MIT
/*
 * `snapfs image ...`: register machine images from existing snapshots or
 * from sources snapshotted on the spot, list and show them, deregister
 * them (optionally with their snapshots) and edit their launch
 * permissions. Every check that can fail on the user's input runs before
 * any source is read, so that a typo costs nothing; everything an image
 * create does commits in one catalog transaction.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "image_launch.h"
#include "snapfs/image.h"
#include "snapfs/parse.h"
#include "snapfs/ingest.h"

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
    "      or with a K, M, G or T suffix) shows the device larger than the snapshot,\n"
    "      the rest reading as zeros. DEV=SOURCE (a file or block device) snapshots\n"
    "      SOURCE now as volume NAME-DEV. All sources are snapshotted in one session\n"
    "      and the image is registered in the same commit: all or nothing. Defaults:\n"
    "      root device the first --device, architecture x86_64, boot mode bios\n"
    "      (uefi on arm64).\n"
    "  list [--json]\n"
    "  show NAME|ID [--json]\n"
    "  deregister NAME|ID [--delete-snapshots]\n"
    "      Remove the image. --delete-snapshots deletes its snapshots too, except\n"
    "      those another image maps (they are named); 'snapfs gc' reclaims space.\n"
    "  permission add|remove NAME|ID (--user U | --group G | --public)...\n"
    "  permission list NAME|ID [--json]\n"
    "      Launch permissions: who, besides root, the store's owner and the\n"
    "      image's owner, may open the image's files in a mount made with\n"
    "      -o allow_other. Users and groups are host names; they must exist.\n"
    "  launch-config NAME|ID --mount DIR [--format qemu|libvirt]\n"
    "         [--overlay DIR | --snapshot-mode] [--kernel F] [--initrd F]\n"
    "         [--append T] [--memory MIB] [--cpus N] [--accel kvm|tcg]\n"
    "         [--serial FILE]\n"
    "      Print a QEMU command line (as a sh script) or a libvirt domain that\n"
    "      boots the image straight from the mount at DIR. Drives are read-only\n"
    "      unless --overlay DIR (qcow2 overlays backed by the mount's files,\n"
    "      created by the script) or --snapshot-mode (QEMU -snapshot: writes go\n"
    "      to temporary files) is given.\n";

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

/* The creator's name, as the record keeps owners. */
static char *owner_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	char *s = NULL;

	if (pw)
		return strdup(pw->pw_name);
	if (asprintf(&s, "%u", (unsigned)geteuid()) < 0)
		return NULL;
	return s;
}

/* One --device argument, before sources are snapshotted. */
struct devspec {
	char device[SFS_DEVNAME_MAX + 1];
	const char *source; /* NULL: a snapshot */
};

/*
 * Placeholder id of a device whose source is not snapshotted yet: lets the
 * whole record be validated before any source is read. Replaced by the
 * real id before the record is written.
 */
#define PENDING_SNAP "snap-00000000000000000"

static int parse_device(struct sfs_image *img, struct devspec *specs, const char *arg)
{
	const char *eq = strchr(arg, '='), *val;
	char dev[64];
	size_t n = img->ndevices;
	uint64_t size = 0;
	int r;

	if (!eq || eq == arg || !eq[1])
		return cli_usage_error("image create ",
				       "invalid --device '%s': expected "
				       "DEV=SNAPSHOT[:SIZE] or DEV=SOURCE",
				       arg);
	snprintf(dev, sizeof(dev), "%.*s", (int)(eq - arg), arg);
	val = eq + 1;
	snprintf(specs[n].device, sizeof(specs[n].device), "%s", strip_dev(dev));
	if (!sfs_devname_valid(strip_dev(dev)))
		return cli_error("'%s' is not a device name (like sda, vdb, xvdf, nvme0n1)", dev);
	if (sfs_image_device(img, strip_dev(dev)))
		return cli_error("device %s is given twice", strip_dev(dev));
	if (n >= SFS_IMAGE_MAX_DEVICES)
		return cli_error("an image maps at most %d devices", SFS_IMAGE_MAX_DEVICES);
	if (!strncmp(val, "snap-", 5) && !strchr(val, '/')) {
		const char *colon = strchr(val, ':');
		char id[SFS_IDSTR_SIZE + 8];

		snprintf(id, sizeof(id), "%.*s", colon ? (int)(colon - val) : (int)strlen(val),
			 val);
		if (!sfs_idstr_valid(id, "snap-"))
			return cli_error("device %s: '%s' is not a snapshot id (snap-<hex>)",
					 specs[n].device, id);
		if (colon && (sfs_parse_size(colon + 1, &size) < 0 || size == 0))
			return cli_usage_error("image create ",
					       "device %s: invalid size '%s' (1 byte to 4 EiB: a "
					       "number, or with a K, M, G, T or P suffix)",
					       specs[n].device, colon + 1);
		specs[n].source = NULL;
		r = sfs_image_add_device(img, specs[n].device, id, size);
	} else {
		struct stat st;

		if (stat(val, &st) < 0)
			return cli_error("device %s: cannot use source %s: %s", specs[n].device,
					 val, strerror(errno));
		if (S_ISDIR(st.st_mode))
			return cli_error("device %s: source %s is a directory", specs[n].device,
					 val);
		specs[n].source = val;
		r = sfs_image_add_device(img, specs[n].device, PENDING_SNAP, 0);
	}
	if (r < 0)
		return cli_fail(r, "device %s", specs[n].device);
	return 0;
}

/* Snapshots every source device of img into session w; 0 or an exit code. */
static int snapshot_sources(struct sfs_writer *w, struct sfs_image *img,
			    const struct devspec *specs, int pmode)
{
	for (size_t i = 0; i < img->ndevices; i++) {
		struct sfs_image_device *d = &img->devices[i];
		struct sfs_ingest_opts io = {0};
		struct sfs_ingest_result res = {0};
		struct cli_progress prog;
		char volume[SFS_NAME_MAX + 1], desc[256];
		int r;

		if (!specs[i].source)
			continue;
		snprintf(volume, sizeof(volume), "%s-%s", img->name, d->device);
		snprintf(desc, sizeof(desc), "device %s of image %s", d->device, img->name);
		io.volume = volume;
		io.source = specs[i].source;
		io.description = desc;
		cli_progress_init(&prog, volume, pmode);
		io.progress = cli_progress_cb;
		io.progress_ctx = &prog;
		r = sfs_writer_snapshot(w, &io, &res);
		cli_progress_done(&prog);
		if (r < 0 && res.error[0])
			return cli_error("device %s: snapshot of %s failed: %s", d->device,
					 specs[i].source, res.error);
		if (r < 0)
			return cli_fail(r, "device %s: snapshot of %s failed", d->device,
					specs[i].source);
		snprintf(d->snapshot, sizeof(d->snapshot), "%s", res.snap_id);
		d->size = res.size;
	}
	return 0;
}

/* Refuses a taken name before any source is read; 0 or an exit code. */
static int check_name_free(struct sfs_txn *t, const char *name)
{
	struct sfs_image other;
	int r = sfs_cat_image_get(t, name, &other);

	if (r == 0) {
		sfs_image_release(&other);
		return cli_error("an image named %s already exists", name);
	}
	if (r == -EBADMSG)
		return cli_error("an image named %s already exists (its record is damaged)", name);
	if (r != -ENOENT)
		return cli_fail(r, "cannot read image %s", name);
	return 0;
}

static int register_image(struct sfs_store *s, struct sfs_image *img, const struct devspec *specs,
			  int pmode)
{
	struct sfs_writer *w = NULL;
	struct sfs_txn *t = NULL;
	bool sources = false;
	char err[256] = "";
	int r;

	for (size_t i = 0; i < img->ndevices; i++)
		sources |= specs[i].source != NULL;
	if (!sources) {
		r = sfs_txn_begin(s, true, &t);
		if (r < 0)
			return cli_fail(r, "cannot write the catalog of %s", sfs_store_path(s));
		r = sfs_cat_image_create(t, img, err, sizeof(err));
		if (r == 0)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
		goto out_report;
	}
	r = sfs_writer_begin(s, &w);
	if (r < 0)
		return cli_fail(r, "cannot write to store %s", sfs_store_path(s));
	r = check_name_free(sfs_writer_txn(w), img->name);
	if (r)
		goto out_abort_writer;
	r = snapshot_sources(w, img, specs, pmode);
	if (r)
		goto out_abort_writer;
	/* After the last snapshot: the session may have committed checkpoints
	 * until then, and the image must land in the final commit only. */
	r = sfs_writer_image_create(w, img, err, sizeof(err));
	if (r < 0)
		goto out_abort_writer;
	r = sfs_writer_commit(w);
	goto out_report;

out_abort_writer:
	sfs_writer_abort(w);
	if (r > 0)
		return r;
out_report:
	if (r < 0 && err[0])
		return cli_error("image %s not registered: %s", img->name, err);
	if (r < 0)
		return cli_fail(r, "image %s not registered", img->name);
	return 0;
}

static int image_create(const struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"root-device", required_argument, NULL, 'r'},
	    {"arch", required_argument, NULL, 'a'},
	    {"boot-mode", required_argument, NULL, 'b'},
	    {"description", required_argument, NULL, 'D'},
	    {"tag", required_argument, NULL, 't'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"public", no_argument, NULL, 'P'},
	    CLI_OPTION_JSON,
	    CLI_OPTION_PROGRESS,
	    CLI_OPTION_NO_PROGRESS,
	    CLI_OPTION_HELP,
	    {0},
	};
	struct cli_opts co = {.cmd = "image create ", .help = image_help,
			      .bad_option = "unknown option", .progress = -1};
	struct devspec specs[SFS_IMAGE_MAX_DEVICES];
	const char *root = NULL, *arch = NULL, *boot = NULL, *desc = NULL;
	const char **users = calloc((size_t)argc, sizeof(char *));
	const char **groups = calloc((size_t)argc, sizeof(char *));
	size_t nusers = 0, ngroups = 0;
	struct sfs_store *s = NULL;
	struct sfs_image img;
	char err[256];
	int o, r;

	if (!users || !groups || sfs_image_init(&img) < 0) {
		free(users);
		free(groups);
		return cli_error("out of memory");
	}
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = 0;
		switch (o) {
		case 'd':
			r = parse_device(&img, specs, optarg);
			break;
		case 'r':
			root = strip_dev(optarg);
			break;
		case 'a':
			arch = optarg;
			break;
		case 'b':
			boot = optarg;
			break;
		case 'D':
			desc = optarg;
			r = cli_text_arg(co.cmd, "--description", desc);
			break;
		case 't':
			r = cli_parse_tag(img.tags, optarg, co.cmd);
			break;
		case 'u':
			users[nusers++] = optarg;
			break;
		case 'g':
			groups[ngroups++] = optarg;
			break;
		case 'P':
			img.public = true;
			break;
		default:
			r = cli_opt_common(&co, o, argv);
		}
		if (r) {
			r = cli_parse_exit(r);
			goto out_release;
		}
	}
	r = cli_expect_args(co.cmd, argc, 1, "NAME and --device DEV=...");
	if (r)
		goto out_release;
	snprintf(img.name, sizeof(img.name), "%.*s", SFS_NAME_MAX, argv[optind]);
	if (!sfs_name_valid(argv[optind])) {
		r = cli_error("invalid image name '%s': use 1-128 of A-Z a-z 0-9 . _ -, not "
			      "starting with . or -",
			      argv[optind]);
		goto out_release;
	}
	if (img.ndevices == 0) {
		r = cli_usage_error("image create ", "give at least one --device DEV=...");
		goto out_release;
	}
	img.arch = arch ? sfs_arch_parse(arch) : SFS_ARCH_X86_64;
	if (img.arch < 0) {
		r = cli_error("unknown architecture '%s' (x86_64, arm64 or i386)", arch);
		goto out_release;
	}
	img.boot_mode = boot ? sfs_boot_mode_parse(boot) : sfs_boot_mode_default(img.arch);
	if (img.boot_mode < 0) {
		r = cli_error("unknown boot mode '%s' (bios or uefi)", boot);
		goto out_release;
	}
	snprintf(img.root_device, sizeof(img.root_device), "%.*s", SFS_DEVNAME_MAX,
		 root ? root : img.devices[0].device);
	if (root && !sfs_image_device(&img, root)) {
		r = cli_error("root device '%s' is not in the block device mapping", root);
		goto out_release;
	}
	for (size_t i = 0; i < img.ndevices; i++) {
		char vol[SFS_NAME_MAX * 2];

		snprintf(vol, sizeof(vol), "%s-%s", img.name, img.devices[i].device);
		if (specs[i].source && !sfs_name_valid(vol)) {
			r = cli_error("image name %s is too long to name volume %s", img.name, vol);
			goto out_release;
		}
	}
	r = 0;
	for (size_t i = 0; r == 0 && i < nusers; i++)
		r = grant(&img, SFS_PERM_USER, users[i]);
	for (size_t i = 0; r == 0 && i < ngroups; i++)
		r = grant(&img, SFS_PERM_GROUP, groups[i]);
	if (r)
		goto out_release;
	if ((desc && !(img.description = strdup(desc))) || !(img.owner = owner_name())) {
		r = cli_error("out of memory");
		goto out_release;
	}
	if (sfs_image_validate(&img, err, sizeof(err)) < 0) {
		r = cli_error("%s", err);
		goto out_release;
	}
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out_release;
	r = register_image(s, &img, specs, co.progress);
	if (r)
		goto out_close_store;
	if (co.json)
		r = cli_print_json(sfs_image_to_json(&img));
	else
		puts(img.id);
out_close_store:
	sfs_store_close(s);
out_release:
	sfs_image_release(&img);
	free(users);
	free(groups);
	return r;
}

/* Options of list, show and permission list: --json only. */
static int parse_json_only(int argc, char **argv, const char *cmd, bool *json, int nargs,
			   const char *args_help)
{
	static const struct option opts[] = {
	    CLI_OPTION_JSON,
	    CLI_OPTION_HELP,
	    {0},
	};
	struct cli_opts co = {.cmd = cmd, .help = image_help, .bad_option = "unknown option",
			      .progress = -1};
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = cli_opt_common(&co, o, argv);
		if (r)
			return r;
	}
	*json = co.json;
	return cli_expect_args(cmd, argc, nargs, args_help);
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
	struct list_ctx l = {0};
	bool json = false;
	int r = parse_json_only(argc, argv, "image list ", &json, 0, "no arguments");

	if (r)
		return cli_parse_exit(r);
	if (json)
		l.arr = json_array();
	r = cli_read_catalog(c, list_query, &l);
	if (r) {
		json_decref(l.arr);
		return r > 0 ? r : cli_fail(r, "cannot list images");
	}
	return json ? cli_print_json(l.arr) : 0;
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
	bool json = false;
	int r = parse_json_only(argc, argv, "image show ", &json, 1, "NAME or ID");
	char t[32], h[32];
	const char *k;
	json_t *v;

	if (r)
		return cli_parse_exit(r);
	r = cli_open_store(c, SFS_OPEN_READ, &s);
	if (r)
		return r;
	r = cli_image_load(s, argv[optind], &img);
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
		snprintf(line, sizeof(line), "kept snapshot %s: image %s still uses it", snap_id,
			 kept_for);
		d->kept++;
	}
	json_array_append_new(d->lines, json_string(line));
}

static int image_deregister(const struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"delete-snapshots", no_argument, NULL, 'd'},
	    CLI_OPTION_HELP,
	    {0},
	};
	struct cli_opts co = {.cmd = "image deregister ", .help = image_help,
			      .bad_option = "unknown option", .progress = -1};
	struct dereg_ctx d = {json_array(), 0};
	struct sfs_image img;
	json_t *line;
	size_t i;
	struct sfs_store *s;
	struct sfs_txn *t;
	bool del = false, damaged = false;
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'd')
			del = true;
		else if ((r = cli_opt_common(&co, o, argv)))
			return cli_parse_exit(r);
	}
	r = cli_expect_args(co.cmd, argc, 1, "NAME or ID");
	if (r)
		return r;
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		return r;
	/* A record that does not decode is still removed by its name: it is
	 * the way out of a damaged image, and it touches no snapshot. */
	r = sfs_txn_begin(s, false, &t);
	if (r == 0) {
		r = sfs_cat_image_find(t, argv[optind], &img);
		sfs_txn_abort(t);
	}
	if (r == -EBADMSG) {
		r = sfs_image_init(&img);
		snprintf(img.name, sizeof(img.name), "%s", argv[optind]);
	} else if (r < 0) {
		r = image_error(s, argv[optind], r);
		goto out_close_store;
	}
	if (r < 0) {
		r = cli_fail(r, "deregister of image %s failed", argv[optind]);
		goto out_close_store;
	}
	r = sfs_txn_begin(s, true, &t);
	if (r == 0) {
		r = sfs_cat_image_deregister(t, img.name, del, dereg_cb, &d);
		damaged = r == 1;
		if (r >= 0)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	if (r < 0) {
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
	bool json = false;
	json_t *v;
	size_t i;
	int r = parse_json_only(argc, argv, "image permission list ", &json, 1, "NAME or ID");

	if (r)
		return cli_parse_exit(r);
	r = cli_open_store(c, SFS_OPEN_READ, &s);
	if (r)
		return r;
	r = cli_image_load(s, argv[optind], &img);
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
static int perm_apply(struct sfs_image *img, bool add, int opt, const char *name)
{
	int kind = opt == 'u' ? SFS_PERM_USER : SFS_PERM_GROUP;
	const char *what = opt == 'u' ? "user" : "group";
	int r;

	if (opt == 'P') {
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
	static const struct option opts[] = {
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"public", no_argument, NULL, 'P'},
	    CLI_OPTION_HELP,
	    {0},
	};
	const char *cmd = add ? "image permission add " : "image permission remove ";
	struct cli_opts co = {.cmd = cmd, .help = image_help, .bad_option = "unknown option",
			      .progress = -1};
	int *kinds = calloc((size_t)argc, sizeof(int));
	const char **names = calloc((size_t)argc, sizeof(char *));
	struct sfs_store *s = NULL;
	struct sfs_image img;
	struct sfs_txn *t;
	size_t n = 0;
	int o, r = 0;

	if (!kinds || !names) {
		r = cli_error("out of memory");
		goto out_free;
	}
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
		case 'g':
		case 'P':
			kinds[n] = o;
			names[n++] = optarg;
			break;
		default:
			r = cli_parse_exit(cli_opt_common(&co, o, argv));
			goto out_free;
		}
	}
	if (argc - optind != 1 || n == 0) {
		r = cli_usage_error(cmd, "expected NAME and --user U, --group G or --public");
		goto out_free;
	}
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out_free;
	r = cli_image_load(s, argv[optind], &img);
	if (r)
		goto out_close_store;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = perm_apply(&img, add, kinds[i], names[i]);
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
	free(kinds);
	free(names);
	return r;
}

static int image_permission(const struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("image permission ", "expected add, remove or list");
	if (!strcmp(argv[1], "add"))
		return perm_change(c, argc - 1, argv + 1, true);
	if (!strcmp(argv[1], "remove"))
		return perm_change(c, argc - 1, argv + 1, false);
	if (!strcmp(argv[1], "list"))
		return perm_list(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(image_help, stdout);
		return 0;
	}
	return cli_usage_error("image permission ", "unknown permission command '%s'", argv[1]);
}

int cmd_image(const struct cli *c, int argc, char **argv)
{
	/* Errors are reported as one line of our own. */
	opterr = 0;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(image_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "create"))
		return image_create(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return image_list(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return image_show(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "deregister"))
		return image_deregister(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "permission"))
		return image_permission(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "launch-config"))
		return cmd_image_launch_config(c, argc - 1, argv + 1);
	return cli_usage_error("image ", "unknown image command '%s'", argv[1]);
}
