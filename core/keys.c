/* SPDX-License-Identifier: Apache-2.0 */
/* API-key lifecycle: issue, read, rotate, revoke, suspend, resume, due. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit-private.h"
#include "certs-private.h"
#include "keys-private.h"
#include "util-private.h"

void lk_key_rules_from_config(const struct lk_config *cfg, struct lk_key_rules *ret_rules)
{
	ret_rules->max_lifetime = cfg->key_max_lifetime;
	ret_rules->rotation_grace = cfg->rotation_grace;
	ret_rules->rotation_age = cfg->rotation_age;
	ret_rules->allow_never_expiring = cfg->allow_never_expiring;
}

const char *lk_key_effective_status(const struct lk_key_info *k, int64_t now)
{
	if (strcmp(k->status, "active") != 0)
		return k->status;
	if (k->expires != 0 && k->expires <= now)
		return "expired";
	if (k->rotated_to[0] != '\0')
		return "rotated";
	return "active";
}

static int check_free_text(const char *what, const char *text, size_t max, struct lk_err *err)
{
	if (!lk_text_valid(text, max))
		return lk_err_set(err, LK_EINVAL,
		                  "bad %s: invalid UTF-8, control or bidirectional characters, or "
		                  "longer than %zu bytes",
		                  what, max);
	/* These strings land in the audit log and reports. */
	if (lk_text_looks_like_key(text))
		return lk_err_set(err, LK_EINVAL,
		                  "the %s contains an API key; never paste keys into text fields",
		                  what);
	return LK_OK;
}

static int normalize_cidrs(const char *const *cidrs, size_t n, char out[LK_CIDRS_TEXT_MAX],
                           struct lk_err *err)
{
	size_t len = 0;

	out[0] = '\0';
	if (n > LK_CIDRS_MAX)
		return lk_err_set(err, LK_EINVAL, "too many CIDRs: %zu (at most %d)", n,
		                  LK_CIDRS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct lk_cidr c;
		char text[LK_CIDR_STRLEN];
		if (lk_cidr_parse(cidrs[i], &c) != LK_OK)
			return lk_err_set(err, LK_EINVAL,
			                  "bad CIDR '%.60s' (expected e.g. 10.0.0.0/8)",
			                  cidrs[i] != NULL ? cidrs[i] : "");
		lk_cidr_format(&c, text, sizeof(text));
		len += (size_t)snprintf(out + len, LK_CIDRS_TEXT_MAX - len, "%s%s", len ? " " : "",
		                        text);
	}
	return LK_OK;
}

/* Writes "a,b,c" for a space-joined set, for audit details. */
static void commas(const char *set, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", set);
	for (char *p = out; *p != '\0'; p++)
		if (*p == ' ')
			*p = ',';
}

static const char sql_insert[] =
    "INSERT INTO api_key (kid, owner_ref, env, scopes, allow_cidrs, description, hash, hash_alg,"
    " pepper_ver, created, expires, status, rotated_from, cert_sha256)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'active', ?12, ?13)";

/* The shared core of issue and rotate: generates, hashes and inserts a key
 * and its audit row inside the caller's transaction. */
static int insert_key(struct lk_store *store, const char *owner_ref, const char *env,
                      const char *scopes, const char *cidrs, const char *description,
                      int64_t expires, const char *rotated_from, const char *cert_sha256,
                      const char *action, int64_t actor, int64_t now, char *ret_key,
                      char ret_kid[LK_KID_LEN + 1], struct lk_err *err)
{
	struct lk_apikey k;
	unsigned char hash[LK_HASH_LEN];
	char detail[LK_SCOPES_TEXT_MAX + LK_CIDRS_TEXT_MAX + 200], scopes_c[LK_SCOPES_TEXT_MAX],
	    cidrs_c[LK_CIDRS_TEXT_MAX], exp[32];
	sqlite3_stmt *st;
	int r;

	if (store->pepper == NULL)
		return lk_err_set(err, LK_ECRYPTO, "the master key is not loaded");
	r = lk_apikey_generate(env, &k);
	if (r < 0)
		return lk_err_set(err, r, "bad environment '%s'", env);
	r = lk_apikey_hash(&k, store->pepper, hash);
	if (r < 0) {
		lk_err_set(err, r, "hashing failed");
		goto out;
	}
	r = lk_err_set(err, LK_ESTORE, "preparing the insert");
	st = lk_store_stmt(store, sql_insert, err);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, k.kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner_ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, scopes, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, cidrs, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, description != NULL ? description : "", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, hash, LK_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, LK_HASH_ALG, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, LK_PEPPER_VERSION);
	sqlite3_bind_int64(st, 10, now);
	if (expires != 0)
		sqlite3_bind_int64(st, 11, expires);
	sqlite3_bind_text(st, 12, rotated_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, cert_sha256, -1, SQLITE_STATIC);
	r = lk_store_exec_stmt(store, st, "inserting the key", err);
	if (r < 0)
		goto out;

	commas(scopes, scopes_c, sizeof(scopes_c));
	commas(cidrs, cidrs_c, sizeof(cidrs_c));
	if (expires != 0)
		lk_time_format(expires, exp, sizeof(exp));
	else
		snprintf(exp, sizeof(exp), "never");
	snprintf(detail, sizeof(detail), "env=%s scopes=%s cidrs=%s expires=%s%s%s%s%s", env,
	         scopes_c, cidrs_c[0] ? cidrs_c : "any", exp, rotated_from ? " rotated_from=" : "",
	         rotated_from ? rotated_from : "", cert_sha256 ? " cert=sha256:" : "",
	         cert_sha256 ? cert_sha256 : "");
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor,
	                                              .subject_ref = owner_ref,
	                                              .kid = k.kid,
	                                              .action = action,
	                                              .reason = "ok",
	                                              .detail = detail },
	                    NULL, err);
	if (r < 0)
		goto out;
	r = lk_apikey_format(&k, ret_key, LK_KEY_MAX_LEN + 1);
	if (r < 0) {
		lk_err_set(err, r, "formatting the key failed");
		goto out;
	}
	memcpy(ret_kid, k.kid, sizeof(k.kid));
out:
	lk_apikey_wipe(&k);
	sodium_memzero(hash, sizeof(hash));
	return r;
}

/* A bound certificate's fingerprint as the store keeps it (callers
 * normalise with lk_cert_fingerprint_parse). */
static int check_fingerprint(const char *sha256, struct lk_err *err)
{
	if (sha256 != NULL && (strlen(sha256) != LK_CERT_SHA256_HEX ||
	                       strspn(sha256, "0123456789abcdef") != LK_CERT_SHA256_HEX))
		return lk_err_set(err, LK_EINVAL,
		                  "bad certificate fingerprint '%.70s' (64 lowercase hex digits)",
		                  sha256);
	return LK_OK;
}

static int check_lifetime(const struct lk_key_rules *rules, int64_t lifetime, struct lk_err *err)
{
	char max[32];

	lk_duration_format(rules->max_lifetime, max, sizeof(max));
	if (lifetime == LK_LIFETIME_NEVER) {
		if (!rules->allow_never_expiring)
			return lk_err_set(
			    err, LK_EINVAL,
			    "never-expiring keys are not allowed (allow_never_expiring = no); "
			    "use --expires up to %s",
			    max);
		return LK_OK;
	}
	if (lifetime <= 0)
		return lk_err_set(err, LK_EINVAL, "the key lifetime must be positive");
	if (lifetime > rules->max_lifetime) {
		char got[32];
		lk_duration_format(lifetime, got, sizeof(got));
		return lk_err_set(err, LK_EINVAL,
		                  "expiry %s is longer than the maximum key lifetime %s", got, max);
	}
	return LK_OK;
}

int lk_key_issue(struct lk_store *store, const struct lk_key_rules *rules,
                 const struct lk_issue_request *req, int64_t actor, int64_t now, char *ret_key,
                 struct lk_key_info *ret_info, struct lk_err *err)
{
	char scopes[LK_SCOPES_TEXT_MAX], cidrs[LK_CIDRS_TEXT_MAX],
	    owner_ref[LK_SUBJECT_REF_LEN + 1], kid[LK_KID_LEN + 1];
	int r;

	/* Every argument is checked before the transaction opens. */
	if (!lk_owner_name_valid(req->owner))
		return lk_err_set(err, LK_EINVAL,
		                  "bad owner '%.140s' (letters, digits and ._@+- , at most %d; not "
		                  "sub_..., which reads as a pseudonym)",
		                  req->owner ? req->owner : "", LK_NAME_MAX);
	if (!lk_env_valid(req->env))
		return lk_err_set(err, LK_EINVAL,
		                  "bad environment '%.40s' (2 to 8 lowercase letters)",
		                  req->env ? req->env : "");
	if ((r = lk_scopes_normalize(req->scopes, req->n_scopes, scopes, err)) < 0 ||
	    (r = normalize_cidrs(req->cidrs, req->n_cidrs, cidrs, err)) < 0 ||
	    (r = check_lifetime(rules, req->lifetime, err)) < 0)
		return r;
	if (req->description != NULL &&
	    (r = check_free_text("description", req->description, LK_DESCRIPTION_MAX, err)) < 0)
		return r;
	if ((r = check_fingerprint(req->cert_sha256, err)) < 0)
		return r;

	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	r = lk_subject_ref(store, "owner", req->owner, true, now, owner_ref, err);
	if (r < 0)
		goto fail;
	r = insert_key(store, owner_ref, req->env, scopes, cidrs, req->description,
	               req->lifetime == LK_LIFETIME_NEVER ? 0 : now + req->lifetime, NULL,
	               req->cert_sha256, "key.issue", actor, now, ret_key, kid, err);
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	if (r < 0)
		goto fail;
	return ret_info != NULL ? lk_key_get(store, kid, ret_info, err) : LK_OK;
fail:
	lk_store_rollback(store);
	sodium_memzero(ret_key, LK_KEY_MAX_LEN + 1);
	return r;
}

#define KEY_COLUMNS                                                                            \
	"k.kid, s.name, k.owner_ref, k.env, k.scopes, k.allow_cidrs, k.description, k.status," \
	" k.status_reason, k.rotated_from, k.rotated_to, k.created, k.expires, k.last_used,"   \
	" k.status_changed, k.cert_sha256"                                                     \
	" FROM api_key k JOIN subject s ON s.subject_ref = k.owner_ref"

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
}

static void read_info(sqlite3_stmt *st, struct lk_key_info *k)
{
	memset(k, 0, sizeof(*k));
	copy_col(st, 0, k->kid, sizeof(k->kid));
	copy_col(st, 1, k->owner, sizeof(k->owner));
	if (sqlite3_column_type(st, 1) == SQLITE_NULL)
		snprintf(k->owner, sizeof(k->owner), "(erased)");
	copy_col(st, 2, k->owner_ref, sizeof(k->owner_ref));
	copy_col(st, 3, k->env, sizeof(k->env));
	copy_col(st, 4, k->scopes, sizeof(k->scopes));
	copy_col(st, 5, k->cidrs, sizeof(k->cidrs));
	copy_col(st, 6, k->description, sizeof(k->description));
	copy_col(st, 7, k->status, sizeof(k->status));
	copy_col(st, 8, k->status_reason, sizeof(k->status_reason));
	copy_col(st, 9, k->rotated_from, sizeof(k->rotated_from));
	copy_col(st, 10, k->rotated_to, sizeof(k->rotated_to));
	k->created = sqlite3_column_int64(st, 11);
	k->expires = sqlite3_column_int64(st, 12);
	k->last_used = sqlite3_column_int64(st, 13);
	k->status_changed = sqlite3_column_int64(st, 14);
	copy_col(st, 15, k->cert_sha256, sizeof(k->cert_sha256));
}

static const char sql_get[] = "SELECT " KEY_COLUMNS " WHERE k.kid = ?1";

int lk_key_get(struct lk_store *store, const char *kid, struct lk_key_info *ret_info,
               struct lk_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (!lk_kid_valid(kid))
		return lk_err_set(err, LK_EINVAL, "bad key id '%.40s' (12 base62 characters)",
		                  kid ? kid : "");
	st = lk_store_stmt(store, sql_get, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_info(st, ret_info);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return lk_err_set(err, LK_ENOTFOUND, "no key with id '%s'", kid);
	if (rc != SQLITE_ROW)
		return lk_store_error(store, rc, "reading a key", err);
	return LK_OK;
}

static const char sql_list[] =
    "SELECT " KEY_COLUMNS " WHERE (?1 IS NULL OR s.name = ?1) AND (?2 IS NULL OR k.env = ?2)"
    " ORDER BY k.created, k.kid";

static int run_listing(struct lk_store *store, sqlite3_stmt *st,
                       int (*cb)(const struct lk_key_info *key, void *ctx), void *ctx,
                       struct lk_err *err)
{
	struct lk_key_info info;
	int rc, stop = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_info(st, &info);
		if ((stop = cb(&info, ctx)) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return lk_store_error(store, rc, "listing keys", err);
	/* A failing callback must never look like a short list: revoke-all
	 * would then report success having revoked nothing. */
	if (stop < 0)
		return lk_err_set(err, LK_ENOMEM, "listing keys: out of memory");
	return LK_OK;
}

int lk_key_list(struct lk_store *store, const struct lk_key_filter *filter,
                int (*cb)(const struct lk_key_info *key, void *ctx), void *ctx, struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_list, err);

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, filter != NULL ? filter->owner : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, filter != NULL ? filter->env : NULL, -1, SQLITE_STATIC);
	return run_listing(store, st, cb, ctx, err);
}

static const char sql_due[] =
    "SELECT " KEY_COLUMNS " WHERE k.status = 'active' AND k.rotated_to IS NULL"
    " AND (k.expires IS NULL OR k.expires > ?1)"
    " AND ((k.expires IS NOT NULL AND k.expires <= ?2) OR k.created + ?3 <= ?2)"
    " ORDER BY min(coalesce(k.expires, k.created + ?3), k.created + ?3), k.kid";

int lk_key_due(struct lk_store *store, const struct lk_key_rules *rules, int64_t within,
               int64_t now, int (*cb)(const struct lk_key_info *key, void *ctx), void *ctx,
               struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_due, err);

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now + within);
	sqlite3_bind_int64(st, 3, rules->rotation_age);
	return run_listing(store, st, cb, ctx, err);
}

static const char sql_set_status[] =
    "UPDATE api_key SET status = ?2, status_changed = ?3, status_reason = ?4 WHERE kid = ?1";

/* Moves a key between stored states and audits it, inside the caller's
 * transaction. from_mask lists the states the change is allowed from. */
enum { FROM_ACTIVE = 1, FROM_SUSPENDED = 2 };

static int change_status(struct lk_store *store, const struct lk_key_info *k, unsigned from_mask,
                         const char *to, const char *action, const char *reason, const char *detail,
                         int64_t actor, int64_t now, struct lk_err *err)
{
	sqlite3_stmt *st;
	bool ok = (strcmp(k->status, "active") == 0 && (from_mask & FROM_ACTIVE)) ||
	          (strcmp(k->status, "suspended") == 0 && (from_mask & FROM_SUSPENDED));
	int r;

	if (!ok)
		return lk_err_set(err, LK_ESTATE, "key %s is %s; cannot %s it", k->kid, k->status,
		                  action + 4);
	st = lk_store_stmt(store, sql_set_status, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, k->kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	r = lk_store_exec_stmt(store, st, "updating the key", err);
	if (r < 0)
		return r;
	return lk_audit_append(store,
	                       &(struct lk_audit_event){ .ts = now,
	                                                 .actor_uid = actor,
	                                                 .subject_ref = k->owner_ref,
	                                                 .kid = k->kid,
	                                                 .action = action,
	                                                 .reason = reason,
	                                                 .detail = detail },
	                       NULL, err);
}

static int status_verb(struct lk_store *store, const char *kid, const char *reason,
                       unsigned from_mask, const char *to, const char *action, int64_t actor,
                       int64_t now, struct lk_err *err)
{
	struct lk_key_info k;
	int r;

	if (reason == NULL || reason[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "a reason is required");
	if ((r = check_free_text("reason", reason, LK_REASON_MAX, err)) < 0)
		return r;
	if (!lk_kid_valid(kid))
		return lk_err_set(err, LK_EINVAL, "bad key id '%.40s' (12 base62 characters)",
		                  kid ? kid : "");
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	r = lk_key_get(store, kid, &k, err);
	if (r < 0)
		goto fail;
	r = change_status(store, &k, from_mask, to, action, reason, "", actor, now, err);
	if (r < 0)
		goto fail;
	return lk_store_commit(store, err);
fail:
	lk_store_rollback(store);
	return r;
}

int lk_key_revoke(struct lk_store *store, const char *kid, const char *reason, int64_t actor,
                  int64_t now, struct lk_err *err)
{
	return status_verb(store, kid, reason, FROM_ACTIVE | FROM_SUSPENDED, "revoked",
	                   "key.revoke", actor, now, err);
}

int lk_key_suspend(struct lk_store *store, const char *kid, const char *reason, int64_t actor,
                   int64_t now, struct lk_err *err)
{
	return status_verb(store, kid, reason, FROM_ACTIVE, "suspended", "key.suspend", actor, now,
	                   err);
}

int lk_key_resume(struct lk_store *store, const char *kid, const char *reason, int64_t actor,
                  int64_t now, struct lk_err *err)
{
	return status_verb(store, kid, reason, FROM_SUSPENDED, "active", "key.resume", actor, now,
	                   err);
}

static const char sql_owner_live[] = "SELECT " KEY_COLUMNS " WHERE s.kind = 'owner' AND s.name = ?1"
                                     " AND k.status IN ('active', 'suspended') ORDER BY k.kid";

struct kid_list {
	char (*kids)[LK_KID_LEN + 1];
	size_t n, cap;
};

static int collect_kid(const struct lk_key_info *k, void *ctx)
{
	struct kid_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *p = realloc(l->kids, cap * sizeof(*l->kids));
		if (p == NULL)
			return -1;
		l->kids = p;
		l->cap = cap;
	}
	memcpy(l->kids[l->n++], k->kid, LK_KID_LEN + 1);
	return 0;
}

int lk_key_revoke_all(struct lk_store *store, const char *owner, const char *reason, int64_t actor,
                      int64_t now, size_t *ret_count, struct lk_err *err)
{
	return lk_key_revoke_all_left(store, owner, reason, LK_LEFT_UNKNOWN, actor, now, ret_count,
	                              err);
}

int lk_key_revoke_all_left(struct lk_store *store, const char *owner, const char *reason,
                           int64_t left, int64_t actor, int64_t now, size_t *ret_count,
                           struct lk_err *err)
{
	struct kid_list l = { 0 };
	char owner_ref[LK_SUBJECT_REF_LEN + 1], detail[64], when[40];
	sqlite3_stmt *st;
	int r;

	if (!lk_owner_name_valid(owner))
		return lk_err_set(err, LK_EINVAL, "bad owner '%.140s'", owner ? owner : "");
	if (reason == NULL || reason[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "a reason is required");
	if ((r = check_free_text("reason", reason, LK_REASON_MAX, err)) < 0)
		return r;
	/* The departure is what the offboarding SLA is measured from: one in
	 * the future would make any lag look timely. */
	if (left != LK_LEFT_UNKNOWN && (left < 0 || left > now)) {
		lk_time_format(left, when, sizeof(when));
		return lk_err_set(err, LK_EINVAL, "the departure time %s is %s", when,
		                  left < 0 ? "before 1970" : "in the future");
	}
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	r = lk_subject_ref(store, "owner", owner, false, now, owner_ref, err);
	if (r < 0)
		goto fail;
	st = lk_store_stmt(store, sql_owner_live, err);
	r = LK_ESTORE;
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	r = run_listing(store, st, collect_kid, &l, err);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < l.n; i++) {
		struct lk_key_info k;
		r = lk_key_get(store, l.kids[i], &k, err);
		if (r < 0)
			goto fail;
		r = change_status(store, &k, FROM_ACTIVE | FROM_SUSPENDED, "revoked", "key.revoke",
		                  reason, "bulk=revoke-all", actor, now, err);
		if (r < 0)
			goto fail;
	}
	if (left != LK_LEFT_UNKNOWN)
		snprintf(detail, sizeof(detail), "revoked=%zu left=%lld", l.n, (long long)left);
	else
		snprintf(detail, sizeof(detail), "revoked=%zu", l.n);
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor,
	                                              .subject_ref = owner_ref,
	                                              .action = "owner.revoke-all",
	                                              .reason = reason,
	                                              .detail = detail },
	                    NULL, err);
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	if (r < 0)
		goto fail;
	*ret_count = l.n;
	free(l.kids);
	return LK_OK;
fail:
	lk_store_rollback(store);
	free(l.kids);
	return r;
}

static const char sql_mark_rotated[] =
    "UPDATE api_key SET rotated_to = ?2, expires = ?3 WHERE kid = ?1";

int lk_key_rotate(struct lk_store *store, const struct lk_key_rules *rules, const char *kid,
                  bool immediate, int64_t actor, int64_t now, char *ret_key,
                  struct lk_key_info *ret_info, struct lk_err *err)
{
	struct lk_key_info old;
	char new_kid[LK_KID_LEN + 1], detail[64], until[32];
	int64_t lifetime, new_expires, old_expires;
	bool never;
	sqlite3_stmt *st;
	int r;

	if (!lk_kid_valid(kid))
		return lk_err_set(err, LK_EINVAL, "bad key id '%.40s' (12 base62 characters)",
		                  kid ? kid : "");
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	r = lk_key_get(store, kid, &old, err);
	if (r < 0)
		goto fail;
	r = lk_err_set(err, LK_ESTATE, "key %s is %s; only an active key can be rotated", kid,
	               lk_key_effective_status(&old, now));
	if (strcmp(lk_key_effective_status(&old, now), "active") != 0)
		goto fail;

	/* The successor keeps the original lifetime, within today's rules. A
	 * flag, not the sentinel: an edited row with expires < created must
	 * not turn into "never". */
	never = old.expires == 0 && rules->allow_never_expiring;
	lifetime = old.expires != 0 ? old.expires - old.created : rules->max_lifetime;
	if (lifetime <= 0 || lifetime > rules->max_lifetime)
		lifetime = rules->max_lifetime;
	new_expires = never ? 0 : now + lifetime;
	r = insert_key(store, old.owner_ref, old.env, old.scopes, old.cidrs, old.description,
	               new_expires, old.kid, old.cert_sha256[0] ? old.cert_sha256 : NULL,
	               "key.rotate", actor, now, ret_key, new_kid, err);
	if (r < 0)
		goto fail;

	/* The grace period never extends the old key past its own expiry. */
	old_expires = immediate ? now : now + rules->rotation_grace;
	if (old.expires != 0 && old.expires < old_expires)
		old_expires = old.expires;
	st = lk_store_stmt(store, sql_mark_rotated, err);
	r = LK_ESTORE;
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, old.kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, new_kid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, old_expires);
	r = lk_store_exec_stmt(store, st, "marking the old key rotated", err);
	if (r < 0)
		goto fail;
	if (immediate) {
		snprintf(detail, sizeof(detail), "rotated_to=%s", new_kid);
		r = change_status(store, &old, FROM_ACTIVE, "revoked", "key.revoke", "rotated",
		                  detail, actor, now, err);
	} else {
		lk_time_format(old_expires, until, sizeof(until));
		snprintf(detail, sizeof(detail), "rotated_to=%s grace_until=%s", new_kid, until);
		r = lk_audit_append(store,
		                    &(struct lk_audit_event){ .ts = now,
		                                              .actor_uid = actor,
		                                              .subject_ref = old.owner_ref,
		                                              .kid = old.kid,
		                                              .action = "key.grace",
		                                              .reason = "rotated",
		                                              .detail = detail },
		                    NULL, err);
	}
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	if (r < 0)
		goto fail;
	return ret_info != NULL ? lk_key_get(store, new_kid, ret_info, err) : LK_OK;
fail:
	lk_store_rollback(store);
	sodium_memzero(ret_key, LK_KEY_MAX_LEN + 1);
	return r;
}

static const char sql_bind[] = "UPDATE api_key SET cert_sha256 = ?2 WHERE kid = ?1";

int lk_key_bind(struct lk_store *store, const char *kid, const char *cert_sha256,
                const char *reason, int64_t actor, int64_t now, struct lk_err *err)
{
	struct lk_key_info k;
	char detail[160];
	sqlite3_stmt *st;
	int r;

	if (!lk_kid_valid(kid))
		return lk_err_set(err, LK_EINVAL, "bad key id '%.40s' (12 base62 characters)",
		                  kid ? kid : "");
	if ((r = check_fingerprint(cert_sha256, err)) < 0)
		return r;
	if (reason == NULL || reason[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "a reason is required");
	if ((r = check_free_text("reason", reason, LK_REASON_MAX, err)) < 0)
		return r;
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	r = lk_key_get(store, kid, &k, err);
	if (r < 0)
		goto fail;
	r = lk_err_set(err, LK_ESTATE, "key %s is %s; only a live key can be %s", kid,
	               lk_key_effective_status(&k, now), cert_sha256 ? "bound" : "unbound");
	if (strcmp(k.status, "revoked") == 0 || (k.expires != 0 && k.expires <= now))
		goto fail;
	r = lk_err_set(err, LK_ESTATE, "key %s is not bound to a certificate", kid);
	if (cert_sha256 == NULL && k.cert_sha256[0] == '\0')
		goto fail;
	r = lk_err_set(err, LK_ESTATE, "key %s is already bound to that certificate", kid);
	if (cert_sha256 != NULL && strcmp(k.cert_sha256, cert_sha256) == 0)
		goto fail;
	st = lk_store_stmt(store, sql_bind, err);
	r = LK_ESTORE;
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cert_sha256, -1, SQLITE_STATIC);
	r = lk_store_exec_stmt(store, st, "binding the key", err);
	if (r < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "cert=%s%s%s%s", cert_sha256 ? "sha256:" : "none",
	         cert_sha256 ? cert_sha256 : "", k.cert_sha256[0] ? " previous=sha256:" : "",
	         k.cert_sha256);
	r = lk_audit_append(
	    store,
	    &(struct lk_audit_event){ .ts = now,
	                              .actor_uid = actor,
	                              .subject_ref = k.owner_ref,
	                              .kid = kid,
	                              .action = cert_sha256 ? "key.bind" : "key.unbind",
	                              .reason = reason,
	                              .detail = detail },
	    NULL, err);
	if (r < 0)
		goto fail;
	return lk_store_commit(store, err);
fail:
	lk_store_rollback(store);
	return r;
}
