/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkey totp ...: a user's TOTP second factor (core/totp-private.h),
 * enrolled, confirmed, listed, reset or removed, and its recovery codes
 * regenerated. Seeds and recovery codes appear only on stdout, once;
 * never in an error, a log line or the audit log.
 */
#include "config.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-private.h"
#include "util-private.h"

/* The longest line read from stdin for confirm: a code is 6 to 8 digits,
 * and reading no more bounds the work a stray megabyte can cause. */
#define CODE_INPUT_MAX 64
/* The periods core/totp-private.h accepts (it checks them again). */
#define PERIOD_MIN 15
#define PERIOD_MAX 300

enum {
	OPT_ALGORITHM = 256,
	OPT_DIGITS,
	OPT_PERIOD,
	OPT_ISSUER,
	OPT_REASON,
	OPT_JSON,
};

static const struct option all_opts[] = {
	{ "algorithm", required_argument, NULL, OPT_ALGORITHM },
	{ "digits", required_argument, NULL, OPT_DIGITS },
	{ "period", required_argument, NULL, OPT_PERIOD },
	{ "issuer", required_argument, NULL, OPT_ISSUER },
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

struct totp_args {
	const char *user; /* the positional argument, where the verb takes one */
	const char *reason;
	struct lk_totp_params params;
};

/* A whole number in [min, max], digits only (no sign, no spaces). */
static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 6; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v < min || v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

static int parse_option(struct cli *c, int opt, struct totp_args *a)
{
	switch (opt) {
	case OPT_ALGORITHM:
		if (lk_totp_alg_parse(optarg, &a->params.alg) < 0)
			return cli_fail(c, LK_EINVAL,
			                "bad --algorithm '%.40s' (SHA1, SHA256 or SHA512)", optarg);
		break;
	case OPT_DIGITS:
		if (!parse_uint(optarg, LK_TOTP_DIGITS_MIN, LK_TOTP_DIGITS_MAX, &a->params.digits))
			return cli_fail(c, LK_EINVAL, "bad --digits '%.40s' (%d to %d)", optarg,
			                LK_TOTP_DIGITS_MIN, LK_TOTP_DIGITS_MAX);
		break;
	case OPT_PERIOD:
		if (!parse_uint(optarg, PERIOD_MIN, PERIOD_MAX, &a->params.period))
			return cli_fail(c, LK_EINVAL, "bad --period '%.40s' (seconds, %d to %d)",
			                optarg, PERIOD_MIN, PERIOD_MAX);
		break;
	case OPT_ISSUER:
		a->params.issuer = optarg; /* the core checks it */
		break;
	case OPT_REASON:
		a->reason = optarg;
		break;
	case OPT_JSON:
		c->json = true;
		break;
	}
	return EXIT_OK;
}

/*
 * Parses the options a verb allows (a 0-terminated list of OPT_ codes;
 * --json always) and, with want_user, exactly one USER. name is the verb
 * as the user typed it, for messages.
 */
static int parse_args(struct cli *c, int argc, char **argv, const char *name, const int *allowed,
                      bool want_user, struct totp_args *a)
{
	int opt, status;

	memset(a, 0, sizeof(*a));
	a->params = (struct lk_totp_params){ .alg = LK_TOTP_SHA1,
		                             .digits = LK_TOTP_DIGITS_MIN,
		                             .period = LK_TOTP_PERIOD_DEFAULT };
	while ((opt = getopt_long(argc, argv, "", all_opts, NULL)) != -1) {
		const char *opt_name = argv[optind - 1];
		bool ok = opt == OPT_JSON;
		for (const int *p = allowed; *p != 0 && !ok; p++)
			ok = *p == opt;
		/* getopt_long sets optopt to the option's code when its value
		 * is missing; to 0 (or the letter) for an unknown option. */
		if (opt == '?' && optopt >= OPT_ALGORITHM)
			return cli_fail(c, LK_EINVAL, "option '%.60s' needs a value", opt_name);
		/* A known option's value may stand where its name was. */
		for (const struct option *o = all_opts; o->name != NULL && opt != '?'; o++)
			if (o->val == opt)
				opt_name = o->name;
		if (!ok)
			return cli_fail(c, LK_EINVAL, "option '%s%.60s' is not valid for 'totp %s'",
			                opt == '?' ? "" : "--", opt_name, name);
		if ((status = parse_option(c, opt, a)) != EXIT_OK)
			return status;
	}
	if (want_user && optind >= argc)
		return cli_fail(c, LK_EINVAL, "missing user (usage: latchkey totp %s USER)", name);
	if (argc - optind > (want_user ? 1 : 0))
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'",
		                argv[optind + (want_user ? 1 : 0)]);
	if (want_user)
		a->user = argv[optind];
	return EXIT_OK;
}

static void info_json(struct json *j, const struct lk_totp_info *t)
{
	json_str(j, "user", t->user);
	json_str(j, "user_ref", t->user_ref);
	json_str(j, "cred_id", t->cred_id);
	json_str(j, "status", t->status);
	json_str(j, "algorithm", lk_totp_alg_name(t->alg));
	json_int(j, "digits", t->digits);
	json_int(j, "period", t->period);
	json_str(j, "issuer", t->issuer);
	json_time(j, "created", t->created);
	json_time(j, "confirmed", t->confirmed);
	json_time(j, "last_used", t->last_used);
	json_int(j, "recovery_codes_left", t->recovery_left);
}

/* "never" for 0. */
static const char *when(int64_t t, char *buf, size_t len)
{
	if (t == 0)
		return "never";
	lk_time_format(t, buf, len);
	return buf;
}

static void info_text(FILE *f, const struct lk_totp_info *t)
{
	char buf[40];

	fprintf(f, "%-14s %s\n", "user", t->user);
	fprintf(f, "%-14s %s\n", "status", t->status);
	fprintf(f, "%-14s %s\n", "algorithm", lk_totp_alg_name(t->alg));
	fprintf(f, "%-14s %u\n", "digits", t->digits);
	fprintf(f, "%-14s %us\n", "period", t->period);
	fprintf(f, "%-14s %s\n", "issuer", t->issuer);
	fprintf(f, "%-14s %s\n", "created", when(t->created, buf, sizeof(buf)));
	fprintf(f, "%-14s %s\n", "confirmed", when(t->confirmed, buf, sizeof(buf)));
	fprintf(f, "%-14s %s\n", "last used", when(t->last_used, buf, sizeof(buf)));
	fprintf(f, "%-14s %u\n", "recovery left", t->recovery_left);
	fprintf(f, "%-14s %s\n", "credential", t->cred_id);
}

static void codes_json(struct json *j, char codes[][LK_TOTP_RECOVERY_LEN + 1])
{
	json_value_open(j, "recovery_codes", '[');
	for (size_t i = 0; i < LK_TOTP_RECOVERY_CODES; i++)
		json_str(j, NULL, codes[i]);
	json_close(j, '[');
}

static void codes_text(FILE *f, char codes[][LK_TOTP_RECOVERY_LEN + 1])
{
	fputs("recovery codes (each works once; keep them offline):\n", f);
	for (size_t i = 0; i < LK_TOTP_RECOVERY_CODES; i++)
		fprintf(f, "  %s\n", codes[i]);
}

int cli_totp_void_undelivered(struct cli *c, const struct cli_new_totp *t)
{
	const char *what = t->enrollment ? "TOTP enrollment" : "new recovery codes";
	struct lk_err err = { { 0 } };
	struct lk_totp_info info;
	char codes[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	int r;

	r = lk_totp_get(c->store, t->user, &info, &err);
	if (r == LK_ENOTFOUND || (r == LK_OK && strcmp(info.cred_id, t->cred_id) != 0))
		return cli_fail(c, LK_EIO,
		                "could not write the %s of '%s' to stdout; that credential is "
		                "gone already",
		                what, t->user);
	/* Confirmed with a code from its seed since: somebody holds it. */
	if (r == LK_OK && t->enrollment && strcmp(info.status, "pending") != 0)
		return cli_fail(c, LK_EIO,
		                "could not write the %s of '%s' to stdout, yet it was confirmed "
		                "since; reset it unless that was its user",
		                what, t->user);
	if (r == LK_OK && t->enrollment) {
		r = lk_totp_reset(c->store, t->user, CLI_TOTP_UNDELIVERED, c->actor, c->now, &err);
	} else if (r == LK_OK) {
		/* The codes nobody saw stop working; their replacements are
		 * never shown either. */
		r = lk_totp_recovery_regenerate(c->store, t->user, c->actor, c->now, codes, &err);
		sodium_memzero(codes, sizeof(codes));
	}
	if (r < 0)
		return cli_fail(c, LK_EIO,
		                "could not write the %s of '%s' to stdout, and voiding it failed "
		                "(%s); reset it by hand",
		                what, t->user, err.msg);
	return cli_fail(c, LK_EIO, "could not write the %s of '%s' to stdout; %s", what, t->user,
	                t->enrollment ? "it has been reset (enroll again)"
	                              : "they no longer work (regenerate again)");
}

/* Secrets that could not be written out (full disk, closed pipe) are held
 * by nobody: voided. In latchkeyd, whether they were written out is known
 * only once the client acknowledges it: remember them. */
static int totp_delivered(struct cli *c, const struct lk_totp_info *info, bool enrollment)
{
	struct cli_new_totp t = { .enrollment = enrollment };
	void *p;

	snprintf(t.user, sizeof(t.user), "%s", info->user);
	snprintf(t.cred_id, sizeof(t.cred_id), "%s", info->cred_id);
	if (c->in_daemon) {
		p = realloc(c->new_totp, (c->n_new_totp + 1) * sizeof(*c->new_totp));
		if (p == NULL)
			return cli_totp_void_undelivered(c, &t);
		c->new_totp = p;
		c->new_totp[c->n_new_totp++] = t;
		return EXIT_OK;
	}
	if (!ferror(c->out) && fflush(c->out) == 0)
		return EXIT_OK;
	return cli_totp_void_undelivered(c, &t);
}

/* Shown once: the URI first on its own line (so `| head -1` takes it), the
 * QR code of it, the recovery codes; the details and what to do next on
 * stderr. Or everything but the QR code in one JSON object. */
static void show_enrollment(struct cli *c, const char *uri, char codes[][LK_TOTP_RECOVERY_LEN + 1],
                            const struct lk_totp_info *info)
{
	struct lk_err err = { { 0 } };
	struct json j;

	if (c->json) {
		json_open(&j, c->out, '{');
		json_str(&j, "uri", uri);
		codes_json(&j, codes);
		info_json(&j, info);
		json_close(&j, '{');
		return;
	}
	fprintf(c->out, "%s\n\n", uri);
	if (cli_qr_print(c->out, uri, &err) == LK_OK)
		fputc('\n', c->out);
	else if (err.msg[0] != '\0')
		fprintf(c->err, "latchkey: note: %s; enter the URI's secret by hand\n", err.msg);
	codes_text(c->out, codes);
	info_text(c->err, info);
	fprintf(c->err,
	        "Scan the QR code with an authenticator app (or type in the URI's secret), then\n"
	        "confirm with the code it shows: latchkey totp confirm %s (code on stdin).\n"
	        "Until then the enrollment is pending and authenticates nothing. The secret and\n"
	        "the recovery codes are shown once; Latchkey keeps the seed sealed and only\n"
	        "keyed hashes of the codes.\n",
	        info->user);
}

static int totp_enroll(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_ALGORITHM, OPT_DIGITS, OPT_PERIOD, OPT_ISSUER, 0 };
	struct lk_err err = { { 0 } };
	struct lk_totp_info info;
	struct totp_args a;
	char uri[LK_TOTP_URI_MAX + 1];
	char codes[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	int status, r;

	cli_unbuffer_stdout(c);
	if ((status = parse_args(c, argc, argv, "enroll", allowed, true, &a)) != EXIT_OK)
		return status;
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	r = lk_totp_enroll(c->store, a.user, &a.params, c->actor, c->now, uri, sizeof(uri), codes,
	                   &err);
	/* The credential's id, for voiding it should the output be lost. */
	if (r == LK_OK && (r = lk_totp_get(c->store, a.user, &info, &err)) < 0) {
		struct lk_err ignored = { { 0 } };
		(void)lk_totp_reset(c->store, a.user, CLI_TOTP_UNDELIVERED, c->actor, c->now,
		                    &ignored);
	}
	if (r < 0) {
		status = cli_fail_err(c, r, &err);
		goto out;
	}
	show_enrollment(c, uri, codes, &info);
	status = totp_delivered(c, &info, true);
out:
	sodium_memzero(uri, sizeof(uri));
	sodium_memzero(codes, sizeof(codes));
	return status;
}

/* What an authenticator app shows: exactly `digits` decimal digits. */
static bool code_well_formed(const char *code, size_t len, unsigned digits)
{
	bool ok = len == digits;

	for (size_t i = 0; i < len && i < CODE_INPUT_MAX; i++)
		ok &= code[i] >= '0' && code[i] <= '9';
	return ok;
}

static int totp_confirm(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { 0 };
	struct lk_err err = { { 0 } };
	struct lk_totp_info info;
	struct totp_args a;
	char code[CODE_INPUT_MAX + 1];
	size_t len = 0;
	int status, r;

	if ((status = parse_args(c, argc, argv, "confirm", allowed, true, &a)) != EXIT_OK)
		return status;
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	/* The credential first: its digits say what a well-formed code is. */
	if ((r = lk_totp_get(c->store, a.user, &info, &err)) < 0)
		return cli_fail_err(c, r, &err);
	if (strcmp(info.status, "pending") != 0)
		return cli_fail(c, LK_EEXIST,
		                "the TOTP enrollment of '%s' is %s already; nothing to confirm",
		                a.user, info.status);
	memset(code, 0, sizeof(code));
	if (cli_read_secret(c, "TOTP code: ", code, sizeof(code), &len) < 0) {
		status = cli_fail(c, LK_EIO, "cannot read the code from stdin");
		goto out;
	}
	/* Never echoed: a code is valid for a while, and stderr goes to logs. */
	if (!code_well_formed(code, len, info.digits)) {
		status = cli_fail(c, LK_EINVAL,
		                  "bad code on stdin: %u digits expected, as the authenticator app "
		                  "shows them",
		                  info.digits);
		goto out;
	}
	r = lk_totp_confirm(c->store, a.user, code, len, c->actor, c->now, &err);
	if (r == LK_EINVAL) {
		/* The user and the code's form are checked above: it simply did
		 * not match (audited as totp.confirm-failed). A denial, not bad
		 * input. */
		status = cli_fail_err(c, CLI_EDENIED, &err);
		goto out;
	}
	if (r < 0) {
		status = cli_fail_err(c, r, &err);
		goto out;
	}
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "user", a.user);
		json_str(&j, "cred_id", info.cred_id);
		json_str(&j, "status", "active");
		json_close(&j, '{');
	} else {
		fprintf(c->out, "%s: TOTP active\n", a.user);
	}
	status = EXIT_OK;
out:
	sodium_memzero(code, sizeof(code));
	return status;
}

struct list_ctx {
	struct cli *c;
	struct json j;
};

static int list_one(const struct lk_totp_info *t, void *ctx)
{
	struct list_ctx *l = ctx;
	char created[40], confirmed[40], used[40];

	if (l->c->json) {
		json_value_open(&l->j, NULL, '{');
		info_json(&l->j, t);
		json_close(&l->j, '{');
		return 0;
	}
	fprintf(l->c->out, "%-20s %-8s %-6s %-6u %-6u %-20s %-20s %-20s %u\n", t->user, t->status,
	        lk_totp_alg_name(t->alg), t->digits, t->period,
	        when(t->created, created, sizeof(created)),
	        when(t->confirmed, confirmed, sizeof(confirmed)),
	        when(t->last_used, used, sizeof(used)), t->recovery_left);
	return 0;
}

static int totp_list(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { 0 };
	struct list_ctx l = { .c = c };
	struct lk_err err = { { 0 } };
	struct totp_args a;
	int status, r;

	if ((status = parse_args(c, argc, argv, "list", allowed, false, &a)) != EXIT_OK)
		return status;
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	if (c->json)
		json_open(&l.j, c->out, '[');
	else
		fprintf(c->out, "%-20s %-8s %-6s %-6s %-6s %-20s %-20s %-20s %s\n", "USER",
		        "STATUS", "ALG", "DIGITS", "PERIOD", "CREATED", "CONFIRMED", "LAST USED",
		        "RECOVERY");
	r = lk_totp_list(c->store, list_one, &l, &err);
	if (c->json)
		json_close(&l.j, '[');
	if (r < 0)
		return cli_fail_err(c, r, &err);
	return EXIT_OK;
}

static int totp_show(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { 0 };
	struct lk_err err = { { 0 } };
	struct lk_totp_info info;
	struct totp_args a;
	int status, r;

	if ((status = parse_args(c, argc, argv, "show", allowed, true, &a)) != EXIT_OK)
		return status;
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	if ((r = lk_totp_get(c->store, a.user, &info, &err)) < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		info_json(&j, &info);
		json_close(&j, '{');
	} else {
		info_text(c->out, &info);
	}
	return EXIT_OK;
}

/* reset and remove: the same deletion, told apart in the audit log and by
 * the role they need (cli/run.c). */
static int totp_drop(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_REASON, 0 };
	bool reset = strcmp(argv[0], "reset") == 0;
	struct lk_err err = { { 0 } };
	struct totp_args a;
	int status, r;

	if ((status = parse_args(c, argc, argv, argv[0], allowed, true, &a)) != EXIT_OK)
		return status;
	if (a.reason == NULL)
		return cli_fail(c, LK_EINVAL, "missing --reason (recorded in the audit log)");
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	r = reset ? lk_totp_reset(c->store, a.user, a.reason, c->actor, c->now, &err)
	          : lk_totp_remove(c->store, a.user, a.reason, c->actor, c->now, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "user", a.user);
		json_str(&j, "action", argv[0]);
		json_close(&j, '{');
	} else if (reset) {
		fprintf(c->out, "%s: TOTP reset; enroll again with: latchkey totp enroll %s\n",
		        a.user, a.user);
	} else {
		fprintf(c->out, "%s: TOTP removed\n", a.user);
	}
	return EXIT_OK;
}

static int totp_recovery_regenerate(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { 0 };
	struct lk_err err = { { 0 } };
	struct lk_totp_info info;
	struct totp_args a;
	char codes[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	int status, r;

	cli_unbuffer_stdout(c);
	if ((status = parse_args(c, argc, argv, "recovery regenerate", allowed, true, &a)) !=
	    EXIT_OK)
		return status;
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	r = lk_totp_recovery_regenerate(c->store, a.user, c->actor, c->now, codes, &err);
	if (r == LK_OK)
		r = lk_totp_get(c->store, a.user, &info, &err);
	if (r < 0) {
		/* Codes never shown are as good as void; after a failed lookup
		 * nothing here could void them more. */
		status = cli_fail_err(c, r, &err);
		goto out;
	}
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "user", info.user);
		json_str(&j, "cred_id", info.cred_id);
		codes_json(&j, codes);
		json_close(&j, '{');
	} else {
		codes_text(c->out, codes);
		fprintf(c->err,
		        "The earlier recovery codes of %s no longer work. These are shown once;\n"
		        "Latchkey keeps only keyed hashes of them.\n",
		        info.user);
	}
	status = totp_delivered(c, &info, false);
out:
	sodium_memzero(codes, sizeof(codes));
	return status;
}

int cmd_totp(struct cli *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *c, int argc, char **argv);
	} verbs[] = {
		{ "enroll", totp_enroll }, { "confirm", totp_confirm }, { "list", totp_list },
		{ "show", totp_show },     { "reset", totp_drop },      { "remove", totp_drop },
	};

	if (argc < 2)
		return cli_fail(c, LK_EINVAL,
		                "missing totp command (enroll, confirm, list, show, reset, remove, "
		                "recovery regenerate)");
	if (strcmp(argv[1], "recovery") == 0) {
		if (argc < 3 || strcmp(argv[2], "regenerate") != 0)
			return cli_fail(c, LK_EINVAL,
			                "unknown totp recovery command '%.60s' "
			                "(regenerate)",
			                argc < 3 ? "" : argv[2]);
		optind = 0;
		return totp_recovery_regenerate(c, argc - 2, argv + 2);
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].name) == 0) {
			optind = 0;
			return verbs[i].fn(c, argc - 1, argv + 1);
		}
	}
	return cli_fail(c, LK_EINVAL, "unknown totp command '%.60s'", argv[1]);
}
