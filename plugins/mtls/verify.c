/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chain verification (OpenSSL's X509_verify_cert) and the policy checks
 * OpenSSL does not make the way a policy states them.
 *
 * Time: OpenSSL compares validity dates without any tolerance, and with
 * the wall clock unless told otherwise. The engine's clock is the one that
 * counts (tests and audit rows agree on "now"), and skew= gives a
 * tolerance, so OpenSSL is told not to check times at all
 * (X509_V_FLAG_NO_CHECK_TIME, which also skips CRL dates) and this file
 * checks every certificate of the built chain and every CRL itself:
 *   not yet valid:  now < notBefore - skew
 *   expired:        now > notAfter + skew      (notAfter is inclusive)
 *   CRL stale:      now - thisUpdate > crl-max-age, thisUpdate > now + skew,
 *                   or now > nextUpdate + skew
 * Only fresh CRLs go into the verification store, so an issuer whose only
 * CRL is stale has none ("unable to get CRL": crl-stale). A certificate a
 * stale CRL lists is still revoked: revocation is not undone by age.
 *
 * crl-soft-fail lets through what a stale CRL, or none for an issuer,
 * leaves unchecked. A crl= file that cannot be used at all (missing,
 * refused by the host, too large, not CRLs that parse) is a mistake in the
 * setup, and which revocations it would list is unknown: crl-stale, hard.
 *
 * Trust anchors are whatever ca= and ca-dir= hold, intermediates included
 * (X509_V_FLAG_PARTIAL_CHAIN): the administrator named them as trusted.
 *
 * A pass also says for how long it holds (the verdict's window): time is
 * the only input of a verification besides the chain, the arguments and
 * the trust files, and it counts only through the checks above, so the
 * window is where each of them comes out as it did: every certificate of
 * the built chain (or the pinned leaf) within its dates and skew, and
 * every CRL as fresh, or as stale, as it was (only fresh CRLs go into the
 * store; stale ones are still searched for revocations). OpenSSL itself is
 * told not to look at time, so its chain building does not either.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "mtls-private.h"

/* What the verify callback saw. */
struct vstate {
	bool crl_stale;
	int crl_error;
	int crl_depth;
};

int mtls_asn1_time(const ASN1_TIME *t, int64_t *ret_unix)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	*ret_unix = (int64_t)timegm(&tm);
	return 0;
}

static void deny(struct mtls_verdict *v, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void deny(struct mtls_verdict *v, const char *reason, const char *fmt, ...)
{
	va_list ap;

	v->reason = reason;
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
}

/* Errors that mean "revocation could not be checked", not "bad chain". */
static bool crl_unusable(int err)
{
	return err == X509_V_ERR_UNABLE_TO_GET_CRL || err == X509_V_ERR_CRL_HAS_EXPIRED ||
	       err == X509_V_ERR_CRL_NOT_YET_VALID || err == X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER;
}

static const char *reason_of(int err)
{
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
		return "unknown-ca";
	case X509_V_ERR_CERT_REVOKED:
		return "revoked";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "not-yet-valid";
	case X509_V_ERR_INVALID_PURPOSE:
		return "bad-eku";
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return "path-too-long";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return "bad-signature";
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
		return "weak-key";
	case X509_V_ERR_CA_MD_TOO_WEAK:
		return "bad-signature-algorithm";
	default:
		return crl_unusable(err) ? "crl-stale" : "bad-chain";
	}
}

/* Lets verification go on past a CRL that cannot be used, so that what
 * else is wrong (a revoked certificate higher up, a bad EKU) still shows;
 * the caller turns crl_stale into crl-stale or soft-fail. Every other
 * error stops verification. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	struct vstate *vs = X509_STORE_CTX_get_app_data(ctx);
	int err = X509_STORE_CTX_get_error(ctx);

	if (ok)
		return 1;
	if (vs != NULL && crl_unusable(err)) {
		if (!vs->crl_stale) {
			vs->crl_error = err;
			vs->crl_depth = X509_STORE_CTX_get_error_depth(ctx);
		}
		vs->crl_stale = true;
		return 1;
	}
	return 0;
}

/* NULL if crl may be used now, else why not. A date that does not
 * convert is as bad as a date outside the window. */
static const char *crl_stale_why(const struct mtls_conf *c, const X509_CRL *crl, int64_t now)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	int64_t this_update, next_update;

	if (mtls_asn1_time(X509_CRL_get0_lastUpdate(crl), &this_update) < 0)
		return "unreadable thisUpdate";
	if (this_update > now + c->skew)
		return "thisUpdate in the future";
	if (now - this_update > c->crl_max_age)
		return "thisUpdate older than crl-max-age";
	if (next != NULL && mtls_asn1_time(next, &next_update) < 0)
		return "unreadable nextUpdate";
	if (next != NULL && now > next_update + c->skew)
		return "nextUpdate passed";
	return NULL;
}

static bool crl_fresh(const struct mtls_conf *c, const X509_CRL *crl, int64_t now)
{
	return crl_stale_why(c, crl, now) == NULL;
}

/* ---- the window of a pass -------------------------------------------- */

static void narrow(struct mtls_verdict *v, int64_t from, int64_t until)
{
	if (from > v->valid_from)
		v->valid_from = from;
	if (until < v->valid_until)
		v->valid_until = until;
}

/* x passes check_times exactly over [notBefore - skew, notAfter + skew]. */
static void narrow_cert(const struct mtls_conf *c, X509 *x, struct mtls_verdict *v)
{
	int64_t not_before, not_after;

	if (mtls_asn1_time(X509_get0_notBefore(x), &not_before) < 0 ||
	    mtls_asn1_time(X509_get0_notAfter(x), &not_after) < 0) {
		narrow(v, 0, 0); /* not reached: check_times refused it */
		return;
	}
	narrow(v, not_before - c->skew, not_after + c->skew + 1);
}

/* crl is fresh exactly over [lo, hi] (crl_stale_why): lo = thisUpdate -
 * skew, hi = the earlier of thisUpdate + crl-max-age and nextUpdate + skew.
 * The window keeps it on the side of lo and hi it is on now. */
static void narrow_crl(const struct mtls_conf *c, const X509_CRL *crl, int64_t now,
                       struct mtls_verdict *v)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	int64_t this_update, next_update, lo, hi;

	if (mtls_asn1_time(X509_CRL_get0_lastUpdate(crl), &this_update) < 0 ||
	    (next != NULL && mtls_asn1_time(next, &next_update) < 0)) {
		narrow(v, 0, 0); /* not reached: trust.c refused it */
		return;
	}
	lo = this_update - c->skew;
	hi = this_update + c->crl_max_age;
	if (next != NULL && next_update + c->skew < hi)
		hi = next_update + c->skew;
	if (now < lo)
		narrow(v, INT64_MIN, lo); /* not yet fresh */
	else if (now > hi)
		narrow(v, hi + 1, INT64_MAX); /* stale, and stays so */
	else
		narrow(v, lo, hi + 1);
}

/* A pass at now, with the window over which the certificates checked (the
 * built chain, or the pinned leaf alone) and every CRL of t keep the
 * outcome they have at now. */
static void pass(const struct mtls_conf *c, const struct mtls_trust *t, STACK_OF(X509) * built,
                 X509 *leaf, int64_t now, struct mtls_verdict *v)
{
	v->reason = NULL; /* every check passed */
	v->detail[0] = '\0';
	v->valid_from = INT64_MIN;
	v->valid_until = INT64_MAX;
	if (built == NULL)
		narrow_cert(c, leaf, v);
	for (int i = 0; built != NULL && i < sk_X509_num(built); i++)
		narrow_cert(c, sk_X509_value(built, i), v);
	for (int i = 0; t != NULL && i < sk_X509_CRL_num(t->crls); i++)
		narrow_crl(c, sk_X509_CRL_value(t->crls, i), now, v);
	if (v->valid_from > now || v->valid_until <= now)
		v->valid_from = v->valid_until = 0; /* not reached */
}

/* Why the first stale CRL is stale, for the log line; "" if none is. */
static const char *stale_note(const struct mtls_conf *c, const struct mtls_trust *t, int64_t now)
{
	for (int i = 0; i < sk_X509_CRL_num(t->crls); i++) {
		const char *why = crl_stale_why(c, sk_X509_CRL_value(t->crls, i), now);
		if (why != NULL)
			return why;
	}
	return "";
}

/* The store for one verification: every anchor, the fresh CRLs. */
static X509_STORE *make_store(const struct mtls_conf *c, const struct mtls_trust *t, int64_t now)
{
	X509_STORE *store = X509_STORE_new();

	if (store == NULL)
		return NULL;
	for (int i = 0; i < sk_X509_num(t->anchors); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(t->anchors, i)))
			goto fail;
	for (int i = 0; i < sk_X509_CRL_num(t->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(t->crls, i);
		if (crl_fresh(c, crl, now) && !X509_STORE_add_crl(store, crl))
			goto fail;
	}
	return store;
fail:
	X509_STORE_free(store);
	return NULL;
}

/* Whether a stale CRL of x's issuer lists x. issuer: x's issuer in the
 * built chain, whose key must have signed the CRL. */
static bool revoked_by_stale(const struct mtls_conf *c, const struct mtls_trust *t, X509 *x,
                             X509 *issuer, int64_t now)
{
	EVP_PKEY *pk = X509_get0_pubkey(issuer);

	for (int i = 0; pk != NULL && i < sk_X509_CRL_num(t->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(t->crls, i);
		X509_REVOKED *rev = NULL;
		if (crl_fresh(c, crl, now) ||
		    X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(x)) != 0 ||
		    X509_CRL_verify(crl, pk) != 1)
			continue;
		if (X509_CRL_get0_by_cert(crl, &rev, x) == 1)
			return true;
	}
	return false;
}

static int check_times(const struct mtls_conf *c, X509 *x, int depth, int64_t now,
                       struct mtls_verdict *v)
{
	int64_t not_before, not_after;

	if (mtls_asn1_time(X509_get0_notBefore(x), &not_before) < 0 ||
	    mtls_asn1_time(X509_get0_notAfter(x), &not_after) < 0) {
		deny(v, "bad-chain", "unreadable validity dates at depth %d", depth);
		return -1;
	}
	if (now < not_before - c->skew) {
		deny(v, "not-yet-valid", "valid from %lld, now %lld, skew %llds at depth %d",
		     (long long)not_before, (long long)now, (long long)c->skew, depth);
		return -1;
	}
	if (now > not_after + c->skew) {
		deny(v, "expired", "valid until %lld, now %lld, skew %llds at depth %d",
		     (long long)not_after, (long long)now, (long long)c->skew, depth);
		return -1;
	}
	return 0;
}

/* RSA and EC keys by size; EdDSA keys are fixed-strength (Ed25519 about
 * P-256's, Ed448 more) and always pass; any other kind of key fails. */
static int check_key(const struct mtls_conf *c, X509 *x, int depth, struct mtls_verdict *v)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int type = pk != NULL ? EVP_PKEY_get_base_id(pk) : NID_undef;
	int bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;

	if (type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448)
		return 0;
	if ((type == EVP_PKEY_RSA || type == EVP_PKEY_RSA_PSS) && bits >= c->min_rsa_bits)
		return 0;
	if (type == EVP_PKEY_EC && bits >= c->min_ec_bits)
		return 0;
	deny(v, "weak-key", "%s key of %d bits at depth %d (min-rsa-bits %d, min-ec-bits %d)",
	     pk != NULL ? OBJ_nid2sn(type) : "no", bits, depth, c->min_rsa_bits, c->min_ec_bits);
	return -1;
}

static unsigned sig_alg_bit(int md_nid, int pk_nid)
{
	if (pk_nid == NID_ED25519)
		return MTLS_SIG_ED25519;
	if (pk_nid == NID_ED448)
		return MTLS_SIG_ED448;
	switch (md_nid) {
	case NID_sha256:
		return MTLS_SIG_SHA256;
	case NID_sha384:
		return MTLS_SIG_SHA384;
	case NID_sha512:
		return MTLS_SIG_SHA512;
	default:
		return 0; /* SHA-1, MD5, anything else: never */
	}
}

static int check_sig_alg(const struct mtls_conf *c, X509 *x, int depth, struct mtls_verdict *v)
{
	int md_nid = NID_undef, pk_nid = NID_undef;

	if (X509_get_signature_info(x, &md_nid, &pk_nid, NULL, NULL) &&
	    (sig_alg_bit(md_nid, pk_nid) & c->sig_algs) != 0)
		return 0;
	deny(v, "bad-signature-algorithm", "signed with %s/%s at depth %d",
	     md_nid != NID_undef ? OBJ_nid2sn(md_nid) : "-",
	     pk_nid != NID_undef ? OBJ_nid2sn(pk_nid) : "-", depth);
	return -1;
}

/*
 * The leaf must say it is for TLS clients. A certificate without an
 * extendedKeyUsage extension is, by RFC 5280, good for any purpose; it is
 * refused all the same, because its CA never said it meant it for client
 * logins (a server or code-signing certificate with no EKU would pass
 * otherwise). OpenSSL's SSL-client purpose also checks keyUsage and
 * Netscape types.
 */
static int check_eku(X509 *leaf, struct mtls_verdict *v)
{
	uint32_t flags = X509_get_extension_flags(leaf);

	if ((flags & EXFLAG_XKUSAGE) == 0) {
		deny(v, "bad-eku", "no extendedKeyUsage (clientAuth is required)");
		return -1;
	}
	if ((X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) == 0 ||
	    X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
		deny(v, "bad-eku", "not for TLS client authentication");
		return -1;
	}
	return 0;
}

/* The checks OpenSSL leaves to us, on the built chain (anchor last). */
static int check_chain(const struct mtls_conf *c, const struct mtls_trust *t,
                       STACK_OF(X509) * built, int64_t now, struct mtls_verdict *v)
{
	int n = sk_X509_num(built);
	int last_crl = !c->have_crl ? -1 : c->crl_chain ? n - 2 : 0;

	for (int i = 0; i <= last_crl && i + 1 < n; i++) {
		if (revoked_by_stale(c, t, sk_X509_value(built, i), sk_X509_value(built, i + 1),
		                     now)) {
			deny(v, "revoked", "listed in a stale CRL at depth %d", i);
			return -1;
		}
	}
	for (int i = 0; i < n; i++)
		if (check_times(c, sk_X509_value(built, i), i, now, v) < 0)
			return -1;
	if (check_eku(sk_X509_value(built, 0), v) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (check_key(c, sk_X509_value(built, i), i, v) < 0)
			return -1;
	/* The anchor's own signature proves nothing: it is trusted as is. */
	for (int i = 0; i < n - 1; i++)
		if (check_sig_alg(c, sk_X509_value(built, i), i, v) < 0)
			return -1;
	return 0;
}

static int verify_ca(const struct mtls_conf *c, const struct mtls_trust *t, STACK_OF(X509) * chain,
                     int64_t now, struct mtls_verdict *v)
{
	struct vstate vs = { 0 };
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509_VERIFY_PARAM *param;
	unsigned long flags = X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN;
	int r = -1, ok, err;

	if (c->have_crl)
		flags |= X509_V_FLAG_CRL_CHECK | (c->crl_chain ? X509_V_FLAG_CRL_CHECK_ALL : 0);
	store = make_store(c, t, now);
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_dup(chain);
	if (store == NULL || ctx == NULL || untrusted == NULL)
		goto out;
	(void)sk_X509_shift(untrusted); /* the leaf */
	if (!X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT))
		goto out;
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, flags);
	X509_VERIFY_PARAM_set_depth(param, c->max_depth);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	X509_STORE_CTX_set_app_data(ctx, &vs);
	ok = X509_verify_cert(ctx);
	if (ok < 0)
		goto out;
	r = 0;
	if (ok == 0) {
		err = X509_STORE_CTX_get_error(ctx);
		deny(v, reason_of(err), "%s at depth %d", X509_verify_cert_error_string(err),
		     X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	if (check_chain(c, t, X509_STORE_CTX_get0_chain(ctx), now, v) < 0)
		goto out;
	if (t->crl_unreadable) {
		deny(v, "crl-stale",
		     "crl=%.100s cannot be used (crl-soft-fail does not cover that)",
		     t->crl_unreadable_path);
		goto out;
	}
	pass(c, t, X509_STORE_CTX_get0_chain(ctx), NULL, now, v);
	if (vs.crl_stale) {
		v->crl_stale = true;
		snprintf(v->detail, sizeof(v->detail), "%s at depth %d%s%s",
		         X509_verify_cert_error_string(vs.crl_error), vs.crl_depth,
		         stale_note(c, t, now)[0] != '\0' ? "; a CRL is stale: " : "",
		         stale_note(c, t, now));
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
	ERR_clear_error();
	return r;
}

/* Pin-only: the pin is the trust, and only the leaf is looked at (any
 * intermediates sent along mean nothing here). */
static void verify_pinned(const struct mtls_conf *c, X509 *leaf, bool pinned, int64_t now,
                          struct mtls_verdict *v)
{
	/* "unknown-ca" rather than "pin-mismatch": without ca= the pins are
	 * the trust anchors, and this certificate is not among them, exactly
	 * as a certificate from a CA the policy does not list. pin-mismatch
	 * means a trusted certificate that maps to a pinned principal. */
	if (!pinned) {
		deny(v, "unknown-ca", "leaf is not pinned (pin-only mode)");
		return;
	}
	if (check_times(c, leaf, 0, now, v) < 0 || check_eku(leaf, v) < 0 ||
	    check_key(c, leaf, 0, v) < 0 || check_sig_alg(c, leaf, 0, v) < 0)
		return;
	pass(c, NULL, NULL, leaf, now, v);
}

int mtls_verify(const struct mtls_conf *conf, const struct mtls_trust *trust,
                STACK_OF(X509) * chain, bool pinned, int64_t now, struct mtls_verdict *verdict)
{
	memset(verdict, 0, sizeof(*verdict));
	/* Pessimistic: only a path through every check clears the reason. */
	deny(verdict, "bad-chain", "not verified");
	if (!conf->have_ca) {
		verify_pinned(conf, sk_X509_value(chain, 0), pinned, now, verdict);
		return 0;
	}
	return verify_ca(conf, trust, chain, now, verdict);
}
