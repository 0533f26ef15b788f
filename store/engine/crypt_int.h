/* SPDX-License-Identifier: MIT */
/*
 * The cryptography of an encrypted store, as small primitives over
 * OpenSSL libcrypto: key derivation (HKDF-SHA256, scrypt), one-shot
 * AES-256-GCM for wrapping the master key, and a per-thread context that
 * names chunks (HMAC-SHA256 under the id key) and seals and opens their
 * stored bytes (AES-256-GCM under the seal key). The construction and the
 * reasons for it are in store/FORMAT.md, "Encryption".
 */
#ifndef SFS_CRYPT_INT_H
#define SFS_CRYPT_INT_H

#include <stddef.h>
#include <stdint.h>

#define SFS_KEY_LEN 32
#define SFS_KEY_ID_LEN 16
#define SFS_GCM_NONCE 12
#define SFS_GCM_TAG 16

/* An unlocked store's keys. Wiped by sfs_keyring_free. */
struct sfs_keyring {
	uint8_t master[SFS_KEY_LEN];
	uint8_t k_id[SFS_KEY_LEN];   /* chunk ids: HMAC-SHA256 key */
	uint8_t k_seal[SFS_KEY_LEN]; /* chunk records: AES-256-GCM key */
	uint8_t key_id[SFS_KEY_ID_LEN]; /* public fingerprint of the master key */
	char unlocked_by[32];        /* id of the wrapping that opened it */
};

/* Derives the subkeys and fingerprint from master into a new keyring
 * (*ret, freed with sfs_keyring_free). 0, -ENOMEM or -EIO. */
int sfs_keyring_new(const uint8_t master[SFS_KEY_LEN], struct sfs_keyring **ret);
void sfs_keyring_free(struct sfs_keyring *k); /* accepts NULL; wipes */

/* HKDF-SHA256 (RFC 5869) of ikm with salt (may be empty) and the text
 * info into out_len bytes. 0 or -EIO. */
int sfs_hkdf(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
	     const char *info, void *out, size_t out_len);

/* scrypt of a passphrase into 32 bytes. 0, -EINVAL (parameters OpenSSL
 * refuses), -ENOMEM. */
int sfs_scrypt(const void *pass, size_t pass_len, const void *salt, size_t salt_len, uint64_t n,
	       uint64_t r, uint64_t p, uint8_t out[SFS_KEY_LEN]);

/* Loads libcrypto on first use (every function here does; a process that
 * cannot load it ends with a message, as it would at start-up). */
void sfs_crypto_load(void);

/* SHA-256 of len bytes into out. */
void sfs_sha256(const void *data, size_t len, uint8_t out[32]);

/* len random bytes from OpenSSL's DRBG. 0 or -EIO. */
int sfs_random(void *buf, size_t len);

/* One-shot AES-256-GCM of len bytes (in and out may be equal). open
 * returns -EBADMSG when the tag does not match. */
int sfs_gcm_seal(const uint8_t key[SFS_KEY_LEN], const uint8_t nonce[SFS_GCM_NONCE],
		 const void *aad, size_t aad_len, const void *in, size_t len, void *out,
		 uint8_t tag[SFS_GCM_TAG]);
int sfs_gcm_open(const uint8_t key[SFS_KEY_LEN], const uint8_t nonce[SFS_GCM_NONCE],
		 const void *aad, size_t aad_len, const void *in, size_t len, void *out,
		 const uint8_t tag[SFS_GCM_TAG]);

/* One thread's keyed contexts: not thread-safe, one per thread. */
struct sfs_crypt_tctx;
struct sfs_crypt_tctx *sfs_crypt_tctx_new(const struct sfs_keyring *k); /* NULL: no memory */
void sfs_crypt_tctx_free(struct sfs_crypt_tctx *c);                    /* accepts NULL */

/* HMAC-SHA256 of data under k_id. 0 or -EIO. */
int sfs_crypt_id(struct sfs_crypt_tctx *c, const void *data, size_t len,
		 uint8_t out[SFS_KEY_LEN]);

/*
 * Seals buf in place: buf holds SFS_GCM_NONCE free bytes, then len bytes
 * of plaintext, then SFS_GCM_TAG free bytes. A fresh random nonce goes in
 * front, the tag behind; aad is authenticated with it. 0 or -EIO.
 */
int sfs_crypt_seal(struct sfs_crypt_tctx *c, const void *aad, size_t aad_len, uint8_t *buf,
		   size_t len);

/* Opens sealed bytes (nonce, ciphertext, tag: sealed_len in all) into out
 * (sealed_len - SFS_GCM_NONCE - SFS_GCM_TAG bytes). -EBADMSG when too
 * short or the tag does not match (out is then unspecified). */
int sfs_crypt_open(struct sfs_crypt_tctx *c, const void *aad, size_t aad_len,
		   const uint8_t *sealed, size_t sealed_len, void *out);

#endif
