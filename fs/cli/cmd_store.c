// SPDX-License-Identifier: MIT
/* The store-wide commands: init, info and check. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"
#include "snapfs/keys.h"
#include "snapfs/parse.h"

int cmd_init(const struct cli *c, int argc, char **argv)
{
	static const char help[] =
		"Usage: snapfs --store PATH init [--block-size N] [--compression-level N]\n"
		"                         [--encrypt (--key-file F | --passphrase | --passphrase-fd N)\n"
		"                          [--same-key-as STORE]]\n"
		"\n"
		"Creates an empty store at PATH (a new or empty directory).\n"
		"  --block-size N         fixed block size, a power of two from 4K to 4M\n"
		"                         (default 32K); it cannot change later\n"
		"  --compression-level N  zstd level 1-19 (default 1)\n"
		"  --encrypt              encrypt chunk data, map pages and chunk ids with a new\n"
		"                         random master key (AES-256-GCM), wrapped by:\n"
		"  --key-file F           the bytes of file F (16 to 4096 bytes), or\n"
		"  --passphrase           a passphrase asked on the terminal, or\n"
		"  --passphrase-fd N      a passphrase read from descriptor N (one line)\n"
		"  --same-key-as STORE    use the master key of encrypted STORE (unlocked with\n"
		"                         the same key file or passphrase), so that copies\n"
		"                         between the two send stored bytes as they are\n"
		"A lost key or passphrase cannot be recovered: the data is then unreadable.\n";
	static const struct option opts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "compression-level", required_argument, NULL, 'l' },
		{ "encrypt", no_argument, NULL, 'e' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "passphrase", no_argument, NULL, 'p' },
		{ "passphrase-fd", required_argument, NULL, 'P' },
		{ "same-key-as", required_argument, NULL, 's' },
		CLI_OPTION_HELP,
		{ 0 },
	};
	struct cli_opts co = { .cmd = "init ", .help = help, .progress = -1 };
	struct sfs_store_options so = { 0 };
	struct cli_keys keys = { .pass_fd = -1 };
	struct sfs_unlock cred;
	bool encrypt = false, ask = false;
	void *kbuf = NULL;
	size_t klen = 0;
	uint64_t v;
	int o, r;

	while ((o = getopt_long(argc, argv, "b:l:h", opts, NULL)) != -1) {
		switch (o) {
		case 'e':
			encrypt = true;
			break;
		case 'K':
			keys.key_file = optarg;
			break;
		case 'p':
			ask = true;
			break;
		case 'P':
			if (sfs_parse_uint(optarg, 0, 1 << 20, &v) < 0)
				return cli_usage_error("init ", "invalid --passphrase-fd '%s'", optarg);
			keys.pass_fd = (int)v;
			break;
		case 's':
			so.same_key_as = optarg;
			break;
		case 'b':
			if (sfs_parse_size(optarg, &v) < 0 || v < 4096 || v > (4u << 20) ||
			    (v & (v - 1)))
				return cli_usage_error("init ", "invalid --block-size '%s': a power of "
								 "two from 4K to 4M",
						       optarg);
			so.block_size = (uint32_t)v;
			break;
		case 'l':
			if (sfs_parse_uint(optarg, 1, 19, &v) < 0)
				return cli_usage_error("init ",
						       "invalid --compression-level '%s': 1 to 19",
						       optarg);
			so.zstd_level = (int)v;
			break;
		default:
			r = cli_opt_common(&co, o, argv);
			if (r)
				return cli_parse_exit(r);
		}
	}
	if (optind != argc)
		return cli_usage_error("init ", "unexpected argument '%s'", argv[optind]);
	if (!c->store_path)
		return cli_usage_error("init ", "no store given: use --store PATH or set SNAPFS_STORE");
	if (!encrypt && (keys.key_file || ask || keys.pass_fd >= 0 || so.same_key_as))
		return cli_usage_error("init ", "--key-file, --passphrase, --passphrase-fd and "
						 "--same-key-as go with --encrypt");
	if (encrypt && (!!keys.key_file + ask + (keys.pass_fd >= 0)) != 1)
		return cli_usage_error("init ", "--encrypt needs exactly one of --key-file F, "
						 "--passphrase or --passphrase-fd N");
	if (encrypt) {
		r = cli_cred_make(&keys, "New passphrase for the store: ", true, &cred, &kbuf, &klen);
		if (r)
			return r;
		so.encrypt = &cred;
	}
	r = sfs_store_init(c->store_path, &so);
	sfs_key_free(kbuf, klen);
	if (r == -EKEYREJECTED || r == -ENOKEY)
		return cli_error("cannot unlock store %s with the key or passphrase given",
				 so.same_key_as);
	if (r == -EINVAL && so.same_key_as)
		return cli_error("cannot share the key of %s: it is not an encrypted store",
				 so.same_key_as);
	if (r == -EEXIST)
		return cli_error("cannot create store in %s: the directory is not empty",
				 c->store_path);
	if (r < 0)
		return cli_fail(r, "cannot create store in %s", c->store_path);
	printf("created %sstore %s (block size %u, zstd level %d)\n",
	       encrypt ? "encrypted " : "", c->store_path,
	       so.block_size ? so.block_size : SFS_DEFAULT_BLOCK_SIZE,
	       so.zstd_level ? so.zstd_level : SFS_DEFAULT_ZSTD_LEVEL);
	return 0;
}

static bool json_flag(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json"))
			return true;
	return false;
}

int cmd_info(const struct cli *c, int argc, char **argv)
{
	struct sfs_store *s;
	struct sfs_txn *t;
	uint64_t packs = 0, cat = 0, chunks = 0, gen = 0;
	bool json = json_flag(argc, argv);
	int r;

	if (cli_wants_help(argc, argv)) {
		puts("Usage: snapfs --store PATH info [--json]\n\nStore settings and space used.");
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json"))
			return cli_usage_error("info ", "unexpected argument '%s'", argv[i]);
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
	if (json) {
		char kid[64];
		json_t *j;

		sfs_store_key_id(s, kid);
		j = json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I}",
					     "path", c->store_path, "format_version",
					     SFS_FORMAT_VERSION, "block_size",
					     (int)sfs_store_block_size(s), "zstd_level",
					     sfs_store_zstd_level(s), "pack_size",
					     (json_int_t)sfs_store_pack_size(s), "chunks",
					     (json_int_t)chunks, "packs_bytes", (json_int_t)packs,
					     "catalog_bytes", (json_int_t)cat, "generation",
					     (json_int_t)gen);
		if (j)
			json_object_set_new(j, "encryption",
					    sfs_store_encrypted(s)
						    ? json_pack("{s:s, s:s}", "cipher", "aes-256-gcm",
								"key_id", kid)
						    : json_null());
		r = cli_print_json(j);
	} else {
		char a[32], b[32];
		printf("store:       %s\nblock size:  %u\nzstd level:  %d\nchunks:      %" PRIu64
		       "\npacks:       %s\ncatalog:     %s\n",
		       c->store_path, sfs_store_block_size(s), sfs_store_zstd_level(s), chunks,
		       cli_human(packs, a, sizeof(a)), cli_human(cat, b, sizeof(b)));
		if (sfs_store_encrypted(s)) {
			char kid[64];
			sfs_store_key_id(s, kid);
			printf("encryption:  aes-256-gcm (key %s)\n", kid);
		} else {
			printf("encryption:  none\n");
		}
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
	static const struct option opts[] = {
		{ "read-data", no_argument, NULL, 'r' },
		CLI_OPTION_JSON,
		CLI_OPTION_PROGRESS,
		CLI_OPTION_NO_PROGRESS,
		CLI_OPTION_HELP,
		{ 0 },
	};
	struct cli_opts co = { .cmd = "check ", .help = help, .progress = -1 };
	struct sfs_check_result res;
	struct cli_progress prog;
	struct problems pr = { 0 };
	struct sfs_store *s;
	bool read_data = false;
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'r')
			read_data = true;
		else if ((r = cli_opt_common(&co, o, argv)))
			return cli_parse_exit(r);
	}
	if (optind != argc)
		return cli_usage_error("check ", "unexpected argument '%s'", argv[optind]);
	/* As a writer when possible, so that leftovers of an interrupted
	 * writer are cleaned; beside a running writer, read-only. */
	r = cli_store_open_raw(c, SFS_OPEN_WRITE, &s);
	if (r == -ECANCELED)
		return EXIT_FAILURE;
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
		cli_print_json(json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
					 "ok", res.problems == 0, "read_data", read_data,
					 "volumes", (json_int_t)res.volumes, "snapshots",
					 (json_int_t)res.snapshots, "images",
					 (json_int_t)res.images, "pending",
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
