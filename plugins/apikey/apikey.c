/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apikey: authenticates a request by an API key, through the core's
 * verification (format and CRC, keyed hash, status, expiry, environment,
 * scopes, CIDR allow list against the client address). The principal is
 * the key's owner.
 *
 * Arguments: input=NAME  which request input holds the key (default
 *                        "apikey"); asked for with a no-echo prompt if absent
 *            prompt=TEXT the prompt text (default "API key: ")
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latchkey/plugin.h"

struct apikey_state {
	const struct lk_plugin_host *host;
	char input[LK_PLUGIN_REASON_MAX];
	char prompt[LK_PLUGIN_PROMPT_MAX];
};

static int apikey_init(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
                       void **ret_state)
{
	struct apikey_state *st;

	/* Only the members this plugin uses: an engine of ABI 1.0 has
	 * verify_api_key but not what later minors append. */
	if (host == NULL ||
	    host->struct_size <
	        offsetof(struct lk_plugin_host, verify_api_key) + sizeof(host->verify_api_key) ||
	    host->verify_api_key == NULL)
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->host = host;
	snprintf(st->input, sizeof(st->input), "apikey");
	snprintf(st->prompt, sizeof(st->prompt), "API key: ");
	for (size_t i = 0; i < n_args; i++) {
		if (strncmp(args[i], "input=", 6) == 0 && args[i][6] != '\0' &&
		    strlen(args[i] + 6) < sizeof(st->input)) {
			snprintf(st->input, sizeof(st->input), "%s", args[i] + 6);
		} else if (strncmp(args[i], "prompt=", 7) == 0 &&
		           strlen(args[i] + 7) < sizeof(st->prompt)) {
			snprintf(st->prompt, sizeof(st->prompt), "%s", args[i] + 7);
		} else {
			host->log(host->host_ctx, LK_LOG_ERR, "apikey: unknown argument '%.40s'",
			          args[i]);
			free(st);
			return -1; /* a typo in a policy must not be ignored */
		}
	}
	*ret_state = st;
	return 0;
}

static int apikey_authenticate(void *state, const struct lk_plugin_request *req,
                               struct lk_plugin_result *res)
{
	const struct apikey_state *st = state;

	for (size_t i = 0; i < req->n_inputs; i++) {
		if (req->inputs[i].name != NULL && strcmp(req->inputs[i].name, st->input) == 0)
			return st->host->verify_api_key(st->host->host_ctx, req->inputs[i].value,
			                                req->inputs[i].len, req, res) == 0
			           ? 0
			           : -1;
	}
	res->decision = LK_PLUGIN_NEED_INPUT;
	snprintf(res->reason, sizeof(res->reason), "need-input");
	snprintf(res->prompt_input, sizeof(res->prompt_input), "%s", st->input);
	snprintf(res->prompt_text, sizeof(res->prompt_text), "%s", st->prompt);
	res->prompt_echo = 0;
	return 0;
}

static void apikey_fini(void *state)
{
	free(state);
}

static const struct lk_plugin apikey_plugin = {
	.abi_major = LK_PLUGIN_ABI_MAJOR,
	.abi_minor = LK_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(struct lk_plugin),
	.name = "apikey",
	.version = PACKAGE_VERSION,
	.capabilities = LK_PLUGIN_CAP_PRIMARY | LK_PLUGIN_CAP_PROMPTS,
	.init = apikey_init,
	.authenticate = apikey_authenticate,
	.fini = apikey_fini,
};

const struct lk_plugin *lk_plugin_entry(void)
{
	return &apikey_plugin;
}
