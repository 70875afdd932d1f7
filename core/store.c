/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrations-private.h"
#include "store-private.h"
#include "util-private.h"

#define BUSY_TIMEOUT_MS 5000

int lk_store_latest_version(void)
{
	return lk_migration_count;
}

int lk_store_error(struct lk_store *store, int sqlite_rc, const char *what, struct lk_err *err)
{
	const char *path = store != NULL && store->path != NULL ? store->path : "(database)";
	const char *msg = store != NULL && store->db != NULL ? sqlite3_errmsg(store->db)
	                                                     : sqlite3_errstr(sqlite_rc);

	switch (sqlite_rc & 0xff) {
	case SQLITE_READONLY:
		return lk_err_set(err, LK_ESTORE,
		                  "database %s is read-only (%s); nothing was changed", path, what);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return lk_err_set(
		    err, LK_ESTORE,
		    "database %s is locked by another process (%s); nothing was changed", path,
		    what);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return lk_err_set(err, LK_ESTORE,
		                  "database %s is corrupt or not a Latchkey database (%s)", path,
		                  what);
	case SQLITE_FULL:
		return lk_err_set(err, LK_ESTORE,
		                  "database %s: disk full (%s); nothing was changed", path, what);
	default:
		return lk_err_set(err, LK_ESTORE, "database %s: %s: %s", path, what, msg);
	}
}

static int exec_sql(sqlite3 *db, const char *sql, struct lk_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return lk_err_set(err, LK_ESTORE, "%s", sqlite3_errmsg(db));
	return LK_OK;
}

static int user_version(sqlite3 *db, int *ret_version, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return lk_err_set(err, LK_ESTORE, "%s", sqlite3_errmsg(db));
	}
	*ret_version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return LK_OK;
}

int lk_store_migrate_to(sqlite3 *db, int target, struct lk_err *err)
{
	static const char *const set_version[] = {
		"PRAGMA user_version = 0", "PRAGMA user_version = 1", "PRAGMA user_version = 2",
		"PRAGMA user_version = 3", "PRAGMA user_version = 4", "PRAGMA user_version = 5",
		"PRAGMA user_version = 6", "PRAGMA user_version = 7", "PRAGMA user_version = 8",
		"PRAGMA user_version = 9",
	};
	int version, r;

	/* PRAGMA takes no bound parameters, so the version statements are a
	 * fixed table rather than built strings. */
	_Static_assert(sizeof(set_version) / sizeof(set_version[0]) > 2, "extend set_version");
	if (target < 0 || target > lk_migration_count ||
	    target >= (int)(sizeof(set_version) / sizeof(set_version[0])))
		return lk_err_set(err, LK_EINVAL, "no schema version %d", target);
	r = exec_sql(db, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	r = user_version(db, &version, err);
	if (r < 0)
		goto fail;
	if (version > lk_migration_count) {
		r = lk_err_set(err, LK_ESTORE,
		               "schema version %d is newer than this latchkey understands (%d)",
		               version, lk_migration_count);
		goto fail;
	}
	/* Each migration and its version bump commit together or not at all. */
	for (; version < target; version++) {
		r = exec_sql(db, lk_migrations[version], err);
		if (r < 0) {
			lk_err_prefix(err, r, "migration %d", version + 1);
			goto fail;
		}
		r = exec_sql(db, set_version[version + 1], err);
		if (r < 0)
			goto fail;
	}
	r = exec_sql(db, "COMMIT", err);
	if (r < 0)
		goto fail;
	return LK_OK;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* A database at schema version 0 that we did not just create is never
 * ours: an empty file would silently become a new store with a new audit
 * chain (erasing the history it replaced), and anything else is another
 * program's database. Both are refused untouched. */
static int refuse_unversioned(sqlite3 *db, const char *path, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, n = -1;

	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n == 0)
		return lk_err_set(err, LK_ESTORE,
		                  "database %s is empty, not a Latchkey store (was it replaced?); "
		                  "run 'latchkey init' for a new setup",
		                  path);
	return lk_err_set(err, LK_ESTORE,
	                  "database %s is corrupt or not a Latchkey database (it has tables but no "
	                  "Latchkey schema version); nothing was changed",
	                  path);
}

static int create_file(const char *path, struct lk_err *err)
{
	/* Created here, not by SQLite, so the mode is 0600 whatever the umask;
	 * SQLite gives the -wal and -shm files the database's own mode. */
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return lk_err_set(err, errno == EEXIST ? LK_EEXIST : LK_ESTORE,
		                  "cannot create database %s: %s", path, strerror(errno));
	close(fd);
	return LK_OK;
}

/* A subkey in guarded memory, read-only once written: the pepper and the
 * factor-seal key live as long as the store and are wiped by sodium_free. */
static int derive_subkey(const struct lk_master *master, enum lk_subkey_purpose purpose,
                         uint32_t version, unsigned char **ret_key, const char *what,
                         struct lk_err *err)
{
	unsigned char *key = sodium_malloc(LK_SUBKEY_LEN);
	int r;

	if (key == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of secure memory for %s", what);
	r = lk_master_subkey(master, purpose, version, key, LK_SUBKEY_LEN);
	if (r < 0) {
		sodium_free(key);
		return lk_err_set(err, r, "cannot derive %s", what);
	}
	sodium_mprotect_readonly(key);
	*ret_key = key;
	return LK_OK;
}

int lk_store_open(const char *path, int flags, const struct lk_master *master,
                  struct lk_store **ret_store, struct lk_err *err)
{
	struct lk_store *store = NULL;
	struct stat st;
	int r, rc, version, oflags;
	bool created = false;

	if (flags & LK_STORE_CREATE) {
		r = create_file(path, err);
		if (r < 0)
			return r;
		created = true;
	} else if (stat(path, &st) != 0) {
		return lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_ESTORE,
		                  "database %s: %s%s", path, strerror(errno),
		                  errno == ENOENT ? " (run 'latchkey init' first)" : "");
	} else if (!S_ISREG(st.st_mode)) {
		return lk_err_set(err, LK_ESTORE, "database %s is not a regular file", path);
	} else if ((r = lk_check_owner_mode(&st, "database", path, 022, err)) < 0) {
		/* Writable by someone else: they could have changed key states.
		 * (Read access is allowed: auditors verify copies.) */
		return r;
	}

	r = lk_err_set(err, LK_ENOMEM, "out of memory");
	store = calloc(1, sizeof(*store));
	if (store == NULL || (store->path = strdup(path)) == NULL)
		goto fail;

	oflags = SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX |
	         ((flags & LK_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
	rc = sqlite3_open_v2(path, &store->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		r = lk_store_error(store, rc, "open", err);
		goto fail;
	}
	sqlite3_extended_result_codes(store->db, 1);
	/* The file may come from elsewhere (an auditor's copy): no schema
	 * tricks, and no SQL functions run from triggers or views in it. */
	sqlite3_db_config(store->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(store->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	/* The store never attaches another database (nor may a plugin's SQL,
	 * e.g. through VACUUM INTO). */
	sqlite3_limit(store->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS);
	if (!(flags & LK_STORE_READONLY) && sqlite3_db_readonly(store->db, "main") == 1) {
		r = lk_err_set(err, LK_ESTORE, "database %s is read-only; nothing was changed",
		               path);
		goto fail;
	}
	/* Reading the version is the first real read: a corrupt file or a
	 * non-database fails here with a clear message. */
	r = user_version(store->db, &version, err);
	if (r < 0) {
		r = lk_store_error(store, sqlite3_errcode(store->db), "reading schema version",
		                   err);
		goto fail;
	}
	/* Version 0 is a new database only if it is empty: anything else is
	 * another program's SQLite file, which must not be "migrated". */
	if (version == 0 && !created) {
		r = refuse_unversioned(store->db, path, err);
		goto fail;
	}
	/* Refused before any pragma: a newer schema is not ours to touch. */
	if (version > lk_migration_count) {
		r = lk_err_set(err, LK_ESTORE,
		               "database %s has schema version %d, newer than this latchkey "
		               "understands (%d); upgrade latchkey",
		               path, version, lk_migration_count);
		goto fail;
	}
	if (!(flags & LK_STORE_READONLY)) {
		/* synchronous=FULL: an audit row acknowledged is an audit row on
		 * disk, even across power loss. */
		if (exec_sql(store->db, "PRAGMA journal_mode = WAL", err) < 0 ||
		    exec_sql(store->db, "PRAGMA synchronous = FULL", err) < 0 ||
		    exec_sql(store->db, "PRAGMA foreign_keys = ON", err) < 0 ||
		    /* What is deleted or overwritten (an erased name) is
		     * zeroed, not left in free space (decision 0011). */
		    exec_sql(store->db, "PRAGMA secure_delete = ON", err) < 0) {
			r = lk_store_error(store, sqlite3_errcode(store->db), "configuring", err);
			goto fail;
		}
		if (version != lk_migration_count) {
			r = lk_store_migrate_to(store->db, lk_migration_count, err);
			if (r < 0) {
				lk_err_prefix(err, LK_ESTORE, "database %s", path);
				r = LK_ESTORE;
				goto fail;
			}
		}
	} else if (version != lk_migration_count) {
		r = lk_err_set(err, LK_ESTORE,
		               "database %s has schema version %d, this latchkey needs %d; open it "
		               "read-write once to migrate",
		               path, version, lk_migration_count);
		goto fail;
	}

	if (master != NULL &&
	    ((r = derive_subkey(master, LK_SUBKEY_PEPPER, LK_PEPPER_VERSION, &store->pepper,
	                        "the key-hash pepper", err)) < 0 ||
	     (r = derive_subkey(master, LK_SUBKEY_FACTOR_SEAL, LK_SEAL_VERSION, &store->seal,
	                        "the factor-seal key", err)) < 0))
		goto fail;
	*ret_store = store;
	return LK_OK;
fail:
	lk_store_close(store);
	if (created) {
		/* Leave nothing half-made behind. */
		char side[4096];
		unlink(path);
		snprintf(side, sizeof(side), "%s-wal", path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", path);
		unlink(side);
	}
	return r;
}

void lk_store_close(struct lk_store *store)
{
	if (store == NULL)
		return;
	for (size_t i = 0; i < sizeof(store->cache) / sizeof(store->cache[0]); i++)
		sqlite3_finalize(store->cache[i].stmt);
	if (store->db != NULL)
		sqlite3_close_v2(store->db);
	sodium_free(store->pepper);
	sodium_free(store->seal);
	free(store->path);
	free(store);
}

sqlite3_stmt *lk_store_stmt(struct lk_store *store, const char *sql, struct lk_err *err)
{
	size_t i, n = sizeof(store->cache) / sizeof(store->cache[0]);
	int rc;

	for (i = 0; i < n && store->cache[i].sql != NULL; i++) {
		if (store->cache[i].sql == sql) {
			sqlite3_reset(store->cache[i].stmt);
			sqlite3_clear_bindings(store->cache[i].stmt);
			return store->cache[i].stmt;
		}
	}
	if (i == n) {
		lk_err_set(err, LK_ESTORE, "statement cache full (raise its size)");
		return NULL;
	}
	rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	                        &store->cache[i].stmt, NULL);
	if (rc != SQLITE_OK) {
		lk_store_error(store, rc, "preparing a statement", err);
		store->cache[i].stmt = NULL;
		return NULL;
	}
	store->cache[i].sql = sql;
	return store->cache[i].stmt;
}

/* Inside a batch, a failed statement can make SQLite roll back the whole
 * transaction on its own (SQLITE_FULL, IOERR, NOMEM, BUSY): every unit
 * before it is gone, so the batch must fail as a whole. */
static bool check_lost(struct lk_store *store)
{
	if (store->batch && sqlite3_get_autocommit(store->db)) {
		store->batch_lost = true;
		store->depth = 0;
	}
	return store->batch_lost;
}

int lk_store_begin(struct lk_store *store, struct lk_err *err)
{
	int rc;

	if (store->batch) {
		if (check_lost(store))
			return lk_err_set(err, LK_ESTORE,
			                  "%s: the batch transaction was rolled back", store->path);
		rc = sqlite3_exec(store->db, "SAVEPOINT lk_unit", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return lk_store_error(store, rc, "starting a unit of work", err);
		store->depth++;
		return LK_OK;
	}
	rc = sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, "starting a transaction", err);
	return LK_OK;
}

int lk_store_commit(struct lk_store *store, struct lk_err *err)
{
	int rc;

	if (store->batch) {
		if (store->depth <= 0 || check_lost(store))
			return lk_err_set(err, LK_ESTORE,
			                  "%s: the batch transaction was rolled back", store->path);
		rc = sqlite3_exec(store->db, "RELEASE lk_unit", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			lk_store_error(store, rc, "finishing a unit of work", err);
			lk_store_rollback(store);
			return LK_ESTORE;
		}
		store->depth--;
		return LK_OK;
	}
	rc = sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		lk_store_error(store, rc, "committing", err);
		lk_store_rollback(store);
		return LK_ESTORE;
	}
	return LK_OK;
}

void lk_store_rollback(struct lk_store *store)
{
	if (store == NULL || store->db == NULL)
		return;
	if (store->batch) {
		/* Only the innermost unit: the batch belongs to its other units. */
		if (store->depth <= 0 || check_lost(store))
			return;
		sqlite3_exec(store->db, "ROLLBACK TO lk_unit; RELEASE lk_unit", NULL, NULL, NULL);
		store->depth--;
		check_lost(store);
		return;
	}
	if (!sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}

int lk_store_batch_begin(struct lk_store *store, struct lk_err *err)
{
	int rc;

	if (store->batch)
		return lk_err_set(err, LK_EINVAL, "a batch is already open");
	rc = sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, "starting a batch", err);
	store->batch = true;
	store->batch_lost = false;
	store->depth = 0;
	return LK_OK;
}

int lk_store_batch_commit(struct lk_store *store, struct lk_err *err)
{
	int rc, r = LK_OK;

	if (!store->batch)
		return lk_err_set(err, LK_EINVAL, "no batch is open");
	if (check_lost(store) || store->depth != 0) {
		r = lk_err_set(err, LK_ESTORE, "%s: the batch transaction was rolled back",
		               store->path);
	} else {
		rc = sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			r = lk_store_error(store, rc, "committing a batch", err);
	}
	store->batch = false;
	store->batch_lost = false;
	store->depth = 0;
	if (r < 0 && !sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

bool lk_store_batch_open(const struct lk_store *store)
{
	return store->batch;
}

bool lk_store_batch_lost(const struct lk_store *store)
{
	return store->batch && (store->batch_lost || sqlite3_get_autocommit(store->db));
}

int lk_store_set_durability(struct lk_store *store, bool full, struct lk_err *err)
{
	int rc = sqlite3_exec(store->db,
	                      full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
	                      NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return lk_store_error(store, rc, "setting durability", err);
	return LK_OK;
}

int lk_store_exec_stmt(struct lk_store *store, sqlite3_stmt *st, const char *what,
                       struct lk_err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return lk_store_error(store, rc, what, err);
	return LK_OK;
}

long long lk_store_count(struct lk_store *store, const char *table)
{
	static const char *const queries[][2] = {
		{ "audit", "SELECT count(*) FROM audit" },
		{ "api_key", "SELECT count(*) FROM api_key" },
		{ "subject", "SELECT count(*) FROM subject" },
		{ "checkpoint", "SELECT count(*) FROM checkpoint" },
	};
	sqlite3_stmt *st;
	long long n = -1;

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		if (strcmp(table, queries[i][0]) != 0)
			continue;
		st = lk_store_stmt(store, queries[i][1], NULL);
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		if (st != NULL)
			sqlite3_reset(st);
	}
	return n;
}
