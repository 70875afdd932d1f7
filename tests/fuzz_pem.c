/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the mtls plugin's chain parser, the one place raw
 * client certificate bytes are parsed (configure --enable-fuzzing with
 * CC=clang builds tests/fuzz_pem):
 *
 *   ./tests/fuzz_pem -max_total_time=60 CORPUS_DIR
 *
 * Whatever the bytes: a refusal says why in one printable line and hands
 * back no chain; an acceptance is 1 to 10 certificates from at most 32768
 * bytes, which encode again as DER, and whose DER parses again to the same
 * certificates. tests/check_mtls calls this same function over its inputs
 * and thousands of mutations of them.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "chain-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char der[MTLS_CHAIN_MAX_BYTES];

static void check_why(const char *why, size_t len)
{
	size_t n = strnlen(why, len);

	if (n == 0 || n == len)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] > 0x7e)
			abort();
}

/* The chain as back-to-back DER, parsed again: the same certificates. */
static void round_trip(STACK_OF(X509) * chain)
{
	STACK_OF(X509) *again = NULL;
	size_t len = 0;
	char why[160];

	for (int i = 0; i < sk_X509_num(chain); i++) {
		int n = i2d_X509(sk_X509_value(chain, i), NULL);
		unsigned char *p = der + len;
		if (n <= 0)
			abort();
		if (len + (size_t)n > sizeof(der))
			return; /* longer than the input limit once re-encoded */
		if (i2d_X509(sk_X509_value(chain, i), &p) != n)
			abort();
		len += (size_t)n;
	}
	if (mtls_chain_parse(der, len, &again, why, sizeof(why)) != 0 ||
	    sk_X509_num(again) != sk_X509_num(chain))
		abort();
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(chain, i), sk_X509_value(again, i)) != 0)
			abort();
	sk_X509_pop_free(again, X509_free);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *chain = NULL;
	char why[160];
	int r;

	memset(why, 'x', sizeof(why));
	r = mtls_chain_parse(data, size, &chain, why, sizeof(why));
	if (r != 0) {
		if ((r != MTLS_CHAIN_MALFORMED && r != MTLS_CHAIN_NOMEM) || chain != NULL)
			abort();
		check_why(why, sizeof(why));
	} else {
		if (chain == NULL || sk_X509_num(chain) < 1 ||
		    sk_X509_num(chain) > MTLS_CHAIN_MAX_CERTS || size > MTLS_CHAIN_MAX_BYTES ||
		    why[0] != '\0')
			abort();
		round_trip(chain);
		sk_X509_pop_free(chain, X509_free);
	}
	ERR_clear_error();
	return 0;
}
