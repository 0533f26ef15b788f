// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the strict number parsers (sfs_parse_u64, _uint,
 * _size, _duration): every number a user types goes through them. Beyond
 * "no crash", it checks their promises against a slow reference: what
 * parses is only digits (decimal, or hex after 0x), its value is the one
 * strtoull gives in that base (so a leading zero never means octal), an
 * overflow is -ERANGE, sizes stay within SFS_SIZE_MAX and durations within
 * their bound, and a failed parse leaves the outputs alone.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: is s[0..len) one well-formed number, and in which base? */
static unsigned shape(const char *s, size_t len, size_t *ret_digits_at)
{
	size_t i = 0;
	unsigned base = 10;

	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	*ret_digits_at = i;
	if (i == len)
		return 0;
	for (; i < len; i++)
		if (base == 16 ? !isxdigit((unsigned char)s[i]) : !isdigit((unsigned char)s[i]))
			return 0;
	return base;
}

static void check_u64(const char *s, size_t len)
{
	size_t at;
	unsigned base = shape(s, len, &at);
	uint64_t v = 42;
	const char *end = NULL;
	int r = sfs_parse_u64(s, NULL, &v);

	if (!base) {
		if (r != -EINVAL || v != 42)
			abort();
	} else {
		char *e;
		unsigned long long ref;

		errno = 0;
		ref = strtoull(s + at, &e, (int)base);
		if (errno == ERANGE ? r != -ERANGE : (r != 0 || v != ref))
			abort();
	}

	/* With an end pointer: the number is the longest prefix of that shape. */
	v = 42;
	r = sfs_parse_u64(s, &end, &v);
	if (r == 0) {
		if (!end || end < s || end > s + len || !shape(s, (size_t)(end - s), &at))
			abort();
		if (isxdigit((unsigned char)*end) && (shape(s, (size_t)(end - s), &at) == 16 ||
						      isdigit((unsigned char)*end)))
			abort();
	} else if ((r != -EINVAL && r != -ERANGE) || v != 42) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t v = 42, max;
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* An embedded NUL ends the string as it would in argv. */
	check_u64(s, strlen(s));

	r = sfs_parse_uint(s, 10, 1000, &v);
	if (r == 0 ? v < 10 || v > 1000 : (r != -EINVAL && r != -ERANGE) || v != 42)
		abort();

	v = 42;
	r = sfs_parse_size(s, &v);
	if (r == 0 ? v > SFS_SIZE_MAX : (r != -EINVAL && r != -ERANGE) || v != 42)
		abort();

	v = 42;
	max = size ? (uint64_t)data[0] << 24 : 0;
	r = sfs_parse_duration(s, max, &v);
	if (r == 0 ? v == 0 || v > max || v % 60 : (r != -EINVAL && r != -ERANGE) || v != 42)
		abort();
	free(s);
	return 0;
}
