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
	int last_style;
	char last_prompt[128];
};

static int conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data)
{
	struct conv_state *cs = data;
	struct pam_response *resp = calloc((size_t)n, sizeof(*resp));

	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msgs[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msgs[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
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

START_TEST(test_exports)
{
	void *h = dlopen(getenv("LK_PAM_MODULE"), RTLD_NOW | RTLD_LOCAL);

	ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_authenticate"));
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_setcred"));
	ck_assert_ptr_nonnull(dlsym(h, "pam_sm_acct_mgmt"));
	ck_assert_ptr_null(dlsym(h, "lk_msg_encode"));
	ck_assert_ptr_null(dlsym(h, "lk_config_load"));
	ck_assert_ptr_null(dlsym(h, "lk_frame_read"));
	dlclose(h);
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
	suite_add_tcase(s, tc);

	tc = tcase_create("module");
	tcase_add_test(tc, test_exports);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX];
	int rc;

	snprintf(root, sizeof(root), "%s/pam-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(root) == NULL || chmod(root, 0711) != 0) {
		perror(root);
		return EXIT_FAILURE;
	}
	setenv("TMPDIR", root, 1);
	signal(SIGPIPE, SIG_IGN);
	rc = tk_run_suite(pam_suite());
	tk_rmrf(root);
	return rc;
}
