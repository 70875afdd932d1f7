/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit hash chain: appending, verifying, and catching each kind of
 * tampering an attacker with write access to the database file can do.
 * Tamper tests drop the append-only triggers first: whoever can write the
 * file can do that too, and the chain is what must catch them.
 */
#include "config.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

Suite *audit_suite(void);

static struct tk_env e;

static void setup(void)
{
	tk_setup(&e);
}

static void teardown(void)
{
	tk_teardown(&e);
}

/* ---- helpers ---------------------------------------------------------- */

static int sql_rc(struct lk_store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static void sql(struct lk_store *s, const char *statement)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, statement, NULL, NULL, &msg);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s", statement, msg ? msg : "?");
	sqlite3_free(msg);
}

static void drop_triggers(struct lk_store *s)
{
	sql(s, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
}

/* Event i (1-based) has distinct content in every field; every third has
 * no kid and every fourth no subject, so NULLs are covered too. */
static void event_fields(int i, char kid[16], char subject[32], char reason[16], char detail[32])
{
	snprintf(kid, 16, "kid%09d", i);
	snprintf(subject, 32, "sub_%016d", i % 2);
	snprintf(reason, 16, "r%d", i);
	snprintf(detail, 32, "i=%d", i);
}

static void append_one(struct lk_store *s, int i, int64_t *ret_seq)
{
	char kid[16], subject[32], reason[16], detail[32];
	struct lk_err err = { { 0 } };

	event_fields(i, kid, subject, reason, detail);
	ck_assert_msg(lk_store_begin(s, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(
	    lk_audit_append(s,
	                    &(struct lk_audit_event){ .ts = TK_NOW + i,
	                                              .actor_uid = TK_ACTOR + i % 2,
	                                              .subject_ref = i % 4 == 0 ? NULL : subject,
	                                              .kid = i % 3 == 0 ? NULL : kid,
	                                              .action = i % 2 ? "key.verify" : "key.issue",
	                                              .reason = reason,
	                                              .detail = detail },
	                    ret_seq, &err) == LK_OK,
	    "append %d: %s", i, err.msg);
	ck_assert_msg(lk_store_commit(s, &err) == LK_OK, "%s", err.msg);
}

/* Appends events 1..n (one transaction each, as the daemon does). */
static void add_events(struct lk_store *s, int n)
{
	int64_t seq = -1;

	for (int i = 1; i <= n; i++) {
		append_one(s, i, &seq);
		ck_assert_int_eq(seq, i);
	}
}

static void verify(struct lk_store *s, struct lk_audit_report *rep)
{
	struct lk_err err = { { 0 } };

	memset(rep, 0xa5, sizeof(*rep));
	ck_assert_msg(lk_audit_verify(s, rep, &err) == LK_OK, "%s", err.msg);
}

/* The stored chain value at seq (zeros for seq 0). */
static void chain_at(struct lk_store *s, int64_t seq, unsigned char out[LK_CHAIN_LEN])
{
	sqlite3_stmt *st;

	memset(out, 0, LK_CHAIN_LEN);
	if (seq == 0)
		return;
	ck_assert_int_eq(
	    sqlite3_prepare_v2(s->db, "SELECT chain FROM audit WHERE seq = ?1", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_bytes(st, 0), LK_CHAIN_LEN);
	memcpy(out, sqlite3_column_blob(st, 0), LK_CHAIN_LEN);
	sqlite3_finalize(st);
}

/* Whatever went wrong at bad_seq, the rows before it still count as good. */
static void assert_good_prefix(struct lk_store *s, const struct lk_audit_report *rep)
{
	unsigned char want[LK_CHAIN_LEN];

	ck_assert_int_ne(rep->problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(rep->head_seq, rep->bad_seq - 1);
	chain_at(s, rep->head_seq, want);
	ck_assert_mem_eq(rep->head, want, LK_CHAIN_LEN);
}

static void assert_why_names(const struct lk_audit_report *rep, const char *text)
{
	ck_assert_msg(strstr(rep->why, text) != NULL, "why '%s' does not mention '%s'", rep->why,
	              text);
}

/*
 * The leaf encoding as documented in audit-private.h and DESIGN.md, written
 * out independently: an attacker has the source, so the tests may too. It
 * also pins the on-disk format: changing it would orphan every existing log.
 */
static void put_u64(crypto_generichash_state *st, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	crypto_generichash_update(st, b, sizeof(b));
}

static void put_str(crypto_generichash_state *st, const unsigned char *s, size_t len)
{
	if (s == NULL) {
		put_u64(st, UINT64_MAX);
		return;
	}
	put_u64(st, len);
	crypto_generichash_update(st, s, len);
}

static void attacker_leaf(sqlite3_stmt *row, unsigned char out[LK_CHAIN_LEN])
{
	static const char domain[] = "latchkey-audit-leaf-v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&st, (const unsigned char *)domain, sizeof(domain));
	put_u64(&st, (uint64_t)sqlite3_column_int64(row, 0));
	put_u64(&st, (uint64_t)sqlite3_column_int64(row, 1));
	for (int c = 2; c <= 6; c++)
		put_str(&st, sqlite3_column_text(row, c), (size_t)sqlite3_column_bytes(row, c));
	crypto_generichash_final(&st, out, LK_CHAIN_LEN);
}

static void attacker_chain(const unsigned char prev[LK_CHAIN_LEN],
                           const unsigned char leaf[LK_CHAIN_LEN], unsigned char out[LK_CHAIN_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&st, prev, LK_CHAIN_LEN);
	crypto_generichash_update(&st, leaf, LK_CHAIN_LEN);
	crypto_generichash_final(&st, out, LK_CHAIN_LEN);
}

/* Recomputes the leaf of seq from its current content; with relink, also
 * its chain from the stored chain of seq - 1. Writes them back. */
static void rehash_row(struct lk_store *s, int64_t seq, bool relink)
{
	sqlite3_stmt *st;
	unsigned char leaf[LK_CHAIN_LEN], prev[LK_CHAIN_LEN], chain[LK_CHAIN_LEN];

	ck_assert_int_eq(sqlite3_prepare_v2(s->db,
	                                    "SELECT ts, actor_uid, subject_ref, kid, action,"
	                                    " reason, detail, leaf FROM audit WHERE seq = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	attacker_leaf(st, leaf);
	sqlite3_finalize(st);

	chain_at(s, seq - 1, prev);
	attacker_chain(prev, leaf, chain);
	ck_assert_int_eq(sqlite3_prepare_v2(s->db,
	                                    relink ? "UPDATE audit SET leaf = ?2, chain = ?3"
	                                             " WHERE seq = ?1"
	                                           : "UPDATE audit SET leaf = ?2 WHERE seq = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, leaf, LK_CHAIN_LEN, SQLITE_TRANSIENT);
	if (relink)
		sqlite3_bind_blob(st, 3, chain, LK_CHAIN_LEN, SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* ---- an intact chain -------------------------------------------------- */

/* Group commit (the daemon's batches): units inside one transaction are
 * savepoints; a unit rolled back leaves the others, the chain stays
 * contiguous, and nothing is visible to another connection until the
 * batch commits. */
START_TEST(test_batch_units)
{
	struct lk_err err = { { 0 } };
	struct lk_audit_report rep;
	struct lk_store *ro = NULL;
	int64_t seq = -1;

	ck_assert_int_eq(lk_store_batch_commit(e.store, &err), LK_EINVAL); /* none open */
	ck_assert_int_eq(lk_store_batch_begin(e.store, &err), LK_OK);
	ck_assert(lk_store_batch_open(e.store));
	ck_assert_int_eq(lk_store_batch_begin(e.store, &err), LK_EINVAL); /* no nesting */
	append_one(e.store, 1, &seq);
	ck_assert_int_eq(seq, 1);
	/* A unit that fails undoes only itself, and its seq is reused. */
	ck_assert_int_eq(lk_store_begin(e.store, &err), LK_OK);
	ck_assert_int_eq(lk_audit_append(e.store,
	                                 &(struct lk_audit_event){ .ts = TK_NOW,
	                                                           .actor_uid = TK_ACTOR,
	                                                           .action = "x.undone",
	                                                           .reason = "r" },
	                                 &seq, &err),
	                 LK_OK);
	ck_assert_int_eq(seq, 2);
	lk_store_rollback(e.store);
	/* A stray rollback with no unit open leaves the batch alone. */
	lk_store_rollback(e.store);
	ck_assert(lk_store_batch_open(e.store));
	ck_assert(!lk_store_batch_lost(e.store));
	append_one(e.store, 2, &seq);
	ck_assert_int_eq(seq, 2);

	/* Another connection sees nothing yet. */
	ck_assert_int_eq(lk_store_open(e.db, LK_STORE_READONLY, NULL, &ro, &err), LK_OK);
	ck_assert_int_eq(lk_store_count(ro, "audit"), 0);
	ck_assert_int_eq(lk_store_batch_commit(e.store, &err), LK_OK);
	ck_assert(!lk_store_batch_open(e.store));
	ck_assert_int_eq(lk_store_count(ro, "audit"), 2);
	lk_store_close(ro);
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_INTACT);
	/* Outside a batch, begin/commit are plain transactions again. */
	append_one(e.store, 3, &seq);
	ck_assert_int_eq(seq, 3);
}
END_TEST

/* SQLite can throw the whole transaction away after an error: then the
 * batch is lost and its commit fails, so no member may report success. */
START_TEST(test_batch_lost)
{
	struct lk_err err = { { 0 } };
	int64_t seq = -1;

	ck_assert_int_eq(lk_store_batch_begin(e.store, &err), LK_OK);
	append_one(e.store, 1, &seq);
	/* What SQLite does on SQLITE_FULL or an I/O error mid-transaction. */
	ck_assert_int_eq(sqlite3_exec(e.store->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	ck_assert(lk_store_batch_lost(e.store));
	ck_assert_int_eq(lk_store_begin(e.store, &err), LK_ESTORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "rolled back"));
	ck_assert_int_eq(lk_store_batch_commit(e.store, &err), LK_ESTORE);
	ck_assert(!lk_store_batch_open(e.store));
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 0);
}
END_TEST

START_TEST(test_empty_log)
{
	struct lk_audit_report rep;
	unsigned char head[LK_CHAIN_LEN], zero[LK_CHAIN_LEN] = { 0 };
	int64_t seq = -1;
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_store_count(e.store, "audit"), 0);
	memset(head, 0xff, sizeof(head));
	ck_assert(lk_audit_head(e.store, &seq, head, &err) == LK_OK);
	ck_assert_int_eq(seq, 0);
	ck_assert_mem_eq(head, zero, LK_CHAIN_LEN);
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(rep.rows, 0);
	ck_assert_int_eq(rep.head_seq, 0);
	ck_assert_mem_eq(rep.head, zero, LK_CHAIN_LEN);
}
END_TEST

START_TEST(test_intact)
{
	struct lk_audit_report rep;
	unsigned char head[LK_CHAIN_LEN];
	int64_t seq;
	struct lk_err err = { { 0 } };
	const int n = 6 + _i * 37;

	add_events(e.store, n);
	ck_assert(lk_audit_head(e.store, &seq, head, &err) == LK_OK);
	ck_assert_int_eq(seq, n);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_INTACT, "%s: %s", lk_audit_problem_str(rep.problem),
	              rep.why);
	ck_assert_int_eq(rep.rows, n);
	ck_assert_int_eq(rep.head_seq, n);
	ck_assert_int_eq(rep.bad_seq, 0);
	ck_assert_mem_eq(rep.head, head, LK_CHAIN_LEN);
}
END_TEST

START_TEST(test_leaf_encoding_pinned)
{
	sqlite3_stmt *st;
	unsigned char leaf[LK_CHAIN_LEN], chain[LK_CHAIN_LEN], prev[LK_CHAIN_LEN] = { 0 };
	int rows = 0;

	add_events(e.store, 6);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT ts, actor_uid, subject_ref, kid, action,"
	                                    " reason, detail, leaf, chain FROM audit ORDER BY seq",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		rows++;
		attacker_leaf(st, leaf);
		ck_assert_msg(sqlite3_column_bytes(st, 7) == LK_CHAIN_LEN &&
		                  memcmp(sqlite3_column_blob(st, 7), leaf, LK_CHAIN_LEN) == 0,
		              "leaf of row %d differs from the documented encoding", rows);
		attacker_chain(prev, leaf, chain);
		ck_assert_msg(memcmp(sqlite3_column_blob(st, 8), chain, LK_CHAIN_LEN) == 0,
		              "chain of row %d is not H(prev || leaf)", rows);
		memcpy(prev, chain, LK_CHAIN_LEN);
	}
	sqlite3_finalize(st);
	ck_assert_int_eq(rows, 6);
}
END_TEST

static void append_fixed(struct lk_store *s, const char *kid, const char *detail)
{
	struct lk_err err = { { 0 } };

	ck_assert(lk_store_begin(s, &err) == LK_OK);
	ck_assert_msg(
	    lk_audit_append(s,
	                    &(struct lk_audit_event){ .ts = TK_NOW,
	                                              .actor_uid = TK_ACTOR,
	                                              .subject_ref = "sub_0000000000000000",
	                                              .kid = kid,
	                                              .action = "key.issue",
	                                              .reason = "ok",
	                                              .detail = detail },
	                    NULL, &err) == LK_OK,
	    "%s", err.msg);
	ck_assert(lk_store_commit(s, &err) == LK_OK);
}

START_TEST(test_chain_deterministic)
{
	struct tk_env other;
	struct lk_audit_report a, b;

	/* Two independent stores (different master keys, files, times of
	 * creation) with the same events give the same chain. */
	tk_setup(&other);
	add_events(e.store, 5);
	add_events(other.store, 5);
	verify(e.store, &a);
	verify(other.store, &b);
	ck_assert_int_eq(a.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(b.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(a.head_seq, b.head_seq);
	ck_assert_mem_eq(a.head, b.head, LK_CHAIN_LEN);

	/* ... and one differing event gives a different one from there on. */
	append_fixed(e.store, "kidAAAAAAAAA", "x");
	append_fixed(other.store, "kidAAAAAAAAA", "y");
	verify(e.store, &a);
	verify(other.store, &b);
	ck_assert_int_eq(a.head_seq, 6);
	ck_assert_mem_ne(a.head, b.head, LK_CHAIN_LEN);
	tk_teardown(&other);
}
END_TEST

START_TEST(test_chain_distinguishes_null)
{
	struct tk_env other;
	struct lk_audit_report a, b;

	/* A missing kid and an empty one are different facts. */
	tk_setup(&other);
	append_fixed(e.store, NULL, "");
	append_fixed(other.store, "", "");
	verify(e.store, &a);
	verify(other.store, &b);
	ck_assert_int_eq(a.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(b.problem, LK_AUDIT_INTACT);
	ck_assert_mem_ne(a.head, b.head, LK_CHAIN_LEN);
	tk_teardown(&other);
}
END_TEST

START_TEST(test_chain_field_boundaries)
{
	struct tk_env other;
	struct lk_audit_report a, b;
	struct lk_err err = { { 0 } };

	/* Moving text from one field to the next must change the leaf. */
	tk_setup(&other);
	ck_assert(lk_store_begin(e.store, &err) == LK_OK);
	ck_assert(
	    lk_audit_append(e.store,
	                    &(struct lk_audit_event){
	                        .ts = TK_NOW, .action = "key.re", .reason = "voke", .detail = "" },
	                    NULL, &err) == LK_OK);
	ck_assert(lk_store_commit(e.store, &err) == LK_OK);
	ck_assert(lk_store_begin(other.store, &err) == LK_OK);
	ck_assert(
	    lk_audit_append(other.store,
	                    &(struct lk_audit_event){
	                        .ts = TK_NOW, .action = "key.revoke", .reason = "", .detail = "" },
	                    NULL, &err) == LK_OK);
	ck_assert(lk_store_commit(other.store, &err) == LK_OK);
	verify(e.store, &a);
	verify(other.store, &b);
	ck_assert_int_eq(a.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(b.problem, LK_AUDIT_INTACT);
	ck_assert_mem_ne(a.head, b.head, LK_CHAIN_LEN);
	tk_teardown(&other);
}
END_TEST

START_TEST(test_append_optional_fields)
{
	struct lk_err err = { { 0 } };
	struct lk_audit_report rep;
	int64_t seq = 0;

	/* Only action and reason are required; the row written must verify
	 * as what was appended, whichever optional fields were left out. */
	ck_assert(lk_store_begin(e.store, &err) == LK_OK);
	ck_assert_msg(lk_audit_append(e.store,
	                              &(struct lk_audit_event){
	                                  .ts = TK_NOW, .action = "daemon.start", .reason = "ok" },
	                              &seq, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert(lk_store_commit(e.store, &err) == LK_OK);
	ck_assert_int_eq(seq, 1);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_INTACT,
	              "a row appended without detail verifies as %s: %s",
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.head_seq, 1);
}
END_TEST

/* ---- appending -------------------------------------------------------- */

START_TEST(test_append_outside_transaction)
{
	struct lk_err err = { { 0 } };
	int64_t seq = -7;
	struct tk_snapshot snap;

	add_events(e.store, 2);
	tk_snapshot(e.store, &snap);
	ck_assert_int_eq(lk_audit_append(e.store,
	                                 &(struct lk_audit_event){
	                                     .ts = TK_NOW, .action = "key.issue", .reason = "ok" },
	                                 &seq, &err),
	                 LK_ESTORE);
	ck_assert_msg(strstr(err.msg, "transaction") != NULL, "%s", err.msg);
	ck_assert_int_eq(seq, -7);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

START_TEST(test_append_requires_action_and_reason)
{
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;

	add_events(e.store, 1);
	tk_snapshot(e.store, &snap);
	ck_assert(lk_store_begin(e.store, &err) == LK_OK);
	ck_assert_int_eq(lk_audit_append(e.store,
	                                 &(struct lk_audit_event){ .ts = TK_NOW, .reason = "ok" },
	                                 NULL, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(
	    lk_audit_append(e.store,
	                    &(struct lk_audit_event){ .ts = TK_NOW, .action = "key.issue" }, NULL,
	                    &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), snap.audit);
	ck_assert(lk_store_commit(e.store, &err) == LK_OK);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

START_TEST(test_append_rolls_back)
{
	struct lk_err err = { { 0 } };
	struct lk_audit_report rep;
	int64_t seq = 0;

	add_events(e.store, 2);
	/* A row whose transaction rolls back leaves no trace, and its seq is
	 * taken by the next row without a gap. */
	ck_assert(lk_store_begin(e.store, &err) == LK_OK);
	ck_assert(lk_audit_append(e.store,
	                          &(struct lk_audit_event){
	                              .ts = TK_NOW, .action = "key.issue", .reason = "lost" },
	                          &seq, &err) == LK_OK);
	ck_assert_int_eq(seq, 3);
	lk_store_rollback(e.store);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 2);
	append_one(e.store, 3, &seq);
	ck_assert_int_eq(seq, 3);
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(rep.head_seq, 3);
}
END_TEST

START_TEST(test_append_only_triggers)
{
	struct lk_audit_report rep;

	add_events(e.store, 4);
	ck_assert_int_ne(sql_rc(e.store, "UPDATE audit SET reason = 'x' WHERE seq = 2"), SQLITE_OK);
	ck_assert_msg(strstr(sqlite3_errmsg(e.store->db), "append-only") != NULL, "%s",
	              sqlite3_errmsg(e.store->db));
	ck_assert_int_ne(sql_rc(e.store, "UPDATE audit SET seq = 9 WHERE seq = 4"), SQLITE_OK);
	ck_assert_int_ne(sql_rc(e.store, "DELETE FROM audit WHERE seq = 2"), SQLITE_OK);
	ck_assert_msg(strstr(sqlite3_errmsg(e.store->db), "append-only") != NULL, "%s",
	              sqlite3_errmsg(e.store->db));
	ck_assert_int_ne(sql_rc(e.store, "DELETE FROM audit"), SQLITE_OK);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 4);
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(rep.head_seq, 4);
}
END_TEST

/* ---- tampering -------------------------------------------------------- */

/* Edits to seq 3 of 6 (event 3 has a kid of NULL and a subject). */
static const char *const edits[] = {
	"UPDATE audit SET reason = 'ok' WHERE seq = 3",
	"UPDATE audit SET ts = ts + 1 WHERE seq = 3",
	"UPDATE audit SET ts = ts - 86400 WHERE seq = 3",
	"UPDATE audit SET kid = 'kid999999999' WHERE seq = 3",
	"UPDATE audit SET kid = '' WHERE seq = 3",
	"UPDATE audit SET detail = 'i=3 ' WHERE seq = 3",
	"UPDATE audit SET detail = '' WHERE seq = 3",
	"UPDATE audit SET subject_ref = NULL WHERE seq = 3",
	"UPDATE audit SET subject_ref = 'sub_0000000000000000' WHERE seq = 3",
	"UPDATE audit SET actor_uid = 0 WHERE seq = 3",
	"UPDATE audit SET action = 'key.issue' WHERE seq = 3",
	/* The stored value changes type or grows a hidden tail while reading
	 * it back through sqlite3_column_int64/_text looks the same. A ts
	 * stored as text sorts after every integer, so the row drops out of
	 * every "ts <= ?" range a report selects. */
	"UPDATE audit SET ts = CAST(ts AS TEXT) || 'x' WHERE seq = 3",
	"UPDATE audit SET ts = ts + 0.5 WHERE seq = 3",
	"UPDATE audit SET actor_uid = CAST(actor_uid AS TEXT) || 'x' WHERE seq = 3",
	"UPDATE audit SET reason = CAST(CAST(reason AS BLOB) || x'00' || CAST(' forged' AS BLOB)"
	" AS TEXT) WHERE seq = 3",
};

START_TEST(test_edited)
{
	struct lk_audit_report rep;

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, edits[_i]);
	ck_assert_int_eq(sqlite3_changes(e.store->db), 1);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_EDITED, "%s: got %s (%s)", edits[_i],
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "seq 3");
	assert_good_prefix(e.store, &rep);
}
END_TEST

/* Damage to the hash columns themselves: any verdict but intact, at 3. */
static const char *const hash_edits[] = {
	"UPDATE audit SET leaf = zeroblob(32) WHERE seq = 3",
	"UPDATE audit SET leaf = x'00' WHERE seq = 3",
	"UPDATE audit SET leaf = (SELECT leaf FROM audit WHERE seq = 5) WHERE seq = 3",
	"UPDATE audit SET chain = x'01' WHERE seq = 3",
	"UPDATE audit SET chain = zeroblob(32) WHERE seq = 3",
	"UPDATE audit SET chain = (SELECT chain FROM audit WHERE seq = 2) WHERE seq = 3",
	/* The leaf and chain of another row copied over this one. */
	"UPDATE audit SET leaf = (SELECT leaf FROM audit WHERE seq = 5),"
	" chain = (SELECT chain FROM audit WHERE seq = 5) WHERE seq = 3",
	/* A whole other row, content and hashes, copied over this one. */
	"UPDATE audit SET (ts, actor_uid, subject_ref, kid, action, reason, detail, leaf, chain)"
	" = (SELECT ts, actor_uid, subject_ref, kid, action, reason, detail, leaf, chain"
	"    FROM audit WHERE seq = 5) WHERE seq = 3",
};

START_TEST(test_hashes_damaged)
{
	struct lk_audit_report rep;

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, hash_edits[_i]);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem != LK_AUDIT_INTACT, "%s went unnoticed", hash_edits[_i]);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "seq 3");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_deleted_one)
{
	struct lk_audit_report rep;

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "DELETE FROM audit WHERE seq = 3");
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_MISSING, "got %s (%s)",
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "seq 3");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_deleted_two)
{
	struct lk_audit_report rep;

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "DELETE FROM audit WHERE seq IN (3, 4)");
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_MISSING);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "3..4");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_deleted_first)
{
	struct lk_audit_report rep;

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "DELETE FROM audit WHERE seq = 1");
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_MISSING);
	ck_assert_int_eq(rep.bad_seq, 1);
	assert_why_names(&rep, "seq 1");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_reordered)
{
	struct lk_audit_report rep;

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "UPDATE audit SET seq = -1 WHERE seq = 3;"
	             "UPDATE audit SET seq = 3 WHERE seq = 4;"
	             "UPDATE audit SET seq = 4 WHERE seq = -1;");
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 6);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_REORDERED, "got %s (%s)",
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "seq 3");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_moved_to_front)
{
	struct lk_audit_report rep;

	/* Row 1 moved to the end, the rest shifted down. */
	add_events(e.store, 4);
	drop_triggers(e.store);
	sql(e.store, "UPDATE audit SET seq = 100 WHERE seq = 1;"
	             "UPDATE audit SET seq = 1 WHERE seq = 2;"
	             "UPDATE audit SET seq = 2 WHERE seq = 3;"
	             "UPDATE audit SET seq = 3 WHERE seq = 4;"
	             "UPDATE audit SET seq = 4 WHERE seq = 100;");
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_BROKEN || rep.problem == LK_AUDIT_REORDERED,
	              "got %s (%s)", lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 1);
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_deleted_and_renumbered)
{
	struct lk_audit_report rep;
	char stmt[80];

	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "DELETE FROM audit WHERE seq = 3");
	for (int s = 4; s <= 6; s++) {
		snprintf(stmt, sizeof(stmt), "UPDATE audit SET seq = %d WHERE seq = %d", s - 1, s);
		sql(e.store, stmt);
	}
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 5);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_BROKEN, "got %s (%s)",
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "seq 3");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_edited_and_leaf_recomputed)
{
	struct lk_audit_report rep;

	/* The attacker edits the content and writes the matching leaf: the
	 * leaf check passes, the link to seq 2 does not. */
	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "UPDATE audit SET reason = 'ok' WHERE seq = 3");
	rehash_row(e.store, 3, false);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_BROKEN, "got %s (%s)",
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 3);
	assert_why_names(&rep, "seq 3");
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_edited_and_relinked)
{
	struct lk_audit_report rep;

	/* Leaf and chain of seq 3 both recomputed: seq 3 now links, and the
	 * break shows at seq 4, which was chained to the old seq 3. */
	add_events(e.store, 6);
	drop_triggers(e.store);
	sql(e.store, "UPDATE audit SET reason = 'ok' WHERE seq = 3");
	rehash_row(e.store, 3, true);
	verify(e.store, &rep);
	ck_assert_msg(rep.problem == LK_AUDIT_BROKEN, "got %s (%s)",
	              lk_audit_problem_str(rep.problem), rep.why);
	ck_assert_int_eq(rep.bad_seq, 4);
	assert_good_prefix(e.store, &rep);
}
END_TEST

START_TEST(test_full_rewrite_changes_head)
{
	struct lk_audit_report before, after;

	/* Rewriting every hash from the edit onwards makes the chain
	 * self-consistent: only the head, compared against a signed
	 * checkpoint, can show it. It must at least differ. */
	add_events(e.store, 6);
	verify(e.store, &before);
	drop_triggers(e.store);
	sql(e.store, "UPDATE audit SET reason = 'ok' WHERE seq = 3");
	for (int s = 3; s <= 6; s++)
		rehash_row(e.store, s, true);
	verify(e.store, &after);
	/* The rows link again; what gives it away is the dropped triggers. */
	ck_assert_int_eq(after.problem, LK_AUDIT_SCHEMA);
	ck_assert_int_eq(after.head_seq, 6);
	ck_assert_mem_ne(after.head, before.head, LK_CHAIN_LEN);
}
END_TEST

START_TEST(test_forged_row_appended)
{
	struct lk_audit_report rep;

	/* INSERT is not blocked by the triggers; a row added behind the
	 * writer's back must not pass as part of the chain. */
	add_events(e.store, 6);
	sql(e.store, "INSERT INTO audit (seq, ts, actor_uid, subject_ref, kid, action, reason,"
	             " detail, leaf, chain) SELECT 7, ts, actor_uid, subject_ref, kid, action,"
	             " 'ok', detail, leaf, chain FROM audit WHERE seq = 6");
	verify(e.store, &rep);
	ck_assert_int_ne(rep.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(rep.bad_seq, 7);
	assert_good_prefix(e.store, &rep);

	/* With a correct leaf but no valid link. */
	drop_triggers(e.store);
	rehash_row(e.store, 7, false);
	verify(e.store, &rep);
	ck_assert_int_eq(rep.problem, LK_AUDIT_BROKEN);
	ck_assert_int_eq(rep.bad_seq, 7);
}
END_TEST

/* ---- querying --------------------------------------------------------- */

struct seen {
	int n, stop_after;
	int64_t seqs[64];
	struct lk_audit_row first;
	char first_kid[32], first_reason[32], first_detail[32];
	bool first_kid_null;
};

static int record(const struct lk_audit_row *row, void *ctx)
{
	struct seen *s = ctx;

	if (s->n == 0) {
		s->first = *row;
		s->first_kid_null = row->kid == NULL;
		snprintf(s->first_kid, sizeof(s->first_kid), "%s", row->kid ? row->kid : "");
		snprintf(s->first_reason, sizeof(s->first_reason), "%s", row->reason);
		snprintf(s->first_detail, sizeof(s->first_detail), "%s", row->detail);
	}
	ck_assert_int_lt(s->n, 64);
	s->seqs[s->n++] = row->seq;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void query(const struct lk_audit_filter *f, struct seen *out)
{
	struct lk_err err = { { 0 } };
	int stop = out->stop_after;

	memset(out, 0, sizeof(*out));
	out->stop_after = stop;
	ck_assert_msg(lk_audit_query(e.store, f, record, out, &err) == LK_OK, "%s", err.msg);
}

static void assert_seqs(const struct seen *s, const int64_t *want, int n)
{
	ck_assert_int_eq(s->n, n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(s->seqs[i] == want[i], "row %d: seq %lld, want %lld", i,
		              (long long)s->seqs[i], (long long)want[i]);
}

#define SEQS(...)                         \
	(const int64_t[]){ __VA_ARGS__ }, \
	    (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t))

START_TEST(test_query_filters)
{
	struct seen s = { 0 };
	char kid[16], subject[32], reason[16], detail[32];

	add_events(e.store, 8);

	query(&(struct lk_audit_filter){ 0 }, &s);
	assert_seqs(&s, SEQS(1, 2, 3, 4, 5, 6, 7, 8));
	ck_assert_int_eq(s.first.ts, TK_NOW + 1);
	ck_assert_int_eq(s.first.actor_uid, TK_ACTOR + 1);
	ck_assert_str_eq(s.first_kid, "kid000000001");
	ck_assert_str_eq(s.first_reason, "r1");
	ck_assert_str_eq(s.first_detail, "i=1");

	query(&(struct lk_audit_filter){ .since = TK_NOW + 6 }, &s);
	assert_seqs(&s, SEQS(6, 7, 8));
	query(&(struct lk_audit_filter){ .since = TK_NOW + 9 }, &s);
	assert_seqs(&s, NULL, 0);

	event_fields(2, kid, subject, reason, detail);
	query(&(struct lk_audit_filter){ .kid = kid }, &s);
	assert_seqs(&s, SEQS(2));
	query(&(struct lk_audit_filter){ .kid = "kid000000003" }, &s); /* event 3 has none */
	assert_seqs(&s, NULL, 0);

	event_fields(1, kid, subject, reason, detail); /* sub_...1: odd events */
	query(&(struct lk_audit_filter){ .subject_ref = subject }, &s);
	assert_seqs(&s, SEQS(1, 3, 5, 7));

	query(&(struct lk_audit_filter){ .action = "key.issue" }, &s);
	assert_seqs(&s, SEQS(2, 4, 6, 8));
	query(&(struct lk_audit_filter){ .action = "key" }, &s);
	assert_seqs(&s, NULL, 0);

	/* Combined filters intersect. */
	query(&(struct lk_audit_filter){ .since = TK_NOW + 4, .subject_ref = subject }, &s);
	assert_seqs(&s, SEQS(5, 7));
}
END_TEST

START_TEST(test_query_limit)
{
	struct seen s = { 0 };

	add_events(e.store, 8);
	/* The newest rows, still in seq order. */
	query(&(struct lk_audit_filter){ .limit = 3 }, &s);
	assert_seqs(&s, SEQS(6, 7, 8));
	query(&(struct lk_audit_filter){ .limit = 1 }, &s);
	assert_seqs(&s, SEQS(8));
	query(&(struct lk_audit_filter){ .limit = 100 }, &s);
	assert_seqs(&s, SEQS(1, 2, 3, 4, 5, 6, 7, 8));
	/* The limit applies after the other filters. */
	query(&(struct lk_audit_filter){ .limit = 2, .action = "key.verify" }, &s);
	assert_seqs(&s, SEQS(5, 7));
	query(&(struct lk_audit_filter){ .limit = 2, .since = TK_NOW + 8 }, &s);
	assert_seqs(&s, SEQS(8));
}
END_TEST

START_TEST(test_query_stops_early)
{
	struct seen s = { .stop_after = 2 };

	add_events(e.store, 8);
	query(&(struct lk_audit_filter){ 0 }, &s);
	assert_seqs(&s, SEQS(1, 2));
	s.stop_after = 1;
	query(&(struct lk_audit_filter){ .limit = 3 }, &s);
	assert_seqs(&s, SEQS(6));
	/* The statement was reset: the next query starts afresh. */
	s.stop_after = 0;
	query(&(struct lk_audit_filter){ .limit = 3 }, &s);
	assert_seqs(&s, SEQS(6, 7, 8));
}
END_TEST

START_TEST(test_problem_str)
{
	ck_assert_str_eq(lk_audit_problem_str(LK_AUDIT_INTACT), "intact");
	ck_assert_str_eq(lk_audit_problem_str(LK_AUDIT_EDITED), "edited");
	ck_assert_str_eq(lk_audit_problem_str(LK_AUDIT_MISSING), "missing");
	ck_assert_str_eq(lk_audit_problem_str(LK_AUDIT_REORDERED), "reordered");
	ck_assert_str_eq(lk_audit_problem_str(LK_AUDIT_BROKEN), "broken");
	ck_assert_str_eq(lk_audit_problem_str(LK_AUDIT_SCHEMA), "schema");
	ck_assert_str_eq(lk_audit_problem_str((enum lk_audit_problem)42), "unknown");
}
END_TEST

Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc;

	tc = tcase_create("chain");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_log);
	tcase_add_loop_test(tc, test_intact, 0, 3);
	tcase_add_test(tc, test_leaf_encoding_pinned);
	tcase_add_test(tc, test_chain_deterministic);
	tcase_add_test(tc, test_chain_distinguishes_null);
	tcase_add_test(tc, test_chain_field_boundaries);
	tcase_add_test(tc, test_problem_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_append_outside_transaction);
	tcase_add_test(tc, test_batch_units);
	tcase_add_test(tc, test_batch_lost);
	tcase_add_test(tc, test_append_requires_action_and_reason);
	tcase_add_test(tc, test_append_rolls_back);
	tcase_add_test(tc, test_append_optional_fields);
	tcase_add_test(tc, test_append_only_triggers);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_edited, 0, (int)(sizeof(edits) / sizeof(edits[0])));
	tcase_add_loop_test(tc, test_hashes_damaged, 0,
	                    (int)(sizeof(hash_edits) / sizeof(hash_edits[0])));
	tcase_add_test(tc, test_deleted_one);
	tcase_add_test(tc, test_deleted_two);
	tcase_add_test(tc, test_deleted_first);
	tcase_add_test(tc, test_reordered);
	tcase_add_test(tc, test_moved_to_front);
	tcase_add_test(tc, test_deleted_and_renumbered);
	tcase_add_test(tc, test_edited_and_leaf_recomputed);
	tcase_add_test(tc, test_edited_and_relinked);
	tcase_add_test(tc, test_full_rewrite_changes_head);
	tcase_add_test(tc, test_forged_row_appended);
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_query_filters);
	tcase_add_test(tc, test_query_limit);
	tcase_add_test(tc, test_query_stops_early);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tk_run_suite(audit_suite());
}
