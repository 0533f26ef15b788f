// SPDX-License-Identifier: MIT
/*
 * Creating, opening and closing a store: the config file, the LMDB
 * environment and its named databases, the writer lock, the pack backend,
 * and the recovery a writer performs after an interrupted one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "crypt_int.h"
#include "rados_int.h"
#include "snapfs/catalog.h"
#include "snapfs/keys.h"
#include "snapfs/log.h"
#include "snapfs/pack.h"
#include "snapfs/store.h"
#include "store_int.h"
#include "util_int.h"
#include "volcreated_int.h"

#define CONFIG_NAME "config"
#define CONFIG_MAX 4096
#define MAP_SIZE (1ull << 40) /* virtual; the file grows as needed */
/* meta key: the pack table is complete (set by init, or by the one
 * migration of a store made before the table existed) */
#define PACK_TABLE_KEY "pack_table"

/* meta key: a repair has begun and not finished (ops/repair.c); until it
 * has, no writer may run recovery against the catalog */
#define REPAIR_KEY "repair"

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

static int config_text(char *buf, size_t cap, const struct sfs_store_options *o,
		       const uint8_t *key_id, const char *backend)
{
	char kid[2 * SFS_KEY_ID_LEN + 1] = "";

	for (size_t i = 0; key_id && i < SFS_KEY_ID_LEN; i++)
		snprintf(kid + 2 * i, 3, "%02x", key_id[i]);
	return snprintf(buf, cap,
		     "# snapfs store: do not edit\n"
		     "format_version = %d\n"
		     "backend = %s\n"
		     "block_size = %" PRIu32 "\n"
		     "zstd_level = %d\n"
		     "pack_size = %" PRIu64 "\n"
		     "%s%s%s",
		     SFS_FORMAT_VERSION, backend, o->block_size, o->zstd_level, o->pack_size,
		     key_id ? "encryption = aes-256-gcm\nkey_id = " : "", kid, key_id ? "\n" : "");
}

static int config_write(int dirfd, const struct sfs_store_options *o, const uint8_t *key_id,
			const char *backend)
{
	char buf[512];
	int n = config_text(buf, sizeof(buf), o, key_id, backend);

	return sfs_write_file_atomic(dirfd, CONFIG_NAME, buf, (size_t)n);
}

int sfs_store_cache_root(char *buf, size_t cap)
{
	const char *v = getenv("SNAPFS_CACHE_DIR");
	int n;

	if (v && *v)
		n = snprintf(buf, cap, "%s", v);
	else if ((v = getenv("XDG_CACHE_HOME")) && *v)
		n = snprintf(buf, cap, "%s/snapfs", v);
	else if (getuid() == 0)
		n = snprintf(buf, cap, "/var/cache/snapfs");
	else
		n = snprintf(buf, cap, "%s/.cache/snapfs",
			     (v = getenv("HOME")) && *v ? v : "/tmp");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* This host's state directory for a store on RADOS given as a spec:
 * CACHE_ROOT/POOL-HASH, HASH of the conf path and user (one cluster's
 * pool is one store). */
static int rados_state_dir(const struct sfs_rados_params *p, char *buf, size_t cap)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[] = { p->conf, "\n", p->user };
	char root[4096];

	if (sfs_store_cache_root(root, sizeof(root)) < 0)
		return -ENAMETOOLONG;

	for (size_t i = 0; i < 3; i++)
		for (const char *c = parts[i]; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
	if ((size_t)snprintf(buf, cap, "%s/%s-%08" PRIx64, root, p->pool,
			     h & 0xffffffffu) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * A host that has no state for a store on RADOS gets it from the pool
 * alone: the params file, the catalog directory and, last, the config
 * read from the pool (a directory without config is not a store yet).
 */
static int rados_attach(const char *spec, char *state, size_t cap)
{
	struct sfs_rados_params p;
	struct sfs_rados_conn *c;
	char *text = NULL;
	size_t len;
	int dfd, r;

	r = sfs_rados_spec_parse(spec, &p);
	if (r < 0)
	{
		sfs_rados_detail("bad store spec: expected rados:POOL?conf=FILE[&user=client.NAME]");
		return -EINVAL;
	}
	r = rados_state_dir(&p, state, cap);
	if (r == 0)
		r = mkdir_p(state);
	if (r < 0)
		return sfs_log_errno(r, "cannot make the state directory %s", state);
	dfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = sfs_rados_params_write(dfd, &p);
	if (r == 0 && faccessat(dfd, CONFIG_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		goto out;
	if (r == 0)
		r = sfs_rados_connect(&p, &c);
	if (r < 0)
		goto out;
	r = sfs_rados_get(c, SFS_RADOS_OBJ_CONFIG, CONFIG_MAX, &text, &len);
	sfs_rados_disconnect(c);
	if (r == -ENOENT) {
		sfs_rados_detail("ceph pool '%s' holds no snapfs store", p.pool);
		r = -EMEDIUMTYPE;
	}
	if (r == 0 && mkdirat(dfd, "catalog", 0755) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0)
		r = sfs_write_file_atomic(dfd, CONFIG_NAME, text, len);
	free(text);
out:
	close(dfd);
	return r;
}

/*
 * Reads the config. Every key must be one this binary knows: a store
 * configured for a backend or feature an older binary lacks must be
 * refused, not half-understood. No `backend` key means the local
 * directory (stores made before the key existed).
 */
static int config_read(struct sfs_store *s, const struct sfs_backend_ops **ret_backend)
{
	char *text = NULL, *line, *save = NULL;
	long long version = -1, bs = -1, lvl = -1, ps = -1;
	const struct sfs_backend_ops *backend = &sfs_backend_local;
	bool have_key_id = false;
	int r;

	r = sfs_read_store_file(s->dirfd, CONFIG_NAME, CONFIG_MAX, &text, NULL);
	if (r == -ENOENT || r == -EFBIG || r == -EISDIR)
		return -EMEDIUMTYPE;
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64], val[64];
		long long v;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%63s = %63s", key, val) != 2) {
			sfs_log(SFS_LOG_ERR, "%s/config: cannot parse line '%.80s'", s->path, line);
			r = -EMEDIUMTYPE;
			goto out;
		}
		if (!strcmp(key, "backend")) {
			backend = sfs_backend_find(val);
			if (!backend) {
				sfs_log(SFS_LOG_ERR,
					"%s/config: pack backend '%s' is not supported by this "
					"version of snapfs",
					s->path, val);
				r = -EPROTONOSUPPORT;
				goto out;
			}
			continue;
		}
		if (!strcmp(key, "encryption")) {
			if (strcmp(val, "aes-256-gcm")) {
				sfs_log(SFS_LOG_ERR,
					"%s/config: encryption '%s' is not supported by this "
					"version of snapfs",
					s->path, val);
				r = -EPROTONOSUPPORT;
				goto out;
			}
			s->encrypted = true;
			continue;
		}
		if (!strcmp(key, "key_id")) {
			if (strlen(val) != 2 * SFS_KEY_ID_LEN ||
			    strspn(val, "0123456789abcdef") != 2 * SFS_KEY_ID_LEN) {
				r = -EMEDIUMTYPE;
				goto out;
			}
			for (size_t i = 0; i < SFS_KEY_ID_LEN; i++) {
				unsigned x;
				sscanf(val + 2 * i, "%2x", &x);
				s->key_id[i] = (uint8_t)x;
			}
			have_key_id = true;
			continue;
		}
		if (sscanf(val, "%lld", &v) != 1) {
			sfs_log(SFS_LOG_ERR, "%s/config: %s: '%s' is not a number", s->path, key, val);
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
		else {
			sfs_log(SFS_LOG_ERR,
				"%s/config: unknown key '%s' (a store made by a newer version of "
				"snapfs?)",
				s->path, key);
			r = -EPROTONOSUPPORT;
			goto out;
		}
	}
	if (version < 1 || bs < 0 || lvl < 0 || ps < 0 || s->encrypted != have_key_id) {
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
	s->format_version = (int)version;
	s->pack_size = (uint64_t)ps;
	*ret_backend = backend;
	r = 0;
out:
	free(text);
	return r;
}

/* LMDB opens its files by name and follows symlinks: make sure, before it
 * does, that they are regular files or absent. (The filesystem ids are
 * the owner's meanwhile, see sfs_fsid_enter, which closes the race.) */
static int lmdb_files_check(int cfd)
{
	static const char *const names[] = { "data.mdb", "lock.mdb" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct stat st;

		if (fstatat(cfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (!S_ISREG(st.st_mode)) {
			sfs_log(SFS_LOG_ERR, "catalog/%s is not a regular file; refusing the store",
				names[i]);
			return -ELOOP;
		}
	}
	return 0;
}

/* The store's subdirectories must be real directories, never links. */
static int open_subdir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return -EMEDIUMTYPE;
	if (errno == ENOTDIR || errno == ELOOP) {
		sfs_log(SFS_LOG_ERR, "%s/ in the store is not a directory; refusing the store",
			name);
		return -ELOOP;
	}
	return -errno;
}

static int env_open(struct sfs_store *s, bool create)
{
	MDB_txn *txn;
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
	bool packs_missing = false, bin_missing = false, ckpts_missing = false;
	bool volcreated_missing = false;
	char dir[64];
	struct stat st;
	int cfd, fd, rc, r;

	if (s->rados && !s->writable)
		return sfs_rados_catalog_reader_open(s);
	if (s->rados && !create) {
		r = sfs_rados_catalog_writer_sync(s);
		if (r < 0)
			return r;
	}
	cfd = open_subdir(s->dirfd, "catalog");
	if (cfd < 0)
		return cfd;
	r = lmdb_files_check(cfd);
	if (r == 0 && !create && faccessat(cfd, "data.mdb", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT) {
		/* LMDB would make an empty catalog here, and the store would
		 * look as if it held nothing. */
		sfs_log(SFS_LOG_ERR, "%s: catalog/data.mdb is missing ('snapfs check --repair' "
				     "restores it from the catalog's copy)",
			s->path);
		r = -EUCLEAN;
	}
	if (r < 0) {
		close(cfd);
		return r;
	}
	rc = mdb_env_create(&s->env);
	if (rc) {
		close(cfd);
		return sfs_mdb_err(rc);
	}
	mdb_env_set_maxdbs(s->env, SFS_DBI_COUNT + 4);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, MAP_SIZE);
	if (!s->writable)
		flags |= MDB_RDONLY;
	/* The directory just checked, through its fd, so that a catalog
	 * swapped for a link meanwhile is not the one LMDB opens. */
	snprintf(dir, sizeof(dir), "/proc/self/fd/%d", cfd);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = mdb_env_open(s->env, dir, flags, 0644);
	} else {
		char *path;
		if (asprintf(&path, "%s/catalog", s->path) < 0) {
			close(cfd);
			mdb_env_close(s->env);
			s->env = NULL;
			return -ENOMEM;
		}
		rc = mdb_env_open(s->env, path, flags, 0644);
		free(path);
	}
	close(cfd);
	if (rc)
		goto fail;
	if (mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &st) == 0 &&
	    (!S_ISREG(st.st_mode) || (s->owner_only && st.st_uid != s->owner))) {
		sfs_log(SFS_LOG_ERR, "catalog/data.mdb is not a regular file of the store's owner; "
				     "refusing the store");
		mdb_env_close(s->env);
		s->env = NULL;
		return -ELOOP;
	}
	/* Free reader slots of processes that died holding them (kill -9),
	 * which would otherwise pin old pages and fill the table. */
	mdb_reader_check(s->env, NULL);
	rc = mdb_txn_begin(s->env, NULL, s->writable ? 0 : MDB_RDONLY, &txn);
	if (rc)
		goto fail;
	for (int i = 0; i < SFS_DBI_COUNT; i++) {
		rc = mdb_dbi_open(txn, sfs_dbi_names[i], create ? MDB_CREATE : 0, &s->dbi[i]);
		/* A record-only open adds nothing but its record: it opens
		 * the databases there are, as a reader would. */
		if (rc == MDB_NOTFOUND && s->writable && !s->record_only)
			rc = mdb_dbi_open(txn, sfs_dbi_names[i], MDB_CREATE, &s->dbi[i]);
		/* A store made before the pack table: its first writable open
		 * builds the table; a read-only one lists the backend instead. */
		if (rc == MDB_NOTFOUND && i == SFS_DBI_PACKS) {
			packs_missing = true;
			rc = 0;
			continue;
		}
		/* A store made before the recycle bin, opened read-only: an
		 * empty bin (bin.c asks has_bin before touching the handle). */
		if (rc == MDB_NOTFOUND && i == SFS_DBI_BIN) {
			bin_missing = true;
			rc = 0;
			continue;
		}
		/* Before checkpoints: a read-only open shows none. */
		if (rc == MDB_NOTFOUND && i == SFS_DBI_CHECKPOINTS) {
			ckpts_missing = true;
			rc = 0;
			continue;
		}
		/* Before the creation-time index: a read-only open scans. */
		if (rc == MDB_NOTFOUND && i == SFS_DBI_VOLCREATED) {
			volcreated_missing = true;
			rc = 0;
			continue;
		}
		if (rc) {
			mdb_txn_abort(txn);
			goto fail;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto fail;
	s->has_pack_table = !packs_missing;
	s->has_bin = !bin_missing;
	s->has_checkpoints = !ckpts_missing;
	s->has_volcreated = !volcreated_missing;
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
	struct sfs_fsid fsid = { 0 };
	uint8_t key_id[SFS_KEY_ID_LEN], master[SFS_KEY_LEN];
	DIR *d;
	int r;

	struct sfs_rados_params rp;
	char state[4096];
	const char *backend = sfs_backend_local.name;

	sfs_rados_detail_clear();
	if (opts)
		o = *opts;
	if (o.same_key_as && !o.encrypt)
		return -EINVAL;
	if (!o.rados && sfs_rados_is_spec(path))
		o.rados = path;
	if (o.rados) {
		if (sfs_rados_spec_parse(o.rados, &rp) < 0)
			return sfs_log_errno(-EINVAL, "bad store spec '%s': expected "
						      "rados:POOL?conf=FILE[&user=client.NAME]",
					     o.rados);
		if (o.encrypt)
			return sfs_log_errno(-EOPNOTSUPP, "an encrypted store on RADOS is not "
							  "supported yet");
		if (sfs_rados_is_spec(path)) {
			r = rados_state_dir(&rp, state, sizeof(state));
			if (r == 0)
				r = mkdir_p(state);
			if (r < 0)
				return r;
			path = state;
		}
		backend = "rados";
	}
	if (!o.block_size)
		o.block_size = SFS_DEFAULT_BLOCK_SIZE;
	if (!o.zstd_level)
		o.zstd_level = SFS_DEFAULT_ZSTD_LEVEL;
	if (!o.pack_size)
		o.pack_size = SFS_DEFAULT_PACK_SIZE;
	if (!pow2(o.block_size) || o.block_size < SFS_BLOCK_MIN || o.block_size > SFS_BLOCK_MAX ||
	    o.zstd_level < 1 || o.zstd_level > 19 || o.pack_size < (1 << 20))
		return -EINVAL;
	/* The key first: a store whose key cannot be had is not begun. */
	if (o.encrypt) {
		r = sfs_keys_master(&o, master);
		if (r < 0)
			return r;
	}

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
	r = sfs_fsid_enter(s.dirfd, &fsid);
	if (r < 0)
		goto out;
	{
		struct stat st;
		if (fstat(s.dirfd, &st) == 0)
			s.owner = st.st_uid;
		s.owner_only = fsid.switched;
	}
	if (mkdirat(s.dirfd, "catalog", 0755) < 0) {
		r = -errno;
		goto out;
	}
	if (o.rados) {
		r = sfs_rados_params_write(s.dirfd, &rp);
		if (r < 0)
			goto out;
		s.backend.ops = sfs_backend_find("rados");
		if (!s.backend.ops) {
			r = sfs_log_errno(-EPROTONOSUPPORT, "this snapfs was built without RADOS "
							    "support (librados)");
			goto out;
		}
	} else {
		s.backend.ops = &sfs_backend_local;
	}
	r = s.backend.ops->open(&s.backend, s.dirfd, SFS_BACKEND_WRITE | SFS_BACKEND_CREATE);
	if (r < 0) {
		s.backend.ops = NULL;
		goto out;
	}
	if (o.rados) {
		/* The pool stays open (and locked) until the config is in it. */
		char *text;
		size_t len;

		r = sfs_rados_get(sfs_rados_backend_conn(&s.backend), SFS_RADOS_OBJ_CONFIG,
				  CONFIG_MAX, &text, &len);
		if (r == 0) {
			free(text);
			sfs_rados_detail("ceph pool '%s' already holds a snapfs store", rp.pool);
			r = -EEXIST;
			goto out;
		}
		if (r != -ENOENT)
			goto out;
	} else {
		s.backend.ops->close(&s.backend);
		s.backend.ops = NULL;
	}
	s.writable = true;
	r = env_open(&s, true);
	if (r < 0)
		goto out;
	{
		struct sfs_txn *t;
		s.lock_fd = -1;
		r = sfs_txn_begin(&s, true, &t);
		if (r == 0) {
			r = sfs_cat_meta_put(t, "format_version", SFS_FORMAT_VERSION);
			if (r == 0)
				r = sfs_cat_meta_put(t, "generation", 1);
			if (r == 0)
				r = sfs_cat_meta_put(t, PACK_TABLE_KEY, 1);
			if (r == 0)
				r = sfs_volcreated_build(t); /* empty, and current */
			if (r == 0)
				r = sfs_txn_commit(t);
			else
				sfs_txn_abort(t);
		}
	}
	if (r == 0 && o.rados)
		r = sfs_rados_catalog_publish(&s);
	mdb_env_close(s.env);
	if (r < 0)
		goto out;
	/* The config goes last: a directory without it is not a store, so an
	 * init that dies half-way leaves nothing that looks usable. */
	if (o.encrypt)
		r = sfs_keys_create(s.dirfd, master, o.encrypt, key_id);
	if (r == 0)
		r = sfs_fsync_dir(s.dirfd);
	if (r == 0)
		r = config_write(s.dirfd, &o, o.encrypt ? key_id : NULL, backend);
	if (r == 0 && o.rados) {
		/* Last: a pool without the config holds no store. */
		char text[512];
		int n = config_text(text, sizeof(text), &o, NULL, backend);

		r = sfs_rados_put(sfs_rados_backend_conn(&s.backend), SFS_RADOS_OBJ_CONFIG, text,
				  (size_t)n, true);
		if (r < 0)
			sfs_log(SFS_LOG_ERR, "cannot write the store's config to pool '%s': %s",
				rp.pool, strerror(-r));
	}
out:
	if (s.backend.ops)
		s.backend.ops->close(&s.backend);
	explicit_bzero(master, sizeof(master));
	sfs_fsid_leave(&fsid);
	if (s.dirfd > 0)
		close(s.dirfd);
	free(s.path);
	return r;
}

static int lock_take(struct sfs_store *s)
{
	char buf[32];
	int n, r;

	struct stat st;

	s->lock_fd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			    0644);
	if (s->lock_fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	if (fstat(s->lock_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(s->lock_fd);
		s->lock_fd = -1;
		return -ELOOP;
	}
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
	char buf[32] = { 0 };
	struct stat st;
	int dfd, fd, pid = 0;

	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	fd = openat(dfd, "lock", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_SH | LOCK_NB) < 0 &&
	    errno == EWOULDBLOCK) {
		if (sfs_preadn(fd, buf, sizeof(buf) - 1, 0) == 0 || buf[0])
			pid = (int)strtol(buf, NULL, 10);
		if (pid <= 0)
			pid = -1;
	}
	close(fd);
	return pid;
}

/* ---- migration and recovery ---- */

struct listed {
	uint64_t *n;
	struct sfs_pack_info *info;
	size_t len, cap;
};

static int listed_add(void *ctx, uint64_t number, const struct sfs_pack_info *info)
{
	struct listed *l = ctx;

	if (l->len == l->cap) {
		size_t c = l->cap ? l->cap * 2 : 64;
		uint64_t *n = realloc(l->n, c * sizeof(*n));
		struct sfs_pack_info *i;

		if (!n)
			return -ENOMEM;
		l->n = n;
		i = realloc(l->info, c * sizeof(*i));
		if (!i)
			return -ENOMEM;
		l->info = i;
		l->cap = c;
	}
	l->n[l->len] = number;
	l->info[l->len++] = *info;
	return 0;
}

static void listed_release(struct listed *l)
{
	free(l->n);
	free(l->info);
}

/*
 * A store made before the pack table: fill it once from the backend's
 * listing. Packs up to pack.active are committed (pack.active itself at
 * its committed length); packs above it are left to recovery. With no
 * pack.active every listed pack goes in: nothing is known uncommitted.
 */
static int migrate_pack_table(struct sfs_store *s, struct sfs_txn *t, const struct listed *l,
			      bool have_active, uint64_t active, uint64_t active_len)
{
	uint64_t done;
	size_t n = 0;
	int r;

	if (sfs_cat_meta_get(t, PACK_TABLE_KEY, &done) == 0)
		return 0;
	for (size_t i = 0; i < l->len; i++) {
		struct sfs_pack_rec p = { .number = l->n[i], .length = l->info[i].length };

		if (have_active && p.number > active)
			continue;
		if (have_active && p.number == active)
			p.length = active_len;
		p.sealed = have_active && p.number < active;
		if (p.length < SFS_PACK_HEADER_LEN)
			continue; /* not even a header: nothing in it is committed */
		r = sfs_cat_pack_put(t, &p);
		if (r < 0)
			return r;
		n++;
	}
	sfs_log(SFS_LOG_INFO, "%s: recorded %zu packs in the catalog's new pack table", s->path, n);
	return sfs_cat_meta_put(t, PACK_TABLE_KEY, 1);
}

struct refs {
	const struct listed *l;
	const bool *cand;    /* per listed pack: a candidate for removal */
	bool *referenced;    /* per listed pack: some index entry points into it */
	uint64_t active, active_end; /* max end of records in the active pack */
};

static int refs_fn(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct refs *x = ctx;

	(void)id;
	if (!loc)
		return 0;
	if (loc->pack > x->active) {
		for (size_t i = 0; i < x->l->len; i++)
			if (x->cand[i] && x->l->n[i] == loc->pack)
				x->referenced[i] = true;
	}
	if (loc->pack == x->active) {
		uint64_t end = loc->offset + SFS_REC_HEADER_LEN + loc->stored_len;
		if (end > x->active_end)
			x->active_end = end;
	}
	return 0;
}

/*
 * Undo what an interrupted writer left: bytes past the committed end of
 * the active pack, packs created after it, and pending snapshots. Only
 * what is proven uncommitted goes: a pack the pack table names, or that
 * any chunk-index entry points into, is never removed, and the active
 * pack is never cut below the end of a record the index points at.
 * Without pack.active nothing is removed or truncated.
 */
static int recover(struct sfs_store *s)
{
	struct sfs_backend *b = &s->backend;
	struct listed l = { 0 };
	struct sfs_txn *t;
	uint64_t active = 0, active_len = 0;
	bool have_active;
	bool *cand = NULL, any = false;
	int r;

	r = sfs_txn_begin(s, true, &t);
	if (r < 0)
		return r;
	r = b->ops->list(b, listed_add, &l);
	if (r < 0)
		goto out_abort;
	have_active = sfs_cat_meta_get(t, "pack.active", &active) == 0 &&
		      sfs_cat_meta_get(t, "pack.active_len", &active_len) == 0;
	r = migrate_pack_table(s, t, &l, have_active, active, active_len);
	if (r == 0)
		r = sfs_volcreated_build(t);
	if (r < 0)
		goto out_abort;
	cand = calloc(l.len + 1, sizeof(*cand));
	if (!cand) {
		r = -ENOMEM;
		goto out_abort;
	}
	if (!have_active) {
		if (l.len)
			sfs_log(SFS_LOG_WARN,
				"%s: the catalog has no pack.active; recovery removes and truncates "
				"nothing ('snapfs check' reports what is inconsistent)",
				s->path);
	} else {
		for (size_t i = 0; i < l.len; i++) {
			struct sfs_pack_rec p;

			if (l.n[i] == active && l.info[i].length > active_len)
				cand[i] = any = true;
			else if (l.n[i] > active && sfs_cat_pack_get(t, l.n[i], &p) == -ENOENT)
				cand[i] = any = true;
		}
	}
	if (any) {
		/* Rare (after a crash), so the index walk that proves each
		 * candidate unreferenced is affordable here. */
		struct refs x = { &l, cand, calloc(l.len + 1, sizeof(bool)), active, 0 };

		if (!x.referenced) {
			r = -ENOMEM;
			goto out_abort;
		}
		r = sfs_cat_chunk_foreach(t, refs_fn, &x);
		for (size_t i = 0; r == 0 && i < l.len; i++) {
			char name[64];

			if (!cand[i])
				continue;
			sfs_pack_name(l.n[i], name, sizeof(name));
			if (l.n[i] == active) {
				uint64_t to = active_len > x.active_end ? active_len : x.active_end;

				if (to < l.info[i].length && b->ops->truncate(b, active, to) == 0)
					sfs_log(SFS_LOG_WARN,
						"discarded %" PRIu64
						" bytes an interrupted writer left in pack %s",
						l.info[i].length - to, name);
			} else if (x.referenced[i]) {
				sfs_log(SFS_LOG_WARN,
					"pack %s is above pack.active but the chunk index points "
					"into it; kept",
					name);
			} else if (b->ops->remove(b, l.n[i]) == 0) {
				sfs_log(SFS_LOG_WARN,
					"removed pack %s that an interrupted writer never committed",
					name);
			}
		}
		free(x.referenced);
		if (r < 0)
			goto out_abort;
	}
	r = sfs_cat_discard_pending(t);
	if (r < 0)
		goto out_abort;
	r = sfs_txn_commit(t);
	goto out;
out_abort:
	sfs_txn_abort(t);
out:
	free(cand);
	listed_release(&l);
	return r;
}

/*
 * A repair (SFS_OPEN_REPAIR) first asks whether LMDB can read the catalog
 * at all, in a child so that a fault is an answer; a catalog that is
 * missing or unreadable is replaced by the catalog's copy before the
 * environment is opened.
 */
static int repair_begin(struct sfs_store *s)
{
	int cfd, r;

	if (!s->writable)
		return -EINVAL;
	cfd = open_subdir(s->dirfd, "catalog");
	if (cfd < 0)
		return cfd;
	r = sfs_catalog_probe(cfd, "data.mdb", NULL);
	if (r == -ENOENT || r == -EUCLEAN) {
		sfs_log(SFS_LOG_WARN, "%s: catalog/data.mdb %s", s->path,
			r == -ENOENT ? "is missing" : "cannot be read (LMDB reports damage or faults)");
		r = sfs_catalog_restore(s, cfd, s->damaged_name, sizeof(s->damaged_name));
		s->restored = r == 0;
	}
	close(cfd);
	return r;
}

/*
 * A repair marks the catalog before it changes anything and clears the
 * mark when done (sfs_store_repair_done). A catalog just restored from its
 * copy does not name the packs written after the copy, and recovery would
 * remove them as uncommitted: so an ordinary writer refuses a marked
 * catalog until a repair has indexed them.
 */
static int repair_mark(struct sfs_store *s, bool repairing)
{
	struct sfs_txn *t;
	uint64_t v;
	int r;

	r = sfs_txn_begin(s, repairing, &t);
	if (r < 0)
		return r;
	r = sfs_cat_meta_get(t, REPAIR_KEY, &v);
	if (!repairing) {
		sfs_txn_abort(t);
		if (r == 0)
			return sfs_log_errno(-EUCLEAN, "%s: a repair of the catalog was interrupted; "
						       "run 'snapfs check --repair' again",
					     s->path);
		return r == -ENOENT ? 0 : r;
	}
	r = sfs_cat_meta_put(t, REPAIR_KEY, 1);
	if (r == 0)
		r = sfs_txn_commit(t);
	else
		sfs_txn_abort(t);
	s->repair_pending = r == 0;
	return r;
}

int sfs_store_repair_done(struct sfs_txn *t)
{
	int r = sfs_cat_meta_del(t, REPAIR_KEY);

	if (r == -ENOENT)
		r = 0;
	if (r == 0 && sfs_txn_store(t)->has_pack_table)
		r = sfs_cat_meta_put(t, PACK_TABLE_KEY, 1);
	return r;
}

int sfs_store_open_cred(const char *path, int flags, const struct sfs_backend_ops *ops,
			const struct sfs_unlock *cred, struct sfs_store **ret)
{
	const struct sfs_backend_ops *configured = NULL;
	struct sfs_fsid fsid = { 0 };
	struct sfs_store *s;
	struct stat st;
	char state[4096];
	int r;

	sfs_rados_detail_clear();
	/* A writer hashes what it stores: libcrypto is loaded before it
	 * changes anything, so that a host without it stops here. */
	if (flags & SFS_OPEN_WRITE)
		sfs_crypto_load();
	if (sfs_rados_is_spec(path)) {
		r = rados_attach(path, state, sizeof(state));
		if (r < 0)
			return r;
		path = state;
	}
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -EMEDIUMTYPE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->writable = flags & SFS_OPEN_WRITE;
	s->record_only = s->writable && (flags & SFS_OPEN_RECORD);
	pthread_mutex_init(&s->rados_lock, NULL);
	s->path = strdup(path);
	if (!s->path) {
		r = -ENOMEM;
		goto fail;
	}
	/* The path itself may be a link (the caller's choice); nothing
	 * inside the store is followed. */
	s->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(s->dirfd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	s->owner = st.st_uid;
	r = sfs_fsid_enter(s->dirfd, &fsid);
	if (r < 0)
		goto fail;
	s->owner_only = fsid.switched;
	r = config_read(s, &configured);
	if (r < 0)
		goto fail;
	s->rados = !strcmp(configured->name, "rados");
	/* check's result on a RADOS store would take the cluster's writer
	 * lock and publish a whole catalog generation from whichever host
	 * ran the check: it is not recorded there. */
	if (s->rados && (flags & SFS_OPEN_RECORD)) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	/* Unlocked before the lock, the catalog or recovery: a wrong key
	 * opens nothing and changes nothing. */
	if (s->encrypted && !(flags & SFS_OPEN_RECORD)) {
		r = sfs_keys_unlock(s, cred);
		if (r < 0)
			goto fail;
	}
	r = sfs_chunkstore_new(s);
	if (r < 0)
		goto fail;
	s->backend.ops = ops ? ops : configured;
	r = s->backend.ops->open(&s->backend, s->dirfd, s->writable ? SFS_BACKEND_WRITE : 0);
	if (r < 0) {
		s->backend.ops = NULL;
		goto fail;
	}
	if (s->writable) {
		r = lock_take(s);
		if (r < 0)
			goto fail;
	}
	if (flags & SFS_OPEN_REPAIR) {
		r = repair_begin(s);
		if (r < 0)
			goto fail;
	}
	r = env_open(s, false);
	if (r < 0)
		goto fail;
	sfs_fsid_leave(&fsid);
	fsid.switched = false;
	if (s->writable)
		r = repair_mark(s, flags & SFS_OPEN_REPAIR);
	if (r < 0)
		goto fail;
	if (s->writable && !(flags & (SFS_OPEN_REPAIR | SFS_OPEN_RECORD))) {
		r = recover(s);
		if (r < 0)
			goto fail;
		sfs_catalog_reserve(s);
		sfs_space_reserve(s);
		s->keeps_reserve = true;
	}
	*ret = s;
	return 0;
fail:
	sfs_fsid_leave(&fsid);
	sfs_store_close(s);
	return r;
}

int sfs_store_open_with(const char *path, int flags, const struct sfs_backend_ops *ops,
			struct sfs_store **ret)
{
	return sfs_store_open_cred(path, flags, ops, NULL, ret);
}

int sfs_store_open(const char *path, int flags, struct sfs_store **ret)
{
	return sfs_store_open_cred(path, flags, NULL, NULL, ret);
}

int sfs_store_path_encrypted(const char *path)
{
	const struct sfs_backend_ops *ops;
	struct sfs_store s = { .path = (char *)path };
	int r;

	if (sfs_rados_is_spec(path))
		return 0; /* encryption on RADOS is refused at init */
	s.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.dirfd < 0)
		return errno == ENOTDIR ? -EMEDIUMTYPE : -errno;
	r = config_read(&s, &ops);
	close(s.dirfd);
	return r < 0 ? r : s.encrypted;
}

void sfs_store_close(struct sfs_store *s)
{
	if (!s)
		return;
	/* After every writer, whatever it changed (snapshots, deletes,
	 * images, gc): the copy a repair restores from. */
	sfs_catalog_copy_refresh(s);
	/* A writer that added chunks grew the packs the space reserve is
	 * sized from: grow the reserve with them now, not at the next open. */
	if (s->keeps_reserve && __atomic_load_n(&s->packs_grew, __ATOMIC_RELAXED))
		sfs_space_reserve(s);
	if (s->env)
		mdb_env_close(s->env);
	sfs_rados_catalog_close(s);
	if (s->backend.ops)
		s->backend.ops->close(&s->backend);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	if (s->dirfd > 0)
		close(s->dirfd);
	sfs_chunkstore_free(s);
	sfs_keyring_free(s->keyring);
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

int sfs_store_format_version(const struct sfs_store *s)
{
	return s->format_version;
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

struct sfs_backend *sfs_store_backend(struct sfs_store *s)
{
	return &s->backend;
}

static void maybe_revalidate(struct sfs_store *s)
{
	struct timespec ts;
	int64_t last;

	if (!s->backend.ops->revalidate)
		return;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	last = atomic_load_explicit(&s->revalidated, memory_order_relaxed);
	/* One thread a second wins the exchange and does the work. */
	if (ts.tv_sec != last &&
	    atomic_compare_exchange_strong(&s->revalidated, &last, (int64_t)ts.tv_sec))
		s->backend.ops->revalidate(&s->backend);
}

int sfs_store_read_record(struct sfs_store *s, const struct sfs_chunk_loc *loc,
			  const struct sfs_id *id, void *buf)
{
	maybe_revalidate(s);
	return sfs_pack_read(&s->backend, loc, id, buf);
}

int sfs_store_drop_pack_bytes(struct sfs_store *s, uint64_t pack)
{
	return s->backend.ops->drop ? s->backend.ops->drop(&s->backend, pack) : 0;
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

struct du {
	struct sfs_backend *b;
	uint64_t total;
};

static int du_rec(void *ctx, const struct sfs_pack_rec *p)
{
	struct du *d = ctx;
	struct sfs_pack_info info;

	if (p && d->b->ops->stat(d->b, p->number, &info) == 0)
		d->total += info.disk;
	return 0;
}

static int du_listed(void *ctx, uint64_t number, const struct sfs_pack_info *info)
{
	(void)number;
	((struct du *)ctx)->total += info->disk;
	return 0;
}

int sfs_store_disk_usage(struct sfs_store *s, uint64_t *ret_packs, uint64_t *ret_catalog)
{
	int cfd = open_subdir(s->dirfd, "catalog");
	struct du d = { &s->backend, 0 };
	struct sfs_txn *t;
	int r;

	if (cfd < 0)
		return cfd;
	*ret_catalog = du_dir(cfd);
	close(cfd);
	if (s->rados && !s->writable) {
		/* A reader's catalog is the fetched file, not catalog/. */
		struct stat st;
		int fd;

		if (mdb_env_get_fd(__atomic_load_n(&s->env, __ATOMIC_ACQUIRE), &fd) == 0 &&
		    fstat(fd, &st) == 0)
			*ret_catalog = (uint64_t)st.st_blocks * 512;
	}
	/* The packs the catalog knows; an older store opened read-only has
	 * no table yet and is listed instead. */
	r = sfs_txn_begin(s, false, &t);
	if (r < 0)
		return r;
	if (sfs_cat_has_pack_table(t))
		r = sfs_cat_pack_foreach(t, du_rec, &d);
	else
		r = s->backend.ops->list(&s->backend, du_listed, &d);
	sfs_txn_abort(t);
	*ret_packs = d.total;
	return r;
}

int sfs_store_break_lock(const char *path, char *ret, size_t cap)
{
	struct sfs_rados_params p;
	struct sfs_rados_conn *c;
	int dfd, r;

	sfs_rados_detail_clear();
	if (sfs_rados_is_spec(path)) {
		r = sfs_rados_spec_parse(path, &p);
	} else {
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		r = sfs_rados_params_read(dfd, &p);
		close(dfd);
	}
	if (r < 0)
		return -EMEDIUMTYPE;
	r = sfs_rados_connect(&p, &c);
	if (r < 0)
		return r;
	r = sfs_rados_lock_holder(c, ret, cap);
	if (r == 0 && !ret[0])
		r = -ENOENT;
	if (r == 0)
		r = sfs_rados_lock_break(c);
	sfs_rados_disconnect(c);
	return r;
}
