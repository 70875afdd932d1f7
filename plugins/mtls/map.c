/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a verified leaf to a principal: pins first (an exact certificate),
 * then map= rules in policy order, the first that matches wins.
 *
 * A rule's pattern is literal text around one "{}"; the text the "{}"
 * covers is the principal, and must be a valid one (mtls-private.h) or the
 * rule does not match. DNS names are compared without regard to case and
 * the principal taken from one is lower-cased (ALICE.example.com is the
 * same name as alice.example.com); in an email address only the domain
 * is. URIs and common names are compared exactly.
 *
 * A principal that has a pin accepts only its pinned certificates, and
 * "has a pin" ignores ASCII case: user databases that do (SSSD, LDAP) take
 * ALICE for alice, so a certificate that maps to ALICE must not get round
 * alice's pins.
 *
 * A rule that matches two values of the certificate with different
 * principals (two SAN URIs, say) decides nothing and the certificate is
 * refused: which of the two names it proves is not for us to guess. A
 * subject with more than one CN gives cn: rules nothing to match.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mtls-private.h"

#define VALUE_MAX 1024

static const char *const kind_names[] = { "san-uri", "san-dns", "san-email", "cn" };

/* A value from the certificate, normalised for its kind. domain: where the
 * case-insensitive part starts (len: none). */
struct value {
	char s[VALUE_MAX];
	size_t len;
	size_t domain;
};

/* Printable ASCII without NUL: anything else is no name of ours. */
static bool value_set(struct value *v, enum mtls_map_kind kind, const unsigned char *data, int len)
{
	if (data == NULL || len <= 0 || (size_t)len >= sizeof(v->s))
		return false;
	for (int i = 0; i < len; i++)
		if (data[i] < 0x20 || data[i] > 0x7e)
			return false;
	memcpy(v->s, data, (size_t)len);
	v->s[len] = '\0';
	v->len = (size_t)len;
	v->domain = v->len;
	if (kind == MTLS_MAP_SAN_DNS) {
		v->domain = 0;
	} else if (kind == MTLS_MAP_SAN_EMAIL) {
		const char *at = strrchr(v->s, '@');
		if (at != NULL)
			v->domain = (size_t)(at - v->s) + 1;
	}
	for (size_t i = v->domain; i < v->len; i++)
		v->s[i] = (char)tolower((unsigned char)v->s[i]);
	return true;
}

static bool same(const struct value *v, size_t at, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = lit[i];
		if (at + i >= v->domain)
			c = (char)tolower((unsigned char)c);
		if (v->s[at + i] != c)
			return false;
	}
	return true;
}

/* The principal rule r captures from v, or false. */
static bool match(const struct mtls_rule *r, const struct value *v, char *cap)
{
	size_t plen = strlen(r->prefix), slen = strlen(r->suffix), clen;

	if (v->len < plen + slen || !same(v, 0, r->prefix, plen) ||
	    !same(v, v->len - slen, r->suffix, slen))
		return false;
	clen = v->len - plen - slen;
	if (!mtls_principal_valid(v->s + plen, clen))
		return false;
	memcpy(cap, v->s + plen, clen);
	cap[clen] = '\0';
	return true;
}

/* Feeds one candidate value to the rule: the first match is kept, a later
 * one naming someone else makes the rule ambiguous. */
struct outcome {
	bool matched;
	bool ambiguous;
	char principal[MTLS_PRINCIPAL_MAX + 1];
};

static void feed(const struct mtls_rule *r, const struct value *v, struct outcome *o)
{
	char cap[MTLS_PRINCIPAL_MAX + 1];

	if (!match(r, v, cap))
		return;
	if (!o->matched) {
		o->matched = true;
		memcpy(o->principal, cap, sizeof(cap));
	} else if (strcmp(o->principal, cap) != 0) {
		o->ambiguous = true;
	}
}

static void match_san(const struct mtls_rule *r, X509 *leaf, struct outcome *o)
{
	/* A certificate with two SAN extensions gives NULL: no names. */
	GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	int want = r->kind == MTLS_MAP_SAN_URI   ? GEN_URI
	           : r->kind == MTLS_MAP_SAN_DNS ? GEN_DNS
	                                         : GEN_EMAIL;
	struct value v;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const ASN1_IA5STRING *s;
		if (gn->type != want)
			continue;
		s = want == GEN_URI   ? gn->d.uniformResourceIdentifier
		    : want == GEN_DNS ? gn->d.dNSName
		                      : gn->d.rfc822Name;
		if (value_set(&v, r->kind, ASN1_STRING_get0_data(s), ASN1_STRING_length(s)))
			feed(r, &v, o);
	}
	GENERAL_NAMES_free(names);
}

/* The subject's one CN as UTF-8 into v (printable ASCII only). */
static bool cn_value(X509 *x, struct value *v)
{
	const X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	bool ok;
	int n;

	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return false;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	ok = n > 0 && value_set(v, MTLS_MAP_CN, utf8, n);
	OPENSSL_free(utf8);
	return ok;
}

void mtls_log_cn(X509 *x, char *out, size_t out_len)
{
	const X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int n = -1;
	size_t k = 0;

	if (i >= 0)
		n = ASN1_STRING_to_UTF8(&utf8,
		                        X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	/* A CN is the client's text: at most 64 characters reach a log line,
	 * anything not printable ASCII as '?'. */
	for (int j = 0; j < n && j < 64 && k + 1 < out_len; j++)
		out[k++] = utf8[j] >= 0x20 && utf8[j] <= 0x7e ? (char)utf8[j] : '?';
	if (k == 0 && out_len > 1)
		out[k++] = '-';
	if (out_len > 0)
		out[k] = '\0';
	OPENSSL_free(utf8);
}

static const struct mtls_pin *pin_of(const struct mtls_conf *c, const unsigned char sha256[32])
{
	for (size_t i = 0; i < c->n_pins; i++)
		if (memcmp(c->pins[i].sha256, sha256, 32) == 0)
			return &c->pins[i];
	return NULL;
}

bool mtls_pinned(const struct mtls_conf *conf, const unsigned char sha256[32])
{
	return pin_of(conf, sha256) != NULL;
}

/* Equal but for ASCII case, whatever the locale (principals are ASCII). */
static bool same_principal(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

static bool principal_pinned(const struct mtls_conf *c, const char *principal)
{
	for (size_t i = 0; i < c->n_pins; i++)
		if (same_principal(c->pins[i].principal, principal))
			return true;
	return false;
}

int mtls_map(const struct mtls_conf *conf, X509 *leaf, const unsigned char sha256[32],
             char *principal, const char **ret_reason, char *why, size_t why_len)
{
	const struct mtls_pin *pin = pin_of(conf, sha256);
	struct value v;

	if (pin != NULL) {
		snprintf(principal, MTLS_PRINCIPAL_MAX + 1, "%s", pin->principal);
		snprintf(why, why_len, "a pin");
		return 0;
	}
	for (size_t i = 0; i < conf->n_rules; i++) {
		const struct mtls_rule *r = &conf->rules[i];
		struct outcome o = { 0 };
		if (r->kind == MTLS_MAP_CN) {
			if (cn_value(leaf, &v))
				feed(r, &v, &o);
		} else {
			match_san(r, leaf, &o);
		}
		if (o.ambiguous) {
			snprintf(why, why_len, "map rule %zu (%s) matches more than one name",
			         i + 1, kind_names[r->kind]);
			*ret_reason = "no-mapping";
			return 1;
		}
		if (!o.matched)
			continue;
		/* A pinned principal accepts only its pinned certificates,
		 * even from a CA that would name it. */
		if (principal_pinned(conf, o.principal)) {
			snprintf(why, why_len,
			         "map rule %zu (%s) names %s, whose pins do not "
			         "include this certificate",
			         i + 1, kind_names[r->kind], o.principal);
			*ret_reason = "pin-mismatch";
			return 1;
		}
		snprintf(principal, MTLS_PRINCIPAL_MAX + 1, "%s", o.principal);
		snprintf(why, why_len, "map rule %zu (%s)", i + 1, kind_names[r->kind]);
		return 0;
	}
	snprintf(why, why_len, "no pin and no map rule matches");
	*ret_reason = "no-mapping";
	return 1;
}
