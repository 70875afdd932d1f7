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
		fd = try_connect();
		if (fd < 0)
			_exit(11);
		lk_msg_wipe(&msg);
		msg.type = LK_MSG_HELLO;
		msg.min_version = msg.max_version = LK_PROTO_VERSION;
		if (send_msg(fd, &msg) != LK_OK || recv_msg(fd) != LK_OK ||
		    msg.type != LK_MSG_HELLO)
			_exit(12);
		lk_msg_wipe(&msg);
		msg.type = LK_MSG_AUTH;
		snprintf(msg.service, sizeof(msg.service), "%s", service);
		snprintf(msg.inputs[0].name, sizeof(msg.inputs[0].name), "apikey");
		msg.inputs[0].len = strlen(g.key);
		memcpy(msg.inputs[0].value, g.key, msg.inputs[0].len);
		msg.n_inputs = 1;
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

	tc = tcase_create("config");
	tcase_add_loop_test(tc, test_config_auth_peer, 0,
	                    (int)(sizeof(peer_rows) / sizeof(peer_rows[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX];
	int rc;

	/* Every test's directory lives under one root, removed here. Searchable
	 * by others: the peer test connects as nobody. */
	snprintf(root, sizeof(root), "%s/latchkeyd-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(root) == NULL || chmod(root, 0711) != 0) {
		perror(root);
		return EXIT_FAILURE;
	}
	setenv("TMPDIR", root, 1);
	signal(SIGPIPE, SIG_IGN);
	rc = tk_run_suite(daemon_suite());
	tk_rmrf(root);
	return rc;
}
