/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Brute-force lockout, in the engine (DESIGN.md, invariant 5): failures
 * counted per credential (an API key's kid, a TOTP credential id) and per
 * source (PAM_RHOST, stored by subject pseudonym of kind "source", never
 * the address), with the thresholds, window and duration of the service's
 * policy (<lockout credential-failures= source-failures= window=
 * duration= include-root=>).
 *
 * Table (migration 4, core/migrations.c):
 *   CREATE TABLE lockout (
 *     kind TEXT NOT NULL CHECK (kind IN ('credential', 'source')),
 *     id TEXT NOT NULL,              -- credential id, or the source's pseudonym
 *     failures INTEGER NOT NULL,     -- real failures since window_start
 *     window_start INTEGER NOT NULL,
 *     locked_until INTEGER NOT NULL DEFAULT 0,
 *     PRIMARY KEY (kind, id)
 *   ) WITHOUT ROWID;
 */
#ifndef LATCHKEY_LOCKOUT_PRIVATE_H
#define LATCHKEY_LOCKOUT_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "error-private.h"
#include "policy-private.h"
#include "store-private.h"
#include "subject-private.h"

enum lk_lockout_kind {
	LK_LOCKOUT_CREDENTIAL,
	LK_LOCKOUT_SOURCE,
};

/* True (and *ret_until) if (kind, id) is locked at now under policy's
 * rules; false if the policy sets no limit for that kind. */
int lk_lockout_check(struct lk_store *store, const struct lk_policy *policy,
                     enum lk_lockout_kind kind, const char *id, int64_t now, bool *ret_locked,
                     int64_t *ret_until, struct lk_err *err);

/* A real failure (a wrong key or code, a replay; not a missing policy, a
 * plugin error or a malformed request): counts it, and locks (kind, id)
 * for the policy's duration when the count reaches its threshold within
 * its window. *ret_now_locked tells whether this failure locked it (the
 * engine audits that: auth.lockout). */
int lk_lockout_fail(struct lk_store *store, const struct lk_policy *policy,
                    enum lk_lockout_kind kind, const char *id, int64_t now, bool *ret_now_locked,
                    struct lk_err *err);

/* A success resets the credential's count (not the source's: one good
 * login from an address does not forgive a spray from it). */
int lk_lockout_reset(struct lk_store *store, enum lk_lockout_kind kind, const char *id,
                     struct lk_err *err);

/* The pseudonym a source is counted under (subject kind "source", one per
 * address however it is spelled), for the caller's audit row; LK_ENOTFOUND
 * for a source never seen. */
int lk_lockout_source_ref(struct lk_store *store, const char *source,
                          char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err);

/* An admin lifting a lock (latchkey lockout clear). Audited by the caller. */
int lk_lockout_clear(struct lk_store *store, enum lk_lockout_kind kind, const char *id,
                     struct lk_err *err);

#endif
