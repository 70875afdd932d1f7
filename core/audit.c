/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "audit-private.h"

/* Domain separation: a leaf can never be mistaken for another hash. */
static const char leaf_domain[] = "latchkey-audit-leaf-v1";

static void put_u64(crypto_generichash_state *st, uint64_t v)
{
	unsigned char b[8];

	for (int i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	crypto_generichash_update(st, b, sizeof(b));
}

/* Length-prefixed, so "ab"+"c" and "a"+"bc" differ; NULL is its own marker,
 * distinct from "". */
static void put_str(crypto_generichash_state *st, const char *s, size_t len)
{
	if (s == NULL) {
		put_u64(st, UINT64_MAX);
		return;
	}
	put_u64(st, len);
	crypto_generichash_update(st, (const unsigned char *)s, len);
}

static void put_cstr(crypto_generichash_state *st, const char *s)
{
	put_str(st, s, s != NULL ? strlen(s) : 0);
}

static void leaf_hash(const struct lk_audit_event *ev, unsigned char out[LK_CHAIN_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&st, (const unsigned char *)leaf_domain, sizeof(leaf_domain));
	put_u64(&st, (uint64_t)ev->ts);
	put_u64(&st, (uint64_t)ev->actor_uid);
	put_cstr(&st, ev->subject_ref);
	put_cstr(&st, ev->kid);
	put_cstr(&st, ev->action);
	put_cstr(&st, ev->reason);
	put_cstr(&st, ev->detail);
	crypto_generichash_final(&st, out, LK_CHAIN_LEN);
}

static void chain_hash(const unsigned char prev[LK_CHAIN_LEN],
                       const unsigned char leaf[LK_CHAIN_LEN], unsigned char out[LK_CHAIN_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&st, prev, LK_CHAIN_LEN);
	crypto_generichash_update(&st, leaf, LK_CHAIN_LEN);
	crypto_generichash_final(&st, out, LK_CHAIN_LEN);
}

static const char sql_head[] = "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1";

int lk_audit_head(struct lk_store *store, int64_t *ret_seq, unsigned char ret_chain[LK_CHAIN_LEN],
                  struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_head, err);
	int rc;

	if (st == NULL)
		return LK_ESTORE;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*ret_seq = 0;
		memset(ret_chain, 0, LK_CHAIN_LEN);
		sqlite3_reset(st);
		return LK_OK;
	}
	if (rc != SQLITE_ROW || sqlite3_column_bytes(st, 1) != LK_CHAIN_LEN) {
		sqlite3_reset(st);
		return rc == SQLITE_ROW
		           ? lk_err_set(err, LK_ESTORE, "audit head has a malformed chain value")
		           : lk_store_error(store, rc, "reading the audit head", err);
	}
	*ret_seq = sqlite3_column_int64(st, 0);
	memcpy(ret_chain, sqlite3_column_blob(st, 1), LK_CHAIN_LEN);
	sqlite3_reset(st);
	return LK_OK;
}

static const char sql_insert[] =
    "INSERT INTO audit (seq, ts, actor_uid, subject_ref, kid, action, reason, detail, leaf, chain)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

int lk_audit_append(struct lk_store *store, const struct lk_audit_event *event, int64_t *ret_seq,
                    struct lk_err *err)
{
	/* detail is stored NOT NULL: hash exactly what is stored. */
	struct lk_audit_event normalized = *event, *ev = &normalized;
	unsigned char prev[LK_CHAIN_LEN], leaf[LK_CHAIN_LEN], chain[LK_CHAIN_LEN];
	sqlite3_stmt *st;
	int64_t seq;
	int r;

	/* Outside a transaction another writer could take the same seq and
	 * fork the chain; refuse rather than hope. */
	if (sqlite3_get_autocommit(store->db))
		return lk_err_set(err, LK_ESTORE, "audit append outside a transaction");
	if (ev->action == NULL || ev->reason == NULL)
		return lk_err_set(err, LK_EINVAL, "audit event without action or reason");
	if (ev->detail == NULL)
		ev->detail = "";
	r = lk_audit_head(store, &seq, prev, err);
	if (r < 0)
		return r;
	seq++;
	leaf_hash(ev, leaf);
	chain_hash(prev, leaf, chain);

	st = lk_store_stmt(store, sql_insert, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, ev->ts);
	sqlite3_bind_int64(st, 3, ev->actor_uid);
	sqlite3_bind_text(st, 4, ev->subject_ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, ev->kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ev->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, ev->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, ev->detail, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, leaf, LK_CHAIN_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, chain, LK_CHAIN_LEN, SQLITE_STATIC);
	r = lk_store_exec_stmt(store, st, "appending an audit row", err);
	if (r < 0)
		return r;
	if (ret_seq != NULL)
		*ret_seq = seq;
	return LK_OK;
}

int lk_audit_record(struct lk_store *store, const struct lk_audit_event *ev, int64_t *ret_seq,
                    struct lk_err *err)
{
	int r = lk_store_begin(store, err);

	if (r < 0)
		return r;
	r = lk_audit_append(store, ev, ret_seq, err);
	if (r < 0) {
		lk_store_rollback(store);
		return r;
	}
	return lk_store_commit(store, err);
}

const char *lk_audit_problem_str(enum lk_audit_problem p)
{
	switch (p) {
	case LK_AUDIT_INTACT:
		return "intact";
	case LK_AUDIT_EDITED:
		return "edited";
	case LK_AUDIT_MISSING:
		return "missing";
	case LK_AUDIT_REORDERED:
		return "reordered";
	case LK_AUDIT_BROKEN:
		return "broken";
	case LK_AUDIT_SCHEMA:
		return "schema";
	}
	return "unknown";
}

static const char sql_walk[] =
    "SELECT seq, ts, actor_uid, subject_ref, kid, action, reason, detail, leaf, chain"
    " FROM audit ORDER BY seq";

static const char sql_chains[] = "SELECT seq, chain FROM audit ORDER BY seq";

/* Called only once a link has failed: is there a row j whose stored chain,
 * followed by this leaf, gives this row's stored chain? Then the row is
 * intact but was moved from just after j. */
static int find_true_predecessor(struct lk_store *store, const unsigned char leaf[LK_CHAIN_LEN],
                                 const unsigned char chain[LK_CHAIN_LEN], int64_t *ret_seq)
{
	unsigned char zero[LK_CHAIN_LEN] = { 0 }, guess[LK_CHAIN_LEN];
	sqlite3_stmt *st = NULL;
	int found = 0;

	chain_hash(zero, leaf, guess);
	if (sodium_memcmp(guess, chain, LK_CHAIN_LEN) == 0) {
		*ret_seq = 0;
		return 1;
	}
	/* A separate statement: the walk's cached one is mid-iteration. */
	if (sqlite3_prepare_v2(store->db, sql_chains, -1, &st, NULL) != SQLITE_OK)
		return 0;
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != LK_CHAIN_LEN)
			continue;
		chain_hash(sqlite3_column_blob(st, 1), leaf, guess);
		if (sodium_memcmp(guess, chain, LK_CHAIN_LEN) == 0) {
			*ret_seq = sqlite3_column_int64(st, 0);
			found = 1;
		}
	}
	sqlite3_finalize(st);
	return found;
}

/*
 * SQLite is dynamically typed: "UPDATE audit SET ts = ts || 'x'" stores text
 * that sqlite3_column_int64 would still read as the old number, and a NUL
 * inside a text value hides what follows it from C strings. A row is only
 * hashed if every column has the type the writer gave it.
 */
static const char *row_type_problem(sqlite3_stmt *st)
{
	static const struct {
		const char *name;
		int type;
		bool nullable;
	} cols[] = {
		{ "seq", SQLITE_INTEGER, false },       { "ts", SQLITE_INTEGER, false },
		{ "actor_uid", SQLITE_INTEGER, false }, { "subject_ref", SQLITE_TEXT, true },
		{ "kid", SQLITE_TEXT, true },           { "action", SQLITE_TEXT, false },
		{ "reason", SQLITE_TEXT, false },       { "detail", SQLITE_TEXT, false },
		{ "leaf", SQLITE_BLOB, false },         { "chain", SQLITE_BLOB, false },
	};

	for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
		int type = sqlite3_column_type(st, i);
		if (type == SQLITE_NULL && cols[i].nullable)
			continue;
		if (type != cols[i].type)
			return cols[i].name;
		if (type == SQLITE_TEXT && strlen((const char *)sqlite3_column_text(st, i)) !=
		                               (size_t)sqlite3_column_bytes(st, i))
			return cols[i].name;
		if (type == SQLITE_BLOB && sqlite3_column_bytes(st, i) != LK_CHAIN_LEN)
			return cols[i].name;
	}
	return NULL;
}

static const char sql_triggers[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
    " AND name IN ('audit_no_update', 'audit_no_delete')";

/* Only someone editing the file drops the append-only triggers; a chain
 * that still links after that was probably recomputed. */
static bool triggers_present(struct lk_store *store)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_triggers, NULL);
	bool ok;

	if (st == NULL)
		return false;
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 2;
	sqlite3_reset(st);
	return ok;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int lk_audit_verify(struct lk_store *store, struct lk_audit_report *ret_report, struct lk_err *err)
{
	struct lk_audit_report rep;
	unsigned char prev[LK_CHAIN_LEN] = { 0 }, leaf[LK_CHAIN_LEN], expect[LK_CHAIN_LEN];
	sqlite3_stmt *st;
	int64_t expected_seq = 1;
	int rc;

	memset(&rep, 0, sizeof(rep));
	st = lk_store_stmt(store, sql_walk, err);
	if (st == NULL)
		return LK_ESTORE;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* Types first: reading a column as text converts it, after which
		 * sqlite3_column_type is undefined. */
		const char *bad_column = row_type_problem(st);
		struct lk_audit_event ev = {
			.ts = sqlite3_column_int64(st, 1),
			.actor_uid = sqlite3_column_int64(st, 2),
			.subject_ref = col_text(st, 3),
			.kid = col_text(st, 4),
			.action = col_text(st, 5),
			.reason = col_text(st, 6),
			.detail = col_text(st, 7),
		};
		int64_t seq = sqlite3_column_int64(st, 0), pred;
		const unsigned char *stored_leaf = sqlite3_column_blob(st, 8);
		const unsigned char *stored_chain = sqlite3_column_blob(st, 9);

		rep.rows++;
		if (seq != expected_seq) {
			rep.problem = LK_AUDIT_MISSING;
			rep.bad_seq = expected_seq;
			if (seq == expected_seq + 1)
				snprintf(rep.why, sizeof(rep.why), "seq %lld is missing (deleted)",
				         (long long)expected_seq);
			else
				snprintf(rep.why, sizeof(rep.why),
				         "seqs %lld..%lld are missing (deleted)",
				         (long long)expected_seq, (long long)seq - 1);
			break;
		}
		if (bad_column != NULL) {
			rep.problem = LK_AUDIT_EDITED;
			rep.bad_seq = seq;
			snprintf(rep.why, sizeof(rep.why),
			         "seq %lld was edited: column %s does not hold what was written",
			         (long long)seq, bad_column);
			break;
		}
		leaf_hash(&ev, leaf);
		if (sodium_memcmp(leaf, stored_leaf, LK_CHAIN_LEN) != 0) {
			rep.problem = LK_AUDIT_EDITED;
			rep.bad_seq = seq;
			snprintf(rep.why, sizeof(rep.why),
			         "seq %lld was edited: its content does not match its leaf hash",
			         (long long)seq);
			break;
		}
		chain_hash(prev, leaf, expect);
		if (sodium_memcmp(expect, stored_chain, LK_CHAIN_LEN) != 0) {
			rep.bad_seq = seq;
			if (find_true_predecessor(store, leaf, stored_chain, &pred)) {
				rep.problem = LK_AUDIT_REORDERED;
				snprintf(rep.why, sizeof(rep.why),
				         "seq %lld is out of order: it was written right after "
				         "the row now at seq %lld",
				         (long long)seq, (long long)pred);
			} else {
				rep.problem = LK_AUDIT_BROKEN;
				snprintf(rep.why, sizeof(rep.why),
				         "seq %lld does not link to seq %lld: a row before it was "
				         "deleted "
				         "and the rest renumbered, or its hashes were rewritten",
				         (long long)seq, (long long)seq - 1);
			}
			break;
		}
		memcpy(prev, stored_chain, LK_CHAIN_LEN);
		rep.head_seq = seq;
		expected_seq++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return lk_store_error(store, rc, "reading the audit log", err);
	}
	sqlite3_reset(st);
	if (rep.problem == LK_AUDIT_INTACT && !triggers_present(store)) {
		rep.problem = LK_AUDIT_SCHEMA;
		snprintf(rep.why, sizeof(rep.why),
		         "the append-only triggers on the audit table are missing: the file was "
		         "edited outside latchkey, and the chain may have been recomputed");
	}
	memcpy(rep.head, prev, LK_CHAIN_LEN);
	*ret_report = rep;
	return LK_OK;
}

static const char sql_query[] =
    "SELECT seq, ts, actor_uid, subject_ref, kid, action, reason, detail FROM ("
    "  SELECT * FROM audit"
    "  WHERE (?1 IS NULL OR ts >= ?1) AND (?2 IS NULL OR kid = ?2)"
    "    AND (?3 IS NULL OR subject_ref = ?3) AND (?4 IS NULL OR action = ?4)"
    "  ORDER BY seq DESC LIMIT ?5"
    ") ORDER BY seq";

int lk_audit_query(struct lk_store *store, const struct lk_audit_filter *filter,
                   int (*cb)(const struct lk_audit_row *row, void *ctx), void *ctx,
                   struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_query, err);
	int rc, stop = 0;

	if (st == NULL)
		return LK_ESTORE;
	if (filter->since > 0)
		sqlite3_bind_int64(st, 1, filter->since);
	sqlite3_bind_text(st, 2, filter->kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, filter->subject_ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, filter->action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, filter->limit > 0 ? filter->limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct lk_audit_row row = {
			.seq = sqlite3_column_int64(st, 0),
			.ts = sqlite3_column_int64(st, 1),
			.actor_uid = sqlite3_column_int64(st, 2),
			.subject_ref = col_text(st, 3),
			.kid = col_text(st, 4),
			.action = col_text(st, 5),
			.reason = col_text(st, 6),
			.detail = col_text(st, 7),
		};
		if ((stop = cb(&row, ctx)) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return lk_store_error(store, rc, "reading the audit log", err);
	if (stop < 0)
		return lk_err_set(err, LK_ENOMEM, "reading the audit log: out of memory");
	return LK_OK;
}
