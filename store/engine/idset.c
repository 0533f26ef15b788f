// SPDX-License-Identifier: MIT
/*
 * The id set behind mark-and-sweep: linear probing on the first 8 bytes of
 * the id, which SHA-256 already spreads uniformly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idset_int.h"

void sfs_idset_init(struct sfs_idset *s)
{
	memset(s, 0, sizeof(*s));
}

void sfs_idset_release(struct sfs_idset *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

static size_t home(const struct sfs_idset *s, const struct sfs_id *id)
{
	uint64_t h;

	memcpy(&h, id->b, sizeof(h));
	return (size_t)(h & (s->cap - 1));
}

static int grow(struct sfs_idset *s)
{
	struct sfs_idset n = { .cap = s->cap ? s->cap * 2 : 1024 };

	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (sfs_id_is_zero(&s->slots[i]))
			continue;
		size_t j = home(&n, &s->slots[i]);
		while (!sfs_id_is_zero(&n.slots[j]))
			j = (j + 1) & (n.cap - 1);
		n.slots[j] = s->slots[i];
		n.n++;
	}
	free(s->slots);
	*s = n;
	return 0;
}

int sfs_idset_add(struct sfs_idset *s, const struct sfs_id *id)
{
	size_t j;

	if (sfs_id_is_zero(id))
		return 0;
	if ((s->n + 1) * 4 > s->cap * 3) {
		int r = grow(s);
		if (r < 0)
			return r;
	}
	for (j = home(s, id); !sfs_id_is_zero(&s->slots[j]); j = (j + 1) & (s->cap - 1))
		if (!memcmp(s->slots[j].b, id->b, SFS_ID_LEN))
			return 0;
	s->slots[j] = *id;
	s->n++;
	return 1;
}

bool sfs_idset_has(const struct sfs_idset *s, const struct sfs_id *id)
{
	if (!s->cap || sfs_id_is_zero(id))
		return false;
	for (size_t j = home(s, id); !sfs_id_is_zero(&s->slots[j]); j = (j + 1) & (s->cap - 1))
		if (!memcmp(s->slots[j].b, id->b, SFS_ID_LEN))
			return true;
	return false;
}
