// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for sfs_map_page_decode: map pages come from packs and
 * are untrusted. A page that decodes must be exactly as long as its count
 * says, hold at most a fanout of ids and end in a non-zero id; walking
 * every id it hands out must stay inside the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/blockmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sfs_map_page p;
	uint8_t *copy = malloc(size ? size : 1);
	unsigned acc = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (sfs_map_page_decode(copy, size, &p) == 0) {
		if (p.count == 0 || p.count > SFS_MAP_FANOUT)
			abort();
		if (size != SFS_MAP_HEADER_LEN + (size_t)p.count * SFS_ID_LEN)
			abort();
		if (sfs_id_is_zero(&p.ids[p.count - 1]))
			abort();
		if (p.level >= SFS_MAP_MAX_DEPTH)
			abort();
		for (uint32_t i = 0; i < p.count; i++)
			acc += p.ids[i].b[0] + p.ids[i].b[SFS_ID_LEN - 1];
		/* Lookups of any block through this page stay in bounds. */
		for (uint64_t block = 0; block < 4096; block += 97) {
			uint32_t slot = sfs_map_slot(block, p.level);
			if (slot < p.count)
				acc += p.ids[slot].b[1];
		}
	}
	free(copy);
	return (int)(acc & 0);
}
