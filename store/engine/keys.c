// SPDX-License-Identifier: MIT
/*
 * The wrappings of an encrypted store's master key (STORE/keys) and the
 * verbs on them: unlock at open, create at init, add, change and remove.
 * The file is one summed JSON record, replaced only whole through the
 * atomic-write helper (temp, fsync, rename, fsync dir), so every change
 * is one rename: after a crash the old set or the new set is on disk,
 * never a mix and never neither. Changing a wrapping never touches the
 * master key, so no chunk is rewritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "crypt_int.h"
#include "snapfs/catalog.h"
#include "snapfs/keys.h"
#include "snapfs/log.h"
#include "store_int.h"
#include "util_int.h"

#define KEYS_NAME "keys"
#define KEYS_MAX (256u << 10)
#define KEYS_VERSION 1
#define SALT_LEN 16
/* scrypt cost of a new passphrase wrapping: 32 MiB and about 0.1 s, the
 * interactive figure of the scrypt paper scaled to today's machines. */
#define SCRYPT_N (1u << 15)
#define SCRYPT_R 8u
#define SCRYPT_P 1u
#define KIND_PASS "passphrase"
#define KIND_FILE "key-file"
#define KDF_SCRYPT "scrypt"
#define KDF_HKDF "hkdf-sha256"

/* ---- hex ---- */

static void hex_put(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int hex_get(json_t *o, const char *key, uint8_t *out, size_t n)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (!s || strlen(s) != 2 * n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
		    !strchr("0123456789abcdef", s[2 * i + 1]))
			return -EBADMSG;
		out[i] = (uint8_t)v;
	}
	return 0;
}

void sfs_key_free(void *key, size_t len)
{
	if (!key)
		return;
	explicit_bzero(key, len);
	free(key);
}

int sfs_key_file_read(const char *path, void **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	int r = sfs_read_file(AT_FDCWD, path, SFS_KEY_FILE_MAX, &buf, &len);

	if (r < 0)
		return r;
	if (len < SFS_KEY_FILE_MIN) {
		sfs_key_free(buf, len);
		return -EINVAL;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ---- one wrapping ---- */

/* The parameters a wrapping is made with, from its record or for a new one. */
struct wrap {
	char id[SFS_WRAP_ID_SIZE];
	const char *kind, *kdf;
	uint64_t n, r, p;
	uint8_t salt[SALT_LEN];
	uint8_t nonce[SFS_GCM_NONCE];
	uint8_t wrapped[SFS_KEY_LEN + SFS_GCM_TAG];
};

/* Everything but the wrapped bytes is authenticated with them, so a
 * record whose kind, cost or salt was changed does not open. */
static void wrap_aad(const struct wrap *w, char *buf, size_t cap)
{
	char salt[2 * SALT_LEN + 1];

	hex_put(w->salt, SALT_LEN, salt);
	snprintf(buf, cap, "snapfs v1 wrap %s %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %s", w->id,
		 w->kind, w->kdf, w->n, w->r, w->p, salt);
}

static bool cred_is_file(const struct sfs_unlock *c)
{
	return c->key != NULL;
}

/* The key that wraps the master key, from the credential. */
static int wrap_kek(const struct wrap *w, const struct sfs_unlock *c, uint8_t kek[SFS_KEY_LEN])
{
	if (!strcmp(w->kind, KIND_FILE))
		return sfs_hkdf(c->key, c->key_len, w->salt, SALT_LEN, "snapfs v1 key-file wrap",
				kek, SFS_KEY_LEN);
	return sfs_scrypt(c->passphrase, strlen(c->passphrase), w->salt, SALT_LEN, w->n, w->r,
			  w->p, kek);
}

static int wrap_parse(json_t *o, struct wrap *w)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *kind = json_string_value(json_object_get(o, "kind"));
	const char *kdf = json_string_value(json_object_get(o, "kdf"));

	memset(w, 0, sizeof(*w));
	if (!json_is_object(o) || !id || !kind || !kdf || strlen(id) >= sizeof(w->id))
		return -EBADMSG;
	memcpy(w->id, id, strlen(id) + 1);
	if (!strcmp(kind, KIND_FILE) && !strcmp(kdf, KDF_HKDF)) {
		w->kind = KIND_FILE;
		w->kdf = KDF_HKDF;
	} else if (!strcmp(kind, KIND_PASS) && !strcmp(kdf, KDF_SCRYPT)) {
		json_t *n = json_object_get(o, "n"), *r = json_object_get(o, "r"),
		       *p = json_object_get(o, "p");

		w->kind = KIND_PASS;
		w->kdf = KDF_SCRYPT;
		if (!json_is_integer(n) || !json_is_integer(r) || !json_is_integer(p))
			return -EBADMSG;
		w->n = (uint64_t)json_integer_value(n);
		w->r = (uint64_t)json_integer_value(r);
		w->p = (uint64_t)json_integer_value(p);
		/* A damaged or hostile record must not make us allocate
		 * gigabytes or spin for hours. */
		if (w->n < 1024 || w->n > (1u << 20) || (w->n & (w->n - 1)) || w->r < 1 ||
		    w->r > 32 || w->p < 1 || w->p > 16 || 128 * w->r * w->n > (1ull << 30))
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	if (hex_get(o, "salt", w->salt, SALT_LEN) < 0 ||
	    hex_get(o, "nonce", w->nonce, SFS_GCM_NONCE) < 0 ||
	    hex_get(o, "wrapped", w->wrapped, sizeof(w->wrapped)) < 0)
		return -EBADMSG;
	return 0;
}

/* A new wrapping of master with the credential, as a record. */
static int wrap_new(const uint8_t master[SFS_KEY_LEN], const struct sfs_unlock *c, json_t **ret)
{
	struct wrap w = { 0 };
	uint8_t kek[SFS_KEY_LEN];
	char aad[256], salt[2 * SALT_LEN + 1], nonce[2 * SFS_GCM_NONCE + 1],
		wrapped[2 * sizeof(w.wrapped) + 1];
	json_t *o;
	int r;

	if (!c || (!c->key && !c->passphrase))
		return -EINVAL;
	r = sfs_idstr_new("key-", w.id);
	if (r < 0)
		return r;
	if (cred_is_file(c)) {
		w.kind = KIND_FILE;
		w.kdf = KDF_HKDF;
	} else {
		w.kind = KIND_PASS;
		w.kdf = KDF_SCRYPT;
		w.n = SCRYPT_N;
		w.r = SCRYPT_R;
		w.p = SCRYPT_P;
	}
	r = sfs_random(w.salt, SALT_LEN);
	if (r == 0)
		r = sfs_random(w.nonce, SFS_GCM_NONCE);
	if (r == 0)
		r = wrap_kek(&w, c, kek);
	if (r < 0)
		goto out;
	wrap_aad(&w, aad, sizeof(aad));
	r = sfs_gcm_seal(kek, w.nonce, aad, strlen(aad), master, SFS_KEY_LEN, w.wrapped,
			 w.wrapped + SFS_KEY_LEN);
	if (r < 0)
		goto out;
	hex_put(w.salt, SALT_LEN, salt);
	hex_put(w.nonce, SFS_GCM_NONCE, nonce);
	hex_put(w.wrapped, sizeof(w.wrapped), wrapped);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", w.id, "kind", w.kind, "kdf",
		      w.kdf, "salt", salt, "nonce", nonce, "wrapped", wrapped, "created",
		      (json_int_t)time(NULL));
	if (o && w.n)
		json_object_update_new(o, json_pack("{s:I, s:I, s:I}", "n", (json_int_t)w.n, "r",
						    (json_int_t)w.r, "p", (json_int_t)w.p));
	r = o ? 0 : -ENOMEM;
	*ret = o;
out:
	explicit_bzero(kek, sizeof(kek));
	return r;
}

/* ---- the keys file ---- */

/* The wrappings array of the keys file in dirfd (*ret, caller decrefs). */
static int keys_load(int dirfd, json_t **ret)
{
	char *text = NULL;
	size_t len = 0;
	json_t *o, *arr;
	int r = sfs_read_store_file(dirfd, KEYS_NAME, KEYS_MAX, &text, &len);

	if (r == -ENOENT) {
		sfs_log(SFS_LOG_ERR, "the store is encrypted but its keys file is missing");
		return -EKEYREJECTED;
	}
	if (r < 0)
		return r;
	o = sfs_record_loads(text, len, KEYS_VERSION, NULL);
	free(text);
	arr = o ? json_object_get(o, "wrappings") : NULL;
	if (!json_is_array(arr)) {
		json_decref(o);
		sfs_log(SFS_LOG_ERR, "the store's keys file is damaged");
		return -EBADMSG;
	}
	json_incref(arr);
	json_decref(o);
	*ret = arr;
	return 0;
}

static int keys_save(int dirfd, json_t *wrappings)
{
	char *text = sfs_record_dumps(json_pack("{s:O}", "wrappings", wrappings), KEYS_VERSION);
	int r;

	if (!text)
		return -ENOMEM;
	/* 0600: a passphrase wrapping is what an offline guesser needs. */
	r = sfs_write_file_atomic_mode(dirfd, KEYS_NAME, text, strlen(text), 0600);
	free(text);
	return r;
}

/* Tries every wrapping of the credential's kind; the master key of the
 * first that opens into master, its id into ret_id. */
static int keys_unwrap(json_t *wrappings, const struct sfs_unlock *c, uint8_t master[SFS_KEY_LEN],
		       char ret_id[SFS_WRAP_ID_SIZE])
{
	const char *want = cred_is_file(c) ? KIND_FILE : KIND_PASS;
	json_t *o;
	size_t i;
	int r = -EKEYREJECTED;

	json_array_foreach(wrappings, i, o) {
		struct wrap w;
		uint8_t kek[SFS_KEY_LEN];
		char aad[256];
		int q;

		if (wrap_parse(o, &w) < 0) {
			sfs_log(SFS_LOG_WARN, "keys: wrapping %zu is malformed; skipped", i);
			continue;
		}
		if (strcmp(w.kind, want))
			continue;
		q = wrap_kek(&w, c, kek);
		if (q < 0) {
			r = q;
			continue;
		}
		wrap_aad(&w, aad, sizeof(aad));
		q = sfs_gcm_open(kek, w.nonce, aad, strlen(aad), w.wrapped, SFS_KEY_LEN, master,
				 w.wrapped + SFS_KEY_LEN);
		explicit_bzero(kek, sizeof(kek));
		if (q == 0) {
			memcpy(ret_id, w.id, SFS_WRAP_ID_SIZE);
			return 0;
		}
	}
	return r;
}

/* The credential to use: as given, or a passphrase asked for into buf. */
static int cred_resolve(const char *path, const struct sfs_unlock *in, struct sfs_unlock *out,
			char *buf)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (in && (in->key || in->passphrase)) {
		*out = *in;
		return 0;
	}
	if (!in || !in->ask)
		return -ENOKEY;
	r = in->ask(in->ask_ctx, path, buf, SFS_PASSPHRASE_MAX);
	if (r < 0)
		return r;
	out->passphrase = buf;
	return 0;
}

/* Unlocks with cred the master key of the store whose keys are in dirfd;
 * it must have the fingerprint want (NULL: any). */
static int unlock_dir(int dirfd, const char *path, const uint8_t *want,
		      const struct sfs_unlock *cred, struct sfs_keyring **ret)
{
	char *pass = malloc(SFS_PASSPHRASE_MAX);
	uint8_t master[SFS_KEY_LEN];
	char wid[SFS_WRAP_ID_SIZE];
	struct sfs_unlock c;
	json_t *wrappings = NULL;
	int r;

	if (!pass)
		return -ENOMEM;
	r = keys_load(dirfd, &wrappings);
	if (r == 0)
		r = cred_resolve(path, cred, &c, pass);
	if (r == 0)
		r = keys_unwrap(wrappings, &c, master, wid);
	if (r == 0)
		r = sfs_keyring_new(master, ret);
	if (r == 0 && want && memcmp((*ret)->key_id, want, SFS_KEY_ID_LEN) != 0) {
		/* A keys file from another store: its key is not this one's. */
		sfs_keyring_free(*ret);
		*ret = NULL;
		r = -EKEYREJECTED;
	}
	if (r == 0)
		memcpy((*ret)->unlocked_by, wid, sizeof(wid));
	explicit_bzero(master, sizeof(master));
	explicit_bzero(pass, SFS_PASSPHRASE_MAX);
	free(pass);
	json_decref(wrappings);
	return r;
}

int sfs_keys_unlock(struct sfs_store *s, const struct sfs_unlock *cred)
{
	return unlock_dir(s->dirfd, s->path, s->key_id, cred, &s->keyring);
}

int sfs_keys_master(const struct sfs_store_options *o, uint8_t master[SFS_KEY_LEN])
{
	struct sfs_store *other = NULL;
	int r;

	if (!o->same_key_as)
		return sfs_random(master, SFS_KEY_LEN);
	r = sfs_store_open_cred(o->same_key_as, SFS_OPEN_READ, NULL, o->encrypt, &other);
	if (r == 0 && !other->keyring)
		r = -EINVAL; /* a plain store has no key to share */
	if (r == 0)
		memcpy(master, other->keyring->master, SFS_KEY_LEN);
	sfs_store_close(other);
	return r;
}

int sfs_keys_create(int dirfd, const uint8_t master[SFS_KEY_LEN], const struct sfs_unlock *cred,
		    uint8_t ret_key_id[SFS_KEY_ID_LEN])
{
	struct sfs_keyring *k = NULL;
	json_t *wrappings = json_array(), *w = NULL;
	int r;

	if (!wrappings)
		return -ENOMEM;
	r = sfs_keyring_new(master, &k);
	if (r == 0)
		r = wrap_new(master, cred, &w);
	if (r == 0)
		r = json_array_append_new(wrappings, w) == 0 ? 0 : -ENOMEM;
	if (r == 0)
		r = keys_save(dirfd, wrappings);
	if (r == 0)
		memcpy(ret_key_id, k->key_id, SFS_KEY_ID_LEN);
	sfs_keyring_free(k);
	json_decref(wrappings);
	return r;
}

/* ---- the verbs ---- */

int sfs_store_keys_list(const char *path, json_t **ret)
{
	json_t *wrappings, *out, *o;
	size_t i;
	int dfd, r = sfs_store_path_encrypted(path);

	if (r < 0)
		return r;
	if (r == 0)
		return -ENOKEY;
	/* The store's directory, for the keys file; no key needed. */
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = keys_load(dfd, &wrappings);
	close(dfd);
	if (r < 0)
		return r;
	out = json_array();
	json_array_foreach(wrappings, i, o) {
		struct wrap w;
		json_t *e;

		if (wrap_parse(o, &w) < 0)
			continue;
		e = json_pack("{s:s, s:s, s:s, s:O}", "id", w.id, "kind", w.kind, "kdf", w.kdf,
			      "created", json_object_get(o, "created"));
		if (e && w.n)
			json_object_update_new(e, json_pack("{s:I, s:I, s:I}", "n", (json_int_t)w.n,
							    "r", (json_int_t)w.r, "p",
							    (json_int_t)w.p));
		json_array_append_new(out, e);
	}
	json_decref(wrappings);
	*ret = out;
	return 0;
}

static int admin_begin(struct sfs_store *s, json_t **ret)
{
	if (!s->keyring)
		return -EINVAL;
	if (!s->writable)
		return -EROFS;
	return keys_load(s->dirfd, ret);
}

int sfs_store_key_add(struct sfs_store *s, const struct sfs_unlock *cred, char *ret_id)
{
	json_t *wrappings, *w;
	int r = admin_begin(s, &wrappings);

	if (r < 0)
		return r;
	r = wrap_new(s->keyring->master, cred, &w);
	if (r == 0) {
		snprintf(ret_id, SFS_WRAP_ID_SIZE, "%s", json_string_value(json_object_get(w, "id")));
		json_array_append_new(wrappings, w);
		r = keys_save(s->dirfd, wrappings);
	}
	json_decref(wrappings);
	return r;
}

static ssize_t wrap_index(json_t *wrappings, const char *id, const char **ret_kind)
{
	json_t *o;
	size_t i;

	json_array_foreach(wrappings, i, o) {
		const char *wid = json_string_value(json_object_get(o, "id"));

		if (wid && !strcmp(wid, id)) {
			if (ret_kind)
				*ret_kind = json_string_value(json_object_get(o, "kind"));
			return (ssize_t)i;
		}
	}
	return -ENOENT;
}

int sfs_store_key_change(struct sfs_store *s, const struct sfs_unlock *cred, char *ret_id)
{
	const char *kind = NULL;
	json_t *wrappings, *w = NULL;
	ssize_t i;
	int r = admin_begin(s, &wrappings);

	if (r < 0)
		return r;
	i = wrap_index(wrappings, s->keyring->unlocked_by, &kind);
	if (i < 0) {
		r = (int)i;
		goto out;
	}
	if (!cred || !kind || strcmp(kind, cred->key ? KIND_FILE : KIND_PASS)) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	r = wrap_new(s->keyring->master, cred, &w);
	if (r < 0)
		goto out;
	snprintf(ret_id, SFS_WRAP_ID_SIZE, "%s", json_string_value(json_object_get(w, "id")));
	/* The new wrapping takes the old one's place in the same file:
	 * one rename swaps them. */
	json_array_set_new(wrappings, (size_t)i, w);
	r = keys_save(s->dirfd, wrappings);
	if (r == 0)
		snprintf(s->keyring->unlocked_by, sizeof(s->keyring->unlocked_by), "%s", ret_id);
out:
	json_decref(wrappings);
	return r;
}

int sfs_store_key_remove(struct sfs_store *s, const char *id)
{
	json_t *wrappings;
	ssize_t i;
	int r = admin_begin(s, &wrappings);

	if (r < 0)
		return r;
	i = wrap_index(wrappings, id, NULL);
	if (i < 0)
		r = (int)i;
	else if (json_array_size(wrappings) <= 1)
		r = -EBUSY;
	else
		r = json_array_remove(wrappings, (size_t)i) == 0 ? 0 : -ENOMEM;
	if (r == 0)
		r = keys_save(s->dirfd, wrappings);
	json_decref(wrappings);
	return r;
}

bool sfs_store_encrypted(const struct sfs_store *s)
{
	return s->encrypted;
}

void sfs_store_key_id(const struct sfs_store *s, char *buf)
{
	buf[0] = '\0';
	if (s->encrypted)
		hex_put(s->key_id, SFS_KEY_ID_LEN, buf);
}

bool sfs_store_same_key(const struct sfs_store *a, const struct sfs_store *b)
{
	if (!a->keyring || !b->keyring)
		return !a->keyring && !b->keyring;
	return !memcmp(a->keyring->key_id, b->keyring->key_id, SFS_KEY_ID_LEN);
}
