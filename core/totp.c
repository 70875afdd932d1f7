/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOTP second factor: RFC 4226/6238 codes through OpenSSL's HMAC, sealed
 * seeds, enrollment and confirmation, replay-safe verification and
 * recovery codes (decision 0008). No seed, code or recovery code ever
 * reaches an error message, a log line or an audit row.
 */
#include "config.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey-private.h"
#include "audit-private.h"
#include "keys-private.h"
#include "subject-private.h"
#include "totp-private.h"
#include "util-private.h"

#define NONCE_LEN      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG_LEN   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEALED_MAX     (LK_TOTP_SEED_MAX + SEAL_TAG_LEN)
#define PERIOD_MIN     15
#define PERIOD_MAX     300
#define CODE_INPUT_MAX 64 /* longer input is refused unread */
/* 9999-12-31T23:59:59Z: later than that is a broken clock, not a date. */
#define TIME_MAX INT64_C(253402300799)

/* Recovery codes: [a-z0-9] without 0/o, 1/l/i, which read alike on paper.
 * 16 characters of 31 give ~79 bits: unguessable within any lockout. */
static const char recovery_alphabet[] = "23456789abcdefghjkmnpqrstuvwxyz";
#define RECOVERY_CHARS 16
#define RECOVERY_HASH  32
/* crypto_kdf context for the recovery-hash key, derived from the seal key. */
static const char recovery_kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "lktotprc";

/* ------------------------------------------------------------- algorithm */

const char *lk_totp_alg_name(enum lk_totp_alg alg)
{
	switch (alg) {
	case LK_TOTP_SHA1:
		return "SHA1";
	case LK_TOTP_SHA256:
		return "SHA256";
	case LK_TOTP_SHA512:
		return "SHA512";
	}
	return NULL;
}

int lk_totp_alg_parse(const char *name, enum lk_totp_alg *ret_alg)
{
	static const enum lk_totp_alg algs[] = { LK_TOTP_SHA1, LK_TOTP_SHA256, LK_TOTP_SHA512 };

	for (size_t i = 0; name != NULL && i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strcasecmp(name, lk_totp_alg_name(algs[i])) == 0) {
			*ret_alg = algs[i];
			return LK_OK;
		}
	}
	return LK_EINVAL;
}

static const EVP_MD *alg_md(enum lk_totp_alg alg)
{
	switch (alg) {
	case LK_TOTP_SHA1:
		return EVP_sha1();
	case LK_TOTP_SHA256:
		return EVP_sha256();
	case LK_TOTP_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

int lk_hotp(const unsigned char *seed, size_t seed_len, enum lk_totp_alg alg, unsigned digits,
            uint64_t counter, char *out, size_t outlen)
{
	static const uint32_t modulus[] = { [6] = 1000000, [7] = 10000000, [8] = 100000000 };
	const EVP_MD *md = alg_md(alg);
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, off;
	uint32_t bin;
	int r;

	if (md == NULL || digits < LK_TOTP_DIGITS_MIN || digits > LK_TOTP_DIGITS_MAX ||
	    seed == NULL || seed_len == 0 || seed_len > LK_TOTP_SEED_MAX || out == NULL ||
	    outlen < digits + 1)
		return LK_EINVAL;
	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	r = LK_ECRYPTO;
	if (HMAC(md, seed, (int)seed_len, msg, sizeof(msg), mac, &maclen) == NULL || maclen < 20)
		goto out;
	/* RFC 4226 5.3 dynamic truncation: the low nibble of the last byte
	 * picks four bytes; the top bit is dropped so the value is positive. */
	off = mac[maclen - 1] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	      ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
	bin %= modulus[digits];
	/* Digits by hand, not snprintf: the code stays out of stdio's buffers. */
	for (unsigned i = digits; i-- > 0;) {
		out[i] = (char)('0' + bin % 10);
		bin /= 10;
	}
	out[digits] = '\0';
	r = LK_OK;
out:
	sodium_memzero(mac, sizeof(mac));
	return r;
}

bool lk_totp_match(const unsigned char *seed, size_t seed_len, enum lk_totp_alg alg,
                   unsigned digits, uint64_t step, unsigned skew, const char *code,
                   uint64_t *ret_step)
{
	char cand[LK_TOTP_DIGITS_MAX + 1];
	uint64_t lo, hi, found = 0;
	unsigned any = 0;

	if (code == NULL || alg_md(alg) == NULL || digits < LK_TOTP_DIGITS_MIN ||
	    digits > LK_TOTP_DIGITS_MAX || skew > LK_TOTP_SKEW_MAX ||
	    strnlen(code, digits + 1) != digits)
		return false;
	lo = step >= skew ? step - skew : 0;
	hi = step <= UINT64_MAX - skew ? step + skew : UINT64_MAX;
	/* Every candidate is computed and compared, whatever matched before:
	 * no early exit, no branch on a comparison, so the time taken says
	 * nothing about which step (if any) the code belongs to. If two steps
	 * match (a 6-digit collision), the later one wins: recording it as
	 * used refuses both. */
	for (uint64_t s = lo;; s++) {
		unsigned eq = 0;
		uint64_t mask;
		if (lk_hotp(seed, seed_len, alg, digits, s, cand, sizeof(cand)) == LK_OK)
			eq = (unsigned)(1 + sodium_memcmp(cand, code, digits)); /* 0 or -1 */
		mask = (uint64_t)0 - (uint64_t)eq;
		found = (found & ~mask) | (s & mask);
		any |= eq;
		if (s == hi)
			break;
	}
	sodium_memzero(cand, sizeof(cand));
	if (!any)
		return false;
	*ret_step = found;
	return true;
}

/* --------------------------------------------------------- input checks */

enum code_kind { CODE_MALFORMED, CODE_TOTP, CODE_RECOVERY };

/* The character in the recovery alphabet (lower case) that c stands for,
 * or -1. */
static int recovery_char(unsigned char c)
{
	const char *p;

	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	p = c != '\0' ? strchr(recovery_alphabet, c) : NULL;
	return p != NULL ? *p : -1;
}

/*
 * Sorts a presented code without trusting it: 6 to 8 digits (a TOTP code,
 * copied as is) or a recovery code "xxxx-xxxx-xxxx-xxxx" in either case
 * (copied as its 16 characters in lower case). Anything else, including
 * a NUL inside or more than CODE_INPUT_MAX bytes, is malformed.
 */
static enum code_kind classify_code(const char *code, size_t len,
                                    char out[LK_TOTP_RECOVERY_LEN + 1])
{
	size_t n = 0;
	bool digits = true;

	if (code == NULL || len == 0 || len > CODE_INPUT_MAX)
		return CODE_MALFORMED;
	for (size_t i = 0; i < len; i++)
		digits &= code[i] >= '0' && code[i] <= '9';
	if (digits && len >= LK_TOTP_DIGITS_MIN && len <= LK_TOTP_DIGITS_MAX) {
		memcpy(out, code, len);
		out[len] = '\0';
		return CODE_TOTP;
	}
	if (len != LK_TOTP_RECOVERY_LEN)
		return CODE_MALFORMED;
	for (size_t i = 0; i < len; i++) {
		int v;
		if (i % 5 == 4) {
			if (code[i] != '-')
				goto bad;
			continue;
		}
		if ((v = recovery_char((unsigned char)code[i])) < 0)
			goto bad;
		out[n++] = (char)v;
	}
	out[n] = '\0';
	return CODE_RECOVERY;
bad:
	sodium_memzero(out, LK_TOTP_RECOVERY_LEN + 1);
	return CODE_MALFORMED;
}

static int check_user(const char *user, struct lk_err *err)
{
	if (!lk_owner_name_valid(user))
		return lk_err_set(err, LK_EINVAL,
		                  "bad user '%.140s' (letters, digits and ._@+- , at most %d)",
		                  user != NULL ? user : "", LK_NAME_MAX);
	return LK_OK;
}

static bool clock_plausible(int64_t now)
{
	return now >= 0 && now <= TIME_MAX;
}

static int check_clock(int64_t now, struct lk_err *err)
{
	if (!clock_plausible(now))
		return lk_err_set(err, LK_EINVAL,
		                  "implausible clock %lld (before 1970 or after 9999); refusing to "
		                  "compute time steps",
		                  (long long)now);
	return LK_OK;
}

static int check_seal(const struct lk_store *store, struct lk_err *err)
{
	if (store->seal == NULL)
		return lk_err_set(err, LK_ECRYPTO, "the master key is not loaded");
	return LK_OK;
}

static int resolve_params(const struct lk_totp_params *in, struct lk_totp_params *out,
                          struct lk_err *err)
{
	/* Zero fields take the defaults, so callers can name only what the
	 * administrator chose. */
	out->alg = in != NULL && in->alg != 0 ? in->alg : LK_TOTP_SHA1;
	out->digits = in != NULL && in->digits != 0 ? in->digits : 6;
	out->period = in != NULL && in->period != 0 ? in->period : LK_TOTP_PERIOD_DEFAULT;
	out->issuer = in != NULL && in->issuer != NULL ? in->issuer : "Latchkey";
	if (lk_totp_alg_name(out->alg) == NULL)
		return lk_err_set(err, LK_EINVAL, "bad algorithm %d (SHA1, SHA256 or SHA512)",
		                  (int)out->alg);
	if (out->digits < LK_TOTP_DIGITS_MIN || out->digits > LK_TOTP_DIGITS_MAX)
		return lk_err_set(err, LK_EINVAL, "bad digits %u (%d to %d)", out->digits,
		                  LK_TOTP_DIGITS_MIN, LK_TOTP_DIGITS_MAX);
	if (out->period < PERIOD_MIN || out->period > PERIOD_MAX)
		return lk_err_set(err, LK_EINVAL, "bad period %u seconds (%d to %d)", out->period,
		                  PERIOD_MIN, PERIOD_MAX);
	/* The issuer is shown by the app and stored in the audit trail; a
	 * colon would split the Key Uri Format's "issuer:account" label. */
	if (out->issuer[0] == '\0' || !lk_text_valid(out->issuer, LK_TOTP_ISSUER_MAX) ||
	    strchr(out->issuer, ':') != NULL || lk_text_looks_like_key(out->issuer))
		return lk_err_set(err, LK_EINVAL,
		                  "bad issuer '%.80s' (1 to %d bytes of printable text, no ':')",
		                  out->issuer, LK_TOTP_ISSUER_MAX);
	return LK_OK;
}

static int check_reason(const char *reason, struct lk_err *err)
{
	if (reason != NULL &&
	    (!lk_text_valid(reason, LK_REASON_MAX) || lk_text_looks_like_key(reason)))
		return lk_err_set(err, LK_EINVAL,
		                  "bad reason: invalid UTF-8, control characters, an API key, or "
		                  "longer than %d bytes",
		                  LK_REASON_MAX);
	return LK_OK;
}

/* ------------------------------------------------------------ otpauth URI */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++, b->len++) {
		if (b->len + 1 < b->cap)
			b->p[b->len] = *s;
	}
}

/* RFC 3986 percent-encoding of everything but the unreserved set. */
static void sb_pct(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[4] = { (char)c, '\0' };
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~')) {
			enc[0] = '%';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
		}
		sb_put(b, enc);
	}
}

/* otpauth://totp/ISSUER:USER?secret=...&issuer=...&algorithm=...&digits=
 * ...&period=... (Key Uri Format). Written straight into the caller's
 * buffer; the base32 secret passes through a wiped local copy only. */
static int format_uri(const struct lk_totp_params *p, const char *user, const unsigned char *seed,
                      size_t seed_len, char *out, size_t outlen, struct lk_err *err)
{
	char secret[((LK_TOTP_SEED_MAX + 4) / 5) * 8 + 1], num[32];
	struct sbuf b = { out, 0, outlen };
	int r;

	r = lk_base32_encode(seed, seed_len, secret, sizeof(secret));
	if (r < 0)
		return lk_err_set(err, r, "encoding the secret failed");
	sb_put(&b, "otpauth://totp/");
	sb_pct(&b, p->issuer);
	sb_put(&b, ":");
	sb_pct(&b, user);
	sb_put(&b, "?secret=");
	sb_put(&b, secret);
	sb_put(&b, "&issuer=");
	sb_pct(&b, p->issuer);
	sb_put(&b, "&algorithm=");
	sb_put(&b, lk_totp_alg_name(p->alg));
	snprintf(num, sizeof(num), "&digits=%u&period=%u", p->digits, p->period);
	sb_put(&b, num);
	sodium_memzero(secret, sizeof(secret));
	if (b.len + 1 > outlen) {
		sodium_memzero(out, outlen);
		return lk_err_set(
		    err, LK_EINVAL,
		    "the otpauth URI for user '%s' would take %zu bytes, more than %zu "
		    "(shorten the issuer)",
		    user, b.len + 1, outlen);
	}
	out[b.len] = '\0';
	return LK_OK;
}

/* ------------------------------------------------------ credential rows */

struct cred {
	struct lk_totp_info info;
	unsigned char sealed[SEALED_MAX];
	size_t sealed_len;
	unsigned char nonce[NONCE_LEN];
	bool intact; /* every field the seal and the algorithm need is sane */
	bool has_last_step;
	uint64_t last_step;
};

#define CRED_COLUMNS                                                                    \
	"c.cred_id, s.name, c.user_ref, c.status, c.alg, c.digits, c.period, c.issuer," \
	" c.created, c.confirmed, c.last_used,"                                         \
	" (SELECT count(*) FROM totp_recovery r WHERE r.cred_id = c.cred_id"            \
	" AND r.used_at IS NULL),"                                                      \
	" c.seed_sealed, c.seed_nonce, c.seal_ver, c.last_step"                         \
	" FROM totp_credential c JOIN subject s ON s.subject_ref = c.user_ref"

static const char sql_by_user[] = "SELECT " CRED_COLUMNS " WHERE s.kind = 'owner' AND s.name = ?1";
static const char sql_list[] = "SELECT " CRED_COLUMNS " ORDER BY c.created, c.cred_id";

static void copy_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
}

static void read_cred(sqlite3_stmt *st, struct cred *c)
{
	struct lk_totp_info *in = &c->info;
	int64_t digits = sqlite3_column_int64(st, 5), period = sqlite3_column_int64(st, 6);
	int sealed_len = sqlite3_column_bytes(st, 12), nonce_len = sqlite3_column_bytes(st, 13);
	char alg[16];

	memset(c, 0, sizeof(*c));
	copy_text(st, 0, in->cred_id, sizeof(in->cred_id));
	copy_text(st, 1, in->user, sizeof(in->user));
	if (sqlite3_column_type(st, 1) == SQLITE_NULL)
		snprintf(in->user, sizeof(in->user), "(erased)");
	copy_text(st, 2, in->user_ref, sizeof(in->user_ref));
	copy_text(st, 3, in->status, sizeof(in->status));
	copy_text(st, 4, alg, sizeof(alg));
	copy_text(st, 7, in->issuer, sizeof(in->issuer));
	in->created = sqlite3_column_int64(st, 8);
	in->confirmed = sqlite3_column_int64(st, 9);
	in->last_used = sqlite3_column_int64(st, 10);
	in->recovery_left = (unsigned)sqlite3_column_int(st, 11);

	/* An edited or damaged row must never turn into a usable credential:
	 * anything out of range marks it not intact (SEED_UNREADABLE). */
	c->intact = lk_totp_alg_parse(alg, &in->alg) == LK_OK && digits >= LK_TOTP_DIGITS_MIN &&
	            digits <= LK_TOTP_DIGITS_MAX && period >= PERIOD_MIN && period <= PERIOD_MAX &&
	            sealed_len > (int)SEAL_TAG_LEN && sealed_len <= (int)SEALED_MAX &&
	            nonce_len == (int)NONCE_LEN &&
	            sqlite3_column_int64(st, 14) == LK_SEAL_VERSION &&
	            strlen(in->cred_id) == LK_TOTP_CRED_ID_LEN;
	if (digits >= LK_TOTP_DIGITS_MIN && digits <= LK_TOTP_DIGITS_MAX)
		in->digits = (unsigned)digits;
	if (period >= PERIOD_MIN && period <= PERIOD_MAX)
		in->period = (unsigned)period;
	if (c->intact) {
		memcpy(c->sealed, sqlite3_column_blob(st, 12), (size_t)sealed_len);
		c->sealed_len = (size_t)sealed_len;
		memcpy(c->nonce, sqlite3_column_blob(st, 13), NONCE_LEN);
	}
	c->has_last_step = sqlite3_column_type(st, 15) != SQLITE_NULL;
	if (c->has_last_step) {
		int64_t v = sqlite3_column_int64(st, 15);
		c->last_step = v > 0 ? (uint64_t)v : 0;
	}
}

/* The user's credential; LK_ENOTFOUND (with a message) when there is none. */
static int load_cred(struct lk_store *store, const char *user, struct cred *ret_cred,
                     struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_by_user, err);
	int rc;

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_cred(st, ret_cred);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return lk_err_set(err, LK_ENOTFOUND, "no TOTP credential for user '%s'", user);
	if (rc != SQLITE_ROW)
		return lk_store_error(store, rc, "reading a TOTP credential", err);
	return LK_OK;
}

/* Opens a unit of work and loads the user's credential in it; on failure
 * the unit is rolled back already. */
static int begin_cred(struct lk_store *store, const char *user, struct cred *ret_cred,
                      struct lk_err *err)
{
	int r = lk_store_begin(store, err);

	if (r < 0)
		return r;
	r = load_cred(store, user, ret_cred, err);
	if (r < 0)
		lk_store_rollback(store);
	return r;
}

static bool cred_active(const struct cred *c)
{
	return strcmp(c->info.status, "active") == 0;
}

/* ------------------------------------------------------------------ seal */

static int seal_seed(const struct lk_store *store, const char *cred_id, const unsigned char *seed,
                     size_t len, unsigned char *sealed, unsigned char nonce[NONCE_LEN])
{
	/* A fresh random nonce per seal: 192 bits never repeat by chance. */
	randombytes_buf(nonce, NONCE_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(
	        sealed, NULL, seed, len, (const unsigned char *)cred_id, LK_TOTP_CRED_ID_LEN, NULL,
	        nonce, store->seal) != 0)
		return LK_ECRYPTO;
	return LK_OK;
}

/* Opens the seal into seed (sodium_malloc'd, LK_TOTP_SEED_MAX bytes). Any
 * failure is LK_ECRYPTO: wrong master key, a row moved to another cred_id,
 * or an edited byte all look the same, and none of them may authenticate. */
static int unseal_seed(const struct lk_store *store, const struct cred *c, unsigned char *seed,
                       size_t *ret_len)
{
	unsigned long long n = 0;

	if (!c->intact ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(
	        seed, &n, NULL, c->sealed, c->sealed_len, (const unsigned char *)c->info.cred_id,
	        LK_TOTP_CRED_ID_LEN, c->nonce, store->seal) != 0) {
		sodium_memzero(seed, LK_TOTP_SEED_MAX);
		return LK_ECRYPTO;
	}
	*ret_len = (size_t)n;
	return LK_OK;
}

/* -------------------------------------------------------- recovery codes */

/* The recovery-hash key: its own subkey of the seal key, so a hash can
 * never be mistaken for (or used as) anything the seal key protects. */
static int recovery_key(const struct lk_store *store, unsigned char key[RECOVERY_HASH])
{
	if (crypto_kdf_derive_from_key(key, RECOVERY_HASH, 1, recovery_kdf_context, store->seal) !=
	    0)
		return LK_ECRYPTO;
	return LK_OK;
}

/* Keyed BLAKE2b-256 over cred_id || code: bound to the credential, so a
 * hash copied to another credential's rows matches nothing. */
static void recovery_hash(const unsigned char key[RECOVERY_HASH], const char *cred_id,
                          const char code[RECOVERY_CHARS], unsigned char out[RECOVERY_HASH])
{
	unsigned char in[LK_TOTP_CRED_ID_LEN + RECOVERY_CHARS];

	memcpy(in, cred_id, LK_TOTP_CRED_ID_LEN);
	memcpy(in + LK_TOTP_CRED_ID_LEN, code, RECOVERY_CHARS);
	crypto_generichash(out, RECOVERY_HASH, in, sizeof(in), key, RECOVERY_HASH);
	sodium_memzero(in, sizeof(in));
}

static const char sql_rec_delete[] = "DELETE FROM totp_recovery WHERE cred_id = ?1";
static const char sql_rec_insert[] = "INSERT INTO totp_recovery (cred_id, hash) VALUES (?1, ?2)";

static int delete_by_cred(struct lk_store *store, const char *sql, const char *cred_id,
                          const char *what, struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql, err);

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, cred_id, -1, SQLITE_STATIC);
	return lk_store_exec_stmt(store, st, what, err);
}

/* Replaces the credential's recovery codes with ten new ones (inside the
 * caller's transaction); the codes go to the caller, only hashes to disk. */
static int new_recovery_codes(struct lk_store *store, const char *cred_id,
                              char ret[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1],
                              struct lk_err *err)
{
	unsigned char key[RECOVERY_HASH], hash[RECOVERY_HASH];
	char plain[RECOVERY_CHARS];
	sqlite3_stmt *st;
	int r;

	r = delete_by_cred(store, sql_rec_delete, cred_id, "removing old recovery codes", err);
	if (r < 0)
		return r;
	r = recovery_key(store, key);
	if (r < 0) {
		lk_err_set(err, r, "deriving the recovery-code key failed");
		goto out;
	}
	for (size_t i = 0; i < LK_TOTP_RECOVERY_CODES; i++) {
		char *p = ret[i];
		for (size_t j = 0; j < RECOVERY_CHARS; j++) {
			plain[j] = recovery_alphabet[randombytes_uniform(
			    (uint32_t)(sizeof(recovery_alphabet) - 1))];
			if (j > 0 && j % 4 == 0)
				*p++ = '-';
			*p++ = plain[j];
		}
		*p = '\0';
		recovery_hash(key, cred_id, plain, hash);
		r = LK_ESTORE;
		st = lk_store_stmt(store, sql_rec_insert, err);
		if (st == NULL)
			goto out;
		sqlite3_bind_text(st, 1, cred_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, hash, RECOVERY_HASH, SQLITE_STATIC);
		r = lk_store_exec_stmt(store, st, "storing a recovery code", err);
		if (r < 0)
			goto out;
	}
	r = LK_OK;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(plain, sizeof(plain));
	return r;
}

static const char sql_rec_rows[] = "SELECT hash, used_at FROM totp_recovery WHERE cred_id = ?1";

/*
 * Finds the recovery code among the credential's rows: every row's hash
 * is compared in constant time and the walk never stops early. Returns
 * LK_OK with *ret_found (and the matching row's hash and used state).
 */
static int find_recovery(struct lk_store *store, const struct cred *c,
                         const char code[RECOVERY_CHARS], bool *ret_found, bool *ret_used,
                         unsigned char ret_hash[RECOVERY_HASH], struct lk_err *err)
{
	unsigned char key[RECOVERY_HASH], want[RECOVERY_HASH];
	bool found = false, used = false;
	sqlite3_stmt *st = NULL;
	int r, rc;

	r = recovery_key(store, key);
	if (r < 0) {
		lk_err_set(err, r, "deriving the recovery-code key failed");
		goto out;
	}
	recovery_hash(key, c->info.cred_id, code, want);
	r = LK_ESTORE;
	st = lk_store_stmt(store, sql_rec_rows, err);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, c->info.cred_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* Every row costs the same: no short cut on the match. */
		bool spent = sqlite3_column_type(st, 1) != SQLITE_NULL;
		bool eq = sqlite3_column_bytes(st, 0) == RECOVERY_HASH &&
		          sodium_memcmp(sqlite3_column_blob(st, 0), want, RECOVERY_HASH) == 0;
		used |= eq & spent;
		found |= eq;
	}
	if (rc != SQLITE_DONE) {
		r = lk_store_error(store, rc, "reading recovery codes", err);
		goto out;
	}
	*ret_found = found;
	*ret_used = used;
	memcpy(ret_hash, want, RECOVERY_HASH);
	r = LK_OK;
out:
	if (st != NULL)
		sqlite3_reset(st);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(want, sizeof(want));
	return r;
}

/* -------------------------------------------------------------- audit */

static int audit(struct lk_store *store, const struct cred *c, const char *user_ref,
                 const char *cred_id, const char *action, const char *reason, const char *detail,
                 int64_t actor, int64_t now, struct lk_err *err)
{
	return lk_audit_append(store,
	                       &(struct lk_audit_event){
	                           .ts = now,
	                           .actor_uid = actor,
	                           .subject_ref = c != NULL ? c->info.user_ref : user_ref,
	                           .kid = c != NULL ? c->info.cred_id : cred_id,
	                           .action = action,
	                           .reason = reason,
	                           .detail = detail,
	                       },
	                       NULL, err);
}

/* ------------------------------------------------------------ enrollment */

static const char sql_cred_delete[] = "DELETE FROM totp_credential WHERE cred_id = ?1";
static const char sql_cred_insert[] =
    "INSERT INTO totp_credential (cred_id, user_ref, status, alg, digits, period, issuer,"
    " seed_sealed, seed_nonce, seal_ver, created)"
    " VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/* Deletes a credential and its recovery codes (inside the caller's
 * transaction). */
static int delete_cred(struct lk_store *store, const char *cred_id, struct lk_err *err)
{
	int r = delete_by_cred(store, sql_rec_delete, cred_id, "removing recovery codes", err);

	if (r < 0)
		return r;
	return delete_by_cred(store, sql_cred_delete, cred_id, "removing a TOTP credential", err);
}

static int insert_cred(struct lk_store *store, const char *cred_id, const char *user_ref,
                       const struct lk_totp_params *p, const unsigned char *sealed,
                       size_t sealed_len, const unsigned char nonce[NONCE_LEN], int64_t now,
                       struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_cred_insert, err);

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, cred_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user_ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, lk_totp_alg_name(p->alg), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)p->digits);
	sqlite3_bind_int(st, 5, (int)p->period);
	sqlite3_bind_text(st, 6, p->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, sealed, (int)sealed_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, nonce, NONCE_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, LK_SEAL_VERSION);
	sqlite3_bind_int64(st, 10, now);
	return lk_store_exec_stmt(store, st, "storing the TOTP credential", err);
}

int lk_totp_enroll(struct lk_store *store, const char *user, const struct lk_totp_params *params,
                   int64_t actor, int64_t now, char *ret_uri, size_t uri_len,
                   char ret_recovery[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1],
                   struct lk_err *err)
{
	struct lk_totp_params p;
	struct cred old;
	char cred_id[LK_TOTP_CRED_ID_LEN + 1], user_ref[LK_SUBJECT_REF_LEN + 1], detail[256];
	unsigned char *seed = NULL, sealed[LK_TOTP_SEED_LEN + SEAL_TAG_LEN], nonce[NONCE_LEN];
	bool replaced = false;
	int r;

	/* Everything is checked, and the URI built, before the transaction. */
	if (ret_uri == NULL || uri_len == 0 || ret_recovery == NULL)
		return lk_err_set(err, LK_EINVAL, "no room for the URI or the recovery codes");
	if ((r = check_user(user, err)) < 0 || (r = resolve_params(params, &p, err)) < 0 ||
	    (r = check_clock(now, err)) < 0 || (r = check_seal(store, err)) < 0)
		return r;
	seed = sodium_malloc(LK_TOTP_SEED_LEN);
	if (seed == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of secure memory for a TOTP seed");
	randombytes_buf(seed, LK_TOTP_SEED_LEN);
	lk_base62_random(cred_id, LK_TOTP_CRED_ID_LEN);
	r = format_uri(&p, user, seed, LK_TOTP_SEED_LEN, ret_uri, uri_len, err);
	if (r < 0)
		goto out;
	r = lk_err_set(err, LK_ECRYPTO, "sealing the TOTP seed failed");
	if (seal_seed(store, cred_id, seed, LK_TOTP_SEED_LEN, sealed, nonce) < 0)
		goto wipe;

	r = lk_store_begin(store, err);
	if (r < 0)
		goto wipe;
	r = lk_subject_ref(store, "owner", user, true, now, user_ref, err);
	if (r < 0)
		goto fail;
	r = load_cred(store, user, &old, err);
	if (r == LK_OK && cred_active(&old)) {
		r = lk_err_set(err, LK_EEXIST,
		               "user '%s' already has an active TOTP credential (%s); reset it "
		               "first",
		               user, old.info.cred_id);
		goto fail;
	}
	if (r == LK_OK) {
		/* A pending credential was never confirmed: nobody can be using
		 * it, so a new enrollment simply replaces it. */
		replaced = true;
		r = delete_cred(store, old.info.cred_id, err);
	} else if (r == LK_ENOTFOUND) {
		r = LK_OK;
	}
	if (r < 0)
		goto fail;
	r = insert_cred(store, cred_id, user_ref, &p, sealed, sizeof(sealed), nonce, now, err);
	if (r < 0)
		goto fail;
	r = new_recovery_codes(store, cred_id, ret_recovery, err);
	if (r < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "alg=%s digits=%u period=%u issuer=%s%s%s",
	         lk_totp_alg_name(p.alg), p.digits, p.period, p.issuer,
	         replaced ? " replaced=" : "", replaced ? old.info.cred_id : "");
	r = audit(store, NULL, user_ref, cred_id, "totp.enroll", "ok", detail, actor, now, err);
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	if (r < 0)
		goto wipe;
	goto out;
fail:
	lk_store_rollback(store);
wipe:
	sodium_memzero(ret_uri, uri_len);
	sodium_memzero(ret_recovery,
	               sizeof(char[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1]));
out:
	sodium_free(seed);
	return r;
}

/* ---------------------------------------------------------- confirmation */

static const char sql_confirm[] = "UPDATE totp_credential SET status = 'active', confirmed = ?2,"
                                  " last_step = ?3 WHERE cred_id = ?1 AND status = 'pending'";

/* Unseals and matches a TOTP code in the window around now; the plaintext
 * seed lives only inside this function, in guarded memory. */
static int match_code(const struct lk_store *store, const struct cred *c, const char *code,
                      int64_t now, unsigned skew, bool *ret_match, uint64_t *ret_step)
{
	unsigned char *seed = sodium_malloc(LK_TOTP_SEED_MAX);
	size_t seed_len = 0;
	int r;

	if (seed == NULL)
		return LK_ENOMEM;
	r = unseal_seed(store, c, seed, &seed_len);
	if (r == LK_OK)
		*ret_match = lk_totp_match(seed, seed_len, c->info.alg, c->info.digits,
		                           (uint64_t)now / c->info.period, skew, code, ret_step);
	sodium_free(seed);
	return r;
}

int lk_totp_confirm(struct lk_store *store, const char *user, const char *code, size_t code_len,
                    int64_t actor, int64_t now, struct lk_err *err)
{
	char buf[LK_TOTP_RECOVERY_LEN + 1];
	struct cred c;
	uint64_t step = 0;
	bool match = false;
	sqlite3_stmt *st;
	int r;

	if ((r = check_user(user, err)) < 0 || (r = check_clock(now, err)) < 0 ||
	    (r = check_seal(store, err)) < 0)
		return r;
	if (classify_code(code, code_len, buf) != CODE_TOTP) {
		r = lk_err_set(err, LK_EINVAL, "bad code: expected %d to %d digits",
		               LK_TOTP_DIGITS_MIN, LK_TOTP_DIGITS_MAX);
		goto out;
	}
	r = begin_cred(store, user, &c, err);
	if (r < 0)
		goto out;
	r = lk_err_set(err, LK_EEXIST, "the TOTP credential of user '%s' (%s) is already active",
	               user, c.info.cred_id);
	if (cred_active(&c))
		goto fail;
	r = lk_err_set(err, LK_EINVAL, "bad code: credential %s uses %u digits", c.info.cred_id,
	               c.info.digits);
	if (c.intact && strlen(buf) != c.info.digits)
		goto fail;
	r = match_code(store, &c, buf, now, LK_TOTP_SKEW_DEFAULT, &match, &step);
	if (r == LK_ECRYPTO)
		r = lk_err_set(
		    err, r,
		    "the seed of TOTP credential %s does not unseal (wrong master key, or "
		    "the row was edited)",
		    c.info.cred_id);
	else if (r < 0)
		r = lk_err_set(err, r, "out of secure memory for a TOTP seed");
	if (r < 0)
		goto fail;
	if (!match) {
		/* A failed confirmation is an event of its own: recorded, and
		 * the credential stays pending. */
		r = audit(store, &c, NULL, NULL, "totp.confirm-failed", "bad-code", "", actor, now,
		          err);
		if (r < 0)
			goto fail;
		/* A failed commit has rolled back already. */
		if ((r = lk_store_commit(store, err)) < 0)
			goto out;
		r = lk_err_set(err, LK_EINVAL,
		               "the code does not match TOTP credential %s (is the authenticator's "
		               "clock right?)",
		               c.info.cred_id);
		goto out;
	}
	r = LK_ESTORE;
	st = lk_store_stmt(store, sql_confirm, err);
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, c.info.cred_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, (int64_t)step);
	r = lk_store_exec_stmt(store, st, "activating the TOTP credential", err);
	if (r < 0)
		goto fail;
	r = audit(store, &c, NULL, NULL, "totp.confirm", "ok", "", actor, now, err);
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	goto out;
fail:
	lk_store_rollback(store);
out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}

/* ---------------------------------------------------------- verification */

const char *lk_totp_verdict_str(enum lk_totp_verdict v)
{
	static const char *const names[] = {
		[LK_TOTP_OK] = "ok",
		[LK_TOTP_MALFORMED] = "malformed",
		[LK_TOTP_NOT_ENROLLED] = "not-enrolled",
		[LK_TOTP_BAD_CODE] = "bad-code",
		[LK_TOTP_REPLAYED] = "replayed",
		[LK_TOTP_RECOVERY_USED] = "recovery-used",
		[LK_TOTP_SEED_UNREADABLE] = "seed-unreadable",
		[LK_TOTP_CLOCK] = "clock",
	};

	if ((size_t)v < sizeof(names) / sizeof(names[0]))
		return names[v];
	return "invalid";
}

/* last_step is only ever raised: max() keeps an out-of-order writer (there
 * is none inside one transaction) from lowering it. A recovery use binds
 * NULL and leaves it alone. */
static const char sql_touch[] = "UPDATE totp_credential SET last_step = coalesce(max(last_step,"
                                " ?2), ?2, last_step), last_used = ?3 WHERE cred_id = ?1";
static const char sql_rec_use[] = "UPDATE totp_recovery SET used_at = ?3"
                                  " WHERE cred_id = ?1 AND hash = ?2 AND used_at IS NULL";

static int touch(struct lk_store *store, const struct cred *c, const uint64_t *step, int64_t now,
                 struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_touch, err);

	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, c->info.cred_id, -1, SQLITE_STATIC);
	if (step != NULL)
		sqlite3_bind_int64(st, 2, (int64_t)*step);
	sqlite3_bind_int64(st, 3, now);
	return lk_store_exec_stmt(store, st, "recording the TOTP use", err);
}

/* A recovery code against an active credential, inside the transaction. */
static int verify_recovery(struct lk_store *store, const struct cred *c, const char *code,
                           int64_t actor, int64_t now, struct lk_totp_result *res,
                           struct lk_err *err)
{
	unsigned char hash[RECOVERY_HASH];
	bool found = false, used = false;
	char detail[32];
	sqlite3_stmt *st;
	int r;

	r = find_recovery(store, c, code, &found, &used, hash, err);
	if (r < 0)
		goto out;
	res->verdict = !found ? LK_TOTP_BAD_CODE : used ? LK_TOTP_RECOVERY_USED : LK_TOTP_OK;
	if (res->verdict != LK_TOTP_OK)
		goto out;
	r = LK_ESTORE;
	st = lk_store_stmt(store, sql_rec_use, err);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, c->info.cred_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hash, RECOVERY_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	r = lk_store_exec_stmt(store, st, "marking the recovery code used", err);
	if (r < 0)
		goto out;
	r = touch(store, c, NULL, now, err);
	if (r < 0)
		goto out;
	res->by_recovery = true;
	snprintf(detail, sizeof(detail), "left=%u",
	         c->info.recovery_left > 0 ? c->info.recovery_left - 1 : 0);
	r = audit(store, c, NULL, NULL, "totp.recovery-use", "ok", detail, actor, now, err);
out:
	sodium_memzero(hash, sizeof(hash));
	return r;
}

int lk_totp_verify(struct lk_store *store, const char *user, const char *code, size_t code_len,
                   unsigned skew, int64_t actor, int64_t now, struct lk_totp_result *ret,
                   struct lk_err *err)
{
	struct lk_totp_result res = { .verdict = LK_TOTP_MALFORMED };
	char buf[LK_TOTP_RECOVERY_LEN + 1];
	enum code_kind kind;
	struct cred c;
	uint64_t step = 0;
	bool match = false;
	int r;

	if (skew > LK_TOTP_SKEW_MAX)
		return lk_err_set(err, LK_EINVAL, "bad TOTP skew %u (0 to %d steps)", skew,
		                  LK_TOTP_SKEW_MAX);
	if ((r = check_seal(store, err)) < 0)
		return r;
	/* Verdicts that need no lookup come first and touch nothing. */
	kind = classify_code(code, code_len, buf);
	if (kind == CODE_MALFORMED)
		goto done;
	res.verdict = LK_TOTP_CLOCK;
	if (!clock_plausible(now))
		goto done;
	res.verdict = LK_TOTP_NOT_ENROLLED;
	if (!lk_owner_name_valid(user))
		goto done;

	r = begin_cred(store, user, &c, err);
	if (r == LK_ENOTFOUND)
		goto done;
	if (r < 0)
		goto out;
	if (!cred_active(&c)) {
		/* Only pending: it authenticates nothing. */
		lk_store_rollback(store);
		goto done;
	}
	memcpy(res.cred_id, c.info.cred_id, sizeof(res.cred_id));
	if (kind == CODE_RECOVERY) {
		r = verify_recovery(store, &c, buf, actor, now, &res, err);
		if (r < 0)
			goto fail;
	} else {
		res.verdict = LK_TOTP_SEED_UNREADABLE;
		if (c.intact && strlen(buf) != c.info.digits)
			res.verdict = LK_TOTP_MALFORMED;
		else if ((r = match_code(store, &c, buf, now, skew, &match, &step)) == LK_ENOMEM)
			goto fail;
		else if (r == LK_OK)
			res.verdict = !match                                   ? LK_TOTP_BAD_CODE
			              : c.has_last_step && step <= c.last_step ? LK_TOTP_REPLAYED
			                                                       : LK_TOTP_OK;
		/* Check and record in one transaction: a concurrent login
		 * with the same code waits for this commit, then sees the
		 * raised last_step and gets REPLAYED. */
		if (res.verdict == LK_TOTP_OK && (r = touch(store, &c, &step, now, err)) < 0)
			goto fail;
	}
	if (res.verdict != LK_TOTP_OK) {
		/* A refusal changes nothing: no row, no audit entry here (the
		 * engine records the decision). */
		lk_store_rollback(store);
		goto done;
	}
	/* A failed commit has rolled back already: an error, never a verdict. */
	r = lk_store_commit(store, err);
	if (r < 0)
		goto out;
done:
	*ret = res;
	r = LK_OK;
	goto out;
fail:
	if (r == LK_ENOMEM)
		r = lk_err_set(err, r, "out of secure memory for a TOTP seed");
	lk_store_rollback(store);
out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}

/* ------------------------------------------------------------- reading */

int lk_totp_get(struct lk_store *store, const char *user, struct lk_totp_info *ret_info,
                struct lk_err *err)
{
	struct cred c;
	int r;

	if ((r = check_user(user, err)) < 0 || (r = load_cred(store, user, &c, err)) < 0)
		return r;
	*ret_info = c.info;
	return LK_OK;
}

int lk_totp_list(struct lk_store *store, int (*cb)(const struct lk_totp_info *info, void *ctx),
                 void *ctx, struct lk_err *err)
{
	sqlite3_stmt *st = lk_store_stmt(store, sql_list, err);
	struct cred c;
	int rc, stop = 0;

	if (st == NULL)
		return LK_ESTORE;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_cred(st, &c);
		if ((stop = cb(&c.info, ctx)) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return lk_store_error(store, rc, "listing TOTP credentials", err);
	/* A failing callback must not look like a short list. */
	if (stop < 0)
		return lk_err_set(err, LK_ENOMEM, "listing TOTP credentials: out of memory");
	return LK_OK;
}

/* -------------------------------------------------- reset, remove, codes */

static int drop(struct lk_store *store, const char *user, const char *reason, const char *action,
                int64_t actor, int64_t now, struct lk_err *err)
{
	struct cred c;
	char detail[64];
	int r;

	if ((r = check_user(user, err)) < 0 || (r = check_reason(reason, err)) < 0 ||
	    (r = begin_cred(store, user, &c, err)) < 0)
		return r;
	r = delete_cred(store, c.info.cred_id, err);
	if (r < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "status=%s", c.info.status);
	r = audit(store, &c, NULL, NULL, action,
	          reason != NULL && reason[0] != '\0' ? reason : "unspecified", detail, actor, now,
	          err);
	if (r < 0)
		goto fail;
	return lk_store_commit(store, err);
fail:
	lk_store_rollback(store);
	return r;
}

int lk_totp_reset(struct lk_store *store, const char *user, const char *reason, int64_t actor,
                  int64_t now, struct lk_err *err)
{
	return drop(store, user, reason, "totp.reset", actor, now, err);
}

int lk_totp_remove(struct lk_store *store, const char *user, const char *reason, int64_t actor,
                   int64_t now, struct lk_err *err)
{
	return drop(store, user, reason, "totp.remove", actor, now, err);
}

int lk_totp_recovery_regenerate(struct lk_store *store, const char *user, int64_t actor,
                                int64_t now,
                                char ret_recovery[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1],
                                struct lk_err *err)
{
	struct cred c;
	char detail[64];
	int r;

	if (ret_recovery == NULL)
		return lk_err_set(err, LK_EINVAL, "no room for the recovery codes");
	if ((r = check_user(user, err)) < 0 || (r = check_seal(store, err)) < 0 ||
	    (r = begin_cred(store, user, &c, err)) < 0)
		return r;
	r = new_recovery_codes(store, c.info.cred_id, ret_recovery, err);
	if (r < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "codes=%d unused_before=%u", LK_TOTP_RECOVERY_CODES,
	         c.info.recovery_left);
	r = audit(store, &c, NULL, NULL, "totp.recovery-regenerate", "ok", detail, actor, now, err);
	if (r < 0)
		goto fail;
	r = lk_store_commit(store, err);
	if (r == LK_OK)
		return LK_OK;
	goto wipe;
fail:
	lk_store_rollback(store);
wipe:
	sodium_memzero(ret_recovery,
	               sizeof(char[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1]));
	return r;
}
