// SPDX-License-Identifier: MIT
/*
 * The chunk store: the store's id function, encoding at the store's level,
 * and the one verified read, by id and at a known location, with the
 * errors a damaged or missing chunk must give and the decode counters;
 * the summed records of a version 2 store, which the serving read
 * (sfs_store_chunk_fetch) verifies by their sum instead of the id.
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
#include <xxhash.h>

#include "snapfs/chunkstore.h"
#include "snapfs/log.h"
#include "fixture.h"
#include "store_int.h"

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
	cr_assert_eq(h.comp, SFS_COMP_ZSTD | SFS_COMP_SUMMED, "text compresses, and is summed");
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

	sfs_log_set_level(0);
	fx_fill_random(raw, BS, 3);
	fx_fill_random(other, BS, 4);
	l = put(SFS_CHUNK_DATA, raw, BS, &id);
	lo = put(SFS_CHUNK_DATA, other, BS, &oid);
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, &lo, out, BS, NULL, NULL), -EBADMSG,
		     "another chunk's location");

	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + 100, 0x80);
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

static void pack_path(uint64_t pack, char *buf, size_t len)
{
	snprintf(buf, len, "%s/packs/%016llx.pack", fx_dir, (unsigned long long)pack);
}

static void pack_rw(uint64_t pack, uint64_t off, void *buf, size_t len, bool write)
{
	char path[PATH_MAX + 64];
	int fd;

	pack_path(pack, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	if (write)
		cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	else
		cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
	/* Damage on the medium lies under every cache: a span of the pack
	 * read before would still hold the bytes as they were. */
	if (write)
		(void)sfs_store_drop_pack_bytes(fx_store, pack);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The sum as store/FORMAT.md defines it, written out independently. */
static uint64_t format_sum(const struct sfs_chunk_loc *l, const struct sfs_id *id,
			   const uint8_t *payload)
{
	struct sfs_rec_header h = { .type = l->type, .comp = l->comp, .raw_len = l->raw_len,
				    .stored_len = l->stored_len, .id = *id };
	uint8_t hb[SFS_REC_HEADER_LEN];

	sfs_rec_header_encode(&h, hb);
	return XXH3_64bits_withSeed(payload, l->stored_len - SFS_SUM_LEN, XXH3_64bits(hb, 48));
}

/* A flipped byte anywhere in a summed record's stored bytes (payload or
 * sum) fails the serving read, before anything is decoded. */
Test(chunkstore, summed_record_catches_a_flipped_byte)
{
	uint8_t raw[BS], out[BS], stored[BS + SFS_SUM_LEN];
	uint64_t where[3];
	struct sfs_chunk_loc l;
	struct sfs_id id;

	sfs_log_set_level(0);
	fx_fill_text(raw, BS, 21);
	l = put(SFS_CHUNK_DATA, raw, BS, &id);
	cr_assert_eq(l.comp, SFS_COMP_ZSTD | SFS_COMP_SUMMED);
	pack_rw(l.pack, l.offset + SFS_REC_HEADER_LEN, stored, l.stored_len, false);
	cr_assert_eq(format_sum(&l, &id, stored), le64(stored + l.stored_len - SFS_SUM_LEN),
		     "the documented sum");
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &id, SFS_CHUNK_DATA, out, BS, NULL), 0);
	cr_assert_arr_eq(out, raw, BS);
	where[0] = 0;                 /* the zstd frame header */
	where[1] = l.stored_len / 2;  /* compressed data */
	where[2] = l.stored_len - 1;  /* the sum itself */
	for (int i = 0; i < 3; i++) {
		uint64_t off = l.offset + SFS_REC_HEADER_LEN + where[i];

		fx_pack_flip(l.pack, off, 0x04);
		cr_assert_eq(sfs_store_chunk_fetch(fx_store, &id, SFS_CHUNK_DATA, out, BS, NULL),
			     -EBADMSG, "flip at stored byte %llu", (unsigned long long)where[i]);
		cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, NULL, out, BS, NULL, NULL),
			     -EBADMSG);
		fx_pack_flip(l.pack, off, 0x04);
		cr_assert_eq(sfs_store_chunk_fetch(fx_store, &id, SFS_CHUNK_DATA, out, BS, NULL), 0);
	}
}

/* Two records of the same length trade their stored bytes (sums
 * included) and keep their headers: each sum covers its own header's id,
 * so both fail; the records moved whole (headers too) fail the header's
 * id against the index. */
Test(chunkstore, swapped_records_are_caught)
{
	uint8_t a[BS], b[BS], out[BS], sa[BS + SFS_SUM_LEN], sb[BS + SFS_SUM_LEN];
	uint8_t ra[SFS_REC_HEADER_LEN + BS + SFS_SUM_LEN], rb[sizeof(ra)];
	struct sfs_chunk_loc la, lb;
	struct sfs_id ia, ib;

	sfs_log_set_level(0);
	fx_fill_random(a, BS, 31); /* incompressible: both stored raw, same length */
	fx_fill_random(b, BS, 32);
	la = put(SFS_CHUNK_DATA, a, BS, &ia);
	lb = put(SFS_CHUNK_DATA, b, BS, &ib);
	cr_assert_eq(la.comp, SFS_COMP_NONE | SFS_COMP_SUMMED);
	cr_assert_eq(la.stored_len, lb.stored_len);
	pack_rw(la.pack, la.offset + SFS_REC_HEADER_LEN, sa, la.stored_len, false);
	pack_rw(lb.pack, lb.offset + SFS_REC_HEADER_LEN, sb, lb.stored_len, false);
	pack_rw(la.pack, la.offset + SFS_REC_HEADER_LEN, sb, la.stored_len, true);
	pack_rw(lb.pack, lb.offset + SFS_REC_HEADER_LEN, sa, lb.stored_len, true);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &ia, SFS_CHUNK_DATA, out, BS, NULL), -EBADMSG);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &ib, SFS_CHUNK_DATA, out, BS, NULL), -EBADMSG);

	/* Back, then swap the whole records. */
	pack_rw(la.pack, la.offset + SFS_REC_HEADER_LEN, sa, la.stored_len, true);
	pack_rw(lb.pack, lb.offset + SFS_REC_HEADER_LEN, sb, lb.stored_len, true);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &ia, SFS_CHUNK_DATA, out, BS, NULL), 0);
	pack_rw(la.pack, la.offset, ra, sizeof(ra), false);
	pack_rw(lb.pack, lb.offset, rb, sizeof(rb), false);
	pack_rw(la.pack, la.offset, rb, sizeof(rb), true);
	pack_rw(lb.pack, lb.offset, ra, sizeof(ra), true);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &ia, SFS_CHUNK_DATA, out, BS, NULL), -EBADMSG);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &ib, SFS_CHUNK_DATA, out, BS, NULL), -EBADMSG);
}

/* The sum is a check against damage, not against someone who rewrites a
 * record and its sum: the serving read takes such a record, the full
 * read (check --read-data, gc, copy) re-hashes and refuses it. */
Test(chunkstore, forged_sum_passes_fetch_but_not_the_full_read)
{
	uint8_t raw[BS], out[BS], stored[BS + SFS_SUM_LEN];
	struct sfs_chunk_loc l;
	struct sfs_id id;
	uint64_t sum;

	sfs_log_set_level(0);
	fx_fill_random(raw, BS, 41);
	l = put(SFS_CHUNK_DATA, raw, BS, &id);
	pack_rw(l.pack, l.offset + SFS_REC_HEADER_LEN, stored, l.stored_len, false);
	stored[7] ^= 0xff;
	sum = format_sum(&l, &id, stored);
	for (int i = 0; i < 8; i++)
		stored[l.stored_len - SFS_SUM_LEN + (unsigned)i] = (uint8_t)(sum >> (8 * i));
	pack_rw(l.pack, l.offset + SFS_REC_HEADER_LEN, stored, l.stored_len, true);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &id, SFS_CHUNK_DATA, out, BS, NULL), 0);
	cr_assert_eq(out[7], (uint8_t)(raw[7] ^ 0xff));
	cr_assert_eq(sfs_store_chunk_read(fx_store, &id, 0, NULL, out, BS, NULL, NULL), -EBADMSG);
}

/* A version 1 store writes records without sums, so that binaries that
 * predate them still read it, and its reads re-hash as before. */
Test(chunkstore, version_1_store_is_not_summed_and_rehashed)
{
	uint8_t raw[BS], out[BS];
	char path[PATH_MAX + 16], text[4096];
	struct sfs_chunk_loc l;
	struct sfs_id id;
	FILE *f;
	size_t n;
	char *v;

	sfs_log_set_level(0);
	snprintf(path, sizeof(path), "%s/config", fx_dir);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	v = strstr(text, "format_version = 2");
	cr_assert_not_null(v, "init writes version 2");
	v[strlen("format_version = ")] = '1';
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, n, f), n);
	fclose(f);
	fx_reopen(true);
	cr_assert_eq(sfs_store_format_version(fx_store), 1);

	fx_fill_random(raw, BS, 51);
	l = put(SFS_CHUNK_DATA, raw, BS, &id);
	cr_assert_eq(l.comp, SFS_COMP_NONE, "no sum in a version 1 store");
	cr_assert_eq(l.stored_len, BS);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &id, SFS_CHUNK_DATA, out, BS, NULL), 0);
	cr_assert_arr_eq(out, raw, BS);
	fx_pack_flip(l.pack, l.offset + SFS_REC_HEADER_LEN + 9, 0x01);
	cr_assert_eq(sfs_store_chunk_fetch(fx_store, &id, SFS_CHUNK_DATA, out, BS, NULL), -EBADMSG,
		     "re-hashed");
}
