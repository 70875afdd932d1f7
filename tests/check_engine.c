/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine end to end, in process: policy files in a temp policy dir,
 * real plugins (apikey, lktest_ok) copied into a temp plugin dir, and the
 * decision's audit row.
 */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine-private.h"
#include "lockout-private.h"
#include "testutil.h"
#include "totp-private.h"

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
	install_plugin("LK_TOTP_PLUGIN_DIR", "totp.so", "totp");
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

/* Every policy put in service is on record with its required factors: the
 * fewest distinct plugins any success under it passes (core/engine.c,
 * policy_required_factors), and its load is audited. */
START_TEST(test_policy_evidence_required_factors)
{
	static const struct {
		const char *service, *body;
		int want;
	} cases[] = {
		{ "two",
		  "<stack><step plugin=\"apikey\" control=\"required\"/>"
		  "<step plugin=\"totp\" control=\"required\"/></stack>",
		  2 },
		/* A sufficient step is a path of its own: one factor. */
		{ "alt",
		  "<stack><step plugin=\"apikey\" control=\"sufficient\"/>"
		  "<step plugin=\"totp\" control=\"required\"/></stack>",
		  1 },
		/* Required steps before a sufficient one stay on its path. */
		{ "before",
		  "<stack><step plugin=\"apikey\" control=\"required\"/>"
		  "<step plugin=\"totp\" control=\"sufficient\"/>"
		  "<step plugin=\"lktest_ok\" control=\"required\"/></stack>",
		  2 },
		{ "opt",
		  "<stack><step plugin=\"apikey\" control=\"required\"/>"
		  "<step plugin=\"totp\" control=\"optional\"/></stack>",
		  1 },
		/* A step-up with no scopes applies always; the same plugin twice
		 * is one factor. */
		{ "always",
		  "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
		  "<step-up plugin=\"totp\"/><step-up plugin=\"apikey\"/>",
		  2 },
	};
	char body[512], sql[256];
	struct lk_err err = { { 0 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "service=\"%s\" environment=\"prod\">%s",
		         cases[i].service, cases[i].body);
		write_policy(cases[i].service, body);
	}
	ck_assert_msg(lk_engine_reload(engine, TK_ACTOR, &err) == LK_OK, "%s", err.msg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(sql, sizeof(sql),
		         "SELECT required_factors FROM policy_evidence WHERE service = '%s'",
		         cases[i].service);
		ck_assert_msg(tk_count(e.store->db, sql) == cases[i].want, "%s: %lld, not %d",
		              cases[i].service, tk_count(e.store->db, sql), cases[i].want);
	}
	/* web's step-up is for web:admin only, which the policy does not
	 * require: not counted. */
	ck_assert_int_eq(tk_count(e.store->db, "SELECT required_factors FROM policy_evidence "
	                                       "WHERE service = 'web'"),
	                 1);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM policy_evidence p JOIN audit a"
	                                       " ON a.action = 'policy.load' AND a.reason = 'ok'"
	                                       " AND a.detail = 'service=' || p.service ||"
	                                       " ' policy=' || p.sha256"),
	                 7);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM policy_evidence WHERE steps ="
	                                       " 'apikey required, totp sufficient, lktest_ok "
	                                       "required'"),
	                 1);
	/* A reload with nothing changed audits nothing new, and keeps one row
	 * per policy. */
	ck_assert_msg(lk_engine_reload(engine, TK_ACTOR, &err) == LK_OK, "%s", err.msg);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM policy_evidence"), 7);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM audit WHERE action = "
	                                       "'policy.load'"),
	                 7);
}
END_TEST

/* Without the daemon's cache (latchkey auth): the policy of a decision is
 * put on record as the request loads it. */
START_TEST(test_policy_evidence_per_request)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	issue("alice", "prod", "web:read", key);
	auth("web", "alice", key, NULL, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM policy_evidence p JOIN audit a"
	                                       " ON a.action = 'auth.decision' AND instr(a.detail,"
	                                       " 'policy=' || p.sha256) > 0"
	                                       " WHERE p.service = 'web' AND p.steps = 'apikey "
	                                       "required; step-up lktest_ok for web:admin'"),
	                 1);
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

/* ---- TOTP through the engine, and lockout ---- */

#define STEP INT64_C(30)

/* Enrolled (and confirmed) well before the tests' "now". */
static void enroll(const char *user, struct tk_totp *u)
{
	tk_totp_enroll(e.store, user, TK_NOW - 10 * STEP, u);
}

/* One request with any of key, code and scope (NULL: left out), from
 * rhost, at now. */
struct req {
	const char *service, *user, *rhost, *key, *code, *scope;
	int64_t now;
};

static void auth_req(const struct req *q, struct lk_auth_result *res)
{
	struct lk_plugin_input in[2];
	const char *scopes[] = { q->scope };
	struct lk_err err = { { 0 } };
	size_t n = 0;

	if (q->key != NULL)
		in[n++] = (struct lk_plugin_input){ "apikey", q->key, strlen(q->key) };
	if (q->code != NULL)
		in[n++] = (struct lk_plugin_input){ "otp", q->code, strlen(q->code) };
	ck_assert_msg(lk_engine_authenticate(engine,
	                                     &(struct lk_auth_request){
	                                         .service = q->service,
	                                         .user = q->user,
	                                         .rhost = q->rhost,
	                                         .scopes = scopes,
	                                         .n_scopes = q->scope != NULL ? 1 : 0,
	                                         .inputs = n > 0 ? in : NULL,
	                                         .n_inputs = n,
	                                         .actor = 33,
	                                     },
	                                     q->now != 0 ? q->now : TK_NOW, res, &err) == LK_OK,
	              "%s", err.msg);
}

static long long count_where(const char *sql)
{
	return tk_count(e.store->db, sql);
}

#define APIKEY_THEN_TOTP                                        \
	"<stack><step plugin=\"apikey\" control=\"required\"/>" \
	"<step plugin=\"totp\" control=\"required\"/></stack>"

START_TEST(test_totp_in_stack)
{
	char key[LK_KEY_MAX_LEN + 1], code[16], action[512], reason[512], detail[512];
	struct tk_totp u;
	struct lk_auth_result res;

	write_policy("mfa", "service=\"mfa\" environment=\"prod\">" APIKEY_THEN_TOTP);
	issue("alice", "prod", "web:read", key);
	enroll("alice", &u);
	/* The key alone: asked for the code, nothing decided. */
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, NULL, NULL, 0 }, &res);
	ck_assert(res.need_input);
	ck_assert_str_eq(res.prompt_input, "otp");
	ck_assert_str_eq(res.prompt_text, "Verification code: ");
	ck_assert_int_eq(res.prompt_echo, 0);
	/* Key and code. */
	tk_totp_code(&u, TK_NOW, code);
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, code, NULL, 0 }, &res);
	ck_assert_msg(res.pam_code == PAM_SUCCESS, "%s", res.reason);
	ck_assert_uint_eq(res.factors, LK_FACTOR_API_KEY | LK_FACTOR_TOTP);
	ck_assert_str_eq(res.principal, "alice");
	last_audit(action, reason, detail, sizeof(action));
	ck_assert_ptr_nonnull(strstr(detail, "steps=apikey:ok,totp:ok"));
	ck_assert_ptr_null(strstr(detail, code));
	/* The same code again, even a second later: replayed. */
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, code, NULL, TK_NOW + 1 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "replayed");
	ck_assert_uint_eq(res.factors, 0);
	/* A wrong code; a code that is no code. */
	snprintf(code, sizeof(code), "%06d", (atoi(code) + 1) % 1000000);
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, code, NULL, TK_NOW + STEP },
	         &res);
	ck_assert_str_eq(res.reason, "bad-code");
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, "12a456", NULL, TK_NOW + STEP },
	         &res);
	ck_assert_str_eq(res.reason, "malformed");
	/* The next step's code works. */
	tk_totp_code(&u, TK_NOW + STEP, code);
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, code, NULL, TK_NOW + STEP },
	         &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* Whose code: the principal the key proved, else PAM_USER; never a user
 * who is not enrolled, by default. */
START_TEST(test_totp_whose_code)
{
	char key[LK_KEY_MAX_LEN + 1], bob_key[LK_KEY_MAX_LEN + 1], code[16];
	struct tk_totp alice, bob;
	struct lk_auth_result res;

	write_policy("mfa", "service=\"mfa\" environment=\"prod\">" APIKEY_THEN_TOTP);
	issue("alice", "prod", "web:read", key);
	issue("bob", "prod", "web:read", bob_key);
	enroll("alice", &alice);
	enroll("bob", &bob);
	/* No PAM_USER: alice's key makes alice the principal, so alice's
	 * code is checked, and bob's code is wrong for her. */
	tk_totp_code(&bob, TK_NOW, code);
	auth_req(&(struct req){ "mfa", NULL, NULL, key, code, NULL, 0 }, &res);
	ck_assert_str_eq(res.reason, "bad-code");
	tk_totp_code(&alice, TK_NOW, code);
	auth_req(&(struct req){ "mfa", NULL, NULL, key, code, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_str_eq(res.principal, "alice");
	/* bob's key with PAM_USER alice and alice's next code: the key's
	 * principal is bob, so bob's credential is checked (and alice's code
	 * fails it), and the user does not match anyway. */
	tk_totp_code(&alice, TK_NOW + STEP, code);
	auth_req(&(struct req){ "mfa", "alice", NULL, bob_key, code, NULL, TK_NOW + STEP }, &res);
	ck_assert_int_ne(res.pam_code, PAM_SUCCESS);
	ck_assert_str_eq(res.reason, "bad-code");
	/* carol has a key but no TOTP: denied (the default). */
	sodium_memzero(key, sizeof(key));
	issue("carol", "prod", "web:read", key);
	auth_req(&(struct req){ "mfa", "carol", NULL, key, "123456", NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "not-enrolled");
	/* A code alone, no key: TOTP proves no principal. */
	tk_totp_code(&alice, TK_NOW + 2 * STEP, code);
	write_policy("otponly", "service=\"otponly\" environment=\"prod\"><stack>"
	                        "<step plugin=\"totp\" control=\"required\"/></stack>");
	auth_req(&(struct req){ "otponly", "alice", NULL, NULL, code, NULL, TK_NOW + 2 * STEP },
	         &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "no-principal");
	sodium_memzero(key, sizeof(key));
	sodium_memzero(bob_key, sizeof(bob_key));
}
END_TEST

/* TOTP as a step-up for one scope: only requests needing it are asked. */
START_TEST(test_totp_stepup)
{
	char key[LK_KEY_MAX_LEN + 1], code[16];
	struct tk_totp u;
	struct lk_auth_result res;

	write_policy("admin", "service=\"admin\" environment=\"prod\">"
	                      "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                      "<step-up plugin=\"totp\"><scope>web:admin</scope></step-up>");
	tk_issue(&e, "alice", "prod", "web:admin", 30 * DAY, key, NULL);
	enroll("alice", &u);
	auth_req(&(struct req){ "admin", "alice", NULL, key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_uint_eq(res.factors, LK_FACTOR_API_KEY);
	auth_req(&(struct req){ "admin", "alice", NULL, key, NULL, "web:admin", 0 }, &res);
	ck_assert(res.need_input);
	ck_assert_str_eq(res.prompt_input, "otp");
	tk_totp_code(&u, TK_NOW, code);
	auth_req(&(struct req){ "admin", "alice", NULL, key, code, "web:admin", 0 }, &res);
	ck_assert_msg(res.pam_code == PAM_SUCCESS, "%s", res.reason);
	ck_assert_uint_eq(res.factors, LK_FACTOR_API_KEY | LK_FACTOR_TOTP);
	auth_req(&(struct req){ "admin", "alice", NULL, key, code, "web:admin", 0 }, &res);
	ck_assert_str_eq(res.reason, "replayed");
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* rollout=DATE: until then a user who has not enrolled passes the step-up
 * unprompted, without a TOTP factor, and the decision says so; enrolled
 * users still need their code; from that date on, denied. */
START_TEST(test_totp_rollout)
{
	char key[LK_KEY_MAX_LEN + 1], alice_key[LK_KEY_MAX_LEN + 1], code[16], action[512],
	    reason[512], detail[512];
	struct tk_totp u;
	struct lk_auth_result res;
	/* TK_NOW is 2026-11-01T00:00:00Z. */
	const int64_t end = TK_NOW + 14 * DAY;

	write_policy("roll", "service=\"roll\" environment=\"prod\">"
	                     "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                     "<step-up plugin=\"totp\"><arg>rollout=2026-11-15</arg></step-up>");
	issue("dave", "prod", "web:read", key);
	auth_req(&(struct req){ "roll", "dave", NULL, key, NULL, NULL, 0 }, &res);
	ck_assert_msg(res.pam_code == PAM_SUCCESS, "%s", res.reason);
	ck_assert(!res.need_input);
	ck_assert_uint_eq(res.factors, LK_FACTOR_API_KEY);
	last_audit(action, reason, detail, sizeof(action));
	ck_assert_str_eq(action, "auth.decision");
	ck_assert_ptr_nonnull(strstr(detail, "totp:not-enrolled-grace"));
	/* The last second of the grace, and the first after it. */
	auth_req(&(struct req){ "roll", "dave", NULL, key, NULL, NULL, end - 1 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	auth_req(&(struct req){ "roll", "dave", NULL, key, NULL, NULL, end }, &res);
	ck_assert(res.need_input);
	auth_req(&(struct req){ "roll", "dave", NULL, key, "123456", NULL, end }, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "not-enrolled");
	/* An enrolled user is asked for the code during the rollout too. */
	issue("alice", "prod", "web:read", alice_key);
	enroll("alice", &u);
	auth_req(&(struct req){ "roll", "alice", NULL, alice_key, NULL, NULL, 0 }, &res);
	ck_assert(res.need_input);
	auth_req(&(struct req){ "roll", "alice", NULL, alice_key, "000000", NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	tk_totp_code(&u, TK_NOW, code);
	auth_req(&(struct req){ "roll", "alice", NULL, alice_key, code, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_uint_eq(res.factors, LK_FACTOR_API_KEY | LK_FACTOR_TOTP);
	/* A rollout more than 366 days ahead is MFA off: the plugin refuses
	 * to start, and the step fails. */
	write_policy("roll", "service=\"roll\" environment=\"prod\">"
	                     "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                     "<step-up plugin=\"totp\"><arg>rollout=2027-11-03</arg></step-up>");
	auth_req(&(struct req){ "roll", "dave", NULL, key, NULL, NULL, 0 }, &res);
	ck_assert_int_ne(res.pam_code, PAM_SUCCESS);
	ck_assert_str_eq(res.reason, "plugin-init-failed");
	sodium_memzero(key, sizeof(key));
	sodium_memzero(alice_key, sizeof(alice_key));
}
END_TEST

/* A request that ends asking for input keeps nothing: a code a step took
 * before a later step prompted is not used up. */
START_TEST(test_incomplete_keeps_nothing)
{
	char key[LK_KEY_MAX_LEN + 1], code[16];
	struct tk_totp u;
	struct lk_auth_result res;
	long long before;

	write_policy("otpfirst", "service=\"otpfirst\" environment=\"prod\"><stack>"
	                         "<step plugin=\"totp\" control=\"required\"/>"
	                         "<step plugin=\"apikey\" control=\"required\"/></stack>");
	issue("alice", "prod", "web:read", key);
	enroll("alice", &u);
	tk_totp_code(&u, TK_NOW, code);
	before = lk_store_count(e.store, "audit");
	auth_req(&(struct req){ "otpfirst", "alice", NULL, NULL, code, NULL, 0 }, &res);
	ck_assert(res.need_input);
	ck_assert_str_eq(res.prompt_input, "apikey");
	ck_assert_int_eq(lk_store_count(e.store, "audit"), before);
	auth_req(&(struct req){ "otpfirst", "alice", NULL, key, code, NULL, 0 }, &res);
	ck_assert_msg(res.pam_code == PAM_SUCCESS, "%s", res.reason);
	sodium_memzero(key, sizeof(key));
}
END_TEST

#define LOCKOUT_POLICY(service, lockout)                       \
	"service=\"" service "\" environment=\"prod\"><stack>" \
	"<step plugin=\"apikey\" control=\"required\"/></stack><lockout " lockout "/>"

/* key with one character of its secret changed: same kid, wrong secret,
 * and a CRC that no longer matches... so the CRC is recomputed. */
static void wrong_secret(const char *key, char *out, size_t outlen)
{
	struct lk_apikey k;

	ck_assert_int_eq(lk_apikey_parse(key, strlen(key), &k), LK_PARSE_OK);
	k.secret[0] = k.secret[0] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(lk_apikey_format(&k, out, outlen), LK_OK);
	lk_apikey_wipe(&k);
}

START_TEST(test_lockout_bad_keys)
{
	char key[LK_KEY_MAX_LEN + 1], bad[LK_KEY_MAX_LEN + 1], kid[LK_KID_LEN + 1], sql[256];
	struct lk_auth_result res;

	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"3\" source-failures=\"0\" "
	                                        "window=\"15m\" duration=\"10m\""));
	tk_issue(&e, "alice", "prod", "web:read", 30 * DAY, key, kid);
	wrong_secret(key, bad, sizeof(bad));
	for (int i = 0; i < 2; i++) {
		auth_req(&(struct req){ "lk", "alice", "192.0.2.10", bad, NULL, NULL, TK_NOW + i },
		         &res);
		ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
		ck_assert_str_eq(res.reason, "bad-secret");
	}
	/* The third locks: PAM_MAXTRIES, and the lockout is audited. */
	auth_req(&(struct req){ "lk", "alice", "192.0.2.10", bad, NULL, NULL, TK_NOW + 2 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-credential");
	snprintf(
	    sql, sizeof(sql),
	    "SELECT count(*) FROM audit WHERE action = 'auth.lockout' AND kid = '%s'"
	    " AND reason = 'locked' AND detail LIKE 'kind=credential service=lk failures=3 %%'",
	    kid);
	ck_assert_int_eq(count_where(sql), 1);
	/* Locked: the right key is refused too, from anywhere. */
	auth_req(&(struct req){ "lk", "alice", "198.51.100.1", key, NULL, NULL, TK_NOW + 3 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-credential");
	ck_assert_str_eq(res.principal, "");
	ck_assert_uint_eq(res.factors, 0);
	/* Other keys are not. */
	{
		char other[LK_KEY_MAX_LEN + 1];
		issue("alice", "prod", "web:read", other);
		auth_req(
		    &(struct req){ "lk", "alice", "192.0.2.10", other, NULL, NULL, TK_NOW + 3 },
		    &res);
		ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
		sodium_memzero(other, sizeof(other));
	}
	/* After the lock's 10 minutes, the key works again. */
	auth_req(&(struct req){ "lk", "alice", "192.0.2.10", key, NULL, NULL, TK_NOW + 2 + 600 },
	         &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_int_eq(count_where("SELECT count(*) FROM audit WHERE action = 'auth.lockout'"),
	                 1);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(bad, sizeof(bad));
}
END_TEST

START_TEST(test_lockout_success_resets)
{
	char key[LK_KEY_MAX_LEN + 1], bad[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"3\""));
	issue("alice", "prod", "web:read", key);
	wrong_secret(key, bad, sizeof(bad));
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 2; i++) {
			auth_req(&(struct req){ "lk", "alice", NULL, bad, NULL, NULL, 0 }, &res);
			ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
		}
		auth_req(&(struct req){ "lk", "alice", NULL, key, NULL, NULL, 0 }, &res);
		ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	}
	ck_assert_int_eq(count_where("SELECT count(*) FROM lockout WHERE locked_until > 0"), 0);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(bad, sizeof(bad));
}
END_TEST

/* A source spraying keys nobody issued is locked, and then refused before
 * any plugin runs; other sources are not. */
START_TEST(test_lockout_source)
{
	char key[LK_KEY_MAX_LEN + 1], unknown[LK_KEY_MAX_LEN + 1], action[512], reason[512],
	    detail[512];
	struct lk_auth_result res;
	long long verifies;

	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"0\" source-failures=\"3\""));
	issue("alice", "prod", "web:read", key);
	for (int i = 0; i < 3; i++) {
		struct lk_apikey k;
		ck_assert_int_eq(lk_apikey_generate("prod", &k), LK_OK);
		ck_assert_int_eq(lk_apikey_format(&k, unknown, sizeof(unknown)), LK_OK);
		lk_apikey_wipe(&k);
		auth_req(
		    &(struct req){ "lk", "alice", "::ffff:203.0.113.9", unknown, NULL, NULL, 0 },
		    &res);
		ck_assert_str_eq(res.reason, i < 2 ? "unknown" : "locked-source");
		ck_assert_int_eq(res.pam_code, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
	}
	ck_assert_int_eq(count_where("SELECT count(*) FROM audit WHERE action = 'auth.lockout'"
	                             " AND subject_ref LIKE 'sub_%' AND kid IS NULL"
	                             " AND detail LIKE 'kind=source %'"),
	                 1);
	ck_assert_int_eq(count_where("SELECT count(*) FROM audit WHERE detail LIKE '%203.0.113%'"),
	                 0);
	/* The right key from there: refused unheard (no key check at all). */
	verifies = count_where("SELECT count(*) FROM audit WHERE action = 'key.verify'");
	auth_req(&(struct req){ "lk", "alice", "203.0.113.9", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-source");
	ck_assert_int_eq(count_where("SELECT count(*) FROM audit WHERE action = 'key.verify'"),
	                 verifies);
	last_audit(action, reason, detail, sizeof(action));
	ck_assert_str_eq(reason, "locked-source");
	ck_assert_ptr_nonnull(strstr(detail, "apikey:not-run"));
	/* From elsewhere, or without a source: fine. */
	auth_req(&(struct req){ "lk", "alice", "203.0.113.10", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	auth_req(&(struct req){ "lk", "alice", NULL, key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	/* A success does not forgive the source. */
	auth_req(&(struct req){ "lk", "alice", "203.0.113.9", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* Root's credentials are never locked unless the policy says
 * include-root="true"; a source that guessed is locked for root too. */
START_TEST(test_lockout_root)
{
	char key[LK_KEY_MAX_LEN + 1], bad[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;

	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"2\" source-failures=\"0\""));
	issue("root", "prod", "web:read", key);
	wrong_secret(key, bad, sizeof(bad));
	for (int i = 0; i < 5; i++) {
		auth_req(&(struct req){ "lk", "root", "192.0.2.99", bad, NULL, NULL, 0 }, &res);
		ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
		ck_assert_str_eq(res.reason, "bad-secret");
	}
	auth_req(&(struct req){ "lk", "root", "192.0.2.99", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	/* A source limit: the guessing address is locked, for root as for
	 * everyone; root from elsewhere still gets in. */
	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"2\" source-failures=\"2\""));
	auth_req(&(struct req){ "lk", "root", "192.0.2.98", bad, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	auth_req(&(struct req){ "lk", "root", "192.0.2.98", bad, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-source");
	auth_req(&(struct req){ "lk", "root", "192.0.2.98", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	auth_req(&(struct req){ "lk", "alice", "192.0.2.98", bad, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-source");
	auth_req(&(struct req){ "lk", "root", "192.0.2.97", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);

	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"2\" source-failures=\"0\" "
	                                        "include-root=\"true\""));
	auth_req(&(struct req){ "lk", "root", "192.0.2.99", bad, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	auth_req(&(struct req){ "lk", "root", "192.0.2.99", bad, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	auth_req(&(struct req){ "lk", "root", "192.0.2.99", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-credential");
	sodium_memzero(key, sizeof(key));
	sodium_memzero(bad, sizeof(bad));
}
END_TEST

/* Only real failures count: garbage, a revoked or expired key, the wrong
 * environment, a missing scope, another user's key, no policy, plugin
 * errors, an unenrolled user and malformed codes never lock anything. */
START_TEST(test_lockout_only_real_failures)
{
	char key[LK_KEY_MAX_LEN + 1], revoked[LK_KEY_MAX_LEN + 1], kid[LK_KID_LEN + 1],
	    noscope[LK_KEY_MAX_LEN + 1], devkey[LK_KEY_MAX_LEN + 1];
	struct lk_auth_result res;
	struct lk_err err = { { 0 } };
	struct tk_totp u;

	write_policy("lk", LOCKOUT_POLICY("lk", "credential-failures=\"1\" source-failures=\"1\""));
	write_policy("lkmfa", "service=\"lkmfa\" environment=\"prod\">" APIKEY_THEN_TOTP
	                      "<lockout credential-failures=\"1\" source-failures=\"1\"/>");
	write_policy("lkplug", "service=\"lkplug\" environment=\"prod\"><stack>"
	                       "<step plugin=\"lktest_ok\" control=\"required\">"
	                       "<arg>decision=deny</arg></step>"
	                       "<step plugin=\"ghost\" control=\"required\"/></stack>"
	                       "<lockout credential-failures=\"1\" source-failures=\"1\"/>");
	issue("alice", "prod", "web:read", key);
	tk_issue(&e, "alice", "prod", "web:read", 30 * DAY, revoked, kid);
	ck_assert_int_eq(lk_key_revoke(e.store, kid, "test", 0, TK_NOW, &err), LK_OK);
	issue("alice", "prod", "other:scope", noscope);
	issue("alice", "dev", "web:read", devkey);
	enroll("bob", &u);
	for (int i = 0; i < 3; i++) {
		const struct req reqs[] = {
			{ "lk", "alice", "192.0.2.50", "lk_prod_garbage", NULL, NULL, 0 },
			{ "lk", "alice", "192.0.2.50", revoked, NULL, NULL, 0 },
			{ "lk", "alice", "192.0.2.50", noscope, NULL, "web:read", 0 },
			{ "lk", "alice", "192.0.2.50", devkey, NULL, NULL, 0 },
			{ "lk", "mallory", "192.0.2.50", key, NULL, NULL, 0 },
			{ "nosuch", "alice", "192.0.2.50", key, NULL, NULL, 0 },
			{ "lkplug", "alice", "192.0.2.50", NULL, NULL, NULL, 0 },
			{ "lkmfa", "alice", "192.0.2.50", key, "123456", NULL, 0 },
			{ "lkmfa", "bob", "192.0.2.50", key, "12345x", NULL, 0 },
		};
		for (size_t j = 0; j < sizeof(reqs) / sizeof(reqs[0]); j++) {
			auth_req(&reqs[j], &res);
			ck_assert_msg(res.pam_code != PAM_SUCCESS && res.pam_code != PAM_MAXTRIES,
			              "request %zu: %d %s", j, res.pam_code, res.reason);
		}
	}
	ck_assert_int_eq(count_where("SELECT count(*) FROM lockout"), 0);
	auth_req(&(struct req){ "lk", "alice", "192.0.2.50", key, NULL, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(revoked, sizeof(revoked));
	sodium_memzero(noscope, sizeof(noscope));
	sodium_memzero(devkey, sizeof(devkey));
}
END_TEST

/* Bad TOTP codes lock the TOTP credential: the right code is then refused
 * too; the key's own count is untouched. */
START_TEST(test_lockout_totp)
{
	char key[LK_KEY_MAX_LEN + 1], code[16], sql[256];
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };
	struct tk_totp u;
	struct lk_auth_result res;

	write_policy("mfa", "service=\"mfa\" environment=\"prod\">" APIKEY_THEN_TOTP
	                    "<lockout credential-failures=\"3\" source-failures=\"0\"/>");
	issue("alice", "prod", "web:read", key);
	enroll("alice", &u);
	ck_assert_int_eq(lk_totp_get(e.store, "alice", &info, &err), LK_OK);
	tk_totp_code(&u, TK_NOW, code);
	snprintf(code, sizeof(code), "%06d", (atoi(code) + 500000) % 1000000);
	for (int i = 0; i < 3; i++) {
		auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, code, NULL, 0 }, &res);
		ck_assert_int_eq(res.pam_code, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
	}
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM audit WHERE action = 'auth.lockout' AND kid = '%s'",
	         info.cred_id);
	ck_assert_int_eq(count_where(sql), 1);
	tk_totp_code(&u, TK_NOW, code);
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.10", key, code, NULL, 0 }, &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-credential");
	/* The key was right every time: not counted, not locked. */
	ck_assert_int_eq(count_where("SELECT count(*) FROM lockout"), 1);
	/* A replayed code counts as a failure too. */
	write_policy("mfa", "service=\"mfa\" environment=\"prod\">" APIKEY_THEN_TOTP
	                    "<lockout credential-failures=\"0\" source-failures=\"2\"/>");
	tk_totp_code(&u, TK_NOW + 20 * STEP, code);
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.11", key, code, NULL, TK_NOW + 20 * STEP },
	         &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.11", key, code, NULL, TK_NOW + 20 * STEP },
	         &res);
	ck_assert_str_eq(res.reason, "replayed");
	auth_req(&(struct req){ "mfa", "alice", "192.0.2.11", key, code, NULL, TK_NOW + 20 * STEP },
	         &res);
	ck_assert_int_eq(res.pam_code, PAM_MAXTRIES);
	ck_assert_str_eq(res.reason, "locked-source");
	sodium_memzero(key, sizeof(key));
}
END_TEST

static int fake_now(void *ctx, int64_t *ret)
{
	(void)ctx;
	*ret = TK_NOW;
	return 0;
}

static void fake_log(void *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

static int fake_verify_totp(void *ctx, const char *code, size_t len, unsigned skew,
                            const struct lk_plugin_request *req, struct lk_plugin_result *res)
{
	(void)ctx;
	(void)code;
	(void)len;
	(void)skew;
	(void)req;
	res->decision = LK_PLUGIN_DENY;
	return 0;
}

/* totp.so exports its entry point only, speaks ABI 1.1, and refuses to
 * start on an engine older than 1.1 (no verify_totp) rather than pass. */
START_TEST(test_totp_plugin_abi)
{
	char path[PATH_MAX * 2];
	const struct lk_plugin *(*entry)(void);
	const struct lk_plugin *p;
	struct lk_plugin_host host = { .abi_major = 1,
		                       .abi_minor = 0,
		                       .struct_size = offsetof(struct lk_plugin_host, verify_totp),
		                       .log = fake_log,
		                       .now = fake_now };
	void *h, *state = NULL;

	snprintf(path, sizeof(path), "%s/totp.so", plugin_dir);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "%s", dlerror());
	*(void **)&entry = dlsym(h, LK_PLUGIN_ENTRY_SYMBOL);
	ck_assert_ptr_nonnull(entry);
	ck_assert_ptr_null(dlsym(h, "totp_init"));
	ck_assert_ptr_null(dlsym(h, "parse_date"));
	p = entry();
	ck_assert_str_eq(p->name, "totp");
	ck_assert_uint_eq(p->abi_major, 1);
	ck_assert_uint_ge(p->abi_minor, 1);
	ck_assert_uint_eq(p->capabilities, LK_PLUGIN_CAP_SECOND_FACTOR | LK_PLUGIN_CAP_PROMPTS);
	ck_assert_int_ne(p->init(&host, NULL, 0, &state), 0);
	ck_assert_ptr_null(state);
	/* On 1.1: arguments checked (the policy parser checks the same, but
	 * a plugin must not trust that it ran). */
	host.struct_size = sizeof(host);
	host.verify_totp = fake_verify_totp;
	{
		static const char *const bad[] = { "skew=11",
			                           "skew=",
			                           "skew=1x",
			                           "rollout=2026-02-30",
			                           "rollout=2028-01-01" /* > 366 days */,
			                           "rollout=soon",
			                           "window=3" };
		static const char *const good[] = { "skew=0", "skew=10", "rollout=2027-11-01" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_msg(p->init(&host, &bad[i], 1, &state) != 0, "%s accepted",
			              bad[i]);
		ck_assert_int_eq(p->init(&host, good, 3, &state), 0);
		p->fini(state);
	}
	dlclose(h);
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
	tcase_add_test(tc, test_policy_evidence_required_factors);
	tcase_add_test(tc, test_policy_evidence_per_request);
	tcase_add_test(tc, test_revoked_key_next_request);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_plugin_store_confined);
	tcase_add_test(tc, test_policy_key_rules);
	tcase_add_test(tc, test_stepup_not_waived);
	tcase_add_test(tc, test_scope_union_never_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("totp-lockout");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_totp_plugin_abi);
	tcase_add_test(tc, test_totp_in_stack);
	tcase_add_test(tc, test_totp_whose_code);
	tcase_add_test(tc, test_totp_stepup);
	tcase_add_test(tc, test_totp_rollout);
	tcase_add_test(tc, test_incomplete_keeps_nothing);
	tcase_add_test(tc, test_lockout_bad_keys);
	tcase_add_test(tc, test_lockout_success_resets);
	tcase_add_test(tc, test_lockout_source);
	tcase_add_test(tc, test_lockout_root);
	tcase_add_test(tc, test_lockout_only_real_failures);
	tcase_add_test(tc, test_lockout_totp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(engine_suite());
}
