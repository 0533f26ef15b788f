/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the store modules: little-endian codecs, full
 * reads and writes that retry on EINTR and short counts, directory fsync,
 * and time and size formatting.
 */
#ifndef SFS_UTIL_INT_H
#define SFS_UTIL_INT_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

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
/* Read up to len bytes (stops at EOF); returns bytes read or -errno. */
ssize_t sfs_read_full(int fd, void *buf, size_t len);
int sfs_fsync_dir(int dirfd);
int sfs_fsync_path_dir(const char *path);
/* Writes data to dirfd/name atomically (temp, fsync, rename, fsync dir). */
int sfs_write_file_atomic(int dirfd, const char *name, const void *data, size_t len);
/* Reads a whole small file (<= max) into a NUL-terminated malloc'd buffer. */
int sfs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);

#endif
