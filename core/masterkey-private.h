/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_MASTERKEY_PRIVATE_H
#define LATCHKEY_MASTERKEY_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "error-private.h"

#define LK_MASTER_KEY_LEN 32
#define LK_SUBKEY_LEN     32

/* One subkey per purpose (DESIGN.md, "Crypto and storage"). The context
 * string is part of the derivation, so purposes can never collide. */
enum lk_subkey_purpose {
	LK_SUBKEY_PEPPER,      /* API-key hash pepper */
	LK_SUBKEY_PSEUDONYM,   /* audit pseudonyms */
	LK_SUBKEY_FACTOR_SEAL, /* factor-secret encryption (TOTP seeds) */
};

/* The pepper version new hashes use; rows record theirs in pepper_ver. */
#define LK_PEPPER_VERSION 1

struct lk_master;

/*
 * A secret key file (the master key, the signing key), what names it in
 * messages. Created O_EXCL|O_NOFOLLOW, mode 0600, fsynced; removed again if
 * it could not be written whole.
 */
int lk_key_file_create(const char *path, const char *what, const unsigned char *data, size_t len,
                       struct lk_err *err);

/*
 * Reads a secret key file of exactly len bytes into sodium_malloc'd memory
 * (*ret_secret, for sodium_free). Refuses a symlink, a non-regular file, a
 * file owned by another user or with any group/other permission bit, like
 * OpenSSH with private keys, saying which. LK_ENOTFOUND if it does not
 * exist.
 */
int lk_key_file_read(const char *path, const char *what, size_t len, unsigned char **ret_secret,
                     struct lk_err *err);

/*
 * Creates a new master key file at path: 32 bytes from the CSPRNG, mode 0600,
 * O_EXCL so an existing file is never overwritten.
 */
int lk_master_create(const char *path, struct lk_err *err);

/*
 * Loads the master key into sodium_malloc'd (guarded, mlocked) memory.
 * Refuses a symlink, a non-regular file, a file owned by another user, any
 * group/other permission bit, or a size other than 32 bytes, saying which.
 */
int lk_master_load(const char *path, struct lk_master **ret_master, struct lk_err *err);

/* Wipes and frees. Accepts NULL. */
void lk_master_free(struct lk_master *m);

/* Derives the subkey for purpose at version (>= 1) into out (LK_SUBKEY_LEN). */
int lk_master_subkey(const struct lk_master *m, enum lk_subkey_purpose purpose, uint32_t version,
                     unsigned char *out, size_t outlen);

#endif
