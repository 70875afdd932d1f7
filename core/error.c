/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apikey-private.h"
#include "error-private.h"

/*
 * Masks the secret part of anything shaped like a key: error messages echo
 * bad values, and a pasted key, even a truncated or mistyped one, must not
 * reach a log. Done here, once, so no message anywhere can forget it.
 */
/* No name, scope or word mixes letter cases and digits over this long a
 * run; a secret (43) or a secret cut by a "%.40s" in a message does. */
#define REDACT_RUN 24

void lk_redact_keys(char *msg)
{
	char *p = msg;

	/* Every position is a candidate start: a key can follow letters with no
	 * separator ("xlk_prod_..."), inside what looks like one word. */
	while (*p != '\0') {
		size_t end, run, start = lk_key_shape_at(p, &end);
		int classes;

		if (start != 0) {
			memset(p + start, '*', end - start);
			p += end;
			continue;
		}
		/* Long mixed runs too: a secret pasted without its prefix. */
		run = lk_base62_run(p, &classes);
		if (run >= REDACT_RUN && classes >= 2) {
			memset(p, '*', run);
			p += run;
			continue;
		}
		p++;
	}
}

int lk_err_set(struct lk_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	lk_redact_keys(err->msg);
	return rc;
}

int lk_err_prefix(struct lk_err *err, int rc, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	lk_redact_keys(err->msg);
	return rc;
}
