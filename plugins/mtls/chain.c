/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's certificate chain: see chain-private.h.
 *
 * PEM is framed here rather than with PEM_read_bio_X509, which skips any
 * text before a block and any block of another type: what a client sends
 * must be exactly certificates, so a private key pasted by mistake, a
 * second document or trailing junk is refused and named, not ignored.
 * Base64 and DER decoding are OpenSSL's.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "chain-private.h"

#define BEGIN      "-----BEGIN "
#define END        "-----END "
#define DASHES     "-----"
#define CERT_LABEL "CERTIFICATE"
#define LABEL_MAX  64

/* One certificate's DER bytes, inside the input or the decoded buffer. */
struct span {
	const unsigned char *der;
	size_t len;
};

struct parse {
	const unsigned char *data;
	size_t len;
	size_t pos;
	struct span spans[MTLS_CHAIN_MAX_CERTS];
	size_t n; /* every certificate seen, also past the maximum */
	unsigned char *decoded;
	size_t decoded_len;
	char *why;
	size_t why_len;
};

static int fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->why, ps->why_len, fmt, ap);
	va_end(ap);
	return MTLS_CHAIN_MALFORMED;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool at(const struct parse *ps, size_t pos, const char *s)
{
	size_t n = strlen(s);

	return ps->len - pos >= n && memcmp(ps->data + pos, s, n) == 0;
}

/* Where the next s starts at or after pos, or len. */
static size_t find(const struct parse *ps, size_t pos, const char *s)
{
	for (; pos < ps->len; pos++)
		if (at(ps, pos, s))
			return pos;
	return ps->len;
}

/* The label of a "-----BEGIN X-----" / "-----END X-----" line at pos
 * (after the prefix of length skip); *ret_next is just past its dashes.
 * Labels are upper-case words (RFC 7468), so a label can be named in a log
 * line without quoting anything the client wrote beyond that. */
static int read_label(struct parse *ps, size_t pos, size_t skip, char *label, size_t *ret_next)
{
	size_t i = pos + skip, n = 0;

	while (i < ps->len && n < LABEL_MAX && !at(ps, i, DASHES)) {
		unsigned char c = ps->data[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' '))
			break;
		label[n++] = (char)c;
		i++;
	}
	label[n] = '\0';
	if (n == 0 || !at(ps, i, DASHES))
		return fail(ps, "bad PEM boundary line at offset %zu", pos);
	*ret_next = i + strlen(DASHES);
	return 0;
}

static int b64_value(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Decodes the base64 between from and to into ps->decoded as certificate
 * number ps->n (0-based). */
static int decode_body(struct parse *ps, size_t from, size_t to)
{
	unsigned char *b64 = ps->decoded + ps->decoded_len, *out;
	size_t n = 0, pad = 0;
	int got;

	/* Compact the base64 in place at the end of the decoded buffer (it
	 * has room for the whole input), then decode just before it. */
	for (size_t i = from; i < to; i++) {
		unsigned char c = ps->data[i];
		if (is_space(c))
			continue;
		if (c == '=' && pad < 2) {
			pad++;
		} else if (pad > 0 || !b64_value(c)) {
			return fail(ps, "bad base64 in certificate %zu at offset %zu", ps->n + 1,
			            i);
		}
		b64[n++] = c;
	}
	if (n == 0 || n % 4 != 0 || n > (size_t)0x7fffffff)
		return fail(ps, "bad base64 length in certificate %zu", ps->n + 1);
	out = ps->decoded + ps->decoded_len;
	/* EVP_DecodeBlock writes 3 bytes per 4 read, so it never overtakes
	 * what it still has to read. */
	got = EVP_DecodeBlock(out, b64, (int)n);
	if (got < 0 || (size_t)got < pad)
		return fail(ps, "bad base64 in certificate %zu", ps->n + 1);
	ps->spans[ps->n].der = out;
	ps->spans[ps->n].len = (size_t)got - pad;
	ps->decoded_len += (size_t)got - pad;
	return 0;
}

/* One "-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----" at
 * ps->pos; moves ps->pos past it. */
static int pem_block(struct parse *ps)
{
	char label[LABEL_MAX + 1];
	size_t start = ps->pos, body, end, next;
	int r;

	if (!at(ps, start, BEGIN))
		return fail(ps, "unexpected text at offset %zu %s (only CERTIFICATE PEM blocks)",
		            start, ps->n == 0 ? "before the first certificate" : "between blocks");
	r = read_label(ps, start, strlen(BEGIN), label, &body);
	if (r < 0)
		return r;
	/* Say what it was, never what it held. */
	if (strstr(label, "PRIVATE KEY") != NULL)
		return fail(ps, "a private key block at offset %zu (never send a private key)",
		            start);
	if (strcmp(label, CERT_LABEL) != 0)
		return fail(ps, "a PEM block labelled %s at offset %zu (only CERTIFICATE)", label,
		            start);
	end = find(ps, body, END);
	if (end == ps->len)
		return fail(ps, "certificate %zu (offset %zu) has no END line", ps->n + 1, start);
	r = read_label(ps, end, strlen(END), label, &next);
	if (r < 0)
		return r;
	if (strcmp(label, CERT_LABEL) != 0)
		return fail(ps, "certificate %zu (offset %zu) ends with a %s line", ps->n + 1,
		            start, label);
	if (next < ps->len && !is_space(ps->data[next]))
		return fail(ps, "unexpected text at offset %zu after certificate %zu", next,
		            ps->n + 1);
	/* Past the maximum only count: the log line says how many. */
	if (ps->n < MTLS_CHAIN_MAX_CERTS && (r = decode_body(ps, body, end)) < 0)
		return r;
	ps->n++;
	ps->pos = next;
	return 0;
}

static int frame_pem(struct parse *ps)
{
	const unsigned char *nul = memchr(ps->data, '\0', ps->len);
	int r;

	if (nul != NULL)
		return fail(ps, "NUL byte at offset %zu", (size_t)(nul - ps->data));
	/* Room for every decoded certificate plus one block's base64. */
	ps->decoded = malloc(ps->len);
	if (ps->decoded == NULL)
		return MTLS_CHAIN_NOMEM;
	for (;;) {
		while (ps->pos < ps->len && is_space(ps->data[ps->pos]))
			ps->pos++;
		if (ps->pos == ps->len)
			break;
		r = pem_block(ps);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Back-to-back DER SEQUENCEs, each of definite length. */
static int frame_der(struct parse *ps)
{
	while (ps->pos < ps->len) {
		const unsigned char *p = ps->data + ps->pos;
		long body = 0;
		int tag = 0, xclass = 0, ret;
		size_t hdr, total;

		ret = ASN1_get_object(&p, &body, &tag, &xclass, (long)(ps->len - ps->pos));
		if ((ret & 0x80) != 0 || ret != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
		    xclass != V_ASN1_UNIVERSAL)
			return fail(ps, "%s at offset %zu",
			            ps->n == 0 ? "undecodable DER" : "trailing bytes", ps->pos);
		hdr = (size_t)(p - (ps->data + ps->pos));
		total = hdr + (size_t)body;
		if (ps->n < MTLS_CHAIN_MAX_CERTS) {
			ps->spans[ps->n].der = ps->data + ps->pos;
			ps->spans[ps->n].len = total;
		}
		ps->n++;
		ps->pos += total;
	}
	return 0;
}

/* Each span must be exactly one certificate. */
static int decode_spans(struct parse *ps, STACK_OF(X509) * chain)
{
	for (size_t i = 0; i < ps->n; i++) {
		const unsigned char *p = ps->spans[i].der;
		X509 *x;

		if (ps->spans[i].len > (size_t)0x7fffffff)
			return fail(ps, "certificate %zu is too long", i + 1);
		x = d2i_X509(NULL, &p, (long)ps->spans[i].len);
		if (x == NULL)
			return fail(ps, "certificate %zu does not decode as X.509", i + 1);
		if (p != ps->spans[i].der + ps->spans[i].len) {
			X509_free(x);
			return fail(ps, "certificate %zu has %zu bytes after it", i + 1,
			            (size_t)(ps->spans[i].der + ps->spans[i].len - p));
		}
		if (sk_X509_push(chain, x) <= 0) {
			X509_free(x);
			return MTLS_CHAIN_NOMEM;
		}
	}
	return 0;
}

int mtls_chain_parse(const unsigned char *data, size_t len, STACK_OF(X509) * *ret_chain, char *why,
                     size_t why_len)
{
	struct parse ps = { .data = data, .len = len, .why = why, .why_len = why_len };
	STACK_OF(X509) *chain = NULL;
	int r;

	if (len == 0)
		return fail(&ps, "empty input");
	if (len > MTLS_CHAIN_MAX_BYTES)
		return fail(&ps, "input is %zu bytes; at most %d", len, MTLS_CHAIN_MAX_BYTES);
	/* A DER certificate starts with a SEQUENCE; PEM with text. */
	r = data[0] == 0x30 ? frame_der(&ps) : frame_pem(&ps);
	if (r < 0)
		goto out;
	if (ps.n == 0 || ps.n > MTLS_CHAIN_MAX_CERTS) {
		r = ps.n == 0 ? fail(&ps, "no certificate")
		              : fail(&ps, "chain has %zu certificates; at most %d", ps.n,
		                     MTLS_CHAIN_MAX_CERTS);
		goto out;
	}
	r = MTLS_CHAIN_NOMEM;
	chain = sk_X509_new_null();
	if (chain == NULL)
		goto out;
	r = decode_spans(&ps, chain);
	if (r < 0)
		goto out;
	if (why_len > 0)
		why[0] = '\0';
	*ret_chain = chain;
	chain = NULL;
	r = 0;
out:
	if (r == MTLS_CHAIN_NOMEM)
		snprintf(why, why_len, "out of memory");
	sk_X509_pop_free(chain, X509_free);
	free(ps.decoded);
	return r;
}
