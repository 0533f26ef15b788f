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

/* A fault (SIGSEGV, SIGBUS, ...; a damaged catalog can make LMDB fault)
 * becomes one line on stderr, and syslog when asked, naming `what` and
 * the store, and exit status 1 (fs/guard.c). Call once per process,
 * before the store is opened; the strings are copied. */
void cli_guard_fatal_signals(const char *what, const char *store_path, bool to_syslog);

/* ---- options (opt.c): one parser for every command ---- */

enum cli_opt_kind {
	CLI_FLAG,   /* no value; dest is a bool set to true */
	CLI_STRING, /* dest is a const char * pointing into argv */
	CLI_UINT,   /* a number (snapfs/parse.h) in [min, max]; dest is a uint64_t */
	CLI_SIZE,   /* a size ("64K", "8GiB") in [min, max]; dest is a uint64_t */
};

struct cli_opt;

struct cli_parse;

/* Takes one occurrence of an option, in command-line order (an option
 * that repeats, or one that applies to the option before it): o->dest is
 * its to use, p->cmd names the command for errors; arg is the text given (NULL for a flag), v its value for
 * CLI_UINT and CLI_SIZE, already checked against the bounds. Returns 0
 * or the exit code of an error it printed. */
typedef int (*cli_opt_fn)(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v);

/* One option of a command; a table ends with an entry whose name is NULL. */
struct cli_opt {
	const char *name;       /* long name, without "--" */
	char letter;            /* short form, or 0 */
	enum cli_opt_kind kind;
	void *dest;             /* where the value goes, or NULL; fn's ctx */
	cli_opt_fn fn;          /* takes the value instead of dest; or NULL */
	uint64_t min, max;      /* CLI_UINT, CLI_SIZE; max 0: no bound */
	bool (*valid)(uint64_t v); /* a further rule for CLI_UINT, CLI_SIZE */
	const char *hint;       /* what a valid value is, for the error line;
				 * NULL: "MIN to MAX" */
};

/* The options many commands share (cli_parse.shared); --help and -h
 * every command takes. */
enum {
	CLI_JSON = 1 << 0,     /* --json */
	CLI_PROGRESS = 1 << 1, /* --progress, --no-progress */
	CLI_NO_WAIT = 1 << 2,  /* --no-wait */
};

/* Returned by cli_parse and cli_subcommand when they printed the help:
 * the command is done. */
#define CLI_HELP_SHOWN (-1)

/* One command line to parse: what the command takes, then what it got. */
struct cli_parse {
	const char *cmd;  /* "snapshot create ": names the command in errors */
	const char *help; /* printed by --help */
	unsigned shared;  /* CLI_JSON | CLI_PROGRESS | CLI_NO_WAIT */
	const struct cli_opt *opts; /* or NULL */
	int min_args, max_args; /* operands; max_args -1: any number */
	const char *args_help;  /* "VOLUME SOURCE": said when the count is off */
	bool stop_at_operand;   /* options only before the first operand */
	/* Filled by cli_parse: */
	bool json;
	int progress; /* -1 auto, 0 --no-progress, 1 --progress */
	bool wait;    /* false with --no-wait */
	char **args;  /* the operands, in argv */
	int nargs;
};

/*
 * Parses argv[1..] (argv[0] names the command) with getopt_long: options
 * may come before, between and after the operands, "--" ends them. Every
 * error is one line naming the option ("invalid --cpus '0': 1 to 1024",
 * "option --mount needs a value", "unknown option '--x'") and exit code
 * 2. Returns 0, CLI_HELP_SHOWN, or an exit code.
 */
int cli_parse(struct cli_parse *p, int argc, char **argv);

/* --user U, --group G and --public, kept in command-line order for a
 * command that grants or revokes them all at once. Starts zeroed. */
struct cli_grant {
	char kind; /* 'u' user, 'g' group, 'p' public */
	const char *name; /* NULL for public */
};
struct cli_grants {
	struct cli_grant *v;
	size_t n;
};

void cli_grants_release(struct cli_grants *g);
/* The fn of --user, --group and --public options whose dest is a
 * struct cli_grants. */
int cli_grant_opt(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v);

/* The fn of a --now TIME option (a simulated clock for tests and
 * catch-up runs) whose dest is an int64_t: YYYY-MM-DDTHH:MM[:SS]Z. */
int cli_now_opt(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v);

/* The usage error of a value o refuses (for rules a table cannot say). */
int cli_opt_bad_value(const struct cli_parse *p, const struct cli_opt *o, const char *arg);

/* cli_parse, and when it returns 0, cli_open_store: 0 with *ret open, or
 * what the failing one returned (cli_parse_exit of it is the command's
 * exit code: 0 after help, the store left unopened). */
int cli_parse_open(const struct cli *c, struct cli_parse *co, int argc, char **argv, int flags,
		   struct sfs_store **ret);

/* The exit code of a parse that returned r (help shown is success). */
static inline int cli_parse_exit(int r)
{
	return r == CLI_HELP_SHOWN ? 0 : r;
}

/*
 * Picks the subcommand argv[1] of group ("snapshot") among names (ending
 * with NULL) into *ret_index. No subcommand: the help on stderr and exit
 * code 2, or, with missing set, the usage error "expected <missing>".
 * "--help"/"-h": the help on stdout and CLI_HELP_SHOWN. An unknown one:
 * a usage error. Returns 0 or as said.
 */
int cli_subcommand(const char *group, const char *help, const char *const *names,
		   const char *missing, int argc, char **argv, int *ret_index);

struct cli_sub {
	const char *name;
	int (*fn)(const struct cli *c, int argc, char **argv); /* argv[0] is name */
};

/* cli_subcommand over a table (ending with a NULL name), then runs the
 * subcommand. Returns its exit code. */
int cli_dispatch(const struct cli *c, const char *group, const char *help,
		 const struct cli_sub *subs, int argc, char **argv);

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
/* The fn of a --tag K=V option whose dest is a JSON object. */
int cli_tag_opt(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v);

/*
 * Opens the store read-only and runs fn in a read transaction, closing
 * both before it returns. Returns an exit code (> 0) when the store does
 * not open (the error is printed), else what fn returned: 0 or -errno,
 * for the caller to phrase.
 */
int cli_read_catalog(const struct cli *c, int (*fn)(struct sfs_txn *t, void *ctx), void *ctx);

/* A listing: cli_read_catalog with, for --json, a new array in *arr (a
 * field of ctx, which fn fills) that is printed afterwards. "cannot list
 * <what>" on failure. Returns the exit code. */
int cli_read_listing(const struct cli *c, bool json, int (*fn)(struct sfs_txn *t, void *ctx),
		     void *ctx, json_t **arr, const char *what);

/*
 * Opens the store for writing and runs fn in a write transaction,
 * committed when fn returns 0 and aborted otherwise, closing both before
 * it returns. Returns an exit code (> 0) when the store does not open
 * (the error is printed), else fn's result or the commit's: 0 or -errno,
 * for the caller to phrase.
 */
int cli_write_catalog(const struct cli *c, int (*fn)(struct sfs_txn *t, void *ctx), void *ctx);

struct cli_progress {
	bool enabled;
	int mode; /* as given to cli_progress_init */
	const char *what;
	double start, last;
	uint64_t done, total;
};
void cli_progress_init(struct cli_progress *p, const char *what, int mode /* -1 auto, 0 off, 1 on */);
void cli_progress_cb(void *ctx, uint64_t done, uint64_t total);
void cli_progress_done(struct cli_progress *p);

int cmd_init(const struct cli *c, int argc, char **argv);
int cmd_info(const struct cli *c, int argc, char **argv);
int cmd_break_lock(const struct cli *c, int argc, char **argv);
int cmd_check(const struct cli *c, int argc, char **argv);
int cmd_snapshot(const struct cli *c, int argc, char **argv);
int cmd_volume(const struct cli *c, int argc, char **argv);
int cmd_gc(const struct cli *c, int argc, char **argv);
/* `snapshot copy`, argv[0] == "copy". */
int cmd_snapshot_copy(const struct cli *c, int argc, char **argv);
int cmd_policy(const struct cli *c, int argc, char **argv);
int cmd_image(const struct cli *c, int argc, char **argv);
int cmd_key(const struct cli *c, int argc, char **argv);
int cmd_bin(const struct cli *c, int argc, char **argv);
int cmd_checkpoint(const struct cli *c, int argc, char **argv);
int cmd_mount_status(const struct cli *c, int argc, char **argv);
int cmd_report(const struct cli *c, int argc, char **argv);
/* `<kind> permission add|remove|list ...` (argv[0] == "permission") for
 * a volume or a snapshot; help is the command's help text. */
int cli_permission(const struct cli *c, int argc, char **argv, enum sfs_access_kind kind,
		   const char *help);

#endif
