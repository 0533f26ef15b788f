// SPDX-License-Identifier: MIT
/*
 * The pack backend seam: a fault-injecting backend wrapped around the
 * local one shows that a failing or short read, a full disk on append
 * and a listing that misses a pack give a clean -errno and leave the
 * store whole (check passes, restores are byte-exact); the local
 * backend's descriptor cache stays within its bound and lets go of packs
 * removed by another opener.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "snapfs/backend.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"
#include "snapfs/gc.h"
#include "snapfs/ingest.h"
#include "snapfs/pack.h"
#include "snapfs/store.h"
#include "fixture.h"

enum fault { F_NONE, F_READ_EIO, F_READ_SHORT, F_APPEND_ENOSPC, F_LIST_MISS };
static enum fault fault;
static uint64_t hidden; /* the pack F_LIST_MISS leaves out */

static ssize_t f_read(struct sfs_backend *b, uint64_t n, uint64_t off, const struct iovec *iov,
		      int cnt)
{
	ssize_t r;

	if (fault == F_READ_EIO)
		return -EIO;
	r = sfs_backend_local.read(b, n, off, iov, cnt);
	if (fault == F_READ_SHORT && r > 1)
		r /= 2;
	return r;
}

static int f_append(struct sfs_pack_out *p, const void *buf, size_t len)
{
	if (fault == F_APPEND_ENOSPC)
		return -ENOSPC;
	return sfs_backend_local.append(p, buf, len);
}

struct list_ctx {
	sfs_pack_list_fn fn;
	void *ctx;
};

static int f_list_cb(void *ctx, uint64_t n, const struct sfs_pack_info *info)
{
	struct list_ctx *c = ctx;

	if (fault == F_LIST_MISS && n == hidden)
		return 0;
	return c->fn(c->ctx, n, info);
}

static int f_list(struct sfs_backend *b, sfs_pack_list_fn fn, void *ctx)
{
	struct list_ctx c = { fn, ctx };

	return sfs_backend_local.list(b, f_list_cb, &c);
}

static struct sfs_backend_ops fault_ops;

static void init_fault_ops(void)
{
	fault_ops = sfs_backend_local;
	fault_ops.name = "fault";
	fault_ops.read = f_read;
	fault_ops.append = f_append;
	fault_ops.list = f_list;
	fault = F_NONE;
}

static char src_a[4200], src_b[4200];

static void write_source(const char *path, size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_not_null(buf);
	cr_assert_geq(fd, 0);
	fx_fill_random(buf, len, seed);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
}

static int ingest(const char *volume, const char *src, char *ret_id)
{
	struct sfs_ingest_opts o = { .volume = volume, .source = src, .threads = 2 };
	struct sfs_ingest_result res;
	int r = sfs_ingest(fx_store, &o, &res);

	if (r == 0 && ret_id)
		snprintf(ret_id, SFS_IDSTR_SIZE, "%s", res.snap_id);
	return r;
}

static bool same_file(const char *a, const char *b)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

static void print_problem(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "check: %s\n", line);
}

static void assert_restores(const char *id, const char *src)
{
	char dest[4200];

	snprintf(dest, sizeof(dest), "%s.restored", src);
	unlink(dest);
	cr_assert_eq(sfs_restore(fx_store, id, dest, 0, NULL, NULL), 0);
	cr_assert(same_file(src, dest), "restore of %s is byte-exact", id);
	unlink(dest);
}

/* check reports the damaged pack keys (it must not call them fine), and
 * nothing else. */
static void assert_check_names_pack_keys(void)
{
	struct sfs_check_result res;

	memset(&res, 0, sizeof(res));
	cr_assert_eq(sfs_check(fx_store, false, print_problem, NULL, NULL, NULL, &res), 0);
	cr_assert_geq(res.problems, 1, "check must report the damaged pack.active");
}

static void assert_whole(const char *id, const char *src)
{
	struct sfs_check_result res;
	char dest[4200];

	memset(&res, 0, sizeof(res));
	cr_assert_eq(sfs_check(fx_store, true, print_problem, NULL, NULL, NULL, &res), 0);
	cr_assert_eq(res.problems, 0, "check finds %llu problems", (unsigned long long)res.problems);
	snprintf(dest, sizeof(dest), "%s.restored", src);
	unlink(dest);
	cr_assert_eq(sfs_restore(fx_store, id, dest, 0, NULL, NULL), 0);
	cr_assert(same_file(src, dest), "restore of %s is byte-exact", id);
	unlink(dest);
}

/* A 1 MiB pack size so that a few MiB make several packs. */
static void setup(void)
{
	struct sfs_store_options o = { .pack_size = 1u << 20 };

	fx_setup_opts(&o);
	init_fault_ops();
	snprintf(src_a, sizeof(src_a), "%s/../a.img", fx_dir);
	snprintf(src_b, sizeof(src_b), "%s/../b.img", fx_dir);
	write_source(src_a, 3u << 20, 1);
	write_source(src_b, 2u << 20, 2);
}

static void reopen_with_faults(void)
{
	sfs_store_close(fx_store);
	fx_store = NULL;
	cr_assert_eq(sfs_store_open_with(fx_dir, SFS_OPEN_WRITE, &fault_ops, &fx_store), 0);
}

static size_t count_packs(void)
{
	char path[4200];
	char cmd[4300];
	FILE *p;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/packs", fx_dir);
	snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.pack$'", path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

Test(backend, failing_and_short_reads_are_clean_errors, .init = setup, .fini = fx_teardown)
{
	char id[SFS_IDSTR_SIZE], dest[4300];

	cr_assert_eq(ingest("vol", src_a, id), 0);
	reopen_with_faults();
	snprintf(dest, sizeof(dest), "%s.out", src_a);

	fault = F_READ_EIO;
	cr_assert_eq(sfs_restore(fx_store, id, dest, 0, NULL, NULL), -EIO);
	cr_assert_eq(access(dest, F_OK), -1, "no partial restore left");
	fault = F_READ_SHORT;
	cr_assert_eq(sfs_restore(fx_store, id, dest, 0, NULL, NULL), -EBADMSG);
	cr_assert_eq(access(dest, F_OK), -1, "no partial restore left");

	fault = F_NONE;
	assert_whole(id, src_a);
}

Test(backend, append_enospc_leaves_the_store_whole, .init = setup, .fini = fx_teardown)
{
	char id[SFS_IDSTR_SIZE];
	size_t before;

	cr_assert_eq(ingest("vol", src_a, id), 0);
	before = count_packs();
	reopen_with_faults();
	fault = F_APPEND_ENOSPC;
	cr_assert_eq(ingest("other", src_b, NULL), -ENOSPC);
	fault = F_NONE;
	cr_assert_eq(count_packs(), before, "the failed session's packs are gone");
	assert_whole(id, src_a);
	/* And the store takes the snapshot once there is room. */
	cr_assert_eq(ingest("other", src_b, id), 0);
	assert_whole(id, src_b);
}

Test(backend, a_listing_that_misses_a_pack_loses_nothing, .init = setup, .fini = fx_teardown)
{
	char id_a[SFS_IDSTR_SIZE], id_b[SFS_IDSTR_SIZE];
	struct sfs_gc_result res;
	struct sfs_txn *t;

	cr_assert_eq(ingest("vol", src_a, id_a), 0);
	cr_assert_eq(ingest("other", src_b, id_b), 0);
	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_meta_get(t, "pack.active", &hidden), 0);
	sfs_txn_abort(t);
	hidden--; /* a sealed pack with live chunks of both snapshots */
	fault = F_LIST_MISS;
	reopen_with_faults(); /* recovery lists packs */
	cr_assert_eq(sfs_gc(fx_store, NULL, &res), 0);
	fault = F_NONE;
	assert_whole(id_a, src_a);
	assert_whole(id_b, src_b);
}

/* ---- the read descriptor cache ---- */

/* Descriptors of pack files this process holds open, removed ones too,
 * as the kernel lists them. */
static size_t pack_fds_held(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char path[64], target[4096];
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strstr(target, ".pack"))
			n++;
	}
	closedir(d);
	return n;
}

Test(backend, fd_cache_is_bounded_and_drops_removed_packs, .fini = fx_teardown)
{
	struct sfs_store_options o = { .pack_size = 1u << 20 };
	struct rlimit rl, old;
	struct sfs_store *reader;
	struct sfs_backend *b;
	char id[SFS_IDSTR_SIZE], dest[4300];
	size_t n;

	/* A quarter of 64 is the floor of 16. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = 64;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	fx_setup_opts(&o);
	snprintf(src_a, sizeof(src_a), "%s/../a.img", fx_dir);
	write_source(src_a, 40u << 20, 3); /* ~40 packs */
	cr_assert_eq(ingest("vol", src_a, id), 0);
	n = count_packs();
	cr_assert_gt(n, 32, "%zu packs", n);

	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &reader), 0);
	b = sfs_store_backend(reader);
	cr_assert_eq(sfs_backend_local_fd_bound(b), 16);
	snprintf(dest, sizeof(dest), "%s.out", src_a);
	cr_assert_eq(sfs_restore(reader, id, dest, 0, NULL, NULL), 0);
	cr_assert(same_file(src_a, dest), "every pack readable through a bounded cache");
	unlink(dest);
	/* The bound is on descriptors, and a pack read in spans holds two.
	 * What the process holds open, once the span loaders have closed
	 * their copies, must be what the two stores' caches count. */
	{
		struct sfs_backend *w = sfs_store_backend(fx_store);
		size_t held = 0, counted = 0;

		for (int i = 0; i < 300; i++) {
			held = pack_fds_held();
			counted = sfs_backend_local_fds_open(b) + sfs_backend_local_fds_open(w);
			if (held == counted)
				break;
			usleep(10000);
		}
		cr_assert_eq(held, counted, "%zu pack descriptors open, the caches count %zu", held,
			     counted);
	}
	cr_assert_leq(sfs_backend_local_fds_open(b), 16);
	cr_assert_gt(sfs_backend_local_fds_open(b), 0);

	/* Another opener (gc in another process) removes every pack: the
	 * reader's revalidate lets go of all of them. */
	{
		struct sfs_backend *w = sfs_store_backend(fx_store);
		for (uint64_t p = 1; p <= n + 1; p++)
			w->ops->remove(w, p);
	}
	b->ops->revalidate(b);
	cr_assert_eq(sfs_backend_local_fds_open(b), 0);
	sfs_store_close(reader);
	setrlimit(RLIMIT_NOFILE, &old);
}

/* ---- ordered reads past the page cache ---- */

struct recs {
	uint64_t off[1024];
	uint32_t len[1024];
	size_t n;
};

static int collect_rec(void *ctx, const struct sfs_rec_header *h, uint64_t offset,
		       const void *payload)
{
	struct recs *r = ctx;

	(void)payload;
	if (r->n < 1024) {
		r->off[r->n] = offset;
		r->len[r->n++] = SFS_REC_HEADER_LEN + h->stored_len;
	}
	return 0;
}

static int largest_pack(void *ctx, uint64_t number, const struct sfs_pack_info *info)
{
	uint64_t *best = ctx; /* number, length */

	if (info->length > best[1]) {
		best[0] = number;
		best[1] = info->length;
	}
	return 0;
}

/* Reads len bytes at off of pack number through b and compares them with
 * want (the whole pack). */
static void assert_reads(struct sfs_backend *b, uint64_t number, uint64_t off, size_t len,
			 const uint8_t *want)
{
	static uint8_t buf[1u << 20];
	struct iovec iov = { buf, len };

	cr_assert_leq(len, sizeof(buf));
	cr_assert_eq(b->ops->read(b, number, off, &iov, 1), (ssize_t)len, "at %llu",
		     (unsigned long long)off);
	cr_assert_arr_eq(buf, want + off, len, "at %llu", (unsigned long long)off);
}

static uint8_t *slurp(const char *path, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	cr_assert_not_null(buf);
	cr_assert_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*ret_len = (size_t)st.st_size;
	return buf;
}

/* Records read one after another come through 1 MiB spans read with
 * O_DIRECT and leave the pack out of the page cache; records read in a
 * scattered order are read the ordinary way, a span each being far more
 * than they need. */
Test(backend, ordered_reads_go_past_the_page_cache_scattered_ones_do_not, .fini = fx_teardown)
{
	struct sfs_store_options o = { .pack_size = 64u << 20 };
	static struct recs recs;
	uint64_t best[2] = { 0, 0 };
	char path[4300];
	struct sfs_store *rd;
	struct sfs_backend *b;
	size_t len, pages, in;
	uint8_t *want;

	fx_setup_opts(&o);
	snprintf(src_a, sizeof(src_a), "%s/../a.img", fx_dir);
	write_source(src_a, 24u << 20, 5);
	cr_assert_eq(ingest("vol", src_a, NULL), 0);
	b = sfs_store_backend(fx_store);
	cr_assert_eq(b->ops->list(b, largest_pack, best), 0);
	cr_assert_eq(sfs_pack_scan(b, best[0], collect_rec, &recs, NULL, NULL), 0);
	cr_assert_gt(recs.n, 300, "%zu records", recs.n);
	snprintf(path, sizeof(path), "%s/packs/%016llx.pack", fx_dir, (unsigned long long)best[0]);
	want = slurp(path, &len);

	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &rd), 0);
	b = sfs_store_backend(rd);
	fx_drop_file_cache(path);
	for (size_t k = 0; k < 100; k++) {
		size_t i = k * 7919 % recs.n;
		assert_reads(b, best[0], recs.off[i], recs.len[i], want);
	}
	cr_assert_eq(sfs_backend_local_spans_read(b), 0, "scattered reads stay buffered");

	fx_drop_file_cache(path);
	for (size_t i = 0; i < recs.n; i++)
		assert_reads(b, best[0], recs.off[i], recs.len[i], want);
	cr_assert_geq(sfs_backend_local_spans_read(b), len / (1u << 20) - 1, "%llu spans",
		      (unsigned long long)sfs_backend_local_spans_read(b));
	in = fx_file_resident(path, &pages);
	/* What the first few reads left, before the walk was seen: their
	 * 64 KiB windows (the backend's own readahead), not the kernel's
	 * readahead for a file read in order (up to read_ahead_kb: 1-3 MiB
	 * with 8 MiB, before). */
	cr_assert_leq(in, 64, "%zu of the pack's %zu pages are in the page cache", in, pages);
	sfs_store_close(rd);
	free(want);
}

/* A scattered read asks for the 64 KiB-aligned window around it (the
 * kernel's readahead is off for packs): that window is cached after the
 * read, and nothing before or after it. */
Test(backend, a_scattered_read_caches_its_64k_window_and_no_more, .init = fx_setup,
     .fini = fx_teardown)
{
	const size_t size = 4u << 20, win = 64u << 10, at = (2u << 20) + 70000, len = 4096;
	const uint64_t number = 0xfffff1, lo = at & ~(uint64_t)(win - 1);
	struct sfs_backend *b = sfs_store_backend(fx_store);
	uint8_t *data = malloc(size);
	struct sfs_pack_out *p;
	struct sfs_store *rd;
	char path[4300];
	size_t pages, in = 0;

	cr_assert_not_null(data);
	fx_fill_random(data, size, 11);
	cr_assert_eq(b->ops->create(b, number, 0, &p), 0);
	cr_assert_eq(b->ops->append(p, data, size), 0);
	cr_assert_eq(b->ops->seal(p), 0);
	snprintf(path, sizeof(path), "%s/packs/%016llx.pack", fx_dir, (unsigned long long)number);
	fx_drop_file_cache(path);
	cr_assert_eq(fx_range_resident(path, 0, 0, &pages), 0, "the pack left the page cache");

	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &rd), 0);
	assert_reads(sfs_store_backend(rd), number, at, len, data);
	cr_assert_eq(sfs_backend_local_spans_read(sfs_store_backend(rd)), 0);
	/* The window's pages count once their read is done: the advice
	 * only starts it. */
	for (int i = 0; i < 200; i++) {
		in = fx_range_resident(path, lo, win, &pages);
		if (in == pages)
			break;
		usleep(10000);
	}
	cr_assert_eq(in, pages, "%zu of the window's %zu pages cached", in, pages);
	in = fx_range_resident(path, 0, lo, &pages);
	cr_assert_eq(in, 0, "%zu of the %zu pages before the window cached", in, pages);
	in = fx_range_resident(path, lo + win, 0, &pages);
	cr_assert_eq(in, 0, "%zu of the %zu pages after the window cached", in, pages);
	sfs_store_close(rd);
	free(data);
}

/* A span read at a pack's end holds only what the pack had then: what is
 * appended after it reads back exactly, across the old end too. */
Test(backend, a_span_at_a_packs_end_hides_nothing_appended_later, .init = fx_setup,
     .fini = fx_teardown)
{
	const size_t first = 3u << 19, more = 1u << 20, step = 16u << 10;
	const uint64_t number = 0xfffff0;
	struct sfs_backend *b = sfs_store_backend(fx_store);
	uint8_t *data = malloc(first + more);
	struct sfs_pack_out *p;
	uint64_t off;

	cr_assert_not_null(data);
	fx_fill_random(data, first + more, 9);
	cr_assert_eq(b->ops->create(b, number, 0, &p), 0);
	cr_assert_eq(b->ops->append(p, data, first), 0);
	cr_assert_eq(b->ops->sync(p), 0);
	for (off = 0; off < first; off += step)
		assert_reads(b, number, off, step, data);
	cr_assert_gt(sfs_backend_local_spans_read(b), 0, "the walk went through spans");
	cr_assert_eq(b->ops->append(p, data + first, more), 0);
	cr_assert_eq(b->ops->seal(p), 0);
	for (off = first - step; off + step <= first + more; off += step)
		assert_reads(b, number, off, step, data);
	cr_assert_eq(b->ops->remove(b, number), 0);
	free(data);
}

/* ---- the config names the backend; unknown keys are refused ---- */

static void set_config_line(const char *from, const char *to)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "sed -i 's/^%s$/%s/' '%s/config'", from, to, fx_dir);
	cr_assert_eq(system(cmd), 0);
}

Test(backend, config_backend_and_unknown_keys, .init = fx_setup, .fini = fx_teardown)
{
	struct sfs_store *s;

	sfs_store_close(fx_store);
	fx_store = NULL;
	set_config_line("backend = local", "backend = tape");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &s), -EPROTONOSUPPORT);
	set_config_line("backend = tape", "frobnicate = 1");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_READ, &s), -EPROTONOSUPPORT);
	/* No backend key: a store of the previous version, local. */
	set_config_line("frobnicate = 1", "");
	cr_assert_eq(sfs_store_open(fx_dir, SFS_OPEN_WRITE, &fx_store), 0);
}

/* ---- recovery and the pack table ---- */

/* Edits the catalog behind the store's back, as damage or an older
 * version would have left it: drops meta key (or NULL) and, with
 * drop_table, the pack table. The store must be closed. */
static void damage_catalog(const char *meta_key, bool drop_table, const char *put_key,
			   uint64_t put_value)
{
	char dir[4200];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, packs;

	snprintf(dir, sizeof(dir), "%s/catalog", fx_dir);
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 1ull << 40);
	cr_assert_eq(mdb_env_open(env, dir, MDB_NOTLS, 0644), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	if (meta_key) {
		MDB_val k = { strlen(meta_key), (void *)meta_key };
		cr_assert_eq(mdb_del(txn, meta, &k, NULL), 0);
	}
	if (put_key) {
		uint8_t v[8];
		MDB_val k = { strlen(put_key), (void *)put_key }, val = { 8, v };
		for (int i = 0; i < 8; i++)
			v[i] = (uint8_t)(put_value >> (8 * i));
		cr_assert_eq(mdb_put(txn, meta, &k, &val, 0), 0);
	}
	if (drop_table) {
		MDB_val k = { strlen("pack_table"), (void *)"pack_table" };
		cr_assert_eq(mdb_dbi_open(txn, "packs", 0, &packs), 0);
		cr_assert_eq(mdb_drop(txn, packs, 1), 0);
		cr_assert_eq(mdb_del(txn, meta, &k, NULL), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static int count_rows(void *ctx, const struct sfs_pack_rec *p)
{
	cr_assert_not_null(p);
	(*(size_t *)ctx)++;
	return 0;
}

static size_t table_rows(void)
{
	struct sfs_txn *t;
	size_t n = 0;

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_pack_foreach(t, count_rows, &n), 0);
	sfs_txn_abort(t);
	return n;
}

Test(backend, recovery_without_pack_active_removes_nothing, .init = setup, .fini = fx_teardown)
{
	char id[SFS_IDSTR_SIZE];
	size_t n;

	cr_assert_eq(ingest("vol", src_a, id), 0);
	n = count_packs();
	cr_assert_gt(n, 2);
	sfs_store_close(fx_store);
	fx_store = NULL;
	damage_catalog("pack.active", false, NULL, 0);
	fx_reopen(true);
	cr_assert_eq(count_packs(), n, "no pack removed");
	assert_restores(id, src_a);
	assert_check_names_pack_keys();
	/* A writer after that never overwrites an existing pack, and its
	 * commit records the committed end again. */
	cr_assert_eq(ingest("other", src_b, id), 0);
	assert_whole(id, src_b);
}

Test(backend, recovery_keeps_packs_the_table_names, .init = setup, .fini = fx_teardown)
{
	char id[SFS_IDSTR_SIZE];
	size_t n;

	cr_assert_eq(ingest("vol", src_a, id), 0);
	n = count_packs();
	cr_assert_gt(n, 2);
	sfs_store_close(fx_store);
	fx_store = NULL;
	/* pack.active says 1 while packs 2.. are committed: they are named
	 * by the table and pointed into by the index, so they stay. */
	damage_catalog(NULL, false, "pack.active", 1);
	fx_reopen(true);
	cr_assert_eq(count_packs(), n, "no committed pack removed");
	assert_restores(id, src_a);
	assert_check_names_pack_keys();
}

Test(backend, an_older_store_gets_its_pack_table, .init = setup, .fini = fx_teardown)
{
	char id[SFS_IDSTR_SIZE];
	struct sfs_gc_result res;
	uint64_t packs = 0, cat = 0;
	size_t n;

	cr_assert_eq(ingest("vol", src_a, id), 0);
	n = count_packs();
	cr_assert_eq(table_rows(), n);
	sfs_store_close(fx_store);
	fx_store = NULL;
	damage_catalog(NULL, true, NULL, 0);
	/* Read-only: no table, the backend is listed instead. */
	fx_reopen(false);
	cr_assert_eq(sfs_store_disk_usage(fx_store, &packs, &cat), 0);
	cr_assert_gt(packs, 3u << 20);
	/* The first writable open builds the table once. */
	fx_reopen(true);
	cr_assert_eq(table_rows(), n);
	cr_assert_eq(sfs_gc(fx_store, NULL, &res), 0);
	cr_assert_eq(res.packs_before, n);
	assert_whole(id, src_a);
}

static void grab_line(void *ctx, const char *line)
{
	if (strstr(line, "the catalog committed"))
		(*(int *)ctx)++;
}

Test(backend, check_reports_a_pack_shorter_than_committed, .init = setup, .fini = fx_teardown)
{
	struct sfs_check_result res;
	char id[SFS_IDSTR_SIZE], path[4300];
	int hits = 0;

	cr_assert_eq(ingest("vol", src_a, id), 0);
	snprintf(path, sizeof(path), "%s/packs/0000000000000001.pack", fx_dir);
	cr_assert_eq(truncate(path, 4096), 0);
	cr_assert_eq(sfs_check(fx_store, false, grab_line, &hits, NULL, NULL, &res), 0);
	cr_assert_eq(hits, 1);
}
