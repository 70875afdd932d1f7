/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pam_latchkey.so on a real libpam stack: pam_start_confdir with a
 * generated service file in a temp dir, the built latchkeyd spawned on a
 * state dir made by the built CLI (as in check_daemon.c), the key handed
 * over through the PAM conversation.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <security/pam_appl.h>
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

#include "apikey-private.h"
#include "daemon-fixture.h"
#include "testutil.h"

extern char **environ;

/* Writes confdir/SERVICE: "auth CONTROL pam_latchkey.so socket=SOCK",
 * then EXTRA lines. */
static void pam_service(const char *service, const char *control, const char *extra)
{
	char path[PATH_MAX * 2], text[PATH_MAX * 3];

	snprintf(path, sizeof(path), "%s/%s", g.confdir, service);
	snprintf(text, sizeof(text), "auth %s %s socket=%s\n%saccount required pam_permit.so\n",
	         control, getenv("LK_PAM_MODULE"), g.sock, extra);
	write_file(path, "w", text);
}

static void setup(void)
{
	fixture_setup("pam");
	(void)bin("LK_PAM_MODULE");
	pam_service("web", "required", "");
}

static void teardown(void)
{
	fixture_teardown();
}

/* ---- The PAM side ---- */

struct conv_state {
	const char *answer; /* NULL: the conversation fails */
	int n_prompts;
	int n_info; /* PAM_TEXT_INFO messages */
	int last_style;
	char last_prompt[128];
	/* When seq[0] is set: the answers in turn instead (NULL ends them),
	 * and what each prompt said. */
	const char *seq[4];
	char prompts[4][64];
};

static int conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data)
{
	struct conv_state *cs = data;
	struct pam_response *resp = calloc((size_t)n, sizeof(*resp));

	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msgs[i]->msg_style == PAM_TEXT_INFO)
			cs->n_info++;
		if (msgs[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msgs[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (cs->seq[0] != NULL)
			cs->answer = cs->n_prompts < 4 ? cs->seq[cs->n_prompts] : NULL;
		if (cs->n_prompts < 4)
			snprintf(cs->prompts[cs->n_prompts], sizeof(cs->prompts[0]), "%s",
			         msgs[i]->msg);
		cs->n_prompts++;
		cs->last_style = msgs[i]->msg_style;
		snprintf(cs->last_prompt, sizeof(cs->last_prompt), "%s", msgs[i]->msg);
		if (cs->answer == NULL) {
			free(resp);
			return PAM_CONV_ERR;
		}
		resp[i].resp = strdup(cs->answer);
	}
	*ret = resp;
	return PAM_SUCCESS;
}

/* One pam_start_confdir / pam_authenticate / pam_end; the conversation
 * answers every prompt with answer. */
static int login(const char *service, const char *user, const char *answer, struct conv_state *cs)
{
	struct conv_state local;
	pam_handle_t *pamh = NULL;
	int r;

	if (cs == NULL)
		cs = &local;
	memset(cs, 0, sizeof(*cs));
	cs->answer = answer;
	struct pam_conv pc = { conv, cs };
	ck_assert_int_eq(pam_start_confdir(service, user, &pc, g.confdir, &pamh), PAM_SUCCESS);
	ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, "192.0.2.7"), PAM_SUCCESS);
	r = pam_authenticate(pamh, PAM_SILENT);
	pam_end(pamh, r);
	return r;
}

START_TEST(test_valid_key)
{
	struct conv_state cs;

	allow_me();
	start_daemon();
	ck_assert_int_eq(login("web", "alice", g.key, &cs), PAM_SUCCESS);
	/* No authtok yet: the module asks for it, echo off. */
	ck_assert_int_eq(cs.n_prompts, 1);
	ck_assert_str_eq(cs.last_prompt, "API key: ");
	ck_assert_int_eq(cs.last_style, PAM_PROMPT_ECHO_OFF);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(test_wrong_key)
{
	char bad[LK_KEY_MAX_LEN + 1];

	allow_me();
	start_daemon();
	snprintf(bad, sizeof(bad), "%s", g.key);
	bad[strlen(bad) - 10] = bad[strlen(bad) - 10] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(login("web", "alice", bad, NULL), PAM_AUTH_ERR);
	ck_assert_int_eq(login("web", "alice", "lk_prod_notakey", NULL), PAM_AUTH_ERR);
	ck_assert_int_eq(login("web", "alice", "", NULL), PAM_AUTH_ERR);
	/* The conversation fails: not success. */
	ck_assert_int_ne(login("web", "alice", NULL, NULL), PAM_SUCCESS);
}
END_TEST

START_TEST(test_revoked_next_attempt)
{
	char kid[16];

	allow_me();
	start_daemon();
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
	/* lk_prod_<kid>_... */
	snprintf(kid, sizeof(kid), "%.12s", g.key + strlen("lk_prod_"));
	ck_assert_int_eq(cli((const char *const[]){ "-c", g.conf, "key", "revoke", kid, "--reason",
	                                            "pam test", NULL },
	                     NULL, 0),
	                 0);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_AUTH_ERR);
}
END_TEST

START_TEST(test_other_user)
{
	allow_me();
	start_daemon();
	ck_assert_int_ne(login("web", "bob", g.key, NULL), PAM_SUCCESS);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
}
END_TEST

START_TEST(test_daemon_stopped)
{
	allow_me();
	start_daemon();
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_AUTHINFO_UNAVAIL);
}
END_TEST

/* A socket file whose owner is not the uid the daemon runs as: refused
 * before anything is sent (root only: needs chown). */
START_TEST(test_socket_owner_mismatch)
{
	allow_me();
	start_daemon();
	if (getuid() != 0)
		return;
	ck_assert_int_eq(lchown(g.sock, 65534, 65534), 0);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_AUTHINFO_UNAVAIL);
	ck_assert_int_eq(lchown(g.sock, 0, 0), 0);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct conv_state cs;
	char path[PATH_MAX * 2], text[PATH_MAX * 3];

	allow_me();
	start_daemon();
	snprintf(path, sizeof(path), "%s/web", g.confdir);
	snprintf(text, sizeof(text), "auth required %s socket=%s bogus\n", getenv("LK_PAM_MODULE"),
	         g.sock);
	write_file(path, "w", text);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SERVICE_ERR);
	snprintf(text, sizeof(text), "auth required %s socket=%s timeout=0\n",
	         getenv("LK_PAM_MODULE"), g.sock);
	write_file(path, "w", text);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SERVICE_ERR);
	/* use_first_pass with no earlier authtok: no prompt, no success. */
	snprintf(text, sizeof(text), "auth required %s socket=%s use_first_pass\n",
	         getenv("LK_PAM_MODULE"), g.sock);
	write_file(path, "w", text);
	ck_assert_int_ne(login("web", "alice", g.key, &cs), PAM_SUCCESS);
	ck_assert_int_eq(cs.n_prompts, 0);
	/* config= reads auth_socket from the state dir's config. */
	snprintf(text, sizeof(text), "auth required %s config=%s timeout=5 debug\n",
	         getenv("LK_PAM_MODULE"), g.conf);
	write_file(path, "w", text);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
}
END_TEST

START_TEST(test_sufficient_then_deny)
{
	allow_me();
	start_daemon();
	pam_service("web", "sufficient", "auth required pam_deny.so\n");
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
	ck_assert_int_ne(login("web", "alice", "lk_prod_notakey", NULL), PAM_SUCCESS);
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_ne(login("web", "alice", g.key, NULL), PAM_SUCCESS);
}
END_TEST

/* ---- Account management, sessions, single-prompt mode ---- */

static void write_service(const char *service, const char *text)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", g.confdir, service);
	write_file(path, "w", text);
}

/* "auth required MODULE socket=SOCK ARGS" plus account and session lines
 * for the module (with the same ARGS). */
static void full_service(const char *service, const char *args)
{
	char text[PATH_MAX * 4];
	const char *mod = getenv("LK_PAM_MODULE");

	snprintf(text, sizeof(text),
	         "auth required %s socket=%s %s\naccount required %s socket=%s %s\n"
	         "session required %s socket=%s\n",
	         mod, g.sock, args, mod, g.sock, args, mod, g.sock);
	write_service(service, text);
}

/* pam_authenticate, then between() (may be NULL), then pam_acct_mgmt;
 * returns the account code, the authentication's in *auth_rc. */
static int login_account(const char *service, const char *key, void (*between)(void), int *auth_rc,
                         struct conv_state *cs)
{
	pam_handle_t *pamh = NULL;
	int r;

	memset(cs, 0, sizeof(*cs));
	cs->answer = key;
	struct pam_conv pc = { conv, cs };
	ck_assert_int_eq(pam_start_confdir(service, "alice", &pc, g.confdir, &pamh), PAM_SUCCESS);
	*auth_rc = pam_authenticate(pamh, PAM_SILENT);
	if (between != NULL)
		between();
	r = pam_acct_mgmt(pamh, 0);
	pam_end(pamh, r);
	return r;
}

static char kid[16];

static void key_cmd(const char *verb)
{
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "key", verb, kid, "--reason", "pam", NULL },
	        NULL, 0),
	    0);
}

static void suspend_key(void)
{
	key_cmd("suspend");
}

static void revoke_key(void)
{
	key_cmd("revoke");
}

static time_t expires_at;

/* Not a timing assertion: waits until the key is past its expiry. */
static void wait_until_expired(void)
{
	while (time(NULL) <= expires_at)
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
}

static void stop_it(void)
{
	ck_assert_int_eq(stop_daemon(), 0);
}

/* True if the audit log has a row of this action. */
static bool audited(const char *action)
{
	char line[512] = "";

	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "log", "--type", action, NULL }, line,
	        sizeof(line)),
	    0);
	return strstr(line, action) != NULL;
}

/* Non-root runs speak for the services these tests use. */
static void allow_services(void)
{
	char line[128];

	if (getuid() == 0)
		return;
	snprintf(line, sizeof(line), "auth_peer = %u web,strict,other,mfa\n", (unsigned)getuid());
	add_config(line);
}

START_TEST(test_acct_mgmt)
{
	struct conv_state cs;
	int auth_rc;

	allow_services();
	full_service("web", "");
	start_daemon();
	snprintf(kid, sizeof(kid), "%.12s", g.key + strlen("lk_prod_"));
	ck_assert_int_eq(login_account("web", g.key, NULL, &auth_rc, &cs), PAM_SUCCESS);
	ck_assert_int_eq(auth_rc, PAM_SUCCESS);
	/* Suspended between authentication and account management: refused
	 * now, not at the next login. */
	ck_assert_int_eq(login_account("web", g.key, suspend_key, &auth_rc, &cs), PAM_PERM_DENIED);
	ck_assert_int_eq(auth_rc, PAM_SUCCESS);
	ck_assert(audited("account.check"));
	key_cmd("resume");
	ck_assert_int_eq(login_account("web", g.key, revoke_key, &auth_rc, &cs), PAM_PERM_DENIED);
	ck_assert_int_eq(auth_rc, PAM_SUCCESS);
	/* A failed authentication leaves nothing for account management to
	 * vouch for. */
	ck_assert_int_ne(login_account("web", g.key, NULL, &auth_rc, &cs), PAM_SUCCESS);
	ck_assert_int_eq(auth_rc, PAM_AUTH_ERR);
}
END_TEST

START_TEST(test_acct_rotated_and_expired)
{
	char key2[LK_KEY_MAX_LEN + 1];
	struct conv_state cs;
	time_t t0;
	int auth_rc;

	allow_services();
	full_service("web", "");
	full_service("strict", "rotated=newauthtok");
	write_policy("strict", "prod");
	start_daemon();
	snprintf(kid, sizeof(kid), "%.12s", g.key + strlen("lk_prod_"));
	ck_assert_int_eq(cli((const char *const[]){ "-c", g.conf, "key", "rotate", kid, NULL },
	                     key2, sizeof(key2)),
	                 0);
	/* The old key in its grace period: in, with a warning; or, where so
	 * configured, told to change it. */
	ck_assert_int_eq(login_account("web", g.key, NULL, &auth_rc, &cs), PAM_SUCCESS);
	ck_assert_int_eq(auth_rc, PAM_SUCCESS);
	ck_assert_int_eq(cs.n_info, 1);
	ck_assert_int_eq(login_account("strict", g.key, NULL, &auth_rc, &cs), PAM_NEW_AUTHTOK_REQD);
	ck_assert_int_eq(login_account("strict", key2, NULL, &auth_rc, &cs), PAM_SUCCESS);

	/* A key that expires between the two calls. */
	t0 = time(NULL);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "key", "issue", "--owner", "alice", "--env",
	                               "prod", "--scope", "web:read", "--expires", "2s", NULL },
	        key2, sizeof(key2)),
	    0);
	expires_at = t0 + 2;
	ck_assert_int_eq(login_account("web", key2, wait_until_expired, &auth_rc, &cs),
	                 PAM_ACCT_EXPIRED);
	ck_assert_int_eq(auth_rc, PAM_SUCCESS);
	ck_assert_int_ne(login_account("web", key2, NULL, &auth_rc, &cs), PAM_SUCCESS);
	ck_assert_int_eq(auth_rc, PAM_AUTH_ERR);
}
END_TEST

START_TEST(test_acct_not_ours_and_daemon_gone)
{
	struct conv_state cs;
	char text[PATH_MAX * 2];
	int auth_rc;

	allow_services();
	/* Authenticated by another module: account management ignores it. */
	snprintf(text, sizeof(text),
	         "auth required pam_permit.so\naccount required %s socket=%s\n"
	         "account required pam_permit.so\n",
	         getenv("LK_PAM_MODULE"), g.sock);
	write_service("other", text);
	start_daemon();
	ck_assert_int_eq(login_account("other", "x", NULL, &auth_rc, &cs), PAM_SUCCESS);
	/* The daemon gone between the two calls: never success. */
	full_service("web", "");
	ck_assert_int_eq(login_account("web", g.key, stop_it, &auth_rc, &cs), PAM_AUTHINFO_UNAVAIL);
	ck_assert_int_eq(auth_rc, PAM_SUCCESS);
}
END_TEST

/* The newest row of action: its detail is "service=web rhost=REF" with REF
 * the pseudonym of the source subject named name ("-" for none). */
static void assert_session_rhost(const char *action, const char *name)
{
	char detail[200], want[200], ref[64] = "-";

	if (strcmp(name, "-") != 0)
		db_text("SELECT subject_ref FROM subject WHERE kind = 'source' AND name = ?1", name,
		        ref, sizeof(ref));
	ck_assert_msg(strncmp(ref, "sub_", 4) == 0 || strcmp(ref, "-") == 0,
	              "no source subject '%s'", name);
	db_text("SELECT detail FROM audit WHERE action = ?1 ORDER BY seq DESC LIMIT 1", action,
	        detail, sizeof(detail));
	snprintf(want, sizeof(want), "service=web rhost=%s", ref);
	ck_assert_str_eq(detail, want);
}

START_TEST(test_sessions)
{
	struct conv_state cs = { .answer = g.key };
	pam_handle_t *pamh = NULL;
	struct pam_conv pc = { conv, &cs };

	allow_services();
	full_service("web", "");
	start_daemon();
	ck_assert_int_eq(pam_start_confdir("web", "alice", &pc, g.confdir, &pamh), PAM_SUCCESS);
	ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_SUCCESS);
	ck_assert_int_eq(pam_open_session(pamh, 0), PAM_SUCCESS);
	ck_assert_int_eq(pam_close_session(pamh, 0), PAM_SUCCESS);
	ck_assert(audited("session.open"));
	ck_assert(audited("session.close"));
	assert_session_rhost("session.open", "-");
	/* The remote host only by its source pseudonym: an IP address as key
	 * verification normalises it, a host name as given. */
	ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, "2001:DB8:0::0:7"), PAM_SUCCESS);
	ck_assert_int_eq(pam_open_session(pamh, 0), PAM_SUCCESS);
	ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, "client.example"), PAM_SUCCESS);
	ck_assert_int_eq(pam_close_session(pamh, 0), PAM_SUCCESS);
	assert_session_rhost("session.open", "2001:db8::7");
	assert_session_rhost("session.close", "client.example");
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE detail LIKE '%2001:%' OR "
	                         "detail LIKE '%client.example%'",
	                         NULL),
	                 0);
	/* A key a service passed as the host is no name: not even the subject
	 * table gets it. */
	ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, g.key), PAM_SUCCESS);
	ck_assert_int_eq(pam_open_session(pamh, 0), PAM_SUCCESS);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'session.open' AND "
	                         "detail = 'service=web rhost=invalid'",
	                         NULL),
	                 1);
	ck_assert_int_eq(db_long("SELECT count(*) FROM subject WHERE name = ?1", g.key), 0);
	/* An unrecorded session is not opened. */
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(pam_open_session(pamh, 0), PAM_SESSION_ERR);
	pam_end(pamh, PAM_SUCCESS);
}
END_TEST

/* A plugin dir with apikey and lktest_ok, and a policy "mfa": the key,
 * then an "otp" input that must be 123456. */
static void mfa_policy(void)
{
	char path[PATH_MAX * 2];

	plugin_dir_with("LK_TEST_PLUGIN_DIR", "lktest_ok.so");
	snprintf(path, sizeof(path), "%s/policies/mfa.xml", g.dir);
	write_file(path, "w",
	           "<policy xmlns=\"urn:latchkey:policy:1\" service=\"mfa\" environment=\"prod\">"
	           "<stack><step plugin=\"apikey\" control=\"required\"/>"
	           "<step plugin=\"lktest_ok\" control=\"required\"><arg>need=otp</arg>"
	           "<arg>expect=123456</arg></step></stack>"
	           "<scopes><scope>web:read</scope></scopes></policy>\n");
	ck_assert_int_eq(chmod(path, 0644), 0);
}

/* nginx auth_pam answers every prompt with the one password it has: the
 * key and the code in one answer, split by the module. */
START_TEST(test_single_prompt)
{
	char answer[LK_KEY_MAX_LEN + 16], text[PATH_MAX * 2];
	struct conv_state cs;

	allow_services();
	mfa_policy();
	snprintf(text, sizeof(text), "auth required %s socket=%s single_prompt\n",
	         getenv("LK_PAM_MODULE"), g.sock);
	write_service("mfa", text);
	start_daemon();
	snprintf(answer, sizeof(answer), "%s 123456", g.key);
	ck_assert_int_eq(login("mfa", "alice", answer, &cs), PAM_SUCCESS);
	ck_assert_int_eq(cs.n_prompts, 1);
	snprintf(answer, sizeof(answer), "%s 654321", g.key);
	ck_assert_int_eq(login("mfa", "alice", answer, &cs), PAM_AUTH_ERR);
	/* No code at all: the module cannot ask, so no. */
	ck_assert_int_eq(login("mfa", "alice", g.key, &cs), PAM_AUTH_ERR);
	ck_assert_int_eq(cs.n_prompts, 1);
	/* A wrong key with the right code. */
	ck_assert_int_eq(login("mfa", "alice", "lk_prod_notakey 123456", &cs), PAM_AUTH_ERR);

	/* Without single_prompt the module asks twice; a client that sends
	 * the same answer both times fails, which is why the mode exists. */
	snprintf(text, sizeof(text), "auth required %s socket=%s\n", getenv("LK_PAM_MODULE"),
	         g.sock);
	write_service("mfa", text);
	snprintf(answer, sizeof(answer), "%s 123456", g.key);
	/* The whole answer is no key; the stack still asks for the code (a
	 * required step runs on, as in Linux-PAM, revealing nothing). */
	ck_assert_int_eq(login("mfa", "alice", answer, &cs), PAM_AUTH_ERR);
	ck_assert_int_eq(cs.n_prompts, 2);
	ck_assert_int_eq(login("mfa", "alice", g.key, &cs), PAM_AUTH_ERR);
	ck_assert_int_eq(cs.n_prompts, 2);
	ck_assert_str_eq(cs.last_prompt, "lktest otp: ");
}
END_TEST
/* ---- A daemon that misbehaves: the module must never say success ---- */

enum fake_mode {
	FAKE_CLOSE,
	FAKE_GARBAGE,
	FAKE_OVERSIZED,
	FAKE_HANG,
	FAKE_RESULT_FIRST,
	FAKE_CUT_RESULT
};

/* Listens on g.sock (no latchkeyd there) and treats one connection as
 * mode says; returns the child's pid. */
static pid_t fake_daemon(enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	ck_assert_int_ge(lfd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.sock);
	unlink(g.sock);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* A RESULT saying success, as a real daemon would encode it. */
		static const unsigned char result_ok[] = { 0, 0, 0, 28, 1,  5, 0, 10,  0,   4, 0,
			                                   0, 0, 0, 0,  11, 0, 2, 'o', 'k', 0, 13,
			                                   0, 8, 0, 0,  0,  0, 0, 0,   0,   1 };
		static const unsigned char hello[] = { 0, 0, 0, 7, 1, 1, 0, 3, 0, 1, 1 };
		unsigned char buf[256];
		int fd = accept(lfd, NULL, NULL);
		ssize_t w = 0;

		if (fd < 0)
			_exit(1);
		switch (mode) {
		case FAKE_CLOSE:
			break;
		case FAKE_GARBAGE:
			(void)read(fd, buf, sizeof(buf));
			w = write(fd, "\0\0\0\6garbag", 10);
			break;
		case FAKE_OVERSIZED:
			(void)read(fd, buf, sizeof(buf));
			w = write(fd, "\x7f\xff\xff\xff", 4);
			break;
		case FAKE_HANG:
			(void)read(fd, buf, sizeof(buf));
			sleep(30); /* the module's timeout=1 ends it first */
			break;
		case FAKE_RESULT_FIRST:
			(void)read(fd, buf, sizeof(buf));
			w = write(fd, result_ok, sizeof(result_ok));
			break;
		case FAKE_CUT_RESULT:
			(void)read(fd, buf, sizeof(buf));
			w = write(fd, hello, sizeof(hello));
			w = write(fd, result_ok, sizeof(result_ok) - 5);
			break;
		}
		(void)w;
		close(fd);
		_exit(0);
	}
	close(lfd);
	return pid;
}

START_TEST(test_misbehaving_daemon)
{
	char text[PATH_MAX * 2];
	pid_t pid;

	snprintf(text, sizeof(text), "auth required %s socket=%s timeout=1\n",
	         getenv("LK_PAM_MODULE"), g.sock);
	write_service("web", text);
	pid = fake_daemon((enum fake_mode)_i);
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_AUTHINFO_UNAVAIL);
	kill(pid, SIGKILL);
	wait_status(pid);
	unlink(g.sock);
}
END_TEST

/* What a policy and a key say, through the whole stack. */
START_TEST(test_key_states_via_pam)
{
	char other[LK_KEY_MAX_LEN + 1], text[PATH_MAX * 2];
	struct conv_state cs = { 0 };
	pam_handle_t *pamh = NULL;
	struct pam_conv pc = { conv, &cs };

	allow_me();
	snprintf(text, sizeof(text), "auth required %s socket=%s\n", getenv("LK_PAM_MODULE"),
	         g.sock);
	write_service("devweb", text);
	start_daemon();
	/* A prod key at a dev service. */
	ck_assert_int_eq(login("devweb", "alice", g.key, NULL), PAM_AUTH_ERR);
	/* A well-formed key (its CRC right) that nobody issued. */
	{
		struct lk_apikey k;
		ck_assert_int_eq(lk_apikey_generate("prod", &k), LK_OK);
		ck_assert_int_eq(lk_apikey_format(&k, other, sizeof(other)), LK_OK);
		lk_apikey_wipe(&k);
	}
	ck_assert_int_eq(login("web", "alice", other, NULL), PAM_AUTH_ERR);
	/* A scope the key does not hold, asked for through LATCHKEY_SCOPE. */
	cs.answer = g.key;
	ck_assert_int_eq(pam_start_confdir("web", "alice", &pc, g.confdir, &pamh), PAM_SUCCESS);
	ck_assert_int_eq(pam_putenv(pamh, "LATCHKEY_SCOPE=web:read web:admin"), PAM_SUCCESS);
	ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
	ck_assert_int_eq(pam_putenv(pamh, "LATCHKEY_SCOPE=web:read"), PAM_SUCCESS);
	ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_SUCCESS);
	ck_assert_int_eq(pam_putenv(pamh, "LATCHKEY_SCOPE=bad scope!"), PAM_SUCCESS);
	ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
	pam_end(pamh, PAM_SUCCESS);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(test_exports)
{
	void *h = dlopen(getenv("LK_PAM_MODULE"), RTLD_NOW | RTLD_LOCAL);

	ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_authenticate"));
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_setcred"));
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_acct_mgmt"));
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_open_session"));
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_close_session"));
	ck_assert_ptr_null(dlsym(h, "lk_msg_encode"));
	ck_assert_ptr_null(dlsym(h, "lk_config_load"));
	ck_assert_ptr_null(dlsym(h, "lk_frame_read"));
	dlclose(h);
}
END_TEST

/* ---- TOTP through the real stack ---- */

/* pam_authenticate on service for alice from 192.0.2.7, the key then the
 * code answered in turn. */
static int login_seq(const char *service, const char *key, const char *code, struct conv_state *cs)
{
	pam_handle_t *pamh = NULL;
	struct pam_conv pc = { conv, cs };
	int r;

	memset(cs, 0, sizeof(*cs));
	cs->seq[0] = key;
	cs->seq[1] = code;
	ck_assert_int_eq(pam_start_confdir(service, "alice", &pc, g.confdir, &pamh), PAM_SUCCESS);
	ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, "192.0.2.7"), PAM_SUCCESS);
	r = pam_authenticate(pamh, 0);
	pam_end(pamh, r);
	return r;
}

/* Plugin dir with apikey and totp; policy "mfa": a key, then a code, at
 * most 3 failures per credential; alice enrolled (codes from u). */
static void totp_setup(struct tk_totp *u)
{
	char path[PATH_MAX * 2], db[PATH_MAX * 2];
	struct lk_master *master = NULL;
	struct lk_store *store = NULL;
	struct lk_err err = { { 0 } };

	allow_services();
	plugin_dir_with("LK_TOTP_PLUGIN_DIR", "totp.so");
	snprintf(path, sizeof(path), "%s/policies/mfa.xml", g.dir);
	write_file(path, "w",
	           "<policy xmlns=\"urn:latchkey:policy:1\" service=\"mfa\" environment=\"prod\">"
	           "<stack><step plugin=\"apikey\" control=\"required\"/>"
	           "<step plugin=\"totp\" control=\"required\"/></stack>"
	           "<scopes><scope>web:read</scope></scopes>"
	           "<lockout credential-failures=\"3\" source-failures=\"20\"/></policy>\n");
	ck_assert_int_eq(chmod(path, 0644), 0);
	pam_service("mfa", "required", "");
	/* Enrolled through the core before the daemon starts, confirmed with
	 * the code of two steps ago so the current one is fresh. */
	snprintf(db, sizeof(db), "%s/latchkey.db", g.dir);
	ck_assert_msg(lk_master_load(g.master, &master, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_store_open(db, 0, master, &store, &err) == LK_OK, "%s", err.msg);
	tk_totp_enroll(store, "alice", (int64_t)time(NULL) - 60, u);
	lk_store_close(store);
	lk_master_free(master);
}

START_TEST(test_totp_key_then_code)
{
	struct tk_totp u;
	struct conv_state cs;
	char code[16];

	totp_setup(&u);
	start_daemon();
	tk_totp_code(&u, (int64_t)time(NULL), code);
	ck_assert_int_eq(login_seq("mfa", g.key, code, &cs), PAM_SUCCESS);
	/* Two prompts through the conversation, the code's without echo. */
	ck_assert_int_eq(cs.n_prompts, 2);
	ck_assert_str_eq(cs.prompts[0], "API key: ");
	ck_assert_str_eq(cs.prompts[1], "Verification code: ");
	ck_assert_int_eq(cs.last_style, PAM_PROMPT_ECHO_OFF);
	/* The same code again: replayed, refused. */
	ck_assert_int_eq(login_seq("mfa", g.key, code, &cs), PAM_AUTH_ERR);
	ck_assert_int_eq(cs.n_prompts, 2);
	/* No code at all (the client gives up at the second prompt). */
	ck_assert_int_ne(login_seq("mfa", g.key, NULL, &cs), PAM_SUCCESS);
	ck_assert(audited("auth.decision"));
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Key and code in one answer (nginx, Apache): single_prompt. */
START_TEST(test_totp_single_prompt)
{
	char answer[LK_KEY_MAX_LEN + 16], code[16], text[PATH_MAX * 2];
	struct tk_totp u;
	struct conv_state cs;

	totp_setup(&u);
	snprintf(text, sizeof(text), "auth required %s socket=%s single_prompt\n",
	         getenv("LK_PAM_MODULE"), g.sock);
	write_service("mfa", text);
	start_daemon();
	tk_totp_code(&u, (int64_t)time(NULL), code);
	snprintf(answer, sizeof(answer), "%s %s", g.key, code);
	ck_assert_int_eq(login("mfa", "alice", answer, &cs), PAM_SUCCESS);
	ck_assert_int_eq(cs.n_prompts, 1);
	ck_assert_int_eq(login("mfa", "alice", answer, &cs), PAM_AUTH_ERR);
	sodium_memzero(answer, sizeof(answer));
}
END_TEST

/* Bad codes: PAM_MAXTRIES at the third, and then even for the right code. */
START_TEST(test_totp_maxtries)
{
	struct tk_totp u;
	struct conv_state cs;
	char code[16], bad[16];

	totp_setup(&u);
	start_daemon();
	tk_totp_code(&u, (int64_t)time(NULL), code);
	snprintf(bad, sizeof(bad), "%06d", (atoi(code) + 500000) % 1000000);
	ck_assert_int_eq(login_seq("mfa", g.key, bad, &cs), PAM_AUTH_ERR);
	ck_assert_int_eq(login_seq("mfa", g.key, bad, &cs), PAM_AUTH_ERR);
	ck_assert_int_eq(login_seq("mfa", g.key, bad, &cs), PAM_MAXTRIES);
	ck_assert_int_eq(login_seq("mfa", g.key, code, &cs), PAM_MAXTRIES);
	ck_assert(audited("auth.lockout"));
	/* The key itself was right every time: it still works elsewhere. */
	ck_assert_int_eq(login("web", "alice", g.key, NULL), PAM_SUCCESS);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

static Suite *pam_suite(void)
{
	Suite *s = suite_create("pam");
	TCase *tc = tcase_create("stack");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid_key);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_revoked_next_attempt);
	tcase_add_test(tc, test_other_user);
	tcase_add_test(tc, test_daemon_stopped);
	tcase_add_test(tc, test_socket_owner_mismatch);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_sufficient_then_deny);
	tcase_add_test(tc, test_acct_mgmt);
	tcase_add_test(tc, test_acct_rotated_and_expired);
	tcase_add_test(tc, test_acct_not_ours_and_daemon_gone);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_single_prompt);
	tcase_add_test(tc, test_key_states_via_pam);
	tcase_add_loop_test(tc, test_misbehaving_daemon, FAKE_CLOSE, FAKE_CUT_RESULT + 1);
	tcase_add_test(tc, test_totp_key_then_code);
	tcase_add_test(tc, test_totp_single_prompt);
	tcase_add_test(tc, test_totp_maxtries);
	suite_add_tcase(s, tc);

	tc = tcase_create("module");
	tcase_add_test(tc, test_exports);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Every test's directory lives under one root, removed at the end;
	 * searchable by others (tests connect as nobody). */
	return fixture_run(pam_suite(), "pam");
}
