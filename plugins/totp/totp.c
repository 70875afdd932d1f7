/* SPDX-License-Identifier: Apache-2.0 */
/*
 * totp: a second factor, a TOTP code from the user's authenticator app (or
 * one of their recovery codes), checked by the core (host->verify_totp) for
 * the principal an earlier step proved, else PAM_USER. The core holds the
 * sealed seeds and records each accepted time step, so a code works once;
 * this plugin only asks for the code and says what the core decided.
 *
 * Arguments: skew=N             time steps accepted either side of now,
 *                               0 to 10 (default 1: a code from the previous
 *                               or next 30 s still works)
 *            rollout=YYYY-MM-DD until that date (00:00 UTC), a user who has
 *                               not enrolled passes this step unprompted
 *                               (reason "not-enrolled-grace", in the
 *                               decision's audit row) without a TOTP factor;
 *                               from that date on, denied. At most 366 days
 *                               ahead. Without it, not enrolled is denied.
 *
 * Why the grace is a success and not "ignore": MFA is mostly enabled as a
 * step-up rule (latchkey policy mfa enable), and the engine satisfies a
 * step-up only with a success; "ignore" would deny everyone not yet
 * enrolled, which is what no rollout option means already. The grace
 * proves no principal and adds no factor, so it cannot log anyone in on its
 * own, and the decision's factors show that TOTP was not used.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latchkey/plugin.h"

#define INPUT_NAME  "otp"
#define PROMPT      "Verification code: "
#define SKEW_MAX    10
#define ROLLOUT_MAX (366 * 86400) /* further ahead is MFA off, not a rollout */

struct totp_state {
	const struct lk_plugin_host *host;
	unsigned skew;
	int64_t rollout; /* Unix time the grace ends; 0: no grace */
};

/* "YYYY-MM-DD" as the Unix time of its 00:00 UTC, or -1. timegm()
 * normalises "02-30" to March: the round trip through gmtime_r refuses it. */
static int64_t parse_date(const char *s)
{
	struct tm tm = { 0 }, back;
	time_t t;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	t = timegm(&tm);
	if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_year != atoi(s) - 1900 ||
	    back.tm_mon != atoi(s + 5) - 1 || back.tm_mday != atoi(s + 8))
		return -1;
	return (int64_t)t;
}

static int parse_arg(struct totp_state *st, const char *arg, int64_t now)
{
	const struct lk_plugin_host *host = st->host;

	if (strncmp(arg, "skew=", 5) == 0) {
		const char *v = arg + 5;
		if ((v[0] >= '0' && v[0] <= '9' && v[1] == '\0') || strcmp(v, "10") == 0) {
			st->skew = (unsigned)atoi(v);
			return 0;
		}
		host->log(host->host_ctx, LK_LOG_ERR, "totp: bad skew '%.20s' (0 to %d steps)", v,
		          SKEW_MAX);
		return -1;
	}
	if (strncmp(arg, "rollout=", 8) == 0) {
		st->rollout = parse_date(arg + 8);
		if (st->rollout < 0) {
			host->log(host->host_ctx, LK_LOG_ERR,
			          "totp: bad rollout '%.20s' (a date, YYYY-MM-DD)", arg + 8);
			return -1;
		}
		if (st->rollout - now > ROLLOUT_MAX) {
			host->log(host->host_ctx, LK_LOG_ERR,
			          "totp: rollout %.20s is more than 366 days ahead", arg + 8);
			return -1;
		}
		return 0;
	}
	host->log(host->host_ctx, LK_LOG_ERR, "totp: unknown argument '%.40s'", arg);
	return -1; /* a typo in a policy must not be ignored */
}

static int totp_init(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
                     void **ret_state)
{
	struct totp_state *st;
	int64_t now;

	/* An engine older than ABI 1.1 has no verify_totp: the step fails. */
	if (host == NULL ||
	    host->struct_size <
	        offsetof(struct lk_plugin_host, verify_totp) + sizeof(host->verify_totp) ||
	    host->verify_totp == NULL || host->now == NULL || host->now(host->host_ctx, &now) != 0)
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->host = host;
	st->skew = 1;
	for (size_t i = 0; i < n_args; i++) {
		if (parse_arg(st, args[i], now) != 0) {
			free(st);
			return -1;
		}
	}
	*ret_state = st;
	return 0;
}

/* The rollout grace for a user the core says has not enrolled. */
static void grace(struct lk_plugin_result *res)
{
	res->decision = LK_PLUGIN_SUCCESS;
	snprintf(res->reason, sizeof(res->reason), "not-enrolled-grace");
	res->principal[0] = '\0';
	res->credential[0] = '\0';
	res->factors = 0;
}

static int in_grace(const struct totp_state *st, const struct lk_plugin_result *res)
{
	int64_t now;

	return st->rollout != 0 && res->decision == LK_PLUGIN_DENY &&
	       strcmp(res->reason, "not-enrolled") == 0 &&
	       st->host->now(st->host->host_ctx, &now) == 0 && now < st->rollout;
}

static int totp_authenticate(void *state, const struct lk_plugin_request *req,
                             struct lk_plugin_result *res)
{
	const struct totp_state *st = state;
	const struct lk_plugin_host *host = st->host;

	for (size_t i = 0; i < req->n_inputs; i++) {
		if (req->inputs[i].name == NULL || strcmp(req->inputs[i].name, INPUT_NAME) != 0)
			continue;
		if (host->verify_totp(host->host_ctx, req->inputs[i].value, req->inputs[i].len,
		                      st->skew, req, res) != 0)
			return -1;
		if (in_grace(st, res))
			grace(res);
		return 0;
	}
	/* During a rollout, someone who has no authenticator yet is not asked
	 * for a code they cannot have. */
	if (st->rollout != 0) {
		if (host->verify_totp(host->host_ctx, NULL, 0, st->skew, req, res) != 0)
			return -1;
		if (in_grace(st, res)) {
			grace(res);
			return 0;
		}
		if (res->decision == LK_PLUGIN_DENY && strcmp(res->reason, "no-user") == 0)
			return 0; /* nobody to ask for a code */
	}
	res->decision = LK_PLUGIN_NEED_INPUT;
	snprintf(res->reason, sizeof(res->reason), "need-input");
	snprintf(res->prompt_input, sizeof(res->prompt_input), INPUT_NAME);
	snprintf(res->prompt_text, sizeof(res->prompt_text), PROMPT);
	res->prompt_echo = 0;
	return 0;
}

static void totp_fini(void *state)
{
	free(state);
}

static const struct lk_plugin totp_plugin = {
	.abi_major = LK_PLUGIN_ABI_MAJOR,
	.abi_minor = LK_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(struct lk_plugin),
	.name = "totp",
	.version = PACKAGE_VERSION,
	.capabilities = LK_PLUGIN_CAP_SECOND_FACTOR | LK_PLUGIN_CAP_PROMPTS,
	.init = totp_init,
	.authenticate = totp_authenticate,
	.fini = totp_fini,
};

const struct lk_plugin *lk_plugin_entry(void)
{
	return &totp_plugin;
}
