/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed audit checkpoints: the Ed25519 signing key (created 0600, refused
 * when too open or a symlink, its public half a PEM openssl reads), the
 * checkpoint manifest and its signature checked with the openssl command,
 * every kind of tampering found and located by the chain and the
 * checkpoints together, the daemon's timer on an injected clock, and
 * latchkeyd signing one at SIGTERM. Tamper tests drop the append-only
 * triggers first, as whoever can write the file can.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint-private.h"
#include "daemon-fixture.h"
#include "testutil.h"
#include "util-private.h"

extern char **environ;

Suite *checkpoint_suite(void);

static struct tk_env e;
static struct lk_signer *signer;
static char key_path[PATH_MAX + 32], pub_path[PATH_MAX + 32];

static void setup(void)
{
	tk_setup(&e);
	signer = tk_signer(&e);
	snprintf(key_path, sizeof(key_path), "%s/signing.key", e.dir);
	snprintf(pub_path, sizeof(pub_path), "%s/signing.pub.pem", e.dir);
}

static void teardown(void)
{
	lk_signer_free(signer);
	signer = NULL;
	tk_teardown(&e);
}

/* ---- helpers ---------------------------------------------------------- */

static void sql(const char *statement)
{
	tk_sql(e.store->db, statement);
}

static void drop_triggers(void)
{
	sql("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
	    "DROP TRIGGER checkpoint_no_update; DROP TRIGGER checkpoint_no_delete;");
}

/* What a careful attacker does after editing: put the triggers back, so
 * the schema check alone gives nothing away. */
static void restore_triggers(void)
{
	sql("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	    "  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	    "CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON checkpoint"
	    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
	    "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint"
	    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;");
}

/* Events first..last, each in its own transaction as the daemon commits. */
static void add_events(int first, int last)
{
	struct lk_err err = { { 0 } };
	char kid[16], detail[32];

	for (int i = first; i <= last; i++) {
		snprintf(kid, sizeof(kid), "kid%09d", i);
		snprintf(detail, sizeof(detail), "i=%d", i);
		ck_assert_msg(lk_audit_record(e.store,
		                              &(struct lk_audit_event){ .ts = TK_NOW + i,
		                                                        .actor_uid = TK_ACTOR,
		                                                        .kid = kid,
		                                                        .action = "key.verify",
		                                                        .reason = "ok",
		                                                        .detail = detail },
		                              NULL, &err) == LK_OK,
		              "%s", err.msg);
	}
}

static void make_cp_with(const struct lk_signer *s, int64_t t, struct lk_checkpoint *cp)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(
	    lk_checkpoint_make(e.store, s, t, TK_ACTOR, LK_CHECKPOINT_INTERVAL, cp, &err) == LK_OK,
	    "%s", err.msg);
}

static void make_cp(struct lk_checkpoint *cp)
{
	make_cp_with(signer, TK_NOW + 1000 + lk_store_count(e.store, "checkpoint"), cp);
}

static void verify_with(const unsigned char *pk, struct lk_verify_report *rep)
{
	struct lk_err err = { { 0 } };

	memset(rep, 0xa5, sizeof(*rep));
	ck_assert_msg(lk_checkpoint_verify(e.store, pk, rep, &err) == LK_OK, "%s", err.msg);
}

static void verify(struct lk_verify_report *rep)
{
	verify_with(lk_signer_public(signer), rep);
}

static void assert_problem(const struct lk_verify_report *rep, enum lk_audit_problem p,
                           int64_t bad_seq, const char *text)
{
	ck_assert_msg(rep->audit.problem == p, "want %s, got %s (%s)", lk_audit_problem_str(p),
	              lk_audit_problem_str(rep->audit.problem), rep->audit.why);
	ck_assert_msg(rep->audit.bad_seq == bad_seq, "bad_seq %lld, want %lld (%s)",
	              (long long)rep->audit.bad_seq, (long long)bad_seq, rep->audit.why);
	ck_assert_msg(strstr(rep->audit.why, text) != NULL, "why '%s' does not say '%s'",
	              rep->audit.why, text);
}

/*
 * The log the tamper tests start from: events at seqs 1..6, checkpoint 1
 * over seq 6 (its row at 7), events 8..13, checkpoint 2 over 13 (its row at
 * 14), events 15..16.
 */
static void standard_log(void)
{
	struct lk_checkpoint cp;

	add_events(1, 6);
	make_cp(&cp);
	ck_assert_int_eq(cp.audit_seq, 6);
	ck_assert_int_eq(cp.record_seq, 7);
	add_events(8, 13);
	make_cp(&cp);
	ck_assert_int_eq(cp.number, 2);
	ck_assert_int_eq(cp.audit_seq, 13);
	add_events(15, 16);
}

/* The leaf encoding as audit-private.h documents it, written out again:
 * an attacker has the source. */
static void put_u64(crypto_generichash_state *st, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	crypto_generichash_update(st, b, sizeof(b));
}

static void chain_at(int64_t seq, unsigned char out[LK_CHAIN_LEN])
{
	sqlite3_stmt *st;

	memset(out, 0, LK_CHAIN_LEN);
	if (seq == 0)
		return;
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db, "SELECT chain FROM audit WHERE seq = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	memcpy(out, sqlite3_column_blob(st, 0), LK_CHAIN_LEN);
	sqlite3_finalize(st);
}

/* Recomputes seq's leaf from its content and its chain from seq - 1's. */
static void rehash_row(int64_t seq)
{
	static const char domain[] = "latchkey-audit-leaf-v1";
	unsigned char leaf[LK_CHAIN_LEN], prev[LK_CHAIN_LEN], chain[LK_CHAIN_LEN];
	crypto_generichash_state h;
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT ts, actor_uid, subject_ref, kid, action,"
	                                    " reason, detail FROM audit WHERE seq = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	crypto_generichash_init(&h, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&h, (const unsigned char *)domain, sizeof(domain));
	put_u64(&h, (uint64_t)sqlite3_column_int64(st, 0));
	put_u64(&h, (uint64_t)sqlite3_column_int64(st, 1));
	for (int c = 2; c <= 6; c++) {
		if (sqlite3_column_type(st, c) == SQLITE_NULL) {
			put_u64(&h, UINT64_MAX);
			continue;
		}
		put_u64(&h, (uint64_t)sqlite3_column_bytes(st, c));
		crypto_generichash_update(&h, sqlite3_column_text(st, c),
		                          (size_t)sqlite3_column_bytes(st, c));
	}
	crypto_generichash_final(&h, leaf, LK_CHAIN_LEN);
	sqlite3_finalize(st);
	chain_at(seq - 1, prev);
	crypto_generichash_init(&h, NULL, 0, LK_CHAIN_LEN);
	crypto_generichash_update(&h, prev, LK_CHAIN_LEN);
	crypto_generichash_update(&h, leaf, LK_CHAIN_LEN);
	crypto_generichash_final(&h, chain, LK_CHAIN_LEN);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "UPDATE audit SET leaf = ?2, chain = ?3 WHERE seq = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, leaf, LK_CHAIN_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, chain, LK_CHAIN_LEN, SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Every row from seq on rehashed: a chain that links again throughout. */
static void rehash_from(int64_t seq)
{
	int64_t head = (int64_t)lk_store_count(e.store, "audit");

	for (int64_t s = seq; s <= head; s++)
		rehash_row(s);
}

/* A forged row at seq: the rows from seq on move up one. */
static void insert_row_at(int64_t seq)
{
	char stmt[512];

	snprintf(stmt, sizeof(stmt),
	         "UPDATE audit SET seq = seq + 1000000 WHERE seq >= %lld;"
	         "UPDATE audit SET seq = seq - 999999 WHERE seq >= 1000000;"
	         "INSERT INTO audit (seq, ts, actor_uid, subject_ref, kid, action, reason, detail,"
	         " leaf, chain) VALUES (%lld, %lld, 0, NULL, NULL, 'key.issue', 'ok', 'forged',"
	         " zeroblob(32), zeroblob(32));",
	         (long long)seq, (long long)seq, (long long)TK_NOW);
	sql(stmt);
}

/* Deletes seq and moves the rows after it down one. */
static void delete_row_renumber(int64_t seq)
{
	char stmt[256];

	snprintf(stmt, sizeof(stmt),
	         "DELETE FROM audit WHERE seq = %lld;"
	         "UPDATE audit SET seq = seq + 1000000 WHERE seq > %lld;"
	         "UPDATE audit SET seq = seq - 1000001 WHERE seq >= 1000000;",
	         (long long)seq, (long long)seq);
	sql(stmt);
}

static void write_bytes(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(p, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Runs a program found on PATH; its stdout (first outlen - 1 bytes) in
 * out, stderr to /dev/null. The exit status, or -1 if it cannot run. */
static int run_prog(const char *const *argv, char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int p[2], wst;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while ((n = read(p[0], out + got, outlen - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	out[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &wst, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

static bool have_openssl(void)
{
	char out[128];

	return run_prog((const char *const[]){ "openssl", "version", NULL }, out, sizeof(out)) == 0;
}

/* ---- the signing key -------------------------------------------------- */

START_TEST(test_key_files)
{
	struct lk_signer *again = NULL;
	struct lk_err err = { { 0 } };
	unsigned char pk[LK_SIGNING_PUBLIC_LEN];
	char id[LK_KEY_ID_LEN + 1], out[256];
	struct stat st;

	ck_assert_int_eq(lstat(key_path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, LK_SIGNING_SEED_LEN);
	ck_assert_int_eq(lstat(pub_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);

	/* The PEM holds the loaded key's public half, and the key id is the
	 * start of SHA-256 over its DER. */
	ck_assert_msg(lk_signing_read_public(pub_path, pk, &err) == LK_OK, "%s", err.msg);
	ck_assert_mem_eq(pk, lk_signer_public(signer), sizeof(pk));
	ck_assert_int_eq(lk_signing_key_id(pk, id, &err), LK_OK);
	ck_assert_str_eq(id, lk_signer_key_id(signer));
	ck_assert_uint_eq(strlen(id), LK_KEY_ID_LEN);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), LK_KEY_ID_LEN);

	/* Loading twice gives the same key. */
	ck_assert_int_eq(lk_signing_load(key_path, &again, &err), LK_OK);
	ck_assert_mem_eq(lk_signer_public(again), pk, sizeof(pk));
	lk_signer_free(again);
	lk_signer_free(NULL);

	if (!have_openssl())
		return;
	ck_assert_int_eq(run_prog((const char *const[]){ "openssl", "pkey", "-pubin", "-in",
	                                                 pub_path, "-noout", NULL },
	                          out, sizeof(out)),
	                 0);
	{
		char cmd[PATH_MAX + 128];
		snprintf(cmd, sizeof(cmd), "openssl pkey -pubin -in '%s' -outform DER | sha256sum",
		         pub_path);
		ck_assert_int_eq(
		    run_prog((const char *const[]){ "sh", "-c", cmd, NULL }, out, sizeof(out)), 0);
		ck_assert_msg(strncmp(out, id, LK_KEY_ID_LEN) == 0, "sha256sum %s, key id %s", out,
		              id);
	}
}
END_TEST

/* Two keys are not the same key. */
START_TEST(test_keys_differ)
{
	struct lk_signer *other = NULL;
	struct lk_err err = { { 0 } };
	char k2[PATH_MAX + 32], p2[PATH_MAX + 32], id[LK_KEY_ID_LEN + 1];

	snprintf(k2, sizeof(k2), "%s/other.key", e.dir);
	snprintf(p2, sizeof(p2), "%s/other.pub.pem", e.dir);
	ck_assert_int_eq(lk_signing_create(k2, p2, id, &err), LK_OK);
	ck_assert_int_eq(lk_signing_load(k2, &other, &err), LK_OK);
	ck_assert_str_eq(id, lk_signer_key_id(other));
	ck_assert_str_ne(id, lk_signer_key_id(signer));
	lk_signer_free(other);
}
END_TEST

static void assert_refused(const char *path, const char *text)
{
	struct lk_signer *s = NULL;
	struct lk_err err = { { 0 } };
	int r = lk_signing_load(path, &s, &err);

	ck_assert_msg(r == LK_ECRYPTO, "%s: got %d (%s)", path, r, err.msg);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err.msg, text) != NULL, "'%s' does not say '%s'", err.msg, text);
	ck_assert_msg(strstr(err.msg, "signing key") != NULL, "'%s' names no signing key", err.msg);
}

START_TEST(test_key_too_open)
{
	ck_assert_int_eq(chmod(key_path, 0644), 0);
	assert_refused(key_path, "chmod 600");
	ck_assert_int_eq(chmod(key_path, 0640), 0);
	assert_refused(key_path, "chmod 600");
	ck_assert_int_eq(chmod(key_path, 0604), 0);
	assert_refused(key_path, "mode 0604");
}
END_TEST

START_TEST(test_key_symlink)
{
	char link[PATH_MAX + 32];

	snprintf(link, sizeof(link), "%s/link.key", e.dir);
	ck_assert_int_eq(symlink(key_path, link), 0);
	assert_refused(link, "symlink");
}
END_TEST

START_TEST(test_key_bad_file)
{
	struct lk_signer *s = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX + 32];
	int fd;

	/* Not there: its own code, so latchkeyd can tell "none yet". */
	snprintf(path, sizeof(path), "%s/none.key", e.dir);
	ck_assert_int_eq(lk_signing_load(path, &s, &err), LK_ENOTFOUND);
	/* The wrong size. */
	snprintf(path, sizeof(path), "%s/short.key", e.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "short", 5), 5);
	close(fd);
	assert_refused(path, "5 bytes");
	/* A directory. */
	snprintf(path, sizeof(path), "%s/dir.key", e.dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	assert_refused(path, "not a regular file");
	/* A public key PEM that is not one. */
	snprintf(path, sizeof(path), "%s/bad.pem", e.dir);
	write_bytes(path, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 56);
	ck_assert_int_eq(lk_signing_read_public(path, (unsigned char[32]){ 0 }, &err), LK_EINVAL);
	ck_assert_int_eq(lk_signing_read_public(key_path, (unsigned char[32]){ 0 }, &err),
	                 LK_EINVAL);
}
END_TEST

/* Never over an existing file; and no key is left without its PEM. */
START_TEST(test_key_create_refuses)
{
	struct lk_err err = { { 0 } };
	unsigned char before[LK_SIGNING_SEED_LEN], after[LK_SIGNING_SEED_LEN];
	char k2[PATH_MAX + 32];
	struct stat st;
	FILE *f;

	f = fopen(key_path, "rb");
	ck_assert_uint_eq(fread(before, 1, sizeof(before), f), sizeof(before));
	fclose(f);
	ck_assert_int_eq(lk_signing_create(key_path, pub_path, NULL, &err), LK_EEXIST);
	f = fopen(key_path, "rb");
	ck_assert_uint_eq(fread(after, 1, sizeof(after), f), sizeof(after));
	fclose(f);
	ck_assert_mem_eq(before, after, sizeof(before));

	snprintf(k2, sizeof(k2), "%s/new.key", e.dir);
	ck_assert_int_eq(lk_signing_create(k2, pub_path, NULL, &err), LK_EEXIST);
	ck_assert_int_ne(lstat(k2, &st), 0);
	sodium_memzero(before, sizeof(before));
	sodium_memzero(after, sizeof(after));
}
END_TEST

/* ---- making checkpoints ----------------------------------------------- */

START_TEST(test_manifest)
{
	struct lk_checkpoint cp;
	unsigned char chain[LK_CHAIN_LEN];
	char want[LK_CHECKPOINT_MANIFEST_MAX], hex[2 * LK_CHAIN_LEN + 1];

	add_events(1, 3);
	chain_at(3, chain);
	sodium_bin2hex(hex, sizeof(hex), chain, sizeof(chain));
	make_cp_with(signer, TK_NOW, &cp);
	snprintf(want, sizeof(want),
	         "latchkey-checkpoint 1\n"
	         "number 1\n"
	         "time 2026-11-01T00:00:00Z\n"
	         "audit-seq 3\n"
	         "audit-chain %s\n"
	         "previous "
	         "0000000000000000000000000000000000000000000000000000000000000000\n"
	         "key-id %s\n",
	         hex, lk_signer_key_id(signer));
	ck_assert_str_eq(cp.manifest, want);
	ck_assert_uint_eq(cp.manifest_len, strlen(want));
	ck_assert(lk_signing_verify(lk_signer_public(signer), cp.manifest, cp.manifest_len,
	                            cp.signature));
	/* Pure Ed25519 over the manifest, exactly what libsodium's one-shot
	 * API makes. */
	ck_assert_int_eq(crypto_sign_verify_detached(cp.signature,
	                                             (const unsigned char *)cp.manifest,
	                                             cp.manifest_len, lk_signer_public(signer)),
	                 0);
	ck_assert_int_eq(lk_store_count(e.store, "checkpoint"), 1);
}
END_TEST

/* The audit row each checkpoint adds, and the link to the one before. */
START_TEST(test_records_and_links)
{
	struct lk_checkpoint c1, c2;
	unsigned char digest[LK_CHECKPOINT_DIGEST_LEN];
	char detail[128];
	struct lk_verify_report rep;
	sqlite3_stmt *st;

	add_events(1, 2);
	make_cp(&c1);
	make_cp(&c2);
	ck_assert_int_eq(c1.number, 1);
	ck_assert_int_eq(c1.audit_seq, 2);
	ck_assert_int_eq(c1.record_seq, 3);
	ck_assert_int_eq(c2.number, 2);
	ck_assert_int_eq(c2.audit_seq, 3); /* covers checkpoint 1's row */
	ck_assert_int_eq(c2.record_seq, 4);
	crypto_hash_sha256(digest, (const unsigned char *)c1.manifest, c1.manifest_len);
	ck_assert_mem_eq(c2.previous, digest, sizeof(digest));

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT action, reason, detail, actor_uid FROM audit"
	                                    " WHERE seq = 4",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "audit.checkpoint");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "interval");
	snprintf(detail, sizeof(detail), "number=2 audit_seq=3 key_id=%s",
	         lk_signer_key_id(signer));
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), detail);
	ck_assert_int_eq(sqlite3_column_int64(st, 3), TK_ACTOR);
	sqlite3_finalize(st);

	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.checkpoints, 2);
	ck_assert_int_eq(rep.last.number, 2);
	ck_assert_int_eq(rep.last.audit_seq, 3);
	ck_assert_int_eq(rep.last.ts, c2.ts);
	ck_assert_str_eq(rep.last.key_id, lk_signer_key_id(signer));
	ck_assert_int_eq(rep.audit.rows, 4);
	ck_assert_int_eq(rep.bad_checkpoint, 0);
}
END_TEST

START_TEST(test_empty_log)
{
	struct lk_checkpoint cp;
	struct lk_verify_report rep;
	unsigned char zero[LK_CHAIN_LEN] = { 0 };

	ck_assert_int_eq(lk_store_count(e.store, "audit"), 0);
	make_cp(&cp);
	ck_assert_int_eq(cp.number, 1);
	ck_assert_int_eq(cp.audit_seq, 0);
	ck_assert_mem_eq(cp.audit_chain, zero, LK_CHAIN_LEN);
	ck_assert_mem_eq(cp.previous, zero, LK_CHAIN_LEN);
	ck_assert_int_eq(cp.record_seq, 1);
	ck_assert_ptr_nonnull(strstr(cp.manifest, "\naudit-seq 0\n"));
	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.checkpoints, 1);
	ck_assert_int_eq(rep.last.audit_seq, 0);

	/* A log without checkpoints verifies as before, with or without a key. */
	sql("DROP TRIGGER checkpoint_no_delete; DELETE FROM checkpoint;"
	    "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint"
	    "  BEGIN SELECT RAISE(ABORT, 'x'); END;");
	sql("DROP TRIGGER audit_no_delete; DELETE FROM audit;"
	    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	    "  BEGIN SELECT RAISE(ABORT, 'x'); END;");
	verify_with(NULL, &rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.checkpoints, 0);
	ck_assert_int_eq(rep.last.number, 0);
}
END_TEST

/* Inside the daemon's group commit, a checkpoint is one unit among others. */
START_TEST(test_in_batch)
{
	struct lk_err err = { { 0 } };
	struct lk_checkpoint cp;
	struct lk_verify_report rep;

	add_events(1, 2);
	ck_assert_int_eq(lk_store_batch_begin(e.store, &err), LK_OK);
	add_events(3, 4);
	make_cp(&cp);
	add_events(6, 6);
	ck_assert_int_eq(lk_store_batch_commit(e.store, &err), LK_OK);
	ck_assert_int_eq(cp.audit_seq, 4);
	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.checkpoints, 1);
}
END_TEST

/* Bad input changes nothing. */
START_TEST(test_make_refuses)
{
	struct lk_err err = { { 0 } };
	struct lk_checkpoint cp;
	struct tk_snapshot before;

	add_events(1, 2);
	tk_snapshot(e.store, &before);
	ck_assert_int_eq(lk_checkpoint_make(e.store, NULL, TK_NOW, 0, "interval", &cp, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_checkpoint_make(e.store, signer, TK_NOW, 0, "bad trigger", &cp, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_checkpoint_make(e.store, signer, TK_NOW, 0, NULL, &cp, &err),
	                 LK_EINVAL);
	tk_assert_unchanged(e.store, &before);
	ck_assert_int_eq(lk_store_count(e.store, "checkpoint"), 0);

	/* A damaged last checkpoint is never signed over. */
	make_cp(&cp);
	tk_snapshot(e.store, &before);
	drop_triggers();
	sql("UPDATE checkpoint SET manifest = zeroblob(10) WHERE number = 1");
	ck_assert_int_eq(lk_checkpoint_make(e.store, signer, TK_NOW, 0, "interval", &cp, &err),
	                 LK_ESTORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
	tk_assert_unchanged(e.store, &before);
	ck_assert_int_eq(lk_store_count(e.store, "checkpoint"), 1);
}
END_TEST

/* The public PEM verifies the signature with openssl alone, the way
 * latchkey(1) tells an auditor to. */
START_TEST(test_openssl_verifies)
{
	struct lk_checkpoint cp;
	char manifest[PATH_MAX + 32], sig[PATH_MAX + 32], out[256];
	const char *const cmd[] = { "openssl", "pkeyutl", "-verify", "-pubin",   "-inkey", pub_path,
		                    "-rawin",  "-in",     manifest,  "-sigfile", sig,      NULL };

	if (!have_openssl()) {
		fprintf(stderr, "check_checkpoint: no openssl command, openssl test skipped\n");
		return;
	}
	add_events(1, 4);
	make_cp(&cp);
	snprintf(manifest, sizeof(manifest), "%s/manifest", e.dir);
	snprintf(sig, sizeof(sig), "%s/sig", e.dir);
	write_bytes(manifest, cp.manifest, cp.manifest_len);
	write_bytes(sig, cp.signature, LK_SIGNATURE_LEN);
	ck_assert_int_eq(run_prog(cmd, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "Signature Verified Successfully"));

	/* One byte of the manifest changed: openssl says no. */
	cp.manifest[strlen("latchkey-checkpoint 1\nnumber ")] = '7';
	write_bytes(manifest, cp.manifest, cp.manifest_len);
	ck_assert_int_ne(run_prog(cmd, out, sizeof(out)), 0);
}
END_TEST

/* The copy for syslog carries every manifest field and the signature:
 * enough to rebuild the manifest and verify it away from the database. */
START_TEST(test_copy_line)
{
	struct lk_checkpoint cp;
	unsigned char sig[LK_SIGNATURE_LEN];
	char line[512], want[256], hex[2 * LK_CHAIN_LEN + 1];
	const char *b64;
	size_t len;

	add_events(1, 2);
	make_cp(&cp);
	make_cp(&cp);
	lk_checkpoint_copy_line(&cp, line, sizeof(line));
	ck_assert_msg(strncmp(line, "audit checkpoint number=2 time=", 31) == 0, "%s", line);
	sodium_bin2hex(hex, sizeof(hex), cp.audit_chain, LK_CHAIN_LEN);
	snprintf(want, sizeof(want), " audit_seq=3 audit_chain=%s ", hex);
	ck_assert_ptr_nonnull(strstr(line, want));
	sodium_bin2hex(hex, sizeof(hex), cp.previous, LK_CHAIN_LEN);
	snprintf(want, sizeof(want), " previous=%s key_id=%s signature=", hex,
	         lk_signer_key_id(signer));
	ck_assert_ptr_nonnull(strstr(line, want));
	b64 = strstr(line, "signature=") + 10;
	ck_assert_int_eq(sodium_base642bin(sig, sizeof(sig), b64, strlen(b64), NULL, &len, NULL,
	                                   sodium_base64_VARIANT_ORIGINAL),
	                 0);
	ck_assert_uint_eq(len, LK_SIGNATURE_LEN);
	ck_assert_mem_eq(sig, cp.signature, LK_SIGNATURE_LEN);
}
END_TEST

/* ---- tampering: found and located ------------------------------------- */

START_TEST(test_intact)
{
	struct lk_verify_report rep;

	standard_log();
	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_INTACT, "%s", rep.audit.why);
	ck_assert_int_eq(rep.audit.rows, 16);
	ck_assert_int_eq(rep.checkpoints, 2);
	ck_assert_int_eq(rep.last.audit_seq, 13);
}
END_TEST

START_TEST(test_edited_row)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	sql("UPDATE audit SET reason = 'revoked' WHERE seq = 9");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_EDITED, 9, "seq 9 was edited");
	ck_assert_int_eq(rep.audit.head_seq, 8);
	ck_assert_int_eq(rep.checkpoints, 1); /* the one over seq 6 still holds */
}
END_TEST

START_TEST(test_deleted_row)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	sql("DELETE FROM audit WHERE seq = 9");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_MISSING, 9, "seq 9 is missing");
}
END_TEST

START_TEST(test_deleted_row_renumbered)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	delete_row_renumber(9);
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_BROKEN, 9, "seq 9 does not link to seq 8");
}
END_TEST

START_TEST(test_inserted_row)
{
	struct lk_verify_report rep;

	/* A forged row slipped in, the rest moved up one. */
	standard_log();
	drop_triggers();
	insert_row_at(9);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), 17);
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_INSERTED, 9, "seq 9 was inserted");
	ck_assert_int_eq(rep.audit.head_seq, 8);
}
END_TEST

START_TEST(test_inserted_row_linked)
{
	struct lk_verify_report rep;

	/* The forged row hashed and linked to seq 8: the row after it still
	 * names seq 8 as the one it was written after. */
	standard_log();
	drop_triggers();
	insert_row_at(9);
	rehash_row(9);
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_INSERTED, 9, "seq 9 was inserted");
	ck_assert_ptr_nonnull(strstr(rep.audit.why, "seq 10 was written right after seq 8"));
	ck_assert_int_eq(rep.audit.head_seq, 8);
	{
		unsigned char want[LK_CHAIN_LEN];
		chain_at(8, want);
		ck_assert_mem_eq(rep.audit.head, want, LK_CHAIN_LEN);
	}

	/* Two of them. */
	insert_row_at(9);
	rehash_row(9);
	rehash_row(10);
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_INSERTED, 9, "seqs 9..10 were inserted");
}
END_TEST

START_TEST(test_reordered_rows)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	sql("UPDATE audit SET seq = -1 WHERE seq = 9;"
	    "UPDATE audit SET seq = 9 WHERE seq = 10;"
	    "UPDATE audit SET seq = 10 WHERE seq = -1;");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_REORDERED, 9, "seq 9 is out of order");
}
END_TEST

START_TEST(test_truncated_tail)
{
	struct lk_verify_report rep;

	/* Everything after seq 9 cut: the rows that are left chain
	 * perfectly, and only checkpoint 2 (over seq 13) shows the cut. */
	standard_log();
	drop_triggers();
	sql("DELETE FROM audit WHERE seq >= 10");
	restore_triggers();
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_TRUNCATED, 10,
	               "the log ends at seq 9 but checkpoint 2 covers up to seq 13");
	ck_assert_int_eq(rep.bad_checkpoint, 2);
	ck_assert_int_eq(rep.audit.head_seq, 9);
	ck_assert_int_eq(rep.checkpoints, 1);
}
END_TEST

START_TEST(test_truncated_record)
{
	struct lk_verify_report rep;

	/* Cut right after seq 13: only checkpoint 2's own row (14) and what
	 * followed are gone. */
	standard_log();
	drop_triggers();
	sql("DELETE FROM audit WHERE seq >= 14");
	restore_triggers();
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_TRUNCATED, 14, "seq 14 was cut");
	ck_assert_int_eq(rep.bad_checkpoint, 2);
}
END_TEST

START_TEST(test_rewritten)
{
	struct lk_verify_report rep;

	/* Edited and the whole chain recomputed from there, triggers put
	 * back: the rows link, only the signed chain at 13 gives it away. */
	standard_log();
	drop_triggers();
	sql("UPDATE audit SET reason = 'revoked' WHERE seq = 9");
	rehash_from(9);
	restore_triggers();
	{
		struct lk_audit_report plain;
		struct lk_err err = { { 0 } };
		ck_assert_int_eq(lk_audit_verify(e.store, &plain, &err), LK_OK);
		ck_assert_int_eq(plain.problem, LK_AUDIT_INTACT); /* the chain alone: fooled */
	}
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_REWRITTEN, 7, "seq 13 is not what checkpoint 2 signed");
	ck_assert_ptr_nonnull(strstr(rep.audit.why, "seqs 7..13 were rewritten"));
	ck_assert_int_eq(rep.bad_checkpoint, 2);
	ck_assert_int_eq(rep.audit.head_seq, 6);
	ck_assert_int_eq(rep.checkpoints, 1);
}
END_TEST

START_TEST(test_rewritten_insert)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	insert_row_at(9);
	rehash_from(9);
	restore_triggers();
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_REWRITTEN, 7, "(1 row inserted)");
	ck_assert_int_eq(rep.bad_checkpoint, 2);
}
END_TEST

START_TEST(test_rewritten_delete)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	delete_row_renumber(9);
	delete_row_renumber(9);
	rehash_from(9);
	restore_triggers();
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_REWRITTEN, 7, "(2 rows deleted)");
}
END_TEST

/* Rewrites the manifest of checkpoint number from its columns, as an
 * attacker who changed the columns would, and keeps the old signature. */
static void refresh_manifest(int64_t number)
{
	struct lk_checkpoint cp;
	sqlite3_stmt *st;
	char hex1[65], hex2[65], when[40], manifest[LK_CHECKPOINT_MANIFEST_MAX];

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT ts, audit_seq, audit_chain, previous, key_id"
	                                    " FROM checkpoint WHERE number = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, number);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	cp.ts = sqlite3_column_int64(st, 0);
	cp.audit_seq = sqlite3_column_int64(st, 1);
	sodium_bin2hex(hex1, sizeof(hex1), sqlite3_column_blob(st, 2), 32);
	sodium_bin2hex(hex2, sizeof(hex2), sqlite3_column_blob(st, 3), 32);
	snprintf(cp.key_id, sizeof(cp.key_id), "%s", (const char *)sqlite3_column_text(st, 4));
	sqlite3_finalize(st);
	lk_time_format(cp.ts, when, sizeof(when));
	snprintf(manifest, sizeof(manifest),
	         "latchkey-checkpoint 1\nnumber %lld\ntime %s\naudit-seq %lld\naudit-chain "
	         "%s\nprevious %s\nkey-id %s\n",
	         (long long)number, when, (long long)cp.audit_seq, hex1, hex2, cp.key_id);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "UPDATE checkpoint SET manifest = ?2 WHERE number = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, number);
	sqlite3_bind_text(st, 2, manifest, -1, SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

START_TEST(test_forged_checkpoint)
{
	struct lk_verify_report rep;

	/* The log rewritten and checkpoint 2 made to match it: columns and
	 * manifest agree, the signature does not. */
	standard_log();
	drop_triggers();
	sql("UPDATE audit SET reason = 'revoked' WHERE seq = 9");
	rehash_from(9);
	sql("UPDATE checkpoint SET audit_chain = (SELECT chain FROM audit WHERE seq = 13)"
	    " WHERE number = 2");
	refresh_manifest(2);
	restore_triggers();
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_FORGED, 0, "checkpoint 2 has a bad signature");
	ck_assert_int_eq(rep.bad_checkpoint, 2);
	ck_assert_int_eq(rep.checkpoints, 1);
}
END_TEST

START_TEST(test_edited_checkpoint)
{
	struct lk_verify_report rep;

	/* A column changed, the manifest left alone. */
	standard_log();
	drop_triggers();
	sql("UPDATE checkpoint SET audit_seq = 12 WHERE number = 2");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_FORGED, 0, "checkpoint 2 was edited");
	ck_assert_int_eq(rep.bad_checkpoint, 2);

	/* The signature itself, or a column's type. */
	sql("UPDATE checkpoint SET audit_seq = 13 WHERE number = 2");
	verify(&rep);
	ck_assert_msg(rep.audit.problem == LK_AUDIT_SCHEMA, "%s", rep.audit.why); /* sound again */
	sql("UPDATE checkpoint SET signature = (SELECT signature FROM checkpoint WHERE"
	    " number = 1) WHERE number = 2");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_FORGED, 0, "checkpoint 2 has a bad signature");
	sql("UPDATE checkpoint SET signature = x'00' WHERE number = 1");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_FORGED, 0, "column signature");
	ck_assert_int_eq(rep.bad_checkpoint, 1);
}
END_TEST

/* A checkpoint signed by some other key, and a verifier holding another. */
START_TEST(test_wrong_key)
{
	struct lk_signer *other = NULL;
	struct lk_err err = { { 0 } };
	struct lk_verify_report rep;
	struct lk_checkpoint cp;
	char k2[PATH_MAX + 32], p2[PATH_MAX + 32];

	snprintf(k2, sizeof(k2), "%s/other.key", e.dir);
	snprintf(p2, sizeof(p2), "%s/other.pub.pem", e.dir);
	ck_assert_int_eq(lk_signing_create(k2, p2, NULL, &err), LK_OK);
	ck_assert_int_eq(lk_signing_load(k2, &other, &err), LK_OK);
	standard_log();
	verify_with(lk_signer_public(other), &rep);
	assert_problem(&rep, LK_AUDIT_FORGED, 0, "checkpoint 1 is signed by key");
	ck_assert_ptr_nonnull(strstr(rep.audit.why, lk_signer_key_id(other)));
	ck_assert_int_eq(rep.checkpoints, 0);

	make_cp_with(other, TK_NOW + 5000, &cp);
	ck_assert_int_eq(cp.number, 3);
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_FORGED, 0, "checkpoint 3 is signed by key");
	ck_assert_int_eq(rep.bad_checkpoint, 3);
	lk_signer_free(other);
}
END_TEST

START_TEST(test_deleted_checkpoint)
{
	struct lk_verify_report rep;

	standard_log();
	drop_triggers();
	sql("DELETE FROM checkpoint WHERE number = 1");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_CP_MISSING, 0, "checkpoint 1 is missing");
	ck_assert_int_eq(rep.bad_checkpoint, 1);
}
END_TEST

START_TEST(test_deleted_last_checkpoint)
{
	struct lk_verify_report rep;

	/* No gap in the numbers: the audit row that recorded it is what is
	 * left of it. */
	standard_log();
	drop_triggers();
	sql("DELETE FROM checkpoint WHERE number = 2");
	restore_triggers();
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_CP_MISSING, 0,
	               "checkpoint 2 is missing (deleted): the audit log records it at seq 14");
	ck_assert_int_eq(rep.bad_checkpoint, 2);
}
END_TEST

START_TEST(test_replaced_checkpoint)
{
	struct lk_verify_report rep;
	struct lk_err err = { { 0 } };
	unsigned char sig[LK_SIGNATURE_LEN];
	char manifest[LK_CHECKPOINT_MANIFEST_MAX];
	sqlite3_stmt *st;

	/* Whoever holds the key re-signs checkpoint 2 with another previous
	 * link: the signature is good, the link to checkpoint 1 is not. */
	standard_log();
	drop_triggers();
	sql("UPDATE checkpoint SET previous = zeroblob(32) WHERE number = 2");
	refresh_manifest(2);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT manifest FROM checkpoint WHERE number = 2", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(manifest, sizeof(manifest), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	ck_assert_int_eq(lk_signer_sign(signer, manifest, strlen(manifest), sig, &err), LK_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "UPDATE checkpoint SET signature = ?1 WHERE number = 2",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_blob(st, 1, sig, sizeof(sig), SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_CP_BROKEN, 0, "checkpoint 2 does not follow checkpoint 1");
}
END_TEST

START_TEST(test_checkpoint_triggers_dropped)
{
	struct lk_verify_report rep;

	standard_log();
	sql("DROP TRIGGER checkpoint_no_delete");
	verify(&rep);
	assert_problem(&rep, LK_AUDIT_SCHEMA, 0, "checkpoint table");
}
END_TEST

/* Checkpoints but no key to check them with: an error, not "intact". */
START_TEST(test_no_key)
{
	struct lk_verify_report rep;
	struct lk_err err = { { 0 } };

	standard_log();
	ck_assert_int_eq(lk_checkpoint_verify(e.store, NULL, &rep, &err), LK_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "no signing_key"));
}
END_TEST

/* ---- the daemon's timer (an injected clock) --------------------------- */

START_TEST(test_timer)
{
	struct lk_checkpoint_timer t;
	const int64_t wall = TK_NOW, mono = 5000;

	/* No checkpoint yet: one interval after start. */
	lk_checkpoint_timer_start(&t, 900, mono, wall, 0);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono), 900000);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono + 899999), 1);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono + 900000), 0);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono + 999999), 0);
	/* Made late: the next is an interval from then, no burst. */
	lk_checkpoint_timer_done(&t, mono + 1000000);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono + 1000000), 900000);

	/* The last one 10 minutes ago: due in 5. */
	lk_checkpoint_timer_start(&t, 900, mono, wall, wall - 600);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono), 300000);
	/* Overdue (the daemon was down): at once. */
	lk_checkpoint_timer_start(&t, 900, mono, wall, wall - 86400);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono), 0);
	/* A last one in the future (the clock went back): one interval. */
	lk_checkpoint_timer_start(&t, 900, mono, wall, wall + 86400);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono), 900000);
	/* The minimum interval, and a wait beyond int for poll. */
	lk_checkpoint_timer_start(&t, LK_MIN_CHECKPOINT_INTERVAL, mono, wall, 0);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono), 60000);
	lk_checkpoint_timer_start(&t, LK_DURATION_MAX, mono, wall, 0);
	ck_assert_int_eq(lk_checkpoint_timer_wait_ms(&t, mono), INT_MAX);
}
END_TEST

static int load_conf(const char *text, struct lk_config **cfg, struct lk_err *err)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/cp.conf", e.dir);
	unlink(path);
	write_bytes(path, text, strlen(text));
	return lk_config_load(path, cfg, err);
}

START_TEST(test_interval_config)
{
	static const char base[] = "database = a.db\nmaster_key = m.key\npolicy_dir = p\n";
	static const char *const bad[] = { "0", "0m", "30s", "59s", "off", "no", "-1m", "15" };
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	char text[256];

	ck_assert_int_eq(e.cfg->checkpoint_interval, 15 * 60); /* latchkey init's */
	ck_assert_int_eq(load_conf(base, &cfg, &err), LK_OK);
	ck_assert_int_eq(cfg->checkpoint_interval, LK_DEFAULT_CHECKPOINT_INTERVAL);
	lk_config_free(cfg);
	cfg = NULL;
	snprintf(text, sizeof(text), "%scheckpoint_interval = 1m\n", base);
	ck_assert_int_eq(load_conf(text, &cfg, &err), LK_OK);
	ck_assert_int_eq(cfg->checkpoint_interval, 60);
	lk_config_free(cfg);
	cfg = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%scheckpoint_interval = %s\n", base, bad[i]);
		ck_assert_msg(load_conf(text, &cfg, &err) == LK_EINVAL, "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, "checkpoint_interval"));
	}
}
END_TEST

/* ---- the CLI and latchkeyd -------------------------------------------- */

struct run {
	int status;
	char out[4096], err[4096];
};

/* The CLI on g.conf with stdout and stderr captured (--offline unless a
 * daemon runs). */
static void run_cli(struct run *r, const char *const *args)
{
	const char *argv[24];
	char errpath[PATH_MAX + 32];
	posix_spawn_file_actions_t fa;
	size_t k = 0, got = 0;
	int p[2], wst, fd;
	ssize_t n;
	pid_t pid;

	argv[k++] = bin("LATCHKEY_BIN");
	if (g.daemon == 0)
		argv[k++] = "--offline";
	argv[k++] = "-c";
	argv[k++] = g.conf;
	for (size_t i = 0; args[i] != NULL; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	snprintf(errpath, sizeof(errpath), "%s/stderr", g.base);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errpath, O_WRONLY | O_CREAT | O_TRUNC,
	                                 0600);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	ck_assert_int_eq(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while ((n = read(p[0], r->out + got, sizeof(r->out) - 1 - got)) > 0 ||
	       (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	r->out[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &wst, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	r->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	fd = open(errpath, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, r->err, sizeof(r->err) - 1);
	r->err[n > 0 ? n : 0] = '\0';
	close(fd);
}

#define RUN(r, ...) run_cli((r), (const char *const[]){ __VA_ARGS__, NULL })

static void fsetup(void)
{
	fixture_setup("latchkey-cp");
}

static void fteardown(void)
{
	fixture_teardown();
}

static void state_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", g.dir, name);
}

START_TEST(test_init_makes_key)
{
	char path[PATH_MAX * 2], id[LK_KEY_ID_LEN + 1], want[64];
	unsigned char pk[LK_SIGNING_PUBLIC_LEN];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	struct stat st;
	struct run r;

	state_path(path, sizeof(path), "signing.key");
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(lk_config_load(g.conf, &cfg, &err), LK_OK);
	ck_assert_str_eq(cfg->signing_key, path);
	ck_assert_int_eq(cfg->checkpoint_interval, 15 * 60);
	lk_config_free(cfg);
	state_path(path, sizeof(path), "signing.pub.pem");
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	ck_assert_int_eq(lk_signing_read_public(path, pk, &err), LK_OK);
	ck_assert_int_eq(lk_signing_key_id(pk, id, &err), LK_OK);

	/* A checkpoint names that key. */
	RUN(&r, "audit", "checkpoint");
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(want, sizeof(want), "key id %s\n", id);
	ck_assert_msg(strncmp(r.out, "checkpoint 1: audit seq ", 24) == 0 &&
	                  strstr(r.out, want) != NULL,
	              "%s", r.out);
	RUN(&r, "--json", "audit", "checkpoint");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strncmp(r.out, "{\"number\":2,", 12) == 0, "%s", r.out);
	snprintf(want, sizeof(want), "\"key_id\":\"%s\"", id);
	ck_assert_ptr_nonnull(strstr(r.out, want));
	ck_assert_ptr_nonnull(strstr(r.out, "\"signature\":\""));

	RUN(&r, "audit", "verify");
	ck_assert_msg(r.status == 0, "%s %s", r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "audit chain intact"));
	ck_assert_ptr_nonnull(strstr(r.out, "checkpoints: 2 verified, the last is 2"));
	RUN(&r, "--json", "audit", "verify");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"checkpoints_verified\":2"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"last_checkpoint\":{\"number\":2"));
}
END_TEST

/* The tail cut below the last checkpoint, through the CLI: exit 1 and one
 * line that names where. */
START_TEST(test_cli_truncated)
{
	sqlite3 *db = NULL;
	char path[PATH_MAX * 2];
	struct run r;

	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 0);
	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 0);
	state_path(path, sizeof(path), "latchkey.db");
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
	                              "DROP TRIGGER audit_no_delete;"
	                              "DELETE FROM audit WHERE seq >= (SELECT audit_seq FROM "
	                              "checkpoint WHERE number = 2);",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	RUN(&r, "audit", "verify");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strncmp(r.out, "audit log TRUNCATED at seq ", 27) == 0, "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "but checkpoint 2 covers up to seq"));
	RUN(&r, "--json", "audit", "verify");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "\"problem\":\"truncated\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"bad_checkpoint\":2"));
}
END_TEST

/* A signing key that is refused: a clear error, and nothing written. */
START_TEST(test_cli_bad_key)
{
	char path[PATH_MAX * 2], link[PATH_MAX * 2 + 8];
	long audit, cps;
	struct run r;

	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 0);
	audit = db_long("SELECT count(*) FROM audit", NULL);
	cps = db_long("SELECT count(*) FROM checkpoint", NULL);
	state_path(path, sizeof(path), "signing.key");
	ck_assert_int_eq(chmod(path, 0644), 0);
	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 4);
	ck_assert_msg(strstr(r.err, "signing key") != NULL && strstr(r.err, "chmod 600") != NULL,
	              "%s", r.err);
	RUN(&r, "audit", "verify");
	ck_assert_int_eq(r.status, 4);
	ck_assert_int_eq(chmod(path, 0600), 0);

	/* A symlink in its place. */
	snprintf(link, sizeof(link), "%s.real", path);
	ck_assert_int_eq(rename(path, link), 0);
	ck_assert_int_eq(symlink(link, path), 0);
	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "symlink"));

	/* None at all: checkpoints on file cannot be verified. */
	ck_assert_int_eq(unlink(path), 0);
	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "does not exist"));
	RUN(&r, "audit", "verify");
	ck_assert_int_eq(r.status, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "no signing_key"));
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit", NULL), audit);
	ck_assert_int_eq(db_long("SELECT count(*) FROM checkpoint", NULL), cps);

	/* Another key: every checkpoint says it was signed by someone else. */
	ck_assert_int_eq(unlink(link), 0);
	{
		struct lk_err err = { { 0 } };
		char pub[PATH_MAX * 2];
		state_path(pub, sizeof(pub), "other.pub.pem");
		ck_assert_int_eq(lk_signing_create(path, pub, NULL, &err), LK_OK);
	}
	RUN(&r, "audit", "verify");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.out, "audit checkpoint 1 BAD (forged-checkpoint)") != NULL, "%s",
	              r.out);
}
END_TEST

/* latchkeyd signs one when it stops; audit checkpoint runs in it. */
START_TEST(test_daemon_sigterm)
{
	char reason[32];
	struct run r;

	allow_me();
	start_daemon();
	RUN(&r, "audit", "checkpoint");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strncmp(r.out, "checkpoint 1: ", 14) == 0, "%s", r.out);
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(db_long("SELECT count(*) FROM checkpoint", NULL), 2);
	db_text("SELECT reason FROM audit WHERE action = 'audit.checkpoint' ORDER BY seq DESC"
	        " LIMIT 1",
	        NULL, reason, sizeof(reason));
	ck_assert_str_eq(reason, "shutdown");
	/* The last row of the log is the record of the one it signed. */
	ck_assert_int_eq(db_long("SELECT max(seq) FROM audit", NULL),
	                 db_long("SELECT audit_seq + 1 FROM checkpoint WHERE number = 2", NULL));
	RUN(&r, "audit", "verify");
	ck_assert_msg(r.status == 0, "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "checkpoints: 2 verified"));
}
END_TEST

/* The CLI as uid (root only), output discarded: its exit status. */
static int cli_as(uid_t uid, const char *const *args)
{
	const char *argv[16];
	size_t k = 0;
	int wst;
	pid_t pid;

	argv[k++] = bin("LATCHKEY_BIN");
	argv[k++] = "-c";
	argv[k++] = g.conf;
	for (size_t i = 0; args[i] != NULL; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid(uid) != 0)
			_exit(121);
		setenv("TMPDIR", "/tmp", 1);
		execv(argv[0], (char *const *)argv);
		_exit(123);
	}
	while (waitpid(pid, &wst, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

/* An operator may ask for one; an auditor may verify but not sign. */
START_TEST(test_daemon_roles)
{
	if (getuid() != 0)
		return; /* another uid is needed; roles are tested in check_admin */
	add_config("role = auditor uid:65534\n");
	ck_assert_int_eq(chmod(g.conf, 0644), 0); /* the client reads admin_socket */
	start_daemon();
	ck_assert_int_eq(cli_as(65534, (const char *const[]){ "audit", "checkpoint", NULL }), 1);
	ck_assert_int_eq(db_long("SELECT count(*) FROM checkpoint", NULL), 0);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'admin.denied' AND"
	                         " detail = 'verb=audit checkpoint role=auditor needs=operator'",
	                         NULL),
	                 1);
	ck_assert_int_eq(cli_as(65534, (const char *const[]){ "audit", "verify", NULL }), 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Without a signing key (a setup from before checkpoints) latchkeyd runs,
 * signs nothing, and says why when asked for one. */
START_TEST(test_daemon_without_key)
{
	char path[PATH_MAX * 2];
	struct run r;

	state_path(path, sizeof(path), "signing.key");
	ck_assert_int_eq(unlink(path), 0);
	start_daemon();
	RUN(&r, "audit", "checkpoint");
	ck_assert_int_eq(r.status, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "latchkeyd runs without a signing key"));
	RUN(&r, "audit", "verify");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "checkpoints: none yet"));
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(db_long("SELECT count(*) FROM checkpoint", NULL), 0);
}
END_TEST

/* A setup from before checkpoints gets its signing key with audit keygen;
 * a log with checkpoints never gets a new one (they would all look forged),
 * and no key is made where none is configured. */
START_TEST(test_keygen)
{
	char key[PATH_MAX * 2], pub[PATH_MAX * 2], want[96];
	unsigned char pk[LK_SIGNING_PUBLIC_LEN];
	char id[LK_KEY_ID_LEN + 1];
	struct lk_err err = { { 0 } };
	struct stat st;
	long audit;
	struct run r;

	state_path(key, sizeof(key), "signing.key");
	state_path(pub, sizeof(pub), "signing.pub.pem");
	/* The key exists: never replaced. */
	audit = db_long("SELECT count(*) FROM audit", NULL);
	RUN(&r, "audit", "keygen");
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "signing.key") != NULL, "%s", r.err);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit", NULL), audit);

	/* Gone, with no checkpoint signed yet: made, with its public half. */
	ck_assert_int_eq(unlink(key), 0);
	ck_assert_int_eq(unlink(pub), 0);
	RUN(&r, "audit", "keygen");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_eq(lstat(key, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(lk_signing_read_public(pub, pk, &err), LK_OK);
	ck_assert_int_eq(lk_signing_key_id(pk, id, &err), LK_OK);
	snprintf(want, sizeof(want), "(key id %s)", id);
	ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
	snprintf(want, sizeof(want), "key_id=%s", id);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'audit.keygen'"
	                         " AND detail = ?1",
	                         want),
	                 1);
	RUN(&r, "audit", "checkpoint");
	ck_assert_msg(r.status == 0, "%s", r.err);
	RUN(&r, "audit", "verify");
	ck_assert_msg(r.status == 0, "%s", r.out);

	/* Lost after a checkpoint: refused, nothing made or written. */
	ck_assert_int_eq(unlink(key), 0);
	audit = db_long("SELECT count(*) FROM audit", NULL);
	RUN(&r, "audit", "keygen");
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "1 signed checkpoints") != NULL, "%s", r.err);
	ck_assert_int_eq(lstat(key, &st), -1);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit", NULL), audit);
}
END_TEST

/* No signing_key line: the command says which line to add; and through
 * latchkeyd it is refused (the daemon loads its key when it starts). */
START_TEST(test_keygen_refusals)
{
	char key[PATH_MAX * 2];
	long audit;
	struct run r;
	FILE *f;

	state_path(key, sizeof(key), "signing.key");
	start_daemon();
	RUN(&r, "audit", "keygen");
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--offline") != NULL, "%s", r.err);
	ck_assert_int_eq(stop_daemon(), 0);

	ck_assert_int_eq(unlink(key), 0);
	f = fopen(g.conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "database = latchkey.db\nmaster_key = master.key\npolicy_dir = policies\n");
	ck_assert_int_eq(fclose(f), 0);
	audit = db_long("SELECT count(*) FROM audit", NULL);
	RUN(&r, "audit", "keygen");
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "sets no signing_key: add 'signing_key = signing.key'") != NULL,
	              "%s", r.err);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit", NULL), audit);
}
END_TEST

/* A signing key group or others can read stops the start: fail closed. */
START_TEST(test_daemon_refuses_open_key)
{
	char path[PATH_MAX * 2];
	pid_t pid;

	state_path(path, sizeof(path), "signing.key");
	ck_assert_int_eq(chmod(path, 0640), 0);
	pid = spawn(bin("LATCHKEYD_BIN"),
	            (const char *const[]){ "-c", g.conf, "--foreground", NULL }, -1);
	ck_assert_int_eq(wait_status(pid), 1);
	ck_assert_int_eq(try_connect(), -1);
}
END_TEST

/* The last checkpoint is overdue when latchkeyd starts (it was down):
 * it signs one at once, through the same timer path as every interval. */
START_TEST(test_daemon_overdue)
{
	struct lk_config *cfg = NULL;
	struct lk_master *master = NULL;
	struct lk_signer *s = NULL;
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	struct lk_checkpoint cp;
	char reason[32] = "";
	int64_t now;

	ck_assert_int_eq(lk_config_load(g.conf, &cfg, &err), LK_OK);
	ck_assert_int_eq(lk_master_load(cfg->master_key, &master, &err), LK_OK);
	ck_assert_int_eq(lk_signing_load(cfg->signing_key, &s, &err), LK_OK);
	ck_assert_int_eq(lk_store_open(cfg->database, 0, master, &store, &err), LK_OK);
	ck_assert_int_eq(lk_now(&now), LK_OK);
	ck_assert_int_eq(
	    lk_checkpoint_make(store, s, now - 3600, 0, LK_CHECKPOINT_INTERVAL, &cp, &err), LK_OK);
	lk_store_close(store);
	lk_signer_free(s);
	lk_master_free(master);
	lk_config_free(cfg);

	start_daemon();
	for (int i = 0; i < 3000 && db_long("SELECT count(*) FROM checkpoint", NULL) < 2; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	ck_assert_int_eq(db_long("SELECT count(*) FROM checkpoint", NULL), 2);
	db_text("SELECT reason FROM audit WHERE action = 'audit.checkpoint' ORDER BY seq DESC"
	        " LIMIT 1",
	        NULL, reason, sizeof(reason));
	ck_assert_str_eq(reason, "interval");
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(db_long("SELECT count(*) FROM checkpoint", NULL), 3);
}
END_TEST

Suite *checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc;

	tc = tcase_create("key");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_key_files);
	tcase_add_test(tc, test_keys_differ);
	tcase_add_test(tc, test_key_too_open);
	tcase_add_test(tc, test_key_symlink);
	tcase_add_test(tc, test_key_bad_file);
	tcase_add_test(tc, test_key_create_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("make");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_manifest);
	tcase_add_test(tc, test_records_and_links);
	tcase_add_test(tc, test_empty_log);
	tcase_add_test(tc, test_in_batch);
	tcase_add_test(tc, test_make_refuses);
	tcase_add_test(tc, test_openssl_verifies);
	tcase_add_test(tc, test_copy_line);
	tcase_add_test(tc, test_timer);
	tcase_add_test(tc, test_interval_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_intact);
	tcase_add_test(tc, test_edited_row);
	tcase_add_test(tc, test_deleted_row);
	tcase_add_test(tc, test_deleted_row_renumbered);
	tcase_add_test(tc, test_inserted_row);
	tcase_add_test(tc, test_inserted_row_linked);
	tcase_add_test(tc, test_reordered_rows);
	tcase_add_test(tc, test_truncated_tail);
	tcase_add_test(tc, test_truncated_record);
	tcase_add_test(tc, test_rewritten);
	tcase_add_test(tc, test_rewritten_insert);
	tcase_add_test(tc, test_rewritten_delete);
	tcase_add_test(tc, test_forged_checkpoint);
	tcase_add_test(tc, test_edited_checkpoint);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_deleted_checkpoint);
	tcase_add_test(tc, test_deleted_last_checkpoint);
	tcase_add_test(tc, test_replaced_checkpoint);
	tcase_add_test(tc, test_checkpoint_triggers_dropped);
	tcase_add_test(tc, test_no_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("cli");
	tcase_add_checked_fixture(tc, fsetup, fteardown);
	tcase_add_test(tc, test_init_makes_key);
	tcase_add_test(tc, test_cli_truncated);
	tcase_add_test(tc, test_cli_bad_key);
	tcase_add_test(tc, test_daemon_sigterm);
	tcase_add_test(tc, test_daemon_roles);
	tcase_add_test(tc, test_daemon_without_key);
	tcase_add_test(tc, test_keygen);
	tcase_add_test(tc, test_keygen_refusals);
	tcase_add_test(tc, test_daemon_refuses_open_key);
	tcase_add_test(tc, test_daemon_overdue);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return fixture_run(checkpoint_suite(), "latchkey-checkpoint");
}
