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
 * LK_PAM_MODULE, else from the build tree this was built in.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apikey-private.h"

#ifndef LK_BUILDDIR
#define LK_BUILDDIR "."
#endif

/* latchkeyd serves at most 64 connections; more clients would be refused. */
#define MAX_CLIENTS 64
#define MAX_REPS    64
/* How long latchkeyd may take to accept, or to stop (a readiness wait). */
#define DAEMON_WAIT_S 30

extern char **environ;

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

/* What a worker sends the parent: its count, or the result that stopped it. */
struct report {
	long count;
	double elapsed;
	int failed_call; /* 0: none, 1: pam_start_confdir, 2: pam_authenticate */
	int code;
};

/* Everything the cleanup needs, on every way out. */
static struct {
	const char *cli, *daemon_bin, *plugin_dir, *module;
	char base[PATH_MAX];
	char conf[PATH_MAX + 64];
	char sock[PATH_MAX + 64];
	char confdir[PATH_MAX + 64];
	char log[PATH_MAX + 64];
	char *base_conf;
	pid_t daemon;
	pid_t workers[MAX_CLIENTS];
	int n_workers;
	char key[LK_KEY_MAX_LEN + 1];
	char bad_key[LK_KEY_MAX_LEN + 1];
} B;

static volatile sig_atomic_t interrupted;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* What latchkey and latchkeyd said is the best clue to a failed run. */
static void print_log(void)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	int fd = open(B.log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0 &&
	    lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
	          SEEK_SET) >= 0 &&
	    (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		fprintf(stderr, "bench_pam: end of %s:\n%s", B.log, buf);
	}
	close(fd);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* SIGTERM, then SIGKILL if it has not gone within DAEMON_WAIT_S. Returns
 * true for a clean exit. */
static bool stop_daemon(void)
{
	int wst = 0;
	pid_t r = 0;

	if (B.daemon <= 0)
		return true;
	kill(B.daemon, SIGTERM);
	for (int i = 0; i < DAEMON_WAIT_S * 100 && r == 0; i++) {
		r = waitpid(B.daemon, &wst, WNOHANG);
		if (r == 0)
			sleep_s(0.01);
	}
	if (r <= 0) {
		kill(B.daemon, SIGKILL);
		reap(B.daemon);
	}
	B.daemon = 0;
	return r > 0 && WIFEXITED(wst) && WEXITSTATUS(wst) == 0;
}

static void cleanup(bool failed)
{
	for (int i = 0; i < B.n_workers; i++) {
		kill(B.workers[i], SIGKILL);
		reap(B.workers[i]);
	}
	B.n_workers = 0;
	stop_daemon();
	if (failed)
		print_log();
	if (B.base[0] != '\0')
		nftw(B.base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	B.base[0] = '\0';
	free(B.base_conf);
	B.base_conf = NULL;
	sodium_memzero(B.key, sizeof(B.key));
	sodium_memzero(B.bad_key, sizeof(B.bad_key));
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_pam: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup(true);
	exit(1);
}

static void on_signal(int sig)
{
	interrupted = sig;
}

static void check_interrupted(void)
{
	if (interrupted)
		die("interrupted by signal %d", (int)interrupted);
}

/* ---- Setting up the state dir ---- */

/* Spawns prog with args (NULL-terminated, argv[0] included); stdin from
 * /dev/null, stdout to out_fd, stderr to err_fd. In its own process group
 * when detach, so that a ^C reaches only us, and we stop it. */
static pid_t spawn(const char *prog, char *const *argv, int out_fd, int err_fd, bool detach)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
	if (detach) {
		posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
		posix_spawnattr_setpgroup(&attr, 0);
	}
	rc = posix_spawn(&pid, prog, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		die("cannot run %s: %s", prog, strerror(rc));
	return pid;
}

/* The log of everything latchkey and latchkeyd print on stderr: the key's
 * details from key issue are noise in a benchmark's output. */
static int open_log(void)
{
	int fd = open(B.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		die("cannot open %s: %s", B.log, strerror(errno));
	return fd;
}

/* Runs the latchkey CLI; out gets its stdout (the issued key, never on a
 * command line). Any failure aborts; the log says why. */
static void run_cli(const char *what, char *const *argv, char *out, size_t outlen)
{
	char buf[256];
	size_t got = 0;
	ssize_t n;
	int p[2], wst, log_fd = open_log();
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe: %s", strerror(errno));
	pid = spawn(B.cli, argv, p[1], log_fd, false);
	close(p[1]);
	close(log_fd);
	while ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	close(p[0]);
	buf[got] = '\0';
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	if (out != NULL)
		snprintf(out, outlen, "%.*s", (int)strcspn(buf, "\n"), buf);
	sodium_memzero(buf, sizeof(buf));
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		die("latchkey %s failed (wait status %d)", what, wst);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

static char *read_file(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL || getdelim(&text, &len, '\0', f) < 0)
		die("cannot read %s: %s", path, strerror(errno));
	fclose(f);
	return text;
}

/* The same key with a fresh secret and a correct CRC: it reaches the
 * lookup and the hash comparison, not the CRC check. */
static void make_bad_key(void)
{
	struct lk_apikey k;

	if (lk_apikey_parse(B.key, strlen(B.key), &k) != LK_PARSE_OK)
		die("latchkey key issue printed something that is not a key");
	lk_base62_random(k.secret, LK_SECRET_LEN);
	if (lk_apikey_format(&k, B.bad_key, sizeof(B.bad_key)) < 0)
		die("cannot format the bad key");
	lk_apikey_wipe(&k);
}

/* PAM service files: "permit" (the ceiling) and "web" (pam_latchkey). */
static void write_pam_services(void)
{
	char path[PATH_MAX * 2], text[PATH_MAX * 3];

	if (mkdir(B.confdir, 0755) != 0)
		die("cannot create %s: %s", B.confdir, strerror(errno));
	snprintf(path, sizeof(path), "%s/permit", B.confdir);
	write_file(path, "auth required pam_permit.so\n", 0644);
	snprintf(path, sizeof(path), "%s/web", B.confdir);
	snprintf(text, sizeof(text), "auth required %s socket=%s\n", B.module, B.sock);
	write_file(path, text, 0644);
}

static void setup_state(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX + 16], path[PATH_MAX * 2];

	snprintf(B.base, sizeof(B.base), "%s/latchkey-bench-pam-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(B.base) == NULL) {
		B.base[0] = '\0';
		die("mkdtemp under %s: %s", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp",
		    strerror(errno));
	}
	snprintf(dir, sizeof(dir), "%s/state", B.base);
	snprintf(B.conf, sizeof(B.conf), "%s/latchkey.conf", dir);
	snprintf(B.sock, sizeof(B.sock), "%s/run/auth.sock", dir);
	snprintf(B.confdir, sizeof(B.confdir), "%s/pam.d", B.base);
	snprintf(B.log, sizeof(B.log), "%s/bench.log", B.base);
	run_cli("init",
	        (char *const[]){ "latchkey", "init", "--state-dir", dir, "--plugin-dir",
	                         (char *)B.plugin_dir, NULL },
	        NULL, 0);
	snprintf(path, sizeof(path), "%s/policies/web.xml", dir);
	write_file(path,
	           "<policy xmlns=\"urn:latchkey:policy:1\" service=\"web\" environment=\"prod\">"
	           "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	           "<scopes><scope>web:read</scope></scopes></policy>\n",
	           0644);
	run_cli("key issue",
	        (char *const[]){ "latchkey", "-c", B.conf, "--offline", "key", "issue", "--owner",
	                         "alice", "--env", "prod", "--scope", "web:read", "--expires",
	                         "30d", NULL },
	        B.key, sizeof(B.key));
	make_bad_key();
	write_pam_services();
	B.base_conf = read_file(B.conf);
}

static const char *next_line(const char *s)
{
	s += strcspn(s, "\n");
	return *s != '\0' ? s + 1 : s;
}

/* True if line (len bytes) sets a name that one of lines sets too. */
static bool overridden(const char *line, size_t len, const char *lines)
{
	size_t n = strcspn(line, " \t=");

	if (n == 0 || n >= len || line[0] == '#')
		return false;
	for (const char *v = lines; *v != '\0'; v = next_line(v))
		if (strncmp(v, line, n) == 0 && v[n] != '\0' && strchr(" \t=", v[n]) != NULL)
			return true;
	return false;
}

/* The config latchkey init wrote, the variant's lines replacing theirs
 * (a setting given twice is an error), and this uid allowed to speak for
 * "web" when not root. */
static void write_config(const struct variant *v)
{
	char peer[64] = "";
	FILE *f = fopen(B.conf, "w");

	if (f == NULL)
		die("cannot write %s: %s", B.conf, strerror(errno));
	for (const char *l = B.base_conf; *l != '\0'; l = next_line(l)) {
		size_t len = strcspn(l, "\n");
		if (!overridden(l, len, v->lines))
			fprintf(f, "%.*s\n", (int)len, l);
	}
	if (getuid() != 0)
		snprintf(peer, sizeof(peer), "auth_peer = %u web\n", (unsigned)getuid());
	fprintf(f, "%s%s", v->lines, peer);
	if (fclose(f) != 0)
		die("cannot write %s: %s", B.conf, strerror(errno));
}

/* ---- The daemon ---- */

static bool socket_accepts(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", B.sock);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Starts latchkeyd on the config for variant v and waits (up to
 * DAEMON_WAIT_S, polling) until its socket accepts. */
static void start_daemon(const struct variant *v)
{
	int log_fd, wst;

	write_config(v);
	log_fd = open_log();
	B.daemon =
	    spawn(B.daemon_bin, (char *const[]){ "latchkeyd", "-c", B.conf, "--foreground", NULL },
	          log_fd, log_fd, true);
	close(log_fd);
	for (int i = 0; i < DAEMON_WAIT_S * 100; i++) {
		if (socket_accepts())
			return;
		if (waitpid(B.daemon, &wst, WNOHANG) == B.daemon) {
			B.daemon = 0;
			die("latchkeyd exited at start with the %s config (status %d)", v->label,
			    wst);
		}
		check_interrupted();
		sleep_s(0.01);
	}
	die("latchkeyd did not accept on %s within %d s", B.sock, DAEMON_WAIT_S);
}

/* ---- The workers ---- */

/* Answers every prompt with the key (appdata); a copy, which libpam wipes
 * and frees. */
static int conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data)
{
	const char *answer = data;
	struct pam_response *resp = calloc((size_t)n, sizeof(*resp));

	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msgs[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msgs[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (answer == NULL || (resp[i].resp = strdup(answer)) == NULL) {
			for (int j = 0; j < i; j++) {
				if (resp[j].resp != NULL)
					sodium_memzero(resp[j].resp, strlen(resp[j].resp));
				free(resp[j].resp);
			}
			free(resp);
			return PAM_CONV_ERR;
		}
	}
	*ret = resp;
	return PAM_SUCCESS;
}

/* One login as a service does it; the report names the call that failed. */
static bool login(const struct stack *s, const char *answer, struct report *rep)
{
	struct pam_conv pc = { conv, (void *)answer };
	pam_handle_t *pamh = NULL;
	int r;

	r = pam_start_confdir(s->service, "alice", &pc, B.confdir, &pamh);
	if (r != PAM_SUCCESS) {
		rep->failed_call = 1;
		rep->code = r;
		return false;
	}
	r = pam_authenticate(pamh, PAM_SILENT);
	pam_end(pamh, r);
	if (r != s->expect) {
		rep->failed_call = 2;
		rep->code = r;
		return false;
	}
	return true;
}

/* A worker's life: wait for the common start, log in until the deadline,
 * report once (one write, smaller than PIPE_BUF, so reports never mix). */
static void worker(const struct stack *s, double start, double deadline, int fd)
    __attribute__((noreturn));

static void worker(const struct stack *s, double start, double deadline, int fd)
{
	const char *answer = s->answer == ANSWER_KEY       ? B.key
	                     : s->answer == ANSWER_BAD_KEY ? B.bad_key
	                                                   : NULL;
	struct report rep = { 0 };
	double t0;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (start > now_s())
		sleep_s(start - now_s());
	t0 = now_s();
	while (now_s() < deadline && login(s, answer, &rep))
		rep.count++;
	rep.elapsed = now_s() - t0;
	sodium_memzero(B.key, sizeof(B.key));
	sodium_memzero(B.bad_key, sizeof(B.bad_key));
	_exit(write(fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : 1);
}

/* Reads the k reports; aborts on a failed result or a worker that died. */
static double collect(const struct stack *s, int k, int fd)
{
	struct report rep;
	double rate = 0;
	ssize_t n;

	for (int got = 0; got < k;) {
		n = read(fd, &rep, sizeof(rep));
		if (n < 0 && errno == EINTR) {
			check_interrupted();
			continue;
		}
		check_interrupted();
		if (n != (ssize_t)sizeof(rep))
			die("%s, K=%d: a worker died without a report", s->label, k);
		if (rep.failed_call != 0)
			die("%s, K=%d: %s returned \"%s\" (%d), expected \"%s\" (%d)", s->label, k,
			    rep.failed_call == 1 ? "pam_start_confdir" : "pam_authenticate",
			    pam_strerror(NULL, rep.code), rep.code,
			    rep.failed_call == 1 ? pam_strerror(NULL, PAM_SUCCESS)
			                         : pam_strerror(NULL, s->expect),
			    rep.failed_call == 1 ? PAM_SUCCESS : s->expect);
		if (rep.elapsed > 0)
			rate += (double)rep.count / rep.elapsed;
		got++;
	}
	return rate;
}

/* One repetition: k workers for `seconds`; returns the logins per second of
 * all of them together. */
static double run_once(const struct stack *s, int k, double seconds)
{
	double start, rate;
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe: %s", strerror(errno));
	/* A common start a little ahead, so the first worker forked does not
	 * run alone while the others are being forked. */
	start = now_s() + 0.02 + 0.002 * k;
	for (int i = 0; i < k; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[0]);
			worker(s, start, start + seconds, p[1]);
		}
		B.workers[B.n_workers++] = pid;
	}
	close(p[1]);
	rate = collect(s, k, p[0]);
	close(p[0]);
	for (int i = 0; i < B.n_workers; i++)
		reap(B.workers[i]);
	B.n_workers = 0;
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- The run ---- */

struct row {
	int stack;
	int variant; /* -1: the daemon is not involved */
	int k;
	double samples[MAX_REPS];
	double rate; /* their median */
};

static const char *env_or(const char *var, const char *fallback)
{
	const char *v = getenv(var);

	return v != NULL && v[0] != '\0' ? v : fallback;
}

static void find_binaries(void)
{
	B.cli = env_or("LATCHKEY_BIN", LK_BUILDDIR "/cli/latchkey");
	B.daemon_bin = env_or("LATCHKEYD_BIN", LK_BUILDDIR "/daemon/latchkeyd");
	B.plugin_dir = env_or("LK_APIKEY_PLUGIN_DIR", LK_BUILDDIR "/plugins/apikey/.libs");
	B.module = env_or("LK_PAM_MODULE", LK_BUILDDIR "/pam/.libs/pam_latchkey.so");
	if (access(B.cli, X_OK) != 0)
		die("LATCHKEY_BIN=%s is not executable", B.cli);
	if (access(B.daemon_bin, X_OK) != 0)
		die("LATCHKEYD_BIN=%s is not executable", B.daemon_bin);
	if (access(B.plugin_dir, R_OK | X_OK) != 0)
		die("LK_APIKEY_PLUGIN_DIR=%s is not a readable directory", B.plugin_dir);
	if (access(B.module, R_OK) != 0)
		die("LK_PAM_MODULE=%s is not readable", B.module);
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
			start_daemon(&variants[v]);
			for (int i = 0; i < n; i++) {
				if ((rows[i].variant < 0 ? 0 : rows[i].variant) != v)
					continue;
				rows[i].samples[r] =
				    run_once(&stacks[rows[i].stack], rows[i].k, seconds);
				check_interrupted();
			}
			if (!stop_daemon())
				die("latchkeyd did not stop cleanly (%s config)",
				    variants[v].label);
		}
	}
	for (int i = 0; i < n; i++) {
		qsort(rows[i].samples, (size_t)reps, sizeof(double), cmp_double);
		rows[i].rate = rows[i].samples[reps / 2];
	}
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
	        MAX_CLIENTS, MAX_REPS);
	exit(2);
}

static long parse_long(const char *s, long min, long max, char opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "bench_pam: bad value '%s' for -%c (%ld to %ld)\n", s, opt, min,
		        max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: reads see EINTR */
	struct row rows[16];
	int k = 8, reps = 5, opt, n;
	double seconds = 1;
	char *end;

	while ((opt = getopt(argc, argv, "k:n:t:h")) != -1) {
		if (opt == 'k')
			k = (int)parse_long(optarg, 1, MAX_CLIENTS, 'k');
		else if (opt == 'n')
			reps = (int)parse_long(optarg, 1, MAX_REPS, 'n');
		else if (opt == 't') {
			seconds = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(seconds >= 0.1 && seconds <= 600)) {
				fprintf(stderr, "bench_pam: bad value '%s' for -t (0.1 to 600)\n",
				        optarg);
				exit(2);
			}
		} else
			usage();
	}
	if (optind != argc)
		usage();
	if (sodium_init() < 0)
		die("cannot initialise libsodium");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
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
	cleanup(false);
	return 0;
}
