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
 *   single_prompt  for clients that answer every prompt with the same
 *                  password (nginx auth_pam, Apache mod_authnz_pam): the
 *                  authtok is "KEY CODE", the key and the answer to the
 *                  policy's one extra prompt, separated by one space
 *   rotated=newauthtok  account management returns PAM_NEW_AUTHTOK_REQD for
 *                  a key in its rotation grace period (default: success
 *                  with a PAM_TEXT_INFO warning)
 *   no_authtok     do not ask for an API key up front: for policies that
 *                  authenticate by client certificate alone (a plugin that
 *                  needs a key still prompts for it)
 *   cert_dir=DIR   LATCHKEY_CLIENT_CERT may name a file under DIR
 *   cert_from_conv the conversation may answer a prompt for the client
 *                  certificate: only for applications whose conversation
 *                  function hands over what their TLS terminator verified,
 *                  never where a person (or a remote client) answers
 *                  prompts: a certificate is public, proving nothing alone
 *
 * The client certificate chain (mtls policies): the PAM environment
 * variable LATCHKEY_CLIENT_CERT (PEM, URL-encoded PEM, or a path under
 * cert_dir=), or the answer to the daemon's prompt for it (client-cert.h).
 * An unknown or bad argument is a module configuration error:
 * PAM_SERVICE_ERR, never success.
 *
 * Fail closed: daemon unreachable, timeout, ERROR, protocol error or a
 * socket whose peer is not its owner give PAM_AUTHINFO_UNAVAIL.
 *
 * pam_sm_setcred returns PAM_SUCCESS: the module has no credentials to set
 * (the decision is pam_sm_authenticate's). pam_sm_acct_mgmt asks the daemon
 * about the key that authenticated (PAM_IGNORE if this module did not
 * authenticate the user): expired -> PAM_ACCT_EXPIRED; suspended, revoked,
 * another user's -> PAM_PERM_DENIED; rotated -> see rotated=.
 * pam_sm_open_session / pam_sm_close_session record session.open and
 * session.close in the audit log (PAM_SESSION_ERR if that fails).
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
#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "client-cert.h"
#include "config-private.h"
#include "protocol-private.h"
#include "scopes-private.h"
#include "util-private.h"

#define LKPAM_DEFAULT_TIMEOUT 10
#define LKPAM_MAX_TIMEOUT     300
#define LKPAM_MAX_ROUNDS      8
#define LKPAM_SCOPE_ENV       "LATCHKEY_SCOPE"
#define LKPAM_KEY_PROMPT      "API key: "
/* pam_set_data name: the key id that authenticated (not a secret). */
#define LKPAM_DATA_CREDENTIAL "latchkey.credential"

struct args {
	const char *config;
	const char *socket;
	int timeout_ms;
	bool debug;
	bool single_prompt;
	bool rotated_newauthtok;
	bool no_authtok;
	bool cert_from_conv;
	const char *cert_dir;
};

/* Everything big or secret in one heap block, wiped before it is freed. */
struct session {
	struct lk_msg auth; /* the AUTH, kept until the handshake is done */
	struct lk_msg msg;  /* every other message, in and out */
	unsigned char frame[LK_FRAME_MAX + 4];
	/* single_prompt: what followed the space in the authtok, for the
	 * policy's one extra prompt (secret) */
	char extra[LK_MSG_INPUT_MAX + 1];
	bool extra_used;
	bool user_from_cert; /* no PAM_USER: a success sets it to the principal */
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
		} else if (strcmp(arg, "single_prompt") == 0) {
			a->single_prompt = true;
		} else if (strcmp(arg, "rotated=newauthtok") == 0) {
			a->rotated_newauthtok = true;
		} else if (strcmp(arg, "rotated=warn") == 0) {
			a->rotated_newauthtok = false;
		} else if (strcmp(arg, "no_authtok") == 0) {
			a->no_authtok = true;
		} else if (strcmp(arg, "cert_from_conv") == 0) {
			a->cert_from_conv = true;
		} else if (strncmp(arg, "cert_dir=", 9) == 0 && arg[9] == '/') {
			a->cert_dir = arg + 9;
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
static int build_auth(pam_handle_t *pamh, const struct args *a, struct lk_msg *m, char *extra,
                      size_t extra_len, bool *ret_user_from_cert)
{
	const char *service = NULL, *user = NULL, *rhost = NULL, *tok = NULL, *scopes, *cert;
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
	cert = pam_getenv(pamh, LKPAM_CERT_ENV);
	if (cert != NULL &&
	    (r = lkpam_client_cert(pamh, a->cert_dir, cert, m->client_cert, sizeof(m->client_cert),
	                           &m->client_cert_len)) != PAM_SUCCESS)
		return r;
	/* With a client certificate and no PAM_USER, nobody is asked who they
	 * are: the certificate says, and a success sets PAM_USER to the
	 * principal it proved (as pam_pkcs11 does). */
	*ret_user_from_cert = m->client_cert_len > 0 &&
	                      (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS ||
	                       user == NULL || user[0] == '\0');
	if (!*ret_user_from_cert) {
		if ((r = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS)
			return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_USER_UNKNOWN;
		if (user == NULL || user[0] == '\0' || !lk_text_valid(user, sizeof(m->user) - 1)) {
			pam_syslog(pamh, LOG_NOTICE,
			           "user name is empty, too long or not valid text");
			return PAM_USER_UNKNOWN;
		}
		snprintf(m->user, sizeof(m->user), "%s", user);
	}
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
	if (a->no_authtok)
		goto done;
	/* The authtok is PAM's own item (libpam wipes it); only our copy in m
	 * is ours to wipe. */
	r = pam_get_authtok(pamh, PAM_AUTHTOK, &tok, LKPAM_KEY_PROMPT);
	if (r != PAM_SUCCESS)
		return r;
	if (tok == NULL) {
		pam_syslog(pamh, LOG_NOTICE, "the API key is missing");
		return PAM_AUTH_ERR;
	}
	if (a->single_prompt && strchr(tok, ' ') != NULL) {
		/* "KEY CODE": keys never hold a space, so the first one splits. */
		size_t klen = strcspn(tok, " ");
		int n = snprintf(extra, extra_len, "%s", tok + klen + 1);
		if (n < 0 || (size_t)n >= extra_len || klen > sizeof(m->inputs[0].value)) {
			pam_syslog(pamh, LOG_NOTICE, "the authtok is too long");
			return PAM_AUTH_ERR;
		}
		snprintf(m->inputs[0].name, sizeof(m->inputs[0].name), "apikey");
		memcpy(m->inputs[0].value, tok, klen);
		m->inputs[0].len = klen;
		m->n_inputs = 1;
	} else if (!set_input(m, "apikey", tok)) {
		pam_syslog(pamh, LOG_NOTICE, "the API key is too long");
		return PAM_AUTH_ERR;
	}
done:
	if (a->debug)
		pam_syslog(pamh, LOG_DEBUG,
		           "service '%s' user '%s' rhost '%s' %zu scope(s), client certificate %zu "
		           "bytes",
		           m->service, m->user, m->rhost, m->n_scopes, m->client_cert_len);
	return PAM_SUCCESS;
}

/* Asks the user what the daemon's PROMPT wants; fills m with the ANSWER. */
static int answer_prompt(pam_handle_t *pamh, const struct args *a, struct session *s,
                         struct lk_msg *m)
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
	if (a->single_prompt) {
		/* The client cannot answer a second prompt: only what came after
		 * the space, once. */
		lk_msg_wipe(m);
		if (strcmp(name, LK_CLIENT_CERT_INPUT) == 0) {
			pam_syslog(
			    pamh, LOG_NOTICE,
			    "single_prompt: the policy asks for the client certificate; hand "
			    "it over in %s",
			    LKPAM_CERT_ENV);
			return PAM_AUTH_ERR;
		}
		if (s->extra_used || s->extra[0] == '\0') {
			pam_syslog(pamh, LOG_NOTICE,
			           "single_prompt: the policy asks for '%s' but the authtok had %s",
			           name, s->extra_used ? "only one extra answer" : "none");
			return PAM_AUTH_ERR;
		}
		s->extra_used = true;
		m->type = LK_MSG_ANSWER;
		ok = set_input(m, name, s->extra);
		sodium_memzero(s->extra, sizeof(s->extra));
		return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
	}
	if (strcmp(name, LK_CLIENT_CERT_INPUT) == 0 && !a->cert_from_conv) {
		/* Whoever answers prompts could paste anyone's (public)
		 * certificate: only a terminator's verified chain counts. */
		lk_msg_wipe(m);
		pam_syslog(pamh, LOG_NOTICE,
		           "the policy asks for the client certificate through the conversation, "
		           "which this module line does not allow (cert_from_conv); hand it over "
		           "in %s",
		           LKPAM_CERT_ENV);
		return PAM_AUTH_ERR;
	}
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
	if (strcmp(name, LK_CLIENT_CERT_INPUT) == 0) {
		/* The chain, in the field made for it. */
		/* The chain itself, never a path: the answer must not make the
		 * service read a file another client left in cert_dir. */
		set_input(m, name, "");
		ok = lkpam_client_cert(pamh, NULL, resp, m->client_cert, sizeof(m->client_cert),
		                       &m->client_cert_len) == PAM_SUCCESS;
	} else {
		ok = set_input(m, name, resp);
	}
	sodium_memzero(resp, strlen(resp));
	free(resp);
	if (!ok) {
		lk_msg_wipe(m);
		pam_syslog(pamh, LOG_NOTICE, "the answer for '%s' was refused", name);
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

static void free_data(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

/* HELLO both ways, with the request (s->auth) sent right behind ours
 * rather than after the daemon's answer: one round trip less per login.
 * A daemon that refuses the version answers ERROR and reads no further.
 * PAM_AUTHINFO_UNAVAIL (logged) on anything but a matching HELLO. */
static int handshake(pam_handle_t *pamh, const struct args *a, struct session *s, int fd)
{
	struct lk_msg *m = &s->msg;

	lk_msg_wipe(m);
	m->type = LK_MSG_HELLO;
	m->min_version = m->max_version = LK_PROTO_VERSION;
	if (send_msg(pamh, fd, m, s, a->timeout_ms) != LK_OK ||
	    send_msg(pamh, fd, &s->auth, s, a->timeout_ms) != LK_OK ||
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
	return PAM_SUCCESS;
}

/* The conversation with the daemon: HELLO, AUTH, PROMPT/ANSWER rounds,
 * RESULT. Anything but a RESULT ends in PAM_AUTHINFO_UNAVAIL. */
static int converse(pam_handle_t *pamh, const struct args *a, struct session *s, int fd)
{
	struct lk_msg *m = &s->msg;
	int r;

	if (handshake(pamh, a, s, fd) != PAM_SUCCESS)
		return PAM_AUTHINFO_UNAVAIL;
	for (int round = 0;; round++) {
		if (recv_msg(pamh, fd, s, a->timeout_ms) != LK_OK)
			return PAM_AUTHINFO_UNAVAIL;
		switch (m->type) {
		case LK_MSG_RESULT:
			r = map_result(m->pam_code);
			/* Which key authenticated, for account management; a
			 * failure forgets an earlier success's. */
			if (pam_set_data(
			        pamh, LKPAM_DATA_CREDENTIAL,
			        r == PAM_SUCCESS && m->credential[0] ? strdup(m->credential) : NULL,
			        free_data) != PAM_SUCCESS)
				r = r == PAM_SUCCESS ? PAM_BUF_ERR : r;
			if (r == PAM_SUCCESS && s->user_from_cert &&
			    (m->principal[0] == '\0' ||
			     pam_set_item(pamh, PAM_USER, m->principal) != PAM_SUCCESS)) {
				pam_syslog(pamh, LOG_ERR,
				           "granted without a principal to be PAM_USER");
				(void)pam_set_data(pamh, LKPAM_DATA_CREDENTIAL, NULL, NULL);
				r = PAM_AUTH_ERR;
			}
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
			if ((r = answer_prompt(pamh, a, s, m)) != PAM_SUCCESS)
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

static struct session *session_new(void)
{
	if (sodium_init() < 0)
		return NULL;
	return calloc(1, sizeof(struct session));
}

static void session_free(struct session *s)
{
	lk_msg_wipe(&s->auth);
	lk_msg_wipe(&s->msg);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	struct session *s;
	int fd = -1, r;

	/* An earlier success on this handle vouches for nothing now: account
	 * management must ask about this attempt's key, or none. */
	(void)pam_set_data(pamh, LKPAM_DATA_CREDENTIAL, NULL, NULL);
	if ((r = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
		return r;
	if ((s = session_new()) == NULL)
		return PAM_BUF_ERR;
	r = resolve_socket(pamh, &a, s);
	if (r == PAM_SUCCESS)
		r = build_auth(pamh, &a, &s->auth, s->extra, sizeof(s->extra), &s->user_from_cert);
	if (r == PAM_SUCCESS) {
		fd = connect_daemon(pamh, &a, s->sock);
		r = fd < 0 ? PAM_AUTHINFO_UNAVAIL : converse(pamh, &a, s, fd);
	}
	if (fd >= 0)
		close(fd);
	session_free(s);
	return r;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

/* One request that is not an authentication (ACCOUNT, SESSION) already in
 * s->auth; its RESULT ends up in s->msg. PAM_AUTHINFO_UNAVAIL if the
 * daemon cannot be asked or answers anything else. */
static int ask(pam_handle_t *pamh, const struct args *a, struct session *s)
{
	int fd, r;

	if ((r = resolve_socket(pamh, a, s)) != PAM_SUCCESS)
		return r;
	if ((fd = connect_daemon(pamh, a, s->sock)) < 0)
		return PAM_AUTHINFO_UNAVAIL;
	r = handshake(pamh, a, s, fd);
	if (r == PAM_SUCCESS && recv_msg(pamh, fd, s, a->timeout_ms) != LK_OK)
		r = PAM_AUTHINFO_UNAVAIL;
	close(fd);
	if (r == PAM_SUCCESS && s->msg.type != LK_MSG_RESULT) {
		pam_syslog(pamh, LOG_ERR, "latchkeyd: %s",
		           s->msg.type == LK_MSG_ERROR ? s->msg.error : "unexpected answer");
		r = PAM_AUTHINFO_UNAVAIL;
	}
	return r;
}

/* Service and user into s->auth (ACCOUNT or SESSION). */
static int request_items(pam_handle_t *pamh, struct lk_msg *m, uint8_t type)
{
	const char *service = NULL, *user = NULL, *rhost = NULL;

	lk_msg_wipe(m);
	m->type = type;
	if (pam_get_item(pamh, PAM_SERVICE, (const void **)&service) != PAM_SUCCESS ||
	    !lk_service_name_valid(service)) {
		pam_syslog(pamh, LOG_ERR,
		           "PAM service name is missing or not a latchkey service name");
		return PAM_SERVICE_ERR;
	}
	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || user == NULL ||
	    user[0] == '\0' || !lk_text_valid(user, sizeof(m->user) - 1))
		return PAM_USER_UNKNOWN;
	snprintf(m->service, sizeof(m->service), "%s", service);
	snprintf(m->user, sizeof(m->user), "%s", user);
	if (type == LK_MSG_SESSION &&
	    pam_get_item(pamh, PAM_RHOST, (const void **)&rhost) == PAM_SUCCESS && rhost != NULL &&
	    lk_text_valid(rhost, sizeof(m->rhost) - 1))
		snprintf(m->rhost, sizeof(m->rhost), "%s", rhost);
	return PAM_SUCCESS;
}

static const char *credential_of(pam_handle_t *pamh)
{
	const void *data = NULL;

	if (pam_get_data(pamh, LKPAM_DATA_CREDENTIAL, &data) != PAM_SUCCESS)
		return NULL;
	return data;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *credential = credential_of(pamh);
	struct args a;
	struct session *s;
	int r;

	if ((r = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
		return r;
	/* Not authenticated by this module: nothing of ours to judge. */
	if (credential == NULL)
		return PAM_IGNORE;
	if ((s = session_new()) == NULL)
		return PAM_BUF_ERR;
	r = request_items(pamh, &s->auth, LK_MSG_ACCOUNT);
	if (r == PAM_SUCCESS) {
		snprintf(s->auth.credential, sizeof(s->auth.credential), "%s", credential);
		r = ask(pamh, &a, s);
	}
	if (r == PAM_SUCCESS) {
		switch (s->msg.pam_code) {
		case PAM_SUCCESS:
			if (strcmp(s->msg.reason, "rotated") != 0)
				break;
			if (a.rotated_newauthtok) {
				r = PAM_NEW_AUTHTOK_REQD;
				break;
			}
			/* Best effort: a client without a conversation still gets in. */
			pam_info(pamh, "This API key has been rotated; switch to its replacement "
			               "before the grace period ends.");
			break;
		case PAM_ACCT_EXPIRED:
		case PAM_PERM_DENIED:
		case PAM_USER_UNKNOWN:
			r = (int)s->msg.pam_code;
			break;
		default:
			r = PAM_PERM_DENIED;
		}
		if (r != PAM_SUCCESS)
			pam_syslog(pamh, LOG_NOTICE, "account refused: %s (audit #%llu)",
			           s->msg.reason, (unsigned long long)s->msg.audit_seq);
	}
	session_free(s);
	return r;
}

static int session_event(pam_handle_t *pamh, int argc, const char **argv, uint8_t event)
{
	const char *credential = credential_of(pamh);
	struct args a;
	struct session *s;
	int r;

	if ((r = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
		return r;
	if ((s = session_new()) == NULL)
		return PAM_BUF_ERR;
	r = request_items(pamh, &s->auth, LK_MSG_SESSION);
	if (r == PAM_SUCCESS) {
		s->auth.event = event;
		if (credential != NULL)
			snprintf(s->auth.credential, sizeof(s->auth.credential), "%s", credential);
		r = ask(pamh, &a, s);
	}
	if (r == PAM_SUCCESS && s->msg.pam_code != PAM_SUCCESS)
		r = PAM_SESSION_ERR;
	session_free(s);
	/* An unrecorded session is not opened. */
	return r == PAM_SUCCESS ? PAM_SUCCESS : PAM_SESSION_ERR;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return session_event(pamh, argc, argv, LK_SESSION_OPEN);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return session_event(pamh, argc, argv, LK_SESSION_CLOSE);
}
