/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client certificates as the core sees them: the leaf's facts (SHA-256
 * fingerprint of its DER, subject, issuer, serial, validity) for
 * certificate-bound API keys and the certificate inventory. Chain
 * verification is the mtls plugin's job; the core only ever reads the leaf.
 */
#ifndef LATCHKEY_CERTS_PRIVATE_H
#define LATCHKEY_CERTS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-private.h"
#include "store-private.h"

#define LK_CERT_INPUT_MAX  32768 /* a client chain, PEM: more is refused unread */
#define LK_CERT_SHA256_HEX 64
#define LK_CERT_NAME_MAX   255 /* subject / issuer text, cut with "..." */

struct lk_cert_info {
	char sha256[LK_CERT_SHA256_HEX + 1]; /* lowercase hex of the DER's SHA-256 */
	char subject[LK_CERT_NAME_MAX + 1];  /* RFC 2253 */
	char issuer[LK_CERT_NAME_MAX + 1];
	char serial[80]; /* hex */
	int64_t not_before, not_after;
};

/* The facts of the first certificate in data: PEM (leaf first) or DER.
 * LK_EINVAL says what is wrong with the input, never echoing it. */
int lk_cert_leaf(const unsigned char *data, size_t len, struct lk_cert_info *ret_info,
                 struct lk_err *err);

/* The SHA-256 of the first certificate's DER, as lk_cert_leaf would give
 * it, without parsing the certificate (OpenSSL 3.0 spends ~100 µs on a
 * parse): the same framing rules, the PEM body base64-decoded, one
 * well-formed DER SEQUENCE required. For bound keys and the check against
 * a plugin's credential on every request. */
int lk_cert_leaf_sha256(const unsigned char *data, size_t len, char ret_hex[LK_CERT_SHA256_HEX + 1],
                        struct lk_err *err);

/* "sha256:AB:CD:..." or 64 hex digits, any case, colons optional, as
 * lowercase hex; LK_EINVAL names the bad text (long runs of letters and
 * digits masked, as in every error: lk_redact_keys). */
int lk_cert_fingerprint_parse(const char *text, char ret_hex[LK_CERT_SHA256_HEX + 1],
                              struct lk_err *err);

/* Records (or refreshes) a certificate a plugin accepted for principal
 * through service. Inside the caller's transaction. A principal that is
 * not a valid subject name is not recorded (nor one already there lost). */
int lk_cert_record(struct lk_store *store, const struct lk_cert_info *info, const char *principal,
                   const char *service, int64_t now, struct lk_err *err);

struct lk_cert_row {
	struct lk_cert_info info;
	char principal[129]; /* "(erased)" / "" when unknown */
	char last_service[65];
	int64_t first_seen, last_seen, uses;
};

/* A known certificate seen again: last seen, service, uses, principal
 * (kept if the new one is not a valid name). *ret_found false if the
 * inventory has no such row (then lk_cert_record it). In the caller's
 * transaction. */
int lk_cert_seen(struct lk_store *store, const char *sha256, const char *principal,
                 const char *service, int64_t now, bool *ret_found, struct lk_err *err);

/* The credential id an mtls step reports: the first
 * LK_CERT_CREDENTIAL_HEX hex digits of the fingerprint. */
#define LK_CERT_CREDENTIAL_HEX 24
bool lk_cert_credential_valid(const char *credential);

/* The inventory row whose fingerprint starts with credential and whose
 * principal is principal; LK_ENOTFOUND if none. */
int lk_cert_find(struct lk_store *store, const char *credential, const char *principal,
                 struct lk_cert_row *ret_row, struct lk_err *err);

/* The inventory, soonest notAfter first; only those expiring before
 * not_after_before when that is not 0. */
int lk_cert_list(struct lk_store *store, int64_t not_after_before,
                 int (*cb)(const struct lk_cert_row *row, void *ctx), void *ctx,
                 struct lk_err *err);

#endif
