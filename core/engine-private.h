/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_ENGINE_PRIVATE_H
#define LATCHKEY_ENGINE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "config-private.h"
#include "latchkey/plugin.h"
#include "policy-private.h"
#include "store-private.h"

#define LK_ENGINE_MAX_INPUTS 9 /* the protocol's 8, and a client certificate */

struct lk_engine;

/*
 * An engine over one store, taking policies from policy_dir and plugins
 * from plugin_dir. Until lk_engine_reload is called, policies and plugins
 * are read on every request (the CLI's in-process "auth").
 */
int lk_engine_new(struct lk_store *store, const char *policy_dir, const char *plugin_dir,
                  struct lk_engine **ret_engine, struct lk_err *err);
void lk_engine_free(struct lk_engine *engine);

/*
 * Loads every policy in policy_dir and every plugin they name, once: from
 * then on requests use these (the daemon calls it at start and on SIGHUP).
 * A file or plugin that now fails where the previous load had a good one
 * keeps the previous one (logged and audited: "policy.load refused"); a
 * service without a good policy denies everything. New, changed, refused,
 * invalid and removed policies and newly loaded plugin builds are audited
 * (actor: the daemon's uid). On error the previous set stays in force.
 */
int lk_engine_reload(struct lk_engine *engine, int64_t actor, struct lk_err *err);

/* Where the engine's log lines go (the daemon: syslog; the CLI: stderr).
 * Messages never hold secrets: plugin messages pass the key redactor. By
 * default nothing is logged (library code stays quiet). */
typedef void lk_engine_log_fn(void *ctx, int level, const char *msg);
void lk_engine_set_log(struct lk_engine *engine, lk_engine_log_fn *fn, void *ctx);

struct lk_auth_request {
	const char *service;       /* PAM service: selects <policy_dir>/<service>.xml */
	const char *user;          /* PAM_USER, may be NULL */
	const char *rhost;         /* PAM_RHOST, may be NULL or a host name */
	const char *const *scopes; /* scopes the caller needs on top of the policy's */
	size_t n_scopes;
	const struct lk_plugin_input *inputs;
	size_t n_inputs;
	int64_t actor; /* uid of the caller (the host service's peer uid) */
};

struct lk_auth_result {
	int pam_code;    /* what pam_authenticate should return */
	bool need_input; /* a step asked for more input: see prompt_*; nothing was decided */
	char prompt_input[LK_PLUGIN_REASON_MAX];
	char prompt_text[LK_PLUGIN_PROMPT_MAX];
	int prompt_echo;
	char reason[LK_PLUGIN_REASON_MAX];           /* the deciding reason code */
	char principal[LK_PLUGIN_PRINCIPAL_MAX + 1]; /* on success */
	char credential[LK_PLUGIN_REASON_MAX];       /* on success: the key id that proved it */
	uint32_t factors;
	char policy_hash[2 * LK_POLICY_HASH_LEN + 1]; /* "" if no valid policy */
	int64_t audit_seq;                            /* the decision's audit row */
};

/*
 * Runs the service's policy for one request: loads the policy (invalid or
 * missing: deny), adds step-up factors the requested scopes call for, runs
 * each step's plugin under its control flag with Linux-PAM's semantics,
 * applies the policy's lockout (a locked source or credential gets
 * PAM_MAXTRIES; docs/latchkey-policy.5, LOCKOUT), and records the decision
 * (service, policy hash, each step's plugin and reason) in the audit chain
 * before returning. LK_OK means a decision (or a prompt) is in ret_result;
 * any error means the caller must deny.
 *
 * The request is one unit of work (lk_store_begin): inside the caller's
 * batch a savepoint; otherwise the engine opens a batch of its own and has
 * committed it when this returns. A request that ends with a prompt keeps
 * nothing it did (no code used up, no count, no audit row).
 */
int lk_engine_authenticate(struct lk_engine *engine, const struct lk_auth_request *req, int64_t now,
                           struct lk_auth_result *ret_result, struct lk_err *err);

#endif
