/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey subject erase SUBJECT --reason R [--ticket T] (decision 0011) */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli-private.h"
#include "gdpr-private.h"

static int subject_erase(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "ticket", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lk_erase_result res;
	struct lk_err err = { { 0 } };
	const char *reason = NULL, *ticket = NULL, *subject;
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			reason = optarg;
			break;
		case 't':
			ticket = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		default:
			return cli_fail(c, LK_EINVAL,
			                "option '%.60s' is not valid for 'subject erase'",
			                argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_fail(c, LK_EINVAL,
		                "missing SUBJECT (an owner's name, or its sub_ pseudonym)");
	subject = argv[optind++];
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if (reason == NULL)
		return cli_fail(c, LK_EINVAL, "missing --reason (recorded in the audit log)");
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	r = lk_subject_erase(c->store, subject, reason, ticket, c->actor, c->now, &res, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "subject_ref", res.subject_ref);
		json_int(&j, "keys_revoked", (int64_t)res.keys_revoked);
		json_int(&j, "keys", (int64_t)res.keys);
		json_int(&j, "totp_removed", (int64_t)res.totp);
		json_int(&j, "certificates", (int64_t)res.certs);
		json_int(&j, "audit_seq", res.seq);
		json_bool(&j, "wal_flushed", res.wal_flushed);
		json_close(&j, '{');
	} else {
		/* The name is not repeated: it is gone. */
		fprintf(c->out,
		        "%s erased: %zu key%s revoked, %zu TOTP credential%s removed, %zu "
		        "certificate%s blanked; audit seq %lld\n",
		        res.subject_ref, res.keys_revoked, res.keys_revoked == 1 ? "" : "s",
		        res.totp, res.totp == 1 ? "" : "s", res.certs, res.certs == 1 ? "" : "s",
		        (long long)res.seq);
	}
	if (!res.wal_flushed && c->err != NULL)
		fprintf(c->err, "latchkey: note: the write-ahead log was busy; old copies of the "
		                "name leave it at the next checkpoint\n");
	return EXIT_OK;
}

int cmd_subject(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(c, LK_EINVAL, "missing subject command (erase)");
	optind = 0;
	if (strcmp(argv[1], "erase") == 0)
		return subject_erase(c, argc - 1, argv + 1);
	return cli_fail(c, LK_EINVAL, "unknown subject command '%.60s'", argv[1]);
}
