/* SPDX-License-Identifier: MIT */
/*
 * The RADOS backend's private interface for the store (store.c,
 * catalog_rados.c): connecting to a pool, whole-object get and put for the
 * store's own objects (config, catalog copies, head), and the writer lock.
 * Object layout and protocol: store/FORMAT.md "Stores on RADOS".
 */
#ifndef SFS_RADOS_INT_H
#define SFS_RADOS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfs/backend.h"

/* Where the store lives: the file STORE/rados of a store's local state
 * directory, or a "rados:POOL?conf=F&user=U" spec. */
struct sfs_rados_params {
	char pool[128];
	char conf[1024];
	char user[128]; /* "client.X"; "" for client.admin */
};

#define SFS_RADOS_PARAMS_FILE "rados"
#define SFS_RADOS_OBJ_CONFIG  "snapfs.config"
#define SFS_RADOS_OBJ_HEAD    "snapfs.head"
#define SFS_RADOS_OBJ_LOCK    "snapfs.lock"

#ifdef SFS_HAVE_RADOS
extern const struct sfs_backend_ops sfs_backend_rados;
#endif

/* Says why a RADOS call failed, for sfs_store_error_detail (and the
 * debug log). */
void sfs_rados_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void sfs_rados_detail_clear(void);

/* True when path is a store spec "rados:..." rather than a directory. */
bool sfs_rados_is_spec(const char *path);
/* Parses "rados:POOL?conf=F[&user=U]": 0 or -EINVAL. */
int sfs_rados_spec_parse(const char *spec, struct sfs_rados_params *p);
int sfs_rados_params_read(int dirfd, struct sfs_rados_params *p);
int sfs_rados_params_write(int dirfd, const struct sfs_rados_params *p);

/* A connection of its own (for init and for attaching a host to a store
 * before its backend is open). NULL handle: not built with RADOS
 * (-EPROTONOSUPPORT). Errors are logged in one line each. */
struct sfs_rados_conn;
int sfs_rados_connect(const struct sfs_rados_params *p, struct sfs_rados_conn **ret);
void sfs_rados_disconnect(struct sfs_rados_conn *c);
/* The connection of an open RADOS backend (NULL for another backend). */
struct sfs_rados_conn *sfs_rados_backend_conn(struct sfs_backend *b);

/* Whole objects: get (malloc'd, *ret_len; -ENOENT), put (write_full, or
 * an exclusive create when excl: -EEXIST), remove. */
int sfs_rados_get(struct sfs_rados_conn *c, const char *oid, size_t max, char **ret,
		  size_t *ret_len);
int sfs_rados_put(struct sfs_rados_conn *c, const char *oid, const void *buf, size_t len,
		  bool excl);
int sfs_rados_remove(struct sfs_rados_conn *c, const char *oid);
/* Names of the objects whose names begin with prefix (a NULL-terminated
 * array, free with sfs_rados_names_free). */
int sfs_rados_list_prefix(struct sfs_rados_conn *c, const char *prefix, char ***ret);
void sfs_rados_names_free(char **names);

/* The store's writer lock object: "host HOST pid PID" of the holder in
 * ret (cap bytes), "" when unlocked. Break: removes whatever lock is
 * held. */
int sfs_rados_lock_holder(struct sfs_rados_conn *c, char *ret, size_t cap);
int sfs_rados_lock_break(struct sfs_rados_conn *c);

/* Invalidates what the backend cached of packs that may still change
 * (called when a newer catalog is loaded). */
void sfs_rados_backend_new_epoch(struct sfs_backend *b);
/* RADOS read operations this process issued (for figures and tests). */
uint64_t sfs_rados_read_ops(void);

#endif
