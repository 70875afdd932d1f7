/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOTP second factor (RFC 6238 over RFC 4226): the algorithm, enrollment,
 * verification with replay protection, recovery codes. Seeds are sealed at
 * rest with crypto_aead_xchacha20poly1305_ietf under the master key's
 * LK_SUBKEY_FACTOR_SEAL subkey, associated data = the credential id;
 * recovery codes are stored as keyed hashes. Users are referred to by their
 * subject pseudonym ("owner" kind, as key owners are) in every row.
 */
#ifndef LATCHKEY_TOTP_PRIVATE_H
#define LATCHKEY_TOTP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-private.h"
#include "store-private.h"

#define LK_TOTP_SEED_LEN       20 /* bytes from the CSPRNG (RFC 4226 minimum 16; 160 bits) */
#define LK_TOTP_SEED_MAX       64 /* SHA-512's block-size seeds, for imported test vectors */
#define LK_TOTP_DIGITS_MIN     6
#define LK_TOTP_DIGITS_MAX     8
#define LK_TOTP_PERIOD_DEFAULT 30
#define LK_TOTP_SKEW_DEFAULT   1 /* steps either side */
#define LK_TOTP_SKEW_MAX       10
#define LK_TOTP_RECOVERY_CODES 10
#define LK_TOTP_RECOVERY_LEN   19 /* "xxxx-xxxx-xxxx-xxxx" from [a-z0-9] minus look-alikes */
#define LK_TOTP_CRED_ID_LEN    16 /* base62, like a kid */
#define LK_TOTP_URI_MAX        512
#define LK_TOTP_ISSUER_MAX     64

enum lk_totp_alg {
	LK_TOTP_SHA1 = 1,
	LK_TOTP_SHA256 = 2,
	LK_TOTP_SHA512 = 3,
};

/* "SHA1", "SHA256", "SHA512" (the Key Uri Format's names); NULL if bad. */
const char *lk_totp_alg_name(enum lk_totp_alg alg);
/* Accepts those names, case-insensitively; LK_EINVAL otherwise. */
int lk_totp_alg_parse(const char *name, enum lk_totp_alg *ret_alg);

/*
 * RFC 4226 HOTP: HMAC (OpenSSL) of the 8-byte big-endian counter, dynamic
 * truncation, `digits` decimal digits, NUL-terminated into out (at least
 * digits + 1 bytes). LK_EINVAL for a bad alg, digits or seed length.
 */
int lk_hotp(const unsigned char *seed, size_t seed_len, enum lk_totp_alg alg, unsigned digits,
            uint64_t counter, char *out, size_t outlen);

/*
 * Checks code against every step in [step - skew, step + skew]: each
 * candidate is computed and compared in constant time, with no early exit
 * (the time taken does not depend on which step matched, or whether one
 * did). Returns true and the matching step in *ret_step, else false.
 * `code` must already be validated (digits only, the right length).
 */
bool lk_totp_match(const unsigned char *seed, size_t seed_len, enum lk_totp_alg alg,
                   unsigned digits, uint64_t step, unsigned skew, const char *code,
                   uint64_t *ret_step);

/* Base32 (RFC 4648, no padding on output; decoding accepts upper or lower
 * case, optional padding, and ignores spaces). */
int lk_base32_encode(const unsigned char *in, size_t len, char *out, size_t outlen);
int lk_base32_decode(const char *in, unsigned char *out, size_t outlen, size_t *ret_len);

struct lk_totp_params {
	enum lk_totp_alg alg; /* default SHA1: what every authenticator app reads */
	unsigned digits;      /* 6..8, default 6 */
	unsigned period;      /* seconds, 15..300, default 30 */
	const char *issuer;   /* shown by the app; default "Latchkey" */
};

struct lk_totp_info {
	char cred_id[LK_TOTP_CRED_ID_LEN + 1];
	char user[257];
	char user_ref[32]; /* subject pseudonym */
	char status[16];   /* pending, active */
	enum lk_totp_alg alg;
	unsigned digits, period;
	char issuer[LK_TOTP_ISSUER_MAX + 1];
	int64_t created, confirmed, last_used; /* 0: never */
	unsigned recovery_left;
};

/*
 * Enrollment, step 1: a new seed from the CSPRNG, sealed and stored as a
 * *pending* credential for user (replacing an earlier pending one; an
 * active one must be reset first: LK_EEXIST). Writes the otpauth:// URI
 * (Key Uri Format: otpauth://totp/ISSUER:USER?secret=BASE32&issuer=ISSUER
 * &algorithm=SHA1&digits=6&period=30, percent-encoded) into ret_uri and
 * the ten recovery codes into ret_recovery. Both are secrets: the caller
 * shows them once and wipes them. Audited (totp.enroll). A pending
 * credential authenticates nothing.
 */
int lk_totp_enroll(struct lk_store *store, const char *user, const struct lk_totp_params *params,
                   int64_t actor, int64_t now, char *ret_uri, size_t uri_len,
                   char ret_recovery[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1],
                   struct lk_err *err);

/* Step 2: a valid code from the app makes the credential active (and that
 * step counts as used). LK_ENOTFOUND, LK_EINVAL (bad code), LK_EEXIST
 * (already active). Audited (totp.confirm, or totp.confirm-failed). */
int lk_totp_confirm(struct lk_store *store, const char *user, const char *code, size_t code_len,
                    int64_t actor, int64_t now, struct lk_err *err);

enum lk_totp_verdict {
	LK_TOTP_OK = 0,
	LK_TOTP_MALFORMED,       /* not digits, wrong length, empty, too long */
	LK_TOTP_NOT_ENROLLED,    /* no credential, or only a pending one */
	LK_TOTP_BAD_CODE,        /* no step in the window matched */
	LK_TOTP_REPLAYED,        /* matched a step at or before the last one accepted */
	LK_TOTP_RECOVERY_USED,   /* a recovery code that was already used */
	LK_TOTP_SEED_UNREADABLE, /* the seal does not open (wrong master key, edited row) */
	LK_TOTP_CLOCK,           /* now before 1970 or implausibly far ahead */
};

/* "ok", "malformed", "not-enrolled", "bad-code", "replayed",
 * "recovery-used", "seed-unreadable", "clock". */
const char *lk_totp_verdict_str(enum lk_totp_verdict v);

struct lk_totp_result {
	enum lk_totp_verdict verdict;
	char cred_id[LK_TOTP_CRED_ID_LEN + 1]; /* when a credential was found */
	bool by_recovery;                      /* accepted as a recovery code */
};

/*
 * The daemon's path. `code` is either a TOTP code (digits) or a recovery
 * code (its format). In ONE transaction (lk_store_begin, so inside the
 * daemon's batch it is a savepoint): load and unseal the seed, match the
 * window, refuse a step at or before the last accepted one, record the new
 * last step (or mark the recovery code used, audited: totp.recovery-use).
 * Concurrent verifications of the same valid code: exactly one gets OK.
 * skew: steps either side (0..LK_TOTP_SKEW_MAX). An error (< 0) only for
 * store failures; everything about the code is in ret->verdict.
 */
int lk_totp_verify(struct lk_store *store, const char *user, const char *code, size_t code_len,
                   unsigned skew, int64_t actor, int64_t now, struct lk_totp_result *ret,
                   struct lk_err *err);

int lk_totp_get(struct lk_store *store, const char *user, struct lk_totp_info *ret_info,
                struct lk_err *err);
int lk_totp_list(struct lk_store *store, int (*cb)(const struct lk_totp_info *info, void *ctx),
                 void *ctx, struct lk_err *err);
/* reset: removes the credential so the user can enroll again; remove: the
 * same, for a user who no longer needs TOTP. Both audited (totp.reset,
 * totp.remove) with the reason. */
int lk_totp_reset(struct lk_store *store, const char *user, const char *reason, int64_t actor,
                  int64_t now, struct lk_err *err);
int lk_totp_remove(struct lk_store *store, const char *user, const char *reason, int64_t actor,
                   int64_t now, struct lk_err *err);
/* Ten new recovery codes (the old ones stop working); audited. */
int lk_totp_recovery_regenerate(struct lk_store *store, const char *user, int64_t actor,
                                int64_t now,
                                char ret_recovery[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1],
                                struct lk_err *err);

#endif
