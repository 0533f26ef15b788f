// SPDX-License-Identifier: MIT
/*
 * Encrypted stores through the library: keyed ids, sealed records whose
 * tag is checked on every read, credentials refused without changing
 * anything, wrappings added, changed and removed, and copies that either
 * re-encrypt (different keys) or send the sealed bytes as they are (the
 * same key).
 */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "snapfs/blockmap.h"
#include "snapfs/copy.h"
#include "snapfs/keys.h"
#include "lifecycle_util.h"

#define BS 4096u

static char *dir;
static const char key1[] = "0123456789abcdef0123456789abcdef";
static const char key2[] = "fedcba9876543210fedcba9876543210";

static void setup(void)
{
	dir = fx_tmpdir();
}

static void teardown(void)
{
	fx_rm_rf(dir);
	free(dir);
}

static struct sfs_unlock file_cred(const char *k)
{
	return (struct sfs_unlock){ .key = k, .key_len = strlen(k) };
}

/* An encrypted store dir/name (sharing same_as's key when given), open
 * for writing. */
static struct sfs_store *enc_store(const char *name, const char *k, const char *same_as)
{
	struct sfs_unlock c = file_cred(k);
	struct sfs_store_options o = { .block_size = BS, .encrypt = &c };
	struct sfs_store *s;
	char *path, *other = NULL;
	int r;

	if (same_as)
		cr_assert(asprintf(&other, "%s/%s", dir, same_as) > 0);
	o.same_key_as = other;
	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	r = sfs_store_init(path, &o);
	cr_assert_eq(r, 0, "init: %s", strerror(-r));
	r = sfs_store_open_cred(path, SFS_OPEN_WRITE, NULL, &c, &s);
	cr_assert_eq(r, 0, "open: %s", strerror(-r));
	free(path);
	free(other);
	return s;
}

static int open_with(const char *name, const struct sfs_unlock *c, struct sfs_store **ret)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return sfs_store_open_cred(path, SFS_OPEN_READ, NULL, c, ret);
}

TestSuite(keys, .init = setup, .fini = teardown);

Test(keys, ids_are_keyed_and_records_sealed)
{
	struct sfs_store *a = enc_store("a", key1, NULL), *b = enc_store("b", key2, NULL);
	struct sfs_id plain, ia, ia2, ib;
	struct sfs_rec_header h;
	uint8_t raw[BS], *enc = malloc(sfs_store_chunk_bound(BS));

	fx_fill_text(raw, BS, 7);
	sfs_chunk_hash(raw, BS, &plain);
	cr_assert_eq(sfs_store_chunk_id(a, raw, BS, &ia), 0);
	cr_assert_eq(sfs_store_chunk_id(a, raw, BS, &ia2), 0);
	cr_assert_eq(sfs_store_chunk_id(b, raw, BS, &ib), 0);
	cr_expect(memcmp(&ia, &ia2, sizeof(ia)) == 0, "the keyed id is a function of the bytes");
	cr_expect(memcmp(&ia, &plain, sizeof(ia)) != 0, "the id is not the plain SHA-256");
	cr_expect(memcmp(&ia, &ib, sizeof(ia)) != 0, "two keys name the same bytes differently");

	cr_assert_eq(sfs_store_chunk_encode(a, SFS_CHUNK_DATA, raw, BS, &ia, enc,
					    sfs_store_chunk_bound(BS), &h), 0);
	cr_expect(h.comp & SFS_COMP_SEALED, "an encrypted store's record is sealed");
	cr_expect_eq(sfs_rec_lengths_check(h.comp, h.raw_len, h.stored_len), 0);
	cr_expect(memmem(enc, h.stored_len, raw, 64) == NULL, "plaintext in the sealed bytes");
	/* Text compresses: the stored bytes are the compressed ones sealed. */
	cr_expect_lt(h.stored_len, BS);
	free(enc);
	sfs_store_close(a);
	sfs_store_close(b);
}

Test(keys, every_read_checks_the_tag)
{
	struct sfs_store *s = enc_store("s", key1, NULL);
	struct sfs_unlock c = file_cred(key1);
	struct fx_writer w;
	struct sfs_chunk_loc loc;
	struct sfs_id id;
	uint8_t raw[BS], out[BS];
	char pack[4096];
	int fd;

	fx_fill_random(raw, BS, 3);
	/* The fixture writer writes to fx_store. */
	fx_store = s;
	cr_assert_eq(fx_writer_begin(&w), 0);
	cr_assert_eq(fx_writer_put(&w, SFS_CHUNK_DATA, raw, BS, &id), 0);
	cr_assert_eq(fx_writer_commit(&w), 0);
	cr_assert_eq(sfs_store_chunk_read(s, &id, SFS_CHUNK_DATA, NULL, out, BS, &loc, NULL), 0);
	cr_assert(memcmp(out, raw, BS) == 0);
	sfs_store_close(s);
	fx_store = NULL;

	/* One bit of the ciphertext: the tag fails, nothing is returned. */
	snprintf(pack, sizeof(pack), "%s/s/packs/%016llx.pack", dir, (unsigned long long)loc.pack);
	fd = open(pack, O_RDWR);
	cr_assert(fd >= 0);
	{
		uint8_t b;
		off_t at = (off_t)(loc.offset + SFS_REC_HEADER_LEN + 12 + 100);
		cr_assert_eq(pread(fd, &b, 1, at), 1);
		b ^= 1;
		cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	}
	close(fd);
	cr_assert_eq(open_with("s", &c, &s), 0);
	cr_expect_eq(sfs_store_chunk_read(s, &id, SFS_CHUNK_DATA, NULL, out, BS, NULL, NULL),
		     -EBADMSG);
	sfs_store_close(s);
}

Test(keys, credentials_refused_clearly)
{
	struct sfs_store *s = enc_store("s", key1, NULL), *o = enc_store("o", key2, NULL);
	struct sfs_unlock wrong = file_cred(key2), none = { 0 }, pass = { .passphrase = "x" };
	char a[4096], b[4096];

	sfs_store_close(s);
	sfs_store_close(o);
	cr_expect_eq(open_with("s", &wrong, &s), -EKEYREJECTED);
	cr_expect_eq(open_with("s", &none, &s), -ENOKEY);
	cr_expect_eq(open_with("s", NULL, &s), -ENOKEY);
	cr_expect_eq(open_with("s", &pass, &s), -EKEYREJECTED, "no passphrase wrapping");
	/* Another store's keys file opens with its own key, but that key is
	 * not this store's: refused by the fingerprint in config. */
	snprintf(a, sizeof(a), "%s/o/keys", dir);
	snprintf(b, sizeof(b), "%s/s/keys", dir);
	cr_assert_eq(rename(a, b), 0);
	cr_expect_eq(open_with("s", &wrong, &s), -EKEYREJECTED);
	snprintf(a, sizeof(a), "%s/s", dir);
	cr_expect_eq(sfs_store_path_encrypted(a), 1);
}

Test(keys, wrappings_added_changed_removed)
{
	struct sfs_store *s = enc_store("s", key1, NULL);
	struct sfs_unlock k1 = file_cred(key1), k2 = file_cred(key2);
	struct sfs_unlock p1 = { .passphrase = "first" }, p2 = { .passphrase = "second" };
	char id1[SFS_WRAP_ID_SIZE], id2[SFS_WRAP_ID_SIZE], path[4096];
	json_t *list;

	cr_expect_eq(sfs_store_key_change(s, &p1, id1), -EMEDIUMTYPE,
		     "a key-file unlock cannot change a passphrase");
	cr_assert_eq(sfs_store_key_add(s, &p1, id1), 0);
	sfs_store_close(s);
	cr_assert_eq(open_with("s", &p1, &s), 0);
	cr_expect_eq(sfs_store_key_add(s, &k2, id2), -EROFS, "read-only open");
	sfs_store_close(s);
	snprintf(path, sizeof(path), "%s/s", dir);
	cr_assert_eq(sfs_store_open_cred(path, SFS_OPEN_WRITE, NULL, &p1, &s), 0);
	cr_assert_eq(sfs_store_key_change(s, &p2, id2), 0);
	sfs_store_close(s);
	cr_expect_eq(open_with("s", &p1, &s), -EKEYREJECTED, "the old passphrase");
	cr_assert_eq(open_with("s", &p2, &s), 0, "the new passphrase");
	sfs_store_close(s);
	cr_assert_eq(sfs_store_keys_list(path, &list), 0);
	cr_expect_eq(json_array_size(list), 2);
	json_decref(list);
	cr_assert_eq(sfs_store_open_cred(path, SFS_OPEN_WRITE, NULL, &k1, &s), 0);
	cr_expect_eq(sfs_store_key_remove(s, "key-0000000000000000"), -ENOENT);
	cr_assert_eq(sfs_store_key_remove(s, id2), 0);
	sfs_store_close(s);
	cr_expect_eq(open_with("s", &p2, &s), -EKEYREJECTED, "a removed passphrase");
	cr_assert_eq(sfs_store_open_cred(path, SFS_OPEN_WRITE, NULL, &k1, &s), 0);
	cr_assert_eq(sfs_store_keys_list(path, &list), 0);
	cr_expect_eq(sfs_store_key_remove(s, json_string_value(json_object_get(
						     json_array_get(list, 0), "id"))),
		     -EBUSY, "the last wrapping stays");
	json_decref(list);
	sfs_store_close(s);
}

/* Stored bytes of id in s (sealed: nonce, ciphertext, tag). */
static void stored_of(struct sfs_store *s, const struct sfs_id *id, uint8_t *buf, uint32_t *len)
{
	struct sfs_chunk_loc loc;
	const void *st;
	uint8_t raw[SFS_MAP_PAGE_MAX];

	cr_assert_eq(sfs_store_chunk_read(s, id, 0, NULL, raw, sizeof(raw), &loc, &st), 0);
	memcpy(buf, st, loc.stored_len);
	*len = loc.stored_len;
}

Test(keys, copies_reencrypt_or_send_sealed_bytes)
{
	struct sfs_store *a = enc_store("a", key1, NULL), *same = enc_store("same", key1, "a");
	struct sfs_store *other = enc_store("other", key2, NULL);
	struct sfs_store *plain = lc_store(dir, "plain", BS, 1, 0);
	size_t len = 64 * BS;
	uint8_t *buf = malloc(len), *x = malloc(SFS_STORED_MAX), *y = malloc(SFS_STORED_MAX);
	struct sfs_copy_result res;
	struct sfs_snapshot sn, sc;
	struct sfs_txn *t;
	char id[SFS_IDSTR_SIZE];
	uint32_t xl, yl;

	fx_fill_text(buf, len, 11);
	lc_snap(a, dir, "v", buf, len, NULL, id);
	cr_expect(sfs_store_same_key(a, same));
	cr_expect(!sfs_store_same_key(a, other));
	cr_expect(!sfs_store_same_key(a, plain));

	/* The same key: the destination holds the very sealed bytes. */
	cr_assert_eq(sfs_copy_snapshot(a, id, same, NULL, &res), 0);
	lc_expect(same, res.snap_id, buf, len);
	cr_assert_eq(sfs_txn_begin(a, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, id, &sn), 0);
	sfs_txn_abort(t);
	stored_of(a, &sn.root, x, &xl);
	stored_of(same, &sn.root, y, &yl);
	cr_expect(xl == yl && memcmp(x, y, xl) == 0, "same key: the sealed root page was re-sealed");

	/* Another key and a plain store: new ids, re-encrypted, byte-exact. */
	cr_assert_eq(sfs_copy_snapshot(a, id, other, NULL, &res), 0);
	lc_expect(other, res.snap_id, buf, len);
	cr_assert_eq(sfs_txn_begin(other, false, &t), 0);
	cr_assert_eq(sfs_cat_snapshot_get(t, res.snap_id, &sc), 0);
	sfs_txn_abort(t);
	cr_expect(memcmp(&sc.root, &sn.root, sizeof(sn.root)) != 0, "the root id was translated");
	sfs_snapshot_release(&sc);
	cr_assert_eq(sfs_copy_snapshot(a, id, plain, NULL, &res), 0);
	lc_expect(plain, res.snap_id, buf, len);
	/* And back from plain into the other key. */
	memcpy(id, res.snap_id, sizeof(id));
	cr_assert_eq(sfs_copy_snapshot(plain, id, other, NULL, &res), 0);
	lc_expect(other, res.snap_id, buf, len);
	cr_expect_eq(res.sent_chunks, 0, "everything was already there under the other key");

	sfs_snapshot_release(&sn);
	free(x);
	free(y);
	free(buf);
	sfs_store_close(a);
	sfs_store_close(same);
	sfs_store_close(other);
	sfs_store_close(plain);
}
