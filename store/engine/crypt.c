// SPDX-License-Identifier: MIT
/*
 * Cryptographic primitives, over OpenSSL 3's EVP interfaces: the SHA-256
 * of chunk ids, and an encrypted store's keys and seals. Every foreign failure is translated here, once: a tag that
 * does not match is -EBADMSG, anything else OpenSSL reports is -EIO (or
 * -ENOMEM for an allocation). Keys live in a keyring that is wiped when
 * freed; the per-thread contexts hold the expanded keys so that sealing a
 * chunk costs no key schedule.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "crypt_int.h"
#include "lazylib_int.h"

struct sfs_crypt_tctx {
	EVP_MAC_CTX *mac;     /* HMAC-SHA256 keyed with k_id */
	EVP_CIPHER_CTX *enc;  /* AES-256-GCM keyed with k_seal, encrypting */
	EVP_CIPHER_CTX *dec;  /* the same, decrypting */
};

/*
 * libcrypto is loaded on first use (lazylib_int.h): a mount of a plain
 * store reads records summed with XXH3 and chunks sealed with XXH3 sums,
 * so it never needs it, and not mapping it takes about 12 ms off a cold
 * start. It is set up without reading the system's openssl.cnf (snapfs
 * needs only the default provider), which would cost the first use
 * several milliseconds.
 */
#define LIBCRYPTO_FNS(X)                                                                           \
	X(EVP_CIPHER_CTX_ctrl)                                                                     \
	X(EVP_CIPHER_CTX_free)                                                                     \
	X(EVP_CIPHER_CTX_new)                                                                      \
	X(EVP_CipherFinal_ex)                                                                      \
	X(EVP_CipherInit_ex)                                                                       \
	X(EVP_CipherUpdate)                                                                        \
	X(EVP_DecryptFinal_ex)                                                                     \
	X(EVP_DecryptInit_ex)                                                                      \
	X(EVP_DecryptUpdate)                                                                       \
	X(EVP_EncryptFinal_ex)                                                                     \
	X(EVP_EncryptInit_ex)                                                                      \
	X(EVP_EncryptUpdate)                                                                       \
	X(EVP_KDF_CTX_free)                                                                        \
	X(EVP_KDF_CTX_new)                                                                         \
	X(EVP_KDF_derive)                                                                          \
	X(EVP_KDF_fetch)                                                                           \
	X(EVP_KDF_free)                                                                            \
	X(EVP_MAC_CTX_free)                                                                        \
	X(EVP_MAC_CTX_new)                                                                         \
	X(EVP_MAC_fetch)                                                                           \
	X(EVP_MAC_final)                                                                           \
	X(EVP_MAC_free)                                                                            \
	X(EVP_MAC_init)                                                                            \
	X(EVP_MAC_update)                                                                          \
	X(EVP_PBE_scrypt)                                                                          \
	X(EVP_aes_256_gcm)                                                                         \
	X(OPENSSL_init_crypto)                                                                     \
	X(OSSL_PARAM_construct_end)                                                                \
	X(OSSL_PARAM_construct_octet_string)                                                       \
	X(OSSL_PARAM_construct_utf8_string)                                                        \
	X(RAND_bytes)                                                                              \
	X(SHA256)

static void ossl_init(void);
SFS_LAZYLIB_INIT(ossl, "libcrypto.so.3", LIBCRYPTO_FNS, ossl_init);

static void ossl_init(void)
{
	ossl.OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

void sfs_crypto_load(void)
{
	sfs_lazylib_require(&ossl_lib);
}

void sfs_sha256(const void *data, size_t len, uint8_t out[32])
{
	sfs_crypto_load();
	/* The one-shot EVP path; it dispatches to SHA-NI/AVX2 code. */
	ossl.SHA256(data, len, out);
}

int sfs_random(void *buf, size_t len)
{
	sfs_crypto_load();
	return ossl.RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

int sfs_hkdf(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
	     const char *info, void *out, size_t out_len)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[5], *p = params;
	int r = -EIO;

	sfs_crypto_load();
	kdf = ossl.EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf ? ossl.EVP_KDF_CTX_new(kdf) : NULL;
	if (!ctx)
		goto out;
	*p++ = ossl.OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = ossl.OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ = ossl.OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	*p++ = ossl.OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*p = ossl.OSSL_PARAM_construct_end();
	if (ossl.EVP_KDF_derive(ctx, out, out_len, params) == 1)
		r = 0;
out:
	ossl.EVP_KDF_CTX_free(ctx);
	ossl.EVP_KDF_free(kdf);
	return r;
}

int sfs_scrypt(const void *pass, size_t pass_len, const void *salt, size_t salt_len, uint64_t n,
	       uint64_t r, uint64_t p, uint8_t out[SFS_KEY_LEN])
{
	/* scrypt needs 128 * r * (n + p) bytes; room for that and no more. */
	uint64_t maxmem = 128 * r * (n + p + 2) + (1 << 20);

	sfs_crypto_load();
	if (ossl.EVP_PBE_scrypt(pass, pass_len, salt, salt_len, n, r, p, maxmem, out, SFS_KEY_LEN) != 1)
		return -EINVAL;
	return 0;
}

static int gcm(bool seal, const uint8_t key[SFS_KEY_LEN], const uint8_t nonce[SFS_GCM_NONCE],
	       const void *aad, size_t aad_len, const void *in, size_t len, void *out,
	       uint8_t tag[SFS_GCM_TAG])
{
	EVP_CIPHER_CTX *ctx;
	int n, r = -EIO;

	sfs_crypto_load();
	ctx = ossl.EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (ossl.EVP_CipherInit_ex(ctx, ossl.EVP_aes_256_gcm(), NULL, key, nonce, seal) != 1)
		goto out;
	if (aad_len && ossl.EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len && ossl.EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!seal && ossl.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SFS_GCM_TAG, tag) != 1)
		goto out;
	if (ossl.EVP_CipherFinal_ex(ctx, (uint8_t *)out + len, &n) != 1) {
		r = seal ? -EIO : -EBADMSG;
		goto out;
	}
	if (seal && ossl.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SFS_GCM_TAG, tag) != 1)
		goto out;
	r = 0;
out:
	ossl.EVP_CIPHER_CTX_free(ctx);
	return r;
}

int sfs_gcm_seal(const uint8_t key[SFS_KEY_LEN], const uint8_t nonce[SFS_GCM_NONCE],
		 const void *aad, size_t aad_len, const void *in, size_t len, void *out,
		 uint8_t tag[SFS_GCM_TAG])
{
	return gcm(true, key, nonce, aad, aad_len, in, len, out, tag);
}

int sfs_gcm_open(const uint8_t key[SFS_KEY_LEN], const uint8_t nonce[SFS_GCM_NONCE],
		 const void *aad, size_t aad_len, const void *in, size_t len, void *out,
		 const uint8_t tag[SFS_GCM_TAG])
{
	return gcm(false, key, nonce, aad, aad_len, in, len, out, (uint8_t *)tag);
}

int sfs_keyring_new(const uint8_t master[SFS_KEY_LEN], struct sfs_keyring **ret)
{
	struct sfs_keyring *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	memcpy(k->master, master, SFS_KEY_LEN);
	/* Distinct info strings: the subkeys are independent, and the
	 * fingerprint reveals nothing about either. */
	r = sfs_hkdf(master, SFS_KEY_LEN, NULL, 0, "snapfs v1 chunk id", k->k_id, SFS_KEY_LEN);
	if (r == 0)
		r = sfs_hkdf(master, SFS_KEY_LEN, NULL, 0, "snapfs v1 chunk seal", k->k_seal,
			     SFS_KEY_LEN);
	if (r == 0)
		r = sfs_hkdf(master, SFS_KEY_LEN, NULL, 0, "snapfs v1 key id", k->key_id,
			     SFS_KEY_ID_LEN);
	if (r < 0) {
		sfs_keyring_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

void sfs_keyring_free(struct sfs_keyring *k)
{
	if (!k)
		return;
	explicit_bzero(k, sizeof(*k));
	free(k);
}

struct sfs_crypt_tctx *sfs_crypt_tctx_new(const struct sfs_keyring *k)
{
	struct sfs_crypt_tctx *c = calloc(1, sizeof(*c));
	EVP_MAC *mac;
	OSSL_PARAM params[2];

	sfs_crypto_load();
	mac = ossl.EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!c || !mac)
		goto fail;
	c->mac = ossl.EVP_MAC_CTX_new(mac);
	c->enc = ossl.EVP_CIPHER_CTX_new();
	c->dec = ossl.EVP_CIPHER_CTX_new();
	if (!c->mac || !c->enc || !c->dec)
		goto fail;
	params[0] = ossl.OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = ossl.OSSL_PARAM_construct_end();
	if (ossl.EVP_MAC_init(c->mac, k->k_id, SFS_KEY_LEN, params) != 1)
		goto fail;
	/* Key schedules once; each chunk sets only its nonce. */
	if (ossl.EVP_EncryptInit_ex(c->enc, ossl.EVP_aes_256_gcm(), NULL, k->k_seal, NULL) != 1 ||
	    ossl.EVP_DecryptInit_ex(c->dec, ossl.EVP_aes_256_gcm(), NULL, k->k_seal, NULL) != 1)
		goto fail;
	ossl.EVP_MAC_free(mac);
	return c;
fail:
	ossl.EVP_MAC_free(mac);
	sfs_crypt_tctx_free(c);
	return NULL;
}

void sfs_crypt_tctx_free(struct sfs_crypt_tctx *c)
{
	if (!c)
		return;
	ossl.EVP_MAC_CTX_free(c->mac);
	ossl.EVP_CIPHER_CTX_free(c->enc);
	ossl.EVP_CIPHER_CTX_free(c->dec);
	free(c);
}

int sfs_crypt_id(struct sfs_crypt_tctx *c, const void *data, size_t len,
		 uint8_t out[SFS_KEY_LEN])
{
	size_t n = 0;

	/* A NULL key re-initialises with the key already set. */
	if (ossl.EVP_MAC_init(c->mac, NULL, 0, NULL) != 1 || ossl.EVP_MAC_update(c->mac, data, len) != 1 ||
	    ossl.EVP_MAC_final(c->mac, out, &n, SFS_KEY_LEN) != 1 || n != SFS_KEY_LEN)
		return -EIO;
	return 0;
}

int sfs_crypt_seal(struct sfs_crypt_tctx *c, const void *aad, size_t aad_len, uint8_t *buf,
		   size_t len)
{
	uint8_t *text = buf + SFS_GCM_NONCE;
	int n;

	if (sfs_random(buf, SFS_GCM_NONCE) < 0)
		return -EIO;
	if (ossl.EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, buf) != 1 ||
	    ossl.EVP_EncryptUpdate(c->enc, NULL, &n, aad, (int)aad_len) != 1 ||
	    ossl.EVP_EncryptUpdate(c->enc, text, &n, text, (int)len) != 1 ||
	    ossl.EVP_EncryptFinal_ex(c->enc, text + len, &n) != 1 ||
	    ossl.EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_GET_TAG, SFS_GCM_TAG, text + len) != 1)
		return -EIO;
	return 0;
}

int sfs_crypt_open(struct sfs_crypt_tctx *c, const void *aad, size_t aad_len,
		   const uint8_t *sealed, size_t sealed_len, void *out)
{
	size_t len;
	int n;

	if (sealed_len < SFS_GCM_NONCE + SFS_GCM_TAG)
		return -EBADMSG;
	len = sealed_len - SFS_GCM_NONCE - SFS_GCM_TAG;
	if (ossl.EVP_DecryptInit_ex(c->dec, NULL, NULL, NULL, sealed) != 1 ||
	    ossl.EVP_DecryptUpdate(c->dec, NULL, &n, aad, (int)aad_len) != 1 ||
	    ossl.EVP_DecryptUpdate(c->dec, out, &n, sealed + SFS_GCM_NONCE, (int)len) != 1 ||
	    ossl.EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_GCM_SET_TAG, SFS_GCM_TAG,
				(void *)(sealed + SFS_GCM_NONCE + len)) != 1)
		return -EIO;
	if (ossl.EVP_DecryptFinal_ex(c->dec, (uint8_t *)out + len, &n) != 1)
		return -EBADMSG;
	return 0;
}
