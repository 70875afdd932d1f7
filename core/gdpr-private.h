/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_GDPR_PRIVATE_H
#define LATCHKEY_GDPR_PRIVATE_H

/*
 * GDPR mechanics (docs/decisions/0011-erasure-and-retention.md): erasing a
 * person (Art. 17) and purging old audit segments (retention, Art. 5(1)(e)).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint-private.h"
#include "signing-private.h"
#include "store-private.h"
#include "subject-private.h"

#define LK_ERASE_ACTION     "subject.erase"
#define LK_PURGE_ACTION     LK_AUDIT_PURGE_ACTION
#define LK_ERASED_TEXT      "(erased)"
#define LK_ERASE_TICKET_MAX 64

struct lk_erase_result {
	char subject_ref[LK_SUBJECT_REF_LEN + 1];
	size_t keys_revoked; /* live keys revoked (reason "erased") */
	size_t keys;         /* keys of the subject, descriptions cleared */
	size_t totp;         /* TOTP credentials removed (0 or 1) */
	size_t certs;        /* inventory rows unlinked and their names blanked */
	int64_t seq;         /* the subject.erase audit row */
	bool wal_flushed;    /* the WAL was checkpointed and truncated afterwards */
};

/*
 * Erases an owner (a person or a service account), named by name or by
 * pseudonym, in one transaction: the subject row's name becomes NULL, live
 * API keys are revoked (reason "erased", audited as key.revoke), every key
 * of theirs loses its description, their TOTP credential, recovery codes
 * and its lockout row are deleted (audited as totp.remove), certificate
 * inventory rows lose principal_ref and their subject and issuer read
 * "(erased)", and a subject.erase row (pseudonym, reason, "ticket=T ...")
 * is appended. Audit rows are never touched. Afterwards, outside the
 * transaction, the WAL is checkpointed and truncated so that (with
 * secure_delete on every connection) the name is left in neither file.
 *
 * LK_EINVAL: a bad reason or ticket, or one that contains the name;
 * LK_ENOTFOUND: no such owner; LK_ESTATE: already erased, or a source.
 * Nothing changes on any error.
 */
int lk_subject_erase(struct lk_store *store, const char *subject, const char *reason,
                     const char *ticket, int64_t actor, int64_t now,
                     struct lk_erase_result *ret_result, struct lk_err *err);

struct lk_purge_result {
	int64_t rows;                /* audit rows removed */
	int64_t first_seq, last_seq; /* the range removed */
	int64_t anchor_number, anchor_seq;
	int64_t checkpoints;     /* checkpoints removed (those before the anchor) */
	int64_t sources;         /* client addresses no row refers to any more, removed */
	int64_t seq;             /* the audit.purge row */
	struct lk_checkpoint cp; /* the checkpoint made after it */
};

/*
 * Retention: removes every audit row up to the seq S of the newest signed
 * checkpoint N older than before, and the checkpoints before N, so N
 * becomes the anchor the log verifies from. Records an audit.purge row
 * (detail "anchor=N anchor_seq=S rows=K first_seq=F checkpoints=M
 * sources=A": client addresses no remaining audit row (by subject_ref, or
 * by pseudonym in a detail: source=, rhost=) and no lockout counter refers
 * to are removed with the rows) in the same transaction, then signs a new
 * checkpoint over it. LK_ENOTFOUND when no checkpoint is older than before;
 * LK_ESTATE when the log already starts after that one; LK_ECRYPTO without
 * a signer. Nothing changes on error.
 */
int lk_audit_purge(struct lk_store *store, const struct lk_signer *signer, int64_t before,
                   const char *reason, int64_t actor, int64_t now,
                   struct lk_purge_result *ret_result, struct lk_err *err);

#endif
