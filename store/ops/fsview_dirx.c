// SPDX-License-Identifier: MIT
/*
 * Name indexes of large directories for the filesystem view (see
 * fsview_int.h): an open-addressing hash of a directory's names to inode
 * numbers, built by one ext2fs_dir_iterate2 walk, so that looking up
 * every name of a directory costs one walk, not one per name.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fsview_int.h"

struct slot {
	char *name; /* NULL: empty */
	uint32_t hash, ino;
	uint16_t len;
};

struct sfs_dirx {
	uint32_t dir;
	uint64_t last_use;
	struct slot *slots;
	size_t mask, n; /* capacity - 1 (a power of two), names held */
	uint32_t ninodes; /* while building: entries past this are damage */
	int err;          /* while building: -ENOMEM */
};

static uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static void dirx_free(struct sfs_dirx *x)
{
	if (!x)
		return;
	for (size_t i = 0; x->slots && i <= x->mask; i++)
		free(x->slots[i].name);
	free(x->slots);
	free(x);
}

void sfs_dirx_cache_release(struct sfs_dirx_cache *c)
{
	for (size_t i = 0; i < SFS_DIRX_MAX; i++) {
		dirx_free(c->v[i]);
		c->v[i] = NULL;
	}
}

/* The slot of (name, hash), or the empty slot where it would go. */
static struct slot *find(const struct sfs_dirx *x, const char *name, size_t len, uint32_t h)
{
	for (size_t i = h & x->mask;; i = (i + 1) & x->mask) {
		struct slot *s = &x->slots[i];

		if (!s->name || (s->hash == h && s->len == len && !memcmp(s->name, name, len)))
			return s;
	}
}

/* Doubles the table: at most half full, so that probes stay short. */
static int grow(struct sfs_dirx *x)
{
	size_t cap = (x->mask + 1) * 2;
	struct slot *old = x->slots, *s;
	size_t omask = x->mask;

	x->slots = calloc(cap, sizeof(*x->slots));
	if (!x->slots) {
		x->slots = old;
		return -ENOMEM;
	}
	x->mask = cap - 1;
	for (size_t i = 0; i <= omask; i++) {
		if (!old[i].name)
			continue;
		s = find(x, old[i].name, old[i].len, old[i].hash);
		*s = old[i];
	}
	free(old);
	return 0;
}

static int add_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
		     int blocksize, char *buf, void *priv)
{
	struct sfs_dirx *x = priv;
	int len = ext2fs_dirent_name_len(de);
	struct slot *s;
	uint32_t h;

	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	/* As fsview's listing: an inode number outside the table is damage. */
	if (!de->inode || de->inode > x->ninodes || !len)
		return 0;
	if ((x->n + 1) * 2 > x->mask + 1 && (x->err = grow(x)) < 0)
		return DIRENT_ABORT;
	h = name_hash(de->name, (size_t)len);
	s = find(x, de->name, (size_t)len, h);
	if (s->name)
		return 0; /* a name twice is damage: the first one wins, as in a walk */
	s->name = malloc((size_t)len);
	if (!s->name) {
		x->err = -ENOMEM;
		return DIRENT_ABORT;
	}
	memcpy(s->name, de->name, (size_t)len);
	s->len = (uint16_t)len;
	s->hash = h;
	s->ino = de->inode;
	x->n++;
	return 0;
}

/* The index of dir: kept, or built now in the least recently used place. */
static int get(struct sfs_dirx_cache *c, ext2_filsys fs, uint32_t dir, struct sfs_dirx **ret,
	       errcode_t *ret_err)
{
	struct sfs_dirx *x;
	size_t lru = 0;
	errcode_t e;

	for (size_t i = 0; i < SFS_DIRX_MAX; i++) {
		if (c->v[i] && c->v[i]->dir == dir) {
			c->v[i]->last_use = ++c->clock;
			*ret = c->v[i];
			return 0;
		}
		if (!c->v[i] || (c->v[lru] && c->v[i]->last_use < c->v[lru]->last_use))
			lru = i;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->dir = dir;
	x->mask = 255;
	x->ninodes = fs->super->s_inodes_count;
	x->slots = calloc(x->mask + 1, sizeof(*x->slots));
	if (!x->slots) {
		free(x);
		return -ENOMEM;
	}
	e = sfs_fsview_dir_iterate(fs, dir, add_entry, x);
	if (x->err < 0 || e) {
		int r = x->err < 0 ? x->err : -EIO;

		dirx_free(x);
		*ret_err = e;
		return r;
	}
	dirx_free(c->v[lru]);
	x->last_use = ++c->clock;
	c->v[lru] = x;
	*ret = x;
	return 0;
}

int sfs_dirx_lookup(struct sfs_dirx_cache *c, ext2_filsys fs, uint32_t dir, const char *name,
		    size_t len, uint32_t *ret_ino, errcode_t *ret_err)
{
	struct sfs_dirx *x;
	struct slot *s;
	int r = get(c, fs, dir, &x, ret_err);

	if (r < 0)
		return r;
	s = find(x, name, len, name_hash(name, len));
	if (!s->name)
		return -ENOENT;
	*ret_ino = s->ino;
	return 0;
}
