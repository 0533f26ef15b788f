// SPDX-License-Identifier: MIT
/*
 * Cryptographic primitives of an encrypted store, over OpenSSL 3's EVP
 * interfaces. Every foreign failure is translated here, once: a tag that
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

#include "crypt_int.h"

struct sfs_crypt_tctx {
	EVP_MAC_CTX *mac;     /* HMAC-SHA256 keyed with k_id */
	EVP_CIPHER_CTX *enc;  /* AES-256-GCM keyed with k_seal, encrypting */
	EVP_CIPHER_CTX *dec;  /* the same, decrypting */
};

int sfs_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

int sfs_hkdf(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
	     const char *info, void *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int r = -EIO;

	if (!ctx)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		r = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

int sfs_scrypt(const void *pass, size_t pass_len, const void *salt, size_t salt_len, uint64_t n,
	       uint64_t r, uint64_t p, uint8_t out[SFS_KEY_LEN])
{
	/* scrypt needs 128 * r * (n + p) bytes; room for that and no more. */
	uint64_t maxmem = 128 * r * (n + p + 2) + (1 << 20);

	if (EVP_PBE_scrypt(pass, pass_len, salt, salt_len, n, r, p, maxmem, out, SFS_KEY_LEN) != 1)
		return -EINVAL;
	return 0;
}

static int gcm(bool seal, const uint8_t key[SFS_KEY_LEN], const uint8_t nonce[SFS_GCM_NONCE],
	       const void *aad, size_t aad_len, const void *in, size_t len, void *out,
	       uint8_t tag[SFS_GCM_TAG])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, r = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, seal) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SFS_GCM_TAG, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, (uint8_t *)out + len, &n) != 1) {
		r = seal ? -EIO : -EBADMSG;
		goto out;
	}
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SFS_GCM_TAG, tag) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
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
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

struct sfs_crypt_tctx *sfs_crypt_tctx_new(const struct sfs_keyring *k)
{
	struct sfs_crypt_tctx *c = calloc(1, sizeof(*c));
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM params[2];

	if (!c || !mac)
		goto fail;
	c->mac = EVP_MAC_CTX_new(mac);
	c->enc = EVP_CIPHER_CTX_new();
	c->dec = EVP_CIPHER_CTX_new();
	if (!c->mac || !c->enc || !c->dec)
		goto fail;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(c->mac, k->k_id, SFS_KEY_LEN, params) != 1)
		goto fail;
	/* Key schedules once; each chunk sets only its nonce. */
	if (EVP_EncryptInit_ex(c->enc, EVP_aes_256_gcm(), NULL, k->k_seal, NULL) != 1 ||
	    EVP_DecryptInit_ex(c->dec, EVP_aes_256_gcm(), NULL, k->k_seal, NULL) != 1)
		goto fail;
	EVP_MAC_free(mac);
	return c;
fail:
	EVP_MAC_free(mac);
	sfs_crypt_tctx_free(c);
	return NULL;
}

void sfs_crypt_tctx_free(struct sfs_crypt_tctx *c)
{
	if (!c)
		return;
	EVP_MAC_CTX_free(c->mac);
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	free(c);
}

int sfs_crypt_id(struct sfs_crypt_tctx *c, const void *data, size_t len,
		 uint8_t out[SFS_KEY_LEN])
{
	size_t n = 0;

	/* A NULL key re-initialises with the key already set. */
	if (EVP_MAC_init(c->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(c->mac, data, len) != 1 ||
	    EVP_MAC_final(c->mac, out, &n, SFS_KEY_LEN) != 1 || n != SFS_KEY_LEN)
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
	if (EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, buf) != 1 ||
	    EVP_EncryptUpdate(c->enc, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_EncryptUpdate(c->enc, text, &n, text, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c->enc, text + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_GET_TAG, SFS_GCM_TAG, text + len) != 1)
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
	if (EVP_DecryptInit_ex(c->dec, NULL, NULL, NULL, sealed) != 1 ||
	    EVP_DecryptUpdate(c->dec, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_DecryptUpdate(c->dec, out, &n, sealed + SFS_GCM_NONCE, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_GCM_SET_TAG, SFS_GCM_TAG,
				(void *)(sealed + SFS_GCM_NONCE + len)) != 1)
		return -EIO;
	if (EVP_DecryptFinal_ex(c->dec, (uint8_t *)out + len, &n) != 1)
		return -EBADMSG;
	return 0;
}
