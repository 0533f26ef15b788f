// SPDX-License-Identifier: MIT
/*
 * `snapfs snapshot copy ID --to-store PATH` and `snapfs image copy NAME
 * --to-store PATH`: incremental copies to another store, sharing the
 * destination's credential options and the errors of a copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image_launch.h"
#include "snapfs/copy.h"
#include "snapfs/parse.h"

static const char copy_help[] =
	"Usage: snapfs --store PATH snapshot copy ID --to-store DEST [--description T]\n"
	"                                        [--to-key-file F | --to-passphrase-fd N]\n"
	"                                        [--json] [--progress|--no-progress]\n"
	"\n"
	"Copies completed snapshot ID to the store DEST (same block size; the\n"
	"compression level may differ), sending only the chunks DEST lacks. Every\n"
	"chunk is verified on the way. An interrupted copy keeps what arrived: run it\n"
	"again to send the rest. Prints the id of the copy, which records ID in\n"
	"copied_from.\n"
	"\n"
	"An encrypted DEST is unlocked with --to-key-file or --to-passphrase-fd (by\n"
	"default the credential given for the source). Between stores with different\n"
	"keys (or a plain and an encrypted one) every chunk is decrypted, renamed and\n"
	"re-encrypted on the way; stores made with 'init --same-key-as' exchange\n"
	"stored bytes as they are.\n";

/* The destination's credential, when it is not the source's. */
static int set_to_key_file(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
			   uint64_t v)
{
	*(struct cli_keys *)o->dest = (struct cli_keys){ .key_file = arg, .pass_fd = -1 };
	return 0;
}

static int set_to_pass_fd(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
			  uint64_t v)
{
	*(struct cli_keys *)o->dest = (struct cli_keys){ .pass_fd = (int)v };
	return 0;
}

int cmd_snapshot_copy(const struct cli *c, int argc, char **argv)
{
	struct sfs_copy_opts co = { 0 };
	const char *to = NULL, *id;
	struct cli dc = *c;
	const struct cli_opt opts[] = {
		{ .name = "to-store", .kind = CLI_STRING, .dest = &to },
		{ .name = "description", .kind = CLI_STRING, .dest = &co.description },
		{ .name = "to-key-file", .kind = CLI_STRING, .fn = set_to_key_file, .dest = &dc.keys },
		{ .name = "to-passphrase-fd", .kind = CLI_UINT, .fn = set_to_pass_fd, .dest = &dc.keys,
		  .max = 1 << 20, .hint = "an open file descriptor number" },
		{ 0 },
	};
	struct cli_parse cli = { .cmd = "snapshot copy ", .help = copy_help, .opts = opts,
				 .shared = CLI_JSON | CLI_PROGRESS, .min_args = 1, .max_args = 1,
				 .args_help = "ID" };
	struct sfs_copy_result res;
	struct cli_progress prog;
	struct sfs_store *src = NULL, *dst = NULL;
	int r;


	r = cli_parse(&cli, argc, argv);
	if (r)
		return cli_parse_exit(r);
	if (!to)
		return cli_usage_error("snapshot copy ", "--to-store PATH is required");
	if (co.description && (r = cli_text_arg(cli.cmd, "--description", co.description)))
		return r;
	id = cli.args[0];
	if (!sfs_idstr_valid(id, "snap-"))
		return cli_usage_error("snapshot copy ", "'%s' is not a snapshot id (snap-<hex>)", id);
	r = cli_open_store(c, SFS_OPEN_READ, &src);
	if (r)
		return r;
	dc.store_path = to;
	r = cli_open_store(&dc, SFS_OPEN_WRITE, &dst);
	if (r)
		goto out;
	cli_progress_init(&prog, "copy", cli.json ? 0 : cli.progress);
	co.progress = cli_progress_cb;
	co.progress_ctx = &prog;
	r = sfs_copy_snapshot(src, id, dst, &co, &res);
	cli_progress_done(&prog);
	switch (r) {
	case 0:
		break;
	case -ENOENT:
		r = cli_error("no snapshot %s in store %s", id, c->store_path);
		goto out;
	case -EAGAIN:
		r = cli_error("snapshot %s is not completed; only completed snapshots are copied", id);
		goto out;
	case -EXDEV:
		r = cli_error("cannot copy %s: store %s has %u-byte blocks, store %s has %u-byte "
			      "blocks (block sizes must match)",
			      id, c->store_path, sfs_store_block_size(src), to,
			      sfs_store_block_size(dst));
		goto out;
	case -EINVAL:
		r = cli_error("cannot copy %s: %s is the same store", id, to);
		goto out;
	default:
		r = cli_fail(r, "copy of %s to store %s failed", id, to);
		goto out;
	}
	if (cli.json) {
		r = cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", res.snap_id,
					     "copied_from", id, "to_store", to, "sent_chunks",
					     (json_int_t)res.sent_chunks, "sent_bytes",
					     (json_int_t)res.sent_bytes, "sent_raw_bytes",
					     (json_int_t)res.sent_raw_bytes, "present_chunks",
					     (json_int_t)res.present_chunks));
	} else {
		puts(res.snap_id);
	}
out:
	sfs_store_close(dst);
	sfs_store_close(src);
	return r;
}

static const char image_copy_help[] =
	"Usage: snapfs --store PATH image copy NAME|ID --to-store DEST [--name N]\n"
	"                                      [--copy-permissions]\n"
	"                                      [--to-key-file F | --to-passphrase-fd N]\n"
	"                                      [--json] [--progress|--no-progress]\n"
	"\n"
	"Copies the image and every snapshot it maps to the store DEST (same block\n"
	"size), sending only the chunks DEST lacks, and registers it there in one\n"
	"commit, as NAME or N, with a new id, owned by whoever runs the copy. Launch\n"
	"permissions are copied only with --copy-permissions. An interrupted copy\n"
	"leaves no image; run it again: the snapshots already copied are reused and\n"
	"the chunks that arrived are not sent again. An encrypted DEST gets every\n"
	"chunk re-encrypted with its own key (see 'snapshot copy --help').\n";

static void image_copy_device(void *ctx, const char *device, const char *snap_id)
{
	struct cli_progress *p = ctx;

	p->what = device;
}

int cmd_image_copy(const struct cli *c, int argc, char **argv)
{
	struct sfs_image_copy_opts io = { 0 };
	const char *to = NULL, *name;
	struct cli dc = *c;
	const struct cli_opt opts[] = {
		{ .name = "to-store", .kind = CLI_STRING, .dest = &to },
		{ .name = "name", .kind = CLI_STRING, .dest = &io.name },
		{ .name = "copy-permissions", .kind = CLI_FLAG, .dest = &io.copy_permissions },
		{ .name = "to-key-file", .kind = CLI_STRING, .fn = set_to_key_file, .dest = &dc.keys },
		{ .name = "to-passphrase-fd", .kind = CLI_UINT, .fn = set_to_pass_fd, .dest = &dc.keys,
		  .max = 1 << 20, .hint = "an open file descriptor number" },
		{ 0 },
	};
	struct cli_parse cli = { .cmd = "image copy ", .help = image_copy_help, .opts = opts,
				 .shared = CLI_JSON | CLI_PROGRESS, .min_args = 1, .max_args = 1,
				 .args_help = "NAME or ID" };
	struct sfs_image_copy_result res;
	struct cli_progress prog;
	struct sfs_store *src = NULL, *dst = NULL;
	char *owner = NULL;
	int r;

	r = cli_parse(&cli, argc, argv);
	if (r)
		return cli_parse_exit(r);
	name = cli.args[0];
	if (!to)
		return cli_usage_error(cli.cmd, "--to-store PATH is required");
	if (io.name && !sfs_name_valid(io.name))
		return cli_usage_error(cli.cmd, "invalid --name '%s': use 1-128 of A-Z a-z 0-9 . _ -, "
						"not starting with . or -",
				       io.name);
	r = cli_open_store(c, SFS_OPEN_READ, &src);
	if (r)
		return r;
	/* Before waiting for DEST's writer lock, which is our own when it is
	 * this store. */
	r = sfs_copy_target_check(src, to);
	if (r == -EINVAL) {
		r = cli_error("cannot copy image %s: %s is the same store", name, to);
		goto out;
	}
	dc.store_path = to;
	r = cli_open_store(&dc, SFS_OPEN_WRITE, &dst);
	if (r)
		goto out;
	owner = cli_image_owner_name();
	if (!owner) {
		r = cli_fail(-ENOMEM, "copy of image %s", name);
		goto out;
	}
	io.owner = owner;
	cli_progress_init(&prog, "copy", cli.json ? 0 : cli.progress);
	io.progress = cli_progress_cb;
	io.progress_ctx = &prog;
	io.device_fn = image_copy_device;
	r = sfs_image_copy(src, name, dst, &io, &res);
	cli_progress_done(&prog);
	switch (r) {
	case 0:
		break;
	case -ENOENT:
		if (res.device[0])
			r = cli_error("cannot copy image %s: the snapshot of its device %s is gone",
				      name, res.device);
		else
			r = cli_error("no image %s in store %s", name, c->store_path);
		goto out;
	case -EEXIST:
		r = cli_error("cannot copy image %s: store %s has an image named %s", name, to,
			      io.name ? io.name : name);
		goto out;
	case -EXDEV:
		r = cli_error("cannot copy image %s: store %s has %u-byte blocks, store %s has "
			      "%u-byte blocks (block sizes must match)",
			      name, c->store_path, sfs_store_block_size(src), to,
			      sfs_store_block_size(dst));
		goto out;
	case -EINVAL:
		r = cli_error("cannot copy image %s: %s is the same store", name, to);
		goto out;
	default:
		if (res.error[0])
			r = cli_error("cannot register the copy of image %s in %s: %s", name, to,
				      res.error);
		else if (res.device[0])
			r = cli_fail(r, "copy of image %s device %s to store %s failed", name,
				     res.device, to);
		else
			r = cli_fail(r, "copy of image %s to store %s failed", name, to);
		goto out;
	}
	if (cli.json) {
		json_t *j = sfs_image_to_json(&res.image);

		if (j)
			json_object_update_new(
				j, json_pack("{s:s, s:I, s:I, s:I, s:I}", "to_store", to, "sent_chunks",
					     (json_int_t)res.sent_chunks, "sent_bytes",
					     (json_int_t)res.sent_bytes, "present_chunks",
					     (json_int_t)res.present_chunks, "reused_snapshots",
					     (json_int_t)res.reused));
		r = cli_print_json(j);
	} else {
		printf("%s %s\n", res.image.id, res.image.name);
	}
	sfs_image_release(&res.image);
out:
	free(owner);
	sfs_store_close(dst);
	sfs_store_close(src);
	return r;
}
