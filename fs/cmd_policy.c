// SPDX-License-Identifier: MIT
#include "cli.h"
int cmd_policy(const struct cli *c, int argc, char **argv)
{
	return cli_error("policy: not yet");
}
