/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin socket (core/admin-proto-private.h, docs/decisions/
 * 0006-admin-socket.md): a peer's `latchkey` verb runs here, in process,
 * with the same command code the CLI runs with --offline, against this
 * daemon's store and master key, as the peer's uid and with the role the
 * config gives it. Output is captured and sent back; a new key in it is
 * revoked unless the client acknowledges that it was written out. A
 * report's pack is the exception to capturing: it is written to files of
 * latchkeyd's own after the verb (report.c) and streamed from them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "admin-proto-private.h"
#include "cli-private.h"
#include "daemon-private.h"
#include "report-private.h"
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
	struct cli_report report;
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

static int send_msg_within(struct admin_conn *a, const struct lk_admin_msg *m, int timeout_ms,
                           struct lk_err *err)
{
	size_t len = 0;
	int r;

	r = lk_admin_encode(m, a->buf, sizeof(a->buf), &len, err);
	if (r == LK_OK)
		r = lk_frame_write(a->fd, a->buf, len, timeout_ms, err);
	sodium_memzero(a->buf, len);
	return r;
}

static int send_msg(struct admin_conn *a, const struct lk_admin_msg *m, struct lk_err *err)
{
	return send_msg_within(a, m, LKD_IO_TIMEOUT_MS, err);
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

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A pack on its way: what bounds it as a whole (lkd_pack_send_ms). */
struct stream {
	unsigned char *chunk; /* LK_ADMIN_CHUNK_MAX */
	uint64_t total, sent; /* bytes of the files */
	int64_t t0, deadline; /* monotonic ms */
};

/* One frame of a pack: refused once latchkeyd is stopping or the pack is
 * past its deadline, and never waiting beyond it. */
static int send_pack_msg(struct admin_conn *a, struct stream *s, const struct lk_admin_msg *m,
                         struct lk_err *err)
{
	int64_t left = s->deadline - monotonic_ms();
	int r;

	if (!lkd_stopping(a->d) && left > 0) {
		r = send_msg_within(a, m, left < LKD_IO_TIMEOUT_MS ? (int)left : LKD_IO_TIMEOUT_MS,
		                    err);
		/* A stop shuts the socket down under a waiting write: say so,
		 * not "Broken pipe". */
		if (r == LK_OK || (!lkd_stopping(a->d) && monotonic_ms() < s->deadline))
			return r;
	}
	if (lkd_stopping(a->d))
		return lk_err_set(err, LK_EIO,
		                  "latchkeyd is stopping: the pack was cut off after %llu of %llu "
		                  "bytes",
		                  (unsigned long long)s->sent, (unsigned long long)s->total);
	return lk_err_set(err, LK_EIO,
	                  "the client read %llu of %llu bytes in %lld s, below the %llu MiB/s "
	                  "a pack must average after %d s: cut off",
	                  (unsigned long long)s->sent, (unsigned long long)s->total,
	                  (long long)((monotonic_ms() - s->t0) / 1000),
	                  LKD_PACK_MIN_RATE / (1024 * 1024), LKD_PACK_GRACE_MS / 1000);
}

/* One file of the pack: FILE, DATA in chunks (never the whole file in
 * memory: evidence.xml alone may be hundreds of MB), FILE_END. */
static int send_file(struct admin_conn *a, const struct lkd_pack *pack, const char *name,
                     struct stream *s, struct lk_err *err)
{
	struct lk_admin_msg m = { .type = LK_ADMIN_FILE };
	uint64_t size = 0;
	struct stat st;
	int fd, r;

	if (!lk_admin_name_ok(name, strlen(name)))
		return lk_err_set(err, LK_EIO, "the pack holds a file the protocol cannot name");
	fd = openat(pack->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = lk_err_set(err, LK_EIO, "cannot read %s/%s: %s", pack->dir, name,
		               fd < 0 ? strerror(errno) : "not a regular file");
		goto out;
	}
	snprintf(m.name, sizeof(m.name), "%s", name);
	if ((r = send_pack_msg(a, s, &m, err)) < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, s->chunk, LK_ADMIN_CHUNK_MAX);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = lk_err_set(err, LK_EIO, "cannot read %s/%s: %s", pack->dir, name,
			               strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		m = (struct lk_admin_msg){ .type = LK_ADMIN_DATA,
			                   .data = s->chunk,
			                   .len = (size_t)n };
		if ((r = send_pack_msg(a, s, &m, err)) < 0)
			goto out;
		size += (uint64_t)n;
		s->sent += (uint64_t)n;
	}
	r = send_pack_msg(a, s, &(struct lk_admin_msg){ .type = LK_ADMIN_FILE_END, .size = size },
	                  err);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Every file of the pack, in name order. */
static int send_files(struct admin_conn *a, const struct lkd_pack *pack, size_t *ret_files,
                      uint64_t *ret_bytes, struct lk_err *err)
{
	char *names[LK_ADMIN_FILES_MAX];
	struct stream s = { .t0 = monotonic_ms() };
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *dir;
	int fd, r;

	if ((fd = dup(pack->dirfd)) < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return lk_err_set(err, LK_EIO, "cannot read %s: %s", pack->dir, strerror(errno));
	}
	rewinddir(dir); /* the copy shares its offset with dirfd */
	r = LK_OK;
	while (r == LK_OK && (de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == LK_ADMIN_FILES_MAX)
			r = lk_err_set(err, LK_EIO, "the pack has over %d files",
			               LK_ADMIN_FILES_MAX);
		else if ((names[n] = strdup(de->d_name)) == NULL)
			r = lk_err_set(err, LK_ENOMEM, "out of memory");
		else
			n++;
	}
	closedir(dir);
	if (r == LK_OK && (s.chunk = malloc(LK_ADMIN_CHUNK_MAX)) == NULL)
		r = lk_err_set(err, LK_ENOMEM, "out of memory");
	if (r == LK_OK)
		qsort(names, n, sizeof(names[0]), name_cmp);
	/* The deadline comes from the whole pack's size (the files are
	 * ours and complete): a slow start cannot be made up by a promise. */
	for (size_t i = 0; i < n && r == LK_OK; i++) {
		if (fstatat(pack->dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			s.total = lkd_sat_add(s.total, (uint64_t)st.st_size);
	}
	s.deadline = s.t0 + lkd_pack_send_ms(s.total);
	/* Registered for the whole send, so a stop shuts the socket down
	 * even while a frame waits for the client. */
	if (r == LK_OK && !lkd_stream_begin(a->d, a->fd))
		r = lk_err_set(err, LK_EIO, "latchkeyd is stopping: the pack was not sent");
	else if (r == LK_OK) {
		for (size_t i = 0; i < n && r == LK_OK; i++)
			r = send_file(a, pack, names[i], &s, err);
		lkd_stream_end(a->d);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(s.chunk);
	if (r == LK_OK) {
		*ret_files = n;
		*ret_bytes = s.sent;
	}
	return r;
}

/*
 * After run_verb made the report's checkpoint and released the engine
 * lock: the pack, written and sent without the lock (auth goes on), its
 * directory removed whatever happens. *status becomes the verb's; < 0 is
 * a connection that failed mid-pack (the client removes what it got).
 */
static int finish_report(struct admin_conn *a, int *status, struct lk_err *err)
{
	struct cli_report *rq = &a->report;
	const char *kind = lk_report_kind_str((enum lk_report_kind)rq->kind);
	struct lkd_pack pack;
	struct lk_report_result res;
	struct lk_err rerr = { { 0 } };
	int64_t t0 = monotonic_ms();
	uint64_t bytes = 0;
	size_t files = 0;
	int r;

	/* run_verb's unlock synced the commit: the copy outside the
	 * database, as for every checkpoint, may go out now. */
	lk_checkpoint_syslog(&rq->cp);
	r = lkd_report_make(a->d, rq, &pack, &res, &rerr);
	if (r < 0) {
		lkd_log(a->d, LOG_ERR, "report %s for uid %u (checkpoint %lld): %s", kind,
		        (unsigned)a->uid, (long long)rq->cp.number, rerr.msg);
		*status = cli_fail(&a->c, r, "the pack could not be written (checkpoint %lld): %s",
		                   (long long)rq->cp.number, rerr.msg);
		r = LK_OK;
	} else if ((r = send_files(a, &pack, &files, &bytes, err)) == LK_OK) {
		cli_report_print(&a->c, rq->kind, rq->out_dir, &res);
		lkd_log(a->d, LOG_INFO,
		        "report %s for uid %u: checkpoint %lld, %zu files, %llu bytes in %lld ms",
		        kind, (unsigned)a->uid, (long long)rq->cp.number, files,
		        (unsigned long long)bytes, (long long)(monotonic_ms() - t0));
	}
	lkd_pack_remove(a->d, &pack);
	return r;
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

/*
 * Before a report's checkpoint, without the engine lock: is there room on
 * the state directory's file system for the pack (lkd_report_room)? A
 * refusal is the verb's exit status and adds nothing to the log. Only for
 * a caller the verb would serve: anyone else is refused (and audited) by
 * the verb's role check, never told how large the log is; and not while
 * another report runs, which the verb refuses in its own words.
 */
static int report_room(struct admin_conn *a)
{
	struct daemon *d = a->d;
	struct cli scratch = { .in_daemon = true, .cfg = d->cfg, .role = a->role };
	char *argv[LK_ADMIN_ARGC_MAX + 1];
	struct lk_report_params p;
	struct lk_err err = { { 0 } };
	int status, r;

	if (!a->req.files || a->verb == NULL || a->verb->fn != cmd_report ||
	    a->role < a->verb->role || atomic_load(&d->report_busy))
		return EXIT_OK;
	/* getopt's state is global: verbs parse under the engine lock.
	 * A copy of argv, as GNU getopt permutes it. Bad arguments are the
	 * verb's to report (scratch has no streams). */
	memcpy(argv, a->req.argv, sizeof(argv));
	lkd_lock(d);
	status = cli_report_parse(&scratch, a->req.argc, argv, &p);
	(void)lkd_unlock(d);
	if (status != EXIT_OK)
		return EXIT_OK;
	if ((r = lkd_report_room(d, p.from, p.to, &err)) < 0) {
		lkd_log(d, LOG_WARNING, "report for uid %u refused: %s", (unsigned)a->uid, err.msg);
		return cli_fail(&a->c, r, "%s", err.msg);
	}
	return EXIT_OK;
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
	if (a->req.files && (a->verb == NULL || a->verb->fn != cmd_report))
		return lk_err_set(err, LK_EINVAL, "files asked for by a verb that sends none");
	a->report = (struct cli_report){ .slot = &a->d->report_busy, .files = a->req.files };
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
		             .in_len = a->req.in_len,
		             .report = &a->report };
	if ((status = report_room(a)) == EXIT_OK)
		status = run_verb(a);
	lk_admin_request_free(&a->req);
	if (status == EXIT_OK && a->report.pending && (r = finish_report(a, &status, err)) < 0)
		return r;
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
	/* Only now: its directory is gone (finish_report). */
	if (a->report.claimed)
		atomic_store(&d->report_busy, false);
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
