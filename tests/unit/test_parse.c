// SPDX-License-Identifier: MIT
/*
 * The strict number parsers: decimal with leading zeros stays decimal (a
 * changed-ranges offset "0131072" once became octal 45626), 0x hex, no
 * signs or blanks, overflow refused rather than wrapped or clamped, and
 * sizes bounded so that "8388608T" (2^63) can never reach a record.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "snapfs/parse.h"
#include "snapfs/policy.h"

static uint64_t u64_ok(const char *s)
{
	uint64_t v = 12345;

	cr_assert_eq(sfs_parse_u64(s, NULL, &v), 0, "'%s' should parse", s);
	return v;
}

Test(parse, decimal_with_leading_zeros_is_decimal)
{
	cr_expect_eq(u64_ok("0131072"), 131072);
	cr_expect_eq(u64_ok("0000"), 0);
	cr_expect_eq(u64_ok("0"), 0);
	cr_expect_eq(u64_ok("010"), 10);
	cr_expect_eq(u64_ok("09"), 9);
	cr_expect_eq(u64_ok("18446744073709551615"), UINT64_MAX);
	cr_expect_eq(u64_ok("000018446744073709551615"), UINT64_MAX);
}

Test(parse, hex)
{
	cr_expect_eq(u64_ok("0x20000"), 131072);
	cr_expect_eq(u64_ok("0X20000"), 131072);
	cr_expect_eq(u64_ok("0xAbCdEf"), 0xabcdef);
	cr_expect_eq(u64_ok("0x0"), 0);
	cr_expect_eq(u64_ok("0xffffffffffffffff"), UINT64_MAX);
	cr_expect_eq(u64_ok("0x000000000000000000ffffffffffffffff"), UINT64_MAX);
}

Test(parse, overflow_is_an_error)
{
	uint64_t v = 7;

	cr_expect_eq(sfs_parse_u64("18446744073709551616", NULL, &v), -ERANGE);
	cr_expect_eq(sfs_parse_u64("99999999999999999999999", NULL, &v), -ERANGE);
	cr_expect_eq(sfs_parse_u64("0x10000000000000000", NULL, &v), -ERANGE);
	cr_expect_eq(v, 7, "a failed parse leaves the output alone");
}

Test(parse, junk_is_an_error)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "+1", "-1", "- 1", "0x", "0X", "x10", "1x10", "0xg",
		"1e3", "1.0", "١", "0b101", "12abc", "0x12z", "\t5", "5\n",
	};
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sfs_parse_u64(bad[i], NULL, &v), -EINVAL, "'%s' must be refused",
			     bad[i]);
	cr_expect_eq(sfs_parse_u64(NULL, NULL, &v), -EINVAL);
	cr_expect_eq(v, 7);
}

Test(parse, end_pointer_stops_after_the_digits)
{
	const char *s = "0131072 16", *end = NULL;
	uint64_t v;

	cr_assert_eq(sfs_parse_u64(s, &end, &v), 0);
	cr_expect_eq(v, 131072);
	cr_expect_eq(end, s + 7);
	s = "0x10,5";
	cr_assert_eq(sfs_parse_u64(s, &end, &v), 0);
	cr_expect_eq(v, 16);
	cr_expect_eq(*end, ',');
	/* "0x" must be followed by a hex digit even when the caller takes
	 * the rest: "0xz" is not 0 followed by "xz". */
	cr_expect_eq(sfs_parse_u64("0xz", &end, &v), -EINVAL);
	cr_expect_eq(sfs_parse_u64(" 5", &end, &v), -EINVAL);
	cr_expect_eq(sfs_parse_u64("99999999999999999999 1", &end, &v), -ERANGE);
}

Test(parse, uint_bounds)
{
	uint64_t v = 0;

	cr_expect_eq(sfs_parse_uint("1", 1, 100, &v), 0);
	cr_expect_eq(v, 1);
	cr_expect_eq(sfs_parse_uint("0100", 1, 100, &v), 0);
	cr_expect_eq(v, 100);
	cr_expect_eq(sfs_parse_uint("0x64", 1, 100, &v), 0);
	cr_expect_eq(v, 100);
	cr_expect_eq(sfs_parse_uint("0", 1, 100, &v), -ERANGE);
	cr_expect_eq(sfs_parse_uint("101", 1, 100, &v), -ERANGE);
	cr_expect_eq(sfs_parse_uint("-1", 1, 100, &v), -EINVAL);
	cr_expect_eq(sfs_parse_uint("5%", 1, 100, &v), -EINVAL);
}

Test(parse, sizes_with_every_suffix)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "064K", 64u << 10 },
		{ "0x10K", 16u << 10 },
		{ "1k", 1u << 10 },
		{ "1K", 1u << 10 },
		{ "1KiB", 1u << 10 },
		{ "3m", 3ull << 20 },
		{ "3M", 3ull << 20 },
		{ "3MiB", 3ull << 20 },
		{ "8g", 8ull << 30 },
		{ "8G", 8ull << 30 },
		{ "8GiB", 8ull << 30 },
		{ "2t", 2ull << 40 },
		{ "2T", 2ull << 40 },
		{ "2TiB", 2ull << 40 },
		{ "5p", 5ull << 50 },
		{ "5P", 5ull << 50 },
		{ "5PiB", 5ull << 50 },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		cr_expect_eq(sfs_parse_size(ok[i].s, &v), 0, "'%s' should parse", ok[i].s);
		cr_expect_eq(v, ok[i].v, "'%s' gave %llu", ok[i].s, (unsigned long long)v);
	}
}

Test(parse, size_garbage_suffixes_are_refused)
{
	static const char *const bad[] = {
		"1gb", "1GB", "1Gb", "1B", "1b", "1Gi", "1GiBB", "1Gib", "1KK", "1E", "1x",
		"8 G", " 8G", "8G ", "1.5G", "-1G", "+1G", "G", "", "0xG", "1iB",
	};
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sfs_parse_size(bad[i], &v), -EINVAL, "'%s' must be refused",
			     bad[i]);
	cr_expect_eq(v, 7);
}

Test(parse, size_bounds)
{
	uint64_t v = 7;

	/* 2^62 exactly, in every unit, is the largest size. */
	cr_expect_eq(sfs_parse_size("4611686018427387904", &v), 0);
	cr_expect_eq(v, SFS_SIZE_MAX);
	cr_expect_eq(sfs_parse_size("4194304T", &v), 0);
	cr_expect_eq(v, SFS_SIZE_MAX);
	cr_expect_eq(sfs_parse_size("4096P", &v), 0);
	cr_expect_eq(v, SFS_SIZE_MAX);
	v = 7;
	cr_expect_eq(sfs_parse_size("4611686018427387905", &v), -ERANGE);
	cr_expect_eq(sfs_parse_size("4194305T", &v), -ERANGE);
	cr_expect_eq(sfs_parse_size("4097P", &v), -ERANGE);
	/* 2^63: the size that broke every image record. */
	cr_expect_eq(sfs_parse_size("8388608T", &v), -ERANGE);
	/* Multiplied by its unit it would wrap to a small number. */
	cr_expect_eq(sfs_parse_size("16777216T", &v), -ERANGE);
	cr_expect_eq(sfs_parse_size("18446744073709551615K", &v), -ERANGE);
	cr_expect_eq(sfs_parse_size("18446744073709551616", &v), -ERANGE);
	cr_expect_eq(v, 7);
}

Test(parse, durations)
{
	uint64_t v = 0;

	cr_expect_eq(sfs_parse_duration("90m", 1u << 30, &v), 0);
	cr_expect_eq(v, 5400);
	cr_expect_eq(sfs_parse_duration("012h", 1u << 30, &v), 0);
	cr_expect_eq(v, 12 * 3600);
	cr_expect_eq(sfs_parse_duration("30D", 1u << 30, &v), 0);
	cr_expect_eq(v, 30 * 86400);
	cr_expect_eq(sfs_parse_duration("2w", 1u << 30, &v), 0);
	cr_expect_eq(v, 14 * 86400);
	cr_expect_eq(sfs_parse_duration("0h", 1u << 30, &v), -ERANGE);
	cr_expect_eq(sfs_parse_duration("2w", 86400, &v), -ERANGE);
	cr_expect_eq(sfs_parse_duration("18446744073709551615w", UINT64_MAX, &v), -ERANGE);
	cr_expect_eq(sfs_parse_duration("12", 1u << 30, &v), -EINVAL);
	cr_expect_eq(sfs_parse_duration("12hh", 1u << 30, &v), -EINVAL);
	cr_expect_eq(sfs_parse_duration("12s", 1u << 30, &v), -EINVAL);
	cr_expect_eq(sfs_parse_duration("-1h", 1u << 30, &v), -EINVAL);
}

/* The parsers built on these: schedules, ages and timestamps. */
Test(parse, schedules_and_times_are_strict)
{
	struct sfs_sched s;
	char err[256];
	int64_t t;

	cr_expect_eq(sfs_sched_parse("daily -0:05", &s, err, sizeof(err)), -EINVAL);
	cr_expect_eq(sfs_sched_parse("daily 5:07", &s, err, sizeof(err)), -EINVAL);
	cr_expect_eq(sfs_sched_parse("daily 05:07", &s, err, sizeof(err)), 0);
	cr_expect_eq(sfs_sched_parse("1/9223372036854775807 * * * *", &s, err, sizeof(err)),
		     -EINVAL);
	cr_expect_eq(sfs_sched_parse("*/99999999999999999999 * * * *", &s, err, sizeof(err)),
		     -EINVAL);
	cr_expect_eq(sfs_sched_parse("*/15 * * * *", &s, err, sizeof(err)), 0);
	cr_expect_eq(s.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
	cr_expect_eq(sfs_sched_parse("05 * * * *", &s, err, sizeof(err)), 0);
	cr_expect_eq(s.minutes, 1ull << 5);
	cr_expect_eq(sfs_sched_parse("every +2h", &s, err, sizeof(err)), -EINVAL);
	cr_expect_eq(sfs_sched_parse("every 02h", &s, err, sizeof(err)), 0);
	cr_expect_eq(s.interval, 7200);
	cr_expect_eq(sfs_sched_parse("monthly +5 03:00", &s, err, sizeof(err)), -EINVAL);
	cr_expect_eq(sfs_sched_parse("monthly 05 03:00", &s, err, sizeof(err)), 0);

	cr_expect_eq(sfs_age_parse("+30d", &t), -EINVAL);
	cr_expect_eq(sfs_age_parse("90m", &t), 0);
	cr_expect_eq(t, 5400);
	cr_expect_eq(sfs_time_parse("2026-02-31T03:00Z", &t), -EINVAL);
	cr_expect_eq(sfs_time_parse("2026- 1-01T03:00Z", &t), -EINVAL);
	cr_expect_eq(sfs_time_parse("+2026-01-01T03:00Z", &t), -EINVAL);
	cr_expect_eq(sfs_time_parse("2026-01-01T24:00Z", &t), -EINVAL);
	cr_expect_eq(sfs_time_parse("2024-02-29T00:00:00Z", &t), 0);
	cr_expect_eq(t, 1709164800);
	cr_expect_eq(sfs_time_parse("2026-01-01T03:00", &t), 0);
	cr_expect_eq(t, 1767236400);
}
