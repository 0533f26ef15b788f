// SPDX-License-Identifier: MIT
/*
 * A JSON record's own check (store/FORMAT.md): "xsum", 16 hex digits of
 * the XXH3-64 of its compact, key-sorted JSON without the sum, or, in
 * records written before it, "sum", the first 8 bytes of the SHA-256 of
 * the same. Both guard against damage, not deliberate change; XXH3 needs
 * no libcrypto, so a mount of a plain store never loads it. The writer
 * dumps the record twice in one call, without the sum and with it, and
 * jansson writes the members of a sorted object in the same order either
 * way: so the stored bytes are the summed bytes with one top-level member
 * added. Checking a record therefore needs no JSON tree: find that member,
 * hash the bytes around it. Bytes that do not verify that way (a record
 * written by other means, or damaged) go through the tree path, parse and
 * dump again, which is what decides; the byte path only spares it for
 * records that are exactly as written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "snapfs/catalog.h"
#include "snapfs/chunk.h"
#include "store_int.h"

#define SUM_HEX 16

/* The two kinds of sum, the newer first. A record with a "sum" was
 * written by a binary that knew only that kind, and what it summed may
 * include an "xsum" it carried over: "sum" decides when both are there. */
struct sum_kind {
	const char *key;
	void (*hash)(const void *buf, size_t len, char out[SUM_HEX + 1]);
};

static void to_hex(const uint8_t *b, char out[SUM_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < SUM_HEX / 2; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[SUM_HEX] = '\0';
}

static void xxh3_sum(const void *buf, size_t len, char out[SUM_HEX + 1])
{
	XXH64_canonical_t c;

	XXH64_canonicalFromHash(&c, XXH3_64bits(buf, len));
	to_hex(c.digest, out);
}

static void sha256_sum(const void *buf, size_t len, char out[SUM_HEX + 1])
{
	struct sfs_id h;

	sfs_chunk_hash(buf, len, &h);
	to_hex(h.b, out);
}

enum { KIND_XSUM, KIND_SUM, KINDS };
static const struct sum_kind kinds[KINDS] = {
	[KIND_XSUM] = { "xsum", xxh3_sum },
	[KIND_SUM] = { "sum", sha256_sum },
};

static int record_sum(json_t *o, const struct sum_kind *k, char out[SUM_HEX + 1])
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		return -ENOMEM;
	k->hash(s, strlen(s), out);
	free(s);
	return 0;
}

char *sfs_record_dumps(json_t *o, int version)
{
	char sum[SUM_HEX + 1];
	char *s = NULL;

	if (!o)
		return NULL;
	for (int i = 0; i < KINDS; i++)
		json_object_del(o, kinds[i].key);
	json_object_set_new(o, "v", json_integer(version));
	if (record_sum(o, &kinds[KIND_XSUM], sum) == 0 &&
	    json_object_set_new(o, kinds[KIND_XSUM].key, json_string(sum)) == 0)
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

/* The length of the top-level member of kind k that starts at p + i
 * ("key":"<16 hex>", followed by ',' or '}'), or 0 when there is none. */
static size_t sum_member_at(const char *p, size_t len, size_t i, const struct sum_kind *k)
{
	size_t kl = strlen(k->key), n = kl + 5 + SUM_HEX; /* "key":"<hex>" */

	if (len - i <= n || p[i + kl + 1] != '"' || memcmp(p + i + 1, k->key, kl) ||
	    memcmp(p + i + kl + 2, ":\"", 2) || !is_hex(p + i + kl + 4, SUM_HEX) ||
	    p[i + n - 1] != '"' || (p[i + n] != ',' && p[i + n] != '}'))
		return 0;
	return n;
}

/*
 * The byte path: true when buf is a compact object whose top-level members
 * include "v":version and a sum member of one kind (the older decides, see
 * kinds[]), and the hash of that kind of the bytes without the member (and
 * its comma) starts with it. False says nothing either way: the caller
 * takes the tree path.
 */
bool sfs_record_bytes_verified(const void *buf, size_t len, int version)
{
	const char *p = buf;
	char want[SUM_HEX + 1], stack[2048];
	const char *sum[KINDS] = { NULL };
	size_t sum_len[KINDS] = { 0 };
	size_t depth = 0, cut, cut_len, end;
	bool v_ok = false, ok;
	char *joined;
	int k;

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
				for (k = 0; k < KINDS; k++) {
					size_t n = sum_member_at(p, len, i, &kinds[k]);

					if (!n)
						continue;
					if (sum[k])
						return false; /* twice: the tree path rejects it */
					sum[k] = p + i;
					sum_len[k] = n;
				}
				if (end - i == 3 && p[i + 1] == 'v' && p[end + 1] == '0' + version &&
				    (p[end + 2] == ',' || p[end + 2] == '}'))
					v_ok = true;
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
	k = sum[KIND_SUM] ? KIND_SUM : KIND_XSUM;
	if (!sum[k] || !v_ok || depth != 0)
		return false;
	/* The member goes with the comma before it, or, first of all, the
	 * one after it. */
	cut = (size_t)(sum[k] - p);
	cut_len = sum_len[k];
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
	kinds[k].hash(joined, len - cut_len, want);
	ok = !memcmp(want, sum[k] + sum_len[k] - 1 - SUM_HEX, SUM_HEX);
	if (joined != stack)
		free(joined);
	return ok;
}

json_t *sfs_record_loads(const void *buf, size_t len, int version, bool *ret_unsummed)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *v = json_object_get(o, "v"), *sum = NULL;
	const struct sum_kind *k = NULL;
	char want[SUM_HEX + 1];
	const char *got;

	if (ret_unsummed)
		*ret_unsummed = false;
	if (!json_is_object(o) || !json_is_integer(v) || json_integer_value(v) != version)
		goto bad;
	if (sfs_record_bytes_verified(buf, len, version))
		return o;
	for (int i = KINDS - 1; i >= 0 && !sum; i--) {
		k = &kinds[i];
		sum = json_object_get(o, k->key);
	}
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
	json_object_del(o, k->key);
	if (record_sum(o, k, want) < 0 || memcmp(want, got, SUM_HEX) != 0) {
		json_decref(sum);
		goto bad;
	}
	json_object_set_new(o, k->key, sum);
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
