/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "apikey-private.h"
#include "scopes-private.h"
#include "util-private.h"

bool lk_scope_valid(const char *scope)
{
	if (scope == NULL || !lk_token_valid(scope, LK_SCOPE_LEN_MAX, ":._/-") ||
	    lk_text_looks_like_key(scope))
		return false;
	return strchr(":._/-", scope[0]) == NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int lk_scopes_normalize(const char *const *scopes, size_t n, char out[LK_SCOPES_TEXT_MAX],
                        struct lk_err *err)
{
	const char *sorted[LK_SCOPES_MAX];
	size_t len = 0;

	if (n == 0)
		return lk_err_set(err, LK_EINVAL,
		                  "at least one scope is required (no scope means no access)");
	if (n > LK_SCOPES_MAX)
		return lk_err_set(err, LK_EINVAL, "too many scopes: %zu (at most %d)", n,
		                  LK_SCOPES_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!lk_scope_valid(scopes[i]))
			return lk_err_set(
			    err, LK_EINVAL,
			    "bad scope '%.80s' (letters, digits and :._/- , at most %d)",
			    scopes[i] != NULL ? scopes[i] : "", LK_SCOPE_LEN_MAX);
		sorted[i] = scopes[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t sl = strlen(sorted[i]);
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, sorted[i], sl);
		len += sl;
		out[len] = '\0';
	}
	return LK_OK;
}

bool lk_scopes_contains(const char *set, const char *scope)
{
	size_t sl = strlen(scope);
	const char *p = set;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ' ');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == sl && memcmp(p, scope, sl) == 0)
			return true;
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

bool lk_text_contains_key(const char *text)
{
	const char *p = text;
	struct lk_apikey k;

	while (p != NULL && (p = strstr(p, LK_PREFIX)) != NULL) {
		size_t avail = strlen(p);
		for (size_t len = LK_KEY_MIN_LEN; len <= LK_KEY_MAX_LEN && len <= avail; len++) {
			if (lk_apikey_parse(p, len, &k) == LK_PARSE_OK) {
				lk_apikey_wipe(&k);
				return true;
			}
		}
		p++;
	}
	return false;
}
