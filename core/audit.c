/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit-private.h"

/* Domain separation: a leaf can never be mistaken for another hash. */
static const char leaf_domain[] = "latchkey-audit-leaf-v1";

/*
 * The canonical encoding of a row (without seq: decision 0002): the domain
 * with its NUL, ts and actor_uid as big-endian u64, then each string as a
 * big-endian u64 length and its bytes (UINT64_MAX and nothing for NULL, so
 * NULL differs from ""; length-prefixed, so "ab"+"c" differs from "a"+"bc").
 * Most rows fit a small buffer, hashed in one call: audit verify walks every
 * row and must stay fast. Bigger ones are hashed piecewise, the same bytes.
 */
struct leaf_text {
	const char *s; /* NULL: absent */
	size_t len;
};

#define LEAF_BUF 1024

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	return p + 8;
}

static void leaf_hash_n(int64_t ts, int64_t actor_uid, const struct leaf_text text[5],
                        unsigned char out[LK_CHAIN_LEN])
{
	unsigned char buf[LEAF_BUF], *p = buf;
	size_t need = sizeof(leaf_domain) + 16;
	crypto_generichash_state st;

	for (int i = 0; i < 5; i++)
		need += 8 + (text[i].s != NULL ? text[i].len : 0);
	if (need <= sizeof(buf)) {
		memcpy(p, leaf_domain, sizeof(leaf_domain));
		p = put_u64(p + sizeof(leaf_domain), (uint64_t)ts);
		p = put_u64(p, (uint64_t)actor_uid);
		for (int i = 0; i < 5; i++) {
			if (text[i].s == NULL) {
				p = put_u64(p, UINT64_MAX);
				continue;
			}
			p = put_u64(p, text[i].len);
			memcpy(p, text[i].s, text[i].len);
			p += text[i].len;
		}
		crypto_generichash(out, LK_CHAIN_LEN, buf, (unsigned long long)(p - buf), NULL, 0);
		return;
	}
	crypto_generichash_init(&st, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&st, (const unsigned char *)leaf_domain, sizeof(leaf_domain));
	p = put_u64(put_u64(buf, (uint64_t)ts), (uint64_t)actor_uid);
	crypto_generichash_update(&st, buf, 16);
	for (int i = 0; i < 5; i++) {
		put_u64(buf, text[i].s != NULL ? text[i].len : UINT64_MAX);
		crypto_generichash_update(&st, buf, 8);
		if (text[i].s != NULL)
			crypto_generichash_update(&st, (const unsigned char *)text[i].s,
			                          text[i].len);
	}
	crypto_generichash_final(&st, out, LK_CHAIN_LEN);
}

static struct leaf_text cstr(const char *s)
{
	return (struct leaf_text){ s, s != NULL ? strlen(s) : 0 };
}

static void leaf_hash(const struct lk_audit_event *ev, unsigned char out[LK_CHAIN_LEN])
{
	const struct leaf_text text[5] = { cstr(ev->subject_ref), cstr(ev->kid), cstr(ev->action),
		                           cstr(ev->reason), cstr(ev->detail) };

	leaf_hash_n(ev->ts, ev->actor_uid, text, out);
}

static void chain_hash(const unsigned char prev[LK_CHAIN_LEN],
                       const unsigned char leaf[LK_CHAIN_LEN], unsigned char out[LK_CHAIN_LEN])
{
	unsigned char both[2 * LK_CHAIN_LEN];

	memcpy(both, prev, LK_CHAIN_LEN);
	memcpy(both + LK_CHAIN_LEN, leaf, LK_CHAIN_LEN);
	crypto_generichash(out, LK_CHAIN_LEN, both, sizeof(both), NULL, 0);
}

/* The chain and leaves are no secrets (they sit in the file for anyone who
 * can read it), but the comparison is constant time anyway, and a word at a
 * time: sodium_memcmp's byte loop showed in audit verify's profile. */
static bool hash_eq(const unsigned char *a, const unsigned char *b)
{
	uint64_t x, y, diff = 0;

	for (int i = 0; i < LK_CHAIN_LEN; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		diff |= x ^ y;
	}
	return diff == 0;
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
	case LK_AUDIT_INSERTED:
		return "inserted";
	case LK_AUDIT_TRUNCATED:
		return "truncated";
	case LK_AUDIT_REWRITTEN:
		return "rewritten";
	case LK_AUDIT_FORGED:
		return "forged-checkpoint";
	case LK_AUDIT_CP_MISSING:
		return "missing-checkpoint";
	case LK_AUDIT_CP_BROKEN:
		return "broken-checkpoint";
	}
	return "unknown";
}

static const char sql_walk[] =
    "SELECT seq, ts, actor_uid, subject_ref, kid, action, reason, detail, leaf, chain"
    " FROM audit ORDER BY seq";

static const char sql_chains[] = "SELECT seq, chain FROM audit ORDER BY seq";

/* Called only once a link has failed: is there a row j whose stored chain,
 * followed by this leaf, gives this row's stored chain? Then the row is
 * intact but was written right after j. */
static int find_true_predecessor(struct lk_store *store, const unsigned char leaf[LK_CHAIN_LEN],
                                 const unsigned char chain[LK_CHAIN_LEN], int64_t *ret_seq)
{
	unsigned char zero[LK_CHAIN_LEN] = { 0 }, guess[LK_CHAIN_LEN];
	sqlite3_stmt *st = NULL;
	int found = 0;

	chain_hash(zero, leaf, guess);
	if (hash_eq(guess, chain)) {
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
		if (hash_eq(guess, chain)) {
			*ret_seq = sqlite3_column_int64(st, 0);
			found = 1;
		}
	}
	sqlite3_finalize(st);
	return found;
}

static const char sql_hashes_at[] = "SELECT leaf, chain FROM audit WHERE seq = ?1";

/* The stored leaf and chain of the row at seq (a chain of zeros and no
 * leaf for seq 0); false if there is no such row or they are malformed.
 * Only after a failure, so not a cached statement. */
static bool stored_hashes(struct lk_store *store, int64_t seq, unsigned char leaf[LK_CHAIN_LEN],
                          unsigned char chain[LK_CHAIN_LEN])
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (seq == 0) {
		memset(leaf, 0, LK_CHAIN_LEN);
		memset(chain, 0, LK_CHAIN_LEN);
		return true;
	}
	if (sqlite3_prepare_v2(store->db, sql_hashes_at, -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB &&
	    sqlite3_column_bytes(st, 0) == LK_CHAIN_LEN &&
	    sqlite3_column_type(st, 1) == SQLITE_BLOB &&
	    sqlite3_column_bytes(st, 1) == LK_CHAIN_LEN) {
		memcpy(leaf, sqlite3_column_blob(st, 0), LK_CHAIN_LEN);
		memcpy(chain, sqlite3_column_blob(st, 1), LK_CHAIN_LEN);
		ok = true;
	}
	sqlite3_finalize(st);
	return ok;
}

/* The row at seq failed. It was inserted if the row after it was written
 * right after the row before it: the next row links to prev, the chain at
 * seq - 1. (Edited in place, it would still link to this row's chain.) */
static bool next_links_to(struct lk_store *store, int64_t seq,
                          const unsigned char prev[LK_CHAIN_LEN])
{
	unsigned char leaf[LK_CHAIN_LEN], chain[LK_CHAIN_LEN], expect[LK_CHAIN_LEN];

	if (!stored_hashes(store, seq + 1, leaf, chain))
		return false;
	chain_hash(prev, leaf, expect);
	return hash_eq(expect, chain);
}

static void set_inserted(struct lk_audit_report *rep, int64_t first, int64_t last)
{
	rep->problem = LK_AUDIT_INSERTED;
	rep->bad_seq = first;
	if (first == last)
		snprintf(rep->why, sizeof(rep->why),
		         "seq %lld was inserted: seq %lld was written right after seq %lld",
		         (long long)first, (long long)last + 1, (long long)first - 1);
	else
		snprintf(rep->why, sizeof(rep->why),
		         "seqs %lld..%lld were inserted: seq %lld was written right after seq %lld",
		         (long long)first, (long long)last, (long long)last + 1,
		         (long long)first - 1);
}

/* A row that does not match its own leaf: edited in place, or inserted. */
static void diagnose_content(struct lk_store *store, int64_t seq,
                             const unsigned char prev[LK_CHAIN_LEN], const char *bad_column,
                             struct lk_audit_report *rep)
{
	if (next_links_to(store, seq, prev)) {
		set_inserted(rep, seq, seq);
		return;
	}
	rep->problem = LK_AUDIT_EDITED;
	rep->bad_seq = seq;
	if (bad_column != NULL)
		snprintf(rep->why, sizeof(rep->why),
		         "seq %lld was edited: column %s does not hold what was written",
		         (long long)seq, bad_column);
	else
		snprintf(rep->why, sizeof(rep->why),
		         "seq %lld was edited: its content does not match its leaf hash",
		         (long long)seq);
}

/* A row whose content matches its leaf but that does not link to the row
 * before it. */
static void diagnose_link(struct lk_store *store, int64_t seq,
                          const unsigned char leaf[LK_CHAIN_LEN],
                          const unsigned char stored_chain[LK_CHAIN_LEN],
                          const unsigned char prev[LK_CHAIN_LEN], struct lk_audit_report *rep)
{
	unsigned char unused[LK_CHAIN_LEN];
	int64_t pred;

	rep->bad_seq = seq;
	if (find_true_predecessor(store, leaf, stored_chain, &pred)) {
		if (pred < seq - 1 && stored_hashes(store, pred, unused, rep->head)) {
			/* The rows between were slipped in, linked one to the
			 * next: the good prefix ends at pred. */
			rep->head_seq = pred;
			set_inserted(rep, pred + 1, seq - 1);
			return;
		}
		rep->problem = LK_AUDIT_REORDERED;
		snprintf(rep->why, sizeof(rep->why),
		         "seq %lld is out of order: it was written right after the row now at seq "
		         "%lld",
		         (long long)seq, (long long)pred);
		return;
	}
	if (next_links_to(store, seq, prev)) {
		set_inserted(rep, seq, seq);
		return;
	}
	rep->problem = LK_AUDIT_BROKEN;
	snprintf(rep->why, sizeof(rep->why),
	         "seq %lld does not link to seq %lld: a row before it was deleted and the rest "
	         "renumbered, or its hashes were rewritten",
	         (long long)seq, (long long)seq - 1);
}

/* One row of the walk, pointing into the statement's current row. */
struct walk_row {
	int64_t seq, ts, actor_uid;
	struct leaf_text text[5]; /* subject_ref, kid, action, reason, detail */
	const unsigned char *leaf, *chain;
};

/*
 * SQLite is dynamically typed: "UPDATE audit SET ts = ts || 'x'" stores text
 * that sqlite3_column_int64 would still read as the old number, and a NUL
 * inside a text value hides what follows it from C strings. A row is only
 * hashed if every column has the type the writer gave it: the name of the
 * first that does not, else NULL.
 *
 * Each sqlite3_column_* call takes the connection's mutex; reading each
 * column once through sqlite3_column_value (an "unprotected" value: safe
 * while one thread alone uses the connection, as every caller ensures: the
 * daemon's lock, the one-threaded CLI) cut the calls per row from some
 * thirty to ten, a third of the walk's time.
 */
static const char *read_row(sqlite3_stmt *st, struct walk_row *row)
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
	int64_t *ints[] = { &row->seq, &row->ts, &row->actor_uid };

	/* seq first, whatever its type: a bad row is still named by it. */
	row->seq = sqlite3_value_int64(sqlite3_column_value(st, 0));
	for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
		sqlite3_value *v = sqlite3_column_value(st, i);
		int type = sqlite3_value_type(v);
		const void *p;
		int n;

		if (type == SQLITE_NULL && cols[i].nullable) {
			row->text[i - 3] = (struct leaf_text){ NULL, 0 };
			continue;
		}
		if (type != cols[i].type)
			return cols[i].name;
		switch (type) {
		case SQLITE_INTEGER:
			*ints[i] = sqlite3_value_int64(v);
			break;
		case SQLITE_TEXT:
			/* Text before bytes, as SQLite asks. */
			p = sqlite3_value_text(v);
			n = sqlite3_value_bytes(v);
			if (p == NULL || memchr(p, '\0', (size_t)n) != NULL)
				return cols[i].name;
			row->text[i - 3] = (struct leaf_text){ p, (size_t)n };
			break;
		default: /* SQLITE_BLOB */
			p = sqlite3_value_blob(v);
			if (p == NULL || sqlite3_value_bytes(v) != LK_CHAIN_LEN)
				return cols[i].name;
			if (i == 8)
				row->leaf = p;
			else
				row->chain = p;
			break;
		}
	}
	return NULL;
}

/* And no purge marker left behind: one would let rows be deleted. */
static const char sql_triggers[] =
    "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
    " AND name IN ('audit_no_update', 'audit_no_delete'))"
    " + (SELECT count(*) = 0 FROM audit_purge)";

/* Only someone editing the file drops the append-only triggers; a chain
 * that still links after that was probably recomputed. */
static bool triggers_present(struct lk_store *store)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_triggers, NULL);
	bool ok;

	if (st == NULL)
		return false;
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 3;
	sqlite3_reset(st);
	return ok;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* "number=N ..." of a checkpoint's audit row; 0 if it does not start so. */
static int64_t record_number(const char *detail)
{
	long long n;
	char *end;

	if (strncmp(detail, "number=", 7) != 0 || detail[7] < '1' || detail[7] > '9')
		return 0;
	n = strtoll(detail + 7, &end, 10);
	return (*end == ' ' || *end == '\0') && n > 0 ? (int64_t)n : 0;
}

/* "anchor=N anchor_seq=S ..." of a purge's audit row; false if not so. */
static bool purge_detail(const char *detail, int64_t *ret_anchor, int64_t *ret_seq)
{
	long long a, q;
	int used = 0;

	if (sscanf(detail, "anchor=%lld anchor_seq=%lld%n", &a, &q, &used) != 2 || used == 0 ||
	    (detail[used] != ' ' && detail[used] != '\0') || a <= 0 || q <= 0)
		return false;
	*ret_anchor = (int64_t)a;
	*ret_seq = (int64_t)q;
	return true;
}

/* Where the walk is against the marks. */
struct mark_walk {
	const struct lk_audit_mark *marks;
	size_t n, next;
	int64_t good_seq; /* the last mark matched (0: the empty log, always good) */
	unsigned char good_chain[LK_CHAIN_LEN];
};

/* The row at seq, whose chain is chain, verified: the marks at seq must
 * vouch for that chain. False (and rep says why) if one does not. */
static bool pass_marks(struct mark_walk *w, int64_t seq, const unsigned char chain[LK_CHAIN_LEN],
                       struct lk_audit_report *rep)
{
	for (; w->next < w->n && w->marks[w->next].seq <= seq; w->next++) {
		const struct lk_audit_mark *mk = &w->marks[w->next];
		if (mk->seq != seq || !hash_eq(mk->chain, chain)) {
			rep->problem = LK_AUDIT_REWRITTEN;
			rep->bad_mark = mk->number;
			rep->bad_seq = w->good_seq + 1;
			rep->head_seq = w->good_seq;
			memcpy(rep->head, w->good_chain, LK_CHAIN_LEN);
			if (rep->bad_seq >= seq)
				snprintf(rep->why, sizeof(rep->why),
				         "seq %lld is not what checkpoint %lld signed: it was "
				         "rewritten and the chain recomputed",
				         (long long)seq, (long long)mk->number);
			else
				snprintf(rep->why, sizeof(rep->why),
				         "seq %lld is not what checkpoint %lld signed: seqs "
				         "%lld..%lld were rewritten and the chain recomputed",
				         (long long)seq, (long long)mk->number,
				         (long long)rep->bad_seq, (long long)seq);
			return false;
		}
		rep->marks_matched++;
		w->good_seq = seq;
		memcpy(w->good_chain, chain, LK_CHAIN_LEN);
	}
	return true;
}

int lk_audit_verify_from(struct lk_store *store, const struct lk_audit_mark *start,
                         const struct lk_audit_mark *marks, size_t n_marks,
                         struct lk_audit_report *ret_report, struct lk_err *err)
{
	struct lk_audit_report rep;
	struct mark_walk w = { .marks = marks, .n = n_marks };
	unsigned char prev[LK_CHAIN_LEN] = { 0 }, leaf[LK_CHAIN_LEN], expect[LK_CHAIN_LEN];
	sqlite3_stmt *st;
	int64_t expected_seq = 1;
	int rc = SQLITE_DONE;

	memset(&rep, 0, sizeof(rep));
	if (start != NULL) {
		/* After a purge: the rows up to start->seq are gone, and the
		 * first one left links to the chain value there. */
		memcpy(prev, start->chain, LK_CHAIN_LEN);
		expected_seq = start->seq + 1;
		rep.start_seq = rep.head_seq = w.good_seq = start->seq;
		memcpy(w.good_chain, start->chain, LK_CHAIN_LEN);
	}
	st = lk_store_stmt(store, sql_walk, err);
	if (st == NULL)
		return LK_ESTORE;
	/* Marks on the empty log (seq 0), or on the start, vouch for the
	 * chain there. */
	if (!pass_marks(&w, expected_seq - 1, prev, &rep))
		goto walked;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct walk_row row;
		const char *bad_column = read_row(st, &row);
		int64_t seq = row.seq;

		rep.rows++;
		/* The good prefix ends just before this row unless a diagnosis
		 * finds it ends earlier. */
		memcpy(rep.head, prev, LK_CHAIN_LEN);
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
			diagnose_content(store, seq, prev, bad_column, &rep);
			break;
		}
		leaf_hash_n(row.ts, row.actor_uid, row.text, leaf);
		if (!hash_eq(leaf, row.leaf)) {
			diagnose_content(store, seq, prev, NULL, &rep);
			break;
		}
		chain_hash(prev, leaf, expect);
		if (!hash_eq(expect, row.chain)) {
			diagnose_link(store, seq, leaf, row.chain, prev, &rep);
			break;
		}
		memcpy(prev, row.chain, LK_CHAIN_LEN);
		rep.head_seq = seq;
		expected_seq++;
		if (row.text[2].len == sizeof(LK_AUDIT_CHECKPOINT_ACTION) - 1 &&
		    memcmp(row.text[2].s, LK_AUDIT_CHECKPOINT_ACTION, row.text[2].len) == 0) {
			rep.record_seq = seq;
			rep.record_number = record_number(row.text[4].s);
		} else if (row.text[2].len == sizeof(LK_AUDIT_PURGE_ACTION) - 1 &&
		           memcmp(row.text[2].s, LK_AUDIT_PURGE_ACTION, row.text[2].len) == 0 &&
		           purge_detail(row.text[4].s, &rep.purge_anchor, &rep.purge_anchor_seq)) {
			rep.purge_seq = seq;
		}
		if (w.next < w.n && !pass_marks(&w, seq, prev, &rep))
			break;
	}
walked:
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return lk_store_error(store, rc, "reading the audit log", err);
	}
	sqlite3_reset(st);
	if (rep.problem == LK_AUDIT_INTACT)
		memcpy(rep.head, prev, LK_CHAIN_LEN);
	if (rep.problem == LK_AUDIT_INTACT && w.next < w.n) {
		const struct lk_audit_mark *last = &w.marks[w.n - 1];
		rep.problem = LK_AUDIT_TRUNCATED;
		rep.bad_mark = last->number;
		rep.bad_seq = rep.head_seq + 1;
		snprintf(rep.why, sizeof(rep.why),
		         "the log ends at seq %lld but checkpoint %lld covers up to seq %lld: "
		         "seqs %lld..%lld were cut",
		         (long long)rep.head_seq, (long long)last->number, (long long)last->seq,
		         (long long)rep.head_seq + 1, (long long)last->seq);
	}
	if (rep.problem == LK_AUDIT_INTACT && !triggers_present(store)) {
		rep.problem = LK_AUDIT_SCHEMA;
		snprintf(rep.why, sizeof(rep.why),
		         "the append-only triggers on the audit table are missing (or a purge "
		         "marker was left to disable them): the file was edited outside latchkey, "
		         "and the chain may have been recomputed");
	}
	*ret_report = rep;
	return LK_OK;
}

int lk_audit_verify_marks(struct lk_store *store, const struct lk_audit_mark *marks, size_t n_marks,
                          struct lk_audit_report *ret_report, struct lk_err *err)
{
	return lk_audit_verify_from(store, NULL, marks, n_marks, ret_report, err);
}

int lk_audit_first_seq(struct lk_store *store, int64_t *ret_seq, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc =
	    sqlite3_prepare_v2(store->db, "SELECT coalesce(min(seq), 0) FROM audit", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ret_seq = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? LK_OK : lk_store_error(store, rc, "reading the audit log", err);
}

static const char sql_oldest_cp[] =
    "SELECT number, audit_seq, audit_chain FROM checkpoint ORDER BY number LIMIT 1";

int lk_audit_verify(struct lk_store *store, struct lk_audit_report *ret_report, struct lk_err *err)
{
	struct lk_audit_mark start;
	sqlite3_stmt *st = NULL;
	int64_t first;
	bool anchored = false;
	int r;

	if ((r = lk_audit_first_seq(store, &first, err)) < 0)
		return r;
	if (first > 1 && sqlite3_prepare_v2(store->db, sql_oldest_cp, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) == first - 1 &&
	    sqlite3_column_bytes(st, 2) == LK_CHAIN_LEN) {
		start.number = sqlite3_column_int64(st, 0);
		start.seq = first - 1;
		memcpy(start.chain, sqlite3_column_blob(st, 2), LK_CHAIN_LEN);
		anchored = true;
	}
	sqlite3_finalize(st);
	return lk_audit_verify_from(store, anchored ? &start : NULL, NULL, 0, ret_report, err);
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
