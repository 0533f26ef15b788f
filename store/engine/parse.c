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
#include <time.h>

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

/* n decimal digits at p, or -1. */
static int fixed_digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int sfs_parse_time(const char *text, bool date_only_ok, int64_t *ret)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm = { 0 };
	size_t len = 0;
	int y, mo, d, h = 0, mi = 0, sec = 0;

	while (text && text[len])
		len++;
	if (len && text[len - 1] == 'Z' && len != 11)
		len--;
	if (!(len == 10 && date_only_ok) && len != 16 && len != 19)
		return -EINVAL;
	if (text[4] != '-' || text[7] != '-' || (len > 10 && text[10] != 'T') ||
	    (len > 10 && text[13] != ':') || (len == 19 && text[16] != ':'))
		return -EINVAL;
	y = fixed_digits(text, 4);
	mo = fixed_digits(text + 5, 2);
	d = fixed_digits(text + 8, 2);
	if (len > 10) {
		h = fixed_digits(text + 11, 2);
		mi = fixed_digits(text + 14, 2);
	}
	if (len == 19)
		sec = fixed_digits(text + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ret = (int64_t)timegm(&tm);
	return 0;
}
