/* SPDX-License-Identifier: Apache-2.0 */
/* Erasure and retention: see gdpr-private.h and decision 0011. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey-private.h"
#include "audit-private.h"
#include "gdpr-private.h"
#include "keys-private.h"
#include "util-private.h"

/* ---- erasure ---- */

/* One statement, bound with up to two texts, run to completion; the number
 * of rows it changed in ret_changes (NULL: not wanted). Not cached: erasure
 * and purges are rare. */
static int run(struct lk_store *store, const char *sql, const char *a, const char *b,
               int64_t *ret_changes, const char *what, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, what, err);
	if (a != NULL)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return lk_store_error(store, rc, what, err);
	if (ret_changes != NULL)
		*ret_changes = sqlite3_changes(store->db);
	return LK_OK;
}

/* Free text that lands in the audit log must not name the person it is
 * about: the log keeps it after the name is gone. */
static int check_text(const char *what, const char *text, size_t max, const char *name,
                      struct lk_err *err)
{
	if (!lk_text_valid(text, max) || lk_text_looks_like_key(text))
		return lk_err_set(
		    err, LK_EINVAL,
		    "bad %s: invalid UTF-8, control characters, an API key, or longer "
		    "than %zu bytes",
		    what, max);
	if (name != NULL && strcasestr(text, name) != NULL)
		return lk_err_set(
		    err, LK_EINVAL,
		    "the %s contains the subject's name; the audit log keeps it after "
		    "the name is erased",
		    what);
	return LK_OK;
}

struct subject_row {
	char ref[LK_SUBJECT_REF_LEN + 1];
	char kind[16];
	char *name; /* NULL: erased */
};

static const char sql_by_name[] =
    "SELECT subject_ref, kind, name FROM subject WHERE kind = 'owner' AND name = ?1";
static const char sql_by_ref[] =
    "SELECT subject_ref, kind, name FROM subject WHERE subject_ref = ?1";

static int find_subject(struct lk_store *store, const char *subject, struct subject_row *ret_row,
                        struct lk_err *err)
{
	bool by_ref = strncmp(subject, "sub_", 4) == 0 && strlen(subject) == LK_SUBJECT_REF_LEN;
	sqlite3_stmt *st = NULL;
	const unsigned char *name;
	int rc, r;

	rc = sqlite3_prepare_v2(store->db, by_ref ? sql_by_ref : sql_by_name, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, "looking up a subject", err);
	sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = lk_err_set(err, LK_ENOTFOUND, "no subject %s%.140s%s", by_ref ? "" : "named '",
		               subject, by_ref ? "" : "'");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = lk_store_error(store, rc, "looking up a subject", err);
		goto out;
	}
	memset(ret_row, 0, sizeof(*ret_row));
	snprintf(ret_row->ref, sizeof(ret_row->ref), "%s",
	         (const char *)sqlite3_column_text(st, 0));
	snprintf(ret_row->kind, sizeof(ret_row->kind), "%s",
	         (const char *)sqlite3_column_text(st, 1));
	name = sqlite3_column_text(st, 2);
	if (name != NULL && (ret_row->name = strdup((const char *)name)) == NULL) {
		r = lk_err_set(err, LK_ENOMEM, "out of memory");
		goto out;
	}
	r = LK_OK;
out:
	sqlite3_finalize(st);
	return r;
}

static const char sql_live_keys[] =
    "SELECT kid FROM api_key WHERE owner_ref = ?1 AND status IN ('active', 'suspended')"
    " ORDER BY kid";
static const char sql_revoke[] =
    "UPDATE api_key SET status = 'revoked', status_changed = ?2, status_reason = 'erased'"
    " WHERE kid = ?1";

/* Revokes every live key of ref, one key.revoke row each, as revoke-all
 * does. */
static int revoke_keys(struct lk_store *store, const char *ref, int64_t actor, int64_t now,
                       size_t *ret_count, struct lk_err *err)
{
	char(*kids)[LK_KID_LEN + 1] = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(store->db, sql_live_keys, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, "listing keys", err);
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = realloc(kids, ncap * sizeof(*kids));
			if (p == NULL) {
				r = lk_err_set(err, LK_ENOMEM, "out of memory");
				goto out;
			}
			kids = p;
			cap = ncap;
		}
		snprintf(kids[n++], LK_KID_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	if (rc != SQLITE_DONE) {
		r = lk_store_error(store, rc, "listing keys", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; i < n; i++) {
		rc = sqlite3_prepare_v2(store->db, sql_revoke, -1, &st, NULL);
		if (rc != SQLITE_OK) {
			r = lk_store_error(store, rc, "revoking a key", err);
			goto out;
		}
		sqlite3_bind_text(st, 1, kids[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE) {
			r = lk_store_error(store, rc, "revoking a key", err);
			goto out;
		}
		r = lk_audit_append(store,
		                    &(struct lk_audit_event){ .ts = now,
		                                              .actor_uid = actor,
		                                              .subject_ref = ref,
		                                              .kid = kids[i],
		                                              .action = "key.revoke",
		                                              .reason = "erased",
		                                              .detail = "bulk=subject-erase" },
		                    NULL, err);
		if (r < 0)
			goto out;
	}
	*ret_count = n;
	r = LK_OK;
out:
	sqlite3_finalize(st);
	free(kids);
	return r;
}

static const char sql_cred[] = "SELECT cred_id, status FROM totp_credential WHERE user_ref = ?1";

/* Deletes ref's TOTP credential, its recovery codes and its lockout row,
 * audited as totp.remove. */
static int remove_totp(struct lk_store *store, const char *ref, int64_t actor, int64_t now,
                       size_t *ret_count, struct lk_err *err)
{
	char cred_id[64], detail[64];
	sqlite3_stmt *st = NULL;
	int rc, r;

	*ret_count = 0;
	rc = sqlite3_prepare_v2(store->db, sql_cred, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, "reading a TOTP credential", err);
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(cred_id, sizeof(cred_id), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(detail, sizeof(detail), "status=%s",
		         (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return LK_OK;
	if (rc != SQLITE_ROW)
		return lk_store_error(store, rc, "reading a TOTP credential", err);
	if ((r = run(store, "DELETE FROM totp_recovery WHERE cred_id = ?1", cred_id, NULL, NULL,
	             "removing recovery codes", err)) < 0 ||
	    (r = run(store, "DELETE FROM totp_credential WHERE cred_id = ?1", cred_id, NULL, NULL,
	             "removing a TOTP credential", err)) < 0 ||
	    (r = run(store, "DELETE FROM lockout WHERE kind = 'credential' AND id = ?1", cred_id,
	             NULL, NULL, "removing a lockout", err)) < 0)
		return r;
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor,
	                                              .subject_ref = ref,
	                                              .kid = cred_id,
	                                              .action = "totp.remove",
	                                              .reason = "erased",
	                                              .detail = detail },
	                    NULL, err);
	if (r < 0)
		return r;
	*ret_count = 1;
	return LK_OK;
}

int lk_subject_erase(struct lk_store *store, const char *subject, const char *reason,
                     const char *ticket, int64_t actor, int64_t now,
                     struct lk_erase_result *ret_result, struct lk_err *err)
{
	struct lk_erase_result res;
	struct subject_row row = { .name = NULL };
	char detail[256];
	int64_t n;
	int r;

	memset(&res, 0, sizeof(res));
	if (subject == NULL || subject[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "which subject?");
	if (reason == NULL || reason[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "a reason is required");
	if (ticket != NULL && !lk_token_valid(ticket, LK_ERASE_TICKET_MAX, "-_.:/#"))
		return lk_err_set(err, LK_EINVAL, "bad ticket: 1 to %d letters, digits and -_.:/#",
		                  LK_ERASE_TICKET_MAX);
	if ((r = lk_store_begin(store, err)) < 0)
		return r;
	if ((r = find_subject(store, subject, &row, err)) < 0)
		goto fail;
	if (strcmp(row.kind, "owner") != 0) {
		r = lk_err_set(err, LK_ESTATE,
		               "subject %s is a source address, not a person; only owners are "
		               "erased",
		               row.ref);
		goto fail;
	}
	if (row.name == NULL) {
		r = lk_err_set(err, LK_ESTATE, "subject %s is already erased", row.ref);
		goto fail;
	}
	if ((r = check_text("reason", reason, LK_REASON_MAX, row.name, err)) < 0 ||
	    (ticket != NULL &&
	     (r = check_text("ticket", ticket, LK_ERASE_TICKET_MAX, row.name, err)) < 0))
		goto fail;
	snprintf(res.subject_ref, sizeof(res.subject_ref), "%s", row.ref);

	if ((r = revoke_keys(store, row.ref, actor, now, &res.keys_revoked, err)) < 0)
		goto fail;
	/* A description is free text about the key's holder. */
	if ((r = run(store, "UPDATE api_key SET description = '' WHERE owner_ref = ?1", row.ref,
	             NULL, &n, "clearing key descriptions", err)) < 0)
		goto fail;
	res.keys = (size_t)n;
	if ((r = remove_totp(store, row.ref, actor, now, &res.totp, err)) < 0)
		goto fail;
	/* A certificate's subject DN (and often its issuer's, for a personal
	 * CA) names the person; the fingerprint, serial and dates stay for
	 * the inventory. */
	if ((r = run(store,
	             "UPDATE certificate SET principal_ref = NULL, subject = ?2, issuer = ?2"
	             " WHERE principal_ref = ?1",
	             row.ref, LK_ERASED_TEXT, &n, "blanking certificates", err)) < 0)
		goto fail;
	res.certs = (size_t)n;
	if ((r = run(store, "UPDATE subject SET name = NULL WHERE subject_ref = ?1", row.ref, NULL,
	             NULL, "erasing the name", err)) < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "ticket=%s keys_revoked=%zu totp=%zu certs=%zu",
	         ticket != NULL ? ticket : "-", res.keys_revoked, res.totp, res.certs);
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor,
	                                              .subject_ref = row.ref,
	                                              .action = LK_ERASE_ACTION,
	                                              .reason = reason,
	                                              .detail = detail },
	                    &res.seq, err);
	if (r < 0)
		goto fail;
	if ((r = lk_store_commit(store, err)) < 0)
		goto fail;
	/* The old page images (with the name) stay in the WAL until it is
	 * checkpointed and reset; secure_delete zeroed what the main file
	 * freed. A reader holding the WAL makes this fail: the next
	 * checkpoint does it then. */
	res.wal_flushed = sqlite3_wal_checkpoint_v2(store->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	                                            NULL, NULL) == SQLITE_OK;
	free(row.name);
	*ret_result = res;
	return LK_OK;
fail:
	lk_store_rollback(store);
	free(row.name);
	return r;
}

/* ---- retention ---- */

static const char sql_anchor[] = "SELECT number, audit_seq FROM checkpoint WHERE ts < ?1"
                                 " ORDER BY number DESC LIMIT 1";

static int64_t scalar(struct lk_store *store, const char *sql, int *ret_rc)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	*ret_rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (*ret_rc != SQLITE_OK)
		return 0;
	*ret_rc = sqlite3_step(st);
	if (*ret_rc == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		*ret_rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return v;
}

/*
 * Client addresses (subjects of kind source) that no audit row left and no
 * lockout counter refers to: the retention period has ended for them too,
 * and nothing would ever name them again. Rows, not just names: a new
 * request from the same address is a new pseudonym. secure_delete (store.c)
 * zeroes what is deleted.
 *
 * A row names a source in its subject_ref (auth.lockout) or in its detail:
 * "source=sub_..." (key.verify, core/verify.c) and "rhost=sub_..." (session
 * rows, daemon/account.c); a new detail key that carries a source
 * pseudonym must be added to keys below, or a purge deletes the address
 * while a retained row still names it. The kept set is computed once (one
 * pass over the subject_ref index, one over the rows for the detail keys),
 * not probed per source: a LIKE per source would scan the log once for
 * every address. NULLs stay out of it: one would make NOT IN match nothing.
 * Reading a pseudonym out of a detail where there is none only keeps a
 * source longer, never deletes one that is named. 20: LK_SUBJECT_REF_LEN.
 */
_Static_assert(LK_SUBJECT_REF_LEN == 20, "sql_forget_sources reads 20-character pseudonyms");
static const char sql_forget_sources[] =
    "WITH keys(key) AS (VALUES ('source=sub_'), ('rhost=sub_')),"
    " kept(ref) AS ("
    "  SELECT subject_ref FROM audit WHERE subject_ref IS NOT NULL"
    "  UNION SELECT substr(a.detail, instr(a.detail, k.key) + length(k.key) - 4, 20)"
    "   FROM audit a CROSS JOIN keys k WHERE instr(a.detail, k.key) > 0"
    "  UNION SELECT id FROM lockout WHERE kind = 'source' AND id IS NOT NULL)"
    " DELETE FROM subject WHERE kind = 'source' AND subject_ref NOT IN (SELECT ref FROM kept)";

int lk_audit_purge(struct lk_store *store, const struct lk_signer *signer, int64_t before,
                   const char *reason, int64_t actor, int64_t now,
                   struct lk_purge_result *ret_result, struct lk_err *err)
{
	struct lk_purge_result res;
	char detail[200], when[40], marker[120];
	sqlite3_stmt *st = NULL;
	int64_t n;
	int rc, r;

	memset(&res, 0, sizeof(res));
	if (reason == NULL || reason[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "a reason is required");
	if ((r = check_text("reason", reason, LK_REASON_MAX, NULL, err)) < 0)
		return r;
	/* The purge ends with a checkpoint over its own record: without the
	 * key, nothing would vouch for the new start. */
	if (signer == NULL)
		return lk_err_set(
		    err, LK_ECRYPTO,
		    "no signing key: a purge needs one to sign the checkpoint after it");
	if ((r = lk_store_begin(store, err)) < 0)
		return r;
	rc = sqlite3_prepare_v2(store->db, sql_anchor, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = lk_store_error(store, rc, "reading the checkpoints", err);
		goto fail;
	}
	sqlite3_bind_int64(st, 1, before);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		res.anchor_number = sqlite3_column_int64(st, 0);
		res.anchor_seq = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = lk_store_error(store, rc, "reading the checkpoints", err);
		goto fail;
	}
	lk_time_format(before, when, sizeof(when));
	if (rc == SQLITE_DONE) {
		r = lk_err_set(err, LK_ENOTFOUND,
		               "no signed checkpoint before %s: nothing to purge (segments end at "
		               "checkpoints)",
		               when);
		goto fail;
	}
	res.first_seq = scalar(store, "SELECT coalesce(min(seq), 0) FROM audit", &rc);
	if (rc != SQLITE_OK) {
		r = lk_store_error(store, rc, "reading the audit log", err);
		goto fail;
	}
	if (res.first_seq == 0 || res.first_seq > res.anchor_seq) {
		r = lk_err_set(
		    err, LK_ESTATE,
		    "nothing to purge before %s: the log already starts after checkpoint "
		    "%lld (seq %lld)",
		    when, (long long)res.anchor_number, (long long)res.anchor_seq);
		goto fail;
	}
	res.last_seq = res.anchor_seq;
	/* The marker lets the delete triggers pass rows up to the anchor, in
	 * this transaction only: it is gone again before the commit. */
	snprintf(marker, sizeof(marker),
	         "INSERT INTO audit_purge (id, upto_seq, anchor) VALUES (1, %lld, %lld)",
	         (long long)res.anchor_seq, (long long)res.anchor_number);
	if ((r = run(store, marker, NULL, NULL, NULL, "marking the purge", err)) < 0)
		goto fail;
	snprintf(marker, sizeof(marker), "DELETE FROM audit WHERE seq <= %lld",
	         (long long)res.anchor_seq);
	if ((r = run(store, marker, NULL, NULL, &n, "purging audit rows", err)) < 0)
		goto fail;
	res.rows = n;
	snprintf(marker, sizeof(marker), "DELETE FROM checkpoint WHERE number < %lld",
	         (long long)res.anchor_number);
	if ((r = run(store, marker, NULL, NULL, &n, "purging checkpoints", err)) < 0)
		goto fail;
	res.checkpoints = n;
	if ((r = run(store, "DELETE FROM audit_purge", NULL, NULL, NULL, "clearing the marker",
	             err)) < 0)
		goto fail;
	if ((r = run(store, sql_forget_sources, NULL, NULL, &n, "forgetting client addresses",
	             err)) < 0)
		goto fail;
	res.sources = n;
	snprintf(detail, sizeof(detail),
	         "anchor=%lld anchor_seq=%lld rows=%lld first_seq=%lld checkpoints=%lld "
	         "sources=%lld",
	         (long long)res.anchor_number, (long long)res.anchor_seq, (long long)res.rows,
	         (long long)res.first_seq, (long long)res.checkpoints, (long long)res.sources);
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor,
	                                              .action = LK_PURGE_ACTION,
	                                              .reason = reason,
	                                              .detail = detail },
	                    &res.seq, err);
	if (r < 0)
		goto fail;
	if ((r = lk_store_commit(store, err)) < 0)
		goto fail;
	/* Its own transaction (lk_checkpoint_make opens one): if it fails,
	 * the purge stands and audit verify says the purge row is not yet
	 * vouched for until the next checkpoint. */
	r = lk_checkpoint_make(store, signer, now, actor, LK_CHECKPOINT_REQUEST, &res.cp, err);
	if (r < 0)
		return lk_err_prefix(err, r, "purged, but the checkpoint after it failed");
	*ret_result = res;
	return LK_OK;
fail:
	lk_store_rollback(store);
	return r;
}
