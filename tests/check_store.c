/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store (open, create, migrations, refusals), the master key file and
 * the config file. Each test gets its own state directory from tk_setup.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config-private.h"
#include "keys-private.h"
#include "masterkey-private.h"
#include "store-private.h"
#include "testutil.h"

#define NOBODY 65534

static struct tk_env e;

static void setup(void)
{
	tk_setup(&e);
}

static void teardown(void)
{
	tk_teardown(&e);
}

/* ---------------------------------------------------------------- helpers */

/* e.dir/name */
static void in_dir(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", e.dir, name);

	ck_assert(n > 0 && (size_t)n < outlen);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	/* fchmod, not the open mode, so the umask cannot interfere. */
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* Reads at most cap bytes; returns the count. */
static size_t read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, cap);
	ck_assert_int_ge(n, 0);
	close(fd);
	return (size_t)n;
}

static void copy_file(const char *from, const char *to, size_t len, mode_t mode)
{
	unsigned char *buf = malloc(len > 0 ? len : 1);
	size_t n;

	ck_assert_ptr_nonnull(buf);
	n = read_file(from, buf, len);
	ck_assert_uint_eq(n, len);
	write_file(to, buf, n, mode);
	free(buf);
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

static void assert_msg_has(const struct lk_err *err, const char *needle)
{
	ck_assert_msg(strstr(err->msg, needle) != NULL, "message lacks \"%s\": %s", needle,
	              err->msg);
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "?");
}

/* The whole schema as one malloc'd string: type, name and SQL of every
 * object, in name order. Two databases with the same text have the same
 * tables, columns, constraints, indexes and triggers. */
static char *schema_text(sqlite3 *db)
{
	sqlite3_stmt *st;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT type, name, tbl_name, sql FROM sqlite_master"
	                                    " ORDER BY name",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < 4; i++) {
			const unsigned char *t = sqlite3_column_text(st, i);
			fprintf(f, "%s|", t != NULL ? (const char *)t : "(null)");
		}
		fputc('\n', f);
	}
	sqlite3_finalize(st);
	fclose(f);
	return out;
}

static bool has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	bool found;

	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT 1 FROM sqlite_master WHERE type = 'table'"
	                                    " AND name = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static char *key_status(struct lk_store *store, const char *kid, char *out, size_t outlen)
{
	struct lk_key_info info;
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_get(store, kid, &info, &err) == LK_OK, "%s", err.msg);
	snprintf(out, outlen, "%s", info.status);
	return out;
}

/* Issues a key for alice in prod and wipes the key string at once. */
static void issue(struct tk_env *env, const char *scope)
{
	char key[LK_KEY_MAX_LEN + 1];

	tk_issue(env, "alice", "prod", scope, 86400, key, NULL);
	sodium_memzero(key, sizeof(key));
}

/* ------------------------------------------------------------ migrations */

START_TEST(test_fresh_store_schema)
{
	sqlite3_stmt *st;

	ck_assert_int_ge(lk_store_latest_version(), 2);
	ck_assert_int_eq(user_version(e.store->db), lk_store_latest_version());
	ck_assert(has_table(e.store->db, "subject"));
	ck_assert(has_table(e.store->db, "audit"));
	ck_assert(has_table(e.store->db, "api_key"));
	/* Migration 9: the policies that made decisions, by hash. */
	ck_assert(has_table(e.store->db, "policy_evidence"));
	ck_assert_int_ge(lk_store_latest_version(), 9);
	ck_assert(!has_table(e.store->db, "no_such_table"));

	/* WAL, persistently: a reader never blocks the audit writer. */
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db, "PRAGMA journal_mode", -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);

	ck_assert_int_eq(lk_store_count(e.store, "audit"), 0);
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), 0);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), 0);
}
END_TEST

START_TEST(test_migrate_from_every_version)
{
	char *fresh = schema_text(e.store->db);
	int latest = lk_store_latest_version();

	/* Version 0 is only ever a store being created: an existing empty
	 * file is refused (test_empty_database_refused). */
	for (int v = 1; v < latest; v++) {
		char path[PATH_MAX + 64], name[32], *got;
		struct lk_store *store = NULL;
		struct lk_err err = { { 0 } };
		sqlite3_stmt *st;
		sqlite3 *db = NULL;

		snprintf(name, sizeof(name), "v%d.db", v);
		in_dir(path, sizeof(path), name);
		ck_assert_int_eq(
		    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		    SQLITE_OK);
		ck_assert_msg(lk_store_migrate_to(db, v, &err) == LK_OK, "to %d: %s", v, err.msg);
		ck_assert_int_eq(user_version(db), v);
		/* Data written by an older latchkey must survive the upgrade. */
		if (v >= 1)
			exec_ok(db,
			        "INSERT INTO subject (subject_ref, kind, name, created)"
			        " VALUES ('sub_0123456789abcdef', 'owner', 'alice', 1700000000)");
		if (v >= 2)
			exec_ok(db,
			        "INSERT INTO api_key (kid, owner_ref, env, scopes, hash, hash_alg,"
			        " pepper_ver, created, status) VALUES ('3xK9mQ2pLw7Z',"
			        " 'sub_0123456789abcdef', 'prod', 'a', x'00', 'blake2b-256-v1', 1,"
			        " 1700000000, 'active')");
		ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);

		ck_assert_msg(lk_store_open(path, 0, e.master, &store, &err) == LK_OK,
		              "opening a v%d database: %s", v, err.msg);
		ck_assert_int_eq(user_version(store->db), latest);
		got = schema_text(store->db);
		ck_assert_msg(strcmp(got, fresh) == 0,
		              "schema migrated from v%d differs from a fresh one:\n%s\nfresh:\n%s",
		              v, got, fresh);
		free(got);
		if (v >= 1) {
			ck_assert_int_eq(sqlite3_prepare_v2(store->db,
			                                    "SELECT name FROM subject WHERE"
			                                    " subject_ref = 'sub_0123456789abcdef'",
			                                    -1, &st, NULL),
			                 SQLITE_OK);
			ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
			ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "alice");
			sqlite3_finalize(st);
			ck_assert_int_eq(lk_store_count(store, "subject"), 1);
		}
		if (v >= 2)
			ck_assert_int_eq(lk_store_count(store, "api_key"), 1);
		lk_store_close(store);

		/* A second open finds nothing to do and changes nothing. */
		ck_assert_msg(lk_store_open(path, 0, e.master, &store, &err) == LK_OK, "%s",
		              err.msg);
		got = schema_text(store->db);
		ck_assert_str_eq(got, fresh);
		free(got);
		lk_store_close(store);
	}
	free(fresh);
}
END_TEST

START_TEST(test_migrate_to_bounds)
{
	char path[PATH_MAX + 64];
	struct lk_err err = { { 0 } };
	sqlite3 *db = NULL;
	int latest = lk_store_latest_version();

	in_dir(path, sizeof(path), "bounds.db");
	ck_assert_int_eq(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(lk_store_migrate_to(db, -1, &err), LK_EINVAL);
	assert_msg_has(&err, "-1");
	ck_assert_int_eq(lk_store_migrate_to(db, latest + 1, &err), LK_EINVAL);
	ck_assert_int_eq(user_version(db), 0);
	ck_assert(!has_table(db, "subject"));
	ck_assert_int_eq(lk_store_migrate_to(db, latest, &err), LK_OK);
	ck_assert_int_eq(user_version(db), latest);
	sqlite3_close(db);
}
END_TEST

static void make_newer_db(char *path, size_t pathlen, int version)
{
	char sql[64];
	sqlite3 *db = NULL;

	in_dir(path, pathlen, "future.db");
	ck_assert_int_eq(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode = WAL");
	exec_ok(db, "CREATE TABLE future (x)");
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	exec_ok(db, sql);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

START_TEST(test_newer_version_refused)
{
	char path[PATH_MAX + 64], want[32];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	int newer = lk_store_latest_version() + 7;
	sqlite3 *db;

	make_newer_db(path, sizeof(path), newer);
	snprintf(want, sizeof(want), "%d", newer);

	ck_assert_int_eq(lk_store_open(path, 0, e.master, &store, &err), LK_ESTORE);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, want);
	assert_msg_has(&err, path);

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(lk_store_open(path, LK_STORE_READONLY, NULL, &store, &err), LK_ESTORE);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, want);

	/* Refused, not "migrated": the newer schema is left as it was. */
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(user_version(db), newer);
	ck_assert(has_table(db, "future"));
	ck_assert(!has_table(db, "subject"));
	sqlite3_close(db);
}
END_TEST

/*
 * Read-only tools (reports, audit verification) meet a database from a newer
 * latchkey too. Telling the user to "open it read-write once to migrate" is
 * wrong advice there: a read-write open refuses it as well.
 */
START_TEST(test_newer_version_readonly_message)
{
	char path[PATH_MAX + 64];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };

	make_newer_db(path, sizeof(path), lk_store_latest_version() + 1);
	ck_assert_int_eq(lk_store_open(path, LK_STORE_READONLY, NULL, &store, &err), LK_ESTORE);
	assert_msg_has(&err, "newer");
	ck_assert_msg(strstr(err.msg, "migrate") == NULL, "advises migrating: %s", err.msg);
}
END_TEST

/*
 * A database path that points at some other program's SQLite file (schema
 * version 0, but with tables) is a mistake in the config: latchkey must refuse
 * it rather than "migrate" it by adding its own tables to someone else's data.
 * Only an empty version-0 database is a new Latchkey one.
 */
/* An emptied or replaced database file must not silently become a fresh
 * store with a new audit chain: that would erase the history it replaced. */
START_TEST(test_empty_database_refused)
{
	char path[PATH_MAX + 64];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	struct stat st;
	FILE *f;

	in_dir(path, sizeof(path), "empty.db");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(lk_store_open(path, 0, e.master, &store, &err), LK_ESTORE);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, "is empty");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
}
END_TEST

START_TEST(test_foreign_database_untouched)
{
	char path[PATH_MAX + 64], *before, *after;
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	sqlite3 *db = NULL;
	bool same;
	int r;

	in_dir(path, sizeof(path), "places.sqlite");
	ck_assert_int_eq(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	exec_ok(db, "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)");
	exec_ok(db, "INSERT INTO moz_places (url) VALUES ('https://example.org/')");
	before = schema_text(db);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);

	r = lk_store_open(path, 0, e.master, &store, &err);
	lk_store_close(store);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	after = schema_text(db);
	sqlite3_close(db);
	same = strcmp(before, after) == 0;
	/* Freed before asserting: under CK_FORK=no a failed check leaks. */
	free(before);
	free(after);
	ck_assert_msg(r == LK_ESTORE, "a foreign database was opened (rc %d)", r);
	assert_msg_has(&err, "not a Latchkey database");
	ck_assert_msg(same, "foreign database altered");
}
END_TEST

/* ------------------------------------------------------------------ files */

START_TEST(test_db_created_0600)
{
	static const mode_t masks[] = { 022, 0, 077 };
	mode_t old = umask(022);

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		char path[PATH_MAX + 64], side[PATH_MAX + 80], name[32];
		struct lk_store *store = NULL;
		struct lk_err err = { { 0 } };
		char key[LK_KEY_MAX_LEN + 1];
		const char *scopes[] = { "a" };
		struct lk_key_info info;
		struct stat st;

		umask(masks[i]);
		snprintf(name, sizeof(name), "mode%zu.db", i);
		in_dir(path, sizeof(path), name);
		ck_assert_msg(lk_store_open(path, LK_STORE_CREATE, e.master, &store, &err) == LK_OK,
		              "%s", err.msg);
		/* A write, so the WAL surely exists while the store is open. */
		ck_assert_msg(lk_key_issue(store, &e.rules,
		                           &(struct lk_issue_request){ .owner = "alice",
		                                                       .env = "prod",
		                                                       .scopes = scopes,
		                                                       .n_scopes = 1,
		                                                       .lifetime = 86400 },
		                           TK_ACTOR, TK_NOW, key, &info, &err) == LK_OK,
		              "%s", err.msg);
		sodium_memzero(key, sizeof(key));
		ck_assert_msg(file_mode(path) == 0600, "umask %03o: db mode %04o", masks[i],
		              file_mode(path));
		snprintf(side, sizeof(side), "%s-wal", path);
		ck_assert_msg(lstat(side, &st) == 0, "no WAL file while open");
		ck_assert_msg(file_mode(side) == 0600, "umask %03o: -wal mode %04o", masks[i],
		              file_mode(side));
		snprintf(side, sizeof(side), "%s-shm", path);
		if (lstat(side, &st) == 0)
			ck_assert_msg(file_mode(side) == 0600, "umask %03o: -shm mode %04o",
			              masks[i], file_mode(side));
		lk_store_close(store);
		ck_assert_int_eq(file_mode(path), 0600);
	}
	umask(old);
}
END_TEST

START_TEST(test_create_existing_refused)
{
	static const char content[] = "precious, not a database";
	char path[PATH_MAX + 64], buf[128];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	char kid[LK_KID_LEN + 1], key[LK_KEY_MAX_LEN + 1], status[16];

	in_dir(path, sizeof(path), "existing.db");
	write_file(path, content, sizeof(content), 0640);
	ck_assert_int_eq(lk_store_open(path, LK_STORE_CREATE, e.master, &store, &err), LK_EEXIST);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, path);
	ck_assert_uint_eq(read_file(path, buf, sizeof(buf)), sizeof(content));
	ck_assert_mem_eq(buf, content, sizeof(content));
	ck_assert_int_eq(file_mode(path), 0640);

	/* The same over a live database: refused, and the database (and the
	 * handle already open on it) are unharmed. */
	tk_issue(&e, "alice", "prod", "a", 86400, key, kid);
	sodium_memzero(key, sizeof(key));
	ck_assert_int_eq(lk_store_open(e.db, LK_STORE_CREATE, e.master, &store, &err), LK_EEXIST);
	ck_assert_ptr_null(store);
	ck_assert_str_eq(key_status(e.store, kid, status, sizeof(status)), "active");
	lk_store_close(e.store);
	e.store = NULL;
	ck_assert_msg(lk_store_open(e.db, 0, e.master, &e.store, &err) == LK_OK, "%s", err.msg);
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), 1);

	/* Nor through a symlink (O_NOFOLLOW). */
	in_dir(path, sizeof(path), "link.db");
	ck_assert_int_eq(symlink(e.db, path), 0);
	ck_assert_int_lt(lk_store_open(path, LK_STORE_CREATE, e.master, &store, &err), 0);
	ck_assert_ptr_null(store);
}
END_TEST

START_TEST(test_master_created_0600)
{
	static const mode_t masks[] = { 022, 0 };
	mode_t old = umask(022);

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		char path[PATH_MAX + 64], name[32];
		unsigned char before[64], after[64];
		struct lk_err err = { { 0 } };
		struct lk_master *m = NULL;
		size_t n;

		umask(masks[i]);
		snprintf(name, sizeof(name), "m%zu.key", i);
		in_dir(path, sizeof(path), name);
		ck_assert_msg(lk_master_create(path, &err) == LK_OK, "%s", err.msg);
		ck_assert_msg(file_mode(path) == 0600, "umask %03o: mode %04o", masks[i],
		              file_mode(path));
		n = read_file(path, before, sizeof(before));
		ck_assert_uint_eq(n, LK_MASTER_KEY_LEN);

		/* Never overwritten: that would orphan every key hash. */
		ck_assert_int_eq(lk_master_create(path, &err), LK_EEXIST);
		assert_msg_has(&err, path);
		ck_assert_uint_eq(read_file(path, after, sizeof(after)), LK_MASTER_KEY_LEN);
		ck_assert_mem_eq(before, after, LK_MASTER_KEY_LEN);
		ck_assert_msg(lk_master_load(path, &m, &err) == LK_OK, "%s", err.msg);
		lk_master_free(m);
		sodium_memzero(before, sizeof(before));
		sodium_memzero(after, sizeof(after));
	}
	umask(old);
}
END_TEST

/* ------------------------------------------------------------- master key */

/* Loading must fail with LK_ECRYPTO (or want_rc), leave ret untouched, and
 * say why. */
static void expect_master_refused(const char *path, int want_rc, const char *n1, const char *n2)
{
	struct lk_master *m = NULL;
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_master_load(path, &m, &err), want_rc);
	ck_assert_ptr_null(m);
	assert_msg_has(&err, path);
	if (n1 != NULL)
		assert_msg_has(&err, n1);
	if (n2 != NULL)
		assert_msg_has(&err, n2);
}

START_TEST(test_master_refuses_symlink)
{
	char link[PATH_MAX + 64];

	in_dir(link, sizeof(link), "link.key");
	ck_assert_int_eq(symlink(e.master_path, link), 0);
	expect_master_refused(link, LK_ECRYPTO, "symlink", NULL);
}
END_TEST

START_TEST(test_master_refuses_non_regular)
{
	char path[PATH_MAX + 64];

	in_dir(path, sizeof(path), "dir.key");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	expect_master_refused(path, LK_ECRYPTO, "not a regular file", NULL);

	/* A FIFO must be refused without blocking on it. */
	in_dir(path, sizeof(path), "fifo.key");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	expect_master_refused(path, LK_ECRYPTO, "not a regular file", NULL);
}
END_TEST

START_TEST(test_master_refuses_open_modes)
{
	static const struct {
		mode_t mode;
		const char *text;
	} modes[] = { { 0640, "0640" }, { 0604, "0604" }, { 0644, "0644" },
		      { 0620, "0620" }, { 0602, "0602" }, { 0610, "0610" } };
	char path[PATH_MAX + 64];

	in_dir(path, sizeof(path), "open.key");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		copy_file(e.master_path, path, LK_MASTER_KEY_LEN, modes[i].mode);
		ck_assert_int_eq(file_mode(path), modes[i].mode);
		expect_master_refused(path, LK_ECRYPTO, "group/other", modes[i].text);
	}
	/* Owner-only modes are fine. */
	copy_file(e.master_path, path, LK_MASTER_KEY_LEN, 0400);
	{
		struct lk_master *m = NULL;
		struct lk_err err = { { 0 } };
		ck_assert_msg(lk_master_load(path, &m, &err) == LK_OK, "%s", err.msg);
		lk_master_free(m);
	}
}
END_TEST

START_TEST(test_master_refuses_wrong_size)
{
	unsigned char buf[64];
	char path[PATH_MAX + 64];

	randombytes_buf(buf, sizeof(buf));
	in_dir(path, sizeof(path), "size.key");
	write_file(path, buf, 31, 0600);
	expect_master_refused(path, LK_ECRYPTO, "31 bytes", "32");
	write_file(path, buf, 33, 0600);
	expect_master_refused(path, LK_ECRYPTO, "33 bytes", "32");
	write_file(path, buf, 0, 0600);
	expect_master_refused(path, LK_ECRYPTO, "0 bytes", "32");
	sodium_memzero(buf, sizeof(buf));
}
END_TEST

START_TEST(test_master_missing)
{
	char path[PATH_MAX + 64];

	in_dir(path, sizeof(path), "absent.key");
	expect_master_refused(path, LK_ENOTFOUND, NULL, NULL);
}
END_TEST

START_TEST(test_master_refuses_other_owner)
{
	char path[PATH_MAX + 64];

	if (geteuid() != 0)
		return; /* cannot give a file away without root */
	in_dir(path, sizeof(path), "theirs.key");
	copy_file(e.master_path, path, LK_MASTER_KEY_LEN, 0600);
	ck_assert_int_eq(chown(path, NOBODY, NOBODY), 0);
	expect_master_refused(path, LK_ECRYPTO, "owned by", "65534");
}
END_TEST

START_TEST(test_master_subkeys)
{
	unsigned char p1[LK_SUBKEY_LEN], p1b[LK_SUBKEY_LEN], p2[LK_SUBKEY_LEN];
	unsigned char ps[LK_SUBKEY_LEN], fs[LK_SUBKEY_LEN], other[LK_SUBKEY_LEN];
	unsigned char raw[LK_MASTER_KEY_LEN];
	char path[PATH_MAX + 64];
	struct lk_master *m2 = NULL;
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_PEPPER, 1, p1, sizeof(p1)), LK_OK);
	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_PEPPER, 1, p1b, sizeof(p1b)), LK_OK);
	ck_assert_mem_eq(p1, p1b, sizeof(p1));
	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_PEPPER, 2, p2, sizeof(p2)), LK_OK);
	ck_assert(memcmp(p1, p2, sizeof(p1)) != 0);
	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_PSEUDONYM, 1, ps, sizeof(ps)), LK_OK);
	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_FACTOR_SEAL, 1, fs, sizeof(fs)),
	                 LK_OK);
	ck_assert(memcmp(p1, ps, sizeof(p1)) != 0);
	ck_assert(memcmp(p1, fs, sizeof(p1)) != 0);
	ck_assert(memcmp(ps, fs, sizeof(ps)) != 0);
	/* A subkey is not the master key itself. */
	ck_assert_uint_eq(read_file(e.master_path, raw, sizeof(raw)), sizeof(raw));
	ck_assert(memcmp(raw, p1, sizeof(raw)) != 0);

	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_PEPPER, 0, p1b, sizeof(p1b)),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_master_subkey(NULL, LK_SUBKEY_PEPPER, 1, p1b, sizeof(p1b)), LK_EINVAL);
	ck_assert_int_eq(
	    lk_master_subkey(e.master, (enum lk_subkey_purpose)99, 1, p1b, sizeof(p1b)), LK_EINVAL);
	ck_assert_int_eq(lk_master_subkey(e.master, LK_SUBKEY_PEPPER, 1, p1b, 8), LK_EINVAL);

	/* Another master key, another pepper. */
	in_dir(path, sizeof(path), "second.key");
	ck_assert_int_eq(lk_master_create(path, &err), LK_OK);
	ck_assert_msg(lk_master_load(path, &m2, &err) == LK_OK, "%s", err.msg);
	ck_assert_int_eq(lk_master_subkey(m2, LK_SUBKEY_PEPPER, 1, other, sizeof(other)), LK_OK);
	ck_assert(memcmp(p1, other, sizeof(p1)) != 0);
	lk_master_free(m2);
	lk_master_free(NULL);
	sodium_memzero(raw, sizeof(raw));
}
END_TEST

/* ------------------------------------------------------------------- open */

START_TEST(test_open_missing)
{
	char path[PATH_MAX + 64];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	struct stat st;

	in_dir(path, sizeof(path), "absent.db");
	ck_assert_int_eq(lk_store_open(path, 0, e.master, &store, &err), LK_ENOTFOUND);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, "latchkey init");
	assert_msg_has(&err, path);
	/* Opening must not create it. */
	ck_assert_int_ne(lstat(path, &st), 0);

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(lk_store_open(path, LK_STORE_READONLY, NULL, &store, &err), LK_ENOTFOUND);
	assert_msg_has(&err, "latchkey init");
	ck_assert_int_ne(lstat(path, &st), 0);
}
END_TEST

static void expect_corrupt(const char *path, int flags)
{
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(
	    lk_store_open(path, flags, flags & LK_STORE_READONLY ? NULL : e.master, &store, &err),
	    LK_ESTORE);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, "corrupt or not a Latchkey database");
	assert_msg_has(&err, path);
}

START_TEST(test_open_random_bytes)
{
	unsigned char junk[8192], after[8192];
	char path[PATH_MAX + 64];

	randombytes_buf(junk, sizeof(junk));
	in_dir(path, sizeof(path), "junk.db");
	write_file(path, junk, sizeof(junk), 0600);
	expect_corrupt(path, 0);
	expect_corrupt(path, LK_STORE_READONLY);
	/* Left exactly as found. */
	ck_assert_uint_eq(read_file(path, after, sizeof(after)), sizeof(junk));
	ck_assert_mem_eq(after, junk, sizeof(junk));

	/* A text file is no database either. */
	write_file(path, "database = x\n", 13, 0600);
	expect_corrupt(path, 0);
}
END_TEST

START_TEST(test_open_truncated)
{
	static const size_t cuts[] = { 100, 1024, 4096 + 100 };
	char good[PATH_MAX + 64], path[PATH_MAX + 64], wal[PATH_MAX + 80];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	struct stat st;
	unsigned char *buf;
	size_t n;

	/* A real database with some content, closed so the WAL is folded in. */
	in_dir(good, sizeof(good), "good.db");
	ck_assert_int_eq(lk_store_open(good, LK_STORE_CREATE, e.master, &store, &err), LK_OK);
	lk_store_close(store);
	store = NULL;
	snprintf(wal, sizeof(wal), "%s-wal", good);
	ck_assert_int_ne(lstat(wal, &st), 0);
	ck_assert_int_eq(stat(good, &st), 0);
	ck_assert_int_gt(st.st_size, 4096 + 100);
	buf = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(buf);
	n = read_file(good, buf, (size_t)st.st_size);
	ck_assert_uint_eq(n, (size_t)st.st_size);
	ck_assert_mem_eq(buf, "SQLite format 3", 16);

	in_dir(path, sizeof(path), "cut.db");
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		write_file(path, buf, cuts[i], 0600);
		expect_corrupt(path, 0);
		write_file(path, buf, cuts[i], 0600);
		expect_corrupt(path, LK_STORE_READONLY);
	}
	/* A header whose magic is damaged. */
	buf[0] = 'X';
	write_file(path, buf, n, 0600);
	expect_corrupt(path, 0);
	free(buf);
}
END_TEST

START_TEST(test_open_not_regular)
{
	char path[PATH_MAX + 64];
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };

	in_dir(path, sizeof(path), "dir.db");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(lk_store_open(path, 0, e.master, &store, &err), LK_ESTORE);
	ck_assert_ptr_null(store);
	assert_msg_has(&err, "not a regular file");
}
END_TEST

START_TEST(test_readonly_store_refuses_mutation)
{
	struct lk_store *ro = NULL;
	struct lk_err err = { { 0 } };
	struct tk_snapshot before;
	char kid[LK_KID_LEN + 1], key[LK_KEY_MAX_LEN + 1], status[16];
	const char *scopes[] = { "a" };
	struct lk_key_info info;
	size_t count = 0;
	int r;

	tk_issue(&e, "alice", "prod", "billing:read", 86400, key, kid);
	sodium_memzero(key, sizeof(key));
	tk_snapshot(e.store, &before);

	ck_assert_msg(lk_store_open(e.db, LK_STORE_READONLY, e.master, &ro, &err) == LK_OK, "%s",
	              err.msg);
	/* Reading works. */
	ck_assert_str_eq(key_status(ro, kid, status, sizeof(status)), "active");
	ck_assert_int_eq(lk_store_count(ro, "api_key"), 1);

	memset(&err, 0, sizeof(err));
	r = lk_key_revoke(ro, kid, "leaked", TK_ACTOR, TK_NOW + 10, &err);
	ck_assert_int_eq(r, LK_ESTORE);
	assert_msg_has(&err, "read-only");
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(lk_key_suspend(ro, kid, "incident", TK_ACTOR, TK_NOW + 10, &err),
	                 LK_ESTORE);
	ck_assert_int_eq(
	    lk_key_revoke_all(ro, "alice", "offboarded", TK_ACTOR, TK_NOW + 10, &count, &err),
	    LK_ESTORE);
	ck_assert_int_eq(lk_key_issue(ro, &e.rules,
	                              &(struct lk_issue_request){ .owner = "bob",
	                                                          .env = "prod",
	                                                          .scopes = scopes,
	                                                          .n_scopes = 1,
	                                                          .lifetime = 86400 },
	                              TK_ACTOR, TK_NOW, key, &info, &err),
	                 LK_ESTORE);
	sodium_memzero(key, sizeof(key));
	/* The read-only handle is still usable afterwards. */
	ck_assert_str_eq(key_status(ro, kid, status, sizeof(status)), "active");
	lk_store_close(ro);

	/* Nothing was written: check through the read-write handle, then
	 * again through a fresh one. */
	tk_assert_unchanged(e.store, &before);
	ck_assert_str_eq(key_status(e.store, kid, status, sizeof(status)), "active");
	lk_store_close(e.store);
	e.store = NULL;
	ck_assert_msg(lk_store_open(e.db, 0, e.master, &e.store, &err) == LK_OK, "%s", err.msg);
	tk_assert_unchanged(e.store, &before);
	ck_assert_str_eq(key_status(e.store, kid, status, sizeof(status)), "active");
	/* And the read-write handle can do what the read-only one could not. */
	ck_assert_msg(lk_key_revoke(e.store, kid, "leaked", TK_ACTOR, TK_NOW + 10, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_str_eq(key_status(e.store, kid, status, sizeof(status)), "revoked");
	ck_assert_int_eq(lk_store_count(e.store, "audit"), before.audit + 1);
}
END_TEST

/* Opens path read-write as uid 65534 in a child; returns the message. */
static int open_as_nobody(const char *path, char *msg, size_t msglen)
{
	int fds[2], status, rc = 0;
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct lk_store *store = NULL;
		struct lk_err err = { { 0 } };
		char out[sizeof(err.msg) + 16];

		close(fds[0]);
		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(10);
		rc = lk_store_open(path, 0, NULL, &store, &err);
		lk_store_close(store);
		n = snprintf(out, sizeof(out), "%d %s", rc, err.msg);
		if (write(fds[1], out, (size_t)n) != n)
			_exit(11);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], msg, msglen - 1);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* The message is the result. The exit status is not: under valgrind
	 * the child inherits (and reports) any leak of earlier tests. */
	ck_assert_msg(WIFEXITED(status), "child status %d", status);
	ck_assert_msg(n > 0, "child could not drop to uid %d (exit %d)", NOBODY,
	              WEXITSTATUS(status));
	msg[n] = '\0';
	ck_assert_int_eq(sscanf(msg, "%d", &rc), 1);
	return rc;
}

START_TEST(test_readonly_file_refused)
{
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	struct tk_snapshot before;
	char msg[600];

	issue(&e, "a");
	tk_snapshot(e.store, &before);
	lk_store_close(e.store);
	e.store = NULL;

	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(e.db, 0400), 0);
		ck_assert_int_eq(lk_store_open(e.db, 0, e.master, &store, &err), LK_ESTORE);
		ck_assert_ptr_null(store);
		assert_msg_has(&err, "read-only");
		assert_msg_has(&err, e.db);
	} else {
		/* Root writes anything: drop to nobody in a child, with the
		 * directory searchable and the file readable but not writable. */
		ck_assert_int_eq(chmod(e.dir, 0711), 0);
		ck_assert_int_eq(chmod(e.db, 0444), 0);
		ck_assert_int_eq(open_as_nobody(e.db, msg, sizeof(msg)), LK_ESTORE);
		ck_assert_msg(strstr(msg, "read-only") != NULL, "%s", msg);
		ck_assert_int_eq(chmod(e.dir, 0700), 0);
	}
	ck_assert_int_eq(chmod(e.db, 0600), 0);
	ck_assert_msg(lk_store_open(e.db, 0, e.master, &e.store, &err) == LK_OK, "%s", err.msg);
	tk_assert_unchanged(e.store, &before);
}
END_TEST

START_TEST(test_store_count)
{
	ck_assert_int_eq(lk_store_count(e.store, "nope"), -1);
	ck_assert_int_eq(lk_store_count(e.store, ""), -1);
	ck_assert_int_eq(lk_store_count(e.store, "sqlite_master"), -1);
	ck_assert_int_eq(lk_store_count(e.store, "audit; DROP TABLE audit"), -1);
	ck_assert_int_eq(lk_store_count(e.store, "AUDIT"), -1);
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), 0);
	issue(&e, "a");
	issue(&e, "b");
	ck_assert_int_eq(lk_store_count(e.store, "api_key"), 2);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), 1);
	ck_assert_int_ge(lk_store_count(e.store, "audit"), 2);
	ck_assert_int_eq(lk_store_count(e.store, "nope"), -1);
	lk_store_close(NULL);
}
END_TEST

/* ----------------------------------------------------------------- config */

static void write_conf_at(const char *path, const char *text)
{
	write_file(path, text, strlen(text), 0644);
}

static void write_conf(char *path, size_t pathlen, const char *text)
{
	in_dir(path, pathlen, "test.conf");
	write_file(path, text, strlen(text), 0644);
}

START_TEST(test_config_default)
{
	char dir[PATH_MAX], want[PATH_MAX + 64];
	const struct lk_config *c = e.cfg;

	ck_assert_ptr_nonnull(realpath(e.dir, dir));
	snprintf(want, sizeof(want), "%s/latchkey.conf", dir);
	ck_assert_str_eq(c->path, want);
	snprintf(want, sizeof(want), "%s/latchkey.db", dir);
	ck_assert_str_eq(c->database, want);
	snprintf(want, sizeof(want), "%s/master.key", dir);
	ck_assert_str_eq(c->master_key, want);
	snprintf(want, sizeof(want), "%s/signing.key", dir);
	ck_assert_str_eq(c->signing_key, want);
	snprintf(want, sizeof(want), "%s/policies", dir);
	ck_assert_str_eq(c->policy_dir, want);
	snprintf(want, sizeof(want), "%s/run/auth.sock", dir);
	ck_assert_str_eq(c->auth_socket, want);
	snprintf(want, sizeof(want), "%s/run/admin.sock", dir);
	ck_assert_str_eq(c->admin_socket, want);
	/* Absolute paths are kept as written. */
	ck_assert_str_eq(c->plugin_dir, "/nonexistent");
	ck_assert_int_eq(c->key_max_lifetime, 90LL * 86400);
	ck_assert_int_eq(c->rotation_grace, 24LL * 3600);
	ck_assert_int_eq(c->rotation_age, 60LL * 86400);
	ck_assert(!c->allow_never_expiring);

	/* lk_config_write_default never overwrites. */
	{
		struct lk_err err = { { 0 } };
		struct stat before, after;
		ck_assert_int_eq(stat(e.conf, &before), 0);
		ck_assert_int_eq(lk_config_write_default(e.conf, "/x", &err), LK_EEXIST);
		ck_assert_int_eq(stat(e.conf, &after), 0);
		ck_assert_int_eq(before.st_size, after.st_size);
	}
}
END_TEST

START_TEST(test_config_relative_paths)
{
	char dir[PATH_MAX], want[PATH_MAX + 64], sub[PATH_MAX + 64], conf[PATH_MAX + 80];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	int cwd, r;

	/* Relative to the config file's directory, not the working directory. */
	in_dir(sub, sizeof(sub), "etc");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	snprintf(conf, sizeof(conf), "%s/lk.conf", sub);
	write_conf_at(conf,
	              "database = state/lk.db\nmaster_key = ../master.key\npolicy_dir = /srv/p\n");
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cwd, 0);
	ck_assert_int_eq(chdir("/"), 0);
	r = lk_config_load(conf, &cfg, &err);
	ck_assert_int_eq(fchdir(cwd), 0);
	ck_assert_msg(r == LK_OK, "%s", err.msg);
	ck_assert_ptr_nonnull(realpath(sub, dir));
	snprintf(want, sizeof(want), "%s/state/lk.db", dir);
	ck_assert_str_eq(cfg->database, want);
	snprintf(want, sizeof(want), "%s/../master.key", dir);
	ck_assert_str_eq(cfg->master_key, want);
	ck_assert_str_eq(cfg->policy_dir, "/srv/p");
	lk_config_free(cfg);
	cfg = NULL;

	/* The config named by a relative path still yields absolute paths. */
	ck_assert_int_eq(chdir(e.dir), 0);
	r = lk_config_load("etc/lk.conf", &cfg, &err);
	ck_assert_int_eq(fchdir(cwd), 0);
	close(cwd);
	ck_assert_msg(r == LK_OK, "%s", err.msg);
	ck_assert_int_eq(cfg->path[0], '/');
	snprintf(want, sizeof(want), "%s/lk.conf", dir);
	ck_assert_str_eq(cfg->path, want);
	snprintf(want, sizeof(want), "%s/state/lk.db", dir);
	ck_assert_str_eq(cfg->database, want);
	lk_config_free(cfg);
	lk_config_free(NULL);
}
END_TEST

START_TEST(test_config_defaults_and_values)
{
	char path[PATH_MAX + 64];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };

	write_conf(path, sizeof(path), "database = a.db\nmaster_key = m.key\npolicy_dir = p\n");
	ck_assert_msg(lk_config_load(path, &cfg, &err) == LK_OK, "%s", err.msg);
	ck_assert_int_eq(cfg->key_max_lifetime, LK_DEFAULT_MAX_LIFETIME);
	ck_assert_int_eq(cfg->key_max_lifetime, 90LL * 86400);
	ck_assert_int_eq(cfg->rotation_grace, 24LL * 3600);
	ck_assert_int_eq(cfg->rotation_age, 60LL * 86400);
	ck_assert(!cfg->allow_never_expiring);
	ck_assert(!cfg->durability_normal); /* fsync unless told otherwise */
	ck_assert_uint_eq(cfg->group_commit_max, LK_DEFAULT_GROUP_COMMIT_MAX);
	ck_assert_ptr_null(cfg->signing_key);
	ck_assert_ptr_null(cfg->plugin_dir);
	lk_config_free(cfg);
	cfg = NULL;

	/* Comments, blank lines, spaces, tabs and CRLF line ends. */
	write_conf(path, sizeof(path),
	           "# a comment\r\n\r\n  database=a.db\r\n\tmaster_key =\tm.key \r\n"
	           "policy_dir = p\nkey_max_lifetime = 30d\nrotation_grace = 2h\n"
	           "rotation_age = 3w\nallow_never_expiring = yes\ndurability = normal\n"
	           "group_commit_max = 1\n   # trailing comment");
	ck_assert_msg(lk_config_load(path, &cfg, &err) == LK_OK, "%s", err.msg);
	ck_assert(cfg->durability_normal);
	ck_assert_uint_eq(cfg->group_commit_max, 1);
	ck_assert_int_eq(cfg->key_max_lifetime, 30LL * 86400);
	ck_assert_int_eq(cfg->rotation_grace, 2LL * 3600);
	ck_assert_int_eq(cfg->rotation_age, 21LL * 86400);
	ck_assert(cfg->allow_never_expiring);
	ck_assert_ptr_nonnull(strstr(cfg->master_key, "/m.key"));
	ck_assert_int_eq(cfg->master_key[strlen(cfg->master_key) - 1], 'y');
	lk_config_free(cfg);
	cfg = NULL;

	write_conf(path, sizeof(path),
	           "database = a.db\nmaster_key = m.key\npolicy_dir = p\n"
	           "allow_never_expiring = no\nrotation_grace = 90d\n");
	ck_assert_msg(lk_config_load(path, &cfg, &err) == LK_OK, "grace == max: %s", err.msg);
	ck_assert(!cfg->allow_never_expiring);
	lk_config_free(cfg);
}
END_TEST

static const char base_conf[] = "database = a.db\nmaster_key = m.key\npolicy_dir = p\n";

/* Loads text; expects LK_EINVAL, nothing returned, and a message naming
 * "file:line:" (line > 0) or the file (line 0), plus each needle. */
static void expect_config_error(const char *text, int line, const char *n1, const char *n2)
{
	char path[PATH_MAX + 64], where[PATH_MAX + 80];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };

	write_conf(path, sizeof(path), text);
	ck_assert_msg(lk_config_load(path, &cfg, &err) == LK_EINVAL, "accepted:\n%s", text);
	ck_assert_ptr_null(cfg);
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%d:", path, line);
	else
		snprintf(where, sizeof(where), "%s", path);
	assert_msg_has(&err, where);
	if (n1 != NULL)
		assert_msg_has(&err, n1);
	if (n2 != NULL)
		assert_msg_has(&err, n2);
}

START_TEST(test_config_errors)
{
	char text[512];

	snprintf(text, sizeof(text), "%s# comment\n\ncolour = blue\n", base_conf);
	expect_config_error(text, 6, "unknown setting", "'colour'");
	snprintf(text, sizeof(text), "%sdatabase = b.db\n", base_conf);
	expect_config_error(text, 4, "'database'", "twice");
	snprintf(text, sizeof(text), "%skey_max_lifetime = 10y\n", base_conf);
	expect_config_error(text, 4, "'10y'", "key_max_lifetime");
	snprintf(text, sizeof(text), "%srotation_grace = 0h\n", base_conf);
	expect_config_error(text, 4, "'0h'", "rotation_grace");
	snprintf(text, sizeof(text), "%srotation_age = \n", base_conf);
	expect_config_error(text, 4, "rotation_age", NULL);
	snprintf(text, sizeof(text), "# header\n%s\ndatabase b.db\n", base_conf);
	expect_config_error(text, 6, "name = value", NULL);
	snprintf(text, sizeof(text), "%sallow_never_expiring = maybe\n", base_conf);
	expect_config_error(text, 4, "'maybe'", "allow_never_expiring");
	snprintf(text, sizeof(text), "%sdurability = sometimes\n", base_conf);
	expect_config_error(text, 4, "'sometimes'", "fsync or normal");
	snprintf(text, sizeof(text), "%sgroup_commit_max = 0\n", base_conf);
	expect_config_error(text, 4, "'0'", "group_commit_max");
	snprintf(text, sizeof(text), "%sgroup_commit_max = 1025\n", base_conf);
	expect_config_error(text, 4, "'1025'", "1 to 1024");
	snprintf(text, sizeof(text), "%sgroup_commit_max = -3\n", base_conf);
	expect_config_error(text, 4, "'-3'", NULL);
	snprintf(text, sizeof(text), "%sgroup_commit_max = 8x\n", base_conf);
	expect_config_error(text, 4, "'8x'", NULL);
	expect_config_error("database =\nmaster_key = m\npolicy_dir = p\n", 1, "'database'", NULL);
	/* Missing required settings name the setting (no line to point at). */
	expect_config_error("master_key = m.key\npolicy_dir = p\n", 0, "'database'", "missing");
	expect_config_error("database = a.db\npolicy_dir = p\n", 0, "'master_key'", "missing");
	expect_config_error("", 0, "'database'", "missing");
	/* A grace period longer than a key may live makes no sense. */
	snprintf(text, sizeof(text), "%skey_max_lifetime = 7d\nrotation_grace = 8d\n", base_conf);
	expect_config_error(text, 0, "rotation_grace", "key_max_lifetime");
}
END_TEST

/*
 * Every setting, not just the paths, may appear once: a second
 * "key_max_lifetime" silently overriding the first is exactly the mistake
 * config review misses (config-private.h: duplicates are errors).
 */
START_TEST(test_config_duplicate_rules)
{
	char text[512];

	snprintf(text, sizeof(text), "%skey_max_lifetime = 30d\nkey_max_lifetime = 900d\n",
	         base_conf);
	expect_config_error(text, 5, "'key_max_lifetime'", "twice");
	snprintf(text, sizeof(text), "%srotation_grace = 1h\nrotation_grace = 2h\n", base_conf);
	expect_config_error(text, 5, "'rotation_grace'", "twice");
	snprintf(text, sizeof(text), "%sallow_never_expiring = no\nallow_never_expiring = yes\n",
	         base_conf);
	expect_config_error(text, 5, "'allow_never_expiring'", "twice");
}
END_TEST

START_TEST(test_config_missing_file)
{
	char path[PATH_MAX + 64];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };

	in_dir(path, sizeof(path), "absent.conf");
	ck_assert_int_eq(lk_config_load(path, &cfg, &err), LK_ENOTFOUND);
	ck_assert_ptr_null(cfg);
	assert_msg_has(&err, path);
	ck_assert_int_eq(lk_config_load(e.dir, &cfg, &err), LK_EINVAL);
	assert_msg_has(&err, "not a regular file");
}
END_TEST

/* A config another user could have written (or owns) is refused: it names
 * the database and the key rules. */
START_TEST(test_config_unsafe_owner_mode)
{
	static const char text[] = "database = d.db\nmaster_key = m.key\npolicy_dir = p\n";
	const mode_t bad_modes[] = { 0666, 0646, 0664 };
	char path[PATH_MAX + 64];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };

	write_conf(path, sizeof(path), text);
	ck_assert_msg(lk_config_load(path, &cfg, &err) == LK_OK, "%s", err.msg);
	lk_config_free(cfg);
	cfg = NULL;
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		ck_assert_int_eq(chmod(path, bad_modes[i]), 0);
		ck_assert_int_eq(lk_config_load(path, &cfg, &err), LK_EINVAL);
		ck_assert_ptr_null(cfg);
		assert_msg_has(&err, "unsafe permissions");
	}
	ck_assert_int_eq(chmod(path, 0644), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		ck_assert_int_eq(lk_config_load(path, &cfg, &err), LK_EINVAL);
		ck_assert_ptr_null(cfg);
		assert_msg_has(&err, "owned by uid 65534");
	}
}
END_TEST

START_TEST(test_config_locate)
{
	const char *saved = getenv(LK_CONFIG_ENV);
	char *copy = saved != NULL ? strdup(saved) : NULL;

	ck_assert_int_eq(unsetenv(LK_CONFIG_ENV), 0);
	ck_assert_str_eq(lk_config_locate(NULL), LK_DEFAULT_CONFIG);
	ck_assert_str_eq(LK_DEFAULT_CONFIG, "/etc/latchkey/latchkey.conf");
	ck_assert_str_eq(lk_config_locate("/cli.conf"), "/cli.conf");

	ck_assert_int_eq(setenv(LK_CONFIG_ENV, "/env.conf", 1), 0);
	ck_assert_str_eq(lk_config_locate(NULL), "/env.conf");
	ck_assert_str_eq(lk_config_locate("/cli.conf"), "/cli.conf");

	/* An empty variable is as good as unset. */
	ck_assert_int_eq(setenv(LK_CONFIG_ENV, "", 1), 0);
	ck_assert_str_eq(lk_config_locate(NULL), LK_DEFAULT_CONFIG);

	if (copy != NULL)
		setenv(LK_CONFIG_ENV, copy, 1);
	else
		unsetenv(LK_CONFIG_ENV);
	free(copy);
}
END_TEST

Suite *store_suite(void);

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("migrations");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fresh_store_schema);
	tcase_add_test(tc, test_migrate_from_every_version);
	tcase_add_test(tc, test_migrate_to_bounds);
	tcase_add_test(tc, test_newer_version_refused);
	tcase_add_test(tc, test_newer_version_readonly_message);
	tcase_add_test(tc, test_foreign_database_untouched);
	tcase_add_test(tc, test_empty_database_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_db_created_0600);
	tcase_add_test(tc, test_create_existing_refused);
	tcase_add_test(tc, test_master_created_0600);
	suite_add_tcase(s, tc);

	tc = tcase_create("masterkey");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_master_refuses_symlink);
	tcase_add_test(tc, test_master_refuses_non_regular);
	tcase_add_test(tc, test_master_refuses_open_modes);
	tcase_add_test(tc, test_master_refuses_wrong_size);
	tcase_add_test(tc, test_master_missing);
	tcase_add_test(tc, test_master_refuses_other_owner);
	tcase_add_test(tc, test_master_subkeys);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_missing);
	tcase_add_test(tc, test_open_random_bytes);
	tcase_add_test(tc, test_open_truncated);
	tcase_add_test(tc, test_open_not_regular);
	tcase_add_test(tc, test_readonly_store_refuses_mutation);
	tcase_add_test(tc, test_readonly_file_refused);
	tcase_add_test(tc, test_store_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_default);
	tcase_add_test(tc, test_config_relative_paths);
	tcase_add_test(tc, test_config_defaults_and_values);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_duplicate_rules);
	tcase_add_test(tc, test_config_missing_file);
	tcase_add_test(tc, test_config_locate);
	tcase_add_test(tc, test_config_unsafe_owner_mode);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tk_run_suite(store_suite());
}
