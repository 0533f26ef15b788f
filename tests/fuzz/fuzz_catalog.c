// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the catalog decoders: chunk locations (binary) and
 * volume, snapshot and image records (JSON), as a damaged LMDB file could
 * hand them over. Whatever decodes must hold the documented bounds and survive
 * an encode/decode round trip unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/catalog.h"
#include "snapfs/image.h"

static void check_image(const uint8_t *buf, size_t size)
{
	struct sfs_image img, img2;
	char *s;

	if (sfs_image_decode(buf, size, &img) != 0)
		return;
	if (!sfs_name_valid(img.name) || img.ndevices == 0 ||
	    img.ndevices > SFS_IMAGE_MAX_DEVICES)
		abort();
	for (size_t i = 0; i < img.ndevices; i++)
		if (img.devices[i].size == 0 || img.devices[i].size > SFS_IMAGE_DEVICE_SIZE_MAX ||
		    !sfs_devname_valid(img.devices[i].device))
			abort();
	s = sfs_image_encode(&img);
	if (!s)
		abort();
	if (sfs_image_decode(s, strlen(s), &img2) != 0)
		abort();
	if (strcmp(img.name, img2.name) || strcmp(img.id, img2.id) ||
	    img.ndevices != img2.ndevices || img.created != img2.created)
		abort();
	for (size_t i = 0; i < img.ndevices; i++)
		if (img.devices[i].size != img2.devices[i].size)
			abort();
	free(s);
	sfs_image_release(&img);
	sfs_image_release(&img2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_loc(const uint8_t *buf, size_t size)
{
	struct sfs_chunk_loc l, l2;
	uint8_t again[SFS_LOC_VALUE_LEN];

	if (sfs_loc_decode(buf, size, &l) != 0)
		return;
	/* A sealed record (an encrypted store's) holds a nonce and a tag
	 * around what an unsealed one would. */
	if (l.raw_len == 0 || l.raw_len > SFS_BLOCK_MAX || l.stored_len == 0 ||
	    l.offset < SFS_PACK_HEADER_LEN || l.pack == 0)
		abort();
	if ((l.comp & SFS_COMP_SEALED) ? l.stored_len <= SFS_SEAL_OVERHEAD ||
						 l.stored_len - SFS_SEAL_OVERHEAD > l.raw_len
	    : (l.comp & SFS_COMP_SUMMED) ? l.stored_len <= SFS_SUM_LEN ||
						 l.stored_len - SFS_SUM_LEN > l.raw_len
				       : l.stored_len > l.raw_len)
		abort();
	sfs_loc_encode(&l, again);
	if (memcmp(again, buf, SFS_LOC_VALUE_LEN) != 0)
		abort();
	if (sfs_loc_decode(again, sizeof(again), &l2) != 0)
		abort();
}

static void check_volume(const uint8_t *buf, size_t size)
{
	struct sfs_volume v, v2;
	char *s;

	if (sfs_volume_decode(buf, size, &v) != 0)
		return;
	if (!sfs_name_valid(v.name) || !sfs_idstr_valid(v.id, "vol-"))
		abort();
	s = sfs_volume_encode(&v);
	if (!s)
		abort();
	if (sfs_volume_decode(s, strlen(s), &v2) != 0)
		abort();
	if (strcmp(v.name, v2.name) || strcmp(v.id, v2.id) || v.size != v2.size ||
	    v.created != v2.created || !json_equal(v.tags, v2.tags))
		abort();
	free(s);
	sfs_volume_release(&v);
	sfs_volume_release(&v2);
}

static void check_snapshot(const uint8_t *buf, size_t size)
{
	struct sfs_snapshot sn, sn2;
	char *s;

	if (sfs_snapshot_decode(buf, size, &sn) != 0)
		return;
	if (!sfs_idstr_valid(sn.id, "snap-") || !sfs_name_valid(sn.volume) ||
	    sn.block_size < SFS_BLOCK_MIN || sn.block_size > SFS_BLOCK_MAX ||
	    (sn.block_size & (sn.block_size - 1)) || sn.data_bytes > sn.size)
		abort();
	s = sfs_snapshot_encode(&sn);
	if (!s)
		abort();
	if (sfs_snapshot_decode(s, strlen(s), &sn2) != 0)
		abort();
	if (strcmp(sn.id, sn2.id) || strcmp(sn.volume, sn2.volume) ||
	    strcmp(sn.parent, sn2.parent) || sn.state != sn2.state || sn.seq != sn2.seq ||
	    sn.size != sn2.size || sn.depth != sn2.depth ||
	    memcmp(sn.root.b, sn2.root.b, SFS_ID_LEN) || !json_equal(sn.tags, sn2.tags))
		abort();
	free(s);
	sfs_snapshot_release(&sn);
	sfs_snapshot_release(&sn2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	check_loc(copy, size);
	check_volume(copy, size);
	check_snapshot(copy, size);
	check_image(copy, size);
	free(copy);
	return 0;
}
