// SPDX-License-Identifier: MIT
/*
 * The chunk codec: ids, hex, zero detection, compression round trips and
 * the rule that bytes which do not hash to their id never come back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "snapfs/chunk.h"
#include "fixture.h"

/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
static const char abc_hex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

Test(chunk, hash_known_vector)
{
	struct sfs_id id;
	char hex[SFS_ID_HEX_LEN + 1];

	sfs_chunk_hash("abc", 3, &id);
	sfs_id_to_hex(&id, hex);
	cr_assert_str_eq(hex, abc_hex);
}

Test(chunk, hex_round_trip_and_rejects)
{
	struct sfs_id id, back;
	char hex[SFS_ID_HEX_LEN + 1];
	char upper[SFS_ID_HEX_LEN + 1];

	fx_fill_random(id.b, sizeof(id.b), 7);
	sfs_id_to_hex(&id, hex);
	cr_assert_eq(strlen(hex), SFS_ID_HEX_LEN);
	cr_assert_eq(sfs_id_from_hex(hex, &back), 0);
	cr_assert_arr_eq(id.b, back.b, SFS_ID_LEN);

	for (size_t i = 0; i <= SFS_ID_HEX_LEN; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	cr_assert_eq(sfs_id_from_hex(upper, &back), 0, "upper-case hex is accepted");
	cr_assert_arr_eq(id.b, back.b, SFS_ID_LEN);

	cr_assert_eq(sfs_id_from_hex(NULL, &back), -EINVAL);
	cr_assert_eq(sfs_id_from_hex("", &back), -EINVAL);
	cr_assert_eq(sfs_id_from_hex(abc_hex + 1, &back), -EINVAL, "63 digits");
	{
		char bad[SFS_ID_HEX_LEN + 2];
		memcpy(bad, abc_hex, SFS_ID_HEX_LEN);
		bad[SFS_ID_HEX_LEN] = '0';
		bad[SFS_ID_HEX_LEN + 1] = '\0';
		cr_assert_eq(sfs_id_from_hex(bad, &back), -EINVAL, "65 digits");
		memcpy(bad, abc_hex, SFS_ID_HEX_LEN + 1);
		bad[10] = 'g';
		cr_assert_eq(sfs_id_from_hex(bad, &back), -EINVAL, "non-hex digit");
	}
}

Test(chunk, zero_id_and_zero_test)
{
	struct sfs_id z = { 0 }, nz = { 0 };
	uint8_t *buf = calloc(1, 65536 + 64);

	cr_assert(sfs_id_is_zero(&z));
	nz.b[31] = 1;
	cr_assert_not(sfs_id_is_zero(&nz));

	cr_assert(sfs_is_zero(buf, 0));
	cr_assert(sfs_is_zero(buf, 65536 + 64));
	/* Every position, at unaligned starts and lengths, must be seen. */
	for (size_t start = 0; start < 9; start++) {
		for (size_t pos = start; pos < start + 300; pos++) {
			buf[pos] = 0x80;
			cr_assert_not(sfs_is_zero(buf + start, 300), "start %zu pos %zu", start, pos);
			cr_assert(sfs_is_zero(buf + start, pos - start), "prefix before %zu", pos);
			buf[pos] = 0;
		}
	}
	buf[65536 + 63] = 1;
	cr_assert_not(sfs_is_zero(buf, 65536 + 64), "last byte");
	free(buf);
}

static void round_trip(const void *src, size_t len, int expect_comp)
{
	struct sfs_codec *c = sfs_codec_new(3);
	size_t cap = sfs_codec_bound(len);
	uint8_t *dst = malloc(cap), *out = malloc(len);
	struct sfs_id id;
	uint8_t comp = 0xff;
	ssize_t n;

	cr_assert_not_null(c);
	sfs_chunk_hash(src, len, &id);
	n = sfs_codec_compress(c, src, len, dst, cap, &comp);
	cr_assert_gt(n, 0);
	if (expect_comp >= 0)
		cr_assert_eq(comp, expect_comp);
	if (comp == SFS_COMP_NONE)
		cr_assert_eq((size_t)n, len);
	else
		cr_assert_lt((size_t)n, len);
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len, &id), 0);
	cr_assert_arr_eq(out, src, len);
	/* The same codec is reusable. */
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len, &id), 0);
	free(dst);
	free(out);
	sfs_codec_free(c);
}

Test(chunk, compress_round_trip)
{
	size_t sizes[] = { 4096, 65536, SFS_BLOCK_MAX };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *b = malloc(sizes[i]);
		fx_fill_text(b, sizes[i], i);
		round_trip(b, sizes[i], SFS_COMP_ZSTD);
		fx_fill_random(b, sizes[i], i);
		round_trip(b, sizes[i], SFS_COMP_NONE);
		free(b);
	}
}

Test(chunk, compress_needs_bound)
{
	struct sfs_codec *c = sfs_codec_new(1);
	uint8_t src[4096], dst[4096], comp;

	fx_fill_text(src, sizeof(src), 1);
	cr_assert_eq(sfs_codec_compress(c, src, sizeof(src), dst, sizeof(dst), &comp), -EINVAL);
	sfs_codec_free(c);
}

Test(chunk, free_accepts_null)
{
	sfs_codec_free(NULL);
}

/* Every way stored bytes can be wrong must end in -EBADMSG, never in
 * wrong bytes reported as good. */
Test(chunk, corrupted_is_ebadmsg)
{
	struct sfs_codec *c = sfs_codec_new(3);
	size_t len = 65536, cap = sfs_codec_bound(len);
	uint8_t *src = malloc(len), *dst = malloc(cap), *out = malloc(len + 1);
	struct sfs_id id, other;
	uint8_t comp;
	ssize_t n;

	fx_fill_text(src, len, 3);
	sfs_chunk_hash(src, len, &id);
	n = sfs_codec_compress(c, src, len, dst, cap, &comp);
	cr_assert_eq(comp, SFS_COMP_ZSTD);

	other = id;
	other.b[0] ^= 1;
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len, &other), -EBADMSG,
		     "wrong id");
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n - 1, out, len, &id), -EBADMSG,
		     "truncated frame");
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len - 1, &id), -EBADMSG,
		     "raw_len too small");
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len + 1, &id), -EBADMSG,
		     "raw_len too large");
	for (ssize_t i = 0; i < n; i += n / 17 + 1) {
		dst[i] ^= 0x40;
		cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len, &id), -EBADMSG,
			     "flipped byte %zd of %zd", i, n);
		dst[i] ^= 0x40;
	}
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len, &id), 0);

	/* Raw chunks: a flipped byte or a length mismatch. */
	fx_fill_random(src, len, 3);
	sfs_chunk_hash(src, len, &id);
	n = sfs_codec_compress(c, src, len, dst, cap, &comp);
	cr_assert_eq(comp, SFS_COMP_NONE);
	dst[len / 2] ^= 1;
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n, out, len, &id), -EBADMSG);
	dst[len / 2] ^= 1;
	cr_assert_eq(fx_decode(c, comp, dst, (size_t)n - 1, out, len, &id), -EBADMSG);
	cr_assert_eq(fx_decode(c, 7, dst, (size_t)n, out, len, &id), -EINVAL);
	free(src);
	free(dst);
	free(out);
	sfs_codec_free(c);
}
