/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pam_latchkey.so: the PAM module, a thin client of latchkeyd (DESIGN.md,
 * "Why a daemon", "Daemon protocol"). It holds no master key and opens no
 * database: it sends the PAM items and the API key over the auth socket,
 * relays the daemon's prompts through the PAM conversation and maps the
 * daemon's RESULT to a PAM code.
 *
 * Module arguments:
 *   config=FILE    read auth_socket from FILE (default /etc/latchkey/latchkey.conf)
 *   socket=PATH    talk to this socket instead (config= is then not read)
 *   timeout=SECS   per exchange with the daemon, 1..300 (default 10)
 *   debug          LOG_DEBUG lines (never a secret)
 *   use_first_pass only the authtok an earlier module got; never prompt
 *   try_first_pass that authtok if there is one, else prompt (the default)
 * An unknown or bad argument is a module configuration error:
 * PAM_SERVICE_ERR, never success.
 *
 * Fail closed: daemon unreachable, timeout, ERROR, protocol error or a
 * socket whose peer is not its owner give PAM_AUTHINFO_UNAVAIL.
 *
 * pam_sm_setcred returns PAM_SUCCESS: the module has no credentials to set
 * (the decision is pam_sm_authenticate's). pam_sm_acct_mgmt returns
 * PAM_IGNORE for now, so it never grants anything by itself; the key
 * lifecycle states (expired, suspended, rotation grace) come in a later
 * slice.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config-private.h"
#include "protocol-private.h"
#include "scopes-private.h"
#include "util-private.h"

#define LKPAM_DEFAULT_TIMEOUT 10
#define LKPAM_MAX_TIMEOUT     300
#define LKPAM_MAX_ROUNDS      8
#define LKPAM_SCOPE_ENV       "LATCHKEY_SCOPE"
#define LKPAM_KEY_PROMPT      "API key: "

struct args {
	const char *config;
	const char *socket;
	int timeout_ms;
	bool debug;
};

/* Everything big or secret in one heap block, wiped before it is freed. */
struct session {
	struct lk_msg auth; /* the AUTH, kept until the handshake is done */
	struct lk_msg msg;  /* every other message, in and out */
	unsigned char frame[LK_FRAME_MAX + 4];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->timeout_ms = LKPAM_DEFAULT_TIMEOUT * 1000;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (strncmp(arg, "config=", 7) == 0 && arg[7] != '\0') {
			a->config = arg + 7;
		} else if (strncmp(arg, "socket=", 7) == 0 && arg[7] != '\0') {
			a->socket = arg + 7;
		} else if (strncmp(arg, "timeout=", 8) == 0) {
			char *end;
			long v;

			errno = 0;
			v = strtol(arg + 8, &end, 10);
			if (errno != 0 || end == arg + 8 || *end != '\0' || v < 1 ||
			    v > LKPAM_MAX_TIMEOUT) {
				pam_syslog(pamh, LOG_ERR, "bad argument '%s' (1..%d seconds)", arg,
				           LKPAM_MAX_TIMEOUT);
				return PAM_SERVICE_ERR;
			}
			a->timeout_ms = (int)v * 1000;
		} else if (strcmp(arg, "debug") == 0) {
			a->debug = true;
		} else if (strcmp(arg, "use_first_pass") == 0 ||
		           strcmp(arg, "try_first_pass") == 0) {
			/* pam_get_authtok reads these from the module's arguments. */
		} else {
			pam_syslog(pamh, LOG_ERR, "unknown argument '%s'", arg);
			return PAM_SERVICE_ERR;
		}
	}
	if (a->config != NULL && a->socket != NULL) {
		pam_syslog(pamh, LOG_ERR, "config= and socket= are mutually exclusive");
		return PAM_SERVICE_ERR;
	}
	return PAM_SUCCESS;
}

/* The socket path: socket= as given, else auth_socket from the config. */
static int resolve_socket(pam_handle_t *pamh, const struct args *a, struct session *s)
{
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	const char *path = a->socket;
	int n, r = PAM_SUCCESS;

	if (path == NULL) {
		const char *file = a->config != NULL ? a->config : LK_DEFAULT_CONFIG;

		if (lk_config_load(file, &cfg, &err) != LK_OK) {
			pam_syslog(pamh, LOG_ERR, "cannot load the config: %s", err.msg);
			return PAM_AUTHINFO_UNAVAIL;
		}
		path = cfg->auth_socket;
		if (path == NULL || path[0] == '\0') {
			pam_syslog(pamh, LOG_ERR, "%s sets no auth_socket", file);
			lk_config_free(cfg);
			return PAM_SERVICE_ERR;
		}
	}
	n = snprintf(s->sock, sizeof(s->sock), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(s->sock) || s->sock[0] != '/') {
		pam_syslog(pamh, LOG_ERR, "socket path '%s' is not absolute or too long", path);
		r = PAM_SERVICE_ERR;
	}
	lk_config_free(cfg);
	return r;
}

/* Connects and checks that the peer (the daemon) runs as the socket file's
 * owner. -1 (logged) on any failure. */
static int connect_daemon(pam_handle_t *pamh, const struct args *a, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct stat st;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pam_syslog(pamh, LOG_ERR, "socket: %m");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot reach latchkeyd on %s: %m", path);
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cl != sizeof(cred)) {
		pam_syslog(pamh, LOG_ERR, "cannot read the daemon's credentials on %s: %m", path);
		close(fd);
		return -1;
	}
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		pam_syslog(pamh, LOG_ERR, "%s is not a socket", path);
		close(fd);
		return -1;
	}
	if (cred.uid != st.st_uid) {
		pam_syslog(pamh, LOG_ERR,
		           "%s belongs to uid %u but its peer runs as uid %u; refusing", path,
		           (unsigned)st.st_uid, (unsigned)cred.uid);
		close(fd);
		return -1;
	}
	if (a->debug)
		pam_syslog(pamh, LOG_DEBUG, "connected to %s (daemon pid %ld uid %u)", path,
		           (long)cred.pid, (unsigned)cred.uid);
	return fd;
}

/* Sends m (wiped after) through s's frame buffer (wiped after). */
static int send_msg(pam_handle_t *pamh, int fd, struct lk_msg *m, struct session *s, int timeout_ms)
{
	struct lk_err err = { { 0 } };
	size_t len = 0;
	int r = lk_msg_encode(m, s->frame, sizeof(s->frame), &len, &err);

	if (r == LK_OK)
		r = lk_frame_write(fd, s->frame, len, timeout_ms, &err);
	sodium_memzero(s->frame, len < sizeof(s->frame) ? len : sizeof(s->frame));
	lk_msg_wipe(m);
	if (r != LK_OK)
		pam_syslog(pamh, LOG_ERR, "cannot send to latchkeyd: %s", err.msg);
	return r;
}

static int recv_msg(pam_handle_t *pamh, int fd, struct session *s, int timeout_ms)
{
	struct lk_err err = { { 0 } };
	size_t len = 0;
	int r;

	lk_msg_wipe(&s->msg);
	r = lk_frame_read(fd, s->frame, sizeof(s->frame), &len, timeout_ms, &err);
	if (r == LK_OK)
		r = lk_msg_decode(s->frame, len, &s->msg, &err);
	sodium_memzero(s->frame, len < sizeof(s->frame) ? len : sizeof(s->frame));
	if (r != LK_OK)
		pam_syslog(pamh, LOG_ERR, "bad or no answer from latchkeyd: %s", err.msg);
	return r;
}

static bool set_input(struct lk_msg *m, const char *name, const char *value)
{
	struct lk_msg_input *in = &m->inputs[m->n_inputs];
	size_t len = strlen(value);

	if (m->n_inputs >= LK_MSG_MAX_INPUTS || len > sizeof(in->value))
		return false;
	snprintf(in->name, sizeof(in->name), "%s", name);
	memcpy(in->value, value, len);
	in->len = len;
	m->n_inputs++;
	return true;
}

/* Fills the AUTH message from the PAM items; a PAM code on bad input. */
static int build_auth(pam_handle_t *pamh, const struct args *a, struct lk_msg *m)
{
	const char *service = NULL, *user = NULL, *rhost = NULL, *tok = NULL, *scopes;
	int r;

	lk_msg_wipe(m);
	m->type = LK_MSG_AUTH;
	if (pam_get_item(pamh, PAM_SERVICE, (const void **)&service) != PAM_SUCCESS ||
	    !lk_service_name_valid(service)) {
		pam_syslog(pamh, LOG_ERR,
		           "PAM service name is missing or not a latchkey service name");
		return PAM_SERVICE_ERR;
	}
	snprintf(m->service, sizeof(m->service), "%s", service);
	if ((r = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS)
		return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_USER_UNKNOWN;
	if (user == NULL || user[0] == '\0' || !lk_text_valid(user, sizeof(m->user) - 1)) {
		pam_syslog(pamh, LOG_NOTICE, "user name is empty, too long or not valid text");
		return PAM_USER_UNKNOWN;
	}
	snprintf(m->user, sizeof(m->user), "%s", user);
	if (pam_get_item(pamh, PAM_RHOST, (const void **)&rhost) == PAM_SUCCESS && rhost != NULL &&
	    rhost[0] != '\0') {
		if (!lk_text_valid(rhost, sizeof(m->rhost) - 1)) {
			pam_syslog(pamh, LOG_NOTICE, "PAM_RHOST is too long or not valid text");
			return PAM_AUTH_ERR;
		}
		snprintf(m->rhost, sizeof(m->rhost), "%s", rhost);
	}
	scopes = pam_getenv(pamh, LKPAM_SCOPE_ENV);
	for (const char *p = scopes; p != NULL && *p != '\0';) {
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0)
			break;
		if (m->n_scopes >= LK_MSG_MAX_SCOPES || n >= sizeof(m->scopes[0])) {
			pam_syslog(pamh, LOG_NOTICE, "%s has too many or too long scopes",
			           LKPAM_SCOPE_ENV);
			return PAM_AUTH_ERR;
		}
		memcpy(m->scopes[m->n_scopes], p, n);
		m->scopes[m->n_scopes][n] = '\0';
		if (!lk_scope_valid(m->scopes[m->n_scopes])) {
			pam_syslog(pamh, LOG_NOTICE, "%s has a malformed scope", LKPAM_SCOPE_ENV);
			return PAM_AUTH_ERR;
		}
		m->n_scopes++;
		p += n;
	}
	/* The authtok is PAM's own item (libpam wipes it); only our copy in m
	 * is ours to wipe. */
	r = pam_get_authtok(pamh, PAM_AUTHTOK, &tok, LKPAM_KEY_PROMPT);
	if (r != PAM_SUCCESS)
		return r;
	if (tok == NULL || !set_input(m, "apikey", tok)) {
		pam_syslog(pamh, LOG_NOTICE, "the API key is missing or too long");
		return PAM_AUTH_ERR;
	}
	if (a->debug)
		pam_syslog(pamh, LOG_DEBUG, "service '%s' user '%s' rhost '%s' %zu scope(s)",
		           m->service, m->user, m->rhost, m->n_scopes);
	return PAM_SUCCESS;
}

/* Asks the user what the daemon's PROMPT wants; fills m with the ANSWER. */
static int answer_prompt(pam_handle_t *pamh, const struct args *a, struct lk_msg *m)
{
	char name[sizeof(m->inputs[0].name)], text[sizeof(m->prompt_text) + 40];
	char *resp = NULL;
	bool ok;
	int r;

	if (m->n_inputs != 1 || m->inputs[0].name[0] == '\0') {
		pam_syslog(pamh, LOG_ERR, "latchkeyd sent a PROMPT without an input name");
		return PAM_AUTHINFO_UNAVAIL;
	}
	snprintf(name, sizeof(name), "%s", m->inputs[0].name);
	if (m->prompt_text[0] != '\0')
		snprintf(text, sizeof(text), "%s", m->prompt_text);
	else
		snprintf(text, sizeof(text), "%s: ", name);
	if (a->debug)
		pam_syslog(pamh, LOG_DEBUG, "prompting for '%s' (echo %s)", name,
		           m->echo ? "on" : "off");
	r = pam_prompt(pamh, m->echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, &resp, "%s", text);
	lk_msg_wipe(m);
	if (r != PAM_SUCCESS || resp == NULL) {
		free(resp);
		return r == PAM_SUCCESS ? PAM_CONV_ERR : r;
	}
	m->type = LK_MSG_ANSWER;
	ok = set_input(m, name, resp);
	sodium_memzero(resp, strlen(resp));
	free(resp);
	if (!ok) {
		lk_msg_wipe(m);
		pam_syslog(pamh, LOG_NOTICE, "the answer for '%s' is too long", name);
		return PAM_AUTH_ERR;
	}
	return PAM_SUCCESS;
}

static int map_result(uint32_t code)
{
	switch (code) {
	case PAM_SUCCESS:
	case PAM_AUTH_ERR:
	case PAM_PERM_DENIED:
	case PAM_USER_UNKNOWN:
	case PAM_MAXTRIES:
	case PAM_SYSTEM_ERR:
	case PAM_AUTHINFO_UNAVAIL:
		return (int)code;
	default:
		return PAM_AUTH_ERR;
	}
}

/* The conversation with the daemon: HELLO, AUTH, PROMPT/ANSWER rounds,
 * RESULT. Anything but a RESULT ends in PAM_AUTHINFO_UNAVAIL. */
static int converse(pam_handle_t *pamh, const struct args *a, struct session *s, int fd)
{
	struct lk_msg *m = &s->msg;
	int r;

	lk_msg_wipe(m);
	m->type = LK_MSG_HELLO;
	m->min_version = m->max_version = LK_PROTO_VERSION;
	if (send_msg(pamh, fd, m, s, a->timeout_ms) != LK_OK ||
	    recv_msg(pamh, fd, s, a->timeout_ms) != LK_OK)
		return PAM_AUTHINFO_UNAVAIL;
	if (m->type != LK_MSG_HELLO || m->version != LK_PROTO_VERSION) {
		if (m->type == LK_MSG_ERROR)
			pam_syslog(pamh, LOG_ERR, "latchkeyd refused the handshake: %s", m->error);
		else
			pam_syslog(pamh, LOG_ERR,
			           "latchkeyd answered HELLO with type %u version %u",
			           (unsigned)m->type, (unsigned)m->version);
		return PAM_AUTHINFO_UNAVAIL;
	}
	if (send_msg(pamh, fd, &s->auth, s, a->timeout_ms) != LK_OK)
		return PAM_AUTHINFO_UNAVAIL;
	for (int round = 0;; round++) {
		if (recv_msg(pamh, fd, s, a->timeout_ms) != LK_OK)
			return PAM_AUTHINFO_UNAVAIL;
		switch (m->type) {
		case LK_MSG_RESULT:
			r = map_result(m->pam_code);
			if (r == PAM_SUCCESS) {
				if (a->debug)
					pam_syslog(pamh, LOG_DEBUG, "granted to '%s' (audit #%llu)",
					           m->principal, (unsigned long long)m->audit_seq);
			} else {
				pam_syslog(pamh, LOG_NOTICE,
				           "denied: %s (PAM code %u, audit #%llu)",
				           m->reason[0] ? m->reason : "no reason",
				           (unsigned)m->pam_code, (unsigned long long)m->audit_seq);
			}
			return r;
		case LK_MSG_PROMPT:
			if (round >= LKPAM_MAX_ROUNDS) {
				pam_syslog(pamh, LOG_ERR, "latchkeyd prompted more than %d times",
				           LKPAM_MAX_ROUNDS);
				return PAM_AUTHINFO_UNAVAIL;
			}
			if ((r = answer_prompt(pamh, a, m)) != PAM_SUCCESS)
				return r;
			if (send_msg(pamh, fd, m, s, a->timeout_ms) != LK_OK)
				return PAM_AUTHINFO_UNAVAIL;
			break;
		case LK_MSG_ERROR:
			pam_syslog(pamh, LOG_ERR, "latchkeyd: %s", m->error);
			return PAM_AUTHINFO_UNAVAIL;
		default:
			pam_syslog(pamh, LOG_ERR, "unexpected message type %u from latchkeyd",
			           (unsigned)m->type);
			return PAM_AUTHINFO_UNAVAIL;
		}
	}
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	struct session *s;
	int fd = -1, r;

	if ((r = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
		return r;
	if (sodium_init() < 0) {
		pam_syslog(pamh, LOG_ERR, "libsodium failed to initialise");
		return PAM_SYSTEM_ERR;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PAM_BUF_ERR;
	r = resolve_socket(pamh, &a, s);
	if (r == PAM_SUCCESS)
		r = build_auth(pamh, &a, &s->auth);
	if (r == PAM_SUCCESS) {
		fd = connect_daemon(pamh, &a, s->sock);
		r = fd < 0 ? PAM_AUTHINFO_UNAVAIL : converse(pamh, &a, s, fd);
	}
	if (fd >= 0)
		close(fd);
	lk_msg_wipe(&s->auth);
	lk_msg_wipe(&s->msg);
	sodium_memzero(s, sizeof(*s));
	free(s);
	return r;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}
