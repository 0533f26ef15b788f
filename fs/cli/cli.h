/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the snapfs command line: exit codes, one-line errors,
 * option parsing helpers, JSON output, human sizes and the progress line.
 */
#ifndef SNAPFS_CLI_H
#define SNAPFS_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapfs/access.h"
#include "snapfs/store.h"

#define EXIT_USAGE 2

struct sfs_txn;

/* What unlocks an encrypted store: --key-file / SNAPFS_KEY_FILE, or
 * --passphrase-fd, or (neither) a prompt on the terminal. */
struct cli_keys {
	const char *key_file; /* NULL: none */
	int pass_fd;          /* -1: none */
};

struct cli {
	const char *store_path; /* from --store or SNAPFS_STORE; may be NULL */
	const char *prog;
	struct cli_keys keys;
};

/* Prints "snapfs: <msg>" to stderr and returns 1 (or 2 for usage). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error from a store call, phrased for the user: "<what>: <why>". */
int cli_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How long a command that writes waits for another writer (a create,
 * delete, copy or gc) to release the store. */
#define CLI_LOCK_WAIT_SECONDS 300

/* Opens the store named by the CLI; prints the error itself. Every
 * command that writes (SFS_OPEN_WRITE) behaves the same when another
 * writer holds the store: it waits, saying so once on stderr, up to
 * CLI_LOCK_WAIT_SECONDS, then fails naming the holder. */
int cli_open_store(const struct cli *c, int flags, struct sfs_store **ret);

/* Like cli_open_store with the wait bounded by timeout_sec instead (0:
 * fail at once, for gc --no-wait). */
int cli_open_store_wait(const struct cli *c, int flags, int timeout_sec, struct sfs_store **ret);

/* sfs_store_open_cred with the CLI's credential for c's store, errors
 * returned (-errno) rather than printed, except a key file or passphrase
 * that cannot be read, which is printed and returned as -ECANCELED. */
int cli_store_open_raw(const struct cli *c, int flags, struct sfs_store **ret);

/* A passphrase: one line read from fd, or, with fd < 0, asked on the
 * terminal without echo (twice when confirm). buf >= SFS_PASSPHRASE_MAX.
 * 0, or an exit code after printing one line. */
int cli_passphrase(int fd, const char *prompt, bool confirm, char *buf, size_t cap);

/* The credential of keys (a key file's bytes or a passphrase) into
 * *cred, for init and the key commands; *ret_buf is freed with
 * sfs_key_free(*ret_buf, *ret_len). 0 or an exit code (printed). */
struct sfs_unlock;
int cli_cred_make(const struct cli_keys *keys, const char *prompt, bool confirm,
		  struct sfs_unlock *cred, void **ret_buf, size_t *ret_len);

/* "1.5 GiB" into buf. */
const char *cli_human(uint64_t bytes, char *buf, size_t len);
/* "2026-11-22T10:00:00Z" into buf. */
const char *cli_time(int64_t t, char *buf, size_t len);
/* Prints j (pretty, newline) to stdout and drops the reference. */
int cli_print_json(json_t *j);

/* The argument getopt just rejected (getopt's own message is off). */
const char *cli_bad_arg(char **argv);

/* True when argv has --help/-h before any "--". */
bool cli_wants_help(int argc, char **argv);

/* A fault (SIGSEGV, SIGBUS, ...; a damaged catalog can make LMDB fault)
 * becomes one line on stderr, and syslog when asked, naming `what` and
 * the store, and exit status 1 (fs/guard.c). Call once per process,
 * before the store is opened; the strings are copied. */
void cli_guard_fatal_signals(const char *what, const char *store_path, bool to_syslog);

/* getopt_long values of the options many commands share, above any char. */
enum { CLI_OPT_JSON = 0x100, CLI_OPT_PROGRESS, CLI_OPT_NO_PROGRESS };
#define CLI_OPTION_JSON { "json", no_argument, NULL, CLI_OPT_JSON }
#define CLI_OPTION_PROGRESS { "progress", no_argument, NULL, CLI_OPT_PROGRESS }
#define CLI_OPTION_NO_PROGRESS { "no-progress", no_argument, NULL, CLI_OPT_NO_PROGRESS }
#define CLI_OPTION_HELP { "help", no_argument, NULL, 'h' }

/* What the shared options of one command line set. */
struct cli_opts {
	const char *cmd;        /* "snapshot create ": names the command in errors */
	const char *help;       /* printed by --help */
	const char *bad_option; /* NULL: "invalid option or missing argument" */
	bool json;
	int progress; /* -1 auto, 0 --no-progress, 1 --progress; set to -1 by the caller */
};

/* Returned by cli_opt_common when it printed the help: the command is done. */
#define CLI_HELP_SHOWN (-1)

/*
 * Takes an option getopt_long returned that no case of the command took:
 * --json and --progress/--no-progress set co, --help prints co->help and
 * returns CLI_HELP_SHOWN, anything else is a usage error of co->cmd.
 * Returns 0, CLI_HELP_SHOWN or an exit code.
 */
int cli_opt_common(struct cli_opts *co, int o, char **argv);

/* The exit code of a parse that returned r (help shown is success). */
static inline int cli_parse_exit(int r)
{
	return r == CLI_HELP_SHOWN ? 0 : r;
}

/* Usage error "expected <what>" of cmd unless exactly nargs arguments
 * remain after the options; 0 when they do. */
int cli_expect_args(const char *cmd, int argc, int nargs, const char *what);

#define CLI_TAG_KEY_MAX 128

/* Splits "KEY=VALUE" (KEY of 1 to CLI_TAG_KEY_MAX bytes) into key and
 * returns VALUE, a pointer into kv; NULL when kv is not of that form. */
const char *cli_tag_split(const char *kv, char key[CLI_TAG_KEY_MAX + 1]);

/* Splits and checks a tag "KEY=VALUE" a user gave: its form, UTF-8 in
 * key and value, and no key under the reserved "snapfs:" prefix. 0 with
 * key filled and *ret_value pointing into kv, or the exit code of a usage
 * error of cmd (one line). Every command that takes tags uses it. */
int cli_tag_arg(const char *cmd, const char *kv, char key[CLI_TAG_KEY_MAX + 1],
		const char **ret_value);

/* 0 when text is valid UTF-8, else a usage error of cmd "<what> is not
 * valid UTF-8" and its exit code: for user text a record will hold
 * (descriptions, paths). */
int cli_text_arg(const char *cmd, const char *what, const char *text);

/* Sets the tag "KEY=VALUE" in tags after cli_tag_arg's checks. Returns 0
 * or the exit code. */
int cli_parse_tag(json_t *tags, const char *kv, const char *cmd);

/*
 * Opens the store read-only and runs fn in a read transaction, closing
 * both before it returns. Returns an exit code (> 0) when the store does
 * not open (the error is printed), else what fn returned: 0 or -errno,
 * for the caller to phrase.
 */
int cli_read_catalog(const struct cli *c, int (*fn)(struct sfs_txn *t, void *ctx), void *ctx);

struct cli_progress {
	bool enabled;
	const char *what;
	double start, last;
	uint64_t done, total;
};
void cli_progress_init(struct cli_progress *p, const char *what, int mode /* -1 auto, 0 off, 1 on */);
void cli_progress_cb(void *ctx, uint64_t done, uint64_t total);
void cli_progress_done(struct cli_progress *p);

int cmd_init(const struct cli *c, int argc, char **argv);
int cmd_info(const struct cli *c, int argc, char **argv);
int cmd_check(const struct cli *c, int argc, char **argv);
int cmd_snapshot(const struct cli *c, int argc, char **argv);
int cmd_volume(const struct cli *c, int argc, char **argv);
int cmd_gc(const struct cli *c, int argc, char **argv);
/* `snapshot copy`, argv[0] == "copy". */
int cmd_snapshot_copy(const struct cli *c, int argc, char **argv);
int cmd_policy(const struct cli *c, int argc, char **argv);
int cmd_image(const struct cli *c, int argc, char **argv);
int cmd_key(const struct cli *c, int argc, char **argv);
/* `<kind> permission add|remove|list ...` (argv[0] == "permission") for
 * a volume or a snapshot; help is the command's help text. */
int cli_permission(const struct cli *c, int argc, char **argv, enum sfs_access_kind kind,
		   const char *help);

#endif
