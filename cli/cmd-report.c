/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey report soc2|gdpr|iso27001 --from DATE --to DATE --out DIR */
#include "config.h"

#include <getopt.h>
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

static int report_kind(struct cli *c, enum lk_report_kind kind, int argc, char **argv)
{
	const char *name = lk_report_kind_str(kind);
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lk_report_params p = { .kind = kind, .from = -1, .to = -1 };
	struct lk_report_result res;
	struct lk_err err = { { 0 } };
	char scope[PATH_MAX + 128];
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
		case 't':
			if (parse_bound(optarg, opt == 't', opt == 'f' ? &p.from : &p.to) < 0)
				return cli_fail(c, LK_EINVAL,
				                "bad --%s '%.60s' (e.g. 2026-11-01 or "
				                "2026-11-01T12:00:00Z)",
				                opt == 'f' ? "from" : "to", optarg);
			break;
		case 'o':
			p.out_dir = optarg;
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
	if (p.from < 0 || p.to < 0 || p.out_dir == NULL)
		return cli_fail(c, LK_EINVAL, "report %s needs --from DATE --to DATE --out DIR",
		                name);
	if (p.from >= p.to)
		return cli_fail(c, LK_EINVAL, "the period is empty: --from must be before --to");
	/* The pack is files in a directory the caller names: latchkeyd never
	 * creates files where a client says (0012-evidence-packs.md). */
	if (c->in_daemon)
		return cli_fail(c, LK_EINVAL,
		                "'report %s' writes files, which latchkeyd does not do for a "
		                "client: run it with --offline as the database's owner",
		                name);
	/* The report's checkpoint adds to the log: read-write. */
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if (c->cfg->signing_key == NULL)
		return cli_fail(c, LK_ECRYPTO, "a pack is signed: %s sets no signing_key",
		                c->cfg->path);
	r = lk_signing_load(c->cfg->signing_key, &c->signer, &err);
	if (r < 0)
		return cli_fail_err(c, LK_ECRYPTO, &err);
	snprintf(scope, sizeof(scope),
	         "Every decision and lifecycle event in the Latchkey audit log %s, and its "
	         "API keys",
	         c->cfg->database);
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
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "report", name);
		json_str(&j, "out", p.out_dir);
		json_int(&j, "checkpoint", res.cp.number);
		json_bool(&j, "intact", res.intact);
		json_int(&j, "exceptions", res.exceptions);
		json_close(&j, '{');
	} else {
		fprintf(c->out,
		        "%s pack in %s: checkpoint %lld, audit chain %s, %lld exceptions\n"
		        "report: %s/report.html\n",
		        kind == LK_REPORT_SOC2   ? "SOC 2"
		        : kind == LK_REPORT_GDPR ? "GDPR"
		                                 : "ISO 27001",
		        p.out_dir, (long long)res.cp.number, res.intact ? "intact" : "BROKEN",
		        (long long)res.exceptions, p.out_dir);
	}
	return EXIT_OK;
}

int cmd_report(struct cli *c, int argc, char **argv)
{
	enum lk_report_kind kind;

	if (argc < 2)
		return cli_fail(c, LK_EINVAL, "missing report kind (soc2, gdpr or iso27001)");
	optind = 0;
	if (lk_report_kind_parse(argv[1], &kind) < 0)
		return cli_fail(c, LK_EINVAL, "unknown report '%.60s' (soc2, gdpr or iso27001)",
		                argv[1]);
	return report_kind(c, kind, argc - 1, argv + 1);
}
