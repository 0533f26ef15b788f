// SPDX-License-Identifier: MIT
/*
 * The files inside a snapshot: a real ext4 image made by mkfs.ext4 -d
 * from a small tree (a file, a sparse file, a symlink, a hard link, an
 * xattr) is stored as a snapshot and read back through sfs_fsview, at
 * offset 0 and at an offset inside a bigger volume; a volume with no
 * filesystem and one with a zeroed superblock must fail to open cleanly;
 * partition tables; lookups in large directories through their name
 * index.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "snapfs/fsview.h"
#include "snapfs/partition.h"
#include "snapfs/reader.h"
#include "fixture.h"

#define BS 4096u
#define IMG_BYTES (8u << 20)

TestSuite(fsview, .init = fx_setup_4k, .fini = fx_teardown);

static int sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Makes an ext4 image of IMG_BYTES from a small tree and returns its bytes. */
static uint8_t *make_image(void)
{
	char *dir = fx_tmpdir(), cmd[2048];
	uint8_t *img = NULL;
	int fd;

	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; mkdir -p root/sub; printf 'hello world\\n' > root/sub/a.txt;"
		 "ln root/sub/a.txt root/hard; ln -s sub/a.txt root/link;"
		 "truncate -s 3M root/sparse; printf tail | dd of=root/sparse bs=1 seek=2M conv=notrunc 2>/dev/null;"
		 "head -c 100000 /dev/urandom > root/big;"
		 "chmod 0640 root/sub/a.txt; chown 1234:5678 root/sub/a.txt;"
		 "setfattr -n user.color -v blue root/big;"
		 "mkfs.ext4 -q -F -b 4096 -d root img %uK >/dev/null",
		 dir, IMG_BYTES >> 10);
	if (sh(cmd) != 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "%s/img", dir);
	fd = open(cmd, O_RDONLY);
	img = malloc(IMG_BYTES);
	if (fd < 0 || !img || pread(fd, img, IMG_BYTES, 0) != IMG_BYTES) {
		free(img);
		img = NULL;
	}
	if (fd >= 0)
		close(fd);
	snprintf(cmd, sizeof(cmd), "%s/root/big", dir);
out:
	fx_rm_rf(dir);
	free(dir);
	return img;
}

/* Stores bytes as a snapshot (lead zero blocks first) and returns its map. */
static void store_image(const uint8_t *img, size_t len, uint64_t lead, struct sfs_snapmap *ret)
{
	uint64_t n = lead / BS + len / BS;
	const uint8_t **blocks = calloc(n, sizeof(*blocks));

	cr_assert_not_null(blocks);
	for (uint64_t i = 0; i < len / BS; i++) {
		const uint8_t *b = img + i * BS;
		bool zero = true;

		for (size_t k = 0; k < BS && zero; k++)
			zero = !b[k];
		blocks[lead / BS + i] = zero ? NULL : b;
	}
	cr_assert_eq(fx_snapshot_blocks(blocks, n, n * BS, ret), 0);
	free(blocks);
}

static struct sfs_reader *reader(void)
{
	struct sfs_reader *r;

	cr_assert_eq(sfs_reader_new(fx_store, 0, &r), 0);
	return r;
}

static uint32_t walk(struct sfs_fsview *fv, const char *a, const char *b)
{
	uint32_t ino = SFS_FS_ROOT_INO;

	cr_assert_eq(sfs_fsview_lookup(fv, ino, a, &ino), 0, "lookup %s", a);
	if (b)
		cr_assert_eq(sfs_fsview_lookup(fv, ino, b, &ino), 0, "lookup %s", b);
	return ino;
}

static void check_tree(struct sfs_fsview *fv)
{
	struct sfs_fsfile *f;
	struct stat st, st2;
	uint32_t a, hard, sparse;
	char buf[256];
	uint64_t pos;

	a = walk(fv, "sub", "a.txt");
	hard = walk(fv, "hard", NULL);
	cr_assert_eq(a, hard, "hard links share the inode");
	cr_assert_eq(sfs_fsview_stat(fv, a, &st), 0);
	cr_assert_eq(st.st_mode, S_IFREG | 0640);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 5678);
	cr_assert_eq(st.st_nlink, 2);
	cr_assert_eq(st.st_size, 12);
	cr_assert_eq(sfs_fsfile_open(fv, a, &f), 0);
	cr_assert_eq(sfs_fsfile_pread(f, NULL, buf, sizeof(buf), 0), 12);
	cr_assert(!memcmp(buf, "hello world\n", 12));
	cr_assert_eq(sfs_fsfile_pread(f, NULL, buf, sizeof(buf), 6), 6);
	cr_assert(!memcmp(buf, "world\n", 6));
	sfs_fsfile_free(f);

	cr_assert_eq(sfs_fsview_readlink(fv, walk(fv, "link", NULL), buf, sizeof(buf)), 9);
	cr_assert_str_eq(buf, "sub/a.txt");
	cr_assert_eq(sfs_fsview_readlink(fv, walk(fv, "link", NULL), buf, 5), -ERANGE);
	cr_assert_eq(sfs_fsview_readlink(fv, a, buf, sizeof(buf)), -EINVAL);

	sparse = walk(fv, "sparse", NULL);
	cr_assert_eq(sfs_fsview_stat(fv, sparse, &st2), 0);
	cr_assert_eq(st2.st_size, 3 << 20);
	cr_assert_lt(st2.st_blocks, 64, "the hole is not allocated");
	cr_assert_eq(sfs_fsfile_open(fv, sparse, &f), 0);
	cr_assert_eq(sfs_fsfile_seek(f, 0, SEEK_HOLE, &pos), 0);
	cr_assert_eq(pos, 0);
	cr_assert_eq(sfs_fsfile_seek(f, 0, SEEK_DATA, &pos), 0);
	cr_assert_eq(pos, 2 << 20);
	cr_assert_eq(sfs_fsfile_seek(f, (2 << 20) + 1, SEEK_HOLE, &pos), 0);
	cr_assert_eq(pos, (2 << 20) + BS);
	cr_assert_eq(sfs_fsfile_seek(f, (2 << 20) + BS, SEEK_DATA, &pos), -ENXIO);
	cr_assert_eq(sfs_fsfile_pread(f, NULL, buf, 8, (2 << 20) - 4), 8);
	cr_assert(!memcmp(buf, "\0\0\0\0tail", 8));
	sfs_fsfile_free(f);

	cr_assert_eq(sfs_fsview_listxattr(fv, walk(fv, "big", NULL), NULL, 0), 11);
	cr_assert_eq(sfs_fsview_listxattr(fv, walk(fv, "big", NULL), buf, sizeof(buf)), 11);
	cr_assert_str_eq(buf, "user.color");
	cr_assert_eq(sfs_fsview_getxattr(fv, walk(fv, "big", NULL), "user.color", buf, sizeof(buf)), 4);
	cr_assert(!memcmp(buf, "blue", 4));
	cr_assert_eq(sfs_fsview_getxattr(fv, walk(fv, "big", NULL), "user.color", buf, 2), -ERANGE);
	cr_assert_eq(sfs_fsview_getxattr(fv, a, "user.none", buf, sizeof(buf)), -ENODATA);

	cr_assert_eq(sfs_fsview_lookup(fv, SFS_FS_ROOT_INO, "missing", &a), -ENOENT);
	cr_assert_eq(sfs_fsview_lookup(fv, hard, "x", &a), -ENOTDIR);
}

struct names {
	char seen[512];
};

static int collect(void *ctx, const char *name, size_t len, uint32_t ino, unsigned dtype)
{
	struct names *n = ctx;

	strncat(n->seen, name, len);
	strcat(n->seen, dtype == DT_DIR ? "/ " : dtype == DT_LNK ? "@ " : " ");
	return 0;
}

Test(fsview, reads_an_ext4_image)
{
	uint8_t *img = make_image();
	struct sfs_snapmap m;
	struct sfs_fsview *fv;
	struct sfs_reader *r;
	struct names n = { "" };

	cr_assert_not_null(img, "mkfs.ext4 -d and setfattr are needed");
	store_image(img, IMG_BYTES, 0, &m);
	r = reader();
	cr_assert_eq(sfs_fsview_open(r, &m, 0, m.size, "test", &fv), 0);
	check_tree(fv);
	cr_assert_eq(sfs_fsview_readdir(fv, SFS_FS_ROOT_INO, collect, &n), 0);
	cr_assert(strstr(n.seen, "sub/ "), "%s", n.seen);
	cr_assert(strstr(n.seen, "link@ "), "%s", n.seen);
	cr_assert(strstr(n.seen, "lost+found/ "), "%s", n.seen);
	cr_assert_null(strstr(n.seen, ". "), "no dot entries: %s", n.seen);
	sfs_fsview_close(fv);
	sfs_reader_free(r);
	free(img);
}

Test(fsview, reads_at_an_offset_and_stays_inside)
{
	uint8_t *img = make_image();
	struct sfs_snapmap m;
	struct sfs_fsview *fv;
	struct sfs_reader *r;

	cr_assert_not_null(img);
	store_image(img, IMG_BYTES, 1 << 20, &m);
	r = reader();
	cr_assert_eq(sfs_fsview_open(r, &m, 0, m.size, "at 0", &fv), -EMEDIUMTYPE);
	cr_assert_eq(sfs_fsview_open(r, &m, 1 << 20, IMG_BYTES, "at 1M", &fv), 0);
	check_tree(fv);
	sfs_fsview_close(fv);
	/* A container smaller than the filesystem claims is refused. */
	cr_assert_eq(sfs_fsview_open(r, &m, 1 << 20, IMG_BYTES / 2, "short", &fv), -EUCLEAN);
	cr_assert_eq(sfs_fsview_open(r, &m, 1 << 20, m.size, "past end", &fv), -EINVAL);
	sfs_reader_free(r);
	free(img);
}

Test(fsview, no_filesystem_or_zeroed_superblock)
{
	uint8_t *img = make_image();
	struct sfs_snapmap m;
	struct sfs_fsview *fv = NULL;
	struct sfs_reader *r;

	cr_assert_not_null(img);
	memset(img + 1024, 0, 1024);
	store_image(img, IMG_BYTES, 0, &m);
	r = reader();
	cr_assert_eq(sfs_fsview_open(r, &m, 0, m.size, "zeroed", &fv), -EMEDIUMTYPE);
	cr_assert_null(fv);
	memset(img, 0x5a, IMG_BYTES);
	store_image(img, IMG_BYTES, 0, &m);
	cr_assert_eq(sfs_fsview_open(r, &m, 0, m.size, "noise", &fv), -EMEDIUMTYPE);
	sfs_reader_free(r);
	free(img);
}

/* A disk image of `mib` MiB partitioned by sfdisk with `script`, with
 * the ext4 image written at byte offset `at`; returns its bytes. */
static uint8_t *make_disk(const char *script, unsigned mib, const uint8_t *img, uint64_t at)
{
	char *dir = fx_tmpdir(), cmd[1024], path[512];
	uint8_t *disk = NULL;
	size_t len = (size_t)mib << 20;
	int fd;

	snprintf(path, sizeof(path), "%s/disk", dir);
	snprintf(cmd, sizeof(cmd), "truncate -s %uM %s && printf '%s' | sfdisk -q %s >/dev/null",
		 mib, path, script, path);
	if (sh(cmd) != 0)
		goto out;
	fd = open(path, O_RDWR);
	disk = malloc(len);
	if (fd < 0 || !disk || pwrite(fd, img, IMG_BYTES, (off_t)at) != IMG_BYTES ||
	    pread(fd, disk, len, 0) != (ssize_t)len) {
		free(disk);
		disk = NULL;
	}
	if (fd >= 0)
		close(fd);
out:
	fx_rm_rf(dir);
	free(dir);
	return disk;
}

Test(fsview, gpt_partitions)
{
	uint8_t *img = make_image(), *disk;
	struct sfs_part *parts;
	struct sfs_snapmap m;
	struct sfs_fsview *fv;
	struct sfs_reader *r;
	size_t n;

	cr_assert_not_null(img);
	/* p1: the ext4 image at 1 MiB; p2: nothing; p3: swap type. */
	disk = make_disk("label: gpt\\n start=2048, size=16384\\n size=8192\\n "
			 "size=8192, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\\n",
			 20, img, 1 << 20);
	cr_assert_not_null(disk, "sfdisk is needed");
	store_image(disk, 20 << 20, 0, &m);
	r = reader();
	cr_assert_eq(sfs_parts_probe(r, &m, "gpt", &parts, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(parts[0].partno, 1);
	cr_assert_eq(parts[0].offset, 1 << 20);
	cr_assert_eq(parts[0].size, IMG_BYTES);
	cr_assert(parts[0].ext);
	cr_assert_eq(parts[1].partno, 2);
	cr_assert(!parts[1].ext);
	cr_assert_str_eq(parts[2].type, "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");
	cr_assert_eq(sfs_fsview_open(r, &m, parts[0].offset, parts[0].size, "p1", &fv), 0);
	check_tree(fv);
	sfs_fsview_close(fv);
	free(parts);
	/* The ext4 image alone has no table. */
	store_image(img, IMG_BYTES, 0, &m);
	cr_assert_eq(sfs_parts_probe(r, &m, "bare", &parts, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(parts);
	sfs_reader_free(r);
	free(disk);
	free(img);
}

Test(fsview, mbr_logical_partitions_are_followed)
{
	uint8_t *img = make_image(), *disk;
	struct sfs_part *parts;
	struct sfs_snapmap m;
	struct sfs_reader *r;
	size_t n;

	cr_assert_not_null(img);
	/* p1-p3 primary, p4 extended holding p5, p6 and p7, each behind its
	 * own boot record; the ext4 image lies past them, only to fill. */
	disk = make_disk("label: dos\\n start=2048, size=2048\\n size=2048\\n size=2048\\n "
			 "type=5\\n size=4096\\n size=4096\\n size=16384\\n",
			 40, img, 30 << 20);
	cr_assert_not_null(disk, "sfdisk is needed");
	store_image(disk, 40 << 20, 0, &m);
	r = reader();
	cr_assert_eq(sfs_parts_probe(r, &m, "mbr", &parts, &n), 0);
	cr_assert_eq(n, 6, "p1-p3, p5-p7: %zu", n);
	cr_assert_eq(parts[0].partno, 1);
	cr_assert_eq(parts[3].partno, 5);
	cr_assert_eq(parts[5].partno, 7);
	cr_assert_eq(parts[5].offset, 22528 * 512);
	cr_assert_eq(parts[5].size, 16384 * 512);
	free(parts);
	sfs_reader_free(r);
	free(disk);
	free(img);
}

/* A directory past the size where lookups use a name index (several
 * dozen KiB, htree): every name resolves to the inode the listing
 * gives, names that are not there do not, and many such directories in
 * turn (more than the indexes kept) still answer right. */
/* Collects a directory's entries for big_directory_lookups. */
struct bignames {
	char (*name)[64];
	uint32_t *ino;
	size_t n, cap;
};

static int collect_big(void *ctx, const char *name, size_t len, uint32_t ino, unsigned dtype)
{
	struct bignames *ns = ctx;

	if (ns->n == ns->cap || len >= sizeof(ns->name[0]))
		return 1;
	memcpy(ns->name[ns->n], name, len);
	ns->name[ns->n][len] = '\0';
	ns->ino[ns->n++] = ino;
	return 0;
}

Test(fsview, big_directory_lookups)
{
	char *dir = fx_tmpdir(), cmd[1024];
	struct bignames ns = { .cap = 4000 };
	struct sfs_snapmap m;
	struct sfs_fsview *fv;
	struct sfs_reader *r;
	uint8_t *img = malloc(IMG_BYTES);
	uint64_t hits, misses, before;
	uint32_t d, ino;
	size_t cached;
	int fd;

	cr_assert_not_null(img);
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; for k in 0 1 2 3 4; do mkdir -p root/d$k; done;"
		 "(cd root/d0 && seq -f a-rather-long-name-for-entry-%%.0f 3000 | xargs touch);"
		 "for k in 1 2 3 4; do (cd root/d$k && seq -f some-long-file-name-$k-%%.0f 2000 | xargs touch); done;"
		 "mkfs.ext4 -q -F -b 4096 -I 128 -N 16000 -d root img %uK >/dev/null",
		 dir, IMG_BYTES >> 10);
	cr_assert_eq(sh(cmd), 0, "mkfs.ext4 -d is needed");
	snprintf(cmd, sizeof(cmd), "%s/img", dir);
	fd = open(cmd, O_RDONLY);
	cr_assert(fd >= 0 && pread(fd, img, IMG_BYTES, 0) == IMG_BYTES);
	close(fd);
	fx_rm_rf(dir);
	free(dir);
	store_image(img, IMG_BYTES, 0, &m);
	r = reader();
	cr_assert_eq(sfs_fsview_open(r, &m, 0, IMG_BYTES, "big", &fv), 0);
	ns.name = calloc(ns.cap, sizeof(ns.name[0]));
	ns.ino = calloc(ns.cap, sizeof(ns.ino[0]));
	cr_assert(ns.name && ns.ino);
	for (int round = 0; round < 2; round++) {
		for (unsigned k = 0; k <= 4; k++) {
			char dn[8];
			struct stat st;

			snprintf(dn, sizeof(dn), "d%u", k);
			d = walk(fv, dn, NULL);
			cr_assert_eq(sfs_fsview_stat(fv, d, &st), 0);
			cr_assert_geq(st.st_size, 64 << 10, "d%u is not big enough to be indexed", k);
			ns.n = 0;
			cr_assert_eq(sfs_fsview_readdir(fv, d, collect_big, &ns), 0);
			cr_assert_eq(ns.n, k ? 2000u : 3000u);
			/* One walk for all of them, not one per name: fewer block
			 * reads than names (a walk reads 20-30 blocks). */
			sfs_reader_stats(r, &cached, &hits, &misses);
			before = hits + misses;
			for (size_t i = 0; i < ns.n; i++) {
				cr_assert_eq(sfs_fsview_lookup(fv, d, ns.name[i], &ino), 0, "%s", ns.name[i]);
				cr_assert_eq(ino, ns.ino[i], "%s", ns.name[i]);
			}
			sfs_reader_stats(r, &cached, &hits, &misses);
			cr_assert_lt(hits + misses - before, ns.n / 10, "%llu block reads for %zu lookups",
				     (unsigned long long)(hits + misses - before), ns.n);
			cr_assert_eq(sfs_fsview_lookup(fv, d, "a-rather-long-name-for-entry-", &ino), -ENOENT);
			cr_assert_eq(sfs_fsview_lookup(fv, d, "nothing", &ino), -ENOENT);
		}
	}
	free(ns.name);
	free(ns.ino);
	sfs_fsview_close(fv);
	sfs_reader_free(r);
	free(img);
}
