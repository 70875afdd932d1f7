/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SOC 2 evidence pack: SQL -> evidence.xml (streamed, validated against
 * reports/evidence.xsd) -> report.html (XSLT) + CSV populations + a signed
 * manifest. Every population is read with sqlite3_step, one row at a time,
 * inside one read transaction, so the pack is one consistent snapshot and
 * never holds a table in memory.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlwriter.h>
#include <libxslt/transform.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>
#include <sodium.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "audit-private.h"
#include "report-private.h"
#include "util-private.h"

/*
 * The queries, as the pack quotes them (completeness and accuracy of the
 * information produced: the auditor re-runs them with sqlite3). ?1 is the
 * period's start, ?2 its end (exclusive), both Unix seconds.
 */
enum {
	Q_ROWS,
	Q_SEQ,
	Q_CHECKPOINTS,
	Q_DAILY,
	Q_KEYS_AT_START,
	Q_KEYS_AT_END,
	Q_SUCCESSES,
	Q_ISSUANCE,
	Q_AFTER_REVOKE,
	Q_FAILURES,
	Q_LOCKOUTS,
	Q_CERT_REJECTIONS,
	Q_BOUNDARY,
	Q_POLICY,
	Q_DECISIONS,
	Q_KEYS,
	Q_COUNT
};

static const struct {
	const char *id, *sql;
} queries[Q_COUNT] = {
	[Q_ROWS] = { "rows-by-action",
	             "SELECT action, count(*) FROM audit WHERE ts >= ?1 AND ts < ?2 "
	             "GROUP BY action ORDER BY action" },
	[Q_SEQ] = { "seq-range", "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
	                         "FROM audit WHERE ts >= ?1 AND ts < ?2" },
	[Q_CHECKPOINTS] = { "checkpoints", "SELECT number, ts, audit_seq, key_id FROM checkpoint "
	                                   "WHERE ts >= ?1 AND ts < ?2 ORDER BY number" },
	[Q_DAILY] = { "decisions-per-day",
	              "SELECT ts / 86400, sum(reason = 'ok'), sum(reason <> 'ok') FROM audit "
	              "WHERE action = 'auth.decision' AND ts >= ?1 AND ts < ?2 "
	              "GROUP BY ts / 86400 ORDER BY ts / 86400" },
	[Q_KEYS_AT_START] = { "keys-at-start",
	                      "SELECT kid, owner_ref, env, scopes, created, expires FROM api_key "
	                      "WHERE created < ?1 AND (expires IS NULL OR expires > ?1) "
	                      "AND NOT (status = 'revoked' AND status_changed <= ?1) "
	                      "ORDER BY created, kid" },
	[Q_KEYS_AT_END] = { "keys-at-end",
	                    "SELECT kid, owner_ref, env, scopes, created, expires FROM api_key "
	                    "WHERE created < ?2 AND (expires IS NULL OR expires > ?2) "
	                    "AND NOT (status = 'revoked' AND status_changed <= ?2) "
	                    "ORDER BY created, kid" },
	[Q_SUCCESSES] = { "successes", "SELECT seq, ts, kid, subject_ref, detail FROM audit "
	                               "WHERE action = 'auth.decision' AND reason = 'ok' "
	                               "AND ts >= ?1 AND ts < ?2 ORDER BY seq" },
	[Q_ISSUANCE] = { "issuance",
	                 "SELECT seq, ts, actor_uid, action, kid, subject_ref, detail FROM audit "
	                 "WHERE action IN ('key.issue', 'key.rotate') "
	                 "AND ts >= ?1 AND ts < ?2 ORDER BY seq" },
	[Q_AFTER_REVOKE] = { "success-with-unusable-key",
	                     "SELECT d.seq, d.ts, d.kid, d.detail, k.status, k.expires FROM audit "
	                     "d "
	                     "JOIN api_key k ON k.kid = d.kid "
	                     "WHERE d.action = 'auth.decision' AND d.reason = 'ok' AND d.ts >= ?1 "
	                     "AND d.ts < ?2 "
	                     "AND ((k.expires IS NOT NULL AND k.expires <= d.ts) "
	                     "OR (k.status = 'revoked' AND k.status_changed < d.ts) "
	                     "OR EXISTS (SELECT 1 FROM audit s WHERE s.kid = d.kid AND s.seq < "
	                     "d.seq "
	                     "AND s.action IN ('key.revoke', 'key.suspend') AND NOT EXISTS (SELECT "
	                     "1 FROM audit r "
	                     "WHERE r.kid = d.kid AND r.seq > s.seq AND r.seq < d.seq AND r.action "
	                     "= 'key.resume'))) "
	                     "ORDER BY d.seq" },
	[Q_FAILURES] = { "failures-by-reason",
	                 "SELECT reason, count(*) FROM audit WHERE action = 'auth.decision' "
	                 "AND reason <> 'ok' AND ts >= ?1 AND ts < ?2 "
	                 "GROUP BY reason ORDER BY count(*) DESC, reason" },
	[Q_LOCKOUTS] = { "lockouts", "SELECT seq, ts, kid, subject_ref, detail FROM audit "
	                             "WHERE action = 'auth.lockout' AND ts >= ?1 AND ts < ?2 "
	                             "ORDER BY seq" },
	[Q_CERT_REJECTIONS] = { "certificate-rejections",
	                        "SELECT reason, count(*) FROM audit WHERE action = 'auth.decision' "
	                        "AND reason <> 'ok' AND detail LIKE '%steps=%mtls:%' "
	                        "AND ts >= ?1 AND ts < ?2 "
	                        "GROUP BY reason ORDER BY count(*) DESC, reason" },
	[Q_BOUNDARY] = { "boundary-refusals",
	                 "SELECT action, reason, count(*) FROM audit WHERE action IN "
	                 "('auth.protocol-error', 'auth.peer-denied', 'admin.denied') "
	                 "AND ts >= ?1 AND ts < ?2 GROUP BY action, reason ORDER BY action, "
	                 "reason" },
	[Q_POLICY] = { "policy-changes",
	               "SELECT seq, ts, actor_uid, action, reason, detail FROM audit "
	               "WHERE action IN ('policy.change', 'policy.load') "
	               "AND ts >= ?1 AND ts < ?2 ORDER BY seq" },
	[Q_DECISIONS] = { "decisions",
	                  "SELECT seq, ts, kid, subject_ref, reason, detail FROM audit "
	                  "WHERE action = 'auth.decision' AND ts >= ?1 AND ts < ?2 "
	                  "ORDER BY seq" },
	[Q_KEYS] = { "keys", "SELECT kid, owner_ref, env, scopes, created, expires, status, "
	                     "status_changed, status_reason FROM api_key ORDER BY created, kid" },
};

/* Every file of the pack but the manifest and its signature, in manifest
 * order. */
static const char *const pack_files[] = { "VERIFY.txt", "decisions.csv", "evidence.xml",
	                                  "keys.csv",   "report.html",   "signing.pub.pem" };

struct rep {
	struct lk_store *store;
	sqlite3 *db;
	const struct lk_report_params *p;
	xmlTextWriterPtr w;
	bool werr; /* a writer call failed */
	int64_t exceptions;
	struct {
		const char *test;
		int64_t count;
	} exc[8];
	size_t n_exc;
};

/* ---- small helpers --------------------------------------------------- */

static void w_check(struct rep *r, int rc)
{
	if (rc < 0)
		r->werr = true;
}

static void start(struct rep *r, const char *name)
{
	w_check(r, xmlTextWriterStartElement(r->w, BAD_CAST name));
}

static void end(struct rep *r)
{
	w_check(r, xmlTextWriterEndElement(r->w));
}

static void attr(struct rep *r, const char *name, const char *value)
{
	if (value != NULL)
		w_check(r, xmlTextWriterWriteAttribute(r->w, BAD_CAST name, BAD_CAST value));
}

static void attr_int(struct rep *r, const char *name, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	attr(r, name, buf);
}

static void attr_time(struct rep *r, const char *name, int64_t t)
{
	char buf[40];

	lk_time_format(t, buf, sizeof(buf));
	attr(r, name, buf);
}

static void text_element(struct rep *r, const char *name, const char *text)
{
	w_check(r, xmlTextWriterWriteElement(r->w, BAD_CAST name, BAD_CAST text));
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* A prepared query with the period bound. */
static int query(struct rep *r, int q, sqlite3_stmt **ret, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(r->db, queries[q].sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(r->store, rc, queries[q].id, err);
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, r->p->from);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, r->p->to);
	*ret = st;
	return LK_OK;
}

static int step_done(struct rep *r, sqlite3_stmt *st, int rc, const char *what, struct lk_err *err)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return lk_store_error(r->store, rc, what, err);
	return LK_OK;
}

/* The value of name= in an audit detail ("service=sshd env=prod ..."). */
static void detail_field(const char *detail, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	const char *p = detail;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			size_t len = strcspn(p + n + 1, " ");
			snprintf(out, outlen, "%.*s", (int)len, p + n + 1);
			return;
		}
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
}

/* Distinct plugins among steps that succeeded ("apikey:ok,totp:satisfied"). */
static int factors_of(const char *steps)
{
	char seen[8][32];
	int n = 0;
	const char *p = steps;

	while (*p != '\0') {
		size_t len = strcspn(p, ","), plen = strcspn(p, ":");
		if (plen < len && plen < sizeof(seen[0])) {
			const char *res = p + plen + 1;
			size_t rlen = len - plen - 1;
			bool ok = (rlen == 2 && strncmp(res, "ok", 2) == 0) ||
			          (rlen == 9 && strncmp(res, "satisfied", 9) == 0);
			bool dup = false;
			for (int i = 0; i < n; i++)
				dup = dup ||
				      (strlen(seen[i]) == plen && strncmp(seen[i], p, plen) == 0);
			if (ok && !dup && n < 8) {
				snprintf(seen[n], sizeof(seen[n]), "%.*s", (int)plen, p);
				n++;
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

/* Opens a new file in the pack directory: never follows a symlink, never
 * replaces anything. */
static FILE *pack_open(const char *dir, const char *name, struct lk_err *err)
{
	char path[4096];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		lk_err_set(err, LK_EIO, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		lk_err_set(err, LK_EIO, "cannot create %s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

static int pack_close(FILE *f, const char *name, struct lk_err *err)
{
	bool bad = ferror(f) != 0;

	if (fclose(f) != 0 || bad)
		return lk_err_set(err, LK_EIO, "cannot write %s", name);
	return LK_OK;
}

/* RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. */
static void csv_field(FILE *f, const char *s, bool last)
{
	if (s == NULL)
		s = "";
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', f);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
	fputs(last ? "\r\n" : ",", f);
}

static void csv_time(FILE *f, sqlite3_stmt *st, int i, bool last)
{
	char buf[40] = "";

	if (sqlite3_column_type(st, i) != SQLITE_NULL)
		lk_time_format(sqlite3_column_int64(st, i), buf, sizeof(buf));
	csv_field(f, buf, last);
}

/* <result population= outcome=>: zero rows is "not occurring", never a pass. */
static void result(struct rep *r, int64_t population, int64_t exceptions, const char *note)
{
	const char *outcome = population == 0  ? "not occurring"
	                      : exceptions > 0 ? "exceptions"
	                                       : "information";

	start(r, "result");
	attr_int(r, "population", population);
	attr_int(r, "exceptions", exceptions);
	attr(r, "outcome", outcome);
	if (note != NULL)
		w_check(r, xmlTextWriterWriteString(r->w, BAD_CAST note));
	end(r);
}

static void test_open(struct rep *r, const char *id, int q, const char *title, const char *method)
{
	start(r, "test");
	attr(r, "id", id);
	if (q >= 0)
		attr(r, "query", queries[q].id);
	attr(r, "title", title);
	text_element(r, "method", method);
}

static void add_exception(struct rep *r, const char *test, int64_t count)
{
	if (count <= 0 || r->n_exc >= sizeof(r->exc) / sizeof(r->exc[0]))
		return;
	r->exc[r->n_exc].test = test;
	r->exc[r->n_exc].count = count;
	r->n_exc++;
	r->exceptions += count;
}

/* ---- sections -------------------------------------------------------- */

static void cover(struct rep *r, const struct lk_signer *signer, const struct lk_checkpoint *cp)
{
	start(r, "cover");
	text_element(r, "title",
	             "SOC 2 Type II evidence: logical access (CC6), monitoring (CC7), "
	             "change management (CC8)");
	start(r, "period");
	attr_time(r, "from", r->p->from);
	attr_time(r, "to", r->p->to);
	end(r);
	text_element(r, "scope", r->p->scope);
	start(r, "generator");
	attr(r, "name", "latchkey");
	attr(r, "version", r->p->version);
	attr_time(r, "generated", r->p->now);
	end(r);
	start(r, "signer");
	attr(r, "algorithm", "Ed25519");
	attr(r, "key-id", lk_signer_key_id(signer));
	attr(r, "public-key", "signing.pub.pem");
	end(r);
	start(r, "checkpoint");
	attr_int(r, "number", cp->number);
	attr_int(r, "audit-seq", cp->audit_seq);
	attr_time(r, "time", cp->ts);
	end(r);
	start(r, "verify");
	text_element(r, "command", "sha256sum -c MANIFEST.sha256");
	text_element(r, "command",
	             "openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin "
	             "-in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig");
	end(r);
	end(r);
}

static int integrity(struct rep *r, const struct lk_verify_report *vr, struct lk_err *err)
{
	char head[2 * LK_CHAIN_LEN + 1];
	sqlite3_stmt *st;
	int64_t n = 0, lo = 0, hi = 0;
	int rc, ret;

	start(r, "integrity");
	sodium_bin2hex(head, sizeof(head), vr->audit.head, LK_CHAIN_LEN);
	start(r, "chain");
	attr(r, "result", vr->audit.problem == LK_AUDIT_INTACT ? "intact" : "broken");
	attr(r, "problem", lk_audit_problem_str(vr->audit.problem));
	attr_int(r, "rows", vr->audit.rows);
	attr_int(r, "head-seq", vr->audit.head_seq);
	attr(r, "head", head);
	attr_int(r, "checkpoints-verified", vr->checkpoints);
	if (vr->audit.problem != LK_AUDIT_INTACT)
		w_check(r, xmlTextWriterWriteString(r->w, BAD_CAST vr->audit.why));
	end(r);
	if (vr->audit.problem != LK_AUDIT_INTACT)
		add_exception(r, "integrity-chain", 1);

	if ((ret = query(r, Q_SEQ, &st, err)) < 0)
		return ret;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		lo = sqlite3_column_int64(st, 1);
		hi = sqlite3_column_int64(st, 2);
		rc = sqlite3_step(st);
	}
	if ((ret = step_done(r, st, rc, queries[Q_SEQ].id, err)) < 0)
		return ret;
	start(r, "sequence");
	attr(r, "query", queries[Q_SEQ].id);
	attr_int(r, "rows", n);
	attr_int(r, "first", lo);
	attr_int(r, "last", hi);
	/* Rows between first and last whose time is outside the period: the
	 * clock stepped back (a deleted row is the chain's to find). */
	attr_int(r, "interleaved", n > 0 ? hi - lo + 1 - n : 0);
	end(r);

	start(r, "checkpoints");
	attr(r, "query", queries[Q_CHECKPOINTS].id);
	if ((ret = query(r, Q_CHECKPOINTS, &st, err)) < 0)
		return ret;
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		start(r, "row");
		attr_int(r, "number", sqlite3_column_int64(st, 0));
		attr_time(r, "time", sqlite3_column_int64(st, 1));
		attr_int(r, "seq", sqlite3_column_int64(st, 2));
		attr(r, "key-id", col(st, 3));
		end(r);
		n++;
	}
	if ((ret = step_done(r, st, rc, queries[Q_CHECKPOINTS].id, err)) < 0)
		return ret;
	result(r, n, 0, NULL);
	end(r);

	start(r, "row-counts");
	attr(r, "query", queries[Q_ROWS].id);
	if ((ret = query(r, Q_ROWS, &st, err)) < 0)
		return ret;
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		start(r, "row");
		attr(r, "action", col(st, 0));
		attr_int(r, "count", sqlite3_column_int64(st, 1));
		end(r);
		n += sqlite3_column_int64(st, 1);
	}
	if ((ret = step_done(r, st, rc, queries[Q_ROWS].id, err)) < 0)
		return ret;
	result(r, n, 0, NULL);
	end(r);

	start(r, "queries");
	for (int q = 0; q < Q_COUNT; q++) {
		start(r, "query");
		attr(r, "id", queries[q].id);
		w_check(r, xmlTextWriterWriteString(r->w, BAD_CAST queries[q].sql));
		end(r);
	}
	end(r);
	end(r);
	return LK_OK;
}

static int activity(struct rep *r, struct lk_err *err)
{
	sqlite3_stmt *st;
	int rc, ret;

	start(r, "activity");
	attr(r, "query", queries[Q_DAILY].id);
	if ((ret = query(r, Q_DAILY, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char day[40];
		lk_time_format(sqlite3_column_int64(st, 0) * 86400, day, sizeof(day));
		day[10] = '\0';
		start(r, "day");
		attr(r, "date", day);
		attr_int(r, "allowed", sqlite3_column_int64(st, 1));
		attr_int(r, "denied", sqlite3_column_int64(st, 2));
		end(r);
	}
	if ((ret = step_done(r, st, rc, queries[Q_DAILY].id, err)) < 0)
		return ret;
	end(r);
	return LK_OK;
}

static int key_population(struct rep *r, int q, const char *id, const char *title)
{
	struct lk_err *err = NULL;
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;

	test_open(r, id, q, title,
	          "Every API key issued before the instant and neither expired nor revoked at "
	          "it (suspension is a reversible state and is counted).");
	if (query(r, q, &st, err) < 0)
		return LK_ESTORE;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		start(r, "row");
		attr(r, "kid", col(st, 0));
		attr(r, "subject", col(st, 1));
		attr(r, "env", col(st, 2));
		attr(r, "scopes", col(st, 3));
		attr_time(r, "created", sqlite3_column_int64(st, 4));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			attr_time(r, "expires", sqlite3_column_int64(st, 5));
		end(r);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return LK_ESTORE;
	result(r, n, 0, NULL);
	end(r);
	return LK_OK;
}

struct service_mfa {
	char name[64];
	int64_t successes, multi;
};

static int mfa(struct rep *r, struct lk_err *err)
{
	struct service_mfa *sv = NULL;
	size_t n_sv = 0;
	sqlite3_stmt *st;
	int64_t n = 0, single = 0;
	int rc, ret = LK_ENOMEM;

	test_open(r, "cc6.1-mfa", Q_SUCCESSES, "MFA enforcement per service",
	          "Every successful decision in the period; a factor is a policy step that "
	          "succeeded (ok, or satisfied by an earlier step). Listed: each success with a "
	          "single factor, with the hash of the policy that allowed it; whether that "
	          "policy required a second factor is in the policy file with that hash.");
	if ((ret = query(r, Q_SUCCESSES, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = col(st, 4);
		char service[64], policy[80], steps[512];
		size_t i;
		int factors;

		detail_field(detail, "service", service, sizeof(service));
		detail_field(detail, "policy", policy, sizeof(policy));
		detail_field(detail, "steps", steps, sizeof(steps));
		factors = factors_of(steps);
		for (i = 0; i < n_sv && strcmp(sv[i].name, service) != 0; i++)
			;
		if (i == n_sv) {
			struct service_mfa *m = realloc(sv, (n_sv + 1) * sizeof(*sv));
			if (m == NULL) {
				sqlite3_finalize(st);
				ret = lk_err_set(err, LK_ENOMEM, "out of memory");
				goto out;
			}
			sv = m;
			memset(&sv[n_sv], 0, sizeof(*sv));
			snprintf(sv[n_sv].name, sizeof(sv[n_sv].name), "%s", service);
			n_sv++;
		}
		sv[i].successes++;
		if (factors >= 2) {
			sv[i].multi++;
		} else {
			start(r, "row");
			attr_int(r, "seq", sqlite3_column_int64(st, 0));
			attr_time(r, "time", sqlite3_column_int64(st, 1));
			attr(r, "service", service);
			attr(r, "kid", col(st, 2));
			attr(r, "subject", col(st, 3));
			attr(r, "policy", policy);
			attr(r, "steps", steps);
			end(r);
			single++;
		}
		n++;
	}
	if ((ret = step_done(r, st, rc, queries[Q_SUCCESSES].id, err)) < 0)
		goto out;
	for (size_t i = 0; i < n_sv; i++) {
		start(r, "service");
		attr(r, "name", sv[i].name);
		attr_int(r, "successes", sv[i].successes);
		attr_int(r, "multi-factor", sv[i].multi);
		attr_int(r, "single-factor", sv[i].successes - sv[i].multi);
		end(r);
	}
	{
		char note[96];
		snprintf(note, sizeof(note), "%lld of %lld successes with a single factor",
		         (long long)single, (long long)n);
		result(r, n, 0, note);
	}
	end(r);
	ret = LK_OK;
out:
	free(sv);
	return ret;
}

/* A row-listing test: each column of the query an attribute (NULL
 * columns left out; columns named "time", "created", "expires" are times). */
static int listing(struct rep *r, int q, const char *id, const char *title, const char *method,
                   const char *const *names, bool exceptions, const char *zero_note,
                   struct lk_err *err)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc, ret;

	test_open(r, id, q, title, method);
	if ((ret = query(r, q, &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		start(r, "row");
		for (int i = 0; names[i] != NULL; i++) {
			if (sqlite3_column_type(st, i) == SQLITE_NULL || names[i][0] == '\0')
				continue;
			if (strcmp(names[i], "time") == 0 || strcmp(names[i], "expires") == 0)
				attr_time(r, names[i], sqlite3_column_int64(st, i));
			else
				attr(r, names[i], col(st, i));
		}
		end(r);
		n++;
	}
	if ((ret = step_done(r, st, rc, queries[q].id, err)) < 0)
		return ret;
	result(r, n, exceptions ? n : 0, n == 0 ? zero_note : NULL);
	if (exceptions)
		add_exception(r, id, n);
	end(r);
	return LK_OK;
}

static void criterion_open(struct rep *r, const char *id, const char *title)
{
	start(r, "criterion");
	attr(r, "id", id);
	attr(r, "title", title);
}

static int criteria(struct rep *r, struct lk_err *err)
{
	static const char *const issuance[] = { "seq", "time",    "actor",  "action",
		                                "kid", "subject", "detail", NULL };
	static const char *const after[] = { "seq",    "time",    "kid", "detail",
		                             "status", "expires", NULL };
	static const char *const grouped[] = { "reason", "count", NULL };
	static const char *const lockouts[] = { "seq", "time", "kid", "subject", "detail", NULL };
	static const char *const boundary[] = { "action", "reason", "count", NULL };
	static const char *const policy[] = { "seq",    "time",   "actor", "action",
		                              "reason", "detail", NULL };
	int ret;

	criterion_open(r, "CC6.1", "Logical access security: credentials and authentication");
	if ((ret = key_population(r, Q_KEYS_AT_START, "cc6.1-population-start",
	                          "Credential population at the period's start")) < 0)
		return lk_err_set(err, ret, "reading the key population");
	if ((ret = key_population(r, Q_KEYS_AT_END, "cc6.1-population-end",
	                          "Credential population at the period's end")) < 0)
		return lk_err_set(err, ret, "reading the key population");
	if ((ret = mfa(r, err)) < 0)
		return ret;
	end(r);

	criterion_open(r, "CC6.2", "Registration, authorisation and removal of credentials");
	if ((ret = listing(r, Q_ISSUANCE, "cc6.2-issuance", "Issuance register",
	                   "Every key issued or rotated in the period, with who did it.", issuance,
	                   false, NULL, err)) < 0)
		return ret;
	if ((ret = listing(r, Q_AFTER_REVOKE, "cc6.2-no-use-after-removal",
	                   "No successful authentication with a revoked, expired or suspended key",
	                   "Every successful decision in the period whose key was expired, "
	                   "revoked, or suspended and not resumed, at the decision's time. Must be "
	                   "zero; each row is an exception.",
	                   after, true,
	                   "No successful authentication with a revoked, expired or "
	                   "suspended key: not occurring.",
	                   err)) < 0)
		return ret;
	end(r);

	criterion_open(r, "CC6.6", "Protection against threats from outside the system boundary");
	if ((ret = listing(r, Q_FAILURES, "cc6.6-failures", "Authentication failures by reason",
	                   "Every denied decision in the period, counted by reason.", grouped,
	                   false, NULL, err)) < 0)
		return ret;
	if ((ret = listing(r, Q_LOCKOUTS, "cc6.6-lockouts", "Lockouts",
	                   "Every credential or source locked out in the period.", lockouts, false,
	                   NULL, err)) < 0)
		return ret;
	if ((ret = listing(r, Q_CERT_REJECTIONS, "cc6.6-certificate-rejections",
	                   "Client certificate rejections by reason",
	                   "Every denied decision in the period whose policy ran an mtls step, "
	                   "counted by reason.",
	                   grouped, false, NULL, err)) < 0)
		return ret;
	if ((ret = listing(r, Q_BOUNDARY, "cc6.6-boundary", "Refused peers and requests",
	                   "Protocol errors, peers not allowed to speak for a service, and admin "
	                   "requests refused for their role.",
	                   boundary, false, NULL, err)) < 0)
		return ret;
	end(r);

	criterion_open(r, "CC7.2", "Monitoring of system components for anomalies");
	test_open(r, "cc7.2-alerts", -1, "Alerts raised and their disposition",
	          "Latchkey raises no alerts yet; lockouts (CC6.6) are its only automatic "
	          "response. The population of alerts is empty by construction.");
	result(r, 0, 0, "No alerts: not occurring (no alerting is in place).");
	end(r);
	end(r);

	criterion_open(r, "CC8.1", "Changes to infrastructure and software: policies");
	if ((ret = listing(r, Q_POLICY, "cc8.1-policy-changes", "Policy change and load log",
	                   "Every policy change made through latchkey (service, old and new "
	                   "content hash, ticket, who) and every policy latchkeyd loaded.",
	                   policy, false, NULL, err)) < 0)
		return ret;
	end(r);
	return LK_OK;
}

static void exceptions(struct rep *r)
{
	start(r, "exceptions");
	for (size_t i = 0; i < r->n_exc; i++) {
		start(r, "exception");
		attr(r, "test", r->exc[i].test);
		attr_int(r, "count", r->exc[i].count);
		end(r);
	}
	result(r, r->exceptions, r->exceptions, r->exceptions == 0 ? "No exceptions found." : NULL);
	end(r);
}

static int write_evidence(struct rep *r, const struct lk_signer *signer,
                          const struct lk_checkpoint *cp, const struct lk_verify_report *vr,
                          const char *path, struct lk_err *err)
{
	int ret;

	r->w = xmlNewTextWriterFilename(path, 0);
	if (r->w == NULL)
		return lk_err_set(err, LK_EIO, "cannot write %s", path);
	xmlTextWriterSetIndent(r->w, 1);
	xmlTextWriterSetIndentString(r->w, BAD_CAST " ");
	w_check(r, xmlTextWriterStartDocument(r->w, NULL, "UTF-8", NULL));
	start(r, "evidence");
	attr(r, "xmlns", LK_EVIDENCE_NS);
	attr(r, "framework", "soc2");
	cover(r, signer, cp);
	if ((ret = integrity(r, vr, err)) < 0)
		goto out;
	if ((ret = activity(r, err)) < 0)
		goto out;
	if ((ret = criteria(r, err)) < 0)
		goto out;
	exceptions(r);
	end(r);
	w_check(r, xmlTextWriterEndDocument(r->w));
	ret = LK_OK;
out:
	xmlFreeTextWriter(r->w); /* flushes and closes the file */
	r->w = NULL;
	if (ret == LK_OK && r->werr)
		ret = lk_err_set(err, LK_EIO, "cannot write %s", path);
	return ret;
}

/* ---- validation and rendering ---------------------------------------- */

static void schema_error(void *ctx, const char *fmt, ...)
{
	struct lk_err *err = ctx;
	va_list ap;
	char msg[256];

	if (err == NULL || err->msg[0] != '\0')
		return; /* keep the first */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msg[strcspn(msg, "\n")] = '\0';
	snprintf(err->msg, sizeof(err->msg), "evidence.xml does not validate: %s", msg);
}

static int validate(const char *path, struct lk_err *err)
{
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	struct lk_err verr = { { 0 } };
	int ret = LK_EINVAL;

	pc = xmlSchemaNewMemParserCtxt(lk_evidence_xsd, (int)lk_evidence_xsd_len);
	if (pc == NULL || (schema = xmlSchemaParse(pc)) == NULL) {
		ret = lk_err_set(err, LK_EINVAL, "the built-in evidence schema does not parse");
		goto out;
	}
	vc = xmlSchemaNewValidCtxt(schema);
	if (vc == NULL) {
		ret = lk_err_set(err, LK_ENOMEM, "out of memory");
		goto out;
	}
	xmlSchemaSetValidErrors(vc, schema_error, schema_error, &verr);
	if (xmlSchemaValidateFile(vc, path, 0) != 0) {
		ret = lk_err_set(err, LK_EINVAL, "%s",
		                 verr.msg[0] ? verr.msg : "evidence.xml does not validate");
		goto out;
	}
	ret = LK_OK;
out:
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	return ret;
}

/* Ends the element being built: a population that had more rows than
 * report.html shows says how many were left out. */
static int pruned_pop(xmlNodePtr *cur, int64_t *omitted, int *depth)
{
	char buf[32];

	if (omitted[*depth] > 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)omitted[*depth]);
		if (xmlNewProp(*cur, BAD_CAST "rows-omitted", BAD_CAST buf) == NULL)
			return -1;
	}
	*cur = (*cur)->parent;
	(*depth)--;
	return 0;
}

/*
 * evidence.xml read back with the streaming reader into a document that
 * keeps at most LK_REPORT_HTML_ROWS <row>s of each population: the input
 * of report.html. xmlReadFile would hold every row (hundreds of thousands
 * of single-factor successes over a quarter); xmlTextReaderPreserve cannot
 * prune, since once anything is preserved the reader frees nothing. So the
 * nodes are built here and the reader frees each one behind it.
 * Whitespace-only text is dropped: the stylesheet selects every node it
 * prints, and indent="yes" lays out the HTML.
 */
static xmlDocPtr read_pruned(const char *xml_path)
{
	enum { MAX_DEPTH = 32 };
	int64_t rows[MAX_DEPTH] = { 0 }, omitted[MAX_DEPTH] = { 0 };
	xmlTextReaderPtr rd;
	xmlDocPtr doc = NULL;
	xmlNodePtr cur = NULL;
	int depth = -1, rc;
	bool ok = false;

	rd = xmlReaderForFile(xml_path, NULL, XML_PARSE_NONET);
	if (rd == NULL)
		return NULL;
	if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL)
		goto out;
	while ((rc = xmlTextReaderRead(rd)) == 1) {
		int type = xmlTextReaderNodeType(rd);
		const xmlChar *v;

		if (type == XML_READER_TYPE_ELEMENT) {
			const xmlChar *uri = xmlTextReaderConstNamespaceUri(rd);
			bool empty = xmlTextReaderIsEmptyElement(rd) == 1;
			xmlNodePtr n;
			xmlNsPtr ns = NULL;

			if (depth + 1 >= MAX_DEPTH)
				goto out;
			if (depth >= 0 &&
			    xmlStrEqual(xmlTextReaderConstLocalName(rd), BAD_CAST "row") &&
			    rows[depth]++ >= LK_REPORT_HTML_ROWS) {
				omitted[depth]++;
				if (!empty && xmlTextReaderNext(rd) != 1)
					goto out;
				continue;
			}
			n = xmlNewDocNode(doc, NULL, xmlTextReaderConstLocalName(rd), NULL);
			if (n == NULL)
				goto out;
			if (cur == NULL)
				xmlDocSetRootElement(doc, n);
			else
				xmlAddChild(cur, n);
			if (uri != NULL) {
				ns = xmlSearchNsByHref(doc, n, uri);
				if (ns == NULL &&
				    (ns = xmlNewNs(n, uri, xmlTextReaderConstPrefix(rd))) == NULL)
					goto out;
				xmlSetNs(n, ns);
			}
			while (xmlTextReaderMoveToNextAttribute(rd) == 1) {
				if (xmlTextReaderIsNamespaceDecl(rd) == 1)
					continue;
				if (xmlNewProp(n, xmlTextReaderConstLocalName(rd),
				               xmlTextReaderConstValue(rd)) == NULL)
					goto out;
			}
			xmlTextReaderMoveToElement(rd);
			if (!empty) {
				cur = n;
				depth++;
				rows[depth] = omitted[depth] = 0;
			}
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			if (cur == NULL || pruned_pop(&cur, omitted, &depth) < 0)
				goto out;
		} else if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) &&
		           cur != NULL && (v = xmlTextReaderConstValue(rd)) != NULL) {
			if (xmlAddChild(cur, xmlNewDocText(doc, v)) == NULL)
				goto out;
		}
	}
	ok = rc == 0 && depth == -1 && xmlDocGetRootElement(doc) != NULL;
out:
	xmlFreeTextReader(rd);
	if (!ok) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

static int render(const char *xml_path, const char *dir, struct lk_err *err)
{
	xmlDocPtr style_doc = NULL, doc = NULL, html = NULL;
	xsltStylesheetPtr style = NULL;
	FILE *f = NULL;
	int ret = LK_EINVAL;

	style_doc =
	    xmlReadMemory(lk_soc2_xsl, (int)lk_soc2_xsl_len, "soc2.xsl", NULL, XML_PARSE_NONET);
	if (style_doc == NULL || (style = xsltParseStylesheetDoc(style_doc)) == NULL) {
		xmlFreeDoc(style_doc);
		return lk_err_set(err, LK_EINVAL, "the built-in SOC 2 stylesheet does not parse");
	}
	doc = read_pruned(xml_path);
	if (doc == NULL) {
		ret = lk_err_set(err, LK_EIO, "cannot read back %s", xml_path);
		goto out;
	}
	html = xsltApplyStylesheet(style, doc, NULL);
	if (html == NULL) {
		ret = lk_err_set(err, LK_EINVAL, "rendering report.html failed");
		goto out;
	}
	if ((f = pack_open(dir, "report.html", err)) == NULL) {
		ret = LK_EIO;
		goto out;
	}
	if (xsltSaveResultToFile(f, html, style) < 0) {
		fclose(f);
		ret = lk_err_set(err, LK_EIO, "cannot write report.html");
		goto out;
	}
	ret = pack_close(f, "report.html", err);
out:
	xmlFreeDoc(html);
	xmlFreeDoc(doc);
	xsltFreeStylesheet(style); /* frees style_doc */
	return ret;
}

/* ---- CSV populations ------------------------------------------------- */

static int write_decisions_csv(struct rep *r, struct lk_err *err)
{
	sqlite3_stmt *st;
	FILE *f;
	int rc, ret;

	if ((f = pack_open(r->p->out_dir, "decisions.csv", err)) == NULL)
		return LK_EIO;
	if ((ret = query(r, Q_DECISIONS, &st, err)) < 0) {
		fclose(f);
		return ret;
	}
	fputs("seq,time,service,result,reason,kid,subject_ref,policy,steps\r\n", f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = col(st, 5), *reason = col(st, 4);
		char service[64], policy[80], steps[512];
		detail_field(detail, "service", service, sizeof(service));
		detail_field(detail, "policy", policy, sizeof(policy));
		detail_field(detail, "steps", steps, sizeof(steps));
		csv_field(f, col(st, 0), false);
		csv_time(f, st, 1, false);
		csv_field(f, service, false);
		csv_field(f, strcmp(reason, "ok") == 0 ? "allowed" : "denied", false);
		csv_field(f, reason, false);
		csv_field(f, col(st, 2), false);
		csv_field(f, col(st, 3), false);
		csv_field(f, policy, false);
		csv_field(f, steps, true);
	}
	if ((ret = step_done(r, st, rc, queries[Q_DECISIONS].id, err)) < 0) {
		fclose(f);
		return ret;
	}
	return pack_close(f, "decisions.csv", err);
}

static int write_keys_csv(struct rep *r, struct lk_err *err)
{
	sqlite3_stmt *st;
	FILE *f;
	int rc, ret;

	if ((f = pack_open(r->p->out_dir, "keys.csv", err)) == NULL)
		return LK_EIO;
	if ((ret = query(r, Q_KEYS, &st, err)) < 0) {
		fclose(f);
		return ret;
	}
	fputs("kid,owner_ref,env,scopes,created,expires,status,status_changed,status_reason\r\n",
	      f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		csv_field(f, col(st, 0), false);
		csv_field(f, col(st, 1), false);
		csv_field(f, col(st, 2), false);
		csv_field(f, col(st, 3), false);
		csv_time(f, st, 4, false);
		csv_time(f, st, 5, false);
		csv_field(f, col(st, 6), false);
		csv_time(f, st, 7, false);
		csv_field(f, col(st, 8), true);
	}
	if ((ret = step_done(r, st, rc, queries[Q_KEYS].id, err)) < 0) {
		fclose(f);
		return ret;
	}
	return pack_close(f, "keys.csv", err);
}

/* ---- the signed manifest --------------------------------------------- */

static int write_verify_txt(const struct rep *r, const char *key_id, struct lk_err *err)
{
	FILE *f = pack_open(r->p->out_dir, "VERIFY.txt", err);

	if (f == NULL)
		return LK_EIO;
	fprintf(f,
	        "How to verify this evidence pack (run in this directory)\n"
	        "\n"
	        "1. Every file is the one that was signed:\n"
	        "\n"
	        "     sha256sum -c MANIFEST.sha256\n"
	        "\n"
	        "2. The manifest was signed by Latchkey's signing key (Ed25519, key id %s):\n"
	        "\n"
	        "     openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \\\n"
	        "       -in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig\n"
	        "\n"
	        "   It prints \"Signature Verified Successfully\". Compare the key with the\n"
	        "   signing.pub.pem you hold from the system itself; the key id is the start\n"
	        "   of its SHA-256:\n"
	        "\n"
	        "     openssl pkey -pubin -in signing.pub.pem -outform DER | sha256sum\n"
	        "\n"
	        "3. The audit log itself, on the system: latchkey audit verify. The pack's\n"
	        "   checkpoint (evidence.xml, cover) is one of the checkpoints it verifies.\n"
	        "\n"
	        "4. evidence.xml against its schema (installed with latchkey):\n"
	        "\n"
	        "     xmllint --noout --schema /usr/share/latchkey/reports/evidence.xsd "
	        "evidence.xml\n",
	        key_id);
	return pack_close(f, "VERIFY.txt", err);
}

static int file_sha256(const char *path, char hex[2 * crypto_hash_sha256_BYTES + 1],
                       struct lk_err *err)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], digest[crypto_hash_sha256_BYTES];
	size_t n;
	FILE *f;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		if (fd >= 0)
			close(fd);
		return lk_err_set(err, LK_EIO, "cannot read %s: %s", path, strerror(errno));
	}
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	if (ferror(f)) {
		fclose(f);
		return lk_err_set(err, LK_EIO, "cannot read %s", path);
	}
	fclose(f);
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(hex, 2 * crypto_hash_sha256_BYTES + 1, digest, sizeof(digest));
	return LK_OK;
}

static int write_manifest(const struct rep *r, const struct lk_signer *signer, struct lk_err *err)
{
	char path[4096], hex[2 * crypto_hash_sha256_BYTES + 1];
	unsigned char sig[LK_SIGNATURE_LEN];
	char *manifest = NULL;
	size_t len = 0;
	FILE *m, *f;
	int ret;

	m = open_memstream(&manifest, &len);
	if (m == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	for (size_t i = 0; i < sizeof(pack_files) / sizeof(pack_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->p->out_dir, pack_files[i]);
		if ((ret = file_sha256(path, hex, err)) < 0) {
			fclose(m);
			goto out;
		}
		fprintf(m, "%s  %s\n", hex, pack_files[i]);
	}
	if (fclose(m) != 0) {
		ret = lk_err_set(err, LK_ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = lk_signer_sign(signer, manifest, len, sig, err)) < 0)
		goto out;
	if ((f = pack_open(r->p->out_dir, "MANIFEST.sha256", err)) == NULL) {
		ret = LK_EIO;
		goto out;
	}
	fwrite(manifest, 1, len, f);
	if ((ret = pack_close(f, "MANIFEST.sha256", err)) < 0)
		goto out;
	if ((f = pack_open(r->p->out_dir, "MANIFEST.sha256.sig", err)) == NULL) {
		ret = LK_EIO;
		goto out;
	}
	fwrite(sig, 1, sizeof(sig), f);
	ret = pack_close(f, "MANIFEST.sha256.sig", err);
out:
	free(manifest);
	return ret;
}

/* ---- the pack -------------------------------------------------------- */

/* Creates dir (0750), or takes an existing empty one. */
static int prepare_dir(const char *dir, struct lk_err *err)
{
	struct dirent *de;
	DIR *d;

	if (mkdir(dir, 0750) == 0)
		return LK_OK;
	if (errno != EEXIST)
		return lk_err_set(err, LK_EIO, "cannot create %s: %s", dir, strerror(errno));
	d = opendir(dir);
	if (d == NULL)
		return lk_err_set(err, LK_EIO, "cannot use %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			closedir(d);
			return lk_err_set(
			    err, LK_EEXIST,
			    "%s is not empty: a pack goes into a new or empty directory", dir);
		}
	}
	closedir(d);
	return LK_OK;
}

int lk_report_soc2(struct lk_store *store, const struct lk_signer *signer,
                   const struct lk_report_params *p, struct lk_report_result *ret,
                   struct lk_err *err)
{
	struct rep r = { .store = store, .db = store->db, .p = p };
	struct lk_verify_report vr;
	struct lk_checkpoint cp;
	char path[4096];
	bool in_txn = false;
	int rc;

	if (signer == NULL)
		return lk_err_set(err, LK_ECRYPTO, "a report is signed: no signing key");
	if (p->from >= p->to)
		return lk_err_set(err, LK_EINVAL,
		                  "the period is empty: --from must be before --to");
	if (strlen(p->out_dir) > 3000)
		return lk_err_set(err, LK_EINVAL, "the output directory's path is too long");
	if ((rc = prepare_dir(p->out_dir, err)) < 0)
		return rc;
	/* "A checkpoint at every report": the log as it stands when the pack
	 * is made is signed, and the pack names that checkpoint. */
	if ((rc = lk_checkpoint_make(store, signer, p->now, p->actor, "report", &cp, err)) < 0)
		return rc;
	/* One snapshot for the whole pack: the checkpoint's and later rows
	 * may arrive while it is written, none of them half-seen. */
	if (sqlite3_exec(r.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(r.db, "SELECT count(*) FROM audit", NULL, NULL, NULL) != SQLITE_OK) {
		rc = lk_store_error(store, sqlite3_errcode(r.db), "starting the report", err);
		goto out;
	}
	in_txn = true;
	if ((rc = lk_checkpoint_verify(store, lk_signer_public(signer), &vr, err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/evidence.xml", p->out_dir);
	if ((rc = write_evidence(&r, signer, &cp, &vr, path, err)) < 0)
		goto out;
	/* Nothing is signed that does not validate. */
	if ((rc = validate(path, err)) < 0)
		goto out;
	if ((rc = render(path, p->out_dir, err)) < 0)
		goto out;
	if ((rc = write_decisions_csv(&r, err)) < 0 || (rc = write_keys_csv(&r, err)) < 0)
		goto out;
	sqlite3_exec(r.db, "COMMIT", NULL, NULL, NULL);
	in_txn = false;
	snprintf(path, sizeof(path), "%s/signing.pub.pem", p->out_dir);
	if ((rc = lk_signing_write_public(path, lk_signer_public(signer), err)) < 0)
		goto out;
	if ((rc = write_verify_txt(&r, lk_signer_key_id(signer), err)) < 0)
		goto out;
	if ((rc = write_manifest(&r, signer, err)) < 0)
		goto out;
	ret->cp = cp;
	ret->exceptions = r.exceptions;
	ret->intact = vr.audit.problem == LK_AUDIT_INTACT;
	rc = LK_OK;
out:
	if (in_txn)
		sqlite3_exec(r.db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
