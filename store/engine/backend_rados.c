// SPDX-License-Identifier: MIT
/*
 * The RADOS backend: packs are objects pack.%016x of one pool. The active
 * pack is appended to in 4 MiB asynchronous writes (at most four in
 * flight), and sync waits until the cluster has acknowledged every one,
 * which is what the store's commit protocol needs before it commits the
 * catalog; seal marks the object sealed (an xattr) and it is never written
 * again. Reads go through 4 MiB segments of the pack objects: one RADOS
 * read (with the object's xattrs, in the same operation) fills a segment
 * in memory, concurrent readers of one segment wait for one fetch, and a
 * segment of a sealed pack is also kept in a size-bounded directory
 * (STATE/cache) so that a host reads a hot block from the cluster once.
 * Segments of packs not sealed may still be cut by a recovering writer, so
 * they are kept in memory only and dropped at every new catalog epoch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lazylib_int.h"
#include "rados_int.h"
#include "snapfs/log.h"
#include "snapfs/store.h"
#include "util_int.h"

static __thread char detail[512];

void sfs_rados_detail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	sfs_log(SFS_LOG_DEBUG, "%s", detail);
}

void sfs_rados_detail_clear(void)
{
	detail[0] = '\0';
}

bool sfs_store_error_detail(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", detail);
	return detail[0] != '\0';
}

bool sfs_rados_is_spec(const char *path)
{
	return path && !strncmp(path, "rados:", 6);
}

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
	if (len == 0 || len >= cap)
		return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int sfs_rados_spec_parse(const char *spec, struct sfs_rados_params *p)
{
	const char *s, *q;

	memset(p, 0, sizeof(*p));
	if (!sfs_rados_is_spec(spec))
		return -EINVAL;
	s = spec + 6;
	q = strchr(s, '?');
	if (copy_field(p->pool, sizeof(p->pool), s, q ? (size_t)(q - s) : strlen(s)) < 0)
		return -EINVAL;
	while (q && *q) {
		const char *k = q + 1, *e = strchr(k, '&'), *v = strchr(k, '=');
		size_t klen;

		if (!e)
			e = k + strlen(k);
		if (!v || v > e)
			return -EINVAL;
		klen = (size_t)(v - k);
		v++;
		if (klen == 4 && !strncmp(k, "conf", 4)) {
			if (copy_field(p->conf, sizeof(p->conf), v, (size_t)(e - v)) < 0)
				return -EINVAL;
		} else if (klen == 4 && !strncmp(k, "user", 4)) {
			if (copy_field(p->user, sizeof(p->user), v, (size_t)(e - v)) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		q = *e ? e : NULL;
	}
	if (!p->conf[0])
		return -EINVAL;
	return 0;
}

int sfs_rados_params_read(int dirfd, struct sfs_rados_params *p)
{
	char *text = NULL, *line, *save = NULL;
	int r;

	memset(p, 0, sizeof(*p));
	r = sfs_read_store_file(dirfd, SFS_RADOS_PARAMS_FILE, 4096, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? -EMEDIUMTYPE : r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strstr(line, " = ");

		if (!eq)
			continue;
		*eq = '\0';
		if (!strcmp(line, "pool"))
			snprintf(p->pool, sizeof(p->pool), "%s", eq + 3);
		else if (!strcmp(line, "conf"))
			snprintf(p->conf, sizeof(p->conf), "%s", eq + 3);
		else if (!strcmp(line, "user"))
			snprintf(p->user, sizeof(p->user), "%s", eq + 3);
	}
	free(text);
	return p->pool[0] && p->conf[0] ? 0 : -EMEDIUMTYPE;
}

int sfs_rados_params_write(int dirfd, const struct sfs_rados_params *p)
{
	char buf[1536];
	int n = snprintf(buf, sizeof(buf),
			 "# where this store's packs and catalog live\n"
			 "pool = %s\nconf = %s\nuser = %s\n",
			 p->pool, p->conf, p->user);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return sfs_write_file_atomic(dirfd, SFS_RADOS_PARAMS_FILE, buf, (size_t)n);
}

#ifndef SFS_HAVE_RADOS

int sfs_rados_connect(const struct sfs_rados_params *p, struct sfs_rados_conn **ret)
{
	(void)p;
	*ret = NULL;
	sfs_rados_detail("this snapfs was built without RADOS support (librados)");
	return -EPROTONOSUPPORT;
}

void sfs_rados_disconnect(struct sfs_rados_conn *c)
{
	(void)c;
}

struct sfs_rados_conn *sfs_rados_backend_conn(struct sfs_backend *b)
{
	(void)b;
	return NULL;
}

int sfs_rados_get(struct sfs_rados_conn *c, const char *oid, size_t max, char **ret,
		  size_t *ret_len)
{
	return -EPROTONOSUPPORT;
}

int sfs_rados_put(struct sfs_rados_conn *c, const char *oid, const void *buf, size_t len, bool excl)
{
	return -EPROTONOSUPPORT;
}

int sfs_rados_remove(struct sfs_rados_conn *c, const char *oid)
{
	return -EPROTONOSUPPORT;
}

int sfs_rados_list_prefix(struct sfs_rados_conn *c, const char *prefix, char ***ret)
{
	return -EPROTONOSUPPORT;
}

void sfs_rados_names_free(char **names)
{
	(void)names;
}

int sfs_rados_lock_holder(struct sfs_rados_conn *c, char *ret, size_t cap)
{
	return -EPROTONOSUPPORT;
}

int sfs_rados_lock_break(struct sfs_rados_conn *c)
{
	return -EPROTONOSUPPORT;
}

void sfs_rados_backend_new_epoch(struct sfs_backend *b)
{
	(void)b;
}

uint64_t sfs_rados_read_ops(void)
{
	return 0;
}

#else /* SFS_HAVE_RADOS */

#include <rados/librados.h>

/*
 * librados and the Ceph libraries under it are some 18 MB that every
 * snapfs process would map at start-up, users of a local store included,
 * so they are loaded on the first connection to a cluster (lazylib_int.h).
 */
#define LIBRADOS_SONAME "librados.so.2"
#define LIBRADOS_FNS(X)                                                                            \
	X(rados_aio_create_completion2)                                                            \
	X(rados_aio_get_return_value)                                                              \
	X(rados_aio_release)                                                                       \
	X(rados_aio_wait_for_complete)                                                             \
	X(rados_aio_write)                                                                         \
	X(rados_break_lock)                                                                        \
	X(rados_conf_get)                                                                          \
	X(rados_conf_read_file)                                                                    \
	X(rados_conf_set)                                                                          \
	X(rados_connect)                                                                           \
	X(rados_create2)                                                                           \
	X(rados_create_read_op)                                                                    \
	X(rados_create_write_op)                                                                   \
	X(rados_getxattrs_end)                                                                     \
	X(rados_getxattrs_next)                                                                    \
	X(rados_ioctx_create)                                                                      \
	X(rados_ioctx_destroy)                                                                     \
	X(rados_list_lockers)                                                                      \
	X(rados_lock_exclusive)                                                                    \
	X(rados_nobjects_list_close)                                                               \
	X(rados_nobjects_list_next)                                                                \
	X(rados_nobjects_list_open)                                                                \
	X(rados_read)                                                                              \
	X(rados_read_op_getxattrs)                                                                 \
	X(rados_read_op_operate)                                                                   \
	X(rados_read_op_read)                                                                      \
	X(rados_release_read_op)                                                                   \
	X(rados_release_write_op)                                                                  \
	X(rados_remove)                                                                            \
	X(rados_setxattr)                                                                          \
	X(rados_shutdown)                                                                          \
	X(rados_stat)                                                                              \
	X(rados_trunc)                                                                             \
	X(rados_unlock)                                                                            \
	X(rados_write)                                                                             \
	X(rados_write_full)                                                                        \
	X(rados_write_op_create)                                                                   \
	X(rados_write_op_operate)                                                                  \
	X(rados_write_op_write_full)

SFS_LAZYLIB(lib, LIBRADOS_SONAME, LIBRADOS_FNS);

/* 0 once librados is loaded, or -ELIBACC with the reason in the detail. */
static int lib_need(void)
{
	if (sfs_lazylib_need(&lib_lib) == 0)
		return 0;
	sfs_rados_detail("RADOS store needs librados (Debian package librados2): %s", lib_lib.error);
	return -ELIBACC;
}

#define SEG_SHIFT     22
#define SEG_SIZE      (1u << SEG_SHIFT) /* 4 MiB: one RADOS read */
#define MEM_SEGS      8			/* segments kept in memory */
#define WBUF_SIZE     (4u << 20)	/* one asynchronous write */
#define WINFLIGHT     4			/* writes in flight per pack */
#define CACHE_DEFAULT (1ull << 30)
#define LOCK_NAME     "writer"
#define PUT_PIECE     (64u << 20)

static _Atomic uint64_t read_ops;

uint64_t sfs_rados_read_ops(void)
{
	return atomic_load(&read_ops);
}

struct sfs_rados_conn {
	rados_t cluster;
	rados_ioctx_t io;
	char pool[128];
};

struct seg {
	uint64_t number, index;
	char *data;
	size_t len;
	bool sealed, loading, failed;
	uint64_t epoch;
	unsigned refs;
	uint64_t used; /* LRU clock */
};

struct rb {
	struct sfs_rados_conn *conn;
	int cachefd; /* STATE/cache, -1 without */
	uint64_t cache_bound, cache_bytes;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t loaded;
	struct seg segs[MEM_SEGS];
	uint64_t clock, epoch;
	bool locked; /* we hold the writer lock */
	char cookie[128];
};

struct wreq {
	rados_completion_t c;
	char *buf;
};

struct sfs_pack_out {
	struct rb *rb;
	uint64_t number;
	uint64_t len;	  /* bytes appended (buffered or sent) */
	uint64_t buf_off; /* object offset of buf[0] */
	char *buf;
	size_t buf_len;
	struct wreq w[WINFLIGHT];
	size_t nw;
	int err; /* a failed write: the pack is unusable */
};

static struct rb *RB(const struct sfs_backend *b)
{
	return b->priv;
}

static void oid_of(uint64_t number, char *buf, size_t cap)
{
	snprintf(buf, cap, "pack.%016" PRIx64, number);
}

static void conf_bound(rados_t cl, const char *key, long max)
{
	char v[64];

	if (lib.rados_conf_get(cl, key, v, sizeof(v)) == 0) {
		double d = strtod(v, NULL);
		if (d <= 0 || d > max) {
			snprintf(v, sizeof(v), "%ld", max);
			lib.rados_conf_set(cl, key, v);
		}
	}
}

int sfs_rados_connect(const struct sfs_rados_params *p, struct sfs_rados_conn **ret)
{
	const char *user = p->user[0] ? p->user : "client.admin";
	struct sfs_rados_conn *c;
	int r;

	*ret = NULL;
	r = lib_need();
	if (r < 0)
		return r;
	if (strncmp(user, "client.", 7)) {
		sfs_rados_detail("ceph user '%s' must be of the form client.NAME", user);
		return -EINVAL;
	}
	if (access(p->conf, R_OK) < 0) {
		r = -errno;
		sfs_rados_detail("cannot read ceph conf %s: %s", p->conf, strerror(-r));
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->pool, sizeof(c->pool), "%s", p->pool);
	r = lib.rados_create2(&c->cluster, "ceph", user, 0);
	if (r < 0)
		goto out_free;
	r = lib.rados_conf_read_file(c->cluster, p->conf);
	if (r < 0) {
		sfs_rados_detail("cannot parse ceph conf %s: %s", p->conf, strerror(-r));
		goto out_shutdown;
	}
	/* librados logs to stderr on its own; the store says one line. */
	lib.rados_conf_set(c->cluster, "log_to_stderr", "false");
	lib.rados_conf_set(c->cluster, "err_to_stderr", "false");
	lib.rados_conf_set(c->cluster, "log_file", "");
	/* Never wait forever: an unreachable cluster is an error in bounded
	 * time, whatever the conf says. */
	conf_bound(c->cluster, "client_mount_timeout", 30);
	conf_bound(c->cluster, "rados_mon_op_timeout", 30);
	conf_bound(c->cluster, "rados_osd_op_timeout", 30);
	r = lib.rados_connect(c->cluster);
	if (r < 0) {
		if (r == -ETIMEDOUT || r == -ENOTCONN)
			sfs_rados_detail("cannot reach the ceph cluster of %s: %s", p->conf,
					 strerror(-r));
		else if (r == -EACCES || r == -EPERM || r == -ENOENT)
			sfs_rados_detail("ceph refused user %s (%s): check its key in the keyring",
					 user, strerror(-r));
		else
			sfs_rados_detail("cannot connect to the ceph cluster of %s as %s: %s",
					 p->conf, user, strerror(-r));
		goto out_shutdown;
	}
	r = lib.rados_ioctx_create(c->cluster, p->pool, &c->io);
	if (r < 0) {
		if (r == -ENOENT)
			sfs_rados_detail("ceph pool '%s' does not exist", p->pool);
		else
			sfs_rados_detail("cannot open ceph pool '%s': %s", p->pool, strerror(-r));
		goto out_shutdown;
	}
	*ret = c;
	return 0;
out_shutdown:
	lib.rados_shutdown(c->cluster);
out_free:
	free(c);
	return r;
}

void sfs_rados_disconnect(struct sfs_rados_conn *c)
{
	if (!c)
		return;
	lib.rados_ioctx_destroy(c->io);
	lib.rados_shutdown(c->cluster);
	free(c);
}

int sfs_rados_get(struct sfs_rados_conn *c, const char *oid, size_t max, char **ret,
		  size_t *ret_len)
{
	uint64_t size;
	time_t mtime;
	size_t got = 0;
	char *buf;
	int r;

	r = lib.rados_stat(c->io, oid, &size, &mtime);
	if (r < 0)
		return r;
	if (size > max)
		return -EFBIG;
	buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < size) {
		size_t n = size - got > (64u << 20) ? 64u << 20 : size - got;
		r = lib.rados_read(c->io, oid, buf + got, n, got);
		atomic_fetch_add(&read_ops, 1);
		if (r < 0) {
			free(buf);
			return r;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}

int sfs_rados_put(struct sfs_rados_conn *c, const char *oid, const void *buf, size_t len, bool excl)
{
	rados_write_op_t op;
	size_t first = len < PUT_PIECE ? len : PUT_PIECE;
	int r;

	/* A write larger than the OSDs accept (osd_max_write_size, 90 MiB by
	 * default) goes in pieces: the first replaces the object, the others
	 * extend it. */
	if (!excl) {
		r = lib.rados_write_full(c->io, oid, buf, first);
		for (size_t off = first; r == 0 && off < len; off += PUT_PIECE) {
			size_t n = len - off < PUT_PIECE ? len - off : PUT_PIECE;
			r = lib.rados_write(c->io, oid, (const char *)buf + off, n, off);
		}
		return r;
	}
	op = lib.rados_create_write_op();
	if (!op)
		return -ENOMEM;
	lib.rados_write_op_create(op, excl ? LIBRADOS_CREATE_EXCLUSIVE : LIBRADOS_CREATE_IDEMPOTENT,
				  NULL);
	lib.rados_write_op_write_full(op, buf, len);
	r = lib.rados_write_op_operate(op, c->io, oid, NULL, 0);
	lib.rados_release_write_op(op);
	return r;
}

int sfs_rados_remove(struct sfs_rados_conn *c, const char *oid)
{
	return lib.rados_remove(c->io, oid);
}

int sfs_rados_list_prefix(struct sfs_rados_conn *c, const char *prefix, char ***ret)
{
	rados_list_ctx_t ctx;
	const char *e;
	char **v = NULL;
	size_t n = 0, cap = 0, plen = strlen(prefix);
	int r;

	r = lib.rados_nobjects_list_open(c->io, &ctx);
	if (r < 0)
		return r;
	while ((r = lib.rados_nobjects_list_next(ctx, &e, NULL, NULL)) == 0) {
		if (strncmp(e, prefix, plen))
			continue;
		if (n + 2 > cap) {
			char **nv;
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n] = strdup(e);
		if (!v[n]) {
			r = -ENOMEM;
			break;
		}
		v[++n] = NULL;
	}
	lib.rados_nobjects_list_close(ctx);
	if (r == -ENOENT)
		r = 0;
	if (r == 0 && !v) {
		v = calloc(1, sizeof(*v));
		if (!v)
			r = -ENOMEM;
	}
	if (r < 0) {
		sfs_rados_names_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

void sfs_rados_names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

int sfs_rados_lock_holder(struct sfs_rados_conn *c, char *ret, size_t cap)
{
	char tag[256], clients[1024], cookies[1024], addrs[1024];
	size_t tl = sizeof(tag), cl = sizeof(clients), kl = sizeof(cookies), al = sizeof(addrs);
	int excl;
	ssize_t n;

	ret[0] = '\0';
	n = lib.rados_list_lockers(c->io, SFS_RADOS_OBJ_LOCK, LOCK_NAME, &excl, tag, &tl, clients,
				   &cl, cookies, &kl, addrs, &al);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	if (n > 0)
		snprintf(ret, cap, "%s (%s)", cookies, clients);
	return 0;
}

int sfs_rados_lock_break(struct sfs_rados_conn *c)
{
	char tag[256], clients[1024], cookies[1024], addrs[1024];
	size_t tl = sizeof(tag), cl = sizeof(clients), kl = sizeof(cookies), al = sizeof(addrs);
	int excl;
	ssize_t n;

	n = lib.rados_list_lockers(c->io, SFS_RADOS_OBJ_LOCK, LOCK_NAME, &excl, tag, &tl, clients,
				   &cl, cookies, &kl, addrs, &al);
	if (n == -ENOENT || n == 0)
		return -ENOENT;
	if (n < 0)
		return (int)n;
	return lib.rados_break_lock(c->io, SFS_RADOS_OBJ_LOCK, LOCK_NAME, clients, cookies);
}

struct sfs_rados_conn *sfs_rados_backend_conn(struct sfs_backend *b)
{
	if (!b || b->ops != &sfs_backend_rados || !b->priv)
		return NULL;
	return RB(b)->conn;
}

/* "host H pid P": the lock's cookie, so that a refused writer can say
 * who holds it. A holder on this host whose process is gone died
 * without unlocking: its lock is broken here, as a local flock would be
 * released. */
static int writer_lock(struct rb *rb)
{
	char host[256] = "?", holder[512];
	int r;

	gethostname(host, sizeof(host) - 1);
	snprintf(rb->cookie, sizeof(rb->cookie), "host %s pid %d", host, (int)getpid());
	for (int attempt = 0; attempt < 2; attempt++) {
		char want[300];
		int pid;

		r = lib.rados_lock_exclusive(rb->conn->io, SFS_RADOS_OBJ_LOCK, LOCK_NAME,
					     rb->cookie, "snapfs writer", NULL, 0);
		if (r == 0) {
			rb->locked = true;
			return 0;
		}
		if (r != -EBUSY && r != -EEXIST)
			return r;
		if (sfs_rados_lock_holder(rb->conn, holder, sizeof(holder)) < 0)
			return -EBUSY;
		snprintf(want, sizeof(want), "host %s pid ", host);
		if (attempt == 0 && !strncmp(holder, want, strlen(want)) &&
		    sscanf(holder + strlen(want), "%d", &pid) == 1 && pid > 0 && kill(pid, 0) < 0 &&
		    errno == ESRCH) {
			sfs_log(SFS_LOG_WARN, "breaking the store's lock held by %s, which is gone",
				holder);
			sfs_rados_lock_break(rb->conn);
			continue;
		}
		sfs_rados_detail("held by %s", holder);
		return -EBUSY;
	}
	return -EBUSY;
}

/* ---- the chunk cache directory ---- */

static uint64_t cache_size_bound(void)
{
	const char *v = getenv("SNAPFS_CACHE_SIZE");
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return CACHE_DEFAULT;
	n = strtoull(v, &end, 10);
	switch (*end) {
	case 'k':
	case 'K':
		n <<= 10;
		break;
	case 'm':
	case 'M':
		n <<= 20;
		break;
	case 'g':
	case 'G':
		n <<= 30;
		break;
	default:
		break;
	}
	return n;
}

static void cache_scan(struct rb *rb)
{
	DIR *d = fdopendir(dup(rb->cachefd));

	rb->cache_bytes = 0;
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		if (e->d_name[0] != '.' && fstatat(rb->cachefd, e->d_name, &st, 0) == 0)
			rb->cache_bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

/* Drops files until the directory is under 7/8 of its bound (oldest
 * access first would need a walk of every file's atime; any order keeps
 * the bound, which is what matters to the host). Under rb->lock. */
static void cache_trim(struct rb *rb)
{
	DIR *d;

	if (rb->cache_bytes <= rb->cache_bound)
		return;
	d = fdopendir(dup(rb->cachefd));
	if (!d)
		return;
	rewinddir(d);
	for (struct dirent *e; (e = readdir(d)) && rb->cache_bytes > rb->cache_bound / 8 * 7;) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(rb->cachefd, e->d_name, &st, 0) < 0)
			continue;
		if (unlinkat(rb->cachefd, e->d_name, 0) == 0)
			rb->cache_bytes -= (uint64_t)st.st_size < rb->cache_bytes
					       ? (uint64_t)st.st_size
					       : rb->cache_bytes;
	}
	closedir(d);
}

static void cache_name(uint64_t number, uint64_t index, char *buf, size_t cap)
{
	snprintf(buf, cap, "%016" PRIx64 ".%" PRIu64, number, index);
}

/* A sealed segment from the cache directory: its bytes, or -ENOENT. */
static int cache_get(struct rb *rb, uint64_t number, uint64_t index, char *buf, size_t *ret_len)
{
	char name[64];
	struct stat st;
	int fd, r;

	if (rb->cachefd < 0)
		return -ENOENT;
	cache_name(number, index, name, sizeof(name));
	fd = openat(rb->cachefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SEG_SIZE) {
		close(fd);
		return -ENOENT;
	}
	r = sfs_preadn(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (r < 0)
		return -ENOENT;
	*ret_len = (size_t)st.st_size;
	return 0;
}

static void cache_put(struct rb *rb, uint64_t number, uint64_t index, const char *buf, size_t len)
{
	char name[64], tmp[80];
	int fd;

	if (rb->cachefd < 0 || rb->cache_bound < SEG_SIZE)
		return;
	cache_name(number, index, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), ".%s.%d", name, (int)gettid());
	fd = openat(rb->cachefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (sfs_pwriten(fd, buf, len, 0) < 0 || renameat(rb->cachefd, tmp, rb->cachefd, name) < 0) {
		unlinkat(rb->cachefd, tmp, 0);
		close(fd);
		return;
	}
	close(fd);
	pthread_mutex_lock(&rb->lock);
	rb->cache_bytes += len;
	cache_trim(rb);
	pthread_mutex_unlock(&rb->lock);
}

/* Removes every cached segment of pack number; returns how many. */
static int cache_forget(struct rb *rb, uint64_t number)
{
	char prefix[32];
	size_t plen;
	int n = 0;
	DIR *d;

	if (rb->cachefd < 0)
		return 0;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%016" PRIx64 ".", number);
	d = fdopendir(dup(rb->cachefd));
	if (!d)
		return 0;
	rewinddir(d); /* the dup shares cachefd's offset */
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;

		if (strncmp(e->d_name, prefix, plen) != 0 ||
		    fstatat(rb->cachefd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    unlinkat(rb->cachefd, e->d_name, 0) < 0)
			continue;
		n++;
		pthread_mutex_lock(&rb->lock);
		rb->cache_bytes -= (uint64_t)st.st_size < rb->cache_bytes ? (uint64_t)st.st_size
									 : rb->cache_bytes;
		pthread_mutex_unlock(&rb->lock);
	}
	closedir(d);
	return n;
}

/* Forgets the segments of pack number held in memory; returns how many.
 * A pinned one stays with its reader, nameless, until put. */
static int segs_forget(struct rb *rb, uint64_t number)
{
	int n = 0;

	pthread_mutex_lock(&rb->lock);
	for (size_t i = 0; i < MEM_SEGS; i++)
		if (rb->segs[i].number == number && !rb->segs[i].loading) {
			rb->segs[i].number = UINT64_MAX;
			n++;
		}
	pthread_mutex_unlock(&rb->lock);
	return n;
}

/* ---- open and close ---- */

static int rados_open(struct sfs_backend *b, int store_dirfd, unsigned flags)
{
	struct sfs_rados_params p;
	struct rb *rb;
	int r;

	r = sfs_rados_params_read(store_dirfd, &p);
	if (r < 0)
		return r;
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	rb->cachefd = -1;
	pthread_mutex_init(&rb->lock, NULL);
	pthread_cond_init(&rb->loaded, NULL);
	for (size_t i = 0; i < MEM_SEGS; i++)
		rb->segs[i].number = UINT64_MAX;
	r = sfs_rados_connect(&p, &rb->conn);
	if (r < 0)
		goto fail;
	if (flags & SFS_BACKEND_WRITE) {
		r = writer_lock(rb);
		if (r < 0)
			goto fail;
	}
	rb->cache_bound = cache_size_bound();
	if (mkdirat(store_dirfd, "cache", 0755) == 0 || errno == EEXIST)
		rb->cachefd =
		    openat(store_dirfd, "cache", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rb->cachefd >= 0)
		cache_scan(rb);
	b->priv = rb;
	return 0;
fail:
	sfs_rados_disconnect(rb->conn);
	free(rb);
	return r;
}

static void rados_close(struct sfs_backend *b)
{
	struct rb *rb = RB(b);

	if (!rb)
		return;
	if (rb->locked)
		lib.rados_unlock(rb->conn->io, SFS_RADOS_OBJ_LOCK, LOCK_NAME, rb->cookie);
	{
		/* For benchmarks: how many RADOS reads this process issued. */
		const char *f = getenv("SNAPFS_RADOS_OPS_FILE");
		FILE *o = f && *f ? fopen(f, "ae") : NULL;

		if (o) {
			fprintf(o, "reads %" PRIu64 "\n", sfs_rados_read_ops());
			fclose(o);
		}
	}
	for (size_t i = 0; i < MEM_SEGS; i++)
		free(rb->segs[i].data);
	if (rb->cachefd >= 0)
		close(rb->cachefd);
	sfs_rados_disconnect(rb->conn);
	pthread_mutex_destroy(&rb->lock);
	pthread_cond_destroy(&rb->loaded);
	free(rb);
	b->priv = NULL;
}

/* ---- writing ---- */

static int wait_one(struct sfs_pack_out *p)
{
	struct wreq *w = &p->w[0];
	int r;

	lib.rados_aio_wait_for_complete(w->c);
	r = lib.rados_aio_get_return_value(w->c);
	lib.rados_aio_release(w->c);
	free(w->buf);
	memmove(&p->w[0], &p->w[1], (p->nw - 1) * sizeof(p->w[0]));
	p->nw--;
	if (r < 0 && !p->err)
		p->err = r;
	return r < 0 ? r : 0;
}

static int wait_all(struct sfs_pack_out *p)
{
	while (p->nw)
		wait_one(p);
	return p->err;
}

/* Sends the buffer as one asynchronous write; RADOS applies the writes
 * of one client to one object in the order they were sent. */
static int flush_buf(struct sfs_pack_out *p)
{
	char oid[64];
	struct wreq *w;
	int r;

	if (!p->buf_len)
		return 0;
	if (p->nw == WINFLIGHT)
		wait_one(p);
	if (p->err)
		return p->err;
	w = &p->w[p->nw];
	r = lib.rados_aio_create_completion2(NULL, NULL, &w->c);
	if (r < 0)
		return r;
	oid_of(p->number, oid, sizeof(oid));
	r = lib.rados_aio_write(p->rb->conn->io, oid, w->c, p->buf, p->buf_len, p->buf_off);
	if (r < 0) {
		lib.rados_aio_release(w->c);
		return p->err = r;
	}
	w->buf = p->buf;
	p->nw++;
	p->buf_off += p->buf_len;
	p->buf = NULL;
	p->buf_len = 0;
	return 0;
}

static int rados_create_pack(struct sfs_backend *b, uint64_t number, uint64_t len,
			     struct sfs_pack_out **ret)
{
	struct rb *rb = RB(b);
	struct sfs_pack_out *p;
	char oid[64];
	int r;

	oid_of(number, oid, sizeof(oid));
	if (len == 0) {
		rados_write_op_t op = lib.rados_create_write_op();

		if (!op)
			return -ENOMEM;
		lib.rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
		r = lib.rados_write_op_operate(op, rb->conn->io, oid, NULL, 0);
		lib.rados_release_write_op(op);
		if (r < 0)
			return r;
	} else {
		uint64_t size;
		time_t mtime;

		r = lib.rados_stat(rb->conn->io, oid, &size, &mtime);
		if (r < 0)
			return r;
		if (size < len)
			return -EUCLEAN;
		if (size > len) {
			r = lib.rados_trunc(rb->conn->io, oid, len);
			if (r < 0)
				return r;
			sfs_rados_backend_new_epoch(b);
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rb = rb;
	p->number = number;
	p->len = p->buf_off = len;
	*ret = p;
	return 0;
}

static int be_append(struct sfs_pack_out *p, const void *buf, size_t len)
{
	const char *s = buf;

	if (p->err)
		return p->err;
	while (len) {
		size_t n;

		if (!p->buf) {
			p->buf = malloc(WBUF_SIZE);
			if (!p->buf)
				return -ENOMEM;
		}
		n = WBUF_SIZE - p->buf_len < len ? WBUF_SIZE - p->buf_len : len;
		memcpy(p->buf + p->buf_len, s, n);
		p->buf_len += n;
		p->len += n;
		s += n;
		len -= n;
		if (p->buf_len == WBUF_SIZE) {
			int r = flush_buf(p);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int rados_sync(struct sfs_pack_out *p)
{
	int r = flush_buf(p);

	if (r == 0)
		r = wait_all(p);
	else
		wait_all(p);
	return r;
}

static void out_free(struct sfs_pack_out *p)
{
	free(p->buf);
	free(p);
}

static int rados_seal(struct sfs_pack_out *p)
{
	char oid[64];
	int r = rados_sync(p);

	if (r == 0) {
		oid_of(p->number, oid, sizeof(oid));
		r = lib.rados_setxattr(p->rb->conn->io, oid, "snapfs.sealed", "1", 1);
	}
	out_free(p);
	return r;
}

static void rados_abandon(struct sfs_pack_out *p)
{
	if (!p)
		return;
	wait_all(p);
	out_free(p);
}

/* ---- reading ---- */

/* A read the cluster did not serve (timed out, connection lost, a
 * stopped cluster) is an I/O error to the reader, as a bad sector is;
 * -ENOENT keeps its meaning (gc removed the pack). */
static int cluster_err(int r, const char *oid)
{
	if (r == -ENOENT || r == -ENOMEM)
		return r;
	sfs_log(SFS_LOG_ERR, "reading %s from the ceph cluster: %s", oid, strerror(-r));
	return -EIO;
}

/* Fetches segment index of pack number into buf: one RADOS operation
 * that reads the range and the object's xattrs. */
static int fetch(struct rb *rb, uint64_t number, uint64_t index, char *buf, size_t *ret_len,
		 bool *ret_sealed)
{
	rados_read_op_t op = lib.rados_create_read_op();
	rados_xattrs_iter_t it = NULL;
	size_t got = 0;
	int rv = 0, xv = 0, r;
	char oid[64];

	if (!op)
		return -ENOMEM;
	oid_of(number, oid, sizeof(oid));
	lib.rados_read_op_read(op, index << SEG_SHIFT, SEG_SIZE, buf, &got, &rv);
	lib.rados_read_op_getxattrs(op, &it, &xv);
	r = lib.rados_read_op_operate(op, rb->conn->io, oid, 0);
	atomic_fetch_add(&read_ops, 1);
	*ret_sealed = false;
	if (r == 0 && rv < 0)
		r = rv;
	if (r == 0 && xv == 0 && it) {
		const char *name, *val;
		size_t vl;

		while (lib.rados_getxattrs_next(it, &name, &val, &vl) == 0 && name)
			if (!strcmp(name, "snapfs.sealed"))
				*ret_sealed = true;
	}
	if (it)
		lib.rados_getxattrs_end(it);
	lib.rados_release_read_op(op);
	if (r < 0)
		return cluster_err(r, oid);
	*ret_len = got;
	return 0;
}

/*
 * The segment holding [off, off + need) of pack number, pinned (refs),
 * fetched once however many threads ask. A cached segment of a pack not
 * sealed serves only reads inside what it holds, and only in the epoch
 * it was fetched in.
 */
static int seg_get(struct rb *rb, uint64_t number, uint64_t index, size_t need_end,
		   struct seg **ret)
{
	struct seg *s = NULL, *victim = NULL;
	size_t len = 0;
	bool sealed = false;
	char *buf;
	int r;

	pthread_mutex_lock(&rb->lock);
	for (;;) {
		s = NULL;
		for (size_t i = 0; i < MEM_SEGS; i++)
			if (rb->segs[i].number == number && rb->segs[i].index == index)
				s = &rb->segs[i];
		if (!s || !s->loading)
			break;
		pthread_cond_wait(&rb->loaded, &rb->lock);
	}
	if (s && !s->failed && (s->sealed || (s->epoch == rb->epoch && need_end <= s->len))) {
		s->refs++;
		s->used = ++rb->clock;
		pthread_mutex_unlock(&rb->lock);
		*ret = s;
		return 0;
	}
	/* A slot: this one if unpinned, else the least recent unpinned. */
	if (s && !s->refs)
		victim = s;
	/* Else the least recent unpinned slot, sealed segments first: they
	 * come back from the cache directory, the others only from the
	 * cluster. */
	for (int pass = 0; pass < 2 && !victim; pass++)
		for (size_t i = 0; i < MEM_SEGS; i++) {
			struct seg *c = &rb->segs[i];

			if (c->refs || c->loading ||
			    (pass == 0 && c->number != UINT64_MAX && !c->sealed))
				continue;
			if (!victim || c->used < victim->used)
				victim = c;
		}
	if (s && s != victim) {
		/* A stale copy still pinned by a reader: leave it, fetch
		 * into the slot and forget the old one's identity. */
		s->number = UINT64_MAX;
	}
	if (!victim) {
		pthread_mutex_unlock(&rb->lock);
		return -EAGAIN; /* every slot pinned: the caller reads directly */
	}
	victim->number = number;
	victim->index = index;
	victim->loading = true;
	victim->failed = false;
	victim->epoch = rb->epoch;
	victim->refs = 1;
	victim->used = ++rb->clock;
	buf = victim->data;
	pthread_mutex_unlock(&rb->lock);

	if (!buf)
		buf = malloc(SEG_SIZE);
	r = buf ? 0 : -ENOMEM;
	if (r == 0 && cache_get(rb, number, index, buf, &len) == 0) {
		sealed = true;
	} else if (r == 0) {
		r = fetch(rb, number, index, buf, &len, &sealed);
		if (r == 0 && sealed)
			cache_put(rb, number, index, buf, len);
	}

	pthread_mutex_lock(&rb->lock);
	victim->data = buf;
	victim->len = len;
	victim->sealed = sealed;
	victim->loading = false;
	victim->failed = r < 0;
	if (r < 0) {
		victim->refs--;
		victim->number = UINT64_MAX;
	}
	pthread_cond_broadcast(&rb->loaded);
	pthread_mutex_unlock(&rb->lock);
	if (r < 0)
		return r;
	*ret = victim;
	return 0;
}

static void seg_put(struct rb *rb, struct seg *s)
{
	pthread_mutex_lock(&rb->lock);
	s->refs--;
	pthread_mutex_unlock(&rb->lock);
}

static ssize_t rados_read_pack(struct sfs_backend *b, uint64_t number, uint64_t offset,
			       const struct iovec *iov, int iovcnt)
{
	struct rb *rb = RB(b);
	size_t total = 0, done = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	while (done < total) {
		uint64_t pos = offset + done, index = pos >> SEG_SHIFT;
		size_t in = (size_t)(pos & (SEG_SIZE - 1));
		size_t want = total - done < SEG_SIZE - in ? total - done : SEG_SIZE - in;
		struct seg *s;
		size_t have;
		int r = seg_get(rb, number, index, in + want, &s);

		if (r == -EAGAIN) {
			/* Direct read, no cache. */
			char oid[64], *tmp = malloc(want);
			if (!tmp)
				return -ENOMEM;
			oid_of(number, oid, sizeof(oid));
			r = lib.rados_read(rb->conn->io, oid, tmp, want, pos);
			atomic_fetch_add(&read_ops, 1);
			if (r < 0) {
				free(tmp);
				return cluster_err(r, oid);
			}
			have = (size_t)r;
			sfs_iov_copy_in(iov, iovcnt, done, tmp, have);
			free(tmp);
			done += have;
			if (have < want)
				break;
			continue;
		}
		if (r < 0)
			return r;
		have = s->len > in ? s->len - in : 0;
		if (have > want)
			have = want;
		sfs_iov_copy_in(iov, iovcnt, done, s->data + in, have);
		seg_put(rb, s);
		done += have;
		if (have < want)
			break; /* the end of the pack */
	}
	return (ssize_t)done;
}

void sfs_rados_backend_new_epoch(struct sfs_backend *b)
{
	struct rb *rb;

	if (!b || b->ops != &sfs_backend_rados || !b->priv)
		return;
	rb = RB(b);
	pthread_mutex_lock(&rb->lock);
	rb->epoch++;
	pthread_mutex_unlock(&rb->lock);
}

/* ---- listing and the rest ---- */

static int rados_list(struct sfs_backend *b, sfs_pack_list_fn fn, void *ctx)
{
	struct rb *rb = RB(b);
	char **names;
	int r;

	r = sfs_rados_list_prefix(rb->conn, "pack.", &names);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && names[i]; i++) {
		struct sfs_pack_info info;
		uint64_t number, size;
		time_t mtime;
		char *end;

		number = strtoull(names[i] + 5, &end, 16);
		if (*end || strlen(names[i]) != 21)
			continue;
		if (lib.rados_stat(rb->conn->io, names[i], &size, &mtime) < 0)
			continue;
		info.length = info.disk = size;
		r = fn(ctx, number, &info);
	}
	sfs_rados_names_free(names);
	return r;
}

static int rados_stat_pack(struct sfs_backend *b, uint64_t number, struct sfs_pack_info *ret)
{
	char oid[64];
	uint64_t size;
	time_t mtime;
	int r;

	oid_of(number, oid, sizeof(oid));
	r = lib.rados_stat(RB(b)->conn->io, oid, &size, &mtime);
	if (r < 0)
		return r;
	ret->length = ret->disk = size;
	return 0;
}

static int rados_truncate_pack(struct sfs_backend *b, uint64_t number, uint64_t len)
{
	struct sfs_pack_info info;
	char oid[64];
	int r;

	r = rados_stat_pack(b, number, &info);
	if (r < 0)
		return r;
	if (len > info.length)
		return -EINVAL;
	oid_of(number, oid, sizeof(oid));
	r = lib.rados_trunc(RB(b)->conn->io, oid, len);
	sfs_rados_backend_new_epoch(b);
	return r;
}

static int rados_remove_pack(struct sfs_backend *b, uint64_t number)
{
	struct rb *rb = RB(b);
	char oid[64];
	int r;

	oid_of(number, oid, sizeof(oid));
	r = lib.rados_remove(rb->conn->io, oid);
	segs_forget(rb, number);
	cache_forget(rb, number);
	return r;
}

/* A record read from pack number failed its checks. The pack in the
 * cluster is the store; this host's copies of it (a segment in memory, a
 * file of the cache directory cut short or damaged on this host's disk)
 * are not: forget them, so that the read again fetches from the cluster. */
static int rados_drop(struct sfs_backend *b, uint64_t number)
{
	struct rb *rb = RB(b);
	int n = segs_forget(rb, number);

	n += cache_forget(rb, number);
	return n > 0;
}

const struct sfs_backend_ops sfs_backend_rados = {
    .name = "rados",
    .open = rados_open,
    .close = rados_close,
    .create = rados_create_pack,
    .append = be_append,
    .sync = rados_sync,
    .seal = rados_seal,
    .abandon = rados_abandon,
    .read = rados_read_pack,
    .list = rados_list,
    .stat = rados_stat_pack,
    .truncate = rados_truncate_pack,
    .remove = rados_remove_pack,
    .revalidate = NULL,
    .drop = rados_drop,
};

#endif /* SFS_HAVE_RADOS */
