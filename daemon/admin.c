/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin socket (core/admin-proto-private.h, docs/decisions/
 * 0006-admin-socket.md): a peer's `latchkey` verb runs here, in process,
 * with the same command code the CLI runs with --offline, against this
 * daemon's store and master key, as the peer's uid and with the role the
 * config gives it. Output is captured and sent back; a new key in it is
 * revoked unless the client acknowledges that it was written out.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "admin-proto-private.h"
#include "cli-private.h"
#include "daemon-private.h"
#include "util-private.h"

/* The most a verb may print (an audit log of some 400,000 rows): held in
 * memory until the verb is done, so the engine lock is never held while a
 * slow client reads. Narrower queries (--since, --limit) fit. */
#define CAPTURE_MAX (64 * 1024 * 1024)

/* A verb's stdout or stderr. Every buffer it passes through is ours, so it
 * can be wiped: the output may hold a new key. */
struct capture {
	FILE *f;
	unsigned char *data;
	size_t len, cap;
	bool failed; /* over CAPTURE_MAX, or out of memory */
	char stdio_buf[4096];
};

struct admin_conn {
	struct daemon *d;
	int fd;
	uid_t uid;
	gid_t gid;
	enum lk_role role;
	const struct cli_verb *verb;
	unsigned char buf[LK_ADMIN_FRAME_BUF];
	struct lk_admin_request req;
	struct capture out, err;
	struct cli c;
};

static ssize_t capture_write(void *cookie, const char *p, size_t n)
{
	struct capture *cp = cookie;
	unsigned char *grown;
	size_t cap;

	if (cp->failed || n > CAPTURE_MAX - cp->len) {
		cp->failed = true;
		errno = EFBIG;
		return -1;
	}
	if (cp->len + n > cp->cap) {
		for (cap = cp->cap ? cp->cap : 4096; cap < cp->len + n; cap *= 2)
			;
		/* Not realloc: the old block is wiped before it is freed. */
		grown = malloc(cap);
		if (grown == NULL) {
			cp->failed = true;
			errno = ENOMEM;
			return -1;
		}
		if (cp->len > 0)
			memcpy(grown, cp->data, cp->len);
		if (cp->data != NULL)
			sodium_memzero(cp->data, cp->cap);
		free(cp->data);
		cp->data = grown;
		cp->cap = cap;
	}
	memcpy(cp->data + cp->len, p, n);
	cp->len += n;
	return (ssize_t)n;
}

static bool capture_open(struct capture *cp)
{
	cp->f = fopencookie(cp, "w", (cookie_io_functions_t){ .write = capture_write });
	if (cp->f == NULL)
		return false;
	setvbuf(cp->f, cp->stdio_buf, _IOFBF, sizeof(cp->stdio_buf));
	return true;
}

/* Flushes the stream into data and closes it; false if anything was lost. */
static bool capture_close(struct capture *cp)
{
	bool ok = false;

	if (cp->f != NULL) {
		ok = fflush(cp->f) == 0 && !ferror(cp->f);
		fclose(cp->f);
		cp->f = NULL;
	}
	sodium_memzero(cp->stdio_buf, sizeof(cp->stdio_buf));
	return ok && !cp->failed;
}

static void capture_wipe(struct capture *cp)
{
	(void)capture_close(cp);
	if (cp->data != NULL)
		sodium_memzero(cp->data, cp->cap);
	free(cp->data);
	*cp = (struct capture){ 0 };
}

static int send_msg(struct admin_conn *a, const struct lk_admin_msg *m, struct lk_err *err)
{
	size_t len = 0;
	int r;

	r = lk_admin_encode(m, a->buf, sizeof(a->buf), &len, err);
	if (r == LK_OK)
		r = lk_frame_write(a->fd, a->buf, len, LKD_IO_TIMEOUT_MS, err);
	sodium_memzero(a->buf, len);
	return r;
}

/* Tries to tell the peer why nothing was run; the connection closes after. */
static void send_error(struct admin_conn *a, const char *msg)
{
	struct lk_admin_msg m = { .type = LK_ADMIN_ERROR };
	struct lk_err err = { { 0 } };

	snprintf(m.error, sizeof(m.error), "%s", msg[0] ? msg : "internal error");
	for (char *p = m.error; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	(void)send_msg(a, &m, &err);
}

static int send_chunks(struct admin_conn *a, enum lk_admin_type type, const struct capture *cp,
                       struct lk_err *err)
{
	for (size_t off = 0; off < cp->len; off += LK_ADMIN_CHUNK_MAX) {
		size_t n = cp->len - off < LK_ADMIN_CHUNK_MAX ? cp->len - off : LK_ADMIN_CHUNK_MAX;
		int r = send_msg(
		    a, &(struct lk_admin_msg){ .type = type, .data = cp->data + off, .len = n },
		    err);
		if (r < 0)
			return r;
	}
	return LK_OK;
}

/* The captured output, then END: ack asks the client to confirm it wrote
 * stdout out. */
static int send_reply(struct admin_conn *a, int status, bool ack, struct lk_err *err)
{
	int r;

	if ((r = send_chunks(a, LK_ADMIN_OUT, &a->out, err)) < 0)
		return r;
	if ((r = send_chunks(a, LK_ADMIN_ERR, &a->err, err)) < 0)
		return r;
	return send_msg(a,
	                &(struct lk_admin_msg){
	                    .type = LK_ADMIN_END, .exit_status = (uint8_t)status, .ack = ack },
	                err);
}

/* Fresh captures for c to write to. */
static int begin_output(struct admin_conn *a, struct lk_err *err)
{
	capture_wipe(&a->out);
	capture_wipe(&a->err);
	if (!capture_open(&a->out) || !capture_open(&a->err))
		return lk_err_set(err, LK_ENOMEM, "cannot capture output: %s", strerror(errno));
	a->c.out = a->out.f;
	a->c.err = a->err.f;
	return LK_OK;
}

/* With the engine lock, outside any auth batch: a verb's transactions are
 * its own, never part of a batch that others' replies wait on. */
static int lock_for_verb(struct admin_conn *a)
{
	struct lk_err err = { { 0 } };

	lkd_lock(a->d);
	if (!lkd_healthy_locked(a->d))
		return cli_fail(&a->c, LK_ESTORE,
		                "the audit log could not be synced to disk; restart latchkeyd");
	if (lkd_batch_finish(a->d, &err) < 0)
		return cli_fail(&a->c, LK_ESTORE, "the audit log cannot be written: %s", err.msg);
	if (lk_now(&a->c.now) < 0)
		return cli_fail(&a->c, LK_EIO,
		                "the system clock is unreadable or not set; refusing to act");
	return EXIT_OK;
}

static int run_verb(struct admin_conn *a)
{
	struct daemon *d = a->d;
	struct lk_err err = { { 0 } };
	int status;

	if ((status = lock_for_verb(a)) == EXIT_OK)
		status = cli_run(&a->c, a->req.argc, a->req.argv);
	/* policy mfa rewrote a policy file: the engine serves the new one. */
	if (a->c.policy_changed && lk_engine_reload(d->engine, a->c.actor, &err) < 0)
		lkd_log(d, LOG_ERR,
		        "reload after a policy change failed, the previous policies stay: %s",
		        err.msg);
	/* Nothing is confirmed that is not on disk. */
	if (lkd_unlock(d) < 0 && status == EXIT_OK)
		status =
		    cli_fail(&a->c, LK_ESTORE,
		             "the change may not be on disk: the audit log could not be synced");
	return status;
}

/* The new keys in a reply nobody confirmed: revoked, so no key stays valid
 * that nobody holds. Messages go to fresh captures (for a client that is
 * still there). */
static int revoke_undelivered(struct admin_conn *a, const char *why)
{
	struct lk_err err = { { 0 } };
	int status = EXIT_SYSTEM;

	if (begin_output(a, &err) < 0) {
		/* Nowhere to write messages (cli_fail skips NULL): revoke anyway. */
		a->c.out = a->c.err = NULL;
		lkd_log(a->d, LOG_ERR, "%s", err.msg);
	}
	if (lock_for_verb(a) == EXIT_OK) {
		for (size_t i = 0; i < a->c.n_new_kids; i++) {
			(void)cli_revoke_undelivered(&a->c, a->c.new_kids[i]);
			lkd_log(a->d, LOG_WARNING,
			        "new key %s for uid %u was not delivered (%s): revoked",
			        a->c.new_kids[i], (unsigned)a->uid, why);
		}
		/* The same for a TOTP seed or recovery codes nobody holds. */
		for (size_t i = 0; i < a->c.n_new_totp; i++) {
			(void)cli_totp_void_undelivered(&a->c, &a->c.new_totp[i]);
			lkd_log(a->d, LOG_WARNING,
			        "TOTP %s of credential %s for uid %u not delivered (%s): voided",
			        a->c.new_totp[i].enrollment ? "enrollment" : "recovery codes",
			        a->c.new_totp[i].cred_id, (unsigned)a->uid, why);
		}
	}
	lkd_unlock(a->d);
	if (!capture_close(&a->out) || !capture_close(&a->err))
		status = EXIT_SYSTEM;
	return status;
}

/* After a reply with new keys: the client's ACK says whether its stdout
 * took them. Anything else (no answer in time, a closed connection,
 * garbage) revokes them. */
static int await_ack(struct admin_conn *a, int status, struct lk_err *err)
{
	struct lk_admin_msg m;
	size_t len = 0;
	int r;

	r = lk_frame_read(a->fd, a->buf, sizeof(a->buf), &len, LKD_IO_TIMEOUT_MS, err);
	if (r == LK_OK)
		r = lk_admin_decode(a->buf, len, &m, err);
	if (r == LK_OK && m.type != LK_ADMIN_ACK)
		r = lk_err_set(err, LK_EINVAL, "expected an ACK, got message type %u",
		               (unsigned)m.type);
	sodium_memzero(a->buf, sizeof(a->buf));
	if (r < 0) {
		(void)revoke_undelivered(a, err->msg);
		return r;
	}
	if (m.ack) {
		capture_wipe(&a->out);
		capture_wipe(&a->err);
	} else {
		status = revoke_undelivered(a, "the client could not write it out");
	}
	return send_reply(a, status, false, err);
}

/* A connection closed before its first byte: a probe, nothing to log. */
static bool closed_unused(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;

	return poll(&p, 1, LKD_IO_TIMEOUT_MS) == 1 && recv(fd, &b, 1, MSG_PEEK) == 0;
}

static enum lk_role peer_role(const struct daemon *d, uid_t uid, gid_t gid)
{
	struct lk_err err = { { 0 } };
	gid_t *gids = NULL;
	size_t n_gids = 0;
	enum lk_role role;

	if (lk_peer_groups(uid, gid, &gids, &n_gids, &err) < 0) {
		lkd_log(d, LOG_ERR, "groups of uid %u: %s", (unsigned)uid, err.msg);
		/* Without the groups, only what the uid alone is given. */
		return lk_config_role(d->cfg, uid, &gid, 1, geteuid());
	}
	role = lk_config_role(d->cfg, uid, gids, n_gids, geteuid());
	free(gids);
	return role;
}

static int serve(struct admin_conn *a, struct lk_err *err)
{
	size_t len = 0;
	bool captured;
	int status, r;

	a->role = peer_role(a->d, a->uid, a->gid);
	r = lk_frame_read(a->fd, a->buf, sizeof(a->buf), &len, LKD_IO_TIMEOUT_MS, err);
	if (r == LK_OK)
		r = lk_admin_request_decode(a->buf, len, &a->req, err);
	sodium_memzero(a->buf, sizeof(a->buf)); /* the request's stdin is a secret */
	if (r < 0)
		return r;
	a->verb = cli_verb_find(a->req.argc, a->req.argv);
	if (a->req.has_in && !cli_verb_reads_stdin(a->verb))
		return lk_err_set(err, LK_EINVAL, "standard input for a verb that reads none");
	if ((r = begin_output(a, err)) < 0)
		return r;
	a->c = (struct cli){ .json = a->req.json,
		             .cfg = a->d->cfg,
		             .master = a->d->master,
		             .store = a->d->store,
		             .signer = a->d->signer,
		             .actor = (int64_t)a->uid,
		             .role = a->role,
		             .out = a->out.f,
		             .err = a->err.f,
		             .in_daemon = true,
		             .in = a->req.in,
		             .in_len = a->req.in_len };
	status = run_verb(a);
	lk_admin_request_free(&a->req);
	lkd_log(a->d, a->c.denied ? LOG_NOTICE : LOG_INFO, "uid %u (%s): %s: exit %d",
	        (unsigned)a->uid, lk_role_str(a->role), a->verb ? a->verb->name : "unknown command",
	        status);
	captured = capture_close(&a->out) & capture_close(&a->err);
	if (!captured) {
		/* Part of the output is lost: never pass the rest off as all. */
		if (cli_has_new_secrets(&a->c))
			(void)revoke_undelivered(a, "its output could not be captured");
		return lk_err_set(err, LK_EIO,
		                  "the output is over %d MiB or out of memory; narrow the query "
		                  "(audit log --since, --limit)",
		                  CAPTURE_MAX / (1024 * 1024));
	}
	if (!cli_has_new_secrets(&a->c))
		return send_reply(a, status, false, err);
	r = send_reply(a, status, true, err);
	/* The keys are on their way (or not): no copy stays here. */
	capture_wipe(&a->out);
	capture_wipe(&a->err);
	if (r < 0) {
		(void)revoke_undelivered(a, err->msg);
		return r;
	}
	return await_ack(a, status, err);
}

void *lkd_admin_conn(void *arg)
{
	struct lkd_peer *peer = arg;
	struct daemon *d = peer->d;
	struct lk_err err = { { 0 } };
	struct admin_conn *a;

	/* A 64 KiB frame buffer: the heap, not the stack. */
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		lkd_log(d, LOG_ERR, "out of memory for an admin connection from uid %u",
		        (unsigned)peer->uid);
		close(peer->fd);
		lkd_peer_done(peer);
		return NULL;
	}
	a->d = d;
	a->fd = peer->fd;
	a->uid = peer->uid;
	a->gid = peer->gid;
	if (closed_unused(a->fd)) {
		/* `latchkey --offline` asking whether a daemon answers. */
	} else if (serve(a, &err) < 0) {
		lkd_log(d, LOG_WARNING, "admin connection from uid %u: %s", (unsigned)a->uid,
		        err.msg);
		send_error(a, err.msg);
	}
	close(a->fd);
	lk_admin_request_free(&a->req);
	capture_wipe(&a->out);
	capture_wipe(&a->err);
	free(a->c.new_kids);
	free(a->c.new_totp);
	sodium_memzero(a, sizeof(*a));
	free(a);
	lkd_peer_done(peer);
	return NULL;
}
