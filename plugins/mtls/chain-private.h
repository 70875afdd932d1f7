/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's certificate chain as the TLS terminator hands it over: PEM
 * (CERTIFICATE blocks only, leaf first) or DER (one or more certificates
 * back to back). Kept apart from the plugin so tests/fuzz_pem can drive it
 * alone: it is the one place raw client bytes are parsed.
 */
#ifndef LATCHKEY_MTLS_CHAIN_PRIVATE_H
#define LATCHKEY_MTLS_CHAIN_PRIVATE_H

#include <stddef.h>

#include <openssl/x509.h>

#define MTLS_CHAIN_MAX_BYTES 32768
#define MTLS_CHAIN_MAX_CERTS 10

/* What mtls_chain_parse returns besides 0. */
#define MTLS_CHAIN_MALFORMED (-1) /* why says what was wrong */
#define MTLS_CHAIN_NOMEM     (-2)

/*
 * Parses len bytes (not NUL-terminated) into a chain of 1 to
 * MTLS_CHAIN_MAX_CERTS certificates, leaf first. Refused: empty input, more
 * than MTLS_CHAIN_MAX_BYTES, a NUL byte in PEM, any PEM block but
 * CERTIFICATE (a private key block is named as such), text around or
 * between the blocks other than whitespace, bad base64, a certificate that
 * does not decode or has bytes after it, too many certificates.
 *
 * why (why_len bytes, always terminated) gets one line naming the problem
 * by position and kind; it never quotes the input, which may hold a private
 * key. Returns 0 and sets *ret_chain (free with
 * sk_X509_pop_free(chain, X509_free)), MTLS_CHAIN_MALFORMED or
 * MTLS_CHAIN_NOMEM.
 */
int mtls_chain_parse(const unsigned char *data, size_t len, STACK_OF(X509) * *ret_chain, char *why,
                     size_t why_len);

#endif
