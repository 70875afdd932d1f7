/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkeyd's parts: main.c (start-up, signals, the accept loop),
 * listen.c (sockets and peer credentials), batch.c (the engine lock and
 * audit group commit), auth.c (the auth socket's protocol), admin.c (the
 * admin socket), checkpoint.c (signed audit checkpoints on a timer).
 */
#ifndef LATCHKEYD_DAEMON_PRIVATE_H
#define LATCHKEYD_DAEMON_PRIVATE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "checkpoint-private.h"
#include "config-private.h"
#include "engine-private.h"
#include "error-private.h"
#include "masterkey-private.h"
#include "store-private.h"

#define LKD_MAX_CONNS     64
#define LKD_IO_TIMEOUT_MS 10000
/* Connections on the auth socket from uids with no auth_peer line (and not
 * root): at most this many at once, each frame within this deadline. */
#define LKD_MAX_UNLISTED        8
#define LKD_UNLISTED_TIMEOUT_MS 2000

struct lkd_waiter;
struct pool;

struct daemon {
	struct lk_config *cfg;
	struct lk_master *master;
	struct lk_store *store;
	struct lk_engine *engine;
	/* Signs the audit checkpoints; NULL when none is configured (or its
	 * file does not exist yet): then there are none, and the log said so
	 * once at start. */
	struct lk_signer *signer;
	struct lk_checkpoint_timer checkpoint_timer; /* main thread only */
	bool foreground;

	/* The engine and the store: one thread at a time (the store is one
	 * SQLite connection). Take it with lkd_lock, never directly. */
	pthread_mutex_t lock;
	/* Threads waiting for the lock: a batch member commits only when
	 * nobody else is about to join (batch.c). Atomic. */
	unsigned lock_waiting;
	struct lkd_waiter *members; /* units in the open batch, waiting for its commit */
	unsigned n_members;
	unsigned long long n_batches, n_units, n_syncs; /* for the log at exit */
	/* Syncing the write-ahead log outside the lock (batch.c). */
	int wal_fd;
	uint64_t commit_gen, synced_gen; /* commits made; covered by a finished sync */
	bool syncing;                    /* an fdatasync is in flight */
	bool sync_failed;                /* one failed: everything is denied */
	pthread_cond_t batch_done;

	pthread_mutex_t conn_lock;
	pthread_cond_t conn_done;
	unsigned n_conns;
	/* Worker threads per socket (listen.c): started as needed, up to
	 * LKD_MAX_CONNS, then kept (a thread per connection cost more than the
	 * decision). */
	struct pool *pools;
	bool stopping;
	unsigned unlisted_conns; /* atomic: auth connections from unlisted uids */
	/* A report is being made (cli_report.slot): one at a time. */
	atomic_bool report_busy;
};

/* A connected peer, as SO_PEERCRED tells it. */
struct lkd_peer {
	struct daemon *d;
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

void lkd_log(const struct daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- listen.c ---- */

/* Refuses a path too long for sun_path and a directory not owned by this
 * user or writable by group or others; what names the setting. */
int lkd_check_socket_dir(const char *what, const char *sock, struct lk_err *err);

/* Binds and listens on path with the given mode; a stale socket is
 * replaced, a live one (another daemon answers) is an error. */
int lkd_listen(const char *what, const char *path, mode_t mode, int *ret_fd, struct lk_err *err);

/* Serves listen_fd: worker threads accept connections, read the peer's
 * credentials and run handler(peer) (at most LKD_MAX_CONNS at once; more
 * wait in the backlog). The handler owns the peer: it closes fd and calls
 * lkd_peer_done(peer). */
int lkd_serve(struct daemon *d, int listen_fd, void *(*handler)(void *), struct lk_err *err);
/* Stops every socket's workers and waits for connections in progress. */
void lkd_stop_serving(struct daemon *d);
void lkd_peer_done(struct lkd_peer *peer);

/* ---- batch.c ---- */

void lkd_lock(struct daemon *d);
/* Commits the open batch if nobody is waiting to join it, makes everything
 * committed so far durable (at the configured level), then unlocks. LK_OK,
 * or LK_ESTORE if that could not be made durable (the caller must not
 * confirm what it wrote). */
int lkd_unlock(struct daemon *d);
/* False once a sync of the audit log failed: answer nothing but denials. */
bool lkd_healthy(struct daemon *d);
/* The same, with the lock held. */
bool lkd_healthy_locked(const struct daemon *d);

/* True when the write-ahead log is synced by batch.c (durability = fsync
 * with group commit), so SQLite itself runs synchronous=NORMAL. */
bool lkd_external_sync(const struct daemon *d);
/* Opens the write-ahead log for syncing (after the store is open). */
int lkd_sync_open(struct daemon *d, struct lk_err *err);
/* With the lock held: commits the open batch (if any) now and wakes its
 * members with the result. */
int lkd_batch_finish(struct daemon *d, struct lk_err *err);

/*
 * Runs unit(d, arg, err) with the lock held, inside the open batch (one is
 * started if none is), then waits until the batch is committed. LK_OK only
 * if the unit succeeded and its writes are durable (at the configured
 * level); any error means: deny. A unit returns > 0 when it kept nothing
 * (its work was undone): then there is nothing to wait for.
 */
int lkd_batch_run(struct daemon *d, int (*unit)(struct daemon *, void *, struct lk_err *),
                  void *arg, struct lk_err *err);

/* ---- checkpoint.c ---- */

/* Loads the signing key and starts the checkpoint timer (after the store
 * is open). No signing_key, or no such file: a warning, and no checkpoints;
 * a key file that is refused (too open, a symlink, the wrong size) stops
 * the start. */
int lkd_checkpoint_setup(struct daemon *d, struct lk_err *err);

/* Milliseconds until the next checkpoint is due, for poll(2); -1 without a
 * signing key. */
int lkd_checkpoint_wait_ms(struct daemon *d);

/* Signs a checkpoint (trigger: LK_CHECKPOINT_INTERVAL or _SHUTDOWN) as a
 * unit of the batch, and once it is durable sends its copy to syslog. A
 * failure is logged. Restarts the timer either way. LK_OK without a signing
 * key (nothing to do). */
int lkd_checkpoint(struct daemon *d, const char *trigger);

/* ---- report.c ---- */

struct cli_report;
struct lk_report_result;

/* A pack being made: a directory of latchkeyd's own beside the database
 * (mkdtemp, 0700), never one a client names. */
struct lkd_pack {
	char dir[PATH_MAX];
	int dirfd; /* -1 when there is none */
};

/* The prefix of those directories, which a start removes if a crash left
 * one behind. */
#define LKD_PACK_PREFIX ".report-"

/* Writes the pack for rq's checkpoint into a new private directory, from a
 * read-only connection of its own (one read transaction: the engine lock
 * is not held and decisions go on). ret_pack is set up first, so that
 * lkd_pack_remove always has what to remove, even on failure. */
int lkd_report_make(struct daemon *d, const struct cli_report *rq, struct lkd_pack *ret_pack,
                    struct lk_report_result *ret, struct lk_err *err);

/* Removes the pack's directory and every file in it. Accepts one never
 * made (dirfd -1). */
void lkd_pack_remove(struct daemon *d, struct lkd_pack *pack);

/* At start: removes what a killed latchkeyd left of a pack. */
void lkd_pack_sweep(struct daemon *d);

/* ---- account.c ---- */

struct lkd_account {
	uid_t peer_uid;
	const char *service, *user, *credential;
	int pam_code;      /* out */
	char reason[32];   /* out: ok, rotated, expired, suspended, revoked, ... */
	int64_t audit_seq; /* out: the row of a refusal, 0 for ok */
};

/* The credential's state now, for pam_acct_mgmt; refusals are audited. */
int lkd_account(struct daemon *d, struct lkd_account *a, struct lk_err *err);

struct lkd_session {
	uid_t peer_uid;
	const char *service, *user, *rhost, *credential; /* rhost, credential: "" if none */
	bool open;
	int64_t audit_seq; /* out */
};

/* Records session.open / session.close (durable before the reply). */
int lkd_session(struct daemon *d, struct lkd_session *s, struct lk_err *err);

/* ---- auth.c ---- */

/* Thread body for an auth socket connection (arg: struct lkd_peer *). */
void *lkd_auth_conn(void *arg);

/* ---- admin.c ---- */

/* Thread body for an admin socket connection (arg: struct lkd_peer *). */
void *lkd_admin_conn(void *arg);

#endif
