/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkeyd: hosts the policy engine behind the auth socket, so that only
 * this process holds the master key and writes the audit log (DESIGN.md,
 * "Why a daemon", "Daemon protocol").
 *
 * This first slice: the auth socket only. One thread per connection (at
 * most LKD_MAX_CONNS), one shared engine behind a mutex (the store is not
 * thread-safe), peer uids checked against the config's auth_peer lines.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "audit-private.h"
#include "config-private.h"
#include "engine-private.h"
#include "masterkey-private.h"
#include "protocol-private.h"
#include "store-private.h"
#include "util-private.h"

#define LKD_MAX_CONNS     64
#define LKD_IO_TIMEOUT_MS 10000
#define LKD_MAX_ROUNDS    4

struct daemon {
	struct lk_config *cfg;
	struct lk_master *master;
	struct lk_store *store;
	struct lk_engine *engine;
	bool foreground;
	int listen_fd;
	bool socket_made;

	pthread_mutex_t engine_lock; /* the engine and the store */
	pthread_mutex_t conn_lock;
	pthread_cond_t conn_done;
	unsigned n_conns;
};

/* One connection's buffers: frames and messages may hold input values
 * (secrets), so the whole thing is wiped before it is freed. */
struct conn {
	struct daemon *d;
	int fd;
	uid_t uid;
	unsigned char buf[LK_FRAME_MAX + 4];
	struct lk_msg in;   /* the last message read (HELLO, ANSWER) */
	struct lk_msg auth; /* the AUTH, answers appended to its inputs */
	struct lk_msg out;
	struct lk_plugin_input inputs[LK_MSG_MAX_INPUTS];
};

static void dlog(const struct daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dlog(const struct daemon *d, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lk_redact_keys(msg);
	if (d == NULL || d->foreground)
		fprintf(stderr, "latchkeyd: %s\n", msg);
	else
		syslog(level, "%s", msg);
}

static void engine_log(void *ctx, int level, const char *msg)
{
	const struct daemon *d = ctx;

	if (d->foreground)
		fprintf(stderr, "latchkeyd: %s\n", msg);
	else
		syslog(level, "%s", msg);
}

/* ---- Start-up checks ---- */

/* The socket's directory: a directory owned by us, writable by nobody
 * else (another user could otherwise replace the socket). */
static int check_socket_dir(const char *sock, struct lk_err *err)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return lk_err_set(err, LK_EINVAL, "auth_socket path %s is too long", sock);
	snprintf(dir, sizeof(dir), "%s", sock);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0)
		return lk_err_set(err, LK_EIO, "socket directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return lk_err_set(err, LK_EINVAL, "socket directory %s is not a directory", dir);
	if (st.st_uid != geteuid())
		return lk_err_set(
		    err, LK_EINVAL,
		    "socket directory %s is owned by uid %u, not by this daemon (uid %u)", dir,
		    (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return lk_err_set(err, LK_EINVAL,
		                  "socket directory %s is writable by group or others (mode %04o)",
		                  dir, (unsigned)(st.st_mode & 07777));
	return LK_OK;
}

static int open_socket(struct daemon *d, struct lk_err *err)
{
	const char *path = d->cfg->auth_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	/* A truncated path would bind somewhere else entirely. */
	if (strlen(path) >= sizeof(sa.sun_path))
		return lk_err_set(err, LK_EINVAL, "auth_socket path %s is longer than %zu bytes",
		                  path, sizeof(sa.sun_path) - 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
			return lk_err_set(err, LK_EEXIST,
			                  "%s exists and is not a socket of this daemon's user",
			                  path);
		/* Stale only if nobody answers: never take over a running daemon. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return lk_err_set(err, LK_EEXIST, "another latchkeyd is listening on %s",
			                  path);
		}
		if (fd >= 0)
			close(fd);
		if (unlink(path) != 0)
			return lk_err_set(err, LK_EIO, "cannot remove stale socket %s: %s", path,
			                  strerror(errno));
	} else if (errno != ENOENT) {
		return lk_err_set(err, LK_EIO, "cannot stat %s: %s", path, strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lk_err_set(err, LK_EIO, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return lk_err_set(err, LK_EIO, "cannot bind %s: %s", path, strerror(e));
	}
	d->socket_made = true;
	/* Anyone may connect: who may ask for what is decided by SO_PEERCRED. */
	if (chmod(path, 0666) != 0 || listen(fd, 128) != 0) {
		int e = errno;
		close(fd);
		return lk_err_set(err, LK_EIO, "cannot listen on %s: %s", path, strerror(e));
	}
	d->listen_fd = fd;
	return LK_OK;
}

/* ---- One connection ---- */

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
		r = lk_frame_write(c->fd, c->buf, len, LKD_IO_TIMEOUT_MS, err);
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
	size_t len;
	int r;

	r = lk_frame_read(c->fd, c->buf, sizeof(c->buf), &len, LKD_IO_TIMEOUT_MS, err);
	if (r == LK_OK)
		r = lk_msg_decode(c->buf, len, m, err);
	sodium_memzero(c->buf, sizeof(c->buf));
	if (r == LK_OK && m->type != want) {
		lk_msg_wipe(m);
		r = lk_err_set(err, LK_EINVAL, "unexpected message type %u", m->type);
	}
	return r;
}

static int send_result(struct conn *c, int pam_code, const char *reason, const char *principal,
                       int64_t audit_seq, struct lk_err *err)
{
	lk_msg_wipe(&c->out);
	c->out.type = LK_MSG_RESULT;
	c->out.pam_code = (uint32_t)pam_code;
	snprintf(c->out.reason, sizeof(c->out.reason), "%s", reason[0] ? reason : "unknown");
	if (principal != NULL)
		snprintf(c->out.principal, sizeof(c->out.principal), "%s", principal);
	c->out.audit_seq = audit_seq > 0 ? (uint64_t)audit_seq : 0;
	return send_msg(c, err);
}

/* An audited denial decided here, not by the engine. */
static int deny_audited(struct conn *c, int pam_code, const char *action, const char *reason,
                        struct lk_err *err)
{
	struct daemon *d = c->d;
	char detail[96];
	int64_t now, seq = 0;
	int r;

	snprintf(detail, sizeof(detail), "service=%s", c->auth.service);
	pthread_mutex_lock(&d->engine_lock);
	r = lk_now(&now);
	if (r < 0)
		lk_err_set(err, r, "cannot read the clock");
	else
		r = lk_audit_record(d->store,
		                    &(struct lk_audit_event){ .ts = now,
		                                              .actor_uid = (int64_t)c->uid,
		                                              .action = action,
		                                              .reason = reason,
		                                              .detail = detail },
		                    &seq, err);
	pthread_mutex_unlock(&d->engine_lock);
	if (r < 0)
		return r;
	dlog(d, LOG_NOTICE, "uid %u denied for service %s: %s", (unsigned)c->uid, c->auth.service,
	     reason);
	return send_result(c, pam_code, reason, NULL, seq, err);
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

static int serve(struct conn *c, struct lk_err *err)
{
	struct daemon *d = c->d;
	struct lk_auth_result res;
	const char *scopes[LK_MSG_MAX_SCOPES];
	int64_t now;
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

	/* AUTH */
	if ((r = read_msg(c, &c->auth, LK_MSG_AUTH, err)) < 0)
		return r;
	if (!peer_allowed(d->cfg, c->uid, c->auth.service))
		return deny_audited(c, PAM_PERM_DENIED, "auth.peer-denied", "peer-not-allowed",
		                    err);
	for (size_t i = 0; i < c->auth.n_scopes; i++)
		scopes[i] = c->auth.scopes[i];

	for (int round = 0;; round++) {
		for (size_t i = 0; i < c->auth.n_inputs; i++)
			c->inputs[i] = (struct lk_plugin_input){
				.name = c->auth.inputs[i].name,
				.value = (const char *)c->auth.inputs[i].value,
				.len = c->auth.inputs[i].len,
			};
		memset(&res, 0, sizeof(res));
		pthread_mutex_lock(&d->engine_lock);
		r = lk_now(&now);
		if (r < 0)
			lk_err_set(err, r, "cannot read the clock");
		else
			r = lk_engine_authenticate(
			    d->engine,
			    &(struct lk_auth_request){
			        .service = c->auth.service,
			        .user = c->auth.user[0] ? c->auth.user : NULL,
			        .rhost = c->auth.rhost[0] ? c->auth.rhost : NULL,
			        .scopes = scopes,
			        .n_scopes = c->auth.n_scopes,
			        .inputs = c->inputs,
			        .n_inputs = c->auth.n_inputs,
			        .actor = (int64_t)c->uid,
			    },
			    now, &res, err);
		pthread_mutex_unlock(&d->engine_lock);
		sodium_memzero(c->inputs, sizeof(c->inputs));
		if (r < 0)
			return r;
		if (!res.need_input)
			break;
		if (round >= LKD_MAX_ROUNDS) {
			lk_msg_wipe(&c->auth);
			return deny_audited(c, PAM_AUTH_ERR, "auth.too-many-rounds",
			                    "too-many-rounds", err);
		}
		if ((r = prompt(c, &res, err)) < 0)
			return r;
	}
	lk_msg_wipe(&c->auth);
	/* Only a decision the engine made says success; never a fallback. */
	return send_result(c, res.pam_code, res.reason, res.principal[0] ? res.principal : NULL,
	                   res.audit_seq, err);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct daemon *d = c->d;
	struct lk_err err = { { 0 } };

	if (serve(c, &err) < 0) {
		dlog(d, LOG_WARNING, "connection from uid %u: %s", (unsigned)c->uid, err.msg);
		send_error(c, err.msg);
	}
	close(c->fd);
	lk_msg_wipe(&c->in);
	lk_msg_wipe(&c->auth);
	lk_msg_wipe(&c->out);
	sodium_memzero(c, sizeof(*c));
	free(c);
	pthread_mutex_lock(&d->conn_lock);
	d->n_conns--;
	pthread_cond_broadcast(&d->conn_done);
	pthread_mutex_unlock(&d->conn_lock);
	return NULL;
}

static void accept_one(struct daemon *d)
{
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	pthread_attr_t attr;
	pthread_t tid;
	struct conn *c;
	int fd;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			dlog(d, LOG_WARNING, "accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 ||
	    cred_len != sizeof(cred)) {
		dlog(d, LOG_WARNING, "cannot read the peer's credentials: %s", strerror(errno));
		close(fd);
		return;
	}
	pthread_mutex_lock(&d->conn_lock);
	if (d->n_conns >= LKD_MAX_CONNS) {
		pthread_mutex_unlock(&d->conn_lock);
		dlog(d, LOG_WARNING, "too many connections: refusing uid %u", (unsigned)cred.uid);
		close(fd);
		return;
	}
	d->n_conns++;
	pthread_mutex_unlock(&d->conn_lock);

	c = calloc(1, sizeof(*c));
	if (c != NULL) {
		c->d = d;
		c->fd = fd;
		c->uid = cred.uid;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&tid, &attr, conn_main, c) == 0) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		free(c);
	}
	dlog(d, LOG_ERR, "cannot start a connection thread");
	close(fd);
	pthread_mutex_lock(&d->conn_lock);
	d->n_conns--;
	pthread_mutex_unlock(&d->conn_lock);
}

/* ---- Main ---- */

static int run(struct daemon *d, int sfd)
{
	struct pollfd pfd[2] = {
		{ .fd = d->listen_fd, .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
	};

	dlog(d, LOG_INFO, "listening on %s", d->cfg->auth_socket);
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			dlog(d, LOG_ERR, "poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
				dlog(d, LOG_INFO, "signal %u: stopping", si.ssi_signo);
				return 0;
			}
		}
		if (pfd[0].revents)
			accept_one(d);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: latchkeyd [-c CONFIG] [--foreground]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .listen_fd = -1 };
	struct lk_err err = { { 0 } };
	const char *cli_config = NULL, *path;
	sigset_t mask;
	int opt, sfd = -1, status = 1, r;

	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cli_config = optarg;
			break;
		case 'f':
			d.foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "latchkeyd: bad option '%.60s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "latchkeyd: unexpected argument '%.60s'\n", argv[optind]);
		return 2;
	}
	if (!d.foreground)
		openlog("latchkeyd", LOG_PID, LOG_AUTHPRIV);
	if (sodium_init() < 0) {
		dlog(&d, LOG_ERR, "cannot initialise libsodium");
		return 1;
	}
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	/* SIGTERM/SIGINT arrive through a signalfd in the main loop; blocked
	 * before any thread starts, so every thread inherits the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		dlog(&d, LOG_ERR, "cannot set up signals: %s", strerror(errno));
		return 1;
	}
	pthread_mutex_init(&d.engine_lock, NULL);
	pthread_mutex_init(&d.conn_lock, NULL);
	pthread_cond_init(&d.conn_done, NULL);

	path = lk_config_locate(cli_config);
	if ((r = lk_config_load(path, &d.cfg, &err)) < 0)
		goto fail;
	if (d.cfg->auth_socket == NULL) {
		lk_err_set(&err, LK_EINVAL, "%s sets no auth_socket", d.cfg->path);
		goto fail;
	}
	if (d.cfg->plugin_dir == NULL) {
		lk_err_set(&err, LK_EINVAL, "%s sets no plugin_dir", d.cfg->path);
		goto fail;
	}
	if ((r = check_socket_dir(d.cfg->auth_socket, &err)) < 0)
		goto fail;
	if ((r = lk_master_load(d.cfg->master_key, &d.master, &err)) < 0)
		goto fail;
	if ((r = lk_store_open(d.cfg->database, 0, d.master, &d.store, &err)) < 0)
		goto fail;
	if ((r = lk_engine_new(d.store, d.cfg->policy_dir, d.cfg->plugin_dir, &d.engine, &err)) < 0)
		goto fail;
	lk_engine_set_log(d.engine, engine_log, &d);
	if ((r = open_socket(&d, &err)) < 0)
		goto fail;

	status = run(&d, sfd);

	/* Stop accepting, let in-flight requests finish, then go. */
	close(d.listen_fd);
	d.listen_fd = -1;
	unlink(d.cfg->auth_socket);
	d.socket_made = false;
	pthread_mutex_lock(&d.conn_lock);
	while (d.n_conns > 0)
		pthread_cond_wait(&d.conn_done, &d.conn_lock);
	pthread_mutex_unlock(&d.conn_lock);
	goto out;
fail:
	dlog(&d, LOG_ERR, "cannot start: %s", err.msg);
	status = 1;
out:
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	if (d.socket_made)
		unlink(d.cfg->auth_socket);
	lk_engine_free(d.engine);
	lk_store_close(d.store);
	lk_master_free(d.master);
	lk_config_free(d.cfg);
	if (sfd >= 0)
		close(sfd);
	return status;
}
