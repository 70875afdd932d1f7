/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "apikey-private.h"
#include "subject-private.h"
#include "util-private.h"

bool lk_owner_name_valid(const char *name)
{
	/* '_' is allowed (service accounts), so a pasted key would pass the
	 * alphabet: refuse it explicitly, it would be stored as a name. */
	return lk_token_valid(name, LK_NAME_MAX, "._@+-") && !lk_text_looks_like_key(name) &&
	       strncmp(name, "sub_", 4) != 0; /* reads as a pseudonym in audit queries */
}

static const char sql_find[] = "SELECT subject_ref FROM subject WHERE kind = ?1 AND name = ?2";
static const char sql_add[] =
    "INSERT INTO subject (subject_ref, kind, name, created) VALUES (?1, ?2, ?3, ?4)";

int lk_subject_ref(struct lk_store *store, const char *kind, const char *name, bool create,
                   int64_t now, char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err)
{
	char ref[LK_SUBJECT_REF_LEN + 1];
	sqlite3_stmt *st;
	int rc;

	st = lk_store_stmt(store, sql_find, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(ret_ref, LK_SUBJECT_REF_LEN + 1, "%s",
		         (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		return LK_OK;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return lk_store_error(store, rc, "looking up a subject", err);
	if (!create)
		return lk_err_set(err, LK_ENOTFOUND, "no %s named '%s'", kind, name);

	memcpy(ref, "sub_", 4);
	lk_base62_random(ref + 4, LK_SUBJECT_REF_LEN - 4);
	st = lk_store_stmt(store, sql_add, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	rc = lk_store_exec_stmt(store, st, "adding a subject", err);
	if (rc < 0)
		return rc;
	memcpy(ret_ref, ref, sizeof(ref));
	return LK_OK;
}

static const char sql_name[] = "SELECT name FROM subject WHERE subject_ref = ?1";

int lk_subject_name(struct lk_store *store, const char *ref, char *out, size_t outlen,
                    struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_name, err);
	int rc;

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		snprintf(out, outlen, "%s", name != NULL ? name : "(erased)");
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return lk_err_set(err, LK_ENOTFOUND, "no subject %s", ref);
	if (rc != SQLITE_ROW)
		return lk_store_error(store, rc, "reading a subject", err);
	return LK_OK;
}
