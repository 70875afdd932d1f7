/* SPDX-License-Identifier: Apache-2.0 */
/* The API-key verification path: the hot path of every authentication. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "audit-private.h"
#include "certs-private.h"
#include "keys-private.h"

const char *lk_verdict_str(enum lk_verdict v)
{
	static const char *const names[] = {
		[LK_VERDICT_OK] = "ok",
		[LK_VERDICT_MALFORMED] = "malformed",
		[LK_VERDICT_UNKNOWN] = "unknown",
		[LK_VERDICT_BAD_SECRET] = "bad-secret",
		[LK_VERDICT_REVOKED] = "revoked",
		[LK_VERDICT_SUSPENDED] = "suspended",
		[LK_VERDICT_EXPIRED] = "expired",
		[LK_VERDICT_WRONG_ENVIRONMENT] = "wrong-environment",
		[LK_VERDICT_SCOPE_MISSING] = "scope-missing",
		[LK_VERDICT_SOURCE_NOT_ALLOWED] = "source-not-allowed",
		[LK_VERDICT_CERT_MISMATCH] = "pin-mismatch",
	};

	if ((size_t)v < sizeof(names) / sizeof(names[0]))
		return names[v];
	return "invalid";
}

int lk_verify_request_check(const struct lk_verify_request *req, struct lk_err *err)
{
	struct lk_cidr addr;

	if (req->env != NULL && !lk_env_valid(req->env))
		return lk_err_set(err, LK_EINVAL,
		                  "bad environment '%.40s' (2 to 8 lowercase letters)", req->env);
	if (req->n_scopes > LK_SCOPES_MAX)
		return lk_err_set(err, LK_EINVAL, "too many scopes: %zu (at most %d)",
		                  req->n_scopes, LK_SCOPES_MAX);
	for (size_t i = 0; i < req->n_scopes; i++) {
		if (!lk_scope_valid(req->scopes[i]))
			return lk_err_set(err, LK_EINVAL, "bad scope '%.80s'",
			                  req->scopes[i] ? req->scopes[i] : "");
	}
	if (req->source != NULL && lk_ip_parse(req->source, &addr) != LK_OK)
		return lk_err_set(err, LK_EINVAL, "bad source address '%.60s'", req->source);
	if (req->cert_sha256 != NULL &&
	    (strlen(req->cert_sha256) != LK_CERT_SHA256_HEX ||
	     strspn(req->cert_sha256, "0123456789abcdef") != LK_CERT_SHA256_HEX))
		return lk_err_set(err, LK_EINVAL, "bad certificate fingerprint '%.70s'",
		                  req->cert_sha256);
	return LK_OK;
}

/* A key bound to a certificate works only presented with it. The
 * fingerprint is public, but compared in constant time all the same: no
 * timing should tell how close a certificate came. */
static bool cert_matches(sqlite3_stmt *st, int col, const char *presented)
{
	const unsigned char *bound = sqlite3_column_text(st, col);

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return true; /* not bound */
	return presented != NULL && bound != NULL &&
	       sqlite3_column_bytes(st, col) == LK_CERT_SHA256_HEX &&
	       sodium_memcmp(bound, presented, LK_CERT_SHA256_HEX) == 0;
}

static bool source_allowed(const char *cidrs, const char *source)
{
	struct lk_cidr addr, net;
	char buf[LK_CIDRS_TEXT_MAX], *p, *save = NULL;

	if (cidrs[0] == '\0')
		return true; /* no allow list: any source */
	if (source == NULL || lk_ip_parse(source, &addr) != LK_OK)
		return false; /* a bound key needs a known source */
	snprintf(buf, sizeof(buf), "%s", cidrs);
	for (p = strtok_r(buf, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save)) {
		if (lk_cidr_parse(p, &net) == LK_OK && lk_cidr_contains(&net, &addr))
			return true;
	}
	return false;
}

static const char sql_lookup[] =
    "SELECT hash, env, scopes, allow_cidrs, status, expires, owner_ref, rotated_to, cert_sha256"
    " FROM api_key WHERE kid = ?1";

int lk_key_check(struct lk_store *store, const char *key, size_t keylen,
                 const struct lk_verify_request *req, int64_t now,
                 struct lk_verify_result *ret_result, struct lk_err *err)
{
	struct lk_verify_result res;
	struct lk_apikey k;
	unsigned char hash[LK_HASH_LEN];
	sqlite3_stmt *st = NULL;
	const char *status, *cidrs;
	bool secret_ok;
	int r, rc;

	memset(&res, 0, sizeof(res));
	r = lk_verify_request_check(req, err);
	if (r < 0)
		return r;
	if (store->pepper == NULL)
		return lk_err_set(err, LK_ECRYPTO, "the master key is not loaded");

	res.verdict = LK_VERDICT_MALFORMED;
	if (lk_apikey_parse(key, keylen, &k) != LK_PARSE_OK)
		goto done; /* no lookup for garbage */
	memcpy(res.kid, k.kid, sizeof(res.kid));

	/* Hash before the lookup, so an unknown kid costs the same as a known
	 * one: the timing says nothing about which kids exist. */
	r = lk_apikey_hash(&k, store->pepper, hash);
	if (r < 0) {
		lk_err_set(err, r, "hashing failed");
		goto out;
	}
	r = LK_ESTORE;
	st = lk_store_stmt(store, sql_lookup, err);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, k.kid, LK_KID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		res.verdict = LK_VERDICT_UNKNOWN;
		goto done;
	}
	if (rc != SQLITE_ROW) {
		r = lk_store_error(store, rc, "looking up a key", err);
		goto out;
	}
	snprintf(res.owner_ref, sizeof(res.owner_ref), "%s",
	         (const char *)sqlite3_column_text(st, 6));
	secret_ok = sqlite3_column_bytes(st, 0) == LK_HASH_LEN &&
	            sodium_memcmp(hash, sqlite3_column_blob(st, 0), LK_HASH_LEN) == 0;
	status = (const char *)sqlite3_column_text(st, 4);
	cidrs = (const char *)sqlite3_column_text(st, 3);

	/* Order matters: nothing about the key's state is revealed to someone
	 * who does not hold its secret. */
	if (!secret_ok)
		res.verdict = LK_VERDICT_BAD_SECRET;
	else if (status == NULL || strcmp(status, "revoked") == 0)
		res.verdict = LK_VERDICT_REVOKED;
	else if (strcmp(status, "suspended") == 0)
		res.verdict = LK_VERDICT_SUSPENDED;
	else if (strcmp(status, "active") != 0)
		res.verdict = LK_VERDICT_REVOKED; /* unknown state: fail closed */
	else if (sqlite3_column_type(st, 5) != SQLITE_NULL && sqlite3_column_int64(st, 5) <= now)
		res.verdict = LK_VERDICT_EXPIRED;
	else if (req->env != NULL &&
	         strcmp(req->env, (const char *)sqlite3_column_text(st, 1)) != 0)
		res.verdict = LK_VERDICT_WRONG_ENVIRONMENT;
	else if (!cert_matches(st, 8, req->cert_sha256))
		res.verdict = LK_VERDICT_CERT_MISMATCH;
	else {
		const char *scopes = (const char *)sqlite3_column_text(st, 2);
		res.verdict = LK_VERDICT_OK;
		for (size_t i = 0; i < req->n_scopes; i++) {
			if (scopes == NULL || !lk_scopes_contains(scopes, req->scopes[i])) {
				res.verdict = LK_VERDICT_SCOPE_MISSING;
				break;
			}
		}
		if (res.verdict == LK_VERDICT_OK &&
		    !source_allowed(cidrs ? cidrs : "", req->source))
			res.verdict = LK_VERDICT_SOURCE_NOT_ALLOWED;
		/* Only an accepted key is "in grace": the audit row then records
		 * a use of a rotated key, which an operator wants to see. */
		res.in_grace =
		    res.verdict == LK_VERDICT_OK && sqlite3_column_type(st, 7) != SQLITE_NULL;
	}
done:
	*ret_result = res;
	r = LK_OK;
out:
	if (st != NULL)
		sqlite3_reset(st);
	lk_apikey_wipe(&k);
	sodium_memzero(hash, sizeof(hash));
	return r;
}

static const char sql_touch[] = "UPDATE api_key SET last_used = ?2 WHERE kid = ?1";

int lk_key_verify(struct lk_store *store, const char *key, size_t keylen,
                  const struct lk_verify_request *req, int64_t actor, int64_t now,
                  struct lk_verify_result *ret_result, struct lk_err *err)
{
	struct lk_verify_result res;
	char detail[160], source_ref[LK_SUBJECT_REF_LEN + 1] = "", source[LK_CIDR_STRLEN];
	struct lk_cidr addr;
	sqlite3_stmt *st;
	int r;

	r = lk_verify_request_check(req, err);
	if (r < 0)
		return r;
	/* The check runs inside the write transaction, so a revoke committed
	 * a moment earlier is always seen: no stale reads. */
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	r = lk_key_check(store, key, keylen, req, now, &res, err);
	if (r < 0)
		goto fail;
	if (req->source != NULL) {
		/* One pseudonym per address, however it was spelled. */
		lk_ip_parse(req->source, &addr); /* checked by lk_verify_request_check */
		lk_ip_format(&addr, source, sizeof(source));
		r = lk_subject_ref(store, "source", source, true, now, source_ref, err);
		if (r < 0)
			goto fail;
	}
	snprintf(detail, sizeof(detail), "env=%s source=%s%s", req->env ? req->env : "any",
	         source_ref[0] ? source_ref : "none", res.in_grace ? " grace=yes" : "");
	if (res.verdict == LK_VERDICT_OK) {
		st = lk_store_stmt(store, sql_touch, err);
		r = LK_ESTORE;
		if (st == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, res.kid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		r = lk_store_exec_stmt(store, st, "recording last use", err);
		if (r < 0)
			goto fail;
	}
	r = lk_audit_append(
	    store,
	    &(struct lk_audit_event){ .ts = now,
	                              .actor_uid = actor,
	                              .subject_ref = res.owner_ref[0] ? res.owner_ref : NULL,
	                              .kid = res.kid[0] ? res.kid : NULL,
	                              .action = "key.verify",
	                              .reason = lk_verdict_str(res.verdict),
	                              .detail = detail },
	    &res.audit_seq, err);
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	if (r < 0)
		goto fail;
	*ret_result = res;
	return LK_OK;
fail:
	lk_store_rollback(store);
	return r;
}
