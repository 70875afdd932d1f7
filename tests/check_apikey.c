/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API-key format, parser and checksum; scopes; CIDR allow-lists; durations.
 * Everything here is pure computation: no store, so no fixture except
 * sodium_init().
 */
#include "config.h"

#include <check.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zlib.h>

#include "apikey-private.h"
#include "cidr-private.h"
#include "scopes-private.h"
#include "testutil.h"
#include "util-private.h"

#define N_UNIQUE 10000

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void sodium_setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
}

static bool is_base62(char c)
{
	return c != '\0' && strchr(alphabet, c) != NULL;
}

/*
 * Appends the six-digit base62 CRC (zlib crc32, most significant digit
 * first) to a body of bodylen bytes, computed here independently of
 * lk_apikey_format and without validating anything, so a test can hand the
 * parser a string whose only fault is the one it is about. NUL bytes in the
 * body are allowed: the parser takes an explicit length.
 */
static size_t build_raw(const char *body, size_t bodylen, char *out, size_t outlen)
{
	uint64_t v;

	ck_assert_uint_lt(bodylen + 7, outlen);
	memmove(out, body, bodylen);
	v = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)out, (uInt)bodylen);
	for (int i = 5; i >= 0; i--) {
		out[bodylen + (size_t)i] = alphabet[v % 62];
		v /= 62;
	}
	out[bodylen + 6] = '\0';
	return bodylen + 6;
}

/* "lk_<env>_<kid>_<secret><crc>" with a correct CRC. */
static size_t build_key(const char *env, const char *kid, const char *secret, char *out,
                        size_t outlen)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "lk_%s_%s_%s", env, kid, secret);

	return build_raw(body, (size_t)n, out, outlen);
}

static void fresh_key(const char *env, char *out)
{
	struct lk_apikey k;

	ck_assert_int_eq(lk_apikey_generate(env, &k), LK_OK);
	ck_assert_int_eq(lk_apikey_format(&k, out, LK_KEY_MAX_LEN + 1), LK_OK);
	lk_apikey_wipe(&k);
}

/* ---------------------------------------------------------------- format */

START_TEST(test_format_round_trip)
{
	static const char *const envs[] = { "ab", "dev", "test", "stage", "prod", "abcdefgh" };

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		struct lk_apikey k, back;
		char s[LK_KEY_MAX_LEN + 1], expect[LK_KEY_MAX_LEN + 8];
		size_t envlen = strlen(envs[i]), len, p;

		ck_assert_int_eq(lk_apikey_generate(envs[i], &k), LK_OK);
		ck_assert_str_eq(k.env, envs[i]);
		ck_assert_uint_eq(strlen(k.kid), LK_KID_LEN);
		ck_assert_uint_eq(strlen(k.secret), LK_SECRET_LEN);
		ck_assert(lk_kid_valid(k.kid));
		ck_assert_int_eq(lk_apikey_format(&k, s, sizeof(s)), LK_OK);
		len = strlen(s);
		ck_assert_uint_eq(len, 66 + envlen);

		/* lk_<env>_<kid12>_<49 base62> */
		ck_assert_mem_eq(s, "lk_", 3);
		ck_assert_mem_eq(s + 3, envs[i], envlen);
		p = 3 + envlen;
		ck_assert_int_eq(s[p], '_');
		for (size_t j = p + 1; j < p + 1 + LK_KID_LEN; j++)
			ck_assert_msg(is_base62(s[j]), "kid char %zu of %s", j, s);
		ck_assert_int_eq(s[p + 1 + LK_KID_LEN], '_');
		for (size_t j = p + 2 + LK_KID_LEN; j < len; j++)
			ck_assert_msg(is_base62(s[j]), "body char %zu of %s", j, s);
		ck_assert_mem_eq(s + p + 1, k.kid, LK_KID_LEN);
		ck_assert_mem_eq(s + p + 2 + LK_KID_LEN, k.secret, LK_SECRET_LEN);

		/* The checksum is zlib's crc32 of everything before it, as six
		 * base62 digits, most significant first (DESIGN.md). */
		ck_assert_uint_eq(build_key(k.env, k.kid, k.secret, expect, sizeof(expect)), len);
		ck_assert_str_eq(s, expect);

		ck_assert_int_eq(lk_apikey_parse(s, len, &back), LK_PARSE_OK);
		ck_assert_str_eq(back.env, k.env);
		ck_assert_str_eq(back.kid, k.kid);
		ck_assert_str_eq(back.secret, k.secret);
		lk_apikey_wipe(&k);
		lk_apikey_wipe(&back);
	}
}
END_TEST

START_TEST(test_format_small_buffer)
{
	struct lk_apikey k;
	char s[LK_KEY_MAX_LEN + 1];

	ck_assert_int_eq(lk_apikey_generate("prod", &k), LK_OK);
	/* 70 characters plus the NUL: one byte short must be refused. */
	ck_assert_int_eq(lk_apikey_format(&k, s, 70), LK_EINVAL);
	ck_assert_int_eq(lk_apikey_format(&k, s, 71), LK_OK);
	ck_assert_uint_eq(strlen(s), 70);
	lk_apikey_wipe(&k);
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(lk_apikey_format(&k, s, sizeof(s)), LK_EINVAL);
}
END_TEST

START_TEST(test_generate_rejects_bad_env)
{
	static const char *const bad[] = { "", "a", "abcdefghi", "Prod", "pr0d", "pr_d", "pr-d" };
	struct lk_apikey k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lk_apikey_generate(bad[i], &k) == LK_EINVAL, "env '%s'", bad[i]);
	ck_assert_int_eq(lk_apikey_generate(NULL, &k), LK_EINVAL);
}
END_TEST

START_TEST(test_env_kid_valid)
{
	ck_assert(lk_env_valid("ab"));
	ck_assert(lk_env_valid("prod"));
	ck_assert(lk_env_valid("abcdefgh"));
	ck_assert(!lk_env_valid(NULL));
	ck_assert(!lk_env_valid(""));
	ck_assert(!lk_env_valid("a"));
	ck_assert(!lk_env_valid("abcdefghi"));
	ck_assert(!lk_env_valid("Prod"));
	ck_assert(!lk_env_valid("PROD"));
	ck_assert(!lk_env_valid("pr0d"));
	ck_assert(!lk_env_valid("pr d"));
	ck_assert(!lk_env_valid("pr_d"));
	ck_assert(!lk_env_valid("prod\n"));
	ck_assert(!lk_env_valid("pr\xc3\xa9"));

	ck_assert(lk_kid_valid("3xK9mQ2pLw7Z"));
	ck_assert(lk_kid_valid("000000000000"));
	ck_assert(lk_kid_valid("zzzzzzzzzzzz"));
	ck_assert(!lk_kid_valid(NULL));
	ck_assert(!lk_kid_valid(""));
	ck_assert(!lk_kid_valid("3xK9mQ2pLw7"));   /* 11 */
	ck_assert(!lk_kid_valid("3xK9mQ2pLw7Za")); /* 13 */
	ck_assert(!lk_kid_valid("3xK9mQ_pLw7Z"));
	ck_assert(!lk_kid_valid("3xK9mQ-pLw7Z"));
	ck_assert(!lk_kid_valid("3xK9mQ pLw7Z"));
	ck_assert(!lk_kid_valid("3xK9mQ\x80pLw7Z"));
}
END_TEST

/* ------------------------------------------------------------- checksum */

START_TEST(test_crc_rejects_every_single_change)
{
	static const char extra[] = "_- .+/=!\x7f\x80\xff";
	char cand[sizeof(alphabet) + sizeof(extra) + 1];
	size_t ncand, tried = 0;

	snprintf(cand, sizeof(cand), "%s%s", alphabet, extra);
	ncand = strlen(cand);
	/* NUL counts too: the length is passed explicitly. */
	cand[ncand++] = '\0';

	for (int e = 0; e < 2; e++) {
		char key[LK_KEY_MAX_LEN + 1], mut[LK_KEY_MAX_LEN + 1];
		struct lk_apikey k;
		size_t len;

		fresh_key(e == 0 ? "prod" : "ab", key);
		len = strlen(key);
		ck_assert_int_eq(lk_apikey_parse(key, len, &k), LK_PARSE_OK);
		for (size_t pos = 0; pos < len; pos++) {
			for (size_t c = 0; c < ncand; c++) {
				enum lk_parse_error pe;

				if (cand[c] == key[pos])
					continue;
				memcpy(mut, key, len + 1);
				mut[pos] = cand[c];
				memset(&k, 'X', sizeof(k));
				pe = lk_apikey_parse(mut, len, &k);
				ck_assert_msg(pe != LK_PARSE_OK,
				              "key with byte %zu changed to 0x%02x parsed as valid",
				              pos, (unsigned char)cand[c]);
				/* On failure the output is wiped, never half-filled. */
				ck_assert_uint_eq(k.secret[0], 0);
				ck_assert_uint_eq(k.kid[0], 0);
				tried++;
			}
		}
	}
	ck_assert_uint_gt(tried, 2 * 66 * 70);
}
END_TEST

START_TEST(test_crc_rejects_swaps)
{
	char key[LK_KEY_MAX_LEN + 1], mut[LK_KEY_MAX_LEN + 1];
	struct lk_apikey k;
	size_t len;

	fresh_key("prod", key);
	len = strlen(key);
	/* Adjacent transpositions (a common typo) in the kid, secret and crc. */
	for (size_t pos = 8; pos + 1 < len; pos++) {
		if (key[pos] == key[pos + 1] || key[pos] == '_' || key[pos + 1] == '_')
			continue;
		memcpy(mut, key, len + 1);
		mut[pos] = key[pos + 1];
		mut[pos + 1] = key[pos];
		ck_assert_msg(lk_apikey_parse(mut, len, &k) != LK_PARSE_OK, "swap at %zu", pos);
	}
}
END_TEST

/* ------------------------------------------------------------ uniqueness */

static int cmp_kid(const void *a, const void *b)
{
	return memcmp(a, b, LK_KID_LEN);
}

static int cmp_keystr(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, LK_HASH_LEN);
}

START_TEST(test_unique_keys_and_hashes)
{
	char(*kids)[LK_KID_LEN + 1] = calloc(N_UNIQUE, sizeof(*kids));
	char(*keys)[LK_KEY_MAX_LEN + 1] = calloc(N_UNIQUE, sizeof(*keys));
	unsigned char(*hashes)[LK_HASH_LEN] = calloc(N_UNIQUE, sizeof(*hashes));
	unsigned char pepper1[32], pepper2[32];

	ck_assert_ptr_nonnull(kids);
	ck_assert_ptr_nonnull(keys);
	ck_assert_ptr_nonnull(hashes);
	randombytes_buf(pepper1, sizeof(pepper1));
	memcpy(pepper2, pepper1, sizeof(pepper2));
	pepper2[31] ^= 1;

	for (size_t i = 0; i < N_UNIQUE; i++) {
		struct lk_apikey k, back;
		unsigned char h1[LK_HASH_LEN], h2[LK_HASH_LEN], h3[LK_HASH_LEN];

		ck_assert_int_eq(lk_apikey_generate("prod", &k), LK_OK);
		ck_assert_int_eq(lk_apikey_format(&k, keys[i], sizeof(keys[i])), LK_OK);
		memcpy(kids[i], k.kid, LK_KID_LEN + 1);
		ck_assert_int_eq(lk_apikey_parse(keys[i], strlen(keys[i]), &back), LK_PARSE_OK);
		ck_assert_str_eq(back.kid, k.kid);
		ck_assert_str_eq(back.secret, k.secret);

		/* Verification hashes the parsed key, issue hashes the generated
		 * one: both must give the same value under the same pepper. */
		ck_assert_int_eq(lk_apikey_hash(&k, pepper1, h1), LK_OK);
		ck_assert_int_eq(lk_apikey_hash(&back, pepper1, h2), LK_OK);
		ck_assert_mem_eq(h1, h2, LK_HASH_LEN);
		ck_assert_int_eq(lk_apikey_hash(&back, pepper2, h3), LK_OK);
		ck_assert_msg(memcmp(h1, h3, LK_HASH_LEN) != 0, "pepper does not key the hash");
		memcpy(hashes[i], h1, LK_HASH_LEN);
		lk_apikey_wipe(&k);
		lk_apikey_wipe(&back);
	}

	qsort(kids, N_UNIQUE, sizeof(*kids), cmp_kid);
	qsort(keys, N_UNIQUE, sizeof(*keys), cmp_keystr);
	qsort(hashes, N_UNIQUE, sizeof(*hashes), cmp_hash);
	for (size_t i = 1; i < N_UNIQUE; i++) {
		ck_assert_msg(memcmp(kids[i - 1], kids[i], LK_KID_LEN) != 0, "duplicate kid %s",
		              kids[i]);
		ck_assert_msg(strcmp(keys[i - 1], keys[i]) != 0, "duplicate key");
		ck_assert_msg(memcmp(hashes[i - 1], hashes[i], LK_HASH_LEN) != 0, "duplicate hash");
	}
	sodium_memzero(keys, N_UNIQUE * sizeof(*keys));
	free(kids);
	free(keys);
	free(hashes);
}
END_TEST

START_TEST(test_hash_binds_every_part)
{
	struct lk_apikey a, b;
	unsigned char pepper[32], ha[LK_HASH_LEN], hb[LK_HASH_LEN];

	randombytes_buf(pepper, sizeof(pepper));
	ck_assert_int_eq(lk_apikey_generate("prod", &a), LK_OK);
	ck_assert_int_eq(lk_apikey_hash(&a, pepper, ha), LK_OK);

	/* Same kid and secret in another environment: a different hash, or a
	 * dev key's row could vouch for a prod key. */
	b = a;
	memcpy(b.env, "dev", 4);
	ck_assert_int_eq(lk_apikey_hash(&b, pepper, hb), LK_OK);
	ck_assert(memcmp(ha, hb, LK_HASH_LEN) != 0);

	b = a;
	b.secret[LK_SECRET_LEN - 1] = b.secret[LK_SECRET_LEN - 1] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(lk_apikey_hash(&b, pepper, hb), LK_OK);
	ck_assert(memcmp(ha, hb, LK_HASH_LEN) != 0);

	b = a;
	b.kid[0] = b.kid[0] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(lk_apikey_hash(&b, pepper, hb), LK_OK);
	ck_assert(memcmp(ha, hb, LK_HASH_LEN) != 0);

	/* The documented encoding, keyed with the pepper: "v1", env, kid and
	 * secret, NUL-separated. Stored hashes depend on it never changing. */
	{
		unsigned char buf[128], want[LK_HASH_LEN];
		size_t n = 0, el = strlen(a.env);

		memcpy(buf, "v1", 3);
		n = 3;
		memcpy(buf + n, a.env, el + 1);
		n += el + 1;
		memcpy(buf + n, a.kid, LK_KID_LEN + 1);
		n += LK_KID_LEN + 1;
		memcpy(buf + n, a.secret, LK_SECRET_LEN);
		n += LK_SECRET_LEN;
		ck_assert_int_eq(crypto_generichash(want, sizeof(want), buf, n, pepper, 32), 0);
		ck_assert_mem_eq(ha, want, LK_HASH_LEN);
		/* Not plain BLAKE2b: without the pepper the hash differs. */
		ck_assert_int_eq(crypto_generichash(want, sizeof(want), buf, n, NULL, 0), 0);
		ck_assert(memcmp(ha, want, LK_HASH_LEN) != 0);
		sodium_memzero(buf, sizeof(buf));
	}
	lk_apikey_wipe(&a);
	lk_apikey_wipe(&b);
}
END_TEST

/* ---------------------------------------------------------- parse errors */

/* Valid parts: 12-char kid, 43-char secret. */
#define KID    "3xK9mQ2pLw7Z"
#define SECRET "abcdefghijABCDEFGHIJ0123456789klmnopqrstKLM"

static void expect_parse(const char *s, size_t len, enum lk_parse_error want)
{
	struct lk_apikey k;
	enum lk_parse_error got;

	memset(&k, 'X', sizeof(k));
	got = lk_apikey_parse(s, len, &k);
	ck_assert_msg(got == want, "parse of '%.*s' (len %zu): got %d (%s), want %d (%s)",
	              s != NULL ? (int)len : 4, s != NULL ? s : "NULL", len, (int)got,
	              lk_parse_error_str(got), (int)want, lk_parse_error_str(want));
	if (want != LK_PARSE_OK) {
		/* On failure the output is wiped, never half-filled. */
		ck_assert_uint_eq(k.env[0], 0);
		ck_assert_uint_eq(k.kid[0], 0);
		ck_assert_uint_eq(k.secret[LK_SECRET_LEN - 1], 0);
	}
	lk_apikey_wipe(&k);
}

START_TEST(test_parse_length)
{
	char key[LK_KEY_MAX_LEN + 8], big[LK_KEY_MAX_LEN + 16];
	size_t len;

	ck_assert_uint_eq(strlen(SECRET), LK_SECRET_LEN);
	len = build_key("prod", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_OK);
	expect_parse(NULL, 0, LK_PARSE_LENGTH);
	expect_parse(NULL, len, LK_PARSE_LENGTH);
	expect_parse("", 0, LK_PARSE_LENGTH);
	expect_parse(key, 3, LK_PARSE_LENGTH);
	expect_parse(key, LK_KEY_MIN_LEN - 1, LK_PARSE_LENGTH);
	/* One byte cut off the end: 69 is a legal length (env of 3), so the
	 * shape, not the length, catches it. Either way it is not OK. */
	ck_assert_int_ne(lk_apikey_parse(key, len - 1, NULL), LK_PARSE_OK);

	ck_assert_uint_eq(LK_KEY_MIN_LEN, 68);
	ck_assert_uint_eq(LK_KEY_MAX_LEN, 74);
	snprintf(big, sizeof(big), "%sAAAAAAAAA", key);
	expect_parse(big, LK_KEY_MAX_LEN + 1, LK_PARSE_LENGTH);
	expect_parse(big, strlen(big), LK_PARSE_LENGTH);
	/* env of 9: 75 characters, too long whatever its checksum. */
	len = build_key("abcdefghi", KID, SECRET, big, sizeof(big));
	ck_assert_uint_eq(len, 75);
	expect_parse(big, len, LK_PARSE_LENGTH);
}
END_TEST

START_TEST(test_parse_prefix)
{
	char key[LK_KEY_MAX_LEN + 8];
	size_t len = build_key("prod", KID, SECRET, key, sizeof(key));
	char crcd[LK_KEY_MAX_LEN + 8];

	/* Each with a checksum that is correct for the bad string, so only
	 * the prefix check can catch it. */
	memcpy(crcd, key, len + 1);
	crcd[0] = 'L';
	crcd[1] = 'K';
	expect_parse(crcd, len, LK_PARSE_PREFIX);
	snprintf(crcd, sizeof(crcd), "%s", key);
	crcd[1] = 'x';
	expect_parse(crcd, len, LK_PARSE_PREFIX);
	crcd[1] = 'k';
	crcd[2] = '-';
	expect_parse(crcd, len, LK_PARSE_PREFIX);
}
END_TEST

START_TEST(test_parse_env)
{
	char key[LK_KEY_MAX_LEN + 8];
	size_t len;

	len = build_key("PROD", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	len = build_key("pr0d", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	len = build_key("prOd", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	/* env of 1: 67 characters, below the shortest key. */
	len = build_key("a", KID, SECRET, key, sizeof(key));
	ck_assert_uint_eq(len, 67);
	expect_parse(key, len, LK_PARSE_LENGTH);
	/* env of 3 where the key's length says 3 but one is '_'. */
	len = build_key("a_b", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	/* A 0x80 byte (signed char) in the env. */
	len = build_key("pr\200d", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
}
END_TEST

START_TEST(test_parse_separators)
{
	char key[LK_KEY_MAX_LEN + 8];
	size_t len;

	/* Missing '_' after env: "lk_prod3xK9...". */
	len = build_raw("lk_prod" KID "_" SECRET, 7 + 12 + 1 + 43, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	/* Missing '_' between kid and secret. */
	len = build_raw("lk_prod_" KID SECRET, 8 + 12 + 43, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	/* Missing both. */
	len = build_raw("lk_prod" KID SECRET "AB", 7 + 12 + 43 + 2, key, sizeof(key));
	ck_assert_int_ne(lk_apikey_parse(key, len, NULL), LK_PARSE_OK);
	/* Extra '_' (in the secret). */
	len =
	    build_key("prod", KID, "abcdefghij_BCDEFGHIJ0123456789klmnopqrstKLM", key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ALPHABET);
	/* Extra '_' after env: length 71 reads as env of 7. */
	len = build_key("prod_", KID, SECRET, key, sizeof(key));
	expect_parse(key, len, LK_PARSE_ENV);
	/* Separator replaced by a letter. */
	len = build_key("prod", KID, SECRET, key, sizeof(key));
	key[7] = 'x';
	expect_parse(key, len, LK_PARSE_ENV);
	len = build_key("prod", KID, SECRET, key, sizeof(key));
	key[20] = 'x';
	expect_parse(key, len, LK_PARSE_ENV);
}
END_TEST

START_TEST(test_parse_alphabet)
{
	static const char bad[] = { '-', ' ', '+', '/', '=', '.', '\x80', '\xff', '\n', '\0' };
	char key[LK_KEY_MAX_LEN + 8];

	for (size_t i = 0; i < sizeof(bad); i++) {
		char kid[LK_KID_LEN + 1], secret[LK_SECRET_LEN + 1];
		size_t len;

		/* In the kid. NUL with the length passed explicitly: the
		 * checksum covers it, so the alphabet check must catch it. */
		memcpy(kid, KID, sizeof(kid));
		kid[5] = 'Q';
		len = build_key("prod", kid, SECRET, key, sizeof(key));
		key[8 + 5] = bad[i];
		ck_assert_int_ne(lk_apikey_parse(key, len, NULL), LK_PARSE_OK);

		if (bad[i] != '\0') {
			kid[5] = bad[i];
			len = build_key("prod", kid, SECRET, key, sizeof(key));
			expect_parse(key, len, LK_PARSE_ALPHABET);
			memcpy(secret, SECRET, sizeof(secret));
			secret[20] = bad[i];
			len = build_key("prod", KID, secret, key, sizeof(key));
			expect_parse(key, len, LK_PARSE_ALPHABET);
		} else {
			/* NUL inside the kid and the secret, with a CRC that
			 * covers it: only the alphabet check can catch it. */
			char body[80];
			size_t n =
			    (size_t)snprintf(body, sizeof(body), "lk_prod_%s_%s", KID, SECRET);

			body[12] = '\0';
			len = build_raw(body, n, key, sizeof(key));
			expect_parse(key, len, LK_PARSE_ALPHABET);
			n = (size_t)snprintf(body, sizeof(body), "lk_prod_%s_%s", KID, SECRET);
			body[40] = '\0';
			len = build_raw(body, n, key, sizeof(key));
			expect_parse(key, len, LK_PARSE_ALPHABET);
			/* And in the checksum digits. */
			len = build_key("prod", KID, SECRET, key, sizeof(key));
			key[len - 2] = '\0';
			expect_parse(key, len, LK_PARSE_ALPHABET);
		}
	}
}
END_TEST

START_TEST(test_parse_crc)
{
	char key[LK_KEY_MAX_LEN + 8];
	size_t len = build_key("prod", KID, SECRET, key, sizeof(key));

	expect_parse(key, len, LK_PARSE_OK);
	key[len - 1] = key[len - 1] == '0' ? '1' : '0';
	expect_parse(key, len, LK_PARSE_CRC);
	/* "zzzzzz" is 62^6 - 1 > 2^32 - 1: no crc32 encodes to it, and it
	 * must not wrap around to one that does. */
	memcpy(key + len - 6, "zzzzzz", 6);
	expect_parse(key, len, LK_PARSE_CRC);
	len = build_key("prod", KID, SECRET, key, sizeof(key));
	key[10] = key[10] == 'a' ? 'b' : 'a';
	expect_parse(key, len, LK_PARSE_CRC);
}
END_TEST

START_TEST(test_parse_error_str)
{
	const enum lk_parse_error all[] = { LK_PARSE_OK,  LK_PARSE_LENGTH,   LK_PARSE_PREFIX,
		                            LK_PARSE_ENV, LK_PARSE_ALPHABET, LK_PARSE_CRC };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *s = lk_parse_error_str(all[i]);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_gt(strlen(s), 3);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(s, lk_parse_error_str(all[j]));
	}
	ck_assert_ptr_nonnull(lk_parse_error_str((enum lk_parse_error)99));
	ck_assert_uint_gt(strlen(lk_parse_error_str((enum lk_parse_error)99)), 0);
}
END_TEST

/* --------------------------------------------------------------- scopes */

START_TEST(test_scope_valid)
{
	char s64[LK_SCOPE_LEN_MAX + 2];

	ck_assert(lk_scope_valid("billing:read"));
	ck_assert(lk_scope_valid("repo/admin"));
	ck_assert(lk_scope_valid("a"));
	ck_assert(lk_scope_valid("9"));
	ck_assert(lk_scope_valid("x.y_z-w"));
	memset(s64, 'a', LK_SCOPE_LEN_MAX);
	s64[LK_SCOPE_LEN_MAX] = '\0';
	ck_assert(lk_scope_valid(s64));
	s64[LK_SCOPE_LEN_MAX] = 'a';
	s64[LK_SCOPE_LEN_MAX + 1] = '\0';
	ck_assert(!lk_scope_valid(s64));

	ck_assert(!lk_scope_valid(NULL));
	ck_assert(!lk_scope_valid(""));
	ck_assert(!lk_scope_valid(":x"));
	ck_assert(!lk_scope_valid("/x"));
	ck_assert(!lk_scope_valid("-x"));
	ck_assert(!lk_scope_valid(".x"));
	ck_assert(!lk_scope_valid("a b"));
	ck_assert(!lk_scope_valid("a\tb"));
	ck_assert(!lk_scope_valid("billing:*"));
	ck_assert(!lk_scope_valid("\xc3\xa9"));
	ck_assert(!lk_scope_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(test_scopes_normalize)
{
	const char *in[] = { "repo/admin", "billing:read", "repo/admin", "audit", "billing:read" };
	char out[LK_SCOPES_TEXT_MAX];
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_scopes_normalize(in, 5, out, &err), LK_OK);
	ck_assert_str_eq(out, "audit billing:read repo/admin");
	ck_assert_int_eq(lk_scopes_normalize(in, 1, out, &err), LK_OK);
	ck_assert_str_eq(out, "repo/admin");
	/* Order of input never matters. */
	{
		const char *rev[] = { "billing:read", "audit", "repo/admin" };
		ck_assert_int_eq(lk_scopes_normalize(rev, 3, out, &err), LK_OK);
		ck_assert_str_eq(out, "audit billing:read repo/admin");
	}
}
END_TEST

START_TEST(test_scopes_normalize_errors)
{
	const char *bad[] = { "billing:read", "a b" };
	const char *nul[] = { "ok", NULL };
	const char *many[LK_SCOPES_MAX + 1];
	char names[LK_SCOPES_MAX + 1][LK_SCOPE_LEN_MAX + 1];
	char out[LK_SCOPES_TEXT_MAX];
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_scopes_normalize(bad, 0, out, &err), LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "scope") != NULL, "%s", err.msg);

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(lk_scopes_normalize(bad, 2, out, &err), LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "'a b'") != NULL, "message does not name it: %s", err.msg);
	ck_assert_int_eq(lk_scopes_normalize(nul, 2, out, &err), LK_EINVAL);

	/* 32 distinct scopes of the longest length fit exactly... */
	for (size_t i = 0; i < LK_SCOPES_MAX + 1; i++) {
		memset(names[i], 'a', LK_SCOPE_LEN_MAX);
		names[i][LK_SCOPE_LEN_MAX] = '\0';
		snprintf(names[i] + LK_SCOPE_LEN_MAX - 3, 4, "%03zu", i);
		many[i] = names[i];
	}
	memset(&err, 0, sizeof(err));
	ck_assert_msg(lk_scopes_normalize(many, LK_SCOPES_MAX, out, &err) == LK_OK, "%s", err.msg);
	ck_assert_uint_eq(strlen(out), LK_SCOPES_MAX * (LK_SCOPE_LEN_MAX + 1) - 1);
	/* ...and 33 are refused, naming the count. */
	ck_assert_int_eq(lk_scopes_normalize(many, LK_SCOPES_MAX + 1, out, &err), LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "33") != NULL, "%s", err.msg);
}
END_TEST

/*
 * error-private.h: messages "never contain secret material". An API key is
 * what a hurried admin pastes into the wrong argument, and err.msg goes to
 * the terminal, the CLI's JSON output and logs.
 */
START_TEST(test_scopes_error_never_echoes_key)
{
	char key[LK_KEY_MAX_LEN + 1];
	const char *scopes[2];
	struct lk_err err = { { 0 } };
	char out[LK_SCOPES_TEXT_MAX];
	struct lk_apikey k;

	fresh_key("prod", key);
	ck_assert_int_eq(lk_apikey_parse(key, strlen(key), &k), LK_PARSE_OK);
	scopes[0] = "billing:read";
	scopes[1] = key;
	ck_assert_int_eq(lk_scopes_normalize(scopes, 2, out, &err), LK_EINVAL);
	ck_assert_uint_gt(strlen(err.msg), 0);
	ck_assert_msg(!lk_text_contains_key(err.msg), "err.msg holds the key: %s", err.msg);
	/* Not even part of the secret (the kid is public, DESIGN.md). */
	ck_assert_msg(strstr(err.msg, k.secret + LK_SECRET_LEN - 20) == NULL &&
	                  strstr(err.msg, k.secret + 20) == NULL,
	              "err.msg holds part of the key: %s", err.msg);
	lk_apikey_wipe(&k);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(&err, sizeof(err));
}
END_TEST

START_TEST(test_scopes_contains)
{
	const char *set = "audit billing:read repo/admin";

	ck_assert(lk_scopes_contains(set, "audit"));
	ck_assert(lk_scopes_contains(set, "billing:read"));
	ck_assert(lk_scopes_contains(set, "repo/admin"));
	/* No prefix, suffix or substring matching, no wildcards. */
	ck_assert(!lk_scopes_contains("billing:read", "billing"));
	ck_assert(!lk_scopes_contains("billing:read", "billing:"));
	ck_assert(!lk_scopes_contains("billing:read", "read"));
	ck_assert(!lk_scopes_contains("billing", "billing:read"));
	ck_assert(!lk_scopes_contains(set, "repo"));
	ck_assert(!lk_scopes_contains(set, "aud"));
	ck_assert(!lk_scopes_contains(set, "billing:read repo/admin"));
	ck_assert(!lk_scopes_contains(set, ""));
	ck_assert(!lk_scopes_contains(set, "Audit"));
	ck_assert(!lk_scopes_contains("", "audit"));
	ck_assert(!lk_scopes_contains(NULL, "audit"));
}
END_TEST

/* Free text (reasons, descriptions) lands in the audit log and reports:
 * well-formed UTF-8, nothing that changes how the text around it shows. */
START_TEST(test_text_valid_utf8)
{
	static const char *const good[] = {
		"laptop stolen (INC-1042)", "", "Zoë's key — rotated", "日本語の説明", "emoji 🔑 ok",
	};
	static const char *const bad[] = {
		"tab\there",
		"new\nline",
		"del\x7f",
		"c1 \xc2\x9b csi",
		"rlo \xe2\x80\xae evil",
		"lri \xe2\x81\xa6 x",
		"lrm \xe2\x80\x8e",
		"ls \xe2\x80\xa8",
		"bom \xef\xbb\xbf",
		"lone \xff byte",
		"cut \xe2\x80",
		"overlong \xc0\xaf",
		"surrogate \xed\xa0\x80",
		"too big \xf4\x90\x80\x80",
		"nonchar \xef\xbf\xbe",     /* U+FFFE: not an XML character */
		"nonchar \xef\xbf\xbf",     /* U+FFFF */
		"nonchar \xef\xb7\x90",     /* U+FDD0 */
		"nonchar \xf4\x8f\xbf\xbf", /* U+10FFFF */
	};
	char longest[257];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(lk_text_valid(good[i], 256), "refused: %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!lk_text_valid(bad[i], 256), "accepted bad text #%zu", i);
	memset(longest, 'x', 256);
	longest[256] = '\0';
	ck_assert(lk_text_valid(longest, 256));
	ck_assert(!lk_text_valid(longest, 255));
	ck_assert(!lk_text_valid(NULL, 256));
}
END_TEST

/* Text read back for an evidence pack: what is not an XML character, or
 * not UTF-8 at all (a row written outside latchkey), becomes U+FFFD; what
 * is fine is left alone (no copy). */
START_TEST(test_text_xml_copy)
{
	static const struct {
		const char *in, *want; /* want NULL: no copy */
	} cases[] = {
		{ "plain", NULL },
		{ "Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x94\x91", NULL },
		{ "tab\tand\nnewline", NULL },
		{ "x\xef\xbf\xbfy", "x\xef\xbf\xbdy" },
		{ "bell\x07", "bell\xef\xbf\xbd" },
		{ "lone \xff byte", "lone \xef\xbf\xbd byte" },
		{ "cut \xe2\x80", "cut \xef\xbf\xbd\xef\xbf\xbd" },
		{ "surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = (char *)"unset";
		ck_assert_int_eq(lk_text_xml_copy(cases[i].in, &copy), LK_OK);
		if (cases[i].want == NULL) {
			ck_assert_msg(copy == NULL, "case %zu copied", i);
		} else {
			ck_assert_msg(copy != NULL && strcmp(copy, cases[i].want) == 0,
			              "case %zu: '%s'", i, copy ? copy : "(none)");
			free(copy);
		}
	}
}
END_TEST

/* What gets refused from names and text, and masked in every message:
 * anything shaped like a key in any case, mistyped or truncated, and long
 * mixed-case alphanumeric runs (a secret without its prefix). */
START_TEST(test_key_shaped_text)
{
	char key[LK_KEY_MAX_LEN + 1], text[512], secret[LK_SECRET_LEN + 1];
	struct lk_err err = { { 0 } };
	struct lk_apikey k;

	fresh_key("prod", key);
	ck_assert_int_eq(lk_apikey_parse(key, strlen(key), &k), LK_PARSE_OK);
	memcpy(secret, k.secret, sizeof(secret));

	ck_assert(lk_text_looks_like_key(key));
	snprintf(text, sizeof(text), "LK_PROD_%s_%.10s", k.kid, secret);
	ck_assert(lk_text_looks_like_key(text));
	snprintf(text, sizeof(text), "owner-%s", secret);
	ck_assert(lk_text_looks_like_key(text));
	ck_assert(!lk_text_looks_like_key("billing:read"));
	ck_assert(!lk_text_looks_like_key(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	ck_assert(!lk_text_looks_like_key("commit 3f9a2c1d4b5e6f708192a3b4c5d6e7f809a1b2c3"));

	/* Every lk_err message masks the secret, however it was cut or cased. */
	lk_err_set(&err, LK_EINVAL, "bad key id '%.40s'", key);
	ck_assert_ptr_null(strstr(err.msg, secret + LK_SECRET_LEN - 19 - 24));
	ck_assert_ptr_nonnull(strstr(err.msg, k.kid)); /* the kid is public */
	snprintf(text, sizeof(text), "Lk_Prod_%s_%s", k.kid, secret);
	lk_err_set(&err, LK_EINVAL, "bad value '%s'", text);
	ck_assert_ptr_null(strstr(err.msg, secret + 20));
	lk_err_set(&err, LK_EINVAL, "bad value '%s'", secret);
	ck_assert_ptr_null(strstr(err.msg, secret + 20));
	/* A key glued to the word before it is still found (libFuzzer found
	 * the redactor skipping positions inside a run of letters). */
	snprintf(text, sizeof(text), "xlk_prod_%s_%.20s", k.kid, secret);
	lk_err_set(&err, LK_EINVAL, "bad value '%s'", text);
	snprintf(text, sizeof(text), "%.20s", secret);
	ck_assert_ptr_null(strstr(err.msg, text));
	/* Ordinary bad values stay readable. */
	lk_err_set(&err, LK_EINVAL, "bad scope '%s'", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b");
	ck_assert_ptr_nonnull(strstr(err.msg, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b"));

	lk_apikey_wipe(&k);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(text, sizeof(text));
	sodium_memzero(&err, sizeof(err));
}
END_TEST

START_TEST(test_text_contains_key)
{
	char key[LK_KEY_MAX_LEN + 1], text[512], fake[LK_KEY_MAX_LEN + 1];
	size_t len;

	fresh_key("prod", key);
	len = strlen(key);

	ck_assert(lk_text_contains_key(key));
	snprintf(text, sizeof(text), "rotated because %s leaked in a ticket", key);
	ck_assert(lk_text_contains_key(text));
	snprintf(text, sizeof(text), "key=%s", key);
	ck_assert(lk_text_contains_key(text));
	snprintf(text, sizeof(text), "lk_lk_%s.", key);
	ck_assert(lk_text_contains_key(text));
	/* A dev key (shorter env) followed directly by more characters. */
	fresh_key("dev", fake);
	snprintf(text, sizeof(text), "see %sxyz", fake);
	ck_assert(lk_text_contains_key(text));

	/* Look-alikes with a bad checksum are not keys. */
	memcpy(fake, key, len + 1);
	fake[len - 1] = fake[len - 1] == '0' ? '1' : '0';
	ck_assert(!lk_text_contains_key(fake));
	snprintf(text, sizeof(text), "rotated because %s leaked", fake);
	ck_assert(!lk_text_contains_key(text));
	memcpy(fake, key, len + 1);
	fake[20] = fake[20] == 'a' ? 'b' : 'a';
	ck_assert(!lk_text_contains_key(fake));
	/* A truncated key is not a key either. */
	snprintf(text, sizeof(text), "%.*s", (int)len - 1, key);
	ck_assert(!lk_text_contains_key(text));

	ck_assert(!lk_text_contains_key(""));
	ck_assert(!lk_text_contains_key("lk_"));
	ck_assert(!lk_text_contains_key("lk_prod_ and a normal reason"));
	ck_assert(!lk_text_contains_key(NULL));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(text, sizeof(text));
}
END_TEST

/* ----------------------------------------------------------------- cidr */

static void expect_cidr(const char *in, int family, const char *canon)
{
	struct lk_cidr c;
	char out[LK_CIDR_STRLEN];

	ck_assert_msg(lk_cidr_parse(in, &c) == LK_OK, "'%s' rejected", in);
	ck_assert_int_eq(c.family, family);
	lk_cidr_format(&c, out, sizeof(out));
	ck_assert_msg(strcmp(out, canon) == 0, "'%s' formats as '%s', want '%s'", in, out, canon);
}

START_TEST(test_cidr_parse)
{
	expect_cidr("10.0.0.0/8", AF_INET, "10.0.0.0/8");
	expect_cidr("10.1.2.3/8", AF_INET, "10.0.0.0/8");
	expect_cidr("192.168.1.77/24", AF_INET, "192.168.1.0/24");
	expect_cidr("172.16.255.255/12", AF_INET, "172.16.0.0/12");
	expect_cidr("10.1.2.3/31", AF_INET, "10.1.2.2/31");
	expect_cidr("255.255.255.255/0", AF_INET, "0.0.0.0/0");
	expect_cidr("10.1.2.3", AF_INET, "10.1.2.3/32");
	expect_cidr("10.1.2.3/32", AF_INET, "10.1.2.3/32");
	expect_cidr("2001:db8::/32", AF_INET6, "2001:db8::/32");
	expect_cidr("2001:db8:abcd::1/32", AF_INET6, "2001:db8::/32");
	expect_cidr("2001:db8::ff/121", AF_INET6, "2001:db8::80/121");
	expect_cidr("::1", AF_INET6, "::1/128");
	expect_cidr("fe80::1/10", AF_INET6, "fe80::/10");
	expect_cidr("::/0", AF_INET6, "::/0");
}
END_TEST

START_TEST(test_cidr_parse_errors)
{
	static const char *const bad[] = {
		"10.0.0.0/33",
		"/8",
		"10.0.0/8",
		"abc",
		"10.0.0.0/",
		"10.0.0.0/08x",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/ 8",
		"10.0.0.0/8/8",
		"",
		"10.0.0.256",
		"::/129",
		"2001:db8::/",
		"10.0.0.0/0008",
		" 10.0.0.0/8",
		"10.0.0.0 /8",
		"2001:db8:::/32",
	};
	struct lk_cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lk_cidr_parse(bad[i], &c) == LK_EINVAL, "'%s' accepted", bad[i]);
	ck_assert_int_eq(lk_cidr_parse(NULL, &c), LK_EINVAL);
	{
		char long_in[200];
		memset(long_in, '1', sizeof(long_in) - 1);
		long_in[sizeof(long_in) - 1] = '\0';
		ck_assert_int_eq(lk_cidr_parse(long_in, &c), LK_EINVAL);
	}
}
END_TEST

static bool net_has(const char *net, const char *ip)
{
	struct lk_cidr n, a;

	ck_assert_msg(lk_cidr_parse(net, &n) == LK_OK, "net '%s'", net);
	ck_assert_msg(lk_ip_parse(ip, &a) == LK_OK, "ip '%s'", ip);
	return lk_cidr_contains(&n, &a);
}

START_TEST(test_cidr_contains)
{
	ck_assert(net_has("10.0.0.0/8", "10.0.0.1"));
	ck_assert(net_has("10.0.0.0/8", "10.255.255.255"));
	ck_assert(!net_has("10.0.0.0/8", "11.0.0.0"));
	ck_assert(!net_has("10.0.0.0/8", "9.255.255.255"));
	ck_assert(net_has("10.1.2.3/8", "10.200.0.1"));
	ck_assert(net_has("192.168.1.0/25", "192.168.1.127"));
	ck_assert(!net_has("192.168.1.0/25", "192.168.1.128"));
	ck_assert(net_has("10.1.2.3", "10.1.2.3"));
	ck_assert(!net_has("10.1.2.3", "10.1.2.4"));
	ck_assert(net_has("0.0.0.0/0", "203.0.113.9"));
	ck_assert(net_has("2001:db8::/32", "2001:db8:ffff::1"));
	ck_assert(!net_has("2001:db8::/32", "2001:db9::1"));
	ck_assert(net_has("::1", "::1"));
	ck_assert(!net_has("::1", "::2"));

	/* IPv4-mapped IPv6 sources (dual-stack sockets) count as IPv4. */
	ck_assert(net_has("10.0.0.0/8", "::ffff:10.0.0.1"));
	ck_assert(!net_has("10.0.0.0/8", "::ffff:11.0.0.1"));
	/* An IPv4 address never matches an IPv6 network, and vice versa. */
	ck_assert(!net_has("::/0", "10.0.0.1"));
	ck_assert(!net_has("::/0", "::ffff:10.0.0.1"));
	ck_assert(!net_has("0.0.0.0/0", "::1"));
	ck_assert(!net_has("0.0.0.0/0", "2001:db8::1"));
	/* 10.0.0.1 and ::a00:1 share their low bytes; families keep them apart. */
	ck_assert(!net_has("::a00:0/104", "10.0.0.1"));
	ck_assert(!net_has("10.0.0.0/8", "::a00:1"));
}
END_TEST

/*
 * lk_ip_parse turns every IPv4-mapped source into IPv4, so an allow-list
 * entry written in mapped form ("::ffff:10.0.0.0/104", as copied from a
 * dual-stack server's log) could never match anything: a silent lockout.
 * Either refuse it at parse time or make it match what it says.
 */
START_TEST(test_cidr_mapped_network)
{
	static const char *const nets[] = { "::ffff:10.0.0.0/104", "::ffff:10.0.0.1" };
	struct lk_cidr n, a;

	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		if (lk_cidr_parse(nets[i], &n) != LK_OK)
			continue; /* refused: fine */
		ck_assert_int_eq(lk_ip_parse("10.0.0.1", &a), LK_OK);
		ck_assert_msg(lk_cidr_contains(&n, &a), "'%s' accepted but never matches 10.0.0.1",
		              nets[i]);
		ck_assert_int_eq(lk_ip_parse("::ffff:10.0.0.1", &a), LK_OK);
		ck_assert_msg(lk_cidr_contains(&n, &a),
		              "'%s' accepted but never matches ::ffff:10.0.0.1", nets[i]);
	}
}
END_TEST

START_TEST(test_ip_parse)
{
	struct lk_cidr a;
	static const char *const bad[] = { "",           "abc",    "10.0.0.1/32",
		                           "10.0.0.256", "10.0.0", " 10.0.0.1",
		                           "10.0.0.1 ",  "::g",    "1.2.3.4.5" };

	ck_assert_int_eq(lk_ip_parse("10.0.0.1", &a), LK_OK);
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_uint_eq(a.prefix, 32);
	ck_assert_int_eq(lk_ip_parse("::ffff:10.0.0.1", &a), LK_OK);
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_uint_eq(a.addr[0], 10);
	ck_assert_uint_eq(a.addr[3], 1);
	ck_assert_int_eq(lk_ip_parse("2001:db8::1", &a), LK_OK);
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_uint_eq(a.prefix, 128);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lk_ip_parse(bad[i], &a) == LK_EINVAL, "'%s' accepted", bad[i]);
	ck_assert_int_eq(lk_ip_parse(NULL, &a), LK_EINVAL);
}
END_TEST

/* ------------------------------------------------------------ durations */

START_TEST(test_duration_parse)
{
	static const struct {
		const char *in;
		int64_t want;
	} good[] = {
		{ "90s", 90 },
		{ "15m", 900 },
		{ "24h", 86400 },
		{ "30d", 30 * 86400 },
		{ "2w", 14 * 86400 },
		{ "1s", 1 },
		{ "7d", 7 * 86400 },
		{ "36500d", LK_DURATION_MAX },
		{ "5214w", 5214LL * 604800 },
	};
	static const char *const bad[] = {
		"",
		"0d",
		"d",
		"10",
		"1.5d",
		"-1d",
		"10y",
		"5dd",
		"0s",
		"00d",
		" 1d",
		"1d ",
		"1 d",
		"1D",
		"+1d",
		"1d1h",
		"36501d",
		"5215w",
		"3153600001s",
		"99999999999999999999d",
		"18446744073709551617s",
		"9223372036854775808s",
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		ck_assert_msg(lk_duration_parse(good[i].in, &v) == LK_OK, "'%s' rejected",
		              good[i].in);
		ck_assert_msg(v == good[i].want, "'%s' = %lld, want %lld", good[i].in, (long long)v,
		              (long long)good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		ck_assert_msg(lk_duration_parse(bad[i], &v) == LK_EINVAL, "'%s' accepted", bad[i]);
		ck_assert_msg(v == 12345, "'%s' wrote its output on failure", bad[i]);
	}
	ck_assert_int_eq(lk_duration_parse(NULL, &v), LK_EINVAL);
}
END_TEST

START_TEST(test_duration_format)
{
	static const struct {
		int64_t secs;
		const char *want;
	} fixed[] = {
		{ 90, "90s" },         { 900, "15m" },    { 3600, "1h" },
		{ 86400, "1d" },       { 129600, "36h" }, { 30 * 86400, "30d" },
		{ 14 * 86400, "14d" }, { 59, "59s" },     { 5400, "90m" },
	};
	static const int64_t values[] = {
		1,     59,    60,     61,     3599,       3600,        86399,
		86400, 90000, 604800, 604801, 90 * 86400, 365 * 86400, LK_DURATION_MAX
	};
	static const char *const strings[] = { "90s", "15m", "24h", "30d", "2w", "36h", "90d" };
	char out[32];
	int64_t back;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		lk_duration_format(fixed[i].secs, out, sizeof(out));
		ck_assert_str_eq(out, fixed[i].want);
	}
	/* Every positive duration formats to text that parses back to it. */
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		lk_duration_format(values[i], out, sizeof(out));
		ck_assert_msg(lk_duration_parse(out, &back) == LK_OK, "%lld -> '%s' does not parse",
		              (long long)values[i], out);
		ck_assert_int_eq(back, values[i]);
	}
	/* And parse then format gives the same number of seconds again. */
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		int64_t v;
		ck_assert_int_eq(lk_duration_parse(strings[i], &v), LK_OK);
		lk_duration_format(v, out, sizeof(out));
		ck_assert_int_eq(lk_duration_parse(out, &back), LK_OK);
		ck_assert_int_eq(back, v);
	}
}
END_TEST

Suite *apikey_suite(void);

Suite *apikey_suite(void)
{
	Suite *s = suite_create("apikey");
	TCase *tc;

	tc = tcase_create("format");
	tcase_add_checked_fixture(tc, sodium_setup, NULL);
	tcase_add_test(tc, test_format_round_trip);
	tcase_add_test(tc, test_format_small_buffer);
	tcase_add_test(tc, test_generate_rejects_bad_env);
	tcase_add_test(tc, test_env_kid_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("checksum");
	tcase_add_checked_fixture(tc, sodium_setup, NULL);
	tcase_add_test(tc, test_crc_rejects_every_single_change);
	tcase_add_test(tc, test_crc_rejects_swaps);
	suite_add_tcase(s, tc);

	tc = tcase_create("uniqueness");
	tcase_add_checked_fixture(tc, sodium_setup, NULL);
	/* 10,000 keys under valgrind take a while; never a timing assertion. */
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_unique_keys_and_hashes);
	tcase_add_test(tc, test_hash_binds_every_part);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, sodium_setup, NULL);
	tcase_add_test(tc, test_parse_length);
	tcase_add_test(tc, test_parse_prefix);
	tcase_add_test(tc, test_parse_env);
	tcase_add_test(tc, test_parse_separators);
	tcase_add_test(tc, test_parse_alphabet);
	tcase_add_test(tc, test_parse_crc);
	tcase_add_test(tc, test_parse_error_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("scopes");
	tcase_add_checked_fixture(tc, sodium_setup, NULL);
	tcase_add_test(tc, test_scope_valid);
	tcase_add_test(tc, test_scopes_normalize);
	tcase_add_test(tc, test_scopes_normalize_errors);
	tcase_add_test(tc, test_scopes_error_never_echoes_key);
	tcase_add_test(tc, test_scopes_contains);
	tcase_add_test(tc, test_text_contains_key);
	tcase_add_test(tc, test_text_valid_utf8);
	tcase_add_test(tc, test_text_xml_copy);
	tcase_add_test(tc, test_key_shaped_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr");
	tcase_add_test(tc, test_cidr_parse);
	tcase_add_test(tc, test_cidr_parse_errors);
	tcase_add_test(tc, test_cidr_contains);
	tcase_add_test(tc, test_cidr_mapped_network);
	tcase_add_test(tc, test_ip_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_test(tc, test_duration_parse);
	tcase_add_test(tc, test_duration_format);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tk_run_suite(apikey_suite());
}
