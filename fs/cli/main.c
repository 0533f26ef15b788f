// SPDX-License-Identifier: MIT
/*
 * The snapfs command line: global options, the command table and help.
 * Each command lives in a cmd_*.c file and talks to the store library
 * only; the FUSE driver is reached through `mount`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "cli.h"
#include "mount.h"
#include "snapfs/log.h"

static const char usage_text[] =
	"Usage: snapfs [--store PATH] COMMAND [ARGS...]\n"
	"\n"
	"Keeps disk-volume snapshots in an incremental, deduplicating, compressed\n"
	"block store and mounts them read-only.\n"
	"\n"
	"Commands:\n"
	"  init [--block-size N] [--compression-level N] [--encrypt ...]\n"
	"                                                  create a store\n"
	"  snapshot create VOLUME SOURCE [...]             snapshot a file, block device or stdin\n"
	"  snapshot list|show|diff|restore ...             browse, compare and restore snapshots\n"
	"  snapshot delete|copy ...                        delete, copy to another store\n"
	"  volume list|show|tag|set-source ...             volumes and their tags\n"
	"  gc [--dry-run]                                  reclaim space of deleted snapshots\n"
	"  policy create|list|show|run ...                 scheduled snapshots and retention\n"
	"  image create|list|show|deregister|permission|launch-config ...\n"
	"                                                  machine images (AMIs)\n"
	"  check [--read-data]                             verify the catalog, maps and data\n"
	"  info                                            store settings and usage\n"
	"  mount MOUNTPOINT [-f] [-s] [-d] [-o OPTIONS]    mount the store read-only (FUSE)\n"
	"  key list|add-key-file|add-passphrase|change-passphrase|remove ...\n"
	"                                                  an encrypted store's keys\n"
	"\n"
	"Options:\n"
	"  -S, --store PATH   the store (default: $SNAPFS_STORE)\n"
	"  --key-file FILE    unlocks an encrypted store (default: $SNAPFS_KEY_FILE)\n"
	"  --passphrase-fd N  reads an encrypted store's passphrase from descriptor N;\n"
	"                     without either, it is asked for on the terminal\n"
	"  -v, --verbose      more log output\n"
	"  -h, --help         this help; 'snapfs COMMAND --help' for a command\n"
	"  -V, --version      print the version\n"
	"\n"
	"mount(8) form, as used by fstab (type fuse.snapfs):\n"
	"  snapfs STORE MOUNTPOINT [-o OPTIONS]\n"
	"\n"
	"Listing and show commands take --json. Exit status: 0 success, 1 failure,\n"
	"2 usage error.\n"
	"\n"
	"One command writes to a store at a time. Every command that writes (create,\n"
	"delete, copy, tag, set-source, image and policy changes, gc) waits for a\n"
	"running writer, saying so, for up to 5 minutes, then fails naming it;\n"
	"reads and mounts never wait.\n";

static int cmd_mount(const struct cli *c, int argc, char **argv)
{
	if (!c->store_path && !cli_wants_help(argc, argv))
		return cli_usage_error("mount ", "no store given: use --store PATH or set SNAPFS_STORE");
	/* The mount takes its key as -o key_file=F or from the environment. */
	if (c->keys.key_file)
		setenv("SNAPFS_KEY_FILE", c->keys.key_file, 1);
	return sfs_cmd_mount(c->store_path ? c->store_path : "", argc, argv);
}

struct command {
	const char *name;
	int (*fn)(const struct cli *c, int argc, char **argv);
};

static const struct command commands[] = {
	{ "init", cmd_init },
	{ "info", cmd_info },
	{ "check", cmd_check },
	{ "snapshot", cmd_snapshot },
	{ "volume", cmd_volume },
	{ "image", cmd_image },
	{ "mount", cmd_mount },
	{ "gc", cmd_gc },
	{ "policy", cmd_policy },
	{ "key", cmd_key },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "passphrase-fd", required_argument, NULL, 'P' },
		{ 0 },
	};
	struct cli c = { .store_path = getenv("SNAPFS_STORE"),
			 .prog = argv[0],
			 .keys = { .key_file = getenv("SNAPFS_KEY_FILE"), .pass_fd = -1 } };
	char *end;
	int o;

	sfs_log_set_sink(sfs_log_stderr_sink, NULL);
	opterr = 0; /* errors are ours to print, as one line */
	/* '+': stop at the command, whose options are its own. */
	while ((o = getopt_long(argc, argv, "+S:vhV", opts, NULL)) != -1) {
		switch (o) {
		case 'S':
			c.store_path = optarg;
			break;
		case 'v':
			sfs_log_set_level(SFS_LOG_DEBUG);
			break;
		case 'K':
			c.keys.key_file = optarg;
			break;
		case 'P':
			c.keys.pass_fd = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || c.keys.pass_fd < 0)
				return cli_usage_error(NULL, "invalid --passphrase-fd '%s'", optarg);
			c.keys.key_file = NULL; /* the option beats the environment */
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			puts("snapfs " SNAPFS_VERSION);
			return 0;
		default:
			return cli_usage_error(NULL, "invalid option or missing argument '%s'",
					       cli_bad_arg(argv));
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			int first = optind;

			optind = 0; /* each command runs getopt afresh on its own argv */
			cli_guard_fatal_signals(commands[i].name, c.store_path, false);
			return commands[i].fn(&c, argc - first, argv + first);
		}
	}
	/* mount.fuse3 runs "snapfs STORE MOUNTPOINT -o OPTIONS". */
	{
		struct stat st;
		if (argc - optind >= 2 && stat(argv[optind], &st) == 0 && S_ISDIR(st.st_mode)) {
			const char *store = argv[optind];
			argv[optind] = (char *)"mount";
			return sfs_cmd_mount(store, argc - optind, argv + optind);
		}
	}
	return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
}
