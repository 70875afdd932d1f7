/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client certificates in the core: the leaf's facts (checked against what
 * the openssl command says about certificates it made during this run),
 * fingerprint text, the files a policy names for plugins (path, type,
 * owner, mode, size, stamp, directory listing), the certificate inventory,
 * and certificate-bound API keys (pin-mismatch, bind/unbind, rotation, and
 * bad input that must change nothing).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certs-private.h"
#include "policy-files-private.h"
#include "testutil.h"

#define DAY INT64_C(86400)

Suite *certs_suite(void);

/* ---- the PKI, made once with the openssl command before the tests ----- */

static struct {
	char dir[PATH_MAX];
	int64_t made_from, made_until; /* time() around the generation */
} pki;

static void pki_path(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", pki.dir, name);
}

/* Runs a shell command in the PKI directory, output discarded; 0 on exit 0. */
static int pki_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int pki_sh(const char *fmt, ...)
{
	char cmd[4096], full[4096 + PATH_MAX + 64];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s; } >/dev/null 2>&1", pki.dir, cmd);
	st = system(full);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "check_certs: failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

#define EC_KEY_ARGS "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

/* A self-signed certificate name.pem (key name.key) for subj, valid days. */
static int pki_self_signed(const char *name, const char *subj, int days)
{
	return pki_sh("openssl req -x509 " EC_KEY_ARGS " -keyout %s.key -out %s.pem -utf8 "
	              "-subj '%s' -days %d",
	              name, name, subj, days);
}

/* A long subject whose RFC 2253 text is cut inside a two-byte character:
 * "L=y" + 60 x U+00E9 + ",O=" + 64 x 'a' + ",OU=aaaaaaaa,CN=x" puts a
 * U+00E9 at bytes 251-252, where a 255-byte cut leaves its first half. */
#define E_ACUTE "\xc3\xa9"
static void long_subject(char *out, size_t outlen)
{
	char e60[121] = "", a64[65];

	for (int i = 0; i < 60; i++)
		strcat(e60, E_ACUTE);
	memset(a64, 'a', 64);
	a64[64] = '\0';
	snprintf(out, outlen, "/CN=x%s/OU=aaaaaaaa/O=%s/L=y%s", e60, a64, e60);
}

/*
 * ca:    self-signed "/O=Latchkey Test/CN=Test CA", 365 days
 * alice: "/O=Example/CN=alice" signed by ca, serial 0x1234abcd, 30 days
 *        (alice.pem, alice.der, alice.key, chain.pem = alice + ca)
 * bob, carol: self-signed, 10 and 20 days
 * far:   self-signed, 20000 days (notAfter past 2050: GeneralizedTime)
 * long:  self-signed with long_subject()
 */
static int pki_make(void)
{
	char subj[1024];

	pki.made_from = (int64_t)time(NULL);
	if (pki_sh("openssl req -x509 " EC_KEY_ARGS " -keyout ca.key -out ca.pem "
	           "-subj '/O=Latchkey Test/CN=Test CA' -days 365") < 0 ||
	    pki_sh("openssl req -new " EC_KEY_ARGS " -keyout alice.key -out alice.csr "
	           "-subj '/O=Example/CN=alice'") < 0 ||
	    pki_sh("openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key "
	           "-set_serial 0x1234abcd -days 30 -out alice.pem") < 0 ||
	    pki_sh("openssl x509 -in alice.pem -outform DER -out alice.der") < 0 ||
	    pki_sh("cat alice.pem ca.pem > chain.pem") < 0 ||
	    pki_sh("cat ca.pem alice.pem > chain-ca-first.pem") < 0 ||
	    pki_sh("openssl req -new " EC_KEY_ARGS " -keyout csr.key -out csr.pem "
	           "-subj '/CN=request'") < 0 ||
	    pki_self_signed("bob", "/CN=bob", 10) < 0 ||
	    pki_self_signed("carol", "/CN=carol", 20) < 0 ||
	    pki_self_signed("far", "/CN=far", 20000) < 0)
		return -1;
	long_subject(subj, sizeof(subj));
	if (pki_self_signed("long", subj, 30) < 0)
		return -1;
	pki.made_until = (int64_t)time(NULL);
	return 0;
}

/* ---- small helpers ---------------------------------------------------- */

static unsigned char *pki_slurp(const char *name, size_t *ret_len)
{
	char path[PATH_MAX + 64];

	pki_path(name, path, sizeof(path));
	return (unsigned char *)tk_slurp(path, ret_len);
}

/* The first line of a command's output, without its newline. */
static void capture(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	int st;

	ck_assert_msg(p != NULL, "popen %s", cmd);
	out[0] = '\0';
	if (fgets(out, (int)outlen, p) == NULL)
		out[0] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed", cmd);
	out[strcspn(out, "\n")] = '\0';
}

/* What `openssl x509 <flags>` prints after "<label>=". */
static void openssl_field(const char *file, const char *flags, char *out, size_t outlen)
{
	char cmd[PATH_MAX * 2], line[1024], path[PATH_MAX + 64];
	const char *eq;

	pki_path(file, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout %s 2>/dev/null", path, flags);
	capture(cmd, line, sizeof(line));
	eq = strchr(line, '=');
	ck_assert_msg(eq != NULL, "%s: '%s'", cmd, line);
	snprintf(out, outlen, "%s", eq + 1);
}

/* "2026-11-28 09:06:19Z" (openssl -dateopt iso_8601) as Unix time. */
static int64_t openssl_date(const char *file, const char *flag)
{
	char text[64], flags[64];
	struct tm tm;

	snprintf(flags, sizeof(flags), "%s -dateopt iso_8601", flag);
	openssl_field(file, flags, text, sizeof(text));
	memset(&tm, 0, sizeof(tm));
	ck_assert_msg(sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6,
	              "date '%s'", text);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* The facts of a certificate file as the openssl command reports them; the
 * fingerprint normalised by hand ("AB:CD:..." to "abcd..."), not by the
 * code under test. */
static void openssl_facts(const char *file, struct lk_cert_info *ret)
{
	char fp[256];
	size_t n = 0;

	memset(ret, 0, sizeof(*ret));
	openssl_field(file, "-fingerprint -sha256", fp, sizeof(fp));
	for (const char *p = fp; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		ck_assert_uint_lt(n, LK_CERT_SHA256_HEX);
		ret->sha256[n++] = (char)tolower((unsigned char)*p);
	}
	ck_assert_uint_eq(n, LK_CERT_SHA256_HEX);
	openssl_field(file, "-subject -nameopt RFC2253", ret->subject, sizeof(ret->subject));
	openssl_field(file, "-issuer -nameopt RFC2253", ret->issuer, sizeof(ret->issuer));
	openssl_field(file, "-serial", ret->serial, sizeof(ret->serial));
	ret->not_before = openssl_date(file, "-startdate");
	ret->not_after = openssl_date(file, "-enddate");
}

static void assert_same_facts(const struct lk_cert_info *got, const struct lk_cert_info *want)
{
	ck_assert_str_eq(got->sha256, want->sha256);
	ck_assert_str_eq(got->subject, want->subject);
	ck_assert_str_eq(got->issuer, want->issuer);
	ck_assert_str_eq(got->serial, want->serial);
	ck_assert_int_eq(got->not_before, want->not_before);
	ck_assert_int_eq(got->not_after, want->not_after);
}

/* lk_cert_leaf on a PKI file; must succeed. */
static void leaf_of(const char *file, struct lk_cert_info *ret)
{
	struct lk_err err = { { 0 } };
	unsigned char *data;
	size_t len;

	data = pki_slurp(file, &len);
	ck_assert_msg(lk_cert_leaf(data, len, ret, &err) == LK_OK, "%s: %s", file, err.msg);
	free(data);
}

/* lk_cert_leaf must refuse data with LK_EINVAL, leave *info alone and say
 * something; returns the message for further checks. */
static void expect_leaf_refused(const unsigned char *data, size_t len, struct lk_err *err)
{
	struct lk_cert_info info, untouched;
	int r;

	memset(&info, 0x5a, sizeof(info));
	untouched = info;
	memset(err, 0, sizeof(*err));
	r = lk_cert_leaf(data, len, &info, err);
	ck_assert_msg(r == LK_EINVAL, "rc %d (%s), want LK_EINVAL", r, err->msg);
	ck_assert_msg(err->msg[0] != '\0', "refused without a message");
	ck_assert_msg(memcmp(&info, &untouched, sizeof(info)) == 0, "info written on failure");
	/* The fingerprint-only reading refuses the same input. */
	{
		char hex[LK_CERT_SHA256_HEX + 1] = "untouched";
		struct lk_err err2 = { { 0 } };
		ck_assert_int_eq(lk_cert_leaf_sha256(data, len, hex, &err2), LK_EINVAL);
		ck_assert_str_eq(hex, "untouched");
	}
}

/* A first block whose marker line carries more than the marker: OpenSSL's
 * PEM reader would skip it and read the next block, while a stricter
 * reader (the mtls plugin's) takes the first. The core must not pick a
 * different leaf than the one a plugin verified: refused. */
START_TEST(test_leaf_marker_line_strict)
{
	static const char marker[] = "-----BEGIN CERTIFICATE-----";
	unsigned char *ca, *alice, *buf;
	size_t ca_len, alice_len, n = 0;
	struct lk_err err;

	ca = pki_slurp("ca.pem", &ca_len);
	alice = pki_slurp("alice.pem", &alice_len);
	ck_assert(ca_len > sizeof(marker) && memcmp(ca, marker, sizeof(marker) - 1) == 0);
	buf = malloc(ca_len + alice_len);
	ck_assert_ptr_nonnull(buf);
	/* ca.pem with its first newline removed, then alice.pem. */
	memcpy(buf, ca, sizeof(marker) - 1);
	n = sizeof(marker) - 1;
	memcpy(buf + n, ca + sizeof(marker), ca_len - sizeof(marker));
	n += ca_len - sizeof(marker);
	memcpy(buf + n, alice, alice_len);
	n += alice_len;
	expect_leaf_refused(buf, n, &err);
	/* CRLF after the marker is a marker line too. */
	{
		struct lk_cert_info got, want;
		unsigned char *crlf = malloc(alice_len + 1);
		ck_assert_ptr_nonnull(crlf);
		memcpy(crlf, alice, sizeof(marker) - 1);
		crlf[sizeof(marker) - 1] = '\r';
		memcpy(crlf + sizeof(marker), alice + sizeof(marker) - 1,
		       alice_len - (sizeof(marker) - 1));
		ck_assert_int_eq(lk_cert_leaf(crlf, alice_len + 1, &got, &err), LK_OK);
		leaf_of("alice.pem", &want);
		assert_same_facts(&got, &want);
		free(crlf);
	}
	free(buf);
	free(ca);
	free(alice);
}
END_TEST

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = *p < 0x80             ? 1
		           : (*p & 0xe0) == 0xc0 ? 2
		           : (*p & 0xf0) == 0xe0 ? 3
		           : (*p & 0xf8) == 0xf0 ? 4
		                                 : 0;
		if (n == 0)
			return false;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

/*
 * The message names text as the caller sees it: the message shows at most
 * shown bytes of it, and every message passes lk_redact_keys, which masks
 * long mixed letter-and-digit runs (a hex fingerprint is one), so the
 * comparison is against the same cut and masking of text.
 */
static void assert_names(const char *msg, const char *text, size_t shown)
{
	char want[256];

	snprintf(want, sizeof(want), "'%.*s", (int)shown, text);
	lk_redact_keys(want);
	ck_assert_msg(strstr(msg, want) != NULL, "message does not name '%s' (as '%s'): %s", text,
	              want + 1, msg);
}

/* ---- lk_cert_leaf ----------------------------------------------------- */

START_TEST(test_leaf_pem_matches_openssl)
{
	struct lk_cert_info got, want;

	leaf_of("alice.pem", &got);
	openssl_facts("alice.pem", &want);
	assert_same_facts(&got, &want);
	/* And what the test set up, in the forms the header promises. */
	ck_assert_uint_eq(strspn(got.sha256, "0123456789abcdef"), LK_CERT_SHA256_HEX);
	ck_assert_str_eq(got.subject, "CN=alice,O=Example");
	ck_assert_str_eq(got.issuer, "CN=Test CA,O=Latchkey Test");
	ck_assert_str_eq(got.serial, "1234ABCD");
	ck_assert_int_eq(got.not_after - got.not_before, 30 * DAY);
	ck_assert_int_ge(got.not_before, pki.made_from - 1);
	ck_assert_int_le(got.not_before, pki.made_until + 1);
}
END_TEST

START_TEST(test_leaf_self_signed)
{
	struct lk_cert_info got, want;

	leaf_of("bob.pem", &got);
	openssl_facts("bob.pem", &want);
	assert_same_facts(&got, &want);
	ck_assert_str_eq(got.subject, "CN=bob");
	ck_assert_str_eq(got.issuer, "CN=bob");
	ck_assert_int_eq(got.not_after - got.not_before, 10 * DAY);
}
END_TEST

START_TEST(test_leaf_der_same_as_pem)
{
	struct lk_cert_info der, pem;

	leaf_of("alice.der", &der);
	leaf_of("alice.pem", &pem);
	assert_same_facts(&der, &pem);
}
END_TEST

/* The fingerprint read without a parse is the one the parse gives, for
 * every form a chain comes in. */
START_TEST(test_leaf_sha256_matches)
{
	static const char *const files[] = { "alice.pem", "ca.pem", "chain.pem",
		                             "chain-ca-first.pem", "alice.der" };
	char hex[LK_CERT_SHA256_HEX + 1];
	struct lk_cert_info info;
	struct lk_err err = { { 0 } };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		unsigned char *data = pki_slurp(files[i], &len);
		ck_assert_int_eq(lk_cert_leaf(data, len, &info, &err), LK_OK);
		ck_assert_msg(lk_cert_leaf_sha256(data, len, hex, &err) == LK_OK, "%s: %s",
		              files[i], err.msg);
		ck_assert_str_eq(hex, info.sha256);
		free(data);
	}
	/* Base64 that decodes to more than one object is not one leaf. */
	{
		static const char two[] = "-----BEGIN CERTIFICATE-----\n"
		                          "MAMCAQEwAwIBAQ==\n"
		                          "-----END CERTIFICATE-----\n";
		ck_assert_int_eq(
		    lk_cert_leaf_sha256((const unsigned char *)two, strlen(two), hex, &err),
		    LK_EINVAL);
	}
}
END_TEST

START_TEST(test_leaf_chain_first_block)
{
	struct lk_cert_info got, alice, ca;

	leaf_of("alice.pem", &alice);
	leaf_of("ca.pem", &ca);
	ck_assert_str_ne(alice.sha256, ca.sha256);
	leaf_of("chain.pem", &got);
	assert_same_facts(&got, &alice);
	/* Always the first block, whatever it is. */
	leaf_of("chain-ca-first.pem", &got);
	assert_same_facts(&got, &ca);
}
END_TEST

START_TEST(test_leaf_leading_whitespace)
{
	static const char ws[] = " \t\r\n\n  \r\n";
	struct lk_err err = { { 0 } };
	struct lk_cert_info got, want;
	unsigned char *pem, *buf;
	size_t len;

	pem = pki_slurp("alice.pem", &len);
	buf = malloc(sizeof(ws) - 1 + len);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, ws, sizeof(ws) - 1);
	memcpy(buf + sizeof(ws) - 1, pem, len);
	ck_assert_msg(lk_cert_leaf(buf, sizeof(ws) - 1 + len, &got, &err) == LK_OK, "%s", err.msg);
	leaf_of("alice.pem", &want);
	assert_same_facts(&got, &want);
	free(buf);
	free(pem);
}
END_TEST

START_TEST(test_leaf_validity_past_2050)
{
	struct lk_cert_info got, want;

	leaf_of("far.pem", &got);
	openssl_facts("far.pem", &want);
	assert_same_facts(&got, &want);
	ck_assert_int_eq(got.not_after - got.not_before, 20000 * DAY);
	ck_assert_int_gt(got.not_after, INT64_C(2524608000)); /* 2050-01-01 */
}
END_TEST

/* The text goes into terminals, audit text and `cert list --json`: cut to
 * LK_CERT_NAME_MAX with "...", and still UTF-8. */
START_TEST(test_leaf_long_subject_cut)
{
	struct lk_cert_info got;

	leaf_of("long.pem", &got);
	ck_assert_uint_le(strlen(got.subject), LK_CERT_NAME_MAX);
	ck_assert_msg(strlen(got.subject) >= LK_CERT_NAME_MAX - 4, "subject cut short: %zu bytes",
	              strlen(got.subject));
	ck_assert_msg(strcmp(got.subject + strlen(got.subject) - 3, "...") == 0,
	              "a cut subject must end in '...': %s", got.subject);
	ck_assert_msg(strncmp(got.subject, "L=y" E_ACUTE E_ACUTE, 7) == 0, "subject %s",
	              got.subject);
	ck_assert_msg(utf8_valid(got.subject),
	              "cut subject is not valid UTF-8 (byte %zu is 0x%02x before the '...')",
	              strlen(got.subject) - 4, (unsigned char)got.subject[strlen(got.subject) - 4]);
	ck_assert(utf8_valid(got.issuer));
}
END_TEST

enum bad_input {
	BAD_EMPTY,
	BAD_NULL,
	BAD_TEXT,
	BAD_BINARY_DER_LIKE,
	BAD_NUL_IN_PEM,
	BAD_NUL_AFTER_PEM,
	BAD_JUNK_FIRST,
	BAD_TRUNCATED_PEM,
	BAD_TRUNCATED_DER,
	BAD_HEADER_ONLY,
	BAD_CSR,
	BAD_OVER_MAX,
	N_BAD_INPUT
};

/* Every kind of input that is not a certificate: refused, *info untouched,
 * and the message never repeats the input. */
START_TEST(test_leaf_refused)
{
	static const char junk[] = "subject=CN=mallory token=hunter2-XYZZY\n";
	struct lk_err err;
	unsigned char *pem, *der, *buf = NULL;
	size_t pem_len, der_len, len = 0;
	const unsigned char *data = NULL;
	const char *secret = NULL;

	pem = pki_slurp("alice.pem", &pem_len);
	der = pki_slurp("alice.der", &der_len);
	switch ((enum bad_input)_i) {
	case BAD_EMPTY:
		data = pem;
		len = 0;
		break;
	case BAD_NULL:
		data = NULL;
		len = 10;
		break;
	case BAD_TEXT:
		data = (const unsigned char *)"hello, I am not a certificate XYZZY";
		len = strlen((const char *)data);
		secret = "XYZZY";
		break;
	case BAD_BINARY_DER_LIKE:
		buf = malloc(512);
		ck_assert_ptr_nonnull(buf);
		randombytes_buf(buf, 512);
		buf[0] = 0x30; /* the DER path */
		buf[1] = 0x82; /* a length past the input's end */
		buf[2] = 0xff;
		buf[3] = 0xff;
		data = buf;
		len = 512;
		break;
	case BAD_NUL_IN_PEM:
		buf = malloc(pem_len);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, pem, pem_len);
		buf[pem_len / 2] = '\0';
		data = buf;
		len = pem_len;
		break;
	case BAD_NUL_AFTER_PEM:
		/* A whole certificate, then "\0tail": a reader that stops at
		 * the NUL and one that does not would see different input. */
		buf = malloc(pem_len + 5);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, pem, pem_len);
		memcpy(buf + pem_len, "\0tail", 5);
		data = buf;
		len = pem_len + 5;
		break;
	case BAD_JUNK_FIRST:
		buf = malloc(sizeof(junk) - 1 + pem_len);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, junk, sizeof(junk) - 1);
		memcpy(buf + sizeof(junk) - 1, pem, pem_len);
		data = buf;
		len = sizeof(junk) - 1 + pem_len;
		secret = "hunter2";
		break;
	case BAD_TRUNCATED_PEM:
		data = pem;
		len = pem_len / 2;
		break;
	case BAD_TRUNCATED_DER:
		data = der;
		len = der_len - 16;
		break;
	case BAD_HEADER_ONLY:
		data = (const unsigned char *)"-----BEGIN CERTIFICATE-----\n"
		                              "-----END CERTIFICATE-----\n";
		len = strlen((const char *)data);
		break;
	case BAD_CSR:
		free(pem);
		pem = pki_slurp("csr.pem", &pem_len);
		data = pem;
		len = pem_len;
		break;
	case BAD_OVER_MAX:
		/* A good certificate made one byte too long with trailing
		 * newlines: refused unread, saying the size. */
		buf = malloc(LK_CERT_INPUT_MAX + 1);
		ck_assert_ptr_nonnull(buf);
		memset(buf, '\n', LK_CERT_INPUT_MAX + 1);
		memcpy(buf, pem, pem_len);
		data = buf;
		len = LK_CERT_INPUT_MAX + 1;
		break;
	case N_BAD_INPUT:
		break;
	}
	expect_leaf_refused(data, len, &err);
	if (secret != NULL)
		ck_assert_msg(strstr(err.msg, secret) == NULL, "message echoes the input: %s",
		              err.msg);
	if (_i == BAD_OVER_MAX)
		ck_assert_msg(strstr(err.msg, "32769") != NULL, "size not named: %s", err.msg);
	free(buf);
	free(der);
	free(pem);
}
END_TEST

START_TEST(test_leaf_exactly_max)
{
	struct lk_err err = { { 0 } };
	struct lk_cert_info got, want;
	unsigned char *pem, *buf;
	size_t pem_len;

	pem = pki_slurp("alice.pem", &pem_len);
	buf = malloc(LK_CERT_INPUT_MAX);
	ck_assert_ptr_nonnull(buf);
	memset(buf, '\n', LK_CERT_INPUT_MAX);
	memcpy(buf, pem, pem_len);
	ck_assert_msg(lk_cert_leaf(buf, LK_CERT_INPUT_MAX, &got, &err) == LK_OK, "%s", err.msg);
	leaf_of("alice.pem", &want);
	assert_same_facts(&got, &want);
	free(buf);
	free(pem);
}
END_TEST

/* A key pasted before the certificate: refused, and none of the key's
 * base64 ends up in a message that goes to logs. */
START_TEST(test_leaf_private_key_first)
{
	struct lk_err err;
	unsigned char *key, *pem, *buf;
	size_t key_len, pem_len;
	char *line, *save = NULL;

	key = pki_slurp("alice.key", &key_len);
	pem = pki_slurp("alice.pem", &pem_len);
	ck_assert_ptr_nonnull(strstr((char *)key, "PRIVATE KEY"));
	buf = malloc(key_len + pem_len);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, key, key_len);
	memcpy(buf + key_len, pem, pem_len);
	expect_leaf_refused(buf, key_len + pem_len, &err);

	/* No 8-character run of any base64 line of the key. */
	for (line = strtok_r((char *)key, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);
		if (strncmp(line, "-----", 5) == 0)
			continue;
		for (size_t i = 0; i + 8 <= n; i++) {
			char window[9];
			memcpy(window, line + i, 8);
			window[8] = '\0';
			ck_assert_msg(strstr(err.msg, window) == NULL,
			              "message repeats key material '%s': %s", window, err.msg);
		}
	}
	free(buf);
	free(pem);
	free(key);
}
END_TEST

/* ---- lk_cert_fingerprint_parse ---------------------------------------- */

static const char fp_hex[] = "3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b";

static const char *const fp_good[] = {
	"3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	"3C02C30DEA245852C78C8326F68E7EB5EFE73E740EA5A4A966DEAF277212E48B",
	"sha256:3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	"SHA256:3C02C30DEA245852C78C8326F68E7EB5EFE73E740EA5A4A966DEAF277212E48B",
	"3C:02:C3:0D:EA:24:58:52:C7:8C:83:26:F6:8E:7E:B5:EF:E7:3E:74:0E:A5:A4:A9:66:DE:AF:27:72:"
	"12:E4:8B",
	"sha256:3c:02:c3:0d:ea:24:58:52:c7:8c:83:26:f6:8e:7e:b5:ef:e7:3e:74:0e:a5:a4:a9:66:de:af:"
	"27:72:12:e4:8b",
	"3c02C30d:ea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48B",
};

START_TEST(test_fp_good_forms)
{
	struct lk_err err = { { 0 } };
	char hex[LK_CERT_SHA256_HEX + 1];

	ck_assert_msg(lk_cert_fingerprint_parse(fp_good[_i], hex, &err) == LK_OK, "%s: %s",
	              fp_good[_i], err.msg);
	ck_assert_str_eq(hex, fp_hex);
}
END_TEST

static const char *const fp_bad[] = {
	"",
	"sha256:",
	"3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48",   /* 63 */
	"3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b0", /* 65 */
	"3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48g",
	":3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	"3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b:",
	"3c::02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	"3c0:2c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	" 3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	"sha1:3c02c30dea245852c78c8326f68e7eb5efe73e74",
	"md5:3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
	"sha256:sha256:3c02c30dea245852c78c8326f68e7eb5efe73e740ea5a4a966deaf277212e48b",
};

START_TEST(test_fp_bad_forms)
{
	struct lk_err err = { { 0 } };
	char hex[LK_CERT_SHA256_HEX + 1];
	int r;

	memset(hex, 'Z', sizeof(hex));
	r = lk_cert_fingerprint_parse(fp_bad[_i], hex, &err);
	ck_assert_msg(r == LK_EINVAL, "'%s': rc %d", fp_bad[_i], r);
	assert_names(err.msg, fp_bad[_i], 100);
	for (size_t i = 0; i < sizeof(hex); i++)
		ck_assert_msg(hex[i] == 'Z', "output written on failure");
}
END_TEST

START_TEST(test_fp_null)
{
	struct lk_err err = { { 0 } };
	char hex[LK_CERT_SHA256_HEX + 1];

	ck_assert_int_eq(lk_cert_fingerprint_parse(NULL, hex, &err), LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "fingerprint"));
}
END_TEST

/* What an operator pastes: openssl's own output, after "Fingerprint=". */
START_TEST(test_fp_openssl_output)
{
	struct lk_err err = { { 0 } };
	char fp[256], hex[LK_CERT_SHA256_HEX + 1];
	struct lk_cert_info leaf;

	openssl_field("alice.pem", "-fingerprint -sha256", fp, sizeof(fp));
	ck_assert_msg(lk_cert_fingerprint_parse(fp, hex, &err) == LK_OK, "%s", err.msg);
	leaf_of("alice.pem", &leaf);
	ck_assert_str_eq(hex, leaf.sha256);
}
END_TEST

/* ---- policy files ----------------------------------------------------- */

static char pdir[PATH_MAX];

static void pf_setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	tk_mkdtemp(pdir, sizeof(pdir), "latchkey-certs");
}

static void pf_teardown(void)
{
	tk_rmrf(pdir);
}

static void pf_path(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", pdir, name);
}

/* Writes text to path with exactly mode (no umask). */
static void write_file_mode(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* Writes content to pdir/name with exactly mode (no umask); returns the path. */
static void pf_write(const char *name, const void *data, size_t len, mode_t mode, char *path,
                     size_t pathlen)
{
	int fd;

	pf_path(name, path, pathlen);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* lk_policy_file_read must fail with rc and a message holding every
 * non-NULL needle. */
static void expect_read_refused(const char *path, size_t max, int rc, const char *needle1,
                                const char *needle2)
{
	struct lk_err err = { { 0 } };
	unsigned char *data = (unsigned char *)"untouched";
	size_t len = 12345;
	uint64_t stamp = 777;
	int r;

	r = lk_policy_file_read(path, max, &data, &len, &stamp, &err);
	ck_assert_msg(r == rc, "%s: rc %d (%s), want %d", path, r, err.msg, rc);
	ck_assert_msg(needle1 == NULL || strstr(err.msg, needle1) != NULL,
	              "message does not name '%s': %s", needle1, err.msg);
	ck_assert_msg(needle2 == NULL || strstr(err.msg, needle2) != NULL,
	              "message does not name '%s': %s", needle2, err.msg);
	ck_assert_str_eq((const char *)data, "untouched");
	ck_assert_uint_eq(len, 12345);
	ck_assert_uint_eq(stamp, 777);
}

static void expect_read_ok(const char *path, size_t max, const void *want, size_t want_len)
{
	struct lk_err err = { { 0 } };
	unsigned char *data = NULL;
	size_t len = 0;
	uint64_t stamp = 0, stamp2 = 0;

	ck_assert_msg(lk_policy_file_read(path, max, &data, &len, &stamp, &err) == LK_OK, "%s: %s",
	              path, err.msg);
	ck_assert_uint_eq(len, want_len);
	ck_assert_ptr_nonnull(data);
	ck_assert_msg(memcmp(data, want, want_len) == 0, "%s: other content", path);
	free(data);
	/* The stamp read returns is the stamp the file has. */
	ck_assert_msg(lk_policy_file_stamp(path, &stamp2, &err) == LK_OK, "%s", err.msg);
	ck_assert_uint_eq(stamp, stamp2);
}

/* A safe file in an unsafe directory is unsafe: whoever may write the
 * directory may swap the file for a link to another one. */
START_TEST(test_pf_unsafe_directory)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], link[PATH_MAX + 16], good[PATH_MAX + 16];

	pf_path("shared", dir, sizeof(dir));
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	write_file_mode(path, "anchor\n", 0644);
	expect_read_ok(path, 4096, "anchor\n", 7);
	/* Group-writable: refused, and the message names the directory. */
	ck_assert_int_eq(chmod(dir, 0775), 0);
	expect_read_refused(path, 4096, LK_EINVAL, dir, "0775");
	/* World-writable with the sticky bit but not root's: still refused
	 * (only a root-owned sticky directory such as /tmp is safe). */
	ck_assert_int_eq(chmod(dir, 01777), 0);
	if (geteuid() != 0)
		expect_read_refused(path, 4096, LK_EINVAL, dir, "1777");
	ck_assert_int_eq(chmod(dir, 0755), 0);
	expect_read_ok(path, 4096, "anchor\n", 7);
	/* A link from a safe place into the unsafe one: what counts is
	 * where the file really is. */
	pf_write("good.pem", "anchor\n", 7, 0644, good, sizeof(good));
	pf_path("link.pem", link, sizeof(link));
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(chmod(dir, 0757), 0);
	expect_read_refused(link, 4096, LK_EINVAL, dir, "0757");
	ck_assert_int_eq(chmod(dir, 0755), 0);
	/* The other way: a link in the unsafe directory to a safe file.
	 * Whoever may write that directory could point the name elsewhere
	 * (any root-owned bundle as anchors): refused too. */
	{
		char swapped[PATH_MAX + 32];
		snprintf(swapped, sizeof(swapped), "%s/swapped.pem", dir);
		ck_assert_int_eq(symlink(good, swapped), 0);
		expect_read_ok(swapped, 4096, "anchor\n", 7);
		ck_assert_int_eq(chmod(dir, 0775), 0);
		expect_read_refused(swapped, 4096, LK_EINVAL, dir, "0775");
		ck_assert_int_eq(chmod(dir, 0755), 0);
	}
}
END_TEST

START_TEST(test_pf_read)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
	char path[PATH_MAX + 64];

	pf_write("ca.pem", pem, sizeof(pem) - 1, 0644, path, sizeof(path));
	expect_read_ok(path, 4096, pem, sizeof(pem) - 1);
	pf_write("empty.pem", "", 0, 0600, path, sizeof(path));
	expect_read_ok(path, 4096, "", 0);
	pf_write("ro.pem", pem, sizeof(pem) - 1, 0444, path, sizeof(path));
	expect_read_ok(path, 4096, pem, sizeof(pem) - 1);
}
END_TEST

START_TEST(test_pf_relative_refused)
{
	static const char *const paths[] = { "ca.pem", "certs/ca.pem", "./ca.pem", "../ca.pem",
		                             "" };
	struct lk_err err = { { 0 } };
	uint64_t stamp;
	char **names;
	size_t n;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		expect_read_refused(paths[i], 4096, LK_EINVAL, paths[i], "absolute");
		ck_assert_int_eq(lk_policy_file_stamp(paths[i], &stamp, &err), LK_EINVAL);
		ck_assert_int_eq(lk_policy_dir_list(paths[i], &names, &n, &err), LK_EINVAL);
	}
	expect_read_refused(NULL, 4096, LK_EINVAL, "absolute", NULL);
}
END_TEST

START_TEST(test_pf_dotdot_refused)
{
	char path[PATH_MAX + 64], sub[PATH_MAX + 64], bad[4][PATH_MAX * 2];
	struct lk_err err = { { 0 } };
	uint64_t stamp;
	char **names;
	size_t n;

	/* The files exist, so only the '..' rule can refuse them. */
	pf_write("ca.pem", "x", 1, 0644, path, sizeof(path));
	pf_path("sub", sub, sizeof(sub));
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	snprintf(bad[0], sizeof(bad[0]), "%s/sub/../ca.pem", pdir);
	snprintf(bad[1], sizeof(bad[1]), "%s/../%s/ca.pem", pdir, strrchr(pdir, '/') + 1);
	snprintf(bad[2], sizeof(bad[2]), "/..%s/ca.pem", pdir);
	snprintf(bad[3], sizeof(bad[3]), "%s/sub/..", pdir);
	expect_read_refused("/a/../b", 4096, LK_EINVAL, "/a/../b", "'..'");
	for (size_t i = 0; i < 4; i++) {
		expect_read_refused(bad[i], 4096, LK_EINVAL, bad[i], "'..'");
		ck_assert_int_eq(lk_policy_file_stamp(bad[i], &stamp, &err), LK_EINVAL);
		ck_assert_int_eq(lk_policy_dir_list(bad[i], &names, &n, &err), LK_EINVAL);
	}
}
END_TEST

/* ".." inside a name is not a component: such files are read. */
START_TEST(test_pf_dots_in_names)
{
	char path[PATH_MAX + 64], dir[PATH_MAX + 64], inner[PATH_MAX * 2];

	pf_write("a..b.pem", "x", 1, 0644, path, sizeof(path));
	expect_read_ok(path, 16, "x", 1);
	pf_write("ca.pem..", "y", 1, 0644, path, sizeof(path));
	expect_read_ok(path, 16, "y", 1);
	pf_path("...", dir, sizeof(dir));
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(inner, sizeof(inner), "%s/..x", dir);
	int fd = open(inner, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "z", 1), 1);
	close(fd);
	expect_read_ok(inner, 16, "z", 1);
}
END_TEST

START_TEST(test_pf_not_regular_refused)
{
	char dir[PATH_MAX + 64], fifo[PATH_MAX + 64];
	struct lk_err err = { { 0 } };
	uint64_t stamp;

	pf_path("adir", dir, sizeof(dir));
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	expect_read_refused(dir, 4096, LK_EINVAL, dir, "not a regular file");
	ck_assert_int_eq(lk_policy_file_stamp(dir, &stamp, &err), LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, dir));
	/* A FIFO is refused, not waited on. */
	pf_path("fifo", fifo, sizeof(fifo));
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	expect_read_refused(fifo, 4096, LK_EINVAL, fifo, "not a regular file");
	expect_read_refused("/dev/null", 4096, LK_EINVAL, "/dev/null", "not a regular file");
}
END_TEST

START_TEST(test_pf_missing)
{
	char path[PATH_MAX + 64];

	pf_path("nope.pem", path, sizeof(path));
	expect_read_refused(path, 4096, LK_ENOTFOUND, path, NULL);
}
END_TEST

static const struct {
	mode_t mode;
	bool ok;
	const char *text;
} pf_modes[] = {
	{ 0600, true, "0600" },  { 0644, true, "0644" },  { 0444, true, "0444" },
	{ 0400, true, "0400" },  { 0664, false, "0664" }, { 0646, false, "0646" },
	{ 0666, false, "0666" }, { 0620, false, "0620" }, { 0602, false, "0602" },
	{ 0660, false, "0660" }, { 0606, false, "0606" },
};

/* Group- or world-writable trust anchors are refused, naming path and mode. */
START_TEST(test_pf_mode)
{
	char path[PATH_MAX + 64];
	struct lk_err err = { { 0 } };
	uint64_t stamp;

	pf_write("ca.pem", "data", 4, pf_modes[_i].mode, path, sizeof(path));
	if (pf_modes[_i].ok) {
		expect_read_ok(path, 4096, "data", 4);
		return;
	}
	expect_read_refused(path, 4096, LK_EINVAL, path, pf_modes[_i].text);
	ck_assert_int_eq(lk_policy_file_stamp(path, &stamp, &err), LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_ptr_nonnull(strstr(err.msg, pf_modes[_i].text));
}
END_TEST

/* Owned by neither root nor the daemon: refused (needs root to set up). */
START_TEST(test_pf_owner)
{
	char path[PATH_MAX + 64];

	pf_write("ca.pem", "data", 4, 0644, path, sizeof(path));
	expect_read_ok(path, 4096, "data", 4);
	if (geteuid() != 0)
		return; /* cannot give a file away; the owner==euid case ran above */
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	expect_read_refused(path, 4096, LK_EINVAL, path, "uid 65534");
}
END_TEST

START_TEST(test_pf_size)
{
	char path[PATH_MAX + 64], buf[100];
	int fd;

	memset(buf, 'q', sizeof(buf));
	pf_write("ca.pem", buf, sizeof(buf), 0644, path, sizeof(path));
	expect_read_ok(path, 100, buf, 100);
	expect_read_refused(path, 99, LK_EINVAL, path, "100 bytes");
	expect_read_refused(path, 99, LK_EINVAL, "at most 99", NULL);
	expect_read_refused(path, 0, LK_EINVAL, path, NULL);

	/* max_size never goes past LK_POLICY_FILE_MAX. */
	pf_path("big.pem", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)LK_POLICY_FILE_MAX + 1), 0);
	close(fd);
	expect_read_refused(path, SIZE_MAX, LK_EINVAL, path, "at most 16777216");
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)LK_POLICY_FILE_MAX), 0);
	close(fd);
	{
		struct lk_err err = { { 0 } };
		unsigned char *data = NULL;
		size_t len = 0;
		uint64_t stamp;

		ck_assert_msg(lk_policy_file_read(path, SIZE_MAX, &data, &len, &stamp, &err) ==
		                  LK_OK,
		              "%s", err.msg);
		ck_assert_uint_eq(len, LK_POLICY_FILE_MAX);
		free(data);
	}
}
END_TEST

/* A link is followed, and its target is what the rules judge. */
START_TEST(test_pf_symlink)
{
	char good[PATH_MAX + 64], bad[PATH_MAX + 64], link[PATH_MAX + 64];

	pf_write("real.pem", "anchor", 6, 0644, good, sizeof(good));
	pf_path("link.pem", link, sizeof(link));
	ck_assert_int_eq(symlink(good, link), 0);
	expect_read_ok(link, 4096, "anchor", 6);

	pf_write("open.pem", "evil", 4, 0666, bad, sizeof(bad));
	pf_path("link-open.pem", link, sizeof(link));
	ck_assert_int_eq(symlink(bad, link), 0);
	expect_read_refused(link, 4096, LK_EINVAL, link, "0666");

	pf_path("dangling.pem", link, sizeof(link));
	ck_assert_int_eq(symlink("/nonexistent/latchkey-ca.pem", link), 0);
	expect_read_refused(link, 4096, LK_ENOTFOUND, link, NULL);
}
END_TEST

static uint64_t stamp_of(const char *path)
{
	struct lk_err err = { { 0 } };
	uint64_t stamp = 0;

	ck_assert_msg(lk_policy_file_stamp(path, &stamp, &err) == LK_OK, "%s", err.msg);
	return stamp;
}

/* Plugins reload a CRL when its stamp moves: it must move on every rewrite
 * (also one that keeps the size) and stay put otherwise. */
START_TEST(test_pf_stamp)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 64];
	uint64_t s1, s2, s3;

	pf_write("crl.pem", "version-1", 9, 0644, path, sizeof(path));
	s1 = stamp_of(path);
	ck_assert_uint_eq(stamp_of(path), s1);
	expect_read_ok(path, 4096, "version-1", 9);
	ck_assert_uint_eq(stamp_of(path), s1);

	/* Rewritten in place, same size. */
	pf_write("crl.pem", "version-2", 9, 0644, path, sizeof(path));
	s2 = stamp_of(path);
	ck_assert_msg(s2 != s1, "stamp unchanged after rewriting the file");
	expect_read_ok(path, 4096, "version-2", 9);

	/* Replaced by rename, same size. */
	pf_write("crl.pem.tmp", "version-3", 9, 0644, tmp, sizeof(tmp));
	ck_assert_int_eq(rename(tmp, path), 0);
	s3 = stamp_of(path);
	ck_assert_msg(s3 != s2 && s3 != s1, "stamp unchanged after replacing the file");
	expect_read_ok(path, 4096, "version-3", 9);
}
END_TEST

START_TEST(test_pf_dir_list)
{
	char path[PATH_MAX + 64], sub[PATH_MAX + 64], link[PATH_MAX + 64];
	static const char *const want[] = { "a.pem", "b.pem", "c.crt", "link.pem", "z" };
	struct lk_err err = { { 0 } };
	char **names = NULL;
	size_t n = 0;

	pf_write("b.pem", "b", 1, 0644, path, sizeof(path));
	pf_write("z", "z", 1, 0644, path, sizeof(path));
	pf_write("c.crt", "c", 1, 0644, path, sizeof(path));
	pf_write("a.pem", "a", 1, 0644, path, sizeof(path));
	pf_write(".hidden.pem", "h", 1, 0644, path, sizeof(path));
	pf_path("sub", sub, sizeof(sub));
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	pf_write("sub/inner.pem", "i", 1, 0644, path, sizeof(path));
	pf_path("link.pem", link, sizeof(link));
	pf_path("a.pem", path, sizeof(path));
	ck_assert_int_eq(symlink(path, link), 0);
	pf_path("dirlink", link, sizeof(link));
	ck_assert_int_eq(symlink(sub, link), 0);

	ck_assert_msg(lk_policy_dir_list(pdir, &names, &n, &err) == LK_OK, "%s", err.msg);
	ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(names[i], want[i]);
	lk_policy_dir_free(names, n);
}
END_TEST

START_TEST(test_pf_dir_list_empty)
{
	struct lk_err err = { { 0 } };
	char **names = NULL;
	size_t n = 99;

	ck_assert_msg(lk_policy_dir_list(pdir, &names, &n, &err) == LK_OK, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	lk_policy_dir_free(names, n);
}
END_TEST

/* /etc/ssl/certs style directories hold links; one whose target is gone
 * must be skipped like any other non-file, not fail the whole listing. */
START_TEST(test_pf_dir_list_dangling_link)
{
	char path[PATH_MAX + 64], link[PATH_MAX + 64];
	struct lk_err err = { { 0 } };
	char **names = NULL;
	size_t n = 0;
	int r;

	pf_write("a.pem", "a", 1, 0644, path, sizeof(path));
	pf_write("b.pem", "b", 1, 0644, path, sizeof(path));
	pf_path("gone.pem", link, sizeof(link));
	ck_assert_int_eq(symlink("/nonexistent/latchkey-gone.pem", link), 0);

	r = lk_policy_dir_list(pdir, &names, &n, &err);
	ck_assert_msg(r == LK_OK, "listing with a dangling link: rc %d: %s", r, err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(names[0], "a.pem");
	ck_assert_str_eq(names[1], "b.pem");
	lk_policy_dir_free(names, n);
}
END_TEST

START_TEST(test_pf_dir_refused)
{
	char sub[PATH_MAX + 64], file[PATH_MAX + 64];
	static const struct {
		mode_t mode;
		const char *text;
	} modes[] = { { 0777, "0777" }, { 0775, "0775" }, { 01777, "1777" }, { 0757, "0757" } };
	struct lk_err err = { { 0 } };
	char **names = NULL;
	size_t n = 0;

	pf_path("anchors", sub, sizeof(sub));
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	pf_write("anchors/ca.pem", "x", 1, 0644, file, sizeof(file));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ck_assert_int_eq(chmod(sub, modes[i].mode), 0);
		memset(&err, 0, sizeof(err));
		ck_assert_int_eq(lk_policy_dir_list(sub, &names, &n, &err), LK_EINVAL);
		ck_assert_msg(strstr(err.msg, sub) != NULL && strstr(err.msg, modes[i].text),
		              "message does not name %s and %s: %s", sub, modes[i].text, err.msg);
	}
	ck_assert_int_eq(chmod(sub, 0755), 0);
	ck_assert_msg(lk_policy_dir_list(sub, &names, &n, &err) == LK_OK, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	lk_policy_dir_free(names, n);

	/* A file is not a directory. */
	ck_assert_int_lt(lk_policy_dir_list(file, &names, &n, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, file));
	ck_assert_msg(strcasestr(err.msg, "not a directory") != NULL, "%s", err.msg);
}
END_TEST

/* ---- the inventory ---------------------------------------------------- */

static struct tk_env e;

static void setup(void)
{
	tk_setup(&e);
}

static void teardown(void)
{
	tk_teardown(&e);
}

static void record(const struct lk_cert_info *info, const char *principal, const char *service,
                   int64_t now)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_store_begin(e.store, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_cert_record(e.store, info, principal, service, now, &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_msg(lk_store_commit(e.store, &err) == LK_OK, "%s", err.msg);
}

struct rows {
	size_t n, stop_after;
	struct lk_cert_row row[8];
};

static int collect(const struct lk_cert_row *row, void *ctx)
{
	struct rows *r = ctx;

	ck_assert_uint_lt(r->n, 8);
	r->row[r->n++] = *row;
	return r->stop_after != 0 && r->n >= r->stop_after ? 1 : 0;
}

static void list(int64_t bound, struct rows *out)
{
	struct lk_err err = { { 0 } };
	size_t stop = out->stop_after;

	memset(out, 0, sizeof(*out));
	out->stop_after = stop;
	ck_assert_msg(lk_cert_list(e.store, bound, collect, out, &err) == LK_OK, "%s", err.msg);
}

START_TEST(test_inventory_record_twice)
{
	struct lk_cert_info alice;
	struct rows r = { 0 };
	char sql[256];

	leaf_of("alice.pem", &alice);
	record(&alice, "alice", "ssh", TK_NOW);
	list(0, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.row[0].uses, 1);
	ck_assert_int_eq(r.row[0].first_seen, TK_NOW);
	ck_assert_int_eq(r.row[0].last_seen, TK_NOW);

	record(&alice, "alice", "vpn", TK_NOW + 100);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM certificate"), 1);
	list(0, &r);
	ck_assert_uint_eq(r.n, 1);
	assert_same_facts(&r.row[0].info, &alice);
	ck_assert_int_eq(r.row[0].uses, 2);
	ck_assert_int_eq(r.row[0].first_seen, TK_NOW);
	ck_assert_int_eq(r.row[0].last_seen, TK_NOW + 100);
	ck_assert_str_eq(r.row[0].last_service, "vpn");
	ck_assert_str_eq(r.row[0].principal, "alice");

	/* The table holds a pseudonym, never the name; one subject for alice. */
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM certificate c JOIN subject s ON s.subject_ref ="
	         " c.principal_ref WHERE c.principal_ref LIKE 'sub_%%' AND s.kind = 'owner'"
	         " AND s.name = 'alice' AND c.sha256 = '%s'",
	         alice.sha256);
	ck_assert_int_eq(tk_count(e.store->db, sql), 1);
	ck_assert_int_eq(
	    tk_count(e.store->db, "SELECT count(*) FROM certificate WHERE principal_ref = 'alice'"),
	    0);
	ck_assert_int_eq(tk_count(e.store->db, "SELECT count(*) FROM subject WHERE name = 'alice'"),
	                 1);
}
END_TEST

/* A key owner and a certificate principal of the same name are one subject
 * (one pseudonym), so erasing the person covers both. */
START_TEST(test_inventory_principal_is_key_owner)
{
	struct lk_cert_info bob;
	struct lk_key_info info;
	char key[LK_KEY_MAX_LEN + 1], kid[LK_KID_LEN + 1], sql[256];
	struct lk_err err = { { 0 } };
	long long subjects;

	tk_issue(&e, "bob", "test", "a", 30 * DAY, key, kid);
	ck_assert_msg(lk_key_get(e.store, kid, &info, &err) == LK_OK, "%s", err.msg);
	subjects = lk_store_count(e.store, "subject");
	leaf_of("bob.pem", &bob);
	record(&bob, "bob", "ssh", TK_NOW);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), subjects);
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM certificate WHERE principal_ref = '%s' AND sha256 = '%s'",
	         info.owner_ref, bob.sha256);
	ck_assert_int_eq(tk_count(e.store->db, sql), 1);
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_inventory_no_principal)
{
	struct lk_cert_info carol;
	struct rows r = { 0 };

	leaf_of("carol.pem", &carol);
	record(&carol, NULL, "web", TK_NOW);
	record(&carol, "", "web", TK_NOW + 1);
	list(0, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.row[0].principal, "");
	ck_assert_int_eq(r.row[0].uses, 2);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), 0);
}
END_TEST

/* certs.c: a principal that is "not a name subjects can have" is recorded
 * without one; no subject is made for it. */
START_TEST(test_inventory_invalid_principal)
{
	static const char *const bad[] = { "two words", "sub_0123456789abcdef" };
	struct lk_cert_info bob;
	struct rows r = { 0 };

	ck_assert(!lk_owner_name_valid(bad[_i]));
	leaf_of("bob.pem", &bob);
	record(&bob, bad[_i], "ssh", TK_NOW);
	list(0, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_msg(strcmp(r.row[0].principal, "") == 0,
	              "principal '%s' (not a valid owner name) was stored as a subject",
	              r.row[0].principal);
	ck_assert_int_eq(lk_store_count(e.store, "subject"), 0);
}
END_TEST

START_TEST(test_inventory_order_and_bound)
{
	struct lk_cert_info alice, bob, carol;
	struct rows r = { 0 };

	leaf_of("alice.pem", &alice); /* 30 days */
	leaf_of("bob.pem", &bob);     /* 10 days */
	leaf_of("carol.pem", &carol); /* 20 days */
	ck_assert_int_lt(bob.not_after, carol.not_after);
	ck_assert_int_lt(carol.not_after, alice.not_after);
	record(&alice, "alice", "ssh", TK_NOW);
	record(&bob, "bob", "ssh", TK_NOW);
	record(&carol, "carol", "ssh", TK_NOW);

	list(0, &r);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(r.row[0].info.sha256, bob.sha256);
	ck_assert_str_eq(r.row[1].info.sha256, carol.sha256);
	ck_assert_str_eq(r.row[2].info.sha256, alice.sha256);
	ck_assert_str_eq(r.row[0].principal, "bob");
	ck_assert_str_eq(r.row[1].principal, "carol");
	ck_assert_str_eq(r.row[2].principal, "alice");
	ck_assert_str_eq(r.row[2].info.subject, "CN=alice,O=Example");

	/* Expiring before carol's notAfter: bob only (strictly before). */
	list(carol.not_after, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.row[0].info.sha256, bob.sha256);
	list(carol.not_after + 1, &r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_str_eq(r.row[1].info.sha256, carol.sha256);
	list(bob.not_after, &r);
	ck_assert_uint_eq(r.n, 0);
	list(alice.not_after + 1, &r);
	ck_assert_uint_eq(r.n, 3);

	/* A callback that says stop is obeyed. */
	r.stop_after = 1;
	list(0, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.row[0].info.sha256, bob.sha256);
}
END_TEST

/* ---- certificate-bound keys ------------------------------------------- */

static const char *const scope_a[] = { "a" };

static void issue_bound(const char *owner, const char *cert, int64_t lifetime,
                        char key[LK_KEY_MAX_LEN + 1], struct lk_key_info *ret_info)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_issue(e.store, &e.rules,
	                           &(struct lk_issue_request){ .owner = owner,
	                                                       .env = "test",
	                                                       .scopes = scope_a,
	                                                       .n_scopes = 1,
	                                                       .lifetime = lifetime,
	                                                       .cert_sha256 = cert },
	                           TK_ACTOR, TK_NOW, key, ret_info, &err) == LK_OK,
	              "issue: %s", err.msg);
}

struct audit_copy {
	int n;
	char kid[64], action[64], reason[LK_REASON_MAX + 1], detail[1024];
};

static int copy_audit(const struct lk_audit_row *row, void *ctx)
{
	struct audit_copy *c = ctx;

	c->n++;
	snprintf(c->kid, sizeof(c->kid), "%s", row->kid ? row->kid : "");
	snprintf(c->action, sizeof(c->action), "%s", row->action ? row->action : "");
	snprintf(c->reason, sizeof(c->reason), "%s", row->reason ? row->reason : "");
	snprintf(c->detail, sizeof(c->detail), "%s", row->detail ? row->detail : "");
	return 0;
}

/* The newest audit row of action for kid; n counts all of them. */
static void find_audit(const char *action, const char *kid, struct audit_copy *out)
{
	struct lk_err err = { { 0 } };

	memset(out, 0, sizeof(*out));
	ck_assert_msg(lk_audit_query(e.store,
	                             &(struct lk_audit_filter){ .action = action, .kid = kid },
	                             copy_audit, out, &err) == LK_OK,
	              "%s", err.msg);
}

/* Runs key through lk_key_check (no writes) and lk_key_verify (one
 * key.verify row whose reason is the verdict), presenting cert (or none). */
#define EXPECT_VERDICT(key, cert, now, want) expect_verdict(__LINE__, (key), (cert), (now), (want))

static void expect_verdict(int line, const char *key, const char *cert, int64_t now,
                           enum lk_verdict want)
{
	struct lk_verify_request req = {
		.env = "test", .scopes = scope_a, .n_scopes = 1, .cert_sha256 = cert
	};
	struct lk_err err = { { 0 } };
	struct lk_verify_result res;
	struct tk_snapshot before;
	struct audit_copy row;
	int r;

	tk_snapshot(e.store, &before);
	r = lk_key_check(e.store, key, strlen(key), &req, now, &res, &err);
	ck_assert_msg(r == LK_OK, "line %d: check: %s", line, err.msg);
	ck_assert_msg(res.verdict == want, "line %d: check says %s, want %s", line,
	              lk_verdict_str(res.verdict), lk_verdict_str(want));
	tk_assert_unchanged(e.store, &before);

	r = lk_key_verify(e.store, key, strlen(key), &req, TK_ACTOR, now, &res, &err);
	ck_assert_msg(r == LK_OK, "line %d: verify: %s", line, err.msg);
	ck_assert_msg(res.verdict == want, "line %d: verify says %s, want %s", line,
	              lk_verdict_str(res.verdict), lk_verdict_str(want));
	ck_assert_int_eq(lk_store_count(e.store, "audit"), before.audit + 1);
	find_audit("key.verify", res.kid, &row);
	ck_assert_msg(strcmp(row.reason, lk_verdict_str(want)) == 0,
	              "line %d: audited '%s', want '%s'", line, row.reason, lk_verdict_str(want));
}

/* "Nothing changed": the shared snapshot plus a digest of every key and
 * inventory row (a binding is a column; row counts would not see it). */
struct snap {
	struct tk_snapshot base;
	unsigned char rows[32];
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
	crypto_generichash_init(&h, NULL, 0, sizeof(s->rows));
	digest_table(&h, "SELECT * FROM api_key ORDER BY kid");
	digest_table(&h, "SELECT * FROM certificate ORDER BY sha256");
	digest_table(&h, "SELECT * FROM subject ORDER BY subject_ref");
	crypto_generichash_final(&h, s->rows, sizeof(s->rows));
}

static void assert_unchanged(const struct snap *before)
{
	struct snap now;

	tk_assert_unchanged(e.store, &before->base);
	snap(&now);
	ck_assert_msg(memcmp(now.rows, before->rows, sizeof(now.rows)) == 0,
	              "key, certificate or subject rows changed");
}

static void bind_ok(const char *kid, const char *cert, const char *reason, int64_t now)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_bind(e.store, kid, cert, reason, TK_ACTOR, now, &err) == LK_OK, "%s",
	              err.msg);
}

START_TEST(test_bound_key_needs_its_cert)
{
	struct lk_cert_info alice, bob;
	struct lk_key_info info, got;
	struct audit_copy row;
	struct lk_err err = { { 0 } };
	char key[LK_KEY_MAX_LEN + 1], want[128];

	leaf_of("alice.pem", &alice);
	leaf_of("bob.pem", &bob);
	issue_bound("alice", alice.sha256, 30 * DAY, key, &info);
	ck_assert_str_eq(info.cert_sha256, alice.sha256);
	ck_assert_msg(lk_key_get(e.store, info.kid, &got, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(got.cert_sha256, alice.sha256);
	find_audit("key.issue", info.kid, &row);
	ck_assert_int_eq(row.n, 1);
	snprintf(want, sizeof(want), "cert=sha256:%s", alice.sha256);
	ck_assert_msg(strstr(row.detail, want) != NULL, "issue detail: %s", row.detail);

	EXPECT_VERDICT(key, NULL, TK_NOW + 1, LK_VERDICT_CERT_MISMATCH);
	EXPECT_VERDICT(key, bob.sha256, TK_NOW + 2, LK_VERDICT_CERT_MISMATCH);
	EXPECT_VERDICT(key, alice.sha256, TK_NOW + 3, LK_VERDICT_OK);
	ck_assert_str_eq(lk_verdict_str(LK_VERDICT_CERT_MISMATCH), "pin-mismatch");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_unbound_key_ignores_cert)
{
	struct lk_cert_info alice;
	struct lk_key_info info;
	char key[LK_KEY_MAX_LEN + 1];

	leaf_of("alice.pem", &alice);
	issue_bound("alice", NULL, 30 * DAY, key, &info);
	ck_assert_str_eq(info.cert_sha256, "");
	EXPECT_VERDICT(key, alice.sha256, TK_NOW, LK_VERDICT_OK);
	EXPECT_VERDICT(key, NULL, TK_NOW, LK_VERDICT_OK);
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* The pin is checked only for someone holding the secret, and the key's
 * scopes still apply with the right certificate. */
START_TEST(test_bound_key_verdict_order)
{
	struct lk_cert_info alice;
	struct lk_key_info info;
	struct lk_apikey k;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	static const char *const scope_b[] = { "b" };
	char key[LK_KEY_MAX_LEN + 1], forged[LK_KEY_MAX_LEN + 1];

	leaf_of("alice.pem", &alice);
	issue_bound("alice", alice.sha256, 30 * DAY, key, &info);
	ck_assert_int_eq(lk_apikey_parse(key, strlen(key), &k), LK_PARSE_OK);
	lk_base62_random(k.secret, LK_SECRET_LEN);
	ck_assert_int_eq(lk_apikey_format(&k, forged, sizeof(forged)), LK_OK);
	lk_apikey_wipe(&k);
	EXPECT_VERDICT(forged, NULL, TK_NOW, LK_VERDICT_BAD_SECRET);
	EXPECT_VERDICT(forged, alice.sha256, TK_NOW, LK_VERDICT_BAD_SECRET);

	ck_assert_int_eq(lk_key_check(e.store, key, strlen(key),
	                              &(struct lk_verify_request){ .scopes = scope_b,
	                                                           .n_scopes = 1,
	                                                           .cert_sha256 = alice.sha256 },
	                              TK_NOW, &res, &err),
	                 LK_OK);
	ck_assert_str_eq(lk_verdict_str(res.verdict), "scope-missing");
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_bind_rebind_unbind)
{
	struct lk_cert_info alice, bob;
	struct lk_key_info info, got;
	struct audit_copy row;
	struct lk_err err = { { 0 } };
	char key[LK_KEY_MAX_LEN + 1], want[256];
	long long audit;

	leaf_of("alice.pem", &alice);
	leaf_of("bob.pem", &bob);
	issue_bound("alice", NULL, 30 * DAY, key, &info);

	audit = lk_store_count(e.store, "audit");
	bind_ok(info.kid, alice.sha256, "laptop certificate", TK_NOW + 10);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), audit + 1);
	find_audit("key.bind", info.kid, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.reason, "laptop certificate");
	snprintf(want, sizeof(want), "cert=sha256:%s", alice.sha256);
	ck_assert_str_eq(row.detail, want);
	ck_assert_msg(lk_key_get(e.store, info.kid, &got, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(got.cert_sha256, alice.sha256);
	EXPECT_VERDICT(key, NULL, TK_NOW + 11, LK_VERDICT_CERT_MISMATCH);
	EXPECT_VERDICT(key, alice.sha256, TK_NOW + 11, LK_VERDICT_OK);

	/* Rebinding replaces the old pin at once. */
	bind_ok(info.kid, bob.sha256, "new laptop", TK_NOW + 20);
	find_audit("key.bind", info.kid, &row);
	ck_assert_int_eq(row.n, 2);
	snprintf(want, sizeof(want), "cert=sha256:%s previous=sha256:%s", bob.sha256, alice.sha256);
	ck_assert_str_eq(row.detail, want);
	EXPECT_VERDICT(key, alice.sha256, TK_NOW + 21, LK_VERDICT_CERT_MISMATCH);
	EXPECT_VERDICT(key, bob.sha256, TK_NOW + 21, LK_VERDICT_OK);

	/* Unbinding: the key works without a certificate again. */
	audit = lk_store_count(e.store, "audit");
	bind_ok(info.kid, NULL, "certificate retired", TK_NOW + 30);
	ck_assert_int_eq(lk_store_count(e.store, "audit"), audit + 1);
	find_audit("key.unbind", info.kid, &row);
	ck_assert_int_eq(row.n, 1);
	ck_assert_str_eq(row.reason, "certificate retired");
	snprintf(want, sizeof(want), "cert=none previous=sha256:%s", bob.sha256);
	ck_assert_str_eq(row.detail, want);
	ck_assert_msg(lk_key_get(e.store, info.kid, &got, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(got.cert_sha256, "");
	EXPECT_VERDICT(key, NULL, TK_NOW + 31, LK_VERDICT_OK);
	EXPECT_VERDICT(key, alice.sha256, TK_NOW + 31, LK_VERDICT_OK);
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_rotate_keeps_binding)
{
	struct lk_cert_info alice;
	struct lk_key_info info, next, got;
	struct audit_copy row;
	struct lk_err err = { { 0 } };
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1], want[128];

	leaf_of("alice.pem", &alice);
	issue_bound("alice", NULL, 30 * DAY, key, &info);
	bind_ok(info.kid, alice.sha256, "mtls rollout", TK_NOW);
	ck_assert_msg(lk_key_rotate(e.store, &e.rules, info.kid, false, TK_ACTOR, TK_NOW + 60, key2,
	                            &next, &err) == LK_OK,
	              "%s", err.msg);
	ck_assert_str_eq(next.cert_sha256, alice.sha256);
	ck_assert_msg(lk_key_get(e.store, next.kid, &got, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(got.cert_sha256, alice.sha256);
	find_audit("key.rotate", next.kid, &row);
	snprintf(want, sizeof(want), "cert=sha256:%s", alice.sha256);
	ck_assert_msg(strstr(row.detail, want) != NULL, "rotate detail: %s", row.detail);

	EXPECT_VERDICT(key2, NULL, TK_NOW + 61, LK_VERDICT_CERT_MISMATCH);
	EXPECT_VERDICT(key2, alice.sha256, TK_NOW + 61, LK_VERDICT_OK);
	/* The predecessor, in its grace period, keeps its pin too. */
	EXPECT_VERDICT(key, NULL, TK_NOW + 62, LK_VERDICT_CERT_MISMATCH);
	EXPECT_VERDICT(key, alice.sha256, TK_NOW + 62, LK_VERDICT_OK);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(key2, sizeof(key2));
}
END_TEST

/* The operator's path: openssl's fingerprint text, parsed, bound, and the
 * certificate itself (as lk_cert_leaf reads it) then opens the key. */
START_TEST(test_bind_from_openssl_fingerprint)
{
	struct lk_err err = { { 0 } };
	struct lk_cert_info leaf;
	struct lk_key_info info;
	char fp[256], hex[LK_CERT_SHA256_HEX + 1], key[LK_KEY_MAX_LEN + 1];

	issue_bound("alice", NULL, 30 * DAY, key, &info);
	openssl_field("alice.der", "-inform DER -fingerprint -sha256", fp, sizeof(fp));
	ck_assert_msg(lk_cert_fingerprint_parse(fp, hex, &err) == LK_OK, "%s", err.msg);
	bind_ok(info.kid, hex, "pinned", TK_NOW);
	leaf_of("chain.pem", &leaf);
	EXPECT_VERDICT(key, leaf.sha256, TK_NOW, LK_VERDICT_OK);
	leaf_of("ca.pem", &leaf);
	EXPECT_VERDICT(key, leaf.sha256, TK_NOW, LK_VERDICT_CERT_MISMATCH);
	sodium_memzero(key, sizeof(key));
}
END_TEST

enum bind_case {
	BC_UPPERCASE,
	BC_SHORT,
	BC_LONG,
	BC_COLONS,
	BC_PREFIX,
	BC_NOT_HEX,
	BC_REVOKED,
	BC_EXPIRED,
	BC_SAME_TWICE,
	BC_UNBIND_UNBOUND,
	BC_NO_REASON,
	BC_EMPTY_REASON,
	BC_BAD_KID,
	BC_NULL_KID,
	BC_UNKNOWN_KID,
	N_BIND_CASES
};

/* Every refusal of lk_key_bind: the right code, a message naming the bad
 * value, and nothing changed (rows, binding, audit chain). */
START_TEST(test_bind_refused)
{
	struct lk_cert_info alice;
	struct lk_key_info info, bound_info;
	struct lk_err err = { { 0 } };
	struct snap before;
	char key[LK_KEY_MAX_LEN + 1], key2[LK_KEY_MAX_LEN + 1], text[160], upper[65];
	const char *kid, *cert, *reason = "because", *needle, *bad_fp;
	int64_t now = TK_NOW + 10;
	int want, r;

	leaf_of("alice.pem", &alice);
	issue_bound("alice", NULL, 30 * DAY, key, &info);
	issue_bound("alice", alice.sha256, 30 * DAY, key2, &bound_info);
	kid = info.kid;
	cert = alice.sha256;
	want = LK_EINVAL;
	needle = bad_fp = NULL;
	for (size_t i = 0; i <= LK_CERT_SHA256_HEX; i++)
		upper[i] = (char)toupper((unsigned char)alice.sha256[i]);

	switch ((enum bind_case)_i) {
	case BC_UPPERCASE:
		cert = bad_fp = upper;
		break;
	case BC_SHORT:
		snprintf(text, sizeof(text), "%.63s", alice.sha256);
		cert = bad_fp = text;
		break;
	case BC_LONG:
		snprintf(text, sizeof(text), "%s0", alice.sha256);
		cert = bad_fp = text;
		break;
	case BC_COLONS:
		snprintf(text, sizeof(text), "%.2s:%.2s:%s", alice.sha256, alice.sha256 + 2,
		         alice.sha256 + 4);
		cert = bad_fp = text;
		break;
	case BC_PREFIX:
		snprintf(text, sizeof(text), "sha256:%s", alice.sha256);
		cert = bad_fp = text;
		break;
	case BC_NOT_HEX:
		snprintf(text, sizeof(text), "%.63sg", alice.sha256);
		cert = bad_fp = text;
		break;
	case BC_REVOKED:
		ck_assert(lk_key_revoke(e.store, kid, "leaked", TK_ACTOR, TK_NOW, &err) == LK_OK);
		want = LK_ESTATE;
		needle = kid;
		break;
	case BC_EXPIRED:
		now = info.expires;
		want = LK_ESTATE;
		needle = kid;
		break;
	case BC_SAME_TWICE:
		kid = bound_info.kid;
		want = LK_ESTATE;
		needle = kid;
		break;
	case BC_UNBIND_UNBOUND:
		cert = NULL;
		want = LK_ESTATE;
		needle = kid;
		break;
	case BC_NO_REASON:
		reason = NULL;
		needle = "reason";
		break;
	case BC_EMPTY_REASON:
		reason = "";
		needle = "reason";
		break;
	case BC_BAD_KID:
		kid = needle = "nope!";
		break;
	case BC_NULL_KID:
		kid = NULL;
		needle = "key id";
		break;
	case BC_UNKNOWN_KID:
		kid = needle = "AAAAAAAAAAAA";
		want = LK_ENOTFOUND;
		break;
	case N_BIND_CASES:
		break;
	}

	snap(&before);
	memset(&err, 0, sizeof(err));
	r = lk_key_bind(e.store, kid, cert, reason, TK_ACTOR, now, &err);
	ck_assert_msg(r == want, "case %d: rc %d (%s), want %d", _i, r, err.msg, want);
	ck_assert_msg(err.msg[0] != '\0', "case %d: no message", _i);
	if (bad_fp != NULL) {
		assert_names(err.msg, bad_fp, 70);
	} else if (needle != NULL) {
		ck_assert_msg(strstr(err.msg, needle) != NULL, "case %d: message lacks '%s': %s",
		              _i, needle, err.msg);
	}
	assert_unchanged(&before);

	/* And the keys still answer as before. */
	EXPECT_VERDICT(key2, alice.sha256, TK_NOW + 1, LK_VERDICT_OK);
	EXPECT_VERDICT(key2, NULL, TK_NOW + 1, LK_VERDICT_CERT_MISMATCH);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(key2, sizeof(key2));
}
END_TEST

/* A fingerprint in the wrong form at issue: refused, no key, no subject,
 * no audit row. */
START_TEST(test_issue_bad_fingerprint)
{
	struct lk_cert_info alice;
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	struct snap before;
	char upper[65], prefixed[80];
	const char *bad[] = { upper, prefixed, "abc", "" };
	int r;

	leaf_of("alice.pem", &alice);
	for (size_t i = 0; i <= LK_CERT_SHA256_HEX; i++)
		upper[i] = (char)toupper((unsigned char)alice.sha256[i]);
	snprintf(prefixed, sizeof(prefixed), "sha256:%.56s", alice.sha256);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char k[LK_KEY_MAX_LEN + 1];
		const char *text = bad[i];
		snap(&before);
		memset(&err, 0, sizeof(err));
		r = lk_key_issue(e.store, &e.rules,
		                 &(struct lk_issue_request){ .owner = "alice",
		                                             .env = "test",
		                                             .scopes = scope_a,
		                                             .n_scopes = 1,
		                                             .lifetime = 30 * DAY,
		                                             .cert_sha256 = text },
		                 TK_ACTOR, TK_NOW, k, &info, &err);
		ck_assert_msg(r == LK_EINVAL, "'%s': rc %d", text, r);
		assert_names(err.msg, text, 70);
		assert_unchanged(&before);
	}
}
END_TEST

/* A presented fingerprint in the wrong form is the caller's error: no
 * verdict, no audit row. */
START_TEST(test_verify_bad_fingerprint)
{
	struct lk_cert_info alice;
	struct lk_key_info info;
	struct lk_verify_result res;
	struct lk_err err = { { 0 } };
	struct snap before;
	char key[LK_KEY_MAX_LEN + 1], upper[65];
	struct lk_verify_request req = { .env = "test", .cert_sha256 = upper };

	leaf_of("alice.pem", &alice);
	issue_bound("alice", alice.sha256, 30 * DAY, key, &info);
	for (size_t i = 0; i <= LK_CERT_SHA256_HEX; i++)
		upper[i] = (char)toupper((unsigned char)alice.sha256[i]);
	snap(&before);
	ck_assert_int_eq(lk_key_check(e.store, key, strlen(key), &req, TK_NOW, &res, &err),
	                 LK_EINVAL);
	assert_names(err.msg, upper, 70);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(
	    lk_key_verify(e.store, key, strlen(key), &req, TK_ACTOR, TK_NOW, &res, &err),
	    LK_EINVAL);
	assert_names(err.msg, upper, 70);
	req.cert_sha256 = "short";
	ck_assert_int_eq(
	    lk_key_verify(e.store, key, strlen(key), &req, TK_ACTOR, TK_NOW, &res, &err),
	    LK_EINVAL);
	assert_names(err.msg, "short", 70);
	assert_unchanged(&before);
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* ---- the suite -------------------------------------------------------- */

Suite *certs_suite(void)
{
	Suite *s = suite_create("certs");
	TCase *tc;

	tc = tcase_create("leaf");
	tcase_add_test(tc, test_leaf_pem_matches_openssl);
	tcase_add_test(tc, test_leaf_self_signed);
	tcase_add_test(tc, test_leaf_der_same_as_pem);
	tcase_add_test(tc, test_leaf_chain_first_block);
	tcase_add_test(tc, test_leaf_sha256_matches);
	tcase_add_test(tc, test_leaf_marker_line_strict);
	tcase_add_test(tc, test_leaf_leading_whitespace);
	tcase_add_test(tc, test_leaf_validity_past_2050);
	tcase_add_test(tc, test_leaf_long_subject_cut);
	tcase_add_loop_test(tc, test_leaf_refused, 0, N_BAD_INPUT);
	tcase_add_test(tc, test_leaf_exactly_max);
	tcase_add_test(tc, test_leaf_private_key_first);
	suite_add_tcase(s, tc);

	tc = tcase_create("fingerprint");
	tcase_add_loop_test(tc, test_fp_good_forms, 0, (int)(sizeof(fp_good) / sizeof(fp_good[0])));
	tcase_add_loop_test(tc, test_fp_bad_forms, 0, (int)(sizeof(fp_bad) / sizeof(fp_bad[0])));
	tcase_add_test(tc, test_fp_null);
	tcase_add_test(tc, test_fp_openssl_output);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy_files");
	tcase_add_checked_fixture(tc, pf_setup, pf_teardown);
	tcase_add_test(tc, test_pf_read);
	tcase_add_test(tc, test_pf_unsafe_directory);
	tcase_add_test(tc, test_pf_relative_refused);
	tcase_add_test(tc, test_pf_dotdot_refused);
	tcase_add_test(tc, test_pf_dots_in_names);
	tcase_add_test(tc, test_pf_not_regular_refused);
	tcase_add_test(tc, test_pf_missing);
	tcase_add_loop_test(tc, test_pf_mode, 0, (int)(sizeof(pf_modes) / sizeof(pf_modes[0])));
	tcase_add_test(tc, test_pf_owner);
	tcase_add_test(tc, test_pf_size);
	tcase_add_test(tc, test_pf_symlink);
	tcase_add_test(tc, test_pf_stamp);
	tcase_add_test(tc, test_pf_dir_list);
	tcase_add_test(tc, test_pf_dir_list_empty);
	tcase_add_test(tc, test_pf_dir_list_dangling_link);
	tcase_add_test(tc, test_pf_dir_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("inventory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inventory_record_twice);
	tcase_add_test(tc, test_inventory_principal_is_key_owner);
	tcase_add_test(tc, test_inventory_no_principal);
	tcase_add_loop_test(tc, test_inventory_invalid_principal, 0, 2);
	tcase_add_test(tc, test_inventory_order_and_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("bound_keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bound_key_needs_its_cert);
	tcase_add_test(tc, test_unbound_key_ignores_cert);
	tcase_add_test(tc, test_bound_key_verdict_order);
	tcase_add_test(tc, test_bind_rebind_unbind);
	tcase_add_test(tc, test_rotate_keeps_binding);
	tcase_add_test(tc, test_bind_from_openssl_fingerprint);
	tcase_add_loop_test(tc, test_bind_refused, 0, N_BIND_CASES);
	tcase_add_test(tc, test_issue_bad_fingerprint);
	tcase_add_test(tc, test_verify_bad_fingerprint);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	int rc;

	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: the openssl command is needed to make test certificates\n");
		return 77;
	}
	snprintf(pki.dir, sizeof(pki.dir), "%s/latchkey-pki-XXXXXX",
	         getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(pki.dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", pki.dir, strerror(errno));
		return 99;
	}
	if (pki_make() < 0) {
		tk_rmrf(pki.dir);
		return 99; /* a hard error: the certificates could not be made */
	}
	rc = tk_run_suite(certs_suite());
	tk_rmrf(pki.dir);
	return rc;
}
