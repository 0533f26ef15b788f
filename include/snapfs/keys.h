/* SPDX-License-Identifier: MIT */
/*
 * Encrypted stores: the credentials that unlock one, and the verbs that
 * manage its key wrappings. An encrypted store has one random master key,
 * kept on disk only wrapped (STORE/keys): by a key derived from a
 * passphrase (scrypt) or from a key file's bytes (HKDF). Several
 * wrappings may exist; each one alone unlocks the store. Managing them
 * rewraps the master key and never touches the data. The construction is
 * in store/FORMAT.md, "Encryption".
 *
 * A credential is given to sfs_store_open_cred; a plain store ignores it.
 */
#ifndef SNAPFS_KEYS_H
#define SNAPFS_KEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "snapfs/store.h"

#define SFS_PASSPHRASE_MAX 1024
#define SFS_KEY_FILE_MIN 16
#define SFS_KEY_FILE_MAX 4096
#define SFS_WRAP_ID_SIZE 32

/*
 * What unlocks an encrypted store: the bytes of a key file, or a
 * passphrase, or, when neither is set, a callback that asks for a
 * passphrase (e.g. on the terminal) and is called only for an encrypted
 * store. The callback writes a NUL-terminated passphrase into buf (cap
 * bytes) and returns 0, or -ENOKEY when it has none to give. All borrowed
 * for the length of the call they are passed to.
 */
struct sfs_unlock {
	const void *key;        /* key file bytes (SFS_KEY_FILE_MIN .. _MAX), or NULL */
	size_t key_len;
	const char *passphrase; /* or NULL */
	int (*ask)(void *ctx, const char *store_path, char *buf, size_t cap);
	void *ask_ctx;
};

/*
 * Reads a key file (a path a user names: links are followed) into a
 * malloc'd buffer the caller frees with sfs_key_free. 0, -EINVAL (shorter
 * than SFS_KEY_FILE_MIN), -EFBIG (longer than SFS_KEY_FILE_MAX), -errno.
 */
int sfs_key_file_read(const char *path, void **ret, size_t *ret_len);
/* Wipes and frees len bytes of key material. Accepts NULL. */
void sfs_key_free(void *key, size_t len);

/*
 * sfs_store_open with a credential for an encrypted store (cred may be
 * NULL). Besides sfs_store_open's errors: -ENOKEY (encrypted, and no
 * credential was given or the callback had none), -EKEYREJECTED (no
 * wrapping opens with it: a wrong key or passphrase). The store is
 * unlocked before anything else is opened, so a refused credential
 * changes nothing. ops as in sfs_store_open_with (NULL: the config's).
 */
struct sfs_backend_ops;
int sfs_store_open_cred(const char *path, int flags, const struct sfs_backend_ops *ops,
			const struct sfs_unlock *cred, struct sfs_store **ret);

/* 1 when the store at path is encrypted, 0 when not, -errno as
 * sfs_store_open when path is not a readable store. Needs no key. */
int sfs_store_path_encrypted(const char *path);

bool sfs_store_encrypted(const struct sfs_store *s);
/* The master key's public fingerprint, 32 hex digits and a NUL (buf >=
 * 33); "" for a plain store. Two stores share a master key exactly when
 * their fingerprints are equal. */
void sfs_store_key_id(const struct sfs_store *s, char *buf);
/* Whether chunks of a and b have the same ids and stored bytes: both
 * plain, or both encrypted under the same master key. */
bool sfs_store_same_key(const struct sfs_store *a, const struct sfs_store *b);

/*
 * The wrappings of the store at path, without its key: a JSON array of
 * objects {"id", "kind" ("passphrase" or "key-file"), "kdf", "created",
 * and for scrypt "n", "r", "p"}; *ret is the caller's (json_decref).
 * -ENOKEY for a plain store (it has none), -EBADMSG for a damaged keys
 * file, -errno.
 */
int sfs_store_keys_list(const char *path, json_t **ret);

/*
 * Adds a wrapping of s's master key made with cred (its key or
 * passphrase; the callback is not used) and returns its id in ret_id
 * (SFS_WRAP_ID_SIZE). s must be an unlocked encrypted store opened for
 * writing (the writer lock keeps key changes from racing). The keys file
 * is replaced in one atomic step. 0, -EINVAL (no usable credential, or a
 * plain store), -EROFS, -errno.
 */
int sfs_store_key_add(struct sfs_store *s, const struct sfs_unlock *cred, char *ret_id);

/*
 * Replaces the wrapping that unlocked s with one made with cred, in one
 * atomic replacement of the keys file: after a crash either the old or
 * the new credential unlocks the store, never neither. -EINVAL as
 * sfs_store_key_add; -EMEDIUMTYPE when the store was not unlocked by a
 * wrapping of cred's kind (changing a passphrase needs the passphrase).
 */
int sfs_store_key_change(struct sfs_store *s, const struct sfs_unlock *cred, char *ret_id);

/* Removes wrapping id. -ENOENT (no such wrapping), -EBUSY (the last one:
 * the store would be locked for ever), -EROFS, -errno. */
int sfs_store_key_remove(struct sfs_store *s, const char *id);

#endif
