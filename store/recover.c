// SPDX-License-Identifier: MIT
/*
 * Recovery after an interrupted writer, run by every writable open: bytes
 * past the committed end of the active pack, packs numbered above it and
 * pending snapshots are what an interrupted writer leaves. Repair never
 * destroys: a pack file or a byte range goes only when the catalog proves
 * that nothing committed lives there, that is when pack.active and
 * pack.active_len are readable and no chunk index entry names the pack
 * (or reaches past the length). Anything less certain is kept, logged,
 * and left for check to report; the store is then marked so that its
 * writers start fresh packs instead of appending to or truncating one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "snapfs/catalog.h"
#include "snapfs/log.h"
#include "snapfs/pack.h"
#include "store_int.h"
#include "util_int.h"

/* What the chunk index says about the packs, from one scan. */
struct refs {
	uint64_t active;     /* pack.active */
	uint64_t max_pack;   /* highest pack an entry names */
	uint64_t active_end; /* end of the furthest record in the active pack */
	uint64_t damaged;    /* entries whose location cannot be decoded */
};

static int refs_fn(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct refs *f = ctx;
	uint64_t end;

	(void)id;
	if (!loc) {
		f->damaged++;
		return 0;
	}
	if (loc->pack > f->max_pack)
		f->max_pack = loc->pack;
	end = loc->offset + SFS_REC_HEADER_LEN + loc->stored_len;
	if (loc->pack == f->active && end > f->active_end)
		f->active_end = end;
	return 0;
}

int sfs_pack_file_number(int packs_dirfd, const char *name, uint64_t *ret)
{
	unsigned long long n;
	char tail[8];
	struct stat st;

	if (strlen(name) != 21 || sscanf(name, "%16llx.%7s", &n, tail) != 2 ||
	    strcmp(tail, "pack"))
		return 0;
	if (fstatat(packs_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	*ret = n;
	return 1;
}

/* Pack files numbered above active, into above[] (at most cap; the count
 * may exceed cap, then the caller keeps the rest for the next open). */
static size_t packs_above(struct sfs_store *s, uint64_t active, uint64_t *above, size_t cap)
{
	DIR *d = fdopendir(dup(s->packs_dirfd));
	size_t n = 0;

	if (!d)
		return 0;
	rewinddir(d); /* the dup shares packs_dirfd's offset */
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t num;

		if (sfs_pack_file_number(s->packs_dirfd, e->d_name, &num) && num > active) {
			if (n < cap)
				above[n] = num;
			n++;
		}
	}
	closedir(d);
	return n;
}

static void truncate_active(struct sfs_store *s, uint64_t active, uint64_t active_len)
{
	char name[64];
	int fd;

	sfs_pack_name(active, name, sizeof(name));
	fd = openat(s->packs_dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (ftruncate(fd, (off_t)active_len) == 0 && fsync(fd) == 0)
		sfs_log(SFS_LOG_WARN,
			"discarded the bytes an interrupted writer left past %" PRIu64
			" in pack %s",
			active_len, name);
	close(fd);
	sfs_store_forget_pack(s, active);
}

#define ABOVE_MAX 4096

/* The pack part of recovery; pack.active and its length are known. */
static int recover_packs(struct sfs_store *s, struct sfs_txn *t, uint64_t active,
			 uint64_t active_len)
{
	uint64_t above[ABOVE_MAX];
	struct refs f = { .active = active };
	size_t n_above = packs_above(s, active, above, ABOVE_MAX);
	bool trunc = false;
	char name[64];
	struct stat st;
	int r;

	if (active) {
		sfs_pack_name(active, name, sizeof(name));
		trunc = fstatat(s->packs_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			S_ISREG(st.st_mode) && (uint64_t)st.st_size > active_len;
	}
	if (!trunc && n_above == 0)
		return 0; /* the usual case: nothing left over, no scan */

	r = sfs_cat_chunk_foreach(t, refs_fn, &f);
	if (r < 0)
		return r;
	if (f.damaged) {
		s->packs_suspect = true;
		sfs_log(SFS_LOG_WARN,
			"%" PRIu64 " chunk index entries are damaged, so recovery cannot tell "
			"which packs are committed and removes nothing ('snapfs check' reports "
			"them)",
			f.damaged);
		return 0;
	}
	if (trunc) {
		if (f.active_end <= active_len) {
			truncate_active(s, active, active_len);
		} else {
			s->packs_suspect = true;
			sfs_log(SFS_LOG_WARN,
				"the chunk index names records of pack %s past pack.active_len "
				"(%" PRIu64 "), so recovery keeps its bytes ('snapfs check' "
				"reports it)",
				name, active_len);
		}
	}
	for (size_t i = 0; i < n_above && i < ABOVE_MAX; i++) {
		sfs_pack_name(above[i], name, sizeof(name));
		if (above[i] <= f.max_pack) {
			s->packs_suspect = true;
			sfs_log(SFS_LOG_WARN,
				"pack %s is above pack.active (%" PRIu64 ") but the chunk index "
				"may name it, so recovery keeps it ('snapfs check' reports it)",
				name, active);
			continue;
		}
		sfs_store_forget_pack(s, above[i]);
		if (unlinkat(s->packs_dirfd, name, 0) == 0)
			sfs_log(SFS_LOG_WARN,
				"removed pack %s that an interrupted writer never committed", name);
	}
	sfs_fsync_dir(s->packs_dirfd);
	return 0;
}

int sfs_store_recover(struct sfs_store *s)
{
	uint64_t active = 0, active_len = 0, chunks = 0;
	struct sfs_txn *t;
	int ra, rl, r;

	r = sfs_txn_begin(s, true, &t);
	if (r < 0)
		return r;
	ra = sfs_cat_meta_get(t, "pack.active", &active);
	rl = sfs_cat_meta_get(t, "pack.active_len", &active_len);
	if (ra == -ENOENT && rl == -ENOENT) {
		/* Never written, or the keys are lost: only an empty index
		 * proves the former. */
		r = sfs_cat_chunk_count(t, &chunks);
		if (r < 0)
			goto out_abort;
		if (chunks == 0)
			ra = rl = 0;
	}
	if (ra == 0 && rl == 0) {
		r = recover_packs(s, t, active, active_len);
		if (r < 0)
			goto out_abort;
	} else {
		s->packs_suspect = true;
		sfs_log(SFS_LOG_WARN,
			"the catalog's pack.active or pack.active_len is %s, so recovery "
			"removes and truncates no pack ('snapfs check' reports it)",
			ra == -ENOENT || rl == -ENOENT ? "missing" : "unreadable");
	}
	r = sfs_cat_discard_pending(t);
	if (r < 0)
		goto out_abort;
	return sfs_txn_commit(t);
out_abort:
	sfs_txn_abort(t);
	return r;
}
