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
void lk_redact_keys(char *msg)
{
	for (char *p = strstr(msg, LK_PREFIX); p != NULL; p = strstr(p + 1, LK_PREFIX)) {
		size_t end, start = lk_key_shape_at(p, &end);
		for (size_t i = start; start != 0 && i < end; i++)
			p[i] = '*';
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
