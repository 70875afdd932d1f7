/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOTP (core/totp.c): the RFC 4226 and RFC 6238 vectors, base32, the
 * otpauth URI, enrollment and confirmation, replay (also across processes
 * at the same moment), recovery codes, every kind of bad input (which must
 * change nothing), unreadable seals, clocks, and codes from oathtool.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "totp-private.h"

#define STEP(t, period) ((uint64_t)(t) / (period))

Suite *totp_suite(void);

static struct tk_env e;

static void setup(void)
{
	tk_setup(&e);
}

static void teardown(void)
{
	tk_teardown(&e);
}

/* ---- helpers ---------------------------------------------------------- */

/* What "nothing changed" means here: the shared snapshot (audit rows and
 * chain head, keys, subjects) plus a digest of every TOTP and lockout row. */
struct snap {
	struct tk_snapshot base;
	unsigned char totp[32];
};

static void digest_table(crypto_generichash_state *h, const char *sql)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			unsigned char type = (unsigned char)sqlite3_column_type(st, i);
			int n = sqlite3_column_bytes(st, i);
			crypto_generichash_update(h, &type, 1);
			crypto_generichash_update(h, (const unsigned char *)&n, sizeof(n));
			if (n > 0)
				crypto_generichash_update(h, sqlite3_column_blob(st, i), (size_t)n);
		}
	}
	sqlite3_finalize(st);
}

static void snap(struct snap *s)
{
	crypto_generichash_state h;

	tk_snapshot(e.store, &s->base);
	crypto_generichash_init(&h, NULL, 0, sizeof(s->totp));
	digest_table(&h, "SELECT * FROM totp_credential ORDER BY cred_id");
	digest_table(&h, "SELECT * FROM totp_recovery ORDER BY cred_id, hash");
	digest_table(&h, "SELECT * FROM lockout ORDER BY kind, id");
	crypto_generichash_final(&h, s->totp, sizeof(s->totp));
}

static void assert_unchanged(const struct snap *before)
{
	struct snap now;

	tk_assert_unchanged(e.store, &before->base);
	snap(&now);
	ck_assert_mem_eq(now.totp, before->totp, sizeof(now.totp));
}

static long long count(const char *sql)
{
	sqlite3_stmt *st;
	long long n;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The fields of an otpauth URI, parsed back the way an app reads it. */
struct uri {
	char type[16], label[256], secret[128], issuer[128], algorithm[16];
	unsigned digits, period;
	int params;
};

static void parse_uri(const char *s, struct uri *u)
{
	static const char scheme[] = "otpauth://";
	char buf[LK_TOTP_URI_MAX + 1], *q, *p, *save = NULL;

	memset(u, 0, sizeof(*u));
	ck_assert_msg(strncmp(s, scheme, strlen(scheme)) == 0, "scheme: %s", s);
	ck_assert_uint_lt(strlen(s), sizeof(buf));
	snprintf(buf, sizeof(buf), "%s", s + strlen(scheme));
	q = strchr(buf, '?');
	ck_assert_ptr_nonnull(q);
	*q++ = '\0';
	p = strchr(buf, '/');
	ck_assert_ptr_nonnull(p);
	*p++ = '\0';
	snprintf(u->type, sizeof(u->type), "%s", buf);
	snprintf(u->label, sizeof(u->label), "%s", p);
	for (p = strtok_r(q, "&", &save); p != NULL; p = strtok_r(NULL, "&", &save)) {
		char *v = strchr(p, '=');
		ck_assert_ptr_nonnull(v);
		*v++ = '\0';
		u->params++;
		if (strcmp(p, "secret") == 0)
			snprintf(u->secret, sizeof(u->secret), "%s", v);
		else if (strcmp(p, "issuer") == 0)
			snprintf(u->issuer, sizeof(u->issuer), "%s", v);
		else if (strcmp(p, "algorithm") == 0)
			snprintf(u->algorithm, sizeof(u->algorithm), "%s", v);
		else if (strcmp(p, "digits") == 0)
			u->digits = (unsigned)atoi(v);
		else if (strcmp(p, "period") == 0)
			u->period = (unsigned)atoi(v);
		else
			ck_abort_msg("unexpected URI parameter %s", p);
	}
	sodium_memzero(buf, sizeof(buf));
}

/* A credential as the test knows it: what the app would hold. */
struct cred {
	char user[64];
	enum lk_totp_alg alg;
	unsigned digits, period;
	unsigned char seed[LK_TOTP_SEED_MAX];
	size_t seed_len;
	char secret[128];
	char uri[LK_TOTP_URI_MAX + 1];
	char recovery[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	struct lk_totp_info info;
};

static void code_at(const struct cred *c, int64_t t, char out[LK_TOTP_DIGITS_MAX + 1])
{
	ck_assert_int_eq(lk_hotp(c->seed, c->seed_len, c->alg, c->digits, STEP(t, c->period), out,
	                         LK_TOTP_DIGITS_MAX + 1),
	                 LK_OK);
}

static void enroll(const char *user, const struct lk_totp_params *p, struct cred *c)
{
	struct lk_err err = { { 0 } };
	struct uri u;

	memset(c, 0, sizeof(*c));
	snprintf(c->user, sizeof(c->user), "%s", user);
	ck_assert_msg(lk_totp_enroll(e.store, user, p, TK_ACTOR, TK_NOW, c->uri, sizeof(c->uri),
	                             c->recovery, &err) == LK_OK,
	              "enroll %s: %s", user, err.msg);
	parse_uri(c->uri, &u);
	snprintf(c->secret, sizeof(c->secret), "%s", u.secret);
	ck_assert_int_eq(lk_totp_alg_parse(u.algorithm, &c->alg), LK_OK);
	c->digits = u.digits;
	c->period = u.period;
	ck_assert_int_eq(lk_base32_decode(u.secret, c->seed, sizeof(c->seed), &c->seed_len), LK_OK);
	ck_assert_uint_eq(c->seed_len, LK_TOTP_SEED_LEN);
	ck_assert_int_eq(lk_totp_get(e.store, user, &c->info, &err), LK_OK);
}

/* Enrolls and confirms at TK_NOW (so that step is used). */
static void enroll_active(const char *user, const struct lk_totp_params *p, struct cred *c)
{
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1];

	enroll(user, p, c);
	code_at(c, TK_NOW, code);
	ck_assert_msg(lk_totp_confirm(e.store, user, code, strlen(code), TK_ACTOR, TK_NOW, &err) ==
	                  LK_OK,
	              "confirm: %s", err.msg);
	ck_assert_int_eq(lk_totp_get(e.store, user, &c->info, &err), LK_OK);
	ck_assert_str_eq(c->info.status, "active");
}

static enum lk_totp_verdict verify_n(const char *user, const char *code, size_t len, unsigned skew,
                                     int64_t now, struct lk_totp_result *ret)
{
	struct lk_totp_result res;
	struct lk_err err = { { 0 } };

	memset(&res, 0xa5, sizeof(res));
	ck_assert_msg(lk_totp_verify(e.store, user, code, len, skew, TK_ACTOR, now, &res, &err) ==
	                  LK_OK,
	              "verify: %s", err.msg);
	if (ret != NULL)
		*ret = res;
	return res.verdict;
}

static enum lk_totp_verdict verify(const char *user, const char *code, int64_t now)
{
	return verify_n(user, code, strlen(code), LK_TOTP_SKEW_DEFAULT, now, NULL);
}

/* Counts audit rows with this action (and, if given, kid). */
static long long audit_count(const char *action, const char *kid)
{
	sqlite3_stmt *st;
	long long n;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT count(*) FROM audit WHERE action = ?1"
	                                    " AND (?2 IS NULL OR kid = ?2)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kid, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* No audit column of any row contains s. */
static void assert_not_in_audit(const char *s)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT count(*) FROM audit WHERE instr(coalesce("
	                                    "subject_ref, '') || coalesce(kid, '') || action ||"
	                                    " reason || detail, ?1) > 0",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_msg(sqlite3_column_int(st, 0) == 0, "a secret reached the audit log");
	sqlite3_finalize(st);
}

/* ---- algorithm -------------------------------------------------------- */

static const char rfc_seed20[] = "12345678901234567890";
static const char rfc_seed32[] = "12345678901234567890123456789012";
static const char rfc_seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

/* RFC 6238 appendix B: T, then the 8-digit TOTP for SHA1, SHA256, SHA512. */
static const struct {
	int64_t t;
	const char *code[3];
} rfc6238[] = {
	{ 59, { "94287082", "46119246", "90693936" } },
	{ 1111111109, { "07081804", "68084774", "25091201" } },
	{ 1111111111, { "14050471", "67062674", "99943326" } },
	{ 1234567890, { "89005924", "91819424", "93441116" } },
	{ 2000000000, { "69279037", "90698825", "38618901" } },
	{ INT64_C(20000000000), { "65353130", "77737706", "47863826" } },
};

static const struct {
	enum lk_totp_alg alg;
	const char *seed;
} rfc_algs[] = {
	{ LK_TOTP_SHA1, rfc_seed20 },
	{ LK_TOTP_SHA256, rfc_seed32 },
	{ LK_TOTP_SHA512, rfc_seed64 },
};

START_TEST(test_rfc6238_vectors)
{
	char out[LK_TOTP_DIGITS_MAX + 1];

	for (size_t i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		for (size_t a = 0; a < 3; a++) {
			const char *seed = rfc_algs[a].seed;
			uint64_t got = 0;
			ck_assert_int_eq(lk_hotp((const unsigned char *)seed, strlen(seed),
			                         rfc_algs[a].alg, 8, STEP(rfc6238[i].t, 30), out,
			                         sizeof(out)),
			                 LK_OK);
			ck_assert_msg(strcmp(out, rfc6238[i].code[a]) == 0, "T=%lld %s: %s != %s",
			              (long long)rfc6238[i].t, lk_totp_alg_name(rfc_algs[a].alg),
			              out, rfc6238[i].code[a]);
			/* The window matcher finds the same code at its step. */
			ck_assert(lk_totp_match((const unsigned char *)seed, strlen(seed),
			                        rfc_algs[a].alg, 8, STEP(rfc6238[i].t, 30), 1,
			                        rfc6238[i].code[a], &got));
			ck_assert_uint_eq(got, STEP(rfc6238[i].t, 30));
		}
	}
}
END_TEST

START_TEST(test_rfc4226_vectors)
{
	static const char *const hotp[] = { "755224", "287082", "359152", "969429", "338314",
		                            "254676", "287922", "162583", "399871", "520489" };
	char out[LK_TOTP_DIGITS_MAX + 1];

	for (uint64_t c = 0; c < 10; c++) {
		ck_assert_int_eq(lk_hotp((const unsigned char *)rfc_seed20, 20, LK_TOTP_SHA1, 6, c,
		                         out, sizeof(out)),
		                 LK_OK);
		ck_assert_str_eq(out, hotp[c]);
	}
	/* 7 digits is the same truncated value, one more digit. */
	ck_assert_int_eq(
	    lk_hotp((const unsigned char *)rfc_seed20, 20, LK_TOTP_SHA1, 7, 0, out, sizeof(out)),
	    LK_OK);
	ck_assert_uint_eq(strlen(out), 7);
	ck_assert_str_eq(out + 1, hotp[0]);
}
END_TEST

START_TEST(test_hotp_bad_arguments)
{
	const unsigned char *seed = (const unsigned char *)rfc_seed64;
	char out[LK_TOTP_DIGITS_MAX + 1];

	ck_assert_int_eq(lk_hotp(seed, 20, 0, 6, 0, out, sizeof(out)), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, 20, (enum lk_totp_alg)4, 6, 0, out, sizeof(out)), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 5, 0, out, sizeof(out)), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 9, 0, out, sizeof(out)), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, 0, LK_TOTP_SHA1, 6, 0, out, sizeof(out)), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, LK_TOTP_SEED_MAX + 1, LK_TOTP_SHA1, 6, 0, out, sizeof(out)),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_hotp(NULL, 20, LK_TOTP_SHA1, 6, 0, out, sizeof(out)), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 8, 0, out, 8), LK_EINVAL);
	ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 6, 0, out, 7), LK_OK);
	/* The largest counter is still a counter. */
	ck_assert_int_eq(lk_hotp(seed, 64, LK_TOTP_SHA512, 8, UINT64_MAX, out, sizeof(out)), LK_OK);
	ck_assert_uint_eq(strlen(out), 8);
}
END_TEST

START_TEST(test_alg_names)
{
	enum lk_totp_alg alg;

	ck_assert_str_eq(lk_totp_alg_name(LK_TOTP_SHA1), "SHA1");
	ck_assert_str_eq(lk_totp_alg_name(LK_TOTP_SHA256), "SHA256");
	ck_assert_str_eq(lk_totp_alg_name(LK_TOTP_SHA512), "SHA512");
	ck_assert_ptr_null(lk_totp_alg_name(0));
	ck_assert_ptr_null(lk_totp_alg_name((enum lk_totp_alg)9));
	ck_assert_int_eq(lk_totp_alg_parse("sha256", &alg), LK_OK);
	ck_assert_int_eq(alg, LK_TOTP_SHA256);
	ck_assert_int_eq(lk_totp_alg_parse("Sha512", &alg), LK_OK);
	ck_assert_int_eq(alg, LK_TOTP_SHA512);
	ck_assert_int_eq(lk_totp_alg_parse("SHA-1", &alg), LK_EINVAL);
	ck_assert_int_eq(lk_totp_alg_parse("MD5", &alg), LK_EINVAL);
	ck_assert_int_eq(lk_totp_alg_parse("", &alg), LK_EINVAL);
	ck_assert_int_eq(lk_totp_alg_parse(NULL, &alg), LK_EINVAL);
	ck_assert_str_eq(lk_totp_verdict_str(LK_TOTP_OK), "ok");
	ck_assert_str_eq(lk_totp_verdict_str(LK_TOTP_RECOVERY_USED), "recovery-used");
	ck_assert_str_eq(lk_totp_verdict_str(LK_TOTP_CLOCK), "clock");
	ck_assert_str_eq(lk_totp_verdict_str((enum lk_totp_verdict)99), "invalid");
}
END_TEST

START_TEST(test_match_window)
{
	const unsigned char *seed = (const unsigned char *)rfc_seed20;
	const uint64_t step = 1000;
	char code[LK_TOTP_DIGITS_MAX + 1];
	uint64_t got;

	for (int d = -3; d <= 3; d++) {
		ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 6, step + d, code, sizeof(code)),
		                 LK_OK);
		for (unsigned skew = 0; skew <= 2; skew++) {
			bool in = (unsigned)abs(d) <= skew;
			got = 12345;
			ck_assert_msg(
			    lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, step, skew, code, &got) == in,
			    "offset %d skew %u", d, skew);
			ck_assert_uint_eq(got, in ? step + d : 12345);
		}
	}
	ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 6, 0, code, sizeof(code)), LK_OK);
	/* Near step 0 the window is cut, not wrapped around. */
	ck_assert(lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, 1, 3, code, &got));
	ck_assert_uint_eq(got, 0);
	/* Wrong length, a bad skew or bad parameters never match. */
	ck_assert(!lk_totp_match(seed, 20, LK_TOTP_SHA1, 7, 0, 1, code, &got));
	ck_assert(!lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, 0, LK_TOTP_SKEW_MAX + 1, code, &got));
	ck_assert(!lk_totp_match(seed, 20, 0, 6, 0, 1, code, &got));
	ck_assert(!lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, 0, 1, NULL, &got));
	ck_assert(!lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, 0, 1, "", &got));
	code[5] = '\0';
	ck_assert(!lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, 0, 1, code, &got));
	/* The far end of the counter space does not wrap either. */
	ck_assert_int_eq(lk_hotp(seed, 20, LK_TOTP_SHA1, 6, UINT64_MAX, code, sizeof(code)), LK_OK);
	ck_assert(lk_totp_match(seed, 20, LK_TOTP_SHA1, 6, UINT64_MAX, 2, code, &got));
	ck_assert(got == UINT64_MAX);
}
END_TEST

/* ---- base32 ----------------------------------------------------------- */

START_TEST(test_base32_rfc4648)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "",        "MY",       "MZXQ",      "MZXW6",
		                           "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI" };
	static const char *const padded[] = { "",         "MY======", "MZXQ====",        "MZXW6===",
		                              "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======" };
	char out[64];
	unsigned char bin[16];
	size_t n;

	for (size_t i = 0; i < 7; i++) {
		ck_assert_int_eq(lk_base32_encode((const unsigned char *)plain[i], strlen(plain[i]),
		                                  out, sizeof(out)),
		                 LK_OK);
		ck_assert_str_eq(out, enc[i]);
		for (int form = 0; form < 3; form++) {
			char in[64];
			snprintf(in, sizeof(in), "%s", form == 0 ? enc[i] : padded[i]);
			if (form == 2) /* lower case is accepted too */
				for (char *p = in; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
			n = 99;
			ck_assert_int_eq(lk_base32_decode(in, bin, sizeof(bin), &n), LK_OK);
			ck_assert_uint_eq(n, strlen(plain[i]));
			ck_assert(memcmp(bin, plain[i], n) == 0);
		}
	}
	/* Spaces, as apps show a secret in groups of four, are ignored. */
	ck_assert_int_eq(lk_base32_decode("mzxw 6ytb oi", bin, sizeof(bin), &n), LK_OK);
	ck_assert_uint_eq(n, 6);
	ck_assert(memcmp(bin, "foobar", 6) == 0);
}
END_TEST

START_TEST(test_base32_round_trip)
{
	unsigned char in[LK_TOTP_SEED_MAX], back[LK_TOTP_SEED_MAX];
	char text[2 * LK_TOTP_SEED_MAX];

	for (size_t len = 0; len <= LK_TOTP_SEED_MAX; len++) {
		size_t n = 999;
		randombytes_buf(in, sizeof(in));
		ck_assert_int_eq(lk_base32_encode(in, len, text, sizeof(text)), LK_OK);
		ck_assert_uint_eq(strlen(text), (len * 8 + 4) / 5);
		ck_assert_ptr_null(strchr(text, '='));
		ck_assert_uint_eq(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), strlen(text));
		ck_assert_int_eq(lk_base32_decode(text, back, sizeof(back), &n), LK_OK);
		ck_assert_uint_eq(n, len);
		ck_assert(len == 0 || memcmp(in, back, len) == 0);
	}
}
END_TEST

START_TEST(test_base32_bad_input)
{
	static const char *const bad[] = {
		"0",         "1",          "8",         "9",
		"M",         "MZX",        "MZXW6Y",    "MY=",
		"=MY",       "MY======MY", "MZ=XW6YQ",  "MY!",
		"MY\tZQ",    "MZXW6YQ\n",  "M\xc3\xa9", "MZXW6YQ=====",
		"-MZXW6YTB", "MZXW6YTB-",
	};
	unsigned char out[64];
	char text[16], *big;
	size_t n = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(lk_base32_decode(bad[i], out, sizeof(out), &n) == LK_EINVAL,
		              "accepted '%s'", bad[i]);
		ck_assert_uint_eq(n, 7); /* never written on failure */
	}
	ck_assert_int_eq(lk_base32_decode(NULL, out, sizeof(out), &n), LK_EINVAL);
	/* Output too small: refused, not truncated. */
	ck_assert_int_eq(lk_base32_decode("MZXW6YTBOI", out, 5, &n), LK_EINVAL);
	ck_assert_int_eq(lk_base32_decode("MZXW6YTBOI", out, 6, &n), LK_OK);
	ck_assert_int_eq(lk_base32_encode((const unsigned char *)"foobar", 6, text, 10), LK_EINVAL);
	ck_assert_int_eq(lk_base32_encode((const unsigned char *)"foobar", 6, text, 11), LK_OK);
	ck_assert_int_eq(lk_base32_encode(NULL, 6, text, sizeof(text)), LK_EINVAL);
	/* A megabyte of valid characters is refused unread. */
	big = malloc(1 << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 'A', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	ck_assert_int_eq(lk_base32_decode(big, out, sizeof(out), &n), LK_EINVAL);
	free(big);
}
END_TEST

/* ---- enrollment ------------------------------------------------------- */

START_TEST(test_enroll_uri_defaults)
{
	struct cred c;
	struct uri u;
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };

	enroll("alice@example.com", NULL, &c);
	parse_uri(c.uri, &u);
	ck_assert_str_eq(u.type, "totp");
	ck_assert_str_eq(u.label, "Latchkey:alice%40example.com");
	ck_assert_str_eq(u.issuer, "Latchkey");
	ck_assert_str_eq(u.algorithm, "SHA1");
	ck_assert_uint_eq(u.digits, 6);
	ck_assert_uint_eq(u.period, 30);
	ck_assert_int_eq(u.params, 5);
	ck_assert_uint_eq(strlen(u.secret), 32); /* 20 bytes, unpadded */
	ck_assert_uint_eq(strspn(u.secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);

	ck_assert_int_eq(lk_totp_get(e.store, "alice@example.com", &info, &err), LK_OK);
	ck_assert_str_eq(info.status, "pending");
	ck_assert_str_eq(info.user, "alice@example.com");
	ck_assert_uint_eq(strlen(info.cred_id), LK_TOTP_CRED_ID_LEN);
	ck_assert_int_eq(strncmp(info.user_ref, "sub_", 4), 0);
	ck_assert_int_eq(info.alg, LK_TOTP_SHA1);
	ck_assert_uint_eq(info.digits, 6);
	ck_assert_uint_eq(info.period, 30);
	ck_assert_str_eq(info.issuer, "Latchkey");
	ck_assert_int_eq(info.created, TK_NOW);
	ck_assert_int_eq(info.confirmed, 0);
	ck_assert_int_eq(info.last_used, 0);
	ck_assert_uint_eq(info.recovery_left, LK_TOTP_RECOVERY_CODES);

	/* Ten distinct recovery codes in the documented shape. */
	for (int i = 0; i < LK_TOTP_RECOVERY_CODES; i++) {
		const char *r = c.recovery[i];
		ck_assert_uint_eq(strlen(r), LK_TOTP_RECOVERY_LEN);
		for (int j = 0; j < LK_TOTP_RECOVERY_LEN; j++) {
			if (j % 5 == 4)
				ck_assert_int_eq(r[j], '-');
			else
				ck_assert_ptr_nonnull(
				    strchr("23456789abcdefghjkmnpqrstuvwxyz", r[j]));
		}
		for (int k = 0; k < i; k++)
			ck_assert_str_ne(r, c.recovery[k]);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM totp_recovery"), LK_TOTP_RECOVERY_CODES);

	/* The key owner and the TOTP user are one subject. */
	ck_assert_int_eq(count("SELECT count(*) FROM subject WHERE kind = 'owner'"
	                       " AND name = 'alice@example.com'"),
	                 1);
	ck_assert_int_eq(audit_count("totp.enroll", info.cred_id), 1);
	assert_not_in_audit(c.secret);
	for (int i = 0; i < LK_TOTP_RECOVERY_CODES; i++)
		assert_not_in_audit(c.recovery[i]);
}
END_TEST

START_TEST(test_enroll_uri_params)
{
	struct cred c;
	struct uri u;
	char code[LK_TOTP_DIGITS_MAX + 1];
	struct lk_err err = { { 0 } };

	enroll("svc-web",
	       &(struct lk_totp_params){
	           .alg = LK_TOTP_SHA512, .digits = 8, .period = 60, .issuer = "ACME Corp/EU" },
	       &c);
	parse_uri(c.uri, &u);
	ck_assert_str_eq(u.label, "ACME%20Corp%2FEU:svc-web");
	ck_assert_str_eq(u.issuer, "ACME%20Corp%2FEU");
	ck_assert_str_eq(u.algorithm, "SHA512");
	ck_assert_uint_eq(u.digits, 8);
	ck_assert_uint_eq(u.period, 60);
	ck_assert_str_eq(c.info.issuer, "ACME Corp/EU");
	/* The secret in the URI is the stored seed: its code confirms. */
	code_at(&c, TK_NOW + 60, code);
	ck_assert_msg(lk_totp_confirm(e.store, "svc-web", code, 8, TK_ACTOR, TK_NOW + 60, &err) ==
	                  LK_OK,
	              "%s", err.msg);
}
END_TEST

/* The database never holds the seed, or its base32 text, in the clear. */
START_TEST(test_seed_sealed_at_rest)
{
	struct cred c;
	char path[PATH_MAX + 64];
	const char *const sides[] = { "", "-wal" };

	enroll("alice", NULL, &c);
	for (size_t s = 0; s < 2; s++) {
		FILE *f;
		unsigned char *buf;
		long size;
		snprintf(path, sizeof(path), "%s%s", e.db, sides[s]);
		f = fopen(path, "rb");
		if (f == NULL)
			continue;
		ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
		size = ftell(f);
		rewind(f);
		buf = malloc((size_t)size + 1);
		ck_assert_ptr_nonnull(buf);
		ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
		fclose(f);
		ck_assert_ptr_null(memmem(buf, (size_t)size, c.seed, c.seed_len));
		ck_assert_ptr_null(memmem(buf, (size_t)size, c.secret, strlen(c.secret)));
		ck_assert_ptr_null(memmem(buf, (size_t)size, c.recovery[0], LK_TOTP_RECOVERY_LEN));
		free(buf);
	}
	ck_assert_int_eq(count("SELECT length(seed_sealed) FROM totp_credential"),
	                 LK_TOTP_SEED_LEN + 16);
	ck_assert_int_eq(count("SELECT length(seed_nonce) FROM totp_credential"), 24);
}
END_TEST

START_TEST(test_pending_not_usable)
{
	struct cred c;
	struct snap s;
	char code[LK_TOTP_DIGITS_MAX + 1];
	struct lk_totp_result res;

	enroll("alice", NULL, &c);
	snap(&s);
	code_at(&c, TK_NOW, code);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, TK_NOW, &res), LK_TOTP_NOT_ENROLLED);
	ck_assert_str_eq(res.cred_id, "");
	ck_assert_int_eq(verify("alice", c.recovery[0], TK_NOW), LK_TOTP_NOT_ENROLLED);
	assert_unchanged(&s);
}
END_TEST

START_TEST(test_confirm)
{
	struct cred c;
	struct snap s;
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1], wrong[LK_TOTP_DIGITS_MAX + 1];

	enroll("alice", NULL, &c);
	code_at(&c, TK_NOW, code);
	snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);

	/* Malformed codes are refused unrecorded. */
	snap(&s);
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", "12a456", 6, TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	ck_assert_ptr_null(strstr(err.msg, "12a456"));
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", "1234567", 7, TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", "", 0, TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_totp_confirm(e.store, "bob", code, 6, TK_ACTOR, TK_NOW, &err),
	                 LK_ENOTFOUND);
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", code, 6, TK_ACTOR, -5, &err), LK_EINVAL);
	assert_unchanged(&s);

	/* A wrong code is recorded, and the credential stays pending. */
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", wrong, 6, TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	ck_assert_ptr_null(strstr(err.msg, wrong));
	ck_assert_int_eq(audit_count("totp.confirm-failed", c.info.cred_id), 1);
	ck_assert_int_eq(lk_totp_get(e.store, "alice", &info, &err), LK_OK);
	ck_assert_str_eq(info.status, "pending");

	ck_assert_msg(lk_totp_confirm(e.store, "alice", code, 6, TK_ACTOR, TK_NOW, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(audit_count("totp.confirm", c.info.cred_id), 1);
	ck_assert_int_eq(lk_totp_get(e.store, "alice", &info, &err), LK_OK);
	ck_assert_str_eq(info.status, "active");
	ck_assert_int_eq(info.confirmed, TK_NOW);
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", code, 6, TK_ACTOR, TK_NOW, &err),
	                 LK_EEXIST);

	/* The confirming code's step counts as used. */
	ck_assert_int_eq(verify("alice", code, TK_NOW), LK_TOTP_REPLAYED);
	code_at(&c, TK_NOW + 30, code);
	ck_assert_int_eq(verify("alice", code, TK_NOW + 30), LK_TOTP_OK);
}
END_TEST

START_TEST(test_enroll_again)
{
	struct cred first, second;
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1], uri[LK_TOTP_URI_MAX + 1];
	char rec[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	struct snap s;

	/* A pending credential is replaced; its secret stops working. */
	enroll("alice", NULL, &first);
	enroll("alice", NULL, &second);
	ck_assert_str_ne(first.info.cred_id, second.info.cred_id);
	ck_assert_int_eq(count("SELECT count(*) FROM totp_credential"), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM totp_recovery"), LK_TOTP_RECOVERY_CODES);
	code_at(&first, TK_NOW, code);
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", code, 6, TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	code_at(&second, TK_NOW, code);
	ck_assert_int_eq(lk_totp_confirm(e.store, "alice", code, 6, TK_ACTOR, TK_NOW, &err), LK_OK);

	/* An active one must be reset first. */
	snap(&s);
	ck_assert_int_eq(
	    lk_totp_enroll(e.store, "alice", NULL, TK_ACTOR, TK_NOW, uri, sizeof(uri), rec, &err),
	    LK_EEXIST);
	ck_assert_str_eq(uri, "");
	ck_assert_str_eq(rec[0], "");
	assert_unchanged(&s);
}
END_TEST

START_TEST(test_enroll_bad_input)
{
	static const struct lk_totp_params bad[] = {
		{ .digits = 5 },
		{ .digits = 9 },
		{ .period = 14 },
		{ .period = 301 },
		{ .alg = 4 },
		{ .issuer = "" },
		{ .issuer = "ACME:EU" },
		{ .issuer = "ACME\nEU" },
		{ .issuer = "\xff" },
		{ .issuer = "A\xe2\x80\xaeZ" },
		{ .issuer =
		      "lk_prod_3xK9mQ2pLw7Z_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ123456" },
		{ .issuer = "0123456789012345678901234567890123456789012345678901234567890123X" },
	};
	static const char *const users[] = { "", "sub_abc", "a b", "a:b", "a\nb" };
	char uri[LK_TOTP_URI_MAX + 1], rec[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	struct lk_err err = { { 0 } };
	struct lk_store *nokey = NULL;
	struct snap s;

	snap(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lk_totp_enroll(e.store, "alice", &bad[i], TK_ACTOR, TK_NOW, uri,
		                             sizeof(uri), rec, &err) == LK_EINVAL,
		              "params %zu accepted", i);
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		ck_assert_int_eq(lk_totp_enroll(e.store, users[i], NULL, TK_ACTOR, TK_NOW, uri,
		                                sizeof(uri), rec, &err),
		                 LK_EINVAL);
	ck_assert_int_eq(
	    lk_totp_enroll(e.store, NULL, NULL, TK_ACTOR, TK_NOW, uri, sizeof(uri), rec, &err),
	    LK_EINVAL);
	/* A URI that does not fit is refused before anything is stored. */
	ck_assert_int_eq(
	    lk_totp_enroll(e.store, "alice", NULL, TK_ACTOR, TK_NOW, uri, 40, rec, &err),
	    LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "otpauth URI"));
	ck_assert_int_eq(
	    lk_totp_enroll(e.store, "alice", NULL, TK_ACTOR, -1, uri, sizeof(uri), rec, &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_totp_enroll(e.store, "alice", NULL, TK_ACTOR, INT64_MAX, uri,
	                                sizeof(uri), rec, &err),
	                 LK_EINVAL);
	assert_unchanged(&s);

	/* Without the master key nothing can be sealed. */
	ck_assert_int_eq(lk_store_open(e.db, 0, NULL, &nokey, &err), LK_OK);
	ck_assert_int_eq(
	    lk_totp_enroll(nokey, "alice", NULL, TK_ACTOR, TK_NOW, uri, sizeof(uri), rec, &err),
	    LK_ECRYPTO);
	lk_store_close(nokey);
	assert_unchanged(&s);
}
END_TEST

/* ---- verification ----------------------------------------------------- */

START_TEST(test_verify_and_replay)
{
	struct cred c;
	struct snap s;
	struct lk_totp_result res;
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1];
	int64_t t = TK_NOW + 95; /* mid-step, three steps on */

	enroll_active("alice", NULL, &c);
	code_at(&c, t, code);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, &res), LK_TOTP_OK);
	ck_assert_str_eq(res.cred_id, c.info.cred_id);
	ck_assert(!res.by_recovery);
	ck_assert_int_eq(lk_totp_get(e.store, "alice", &info, &err), LK_OK);
	ck_assert_int_eq(info.last_used, t);
	ck_assert_int_eq(count("SELECT last_step FROM totp_credential"), (long long)STEP(t, 30));

	/* The same code again, at once or later in its step: replayed, and
	 * nothing is written. */
	snap(&s);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, &res), LK_TOTP_REPLAYED);
	ck_assert_str_eq(res.cred_id, c.info.cred_id);
	ck_assert_int_eq(verify("alice", code, t + 20), LK_TOTP_REPLAYED);
	/* An older step's code inside the window is replayed too. */
	code_at(&c, t - 30, code);
	ck_assert_int_eq(verify("alice", code, t), LK_TOTP_REPLAYED);
	/* Wrong code. */
	code_at(&c, t + 300, code);
	ck_assert_int_eq(verify("alice", code, t), LK_TOTP_BAD_CODE);
	assert_unchanged(&s);

	code_at(&c, t + 30, code);
	ck_assert_int_eq(verify("alice", code, t + 30), LK_TOTP_OK);
}
END_TEST

START_TEST(test_skew)
{
	struct cred c;
	struct snap s;
	char code[LK_TOTP_DIGITS_MAX + 1];
	int64_t t = TK_NOW + 300;

	enroll_active("alice", NULL, &c);
	/* A phone one step ahead: accepted once within skew 1. */
	code_at(&c, t + 30, code);
	snap(&s);
	ck_assert_int_eq(verify_n("alice", code, 6, 0, t, NULL), LK_TOTP_BAD_CODE);
	assert_unchanged(&s);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, NULL), LK_TOTP_OK);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, NULL), LK_TOTP_REPLAYED);
	/* The step it used is gone, and so is every step before it: the
	 * current step's own code is now refused too. */
	code_at(&c, t, code);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, NULL), LK_TOTP_REPLAYED);

	/* A phone one step behind, later on. */
	t += 600;
	code_at(&c, t - 30, code);
	ck_assert_int_eq(verify_n("alice", code, 6, 0, t, NULL), LK_TOTP_BAD_CODE);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, NULL), LK_TOTP_OK);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, NULL), LK_TOTP_REPLAYED);
	/* Two steps out needs skew 2. */
	t += 600;
	code_at(&c, t + 60, code);
	ck_assert_int_eq(verify_n("alice", code, 6, 1, t, NULL), LK_TOTP_BAD_CODE);
	ck_assert_int_eq(verify_n("alice", code, 6, 2, t, NULL), LK_TOTP_OK);
}
END_TEST

/*
 * Eight processes, each with its own store handle, present the same valid
 * code at the same moment (released together by closing a pipe): exactly
 * one is accepted, the others see a replay. Results come back through a
 * pipe, not exit statuses (valgrind may own those).
 */
START_TEST(test_concurrent_replay)
{
	enum { N = 8 };
	struct cred c;
	char code[LK_TOTP_DIGITS_MAX + 1];
	int gate[2], results[2], ok = 0, replayed = 0, other = 0;
	pid_t pids[N];
	int64_t t = TK_NOW + 30;
	char buf[N * 8];
	ssize_t n, got = 0;

	enroll_active("alice", NULL, &c);
	code_at(&c, t, code);
	ck_assert_int_eq(pipe(gate), 0);
	ck_assert_int_eq(pipe(results), 0);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct lk_master *m = NULL;
			struct lk_store *store = NULL;
			struct lk_totp_result res;
			struct lk_err err = { { 0 } };
			char out[8], b;
			int v = 'E';

			close(gate[1]);
			close(results[0]);
			if (lk_master_load(e.master_path, &m, &err) == LK_OK &&
			    lk_store_open(e.db, 0, m, &store, &err) == LK_OK) {
				if (read(gate[0], &b, 1) == 0 &&
				    lk_totp_verify(store, "alice", code, 6, 1, TK_ACTOR, t, &res,
				                   &err) == LK_OK)
					v = '0' + (int)res.verdict;
			}
			snprintf(out, sizeof(out), "%c", v);
			if (write(results[1], out, 1) != 1)
				_exit(2);
			_exit(0);
		}
	}
	close(gate[0]);
	close(results[1]);
	/* Every child has the store open or is about to: let them all go. */
	usleep(200000);
	close(gate[1]);
	while ((n = read(results[0], buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	close(results[0]);
	for (int i = 0; i < N; i++) {
		int status;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
	}
	ck_assert_int_eq(got, N);
	for (int i = 0; i < N; i++) {
		if (buf[i] == '0' + LK_TOTP_OK)
			ok++;
		else if (buf[i] == '0' + LK_TOTP_REPLAYED)
			replayed++;
		else
			other++;
	}
	ck_assert_int_eq(other, 0);
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(replayed, N - 1);
}
END_TEST

START_TEST(test_recovery_codes)
{
	struct cred c;
	struct snap s;
	struct lk_totp_result res;
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };
	char upper[LK_TOTP_RECOVERY_LEN + 1];
	char fresh[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];

	enroll_active("alice", NULL, &c);
	for (int i = 0; i < LK_TOTP_RECOVERY_CODES; i++) {
		const char *code = c.recovery[i];
		if (i == 3) { /* typed in capitals: the same code */
			for (int j = 0; j <= LK_TOTP_RECOVERY_LEN; j++)
				upper[j] = (char)(code[j] >= 'a' && code[j] <= 'z' ? code[j] - 32
				                                                   : code[j]);
			code = upper;
		}
		ck_assert_int_eq(verify_n("alice", code, LK_TOTP_RECOVERY_LEN, 1, TK_NOW + i, &res),
		                 LK_TOTP_OK);
		ck_assert(res.by_recovery);
		ck_assert_str_eq(res.cred_id, c.info.cred_id);
		ck_assert_int_eq(lk_totp_get(e.store, "alice", &info, &err), LK_OK);
		ck_assert_uint_eq(info.recovery_left, (unsigned)(LK_TOTP_RECOVERY_CODES - 1 - i));
		ck_assert_int_eq(info.last_used, TK_NOW + i);
		snap(&s);
		ck_assert_int_eq(
		    verify_n("alice", c.recovery[i], LK_TOTP_RECOVERY_LEN, 1, TK_NOW + i, &res),
		    LK_TOTP_RECOVERY_USED);
		assert_unchanged(&s);
	}
	ck_assert_int_eq(audit_count("totp.recovery-use", c.info.cred_id), LK_TOTP_RECOVERY_CODES);
	/* A recovery use never moves the TOTP step. */
	ck_assert_int_eq(count("SELECT last_step FROM totp_credential"),
	                 (long long)STEP(TK_NOW, 30));

	/* New codes replace every old one. */
	ck_assert_msg(lk_totp_recovery_regenerate(e.store, "alice", TK_ACTOR, TK_NOW + 100, fresh,
	                                          &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_int_eq(audit_count("totp.recovery-regenerate", c.info.cred_id), 1);
	ck_assert_int_eq(lk_totp_get(e.store, "alice", &info, &err), LK_OK);
	ck_assert_uint_eq(info.recovery_left, LK_TOTP_RECOVERY_CODES);
	snap(&s);
	ck_assert_int_eq(verify("alice", c.recovery[0], TK_NOW + 100), LK_TOTP_BAD_CODE);
	ck_assert_int_eq(verify("alice", c.recovery[9], TK_NOW + 100), LK_TOTP_BAD_CODE);
	/* Well-formed but never issued. */
	ck_assert_int_eq(verify("alice", "2345-6789-abcd-efgh", TK_NOW + 100), LK_TOTP_BAD_CODE);
	assert_unchanged(&s);
	ck_assert_int_eq(verify("alice", fresh[0], TK_NOW + 100), LK_TOTP_OK);
	ck_assert_int_eq(verify("alice", fresh[0], TK_NOW + 100), LK_TOTP_RECOVERY_USED);
	for (int i = 0; i < LK_TOTP_RECOVERY_CODES; i++) {
		assert_not_in_audit(c.recovery[i]);
		assert_not_in_audit(fresh[i]);
	}
	ck_assert_int_eq(lk_totp_recovery_regenerate(e.store, "bob", TK_ACTOR, TK_NOW, fresh, &err),
	                 LK_ENOTFOUND);
}
END_TEST

/* Recovery codes are bound to their credential: another user's are not
 * yours. */
START_TEST(test_recovery_other_user)
{
	struct cred a, b;
	struct snap s;

	enroll_active("alice", NULL, &a);
	enroll_active("bob", NULL, &b);
	snap(&s);
	ck_assert_int_eq(verify("alice", b.recovery[0], TK_NOW), LK_TOTP_BAD_CODE);
	ck_assert_int_eq(verify("bob", a.recovery[0], TK_NOW), LK_TOTP_BAD_CODE);
	assert_unchanged(&s);
}
END_TEST

START_TEST(test_verify_bad_input)
{
	struct cred c;
	struct snap s;
	struct lk_totp_result res;
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1], *big;
	const size_t mb = 1 << 20;
	static const char *const malformed[] = {
		"12a456",
		"12345",
		"123456789",
		" 123456",
		"123456 ",
		"+12345",
		"-12345",
		"１２３４５６",
		"abcd-efgh-ijkl-mnop", /* i, l, o are not in the alphabet */
		"2345-6789-abcd-efg",
		"2345_6789_abcd_efgh",
		"23456789abcdefgh",
		"2345-6789-abcd-efgh-",
		"0x1234",
	};

	enroll_active("alice", NULL, &c);
	code_at(&c, TK_NOW + 30, code);
	snap(&s);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		ck_assert_msg(verify("alice", malformed[i], TK_NOW + 30) == LK_TOTP_MALFORMED,
		              "'%s' not malformed", malformed[i]);
	ck_assert_int_eq(verify_n("alice", "", 0, 1, TK_NOW + 30, NULL), LK_TOTP_MALFORMED);
	ck_assert_int_eq(verify_n("alice", NULL, 6, 1, TK_NOW + 30, NULL), LK_TOTP_MALFORMED);
	/* A NUL inside: the valid code's digits around it do not count. */
	{
		char withnul[16];
		memcpy(withnul, code, 3);
		withnul[3] = '\0';
		memcpy(withnul + 4, code + 3, 3);
		ck_assert_int_eq(verify_n("alice", withnul, 7, 1, TK_NOW + 30, NULL),
		                 LK_TOTP_MALFORMED);
		/* The length is the caller's: a valid code cut short is malformed. */
		ck_assert_int_eq(verify_n("alice", code, 5, 1, TK_NOW + 30, NULL),
		                 LK_TOTP_MALFORMED);
	}
	/* A megabyte: refused unread (and a megabyte of digits is no code). */
	big = malloc(mb);
	ck_assert_ptr_nonnull(big);
	memset(big, '1', mb);
	memcpy(big, code, 6);
	ck_assert_int_eq(verify_n("alice", big, mb, 1, TK_NOW + 30, NULL), LK_TOTP_MALFORMED);
	ck_assert_int_eq(verify_n("alice", big, 65, 1, TK_NOW + 30, NULL), LK_TOTP_MALFORMED);
	free(big);
	/* 7 digits for a 6-digit credential: the wrong length for it. */
	ck_assert_int_eq(verify("alice", "1234567", TK_NOW + 30), LK_TOTP_MALFORMED);
	/* Users nobody enrolled, or that cannot be names. */
	ck_assert_int_eq(verify("bob", code, TK_NOW + 30), LK_TOTP_NOT_ENROLLED);
	ck_assert_int_eq(verify("", code, TK_NOW + 30), LK_TOTP_NOT_ENROLLED);
	ck_assert_int_eq(verify("alice\n", code, TK_NOW + 30), LK_TOTP_NOT_ENROLLED);
	ck_assert_int_eq(verify_n(NULL, code, 6, 1, TK_NOW + 30, NULL), LK_TOTP_NOT_ENROLLED);
	/* Clocks before 1970 or past year 9999. */
	ck_assert_int_eq(verify("alice", code, -1), LK_TOTP_CLOCK);
	ck_assert_int_eq(verify("alice", code, INT64_MIN), LK_TOTP_CLOCK);
	ck_assert_int_eq(verify("alice", code, INT64_C(253402300800)), LK_TOTP_CLOCK);
	ck_assert_int_eq(verify("alice", code, INT64_MAX), LK_TOTP_CLOCK);
	/* A skew outside the range is a caller's error, not a verdict. */
	ck_assert_int_eq(lk_totp_verify(e.store, "alice", code, 6, LK_TOTP_SKEW_MAX + 1, TK_ACTOR,
	                                TK_NOW + 30, &res, &err),
	                 LK_EINVAL);
	assert_unchanged(&s);
	/* And after all that, the code still works: nothing was used up. */
	ck_assert_int_eq(verify("alice", code, TK_NOW + 30), LK_TOTP_OK);
}
END_TEST

static void flip_sealed_byte(const char *column, int at)
{
	sqlite3_stmt *st;
	unsigned char blob[256];
	int n;
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT %s FROM totp_credential", column);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_bytes(st, 0);
	ck_assert(n > at && (size_t)n <= sizeof(blob));
	memcpy(blob, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	blob[at] ^= 0x01;
	snprintf(sql, sizeof(sql), "UPDATE totp_credential SET %s = ?1", column);
	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, blob, n, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* One flipped bit anywhere in the sealed seed or its nonce: never OK. */
START_TEST(test_seed_edited)
{
	static const struct {
		const char *column;
		int at;
	} edits[] = { { "seed_sealed", 0 },
		      { "seed_sealed", 19 },
		      { "seed_sealed", 35 },
		      { "seed_nonce", 0 },
		      { "seed_nonce", 23 } };
	struct cred c;
	struct snap s;
	char code[LK_TOTP_DIGITS_MAX + 1];
	struct lk_err err = { { 0 } };
	int i = _i;

	enroll_active("alice", NULL, &c);
	flip_sealed_byte(edits[i].column, edits[i].at);
	code_at(&c, TK_NOW + 30, code);
	snap(&s);
	ck_assert_int_eq(verify("alice", code, TK_NOW + 30), LK_TOTP_SEED_UNREADABLE);
	assert_unchanged(&s);
	/* Resetting and enrolling again is the way out. */
	ck_assert_int_eq(lk_totp_reset(e.store, "alice", "seed unreadable", TK_ACTOR, TK_NOW, &err),
	                 LK_OK);
}
END_TEST

/* A sealed seed moved to another credential does not open there: the
 * credential id is the associated data. */
START_TEST(test_seed_moved)
{
	struct cred a, b;
	struct snap s;
	char code[LK_TOTP_DIGITS_MAX + 1];

	enroll_active("alice", NULL, &a);
	enroll_active("bob", NULL, &b);
	ck_assert_int_eq(sqlite3_exec(e.store->db,
	                              "UPDATE totp_credential SET (seed_sealed, seed_nonce) ="
	                              " (SELECT seed_sealed, seed_nonce FROM totp_credential c"
	                              "  JOIN subject s ON s.subject_ref = c.user_ref"
	                              "  WHERE s.name = 'alice')"
	                              " WHERE user_ref = (SELECT subject_ref FROM subject"
	                              "  WHERE name = 'bob')",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	snap(&s);
	code_at(&a, TK_NOW + 30, code);
	ck_assert_int_eq(verify("bob", code, TK_NOW + 30), LK_TOTP_SEED_UNREADABLE);
	code_at(&b, TK_NOW + 30, code);
	ck_assert_int_eq(verify("bob", code, TK_NOW + 30), LK_TOTP_SEED_UNREADABLE);
	assert_unchanged(&s);
	code_at(&a, TK_NOW + 30, code);
	ck_assert_int_eq(verify("alice", code, TK_NOW + 30), LK_TOTP_OK);
}
END_TEST

/* The database opened with another master key: seeds do not unseal, and
 * recovery codes (keyed by the same subkey) match nothing. */
START_TEST(test_seed_wrong_master_key)
{
	struct cred c;
	struct snap s;
	struct lk_master *other = NULL;
	struct lk_store *store = NULL;
	struct lk_totp_result res;
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1], path[PATH_MAX + 64];

	enroll_active("alice", NULL, &c);
	snprintf(path, sizeof(path), "%s/other.key", e.dir);
	ck_assert_int_eq(lk_master_create(path, &err), LK_OK);
	ck_assert_int_eq(lk_master_load(path, &other, &err), LK_OK);
	ck_assert_int_eq(lk_store_open(e.db, 0, other, &store, &err), LK_OK);
	code_at(&c, TK_NOW + 30, code);
	snap(&s);
	ck_assert_int_eq(
	    lk_totp_verify(store, "alice", code, 6, 1, TK_ACTOR, TK_NOW + 30, &res, &err), LK_OK);
	ck_assert_int_eq(res.verdict, LK_TOTP_SEED_UNREADABLE);
	ck_assert_str_eq(res.cred_id, c.info.cred_id);
	ck_assert_int_eq(lk_totp_verify(store, "alice", c.recovery[0], LK_TOTP_RECOVERY_LEN, 1,
	                                TK_ACTOR, TK_NOW + 30, &res, &err),
	                 LK_OK);
	ck_assert_int_eq(res.verdict, LK_TOTP_BAD_CODE);
	assert_unchanged(&s);
	lk_store_close(store);
	lk_master_free(other);
	/* Without any master key there is nothing to verify with: an error,
	 * never a verdict that could read as success. */
	ck_assert_int_eq(lk_store_open(e.db, 0, NULL, &store, &err), LK_OK);
	ck_assert_int_eq(
	    lk_totp_verify(store, "alice", code, 6, 1, TK_ACTOR, TK_NOW + 30, &res, &err),
	    LK_ECRYPTO);
	lk_store_close(store);
	ck_assert_int_eq(verify("alice", code, TK_NOW + 30), LK_TOTP_OK);
}
END_TEST

/* ---- oathtool interop ------------------------------------------------- */

static bool find_oathtool(char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char dirs[4096], *d, *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s", path != NULL ? path : "/usr/bin:/bin");
	for (d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, outlen, "%s/oathtool", d);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* oathtool --totp=ALG --digits=N -s PERIODs -N @T -b -, the secret on its
 * stdin (never in an argv), the code through a pipe (no shell). */
static void oathtool_code(const char *tool, const struct cred *c, int64_t t, char *out,
                          size_t outlen)
{
	char mode[32], digits[32], step[32], now[32];
	int fds[2], in[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	snprintf(mode, sizeof(mode), "--totp=%s", lk_totp_alg_name(c->alg));
	snprintf(digits, sizeof(digits), "--digits=%u", c->digits);
	snprintf(step, sizeof(step), "--time-step-size=%us", c->period);
	snprintf(now, sizeof(now), "--now=@%lld", (long long)t);
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(pipe(in), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(in[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		close(in[0]);
		close(in[1]);
		execl(tool, tool, mode, digits, step, now, "--base32", "-", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	ck_assert_int_eq(write(in[1], c->secret, strlen(c->secret)), (ssize_t)strlen(c->secret));
	ck_assert_int_eq(write(in[1], "\n", 1), 1);
	close(in[1]);
	close(fds[1]);
	while (got < (ssize_t)outlen - 1 && (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
		got += n;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "oathtool failed");
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

START_TEST(test_oathtool_interop)
{
	static const struct lk_totp_params params[] = {
		{ .alg = LK_TOTP_SHA1, .digits = 6, .period = 30 },
		{ .alg = LK_TOTP_SHA256, .digits = 8, .period = 30 },
		{ .alg = LK_TOTP_SHA512, .digits = 7, .period = 60 },
		{ .alg = LK_TOTP_SHA1, .digits = 8, .period = 15 },
	};
	char tool[4096 + 16], code[32], mine[LK_TOTP_DIGITS_MAX + 1], user[32];
	struct lk_err err = { { 0 } };

	if (!find_oathtool(tool, sizeof(tool))) {
		printf("check_totp: oathtool not installed (Debian: oathtool); skipping the "
		       "oathtool interop case\n");
		return;
	}
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		struct cred c;
		int64_t t = TK_NOW;
		snprintf(user, sizeof(user), "user%zu", i);
		enroll(user, &params[i], &c);
		/* oathtool's code confirms the enrollment, then logs in at
		 * later moments, mid-step and on step edges. */
		oathtool_code(tool, &c, t, code, sizeof(code));
		code_at(&c, t, mine);
		ck_assert_str_eq(code, mine);
		ck_assert_msg(
		    lk_totp_confirm(e.store, user, code, strlen(code), TK_ACTOR, t, &err) == LK_OK,
		    "%s: %s", lk_totp_alg_name(c.alg), err.msg);
		for (int k = 1; k <= 4; k++) {
			t += (int64_t)c.period * k + (k % 2 ? c.period - 1 : 0);
			oathtool_code(tool, &c, t, code, sizeof(code));
			ck_assert_uint_eq(strlen(code), c.digits);
			ck_assert_int_eq(verify_n(user, code, strlen(code), 0, t, NULL),
			                 LK_TOTP_OK);
		}
	}
	/* The RFC 6238 SHA-256 seed through base32, checked by oathtool. */
	{
		struct cred c = { .alg = LK_TOTP_SHA256, .digits = 8, .period = 30 };
		ck_assert_int_eq(lk_base32_encode((const unsigned char *)rfc_seed32, 32, c.secret,
		                                  sizeof(c.secret)),
		                 LK_OK);
		oathtool_code(tool, &c, 1111111109, code, sizeof(code));
		ck_assert_str_eq(code, "68084774");
	}
}
END_TEST

/* ---- lifecycle -------------------------------------------------------- */

struct listed {
	int n;
	char users[4][64];
	char status[4][16];
};

static int collect(const struct lk_totp_info *info, void *ctx)
{
	struct listed *l = ctx;

	if (l->n < 4) {
		snprintf(l->users[l->n], sizeof(l->users[0]), "%s", info->user);
		snprintf(l->status[l->n], sizeof(l->status[0]), "%s", info->status);
	}
	l->n++;
	return 0;
}

static int fail_cb(const struct lk_totp_info *info, void *ctx)
{
	return -1;
}

START_TEST(test_list_get)
{
	struct cred a, b;
	struct listed l = { 0 };
	struct lk_totp_info info;
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_totp_list(e.store, collect, &l, &err), LK_OK);
	ck_assert_int_eq(l.n, 0);
	enroll_active("alice", NULL, &a);
	enroll("bob", &(struct lk_totp_params){ .alg = LK_TOTP_SHA256, .digits = 7 }, &b);
	ck_assert_int_eq(lk_totp_list(e.store, collect, &l, &err), LK_OK);
	ck_assert_int_eq(l.n, 2);
	ck_assert(strcmp(l.users[0], "alice") == 0 || strcmp(l.users[1], "alice") == 0);
	ck_assert(strcmp(l.users[0], "bob") == 0 || strcmp(l.users[1], "bob") == 0);
	ck_assert_int_eq(lk_totp_list(e.store, fail_cb, NULL, &err), LK_ENOMEM);
	ck_assert_int_eq(lk_totp_get(e.store, "bob", &info, &err), LK_OK);
	ck_assert_str_eq(info.status, "pending");
	ck_assert_int_eq(info.alg, LK_TOTP_SHA256);
	ck_assert_uint_eq(info.digits, 7);
	ck_assert_int_eq(lk_totp_get(e.store, "carol", &info, &err), LK_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "carol"));
	ck_assert_int_eq(lk_totp_get(e.store, "a b", &info, &err), LK_EINVAL);
	/* The key owner "alice" and the TOTP user "alice" are one subject. */
	{
		char kid[LK_KID_LEN + 1], key[LK_KEY_MAX_LEN + 1];
		struct lk_key_info k;
		tk_issue(&e, "alice", "prod", "a", 86400, key, kid);
		sodium_memzero(key, sizeof(key));
		ck_assert_int_eq(lk_key_get(e.store, kid, &k, &err), LK_OK);
		ck_assert_str_eq(k.owner_ref, a.info.user_ref);
	}
}
END_TEST

START_TEST(test_reset_remove)
{
	static const char *const actions[] = { "totp.reset", "totp.remove" };
	struct cred c;
	struct snap s;
	struct lk_err err = { { 0 } };
	char code[LK_TOTP_DIGITS_MAX + 1];
	int i = _i, r;

	enroll_active("alice", NULL, &c);
	snap(&s);
	/* Refused: unknown user, a reason that is not text. */
	ck_assert_int_eq(lk_totp_reset(e.store, "bob", "x", TK_ACTOR, TK_NOW, &err), LK_ENOTFOUND);
	ck_assert_int_eq(lk_totp_remove(e.store, "alice", "bad\x1b[31m", TK_ACTOR, TK_NOW, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_totp_reset(e.store, "al ice", "x", TK_ACTOR, TK_NOW, &err), LK_EINVAL);
	assert_unchanged(&s);

	r = i == 0 ? lk_totp_reset(e.store, "alice", "lost phone (INC-7)", TK_ACTOR, TK_NOW, &err)
	           : lk_totp_remove(e.store, "alice", NULL, TK_ACTOR, TK_NOW, &err);
	ck_assert_msg(r == LK_OK, "%s", err.msg);
	ck_assert_int_eq(audit_count(actions[i], c.info.cred_id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM totp_credential"), 0);
	ck_assert_int_eq(count("SELECT count(*) FROM totp_recovery"), 0);
	code_at(&c, TK_NOW + 30, code);
	ck_assert_int_eq(verify("alice", code, TK_NOW + 30), LK_TOTP_NOT_ENROLLED);
	ck_assert_int_eq(verify("alice", c.recovery[0], TK_NOW + 30), LK_TOTP_NOT_ENROLLED);
	ck_assert_int_eq(lk_totp_reset(e.store, "alice", "again", TK_ACTOR, TK_NOW, &err),
	                 LK_ENOTFOUND);
	/* Enrolling again gives a new credential and a new secret. */
	{
		struct cred again;
		enroll_active("alice", NULL, &again);
		ck_assert_str_ne(again.info.cred_id, c.info.cred_id);
		ck_assert(memcmp(again.seed, c.seed, LK_TOTP_SEED_LEN) != 0);
	}
}
END_TEST

START_TEST(test_schema)
{
	/* The lockout table as core/lockout-private.h documents it. */
	ck_assert_int_eq(sqlite3_exec(e.store->db,
	                              "INSERT INTO lockout (kind, id, failures, window_start)"
	                              " VALUES ('credential', 'x', 1, 2), ('source', 'y', 3, 4)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(count("SELECT sum(locked_until) FROM lockout"), 0);
	ck_assert_int_ne(sqlite3_exec(e.store->db,
	                              "INSERT INTO lockout (kind, id, failures, window_start)"
	                              " VALUES ('user', 'z', 1, 2)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(e.store->db,
	                              "INSERT INTO lockout (kind, id, failures, window_start)"
	                              " VALUES ('credential', 'x', 1, 2)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(count("SELECT count(*) FROM pragma_table_info('lockout')"), 5);
	ck_assert_int_eq(count("SELECT count(*) FROM pragma_table_info('totp_credential')"), 14);
	ck_assert_int_eq(count("SELECT count(*) FROM pragma_table_info('totp_recovery')"), 3);
	ck_assert_int_ge(lk_store_latest_version(), 4);
}
END_TEST

Suite *totp_suite(void)
{
	Suite *s = suite_create("totp");
	TCase *tc;

	tc = tcase_create("algorithm");
	tcase_add_test(tc, test_rfc6238_vectors);
	tcase_add_test(tc, test_rfc4226_vectors);
	tcase_add_test(tc, test_hotp_bad_arguments);
	tcase_add_test(tc, test_alg_names);
	tcase_add_test(tc, test_match_window);
	suite_add_tcase(s, tc);

	tc = tcase_create("base32");
	tcase_add_test(tc, test_base32_rfc4648);
	tcase_add_test(tc, test_base32_round_trip);
	tcase_add_test(tc, test_base32_bad_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("enroll");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_enroll_uri_defaults);
	tcase_add_test(tc, test_enroll_uri_params);
	tcase_add_test(tc, test_seed_sealed_at_rest);
	tcase_add_test(tc, test_pending_not_usable);
	tcase_add_test(tc, test_confirm);
	tcase_add_test(tc, test_enroll_again);
	tcase_add_test(tc, test_enroll_bad_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_verify_and_replay);
	tcase_add_test(tc, test_skew);
	tcase_add_test(tc, test_concurrent_replay);
	tcase_add_test(tc, test_recovery_codes);
	tcase_add_test(tc, test_recovery_other_user);
	tcase_add_test(tc, test_verify_bad_input);
	tcase_add_loop_test(tc, test_seed_edited, 0, 5);
	tcase_add_test(tc, test_seed_moved);
	tcase_add_test(tc, test_seed_wrong_master_key);
	tcase_add_test(tc, test_oathtool_interop);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_list_get);
	tcase_add_loop_test(tc, test_reset_remove, 0, 2);
	tcase_add_test(tc, test_schema);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tk_run_suite(totp_suite());
}
