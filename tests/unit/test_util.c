// SPDX-License-Identifier: MIT
/*
 * The store's small helpers: working buffers mapped on huge-page
 * boundaries.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "util_int.h"

#define HUGE (2ul << 20)

/* Under AddressSanitizer the buffers are malloc'd (util.c). */
#ifdef SFS_BUF_FROM_MALLOC
#define ALIGN 4096ul
#else
#define ALIGN HUGE
#endif

static const size_t lens[] = {1, 4096, HUGE - 1, HUGE, (4ul << 20) + 1, 6u * 33000 * 128};

Test(buf_map, aligned_zeroed_and_writable_to_its_end)
{
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint8_t *p = sfs_buf_map(lens[k]);
		size_t nz = 0;

		cr_assert_not_null(p, "len %zu", lens[k]);
		cr_assert_eq((uintptr_t)p % ALIGN, 0, "len %zu: %p", lens[k], (void *)p);
		for (size_t i = 0; i < lens[k]; i += 512)
			nz += p[i] != 0;
		nz += p[lens[k] - 1] != 0;
		cr_assert_eq(nz, 0, "len %zu: not zero-filled", lens[k]);
		memset(p, 0xa5, lens[k]);
		cr_assert_eq(p[lens[k] - 1], 0xa5);
		sfs_buf_unmap(p, lens[k]);
	}
	sfs_buf_unmap(NULL, 1); /* ignored */
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
Test(buf_map, maps_and_unmaps_without_leaving_address_space_behind)
{
	long before, after;
	void *warm;

#ifdef SFS_BUF_FROM_MALLOC
	cr_skip_test("AddressSanitizer build: the buffers come from malloc");
#endif
	warm = sfs_buf_map(lens[4]);

	sfs_buf_unmap(warm, lens[4]);
	before = vm_size_kib();
	for (int i = 0; i < 200; i++) {
		void *p = sfs_buf_map(lens[4]);

		cr_assert_not_null(p);
		sfs_buf_unmap(p, lens[4]);
	}
	after = vm_size_kib();
	cr_assert_gt(before, 0);
	cr_assert_eq(after, before, "VmSize %ld kB before, %ld kB after", before, after);
}
