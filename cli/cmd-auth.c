/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkey auth SERVICE: runs the policy engine in process for one request,
 * as a PAM login would, with the API key read from stdin. For checking a
 * policy before wiring a service to it (and for the demo) until latchkeyd
 * answers PAM requests.
 */
#include "config.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "apikey-private.h"
#include "cli-private.h"
#include "engine-private.h"
#include "scopes-private.h"
#include "util-private.h"

#define SECRET_INPUT_MAX 256

/* The engine's warnings (a plugin that cannot load, an invalid policy) go
 * to stderr, after the decision they explain is recorded. */
static void log_stderr(void *ctx, int level, const char *msg)
{
	struct cli *c = ctx;

	if (level <= LK_LOG_WARNING)
		fprintf(c->err, "latchkey: %s\n", msg);
}

int cmd_auth(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "rhost", required_argument, NULL, 'r' },
		{ "scope", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *scopes[LK_SCOPES_MAX], *user = NULL, *rhost = NULL;
	char key[SECRET_INPUT_MAX + 1];
	struct lk_plugin_input input = { .name = "apikey", .value = key };
	struct lk_auth_result res;
	struct lk_engine *engine = NULL;
	struct lk_err err = { { 0 } };
	size_t n_scopes = 0;
	int opt, status, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			user = optarg;
			break;
		case 'r':
			rhost = optarg;
			break;
		case 's':
			if (n_scopes >= LK_SCOPES_MAX)
				return cli_fail(c, LK_EINVAL, "too many --scope options");
			scopes[n_scopes++] = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		default:
			if (optopt != 0)
				return cli_fail(c, LK_EINVAL, "option '%.60s' needs a value",
				                argv[optind - 1]);
			return cli_fail(c, LK_EINVAL, "option '%.60s' is not valid for 'auth'",
			                argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_fail(
		    c, LK_EINVAL,
		    "usage: latchkey auth SERVICE [--user U] [--rhost H] [--scope S]...");
	/* Arguments first: a bad request reads no key. */
	if (!lk_service_name_valid(argv[optind]))
		return cli_fail(c, LK_EINVAL, "bad service name '%.70s'", argv[optind]);
	for (size_t i = 0; i < n_scopes; i++)
		if (!lk_scope_valid(scopes[i]))
			return cli_fail(c, LK_EINVAL, "bad --scope '%.80s'", scopes[i]);
	if (user != NULL && (user[0] == '\0' || !lk_text_valid(user, LK_PLUGIN_PRINCIPAL_MAX) ||
	                     lk_text_looks_like_key(user)))
		return cli_fail(c, LK_EINVAL, "bad --user (1 to 128 bytes of plain text)");
	if (rhost != NULL && !lk_text_valid(rhost, 255))
		return cli_fail(c, LK_EINVAL, "bad --rhost");
	if ((status = cli_open(c, true, false)) != EXIT_OK)
		return status;
	if (c->cfg->plugin_dir == NULL)
		return cli_fail(c, LK_EIO, "the config sets no plugin_dir");
	r = lk_engine_new(c->store, c->cfg->policy_dir, c->cfg->plugin_dir, &engine, &err);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	lk_engine_set_log(engine, log_stderr, c);
	if (cli_read_secret(c, "API key: ", key, sizeof(key), &input.len) < 0) {
		sodium_memzero(key, sizeof(key));
		lk_engine_free(engine);
		return cli_fail(c, LK_EIO, "cannot read the key from stdin");
	}
	r = lk_engine_authenticate(engine,
	                           &(struct lk_auth_request){ .service = argv[optind],
	                                                      .user = user,
	                                                      .rhost = rhost,
	                                                      .scopes = scopes,
	                                                      .n_scopes = n_scopes,
	                                                      .inputs = &input,
	                                                      .n_inputs = 1,
	                                                      .actor = c->actor },
	                           c->now, &res, &err);
	sodium_memzero(key, sizeof(key));
	lk_engine_free(engine);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_bool(&j, "success", res.pam_code == 0 && !res.need_input);
		json_int(&j, "pam_code", res.pam_code);
		json_str(&j, "reason", res.need_input ? "need-input" : res.reason);
		json_str(&j, "need_input", res.need_input ? res.prompt_input : NULL);
		json_str(&j, "principal", res.principal[0] ? res.principal : NULL);
		json_str(&j, "policy_sha256", res.policy_hash[0] ? res.policy_hash : NULL);
		json_int(&j, "audit_seq", res.audit_seq);
		json_close(&j, '{');
	} else if (res.need_input) {
		fprintf(c->out, "incomplete: the policy also needs input '%s'\n", res.prompt_input);
	} else {
		fprintf(c->out, "%s: %s%s%s (policy %.16s%s, audit seq %lld)\n",
		        res.pam_code == 0 ? "accepted" : "denied", res.reason,
		        res.principal[0] ? ", principal " : "", res.principal,
		        res.policy_hash[0] ? res.policy_hash : "none",
		        res.policy_hash[0] ? "…" : "", (long long)res.audit_seq);
	}
	return res.pam_code == 0 && !res.need_input ? EXIT_OK : EXIT_DENIED;
}
