/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_pam: logins per second through the real PAM stack, as a service
 * sees them: pam_start_confdir / pam_authenticate / pam_end in a loop on K
 * processes at once, for a fixed time, against a latchkeyd spawned on a
 * temp state dir. Stacks, all in the same run:
 *
 *   pam_permit            "auth required pam_permit.so", the ceiling
 *   pam_latchkey valid    a valid key, under each daemon config variant
 *   pam_latchkey bad      a well-formed key with the wrong secret
 *
 * Every result is checked (permit and valid: PAM_SUCCESS, bad: PAM_AUTH_ERR)
 * and any other aborts the run: a benchmark of failures is worthless.
 * Prints figures and the targets beside them; asserts no timing.
 *
 *   bench/bench_pam [-k K] [-n N] [-t SECONDS]
 *
 * -k: the concurrent clients besides K = 1 (default 8), -n: repetitions,
 * the median is printed (default 5), -t: seconds per repetition (default 1).
 * A daemon config variant is lines replacing those of the same names in the
 * config latchkey init wrote, the daemon restarted on it; each repetition
 * runs every variant in turn.
 * Binaries from LATCHKEY_BIN, LATCHKEYD_BIN, LK_APIKEY_PLUGIN_DIR and
 * LK_PAM_MODULE, else from the build tree this was built in. The harness
 * (state dir, daemon, workers, cleanup) is bench-util.h's, shared with
 * bench_totp.
 */
#include "config.h"

#include <security/pam_appl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apikey-private.h"
#include "bench-util.h"

#ifndef LK_BUILDDIR
#define LK_BUILDDIR "."
#endif

enum answer { ANSWER_NONE, ANSWER_KEY, ANSWER_BAD_KEY };

struct stack {
	const char *label;
	const char *service; /* a file in the PAM confdir */
	enum answer answer;
	int expect;
};

static const struct stack stacks[] = {
	{ "pam_permit (ceiling)", "permit", ANSWER_NONE, PAM_SUCCESS },
	{ "pam_latchkey, valid key", "web", ANSWER_KEY, PAM_SUCCESS },
	{ "pam_latchkey, bad key", "web", ANSWER_BAD_KEY, PAM_AUTH_ERR },
};
enum { STACK_PERMIT, STACK_VALID, STACK_BAD };

/* A daemon config variant: these lines replace any of the same names in the
 * config latchkey init wrote. */
struct variant {
	const char *label;
	const char *lines;
};

static const struct variant variants[] = {
	{ "group commit", "durability = fsync\ngroup_commit_max = 64\n" },
	{ "per-decision", "durability = fsync\ngroup_commit_max = 1\n" },
};
enum { VARIANT_GROUP, VARIANT_SINGLE };

/* This program's own part of the run's state (bench-util.h has the rest). */
static struct {
	const char *plugin_dir, *module;
	char key[LK_KEY_MAX_LEN + 1];
	char bad_key[LK_KEY_MAX_LEN + 1];
} P;

static void wipe_keys(void)
{
	sodium_memzero(P.key, sizeof(P.key));
	sodium_memzero(P.bad_key, sizeof(P.bad_key));
}

/* ---- Setting up the state dir ---- */

/* The same key with a fresh secret and a correct CRC: it reaches the
 * lookup and the hash comparison, not the CRC check. */
static void make_bad_key(void)
{
	struct lk_apikey k;

	if (lk_apikey_parse(P.key, strlen(P.key), &k) != LK_PARSE_OK)
		bench_die("latchkey key issue printed something that is not a key");
	lk_base62_random(k.secret, LK_SECRET_LEN);
	if (lk_apikey_format(&k, P.bad_key, sizeof(P.bad_key)) < 0)
		bench_die("cannot format the bad key");
	lk_apikey_wipe(&k);
}

/* PAM service files: "permit" (the ceiling) and "web" (pam_latchkey). */
static void write_pam_services(void)
{
	char path[PATH_MAX * 2], text[PATH_MAX * 3];

	snprintf(path, sizeof(path), "%s/permit", bench.confdir);
	bench_write_file(path, "auth required pam_permit.so\n", 0644);
	snprintf(path, sizeof(path), "%s/web", bench.confdir);
	snprintf(text, sizeof(text), "auth required %s socket=%s\n", P.module, bench.sock);
	bench_write_file(path, text, 0644);
}

/* The bad-key row would lock alice's key after a few failures (PAM_MAXTRIES
 * from then on): the limit is set out of its reach, so every bad key is
 * still counted, as it would be, and answered PAM_AUTH_ERR. */
static void setup_state(void)
{
	char path[PATH_MAX * 2];

	bench_make_base("pam");
	bench_init_state(P.plugin_dir);
	snprintf(path, sizeof(path), "%s/policies/web.xml", bench.state);
	bench_write_file(path,
	                 "<policy xmlns=\"urn:latchkey:policy:1\" service=\"web\" "
	                 "environment=\"prod\">"
	                 "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	                 "<scopes><scope>web:read</scope></scopes>"
	                 "<lockout credential-failures=\"999999\"/></policy>\n",
	                 0644);
	bench_run_cli("key issue",
	              (char *const[]){ "latchkey", "-c", bench.conf, "--offline", "key", "issue",
	                               "--owner", "alice", "--env", "prod", "--scope", "web:read",
	                               "--expires", "30d", NULL },
	              P.key, sizeof(P.key));
	make_bad_key();
	write_pam_services();
}

/* ---- The workers ---- */

/* Logs in as alice until the deadline, answering every prompt with the
 * stack's key. */
static void body(int worker, double deadline, struct bench_report *rep, void *ctx)
{
	const struct stack *s = ctx;
	const struct bench_answer answers[] = {
		{ NULL, s->answer == ANSWER_KEY       ? P.key
		        : s->answer == ANSWER_BAD_KEY ? P.bad_key
		                                      : NULL },
		{ NULL, NULL },
	};

	(void)worker;
	while (bench_now() < deadline && bench_login(s->service, "alice", answers, s->expect, rep))
		rep->count++;
}

/* ---- The run ---- */

struct row {
	int stack;
	int variant; /* -1: the daemon is not involved */
	int k;
	double samples[BENCH_MAX_REPS];
	double rate; /* their median */
};

static void find_binaries(void)
{
	bench_find_latchkey(LK_BUILDDIR);
	P.plugin_dir =
	    bench_path("LK_APIKEY_PLUGIN_DIR", LK_BUILDDIR "/plugins/apikey/.libs", R_OK | X_OK);
	P.module = bench_path("LK_PAM_MODULE", LK_BUILDDIR "/pam/.libs/pam_latchkey.so", R_OK);
}

/* The rows of the table: each stack and variant at K = 1 and K = k. */
static int plan(struct row *rows, int k)
{
	static const int cells[][2] = {
		{ STACK_PERMIT, -1 },
		{ STACK_VALID, VARIANT_GROUP },
		{ STACK_BAD, VARIANT_GROUP },
		{ STACK_VALID, VARIANT_SINGLE },
	};
	int n = 0;

	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		rows[n++] = (struct row){ .stack = cells[i][0], .variant = cells[i][1], .k = 1 };
		if (k != 1)
			rows[n++] =
			    (struct row){ .stack = cells[i][0], .variant = cells[i][1], .k = k };
	}
	return n;
}

/* Each repetition runs every daemon config in turn, so that a change in the
 * machine's load during the run (other builds) weighs on both sides of the
 * group / per-decision ratio alike, rather than on whichever ran last.
 * pam_permit runs beside the first config's daemon. */
static void measure(struct row *rows, int n, int reps, double seconds)
{
	for (int r = 0; r < reps; r++) {
		for (int v = 0; v < (int)(sizeof(variants) / sizeof(variants[0])); v++) {
			bench_start_daemon(variants[v].lines, variants[v].label);
			for (int i = 0; i < n; i++) {
				const struct stack *s = &stacks[rows[i].stack];
				if ((rows[i].variant < 0 ? 0 : rows[i].variant) != v)
					continue;
				rows[i].samples[r] =
				    bench_run(s->label, rows[i].k, seconds, body, (void *)s, NULL);
				bench_check_interrupted();
			}
			if (!bench_stop_daemon())
				bench_die("latchkeyd did not stop cleanly (%s config)",
				          variants[v].label);
		}
	}
	for (int i = 0; i < n; i++)
		rows[i].rate = bench_median(rows[i].samples, reps);
}

static double rate_of(const struct row *rows, int n, int stack, int variant, int k)
{
	for (int i = 0; i < n; i++)
		if (rows[i].stack == stack && rows[i].variant == variant && rows[i].k == k)
			return rows[i].rate;
	return 0;
}

static void print_table(const struct row *rows, int n)
{
	printf("%-26s %-13s %3s %10s %10s %12s\n", "stack", "daemon", "K", "auths/s", "/permit",
	       "group/single");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		double permit = rate_of(rows, n, STACK_PERMIT, -1, r->k);
		printf("%-26s %-13s %3d %10.0f %9.2fx", stacks[r->stack].label,
		       r->variant < 0 ? "-" : variants[r->variant].label, r->k, r->rate,
		       permit > 0 ? r->rate / permit : 0);
		if (r->stack == STACK_VALID && r->variant == VARIANT_GROUP)
			printf(" %11.2fx",
			       r->rate / rate_of(rows, n, STACK_VALID, VARIANT_SINGLE, r->k));
		putchar('\n');
	}
}

/* The targets beside the figures: printed, never asserted. */
static void print_targets(const struct row *rows, int n, int k)
{
	double one = rate_of(rows, n, STACK_VALID, VARIANT_GROUP, 1);
	double permit1 = rate_of(rows, n, STACK_PERMIT, -1, 1);
	double many = rate_of(rows, n, STACK_VALID, VARIANT_GROUP, k);
	double single = rate_of(rows, n, STACK_VALID, VARIANT_SINGLE, k);

	printf("targets (printed, not asserted):\n");
	printf("  K=1, valid key / pam_permit        %8.2fx  target >= 0.6x   %s\n", one / permit1,
	       one / permit1 >= 0.6 ? "met" : "not met");
	printf("  K=%-2d valid key, fsync, group commit %8.0f/s target >= 10000/s %s\n", k, many,
	       many >= 10000 ? "met" : "not met");
	printf("  K=%-2d group commit / per-decision    %8.2fx  target >= 5x     %s\n", k,
	       many / single, many / single >= 5 ? "met" : "not met");
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_pam [-k K] [-n N] [-t SECONDS]\n"
	        "  -k  concurrent clients besides 1 (1 to %d, default 8)\n"
	        "  -n  repetitions, the median is printed (1 to %d, default 5)\n"
	        "  -t  seconds per repetition (default 1)\n",
	        BENCH_MAX_CLIENTS, BENCH_MAX_REPS);
	exit(2);
}

int main(int argc, char **argv)
{
	struct row rows[16];
	int k = 8, reps = 5, opt, n;
	double seconds = 1;

	bench.prog = "bench_pam";
	bench.peer_services = "web";
	bench.wipe = wipe_keys;
	while ((opt = getopt(argc, argv, "k:n:t:h")) != -1)
		if (!bench_common_option(opt, optarg, &k, &reps, &seconds))
			usage();
	if (optind != argc)
		usage();
	if (sodium_init() < 0)
		bench_die("cannot initialise libsodium");
	bench_catch_signals();
	find_binaries();
	setup_state();

	n = plan(rows, k);
	measure(rows, n, reps, seconds);

	printf(
	    "bench_pam: pam_start_confdir + pam_authenticate + pam_end per login, K processes "
	    "each in its own loop;\n%d repetitions x %.1f s (daemon configs alternating), medians; "
	    "durability = fsync; "
	    "%ld CPUs\n",
	    reps, seconds, sysconf(_SC_NPROCESSORS_ONLN));
	print_table(rows, n);
	print_targets(rows, n, k);
	bench_cleanup(false);
	return 0;
}
