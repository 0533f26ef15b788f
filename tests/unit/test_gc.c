// SPDX-License-Identifier: MIT
/*
 * Snapshot deletion and garbage collection: what is freed, that nothing
 * live is lost (every remaining snapshot reads back byte-exact and check
 * passes), images pin their snapshots, dry runs change nothing, the active
 * pack may be collected without pack numbers being reused, and a second
 * gc has nothing left to do.
 */
#include <limits.h>

#include <criterion/criterion.h>

#include "snapfs/check.h"
#include "snapfs/gc.h"
#include "lifecycle_util.h"

#define BS 4096u
#define MIB (1u << 20)

struct world {
	char *dir;
	struct sfs_store *s;
	uint8_t *a1, *a2, *a3, *b;
	size_t alen, blen;
	char ida1[SFS_IDSTR_SIZE], ida2[SFS_IDSTR_SIZE], ida3[SFS_IDSTR_SIZE],
		idb[SFS_IDSTR_SIZE];
};

/*
 * Volume a: 4 MiB, then 1 MiB at offset 1 MiB rewritten (a2), then the
 * same 1 MiB rewritten again (a3): a2's new blocks are used by a2 only.
 * Volume b: 3 MiB of its own. Packs of 1 MiB so that there are several.
 */
static void world_make(struct world *w)
{
	w->dir = fx_tmpdir();
	w->s = lc_store(w->dir, "store", BS, 1, MIB);
	w->alen = 4 * MIB;
	w->blen = 3 * MIB;
	w->a1 = malloc(w->alen);
	w->a2 = malloc(w->alen);
	w->a3 = malloc(w->alen);
	w->b = malloc(w->blen);
	cr_assert(w->a1 && w->a2 && w->a3 && w->b);
	fx_fill_random(w->a1, w->alen, 1);
	memcpy(w->a2, w->a1, w->alen);
	fx_fill_random(w->a2 + MIB, MIB, 2);
	memcpy(w->a3, w->a2, w->alen);
	fx_fill_random(w->a3 + MIB, MIB, 3);
	fx_fill_random(w->b, w->blen, 4);
	lc_snap(w->s, w->dir, "a", w->a1, w->alen, NULL, w->ida1);
	lc_snap(w->s, w->dir, "a", w->a2, w->alen, NULL, w->ida2);
	lc_snap(w->s, w->dir, "b", w->b, w->blen, NULL, w->idb);
	lc_snap(w->s, w->dir, "a", w->a3, w->alen, NULL, w->ida3);
}

static void world_free(struct world *w)
{
	sfs_store_close(w->s);
	fx_rm_rf(w->dir);
	free(w->dir);
	free(w->a1);
	free(w->a2);
	free(w->a3);
	free(w->b);
}

static void delete(struct sfs_store *s, const char *id)
{
	struct sfs_txn *t;
	int r;

	cr_assert_eq(sfs_txn_begin(s, true, &t), 0);
	r = sfs_snapshot_delete(t, id, NULL, 0);
	cr_assert_eq(r, 0, "delete %s: %s", id, strerror(-r));
	cr_assert_eq(sfs_txn_commit(t), 0);
}

static void check_ok(struct sfs_store *s)
{
	struct sfs_check_result cr;

	cr_assert_eq(sfs_check(s, true, NULL, NULL, NULL, NULL, &cr), 0);
	cr_expect_eq(cr.problems, 0, "check found %llu problems",
		     (unsigned long long)cr.problems);
	cr_expect_eq(cr.unreferenced, 0, "%llu unreferenced chunks left",
		     (unsigned long long)cr.unreferenced);
}

Test(gc, frees_what_only_deleted_snapshots_used)
{
	struct world w;
	struct sfs_gc_opts o = { .rewrite_pct = 100 };
	struct sfs_gc_result res;
	uint64_t before, after;

	world_make(&w);
	delete(w.s, w.ida2);
	delete(w.s, w.idb);
	before = lc_packs_bytes(w.s);
	cr_assert_eq(sfs_gc(w.s, &o, &res), 0);
	after = lc_packs_bytes(w.s);
	/* a2's rewritten MiB and all of b's 3 MiB, random data: stored bytes
	 * are at least the raw bytes */
	cr_expect_geq(res.dead_bytes, 4 * MIB);
	cr_expect_geq(before - after, 4 * MIB, "freed %llu",
		      (unsigned long long)(before - after));
	cr_expect_eq(res.freed_bytes, before - after);
	lc_expect(w.s, w.ida1, w.a1, w.alen);
	lc_expect(w.s, w.ida3, w.a3, w.alen);
	check_ok(w.s);

	/* nothing left: a second run frees nothing and moves nothing */
	cr_assert_eq(sfs_gc(w.s, &o, &res), 0);
	cr_expect_eq(res.dead_chunks, 0);
	cr_expect_eq(res.copied_chunks, 0);
	cr_expect_eq(res.packs_removed + res.packs_rewritten, 0);
	world_free(&w);
}

Test(gc, default_threshold_keeps_mostly_live_packs)
{
	struct world w;
	struct sfs_gc_result res;

	world_make(&w);
	delete(w.s, w.idb);
	cr_assert_eq(sfs_gc(w.s, NULL, &res), 0);
	/* b's packs held only b: removed whole, at least 2 of its 3 MiB */
	cr_expect_geq(res.packs_removed, 2);
	cr_expect_geq(res.freed_bytes, 2 * MIB);
	lc_expect(w.s, w.ida1, w.a1, w.alen);
	lc_expect(w.s, w.ida2, w.a2, w.alen);
	lc_expect(w.s, w.ida3, w.a3, w.alen);
	world_free(&w);
}

Test(gc, dry_run_changes_nothing)
{
	struct world w;
	struct sfs_gc_opts o = { .dry_run = true, .rewrite_pct = 100 };
	struct sfs_gc_result res;
	uint64_t before, chunks0, chunks1;
	struct sfs_txn *t;

	world_make(&w);
	delete(w.s, w.idb);
	before = lc_packs_bytes(w.s);
	cr_assert_eq(sfs_txn_begin(w.s, false, &t), 0);
	sfs_cat_chunk_count(t, &chunks0);
	sfs_txn_abort(t);
	cr_assert_eq(sfs_gc(w.s, &o, &res), 0);
	cr_expect_geq(res.dead_bytes, 3 * MIB);
	cr_expect_geq(res.freed_bytes, 3 * MIB);
	cr_expect_eq(lc_packs_bytes(w.s), before);
	cr_assert_eq(sfs_txn_begin(w.s, false, &t), 0);
	sfs_cat_chunk_count(t, &chunks1);
	sfs_txn_abort(t);
	cr_expect_eq(chunks0, chunks1);
	world_free(&w);
}

Test(gc, image_pins_its_snapshot)
{
	struct world w;
	struct sfs_txn *t;
	char image[64] = "";

	world_make(&w);
	lc_image(w.s, "golden", w.ida1);
	cr_assert_eq(sfs_txn_begin(w.s, true, &t), 0);
	cr_expect_eq(sfs_snapshot_delete(t, w.ida1, image, sizeof(image)), -EBUSY);
	cr_expect_str_eq(image, "image golden");
	cr_expect_eq(sfs_snapshot_delete(t, "snap-0123456789abcdef0", NULL, 0), -ENOENT);
	sfs_txn_abort(t);
	world_free(&w);
}

/* Everything deleted: every pack goes, the active one included, and the
 * next create starts a pack whose number was never used. */
Test(gc, everything_deleted_then_create_again)
{
	struct world w;
	struct sfs_gc_result res;
	uint64_t active0 = 0, active1 = 0;
	struct sfs_txn *t;
	char id[SFS_IDSTR_SIZE];

	world_make(&w);
	cr_assert_eq(sfs_txn_begin(w.s, false, &t), 0);
	cr_assert_eq(sfs_cat_meta_get(t, "pack.active", &active0), 0);
	sfs_txn_abort(t);
	delete(w.s, w.ida1);
	delete(w.s, w.ida2);
	delete(w.s, w.ida3);
	delete(w.s, w.idb);
	cr_assert_eq(sfs_gc(w.s, NULL, &res), 0);
	cr_expect_eq(res.live_chunks, 0);
	cr_expect_eq(res.packs_removed, res.packs_before);
	cr_assert_eq(sfs_txn_begin(w.s, false, &t), 0);
	cr_assert_eq(sfs_cat_meta_get(t, "pack.active", &active1), 0);
	sfs_txn_abort(t);
	cr_expect_gt(active1, active0, "a fresh pack above every old number");
	/* reopen as a new writer (recovery runs) and write again */
	sfs_store_close(w.s);
	{
		char *path;
		cr_assert(asprintf(&path, "%s/store", w.dir) > 0);
		cr_assert_eq(sfs_store_open(path, SFS_OPEN_WRITE, &w.s), 0);
		free(path);
	}
	lc_snap(w.s, w.dir, "b", w.b, w.blen, NULL, id);
	lc_expect(w.s, id, w.b, w.blen);
	check_ok(w.s);
	world_free(&w);
}

/* A reader that looked a location up before gc moved the chunk and
 * removed the pack still gets the right bytes. */
Test(gc, reader_keeps_reading_across_gc)
{
	struct world w;
	struct sfs_gc_opts o = { .rewrite_pct = 100 };
	struct sfs_gc_result res;
	struct sfs_store *ro;
	char *path;

	world_make(&w);
	cr_assert(asprintf(&path, "%s/store", w.dir) > 0);
	cr_assert_eq(sfs_store_open(path, SFS_OPEN_READ, &ro), 0);
	lc_expect(ro, w.ida3, w.a3, w.alen); /* packs now open in ro's fd table */
	delete(w.s, w.ida2);
	delete(w.s, w.idb);
	cr_assert_eq(sfs_gc(w.s, &o, &res), 0);
	cr_expect_gt(res.copied_chunks, 0);
	lc_expect(ro, w.ida3, w.a3, w.alen); /* old fds or new locations */
	lc_expect(ro, w.ida1, w.a1, w.alen);
	sfs_store_close(ro);
	free(path);
	world_free(&w);
}

Test(gc, needs_a_writer)
{
	struct world w;
	struct sfs_gc_result res;
	struct sfs_store *ro;
	char *path;

	world_make(&w);
	cr_assert(asprintf(&path, "%s/store", w.dir) > 0);
	cr_assert_eq(sfs_store_open(path, SFS_OPEN_READ, &ro), 0);
	cr_expect_eq(sfs_gc(ro, NULL, &res), -EROFS);
	sfs_store_close(ro);
	free(path);
	world_free(&w);
}

/* gc reads and verifies every record it moves (several at a time): a
 * damaged one stops it with -EBADMSG, and what it leaves is the store it
 * found, that damage included, with nothing lost or left dangling. */
Test(gc, damaged_live_record_stops_the_moves)
{
	struct world w;
	struct sfs_gc_opts o = { .rewrite_pct = 100 };
	struct sfs_gc_result res;
	struct sfs_check_result cr;
	struct sfs_id cid;
	struct sfs_chunk_loc l;
	char path[PATH_MAX];
	uint8_t byte;
	int fd;

	world_make(&w);
	/* a3's first new block follows b's last in the same pack, which b's
	 * deletion leaves part dead: gc moves it. */
	l = lc_block_loc(w.s, w.ida3, 256, &cid);
	delete(w.s, w.ida2);
	delete(w.s, w.idb);
	snprintf(path, sizeof(path), "%s/store/packs/%016llx.pack", w.dir,
		 (unsigned long long)l.pack);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(pread(fd, &byte, 1, (off_t)(l.offset + SFS_REC_HEADER_LEN + 9)), 1);
	byte ^= 0x20;
	cr_assert_eq(pwrite(fd, &byte, 1, (off_t)(l.offset + SFS_REC_HEADER_LEN + 9)), 1);
	close(fd);
	(void)sfs_store_drop_pack_bytes(w.s, l.pack);

	cr_expect_eq(sfs_gc(w.s, &o, &res), -EBADMSG);
	lc_expect(w.s, w.ida1, w.a1, w.alen);
	cr_assert_eq(sfs_check(w.s, true, NULL, NULL, NULL, NULL, &cr), 0);
	cr_expect_eq(cr.problems, 1, "the damaged record alone: %llu problems",
		     (unsigned long long)cr.problems);
	world_free(&w);
}

/* With the mark buffer cut to 64 ids, the live set goes through many
 * sorted runs on disk: gc must free and move exactly what it does with
 * everything in memory, and leave every remaining snapshot whole. */
Test(gc, live_set_in_runs_on_disk_collects_the_same)
{
	struct world w, m;
	struct sfs_gc_opts o = { .rewrite_pct = 100 };
	struct sfs_gc_result in_mem, on_disk;
	struct sfs_check_result cr;

	world_make(&m);
	delete(m.s, m.ida2);
	cr_assert_eq(sfs_gc(m.s, &o, &in_mem), 0);

	cr_assert_eq(setenv("SNAPFS_MARK_MEM", "2048", 1), 0);
	world_make(&w);
	delete(w.s, w.ida2);
	cr_assert_eq(sfs_gc(w.s, &o, &on_disk), 0);
	cr_expect_gt(on_disk.dead_chunks, 200);
	cr_expect_gt(on_disk.copied_chunks, 0, "rewrite_pct 100 moves the live records");
	cr_expect_eq(on_disk.live_chunks, in_mem.live_chunks);
	cr_expect_eq(on_disk.dead_chunks, in_mem.dead_chunks);
	cr_expect_eq(on_disk.dead_bytes, in_mem.dead_bytes);
	cr_expect_eq(on_disk.copied_chunks, in_mem.copied_chunks);
	cr_expect_eq(on_disk.packs_removed, in_mem.packs_removed);
	cr_expect_eq(on_disk.packs_rewritten, in_mem.packs_rewritten);
	lc_expect(w.s, w.ida1, w.a1, w.alen);
	lc_expect(w.s, w.ida3, w.a3, w.alen);
	lc_expect(w.s, w.idb, w.b, w.blen);
	/* check's own sets are in runs too: nothing missing or unreferenced */
	check_ok(w.s);

	/* Deleting without gc leaves unreferenced chunks that check, on the
	 * same small buffer, must count exactly. */
	delete(w.s, w.idb);
	delete(m.s, m.idb);
	cr_assert_eq(sfs_check(w.s, false, NULL, NULL, NULL, NULL, &cr), 0);
	cr_expect_eq(cr.problems, 0);
	cr_expect_geq(cr.unreferenced, 768, "b's 768 blocks are unreferenced: %llu",
		      (unsigned long long)cr.unreferenced);
	{
		struct sfs_check_result cm;
		cr_assert_eq(unsetenv("SNAPFS_MARK_MEM"), 0);
		cr_assert_eq(sfs_check(m.s, false, NULL, NULL, NULL, NULL, &cm), 0);
		cr_expect_eq(cr.unreferenced, cm.unreferenced);
		cr_expect_eq(cr.unreferenced_bytes, cm.unreferenced_bytes);
		cr_expect_eq(cr.map_pages, cm.map_pages);
	}
	world_free(&w);
	world_free(&m);
}
