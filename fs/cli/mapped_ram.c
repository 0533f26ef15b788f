// SPDX-License-Identifier: MIT
/*
 * Reading QEMU's mapped-ram migration files, enough to take one RAM
 * block out of them (see mapped_ram.h). The stream starts with the
 * "QEVM" magic and version 3, a configuration section, then the start of
 * the "ram" section, whose first record lists every RAM block: its name,
 * its length, and with mapped-ram a header giving where its bitmap and
 * pages are; the next block's entry follows that block's pages. Every
 * offset read is checked against the ones before it, so a file that is
 * not what it should be is -EBADMSG, never a write in the wrong place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mapped_ram.h"

#define RAM_SAVE_FLAG_MEM_SIZE 0x04
#define SECTION_START 0x01
#define HDR_VERSION 1
#define HDR_SIZE 28 /* be32 version, be64 page size, bitmap offset, pages offset */
#define MAX_BLOCKS 1024
#define COPY_BUF (1u << 20)

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG; /* the file ends inside a record */
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Offset of the ram section's first record (the block list), or 0. */
static uint64_t ram_section(const uint8_t *buf, size_t len)
{
	/* SECTION_START, be32 section id, "\3ram", be32 instance, be32 version */
	for (size_t i = 5; i + 4 + 8 <= len; i++)
		if (buf[i - 5] == SECTION_START && !memcmp(buf + i, "\3ram", 4))
			return i + 4 + 8;
	return 0;
}

int cli_mapped_ram_find(int fd, const char *name, struct cli_mapped_ram_block *ret)
{
	uint8_t head[1 << 16], rec[1 + 255 + 8 + HDR_SIZE];
	uint64_t p, total;
	ssize_t n = pread(fd, head, sizeof(head), 0);
	size_t nl = strlen(name);

	if (n < 0)
		return -errno;
	if (n < 8 || memcmp(head, "QEVM", 4) || be32(head + 4) != 3)
		return -EBADMSG;
	p = ram_section(head, (size_t)n);
	if (!p || p + 8 > (uint64_t)n)
		return -EBADMSG;
	total = be64(head + p);
	if (!(total & RAM_SAVE_FLAG_MEM_SIZE))
		return -EBADMSG;
	total &= ~(uint64_t)0xfff;
	p += 8;
	for (int i = 0; total && i < MAX_BLOCKS; i++) {
		struct cli_mapped_ram_block b;
		uint8_t idlen;
		uint64_t pages;
		int r = pread_all(fd, rec, 1, p);

		if (r < 0)
			return r;
		idlen = rec[0];
		r = pread_all(fd, rec + 1, (size_t)idlen + 8 + HDR_SIZE, p + 1);
		if (r < 0)
			return r;
		b.length = be64(rec + 1 + idlen);
		if (be32(rec + 1 + idlen + 8) != HDR_VERSION)
			return -EBADMSG;
		b.page_size = be64(rec + 1 + idlen + 12);
		b.bitmap_offset = be64(rec + 1 + idlen + 20);
		b.pages_offset = be64(rec + 1 + idlen + 28);
		if (b.page_size < 512 || b.page_size > (1u << 30) || (b.page_size & (b.page_size - 1)) ||
		    b.length > total || b.length % b.page_size)
			return -EBADMSG;
		pages = b.length / b.page_size;
		b.bitmap_size = (pages + 63) / 64 * 8;
		/* The bitmap right after the header, the pages after the bitmap. */
		if (b.bitmap_offset != p + 1 + idlen + 8 + HDR_SIZE ||
		    b.pages_offset < b.bitmap_offset + b.bitmap_size || b.pages_offset % b.page_size ||
		    b.pages_offset > UINT64_MAX - b.length)
			return -EBADMSG;
		if (idlen == nl && !memcmp(rec + 1, name, nl)) {
			*ret = b;
			return 0;
		}
		total -= b.length;
		p = b.pages_offset + b.length;
	}
	return total ? -EBADMSG : -ENOENT;
}

int cli_mapped_ram_split(int fd, const struct cli_mapped_ram_block *b, int out_fd)
{
	uint64_t end = b->pages_offset + b->length, pos = b->pages_offset;
	uint8_t *buf = malloc(COPY_BUF);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (ftruncate(out_fd, 0) < 0 || ftruncate(out_fd, (off_t)b->length) < 0) {
		r = -errno;
		goto out;
	}
	while (pos < end) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break; /* only holes from here on */
		if (data < 0) {
			r = -errno;
			goto out;
		}
		if ((uint64_t)data >= end)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			r = -errno;
			goto out;
		}
		if ((uint64_t)hole > end)
			hole = (off_t)end;
		for (pos = (uint64_t)data; pos < (uint64_t)hole;) {
			size_t len = (uint64_t)hole - pos < COPY_BUF ? (size_t)((uint64_t)hole - pos)
								      : COPY_BUF;

			r = pread_all(fd, buf, len, pos);
			if (r == 0)
				r = pwrite_all(out_fd, buf, len, pos - b->pages_offset);
			if (r < 0)
				goto out;
			pos += len;
		}
	}
	/* The bitmap says which pages a load reads: none, so that they come
	 * from the RAM image it maps. */
	memset(buf, 0, COPY_BUF);
	for (uint64_t off = 0; off < b->bitmap_size; off += COPY_BUF) {
		size_t len = b->bitmap_size - off < COPY_BUF ? (size_t)(b->bitmap_size - off) : COPY_BUF;

		r = pwrite_all(fd, buf, len, b->bitmap_offset + off);
		if (r < 0)
			goto out;
	}
	/* Only to spare the disk: nothing reads these pages any more. */
	(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)b->pages_offset,
			(off_t)b->length);
out:
	free(buf);
	return r;
}
