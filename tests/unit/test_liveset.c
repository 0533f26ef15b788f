// SPDX-License-Identifier: MIT
/*
 * The bounded id set of gc and check: with a buffer far smaller than the
 * ids added, it writes many runs and still answers membership exactly,
 * repeats included, across a rewind; with everything in the buffer it
 * writes no run at all. Records of another size come back in key order.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "liveset_int.h"

#define N 20000u

static void mkid(uint32_t v, struct sfs_id *id)
{
	/* Distinct, spread over the key space like SHA-256 ids, never zero. */
	uint64_t x = (uint64_t)v * 0x9e3779b97f4a7c15ull + 1;

	memset(id, 0, sizeof(*id));
	for (int i = 0; i < 4; i++) {
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		memcpy(id->b + 8 * i, &x, 8);
	}
}

struct ent {
	struct sfs_id id;
	bool member;
};

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, SFS_ID_LEN);
}

/* Members are the even numbers below 2N, each added twice (far apart);
 * every number below 2N is asked, in id order, twice over a rewind. */
static void exercise(size_t mem, bool expect_runs)
{
	struct sfs_liveset *ls;
	struct ent *all = malloc(2 * N * sizeof(*all));
	struct sfs_id zero = { 0 };

	cr_assert(all);
	cr_assert_eq(sfs_liveset_new(mem, &ls), 0);
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t v = 0; v < 2 * N; v += 2) {
			struct sfs_id id;
			mkid(v, &id);
			cr_assert_eq(sfs_liveset_add(ls, &id), 0);
		}
	cr_assert_eq(sfs_liveset_add(ls, &zero), 0);
	cr_assert_eq(sfs_liveset_seal(ls), 0);
	cr_assert_eq(sfs_liveset_add(ls, &zero), -EINVAL, "no adding after seal");
	if (expect_runs)
		cr_expect_gt(sfs_liveset_runs(ls), 10, "runs: %llu",
			     (unsigned long long)sfs_liveset_runs(ls));
	else
		cr_expect_eq(sfs_liveset_runs(ls), 0);

	for (uint32_t v = 0; v < 2 * N; v++) {
		mkid(v, &all[v].id);
		all[v].member = v % 2 == 0;
	}
	qsort(all, 2 * N, sizeof(*all), cmp);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t found = 0;

		if (pass)
			cr_assert_eq(sfs_liveset_rewind(ls), 0);
		cr_expect_eq(sfs_liveset_has(ls, &zero), 0, "the zero id is no member");
		for (uint32_t i = 0; i < 2 * N; i++) {
			int r = sfs_liveset_has(ls, &all[i].id);
			cr_assert_geq(r, 0);
			cr_assert_eq(r, all[i].member, "pass %d, id %u: %d", pass, i, r);
			/* Asking the same id twice in a row gives the same answer. */
			cr_assert_eq(sfs_liveset_has(ls, &all[i].id), r);
			found += (uint32_t)r;
		}
		cr_expect_eq(found, N, "pass %d: %u members found, %u added", pass, found, N);
	}
	sfs_liveset_free(ls);
	free(all);
}

Test(liveset, many_runs_answer_exactly)
{
	exercise(64 * SFS_ID_LEN, true);
}

Test(liveset, one_buffer_writes_no_run)
{
	exercise(4 * N * SFS_ID_LEN, false);
}

Test(liveset, spool_reads_back_what_was_written)
{
	FILE *f = sfs_spool_new();
	uint64_t v;

	cr_assert(f);
	for (v = 0; v < 100000; v++)
		cr_assert_eq(fwrite(&v, sizeof(v), 1, f), 1);
	cr_assert_eq(fseeko(f, 0, SEEK_SET), 0);
	for (uint64_t i = 0; i < 100000; i++) {
		cr_assert_eq(fread(&v, sizeof(v), 1, f), 1);
		cr_assert_eq(v, i);
	}
	cr_expect_eq(fread(&v, sizeof(v), 1, f), 0);
	fclose(f);
}

/* A record led by a big-endian key, as check's entries in pack order are. */
struct keyed {
	uint8_t key[8];
	uint32_t payload[5];
};

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Records of another size come back in key order, whole, each once, with
 * a buffer far smaller than what was added (many runs) and with none. */
static void records(size_t mem, bool expect_runs)
{
	struct sfs_liveset *ls;
	struct keyed r, got;
	uint64_t last = 0, n = 0;

	cr_assert_eq(sfs_recset_new(mem, sizeof(struct keyed), &ls), 0);
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t v = 0; v < N; v++) {
			/* Keys in a scrambled order; the payload follows the key. */
			uint64_t k = ((uint64_t)v * 7919u) % N;

			memset(&r, 0, sizeof(r));
			put_be64(r.key, k << 20);
			for (int i = 0; i < 5; i++)
				r.payload[i] = (uint32_t)k * 31u + (uint32_t)i;
			cr_assert_eq(sfs_recset_add(ls, &r), 0);
		}
	cr_assert_eq(sfs_liveset_seal(ls), 0);
	if (expect_runs)
		cr_expect_gt(sfs_liveset_runs(ls), 10);
	else
		cr_expect_eq(sfs_liveset_runs(ls), 0);
	for (int rc; (rc = sfs_recset_next(ls, &got)) != 0; n++) {
		uint64_t k = 0;

		cr_assert_eq(rc, 1);
		for (int i = 0; i < 8; i++)
			k = k << 8 | got.key[i];
		cr_assert_eq(k >> 20, n, "record %llu has key %llu", (unsigned long long)n,
			     (unsigned long long)(k >> 20));
		cr_assert(n == 0 || k > last);
		for (int i = 0; i < 5; i++)
			cr_assert_eq(got.payload[i], (uint32_t)(k >> 20) * 31u + (uint32_t)i);
		last = k;
	}
	cr_expect_eq(n, N, "each record once: %llu", (unsigned long long)n);
	sfs_liveset_free(ls);
}

Test(liveset, records_come_back_in_key_order_across_runs)
{
	records(64 * sizeof(struct keyed), true);
}

Test(liveset, records_in_one_buffer)
{
	records(4 * N * sizeof(struct keyed), false);
}
