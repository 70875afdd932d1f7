/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_SUBJECT_PRIVATE_H
#define LATCHKEY_SUBJECT_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "store-private.h"

/* "sub_" + 16 base62 characters (~95 bits): random, so the pseudonym
 * reveals nothing about the name and cannot be recomputed from it. */
#define LK_SUBJECT_REF_LEN 20
#define LK_NAME_MAX        128

/* Owner names: people, service accounts, e-mail addresses. */
bool lk_owner_name_valid(const char *name);

/*
 * Looks up the pseudonym for (kind, name); with create, makes one when there
 * is none (inside the caller's transaction). LK_ENOTFOUND without create.
 * kind is "owner" or "source".
 */
int lk_subject_ref(struct lk_store *store, const char *kind, const char *name, bool create,
                   int64_t now, char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err);

/* The name behind a pseudonym, for display; "(erased)" if it was erased. */
int lk_subject_name(struct lk_store *store, const char *ref, char *out, size_t outlen,
                    struct lk_err *err);

#endif
