/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey policy check | show | mfa enable|disable */
#include "config.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-private.h"
#include "apikey-private.h"
#include "loader-private.h"
#include "policy-edit-private.h"
#include "scopes-private.h"
#include "util-private.h"

static void policy_json(struct json *j, const struct lk_policy *p)
{
	json_str(j, "file", p->path);
	json_str(j, "service", p->service);
	json_str(j, "environment", p->environment);
	json_str(j, "sha256", p->hash_hex);
	json_value_open(j, "stack", '[');
	for (size_t i = 0; i < p->n_steps; i++) {
		json_value_open(j, NULL, '{');
		json_str(j, "plugin", p->steps[i].plugin);
		json_str(j, "control", lk_control_str(p->steps[i].control));
		json_value_open(j, "args", '[');
		for (size_t k = 0; k < p->steps[i].n_args; k++)
			json_str(j, NULL, p->steps[i].args[k]);
		json_close(j, '[');
		json_close(j, '{');
	}
	json_close(j, '[');
	json_value_open(j, "scopes", '[');
	for (size_t i = 0; i < p->n_scopes; i++)
		json_str(j, NULL, p->scopes[i]);
	json_close(j, '[');
	json_value_open(j, "step_up", '[');
	for (size_t i = 0; i < p->n_stepups; i++) {
		json_value_open(j, NULL, '{');
		json_str(j, "plugin", p->stepups[i].plugin);
		json_value_open(j, "scopes", '[');
		for (size_t k = 0; k < p->stepups[i].n_scopes; k++)
			json_str(j, NULL, p->stepups[i].scopes[k]);
		json_close(j, '[');
		json_close(j, '{');
	}
	json_close(j, '[');
}

/* The effective stack, as a person reads it. */
static void policy_text(FILE *f, const struct lk_policy *p)
{
	fprintf(f, "service %s, environment %s, sha256 %s\n", p->service, p->environment,
	        p->hash_hex);
	for (size_t i = 0; i < p->n_steps; i++) {
		fprintf(f, "  %zu. %-10s %-12s", i + 1, lk_control_str(p->steps[i].control),
		        p->steps[i].plugin);
		for (size_t k = 0; k < p->steps[i].n_args; k++)
			fprintf(f, " \"%s\"", p->steps[i].args[k]);
		fputc('\n', f);
	}
	for (size_t i = 0; i < p->n_stepups; i++) {
		fprintf(f, "  +  %-10s %-12s step-up ", "required", p->stepups[i].plugin);
		if (p->stepups[i].n_scopes == 0)
			fprintf(f, "always");
		else
			fprintf(f, "for scopes:");
		for (size_t k = 0; k < p->stepups[i].n_scopes; k++)
			fprintf(f, " %s", p->stepups[i].scopes[k]);
		fputc('\n', f);
	}
	fprintf(f, "  scopes required:");
	if (p->n_scopes == 0)
		fprintf(f, " none");
	for (size_t i = 0; i < p->n_scopes; i++)
		fprintf(f, " %s", p->scopes[i]);
	fputc('\n', f);
}

/* A policy governs the service named by its file: web.xml holds "web". */
static int check_name(const struct lk_policy *p, struct lk_err *err)
{
	char copy[PATH_MAX], want[LK_SERVICE_NAME_MAX + 8];

	snprintf(copy, sizeof(copy), "%s", p->path);
	snprintf(want, sizeof(want), "%s.xml", p->service);
	if (strcmp(basename(copy), want) != 0)
		return lk_err_set(
		    err, LK_EINVAL,
		    "%s: service '%s' must be in a file named %s (the engine looks it "
		    "up by name)",
		    p->path, p->service, want);
	return LK_OK;
}

static bool only_json(struct cli *c, int argc, char **argv, const char *verb, int *status)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		                              { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j') {
			*status =
			    cli_fail(c, LK_EINVAL, "option '%.60s' is not valid for 'policy %s'",
			             argv[optind - 1], verb);
			return false;
		}
		c->json = true;
	}
	return true;
}

static int policy_check(struct cli *c, int argc, char **argv)
{
	struct json j;
	int status = EXIT_OK, bad = 0;

	if (!only_json(c, argc, argv, "check", &status))
		return status;
	if (optind >= argc)
		return cli_fail(c, LK_EINVAL, "usage: latchkey policy check FILE...");
	if (c->json)
		json_open(&j, c->out, '[');
	for (int i = optind; i < argc; i++) {
		struct lk_policy *p = NULL;
		struct lk_err err = { { 0 } };
		int r = lk_policy_load(argv[i], &p, &err);
		if (r == LK_OK)
			r = check_name(p, &err);
		/* Two files for one service: which would apply? Neither. */
		for (int k = optind; r == LK_OK && k < i; k++) {
			struct lk_policy *q = NULL;
			if (lk_policy_load(argv[k], &q, NULL) == LK_OK &&
			    strcmp(q->service, p->service) == 0)
				r = lk_err_set(&err, LK_EINVAL,
				               "%s: service '%s' is also defined in %s", argv[i],
				               p->service, argv[k]);
			lk_policy_free(q);
		}
		if (r < 0)
			bad++;
		if (c->json) {
			json_value_open(&j, NULL, '{');
			json_bool(&j, "valid", r == LK_OK);
			if (r < 0) {
				lk_redact_keys(err.msg);
				json_str(&j, "file", argv[i]);
				json_str(&j, "error", err.msg);
			} else {
				policy_json(&j, p);
			}
			json_close(&j, '{');
		} else if (r < 0) {
			lk_redact_keys(err.msg);
			fprintf(c->err, "latchkey: %s\n", err.msg);
		} else {
			fprintf(c->out, "%s: valid\n", argv[i]);
			policy_text(c->out, p);
		}
		lk_policy_free(p);
	}
	if (c->json)
		json_close(&j, '[');
	return bad ? EXIT_USAGE : EXIT_OK;
}

static int load_service(struct cli *c, const char *service, struct lk_policy **ret)
{
	char path[PATH_MAX + LK_SERVICE_NAME_MAX + 8];
	struct lk_err err = { { 0 } };
	int r;

	if (!lk_service_name_valid(service))
		return cli_fail(c, LK_EINVAL, "bad service name '%.70s'", service);
	snprintf(path, sizeof(path), "%s/%s.xml", c->cfg->policy_dir, service);
	r = lk_policy_load(path, ret, &err);
	if (r == LK_OK)
		r = check_name(*ret, &err);
	if (r < 0) {
		lk_policy_free(*ret);
		*ret = NULL;
		return cli_fail_err(c, r == LK_ENOTFOUND ? LK_ENOTFOUND : LK_EINVAL, &err);
	}
	return EXIT_OK;
}

static int policy_show(struct cli *c, int argc, char **argv)
{
	struct lk_policy *p = NULL;
	int status = EXIT_OK;

	if (!only_json(c, argc, argv, "show", &status))
		return status;
	if (argc - optind != 1)
		return cli_fail(c, LK_EINVAL, "usage: latchkey policy show SERVICE");
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	if ((status = load_service(c, argv[optind], &p)) != EXIT_OK)
		return status;
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		policy_json(&j, p);
		json_close(&j, '{');
	} else {
		policy_text(c->out, p);
	}
	lk_policy_free(p);
	return EXIT_OK;
}

/* Same rules, whatever the file's comments or spelling: compare the
 * canonical forms. */
static bool same_policy(const struct lk_policy *a, const struct lk_policy *b)
{
	char *xa = NULL, *xb = NULL;
	size_t la = 0, lb = 0;
	bool same;

	same = lk_policy_to_xml(a, &xa, &la, NULL) == LK_OK &&
	       lk_policy_to_xml(b, &xb, &lb, NULL) == LK_OK && la == lb && memcmp(xa, xb, la) == 0;
	free(xa);
	free(xb);
	return same;
}

/* Enabling a factor whose plugin is not installed (yet) is allowed, but
 * every request that needs it is then denied: say so. */
static void warn_if_not_loadable(struct cli *c, const char *plugin)
{
	struct lk_loaded_plugin *p = NULL;
	struct lk_err err = { { 0 } };

	if (c->cfg->plugin_dir == NULL || lk_plugin_load(c->cfg->plugin_dir, plugin, &p, &err) < 0)
		fprintf(c->err,
		        "latchkey: warning: %s; requests that need it will be denied until it is "
		        "installed\n",
		        err.msg[0] ? err.msg : "no plugin_dir in the config");
	lk_plugin_unload(p);
}

static int policy_mfa(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "plugin", required_argument, NULL, 'p' },
		{ "scope", required_argument, NULL, 's' },
		{ "ticket", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *scopes[LK_SCOPES_MAX + 1], *plugin = NULL, *ticket = NULL, *verb;
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	char change[96], new_hash[2 * LK_POLICY_HASH_LEN + 1], old_hash[2 * LK_POLICY_HASH_LEN + 1];
	size_t n_scopes = 0;
	bool enable;
	int opt, status, r;

	if (argc < 3)
		return cli_fail(c, LK_EINVAL,
		                "usage: latchkey policy mfa enable|disable SERVICE --plugin P "
		                "[--scope S]... [--ticket T]");
	verb = argv[1];
	if (strcmp(verb, "enable") != 0 && strcmp(verb, "disable") != 0)
		return cli_fail(c, LK_EINVAL, "unknown mfa command '%.40s' (enable or disable)",
		                verb);
	enable = verb[0] == 'e';
	optind = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			plugin = optarg;
			break;
		case 's':
			if (n_scopes >= LK_SCOPES_MAX)
				return cli_fail(c, LK_EINVAL, "too many --scope options");
			scopes[n_scopes++] = optarg;
			break;
		case 't':
			ticket = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		default:
			/* getopt ran on argv + 1: the bad word is argv[optind]. */
			if (optopt != 0)
				return cli_fail(c, LK_EINVAL, "option '%.60s' needs a value",
				                argv[optind]);
			return cli_fail(c, LK_EINVAL,
			                "option '%.60s' is not valid for 'policy mfa'",
			                argv[optind]);
		}
	}
	if (argc - 1 - optind != 1)
		return cli_fail(c, LK_EINVAL, "usage: latchkey policy mfa %s SERVICE --plugin P",
		                verb);
	if (plugin == NULL)
		return cli_fail(c, LK_EINVAL, "missing --plugin (e.g. totp)");
	if (!lk_plugin_name_valid(plugin))
		return cli_fail(c, LK_EINVAL, "bad --plugin '%.40s'", plugin);
	if (!enable && n_scopes > 0)
		return cli_fail(c, LK_EINVAL, "--scope is only for 'policy mfa enable'");
	if (ticket != NULL &&
	    (ticket[0] == '\0' || !lk_text_valid(ticket, 64) || lk_text_looks_like_key(ticket)))
		return cli_fail(c, LK_EINVAL, "bad --ticket (1 to 64 bytes of plain text)");
	if ((status = cli_open(c, false, false)) != EXIT_OK)
		return status;
	if ((status = load_service(c, argv[optind + 1], &p)) != EXIT_OK)
		return status;
	memcpy(old_hash, p->hash_hex, sizeof(old_hash));
	{
		/* The edit works on a second copy; p stays the "before". */
		struct lk_policy *edited = NULL;
		r = lk_policy_load(p->path, &edited, &err);
		if (r == LK_OK)
			r = enable ? lk_policy_set_stepup(edited, plugin, scopes, n_scopes, &err)
			           : lk_policy_remove_stepup(edited, plugin, &err);
		snprintf(change, sizeof(change), "mfa-%s plugin=%s scopes=%zu", verb, plugin,
		         n_scopes);
		if (r == LK_OK && same_policy(p, edited)) {
			/* Nothing to change: no rewrite, no audit row. */
			lk_policy_free(edited);
			lk_policy_free(p);
			fprintf(c->out, "%s: already so; nothing changed\n", argv[optind + 1]);
			return EXIT_OK;
		}
		if (r == LK_OK)
			r = lk_policy_replace(c->store, p, edited, change, ticket, c->actor, c->now,
			                      new_hash, &err);
		c->policy_changed = r == LK_OK;
		lk_policy_free(edited);
		if (r == LK_OK && enable)
			warn_if_not_loadable(c, plugin);
	}
	lk_policy_free(p);
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "service", argv[optind + 1]);
		json_str(&j, "change", change);
		json_str(&j, "old_sha256", old_hash);
		json_str(&j, "new_sha256", new_hash);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "%s: %s mfa with %s; policy %s -> %s\n", argv[optind + 1],
		        enable ? "enabled" : "disabled", plugin, old_hash, new_hash);
	}
	return EXIT_OK;
}

int cmd_policy(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(c, LK_EINVAL, "missing policy command (check, show, mfa)");
	optind = 0;
	if (strcmp(argv[1], "check") == 0)
		return policy_check(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return policy_show(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "mfa") == 0)
		return policy_mfa(c, argc - 1, argv + 1);
	return cli_fail(c, LK_EINVAL, "unknown policy command '%.60s'", argv[1]);
}
