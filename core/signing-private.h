/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_SIGNING_PRIVATE_H
#define LATCHKEY_SIGNING_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "error-private.h"

/*
 * The daemon's Ed25519 signing key (audit checkpoints, report manifests).
 * On disk: the 32-byte seed, mode 0600, like the master key; the public half
 * beside it as a SubjectPublicKeyInfo PEM that OpenSSL reads, so an auditor
 * can verify a signature with `openssl pkeyutl -verify -pubin -rawin` alone.
 */
#define LK_SIGNING_SEED_LEN   32
#define LK_SIGNING_PUBLIC_LEN 32
#define LK_SIGNATURE_LEN      64
/* Hex digits of the key id: the start of SHA-256 over the DER
 * SubjectPublicKeyInfo (what `openssl pkey -pubin -outform DER | sha256sum`
 * prints). */
#define LK_KEY_ID_LEN 16

struct lk_signer;

/*
 * Creates a new signing key: the seed at key_path (32 bytes from the CSPRNG,
 * mode 0600, O_EXCL) and the public key PEM at pub_path (mode 0644, O_EXCL).
 * Neither file is left behind on failure. ret_key_id (may be NULL) gets the
 * key id.
 */
int lk_signing_create(const char *key_path, const char *pub_path,
                      char ret_key_id[LK_KEY_ID_LEN + 1], struct lk_err *err);

/*
 * Loads the signing key into sodium_malloc'd memory. Refuses what
 * lk_key_file_read refuses (a symlink, group/other permission bits, another
 * owner, a size other than 32 bytes). LK_ENOTFOUND if the file does not
 * exist.
 */
int lk_signing_load(const char *path, struct lk_signer **ret_signer, struct lk_err *err);

/* Wipes and frees. Accepts NULL. */
void lk_signer_free(struct lk_signer *s);

/* The public key (LK_SIGNING_PUBLIC_LEN bytes) and its key id. */
const unsigned char *lk_signer_public(const struct lk_signer *s);
const char *lk_signer_key_id(const struct lk_signer *s);

/* Ed25519 (crypto_sign_detached, never the Ed25519ph multi-part API) over
 * msg. */
int lk_signer_sign(const struct lk_signer *s, const void *msg, size_t len,
                   unsigned char sig[LK_SIGNATURE_LEN], struct lk_err *err);

/* True if sig is pk's signature over msg. */
bool lk_signing_verify(const unsigned char pk[LK_SIGNING_PUBLIC_LEN], const void *msg, size_t len,
                       const unsigned char sig[LK_SIGNATURE_LEN]);

/* The key id of pk (LK_KEY_ID_LEN lowercase hex digits). */
int lk_signing_key_id(const unsigned char pk[LK_SIGNING_PUBLIC_LEN],
                      char ret_key_id[LK_KEY_ID_LEN + 1], struct lk_err *err);

/* Writes pk as a SubjectPublicKeyInfo PEM to a new file (O_EXCL, 0644). */
int lk_signing_write_public(const char *path, const unsigned char pk[LK_SIGNING_PUBLIC_LEN],
                            struct lk_err *err);
/* The same, path relative to the directory dirfd (AT_FDCWD: as open). */
int lk_signing_write_public_at(int dirfd, const char *path,
                               const unsigned char pk[LK_SIGNING_PUBLIC_LEN], struct lk_err *err);

/* Reads an Ed25519 public key PEM (SubjectPublicKeyInfo), at most 4 KiB;
 * anything else is LK_EINVAL. */
int lk_signing_read_public(const char *path, unsigned char ret_pk[LK_SIGNING_PUBLIC_LEN],
                           struct lk_err *err);

#endif
