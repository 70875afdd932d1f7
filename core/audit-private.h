/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_AUDIT_PRIVATE_H
#define LATCHKEY_AUDIT_PRIVATE_H

#include <stdint.h>

#include "store-private.h"

#define LK_CHAIN_LEN 32

/*
 * One audit event. Strings may be NULL (kid, subject_ref) but never hold
 * secrets: callers pass kids, pseudonyms, action names and reason codes.
 */
struct lk_audit_event {
	int64_t ts;
	int64_t actor_uid;
	const char *subject_ref;
	const char *kid;
	const char *action; /* "key.issue", "key.verify", ... */
	const char *reason; /* reason code or operator-supplied reason */
	const char *detail; /* small non-secret "name=value ..." context */
};

/*
 * Appends ev inside the caller's open transaction (lk_store_begin), so the
 * row commits or rolls back with the change it records. Computes
 *   leaf  = BLAKE2b-256(canonical encoding of the row, without seq)
 *   chain = BLAKE2b-256(previous chain || leaf)   (32 zero bytes at seq 1)
 */
int lk_audit_append(struct lk_store *store, const struct lk_audit_event *ev, int64_t *ret_seq,
                    struct lk_err *err);

/* An event that changes nothing else: its own transaction, committed (or
 * rolled back) before returning. */
int lk_audit_record(struct lk_store *store, const struct lk_audit_event *ev, int64_t *ret_seq,
                    struct lk_err *err);

/* Last seq and chain value (0 and zeros for an empty log). */
int lk_audit_head(struct lk_store *store, int64_t *ret_seq, unsigned char ret_chain[LK_CHAIN_LEN],
                  struct lk_err *err);

enum lk_audit_problem {
	LK_AUDIT_INTACT = 0,
	LK_AUDIT_EDITED,    /* row content no longer matches its leaf hash */
	LK_AUDIT_MISSING,   /* a gap in seq: rows were deleted */
	LK_AUDIT_REORDERED, /* intact row in the wrong place */
	LK_AUDIT_BROKEN,    /* link broken: row rehashed, or rows deleted and renumbered */
	LK_AUDIT_SCHEMA,    /* rows chain, but the append-only triggers were dropped */
	/* Appended with signed checkpoints (core/checkpoint.c): */
	LK_AUDIT_INSERTED,   /* rows that were not there when the row after them was written */
	LK_AUDIT_TRUNCATED,  /* the log ends before the seq a checkpoint covers */
	LK_AUDIT_REWRITTEN,  /* rows link, but not to the chain value a checkpoint signed */
	LK_AUDIT_FORGED,     /* a checkpoint's signature or content does not verify */
	LK_AUDIT_CP_MISSING, /* a checkpoint was deleted */
	LK_AUDIT_CP_BROKEN,  /* a checkpoint does not follow the one before it */
};

/* The action of the audit row each checkpoint appends; its detail starts
 * "number=N audit_seq=S". */
#define LK_AUDIT_CHECKPOINT_ACTION "audit.checkpoint"
/* The action of the audit row a retention purge appends (core/gdpr.c); its
 * detail starts "anchor=N anchor_seq=S". */
#define LK_AUDIT_PURGE_ACTION "audit.purge"

struct lk_audit_report {
	int64_t rows;
	int64_t head_seq; /* the last good seq */
	unsigned char head[LK_CHAIN_LEN];
	enum lk_audit_problem problem;
	int64_t bad_seq; /* first bad seq, when problem != INTACT (0: a checkpoint's) */
	char why[256];
	/* With marks (lk_audit_verify_marks): */
	int64_t marks_matched; /* marks whose chain value the walk reproduced */
	int64_t bad_mark;      /* the mark's number, for TRUNCATED and REWRITTEN */
	/* The last LK_AUDIT_CHECKPOINT_ACTION row the walk passed and the
	 * checkpoint number its detail names (0: none). */
	int64_t record_seq, record_number;
	/* The last LK_AUDIT_PURGE_ACTION row the walk passed (0: none) and
	 * the anchor checkpoint and seq its detail names. */
	int64_t purge_seq, purge_anchor, purge_anchor_seq;
	/* The walk started after this seq (0: at the first row ever). */
	int64_t start_seq;
};

/* Walks the whole chain. After a purge (the first row's seq above 1) it
 * starts from the oldest checkpoint's seq and chain value, unverified:
 * lk_checkpoint_verify checks that anchor's signature and the purge. LK_OK
 * when the walk finished (report says whether it is intact); an error only
 * when the database itself could not be read. */
int lk_audit_verify(struct lk_store *store, struct lk_audit_report *ret_report, struct lk_err *err);

/* A chain value someone vouches for (a signed checkpoint): the chain at
 * seq (0: the empty log, whose chain is zeros). */
struct lk_audit_mark {
	int64_t seq;
	int64_t number; /* named in messages */
	unsigned char chain[LK_CHAIN_LEN];
};

/*
 * lk_audit_verify, and the marks (sorted by seq) too: the chain the walk
 * recomputes at each mark's seq must be the mark's (LK_AUDIT_REWRITTEN
 * otherwise: the rows since the mark before were rewritten and rehashed),
 * and the log must reach the last mark's seq (LK_AUDIT_TRUNCATED).
 */
int lk_audit_verify_marks(struct lk_store *store, const struct lk_audit_mark *marks, size_t n_marks,
                          struct lk_audit_report *ret_report, struct lk_err *err);

/*
 * lk_audit_verify_marks over a log that starts after start->seq (a purge),
 * from the chain value start->chain there; start NULL: from the beginning.
 */
int lk_audit_verify_from(struct lk_store *store, const struct lk_audit_mark *start,
                         const struct lk_audit_mark *marks, size_t n_marks,
                         struct lk_audit_report *ret_report, struct lk_err *err);

/* The seq of the oldest row left (0: the log is empty). */
int lk_audit_first_seq(struct lk_store *store, int64_t *ret_seq, struct lk_err *err);

const char *lk_audit_problem_str(enum lk_audit_problem p);

struct lk_audit_filter {
	int64_t since; /* 0: no bound */
	const char *kid;
	const char *subject_ref;
	const char *action;
	int64_t limit; /* 0: no limit; the newest rows when set */
};

struct lk_audit_row {
	int64_t seq, ts, actor_uid;
	const char *subject_ref, *kid, *action, *reason, *detail;
};

/* Calls cb for each matching row in seq order. A positive cb return stops
 * early (success); a negative one stops and fails the call (LK_ENOMEM). */
int lk_audit_query(struct lk_store *store, const struct lk_audit_filter *filter,
                   int (*cb)(const struct lk_audit_row *row, void *ctx), void *ctx,
                   struct lk_err *err);

#endif
