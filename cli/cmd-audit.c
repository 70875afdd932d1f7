/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey audit verify | log | checkpoint | purge | keygen */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit-private.h"
#include "checkpoint-private.h"
#include "cli-private.h"
#include "gdpr-private.h"
#include "keys-private.h"
#include "signing-private.h"
#include "store-private.h"
#include "util-private.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/*
 * The signing key: latchkeyd's own, or (--offline) loaded here from the
 * config's signing_key. *ret is NULL, with EXIT_OK, when none is configured
 * or its file does not exist (a setup made before checkpoints); a key that
 * exists but is refused (too open, a symlink) is an error.
 */
static int find_signer(struct cli *c, const struct lk_signer **ret)
{
	struct lk_err err = { { 0 } };
	int r;

	*ret = NULL;
	if (c->in_daemon) {
		*ret = c->signer;
		return EXIT_OK;
	}
	if (c->signer == NULL && c->cfg->signing_key != NULL) {
		r = lk_signing_load(c->cfg->signing_key, &c->signer, &err);
		if (r < 0 && r != LK_ENOTFOUND)
			return cli_fail_err(c, LK_ECRYPTO, &err);
	}
	*ret = c->signer;
	return EXIT_OK;
}

static void verify_text(struct cli *c, const struct lk_verify_report *rep, const char *head)
{
	const struct lk_audit_report *a = &rep->audit;
	const char *what = lk_audit_problem_str(a->problem);
	char when[40];

	/* A problem: the first line says what and where, the second what
	 * still holds. */
	switch (a->problem) {
	case LK_AUDIT_INTACT:
		fprintf(c->out, "audit chain intact: %lld rows, head seq %lld, chain %s\n",
		        (long long)a->rows, (long long)a->head_seq, head);
		if (rep->anchor.number > 0)
			fprintf(c->out,
			        "purged: the log starts after seq %lld, anchored at checkpoint "
			        "%lld\n",
			        (long long)rep->anchor.audit_seq, (long long)rep->anchor.number);
		if (rep->last.number == 0) {
			fprintf(c->out, "checkpoints: none yet\n");
			return;
		}
		lk_time_format(rep->last.ts, when, sizeof(when));
		fprintf(c->out,
		        "checkpoints: %lld verified, the last is %lld (%s), covering seq %lld, "
		        "key id %s\n",
		        (long long)rep->checkpoints, (long long)rep->last.number, when,
		        (long long)rep->last.audit_seq, rep->last.key_id);
		return;
	case LK_AUDIT_SCHEMA:
		fprintf(c->out, "audit log TAMPERED (%s): %s\n", what, a->why);
		return;
	case LK_AUDIT_FORGED:
	case LK_AUDIT_CP_MISSING:
	case LK_AUDIT_CP_BROKEN:
		fprintf(c->out, "audit checkpoint %lld BAD (%s): %s\n",
		        (long long)rep->bad_checkpoint, what, a->why);
		break;
	case LK_AUDIT_TRUNCATED:
		fprintf(c->out, "audit log TRUNCATED at seq %lld: %s\n", (long long)a->bad_seq,
		        a->why);
		break;
	default:
		fprintf(c->out, "audit chain BROKEN at seq %lld (%s): %s\n", (long long)a->bad_seq,
		        what, a->why);
		break;
	}
	fprintf(c->out, "last good seq %lld, chain %s; %lld checkpoints verified\n",
	        (long long)a->head_seq, head, (long long)rep->checkpoints);
}

static void verify_json(struct cli *c, const struct lk_verify_report *rep, const char *head)
{
	const struct lk_audit_report *a = &rep->audit;
	struct json j;

	json_open(&j, c->out, '{');
	json_bool(&j, "intact", a->problem == LK_AUDIT_INTACT);
	json_int(&j, "rows_checked", a->rows);
	json_int(&j, "head_seq", a->head_seq);
	json_str(&j, "head", head);
	json_int(&j, "checkpoints_verified", rep->checkpoints);
	if (rep->anchor.number > 0) {
		json_value_open(&j, "anchor", '{');
		json_int(&j, "number", rep->anchor.number);
		json_int(&j, "audit_seq", rep->anchor.audit_seq);
		json_close(&j, '{');
	}
	if (rep->last.number > 0) {
		json_value_open(&j, "last_checkpoint", '{');
		json_int(&j, "number", rep->last.number);
		json_time(&j, "time", rep->last.ts);
		json_int(&j, "audit_seq", rep->last.audit_seq);
		json_str(&j, "key_id", rep->last.key_id);
		json_close(&j, '{');
	} else {
		json_str(&j, "last_checkpoint", NULL);
	}
	if (a->problem != LK_AUDIT_INTACT) {
		json_str(&j, "problem", lk_audit_problem_str(a->problem));
		if (a->bad_seq > 0)
			json_int(&j, "bad_seq", a->bad_seq);
		if (rep->bad_checkpoint > 0)
			json_int(&j, "bad_checkpoint", rep->bad_checkpoint);
		json_str(&j, "why", a->why);
	}
	json_close(&j, '{');
}

static int audit_verify(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		                              { NULL, 0, NULL, 0 } };
	struct lk_verify_report rep;
	const struct lk_signer *signer;
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
	if ((status = find_signer(c, &signer)) != EXIT_OK)
		return status;
	r = lk_checkpoint_verify(c->store, signer != NULL ? lk_signer_public(signer) : NULL, &rep,
	                         &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	hex(rep.audit.head, LK_CHAIN_LEN, head);
	if (c->json)
		verify_json(c, &rep, head);
	else
		verify_text(c, &rep, head);
	return rep.audit.problem == LK_AUDIT_INTACT ? EXIT_OK : EXIT_DENIED;
}

static int audit_checkpoint(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		                              { NULL, 0, NULL, 0 } };
	char sig[sodium_base64_ENCODED_LEN(LK_SIGNATURE_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char chain[2 * LK_CHAIN_LEN + 1];
	const struct lk_signer *signer;
	struct lk_checkpoint cp;
	struct lk_err err = { { 0 } };
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return cli_fail(c, LK_EINVAL,
			                "option '%.60s' is not valid for 'audit checkpoint'",
			                argv[optind - 1]);
		c->json = true;
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if ((status = find_signer(c, &signer)) != EXIT_OK)
		return status;
	if (signer == NULL && c->in_daemon)
		return cli_fail(c, LK_ECRYPTO,
		                "latchkeyd runs without a signing key, so it signs no checkpoints "
		                "(signing_key in %s; its log says why)",
		                c->cfg->path);
	if (signer == NULL)
		return cli_fail(c, LK_ECRYPTO,
		                c->cfg->signing_key != NULL
		                    ? "no signing key: %s does not exist"
		                    : "no signing key: %s sets no signing_key",
		                c->cfg->signing_key != NULL ? c->cfg->signing_key : c->cfg->path);
	r = lk_checkpoint_make(c->store, signer, c->now, c->actor, LK_CHECKPOINT_REQUEST, &cp,
	                       &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	/* The copy outside the database (latchkeyd syncs the commit right
	 * after this verb; --offline's commit was synced already). */
	lk_checkpoint_syslog(&cp);
	if (c->json) {
		struct json j;
		hex(cp.audit_chain, LK_CHAIN_LEN, chain);
		sodium_bin2base64(sig, sizeof(sig), cp.signature, LK_SIGNATURE_LEN,
		                  sodium_base64_VARIANT_ORIGINAL);
		json_open(&j, c->out, '{');
		json_int(&j, "number", cp.number);
		json_time(&j, "time", cp.ts);
		json_int(&j, "audit_seq", cp.audit_seq);
		json_str(&j, "audit_chain", chain);
		json_str(&j, "key_id", cp.key_id);
		json_str(&j, "signature", sig);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "checkpoint %lld: audit seq %lld, key id %s\n",
		        (long long)cp.number, (long long)cp.audit_seq, cp.key_id);
	}
	return EXIT_OK;
}

static int audit_purge(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "before", required_argument, NULL, 'b' },
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lk_purge_result res;
	const struct lk_signer *signer;
	struct lk_err err = { { 0 } };
	const char *reason = NULL;
	int64_t before = 0;
	bool have_before = false;
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			if (cli_parse_since(optarg, c->now, &before) < 0 || before <= 0)
				return cli_fail(c, LK_EINVAL,
				                "bad --before '%.60s' (e.g. 365d, 2026-01-01 or "
				                "2026-01-01T00:00:00Z)",
				                optarg);
			have_before = true;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		default:
			return cli_fail(c, LK_EINVAL,
			                "option '%.60s' is not valid for 'audit purge'",
			                argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if (!have_before)
		return cli_fail(c, LK_EINVAL, "missing --before DATE (rows older than it go)");
	if (reason == NULL)
		return cli_fail(c, LK_EINVAL, "missing --reason (recorded in the audit log)");
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if ((status = find_signer(c, &signer)) != EXIT_OK)
		return status;
	r = lk_audit_purge(c->store, signer, before, reason, c->actor, c->now, &res, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	lk_checkpoint_syslog(&res.cp);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_int(&j, "rows_removed", res.rows);
		json_int(&j, "first_seq", res.first_seq);
		json_int(&j, "last_seq", res.last_seq);
		json_int(&j, "anchor", res.anchor_number);
		json_int(&j, "checkpoints_removed", res.checkpoints);
		json_int(&j, "client_addresses_removed", res.sources);
		json_int(&j, "audit_seq", res.seq);
		json_int(&j, "checkpoint", res.cp.number);
		json_close(&j, '{');
	} else {
		fprintf(c->out,
		        "purged seqs %lld..%lld (%lld rows), %lld checkpoint%s and %lld client "
		        "address%s; the log now starts at checkpoint %lld; recorded at seq %lld, "
		        "signed by checkpoint %lld\n",
		        (long long)res.first_seq, (long long)res.last_seq, (long long)res.rows,
		        (long long)res.checkpoints, res.checkpoints == 1 ? "" : "s",
		        (long long)res.sources, res.sources == 1 ? "" : "es",
		        (long long)res.anchor_number, (long long)res.seq, (long long)res.cp.number);
	}
	return EXIT_OK;
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

/* The public half's path beside the key: "signing.key" -> "signing.pub.pem". */
static void public_path(const char *key_path, char *out, size_t outlen)
{
	size_t n = strlen(key_path);

	if (n > 4 && strcmp(key_path + n - 4, ".key") == 0)
		n -= 4;
	snprintf(out, outlen, "%.*s.pub.pem", (int)n, key_path);
}

static int count_checkpoints(struct cli *c, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	struct lk_err err = { { 0 } };
	int rc;

	rc = sqlite3_prepare_v2(c->store->db, "SELECT count(*) FROM checkpoint", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		lk_store_error(c->store, rc, "counting checkpoints", &err);
		return cli_fail_err(c, LK_ESTORE, &err);
	}
	return EXIT_OK;
}

/*
 * The signing key for a setup made before checkpoints existed: the file
 * the config names, made here, with its public half beside it. Never a
 * replacement: a log whose checkpoints some key signed keeps that key (a
 * new one would make them all look forged), so a log with checkpoints is
 * refused. --offline only: latchkeyd loads the key when it starts.
 */
static int audit_keygen(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		                              { NULL, 0, NULL, 0 } };
	char pub[PATH_MAX + 16], key_id[LK_KEY_ID_LEN + 1], detail[64];
	struct lk_err err = { { 0 } };
	int64_t n = 0;
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return cli_fail(c, LK_EINVAL,
			                "option '%.60s' is not valid for 'audit keygen'",
			                argv[optind - 1]);
		c->json = true;
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if (c->in_daemon)
		return cli_fail(c, LK_EINVAL,
		                "'audit keygen' runs with --offline as the database's owner, "
		                "latchkeyd stopped (it loads the key when it starts)");
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if (c->cfg->signing_key == NULL)
		return cli_fail(c, LK_EINVAL,
		                "%s sets no signing_key: add 'signing_key = signing.key' and run "
		                "'audit keygen' again",
		                c->cfg->path);
	if (strlen(c->cfg->signing_key) > PATH_MAX)
		return cli_fail(c, LK_EINVAL, "signing_key's path is too long");
	if ((status = count_checkpoints(c, &n)) != EXIT_OK)
		return status;
	if (n > 0)
		return cli_fail(
		    c, LK_EEXIST,
		    "the log has %lld signed checkpoints: their key is %s (restore that "
		    "file; a new key would make them all fail verification)",
		    (long long)n, c->cfg->signing_key);
	public_path(c->cfg->signing_key, pub, sizeof(pub));
	r = lk_signing_create(c->cfg->signing_key, pub, key_id, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	snprintf(detail, sizeof(detail), "key_id=%s", key_id);
	r = lk_audit_record(c->store,
	                    &(struct lk_audit_event){ .ts = c->now,
	                                              .actor_uid = c->actor,
	                                              .action = "audit.keygen",
	                                              .reason = "ok",
	                                              .detail = detail },
	                    NULL, &err);
	if (r < 0) {
		/* Unrecorded, the key would appear from nowhere: none at all. */
		unlink(c->cfg->signing_key);
		unlink(pub);
		return cli_fail_err(c, r, &err);
	}
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "signing_key", c->cfg->signing_key);
		json_str(&j, "public_key", pub);
		json_str(&j, "key_id", key_id);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "signing key %s (key id %s), public key %s\n", c->cfg->signing_key,
		        key_id, pub);
	}
	return EXIT_OK;
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(c, LK_EINVAL,
		                "missing audit command (verify, log, checkpoint, purge, keygen)");
	optind = 0;
	if (strcmp(argv[1], "verify") == 0)
		return audit_verify(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "log") == 0)
		return audit_log(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "checkpoint") == 0)
		return audit_checkpoint(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "purge") == 0)
		return audit_purge(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "keygen") == 0)
		return audit_keygen(c, argc - 1, argv + 1);
	return cli_fail(c, LK_EINVAL, "unknown audit command '%.60s'", argv[1]);
}
