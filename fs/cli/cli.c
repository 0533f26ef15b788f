// SPDX-License-Identifier: MIT
/*
 * Helpers of the command line: how errors are phrased, how sizes and times
 * are printed, and the progress line shown on a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "snapfs/catalog.h"
#include "snapfs/keys.h"
#include "snapfs/log.h"

static void verr(const char *fmt, va_list ap)
{
	fputs("snapfs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	return EXIT_FAILURE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "snapfs: %s (see 'snapfs %s--help')\n", msg, cmd ? cmd : "");
	return EXIT_USAGE;
}

int cli_fail(int err, const char *fmt, ...)
{
	char msg[512];
	const char *why;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	switch (err) {
	case -EBADMSG:
		why = "stored data fails verification (the store is damaged; run 'snapfs check')";
		break;
	case -EUCLEAN:
		why = "the catalog is damaged or names data the store does not have (run 'snapfs "
		      "check')";
		break;
	case -ENOSPC:
		why = "no space left on the store's device";
		break;
	default:
		why = strerror(-err);
	}
	return cli_error("%s: %s", msg, why);
}

/* One line from fd, byte by byte so that a second passphrase on the same
 * descriptor is left for the next reader. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char ch;
		ssize_t k = read(fd, &ch, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0 || ch == '\n')
			break;
		if (n + 1 >= cap)
			return -EFBIG;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return n ? 0 : -ENODATA;
}

/* Asks on /dev/tty without echo. -ENOKEY without a terminal. */
static int ask_tty(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), r;

	if (fd < 0)
		return -ENOKEY;
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return -ENOKEY;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		close(fd);
		return -ENOKEY;
	}
	r = read_line(fd, buf, cap);
	tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	return r;
}

int cli_passphrase(int fd, const char *prompt, bool confirm, char *buf, size_t cap)
{
	char again[SFS_PASSPHRASE_MAX];
	int r;

	if (fd >= 0) {
		r = read_line(fd, buf, cap);
		if (r == -ENODATA)
			return cli_error("no passphrase on descriptor %d (an empty line or end of file)",
					 fd);
		if (r < 0)
			return cli_fail(r, "cannot read a passphrase from descriptor %d", fd);
		return 0;
	}
	r = ask_tty(prompt, buf, cap);
	if (r == -ENOKEY)
		return cli_error("no terminal to ask for a passphrase: give --passphrase-fd N");
	if (r == -ENODATA)
		return cli_error("an empty passphrase is not allowed");
	if (r < 0)
		return cli_fail(r, "cannot read the passphrase");
	if (confirm) {
		r = ask_tty("Repeat the passphrase: ", again, sizeof(again));
		if (r < 0 || strcmp(buf, again)) {
			memset(again, 0, sizeof(again));
			return cli_error("the passphrases do not match");
		}
		memset(again, 0, sizeof(again));
	}
	return 0;
}

int cli_cred_make(const struct cli_keys *keys, const char *prompt, bool confirm,
		  struct sfs_unlock *cred, void **ret_buf, size_t *ret_len)
{
	int r;

	memset(cred, 0, sizeof(*cred));
	if (keys->key_file) {
		r = sfs_key_file_read(keys->key_file, ret_buf, ret_len);
		if (r == -EINVAL)
			return cli_error("key file %s is too short (at least %d bytes)", keys->key_file,
					 SFS_KEY_FILE_MIN);
		if (r == -EFBIG)
			return cli_error("key file %s is too long (at most %d bytes)", keys->key_file,
					 SFS_KEY_FILE_MAX);
		if (r < 0)
			return cli_fail(r, "cannot read key file %s", keys->key_file);
		cred->key = *ret_buf;
		cred->key_len = *ret_len;
		return 0;
	}
	*ret_len = SFS_PASSPHRASE_MAX;
	*ret_buf = calloc(1, SFS_PASSPHRASE_MAX);
	if (!*ret_buf)
		return cli_error("out of memory");
	r = cli_passphrase(keys->pass_fd, prompt, confirm, *ret_buf, SFS_PASSPHRASE_MAX);
	if (r) {
		sfs_key_free(*ret_buf, *ret_len);
		*ret_buf = NULL;
		return r;
	}
	cred->passphrase = *ret_buf;
	return 0;
}

static int ask_cb(void *ctx, const char *store, char *buf, size_t cap)
{
	char prompt[512];

	(void)ctx;
	snprintf(prompt, sizeof(prompt), "Passphrase for store %s: ", store);
	return ask_tty(prompt, buf, cap);
}

int cli_store_open_raw(const struct cli *c, int flags, struct sfs_store **ret)
{
	struct sfs_unlock cred = { .ask = ask_cb };
	void *buf = NULL;
	size_t len = 0;
	int r;

	/* The credential is read only for a store that needs one. */
	if ((c->keys.key_file || c->keys.pass_fd >= 0) && c->store_path &&
	    sfs_store_path_encrypted(c->store_path) == 1 &&
	    cli_cred_make(&c->keys, NULL, false, &cred, &buf, &len))
		return -ECANCELED;
	r = sfs_store_open_cred(c->store_path ? c->store_path : "", flags, NULL, &cred, ret);
	sfs_key_free(buf, len);
	return r;
}

/* One attempt, the error phrased. */
static int open_once(const struct cli *c, int flags, struct sfs_store **ret)
{
	const char *p = c->store_path;
	char why[512];
	int r;

	if (!p)
		return cli_usage_error(NULL, "no store given: use --store PATH or set SNAPFS_STORE");
	r = cli_store_open_raw(c, flags, ret);
	switch (r) {
	case 0:
		return 0;
	case -ECANCELED:
		return EXIT_FAILURE; /* the credential could not be read: said already */
	}
	if (sfs_store_error_detail(why, sizeof(why))) {
		/* A store on RADOS: what the cluster said. */
		if (r == -EBUSY)
			return cli_error("store %s is locked by another snapfs writer: %s", p, why);
		return cli_error("cannot open store %s: %s", p, why);
	}
	switch (r) {
	case -ENOKEY:
		return cli_error("store %s is encrypted: give --key-file FILE or --passphrase-fd N "
				 "(or set SNAPFS_KEY_FILE)",
				 p);
	case -EKEYREJECTED:
		return cli_error("cannot unlock store %s: wrong key or passphrase", p);
	case -ENOENT:
		return cli_error("store %s does not exist (create it with 'snapfs --store %s init')",
				 p, p);
	case -EMEDIUMTYPE:
		return cli_error("%s is not a snapfs store", p);
	case -ELOOP:
		return cli_error("store %s holds a symlink, a special file or another user's file "
				 "where its own files belong; refusing to use it",
				 p);
	case -EPROTONOSUPPORT:
		return cli_error("store %s has a newer format than this snapfs (%d) understands; "
				 "upgrade snapfs",
				 p, SFS_FORMAT_VERSION);
	case -EBUSY: {
		int pid = sfs_store_lock_holder(p);
		if (pid > 0)
			return cli_error("store %s is locked by another snapfs writer (pid %d)", p,
					 pid);
		return cli_error("store %s is locked by another snapfs writer", p);
	}
	default:
		return cli_fail(r, "cannot open store %s", p);
	}
}

int cli_open_store(const struct cli *c, int flags, struct sfs_store **ret)
{
	return cli_open_store_wait(c, flags, CLI_LOCK_WAIT_SECONDS, ret);
}

int cli_parse_open(const struct cli *c, struct cli_parse *co, int argc, char **argv, int flags,
		   struct sfs_store **ret)
{
	int r = cli_parse(co, argc, argv);

	return r ? r : cli_open_store(c, flags, ret);
}

int cli_open_store_wait(const struct cli *c, int flags, int timeout_sec, struct sfs_store **ret)
{
	double waited = 0;
	bool told = false;
	int r;

	if (!c->store_path || !(flags & SFS_OPEN_WRITE))
		return open_once(c, flags, ret);
	for (;;) {
		r = cli_store_open_raw(c, flags, ret);
		if (r == -ECANCELED)
			return EXIT_FAILURE;
		if (r != -EBUSY || waited >= timeout_sec)
			break;
		if (!told) {
			int pid = sfs_store_lock_holder(c->store_path);
			char why[512];

			if (sfs_store_error_detail(why, sizeof(why)))
				fprintf(stderr, "snapfs: waiting for the writer lock of store %s (%s)\n",
					c->store_path, why);
			else if (pid > 0)
				fprintf(stderr, "snapfs: waiting for the writer lock of store %s (held by "
						"pid %d)\n",
					c->store_path, pid);
			else
				fprintf(stderr, "snapfs: waiting for the writer lock of store %s\n",
					c->store_path);
			told = true;
		}
		usleep(200 * 1000);
		waited += 0.2;
	}
	if (r == 0)
		return 0;
	/* Open again through the common path, which phrases the error. */
	return open_once(c, flags, ret);
}

const char *cli_human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *cli_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int cli_print_json(json_t *j)
{
	if (!j)
		return cli_error("out of memory");
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}

const char *cli_tag_split(const char *kv, char key[CLI_TAG_KEY_MAX + 1])
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv || eq - kv > CLI_TAG_KEY_MAX)
		return NULL;
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	return eq + 1;
}

int cli_text_arg(const char *cmd, const char *what, const char *text)
{
	if (sfs_text_check(text) < 0)
		return cli_usage_error(cmd, "%s is not valid UTF-8", what);
	return 0;
}

int cli_tag_arg(const char *cmd, const char *kv, char key[CLI_TAG_KEY_MAX + 1],
		const char **ret_value)
{
	const char *val = cli_tag_split(kv, key);

	/* The tag itself is not echoed: it may not be printable. */
	if (!val)
		return cli_usage_error(cmd, "invalid tag '%s': expected KEY=VALUE", kv);
	switch (sfs_tag_check(key, val)) {
	case 0:
		break;
	case -EPERM:
		return cli_usage_error(cmd, "tag %s: keys starting with '%s' are reserved for snapfs",
				       key, SFS_TAG_RESERVED);
	default:
		return cli_usage_error(cmd, "a tag (KEY=VALUE) is not valid UTF-8");
	}
	*ret_value = val;
	return 0;
}

int cli_parse_tag(json_t *tags, const char *kv, const char *cmd)
{
	char key[CLI_TAG_KEY_MAX + 1];
	const char *val = NULL;
	int r = cli_tag_arg(cmd, kv, key, &val);

	if (r)
		return r;
	if (json_object_set_new(tags, key, json_string(val)) < 0)
		return cli_error("out of memory");
	return 0;
}

/* One transaction of fn on the store, read or write (then committed
 * when fn returns 0); both closed before it returns. */
static int run_catalog(const struct cli *c, bool write, int (*fn)(struct sfs_txn *t, void *ctx),
		       void *ctx)
{
	struct sfs_store *s;
	struct sfs_txn *t;
	int r = cli_open_store(c, write ? SFS_OPEN_WRITE : SFS_OPEN_READ, &s);

	if (r)
		return r;
	r = sfs_txn_begin(s, write, &t);
	if (r == 0) {
		r = fn(t, ctx);
		if (r == 0 && write)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	sfs_store_close(s);
	return r;
}

int cli_read_catalog(const struct cli *c, int (*fn)(struct sfs_txn *t, void *ctx), void *ctx)
{
	return run_catalog(c, false, fn, ctx);
}

int cli_read_listing(const struct cli *c, bool json, int (*fn)(struct sfs_txn *t, void *ctx),
		     void *ctx, json_t **arr, const char *what)
{
	int r;

	if (json)
		*arr = json_array();
	r = cli_read_catalog(c, fn, ctx);
	if (r) {
		json_decref(*arr);
		*arr = NULL;
		return r > 0 ? r : cli_fail(r, "cannot list %s", what);
	}
	return json ? cli_print_json(*arr) : 0;
}

int cli_write_catalog(const struct cli *c, int (*fn)(struct sfs_txn *t, void *ctx), void *ctx)
{
	return run_catalog(c, true, fn, ctx);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(struct cli_progress *p, const char *what, int mode)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->enabled = mode < 0 ? isatty(STDERR_FILENO) : mode;
	p->what = what;
	p->start = now();
}

void cli_progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_progress *p = ctx;
	char a[32], b[32], rate[32], eta[32] = "";
	double t = now(), el;

	p->done = done;
	p->total = total;
	if (!p->enabled || t - p->last < 0.2)
		return;
	p->last = t;
	el = t - p->start;
	cli_human(el > 0 ? (uint64_t)((double)done / el) : 0, rate, sizeof(rate));
	if (total && done && el > 0.5) {
		double left = (double)(total - (done < total ? done : total)) / ((double)done / el);
		snprintf(eta, sizeof(eta), "  ETA %.0fs", left);
	}
	if (total)
		fprintf(stderr, "\r%s: %s / %s  %s/s%s   ", p->what, cli_human(done, a, sizeof(a)),
			cli_human(total, b, sizeof(b)), rate, eta);
	else
		fprintf(stderr, "\r%s: %s  %s/s   ", p->what, cli_human(done, a, sizeof(a)), rate);
	fflush(stderr);
}

void cli_progress_done(struct cli_progress *p)
{
	if (p->enabled && p->last > 0)
		fputs("\n", stderr);
}
