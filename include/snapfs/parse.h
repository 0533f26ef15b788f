/* SPDX-License-Identifier: MIT */
/*
 * Strict parsers for numbers that users type: offsets in changed-ranges
 * files, sizes, counts, durations. strtoull and friends accept signs,
 * leading blanks and, with base 0, read "0131072" as octal; each of those
 * once turned a typo into silently wrong bytes. Every number that enters
 * snapfs from a user goes through these instead, so that one set of rules
 * holds everywhere: decimal (leading zeros are still decimal) or 0x/0X hex,
 * at least one digit, no sign, no blanks, and a value that does not fit is
 * an error, never a wrapped or clamped one. No function here keeps state or
 * allocates; all are safe from any thread.
 */
#ifndef SNAPFS_PARSE_H
#define SNAPFS_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* The largest size sfs_parse_size accepts (4 EiB): far beyond any volume,
 * and small enough that a size still fits a signed 64-bit JSON integer
 * after being rounded up to a block. */
#define SFS_SIZE_MAX (UINT64_C(1) << 62)

/*
 * Parses an unsigned number at s. Without ret_end the whole string must be
 * the number; with it, parsing stops at the first character that cannot
 * continue the number and *ret_end points there (the caller judges what
 * follows). Errors: -EINVAL no digits (empty, a sign, a blank, "0x" alone),
 * or trailing text without ret_end; -ERANGE the value exceeds UINT64_MAX.
 * *ret and *ret_end are only written on success.
 */
int sfs_parse_u64(const char *s, const char **ret_end, uint64_t *ret);

/* The whole string as a number in [min, max]. -EINVAL as above, -ERANGE
 * out of bounds. */
int sfs_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/*
 * A size in bytes: a number, then optionally one binary unit K, M, G, T or
 * P (either case), itself optionally followed by "iB" ("8G", "8g", "8GiB").
 * Anything else after the number ("1gb", "1GB", "8 G", "1.5G") is -EINVAL:
 * a decimal "GB" is too easily mistaken for a binary one. -ERANGE when
 * the size exceeds SFS_SIZE_MAX or overflows when multiplied by its unit.
 */
int sfs_parse_size(const char *s, uint64_t *ret);

/*
 * A duration in seconds: a number and one unit, m (minutes), h, d or w
 * (either case): "90m", "12h", "30d", "8w". -EINVAL bad syntax or no unit,
 * -ERANGE zero or above max seconds.
 */
int sfs_parse_duration(const char *s, uint64_t max, uint64_t *ret);

/*
 * A UTC time as unix seconds: "YYYY-MM-DDTHH:MM", "YYYY-MM-DDTHH:MM:SS",
 * either with a trailing "Z", or, with date_only_ok, a bare "YYYY-MM-DD"
 * (midnight UTC that day). Fixed widths, digits only, a day that exists
 * in its month: strptime skips blanks and timegm rolls "02-31" into
 * March, so neither is used alone. -EINVAL otherwise.
 */
int sfs_parse_time(const char *s, bool date_only_ok, int64_t *ret);

#endif
