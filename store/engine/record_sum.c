// SPDX-License-Identifier: MIT
/*
 * A JSON record's own check, "sum": the first 8 bytes, in hex, of the
 * SHA-256 of its compact, key-sorted JSON without "sum" (store/FORMAT.md).
 * The writer dumps the record twice in one call, without the sum and with
 * it, and jansson writes the members of a sorted object in the same order
 * either way: so the stored bytes are the summed bytes with one top-level
 * member added. Checking a record therefore needs no JSON tree: find that
 * member, hash the bytes around it. Bytes that do not verify that way (a
 * record written by other means, or damaged) go through the tree path,
 * parse and dump again, which is what decides; the byte path only spares
 * it for records that are exactly as written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/catalog.h"
#include "snapfs/chunk.h"
#include "store_int.h"

#define SUM_KEY "sum"
#define SUM_HEX 16
#define SUM_MEMBER "\"" SUM_KEY "\":\""
#define SUM_MEMBER_LEN (sizeof(SUM_MEMBER) - 1 + SUM_HEX + 1) /* "sum":"<16 hex>" */

static void sum_of(const void *buf, size_t len, char out[SUM_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	struct sfs_id h;

	sfs_chunk_hash(buf, len, &h);
	for (int i = 0; i < SUM_HEX / 2; i++) {
		out[2 * i] = hex[h.b[i] >> 4];
		out[2 * i + 1] = hex[h.b[i] & 15];
	}
	out[SUM_HEX] = '\0';
}

static int record_sum(json_t *o, char out[SUM_HEX + 1])
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		return -ENOMEM;
	sum_of(s, strlen(s), out);
	free(s);
	return 0;
}

char *sfs_record_dumps(json_t *o, int version)
{
	char sum[SUM_HEX + 1];
	char *s = NULL;

	if (!o)
		return NULL;
	json_object_del(o, SUM_KEY);
	json_object_set_new(o, "v", json_integer(version));
	if (record_sum(o, sum) == 0 && json_object_set_new(o, SUM_KEY, json_string(sum)) == 0)
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* The index just past the string that opens at p[i] (a '"'), or 0 when
 * it does not end. Whole strings are skipped with memchr: a quote ends
 * one unless an odd run of backslashes comes before it. */
static size_t string_end(const char *p, size_t len, size_t i)
{
	for (size_t at = i + 1;;) {
		const char *q = memchr(p + at, '"', len - at);
		size_t bs = 0;

		if (!q)
			return 0;
		at = (size_t)(q - p);
		while (at - bs > i + 1 && p[at - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return at + 1;
		at++;
	}
}

/*
 * The byte path: true when buf is a compact object whose top-level members
 * include "v":version and "sum":"<16 hex>", and the SHA-256 of the bytes
 * without that sum member (and its comma) starts with it. False says
 * nothing either way: the caller takes the tree path.
 */
bool sfs_record_bytes_verified(const void *buf, size_t len, int version)
{
	const char *p = buf;
	char want[SUM_HEX + 1], stack[2048];
	const char *sum = NULL;
	size_t depth = 0, cut, cut_len, end;
	bool v_ok = false, ok;
	char *joined;

	if (len < 2 || p[0] != '{' || p[len - 1] != '}' || version < 0 || version > 9)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (c == '"') {
			end = string_end(p, len, i);
			if (!end)
				return false;
			/* A key of the record itself: just after its '{' or a ','. */
			if (depth == 1 && (p[i - 1] == '{' || p[i - 1] == ',') && end + 1 < len &&
			    p[end] == ':') {
				if (end - i == 5 && p[i + 1] == 's' && len - i > SUM_MEMBER_LEN &&
				    !memcmp(p + i, SUM_MEMBER, sizeof(SUM_MEMBER) - 1) &&
				    is_hex(p + i + sizeof(SUM_MEMBER) - 1, SUM_HEX) &&
				    p[i + SUM_MEMBER_LEN - 1] == '"' &&
				    (p[i + SUM_MEMBER_LEN] == ',' || p[i + SUM_MEMBER_LEN] == '}')) {
					if (sum)
						return false; /* twice: the tree path rejects it */
					sum = p + i;
				} else if (end - i == 3 && p[i + 1] == 'v' &&
					   p[end + 1] == '0' + version &&
					   (p[end + 2] == ',' || p[end + 2] == '}')) {
					v_ok = true;
				}
			}
			i = end - 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return false;
			depth--;
		}
	}
	if (!sum || !v_ok || depth != 0)
		return false;
	/* The member goes with the comma before it, or, first of all, the
	 * one after it. */
	cut = (size_t)(sum - p);
	cut_len = SUM_MEMBER_LEN;
	if (p[cut - 1] == ',') {
		cut--;
		cut_len++;
	} else if (p[cut + cut_len] == ',') {
		cut_len++;
	}
	joined = len - cut_len <= sizeof(stack) ? stack : malloc(len - cut_len);
	if (!joined)
		return false;
	memcpy(joined, p, cut);
	memcpy(joined + cut, p + cut + cut_len, len - cut - cut_len);
	sum_of(joined, len - cut_len, want);
	ok = !memcmp(want, sum + sizeof(SUM_MEMBER) - 1, SUM_HEX);
	if (joined != stack)
		free(joined);
	return ok;
}

json_t *sfs_record_loads(const void *buf, size_t len, int version, bool *ret_unsummed)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *v = json_object_get(o, "v"), *sum;
	char want[SUM_HEX + 1];
	const char *got;

	if (ret_unsummed)
		*ret_unsummed = false;
	if (!json_is_object(o) || !json_is_integer(v) || json_integer_value(v) != version)
		goto bad;
	if (sfs_record_bytes_verified(buf, len, version))
		return o;
	sum = json_object_get(o, SUM_KEY);
	if (!sum) {
		/* Written before records carried a sum: nothing to verify. */
		if (ret_unsummed)
			*ret_unsummed = true;
		return o;
	}
	got = json_string_value(sum);
	if (!got || strlen(got) != SUM_HEX)
		goto bad;
	json_incref(sum); /* keeps got alive while the key is out */
	json_object_del(o, SUM_KEY);
	if (record_sum(o, want) < 0 || memcmp(want, got, SUM_HEX) != 0) {
		json_decref(sum);
		goto bad;
	}
	json_object_set_new(o, SUM_KEY, sum);
	return o;
bad:
	json_decref(o);
	return NULL;
}

bool sfs_record_check(const void *buf, size_t len, int version)
{
	json_t *o;

	if (sfs_record_bytes_verified(buf, len, version))
		return true;
	o = sfs_record_loads(buf, len, version, NULL);
	json_decref(o);
	return o != NULL;
}
