/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the policy parser (configure --enable-fuzzing with
 * CC=clang builds tests/fuzz_policy):
 *
 *   ./tests/fuzz_policy -max_total_time=60 CORPUS_DIR $(srcdir)/policies
 *
 * Whatever the bytes, the parser must either return a policy that writes
 * back to XML which parses again to the same policy, or fail with a
 * message naming the input. tests/check_policy calls this same function
 * over the examples, the bad inputs and a few hundred mutations of them.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_policy *p = NULL, *again = NULL;
	struct lk_err err = { { 0 } };
	char *xml = NULL, *xml2 = NULL;
	size_t len = 0, len2 = 0;

	if (lk_policy_parse((const char *)data, size, "fuzz", &p, &err) < 0) {
		if (p != NULL || strncmp(err.msg, "fuzz:", 5) != 0)
			abort(); /* a failure must leave no policy and name the input */
		return 0;
	}
	if (p == NULL)
		abort();
	/* An accepted policy must survive the round trip "policy mfa" makes,
	 * and its canonical form must be a fixed point (so nothing the policy
	 * says was lost or changed on the way). */
	if (lk_policy_to_xml(p, &xml, &len, &err) < 0 ||
	    lk_policy_parse(xml, len, "fuzz-again", &again, &err) < 0 ||
	    lk_policy_to_xml(again, &xml2, &len2, &err) < 0 || len != len2 ||
	    memcmp(xml, xml2, len) != 0 || strcmp(p->service, again->service) != 0 ||
	    p->n_steps != again->n_steps || p->n_scopes != again->n_scopes ||
	    p->n_stepups != again->n_stepups)
		abort();
	free(xml);
	free(xml2);
	lk_policy_free(again);
	lk_policy_free(p);
	return 0;
}
