// SPDX-License-Identifier: MIT
/* Temporary driver: `--store STORE mount ARGS...` or `STORE MOUNTPOINT -o OPTS`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mount.h"
int main(int argc, char **argv)
{
	if (argc > 3 && !strcmp(argv[1], "--store") && !strcmp(argv[3], "mount"))
		return sfs_cmd_mount(argv[2], argc - 3, argv + 3);
	if (argc > 2 && argv[1][0] != '-') {
		char **v = calloc((size_t)argc + 1, sizeof(*v));
		v[0] = (char *)"mount";
		for (int i = 2; i < argc; i++)
			v[i - 1] = argv[i];
		return sfs_cmd_mount(argv[1], argc - 1, v);
	}
	return 2;
}
