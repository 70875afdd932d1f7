/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lockout counters (core/lockout.c) on a fresh database: thresholds, the
 * window, the lock's duration, reset and clear, credentials and sources
 * apart, sources only by pseudonym. What counts as a failure, root and
 * PAM_MAXTRIES are the engine's, tested in check_engine and check_pam.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lockout-private.h"
#include "testutil.h"

#define WINDOW   900
#define DURATION 600

static struct tk_env e;
static struct lk_policy pol;

static void setup(void)
{
	tk_setup(&e);
	memset(&pol, 0, sizeof(pol));
	pol.lockout_credential_failures = 3;
	pol.lockout_source_failures = 5;
	pol.lockout_window = WINDOW;
	pol.lockout_duration = DURATION;
}

static void teardown(void)
{
	tk_teardown(&e);
}

/* One failure at t; returns whether it locked. */
static bool fail_at(enum lk_lockout_kind kind, const char *id, int64_t t)
{
	struct lk_err err = { { 0 } };
	bool now_locked = true;

	ck_assert_msg(lk_lockout_fail(e.store, &pol, kind, id, t, &now_locked, &err) == LK_OK, "%s",
	              err.msg);
	return now_locked;
}

static bool locked_at(enum lk_lockout_kind kind, const char *id, int64_t t, int64_t *until)
{
	struct lk_err err = { { 0 } };
	bool locked = true;

	ck_assert_msg(lk_lockout_check(e.store, &pol, kind, id, t, &locked, until, &err) == LK_OK,
	              "%s", err.msg);
	return locked;
}

static long long count_sql(const char *sql)
{
	return tk_count(e.store->db, sql);
}

START_TEST(test_threshold_locks)
{
	int64_t until = 0;

	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "kid000000001", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "kid000000001", TK_NOW + 1));
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "kid000000001", TK_NOW + 2, NULL));
	/* The third failure is the one that locks, and says so once. */
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "kid000000001", TK_NOW + 2));
	ck_assert(locked_at(LK_LOCKOUT_CREDENTIAL, "kid000000001", TK_NOW + 2, &until));
	ck_assert_int_eq(until, TK_NOW + 2 + DURATION);
	/* Other credentials are not touched. */
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "kid000000002", TK_NOW + 2, NULL));
}
END_TEST

START_TEST(test_window_expires)
{
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + WINDOW - 1));
	/* The window counts from its first failure: this starts a new one. */
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + WINDOW));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + WINDOW + 1));
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + WINDOW + 1, NULL));
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + WINDOW + 2));
	/* A clock that went back before the window started: a new count,
	 * never a negative age that keeps an old window open forever. */
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k2", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k2", TK_NOW + 1));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k2", TK_NOW - 100));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k2", TK_NOW - 99));
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "k2", TK_NOW - 98));
}
END_TEST

START_TEST(test_duration_and_after)
{
	for (int i = 0; i < 2; i++)
		ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
	ck_assert(locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + DURATION - 1, NULL));
	/* Failures while locked neither count nor extend the lock: the answer
	 * is the same whatever is tried. */
	for (int i = 0; i < 10; i++)
		ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + DURATION - 1));
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + DURATION, NULL));
	/* After the lock, counting starts again from one. */
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + DURATION));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + DURATION + 1));
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + DURATION + 2));
}
END_TEST

START_TEST(test_reset_and_clear)
{
	struct lk_err err = { { 0 } };

	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
	ck_assert_int_eq(lk_lockout_reset(e.store, LK_LOCKOUT_CREDENTIAL, "k1", &err), LK_OK);
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + 1));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + 1));
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + 1));
	/* A reset is a count, not a pardon: the lock stays. */
	ck_assert_int_eq(lk_lockout_reset(e.store, LK_LOCKOUT_CREDENTIAL, "k1", &err), LK_OK);
	ck_assert(locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + 2, NULL));
	/* An admin's clear lifts it. */
	ck_assert_int_eq(lk_lockout_clear(e.store, LK_LOCKOUT_CREDENTIAL, "k1", &err), LK_OK);
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW + 2, NULL));
	ck_assert_int_eq(count_sql("SELECT count(*) FROM lockout"), 0);
	/* Nothing to reset or clear is fine. */
	ck_assert_int_eq(lk_lockout_reset(e.store, LK_LOCKOUT_CREDENTIAL, "never", &err), LK_OK);
	ck_assert_int_eq(lk_lockout_clear(e.store, LK_LOCKOUT_SOURCE, "198.51.100.1", &err), LK_OK);
}
END_TEST

START_TEST(test_sources_by_pseudonym)
{
	char ref[LK_SUBJECT_REF_LEN + 1];
	struct lk_err err = { { 0 } };
	long long subjects = lk_store_count(e.store, "subject");

	/* An address never seen is not locked, and checking it records
	 * nothing about it. */
	ck_assert(!locked_at(LK_LOCKOUT_SOURCE, "192.0.2.7", TK_NOW, NULL));
	ck_assert_int_eq(lk_store_count(e.store, "subject"), subjects);
	ck_assert_int_eq(lk_lockout_source_ref(e.store, "192.0.2.7", ref, &err), LK_ENOTFOUND);

	/* Its own limit (5), apart from the credentials' (3); every spelling
	 * of one address is one source. */
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "192.0.2.7", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "::ffff:192.0.2.7", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "::FFFF:192.0.2.7", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "192.0.2.7", TK_NOW));
	ck_assert(!locked_at(LK_LOCKOUT_SOURCE, "192.0.2.7", TK_NOW, NULL));
	ck_assert(fail_at(LK_LOCKOUT_SOURCE, "192.0.2.7", TK_NOW));
	ck_assert(locked_at(LK_LOCKOUT_SOURCE, "::ffff:192.0.2.7", TK_NOW, NULL));
	ck_assert(!locked_at(LK_LOCKOUT_SOURCE, "192.0.2.8", TK_NOW, NULL));

	/* Stored under the pseudonym key verification uses, never the
	 * address. */
	ck_assert_int_eq(lk_lockout_source_ref(e.store, "192.0.2.7", ref, &err), LK_OK);
	ck_assert_int_eq(strncmp(ref, "sub_", 4), 0);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM lockout WHERE kind = 'source'"
	                           " AND id LIKE 'sub_%'"),
	                 1);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM lockout WHERE id LIKE '%192.0.2%'"
	                           " AND kind = 'source'"),
	                 0);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM subject WHERE kind = 'source'"
	                           " AND name = '192.0.2.7'"),
	                 1);
	/* IPv6: one /64 is one source, whichever of its addresses tries. */
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "2001:db8:1:2::1", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "2001:db8:1:2:aaaa::7", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "2001:db8:1:2:ffff:ffff:ffff:ffff", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "2001:DB8:1:2::9", TK_NOW));
	ck_assert(fail_at(LK_LOCKOUT_SOURCE, "2001:db8:1:2:1234::1", TK_NOW));
	ck_assert(locked_at(LK_LOCKOUT_SOURCE, "2001:db8:1:2::42", TK_NOW, NULL));
	ck_assert(!locked_at(LK_LOCKOUT_SOURCE, "2001:db8:1:3::1", TK_NOW, NULL));
	/* A host name (UseDNS) is a source too; a credential of the same name
	 * is another counter. */
	for (int i = 0; i < 4; i++)
		ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "gateway", TK_NOW));
	ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "gateway", TK_NOW));
	ck_assert(fail_at(LK_LOCKOUT_SOURCE, "gateway", TK_NOW));
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "gateway", TK_NOW, NULL));
}
END_TEST

START_TEST(test_limit_zero_counts_nothing)
{
	pol.lockout_credential_failures = 0;
	pol.lockout_source_failures = 0;
	for (int i = 0; i < 50; i++) {
		ck_assert(!fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
		ck_assert(!fail_at(LK_LOCKOUT_SOURCE, "192.0.2.7", TK_NOW));
	}
	ck_assert_int_eq(count_sql("SELECT count(*) FROM lockout"), 0);
	/* A lock set under a policy with a limit is not seen by one without
	 * (that kind is off there), and is seen again by the first. */
	pol.lockout_credential_failures = 1;
	ck_assert(fail_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW));
	pol.lockout_credential_failures = 0;
	ck_assert(!locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW, NULL));
	pol.lockout_credential_failures = 7;
	ck_assert(locked_at(LK_LOCKOUT_CREDENTIAL, "k1", TK_NOW, NULL));
}
END_TEST

START_TEST(test_bad_ids)
{
	static const char *const bad_credentials[] = { "", "a b", "k1;DROP", "k\n1", NULL };
	static const char *const bad_sources[] = { "", "a\nb", "x\x1b[31m" };
	struct lk_err err = { { 0 } };
	char long_id[128];
	bool b;
	struct tk_snapshot before;

	tk_snapshot(e.store, &before);
	memset(long_id, 'k', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad_credentials) / sizeof(bad_credentials[0]); i++) {
		ck_assert_int_eq(lk_lockout_fail(e.store, &pol, LK_LOCKOUT_CREDENTIAL,
		                                 bad_credentials[i], TK_NOW, &b, &err),
		                 LK_EINVAL);
		ck_assert_int_eq(lk_lockout_check(e.store, &pol, LK_LOCKOUT_CREDENTIAL,
		                                  bad_credentials[i], TK_NOW, &b, NULL, &err),
		                 LK_EINVAL);
	}
	ck_assert_int_eq(
	    lk_lockout_fail(e.store, &pol, LK_LOCKOUT_CREDENTIAL, long_id, TK_NOW, &b, &err),
	    LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "bad credential id 'kkkk"));
	for (size_t i = 0; i < sizeof(bad_sources) / sizeof(bad_sources[0]); i++)
		ck_assert_int_eq(lk_lockout_fail(e.store, &pol, LK_LOCKOUT_SOURCE, bad_sources[i],
		                                 TK_NOW, &b, &err),
		                 LK_EINVAL);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM lockout"), 0);
	tk_assert_unchanged(e.store, &before);
}
END_TEST

Suite *lockout_suite(void);

Suite *lockout_suite(void)
{
	Suite *s = suite_create("lockout");
	TCase *tc = tcase_create("counters");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_threshold_locks);
	tcase_add_test(tc, test_window_expires);
	tcase_add_test(tc, test_duration_and_after);
	tcase_add_test(tc, test_reset_and_clear);
	tcase_add_test(tc, test_sources_by_pseudonym);
	tcase_add_test(tc, test_limit_zero_counts_nothing);
	tcase_add_test(tc, test_bad_ids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(lockout_suite());
}
