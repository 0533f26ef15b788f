// SPDX-License-Identifier: MIT
/*
 * The bounded id set of gc and check: a buffer of ids, sorted and
 * deduplicated into runs on an unlinked temporary file when it fills,
 * then read back as a merge of the runs, each through a small window, in
 * the memcmp order that LMDB keeps the chunk index in. Memory is the
 * buffer plus one window per run, whatever the number of ids; the disk
 * holds 32 bytes per id added (less what each run deduplicated). The same
 * set takes fixed-size records of another size (sfs_recset_*), ordered by
 * memcmp over the whole record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "liveset_int.h"
#include "snapfs/parse.h"
#include "util_int.h"

/* Bytes read from a run at once while merging. */
#define WINDOW_BYTES (64u << 10)
/* The smallest buffer, in members. */
#define MIN_IDS 64u

struct run {
	uint64_t off, n;   /* where on the file, in members */
	uint64_t next;     /* members of the run read into windows so far */
	uint8_t *win;
	size_t win_n, win_i;
};

struct sfs_liveset {
	size_t esz;         /* a member's size: SFS_ID_LEN for ids */
	size_t window;      /* members per window */
	uint8_t *buf;       /* adding: the members since the last run; sealed, no runs: all */
	size_t cap, n;
	size_t pos;         /* sealed, no runs: the merge position in buf */
	int fd;             /* -1 until the first run */
	uint64_t file_ids;
	struct run *runs;
	size_t n_runs;
	bool sealed;
};

static int tmp_fd(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/var/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* A file system without O_TMPFILE: a named file, unlinked at once. */
	if ((size_t)snprintf(path, sizeof(path), "%s/snapfs-tmp-XXXXXX", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

FILE *sfs_spool_new(void)
{
	int fd = tmp_fd();
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "w+");
	if (!f)
		close(fd);
	return f;
}

/* SNAPFS_MARK_MEM overrides the default buffer (bytes): the tests make it
 * tiny so that a small store goes through many runs. */
static size_t default_mem(void)
{
	const char *e = getenv("SNAPFS_MARK_MEM");
	uint64_t v;

	if (e && sfs_parse_u64(e, NULL, &v) == 0 && v > 0 && v <= SIZE_MAX)
		return (size_t)v;
	return SFS_LIVESET_MEM;
}

int sfs_liveset_new(size_t mem, struct sfs_liveset **ret)
{
	return sfs_recset_new(mem, SFS_ID_LEN, ret);
}

int sfs_recset_new(size_t mem, size_t esz, struct sfs_liveset **ret)
{
	struct sfs_liveset *ls;

	if (esz == 0 || esz > WINDOW_BYTES)
		return -EINVAL;
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->fd = -1;
	ls->esz = esz;
	ls->window = WINDOW_BYTES / esz;
	ls->cap = (mem ? mem : default_mem()) / esz;
	if (ls->cap < MIN_IDS)
		ls->cap = MIN_IDS;
	ls->buf = malloc(ls->cap * esz);
	if (!ls->buf) {
		free(ls);
		return -ENOMEM;
	}
	*ret = ls;
	return 0;
}

void sfs_liveset_free(struct sfs_liveset *ls)
{
	if (!ls)
		return;
	for (size_t i = 0; i < ls->n_runs; i++)
		free(ls->runs[i].win);
	free(ls->runs);
	free(ls->buf);
	if (ls->fd >= 0)
		close(ls->fd);
	free(ls);
}

static int cmp_member(const void *a, const void *b, void *esz)
{
	return memcmp(a, b, *(const size_t *)esz);
}

/* Sorts the buffer and drops repeats; returns the count left. */
static size_t sort_unique(struct sfs_liveset *ls)
{
	uint8_t *v = ls->buf;
	size_t k = 0, esz = ls->esz;

	if (ls->n == 0)
		return 0;
	qsort_r(v, ls->n, esz, cmp_member, &esz);
	for (size_t i = 1; i < ls->n; i++)
		if (memcmp(v + i * esz, v + k * esz, esz)) {
			k++;
			if (k != i)
				memcpy(v + k * esz, v + i * esz, esz);
		}
	return k + 1;
}

static int write_all(int fd, const void *p, size_t len, uint64_t off)
{
	const uint8_t *b = p;

	while (len > 0) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int spill(struct sfs_liveset *ls)
{
	size_t n = sort_unique(ls);
	struct run *p;
	int r;

	if (ls->fd < 0) {
		ls->fd = tmp_fd();
		if (ls->fd < 0)
			return ls->fd;
	}
	p = realloc(ls->runs, (ls->n_runs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ls->runs = p;
	r = write_all(ls->fd, ls->buf, n * ls->esz, ls->file_ids * ls->esz);
	if (r < 0)
		return r;
	memset(&ls->runs[ls->n_runs], 0, sizeof(ls->runs[0]));
	ls->runs[ls->n_runs].off = ls->file_ids;
	ls->runs[ls->n_runs].n = n;
	ls->n_runs++;
	ls->file_ids += n;
	ls->n = 0;
	return 0;
}

int sfs_recset_add(struct sfs_liveset *ls, const void *rec)
{
	if (ls->sealed)
		return -EINVAL;
	if (ls->n == ls->cap) {
		/* Many ids repeat (snapshots of one volume share most blocks):
		 * dedupe in place first, and write a run only when that does
		 * not free a quarter of the buffer. */
		ls->n = sort_unique(ls);
		if (ls->n * 4 > ls->cap * 3) {
			int r = spill(ls);
			if (r < 0)
				return r;
		}
	}
	memcpy(ls->buf + ls->n++ * ls->esz, rec, ls->esz);
	return 0;
}

int sfs_liveset_add(struct sfs_liveset *ls, const struct sfs_id *id)
{
	if (sfs_id_is_zero(id))
		return ls->sealed ? -EINVAL : 0;
	return sfs_recset_add(ls, id);
}

/* Reads run's next window; 0 with win_n == 0 at its end. */
static int fill(struct sfs_liveset *ls, struct run *run)
{
	uint64_t left = run->n - run->next;
	size_t want = left < ls->window ? (size_t)left : ls->window;
	size_t got = 0;

	while (got < want * ls->esz) {
		ssize_t n = pread(ls->fd, run->win + got, want * ls->esz - got,
				  (off_t)((run->off + run->next) * ls->esz + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	run->next += want;
	run->win_n = want;
	run->win_i = 0;
	return 0;
}

/* Moves run past its current id; 0 or -errno. */
static int advance(struct sfs_liveset *ls, struct run *run)
{
	if (++run->win_i == run->win_n) {
		int r = run->next < run->n ? fill(ls, run) : 0;
		if (r < 0)
			return r;
		if (run->win_i == run->win_n)
			run->win_n = 0; /* the run is done */
	}
	return 0;
}

int sfs_liveset_rewind(struct sfs_liveset *ls)
{
	if (!ls->sealed)
		return -EINVAL;
	ls->pos = 0;
	for (size_t i = 0; i < ls->n_runs; i++) {
		struct run *run = &ls->runs[i];
		int r;

		run->next = 0;
		r = fill(ls, run);
		if (r < 0)
			return r;
	}
	return 0;
}

int sfs_liveset_seal(struct sfs_liveset *ls)
{
	int r;

	if (ls->sealed)
		return -EINVAL;
	ls->n = sort_unique(ls);
	if (ls->n_runs) {
		if (ls->n) {
			r = spill(ls);
			if (r < 0)
				return r;
		}
		/* The buffer's memory goes to the runs' windows. */
		free(ls->buf);
		ls->buf = NULL;
		ls->cap = 0;
		for (size_t i = 0; i < ls->n_runs; i++) {
			ls->runs[i].win = malloc(ls->window * ls->esz);
			if (!ls->runs[i].win)
				return -ENOMEM;
		}
	}
	ls->sealed = true;
	return sfs_liveset_rewind(ls);
}

int sfs_liveset_has(struct sfs_liveset *ls, const struct sfs_id *id)
{
	bool found = false;
	size_t esz = ls->esz;

	if (!ls->sealed || esz != SFS_ID_LEN)
		return -EINVAL;
	if (!ls->n_runs) {
		int c = 1;

		while (ls->pos < ls->n && (c = memcmp(ls->buf + ls->pos * esz, id->b, esz)) < 0)
			ls->pos++;
		return ls->pos < ls->n && c == 0;
	}
	/* Each run is sorted and without repeats: move each past what is
	 * smaller than id, and see whether one stops on it. */
	for (size_t i = 0; i < ls->n_runs; i++) {
		struct run *run = &ls->runs[i];

		while (run->win_n) {
			int c = memcmp(run->win + run->win_i * esz, id->b, esz);

			if (c >= 0) {
				found |= c == 0;
				break;
			}
			int r = advance(ls, run);
			if (r < 0)
				return r;
		}
	}
	return found;
}

int sfs_recset_next(struct sfs_liveset *ls, void *ret)
{
	const uint8_t *min = NULL;
	size_t esz = ls->esz;

	if (!ls->sealed)
		return -EINVAL;
	if (!ls->n_runs) {
		if (ls->pos >= ls->n)
			return 0;
		memcpy(ret, ls->buf + ls->pos++ * esz, esz);
		return 1;
	}
	for (size_t i = 0; i < ls->n_runs; i++) {
		struct run *run = &ls->runs[i];
		const uint8_t *at = run->win + run->win_i * esz;

		if (run->win_n && (!min || memcmp(at, min, esz) < 0))
			min = at;
	}
	if (!min)
		return 0;
	memcpy(ret, min, esz);
	/* The same member may be in several runs: move every one past it. */
	for (size_t i = 0; i < ls->n_runs; i++) {
		struct run *run = &ls->runs[i];

		if (run->win_n && !memcmp(run->win + run->win_i * esz, ret, esz)) {
			int r = advance(ls, run);
			if (r < 0)
				return r;
		}
	}
	return 1;
}

int sfs_liveset_next(struct sfs_liveset *ls, struct sfs_id *ret)
{
	if (ls->esz != SFS_ID_LEN)
		return -EINVAL;
	return sfs_recset_next(ls, ret);
}

uint64_t sfs_liveset_runs(const struct sfs_liveset *ls)
{
	return ls->n_runs;
}
