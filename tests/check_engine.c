/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine end to end, in process: policy files in a temp policy dir,
 * real plugins (apikey, lktest_ok) copied into a temp plugin dir, and the
 * decision's audit row.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine-private.h"
#include "testutil.h"

#define DAY INT64_C(86400)

static struct tk_env e;
static char plugin_dir[PATH_MAX + 32], policy_dir[PATH_MAX + 32];
static struct lk_engine *engine;

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	ck_assert_msg(in >= 0, "cannot open %s (is the build complete?)", from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(fchmod(out, 0644), 0);
	close(in);
	close(out);
}

static void install_plugin(const char *env_var, const char *file, const char *name)
{
	const char *dir = getenv(env_var);
	char from[PATH_MAX], to[PATH_MAX * 2];

	ck_assert_msg(dir != NULL, "%s is not set (run through make check)", env_var);
	snprintf(from, sizeof(from), "%s/%s", dir, file);
	snprintf(to, sizeof(to), "%s/%s.so", plugin_dir, name);
	copy_file(from, to);
}

static void write_policy(const char *service, const char *body)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.xml", policy_dir, service);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "<policy xmlns=\"urn:latchkey:policy:1\" %s</policy>\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

static void setup(void)
{
	struct lk_err err = { { 0 } };

	tk_setup(&e);
	snprintf(plugin_dir, sizeof(plugin_dir), "%s/plugins", e.dir);
	snprintf(policy_dir, sizeof(policy_dir), "%s/policies", e.dir);
	ck_assert_int_eq(mkdir(plugin_dir, 0700), 0);
	install_plugin("LK_APIKEY_PLUGIN_DIR", "apikey.so", "apikey");
	install_plugin("LK_TEST_PLUGIN_DIR", "lktest_ok.so", "lktest_ok");
	write_policy("web", "service=\"web\" environment=\"prod\">"
	                    "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                    "<scopes><scope>web:read</scope></scopes>"
	                    "<step-up plugin=\"lktest_ok\"><scope>web:admin</scope></step-up>");
	write_policy("devweb", "service=\"devweb\" environment=\"dev\">"
	                       "<stack><step plugin=\"apikey\" control=\"required\"/></stack>");
	ck_assert_msg(lk_engine_new(e.store, policy_dir, plugin_dir, &engine, &err) == LK_OK, "%s",
	              err.msg);
}

static void teardown(void)
{
	lk_engine_free(engine);
	engine = NULL;
	tk_teardown(&e);
}

/* Issues a key for owner with the given scope in env. */
static void issue(const char *owner, const char *env, const char *scope, char *key)
{
	tk_issue(&e, owner, env, scope, 30 * DAY, key, NULL);
}

static void auth(const char *service, const char *user, const char *key, const char *scope,
                 struct lk_auth_result *res)
{
	struct lk_plugin_input in = { "apikey", key, key != NULL ? strlen(key) : 0 };
	const char *scopes[] = { scope };
	struct lk_err err = { { 0 } };
	struct lk_auth_request req = {
		.service = service,
		.user = user,
		.rhost = "192.0.2.10",
		.scopes = scopes,
		.n_scopes = scope != NULL ? 1 : 0,
		.inputs = key != NULL ? &in : NULL,
		.n_inputs = key != NULL ? 1 : 0,
		.actor = 33,
	};

	ck_assert_msg(lk_engine_authenticate(engine, &req, TK_NOW, res, &err) == LK_OK, "%s",
	              err.msg);
}

/* The newest audit row, as text fields. */
static void last_audit(char *action, char *reason, char *detail, size_t len)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT action, reason, detail FROM audit"
	                                    " ORDER BY seq DESC LIMIT 1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(action, len, "%s", sqlite3_column_text(st, 0));
	snprintf(reason, len, "%s", sqlite3_column_text(st, 1));
	snprintf(detail, len, "%s", sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
}

START_TEST(test_apikey_accepted)
{
	char key[LK_KEY_MAX_LEN + 1], action[512], reason[512], detail[512];
	struct lk_auth_result res;

	issue("alice", "prod", "web:read", key);
	auth("web", "alice", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_str_eq(res.reason, "ok");
	ck_assert_str_eq(res.principal, "alice");
	ck_assert_uint_eq(res.factors, LK_FACTOR_API_KEY);
	ck_assert_uint_eq(strlen(res.policy_hash), 64);
	/* The decision is in the chain, with the policy's hash. */
	last_audit(action, reason, detail, sizeof(action));
	ck_assert_str_eq(action, "auth.decision");
	ck_assert_str_eq(reason, "ok");
	ck_assert_ptr_nonnull(strstr(detail, res.policy_hash));
	ck_assert_ptr_nonnull(strstr(detail, "service=web"));
	ck_assert_ptr_nonnull(strstr(detail, "steps=apikey:ok"));
	ck_assert_ptr_null(strstr(detail, key + 21));
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_same_key_refused_by_other_environment)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	issue("alice", "prod", "web:read", key);
	auth("devweb", "alice", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "wrong-environment");
	ck_assert_str_eq(res.principal, "");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_policy_scope_enforced)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	issue("bob", "prod", "other:scope", key);
	auth("web", "bob", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "scope-missing");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_user_must_be_principal)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	issue("alice", "prod", "web:read", key);
	auth("web", "mallory", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "user-mismatch");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_missing_input_prompts)
{
	struct lk_auth_result res;
	long long before = lk_store_count(e.store, "audit");

	auth("web", "alice", NULL, NULL, &res);
	ck_assert(res.need_input);
	ck_assert_int_eq(res.pam_code, PAM_INCOMPLETE);
	ck_assert_str_eq(res.prompt_input, "apikey");
	ck_assert_int_eq(res.prompt_echo, 0);
	/* Nothing was decided, so nothing but plugin evidence was recorded. */
	ck_assert_int_le(lk_store_count(e.store, "audit") - before, 1);
}
END_TEST

START_TEST(test_stepup_runs_extra_factor)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	/* lktest_ok (step-up for web:admin) is configured by the policy with
	 * no arguments: it succeeds for the established principal. */
	tk_issue(&e, "carol", "prod", "web:read", 30 * DAY, key, NULL);
	write_policy("admin", "service=\"admin\" environment=\"prod\">"
	                      "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                      "<step-up plugin=\"lktest_ok\"><scope>web:read</scope></step-up>");
	auth("admin", "carol", key, "web:read", &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	/* Without the step-up scope the extra step does not run. */
	write_policy("deny2", "service=\"deny2\" environment=\"prod\">"
	                      "<stack><step plugin=\"apikey\" control=\"required\"/>"
	                      "<step plugin=\"lktest_ok\" control=\"required\">"
	                      "<arg>decision=deny</arg><arg>reason=second-factor</arg></step>"
	                      "</stack>");
	auth("deny2", "carol", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "second-factor");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_no_policy_denies)
{
	struct lk_auth_result res;
	char action[512], reason[512], detail[512];

	auth("nosuch", "alice", "x", NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "no-policy");
	last_audit(action, reason, detail, sizeof(action));
	ck_assert_str_eq(action, "auth.decision");
	ck_assert_str_eq(reason, "no-policy");
}
END_TEST

START_TEST(test_invalid_policy_denies)
{
	struct lk_auth_result res;

	write_policy("broken", "service=\"broken\" environment=\"prod\">"
	                       "<stack><step plugin=\"apikey\" control=\"include\"/></stack>");
	auth("broken", "alice", "x", NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "policy-invalid");
	/* A policy for another service under this name is invalid too. */
	write_policy("alias", "service=\"web\" environment=\"prod\">"
	                      "<stack><step plugin=\"apikey\" control=\"required\"/></stack>");
	auth("alias", "alice", "x", NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "policy-invalid");
}
END_TEST

START_TEST(test_missing_plugin_fails_step)
{
	struct lk_auth_result res;
	char action[512], reason[512], detail[512];
	sqlite3_stmt *st;

	write_policy("ghost", "service=\"ghost\" environment=\"prod\">"
	                      "<stack><step plugin=\"nosuchplugin\" control=\"required\"/>"
	                      "<step plugin=\"lktest_ok\" control=\"optional\"/></stack>");
	auth("ghost", "alice", NULL, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SYSTEM_ERR);
	ck_assert_str_eq(res.reason, "plugin-unavailable");
	last_audit(action, reason, detail, sizeof(action));
	ck_assert_ptr_nonnull(strstr(detail, "nosuchplugin:plugin-unavailable"));
	/* ...and the load failure has its own audit event. */
	ck_assert_int_eq(
	    sqlite3_prepare_v2(e.store->db,
	                       "SELECT count(*) FROM audit WHERE action = 'plugin.load'"
	                       " AND reason = 'failed' AND detail LIKE "
	                       "'name=nosuchplugin %'",
	                       -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
}
END_TEST

START_TEST(test_bad_plugin_results_fail)
{
	static const char *const args[] = { "<arg>decision=garbage</arg>", "<arg>fail_init=1</arg>",
		                            "<arg>fail_auth=1</arg>",
		                            "<arg>reason=BAD REASON</arg>" };
	struct lk_auth_result res;
	char body[512];

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		snprintf(body, sizeof(body),
		         "service=\"odd\" environment=\"prod\"><stack>"
		         "<step plugin=\"lktest_ok\" control=\"required\">%s"
		         "<arg>principal=alice</arg></step></stack>",
		         args[i]);
		write_policy("odd", body);
		auth("odd", "alice", NULL, NULL, &res);
		ck_assert_msg(res.pam_code != PAM_SUCCESS, "%s passed", args[i]);
	}
}
END_TEST

START_TEST(test_plugin_evidence_once)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;
	sqlite3_stmt *st;

	issue("alice", "prod", "web:read", key);
	auth("web", "alice", key, NULL, &res);
	auth("web", "alice", key, NULL, &res);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT count(*), min(name), min(length(sha256))"
	                                    " FROM plugin_evidence",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "apikey");
	ck_assert_int_eq(sqlite3_column_int(st, 2), 64);
	sqlite3_finalize(st);
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_revoked_key_next_request)
{
	char key[LK_KEY_MAX_LEN + 1], kid[LK_KID_LEN + 1];
	struct lk_auth_result res;
	struct lk_err err = { { 0 } };

	tk_issue(&e, "alice", "prod", "web:read", 30 * DAY, key, kid);
	auth("web", "alice", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_int_eq(lk_key_revoke(e.store, kid, "test", 0, TK_NOW, &err), LK_OK);
	auth("web", "alice", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "revoked");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_bad_requests)
{
	struct lk_auth_result res;
	struct lk_err err = { { 0 } };
	const char *bad_scope[] = { "a b" };
	struct tk_snapshot before;

	tk_snapshot(e.store, &before);
	ck_assert_int_eq(lk_engine_authenticate(engine,
	                                        &(struct lk_auth_request){ .service = "../x" },
	                                        TK_NOW, &res, &err),
	                 LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "../x"));
	ck_assert_int_eq(lk_engine_authenticate(engine,
	                                        &(struct lk_auth_request){ .service = NULL },
	                                        TK_NOW, &res, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(
	    lk_engine_authenticate(
	        engine,
	        &(struct lk_auth_request){ .service = "web", .scopes = bad_scope, .n_scopes = 1 },
	        TK_NOW, &res, &err),
	    LK_EINVAL);
	tk_assert_unchanged(e.store, &before);
}
END_TEST

/* A plugin's store access reaches its own tables and nothing else. */
START_TEST(test_plugin_store_confined)
{
	struct lk_auth_result res;
	struct tk_snapshot before;

	write_policy("store", "service=\"store\" environment=\"prod\"><stack>"
	                      "<step plugin=\"lktest_ok\" control=\"required\">"
	                      "<arg>store=probe</arg><arg>principal=alice</arg></step></stack>");
	auth("store", "alice", NULL, NULL, &res);
	ck_assert_msg(res.pam_code == PAM_SUCCESS, "%s", res.reason);
	tk_snapshot(e.store, &before);
	auth("store", "alice", NULL, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	/* The step's reason carries the plugin's own row count: state kept. */
	{
		char action[512], reason[512], detail[512];
		last_audit(action, reason, detail, sizeof(action));
		ck_assert_ptr_nonnull(strstr(detail, "lktest_ok:store-ok-2"));
	}
	/* Its writes never touched keys or subjects. */
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), before.keys);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), before.subjects);
}
END_TEST

/* A service's key rules: a valid key issued for longer than the service
 * accepts is refused by that service (and still works elsewhere). */
START_TEST(test_policy_key_rules)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	tk_issue(&e, "dora", "prod", "web:read", 60 * DAY, key, NULL);
	write_policy("strict", "service=\"strict\" environment=\"prod\">"
	                       "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                       "<key-rules max-lifetime=\"30d\" rotation-grace=\"1h\"/>");
	auth("strict", "dora", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "key-rules");
	auth("web", "dora", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	sodium_memzero(key, sizeof(key));
	/* Exactly the maximum is accepted. */
	tk_issue(&e, "dora", "prod", "web:read", 30 * DAY, key, NULL);
	auth("strict", "dora", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* A step-up factor cannot be waived by the stack: not by listing the same
 * plugin as optional, nor by a sufficient step that ends the stack early.
 * ("ghostmfa" is not installed, so the factor can never succeed.) */
START_TEST(test_stepup_not_waived)
{
	static const char *const stacks[] = {
		"<step plugin=\"apikey\" control=\"required\"/>"
		"<step plugin=\"ghostmfa\" control=\"optional\"/>",
		"<step plugin=\"apikey\" control=\"sufficient\"/>"
		"<step plugin=\"ghostmfa\" control=\"required\"/>",
	};
	char key[LK_KEY_MAX_LEN + 1], body[1024];
	struct lk_auth_result res;

	tk_issue(&e, "erin", "prod", "web:read", 30 * DAY, key, NULL);
	for (size_t i = 0; i < sizeof(stacks) / sizeof(stacks[0]); i++) {
		snprintf(body, sizeof(body),
		         "service=\"mfa\" environment=\"prod\"><stack>%s</stack>"
		         "<step-up plugin=\"ghostmfa\"/>",
		         stacks[i]);
		write_policy("mfa", body);
		auth("mfa", "erin", key, NULL, &res);
		ck_assert_msg(res.pam_code != PAM_SUCCESS, "stack %zu waived the step-up", i);
		ck_assert_str_eq(res.reason, "plugin-unavailable");
	}
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* The request's scopes are added to the policy's, never truncated. */
START_TEST(test_scope_union_never_truncated)
{
	char body[4096], key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;
	size_t len;

	len = (size_t)snprintf(body, sizeof(body),
	                       "service=\"many\" environment=\"prod\"><stack>"
	                       "<step plugin=\"apikey\" control=\"required\"/></stack><scopes>");
	for (int i = 0; i < LK_SCOPES_MAX; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "<scope>s%d</scope>", i);
	snprintf(body + len, sizeof(body) - len, "</scopes>");
	write_policy("many", body);
	tk_issue(&e, "frank", "prod", "s0", 30 * DAY, key, NULL);
	auth("many", "frank", key, "web:admin", &res);
	ck_assert_int_ne(res.pam_code, PAM_SUCCESS);
	ck_assert_str_eq(res.reason, "too-many-scopes");
	sodium_memzero(key, sizeof(key));
}
END_TEST

Suite *engine_suite(void);

Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_apikey_accepted);
	tcase_add_test(tc, test_same_key_refused_by_other_environment);
	tcase_add_test(tc, test_policy_scope_enforced);
	tcase_add_test(tc, test_user_must_be_principal);
	tcase_add_test(tc, test_missing_input_prompts);
	tcase_add_test(tc, test_stepup_runs_extra_factor);
	tcase_add_test(tc, test_no_policy_denies);
	tcase_add_test(tc, test_invalid_policy_denies);
	tcase_add_test(tc, test_missing_plugin_fails_step);
	tcase_add_test(tc, test_bad_plugin_results_fail);
	tcase_add_test(tc, test_plugin_evidence_once);
	tcase_add_test(tc, test_revoked_key_next_request);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_plugin_store_confined);
	tcase_add_test(tc, test_policy_key_rules);
	tcase_add_test(tc, test_stepup_not_waived);
	tcase_add_test(tc, test_scope_union_never_truncated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(engine_suite());
}
