// SPDX-License-Identifier: MIT
/* Temporary driver: `init STORE` or `STORE mount ARGS...`. */
#include <stdio.h>
#include <string.h>
#include "mount.h"
#include "snapfs/store.h"
int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "init"))
		return sfs_store_init(argv[2], NULL) < 0;
	if (argc < 3)
		return 2;
	return sfs_cmd_mount(argv[1], argc - 2, argv + 2);
}
