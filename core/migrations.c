/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbered schema migrations. Each entry moves the schema from version i to
 * i + 1 and is never edited once released: fixes go in a new entry. The
 * database's PRAGMA user_version records how far it has come.
 */
#include "config.h"

#include "migrations-private.h"

static const char migration_1[] =
    /* People and principals appear in audit rows only as a random pseudonym;
     * the name lives here so that erasing it leaves the chain intact. */
    "CREATE TABLE subject ("
    "  subject_ref TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('owner', 'source')),"
    "  name TEXT,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (kind, name)"
    ");"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  actor_uid INTEGER NOT NULL,"
    "  subject_ref TEXT,"
    "  kid TEXT,"
    "  action TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  leaf BLOB NOT NULL,"
    "  chain BLOB NOT NULL"
    ");"
    "CREATE INDEX audit_kid ON audit (kid);"
    "CREATE INDEX audit_subject ON audit (subject_ref);"
    "CREATE INDEX audit_ts ON audit (ts);"
    /* Append-only inside SQLite too. Someone with write access to the file
     * can drop these; the hash chain is what catches that. */
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;";

static const char migration_2[] =
    "CREATE TABLE api_key ("
    "  kid TEXT PRIMARY KEY,"
    "  owner_ref TEXT NOT NULL REFERENCES subject (subject_ref),"
    "  env TEXT NOT NULL,"
    "  scopes TEXT NOT NULL,"
    "  allow_cidrs TEXT NOT NULL DEFAULT '',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  hash BLOB NOT NULL,"
    "  hash_alg TEXT NOT NULL,"
    "  pepper_ver INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER," /* NULL: never (only when the config allows it) */
    "  last_used INTEGER,"
    "  status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),"
    "  status_changed INTEGER,"
    "  status_reason TEXT,"
    "  rotated_from TEXT REFERENCES api_key (kid),"
    "  rotated_to TEXT REFERENCES api_key (kid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX api_key_owner ON api_key (owner_ref);"
    "CREATE INDEX api_key_expires ON api_key (expires);";

/* Evidence of the code that made decisions (SOC 2 CC6.8, CC7.1): each
 * distinct plugin build the engine ever loaded, by content hash. */
static const char migration_3[] = "CREATE TABLE plugin_evidence ("
                                  "  sha256 TEXT PRIMARY KEY,"
                                  "  name TEXT NOT NULL,"
                                  "  version TEXT NOT NULL,"
                                  "  path TEXT NOT NULL,"
                                  "  first_loaded INTEGER NOT NULL"
                                  ") WITHOUT ROWID;";

/* TOTP second factor (core/totp.c) and brute-force lockout (core/lockout.c).
 * A user has at most one credential, pending until a first code confirms
 * it. The seed is only ever stored sealed (XChaCha20-Poly1305 under the
 * factor-seal subkey, associated data = cred_id); last_step is the last
 * accepted time step, checked and advanced in one transaction so a code is
 * accepted at most once. Recovery codes are stored as keyed hashes. */
static const char migration_4[] =
    "CREATE TABLE totp_credential ("
    "  cred_id TEXT PRIMARY KEY,"
    "  user_ref TEXT NOT NULL UNIQUE REFERENCES subject (subject_ref),"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'active')),"
    "  alg TEXT NOT NULL CHECK (alg IN ('SHA1', 'SHA256', 'SHA512')),"
    "  digits INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 8),"
    "  period INTEGER NOT NULL CHECK (period BETWEEN 15 AND 300),"
    "  issuer TEXT NOT NULL,"
    "  seed_sealed BLOB NOT NULL,"
    "  seed_nonce BLOB NOT NULL,"
    "  seal_ver INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  confirmed INTEGER,"
    "  last_step INTEGER," /* NULL: no code accepted yet */
    "  last_used INTEGER"
    ") WITHOUT ROWID;"
    "CREATE TABLE totp_recovery ("
    "  cred_id TEXT NOT NULL REFERENCES totp_credential (cred_id) ON DELETE CASCADE,"
    "  hash BLOB NOT NULL,"
    "  used_at INTEGER,"
    "  PRIMARY KEY (cred_id, hash)"
    ") WITHOUT ROWID;"
    /* As documented in core/lockout-private.h: id is a credential id, or a
     * source's pseudonym; failures are real failures since window_start. */
    "CREATE TABLE lockout ("
    "  kind TEXT NOT NULL CHECK (kind IN ('credential', 'source')),"
    "  id TEXT NOT NULL,"
    "  failures INTEGER NOT NULL,"
    "  window_start INTEGER NOT NULL,"
    "  locked_until INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (kind, id)"
    ") WITHOUT ROWID;";

/* Client certificates (core/certs.c, plugins/mtls): the inventory of every
 * certificate a plugin accepted (SOC 2 CC6.1, ISO 27001 8.24), and the
 * certificate an API key is bound to (RFC 8705-style sender-constrained
 * keys): a bound key works only presented with that certificate. */
static const char migration_5[] =
    "CREATE TABLE certificate ("
    "  sha256 TEXT PRIMARY KEY," /* lowercase hex of the DER's SHA-256 */
    "  subject TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  not_before INTEGER NOT NULL,"
    "  not_after INTEGER NOT NULL,"
    "  principal_ref TEXT REFERENCES subject (subject_ref),"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  last_service TEXT NOT NULL,"
    "  uses INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX certificate_not_after ON certificate (not_after);"
    "ALTER TABLE api_key ADD COLUMN cert_sha256 TEXT;";

/* Signed checkpoints of the audit chain (core/checkpoint.c, decision 0010):
 * each row signs, with the Ed25519 signing key, the chain value at
 * audit_seq and the SHA-256 of the previous checkpoint's manifest, so a cut
 * tail or a rewritten and rehashed log shows against it. manifest holds the
 * exact bytes signed; the other columns repeat its fields for queries.
 * Append-only like the audit table. */
static const char migration_6[] =
    "CREATE TABLE checkpoint ("
    "  number INTEGER PRIMARY KEY," /* contiguous from 1 */
    "  ts INTEGER NOT NULL,"
    "  audit_seq INTEGER NOT NULL,"
    "  audit_chain BLOB NOT NULL,"
    "  previous BLOB NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  manifest TEXT NOT NULL,"
    "  signature BLOB NOT NULL"
    ");"
    "CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON checkpoint"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;";

/* Retention (core/gdpr.c, decision 0011): latchkey audit purge removes
 * whole old segments of the log. The delete triggers let a row (or a
 * checkpoint) go only while a purge marker covering it exists, which the
 * purge inserts and deletes again inside its own transaction; the update
 * triggers stay unconditional, so no marker ever allows an edit. audit
 * verify reports a marker left behind as tampering. */
static const char migration_7[] =
    "CREATE TABLE audit_purge ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  upto_seq INTEGER NOT NULL," /* audit rows with seq <= upto_seq may go */
    "  anchor INTEGER NOT NULL"    /* checkpoints numbered below it may go */
    ");"
    "DROP TRIGGER audit_no_delete;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  WHEN NOT EXISTS (SELECT 1 FROM audit_purge WHERE OLD.seq <= upto_seq)"
    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
    "DROP TRIGGER checkpoint_no_delete;"
    "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint"
    "  WHEN NOT EXISTS (SELECT 1 FROM audit_purge WHERE OLD.number < anchor)"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;";

/* The SOC 2 pack's success-with-unusable-key test (reports/soc2.c) asks,
 * for every success, whether its key had a revoke or suspend (and no
 * resume since) earlier in the log. With audit_kid alone each such probe
 * read every earlier row of that key from the table to test its action:
 * O(rows^2 / keys), over ten minutes on 1,000,000 decisions (bench_report).
 * With the action in the index the probe is a covering range seek. */
static const char migration_8[] = "CREATE INDEX audit_kid_action ON audit (kid, action);";

/* Evidence of the policies that made decisions (SOC 2 CC6.1, CC8.1): each
 * distinct policy the engine ever put into service, by the SHA-256 that
 * every auth.decision records (policy=<hex>), so a report can say what a
 * decision's policy asked for long after the file changed. steps is a
 * summary ("apikey required, totp required; step-up totp for ssh:admin");
 * required_factors is the fewest distinct plugins any success under the
 * policy must pass, by the rule in core/engine.c (policy_required_factors);
 * last_loaded is the latest load that found it in force. */
static const char migration_9[] = "CREATE TABLE policy_evidence ("
                                  "  sha256 TEXT PRIMARY KEY,"
                                  "  service TEXT NOT NULL,"
                                  "  steps TEXT NOT NULL,"
                                  "  required_factors INTEGER NOT NULL,"
                                  "  first_loaded INTEGER NOT NULL,"
                                  "  last_loaded INTEGER NOT NULL"
                                  ") WITHOUT ROWID;";

const char *const lk_migrations[] = { migration_1, migration_2, migration_3,
	                              migration_4, migration_5, migration_6,
	                              migration_7, migration_8, migration_9 };
const int lk_migration_count = (int)(sizeof(lk_migrations) / sizeof(lk_migrations[0]));
