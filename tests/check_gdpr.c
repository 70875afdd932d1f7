/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GDPR mechanics (decision 0011): `subject erase` through the core and the
 * CLI (every listing says "(erased)", the name is in neither the database
 * nor its WAL afterwards, keys revoked, TOTP gone, the chain verifies), and
 * `audit purge` (whole segments up to a checkpoint, verified from the
 * anchor, tampering after it still found). Refusals change nothing: row
 * counts and the chain head are compared.
 */
#include "config.h"

#include <fcntl.h>
#include <sodium.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certs-private.h"
#include "checkpoint-private.h"
#include "gdpr-private.h"
#include "keys-private.h"
#include "subject-private.h"
#include "testutil.h"
#include "totp-private.h"

extern char **environ;

Suite *gdpr_suite(void);

/* Long and unusual, so finding it in the file bytes means it. */
#define NAME "zelda.quartermaine@example.org"

static struct tk_env e;
static struct lk_signer *signer;

static void setup(void)
{
	tk_setup(&e);
	signer = tk_signer(&e);
}

static void teardown(void)
{
	lk_signer_free(signer);
	signer = NULL;
	tk_teardown(&e);
}

static void sql(const char *statement)
{
	tk_sql(e.store->db, statement);
}

static int sql_rc(const char *statement)
{
	return sqlite3_exec(e.store->db, statement, NULL, NULL, NULL);
}

/* How many times needle is in the file (0 if it does not exist). */
static int occurrences(const char *path, const char *needle)
{
	size_t n = strlen(needle), len = 0, cap = 0;
	char *buf = NULL, chunk[65536];
	FILE *f = fopen(path, "rb");
	int count = 0;

	if (f == NULL)
		return 0;
	for (size_t got; (got = fread(chunk, 1, sizeof(chunk), f)) > 0;) {
		if (len + got > cap) {
			cap = (len + got) * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		memcpy(buf + len, chunk, got);
		len += got;
	}
	fclose(f);
	for (size_t i = 0; len >= n && i <= len - n; i++)
		if (memcmp(buf + i, needle, n) == 0)
			count++;
	free(buf);
	return count;
}

/* The name anywhere in the database or its WAL. */
static int name_in_files(const char *db, const char *name)
{
	char wal[PATH_MAX + 40];

	snprintf(wal, sizeof(wal), "%s-wal", db);
	return occurrences(db, name) + occurrences(wal, name);
}

static void add_events(int first, int last)
{
	struct lk_err err = { { 0 } };
	char detail[32];

	for (int i = first; i <= last; i++) {
		snprintf(detail, sizeof(detail), "i=%d", i);
		ck_assert_msg(lk_audit_record(e.store,
		                              &(struct lk_audit_event){ .ts = TK_NOW + i,
		                                                        .actor_uid = TK_ACTOR,
		                                                        .action = "key.verify",
		                                                        .reason = "ok",
		                                                        .detail = detail },
		                              NULL, &err) == LK_OK,
		              "%s", err.msg);
	}
}

static void make_cp(int64_t t, struct lk_checkpoint *cp)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_checkpoint_make(e.store, signer, t, TK_ACTOR, LK_CHECKPOINT_INTERVAL, cp,
	                                 &err) == LK_OK,
	              "%s", err.msg);
}

static void verify(struct lk_verify_report *rep)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_checkpoint_verify(e.store, lk_signer_public(signer), rep, &err) == LK_OK,
	              "%s", err.msg);
}

static void assert_intact(void)
{
	struct lk_verify_report rep;
	struct lk_audit_report plain;
	struct lk_err err = { { 0 } };

	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s: %s",
	              lk_audit_problem_str(rep.audit.problem), rep.audit.why);
	ck_assert_int_eq(lk_audit_verify(e.store, &plain, &err), LK_OK);
	ck_assert_msg(plain.problem == LK_AUDIT_INTACT, "%s", plain.why);
}

/* A person with everything that identifies them: two keys (one with a
 * description naming them), TOTP with recovery codes, a client
 * certificate whose DN names them. And bob, who must be left alone. */
static void populate(char kid1[LK_KID_LEN + 1], char kid2[LK_KID_LEN + 1],
                     char bob_kid[LK_KID_LEN + 1])
{
	const char *scopes[] = { "read" };
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_cert_info cert = { .not_before = TK_NOW - 10, .not_after = TK_NOW + 86400 };
	struct lk_err err = { { 0 } };
	struct tk_totp u;

	tk_issue(&e, NAME, "prod", "read", 86400, key, kid1);
	ck_assert_msg(lk_key_issue(e.store, &e.rules,
	                           &(struct lk_issue_request){ .owner = NAME,
	                                                       .env = "prod",
	                                                       .scopes = scopes,
	                                                       .n_scopes = 1,
	                                                       .description = "laptop of " NAME,
	                                                       .lifetime = 86400 },
	                           TK_ACTOR, TK_NOW, key, &info, &err) == LK_OK,
	              "%s", err.msg);
	memcpy(kid2, info.kid, LK_KID_LEN + 1);
	tk_issue(&e, "bob", "prod", "read", 86400, key, bob_kid);
	tk_totp_enroll(e.store, NAME, TK_NOW, &u);
	memset(cert.sha256, 'a', LK_CERT_SHA256_HEX);
	snprintf(cert.subject, sizeof(cert.subject), "CN=" NAME ",O=Example");
	snprintf(cert.issuer, sizeof(cert.issuer), "CN=Personal CA of " NAME);
	snprintf(cert.serial, sizeof(cert.serial), "01");
	ck_assert_int_eq(lk_store_begin(e.store, &err), LK_OK);
	ck_assert_msg(lk_cert_record(e.store, &cert, NAME, "sshd", TK_NOW, &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_int_eq(lk_store_commit(e.store, &err), LK_OK);
	sodium_memzero(key, sizeof(key));
}

static int find_row(const struct lk_audit_row *row, void *ctx)
{
	struct lk_audit_row *out = ctx;

	out->seq = row->seq;
	out->reason = strdup(row->reason);
	out->detail = strdup(row->detail);
	out->subject_ref = strdup(row->subject_ref != NULL ? row->subject_ref : "");
	return 0;
}

START_TEST(erase_core)
{
	char kid1[LK_KID_LEN + 1], kid2[LK_KID_LEN + 1], bob[LK_KID_LEN + 1];
	char ref[LK_SUBJECT_REF_LEN + 1], name[LK_NAME_MAX + 1];
	struct lk_erase_result res;
	struct lk_key_info k;
	struct lk_audit_row row = { 0 };
	struct lk_err err = { { 0 } };
	long long audit_before;

	populate(kid1, kid2, bob);
	ck_assert_int_eq(lk_subject_ref(e.store, "owner", NAME, false, 0, ref, &err), LK_OK);
	/* The test can fail: the name is there before. */
	ck_assert_int_eq(
	    sqlite3_wal_checkpoint_v2(e.store->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_gt(name_in_files(e.db, NAME), 0);
	audit_before = lk_store_count(e.store, "audit");

	ck_assert_msg(lk_subject_erase(e.store, NAME, "GDPR Art. 17 request", "DPO-42", TK_ACTOR,
	                               TK_NOW + 5, &res, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_str_eq(res.subject_ref, ref);
	ck_assert_uint_eq(res.keys_revoked, 2);
	ck_assert_uint_eq(res.keys, 2);
	ck_assert_uint_eq(res.totp, 1);
	ck_assert_uint_eq(res.certs, 1);
	ck_assert(res.wal_flushed);
	/* 2 key.revoke, 1 totp.remove, 1 subject.erase. */
	ck_assert_int_eq(lk_store_count(e.store, "audit"), audit_before + 4);

	ck_assert_int_eq(lk_subject_name(e.store, ref, name, sizeof(name), &err), LK_OK);
	ck_assert_str_eq(name, "(erased)");
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM subject WHERE name IS NULL"),
	                 1);
	ck_assert_int_eq(lk_subject_ref(e.store, "owner", NAME, false, 0, ref, &err), LK_ENOTFOUND);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(lk_key_get(e.store, i ? kid2 : kid1, &k, &err), LK_OK);
		ck_assert_str_eq(k.owner, "(erased)");
		ck_assert_str_eq(k.status, "revoked");
		ck_assert_str_eq(k.status_reason, "erased");
		ck_assert_str_eq(k.description, "");
	}
	ck_assert_int_eq(lk_key_get(e.store, bob, &k, &err), LK_OK);
	ck_assert_str_eq(k.owner, "bob");
	ck_assert_str_eq(k.status, "active");
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM totp_credential"), 0);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM totp_recovery"), 0);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM certificate WHERE "
	                                       "principal_ref IS NULL AND subject = '(erased)' "
	                                       "AND issuer = '(erased)' AND serial = '01'"),
	                 1);

	/* The event: pseudonym, reason, ticket; never the name. */
	ck_assert_int_eq(lk_audit_query(e.store,
	                                &(struct lk_audit_filter){ .action = LK_ERASE_ACTION },
	                                find_row, &row, &err),
	                 LK_OK);
	ck_assert_int_eq(row.seq, res.seq);
	ck_assert_str_eq(row.subject_ref, res.subject_ref);
	ck_assert_str_eq(row.reason, "GDPR Art. 17 request");
	ck_assert_str_eq(row.detail, "ticket=DPO-42 keys_revoked=2 totp=1 certs=1");
	free((char *)row.reason);
	free((char *)row.detail);
	free((char *)row.subject_ref);
	assert_intact();

	/* Nowhere in the files: secure_delete zeroed what the updates freed,
	 * and the erase truncated the WAL. */
	ck_assert_int_eq(name_in_files(e.db, NAME), 0);
	ck_assert_int_eq(name_in_files(e.db, "zelda"), 0);
	/* Not even after the store is closed and reopened (nothing cached). */
	lk_store_close(e.store);
	e.store = NULL;
	ck_assert_int_eq(name_in_files(e.db, "zelda"), 0);
	ck_assert_int_eq(lk_store_open(e.db, 0, e.master, &e.store, &err), LK_OK);
}
END_TEST

/* Everything the refusal must leave as it was. */
struct world {
	struct tk_snapshot snap;
	long long totp, certs_named, names;
};

static void world(struct world *w)
{
	tk_snapshot(e.store, &w->snap);
	w->totp = tk_count(e.store->db, "SELECT count(*) FROM totp_credential");
	w->certs_named = tk_count(e.store->db, "SELECT count(*) FROM certificate WHERE "
	                                       "principal_ref IS NOT NULL");
	w->names = tk_count(e.store->db, "SELECT count(*) FROM subject WHERE name IS NOT NULL");
}

static void assert_world(const struct world *w)
{
	struct world now;

	tk_assert_unchanged(e.store, &w->snap);
	world(&now);
	ck_assert_int_eq(now.totp, w->totp);
	ck_assert_int_eq(now.certs_named, w->certs_named);
	ck_assert_int_eq(now.names, w->names);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM api_key WHERE status = "
	                                       "'revoked'"),
	                 0);
}

START_TEST(erase_refusals)
{
	char kid1[LK_KID_LEN + 1], kid2[LK_KID_LEN + 1], bob[LK_KID_LEN + 1];
	char ref[LK_SUBJECT_REF_LEN + 1], src[LK_SUBJECT_REF_LEN + 1];
	static const struct {
		const char *subject, *reason, *ticket;
		int rc;
	} bad[] = {
		{ "nobody", "request", NULL, LK_ENOTFOUND },
		{ "sub_0000000000000000", "request", NULL, LK_ENOTFOUND },
		{ NAME, NULL, NULL, LK_EINVAL },
		{ NAME, "", NULL, LK_EINVAL },
		{ NAME, "request from " NAME, NULL, LK_EINVAL }, /* names them */
		{ NAME, "request from ZELDA.Quartermaine@example.org", NULL, LK_EINVAL },
		{ NAME, "request", "has space", LK_EINVAL },
		{ NAME, "request", NAME, LK_EINVAL },
		{ NAME, "bad\ttab", NULL, LK_EINVAL },
		{ "", "request", NULL, LK_EINVAL },
	};
	struct lk_erase_result res;
	struct lk_err err = { { 0 } };
	struct world w;

	populate(kid1, kid2, bob);
	ck_assert_int_eq(lk_store_begin(e.store, &err), LK_OK);
	ck_assert_int_eq(lk_subject_ref(e.store, "source", "192.0.2.7", true, TK_NOW, src, &err),
	                 LK_OK);
	ck_assert_int_eq(lk_store_commit(e.store, &err), LK_OK);
	world(&w);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(lk_subject_erase(e.store, bad[i].subject, bad[i].reason,
		                               bad[i].ticket, TK_ACTOR, TK_NOW, &res,
		                               &err) == bad[i].rc,
		              "row %zu: %s", i, err.msg);
		assert_world(&w);
	}
	/* A source address is not a person. */
	ck_assert_int_eq(
	    lk_subject_erase(e.store, src, "request", NULL, TK_ACTOR, TK_NOW, &res, &err),
	    LK_ESTATE);
	assert_world(&w);

	/* Erased once; then refused by pseudonym (already) and by name
	 * (unknown), with nothing changed. */
	ck_assert_int_eq(lk_subject_ref(e.store, "owner", NAME, false, 0, ref, &err), LK_OK);
	ck_assert_int_eq(
	    lk_subject_erase(e.store, ref, "request", NULL, TK_ACTOR, TK_NOW, &res, &err), LK_OK);
	tk_snapshot(e.store, &w.snap);
	ck_assert_int_eq(
	    lk_subject_erase(e.store, ref, "request", NULL, TK_ACTOR, TK_NOW, &res, &err),
	    LK_ESTATE);
	ck_assert_ptr_nonnull(strstr(err.msg, "already erased"));
	tk_assert_unchanged(e.store, &w.snap);
	ck_assert_int_eq(
	    lk_subject_erase(e.store, NAME, "request", NULL, TK_ACTOR, TK_NOW, &res, &err),
	    LK_ENOTFOUND);
	tk_assert_unchanged(e.store, &w.snap);
	assert_intact();
}
END_TEST

/* ---- retention -------------------------------------------------------- */

/* Three segments: events, cp1 (t+100), events, cp2 (t+200), events, cp3
 * (t+300), events. */
static void three_segments(struct lk_checkpoint cp[3])
{
	add_events(1, 10);
	make_cp(TK_NOW + 100, &cp[0]);
	add_events(12, 20);
	make_cp(TK_NOW + 200, &cp[1]);
	add_events(22, 30);
	make_cp(TK_NOW + 300, &cp[2]);
	add_events(32, 35);
}

START_TEST(purge_core)
{
	struct lk_checkpoint cp[3];
	struct lk_purge_result res;
	struct lk_verify_report rep;
	struct lk_err err = { { 0 } };
	struct lk_audit_row row = { 0 };
	int64_t first;

	three_segments(cp);
	assert_intact();
	/* Before t+250: the newest checkpoint older is cp2. */
	ck_assert_msg(lk_audit_purge(e.store, signer, TK_NOW + 250, "retention 90d", TK_ACTOR,
	                             TK_NOW + 400, &res, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(res.anchor_number, cp[1].number);
	ck_assert_int_eq(res.anchor_seq, cp[1].audit_seq);
	ck_assert_int_eq(res.first_seq, 1);
	ck_assert_int_eq(res.last_seq, cp[1].audit_seq);
	ck_assert_int_eq(res.rows, cp[1].audit_seq);
	ck_assert_int_eq(res.checkpoints, 1);
	ck_assert_int_eq(res.cp.number, 4);
	ck_assert_int_eq(res.cp.audit_seq, res.seq);
	ck_assert_int_eq(lk_audit_first_seq(e.store, &first, &err), LK_OK);
	ck_assert_int_eq(first, cp[1].audit_seq + 1);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT min(number) FROM checkpoint"), 2);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM audit_purge"), 0);

	ck_assert_int_eq(lk_audit_query(e.store,
	                                &(struct lk_audit_filter){ .action = LK_PURGE_ACTION },
	                                find_row, &row, &err),
	                 LK_OK);
	ck_assert_int_eq(row.seq, res.seq);
	ck_assert_str_eq(row.reason, "retention 90d");
	ck_assert_str_eq(row.detail,
	                 "anchor=2 anchor_seq=20 rows=20 first_seq=1 checkpoints=1 sources=0");
	free((char *)row.reason);
	free((char *)row.detail);
	free((char *)row.subject_ref);

	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.anchor.number, 2);
	ck_assert_int_eq(rep.anchor.audit_seq, 20);
	ck_assert_int_eq(rep.last.number, 4);
	ck_assert_int_eq(rep.checkpoints, 3); /* 2 (the anchor), 3, 4 */
	assert_intact();

	/* Later work and checkpoints go on verifying; a second purge moves
	 * the anchor on. */
	add_events(100, 105);
	make_cp(TK_NOW + 500, &cp[0]);
	ck_assert_msg(lk_audit_purge(e.store, signer, TK_NOW + 450, "retention", TK_ACTOR,
	                             TK_NOW + 600, &res, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(res.anchor_number, 4);
	ck_assert_int_eq(res.first_seq, 21);
	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.anchor.number, 4);
	assert_intact();
}
END_TEST

START_TEST(purge_refusals)
{
	struct lk_checkpoint cp[3];
	struct lk_purge_result res;
	struct tk_snapshot snap;
	struct lk_err err = { { 0 } };
	long long cps;

	three_segments(cp);
	tk_snapshot(e.store, &snap);
	cps = lk_store_count(e.store, "checkpoint");
	/* No checkpoint before the date: nothing, and it says so. */
	ck_assert_int_eq(lk_audit_purge(e.store, signer, TK_NOW + 100, "retention", TK_ACTOR,
	                                TK_NOW + 400, &res, &err),
	                 LK_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "nothing to purge"));
	tk_assert_unchanged(e.store, &snap);
	ck_assert_int_eq(
	    lk_audit_purge(e.store, signer, TK_NOW + 250, NULL, TK_ACTOR, TK_NOW + 400, &res, &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_audit_purge(e.store, signer, TK_NOW + 250, "x\001y", TK_ACTOR,
	                                TK_NOW + 400, &res, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_audit_purge(e.store, NULL, TK_NOW + 250, "retention", TK_ACTOR,
	                                TK_NOW + 400, &res, &err),
	                 LK_ECRYPTO);
	tk_assert_unchanged(e.store, &snap);
	ck_assert_int_eq(lk_store_count(e.store, "checkpoint"), cps);

	/* Done once, the same date finds nothing more. */
	ck_assert_int_eq(lk_audit_purge(e.store, signer, TK_NOW + 150, "retention", TK_ACTOR,
	                                TK_NOW + 400, &res, &err),
	                 LK_OK);
	tk_snapshot(e.store, &snap);
	cps = lk_store_count(e.store, "checkpoint");
	ck_assert_int_eq(lk_audit_purge(e.store, signer, TK_NOW + 150, "retention", TK_ACTOR,
	                                TK_NOW + 400, &res, &err),
	                 LK_ESTATE);
	tk_assert_unchanged(e.store, &snap);
	ck_assert_int_eq(lk_store_count(e.store, "checkpoint"), cps);
}
END_TEST

/* One audit row by a client address: its pseudonym, made as core/verify.c
 * makes it. */
static void source_event(const char *address, int64_t t, char ref[LK_SUBJECT_REF_LEN + 1])
{
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_subject_ref(e.store, "source", address, true, t, ref, &err), LK_OK);
	ck_assert_msg(lk_audit_record(e.store,
	                              &(struct lk_audit_event){ .ts = t,
	                                                        .actor_uid = TK_ACTOR,
	                                                        .subject_ref = ref,
	                                                        .action = "key.verify",
	                                                        .reason = "bad-secret",
	                                                        .detail = "from a source" },
	                              NULL, &err) == LK_OK,
	              "%s", err.msg);
}

/* A row that names a source only in its detail, as key.verify ("env=...
 * source=sub_...") and session rows ("service=... rhost=sub_...") do: no
 * subject_ref (an unknown key, a user Latchkey does not know): the detail
 * is head, the pseudonym, tail. */
static void detail_event(const char *address, const char *action, const char *head,
                         const char *tail, int64_t t, char ref[LK_SUBJECT_REF_LEN + 1])
{
	struct lk_err err = { { 0 } };
	char detail[160];

	ck_assert_int_eq(lk_subject_ref(e.store, "source", address, true, t, ref, &err), LK_OK);
	snprintf(detail, sizeof(detail), "%s%s%s", head, ref, tail);
	ck_assert_msg(lk_audit_record(e.store,
	                              &(struct lk_audit_event){ .ts = t,
	                                                        .actor_uid = TK_ACTOR,
	                                                        .action = action,
	                                                        .reason = "ok",
	                                                        .detail = detail },
	                              NULL, &err) == LK_OK,
	              "%s", err.msg);
}

/* A real key.verify row from address at t: whatever core/verify.c writes
 * is what the purge must read. */
static void verify_from(const char *key, const char *address, int64_t t)
{
	struct lk_verify_result vr;
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_verify(e.store, key, strlen(key),
	                            &(struct lk_verify_request){ .source = address }, TK_ACTOR, t,
	                            &vr, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(vr.verdict, LK_VERDICT_OK);
}

static long long sources_named(const char *names)
{
	char q[400];

	snprintf(q, sizeof(q),
	         "SELECT count(*) FROM subject WHERE kind = 'source' AND name IN (%s)", names);
	return tk_count(e.store->db, q);
}

/* A purge also removes the client addresses that only purged rows named
 * (their retention ended with those rows); an address a later row or a
 * lockout counter still names stays, whether the row names it by
 * subject_ref or in its detail (key.verify: source=, sessions: rhost=). */
START_TEST(purge_forgets_addresses)
{
	char old[LK_SUBJECT_REF_LEN + 1], both[LK_SUBJECT_REF_LEN + 1];
	char locked[LK_SUBJECT_REF_LEN + 1], late[LK_SUBJECT_REF_LEN + 1];
	char ref[LK_SUBJECT_REF_LEN + 1], key[LK_KEY_MAX_LEN + 1], kid[LK_KID_LEN + 1];
	struct lk_checkpoint cp[2];
	struct lk_purge_result res;
	struct lk_err err = { { 0 } };
	char stmt[200];

	tk_issue(&e, "alice", "prod", "read", 86400 * 30, key, kid);
	source_event("192.0.2.10", TK_NOW + 1, old);
	source_event("192.0.2.11", TK_NOW + 2, both);
	source_event("192.0.2.12", TK_NOW + 3, locked);
	/* Named in details only, by rows that go: */
	verify_from(key, "192.0.2.30", TK_NOW + 4);
	detail_event("old.example", "session.open", "service=web rhost=", "", TK_NOW + 5, ref);
	/* ... and by rows that go and by rows that stay: */
	verify_from(key, "192.0.2.20", TK_NOW + 6);
	detail_event("client.example", "session.open", "service=web rhost=", " user=unknown",
	             TK_NOW + 7, ref);
	make_cp(TK_NOW + 100, &cp[0]);
	source_event("192.0.2.11", TK_NOW + 150, both);
	source_event("192.0.2.13", TK_NOW + 160, late);
	verify_from(key, "192.0.2.20", TK_NOW + 161);
	detail_event("client.example", "session.close", "service=web rhost=", " user=unknown",
	             TK_NOW + 162, ref);
	/* Only in a detail that stays, first seen after the cut. */
	detail_event("2001:db8::7", "key.verify", "env=any source=", " grace=yes", TK_NOW + 163,
	             ref);
	make_cp(TK_NOW + 200, &cp[1]);
	snprintf(
	    stmt, sizeof(stmt),
	    "INSERT INTO lockout (kind, id, failures, window_start) VALUES ('source', '%s', 1, "
	    "%lld)",
	    locked, (long long)TK_NOW);
	sql(stmt);
	ck_assert_int_eq(sources_named("'192.0.2.10', '192.0.2.30', 'old.example'"), 3);
	ck_assert_msg(lk_audit_purge(e.store, signer, TK_NOW + 150, "retention", TK_ACTOR,
	                             TK_NOW + 300, &res, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(res.sources, 3);
	ck_assert_int_eq(sources_named("'192.0.2.10', '192.0.2.30', 'old.example'"), 0);
	ck_assert_int_eq(sources_named("'192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.20', "
	                               "'client.example', '2001:db8::7'"),
	                 6);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM audit WHERE action = "
	                                       "'audit.purge' AND detail LIKE '% sources=3'"),
	                 1);
	/* Every pseudonym a row left names still has its subject. */
	ck_assert_int_eq(
	    tk_count(e.store->db,
	             "SELECT count(*) FROM audit a WHERE (instr(a.detail, 'source=sub_') > 0 AND "
	             "NOT EXISTS (SELECT 1 FROM subject s WHERE s.subject_ref = substr(a.detail, "
	             "instr(a.detail, 'source=sub_') + 7, 20))) OR (instr(a.detail, 'rhost=sub_') "
	             "> 0 AND NOT EXISTS (SELECT 1 FROM subject s WHERE s.subject_ref = "
	             "substr(a.detail, instr(a.detail, 'rhost=sub_') + 6, 20)))"),
	    0);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM audit WHERE detail LIKE "
	                                       "'%source=sub_%' OR detail LIKE '%rhost=sub_%'"),
	                 3);
	assert_intact();
}
END_TEST

/* The triggers stay in force for everyone but the purge. */
START_TEST(purge_triggers)
{
	struct lk_checkpoint cp[3];
	struct lk_verify_report rep;

	three_segments(cp);
	ck_assert_int_ne(sql_rc("DELETE FROM audit WHERE seq = 1"), SQLITE_OK);
	ck_assert_int_ne(sql_rc("DELETE FROM checkpoint WHERE number = 1"), SQLITE_OK);
	/* A marker allows deletes up to it, never an edit. */
	sql("BEGIN; INSERT INTO audit_purge (id, upto_seq, anchor) VALUES (1, 5, 2)");
	ck_assert_int_ne(sql_rc("UPDATE audit SET detail = 'x' WHERE seq = 2"), SQLITE_OK);
	ck_assert_int_ne(sql_rc("UPDATE checkpoint SET ts = 0 WHERE number = 1"), SQLITE_OK);
	ck_assert_int_ne(sql_rc("DELETE FROM audit WHERE seq = 6"), SQLITE_OK);
	ck_assert_int_ne(sql_rc("DELETE FROM checkpoint WHERE number = 2"), SQLITE_OK);
	sql("ROLLBACK");
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 35);
	/* A marker left behind is tampering. */
	sql("INSERT INTO audit_purge (id, upto_seq, anchor) VALUES (1, 5, 2)");
	verify(&rep);
	ck_assert_int_eq(rep.audit.problem, LK_AUDIT_SCHEMA);
	ck_assert_ptr_nonnull(strstr(rep.audit.why, "purge marker"));
}
END_TEST

static void drop_triggers(void)
{
	sql("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
	    "DROP TRIGGER checkpoint_no_update; DROP TRIGGER checkpoint_no_delete;");
}

static void restore_triggers(void)
{
	sql("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	    "CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON checkpoint"
	    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
	    "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint"
	    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;");
}

static void purged_log(void)
{
	struct lk_checkpoint cp[3];
	struct lk_purge_result res;
	struct lk_err err = { { 0 } };

	three_segments(cp);
	ck_assert_msg(lk_audit_purge(e.store, signer, TK_NOW + 250, "retention", TK_ACTOR,
	                             TK_NOW + 400, &res, &err) == LK_OK,
	              "%s", err.msg);
	add_events(200, 203); /* after checkpoint 4 */
	assert_intact();
}

START_TEST(purge_then_edit)
{
	struct lk_verify_report rep;

	purged_log();
	drop_triggers();
	sql("UPDATE audit SET detail = 'i=99' WHERE seq = 25");
	restore_triggers();
	verify(&rep);
	ck_assert_int_eq(rep.audit.problem, LK_AUDIT_EDITED);
	ck_assert_int_eq(rep.audit.bad_seq, 25);
}
END_TEST

START_TEST(purge_then_truncate)
{
	struct lk_verify_report rep;
	int64_t last = lk_store_count(e.store, "audit");

	purged_log();
	last = tk_count(e.store->db, "SELECT max(audit_seq) FROM checkpoint");
	drop_triggers();
	sql("DELETE FROM audit WHERE seq >= 30");
	restore_triggers();
	verify(&rep);
	ck_assert_int_eq(rep.audit.problem, LK_AUDIT_TRUNCATED);
	ck_assert_int_eq(rep.audit.bad_seq, 30);
	ck_assert_int_ge(last, 30);
}
END_TEST

/* Rows deleted at the new start, or the anchor's own row. */
START_TEST(purge_then_head_cut)
{
	struct lk_verify_report rep;

	purged_log();
	drop_triggers();
	sql("DELETE FROM audit WHERE seq <= 23");
	restore_triggers();
	verify(&rep);
	ck_assert_int_eq(rep.audit.problem, LK_AUDIT_MISSING);
}
END_TEST

/* Without a purge: the head of the log and the checkpoints before one
 * deleted by hand, so the log seems to start at an anchor. No purge row
 * vouched for by a checkpoint says so. */
START_TEST(fake_purge_detected)
{
	struct lk_checkpoint cp[3];
	struct lk_verify_report rep;
	struct lk_audit_report plain;
	struct lk_err err = { { 0 } };

	three_segments(cp);
	drop_triggers();
	sql("DELETE FROM audit WHERE seq <= 20; DELETE FROM checkpoint WHERE number < 2");
	restore_triggers();
	verify(&rep);
	ck_assert_int_eq(rep.audit.problem, LK_AUDIT_MISSING);
	ck_assert_int_eq(rep.audit.bad_seq, 1);
	ck_assert_msg(strstr(rep.audit.why, "records no purge") != NULL, "%s", rep.audit.why);
	/* The unsigned walk alone cannot tell: it starts at the anchor. */
	ck_assert_int_eq(lk_audit_verify(e.store, &plain, &err), LK_OK);
	ck_assert_int_eq(plain.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(plain.start_seq, 20);

	/* A purge row appended at the tail, not covered by a checkpoint,
	 * does not help. */
	ck_assert_int_eq(
	    lk_audit_record(e.store,
	                    &(struct lk_audit_event){ .ts = TK_NOW + 999,
	                                              .actor_uid = 0,
	                                              .action = LK_PURGE_ACTION,
	                                              .reason = "fake",
	                                              .detail = "anchor=2 anchor_seq=20 rows=20" },
	                    NULL, &err),
	    LK_OK);
	verify(&rep);
	ck_assert_int_eq(rep.audit.problem, LK_AUDIT_MISSING);
	ck_assert_ptr_nonnull(strstr(rep.audit.why, "not yet covered"));
}
END_TEST

/* ---- through the CLI -------------------------------------------------- */

struct run {
	int status;
	char out[16384], err[4096];
};

static char state[PATH_MAX], conf[PATH_MAX + 32], dbpath[PATH_MAX + 32];

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;

	lseek(fd, 0, SEEK_SET);
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

/* latchkey --offline ARGS (init without --offline), LATCHKEY_CONFIG=conf;
 * no shell. stdout and stderr through unlinked temp files. */
static void cli(struct run *r, const char *const *args)
{
	const char *bin = getenv("LATCHKEY_BIN");
	char *argv[32], *envp[256], conf_env[PATH_MAX + 64], tmpl[2][PATH_MAX];
	posix_spawn_file_actions_t fa;
	int fds[2], n = 0, k = 0, wst;
	pid_t pid;

	ck_assert_msg(bin != NULL, "LATCHKEY_BIN is not set (make check sets it)");
	argv[n++] = (char *)bin;
	if (strcmp(args[0], "init") != 0)
		argv[n++] = "--offline";
	for (int i = 0; args[i] != NULL; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	snprintf(conf_env, sizeof(conf_env), "LATCHKEY_CONFIG=%s", conf);
	for (int i = 0; environ[i] != NULL && k < 250; i++)
		if (strncmp(environ[i], "LATCHKEY_CONFIG=", 16) != 0)
			envp[k++] = environ[i];
	envp[k++] = conf_env;
	envp[k] = NULL;
	for (int i = 0; i < 2; i++) {
		snprintf(tmpl[i], sizeof(tmpl[i]), "%s/runXXXXXX", state);
		fds[i] = mkstemp(tmpl[i]);
		ck_assert_int_ge(fds[i], 0);
		unlink(tmpl[i]);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	ck_assert_int_eq(posix_spawn(&pid, bin, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
	r->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	slurp(fds[0], r->out, sizeof(r->out));
	slurp(fds[1], r->err, sizeof(r->err));
}

#define CLI(r, ...) cli((r), (const char *const[]){ __VA_ARGS__, NULL })

static sqlite3 *ro_db(void)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

static long long ro_count(const char *q)
{
	sqlite3 *db = ro_db();
	long long n = tk_count(db, q);

	sqlite3_close(db);
	return n;
}

static void cli_setup(void)
{
	char base[PATH_MAX];
	struct run r;

	tk_mkdtemp(base, sizeof(base), "latchkey-gdpr");
	snprintf(state, sizeof(state), "%s", base);
	snprintf(conf, sizeof(conf), "%s/s/latchkey.conf", base);
	snprintf(dbpath, sizeof(dbpath), "%s/s/latchkey.db", base);
	char sdir[PATH_MAX + 8];
	snprintf(sdir, sizeof(sdir), "%s/s", base);
	CLI(&r, "init", "--state-dir", sdir);
	ck_assert_msg(r.status == 0, "init: %s", r.err);
}

static void cli_teardown(void)
{
	tk_rmrf(state);
}

/* Nothing changed: rows, names and the chain head. */
struct cli_world {
	long long audit, named, live, cps;
	char head[80];
};

static void cli_world(struct cli_world *w)
{
	sqlite3 *db = ro_db();
	sqlite3_stmt *st = NULL;

	w->audit = tk_count(db, "SELECT count(*) FROM audit");
	w->named = tk_count(db, "SELECT count(*) FROM subject WHERE name IS NOT NULL");
	w->live = tk_count(db, "SELECT count(*) FROM api_key WHERE status = 'active'");
	w->cps = tk_count(db, "SELECT count(*) FROM checkpoint");
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "SELECT hex(chain) FROM audit ORDER BY seq DESC", -1, &st, NULL),
	    SQLITE_OK);
	w->head[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(w->head, sizeof(w->head), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void assert_cli_world(const struct cli_world *a)
{
	struct cli_world b;

	cli_world(&b);
	ck_assert_int_eq(a->audit, b.audit);
	ck_assert_int_eq(a->named, b.named);
	ck_assert_int_eq(a->live, b.live);
	ck_assert_int_eq(a->cps, b.cps);
	ck_assert_str_eq(a->head, b.head);
}

START_TEST(cli_erase)
{
	struct run r;
	struct cli_world w;
	char kid[LK_KID_LEN + 1] = "";
	const char *p;

	CLI(&r, "key", "issue", "--owner", NAME, "--env", "prod", "--scope", "read", "--expires",
	    "30d", "--description", "zelda's laptop");
	ck_assert_msg(r.status == 0, "%s", r.err);
	CLI(&r, "--json", "key", "list");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, NAME));
	p = strstr(r.out, "\"kid\":");
	ck_assert_ptr_nonnull(p);
	p = strchr(p + 6, '"');
	memcpy(kid, p + 1, LK_KID_LEN);
	kid[LK_KID_LEN] = '\0';
	CLI(&r, "key", "issue", "--owner", "bob", "--env", "prod", "--scope", "read", "--expires",
	    "30d");
	ck_assert_int_eq(r.status, 0);
	CLI(&r, "audit", "checkpoint");
	ck_assert_msg(r.status == 0, "%s", r.err);

	/* Refusals: exit codes, one line, nothing changed. */
	cli_world(&w);
	CLI(&r, "subject", "erase", "nobody", "--reason", "request");
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "no subject"));
	assert_cli_world(&w);
	CLI(&r, "subject", "erase", NAME);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--reason"));
	assert_cli_world(&w);
	CLI(&r, "subject", "erase", NAME, "--reason", "asked by " NAME);
	ck_assert_int_eq(r.status, 2);
	assert_cli_world(&w);
	CLI(&r, "subject", "erase", "--reason", "request");
	ck_assert_int_eq(r.status, 2);
	assert_cli_world(&w);

	CLI(&r, "subject", "erase", NAME, "--reason", "GDPR Art. 17", "--ticket", "DPO-7");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "erased: 1 key revoked"));
	ck_assert_ptr_null(strstr(r.out, "zelda"));

	/* Every listing shows "(erased)"; the name nowhere. */
	CLI(&r, "key", "list");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "(erased)"));
	ck_assert_ptr_nonnull(strstr(r.out, "bob"));
	ck_assert_ptr_null(strstr(r.out, "zelda"));
	CLI(&r, "key", "show", kid);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "(erased)"));
	ck_assert_ptr_nonnull(strstr(r.out, "revoked"));
	ck_assert_ptr_null(strstr(r.out, "zelda"));
	CLI(&r, "audit", "log");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "subject.erase"));
	ck_assert_ptr_nonnull(strstr(r.out, "ticket=DPO-7"));
	ck_assert_ptr_null(strstr(r.out, "zelda"));
	CLI(&r, "audit", "log", "--subject", NAME);
	ck_assert_int_eq(r.status, 3);
	CLI(&r, "audit", "verify");
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "audit chain intact"));
	ck_assert_int_eq(name_in_files(dbpath, "zelda"), 0);

	/* Already erased (by its pseudonym), then by name: unknown. */
	cli_world(&w);
	{
		char ref[LK_SUBJECT_REF_LEN + 1];
		sqlite3 *db = ro_db();
		sqlite3_stmt *st = NULL;
		ck_assert_int_eq(sqlite3_prepare_v2(db,
		                                    "SELECT subject_ref FROM subject WHERE name IS "
		                                    "NULL",
		                                    -1, &st, NULL),
		                 SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		snprintf(ref, sizeof(ref), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(db);
		CLI(&r, "subject", "erase", ref, "--reason", "again");
		ck_assert_int_eq(r.status, 3);
		ck_assert_ptr_nonnull(strstr(r.err, "already erased"));
	}
	assert_cli_world(&w);
	CLI(&r, "subject", "erase", NAME, "--reason", "again");
	ck_assert_int_eq(r.status, 3);
	assert_cli_world(&w);
}
END_TEST

START_TEST(cli_purge)
{
	struct run r;
	struct cli_world w;

	CLI(&r, "key", "issue", "--owner", "bob", "--env", "prod", "--scope", "read", "--expires",
	    "30d");
	ck_assert_int_eq(r.status, 0);
	CLI(&r, "audit", "checkpoint");
	ck_assert_msg(r.status == 0, "%s", r.err);

	cli_world(&w);
	CLI(&r, "audit", "purge", "--before", "2000-01-01", "--reason", "retention");
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "nothing to purge"));
	assert_cli_world(&w);
	CLI(&r, "audit", "purge", "--before", "2099-01-01");
	ck_assert_int_eq(r.status, 2);
	CLI(&r, "audit", "purge", "--reason", "retention");
	ck_assert_int_eq(r.status, 2);
	CLI(&r, "audit", "purge", "--before", "yesterdayish", "--reason", "retention");
	ck_assert_int_eq(r.status, 2);
	assert_cli_world(&w);

	CLI(&r, "audit", "purge", "--before", "2099-01-01", "--reason", "retention 1y");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "purged seqs 1.."));
	ck_assert_int_eq(ro_count("SELECT min(seq) FROM audit"),
	                 ro_count("SELECT min(audit_seq) FROM checkpoint") + 1);
	CLI(&r, "audit", "verify");
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "purged: the log starts after seq"));
	CLI(&r, "audit", "log", "--type", "audit.purge");
	ck_assert_ptr_nonnull(strstr(r.out, "anchor=1 "));
}
END_TEST

Suite *gdpr_suite(void)
{
	Suite *s = suite_create("gdpr");
	TCase *tc = tcase_create("erase");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, erase_core);
	tcase_add_test(tc, erase_refusals);
	suite_add_tcase(s, tc);

	tc = tcase_create("purge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, purge_core);
	tcase_add_test(tc, purge_refusals);
	tcase_add_test(tc, purge_triggers);
	tcase_add_test(tc, purge_forgets_addresses);
	tcase_add_test(tc, purge_then_edit);
	tcase_add_test(tc, purge_then_truncate);
	tcase_add_test(tc, purge_then_head_cut);
	tcase_add_test(tc, fake_purge_detected);
	suite_add_tcase(s, tc);

	tc = tcase_create("cli");
	tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
	tcase_add_test(tc, cli_erase);
	tcase_add_test(tc, cli_purge);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(gdpr_suite());
}
