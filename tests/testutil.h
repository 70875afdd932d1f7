/* SPDX-License-Identifier: Apache-2.0 */
/* Shared fixtures for the Check suites: each test gets its own state dir. */
#ifndef LATCHKEY_TESTUTIL_H
#define LATCHKEY_TESTUTIL_H

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit-private.h"
#include "config-private.h"
#include "keys-private.h"
#include "masterkey-private.h"
#include "signing-private.h"
#include "store-private.h"

/* A fixed "now" for deterministic time arithmetic: 2026-11-01T00:00:00Z. */
#define TK_NOW   INT64_C(1793491200)
#define TK_ACTOR 1000

struct tk_env {
	char dir[PATH_MAX];
	char conf[PATH_MAX + 32];
	char db[PATH_MAX + 32];
	char master_path[PATH_MAX + 32];
	struct lk_config *cfg;
	struct lk_master *master;
	struct lk_store *store;
	struct lk_key_rules rules;
};

/* Makes a temp dir with a master key, a default config and a fresh,
 * migrated database opened with the master key. Aborts the test on failure. */
void tk_setup(struct tk_env *e);

/* Closes everything and removes the directory. */
void tk_teardown(struct tk_env *e);

/* mkdtemp under $TMPDIR (or /tmp); the template prefix names the suite. */
void tk_mkdtemp(char *out, size_t outlen, const char *prefix);

/* rm -rf for a test directory (no symlinks followed). */
void tk_rmrf(const char *path);

/* Issues a key with sensible defaults; returns the full key string in key
 * (LK_KEY_MAX_LEN + 1) and its kid. */
void tk_issue(struct tk_env *e, const char *owner, const char *env, const char *scope,
              int64_t lifetime, char *key, char *kid);

/* Snapshot of what "nothing changed" means: row counts and the chain head. */
struct tk_snapshot {
	long long audit, keys, subjects;
	int64_t head_seq;
	unsigned char head[LK_CHAIN_LEN];
};
void tk_snapshot(struct lk_store *store, struct tk_snapshot *s);
void tk_assert_unchanged(struct lk_store *store, const struct tk_snapshot *before);

/* The single integer a query returns ("SELECT count(*) ..."). */
long long tk_count(sqlite3 *db, const char *sql);

/* A TOTP user as an authenticator app sees them: the seed from the otpauth
 * URI's secret (default parameters: SHA-1, 6 digits, 30 s). */
struct tk_totp {
	unsigned char seed[64];
	size_t seed_len;
};

/* Enrolls user through the core and confirms the credential with the code
 * of time t (that step is then used up); u gets the seed. */
void tk_totp_enroll(struct lk_store *store, const char *user, int64_t t, struct tk_totp *u);

/* The code u's app shows at time t (at least 9 bytes). */
void tk_totp_code(const struct tk_totp *u, int64_t t, char *code);

/* A whole file, NUL-terminated (malloc'd); its length in ret_len (NULL:
 * not wanted). Aborts the test if it cannot be read. */
char *tk_slurp(const char *path, size_t *ret_len);

/* A fresh Ed25519 signing key in e->dir (signing.key, signing.pub.pem, as
 * latchkey init makes them), loaded; the caller frees it. */
struct lk_signer *tk_signer(const struct tk_env *e);

/* Runs SQL on db; aborts the test with SQLite's message if it fails. */
void tk_sql(sqlite3 *db, const char *statement);

/* Every occurrence of from in *s replaced with to (*s is malloc'd). */
void tk_replace_all(char **s, const char *from, const char *to);

/* The value of every attr="..." in *s becomes "*" (volatile values in a
 * golden XML file). */
void tk_blank_attr(char **s, const char *attr);

/* The command is on PATH. */
bool tk_have(const char *prog);

/* Runs a shell command in dir, its output discarded; its exit status (128:
 * it did not exit). */
int tk_run_in(const char *dir, const char *cmd);

/* Runs a Check suite with CK_ENV fork mode; returns the process exit code. */
int tk_run_suite(Suite *s);

#endif
