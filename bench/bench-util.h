/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the benchmarks that log in through the real PAM stack against a
 * spawned latchkeyd share (bench_pam, bench_totp): a temp dir with a state
 * dir made by the built latchkey CLI, the daemon started on a variant of
 * the config latchkey init wrote, K forked login loops with a common start
 * whose every result is checked, and one cleanup (workers, daemon, temp
 * dir, secrets) on every way out: normal end, a failed check, a signal.
 */
#ifndef LATCHKEY_BENCH_UTIL_H
#define LATCHKEY_BENCH_UTIL_H

#include <limits.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* latchkeyd serves at most 64 connections; more clients would be refused. */
#define BENCH_MAX_CLIENTS 64
#define BENCH_MAX_REPS    64
/* How long latchkeyd may take to accept, or to stop (a readiness wait). */
#define BENCH_DAEMON_WAIT_S 30

/* The run's state. Global because the cleanup must reach it from wherever
 * the run fails (bench_die) or is interrupted. */
struct bench {
	const char *prog; /* prefixes every message */
	pid_t parent;     /* the process that cleans up (workers never do) */
	char cli[PATH_MAX], daemon_bin[PATH_MAX]; /* bench_find_latchkey */
	const char *peer_services;                /* auth_peer's services when not root ("web") */
	char base[PATH_MAX];                      /* the temp dir; everything lives below it */
	char state[PATH_MAX + 16];
	char conf[PATH_MAX + 64];
	char sock[PATH_MAX + 64];
	char confdir[PATH_MAX + 64]; /* PAM service files */
	char log[PATH_MAX + 64];     /* stderr of latchkey and latchkeyd */
	char *base_conf;             /* the config latchkey init wrote */
	pid_t daemon;
	pid_t workers[BENCH_MAX_CLIENTS];
	int n_workers;
	/* Wipes the program's secrets: at cleanup, and in each worker before
	 * it exits. May be NULL. */
	void (*wipe)(void);
};

extern struct bench bench;

double bench_now(void); /* CLOCK_MONOTONIC, seconds */
void bench_sleep(double s);

/* "prog: message", the end of the log, cleanup, exit(1). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Kills the workers, stops the daemon, removes the temp dir, wipes. After
 * a failure, prints the end of the log first. Safe to call twice. */
void bench_cleanup(bool failed);

/* SIGINT, SIGTERM and SIGHUP end the run through bench_die at the next
 * check (no SA_RESTART: blocking reads see EINTR). */
void bench_catch_signals(void);
void bench_check_interrupted(void);

/* The value of var, or fallback if it is unset or empty. */
const char *bench_env_or(const char *var, const char *fallback);
/* bench_env_or(var, fallback), which must be accessible with mode (as in
 * access(2)); else the run stops, naming var, its value and why. */
const char *bench_path(const char *var, const char *fallback, int mode);
/* bench.cli and bench.daemon_bin from LATCHKEY_BIN and LATCHKEYD_BIN, else
 * from the build tree builddir. */
void bench_find_latchkey(const char *builddir);
/* Option values; a bad one exits 2 with a message naming the option. */
long bench_parse_long(const char *s, long min, long max, char opt);
double bench_parse_seconds(const char *s, char opt);
/* -k K (1 to BENCH_MAX_CLIENTS), -n N (1 to BENCH_MAX_REPS) and -t SECONDS,
 * the options every PAM benchmark takes; false for any other option. */
bool bench_common_option(int opt, const char *arg, int *k, int *reps, double *seconds);
/* Sorts v and returns its median (the upper one for an even n). */
double bench_median(double *v, int n);

void bench_write_file(const char *path, const char *text, mode_t mode);
char *bench_read_file(const char *path); /* NUL-terminated, malloc'd */
void bench_mkdir(const char *path, mode_t mode);
/* bench.base/plugins (into out) holding a copy of each dirs[i]/names[i]:
 * latchkeyd reads plugins from one directory, the build tree has each in
 * its own. */
void bench_plugin_dir(char *out, size_t outlen, const char *const *dirs, const char *const *names,
                      size_t n);

/* mkdtemp "$TMPDIR/latchkey-bench-<name>-XXXXXX" (else /tmp) and the
 * paths below it; creates the PAM confdir. */
void bench_make_base(const char *name);
/* latchkey init of <base>/state with plugin_dir; keeps the config it
 * wrote in bench.base_conf. */
void bench_init_state(const char *plugin_dir);

/* Runs the latchkey CLI with stdin from /dev/null and stderr to the log;
 * out (if not NULL) gets the first line of its stdout, never a command
 * line. Any failure aborts; the log says why. */
void bench_run_cli(const char *what, char *const *argv, char *out, size_t outlen);

/* Writes the config latchkey init wrote with `lines` replacing those of the
 * same names (plus auth_peer for this uid when not root), starts latchkeyd
 * on it and waits until its socket accepts. label names it in messages. */
void bench_start_daemon(const char *lines, const char *label);
/* SIGTERM, then SIGKILL after BENCH_DAEMON_WAIT_S. True for a clean exit
 * (or no daemon). */
bool bench_stop_daemon(void);

/* A conversation answer: `text` for prompts that begin with `prompt`
 * (NULL: any prompt). An array of them, ended by one whose text is NULL,
 * is the appdata of bench_conv; a prompt none fits is PAM_CONV_ERR. */
struct bench_answer {
	const char *prompt;
	const char *text;
};

int bench_conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data);

enum bench_failure {
	BENCH_OK = 0,
	BENCH_FAIL_START,     /* pam_start_confdir */
	BENCH_FAIL_AUTH,      /* pam_authenticate returned another code */
	BENCH_FAIL_EXHAUSTED, /* the worker ran out of fresh users (bench_totp) */
};

/* What a worker sends the parent: its count, or the result that stopped it.
 * One write, smaller than PIPE_BUF, so reports never mix. */
struct bench_report {
	int worker;
	enum bench_failure failed;
	int code;   /* what the failed call returned */
	int expect; /* what it should have returned */
	long count; /* logins that returned what they should */
	long used;  /* items of the worker's share it used up (bench_totp) */
	double elapsed;
};

/* One login as a service does it: pam_start_confdir (bench.confdir),
 * pam_authenticate(PAM_SILENT), pam_end. True if it returned expect; else
 * rep says which call failed and with what. */
bool bench_login(const char *service, const char *user, const struct bench_answer *answers,
                 int expect, struct bench_report *rep);

/* A worker's loop: log in until deadline (bench_now()), counting in
 * rep->count; stop at the first failure, filling rep. */
typedef void (*bench_body)(int worker, double deadline, struct bench_report *rep, void *ctx);

/*
 * One repetition: forks k workers that start together (a little ahead, so
 * the first forked does not run alone) and run body for `seconds`, then
 * collects their reports. Any failure aborts the run with a message naming
 * label, k and the PAM codes. Returns the logins per second of all of them
 * together; the reports, indexed by worker, in ret_reports if not NULL.
 */
double bench_run(const char *label, int k, double seconds, bench_body body, void *ctx,
                 struct bench_report *ret_reports);

#endif
