/* SPDX-License-Identifier: MIT */
/*
 * Internal to the filesystem view (fsview.c): name indexes of large
 * directories (fsview_dirx.c). libext2fs's ext2fs_lookup reads the whole
 * directory on every call (it does not use the htree), so a program that
 * looks up the names of a 20,000-entry directory one by one makes that
 * quadratic. The view keeps a hash of the names of the few largest
 * directories it was asked about, built with one walk each. Not
 * thread-safe: the view's lock guards it.
 */
#ifndef SNAPFS_FSVIEW_INT_H
#define SNAPFS_FSVIEW_INT_H

#include <stddef.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

/* Directories smaller than this are searched by libext2fs. */
#define SFS_DIRX_MIN_BYTES (64u << 10)
/* Indexes kept per view; the least recently used goes first. */
#define SFS_DIRX_MAX 4

struct sfs_dirx;

struct sfs_dirx_cache {
	struct sfs_dirx *v[SFS_DIRX_MAX];
	uint64_t clock;
};

/* What ext2fs_dir_iterate2 calls for each entry. */
typedef int (*sfs_ext2_dirent_fn)(ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
				  int offset, int blocksize, char *buf, void *priv);

/* ext2fs_dir_iterate2(fs, dir, 0, NULL, fn, priv) through the libext2fs
 * that fsview.c loads when the first view opens (only views, hence only
 * a loaded library, reach the indexes). */
errcode_t sfs_fsview_dir_iterate(ext2_filsys fs, ext2_ino_t dir, sfs_ext2_dirent_fn fn,
				 void *priv);

/* Frees every index (the cache itself is embedded). */
void sfs_dirx_cache_release(struct sfs_dirx_cache *c);

/* The inode of name (len bytes) in directory dir of fs, from its index,
 * built now if need be. 0, -ENOENT, -ENOMEM, or -EIO with *ret_err the
 * libext2fs code of a failed walk (for the caller to translate). */
int sfs_dirx_lookup(struct sfs_dirx_cache *c, ext2_filsys fs, uint32_t dir, const char *name,
		    size_t len, uint32_t *ret_ino, errcode_t *ret_err);

#endif
