// SPDX-License-Identifier: MIT
/*
 * The temporary-store fixture and the minimal writer the unit tests use to
 * put chunks, map pages and snapshots into a store.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "snapfs/blockmap.h"
#include "snapfs/log.h"
#include "fixture.h"
#include "store_int.h"

char fx_dir[PATH_MAX];
struct sfs_store *fx_store;
static char fx_root[PATH_MAX];

char *fx_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *d;

	if (asprintf(&d, "%s/snapfs-test.XXXXXX", base && *base ? base : "/tmp") < 0)
		cr_assert_fail("asprintf");
	cr_assert_not_null(mkdtemp(d), "mkdtemp: %s", strerror(errno));
	return d;
}

void fx_setup_opts(const struct sfs_store_options *o)
{
	char *root = fx_tmpdir();
	int r;

	snprintf(fx_root, sizeof(fx_root), "%s", root);
	snprintf(fx_dir, sizeof(fx_dir), "%s/store", root);
	free(root);
	r = sfs_store_init(fx_dir, o);
	cr_assert_eq(r, 0, "sfs_store_init: %s", strerror(-r));
	r = sfs_store_open(fx_dir, SFS_OPEN_WRITE, &fx_store);
	cr_assert_eq(r, 0, "sfs_store_open: %s", strerror(-r));
}

void fx_setup(void)
{
	fx_setup_opts(NULL);
}

void fx_setup_4k(void)
{
	struct sfs_store_options o = { .block_size = 4096 };
	fx_setup_opts(&o);
}

void fx_reopen(bool writable)
{
	int r;

	sfs_store_close(fx_store);
	fx_store = NULL;
	r = sfs_store_open(fx_dir, writable ? SFS_OPEN_WRITE : SFS_OPEN_READ, &fx_store);
	cr_assert_eq(r, 0, "reopen: %s", strerror(-r));
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void fx_rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void fx_teardown(void)
{
	sfs_store_close(fx_store);
	fx_store = NULL;
	if (fx_root[0])
		fx_rm_rf(fx_root);
	fx_root[0] = '\0';
}

/* splitmix64: small, fast, reproducible. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void fx_fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix(&s);
		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

void fx_fill_text(void *buf, size_t len, uint64_t seed)
{
	char *p = buf;
	size_t n = 0;

	while (n < len) {
		char line[64];
		int k = snprintf(line, sizeof(line), "line %llu of seed %llu\n",
				 (unsigned long long)n, (unsigned long long)seed);
		size_t c = len - n < (size_t)k ? len - n : (size_t)k;
		memcpy(p + n, line, c);
		n += c;
	}
}

int fx_writer_begin(struct fx_writer *w)
{
	uint64_t number = 1, len = 0;
	int r;

	memset(w, 0, sizeof(*w));
	w->cbuf = malloc(sfs_store_chunk_bound(SFS_BLOCK_MAX));
	if (!w->cbuf)
		return -ENOMEM;
	r = sfs_txn_begin(fx_store, true, &w->txn);
	if (r < 0)
		return r;
	if (sfs_cat_meta_get(w->txn, "pack.active", &number) == 0)
		sfs_cat_meta_get(w->txn, "pack.active_len", &len);
	else
		number = 1;
	return sfs_pack_writer_open(sfs_store_backend(fx_store), number, len, &w->pw);
}

int fx_writer_put(struct fx_writer *w, uint8_t type, const void *data, size_t len,
		  struct sfs_id *ret_id)
{
	struct sfs_chunk_loc loc;
	struct sfs_rec_header h;
	int r = sfs_store_chunk_id(fx_store, data, len, ret_id);

	if (r < 0)
		return r;
	r = sfs_cat_chunk_get(w->txn, ret_id, &loc);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return r;
	r = sfs_store_chunk_encode(fx_store, type, data, len, ret_id, w->cbuf,
				   sfs_store_chunk_bound(len), &h);
	if (r < 0)
		return r;
	r = sfs_pack_append(w->pw, &h, w->cbuf, &loc);
	if (r < 0)
		return r;
	w->new_chunks++;
	w->new_bytes += h.stored_len;
	return sfs_cat_chunk_put(w->txn, ret_id, &loc);
}

int fx_writer_commit(struct fx_writer *w)
{
	int r = sfs_pack_writer_sync(w->pw);

	if (r == 0)
		r = sfs_cat_meta_put(w->txn, "pack.active", sfs_pack_writer_number(w->pw));
	if (r == 0)
		r = sfs_cat_meta_put(w->txn, "pack.active_len", sfs_pack_writer_size(w->pw));
	if (r == 0) {
		struct sfs_pack_rec p = { .number = sfs_pack_writer_number(w->pw),
					  .length = sfs_pack_writer_size(w->pw) };
		r = sfs_cat_pack_put(w->txn, &p);
	}
	if (r == 0) {
		r = sfs_txn_commit(w->txn);
		w->txn = NULL;
	}
	fx_writer_abort(w);
	return r;
}

void fx_writer_abort(struct fx_writer *w)
{
	sfs_txn_abort(w->txn);
	sfs_pack_writer_close(w->pw);
	free(w->cbuf);
	memset(w, 0, sizeof(*w));
}

static int store_page(void *ctx, const void *page, size_t len, struct sfs_id *ret_id)
{
	return fx_writer_put(ctx, SFS_CHUNK_MAP, page, len, ret_id);
}

int fx_build_map(struct fx_writer *w, uint64_t nblocks, uint32_t block_size, fx_block_fn fn,
		 void *ctx, struct sfs_snapmap *ret_map)
{
	struct sfs_map_builder *b;
	int r = sfs_map_builder_new(nblocks, store_page, w, &b);

	if (r < 0)
		return r;
	for (uint64_t i = 0; i < nblocks && r == 0; i++) {
		struct sfs_id id;
		fn(ctx, i, &id);
		r = sfs_map_builder_add(b, &id);
	}
	memset(ret_map, 0, sizeof(*ret_map));
	if (r == 0)
		r = sfs_map_builder_finish(b, &ret_map->root, &ret_map->depth);
	sfs_map_builder_free(b);
	if (r == 0)
		r = sfs_idstr_new("snap-", ret_map->id);
	ret_map->size = nblocks * block_size;
	ret_map->block_size = block_size;
	return r;
}

struct blocks_ctx {
	struct sfs_id *ids;
};

static void blocks_fn(void *ctx, uint64_t block, struct sfs_id *ret_id)
{
	struct blocks_ctx *c = ctx;
	*ret_id = c->ids[block];
}

int fx_snapshot_blocks(const uint8_t *const *blocks, uint64_t nblocks, uint64_t size,
		       struct sfs_snapmap *ret_map)
{
	uint32_t bs = sfs_store_block_size(fx_store);
	struct blocks_ctx c = { calloc(nblocks ? nblocks : 1, sizeof(struct sfs_id)) };
	struct fx_writer w;
	struct sfs_snapshot sn = { 0 };
	uint64_t seq = 0;
	int r;

	if (!c.ids)
		return -ENOMEM;
	r = fx_writer_begin(&w);
	for (uint64_t i = 0; i < nblocks && r == 0; i++)
		if (blocks[i])
			r = fx_writer_put(&w, SFS_CHUNK_DATA, blocks[i], bs, &c.ids[i]);
	if (r == 0)
		r = fx_build_map(&w, nblocks, bs, blocks_fn, &c, ret_map);
	free(c.ids);
	if (r == 0) {
		ret_map->size = size;
		sfs_cat_meta_get(w.txn, "fx.seq", &seq);
		r = sfs_cat_meta_put(w.txn, "fx.seq", seq + 1);
	}
	if (r == 0) {
		memcpy(sn.id, ret_map->id, sizeof(sn.id));
		strcpy(sn.volume, "vol");
		sn.state = SFS_SNAP_COMPLETED;
		sn.seq = seq + 1;
		sn.created = (int64_t)time(NULL);
		sn.size = size;
		sn.block_size = bs;
		sn.root = ret_map->root;
		sn.depth = ret_map->depth;
		sn.new_bytes = w.new_bytes;
		sn.new_chunks = w.new_chunks;
		r = sfs_cat_snapshot_put(w.txn, &sn);
	}
	if (r == 0)
		return fx_writer_commit(&w);
	fx_writer_abort(&w);
	return r;
}

int fx_decode(struct sfs_codec *c, uint8_t comp, const void *src, size_t stored_len, void *dst,
	      size_t raw_len, const struct sfs_id *id)
{
	struct sfs_id got;
	int r = sfs_codec_decompress(c, comp, src, stored_len, dst, raw_len);

	if (r < 0)
		return r;
	sfs_chunk_hash(dst, raw_len, &got);
	return memcmp(got.b, id->b, SFS_ID_LEN) ? -EBADMSG : 0;
}

/* Pages of [off, off + len) of a file in the page cache (len 0: to the
 * end), seen through a mapping of our own that faults nothing in. */
size_t fx_range_resident(const char *path, uint64_t off, uint64_t len, size_t *ret_pages)
{
	unsigned char *vec;
	struct stat st;
	size_t psz = (size_t)sysconf(_SC_PAGESIZE), n, in = 0, first, last;
	void *at;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	n = ((size_t)st.st_size + psz - 1) / psz;
	at = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(at, MAP_FAILED);
	vec = malloc(n);
	cr_assert_not_null(vec);
	cr_assert_eq(mincore(at, (size_t)st.st_size, vec), 0);
	first = (size_t)(off / psz);
	last = len ? (size_t)((off + len + psz - 1) / psz) : n;
	if (last > n)
		last = n;
	for (size_t i = first; i < last; i++)
		in += vec[i] & 1;
	free(vec);
	munmap(at, (size_t)st.st_size);
	close(fd);
	*ret_pages = last > first ? last - first : 0;
	return in;
}

size_t fx_file_resident(const char *path, size_t *ret_pages)
{
	return fx_range_resident(path, 0, 0, ret_pages);
}

size_t fx_catalog_resident(size_t *ret_pages)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/catalog/data.mdb", fx_dir);
	return fx_file_resident(path, ret_pages);
}

void fx_drop_file_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(fdatasync(fd), 0);
	cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

void fx_pack_flip_on_disk(uint64_t pack, uint64_t off, uint8_t mask)
{
	char path[PATH_MAX + 64];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/packs/%016llx.pack", fx_dir, (unsigned long long)pack);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

void fx_pack_flip(uint64_t pack, uint64_t off, uint8_t mask)
{
	fx_pack_flip_on_disk(pack, off, mask);
	if (fx_store)
		(void)sfs_store_drop_pack_bytes(fx_store, pack);
}

void fx_reopen_catalog_cold(void)
{
	char path[PATH_MAX];

	sfs_store_close(fx_store);
	fx_store = NULL;
	snprintf(path, sizeof(path), "%s/catalog/data.mdb", fx_dir);
	fx_drop_file_cache(path);
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &fx_store), 0);
}
