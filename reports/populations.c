/* SPDX-License-Identifier: Apache-2.0 */
/* Tests that more than one framework runs over the same populations. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pack-private.h"
#include "scopes-private.h"
#include "util-private.h"

int ev_key_population(struct rep *r, const struct lk_ev_query *q, const char *id, const char *title,
                      struct lk_err *err)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc, ret;

	ev_test_open(r, id, q, title,
	             "Every API key issued before the instant and neither expired nor revoked at "
	             "it (suspension is a reversible state and is counted).");
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev_start(r, "row");
		ev_attr(r, "kid", ev_col(st, 0));
		ev_attr(r, "subject", ev_col(st, 1));
		ev_attr(r, "env", ev_col(st, 2));
		ev_attr(r, "scopes", ev_col(st, 3));
		ev_attr_time(r, "created", sqlite3_column_int64(st, 4));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			ev_attr_time(r, "expires", sqlite3_column_int64(st, 5));
		ev_end(r);
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	ev_result(r, n, 0, NULL);
	ev_end(r);
	return LK_OK;
}

/* ---- the system description ---------------------------------------- */

/* What the system is, for an auditor who has not seen it; each claim is
 * the code's (pam/, daemon/, core/; DESIGN.md). */
static const char *const system_text[] = {
	"Latchkey authenticates the users and machine clients of Linux services that "
	"authenticate through PAM. Each such service lists pam_latchkey.so in its PAM "
	"configuration; the module holds no keys and opens no database: it forwards the request "
	"over a Unix socket to latchkeyd, having checked with SO_PEERCRED that the socket "
	"belongs to the daemon's user, and latchkeyd checks which services the calling uid may "
	"speak for. If latchkeyd cannot be reached the module returns an error, never success.",
	"latchkeyd decides each request by the policy file of its service: a stack of plugins "
	"(apikey, totp, mtls) run with Linux-PAM's required, requisite, sufficient and optional "
	"semantics, the environment the service belongs to, the scopes a key must hold, and "
	"step-up factors. A policy that does not validate makes its service deny everything; a "
	"plugin that does not load fails its step. Every decision records the SHA-256 of the "
	"policy that made it; latchkeyd records each policy it puts in service (below).",
	"Methods: API keys, stored only as keyed BLAKE2b-256 hashes under a pepper derived from "
	"a master key that only latchkeyd can read; TOTP second factors (RFC 6238), their seeds "
	"sealed with XChaCha20-Poly1305 and each code accepted at most once; mutual-TLS client "
	"certificates, checked against the CA (and CRL) that the policy names.",
	"Every decision and every lifecycle event (keys issued, rotated, suspended, resumed and "
	"revoked; policies and plugins loaded; policies changed) is appended to an audit table "
	"before the decision is acknowledged. Each row is chained to the one before by "
	"BLAKE2b-256, and the chain is signed (Ed25519 checkpoints) at intervals and for every "
	"report: the integrity section verifies both. People appear in the log by pseudonym.",
};

/* A population element of the system description (<services>, <plugins>). */
static int system_rows(struct rep *r, const char *element, const struct lk_ev_query *q,
                       bool services, struct lk_err *err)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc, ret;

	ev_start(r, element);
	ev_attr(r, "query", q->id);
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev_start(r, "row");
		if (services) {
			ev_attr(r, "service", ev_col(st, 0));
			ev_attr(r, "sha256", ev_col(st, 1));
			ev_attr(r, "steps", ev_col(st, 2));
			ev_attr(r, "required", ev_col(st, 3));
			ev_attr_time(r, "first-loaded", sqlite3_column_int64(st, 4));
			ev_attr_time(r, "last-seen", sqlite3_column_int64(st, 5));
		} else {
			ev_attr(r, "name", ev_col(st, 0));
			ev_attr(r, "version", ev_col(st, 1));
			ev_attr(r, "sha256", ev_col(st, 2));
			ev_attr(r, "path", ev_col(st, 3));
			ev_attr_time(r, "first-loaded", sqlite3_column_int64(st, 4));
		}
		ev_end(r);
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	ev_result(r, n, 0,
	          n > 0      ? NULL
	          : services ? "No policy on record: not occurring."
	                     : "No plugin build on record: not occurring.");
	ev_end(r);
	return LK_OK;
}

int ev_system(struct rep *r, struct lk_err *err)
{
	int ret;

	ev_start(r, "system");
	for (size_t i = 0; i < sizeof(system_text) / sizeof(system_text[0]); i++)
		ev_text(r, "description", system_text[i]);
	if ((ret = system_rows(r, "services", EVQ(Q_POLICIES), true, err)) < 0)
		return ret;
	if ((ret = system_rows(r, "plugins", EVQ(Q_PLUGIN_BUILDS), false, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

/* ---- CC6.1: MFA --------------------------------------------------------- */

struct service_mfa {
	char name[64];
	int64_t successes, multi;
};

/* The service's counters, added on first sight; NULL when out of memory. */
static struct service_mfa *mfa_service(struct service_mfa **sv, size_t *n_sv, const char *name)
{
	struct service_mfa *m;
	size_t i;

	for (i = 0; i < *n_sv && strcmp((*sv)[i].name, name) != 0; i++)
		;
	if (i < *n_sv)
		return &(*sv)[i];
	m = realloc(*sv, (*n_sv + 1) * sizeof(**sv));
	if (m == NULL)
		return NULL;
	*sv = m;
	memset(&m[i], 0, sizeof(*m));
	snprintf(m[i].name, sizeof(m[i].name), "%s", name);
	(*n_sv)++;
	return &m[i];
}

/* One listed success: below its policy's required factors, or under a
 * policy not on record (required NULL). */
static void mfa_row(struct rep *r, sqlite3_stmt *st, const char *service, const char *policy,
                    const char *steps, int factors, const char *required)
{
	ev_start(r, "row");
	ev_attr_int(r, "seq", sqlite3_column_int64(st, 0));
	ev_attr_time(r, "time", sqlite3_column_int64(st, 1));
	ev_attr_dash(r, "service", service);
	ev_attr_dash(r, "kid", ev_col(st, 2));
	ev_attr_dash(r, "subject", ev_col(st, 3));
	ev_attr_dash(r, "policy", policy);
	ev_attr_dash(r, "steps", steps);
	ev_attr_int(r, "factors", factors);
	ev_attr(r, "required", required != NULL ? required : "not on record");
	ev_attr(r, "detail", required != NULL ? ev_col(st, 6) : "policy not on record");
	ev_end(r);
}

static void mfa_services(struct rep *r, const struct service_mfa *sv, size_t n_sv)
{
	for (size_t i = 0; i < n_sv; i++) {
		ev_start(r, "service");
		ev_attr(r, "name", sv[i].name);
		ev_attr_int(r, "successes", sv[i].successes);
		ev_attr_int(r, "multi-factor", sv[i].multi);
		ev_attr_int(r, "single-factor", sv[i].successes - sv[i].multi);
		ev_end(r);
	}
}

int ev_mfa(struct rep *r, const char *id, struct lk_err *err)
{
	const struct lk_ev_query *q = EVQ(Q_SUCCESSES_POLICY);
	struct service_mfa *sv = NULL;
	size_t n_sv = 0;
	sqlite3_stmt *st;
	int64_t n = 0, single = 0, below = 0, unknown = 0;
	char note[200];
	int rc, ret;

	ev_test_open(
	    r, id, q, "MFA enforcement per service",
	    "Every successful decision in the period, with what its policy required: the policy "
	    "is looked up by the hash the decision records (policy=) among the policies latchkeyd "
	    "put in service (policy_evidence), each with its required factors, the fewest "
	    "distinct plugins any success under it has succeeded with (required and requisite "
	    "steps and "
	    "step-ups that apply to every request; a sufficient step is an alternative path; "
	    "optional steps do not count; reports/README.md). A factor is a distinct plugin whose "
	    "step succeeded (ok, or satisfied by an earlier step). Listed: each success with "
	    "fewer factors than its policy requires (an exception), and each success whose policy "
	    "is not on record (information: what it required cannot be shown from the log). "
	    "Step-ups for some requested scopes only are not counted: a decision does not record "
	    "the scopes it was asked for.");
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = ev_col(st, 4);
		char service[64], policy[80], steps[512], required[16];
		struct service_mfa *m;
		int factors;

		ev_detail_field(detail, "service", service, sizeof(service));
		ev_detail_field(detail, "policy", policy, sizeof(policy));
		ev_detail_field(detail, "steps", steps, sizeof(steps));
		factors = ev_factors(steps);
		if ((m = mfa_service(&sv, &n_sv, service)) == NULL) {
			sqlite3_finalize(st);
			ret = lk_err_set(err, LK_ENOMEM, "out of memory");
			goto out;
		}
		m->successes++;
		m->multi += factors >= 2;
		if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
			mfa_row(r, st, service, policy, steps, factors, NULL);
			unknown++;
		} else if (factors < sqlite3_column_int(st, 5)) {
			snprintf(required, sizeof(required), "%d", sqlite3_column_int(st, 5));
			mfa_row(r, st, service, policy, steps, factors, required);
			below++;
		}
		single += factors < 2;
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		goto out;
	mfa_services(r, sv, n_sv);
	snprintf(note, sizeof(note),
	         "%lld of %lld successes with a single factor; %lld with fewer factors than "
	         "their policy requires; %lld under a policy not on record.",
	         (long long)single, (long long)n, (long long)below, (long long)unknown);
	ev_result(r, n, below, note);
	ev_add_exception(r, id, below);
	ev_end(r);
	ret = LK_OK;
out:
	free(sv);
	return ret;
}

/* ---- CC6.1: key age ----------------------------------------------------- */

static const struct {
	const char *label;
	int64_t max_days; /* inclusive */
} age_buckets[] = {
	{ "0-30d", 30 }, { "31-60d", 60 }, { "61-90d", 90 }, { "over 90d", INT64_MAX }
};

int ev_key_age(struct rep *r, const char *id, struct lk_err *err)
{
	enum { N_BUCKETS = sizeof(age_buckets) / sizeof(age_buckets[0]) };
	const struct lk_ev_query *q = EVQ(Q_KEYS_AT_END);
	int64_t count[N_BUCKETS] = { 0 }, n = 0, old = 0, limit = r->p->cfg->rotation_age;
	char method[400], note[160], limit_s[32];
	sqlite3_stmt *st;
	int rc, ret;

	lk_duration_format(limit, limit_s, sizeof(limit_s));
	snprintf(method, sizeof(method),
	         "Every API key live at the period's end (as in the population at the end), by "
	         "its age then, in days since it was created. Listed: each key older than the "
	         "configured rotation_age (%s), for the auditor to follow up (latchkey key due "
	         "lists the same keys as due).",
	         limit_s);
	ev_test_open(r, id, q, "Key age at the period's end", method);
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t age = r->p->to - sqlite3_column_int64(st, 4);
		size_t b = 0;
		char age_s[32];

		while (b + 1 < N_BUCKETS && age / 86400 > age_buckets[b].max_days)
			b++;
		count[b]++;
		n++;
		if (age <= limit)
			continue;
		ev_lag_format(age, age_s, sizeof(age_s));
		ev_start(r, "row");
		ev_attr(r, "kid", ev_col(st, 0));
		ev_attr(r, "subject", ev_col(st, 1));
		ev_attr(r, "env", ev_col(st, 2));
		ev_attr_time(r, "created", sqlite3_column_int64(st, 4));
		ev_attr(r, "age", age_s);
		ev_end(r);
		old++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		ev_start(r, "bucket");
		ev_attr(r, "label", age_buckets[b].label);
		ev_attr_int(r, "count", count[b]);
		ev_end(r);
	}
	snprintf(note, sizeof(note), "%lld of %lld keys older than the rotation age (%s).",
	         (long long)old, (long long)n, limit_s);
	ev_result(r, n, 0, note);
	ev_end(r);
	return LK_OK;
}

/* ---- CC6.2: offboarding -------------------------------------------------- */

/* left=<unix seconds> from the detail; false when absent or not a number. */
static bool detail_time(const char *detail, const char *name, int64_t *ret)
{
	char v[32], *end;
	long long t;

	ev_detail_field(detail, name, v, sizeof(v));
	if (v[0] == '\0')
		return false;
	errno = 0;
	t = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || t < 0)
		return false;
	*ret = (int64_t)t;
	return true;
}

int ev_offboarding(struct rep *r, const char *id, struct lk_err *err)
{
	const struct lk_ev_query *q = EVQ(Q_OFFBOARDING);
	int64_t sla = r->p->cfg->offboarding_sla, n = 0, late = 0, unknown = 0;
	char method[600], sla_s[32], note[200];
	sqlite3_stmt *st;
	int rc, ret;

	lk_duration_format(sla, sla_s, sizeof(sla_s));
	snprintf(method, sizeof(method),
	         "Every revocation of all of an owner's keys (latchkey key revoke-all) in the "
	         "period, with the departure time recorded with it (--left), the time of the "
	         "revocation and the lag between them, against the configured offboarding_sla "
	         "(%s). A lag beyond it is an exception. A revocation with no departure time "
	         "recorded is listed as information (departure time not recorded): its "
	         "timeliness cannot be shown from the log.",
	         sla_s);
	ev_test_open(r, id, q, "Offboarding: all keys revoked within the SLA", method);
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = ev_col(st, 5);
		int64_t revoked = sqlite3_column_int64(st, 1), left = 0;
		bool known = detail_time(detail, "left", &left);
		char lag[32], count[16];

		ev_lag_format(revoked - left, lag, sizeof(lag));
		ev_detail_field(detail, "revoked", count, sizeof(count));
		ev_start(r, "row");
		ev_attr_int(r, "seq", sqlite3_column_int64(st, 0));
		ev_attr_time(r, "revoked", revoked);
		ev_attr_dash(r, "subject", ev_col(st, 3));
		ev_attr(r, "actor", ev_col(st, 2));
		ev_attr(r, "reason", ev_col(st, 4));
		ev_attr_dash(r, "count", count);
		ev_attr(r, "sla", sla_s);
		ev_attr(r, "lag", known ? lag : "-");
		ev_attr(r, "within-sla",
		        !known                  ? "departure time not recorded"
		        : revoked - left <= sla ? "yes"
		                                : "no");
		if (known)
			ev_attr_time(r, "left", left);
		ev_end(r);
		late += known && revoked - left > sla;
		unknown += !known;
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	snprintf(note, sizeof(note),
	         "%lld revoked later than the SLA after the departure; %lld with no departure "
	         "time recorded.",
	         (long long)late, (long long)unknown);
	ev_result(r, n, late, n > 0 ? note : "No offboarding in the period: not occurring.");
	ev_add_exception(r, id, late);
	ev_end(r);
	return LK_OK;
}

/* ---- CC6.3: scopes -------------------------------------------------------- */

bool ev_scope_privileged(const char *scope)
{
	const char *p = scope;

	if (strchr(scope, '*') != NULL)
		return true;
	while (*p != '\0') {
		size_t len = strcspn(p, ":/.");
		if (len == 5 && strncmp(p, "admin", 5) == 0)
			return true;
		p += len;
		if (*p != '\0')
			p++;
	}
	return false;
}

/* True if a space-joined scope set holds a privileged scope. */
static bool scopes_privileged(const char *set)
{
	char one[LK_SCOPE_LEN_MAX + 2];
	const char *p = set;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, " ");
		/* A scope longer than the grammar allows was not written by
		 * latchkey: looked at whole, never skipped. */
		if (len >= sizeof(one))
			return true;
		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		if (ev_scope_privileged(one))
			return true;
		p += len;
		p += *p == ' ';
	}
	return false;
}

int ev_privileged_keys(struct rep *r, const char *id, struct lk_err *err)
{
	const struct lk_ev_query *q = EVQ(Q_KEYS_AT_END);
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc, ret;

	ev_test_open(r, id, q, "Keys with administrative or wildcard scopes",
	             "Every API key live at the period's end (as in the population at the end) "
	             "holding a privileged scope: \"admin\", or a scope one of whose parts "
	             "(separated by ':', '/' or '.') is \"admin\" (\"ssh:admin\", \"repo/admin\"), "
	             "or any scope with '*'. Latchkey's scope grammar has no wildcard (a key "
	             "holds exactly the scopes it was given), so a '*' shows a row written "
	             "outside latchkey. Information: each is for the auditor to match against "
	             "an approval.");
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!scopes_privileged(ev_col(st, 3)))
			continue;
		ev_start(r, "row");
		ev_attr(r, "kid", ev_col(st, 0));
		ev_attr(r, "subject", ev_col(st, 1));
		ev_attr(r, "env", ev_col(st, 2));
		ev_attr(r, "scopes", ev_col(st, 3));
		ev_attr_time(r, "created", sqlite3_column_int64(st, 4));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			ev_attr_time(r, "expires", sqlite3_column_int64(st, 5));
		ev_end(r);
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	ev_result(r, n, 0, n == 0 ? "No live key with a privileged scope: not occurring." : NULL);
	ev_end(r);
	return LK_OK;
}

int ev_scope_changes(struct rep *r, const char *id, struct lk_err *err)
{
	const struct lk_ev_query *q = EVQ(Q_SCOPE_CHANGES);
	sqlite3_stmt *st;
	int64_t n = 0, drift = 0;
	char note[120];
	int rc, ret;

	ev_test_open(
	    r, id, q, "Scopes granted and carried over",
	    "Every API key created in the period, issued or rotated from an earlier key, with "
	    "the scopes it holds; for a rotation, the scopes of the key it replaced. A key's "
	    "scopes never change after issue (latchkey has no verb for it: more scopes take a "
	    "new key, in the issuance register), and rotation copies them (core/keys.c), so a "
	    "rotated key whose scopes differ from its predecessor's, or whose predecessor is not "
	    "there, was written outside latchkey: an exception.");
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *scopes = ev_col(st, 3), *from = ev_col(st, 4), *old = ev_col(st, 5);
		bool bad = from != NULL && (old == NULL || strcmp(old, scopes) != 0);
		char detail[96];

		if (from == NULL)
			snprintf(detail, sizeof(detail), "issued");
		else
			snprintf(detail, sizeof(detail), "rotated from %s: %s", from,
			         old == NULL ? "predecessor not on record"
			         : bad       ? "scopes differ"
			                     : "same scopes");
		ev_start(r, "row");
		ev_attr_time(r, "time", sqlite3_column_int64(st, 0));
		ev_attr(r, "action", from == NULL ? "issue" : "rotate");
		ev_attr(r, "kid", ev_col(st, 1));
		ev_attr(r, "subject", ev_col(st, 2));
		ev_attr(r, "scopes", scopes);
		ev_attr_dash(r, "old", old);
		ev_attr(r, "detail", detail);
		ev_end(r);
		drift += bad;
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	snprintf(note, sizeof(note),
	         "%lld rotated key%s whose scopes differ from the key replaced.", (long long)drift,
	         drift == 1 ? "" : "s");
	ev_result(r, n, drift, n > 0 ? note : "No key created in the period: not occurring.");
	ev_add_exception(r, id, drift);
	ev_end(r);
	return LK_OK;
}

/* ---- CC6.8 / CC7.1: plugins ------------------------------------------------ */

int ev_plugins(struct rep *r, const char *id, struct lk_err *err)
{
	const struct lk_ev_query *q = EVQ(Q_PLUGIN_LOADS);
	sqlite3_stmt *st;
	int64_t n = 0, failed = 0;
	char note[120];
	int rc, ret;

	ev_test_open(r, id, q, "Plugin loads",
	             "Every plugin load latchkeyd recorded in the period: a build loaded for the "
	             "first time (name, version, SHA-256 of the file, path), and every load that "
	             "failed (the step then fails: a plugin that cannot load never succeeds). The "
	             "builds on record are in the system description.");
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = ev_col(st, 4);
		char name[64], version[64], sha[80], path[512], error[600];

		ev_detail_field(detail, "name", name, sizeof(name));
		ev_detail_field(detail, "version", version, sizeof(version));
		ev_detail_field(detail, "sha256", sha, sizeof(sha));
		ev_detail_field(detail, "path", path, sizeof(path));
		ev_detail_rest(detail, "error", error, sizeof(error));
		ev_start(r, "row");
		ev_attr_int(r, "seq", sqlite3_column_int64(st, 0));
		ev_attr_time(r, "time", sqlite3_column_int64(st, 1));
		ev_attr(r, "actor", ev_col(st, 2));
		ev_attr(r, "result", ev_col(st, 3));
		ev_attr_dash(r, "name", name);
		ev_attr_dash(r, "version", version);
		ev_attr_dash(r, "sha256", sha);
		ev_attr_dash(r, "path", path);
		ev_attr_dash(r, "detail", error);
		ev_end(r);
		failed += strcmp(ev_col(st, 3), "ok") != 0;
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	snprintf(note, sizeof(note), "%lld build%s loaded; %lld load%s failed.",
	         (long long)(n - failed), n - failed == 1 ? "" : "s", (long long)failed,
	         failed == 1 ? "" : "s");
	ev_result(r, n, 0, n > 0 ? note : "No plugin loaded in the period: not occurring.");
	ev_end(r);
	return LK_OK;
}

/* ---- CC8.1: policy changes ------------------------------------------------- */

static void policy_row(struct rep *r, sqlite3_stmt *st)
{
	const char *action = ev_col(st, 3), *detail = ev_col(st, 5);
	bool change = strcmp(action, "policy.change") == 0;
	char service[80], kind[40], old[80], new[80], ticket[80], policy[80], error[600];

	ev_detail_field(detail, "service", service, sizeof(service));
	ev_detail_field(detail, "change", kind, sizeof(kind));
	ev_detail_field(detail, "old", old, sizeof(old));
	ev_detail_field(detail, "new", new, sizeof(new));
	/* The ticket is free text, written last. */
	ev_detail_rest(detail, "ticket", ticket, sizeof(ticket));
	ev_detail_field(detail, "policy", policy, sizeof(policy));
	if (policy[0] == '\0') /* refused: the policy kept in force */
		ev_detail_field(detail, "kept", policy, sizeof(policy));
	ev_detail_rest(detail, "error", error, sizeof(error));
	ev_start(r, "row");
	ev_attr_int(r, "seq", sqlite3_column_int64(st, 0));
	ev_attr_time(r, "time", sqlite3_column_int64(st, 1));
	ev_attr(r, "actor", ev_col(st, 2));
	ev_attr(r, "action", action);
	ev_attr(r, "reason", ev_col(st, 4));
	ev_attr_dash(r, "service", service);
	ev_attr_dash(r, "change", change ? kind : NULL);
	ev_attr_dash(r, "old", change ? old : NULL);
	ev_attr_dash(r, "new", change ? new : NULL);
	ev_attr_dash(r, "ticket", change ? ticket : NULL);
	ev_attr_dash(r, "policy", change ? NULL : policy);
	ev_attr_dash(r, "detail", error);
	ev_end(r);
}

int ev_policy_changes(struct rep *r, const char *id, struct lk_err *err)
{
	const struct lk_ev_query *q = EVQ(Q_POLICY);
	sqlite3_stmt *st;
	int64_t n = 0, changes = 0, no_ticket = 0;
	char note[160];
	int rc, ret;

	ev_test_open(r, id, q, "Policy change and load log",
	             "Every policy change made through latchkey in the period (who, when, the "
	             "service, the kind of change, the old and new SHA-256 of the file, the "
	             "change ticket given with --ticket, or none) and every policy load "
	             "latchkeyd recorded (ok: in service, by hash; refused: the new file did "
	             "not validate and the previous policy stays; invalid: the service denies "
	             "everything; removed). Information: the auditor matches each change to "
	             "its approval.");
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char ticket[80];

		policy_row(r, st);
		if (strcmp(ev_col(st, 3), "policy.change") == 0) {
			ev_detail_rest(ev_col(st, 5), "ticket", ticket, sizeof(ticket));
			changes++;
			no_ticket += ticket[0] == '\0' || strcmp(ticket, "none") == 0;
		}
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	snprintf(note, sizeof(note), "%lld change%s (%lld without a ticket), %lld load%s.",
	         (long long)changes, changes == 1 ? "" : "s", (long long)no_ticket,
	         (long long)(n - changes), n - changes == 1 ? "" : "s");
	ev_result(r, n, 0, n > 0 ? note : NULL);
	ev_end(r);
	return LK_OK;
}

static bool is_time_column(const char *name)
{
	static const char *const times[] = { "time", "created", "expires", "first-loaded",
		                             "last-seen" };

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (strcmp(name, times[i]) == 0)
			return true;
	return false;
}

/* A row-listing test: each column of the query an attribute (NULL
 * columns left out; columns named as times in is_time_column are times). */
int ev_listing(struct rep *r, const struct lk_ev_query *q, const char *id, const char *title,
               const char *method, const char *const *names, bool exceptions, const char *zero_note,
               struct lk_err *err)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc, ret;

	ev_test_open(r, id, q, title, method);
	if ((ret = ev_query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev_start(r, "row");
		for (int i = 0; names[i] != NULL; i++) {
			if (sqlite3_column_type(st, i) == SQLITE_NULL || names[i][0] == '\0')
				continue;
			if (is_time_column(names[i]))
				ev_attr_time(r, names[i], sqlite3_column_int64(st, i));
			else
				ev_attr(r, names[i], ev_col(st, i));
		}
		ev_end(r);
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, q->id, err)) < 0)
		return ret;
	ev_result(r, n, exceptions ? n : 0, n == 0 ? zero_note : NULL);
	if (exceptions)
		ev_add_exception(r, id, n);
	ev_end(r);
	return LK_OK;
}
