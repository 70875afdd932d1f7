/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey audit verify | log */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit-private.h"
#include "cli-private.h"
#include "keys-private.h"
#include "util-private.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int audit_verify(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		                              { NULL, 0, NULL, 0 } };
	struct lk_audit_report rep;
	struct lk_err err = { { 0 } };
	char head[2 * LK_CHAIN_LEN + 1];
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return cli_fail(c, LK_EINVAL,
			                "option '%.60s' is not valid for 'audit verify'",
			                argv[optind - 1]);
		c->json = true;
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	r = lk_audit_verify(c->store, &rep, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	hex(rep.head, LK_CHAIN_LEN, head);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_bool(&j, "intact", rep.problem == LK_AUDIT_INTACT);
		json_int(&j, "rows_checked", rep.rows);
		json_int(&j, "head_seq", rep.head_seq);
		json_str(&j, "head", head);
		if (rep.problem != LK_AUDIT_INTACT) {
			json_str(&j, "problem", lk_audit_problem_str(rep.problem));
			json_int(&j, "bad_seq", rep.bad_seq);
			json_str(&j, "why", rep.why);
		}
		json_close(&j, '{');
	} else if (rep.problem == LK_AUDIT_INTACT) {
		fprintf(c->out, "audit chain intact: %lld rows, head seq %lld, chain %s\n",
		        (long long)rep.rows, (long long)rep.head_seq, head);
	} else if (rep.problem == LK_AUDIT_SCHEMA) {
		fprintf(c->out, "audit log TAMPERED (%s): %s\n", lk_audit_problem_str(rep.problem),
		        rep.why);
	} else {
		fprintf(c->out, "audit chain BROKEN at seq %lld (%s): %s\n", (long long)rep.bad_seq,
		        lk_audit_problem_str(rep.problem), rep.why);
		fprintf(c->out, "last good seq %lld, chain %s\n", (long long)rep.head_seq, head);
	}
	return rep.problem == LK_AUDIT_INTACT ? EXIT_OK : EXIT_DENIED;
}

struct log_ctx {
	struct cli *c;
	struct json j;
};

static int log_one(const struct lk_audit_row *row, void *ctx)
{
	struct log_ctx *l = ctx;
	char ts[40];

	lk_time_format(row->ts, ts, sizeof(ts));
	if (l->c->json) {
		json_value_open(&l->j, NULL, '{');
		json_int(&l->j, "seq", row->seq);
		json_str(&l->j, "time", ts);
		json_int(&l->j, "actor_uid", row->actor_uid);
		json_str(&l->j, "subject_ref", row->subject_ref);
		json_str(&l->j, "kid", row->kid);
		json_str(&l->j, "action", row->action);
		json_str(&l->j, "reason", row->reason);
		json_str(&l->j, "detail", row->detail);
		json_close(&l->j, '{');
		return 0;
	}
	fprintf(l->c->out, "%6lld  %s  uid=%-5lld %-16s %-12s %-20s %s%s%s\n", (long long)row->seq,
	        ts, (long long)row->actor_uid, row->action, row->kid ? row->kid : "-",
	        row->subject_ref ? row->subject_ref : "-", row->reason,
	        row->detail && row->detail[0] ? "  " : "", row->detail ? row->detail : "");
	return 0;
}

static bool action_valid(const char *s)
{
	return lk_token_valid(s, 40, ".-");
}

static int audit_log(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "subject", required_argument, NULL, 'u' },
		{ "type", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lk_audit_filter f = { 0 };
	struct log_ctx l = { .c = c };
	struct lk_err err = { { 0 } };
	char ref[LK_SUBJECT_REF_LEN + 1];
	const char *subject = NULL;
	char *end;
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (cli_parse_since(optarg, c->now, &f.since) < 0)
				return cli_fail(c, LK_EINVAL,
				                "bad --since '%.60s' (e.g. 24h, 2026-11-01 or "
				                "2026-11-01T12:00:00Z)",
				                optarg);
			break;
		case 'k':
			if (!lk_kid_valid(optarg))
				return cli_fail(c, LK_EINVAL,
				                "bad --key '%.40s' (12 base62 characters)", optarg);
			f.kid = optarg;
			break;
		case 'u':
			if (!lk_owner_name_valid(optarg))
				return cli_fail(c, LK_EINVAL, "bad --subject '%.140s'", optarg);
			subject = optarg;
			break;
		case 't':
			if (!action_valid(optarg))
				return cli_fail(c, LK_EINVAL,
				                "bad --type '%.60s' (e.g. key.verify)", optarg);
			f.action = optarg;
			break;
		case 'l':
			f.limit = strtoll(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || f.limit <= 0 ||
			    f.limit > 10000000)
				return cli_fail(c, LK_EINVAL, "bad --limit '%.40s' (1 to 10000000)",
				                optarg);
			break;
		case 'j':
			c->json = true;
			break;
		default:
			return cli_fail(c, LK_EINVAL, "option '%.60s' is not valid for 'audit log'",
			                argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	if (subject != NULL) {
		/* A pseudonym as printed in the log, or an owner's name. */
		if (strncmp(subject, "sub_", 4) == 0 && strlen(subject) == LK_SUBJECT_REF_LEN) {
			snprintf(ref, sizeof(ref), "%s", subject);
		} else {
			r = lk_subject_ref(c->store, "owner", subject, false, 0, ref, &err);
			if (r < 0)
				return cli_fail_err(c, r, &err);
		}
		f.subject_ref = ref;
	}
	if (c->json)
		json_open(&l.j, c->out, '[');
	r = lk_audit_query(c->store, &f, log_one, &l, &err);
	if (c->json)
		json_close(&l.j, '[');
	if (r < 0)
		return cli_fail_err(c, r, &err);
	return EXIT_OK;
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(c, LK_EINVAL, "missing audit command (verify, log)");
	optind = 0;
	if (strcmp(argv[1], "verify") == 0)
		return audit_verify(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "log") == 0)
		return audit_log(c, argc - 1, argv + 1);
	return cli_fail(c, LK_EINVAL, "unknown audit command '%.60s'", argv[1]);
}
