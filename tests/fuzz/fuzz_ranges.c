// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for sfs_ranges_parse: a changed-ranges file is user
 * input, in either of its two forms. What parses must come back sorted,
 * merged (no range touching the next), free of empty ranges and without
 * overflowing offset + length; what does not parse must say why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfs/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160] = "";
	uint64_t *r = NULL;
	size_t n = 0;
	int ret = sfs_ranges_parse((const char *)data, size, &r, &n, err, sizeof(err));

	if (ret == 0) {
		for (size_t i = 0; i < n; i++) {
			uint64_t off = r[2 * i], len = r[2 * i + 1];

			if (len == 0 || off + len < off)
				abort();
			if (i > 0 && r[2 * (i - 1)] + r[2 * (i - 1) + 1] >= off)
				abort();
		}
		free(r);
	} else if (ret == -EINVAL) {
		if (err[0] == '\0')
			abort();
	} else if (ret != -ENOMEM) {
		abort();
	}
	return 0;
}
