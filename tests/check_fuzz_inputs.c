/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The short run of tests/fuzz_inputs.c in "make check": seeds (real keys,
 * addresses, durations, key-shaped text) and deterministic mutations of
 * them through LLVMFuzzerTestOneInput, whose own checks abort on a broken
 * round trip or a key that survives redaction.
 */
#include "config.h"

#include <check.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "apikey-private.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	/* xorshift64*: fixed seed, so every run checks the same inputs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

START_TEST(test_seeds_and_mutations)
{
	char key[LK_KEY_MAX_LEN + 1], text[600];
	struct lk_apikey k;
	const char *fixed[] = { "10.0.0.0/8",
		                "2001:db8::/32",
		                "::ffff:10.0.0.1",
		                "192.0.2.7",
		                "30d",
		                "24h",
		                "9999999w",
		                "0d",
		                "bad key lk_prod_",
		                "Zoë's reason ok",
		                "",
		                "\xff\xfe" };
	size_t n_seeds = 0;
	char seeds[16][600];

	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_int_eq(lk_apikey_generate("prod", &k), LK_OK);
	ck_assert_int_eq(lk_apikey_format(&k, key, sizeof(key)), LK_OK);
	snprintf(seeds[n_seeds++], sizeof(seeds[0]), "%s", key);
	snprintf(seeds[n_seeds++], sizeof(seeds[0]), "reason mentions %s and more", key);
	snprintf(seeds[n_seeds++], sizeof(seeds[0]), "LK_Prod_%s_%s", k.kid, k.secret);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		snprintf(seeds[n_seeds++], sizeof(seeds[0]), "%s", fixed[i]);
	lk_apikey_wipe(&k);

	for (size_t s = 0; s < n_seeds; s++) {
		size_t len = strlen(seeds[s]);
		LLVMFuzzerTestOneInput((const uint8_t *)seeds[s], len);
		for (int round = 0; round < 400; round++) {
			size_t l = len;
			memcpy(text, seeds[s], len);
			for (int m = 0; m < 1 + (int)(next() % 3); m++) {
				uint64_t r = next();
				size_t pos = l ? (size_t)(r >> 8) % l : 0;
				switch (r % 4) {
				case 0: /* flip a bit */
					if (l)
						text[pos] ^= (char)(1u << ((r >> 40) % 8));
					break;
				case 1: /* truncate */
					l = pos;
					break;
				case 2: /* insert a byte */
					if (l + 1 < sizeof(text)) {
						memmove(text + pos + 1, text + pos, l - pos);
						text[pos] = (char)(r >> 48);
						l++;
					}
					break;
				default: /* replace with a base62 char */
					if (l)
						text[pos] = lk_base62_alphabet[(r >> 32) % 62];
					break;
				}
			}
			LLVMFuzzerTestOneInput((const uint8_t *)text, l);
		}
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(seeds, sizeof(seeds));
	sodium_memzero(text, sizeof(text));
}
END_TEST

Suite *fuzz_inputs_suite(void);

Suite *fuzz_inputs_suite(void)
{
	Suite *s = suite_create("fuzz_inputs");
	TCase *tc = tcase_create("short_run");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_seeds_and_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(fuzz_inputs_suite());
}
