/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_APIKEY_PRIVATE_H
#define LATCHKEY_APIKEY_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * API key format (DESIGN.md): lk_<env>_<kid>_<secret><crc>
 *   env    [a-z]{2,8}      printed so a leaked key shows where it works
 *   kid    12 base62       random, public lookup handle
 *   secret 43 base62       randombytes_uniform(62) each, ~256 bits
 *   crc    6 base62        zlib crc32() of everything before it
 */
#define LK_PREFIX      "lk_"
#define LK_ENV_MIN     2
#define LK_ENV_MAX     8
#define LK_KID_LEN     12
#define LK_SECRET_LEN  43
#define LK_CRC_LEN     6
#define LK_KEY_MIN_LEN (3 + LK_ENV_MIN + 1 + LK_KID_LEN + 1 + LK_SECRET_LEN + LK_CRC_LEN)
#define LK_KEY_MAX_LEN (3 + LK_ENV_MAX + 1 + LK_KID_LEN + 1 + LK_SECRET_LEN + LK_CRC_LEN)
#define LK_HASH_LEN    32
#define LK_HASH_ALG    "blake2b-256-v1"

struct lk_apikey {
	char env[LK_ENV_MAX + 1];
	char kid[LK_KID_LEN + 1];
	char secret[LK_SECRET_LEN + 1];
};

/* Why a string is not a well-formed key; checked before any lookup. */
enum lk_parse_error {
	LK_PARSE_OK = 0,
	LK_PARSE_LENGTH,
	LK_PARSE_PREFIX,
	LK_PARSE_ENV,
	LK_PARSE_ALPHABET,
	LK_PARSE_CRC,
};

extern const char lk_base62_alphabet[63];

/* True for a valid environment name: [a-z]{2,8}. */
bool lk_env_valid(const char *env);

/* True for a valid key id: exactly 12 base62 characters. */
bool lk_kid_valid(const char *kid);

/* Fills n characters from the base62 alphabet using the CSPRNG, plus a NUL. */
void lk_base62_random(char *out, size_t n);

/* Generates a fresh kid and secret for env. LK_EINVAL if env is invalid. */
int lk_apikey_generate(const char *env, struct lk_apikey *ret_key);

/* Writes the full key string with its CRC into out (>= LK_KEY_MAX_LEN + 1). */
int lk_apikey_format(const struct lk_apikey *key, char *out, size_t outlen);

/*
 * Parses a key string of len bytes (no NUL needed). Rejects wrong length,
 * prefix, environment, alphabet and CRC, in that order. On failure ret_key
 * is left wiped.
 */
enum lk_parse_error lk_apikey_parse(const char *s, size_t len, struct lk_apikey *ret_key);

/* Human words for a parse error, e.g. "bad checksum". */
const char *lk_parse_error_str(enum lk_parse_error e);

/*
 * Keyed BLAKE2b-256 over "v1" || env || kid || secret, each NUL-separated,
 * keyed with the 32-byte pepper.
 */
int lk_apikey_hash(const struct lk_apikey *key, const unsigned char *pepper,
                   unsigned char out[LK_HASH_LEN]);

/*
 * If s starts with something shaped like a key, "lk_<env>_<kid>_" (any case)
 * and at least one base62 character, returns the offset where the secret starts
 * and sets *ret_end to the end of the base62 run; else returns 0. No CRC
 * check: a mistyped or truncated key is still a secret.
 */
size_t lk_key_shape_at(const char *s, size_t *ret_end);

/* Length of the run of base62 characters at s; ret_classes (may be NULL)
 * gets how many of digits, upper case and lower case occur in it. */
size_t lk_base62_run(const char *s, int *ret_classes);

/* True if text contains anything lk_key_shape_at recognises, or a run of
 * LK_SECRET_LEN or more base62 characters mixing digits, upper and lower
 * case (a bare secret). Names, scopes,
 * reasons and descriptions that do are refused: they would be stored. */
bool lk_text_looks_like_key(const char *text);

/* Wipes the secret parts of key. Accepts NULL. */
void lk_apikey_wipe(struct lk_apikey *key);

#endif
