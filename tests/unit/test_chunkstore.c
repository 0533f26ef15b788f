// SPDX-License-Identifier: MIT
/*
 * The chunk store: the store's id function, encoding at the store's level,
 * and the one verified read, by id and at a known location, with the
 * errors a damaged or missing chunk must give and the decode counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "fixture.h"

#define BS 4096u

TestSuite(chunkstore, .init = fx_setup_4k, .fini = fx_teardown);

/* Stores one chunk through the fixture writer; returns its location. */
static struct sfs_chunk_loc put(uint8_t type, const void *data, size_t len, struct sfs_id *ret_id)
{
	struct fx_writer w;
	struct sfs_txn *t;
	struct sfs_chunk_loc l;

	cr_assert_eq(fx_writer_begin(&w), 0);
	cr_assert_eq(fx_writer_put(&w, type, data, len, ret_id), 0);
	cr_assert_eq(fx_writer_commit(&w), 0);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_get(t, ret_id, &l), 0);
	sfs_txn_abort(t);
	return l;
}

Test(chunkstore, id_is_sha256)
{
	struct sfs_id id, want;

	cr_assert_eq(sfs_store_chunk_id(fx_store, "abc", 3, &id), 0);
	sfs_id_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &want);
	cr_assert_arr_eq(id.b, want.b, SFS_ID_LEN);
}

Test(chunkstore, encode_then_read_round_trip)
{
	uint8_t raw[BS], out[BS], enc[2 * BS];
	struct sfs_rec_header h;
	struct sfs_chunk_loc l, got;
	struct sfs_chunk_stats before, after;
	const void *stored = NULL;
	struct sfs_id id;

	fx_fill_text(raw, BS, 1);
	cr_assert_eq(sfs_store_chunk_id(fx_store, raw, BS, &id), 0);
	cr_assert_eq(sfs_store_chunk_encode(fx_store, SFS_CHUNK_DATA, raw, BS, &id, enc,
					    sfs_store_chunk_bound(BS), &h),
		     0);
	cr_assert_eq(h.type, SFS_CHUNK_DATA);
	cr_assert_eq(h.comp, SFS_COMP_ZSTD, "text compresses");
	cr_assert_lt(h.stored_len, BS);
	cr_assert_eq(h.raw_len, BS);
	cr_assert_arr_eq(h.id.b, id.b, SFS_ID_LEN);
	cr_assert_eq(sfs_store_chunk_encode(fx_store, SFS_CHUNK_DATA, raw, BS, &id, enc, BS, &h),
		     -EINVAL, "capacity below the bound");

	l = put(SFS_CHUNK_DATA, raw, BS, &id);
	sfs_store_chunk_stats(fx_store, &before);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, SFS_CHUNK_DATA, NULL, out, BS, &got,
					  &stored),
		     0);
	cr_assert_arr_eq(out, raw, BS);
	cr_assert_eq(got.pack, l.pack);
	cr_assert_eq(got.offset, l.offset);
	cr_assert_eq(got.raw_len, BS);
	cr_assert_not_null(stored);
	/* The stored bytes are the record's: encoding again gives them. */
	cr_assert_eq(sfs_store_chunk_encode(fx_store, SFS_CHUNK_DATA, raw, BS, &id, enc,
					    sfs_store_chunk_bound(BS), &h),
		     0);
	cr_assert_eq(h.stored_len, got.stored_len);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, &l, out, BS, NULL, &stored), 0,
		     "at a known location");
	cr_assert_arr_eq(stored, enc, h.stored_len);
	sfs_store_chunk_stats(fx_store, &after);
	cr_assert_eq(after.decodes - before.decodes, 2);
	cr_assert_eq(after.decode_errors, before.decode_errors);
	/* What a mount reports as read from packs vs decoded. */
	cr_assert_eq(after.stored_bytes_read - before.stored_bytes_read, 2 * (uint64_t)h.stored_len);
	cr_assert_eq(after.raw_bytes_decoded - before.raw_bytes_decoded, 2 * (uint64_t)BS);
}

Test(chunkstore, wrong_type_small_buffer_and_missing)
{
	uint8_t raw[BS], out[BS];
	struct sfs_id id, absent;

	sfs_log_set_level(0);
	fx_fill_random(raw, BS, 2);
	put(SFS_CHUNK_DATA, raw, BS, &id);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, SFS_CHUNK_MAP, NULL, out, BS, NULL, NULL),
		     -EBADMSG, "a data chunk where a map page was expected");
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, NULL, out, BS - 1, NULL, NULL),
		     -EBADMSG, "bigger than the caller's buffer");
	absent = id;
	absent.b[3] ^= 1;
	cr_assert_eq(sfs_store_chunk_read(fx_store, &absent, 0, NULL, out, BS, NULL, NULL),
		     -EUCLEAN);
}

/* A record whose bytes no longer match its id, and a location that
 * points at another chunk's record, are -EBADMSG; the location is still
 * reported so that the caller can name it. */
Test(chunkstore, damaged_chunk_is_ebadmsg)
{
	uint8_t raw[BS], other[BS], out[BS];
	struct sfs_chunk_loc l, lo, got;
	struct sfs_chunk_stats before, after;
	struct sfs_id id, oid;
	char path[PATH_MAX + 64];
	uint8_t b;
	int fd;

	sfs_log_set_level(0);
	fx_fill_random(raw, BS, 3);
	fx_fill_random(other, BS, 4);
	l = put(SFS_CHUNK_DATA, raw, BS, &id);
	lo = put(SFS_CHUNK_DATA, other, BS, &oid);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, &lo, out, BS, NULL, NULL), -EBADMSG,
		     "another chunk's location");

	snprintf(path, sizeof(path), "%s/packs/%016llx.pack", fx_dir, (unsigned long long)l.pack);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)(l.offset + SFS_REC_HEADER_LEN + 100)), 1);
	b ^= 0x80;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)(l.offset + SFS_REC_HEADER_LEN + 100)), 1);
	close(fd);
	sfs_store_chunk_stats(fx_store, &before);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, NULL, out, BS, &got, NULL), -EBADMSG);
	cr_assert_eq(got.offset, l.offset);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, &l, out, BS, NULL, NULL), -EBADMSG);
	sfs_store_chunk_stats(fx_store, &after);
	cr_assert_eq(after.decode_errors - before.decode_errors, 2);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &oid, 0, NULL, out, BS, NULL, NULL), 0);
	cr_assert_arr_eq(out, other, BS);
}

struct thr {
	const struct sfs_id *id;
	const uint8_t *raw;
	int bad;
};

static void *reader_thread(void *p)
{
	struct thr *t = p;
	uint8_t out[BS];

	for (int i = 0; i < 200; i++)
		if (sfs_store_chunk_read(fx_store, t->id, SFS_CHUNK_DATA, NULL, out, BS, NULL, NULL) ||
		    memcmp(out, t->raw, BS))
			t->bad++;
	return NULL;
}

/* Each thread gets its own codec: concurrent reads never mix buffers. */
Test(chunkstore, threads_read_concurrently)
{
	static uint8_t raw[4][BS];
	struct sfs_id id[4];
	struct thr t[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		fx_fill_text(raw[i], BS, 10 + (uint64_t)i);
		put(SFS_CHUNK_DATA, raw[i], BS, &id[i]);
	}
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ &id[i], raw[i], 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, reader_thread, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].bad, 0, "thread %d", i);
	}
}
