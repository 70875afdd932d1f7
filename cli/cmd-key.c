/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey key ...: the API-key lifecycle verbs. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "certs-private.h"
#include "cli-private.h"
#include "keys-private.h"
#include "util-private.h"

/* The longest line read from stdin for verify: anything longer is not a key,
 * and reading no more bounds the work an attacker can cause. */
#define KEY_INPUT_MAX 256

enum {
	OPT_OWNER = 256,
	OPT_ENV,
	OPT_SCOPE,
	OPT_EXPIRES,
	OPT_CIDR,
	OPT_DESCRIPTION,
	OPT_REASON,
	OPT_IMMEDIATE,
	OPT_WITHIN,
	OPT_ROTATE,
	OPT_SOURCE,
	OPT_JSON,
	OPT_CERT_SHA256,
	OPT_CERT,
	OPT_LEFT,
};

static const struct option all_opts[] = {
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "scope", required_argument, NULL, OPT_SCOPE },
	{ "expires", required_argument, NULL, OPT_EXPIRES },
	{ "allow-cidr", required_argument, NULL, OPT_CIDR },
	{ "description", required_argument, NULL, OPT_DESCRIPTION },
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "immediate", no_argument, NULL, OPT_IMMEDIATE },
	{ "within", required_argument, NULL, OPT_WITHIN },
	{ "rotate", no_argument, NULL, OPT_ROTATE },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "cert-sha256", required_argument, NULL, OPT_CERT_SHA256 },
	/* Only ever seen here if the file could not be read first: main.c
	 * turns --cert FILE into --cert-sha256 in the caller's process. */
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "left", required_argument, NULL, OPT_LEFT },
	{ NULL, 0, NULL, 0 },
};

struct key_args {
	const char *owner, *env, *expires, *description, *reason, *within, *source, *left;
	const char *scopes[LK_SCOPES_MAX + 1];
	size_t n_scopes;
	const char *cidrs[LK_CIDRS_MAX + 1];
	size_t n_cidrs;
	bool immediate, rotate;
	const char *kid; /* the one positional argument, where the verb takes it */
	char cert_sha256[LK_CERT_SHA256_HEX + 1]; /* "" unless --cert-sha256 */
};

/* The option as the user typed it: getopt has already consumed its value,
 * so argv[optind - 1] may be the value rather than the option. */
static const char *option_name(int opt, const char *fallback)
{
	static char buf[40];

	for (const struct option *o = all_opts; o->name != NULL; o++) {
		if (o->val == opt) {
			snprintf(buf, sizeof(buf), "--%s", o->name);
			return buf;
		}
	}
	return fallback;
}

/* Parses the options a verb allows (a string of OPT_ codes) and at most
 * `positional` positional arguments. */
static int parse_args(struct cli *c, int argc, char **argv, const int *allowed, int positional,
                      struct key_args *a)
{
	int opt;

	memset(a, 0, sizeof(*a));
	while ((opt = getopt_long(argc, argv, "", all_opts, NULL)) != -1) {
		bool ok = opt == OPT_JSON;
		for (const int *p = allowed; *p != 0 && !ok; p++)
			ok = *p == opt;
		if (opt == '?' && optopt != 0)
			return cli_fail(c, LK_EINVAL, "option '%.60s' needs a value",
			                argv[optind - 1]);
		if (opt == OPT_CERT)
			ok = true; /* refused below with its own message */
		if (opt == '?' || !ok)
			return cli_fail(c, LK_EINVAL, "option '%.60s' is not valid for 'key %s'",
			                option_name(opt, argv[optind - 1]), argv[0]);
		switch (opt) {
		case OPT_OWNER:
			a->owner = optarg;
			break;
		case OPT_ENV:
			a->env = optarg;
			break;
		case OPT_SCOPE:
			if (a->n_scopes > LK_SCOPES_MAX)
				return cli_fail(c, LK_EINVAL,
				                "too many --scope options (at most %d)",
				                LK_SCOPES_MAX);
			a->scopes[a->n_scopes++] = optarg;
			break;
		case OPT_EXPIRES:
			a->expires = optarg;
			break;
		case OPT_CIDR:
			if (a->n_cidrs > LK_CIDRS_MAX)
				return cli_fail(c, LK_EINVAL,
				                "too many --allow-cidr options (at most %d)",
				                LK_CIDRS_MAX);
			a->cidrs[a->n_cidrs++] = optarg;
			break;
		case OPT_DESCRIPTION:
			a->description = optarg;
			break;
		case OPT_REASON:
			a->reason = optarg;
			break;
		case OPT_LEFT:
			a->left = optarg;
			break;
		case OPT_IMMEDIATE:
			a->immediate = true;
			break;
		case OPT_WITHIN:
			a->within = optarg;
			break;
		case OPT_ROTATE:
			a->rotate = true;
			break;
		case OPT_SOURCE:
			a->source = optarg;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case OPT_CERT_SHA256: {
			struct lk_err err = { { 0 } };
			if (lk_cert_fingerprint_parse(optarg, a->cert_sha256, &err) < 0)
				return cli_fail_err(c, LK_EINVAL, &err);
			break;
		}
		case OPT_CERT:
			/* latchkeyd never opens a file a client names. */
			return cli_fail(c, LK_EINVAL,
			                "--cert is read by the latchkey command, not by latchkeyd; "
			                "use --cert-sha256");
		}
	}
	if (argc - optind > positional)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'",
		                argv[optind + positional]);
	if (positional > 0) {
		if (optind >= argc)
			return cli_fail(c, LK_EINVAL, "missing key id (usage: latchkey key %s KID)",
			                argv[0]);
		a->kid = argv[optind];
		if (!lk_kid_valid(a->kid))
			return cli_fail(c, LK_EINVAL, "bad key id '%.40s' (12 base62 characters)",
			                a->kid);
	}
	return EXIT_OK;
}

static void key_json(struct json *j, const struct lk_key_info *k, int64_t now)
{
	json_str(j, "kid", k->kid);
	json_str(j, "owner", k->owner);
	json_str(j, "owner_ref", k->owner_ref);
	json_str(j, "env", k->env);
	json_words(j, "scopes", k->scopes);
	json_words(j, "allow_cidrs", k->cidrs);
	json_str(j, "description", k->description);
	json_str(j, "status", lk_key_effective_status(k, now));
	json_str(j, "status_reason", k->status_reason[0] ? k->status_reason : NULL);
	json_time(j, "created", k->created);
	json_time(j, "expires", k->expires);
	json_time(j, "last_used", k->last_used);
	json_str(j, "rotated_from", k->rotated_from[0] ? k->rotated_from : NULL);
	json_str(j, "rotated_to", k->rotated_to[0] ? k->rotated_to : NULL);
	json_str(j, "cert_sha256", k->cert_sha256[0] ? k->cert_sha256 : NULL);
}

static void key_text(FILE *f, const struct lk_key_info *k, int64_t now)
{
	char buf[40];

	fprintf(f, "%-13s %s\n", "kid", k->kid);
	fprintf(f, "%-13s %s\n", "owner", k->owner);
	fprintf(f, "%-13s %s\n", "env", k->env);
	fprintf(f, "%-13s %s\n", "scopes", k->scopes);
	fprintf(f, "%-13s %s\n", "allow-cidr", k->cidrs[0] ? k->cidrs : "any");
	if (k->description[0])
		fprintf(f, "%-13s %s\n", "description", k->description);
	fprintf(f, "%-13s %s%s%s%s\n", "status", lk_key_effective_status(k, now),
	        k->status_reason[0] ? " (" : "", k->status_reason, k->status_reason[0] ? ")" : "");
	lk_time_format(k->created, buf, sizeof(buf));
	fprintf(f, "%-13s %s\n", "created", buf);
	if (k->expires)
		lk_time_format(k->expires, buf, sizeof(buf));
	fprintf(f, "%-13s %s\n", "expires", k->expires ? buf : "never");
	if (k->last_used)
		lk_time_format(k->last_used, buf, sizeof(buf));
	fprintf(f, "%-13s %s\n", "last used", k->last_used ? buf : "never");
	if (k->rotated_from[0])
		fprintf(f, "%-13s %s\n", "rotated from", k->rotated_from);
	if (k->rotated_to[0])
		fprintf(f, "%-13s %s\n", "rotated to", k->rotated_to);
	if (k->cert_sha256[0])
		fprintf(f, "%-13s sha256:%s\n", "bound cert", k->cert_sha256);
}

int cli_revoke_undelivered(struct cli *c, const char *kid)
{
	struct lk_err err = { { 0 } };

	if (lk_key_revoke(c->store, kid, CLI_UNDELIVERED, c->actor, c->now, &err) < 0)
		return cli_fail(
		    c, LK_EIO,
		    "could not write new key %s to stdout, and revoking it failed (%s); "
		    "revoke it by hand",
		    kid, err.msg);
	return cli_fail(c, LK_EIO, "could not write new key %s to stdout; it has been revoked",
	                kid);
}

/* A new key that could not be written out (full disk, closed pipe) is held
 * by nobody: it must not stay valid. In latchkeyd, whether it was written
 * out is known only once the client acknowledges it: remember it. */
static int check_delivered(struct cli *c, const char *kid)
{
	void *p;

	if (c->in_daemon) {
		p = realloc(c->new_kids, (c->n_new_kids + 1) * sizeof(*c->new_kids));
		if (p == NULL)
			return cli_revoke_undelivered(c, kid);
		c->new_kids = p;
		memcpy(c->new_kids[c->n_new_kids++], kid, LK_KID_LEN + 1);
		return EXIT_OK;
	}
	if (!ferror(c->out) && fflush(c->out) == 0)
		return EXIT_OK;
	return cli_revoke_undelivered(c, kid);
}

/* Shown once: the key alone on stdout (so `KEY=$(latchkey key issue ...)`
 * works), details on stderr; or everything in one JSON object. */
static int show_new_key(struct cli *c, char *key, const struct lk_key_info *info)
{
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "key", key);
		key_json(&j, info, c->now);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "%s\n", key);
		key_text(c->err, info, c->now);
		fputs("This key is shown once; Latchkey keeps only a keyed hash of it.\n", c->err);
	}
	sodium_memzero(key, LK_KEY_MAX_LEN + 1);
	return check_delivered(c, info->kid);
}

static int key_issue(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_OWNER, OPT_ENV,         OPT_SCOPE,       OPT_EXPIRES,
		                       OPT_CIDR,  OPT_DESCRIPTION, OPT_CERT_SHA256, 0 };
	struct key_args a;
	struct lk_key_rules rules;
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	char key[LK_KEY_MAX_LEN + 1];
	int64_t lifetime;
	int status, r;

	cli_unbuffer_stdout(c);
	if ((status = parse_args(c, argc, argv, allowed, 0, &a)) != EXIT_OK)
		return status;
	if (a.owner == NULL)
		return cli_fail(c, LK_EINVAL, "missing --owner");
	if (a.env == NULL)
		return cli_fail(c, LK_EINVAL, "missing --env (e.g. dev, test, prod)");
	if (a.n_scopes == 0)
		return cli_fail(c, LK_EINVAL, "missing --scope: keys need at least one scope");
	if (a.expires == NULL)
		return cli_fail(c, LK_EINVAL, "missing --expires (e.g. 30d)");
	if (strcmp(a.expires, "never") == 0)
		lifetime = LK_LIFETIME_NEVER;
	else if (lk_duration_parse(a.expires, &lifetime) < 0)
		return cli_fail(c, LK_EINVAL, "bad --expires '%.40s' (e.g. 12h, 30d, 8w or never)",
		                a.expires);
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	lk_key_rules_from_config(c->cfg, &rules);
	r = lk_key_issue(
	    c->store, &rules,
	    &(struct lk_issue_request){ .owner = a.owner,
	                                .env = a.env,
	                                .scopes = a.scopes,
	                                .n_scopes = a.n_scopes,
	                                .cidrs = a.cidrs,
	                                .n_cidrs = a.n_cidrs,
	                                .description = a.description,
	                                .lifetime = lifetime,
	                                .cert_sha256 = a.cert_sha256[0] ? a.cert_sha256 : NULL },
	    c->actor, c->now, key, &info, &err);
	if (r < 0) {
		sodium_memzero(key, sizeof(key));
		return cli_fail_err(c, r, &err);
	}
	return show_new_key(c, key, &info);
}

struct list_ctx {
	struct cli *c;
	struct json j;
	size_t n;
};

static int list_one(const struct lk_key_info *k, void *ctx)
{
	struct list_ctx *l = ctx;
	char expires[40], last[40];

	l->n++;
	if (l->c->json) {
		json_value_open(&l->j, NULL, '{');
		key_json(&l->j, k, l->c->now);
		json_close(&l->j, '{');
		return 0;
	}
	if (k->expires)
		lk_time_format(k->expires, expires, sizeof(expires));
	if (k->last_used)
		lk_time_format(k->last_used, last, sizeof(last));
	fprintf(l->c->out, "%-12s  %-5s %-9s %-20s %-20s %-20s %s\n", k->kid, k->env,
	        lk_key_effective_status(k, l->c->now), k->expires ? expires : "never",
	        k->last_used ? last : "never", k->owner, k->scopes);
	return 0;
}

static void list_header(struct list_ctx *l)
{
	if (l->c->json)
		json_open(&l->j, l->c->out, '[');
	else
		fprintf(l->c->out, "%-12s  %-5s %-9s %-20s %-20s %-20s %s\n", "KID", "ENV",
		        "STATUS", "EXPIRES", "LAST USED", "OWNER", "SCOPES");
}

static int key_list(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_OWNER, OPT_ENV, 0 };
	struct list_ctx l = { .c = c };
	struct key_args a;
	struct lk_err err = { { 0 } };
	int status, r;

	if ((status = parse_args(c, argc, argv, allowed, 0, &a)) != EXIT_OK)
		return status;
	if (a.owner != NULL && !lk_owner_name_valid(a.owner))
		return cli_fail(c, LK_EINVAL, "bad --owner '%.140s'", a.owner);
	if (a.env != NULL && !lk_env_valid(a.env))
		return cli_fail(c, LK_EINVAL, "bad --env '%.40s' (2 to 8 lowercase letters)",
		                a.env);
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	list_header(&l);
	r = lk_key_list(c->store, &(struct lk_key_filter){ .owner = a.owner, .env = a.env },
	                list_one, &l, &err);
	if (c->json)
		json_close(&l.j, '[');
	if (r < 0)
		return cli_fail_err(c, r, &err);
	return EXIT_OK;
}

static int key_show(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { 0 };
	struct key_args a;
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	int status, r;

	if ((status = parse_args(c, argc, argv, allowed, 1, &a)) != EXIT_OK)
		return status;
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	r = lk_key_get(c->store, a.kid, &info, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		key_json(&j, &info, c->now);
		json_close(&j, '{');
	} else {
		key_text(c->out, &info, c->now);
	}
	return EXIT_OK;
}

static int key_rotate(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_IMMEDIATE, 0 };
	struct key_args a;
	struct lk_key_rules rules;
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	char key[LK_KEY_MAX_LEN + 1];
	int status, r;

	cli_unbuffer_stdout(c);
	if ((status = parse_args(c, argc, argv, allowed, 1, &a)) != EXIT_OK)
		return status;
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	lk_key_rules_from_config(c->cfg, &rules);
	r = lk_key_rotate(c->store, &rules, a.kid, a.immediate, c->actor, c->now, key, &info, &err);
	if (r < 0) {
		sodium_memzero(key, sizeof(key));
		return cli_fail_err(c, r, &err);
	}
	return show_new_key(c, key, &info);
}

static int key_status_verb(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_REASON, 0 };
	struct key_args a;
	struct lk_err err = { { 0 } };
	const char *verb = argv[0];
	int status, r;

	if ((status = parse_args(c, argc, argv, allowed, 1, &a)) != EXIT_OK)
		return status;
	if (a.reason == NULL)
		return cli_fail(c, LK_EINVAL, "missing --reason (recorded in the audit log)");
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if (strcmp(verb, "revoke") == 0)
		r = lk_key_revoke(c->store, a.kid, a.reason, c->actor, c->now, &err);
	else if (strcmp(verb, "suspend") == 0)
		r = lk_key_suspend(c->store, a.kid, a.reason, c->actor, c->now, &err);
	else
		r = lk_key_resume(c->store, a.kid, a.reason, c->actor, c->now, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "kid", a.kid);
		json_str(&j, "action", verb);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "%s %s\n", a.kid,
		        strcmp(verb, "revoke") == 0    ? "revoked"
		        : strcmp(verb, "suspend") == 0 ? "suspended"
		                                       : "resumed");
	}
	return EXIT_OK;
}

/*
 * --left: when the person left, an ISO 8601 UTC time or a date (its first
 * second), exactly as written: a date that does not exist (2026-02-30) is
 * refused, not moved on to the next month.
 */
static int parse_left(const char *s, int64_t *ret_t)
{
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d" };

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm, back;
		const char *end;
		time_t t;

		memset(&tm, 0, sizeof(tm));
		end = strptime(s, formats[i], &tm);
		if (end == NULL || *end != '\0')
			continue;
		back = tm;
		t = timegm(&back);
		/* timegm normalises: a field it moved was out of range. */
		if (back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon ||
		    back.tm_hour != tm.tm_hour || back.tm_min != tm.tm_min ||
		    back.tm_sec != tm.tm_sec)
			return LK_EINVAL;
		*ret_t = (int64_t)t;
		return LK_OK;
	}
	return LK_EINVAL;
}

static int key_revoke_all(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_OWNER, OPT_REASON, OPT_LEFT, 0 };
	struct key_args a;
	struct lk_err err = { { 0 } };
	int64_t left = LK_LEFT_UNKNOWN;
	size_t count = 0;
	int status, r;

	if ((status = parse_args(c, argc, argv, allowed, 0, &a)) != EXIT_OK)
		return status;
	if (a.owner == NULL)
		return cli_fail(c, LK_EINVAL, "missing --owner");
	if (a.reason == NULL)
		return cli_fail(c, LK_EINVAL, "missing --reason (recorded in the audit log)");
	if (a.left != NULL && parse_left(a.left, &left) < 0)
		return cli_fail(c, LK_EINVAL,
		                "bad --left '%.60s': a date (2026-11-02) or a UTC time "
		                "(2026-11-02T17:30:00Z)",
		                a.left);
	if (a.left != NULL && left > c->now)
		return cli_fail(c, LK_EINVAL, "bad --left '%.60s': it is in the future", a.left);
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	r = lk_key_revoke_all_left(c->store, a.owner, a.reason, left, c->actor, c->now, &count,
	                           &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "owner", a.owner);
		json_int(&j, "revoked", (int64_t)count);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "revoked %zu key%s of %s\n", count, count == 1 ? "" : "s", a.owner);
	}
	return EXIT_OK;
}

struct due_ctx {
	struct list_ctx list;
	char (*kids)[LK_KID_LEN + 1];
	size_t n, cap;
};

static int due_one(const struct lk_key_info *k, void *ctx)
{
	struct due_ctx *d = ctx;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		void *p = realloc(d->kids, cap * sizeof(*d->kids));
		if (p == NULL)
			return -1;
		d->kids = p;
		d->cap = cap;
	}
	memcpy(d->kids[d->n++], k->kid, LK_KID_LEN + 1);
	return list_one(k, &d->list);
}

static int key_due(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_WITHIN, OPT_ROTATE, 0 };
	struct due_ctx d = { .list = { .c = c } };
	struct key_args a;
	struct lk_key_rules rules;
	struct lk_err err = { { 0 } };
	int64_t within = 14 * 86400;
	size_t failed = 0;
	int status, r;

	if ((status = parse_args(c, argc, argv, allowed, 0, &a)) != EXIT_OK)
		return status;
	/* Listing is an auditor's; rotating, an operator's. */
	if (a.rotate && (status = cli_require(c, LK_ROLE_OPERATOR, "key due --rotate")) != EXIT_OK)
		return status;
	if (a.rotate)
		cli_unbuffer_stdout(c);
	if (a.within != NULL && lk_duration_parse(a.within, &within) < 0)
		return cli_fail(c, LK_EINVAL, "bad --within '%.40s' (e.g. 14d)", a.within);
	if ((status = cli_open(c, a.rotate, !a.rotate)) != EXIT_OK)
		return status;
	lk_key_rules_from_config(c->cfg, &rules);
	if (c->json) {
		json_open(&d.list.j, c->out, '{');
		json_value_open(&d.list.j, "due", '[');
	} else {
		list_header(&d.list);
	}
	r = lk_key_due(c->store, &rules, within, c->now, due_one, &d, &err);
	if (r < 0) {
		free(d.kids);
		return cli_fail_err(c, r, &err);
	}
	if (c->json) {
		json_close(&d.list.j, '[');
		if (a.rotate)
			json_value_open(&d.list.j, "rotated", '[');
	}
	/* Rotated after the listing so the cursor is closed; each rotation is
	 * its own transaction, and one failure does not stop the rest. */
	for (size_t i = 0; a.rotate && i < d.n; i++) {
		struct lk_key_info info;
		char key[LK_KEY_MAX_LEN + 1];
		r = lk_key_rotate(c->store, &rules, d.kids[i], false, c->actor, c->now, key, &info,
		                  &err);
		if (r < 0) {
			sodium_memzero(key, sizeof(key));
			fprintf(c->err, "latchkey: rotating %s: %s\n", d.kids[i], err.msg);
			failed++;
			continue;
		}
		if (c->json) {
			json_value_open(&d.list.j, NULL, '{');
			json_str(&d.list.j, "old_kid", d.kids[i]);
			json_str(&d.list.j, "key", key);
			key_json(&d.list.j, &info, c->now);
			json_close(&d.list.j, '{');
		} else {
			fprintf(c->out, "rotated %s -> %s: %s\n", d.kids[i], info.kid, key);
		}
		sodium_memzero(key, sizeof(key));
		if (check_delivered(c, info.kid) != EXIT_OK)
			failed++;
	}
	if (c->json) {
		if (a.rotate)
			json_close(&d.list.j, '[');
		json_close(&d.list.j, '{');
	}
	free(d.kids);
	return failed ? EXIT_SYSTEM : EXIT_OK;
}

/* key bind KID --cert-sha256 FP --reason R; key unbind KID --reason R */
static int key_bind(struct cli *c, int argc, char **argv)
{
	static const int bind_opts[] = { OPT_CERT_SHA256, OPT_REASON, 0 };
	static const int unbind_opts[] = { OPT_REASON, 0 };
	bool unbind = strcmp(argv[0], "unbind") == 0;
	struct key_args a;
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	int status, r;

	if ((status = parse_args(c, argc, argv, unbind ? unbind_opts : bind_opts, 1, &a)) !=
	    EXIT_OK)
		return status;
	if (!unbind && a.cert_sha256[0] == '\0')
		return cli_fail(c, LK_EINVAL,
		                "missing --cert FILE or --cert-sha256 FINGERPRINT (the client "
		                "certificate the key will need)");
	if (a.reason == NULL)
		return cli_fail(c, LK_EINVAL, "missing --reason");
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	r = lk_key_bind(c->store, a.kid, unbind ? NULL : a.cert_sha256, a.reason, c->actor, c->now,
	                &err);
	if (r == LK_OK)
		r = lk_key_get(c->store, a.kid, &info, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		key_json(&j, &info, c->now);
		json_close(&j, '{');
	} else if (unbind) {
		fprintf(c->out, "%s unbound: it works without a client certificate again\n", a.kid);
	} else {
		fprintf(c->out, "%s bound to certificate sha256:%s\n", a.kid, info.cert_sha256);
	}
	return EXIT_OK;
}

static int key_verify(struct cli *c, int argc, char **argv)
{
	static const int allowed[] = { OPT_ENV, OPT_SCOPE, OPT_SOURCE, OPT_CERT_SHA256, 0 };
	struct key_args a;
	struct lk_verify_request req;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	char key[KEY_INPUT_MAX + 1];
	size_t keylen = 0;
	int status, r;

	if ((status = parse_args(c, argc, argv, allowed, 0, &a)) != EXIT_OK)
		return status;
	req = (struct lk_verify_request){
		.env = a.env,
		.scopes = a.scopes,
		.n_scopes = a.n_scopes,
		.source = a.source,
		.cert_sha256 = a.cert_sha256[0] ? a.cert_sha256 : NULL,
	};
	/* Arguments first: a bad request reads nothing and writes nothing. */
	if ((r = lk_verify_request_check(&req, &err)) < 0)
		return cli_fail_err(c, r, &err);
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	if (cli_read_secret(c, "API key: ", key, sizeof(key), &keylen) < 0) {
		sodium_memzero(key, sizeof(key));
		return cli_fail(c, LK_EIO, "cannot read the key from stdin");
	}
	r = lk_key_verify(c->store, key, keylen, &req, c->actor, c->now, &res, &err);
	sodium_memzero(key, sizeof(key));
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "result", lk_verdict_str(res.verdict));
		json_str(&j, "kid", res.kid[0] ? res.kid : NULL);
		json_bool(&j, "grace", res.in_grace);
		json_int(&j, "audit_seq", res.audit_seq);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "%s\n", lk_verdict_str(res.verdict));
	}
	return res.verdict == LK_VERDICT_OK ? EXIT_OK : EXIT_DENIED;
}

int cmd_key(struct cli *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *c, int argc, char **argv);
	} verbs[] = {
		{ "issue", key_issue },
		{ "list", key_list },
		{ "show", key_show },
		{ "rotate", key_rotate },
		{ "revoke", key_status_verb },
		{ "suspend", key_status_verb },
		{ "resume", key_status_verb },
		{ "revoke-all", key_revoke_all },
		{ "due", key_due },
		{ "verify", key_verify },
		{ "bind", key_bind },
		{ "unbind", key_bind },
	};

	if (argc < 2)
		return cli_fail(c, LK_EINVAL,
		                "missing key command (issue, list, show, rotate, revoke, "
		                "suspend, resume, revoke-all, due, verify, bind, unbind)");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].name) == 0) {
			optind = 0;
			return verbs[i].fn(c, argc - 1, argv + 1);
		}
	}
	return cli_fail(c, LK_EINVAL, "unknown key command '%.60s'", argv[1]);
}
