// SPDX-License-Identifier: MIT
/*
 * Creating, opening and closing a store: the config file, the LMDB
 * environment and its named databases, the writer lock, the table of open
 * pack fds, and the recovery a writer performs after an interrupted one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "snapfs/catalog.h"
#include "snapfs/log.h"
#include "snapfs/pack.h"
#include "snapfs/store.h"
#include "store_int.h"
#include "util_int.h"

#define CONFIG_NAME "config"
#define CONFIG_MAX 4096
#define MAP_SIZE (1ull << 40) /* virtual; the file grows as needed */

static const char *const dbi_names[SFS_DBI_COUNT] = {
	"meta", "chunks", "volumes", "snapshots", "volsnap", "images", "policies",
};

int sfs_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_BAD_TXN:
		return -EUCLEAN;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int config_write(int dirfd, const struct sfs_store_options *o)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "# snapfs store: do not edit\n"
		     "format_version = %d\n"
		     "block_size = %" PRIu32 "\n"
		     "zstd_level = %d\n"
		     "pack_size = %" PRIu64 "\n",
		     SFS_FORMAT_VERSION, o->block_size, o->zstd_level, o->pack_size);
	return sfs_write_file_atomic(dirfd, CONFIG_NAME, buf, (size_t)n);
}

static int config_read(struct sfs_store *s)
{
	char *text = NULL, *line, *save = NULL;
	long long version = -1, bs = -1, lvl = -1, ps = -1;
	int r;

	r = sfs_read_file(s->dirfd, CONFIG_NAME, CONFIG_MAX, &text, NULL);
	if (r == -ENOENT || r == -EFBIG || r == -EISDIR)
		return -EMEDIUMTYPE;
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		long long v;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%63s = %lld", key, &v) != 2) {
			r = -EMEDIUMTYPE;
			goto out;
		}
		if (!strcmp(key, "format_version"))
			version = v;
		else if (!strcmp(key, "block_size"))
			bs = v;
		else if (!strcmp(key, "zstd_level"))
			lvl = v;
		else if (!strcmp(key, "pack_size"))
			ps = v;
	}
	if (version < 1 || bs < 0 || lvl < 0 || ps < 0) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	if (version > SFS_FORMAT_VERSION) {
		r = -EPROTONOSUPPORT;
		goto out;
	}
	if (bs < SFS_BLOCK_MIN || bs > SFS_BLOCK_MAX || !pow2((uint32_t)bs) || lvl < 1 ||
	    lvl > 19 || ps < (1 << 20)) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	s->block_size = (uint32_t)bs;
	s->zstd_level = (int)lvl;
	s->pack_size = (uint64_t)ps;
	r = 0;
out:
	free(text);
	return r;
}

static int env_open(struct sfs_store *s, bool create)
{
	MDB_txn *txn;
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
	int rc;

	rc = mdb_env_create(&s->env);
	if (rc)
		return sfs_mdb_err(rc);
	mdb_env_set_maxdbs(s->env, SFS_DBI_COUNT + 4);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, MAP_SIZE);
	if (!s->writable)
		flags |= MDB_RDONLY;
	{
		char *dir;
		if (asprintf(&dir, "%s/catalog", s->path) < 0)
			return -ENOMEM;
		rc = mdb_env_open(s->env, dir, flags, 0644);
		free(dir);
	}
	if (rc)
		goto fail;
	/* Free reader slots of processes that died holding them (kill -9),
	 * which would otherwise pin old pages and fill the table. */
	mdb_reader_check(s->env, NULL);
	rc = mdb_txn_begin(s->env, NULL, s->writable ? 0 : MDB_RDONLY, &txn);
	if (rc)
		goto fail;
	for (int i = 0; i < SFS_DBI_COUNT; i++) {
		rc = mdb_dbi_open(txn, dbi_names[i], create ? MDB_CREATE : 0, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && s->writable)
			rc = mdb_dbi_open(txn, dbi_names[i], MDB_CREATE, &s->dbi[i]);
		if (rc) {
			mdb_txn_abort(txn);
			goto fail;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto fail;
	return 0;
fail:
	mdb_env_close(s->env);
	s->env = NULL;
	if (rc == ENOENT)
		return -EMEDIUMTYPE;
	return sfs_mdb_err(rc);
}

int sfs_store_init(const char *path, const struct sfs_store_options *opts)
{
	struct sfs_store_options o = { 0 };
	struct sfs_store s = { 0 };
	DIR *d;
	int r;

	if (opts)
		o = *opts;
	if (!o.block_size)
		o.block_size = SFS_DEFAULT_BLOCK_SIZE;
	if (!o.zstd_level)
		o.zstd_level = SFS_DEFAULT_ZSTD_LEVEL;
	if (!o.pack_size)
		o.pack_size = SFS_DEFAULT_PACK_SIZE;
	if (!pow2(o.block_size) || o.block_size < SFS_BLOCK_MIN || o.block_size > SFS_BLOCK_MAX ||
	    o.zstd_level < 1 || o.zstd_level > 19 || o.pack_size < (1 << 20))
		return -EINVAL;

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	d = opendir(path);
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			return -EEXIST;
		}
	}
	closedir(d);

	s.path = strdup(path);
	if (!s.path)
		return -ENOMEM;
	s.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.dirfd < 0) {
		r = -errno;
		goto out;
	}
	if (mkdirat(s.dirfd, "catalog", 0755) < 0 || mkdirat(s.dirfd, "packs", 0755) < 0) {
		r = -errno;
		goto out;
	}
	s.writable = true;
	r = env_open(&s, true);
	if (r < 0)
		goto out;
	{
		struct sfs_txn *t;
		s.lock_fd = -1;
		pthread_mutex_init(&s.packs_lock, NULL);
		r = sfs_txn_begin(&s, true, &t);
		if (r == 0) {
			r = sfs_cat_meta_put(t, "format_version", SFS_FORMAT_VERSION);
			if (r == 0)
				r = sfs_cat_meta_put(t, "generation", 1);
			if (r == 0)
				r = sfs_txn_commit(t);
			else
				sfs_txn_abort(t);
		}
		pthread_mutex_destroy(&s.packs_lock);
	}
	mdb_env_close(s.env);
	if (r < 0)
		goto out;
	/* The config goes last: a directory without it is not a store, so an
	 * init that dies half-way leaves nothing that looks usable. */
	r = sfs_fsync_dir(s.dirfd);
	if (r == 0)
		r = config_write(s.dirfd, &o);
out:
	if (s.dirfd > 0)
		close(s.dirfd);
	free(s.path);
	return r;
}

static int lock_take(struct sfs_store *s)
{
	char buf[32];
	int n, r;

	s->lock_fd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0)
		return -errno;
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(s->lock_fd);
		s->lock_fd = -1;
		return r;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(s->lock_fd, 0) < 0 || sfs_pwriten(s->lock_fd, buf, (size_t)n, 0) < 0)
		sfs_log(SFS_LOG_WARN, "could not record pid in %s/lock", s->path);
	return 0;
}

int sfs_store_lock_holder(const char *path)
{
	char *name, buf[32] = { 0 };
	int fd, pid = 0;

	if (asprintf(&name, "%s/lock", path) < 0)
		return 0;
	fd = open(name, O_RDONLY | O_CLOEXEC);
	free(name);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		if (sfs_preadn(fd, buf, sizeof(buf) - 1, 0) == 0 || buf[0])
			pid = (int)strtol(buf, NULL, 10);
		if (pid <= 0)
			pid = -1;
	}
	close(fd);
	return pid;
}

/* Undo what an interrupted writer left: bytes past the committed end of
 * the active pack, packs created after it, and pending snapshots. */
static int recover(struct sfs_store *s)
{
	struct sfs_txn *t;
	uint64_t active = 0, active_len = 0;
	int r;

	r = sfs_txn_begin(s, true, &t);
	if (r < 0)
		return r;
	if (sfs_cat_meta_get(t, "pack.active", &active) == 0 &&
	    sfs_cat_meta_get(t, "pack.active_len", &active_len) == 0) {
		char name[64];
		struct stat st;

		sfs_pack_name(active, name, sizeof(name));
		if (fstatat(s->packs_dirfd, name, &st, 0) == 0 && (uint64_t)st.st_size > active_len) {
			int fd = openat(s->packs_dirfd, name, O_RDWR | O_CLOEXEC);
			if (fd >= 0) {
				if (ftruncate(fd, (off_t)active_len) == 0 && fsync(fd) == 0)
					sfs_log(SFS_LOG_WARN,
						"discarded %" PRIu64
						" bytes an interrupted writer left in pack %s",
						(uint64_t)st.st_size - active_len, name);
				close(fd);
			}
		}
	}
	{
		DIR *d = fdopendir(dup(s->packs_dirfd));
		if (d) {
			rewinddir(d);
			for (struct dirent *e; (e = readdir(d));) {
				unsigned long long n;
				char tail[8];
				if (sscanf(e->d_name, "%16llx.%7s", &n, tail) == 2 &&
				    !strcmp(tail, "pack") && n > active) {
					if (unlinkat(s->packs_dirfd, e->d_name, 0) == 0)
						sfs_log(SFS_LOG_WARN,
							"removed pack %s that an interrupted writer "
							"never committed",
							e->d_name);
				}
			}
			closedir(d);
			sfs_fsync_dir(s->packs_dirfd);
		}
	}
	r = sfs_cat_discard_pending(t);
	if (r < 0) {
		sfs_txn_abort(t);
		return r;
	}
	return sfs_txn_commit(t);
}

int sfs_store_open(const char *path, int flags, struct sfs_store **ret)
{
	struct sfs_store *s;
	struct stat st;
	int r;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -EMEDIUMTYPE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = s->packs_dirfd = -1;
	pthread_mutex_init(&s->packs_lock, NULL);
	s->writable = flags & SFS_OPEN_WRITE;
	s->path = strdup(path);
	if (!s->path) {
		r = -ENOMEM;
		goto fail;
	}
	s->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	r = config_read(s);
	if (r < 0)
		goto fail;
	r = sfs_chunkstore_new(s);
	if (r < 0)
		goto fail;
	s->packs_dirfd = openat(s->dirfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->packs_dirfd < 0) {
		r = errno == ENOENT ? -EMEDIUMTYPE : -errno;
		goto fail;
	}
	if (s->writable) {
		r = lock_take(s);
		if (r < 0)
			goto fail;
	}
	r = env_open(s, false);
	if (r < 0)
		goto fail;
	if (s->writable) {
		r = recover(s);
		if (r < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	sfs_store_close(s);
	return r;
}

void sfs_store_close(struct sfs_store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	for (size_t i = 0; i < s->n_pack_fds; i++)
		if (s->pack_fds[i] >= 0)
			close(s->pack_fds[i]);
	free(s->pack_fds);
	if (s->packs_dirfd >= 0)
		close(s->packs_dirfd);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	if (s->dirfd > 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->packs_lock);
	sfs_chunkstore_free(s);
	free(s->path);
	free(s);
}

uint32_t sfs_store_block_size(const struct sfs_store *s)
{
	return s->block_size;
}

int sfs_store_zstd_level(const struct sfs_store *s)
{
	return s->zstd_level;
}

uint64_t sfs_store_pack_size(const struct sfs_store *s)
{
	return s->pack_size;
}

const char *sfs_store_path(const struct sfs_store *s)
{
	return s->path;
}

bool sfs_store_writable(const struct sfs_store *s)
{
	return s->writable;
}

int sfs_store_pack_fd(struct sfs_store *s, uint64_t number)
{
	char name[64];
	int fd;

	if (number > (1u << 30))
		return -EBADMSG;
	pthread_mutex_lock(&s->packs_lock);
	if (number < s->n_pack_fds && s->pack_fds[number] >= 0) {
		fd = s->pack_fds[number];
		goto out;
	}
	if (number >= s->n_pack_fds) {
		size_t n = s->n_pack_fds ? s->n_pack_fds : 64;
		int *p;
		while (n <= number)
			n *= 2;
		p = realloc(s->pack_fds, n * sizeof(*p));
		if (!p) {
			fd = -ENOMEM;
			goto out;
		}
		for (size_t i = s->n_pack_fds; i < n; i++)
			p[i] = -1;
		s->pack_fds = p;
		s->n_pack_fds = n;
	}
	sfs_pack_name(number, name, sizeof(name));
	fd = openat(s->packs_dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	else
		s->pack_fds[number] = fd;
out:
	pthread_mutex_unlock(&s->packs_lock);
	return fd;
}

void sfs_store_forget_pack(struct sfs_store *s, uint64_t number)
{
	pthread_mutex_lock(&s->packs_lock);
	if (number < s->n_pack_fds && s->pack_fds[number] >= 0) {
		close(s->pack_fds[number]);
		s->pack_fds[number] = -1;
	}
	pthread_mutex_unlock(&s->packs_lock);
}

static uint64_t du_dir(int dirfd)
{
	uint64_t total = 0;
	DIR *d = fdopendir(dup(dirfd));

	if (!d)
		return 0;
	rewinddir(d); /* the dup shares dirfd's offset, perhaps at the end */
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

int sfs_store_disk_usage(struct sfs_store *s, uint64_t *ret_packs, uint64_t *ret_catalog)
{
	int cfd = openat(s->dirfd, "catalog", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (cfd < 0)
		return -errno;
	*ret_catalog = du_dir(cfd);
	close(cfd);
	*ret_packs = du_dir(s->packs_dirfd);
	return 0;
}
