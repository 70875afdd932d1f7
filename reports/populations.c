/* SPDX-License-Identifier: Apache-2.0 */
/* Tests that more than one framework runs over the same populations. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pack-private.h"

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

struct service_mfa {
	char name[64];
	int64_t successes, multi;
};

int ev_mfa(struct rep *r, const char *id, struct lk_err *err)
{
	struct service_mfa *sv = NULL;
	size_t n_sv = 0;
	sqlite3_stmt *st;
	int64_t n = 0, single = 0;
	int rc, ret = LK_ENOMEM;

	ev_test_open(r, id, EVQ(Q_SUCCESSES), "MFA enforcement per service",
	             "Every successful decision in the period; a factor is a policy step that "
	             "succeeded (ok, or satisfied by an earlier step). Listed: each success with a "
	             "single factor, with the hash of the policy that allowed it; whether that "
	             "policy required a second factor is in the policy file with that hash.");
	if ((ret = ev_query(r, EVQ(Q_SUCCESSES), &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = ev_col(st, 4);
		char service[64], policy[80], steps[512];
		size_t i;
		int factors;

		ev_detail_field(detail, "service", service, sizeof(service));
		ev_detail_field(detail, "policy", policy, sizeof(policy));
		ev_detail_field(detail, "steps", steps, sizeof(steps));
		factors = ev_factors(steps);
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
			ev_start(r, "row");
			ev_attr_int(r, "seq", sqlite3_column_int64(st, 0));
			ev_attr_time(r, "time", sqlite3_column_int64(st, 1));
			ev_attr(r, "service", service);
			ev_attr(r, "kid", ev_col(st, 2));
			ev_attr(r, "subject", ev_col(st, 3));
			ev_attr(r, "policy", policy);
			ev_attr(r, "steps", steps);
			ev_end(r);
			single++;
		}
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_SUCCESSES)->id, err)) < 0)
		goto out;
	for (size_t i = 0; i < n_sv; i++) {
		ev_start(r, "service");
		ev_attr(r, "name", sv[i].name);
		ev_attr_int(r, "successes", sv[i].successes);
		ev_attr_int(r, "multi-factor", sv[i].multi);
		ev_attr_int(r, "single-factor", sv[i].successes - sv[i].multi);
		ev_end(r);
	}
	{
		char note[96];
		snprintf(note, sizeof(note), "%lld of %lld successes with a single factor",
		         (long long)single, (long long)n);
		ev_result(r, n, 0, note);
	}
	ev_end(r);
	ret = LK_OK;
out:
	free(sv);
	return ret;
}

/* A row-listing test: each column of the query an attribute (NULL
 * columns left out; columns named "time", "created", "expires" are times). */
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
			if (strcmp(names[i], "time") == 0 || strcmp(names[i], "expires") == 0)
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
