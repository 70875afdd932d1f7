/* SPDX-License-Identifier: Apache-2.0 */
/* The PAM benchmarks' shared harness (bench-util.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

extern char **environ;

struct bench bench;

static volatile sig_atomic_t interrupted;

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
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
	int fd;

	if (bench.log[0] == '\0' || (fd = open(bench.log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0 &&
	    lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
	          SEEK_SET) >= 0 &&
	    (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		fprintf(stderr, "%s: end of %s:\n%s", bench.prog, bench.log, buf);
	}
	close(fd);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

bool bench_stop_daemon(void)
{
	int wst = 0;
	pid_t r = 0;

	if (bench.daemon <= 0)
		return true;
	kill(bench.daemon, SIGTERM);
	for (int i = 0; i < BENCH_DAEMON_WAIT_S * 100 && r == 0; i++) {
		r = waitpid(bench.daemon, &wst, WNOHANG);
		if (r == 0)
			bench_sleep(0.01);
	}
	if (r <= 0) {
		kill(bench.daemon, SIGKILL);
		reap(bench.daemon);
	}
	bench.daemon = 0;
	return r > 0 && WIFEXITED(wst) && WEXITSTATUS(wst) == 0;
}

void bench_cleanup(bool failed)
{
	for (int i = 0; i < bench.n_workers; i++) {
		kill(bench.workers[i], SIGKILL);
		reap(bench.workers[i]);
	}
	bench.n_workers = 0;
	bench_stop_daemon();
	if (failed)
		print_log();
	if (bench.base[0] != '\0')
		nftw(bench.base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	bench.base[0] = '\0';
	bench.log[0] = '\0';
	free(bench.base_conf);
	bench.base_conf = NULL;
	if (bench.wipe != NULL)
		bench.wipe();
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench.prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* A worker that cannot go on leaves the cleanup to the parent, which
	 * sees it die without a report. */
	if (bench.parent != 0 && getpid() != bench.parent)
		_exit(1);
	bench_cleanup(true);
	exit(1);
}

static void on_signal(int sig)
{
	interrupted = sig;
}

void bench_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void bench_check_interrupted(void)
{
	if (interrupted)
		bench_die("interrupted by signal %d", (int)interrupted);
}

const char *bench_env_or(const char *var, const char *fallback)
{
	const char *v = getenv(var);

	return v != NULL && v[0] != '\0' ? v : fallback;
}

const char *bench_path(const char *var, const char *fallback, int mode)
{
	const char *path = bench_env_or(var, fallback);

	if (access(path, mode) != 0)
		bench_die("%s=%s: %s", var, path, strerror(errno));
	return path;
}

void bench_find_latchkey(const char *builddir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cli/latchkey", builddir);
	snprintf(bench.cli, sizeof(bench.cli), "%s", bench_path("LATCHKEY_BIN", path, X_OK));
	snprintf(path, sizeof(path), "%s/daemon/latchkeyd", builddir);
	snprintf(bench.daemon_bin, sizeof(bench.daemon_bin), "%s",
	         bench_path("LATCHKEYD_BIN", path, X_OK));
}

long bench_parse_long(const char *s, long min, long max, char opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "%s: bad value '%s' for -%c (%ld to %ld)\n", bench.prog, s, opt,
		        min, max);
		exit(2);
	}
	return v;
}

double bench_parse_seconds(const char *s, char opt)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= 0.1 && v <= 600)) {
		fprintf(stderr, "%s: bad value '%s' for -%c (0.1 to 600)\n", bench.prog, s, opt);
		exit(2);
	}
	return v;
}

bool bench_common_option(int opt, const char *arg, int *k, int *reps, double *seconds)
{
	if (opt == 'k')
		*k = (int)bench_parse_long(arg, 1, BENCH_MAX_CLIENTS, 'k');
	else if (opt == 'n')
		*reps = (int)bench_parse_long(arg, 1, BENCH_MAX_REPS, 'n');
	else if (opt == 't')
		*seconds = bench_parse_seconds(arg, 't');
	else
		return false;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
}

/* ---- Files ---- */

void bench_write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) != 0)
		bench_die("cannot write %s: %s", path, strerror(errno));
}

char *bench_read_file(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL || getdelim(&text, &len, '\0', f) < 0)
		bench_die("cannot read %s: %s", path, strerror(errno));
	fclose(f);
	return text;
}

void bench_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0)
		bench_die("cannot create %s: %s", path, strerror(errno));
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n = 0;
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1;

	if (in >= 0)
		out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			n = -1;
	if (in < 0 || out < 0 || n < 0 || close(out) != 0)
		bench_die("cannot copy %s to %s: %s", from, to, strerror(errno));
	close(in);
}

void bench_plugin_dir(char *out, size_t outlen, const char *const *dirs, const char *const *names,
                      size_t n)
{
	char from[PATH_MAX * 2], to[PATH_MAX * 2];

	snprintf(out, outlen, "%s/plugins", bench.base);
	bench_mkdir(out, 0755);
	for (size_t i = 0; i < n; i++) {
		snprintf(from, sizeof(from), "%s/%s", dirs[i], names[i]);
		snprintf(to, sizeof(to), "%s/%s", out, names[i]);
		copy_file(from, to);
	}
}

void bench_make_base(const char *name)
{
	const char *tmp = bench_env_or("TMPDIR", "/tmp");

	bench.parent = getpid();
	snprintf(bench.base, sizeof(bench.base), "%s/latchkey-bench-%s-XXXXXX", tmp, name);
	if (mkdtemp(bench.base) == NULL) {
		bench.base[0] = '\0';
		bench_die("mkdtemp under %s: %s", tmp, strerror(errno));
	}
	snprintf(bench.state, sizeof(bench.state), "%s/state", bench.base);
	snprintf(bench.conf, sizeof(bench.conf), "%s/latchkey.conf", bench.state);
	snprintf(bench.sock, sizeof(bench.sock), "%s/run/auth.sock", bench.state);
	snprintf(bench.confdir, sizeof(bench.confdir), "%s/pam.d", bench.base);
	snprintf(bench.log, sizeof(bench.log), "%s/bench.log", bench.base);
	bench_mkdir(bench.confdir, 0755);
}

/* ---- The CLI and the daemon ---- */

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
		bench_die("cannot run %s: %s", prog, strerror(rc));
	return pid;
}

/* The log of everything latchkey and latchkeyd print on stderr: a key's
 * details from key issue are noise in a benchmark's output. */
static int open_log(void)
{
	int fd = open(bench.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		bench_die("cannot open %s: %s", bench.log, strerror(errno));
	return fd;
}

void bench_run_cli(const char *what, char *const *argv, char *out, size_t outlen)
{
	char buf[256];
	size_t got = 0;
	ssize_t n;
	int p[2], wst, log_fd = open_log();
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		bench_die("pipe: %s", strerror(errno));
	pid = spawn(bench.cli, argv, p[1], log_fd, false);
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
		bench_die("latchkey %s failed (wait status %d)", what, wst);
}

void bench_init_state(const char *plugin_dir)
{
	bench_run_cli("init",
	              (char *const[]){ "latchkey", "init", "--state-dir", bench.state,
	                               "--plugin-dir", (char *)plugin_dir, NULL },
	              NULL, 0);
	bench.base_conf = bench_read_file(bench.conf);
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

/* The config latchkey init wrote, lines replacing theirs (a setting given
 * twice is an error), and this uid allowed to speak for the services when
 * not root. */
static void write_config(const char *lines)
{
	FILE *f = fopen(bench.conf, "w");

	if (f == NULL)
		bench_die("cannot write %s: %s", bench.conf, strerror(errno));
	for (const char *l = bench.base_conf; *l != '\0'; l = next_line(l)) {
		size_t len = strcspn(l, "\n");
		if (!overridden(l, len, lines))
			fprintf(f, "%.*s\n", (int)len, l);
	}
	fputs(lines, f);
	if (getuid() != 0 && bench.peer_services != NULL)
		fprintf(f, "auth_peer = %u %s\n", (unsigned)getuid(), bench.peer_services);
	if (fclose(f) != 0)
		bench_die("cannot write %s: %s", bench.conf, strerror(errno));
}

static bool socket_accepts(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", bench.sock);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

void bench_start_daemon(const char *lines, const char *label)
{
	int log_fd, wst;

	write_config(lines);
	log_fd = open_log();
	bench.daemon = spawn(bench.daemon_bin,
	                     (char *const[]){ "latchkeyd", "-c", bench.conf, "--foreground", NULL },
	                     log_fd, log_fd, true);
	close(log_fd);
	for (int i = 0; i < BENCH_DAEMON_WAIT_S * 100; i++) {
		if (socket_accepts())
			return;
		if (waitpid(bench.daemon, &wst, WNOHANG) == bench.daemon) {
			bench.daemon = 0;
			bench_die("latchkeyd exited at start with the %s config (status %d)", label,
			          wst);
		}
		bench_check_interrupted();
		bench_sleep(0.01);
	}
	bench_die("latchkeyd did not accept on %s within %d s", bench.sock, BENCH_DAEMON_WAIT_S);
}

/* ---- Logins ---- */

static const char *answer_for(const struct bench_answer *answers, const char *prompt)
{
	for (; answers != NULL && answers->text != NULL; answers++)
		if (answers->prompt == NULL ||
		    (prompt != NULL &&
		     strncmp(prompt, answers->prompt, strlen(answers->prompt)) == 0))
			return answers->text;
	return NULL;
}

/* Copies, which libpam wipes and frees. */
int bench_conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data)
{
	struct pam_response *resp = calloc((size_t)n, sizeof(*resp));
	const char *text;

	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msgs[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msgs[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		text = answer_for(data, msgs[i]->msg);
		if (text == NULL || (resp[i].resp = strdup(text)) == NULL) {
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

bool bench_login(const char *service, const char *user, const struct bench_answer *answers,
                 int expect, struct bench_report *rep)
{
	struct pam_conv pc = { bench_conv, (void *)answers };
	pam_handle_t *pamh = NULL;
	int r;

	r = pam_start_confdir(service, user, &pc, bench.confdir, &pamh);
	if (r != PAM_SUCCESS) {
		rep->failed = BENCH_FAIL_START;
		rep->code = r;
		rep->expect = PAM_SUCCESS;
		return false;
	}
	r = pam_authenticate(pamh, PAM_SILENT);
	pam_end(pamh, r);
	if (r != expect) {
		rep->failed = BENCH_FAIL_AUTH;
		rep->code = r;
		rep->expect = expect;
		return false;
	}
	return true;
}

/* A worker's life: wait for the common start, run the body until the
 * deadline, report once. */
static void worker(int idx, double start, double seconds, bench_body body, void *ctx, int fd)
    __attribute__((noreturn));

static void worker(int idx, double start, double seconds, bench_body body, void *ctx, int fd)
{
	struct bench_report rep = { .worker = idx };
	double t0;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (start > bench_now())
		bench_sleep(start - bench_now());
	t0 = bench_now();
	body(idx, start + seconds, &rep, ctx);
	rep.elapsed = bench_now() - t0;
	if (bench.wipe != NULL)
		bench.wipe();
	_exit(write(fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : 1);
}

/* Reads the k reports; aborts on a failed result or a worker that died. */
static double collect(const char *label, int k, int fd, struct bench_report *ret_reports)
{
	struct bench_report rep;
	double rate = 0;
	ssize_t n;

	for (int got = 0; got < k;) {
		n = read(fd, &rep, sizeof(rep));
		if (n < 0 && errno == EINTR) {
			bench_check_interrupted();
			continue;
		}
		bench_check_interrupted();
		if (n != (ssize_t)sizeof(rep) || rep.worker < 0 || rep.worker >= k)
			bench_die("%s, K=%d: a worker died without a report", label, k);
		if (rep.failed == BENCH_FAIL_EXHAUSTED)
			bench_die("%s, K=%d: worker %d ran out of fresh users after %ld logins in "
			          "%.2f s (enroll more: -u)",
			          label, k, rep.worker, rep.count, rep.elapsed);
		if (rep.failed != BENCH_OK)
			bench_die("%s, K=%d: %s returned \"%s\" (%d), expected \"%s\" (%d)", label,
			          k,
			          rep.failed == BENCH_FAIL_START ? "pam_start_confdir"
			                                         : "pam_authenticate",
			          pam_strerror(NULL, rep.code), rep.code,
			          pam_strerror(NULL, rep.expect), rep.expect);
		if (rep.elapsed > 0)
			rate += (double)rep.count / rep.elapsed;
		if (ret_reports != NULL)
			ret_reports[rep.worker] = rep;
		got++;
	}
	return rate;
}

double bench_run(const char *label, int k, double seconds, bench_body body, void *ctx,
                 struct bench_report *ret_reports)
{
	double start, rate;
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		bench_die("pipe: %s", strerror(errno));
	/* A common start a little ahead, so the first worker forked does not
	 * run alone while the others are being forked. */
	start = bench_now() + 0.02 + 0.002 * k;
	for (int i = 0; i < k; i++) {
		pid_t pid = fork();
		if (pid < 0)
			bench_die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[0]);
			worker(i, start, seconds, body, ctx, p[1]);
		}
		bench.workers[bench.n_workers++] = pid;
	}
	close(p[1]);
	rate = collect(label, k, p[0], ret_reports);
	close(p[0]);
	for (int i = 0; i < bench.n_workers; i++)
		reap(bench.workers[i]);
	bench.n_workers = 0;
	return rate;
}
