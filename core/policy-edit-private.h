/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_POLICY_EDIT_PRIVATE_H
#define LATCHKEY_POLICY_EDIT_PRIVATE_H

#include <stdint.h>

#include "policy-private.h"
#include "store-private.h"

/* Requires plugin as an extra factor: always (n_scopes == 0) or for the
 * listed scopes. Replaces an existing rule for the same plugin. */
int lk_policy_set_stepup(struct lk_policy *policy, const char *plugin, const char *const *scopes,
                         size_t n_scopes, struct lk_err *err);

/* Removes the step-up rule for plugin; LK_ENOTFOUND if there is none. */
int lk_policy_remove_stepup(struct lk_policy *policy, const char *plugin, struct lk_err *err);

/*
 * Replaces a policy file with a changed policy, atomically and audited:
 * serialises it, parses the result again (what is written is exactly what
 * the engine will accept), writes a temporary file in the same directory,
 * fsyncs it, then in one audit transaction records "policy.change" (actor,
 * ticket, change, old and new content hashes) and renames the file into
 * place. If recording fails the old file stays; if the commit fails after
 * the rename, the old content is put back. ret_new_hash gets the hex hash.
 */
int lk_policy_replace(struct lk_store *store, const struct lk_policy *old_policy,
                      const struct lk_policy *new_policy, const char *change, const char *ticket,
                      int64_t actor, int64_t now, char ret_new_hash[2 * LK_POLICY_HASH_LEN + 1],
                      struct lk_err *err);

#endif
