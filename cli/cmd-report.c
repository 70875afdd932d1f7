/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey report soc2|gdpr|iso27001 --from DATE --to DATE --out DIR */
#include "config.h"

#include <getopt.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-private.h"
#include "report-private.h"
#include "util-private.h"

/*
 * A period bound: an ISO 8601 UTC time, exact, or a date, which --from
 * takes at its first second and --to at the end of the day (the period is
 * [from, to), so "--to 2026-11-30" includes the 30th).
 */
static int parse_bound(const char *s, bool end_of_day, int64_t *ret_t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end != NULL && *end == '\0') {
		*ret_t = (int64_t)timegm(&tm);
		return LK_OK;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return LK_EINVAL;
	*ret_t = (int64_t)timegm(&tm) + (end_of_day ? 86400 : 0);
	return LK_OK;
}

/* Parses the options after KIND into p (optind is reset by the caller). */
static int parse_options(struct cli *c, const char *name, int argc, char **argv,
                         struct lk_report_params *p)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lk_err err = { { 0 } };
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
		case 't':
			if (parse_bound(optarg, opt == 't', opt == 'f' ? &p->from : &p->to) < 0)
				return cli_fail(c, LK_EINVAL,
				                "bad --%s '%.60s' (e.g. 2026-11-01 or "
				                "2026-11-01T12:00:00Z)",
				                opt == 'f' ? "from" : "to", optarg);
			break;
		case 'o':
			p->out_dir = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		default:
			return cli_fail(c, LK_EINVAL, "option '%.60s' is not valid for 'report %s'",
			                argv[optind - 1], name);
		}
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if (p->from < 0 || p->to < 0 || p->out_dir == NULL)
		return cli_fail(c, LK_EINVAL, "report %s needs --from DATE --to DATE --out DIR",
		                name);
	if (lk_report_check(p, &err) < 0)
		return cli_fail_err(c, LK_EINVAL, &err);
	return EXIT_OK;
}

int cli_report_parse(struct cli *c, int argc, char **argv, struct lk_report_params *ret)
{
	struct lk_report_params p = { .from = -1, .to = -1 };
	int status;

	if (argc < 2)
		return cli_fail(c, LK_EINVAL, "missing report kind (soc2, gdpr or iso27001)");
	if (lk_report_kind_parse(argv[1], &p.kind) < 0)
		return cli_fail(c, LK_EINVAL, "unknown report '%.60s' (soc2, gdpr or iso27001)",
		                argv[1]);
	optind = 0;
	if ((status = parse_options(c, argv[1], argc - 1, argv + 1, &p)) != EXIT_OK)
		return status;
	*ret = p;
	return EXIT_OK;
}

void cli_report_print(struct cli *c, int kind, const char *out_dir,
                      const struct lk_report_result *res)
{
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "report", lk_report_kind_str((enum lk_report_kind)kind));
		json_str(&j, "out", out_dir);
		json_int(&j, "checkpoint", res->cp.number);
		json_bool(&j, "intact", res->intact);
		json_int(&j, "exceptions", res->exceptions);
		json_close(&j, '{');
	} else {
		fprintf(c->out,
		        "%s pack in %s: checkpoint %lld, audit chain %s, %lld exceptions\n"
		        "report: %s/report.html\n",
		        kind == LK_REPORT_SOC2   ? "SOC 2"
		        : kind == LK_REPORT_GDPR ? "GDPR"
		                                 : "ISO 27001",
		        out_dir, (long long)res->cp.number, res->intact ? "intact" : "BROKEN",
		        (long long)res->exceptions, out_dir);
	}
}

static void report_scope(const struct lk_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len,
	         "Every decision and lifecycle event in the Latchkey audit log %s, and its "
	         "API keys",
	         cfg->database);
}

/*
 * In latchkeyd, under the engine lock: the report's checkpoint only. The
 * pack is files in a directory the client made, which latchkeyd never
 * opens: it writes the pack into a directory of its own once the lock is
 * released and sends it over the socket (daemon/admin.c).
 */
static int report_in_daemon(struct cli *c, const struct lk_report_params *p)
{
	const char *name = lk_report_kind_str(p->kind);
	struct cli_report *rq = c->report;
	struct lk_err err = { { 0 } };
	int r;

	if (rq == NULL || !rq->files)
		return cli_fail(c, LK_EINVAL,
		                "'report %s' sends files, which this latchkey cannot receive: use "
		                "the latchkey that came with latchkeyd",
		                name);
	if (c->signer == NULL)
		return cli_fail(c, LK_ECRYPTO,
		                "latchkeyd runs without a signing key, so it cannot sign a pack "
		                "(signing_key in %s; its log says why)",
		                c->cfg->path);
	if (strlen(p->out_dir) >= sizeof(rq->out_dir))
		return cli_fail(c, LK_EINVAL, "--out is too long");
	/* One report at a time: a pack costs a core and up to hundreds of MB
	 * of disk while it is made. Claimed before the checkpoint, so a
	 * refused request adds nothing to the log. */
	if (atomic_exchange(rq->slot, true))
		return cli_fail(c, LK_ESTATE,
		                "latchkeyd is already making a report; try again when it is done");
	rq->claimed = true;
	r = lk_checkpoint_make(c->store, c->signer, c->now, c->actor, "report", &rq->cp, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	rq->kind = (int)p->kind;
	rq->from = p->from;
	rq->to = p->to;
	rq->now = c->now;
	rq->actor = c->actor;
	snprintf(rq->out_dir, sizeof(rq->out_dir), "%s", p->out_dir);
	report_scope(c->cfg, rq->scope, sizeof(rq->scope));
	rq->pending = true;
	return EXIT_OK;
}

int cmd_report(struct cli *c, int argc, char **argv)
{
	struct lk_report_params p;
	struct lk_report_result res;
	struct lk_err err = { { 0 } };
	char scope[PATH_MAX + 128];
	int status, r;

	if ((status = cli_report_parse(c, argc, argv, &p)) != EXIT_OK)
		return status;
	if (c->in_daemon)
		return report_in_daemon(c, &p);
	/* --offline: the report's checkpoint adds to the log, read-write. */
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if (c->cfg->signing_key == NULL)
		return cli_fail(c, LK_ECRYPTO, "a pack is signed: %s sets no signing_key",
		                c->cfg->path);
	r = lk_signing_load(c->cfg->signing_key, &c->signer, &err);
	if (r < 0)
		return cli_fail_err(c, LK_ECRYPTO, &err);
	report_scope(c->cfg, scope, sizeof(scope));
	p.scope = scope;
	p.now = c->now;
	p.actor = c->actor;
	p.version = PACKAGE_VERSION;
	p.cfg = c->cfg;
	r = lk_report_make(c->store, c->signer, &p, &res, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	/* The copy outside the database, as for every checkpoint. */
	lk_checkpoint_syslog(&res.cp);
	cli_report_print(c, (int)p.kind, p.out_dir, &res);
	return EXIT_OK;
}
