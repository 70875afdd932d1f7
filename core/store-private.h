/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_STORE_PRIVATE_H
#define LATCHKEY_STORE_PRIVATE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "error-private.h"
#include "masterkey-private.h"

/* The factor-seal subkey version new seals use; rows record theirs. */
#define LK_SEAL_VERSION 1

enum lk_store_flags {
	LK_STORE_CREATE = 1 << 0,   /* create a new database; fail if it exists */
	LK_STORE_READONLY = 1 << 1, /* reports, listings, audit verification */
};

struct lk_store {
	sqlite3 *db;
	char *path;
	/* Derived from the master key at open; NULL when opened without it
	 * (listing and auditing never need it). sodium_malloc'd. */
	unsigned char *pepper;
	/* The factor-seal subkey (LK_SUBKEY_FACTOR_SEAL, LK_SEAL_VERSION): seals
	 * TOTP seeds and keys their recovery-code hashes. Same lifetime and
	 * protection as the pepper: sodium_malloc'd, read-only, NULL without
	 * the master key. */
	unsigned char *seal;
	/* Prepared once, reused: keyed by the address of the SQL constant. */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[48];
	/* Group commit (lk_store_batch_begin): an outer transaction is open and
	 * lk_store_begin/commit/rollback work on savepoints inside it. */
	bool batch;
	bool batch_lost; /* SQLite rolled the whole batch back after an error */
	int depth;       /* savepoints open inside the batch */
};

/* The schema version this build migrates to. */
int lk_store_latest_version(void);

/*
 * Opens (or with LK_STORE_CREATE creates, mode 0600) the database, sets WAL,
 * synchronous=FULL and a busy timeout, and applies pending migrations.
 * master may be NULL; then verification and issuing are unavailable.
 */
int lk_store_open(const char *path, int flags, const struct lk_master *master,
                  struct lk_store **ret_store, struct lk_err *err);

/* Finalizes statements, wipes the pepper and the seal key, closes. Accepts NULL. */
void lk_store_close(struct lk_store *store);

/* Applies migrations up to target only (tests build every earlier version). */
int lk_store_migrate_to(sqlite3 *db, int target, struct lk_err *err);

/* A cached prepared statement for the SQL constant, reset and unbound. */
sqlite3_stmt *lk_store_stmt(struct lk_store *store, const char *sql, struct lk_err *err);

/* BEGIN IMMEDIATE: one writer at a time, so the audit chain has no forks. */
int lk_store_begin(struct lk_store *store, struct lk_err *err);
int lk_store_commit(struct lk_store *store, struct lk_err *err);
/* Safe to call when no transaction is open. */
void lk_store_rollback(struct lk_store *store);

/*
 * Group commit: one outer transaction (BEGIN IMMEDIATE) for many units of
 * work. While it is open, lk_store_begin/commit/rollback become SAVEPOINT,
 * RELEASE and ROLLBACK TO, so a unit that fails undoes only itself and
 * callers need not know they run inside a batch. Nothing is durable until
 * lk_store_batch_commit returns LK_OK; if it fails (or an error made SQLite
 * roll the whole transaction back: "lost"), every unit in the batch is gone.
 */
int lk_store_batch_begin(struct lk_store *store, struct lk_err *err);
int lk_store_batch_commit(struct lk_store *store, struct lk_err *err);
bool lk_store_batch_open(const struct lk_store *store);
bool lk_store_batch_lost(const struct lk_store *store);

/* synchronous=FULL (every commit fsynced, the default) or NORMAL (WAL
 * synced at checkpoints only). */
int lk_store_set_durability(struct lk_store *store, bool full, struct lk_err *err);

/* Turns an SQLite result code into an LK_ESTORE message naming the file:
 * read-only, locked, corrupt, or SQLite's own words. */
int lk_store_error(struct lk_store *store, int sqlite_rc, const char *what, struct lk_err *err);

/* Steps a statement that returns no rows; resets it. */
int lk_store_exec_stmt(struct lk_store *store, sqlite3_stmt *st, const char *what,
                       struct lk_err *err);

/* Number of rows in a table named by the caller from a fixed list (tests,
 * "nothing changed" checks). Returns -1 for an unknown table. */
long long lk_store_count(struct lk_store *store, const char *table);

#endif
