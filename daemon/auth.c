/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The auth socket's side of the daemon protocol (core/protocol-private.h):
 * HELLO, AUTH, PROMPT/ANSWER rounds, RESULT. A RESULT goes out only after
 * the decision's audit row is committed (batch.c); anything else that goes
 * wrong is an ERROR, which the module turns into PAM_AUTHINFO_UNAVAIL.
 */
#include "config.h"

#include <errno.h>
#include <security/pam_appl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "audit-private.h"
#include "daemon-private.h"
#include "protocol-private.h"
#include "util-private.h"

#define LKD_MAX_ROUNDS 4

/* One connection's buffers: frames and messages may hold input values
 * (secrets), so the whole thing is wiped before it is freed. */
struct conn {
	struct daemon *d;
	int fd;
	uid_t uid;
	int timeout_ms; /* per frame */
	unsigned char buf[LK_FRAME_MAX + 4];
	struct lk_msg in;   /* the last message read (HELLO, ANSWER) */
	struct lk_msg auth; /* the AUTH, answers appended to its inputs */
	struct lk_msg out;
	struct lk_plugin_input inputs[LK_MSG_MAX_INPUTS + 1]; /* + the client certificate */
};

/* Root, or a uid with an auth_peer line: a host service of ours. */
static bool peer_listed(const struct lk_config *cfg, uid_t uid)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < cfg->n_auth_peers; i++)
		if (cfg->auth_peers[i].uid == uid)
			return true;
	return false;
}

static bool peer_allowed(const struct lk_config *cfg, uid_t uid, const char *service)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < cfg->n_auth_peers; i++) {
		if (cfg->auth_peers[i].uid != uid)
			continue;
		for (size_t j = 0; j < cfg->auth_peers[i].n_services; j++)
			if (strcmp(cfg->auth_peers[i].services[j], service) == 0)
				return true;
		return false;
	}
	return false;
}

static int send_msg(struct conn *c, struct lk_err *err)
{
	size_t len;
	int r;

	r = lk_msg_encode(&c->out, c->buf, sizeof(c->buf), &len, err);
	if (r == LK_OK)
		r = lk_frame_write(c->fd, c->buf, len, c->timeout_ms, err);
	lk_msg_wipe(&c->out);
	return r;
}

/* Tries to tell the peer what went wrong; the connection closes after. */
static void send_error(struct conn *c, const char *msg)
{
	struct lk_err err = { { 0 } };

	lk_msg_wipe(&c->out);
	c->out.type = LK_MSG_ERROR;
	snprintf(c->out.error, sizeof(c->out.error), "%s", msg[0] ? msg : "internal error");
	if (send_msg(c, &err) == LK_OK)
		return;
	/* A message the codec refuses (cut mid-character): a plain one. */
	c->out.type = LK_MSG_ERROR;
	snprintf(c->out.error, sizeof(c->out.error), "internal error");
	(void)send_msg(c, &err);
}

static int read_msg(struct conn *c, struct lk_msg *m, uint8_t want, struct lk_err *err)
{
	size_t len = 0;
	int r, rr;

	rr = r = lk_frame_read(c->fd, c->buf, sizeof(c->buf), &len, c->timeout_ms, err);
	if (r == LK_OK)
		r = lk_msg_decode(c->buf, len, m, err);
	/* The frame may hold a key: wiped, all of it if the read failed part
	 * way (how far it got is not known). */
	sodium_memzero(c->buf, rr == LK_OK && len < sizeof(c->buf) ? len : sizeof(c->buf));
	if (r == LK_OK && want != 0 && m->type != want) {
		lk_msg_wipe(m);
		r = lk_err_set(err, LK_EINVAL, "unexpected message type %u", m->type);
	}
	return r;
}

/* credential: the key id behind a success (not a secret), or NULL. */
static int send_result(struct conn *c, int pam_code, const char *reason, const char *principal,
                       const char *credential, int64_t audit_seq, struct lk_err *err)
{
	lk_msg_wipe(&c->out);
	c->out.type = LK_MSG_RESULT;
	if (credential != NULL && lk_token_valid(credential, sizeof(c->out.credential) - 1, "_-"))
		snprintf(c->out.credential, sizeof(c->out.credential), "%s", credential);
	c->out.pam_code = (uint32_t)pam_code;
	snprintf(c->out.reason, sizeof(c->out.reason), "%s", reason[0] ? reason : "unknown");
	if (principal != NULL)
		snprintf(c->out.principal, sizeof(c->out.principal), "%s", principal);
	c->out.audit_seq = audit_seq > 0 ? (uint64_t)audit_seq : 0;
	return send_msg(c, err);
}

struct denial {
	struct conn *c;
	const char *action, *reason;
	int64_t seq;
};

static int record_denial(struct daemon *d, void *arg, struct lk_err *err)
{
	struct denial *x = arg;
	char detail[96];
	int64_t now;
	int r;

	snprintf(detail, sizeof(detail), "service=%s", x->c->auth.service);
	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the clock");
	return lk_audit_record(d->store,
	                       &(struct lk_audit_event){ .ts = now,
	                                                 .actor_uid = (int64_t)x->c->uid,
	                                                 .action = x->action,
	                                                 .reason = x->reason,
	                                                 .detail = detail },
	                       &x->seq, err);
}

/* An audited denial decided here, not by the engine. */
static int deny_audited(struct conn *c, int pam_code, const char *action, const char *reason,
                        struct lk_err *err)
{
	struct denial x = { .c = c, .action = action, .reason = reason };
	int r;

	r = lkd_batch_run(c->d, record_denial, &x, err);
	if (r < 0)
		return r;
	lkd_log(c->d, LOG_NOTICE, "uid %u denied for service %s: %s", (unsigned)c->uid,
	        c->auth.service, reason);
	return send_result(c, pam_code, reason, NULL, NULL, x.seq, err);
}

/* One decision by the engine, as a unit of the open batch. */
struct decision {
	struct conn *c;
	const struct lk_auth_request *req;
	struct lk_auth_result *res;
};

static int decide(struct daemon *d, void *arg, struct lk_err *err)
{
	struct decision *x = arg;
	int64_t now;
	int r;

	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the clock");
	r = lk_engine_authenticate(d->engine, x->req, now, x->res, err);
	/* A round that ends in a prompt decided nothing and the engine undid
	 * it whole (no code used up, no count, no row): no commit to wait for
	 * before asking. */
	return r == LK_OK && x->res->need_input ? 1 : r;
}

/* One PROMPT/ANSWER round: the answer replaces or joins the AUTH's inputs
 * (so the secrets stay in one struct), and the ANSWER is wiped at once. */
static int prompt(struct conn *c, const struct lk_auth_result *res, struct lk_err *err)
{
	struct lk_msg_input *slot = NULL;
	int r;

	lk_msg_wipe(&c->out);
	c->out.type = LK_MSG_PROMPT;
	snprintf(c->out.inputs[0].name, sizeof(c->out.inputs[0].name), "%s", res->prompt_input);
	c->out.n_inputs = 1;
	snprintf(c->out.prompt_text, sizeof(c->out.prompt_text), "%s", res->prompt_text);
	c->out.echo = res->prompt_echo ? 1 : 0;
	if ((r = send_msg(c, err)) < 0)
		return r;
	if ((r = read_msg(c, &c->in, LK_MSG_ANSWER, err)) < 0)
		return r;
	if (c->in.n_inputs != 1 || strcmp(c->in.inputs[0].name, res->prompt_input) != 0) {
		lk_msg_wipe(&c->in);
		return lk_err_set(err, LK_EINVAL, "the answer is not for input '%s'",
		                  res->prompt_input);
	}
	if (strcmp(c->in.inputs[0].name, LK_CLIENT_CERT_INPUT) == 0) {
		/* The chain has a field of its own in the AUTH as well. */
		memcpy(c->auth.client_cert, c->in.client_cert, c->in.client_cert_len);
		c->auth.client_cert_len = c->in.client_cert_len;
		lk_msg_wipe(&c->in);
		return LK_OK;
	}
	for (size_t i = 0; i < c->auth.n_inputs; i++)
		if (strcmp(c->auth.inputs[i].name, c->in.inputs[0].name) == 0)
			slot = &c->auth.inputs[i];
	if (slot == NULL && c->auth.n_inputs < LK_MSG_MAX_INPUTS)
		slot = &c->auth.inputs[c->auth.n_inputs++];
	if (slot == NULL) {
		lk_msg_wipe(&c->in);
		return lk_err_set(err, LK_EINVAL, "too many inputs");
	}
	sodium_memzero(slot, sizeof(*slot));
	memcpy(slot, &c->in.inputs[0], sizeof(*slot));
	lk_msg_wipe(&c->in);
	return LK_OK;
}

static int serve_account(struct conn *c, struct lk_err *err)
{
	struct lkd_account a = { .peer_uid = c->uid,
		                 .service = c->auth.service,
		                 .user = c->auth.user,
		                 .credential = c->auth.credential };
	int r = lkd_account(c->d, &a, err);

	if (r < 0)
		return r;
	return send_result(c, a.pam_code, a.reason, NULL, NULL, a.audit_seq, err);
}

static int serve_session(struct conn *c, struct lk_err *err)
{
	struct lkd_session s = { .peer_uid = c->uid,
		                 .service = c->auth.service,
		                 .user = c->auth.user,
		                 .rhost = c->auth.rhost,
		                 .credential = c->auth.credential,
		                 .open = c->auth.event == LK_SESSION_OPEN };
	int r = lkd_session(c->d, &s, err);

	if (r < 0)
		return r;
	return send_result(c, PAM_SUCCESS, "ok", NULL, NULL, s.audit_seq, err);
}

static int serve(struct conn *c, struct lk_err *err)
{
	struct daemon *d = c->d;
	struct lk_auth_result res;
	const char *scopes[LK_MSG_MAX_SCOPES];
	int r;

	/* HELLO */
	r = read_msg(c, &c->in, LK_MSG_HELLO, err);
	if (r < 0)
		return r;
	if (c->in.min_version > LK_PROTO_VERSION || c->in.max_version < LK_PROTO_VERSION) {
		r = lk_err_set(err, LK_EINVAL, "unsupported protocol version (%u..%u; this is %u)",
		               c->in.min_version, c->in.max_version, LK_PROTO_VERSION);
		lk_msg_wipe(&c->in);
		return r;
	}
	lk_msg_wipe(&c->in);
	c->out.type = LK_MSG_HELLO;
	c->out.version = LK_PROTO_VERSION;
	if ((r = send_msg(c, err)) < 0)
		return r;

	/* AUTH, ACCOUNT or SESSION: a peer speaks only for its services. */
	if ((r = read_msg(c, &c->auth, 0, err)) < 0)
		return r;
	if (c->auth.type != LK_MSG_AUTH && c->auth.type != LK_MSG_ACCOUNT &&
	    c->auth.type != LK_MSG_SESSION) {
		r = lk_err_set(err, LK_EINVAL, "unexpected message type %u", c->auth.type);
		lk_msg_wipe(&c->auth);
		return r;
	}
	if (!peer_allowed(d->cfg, c->uid, c->auth.service))
		return deny_audited(c, PAM_PERM_DENIED, "auth.peer-denied", "peer-not-allowed",
		                    err);
	if (c->auth.type == LK_MSG_ACCOUNT)
		return serve_account(c, err);
	if (c->auth.type == LK_MSG_SESSION)
		return serve_session(c, err);
	for (size_t i = 0; i < c->auth.n_scopes; i++)
		scopes[i] = c->auth.scopes[i];

	for (int round = 0;; round++) {
		size_t n_inputs = c->auth.n_inputs;
		for (size_t i = 0; i < c->auth.n_inputs; i++)
			c->inputs[i] = (struct lk_plugin_input){
				.name = c->auth.inputs[i].name,
				.value = (const char *)c->auth.inputs[i].value,
				.len = c->auth.inputs[i].len,
			};
		if (c->auth.client_cert_len > 0)
			c->inputs[n_inputs++] = (struct lk_plugin_input){
				.name = LK_CLIENT_CERT_INPUT,
				.value = (const char *)c->auth.client_cert,
				.len = c->auth.client_cert_len,
			};
		memset(&res, 0, sizeof(res));
		r = lkd_batch_run(d, decide,
		                  &(struct decision){
		                      .c = c,
		                      .req =
		                          &(struct lk_auth_request){
		                              .service = c->auth.service,
		                              .user = c->auth.user[0] ? c->auth.user : NULL,
		                              .rhost = c->auth.rhost[0] ? c->auth.rhost : NULL,
		                              .scopes = scopes,
		                              .n_scopes = c->auth.n_scopes,
		                              .inputs = c->inputs,
		                              .n_inputs = n_inputs,
		                              .actor = (int64_t)c->uid,
		                          },
		                      .res = &res,
		                  },
		                  err);
		sodium_memzero(c->inputs, sizeof(c->inputs));
		if (r < 0)
			return r;
		if (!res.need_input)
			break;
		if (round >= LKD_MAX_ROUNDS) {
			/* The inputs (secrets) go now; the service stays for the row. */
			for (size_t i = 0; i < c->auth.n_inputs; i++)
				sodium_memzero(&c->auth.inputs[i], sizeof(c->auth.inputs[i]));
			c->auth.n_inputs = 0;
			return deny_audited(c, PAM_AUTH_ERR, "auth.too-many-rounds",
			                    "too-many-rounds", err);
		}
		if ((r = prompt(c, &res, err)) < 0)
			return r;
	}
	lk_msg_wipe(&c->auth);
	/* Only a decision the engine made says success; never a fallback.
	 * The key id goes back so account management can ask about it. */
	return send_result(c, res.pam_code, res.reason, res.principal[0] ? res.principal : NULL,
	                   res.pam_code == PAM_SUCCESS ? res.credential : NULL, res.audit_seq, err);
}

/* One set of buffers per worker thread, kept: allocating and freeing
 * ~200 KiB per connection costs more than the decision. Wiped after every
 * connection, and freed when the worker ends. */
static pthread_key_t conn_key;
static pthread_once_t conn_key_once = PTHREAD_ONCE_INIT;

static void conn_free(void *p)
{
	sodium_memzero(p, sizeof(struct conn));
	free(p);
}

static void conn_key_make(void)
{
	(void)pthread_key_create(&conn_key, conn_free);
}

static struct conn *thread_conn(void)
{
	struct conn *c;

	pthread_once(&conn_key_once, conn_key_make);
	c = pthread_getspecific(conn_key);
	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL &&
	    pthread_setspecific(conn_key, c) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

struct protocol_error {
	uid_t uid;
	const char *why;
};

static int record_protocol_error(struct daemon *d, void *arg, struct lk_err *err)
{
	struct protocol_error *x = arg;
	char detail[300];
	int64_t now;
	int r;

	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the clock");
	/* The codec's messages name fields and bounds, never input values. */
	snprintf(detail, sizeof(detail), "error=%.250s",
	         lk_text_valid(x->why, 256) ? x->why : "(unprintable)");
	return lk_audit_record(d->store,
	                       &(struct lk_audit_event){ .ts = now,
	                                                 .actor_uid = (int64_t)x->uid,
	                                                 .action = "auth.protocol-error",
	                                                 .reason = "protocol-error",
	                                                 .detail = detail },
	                       NULL, err);
}

void *lkd_auth_conn(void *arg)
{
	struct lkd_peer *peer = arg;
	struct daemon *d = peer->d;
	struct lk_err err = { { 0 } };
	struct conn *c;
	bool listed = peer_listed(d->cfg, peer->uid);
	int r;

	/* Any local user may connect (the socket is 0666), so uids that are
	 * no host service of ours get a few workers at most and a short read
	 * deadline: idle connections cannot hold every worker and starve the
	 * services' logins. They are still answered, and refused, in full. */
	if (!listed &&
	    __atomic_add_fetch(&d->unlisted_conns, 1, __ATOMIC_SEQ_CST) > LKD_MAX_UNLISTED) {
		__atomic_sub_fetch(&d->unlisted_conns, 1, __ATOMIC_SEQ_CST);
		close(peer->fd);
		lkd_peer_done(peer);
		return NULL;
	}
	c = thread_conn();

	if (c == NULL) {
		lkd_log(d, LOG_ERR, "out of memory for a connection from uid %u",
		        (unsigned)peer->uid);
		close(peer->fd);
		lkd_peer_done(peer);
		return NULL;
	}
	c->d = d;
	c->fd = peer->fd;
	c->uid = peer->uid;
	c->timeout_ms = listed ? LKD_IO_TIMEOUT_MS : LKD_UNLISTED_TIMEOUT_MS;
	if ((r = serve(c, &err)) < 0) {
		lkd_log(d, LOG_WARNING, "connection from uid %u: %s", (unsigned)c->uid, err.msg);
		send_error(c, err.msg);
		/* Malformed, oversized or out-of-order input is audited (a
		 * closed connection or a timeout is not input). */
		if (r == LK_EINVAL) {
			struct lk_err aerr = { { 0 } };
			struct protocol_error x = { .uid = c->uid, .why = err.msg };
			if (lkd_batch_run(d, record_protocol_error, &x, &aerr) < 0)
				lkd_log(d, LOG_ERR, "cannot audit a protocol error: %s", aerr.msg);
		}
	}
	close(c->fd);
	lk_msg_wipe(&c->in);
	lk_msg_wipe(&c->auth);
	lk_msg_wipe(&c->out);
	sodium_memzero(c->inputs, sizeof(c->inputs));
	c->fd = -1;
	if (!listed)
		__atomic_sub_fetch(&d->unlisted_conns, 1, __ATOMIC_SEQ_CST);
	lkd_peer_done(peer);
	return NULL;
}
