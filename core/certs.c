/* SPDX-License-Identifier: Apache-2.0 */
/* Client certificates: the leaf's facts and the inventory (certs-private.h). */
#include "config.h"

#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "certs-private.h"
#include "keys-private.h"
#include "subject-private.h"

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return INT64_MIN;
	return (int64_t)timegm(&tm);
}

static void name_text(const X509_NAME *name, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	out[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0) {
		size_t len = (size_t)n < outlen - 1 ? (size_t)n : outlen - 1;
		if ((size_t)n > len) {
			/* Cut, and say so, at a character boundary: what is
			 * left must still be UTF-8 (it goes into JSON). */
			len -= 3;
			while (len > 0 && ((unsigned char)p[len] & 0xc0) == 0x80)
				len--;
			memcpy(out, p, len);
			memcpy(out + len, "...", 4);
		} else {
			memcpy(out, p, len);
			out[len] = '\0';
		}
	}
	BIO_free(bio);
	/* Printed into terminals and audit text: no control bytes. */
	for (char *c = out; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* The checks every reading of a chain makes first, and where the PEM
 * starts (*ret_start; DER: the input is DER, *ret_der). */
static int input_check(const unsigned char *data, size_t len, size_t *ret_start, bool *ret_der,
                       struct lk_err *err)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	size_t i = 0, b;

	if (data == NULL || len == 0)
		return lk_err_set(err, LK_EINVAL, "no client certificate");
	if (len > LK_CERT_INPUT_MAX)
		return lk_err_set(err, LK_EINVAL,
		                  "client certificate input is %zu bytes; at most %d", len,
		                  LK_CERT_INPUT_MAX);
	*ret_der = data[0] == 0x30;
	if (*ret_der)
		return LK_OK;
	if (memchr(data, '\0', len) != NULL)
		return lk_err_set(err, LK_EINVAL, "client certificate input has a NUL byte");
	/* The leaf is the first block, and it must be the input's start
	 * (after white space): no text before it is taken on trust. */
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	b = i + sizeof(begin) - 1;
	/* The marker alone on its line: OpenSSL's reader skips a malformed
	 * first block and reads the next, and the leaf must be the first
	 * block whoever reads the chain. */
	if (len - i < sizeof(begin) - 1 || memcmp(data + i, begin, sizeof(begin) - 1) != 0 ||
	    !(b < len &&
	      (data[b] == '\n' || (data[b] == '\r' && b + 1 < len && data[b + 1] == '\n'))))
		return lk_err_set(err, LK_EINVAL,
		                  "client certificate input does not start with a PEM CERTIFICATE "
		                  "block");
	*ret_start = i;
	return LK_OK;
}

/* The first DER object's length in der (len bytes), or 0 if it is not one
 * well-formed SEQUENCE that fits. */
static size_t der_object_len(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	long body = 0;
	int tag = 0, cls = 0, r;

	if (len == 0 || len > LONG_MAX)
		return 0;
	r = ASN1_get_object(&p, &body, &tag, &cls, (long)len);
	if ((r & 0x80) != 0 || r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    cls != V_ASN1_UNIVERSAL || body < 0 || (size_t)(p - der) + (size_t)body > len)
		return 0;
	return (size_t)(p - der) + (size_t)body;
}

int lk_cert_leaf_sha256(const unsigned char *data, size_t len, char ret_hex[LK_CERT_SHA256_HEX + 1],
                        struct lk_err *err)
{
	static const char end[] = "-----END CERTIFICATE-----";
	unsigned char md[SHA256_DIGEST_LENGTH], *der = NULL;
	size_t start = 0, body, stop, der_len = 0, obj;
	const unsigned char *e;
	EVP_ENCODE_CTX *ctx = NULL;
	bool is_der;
	int n = 0, fin = 0, r;

	r = input_check(data, len, &start, &is_der, err);
	if (r < 0)
		return r;
	if (is_der) {
		obj = der_object_len(data, len);
		if (obj == 0)
			return lk_err_set(err, LK_EINVAL, "client certificate does not decode");
		SHA256(data, obj, md);
		goto hex;
	}
	body = start + strlen("-----BEGIN CERTIFICATE-----");
	e = memmem(data + body, len - body, end, sizeof(end) - 1);
	if (e == NULL)
		return lk_err_set(err, LK_EINVAL, "client certificate does not decode");
	stop = (size_t)(e - data);
	r = lk_err_set(err, LK_ENOMEM, "out of memory");
	der = malloc(stop - body + 4);
	ctx = EVP_ENCODE_CTX_new();
	if (der == NULL || ctx == NULL)
		goto out;
	r = lk_err_set(err, LK_EINVAL, "client certificate does not decode");
	EVP_DecodeInit(ctx);
	if (stop - body > INT_MAX ||
	    EVP_DecodeUpdate(ctx, der, &n, data + body, (int)(stop - body)) < 0 ||
	    EVP_DecodeFinal(ctx, der + n, &fin) < 0)
		goto out;
	der_len = (size_t)n + (size_t)fin;
	/* One whole certificate-shaped object, nothing after it. */
	if (der_object_len(der, der_len) != der_len || der_len == 0)
		goto out;
	SHA256(der, der_len, md);
	r = LK_OK;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	if (r < 0)
		return r;
hex:
	for (unsigned i = 0; i < sizeof(md); i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
	return LK_OK;
}

static int leaf_parse(const unsigned char *data, size_t len, X509 **ret_x, struct lk_err *err)
{
	size_t start = 0;
	X509 *x = NULL;
	bool is_der;
	int r;

	r = input_check(data, len, &start, &is_der, err);
	if (r < 0)
		return r;
	if (is_der) {
		const unsigned char *p = data;
		x = d2i_X509(NULL, &p, (long)len);
	} else {
		BIO *bio = BIO_new_mem_buf(data + start, (int)(len - start));
		if (bio == NULL)
			return lk_err_set(err, LK_ENOMEM, "out of memory");
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (x == NULL)
		return lk_err_set(err, LK_EINVAL, "client certificate does not decode");
	*ret_x = x;
	return LK_OK;
}

int lk_cert_leaf(const unsigned char *data, size_t len, struct lk_cert_info *ret_info,
                 struct lk_err *err)
{
	struct lk_cert_info info;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int r;

	memset(&info, 0, sizeof(info));
	r = leaf_parse(data, len, &x, err);
	if (r < 0)
		return r;
	r = lk_err_set(err, LK_ECRYPTO, "cannot hash the client certificate");
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		goto out;
	for (unsigned i = 0; i < 32; i++)
		snprintf(info.sha256 + 2 * i, 3, "%02x", md[i]);
	name_text(X509_get_subject_name(x), info.subject, sizeof(info.subject));
	name_text(X509_get_issuer_name(x), info.issuer, sizeof(info.issuer));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn != NULL && (hex = BN_bn2hex(bn)) != NULL)
		snprintf(info.serial, sizeof(info.serial), "%s", hex);
	info.not_before = asn1_time_unix(X509_get0_notBefore(x));
	info.not_after = asn1_time_unix(X509_get0_notAfter(x));
	r = lk_err_set(err, LK_EINVAL, "client certificate has an unreadable validity period");
	if (info.not_before == INT64_MIN || info.not_after == INT64_MIN)
		goto out;
	*ret_info = info;
	r = LK_OK;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	return r;
}

int lk_cert_fingerprint_parse(const char *text, char ret_hex[LK_CERT_SHA256_HEX + 1],
                              struct lk_err *err)
{
	char hex[LK_CERT_SHA256_HEX + 1];
	size_t n = 0;
	const char *p = text;

	if (p != NULL && strncasecmp(p, "sha256:", 7) == 0)
		p += 7;
	for (; p != NULL && *p != '\0'; p++) {
		char c = *p;
		if (c == ':' && n > 0 && n % 2 == 0 && p[1] != '\0' && p[1] != ':')
			continue;
		if (n == LK_CERT_SHA256_HEX ||
		    !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			break;
		hex[n++] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
	}
	if (p == NULL || *p != '\0' || n != LK_CERT_SHA256_HEX)
		return lk_err_set(err, LK_EINVAL,
		                  "bad certificate fingerprint '%.100s' (SHA-256: 64 hex digits, "
		                  "colons allowed)",
		                  text != NULL ? text : "");
	hex[n] = '\0';
	memcpy(ret_hex, hex, sizeof(hex));
	return LK_OK;
}

/* The principal's pseudonym (made if new), or "" for a name no subject
 * can have: the row is then recorded without one (a mapping rule's
 * capture is checked by the plugin, but not trusted here). Principals go
 * by pseudonym, like every other row: an erasure of the subject leaves the
 * certificate's facts but not who held it. */
static int principal_ref(struct lk_store *store, const char *principal, int64_t now,
                         char ret_ref[LK_SUBJECT_REF_LEN + 1], struct lk_err *err)
{
	ret_ref[0] = '\0';
	if (principal == NULL || !lk_owner_name_valid(principal))
		return LK_OK;
	return lk_subject_ref(store, "owner", principal, true, now, ret_ref, err);
}

static const char sql_record[] =
    "INSERT INTO certificate (sha256, subject, issuer, serial, not_before, not_after,"
    "  principal_ref, first_seen, last_seen, last_service, uses)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, 1)"
    " ON CONFLICT (sha256) DO UPDATE SET last_seen = ?8, last_service = ?9,"
    "  principal_ref = coalesce(?7, principal_ref), uses = uses + 1";

int lk_cert_record(struct lk_store *store, const struct lk_cert_info *info, const char *principal,
                   const char *service, int64_t now, struct lk_err *err)
{
	char ref[LK_SUBJECT_REF_LEN + 1] = "";
	sqlite3_stmt *st;
	int r;

	if ((r = principal_ref(store, principal, now, ref, err)) < 0)
		return r;
	st = lk_store_stmt(store, sql_record, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, info->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, info->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, info->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, info->serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, info->not_before);
	sqlite3_bind_int64(st, 6, info->not_after);
	if (ref[0] != '\0')
		sqlite3_bind_text(st, 7, ref, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_text(st, 9, service, -1, SQLITE_STATIC);
	return lk_store_exec_stmt(store, st, "recording a client certificate", err);
}

static const char sql_list[] =
    "SELECT sha256, subject, issuer, serial, not_before, not_after, principal_ref, first_seen,"
    "  last_seen, last_service, uses FROM certificate"
    " WHERE ?1 = 0 OR not_after < ?1 ORDER BY not_after, sha256";

static void column_text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
}

/* One inventory row (the columns of sql_list and sql_find, in order);
 * the principal's pseudonym into ref, the name left for the caller. */
static void read_row(sqlite3_stmt *st, struct lk_cert_row *row, char ref[LK_SUBJECT_REF_LEN + 1])
{
	memset(row, 0, sizeof(*row));
	column_text(st, 0, row->info.sha256, sizeof(row->info.sha256));
	column_text(st, 1, row->info.subject, sizeof(row->info.subject));
	column_text(st, 2, row->info.issuer, sizeof(row->info.issuer));
	column_text(st, 3, row->info.serial, sizeof(row->info.serial));
	row->info.not_before = sqlite3_column_int64(st, 4);
	row->info.not_after = sqlite3_column_int64(st, 5);
	column_text(st, 6, ref, LK_SUBJECT_REF_LEN + 1);
	row->first_seen = sqlite3_column_int64(st, 7);
	row->last_seen = sqlite3_column_int64(st, 8);
	column_text(st, 9, row->last_service, sizeof(row->last_service));
	row->uses = sqlite3_column_int64(st, 10);
}

int lk_cert_list(struct lk_store *store, int64_t not_after_before,
                 int (*cb)(const struct lk_cert_row *row, void *ctx), void *ctx, struct lk_err *err)
{
	sqlite3_stmt *st;
	int r = LK_OK, rc;

	st = lk_store_stmt(store, sql_list, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_int64(st, 1, not_after_before);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct lk_cert_row row;
		char ref[LK_SUBJECT_REF_LEN + 1];
		read_row(st, &row, ref);
		if (ref[0] != '\0' && (r = lk_subject_name(store, ref, row.principal,
		                                           sizeof(row.principal), err)) < 0)
			break;
		if (cb(&row, ctx) != 0)
			break;
	}
	if (r == LK_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = lk_store_error(store, rc, "listing certificates", err);
	sqlite3_reset(st);
	return r;
}

bool lk_cert_credential_valid(const char *credential)
{
	return credential != NULL && strlen(credential) == LK_CERT_CREDENTIAL_HEX &&
	       strspn(credential, "0123456789abcdef") == LK_CERT_CREDENTIAL_HEX;
}

static const char sql_find[] =
    "SELECT sha256, subject, issuer, serial, not_before, not_after, principal_ref, first_seen,"
    "  last_seen, last_service, uses FROM certificate"
    " WHERE sha256 >= ?1 AND sha256 < ?1 || 'g' AND principal_ref = ?2"
    " ORDER BY not_after DESC LIMIT 1";

int lk_cert_find(struct lk_store *store, const char *credential, const char *principal,
                 struct lk_cert_row *ret_row, struct lk_err *err)
{
	char ref[LK_SUBJECT_REF_LEN + 1];
	sqlite3_stmt *st;
	int r, rc;

	if (!lk_cert_credential_valid(credential))
		return lk_err_set(err, LK_EINVAL, "bad certificate credential '%.40s'",
		                  credential ? credential : "");
	r = lk_subject_ref(store, "owner", principal, false, 0, ref, err);
	if (r == LK_ENOTFOUND || r == LK_EINVAL)
		return lk_err_set(err, LK_ENOTFOUND, "no certificate %s for that principal",
		                  credential);
	if (r < 0)
		return r;
	st = lk_store_stmt(store, sql_find, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, credential, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		char row_ref[LK_SUBJECT_REF_LEN + 1];
		read_row(st, ret_row, row_ref);
		snprintf(ret_row->principal, sizeof(ret_row->principal), "%s", principal);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return lk_err_set(err, LK_ENOTFOUND, "no certificate %s for that principal",
		                  credential);
	if (rc != SQLITE_ROW)
		return lk_store_error(store, rc, "looking up a certificate", err);
	return LK_OK;
}

static const char sql_seen[] =
    "UPDATE certificate SET last_seen = ?2, last_service = ?3,"
    "  principal_ref = coalesce(?4, principal_ref), uses = uses + 1 WHERE sha256 = ?1";

int lk_cert_seen(struct lk_store *store, const char *sha256, const char *principal,
                 const char *service, int64_t now, bool *ret_found, struct lk_err *err)
{
	char ref[LK_SUBJECT_REF_LEN + 1] = "";
	sqlite3_stmt *st;
	int r;

	if ((r = principal_ref(store, principal, now, ref, err)) < 0)
		return r;
	st = lk_store_stmt(store, sql_seen, err);
	if (st == NULL)
		return LK_ESTORE;
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, service, -1, SQLITE_STATIC);
	if (ref[0] != '\0')
		sqlite3_bind_text(st, 4, ref, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	r = lk_store_exec_stmt(store, st, "recording a client certificate", err);
	if (r < 0)
		return r;
	*ret_found = sqlite3_changes(store->db) > 0;
	return LK_OK;
}
