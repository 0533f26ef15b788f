// SPDX-License-Identifier: MIT
/*
 * `snapfs mount`: option parsing, the daemon and the FUSE session. The
 * command forks before it opens anything (LMDB environments and threads do
 * not survive a fork), the child opens the store, mounts and only then
 * tells the waiting parent through a pipe that the mount is ready, so the
 * command returns when the mount can be used, or fails with the child's
 * error on stderr. Options that mount(8) and fstab pass along (ro, rw,
 * nofail, dev, suid, defaults...) are accepted; the mount is read-only
 * whatever they say.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli.h"
#include "files_int.h"
#include "fsops_int.h"
#include "mount.h"
#include "mount_int.h"
#include "snapfs/chunk.h"
#include "snapfs/keys.h"
#include "snapfs/log.h"
#include "snapfs/parse.h"

#define DEFAULT_CACHE (256ull << 20)
#define DEFAULT_READAHEAD (8ull << 20)
#define DEFAULT_KERNEL_READAHEAD (1ull << 20)
#define FUSE_OPTS_MAX 4096

static const char usage_text[] =
	"usage: snapfs [--store STORE] mount MOUNTPOINT [-f] [-s] [-d] [-o OPTIONS]\n"
	"       snapfs STORE MOUNTPOINT -o OPTIONS      (as mount.fuse3 runs it)\n"
	"\n"
	"Mounts the store read-only: snapshots/<id>.img, volumes/<volume>/...\n"
	"  -f                 stay in the foreground (logs to stderr)\n"
	"  -s                 single-threaded\n"
	"  -d                 FUSE debug output (implies -f)\n"
	"  -o cache_size=N    block cache size, K/M/G suffixes (default 256M)\n"
	"  -o readahead=N     most bytes read ahead of a sequential reader (default 8M, 0: off)\n"
	"  -o ra_threads=N    readahead workers (default: one per CPU)\n"
	"  -o kernel_readahead=N  the kernel's readahead for the mount (default 1M, 0: leave)\n"
	"  -o max_read=N      largest read request the kernel may send\n"
	"  -o max_idle_threads=N  idle FUSE threads kept (default 10)\n"
	"  -o key_file=F      the key file of an encrypted store (default:\n"
	"                     $SNAPFS_KEY_FILE; without it the passphrase is asked)\n"
	"  -o allow_other     let other users see the mount\n"
	"  -o cache_dir=DIR   a store on RADOS (rados:POOL?conf=F): this host's state and\n"
	"                     chunk cache (default $SNAPFS_CACHE_DIR, $XDG_CACHE_HOME/snapfs\n"
	"                     or /var/cache/snapfs)\n"
	"  -o chunk_cache_size=N  bound of the chunk cache directory (default 1G)\n"
	"Unmount with fusermount3 -u MOUNTPOINT (or umount as root).\n";

/* Options that mount(8), fstab or systemd pass and that mean nothing
 * here: accepted silently so that fstab lines and .mount units work. */
static const char *const ignored_opts[] = {
	"ro", "rw", "nofail", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
	"defaults", "auto", "noauto", "user", "users", "nouser", "owner", "group",
	"_netdev", "async", "sync", "atime", "noatime", "relatime", "norelatime",
	"strictatime", "nostrictatime", "diratime", "nodiratime", "lazytime",
	"nolazytime", "silent", "loud", "default_permissions", "bg", "fg", NULL,
};

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	uint64_t v;
	int r = sfs_parse_uint(s, 0, max, &v);

	if (r == 0)
		*ret = (unsigned)v;
	return r;
}

static bool is_ignored(const char *opt)
{
	for (size_t i = 0; ignored_opts[i]; i++)
		if (!strcmp(opt, ignored_opts[i]))
			return true;
	/* x-systemd.*, x-gvfs-*, comment=...: for other programs. */
	return !strncmp(opt, "x-", 2) || !strncmp(opt, "comment=", 8) ||
	       /* set by this command itself */
	       !strncmp(opt, "fsname=", 7) || !strncmp(opt, "subtype=", 8);
}

/* One option of a -o list. Returns 0, or -EINVAL after printing why. */
static int parse_one_opt(const char *opt, struct sfs_mount_opts *o)
{
	const char *eq = strchr(opt, '=');
	const char *val = eq ? eq + 1 : NULL;
	size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
	uint64_t size;

#define KEY(k) (klen == sizeof(k) - 1 && !strncmp(opt, k, klen))
	if (!*opt || is_ignored(opt))
		return 0;
	if (KEY("cache_size") && val) {
		if (sfs_parse_size(val, &size) < 0 || size < (1u << 20))
			goto bad;
		o->cache_bytes = (size_t)size;
	} else if (KEY("readahead") && val) {
		if (sfs_parse_size(val, &size) < 0)
			goto bad;
		o->readahead_bytes = (size_t)size;
	} else if (KEY("kernel_readahead") && val) {
		if (sfs_parse_size(val, &size) < 0)
			goto bad;
		o->kernel_readahead = (size_t)size;
	} else if (KEY("ra_threads") && val) {
		if (parse_uint(val, 64, &o->ra_threads) < 0)
			goto bad;
	} else if (KEY("max_read") && val) {
		if (parse_uint(val, 1u << 30, &o->max_read) < 0 || o->max_read < 4096)
			goto bad;
	} else if (KEY("max_idle_threads") && val) {
		if (parse_uint(val, 1024, &o->max_idle_threads) < 0)
			goto bad;
	} else if (KEY("key_file") && val && *val) {
		o->key_file = val;
	} else if (KEY("cache_dir") && val && *val) {
		/* A store on RADOS: this host's state and chunk cache. */
		char abs[PATH_MAX];
		setenv("SNAPFS_CACHE_DIR", realpath(val, abs) ? abs : val, 1);
	} else if (KEY("chunk_cache_size") && val) {
		if (sfs_parse_size(val, &size) < 0)
			goto bad;
		char num[32];
		snprintf(num, sizeof(num), "%" PRIu64, size);
		setenv("SNAPFS_CACHE_SIZE", num, 1);
	} else if (KEY("allow_other") && !val) {
		o->allow_other = true;
	} else if (KEY("debug") && !val) {
		o->debug = true;
	} else {
		sfs_log(SFS_LOG_WARN, "mount: ignoring unknown option '%s'", opt);
	}
	return 0;
bad:
	fprintf(stderr, "snapfs mount: bad value in option '%s'\n", opt);
	return -EINVAL;
#undef KEY
}

static int parse_opt_list(const char *list, struct sfs_mount_opts *o)
{
	char *copy = strdup(list), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save))
		r = parse_one_opt(t, o);
	if (o->key_file && o->key_file >= copy && o->key_file < copy + strlen(list) + 1) {
		/* It points into the copy: keep it for the life of the mount. */
		o->key_file = strdup(o->key_file);
		if (!o->key_file)
			r = -ENOMEM;
	}
	free(copy);
	return r;
}

static int parse_args(int argc, char **argv, struct sfs_mount_opts *o, const char **ret_mp)
{
	const char *mp = NULL;

	memset(o, 0, sizeof(*o));
	o->cache_bytes = DEFAULT_CACHE;
	o->readahead_bytes = DEFAULT_READAHEAD;
	o->max_idle_threads = 10;
	o->kernel_readahead = DEFAULT_KERNEL_READAHEAD;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 1;
		} else if (!strcmp(a, "-f")) {
			o->foreground = true;
		} else if (!strcmp(a, "-s")) {
			o->single_thread = true;
		} else if (!strcmp(a, "-d")) {
			o->debug = true;
		} else if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
			const char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!list) {
				fputs("snapfs mount: -o needs an argument\n", stderr);
				return -EINVAL;
			}
			if (parse_opt_list(list, o) < 0)
				return -EINVAL;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "snapfs mount: unknown option '%s'\n%s", a, usage_text);
			return -EINVAL;
		} else if (!mp) {
			mp = a;
		} else {
			fprintf(stderr, "snapfs mount: unexpected argument '%s'\n", a);
			return -EINVAL;
		}
	}
	if (!mp) {
		fprintf(stderr, "snapfs mount: missing MOUNTPOINT\n%s", usage_text);
		return -EINVAL;
	}
	if (o->debug)
		o->foreground = true; /* debug output goes to the terminal */
	*ret_mp = mp;
	return 0;
}

/* Appends ",key" with commas and backslashes escaped, as fuse_opt wants. */
static int opt_append(char *buf, size_t cap, const char *key, const char *val)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, cap - n, "%s%s%s", n ? "," : "", key, val ? "=" : "");

	if (w < 0 || (size_t)w >= cap - n)
		return -E2BIG;
	n += (size_t)w;
	for (; val && *val; val++) {
		if (n + 3 > cap)
			return -E2BIG;
		if (*val == ',' || *val == '\\')
			buf[n++] = '\\';
		buf[n++] = *val;
	}
	buf[n] = '\0';
	return 0;
}

static void fuse_log_to_sfs(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	sfs_log(level <= FUSE_LOG_ERR ? SFS_LOG_ERR
		: level == FUSE_LOG_WARNING ? SFS_LOG_WARN
		: level <= FUSE_LOG_INFO ? SFS_LOG_INFO
					 : SFS_LOG_DEBUG,
		"%s", msg);
}

/* From now on nobody reads our stderr: log to syslog, let go of the
 * terminal and the working directory, then release the parent. */
static void detach(int ready_fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	char ok = 0;

	openlog("snapfs", LOG_PID, LOG_DAEMON);
	sfs_log_set_sink(sfs_log_syslog_sink, NULL);
	if (chdir("/") < 0)
		sfs_log(SFS_LOG_WARN, "chdir /: %s", strerror(errno));
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(ready_fd, &ok, 1) != 1)
		sfs_log(SFS_LOG_WARN, "could not tell the parent that the mount is ready");
	close(ready_fd);
}

/* Finds the sysfs readahead knob of the mount on mp from its device
 * number in mountinfo: stat(2) on mp would ask the not yet running
 * session and hang. */
static void find_bdi(struct sfs_mount *mt, const char *mp)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	mt->bdi_ra_path[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char path[PATH_MAX];

		/* "36 35 0:52 / /mnt/snaps rw,... - fuse.snapfs ..."; octal
		 * escapes in the path are compared as they are. */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, path) == 3 &&
		    !strcmp(path, mp) && strstr(line, " - fuse.snapfs "))
			snprintf(mt->bdi_ra_path, sizeof(mt->bdi_ra_path),
				 "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	}
	fclose(f);
}

void sfs_mount_tune_readahead(struct sfs_mount *mt)
{
	char val[32];
	int fd, n;

	if (!mt->opts.kernel_readahead || !mt->bdi_ra_path[0] ||
	    __atomic_exchange_n(&mt->bdi_tuned, 1, __ATOMIC_ACQ_REL))
		return;
	fd = open(mt->bdi_ra_path, O_WRONLY | O_CLOEXEC);
	n = snprintf(val, sizeof(val), "%zu\n", mt->opts.kernel_readahead >> 10);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		sfs_log(SFS_LOG_DEBUG, "cannot raise kernel readahead via %s: %s", mt->bdi_ra_path,
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* What the mount can do without once it is ready: the readahead workers,
 * the statistics thread, the knob of the kernel's readahead. They start
 * after the waiting parent has been told, while whatever runs next (a
 * restore, a VM launcher) starts up itself, and before the session's
 * threads, so that no request sees them half made. Without them the
 * mount serves every byte: a failure is a warning. */
static void start_helpers(struct sfs_mount *mt, const char *mp)
{
	int r;

	find_bdi(mt, mp);
	r = sfs_mount_stats_signal_start(mt);
	if (r < 0)
		sfs_log(SFS_LOG_WARN, "no statistics on SIGUSR1: cannot start their thread: %s",
			strerror(-r));
	r = sfs_reader_start_readahead(mt->reader, mt->opts.ra_threads,
				       sfs_mount_ra_window(&mt->opts));
	if (r < 0)
		sfs_log(SFS_LOG_WARN, "reads go without readahead: cannot start its workers: %s",
			strerror(-r));
}

static int session_run(struct sfs_mount *mt, const char *store, const char *mp, int ready_fd)
{
	char opts[FUSE_OPTS_MAX] = "";
	char *fargv[5];
	int fargc = 0, r;
	struct fuse_args args;
	struct fuse_session *se;
	char num[32];
	double t0;

	r = opt_append(opts, sizeof(opts), "ro", NULL);
	if (!r)
		r = opt_append(opts, sizeof(opts), "default_permissions", NULL);
	if (!r)
		r = opt_append(opts, sizeof(opts), "fsname", store);
	if (!r)
		r = opt_append(opts, sizeof(opts), "subtype", "snapfs");
	if (!r && mt->opts.allow_other)
		r = opt_append(opts, sizeof(opts), "allow_other", NULL);
	if (!r && mt->opts.max_read) {
		snprintf(num, sizeof(num), "%u", mt->opts.max_read);
		r = opt_append(opts, sizeof(opts), "max_read", num);
	}
	if (r < 0)
		return sfs_log_errno(r, "mount options");
	fargv[fargc++] = (char *)"snapfs";
	fargv[fargc++] = (char *)"-o";
	fargv[fargc++] = opts;
	if (mt->opts.debug)
		fargv[fargc++] = (char *)"-d";
	fargv[fargc] = NULL;
	args = (struct fuse_args)FUSE_ARGS_INIT(fargc, fargv);

	t0 = now_ms();
	se = fuse_session_new(&args, &sfs_fsops, sizeof(sfs_fsops), mt);
	if (!se) {
		fuse_opt_free_args(&args);
		return sfs_log_errno(-EINVAL, "cannot create the FUSE session");
	}
	if (fuse_set_signal_handlers(se) != 0) {
		r = sfs_log_errno(-EIO, "cannot install signal handlers");
		goto out_destroy;
	}
	if (fuse_session_mount(se, mp) != 0) {
		r = sfs_log_errno(-EIO, "cannot mount on %s", mp);
		goto out_signals;
	}
	sfs_log(SFS_LOG_DEBUG, "start-up: FUSE session and mount %.2f ms", now_ms() - t0);
	if (ready_fd >= 0)
		detach(ready_fd);
	t0 = now_ms();
	start_helpers(mt, mp);
	sfs_log(SFS_LOG_DEBUG, "start-up: after the mount was ready, helpers %.2f ms", now_ms() - t0);
	sfs_log(ready_fd >= 0 ? SFS_LOG_INFO : SFS_LOG_DEBUG, "mounted %s on %s", store, mp);
	if (mt->opts.single_thread) {
		r = fuse_session_loop(se);
	} else {
		struct fuse_loop_config cfg = { .clone_fd = 0,
						.max_idle_threads = mt->opts.max_idle_threads };
		r = fuse_session_loop_mt(se, &cfg);
	}
	/* A positive value is the signal that ended the loop: a clean exit. */
	if (r > 0)
		r = 0;
	if (r < 0)
		sfs_log(SFS_LOG_ERR, "FUSE session failed: %s", strerror(-r));
	fuse_session_unmount(se);
	sfs_log(ready_fd >= 0 ? SFS_LOG_INFO : SFS_LOG_DEBUG, "unmounted %s", mp);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return r;
}

/* Opens the store, serves it and closes everything again. ready_fd >= 0
 * is the pipe to the waiting parent. Returns 0 or -errno (logged). */
static int serve(const struct sfs_mount_opts *o, const char *store, const char *mp, int ready_fd,
		 const struct sfs_unlock *cred)
{
	struct sfs_mount mt = { .opts = *o };
	double t[5];
	int r;

	/* Blocks are allocated by one thread and evicted by another; with
	 * glibc's per-thread arenas the freed space stays scattered over many
	 * arenas and the daemon's RSS grows to twice the cache bound. One
	 * arena keeps RSS at the bound and measured no slower. */
	mallopt(M_ARENA_MAX, 1);
	/* Before any thread, librados's included: the statistics thread,
	 * started once the mount is ready, is the one to take SIGUSR1. */
	sfs_mount_stats_signal_block();
	mt.uid = getuid();
	mt.gid = getgid();
	mt.mount_time = (int64_t)time(NULL);
	cli_guard_fatal_signals("mount", store, true);
	mt.store_path = store;
	mt.mountpoint = mp;
	t[0] = now_ms();
	r = sfs_store_open_cred(store, SFS_OPEN_READ, NULL, cred, &mt.store);
	if (r == -ENOKEY)
		return sfs_log_errno(r, "store %s is encrypted: give -o key_file=F or set "
					"SNAPFS_KEY_FILE, or mount from a terminal to be asked",
				     store);
	if (r == -EKEYREJECTED)
		return sfs_log_errno(r, "cannot unlock store %s: wrong key or passphrase", store);
	if (r < 0)
		return sfs_log_errno(r, "cannot open store %s", store);
	t[1] = now_ms();
	r = sfs_reader_new(mt.store, o->cache_bytes, &mt.reader);
	if (r < 0) {
		sfs_log_errno(r, "cannot set up the reader");
		goto out_close_store;
	}
	sfs_reader_prefault(mt.reader);
	t[2] = now_ms();
	r = sfs_tree_new(mt.store, &mt.tree);
	if (r < 0)
		goto out_free_reader;
	t[3] = now_ms();
	r = sfs_files_new(mt.reader, &mt.files);
	if (r < 0)
		goto out_free_tree;
	t[4] = now_ms();
	/* What a mount spends before it can answer, for whoever tunes it. */
	sfs_log(SFS_LOG_DEBUG, "start-up: store open %.2f ms, reader %.2f ms, tree %.2f ms, files %.2f ms",
		t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3]);
	r = session_run(&mt, store, mp, ready_fd);
	if (sfs_log_get_level() >= SFS_LOG_DEBUG) {
		size_t cached;
		uint64_t hits, misses;

		sfs_reader_stats(mt.reader, &cached, &hits, &misses);
		sfs_log(SFS_LOG_DEBUG, "block cache: %zu bytes, %llu hits, %llu misses", cached,
			(unsigned long long)hits, (unsigned long long)misses);
	}
	sfs_files_free(mt.files);
out_free_tree:
	sfs_tree_free(mt.tree);
out_free_reader:
	sfs_mount_stats_signal_stop(&mt);
	sfs_reader_free(mt.reader);
out_close_store:
	sfs_store_close(mt.store);
	return r;
}

/* In the parent: wait until the child says the mount is ready (a zero
 * byte) or dies; its exit status is then ours. */
static int wait_ready(pid_t child, int fd)
{
	char status;
	ssize_t n;
	int ws;

	do
		n = read(fd, &status, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n == 1 && status == 0)
		return 0;
	while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(ws) && WEXITSTATUS(ws) ? WEXITSTATUS(ws) : 1;
}

int sfs_cmd_mount(const char *store_path, int argc, char **argv)
{
	struct sfs_mount_opts o;
	char store[PATH_MAX], mp[PATH_MAX];
	const char *mp_arg;
	struct stat st;
	struct sfs_unlock cred = { 0 };
	void *kbuf = NULL;
	size_t klen = 0;
	int fds[2] = { -1, -1 };
	int r;

	r = parse_args(argc, argv, &o, &mp_arg);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (!store_path)
		store_path = getenv("SNAPFS_STORE");
	if (!store_path || !*store_path) {
		fputs("snapfs mount: no store given (--store PATH or SNAPFS_STORE)\n", stderr);
		return 2;
	}
	/* Absolute paths: the daemon leaves the working directory. */
	if (!strncmp(store_path, "rados:", 6)) {
		snprintf(store, sizeof(store), "%s", store_path);
	} else if (!realpath(store_path, store)) {
		fprintf(stderr, "snapfs mount: store %s: %s\n", store_path, strerror(errno));
		return 1;
	}
	if (!realpath(mp_arg, mp) || stat(mp, &st) < 0) {
		fprintf(stderr, "snapfs mount: mount point %s: %s\n", mp_arg, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "snapfs mount: mount point %s: %s\n", mp_arg, strerror(ENOTDIR));
		return 1;
	}
	if (o.debug)
		sfs_log_set_level(SFS_LOG_DEBUG);
	fuse_set_log_func(fuse_log_to_sfs);
	/* The key is read, or the passphrase asked for, here: before the
	 * daemon leaves the terminal and the working directory. */
	if (!o.key_file)
		o.key_file = getenv("SNAPFS_KEY_FILE");
	if (sfs_store_path_encrypted(store) == 1) {
		struct cli_keys keys = { .key_file = o.key_file, .pass_fd = -1 };
		char prompt[PATH_MAX + 32];

		if (!o.key_file) {
			int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

			if (tty < 0) {
				fprintf(stderr, "snapfs mount: store %s is encrypted: give -o key_file=F or "
						"set SNAPFS_KEY_FILE, or mount from a terminal to be "
						"asked for the passphrase\n",
					store);
				return 1;
			}
			close(tty);
		}
		snprintf(prompt, sizeof(prompt), "Passphrase for store %s: ", store);
		r = cli_cred_make(&keys, prompt, false, &cred, &kbuf, &klen);
		if (r)
			return r;
	}

	if (!o.foreground) {
		pid_t pid;

		if (pipe2(fds, O_CLOEXEC) < 0) {
			fprintf(stderr, "snapfs mount: pipe: %s\n", strerror(errno));
			return 1;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "snapfs mount: fork: %s\n", strerror(errno));
			close(fds[0]);
			close(fds[1]);
			return 1;
		}
		if (pid > 0) {
			close(fds[1]);
			sfs_key_free(kbuf, klen);
			r = wait_ready(pid, fds[0]);
			/* Nothing is buffered (flushed before the fork) and
			 * nothing is held open but by the child: leave without
			 * the libraries' exit handlers, whose code is paged in
			 * while the mount command waits (from the child's
			 * signal to the parent's exit: 1.6-2.5 against
			 * 2.3-3.4 ms, caches dropped, traced). */
			_exit(r);
		}
		close(fds[0]);
		setsid();
	}
	r = serve(&o, store, mp, fds[1], &cred);
	sfs_key_free(kbuf, klen);
	return r < 0 ? 1 : 0;
}
