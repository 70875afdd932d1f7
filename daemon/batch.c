/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine lock and audit group commit.
 *
 * Every decision is a unit of work in one shared SQLite transaction (the
 * batch): units run one at a time under the lock, each inside a savepoint.
 * The thread that leaves the lock with nobody waiting to take it (or that
 * fills the batch to group_commit_max) commits it.
 *
 * With durability = fsync and group commit (group_commit_max > 1), COMMIT
 * itself does not sync (SQLite synchronous=NORMAL): the write-ahead log is
 * made durable by an fdatasync of our own, outside the lock, so the next
 * batch runs while this one reaches the disk, and one fdatasync covers every
 * batch committed before it started (at most one is in flight). With
 * group_commit_max = 1 every decision is committed and synced alone, inside
 * the lock (synchronous=FULL): the reference group commit is measured
 * against. With durability = normal nothing is synced at commit.
 *
 * Every member learns the outcome before it replies: a reply never goes out
 * for a decision that is not durable at the configured level, and a failed
 * commit or sync denies every decision it covered. After a failed sync the
 * daemon denies everything (the kernel may have dropped the dirty pages and
 * a later sync could wrongly succeed).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon-private.h"

struct lkd_waiter {
	struct lkd_waiter *next;
	bool committed; /* its batch was committed (or failed): gen, status set */
	uint64_t gen;   /* the commit that holds it */
	int status;     /* the commit's result */
	char error[sizeof(((struct lk_err *)0)->msg)];
};

void lkd_lock(struct daemon *d)
{
	__atomic_add_fetch(&d->lock_waiting, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&d->lock);
	__atomic_sub_fetch(&d->lock_waiting, 1, __ATOMIC_SEQ_CST);
}

static bool nobody_waiting(struct daemon *d)
{
	return __atomic_load_n(&d->lock_waiting, __ATOMIC_SEQ_CST) == 0;
}

bool lkd_external_sync(const struct daemon *d)
{
	return !d->cfg->durability_normal && d->cfg->group_commit_max > 1;
}

int lkd_sync_open(struct daemon *d, struct lk_err *err)
{
	char path[PATH_MAX];

	d->wal_fd = -1;
	if (!lkd_external_sync(d))
		return LK_OK;
	if (snprintf(path, sizeof(path), "%s-wal", d->cfg->database) >= (int)sizeof(path))
		return lk_err_set(err, LK_EINVAL, "database path %s is too long", d->cfg->database);
	/* Read-only is enough for fdatasync; the log exists while the store
	 * is open in WAL mode. */
	d->wal_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (d->wal_fd < 0)
		return lk_err_set(err, LK_EIO, "cannot open the write-ahead log %s: %s", path,
		                  strerror(errno));
	return LK_OK;
}

/* fdatasync of the write-ahead log, reopened first if SQLite replaced the
 * file (a sync of the old inode would prove nothing). Without the lock. */
static int wal_sync(struct daemon *d)
{
	char path[PATH_MAX];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s-wal", d->cfg->database);
	if (fstat(d->wal_fd, &a) != 0 || stat(path, &b) != 0)
		return -1;
	if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -1;
		dup2(fd, d->wal_fd);
		close(fd);
	}
	return fdatasync(d->wal_fd);
}

/* With the lock held: returns once every commit up to gen is durable (the
 * lock is let go while syncing), or with an error if a sync failed. */
static int make_durable(struct daemon *d, uint64_t gen, struct lk_err *err)
{
	while (d->synced_gen < gen && !d->sync_failed) {
		uint64_t upto;
		int r, e;

		if (d->syncing) {
			pthread_cond_wait(&d->batch_done, &d->lock);
			continue;
		}
		d->syncing = true;
		upto = d->commit_gen; /* everything committed so far */
		pthread_mutex_unlock(&d->lock);
		r = wal_sync(d);
		e = errno;
		pthread_mutex_lock(&d->lock);
		d->syncing = false;
		if (r == 0) {
			d->synced_gen = upto;
			d->n_syncs++;
		} else {
			d->sync_failed = true;
			lkd_log(d, LOG_CRIT,
			        "fdatasync of the audit log failed (%s): denying everything from "
			        "now on",
			        strerror(e));
		}
		pthread_cond_broadcast(&d->batch_done);
	}
	if (d->sync_failed)
		return lk_err_set(err, LK_ESTORE, "the audit log could not be synced to disk");
	return LK_OK;
}

int lkd_batch_finish(struct daemon *d, struct lk_err *err)
{
	struct lk_err cerr = { { 0 } };
	int r;

	if (!lk_store_batch_open(d->store))
		return LK_OK;
	r = lk_store_batch_commit(d->store, &cerr);
	if (r < 0)
		lkd_log(d, LOG_ERR, "audit commit of %u decisions failed (all denied): %s",
		        d->n_members, cerr.msg);
	if (r == LK_OK) {
		d->n_batches++;
		d->n_units += d->n_members;
	}
	d->commit_gen++;
	for (struct lkd_waiter *w = d->members; w != NULL; w = w->next) {
		w->status = r;
		w->gen = d->commit_gen;
		snprintf(w->error, sizeof(w->error), "%s", cerr.msg);
		w->committed = true;
	}
	d->members = NULL;
	d->n_members = 0;
	pthread_cond_broadcast(&d->batch_done);
	if (r < 0 && err != NULL)
		lk_err_set(err, r, "%s", cerr.msg);
	return r;
}

/* Every way out of the lock but a member's wait goes through here: whoever
 * leaves last commits, or the members of the open batch sleep forever. */
static void leave(struct daemon *d)
{
	if (lk_store_batch_open(d->store) && nobody_waiting(d))
		(void)lkd_batch_finish(d, NULL);
	pthread_mutex_unlock(&d->lock);
}

int lkd_unlock(struct daemon *d)
{
	struct lk_err lerr = { { 0 } };
	int r = LK_OK;

	if (lk_store_batch_open(d->store) && nobody_waiting(d))
		(void)lkd_batch_finish(d, NULL);
	/* What this holder wrote on its own (admin commands, reloads) is
	 * committed by now: make it durable before the caller answers. */
	if (lkd_external_sync(d)) {
		d->commit_gen++;
		r = make_durable(d, d->commit_gen, &lerr); /* a failure is logged there */
	} else if (d->sync_failed) {
		r = LK_ESTORE;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

bool lkd_healthy_locked(const struct daemon *d)
{
	return !d->sync_failed;
}

bool lkd_healthy(struct daemon *d)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = !d->sync_failed;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

int lkd_batch_run(struct daemon *d, int (*unit)(struct daemon *, void *, struct lk_err *),
                  void *arg, struct lk_err *err)
{
	struct lkd_waiter me = { 0 };
	int r;

	lkd_lock(d);
	if (d->sync_failed) {
		leave(d);
		return lk_err_set(err, LK_ESTORE, "the audit log could not be synced to disk");
	}
	if (!lk_store_batch_open(d->store)) {
		r = lk_store_batch_begin(d->store, err);
		if (r < 0) {
			leave(d);
			return r;
		}
	}
	r = unit(d, arg, err);
	if (r < 0) {
		/* This unit undid itself; the batch goes on without it, unless
		 * SQLite threw the whole transaction away. */
		if (lk_store_batch_lost(d->store))
			(void)lkd_batch_finish(d, NULL);
		leave(d);
		return r;
	}
	if (r > 0) {
		/* The unit kept nothing (a round that ends in a prompt is
		 * undone whole): nothing of its to wait for. */
		leave(d);
		return LK_OK;
	}
	me.next = d->members;
	d->members = &me;
	d->n_members++;
	if (d->n_members >= d->cfg->group_commit_max || nobody_waiting(d))
		(void)lkd_batch_finish(d, NULL);
	while (!me.committed) {
		pthread_cond_wait(&d->batch_done, &d->lock);
		/* Woken without our batch committed: the thread that was to join
		 * left, and nobody else is coming. */
		if (!me.committed && nobody_waiting(d) && lk_store_batch_open(d->store))
			(void)lkd_batch_finish(d, NULL);
	}
	if (me.status == LK_OK && lkd_external_sync(d))
		me.status = make_durable(d, me.gen, err);
	else if (me.status < 0)
		lk_err_set(err, me.status, "the audit record was not committed: %s", me.error);
	leave(d);
	return me.status;
}
