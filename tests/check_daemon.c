/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkeyd end to end: a state dir made by the built `latchkey init`, a
 * key issued by the CLI, the built daemon spawned on it, and this program
 * as the auth socket's client (the PAM module's side of the protocol).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon-fixture.h"
#include "protocol-private.h"
#include "testutil.h"

extern char **environ;

#define NOBODY 65534

/* Big: static, not on the stack. */
static unsigned char frame[LK_FRAME_MAX + 4];
static struct lk_msg msg;

static void setup(void)
{
	fixture_setup("latchkeyd");
}

static void teardown(void)
{
	fixture_teardown();
}

/* ---- Client side ---- */

static int send_msg(int fd, const struct lk_msg *m)
{
	struct lk_err err = { { 0 } };
	size_t len;
	int r = lk_msg_encode(m, frame, sizeof(frame), &len, &err);

	if (r == LK_OK)
		r = lk_frame_write(fd, frame, len, 10000, &err);
	return r;
}

/* Reads one message into msg; LK_EIO when the daemon closed. */
static int recv_msg(int fd)
{
	struct lk_err err = { { 0 } };
	size_t len;
	int r;

	lk_msg_wipe(&msg);
	r = lk_frame_read(fd, frame, sizeof(frame), &len, 10000, &err);
	if (r == LK_OK)
		r = lk_msg_decode(frame, len, &msg, &err);
	return r;
}

/* Child-process variants (no ck_assert: a child reports by exit code). */

/* Connects and exchanges HELLOs; -1 if the daemon is not there or not
 * speaking the protocol. */
static int try_hello(void)
{
	int fd = try_connect();

	if (fd < 0)
		return -1;
	lk_msg_wipe(&msg);
	msg.type = LK_MSG_HELLO;
	msg.min_version = msg.max_version = LK_PROTO_VERSION;
	if (send_msg(fd, &msg) != LK_OK || recv_msg(fd) != LK_OK || msg.type != LK_MSG_HELLO) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An AUTH for alice with the key as the "apikey" input into msg. */
static void fill_auth(const char *service, const char *key)
{
	lk_msg_wipe(&msg);
	msg.type = LK_MSG_AUTH;
	snprintf(msg.service, sizeof(msg.service), "%s", service);
	snprintf(msg.user, sizeof(msg.user), "alice");
	if (key != NULL) {
		snprintf(msg.inputs[0].name, sizeof(msg.inputs[0].name), "apikey");
		msg.inputs[0].len = strlen(key);
		memcpy(msg.inputs[0].value, key, msg.inputs[0].len);
		msg.n_inputs = 1;
	}
}

static int hello(void)
{
	int fd = try_connect();

	ck_assert_int_ge(fd, 0);
	lk_msg_wipe(&msg);
	msg.type = LK_MSG_HELLO;
	msg.min_version = msg.max_version = LK_PROTO_VERSION;
	ck_assert_int_eq(send_msg(fd, &msg), LK_OK);
	ck_assert_int_eq(recv_msg(fd), LK_OK);
	ck_assert_int_eq(msg.type, LK_MSG_HELLO);
	ck_assert_int_eq(msg.version, LK_PROTO_VERSION);
	return fd;
}

static void send_auth(int fd, const char *service, const char *key)
{
	fill_auth(service, key);
	ck_assert_int_eq(send_msg(fd, &msg), LK_OK);
	lk_msg_wipe(&msg);
}

/* A whole request with the key in AUTH; the RESULT is left in msg. */
static void auth(const char *service, const char *key)
{
	int fd = hello();

	send_auth(fd, service, key);
	ck_assert_int_eq(recv_msg(fd), LK_OK);
	ck_assert_int_eq(msg.type, LK_MSG_RESULT);
	close(fd);
}

START_TEST(test_auth_ok)
{
	allow_me();
	start_daemon();
	auth("web", g.key);
	ck_assert_uint_eq(msg.pam_code, 0);
	ck_assert_str_eq(msg.principal, "alice");
	ck_assert_uint_gt(msg.audit_seq, 0);
	/* Served again by the same daemon (a thread per connection). */
	auth("web", g.key);
	ck_assert_uint_eq(msg.pam_code, 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(test_wrong_env)
{
	allow_me();
	start_daemon();
	auth("devweb", g.key);
	ck_assert_uint_ne(msg.pam_code, 0);
	ck_assert_str_eq(msg.principal, "");
	auth("web", "lk_prod_notakey");
	ck_assert_uint_ne(msg.pam_code, 0);
	/* A service with no policy: denied, never an error turned success. */
	auth("nopolicy", g.key);
	ck_assert_uint_ne(msg.pam_code, 0);
}
END_TEST

START_TEST(test_prompt_answer)
{
	int fd;

	allow_me();
	start_daemon();
	fd = hello();
	send_auth(fd, "web", NULL);
	ck_assert_int_eq(recv_msg(fd), LK_OK);
	ck_assert_int_eq(msg.type, LK_MSG_PROMPT);
	ck_assert_uint_eq(msg.n_inputs, 1);
	ck_assert_str_eq(msg.inputs[0].name, "apikey");
	lk_msg_wipe(&msg);
	msg.type = LK_MSG_ANSWER;
	snprintf(msg.inputs[0].name, sizeof(msg.inputs[0].name), "apikey");
	msg.inputs[0].len = strlen(g.key);
	memcpy(msg.inputs[0].value, g.key, msg.inputs[0].len);
	msg.n_inputs = 1;
	ck_assert_int_eq(send_msg(fd, &msg), LK_OK);
	ck_assert_int_eq(recv_msg(fd), LK_OK);
	ck_assert_int_eq(msg.type, LK_MSG_RESULT);
	ck_assert_uint_eq(msg.pam_code, 0);
	ck_assert_str_eq(msg.principal, "alice");
	close(fd);
}
END_TEST

/* Rows in the daemon's audit log with this action (and reason, if not
 * NULL), read straight from the database. */
static long audit_rows(const char *action, const char *reason)
{
	char key[128];

	if (reason == NULL)
		return db_long("SELECT count(*) FROM audit WHERE action = ?1", action);
	snprintf(key, sizeof(key), "%s/%s", action, reason);
	return db_long("SELECT count(*) FROM audit WHERE action || '/' || reason = ?1", key);
}

START_TEST(test_garbage_frame)
{
	static const unsigned char bad[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4 };
	unsigned char c;
	int fd, r;

	allow_me();
	start_daemon();
	fd = hello();
	ck_assert_int_eq(write(fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	/* An ERROR at most, then the connection is closed. */
	r = recv_msg(fd);
	if (r == LK_OK) {
		ck_assert_int_eq(msg.type, LK_MSG_ERROR);
		ck_assert_int_eq(recv_msg(fd), LK_EIO);
	}
	while ((r = (int)read(fd, &c, 1)) < 0 && errno == EINTR)
		;
	ck_assert_int_le(r, 0);
	close(fd);
	/* A type that is not AUTH where AUTH is due: also closed. */
	fd = hello();
	lk_msg_wipe(&msg);
	msg.type = LK_MSG_HELLO;
	msg.min_version = msg.max_version = LK_PROTO_VERSION;
	ck_assert_int_eq(send_msg(fd, &msg), LK_OK);
	ck_assert_int_eq(recv_msg(fd), LK_OK);
	ck_assert_int_eq(msg.type, LK_MSG_ERROR);
	ck_assert_int_eq(recv_msg(fd), LK_EIO);
	close(fd);
	/* The daemon still serves the next client. */
	auth("web", g.key);
	ck_assert_uint_eq(msg.pam_code, 0);
	/* Both violations are in the audit log (written after the connection
	 * closed: a readiness wait, not a timing assertion). */
	for (int i = 0; i < 3000 && audit_rows("auth.protocol-error", NULL) < 2; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	ck_assert_int_eq(audit_rows("auth.protocol-error", NULL), 2);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(test_bad_version)
{
	int fd;

	allow_me();
	start_daemon();
	fd = try_connect();
	ck_assert_int_ge(fd, 0);
	lk_msg_wipe(&msg);
	msg.type = LK_MSG_HELLO;
	msg.min_version = LK_PROTO_VERSION + 1;
	msg.max_version = LK_PROTO_VERSION + 3;
	ck_assert_int_eq(send_msg(fd, &msg), LK_OK);
	ck_assert_int_eq(recv_msg(fd), LK_OK);
	ck_assert_int_eq(msg.type, LK_MSG_ERROR);
	ck_assert_ptr_nonnull(strstr(msg.error, "version"));
	ck_assert_int_eq(recv_msg(fd), LK_EIO);
	close(fd);
}
END_TEST

START_TEST(test_sigterm)
{
	struct stat st;

	allow_me();
	start_daemon();
	ck_assert_int_eq(lstat(g.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_ne(lstat(g.sock, &st), 0);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

static int start_expecting_failure(void)
{
	return wait_status(spawn(bin("LATCHKEYD_BIN"),
	                         (const char *const[]){ "-c", g.conf, "--foreground", NULL }, -1));
}

START_TEST(test_refuses_unsafe)
{
	char run[PATH_MAX + 16];
	struct stat st;

	ck_assert_int_eq(chmod(g.master, 0644), 0);
	ck_assert_int_eq(start_expecting_failure(), 1);
	ck_assert_int_eq(chmod(g.master, 0600), 0);

	snprintf(run, sizeof(run), "%s/run", g.dir);
	ck_assert_int_eq(chmod(run, 0777), 0);
	ck_assert_int_eq(start_expecting_failure(), 1);
	ck_assert_int_eq(chmod(run, 0755), 0);

	/* Something in the socket's place that is not our socket: kept. */
	write_file(g.sock, "w", "not a socket\n");
	ck_assert_int_eq(start_expecting_failure(), 1);
	ck_assert_int_eq(lstat(g.sock, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(unlink(g.sock), 0);

	add_config("auth_peer = 1000 *\n");
	ck_assert_int_eq(start_expecting_failure(), 1);
}
END_TEST

/* A second daemon on the same socket refuses to start and leaves the first
 * one serving. */
START_TEST(test_second_daemon_refused)
{
	allow_me();
	start_daemon();
	ck_assert_int_eq(start_expecting_failure(), 1);
	auth("web", g.key);
	ck_assert_int_eq(msg.type, LK_MSG_RESULT);
	ck_assert_uint_eq(msg.pam_code, 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Asks for "web" as another uid (nobody, when running as root) or for a
 * service this uid has no auth_peer line for; checks the RESULT. */
static void expect_peer(const char *service, bool want_denied)
{
	pid_t pid;

	if (getuid() != 0) {
		auth(service, g.key);
		if (want_denied) {
			ck_assert_uint_eq(msg.pam_code, 6);
			ck_assert_str_eq(msg.reason, "peer-not-allowed");
			ck_assert_uint_gt(msg.audit_seq, 0);
		} else {
			ck_assert_uint_eq(msg.pam_code, 0);
		}
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd;
		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(10);
		if ((fd = try_hello()) < 0)
			_exit(11);
		fill_auth(service, g.key);
		if (send_msg(fd, &msg) != LK_OK || recv_msg(fd) != LK_OK ||
		    msg.type != LK_MSG_RESULT)
			_exit(13);
		if (want_denied)
			_exit(msg.pam_code == 6 && strcmp(msg.reason, "peer-not-allowed") == 0 &&
			              msg.audit_seq > 0
			          ? 0
			          : 14);
		_exit(msg.pam_code == 0 ? 0 : 15);
	}
	ck_assert_int_eq(wait_status(pid), 0);
}

START_TEST(test_peer_not_allowed)
{
	char line[64];

	allow_me();
	start_daemon();
	expect_peer(getuid() == 0 ? "web" : "other", true);
	/* Root speaks for every service. */
	if (getuid() == 0) {
		auth("web", g.key);
		ck_assert_uint_eq(msg.pam_code, 0);
	}
	ck_assert_int_eq(stop_daemon(), 0);

	/* Another uid's line changes nothing for this one; root: nobody may now
	 * speak for web. */
	if (getuid() == 0)
		snprintf(line, sizeof(line), "auth_peer = %u web,other\n", NOBODY);
	else
		snprintf(line, sizeof(line), "auth_peer = %u other\n", (unsigned)getuid() + 1);
	add_config(line);
	start_daemon();
	expect_peer(getuid() == 0 ? "web" : "other", getuid() != 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- Group commit and durability ---- */

/* True if the database holds seq as a successful decision. */
static bool decision_row(sqlite3 *db, uint64_t seq)
{
	sqlite3_stmt *st = NULL;
	bool found;

	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT 1 FROM audit WHERE seq = ?1 AND"
	                                    " action = 'auth.decision' AND reason = 'ok'",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* A client process: authenticates until the daemon stops answering (or
 * n times), writing each success's audit seq to out; exits 0 unless the
 * daemon said success without a row or something other than a RESULT or
 * an ERROR came back. */
static void client_loop(int out, long n)
{
	for (long i = 0; n < 0 || i < n; i++) {
		int fd = try_hello();
		uint64_t seq;
		if (fd < 0)
			_exit(0); /* the daemon went away: the end of this client */
		fill_auth("web", g.key);
		if (send_msg(fd, &msg) != LK_OK || recv_msg(fd) != LK_OK)
			_exit(0);
		close(fd);
		if (msg.type == LK_MSG_ERROR)
			continue; /* not recorded, not a success: as it must be */
		if (msg.type != LK_MSG_RESULT)
			_exit(20);
		if (msg.pam_code != 0)
			_exit(21); /* a valid key denied */
		if (msg.audit_seq == 0)
			_exit(22);
		seq = msg.audit_seq;
		if (write(out, &seq, sizeof(seq)) != (ssize_t)sizeof(seq))
			_exit(23);
	}
	_exit(0);
}

#define N_CLIENTS 8

/* Starts N_CLIENTS client processes writing to one pipe; returns its read end. */
static int start_clients(pid_t *pids, long n_each)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	for (int i = 0; i < N_CLIENTS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			close(p[0]);
			client_loop(p[1], n_each);
		}
	}
	close(p[1]);
	return p[0];
}

/* Reads up to max seqs (or until every client is done). */
static size_t read_seqs(int fd, uint64_t *seqs, size_t max)
{
	size_t n = 0;
	ssize_t r;

	while (n < max && (r = read(fd, &seqs[n], sizeof(seqs[n]))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		ck_assert_int_eq(r, (ssize_t)sizeof(seqs[n]));
		n++;
	}
	return n;
}

static void expect_durable(const uint64_t *seqs, size_t n)
{
	sqlite3 *db = db_open();

	for (size_t i = 0; i < n; i++)
		ck_assert_msg(decision_row(db, seqs[i]),
		              "success reply %zu (seq %llu) has no row after the crash", i,
		              (unsigned long long)seqs[i]);
	sqlite3_close(db);
}

/* Eight clients at once: every decision answered, every one in the chain. */
START_TEST(test_group_commit_concurrent)
{
	static uint64_t seqs[N_CLIENTS * 40];
	pid_t pids[N_CLIENTS];
	long before;
	size_t n;
	int fd;

	allow_me();
	start_daemon();
	before = audit_rows("auth.decision", "ok");
	fd = start_clients(pids, 40);
	n = read_seqs(fd, seqs, N_CLIENTS * 40);
	close(fd);
	for (int i = 0; i < N_CLIENTS; i++)
		ck_assert_int_eq(wait_status(pids[i]), 0);
	ck_assert_uint_eq(n, N_CLIENTS * 40);
	/* Distinct rows: no two replies share a seq. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			ck_assert_uint_ne(seqs[i], seqs[k]);
	ck_assert_int_eq(audit_rows("auth.decision", "ok"), before + N_CLIENTS * 40);
	expect_durable(seqs, n);
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "verify", NULL }, NULL, 0), 0);
}
END_TEST

/* The daemon killed (SIGKILL) in the middle of a load: every success that
 * reached a client is in the database afterwards, and the chain verifies. */
START_TEST(test_killed_mid_load)
{
	static uint64_t seqs[100000];
	pid_t pids[N_CLIENTS];
	size_t n;
	int fd;

	allow_me();
	start_daemon();
	fd = start_clients(pids, -1);
	n = read_seqs(fd, seqs, 200); /* well into the load */
	ck_assert_int_eq(kill(g.daemon, SIGKILL), 0);
	ck_assert_int_eq(wait_status(g.daemon), 128 + SIGKILL);
	g.daemon = 0;
	n += read_seqs(fd, seqs + n, sizeof(seqs) / sizeof(seqs[0]) - n);
	close(fd);
	for (int i = 0; i < N_CLIENTS; i++)
		ck_assert_int_eq(wait_status(pids[i]), 0);
	ck_assert_uint_ge(n, 200);
	expect_durable(seqs, n);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "verify", NULL }, NULL, 0), 0);
}
END_TEST

/* Commits that fail (the write-ahead log may not grow: RLIMIT_FSIZE, as a
 * full disk would do) deny: clients get ERRORs, never a success whose row
 * is missing. */
START_TEST(test_commit_failure_denies)
{
	static uint64_t seqs[100000];
	char wal[PATH_MAX + 32];
	pid_t pids[N_CLIENTS];
	struct stat st;
	size_t n;
	long decisions_before;
	int fd;

	allow_me();
	/* Whatever the WAL holds now, a little more is allowed. */
	snprintf(wal, sizeof(wal), "%s/latchkey.db-wal", g.dir);
	g.daemon = fork();
	ck_assert_int_ge(g.daemon, 0);
	if (g.daemon == 0) {
		struct rlimit lim;
		off_t have = stat(wal, &st) == 0 ? st.st_size : 0;
		lim.rlim_cur = lim.rlim_max = (rlim_t)have + 96 * 1024;
		signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of a kill */
		if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
			_exit(90);
		execl(bin("LATCHKEYD_BIN"), bin("LATCHKEYD_BIN"), "-c", g.conf, "--foreground",
		      (char *)NULL);
		_exit(91);
	}
	for (int i = 0; i < 3000 && (fd = try_connect()) < 0; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	decisions_before = audit_rows("auth.decision", NULL);
	/* Each client stops after 300 tries; the limit is hit long before. */
	fd = start_clients(pids, 300);
	n = read_seqs(fd, seqs, sizeof(seqs) / sizeof(seqs[0]));
	close(fd);
	for (int i = 0; i < N_CLIENTS; i++)
		ck_assert_int_eq(wait_status(pids[i]), 0);
	/* Some were refused: fewer successes than tries, and all of those
	 * that were answered are on disk. */
	ck_assert_uint_lt(n, N_CLIENTS * 300);
	ck_assert_int_ge(audit_rows("auth.decision", NULL), decisions_before + (long)n);
	expect_durable(seqs, n);
	kill(g.daemon, SIGKILL);
	wait_status(g.daemon);
	g.daemon = 0;
}
END_TEST

/* ---- SIGHUP ---- */

/* Sends SIGHUP and waits for the policy.load row with this reason to be
 * one more than before. */
static void reload_and_wait(const char *reason)
{
	long before = audit_rows("policy.load", reason);

	ck_assert_int_eq(kill(g.daemon, SIGHUP), 0);
	for (int i = 0; i < 3000 && audit_rows("policy.load", reason) == before; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	ck_assert_int_gt(audit_rows("policy.load", reason), before);
}

START_TEST(test_sighup_reload)
{
	char path[PATH_MAX + 64];

	if (getuid() != 0) {
		char line[64];
		snprintf(line, sizeof(line), "auth_peer = %u web,api\n", (unsigned)getuid());
		add_config(line);
	}
	start_daemon();
	/* Loaded at start, audited with their hashes. */
	ck_assert_int_eq(audit_rows("policy.load", "ok"), 2);
	auth("web", g.key);
	ck_assert_uint_eq(msg.pam_code, 0);

	/* A broken edit: refused, the previous policy stays in force. */
	snprintf(path, sizeof(path), "%s/policies/web.xml", g.dir);
	write_file(path, "w", "<policy xmlns='broken'>");
	reload_and_wait("refused");
	auth("web", g.key);
	ck_assert_uint_eq(msg.pam_code, 0);

	/* Policies are read at start and on SIGHUP, not per request: a new
	 * service waits for the reload. */
	write_policy("api", "prod");
	auth("api", g.key);
	ck_assert_uint_ne(msg.pam_code, 0);
	ck_assert_str_eq(msg.reason, "no-policy");
	reload_and_wait("ok");
	auth("api", g.key);
	ck_assert_uint_eq(msg.pam_code, 0);

	/* A good edit takes effect: web is now a dev service. */
	write_policy("web", "dev");
	reload_and_wait("ok");
	auth("web", g.key);
	ck_assert_uint_ne(msg.pam_code, 0);
	ck_assert_str_eq(msg.reason, "wrong-environment");

	/* A removed file: the service denies everything after the reload. */
	snprintf(path, sizeof(path), "%s/policies/api.xml", g.dir);
	ck_assert_int_eq(unlink(path), 0);
	reload_and_wait("removed");
	auth("api", g.key);
	ck_assert_uint_ne(msg.pam_code, 0);
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "verify", NULL }, NULL, 0), 0);
}
END_TEST

/* ---- auth_peer in the config file ---- */

static const struct {
	const char *lines;
	const char *want; /* substring of the error; NULL: loads */
} peer_rows[] = {
	{ "auth_peer = 1000 web\nauth_peer = 1001 web,ssh, nginx\n", NULL },
	{ "auth_peer = 1000 web\nauth_peer = 1000 ssh\n",
	  ":5: 'auth_peer' for uid 1000 is set twice" },
	{ "auth_peer = 1000 *\n", ":4: 'auth_peer' does not allow '*'" },
	{ "auth_peer = 1000 web,*\n", ":4: 'auth_peer' does not allow '*'" },
	{ "auth_peer = alice web\n", ":4: bad uid 'alice'" },
	{ "auth_peer = -1 web\n", ":4: bad uid" },
	{ "auth_peer = 4294967295 web\n", ":4: bad uid" },
	{ "auth_peer = 1000\n", ":4: 'auth_peer' needs a uid and services" },
	{ "auth_peer = 1000 Web\n", ":4: bad service 'Web'" },
	{ "auth_peer = 1000 web,,ssh\n", ":4: empty service" },
	{ "auth_peer = 1000 web,\n", ":4: empty service" },
};

START_TEST(test_config_auth_peer)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], text[512];
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	int r;

	tk_mkdtemp(dir, sizeof(dir), "latchkeyd-conf");
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	ck_assert_int_eq(lk_config_write_default(path, "/nonexistent", &err), LK_OK);
	ck_assert_int_eq(lk_config_load(path, &cfg, &err), LK_OK);
	ck_assert_uint_eq(cfg->n_auth_peers, 0); /* no peers by default */
	lk_config_free(cfg);
	cfg = NULL;
	unlink(path);

	snprintf(text, sizeof(text), "database = db\nmaster_key = mk\npolicy_dir = p\n%s",
	         peer_rows[_i].lines);
	write_file(path, "w", text);
	r = lk_config_load(path, &cfg, &err);
	if (peer_rows[_i].want == NULL) {
		ck_assert_msg(r == LK_OK, "%s", err.msg);
		ck_assert_uint_eq(cfg->n_auth_peers, 2);
		ck_assert_uint_eq(cfg->auth_peers[1].uid, 1001);
		ck_assert_uint_eq(cfg->auth_peers[1].n_services, 3);
		ck_assert_str_eq(cfg->auth_peers[1].services[2], "nginx");
	} else {
		ck_assert_int_eq(r, LK_EINVAL);
		ck_assert_msg(strstr(err.msg, peer_rows[_i].want) != NULL &&
		                  strstr(err.msg, path) != NULL,
		              "row %d: '%s' lacks '%s'", _i, err.msg, peer_rows[_i].want);
	}
	lk_config_free(cfg);
	tk_rmrf(dir);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("auth");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_auth_ok);
	tcase_add_test(tc, test_second_daemon_refused);
	tcase_add_test(tc, test_wrong_env);
	tcase_add_test(tc, test_prompt_answer);
	tcase_add_test(tc, test_garbage_frame);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_sigterm);
	tcase_add_test(tc, test_refuses_unsafe);
	tcase_add_test(tc, test_peer_not_allowed);
	suite_add_tcase(s, tc);

	tc = tcase_create("batch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_group_commit_concurrent);
	tcase_add_test(tc, test_killed_mid_load);
	tcase_add_test(tc, test_commit_failure_denies);
	tcase_add_test(tc, test_sighup_reload);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_loop_test(tc, test_config_auth_peer, 0,
	                    (int)(sizeof(peer_rows) / sizeof(peer_rows[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Every test's directory lives under one root, removed at the end;
	 * searchable by others (tests connect as nobody). */
	return fixture_run(daemon_suite(), "latchkeyd");
}
