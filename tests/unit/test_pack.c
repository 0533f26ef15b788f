// SPDX-License-Identifier: MIT
/*
 * Pack files: header codecs and their bounds checks, append and read
 * back, cross-checks of a location against the record, torn tails, and
 * rebuilding the chunk index from packs alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <criterion/criterion.h>

#include "snapfs/catalog.h"
#include "snapfs/backend.h"
#include "snapfs/pack.h"
#include "fixture.h"

Test(pack, header_round_trip)
{
	uint8_t h[SFS_PACK_HEADER_LEN];
	uint64_t n = 0;

	sfs_pack_header_encode(0x1122334455667788ull, h);
	cr_assert_eq(memcmp(h, "SNAPFSPK", 8), 0);
	cr_assert_eq(sfs_pack_header_decode(h, sizeof(h), &n), 0);
	cr_assert_eq(n, 0x1122334455667788ull);
	cr_assert_eq(sfs_pack_header_decode(h, sizeof(h), NULL), 0);
}

Test(pack, header_rejects)
{
	uint8_t h[SFS_PACK_HEADER_LEN];
	uint64_t n;

	sfs_pack_header_encode(1, h);
	cr_assert_eq(sfs_pack_header_decode(h, SFS_PACK_HEADER_LEN - 1, &n), -EBADMSG, "short");
	cr_assert_eq(sfs_pack_header_decode(h, 0, &n), -EBADMSG, "empty");
	/* Each field that is checked, one at a time. */
	size_t offs[] = { 0, 7, 8, 11, 12, 15, 24, 31 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		h[offs[i]] ^= 0x10;
		cr_assert_eq(sfs_pack_header_decode(h, sizeof(h), &n), -EBADMSG, "byte %zu",
			     offs[i]);
		h[offs[i]] ^= 0x10;
	}
	cr_assert_eq(sfs_pack_header_decode(h, sizeof(h), &n), 0);
}

static struct sfs_rec_header good_rec(void)
{
	struct sfs_rec_header h = { .type = SFS_CHUNK_DATA, .comp = SFS_COMP_ZSTD,
				    .raw_len = 65536, .stored_len = 1000 };
	fx_fill_random(h.id.b, SFS_ID_LEN, 5);
	return h;
}

Test(pack, rec_header_round_trip)
{
	struct sfs_rec_header h = good_rec(), d;
	uint8_t b[SFS_REC_HEADER_LEN];

	sfs_rec_header_encode(&h, b);
	cr_assert_eq(sfs_rec_header_decode(b, sizeof(b), &d), 0);
	cr_assert_eq(d.type, h.type);
	cr_assert_eq(d.comp, h.comp);
	cr_assert_eq(d.raw_len, h.raw_len);
	cr_assert_eq(d.stored_len, h.stored_len);
	cr_assert_arr_eq(d.id.b, h.id.b, SFS_ID_LEN);

	h.type = SFS_CHUNK_MAP;
	h.comp = SFS_COMP_NONE;
	h.raw_len = h.stored_len = SFS_BLOCK_MAX;
	sfs_rec_header_encode(&h, b);
	cr_assert_eq(sfs_rec_header_decode(b, sizeof(b), &d), 0, "raw record of the largest size");
}

static int dec(const struct sfs_rec_header *h)
{
	uint8_t b[SFS_REC_HEADER_LEN];
	struct sfs_rec_header d;

	sfs_rec_header_encode(h, b);
	return sfs_rec_header_decode(b, sizeof(b), &d);
}

Test(pack, rec_header_bounds)
{
	struct sfs_rec_header h = good_rec(), x;
	uint8_t b[SFS_REC_HEADER_LEN];
	struct sfs_rec_header d;

	x = h; x.type = 0;
	cr_assert_eq(dec(&x), -EBADMSG, "type 0");
	x = h; x.type = 3;
	cr_assert_eq(dec(&x), -EBADMSG, "type 3");
	x = h; x.comp = 2;
	cr_assert_eq(dec(&x), -EBADMSG, "comp 2");
	x = h; x.raw_len = 0; x.stored_len = 0;
	cr_assert_eq(dec(&x), -EBADMSG, "raw_len 0");
	x = h; x.raw_len = SFS_BLOCK_MAX + 1;
	cr_assert_eq(dec(&x), -EBADMSG, "raw_len past the largest block");
	x = h; x.raw_len = UINT32_MAX;
	cr_assert_eq(dec(&x), -EBADMSG, "raw_len huge");
	x = h; x.stored_len = 0;
	cr_assert_eq(dec(&x), -EBADMSG, "zstd stored_len 0");
	x = h; x.stored_len = x.raw_len;
	cr_assert_eq(dec(&x), -EBADMSG, "zstd that did not shrink");
	x = h; x.stored_len = UINT32_MAX;
	cr_assert_eq(dec(&x), -EBADMSG, "stored_len huge");
	x = h; x.comp = SFS_COMP_NONE; x.stored_len = x.raw_len - 1;
	cr_assert_eq(dec(&x), -EBADMSG, "raw with stored != raw");

	sfs_rec_header_encode(&h, b);
	cr_assert_eq(sfs_rec_header_decode(b, SFS_REC_HEADER_LEN - 1, &d), -EBADMSG, "short");
	b[0] ^= 1;
	cr_assert_eq(sfs_rec_header_decode(b, sizeof(b), &d), -EBADMSG, "magic");
	b[0] ^= 1;
	b[6] = 1;
	cr_assert_eq(sfs_rec_header_decode(b, sizeof(b), &d), -EBADMSG, "reserved");
	b[6] = 0;
	b[7] = 0x80;
	cr_assert_eq(sfs_rec_header_decode(b, sizeof(b), &d), -EBADMSG, "reserved high byte");
}

Test(pack, name)
{
	char buf[64];

	sfs_pack_name(1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0000000000000001.pack");
	sfs_pack_name(0xabcdefull, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0000000000abcdef.pack");
}

/* ---- files ---- */

static char *tmp;
static int dfd = -1;            /* packs/ under tmp */
static struct sfs_backend dbe;  /* the local backend on tmp, for writers */

static void files_setup(void)
{
	int top;

	tmp = fx_tmpdir();
	top = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(top, 0);
	dbe.ops = &sfs_backend_local;
	cr_assert_eq(dbe.ops->open(&dbe, top, SFS_BACKEND_WRITE | SFS_BACKEND_CREATE), 0);
	dfd = openat(top, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	close(top);
}

static void files_teardown(void)
{
	if (dfd >= 0)
		close(dfd);
	if (dbe.ops)
		dbe.ops->close(&dbe);
	memset(&dbe, 0, sizeof(dbe));
	fx_rm_rf(tmp);
	free(tmp);
}

/* A read-only backend serving the one file open on fd whatever the pack
 * number, so that the format tests can hand the decoders files the test
 * damaged (or fixtures under other names). */
static ssize_t fdb_read(struct sfs_backend *b, uint64_t number, uint64_t offset,
			const struct iovec *iov, int iovcnt)
{
	ssize_t n = preadv((int)(intptr_t)b->priv, iov, iovcnt, (off_t)offset);

	(void)number;
	return n < 0 ? -errno : n;
}

static int fdb_stat(struct sfs_backend *b, uint64_t number, struct sfs_pack_info *ret)
{
	struct stat st;

	(void)number;
	if (fstat((int)(intptr_t)b->priv, &st) < 0)
		return -errno;
	ret->length = (uint64_t)st.st_size;
	ret->disk = (uint64_t)st.st_blocks * 512;
	return 0;
}

static const struct sfs_backend_ops fdb_ops = { .name = "fd", .read = fdb_read, .stat = fdb_stat };

static struct sfs_backend *fdb(int fd)
{
	static struct sfs_backend b;

	b.ops = &fdb_ops;
	b.priv = (void *)(intptr_t)fd;
	return &b;
}

#define NREC 40

struct recs {
	uint8_t raw[NREC][8192];
	size_t raw_len[NREC];
	uint8_t stored[NREC][8192 + 1024];
	struct sfs_rec_header h[NREC];
	struct sfs_chunk_loc loc[NREC];
};

/* Writes NREC records (mixed sizes, compressible and not, data and map)
 * to pack `number`, synced. Returns the pack's fd, read-only. */
static int write_recs(uint64_t number, struct recs *R)
{
	struct sfs_pack_writer *w;
	struct sfs_codec *c = sfs_codec_new(3);
	char name[64];
	int fd;

	cr_assert_eq(sfs_pack_writer_open(&dbe, number, 0, &w), 0);
	for (int i = 0; i < NREC; i++) {
		ssize_t n;
		R->raw_len[i] = 4096u << (i % 2);
		if (i % 3)
			fx_fill_text(R->raw[i], R->raw_len[i], (uint64_t)i);
		else
			fx_fill_random(R->raw[i], R->raw_len[i], (uint64_t)i);
		R->h[i].type = i % 5 ? SFS_CHUNK_DATA : SFS_CHUNK_MAP;
		R->h[i].raw_len = (uint32_t)R->raw_len[i];
		sfs_chunk_hash(R->raw[i], R->raw_len[i], &R->h[i].id);
		n = sfs_codec_compress(c, R->raw[i], R->raw_len[i], R->stored[i],
				       sizeof(R->stored[i]), &R->h[i].comp);
		cr_assert_gt(n, 0);
		R->h[i].stored_len = (uint32_t)n;
		cr_assert_eq(sfs_pack_append(w, &R->h[i], R->stored[i], &R->loc[i]), 0);
		cr_assert_eq(R->loc[i].pack, number);
		cr_assert_eq(R->loc[i].stored_len, R->h[i].stored_len);
		cr_assert_eq(R->loc[i].raw_len, R->h[i].raw_len);
		cr_assert_eq(R->loc[i].type, R->h[i].type);
		cr_assert_eq(R->loc[i].comp, R->h[i].comp);
		if (i == 0)
			cr_assert_eq(R->loc[i].offset, SFS_PACK_HEADER_LEN);
		else
			cr_assert_eq(R->loc[i].offset, R->loc[i - 1].offset + SFS_REC_HEADER_LEN +
							       R->loc[i - 1].stored_len);
	}
	cr_assert_eq(sfs_pack_writer_number(w), number);
	cr_assert_eq(sfs_pack_writer_size(w), R->loc[NREC - 1].offset + SFS_REC_HEADER_LEN +
						      R->loc[NREC - 1].stored_len);
	cr_assert_eq(sfs_pack_writer_sync(w), 0);
	sfs_pack_writer_close(w);
	sfs_codec_free(c);
	sfs_pack_name(number, name, sizeof(name));
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	return fd;
}

static uint64_t file_size(int fd)
{
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

Test(pack, append_read_back, .init = files_setup, .fini = files_teardown)
{
	static struct recs R;
	struct sfs_codec *c = sfs_codec_new(1);
	uint8_t buf[8192 + 1024], out[8192];
	int fd = write_recs(3, &R);

	cr_assert_eq(file_size(fd), R.loc[NREC - 1].offset + SFS_REC_HEADER_LEN +
					    R.loc[NREC - 1].stored_len);
	for (int i = NREC - 1; i >= 0; i--) {
		cr_assert_eq(sfs_pack_read(fdb(fd), &R.loc[i], &R.h[i].id, buf), 0, "record %d", i);
		cr_assert_arr_eq(buf, R.stored[i], R.loc[i].stored_len);
		cr_assert_eq(fx_decode(c, R.loc[i].comp, buf, R.loc[i].stored_len, out,
					      R.loc[i].raw_len, &R.h[i].id),
			     0);
		cr_assert_arr_eq(out, R.raw[i], R.raw_len[i]);
	}
	close(fd);
	sfs_codec_free(c);
}

Test(pack, read_cross_checks_location, .init = files_setup, .fini = files_teardown)
{
	static struct recs R;
	uint8_t buf[SFS_BLOCK_MAX];
	int fd = write_recs(1, &R);
	struct sfs_chunk_loc l;
	struct sfs_id id;
	int i = 7;

	l = R.loc[i]; l.stored_len++;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "stored_len");
	l = R.loc[i]; l.raw_len *= 2;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "raw_len");
	l = R.loc[i]; l.type = l.type == SFS_CHUNK_DATA ? SFS_CHUNK_MAP : SFS_CHUNK_DATA;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "type");
	l = R.loc[i]; l.comp = !l.comp;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "comp");
	id = R.h[i].id; id.b[31] ^= 1;
	cr_assert_eq(sfs_pack_read(fdb(fd), &R.loc[i], &id, buf), -EBADMSG, "id");
	l = R.loc[i]; l.offset = 0;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "offset in pack header");
	l = R.loc[i]; l.offset += 1;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "offset not at a record");
	l = R.loc[i]; l.offset = file_size(fd);
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "offset at end");
	l = R.loc[i]; l.offset = file_size(fd) - 10;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "header past end");
	l = R.loc[i]; l.offset = UINT64_MAX - 8;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "offset huge");
	l = R.loc[i]; l.offset = 1ull << 62;
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &R.h[i].id, buf), -EBADMSG, "offset far past end");

	/* A record whose payload was cut off by truncation. */
	close(fd);
	{
		char name[64];
		sfs_pack_name(1, name, sizeof(name));
		fd = openat(dfd, name, O_RDWR | O_CLOEXEC);
		cr_assert_eq(ftruncate(fd, (off_t)(R.loc[NREC - 1].offset + SFS_REC_HEADER_LEN + 1)), 0);
	}
	cr_assert_eq(sfs_pack_read(fdb(fd), &R.loc[NREC - 1], &R.h[NREC - 1].id, buf), -EBADMSG,
		     "payload cut short");
	cr_assert_eq(sfs_pack_read(fdb(fd), &R.loc[NREC - 2], &R.h[NREC - 2].id, buf), 0);
	close(fd);
}

struct scan_ctx {
	struct recs *R;
	int n;
	int stop_at;
};

static int scan_cb(void *ctx, const struct sfs_rec_header *h, uint64_t offset, const void *payload)
{
	struct scan_ctx *s = ctx;
	int i = s->n++;

	cr_assert_lt(i, NREC);
	cr_assert_eq(offset, s->R->loc[i].offset);
	cr_assert_eq(h->type, s->R->h[i].type);
	cr_assert_eq(h->comp, s->R->h[i].comp);
	cr_assert_eq(h->raw_len, s->R->h[i].raw_len);
	cr_assert_eq(h->stored_len, s->R->h[i].stored_len);
	cr_assert_arr_eq(h->id.b, s->R->h[i].id.b, SFS_ID_LEN);
	cr_assert_arr_eq(payload, s->R->stored[i], h->stored_len);
	return s->n == s->stop_at ? 42 : 0;
}

static uint64_t rec_end(struct recs *R, int i)
{
	return R->loc[i].offset + SFS_REC_HEADER_LEN + R->loc[i].stored_len;
}

Test(pack, scan_whole_and_stop, .init = files_setup, .fini = files_teardown)
{
	static struct recs R;
	int fd = write_recs(9, &R);
	struct scan_ctx s = { &R, 0, -1 };
	uint64_t number = 0, end = 0;

	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, &number, &end), 0);
	cr_assert_eq(s.n, NREC);
	cr_assert_eq(number, 9);
	cr_assert_eq(end, file_size(fd));

	s.n = 0;
	s.stop_at = 5;
	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 42, "callback's value returned");
	cr_assert_eq(s.n, 5);
	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, NULL, NULL, NULL, &end), 0, "no callback");
	cr_assert_eq(end, file_size(fd));
	close(fd);
}

/* A torn tail, in every shape a crash can leave it, is not an error: the
 * scan stops at the end of the last whole record. */
Test(pack, scan_torn_tail, .init = files_setup, .fini = files_teardown)
{
	static struct recs R;
	int rfd = write_recs(2, &R);
	char name[64];
	int fd;
	uint64_t full = file_size(rfd);
	uint64_t last = R.loc[NREC - 1].offset;

	close(rfd);
	sfs_pack_name(2, name, sizeof(name));
	fd = openat(dfd, name, O_RDWR | O_CLOEXEC);

	uint64_t cuts[] = { full - 1, last + SFS_REC_HEADER_LEN + 1, last + SFS_REC_HEADER_LEN,
			    last + SFS_REC_HEADER_LEN - 1, last + 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct scan_ctx s = { &R, 0, -1 };
		uint64_t end = 0;

		cr_assert_eq(ftruncate(fd, (off_t)cuts[i]), 0);
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 0, "cut at %llu",
			     (unsigned long long)cuts[i]);
		cr_assert_eq(s.n, NREC - 1, "cut at %llu", (unsigned long long)cuts[i]);
		cr_assert_eq(end, last);
	}

	/* Garbage (zeros, as a crash on ext4 may leave) after the last record. */
	{
		struct scan_ctx s = { &R, 0, -1 };
		uint64_t end = 0;
		uint8_t junk[300] = { 0 };

		cr_assert_eq(ftruncate(fd, (off_t)last), 0);
		cr_assert_eq(pwrite(fd, junk, sizeof(junk), (off_t)last), (ssize_t)sizeof(junk));
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 0);
		cr_assert_eq(s.n, NREC - 1);
		cr_assert_eq(end, last);
	}
	/* A header that claims more bytes than the file has. */
	{
		struct scan_ctx s = { &R, 0, -1 };
		struct sfs_rec_header h = R.h[NREC - 1];
		uint8_t hb[SFS_REC_HEADER_LEN];
		uint64_t end = 0;

		h.comp = SFS_COMP_NONE;
		h.stored_len = h.raw_len = SFS_BLOCK_MAX;
		sfs_rec_header_encode(&h, hb);
		cr_assert_eq(ftruncate(fd, (off_t)last), 0);
		cr_assert_eq(pwrite(fd, hb, sizeof(hb), (off_t)last), (ssize_t)sizeof(hb));
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 0);
		cr_assert_eq(s.n, NREC - 1);
		cr_assert_eq(end, last);
	}
	/* Only the pack header. */
	{
		struct scan_ctx s = { &R, 0, -1 };
		uint64_t end = 0;
		cr_assert_eq(ftruncate(fd, SFS_PACK_HEADER_LEN), 0);
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 0);
		cr_assert_eq(s.n, 0);
		cr_assert_eq(end, SFS_PACK_HEADER_LEN);
	}
	/* Not even that: the file is not a pack. */
	{
		uint64_t end = 0;
		cr_assert_eq(ftruncate(fd, SFS_PACK_HEADER_LEN - 1), 0);
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, NULL, NULL, NULL, &end), -EBADMSG);
		cr_assert_eq(ftruncate(fd, 0), 0);
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, NULL, NULL, NULL, &end), -EBADMSG);
	}
	close(fd);
}

Test(pack, scan_stops_at_damaged_header, .init = files_setup, .fini = files_teardown)
{
	static struct recs R;
	int rfd = write_recs(2, &R);
	char name[64];
	int fd;
	struct scan_ctx s = { &R, 0, -1 };
	uint64_t end;
	uint8_t b;

	close(rfd);
	sfs_pack_name(2, name, sizeof(name));
	fd = openat(dfd, name, O_RDWR | O_CLOEXEC);
	cr_assert_eq(pread(fd, &b, 1, (off_t)R.loc[10].offset), 1);
	b ^= 0xff;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)R.loc[10].offset), 1);
	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 0);
	cr_assert_eq(s.n, 10);
	cr_assert_eq(end, R.loc[10].offset);
	close(fd);
}

Test(pack, writer_reopen_truncates_uncommitted, .init = files_setup, .fini = files_teardown)
{
	static struct recs R;
	int fd = write_recs(4, &R);
	uint64_t committed = rec_end(&R, 19);
	struct sfs_pack_writer *w;
	struct sfs_chunk_loc loc;
	struct scan_ctx s = { &R, 0, -1 };
	uint64_t end;

	close(fd);
	cr_assert_eq(sfs_pack_writer_open(&dbe, 4, committed, &w), 0);
	cr_assert_eq(sfs_pack_writer_size(w), committed);
	/* Re-append record 20: it lands exactly where it was. */
	cr_assert_eq(sfs_pack_append(w, &R.h[20], R.stored[20], &loc), 0);
	cr_assert_eq(loc.offset, R.loc[20].offset);
	cr_assert_eq(sfs_pack_writer_sync(w), 0);
	sfs_pack_writer_close(w);
	{
		char name[64];
		sfs_pack_name(4, name, sizeof(name));
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	}
	cr_assert_eq(file_size(fd), rec_end(&R, 20));
	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, scan_cb, &s, NULL, &end), 0);
	cr_assert_eq(s.n, 21);
	close(fd);

	/* committed_len 0 creates a pack; an existing one is never
	 * overwritten (numbers are not reused) and stays as it was. */
	cr_assert_eq(sfs_pack_writer_open(&dbe, 4, 0, &w), -EEXIST);
	{
		char name[64];
		sfs_pack_name(4, name, sizeof(name));
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	}
	cr_assert_eq(file_size(fd), rec_end(&R, 20));
	close(fd);
	sfs_pack_writer_close(NULL);
}

/* A record larger than the writer's buffer takes the direct-write path. */
Test(pack, record_larger_than_buffer, .init = files_setup, .fini = files_teardown)
{
	size_t len = SFS_BLOCK_MAX;
	uint8_t *raw = malloc(len), *buf = malloc(len);
	struct sfs_pack_writer *w;
	struct sfs_rec_header h = { .type = SFS_CHUNK_DATA, .comp = SFS_COMP_NONE,
				    .raw_len = (uint32_t)len, .stored_len = (uint32_t)len };
	struct sfs_chunk_loc l1, l2, l3;
	uint8_t small[100];
	struct sfs_rec_header hs = { .type = SFS_CHUNK_DATA, .comp = SFS_COMP_NONE,
				     .raw_len = sizeof(small), .stored_len = sizeof(small) };
	char name[64];
	int fd;

	fx_fill_random(raw, len, 11);
	fx_fill_random(small, sizeof(small), 12);
	sfs_chunk_hash(raw, len, &h.id);
	sfs_chunk_hash(small, sizeof(small), &hs.id);
	cr_assert_eq(sfs_pack_writer_open(&dbe, 5, 0, &w), 0);
	cr_assert_eq(sfs_pack_append(w, &hs, small, &l1), 0);
	cr_assert_eq(sfs_pack_append(w, &h, raw, &l2), 0);
	cr_assert_eq(sfs_pack_append(w, &hs, small, &l3), 0);
	cr_assert_eq(l2.offset, l1.offset + SFS_REC_HEADER_LEN + sizeof(small));
	cr_assert_eq(l3.offset, l2.offset + SFS_REC_HEADER_LEN + len);
	cr_assert_eq(sfs_pack_writer_sync(w), 0);
	sfs_pack_writer_close(w);
	sfs_pack_name(5, name, sizeof(name));
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	cr_assert_eq(file_size(fd), l3.offset + SFS_REC_HEADER_LEN + sizeof(small));
	cr_assert_eq(sfs_pack_read(fdb(fd), &l1, &hs.id, buf), 0);
	cr_assert_arr_eq(buf, small, sizeof(small));
	cr_assert_eq(sfs_pack_read(fdb(fd), &l2, &h.id, buf), 0);
	cr_assert_arr_eq(buf, raw, len);
	cr_assert_eq(sfs_pack_read(fdb(fd), &l3, &hs.id, buf), 0);
	close(fd);
	free(raw);
	free(buf);
}

/* A pack written well past the writeback window does not keep its early
 * bytes in the page cache: they were written back and dropped while the
 * writer went on. */
Test(pack, written_bytes_leave_the_page_cache, .init = files_setup, .fini = files_teardown)
{
	enum { REC = 64 << 10, NBIG = 512 }; /* 32 MiB */
	uint8_t *raw = malloc(REC), *map;
	struct sfs_rec_header h = { .type = SFS_CHUNK_DATA, .comp = SFS_COMP_NONE,
				    .raw_len = REC, .stored_len = REC };
	struct sfs_pack_writer *w;
	struct sfs_chunk_loc l;
	unsigned char vec[(8 << 20) / 4096];
	struct statfs sf;
	size_t resident = 0;
	char name[64];
	int fd;

	cr_assert_eq(fstatfs(dfd, &sf), 0);
	if (sf.f_type == TMPFS_MAGIC)
		cr_skip_test("tmpfs keeps every page in memory");
	fx_fill_random(raw, REC, 13);
	sfs_chunk_hash(raw, REC, &h.id);
	cr_assert_eq(sfs_pack_writer_open(&dbe, 6, 0, &w), 0);
	for (int i = 0; i < NBIG; i++)
		cr_assert_eq(sfs_pack_append(w, &h, raw, &l), 0);
	cr_assert_eq(sfs_pack_writer_sync(w), 0);
	sfs_pack_writer_close(w);
	sfs_pack_name(6, name, sizeof(name));
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	map = mmap(NULL, sizeof(vec) * 4096, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(map, MAP_FAILED);
	cr_assert_eq(mincore(map, sizeof(vec) * 4096, vec), 0);
	for (size_t i = 0; i < sizeof(vec); i++)
		resident += vec[i] & 1;
	cr_assert_lt(resident, sizeof(vec) / 8, "%zu of the first %zu pages still cached",
		     resident, sizeof(vec));
	/* Dropped from the cache, not lost. */
	cr_assert_eq(sfs_pack_read(fdb(fd), &l, &h.id, raw), 0);
	munmap(map, sizeof(vec) * 4096);
	close(fd);
	free(raw);
}

/* The pack writer's write-behind calls sync_file_range; this one is the
 * real call, or, while inject_wb_error is set, a wait that reports a
 * failed writeback as the kernel does: once per descriptor, after which
 * fdatasync on it returns 0. */
static int inject_wb_error;

int sync_file_range(int fd, off64_t offset, off64_t count, unsigned int flags)
{
	if (inject_wb_error && (flags & SYNC_FILE_RANGE_WAIT_AFTER)) {
		errno = inject_wb_error;
		return -1;
	}
	return (int)syscall(SYS_sync_file_range, fd, offset, count, flags);
}

/* A writeback error the write-behind's wait hears of is what the pack's
 * sync returns, not lost to a later fdatasync that would say 0. */
Test(pack, writeback_error_reaches_the_sync, .init = files_setup, .fini = files_teardown)
{
	enum { REC = 64 << 10, NBIG = 320 }; /* 20 MiB: past two windows */
	uint8_t *raw = malloc(REC);
	struct sfs_rec_header h = { .type = SFS_CHUNK_DATA, .comp = SFS_COMP_NONE,
				    .raw_len = REC, .stored_len = REC };
	struct sfs_pack_writer *w;
	struct sfs_chunk_loc l;

	fx_fill_random(raw, REC, 14);
	sfs_chunk_hash(raw, REC, &h.id);
	cr_assert_eq(sfs_pack_writer_open(&dbe, 7, 0, &w), 0);
	inject_wb_error = EIO;
	for (int i = 0; i < NBIG; i++)
		cr_assert_eq(sfs_pack_append(w, &h, raw, &l), 0);
	cr_assert_eq(sfs_pack_writer_sync(w), -EIO);
	inject_wb_error = 0;
	sfs_pack_writer_close(w);
	free(raw);
}

/* ---- the chunk index rebuilt from packs alone ---- */

struct idx {
	struct sfs_id id[4096];
	struct sfs_chunk_loc loc[4096];
	size_t n;
};

static int idx_cat_cb(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct idx *x = ctx;

	cr_assert_not_null(loc, "damaged catalog entry");
	cr_assert_lt(x->n, 4096);
	x->id[x->n] = *id;
	x->loc[x->n] = *loc;
	x->n++;
	return 0;
}

struct scan_idx {
	struct idx *x;
	uint64_t pack;
};

static int idx_scan_cb(void *ctx, const struct sfs_rec_header *h, uint64_t offset,
		       const void *payload)
{
	struct scan_idx *s = ctx;
	struct idx *x = s->x;

	(void)payload;
	cr_assert_lt(x->n, 4096);
	x->id[x->n] = h->id;
	x->loc[x->n] = (struct sfs_chunk_loc){ .pack = s->pack, .offset = offset,
					       .stored_len = h->stored_len,
					       .raw_len = h->raw_len, .type = h->type,
					       .comp = h->comp };
	x->n++;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, SFS_ID_LEN);
}

Test(pack, index_rebuilt_from_packs_equals_catalog, .init = fx_setup_4k, .fini = fx_teardown)
{
	static struct idx cat, scan;
	uint8_t block[4096];
	struct fx_writer w;
	struct sfs_txn *t;
	struct sfs_snapmap m;
	const uint8_t *blocks[64];
	static uint8_t data[64][4096];

	/* Three commits: the second and third append to the same pack and
	 * repeat some chunks, which must not be stored twice. */
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(fx_writer_begin(&w), 0);
		for (int i = 0; i < 200; i++) {
			struct sfs_id id;
			if (i % 4)
				fx_fill_text(block, sizeof(block), (uint64_t)(round * 100 + i));
			else
				fx_fill_random(block, sizeof(block), (uint64_t)(round * 100 + i));
			cr_assert_eq(fx_writer_put(&w, SFS_CHUNK_DATA, block, sizeof(block), &id), 0);
		}
		cr_assert_eq(fx_writer_commit(&w), 0);
	}
	for (int i = 0; i < 64; i++) {
		fx_fill_text(data[i], sizeof(data[i]), (uint64_t)i + 5000);
		blocks[i] = i % 3 ? data[i] : NULL;
	}
	cr_assert_eq(fx_snapshot_blocks(blocks, 64, 64 * 4096, &m), 0);

	cr_assert_eq(sfs_txn_begin(fx_store, false, &t), 0);
	cr_assert_eq(sfs_cat_chunk_foreach(t, idx_cat_cb, &cat), 0);
	{
		uint64_t count;
		cr_assert_eq(sfs_cat_chunk_count(t, &count), 0);
		cr_assert_eq(count, cat.n);
	}
	sfs_txn_abort(t);
	cr_assert_eq(cat.n, 400 + 42 + 1, "400 distinct data chunks, 42 blocks, 1 map page");

	{
		char path[PATH_MAX + 32];
		struct scan_idx s = { &scan, 0 };
		uint64_t number, end;
		int fd;

		snprintf(path, sizeof(path), "%s/packs/0000000000000001.pack", fx_dir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		s.pack = 1;
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, idx_scan_cb, &s, &number, &end), 0);
		cr_assert_eq(number, 1);
		cr_assert_eq(end, file_size(fd));
		close(fd);
	}
	cr_assert_eq(scan.n, cat.n, "one record per chunk: nothing stored twice");
	/* Compare as (id, loc) pairs, sorted by id. */
	{
		struct pair { struct sfs_id id; struct sfs_chunk_loc loc; };
		static struct pair a[4096], b[4096];
		struct scan_idx s = { &scan, 1 };
		char path[PATH_MAX + 32];
		uint64_t end;
		int fd;

		scan.n = 0;
		snprintf(path, sizeof(path), "%s/packs/0000000000000001.pack", fx_dir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		cr_assert_eq(sfs_pack_scan(fdb(fd), 0, idx_scan_cb, &s, NULL, &end), 0);
		close(fd);
		for (size_t i = 0; i < cat.n; i++) {
			a[i].id = cat.id[i];
			a[i].loc = cat.loc[i];
			b[i].id = scan.id[i];
			b[i].loc = scan.loc[i];
		}
		qsort(a, cat.n, sizeof(a[0]), cmp_id);
		qsort(b, scan.n, sizeof(b[0]), cmp_id);
		for (size_t i = 0; i < cat.n; i++) {
			cr_assert_arr_eq(a[i].id.b, b[i].id.b, SFS_ID_LEN, "id %zu", i);
			cr_assert_eq(a[i].loc.pack, b[i].loc.pack);
			cr_assert_eq(a[i].loc.offset, b[i].loc.offset, "offset of %zu", i);
			cr_assert_eq(a[i].loc.stored_len, b[i].loc.stored_len);
			cr_assert_eq(a[i].loc.raw_len, b[i].loc.raw_len);
			cr_assert_eq(a[i].loc.type, b[i].loc.type);
			cr_assert_eq(a[i].loc.comp, b[i].loc.comp);
		}
	}
}

/* ---- golden fixtures (tests/fixtures/README.md) ---- */

static const char *const golden_ids[3] = {
	"9fb1d64f9a92716af2cd03e6c3ec0cdfd4b02d764b09f4cd3afc1fd59224f584", /* block A, zstd */
	"5d936aa5f94c673e40eaf4604a693374a7c8d1e89da041a016a6c4b46edf295d", /* block B, raw */
	"6eaef805ba219c5312cc7de8853afcaf14519dfec40081032bd66e09206f4b4c", /* leaf page */
};
static const struct sfs_chunk_loc golden_locs[3] = {
	{ .pack = 1, .offset = 32, .stored_len = 40, .raw_len = 4096, .type = 1, .comp = 1 },
	{ .pack = 1, .offset = 120, .stored_len = 4096, .raw_len = 4096, .type = 1, .comp = 0 },
	{ .pack = 1, .offset = 4264, .stored_len = 96, .raw_len = 144, .type = 2, .comp = 1 },
};
#define GOLDEN_END 4408u

static int open_fixture(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	return fd;
}

struct golden_scan {
	int n;
};

static int golden_cb(void *ctx, const struct sfs_rec_header *h, uint64_t offset,
		     const void *payload)
{
	struct golden_scan *g = ctx;
	char hex[SFS_ID_HEX_LEN + 1];

	(void)payload;
	cr_assert_lt(g->n, 3);
	sfs_id_to_hex(&h->id, hex);
	cr_assert_str_eq(hex, golden_ids[g->n]);
	cr_assert_eq(offset, golden_locs[g->n].offset);
	cr_assert_eq(h->stored_len, golden_locs[g->n].stored_len);
	cr_assert_eq(h->raw_len, golden_locs[g->n].raw_len);
	cr_assert_eq(h->type, golden_locs[g->n].type);
	cr_assert_eq(h->comp, golden_locs[g->n].comp);
	g->n++;
	return 0;
}

/* Reads record i of the pack on fd as the reader would: location check,
 * then decode and hash. Returns the first error. */
static int golden_read(int fd, int i)
{
	uint8_t stored[8192], raw[8192];
	struct sfs_id id;
	struct sfs_codec *c = sfs_codec_new(1);
	int r;

	cr_assert_eq(sfs_id_from_hex(golden_ids[i], &id), 0);
	r = sfs_pack_read(fdb(fd), &golden_locs[i], &id, stored);
	if (r == 0)
		r = fx_decode(c, golden_locs[i].comp, stored, golden_locs[i].stored_len, raw,
				     golden_locs[i].raw_len, &id);
	sfs_codec_free(c);
	return r;
}

Test(golden, pack_reads_back)
{
	int fd = open_fixture("golden.pack");
	struct golden_scan g = { 0 };
	uint64_t number = 0, end = 0;

	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, golden_cb, &g, &number, &end), 0);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(number, 1);
	cr_assert_eq(end, GOLDEN_END);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(golden_read(fd, i), 0, "record %d", i);
	close(fd);
}

Test(golden, flipped_payload_is_ebadmsg)
{
	int fd = open_fixture("golden-flipped-payload.pack");
	struct golden_scan g = { 0 };
	uint64_t end = 0;

	/* Scanning does not hash: all three records are still found. */
	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, golden_cb, &g, NULL, &end), 0);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(end, GOLDEN_END);
	cr_assert_eq(golden_read(fd, 0), -EBADMSG);
	cr_assert_eq(golden_read(fd, 1), 0);
	cr_assert_eq(golden_read(fd, 2), 0);
	close(fd);
}

Test(golden, flipped_length_is_ebadmsg)
{
	int fd = open_fixture("golden-flipped-length.pack");
	struct golden_scan g = { 0 };
	uint64_t end = 0;

	/* The scan stops at the record whose header no longer decodes. */
	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, golden_cb, &g, NULL, &end), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(end, golden_locs[1].offset);
	cr_assert_eq(golden_read(fd, 0), 0);
	cr_assert_eq(golden_read(fd, 1), -EBADMSG);
	cr_assert_eq(golden_read(fd, 2), 0, "records after it are still readable by location");
	close(fd);
}

Test(golden, truncated_is_a_torn_tail)
{
	int fd = open_fixture("golden-truncated.pack");
	struct golden_scan g = { 0 };
	uint64_t end = 0;

	cr_assert_eq(sfs_pack_scan(fdb(fd), 0, golden_cb, &g, NULL, &end), 0);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(end, golden_locs[2].offset);
	cr_assert_eq(golden_read(fd, 1), 0);
	cr_assert_eq(golden_read(fd, 2), -EBADMSG);
	close(fd);
}
