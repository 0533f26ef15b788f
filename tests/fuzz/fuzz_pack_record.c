// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the pack decoders: the pack header and the record
 * header, fed the same untrusted bytes a damaged pack would hold. Whatever
 * decodes must satisfy the bounds the decoders promise and re-encode to
 * the same bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/chunk.h"
#include "snapfs/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sfs_rec_header h;
	uint64_t number;
	uint8_t *copy;

	/* An exact-size heap copy, so ASan catches any read past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);

	if (sfs_pack_header_decode(copy, size, &number) == 0) {
		uint8_t again[SFS_PACK_HEADER_LEN];
		sfs_pack_header_encode(number, again);
		if (memcmp(again, copy, SFS_PACK_HEADER_LEN) != 0)
			abort();
	}
	if (sfs_rec_header_decode(copy, size, &h) == 0) {
		uint8_t again[SFS_REC_HEADER_LEN];

		if (h.type != SFS_CHUNK_DATA && h.type != SFS_CHUNK_MAP)
			abort();
		if (h.raw_len == 0 || h.raw_len > SFS_BLOCK_MAX)
			abort();
		{
			/* A sealed record (encrypted store) holds a nonce and a tag
			 * around what an unsealed one would hold. */
			bool sealed = h.comp & SFS_COMP_SEALED;
			bool summed = h.comp & SFS_COMP_SUMMED;
			uint8_t inner = h.comp & SFS_COMP_MASK;
			uint32_t body;

			if ((sealed && summed) || (sealed && h.stored_len <= SFS_SEAL_OVERHEAD) ||
			    (summed && h.stored_len <= SFS_SUM_LEN))
				abort();
			body = sealed ? h.stored_len - SFS_SEAL_OVERHEAD
				      : summed ? h.stored_len - SFS_SUM_LEN : h.stored_len;
			if (inner == SFS_COMP_NONE ? body != h.raw_len
						   : (inner != SFS_COMP_ZSTD || body == 0 ||
						      body >= h.raw_len))
				abort();
		}
		sfs_rec_header_encode(&h, again);
		if (memcmp(again, copy, SFS_REC_HEADER_LEN) != 0)
			abort();
	}
	/* The record's payload, if any follows, through the codec: whatever
	 * the bytes, it decompresses into exactly raw_len bytes or fails. */
	if (size > SFS_REC_HEADER_LEN && sfs_rec_header_decode(copy, size, &h) == 0 &&
	    !(h.comp & (SFS_COMP_SEALED | SFS_COMP_SUMMED)) &&
	    size - SFS_REC_HEADER_LEN >= h.stored_len &&
	    h.raw_len <= (1u << 16)) {
		static struct sfs_codec *codec;
		uint8_t *out = malloc(h.raw_len);
		if (!codec)
			codec = sfs_codec_new(1);
		if (out && codec)
			(void)sfs_codec_decompress(codec, h.comp, copy + SFS_REC_HEADER_LEN,
						   h.stored_len, out, h.raw_len);
		free(out);
	}
	free(copy);
	return 0;
}
