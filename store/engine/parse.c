// SPDX-License-Identifier: MIT
/*
 * The one parser of user-typed numbers (see include/snapfs/parse.h for
 * the rules and why they are strict), and its size and duration forms.
 * Written by hand rather than over strtoull because strtoull's
 * conveniences (blanks, signs, base prefixes, saturation on overflow) are
 * exactly what must be refused.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "snapfs/parse.h"

static int digit_value(char c, bool hex)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (hex && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (hex && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sfs_parse_u64(const char *s, const char **ret_end, uint64_t *ret)
{
	const char *p = s;
	unsigned base = 10;
	uint64_t v = 0;
	bool overflow = false;
	int d;

	if (!s)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (digit_value(*p, base == 16) < 0)
		return -EINVAL;
	for (; (d = digit_value(*p, base == 16)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			overflow = true;
		else
			v = v * base + (uint64_t)d;
	}
	if (!ret_end && *p)
		return -EINVAL;
	/* Consume all the digits first so that an overflowing number is
	 * -ERANGE whatever follows it. */
	if (overflow)
		return -ERANGE;
	if (ret_end)
		*ret_end = p;
	*ret = v;
	return 0;
}

int sfs_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v;
	int r = sfs_parse_u64(s, NULL, &v);

	if (r < 0)
		return r;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int sfs_parse_size(const char *s, uint64_t *ret)
{
	const char *p;
	unsigned shift = 0;
	uint64_t v;
	int r = sfs_parse_u64(s, &p, &v);

	if (r < 0)
		return r;
	switch (*p) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	case 'p': case 'P':
		shift = 50;
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		p++;
		if (p[0] == 'i' && p[1] == 'B')
			p += 2;
	}
	if (*p)
		return -EINVAL;
	if (v > SFS_SIZE_MAX >> shift)
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

int sfs_parse_duration(const char *s, uint64_t max, uint64_t *ret)
{
	const char *p;
	uint64_t v, unit;
	int r = sfs_parse_u64(s, &p, &v);

	if (r < 0)
		return r;
	switch (*p) {
	case 'm': case 'M':
		unit = 60;
		break;
	case 'h': case 'H':
		unit = 3600;
		break;
	case 'd': case 'D':
		unit = 86400;
		break;
	case 'w': case 'W':
		unit = 7 * 86400;
		break;
	default:
		return -EINVAL;
	}
	if (p[1])
		return -EINVAL;
	if (v == 0 || v > max / unit)
		return -ERANGE;
	*ret = v * unit;
	return 0;
}
