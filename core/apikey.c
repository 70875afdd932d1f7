/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "apikey-private.h"
#include "error-private.h"

const char lk_base62_alphabet[63] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Maps a byte to its base62 digit value, or -1. A table keeps the parser
 * free of locale-dependent ctype calls. */
static int base62_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

bool lk_env_valid(const char *env)
{
	size_t n;

	if (env == NULL)
		return false;
	for (n = 0; env[n] != '\0'; n++) {
		if (env[n] < 'a' || env[n] > 'z' || n >= LK_ENV_MAX)
			return false;
	}
	return n >= LK_ENV_MIN;
}

bool lk_kid_valid(const char *kid)
{
	size_t n;

	if (kid == NULL)
		return false;
	for (n = 0; kid[n] != '\0'; n++) {
		if (n >= LK_KID_LEN || base62_value((unsigned char)kid[n]) < 0)
			return false;
	}
	return n == LK_KID_LEN;
}

void lk_base62_random(char *out, size_t n)
{
	/* randombytes_uniform avoids modulo bias. */
	for (size_t i = 0; i < n; i++)
		out[i] = lk_base62_alphabet[randombytes_uniform(62)];
	out[n] = '\0';
}

int lk_apikey_generate(const char *env, struct lk_apikey *ret_key)
{
	struct lk_apikey k;

	if (!lk_env_valid(env))
		return LK_EINVAL;
	memset(&k, 0, sizeof(k));
	memcpy(k.env, env, strlen(env));
	lk_base62_random(k.kid, LK_KID_LEN);
	lk_base62_random(k.secret, LK_SECRET_LEN);
	*ret_key = k;
	sodium_memzero(&k, sizeof(k));
	return LK_OK;
}

static void crc_encode(uint32_t crc, char out[LK_CRC_LEN])
{
	uint64_t v = crc;

	/* Fixed width, most significant digit first: 62^6 > 2^32. */
	for (int i = LK_CRC_LEN - 1; i >= 0; i--) {
		out[i] = lk_base62_alphabet[v % 62];
		v /= 62;
	}
}

static uint32_t crc_of(const char *s, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)s, (uInt)len);
}

int lk_apikey_format(const struct lk_apikey *key, char *out, size_t outlen)
{
	size_t envlen = strlen(key->env);
	size_t body = 3 + envlen + 1 + LK_KID_LEN + 1 + LK_SECRET_LEN;
	char *p = out;

	if (!lk_env_valid(key->env) || !lk_kid_valid(key->kid) ||
	    strlen(key->secret) != LK_SECRET_LEN)
		return LK_EINVAL;
	if (outlen < body + LK_CRC_LEN + 1)
		return LK_EINVAL;
	memcpy(p, LK_PREFIX, 3);
	p += 3;
	memcpy(p, key->env, envlen);
	p += envlen;
	*p++ = '_';
	memcpy(p, key->kid, LK_KID_LEN);
	p += LK_KID_LEN;
	*p++ = '_';
	memcpy(p, key->secret, LK_SECRET_LEN);
	p += LK_SECRET_LEN;
	crc_encode(crc_of(out, body), p);
	p[LK_CRC_LEN] = '\0';
	return LK_OK;
}

enum lk_parse_error lk_apikey_parse(const char *s, size_t len, struct lk_apikey *ret_key)
{
	struct lk_apikey k;
	size_t envlen, pos;
	uint64_t crc = 0;
	enum lk_parse_error e;

	memset(&k, 0, sizeof(k));
	e = LK_PARSE_LENGTH;
	if (s == NULL || len < LK_KEY_MIN_LEN || len > LK_KEY_MAX_LEN)
		goto out;
	/* The length fixes the environment's length: everything else is fixed. */
	envlen = len - (LK_KEY_MIN_LEN - LK_ENV_MIN);
	e = LK_PARSE_PREFIX;
	if (memcmp(s, LK_PREFIX, 3) != 0)
		goto out;
	e = LK_PARSE_ENV;
	for (size_t i = 0; i < envlen; i++) {
		if (s[3 + i] < 'a' || s[3 + i] > 'z')
			goto out;
	}
	pos = 3 + envlen;
	if (s[pos] != '_' || s[pos + 1 + LK_KID_LEN] != '_')
		goto out;
	e = LK_PARSE_ALPHABET;
	for (size_t i = pos + 1; i < len; i++) {
		if (i == pos + 1 + LK_KID_LEN)
			continue;
		if (base62_value((unsigned char)s[i]) < 0)
			goto out;
	}
	e = LK_PARSE_CRC;
	for (size_t i = len - LK_CRC_LEN; i < len; i++)
		crc = crc * 62 + (uint64_t)base62_value((unsigned char)s[i]);
	if (crc > UINT32_MAX || (uint32_t)crc != crc_of(s, len - LK_CRC_LEN))
		goto out;

	memcpy(k.env, s + 3, envlen);
	memcpy(k.kid, s + pos + 1, LK_KID_LEN);
	memcpy(k.secret, s + pos + 2 + LK_KID_LEN, LK_SECRET_LEN);
	*ret_key = k;
	e = LK_PARSE_OK;
out:
	sodium_memzero(&k, sizeof(k));
	if (e != LK_PARSE_OK && ret_key != NULL)
		sodium_memzero(ret_key, sizeof(*ret_key));
	return e;
}

const char *lk_parse_error_str(enum lk_parse_error e)
{
	switch (e) {
	case LK_PARSE_OK:
		return "well-formed";
	case LK_PARSE_LENGTH:
		return "wrong length";
	case LK_PARSE_PREFIX:
		return "does not start with lk_";
	case LK_PARSE_ENV:
		return "bad environment or separator";
	case LK_PARSE_ALPHABET:
		return "character outside the base62 alphabet";
	case LK_PARSE_CRC:
		return "checksum mismatch";
	}
	return "unknown parse error";
}

int lk_apikey_hash(const struct lk_apikey *key, const unsigned char *pepper,
                   unsigned char out[LK_HASH_LEN])
{
	crypto_generichash_state st;
	static const unsigned char version[] = "v1";
	int r = LK_ECRYPTO;

	if (crypto_generichash_init(&st, pepper, 32, LK_HASH_LEN) != 0)
		goto out;
	/* NUL separators (included via sizeof / +1) make the encoding
	 * unambiguous: env never contains NUL and has variable length. */
	crypto_generichash_update(&st, version, sizeof(version));
	crypto_generichash_update(&st, (const unsigned char *)key->env, strlen(key->env) + 1);
	crypto_generichash_update(&st, (const unsigned char *)key->kid, LK_KID_LEN + 1);
	crypto_generichash_update(&st, (const unsigned char *)key->secret, LK_SECRET_LEN);
	if (crypto_generichash_final(&st, out, LK_HASH_LEN) != 0)
		goto out;
	r = LK_OK;
out:
	sodium_memzero(&st, sizeof(st));
	return r;
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

size_t lk_key_shape_at(const char *s, size_t *ret_end)
{
	size_t i = 3, env = 0, kid = 0, secret;

	/* Case-insensitive: "LK_Prod_..." is a mistyped key, still secret. */
	if ((s[0] != 'l' && s[0] != 'L') || (s[1] != 'k' && s[1] != 'K') || s[2] != '_')
		return 0;
	while (is_letter(s[i]) && env <= LK_ENV_MAX)
		i++, env++;
	if (env < LK_ENV_MIN || env > LK_ENV_MAX || s[i++] != '_')
		return 0;
	while (base62_value((unsigned char)s[i]) >= 0 && kid <= LK_KID_LEN)
		i++, kid++;
	if (kid != LK_KID_LEN || s[i++] != '_')
		return 0;
	secret = i;
	while (base62_value((unsigned char)s[i]) >= 0)
		i++;
	if (i == secret)
		return 0;
	*ret_end = i;
	return secret;
}

size_t lk_base62_run(const char *s, int *ret_classes)
{
	bool digit = false, upper = false, lower = false;
	size_t n = 0;

	for (; base62_value((unsigned char)s[n]) >= 0; n++) {
		digit |= s[n] <= '9';
		upper |= s[n] >= 'A' && s[n] <= 'Z';
		lower |= s[n] >= 'a';
	}
	if (ret_classes != NULL)
		*ret_classes = digit + upper + lower;
	return n;
}

bool lk_text_looks_like_key(const char *text)
{
	size_t end;

	for (const char *p = text; p != NULL && *p != '\0'; p++) {
		if (lk_key_shape_at(p, &end) != 0)
			return true;
		/* A secret without its prefix: 43 or more digits, upper- and
		 * lower-case letters mixed in one run are never a name, a scope
		 * or prose (a random secret lacks one class with p < 0.001). */
		int classes;
		if (lk_base62_run(p, &classes) >= LK_SECRET_LEN && classes == 3)
			return true;
	}
	return false;
}

void lk_apikey_wipe(struct lk_apikey *key)
{
	if (key != NULL)
		sodium_memzero(key, sizeof(*key));
}
