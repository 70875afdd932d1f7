/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_CHECKPOINT_PRIVATE_H
#define LATCHKEY_CHECKPOINT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "audit-private.h"
#include "signing-private.h"
#include "store-private.h"

/*
 * Signed checkpoints of the audit chain (docs/decisions/0010-checkpoints.md).
 * A checkpoint is a small text manifest, signed with the Ed25519 signing
 * key (crypto_sign_detached), that states the chain value at an audit seq
 * and the SHA-256 of the previous checkpoint's manifest:
 *
 *   latchkey-checkpoint 1
 *   number 3
 *   time 2026-11-28T09:00:00Z
 *   audit-seq 1042
 *   audit-chain <64 hex digits>
 *   previous <64 hex digits: SHA-256 of checkpoint 2's manifest; zeros for 1>
 *   key-id <16 hex digits>
 *
 * every line ending in "\n". Whoever rewrites the log and recomputes the
 * whole chain still cannot produce the signed value, and a cut tail shows
 * against the last checkpoint.
 */

#define LK_CHECKPOINT_DIGEST_LEN   32 /* SHA-256 */
#define LK_CHECKPOINT_MANIFEST_MAX 512
/* The trigger a checkpoint's audit row names as its reason. */
#define LK_CHECKPOINT_INTERVAL "interval"
#define LK_CHECKPOINT_SHUTDOWN "shutdown"
#define LK_CHECKPOINT_REQUEST  "request"

struct lk_checkpoint {
	int64_t number, ts, audit_seq;
	unsigned char audit_chain[LK_CHAIN_LEN];
	unsigned char previous[LK_CHECKPOINT_DIGEST_LEN];
	char key_id[LK_KEY_ID_LEN + 1];
	char manifest[LK_CHECKPOINT_MANIFEST_MAX]; /* NUL-terminated too */
	size_t manifest_len;
	unsigned char signature[LK_SIGNATURE_LEN];
	int64_t record_seq; /* its audit row (lk_checkpoint_make only) */
};

/*
 * Makes the next checkpoint, over the audit head as it is now, inside one
 * transaction (lk_store_begin: a savepoint in a batch) with its audit row
 * (action "audit.checkpoint", reason trigger, detail "number=N audit_seq=S
 * key_id=K"). ret_cp gets what was signed. Nothing is logged: the caller
 * sends the copy out (lk_checkpoint_syslog) once the transaction is durable.
 */
int lk_checkpoint_make(struct lk_store *store, const struct lk_signer *signer, int64_t now,
                       int64_t actor_uid, const char *trigger, struct lk_checkpoint *ret_cp,
                       struct lk_err *err);

/* The time of the newest checkpoint; 0 when there is none. */
int lk_checkpoint_last_time(struct lk_store *store, int64_t *ret_ts, struct lk_err *err);

/* The copy kept outside the database: one line with every field of the
 * manifest and the signature in base64, enough to rebuild and verify it. */
void lk_checkpoint_copy_line(const struct lk_checkpoint *cp, char *out, size_t outlen);

/* Writes that line to syslog (LOG_AUTHPRIV | LOG_INFO). Callers that must
 * not (tests) use lk_checkpoint_copy_line instead. */
void lk_checkpoint_syslog(const struct lk_checkpoint *cp);

/* What lk_checkpoint_verify found. audit.problem covers the checkpoints
 * too (LK_AUDIT_FORGED, LK_AUDIT_CP_MISSING, LK_AUDIT_CP_BROKEN, and a tail
 * cut or a rewrite they expose); why says where, in one line. */
struct lk_verify_report {
	struct lk_audit_report audit;
	int64_t checkpoints;    /* verified: signature, links and chain value */
	int64_t bad_checkpoint; /* the checkpoint a problem is about; 0 if none */
	struct {
		int64_t number; /* 0: none verified */
		int64_t ts, audit_seq;
		char key_id[LK_KEY_ID_LEN + 1];
	} last;
	/* A purged log (latchkey audit purge) verifies from its anchor, the
	 * oldest checkpoint left: the log starts after audit_seq. 0: not
	 * purged. */
	struct {
		int64_t number, audit_seq;
	} anchor;
};

/*
 * Verifies the audit chain (lk_audit_verify_marks) and every checkpoint:
 * numbers contiguous from 1 (after a purge: from the anchor, whose seq the
 * log starts after and whose purge the log must record under a later
 * checkpoint), each manifest what its columns say, signed by
 * pk (the configured signing key's public half), linked to the one before,
 * its chain value the one the log has at its seq, its own audit row in
 * place, and nothing cut after the last one. pk NULL (no signing key
 * configured) is fine only for a log without checkpoints. LK_OK when the
 * walk finished (the report says whether all is intact).
 */
int lk_checkpoint_verify(struct lk_store *store, const unsigned char *pk,
                         struct lk_verify_report *ret_report, struct lk_err *err);

/*
 * latchkeyd's checkpoint timer, on a monotonic clock in milliseconds (the
 * caller passes the clocks, so tests can inject them). The first one is
 * due an interval after the last checkpoint on record (wall clock; at once
 * if that is overdue, at most one interval away), or an interval after
 * start when there is none; each one done sets the next an interval on.
 */
struct lk_checkpoint_timer {
	int64_t interval_ms, next_ms;
};

void lk_checkpoint_timer_start(struct lk_checkpoint_timer *t, int64_t interval_s, int64_t now_ms,
                               int64_t wall_now, int64_t last_wall);
/* Milliseconds until the next one is due (0: now), for poll(2). */
int lk_checkpoint_timer_wait_ms(const struct lk_checkpoint_timer *t, int64_t now_ms);
/* One was made (or failed) at now_ms: the next is due an interval later. */
void lk_checkpoint_timer_done(struct lk_checkpoint_timer *t, int64_t now_ms);

#endif
