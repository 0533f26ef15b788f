// SPDX-License-Identifier: MIT
/*
 * The snapfs command line: global options, the command table and help.
 * Each command lives in a cmd_*.c file and talks to the store library
 * only; the FUSE driver is reached through `mount`.
 */
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
	"  checkpoint create|list|show|delete|launch-config ...\n"
	"                                                  hibernated VMs: RAM, disks, state\n"
	"  check [--read-data] [--repair]                  verify the catalog, maps and data\n"
	"  info                                            store settings and usage\n"
	"  break-lock                                      break the writer lock of a dead holder (RADOS)\n"
	"  report [--html FILE] [--json]                   how the store is used: sizes, dedup,\n"
	"                                                  snapshots over time, images\n"
	"  mount MOUNTPOINT [-f] [-s] [-d] [-o OPTIONS]    mount the store read-only (FUSE)\n"
	"  mount-status MOUNTPOINT [--json]                a running mount's cache and reads\n"
	"  key list|add-key-file|add-passphrase|change-passphrase|remove ...\n"
	"                                                  an encrypted store's keys\n"
	"  bin rule create|list|delete, bin list|restore   the recycle bin\n"
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

/* The FUSE driver parses its own mount(8)-style options (-o LIST) and
 * says when no store is given, after --help. */
static int cmd_mount(const struct cli *c, int argc, char **argv)
{
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
	{ "break-lock", cmd_break_lock },
	{ "check", cmd_check },
	{ "snapshot", cmd_snapshot },
	{ "volume", cmd_volume },
	{ "image", cmd_image },
	{ "mount", cmd_mount },
	{ "gc", cmd_gc },
	{ "policy", cmd_policy },
	{ "key", cmd_key },
	{ "bin", cmd_bin },
	{ "checkpoint", cmd_checkpoint },
	{ "mount-status", cmd_mount_status },
	{ "report", cmd_report },
};

static int set_verbose(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	sfs_log_set_level(SFS_LOG_DEBUG);
	return 0;
}

/* --passphrase-fd beats a key file from the environment. */
static int set_pass_fd(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
		       uint64_t v)
{
	struct cli_keys *k = o->dest;

	k->pass_fd = (int)v;
	k->key_file = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .store_path = getenv("SNAPFS_STORE"),
			 .prog = argv[0],
			 .keys = { .key_file = getenv("SNAPFS_KEY_FILE"), .pass_fd = -1 } };
	bool version = false;
	const struct cli_opt opts[] = {
		{ .name = "store", .letter = 'S', .kind = CLI_STRING, .dest = &c.store_path },
		{ .name = "verbose", .letter = 'v', .kind = CLI_FLAG, .fn = set_verbose },
		{ .name = "version", .letter = 'V', .kind = CLI_FLAG, .dest = &version },
		{ .name = "key-file", .kind = CLI_STRING, .dest = &c.keys.key_file },
		{ .name = "passphrase-fd", .kind = CLI_UINT, .fn = set_pass_fd, .dest = &c.keys,
		  .max = INT32_MAX, .hint = "an open file descriptor number" },
		{ 0 },
	};
	/* Options before the command only: the command's are its own. */
	struct cli_parse p = { .cmd = "", .help = usage_text, .opts = opts, .max_args = -1,
			       .stop_at_operand = true };
	const char *name;
	int r;

	sfs_log_set_sink(sfs_log_stderr_sink, NULL);
	r = cli_parse(&p, argc, argv);
	if (r)
		return cli_parse_exit(r);
	if (version) {
		puts("snapfs " SNAPFS_VERSION);
		return 0;
	}
	if (p.nargs == 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	name = p.args[0];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(name, commands[i].name)) {
			cli_guard_fatal_signals(name, c.store_path, false);
			return commands[i].fn(&c, p.nargs, p.args);
		}
	}
	/* mount.fuse3 runs "snapfs STORE MOUNTPOINT -o OPTIONS". */
	{
		struct stat st;
		if (p.nargs >= 2 && stat(name, &st) == 0 && S_ISDIR(st.st_mode)) {
			p.args[0] = (char *)"mount";
			return sfs_cmd_mount(name, p.nargs, p.args);
		}
	}
	return cli_usage_error(NULL, "unknown command '%s'", name);
}
