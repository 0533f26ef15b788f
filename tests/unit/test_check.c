// SPDX-License-Identifier: MIT
/*
 * check and restore: a clean store checks clean; damaged chunks, missing
 * chunks and damaged map pages are each reported; restore writes exactly
 * the snapshot, refuses to overwrite, and never leaves a wrong file; a
 * restore to a stream writes every byte, and reads the catalog ahead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "snapfs/check.h"
#include "snapfs/ingest.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "fixture.h"
#include "lifecycle_util.h"
#include "store_int.h"

static char *dir;

static void setup(void)
{
	fx_setup_4k();
	dir = fx_tmpdir();
	sfs_log_set_level(0);
}

static void teardown(void)
{
	fx_teardown();
	fx_rm_rf(dir);
	free(dir);
}

TestSuite(check, .init = setup, .fini = teardown);

#define LEN (200 * 4096 + 77)

static uint8_t *src;

/* A snapshot of len bytes: two fifths text, a fifth zero blocks, the
 * rest random (src holds them); returns its id. */
static void make_len(char id[SFS_IDSTR_SIZE], char **ret_path, size_t len)
{
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result res;
	size_t text = len / 4096 * 2 / 5 * 4096, data = len / 4096 * 3 / 5 * 4096;
	char *path;
	int fd;

	src = calloc(1, len);
	fx_fill_text(src, text, 1);
	fx_fill_random(src + data, len - data, 2);
	cr_assert_geq(asprintf(&path, "%s/src", dir), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_eq(write(fd, src, len), (ssize_t)len);
	close(fd);
	o.source = path;
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), 0, "%s", res.error);
	memcpy(id, res.snap_id, SFS_IDSTR_SIZE);
	*ret_path = path;
}

static void make(char id[SFS_IDSTR_SIZE], char **ret_path)
{
	make_len(id, ret_path, LEN);
}

struct problems {
	int n;
	char last[512];
};

static void on_problem(void *ctx, const char *line)
{
	struct problems *p = ctx;
	p->n++;
	snprintf(p->last, sizeof(p->last), "%s", line);
}

static struct sfs_check_result run_check(bool read_data, struct problems *p)
{
	struct sfs_check_result res;

	memset(p, 0, sizeof(*p));
	memset(&res, 0, sizeof(res));
	cr_assert_eq(sfs_check(fx_store, read_data, on_problem, p, NULL, NULL, &res), 0);
	cr_assert_eq(res.problems, (uint64_t)p->n);
	return res;
}

static struct sfs_chunk_loc loc_of_block(const char *id, uint64_t block, struct sfs_id *ret_id)
{
	return lc_block_loc(fx_store, id, block, ret_id);
}

static void expect_file(const char *path, const uint8_t *want, size_t len)
{
	struct stat st;
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((size_t)st.st_size, len);
	cr_assert_eq(read(fd, buf, len), (ssize_t)len);
	cr_assert_arr_eq(buf, want, len);
	/* Zero blocks are holes. */
	cr_assert_lt((size_t)st.st_blocks * 512, len - 30 * 4096);
	close(fd);
	free(buf);
}

Test(check, clean_store_and_restore)
{
	char id[SFS_IDSTR_SIZE], *path, *out;
	struct problems p;
	struct sfs_check_result res;

	make(id, &path);
	res = run_check(true, &p);
	cr_assert_eq(p.n, 0, "%s", p.last);
	cr_assert_eq(res.snapshots, 1);
	cr_assert_gt(res.chunks_read, 0);
	cr_assert_eq(res.unreferenced, 0);

	cr_assert_geq(asprintf(&out, "%s/out", dir), 0);
	cr_assert_eq(sfs_restore(fx_store, id, out, 0, NULL, NULL), 0);
	expect_file(out, src, LEN);
	cr_assert_eq(sfs_restore(fx_store, id, out, 0, NULL, NULL), -EEXIST);
	cr_assert_eq(sfs_restore(fx_store, id, out, SFS_RESTORE_FORCE, NULL, NULL), 0);
	expect_file(out, src, LEN);
	cr_assert_eq(sfs_restore(fx_store, "snap-0123456789abcdef0", out, SFS_RESTORE_FORCE, NULL,
				 NULL),
		     -ENOENT);
	free(out);
	free(path);
	free(src);
}

/* The bytes of fd from its start: they must be want, every one written
 * (a stream has no holes). */
static void expect_stream(int fd, const uint8_t *want, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((size_t)st.st_size, len);
	cr_assert_eq(pread(fd, buf, len + 1, 0), (ssize_t)len);
	cr_assert_arr_eq(buf, want, len);
	cr_assert_geq((size_t)st.st_blocks * 512, len / 4096 * 4096, "zeros are written, not holes");
	free(buf);
}

static int temp_fd(void)
{
	char *path;
	int fd;

	cr_assert_geq(asprintf(&path, "%s/stream", dir), 0);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	free(path);
	return fd;
}

Test(check, restore_stream_writes_every_byte_in_order)
{
	char id[SFS_IDSTR_SIZE], *path;
	int fd;

	make(id, &path);
	fd = temp_fd();
	cr_assert_eq(sfs_restore_stream(fx_store, id, fd, NULL, NULL), 0);
	expect_stream(fd, src, LEN);
	cr_assert_eq(sfs_restore_stream(fx_store, "snap-0123456789abcdef0", fd, NULL, NULL),
		     -ENOENT);
	close(fd);
	free(path);
	free(src);
}

/* A restore into a pipe: the reader (a child) sees every byte, and the
 * pipe was widened to 1 MiB so that writer and reader switch less. */
Test(check, restore_stream_into_a_pipe_widens_it)
{
	char id[SFS_IDSTR_SIZE], *path;
	int pfd[2], status, out;
	pid_t pid;

	make(id, &path);
	out = temp_fd();
	cr_assert_eq(pipe(pfd), 0);
	cr_assert_lt(fcntl(pfd[1], F_GETPIPE_SZ), 1 << 20);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char buf[65536];
		ssize_t n;

		close(pfd[1]);
		while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				_exit(1);
		_exit(n == 0 ? 0 : 1);
	}
	close(pfd[0]);
	cr_assert_eq(sfs_restore_stream(fx_store, id, pfd[1], NULL, NULL), 0);
	cr_assert_geq(fcntl(pfd[1], F_GETPIPE_SZ), 1 << 20);
	close(pfd[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_stream(out, src, LEN);
	close(out);
	free(path);
	free(src);
}

/* 4 KiB blocks: one large write of a restore spans more blocks than one
 * writev takes (IOV_MAX), so it goes in several; a file and a stream
 * both get every byte. */
Test(check, restore_writes_spans_past_iov_max)
{
	const size_t len = (size_t)(IOV_MAX * 3) * 4096 + 4096 * 5 + 123;
	char id[SFS_IDSTR_SIZE], *path, *out;
	int fd;

	make_len(id, &path, len);
	cr_assert_geq(asprintf(&out, "%s/out", dir), 0);
	cr_assert_eq(sfs_restore(fx_store, id, out, 0, NULL, NULL), 0);
	expect_file(out, src, len);
	fd = temp_fd();
	cr_assert_eq(sfs_restore_stream(fx_store, id, fd, NULL, NULL), 0);
	expect_stream(fd, src, len);
	close(fd);
	free(out);
	free(path);
	free(src);
}

Test(check, restore_stream_of_a_damaged_chunk_fails)
{
	char id[SFS_IDSTR_SIZE], *path;
	struct sfs_chunk_loc l;
	struct sfs_id cid;
	int fd;

	make(id, &path);
	l = loc_of_block(id, 150, &cid);
	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len / 2, 0x10);
	fd = temp_fd();
	cr_assert_eq(sfs_restore_stream(fx_store, id, fd, NULL, NULL), -EBADMSG);
	close(fd);
	free(path);
	free(src);
}

Test(check, damaged_chunk_is_reported_and_not_restored)
{
	char id[SFS_IDSTR_SIZE], *path, *out;
	struct problems p;
	struct sfs_id cid;
	struct sfs_chunk_loc l;
	char hex[SFS_ID_HEX_LEN + 1];

	make(id, &path);
	l = loc_of_block(id, 150, &cid);
	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len / 2, 0x10);
	sfs_id_to_hex(&cid, hex);
	run_check(false, &p);
	cr_assert_eq(p.n, 0, "without --read-data the payload is not read: %s", p.last);
	run_check(true, &p);
	cr_assert_eq(p.n, 1, "one problem: %s", p.last);
	cr_assert(strstr(p.last, hex), "the line names the chunk: %s", p.last);

	cr_assert_geq(asprintf(&out, "%s/out", dir), 0);
	cr_assert_eq(sfs_restore(fx_store, id, out, 0, NULL, NULL), -EBADMSG);
	cr_assert_eq(access(out, F_OK), -1, "no partial file is left");
	free(out);
	free(path);
	free(src);
}

struct lines {
	int n;
	char v[8][512];
};

static void keep_line(void *ctx, const char *line)
{
	struct lines *l = ctx;

	if (l->n < 8)
		snprintf(l->v[l->n], sizeof(l->v[0]), "%s", line);
	l->n++;
}

static void last_progress(void *ctx, uint64_t done, uint64_t total)
{
	uint64_t *p = ctx;

	p[0] = done;
	p[1] = total;
}

static int by_hex(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct index_pos {
	const struct sfs_id *want;
	uint64_t at, pos;
};

static int find_pos(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct index_pos *x = ctx;

	if (memcmp(id->b, x->want->b, SFS_ID_LEN) == 0)
		x->pos = x->at;
	x->at++;
	return 0;
}

/* Where id stands in the chunk index's order, which check reads in. */
static uint64_t index_pos(const struct sfs_id *id)
{
	struct index_pos x = { id, 0, UINT64_MAX };
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_foreach(t, find_pos, &x), 0);
	sfs_txn_abort(t);
	cr_assert_neq(x.pos, UINT64_MAX);
	return x.pos;
}

/* --read-data reads a pack the scan could not confirm again in batches of
 * 4096 index entries on every CPU: damage in chunks spread over several
 * batches is each reported once, in id order, and every entry is read. */
Test(check, read_data_reports_damage_across_batches_in_id_order)
{
	static const uint64_t blocks[] = { 9000, 9001, 12000, 14999 };
	enum { N = sizeof(blocks) / sizeof(blocks[0]) };
	char id[SFS_IDSTR_SIZE], *path, hex[N][SFS_ID_HEX_LEN + 1];
	struct sfs_check_result res;
	struct lines got = { 0 };
	uint64_t prog[2] = { 0, 0 }, first_batch = UINT64_MAX, last_batch = 0;

	/* 15,000 blocks, 9,000 of them random: more than two batches. */
	make_len(id, &path, 15000 * 4096);
	for (int i = 0; i < N; i++) {
		struct sfs_id cid;
		struct sfs_chunk_loc l = loc_of_block(id, blocks[i], &cid);
		uint64_t batch = index_pos(&cid) / 4096;

		fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len / 3, 0x04);
		sfs_id_to_hex(&cid, hex[i]);
		first_batch = batch < first_batch ? batch : first_batch;
		last_batch = batch > last_batch ? batch : last_batch;
	}
	cr_assert_neq(first_batch, last_batch, "the damaged chunks lie in more than one batch");
	qsort(hex, N, sizeof(hex[0]), by_hex);
	cr_assert_eq(sfs_check(fx_store, true, keep_line, &got, last_progress, prog, &res), 0);
	cr_assert_gt(res.chunks, 2 * 4096, "%" PRIu64 " chunks", res.chunks);
	cr_assert_eq(res.chunks_read, res.chunks);
	cr_assert_eq(prog[0], res.chunks, "the last progress covers every chunk");
	cr_assert_eq(prog[1], res.chunks);
	cr_assert_eq(got.n, N, "one line per damaged chunk: %s", got.v[0]);
	cr_assert_eq(res.problems, (uint64_t)N);
	for (int i = 0; i < N; i++) {
		cr_assert(strstr(got.v[i], hex[i]), "line %d names %s: %s", i, hex[i], got.v[i]);
		cr_assert(strstr(got.v[i], "stored bytes fail verification"), "%s", got.v[i]);
	}
	free(path);
	free(src);
}

/* Every entry of a store of more than 100 was read, and confirmed by the
 * scan of its pack. */
static void expect_all_scanned(const struct sfs_check_result *res)
{
	cr_assert_gt(res->chunks, 100);
	cr_assert_eq(res->chunks_scanned, res->chunks);
	cr_assert_eq(res->chunks_read, res->chunks);
}

/* A sound store is read pack by pack: every entry is confirmed by the
 * scan, each chunk decoded and verified once, none read again. */
Test(check, read_data_reads_a_sound_store_in_pack_order)
{
	char id[SFS_IDSTR_SIZE], *path;
	struct sfs_chunk_stats s0, s1, s2;
	struct sfs_check_result res;
	struct problems p;

	make(id, &path);
	/* Without --read-data, check decodes only the map pages it walks. */
	sfs_store_chunk_stats(fx_store, &s0);
	run_check(false, &p);
	sfs_store_chunk_stats(fx_store, &s1);
	res = run_check(true, &p);
	sfs_store_chunk_stats(fx_store, &s2);
	cr_assert_eq(p.n, 0, "%s", p.last);
	expect_all_scanned(&res);
	cr_assert_eq((s2.decodes - s1.decodes) - (s1.decodes - s0.decodes), res.chunks,
		     "each chunk decoded once");
	cr_assert_eq(s2.decode_errors, s0.decode_errors);
	free(path);
	free(src);
}

/* Flips a bit of block's chunk (in its header's magic, or amid its
 * stored bytes), runs check --read-data, and expects that chunk named in
 * the one problem, every entry read. */
static struct sfs_check_result check_one_damaged(const char *id, uint64_t block, bool header)
{
	char hex[SFS_ID_HEX_LEN + 1];
	struct sfs_check_result res;
	struct sfs_id cid;
	struct problems p;
	struct sfs_chunk_loc l = loc_of_block(id, block, &cid);

	if (header)
		fx_pack_flip(l.pack, l.offset, 0x01);
	else
		fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len / 2, 0x10);
	sfs_id_to_hex(&cid, hex);
	res = run_check(true, &p);
	cr_assert_eq(p.n, 1, "one problem: %s", p.last);
	cr_assert(strstr(p.last, hex), "the line names the chunk: %s", p.last);
	cr_assert_eq(res.chunks_read, res.chunks);
	return res;
}

/* The index's entries in pack order come from many sorted runs when
 * they do not fit the set's buffer (SNAPFS_MARK_MEM shrinks it to 64
 * entries): the scan still confirms every one, and still finds damage. */
Test(check, read_data_scans_with_entries_from_many_runs)
{
	char id[SFS_IDSTR_SIZE], *path;
	struct sfs_check_result res;
	struct problems p;

	make(id, &path);
	cr_assert_eq(setenv("SNAPFS_MARK_MEM", "4096", 1), 0);
	res = run_check(true, &p);
	cr_assert_eq(p.n, 0, "%s", p.last);
	expect_all_scanned(&res); /* more than a buffer of 64 */
	check_one_damaged(id, 150, false);
	unsetenv("SNAPFS_MARK_MEM");
	free(path);
	free(src);
}

static void set_loc(const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_put(t, id, loc), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

/* Two entries that name each other's records: each record the scan meets
 * is a good one, but not where its entry says, so neither counts, and
 * both entries are read where they point and reported. */
Test(check, read_data_does_not_take_a_record_for_an_entry_pointing_elsewhere)
{
	char id[SFS_IDSTR_SIZE], *path, hex[2][SFS_ID_HEX_LEN + 1];
	struct sfs_check_result res;
	struct sfs_chunk_loc l[2];
	struct sfs_id cid[2];
	struct lines got = { 0 };

	make(id, &path);
	l[0] = loc_of_block(id, 150, &cid[0]);
	l[1] = loc_of_block(id, 151, &cid[1]);
	cr_assert_neq(l[0].offset, l[1].offset);
	set_loc(&cid[0], &l[1]);
	set_loc(&cid[1], &l[0]);
	for (int i = 0; i < 2; i++)
		sfs_id_to_hex(&cid[i], hex[i]);
	cr_assert_eq(sfs_check(fx_store, true, keep_line, &got, NULL, NULL, &res), 0);
	cr_assert_eq(got.n, 2, "two problems: %s", got.v[0]);
	for (int i = 0; i < 2; i++) {
		bool named = strstr(got.v[0], hex[i]) || strstr(got.v[1], hex[i]);

		cr_assert(named, "%s is named: %s / %s", hex[i], got.v[0], got.v[1]);
		cr_assert(strstr(got.v[i], "stored bytes fail verification"), "%s", got.v[i]);
	}
	cr_assert_eq(res.chunks_read, res.chunks);
	cr_assert_lt(res.chunks_scanned, res.chunks);
	free(path);
	free(src);
}

/* A record no entry names (a chunk whose entry was dropped, as gc drops
 * a dead chunk's and leaves its record until it rewrites the pack) is
 * passed over, and the entries after it are still confirmed by the scan. */
Test(check, read_data_passes_over_records_without_an_entry)
{
	char id[SFS_IDSTR_SIZE], *path;
	struct sfs_check_result res;
	struct sfs_id cid[2];
	struct lines got = { 0 };
	struct sfs_txn *t;

	make(id, &path);
	(void)loc_of_block(id, 150, &cid[0]);
	(void)loc_of_block(id, 151, &cid[1]);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(sfs_cat_chunk_del(t, &cid[i]), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(sfs_check(fx_store, true, keep_line, &got, NULL, NULL, &res), 0);
	cr_assert_gt(got.n, 0, "the snapshot's missing chunks are reported");
	for (int i = 0; i < got.n && i < 8; i++)
		cr_assert_null(strstr(got.v[i], "fail verification"), "%s", got.v[i]);
	expect_all_scanned(&res);
	free(path);
	free(src);
}

/* A record header that does not decode ends the scan of its pack; the
 * pack's entries are then read one by one, and only the damaged one is
 * reported. */
Test(check, read_data_reads_past_a_damaged_record_header)
{
	char id[SFS_IDSTR_SIZE], *path;
	struct sfs_check_result res;

	make(id, &path);
	res = check_one_damaged(id, 20, true);
	cr_assert_lt(res.chunks_scanned, res.chunks);
	free(path);
	free(src);
}

static void missing_chunk(bool runs)
{
	char id[SFS_IDSTR_SIZE], *path, *out, hex[SFS_ID_HEX_LEN + 1], want[256];
	struct problems p;
	struct sfs_id cid;
	struct sfs_txn *t;

	/* A mark buffer of 64 ids puts the referenced set in runs on disk. */
	if (runs)
		cr_assert_eq(setenv("SNAPFS_MARK_MEM", "2048", 1), 0);
	make(id, &path);
	loc_of_block(id, 3, &cid);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_del(t, &cid), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	run_check(false, &p);
	cr_assert_eq(p.n, 1, "a block id missing from the index is found without reading data, "
			     "once: %d problems, last %s", p.n, p.last);
	/* Named with the snapshot and block that reference it. */
	sfs_id_to_hex(&cid, hex);
	snprintf(want, sizeof(want), "snapshot %s block 3: chunk %s is missing from the store", id,
		 hex);
	cr_expect_str_eq(p.last, want);
	cr_assert_geq(asprintf(&out, "%s/out", dir), 0);
	cr_assert_lt(sfs_restore(fx_store, id, out, 0, NULL, NULL), 0);
	cr_assert_eq(access(out, F_OK), -1);
	free(out);
	free(path);
	free(src);
}

Test(check, missing_chunk_is_reported)
{
	missing_chunk(false);
}

Test(check, missing_chunk_is_reported_with_the_referenced_set_in_runs)
{
	missing_chunk(true);
}

Test(check, damaged_map_page_is_reported)
{
	char id[SFS_IDSTR_SIZE], *path;
	struct problems p;
	struct sfs_txn *t;
	struct sfs_snapshot sn;
	struct sfs_chunk_loc l;

	make(id, &path);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, id, &sn), 0);
	cr_assert_eq(sfs_cat_chunk_get(t, &sn.root, &l), 0);
	sfs_snapshot_release(&sn);
	sfs_txn_abort(t);
	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + l.stored_len - 1, 0x10);
	run_check(false, &p);
	cr_assert_geq(p.n, 1, "map pages are verified even without --read-data");
	cr_assert(strstr(p.last, id) || strstr(p.last, "map"), "%s", p.last);
	free(path);
	free(src);
}

/*
 * Recovery with the catalog's record of the committed end of the packs
 * lost or wrong: "repair never destroys". Several packs (1 MiB each) so
 * that recovery has packs above whatever it believes is active.
 */
#define NSNAP 3
#define SNAP_LEN (700 * 4096)

struct packfile {
	char name[64];
	off_t size;
};

static void setup_small_packs(void)
{
	struct sfs_store_options o = { .block_size = 4096, .pack_size = 1u << 20 };

	fx_setup_opts(&o);
	dir = fx_tmpdir();
	sfs_log_set_level(0);
}

static size_t list_packs(struct packfile *out, size_t cap)
{
	char *pdir;
	DIR *d;
	size_t n = 0;

	cr_assert_geq(asprintf(&pdir, "%s/packs", fx_dir), 0);
	d = opendir(pdir);
	cr_assert_not_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		char *p;

		if (e->d_name[0] == '.')
			continue;
		cr_assert_lt(n, cap);
		cr_assert_geq(asprintf(&p, "%s/%s", pdir, e->d_name), 0);
		cr_assert_eq(stat(p, &st), 0);
		free(p);
		snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
		out[n].size = st.st_size;
		n++;
	}
	closedir(d);
	free(pdir);
	return n;
}

/* Every pack in before[] still exists with the same size. */
static void expect_packs_kept(const struct packfile *before, size_t n)
{
	struct packfile now[64];
	size_t m = list_packs(now, 64);

	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (size_t j = 0; j < m; j++) {
			if (strcmp(before[i].name, now[j].name))
				continue;
			found = true;
			cr_assert_eq(now[j].size, before[i].size, "pack %s changed size",
				     before[i].name);
		}
		cr_assert(found, "pack %s was removed", before[i].name);
	}
}

static void make_snapshots(char ids[NSNAP][SFS_IDSTR_SIZE], uint8_t *srcs[NSNAP])
{
	for (int i = 0; i < NSNAP; i++) {
		struct sfs_ingest_opts o = { .volume = "v" };
		struct sfs_ingest_result res;
		char *path;
		int fd;

		srcs[i] = malloc(SNAP_LEN);
		fx_fill_random(srcs[i], SNAP_LEN, 100 + (uint64_t)i);
		cr_assert_geq(asprintf(&path, "%s/src%d", dir, i), 0);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cr_assert_eq(write(fd, srcs[i], SNAP_LEN), SNAP_LEN);
		close(fd);
		o.source = path;
		cr_assert_eq(sfs_ingest(fx_store, &o, &res), 0, "%s", res.error);
		memcpy(ids[i], res.snap_id, SFS_IDSTR_SIZE);
		free(path);
	}
}

static void expect_restores(char ids[NSNAP][SFS_IDSTR_SIZE], uint8_t *srcs[NSNAP])
{
	for (int i = 0; i < NSNAP; i++) {
		char *out;

		cr_assert_geq(asprintf(&out, "%s/out%d", dir, i), 0);
		cr_assert_eq(sfs_restore(fx_store, ids[i], out, SFS_RESTORE_FORCE, NULL, NULL), 0,
			     "snapshot %s", ids[i]);
		{
			uint8_t *got = malloc(SNAP_LEN + 1);
			int fd = open(out, O_RDONLY);

			cr_assert_geq(fd, 0);
			cr_assert_eq(read(fd, got, SNAP_LEN + 1), SNAP_LEN, "snapshot %s", ids[i]);
			cr_assert(!memcmp(got, srcs[i], SNAP_LEN), "snapshot %s restores other bytes",
				  ids[i]);
			close(fd);
			free(got);
		}
		free(out);
	}
}

static void meta_set(const char *key, bool del, uint64_t value)
{
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	if (del)
		cr_assert_eq(sfs_cat_meta_del(t, key), 0);
	else
		cr_assert_eq(sfs_cat_meta_put(t, key, value), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

static void lost_active_case(const char *key, bool del, uint64_t value)
{
	char ids[NSNAP][SFS_IDSTR_SIZE];
	uint8_t *srcs[NSNAP];
	struct packfile before[64];
	size_t n;
	struct problems p;

	make_snapshots(ids, srcs);
	n = list_packs(before, 64);
	cr_assert_geq(n, 2, "the test needs several packs");

	meta_set(key, del, value);
	fx_reopen(true); /* recovery runs here */
	expect_packs_kept(before, n);
	run_check(false, &p);
	cr_assert_geq(p.n, 1, "check must report the catalog damage");
	cr_assert(strstr(p.last, "pack.active"), "%s", p.last);
	expect_restores(ids, srcs);

	/* A writer on such a store appends to no existing pack and truncates
	 * none; its commit records a committed end above every pack again. */
	fx_reopen(true);
	{
		struct sfs_ingest_opts o = { .volume = "w" };
		struct sfs_ingest_result res;
		char *path;
		int fd;
		uint8_t *more = malloc(SNAP_LEN);

		fx_fill_random(more, SNAP_LEN, 999);
		cr_assert_geq(asprintf(&path, "%s/more", dir), 0);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cr_assert_eq(write(fd, more, SNAP_LEN), SNAP_LEN);
		close(fd);
		o.source = path;
		cr_assert_eq(sfs_ingest(fx_store, &o, &res), 0, "%s", res.error);
		free(path);
		free(more);
	}
	expect_packs_kept(before, n);
	fx_reopen(true);
	expect_packs_kept(before, n);
	expect_restores(ids, srcs);
	run_check(true, &p);
	cr_assert_eq(p.n, 0, "%s", p.last);
	for (int i = 0; i < NSNAP; i++)
		free(srcs[i]);
}

Test(check_recovery, missing_pack_active_removes_nothing, .init = setup_small_packs,
     .fini = teardown)
{
	lost_active_case("pack.active", true, 0);
}

Test(check_recovery, missing_pack_active_len_removes_nothing, .init = setup_small_packs,
     .fini = teardown)
{
	lost_active_case("pack.active_len", true, 0);
}

Test(check_recovery, pack_active_too_low_removes_nothing, .init = setup_small_packs,
     .fini = teardown)
{
	lost_active_case("pack.active", false, 1);
}

Test(check_recovery, pack_active_len_too_short_truncates_nothing, .init = setup_small_packs,
     .fini = teardown)
{
	lost_active_case("pack.active_len", false, 32);
}

static void collect_problem(void *ctx, const char *line)
{
	snprintf(ctx, 512, "%s", line);
}

/* check covers policy records too: a damaged one is named, not skipped. */
Test(check, damaged_policy_record_is_reported)
{
	struct sfs_check_result res;
	struct sfs_txn *t;
	char last[512] = "";
	static const char bad[] = "{\"v\":1,\"name\":\"nightly\"}";

	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_put_raw(t, SFS_DBI_POLICIES, "nightly", 7, bad, sizeof(bad) - 1), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	cr_assert_eq(sfs_check(fx_store, false, collect_problem, last, NULL, NULL, &res), 0);
	cr_assert_eq(res.problems, 1, "%s", last);
	cr_assert_eq(res.policies, 1);
	cr_assert(strstr(last, "policy record nightly"), "%s", last);
}

/* check's result in the catalog: recorded without recovery and without
 * the key, refused while a writer holds the store, read back as written;
 * a store never checked has none. */
Test(check, result_is_recorded_for_the_report)
{
	struct sfs_check_last last = { .time = 1795316400, .read_data = true, .problems = 3,
				       .snapshots = 7, .chunks_read = 42 };
	struct sfs_check_last got;
	struct sfs_txn *t;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_expect_eq(sfs_check_last_get(t, &got), -ENOENT);
	sfs_txn_abort(t);
	/* the fixture's store holds the writer lock */
	cr_expect_eq(sfs_check_record(fx_dir, &last), -EBUSY);
	fx_reopen(false);
	cr_assert_eq(sfs_check_record(fx_dir, &last), 0);
	fx_reopen(false);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_check_last_get(t, &got), 0);
	sfs_txn_abort(t);
	cr_expect_eq(got.time, 1795316400);
	cr_expect(got.read_data);
	cr_expect_eq(got.problems, 3);
	cr_expect_eq(got.snapshots, 7);
	cr_expect_eq(got.chunks_read, 42);
}
