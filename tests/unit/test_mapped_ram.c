// SPDX-License-Identifier: MIT
/*
 * Taking a RAM block out of a QEMU mapped-ram migration file (the
 * checkpoint of a resumed VM): the block list is walked to the block
 * named, offsets that do not follow from the ones before are refused
 * (-EBADMSG) rather than written to, and a split copies the block's pages
 * to the same offsets of the RAM image, leaves holes holes, clears the
 * block's bitmap and touches no other block.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mapped_ram.h"

#define PAGE 4096u
#define ALIGN (1u << 20)

struct built {
	uint64_t mem_bitmap, mem_pages, bios_bitmap, bios_pages;
};

static size_t put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return (size_t)n;
}

/* A block's entry at *pos: name, length, header; returns nothing, moves
 * *pos to the block's bitmap and sets its offsets. */
static void put_block(int fd, uint64_t *pos, const char *name, uint64_t len, uint64_t *bitmap,
		      uint64_t *pages, int64_t bitmap_skew)
{
	uint8_t rec[300];
	size_t n = 0, nl = strlen(name);
	uint64_t bsize = (len / PAGE + 63) / 64 * 8;

	rec[n++] = (uint8_t)nl;
	memcpy(rec + n, name, nl);
	n += nl;
	n += put_be(rec + n, len, 8);
	*bitmap = *pos + n + 28;
	*pages = (*bitmap + bsize + ALIGN - 1) / ALIGN * ALIGN;
	n += put_be(rec + n, 1, 4);
	n += put_be(rec + n, PAGE, 8);
	n += put_be(rec + n, (uint64_t)((int64_t)*bitmap + bitmap_skew), 8);
	n += put_be(rec + n, *pages, 8);
	cr_assert_eq(pwrite(fd, rec, n, (off_t)*pos), (ssize_t)n);
	*pos = *pages + len;
}

/* A stream with blocks "mem" (64 pages, pages 3 and 40 written) and
 * "pc.bios" (16 pages, page 0 written). */
static int build(const char *path, struct built *b, int64_t bitmap_skew)
{
	uint8_t head[64], page[PAGE], bits[8];
	size_t n = 0;
	uint64_t pos;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	memcpy(head, "QEVM", 4);
	n = 4 + put_be(head + 4, 3, 4);
	head[n++] = 0x07; /* a configuration section, as QEMU writes one */
	n += put_be(head + n, 3, 4);
	memcpy(head + n, "cfg", 3);
	n += 3;
	head[n++] = 0x01; /* section start: id, "ram", instance, version */
	n += put_be(head + n, 2, 4);
	memcpy(head + n, "\3ram", 4);
	n += 4;
	n += put_be(head + n, 0, 4);
	n += put_be(head + n, 4, 4);
	n += put_be(head + n, (64 + 16) * PAGE | 0x04, 8);
	cr_assert_eq(pwrite(fd, head, n, 0), (ssize_t)n);
	pos = n;
	put_block(fd, &pos, "mem", 64 * PAGE, &b->mem_bitmap, &b->mem_pages, bitmap_skew);
	put_block(fd, &pos, "pc.bios", 16 * PAGE, &b->bios_bitmap, &b->bios_pages, 0);
	cr_assert_eq(ftruncate(fd, (off_t)pos + 100), 0);
	memset(bits, 0, sizeof(bits));
	bits[0] = 1 << 3;
	bits[5] = 1 << 0; /* page 40 */
	cr_assert_eq(pwrite(fd, bits, 8, (off_t)b->mem_bitmap), 8);
	memset(page, 0xa3, PAGE);
	cr_assert_eq(pwrite(fd, page, PAGE, (off_t)(b->mem_pages + 3 * PAGE)), PAGE);
	memset(page, 0x5c, PAGE);
	cr_assert_eq(pwrite(fd, page, PAGE, (off_t)(b->mem_pages + 40 * PAGE)), PAGE);
	bits[0] = 1;
	bits[5] = 0;
	cr_assert_eq(pwrite(fd, bits, 8, (off_t)b->bios_bitmap), 8);
	memset(page, 0xb1, PAGE);
	cr_assert_eq(pwrite(fd, page, PAGE, (off_t)b->bios_pages), PAGE);
	return fd;
}

static char *tmp_path(const char *name)
{
	char *p;
	const char *d = getenv("TMPDIR");

	cr_assert_neq(asprintf(&p, "%s/mapped_ram.%d.%s", d ? d : "/tmp", (int)getpid(), name), -1);
	return p;
}

Test(mapped_ram, finds_each_block_and_refuses_unknown)
{
	char *path = tmp_path("find");
	struct built b;
	struct cli_mapped_ram_block m;
	int fd = build(path, &b, 0);

	cr_assert_eq(cli_mapped_ram_find(fd, "mem", &m), 0);
	cr_expect_eq(m.length, 64 * PAGE);
	cr_expect_eq(m.page_size, PAGE);
	cr_expect_eq(m.bitmap_offset, b.mem_bitmap);
	cr_expect_eq(m.bitmap_size, 8);
	cr_expect_eq(m.pages_offset, b.mem_pages);
	cr_expect_eq(m.pages_offset % ALIGN, 0);
	cr_assert_eq(cli_mapped_ram_find(fd, "pc.bios", &m), 0);
	cr_expect_eq(m.pages_offset, b.bios_pages);
	cr_expect_eq(cli_mapped_ram_find(fd, "me", &m), -ENOENT);
	cr_expect_eq(cli_mapped_ram_find(fd, "nothing", &m), -ENOENT);
	close(fd);
	unlink(path);
	free(path);
}

Test(mapped_ram, refuses_what_is_not_a_mapped_ram_stream)
{
	char *path = tmp_path("bad");
	struct built b;
	struct cli_mapped_ram_block m;
	int fd = build(path, &b, 8); /* the bitmap not right after its header */

	cr_expect_eq(cli_mapped_ram_find(fd, "mem", &m), -EBADMSG);
	close(fd);
	fd = build(path, &b, 0);
	cr_assert_eq(pwrite(fd, "QEVX", 4, 0), 4);
	cr_expect_eq(cli_mapped_ram_find(fd, "mem", &m), -EBADMSG);
	close(fd);
	fd = build(path, &b, 0); /* cut inside the second block's entry */
	cr_assert_eq(ftruncate(fd, (off_t)(b.mem_pages + 64 * PAGE + 5)), 0);
	cr_expect_eq(cli_mapped_ram_find(fd, "pc.bios", &m), -EBADMSG);
	cr_expect_eq(cli_mapped_ram_find(fd, "mem", &m), 0, "the block before the cut is whole");
	close(fd);
	unlink(path);
	free(path);
}

Test(mapped_ram, split_copies_pages_in_place_and_clears_the_bitmap)
{
	char *path = tmp_path("split"), *out_path = tmp_path("split.ram");
	struct built b;
	struct cli_mapped_ram_block m;
	uint8_t page[PAGE], bits[8];
	int fd = build(path, &b, 0), out = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(out, 0);
	cr_assert_eq(cli_mapped_ram_find(fd, "mem", &m), 0);
	cr_assert_eq(cli_mapped_ram_split(fd, &m, out), 0);
	cr_expect_eq(lseek(out, 0, SEEK_END), 64 * PAGE);
	for (unsigned i = 0; i < 64; i++) {
		uint8_t want = i == 3 ? 0xa3 : i == 40 ? 0x5c : 0;

		cr_assert_eq(pread(out, page, PAGE, (off_t)i * PAGE), PAGE);
		for (unsigned j = 0; j < PAGE; j += 512)
			cr_assert_eq(page[j], want, "page %u byte %u", i, j);
	}
	cr_assert_eq(pread(fd, bits, 8, (off_t)b.mem_bitmap), 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(bits[i], 0, "the block's bitmap is cleared");
	cr_assert_eq(pread(fd, page, PAGE, (off_t)(b.mem_pages + 3 * PAGE)), PAGE);
	cr_expect_eq(page[0], 0, "the block's pages are gone from the stream");
	/* The other block is as it was. */
	cr_assert_eq(pread(fd, bits, 8, (off_t)b.bios_bitmap), 8);
	cr_expect_eq(bits[0], 1);
	cr_assert_eq(pread(fd, page, PAGE, (off_t)b.bios_pages), PAGE);
	cr_expect_eq(page[100], 0xb1);
	cr_expect_eq(cli_mapped_ram_find(fd, "pc.bios", &m), 0, "the stream still reads");
	close(out);
	close(fd);
	unlink(path);
	unlink(out_path);
	free(path);
	free(out_path);
}
