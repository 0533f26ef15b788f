// SPDX-License-Identifier: MIT
/*
 * `snapfs key`: an encrypted store's wrappings of its master key. Every
 * change rewraps the master key (the data is not touched) and replaces
 * the store's keys file in one atomic step. The store is unlocked with
 * the global credential (--key-file, --passphrase-fd or the terminal);
 * the new credential comes from the command's own options.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfs/keys.h"
#include "snapfs/parse.h"

static const char key_help[] =
	"Usage: snapfs --store PATH [--key-file F | --passphrase-fd N] key COMMAND\n"
	"\n"
	"Manages the wrappings of an encrypted store's master key. Each wrapping alone\n"
	"unlocks the store; changing them never rewrites data. The store is unlocked\n"
	"with the global --key-file / --passphrase-fd (or the terminal).\n"
	"\n"
	"  list [--json]                      the wrappings (needs no key)\n"
	"  add-key-file FILE                  add a wrapping by key file FILE\n"
	"  add-passphrase [--new-passphrase-fd N]\n"
	"                                     add a wrapping by a new passphrase\n"
	"  change-passphrase [--new-passphrase-fd N]\n"
	"                                     replace the passphrase that unlocked the\n"
	"                                     store with a new one (atomic)\n"
	"  remove ID                          remove a wrapping (never the last one)\n"
	"\n"
	"A new passphrase is asked twice on the terminal unless --new-passphrase-fd\n"
	"N gives it (one line). A lost key cannot be recovered.\n";

static int key_list(const struct cli *c, bool json)
{
	json_t *arr, *o;
	size_t i;
	int r = sfs_store_keys_list(c->store_path, &arr);

	if (r == -ENOKEY)
		return cli_error("store %s is not encrypted: it has no keys", c->store_path);
	if (r == -ENOENT)
		return cli_error("store %s does not exist", c->store_path);
	if (r == -EMEDIUMTYPE)
		return cli_error("%s is not a snapfs store", c->store_path);
	if (r < 0)
		return cli_fail(r, "cannot read the keys of store %s", c->store_path);
	if (json)
		return cli_print_json(arr);
	json_array_foreach(arr, i, o) {
		char t[32];
		printf("%-24s %-11s %s\n", json_string_value(json_object_get(o, "id")),
		       json_string_value(json_object_get(o, "kind")),
		       cli_time(json_integer_value(json_object_get(o, "created")), t, sizeof(t)));
	}
	json_decref(arr);
	return 0;
}

/* Opens the store as its writer (key changes are serialised like any
 * other write), runs the change and reports. */
static int key_change(const struct cli *c, const char *verb, const struct cli_keys *nk,
		      const char *remove_id)
{
	struct sfs_unlock cred;
	struct sfs_store *s;
	char id[SFS_WRAP_ID_SIZE] = "";
	void *kbuf = NULL;
	size_t klen = 0;
	int r;

	if (sfs_store_path_encrypted(c->store_path) == 0)
		return cli_error("store %s is not encrypted: it has no keys", c->store_path);
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		return r;
	if (!remove_id) {
		r = cli_cred_make(nk, "New passphrase: ", true, &cred, &kbuf, &klen);
		if (r) {
			sfs_store_close(s);
			return r;
		}
	}
	if (remove_id)
		r = sfs_store_key_remove(s, remove_id);
	else if (!strcmp(verb, "change-passphrase"))
		r = sfs_store_key_change(s, &cred, id);
	else
		r = sfs_store_key_add(s, &cred, id);
	sfs_key_free(kbuf, klen);
	sfs_store_close(s);
	switch (r) {
	case 0:
		break;
	case -ENOENT:
		return cli_error("store %s has no key %s (see 'snapfs key list')", c->store_path,
				 remove_id);
	case -EBUSY:
		return cli_error("cannot remove %s: it is the store's last key", remove_id);
	case -EMEDIUMTYPE:
		return cli_error("change-passphrase needs the store unlocked with its passphrase "
				 "(give --passphrase-fd N, or use the terminal)");
	default:
		return cli_fail(r, "key %s on store %s failed", verb, c->store_path);
	}
	if (remove_id)
		printf("removed %s\n", remove_id);
	else
		printf("%s\n", id);
	return 0;
}

static int set_new_pass_fd(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
			   uint64_t v)
{
	((struct cli_keys *)o->dest)->pass_fd = (int)v;
	return 0;
}

int cmd_key(const struct cli *c, int argc, char **argv)
{
	static const char *const verbs[] = { "list", "add-key-file", "add-passphrase",
					     "change-passphrase", "remove", NULL };
	/* Operands each verb takes, in the order of verbs. */
	static const int nargs[] = { 0, 1, 0, 0, 1 };
	static const char *const args_help[] = { "no arguments", "FILE", "no arguments",
						 "no arguments", "ID" };
	struct cli_keys nk = { .pass_fd = -1 };
	const struct cli_opt opts[] = {
		{ .name = "new-passphrase-fd", .kind = CLI_UINT, .fn = set_new_pass_fd, .dest = &nk,
		  .max = 1 << 20, .hint = "an open file descriptor number" },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "key ", .help = key_help, .opts = opts,
				.shared = CLI_JSON };
	const char *verb;
	int i, r;

	r = cli_subcommand("key", key_help, verbs, NULL, argc, argv, &i);
	if (r)
		return r == CLI_HELP_SHOWN ? 0 : r;
	verb = verbs[i];
	co.min_args = co.max_args = nargs[i];
	co.args_help = args_help[i];
	r = cli_parse(&co, argc - 1, argv + 1);
	if (r)
		return cli_parse_exit(r);
	if (!c->store_path)
		return cli_usage_error("key ", "no store given: use --store PATH or set SNAPFS_STORE");
	if (!strcmp(verb, "list"))
		return key_list(c, co.json);
	if (!strcmp(verb, "add-key-file")) {
		nk.key_file = co.args[0];
		return key_change(c, verb, &nk, NULL);
	}
	if (!strcmp(verb, "remove"))
		return key_change(c, verb, &nk, co.args[0]);
	return key_change(c, verb, &nk, NULL);
}
