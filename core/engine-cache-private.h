/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_ENGINE_CACHE_PRIVATE_H
#define LATCHKEY_ENGINE_CACHE_PRIVATE_H

#include <stdbool.h>

#include "error-private.h"
#include "loader-private.h"
#include "policy-private.h"

#define LK_CACHE_MAX_POLICIES 1024

/* One <service>.xml of the policy directory as last loaded. */
struct lk_cached_policy {
	char service[LK_SERVICE_NAME_MAX + 1];
	struct lk_policy *policy; /* NULL: the file is invalid and the service denies */
	char error[512];          /* why, when policy is NULL or the new file was refused */
	bool kept_previous;       /* the new file was refused; policy is the one before */
	bool changed;             /* new or different from the previous load */
};

/* One plugin named by a cached policy. */
struct lk_cached_plugin {
	char name[LK_PLUGIN_NAME_MAX + 1];
	struct lk_loaded_plugin *plugin; /* NULL: it failed to load, steps using it fail */
	char error[512];
	bool kept_previous; /* the file now fails to load; the build loaded before stays */
	bool reused;        /* the same file as before: the loaded build carried over */
};

/*
 * Every policy and plugin a daemon serves, loaded once and swapped whole on
 * reload: a request sees either the old set or the new one.
 */
struct lk_engine_cache {
	struct lk_cached_policy *policies;
	size_t n_policies;
	struct lk_cached_plugin *plugins;
	size_t n_plugins;
};

/*
 * Reads every <service>.xml in policy_dir (file names that are not valid
 * service names are ignored) and loads every plugin they name from
 * plugin_dir. Where a file or plugin fails and prev (may be NULL) had a
 * good one, that one is moved into the new cache (kept_previous) so a bad
 * edit never takes a working service down. Errors only for the directory
 * itself or memory; per-file failures are recorded in the entries.
 */
int lk_engine_cache_build(const char *policy_dir, const char *plugin_dir,
                          struct lk_engine_cache *prev, struct lk_engine_cache **ret_cache,
                          struct lk_err *err);

/* NULL if the service has no file. */
const struct lk_cached_policy *lk_engine_cache_policy(const struct lk_engine_cache *cache,
                                                      const char *service);
/* NULL if no cached policy names the plugin. */
const struct lk_cached_plugin *lk_engine_cache_plugin(const struct lk_engine_cache *cache,
                                                      const char *name);

/* Frees a cache that will not be used, first giving back to prev what was
 * moved out of it. Accepts NULL. */
void lk_engine_cache_discard(struct lk_engine_cache *cache, struct lk_engine_cache *prev);

/* Frees policies and unloads plugins still owned. Accepts NULL. */
void lk_engine_cache_free(struct lk_engine_cache *cache);

#endif
