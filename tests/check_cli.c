/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The latchkey admin command, run as a real process ($LATCHKEY_BIN) with
 * posix_spawn and no shell: exit codes, the one-line error contract, what
 * goes to stdout and what to stderr, --json output, and that bad input
 * changes nothing in the database (checked from this process, read-only).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <sodium.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

#define ARGV_MAX 24
#define KEYBUF   (LK_KEY_MAX_LEN + 1)
#define KIDBUF   (LK_KID_LEN + 1)

/* One run of the command. */
struct run {
	int status; /* exit code, or 128 + signal */
	char *out, *err;
	size_t out_len, err_len;
	size_t in_left; /* bytes of stdin the command left unread */
};

/* The state directory of the current test (made by `latchkey init`), plus
 * keys the bad-input table refers to. */
static struct {
	char base[PATH_MAX];
	char dir[PATH_MAX + 16];
	char conf[PATH_MAX + 48];
	char db[PATH_MAX + 48];
	char master[PATH_MAX + 48];
	char key[KEYBUF], kid[KIDBUF];
	char revoked_kid[KIDBUF], suspended_kid[KIDBUF];
} g;

static const char *cli_bin(void)
{
	const char *bin = getenv("LATCHKEY_BIN");

	ck_assert_msg(bin != NULL && bin[0] != '\0',
	              "LATCHKEY_BIN is not set: point it at the built cli/latchkey "
	              "(make check exports it)");
	ck_assert_msg(access(bin, X_OK) == 0, "LATCHKEY_BIN=%s is not executable: %s", bin,
	              strerror(errno));
	return bin;
}

/* Output buffers of runs not yet freed: a failed assertion jumps past
 * run_free, so with CK_FORK=no these are freed at the next setup or row. */
static char *live[32];

static void live_swap(char *old, char *new)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i] == old) {
			live[i] = new;
			return;
		}
	}
	ck_abort_msg("too many unfreed runs");
}

static void live_free_all(void)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		free(live[i]);
		live[i] = NULL;
	}
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	char *p = realloc(*buf, *len + n + 1);

	ck_assert_ptr_nonnull(p);
	if (p != *buf)
		live_swap(*buf, p);
	memcpy(p + *len, data, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
}

/*
 * Runs latchkey with args (NULL-terminated, without the program name), conf
 * as $LATCHKEY_CONFIG (NULL: unset) and in as stdin. Stdin is written into
 * the pipe before the command starts and the read end stays open here, so
 * what is left in it afterwards says how much the command read. These
 * tests are about the verbs, not latchkeyd: every verb but init runs
 * --offline (tests/check_admin runs them through the daemon).
 */
static void run_cli_env(struct run *r, const char *conf, const char *in, size_t in_len,
                        const char *const *args)
{
	const char *bin = cli_bin();
	char *argv[ARGV_MAX + 3], **envp, *conf_env = NULL, buf[4096];
	int inp[2], outp[2], errp[2], wst, rc;
	size_t n_env = 0, k = 0, n_args = 0, n_argv = 0;
	posix_spawn_file_actions_t fa;
	struct pollfd pfd[2];
	pid_t pid;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	ck_assert(r->out != NULL && r->err != NULL);
	live_swap(NULL, r->out);
	live_swap(NULL, r->err);

	argv[n_argv++] = (char *)bin;
	if (args[0] != NULL && strcmp(args[0], "init") != 0)
		argv[n_argv++] = "--offline";
	while (args[n_args] != NULL) {
		ck_assert_uint_lt(n_args, ARGV_MAX);
		argv[n_argv++] = (char *)args[n_args++];
	}
	argv[n_argv] = NULL;

	while (environ[n_env] != NULL)
		n_env++;
	envp = calloc(n_env + 2, sizeof(*envp));
	ck_assert_ptr_nonnull(envp);
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(environ[i], "LATCHKEY_CONFIG=", 16) != 0)
			envp[k++] = environ[i];
	if (conf != NULL) {
		size_t len = strlen("LATCHKEY_CONFIG=") + strlen(conf) + 1;
		conf_env = malloc(len);
		ck_assert_ptr_nonnull(conf_env);
		snprintf(conf_env, len, "LATCHKEY_CONFIG=%s", conf);
		envp[k++] = conf_env;
	}
	envp[k] = NULL;

	ck_assert_int_eq(pipe2(inp, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(errp, O_CLOEXEC), 0);
	/* Small inputs only: they fit in the pipe, so this never blocks. */
	ck_assert_uint_lt(in_len, 4096);
	if (in_len > 0)
		ck_assert_int_eq(write(inp[1], in, in_len), (ssize_t)in_len);
	close(inp[1]);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, inp[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	rc = posix_spawn(&pid, bin, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(outp[1]);
	close(errp[1]);
	free(conf_env);
	free(envp);
	ck_assert_msg(rc == 0, "posix_spawn %s: %s", bin, strerror(rc));

	/* Drain both pipes together so neither can fill up and stall the child. */
	pfd[0] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		if (poll(pfd, 2, -1) < 0) {
			ck_assert_int_eq(errno, EINTR);
			continue;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			if (i == 0)
				append(&r->out, &r->out_len, buf, (size_t)n);
			else
				append(&r->err, &r->err_len, buf, (size_t)n);
		}
	}
	while (waitpid(pid, &wst, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	r->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);

	ck_assert_int_eq(fcntl(inp[0], F_SETFL, O_NONBLOCK), 0);
	while ((n = read(inp[0], buf, sizeof(buf))) > 0)
		r->in_left += (size_t)n;
	close(inp[0]);
}

static void run_free(struct run *r)
{
	live_swap(r->out, NULL);
	live_swap(r->err, NULL);
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static size_t len_or_0(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* RUN(&r, stdin, "key", "list"): the current test's config, a string stdin. */
#define RUN(r, in, ...) \
	run_cli_env((r), g.conf, (in), len_or_0(in), (const char *const[]){ __VA_ARGS__, NULL })

/* stderr is exactly one line "latchkey: ...", containing want. */
static void assert_error_line(const struct run *r, const char *want)
{
	const char *nl = strchr(r->err, '\n');

	ck_assert_msg(strncmp(r->err, "latchkey: ", 10) == 0,
	              "stderr does not start with 'latchkey: ': [%s]", r->err);
	ck_assert_msg(nl != NULL && nl[1] == '\0' && strlen(r->err) == r->err_len,
	              "stderr is not exactly one line: [%s]", r->err);
	ck_assert_msg(strstr(r->err, want) != NULL, "stderr [%s] does not mention '%s'", r->err,
	              want);
}

/* Neither the key nor any recognisable part of its secret is in text. */
static void assert_no_secret(const char *text, const char *key, const char *where)
{
	char secret_head[17];
	const char *secret = strrchr(key, '_');

	ck_assert_ptr_nonnull(secret);
	snprintf(secret_head, sizeof(secret_head), "%s", secret + 1);
	ck_assert_msg(strstr(text, key) == NULL, "%s contains the key", where);
	ck_assert_msg(strstr(text, secret_head) == NULL, "%s contains part of the secret", where);
}

/* "lk_<env>_<12>_<49>\n" and nothing else. */
static void assert_key_line(const char *out, const char *env)
{
	char pattern[128];
	regex_t re;

	snprintf(pattern, sizeof(pattern), "^lk_%s_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}\n$", env);
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "stdout is not one key line: [%s]", out);
	regfree(&re);
}

/* Copies the key from a "KEY\n" stdout and its kid. */
static void take_key(const char *out, char key[KEYBUF], char kid[KIDBUF])
{
	size_t len = strcspn(out, "\n");
	const char *p;

	ck_assert_uint_lt(len, KEYBUF);
	memcpy(key, out, len);
	key[len] = '\0';
	p = strchr(key + 3, '_');
	ck_assert_ptr_nonnull(p);
	memcpy(kid, p + 1, LK_KID_LEN);
	kid[LK_KID_LEN] = '\0';
}

/* Issues a key through the command (scope read, 30 days). */
static void cli_issue(const char *owner, const char *env, char key[KEYBUF], char kid[KIDBUF])
{
	struct run r;

	RUN(&r, NULL, "key", "issue", "--owner", owner, "--env", env, "--scope", "read",
	    "--expires", "30d");
	ck_assert_msg(r.status == 0, "issue failed (%d): %s", r.status, r.err);
	assert_key_line(r.out, env);
	take_key(r.out, key, kid);
	run_free(&r);
}

/* Feeds line to `key verify [extra...]`; checks stdout and the exit code. */
static void cli_verify(const char *line, size_t len, const char *env, const char *want_out,
                       int want_status)
{
	struct run r;

	if (env != NULL)
		run_cli_env(&r, g.conf, line, len,
		            (const char *const[]){ "key", "verify", "--env", env, NULL });
	else
		run_cli_env(&r, g.conf, line, len, (const char *const[]){ "key", "verify", NULL });
	ck_assert_msg(r.status == want_status, "verify: exit %d, want %d; stdout [%s] stderr [%s]",
	              r.status, want_status, r.out, r.err);
	ck_assert_str_eq(r.out, want_out);
	run_free(&r);
}

static void verify_key(const char *key, const char *env, const char *want_out, int want_status)
{
	char line[KEYBUF + 1];

	snprintf(line, sizeof(line), "%s\n", key);
	cli_verify(line, strlen(line), env, want_out, want_status);
}

/* Counts keys listed; fails the test on any that is not revoked. */
static int count_revoked(const struct lk_key_info *k, void *ctx)
{
	ck_assert_str_eq(k->status, "revoked");
	ck_assert_str_eq(k->status_reason, "undelivered: the new key could not be written out");
	++*(int *)ctx;
	return 0;
}

static void open_ro(struct lk_store **ret)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_store_open(g.db, LK_STORE_READONLY, NULL, ret, &err) == LK_OK, "%s",
	              err.msg);
}

static void snap(struct tk_snapshot *s)
{
	struct lk_store *store;

	open_ro(&store);
	tk_snapshot(store, s);
	lk_store_close(store);
}

static void assert_unchanged(const struct tk_snapshot *s)
{
	struct lk_store *store;

	open_ro(&store);
	tk_assert_unchanged(store, s);
	lk_store_close(store);
}

/* A fresh setup: base/state made by `latchkey init`. */
static void make_state(void)
{
	struct run r;

	ck_assert_int_ge(sodium_init(), 0);
	live_free_all();
	memset(&g, 0, sizeof(g));
	(void)cli_bin(); /* before anything is made that would be left behind */
	tk_mkdtemp(g.base, sizeof(g.base), "latchkey-cli");
	snprintf(g.dir, sizeof(g.dir), "%s/state", g.base);
	snprintf(g.conf, sizeof(g.conf), "%s/latchkey.conf", g.dir);
	snprintf(g.db, sizeof(g.db), "%s/latchkey.db", g.dir);
	snprintf(g.master, sizeof(g.master), "%s/master.key", g.dir);
	run_cli_env(&r, NULL, NULL, 0, (const char *const[]){ "init", "--state-dir", g.dir, NULL });
	ck_assert_msg(r.status == 0, "init failed (%d): %s", r.status, r.err);
	run_free(&r);
}

static void setup(void)
{
	make_state();
}

static void teardown(void)
{
	live_free_all();
	if (g.base[0] != '\0')
		tk_rmrf(g.base);
	memset(&g, 0, sizeof(g));
}

/* ---- Bad input: exit code, one stderr line, nothing changed ---- */

/* The table's setup, once for all rows (they change nothing): an active
 * key, a revoked one and a suspended one. */
static void table_setup(void)
{
	char key[KEYBUF];
	struct run r;

	make_state();
	cli_issue("alice", "prod", g.key, g.kid);
	cli_issue("alice", "prod", key, g.revoked_kid);
	RUN(&r, NULL, "key", "revoke", g.revoked_kid, "--reason", "leaked");
	ck_assert_msg(r.status == 0, "%s", r.err);
	run_free(&r);
	cli_issue("bob", "prod", key, g.suspended_kid);
	RUN(&r, NULL, "key", "suspend", g.suspended_kid, "--reason", "on leave");
	ck_assert_msg(r.status == 0, "%s", r.err);
	run_free(&r);
	sodium_memzero(key, sizeof(key));
}

/*
 * Placeholders in argv and msg: @KEY (the active key), @KID (its kid),
 * @REVOKED, @SUSPENDED (kids in those states), @DIR (the state dir).
 */
static const struct bad_row {
	const char *argv[ARGV_MAX];
	int status;
	const char *msg;
} bad_rows[] = {
	{ { "bogus" }, 2, "'bogus'" },
	{ { "key", "bogus" }, 2, "'bogus'" },
	{ { "key" }, 2, "missing key command" },
	{ { "key", "issue", "--env", "prod", "--scope", "read", "--expires", "30d" },
	  2,
	  "--owner" },
	{ { "key", "issue", "--owner", "alice", "--scope", "read", "--expires", "30d" },
	  2,
	  "--env" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--expires", "30d" },
	  2,
	  "--scope" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read" },
	  2,
	  "--expires" },
	{ { "key", "issue", "--owner", "alice", "--env", "PROD", "--scope", "read", "--expires",
	    "30d" },
	  2,
	  "'PROD'" },
	{ { "key", "issue", "--owner", "alice", "--env", "p", "--scope", "read", "--expires",
	    "30d" },
	  2,
	  "'p'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "a b", "--expires",
	    "30d" },
	  2,
	  "'a b'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", ":x", "--expires",
	    "30d" },
	  2,
	  "':x'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "30x" },
	  2,
	  "'30x'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "0d" },
	  2,
	  "'0d'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "100y" },
	  2,
	  "'100y'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "91d" },
	  2,
	  "90d" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "never" },
	  2,
	  "never" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "30d", "--allow-cidr", "10.0.0.0/33" },
	  2,
	  "'10.0.0.0/33'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "30d", "--allow-cidr" },
	  2,
	  "--allow-cidr" },
	{ { "key", "issue", "--owner", "a b", "--env", "prod", "--scope", "read", "--expires",
	    "30d" },
	  2,
	  "'a b'" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "30d", "--description", "ticket 7: use @KEY" },
	  2,
	  "description" },
	{ { "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read", "--expires",
	    "30d", "--bogus" },
	  2,
	  "--bogus" },
	{ { "key", "list", "--reason", "x" }, 2, "--reason" },
	{ { "key", "list", "--env", "PROD" }, 2, "'PROD'" },
	{ { "key", "show", "short" }, 2, "'short'" },
	{ { "key", "show" }, 2, "missing key id" },
	{ { "key", "show", "@KID", "extra" }, 2, "'extra'" },
	{ { "key", "show", "AAAAAAAAAAAA" }, 3, "AAAAAAAAAAAA" },
	{ { "key", "revoke", "@KID" }, 2, "--reason" },
	{ { "key", "revoke", "@REVOKED", "--reason", "again" }, 3, "@REVOKED" },
	{ { "key", "suspend", "@SUSPENDED", "--reason", "again" }, 3, "@SUSPENDED" },
	{ { "key", "resume", "@KID", "--reason", "why" }, 3, "@KID" },
	{ { "key", "rotate", "@REVOKED" }, 3, "@REVOKED" },
	{ { "key", "rotate", "AAAAAAAAAAAA" }, 3, "AAAAAAAAAAAA" },
	{ { "key", "revoke-all", "--owner", "nobody", "--reason", "x" }, 3, "nobody" },
	{ { "key", "revoke-all", "--owner", "alice" }, 2, "--reason" },
	/* --left: a departure that is not a real date or time, or is in the
	 * future, is refused before anything is revoked. */
	{ { "key", "revoke-all", "--owner", "alice", "--reason", "x", "--left", "2026-02-30" },
	  2,
	  "'2026-02-30'" },
	{ { "key", "revoke-all", "--owner", "alice", "--reason", "x", "--left", "yesterday" },
	  2,
	  "'yesterday'" },
	{ { "key", "revoke-all", "--owner", "alice", "--reason", "x", "--left",
	    "2026-11-02T25:00:00Z" },
	  2,
	  "'2026-11-02T25:00:00Z'" },
	{ { "key", "revoke-all", "--owner", "alice", "--reason", "x", "--left", "2999-01-01" },
	  2,
	  "in the future" },
	{ { "key", "revoke", "@KID", "--reason", "x", "--left", "2026-01-01" }, 2, "--left" },
	{ { "key", "due", "--within", "5x" }, 2, "'5x'" },
	{ { "key", "verify", "--env", "PROD" }, 2, "'PROD'" },
	{ { "key", "verify", "--source", "1.2.3.999" }, 2, "'1.2.3.999'" },
	{ { "key", "verify", "--scope", "bad scope" }, 2, "'bad scope'" },
	{ { "audit", "log", "--since", "yesterday" }, 2, "'yesterday'" },
	{ { "audit", "log", "--key", "bad" }, 2, "'bad'" },
	{ { "audit", "log", "--limit", "0" }, 2, "'0'" },
	{ { "audit", "log", "--limit", "abc" }, 2, "'abc'" },
	{ { "audit", "log", "--type", "a b" }, 2, "'a b'" },
	{ { "audit", "log", "--subject", "a b" }, 2, "'a b'" },
	{ { "audit", "bogus" }, 2, "'bogus'" },
	{ { "audit" }, 2, "missing audit command" },
	{ { "audit", "verify", "extra" }, 2, "'extra'" },
	{ { "-c", "/nonexistent/latchkey.conf", "key", "list" }, 4, "/nonexistent/latchkey.conf" },
	{ { "init" }, 2, "--state-dir" },
	{ { "init", "--state-dir", "@DIR" }, 3, "refusing to overwrite" },
};

/* Replaces the placeholders in s; the result lives in out. */
static const char *subst(const char *s, char *out, size_t outlen)
{
	const struct {
		const char *name, *value;
	} vars[] = {
		{ "@KEY", g.key },
		{ "@KID", g.kid },
		{ "@REVOKED", g.revoked_kid },
		{ "@SUSPENDED", g.suspended_kid },
		{ "@DIR", g.dir },
	};
	size_t len = 0;

	while (*s != '\0') {
		bool done = false;
		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && !done; i++) {
			size_t n = strlen(vars[i].name);
			if (strncmp(s, vars[i].name, n) == 0) {
				len +=
				    (size_t)snprintf(out + len, outlen - len, "%s", vars[i].value);
				s += n;
				done = true;
			}
		}
		if (!done)
			out[len++] = *s++;
		ck_assert_uint_lt(len, outlen);
	}
	out[len] = '\0';
	return out;
}

START_TEST(test_bad_input)
{
	const struct bad_row *row = &bad_rows[_i];
	char args[ARGV_MAX][PATH_MAX + 64], msg[256], in[KEYBUF + 1];
	const char *argv[ARGV_MAX + 1];
	struct tk_snapshot before;
	struct run r;
	size_t n = 0;

	live_free_all(); /* what an earlier failed row left */
	for (; n < ARGV_MAX && row->argv[n] != NULL; n++)
		argv[n] = subst(row->argv[n], args[n], sizeof(args[n]));
	argv[n] = NULL;
	subst(row->msg, msg, sizeof(msg));
	/* Every row gets a real key on stdin: none of them may read it. */
	snprintf(in, sizeof(in), "%s\n", g.key);

	snap(&before);
	run_cli_env(&r, g.conf, in, strlen(in), argv);
	ck_assert_msg(r.status == row->status && r.status != 0,
	              "row %d (%s %s ...): exit %d, want %d; stderr [%s]", _i, argv[0],
	              n > 1 ? argv[1] : "", r.status, row->status, r.err);
	assert_error_line(&r, msg);
	ck_assert_msg(r.out_len == 0, "row %d: stdout not empty: [%s]", _i, r.out);
	ck_assert_msg(r.in_left == strlen(in), "row %d: the command read %zu bytes of stdin", _i,
	              strlen(in) - r.in_left);
	assert_no_secret(r.err, g.key, "stderr");
	assert_unchanged(&before);
	run_free(&r);
}
END_TEST

/* init on an existing setup leaves every file as it was. */
START_TEST(test_init_refuses_existing)
{
	unsigned char before[64], after[64];
	struct tk_snapshot snapshot;
	struct run r;
	FILE *f;
	size_t n1, n2;

	f = fopen(g.master, "rb");
	ck_assert_ptr_nonnull(f);
	n1 = fread(before, 1, sizeof(before), f);
	fclose(f);
	snap(&snapshot);
	run_cli_env(&r, NULL, NULL, 0, (const char *const[]){ "init", "--state-dir", g.dir, NULL });
	ck_assert_int_eq(r.status, 3);
	assert_error_line(&r, "refusing to overwrite");
	run_free(&r);
	f = fopen(g.master, "rb");
	ck_assert_ptr_nonnull(f);
	n2 = fread(after, 1, sizeof(after), f);
	fclose(f);
	ck_assert_uint_eq(n1, 32);
	ck_assert_uint_eq(n2, n1);
	ck_assert_mem_eq(before, after, n1);
	assert_unchanged(&snapshot);
}
END_TEST

/* ---- Happy path ---- */

START_TEST(test_init_output)
{
	char dir[PATH_MAX + 16], real[PATH_MAX], want[PATH_MAX + 32];
	const char *files[] = { "master.key", "latchkey.db", "latchkey.conf" };
	struct stat st;
	struct run r;

	snprintf(dir, sizeof(dir), "%s/new", g.base);
	run_cli_env(&r, NULL, NULL, 0, (const char *const[]){ "init", "--state-dir", dir, NULL });
	ck_assert_msg(r.status == 0, "init: %s", r.err);
	ck_assert_ptr_nonnull(realpath(dir, real));
	snprintf(want, sizeof(want), "%s/latchkey.conf\n", real);
	ck_assert_str_eq(r.out, want);
	run_free(&r);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_msg(S_ISREG(st.st_mode), "%s is not a regular file", files[i]);
		if (i < 2)
			ck_assert_msg((st.st_mode & 07777) == 0600, "%s has mode %04o", files[i],
			              (unsigned)(st.st_mode & 07777));
		else
			ck_assert_msg((st.st_mode & 022) == 0, "%s is writable by others",
			              files[i]);
	}
}
END_TEST

START_TEST(test_happy_path)
{
	char key[KEYBUF], kid[KIDBUF], line[KEYBUF + 1];
	struct run r;

	RUN(&r, NULL, "key", "issue", "--owner", "alice", "--env", "prod", "--scope", "read",
	    "--scope", "write", "--expires", "30d", "--description", "build bot");
	ck_assert_msg(r.status == 0, "issue: %s", r.err);
	assert_key_line(r.out, "prod");
	take_key(r.out, key, kid);
	/* The details go to stderr, without the key. */
	ck_assert_ptr_nonnull(strstr(r.err, kid));
	ck_assert_ptr_nonnull(strstr(r.err, "alice"));
	ck_assert_ptr_nonnull(strstr(r.err, "build bot"));
	assert_no_secret(r.err, key, "issue stderr");
	run_free(&r);

	/* Verify reads the key from stdin and uses it up. */
	snprintf(line, sizeof(line), "%s\n", key);
	RUN(&r, line, "key", "verify", "--env", "prod", "--scope", "read");
	ck_assert_msg(r.status == 0, "verify: [%s] [%s]", r.out, r.err);
	ck_assert_str_eq(r.out, "ok\n");
	ck_assert_uint_eq(r.in_left, 0);
	assert_no_secret(r.err, key, "verify stderr");
	run_free(&r);
	verify_key(key, "dev", "wrong-environment\n", 1);

	RUN(&r, NULL, "key", "list");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, kid));
	assert_no_secret(r.out, key, "key list");
	run_free(&r);
	RUN(&r, NULL, "key", "show", kid);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, kid));
	ck_assert_ptr_nonnull(strstr(r.out, "read write"));
	assert_no_secret(r.out, key, "key show");
	run_free(&r);

	RUN(&r, NULL, "key", "revoke", kid, "--reason", "leaked in CI log");
	ck_assert_msg(r.status == 0, "revoke: %s", r.err);
	run_free(&r);
	verify_key(key, "prod", "revoked\n", 1);

	RUN(&r, NULL, "audit", "verify");
	ck_assert_msg(r.status == 0, "audit verify: [%s] [%s]", r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "intact"));
	run_free(&r);

	RUN(&r, NULL, "audit", "log", "--key", kid);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "key.issue"));
	ck_assert_ptr_nonnull(strstr(r.out, "key.verify"));
	ck_assert_ptr_nonnull(strstr(r.out, "key.revoke"));
	ck_assert_ptr_nonnull(strstr(r.out, "leaked in CI log"));
	ck_assert_ptr_null(strstr(r.out, "store.init"));
	assert_no_secret(r.out, key, "audit log");
	run_free(&r);
	RUN(&r, NULL, "audit", "log");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "store.init"));
	assert_no_secret(r.out, key, "audit log");
	run_free(&r);
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* Suspend, resume and revoke-all, with their text output. */
START_TEST(test_lifecycle_text)
{
	char key[KEYBUF], kid[KIDBUF], key2[KEYBUF], kid2[KIDBUF], want[64];
	struct run r;

	cli_issue("bob", "prod", key, kid);
	cli_issue("bob", "prod", key2, kid2);
	RUN(&r, NULL, "key", "suspend", kid, "--reason", "on leave");
	ck_assert_msg(r.status == 0, "suspend: %s", r.err);
	snprintf(want, sizeof(want), "%s suspended\n", kid);
	ck_assert_str_eq(r.out, want);
	run_free(&r);
	verify_key(key, NULL, "suspended\n", 1);
	RUN(&r, NULL, "key", "resume", kid, "--reason", "back");
	ck_assert_msg(r.status == 0, "resume: %s", r.err);
	snprintf(want, sizeof(want), "%s resumed\n", kid);
	ck_assert_str_eq(r.out, want);
	run_free(&r);
	verify_key(key, NULL, "ok\n", 0);

	RUN(&r, NULL, "key", "due", "--within", "60d");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, kid));
	assert_no_secret(r.out, key, "key due");
	run_free(&r);

	RUN(&r, NULL, "key", "revoke-all", "--owner", "bob", "--reason", "left the company",
	    "--left", "2026-01-05T17:30:00Z");
	ck_assert_msg(r.status == 0, "revoke-all: %s", r.err);
	ck_assert_str_eq(r.out, "revoked 2 keys of bob\n");
	run_free(&r);
	{
		/* The departure, in Unix seconds, for the offboarding test. */
		struct lk_store *store;

		open_ro(&store);
		ck_assert_int_eq(tk_count(store->db, "SELECT count(*) FROM audit WHERE action = "
		                                     "'owner.revoke-all' AND detail = "
		                                     "'revoked=2 left=1767634200'"),
		                 1);
		lk_store_close(store);
	}
	verify_key(key, NULL, "revoked\n", 1);
	verify_key(key2, NULL, "revoked\n", 1);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(key2, sizeof(key2));
}
END_TEST

/* ---- --json ---- */

/* A small strict JSON checker: is text exactly one JSON value (plus
 * whitespace)? Enough to catch unbalanced or mismatched brackets, missing
 * commas and two values printed back to back. */
struct jp {
	const char *p;
	int depth;
};

static bool j_value(struct jp *j);

static void j_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static bool j_string(struct jp *j)
{
	if (*j->p != '"')
		return false;
	for (j->p++; *j->p != '"'; j->p++) {
		if ((unsigned char)*j->p < 0x20)
			return false;
		if (*j->p != '\\')
			continue;
		j->p++;
		if (*j->p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (strchr("0123456789abcdefABCDEF", j->p[i]) == NULL ||
				    j->p[i] == '\0')
					return false;
			j->p += 4;
		} else if (*j->p == '\0' || strchr("\"\\/bfnrt", *j->p) == NULL) {
			return false;
		}
	}
	j->p++;
	return true;
}

static bool j_digits(struct jp *j)
{
	const char *start = j->p;

	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

static bool j_number(struct jp *j)
{
	if (*j->p == '-')
		j->p++;
	if (!j_digits(j))
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!j_digits(j))
			return false;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!j_digits(j))
			return false;
	}
	return true;
}

static bool j_container(struct jp *j, char open)
{
	char close = open == '{' ? '}' : ']';

	if (++j->depth > 32)
		return false;
	j->p++;
	j_ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (open == '{') {
			if (!j_string(j))
				return false;
			j_ws(j);
			if (*j->p++ != ':')
				return false;
		}
		if (!j_value(j))
			return false;
		j_ws(j);
		if (*j->p == ',') {
			j->p++;
			j_ws(j);
			continue;
		}
		if (*j->p++ != close)
			return false;
		j->depth--;
		return true;
	}
}

static bool j_literal(struct jp *j, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(j->p, word, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool j_value(struct jp *j)
{
	j_ws(j);
	switch (*j->p) {
	case '{':
	case '[':
		return j_container(j, *j->p);
	case '"':
		return j_string(j);
	case 't':
		return j_literal(j, "true");
	case 'f':
		return j_literal(j, "false");
	case 'n':
		return j_literal(j, "null");
	default:
		return j_number(j);
	}
}

/* stdout is a single JSON value opening with bracket and holding keys. */
static void assert_json(const struct run *r, char bracket, const char *const *keys)
{
	struct jp j = { .p = r->out, .depth = 0 };
	bool ok = strlen(r->out) == r->out_len && j_value(&j);

	j_ws(&j);
	ck_assert_msg(ok && *j.p == '\0', "stdout is not one JSON value: [%s]", r->out);
	ck_assert_msg(r->out[0] == bracket, "JSON does not open with %c: [%s]", bracket, r->out);
	for (; keys != NULL && *keys != NULL; keys++) {
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "\"%s\":", *keys);
		ck_assert_msg(strstr(r->out, quoted) != NULL, "JSON has no \"%s\": [%s]", *keys,
		              r->out);
	}
}

#define KEYS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The string value of "name" in a flat JSON text. */
static void json_string_value(const char *json, const char *name, char *out, size_t outlen)
{
	char quoted[64];
	const char *p, *end;

	snprintf(quoted, sizeof(quoted), "\"%s\":\"", name);
	p = strstr(json, quoted);
	ck_assert_msg(p != NULL, "no string \"%s\" in [%s]", name, json);
	p += strlen(quoted);
	end = strchr(p, '"');
	ck_assert_ptr_nonnull(end);
	ck_assert_uint_lt((size_t)(end - p), outlen);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

START_TEST(test_json)
{
	char key[KEYBUF], kid[KIDBUF], line[KEYBUF + 1];
	struct run r;

	RUN(&r, NULL, "--json", "key", "issue", "--owner", "carol", "--env", "prod", "--scope",
	    "read", "--expires", "30d", "--description", "a \"quoted\" \\ text");
	ck_assert_msg(r.status == 0, "issue: %s", r.err);
	assert_json(&r, '{', KEYS("key", "kid", "owner", "env", "scopes", "status", "expires"));
	json_string_value(r.out, "key", key, sizeof(key));
	json_string_value(r.out, "kid", kid, sizeof(kid));
	snprintf(line, sizeof(line), "%s\n", key);
	assert_key_line(line, "prod");
	assert_no_secret(r.err, key, "issue --json stderr");
	run_free(&r);

	RUN(&r, NULL, "key", "list", "--json");
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '[', KEYS("kid", "owner", "status", "scopes"));
	ck_assert_ptr_nonnull(strstr(r.out, kid));
	assert_no_secret(r.out, key, "key list --json");
	run_free(&r);

	RUN(&r, NULL, "--json", "key", "show", kid);
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '{', KEYS("kid", "owner", "status", "description"));
	assert_no_secret(r.out, key, "key show --json");
	run_free(&r);

	RUN(&r, line, "--json", "key", "verify", "--env", "prod");
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '{', KEYS("result", "kid", "grace", "audit_seq"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"result\":\"ok\""));
	run_free(&r);
	RUN(&r, line, "--json", "key", "verify", "--env", "dev");
	ck_assert_int_eq(r.status, 1);
	assert_json(&r, '{', KEYS("result"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"result\":\"wrong-environment\""));
	run_free(&r);

	RUN(&r, NULL, "--json", "audit", "verify");
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '{', KEYS("intact", "rows_checked", "head_seq", "head"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"intact\":true"));
	run_free(&r);

	RUN(&r, NULL, "--json", "audit", "log");
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '[', KEYS("seq", "action", "kid", "reason"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"key.issue\""));
	assert_no_secret(r.out, key, "audit log --json");
	run_free(&r);

	RUN(&r, NULL, "--json", "key", "suspend", kid, "--reason", "x");
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '{', KEYS("kid", "action"));
	run_free(&r);

	RUN(&r, NULL, "--json", "key", "due");
	ck_assert_int_eq(r.status, 0);
	assert_json(&r, '{', KEYS("due"));
	run_free(&r);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
}
END_TEST

/* An error with --json: non-zero exit, an "error" object on stdout, the
 * usual single line on stderr, and nothing changed. */
START_TEST(test_json_errors)
{
	static const struct {
		const char *argv[12];
		int status;
	} rows[] = {
		{ { "--json", "key", "show", "AAAAAAAAAAAA" }, 3 },
		{ { "--json", "key", "issue", "--owner", "a", "--env", "PROD", "--scope", "read",
		    "--expires", "30d" },
		  2 },
		{ { "key", "verify", "--json", "--env", "PROD" }, 2 },
		{ { "--json", "bogus" }, 2 },
		{ { "--json", "audit", "log", "--limit", "0" }, 2 },
	};
	struct tk_snapshot before;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r;
		snap(&before);
		run_cli_env(&r, g.conf, NULL, 0, rows[i].argv);
		ck_assert_msg(r.status == rows[i].status, "row %zu: exit %d, want %d", i, r.status,
		              rows[i].status);
		assert_error_line(&r, "");
		assert_json(&r, '{', KEYS("error", "exit"));
		assert_unchanged(&before);
		run_free(&r);
	}
}
END_TEST

/* ---- Verify input handling ---- */

START_TEST(test_verify_input)
{
	char key[KEYBUF], kid[KIDBUF], line[512];
	struct run r;
	size_t len;

	cli_issue("dave", "test", key, kid);
	/* A key pasted from a Windows file still verifies. */
	snprintf(line, sizeof(line), "%s\r\n", key);
	cli_verify(line, strlen(line), "test", "ok\n", 0);
	/* No newline at all: end of input ends the key. */
	cli_verify(key, strlen(key), "test", "ok\n", 0);

	/* 300 characters, starting with the real key: not a key. */
	len = (size_t)snprintf(line, sizeof(line), "%s", key);
	while (len < 300)
		line[len++] = 'A';
	line[len++] = '\n';
	line[len] = '\0';
	RUN(&r, line, "key", "verify");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "malformed\n");
	assert_no_secret(r.err, key, "verify stderr");
	run_free(&r);

	cli_verify("", 0, NULL, "malformed\n", 1);
	cli_verify("\n", 1, NULL, "malformed\n", 1);
	/* Only the first line is the key. */
	snprintf(line, sizeof(line), "%s\nsomething else\n", key);
	cli_verify(line, strlen(line), "test", "ok\n", 0);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
}
END_TEST

/* ---- Rotation ---- */

START_TEST(test_rotate)
{
	char old[KEYBUF], old_kid[KIDBUF], new[KEYBUF], new_kid[KIDBUF], line[KEYBUF + 1];
	struct run r;

	cli_issue("erin", "prod", old, old_kid);
	RUN(&r, NULL, "key", "rotate", old_kid);
	ck_assert_msg(r.status == 0, "rotate: %s", r.err);
	assert_key_line(r.out, "prod");
	take_key(r.out, new, new_kid);
	ck_assert_str_ne(new_kid, old_kid);
	ck_assert_ptr_nonnull(strstr(r.err, old_kid)); /* "rotated from" */
	assert_no_secret(r.err, new, "rotate stderr");
	run_free(&r);

	/* Both work during the grace period; the old one says so. */
	verify_key(new, "prod", "ok\n", 0);
	verify_key(old, "prod", "ok\n", 0);
	snprintf(line, sizeof(line), "%s\n", old);
	RUN(&r, line, "--json", "key", "verify");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"grace\":true"));
	run_free(&r);
	RUN(&r, NULL, "key", "show", old_kid);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, new_kid));
	run_free(&r);
	/* A rotated key cannot be rotated again. */
	RUN(&r, NULL, "key", "rotate", old_kid);
	ck_assert_int_eq(r.status, 3);
	assert_error_line(&r, old_kid);
	run_free(&r);

	/* --immediate: the old key is revoked at once. */
	cli_issue("erin", "prod", old, old_kid);
	RUN(&r, NULL, "key", "rotate", old_kid, "--immediate");
	ck_assert_msg(r.status == 0, "rotate --immediate: %s", r.err);
	assert_key_line(r.out, "prod");
	take_key(r.out, new, new_kid);
	run_free(&r);
	verify_key(old, "prod", "revoked\n", 1);
	verify_key(new, "prod", "ok\n", 0);

	RUN(&r, NULL, "audit", "verify");
	ck_assert_int_eq(r.status, 0);
	run_free(&r);
	sodium_memzero(old, sizeof(old));
	sodium_memzero(new, sizeof(new));
	sodium_memzero(line, sizeof(line));
}
END_TEST

/* ---- Tampering, missing and broken files ---- */

START_TEST(test_tamper)
{
	char key[KEYBUF], kid[KIDBUF];
	sqlite3 *db = NULL;
	struct run r;
	int rc;

	cli_issue("frank", "prod", key, kid);
	verify_key(key, "prod", "ok\n", 0);
	RUN(&r, NULL, "key", "revoke", kid, "--reason", "test");
	ck_assert_int_eq(r.status, 0);
	run_free(&r);

	/* Someone with write access to the file: triggers are no defence. */
	rc = sqlite3_open_v2(g.db, &db, SQLITE_OPEN_READWRITE, NULL);
	ck_assert_int_eq(rc, SQLITE_OK);
	rc = sqlite3_exec(db,
	                  "DROP TRIGGER audit_no_update;"
	                  "UPDATE audit SET reason = 'nothing to see' WHERE seq = 2;",
	                  NULL, NULL, NULL);
	ck_assert_msg(rc == SQLITE_OK, "%s", sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_changes(db), 1);
	sqlite3_close(db);

	RUN(&r, NULL, "audit", "verify");
	ck_assert_msg(r.status == 1, "audit verify: exit %d [%s] [%s]", r.status, r.out, r.err);
	ck_assert_msg(strstr(r.out, "seq 2") != NULL && strstr(r.out, "BROKEN") != NULL,
	              "stdout does not name seq 2: [%s]", r.out);
	run_free(&r);
	RUN(&r, NULL, "--json", "audit", "verify");
	ck_assert_int_eq(r.status, 1);
	assert_json(&r, '{', KEYS("intact", "problem", "bad_seq"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"intact\":false"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"bad_seq\":2"));
	run_free(&r);
	sodium_memzero(key, sizeof(key));
}
END_TEST

static void remove_db(void)
{
	char side[PATH_MAX + 64];

	ck_assert_int_eq(unlink(g.db), 0);
	snprintf(side, sizeof(side), "%s-wal", g.db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", g.db);
	unlink(side);
}

START_TEST(test_missing_db)
{
	struct stat st;
	struct run r;

	remove_db();
	RUN(&r, NULL, "key", "list");
	ck_assert_int_eq(r.status, 4);
	assert_error_line(&r, g.db);
	run_free(&r);
	RUN(&r, NULL, "key", "issue", "--owner", "a", "--env", "prod", "--scope", "read",
	    "--expires", "30d");
	ck_assert_int_eq(r.status, 4);
	assert_error_line(&r, g.db);
	ck_assert_uint_eq(r.out_len, 0);
	run_free(&r);
	RUN(&r, NULL, "audit", "verify");
	ck_assert_int_eq(r.status, 4);
	assert_error_line(&r, g.db);
	run_free(&r);
	/* Nothing recreated an empty database behind the admin's back. */
	ck_assert_int_ne(stat(g.db, &st), 0);
}
END_TEST

START_TEST(test_corrupt_db)
{
	const char *const verbs[][12] = {
		{ "key", "list" },
		{ "audit", "verify" },
		{ "audit", "log" },
		{ "key", "issue", "--owner", "a", "--env", "prod", "--scope", "read", "--expires",
		  "30d" },
	};
	unsigned char junk[8192];
	FILE *f;

	remove_db();
	randombytes_buf(junk, sizeof(junk));
	f = fopen(g.db, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	ck_assert_int_eq(fclose(f), 0);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		struct run r;
		run_cli_env(&r, g.conf, NULL, 0, verbs[i]);
		ck_assert_msg(r.status == 4, "%s %s: exit %d", verbs[i][0], verbs[i][1], r.status);
		assert_error_line(&r, "corrupt");
		ck_assert_uint_eq(r.out_len, 0);
		run_free(&r);
	}
}
END_TEST

/* A config or database that someone else can write decides which keys are
 * valid: refused (exit 4, naming the file), and nothing is written. */
START_TEST(test_files_writable_by_others)
{
	const char *const files[] = { g.conf, g.db };
	struct tk_snapshot before;

	snap(&before);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat st;
		struct run r;
		ck_assert_int_eq(stat(files[i], &st), 0);
		ck_assert_int_eq(chmod(files[i], 0666), 0);
		run_cli_env(&r, g.conf, NULL, 0, (const char *const[]){ "key", "list", NULL });
		ck_assert_int_eq(r.status, 4);
		assert_error_line(&r, "unsafe permissions");
		assert_error_line(&r, files[i]);
		run_free(&r);
		ck_assert_int_eq(chmod(files[i], st.st_mode & 07777), 0);
	}
	assert_unchanged(&before);
}
END_TEST

/* init into a directory others can write is refused, and creates nothing. */
START_TEST(test_init_unsafe_dir)
{
	char dir[PATH_MAX + 32];
	struct run r;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/shared", g.base);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	run_cli_env(&r, NULL, NULL, 0, (const char *const[]){ "init", "--state-dir", dir, NULL });
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "not writable by group or others");
	run_free(&r);
	snprintf(dir, sizeof(dir), "%s/shared/latchkey.conf", g.base);
	ck_assert_int_ne(stat(dir, &st), 0);
}
END_TEST

/* A new key that cannot be written out (here: stdout on /dev/full) is held
 * by nobody, so it must not stay valid: exit 4, and the key is revoked. */
START_TEST(test_undelivered_key_revoked)
{
	char *argv[] = { (char *)cli_bin(), "--offline", "-c",          g.conf,  "key",
		         "issue",           "--owner",   "undelivered", "--env", "prod",
		         "--scope",         "read",      "--expires",   "1d",    NULL };
	posix_spawn_file_actions_t fa;
	struct lk_store *store;
	struct lk_err err = { { 0 } };
	int wst, seen = 0;
	pid_t pid;

	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1, "/dev/full", O_WRONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0), 0);
	ck_assert_int_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
	ck_assert(WIFEXITED(wst));
	ck_assert_int_eq(WEXITSTATUS(wst), 4);

	open_ro(&store);
	ck_assert_int_eq(lk_key_list(store, &(struct lk_key_filter){ .owner = "undelivered" },
	                             count_revoked, &seen, &err),
	                 LK_OK);
	lk_store_close(store);
	ck_assert_int_eq(seen, 1);
}
END_TEST

START_TEST(test_master_key_too_open)
{
	char key[KEYBUF], kid[KIDBUF], line[KEYBUF + 1];
	struct tk_snapshot before;
	struct run r;

	cli_issue("gina", "prod", key, kid);
	ck_assert_int_eq(chmod(g.master, 0644), 0);
	snap(&before);
	RUN(&r, NULL, "key", "issue", "--owner", "gina", "--env", "prod", "--scope", "read",
	    "--expires", "30d");
	ck_assert_int_eq(r.status, 4);
	assert_error_line(&r, "group/other");
	ck_assert_uint_eq(r.out_len, 0);
	run_free(&r);
	assert_unchanged(&before);

	/* Verifying needs the master key too: refused before stdin is read. */
	snprintf(line, sizeof(line), "%s\n", key);
	RUN(&r, line, "key", "verify");
	ck_assert_int_eq(r.status, 4);
	assert_error_line(&r, "group/other");
	ck_assert_uint_eq(r.in_left, strlen(line));
	assert_no_secret(r.err, key, "verify stderr");
	run_free(&r);
	RUN(&r, NULL, "key", "rotate", kid);
	ck_assert_int_eq(r.status, 4);
	assert_error_line(&r, "group/other");
	run_free(&r);
	assert_unchanged(&before);

	/* Listing never touches the master key. */
	RUN(&r, NULL, "key", "list");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, kid));
	run_free(&r);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
}
END_TEST

Suite *cli_suite(void);

static void set_timeout(TCase *tc)
{
	/* Dozens of process starts per test; valgrind runs set their own. */
	if (getenv("CK_DEFAULT_TIMEOUT") == NULL)
		tcase_set_timeout(tc, 60);
}

/* ---- policy verbs ---- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

static const char web_policy[] =
    "<policy xmlns=\"urn:latchkey:policy:1\" service=\"web\" environment=\"prod\">\n"
    "  <stack>\n    <step plugin=\"apikey\" control=\"required\"/>\n  </stack>\n"
    "</policy>\n";

/* Reads a whole small file into buf; returns its length. */
static size_t slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

START_TEST(test_policy_check)
{
	char good[PATH_MAX + 64], bad[PATH_MAX + 64], misnamed[PATH_MAX + 64];
	struct run r;

	snprintf(good, sizeof(good), "%s/web.xml", g.base);
	snprintf(bad, sizeof(bad), "%s/bad.xml", g.base);
	snprintf(misnamed, sizeof(misnamed), "%s/other.xml", g.base);
	write_text(good, web_policy);
	write_text(misnamed, web_policy);
	write_text(bad, "<policy xmlns=\"urn:latchkey:policy:1\" service=\"bad\" "
	                "environment=\"prod\">\n<stack>\n<step plugin=\"apikey\" "
	                "control=\"include\"/>\n</stack>\n</policy>\n");
	RUN(&r, NULL, "policy", "check", good);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "valid"));
	ck_assert_ptr_nonnull(strstr(r.out, "1. required   apikey"));
	run_free(&r);
	/* file:line: reason, naming the bad value */
	RUN(&r, NULL, "policy", "check", bad);
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "bad.xml:3:");
	assert_error_line(&r, "include");
	run_free(&r);
	RUN(&r, NULL, "policy", "check", misnamed);
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "must be in a file named web.xml");
	run_free(&r);
	/* Two files for one service: the second is refused. */
	{
		char dup[PATH_MAX + 64];
		snprintf(dup, sizeof(dup), "%s/sub", g.base);
		ck_assert_int_eq(mkdir(dup, 0700), 0);
		snprintf(dup, sizeof(dup), "%s/sub/web.xml", g.base);
		write_text(dup, web_policy);
		RUN(&r, NULL, "policy", "check", good, dup);
		ck_assert_int_eq(r.status, 2);
		assert_error_line(&r, "is also defined in");
		run_free(&r);
	}
	/* One bad file among good ones still fails the check. */
	RUN(&r, NULL, "--json", "policy", "check", good, bad);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.out, "\"valid\":true"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"valid\":false"));
	run_free(&r);
}
END_TEST

START_TEST(test_policy_mfa)
{
	char path[PATH_MAX + 64], before_bytes[4096], after_bytes[4096];
	struct tk_snapshot before;
	struct lk_store *store;
	struct run r;
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/policies/web.xml", g.dir);
	write_text(path, web_policy);
	RUN(&r, NULL, "policy", "show", "web");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_null(strstr(r.out, "step-up"));
	run_free(&r);

	RUN(&r, NULL, "policy", "mfa", "enable", "web", "--plugin", "totp", "--scope", "web:admin",
	    "--ticket", "CHG-42");
	ck_assert_msg(r.status == 0, "%s", r.err);
	run_free(&r);
	RUN(&r, NULL, "policy", "show", "web");
	ck_assert_ptr_nonnull(strstr(r.out, "totp         step-up for scopes: web:admin"));
	run_free(&r);
	/* Audited: actor, ticket, old and new content hashes. */
	ck_assert_int_eq(sqlite3_open_v2(g.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db,
	                       "SELECT count(*) FROM audit WHERE action = 'policy.change'"
	                       " AND detail LIKE '%ticket=CHG-42%'"
	                       " AND detail LIKE '%old=%new=%'",
	                       -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* Bad changes change nothing: not the file, not the log. */
	slurp(path, before_bytes, sizeof(before_bytes));
	open_ro(&store);
	tk_snapshot(store, &before);
	lk_store_close(store);
	RUN(&r, NULL, "policy", "mfa", "disable", "web", "--plugin", "webauthn");
	ck_assert_int_eq(r.status, 3);
	assert_error_line(&r, "no step-up rule for plugin webauthn");
	run_free(&r);
	RUN(&r, NULL, "policy", "mfa", "enable", "web", "--plugin", "../evil");
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "../evil");
	run_free(&r);
	RUN(&r, NULL, "policy", "mfa", "enable", "web", "--plugin", "totp", "--scope", "a b");
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "a b");
	run_free(&r);
	RUN(&r, NULL, "policy", "mfa", "enable", "web", "--plugin", "totp", "--ticket", "x\ty");
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "ticket");
	run_free(&r);
	RUN(&r, NULL, "policy", "mfa", "enable", "nosuch", "--plugin", "totp");
	ck_assert_int_eq(r.status, 3);
	run_free(&r);
	slurp(path, after_bytes, sizeof(after_bytes));
	ck_assert_str_eq(after_bytes, before_bytes);
	assert_unchanged(&before);

	RUN(&r, NULL, "policy", "mfa", "disable", "web", "--plugin", "totp", "--ticket", "CHG-43");
	ck_assert_int_eq(r.status, 0);
	run_free(&r);
	RUN(&r, NULL, "policy", "show", "web");
	ck_assert_ptr_null(strstr(r.out, "step-up"));
	run_free(&r);
	RUN(&r, NULL, "audit", "verify");
	ck_assert_int_eq(r.status, 0);
	run_free(&r);
}
END_TEST

/* latchkey auth: the engine through the CLI, with the real apikey plugin
 * (LK_APIKEY_PLUGIN_DIR from make check) as the state's plugin dir. */
START_TEST(test_auth)
{
	const char *plugins = getenv("LK_APIKEY_PLUGIN_DIR");
	char dir[PATH_MAX + 32], conf[PATH_MAX + 64], path[PATH_MAX + 64], key[KEYBUF], kid[KIDBUF];
	char line[KEYBUF + 1];
	struct run r;

	ck_assert_msg(plugins != NULL, "LK_APIKEY_PLUGIN_DIR is not set (run through make check)");
	snprintf(dir, sizeof(dir), "%s/authstate", g.base);
	run_cli_env(
	    &r, NULL, NULL, 0,
	    (const char *const[]){ "init", "--state-dir", dir, "--plugin-dir", plugins, NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	run_free(&r);
	snprintf(conf, sizeof(conf), "%s/latchkey.conf", dir);
	snprintf(path, sizeof(path), "%s/policies/web.xml", dir);
	write_text(path, web_policy);

	run_cli_env(&r, conf, NULL, 0,
	            (const char *const[]){ "key", "issue", "--owner", "svc-web", "--env", "prod",
	                                   "--scope", "read", "--expires", "1d", NULL });
	ck_assert_int_eq(r.status, 0);
	take_key(r.out, key, kid);
	run_free(&r);
	snprintf(line, sizeof(line), "%s\n", key);

	run_cli_env(&r, conf, line, strlen(line),
	            (const char *const[]){ "auth", "web", "--user", "svc-web", NULL });
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "accepted: ok, principal svc-web"));
	assert_no_secret(r.out, key, "auth stdout");
	run_free(&r);
	/* Someone else's user name: refused. */
	run_cli_env(&r, conf, line, strlen(line),
	            (const char *const[]){ "auth", "web", "--user", "root", NULL });
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "denied: user-mismatch"));
	run_free(&r);
	/* No policy for the service: refused, and the refusal is audited. */
	run_cli_env(&r, conf, line, strlen(line),
	            (const char *const[]){ "--json", "auth", "nosuch", NULL });
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "\"reason\":\"no-policy\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"success\":false"));
	run_free(&r);
	/* Bad arguments read nothing. */
	run_cli_env(&r, conf, line, strlen(line), (const char *const[]){ "auth", "../web", NULL });
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "../web");
	run_free(&r);
	run_cli_env(&r, conf, line, strlen(line),
	            (const char *const[]){ "auth", "web", "--scope", "a b", NULL });
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
}
END_TEST

START_TEST(test_init_plugin_dir)
{
	char dir[PATH_MAX + 32];
	struct run r;

	snprintf(dir, sizeof(dir), "%s/pd", g.base);
	run_cli_env(&r, NULL, NULL, 0,
	            (const char *const[]){ "init", "--state-dir", dir, "--plugin-dir",
	                                   "/nonexistent/plugins", NULL });
	ck_assert_int_eq(r.status, 2);
	assert_error_line(&r, "/nonexistent/plugins");
	run_free(&r);
}
END_TEST

Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc;

	tc = tcase_create("bad_input");
	tcase_add_unchecked_fixture(tc, table_setup, teardown);
	tcase_add_loop_test(tc, test_bad_input, 0, (int)(sizeof(bad_rows) / sizeof(bad_rows[0])));
	set_timeout(tc);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_refuses_existing);
	tcase_add_test(tc, test_init_output);
	tcase_add_test(tc, test_happy_path);
	tcase_add_test(tc, test_lifecycle_text);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_json_errors);
	tcase_add_test(tc, test_verify_input);
	tcase_add_test(tc, test_rotate);
	tcase_add_test(tc, test_policy_check);
	tcase_add_test(tc, test_policy_mfa);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_init_plugin_dir);
	set_timeout(tc);
	suite_add_tcase(s, tc);

	tc = tcase_create("broken_state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_missing_db);
	tcase_add_test(tc, test_corrupt_db);
	tcase_add_test(tc, test_files_writable_by_others);
	tcase_add_test(tc, test_init_unsafe_dir);
	tcase_add_test(tc, test_undelivered_key_revoked);
	tcase_add_test(tc, test_master_key_too_open);
	set_timeout(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX];
	int rc;

	/* Every test's directory lives under one root, removed here: in fork
	 * mode a failed test exits before its teardown runs. */
	snprintf(root, sizeof(root), "%s/latchkey-cli-XXXXXX",
	         tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror(root);
		return EXIT_FAILURE;
	}
	setenv("TMPDIR", root, 1);
	rc = tk_run_suite(cli_suite());
	tk_rmrf(root);
	return rc;
}
