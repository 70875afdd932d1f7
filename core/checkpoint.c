/* SPDX-License-Identifier: Apache-2.0 */
/* Signed checkpoints of the audit chain: see checkpoint-private.h. */
#include "config.h"

#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "checkpoint-private.h"
#include "util-private.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* The manifest of cp's fields into cp->manifest. Every field is a number,
 * hex or a timestamp, so the text is always the same size class; too long
 * would be a bug. */
static int build_manifest(struct lk_checkpoint *cp, struct lk_err *err)
{
	char when[40], chain[2 * LK_CHAIN_LEN + 1], previous[2 * LK_CHECKPOINT_DIGEST_LEN + 1];
	int n;

	lk_time_format(cp->ts, when, sizeof(when));
	hex(cp->audit_chain, LK_CHAIN_LEN, chain);
	hex(cp->previous, LK_CHECKPOINT_DIGEST_LEN, previous);
	n = snprintf(cp->manifest, sizeof(cp->manifest),
	             "latchkey-checkpoint 1\n"
	             "number %lld\n"
	             "time %s\n"
	             "audit-seq %lld\n"
	             "audit-chain %s\n"
	             "previous %s\n"
	             "key-id %s\n",
	             (long long)cp->number, when, (long long)cp->audit_seq, chain, previous,
	             cp->key_id);
	if (n < 0 || (size_t)n >= sizeof(cp->manifest))
		return lk_err_set(err, LK_EINVAL, "checkpoint %lld: manifest too long",
		                  (long long)cp->number);
	cp->manifest_len = (size_t)n;
	return LK_OK;
}

static const char sql_last[] =
    "SELECT number, manifest, ts FROM checkpoint ORDER BY number DESC LIMIT 1";

static const char sql_insert[] =
    "INSERT INTO checkpoint (number, ts, audit_seq, audit_chain, previous, key_id, manifest,"
    " signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/* The next number and the previous link: after the newest checkpoint. */
static int chain_on(struct lk_store *store, struct lk_checkpoint *cp, struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_last, err);
	int rc;

	if (st == NULL)
		return LK_ESTORE;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		cp->number = 1;
		memset(cp->previous, 0, sizeof(cp->previous));
		sqlite3_reset(st);
		return LK_OK;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return lk_store_error(store, rc, "reading the last checkpoint", err);
	}
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_int64(st, 0) < 1 ||
	    sqlite3_column_type(st, 1) != SQLITE_TEXT) {
		sqlite3_reset(st);
		/* Never sign on top of a damaged checkpoint: it would look
		 * vouched for. */
		return lk_err_set(err, LK_ESTORE,
		                  "the last checkpoint is malformed; run 'latchkey audit verify'");
	}
	cp->number = sqlite3_column_int64(st, 0) + 1;
	crypto_hash_sha256(cp->previous, sqlite3_column_text(st, 1),
	                   (unsigned long long)sqlite3_column_bytes(st, 1));
	sqlite3_reset(st);
	return LK_OK;
}

int lk_checkpoint_make(struct lk_store *store, const struct lk_signer *signer, int64_t now,
                       int64_t actor_uid, const char *trigger, struct lk_checkpoint *ret_cp,
                       struct lk_err *err)
{
	struct lk_checkpoint cp;
	char detail[128];
	sqlite3_stmt *st;
	int r;

	if (signer == NULL)
		return lk_err_set(err, LK_EINVAL, "no signing key to sign a checkpoint with");
	if (trigger == NULL || !lk_token_valid(trigger, 32, "-"))
		return lk_err_set(err, LK_EINVAL, "bad checkpoint trigger");
	memset(&cp, 0, sizeof(cp));
	if ((r = lk_store_begin(store, err)) < 0)
		return r;
	if ((r = lk_audit_head(store, &cp.audit_seq, cp.audit_chain, err)) < 0)
		goto fail;
	if ((r = chain_on(store, &cp, err)) < 0)
		goto fail;
	cp.ts = now;
	memcpy(cp.key_id, lk_signer_key_id(signer), sizeof(cp.key_id));
	if ((r = build_manifest(&cp, err)) < 0)
		goto fail;
	if ((r = lk_signer_sign(signer, cp.manifest, cp.manifest_len, cp.signature, err)) < 0)
		goto fail;

	r = LK_ESTORE;
	st = lk_store_stmt(store, sql_insert, err);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, cp.number);
	sqlite3_bind_int64(st, 2, cp.ts);
	sqlite3_bind_int64(st, 3, cp.audit_seq);
	sqlite3_bind_blob(st, 4, cp.audit_chain, LK_CHAIN_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, cp.previous, LK_CHECKPOINT_DIGEST_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, cp.key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, cp.manifest, (int)cp.manifest_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, cp.signature, LK_SIGNATURE_LEN, SQLITE_STATIC);
	if ((r = lk_store_exec_stmt(store, st, "storing a checkpoint", err)) < 0)
		goto fail;
	/* The chain records the checkpoint too: a checkpoint deleted later
	 * still shows in the log, and the next checkpoint covers this row. */
	snprintf(detail, sizeof(detail), "number=%lld audit_seq=%lld key_id=%s",
	         (long long)cp.number, (long long)cp.audit_seq, cp.key_id);
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor_uid,
	                                              .action = LK_AUDIT_CHECKPOINT_ACTION,
	                                              .reason = trigger,
	                                              .detail = detail },
	                    &cp.record_seq, err);
	if (r < 0)
		goto fail;
	if ((r = lk_store_commit(store, err)) < 0)
		return r; /* lk_store_commit rolled back */
	*ret_cp = cp;
	return LK_OK;
fail:
	lk_store_rollback(store);
	return r;
}

int lk_checkpoint_last_time(struct lk_store *store, int64_t *ret_ts, struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_last, err);
	int rc;

	if (st == NULL)
		return LK_ESTORE;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return lk_store_error(store, rc, "reading the last checkpoint", err);
	}
	*ret_ts = rc == SQLITE_ROW ? sqlite3_column_int64(st, 2) : 0;
	sqlite3_reset(st);
	return LK_OK;
}

void lk_checkpoint_copy_line(const struct lk_checkpoint *cp, char *out, size_t outlen)
{
	char when[40], chain[2 * LK_CHAIN_LEN + 1], previous[2 * LK_CHECKPOINT_DIGEST_LEN + 1];
	char sig[sodium_base64_ENCODED_LEN(LK_SIGNATURE_LEN, sodium_base64_VARIANT_ORIGINAL)];

	lk_time_format(cp->ts, when, sizeof(when));
	hex(cp->audit_chain, LK_CHAIN_LEN, chain);
	hex(cp->previous, LK_CHECKPOINT_DIGEST_LEN, previous);
	sodium_bin2base64(sig, sizeof(sig), cp->signature, LK_SIGNATURE_LEN,
	                  sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, outlen,
	         "audit checkpoint number=%lld time=%s audit_seq=%lld audit_chain=%s previous=%s "
	         "key_id=%s signature=%s",
	         (long long)cp->number, when, (long long)cp->audit_seq, chain, previous, cp->key_id,
	         sig);
}

void lk_checkpoint_syslog(const struct lk_checkpoint *cp)
{
	char line[512];

	lk_checkpoint_copy_line(cp, line, sizeof(line));
	/* The facility with the priority: no openlog() needed, whoever
	 * the caller is. */
	syslog(LOG_AUTHPRIV | LOG_INFO, "%s", line);
}

/* ---- verification ---- */

static const char sql_list[] =
    "SELECT number, ts, audit_seq, audit_chain, previous, key_id, manifest, signature"
    " FROM checkpoint ORDER BY number";

static const char sql_record[] = "SELECT seq FROM audit WHERE action = ?1 AND detail LIKE ?2"
                                 " ORDER BY seq LIMIT 1";

static const char sql_cp_triggers[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'checkpoint'"
    " AND name IN ('checkpoint_no_update', 'checkpoint_no_delete')";

/* A checkpoint as read back, and what its checks left to the walk. */
struct loaded {
	struct lk_audit_mark *marks;
	struct lk_checkpoint *cps; /* the same checkpoints, for the report */
	size_t n, cap;
	/* The first checkpoint problem, if any; checkpoints after it are not
	 * trusted to judge the log. */
	enum lk_audit_problem problem;
	int64_t bad_checkpoint;
	char why[256];
};

static void loaded_free(struct loaded *l)
{
	free(l->marks);
	free(l->cps);
}

static bool set_cp_problem(struct loaded *l, enum lk_audit_problem p, int64_t number,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool set_cp_problem(struct loaded *l, enum lk_audit_problem p, int64_t number,
                           const char *fmt, ...)
{
	va_list ap;

	l->problem = p;
	l->bad_checkpoint = number;
	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
	return false;
}

/* The columns of one checkpoint row into cp; the name of a column whose
 * type or size is not what the writer stored, else NULL. */
static const char *read_row(sqlite3_stmt *st, struct lk_checkpoint *cp)
{
	static const struct {
		const char *name;
		int type, bytes; /* bytes: exact size, 0 any */
	} cols[] = {
		{ "number", SQLITE_INTEGER, 0 },
		{ "ts", SQLITE_INTEGER, 0 },
		{ "audit_seq", SQLITE_INTEGER, 0 },
		{ "audit_chain", SQLITE_BLOB, LK_CHAIN_LEN },
		{ "previous", SQLITE_BLOB, LK_CHECKPOINT_DIGEST_LEN },
		{ "key_id", SQLITE_TEXT, LK_KEY_ID_LEN },
		{ "manifest", SQLITE_TEXT, 0 },
		{ "signature", SQLITE_BLOB, LK_SIGNATURE_LEN },
	};

	for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
		if (sqlite3_column_type(st, i) != cols[i].type)
			return cols[i].name;
		if (cols[i].bytes != 0 && sqlite3_column_bytes(st, i) != cols[i].bytes)
			return cols[i].name;
	}
	if (sqlite3_column_bytes(st, 6) >= LK_CHECKPOINT_MANIFEST_MAX)
		return "manifest";
	memset(cp, 0, sizeof(*cp));
	cp->number = sqlite3_column_int64(st, 0);
	cp->ts = sqlite3_column_int64(st, 1);
	cp->audit_seq = sqlite3_column_int64(st, 2);
	memcpy(cp->audit_chain, sqlite3_column_blob(st, 3), LK_CHAIN_LEN);
	memcpy(cp->previous, sqlite3_column_blob(st, 4), LK_CHECKPOINT_DIGEST_LEN);
	memcpy(cp->key_id, sqlite3_column_text(st, 5), LK_KEY_ID_LEN);
	cp->manifest_len = (size_t)sqlite3_column_bytes(st, 6);
	memcpy(cp->manifest, sqlite3_column_text(st, 6), cp->manifest_len);
	memcpy(cp->signature, sqlite3_column_blob(st, 7), LK_SIGNATURE_LEN);
	return NULL;
}

/* One checkpoint against the one before it (NULL for the first). False,
 * with l's problem set, if it does not hold. */
static bool check_one(struct loaded *l, const struct lk_checkpoint *cp,
                      const struct lk_checkpoint *before, const unsigned char *pk,
                      const char *key_id, bool anchor)
{
	struct lk_checkpoint rebuilt = *cp;
	unsigned char want_prev[LK_CHECKPOINT_DIGEST_LEN] = { 0 };
	/* The anchor of a purged log: those before it are gone, with the
	 * manifest its previous link names (the walk then requires the
	 * purge's own record). */
	int64_t want = before != NULL ? before->number + 1 : anchor ? cp->number : 1;

	if (cp->number != want) {
		if (cp->number > want + 1)
			return set_cp_problem(l, LK_AUDIT_CP_MISSING, want,
			                      "checkpoints %lld..%lld are missing (deleted)",
			                      (long long)want, (long long)cp->number - 1);
		return set_cp_problem(l, LK_AUDIT_CP_MISSING, want,
		                      "checkpoint %lld is missing (deleted)", (long long)want);
	}
	/* The columns must say what was signed: queries and the walk use
	 * them. */
	if (build_manifest(&rebuilt, NULL) < 0 || rebuilt.manifest_len != cp->manifest_len ||
	    memcmp(rebuilt.manifest, cp->manifest, cp->manifest_len) != 0)
		return set_cp_problem(l, LK_AUDIT_FORGED, cp->number,
		                      "checkpoint %lld was edited: its columns differ from its "
		                      "signed manifest",
		                      (long long)cp->number);
	if (strcmp(cp->key_id, key_id) != 0)
		return set_cp_problem(l, LK_AUDIT_FORGED, cp->number,
		                      "checkpoint %lld is signed by key %s, not by the configured "
		                      "signing key %s",
		                      (long long)cp->number, cp->key_id, key_id);
	if (!lk_signing_verify(pk, cp->manifest, cp->manifest_len, cp->signature))
		return set_cp_problem(
		    l, LK_AUDIT_FORGED, cp->number,
		    "checkpoint %lld has a bad signature: it was forged or edited",
		    (long long)cp->number);
	if (before != NULL)
		crypto_hash_sha256(want_prev, (const unsigned char *)before->manifest,
		                   before->manifest_len);
	if ((before != NULL || cp->number == 1) &&
	    sodium_memcmp(want_prev, cp->previous, LK_CHECKPOINT_DIGEST_LEN) != 0)
		return set_cp_problem(
		    l, LK_AUDIT_CP_BROKEN, cp->number,
		    "checkpoint %lld does not follow checkpoint %lld: one of them "
		    "was replaced",
		    (long long)cp->number, (long long)want - 1);
	/* Each checkpoint's own audit row comes after the seq it covers, so
	 * the next one covers more. */
	if (cp->audit_seq < 0 || (before != NULL && cp->audit_seq <= before->audit_seq))
		return set_cp_problem(l, LK_AUDIT_CP_BROKEN, cp->number,
		                      "checkpoint %lld covers seq %lld, not more than checkpoint "
		                      "%lld before it",
		                      (long long)cp->number, (long long)cp->audit_seq,
		                      (long long)want - 1);
	return true;
}

static int grow(struct loaded *l)
{
	size_t cap = l->cap ? l->cap * 2 : 64;
	struct lk_audit_mark *marks = realloc(l->marks, cap * sizeof(*marks));
	struct lk_checkpoint *cps;

	if (marks == NULL)
		return LK_ENOMEM;
	l->marks = marks;
	cps = realloc(l->cps, cap * sizeof(*cps));
	if (cps == NULL)
		return LK_ENOMEM;
	l->cps = cps;
	l->cap = cap;
	return LK_OK;
}

/* Reads and checks every checkpoint up to the first bad one; the good ones
 * become marks for the walk. */
static int load(struct lk_store *store, const unsigned char *pk, bool anchored, struct loaded *l,
                struct lk_err *err)
{
	struct lk_checkpoint cp;
	char key_id[LK_KEY_ID_LEN + 1] = "";
	sqlite3_stmt *st = NULL;
	const char *bad;
	int rc, r;

	if (pk != NULL && (r = lk_signing_key_id(pk, key_id, err)) < 0)
		return r;
	/* Not cached: verification is rare, the cache is for hot paths. */
	if ((rc = sqlite3_prepare_v2(store->db, sql_list, -1, &st, NULL)) != SQLITE_OK)
		return lk_store_error(store, rc, "reading the checkpoints", err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pk == NULL) {
			r = lk_err_set(err, LK_ECRYPTO,
			               "the audit log has signed checkpoints but no signing_key is "
			               "configured to verify them");
			goto out;
		}
		if ((bad = read_row(st, &cp)) != NULL) {
			set_cp_problem(
			    l, LK_AUDIT_FORGED, sqlite3_column_int64(st, 0),
			    "checkpoint %lld was edited: column %s does not hold what was "
			    "written",
			    (long long)sqlite3_column_int64(st, 0), bad);
			break;
		}
		if (!check_one(l, &cp, l->n > 0 ? &l->cps[l->n - 1] : NULL, pk, key_id,
		               anchored && l->n == 0))
			break;
		if (l->n == l->cap && grow(l) < 0) {
			r = lk_err_set(err, LK_ENOMEM, "out of memory reading the checkpoints");
			goto out;
		}
		l->cps[l->n] = cp;
		l->marks[l->n] = (struct lk_audit_mark){ .seq = cp.audit_seq, .number = cp.number };
		memcpy(l->marks[l->n].chain, cp.audit_chain, LK_CHAIN_LEN);
		l->n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = lk_store_error(store, rc, "reading the checkpoints", err);
		goto out;
	}
	r = LK_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* Where the audit row of checkpoint number is (0: nowhere). Only after a
 * failure: a scan of the log. */
static int64_t record_seq_of(struct lk_store *store, int64_t number)
{
	sqlite3_stmt *st = NULL;
	char like[40];
	int64_t seq = 0;

	snprintf(like, sizeof(like), "number=%lld %%", (long long)number);
	if (sqlite3_prepare_v2(store->db, sql_record, -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, LK_AUDIT_CHECKPOINT_ACTION, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, like, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return seq;
}

/* A range rewritten and rehashed before a checkpoint: its own audit row
 * moved if rows were added or taken out. Says how many. */
static void refine_rewritten(struct lk_store *store, const struct loaded *l,
                             struct lk_audit_report *a)
{
	const struct lk_checkpoint *cp = NULL;
	int64_t at, moved;
	size_t len;

	for (size_t i = 0; i < l->n; i++)
		if (l->cps[i].number == a->bad_mark)
			cp = &l->cps[i];
	if (cp == NULL || (at = record_seq_of(store, cp->number)) == 0)
		return;
	moved = at - (cp->audit_seq + 1);
	len = strlen(a->why);
	if (moved > 0)
		snprintf(a->why + len, sizeof(a->why) - len, " (%lld row%s inserted)",
		         (long long)moved, moved == 1 ? "" : "s");
	else if (moved < 0)
		snprintf(a->why + len, sizeof(a->why) - len, " (%lld row%s deleted)",
		         (long long)-moved, moved == -1 ? "" : "s");
}

static bool cp_triggers_present(struct lk_store *store)
{
	sqlite3_stmt *st = NULL;
	bool ok;

	if (sqlite3_prepare_v2(store->db, sql_cp_triggers, -1, &st, NULL) != SQLITE_OK)
		return false;
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 2;
	sqlite3_finalize(st);
	return ok;
}

static void set_problem(struct lk_verify_report *rep, enum lk_audit_problem p, int64_t number,
                        const char *why)
{
	rep->audit.problem = p;
	rep->audit.bad_seq = 0;
	rep->bad_checkpoint = number;
	snprintf(rep->audit.why, sizeof(rep->audit.why), "%s", why);
}

/* Every checkpoint verified and the walk intact: does the log hold the
 * audit row of the last checkpoint, and no row of a later one? */
static void check_records(struct lk_store *store, const struct loaded *l,
                          struct lk_verify_report *rep)
{
	const struct lk_audit_report *a = &rep->audit;
	const struct lk_checkpoint *last = l->n > 0 ? &l->cps[l->n - 1] : NULL;
	int64_t last_number = last != NULL ? last->number : 0;
	char why[256];

	(void)store;
	if (a->record_number > last_number) {
		snprintf(why, sizeof(why),
		         "checkpoint %lld is missing (deleted): the audit log records it at seq "
		         "%lld",
		         (long long)a->record_number, (long long)a->record_seq);
		set_problem(rep, LK_AUDIT_CP_MISSING, a->record_number, why);
		return;
	}
	if (last == NULL ||
	    (a->record_number == last_number && a->record_seq == last->audit_seq + 1))
		return;
	if (a->head_seq == last->audit_seq) {
		/* Only the checkpoint's own row is gone: a cut of one. */
		snprintf(why, sizeof(why),
		         "the log ends at seq %lld but checkpoint %lld was recorded at seq %lld: "
		         "seq %lld was cut",
		         (long long)a->head_seq, (long long)last_number,
		         (long long)last->audit_seq + 1, (long long)last->audit_seq + 1);
		set_problem(rep, LK_AUDIT_TRUNCATED, last_number, why);
		rep->audit.bad_seq = last->audit_seq + 1;
		return;
	}
	snprintf(why, sizeof(why), "the audit row of checkpoint %lld is not at seq %lld",
	         (long long)last_number, (long long)last->audit_seq + 1);
	set_problem(rep, LK_AUDIT_CP_BROKEN, last_number, why);
	rep->audit.bad_seq = last->audit_seq + 1;
}

static const char sql_oldest[] = "SELECT audit_seq FROM checkpoint ORDER BY number LIMIT 1";

/* Is the log purged, starting right after the oldest checkpoint's seq (its
 * anchor)? Unverified here: load checks that checkpoint, and
 * check_purge the record of the purge. */
static int purged(struct lk_store *store, bool *ret_anchored, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t first;
	int r;

	*ret_anchored = false;
	if ((r = lk_audit_first_seq(store, &first, err)) < 0)
		return r;
	if (first <= 1)
		return LK_OK;
	if (sqlite3_prepare_v2(store->db, sql_oldest, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == first - 1)
		*ret_anchored = true;
	sqlite3_finalize(st);
	return LK_OK;
}

/* A purged log verified from its anchor: the log must record that purge,
 * naming this anchor, in a row a later signed checkpoint covers; otherwise
 * the head of the log and the checkpoints before were simply deleted. */
static void check_purge(const struct loaded *l, struct lk_verify_report *rep)
{
	const struct lk_audit_report *a = &rep->audit;
	const struct lk_checkpoint *anchor = &l->cps[0], *last = &l->cps[l->n - 1];
	char why[256];

	rep->anchor.number = anchor->number;
	rep->anchor.audit_seq = anchor->audit_seq;
	if (a->purge_seq != 0 && a->purge_anchor == anchor->number &&
	    a->purge_anchor_seq == anchor->audit_seq && a->purge_seq <= last->audit_seq)
		return;
	if (a->purge_seq != 0 && a->purge_anchor == anchor->number &&
	    a->purge_anchor_seq == anchor->audit_seq)
		snprintf(
		    why, sizeof(why),
		    "the log starts after seq %lld (checkpoint %lld), and the purge recorded at "
		    "seq %lld is not yet covered by a checkpoint",
		    (long long)anchor->audit_seq, (long long)anchor->number,
		    (long long)a->purge_seq);
	else
		snprintf(why, sizeof(why),
		         "seqs 1..%lld are missing (deleted): the log starts after checkpoint %lld "
		         "but records no purge to it",
		         (long long)anchor->audit_seq, (long long)anchor->number);
	set_problem(rep, LK_AUDIT_MISSING, anchor->number, why);
	rep->audit.bad_seq = a->purge_seq != 0 ? a->purge_seq : 1;
}

int lk_checkpoint_verify(struct lk_store *store, const unsigned char *pk,
                         struct lk_verify_report *ret_report, struct lk_err *err)
{
	struct lk_verify_report rep;
	struct loaded l = { .problem = LK_AUDIT_INTACT };
	enum lk_audit_problem walk;
	bool anchored;
	int r;

	memset(&rep, 0, sizeof(rep));
	if ((r = purged(store, &anchored, err)) < 0)
		goto out;
	if ((r = load(store, pk, anchored, &l, err)) < 0)
		goto out;
	if (anchored && l.n == 0 && l.problem != LK_AUDIT_INTACT) {
		/* The anchor itself is bad: nothing to walk from. */
		set_problem(&rep, l.problem, l.bad_checkpoint, l.why);
		*ret_report = rep;
		r = LK_OK;
		goto out;
	}
	if ((r = lk_audit_verify_from(store, anchored && l.n > 0 ? &l.marks[0] : NULL, l.marks, l.n,
	                              &rep.audit, err)) < 0)
		goto out;
	rep.checkpoints = rep.audit.marks_matched;
	if (rep.checkpoints > 0) {
		const struct lk_checkpoint *cp = &l.cps[rep.checkpoints - 1];
		rep.last.number = cp->number;
		rep.last.ts = cp->ts;
		rep.last.audit_seq = cp->audit_seq;
		memcpy(rep.last.key_id, cp->key_id, sizeof(rep.last.key_id));
	}
	walk = rep.audit.problem;
	if (walk == LK_AUDIT_TRUNCATED || walk == LK_AUDIT_REWRITTEN)
		rep.bad_checkpoint = rep.audit.bad_mark;
	if (walk == LK_AUDIT_REWRITTEN)
		refine_rewritten(store, &l, &rep.audit);
	/* What the rows show first; then the checkpoints; then what only the
	 * two together show; the schema last (its finding is the vaguest). */
	if (walk != LK_AUDIT_INTACT && walk != LK_AUDIT_SCHEMA) {
		/* reported as found */
	} else if (l.problem != LK_AUDIT_INTACT) {
		set_problem(&rep, l.problem, l.bad_checkpoint, l.why);
	} else {
		check_records(store, &l, &rep);
		if (rep.audit.problem == LK_AUDIT_INTACT && anchored && l.n > 0)
			check_purge(&l, &rep);
		if (rep.audit.problem == LK_AUDIT_INTACT && !cp_triggers_present(store))
			set_problem(&rep, LK_AUDIT_SCHEMA, 0,
			            "the append-only triggers on the checkpoint table are missing: "
			            "the file was edited outside latchkey");
	}
	*ret_report = rep;
	r = LK_OK;
out:
	loaded_free(&l);
	return r;
}

/* ---- the timer ---- */

void lk_checkpoint_timer_start(struct lk_checkpoint_timer *t, int64_t interval_s, int64_t now_ms,
                               int64_t wall_now, int64_t last_wall)
{
	int64_t due_in = interval_s;

	if (last_wall > 0) {
		due_in = last_wall + interval_s - wall_now;
		if (due_in < 0)
			due_in = 0; /* overdue: the daemon was down */
		if (due_in > interval_s)
			due_in = interval_s; /* the clock went back */
	}
	t->interval_ms = interval_s * 1000;
	t->next_ms = now_ms + due_in * 1000;
}

int lk_checkpoint_timer_wait_ms(const struct lk_checkpoint_timer *t, int64_t now_ms)
{
	int64_t left = t->next_ms - now_ms;

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

void lk_checkpoint_timer_done(struct lk_checkpoint_timer *t, int64_t now_ms)
{
	/* From now, not from when it was due: a late one (a long batch, a
	 * suspended machine) never sets off a burst to catch up. */
	t->next_ms = now_ms + t->interval_ms;
}
