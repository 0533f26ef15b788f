/* SPDX-License-Identifier: MIT */
/*
 * QEMU's mapped-ram migration files (QEMU 9.0 and newer): each RAM block
 * of the VM has its pages at fixed, page-aligned offsets of the file and
 * a bitmap of the pages written. checkpoint create uses it for a VM whose
 * RAM is a private mapping (one resumed from the mount), which
 * x-ignore-shared cannot leave out of the stream: the guest RAM block's
 * pages become the checkpoint's RAM image, and the file, with that
 * block's bitmap cleared, its device state, so that a resume loads no
 * page of that block and maps them from the RAM image instead.
 */
#ifndef SNAPFS_FS_MAPPED_RAM_H
#define SNAPFS_FS_MAPPED_RAM_H

#include <stdint.h>

struct cli_mapped_ram_block {
	uint64_t length;        /* bytes of guest RAM in the block */
	uint64_t page_size;
	uint64_t bitmap_offset; /* in the file */
	uint64_t bitmap_size;
	uint64_t pages_offset;  /* page i of the block is at pages_offset + i * page_size */
};

/*
 * Finds RAM block name in the mapped-ram migration file open on fd, one
 * saved without x-ignore-shared or postcopy (their fields would sit in
 * the block list). 0, -ENOENT (no such block), -EBADMSG (not a mapped-ram
 * file as expected), or -errno of a read.
 */
int cli_mapped_ram_find(int fd, const char *name, struct cli_mapped_ram_block *ret);

/*
 * Copies the block's pages into out_fd (sparse: the holes of the file,
 * zero pages QEMU did not write, stay holes; out_fd ends up exactly
 * b->length long), then clears the block's bitmap in fd and punches its
 * pages out. 0 or -errno.
 */
int cli_mapped_ram_split(int fd, const struct cli_mapped_ram_block *b, int out_fd);

#endif
