/* SPDX-License-Identifier: Apache-2.0 */
/* evidence.xml's small writing helpers (pack-private.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack-private.h"
#include "store-private.h"
#include "util-private.h"

void ev_check(struct rep *r, int rc)
{
	if (rc < 0)
		r->werr = true;
}

void ev_start(struct rep *r, const char *name)
{
	ev_check(r, xmlTextWriterStartElement(r->w, BAD_CAST name));
}

void ev_end(struct rep *r)
{
	ev_check(r, xmlTextWriterEndElement(r->w));
}

/* Whether the subject behind a pseudonym was erased (its name is gone).
 * One primary-key probe, skipped when the row before named the same one. */
static bool subject_erased(struct rep *r, const char *ref)
{
	if (strcmp(ref, r->erased_ref) == 0)
		return r->erased_last;
	if (r->erased_st == NULL &&
	    sqlite3_prepare_v2(r->db, "SELECT name IS NULL FROM subject WHERE subject_ref = ?1", -1,
	                       &r->erased_st, NULL) != SQLITE_OK) {
		r->werr = true; /* an unanswerable question fails the pack */
		return false;
	}
	sqlite3_reset(r->erased_st);
	sqlite3_bind_text(r->erased_st, 1, ref, -1, SQLITE_TRANSIENT);
	r->erased_last =
	    sqlite3_step(r->erased_st) == SQLITE_ROW && sqlite3_column_int(r->erased_st, 0) == 1;
	snprintf(r->erased_ref, sizeof(r->erased_ref), "%s", ref);
	return r->erased_last;
}

/* Text from the database goes into evidence.xml as XML characters only: a
 * row written outside latchkey (invalid UTF-8, U+FFFF) must not make every
 * pack that lists it fail validation. *copy is NULL when value is fine. */
static int xml_safe(const char *value, char **copy)
{
	return lk_text_xml_copy(value, copy) == LK_OK ? 0 : -1;
}

void ev_attr(struct rep *r, const char *name, const char *value)
{
	char buf[LK_SUBJECT_REF_LEN + 32], *copy = NULL;

	if (value == NULL)
		return;
	/* "Reports show 'erased subject'": wherever a pseudonym appears, an
	 * erased person is marked as such (the name was never in a pack). */
	if (strcmp(name, "subject") == 0 && strncmp(value, "sub_", 4) == 0 &&
	    strlen(value) < sizeof(r->erased_ref) && subject_erased(r, value)) {
		snprintf(buf, sizeof(buf), "%s (erased subject)", value);
		value = buf;
	}
	ev_check(r, xml_safe(value, &copy));
	ev_check(r, xmlTextWriterWriteAttribute(r->w, BAD_CAST name,
	                                        BAD_CAST(copy != NULL ? copy : value)));
	free(copy);
}

void ev_attr_int(struct rep *r, const char *name, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	ev_attr(r, name, buf);
}

void ev_attr_time(struct rep *r, const char *name, int64_t t)
{
	char buf[40];

	lk_time_format(t, buf, sizeof(buf));
	ev_attr(r, name, buf);
}

void ev_text(struct rep *r, const char *name, const char *text)
{
	char *copy = NULL;

	ev_check(r, xml_safe(text, &copy));
	ev_check(r, xmlTextWriterWriteElement(r->w, BAD_CAST name,
	                                      BAD_CAST(copy != NULL ? copy : text)));
	free(copy);
}

void ev_string(struct rep *r, const char *text)
{
	char *copy = NULL;

	ev_check(r, xml_safe(text, &copy));
	ev_check(r, xmlTextWriterWriteString(r->w, BAD_CAST(copy != NULL ? copy : text)));
	free(copy);
}

const char *ev_col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

void ev_quote(struct rep *r, const struct lk_ev_query *q)
{
	size_t i;

	for (i = 0; i < r->n_quoted && r->quoted[i] != q; i++)
		;
	/* The table is sized for every query of every framework: a full one
	 * is a programming error that the missing <query> IDREF (XSD) shows. */
	if (i == r->n_quoted && r->n_quoted < LK_EV_MAX_QUERIES)
		r->quoted[r->n_quoted++] = q;
}

int ev_query(struct rep *r, const struct lk_ev_query *q, sqlite3_stmt **ret, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	ev_quote(r, q);
	rc = sqlite3_prepare_v2(r->db, q->sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(r->store, rc, q->id, err);
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, r->p->from);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, r->p->to);
	*ret = st;
	return LK_OK;
}

int ev_step_done(struct rep *r, sqlite3_stmt *st, int rc, const char *what, struct lk_err *err)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return lk_store_error(r->store, rc, what, err);
	return LK_OK;
}

/* Where the value of name= starts in an audit detail, or NULL. */
static const char *detail_find(const char *detail, const char *name)
{
	size_t n = strlen(name);
	const char *p = detail;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return p + n + 1;
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* The value of name= in an audit detail ("service=sshd env=prod ..."). */
void ev_detail_field(const char *detail, const char *name, char *out, size_t outlen)
{
	const char *v = detail_find(detail, name);

	out[0] = '\0';
	if (v != NULL)
		snprintf(out, outlen, "%.*s", (int)strcspn(v, " "), v);
}

void ev_detail_rest(const char *detail, const char *name, char *out, size_t outlen)
{
	const char *v = detail_find(detail, name);

	snprintf(out, outlen, "%s", v != NULL ? v : "");
}

void ev_attr_dash(struct rep *r, const char *name, const char *value)
{
	ev_attr(r, name, value != NULL && value[0] != '\0' ? value : "-");
}

/* Distinct plugins among steps that succeeded ("apikey:ok,totp:satisfied"). */
int ev_factors(const char *steps)
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

/* <result population= outcome=>: zero rows is "not occurring", never a pass. */
void ev_result(struct rep *r, int64_t population, int64_t exceptions, const char *note)
{
	const char *outcome = population == 0  ? "not occurring"
	                      : exceptions > 0 ? "exceptions"
	                                       : "information";

	ev_start(r, "result");
	ev_attr_int(r, "population", population);
	ev_attr_int(r, "exceptions", exceptions);
	ev_attr(r, "outcome", outcome);
	if (note != NULL)
		ev_check(r, xmlTextWriterWriteString(r->w, BAD_CAST note));
	ev_end(r);
}

void ev_test_open(struct rep *r, const char *id, const struct lk_ev_query *q, const char *title,
                  const char *method)
{
	ev_start(r, "test");
	ev_attr(r, "id", id);
	if (q != NULL)
		ev_attr(r, "query", q->id);
	ev_attr(r, "title", title);
	ev_text(r, "method", method);
}

void ev_add_exception(struct rep *r, const char *test, int64_t count)
{
	if (count <= 0)
		return;
	r->exceptions += count;
	/* A register that cannot list an exception must not be signed as if
	 * complete: the pack fails (each test adds one entry at most, so the
	 * table is far larger than any framework needs). */
	if (r->n_exc >= sizeof(r->exc) / sizeof(r->exc[0])) {
		r->werr = true;
		return;
	}
	r->exc[r->n_exc].test = test;
	r->exc[r->n_exc].count = count;
	r->n_exc++;
}

void ev_criterion_open(struct rep *r, const char *id, const char *title)
{
	ev_start(r, "criterion");
	ev_attr(r, "id", id);
	ev_attr(r, "title", title);
}

void ev_control(struct rep *r, const char *id, const char *title, const char *activity,
                const char *const *tests)
{
	ev_start(r, "control");
	ev_attr(r, "id", id);
	ev_attr(r, "title", title);
	ev_text(r, "activity", activity);
	for (size_t i = 0; tests != NULL && tests[i] != NULL; i++) {
		ev_start(r, "covered-by");
		ev_attr(r, "test", tests[i]);
		ev_end(r);
	}
	ev_end(r);
}

void ev_lag_format(int64_t seconds, char *out, size_t outlen)
{
	int64_t m = seconds > 0 ? seconds / 60 : 0;
	long long d = (long long)(m / 1440), h = (long long)(m / 60 % 24), mm = (long long)(m % 60);

	if (d > 0)
		snprintf(out, outlen, "%lldd %lldh %lldm", d, h, mm);
	else if (h > 0)
		snprintf(out, outlen, "%lldh %lldm", h, mm);
	else
		snprintf(out, outlen, "%lldm", mm);
}
