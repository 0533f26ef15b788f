/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the store modules: little-endian codecs, full
 * reads and writes that retry on EINTR and short counts, directory fsync,
 * and time and size formatting.
 */
#ifndef SFS_UTIL_INT_H
#define SFS_UTIL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Write/read exactly len bytes at off. 0 or -errno; a short read is -EIO
 * for preadn unless ret_got is given. */
int sfs_pwriten(int fd, const void *buf, size_t len, uint64_t off);
int sfs_preadn(int fd, void *buf, size_t len, uint64_t off);
/* Copies n bytes of src into the iovcnt buffers of iov, starting at byte
 * `at` of them taken end to end (a backend read filled from memory). The
 * buffers must hold at + n bytes. */
void sfs_iov_copy_in(const struct iovec *iov, int iovcnt, size_t at, const void *src, size_t n);
/* Read up to len bytes (stops at EOF); returns bytes read or -errno. */
ssize_t sfs_read_full(int fd, void *buf, size_t len);
int sfs_fsync_dir(int dirfd);
int sfs_fsync_path_dir(const char *path);
/* Writes data to dirfd/name atomically (temp, fsync, rename, fsync dir);
 * a store file, so a symlink in the temp file's place is -ELOOP. */
int sfs_write_file_atomic(int dirfd, const char *name, const void *data, size_t len);
/* The same with the file's mode (0600 for a file that holds secrets). */
int sfs_write_file_atomic_mode(int dirfd, const char *name, const void *data, size_t len,
			       mode_t mode);
/* Reads a whole small file (<= max) into a NUL-terminated malloc'd buffer.
 * sfs_read_file follows symlinks (for paths a user names);
 * sfs_read_store_file is for files inside a store and never does: a
 * symlink or a file that is not regular is -ELOOP. */
int sfs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);
int sfs_read_store_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);

/*
 * Running as root over a store another user owns: the store's files are
 * opened with the filesystem uid and gid of the store directory's owner,
 * so that a symlink or hard link the owner planted reaches only files the
 * owner could open anyway. sfs_fsid_enter switches the calling thread
 * (setfsuid/setfsgid are per thread) when the effective uid is 0 and
 * dirfd's owner is not; sfs_fsid_leave restores. Without root both do
 * nothing. 0 or -errno (-EPERM when the switch did not take).
 */
struct sfs_fsid {
	bool switched;
	uid_t uid, gid; /* the ids to restore */
};
int sfs_fsid_enter(int dirfd, struct sfs_fsid *saved);
void sfs_fsid_leave(const struct sfs_fsid *saved);

/*
 * Memory that wants huge pages: an anonymous mapping of len bytes rounded
 * up to SFS_HUGE_PAGE, aligned to it (which the kernel does not promise
 * for a plain mmap), with huge pages asked for (best effort: without them
 * it is an ordinary mapping). Where the first touch of each 4 KiB page
 * traps to the hypervisor (14-15 us a page on a shadow-paged virtual
 * machine), 4 MiB then cost 2 faults instead of 1,024. Zero-filled; NULL
 * when it cannot be mapped. sfs_huge_unmap takes the same len (NULL is
 * ignored). The block cache's regions are these.
 */
#define SFS_HUGE_PAGE (2ul << 20)
void *sfs_huge_map(size_t len);
void sfs_huge_unmap(void *p, size_t len);

/*
 * Large working buffers that live for one command (the ingest's ring of
 * batches, check's scan windows): sfs_huge_map's, but under
 * AddressSanitizer, where they come from malloc (4 KiB-aligned), so that
 * it sees a write past their end, which a mapping rounded up to 2 MiB
 * would hide. Zero-filled, at least 4 KiB-aligned; NULL when out of
 * memory. sfs_buf_unmap takes the same len (NULL is ignored).
 */
void *sfs_buf_map(size_t len);
void sfs_buf_unmap(void *p, size_t len);
#if defined(__SANITIZE_ADDRESS__)
#define SFS_BUF_FROM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SFS_BUF_FROM_MALLOC 1
#endif
#endif

/* Ends a pool of worker threads: sets *stop under lock, wakes every
 * thread waiting on cv and joins threads[0..n). */
void sfs_threads_stop(pthread_mutex_t *lock, pthread_cond_t *cv, bool *stop,
		      const pthread_t *threads, unsigned n);

#endif
