/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACCOUNT and SESSION (pam_sm_acct_mgmt, pam_sm_open/close_session): the
 * state of the key that authenticated, checked now (a key revoked between
 * authentication and account management is refused), and session events
 * in the audit chain.
 */
#include "config.h"

#include <security/pam_appl.h>
#include <stdio.h>
#include <string.h>

#include "audit-private.h"
#include "certs-private.h"
#include "cidr-private.h"
#include "daemon-private.h"
#include "keys-private.h"
#include "subject-private.h"
#include "util-private.h"

/* Key state -> what pam_acct_mgmt should say. "rotated" is a success the
 * module may turn into PAM_NEW_AUTHTOK_REQD (its rotated= argument). */
static int state_code(const char *state)
{
	if (strcmp(state, "active") == 0 || strcmp(state, "rotated") == 0)
		return PAM_SUCCESS;
	if (strcmp(state, "expired") == 0)
		return PAM_ACCT_EXPIRED;
	return PAM_PERM_DENIED; /* suspended, revoked, anything unknown */
}

/* A login by client certificate: the certificate the mtls step accepted,
 * from the inventory. Past its notAfter the account has expired; a
 * certificate this user was never seen with is denied. The chain itself
 * was verified at authentication. */
static int cert_account(struct daemon *d, struct lkd_account *a, int64_t now, struct lk_err *err)
{
	struct lk_cert_row row;
	char detail[160];
	int r;

	r = lk_cert_find(d->store, a->credential, a->user, &row, err);
	if (r < 0 && r != LK_ENOTFOUND)
		return r;
	a->pam_code = r == LK_ENOTFOUND           ? PAM_PERM_DENIED
	              : row.info.not_after <= now ? PAM_ACCT_EXPIRED
	                                          : PAM_SUCCESS;
	snprintf(a->reason, sizeof(a->reason), "%s",
	         r == LK_ENOTFOUND           ? "unknown-credential"
	         : row.info.not_after <= now ? "expired"
	                                     : "ok");
	if (a->pam_code == PAM_SUCCESS)
		return LK_OK; /* the authentication is on record already */
	snprintf(detail, sizeof(detail), "service=%s pam=%d credential=certificate", a->service,
	         a->pam_code);
	return lk_audit_record(d->store,
	                       &(struct lk_audit_event){ .ts = now,
	                                                 .actor_uid = (int64_t)a->peer_uid,
	                                                 .kid = a->credential,
	                                                 .action = "account.check",
	                                                 .reason = a->reason,
	                                                 .detail = detail },
	                       &a->audit_seq, err);
}

static int account_unit(struct daemon *d, void *arg, struct lk_err *err)
{
	struct lkd_account *a = arg;
	struct lk_key_info k;
	char detail[160];
	int64_t now;
	int r;

	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the clock");
	if (lk_cert_credential_valid(a->credential))
		return cert_account(d, a, now, err);
	r = lk_key_get(d->store, a->credential, &k, err);
	if (r == LK_ENOTFOUND || r == LK_EINVAL) {
		a->pam_code = PAM_PERM_DENIED;
		snprintf(a->reason, sizeof(a->reason), "unknown-credential");
	} else if (r < 0) {
		return r;
	} else if (strcmp(k.owner, a->user) != 0) {
		a->pam_code = PAM_PERM_DENIED;
		snprintf(a->reason, sizeof(a->reason), "user-mismatch");
	} else {
		const char *state = lk_key_effective_status(&k, now);
		a->pam_code = state_code(state);
		snprintf(a->reason, sizeof(a->reason), "%s",
		         strcmp(state, "active") == 0 ? "ok" : state);
	}
	if (strcmp(a->reason, "ok") == 0)
		return LK_OK; /* the authentication is on record already */
	snprintf(detail, sizeof(detail), "service=%s pam=%d", a->service, a->pam_code);
	return lk_audit_record(
	    d->store,
	    &(struct lk_audit_event){ .ts = now,
	                              .actor_uid = (int64_t)a->peer_uid,
	                              .subject_ref = r == LK_OK ? k.owner_ref : NULL,
	                              .kid = a->credential,
	                              .action = "account.check",
	                              .reason = a->reason,
	                              .detail = detail },
	    &a->audit_seq, err);
}

int lkd_account(struct daemon *d, struct lkd_account *a, struct lk_err *err)
{
	return lkd_batch_run(d, account_unit, a, err);
}

/*
 * The client address of a session as its source pseudonym, for the detail:
 * the chain cannot be erased, so an address goes only into the subject
 * table, where audit purge can delete it once no row names it (that purge
 * looks for "rhost=sub_" in details: core/gdpr.c). An IP address is
 * normalised as key verification does (core/verify.c), so both name one
 * client by the same pseudonym; a host name (sshd with UseDNS) is kept as
 * given. "-": no address; "invalid": text that must not become a name: not
 * valid UTF-8 text (the protocol refuses that already; this keeps it out of
 * the chain regardless) or an API key a misconfigured service passed on
 * (a secret in clear in the subject table).
 */
#define RHOST_MAX 255 /* the protocol's limit for rhost (core/protocol.c) */

static int rhost_ref(struct lk_store *store, const char *rhost, int64_t now,
                     char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err)
{
	char canon[LK_CIDR_STRLEN];
	struct lk_cidr addr;

	if (rhost == NULL || rhost[0] == '\0') {
		snprintf(ret_ref, LK_SUBJECT_REF_LEN + 1, "-");
		return LK_OK;
	}
	if (!lk_text_valid(rhost, RHOST_MAX) || lk_text_looks_like_key(rhost)) {
		snprintf(ret_ref, LK_SUBJECT_REF_LEN + 1, "invalid");
		return LK_OK;
	}
	if (lk_ip_parse(rhost, &addr) == LK_OK) {
		lk_ip_format(&addr, canon, sizeof(canon));
		rhost = canon;
	}
	return lk_subject_ref(store, "source", rhost, true, now, ret_ref, err);
}

static int session_unit(struct daemon *d, void *arg, struct lk_err *err)
{
	struct lkd_session *s = arg;
	char detail[160], ref[LK_SUBJECT_REF_LEN + 1] = "", source[LK_SUBJECT_REF_LEN + 1];
	int64_t now;
	int r;

	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the clock");
	/* A unit undoes itself on failure (lkd_batch_run): a source subject
	 * made for a row that was then not written goes with it. */
	if ((r = lk_store_begin(d->store, err)) < 0)
		return r;
	/* The user by pseudonym when Latchkey knows them; names never go into
	 * the chain (they can be erased from the subject table). */
	r = lk_subject_ref(d->store, "owner", s->user, false, now, ref, err);
	if (r == LK_ENOTFOUND)
		ref[0] = '\0';
	else if (r < 0)
		goto fail;
	if ((r = rhost_ref(d->store, s->rhost, now, source, err)) < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "service=%s rhost=%s%s", s->service, source,
	         ref[0] ? "" : " user=unknown");
	r = lk_audit_append(
	    d->store,
	    &(struct lk_audit_event){ .ts = now,
	                              .actor_uid = (int64_t)s->peer_uid,
	                              .subject_ref = ref[0] ? ref : NULL,
	                              .kid = s->credential[0] ? s->credential : NULL,
	                              .action = s->open ? "session.open" : "session.close",
	                              .reason = "ok",
	                              .detail = detail },
	    &s->audit_seq, err);
	if (r < 0)
		goto fail;
	return lk_store_commit(d->store, err);
fail:
	lk_store_rollback(d->store);
	return r;
}

int lkd_session(struct daemon *d, struct lkd_session *s, struct lk_err *err)
{
	return lkd_batch_run(d, session_unit, s, err);
}
