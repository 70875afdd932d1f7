/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_POLICY_PRIVATE_H
#define LATCHKEY_POLICY_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-private.h"
#include "stack-private.h"

#define LK_POLICY_MAX_BYTES (1024 * 1024) /* larger files are refused unread */
#define LK_POLICY_MAX_STEPS 16
#define LK_POLICY_MAX_ARGS  16
#define LK_POLICY_ARG_MAX   256
#define LK_PLUGIN_NAME_MAX  32 /* [a-z0-9_-]{1,32} */
#define LK_SERVICE_NAME_MAX 64
#define LK_POLICY_HASH_LEN  32 /* SHA-256 of the file's bytes */

struct lk_policy_step {
	char plugin[LK_PLUGIN_NAME_MAX + 1];
	enum lk_control control;
	char **args; /* n_args strings, in document order */
	size_t n_args;
	int line; /* where the step is in the file, for messages */
};

/* An extra factor: always (n_scopes == 0), or only when the request needs
 * one of the listed scopes. */
struct lk_policy_stepup {
	char plugin[LK_PLUGIN_NAME_MAX + 1];
	char **scopes;
	size_t n_scopes;
	char **args; /* the plugin's <arg> values, as a step's (NULL when none) */
	size_t n_args;
};

struct lk_policy {
	char *path;
	char service[LK_SERVICE_NAME_MAX + 1];
	char environment[9];
	struct lk_policy_step *steps;
	size_t n_steps;
	char **scopes; /* required for every request to this service */
	size_t n_scopes;
	struct lk_policy_stepup *stepups;
	size_t n_stepups;
	/* Key rules; has_key_rules false means "the config's". */
	bool has_key_rules;
	int64_t key_max_lifetime;
	int64_t rotation_grace;
	bool allow_never_expiring;
	/* Lockout thresholds; 0 disables that limit. */
	unsigned lockout_credential_failures;
	unsigned lockout_source_failures;
	int64_t lockout_window;    /* seconds failures are counted over */
	int64_t lockout_duration;  /* seconds a locked credential/source stays locked */
	bool lockout_include_root; /* PAM_USER root is locked too (default: never) */
	/* SHA-256 of the exact bytes parsed: every decision records it. */
	unsigned char hash[LK_POLICY_HASH_LEN];
	char hash_hex[2 * LK_POLICY_HASH_LEN + 1];
};

/* The RELAX NG grammar every policy is validated against: the bytes of
 * policies/latchkey-policy.rng, compiled in at build time (core/policy-
 * schema.c is generated from it), lk_policy_schema_len bytes plus a NUL. */
extern const char lk_policy_schema[];
extern const size_t lk_policy_schema_len;

/*
 * Parses and validates a policy file: at most LK_POLICY_MAX_BYTES, read
 * once (the hash covers exactly what was parsed), libxml2 with network
 * access, DTD loading and entity substitution off, validated against the
 * built-in RELAX NG schema, then checked for what a schema cannot say
 * (durations, scope syntax, plugin names). Any failure: an error naming
 * file, line and reason, and no policy (the service then denies).
 */
int lk_policy_load(const char *path, struct lk_policy **ret_policy, struct lk_err *err);

/* The same from memory; name is used in messages (fuzzing, tests). */
int lk_policy_parse(const char *buf, size_t len, const char *name, struct lk_policy **ret_policy,
                    struct lk_err *err);

/* Accepts NULL. */
void lk_policy_free(struct lk_policy *policy);

/* Scopes a request must hold, and whether a step-up plugin must also run,
 * for a request needing req_scopes: the policy's scopes plus req_scopes;
 * step-up rules that match add their plugin to ret_stepups (names). */
int lk_policy_stepups_for(const struct lk_policy *policy, const char *const *req_scopes,
                          size_t n_req_scopes, const char **ret_plugins, size_t max, size_t *ret_n);

/* Writes the policy back as XML in canonical form (used by "policy mfa" to
 * change a policy and by "policy show"). The caller frees *ret_xml. */
int lk_policy_to_xml(const struct lk_policy *policy, char **ret_xml, size_t *ret_len,
                     struct lk_err *err);

#endif
