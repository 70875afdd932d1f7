/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed audit checkpoints (core/checkpoint.c) every checkpoint_interval,
 * even when nothing happened, and once more at SIGTERM. Each is a unit of
 * the group commit like a decision: it sees the chain as the batch left it,
 * and its copy goes to syslog only once it is durable, so syslog never
 * holds a checkpoint the database lost.
 */
#include "config.h"

#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon-private.h"
#include "util-private.h"

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lkd_checkpoint_setup(struct daemon *d, struct lk_err *err)
{
	int64_t now, last;
	int r;

	if (d->cfg->signing_key == NULL) {
		lkd_log(d, LOG_WARNING,
		        "%s sets no signing_key: the audit log gets no signed checkpoints",
		        d->cfg->path);
		return LK_OK;
	}
	r = lk_signing_load(d->cfg->signing_key, &d->signer, err);
	if (r == LK_ENOTFOUND) {
		/* A setup from before checkpoints: its config names the key,
		 * "latchkey init" never made it. Refusing to start would take
		 * every login down with it. */
		lkd_log(d, LOG_WARNING,
		        "signing key %s does not exist: the audit log gets no signed checkpoints",
		        d->cfg->signing_key);
		return LK_OK;
	}
	if (r < 0)
		return r;
	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "the system clock is unreadable or not set");
	if ((r = lk_checkpoint_last_time(d->store, &last, err)) < 0)
		return r;
	lk_checkpoint_timer_start(&d->checkpoint_timer, d->cfg->checkpoint_interval, monotonic_ms(),
	                          now, last);
	return LK_OK;
}

int lkd_checkpoint_wait_ms(struct daemon *d)
{
	if (d->signer == NULL)
		return -1;
	return lk_checkpoint_timer_wait_ms(&d->checkpoint_timer, monotonic_ms());
}

struct job {
	const char *trigger;
	struct lk_checkpoint cp;
};

static int checkpoint_unit(struct daemon *d, void *arg, struct lk_err *err)
{
	struct job *job = arg;
	int64_t now;
	int r;

	if ((r = lk_now(&now)) < 0)
		return lk_err_set(err, r, "cannot read the clock");
	return lk_checkpoint_make(d->store, d->signer, now, (int64_t)geteuid(), job->trigger,
	                          &job->cp, err);
}

int lkd_checkpoint(struct daemon *d, const char *trigger)
{
	struct job job = { .trigger = trigger };
	struct lk_err err = { { 0 } };
	int r;

	if (d->signer == NULL)
		return LK_OK;
	r = lkd_batch_run(d, checkpoint_unit, &job, &err);
	/* A failure waits for the next interval too: whatever broke the
	 * commit (a full disk) is logged by every decision meanwhile. */
	lk_checkpoint_timer_done(&d->checkpoint_timer, monotonic_ms());
	if (r < 0) {
		lkd_log(d, LOG_ERR, "cannot sign a checkpoint of the audit log (%s): %s", trigger,
		        err.msg);
		return r;
	}
	lk_checkpoint_syslog(&job.cp);
	return LK_OK;
}
