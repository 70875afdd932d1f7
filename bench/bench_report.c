/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_report: the full SOC 2 pack (`latchkey --offline report soc2`) over
 * a generated 90-day log of N auth.decision rows (default 1,000,000), timed
 * as the real CLI binary in a child process, beside references measured in
 * the same run on the same database: a bare full scan of the audit table
 * through the SQLite C API, and `latchkey --offline audit verify`.
 *
 * The fixture, in a state dir made by `latchkey init`: 200 owners, 400 API
 * keys (300 issued before the period, 100 during it, 60 revoked during it,
 * each issue and revocation logged), decisions on 6 services (web and api
 * with the key alone, ssh, vpn and sudo with key + TOTP, mtls with a client
 * certificate) about 90% ok, the rest bad-secret, revoked (only for a key
 * revoked by then), unknown-ca, pin-mismatch and totp bad-code, a lockout
 * every 5,000 decisions, each service's policy reloaded every 3 days (with
 * its policy_evidence row, as latchkeyd writes it), and a signed
 * checkpoint every 10,000 rows, all written as latchkeyd writes them
 * (lk_audit_append computes each leaf and link).
 *
 *   bench/bench_report [-n RUNS] [--rows N]
 *
 * -n: pack runs (default 3), each into a fresh directory; the figures are
 * medians. Per run: wall time and the child's peak RSS (wait4 ru_maxrss).
 * Prints the figures and the targets of issue 7 beside them (<= 20 s,
 * <= 200 MB peak RSS); asserts no timing. The CLI from LATCHKEY_BIN, else
 * the build tree this was built in.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit-private.h"
#include "bench-util.h"
#include "checkpoint-private.h"
#include "keys-private.h"
#include "masterkey-private.h"
#include "store-private.h"

#ifndef LK_BUILDDIR
#define LK_BUILDDIR "."
#endif

#define DAYS             90
#define CHECKPOINT_EVERY 10000
#define OWNERS           200
#define KEYS_BEFORE      300 /* issued before the period */
#define KEYS_DURING      100 /* issued during it */
#define KEYS             (KEYS_BEFORE + KEYS_DURING)
#define LOCKOUT_EVERY    5000
#define POLICY_EVERY_S   (3 * 86400)
#define MAX_RUNS         64
#define TARGET_S         20.0
#define TARGET_MB        200.0

extern char **environ;

struct key {
	char kid[LK_KID_LEN + 1];
	int owner;
	int64_t created, revoked; /* revoked: 0 if never */
};

static struct key keys[KEYS];
static char owners[OWNERS][32];
static long appended; /* audit rows written by append */

/* Deterministic and cheap: the same fixture on every run. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static void sql(sqlite3 *db, const char *s)
{
	if (sqlite3_exec(db, s, NULL, NULL, NULL) != SQLITE_OK)
		bench_die("%s: %s", s, sqlite3_errmsg(db));
}

static void append(struct lk_store *store, int64_t ts, const char *ref, const char *kid,
                   const char *action, const char *reason, const char *detail)
{
	struct lk_err err = { { 0 } };

	if (lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = ts,
	                                              .actor_uid = 0,
	                                              .subject_ref = ref,
	                                              .kid = kid,
	                                              .action = action,
	                                              .reason = reason,
	                                              .detail = detail },
	                    NULL, &err) < 0)
		bench_die("audit append: %s", err.msg);
	appended++;
}

/* Owners and keys straight into their tables (the lifecycle API would
 * commit each one); their issue and revocation rows go into the log in
 * time order by load_log. */
static void load_keys(struct lk_store *store, int64_t start, int64_t span)
{
	sqlite3_stmt *so, *sk;
	unsigned char hash[32];

	if (sqlite3_prepare_v2(store->db, "INSERT INTO subject VALUES (?1, 'owner', ?2, ?3)", -1,
	                       &so, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(store->db,
	                       "INSERT INTO api_key (kid, owner_ref, env, scopes, hash, hash_alg,"
	                       " pepper_ver, created, expires, status, status_changed,"
	                       " status_reason) VALUES (?1, ?2, 'prod', 'read', ?3,"
	                       " 'blake2b-256-v1', 1, ?4, ?5, ?6, ?7, ?8)",
	                       -1, &sk, NULL) != SQLITE_OK)
		bench_die("prepare: %s", sqlite3_errmsg(store->db));
	for (int i = 0; i < OWNERS; i++) {
		char name[32];

		snprintf(owners[i], sizeof(owners[i]), "sub_%016llx",
		         (unsigned long long)mix((uint64_t)i + 1));
		snprintf(name, sizeof(name), "owner%03d", i);
		sqlite3_bind_text(so, 1, owners[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(so, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(so, 3, start - 200 * 86400LL);
		if (sqlite3_step(so) != SQLITE_DONE)
			bench_die("insert subject: %s", sqlite3_errmsg(store->db));
		sqlite3_reset(so);
	}
	for (int i = 0; i < KEYS; i++) {
		struct key *k = &keys[i];

		snprintf(k->kid, sizeof(k->kid), "%012llx",
		         (unsigned long long)(mix((uint64_t)i + 7777) & 0xffffffffffffULL));
		k->owner = i % OWNERS;
		k->created = i < KEYS_BEFORE ? start - (int64_t)(mix((uint64_t)i) % (80 * 86400))
		                             : start + span * (i - KEYS_BEFORE) / KEYS_DURING;
		/* 40 of the older keys and 20 of the newer ones revoked in the period. */
		k->revoked = 0;
		if (i >= KEYS_BEFORE - 40 && i < KEYS_BEFORE)
			k->revoked = start + (int64_t)(mix((uint64_t)i + 99) % (uint64_t)span);
		else if (i >= KEYS - 20)
			k->revoked = k->created + (start + span - k->created) / 2;
		randombytes_buf(hash, sizeof(hash));
		sqlite3_bind_text(sk, 1, k->kid, -1, SQLITE_STATIC);
		sqlite3_bind_text(sk, 2, owners[k->owner], -1, SQLITE_STATIC);
		sqlite3_bind_blob(sk, 3, hash, sizeof(hash), SQLITE_STATIC);
		sqlite3_bind_int64(sk, 4, k->created);
		sqlite3_bind_int64(sk, 5, k->created + 180 * 86400LL);
		sqlite3_bind_text(sk, 6, k->revoked ? "revoked" : "active", -1, SQLITE_STATIC);
		if (k->revoked) {
			sqlite3_bind_int64(sk, 7, k->revoked);
			sqlite3_bind_text(sk, 8, "offboarding", -1, SQLITE_STATIC);
		} else {
			sqlite3_bind_null(sk, 7);
			sqlite3_bind_null(sk, 8);
		}
		if (sqlite3_step(sk) != SQLITE_DONE)
			bench_die("insert key: %s", sqlite3_errmsg(store->db));
		sqlite3_reset(sk);
		sqlite3_clear_bindings(sk);
	}
	sqlite3_finalize(so);
	sqlite3_finalize(sk);
}

/* Logs the key events due by upto (issues and revocations in the period)
 * in time order. A scan of the few hundred keys per decision: small beside
 * the append's hashing. */
static void key_events(struct lk_store *store, int64_t upto, int64_t start)
{
	static bool issued[KEYS], revoked[KEYS];

	for (;;) {
		int best = -1;
		bool rev = false;
		int64_t t = INT64_MAX;

		for (int i = 0; i < KEYS; i++) {
			if (!issued[i] && keys[i].created >= start && keys[i].created < t)
				best = i, rev = false, t = keys[i].created;
			if (!revoked[i] && keys[i].revoked && keys[i].revoked < t)
				best = i, rev = true, t = keys[i].revoked;
		}
		if (best < 0 || t > upto)
			return;
		if (rev) {
			revoked[best] = true;
			append(store, t, owners[keys[best].owner], keys[best].kid, "key.revoke",
			       "offboarding", "by=admin");
		} else {
			issued[best] = true;
			append(store, t, owners[keys[best].owner], keys[best].kid, "key.issue",
			       "ok", "env=prod scopes=read expires=180d");
		}
	}
}

/* One decision: service, key and result from i; a key is used only while
 * it exists, and "revoked" only once it is. */
static const char *const services[] = { "web", "api", "ssh", "vpn", "sudo", "mtls" };
#define N_SERVICES 6

/* Each service's policy hash for the policy period of ts: 64 hex digits, as
 * the engine records them (a new policy every POLICY_EVERY_S). */
static void policy_hash(int service, int64_t ts, char out[65])
{
	snprintf(out, 65, "3f9a1c2b%02x%08x%046d", service, (unsigned)(ts / POLICY_EVERY_S), 0);
}

/* What latchkeyd does when it puts a policy in service (core/engine.c):
 * the policy.load row and its policy_evidence row, so every decision's
 * hash is on record and the MFA test judges it against its policy. */
static void load_policies(struct lk_store *store, int64_t ts)
{
	sqlite3_stmt *st;
	char hash[65], detail[128];

	if (sqlite3_prepare_v2(store->db,
	                       "INSERT OR IGNORE INTO policy_evidence (sha256, service, steps, "
	                       "required_factors, first_loaded, last_loaded) "
	                       "VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	                       -1, &st, NULL) != SQLITE_OK)
		bench_die("prepare: %s", sqlite3_errmsg(store->db));
	for (int i = 0; i < N_SERVICES; i++) {
		bool two = i >= 2 && i <= 4; /* ssh, vpn, sudo: key and TOTP */
		policy_hash(i, ts, hash);
		snprintf(detail, sizeof(detail), "service=%s policy=%s", services[i], hash);
		append(store, ts, NULL, NULL, "policy.load", "ok", detail);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, services[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3,
		                  i == 5 ? "mtls required"
		                  : two  ? "apikey required, totp required"
		                         : "apikey required",
		                  -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, two ? 2 : 1);
		sqlite3_bind_int64(st, 5, ts);
		if (sqlite3_step(st) != SQLITE_DONE)
			bench_die("policy evidence: %s", sqlite3_errmsg(store->db));
	}
	sqlite3_finalize(st);
}

static void decision(struct lk_store *store, long i, int64_t ts)
{
	char detail[256], hash[65];
	uint64_t h = mix((uint64_t)i);
	const char *service = services[h % N_SERVICES], *reason = "ok", *steps;
	struct key *k = &keys[(h >> 8) % KEYS];
	unsigned roll = (unsigned)((h >> 24) % 1000);
	bool two = strcmp(service, "ssh") == 0 || strcmp(service, "vpn") == 0 ||
	           strcmp(service, "sudo") == 0;
	bool mtls = strcmp(service, "mtls") == 0;
	char stepbuf[64];

	if (k->created > ts)
		k = &keys[(h >> 8) % (KEYS_BEFORE - 40)];
	if (k->revoked && k->revoked <= ts) {
		reason = "revoked";
		steps = "apikey:revoked";
	} else if (mtls) {
		reason = roll < 30 ? "unknown-ca" : roll < 60 ? "pin-mismatch" : "ok";
		snprintf(stepbuf, sizeof(stepbuf), "mtls:%s", reason);
		steps = stepbuf;
	} else if (roll < 50) {
		reason = "bad-secret";
		steps = two ? "apikey:bad-secret,totp:not-run" : "apikey:bad-secret";
	} else if (two && roll < 70) {
		reason = "bad-code";
		steps = "apikey:ok,totp:bad-code";
	} else {
		steps = two ? "apikey:ok,totp:ok" : "apikey:ok";
	}
	policy_hash((int)(h % N_SERVICES), ts, hash);
	snprintf(detail, sizeof(detail),
	         "service=%s env=prod policy=%s pam=%d steps=%s rhost=10.%u.%u.%u", service, hash,
	         strcmp(reason, "ok") == 0 ? 0 : 7, steps, (unsigned)(h >> 40) % 250,
	         (unsigned)(h >> 48) % 250, (unsigned)(h >> 56) % 250);
	append(store, ts, owners[k->owner], mtls ? NULL : k->kid, "auth.decision", reason, detail);
	if (i % LOCKOUT_EVERY == LOCKOUT_EVERY - 1)
		append(store, ts, owners[k->owner], k->kid, "auth.lockout", "too-many-failures",
		       "service=ssh failures=5 window=300 lock=900");
}

/* The whole log, in one batch, with a signed checkpoint every
 * CHECKPOINT_EVERY rows and one at the end. Returns the rows written. */
static long load_log(struct lk_store *store, const struct lk_signer *signer, long n, int64_t start,
                     int64_t span)
{
	struct lk_checkpoint cp;
	struct lk_err err = { { 0 } };
	int64_t policy_epoch = -1;
	long since = 0;

	if (lk_store_batch_begin(store, &err) < 0)
		bench_die("batch: %s", err.msg);
	load_keys(store, start, span);
	for (long i = 0; i < n; i++) {
		int64_t ts = start + span * i / n;

		key_events(store, ts, start);
		if (ts / POLICY_EVERY_S != policy_epoch) {
			policy_epoch = ts / POLICY_EVERY_S;
			load_policies(store, ts);
		}
		decision(store, i, ts);
		if (appended - since >= CHECKPOINT_EVERY) {
			since = appended;
			if (lk_checkpoint_make(store, signer, ts, 0, LK_CHECKPOINT_INTERVAL, &cp,
			                       &err) < 0)
				bench_die("checkpoint: %s", err.msg);
		}
	}
	key_events(store, start + span, start);
	if (lk_checkpoint_make(store, signer, start + span, 0, LK_CHECKPOINT_SHUTDOWN, &cp, &err) <
	        0 ||
	    lk_store_batch_commit(store, &err) < 0)
		bench_die("commit: %s", err.msg);
	return appended;
}

static void make_fixture(long n, int64_t start, int64_t span, long *ret_rows)
{
	char db[PATH_MAX + 64], mk[PATH_MAX + 64], sk[PATH_MAX + 64];
	struct lk_master *master = NULL;
	struct lk_signer *signer = NULL;
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };

	snprintf(db, sizeof(db), "%s/latchkey.db", bench.state);
	snprintf(mk, sizeof(mk), "%s/master.key", bench.state);
	snprintf(sk, sizeof(sk), "%s/signing.key", bench.state);
	if (lk_master_load(mk, &master, &err) < 0 || lk_signing_load(sk, &signer, &err) < 0 ||
	    lk_store_open(db, 0, master, &store, &err) < 0 ||
	    lk_store_set_durability(store, false, &err) < 0)
		bench_die("fixture setup: %s", err.msg);
	*ret_rows = load_log(store, signer, n, start, span);
	sql(store->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	lk_store_close(store);
	lk_signer_free(signer);
	lk_master_free(master);
}

/* The reference: every column of every audit row through the C API, on a
 * connection of its own (what `sqlite3 latchkey.db 'SELECT * FROM audit'`
 * does without printing). */
static double bare_scan(long *ret_rows)
{
	char db[PATH_MAX + 64];
	sqlite3 *h;
	sqlite3_stmt *st;
	long rows = 0, sink = 0;
	double t0 = bench_now();

	snprintf(db, sizeof(db), "%s/latchkey.db", bench.state);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT * FROM audit", -1, &st, NULL) != SQLITE_OK)
		bench_die("bare scan: %s", sqlite3_errmsg(h));
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++)
			sink += sqlite3_column_bytes(st, c);
		rows++;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (sink == 0)
		bench_die("bare scan read nothing");
	*ret_rows = rows;
	return bench_now() - t0;
}

/* Runs the CLI (stdin /dev/null, stdout and stderr to the log) and returns
 * its wall time; its peak RSS in KiB in ret_maxrss_kb. Any failure aborts. */
static double timed_cli(const char *what, char *const *argv, long *ret_maxrss_kb)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	double t0;
	pid_t pid;
	int wst, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, bench.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	t0 = bench_now();
	rc = posix_spawn(&pid, bench.cli, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		bench_die("spawn %s: %s", bench.cli, strerror(rc));
	while (wait4(pid, &wst, 0, &ru) < 0)
		if (errno != EINTR)
			bench_die("wait4: %s", strerror(errno));
	t0 = bench_now() - t0;
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		bench_die("latchkey %s failed (wait status %d)", what, wst);
	if (ret_maxrss_kb != NULL)
		*ret_maxrss_kb = ru.ru_maxrss;
	return t0;
}

static long long dir_bytes(const char *dir)
{
	static const char *const files[] = { "evidence.xml", "report.html", "decisions.csv",
		                             "keys.csv" };
	long long total = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[PATH_MAX + 64];
		struct stat sb;

		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		if (stat(p, &sb) == 0)
			total += sb.st_size;
	}
	return total;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	double t_pack[MAX_RUNS], t_bare[MAX_RUNS], t_verify[MAX_RUNS], rss[MAX_RUNS], t0, setup;
	char from[16], to[16], out[PATH_MAX + 64];
	long n = 1000000, rows = 0, scanned = 0, maxrss = 0;
	long long bytes = 0;
	int runs = 3, opt;
	int64_t start, span = DAYS * 86400LL;
	time_t t;

	bench.prog = "bench_report";
	while ((opt = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (opt == 'n')
			runs = (int)bench_parse_long(optarg, 1, MAX_RUNS, 'n');
		else if (opt == 'r')
			n = bench_parse_long(optarg, 1000, 100000000, 'r');
		else {
			fprintf(stderr, "usage: bench_report [-n RUNS] [--rows N]\n");
			return 2;
		}
	}
	if (sodium_init() < 0)
		return 2;
	bench_find_latchkey(LK_BUILDDIR);
	bench_catch_signals();
	bench_make_base("report");
	bench_init_state(bench_env_or("LK_APIKEY_PLUGIN_DIR", LK_BUILDDIR "/plugins/apikey/.libs"));

	/* The 90 days that end at the last midnight (UTC) before yesterday, so
	 * the report's own checkpoint (now) comes after the fixture's. */
	start = ((int64_t)time(NULL) / 86400 - 1) * 86400 - span;
	t = (time_t)start;
	strftime(from, sizeof(from), "%Y-%m-%d", gmtime(&t));
	t = (time_t)(start + span - 86400);
	strftime(to, sizeof(to), "%Y-%m-%d", gmtime(&t));

	t0 = bench_now();
	make_fixture(n, start, span, &rows);
	setup = bench_now() - t0;
	printf("fixture: %ld auth.decision rows (%ld audit rows) over %d days, %s to %s, "
	       "checkpoints every %d rows, %d keys (generated in %.1f s)\n",
	       n, rows, DAYS, from, to, CHECKPOINT_EVERY, KEYS, setup);
	fflush(stdout);

	(void)bare_scan(&scanned); /* warm the page cache for everyone */
	for (int r = 0; r < runs; r++) {
		long kb = 0;

		bench_check_interrupted();
		t_bare[r] = bare_scan(&scanned);
		t_verify[r] = timed_cli("audit verify",
		                        (char *const[]){ "latchkey", "--offline", "-c", bench.conf,
		                                         "audit", "verify", NULL },
		                        NULL);
		snprintf(out, sizeof(out), "%s/pack-%d", bench.base, r);
		t_pack[r] = timed_cli("report soc2",
		                      (char *const[]){ "latchkey", "--offline", "-c", bench.conf,
		                                       "report", "soc2", "--from", from, "--to", to,
		                                       "--out", out, NULL },
		                      &kb);
		rss[r] = (double)kb / 1024.0;
		if (kb > maxrss)
			maxrss = kb;
		bytes = dir_bytes(out);
		printf("run %d: pack %.2f s, peak RSS %.1f MB\n", r + 1, t_pack[r], rss[r]);
		fflush(stdout);
	}
	{
		double b = bench_median(t_bare, runs), v = bench_median(t_verify, runs),
		       p = bench_median(t_pack, runs), m = bench_median(rss, runs);

		printf("\n%d runs, medians (pack %.1f MB: evidence.xml, report.html, CSVs)\n", runs,
		       (double)bytes / 1e6);
		printf("%-46s %9.3f s   %12.0f rows/s\n", "bare SQLite scan of audit (reference)",
		       b, (double)scanned / b);
		printf("%-46s %9.3f s   %12.0f rows/s  (target >= 500000 rows/s)\n",
		       "latchkey --offline audit verify", v, (double)scanned / v);
		printf("%-46s %9.3f s   %12.0f rows/s  (target <= %.0f s)\n",
		       "latchkey --offline report soc2 (90 days)", p, (double)scanned / p,
		       TARGET_S);
		printf("%-46s %9.1f MB  (max %.1f MB; target <= %.0f MB)\n",
		       "report soc2 peak RSS (ru_maxrss)", m, (double)maxrss / 1024.0, TARGET_MB);
		printf("ratio pack / bare scan: %.1fx\n", p / b);
	}
	bench_cleanup(false);
	return 0;
}
