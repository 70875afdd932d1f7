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
	/* The admin connection sending a pack, -1 when none (one report at a
	 * time): lkd_stop_serving shuts it down, so that a client reading
	 * slowly cannot hold the stop. Under conn_lock. */
	int stream_fd;
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
/* True once lkd_stop_serving began. */
bool lkd_stopping(struct daemon *d);
/* fd starts sending a pack: false (and nothing registered) if the daemon
 * is stopping already. lkd_stream_end before fd is closed, so that a stop
 * never shuts down a descriptor reused by then. */
bool lkd_stream_begin(struct daemon *d, int fd);
void lkd_stream_end(struct daemon *d);

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

/*
 * Room for a pack on the state directory's file system (the database's):
 * a pack that filled it would make every audit commit fail, and so deny
 * every authentication. Checked before the report's checkpoint, so a
 * refusal adds nothing to the log. The figures (decision 0012):
 *
 * - a pack takes at most LKD_PACK_ROW_BYTES per audit row of the period
 *   and LKD_PACK_KEY_BYTES per API key, plus LKD_PACK_BASE_BYTES. Measured
 *   (tests/check_admin, 100,000 decisions, a tenth of them failures): 21.9
 *   MB, about 220 bytes a row in all (decisions.csv ~157); 512 leaves room
 *   for long steps and policy names and for the rows evidence.xml lists.
 * - after it, LKD_PACK_RESERVE_MAX or a tenth of the file system, whichever
 *   is smaller, must stay free for the audit log and the database.
 */
#define LKD_PACK_ROW_BYTES   512ULL
#define LKD_PACK_KEY_BYTES   256ULL
#define LKD_PACK_BASE_BYTES  (4ULL * 1024 * 1024)
#define LKD_PACK_RESERVE_MAX (256ULL * 1024 * 1024)

static inline uint64_t lkd_sat_add(uint64_t x, uint64_t y)
{
	return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

static inline uint64_t lkd_sat_mul(uint64_t x, uint64_t y)
{
	return y != 0 && x > UINT64_MAX / y ? UINT64_MAX : x * y;
}

/* The most a pack of rows audit rows and keys API keys may take. */
static inline uint64_t lkd_pack_estimate(uint64_t rows, uint64_t keys)
{
	return lkd_sat_add(lkd_sat_add(lkd_sat_mul(rows, LKD_PACK_ROW_BYTES),
	                               lkd_sat_mul(keys, LKD_PACK_KEY_BYTES)),
	                   LKD_PACK_BASE_BYTES);
}

/* What must stay free on a file system of fs_bytes. */
static inline uint64_t lkd_pack_reserve(uint64_t fs_bytes)
{
	return fs_bytes / 10 < LKD_PACK_RESERVE_MAX ? fs_bytes / 10 : LKD_PACK_RESERVE_MAX;
}

/* Whether a pack of estimate bytes fits in avail bytes free (statvfs
 * f_bavail * f_frsize) of a file system of fs_bytes, leaving the reserve. */
static inline bool lkd_pack_fits(uint64_t estimate, uint64_t avail, uint64_t fs_bytes)
{
	return avail >= estimate && avail - estimate >= lkd_pack_reserve(fs_bytes);
}

/* Refuses (LK_EIO, one line naming the directory, the estimate and the
 * free space) a pack of [from, to) that lkd_pack_fits rejects; counts the
 * rows on a read-only connection of its own, without the engine lock. */
int lkd_report_room(struct daemon *d, int64_t from, int64_t to, struct lk_err *err);

/*
 * Sending a pack: it must be done within LKD_PACK_GRACE_MS plus a second
 * per LKD_PACK_MIN_RATE bytes (an average of 1 MiB/s, after a grace for a
 * small pack), else it is cut off. Each frame alone has LKD_IO_TIMEOUT_MS,
 * so without this a client reading a frame every few seconds would hold
 * the connection, the report slot and the pack's disk for hours. 1 MiB/s
 * is far below any local client writing to a disk (the socket is local);
 * ~178 MB for 1,000,000 decisions gets 200 s.
 */
#define LKD_PACK_GRACE_MS 30000
#define LKD_PACK_MIN_RATE (1024ULL * 1024) /* bytes a second */

/* Milliseconds a pack of bytes may take to send. */
static inline int64_t lkd_pack_send_ms(uint64_t bytes)
{
	uint64_t ms = lkd_sat_add(LKD_PACK_GRACE_MS,
	                          bytes / LKD_PACK_MIN_RATE * 1000 +
	                              bytes % LKD_PACK_MIN_RATE * 1000 / LKD_PACK_MIN_RATE);
	return ms > INT64_MAX ? INT64_MAX : (int64_t)ms;
}

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
