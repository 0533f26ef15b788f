// SPDX-License-Identifier: MIT
/*
 * check and restore: a clean store checks clean; damaged chunks, missing
 * chunks and damaged map pages are each reported; restore writes exactly
 * the snapshot, refuses to overwrite, and never leaves a wrong file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "snapfs/check.h"
#include "snapfs/ingest.h"
#include "snapfs/log.h"
#include "snapfs/reader.h"
#include "fixture.h"

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

/* A snapshot of LEN bytes of text with zero holes; returns its id. */
static void make(char id[SFS_IDSTR_SIZE], char **ret_path)
{
	struct sfs_ingest_opts o = { .volume = "v" };
	struct sfs_ingest_result res;
	char *path;
	int fd;

	src = calloc(1, LEN);
	fx_fill_text(src, 80 * 4096, 1);
	fx_fill_random(src + 120 * 4096, 80 * 4096 + 77, 2);
	cr_assert_geq(asprintf(&path, "%s/src", dir), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_eq(write(fd, src, LEN), LEN);
	close(fd);
	o.source = path;
	cr_assert_eq(sfs_ingest(fx_store, &o, &res), 0, "%s", res.error);
	memcpy(id, res.snap_id, SFS_IDSTR_SIZE);
	*ret_path = path;
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
	struct sfs_txn *t;
	struct sfs_snapshot sn;
	struct sfs_snapmap m;
	struct sfs_reader *r;
	struct sfs_chunk_loc l;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, id, &sn), 0);
	sfs_snapmap_from_snapshot(&sn, &m);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_reader_new(fx_store, 0, &r), 0);
	cr_assert_eq(sfs_reader_block_id(r, &m, block, ret_id), 0);
	sfs_reader_free(r);
	cr_assert_eq(sfs_cat_chunk_get(t, ret_id, &l), 0);
	sfs_txn_abort(t);
	return l;
}

static void flip(const struct sfs_chunk_loc *l, uint64_t at)
{
	char path[PATH_MAX + 64];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/packs/%016llx.pack", fx_dir, (unsigned long long)l->pack);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)(l->offset + at)), 1);
	b ^= 0x10;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)(l->offset + at)), 1);
	close(fd);
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

Test(check, damaged_chunk_is_reported_and_not_restored)
{
	char id[SFS_IDSTR_SIZE], *path, *out;
	struct problems p;
	struct sfs_id cid;
	struct sfs_chunk_loc l;
	char hex[SFS_ID_HEX_LEN + 1];

	make(id, &path);
	l = loc_of_block(id, 150, &cid);
	flip(&l, SFS_REC_HEADER_LEN + l.stored_len / 2);
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

Test(check, missing_chunk_is_reported)
{
	char id[SFS_IDSTR_SIZE], *path, *out;
	struct problems p;
	struct sfs_id cid;
	struct sfs_txn *t;

	make(id, &path);
	loc_of_block(id, 3, &cid);
	cr_assert_eq(sfs_txn_begin(fx_store, true, &t), 0);
	cr_assert_eq(sfs_cat_chunk_del(t, &cid), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
	run_check(false, &p);
	cr_assert_geq(p.n, 1, "a block id missing from the index is found without reading data");
	cr_assert_geq(asprintf(&out, "%s/out", dir), 0);
	cr_assert_lt(sfs_restore(fx_store, id, out, 0, NULL, NULL), 0);
	cr_assert_eq(access(out, F_OK), -1);
	free(out);
	free(path);
	free(src);
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
	flip(&l, SFS_REC_HEADER_LEN + l.stored_len - 1);
	run_check(false, &p);
	cr_assert_geq(p.n, 1, "map pages are verified even without --read-data");
	cr_assert(strstr(p.last, id) || strstr(p.last, "map"), "%s", p.last);
	free(path);
	free(src);
}
