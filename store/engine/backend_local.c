// SPDX-License-Identifier: MIT
/*
 * The local directory backend: packs are files STORE/packs/%016x.pack.
 * Every file is opened relative to the packs directory's descriptor with
 * O_NOFOLLOW and checked to be a regular file, so that a symlink or a
 * device planted inside the store is never followed by a root process.
 * Read descriptors are cached in a bounded LRU (a quarter of the soft
 * RLIMIT_NOFILE) with reference counts, so that a reader never has its
 * descriptor closed under it, a mount never runs out of descriptors, and
 * a pack removed here or by another process (revalidate) stops pinning
 * its disk space.
 *
 * A pack read in order (records one after another, as a sequential reader
 * of a snapshot or a check reads them) is read past the page cache in
 * 1 MiB spans (span.c) once SEQ_MIN reads in a row have each carried the
 * walk on (see SEQ_BACK); scattered reads stay buffered, since a span per
 * record would read far more than they need.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "snapfs/backend.h"
#include "snapfs/pack.h"
#include "span_int.h"
#include "rados_int.h"
#include "util_int.h"

#define FD_BOUND_MIN 16
#define FD_BOUND_MAX 4096
#define NBUCKETS 1024
#define NSPANS 16
/* A read continues an ordered walk of its pack when it ends past the
 * furthest end read so far and starts at most SEQ_GAP after it (blocks
 * that were zero or deduplicated leave gaps). One that ends short of it
 * by at most SEQ_BACK neither continues the walk nor ends it: two decode
 * workers take neighbouring records out of order, and a record read
 * again is no walk. */
#define SEQ_BACK (256u << 10)
#define SEQ_GAP (256u << 10)
#define SEQ_MIN 4

/*
 * A pack's own readahead. The kernel's readahead for a pack read in order
 * ramps up to the disk's read_ahead_kb (8 MiB on some hosts) before the
 * walk is seen and spans take over, and it reads those bytes again: a
 * cold read of a 2 GiB volume read 890-930 MB from the disk for 688 MB of
 * packs. So where spans can serve walks, a pack's descriptor has the
 * kernel's readahead off (POSIX_FADV_RANDOM) and each buffered read asks
 * for the RA_WINDOW-aligned window around it instead, which is what the
 * kernel reads for a small scattered read: random readers still find the
 * records next to theirs cached.
 */
#define RA_WINDOW (64u << 10)

struct fdent {
	uint64_t number;
	int fd;
	int dfd;           /* opened O_DIRECT on first use for spans, or -1 */
	unsigned refs;     /* readers inside a pread */
	uint64_t seq_end;  /* the furthest end of this ordered walk */
	unsigned seq_hits; /* reads in a row that continued it */
	bool cached;       /* in the table; else closed by the last put */
	bool own_ra;       /* the kernel's readahead is off: reads ask for RA_WINDOW */
	struct fdent *prev, *next; /* LRU, most recent first */
	struct fdent *hnext;
};

struct local {
	int dirfd; /* packs/ */
	pthread_mutex_t lock; /* guards everything below */
	struct fdent *buckets[NBUCKETS];
	struct fdent *head, *tail;
	size_t n, bound; /* descriptors the cached entries hold (two for spans), their bound */
	struct sfs_spans *spans;
	bool spans_off; /* the file system refuses O_DIRECT */
};

struct sfs_pack_out {
	struct local *l;
	int fd;
	uint64_t number;
	uint64_t len, synced;
	uint64_t wb_started; /* writeback started for [.., wb_started) */
	int wb_err;	     /* a writeback error seen early, for local_sync */
	bool wb_off;	     /* no more writeback behind for this pack */
	bool dir_synced;
};

static struct local *L(const struct sfs_backend *b)
{
	return b->priv;
}

/* Opens pack `number` with flags, never through a symlink, and insists
 * on a regular file. O_NONBLOCK keeps a planted FIFO from hanging us. */
static int open_pack(struct local *l, uint64_t number, int flags, struct stat *ret_st)
{
	char name[64];
	struct stat st;
	int fd;

	sfs_pack_name(number, name, sizeof(name));
	fd = openat(l->dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
	if (fd < 0)
		return errno == ELOOP ? -EUCLEAN : -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EUCLEAN;
	}
	if (ret_st)
		*ret_st = st;
	return fd;
}

static size_t fd_bound(void)
{
	struct rlimit rl;
	size_t n = 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = (size_t)rl.rlim_cur / 4;
	if (n < FD_BOUND_MIN)
		n = FD_BOUND_MIN;
	if (n > FD_BOUND_MAX)
		n = FD_BOUND_MAX;
	return n;
}

static int local_open(struct sfs_backend *b, int store_dirfd, unsigned flags)
{
	struct local *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	if ((flags & SFS_BACKEND_CREATE) && mkdirat(store_dirfd, "packs", 0755) < 0) {
		r = -errno;
		goto out_free;
	}
	l->dirfd = openat(store_dirfd, "packs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (l->dirfd < 0) {
		r = errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? -EMEDIUMTYPE : -errno;
		goto out_free;
	}
	r = sfs_spans_new(NSPANS, &l->spans);
	if (r < 0) {
		close(l->dirfd);
		goto out_free;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->bound = fd_bound();
	b->priv = l;
	return 0;
out_free:
	free(l);
	return r;
}

/* ---- the read descriptor cache; all under l->lock ---- */

static struct fdent **bucket(struct local *l, uint64_t number)
{
	return &l->buckets[(number * 0x9e3779b97f4a7c15ull) >> 54 & (NBUCKETS - 1)];
}

static void lru_unlink(struct local *l, struct fdent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct local *l, struct fdent *e)
{
	e->next = l->head;
	e->prev = NULL;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
}

static void fdent_free(struct fdent *e)
{
	close(e->fd);
	if (e->dfd >= 0)
		close(e->dfd);
	free(e);
}

/* Takes e out of the table; its descriptor closes now or at the last put. */
static void detach(struct local *l, struct fdent *e)
{
	struct fdent **pp = bucket(l, e->number);

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(l, e);
	e->cached = false;
	l->n -= e->dfd >= 0 ? 2 : 1;
	if (e->refs == 0)
		fdent_free(e);
}

static struct fdent *lookup(struct local *l, uint64_t number)
{
	for (struct fdent *e = *bucket(l, number); e; e = e->hnext)
		if (e->number == number)
			return e;
	return NULL;
}

/* Whether a read of [off, off + len) continues an ordered walk of e's
 * pack that has gone on long enough to read it in spans; opens e's
 * direct descriptor the first time. Under l->lock. */
static bool walk_in_spans(struct local *l, struct fdent *e, uint64_t off, size_t len)
{
	if (off + len > e->seq_end && off <= e->seq_end + SEQ_GAP) {
		if (e->seq_hits < SEQ_MIN)
			e->seq_hits++;
		e->seq_end = off + len;
	} else if (off + len + SEQ_BACK < e->seq_end || off + len > e->seq_end) {
		e->seq_hits = 0;
		e->seq_end = off + len;
	}
	if (e->seq_hits < SEQ_MIN || l->spans_off)
		return false;
	if (e->dfd < 0) {
		e->dfd = open_pack(l, e->number, O_RDONLY | O_DIRECT, NULL);
		if (e->dfd == -EINVAL)
			l->spans_off = true;
		if (e->dfd < 0) {
			e->dfd = -1;
			return false;
		}
		if (e->cached)
			l->n++;
	}
	return true;
}

/* Takes a reference on pack number's descriptors for a read of [off, off
 * + len); *ret_spans: whether to read it from spans (walk_in_spans). */
static int fd_get(struct local *l, uint64_t number, uint64_t off, size_t len,
		  struct fdent **ret, bool *ret_spans)
{
	struct fdent *e;
	int fd, r = 0;

	pthread_mutex_lock(&l->lock);
	e = lookup(l, number);
	if (e) {
		lru_unlink(l, e);
		lru_push(l, e);
		goto out_ref;
	}
	/* Opened under the lock so that a concurrent remove cannot slip
	 * between the open and the insert and leave a removed pack cached. */
	fd = open_pack(l, number, O_RDONLY, NULL);
	if (fd < 0) {
		r = fd;
		goto out_unlock;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		r = -ENOMEM;
		goto out_unlock;
	}
	/* Where spans serve the walks, the kernel's readahead is off (see
	 * RA_WINDOW). */
	e->own_ra = !l->spans_off && posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) == 0;
	e->number = number;
	e->fd = fd;
	e->dfd = -1;
	e->cached = true;
	e->hnext = *bucket(l, number);
	*bucket(l, number) = e;
	lru_push(l, e);
	l->n++;
out_ref:
	e->refs++;
	*ret = e;
	*ret_spans = walk_in_spans(l, e, off, len);
	/* The bound counts descriptors: a pack read in spans holds two. */
	while (l->n > l->bound && l->tail != e)
		detach(l, l->tail);
out_unlock:
	pthread_mutex_unlock(&l->lock);
	return r;
}

static void fd_put(struct local *l, struct fdent *e)
{
	pthread_mutex_lock(&l->lock);
	if (--e->refs == 0 && !e->cached)
		fdent_free(e);
	pthread_mutex_unlock(&l->lock);
}

static void forget(struct local *l, uint64_t number)
{
	struct fdent *e;

	pthread_mutex_lock(&l->lock);
	e = lookup(l, number);
	if (e)
		detach(l, e);
	pthread_mutex_unlock(&l->lock);
	sfs_spans_forget(l->spans, number);
}


static void local_close(struct sfs_backend *b)
{
	struct local *l = L(b);

	if (!l)
		return;
	while (l->head)
		detach(l, l->head);
	sfs_spans_free(l->spans);
	close(l->dirfd);
	pthread_mutex_destroy(&l->lock);
	free(l);
	b->priv = NULL;
}

static ssize_t local_read(struct sfs_backend *b, uint64_t number, uint64_t offset,
			  const struct iovec *iov_in, int iovcnt)
{
	struct local *l = L(b);
	struct iovec iov[SFS_BACKEND_IOV_MAX];
	struct fdent *e;
	size_t total = 0, done = 0;
	bool spans;
	int first = 0, r;

	if (iovcnt < 1 || iovcnt > SFS_BACKEND_IOV_MAX)
		return -EINVAL;
	memcpy(iov, iov_in, (size_t)iovcnt * sizeof(*iov));
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (offset > (uint64_t)INT64_MAX - total)
		return 0; /* past any possible end */
	r = fd_get(l, number, offset, total, &e, &spans);
	if (r < 0)
		return r;
	if (spans) {
		ssize_t n = sfs_spans_read(l->spans, number, e->dfd, offset, iov, iovcnt, total);
		if (n >= 0) {
			fd_put(l, e);
			return n;
		}
		if (n == -EINVAL) {
			pthread_mutex_lock(&l->lock);
			l->spans_off = true;
			pthread_mutex_unlock(&l->lock);
		}
	}
	if (e->own_ra) {
		uint64_t lo = offset & ~(uint64_t)(RA_WINDOW - 1);
		uint64_t hi = (offset + total + RA_WINDOW - 1) & ~(uint64_t)(RA_WINDOW - 1);

		(void)posix_fadvise(e->fd, (off_t)lo, (off_t)(hi - lo), POSIX_FADV_WILLNEED);
	}
	while (done < total) {
		ssize_t n = preadv(e->fd, iov + first, iovcnt - first, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
		/* A short read: go on from where it stopped. */
		while (first < iovcnt && (size_t)n >= iov[first].iov_len)
			n -= (ssize_t)iov[first++].iov_len;
		if (first < iovcnt) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + n;
			iov[first].iov_len -= (size_t)n;
		}
	}
	fd_put(l, e);
	return r < 0 ? r : (ssize_t)done;
}

static void local_revalidate(struct sfs_backend *b)
{
	struct local *l = L(b);
	struct fdent *e, *next;

	pthread_mutex_lock(&l->lock);
	for (e = l->head; e; e = next) {
		struct stat st;

		next = e->next;
		if (fstat(e->fd, &st) == 0 && st.st_nlink == 0) {
			sfs_spans_forget(l->spans, e->number);
			detach(l, e);
		}
	}
	pthread_mutex_unlock(&l->lock);
}

static int local_drop(struct sfs_backend *b, uint64_t number)
{
	return sfs_spans_forget(L(b)->spans, number) > 0;
}

static bool parse_name(const char *name, uint64_t *ret)
{
	unsigned long long n;
	char tail[8];

	if (strlen(name) != 21 || sscanf(name, "%16llx.%7s", &n, tail) != 2 || strcmp(tail, "pack"))
		return false;
	*ret = n;
	return true;
}

static int local_list(struct sfs_backend *b, sfs_pack_list_fn fn, void *ctx)
{
	struct local *l = L(b);
	int fd = openat(l->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (struct dirent *de; r == 0 && (de = readdir(d));) {
		struct sfs_pack_info info;
		struct stat st;
		uint64_t n;

		if (!parse_name(de->d_name, &n))
			continue;
		if (fstatat(l->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		info.length = (uint64_t)st.st_size;
		info.disk = (uint64_t)st.st_blocks * 512;
		r = fn(ctx, n, &info);
	}
	closedir(d);
	return r;
}

static int local_stat(struct sfs_backend *b, uint64_t number, struct sfs_pack_info *ret)
{
	char name[64];
	struct stat st;

	sfs_pack_name(number, name, sizeof(name));
	if (fstatat(L(b)->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EUCLEAN;
	ret->length = (uint64_t)st.st_size;
	ret->disk = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int local_truncate(struct sfs_backend *b, uint64_t number, uint64_t len)
{
	struct stat st = { 0 }; /* set whenever open_pack succeeds */
	int fd = open_pack(L(b), number, O_RDWR, &st), r = 0;

	if (fd < 0)
		return fd;
	if (len > (uint64_t)st.st_size)
		r = -EINVAL;
	else if (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0)
		r = -errno;
	close(fd);
	sfs_spans_forget(L(b)->spans, number);
	return r;
}

static int local_remove(struct sfs_backend *b, uint64_t number)
{
	struct local *l = L(b);
	char name[64];

	forget(l, number);
	sfs_pack_name(number, name, sizeof(name));
	if (unlinkat(l->dirfd, name, 0) < 0)
		return -errno;
	return sfs_fsync_dir(l->dirfd);
}

static int local_create(struct sfs_backend *b, uint64_t number, uint64_t len,
			struct sfs_pack_out **ret)
{
	struct local *l = L(b);
	struct sfs_pack_out *p = calloc(1, sizeof(*p));
	struct stat st;
	int r;

	if (!p)
		return -ENOMEM;
	p->l = l;
	p->number = number;
	if (len == 0) {
		p->fd = open_pack(l, number, O_RDWR | O_CREAT | O_EXCL, NULL);
	} else {
		p->fd = open_pack(l, number, O_RDWR, &st);
		if (p->fd >= 0 && (uint64_t)st.st_size < len) {
			close(p->fd);
			p->fd = -EUCLEAN;
		}
	}
	if (p->fd < 0) {
		r = p->fd;
		goto out_free;
	}
	if (len && ftruncate(p->fd, (off_t)len) < 0) {
		r = -errno;
		goto out_close;
	}
	if (len)
		sfs_spans_forget(l->spans, number); /* the bytes past len change */
	p->len = p->synced = p->wb_started = len;
	p->dir_synced = len > 0;
	*ret = p;
	return 0;
out_close:
	close(p->fd);
out_free:
	free(p);
	return r;
}

/* Pack bytes are written once and rarely read soon, so as the pack grows
 * we start writeback of each new WB_WINDOW and, one window later, wait for
 * it and drop it from the page cache. The dirty pages then never pile up
 * for the commit's fdatasync (an ingest ends sooner) and a large ingest
 * does not push everything else out of memory. This promises nothing
 * about durability: local_sync still does that. But a writeback error the
 * wait reports is the file's error, reported once per descriptor: the
 * fdatasync after it would return 0, so it is kept for local_sync. */
#define WB_WINDOW (8ull << 20)

static void writeback_behind(struct sfs_pack_out *p)
{
	while (!p->wb_off && p->len - p->wb_started >= WB_WINDOW) {
		int r = sync_file_range(p->fd, (off_t)p->wb_started, WB_WINDOW, SYNC_FILE_RANGE_WRITE);

		if (r == 0 && p->wb_started >= WB_WINDOW) {
			off_t prev = (off_t)(p->wb_started - WB_WINDOW);

			r = sync_file_range(p->fd, prev, WB_WINDOW,
					    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						    SYNC_FILE_RANGE_WAIT_AFTER);
			if (r == 0)
				(void)posix_fadvise(p->fd, prev, WB_WINDOW, POSIX_FADV_DONTNEED);
		}
		if (r < 0) {
			/* EINVAL: a file system without the call, which is
			 * left alone; anything else is the file's error. */
			if (errno != EINVAL)
				p->wb_err = -errno;
			p->wb_off = true;
			break;
		}
		p->wb_started += WB_WINDOW;
	}
}

static int local_append(struct sfs_pack_out *p, const void *buf, size_t len)
{
	int r = sfs_pwriten(p->fd, buf, len, p->len);

	if (r < 0) {
		/* The file must end at a record boundary for the next append. */
		if (ftruncate(p->fd, (off_t)p->len) < 0)
			return r;
		return r;
	}
	p->len += len;
	writeback_behind(p);
	return 0;
}

static int local_sync(struct sfs_pack_out *p)
{
	int r;

	if (p->wb_err)
		return p->wb_err;
	if (p->synced != p->len) {
		if (fdatasync(p->fd) < 0)
			return -errno;
		p->synced = p->len;
	}
	if (!p->dir_synced) {
		r = sfs_fsync_dir(p->l->dirfd);
		if (r < 0)
			return r;
		p->dir_synced = true;
	}
	return 0;
}

static void local_abandon(struct sfs_pack_out *p)
{
	if (!p)
		return;
	close(p->fd);
	free(p);
}

static int local_seal(struct sfs_pack_out *p)
{
	int r = local_sync(p);

	local_abandon(p);
	return r;
}

const struct sfs_backend_ops sfs_backend_local = {
	.name = "local",
	.open = local_open,
	.close = local_close,
	.create = local_create,
	.append = local_append,
	.sync = local_sync,
	.seal = local_seal,
	.abandon = local_abandon,
	.read = local_read,
	.list = local_list,
	.stat = local_stat,
	.truncate = local_truncate,
	.remove = local_remove,
	.revalidate = local_revalidate,
	.drop = local_drop,
};

const struct sfs_backend_ops *sfs_backend_find(const char *name)
{
	if (!strcmp(name, sfs_backend_local.name))
		return &sfs_backend_local;
#ifdef SFS_HAVE_RADOS
	if (!strcmp(name, sfs_backend_rados.name))
		return &sfs_backend_rados;
#endif
	return NULL;
}

size_t sfs_backend_local_fd_bound(const struct sfs_backend *b)
{
	return L(b)->bound;
}

uint64_t sfs_backend_local_spans_read(const struct sfs_backend *b)
{
	return sfs_spans_loaded(L(b)->spans);
}

size_t sfs_backend_local_fds_open(const struct sfs_backend *b)
{
	struct local *l = L(b);
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->n;
	pthread_mutex_unlock(&l->lock);
	return n;
}
