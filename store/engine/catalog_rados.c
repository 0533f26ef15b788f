// SPDX-License-Identifier: MIT
/*
 * The catalog of a store on RADOS. The writing host keeps its LMDB in its
 * state directory and, after every commit, publishes a compacted copy as
 * the object snapfs.catalog.<generation> and then the small object
 * snapfs.head naming that generation: a reader that sees a head has the
 * whole catalog it names. Every other open reads the catalog of the
 * newest head into STATE/catalog.<generation>.mdb (read-only, no lock
 * file: nothing ever writes it), and a reader checks the head at most
 * once a second and switches to a newer catalog in place, so that a mount
 * shows new snapshots without a remount. Environments it switched away
 * from stay open (transactions of other threads may be inside them) until
 * the store is closed. A writer whose local catalog is older than the
 * head (another host wrote since) takes the published one first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "rados_int.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "util_int.h"

#define GEN_FILE    "rados.gen"
#define CATALOG_MAX (1ull << 30)

static void catalog_oid(uint64_t gen, char *buf, size_t cap)
{
	snprintf(buf, cap, "snapfs.catalog.%016" PRIx64, gen);
}

static int head_read(struct sfs_rados_conn *c, uint64_t *ret)
{
	char *text;
	size_t len;
	unsigned long long g;
	int r;

	r = sfs_rados_get(c, SFS_RADOS_OBJ_HEAD, 4096, &text, &len);
	if (r < 0)
		return r;
	r = sscanf(text, "generation %llu", &g) == 1 ? 0 : -EUCLEAN;
	free(text);
	if (r == 0)
		*ret = g;
	return r;
}

static uint64_t local_gen(struct sfs_store *s)
{
	char *text;
	unsigned long long g = 0;

	if (sfs_read_store_file(s->dirfd, GEN_FILE, 64, &text, NULL) == 0) {
		sscanf(text, "%llu", &g);
		free(text);
	}
	return g;
}

static int local_gen_set(struct sfs_store *s, uint64_t gen)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", gen);

	return sfs_write_file_atomic(s->dirfd, GEN_FILE, buf, (size_t)n);
}

/* Reads catalog generation gen into dirfd/name (a temporary file first). */
static int download(struct sfs_rados_conn *c, uint64_t gen, int dirfd, const char *name)
{
	char oid[64], *buf;
	size_t len;
	int r;

	catalog_oid(gen, oid, sizeof(oid));
	r = sfs_rados_get(c, oid, CATALOG_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = sfs_write_file_atomic(dirfd, name, buf, len);
	free(buf);
	return r;
}

int sfs_rados_catalog_publish(struct sfs_store *s)
{
	struct sfs_rados_conn *c = sfs_rados_backend_conn(&s->backend);
	char oid[64], head[64], *buf = NULL;
	uint64_t gen;
	struct stat st;
	int fd, rc, r, n;

	if (!c || !s->writable)
		return 0;
	gen = s->rados_gen + 1;
	/* The copy beside the catalog (its size is the catalog's), nameless. */
	fd = openat(s->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
	r = sfs_mdb_err(rc);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0) {
		buf = malloc((size_t)st.st_size + 1);
		r = buf ? sfs_preadn(fd, buf, (size_t)st.st_size, 0) : -ENOMEM;
	}
	close(fd);
	catalog_oid(gen, oid, sizeof(oid));
	if (r == 0)
		r = sfs_rados_put(c, oid, buf, (size_t)st.st_size, false);
	free(buf);
	/* The head last: it names only a catalog that is all there. */
	n = snprintf(head, sizeof(head), "generation %" PRIu64 "\n", gen);
	if (r == 0)
		r = sfs_rados_put(c, SFS_RADOS_OBJ_HEAD, head, (size_t)n, false);
	s->rados_unpublished = r < 0;
	if (r < 0) {
		sfs_log(SFS_LOG_WARN,
			"could not publish the catalog to the pool: %s "
			"(other hosts see the store as of generation %" PRIu64 ")",
			strerror(-r), s->rados_gen);
		return r;
	}
	s->rados_gen = gen;
	local_gen_set(s, gen);
	/* Keep the one before: a reader may be fetching it right now. */
	if (gen > 2) {
		catalog_oid(gen - 2, oid, sizeof(oid));
		sfs_rados_remove(c, oid);
	}
	return 0;
}

int sfs_rados_catalog_writer_sync(struct sfs_store *s)
{
	struct sfs_rados_conn *c = sfs_rados_backend_conn(&s->backend);
	uint64_t head, mine = local_gen(s);
	int cfd, r;

	r = head_read(c, &head);
	if (r == -ENOENT) {
		s->rados_gen = mine;
		return 0; /* never published: init's own first open */
	}
	if (r < 0)
		return r;
	s->rados_gen = mine;
	cfd = openat(s->dirfd, "catalog", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	if (head > mine || faccessat(cfd, "data.mdb", F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		/* Another host wrote since (or this one has no catalog yet). */
		r = download(c, head, cfd, "data.mdb");
		if (r == 0) {
			unlinkat(cfd, "lock.mdb", 0);
			s->rados_gen = head;
			r = local_gen_set(s, head);
		}
	}
	close(cfd);
	return r;
}

static int env_open_file(struct sfs_store *s, const char *name, MDB_env **ret_env,
			 MDB_dbi dbi[SFS_DBI_COUNT], bool *ret_missing)
{
	char path[4200];
	MDB_env *env;
	MDB_txn *txn;
	int rc;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", s->dirfd, name);
	rc = mdb_env_create(&env);
	if (rc)
		return sfs_mdb_err(rc);
	mdb_env_set_maxdbs(env, SFS_DBI_COUNT + 4);
	mdb_env_set_mapsize(env, 1ull << 40);
	rc = mdb_env_open(env, path,
			  MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS | MDB_NORDAHEAD, 0644);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc) {
		mdb_env_close(env);
		return sfs_mdb_err(rc);
	}
	for (int i = 0; i < SFS_DBI_COUNT; i++) {
		rc = mdb_dbi_open(txn, sfs_dbi_names[i], 0, &dbi[i]);
		ret_missing[i] = rc == MDB_NOTFOUND;
		if (rc == MDB_NOTFOUND && sfs_dbi_optional(i))
			rc = 0;
		if (rc)
			break;
	}
	/* Committed, not aborted: an abort would close the handles. */
	if (rc)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn);
	if (rc) {
		mdb_env_close(env);
		return sfs_mdb_err(rc);
	}
	*ret_env = env;
	return 0;
}

/* The newest catalog's local file: fetched unless another process of
 * this host fetched it already; files two generations older go. */
static int reader_fetch(struct sfs_store *s, struct sfs_rados_conn *c, uint64_t gen, char *name,
			size_t cap)
{
	int r = 0;

	snprintf(name, cap, "catalog.%016" PRIx64 ".mdb", gen);
	if (faccessat(s->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		r = download(c, gen, s->dirfd, name);
	if (r == 0 && gen > 2) {
		char old[64];
		snprintf(old, sizeof(old), "catalog.%016" PRIx64 ".mdb", gen - 2);
		unlinkat(s->dirfd, old, 0);
	}
	return r;
}

int sfs_rados_catalog_reader_open(struct sfs_store *s)
{
	struct sfs_rados_conn *c = sfs_rados_backend_conn(&s->backend);
	bool missing[SFS_DBI_COUNT];
	uint64_t gen;
	char name[64];
	int r;

	r = head_read(c, &gen);
	if (r == -ENOENT) {
		sfs_log(SFS_LOG_ERR,
			"the pool holds no published catalog (snapfs.head is missing)");
		return -EMEDIUMTYPE;
	}
	if (r == 0)
		r = reader_fetch(s, c, gen, name, sizeof(name));
	if (r == 0)
		r = env_open_file(s, name, &s->env, s->dbi, missing);
	if (r < 0)
		return r;
	s->rados_gen = gen;
	s->has_pack_table = !missing[SFS_DBI_PACKS];
	s->has_bin = !missing[SFS_DBI_BIN];
	s->has_checkpoints = !missing[SFS_DBI_CHECKPOINTS];
	s->has_volcreated = !missing[SFS_DBI_VOLCREATED];
	clock_gettime(CLOCK_MONOTONIC_COARSE, &s->rados_polled);
	return 0;
}

void sfs_rados_catalog_refresh(struct sfs_store *s)
{
	struct sfs_rados_conn *c = sfs_rados_backend_conn(&s->backend);
	bool missing[SFS_DBI_COUNT];
	MDB_dbi dbi[SFS_DBI_COUNT];
	struct timespec now;
	MDB_env *env, **olds;
	uint64_t gen;
	char name[64];

	if (!c || s->writable)
		return;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	/* One thread asks the cluster; the others go on with the catalog
	 * they have rather than wait (up to the op timeout when the cluster
	 * does not answer) behind it. */
	if (pthread_mutex_trylock(&s->rados_lock) != 0)
		return;
	if (now.tv_sec == s->rados_polled.tv_sec)
		goto out;
	s->rados_polled = now;
	if (head_read(c, &gen) < 0 || gen <= s->rados_gen)
		goto out;
	if (reader_fetch(s, c, gen, name, sizeof(name)) < 0 ||
	    env_open_file(s, name, &env, dbi, missing) < 0)
		goto out;
	/* Handles are numbered in the order opened: the same databases
	 * opened in the same order have the same handles, which every
	 * thread keeps using. */
	for (int i = 0; i < SFS_DBI_COUNT; i++) {
		if (!missing[i] && dbi[i] != s->dbi[i]) {
			sfs_log(SFS_LOG_WARN,
				"the published catalog's databases differ; remount "
				"to see generation %" PRIu64,
				gen);
			mdb_env_close(env);
			goto out;
		}
	}
	olds = realloc(s->rados_old_envs, (s->rados_n_old + 1) * sizeof(*olds));
	if (!olds) {
		mdb_env_close(env);
		goto out;
	}
	s->rados_old_envs = olds;
	olds[s->rados_n_old++] = s->env;
	__atomic_store_n(&s->env, env, __ATOMIC_RELEASE);
	s->rados_gen = gen;
	sfs_rados_backend_new_epoch(&s->backend);
out:
	pthread_mutex_unlock(&s->rados_lock);
}

int sfs_rados_catalog_published(struct sfs_store *s)
{
	if (!s->rados || !s->rados_unpublished)
		return 0;
	return sfs_rados_catalog_publish(s);
}

void sfs_rados_catalog_close(struct sfs_store *s)
{
	for (size_t i = 0; i < s->rados_n_old; i++)
		mdb_env_close(s->rados_old_envs[i]);
	free(s->rados_old_envs);
	s->rados_old_envs = NULL;
	s->rados_n_old = 0;
}
