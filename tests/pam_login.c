/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pam-login: one login through a PAM stack, as a service does it, for the
 * demo and tests/pam-login.sh.
 *
 *   pam-login [--confdir DIR] [--rhost HOST] [--env NAME=VALUE]...
 *             [--env-file NAME=FILE]... [--session] SERVICE USER|-
 *
 * pam_start_confdir(SERVICE, USER, conv, DIR) (DIR unset: the system's
 * /etc/pam.d), PAM_RHOST, pam_putenv for each --env (LATCHKEY_SCOPE),
 * pam_authenticate, pam_acct_mgmt, and with --session pam_open_session and
 * pam_close_session (as sshd does around a session; the stack needs session
 * lines). --env-file puts FILE's content in NAME (a PEM chain for
 * LATCHKEY_CLIENT_CERT). USER "-" starts without a user (a module sets
 * one, or asks); the result line then names the PAM_USER it ended with.
 * The conversation answers each prompt
 * with one line of stdin, so a key never appears in argv; prompts and
 * messages go to stderr. Prints "SERVICE USER: <pam_strerror> (<code>)" and
 * exits 0 only on PAM_SUCCESS (1 otherwise, 2 for bad usage).
 *
 * pam_acct_mgmt needs an account line in the stack ("account required
 * pam_latchkey.so", or pam_permit.so).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <security/pam_appl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ENV    16
#define ANSWER_MAX 1024

/* Reads one line of stdin into buf (newline dropped), a byte at a time: no
 * stdio buffer keeps a copy of the answer, and what follows the line stays
 * for the next prompt. Returns 0, or -1 at EOF, on a read error or a line
 * longer than the buffer. */
static int read_answer(char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r == 0 && n == 0))
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= size)
			return -1;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

static void drop_responses(struct pam_response *resp, int n)
{
	for (int i = 0; i < n; i++) {
		if (resp[i].resp != NULL) {
			sodium_memzero(resp[i].resp, strlen(resp[i].resp));
			free(resp[i].resp);
		}
	}
	free(resp);
}

/* Prompts answered from stdin, one line each; the line buffer is wiped
 * after use and the copy handed to libpam is libpam's to wipe and free. */
static int conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data)
{
	struct pam_response *resp = calloc((size_t)n, sizeof(*resp));
	char line[ANSWER_MAX];
	int rc = PAM_CONV_ERR;

	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msgs[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			fprintf(stderr, "prompt: %s\n", msgs[i]->msg);
			if (read_answer(line, sizeof(line)) < 0) {
				fprintf(stderr,
				        "pam-login: no answer on stdin (EOF, an error or "
				        "a line over %d bytes)\n",
				        ANSWER_MAX - 1);
				goto out;
			}
			resp[i].resp = strdup(line);
			sodium_memzero(line, sizeof(line));
			if (resp[i].resp == NULL) {
				rc = PAM_BUF_ERR;
				goto out;
			}
			break;
		case PAM_TEXT_INFO:
			fprintf(stderr, "info: %s\n", msgs[i]->msg);
			break;
		case PAM_ERROR_MSG:
			fprintf(stderr, "error: %s\n", msgs[i]->msg);
			break;
		default:
			fprintf(stderr, "pam-login: unknown message style %d\n",
			        msgs[i]->msg_style);
			goto out;
		}
	}
	*ret = resp;
	resp = NULL;
	rc = PAM_SUCCESS;
out:
	sodium_memzero(line, sizeof(line));
	if (resp != NULL)
		drop_responses(resp, n);
	return rc;
}

struct options {
	const char *confdir;
	const char *rhost;
	const char *env[MAX_ENV];
	int n_env;
	const char *service;
	const char *user;
	char user_after[257]; /* PAM_USER after authentication, when USER was "-" */
	bool session;
};

static void usage(void)
{
	fprintf(stderr, "usage: pam-login [--confdir DIR] [--rhost HOST] [--env NAME=VALUE]... "
	                "[--env-file NAME=FILE]... [--session] SERVICE USER|-\n");
	exit(2);
}

/* "NAME=FILE" as "NAME=<FILE's content>" (a trailing newline kept, as a
 * PEM file has it). Exits 2 on a bad argument or an unreadable file. */
static const char *env_from_file(const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *out;
	size_t n;
	long size;
	FILE *f;

	if (eq == NULL || eq == arg || (f = fopen(eq + 1, "re")) == NULL) {
		fprintf(stderr, "pam-login: bad --env-file '%s' (NAME=FILE, readable)\n", arg);
		exit(2);
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (out = malloc((size_t)(eq - arg) + 1 + (size_t)size + 1)) == NULL) {
		fprintf(stderr, "pam-login: cannot read %s\n", eq + 1);
		exit(2);
	}
	memcpy(out, arg, (size_t)(eq - arg) + 1);
	n = fread(out + (eq - arg) + 1, 1, (size_t)size, f);
	out[(size_t)(eq - arg) + 1 + n] = '\0';
	fclose(f);
	return out; /* lives as long as the process */
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "confdir", required_argument, NULL, 'c' },
		{ "rhost", required_argument, NULL, 'r' },
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, 'f' },
		{ "session", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'c')
			o->confdir = optarg;
		else if (opt == 'r')
			o->rhost = optarg;
		else if (opt == 's')
			o->session = true;
		else if (opt == 'e') {
			/* NAME=VALUE with a name: pam_putenv would take "NAME" as
			 * "delete NAME", which is not what --env means. */
			if (optarg[0] == '=' || strchr(optarg, '=') == NULL) {
				fprintf(stderr, "pam-login: bad --env '%s' (NAME=VALUE)\n", optarg);
				exit(2);
			}
			if (o->n_env == MAX_ENV) {
				fprintf(stderr, "pam-login: more than %d --env\n", MAX_ENV);
				exit(2);
			}
			o->env[o->n_env++] = optarg;
		} else if (opt == 'f') {
			if (o->n_env == MAX_ENV) {
				fprintf(stderr, "pam-login: more than %d --env\n", MAX_ENV);
				exit(2);
			}
			o->env[o->n_env++] = env_from_file(optarg);
		} else
			usage();
	}
	if (argc - optind != 2)
		usage();
	o->service = argv[optind];
	o->user = strcmp(argv[optind + 1], "-") == 0 ? NULL : argv[optind + 1];
}

/* Start, items, environment, authenticate, account: the first failure is
 * the result. */
static int login(struct options *o)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	int r;

	r = pam_start_confdir(o->service, o->user, &pc, o->confdir, &pamh);
	if (r != PAM_SUCCESS)
		return r;
	if (o->rhost != NULL)
		r = pam_set_item(pamh, PAM_RHOST, o->rhost);
	for (int i = 0; i < o->n_env && r == PAM_SUCCESS; i++)
		r = pam_putenv(pamh, o->env[i]);
	if (r == PAM_SUCCESS)
		r = pam_authenticate(pamh, 0);
	if (r == PAM_SUCCESS && o->user == NULL) {
		const void *user = NULL;
		if (pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user != NULL)
			snprintf(o->user_after, sizeof(o->user_after), "%s", (const char *)user);
	}
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(pamh, 0);
	if (r == PAM_SUCCESS && o->session)
		r = pam_open_session(pamh, 0);
	if (r == PAM_SUCCESS && o->session)
		r = pam_close_session(pamh, 0);
	pam_end(pamh, r);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int r;

	parse_options(argc, argv, &o);
	if (sodium_init() < 0) {
		fprintf(stderr, "pam-login: cannot initialise libsodium\n");
		return 1;
	}
	r = login(&o);
	/* pam_strerror ignores its handle, which is gone by now. */
	if (o.user == NULL)
		printf("%s - (PAM_USER %s): %s (%d)\n", o.service,
		       o.user_after[0] ? o.user_after : "unset", pam_strerror(NULL, r), r);
	else
		printf("%s %s: %s (%d)\n", o.service, o.user, pam_strerror(NULL, r), r);
	return r == PAM_SUCCESS ? 0 : 1;
}
