/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine lock and audit group commit.
 *
 * Every decision is a unit of work in one shared SQLite transaction (the
 * batch): units run one at a time under the lock, each inside a savepoint,
 * and their threads wait while the lock passes to the next. The thread that
 * leaves the lock with nobody waiting to take it (or that fills the batch to
 * group_commit_max) commits: one fsync for the whole batch. Every member
 * learns the commit's result before it replies, so a reply never goes out
 * for a decision that is not durable, and a failed commit denies them all.
 */
#include "config.h"

#include <stdio.h>
#include <syslog.h>

#include "daemon-private.h"

struct lkd_waiter {
	struct lkd_waiter *next;
	bool done;
	int status;
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
	for (struct lkd_waiter *w = d->members; w != NULL; w = w->next) {
		w->status = r;
		snprintf(w->error, sizeof(w->error), "%s", cerr.msg);
		w->done = true;
	}
	d->members = NULL;
	d->n_members = 0;
	pthread_cond_broadcast(&d->batch_done);
	if (r < 0 && err != NULL)
		lk_err_set(err, r, "%s", cerr.msg);
	return r;
}

void lkd_unlock(struct daemon *d)
{
	/* Whoever leaves last commits: the members are asleep until then. */
	if (lk_store_batch_open(d->store) && nobody_waiting(d))
		(void)lkd_batch_finish(d, NULL);
	pthread_mutex_unlock(&d->lock);
}

int lkd_batch_run(struct daemon *d, int (*unit)(struct daemon *, void *, struct lk_err *),
                  void *arg, struct lk_err *err)
{
	struct lkd_waiter me = { 0 };
	int r;

	lkd_lock(d);
	if (!lk_store_batch_open(d->store)) {
		r = lk_store_batch_begin(d->store, err);
		if (r < 0) {
			pthread_mutex_unlock(&d->lock);
			return r;
		}
	}
	r = unit(d, arg, err);
	if (r < 0) {
		/* This unit undid itself; the batch goes on without it, unless
		 * SQLite threw the whole transaction away. */
		if (lk_store_batch_lost(d->store))
			(void)lkd_batch_finish(d, NULL);
		lkd_unlock(d);
		return r;
	}
	me.next = d->members;
	d->members = &me;
	d->n_members++;
	if (d->n_members >= d->cfg->group_commit_max || nobody_waiting(d))
		(void)lkd_batch_finish(d, NULL);
	while (!me.done) {
		pthread_cond_wait(&d->batch_done, &d->lock);
		/* Woken without our batch done: the thread that was to join
		 * left, and nobody else is coming. */
		if (!me.done && nobody_waiting(d) && lk_store_batch_open(d->store))
			(void)lkd_batch_finish(d, NULL);
	}
	pthread_mutex_unlock(&d->lock);
	if (me.status < 0)
		return lk_err_set(err, me.status, "the audit record was not committed: %s",
		                  me.error);
	return LK_OK;
}
