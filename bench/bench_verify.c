/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_verify: the two verification paths latchkey has, each printed
 * beside a bare SQLite reference on the same table in the same run. Prints
 * figures; asserts nothing.
 *
 * 1. API keys: the in-process verification path against a store of N keys
 *    (default 1,000,000) beside a bare SQLite indexed lookup.
 * 2. The audit log: `latchkey audit verify` (lk_checkpoint_verify: the hash
 *    chain and every signed checkpoint) over a generated log of M decisions
 *    spread over 90 days (default 1,000,000) with a checkpoint every 10,000
 *    rows, beside a bare SQLite read of the same rows in seq order.
 *
 *   bench/bench_verify [--keys N] [--rounds R] [--ops K] [--audit-rows M]
 *                      [--dir DIR]
 *
 * --keys 0 or --audit-rows 0 skips that part. Rounds alternate between a
 * path and its reference so machine noise hits both alike; the figures are
 * medians over rounds.
 */
#include "config.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit-private.h"
#include "checkpoint-private.h"
#include "keys-private.h"
#include "masterkey-private.h"
#include "store-private.h"

#define SAMPLE 100000
/* The log the audit part generates: a checkpoint every this many rows
 * (about what a busy day between two 15-minute checkpoints holds), over
 * this many days. */
#define AUDIT_CHECKPOINT_EVERY 10000
#define AUDIT_DAYS             90

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const struct lk_err *err)
{
	fprintf(stderr, "bench_verify: %s: %s\n", what, err != NULL ? err->msg : "");
	exit(1);
}

static void sql(sqlite3 *db, const char *s)
{
	if (sqlite3_exec(db, s, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_verify: %s: %s\n", s, sqlite3_errmsg(db));
		exit(1);
	}
}

/* Bulk-loads n keys in one transaction (the lifecycle API would commit and
 * audit each one: right for admins, pointless for a fixture). Keeps a random
 * sample of full key strings for the measurement. */
static void load_keys(struct lk_store *store, long n, char (*sample)[LK_KEY_MAX_LEN + 1])
{
	sqlite3_stmt *st;
	struct lk_apikey k;
	unsigned char hash[LK_HASH_LEN];
	long stride = n / SAMPLE > 0 ? n / SAMPLE : 1, s = 0;

	sql(store->db, "BEGIN");
	sql(store->db, "INSERT INTO subject VALUES ('sub_benchbenchbench01', 'owner', 'bench', 0)");
	if (sqlite3_prepare_v2(store->db,
	                       "INSERT INTO api_key (kid, owner_ref, env, scopes, hash, hash_alg,"
	                       " pepper_ver, created, expires, status)"
	                       " VALUES (?1, 'sub_benchbenchbench01', 'prod', 'billing:read read',"
	                       " ?2, 'blake2b-256-v1', 1, 1700000000, 4102444800, 'active')",
	                       -1, &st, NULL) != SQLITE_OK)
		die("prepare", NULL);
	for (long i = 0; i < n; i++) {
		lk_apikey_generate("prod", &k);
		lk_apikey_hash(&k, store->pepper, hash);
		sqlite3_bind_text(st, 1, k.kid, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, hash, LK_HASH_LEN, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			die("insert", NULL);
		sqlite3_reset(st);
		if (i % stride == 0 && s < SAMPLE)
			lk_apikey_format(&k, sample[s++], LK_KEY_MAX_LEN + 1);
	}
	sqlite3_finalize(st);
	sql(store->db, "COMMIT");
	lk_apikey_wipe(&k);
}

/* M decisions as latchkeyd writes them (lk_audit_append computes each leaf
 * and link), in one batch, with a signed checkpoint every
 * AUDIT_CHECKPOINT_EVERY rows and one at the end. */
static void load_audit(struct lk_store *store, const struct lk_signer *signer, long n)
{
	static const char *const results[] = { "ok", "ok", "ok", "bad-secret", "revoked" };
	struct lk_checkpoint cp;
	struct lk_err err = { { 0 } };
	int64_t start = 1790000000, span = AUDIT_DAYS * 86400LL;

	if (lk_store_batch_begin(store, &err) < 0)
		die("batch", &err);
	for (long i = 0; i < n; i++) {
		char kid[16], ref[32], detail[96];
		int64_t ts = start + span * i / n;
		snprintf(kid, sizeof(kid), "K%011ld", i % 5000);
		snprintf(ref, sizeof(ref), "sub_%016ld", i % 2000);
		snprintf(detail, sizeof(detail),
		         "service=web rhost=10.%ld.%ld.%ld policy=3f9a1c2b plugin=apikey", i % 250,
		         (i / 250) % 250, i % 7);
		if (lk_audit_append(store,
		                    &(struct lk_audit_event){ .ts = ts,
		                                              .actor_uid = 0,
		                                              .subject_ref = ref,
		                                              .kid = kid,
		                                              .action = "auth.decision",
		                                              .reason = results[i % 5],
		                                              .detail = detail },
		                    NULL, &err) < 0)
			die("audit append", &err);
		if ((i + 1) % AUDIT_CHECKPOINT_EVERY == 0 &&
		    lk_checkpoint_make(store, signer, ts, 0, LK_CHECKPOINT_INTERVAL, &cp, &err) < 0)
			die("checkpoint", &err);
	}
	if (lk_checkpoint_make(store, signer, start + span, 0, LK_CHECKPOINT_SHUTDOWN, &cp, &err) <
	        0 ||
	    lk_store_batch_commit(store, &err) < 0)
		die("commit", &err);
}

/* The reference: every column the walk reads, every row, in seq order. */
static double bare_scan(struct lk_store *store, long *ret_rows)
{
	sqlite3_stmt *st;
	long rows = 0, sink = 0;
	double t0 = now_s();

	if (sqlite3_prepare_v2(
	        store->db,
	        "SELECT seq, ts, actor_uid, subject_ref, kid, action, reason, detail,"
	        " leaf, chain FROM audit ORDER BY seq",
	        -1, &st, NULL) != SQLITE_OK)
		die("prepare", NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 3; c < 8; c++)
			sink += sqlite3_column_bytes(st, c);
		sink += sqlite3_column_bytes(st, 8) + sqlite3_column_bytes(st, 9);
		rows++;
	}
	sqlite3_finalize(st);
	if (sink == 0)
		die("bare scan read nothing", NULL);
	*ret_rows = rows;
	return now_s() - t0;
}

static void bench_audit(const char *dir, long nrows, int rounds)
{
	char db[4200], mk[4200], sk[4200], pub[4200];
	struct lk_master *master = NULL;
	struct lk_signer *signer = NULL;
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	struct lk_verify_report rep;
	double *t_bare, *t_verify, t0, setup;
	long rows = 0;

	snprintf(db, sizeof(db), "%s/audit.db", dir);
	snprintf(mk, sizeof(mk), "%s/audit-master.key", dir);
	snprintf(sk, sizeof(sk), "%s/signing.key", dir);
	snprintf(pub, sizeof(pub), "%s/signing.pub.pem", dir);
	if (lk_master_create(mk, &err) < 0 || lk_master_load(mk, &master, &err) < 0 ||
	    lk_signing_create(sk, pub, NULL, &err) < 0 || lk_signing_load(sk, &signer, &err) < 0 ||
	    lk_store_open(db, LK_STORE_CREATE, master, &store, &err) < 0 ||
	    lk_store_set_durability(store, false, &err) < 0)
		die("audit setup", &err);
	t_bare = calloc((size_t)rounds, sizeof(double));
	t_verify = calloc((size_t)rounds, sizeof(double));
	if (t_bare == NULL || t_verify == NULL)
		die("out of memory", NULL);
	t0 = now_s();
	load_audit(store, signer, nrows);
	setup = now_s() - t0;

	/* Warm both over the whole file; the first also proves it intact. */
	(void)bare_scan(store, &rows);
	if (lk_checkpoint_verify(store, lk_signer_public(signer), &rep, &err) < 0 ||
	    rep.audit.problem != LK_AUDIT_INTACT)
		die(rep.audit.why[0] ? rep.audit.why : "audit verify failed", &err);
	for (int r = 0; r < rounds; r++) {
		t_bare[r] = bare_scan(store, &rows);
		t0 = now_s();
		if (lk_checkpoint_verify(store, lk_signer_public(signer), &rep, &err) < 0 ||
		    rep.audit.problem != LK_AUDIT_INTACT)
			die("audit verify failed", &err);
		t_verify[r] = now_s() - t0;
	}
	{
		double b = median(t_bare, rounds), v = median(t_verify, rounds);
		printf("\naudit log: %ld rows over %d days, %lld signed checkpoints (generated in "
		       "%.1f s), %d rounds, medians\n",
		       rows, AUDIT_DAYS, (long long)rep.checkpoints, setup, rounds);
		printf("%-44s %9.3f s   %12.0f rows/s\n",
		       "bare SQLite read in seq order (reference)", b, (double)rows / b);
		printf("%-44s %9.3f s   %12.0f rows/s\n",
		       "latchkey audit verify (chain+checkpoints)", v, (double)rows / v);
		printf("ratio audit verify / bare read: %.2fx (target >= 500000 rows/s)\n", v / b);
	}
	lk_store_close(store);
	lk_signer_free(signer);
	lk_master_free(master);
	free(t_bare);
	free(t_verify);
	unlink(db);
	snprintf(db, sizeof(db), "%s/audit.db-wal", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/audit.db-shm", dir);
	unlink(db);
	unlink(mk);
	unlink(sk);
	unlink(pub);
}

static void bench_keys(const char *dir, long nkeys, int rounds, long ops)
{
	char db[4200], mk[4200];
	char(*sample)[LK_KEY_MAX_LEN + 1];
	struct lk_master *master = NULL;
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };
	double *t_bare, *t_verify, t0, setup;
	sqlite3_stmt *bare;
	const char *scopes[] = { "billing:read" };
	struct lk_verify_request req = { .env = "prod", .scopes = scopes, .n_scopes = 1 };
	long nsample;

	snprintf(db, sizeof(db), "%s/latchkey.db", dir);
	snprintf(mk, sizeof(mk), "%s/master.key", dir);
	if (lk_master_create(mk, &err) < 0 || lk_master_load(mk, &master, &err) < 0 ||
	    lk_store_open(db, LK_STORE_CREATE, master, &store, &err) < 0)
		die("setup", &err);

	sample = calloc(SAMPLE, sizeof(*sample));
	t_bare = calloc((size_t)rounds, sizeof(double));
	t_verify = calloc((size_t)rounds, sizeof(double));
	if (sample == NULL || t_bare == NULL || t_verify == NULL)
		die("out of memory", NULL);
	t0 = now_s();
	load_keys(store, nkeys, sample);
	setup = now_s() - t0;
	nsample = nkeys < SAMPLE ? nkeys : SAMPLE;
	if (sqlite3_prepare_v2(store->db, "SELECT hash FROM api_key WHERE kid = ?1", -1, &bare,
	                       NULL) != SQLITE_OK)
		die("prepare", NULL);

	/* Warm both paths over the sample so neither pays for a cold cache. */
	for (long i = 0; i < nsample; i++) {
		struct lk_verify_result res;
		if (lk_key_check(store, sample[i], strlen(sample[i]), &req, 1800000000, &res,
		                 &err) < 0 ||
		    res.verdict != LK_VERDICT_OK)
			die("warm-up verify did not return ok", &err);
	}

	for (int r = 0; r < rounds; r++) {
		long sink = 0;

		t0 = now_s();
		for (long i = 0; i < ops; i++) {
			const char *key = sample[(i * 7919 + r) % nsample];
			/* The kid sits after "lk_prod_": same lookup the verifier makes. */
			sqlite3_bind_text(bare, 1, key + 8, LK_KID_LEN, SQLITE_STATIC);
			if (sqlite3_step(bare) == SQLITE_ROW)
				sink += sqlite3_column_bytes(bare, 0);
			sqlite3_reset(bare);
		}
		t_bare[r] = (now_s() - t0) / (double)ops;
		if (sink != ops * LK_HASH_LEN)
			die("bare lookup missed rows", NULL);

		t0 = now_s();
		for (long i = 0; i < ops; i++) {
			const char *key = sample[(i * 7919 + r) % nsample];
			struct lk_verify_result res;
			if (lk_key_check(store, key, strlen(key), &req, 1800000000, &res, &err) <
			        0 ||
			    res.verdict != LK_VERDICT_OK)
				die("verify did not return ok", &err);
		}
		t_verify[r] = (now_s() - t0) / (double)ops;
	}

	{
		double b = median(t_bare, rounds) * 1e6, v = median(t_verify, rounds) * 1e6;
		printf("store: %ld keys (loaded in %.1f s), %d rounds x %ld ops, medians\n", nkeys,
		       setup, rounds, ops);
		printf("%-44s %9.2f us/op %12.0f ops/s\n", "bare SQLite indexed lookup (reference)",
		       b, 1e6 / b);
		printf("%-44s %9.2f us/op %12.0f ops/s\n",
		       "latchkey verify (parse+CRC+lookup+hash+checks)", v, 1e6 / v);
		printf("ratio verify / bare lookup: %.2fx (target <= 2.00x)\n", v / b);
	}

	sqlite3_finalize(bare);
	lk_store_close(store);
	lk_master_free(master);
	sodium_memzero(sample, SAMPLE * sizeof(*sample));
	free(sample);
	free(t_bare);
	free(t_verify);
	unlink(db);
	snprintf(db, sizeof(db), "%s/latchkey.db-wal", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/latchkey.db-shm", dir);
	unlink(db);
	unlink(mk);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'o' },
		{ "audit-rows", required_argument, NULL, 'a' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	long nkeys = 1000000, ops = 20000, arows = 1000000;
	int rounds = 9, opt;
	const char *tmp = getenv("TMPDIR");
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/latchkey-bench-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			nkeys = atol(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'o':
			ops = atol(optarg);
			break;
		case 'a':
			arows = atol(optarg);
			break;
		case 'd':
			snprintf(dir, sizeof(dir), "%s/latchkey-bench-XXXXXX", optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_verify [--keys N] [--rounds R] [--ops K] "
			                "[--audit-rows M] [--dir D]\n");
			return 2;
		}
	}
	if (nkeys < 0 || arows < 0 || (nkeys == 0 && arows == 0) || rounds < 1 || ops < 1 ||
	    sodium_init() < 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "bench_verify: bad arguments or no temp dir\n");
		return 2;
	}
	if (nkeys > 0)
		bench_keys(dir, nkeys, rounds, ops);
	/* Whole-log walks take seconds each: fewer rounds than lookups. */
	if (arows > 0)
		bench_audit(dir, arows, rounds < 3 ? rounds : 3);
	rmdir(dir);
	return 0;
}
