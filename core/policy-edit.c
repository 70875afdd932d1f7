/* SPDX-License-Identifier: Apache-2.0 */
/* Changing policies from the CLI: step-up rules, and the audited, atomic
 * replacement of a policy file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikey-private.h"
#include "audit-private.h"
#include "loader-private.h"
#include "policy-edit-private.h"
#include "scopes-private.h"
#include "util-private.h"

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

int lk_policy_set_stepup(struct lk_policy *policy, const char *plugin, const char *const *scopes,
                         size_t n_scopes, struct lk_err *err)
{
	struct lk_policy_stepup *slot = NULL;
	char **copy = NULL;

	if (!lk_plugin_name_valid(plugin))
		return lk_err_set(err, LK_EINVAL, "bad plugin name '%.40s'", plugin ? plugin : "");
	if (n_scopes > LK_SCOPES_MAX)
		return lk_err_set(err, LK_EINVAL, "too many scopes (at most %d)", LK_SCOPES_MAX);
	for (size_t i = 0; i < n_scopes; i++) {
		if (!lk_scope_valid(scopes[i]))
			return lk_err_set(err, LK_EINVAL, "bad scope '%.80s'", scopes[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(scopes[i], scopes[j]) == 0)
				return lk_err_set(err, LK_EINVAL, "scope '%s' given twice",
				                  scopes[i]);
	}
	if (n_scopes > 0) {
		copy = calloc(n_scopes, sizeof(*copy));
		for (size_t i = 0; copy != NULL && i < n_scopes; i++) {
			if ((copy[i] = strdup(scopes[i])) == NULL) {
				free_strings(copy, i);
				copy = NULL;
			}
		}
		if (copy == NULL)
			return lk_err_set(err, LK_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < policy->n_stepups; i++)
		if (strcmp(policy->stepups[i].plugin, plugin) == 0)
			slot = &policy->stepups[i];
	if (slot == NULL) {
		void *p;
		if (policy->n_stepups >= LK_POLICY_MAX_STEPS) {
			free_strings(copy, n_scopes);
			return lk_err_set(err, LK_EINVAL, "too many step-up rules");
		}
		p = realloc(policy->stepups, (policy->n_stepups + 1) * sizeof(*policy->stepups));
		if (p == NULL) {
			free_strings(copy, n_scopes);
			return lk_err_set(err, LK_ENOMEM, "out of memory");
		}
		policy->stepups = p;
		slot = &policy->stepups[policy->n_stepups++];
		memset(slot, 0, sizeof(*slot));
		snprintf(slot->plugin, sizeof(slot->plugin), "%s", plugin);
	}
	free_strings(slot->scopes, slot->n_scopes);
	slot->scopes = copy;
	slot->n_scopes = n_scopes;
	return LK_OK;
}

int lk_policy_remove_stepup(struct lk_policy *policy, const char *plugin, struct lk_err *err)
{
	for (size_t i = 0; i < policy->n_stepups; i++) {
		if (strcmp(policy->stepups[i].plugin, plugin) != 0)
			continue;
		free_strings(policy->stepups[i].scopes, policy->stepups[i].n_scopes);
		free_strings(policy->stepups[i].args, policy->stepups[i].n_args);
		memmove(&policy->stepups[i], &policy->stepups[i + 1],
		        (policy->n_stepups - i - 1) * sizeof(*policy->stepups));
		policy->n_stepups--;
		return LK_OK;
	}
	return lk_err_set(err, LK_ENOTFOUND, "policy for %s has no step-up rule for plugin %s",
	                  policy->service, plugin);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_file(const char *path, char **ret_buf, size_t *ret_len, struct lk_err *err)
{
	char *buf = malloc(LK_POLICY_MAX_BYTES);
	size_t len = 0;
	ssize_t n = 0;
	int fd;

	if (buf == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		free(buf);
		return lk_err_set(err, LK_EIO, "cannot read %s: %s", path, strerror(errno));
	}
	while (
	    len < LK_POLICY_MAX_BYTES &&
	    ((n = read(fd, buf + len, LK_POLICY_MAX_BYTES - len)) > 0 || (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fd);
	*ret_buf = buf;
	*ret_len = len;
	return LK_OK;
}

/* Writes buf to a new temporary file next to path; returns its name. */
static int write_temp(const char *path, const char *buf, size_t len, char *tmp, size_t tmplen,
                      struct lk_err *err)
{
	int fd;

	snprintf(tmp, tmplen, "%s.new-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return lk_err_set(err, LK_EIO, "cannot create a temporary file for %s: %s", path,
		                  strerror(errno));
	if (fchmod(fd, 0644) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return lk_err_set(err, LK_EIO, "cannot write %s: %s", tmp, strerror(e));
	}
	close(fd);
	return LK_OK;
}

static void sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int lk_policy_replace(struct lk_store *store, const struct lk_policy *old_policy,
                      const struct lk_policy *new_policy, const char *change, const char *ticket,
                      int64_t actor, int64_t now, char ret_new_hash[2 * LK_POLICY_HASH_LEN + 1],
                      struct lk_err *err)
{
	struct lk_policy *check = NULL, *current = NULL;
	char *xml = NULL, *old_xml = NULL, tmp[PATH_MAX + 16], back[PATH_MAX + 16], detail[512];
	size_t len, old_len = 0;
	bool renamed = false;
	int r;

	if (ticket != NULL &&
	    (!lk_text_valid(ticket, 64) || lk_text_looks_like_key(ticket) || ticket[0] == '\0'))
		return lk_err_set(err, LK_EINVAL, "bad ticket (1 to 64 bytes of plain text)");
	r = lk_policy_to_xml(new_policy, &xml, &len, err);
	if (r < 0)
		return r;
	/* What is written must be exactly what the engine accepts. */
	r = lk_policy_parse(xml, len, old_policy->path, &check, err);
	if (r < 0)
		goto out;
	/* Keep the old bytes, to put them back if the audit commit fails. */
	r = read_file(old_policy->path, &old_xml, &old_len, err);
	if (r < 0)
		goto out;
	r = write_temp(old_policy->path, xml, len, tmp, sizeof(tmp), err);
	if (r < 0)
		goto out;
	snprintf(detail, sizeof(detail), "service=%s change=%s old=%s new=%s ticket=%s",
	         old_policy->service, change, old_policy->hash_hex, check->hash_hex,
	         ticket != NULL ? ticket : "none");
	/* BEGIN IMMEDIATE serialises editors: inside it, the file must still
	 * be the one this change was made from, or a concurrent change would
	 * be silently overwritten. */
	r = lk_store_begin(store, err);
	if (r < 0)
		goto out_unlink;
	r = lk_policy_load(old_policy->path, &current, err);
	if (r < 0)
		goto out_rollback;
	if (strcmp(current->hash_hex, old_policy->hash_hex) != 0) {
		r = lk_err_set(err, LK_ESTATE, "%s changed while it was being edited; try again",
		               old_policy->path);
		goto out_rollback;
	}
	r = lk_audit_append(store,
	                    &(struct lk_audit_event){ .ts = now,
	                                              .actor_uid = actor,
	                                              .action = "policy.change",
	                                              .reason = "ok",
	                                              .detail = detail },
	                    NULL, err);
	if (r < 0)
		goto out_rollback;
	if (rename(tmp, old_policy->path) != 0) {
		r = lk_err_set(err, LK_EIO, "cannot replace %s: %s", old_policy->path,
		               strerror(errno));
		goto out_rollback;
	}
	renamed = true;
	sync_dir(old_policy->path);
	r = lk_store_commit(store, err);
	if (r < 0) {
		/* Unaudited change: put the old policy back. */
		if (write_temp(old_policy->path, old_xml, old_len, back, sizeof(back), NULL) ==
		    LK_OK)
			rename(back, old_policy->path);
		goto out;
	}
	memcpy(ret_new_hash, check->hash_hex, 2 * LK_POLICY_HASH_LEN + 1);
	r = LK_OK;
	goto out;
out_rollback:
	lk_store_rollback(store);
out_unlink:
	if (!renamed)
		unlink(tmp);
out:
	free(xml);
	free(old_xml);
	lk_policy_free(check);
	lk_policy_free(current);
	return r;
}
