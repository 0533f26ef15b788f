// SPDX-License-Identifier: MIT
/* `snapfs gc`: reclaim the space of chunks that no snapshot references. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfs/gc.h"

static const char gc_help[] =
	"Usage: snapfs --store PATH gc [--dry-run] [--json] [--rewrite-below PCT] [--now TIME]\n"
	"                              [--no-wait] [--progress|--no-progress]\n"
	"\n"
	"Marks every chunk that a snapshot's block map reaches, deletes the index\n"
	"entries of the others, rewrites packs whose live share is below PCT percent\n"
	"(default 50) and removes packs with nothing live. gc is the store's writer\n"
	"while it runs: it waits up to 5 minutes for a running writer such as a\n"
	"snapshot create to finish (--no-wait: fail instead), and every command\n"
	"that writes (create, delete, copy, tag, image and policy changes) started\n"
	"meanwhile waits for gc the same way. Mounts keep reading throughout.\n"
	"--dry-run changes nothing and reports what a run would free at most.\n"
	"Snapshots in the recycle bin keep their data until their period ends\n"
	"(judged at --now TIME, default the clock); then gc drops them from the bin\n"
	"and reclaims it.\n";

int cmd_gc(const struct cli *c, int argc, char **argv)
{
	struct sfs_gc_opts go = { 0 };
	uint64_t pct = 0;
	const struct cli_opt opts[] = {
		{ .name = "dry-run", .letter = 'n', .kind = CLI_FLAG, .dest = &go.dry_run },
		{ .name = "rewrite-below", .kind = CLI_UINT, .dest = &pct, .min = 1, .max = 100 },
		{ .name = "now", .kind = CLI_STRING, .dest = &go.now, .fn = cli_now_opt },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "gc ", .help = gc_help, .opts = opts,
				.shared = CLI_JSON | CLI_PROGRESS | CLI_NO_WAIT };
	struct sfs_gc_result res;
	struct cli_progress prog;
	struct sfs_store *s;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	go.rewrite_pct = (unsigned)pct;
	if (go.dry_run)
		r = cli_open_store(c, SFS_OPEN_READ, &s);
	else
		r = cli_open_store_wait(c, SFS_OPEN_WRITE, co.wait ? CLI_LOCK_WAIT_SECONDS : 0, &s);
	if (r)
		return r;
	cli_progress_init(&prog, "gc", co.json ? 0 : co.progress);
	go.progress = cli_progress_cb;
	go.progress_ctx = &prog;
	r = sfs_gc(s, &go, &res);
	cli_progress_done(&prog);
	sfs_store_close(s);
	if (r < 0)
		return cli_fail(r, "gc of store %s failed", c->store_path);
	if (co.json)
		return cli_print_json(json_pack(
			"{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			"s:I}",
			"dry_run", go.dry_run, "snapshots", (json_int_t)res.snapshots,
			"bin_snapshots", (json_int_t)res.bin_snapshots, "bin_purged",
			(json_int_t)res.bin_purged, "live_chunks",
			(json_int_t)res.live_chunks, "live_bytes", (json_int_t)res.live_bytes,
			"dead_chunks", (json_int_t)res.dead_chunks, "dead_bytes",
			(json_int_t)res.dead_bytes, "packs_before", (json_int_t)res.packs_before,
			"packs_removed", (json_int_t)res.packs_removed, "packs_rewritten",
			(json_int_t)res.packs_rewritten, "copied_chunks", (json_int_t)res.copied_chunks,
			"copied_bytes", (json_int_t)res.copied_bytes, "disk_before",
			(json_int_t)res.disk_before, "disk_after", (json_int_t)res.disk_after,
			"freed_bytes", (json_int_t)res.freed_bytes));
	{
		char a[32], b[32], d[32];
		printf("%s%" PRIu64 " snapshots marked; %" PRIu64 " unreferenced chunks (%s)%s; "
		       "%" PRIu64 " packs removed, %" PRIu64 " rewritten (%s of live data moved)\n",
		       go.dry_run ? "dry run: " : "", res.snapshots, res.dead_chunks,
		       cli_human(res.dead_bytes, a, sizeof(a)), go.dry_run ? "" : " dropped",
		       res.packs_removed, res.packs_rewritten,
		       cli_human(res.copied_bytes, b, sizeof(b)));
		printf("%s %s\n", go.dry_run ? "would free at most" : "freed",
		       cli_human(res.freed_bytes, d, sizeof(d)));
	}
	return 0;
}
