/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkeyd: hosts the policy engine behind the auth socket, so that only
 * this process holds the master key and writes the audit log (DESIGN.md,
 * "Why a daemon", "Daemon protocol").
 *
 * One thread per connection (at most LKD_MAX_CONNS), one engine behind a
 * lock with audit group commit (batch.c), peer uids checked against the
 * config's auth_peer lines (auth.c). SIGHUP reloads policies and plugins;
 * SIGTERM stops accepting, lets requests in flight finish and commit, signs
 * a last audit checkpoint and exits. Between signals the main thread signs
 * a checkpoint every checkpoint_interval (checkpoint.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon-private.h"
#include "util-private.h"

void lkd_log(const struct daemon *d, int level, const char *fmt, ...)
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

/* ---- Main ---- */

/* A socket the daemon listens on and the thread body for its peers. */
struct listener {
	const char *what; /* the config setting, for messages */
	const char *path;
	mode_t mode;
	void *(*handler)(void *);
	int fd;
};

/* SIGHUP: policies and plugins anew, between two batches. */
static void reload(struct daemon *d)
{
	struct lk_err err = { { 0 } };
	int r, synced;

	lkd_lock(d);
	r = lkd_batch_finish(d, &err);
	if (r == LK_OK)
		r = lk_engine_reload(d->engine, (int64_t)geteuid(), &err);
	synced = lkd_unlock(d);
	if (r < 0)
		lkd_log(d, LOG_ERR, "reload failed, the previous policies stay: %s", err.msg);
	else if (synced < 0)
		lkd_log(d, LOG_ERR,
		        "reloaded policies and plugins, but their audit rows could "
		        "not be synced to disk");
	else
		lkd_log(d, LOG_INFO, "reloaded policies and plugins");
}

static int run(struct daemon *d, struct listener *ls, size_t n_ls, int sfd)
{
	struct lk_err err = { { 0 } };
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };

	for (size_t i = 0; i < n_ls; i++) {
		if (lkd_serve(d, ls[i].fd, ls[i].handler, &err) < 0) {
			lkd_log(d, LOG_ERR, "%s", err.msg);
			return 1;
		}
		lkd_log(d, LOG_INFO, "listening on %s", ls[i].path);
	}
	for (;;) {
		struct signalfd_siginfo si;
		int n = poll(&pfd, 1, lkd_checkpoint_wait_ms(d));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			lkd_log(d, LOG_ERR, "poll: %s", strerror(errno));
			return 1;
		}
		if (n == 0) {
			/* Due even when nothing happened: a quiet log is vouched
			 * for too. A failure is logged; the daemon goes on. */
			(void)lkd_checkpoint(d, LK_CHECKPOINT_INTERVAL);
			continue;
		}
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			reload(d);
			continue;
		}
		lkd_log(d, LOG_INFO, "signal %u: stopping", si.ssi_signo);
		return 0;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: latchkeyd [-c CONFIG] [--foreground]\n");
}

static int start(struct daemon *d, const char *config, struct listener *ls, size_t *n_ls,
                 struct lk_err *err)
{
	int r;

	if ((r = lk_config_load(lk_config_locate(config), &d->cfg, err)) < 0)
		return r;
	if (d->cfg->auth_socket == NULL)
		return lk_err_set(err, LK_EINVAL, "%s sets no auth_socket", d->cfg->path);
	if (d->cfg->plugin_dir == NULL)
		return lk_err_set(err, LK_EINVAL, "%s sets no plugin_dir", d->cfg->path);
	/* Anyone may connect to the auth socket: who may ask for what is
	 * decided by SO_PEERCRED. */
	ls[(*n_ls)++] = (struct listener){ .what = "auth_socket",
		                           .path = d->cfg->auth_socket,
		                           .mode = 0666,
		                           .handler = lkd_auth_conn,
		                           .fd = -1 };
	/* Likewise the admin socket: the peer's uid and groups decide its role. */
	if (d->cfg->admin_socket != NULL)
		ls[(*n_ls)++] = (struct listener){ .what = "admin_socket",
			                           .path = d->cfg->admin_socket,
			                           .mode = 0666,
			                           .handler = lkd_admin_conn,
			                           .fd = -1 };
	for (size_t i = 0; i < *n_ls; i++)
		if ((r = lkd_check_socket_dir(ls[i].what, ls[i].path, err)) < 0)
			return r;
	if ((r = lk_master_load(d->cfg->master_key, &d->master, err)) < 0)
		return r;
	if ((r = lk_store_open(d->cfg->database, 0, d->master, &d->store, err)) < 0)
		return r;
	/* SQLite syncs each commit itself only when each decision is committed
	 * alone; with group commit batch.c syncs the log outside the lock. */
	if ((r = lk_store_set_durability(
	         d->store, !d->cfg->durability_normal && !lkd_external_sync(d), err)) < 0)
		return r;
	if ((r = lkd_sync_open(d, err)) < 0)
		return r;
	/* A pack's directory that a killed latchkeyd left (report.c). */
	lkd_pack_sweep(d);
	if ((r = lkd_checkpoint_setup(d, err)) < 0)
		return r;
	if ((r = lk_engine_new(d->store, d->cfg->policy_dir, d->cfg->plugin_dir, &d->engine, err)) <
	    0)
		return r;
	lk_engine_set_log(d->engine, engine_log, d);
	/* Policies and plugins once, then on SIGHUP: not per request. */
	if ((r = lk_engine_reload(d->engine, (int64_t)geteuid(), err)) < 0)
		return r;
	for (size_t i = 0; i < *n_ls; i++)
		if ((r = lkd_listen(ls[i].what, ls[i].path, ls[i].mode, &ls[i].fd, err)) < 0)
			return r;
	return LK_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .wal_fd = -1, .stream_fd = -1 };
	struct listener ls[3];
	struct lk_err err = { { 0 } };
	const char *config = NULL;
	sigset_t mask;
	size_t n_ls = 0;
	int opt, sfd = -1, status = 1;

	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
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
		lkd_log(&d, LOG_ERR, "cannot initialise libsodium");
		return 1;
	}
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	/* SIGTERM/SIGINT/SIGHUP arrive through a signalfd in the main loop;
	 * blocked before any thread starts, so every thread inherits the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		lkd_log(&d, LOG_ERR, "cannot set up signals: %s", strerror(errno));
		return 1;
	}
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.batch_done, NULL);
	pthread_mutex_init(&d.conn_lock, NULL);
	pthread_cond_init(&d.conn_done, NULL);

	if (start(&d, config, ls, &n_ls, &err) < 0) {
		lkd_log(&d, LOG_ERR, "cannot start: %s", err.msg);
		status = 1;
	} else {
		status = run(&d, ls, n_ls, sfd);
	}

	/* Stop accepting, let requests in flight finish and commit, then go. */
	lkd_stop_serving(&d);
	for (size_t i = 0; i < n_ls; i++) {
		if (ls[i].fd < 0)
			continue;
		close(ls[i].fd);
		unlink(ls[i].path);
	}
	/* Stopped by a signal: the log's last state is signed before exit.
	 * (A start that failed has nothing new to vouch for.) */
	if (status == 0 && d.store != NULL && lkd_checkpoint(&d, LK_CHECKPOINT_SHUTDOWN) < 0)
		status = 1;
	if (d.store != NULL) {
		lkd_lock(&d);
		if (lkd_batch_finish(&d, &err) < 0)
			status = 1;
		lkd_unlock(&d);
		if (!lkd_healthy(&d))
			status = 1;
		if (d.n_batches > 0)
			lkd_log(
			    &d, LOG_INFO,
			    "%llu decisions and events committed in %llu batches, %llu log syncs",
			    d.n_units, d.n_batches, d.n_syncs);
	}
	lk_engine_free(d.engine);
	lk_store_close(d.store);
	if (d.wal_fd >= 0)
		close(d.wal_fd);
	lk_master_free(d.master);
	lk_signer_free(d.signer);
	lk_config_free(d.cfg);
	close(sfd);
	return status;
}
