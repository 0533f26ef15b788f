// SPDX-License-Identifier: MIT
/* The store-wide commands: init, info and check. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"
#include "snapfs/keys.h"
#include "snapfs/log.h"
#include "snapfs/repair.h"

static bool power_of_two(uint64_t v)
{
	return (v & (v - 1)) == 0;
}

static int set_pass_fd(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
		       uint64_t v)
{
	((struct cli_keys *)o->dest)->pass_fd = (int)v;
	return 0;
}

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
		"A lost key or passphrase cannot be recovered: the data is then unreadable.\n"
		"\n"
		"A store on a Ceph cluster (packs and catalog as objects of a RADOS pool):\n"
		"  --backend rados        with --pool P --ceph-conf F [--ceph-user client.X];\n"
		"                         PATH is then this host's state directory (or give\n"
		"                         --store rados:P?conf=F[&user=client.X] and no PATH)\n";
	uint64_t bs = 0, level = 0;
	struct cli_keys keys = { .pass_fd = -1 };
	struct sfs_store_options so = { 0 };
	bool encrypt = false, ask = false;
	const char *backend = NULL, *pool = NULL, *ceph_conf = NULL, *ceph_user = NULL;
	char spec[2048], why[512];
	const char *path = c->store_path;
	const struct cli_opt opts[] = {
		{ .name = "backend", .kind = CLI_STRING, .dest = &backend },
		{ .name = "pool", .kind = CLI_STRING, .dest = &pool },
		{ .name = "ceph-conf", .kind = CLI_STRING, .dest = &ceph_conf },
		{ .name = "ceph-user", .kind = CLI_STRING, .dest = &ceph_user },
		{ .name = "block-size", .letter = 'b', .kind = CLI_SIZE, .dest = &bs, .min = 4096,
		  .max = 4u << 20, .valid = power_of_two, .hint = "a power of two from 4K to 4M" },
		{ .name = "compression-level", .letter = 'l', .kind = CLI_UINT, .dest = &level,
		  .min = 1, .max = 19 },
		{ .name = "encrypt", .kind = CLI_FLAG, .dest = &encrypt },
		{ .name = "key-file", .kind = CLI_STRING, .dest = &keys.key_file },
		{ .name = "passphrase", .kind = CLI_FLAG, .dest = &ask },
		{ .name = "passphrase-fd", .kind = CLI_UINT, .fn = set_pass_fd, .dest = &keys,
		  .max = 1 << 20, .hint = "an open file descriptor number" },
		{ .name = "same-key-as", .kind = CLI_STRING, .dest = &so.same_key_as },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "init ", .help = help, .opts = opts };
	struct sfs_unlock cred;
	void *kbuf = NULL;
	size_t klen = 0;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	so.block_size = (uint32_t)bs;
	so.zstd_level = (int)level;
	if (backend && strcmp(backend, "rados") && strcmp(backend, "local"))
		return cli_usage_error("init ", "unknown --backend '%s' (local or rados)", backend);
	if ((pool || ceph_conf || ceph_user) && (!backend || strcmp(backend, "rados")))
		return cli_usage_error("init ", "--pool, --ceph-conf and --ceph-user go with "
						 "--backend rados");
	if (backend && !strcmp(backend, "rados")) {
		if (!pool || !ceph_conf)
			return cli_usage_error("init ", "--backend rados needs --pool P and "
							 "--ceph-conf F");
		if (strpbrk(pool, "?&/") || strpbrk(ceph_conf, "?&") ||
		    (ceph_user && strpbrk(ceph_user, "?&")))
			return cli_usage_error("init ", "--pool, --ceph-conf and --ceph-user may "
							 "not contain '?', '&' (or '/' in a pool)");
		snprintf(spec, sizeof(spec), "rados:%s?conf=%s%s%s", pool, ceph_conf,
			 ceph_user ? "&user=" : "", ceph_user ? ceph_user : "");
		so.rados = spec;
		if (!path)
			path = spec;
	}
	if (!path)
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
	r = sfs_store_init(path, &so);
	sfs_key_free(kbuf, klen);
	if (r < 0 && sfs_store_error_detail(why, sizeof(why)))
		return cli_error("cannot create store in %s: %s", path, why);
	if (r == -EKEYREJECTED || r == -ENOKEY)
		return cli_error("cannot unlock store %s with the key or passphrase given",
				 so.same_key_as);
	if (r == -EINVAL && so.same_key_as)
		return cli_error("cannot share the key of %s: it is not an encrypted store",
				 so.same_key_as);
	if (r == -EEXIST)
		return cli_error("cannot create store in %s: the directory is not empty",
				 path);
	if (r < 0)
		return cli_fail(r, "cannot create store in %s", path);
	printf("created %sstore %s (block size %u, zstd level %d)\n",
	       encrypt ? "encrypted " : "", path,
	       so.block_size ? so.block_size : SFS_DEFAULT_BLOCK_SIZE,
	       so.zstd_level ? so.zstd_level : SFS_DEFAULT_ZSTD_LEVEL);
	return 0;
}

int cmd_break_lock(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = {
		.cmd = "break-lock ",
		.help = "Usage: snapfs --store STORE break-lock\n\n"
			"Breaks the writer lock of a store on RADOS whose holder died on another\n"
			"host (a holder on this host that is gone is replaced by the next writer\n"
			"on its own). Only for a holder known to be dead: a live writer whose lock\n"
			"is broken goes on writing beside the next one.\n"
	};
	char holder[512], why[512];
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	if (!c->store_path)
		return cli_usage_error("break-lock ", "no store given: use --store STORE or set "
						      "SNAPFS_STORE");
	r = sfs_store_break_lock(c->store_path, holder, sizeof(holder));
	if (r == -ENOENT)
		return cli_error("store %s: its writer lock is not held", c->store_path);
	if (r == -EMEDIUMTYPE)
		return cli_error("store %s is not on RADOS: its lock is released when its holder "
				 "exits",
				 c->store_path);
	if (r < 0 && sfs_store_error_detail(why, sizeof(why)))
		return cli_error("cannot open store %s: %s", c->store_path, why);
	if (r < 0)
		return cli_fail(r, "cannot break the writer lock of %s", c->store_path);
	printf("broke the writer lock held by %s\n", holder);
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

	r = cli_parse_open(c, &co, argc, argv, SFS_OPEN_READ, &s);
	if (r)
		return cli_parse_exit(r);
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
		char kid[64];
		json_t *j;

		sfs_store_key_id(s, kid);
		j = json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I}",
					     "path", c->store_path, "format_version",
					     sfs_store_format_version(s), "block_size",
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

static void on_repair_note(void *ctx, const char *line)
{
	struct problems *p = ctx;

	if (p->list)
		json_array_append_new(p->list, json_string(line));
	else
		printf("repair: %s\n", line);
}

/* Opens the store for check --repair; one line on failure. */
static int open_for_repair(const struct cli *c, struct sfs_store **ret)
{
	const char *path = c->store_path;
	int r = cli_store_open_raw(c, SFS_OPEN_WRITE | SFS_OPEN_REPAIR, ret);

	if (r == -ECANCELED)
		return EXIT_FAILURE; /* the credential could not be read: said already */
	if (r == -ENOKEY)
		return cli_error("store %s is encrypted: give --key-file FILE or --passphrase-fd N "
				 "(or set SNAPFS_KEY_FILE)",
				 path);
	if (r == -EKEYREJECTED)
		return cli_error("cannot unlock store %s: wrong key or passphrase", path);
	if (r == -EBUSY) {
		int pid = sfs_store_lock_holder(path);

		if (pid > 0)
			return cli_error("cannot repair store %s: another snapfs process holds it "
					 "(pid %d)",
					 path, pid);
		return cli_error("cannot repair store %s: another process has its catalog open "
				 "(unmount it first)",
				 path);
	}
	if (r == -ENOENT)
		return cli_error("cannot repair store %s: its catalog is lost and it keeps no "
				 "copy of it",
				 path);
	if (r == -EUCLEAN)
		return cli_error("cannot repair store %s: its catalog and the catalog's copy are "
				 "both damaged",
				 path);
	if (r < 0)
		return cli_fail(r, "cannot repair store %s", path);
	return 0;
}

static void print_repair(const struct sfs_repair_result *rr)
{
	if (rr->restored) {
		char when[32] = "an unknown time";
		time_t t = (time_t)rr->copy_time;
		struct tm tm;

		if (t && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("repair: the catalog could not be read; restored from its copy of %s "
		       "(%" PRIu64 " snapshots)%s%s\n",
		       when, rr->snapshots,
		       rr->damaged_name[0] ? "; the damaged catalog is kept as catalog/" : "",
		       rr->damaged_name);
	}
	printf("repair: %" PRIu64 " packs scanned, %" PRIu64 " records verified, %" PRIu64
	       " chunks re-indexed from packs, %" PRIu64 " index entries replaced\n",
	       rr->packs, rr->records, rr->reindexed, rr->replaced);
	if (rr->bad_records || rr->bad_packs || rr->torn_packs)
		printf("repair: left as they are: %" PRIu64 " records that fail verification, %" PRIu64
		       " packs with a bad header, %" PRIu64 " packs with a torn tail\n",
		       rr->bad_records, rr->bad_packs, rr->torn_packs);
	if (rr->lost_snapshots)
		printf("repair: %" PRIu64 " snapshots are lost: their maps reference chunks no pack "
		       "holds\n",
		       rr->lost_snapshots);
	if (rr->orphan_maps)
		printf("repair: %" PRIu64 " map trees in the packs belong to no snapshot record%s; "
		       "their chunks stay for later snapshots to share\n",
		       rr->orphan_maps,
		       rr->restored ? " (snapshots newer than the copy: their records are lost)"
				    : "");
}

static json_t *repair_json(const struct sfs_repair_result *rr)
{
	return json_pack("{s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "restored", rr->restored, "damaged_catalog",
			 rr->damaged_name[0] ? rr->damaged_name : NULL, "copy_time",
			 (json_int_t)rr->copy_time, "snapshots", (json_int_t)rr->snapshots,
			 "packs", (json_int_t)rr->packs, "records", (json_int_t)rr->records,
			 "reindexed", (json_int_t)rr->reindexed, "replaced",
			 (json_int_t)rr->replaced, "bad_records", (json_int_t)rr->bad_records,
			 "bad_packs", (json_int_t)rr->bad_packs, "torn_packs",
			 (json_int_t)rr->torn_packs, "lost_snapshots",
			 (json_int_t)rr->lost_snapshots, "orphan_maps",
			 (json_int_t)rr->orphan_maps);
}

int cmd_check(const struct cli *c, int argc, char **argv)
{
	static const char help[] =
		"Usage: snapfs --store PATH check [--read-data] [--repair] [--json]\n"
		"                                 [--progress|--no-progress]\n"
		"\n"
		"Verifies the catalog, the chunk index and every snapshot's block map; with\n"
		"--read-data also reads and verifies every stored chunk. Prints one line per\n"
		"problem; exits 1 when there is any. Without --repair nothing is changed but\n"
		"the result, recorded for 'snapfs report' when no writer holds the store.\n"
		"\n"
		"  --repair  rebuild what can be rebuilt, then check: a catalog that cannot be\n"
		"            read is restored from the catalog's copy (the damaged file is\n"
		"            kept as catalog/data.mdb.damaged-TIME); every pack is read and\n"
		"            every verified record the chunk index lacks is indexed again.\n"
		"            Nothing is removed. Needs the store to itself (no writer, no\n"
		"            mount when the catalog must be restored). Reports what is lost.\n";
	bool read_data = false, repair = false;
	const struct cli_opt opts[] = {
		{ .name = "read-data", .kind = CLI_FLAG, .dest = &read_data },
		{ .name = "repair", .kind = CLI_FLAG, .dest = &repair },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "check ", .help = help, .opts = opts,
				.shared = CLI_JSON | CLI_PROGRESS };
	struct sfs_check_result res;
	struct sfs_repair_result rr;
	struct cli_progress prog;
	struct problems pr = { 0 };
	struct problems notes = { 0 };
	struct sfs_store *s;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	if (!c->store_path)
		return cli_usage_error("check ", "no store given: use --store PATH or set SNAPFS_STORE");
	if (co.json) {
		pr.list = json_array();
		notes.list = json_array();
	}
	if (repair) {
		r = open_for_repair(c, &s);
		if (r)
			goto out_free;
		cli_progress_init(&prog, "repair", co.progress);
		r = sfs_repair(s, on_repair_note, &notes, cli_progress_cb, &prog, &rr);
		cli_progress_done(&prog);
		if (r < 0) {
			sfs_store_close(s);
			r = cli_fail(r, "repair of store %s stopped (run it again)", c->store_path);
			goto out_free;
		}
		if (!co.json)
			print_repair(&rr);
	} else {
		/* Read-only: check changes nothing but its recorded result
		 * (the next writer cleans what an interrupted one left). */
		r = cli_open_store(c, SFS_OPEN_READ, &s);
		if (r)
			goto out_free;
	}
	cli_progress_init(&prog, "check", co.progress);
	r = sfs_check(s, read_data, on_problem, &pr, cli_progress_cb, &prog, &res);
	cli_progress_done(&prog);
	sfs_store_close(s);
	if (r < 0) {
		r = cli_fail(r, "check of store %s could not run", c->store_path);
		goto out_free;
	}
	if (co.json) {
		json_t *out = json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O}",
				      "ok", res.problems == 0, "read_data", read_data, "volumes",
				      (json_int_t)res.volumes, "snapshots", (json_int_t)res.snapshots,
				      "images", (json_int_t)res.images, "policies",
				      (json_int_t)res.policies, "pending",
				      (json_int_t)res.pending, "chunks", (json_int_t)res.chunks,
				      "map_pages", (json_int_t)res.map_pages, "chunks_read",
				      (json_int_t)res.chunks_read, "chunks_read_in_pack_order",
				      (json_int_t)res.chunks_scanned, "unreferenced_chunks",
				      (json_int_t)res.unreferenced, "unreferenced_bytes",
				      (json_int_t)res.unreferenced_bytes, "problems", pr.list);

		if (out && repair) {
			json_t *j = repair_json(&rr);

			json_object_set(j, "notes", notes.list);
			json_object_set_new(out, "repair", j);
		}
		cli_print_json(out);
	} else {
		char h[32];
		printf("%" PRIu64 " volumes, %" PRIu64 " snapshots, %" PRIu64 " chunks, %" PRIu64
		       " map pages checked%s\n",
		       res.volumes, res.snapshots, res.chunks, res.map_pages,
		       read_data ? ", all chunk data read and verified" : "");
		if (res.pending)
			printf("%" PRIu64 " snapshots are pending (being created, or left by an "
			       "interrupted writer)\n",
			       res.pending);
		if (res.unreferenced)
			printf("%" PRIu64 " chunks (%s) are referenced by no snapshot; gc reclaims "
			       "them\n",
			       res.unreferenced, cli_human(res.unreferenced_bytes, h, sizeof(h)));
		printf("%s\n", res.problems ? "check FAILED" : "check passed");
	}
	if (!res.catalog_damaged) {
		/* For the report: check changes nothing else. Best effort: a
		 * check by a user who may not write the store, or beside a
		 * running writer, records nothing, and says so only when
		 * asked for progress; a catalog LMDB calls damaged is not
		 * written to at all. */
		struct sfs_check_last last = { .time = (int64_t)time(NULL), .read_data = read_data,
					       .problems = res.problems, .snapshots = res.snapshots,
					       .chunks_read = res.chunks_read };
		int lvl = sfs_log_get_level(), rr2;

		/* What refuses the record was reported by the check already
		 * (or is a writer at work): no second word about it. */
		sfs_log_set_level(-1);
		rr2 = sfs_check_record(c->store_path, &last);
		sfs_log_set_level(lvl);

		if (rr2 < 0 && co.progress == 1)
			fprintf(stderr, "check: result not recorded in the catalog: %s\n",
				rr2 == -EBUSY ? "a writer holds the store" : strerror(-rr2));
	}
	if (res.problems)
		fprintf(stderr, "snapfs: check found %" PRIu64 " problem%s in store %s\n",
			res.problems, res.problems == 1 ? "" : "s", c->store_path);
	r = res.problems ? 1 : 0;
out_free:
	json_decref(pr.list);
	json_decref(notes.list);
	return r;
}
