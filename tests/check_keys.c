/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API-key lifecycle and verification: every verdict, what each call records
 * in the audit chain, what bad input gets, and that state changes take effect
 * on the very next request.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "testutil.h"

#define HOUR INT64_C(3600)
#define DAY  INT64_C(86400)

Suite *keys_suite(void);

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

struct issue_args {
	const char *owner;
	const char *env;
	const char *const *scopes;
	size_t n_scopes;
	const char *const *cidrs;
	size_t n_cidrs;
	const char *description;
	int64_t lifetime;
	int64_t now;
};

static const char *const scope_a[] = { "a" };

/* Issues through the real API with every field under the test's control. */
static void issue(const struct issue_args *a, char key[LK_KEY_MAX_LEN + 1],
                  struct lk_key_info *ret_info)
{
	struct lk_err err = { { 0 } };
	struct lk_key_info info;
	int r;

	r = lk_key_issue(
	    e.store, &e.rules,
	    &(struct lk_issue_request){ .owner = a->owner ? a->owner : "alice",
	                                .env = a->env ? a->env : "test",
	                                .scopes = a->scopes ? a->scopes : scope_a,
	                                .n_scopes = a->scopes ? a->n_scopes : 1,
	                                .cidrs = a->cidrs,
	                                .n_cidrs = a->n_cidrs,
	                                .description = a->description,
	                                .lifetime = a->lifetime ? a->lifetime : 30 * DAY },
	    TK_ACTOR, a->now ? a->now : TK_NOW, key, &info, &err);
	ck_assert_msg(r == LK_OK, "issue: %s", err.msg);
	if (ret_info != NULL)
		*ret_info = info;
}

static void get_key(struct lk_store *s, const char *kid, struct lk_key_info *ret)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_get(s, kid, ret, &err) == LK_OK, "get %s: %s", kid, err.msg);
}

/* The secret part of a full key string. */
static void secret_of(const char *key, char out[LK_SECRET_LEN + 1])
{
	struct lk_apikey k;

	ck_assert_int_eq(lk_apikey_parse(key, strlen(key), &k), LK_PARSE_OK);
	memcpy(out, k.secret, LK_SECRET_LEN + 1);
	lk_apikey_wipe(&k);
}

/* A copy of one audit row that outlives the query callback. */
struct row_copy {
	int n;
	int64_t seq, ts, actor_uid;
	bool has_subject, has_kid;
	char subject_ref[64], kid[64], action[64], reason[LK_REASON_MAX + 1], detail[1024];
};

static int copy_row(const struct lk_audit_row *row, void *ctx)
{
	struct row_copy *c = ctx;

	c->n++;
	c->seq = row->seq;
	c->ts = row->ts;
	c->actor_uid = row->actor_uid;
	c->has_subject = row->subject_ref != NULL;
	c->has_kid = row->kid != NULL;
	snprintf(c->subject_ref, sizeof(c->subject_ref), "%s",
	         row->subject_ref ? row->subject_ref : "");
	snprintf(c->kid, sizeof(c->kid), "%s", row->kid ? row->kid : "");
	snprintf(c->action, sizeof(c->action), "%s", row->action ? row->action : "");
	snprintf(c->reason, sizeof(c->reason), "%s", row->reason ? row->reason : "");
	snprintf(c->detail, sizeof(c->detail), "%s", row->detail ? row->detail : "");
	return 0;
}

/* The newest audit row matching action and kid (either may be NULL); n says
 * how many rows matched in all. */
static void find_rows(struct lk_store *s, const char *action, const char *kid, struct row_copy *out)
{
	struct lk_err err = { { 0 } };

	memset(out, 0, sizeof(*out));
	ck_assert_msg(lk_audit_query(s, &(struct lk_audit_filter){ .action = action, .kid = kid },
	                             copy_row, out, &err) == LK_OK,
	              "%s", err.msg);
}

static void last_row(struct lk_store *s, struct row_copy *out)
{
	struct lk_err err = { { 0 } };

	memset(out, 0, sizeof(*out));
	ck_assert_msg(lk_audit_query(s, &(struct lk_audit_filter){ .limit = 1 }, copy_row, out,
	                             &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(out->n, 1);
}

/*
 * Runs key through lk_key_check (must say want and write nothing), then
 * through lk_key_verify (must say want and append exactly one "key.verify"
 * row naming the verdict and kid, whose seq it returns; last_used moves only
 * on success).
 */
#define EXPECT_VERDICT(store, key, req, now, want, kid) \
	expect_verdict(__LINE__, (store), (key), (req), (now), (want), (kid))

static struct lk_verify_result expect_verdict(int line, struct lk_store *s, const char *key,
                                              const struct lk_verify_request *req, int64_t now,
                                              enum lk_verdict want, const char *want_kid)
{
	struct lk_err err = { { 0 } };
	struct lk_verify_result res;
	struct lk_key_info before_info, after_info;
	struct tk_snapshot before;
	struct row_copy row;
	unsigned char head[LK_CHAIN_LEN];
	int64_t head_seq;
	bool known = false;
	int r;

	if (want_kid != NULL)
		known = lk_key_get(s, want_kid, &before_info, &err) == LK_OK;

	tk_snapshot(s, &before);
	memset(&res, 0xa5, sizeof(res));
	r = lk_key_check(s, key, strlen(key), req, now, &res, &err);
	ck_assert_msg(r == LK_OK, "line %d: check failed: %s", line, err.msg);
	ck_assert_msg(res.verdict == want, "line %d: check says %s, want %s", line,
	              lk_verdict_str(res.verdict), lk_verdict_str(want));
	tk_assert_unchanged(s, &before);

	memset(&res, 0xa5, sizeof(res));
	r = lk_key_verify(s, key, strlen(key), req, TK_ACTOR, now, &res, &err);
	ck_assert_msg(r == LK_OK, "line %d: verify failed: %s", line, err.msg);
	ck_assert_msg(res.verdict == want, "line %d: verify says %s, want %s", line,
	              lk_verdict_str(res.verdict), lk_verdict_str(want));
	if (want_kid == NULL)
		ck_assert_msg(res.kid[0] == '\0', "line %d: kid '%s' for a malformed key", line,
		              res.kid);
	else
		ck_assert_msg(strcmp(res.kid, want_kid) == 0, "line %d: kid '%s', want '%s'", line,
		              res.kid, want_kid);

	/* Exactly one row, and it is the new head. */
	ck_assert_int_eq(lk_store_count(s, "audit"), before.audit + 1);
	ck_assert_int_eq(lk_store_count(s, "api_key"), before.keys);
	ck_assert(lk_audit_head(s, &head_seq, head, &err) == LK_OK);
	ck_assert_int_eq(head_seq, before.head_seq + 1);
	ck_assert_msg(res.audit_seq == head_seq, "line %d: audit_seq %lld, head %lld", line,
	              (long long)res.audit_seq, (long long)head_seq);
	last_row(s, &row);
	ck_assert_int_eq(row.seq, head_seq);
	ck_assert_int_eq(row.ts, now);
	ck_assert_int_eq(row.actor_uid, TK_ACTOR);
	ck_assert_str_eq(row.action, "key.verify");
	ck_assert_msg(strcmp(row.reason, lk_verdict_str(want)) == 0,
	              "line %d: audit reason '%s', want '%s'", line, row.reason,
	              lk_verdict_str(want));
	if (want_kid == NULL) {
		ck_assert_msg(!row.has_kid, "line %d: malformed key audited with kid '%s'", line,
		              row.kid);
		ck_assert(!row.has_subject);
	} else {
		ck_assert_msg(row.has_kid && strcmp(row.kid, want_kid) == 0,
		              "line %d: audit kid '%s'", line, row.kid);
	}

	if (known) {
		get_key(s, want_kid, &after_info);
		ck_assert_str_eq(after_info.status, before_info.status);
		ck_assert_int_eq(after_info.expires, before_info.expires);
		ck_assert_msg(after_info.last_used ==
		                  (want == LK_VERDICT_OK ? now : before_info.last_used),
		              "line %d: last_used %lld", line, (long long)after_info.last_used);
		ck_assert_str_eq(row.subject_ref, before_info.owner_ref);
		ck_assert_str_eq(res.owner_ref, before_info.owner_ref);
	}
	return res;
}

static const struct lk_verify_request no_req = { 0 };

/* ---- verdicts --------------------------------------------------------- */

START_TEST(test_verdict_ok)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_verify_result res;

	issue(&(struct issue_args){ .owner = "alice" }, key, &info);
	ck_assert_int_eq(info.last_used, 0);
	ck_assert_msg(strncmp(key, "lk_test_", 8) == 0 && strncmp(key + 8, info.kid, 12) == 0,
	              "key layout: %.20s", key);

	res = EXPECT_VERDICT(
	    e.store, key,
	    (&(struct lk_verify_request){ .env = "test", .scopes = scope_a, .n_scopes = 1 }),
	    TK_NOW + HOUR, LK_VERDICT_OK, info.kid);
	ck_assert(!res.in_grace);
	ck_assert_str_eq(res.owner_ref, info.owner_ref);
	/* No env, no scopes: nothing further to enforce. */
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 2 * HOUR, LK_VERDICT_OK, info.kid);
}
END_TEST

START_TEST(test_verdict_malformed_garbage)
{
	char key[LK_KEY_MAX_LEN + 1], buf[2 * LK_KEY_MAX_LEN];
	struct lk_key_info info;
	const char *garbage[] = {
		"",
		"hello",
		"lk_test_",
		"lk_test_AAAAAAAAAAAA_",
		"Bearer xyz",
		"lk_test_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};

	issue(&(struct issue_args){ 0 }, key, &info);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		EXPECT_VERDICT(e.store, garbage[i], &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);

	/* A real key with bits missing or added around it. */
	snprintf(buf, sizeof(buf), "%.*s", (int)strlen(key) - 1, key);
	EXPECT_VERDICT(e.store, buf, &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);
	snprintf(buf, sizeof(buf), "%sA", key);
	EXPECT_VERDICT(e.store, buf, &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);
	snprintf(buf, sizeof(buf), " %s", key);
	EXPECT_VERDICT(e.store, buf, &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);
	snprintf(buf, sizeof(buf), "LK%s", key + 2);
	EXPECT_VERDICT(e.store, buf, &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);
	/* The real key still works: garbage did not lock it. */
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_OK, info.kid);
}
END_TEST

START_TEST(test_verdict_malformed_crc)
{
	char key[LK_KEY_MAX_LEN + 1], bad[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	size_t secret_at = strlen("lk_test_") + LK_KID_LEN + 1;
	/* Positions in the kid, the secret and the CRC itself. */
	size_t positions[] = { 8,
		               8 + LK_KID_LEN - 1,
		               secret_at,
		               secret_at + 20,
		               secret_at + LK_SECRET_LEN - 1,
		               secret_at + LK_SECRET_LEN + 2 };

	issue(&(struct issue_args){ 0 }, key, &info);
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		memcpy(bad, key, sizeof(key));
		bad[positions[i]] = bad[positions[i]] == 'x' ? 'y' : 'x';
		EXPECT_VERDICT(e.store, bad, &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);
	}
}
END_TEST

START_TEST(test_verdict_unknown)
{
	struct lk_apikey k;
	char key[LK_KEY_MAX_LEN + 1], real[LK_KEY_MAX_LEN + 1];
	struct lk_verify_result res;

	issue(&(struct issue_args){ 0 }, real, NULL);
	ck_assert_int_eq(lk_apikey_generate("test", &k), LK_OK);
	ck_assert_int_eq(lk_apikey_format(&k, key, sizeof(key)), LK_OK);
	res = EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_UNKNOWN, k.kid);
	ck_assert_str_eq(res.owner_ref, "");
	lk_apikey_wipe(&k);
}
END_TEST

START_TEST(test_verdict_bad_secret)
{
	struct lk_apikey k;
	char key[LK_KEY_MAX_LEN + 1], forged[LK_KEY_MAX_LEN + 1], other[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_err err = { { 0 } };

	issue(&(struct issue_args){ 0 }, key, &info);

	/* Same kid, fresh secret, valid CRC. */
	memset(&k, 0, sizeof(k));
	snprintf(k.env, sizeof(k.env), "test");
	memcpy(k.kid, info.kid, sizeof(k.kid));
	lk_base62_random(k.secret, LK_SECRET_LEN);
	ck_assert_int_eq(lk_apikey_format(&k, forged, sizeof(forged)), LK_OK);
	ck_assert_int_eq(lk_apikey_parse(forged, strlen(forged), &k), LK_PARSE_OK);
	EXPECT_VERDICT(e.store, forged, &no_req, TK_NOW, LK_VERDICT_BAD_SECRET, info.kid);

	/* The right secret presented under another env is not the key either:
	 * the hash covers the env printed in the key. */
	secret_of(key, k.secret);
	snprintf(k.env, sizeof(k.env), "prod");
	ck_assert_int_eq(lk_apikey_format(&k, other, sizeof(other)), LK_OK);
	EXPECT_VERDICT(e.store, other, &no_req, TK_NOW, LK_VERDICT_BAD_SECRET, info.kid);

	/* Without the secret nothing about the key's state leaks: a revoked or
	 * expired key still answers bad-secret. */
	ck_assert_msg(lk_key_revoke(e.store, info.kid, "test", TK_ACTOR, TK_NOW, &err) == LK_OK,
	              "%s", err.msg);
	EXPECT_VERDICT(e.store, forged, &no_req, TK_NOW, LK_VERDICT_BAD_SECRET, info.kid);
	EXPECT_VERDICT(e.store, forged, &no_req, TK_NOW + 365 * DAY, LK_VERDICT_BAD_SECRET,
	               info.kid);
	EXPECT_VERDICT(e.store, forged, (&(struct lk_verify_request){ .env = "prod" }), TK_NOW,
	               LK_VERDICT_BAD_SECRET, info.kid);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_REVOKED, info.kid);
	lk_apikey_wipe(&k);
}
END_TEST

START_TEST(test_verdict_revoked)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_err err = { { 0 } };

	issue(&(struct issue_args){ 0 }, key, &info);
	ck_assert(lk_key_revoke(e.store, info.kid, "leaked", TK_ACTOR, TK_NOW, &err) == LK_OK);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_REVOKED, info.kid);
	/* Revoked wins over expired and over a wrong environment. */
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "prod" }),
	               TK_NOW + 60 * DAY, LK_VERDICT_REVOKED, info.kid);
}
END_TEST

START_TEST(test_verdict_suspended)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_err err = { { 0 } };

	issue(&(struct issue_args){ 0 }, key, &info);
	ck_assert(lk_key_suspend(e.store, info.kid, "investigating", TK_ACTOR, TK_NOW, &err) ==
	          LK_OK);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_SUSPENDED, info.kid);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "prod" }), TK_NOW,
	               LK_VERDICT_SUSPENDED, info.kid);
}
END_TEST

START_TEST(test_verdict_expired)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;

	issue(&(struct issue_args){ .lifetime = HOUR }, key, &info);
	ck_assert_int_eq(info.expires, TK_NOW + HOUR);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + HOUR - 1, LK_VERDICT_OK, info.kid);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + HOUR, LK_VERDICT_EXPIRED, info.kid);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 400 * DAY, LK_VERDICT_EXPIRED, info.kid);
	/* Expired is checked before the environment. */
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "prod" }), TK_NOW + HOUR,
	               LK_VERDICT_EXPIRED, info.kid);
}
END_TEST

START_TEST(test_verdict_wrong_environment)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;

	issue(&(struct issue_args){ .env = "stage" }, key, &info);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "prod" }), TK_NOW,
	               LK_VERDICT_WRONG_ENVIRONMENT, info.kid);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "stag" }), TK_NOW,
	               LK_VERDICT_WRONG_ENVIRONMENT, info.kid);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "stages" }), TK_NOW,
	               LK_VERDICT_WRONG_ENVIRONMENT, info.kid);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "stage" }), TK_NOW,
	               LK_VERDICT_OK, info.kid);
}
END_TEST

START_TEST(test_verdict_scope_missing)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, info2;
	const char *const ab[] = { "a", "b" }, *const ba[] = { "b", "a" },
	                  *const ac[] = { "a", "c" }, *const c[] = { "c" },
	                  *const billing[] = { "billing:read", "repo" },
	                  *const prefix[] = { "billing" }, *const partial[] = { "billing:rea" },
	                  *const suffix[] = { "read" }, *const exact[] = { "billing:read" };

	issue(&(struct issue_args){ .scopes = ab, .n_scopes = 2 }, key, &info);
	ck_assert_str_eq(info.scopes, "a b");
#define REQ(s) \
	(&(struct lk_verify_request){ .scopes = (s), .n_scopes = sizeof(s) / sizeof((s)[0]) })
	EXPECT_VERDICT(e.store, key, REQ(ab), TK_NOW, LK_VERDICT_OK, info.kid);
	EXPECT_VERDICT(e.store, key, REQ(ba), TK_NOW, LK_VERDICT_OK, info.kid);
	EXPECT_VERDICT(e.store, key, REQ(scope_a), TK_NOW, LK_VERDICT_OK, info.kid);
	EXPECT_VERDICT(e.store, key, REQ(ac), TK_NOW, LK_VERDICT_SCOPE_MISSING, info.kid);
	EXPECT_VERDICT(e.store, key, REQ(c), TK_NOW, LK_VERDICT_SCOPE_MISSING, info.kid);

	/* Scopes match exactly: no prefixes, no pieces of a scope. */
	issue(&(struct issue_args){ .scopes = billing, .n_scopes = 2 }, key2, &info2);
	EXPECT_VERDICT(e.store, key2, REQ(exact), TK_NOW, LK_VERDICT_OK, info2.kid);
	EXPECT_VERDICT(e.store, key2, REQ(prefix), TK_NOW, LK_VERDICT_SCOPE_MISSING, info2.kid);
	EXPECT_VERDICT(e.store, key2, REQ(partial), TK_NOW, LK_VERDICT_SCOPE_MISSING, info2.kid);
	EXPECT_VERDICT(e.store, key2, REQ(suffix), TK_NOW, LK_VERDICT_SCOPE_MISSING, info2.kid);
#undef REQ
}
END_TEST

START_TEST(test_verdict_source)
{
	char key4[LK_KEY_MAX_LEN + 1], key6[LK_KEY_MAX_LEN + 1], open[LK_KEY_MAX_LEN + 1];
	struct lk_key_info i4, i6, io;
	const char *const v4[] = { "10.0.0.0/8", "192.168.1.7" }, *const v6[] = { "2001:db8::/32" };

	issue(&(struct issue_args){ .cidrs = v4, .n_cidrs = 2 }, key4, &i4);
	ck_assert_str_eq(i4.cidrs, "10.0.0.0/8 192.168.1.7/32");
	issue(&(struct issue_args){ .cidrs = v6, .n_cidrs = 1 }, key6, &i6);
	issue(&(struct issue_args){ 0 }, open, &io);

#define SRC(s) (&(struct lk_verify_request){ .source = (s) })
	EXPECT_VERDICT(e.store, key4, SRC("10.1.2.3"), TK_NOW, LK_VERDICT_OK, i4.kid);
	EXPECT_VERDICT(e.store, key4, SRC("192.168.1.7"), TK_NOW, LK_VERDICT_OK, i4.kid);
	EXPECT_VERDICT(e.store, key4, SRC("::ffff:10.9.9.9"), TK_NOW, LK_VERDICT_OK, i4.kid);
	EXPECT_VERDICT(e.store, key4, SRC("11.0.0.1"), TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED,
	               i4.kid);
	EXPECT_VERDICT(e.store, key4, SRC("192.168.1.8"), TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED,
	               i4.kid);
	EXPECT_VERDICT(e.store, key4, SRC("2001:db8::1"), TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED,
	               i4.kid);
	/* A bound key needs a known source. */
	EXPECT_VERDICT(e.store, key4, &no_req, TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED, i4.kid);

	EXPECT_VERDICT(e.store, key6, SRC("2001:db8:ffff::42"), TK_NOW, LK_VERDICT_OK, i6.kid);
	EXPECT_VERDICT(e.store, key6, SRC("2001:db9::1"), TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED,
	               i6.kid);
	EXPECT_VERDICT(e.store, key6, SRC("10.0.0.1"), TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED,
	               i6.kid);
	EXPECT_VERDICT(e.store, key6, &no_req, TK_NOW, LK_VERDICT_SOURCE_NOT_ALLOWED, i6.kid);

	/* No allow list: any source, or none. */
	EXPECT_VERDICT(e.store, open, SRC("203.0.113.9"), TK_NOW, LK_VERDICT_OK, io.kid);
	EXPECT_VERDICT(e.store, open, &no_req, TK_NOW, LK_VERDICT_OK, io.kid);
#undef SRC
}
END_TEST

/* ---- what verification records --------------------------------------- */

static bool contains(const void *hay, size_t haylen, const void *needle, size_t len)
{
	const unsigned char *h = hay;

	if (len == 0 || haylen < len)
		return false;
	for (size_t i = 0; i + len <= haylen; i++)
		if (memcmp(h + i, needle, len) == 0)
			return true;
	return false;
}

/* Scans every text and blob value of every table for needle. */
static void assert_db_lacks(struct lk_store *s, const char *needle, const char *what)
{
	sqlite3_stmt *tables, *rows;
	int ntables = 0, nvalues = 0;

	ck_assert_int_eq(sqlite3_prepare_v2(s->db,
	                                    "SELECT name FROM sqlite_master WHERE type = 'table'",
	                                    -1, &tables, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(tables, 0);
		char *sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);

		ck_assert_ptr_nonnull(sql);
		ck_assert_int_eq(sqlite3_prepare_v2(s->db, sql, -1, &rows, NULL), SQLITE_OK);
		sqlite3_free(sql);
		ntables++;
		while (sqlite3_step(rows) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(rows); c++) {
				int type = sqlite3_column_type(rows, c);
				const void *v;
				if (type != SQLITE_TEXT && type != SQLITE_BLOB)
					continue;
				v = sqlite3_column_blob(rows, c);
				nvalues++;
				ck_assert_msg(!contains(v, (size_t)sqlite3_column_bytes(rows, c),
				                        needle, strlen(needle)),
				              "%s found in %s.%s", what, table,
				              sqlite3_column_name(rows, c));
			}
		}
		sqlite3_finalize(rows);
	}
	sqlite3_finalize(tables);
	ck_assert_int_ge(ntables, 3);
	ck_assert_int_gt(nvalues, 0);
}

START_TEST(test_verify_records_one_row_each)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	int64_t prev = 0;

	issue(&(struct issue_args){ 0 }, key, &info);
	for (int i = 0; i < 5; i++) {
		ck_assert(lk_key_verify(e.store, key, strlen(key), &no_req, TK_ACTOR, TK_NOW + i,
		                        &res, &err) == LK_OK);
		if (prev != 0)
			ck_assert_int_eq(res.audit_seq, prev + 1);
		prev = res.audit_seq;
	}
	/* One issue row plus five verifications. */
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 6);
	get_key(e.store, info.kid, &info);
	ck_assert_int_eq(info.last_used, TK_NOW + 4);
}
END_TEST

START_TEST(test_verify_audit_is_pseudonymous)
{
	char key[LK_KEY_MAX_LEN + 1], ref[LK_SUBJECT_REF_LEN + 1], name[64];
	struct lk_key_info info;
	struct row_copy row;
	struct lk_err err = { { 0 } };
	const char *p;
	sqlite3_stmt *st;

	issue(&(struct issue_args){ .owner = "carol.smith@example.com" }, key, &info);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .source = "198.51.100.23" }),
	               TK_NOW, LK_VERDICT_OK, info.kid);
	last_row(e.store, &row);
	ck_assert_str_eq(row.subject_ref, info.owner_ref);

	/* The source appears as a pseudonym that resolves to the address. */
	p = strstr(row.detail, "source=sub_");
	ck_assert_msg(p != NULL, "detail: %s", row.detail);
	snprintf(ref, sizeof(ref), "%s", p + strlen("source="));
	ck_assert_msg(lk_subject_name(e.store, ref, name, sizeof(name), &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_str_eq(name, "198.51.100.23");

	/* Neither the owner's name nor the address is in any audit row. */
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT count(*) FROM audit WHERE"
	                                    " instr(detail, '198.51.100.23') OR"
	                                    " instr(reason, '198.51.100.23') OR"
	                                    " instr(detail, 'carol') OR instr(reason, 'carol')"
	                                    " OR instr(subject_ref, 'carol')",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
}
END_TEST

/* Every spelling of one address is one source pseudonym: per-source
 * queries (and, later, rate limits) see one client, not four. */
START_TEST(test_source_canonical)
{
	static const char *const spellings[] = { "10.0.0.1", "::ffff:10.0.0.1", "::FFFF:10.0.0.1",
		                                 "0:0:0:0:0:ffff:a00:1" };
	char key[LK_KEY_MAX_LEN + 1], first[64] = "";
	struct lk_key_info info;
	struct row_copy row;

	issue(&(struct issue_args){ .owner = "dave" }, key, &info);
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		EXPECT_VERDICT(e.store, key,
		               (&(struct lk_verify_request){ .source = spellings[i] }), TK_NOW,
		               LK_VERDICT_OK, info.kid);
		last_row(e.store, &row);
		if (i == 0)
			snprintf(first, sizeof(first), "%s", row.detail);
		ck_assert_str_eq(row.detail, first);
	}
	/* One owner and one source subject. */
	ck_assert_int_eq(lk_store_count(e.store, "subject"), 2);
}
END_TEST

START_TEST(test_no_secret_anywhere)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1], secret[LK_SECRET_LEN + 1],
	    secret2[LK_SECRET_LEN + 1], bad[LK_KEY_MAX_LEN + 1], probe[LK_SECRET_LEN];
	struct lk_key_info info, info2;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	const char *const cidrs[] = { "10.0.0.0/8" };
	const char *const ab[] = { "a", "b" };

	issue(&(struct issue_args){ .cidrs = cidrs, .n_cidrs = 1, .description = "ci runner" }, key,
	      &info);
	secret_of(key, secret);

	/* Every kind of verdict, with the key in hand. */
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .source = "10.0.0.1" }), TK_NOW,
	               LK_VERDICT_OK, info.kid);
	EXPECT_VERDICT(e.store, key,
	               (&(struct lk_verify_request){ .env = "prod", .source = "10.0.0.1" }), TK_NOW,
	               LK_VERDICT_WRONG_ENVIRONMENT, info.kid);
	EXPECT_VERDICT(
	    e.store, key,
	    (&(struct lk_verify_request){ .scopes = ab, .n_scopes = 2, .source = "10.0.0.1" }),
	    TK_NOW, LK_VERDICT_SCOPE_MISSING, info.kid);
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .source = "11.0.0.1" }), TK_NOW,
	               LK_VERDICT_SOURCE_NOT_ALLOWED, info.kid);
	memcpy(bad, key, sizeof(key));
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'x' ? 'y' : 'x';
	EXPECT_VERDICT(e.store, bad, &no_req, TK_NOW, LK_VERDICT_MALFORMED, NULL);

	/* Then the lifecycle: rotate (a second plaintext), suspend, revoke. */
	ck_assert_msg(lk_key_rotate(e.store, &e.rules, info.kid, false, TK_ACTOR, TK_NOW + DAY,
	                            key2, &info2, &err) == LK_OK,
	              "%s", err.msg);
	secret_of(key2, secret2);
	ck_assert_int_eq(lk_key_verify(e.store, key2, strlen(key2),
	                               &(struct lk_verify_request){ .source = "10.0.0.1" },
	                               TK_ACTOR, TK_NOW + DAY, &res, &err),
	                 LK_OK);
	ck_assert_int_eq(lk_key_suspend(e.store, info2.kid, "check", TK_ACTOR, TK_NOW + DAY, &err),
	                 LK_OK);
	ck_assert_int_eq(lk_key_revoke(e.store, info.kid, "done", TK_ACTOR, TK_NOW + DAY, &err),
	                 LK_OK);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + DAY, LK_VERDICT_REVOKED, info.kid);
	ck_assert(strstr(err.msg, secret) == NULL);

	assert_db_lacks(e.store, key, "the first key");
	assert_db_lacks(e.store, secret, "the first secret");
	assert_db_lacks(e.store, key2, "the rotated key");
	assert_db_lacks(e.store, secret2, "the rotated secret");
	/* Not even a large piece of a secret. */
	memcpy(probe, secret + 4, sizeof(probe) - 8);
	probe[sizeof(probe) - 8] = '\0';
	assert_db_lacks(e.store, probe, "a piece of the first secret");
}
END_TEST

START_TEST(test_bad_request_changes_nothing)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, after;
	struct lk_verify_result res;
	struct lk_err err;
	struct tk_snapshot snap;
	const char *const spaced[] = { "a b" }, *const empty[] = { "" }, *const star[] = { "*" };
	struct {
		struct lk_verify_request req;
		const char *named;
	} cases[] = {
		{ { .env = "PROD" }, "PROD" },
		{ { .env = "p" }, "'p'" },
		{ { .env = "prod_" }, "prod_" },
		{ { .scopes = spaced, .n_scopes = 1 }, "a b" },
		{ { .scopes = empty, .n_scopes = 1 }, "scope" },
		{ { .scopes = star, .n_scopes = 1 }, "*" },
		{ { .source = "10.0.0.300" }, "10.0.0.300" },
		{ { .source = "" }, "source" },
		{ { .source = "10.0.0.0/8" }, "10.0.0.0/8" },
	};

	issue(&(struct issue_args){ 0 }, key, &info);
	tk_snapshot(e.store, &snap);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		memset(&res, 0, sizeof(res));
		ck_assert_int_eq(lk_key_verify(e.store, key, strlen(key), &cases[i].req, TK_ACTOR,
		                               TK_NOW, &res, &err),
		                 LK_EINVAL);
		ck_assert_msg(strstr(err.msg, cases[i].named) != NULL, "case %zu: '%s' lacks '%s'",
		              i, err.msg, cases[i].named);
		ck_assert(strstr(err.msg, key) == NULL);
		ck_assert_int_eq(
		    lk_key_check(e.store, key, strlen(key), &cases[i].req, TK_NOW, &res, &err),
		    LK_EINVAL);
		/* A bad request with garbage for a key is still a bad request. */
		ck_assert_int_eq(
		    lk_key_verify(e.store, "junk", 4, &cases[i].req, TK_ACTOR, TK_NOW, &res, &err),
		    LK_EINVAL);
		tk_assert_unchanged(e.store, &snap);
	}
	get_key(e.store, info.kid, &after);
	ck_assert_int_eq(after.last_used, 0);
}
END_TEST

START_TEST(test_no_master_key)
{
	char key[LK_KEY_MAX_LEN + 1], out[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_store *ro = NULL;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;

	issue(&(struct issue_args){ 0 }, key, &info);
	ck_assert_msg(lk_store_open(e.db, 0, NULL, &ro, &err) == LK_OK, "%s", err.msg);
	tk_snapshot(e.store, &snap);

	ck_assert_int_eq(lk_key_check(ro, key, strlen(key), &no_req, TK_NOW, &res, &err),
	                 LK_ECRYPTO);
	ck_assert_int_eq(lk_key_verify(ro, key, strlen(key), &no_req, TK_ACTOR, TK_NOW, &res, &err),
	                 LK_ECRYPTO);
	/* Issuing and rotating need the pepper too; the owner's subject row
	 * must roll back with the failed insert. */
	ck_assert_int_eq(lk_key_issue(ro, &e.rules,
	                              &(struct lk_issue_request){ .owner = "newcomer",
	                                                          .env = "test",
	                                                          .scopes = scope_a,
	                                                          .n_scopes = 1,
	                                                          .lifetime = DAY },
	                              TK_ACTOR, TK_NOW, out, NULL, &err),
	                 LK_ECRYPTO);
	ck_assert_int_eq(
	    lk_key_rotate(ro, &e.rules, info.kid, false, TK_ACTOR, TK_NOW, out, NULL, &err),
	    LK_ECRYPTO);
	tk_assert_unchanged(e.store, &snap);
	/* Reading needs no master key. */
	get_key(ro, info.kid, &info);
	lk_store_close(ro);
}
END_TEST

/* ---- issue ------------------------------------------------------------ */

START_TEST(test_issue_records)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1], key3[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, info2, info3, got;
	struct tk_snapshot s0, s1, s2;
	struct row_copy row;
	const char *const scopes[] = { "repo", "billing:read", "repo" };
	const char *const cidrs[] = { "10.1.2.3/8", "2001:db8::1/32" };

	tk_snapshot(e.store, &s0);
	issue(&(struct issue_args){ .owner = "alice",
	                            .env = "prod",
	                            .scopes = scopes,
	                            .n_scopes = 3,
	                            .cidrs = cidrs,
	                            .n_cidrs = 2,
	                            .description = "deploy bot",
	                            .lifetime = 7 * DAY },
	      key, &info);
	tk_snapshot(e.store, &s1);
	ck_assert_int_eq(s1.keys, s0.keys + 1);
	ck_assert_int_eq(s1.subjects, s0.subjects + 1);
	ck_assert_int_eq(s1.audit, s0.audit + 1);

	get_key(e.store, info.kid, &got);
	ck_assert_mem_eq(&got, &info, sizeof(got));
	ck_assert_str_eq(info.owner, "alice");
	ck_assert_str_eq(info.env, "prod");
	ck_assert_str_eq(info.scopes, "billing:read repo");
	ck_assert_str_eq(info.cidrs, "10.0.0.0/8 2001:db8::/32");
	ck_assert_str_eq(info.description, "deploy bot");
	ck_assert_str_eq(info.status, "active");
	ck_assert_str_eq(info.rotated_from, "");
	ck_assert_str_eq(info.rotated_to, "");
	ck_assert_int_eq(info.created, TK_NOW);
	ck_assert_int_eq(info.expires, TK_NOW + 7 * DAY);
	ck_assert_int_eq(info.last_used, 0);
	ck_assert_int_eq(strncmp(info.owner_ref, "sub_", 4), 0);
	ck_assert_int_eq(strlen(info.owner_ref), LK_SUBJECT_REF_LEN);
	ck_assert_int_eq(strlen(key), strlen("lk_prod_") + LK_KID_LEN + 1 + LK_SECRET_LEN + 6);
	ck_assert_str_eq(lk_key_effective_status(&info, TK_NOW), "active");

	last_row(e.store, &row);
	ck_assert_str_eq(row.action, "key.issue");
	ck_assert_str_eq(row.kid, info.kid);
	ck_assert_str_eq(row.subject_ref, info.owner_ref);
	ck_assert_int_eq(row.ts, TK_NOW);
	ck_assert_int_eq(row.actor_uid, TK_ACTOR);
	ck_assert_msg(strstr(row.detail, "env=prod") != NULL, "detail: %s", row.detail);
	ck_assert_msg(strstr(row.detail, "billing:read,repo") != NULL, "detail: %s", row.detail);

	/* Same owner: the subject is reused. */
	issue(&(struct issue_args){ .owner = "alice" }, key2, &info2);
	tk_snapshot(e.store, &s2);
	ck_assert_int_eq(s2.keys, s1.keys + 1);
	ck_assert_int_eq(s2.subjects, s1.subjects);
	ck_assert_int_eq(s2.audit, s1.audit + 1);
	ck_assert_str_eq(info2.owner_ref, info.owner_ref);
	ck_assert_str_ne(info2.kid, info.kid);
	ck_assert_str_ne(key2, key);

	/* Another owner gets another pseudonym. */
	issue(&(struct issue_args){ .owner = "bob" }, key3, &info3);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), s2.subjects + 1);
	ck_assert_str_ne(info3.owner_ref, info.owner_ref);
}
END_TEST

static int try_issue(const struct lk_issue_request *req, struct lk_err *err)
{
	char key[LK_KEY_MAX_LEN + 1] = "";
	struct lk_key_info info;

	memset(err, 0, sizeof(*err));
	return lk_key_issue(e.store, &e.rules, req, TK_ACTOR, TK_NOW, key, &info, err);
}

START_TEST(test_issue_scopes_required)
{
	struct lk_err err;
	struct tk_snapshot snap;

	tk_snapshot(e.store, &snap);
	ck_assert_int_eq(try_issue(&(struct lk_issue_request){ .owner = "alice",
	                                                       .env = "test",
	                                                       .scopes = scope_a,
	                                                       .n_scopes = 0,
	                                                       .lifetime = DAY },
	                           &err),
	                 LK_EINVAL);
	ck_assert_int_eq(try_issue(&(struct lk_issue_request){ .owner = "alice",
	                                                       .env = "test",
	                                                       .scopes = NULL,
	                                                       .n_scopes = 0,
	                                                       .lifetime = DAY },
	                           &err),
	                 LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "scope") != NULL, "%s", err.msg);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

START_TEST(test_issue_lifetime)
{
	struct lk_err err;
	struct tk_snapshot snap;
	struct lk_issue_request req = {
		.owner = "alice", .env = "test", .scopes = scope_a, .n_scopes = 1
	};
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	const int64_t refused[] = { e.rules.max_lifetime + 1, 0, -2, INT64_MIN, LK_LIFETIME_NEVER };

	e.rules.allow_never_expiring = false;
	tk_snapshot(e.store, &snap);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		req.lifetime = refused[i];
		ck_assert_msg(try_issue(&req, &err) == LK_EINVAL, "lifetime %lld accepted",
		              (long long)refused[i]);
		ck_assert(err.msg[0] != '\0');
	}
	tk_assert_unchanged(e.store, &snap);

	/* Exactly the maximum is fine. */
	req.lifetime = e.rules.max_lifetime;
	ck_assert_msg(lk_key_issue(e.store, &e.rules, &req, TK_ACTOR, TK_NOW, key, &info, &err) ==
	                  LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(info.expires, TK_NOW + e.rules.max_lifetime);

	/* A stricter rule set refuses what the default allowed. */
	e.rules.max_lifetime = 7 * DAY;
	req.lifetime = 7 * DAY + 1;
	ck_assert_int_eq(try_issue(&req, &err), LK_EINVAL);
	req.lifetime = 7 * DAY;
	ck_assert_int_eq(try_issue(&req, &err), LK_OK);

	/* Never-expiring only when the rules allow it. */
	e.rules.allow_never_expiring = true;
	req.lifetime = LK_LIFETIME_NEVER;
	ck_assert_msg(lk_key_issue(e.store, &e.rules, &req, TK_ACTOR, TK_NOW, key, &info, &err) ==
	                  LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(info.expires, 0);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 50 * 365 * DAY, LK_VERDICT_OK, info.kid);
}
END_TEST

enum bad_field { F_OWNER, F_ENV, F_SCOPE, F_CIDR, F_DESCRIPTION };

static const struct {
	enum bad_field field;
	const char *value;
	bool named; /* the message quotes the value back */
} bad_issue[] = {
	{ F_OWNER, "", false },
	{ F_OWNER, NULL, false },
	{ F_OWNER, "bad owner", true },
	{ F_OWNER, "alice;drop", true },
	{ F_OWNER,
	  "ali\x01"
	  "ce",
	  false },
	{ F_OWNER, "alice\n", false },
	{ F_OWNER, "alice/bob", true },
	{ F_OWNER, "sub_AAAAAAAAAAAAAAAA", true },
	{ F_DESCRIPTION, "rlo \xe2\x80\xae evil", false },
	{ F_ENV, "PROD", true },
	{ F_ENV, "p", true },
	{ F_ENV, "toolongenv", true },
	{ F_ENV, "te5t", true },
	{ F_ENV, "", false },
	{ F_ENV, NULL, false },
	{ F_SCOPE, "a b", true },
	{ F_SCOPE, "*", true },
	{ F_SCOPE, "-leading", true },
	{ F_SCOPE, "", false },
	{ F_SCOPE, "tab\there", false },
	{ F_CIDR, "10.0.0.0/33", true },
	{ F_CIDR, "10.0.0.300", true },
	{ F_CIDR, "garbage", true },
	{ F_CIDR, "2001:db8::/129", true },
	{ F_CIDR, "", false },
	{ F_DESCRIPTION, "line\nbreak", false },
	{ F_DESCRIPTION, "bell\a", false },
	{ F_DESCRIPTION, "del\x7f", false },
};

START_TEST(test_issue_bad_value)
{
	struct lk_err err;
	struct tk_snapshot snap;
	const char *v = bad_issue[_i].value;
	const char *scopes[] = { "a" }, *cidrs[] = { "10.0.0.0/8" };
	struct lk_issue_request req = { .owner = "alice",
		                        .env = "test",
		                        .scopes = scopes,
		                        .n_scopes = 1,
		                        .cidrs = cidrs,
		                        .n_cidrs = 1,
		                        .description = "ok",
		                        .lifetime = DAY };

	switch (bad_issue[_i].field) {
	case F_OWNER:
		req.owner = v;
		break;
	case F_ENV:
		req.env = v;
		break;
	case F_SCOPE:
		scopes[0] = v;
		break;
	case F_CIDR:
		cidrs[0] = v;
		break;
	case F_DESCRIPTION:
		req.description = v;
		break;
	}
	tk_snapshot(e.store, &snap);
	ck_assert_msg(try_issue(&req, &err) == LK_EINVAL, "case %d accepted", _i);
	ck_assert_msg(err.msg[0] != '\0', "case %d: no message", _i);
	if (bad_issue[_i].named)
		ck_assert_msg(strstr(err.msg, v) != NULL, "case %d: '%s' does not name '%s'", _i,
		              err.msg, v);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

START_TEST(test_issue_long_values)
{
	struct lk_err err;
	struct tk_snapshot snap;
	char longtext[LK_DESCRIPTION_MAX + 2], longname[LK_NAME_MAX + 2],
	    longscope[LK_SCOPE_LEN_MAX + 2], key[LK_KEY_MAX_LEN + 1];
	const char *scopes[1];
	struct lk_key_info info;
	struct lk_issue_request req = {
		.owner = "alice", .env = "test", .scopes = scope_a, .n_scopes = 1, .lifetime = DAY
	};

	memset(longtext, 'd', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longscope, 's', sizeof(longscope) - 1);
	longscope[sizeof(longscope) - 1] = '\0';

	tk_snapshot(e.store, &snap);
	req.description = longtext; /* 257 bytes */
	ck_assert_int_eq(try_issue(&req, &err), LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "description") != NULL, "%s", err.msg);
	req.description = NULL;
	req.owner = longname; /* 129 bytes */
	ck_assert_int_eq(try_issue(&req, &err), LK_EINVAL);
	req.owner = "alice";
	scopes[0] = longscope; /* 65 bytes */
	req.scopes = scopes;
	ck_assert_int_eq(try_issue(&req, &err), LK_EINVAL);
	tk_assert_unchanged(e.store, &snap);

	/* One byte less each is the limit, and fits. */
	longtext[LK_DESCRIPTION_MAX] = '\0';
	longname[LK_NAME_MAX] = '\0';
	longscope[LK_SCOPE_LEN_MAX] = '\0';
	req.description = longtext;
	req.owner = longname;
	ck_assert_msg(lk_key_issue(e.store, &e.rules, &req, TK_ACTOR, TK_NOW, key, &info, &err) ==
	                  LK_OK,
	              "%s", err.msg);
	ck_assert_str_eq(info.description, longtext);
	ck_assert_str_eq(info.owner, longname);
	ck_assert_str_eq(info.scopes, longscope);
}
END_TEST

/* True if msg holds any 12-character piece of secret: a truncated echo of a
 * pasted key leaks as surely as a whole one. */
static bool leaks_secret(const char *msg, const char *secret)
{
	for (size_t i = 0; i + 12 <= LK_SECRET_LEN; i++)
		if (contains(msg, strlen(msg), secret + i, 12))
			return true;
	return false;
}

enum paste_field { P_OWNER, P_ENV, P_SCOPE, P_CIDR, P_DESCRIPTION, P_FIELDS };
static const char *const paste_field_names[] = { "owner", "env", "scope", "cidr", "description" };
/* The key alone, and the key inside other text. */
static const char *const paste_forms[][2] = { { "", "" }, { "old key was ", " , replace" } };
#define N_PASTE_FORMS (int)(sizeof(paste_forms) / sizeof(paste_forms[0]))

START_TEST(test_issue_refuses_pasted_key)
{
	enum paste_field field = (enum paste_field)(_i / N_PASTE_FORMS);
	int form = _i % N_PASTE_FORMS;
	char key[LK_KEY_MAX_LEN + 1], text[LK_DESCRIPTION_MAX + 1], secret[LK_SECRET_LEN + 1];
	const char *scopes[] = { "a" }, *cidrs[] = { "10.0.0.0/8" };
	struct lk_err err;
	struct tk_snapshot snap;
	struct lk_issue_request req = { .owner = "alice",
		                        .env = "test",
		                        .scopes = scopes,
		                        .n_scopes = 1,
		                        .cidrs = cidrs,
		                        .n_cidrs = 1,
		                        .lifetime = DAY };

	issue(&(struct issue_args){ 0 }, key, NULL);
	secret_of(key, secret);
	snprintf(text, sizeof(text), "%s%s%s", paste_forms[form][0], key, paste_forms[form][1]);
	switch (field) {
	case P_OWNER:
		req.owner = text;
		break;
	case P_ENV:
		req.env = text;
		break;
	case P_SCOPE:
		scopes[0] = text;
		break;
	case P_CIDR:
		cidrs[0] = text;
		break;
	default:
		req.description = text;
		break;
	}
	tk_snapshot(e.store, &snap);
	ck_assert_msg(try_issue(&req, &err) == LK_EINVAL, "a key pasted as the %s was accepted",
	              paste_field_names[field]);
	/* The refusal must not echo what it refused, not even in part. */
	ck_assert_msg(!leaks_secret(err.msg, secret), "the %s error echoes the secret: %s",
	              paste_field_names[field], err.msg);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

/* A whole key pasted where a kid, owner or request value belongs (the
 * natural slip: "latchkey key revoke <the key>") is refused without being
 * echoed into the error message, which callers log. */
enum paste_call {
	C_GET,
	C_REVOKE,
	C_SUSPEND,
	C_ROTATE,
	C_REVOKE_ALL,
	C_VERIFY_SCOPE,
	C_VERIFY_ENV,
	C_VERIFY_SOURCE,
	C_CALLS
};
static const char *const paste_call_names[] = { "get",        "revoke",       "suspend",
	                                        "rotate",     "revoke-all",   "verify scope",
	                                        "verify env", "verify source" };

START_TEST(test_pasted_key_not_echoed)
{
	char key[LK_KEY_MAX_LEN + 1], secret[LK_SECRET_LEN + 1], out[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, got;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;
	size_t count = 0;
	const char *as_scope[1];
	int r = LK_OK;

	issue(&(struct issue_args){ 0 }, key, &info);
	secret_of(key, secret);
	as_scope[0] = key;
	tk_snapshot(e.store, &snap);
	switch ((enum paste_call)_i) {
	case C_GET:
		r = lk_key_get(e.store, key, &got, &err);
		break;
	case C_REVOKE:
		r = lk_key_revoke(e.store, key, "x", TK_ACTOR, TK_NOW, &err);
		break;
	case C_SUSPEND:
		r = lk_key_suspend(e.store, key, "x", TK_ACTOR, TK_NOW, &err);
		break;
	case C_ROTATE:
		r = lk_key_rotate(e.store, &e.rules, key, false, TK_ACTOR, TK_NOW, out, NULL, &err);
		break;
	case C_REVOKE_ALL:
		r = lk_key_revoke_all(e.store, key, "x", TK_ACTOR, TK_NOW, &count, &err);
		break;
	case C_VERIFY_SCOPE:
		r = lk_key_verify(e.store, key, strlen(key),
		                  &(struct lk_verify_request){ .scopes = as_scope, .n_scopes = 1 },
		                  TK_ACTOR, TK_NOW, &res, &err);
		break;
	case C_VERIFY_ENV:
		r = lk_key_verify(e.store, key, strlen(key),
		                  &(struct lk_verify_request){ .env = key }, TK_ACTOR, TK_NOW, &res,
		                  &err);
		break;
	default:
		r = lk_key_verify(e.store, key, strlen(key),
		                  &(struct lk_verify_request){ .source = key }, TK_ACTOR, TK_NOW,
		                  &res, &err);
		break;
	}
	ck_assert_msg(r < 0, "%s: a pasted key was accepted", paste_call_names[_i]);
	ck_assert_msg(!leaks_secret(err.msg, secret), "%s echoes the secret: %s",
	              paste_call_names[_i], err.msg);
	tk_assert_unchanged(e.store, &snap);
	get_key(e.store, info.kid, &got);
	ck_assert_str_eq(got.status, "active");
}
END_TEST

/* ---- rotation --------------------------------------------------------- */

static void rotate(const char *kid, bool immediate, int64_t now, char *key,
                   struct lk_key_info *info)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_rotate(e.store, &e.rules, kid, immediate, TK_ACTOR, now, key, info,
	                            &err) == LK_OK,
	              "rotate: %s", err.msg);
}

START_TEST(test_rotate_inherits)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info old, new, old_after;
	struct row_copy row;
	const char *const scopes[] = { "a", "b" };
	const char *const cidrs[] = { "10.0.0.0/8", "2001:db8::/32" };
	struct tk_snapshot before;

	issue(&(struct issue_args){ .owner = "dana",
	                            .env = "stage",
	                            .scopes = scopes,
	                            .n_scopes = 2,
	                            .cidrs = cidrs,
	                            .n_cidrs = 2,
	                            .description = "nightly export",
	                            .lifetime = 30 * DAY },
	      key, &old);
	tk_snapshot(e.store, &before);
	rotate(old.kid, false, TK_NOW + 5 * DAY, key2, &new);

	ck_assert_str_ne(new.kid, old.kid);
	ck_assert_str_ne(key2, key);
	ck_assert_str_eq(new.owner, old.owner);
	ck_assert_str_eq(new.owner_ref, old.owner_ref);
	ck_assert_str_eq(new.env, old.env);
	ck_assert_str_eq(new.scopes, old.scopes);
	ck_assert_str_eq(new.cidrs, old.cidrs);
	ck_assert_str_eq(new.description, old.description);
	ck_assert_str_eq(new.status, "active");
	ck_assert_str_eq(new.rotated_from, old.kid);
	ck_assert_str_eq(new.rotated_to, "");
	ck_assert_int_eq(new.created, TK_NOW + 5 * DAY);
	/* The successor keeps the original lifetime. */
	ck_assert_int_eq(new.expires, TK_NOW + 5 * DAY + 30 * DAY);

	get_key(e.store, old.kid, &old_after);
	ck_assert_str_eq(old_after.rotated_to, new.kid);
	ck_assert_str_eq(old_after.status, "active");
	ck_assert_str_eq(lk_key_effective_status(&old_after, TK_NOW + 5 * DAY), "rotated");

	/* One new key row, no new subject, a rotate row and a grace row. */
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), before.keys + 1);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), before.subjects);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), before.audit + 2);
	find_rows(e.store, "key.rotate", NULL, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.kid, new.kid);
	ck_assert_msg(strstr(row.detail, old.kid) != NULL, "detail: %s", row.detail);
	find_rows(e.store, "key.grace", NULL, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.kid, old.kid);
	ck_assert_msg(strstr(row.detail, new.kid) != NULL, "detail: %s", row.detail);

	/* The successor works under the same bindings. */
	EXPECT_VERDICT(e.store, key2,
	               (&(struct lk_verify_request){
	                   .env = "stage", .scopes = scopes, .n_scopes = 2, .source = "10.2.3.4" }),
	               TK_NOW + 5 * DAY, LK_VERDICT_OK, new.kid);
	EXPECT_VERDICT(e.store, key2, (&(struct lk_verify_request){ .source = "11.2.3.4" }),
	               TK_NOW + 5 * DAY, LK_VERDICT_SOURCE_NOT_ALLOWED, new.kid);
}
END_TEST

START_TEST(test_rotate_grace_edges)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info old, new, after;
	struct lk_verify_result res;
	struct row_copy row;

	e.rules.rotation_grace = 24 * HOUR;
	issue(&(struct issue_args){ .lifetime = 30 * DAY }, key, &old);
	rotate(old.kid, false, TK_NOW, key2, &new);
	get_key(e.store, old.kid, &after);
	ck_assert_int_eq(after.expires, TK_NOW + 24 * HOUR);

	res = EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_OK, old.kid);
	ck_assert(res.in_grace);
	res = EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 24 * HOUR - 1, LK_VERDICT_OK, old.kid);
	ck_assert(res.in_grace);
	last_row(e.store, &row);
	ck_assert_msg(strstr(row.detail, "grace=yes") != NULL, "detail: %s", row.detail);
	/* Only an accepted key is "in grace". */
	res = EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .env = "prod" }),
	                     TK_NOW + HOUR, LK_VERDICT_WRONG_ENVIRONMENT, old.kid);
	ck_assert(!res.in_grace);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 24 * HOUR, LK_VERDICT_EXPIRED, old.kid);
	res = EXPECT_VERDICT(e.store, key2, &no_req, TK_NOW + 24 * HOUR, LK_VERDICT_OK, new.kid);
	ck_assert(!res.in_grace);
	get_key(e.store, old.kid, &after);
	ck_assert_str_eq(lk_key_effective_status(&after, TK_NOW + 24 * HOUR - 1), "rotated");
	ck_assert_str_eq(lk_key_effective_status(&after, TK_NOW + 24 * HOUR), "expired");
}
END_TEST

START_TEST(test_rotate_grace_capped_by_expiry)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info old, new, after;

	e.rules.rotation_grace = 24 * HOUR;
	issue(&(struct issue_args){ .lifetime = 10 * HOUR }, key, &old);
	rotate(old.kid, false, TK_NOW, key2, &new);
	get_key(e.store, old.kid, &after);
	ck_assert_int_eq(after.expires, TK_NOW + 10 * HOUR);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 10 * HOUR - 1, LK_VERDICT_OK, old.kid);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 10 * HOUR, LK_VERDICT_EXPIRED, old.kid);
	/* The successor has its own full 10h. */
	ck_assert_int_eq(new.expires, TK_NOW + 10 * HOUR);
	rotate(new.kid, false, TK_NOW + 9 * HOUR, key, &old);
	ck_assert_int_eq(old.expires, TK_NOW + 19 * HOUR);
	get_key(e.store, new.kid, &after);
	ck_assert_int_eq(after.expires, TK_NOW + 10 * HOUR);
}
END_TEST

START_TEST(test_rotate_immediate)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info old, new, after;
	struct row_copy row;

	e.rules.rotation_grace = 24 * HOUR;
	issue(&(struct issue_args){ 0 }, key, &old);
	rotate(old.kid, true, TK_NOW + HOUR, key2, &new);
	get_key(e.store, old.kid, &after);
	ck_assert_str_eq(after.status, "revoked");
	ck_assert_str_eq(after.rotated_to, new.kid);
	ck_assert_int_eq(after.status_changed, TK_NOW + HOUR);
	ck_assert_str_eq(lk_key_effective_status(&after, TK_NOW + HOUR), "revoked");
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + HOUR, LK_VERDICT_REVOKED, old.kid);
	EXPECT_VERDICT(e.store, key2, &no_req, TK_NOW + HOUR, LK_VERDICT_OK, new.kid);
	find_rows(e.store, "key.revoke", old.kid, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_msg(strstr(row.detail, new.kid) != NULL, "detail: %s", row.detail);
	find_rows(e.store, "key.grace", NULL, &row);
	ck_assert_int_eq(row.n, 0);
}
END_TEST

enum { ST_ROTATED, ST_REVOKED, ST_SUSPENDED, ST_EXPIRED, ST_IMMEDIATE };

START_TEST(test_rotate_refused)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1], out[LK_KEY_MAX_LEN + 1];
	struct lk_key_info old, new, before, after;
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;
	int64_t now = TK_NOW + HOUR;
	static const char *const want[] = { "rotated", "revoked", "suspended", "expired",
		                            "revoked" };

	issue(&(struct issue_args){ .lifetime = 2 * DAY }, key, &old);
	switch (_i) {
	case ST_ROTATED:
		rotate(old.kid, false, TK_NOW, key2, &new);
		break;
	case ST_IMMEDIATE:
		rotate(old.kid, true, TK_NOW, key2, &new);
		break;
	case ST_REVOKED:
		ck_assert(lk_key_revoke(e.store, old.kid, "x", TK_ACTOR, TK_NOW, &err) == LK_OK);
		break;
	case ST_SUSPENDED:
		ck_assert(lk_key_suspend(e.store, old.kid, "x", TK_ACTOR, TK_NOW, &err) == LK_OK);
		break;
	case ST_EXPIRED:
		now = TK_NOW + 2 * DAY;
		break;
	}
	get_key(e.store, old.kid, &before);
	ck_assert_str_eq(lk_key_effective_status(&before, now), want[_i]);
	tk_snapshot(e.store, &snap);
	memset(out, 'Z', sizeof(out));
	ck_assert_int_eq(
	    lk_key_rotate(e.store, &e.rules, old.kid, false, TK_ACTOR, now, out, NULL, &err),
	    LK_ESTATE);
	ck_assert_msg(strstr(err.msg, want[_i]) != NULL, "%s", err.msg);
	ck_assert_int_eq(
	    lk_key_rotate(e.store, &e.rules, old.kid, true, TK_ACTOR, now, out, NULL, &err),
	    LK_ESTATE);
	tk_assert_unchanged(e.store, &snap);
	get_key(e.store, old.kid, &after);
	ck_assert_mem_eq(&after, &before, sizeof(after));
	/* No half-made key handed back. */
	ck_assert(strncmp(out, "lk_", 3) != 0);
}
END_TEST

START_TEST(test_rotate_bad_kid)
{
	char out[LK_KEY_MAX_LEN + 1];
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;

	tk_snapshot(e.store, &snap);
	ck_assert_int_eq(lk_key_rotate(e.store, &e.rules, "AAAAAAAAAAAA", false, TK_ACTOR, TK_NOW,
	                               out, NULL, &err),
	                 LK_ENOTFOUND);
	ck_assert_int_eq(
	    lk_key_rotate(e.store, &e.rules, "short", false, TK_ACTOR, TK_NOW, out, NULL, &err),
	    LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "short") != NULL, "%s", err.msg);
	ck_assert_int_eq(
	    lk_key_rotate(e.store, &e.rules, NULL, false, TK_ACTOR, TK_NOW, out, NULL, &err),
	    LK_EINVAL);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

START_TEST(test_rotate_lifetime)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info old, new;

	issue(&(struct issue_args){ .lifetime = 7 * DAY }, key, &old);
	rotate(old.kid, false, TK_NOW + 3 * DAY, key2, &new);
	ck_assert_int_eq(new.expires - new.created, 7 * DAY);
	ck_assert_int_eq(new.expires, TK_NOW + 10 * DAY);

	/* Rules tightened since: the successor is capped. */
	e.rules.max_lifetime = 2 * DAY;
	e.rules.rotation_grace = HOUR;
	rotate(new.kid, false, TK_NOW + 4 * DAY, key, &old);
	ck_assert_int_eq(old.expires, TK_NOW + 6 * DAY);

	/* A never-expiring key stays so only while the rules allow it. */
	e.rules.allow_never_expiring = true;
	issue(&(struct issue_args){ .lifetime = LK_LIFETIME_NEVER }, key, &old);
	rotate(old.kid, false, TK_NOW + DAY, key2, &new);
	ck_assert_int_eq(new.expires, 0);
	e.rules.allow_never_expiring = false;
	rotate(new.kid, false, TK_NOW + 2 * DAY, key, &old);
	ck_assert_int_eq(old.expires, TK_NOW + 2 * DAY + 2 * DAY);
}
END_TEST

/* ---- revoke, suspend, resume ------------------------------------------ */

START_TEST(test_revoke_next_verify)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, after;
	struct lk_err err = { { 0 } };
	struct row_copy row;

	issue(&(struct issue_args){ 0 }, key, &info);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_OK, info.kid);
	ck_assert_msg(
	    lk_key_revoke(e.store, info.kid, "leaked in CI log", TK_ACTOR, TK_NOW, &err) == LK_OK,
	    "%s", err.msg);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_REVOKED, info.kid);

	get_key(e.store, info.kid, &after);
	ck_assert_str_eq(after.status, "revoked");
	ck_assert_str_eq(after.status_reason, "leaked in CI log");
	ck_assert_int_eq(after.status_changed, TK_NOW);
	find_rows(e.store, "key.revoke", info.kid, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.reason, "leaked in CI log");
	ck_assert_str_eq(row.subject_ref, info.owner_ref);
}
END_TEST

START_TEST(test_revoke_seen_by_other_handle)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, info2;
	struct lk_store *other = NULL;
	struct lk_err err = { { 0 } };

	issue(&(struct issue_args){ 0 }, key, &info);
	issue(&(struct issue_args){ 0 }, key2, &info2);
	/* A second handle, as another daemon worker would hold, opened and used
	 * (statements cached, pages read) before the revoke. */
	ck_assert_msg(lk_store_open(e.db, 0, e.master, &other, &err) == LK_OK, "%s", err.msg);
	EXPECT_VERDICT(other, key, &no_req, TK_NOW, LK_VERDICT_OK, info.kid);
	EXPECT_VERDICT(other, key2, &no_req, TK_NOW, LK_VERDICT_OK, info2.kid);

	ck_assert(lk_key_revoke(e.store, info.kid, "offboarded", TK_ACTOR, TK_NOW, &err) == LK_OK);
	EXPECT_VERDICT(other, key, &no_req, TK_NOW, LK_VERDICT_REVOKED, info.kid);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW, LK_VERDICT_REVOKED, info.kid);

	/* And the other way round, with suspend and resume. */
	ck_assert(lk_key_suspend(other, info2.kid, "incident", TK_ACTOR, TK_NOW, &err) == LK_OK);
	EXPECT_VERDICT(e.store, key2, &no_req, TK_NOW, LK_VERDICT_SUSPENDED, info2.kid);
	ck_assert(lk_key_resume(other, info2.kid, "cleared", TK_ACTOR, TK_NOW, &err) == LK_OK);
	EXPECT_VERDICT(e.store, key2, &no_req, TK_NOW, LK_VERDICT_OK, info2.kid);
	lk_store_close(other);
}
END_TEST

START_TEST(test_suspend_resume)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, after;
	struct lk_err err = { { 0 } };
	struct row_copy row;

	issue(&(struct issue_args){ 0 }, key, &info);
	ck_assert(lk_key_suspend(e.store, info.kid, "incident 42", TK_ACTOR, TK_NOW + 10, &err) ==
	          LK_OK);
	get_key(e.store, info.kid, &after);
	ck_assert_str_eq(after.status, "suspended");
	ck_assert_str_eq(after.status_reason, "incident 42");
	ck_assert_int_eq(after.status_changed, TK_NOW + 10);
	ck_assert_str_eq(lk_key_effective_status(&after, TK_NOW + 10), "suspended");
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 11, LK_VERDICT_SUSPENDED, info.kid);
	find_rows(e.store, "key.suspend", info.kid, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.reason, "incident 42");

	ck_assert(lk_key_resume(e.store, info.kid, "false alarm", TK_ACTOR, TK_NOW + 20, &err) ==
	          LK_OK);
	get_key(e.store, info.kid, &after);
	ck_assert_str_eq(after.status, "active");
	ck_assert_int_eq(after.status_changed, TK_NOW + 20);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 21, LK_VERDICT_OK, info.kid);
	find_rows(e.store, "key.resume", info.kid, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.reason, "false alarm");

	/* A suspended key can still be revoked. */
	ck_assert(lk_key_suspend(e.store, info.kid, "again", TK_ACTOR, TK_NOW + 30, &err) == LK_OK);
	ck_assert(lk_key_revoke(e.store, info.kid, "for good", TK_ACTOR, TK_NOW + 40, &err) ==
	          LK_OK);
	EXPECT_VERDICT(e.store, key, &no_req, TK_NOW + 41, LK_VERDICT_REVOKED, info.kid);
}
END_TEST

typedef int (*status_fn)(struct lk_store *, const char *, const char *, int64_t, int64_t,
                         struct lk_err *);

START_TEST(test_status_bad_transitions)
{
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1], key3[LK_KEY_MAX_LEN + 1];
	struct lk_key_info active, suspended, revoked, before, after;
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;
	struct {
		status_fn fn;
		const struct lk_key_info *k;
		const char *state;
	} cases[] = {
		{ lk_key_suspend, &suspended, "suspended" }, { lk_key_resume, &active, "active" },
		{ lk_key_revoke, &revoked, "revoked" },      { lk_key_resume, &revoked, "revoked" },
		{ lk_key_suspend, &revoked, "revoked" },
	};

	issue(&(struct issue_args){ 0 }, key, &active);
	issue(&(struct issue_args){ 0 }, key2, &suspended);
	issue(&(struct issue_args){ 0 }, key3, &revoked);
	ck_assert(lk_key_suspend(e.store, suspended.kid, "x", TK_ACTOR, TK_NOW, &err) == LK_OK);
	ck_assert(lk_key_revoke(e.store, revoked.kid, "x", TK_ACTOR, TK_NOW, &err) == LK_OK);

	tk_snapshot(e.store, &snap);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		get_key(e.store, cases[i].k->kid, &before);
		memset(&err, 0, sizeof(err));
		ck_assert_msg(cases[i].fn(e.store, cases[i].k->kid, "again", TK_ACTOR, TK_NOW + 5,
		                          &err) == LK_ESTATE,
		              "case %zu not refused", i);
		ck_assert_msg(strstr(err.msg, cases[i].state) != NULL, "case %zu: %s", i, err.msg);
		get_key(e.store, cases[i].k->kid, &after);
		ck_assert_mem_eq(&after, &before, sizeof(after));
		tk_assert_unchanged(e.store, &snap);
	}
}
END_TEST

START_TEST(test_status_reason_required)
{
	char key[LK_KEY_MAX_LEN + 1], text[LK_REASON_MAX + 2], secret[LK_SECRET_LEN + 1];
	struct lk_key_info info, after;
	struct lk_err err;
	struct tk_snapshot snap;
	status_fn fns[] = { lk_key_revoke, lk_key_suspend, lk_key_resume };
	const char *bad[] = { NULL, "", "two\nlines", "esc\x1b[31m", text, key };

	issue(&(struct issue_args){ 0 }, key, &info);
	secret_of(key, secret);
	memset(text, 'r', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0'; /* 257 bytes */
	tk_snapshot(e.store, &snap);
	/* Resume of an active key: the reason is checked before the state, so
	 * that case says EINVAL too. */
	for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memset(&err, 0, sizeof(err));
			ck_assert_msg(fns[f](e.store, info.kid, bad[i], TK_ACTOR, TK_NOW, &err) ==
			                  LK_EINVAL,
			              "fn %zu reason %zu accepted", f, i);
			ck_assert(err.msg[0] != '\0');
			ck_assert(strstr(err.msg, secret) == NULL);
		}
	}
	tk_assert_unchanged(e.store, &snap);
	get_key(e.store, info.kid, &after);
	ck_assert_str_eq(after.status, "active");

	/* Exactly at the limit is fine. */
	text[LK_REASON_MAX] = '\0';
	ck_assert_int_eq(lk_key_suspend(e.store, info.kid, text, TK_ACTOR, TK_NOW, &err), LK_OK);
	get_key(e.store, info.kid, &after);
	ck_assert_str_eq(after.status_reason, text);
}
END_TEST

START_TEST(test_status_unknown_kid)
{
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;

	tk_snapshot(e.store, &snap);
	ck_assert_int_eq(lk_key_revoke(e.store, "AAAAAAAAAAAA", "x", TK_ACTOR, TK_NOW, &err),
	                 LK_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "AAAAAAAAAAAA") != NULL, "%s", err.msg);
	ck_assert_int_eq(lk_key_suspend(e.store, "AAAAAAAAAAAA", "x", TK_ACTOR, TK_NOW, &err),
	                 LK_ENOTFOUND);
	ck_assert_int_eq(lk_key_revoke(e.store, "AAAA_AAAAAAA", "x", TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "AAAA_AAAAAAA") != NULL, "%s", err.msg);
	ck_assert_int_eq(lk_key_resume(e.store, NULL, "x", TK_ACTOR, TK_NOW, &err), LK_EINVAL);
	tk_assert_unchanged(e.store, &snap);
}
END_TEST

/* ---- revoke-all ------------------------------------------------------- */

START_TEST(test_revoke_all)
{
	char k1[LK_KEY_MAX_LEN + 1], k2[LK_KEY_MAX_LEN + 1], k3[LK_KEY_MAX_LEN + 1],
	    kb[LK_KEY_MAX_LEN + 1];
	struct lk_key_info i1, i2, i3, ib, got;
	struct lk_err err = { { 0 } };
	struct tk_snapshot before;
	struct row_copy row;
	size_t count = 99;

	issue(&(struct issue_args){ .owner = "erin" }, k1, &i1);
	issue(&(struct issue_args){ .owner = "erin" }, k2, &i2);
	issue(&(struct issue_args){ .owner = "erin" }, k3, &i3);
	issue(&(struct issue_args){ .owner = "frank" }, kb, &ib);
	ck_assert(lk_key_revoke(e.store, i2.kid, "old", TK_ACTOR, TK_NOW, &err) == LK_OK);
	ck_assert(lk_key_suspend(e.store, i3.kid, "hold", TK_ACTOR, TK_NOW, &err) == LK_OK);

	tk_snapshot(e.store, &before);
	ck_assert_msg(lk_key_revoke_all(e.store, "erin", "left the company", TK_ACTOR, TK_NOW + 5,
	                                &count, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_uint_eq(count, 2);
	/* Two key.revoke rows and the summary row. */
	ck_assert_int_eq(lk_store_count(e.store, "audit"), before.audit + 3);

	get_key(e.store, i1.kid, &got);
	ck_assert_str_eq(got.status, "revoked");
	ck_assert_int_eq(got.status_changed, TK_NOW + 5);
	ck_assert_str_eq(got.status_reason, "left the company");
	get_key(e.store, i2.kid, &got);
	ck_assert_str_eq(got.status, "revoked");
	ck_assert_int_eq(got.status_changed, TK_NOW); /* untouched: was already revoked */
	ck_assert_str_eq(got.status_reason, "old");
	get_key(e.store, i3.kid, &got);
	ck_assert_str_eq(got.status, "revoked");
	get_key(e.store, ib.kid, &got);
	ck_assert_str_eq(got.status, "active");

	EXPECT_VERDICT(e.store, k1, &no_req, TK_NOW + 6, LK_VERDICT_REVOKED, i1.kid);
	EXPECT_VERDICT(e.store, k3, &no_req, TK_NOW + 6, LK_VERDICT_REVOKED, i3.kid);
	EXPECT_VERDICT(e.store, kb, &no_req, TK_NOW + 6, LK_VERDICT_OK, ib.kid);

	find_rows(e.store, "owner.revoke-all", NULL, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.detail, "revoked=2");
	ck_assert_str_eq(row.reason, "left the company");
	ck_assert_str_eq(row.subject_ref, i1.owner_ref);
	ck_assert(!row.has_kid);
	find_rows(e.store, "key.revoke", i1.kid, &row);
	ck_assert_int_eq(row.n, 1);
	find_rows(e.store, "key.revoke", i3.kid, &row);
	ck_assert_int_eq(row.n, 1);
	find_rows(e.store, "key.revoke", i2.kid, &row);
	ck_assert_int_eq(row.n, 1); /* only the earlier, manual one */
}
END_TEST

START_TEST(test_revoke_all_refused)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info, after;
	struct lk_err err = { { 0 } };
	struct tk_snapshot snap;
	size_t count = 99;

	issue(&(struct issue_args){ .owner = "gina" }, key, &info);
	/* A source address is a subject too, but not an owner. */
	EXPECT_VERDICT(e.store, key, (&(struct lk_verify_request){ .source = "10.0.0.1" }), TK_NOW,
	               LK_VERDICT_OK, info.kid);
	tk_snapshot(e.store, &snap);
	ck_assert_int_eq(lk_key_revoke_all(e.store, "nobody", "x", TK_ACTOR, TK_NOW, &count, &err),
	                 LK_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "nobody") != NULL, "%s", err.msg);
	ck_assert_int_eq(
	    lk_key_revoke_all(e.store, "10.0.0.1", "x", TK_ACTOR, TK_NOW, &count, &err),
	    LK_ENOTFOUND);
	ck_assert_int_eq(
	    lk_key_revoke_all(e.store, "bad owner", "x", TK_ACTOR, TK_NOW, &count, &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_key_revoke_all(e.store, "gina", NULL, TK_ACTOR, TK_NOW, &count, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_key_revoke_all(e.store, "gina", "", TK_ACTOR, TK_NOW, &count, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_key_revoke_all(e.store, "gina", key, TK_ACTOR, TK_NOW, &count, &err),
	                 LK_EINVAL);
	ck_assert_uint_eq(count, 99);
	tk_assert_unchanged(e.store, &snap);
	get_key(e.store, info.kid, &after);
	ck_assert_str_eq(after.status, "active");
}
END_TEST

/* ---- due -------------------------------------------------------------- */

struct kid_set {
	int n;
	char kids[16][LK_KID_LEN + 1];
};

static int collect(const struct lk_key_info *k, void *ctx)
{
	struct kid_set *s = ctx;

	ck_assert_int_lt(s->n, 16);
	memcpy(s->kids[s->n++], k->kid, LK_KID_LEN + 1);
	return 0;
}

static bool has_kid(const struct kid_set *s, const char *kid)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->kids[i], kid) == 0)
			return true;
	return false;
}

START_TEST(test_due)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info soon, later, old_age, young, at_edge, revoked, rotated, successor,
	    expired;
	struct kid_set due = { 0 };
	struct lk_err err = { { 0 } };

	e.rules.rotation_age = 60 * DAY;
	e.rules.max_lifetime = 90 * DAY;
	issue(&(struct issue_args){ .lifetime = 10 * DAY }, key, &soon);
	issue(&(struct issue_args){ .lifetime = 20 * DAY }, key, &later);
	issue(&(struct issue_args){ .lifetime = 90 * DAY, .now = TK_NOW - 50 * DAY }, key,
	      &old_age);
	issue(&(struct issue_args){ .lifetime = 90 * DAY, .now = TK_NOW - 40 * DAY }, key, &young);
	issue(&(struct issue_args){ .lifetime = 14 * DAY }, key, &at_edge);
	issue(&(struct issue_args){ .lifetime = 5 * DAY }, key, &revoked);
	ck_assert(lk_key_revoke(e.store, revoked.kid, "x", TK_ACTOR, TK_NOW, &err) == LK_OK);
	issue(&(struct issue_args){ .lifetime = 30 * DAY, .now = TK_NOW - 29 * DAY }, key,
	      &rotated);
	rotate(rotated.kid, false, TK_NOW, key, &successor);
	issue(&(struct issue_args){ .lifetime = 90 * DAY, .now = TK_NOW - 100 * DAY }, key,
	      &expired);

	ck_assert_msg(lk_key_due(e.store, &e.rules, 14 * DAY, TK_NOW, collect, &due, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_msg(has_kid(&due, soon.kid), "expiring in 10d is due");
	ck_assert_msg(!has_kid(&due, later.kid), "expiring in 20d at age 0 is not due");
	ck_assert_msg(has_kid(&due, old_age.kid), "age 60d within 14d is due");
	ck_assert_msg(!has_kid(&due, young.kid), "age 60d in 20d is not due");
	ck_assert_msg(has_kid(&due, at_edge.kid), "expiring exactly at now+within is due");
	ck_assert_msg(!has_kid(&due, revoked.kid), "revoked is never due");
	ck_assert_msg(!has_kid(&due, rotated.kid), "rotated is never due");
	ck_assert_msg(!has_kid(&due, expired.kid), "expired is never due");
	/* The successor inherits a 30d lifetime: not due yet. */
	ck_assert_msg(!has_kid(&due, successor.kid), "fresh successor is not due");
	ck_assert_int_eq(due.n, 3);
}
END_TEST

/* ---- listing and status ----------------------------------------------- */

static int stop_after_one(const struct lk_key_info *k, void *ctx)
{
	(*(int *)ctx)++;
	return 1;
}

static int list_count(const char *owner, const char *env, struct kid_set *out)
{
	struct lk_err err = { { 0 } };

	memset(out, 0, sizeof(*out));
	ck_assert_msg(lk_key_list(e.store, &(struct lk_key_filter){ .owner = owner, .env = env },
	                          collect, out, &err) == LK_OK,
	              "%s", err.msg);
	return out->n;
}

START_TEST(test_list_filters)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info at, ap, bt;
	struct kid_set s;
	struct lk_err err = { { 0 } };
	int calls = 0;

	issue(&(struct issue_args){ .owner = "alice", .env = "test" }, key, &at);
	issue(&(struct issue_args){ .owner = "alice", .env = "prod", .now = TK_NOW + 1 }, key, &ap);
	issue(&(struct issue_args){ .owner = "bob", .env = "test", .now = TK_NOW + 2 }, key, &bt);

	ck_assert_int_eq(list_count(NULL, NULL, &s), 3);
	ck_assert_str_eq(s.kids[0], at.kid); /* oldest first */
	ck_assert_str_eq(s.kids[2], bt.kid);
	ck_assert_int_eq(list_count("alice", NULL, &s), 2);
	ck_assert(has_kid(&s, at.kid) && has_kid(&s, ap.kid));
	ck_assert_int_eq(list_count(NULL, "test", &s), 2);
	ck_assert(has_kid(&s, at.kid) && has_kid(&s, bt.kid));
	ck_assert_int_eq(list_count("alice", "prod", &s), 1);
	ck_assert_str_eq(s.kids[0], ap.kid);
	ck_assert_int_eq(list_count("bob", "prod", &s), 0);
	ck_assert_int_eq(list_count("nobody", NULL, &s), 0);
	ck_assert_int_eq(list_count("Alice", NULL, &s), 0);

	memset(&s, 0, sizeof(s));
	ck_assert(lk_key_list(e.store, NULL, collect, &s, &err) == LK_OK);
	ck_assert_int_eq(s.n, 3);
	ck_assert(lk_key_list(e.store, NULL, stop_after_one, &calls, &err) == LK_OK);
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(test_get_errors)
{
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	const char *bad[] = { NULL, "", "short", "AAAAAAAAAAAAA", "AAAAAAAAAAA_", "AAAAAAAAAAA!" };

	ck_assert_int_eq(lk_key_get(e.store, "AAAAAAAAAAAA", &info, &err), LK_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "AAAAAAAAAAAA") != NULL, "%s", err.msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lk_key_get(e.store, bad[i], &info, &err) == LK_EINVAL,
		              "kid %zu accepted", i);
}
END_TEST

START_TEST(test_effective_status)
{
	struct lk_key_info k;

	memset(&k, 0, sizeof(k));
	snprintf(k.status, sizeof(k.status), "active");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW), "active"); /* never expires */
	k.expires = TK_NOW + 1;
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW), "active");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW + 1), "expired");
	snprintf(k.rotated_to, sizeof(k.rotated_to), "AAAAAAAAAAAA");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW), "rotated");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW + 1), "expired");
	snprintf(k.status, sizeof(k.status), "suspended");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW), "suspended");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW + 1), "suspended");
	snprintf(k.status, sizeof(k.status), "revoked");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW), "revoked");
	ck_assert_str_eq(lk_key_effective_status(&k, TK_NOW + 5), "revoked");
}
END_TEST

/* 10,000 keys issued through the real lifecycle API are distinct and every
 * one of them verifies: no collision, no hash mix-up between rows. */
#define N_BULK 10000
START_TEST(test_bulk_issue_all_verify)
{
	static char keys[N_BULK][LK_KEY_MAX_LEN + 1];
	const char *scopes[] = { "read" };
	struct lk_verify_request req = { .env = "prod", .scopes = scopes, .n_scopes = 1 };
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };

	/* Durability is not under test here; without fsync per commit the
	 * 10,000 transactions take a second instead of a minute. */
	ck_assert_int_eq(sqlite3_exec(e.store->db, "PRAGMA synchronous = OFF", NULL, NULL, NULL),
	                 SQLITE_OK);
	for (int i = 0; i < N_BULK; i++)
		tk_issue(&e, "bulk", "prod", "read", 30 * DAY, keys[i], NULL);
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), N_BULK);
	for (int i = 0; i < N_BULK; i++) {
		ck_assert_int_eq(
		    lk_key_check(e.store, keys[i], strlen(keys[i]), &req, TK_NOW, &res, &err),
		    LK_OK);
		ck_assert_msg(res.verdict == LK_VERDICT_OK, "key %d: %s", i,
		              lk_verdict_str(res.verdict));
		ck_assert_int_eq(strncmp(res.kid, keys[i] + 8, LK_KID_LEN), 0);
	}
	qsort(keys, N_BULK, sizeof(keys[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 1; i < N_BULK; i++)
		ck_assert_str_ne(keys[i], keys[i - 1]);
	sodium_memzero(keys, sizeof(keys));
}
END_TEST

static int count_then(const struct lk_key_info *k, void *ctx)
{
	int *calls = ctx;

	(void)k;
	return ++calls[0] == calls[1] ? calls[2] : 0;
}

/* A callback that fails (out of memory) fails the listing: revoke-all and
 * due must never act on a silently shortened list. A positive return only
 * stops early. */
START_TEST(test_list_callback_contract)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_err err = { { 0 } };
	int calls[3];

	for (int i = 0; i < 3; i++)
		tk_issue(&e, "carol", "prod", "read", 30 * DAY, key, NULL);
	calls[0] = 0, calls[1] = 2, calls[2] = -1;
	ck_assert_int_eq(lk_key_list(e.store, NULL, count_then, calls, &err), LK_ENOMEM);
	ck_assert_int_eq(calls[0], 2);
	calls[0] = 0, calls[1] = 2, calls[2] = 1;
	ck_assert_int_eq(lk_key_list(e.store, NULL, count_then, calls, &err), LK_OK);
	ck_assert_int_eq(calls[0], 2);
	calls[0] = 0, calls[1] = 99, calls[2] = 0;
	ck_assert_int_eq(lk_key_list(e.store, NULL, count_then, calls, &err), LK_OK);
	ck_assert_int_eq(calls[0], 3);
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_verdict_str)
{
	static const char *const want[] = {
		"ok",        "malformed", "unknown",           "bad-secret",    "revoked",
		"suspended", "expired",   "wrong-environment", "scope-missing", "source-not-allowed"
	};

	for (int v = LK_VERDICT_OK; v <= LK_VERDICT_SOURCE_NOT_ALLOWED; v++)
		ck_assert_str_eq(lk_verdict_str((enum lk_verdict)v), want[v]);
	ck_assert_str_eq(lk_verdict_str((enum lk_verdict)99), "invalid");
}
END_TEST

Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc;

	tc = tcase_create("verdicts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_verdict_ok);
	tcase_add_test(tc, test_verdict_malformed_garbage);
	tcase_add_test(tc, test_verdict_malformed_crc);
	tcase_add_test(tc, test_verdict_unknown);
	tcase_add_test(tc, test_verdict_bad_secret);
	tcase_add_test(tc, test_verdict_revoked);
	tcase_add_test(tc, test_verdict_suspended);
	tcase_add_test(tc, test_verdict_expired);
	tcase_add_test(tc, test_verdict_wrong_environment);
	tcase_add_test(tc, test_verdict_scope_missing);
	tcase_add_test(tc, test_verdict_source);
	tcase_add_test(tc, test_verdict_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("recording");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_verify_records_one_row_each);
	tcase_add_test(tc, test_verify_audit_is_pseudonymous);
	tcase_add_test(tc, test_source_canonical);
	tcase_add_test(tc, test_no_secret_anywhere);
	tcase_add_test(tc, test_bad_request_changes_nothing);
	tcase_add_test(tc, test_no_master_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("issue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_issue_records);
	tcase_add_test(tc, test_bulk_issue_all_verify);
	tcase_add_test(tc, test_list_callback_contract);
	tcase_add_test(tc, test_issue_scopes_required);
	tcase_add_test(tc, test_issue_lifetime);
	tcase_add_loop_test(tc, test_issue_bad_value, 0,
	                    (int)(sizeof(bad_issue) / sizeof(bad_issue[0])));
	tcase_add_test(tc, test_issue_long_values);
	tcase_add_loop_test(tc, test_issue_refuses_pasted_key, 0, P_FIELDS * N_PASTE_FORMS);
	tcase_add_loop_test(tc, test_pasted_key_not_echoed, 0, C_CALLS);
	suite_add_tcase(s, tc);

	tc = tcase_create("rotate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rotate_inherits);
	tcase_add_test(tc, test_rotate_grace_edges);
	tcase_add_test(tc, test_rotate_grace_capped_by_expiry);
	tcase_add_test(tc, test_rotate_immediate);
	tcase_add_loop_test(tc, test_rotate_refused, ST_ROTATED, ST_IMMEDIATE + 1);
	tcase_add_test(tc, test_rotate_bad_kid);
	tcase_add_test(tc, test_rotate_lifetime);
	suite_add_tcase(s, tc);

	tc = tcase_create("status");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_revoke_next_verify);
	tcase_add_test(tc, test_revoke_seen_by_other_handle);
	tcase_add_test(tc, test_suspend_resume);
	tcase_add_test(tc, test_status_bad_transitions);
	tcase_add_test(tc, test_status_reason_required);
	tcase_add_test(tc, test_status_unknown_kid);
	tcase_add_test(tc, test_effective_status);
	suite_add_tcase(s, tc);

	tc = tcase_create("revoke_all");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_revoke_all);
	tcase_add_test(tc, test_revoke_all_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("listing");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_due);
	tcase_add_test(tc, test_list_filters);
	tcase_add_test(tc, test_get_errors);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tk_run_suite(keys_suite());
}
