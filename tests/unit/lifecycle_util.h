/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the lifecycle unit tests (gc, copy, policy): temporary
 * stores, deterministic volume files, snapshots made through the real
 * ingest path, byte-exact read-back, and an image record written straight
 * into the images database (so these tests do not wait for the image
 * commands). Header-only so that each test binary stands alone; Criterion
 * runs every test in its own process, so plain statics are per test.
 */
#ifndef SNAPFS_TEST_LIFECYCLE_UTIL_H
#define SNAPFS_TEST_LIFECYCLE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "snapfs/catalog.h"
#include "snapfs/ingest.h"
#include "snapfs/reader.h"
#include "snapfs/store.h"
#include "store_int.h"
#include "fixture.h"

/* Creates a store at dir/name and opens it for writing. */
static inline struct sfs_store *lc_store(const char *dir, const char *name, uint32_t bs, int level,
					 uint64_t pack_size)
{
	struct sfs_store_options o = { .block_size = bs, .zstd_level = level, .pack_size = pack_size };
	struct sfs_store *s;
	char *path;
	int r;

	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	r = sfs_store_init(path, &o);
	cr_assert_eq(r, 0, "init %s: %s", path, strerror(-r));
	r = sfs_store_open(path, SFS_OPEN_WRITE, &s);
	cr_assert_eq(r, 0, "open %s: %s", path, strerror(-r));
	free(path);
	return s;
}

static inline void lc_write(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Snapshots buf (len bytes, written to dir/vol.img) as volume vol. */
static inline void lc_snap(struct sfs_store *s, const char *dir, const char *vol,
			   const uint8_t *buf, size_t len, json_t *tags, char id[SFS_IDSTR_SIZE])
{
	struct sfs_ingest_opts o = { .volume = vol, .tags = tags, .threads = 2 };
	struct sfs_ingest_result res;
	char *path;
	int r;

	cr_assert(asprintf(&path, "%s/%s.img", dir, vol) > 0);
	lc_write(path, buf, len);
	o.source = path;
	r = sfs_ingest(s, &o, &res);
	cr_assert_eq(r, 0, "ingest %s: %s (%s)", vol, strerror(-r), res.error);
	memcpy(id, res.snap_id, SFS_IDSTR_SIZE);
	free(path);
}

/* Reads snapshot id back and compares it with buf. */
static inline void lc_expect(struct sfs_store *s, const char *id, const uint8_t *buf, size_t len)
{
	struct sfs_snapshot sn;
	struct sfs_snapmap m;
	struct sfs_reader *rd;
	struct sfs_txn *t;
	uint8_t *got = malloc(len ? len : 1);
	int r;

	cr_assert_not_null(got);
	cr_assert_eq(sfs_txn_begin(s, false, &t), 0);
	r = sfs_cat_snapshot_get(t, id, &sn);
	sfs_txn_abort(t);
	cr_assert_eq(r, 0, "snapshot %s: %s", id, strerror(-r));
	cr_assert_eq(sn.size, len);
	sfs_snapmap_from_snapshot(&sn, &m);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_reader_new(s, 0, &rd), 0);
	cr_assert_eq(sfs_reader_pread(rd, &m, got, len, 0), (ssize_t)len, "read %s", id);
	cr_assert(memcmp(got, buf, len) == 0, "snapshot %s differs from its source", id);
	sfs_reader_free(rd);
	free(got);
}

/* An image record mapping sda to snap_id, as the image commands write it. */
static inline void lc_image(struct sfs_store *s, const char *name, const char *snap_id)
{
	struct sfs_txn *t;
	char rec[256];
	MDB_val k = { strlen(name), (void *)name }, v;

	snprintf(rec, sizeof(rec),
		 "{\"v\":1,\"name\":\"%s\",\"devices\":[{\"device\":\"sda\",\"snapshot\":\"%s\"}]}",
		 name, snap_id);
	v.mv_data = rec;
	v.mv_size = strlen(rec);
	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	cr_assert_eq(mdb_put(sfs_txn_mdb(t), s->dbi[SFS_DBI_IMAGES], &k, &v, 0), 0);
	cr_assert_eq(sfs_txn_commit(t), 0);
}

/* Where block `block` of snapshot id is stored, and its chunk's id. */
static inline struct sfs_chunk_loc lc_block_loc(struct sfs_store *s, const char *id,
						uint64_t block, struct sfs_id *ret_id)
{
	struct sfs_txn *t;
	struct sfs_snapshot sn;
	struct sfs_snapmap m;
	struct sfs_reader *r;
	struct sfs_chunk_loc l;

	cr_assert_eq(sfs_txn_begin(s, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, id, &sn), 0);
	sfs_snapmap_from_snapshot(&sn, &m);
	sfs_snapshot_release(&sn);
	cr_assert_eq(sfs_reader_new(s, 0, &r), 0);
	cr_assert_eq(sfs_reader_block_id(r, &m, block, ret_id), 0);
	sfs_reader_free(r);
	cr_assert_eq(sfs_cat_chunk_get(t, ret_id, &l), 0);
	sfs_txn_abort(t);
	return l;
}

static inline uint64_t lc_packs_bytes(struct sfs_store *s)
{
	uint64_t packs = 0, cat = 0;

	cr_assert_eq(sfs_store_disk_usage(s, &packs, &cat), 0);
	return packs;
}

#endif
