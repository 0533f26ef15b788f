// SPDX-License-Identifier: MIT
/*
 * The catalog's copy (catalog/copy.mdb) and the census that decides whether
 * an LMDB file can be trusted. The writer refreshes the copy after it
 * commits: a compacted LMDB copy written to a temporary file, synced,
 * opened again and walked record by record (every JSON record's sum, every
 * chunk location, every pack row, the entry counts against the catalog's),
 * and only then renamed over the old copy, so that a crash leaves the old
 * copy and a catalog already damaged never replaces a good copy. `check
 * --repair` restores a catalog that LMDB cannot read from this copy and
 * rebuilds the rest from the packs (ops/repair.c).
 *
 * LMDB trusts its pages: a damaged file can fault inside the library. So
 * the census of a file that may be damaged runs in a forked child
 * (sfs_catalog_probe) and a fault there is a verdict, not a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "snapfs/catalog.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "util_int.h"
#include "volcreated_int.h"

#define COPY_TMP SFS_CATALOG_COPY ".tmp"
#define RESTORE_TMP "data.mdb.restore"
#define MAP_SIZE (1ull << 40)

/* Child exit codes of the probe. */
#define PROBE_DAMAGED 3
#define PROBE_MISSING 4
#define PROBE_FAILED 5

const char *const sfs_dbi_names[SFS_DBI_COUNT] = {
	"meta", "chunks", "volumes", "snapshots", "volsnap", "images", "policies", "packs", "bin",
	"checkpoints", "volcreated",
};

/* Is the value of a key of database `which` one snapfs wrote? The decoders'
 * own checks, without building anything. */
static bool value_ok(enum sfs_dbi which, const MDB_val *k, const MDB_val *v)
{
	struct sfs_chunk_loc loc;
	char id[SFS_IDSTR_SIZE];

	switch (which) {
	case SFS_DBI_META:
		return v->mv_size == 8;
	case SFS_DBI_CHUNKS:
		return k->mv_size == SFS_ID_LEN && sfs_loc_decode(v->mv_data, v->mv_size, &loc) == 0;
	case SFS_DBI_VOLCREATED:
	case SFS_DBI_VOLSNAP:
		if (which == SFS_DBI_VOLCREATED && !sfs_volcreated_key_ok(k))
			return false;
		return v->mv_size > 0 && sfs_cat_idstr(v, id) && sfs_idstr_valid(id, "snap-");
	case SFS_DBI_PACKS:
		return k->mv_size == 8 && v->mv_size == 24;
	default:
		/* Every JSON record is version 1 and carries its sum. */
		return sfs_record_check(v->mv_data, v->mv_size, 1);
	}
}

/* Walks one database with a cursor, bounded by the entry count LMDB keeps
 * for it, so that a damaged tree that loops is caught too. */
static int census_dbi(MDB_txn *txn, MDB_dbi d, int which, struct sfs_catalog_census *c)
{
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, v;
	uint64_t n = 0;
	int rc;

	rc = mdb_stat(txn, d, &st);
	if (rc)
		return sfs_mdb_err(rc);
	rc = mdb_cursor_open(txn, d, &cur);
	if (rc)
		return sfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (++n > st.ms_entries) {
			rc = MDB_CORRUPTED;
			break;
		}
		/* A census walks every page: keep them out of RSS as it goes. */
		if (n % SFS_CAT_TRIM_EVERY == 0)
			sfs_mdb_map_trim(mdb_txn_env(txn));
		if (which < 0) {
			/* The free list: its values are page lists the next
			 * writer will use; touch every byte. */
			volatile uint8_t sink = 0;
			for (size_t i = 0; i < v.mv_size; i++)
				sink ^= ((const uint8_t *)v.mv_data)[i];
			(void)sink;
		} else if (!value_ok((enum sfs_dbi)which, &k, &v)) {
			c->damaged++;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return sfs_mdb_err(rc ? rc : MDB_CORRUPTED);
	if (n != st.ms_entries)
		return -EUCLEAN;
	if (which >= 0)
		c->entries[which] = n;
	return 0;
}

int sfs_catalog_census(MDB_env *env, struct sfs_catalog_census *ret)
{
	MDB_txn *txn;
	int rc, r = 0;

	memset(ret, 0, sizeof(*ret));
	rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return sfs_mdb_err(rc);
	r = census_dbi(txn, 0 /* FREE_DBI */, -1, ret);
	for (int i = 0; r == 0 && i < SFS_DBI_COUNT; i++) {
		MDB_dbi d;

		rc = mdb_dbi_open(txn, sfs_dbi_names[i], 0, &d);
		if (rc == MDB_NOTFOUND && sfs_dbi_optional(i))
			continue; /* a store made before the database existed */
		if (rc) {
			r = sfs_mdb_err(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
			break;
		}
		ret->present |= 1u << i;
		r = census_dbi(txn, d, i, ret);
	}
	mdb_txn_abort(txn);
	return r;
}

/* Opens an LMDB file (not a directory) read-only without a lock file: the
 * copy, or a catalog under repair that nothing else has open. */
static int file_env_open(int cfd, const char *name, MDB_env **ret)
{
	char path[96];
	MDB_env *env;
	int rc;

	rc = mdb_env_create(&env);
	if (rc)
		return sfs_mdb_err(rc);
	mdb_env_set_maxdbs(env, SFS_DBI_COUNT + 4);
	mdb_env_set_mapsize(env, MAP_SIZE);
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", cfd, name);
	rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NORDAHEAD, 0644);
	if (rc) {
		mdb_env_close(env);
		return rc == ENOENT ? -ENOENT : sfs_mdb_err(rc == EINVAL ? MDB_INVALID : rc);
	}
	*ret = env;
	return 0;
}

/* A regular file of the catalog directory, never a link; -ENOENT when absent. */
static int regular_file(int cfd, const char *name, struct stat *ret)
{
	struct stat st;

	if (fstatat(cfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ELOOP;
	if (ret)
		*ret = st;
	return 0;
}

int sfs_catalog_probe(int cfd, const char *name, struct sfs_catalog_census *ret)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sfs_catalog_census c = { 0 };
	int pipefd[2], status, r;
	pid_t pid;

	r = regular_file(cfd, name, NULL);
	if (r < 0)
		return r;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid == 0) {
		MDB_env *env;

		/* A fault is the verdict: die of it, whatever handler the
		 * program installed. */
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		close(pipefd[0]);
		r = file_env_open(cfd, name, &env);
		if (r == 0) {
			r = sfs_catalog_census(env, &c);
			mdb_env_close(env);
		}
		/* Smaller than PIPE_BUF: one write, whole or not at all. */
		if (r == 0 && write(pipefd[1], &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(PROBE_FAILED);
		_exit(r == 0		 ? 0
		      : r == -ENOENT  ? PROBE_MISSING
		      : r == -EUCLEAN ? PROBE_DAMAGED
				      : PROBE_FAILED);
	}
	close(pipefd[1]);
	r = (int)sfs_read_full(pipefd[0], &c, sizeof(c));
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status)) {
		sfs_log(SFS_LOG_WARN, "catalog/%s: reading it faults (signal %d)", name,
			WTERMSIG(status));
		return -EUCLEAN;
	}
	switch (WEXITSTATUS(status)) {
	case 0:
		if (r != (int)sizeof(c))
			return -EIO;
		if (ret)
			*ret = c;
		return 0;
	case PROBE_MISSING:
		return -ENOENT;
	case PROBE_FAILED:
		return -EIO;
	default: /* PROBE_DAMAGED, or a fault turned into an exit */
		return -EUCLEAN;
	}
}

/* The copy at tmp matches the catalog it was made from: same databases,
 * same entry counts, every record intact. */
static int copy_verify(struct sfs_store *s, int cfd, const char *tmp)
{
	struct sfs_catalog_census c;
	MDB_env *env;
	MDB_txn *txn;
	int rc, r;

	r = file_env_open(cfd, tmp, &env);
	if (r < 0)
		return r;
	r = sfs_catalog_census(env, &c);
	mdb_env_close(env);
	if (r < 0)
		return r;
	if (c.damaged) {
		sfs_log(SFS_LOG_WARN,
			"%s: the catalog has %" PRIu64 " damaged records ('snapfs check' names "
			"them); its copy is not refreshed until they are removed",
			s->path, c.damaged);
		return -EBADMSG;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return sfs_mdb_err(rc);
	for (int i = 0; r == 0 && i < SFS_DBI_COUNT; i++) {
		MDB_stat st;

		if (!(c.present & (1u << i))) {
			if ((i != SFS_DBI_PACKS || s->has_pack_table) &&
			    (i != SFS_DBI_BIN || s->has_bin) &&
			    (i != SFS_DBI_CHECKPOINTS || s->has_checkpoints) &&
			    (i != SFS_DBI_VOLCREATED || s->has_volcreated))
				r = -EBADMSG;
			continue;
		}
		rc = mdb_stat(txn, s->dbi[i], &st);
		if (rc)
			r = sfs_mdb_err(rc);
		else if (st.ms_entries != c.entries[i])
			r = -EBADMSG;
	}
	mdb_txn_abort(txn);
	if (r == -EBADMSG)
		sfs_log(SFS_LOG_WARN, "%s: the catalog copy just written does not match the "
				      "catalog; the old copy is kept",
			s->path);
	return r;
}

/* LMDB's compacting copy reads the whole catalog through the map in a
 * thread of its own: while it runs, another drops the map's pages from
 * RSS every 20 ms, so that the copy of a large catalog does not hold it
 * all in memory. */
struct trimmer {
	struct sfs_store *s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

static void *trim_main(void *arg)
{
	struct trimmer *t = arg;
	struct timespec at;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_nsec += 20 * 1000 * 1000;
		if (at.tv_nsec >= 1000000000) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&t->cond, &t->lock, &at);
		if (!t->stop)
			sfs_cat_map_trim(t->s);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int copy_trimmed(struct sfs_store *s, int fd)
{
	struct trimmer t = { .s = s };
	pthread_t th;
	bool started;
	int r;

	/* The compacting copy walks the trees in key order: read the file
	 * ahead in its own order first (a cold 442 MiB catalog took the
	 * copy 14.8 s a page at a time). */
	sfs_cat_prefetch(s, UINT64_MAX);
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.cond, NULL);
	started = pthread_create(&th, NULL, trim_main, &t) == 0;
	r = sfs_mdb_err(mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT));
	if (started) {
		pthread_mutex_lock(&t.lock);
		t.stop = true;
		pthread_cond_signal(&t.cond);
		pthread_mutex_unlock(&t.lock);
		pthread_join(th, NULL);
	}
	pthread_cond_destroy(&t.cond);
	pthread_mutex_destroy(&t.lock);
	return r;
}

int sfs_catalog_copy_save(struct sfs_store *s)
{
	struct sfs_fsid fsid = { 0 };
	int cfd, fd = -1, r;

	cfd = openat(s->dirfd, "catalog", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	/* Files in a user's store are the user's, even when root writes. */
	r = sfs_fsid_enter(s->dirfd, &fsid);
	if (r < 0)
		goto out_close_dir;
	/* A temporary file a killed writer left: only the store's writer
	 * (which we are) makes copies, so it is nobody's. unlinkat removes
	 * a link planted there, never its target. */
	if (unlinkat(cfd, COPY_TMP, 0) < 0 && errno != ENOENT) {
		r = -errno;
		goto out_leave;
	}
	fd = openat(cfd, COPY_TMP, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out_leave;
	}
	r = copy_trimmed(s, fd);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0)
		r = copy_verify(s, cfd, COPY_TMP);
	if (r == 0 && renameat(cfd, COPY_TMP, cfd, SFS_CATALOG_COPY) < 0)
		r = -errno;
	if (r == 0)
		r = sfs_fsync_dir(cfd);
	if (r < 0)
		unlinkat(cfd, COPY_TMP, 0);
out_leave:
	sfs_fsid_leave(&fsid);
out_close_dir:
	close(cfd);
	return r;
}

/* A catalog up to this size is copied after every change (a 2 GiB volume
 * at 32 KiB blocks with 1000 snapshots is 8 MiB, copied and verified in
 * about 70 ms); a bigger one at most once per COPY_EVERY seconds for
 * each COPY_ALWAYS bytes, at most an hour apart, so that copying costs
 * about 1% of the time however big the catalog grows. */
#define COPY_ALWAYS (64ull << 20)
#define COPY_EVERY 60
#define COPY_MAX_AGE 3600

static bool copy_due(struct sfs_store *s, const MDB_envinfo *info)
{
	char path[64];
	struct stat st;
	MDB_stat ms;
	uint64_t size, every;

	if (s->copy_force || mdb_env_stat(s->env, &ms) != 0)
		return true;
	size = (uint64_t)(info->me_last_pgno + 1) * ms.ms_psize;
	if (size <= COPY_ALWAYS)
		return true;
	snprintf(path, sizeof(path), "catalog/%s", SFS_CATALOG_COPY);
	if (fstatat(s->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return true;
	every = size / COPY_ALWAYS * COPY_EVERY;
	if (every > COPY_MAX_AGE)
		every = COPY_MAX_AGE;
	return (uint64_t)(time(NULL) - st.st_mtime) >= every;
}

void sfs_catalog_copy_refresh(struct sfs_store *s)
{
	struct timespec t0, t1;
	MDB_envinfo info;
	int r;

	if (!s->writable || !s->env || s->repair_pending || s->record_only)
		return;
	if (mdb_env_info(s->env, &info) != 0 || info.me_last_txnid == s->copied_txnid)
		return;
	if (!copy_due(s, &info))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sfs_catalog_copy_save(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		if (r != -EBADMSG)
			sfs_log(SFS_LOG_WARN, "%s: cannot refresh the catalog's copy: %s", s->path,
				strerror(-r));
		return;
	}
	s->copied_txnid = info.me_last_txnid;
	s->copy_ms = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000 +
		     (uint64_t)((t1.tv_nsec - t0.tv_nsec) / 1000000);
}

/* Copies the whole file src to a new file dst (O_EXCL), synced. */
static int file_copy(int cfd, const char *src, const char *dst)
{
	char *buf = malloc(1u << 20);
	int in = -1, out = -1, r = 0;
	uint64_t off = 0;

	if (!buf)
		return -ENOMEM;
	in = openat(cfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		r = -errno;
		goto out_free;
	}
	if (unlinkat(cfd, dst, 0) < 0 && errno != ENOENT) {
		r = -errno;
		goto out_close_in;
	}
	out = openat(cfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0) {
		r = -errno;
		goto out_close_in;
	}
	for (;;) {
		ssize_t n = sfs_read_full(in, buf, 1u << 20);

		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0)
			break;
		r = sfs_pwriten(out, buf, (size_t)n, off);
		if (r < 0)
			break;
		off += (uint64_t)n;
	}
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	close(out);
	if (r < 0)
		unlinkat(cfd, dst, 0);
out_close_in:
	close(in);
out_free:
	free(buf);
	return r;
}

/* No other process has the environment open: LMDB's first opener takes a
 * write lock on byte 0 of lock.mdb, every opener keeps a read lock there. */
static int catalog_unused(int cfd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd = openat(cfd, "lock.mdb", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		r = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
	close(fd); /* drops the lock: LMDB takes its own in a moment */
	return r;
}

int sfs_catalog_restore(struct sfs_store *s, int cfd, char *ret_damaged, size_t cap)
{
	struct sfs_catalog_census c;
	struct stat st;
	char damaged[64], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	ret_damaged[0] = '\0';
	r = catalog_unused(cfd);
	if (r == -EBUSY)
		return sfs_log_errno(r, "%s: another process (a mount?) has the catalog open; stop "
					"it before the catalog can be restored",
				     s->path);
	if (r < 0)
		return r;
	r = sfs_catalog_probe(cfd, SFS_CATALOG_COPY, &c);
	if (r == -ENOENT)
		return sfs_log_errno(-ENOENT, "%s: the catalog cannot be read and the store "
					      "keeps no copy of it (catalog/%s)",
				     s->path, SFS_CATALOG_COPY);
	if (r == 0 && c.damaged)
		r = -EUCLEAN;
	if (r < 0)
		return sfs_log_errno(r, "%s: the catalog cannot be read and its copy (catalog/%s) "
					"is damaged too",
				     s->path, SFS_CATALOG_COPY);
	r = file_copy(cfd, SFS_CATALOG_COPY, RESTORE_TMP);
	if (r < 0)
		return sfs_log_errno(r, "%s: cannot copy catalog/%s", s->path, SFS_CATALOG_COPY);
	/* The damaged file is kept under a name of its own, never deleted. */
	if (regular_file(cfd, "data.mdb", &st) == 0) {
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(damaged, sizeof(damaged), "data.mdb.damaged-%s", stamp);
		for (int i = 1; regular_file(cfd, damaged, NULL) != -ENOENT && i < 100; i++)
			snprintf(damaged, sizeof(damaged), "data.mdb.damaged-%s.%d", stamp, i);
		if (renameat(cfd, "data.mdb", cfd, damaged) < 0) {
			r = -errno;
			unlinkat(cfd, RESTORE_TMP, 0);
			return sfs_log_errno(r, "%s: cannot set the damaged catalog aside", s->path);
		}
		snprintf(ret_damaged, cap, "%s", damaged);
	}
	if (renameat(cfd, RESTORE_TMP, cfd, "data.mdb") < 0)
		return sfs_log_errno(-errno, "%s: cannot put the catalog's copy in place", s->path);
	r = sfs_fsync_dir(cfd);
	if (r == 0)
		sfs_log(SFS_LOG_WARN, "%s: restored the catalog from catalog/%s%s%s", s->path,
			SFS_CATALOG_COPY, ret_damaged[0] ? "; the damaged one is catalog/" : "",
			ret_damaged);
	return r;
}
