// SPDX-License-Identifier: MIT
/*
 * Parsing of changed-ranges files: the list of byte ranges that changed
 * since a volume's previous snapshot, as a change-block-tracking tool or a
 * hypervisor reports them. Two forms are accepted: lines of "OFFSET
 * LENGTH" (decimal, leading zeros included, or 0x hex; '#' comments), or
 * a JSON list of [offset, length] pairs or {"offset":..,"length":..}
 * objects. Ranges are sorted and merged; nothing else about them is
 * assumed.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/ingest.h"
#include "snapfs/parse.h"

struct rlist {
	uint64_t *v;
	size_t n, cap;
};

static int add(struct rlist *l, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint64_t *v = realloc(l->v, cap * 2 * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[2 * l->n] = off;
	l->v[2 * l->n + 1] = len;
	l->n++;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_json(const char *text, size_t len, struct rlist *l, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, 0, &je), *e;
	size_t i;
	int r = 0;

	if (!root) {
		snprintf(err, errlen, "not valid JSON (line %d: %s)", je.line, je.text);
		return -EINVAL;
	}
	if (!json_is_array(root)) {
		snprintf(err, errlen, "JSON ranges must be a list");
		r = -EINVAL;
		goto out;
	}
	json_array_foreach(root, i, e) {
		json_t *o, *n;

		if (json_is_array(e) && json_array_size(e) == 2) {
			o = json_array_get(e, 0);
			n = json_array_get(e, 1);
		} else if (json_is_object(e)) {
			o = json_object_get(e, "offset");
			n = json_object_get(e, "length");
		} else {
			o = n = NULL;
		}
		if (!json_is_integer(o) || !json_is_integer(n) || json_integer_value(o) < 0 ||
		    json_integer_value(n) < 0) {
			snprintf(err, errlen,
				 "entry %zu: expected [offset, length] or {\"offset\", \"length\"} "
				 "with non-negative integers",
				 i + 1);
			r = -EINVAL;
			goto out;
		}
		r = add(l, (uint64_t)json_integer_value(o), (uint64_t)json_integer_value(n));
		if (r < 0)
			goto out;
	}
out:
	json_decref(root);
	return r;
}

/* Decimal or 0x hex, never octal: "0131072" is byte 131072. */
static int parse_num(const char **p, uint64_t *ret)
{
	return sfs_parse_u64(*p, p, ret);
}

static int parse_lines(const char *text, size_t len, struct rlist *l, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	unsigned line = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		char buf[128];
		const char *q;
		uint64_t off, n;
		size_t ll;
		int r;

		if (!eol)
			eol = end;
		line++;
		ll = (size_t)(eol - p);
		if (ll >= sizeof(buf)) {
			snprintf(err, errlen, "line %u: too long", line);
			return -EINVAL;
		}
		memcpy(buf, p, ll);
		buf[ll] = '\0';
		p = eol + 1;
		q = buf;
		while (isspace((unsigned char)*q))
			q++;
		if (*q == '\0' || *q == '#')
			continue;
		r = parse_num(&q, &off);
		if (r == 0) {
			while (*q == ' ' || *q == '\t' || *q == ',')
				q++;
			r = parse_num(&q, &n);
		}
		while (r == 0 && isspace((unsigned char)*q))
			q++;
		if (r == -ERANGE) {
			snprintf(err, errlen, "line %u: number does not fit in 64 bits", line);
			return -EINVAL;
		}
		if (r < 0 || (*q && *q != '#')) {
			snprintf(err, errlen, "line %u: expected \"OFFSET LENGTH\" in bytes", line);
			return -EINVAL;
		}
		if (off + n < off) {
			snprintf(err, errlen, "line %u: range overflows", line);
			return -EINVAL;
		}
		r = add(l, off, n);
		if (r < 0)
			return r;
	}
	return 0;
}

int sfs_ranges_parse(const char *text, size_t len, uint64_t **ret, size_t *ret_n, char *err,
		     size_t errlen)
{
	struct rlist l = { 0 };
	size_t i = 0, out = 0;
	int r;

	while (i < len && isspace((unsigned char)text[i]))
		i++;
	if (i < len && text[i] == '[')
		r = parse_json(text, len, &l, err, errlen);
	else
		r = parse_lines(text, len, &l, err, errlen);
	if (r < 0) {
		free(l.v);
		return r;
	}
	if (l.n)
		qsort(l.v, l.n, 2 * sizeof(uint64_t), cmp_range);
	for (i = 0; i < l.n; i++) {
		uint64_t off = l.v[2 * i], n = l.v[2 * i + 1];
		if (out && l.v[2 * (out - 1)] + l.v[2 * (out - 1) + 1] >= off) {
			uint64_t e = off + n, pe = l.v[2 * (out - 1)] + l.v[2 * (out - 1) + 1];
			l.v[2 * (out - 1) + 1] = (e > pe ? e : pe) - l.v[2 * (out - 1)];
		} else {
			l.v[2 * out] = off;
			l.v[2 * out + 1] = n;
			out++;
		}
	}
	*ret = l.v;
	*ret_n = out;
	return 0;
}
