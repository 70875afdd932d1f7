/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Brute-force lockout counters (core/lockout-private.h). One row per
 * credential or source that failed: the failures in the current window, when
 * the window began, and until when it is locked.
 *
 * Rules, for the policy of the request being decided:
 *   - a limit of 0 turns that kind off: nothing is counted, nothing locked;
 *   - failures count within `window` from the first one; a failure after the
 *     window (or after a lock ran out) starts a new count;
 *   - the failure that reaches the limit locks for `duration`; failures
 *     while locked are not counted, so a lock never grows: the guessing rate
 *     stays at `limit` per window, and every answer while locked is the same;
 *   - the rows are shared by every service: a credential locked through one
 *     service is refused by every service that limits that kind.
 *
 * For LK_LOCKOUT_SOURCE the id is the client address as PAM_RHOST gave it;
 * it is stored only as its subject pseudonym (kind "source", the one key
 * verification uses), one per address however it was spelled.
 *
 * None of these functions opens a transaction: they run inside the caller's
 * (the engine's unit of work), so counts commit with the decision.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr-private.h"
#include "lockout-private.h"
#include "subject-private.h"
#include "util-private.h"

#define ID_MAX 64 /* a kid or TOTP credential id is far shorter */

static const char *kind_str(enum lk_lockout_kind kind)
{
	return kind == LK_LOCKOUT_SOURCE ? "source" : "credential";
}

static unsigned limit_of(const struct lk_policy *policy, enum lk_lockout_kind kind)
{
	return kind == LK_LOCKOUT_SOURCE ? policy->lockout_source_failures
	                                 : policy->lockout_credential_failures;
}

/* The pseudonym of a source, made when create is set. A host name (sshd
 * with UseDNS) is kept as given: the host service chose it, not the
 * client. */
static int source_ref(struct lk_store *store, const char *source, bool create, int64_t now,
                      char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err)
{
	char canon[LK_CIDR_STRLEN];
	struct lk_cidr addr;

	if (source == NULL || source[0] == '\0' || !lk_text_valid(source, 255))
		return lk_err_set(err, LK_EINVAL, "bad source '%.40s'", source ? source : "");
	if (lk_ip_parse(source, &addr) == LK_OK) {
		/* An IPv6 client may take any address of its /64 for each try
		 * (privacy addresses, SLAAC): the /64 is the source. */
		if (addr.family == AF_INET6)
			memset(addr.addr + 8, 0, 8);
		lk_ip_format(&addr, canon, sizeof(canon));
		if (addr.family == AF_INET6) {
			size_t n = strlen(canon);
			/* "/64" fits: LK_CIDR_STRLEN has room for "/128". */
			snprintf(canon + n, sizeof(canon) - n, "/64");
		}
		source = canon;
	}
	return lk_subject_ref(store, "source", source, create, now, ret_ref, err);
}

/* The row's id: the credential id as it is, or the source's pseudonym
 * (made when create is set; LK_ENOTFOUND for an address never seen). */
static int row_id(struct lk_store *store, enum lk_lockout_kind kind, const char *id, bool create,
                  int64_t now, char ret_id[ID_MAX + 1], struct lk_err *err)
{
	char ref[LK_SUBJECT_REF_LEN + 1];
	int r;

	if (kind == LK_LOCKOUT_SOURCE) {
		if ((r = source_ref(store, id, create, now, ref, err)) < 0)
			return r;
		id = ref;
	} else if (id == NULL || !lk_token_valid(id, ID_MAX, "-_")) {
		return lk_err_set(err, LK_EINVAL, "bad credential id '%.40s'", id ? id : "");
	}
	snprintf(ret_id, ID_MAX + 1, "%s", id);
	return LK_OK;
}

int lk_lockout_source_ref(struct lk_store *store, const char *source,
                          char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err)
{
	return source_ref(store, source, false, 0, ret_ref, err);
}

static const char sql_get[] =
    "SELECT failures, window_start, locked_until FROM lockout WHERE kind = ?1 AND id = ?2";

struct row {
	int64_t failures, window_start, locked_until;
};

/* LK_OK and *found; the row when found. */
static int get_row(struct lk_store *store, const char *kind, const char *id, bool *found,
                   struct row *ret_row, struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_get, err);
	int rc;

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		*ret_row = (struct row){ sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			                 sqlite3_column_int64(st, 2) };
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return lk_store_error(store, rc, "reading a lockout counter", err);
	return LK_OK;
}

int lk_lockout_check(struct lk_store *store, const struct lk_policy *policy,
                     enum lk_lockout_kind kind, const char *id, int64_t now, bool *ret_locked,
                     int64_t *ret_until, struct lk_err *err)
{
	char rid[ID_MAX + 1];
	struct row row;
	bool found = false;
	int r;

	if (limit_of(policy, kind) == 0) {
		*ret_locked = false;
		return LK_OK;
	}
	r = row_id(store, kind, id, false, now, rid, err);
	if (r == LK_ENOTFOUND) {
		*ret_locked = false; /* a source that never failed */
		return LK_OK;
	}
	if (r == LK_OK)
		r = get_row(store, kind_str(kind), rid, &found, &row, err);
	if (r < 0)
		return r;
	*ret_locked = found && row.locked_until > now;
	if (*ret_locked && ret_until != NULL)
		*ret_until = row.locked_until;
	return LK_OK;
}

static const char sql_put[] = "INSERT INTO lockout (kind, id, failures, window_start, locked_until)"
                              " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kind, id) DO UPDATE SET"
                              " failures = excluded.failures, window_start = excluded.window_start,"
                              " locked_until = excluded.locked_until";

int lk_lockout_fail(struct lk_store *store, const struct lk_policy *policy,
                    enum lk_lockout_kind kind, const char *id, int64_t now, bool *ret_now_locked,
                    struct lk_err *err)
{
	unsigned limit = limit_of(policy, kind);
	char rid[ID_MAX + 1];
	struct row row = { 0 };
	bool found = false;
	sqlite3_stmt *st;
	int r;

	*ret_now_locked = false;
	if (limit == 0)
		return LK_OK;
	r = row_id(store, kind, id, true, now, rid, err);
	if (r == LK_OK)
		r = get_row(store, kind_str(kind), rid, &found, &row, err);
	if (r < 0)
		return r;
	if (found && row.locked_until > now)
		return LK_OK; /* already locked: the lock is not extended */
	/* A new window after the last one ran out, after a lock ended, or when
	 * the clock went back past its start. */
	if (!found || row.locked_until != 0 || now < row.window_start ||
	    now - row.window_start >= policy->lockout_window)
		row = (struct row){ .failures = 0, .window_start = now };
	row.failures++;
	row.locked_until = 0;
	if (row.failures >= (int64_t)limit) {
		row.locked_until = now + policy->lockout_duration;
		*ret_now_locked = true;
	}
	st = lk_store_stmt(store, sql_put, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, kind_str(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, row.failures);
	sqlite3_bind_int64(st, 4, row.window_start);
	sqlite3_bind_int64(st, 5, row.locked_until);
	r = lk_store_exec_stmt(store, st, "counting a failure", err);
	if (r < 0)
		*ret_now_locked = false;
	return r;
}

/* Only the count: a lock stays until it runs out (a success through a
 * service that sets no limit must not lift a lock another one set). */
static const char sql_reset[] =
    "UPDATE lockout SET failures = 0, window_start = 0 WHERE kind = ?1 AND id = ?2";
static const char sql_clear[] = "DELETE FROM lockout WHERE kind = ?1 AND id = ?2";

static int forget(struct lk_store *store, const char *sql, enum lk_lockout_kind kind,
                  const char *id, const char *what, struct lk_err *err)
{
	char rid[ID_MAX + 1];
	sqlite3_stmt *st;
	int r;

	r = row_id(store, kind, id, false, 0, rid, err);
	if (r == LK_ENOTFOUND)
		return LK_OK; /* a source never seen has nothing to forget */
	if (r < 0)
		return r;
	st = lk_store_stmt(store, sql, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, kind_str(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
	return lk_store_exec_stmt(store, st, what, err);
}

int lk_lockout_reset(struct lk_store *store, enum lk_lockout_kind kind, const char *id,
                     struct lk_err *err)
{
	return forget(store, sql_reset, kind, id, "resetting a lockout counter", err);
}

int lk_lockout_clear(struct lk_store *store, enum lk_lockout_kind kind, const char *id,
                     struct lk_err *err)
{
	return forget(store, sql_clear, kind, id, "clearing a lockout", err);
}
