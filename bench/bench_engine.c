/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_engine: one authentication through the policy engine in process
 * (policy read and validated, apikey plugin loaded and hashed, key verified,
 * key.verify and auth.decision rows committed with synchronous=FULL), beside
 * the key verification alone with its audit commit (lk_key_verify), in the
 * same run. Prints figures; asserts nothing.
 *
 *   bench/bench_engine PLUGIN_DIR [--ops N] [--rounds R]
 *
 * PLUGIN_DIR holds apikey.so (the build's plugins/apikey/.libs).
 */
#include "config.h"

#include <getopt.h>
#include <security/pam_appl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine-private.h"
#include "keys-private.h"

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

static void die(const char *what, const struct lk_err *err)
{
	fprintf(stderr, "bench_engine: %s: %s\n", what, err != NULL ? err->msg : "");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ops", required_argument, NULL, 'o' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200], key[LK_KEY_MAX_LEN + 1];
	struct lk_master *master = NULL;
	struct lk_store *store = NULL;
	struct lk_engine *engine = NULL;
	struct lk_err err = { { 0 } };
	struct lk_key_rules rules = { .max_lifetime = 90 * 86400, .rotation_grace = 3600 };
	struct lk_key_info info;
	const char *scopes[] = { "web:read" };
	double t_engine[64], t_verify[64], t_cached[64], t_batch[64];
	int ops = 200, rounds = 5, opt;
	FILE *f;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'o')
			ops = atoi(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else
			return 2;
	}
	if (optind != argc - 1 || ops < 1 || rounds < 1 || rounds > 64 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_engine PLUGIN_DIR [--ops N] [--rounds R]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/latchkey-bench-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", NULL);
	snprintf(path, sizeof(path), "%s/master.key", dir);
	if (lk_master_create(path, &err) < 0 || lk_master_load(path, &master, &err) < 0)
		die("master key", &err);
	snprintf(path, sizeof(path), "%s/latchkey.db", dir);
	if (lk_store_open(path, LK_STORE_CREATE, master, &store, &err) < 0)
		die("store", &err);
	snprintf(path, sizeof(path), "%s/web.xml", dir);
	f = fopen(path, "w");
	if (f == NULL)
		die("policy", NULL);
	fputs("<policy xmlns=\"urn:latchkey:policy:1\" service=\"web\" environment=\"prod\">"
	      "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	      "<scopes><scope>web:read</scope></scopes></policy>\n",
	      f);
	fclose(f);
	chmod(path, 0644);
	if (lk_engine_new(store, dir, argv[optind], &engine, &err) < 0)
		die("engine", &err);
	if (lk_key_issue(store, &rules,
	                 &(struct lk_issue_request){ .owner = "svc-web",
	                                             .env = "prod",
	                                             .scopes = scopes,
	                                             .n_scopes = 1,
	                                             .lifetime = 86400 },
	                 0, time(NULL), key, &info, &err) < 0)
		die("issue", &err);

	for (int r = 0; r < rounds; r++) {
		struct lk_plugin_input in = { "apikey", key, strlen(key) };
		struct lk_auth_request req = {
			.service = "web", .user = "svc-web", .inputs = &in, .n_inputs = 1
		};
		struct lk_verify_request vreq = { .env = "prod", .scopes = scopes, .n_scopes = 1 };
		double t0 = now_s();

		for (int i = 0; i < ops; i++) {
			struct lk_auth_result res;
			if (lk_engine_authenticate(engine, &req, time(NULL), &res, &err) < 0 ||
			    res.pam_code != PAM_SUCCESS)
				die("authenticate did not succeed", &err);
		}
		t_engine[r] = (now_s() - t0) / ops;
		t0 = now_s();
		for (int i = 0; i < ops; i++) {
			struct lk_verify_result v;
			if (lk_key_verify(store, key, strlen(key), &vreq, 0, time(NULL), &v, &err) <
			        0 ||
			    v.verdict != LK_VERDICT_OK)
				die("verify did not succeed", &err);
		}
		t_verify[r] = (now_s() - t0) / ops;
	}
	/* The daemon's way: policies and plugins loaded once; then the same
	 * decisions one commit each, and all in one batch (group commit: the
	 * engine's own cost, without the fsync). */
	if (lk_engine_reload(engine, 0, &err) < 0)
		die("reload", &err);
	for (int r = 0; r < rounds; r++) {
		struct lk_plugin_input in = { "apikey", key, strlen(key) };
		struct lk_auth_request req = {
			.service = "web", .user = "svc-web", .inputs = &in, .n_inputs = 1
		};
		double t0 = now_s();

		for (int batch = 0; batch < 2; batch++) {
			if (batch && lk_store_batch_begin(store, &err) < 0)
				die("batch", &err);
			t0 = now_s();
			for (int i = 0; i < ops; i++) {
				struct lk_auth_result res;
				if (lk_engine_authenticate(engine, &req, time(NULL), &res, &err) <
				        0 ||
				    res.pam_code != PAM_SUCCESS)
					die("authenticate did not succeed", &err);
			}
			if (batch && lk_store_batch_commit(store, &err) < 0)
				die("batch commit", &err);
			(batch ? t_batch : t_cached)[r] = (now_s() - t0) / ops;
		}
	}
	qsort(t_engine, (size_t)rounds, sizeof(double), cmp_double);
	qsort(t_verify, (size_t)rounds, sizeof(double), cmp_double);
	qsort(t_cached, (size_t)rounds, sizeof(double), cmp_double);
	qsort(t_batch, (size_t)rounds, sizeof(double), cmp_double);
	printf("%d rounds x %d ops, medians, synchronous=FULL, one commit per decision\n", rounds,
	       ops);
	printf("%-52s %9.1f us/op %9.0f ops/s\n", "lk_key_verify with its audit commit (reference)",
	       t_verify[rounds / 2] * 1e6, 1 / t_verify[rounds / 2]);
	printf("%-52s %9.1f us/op %9.0f ops/s\n",
	       "engine: policy + plugin load + verify + 2 audit rows", t_engine[rounds / 2] * 1e6,
	       1 / t_engine[rounds / 2]);
	printf("%-52s %9.1f us/op %9.0f ops/s\n", "engine, loaded once (daemon), commit each",
	       t_cached[rounds / 2] * 1e6, 1 / t_cached[rounds / 2]);
	printf("%-52s %9.1f us/op %9.0f ops/s\n", "engine, loaded once, all in one batch",
	       t_batch[rounds / 2] * 1e6, 1 / t_batch[rounds / 2]);
	printf("ratio engine / verify: %.2fx; loaded once: %.2fx; batched: %.2fx\n",
	       t_engine[rounds / 2] / t_verify[rounds / 2],
	       t_cached[rounds / 2] / t_verify[rounds / 2],
	       t_batch[rounds / 2] / t_verify[rounds / 2]);

	sodium_memzero(key, sizeof(key));
	lk_engine_free(engine);
	lk_store_close(store);
	lk_master_free(master);
	/* The temp dir stays behind only on failure (die exits), to look at. */
	{
		static const char *const files[] = { "master.key", "latchkey.db", "latchkey.db-wal",
			                             "latchkey.db-shm", "web.xml" };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	return 0;
}
