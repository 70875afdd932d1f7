/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's policies and plugins, loaded at start and on SIGHUP. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine-cache-private.h"
#include "util-private.h"

static int by_service(const void *a, const void *b)
{
	return strcmp(((const struct lk_cached_policy *)a)->service,
	              ((const struct lk_cached_policy *)b)->service);
}

static struct lk_cached_policy *find_policy(struct lk_engine_cache *c, const char *service)
{
	struct lk_cached_policy key;

	if (c == NULL || c->n_policies == 0)
		return NULL;
	snprintf(key.service, sizeof(key.service), "%s", service);
	return bsearch(&key, c->policies, c->n_policies, sizeof(key), by_service);
}

static struct lk_cached_plugin *find_plugin(struct lk_engine_cache *c, const char *name)
{
	for (size_t i = 0; c != NULL && i < c->n_plugins; i++)
		if (strcmp(c->plugins[i].name, name) == 0)
			return &c->plugins[i];
	return NULL;
}

const struct lk_cached_policy *lk_engine_cache_policy(const struct lk_engine_cache *cache,
                                                      const char *service)
{
	return find_policy((struct lk_engine_cache *)cache, service);
}

const struct lk_cached_plugin *lk_engine_cache_plugin(const struct lk_engine_cache *cache,
                                                      const char *name)
{
	return find_plugin((struct lk_engine_cache *)cache, name);
}

/* "<service>.xml" with a valid service name; the name into out. */
static bool policy_file_name(const char *file, char *out, size_t outlen)
{
	size_t len = strlen(file);

	if (len <= 4 || strcmp(file + len - 4, ".xml") != 0 || len - 4 >= outlen)
		return false;
	memcpy(out, file, len - 4);
	out[len - 4] = '\0';
	return lk_service_name_valid(out);
}

static void load_policy(const char *policy_dir, struct lk_cached_policy *e,
                        struct lk_engine_cache *prev)
{
	struct lk_cached_policy *old = find_policy(prev, e->service);
	struct lk_err perr = { { 0 } };
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.xml", policy_dir, e->service);
	if (lk_policy_load(path, &e->policy, &perr) == LK_OK &&
	    strcmp(e->policy->service, e->service) != 0) {
		lk_err_set(&perr, LK_EINVAL, "%s declares service %s", path, e->policy->service);
		lk_policy_free(e->policy);
		e->policy = NULL;
	}
	if (e->policy != NULL) {
		e->changed = old == NULL || old->policy == NULL ||
		             strcmp(old->policy->hash_hex, e->policy->hash_hex) != 0;
		return;
	}
	snprintf(e->error, sizeof(e->error), "%s", perr.msg);
	if (old != NULL && old->policy != NULL) {
		e->policy = old->policy; /* moved: prev no longer owns it */
		old->policy = NULL;
		e->kept_previous = true;
	} else {
		e->changed = old == NULL || old->policy != NULL;
	}
}

static int read_policies(const char *policy_dir, struct lk_engine_cache *c,
                         struct lk_engine_cache *prev, struct lk_err *err)
{
	struct dirent *de;
	DIR *dir = opendir(policy_dir);

	if (dir == NULL)
		return lk_err_set(err, LK_EIO, "cannot read policy directory %s: %s", policy_dir,
		                  strerror(errno));
	c->policies = calloc(LK_CACHE_MAX_POLICIES, sizeof(*c->policies));
	if (c->policies == NULL) {
		closedir(dir);
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	}
	while ((de = readdir(dir)) != NULL) {
		char service[LK_SERVICE_NAME_MAX + 1];
		if (!policy_file_name(de->d_name, service, sizeof(service)))
			continue;
		if (c->n_policies == LK_CACHE_MAX_POLICIES) {
			closedir(dir);
			return lk_err_set(err, LK_EINVAL, "more than %d policies in %s",
			                  LK_CACHE_MAX_POLICIES, policy_dir);
		}
		snprintf(c->policies[c->n_policies].service, sizeof(service), "%s", service);
		load_policy(policy_dir, &c->policies[c->n_policies++], prev);
	}
	closedir(dir);
	qsort(c->policies, c->n_policies, sizeof(*c->policies), by_service);
	return LK_OK;
}

static int want_plugin(struct lk_engine_cache *c, const char *name, size_t cap, struct lk_err *err)
{
	if (find_plugin(c, name) != NULL)
		return LK_OK;
	if (c->n_plugins == cap)
		return lk_err_set(err, LK_EINVAL, "too many distinct plugins in the policies");
	snprintf(c->plugins[c->n_plugins++].name, sizeof(c->plugins[0].name), "%s", name);
	return LK_OK;
}

/* True if <plugin_dir>/<name>.so is still the very file p was loaded from
 * (device, inode, size and modification time). */
static bool same_file(const char *plugin_dir, const struct lk_loaded_plugin *p)
{
	char path[PATH_MAX];
	struct stat now, then;

	if (snprintf(path, sizeof(path), "%s/%s.so", plugin_dir, p->name) >= (int)sizeof(path) ||
	    p->fd < 0 || fstat(p->fd, &then) != 0 || lstat(path, &now) != 0)
		return false;
	return now.st_dev == then.st_dev && now.st_ino == then.st_ino &&
	       now.st_size == then.st_size && now.st_mtim.tv_sec == then.st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == then.st_mtim.tv_nsec;
}

static int load_plugins(const char *plugin_dir, struct lk_engine_cache *c,
                        struct lk_engine_cache *prev, struct lk_err *err)
{
	size_t cap = 256;
	int r;

	c->plugins = calloc(cap, sizeof(*c->plugins));
	if (c->plugins == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct lk_policy *p = c->policies[i].policy;
		for (size_t k = 0; p != NULL && k < p->n_steps; k++)
			if ((r = want_plugin(c, p->steps[k].plugin, cap, err)) < 0)
				return r;
		for (size_t k = 0; p != NULL && k < p->n_stepups; k++)
			if ((r = want_plugin(c, p->stepups[k].plugin, cap, err)) < 0)
				return r;
	}
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct lk_cached_plugin *e = &c->plugins[i], *old = find_plugin(prev, e->name);
		struct lk_err perr = { { 0 } };

		/* The same file as loaded before: kept, not loaded again (glibc
		 * would share the mapping anyway, and each new load holds one
		 * more descriptor for the life of the process). */
		if (old != NULL && old->plugin != NULL && same_file(plugin_dir, old->plugin)) {
			e->plugin = old->plugin;
			old->plugin = NULL;
			e->reused = true;
			continue;
		}
		if (lk_plugin_load(plugin_dir, e->name, &e->plugin, &perr) == LK_OK)
			continue;
		snprintf(e->error, sizeof(e->error), "%s", perr.msg);
		if (old != NULL && old->plugin != NULL) {
			e->plugin = old->plugin;
			old->plugin = NULL;
			e->kept_previous = true;
		}
	}
	return LK_OK;
}

int lk_engine_cache_build(const char *policy_dir, const char *plugin_dir,
                          struct lk_engine_cache *prev, struct lk_engine_cache **ret_cache,
                          struct lk_err *err)
{
	struct lk_engine_cache *c = calloc(1, sizeof(*c));
	int r;

	if (c == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	r = read_policies(policy_dir, c, prev, err);
	if (r == LK_OK)
		r = load_plugins(plugin_dir, c, prev, err);
	if (r < 0) {
		lk_engine_cache_discard(c, prev);
		return r;
	}
	*ret_cache = c;
	return LK_OK;
}

void lk_engine_cache_discard(struct lk_engine_cache *c, struct lk_engine_cache *prev)
{
	if (c == NULL)
		return;
	/* Give back what was moved out of prev: it stays in service. */
	for (size_t i = 0; i < c->n_policies; i++) {
		struct lk_cached_policy *old = find_policy(prev, c->policies[i].service);
		if (c->policies[i].kept_previous && old != NULL) {
			old->policy = c->policies[i].policy;
			c->policies[i].policy = NULL;
		}
	}
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct lk_cached_plugin *old = find_plugin(prev, c->plugins[i].name);
		if ((c->plugins[i].kept_previous || c->plugins[i].reused) && old != NULL) {
			old->plugin = c->plugins[i].plugin;
			c->plugins[i].plugin = NULL;
		}
	}
	lk_engine_cache_free(c);
}

void lk_engine_cache_free(struct lk_engine_cache *cache)
{
	if (cache == NULL)
		return;
	for (size_t i = 0; i < cache->n_policies; i++)
		lk_policy_free(cache->policies[i].policy);
	for (size_t i = 0; i < cache->n_plugins; i++)
		lk_plugin_unload(cache->plugins[i].plugin);
	free(cache->policies);
	free(cache->plugins);
	free(cache);
}
