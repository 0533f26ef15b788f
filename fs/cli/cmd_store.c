// SPDX-License-Identifier: MIT
/* The store-wide commands: init, info and check. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"

static bool power_of_two(uint64_t v)
{
	return (v & (v - 1)) == 0;
}

int cmd_init(const struct cli *c, int argc, char **argv)
{
	static const char help[] =
		"Usage: snapfs --store PATH init [--block-size N] [--compression-level N]\n"
		"\n"
		"Creates an empty store at PATH (a new or empty directory).\n"
		"  --block-size N         fixed block size, a power of two from 4K to 4M\n"
		"                         (default 32K); it cannot change later\n"
		"  --compression-level N  zstd level 1-19 (default 1)\n";
	uint64_t bs = 0, level = 0;
	const struct cli_opt opts[] = {
		{ .name = "block-size", .letter = 'b', .kind = CLI_SIZE, .dest = &bs, .min = 4096,
		  .max = 4u << 20, .valid = power_of_two, .hint = "a power of two from 4K to 4M" },
		{ .name = "compression-level", .letter = 'l', .kind = CLI_UINT, .dest = &level,
		  .min = 1, .max = 19 },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "init ", .help = help, .opts = opts };
	struct sfs_store_options so = { 0 };
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	so.block_size = (uint32_t)bs;
	so.zstd_level = (int)level;
	if (!c->store_path)
		return cli_usage_error("init ", "no store given: use --store PATH or set SNAPFS_STORE");
	r = sfs_store_init(c->store_path, &so);
	if (r == -EEXIST)
		return cli_error("cannot create store in %s: the directory is not empty",
				 c->store_path);
	if (r < 0)
		return cli_fail(r, "cannot create store in %s", c->store_path);
	printf("created store %s (block size %u, zstd level %d)\n", c->store_path,
	       so.block_size ? so.block_size : SFS_DEFAULT_BLOCK_SIZE,
	       so.zstd_level ? so.zstd_level : SFS_DEFAULT_ZSTD_LEVEL);
	return 0;
}

int cmd_info(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "info ", .shared = CLI_JSON,
				.help = "Usage: snapfs --store PATH info [--json]\n\n"
					"Store settings and space used.\n" };
	struct sfs_store *s;
	struct sfs_txn *t;
	uint64_t packs = 0, cat = 0, chunks = 0, gen = 0;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	r = cli_open_store(c, SFS_OPEN_READ, &s);
	if (r)
		return r;
	r = sfs_store_disk_usage(s, &packs, &cat);
	if (r == 0)
		r = sfs_txn_begin(s, false, &t);
	if (r == 0) {
		sfs_cat_chunk_count(t, &chunks);
		sfs_cat_generation(t, &gen);
		sfs_txn_abort(t);
	}
	if (r < 0) {
		sfs_store_close(s);
		return cli_fail(r, "cannot read store %s", c->store_path);
	}
	if (co.json) {
		r = cli_print_json(json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I}",
					     "path", c->store_path, "format_version",
					     SFS_FORMAT_VERSION, "block_size",
					     (int)sfs_store_block_size(s), "zstd_level",
					     sfs_store_zstd_level(s), "pack_size",
					     (json_int_t)sfs_store_pack_size(s), "chunks",
					     (json_int_t)chunks, "packs_bytes", (json_int_t)packs,
					     "catalog_bytes", (json_int_t)cat, "generation",
					     (json_int_t)gen));
	} else {
		char a[32], b[32];
		printf("store:       %s\nblock size:  %u\nzstd level:  %d\nchunks:      %" PRIu64
		       "\npacks:       %s\ncatalog:     %s\n",
		       c->store_path, sfs_store_block_size(s), sfs_store_zstd_level(s), chunks,
		       cli_human(packs, a, sizeof(a)), cli_human(cat, b, sizeof(b)));
	}
	sfs_store_close(s);
	return r;
}

struct problems {
	json_t *list; /* NULL unless --json */
};

static void on_problem(void *ctx, const char *line)
{
	struct problems *p = ctx;

	if (p->list)
		json_array_append_new(p->list, json_string(line));
	else
		printf("problem: %s\n", line);
}

int cmd_check(const struct cli *c, int argc, char **argv)
{
	static const char help[] =
		"Usage: snapfs --store PATH check [--read-data] [--json] [--progress|--no-progress]\n"
		"\n"
		"Verifies the catalog, the chunk index and every snapshot's block map; with\n"
		"--read-data also reads and verifies every stored chunk. Cleans what an\n"
		"interrupted writer left behind when no writer is running. Prints one line per\n"
		"problem; exits 1 when there is any.\n";
	bool read_data = false;
	const struct cli_opt opts[] = {
		{ .name = "read-data", .kind = CLI_FLAG, .dest = &read_data },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "check ", .help = help, .opts = opts,
				.shared = CLI_JSON | CLI_PROGRESS };
	struct sfs_check_result res;
	struct cli_progress prog;
	struct problems pr = { 0 };
	struct sfs_store *s;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	/* As a writer when possible, so that leftovers of an interrupted
	 * writer are cleaned; beside a running writer, read-only. */
	r = sfs_store_open(c->store_path ? c->store_path : "", SFS_OPEN_WRITE, &s);
	if (r == -EBUSY || r == -EROFS || r == -EACCES)
		r = cli_open_store(c, SFS_OPEN_READ, &s);
	else if (r < 0)
		r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		return r;
	if (co.json)
		pr.list = json_array();
	cli_progress_init(&prog, "check", co.progress);
	r = sfs_check(s, read_data, on_problem, &pr, cli_progress_cb, &prog, &res);
	cli_progress_done(&prog);
	sfs_store_close(s);
	if (r < 0) {
		json_decref(pr.list);
		return cli_fail(r, "check of store %s could not run", c->store_path);
	}
	if (co.json) {
		cli_print_json(json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
					 "ok", res.problems == 0, "read_data", read_data,
					 "volumes", (json_int_t)res.volumes, "snapshots",
					 (json_int_t)res.snapshots, "images",
					 (json_int_t)res.images, "policies",
					 (json_int_t)res.policies, "pending",
					 (json_int_t)res.pending, "chunks", (json_int_t)res.chunks,
					 "map_pages", (json_int_t)res.map_pages, "chunks_read",
					 (json_int_t)res.chunks_read, "unreferenced_chunks",
					 (json_int_t)res.unreferenced, "unreferenced_bytes",
					 (json_int_t)res.unreferenced_bytes, "problems", pr.list));
	} else {
		char h[32];
		printf("%" PRIu64 " volumes, %" PRIu64 " snapshots, %" PRIu64 " chunks, %" PRIu64
		       " map pages checked%s\n",
		       res.volumes, res.snapshots, res.chunks, res.map_pages,
		       read_data ? ", all chunk data read and verified" : "");
		if (res.pending)
			printf("%" PRIu64 " snapshots are being created by a running writer\n",
			       res.pending);
		if (res.unreferenced)
			printf("%" PRIu64 " chunks (%s) are referenced by no snapshot; gc reclaims "
			       "them\n",
			       res.unreferenced, cli_human(res.unreferenced_bytes, h, sizeof(h)));
		printf("%s\n", res.problems ? "check FAILED" : "check passed");
	}
	if (res.problems)
		fprintf(stderr, "snapfs: check found %" PRIu64 " problem%s in store %s\n",
			res.problems, res.problems == 1 ? "" : "s", c->store_path);
	return res.problems ? 1 : 0;
}
