/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_KEYS_PRIVATE_H
#define LATCHKEY_KEYS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "apikey-private.h"
#include "cidr-private.h"
#include "config-private.h"
#include "scopes-private.h"
#include "store-private.h"
#include "subject-private.h"

#define LK_CIDRS_MAX       16
#define LK_CIDRS_TEXT_MAX  (LK_CIDRS_MAX * LK_CIDR_STRLEN + 1)
#define LK_DESCRIPTION_MAX 256
#define LK_REASON_MAX      256
#define LK_LIFETIME_NEVER  (-1)

/* Key rules from the config (later: per policy). */
struct lk_key_rules {
	int64_t max_lifetime;
	int64_t rotation_grace;
	int64_t rotation_age;
	bool allow_never_expiring;
};

void lk_key_rules_from_config(const struct lk_config *cfg, struct lk_key_rules *ret_rules);

struct lk_issue_request {
	const char *owner;
	const char *env;
	const char *const *scopes;
	size_t n_scopes;
	const char *const *cidrs;
	size_t n_cidrs;
	const char *description; /* may be NULL */
	int64_t lifetime;        /* seconds, or LK_LIFETIME_NEVER */
	/* Bind the key to this client certificate (SHA-256 of its DER,
	 * lowercase hex); NULL: not bound. */
	const char *cert_sha256;
};

/* Everything about a key except its secret and hash. */
struct lk_key_info {
	char kid[LK_KID_LEN + 1];
	char owner[LK_NAME_MAX + 1];
	char owner_ref[LK_SUBJECT_REF_LEN + 1];
	char env[LK_ENV_MAX + 1];
	char scopes[LK_SCOPES_TEXT_MAX];
	char cidrs[LK_CIDRS_TEXT_MAX];
	char description[LK_DESCRIPTION_MAX + 1];
	char status[16]; /* stored: active, suspended, revoked */
	char status_reason[LK_REASON_MAX + 1];
	char rotated_from[LK_KID_LEN + 1];
	char rotated_to[LK_KID_LEN + 1];
	int64_t created, expires, last_used, status_changed; /* 0: none */
	char cert_sha256[65]; /* the bound certificate; "" when not bound */
};

/* What a person should read: revoked, suspended, expired, rotated (in its
 * grace period) or active. */
const char *lk_key_effective_status(const struct lk_key_info *k, int64_t now);

/*
 * Issues a key. Writes the full key string (shown once, then the caller
 * must wipe it) to ret_key (LK_KEY_MAX_LEN + 1 bytes). The row, the owner's
 * subject and the audit event commit together.
 */
int lk_key_issue(struct lk_store *store, const struct lk_key_rules *rules,
                 const struct lk_issue_request *req, int64_t actor, int64_t now, char *ret_key,
                 struct lk_key_info *ret_info, struct lk_err *err);

int lk_key_get(struct lk_store *store, const char *kid, struct lk_key_info *ret_info,
               struct lk_err *err);

struct lk_key_filter {
	const char *owner; /* NULL: all */
	const char *env;   /* NULL: all */
};

/* Listing callbacks: return 0 to go on, > 0 to stop early, < 0 on failure
 * (out of memory), which fails the whole call. */
int lk_key_list(struct lk_store *store, const struct lk_key_filter *filter,
                int (*cb)(const struct lk_key_info *key, void *ctx), void *ctx, struct lk_err *err);

/*
 * Issues a successor with the same owner, env, scopes, CIDRs, description
 * and lifetime (capped by the rules). The old key stays valid until
 * min(now + grace, its own expiry), or is revoked at once with immediate.
 */
int lk_key_rotate(struct lk_store *store, const struct lk_key_rules *rules, const char *kid,
                  bool immediate, int64_t actor, int64_t now, char *ret_key,
                  struct lk_key_info *ret_info, struct lk_err *err);

int lk_key_revoke(struct lk_store *store, const char *kid, const char *reason, int64_t actor,
                  int64_t now, struct lk_err *err);
int lk_key_suspend(struct lk_store *store, const char *kid, const char *reason, int64_t actor,
                   int64_t now, struct lk_err *err);
int lk_key_resume(struct lk_store *store, const char *kid, const char *reason, int64_t actor,
                  int64_t now, struct lk_err *err);

/* Binds a live key to a client certificate (cert_sha256: lowercase hex),
 * replacing any earlier binding, or unbinds it (NULL); audited key.bind /
 * key.unbind with the reason. From then on the key works only presented
 * with that certificate (lk_key_check: "pin-mismatch"). */
int lk_key_bind(struct lk_store *store, const char *kid, const char *cert_sha256,
                const char *reason, int64_t actor, int64_t now, struct lk_err *err);

/* Revokes every live key of owner in one transaction (offboarding). */
int lk_key_revoke_all(struct lk_store *store, const char *owner, const char *reason, int64_t actor,
                      int64_t now, size_t *ret_count, struct lk_err *err);

/* lk_key_revoke_all_left's left when the departure time was not given. */
#define LK_LEFT_UNKNOWN INT64_MIN

/*
 * The same, recording when the owner left (Unix seconds; LK_LEFT_UNKNOWN:
 * not given) as left= in the owner.revoke-all row, which the evidence
 * packs' offboarding test measures the offboarding_sla from. A departure
 * after now (or before 1970) is refused (LK_EINVAL) and nothing changes.
 */
int lk_key_revoke_all_left(struct lk_store *store, const char *owner, const char *reason,
                           int64_t left, int64_t actor, int64_t now, size_t *ret_count,
                           struct lk_err *err);

/* Live, unrotated keys that expire, or pass the rotation age, before
 * now + within. */
int lk_key_due(struct lk_store *store, const struct lk_key_rules *rules, int64_t within,
               int64_t now, int (*cb)(const struct lk_key_info *key, void *ctx), void *ctx,
               struct lk_err *err);

enum lk_verdict {
	LK_VERDICT_OK = 0,
	LK_VERDICT_MALFORMED,
	LK_VERDICT_UNKNOWN,
	LK_VERDICT_BAD_SECRET,
	LK_VERDICT_REVOKED,
	LK_VERDICT_SUSPENDED,
	LK_VERDICT_EXPIRED,
	LK_VERDICT_WRONG_ENVIRONMENT,
	LK_VERDICT_SCOPE_MISSING,
	LK_VERDICT_SOURCE_NOT_ALLOWED,
	LK_VERDICT_CERT_MISMATCH, /* a certificate-bound key without its certificate */
};

/* "ok", "malformed", "unknown", "bad-secret", ... */
const char *lk_verdict_str(enum lk_verdict v);

struct lk_verify_request {
	const char *env; /* NULL: not checked */
	const char *const *scopes;
	size_t n_scopes;
	const char *source; /* client address; NULL: none known */
	/* SHA-256 (lowercase hex) of the client certificate presented with
	 * the key, NULL if none: a bound key needs exactly that one. */
	const char *cert_sha256;
};

struct lk_verify_result {
	enum lk_verdict verdict;
	char kid[LK_KID_LEN + 1]; /* empty when malformed */
	char owner_ref[LK_SUBJECT_REF_LEN + 1];
	bool in_grace;     /* accepted as a rotated key in its grace period */
	int64_t audit_seq; /* lk_key_verify only */
};

/* Validates the request itself (scopes, env, source): LK_EINVAL names the
 * bad value. A bad request is the caller's error, not a verdict. */
int lk_verify_request_check(const struct lk_verify_request *req, struct lk_err *err);

/*
 * The verification path without side effects: format and CRC, lookup by kid,
 * keyed hash compared in constant time, then status, expiry, environment,
 * scopes and source. Needs a store opened with the master key.
 */
int lk_key_check(struct lk_store *store, const char *key, size_t keylen,
                 const struct lk_verify_request *req, int64_t now,
                 struct lk_verify_result *ret_result, struct lk_err *err);

/* lk_key_check plus the audit event (and last_used on success), committed
 * before returning: a verdict is only ever returned once it is recorded.
 * If recording fails the call fails, and the caller must deny. */
int lk_key_verify(struct lk_store *store, const char *key, size_t keylen,
                  const struct lk_verify_request *req, int64_t actor, int64_t now,
                  struct lk_verify_result *ret_result, struct lk_err *err);

#endif
