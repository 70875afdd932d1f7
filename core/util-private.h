/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_UTIL_PRIVATE_H
#define LATCHKEY_UTIL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-private.h"

#define LK_DURATION_MAX (100LL * 365 * 86400) /* a century: beyond that is a typo */

/*
 * Parses a duration such as "90s", "15m", "24h", "30d" or "2w" into seconds.
 * Digits then exactly one unit; zero is rejected. LK_EINVAL on anything else.
 */
int lk_duration_parse(const char *s, int64_t *ret_seconds);

/* Formats seconds as the largest exact unit up to days ("30d", "36h", "90s"). */
void lk_duration_format(int64_t seconds, char *out, size_t outlen);

/* Formats a Unix time as ISO 8601 UTC ("2026-11-28T03:46:25Z"). */
void lk_time_format(int64_t t, char *out, size_t outlen);

/*
 * The current Unix time. Fails (LK_ECRYPTO is wrong here, so LK_EIO) if the
 * clock cannot be read or is before 2020: decisions must never be made on a
 * broken clock.
 */
int lk_now(int64_t *ret_now);

struct stat;

/*
 * Refuses a file that another user could have written: the owner must be
 * the effective user or root, and no bit of forbidden_mode may be set (022:
 * nobody else may write it). A config or database planted by another user
 * would otherwise decide which keys are valid. what names the file in the
 * message ("config", "database").
 */
int lk_check_owner_mode(const struct stat *st, const char *what, const char *path,
                        unsigned forbidden_mode, struct lk_err *err);

/* True if s is 1..max printable ASCII characters from the given extra set
 * plus alphanumerics. Used to validate names, scopes and reasons. */
bool lk_token_valid(const char *s, size_t max, const char *extra);

/* A PAM service name: [a-z0-9][a-z0-9._-]{0,63}, so it is also a safe file
 * name (<policy_dir>/<service>.xml). Here, not in the policy parser, so the
 * PAM module's protocol code needs no XML library. */
bool lk_service_name_valid(const char *s);

/* True if s has at most max bytes of well-formed UTF-8 with no control,
 * bidirectional-override or separator characters (free text). */
bool lk_text_valid(const char *s, size_t max);

/* For text read back from a database that may hold rows latchkey did not
 * write: *ret_copy is NULL when s is all well-formed UTF-8 of XML 1.0
 * characters, else a malloc'd copy with every other byte or sequence
 * replaced by U+FFFD. LK_ENOMEM when the copy cannot be made. */
int lk_text_xml_copy(const char *s, char **ret_copy);

#endif
