/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ISO/IEC 27001:2022 pack's body: a control matrix for the Annex A
 * controls Latchkey operates (5.15-5.18, 8.2, 8.5, 8.15, 8.16, 8.24), then
 * one criterion per control with its tests. The shared tests run under
 * ISO-specific ids (an XML ID is unique in the document); the matrix points
 * at them, and one test may cover more than one control.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "pack-private.h"
#include "util-private.h"

/* Key lifecycle changes other than issuance in the period. */
static const struct lk_ev_query q_revocations = {
	"iso-access-removals",
	"SELECT seq, ts, actor_uid, action, kid, subject_ref, reason FROM audit "
	"WHERE action IN ('key.revoke', 'key.suspend', 'key.resume', 'owner.revoke-all') "
	"AND ts >= ?1 AND ts < ?2 ORDER BY seq"
};

/* Keys usable at the period's end (?2) and older than rotation_age (?3,
 * seconds), and keys past their expiry that were never revoked. */
static const struct lk_ev_query q_rotation = {
	"iso-rotation-overdue",
	"SELECT kid, owner_ref, created, expires, "
	"CASE WHEN expires IS NOT NULL AND expires <= ?2 THEN 'expired' ELSE 'overdue' END "
	"FROM api_key WHERE created < ?2 AND status <> 'revoked' "
	"AND ((expires IS NOT NULL AND expires <= ?2) OR created <= ?2 - ?3) "
	"ORDER BY created, kid"
};

/* How every key is stored: the hash algorithm and pepper version. */
static const struct lk_ev_query q_key_hashes = {
	"iso-key-hashes",
	"SELECT hash_alg, pepper_ver, status, count(*) FROM api_key "
	"GROUP BY hash_alg, pepper_ver, status ORDER BY hash_alg, pepper_ver, status"
};

static const struct lk_ev_query q_totp_algs = {
	"iso-totp-algorithms",
	"SELECT alg, digits || ' digits, ' || period || ' s', seal_ver, status, count(*) "
	"FROM totp_credential "
	"GROUP BY alg, digits, period, seal_ver, status ORDER BY alg, digits, period, seal_ver, "
	"status"
};

/* Every signing key that signed a checkpoint still in the log. */
static const struct lk_ev_query q_signing_keys = {
	"iso-signing-keys", "SELECT key_id, count(*), min(ts), max(ts) FROM checkpoint "
	                    "GROUP BY key_id ORDER BY min(ts)"
};

/* Administrative actions in the period, by who did them. The decisions
 * themselves (auth.*, account.check, session.*) and the daemon's own
 * bookkeeping (policy.load, plugin.load, audit.checkpoint, key.grace,
 * key.verify, the TOTP steps of a login) are not privileged actions. */
static const struct lk_ev_query q_privileged = {
	"iso-privileged-actions",
	"SELECT actor_uid, action, count(*) FROM audit WHERE ts >= ?1 AND ts < ?2 "
	"AND action NOT LIKE 'auth.%' AND action NOT LIKE 'session.%' "
	"AND action NOT IN ('account.check', 'policy.load', 'plugin.load', "
	"'audit.checkpoint', 'key.grace', 'key.verify', 'totp.confirm', "
	"'totp.confirm-failed', 'totp.recovery-use', 'admin.denied') "
	"GROUP BY actor_uid, action ORDER BY actor_uid, action"
};

static const struct lk_ev_query q_admin_denied = {
	"iso-admin-denied", "SELECT seq, ts, actor_uid, reason, detail FROM audit "
	                    "WHERE action = 'admin.denied' AND ts >= ?1 AND ts < ?2 ORDER BY seq"
};

static const struct lk_ev_query q_purges = {
	"iso-log-removals", "SELECT seq, ts, actor_uid, reason, detail FROM audit "
	                    "WHERE action = 'audit.purge' AND ts >= ?1 AND ts < ?2 ORDER BY seq"
};

struct control {
	const char *id, *title, *activity;
	const char *tests[7]; /* NULL-terminated */
};

static const struct control controls[] = {
	{ "5.15",
	  "Access control",
	  "Each PAM service is decided by one validated policy file (environment, required "
	  "scopes, PAM-style stacked steps); a policy change through latchkey is validated, "
	  "atomic and audited with old and new hashes; peers are allowed per service.",
	  { "a5.15-policy-changes", "a5.15-boundary", NULL } },
	{ "5.16",
	  "Identity management",
	  "Every credential belongs to one owner, held once by name and everywhere else by a "
	  "random pseudonym; keys are issued and rotated through latchkey and audited.",
	  { "a5.16-issuance", "a5.16-population-end", NULL } },
	{ "5.17",
	  "Authentication information",
	  "Keys are shown once and stored only as keyed hashes; each has an expiry (at most "
	  "key_max_lifetime) and is due for rotation at rotation_age; TOTP seeds are sealed.",
	  { "a5.17-key-storage", "a5.17-rotation", "a5.17-key-age", NULL } },
	{ "5.18",
	  "Access rights",
	  "Keys carry scopes and an environment checked at every request; scopes are fixed "
	  "at issue (rotation keeps them); revocation, suspension and expiry take effect on "
	  "the next request; a departing owner's keys are revoked together (revoke-all) "
	  "within offboarding_sla.",
	  { "a5.18-population-start", "a5.18-removals", "a5.18-offboarding", "a5.18-scope-changes",
	    "a5.18-no-use-after-removal", NULL } },
	{ "8.2",
	  "Privileged access rights",
	  "Administration only through the admin socket, by role (admin, operator, auditor) "
	  "from the peer's uid and groups (SO_PEERCRED); every action and every refusal is "
	  "audited with the actor's uid; keys with wildcard or admin scopes are listed for "
	  "review.",
	  { "a8.2-privileged-keys", "a8.2-privileged-actions", "a8.2-refusals", NULL } },
	{ "8.5",
	  "Secure authentication",
	  "Policies stack API key, TOTP and client-certificate steps; MFA per service; "
	  "failures are rate-limited per credential and source; errors deny (fail closed).",
	  { "a8.5-mfa", "a8.5-certificate-rejections", "a8.16-lockouts", NULL } },
	{ "8.15",
	  "Logging",
	  "Every decision and lifecycle event is committed to a hash-chained, append-only "
	  "audit log before it is acknowledged; signed checkpoints at intervals and at every "
	  "report; removal only in whole segments by an audited purge.",
	  { "a8.15-checkpoints", "a8.15-log-removals", NULL } },
	{ "8.16",
	  "Monitoring activities",
	  "Failures and lockouts are recorded and reported in these packs; lockouts are the "
	  "only automatic response (no alerting yet).",
	  { "a8.16-failures", "a8.16-lockouts", "a8.16-alerts", NULL } },
	{ "8.24",
	  "Use of cryptography",
	  "libsodium: keyed BLAKE2b-256 key hashes under a versioned pepper, "
	  "XChaCha20-Poly1305 sealed TOTP seeds, BLAKE2b-256 audit chain, Ed25519 "
	  "checkpoints and pack signatures; OpenSSL: TOTP HMAC and X.509.",
	  { "a5.17-key-storage", "a8.24-totp", "a8.24-signing", NULL } },
};

#define N_CONTROLS (sizeof(controls) / sizeof(controls[0]))

static void matrix(struct rep *r)
{
	ev_start(r, "matrix");
	for (size_t i = 0; i < N_CONTROLS; i++) {
		ev_start(r, "control");
		ev_attr(r, "id", controls[i].id);
		ev_attr(r, "title", controls[i].title);
		ev_text(r, "activity", controls[i].activity);
		for (size_t t = 0; controls[i].tests[t] != NULL; t++) {
			ev_start(r, "covered-by");
			ev_attr(r, "test", controls[i].tests[t]);
			ev_end(r);
		}
		ev_end(r);
	}
	ev_end(r);
}

static void criterion(struct rep *r, size_t i)
{
	ev_criterion_open(r, controls[i].id, controls[i].title);
}

/* ---- ISO-specific tests ----------------------------------------------- */

/* Keys due for rotation or past expiry at the period's end: overdue ones
 * (usable, older than rotation_age) are exceptions; expired ones no longer
 * work and are listed as information. */
static int rotation(struct rep *r, struct lk_err *err)
{
	char age[32], note[96];
	sqlite3_stmt *st;
	int64_t n = 0, overdue = 0;
	int rc, ret;

	lk_duration_format(r->p->cfg->rotation_age, age, sizeof(age));
	ev_test_open(r, "a5.17-rotation", &q_rotation, "Keys overdue for rotation",
	             "Every key not revoked at the period's end (?2) that is older than "
	             "rotation_age (?3, in seconds) or past its expiry. An overdue key still "
	             "works and is an exception; an expired one is refused at every request "
	             "(status stays as stored) and is information.");
	if ((ret = ev_query(r, &q_rotation, &st, err)) < 0)
		return ret;
	sqlite3_bind_int64(st, 3, r->p->cfg->rotation_age);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = ev_col(st, 4);
		ev_start(r, "row");
		ev_attr(r, "kid", ev_col(st, 0));
		ev_attr(r, "subject", ev_col(st, 1));
		ev_attr_time(r, "created", sqlite3_column_int64(st, 2));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			ev_attr_time(r, "expires", sqlite3_column_int64(st, 3));
		ev_attr(r, "status", status);
		ev_end(r);
		overdue += strcmp(status, "overdue") == 0;
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q_rotation.id, err)) < 0)
		return ret;
	snprintf(note, sizeof(note), "rotation_age = %s; %lld overdue", age, (long long)overdue);
	ev_result(r, n, overdue, n > 0 ? note : NULL);
	ev_add_exception(r, "a5.17-rotation", overdue);
	ev_end(r);
	return LK_OK;
}

static int signing(struct rep *r, struct lk_err *err)
{
	static const char *const cols[] = { "key-id", "count", "time", "", NULL };
	char method[320];

	/* The key that signs this pack is named in the cover too. */
	snprintf(method, sizeof(method),
	         "Every Ed25519 key that signed a checkpoint still in the log, with how many "
	         "and the first (time). This pack and its checkpoint are signed by key id %s "
	         "(cover/signer; signing.pub.pem).",
	         lk_signer_key_id(r->signer));
	return ev_listing(r, &q_signing_keys, "a8.24-signing", "Signing keys in use", method, cols,
	                  false, NULL, err);
}

static void alerts(struct rep *r)
{
	ev_test_open(r, "a8.16-alerts", NULL, "Alerts raised and their disposition",
	             "Latchkey raises no alerts yet; lockouts are its only automatic response. "
	             "The population of alerts is empty by construction.");
	ev_result(r, 0, 0, "No alerts: not occurring (no alerting is in place).");
	ev_end(r);
}

/* ---- the controls ----------------------------------------------------- */

static int a5_15(struct rep *r, struct lk_err *err)
{
	static const char *const policy[] = { "seq",    "time",   "actor", "action",
		                              "reason", "detail", NULL };
	static const char *const boundary[] = { "action", "reason", "count", NULL };
	int ret;

	criterion(r, 0);
	if ((ret = ev_listing(r, EVQ(Q_POLICY), "a5.15-policy-changes",
	                      "Access control policy changes and loads",
	                      "Every policy change made through latchkey (service, old and new "
	                      "content hash, ticket, who) and every policy latchkeyd loaded.",
	                      policy, false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(r, EVQ(Q_BOUNDARY), "a5.15-boundary", "Refused peers and requests",
	                      "Protocol errors, peers not allowed to speak for a service, and "
	                      "admin requests refused for their role.",
	                      boundary, false, NULL, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a5_16(struct rep *r, struct lk_err *err)
{
	static const char *const issuance[] = { "seq", "time",    "actor",  "action",
		                                "kid", "subject", "detail", NULL };
	int ret;

	criterion(r, 1);
	if ((ret = ev_listing(r, EVQ(Q_ISSUANCE), "a5.16-issuance", "Issuance register",
	                      "Every key issued or rotated in the period, with who did it and "
	                      "the owner's pseudonym.",
	                      issuance, false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_key_population(r, EVQ(Q_KEYS_AT_END), "a5.16-population-end",
	                             "Identities holding keys at the period's end", err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a5_17(struct rep *r, struct lk_err *err)
{
	static const char *const hashes[] = { "name", "version", "status", "count", NULL };
	int ret;

	criterion(r, 2);
	if ((ret = ev_listing(r, &q_key_hashes, "a5.17-key-storage", "How API keys are stored",
	                      "Every API key by hash algorithm (name), pepper version and "
	                      "status: the secret is stored only as this keyed hash.",
	                      hashes, false, NULL, err)) < 0)
		return ret;
	if ((ret = rotation(r, err)) < 0)
		return ret;
	if ((ret = ev_key_age(r, "a5.17-key-age", err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a5_18(struct rep *r, struct lk_err *err)
{
	static const char *const removals[] = { "seq", "time",    "actor",  "action",
		                                "kid", "subject", "reason", NULL };
	static const char *const after[] = { "seq",    "time",    "kid", "detail",
		                             "status", "expires", NULL };
	int ret;

	criterion(r, 3);
	if ((ret = ev_key_population(r, EVQ(Q_KEYS_AT_START), "a5.18-population-start",
	                             "Access rights at the period's start", err)) < 0)
		return ret;
	if ((ret = ev_listing(r, &q_revocations, "a5.18-removals",
	                      "Access rights removed, suspended or restored",
	                      "Every key revocation, suspension and resumption in the period, "
	                      "and every revoke-all for a departing owner.",
	                      removals, false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_offboarding(r, "a5.18-offboarding", err)) < 0)
		return ret;
	if ((ret = ev_scope_changes(r, "a5.18-scope-changes", err)) < 0)
		return ret;
	if ((ret = ev_listing(
	         r, EVQ(Q_AFTER_REVOKE), "a5.18-no-use-after-removal",
	         "No successful authentication with a revoked, expired or suspended key",
	         "Every successful decision in the period whose key was expired, revoked, or "
	         "suspended and not resumed, at the decision's time. Must be zero; each row is "
	         "an exception.",
	         after, true,
	         "No successful authentication with a revoked, expired or suspended key: not "
	         "occurring.",
	         err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a8_2(struct rep *r, struct lk_err *err)
{
	static const char *const actions[] = { "actor", "action", "count", NULL };
	static const char *const denied[] = { "seq", "time", "actor", "reason", "detail", NULL };
	int ret;

	criterion(r, 4);
	if ((ret = ev_privileged_keys(r, "a8.2-privileged-keys", err)) < 0)
		return ret;
	if ((ret = ev_listing(r, &q_privileged, "a8.2-privileged-actions",
	                      "Privileged actions by actor",
	                      "Every administrative action in the period (key lifecycle, TOTP "
	                      "administration, policy changes, erasure, purges, key generation) "
	                      "counted by the uid that did it.",
	                      actions, false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(r, &q_admin_denied, "a8.2-refusals",
	                      "Administrative requests refused for their role",
	                      "Every admin request refused because the peer's role did not "
	                      "allow it.",
	                      denied, false, NULL, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a8_5(struct rep *r, struct lk_err *err)
{
	static const char *const grouped[] = { "reason", "count", NULL };
	int ret;

	criterion(r, 5);
	if ((ret = ev_mfa(r, "a8.5-mfa", err)) < 0)
		return ret;
	if ((ret = ev_listing(r, EVQ(Q_CERT_REJECTIONS), "a8.5-certificate-rejections",
	                      "Client certificate rejections by reason",
	                      "Every denied decision in the period whose policy ran an mtls "
	                      "step, counted by reason.",
	                      grouped, false, NULL, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a8_15(struct rep *r, struct lk_err *err)
{
	static const char *const cps[] = { "number", "time", "seq", "key-id", NULL };
	static const char *const purges[] = { "seq", "time", "actor", "reason", "detail", NULL };
	int ret;

	criterion(r, 6);
	if ((ret = ev_listing(r, EVQ(Q_CHECKPOINTS), "a8.15-checkpoints",
	                      "Signed checkpoints in the period",
	                      "Every signed checkpoint of the audit chain made in the period, "
	                      "with its key id. The pack's verification of the whole chain and "
	                      "of every checkpoint is in the integrity section; a broken chain "
	                      "is in the exceptions register.",
	                      cps, false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(r, &q_purges, "a8.15-log-removals", "Log segments removed",
	                      "Every audit purge in the period: the anchor checkpoint, the rows "
	                      "removed, who and why.",
	                      purges, false, "No log removal in the period: not occurring.", err)) <
	    0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int a8_16(struct rep *r, struct lk_err *err)
{
	static const char *const grouped[] = { "reason", "count", NULL };
	static const char *const lockouts[] = { "seq", "time", "kid", "subject", "detail", NULL };
	int ret;

	criterion(r, 7);
	if ((ret = ev_listing(r, EVQ(Q_FAILURES), "a8.16-failures",
	                      "Authentication failures by reason",
	                      "Every denied decision in the period, counted by reason.", grouped,
	                      false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(r, EVQ(Q_LOCKOUTS), "a8.16-lockouts", "Lockouts",
	                      "Every credential or source locked out in the period.", lockouts,
	                      false, NULL, err)) < 0)
		return ret;
	alerts(r);
	ev_end(r);
	return LK_OK;
}

static int a8_24(struct rep *r, struct lk_err *err)
{
	static const char *const totp[] = { "name", "detail", "version", "status", "count", NULL };
	int ret;

	criterion(r, 8);
	if ((ret = ev_listing(r, &q_totp_algs, "a8.24-totp", "TOTP algorithms and seed sealing",
	                      "Every TOTP credential by HMAC algorithm (name), seal version and "
	                      "status. Seeds are sealed with XChaCha20-Poly1305; the "
	                      "certificate inventory records no signature or key algorithm.",
	                      totp, false, NULL, err)) < 0)
		return ret;
	if ((ret = signing(r, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int iso27001_body(struct rep *r, struct lk_err *err)
{
	static int (*const criteria[])(struct rep *, struct lk_err *) = { a5_15, a5_16, a5_17,
		                                                          a5_18, a8_2,  a8_5,
		                                                          a8_15, a8_16, a8_24 };
	int ret;

	if ((ret = ev_system(r, err)) < 0)
		return ret;
	matrix(r);
	for (size_t i = 0; i < sizeof(criteria) / sizeof(criteria[0]); i++)
		if ((ret = criteria[i](r, err)) < 0)
			return ret;
	return LK_OK;
}

const struct lk_framework lk_framework_iso27001 = {
	.name = "iso27001",
	.title = "ISO/IEC 27001:2022 evidence: Annex A access control (5.15-5.18, 8.2), secure "
	         "authentication (8.5), logging and monitoring (8.15, 8.16), cryptography (8.24)",
	.body = iso27001_body,
};
