// SPDX-License-Identifier: MIT
/*
 * I/O helpers for the store: every read and write of store files goes
 * through these so that EINTR, short counts and durability are handled in
 * one place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "util_int.h"

int sfs_pwriten(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

void sfs_iov_copy_in(const struct iovec *iov, int iovcnt, size_t at, const void *src, size_t n)
{
	const uint8_t *p = src;

	for (int i = 0; i < iovcnt && n; i++) {
		size_t len = iov[i].iov_len, k;

		if (at >= len) {
			at -= len;
			continue;
		}
		k = len - at < n ? len - at : n;
		memcpy((uint8_t *)iov[i].iov_base + at, p, k);
		p += k;
		n -= k;
		at = 0;
	}
}

int sfs_preadn(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

ssize_t sfs_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int sfs_fsync_dir(int dirfd)
{
	if (fsync(dirfd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int sfs_fsync_path_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = sfs_fsync_dir(fd);
	close(fd);
	return r;
}

int sfs_write_file_atomic(int dirfd, const char *name, const void *data, size_t len)
{
	return sfs_write_file_atomic_mode(dirfd, name, data, len, 0644);
}

int sfs_write_file_atomic_mode(int dirfd, const char *name, const void *data, size_t len,
			       mode_t mode)
{
	char tmp[256];
	int fd, r;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	/* A temp file an interrupted writer left keeps its old mode: set it. */
	if (fd >= 0 && fchmod(fd, mode) < 0) {
		r = -errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (fd < 0)
		return -errno;
	r = sfs_pwriten(fd, data, len, 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r == 0)
		r = sfs_fsync_dir(dirfd);
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

static int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	char *buf = malloc(max + 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = sfs_read_full(fd, buf, max + 1);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	if ((size_t)n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = (size_t)n;
	return 0;
}

int sfs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, ret, ret_len);
	close(fd);
	return r;
}

int sfs_read_store_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len)
{
	/* O_NONBLOCK: a FIFO planted in the file's place must not hang us. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int r;

	if (fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -ELOOP;
	else
		r = read_fd(fd, max, ret, ret_len);
	close(fd);
	return r;
}

int sfs_fsid_enter(int dirfd, struct sfs_fsid *saved)
{
	struct stat st;

	saved->switched = false;
	if (geteuid() != 0)
		return 0;
	if (fstat(dirfd, &st) < 0)
		return -errno;
	if (st.st_uid == 0)
		return 0;
	/* Group first: the uid switch drops the file capabilities. */
	saved->gid = (gid_t)setfsgid(st.st_gid);
	saved->uid = (uid_t)setfsuid(st.st_uid);
	saved->switched = true;
	/* setfsuid reports no error; asking again returns the id in force. */
	if ((uid_t)setfsuid((uid_t)-1) != st.st_uid || (gid_t)setfsgid((gid_t)-1) != st.st_gid) {
		sfs_fsid_leave(saved);
		return -EPERM;
	}
	return 0;
}

void sfs_fsid_leave(const struct sfs_fsid *saved)
{
	if (!saved->switched)
		return;
	setfsuid(saved->uid);
	setfsgid(saved->gid);
}

void sfs_threads_stop(pthread_mutex_t *lock, pthread_cond_t *cv, bool *stop,
		      const pthread_t *threads, unsigned n)
{
	pthread_mutex_lock(lock);
	*stop = true;
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
}

static size_t huge_len(size_t len)
{
	return (len + SFS_HUGE_PAGE - 1) & ~(SFS_HUGE_PAGE - 1);
}

void *sfs_huge_map(size_t len)
{
	size_t n = huge_len(len ? len : 1);
	uint8_t *m, *a;

	if (n < len || n > SIZE_MAX - SFS_HUGE_PAGE)
		return NULL;
	/* one huge page more, to cut an aligned start out of */
	m = mmap(NULL, n + SFS_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	if (m == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)m + SFS_HUGE_PAGE - 1) & ~(uintptr_t)(SFS_HUGE_PAGE - 1));
	if (a > m)
		munmap(m, (size_t)(a - m));
	if (a + n < m + n + SFS_HUGE_PAGE)
		munmap(a + n, (size_t)(m + SFS_HUGE_PAGE - a));
	(void)madvise(a, n, MADV_HUGEPAGE);
	return a;
}

void sfs_huge_unmap(void *p, size_t len)
{
	if (p)
		munmap(p, huge_len(len ? len : 1));
}

#ifdef SFS_BUF_FROM_MALLOC
void *sfs_buf_map(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 1) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

void sfs_buf_unmap(void *p, size_t len)
{
	(void)len;
	free(p);
}
#else
void *sfs_buf_map(size_t len)
{
	return sfs_huge_map(len);
}

void sfs_buf_unmap(void *p, size_t len)
{
	sfs_huge_unmap(p, len);
}
#endif
