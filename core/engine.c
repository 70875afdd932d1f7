/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy engine: one request, one policy, a stack of plugins run with
 * Linux-PAM's control semantics, brute-force lockout around them, one audit
 * row for the decision.
 */
#include "config.h"

#include <security/pam_appl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit-private.h"
#include "certs-private.h"
#include "engine-cache-private.h"
#include "engine-private.h"
#include "keys-private.h"
#include "loader-private.h"
#include "lockout-private.h"
#include "policy-files-private.h"
#include "stack-private.h"
#include "subject-private.h"
#include "totp-private.h"
#include "util-private.h"

#define MAX_RUN_STEPS (LK_POLICY_MAX_STEPS * 2)
/* Credential checks (key or code verifications) one request may make: a
 * plugin calling a host check in a loop must not turn one request into a
 * brute-force run. Each check is counted by lockout like any other. */
#define MAX_CHECKS 16

struct lk_engine {
	struct lk_store *store;
	char *policy_dir;
	char *plugin_dir;
	lk_engine_log_fn *log;
	void *log_ctx;
	/* After lk_engine_reload: policies and plugins from here, not read
	 * per request. */
	struct lk_engine_cache *cache;
};

void lk_engine_set_log(struct lk_engine *engine, lk_engine_log_fn *fn, void *ctx)
{
	engine->log = fn;
	engine->log_ctx = ctx;
}

static void engine_log(struct lk_engine *engine, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void engine_log(struct lk_engine *engine, int level, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (engine->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lk_redact_keys(msg);
	engine->log(engine->log_ctx, level, msg);
}

/* A credential a host check looked at, for lockout. */
struct check {
	char credential[LK_PLUGIN_REASON_MAX]; /* kid or TOTP credential id; "" if none */
	bool ok;                               /* the secret or code was right */
	bool failed; /* a real failure: a guess (host_verify_api_key, totp_result) */
};

/* What the host callbacks need while one request runs. */
struct run {
	struct lk_engine *engine;
	int64_t now;
	int64_t actor;
	const struct lk_policy *policy; /* the policy being run */
	const char *const *scopes;      /* every scope the request needs */
	size_t n_scopes;
	const char *rhost;
	const char *user;      /* PAM_USER, may be NULL */
	const char *principal; /* what earlier steps proved so far ("" if nothing) */
	/* "p<len>_<plugin>_": the tables the plugin being called may touch. */
	char table_prefix[LK_PLUGIN_NAME_MAX + 8];
	struct check checks[MAX_CHECKS];
	size_t n_checks;
	/* The client certificate input's leaf, read once per request (for
	 * certificate-bound keys and the inventory). */
	const struct lk_plugin_input *inputs;
	size_t n_inputs;
	int cert_state; /* 0: not read yet; 1: read; -1: none or unreadable */
	char cert_sha256[LK_CERT_SHA256_HEX + 1];
	bool cert_accepted; /* a step accepted that leaf: the inventory, on success */
	/* The credential a successful step proved (a key outranks a
	 * certificate): what the RESULT names for account management. */
	char ok_credential[LK_PLUGIN_REASON_MAX];
	bool ok_credential_is_key;
};

int lk_engine_new(struct lk_store *store, const char *policy_dir, const char *plugin_dir,
                  struct lk_engine **ret_engine, struct lk_err *err)
{
	struct lk_engine *e;

	if (store == NULL || policy_dir == NULL || plugin_dir == NULL)
		return lk_err_set(err, LK_EINVAL,
		                  "engine needs a store, a policy and a plugin directory");
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->policy_dir = strdup(policy_dir)) == NULL ||
	    (e->plugin_dir = strdup(plugin_dir)) == NULL) {
		lk_engine_free(e);
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	}
	e->store = store;
	*ret_engine = e;
	return LK_OK;
}

void lk_engine_free(struct lk_engine *engine)
{
	if (engine == NULL)
		return;
	lk_engine_cache_free(engine->cache);
	free(engine->policy_dir);
	free(engine->plugin_dir);
	free(engine);
}

/* ---- host services offered to plugins ------------------------------- */

static void host_log(void *ctx, int level, const char *fmt, ...)
{
	/* Through the redactor, so a plugin bug cannot log a key. */
	struct lk_engine *engine = ((struct run *)ctx)->engine;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	engine_log(engine, level, "plugin: %s", msg);
}

static void *host_secure_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return sodium_malloc(size);
}

static void host_secure_free(void *ctx, void *ptr)
{
	(void)ctx;
	sodium_free(ptr);
}

static int host_now(void *ctx, int64_t *ret_now)
{
	*ret_now = ((struct run *)ctx)->now;
	return 0;
}

/* Files the policy names for the plugin: checked and read by the core
 * (policy-files-private.h). A refusal is logged with the rule it broke,
 * since the plugin only learns that it failed. */
static int host_read_file(void *ctx, const char *path, size_t max_size,
                          int (*cb)(void *cb_ctx, const unsigned char *data, size_t len,
                                    uint64_t stamp),
                          void *cb_ctx)
{
	struct run *run = ctx;
	struct lk_err err = { { 0 } };
	unsigned char *data = NULL;
	size_t len = 0;
	uint64_t stamp = 0;
	int r;

	if (cb == NULL || lk_policy_file_read(path, max_size, &data, &len, &stamp, &err) < 0) {
		if (cb != NULL)
			engine_log(run->engine, LK_LOG_ERR, "plugin file refused: %s", err.msg);
		return -1;
	}
	r = cb(cb_ctx, data, len, stamp);
	free(data);
	return r;
}

static int host_list_dir(void *ctx, const char *path, int (*cb)(void *cb_ctx, const char *name),
                         void *cb_ctx)
{
	struct run *run = ctx;
	struct lk_err err = { { 0 } };
	char **names = NULL;
	size_t n = 0;
	int r = 0;

	if (cb == NULL || lk_policy_dir_list(path, &names, &n, &err) < 0) {
		if (cb != NULL)
			engine_log(run->engine, LK_LOG_ERR, "plugin directory refused: %s",
			           err.msg);
		return -1;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		r = cb(cb_ctx, names[i]);
	lk_policy_dir_free(names, n);
	return r;
}

static int host_file_stamp(void *ctx, const char *path, uint64_t *ret_stamp)
{
	struct run *run = ctx;
	struct lk_err err = { { 0 } };

	if (ret_stamp == NULL || lk_policy_file_stamp(path, ret_stamp, &err) < 0) {
		engine_log(run->engine, LK_LOG_ERR, "plugin file refused: %s", err.msg);
		return -1;
	}
	return 0;
}

/* A slot for one credential check, or NULL (and res says why) when the
 * request has made MAX_CHECKS already. */
static struct check *new_check(struct run *run, struct lk_plugin_result *res)
{
	if (run->n_checks >= MAX_CHECKS) {
		engine_log(run->engine, LK_LOG_ERR,
		           "a plugin made more than %d credential checks in one request",
		           MAX_CHECKS);
		snprintf(res->reason, sizeof(res->reason), "too-many-checks");
		return NULL;
	}
	memset(&run->checks[run->n_checks], 0, sizeof(run->checks[0]));
	return &run->checks[run->n_checks++];
}

/* The request's client certificate input, or NULL. */
static const struct lk_plugin_input *cert_input(const struct run *run)
{
	for (size_t i = 0; i < run->n_inputs; i++)
		if (run->inputs[i].name != NULL &&
		    strcmp(run->inputs[i].name, LK_INPUT_CLIENT_CERT) == 0)
			return &run->inputs[i];
	return NULL;
}

/* The SHA-256 of the request's leaf certificate, or NULL when there is
 * none or it does not decode (then a bound key is refused, and an mtls step
 * cannot have accepted it). Read without parsing the certificate: this runs
 * on every request that carries one. */
static const char *presented_cert(struct run *run)
{
	const struct lk_plugin_input *in;
	struct lk_err err = { { 0 } };

	if (run->cert_state == 0) {
		run->cert_state = -1;
		if ((in = cert_input(run)) != NULL) {
			if (lk_cert_leaf_sha256((const unsigned char *)in->value, in->len,
			                        run->cert_sha256, &err) == LK_OK)
				run->cert_state = 1;
			else
				engine_log(run->engine, LK_LOG_WARNING, "client certificate: %s",
				           err.msg);
		}
	}
	return run->cert_state == 1 ? run->cert_sha256 : NULL;
}

/* The certificate that logged someone in, into the inventory: a known one
 * is touched; a new one is parsed for its facts (only then: a parse is
 * the expensive part). */
static int inventory(struct run *run, const char *principal, const char *service,
                     struct lk_err *err)
{
	const struct lk_plugin_input *in = cert_input(run);
	struct lk_cert_info info;
	bool found = false;
	int r;

	r = lk_cert_seen(run->engine->store, run->cert_sha256, principal, service, run->now, &found,
	                 err);
	if (r < 0 || found)
		return r;
	if (in == NULL ||
	    (r = lk_cert_leaf((const unsigned char *)in->value, in->len, &info, err)) < 0)
		return in == NULL ? lk_err_set(err, LK_EINVAL, "no client certificate") : r;
	if (strcmp(info.sha256, run->cert_sha256) != 0)
		return lk_err_set(err, LK_EINVAL, "the client certificate reads two ways");
	return lk_cert_record(run->engine->store, &info, principal, service, run->now, err);
}

static int host_verify_api_key(void *ctx, const char *key, size_t key_len,
                               const struct lk_plugin_request *preq, struct lk_plugin_result *res)
{
	struct run *run = ctx;
	struct lk_cidr addr;
	struct lk_verify_result v;
	struct lk_err err = { { 0 } };
	/* Environment, scopes and source come from the engine's own view of
	 * the request, never from what the plugin passes back: a plugin cannot
	 * weaken the checks. PAM_RHOST may be a host name: then no source is
	 * known, and a CIDR-bound key fails (source-not-allowed), as it should. */
	struct lk_verify_request req = {
		.env = run->policy != NULL ? run->policy->environment : NULL,
		.scopes = run->scopes,
		.n_scopes = run->n_scopes,
		.source = run->rhost != NULL && lk_ip_parse(run->rhost, &addr) == LK_OK ? run->rhost
		                                                                        : NULL,
	};
	struct check *c;

	(void)preq;
	req.cert_sha256 = presented_cert(run);

	res->decision = LK_PLUGIN_UNAVAILABLE;
	snprintf(res->reason, sizeof(res->reason), "store-error");
	if (req.env == NULL)
		return -1; /* every policy names its environment: never skip it */
	if ((c = new_check(run, res)) == NULL)
		return -1;
	if (lk_key_verify(run->engine->store, key, key_len, &req, run->actor, run->now, &v, &err) <
	    0)
		return -1;
	snprintf(res->reason, sizeof(res->reason), "%s", lk_verdict_str(v.verdict));
	snprintf(res->credential, sizeof(res->credential), "%s", v.kid);
	/* Only a wrong secret counts against the key; a well-formed key nobody
	 * issued counts against the source alone (no such credential to lock).
	 * Malformed input, and a right secret refused for its state or this
	 * service, are not guesses (docs/latchkey-policy.5, LOCKOUT). */
	c->ok = v.verdict == LK_VERDICT_OK;
	c->failed = v.verdict == LK_VERDICT_BAD_SECRET || v.verdict == LK_VERDICT_UNKNOWN;
	if (v.verdict != LK_VERDICT_MALFORMED && v.verdict != LK_VERDICT_UNKNOWN)
		snprintf(c->credential, sizeof(c->credential), "%s", v.kid);
	if (v.verdict != LK_VERDICT_OK) {
		res->decision = LK_PLUGIN_DENY;
		return 0;
	}
	if (lk_subject_name(run->engine->store, v.owner_ref, res->principal, sizeof(res->principal),
	                    &err) < 0)
		return -1;
	/* The service's own key rules: a key issued for longer than this
	 * service accepts, or one that never expires where that is not
	 * allowed, is refused here even though it is valid elsewhere. */
	if (run->policy != NULL && run->policy->has_key_rules) {
		struct lk_key_info k;
		if (lk_key_get(run->engine->store, v.kid, &k, &err) < 0)
			return -1;
		if ((k.expires == 0 && !run->policy->allow_never_expiring) ||
		    (k.expires != 0 && k.expires - k.created > run->policy->key_max_lifetime)) {
			res->decision = LK_PLUGIN_DENY;
			res->principal[0] = '\0';
			snprintf(res->reason, sizeof(res->reason), "key-rules");
			return 0;
		}
	}
	res->decision = LK_PLUGIN_SUCCESS;
	res->factors = LK_FACTOR_API_KEY;
	return 0;
}

/* The user a TOTP code is checked for: the principal earlier steps proved,
 * else PAM_USER. Never a name the plugin passes. */
static const char *totp_user(const struct run *run)
{
	if (run->principal != NULL && run->principal[0] != '\0')
		return run->principal;
	return run->user != NULL && run->user[0] != '\0' ? run->user : NULL;
}

/* TOTP verdicts as step results. A seed that does not open and a broken
 * clock deny (never "unavailable": host stacks often map authinfo_unavail
 * to ignore, which would skip the factor). Bad codes, replays and used
 * recovery codes are real failures for lockout. */
static void totp_result(const struct lk_totp_result *t, struct lk_plugin_result *res,
                        struct check *c)
{
	snprintf(res->reason, sizeof(res->reason), "%s",
	         t->verdict == LK_TOTP_OK && t->by_recovery ? "ok-recovery"
	                                                    : lk_totp_verdict_str(t->verdict));
	snprintf(res->credential, sizeof(res->credential), "%s", t->cred_id);
	snprintf(c->credential, sizeof(c->credential), "%s", t->cred_id);
	c->ok = t->verdict == LK_TOTP_OK;
	c->failed = t->verdict == LK_TOTP_BAD_CODE || t->verdict == LK_TOTP_REPLAYED ||
	            t->verdict == LK_TOTP_RECOVERY_USED;
	res->decision = c->ok ? LK_PLUGIN_SUCCESS : LK_PLUGIN_DENY;
	res->factors = c->ok ? LK_FACTOR_TOTP : 0;
}

static int host_verify_totp(void *ctx, const char *code, size_t code_len, unsigned skew,
                            const struct lk_plugin_request *preq, struct lk_plugin_result *res)
{
	struct run *run = ctx;
	const char *user = totp_user(run);
	struct lk_totp_result t;
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };
	struct check *c;
	int r;

	(void)preq;
	res->decision = LK_PLUGIN_UNAVAILABLE;
	snprintf(res->reason, sizeof(res->reason), "store-error");
	res->principal[0] = '\0';
	if (skew > LK_TOTP_SKEW_MAX) {
		snprintf(res->reason, sizeof(res->reason), "bad-skew");
		return -1;
	}
	if (user == NULL) {
		res->decision = LK_PLUGIN_DENY;
		snprintf(res->reason, sizeof(res->reason), "no-user");
		return 0;
	}
	if (code == NULL) {
		/* Only whether there is anyone to prompt: nothing recorded. */
		r = lk_totp_get(run->engine->store, user, &info, &err);
		if (r < 0 && r != LK_ENOTFOUND && r != LK_EINVAL) {
			engine_log(run->engine, LK_LOG_ERR, "totp: %s", err.msg);
			return -1;
		}
		res->decision = r == LK_OK && strcmp(info.status, "active") == 0 ? LK_PLUGIN_IGNORE
		                                                                 : LK_PLUGIN_DENY;
		snprintf(res->reason, sizeof(res->reason), "%s",
		         res->decision == LK_PLUGIN_IGNORE ? "enrolled" : "not-enrolled");
		return 0;
	}
	if ((c = new_check(run, res)) == NULL)
		return -1;
	r = lk_totp_verify(run->engine->store, user, code, code_len, skew, run->actor, run->now, &t,
	                   &err);
	if (r < 0) {
		engine_log(run->engine, LK_LOG_ERR, "totp: %s", err.msg);
		return -1;
	}
	if (t.verdict == LK_TOTP_SEED_UNREADABLE)
		engine_log(run->engine, LK_LOG_ERR,
		           "totp credential %s: the sealed seed does not open (wrong master key, "
		           "or the row was edited)",
		           t.cred_id);
	else if (t.verdict == LK_TOTP_CLOCK)
		engine_log(run->engine, LK_LOG_ERR, "totp: the clock (%lld) is not plausible",
		           (long long)run->now);
	totp_result(&t, res, c);
	return 0;
}

/* "p<length>_<name>_", with '-' as '$' (legal in SQLite identifiers): no
 * plugin's prefix is a prefix of another's ("a" -> p1_a_, "a_b" -> p3_a_b_,
 * "a-b" -> p3_a$b_). */
static void plugin_table_prefix(const char *plugin, char *out, size_t outlen)
{
	snprintf(out, outlen, "p%zu_%s_", strlen(plugin), plugin);
	for (char *c = out; *c != '\0'; c++)
		if (*c == '-')
			*c = '$';
}

/* True if name is one of the calling plugin's own tables. */
static bool own_table(const struct run *run, const char *name, const char *db)
{
	if (db != NULL && strcmp(db, "main") != 0)
		return false;
	return name != NULL && strncmp(name, run->table_prefix, strlen(run->table_prefix)) == 0 &&
	       name[strlen(run->table_prefix)] != '\0';
}

/* SQLite calls this for every table, column and operation a statement uses
 * while it is being compiled: a plugin's statement may use its own tables
 * and plain expressions, nothing else. */
static int plugin_authorizer(void *ctx, int action, const char *a, const char *b, const char *db,
                             const char *trigger)
{
	const struct run *run = ctx;

	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_READ:
	case SQLITE_INSERT:
	case SQLITE_UPDATE:
	case SQLITE_DELETE:
		/* DDL on its own tables updates the schema table; DEFENSIVE mode
		 * stops any direct write to it. */
		if (a != NULL &&
		    (strcmp(a, "sqlite_master") == 0 || strcmp(a, "sqlite_schema") == 0) &&
		    (db == NULL || strcmp(db, "main") == 0))
			return SQLITE_OK;
		return own_table(run, a, db) ? SQLITE_OK : SQLITE_DENY;
	case SQLITE_CREATE_TABLE:
	case SQLITE_DROP_TABLE:
		return own_table(run, a, db) ? SQLITE_OK : SQLITE_DENY;
	case SQLITE_CREATE_INDEX:
	case SQLITE_DROP_INDEX:
		return own_table(run, a, db) && own_table(run, b, db) ? SQLITE_OK : SQLITE_DENY;
	default:
		return SQLITE_DENY; /* PRAGMA, ATTACH, triggers, views, transactions, ... */
	}
}

/* Case-insensitive search: foreign keys in a plugin's DDL. */
static bool mentions_references(const char *sql)
{
	for (const char *p = sql; *p != '\0'; p++)
		if (strncasecmp(p, "references", 10) == 0)
			return true;
	return false;
}

static int host_store_exec(void *ctx, const char *sql, const char *const *params, size_t n_params,
                           int (*row_cb)(void *cb_ctx, int n_cols, const char *const *cols),
                           void *cb_ctx)
{
	struct run *run = ctx;
	sqlite3 *db = run->engine->store->db;
	sqlite3_stmt *st = NULL;
	const char *tail = NULL, *cols[32];
	int rc, changed = -1, n_cols;
	sqlite3_int64 before;

	if (sql == NULL || strlen(sql) > 4096 || n_params > 32 || run->table_prefix[0] == '\0')
		return -1;
	/* A foreign key from a plugin's table into the core's would let the
	 * plugin block revocations: plugins declare none. */
	if (mentions_references(sql))
		return -1;
	/* The authorizer stays on until the statement is finalized: VACUUM
	 * INTO compiles its own statements (an ATTACH) while it steps. */
	sqlite3_set_authorizer(db, plugin_authorizer, run);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
	if (rc != SQLITE_OK || st == NULL)
		goto out;
	while (tail != NULL && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
		tail++;
	if (tail != NULL && *tail != '\0')
		goto out; /* one statement per call */
	if (sqlite3_bind_parameter_count(st) > (int)n_params)
		goto out;
	for (size_t i = 0; i < n_params; i++)
		sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_STATIC);
	n_cols = sqlite3_column_count(st);
	if (n_cols > (int)(sizeof(cols) / sizeof(cols[0])))
		goto out;
	before = sqlite3_total_changes64(db);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n_cols; i++)
			cols[i] = (const char *)sqlite3_column_text(st, i);
		if (row_cb != NULL && row_cb(cb_ctx, n_cols, cols) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc == SQLITE_DONE)
		changed = (int)(sqlite3_total_changes64(db) - before);
out:
	sqlite3_finalize(st);
	sqlite3_set_authorizer(db, NULL, NULL);
	return changed;
}

/* ---- running a stack ------------------------------------------------- */

struct step_run {
	const char *plugin;
	enum lk_control control;
	char *const *args;
	size_t n_args;
	char reason[LK_PLUGIN_REASON_MAX];
	int pam_code;
	bool ran;
};

static bool reason_valid(const char *r)
{
	return lk_token_valid(r, LK_PLUGIN_REASON_MAX - 1, "-") && r[0] != '-';
}

static const char sql_evidence_known[] = "SELECT 1 FROM plugin_evidence WHERE sha256 = ?1";

static const char sql_evidence[] =
    "INSERT OR IGNORE INTO plugin_evidence (sha256, name, version, path, first_loaded)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";

/* Records a plugin build the first time it is loaded (one row per content
 * hash) and audits it, so reports can say which code made decisions. */
static int record_plugin(struct lk_store *store, const struct lk_loaded_plugin *p, int64_t now,
                         int64_t actor, struct lk_err *err)
{
	char detail[PATH_MAX + 200];
	sqlite3_stmt *st;
	int r, rc;

	/* Known builds (every request but the first) cost a read, not a
	 * write transaction and an fsync. */
	st = lk_store_stmt(store, sql_evidence_known, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, p->sha256_hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return LK_OK;
	if (rc != SQLITE_DONE)
		return lk_store_error(store, rc, "reading plugin evidence", err);

	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	st = lk_store_stmt(store, sql_evidence, err);
	r = LK_ESTORE;
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, p->sha256_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	r = lk_store_exec_stmt(store, st, "recording plugin evidence", err);
	if (r < 0)
		goto fail;
	if (sqlite3_changes(store->db) == 1) {
		snprintf(detail, sizeof(detail), "name=%s version=%s sha256=%s path=%s", p->name,
		         p->version, p->sha256_hex, p->path);
		r = lk_audit_append(store,
		                    &(struct lk_audit_event){ .ts = now,
		                                              .actor_uid = actor,
		                                              .action = "plugin.load",
		                                              .reason = "ok",
		                                              .detail = detail },
		                    NULL, err);
		if (r < 0)
			goto fail;
	}
	return lk_store_commit(store, err);
fail:
	lk_store_rollback(store);
	return r;
}

/* ---- policy evidence ------------------------------------------------- */

/* Distinct plugin names (a policy has at most 2 * LK_POLICY_MAX_STEPS). */
struct name_set {
	const char *v[2 * LK_POLICY_MAX_STEPS];
	size_t n;
};

static void name_set_add(struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return;
	if (s->n < sizeof(s->v) / sizeof(s->v[0]))
		s->v[s->n++] = name;
}

/*
 * The fewest distinct plugins that any success under policy has passed
 * (policy_evidence.required_factors, reports/README.md), by Linux-PAM's
 * stacking rules as core/stack.c runs them:
 *  - a required or requisite step succeeds on every path to a success (one
 *    failure makes the stack negative for good);
 *  - a sufficient step that succeeds ends the stack at once, so the steps
 *    after it never run: each sufficient step is an alternative path made
 *    of the required steps before it and itself;
 *  - optional steps, and sufficient ones that fail, count for nothing: a
 *    success need not have passed them (a stack with no required step
 *    still needs one success: one factor);
 *  - a step-up that applies to every request (no scopes, or one of the
 *    policy's own) runs after the stack and must succeed: it is on every
 *    path. One that applies only to some requested scopes is not counted,
 *    since a decision does not record the scopes it was asked for.
 * A required step counts although PAM lets a plugin that answers "ignore"
 * pass it: no Latchkey plugin does, and a success without it is exactly
 * what the report's MFA test looks for. The answer is the minimum over
 * the paths.
 */
static int policy_required_factors(const struct lk_policy *policy)
{
	const char *always[LK_POLICY_MAX_STEPS];
	struct name_set before = { .n = 0 };
	size_t n_always = 0;
	size_t best = SIZE_MAX;

	/* n_stepups < LK_POLICY_MAX_STEPS (policy.c): this cannot fail. */
	if (lk_policy_stepups_for(policy, NULL, 0, always, LK_POLICY_MAX_STEPS, &n_always) < 0)
		n_always = 0;
	for (size_t i = 0; i < n_always; i++)
		name_set_add(&before, always[i]);
	for (size_t i = 0; i < policy->n_steps; i++) {
		const struct lk_policy_step *s = &policy->steps[i];
		if (s->control == LK_CONTROL_SUFFICIENT) {
			struct name_set path = before;
			name_set_add(&path, s->plugin);
			if (path.n < best)
				best = path.n;
		} else if (s->control != LK_CONTROL_OPTIONAL) {
			name_set_add(&before, s->plugin);
		}
	}
	/* The path through every step with no sufficient one succeeding. */
	if ((before.n > 0 ? before.n : 1) < best)
		best = before.n > 0 ? before.n : 1;
	return (int)best;
}

/* "apikey required, totp sufficient; step-up totp for ssh:admin ssh:root":
 * what the policy asks for, for people (cut short with "..." if long). */
static void policy_summary(const struct lk_policy *policy, char *out, size_t outlen)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < policy->n_steps && len < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s%s %s", i ? ", " : "",
		                        policy->steps[i].plugin,
		                        lk_control_str(policy->steps[i].control));
	for (size_t i = 0; i < policy->n_stepups && len < outlen; i++) {
		const struct lk_policy_stepup *su = &policy->stepups[i];
		len += (size_t)snprintf(out + len, outlen - len, "%sstep-up %s%s", len ? "; " : "",
		                        su->plugin, su->n_scopes == 0 ? " always" : " for");
		for (size_t j = 0; j < su->n_scopes && len < outlen; j++)
			len += (size_t)snprintf(out + len, outlen - len, " %s", su->scopes[j]);
	}
	if (len >= outlen && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}

static const char sql_policy_evidence[] =
    "INSERT INTO policy_evidence (sha256, service, steps, required_factors, first_loaded,"
    " last_loaded) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
    " ON CONFLICT (sha256) DO UPDATE SET last_loaded = max(last_loaded, excluded.last_loaded)";

/* Records that policy is in force for service at now (policy_evidence:
 * one row per content hash, first and last load), and, when audit_load is
 * set, audits its load ("policy.load" "ok") in the same transaction: a
 * decision's policy hash can then always be looked up in a report. */
static int record_policy(struct lk_store *store, const char *service,
                         const struct lk_policy *policy, bool audit_load, int64_t now,
                         int64_t actor, struct lk_err *err)
{
	char steps[1024], detail[200];
	sqlite3_stmt *st;
	int r;

	policy_summary(policy, steps, sizeof(steps));
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	st = lk_store_stmt(store, sql_policy_evidence, err);
	r = LK_ESTORE;
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, policy->hash_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, steps, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, policy_required_factors(policy));
	sqlite3_bind_int64(st, 5, now);
	r = lk_store_exec_stmt(store, st, "recording policy evidence", err);
	if (r < 0)
		goto fail;
	if (audit_load) {
		snprintf(detail, sizeof(detail), "service=%s policy=%s", service, policy->hash_hex);
		r = lk_audit_append(store,
		                    &(struct lk_audit_event){ .ts = now,
		                                              .actor_uid = actor,
		                                              .action = "policy.load",
		                                              .reason = "ok",
		                                              .detail = detail },
		                    NULL, err);
		if (r < 0)
			goto fail;
	}
	return lk_store_commit(store, err);
fail:
	lk_store_rollback(store);
	return r;
}

static int audit_plugin_failure(struct run *run, const char *name, const char *why,
                                struct lk_err *err)
{
	struct lk_store *store = run->engine->store;
	char detail[600];

	snprintf(detail, sizeof(detail), "name=%s error=%s", name, why);
	return lk_audit_record(store,
	                       &(struct lk_audit_event){ .ts = run->now,
	                                                 .actor_uid = run->actor,
	                                                 .action = "plugin.load",
	                                                 .reason = "failed",
	                                                 .detail = detail },
	                       NULL, err);
}

/* Runs one step; fills s->pam_code and s->reason, and result on success.
 * Returns < 0 only when the audit trail could not be written. */
static int run_step(struct run *run, const struct lk_plugin_host *host,
                    const struct lk_plugin_request *preq, struct step_run *s,
                    struct lk_plugin_result *res, struct lk_err *err)
{
	struct lk_loaded_plugin *p = NULL, *owned = NULL;
	struct lk_err perr = { { 0 } };
	void *state = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
	s->ran = true;
	plugin_table_prefix(s->plugin, run->table_prefix, sizeof(run->table_prefix));
	/* Any failure to load or start a plugin fails its step; the control
	 * flag then decides, as Linux-PAM does with a module it cannot load. */
	s->pam_code = PAM_SYSTEM_ERR;
	if (run->engine->cache != NULL) {
		/* Loaded (and its evidence recorded) at start or reload. */
		const struct lk_cached_plugin *cp =
		    lk_engine_cache_plugin(run->engine->cache, s->plugin);
		if (cp != NULL && cp->plugin != NULL)
			p = cp->plugin;
		else
			lk_err_set(&perr, LK_ENOTFOUND, "%s",
			           cp != NULL ? cp->error : "not loaded (reload the daemon)");
	} else if (lk_plugin_load(run->engine->plugin_dir, s->plugin, &p, &perr) == LK_OK) {
		owned = p;
	}
	if (p == NULL) {
		engine_log(run->engine, LK_LOG_ERR, "%s: step %s fails: %s", preq->service,
		           s->plugin, perr.msg);
		snprintf(s->reason, sizeof(s->reason), "plugin-unavailable");
		return audit_plugin_failure(run, s->plugin, perr.msg, err);
	}
	if (owned != NULL) {
		r = record_plugin(run->engine->store, p, run->now, run->actor, err);
		if (r < 0)
			goto out;
	}
	if (p->vt->init(host, (const char *const *)s->args, s->n_args, &state) != 0) {
		engine_log(run->engine, LK_LOG_ERR, "%s: step %s fails: plugin init failed",
		           preq->service, s->plugin);
		snprintf(s->reason, sizeof(s->reason), "plugin-init-failed");
		r = audit_plugin_failure(run, s->plugin, "init failed", err);
		goto out;
	}
	if (p->vt->authenticate(state, preq, res) != 0) {
		/* An error is an error, whatever the plugin left in res: never
		 * a success, an "ignore" or a prompt. */
		res->decision = LK_PLUGIN_UNAVAILABLE;
		snprintf(res->reason, sizeof(res->reason), "plugin-error");
	}
	res->reason[sizeof(res->reason) - 1] = '\0';
	res->principal[sizeof(res->principal) - 1] = '\0';
	res->credential[sizeof(res->credential) - 1] = '\0';
	res->prompt_input[sizeof(res->prompt_input) - 1] = '\0';
	res->prompt_text[sizeof(res->prompt_text) - 1] = '\0';
	/* What a plugin says ends up on terminals and in the audit log. */
	if (!lk_text_valid(res->prompt_input, sizeof(res->prompt_input)) ||
	    !lk_text_valid(res->prompt_text, sizeof(res->prompt_text)))
		res->decision = LK_PLUGIN_UNAVAILABLE;
	if (res->decision == LK_PLUGIN_NEED_INPUT) {
		s->pam_code = PAM_INCOMPLETE;
		snprintf(s->reason, sizeof(s->reason), "need-input");
	} else if (res->decision == LK_PLUGIN_SUCCESS &&
	           (!lk_text_valid(res->principal, LK_PLUGIN_PRINCIPAL_MAX) ||
	            lk_text_looks_like_key(res->principal))) {
		s->pam_code = PAM_SYSTEM_ERR;
		snprintf(s->reason, sizeof(s->reason), "plugin-bad-principal");
	} else {
		s->pam_code = lk_decision_pam_code(res->decision);
		if (s->pam_code == PAM_SYSTEM_ERR)
			snprintf(s->reason, sizeof(s->reason), "plugin-bad-result");
		else if (!reason_valid(res->reason))
			snprintf(s->reason, sizeof(s->reason), "plugin-bad-reason");
		else
			snprintf(s->reason, sizeof(s->reason), "%s", res->reason);
		if (!reason_valid(res->reason) && s->pam_code == PAM_SUCCESS)
			s->pam_code = PAM_SYSTEM_ERR; /* a success must explain itself */
		if (!lk_text_valid(res->credential, sizeof(res->credential)) ||
		    lk_text_looks_like_key(res->credential))
			res->credential[0] = '\0';
	}
	r = LK_OK;
out:
	if (state != NULL)
		p->vt->fini(state);
	lk_plugin_unload(owned);
	run->table_prefix[0] = '\0';
	return r;
}

static int audit_decision(struct run *run, const struct lk_auth_request *req,
                          const struct lk_policy *policy, const struct step_run *steps,
                          size_t n_steps, const char *credential, const char *who,
                          struct lk_auth_result *res, struct lk_err *err)
{
	struct lk_store *store = run->engine->store;
	char detail[2048], owner_ref[LK_SUBJECT_REF_LEN + 1] = "";
	size_t len;
	int r;

	len = (size_t)snprintf(detail, sizeof(detail),
	                       "service=%s env=%s policy=%s pam=%d steps=", req->service,
	                       policy != NULL ? policy->environment : "-",
	                       policy != NULL ? policy->hash_hex : "none", res->pam_code);
	for (size_t i = 0; i < n_steps && len < sizeof(detail); i++)
		len +=
		    (size_t)snprintf(detail + len, sizeof(detail) - len, "%s%s:%s", i ? "," : "",
		                     steps[i].plugin, steps[i].ran ? steps[i].reason : "not-run");
	r = lk_store_begin(store, err);
	if (r < 0)
		return r;
	/* Who the credentials belonged to, even when the request was denied
	 * (a valid key used for another user is exactly what to look at). */
	if (who[0] != '\0') {
		r = lk_subject_ref(store, "owner", who, false, run->now, owner_ref, err);
		if (r == LK_ENOTFOUND)
			owner_ref[0] = '\0'; /* a principal no key belongs to (a certificate's) */
		else if (r < 0)
			goto fail;
	}
	r = lk_audit_append(
	    store,
	    &(struct lk_audit_event){ .ts = run->now,
	                              .actor_uid = run->actor,
	                              .subject_ref = owner_ref[0] ? owner_ref : NULL,
	                              .kid = credential[0] ? credential : NULL,
	                              .action = "auth.decision",
	                              .reason = res->reason,
	                              .detail = detail },
	    &res->audit_seq, err);
	if (r < 0)
		goto fail;
	return lk_store_commit(store, err);
fail:
	lk_store_rollback(store);
	return r;
}

/* ---- lockout ------------------------------------------------------- */

/* Root's credentials are never locked unless the policy says so: a lockout
 * anyone can trigger must not keep the administrator out (pam_faillock's
 * even_deny_root is off by default for the same reason). Sources are locked
 * for root as for anyone. */
static bool lockout_exempt(const struct lk_auth_request *req, const struct lk_policy *policy)
{
	return req->user != NULL && strcmp(req->user, "root") == 0 && !policy->lockout_include_root;
}

/* auth.lockout: what was locked, until when, through which service. */
static int audit_lockout(struct run *run, const struct lk_auth_request *req,
                         enum lk_lockout_kind kind, const char *id, struct lk_err *err)
{
	const struct lk_policy *policy = run->policy;
	char detail[256], until[32], window[32], ref[LK_SUBJECT_REF_LEN + 1] = "";
	int r;

	if (kind == LK_LOCKOUT_SOURCE &&
	    (r = lk_lockout_source_ref(run->engine->store, id, ref, err)) < 0)
		return r;
	lk_time_format(run->now + policy->lockout_duration, until, sizeof(until));
	lk_duration_format(policy->lockout_window, window, sizeof(window));
	snprintf(detail, sizeof(detail), "kind=%s service=%s failures=%u window=%s until=%s",
	         kind == LK_LOCKOUT_SOURCE ? "source" : "credential", req->service,
	         kind == LK_LOCKOUT_SOURCE ? policy->lockout_source_failures
	                                   : policy->lockout_credential_failures,
	         window, until);
	engine_log(run->engine, LK_LOG_WARNING, "service %s: %s %s locked until %s", req->service,
	           kind == LK_LOCKOUT_SOURCE ? "source" : "credential",
	           kind == LK_LOCKOUT_SOURCE ? ref : id, until);
	return lk_audit_append(
	    run->engine->store,
	    &(struct lk_audit_event){ .ts = run->now,
	                              .actor_uid = run->actor,
	                              .subject_ref = ref[0] ? ref : NULL,
	                              .kid = kind == LK_LOCKOUT_SOURCE ? NULL : id,
	                              .action = "auth.lockout",
	                              .reason = "locked",
	                              .detail = detail },
	    NULL, err);
}

/* Before any plugin runs: a locked source is refused unheard. */
static int source_locked(struct run *run, const struct lk_auth_request *req, bool *ret_locked,
                         struct lk_err *err)
{
	*ret_locked = false;
	/* Root too: only root's credentials are exempt. A locked source is an
	 * address that guessed, and letting it go on guessing root's code
	 * would make root the one account without a limit. */
	if (req->rhost == NULL || req->rhost[0] == '\0')
		return LK_OK;
	return lk_lockout_check(run->engine->store, run->policy, LK_LOCKOUT_SOURCE, req->rhost,
	                        run->now, ret_locked, NULL, err);
}

/*
 * After the stack: a request whose credential is locked is refused
 * (PAM_MAXTRIES) even when its secret was right, so a guesser learns
 * nothing while the lock lasts; a success resets the counts of the
 * credentials it proved; real failures count against their credential and
 * the source, and the failure that reaches a limit locks (audited) and is
 * answered PAM_MAXTRIES too.
 */
static int apply_lockout(struct run *run, const struct lk_auth_request *req,
                         struct lk_auth_result *res, struct lk_err *err)
{
	struct lk_store *store = run->engine->store;
	const char *why = NULL;
	bool exempt = lockout_exempt(req, run->policy), locked = false, failed = false;
	int r;

	for (size_t i = 0; i < run->n_checks && !exempt; i++) {
		const struct check *c = &run->checks[i];
		if (c->credential[0] == '\0')
			continue;
		r = lk_lockout_check(store, run->policy, LK_LOCKOUT_CREDENTIAL, c->credential,
		                     run->now, &locked, NULL, err);
		if (r < 0)
			return r;
		if (locked)
			why = "locked-credential";
	}
	for (size_t i = 0; i < run->n_checks; i++) {
		const struct check *c = &run->checks[i];
		failed = failed || c->failed;
		if (c->credential[0] == '\0' || exempt)
			continue;
		if (c->ok && res->pam_code == PAM_SUCCESS && why == NULL)
			r = lk_lockout_reset(store, LK_LOCKOUT_CREDENTIAL, c->credential, err);
		else if (c->failed)
			r = lk_lockout_fail(store, run->policy, LK_LOCKOUT_CREDENTIAL,
			                    c->credential, run->now, &locked, err);
		else
			continue;
		if (r == LK_OK && c->failed && locked) {
			why = "locked-credential";
			r = audit_lockout(run, req, LK_LOCKOUT_CREDENTIAL, c->credential, err);
		}
		if (r < 0)
			return r;
	}
	/* One request, one failure for its source, however many checks failed. */
	if (failed && req->rhost != NULL && req->rhost[0] != '\0') {
		r = lk_lockout_fail(store, run->policy, LK_LOCKOUT_SOURCE, req->rhost, run->now,
		                    &locked, err);
		if (r == LK_OK && locked) {
			r = audit_lockout(run, req, LK_LOCKOUT_SOURCE, req->rhost, err);
			if (why == NULL)
				why = "locked-source";
		}
		if (r < 0)
			return r;
	}
	if (why != NULL) {
		res->pam_code = PAM_MAXTRIES;
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	}
	return LK_OK;
}

/* ---- one request: its unit of work ---------------------------------- */

/* A request is one unit of work: counts, TOTP steps and audit rows commit
 * with its decision or not at all. Outside a batch (the CLI) the engine
 * opens one, so the unit can be a savepoint: a request that ends asking
 * for more input is rolled back whole, so a code a step accepted before a
 * later step prompted is not used up, and the next round can use it. */
static int unit_begin(struct lk_store *store, bool *ret_own_batch, struct lk_err *err)
{
	int r;

	*ret_own_batch = !lk_store_batch_open(store);
	if (*ret_own_batch && (r = lk_store_batch_begin(store, err)) < 0)
		return r;
	r = lk_store_begin(store, err);
	if (r < 0 && *ret_own_batch)
		(void)lk_store_batch_commit(store, NULL);
	return r;
}

/* Keeps (commits) or drops the unit; a kept unit is durable on return
 * when the engine opened the batch. */
static int unit_end(struct lk_store *store, bool own_batch, bool keep, struct lk_err *err)
{
	struct lk_err ignored = { { 0 } };
	int r = LK_OK, rc;

	if (keep)
		r = lk_store_commit(store, err);
	else
		lk_store_rollback(store);
	if (own_batch) {
		rc = lk_store_batch_commit(store, r < 0 ? &ignored : err);
		if (r == LK_OK)
			r = rc;
	}
	return r;
}

/* The policy's step-up rule for plugin (its arguments), or NULL. */
static const struct lk_policy_stepup *stepup_rule(const struct lk_policy *policy,
                                                  const char *plugin)
{
	for (size_t i = 0; i < policy->n_stepups; i++)
		if (strcmp(policy->stepups[i].plugin, plugin) == 0)
			return &policy->stepups[i];
	return NULL;
}

/* True if a stack step for plugin ran and succeeded. */
static bool succeeded_in(const struct step_run *steps, size_t n, const char *plugin)
{
	for (size_t i = 0; i < n; i++)
		if (steps[i].ran && steps[i].pam_code == PAM_SUCCESS &&
		    strcmp(steps[i].plugin, plugin) == 0)
			return true;
	return false;
}

/* Runs one step for the request and folds its result into res: principal
 * (one per request), factors, the first credential seen, or a prompt
 * (res->need_input). Returns < 0 only when the audit trail failed. */
static int exec_step(struct run *run, const struct lk_plugin_host *host,
                     const struct lk_auth_request *req, const struct lk_policy *policy,
                     const char *const *scopes, size_t n_scopes, struct step_run *step,
                     struct lk_auth_result *res, char *credential, size_t credential_len,
                     struct lk_err *err)
{
	struct lk_plugin_request preq = {
		.struct_size = sizeof(preq),
		.service = req->service,
		.user = req->user,
		.rhost = req->rhost,
		.environment = policy->environment,
		.scopes = scopes,
		.n_scopes = n_scopes,
		.inputs = req->inputs,
		.n_inputs = req->n_inputs,
		.principal = res->principal[0] ? res->principal : NULL,
	};
	struct lk_plugin_result pres;
	int r;

	r = run_step(run, host, &preq, step, &pres, err);
	if (r < 0)
		return r;
	if (step->pam_code == PAM_INCOMPLETE) {
		res->need_input = true;
		snprintf(res->prompt_input, sizeof(res->prompt_input), "%s", pres.prompt_input);
		snprintf(res->prompt_text, sizeof(res->prompt_text), "%s", pres.prompt_text);
		res->prompt_echo = pres.prompt_echo;
		return LK_OK;
	}
	if (step->pam_code == PAM_SUCCESS && pres.principal[0] != '\0') {
		/* Every factor must be about the same principal. */
		if (res->principal[0] != '\0' && strcmp(res->principal, pres.principal) != 0) {
			step->pam_code = PAM_AUTH_ERR;
			snprintf(step->reason, sizeof(step->reason), "principal-mismatch");
		} else {
			snprintf(res->principal, sizeof(res->principal), "%s", pres.principal);
		}
	}
	if (step->pam_code == PAM_SUCCESS && (pres.factors & LK_FACTOR_CLIENT_CERT)) {
		/* One chain, two readers: the plugin names the leaf it verified
		 * (its credential), and the core reads the leaf itself for bound
		 * keys and the inventory. A leaf they disagree on (odd PEM
		 * framing) is refused, never recorded under the wrong name. */
		const char *cert = presented_cert(run);
		if (cert == NULL || strlen(pres.credential) != LK_CERT_CREDENTIAL_HEX ||
		    strncmp(pres.credential, cert, LK_CERT_CREDENTIAL_HEX) != 0) {
			engine_log(run->engine, LK_LOG_WARNING,
			           "%s: step %s accepted a certificate the core reads differently; "
			           "refused",
			           req->service, step->plugin);
			step->pam_code = PAM_AUTH_ERR;
			snprintf(step->reason, sizeof(step->reason), "malformed");
		} else {
			run->cert_accepted = true;
		}
	}
	if (step->pam_code == PAM_SUCCESS)
		res->factors |= pres.factors;
	/* The first credential a step looked at names a denial. */
	if (pres.credential[0] != '\0' && credential[0] == '\0')
		snprintf(credential, credential_len, "%s", pres.credential);
	/* A success names what was proved; a key outranks a certificate, so
	 * account management asks about the key's state (revocation,
	 * expiry) after a key + mTLS login. */
	if (step->pam_code == PAM_SUCCESS && pres.credential[0] != '\0' &&
	    (run->ok_credential[0] == '\0' ||
	     ((pres.factors & LK_FACTOR_API_KEY) && !run->ok_credential_is_key))) {
		snprintf(run->ok_credential, sizeof(run->ok_credential), "%s", pres.credential);
		run->ok_credential_is_key = (pres.factors & LK_FACTOR_API_KEY) != 0;
	}
	return LK_OK;
}

int lk_engine_authenticate(struct lk_engine *engine, const struct lk_auth_request *req, int64_t now,
                           struct lk_auth_result *ret_result, struct lk_err *err)
{
	struct run run = { .engine = engine, .now = now, .actor = req->actor };
	struct lk_plugin_host host = {
		.abi_major = LK_PLUGIN_ABI_MAJOR,
		.abi_minor = LK_PLUGIN_ABI_MINOR,
		.struct_size = sizeof(host),
		.host_ctx = &run,
		.log = host_log,
		.secure_alloc = host_secure_alloc,
		.secure_free = host_secure_free,
		.now = host_now,
		.verify_api_key = host_verify_api_key,
		.store_exec = host_store_exec,
		.verify_totp = host_verify_totp,
		.read_file = host_read_file,
		.list_dir = host_list_dir,
		.file_stamp = host_file_stamp,
	};
	struct step_run steps[MAX_RUN_STEPS];
	const char *scopes[2 * LK_SCOPES_MAX], *stepups[LK_POLICY_MAX_STEPS];
	char path[PATH_MAX], credential[LK_PLUGIN_REASON_MAX] = "",
	                     decider[LK_PLUGIN_REASON_MAX] = "",
	                     who[LK_PLUGIN_PRINCIPAL_MAX + 1] = "";
	struct lk_auth_result res;
	const struct lk_policy *policy = NULL;
	struct lk_policy *owned_policy = NULL;
	struct lk_err perr = { { 0 } };
	struct lk_stack stack;
	size_t n_steps = 0, n_stack = 0, n_scopes = 0, n_stepups = 0;
	bool own_batch = false, locked = false;
	int r;

	memset(&res, 0, sizeof(res));
	memset(steps, 0, sizeof(steps));
	if (!lk_service_name_valid(req->service))
		return lk_err_set(err, LK_EINVAL, "bad service name '%.70s'",
		                  req->service ? req->service : "");
	if (req->n_inputs > LK_ENGINE_MAX_INPUTS || req->n_scopes > LK_SCOPES_MAX)
		return lk_err_set(err, LK_EINVAL, "too many inputs or scopes in the request");
	for (size_t i = 0; i < req->n_scopes; i++)
		if (!lk_scope_valid(req->scopes[i]))
			return lk_err_set(err, LK_EINVAL, "bad scope '%.80s'", req->scopes[i]);
	r = unit_begin(engine->store, &own_batch, err);
	if (r < 0)
		return r;
	run.user = req->user;
	run.principal = res.principal;
	run.inputs = req->inputs;
	run.n_inputs = req->n_inputs;

	res.pam_code = PAM_AUTH_ERR;
	snprintf(path, sizeof(path), "%s/%s.xml", engine->policy_dir, req->service);
	if (engine->cache != NULL) {
		const struct lk_cached_policy *cp =
		    lk_engine_cache_policy(engine->cache, req->service);
		r = cp == NULL
		        ? lk_err_set(&perr, LK_ENOTFOUND, "%s was not there at the last load", path)
		    : cp->policy == NULL ? lk_err_set(&perr, LK_EINVAL, "%s", cp->error)
		                         : LK_OK;
		policy = cp != NULL ? cp->policy : NULL;
	} else {
		r = lk_policy_load(path, &owned_policy, &perr);
		policy = owned_policy;
		/* Loaded for this request only: on record all the same, so
		 * that the decision's policy hash can be looked up. */
		if (r == LK_OK && strcmp(policy->service, req->service) == 0 &&
		    (r = record_policy(engine->store, req->service, policy, false, now, req->actor,
		                       err)) < 0)
			goto out;
	}
	if (r < 0) {
		engine_log(engine, LK_LOG_ERR, "service %s denies everything: %s", req->service,
		           perr.msg);
		/* No valid policy: this service denies everything until fixed. */
		snprintf(res.reason, sizeof(res.reason), "%s",
		         r == LK_ENOTFOUND ? "no-policy" : "policy-invalid");
		goto decided;
	}
	memcpy(res.policy_hash, policy->hash_hex, sizeof(res.policy_hash));
	run.policy = policy;
	if (strcmp(policy->service, req->service) != 0) {
		engine_log(engine, LK_LOG_ERR,
		           "service %s denies everything: %s declares service %s", req->service,
		           path, policy->service);
		snprintf(res.reason, sizeof(res.reason), "policy-invalid");
		goto decided;
	}

	/* The request needs the policy's scopes plus its own. Both sets fit (32 + 32); duplicates
	 * are dropped; a set a key could never hold (more than LK_SCOPES_MAX) is refused, never
	 * truncated. */
	for (size_t i = 0; i < policy->n_scopes; i++)
		scopes[n_scopes++] = policy->scopes[i];
	for (size_t i = 0; i < req->n_scopes; i++) {
		bool dup = false;
		for (size_t k = 0; k < n_scopes && !dup; k++)
			dup = strcmp(scopes[k], req->scopes[i]) == 0;
		if (!dup)
			scopes[n_scopes++] = req->scopes[i];
	}
	if (n_scopes > LK_SCOPES_MAX) {
		snprintf(res.reason, sizeof(res.reason), "too-many-scopes");
		goto decided;
	}
	run.scopes = scopes;
	run.n_scopes = n_scopes;
	run.rhost = req->rhost;
	for (size_t i = 0; i < policy->n_steps; i++)
		steps[n_steps++] = (struct step_run){ .plugin = policy->steps[i].plugin,
			                              .control = policy->steps[i].control,
			                              .args = policy->steps[i].args,
			                              .n_args = policy->steps[i].n_args };
	/* The step-up rules that the request's (or the policy's) scopes call for. */
	r = lk_policy_stepups_for(policy, req->scopes, req->n_scopes, stepups, LK_POLICY_MAX_STEPS,
	                          &n_stepups);
	if (r < 0) {
		snprintf(res.reason, sizeof(res.reason), "policy-invalid");
		goto decided;
	}
	/* Step-ups run after the stack as checks of their own: a stack can
	 * list the same plugin as optional or sufficient, or end early, and
	 * none of that may waive a factor the scopes call for. */
	n_stack = n_steps;
	for (size_t i = 0; i < n_stepups && n_steps < MAX_RUN_STEPS; i++) {
		const struct lk_policy_stepup *su = stepup_rule(policy, stepups[i]);
		steps[n_steps++] = (struct step_run){ .plugin = stepups[i],
			                              .control = LK_CONTROL_REQUIRED,
			                              .args = su != NULL ? su->args : NULL,
			                              .n_args = su != NULL ? su->n_args : 0 };
	}

	/* A locked source is refused before any plugin runs: no prompt, no
	 * check, nothing a guesser could learn from. */
	r = source_locked(&run, req, &locked, err);
	if (r < 0)
		goto out;
	if (locked) {
		res.pam_code = PAM_MAXTRIES;
		snprintf(res.reason, sizeof(res.reason), "locked-source");
		goto decided;
	}

	lk_stack_init(&stack);
	for (size_t i = 0; i < n_stack; i++) {
		r = exec_step(&run, &host, req, policy, scopes, n_scopes, &steps[i], &res,
		              credential, sizeof(credential), err);
		if (r < 0)
			goto out;
		if (res.need_input)
			goto incomplete;
		/* The reason reported is the first failure that counted. */
		if (steps[i].pam_code != PAM_SUCCESS && steps[i].pam_code != PAM_IGNORE &&
		    decider[0] == '\0' && steps[i].control != LK_CONTROL_OPTIONAL &&
		    steps[i].control != LK_CONTROL_SUFFICIENT)
			snprintf(decider, sizeof(decider), "%s", steps[i].reason);
		if (lk_stack_feed(&stack, steps[i].control, steps[i].pam_code))
			break;
	}
	res.pam_code = lk_stack_result(&stack);
	for (size_t i = n_stack; i < n_steps && res.pam_code == PAM_SUCCESS; i++) {
		if (succeeded_in(steps, n_stack, steps[i].plugin)) {
			steps[i].ran = true;
			snprintf(steps[i].reason, sizeof(steps[i].reason), "satisfied");
			continue;
		}
		r = exec_step(&run, &host, req, policy, scopes, n_scopes, &steps[i], &res,
		              credential, sizeof(credential), err);
		if (r < 0)
			goto out;
		if (res.need_input)
			goto incomplete;
		/* Only a success satisfies a step-up: "ignore" is no factor. */
		if (steps[i].pam_code != PAM_SUCCESS) {
			res.pam_code =
			    steps[i].pam_code == PAM_IGNORE ? PAM_AUTH_ERR : steps[i].pam_code;
			snprintf(decider, sizeof(decider), "%s",
			         steps[i].pam_code == PAM_IGNORE ? "step-up-missing"
			                                         : steps[i].reason);
		}
	}
	if (res.pam_code == PAM_SUCCESS) {
		/* The PAM user must be the principal the credentials prove:
		 * otherwise any valid key would log in as anyone. */
		if (res.principal[0] == '\0') {
			res.pam_code = PAM_AUTH_ERR;
			snprintf(res.reason, sizeof(res.reason), "no-principal");
		} else if (req->user != NULL && strcmp(req->user, res.principal) != 0) {
			res.pam_code = PAM_AUTH_ERR;
			snprintf(res.reason, sizeof(res.reason), "user-mismatch");
		} else {
			snprintf(res.reason, sizeof(res.reason), "ok");
		}
	} else {
		snprintf(res.reason, sizeof(res.reason), "%s", decider[0] ? decider : "denied");
	}
	r = apply_lockout(&run, req, &res, err);
	if (r < 0)
		goto out;
	snprintf(who, sizeof(who), "%s", res.principal);
	if (res.pam_code != PAM_SUCCESS) {
		res.principal[0] = '\0';
		res.factors = 0;
	} else {
		if (run.ok_credential[0] != '\0')
			snprintf(credential, sizeof(credential), "%s", run.ok_credential);
		snprintf(res.credential, sizeof(res.credential), "%s", credential);
		/* The inventory holds certificates that logged someone in:
		 * recorded with the decision, in its unit. */
		if (run.cert_accepted &&
		    (r = inventory(&run, res.principal, req->service, err)) < 0)
			goto out;
	}
decided:
	r = audit_decision(&run, req, policy, steps, n_steps, credential, who, &res, err);
	if (r < 0)
		goto out; /* unrecorded: the caller must deny */
	r = unit_end(engine->store, own_batch, true, err);
	own_batch = false;
	if (r < 0)
		goto done;
	*ret_result = res;
	goto done;
incomplete:
	/* Nothing is decided yet: the caller asks and calls again. Nothing
	 * about earlier steps is revealed before the last one has run, and
	 * nothing they did is kept. */
	res.pam_code = PAM_INCOMPLETE;
	res.principal[0] = '\0';
	res.factors = 0;
	r = unit_end(engine->store, own_batch, false, err);
	own_batch = false;
	if (r < 0)
		goto done;
	*ret_result = res;
	goto done;
out:
	(void)unit_end(engine->store, own_batch, false, NULL);
done:
	lk_policy_free(owned_policy);
	return r;
}

/* ---- loading once (the daemon) -------------------------------------- */

static void text_or_mark(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", lk_text_valid(src, len) ? src : "(unprintable)");
}

static int audit_load(struct lk_store *store, int64_t now, int64_t actor, const char *action,
                      const char *reason, const char *detail, struct lk_err *err)
{
	return lk_audit_record(store,
	                       &(struct lk_audit_event){ .ts = now,
	                                                 .actor_uid = actor,
	                                                 .action = action,
	                                                 .reason = reason,
	                                                 .detail = detail },
	                       NULL, err);
}

/* What changed between two loads, in the audit chain: policies in force
 * (by hash), refused or invalid files, removed services, plugin builds. */
static int audit_reload(struct lk_engine *engine, const struct lk_engine_cache *prev,
                        const struct lk_engine_cache *next, int64_t now, int64_t actor,
                        struct lk_err *err)
{
	struct lk_store *store = engine->store;
	char detail[1200], why[600];
	int r = LK_OK;

	for (size_t i = 0; i < next->n_plugins && r == LK_OK; i++) {
		const struct lk_cached_plugin *e = &next->plugins[i];
		if (e->plugin != NULL && !e->kept_previous) {
			r = record_plugin(store, e->plugin, now, actor, err);
			continue;
		}
		text_or_mark(why, sizeof(why), e->error);
		snprintf(detail, sizeof(detail), "name=%s error=%s%s", e->name, why,
		         e->kept_previous ? " kept=previous" : "");
		engine_log(engine, LK_LOG_ERR, "plugin %s: %s%s", e->name, why,
		           e->kept_previous ? "; keeping the build loaded before" : "");
		r = audit_load(store, now, actor, "plugin.load", "failed", detail, err);
	}
	for (size_t i = 0; i < next->n_policies && r == LK_OK; i++) {
		const struct lk_cached_policy *e = &next->policies[i];
		text_or_mark(why, sizeof(why), e->error);
		if (e->kept_previous) {
			engine_log(engine, LK_LOG_ERR,
			           "service %s: new policy refused (%s); the previous one stays",
			           e->service, why);
			snprintf(detail, sizeof(detail), "service=%s kept=%s error=%s", e->service,
			         e->policy->hash_hex, why);
			r = audit_load(store, now, actor, "policy.load", "refused", detail, err);
			if (r == LK_OK)
				r = record_policy(store, e->service, e->policy, false, now, actor,
				                  err);
		} else if (e->policy == NULL && e->changed) {
			engine_log(engine, LK_LOG_ERR, "service %s denies everything: %s",
			           e->service, why);
			snprintf(detail, sizeof(detail), "service=%s error=%s", e->service, why);
			r = audit_load(store, now, actor, "policy.load", "invalid", detail, err);
		} else if (e->policy != NULL) {
			/* Every policy in force is on record (last_loaded moves on);
			 * a changed one is audited as loaded. */
			r = record_policy(store, e->service, e->policy, e->changed, now, actor,
			                  err);
		}
	}
	for (size_t i = 0; prev != NULL && i < prev->n_policies && r == LK_OK; i++) {
		if (lk_engine_cache_policy(next, prev->policies[i].service) != NULL)
			continue;
		snprintf(detail, sizeof(detail), "service=%s", prev->policies[i].service);
		r = audit_load(store, now, actor, "policy.load", "removed", detail, err);
	}
	return r;
}

int lk_engine_reload(struct lk_engine *engine, int64_t actor, struct lk_err *err)
{
	struct lk_engine_cache *next = NULL;
	int64_t now;
	int r;

	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the system clock");
	r = lk_engine_cache_build(engine->policy_dir, engine->plugin_dir, engine->cache, &next,
	                          err);
	if (r < 0)
		return r;
	/* Nothing goes into service unrecorded: if the audit rows cannot be
	 * written, the set loaded before stays. */
	r = audit_reload(engine, engine->cache, next, now, actor, err);
	if (r < 0) {
		lk_engine_cache_discard(next, engine->cache);
		return r;
	}
	lk_engine_cache_free(engine->cache);
	engine->cache = next;
	return LK_OK;
}
