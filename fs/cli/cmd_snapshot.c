// SPDX-License-Identifier: MIT
/* `snapfs snapshot ...`: create, list, show, diff and restore. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"
#include "snapfs/gc.h"
#include "snapfs/ingest.h"
#include "snapfs/lock.h"
#include "snapfs/parse.h"
#include "snapfs/reader.h"

static const char snapshot_help[] =
	"Usage: snapfs snapshot COMMAND ...\n"
	"\n"
	"  create VOLUME SOURCE [--changed-ranges FILE] [--description T] [--tag K=V]...\n"
	"         [--buffered] [--json] [--progress|--no-progress]\n"
	"      Snapshot SOURCE (a file, a block device, or - for standard input) as\n"
	"      VOLUME, incrementally against the volume's newest snapshot. Prints the\n"
	"      snapshot id. --changed-ranges reads only the listed byte ranges (lines\n"
	"      of 'OFFSET LENGTH', decimal or 0x hex, or a JSON list) and whatever\n"
	"      the volume grew by, and takes the rest from the parent; an empty\n"
	"      list means nothing changed. A file or device, whole or its changed\n"
	"      ranges, is read past the page cache (O_DIRECT) so that a snapshot\n"
	"      does not evict what the host has cached; --buffered reads it\n"
	"      through the cache instead.\n"
	"  list [--volume V] [--json]\n"
	"  show ID [--json]\n"
	"  diff A B [--json]      block ranges that differ between two snapshots\n"
	"  restore ID DEST [--force] [--progress|--no-progress]\n"
	"      Write a snapshot to a new file (sparse) or a block device, verified.\n"
	"      --force replaces an existing file (only once the restore succeeded)\n"
	"      or writes over a block device; nothing else is ever written.\n"
	"      DEST - writes every byte to standard output (not a terminal).\n"
	"  delete ID... [--force] [--json]\n"
	"      Remove snapshots from the catalog (all or none); one an image uses or\n"
	"      a lock holds is refused. 'snapfs gc' then reclaims the space only they\n"
	"      used. A snapshot a recycle bin rule covers is kept in the bin instead\n"
	"      ('snapfs bin'), unless --force.\n"
	"  lock ID --until DATE [--mode governance|compliance]\n"
	"      Lock a snapshot until DATE (YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS]Z, UTC):\n"
	"      until then neither delete nor a policy's retention removes it, nor\n"
	"      image deregister --delete-snapshots. A governance lock (the default)\n"
	"      can be changed or removed; a compliance lock can only be extended.\n"
	"  unlock ID\n"
	"      Remove a governance lock (a compliance lock holds until its date).\n"
	"  copy ID --to-store PATH [--description T] [--json] [--progress|--no-progress]\n"
	"      Copy a snapshot to another store, sending only the chunks it lacks.\n"
	"      The copy gets a new id and records this one in copied_from.\n"
	"  permission add|remove ID (--user U | --group G)...\n"
	"  permission list ID [--json]\n"
	"      Who, besides root, the store's owner and those granted on its\n"
	"      volume, may read the snapshot (snapshots/ID.img) in a mount made\n"
	"      with -o allow_other. Users and groups are host names; they must\n"
	"      exist. Copies do not keep them.\n";

static int snap_create(const struct cli *c, int argc, char **argv)
{
	struct sfs_ingest_opts io = { 0 };
	json_t *tags = json_object();
	const struct cli_opt opts[] = {
		{ .name = "changed-ranges", .kind = CLI_STRING, .dest = &io.changed_ranges },
		{ .name = "description", .kind = CLI_STRING, .dest = &io.description },
		{ .name = "tag", .kind = CLI_STRING, .dest = tags, .fn = cli_tag_opt },
		{ .name = "buffered", .kind = CLI_FLAG, .dest = &io.buffered },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "snapshot create ", .help = snapshot_help, .opts = opts,
				.shared = CLI_JSON | CLI_PROGRESS, .min_args = 2, .max_args = 2,
				.args_help = "VOLUME SOURCE" };
	struct sfs_ingest_result res;
	struct cli_progress prog;
	struct sfs_store *s = NULL;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r) {
		r = cli_parse_exit(r);
		goto out;
	}
	io.volume = co.args[0];
	io.source = co.args[1];
	io.tags = tags;
	r = io.description ? cli_text_arg(co.cmd, "--description", io.description) : 0;
	if (r)
		goto out;
	if (!sfs_name_valid(io.volume)) {
		r = cli_usage_error("snapshot create ",
				    "invalid volume name '%s': use 1-128 of A-Z a-z 0-9 . _ -, not "
				    "starting with . or -",
				    io.volume);
		goto out;
	}
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out;
	cli_progress_init(&prog, io.volume, co.progress);
	io.progress = cli_progress_cb;
	io.progress_ctx = &prog;
	r = sfs_ingest(s, &io, &res);
	cli_progress_done(&prog);
	if (r < 0) {
		if (res.error[0])
			r = cli_error("snapshot of volume %s failed: %s", io.volume, res.error);
		else
			r = cli_fail(r, "snapshot of volume %s from %s failed", io.volume, io.source);
		goto out;
	}
	if (co.json) {
		struct sfs_txn *t;
		struct sfs_snapshot sn;
		json_t *j;

		r = sfs_txn_begin(s, false, &t);
		if (r == 0) {
			r = sfs_cat_snapshot_get(t, res.snap_id, &sn);
			sfs_txn_abort(t);
		}
		if (r < 0) {
			r = cli_fail(r, "snapshot %s", res.snap_id);
			goto out;
		}
		j = sfs_snapshot_to_json(&sn);
		sfs_snapshot_release(&sn);
		/* What this create did, beside what it made: with a ranges file
		 * that lists nothing, read_bytes 0 shows nothing was read. */
		if (j)
			json_object_set_new(j, "read_bytes", json_integer((json_int_t)res.read_bytes));
		if (j && io.changed_ranges)
			json_object_set_new(j, "changed_ranges",
					    json_integer((json_int_t)res.changed_ranges));
		r = cli_print_json(j);
	} else {
		puts(res.snap_id);
	}
out:
	json_decref(tags);
	sfs_store_close(s);
	return r;
}

struct list_ctx {
	json_t *arr;
	int count;
};

static int list_cb(void *ctx, const struct sfs_snapshot *sn)
{
	struct list_ctx *l = ctx;
	char t[32], sz[32], nb[32];

	if (l->arr) {
		json_array_append_new(l->arr, sfs_snapshot_to_json(sn));
		return 0;
	}
	if (l->count++ == 0)
		printf("%-22s  %-20s  %-9s  %-20s  %10s  %10s\n", "ID", "VOLUME", "STATE", "CREATED",
		       "SIZE", "ADDED");
	printf("%-22s  %-20s  %-9s  %-20s  %10s  %10s\n", sn->id, sn->volume,
	       sfs_snap_state_name(sn->state), cli_time(sn->created, t, sizeof(t)),
	       cli_human(sn->size, sz, sizeof(sz)), cli_human(sn->new_bytes, nb, sizeof(nb)));
	return 0;
}

struct list_query {
	const char *volume;
	struct list_ctx l;
};

static int list_query(struct sfs_txn *t, void *ctx)
{
	struct list_query *q = ctx;

	if (q->volume) {
		struct sfs_volume v;
		int r = sfs_cat_volume_get(t, q->volume, &v);

		if (r == -ENOENT)
			return -ESRCH;
		if (r < 0)
			return r;
		sfs_volume_release(&v);
	}
	return sfs_cat_snapshot_foreach(t, q->volume, list_cb, &q->l);
}

static int snap_list(const struct cli *c, int argc, char **argv)
{
	struct list_query q = { 0 };
	const struct cli_opt opts[] = {
		{ .name = "volume", .kind = CLI_STRING, .dest = &q.volume },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "snapshot list ", .help = snapshot_help, .opts = opts,
				.shared = CLI_JSON };
	int r = cli_parse(&co, argc, argv);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	if (json)
		q.l.arr = json_array();
	r = cli_read_catalog(c, list_query, &q);
	if (r) {
		json_decref(q.l.arr);
		if (r == -ESRCH)
			return cli_error("no volume named %s", q.volume);
		return r > 0 ? r : cli_fail(r, "cannot list snapshots");
	}
	return json ? cli_print_json(q.l.arr) : 0;
}

/* Looks up a snapshot by id; prints the error itself. */
static int get_snapshot(struct sfs_store *s, const char *id, struct sfs_snapshot *ret)
{
	struct sfs_txn *t;
	int r;

	if (!sfs_idstr_valid(id, "snap-"))
		return cli_usage_error("snapshot ", "'%s' is not a snapshot id (snap-<hex>)", id);
	r = sfs_txn_begin(s, false, &t);
	if (r == 0) {
		r = sfs_cat_snapshot_get(t, id, ret);
		sfs_txn_abort(t);
	}
	if (r == -ENOENT)
		return cli_error("no snapshot %s in store %s", id, sfs_store_path(s));
	if (r < 0)
		return cli_fail(r, "cannot read snapshot %s", id);
	return 0;
}

static int snap_show(const struct cli *c, int argc, char **argv)
{
	struct sfs_snapshot sn;
	struct sfs_store *s;
	struct cli_parse co = { .cmd = "snapshot show ", .help = snapshot_help, .shared = CLI_JSON,
				.min_args = 1, .max_args = 1, .args_help = "ID" };
	int r = cli_parse_open(c, &co, argc, argv, SFS_OPEN_READ, &s);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	r = get_snapshot(s, co.args[0], &sn);
	sfs_store_close(s);
	if (r)
		return r;
	if (json) {
		r = cli_print_json(sfs_snapshot_to_json(&sn));
	} else {
		char t[32], a[32], b[32], d[32], root[SFS_ID_HEX_LEN + 1];
		const char *k;
		json_t *v;

		sfs_id_to_hex(&sn.root, root);
		printf("id:           %s\nvolume:       %s\nparent:       %s\nstate:        %s\n"
		       "created:      %s\nsize:         %s (%" PRIu64 " bytes)\n"
		       "data:         %s\nadded:        %s in %" PRIu64 " chunks\n"
		       "block size:   %u\nmap root:     %s (depth %u)\n",
		       sn.id, sn.volume, sn.parent[0] ? sn.parent : "-",
		       sfs_snap_state_name(sn.state), cli_time(sn.created, t, sizeof(t)),
		       cli_human(sn.size, a, sizeof(a)), sn.size,
		       cli_human(sn.data_bytes, d, sizeof(d)), cli_human(sn.new_bytes, b, sizeof(b)),
		       sn.new_chunks, sn.block_size, root, sn.depth);
		if (sn.description)
			printf("description:  %s\n", sn.description);
		if (sn.copied_from)
			printf("copied from:  %s\n", sn.copied_from);
		if (sn.lock_mode != SFS_LOCK_NONE)
			printf("lock:         %s until %s%s\n", sfs_lock_mode_name(sn.lock_mode),
			       cli_time(sn.lock_until, t, sizeof(t)),
			       sfs_snapshot_locked(&sn, (int64_t)time(NULL)) ? "" : " (expired)");
		json_object_foreach(sn.tags, k, v)
			printf("tag:          %s=%s\n", k, json_string_value(v));
	}
	sfs_snapshot_release(&sn);
	return r;
}

struct diff_ctx {
	json_t *arr;
	uint32_t bs;
	uint64_t size; /* the larger snapshot's size */
	uint64_t changed;
};

static int diff_cb(void *ctx, uint64_t first, uint64_t n)
{
	struct diff_ctx *d = ctx;
	uint64_t off = first * d->bs, len = n * d->bs;

	if (off >= d->size)
		return 0;
	if (off + len > d->size)
		len = d->size - off;
	d->changed += len;
	if (d->arr)
		json_array_append_new(d->arr, json_pack("{s:I, s:I}", "offset", (json_int_t)off,
							"length", (json_int_t)len));
	else
		printf("%" PRIu64 " %" PRIu64 "\n", off, len);
	return 0;
}

static int snap_diff(const struct cli *c, int argc, char **argv)
{
	struct sfs_snapshot a, b;
	struct sfs_snapmap ma, mb;
	struct sfs_reader *rd = NULL;
	struct diff_ctx d = { 0 };
	struct sfs_store *s;
	struct cli_parse co = { .cmd = "snapshot diff ", .help = snapshot_help, .shared = CLI_JSON,
				.min_args = 2, .max_args = 2, .args_help = "two snapshot ids A B" };
	int r = cli_parse_open(c, &co, argc, argv, SFS_OPEN_READ, &s);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	r = get_snapshot(s, co.args[0], &a);
	if (r)
		goto out_store;
	r = get_snapshot(s, co.args[1], &b);
	if (r)
		goto out_a;
	sfs_snapmap_from_snapshot(&a, &ma);
	sfs_snapmap_from_snapshot(&b, &mb);
	d.bs = a.block_size;
	d.size = a.size > b.size ? a.size : b.size;
	if (json)
		d.arr = json_array();
	r = sfs_reader_new(s, 0, &rd);
	if (r == 0)
		r = sfs_reader_diff(rd, &ma, &mb, diff_cb, &d);
	sfs_reader_free(rd);
	if (r < 0) {
		json_decref(d.arr);
		r = cli_fail(r, "diff of %s and %s", a.id, b.id);
	} else if (json) {
		r = cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "a", a.id, "b", b.id,
					     "block_size", (json_int_t)d.bs, "size",
					     (json_int_t)d.size, "changed_bytes",
					     (json_int_t)d.changed, "changed", d.arr));
	}
	sfs_snapshot_release(&b);
out_a:
	sfs_snapshot_release(&a);
out_store:
	sfs_store_close(s);
	return r;
}

/* What a refused restore destination is, for the error line. */
static const char *dest_kind(const char *path, int err)
{
	struct stat st;

	if (err == -EISDIR)
		return "a directory";
	if (err == -ELOOP)
		return "a symbolic link not to a block device";
	if (lstat(path, &st) == 0 && S_ISCHR(st.st_mode))
		return "a character device";
	if (lstat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		return "a fifo";
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		return "a socket";
	return "not a regular file or block device";
}

static int snap_restore(const struct cli *c, int argc, char **argv)
{
	bool force = false;
	const struct cli_opt opts[] = {
		{ .name = "force", .letter = 'f', .kind = CLI_FLAG, .dest = &force },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "snapshot restore ", .help = snapshot_help, .opts = opts,
				.shared = CLI_PROGRESS, .min_args = 2, .max_args = 2,
				.args_help = "ID DEST" };
	struct cli_progress prog;
	struct sfs_snapshot sn;
	struct sfs_store *s;
	const char *id, *dest;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	id = co.args[0];
	dest = co.args[1];
	r = cli_open_store(c, SFS_OPEN_READ, &s);
	if (r)
		return r;
	r = get_snapshot(s, id, &sn);
	if (r) {
		sfs_store_close(s);
		return r;
	}
	sfs_snapshot_release(&sn);
	if (!strcmp(dest, "-") && isatty(STDOUT_FILENO)) {
		sfs_store_close(s);
		return cli_error("restore of %s: standard output is a terminal; redirect it or "
				 "name a file", id);
	}
	cli_progress_init(&prog, "restore", co.progress);
	if (!strcmp(dest, "-"))
		r = sfs_restore_stream(s, id, STDOUT_FILENO, cli_progress_cb, &prog);
	else
		r = sfs_restore(s, id, dest, force ? SFS_RESTORE_FORCE : 0, cli_progress_cb,
				&prog);
	cli_progress_done(&prog);
	sfs_store_close(s);
	if (r == -EEXIST)
		return cli_error("restore of %s: %s exists (use --force to overwrite)", id,
				 dest);
	if (r == -EFBIG)
		return cli_error("restore of %s: device %s is smaller than the snapshot",
				 id, dest);
	if (r == -EAGAIN)
		return cli_error("restore of %s: the snapshot is not completed", id);
	if (r == -EISDIR || r == -ELOOP || r == -ENOTBLK)
		return cli_error("restore of %s: %s is %s (restore writes only to a regular file or a "
				 "block device); nothing was written",
				 id, dest, dest_kind(dest, r));
	if (r == -EBUSY)
		return cli_error("restore of %s: device %s is in use (mounted?)", id,
				 dest);
	if (r < 0 && !strcmp(dest, "-"))
		return cli_fail(r, "restore of %s to standard output failed (what was written is "
				"incomplete)", id);
	if (r < 0)
		return cli_fail(r, "restore of %s to %s failed", id, dest);
	return 0;
}

/* Whether argv[i] repeats an id before it: an id named twice is deleted
 * (and reported) once, instead of the second turn finding it gone. */
static bool repeated_id(char **argv, int i)
{
	for (int j = 0; j < i; j++)
		if (!strcmp(argv[j], argv[i]))
			return true;
	return false;
}

/* The one line of a delete refused by a lock. */
static int locked_error(const char *id, int mode, int64_t until, const char *what)
{
	char t[32];

	return cli_error("snapshot %s is locked (%s) until %s; %s", id, sfs_lock_mode_name(mode),
			 cli_time(until, t, sizeof(t)), what);
}

/* All or none: one transaction, committed only when every id went. */
static int snap_delete(const struct cli *c, int argc, char **argv)
{
	struct sfs_delete_opts dopt = { 0 };
	const struct cli_opt opts[] = {
		{ .name = "force", .kind = CLI_FLAG, .dest = &dopt.force },
		{ 0 },
	};
	struct sfs_delete_info info;
	struct sfs_store *s;
	struct sfs_txn *t;
	struct cli_parse co = { .cmd = "snapshot delete ", .help = snapshot_help, .opts = opts,
				.shared = CLI_JSON, .min_args = 1, .max_args = -1,
				.args_help = "ID..." };
	int64_t *binned;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	argc = co.nargs;
	argv = co.args;
	for (int i = 0; i < argc; i++)
		if (!sfs_idstr_valid(argv[i], "snap-"))
			return cli_usage_error(co.cmd, "'%s' is not a snapshot id (snap-<hex>)",
					       argv[i]);
	binned = calloc((size_t)argc, sizeof(*binned));
	if (!binned)
		return cli_fail(-ENOMEM, "cannot delete snapshots");
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out_free;
	r = sfs_txn_begin(s, true, &t);
	if (r < 0) {
		r = cli_fail(r, "cannot delete snapshots");
		goto out_close_store;
	}
	dopt.now = (int64_t)time(NULL);
	for (int i = 0; i < argc; i++) {
		if (repeated_id(argv, i))
			continue;
		r = sfs_snapshot_remove(t, argv[i], &dopt, &info);
		binned[i] = r == 0 ? info.bin_until : 0;
		if (r == -EBUSY)
			r = cli_error("snapshot %s is used by %s: deregister or delete it first; "
				      "nothing was deleted",
				      argv[i], info.image);
		else if (r == -EPERM)
			r = locked_error(argv[i], info.lock_mode, info.lock_until,
					 "nothing was deleted");
		else if (r == -ENOENT)
			r = cli_error("no snapshot %s in store %s; nothing was deleted", argv[i],
				      c->store_path);
		else if (r < 0)
			r = cli_fail(r, "cannot delete snapshot %s", argv[i]);
		if (r) {
			sfs_txn_abort(t);
			goto out_close_store;
		}
	}
	r = sfs_txn_commit(t);
	if (r < 0) {
		r = cli_fail(r, "cannot delete snapshots");
		goto out_close_store;
	}
	if (co.json) {
		json_t *ids = json_array(), *bin = json_array();
		for (int i = 0; i < argc; i++)
			if (!repeated_id(argv, i))
				json_array_append_new(binned[i] ? bin : ids, json_string(argv[i]));
		r = cli_print_json(json_pack("{s:o, s:o}", "deleted", ids, "recycle_bin", bin));
		goto out_close_store;
	}
	for (int i = 0; i < argc; i++) {
		char when[32];

		if (repeated_id(argv, i))
			continue;
		if (binned[i])
			printf("deleted %s (kept in the recycle bin until %s)\n", argv[i],
			       cli_time(binned[i], when, sizeof(when)));
		else
			printf("deleted %s\n", argv[i]);
	}
out_close_store:
	sfs_store_close(s);
out_free:
	free(binned);
	return r;
}

/* A lock date: in the future, as sfs_parse_time reads it. */
static int lock_until_arg(const char *cmd, const char *text, int64_t now, int64_t *ret)
{
	if (sfs_parse_time(text, true, ret) < 0)
		return cli_usage_error(cmd, "invalid --until '%s': use YYYY-MM-DD or "
					    "YYYY-MM-DDTHH:MM[:SS]Z (UTC)",
				       text);
	if (*ret <= now)
		return cli_usage_error(cmd, "--until %s is not in the future", text);
	return 0;
}

struct lock_req {
	const char *id;
	int mode;
	int64_t until, now;
	int old_mode;
	int64_t old_until;
	bool unlock;
};

static int lock_apply(struct sfs_txn *t, void *ctx)
{
	struct lock_req *q = ctx;

	if (q->unlock)
		return sfs_snapshot_unlock(t, q->id, q->now, &q->old_mode, &q->old_until);
	return sfs_snapshot_lock(t, q->id, q->mode, q->until, q->now, &q->old_mode,
				 &q->old_until);
}

/* The errors lock and unlock share, one line each. */
static int lock_error(const struct cli *c, const struct lock_req *q, int r)
{
	char t[32];

	if (r == -ENOENT)
		return cli_error("no snapshot %s in store %s", q->id, c->store_path);
	if (r == -EAGAIN)
		return cli_error("snapshot %s is not completed: only a completed snapshot can be "
				 "locked",
				 q->id);
	if (r == -EPERM)
		return cli_error("snapshot %s has a compliance lock until %s: it can only be "
				 "extended, not %s",
				 q->id, cli_time(q->old_until, t, sizeof(t)),
				 q->unlock ? "removed" : "shortened or made governance");
	return cli_fail(r, "cannot %s snapshot %s", q->unlock ? "unlock" : "lock", q->id);
}

static int snap_lock(const struct cli *c, int argc, char **argv)
{
	const char *until = NULL, *mode = "governance";
	const struct cli_opt opts[] = {
		{ .name = "until", .kind = CLI_STRING, .dest = &until },
		{ .name = "mode", .kind = CLI_STRING, .dest = &mode },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "snapshot lock ", .help = snapshot_help, .opts = opts,
				.shared = CLI_JSON, .min_args = 1, .max_args = 1, .args_help = "ID" };
	struct lock_req q = { .now = (int64_t)time(NULL) };
	char t[32];
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	q.id = co.args[0];
	if (!sfs_idstr_valid(q.id, "snap-"))
		return cli_usage_error(co.cmd, "'%s' is not a snapshot id (snap-<hex>)", q.id);
	if (!until)
		return cli_usage_error(co.cmd, "--until DATE is required");
	q.mode = sfs_lock_mode_parse(mode);
	if (q.mode < 0)
		return cli_usage_error(co.cmd, "invalid --mode '%s': governance or compliance",
				       mode);
	r = lock_until_arg(co.cmd, until, q.now, &q.until);
	if (r)
		return r;
	r = cli_write_catalog(c, lock_apply, &q);
	if (r > 0)
		return r;
	if (r < 0)
		return lock_error(c, &q, r);
	if (co.json)
		return cli_print_json(json_pack("{s:s, s:s, s:I}", "id", q.id, "lock_mode",
						sfs_lock_mode_name(q.mode), "lock_until",
						(json_int_t)q.until));
	printf("locked %s (%s) until %s\n", q.id, sfs_lock_mode_name(q.mode),
	       cli_time(q.until, t, sizeof(t)));
	return 0;
}

static int snap_unlock(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "snapshot unlock ", .help = snapshot_help,
				.min_args = 1, .max_args = 1, .args_help = "ID" };
	struct lock_req q = { .now = (int64_t)time(NULL), .unlock = true };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	q.id = co.args[0];
	if (!sfs_idstr_valid(q.id, "snap-"))
		return cli_usage_error(co.cmd, "'%s' is not a snapshot id (snap-<hex>)", q.id);
	r = cli_write_catalog(c, lock_apply, &q);
	if (r > 0)
		return r;
	if (r < 0)
		return lock_error(c, &q, r);
	if (q.old_mode == SFS_LOCK_NONE)
		printf("snapshot %s was not locked\n", q.id);
	else
		printf("unlocked %s\n", q.id);
	return 0;
}

static int snap_permission(const struct cli *c, int argc, char **argv)
{
	return cli_permission(c, argc, argv, SFS_ACCESS_SNAPSHOT, snapshot_help);
}

int cmd_snapshot(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "create", snap_create },   { "list", snap_list },
		{ "show", snap_show },       { "diff", snap_diff },
		{ "restore", snap_restore }, { "delete", snap_delete },
		{ "copy", cmd_snapshot_copy }, { "permission", snap_permission },
		{ "lock", snap_lock },       { "unlock", snap_unlock },
		{ 0 },
	};

	return cli_dispatch(c, "snapshot", snapshot_help, subs, argc, argv);
}
