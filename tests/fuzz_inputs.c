/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the small parsers every CLI argument and every
 * presented key goes through: the API-key parser (with its round-trip
 * property), CIDR and address parsing, durations, free-text and key-shape
 * checks, and the error-message redactor. Built as tests/fuzz_inputs with
 * --enable-fuzzing; tests/check_fuzz_inputs runs the same entry point over
 * seeds and deterministic mutations in every "make check".
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apikey-private.h"
#include "cidr-private.h"
#include "error-private.h"
#include "util-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], again[LK_KEY_MAX_LEN + 1];
	struct lk_apikey k;
	struct lk_cidr c, a;
	int64_t secs;
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

	/* The key parser takes a length, not a C string: give it the raw bytes. */
	if (lk_apikey_parse((const char *)data, size, &k) == LK_PARSE_OK) {
		/* Whatever parses must format back to exactly the same bytes. */
		if (lk_apikey_format(&k, again, sizeof(again)) != LK_OK || strlen(again) != size ||
		    memcmp(again, data, size) != 0)
			abort();
	}
	lk_apikey_wipe(&k);

	memcpy(text, data, n);
	text[n] = '\0';
	if (lk_cidr_parse(text, &c) == LK_OK) {
		char out[LK_CIDR_STRLEN];
		lk_cidr_format(&c, out, sizeof(out));
		/* Canonical text parses to the same network. */
		if (lk_cidr_parse(out, &a) != LK_OK || a.family != c.family ||
		    a.prefix != c.prefix || memcmp(a.addr, c.addr, sizeof(a.addr)) != 0)
			abort();
		(void)lk_cidr_contains(&c, &c);
	}
	if (lk_ip_parse(text, &a) == LK_OK) {
		char out[LK_CIDR_STRLEN];
		lk_ip_format(&a, out, sizeof(out));
	}
	if (lk_duration_parse(text, &secs) == LK_OK) {
		char out[32];
		int64_t back;
		if (secs <= 0 || secs > LK_DURATION_MAX)
			abort();
		lk_duration_format(secs, out, sizeof(out));
		if (lk_duration_parse(out, &back) != LK_OK || back != secs)
			abort();
	}
	(void)lk_text_valid(text, sizeof(text));
	(void)lk_text_looks_like_key(text);
	lk_redact_keys(text);
	/* After redaction nothing shaped like a key keeps its secret. */
	for (const char *p = text; *p != '\0'; p++) {
		size_t end, start = lk_key_shape_at(p, &end);
		for (size_t i = start; start != 0 && i < end; i++)
			if (p[i] != '*')
				abort();
	}
	return 0;
}
