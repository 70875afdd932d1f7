/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the evidence-pack generator (reports/): the writer state every
 * section shares, the queries the packs quote, and the tests that more than
 * one framework runs. Each framework (soc2.c, gdpr.c, iso27001.c) is a body
 * written between the common head (cover, integrity, activity) and the
 * common tail (exceptions register, queries) by pack.c.
 */
#ifndef LATCHKEY_PACK_PRIVATE_H
#define LATCHKEY_PACK_PRIVATE_H

#include <libxml/xmlwriter.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report-private.h"
#include "subject-private.h"

/*
 * The shared queries, as the pack quotes them (completeness and accuracy of the
 * information produced: the auditor re-runs them with sqlite3). ?1 is the
 * period's start, ?2 its end (exclusive), both Unix seconds. A pack quotes
 * the ones it ran (queries.c). A framework's own queries are static
 * struct lk_ev_query in its file; ids are unique across all of them.
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
	Q_SUCCESSES_POLICY,
	Q_POLICIES,
	Q_PLUGIN_BUILDS,
	Q_PLUGIN_LOADS,
	Q_OFFBOARDING,
	Q_SCOPE_CHANGES,
	Q_COUNT
};

struct lk_ev_query {
	const char *id, *sql;
};
extern const struct lk_ev_query lk_ev_queries[Q_COUNT];
#define EVQ(q) (&lk_ev_queries[(q)])

/* Queries a pack can quote: the shared ones and each framework's own. */
#define LK_EV_MAX_QUERIES 64

#define LK_EV_MAX_EXCEPTIONS 32

struct rep {
	struct lk_store *store;
	sqlite3 *db;
	const struct lk_report_params *p;
	const struct lk_signer *signer;
	int dirfd; /* the pack's directory: every file is made through it */
	xmlTextWriterPtr w;
	bool werr; /* a writer call failed */
	/* Queries run, in order of first use: the pack quotes these. */
	const struct lk_ev_query *quoted[LK_EV_MAX_QUERIES];
	size_t n_quoted;
	int64_t exceptions;
	/* ev_attr's erased-subject probe and the last pseudonym it answered. */
	sqlite3_stmt *erased_st;
	char erased_ref[LK_SUBJECT_REF_LEN + 1];
	bool erased_last;
	struct {
		const char *test;
		int64_t count;
	} exc[LK_EV_MAX_EXCEPTIONS];
	size_t n_exc;
};

/* One framework: the cover's title, and its body (system description,
 * matrix, criteria) between the common head and tail. */
struct lk_framework {
	const char *name; /* evidence/@framework */
	const char *title;
	int (*body)(struct rep *r, struct lk_err *err);
};
extern const struct lk_framework lk_framework_soc2;
extern const struct lk_framework lk_framework_gdpr;
extern const struct lk_framework lk_framework_iso27001;

/* ---- writing evidence.xml (writer.c); a failed call sets r->werr ---- */
void ev_check(struct rep *r, int rc);
void ev_start(struct rep *r, const char *name);
void ev_end(struct rep *r);
void ev_attr(struct rep *r, const char *name, const char *value); /* NULL: left out */
void ev_attr_int(struct rep *r, const char *name, int64_t v);
void ev_attr_time(struct rep *r, const char *name, int64_t t);
void ev_text(struct rep *r, const char *name, const char *text); /* <name>text</name> */
void ev_string(struct rep *r, const char *text);                 /* text content */
const char *ev_col(sqlite3_stmt *st, int i);
/* A prepared query with the period bound (?1, ?2); marks it quoted. */
int ev_query(struct rep *r, const struct lk_ev_query *q, sqlite3_stmt **ret, struct lk_err *err);
/* Marks q quoted without running it here (the CSVs' queries). */
void ev_quote(struct rep *r, const struct lk_ev_query *q);
/* Finalizes st; an error unless the last step was SQLITE_DONE. */
int ev_step_done(struct rep *r, sqlite3_stmt *st, int rc, const char *what, struct lk_err *err);
/* The value of name= in an audit detail ("service=sshd env=prod ..."). */
void ev_detail_field(const char *detail, const char *name, char *out, size_t outlen);
/* The rest of the detail from name='s value on (free text such as
 * error= or ticket=, written last because it may hold spaces). */
void ev_detail_rest(const char *detail, const char *name, char *out, size_t outlen);
/* An attribute that every row of its population has: "-" for NULL or ""
 * (report.html's tables take their columns from the first row). */
void ev_attr_dash(struct rep *r, const char *name, const char *value);
/* Distinct plugins among steps that succeeded ("apikey:ok,totp:satisfied"). */
int ev_factors(const char *steps);
/* <result>: zero rows is "not occurring", never a pass. */
void ev_result(struct rep *r, int64_t population, int64_t exceptions, const char *note);
/* q: the test's query (NULL: none). */
void ev_test_open(struct rep *r, const char *id, const struct lk_ev_query *q, const char *title,
                  const char *method);
void ev_criterion_open(struct rep *r, const char *id, const char *title);
/* One <control> of the <matrix>: how Latchkey operates it, and the ids of
 * the tests that give evidence of it (NULL-terminated; none: procedural). */
void ev_control(struct rep *r, const char *id, const char *title, const char *activity,
                const char *const *tests);
/* A duration for people: "3d 4h 5m", "3h 5m", "12m", "0m". */
void ev_lag_format(int64_t seconds, char *out, size_t outlen);
/* Counts toward the exceptions register (ignored when count is 0). */
void ev_add_exception(struct rep *r, const char *test, int64_t count);

/* ---- tests more than one framework runs (populations.c) ---- */
/* The key population at the period's start (Q_KEYS_AT_START) or end. */
int ev_key_population(struct rep *r, const struct lk_ev_query *q, const char *id, const char *title,
                      struct lk_err *err);
/* <system>: what Latchkey is, the policies on record by the period's end
 * (policy_evidence) and the plugin builds (plugin_evidence). */
int ev_system(struct rep *r, struct lk_err *err);
/* MFA per service over every success in the period (<service> counts for
 * the chart); a success with fewer factors than its policy requires is an
 * exception; one whose policy is not on record is listed (information). */
int ev_mfa(struct rep *r, const char *id, struct lk_err *err);
/* Keys live at the period's end by age (<bucket>s for the chart), listing
 * those older than the config's rotation_age. */
int ev_key_age(struct rep *r, const char *id, struct lk_err *err);
/* Every owner.revoke-all in the period against the config's
 * offboarding_sla: a lag beyond it is an exception. */
int ev_offboarding(struct rep *r, const char *id, struct lk_err *err);
/* Keys live at the period's end holding a privileged scope (ev_scope_
 * privileged): information, every one listed. */
int ev_privileged_keys(struct rep *r, const char *id, struct lk_err *err);
/* Keys created in the period with their scopes; a rotated key whose scopes
 * differ from its predecessor's is an exception. */
int ev_scope_changes(struct rep *r, const char *id, struct lk_err *err);
/* Every plugin.load row in the period (loaded builds and failures). */
int ev_plugins(struct rep *r, const char *id, struct lk_err *err);
/* Every policy.change (service, old and new hash, ticket, who) and
 * policy.load (service, hash, result) in the period. */
int ev_policy_changes(struct rep *r, const char *id, struct lk_err *err);
/* A scope that grants administration or more than itself: "admin", or a
 * ':'/'/'/'.'-separated part equal to "admin", or any '*' (the grammar has
 * no wildcard: one in a row was written outside latchkey). */
bool ev_scope_privileged(const char *scope);
/* A test listing query q's rows, each column an attribute named by names
 * (NULL-terminated; "" skips a column; "time", "created", "expires",
 * "first-loaded" and "last-seen" are times).
 * exceptions: every row is one (and goes to the register). */
int ev_listing(struct rep *r, const struct lk_ev_query *q, const char *id, const char *title,
               const char *method, const char *const *names, bool exceptions, const char *zero_note,
               struct lk_err *err);

/* ---- pack files (pack.c) ---- */
/* A new file in the pack directory: never follows a symlink, never
 * replaces anything. */
FILE *ev_pack_open(int dirfd, const char *name, struct lk_err *err);
int ev_pack_close(FILE *f, const char *name, struct lk_err *err);
/* RFC 4180 fields; last ends the record with CRLF. */
void ev_csv_field(FILE *f, const char *s, bool last);
void ev_csv_time(FILE *f, sqlite3_stmt *st, int i, bool last);

/* ---- report.html (html.c) ---- */
/* report.html from dirfd's evidence.xml, into dirfd. */
int ev_render(int dirfd, struct lk_err *err);

#endif
