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
	size_t run;

	for (char *p = msg; *p != '\0'; p += run > 0 ? run : 1) {
		size_t end, start = lk_key_shape_at(p, &end);
		for (size_t i = start; start != 0 && i < end; i++)
			p[i] = '*';
		/* Long bare runs too: a secret pasted without its prefix. */
		int classes;
		run = lk_base62_run(p, &classes);
		if (run >= REDACT_RUN && classes >= 2)
			memset(p, '*', run);
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
