/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GDPR pack's body: the Art. 30(1) record of processing (the
 * controller's statements from latchkey.conf, and the categories of personal
 * data read from the schema as it stands), then the tests: the record's
 * completeness, retention per category (Art. 5(1)(e)), the Art. 32 measures
 * and their verification history, the erasure log (Art. 17) and the Art. 33
 * breach register.
 *
 * What counts as an exception, decided here (reports/README.md):
 *   - a mandatory Art. 30(1) item the configuration does not state: (a) the
 *     controller and its contact, (b) the purpose, (f) the time limit for
 *     erasure (audit_retention). (c) and (g) are written by the pack itself
 *     and so always stated; the DPO, (d) recipients and (e) transfers are
 *     mandatory only where applicable, and "none stated" is information;
 *   - a category whose only end is the retention period (the audit log,
 *     client addresses, failure counters) holding records older than that
 *     period at the period's end. Categories that end with the subject
 *     (erasure) are information: a key owner's name is kept while they hold
 *     keys. With no period stated nothing can be tested against it: that is
 *     the record's (f) exception, counted once, not again here.
 *
 * The categories' "where" and "never collected" texts describe the code
 * (core/keys.c, core/verify.c, core/lockout.c, core/totp.c, core/certs.c,
 * core/gdpr.c); a change there that stores something new must change them.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "pack-private.h"
#include "util-private.h"

/*
 * Every stored category, one row each, over the database as it stands (the
 * state tables keep no history). ?2 is the period's end and ?3 the
 * retention period in seconds (audit_retention; 0: none stated, and "older"
 * is then 0). Columns: category, records, data subjects, erased subjects,
 * oldest record, records older than ?2 - ?3, and for the audit log the
 * distinct actor uids.
 */
static const struct lk_ev_query q_categories = {
	"gdpr-categories",
	"SELECT 'owner-names', sum(name IS NOT NULL), count(*), sum(name IS NULL), "
	"min(CASE WHEN name IS NOT NULL THEN created END), "
	"sum(?3 > 0 AND name IS NOT NULL AND created < ?2 - ?3), NULL "
	"FROM subject WHERE kind = 'owner' "
	"UNION ALL SELECT 'client-addresses', count(*), count(*), 0, min(created), "
	"sum(?3 > 0 AND created < ?2 - ?3), NULL FROM subject WHERE kind = 'source' "
	"UNION ALL SELECT 'api-keys', count(*), count(DISTINCT owner_ref), "
	"(SELECT count(*) FROM subject s WHERE s.name IS NULL AND EXISTS "
	"(SELECT 1 FROM api_key k WHERE k.owner_ref = s.subject_ref)), min(created), "
	"sum(?3 > 0 AND created < ?2 - ?3), NULL FROM api_key "
	"UNION ALL SELECT 'totp', count(*), count(*), 0, min(created), "
	"sum(?3 > 0 AND created < ?2 - ?3), NULL FROM totp_credential "
	"UNION ALL SELECT 'certificates', count(*), count(DISTINCT principal_ref), "
	"sum(subject = '(erased)'), min(first_seen), sum(?3 > 0 AND first_seen < ?2 - ?3), "
	"NULL FROM certificate "
	"UNION ALL SELECT 'audit', count(*), count(DISTINCT subject_ref), "
	"(SELECT count(*) FROM subject s WHERE s.name IS NULL AND EXISTS "
	"(SELECT 1 FROM audit a WHERE a.subject_ref = s.subject_ref)), min(ts), "
	"sum(?3 > 0 AND ts < ?2 - ?3), count(DISTINCT actor_uid) FROM audit "
	"UNION ALL SELECT 'lockout', count(*), count(*), 0, min(nullif(window_start, 0)), "
	"sum(?3 > 0 AND window_start > 0 AND window_start < ?2 - ?3), NULL FROM lockout"
};

/* Erasure (Art. 17) and retention removals in the period: the erase, the
 * key revocations and TOTP removal it made, and audit purges. status: the
 * subject's name is gone ("erased subject") or still held. */
static const struct lk_ev_query q_erasures = {
	"gdpr-erasure-log",
	"SELECT a.seq, a.ts, a.actor_uid, a.action, a.subject_ref, a.kid, a.reason, a.detail, "
	"CASE WHEN a.subject_ref IS NULL THEN NULL WHEN s.name IS NULL THEN 'erased subject' "
	"ELSE 'name held' END "
	"FROM audit a LEFT JOIN subject s ON s.subject_ref = a.subject_ref "
	"WHERE a.ts >= ?1 AND a.ts < ?2 AND (a.action IN ('subject.erase', 'audit.purge') "
	"OR (a.reason = 'erased' AND a.action IN ('key.revoke', 'totp.remove'))) "
	"ORDER BY a.seq"
};

/* How a category ends. */
enum retention_kind {
	RET_SUBJECT, /* with the subject: erasure or removal */
	RET_PERIOD,  /* only the retention period (audit_retention) ends it */
};

struct category {
	const char *id, *title, *where, *retention;
	enum retention_kind kind;
};

static const struct category stored[] = {
	{ "owner-names", "Names of key owners (user and service account names)",
	  "subject.name (kind owner): the only place a name is held; every other table and "
	  "every audit row refer to the owner by a random pseudonym (subject_ref)",
	  "until erased (latchkey subject erase: the name is set to NULL, secure_delete)",
	  RET_SUBJECT },
	{ "client-addresses",
	  "Client addresses (PAM_RHOST): IPv4 addresses, IPv6 addresses (as given to an API-key "
	  "check or a session, as their /64 when a failure is counted) and host names (as "
	  "given)",
	  "subject.name (kind source): made at the first API-key check from an IP address "
	  "(core/verify.c), at the first counted failure (core/lockout.c) and at the first "
	  "session opened or closed from the address (daemon/account.c); audit rows hold only "
	  "the pseudonym (subject_ref, or source= and rhost= in the detail), lockout rows too",
	  "until latchkey audit purge removes the last audit row that refers to one (it "
	  "deletes the address then, secure_delete); tested against the retention period",
	  RET_PERIOD },
	{ "api-keys",
	  "API key records: owner pseudonym, environment, scopes, allowed CIDRs, free-text "
	  "description, created, expires, last used, status and its reason, bound certificate "
	  "fingerprint",
	  "api_key; the secret only as a keyed BLAKE2b-256 hash (hash, hash_alg, pepper_ver)",
	  "kept after revocation for the inventory (pseudonymous); an erase revokes live keys "
	  "and clears every description",
	  RET_SUBJECT },
	{ "totp", "TOTP second-factor credentials and recovery codes",
	  "totp_credential (user pseudonym, algorithm, digits, period, issuer, created, "
	  "confirmed, last step and use; the seed sealed with XChaCha20-Poly1305), "
	  "totp_recovery (keyed hashes)",
	  "until removed or reset (latchkey totp), or erased", RET_SUBJECT },
	{ "certificates",
	  "Client certificate inventory: subject and issuer DN, serial, validity, first and "
	  "last seen, last service, uses",
	  "certificate (principal_ref: the owner pseudonym)",
	  "kept for the inventory; an erase unlinks the owner and replaces both DNs with "
	  "(erased)",
	  RET_SUBJECT },
	{ "audit",
	  "Audit log: authentication decisions and lifecycle events (pseudonymous subject refs, "
	  "key and credential ids, service, outcome, time) and the Unix uid of the "
	  "administrator or peer that acted",
	  "audit (subject_ref, kid, actor_uid, detail): latchkey writes no name, key, code or "
	  "client address into a row; free-text reasons (revoke, suspend, erase) are the "
	  "administrator's, and an erase refuses one holding the subject's name",
	  "the retention period; removed in whole segments by latchkey audit purge", RET_PERIOD },
	{ "lockout", "Failure counters (brute-force lockout)",
	  "lockout: per credential id or source pseudonym, failures in the window, window "
	  "start, locked until",
	  "overwritten by each new window; a credential's row deleted by an erase; otherwise "
	  "tested against the retention period",
	  RET_PERIOD },
};

/* Data latchkey never holds: stated, with the reason, so the auditor can
 * check each claim against the schema and the code. */
static const struct category never[] = {
	{ "plaintext-api-keys", "API keys in clear",
	  "never stored: shown once at issue or rotation; only a keyed hash (api_key.hash) is "
	  "kept",
	  NULL, RET_SUBJECT },
	{ "totp-secrets", "TOTP codes and seeds in clear",
	  "never stored: seeds only sealed (totp_credential.seed_sealed), codes never (only the "
	  "last accepted time step, to refuse a replay)",
	  NULL, RET_SUBJECT },
	{ "recovery-codes", "Recovery codes in clear", "never stored: only keyed hashes", NULL,
	  RET_SUBJECT },
	{ "certificate-private-keys", "Client certificates' private keys",
	  "never seen: the TLS terminator checks possession; a PEM private key block sent with "
	  "a chain is refused unread",
	  NULL, RET_SUBJECT },
	{ "passwords", "Passwords",
	  "never collected: latchkey has no password factor; the PAM authentication token is "
	  "read only as an API key, checked against its hash and wiped",
	  NULL, RET_SUBJECT },
	{ "pam-user-names", "PAM user names of requests",
	  "not stored: a decision records the owner's pseudonym, never PAM_USER", NULL,
	  RET_SUBJECT },
};

#define N_STORED (sizeof(stored) / sizeof(stored[0]))

/* One category's figures from q_categories. */
struct figures {
	int64_t records, subjects, erased, oldest, older, actors;
	bool has_oldest, has_actors;
};

static const struct category *stored_category(const char *id)
{
	for (size_t i = 0; i < N_STORED; i++)
		if (strcmp(stored[i].id, id) == 0)
			return &stored[i];
	return NULL;
}

/* Reads every stored category's figures (seven aggregate rows, not a
 * population: held so the record and the retention test show the same
 * snapshot). An id the table does not describe is an error: a category
 * would otherwise be reported without its description. */
static int read_figures(struct rep *r, struct figures fig[N_STORED], struct lk_err *err)
{
	sqlite3_stmt *st;
	int rc, ret;

	memset(fig, 0, N_STORED * sizeof(fig[0]));
	if ((ret = ev_query(r, &q_categories, &st, err)) < 0)
		return ret;
	sqlite3_bind_int64(st, 3, r->p->cfg->audit_retention);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const struct category *c = stored_category(ev_col(st, 0));
		struct figures *f;

		if (c == NULL) {
			sqlite3_finalize(st);
			return lk_err_set(err, LK_EINVAL, "gdpr-categories: unknown category");
		}
		f = &fig[c - stored];
		f->records = sqlite3_column_int64(st, 1);
		f->subjects = sqlite3_column_int64(st, 2);
		f->erased = sqlite3_column_int64(st, 3);
		f->has_oldest = sqlite3_column_type(st, 4) != SQLITE_NULL;
		f->oldest = sqlite3_column_int64(st, 4);
		f->older = sqlite3_column_int64(st, 5);
		f->has_actors = sqlite3_column_type(st, 6) != SQLITE_NULL;
		f->actors = sqlite3_column_int64(st, 6);
	}
	return ev_step_done(r, st, rc, q_categories.id, err);
}

/* "3 (1 erased subject)": an erased subject is counted and named as such,
 * never by a name (packs never hold one). */
static void subjects_text(const struct figures *f, char *out, size_t len)
{
	int n = snprintf(out, len, "%lld", (long long)f->subjects);

	if (f->erased > 0 && n > 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, " (%lld erased subject%s)",
		              (long long)f->erased, f->erased == 1 ? "" : "s");
	if (f->has_actors && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "; %lld actor uid%s", (long long)f->actors,
		         f->actors == 1 ? "" : "s");
}

static void retention_text(const struct rep *r, const struct category *c, char *out, size_t len)
{
	char d[32];

	if (c->kind == RET_SUBJECT) {
		snprintf(out, len, "%s", c->retention);
		return;
	}
	if (r->p->cfg->audit_retention <= 0) {
		snprintf(out, len, "%s; no retention period stated (audit_retention)",
		         c->retention);
		return;
	}
	lk_duration_format(r->p->cfg->audit_retention, d, sizeof(d));
	snprintf(out, len, "%s (audit_retention = %s)", c->retention, d);
}

/* ---- the Art. 30(1) record -------------------------------------------- */

struct field {
	const char *name, *article, *key; /* key: the latchkey.conf setting */
	size_t offset;                    /* of its char * in struct lk_config */
	bool mandatory;
};

static const struct field fields[] = {
	{ "controller", "Art. 30(1)(a)", "controller", offsetof(struct lk_config, controller),
	  true },
	{ "controller contact", "Art. 30(1)(a)", "controller_contact",
	  offsetof(struct lk_config, controller_contact), true },
	{ "data protection officer", "Art. 30(1)(a)", "dpo_contact",
	  offsetof(struct lk_config, dpo_contact), false },
	{ "purposes of the processing", "Art. 30(1)(b)", "processing_purpose",
	  offsetof(struct lk_config, processing_purpose), true },
	{ "recipients", "Art. 30(1)(d)", "recipients", offsetof(struct lk_config, recipients),
	  false },
	{ "transfers to third countries", "Art. 30(1)(e)", "transfers",
	  offsetof(struct lk_config, transfers), false },
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *field_value(const struct rep *r, const struct field *f)
{
	const char *v = *(char *const *)((const char *)r->p->cfg + f->offset);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static void record_field(struct rep *r, const char *name, const char *article, bool stated,
                         const char *text)
{
	ev_start(r, "field");
	ev_attr(r, "name", name);
	ev_attr(r, "article", article);
	ev_attr(r, "stated", stated ? "true" : "false");
	ev_string(r, text);
	ev_end(r);
}

static void config_field(struct rep *r, const struct field *f)
{
	const char *v = field_value(r, f);
	char text[160];

	if (v != NULL) {
		record_field(r, f->name, f->article, true, v);
		return;
	}
	if (f->mandatory)
		snprintf(text, sizeof(text), "not stated in latchkey.conf (set %s = ...)", f->key);
	else
		snprintf(text, sizeof(text), "none stated in latchkey.conf (%s = ...)", f->key);
	record_field(r, f->name, f->article, false, text);
}

static void retention_field(struct rep *r)
{
	char d[32], text[200];

	if (r->p->cfg->audit_retention <= 0) {
		record_field(r, "time limits for erasure", "Art. 30(1)(f)", false,
		             "not stated in latchkey.conf (set audit_retention = ...)");
		return;
	}
	lk_duration_format(r->p->cfg->audit_retention, d, sizeof(d));
	snprintf(text, sizeof(text),
	         "audit log, client addresses and failure counters: %s (audit_retention); the "
	         "other categories end with the subject's erasure (categories below)",
	         d);
	record_field(r, "time limits for erasure", "Art. 30(1)(f)", true, text);
}

static void category_row(struct rep *r, const struct category *c, const struct figures *f)
{
	char subjects[96], retention[320];

	ev_start(r, "row");
	ev_attr(r, "category", c->title);
	ev_attr(r, "stored", f != NULL ? "yes" : "no");
	ev_attr(r, "where", c->where);
	if (f != NULL) {
		subjects_text(f, subjects, sizeof(subjects));
		retention_text(r, c, retention, sizeof(retention));
		ev_attr_int(r, "count", f->records);
		ev_attr(r, "subjects", subjects);
		if (f->has_oldest)
			ev_attr_time(r, "oldest", f->oldest);
		ev_attr(r, "retention", retention);
	}
	ev_end(r);
}

static void record(struct rep *r, const struct figures fig[N_STORED])
{
	ev_start(r, "record");
	for (size_t i = 0; i < 4; i++) /* (a) and (b) */
		config_field(r, &fields[i]);
	record_field(r, "categories of data subjects and of personal data", "Art. 30(1)(c)", true,
	             "Data subjects: the owners of API keys, TOTP credentials and client "
	             "certificates (people and service accounts), the clients that connect "
	             "(by address), and the administrators who act (by Unix uid). Personal "
	             "data: the categories below, read from the database as it stands.");
	config_field(r, &fields[4]);
	config_field(r, &fields[5]);
	retention_field(r);
	record_field(r, "technical and organisational security measures", "Art. 30(1)(g)", true,
	             "Described and evidenced in this pack under Art. 32 (test "
	             "art32-measures) with the verification history (art32-verification "
	             "and the integrity section).");
	ev_start(r, "categories");
	ev_attr(r, "query", q_categories.id);
	for (size_t i = 0; i < N_STORED; i++)
		category_row(r, &stored[i], &fig[i]);
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		category_row(r, &never[i], NULL);
	ev_result(r, (int64_t)N_STORED, 0, NULL);
	ev_end(r);
	ev_end(r);
}

/* ---- tests ------------------------------------------------------------ */

static void status_row(struct rep *r, const char *name, const char *article, bool stated)
{
	ev_start(r, "row");
	ev_attr(r, "name", name);
	ev_attr(r, "detail", article);
	ev_attr(r, "status", stated ? "stated" : "not stated");
	ev_end(r);
}

/* The mandatory items the configuration must state. */
static void art30_complete(struct rep *r)
{
	int64_t n = 0, missing = 0;
	bool stated;

	ev_criterion_open(r, "Art. 30", "Records of processing activities");
	ev_test_open(r, "art30-record-complete", NULL, "Mandatory items of the record stated",
	             "Each item Art. 30(1) requires that latchkey.conf supplies: (a) the "
	             "controller and its contact, (b) the purposes, (f) the time limit for "
	             "erasure (audit_retention). (c) and (g) are written by the pack; the DPO, "
	             "(d) and (e) apply only where applicable. Each missing item is an "
	             "exception.");
	for (size_t i = 0; i < N_FIELDS; i++) {
		if (!fields[i].mandatory)
			continue;
		stated = field_value(r, &fields[i]) != NULL;
		status_row(r, fields[i].key, fields[i].article, stated);
		n++;
		missing += !stated;
	}
	stated = r->p->cfg->audit_retention > 0;
	status_row(r, "audit_retention", "Art. 30(1)(f)", stated);
	n++;
	missing += !stated;
	ev_result(r, n, missing, missing == 0 ? "Every mandatory item is stated." : NULL);
	ev_add_exception(r, "art30-record-complete", missing);
	ev_end(r);
	ev_end(r);
}

static void retention_row(struct rep *r, const struct category *c, const struct figures *f,
                          bool *ret_exceeds)
{
	char retention[320], older[32];
	const char *result;

	*ret_exceeds = false;
	if (c->kind == RET_SUBJECT)
		result = "no time limit: ends with the subject";
	else if (r->p->cfg->audit_retention <= 0)
		result = "no retention period stated";
	else if (f->older > 0)
		result = "exceeds";
	else
		result = "within";
	*ret_exceeds = strcmp(result, "exceeds") == 0;
	retention_text(r, c, retention, sizeof(retention));
	ev_start(r, "row");
	ev_attr(r, "category", c->title);
	ev_attr_int(r, "count", f->records);
	if (f->has_oldest)
		ev_attr_time(r, "oldest", f->oldest);
	ev_attr(r, "retention", retention);
	if (c->kind == RET_PERIOD && r->p->cfg->audit_retention > 0) {
		snprintf(older, sizeof(older), "%lld", (long long)f->older);
		ev_attr(r, "old", older);
	}
	ev_attr(r, "result", result);
	ev_end(r);
}

static void art5_retention(struct rep *r, const struct figures fig[N_STORED])
{
	int64_t exceeding = 0;
	char note[200];
	bool exceeds;

	ev_criterion_open(r, "Art. 5(1)(e)", "Storage limitation");
	ev_test_open(r, "art5-retention", &q_categories, "Retention per category",
	             "Each stored category's oldest record against the retention period "
	             "(audit_retention, bound as ?3 in seconds) at the period's end (?2). A "
	             "category that only the period ends (the audit log, client addresses, "
	             "failure counters) with records older than ?2 - ?3 (column old) is an "
	             "exception; a category that ends with the subject's erasure is "
	             "information. With no period stated nothing is tested: that is "
	             "art30-record-complete's exception.");
	for (size_t i = 0; i < N_STORED; i++) {
		retention_row(r, &stored[i], &fig[i], &exceeds);
		exceeding += exceeds;
	}
	if (r->p->cfg->audit_retention <= 0)
		snprintf(note, sizeof(note),
		         "No retention period stated: not tested (see art30-record-complete).");
	else if (exceeding == 0)
		snprintf(note, sizeof(note),
		         "No category holds records older than the retention period.");
	else
		note[0] = '\0';
	ev_result(r, (int64_t)N_STORED, exceeding, note[0] != '\0' ? note : NULL);
	ev_add_exception(r, "art5-retention", exceeding);
	ev_end(r);
	ev_end(r);
}

struct measure {
	const char *measure, *where;
};

/* Technical measures as the code implements them (DESIGN.md, decisions
 * 0003, 0010, 0011). */
static const struct measure measures[] = {
	{ "Pseudonymisation: audit rows, keys, credentials and counters refer to people by a "
	  "random subject_ref; the name is held once, in subject.name",
	  "core/subject.c, core/audit.c" },
	{ "API keys stored only as keyed BLAKE2b-256 hashes under a versioned pepper derived "
	  "from the master key; compared in constant time",
	  "core/apikey.c, core/keys.c" },
	{ "TOTP seeds sealed with XChaCha20-Poly1305 (associated data: the credential id); "
	  "recovery codes as keyed hashes; a code accepted at most once",
	  "core/totp.c" },
	{ "Tamper-evident audit log: each row hash-chained (BLAKE2b-256), append-only "
	  "triggers, Ed25519-signed checkpoints; verified by latchkey audit verify",
	  "core/audit.c, core/checkpoint.c" },
	{ "Administration by role (admin, operator, auditor) from the peer's uid and groups "
	  "(SO_PEERCRED) on the admin socket; refusals audited as admin.denied",
	  "daemon, core/config.c" },
	{ "Brute-force lockout per credential and per source", "core/lockout.c" },
	{ "Erasure overwrites: secure_delete on every writable connection and a WAL truncate "
	  "after an erase",
	  "core/store.c, core/gdpr.c" },
	{ "Master and signing keys refused when readable by group or others or symlinked",
	  "core/masterkey.c, core/signing.c" },
};

static int art32(struct rep *r, struct lk_err *err)
{
	static const char *const cps[] = { "number", "time", "seq", "key-id", NULL };
	size_t n = sizeof(measures) / sizeof(measures[0]);
	int ret;

	ev_criterion_open(r, "Art. 32", "Security of processing");
	ev_test_open(r, "art32-measures", NULL, "Technical measures in place",
	             "The measures as the code implements them, with where to read it. The "
	             "tests below and the integrity section are their operating evidence.");
	for (size_t i = 0; i < n; i++) {
		ev_start(r, "row");
		ev_attr(r, "measure", measures[i].measure);
		ev_attr(r, "where", measures[i].where);
		ev_end(r);
	}
	ev_result(r, (int64_t)n, 0, NULL);
	ev_end(r);
	if ((ret = ev_listing(r, EVQ(Q_CHECKPOINTS), "art32-verification",
	                      "Verification history: checkpoints signed in the period",
	                      "Every signed checkpoint of the audit chain made in the period, "
	                      "with its signing key id. This pack's own verification of the "
	                      "chain and of every checkpoint is in the integrity section "
	                      "(chain result; a broken chain is in the exceptions register).",
	                      cps, false, NULL, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int art17(struct rep *r, struct lk_err *err)
{
	static const char *const cols[] = { "seq", "time",   "actor",  "action", "subject",
		                            "kid", "reason", "detail", "status", NULL };
	int ret;

	ev_criterion_open(r, "Art. 17", "Right to erasure");
	if ((ret = ev_listing(
	         r, &q_erasures, "art17-erasure-log", "Erasure log",
	         "Every subject erasure in the period with the key revocations and TOTP removal "
	         "it made (reason erased), and every audit purge. Subjects appear only by "
	         "pseudonym; status says whether the name is still held (an erased "
	         "subject's is not).",
	         cols, false, "No erasure or purge in the period: not occurring.", err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static void art33(struct rep *r)
{
	ev_criterion_open(r, "Art. 33", "Notification of a personal data breach");
	ev_test_open(r, "art33-breach-register", NULL, "Breach register",
	             "Personal data breaches recorded in the period. Latchkey has no incident "
	             "handling yet: no breach is recorded through it, so the register is "
	             "empty by construction and breaches must be evidenced elsewhere.");
	ev_result(r, 0, 0,
	          "No breaches recorded: not occurring (incident handling is not yet in "
	          "place).");
	ev_end(r);
	ev_end(r);
}

static int gdpr_body(struct rep *r, struct lk_err *err)
{
	struct figures fig[N_STORED];
	int ret;

	if ((ret = read_figures(r, fig, err)) < 0)
		return ret;
	/* The processing the record describes: services, policies, plugins. */
	if ((ret = ev_system(r, err)) < 0)
		return ret;
	record(r, fig);
	art30_complete(r);
	art5_retention(r, fig);
	if ((ret = art32(r, err)) < 0)
		return ret;
	if ((ret = art17(r, err)) < 0)
		return ret;
	art33(r);
	return LK_OK;
}

const struct lk_framework lk_framework_gdpr = {
	.name = "gdpr",
	.title = "GDPR evidence: record of processing (Art. 30), storage limitation (Art. "
	         "5(1)(e)), security of processing (Art. 32), erasure (Art. 17), breaches "
	         "(Art. 33)",
	.body = gdpr_body,
};
