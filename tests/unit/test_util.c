// SPDX-License-Identifier: MIT
/*
 * The store's small helpers: memory mapped on huge-page boundaries
 * (sfs_huge_map), and the working buffers built on it (sfs_buf_map).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "util_int.h"

static const size_t lens[] = {1, 4096, SFS_HUGE_PAGE - 1, SFS_HUGE_PAGE, (4ul << 20) + 1,
			      6u * 33000 * 128};
#define NLENS (sizeof(lens) / sizeof(lens[0]))

/* For every length: map, aligned to align, every byte zero, all of them
 * writable; then unmap (and unmap of NULL ignored). */
static void each_len(void *(*map)(size_t), void (*unmap)(void *, size_t), uintptr_t align)
{
	for (size_t k = 0; k < NLENS; k++) {
		size_t len = lens[k], nz = 0;
		uint8_t *p = map(len);

		cr_assert_not_null(p, "len %zu", len);
		cr_assert_eq((uintptr_t)p % align, 0, "len %zu: %p", len, (void *)p);
		for (size_t i = 0; i < len; i++)
			nz += p[i] != 0;
		cr_assert_eq(nz, 0, "len %zu: %zu bytes not zero", len, nz);
		memset(p, 0xa5, len);
		cr_assert_eq(p[len - 1], 0xa5);
		unmap(p, len);
	}
	unmap(NULL, 1);
}

Test(huge_map, aligned_zeroed_and_writable_to_its_end)
{
	each_len(sfs_huge_map, sfs_huge_unmap, SFS_HUGE_PAGE);
}

/* Working buffers: 2 MiB-aligned mappings, or 4 KiB-aligned malloc'd
 * memory under AddressSanitizer (util.c). */
Test(buf_map, aligned_zeroed_and_writable_to_its_end)
{
#ifdef SFS_BUF_FROM_MALLOC
	each_len(sfs_buf_map, sfs_buf_unmap, 4096);
#else
	each_len(sfs_buf_map, sfs_buf_unmap, SFS_HUGE_PAGE);
#endif
}

static long vm_size_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* The spare huge page mapped to find an aligned start is given back,
 * and the unmap takes the whole rounded length. */
Test(huge_map, maps_and_unmaps_without_leaving_address_space_behind)
{
	long before, after;

	sfs_huge_unmap(sfs_huge_map(lens[4]), lens[4]);
	before = vm_size_kib();
	for (int i = 0; i < 200; i++) {
		void *p = sfs_huge_map(lens[4]);

		cr_assert_not_null(p);
		sfs_huge_unmap(p, lens[4]);
	}
	after = vm_size_kib();
	cr_assert_gt(before, 0);
	cr_assert_eq(after, before, "VmSize %ld kB before, %ld kB after", before, after);
}
