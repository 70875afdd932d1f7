/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_SCOPES_PRIVATE_H
#define LATCHKEY_SCOPES_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "error-private.h"

#define LK_SCOPE_LEN_MAX 64
#define LK_SCOPES_MAX    32
/* Space-joined set: every scope plus its separator, and the NUL. */
#define LK_SCOPES_TEXT_MAX (LK_SCOPES_MAX * (LK_SCOPE_LEN_MAX + 1) + 1)

/* A scope: starts with a letter or digit, then [A-Za-z0-9:._/-], at most
 * 64 characters ("billing:read", "repo/admin"). No wildcards: a key holds
 * exactly the scopes it was given. */
bool lk_scope_valid(const char *scope);

/*
 * Validates scopes and writes them sorted, without duplicates, joined by
 * single spaces. Fails on an empty list, a bad scope (named in err) or more
 * than LK_SCOPES_MAX.
 */
int lk_scopes_normalize(const char *const *scopes, size_t n, char out[LK_SCOPES_TEXT_MAX],
                        struct lk_err *err);

/* True if the space-joined set contains scope exactly. */
bool lk_scopes_contains(const char *set, const char *scope);

/* True if text contains a substring that parses as a Latchkey API key with a
 * valid checksum: used to refuse keys pasted into reasons and descriptions,
 * which end up in the audit log. */
bool lk_text_contains_key(const char *text);

#endif
