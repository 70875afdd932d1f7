/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mtls plugin's parts: its arguments (args.c), the trust anchors and
 * CRLs it reads through the host with a process-wide cache (trust.c), the
 * chain verification and policy checks (verify.c), the mapping from a
 * certificate to a principal (map.c) and the successes remembered for a
 * chain sent again (results.c). mtls.c ties them into the plugin.
 */
#ifndef LATCHKEY_MTLS_PRIVATE_H
#define LATCHKEY_MTLS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "latchkey/plugin.h"

#define MTLS_MAX_FILES      16 /* ca=, ca-dir= and crl= together */
#define MTLS_MAX_RULES      16
#define MTLS_MAX_PINS       16
#define MTLS_PATH_MAX       256 /* a policy <arg> is at most 256 bytes */
#define MTLS_PATTERN_MAX    256
#define MTLS_PRINCIPAL_MAX  128
#define MTLS_CA_FILE_MAX    (4u * 1024 * 1024)
#define MTLS_CRL_FILE_MAX   (16u * 1024 * 1024)
#define MTLS_CREDENTIAL_HEX 24 /* the leaf SHA-256 prefix in the audit row */
#define MTLS_LOG_FP_MAX     (MTLS_CREDENTIAL_HEX / 2 * 3) /* "3f:a2:...", for log lines */
#define MTLS_LOG_CN_MAX     72

/* Signature algorithms sig-algs= may allow (a bitmask). */
#define MTLS_SIG_SHA256  0x01u
#define MTLS_SIG_SHA384  0x02u
#define MTLS_SIG_SHA512  0x04u
#define MTLS_SIG_ED25519 0x08u
#define MTLS_SIG_ED448   0x10u
#define MTLS_SIG_ALL     0x1fu

enum mtls_file_kind { MTLS_FILE_CA, MTLS_FILE_CA_DIR, MTLS_FILE_CRL };

struct mtls_file {
	enum mtls_file_kind kind;
	char path[MTLS_PATH_MAX];
};

enum mtls_map_kind { MTLS_MAP_SAN_URI, MTLS_MAP_SAN_DNS, MTLS_MAP_SAN_EMAIL, MTLS_MAP_CN };

/* map=KIND:PREFIX{}SUFFIX */
struct mtls_rule {
	enum mtls_map_kind kind;
	char prefix[MTLS_PATTERN_MAX];
	char suffix[MTLS_PATTERN_MAX];
};

struct mtls_pin {
	unsigned char sha256[32];
	char principal[MTLS_PRINCIPAL_MAX + 1];
};

/* What the policy's arguments say (args.c). */
struct mtls_conf {
	struct mtls_file files[MTLS_MAX_FILES];
	size_t n_files;
	bool have_ca; /* any ca= or ca-dir=; else pin-only mode */
	bool have_crl;
	bool crl_chain;     /* crl-check=chain */
	bool crl_soft_fail; /* crl-soft-fail */
	int64_t crl_max_age;
	int64_t skew;
	int min_rsa_bits;
	int min_ec_bits;
	unsigned sig_algs; /* MTLS_SIG_* */
	int max_depth;
	struct mtls_rule rules[MTLS_MAX_RULES];
	size_t n_rules;
	struct mtls_pin pins[MTLS_MAX_PINS];
	size_t n_pins;
	bool prompt;
	char prompt_text[LK_PLUGIN_PROMPT_MAX];
};

/* Parses every argument into conf (defaults first); logs the first bad one
 * (or a bad combination) and returns -1, else 0. */
int mtls_conf_parse(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
                    struct mtls_conf *conf);

/* A principal a certificate may map to: 1..128 of [A-Za-z0-9._@+-], not
 * starting with '-' or '.'. */
bool mtls_principal_valid(const char *s, size_t len);

/* Trust anchors and CRLs for one request (trust.c). */
struct mtls_trust {
	STACK_OF(X509) * anchors;
	STACK_OF(X509_CRL) * crls;
	/* Some crl= file could not be used: missing, refused by the host,
	 * too large, or not CRLs that parse (the first one's path). Denies
	 * with crl-stale even under crl-soft-fail. */
	bool crl_unreadable;
	char crl_unreadable_path[MTLS_PATH_MAX];
	/* SHA-256 of what was used: every file's path and the stamp its
	 * objects were read with (a ca-dir='s file names and stamps), in the
	 * policy's order. Equal digests: the same trust, byte for byte, as
	 * far as the stamps tell. stamped: every file was used (no
	 * crl_unreadable), so stamps says what decided. */
	unsigned char stamps[32];
	bool stamped;
};

#define MTLS_TRUST_CA_UNREADABLE (-1) /* logged; the step is unavailable */
#define MTLS_TRUST_NOMEM         (-2)

/* Fills trust from conf's files, through the cache (file_stamp says
 * whether a cached file is still current). Returns 0,
 * MTLS_TRUST_CA_UNREADABLE or MTLS_TRUST_NOMEM. */
int mtls_trust_load(const struct lk_plugin_host *host, const struct mtls_conf *conf,
                    struct mtls_trust *trust);
void mtls_trust_clear(struct mtls_trust *trust);

/* What verify.c decided about a chain. */
struct mtls_verdict {
	const char *reason; /* a denial's reason, or NULL: the chain passed */
	bool crl_stale;     /* passed, but a CRL was stale or missing (soft-fail may allow) */
	char detail[192];   /* for the log line: OpenSSL's words, depth */
	/* A pass: the times [valid_from, valid_until) over which every
	 * time-dependent check (each certificate of the built chain within
	 * skew; each CRL fresh or stale) comes out as it did at now, so the
	 * same chain under the same trust passes all the same. Empty
	 * (valid_from == valid_until) otherwise. */
	int64_t valid_from, valid_until;
};

/* Verifies chain (leaf first) at time now under conf and trust: the path
 * to an anchor, revocation, validity with skew, EKU, key sizes and
 * signature algorithms. In pin-only mode pinned says whether the leaf is
 * pinned and only the leaf is checked. Returns 0 with *verdict filled, or
 * -1 if it could not decide (out of memory). */
int mtls_verify(const struct mtls_conf *conf, const struct mtls_trust *trust,
                STACK_OF(X509) * chain, bool pinned, int64_t now, struct mtls_verdict *verdict);

/* SHA-256 of len bytes; 0, or -1 (out of memory). */
int mtls_sha256(const void *data, size_t len, unsigned char out[32]);

/* ASN1_TIME as Unix seconds; -1 if it does not convert. */
int mtls_asn1_time(const ASN1_TIME *t, int64_t *ret_unix);

/* The principal leaf maps to (map.c): pins first, then rules in order.
 * Returns 0 and fills principal (MTLS_PRINCIPAL_MAX + 1 bytes), or sets
 * *ret_reason ("no-mapping", "pin-mismatch") and returns 1. why gets a
 * line for the log either way. */
int mtls_map(const struct mtls_conf *conf, X509 *leaf, const unsigned char sha256[32],
             char *principal, const char **ret_reason, char *why, size_t why_len);

/* Whether the leaf with this SHA-256 is pinned. */
bool mtls_pinned(const struct mtls_conf *conf, const unsigned char sha256[32]);

/* The subject's common name, printable ASCII only (others as '?'), for log
 * lines; "-" when there is none. */
void mtls_log_cn(X509 *x, char *out, size_t out_len);

/*
 * A success remembered (results.c): the chain's exact bytes, the step's
 * arguments and the trust files' stamps it was decided under (SHA-256 of
 * each), when and for how long it holds, and what it said. No OpenSSL
 * object: only bytes.
 */
struct mtls_result {
	unsigned char chain[32];         /* the input bytes */
	unsigned char policy[32];        /* the step's arguments */
	unsigned char trust[32];         /* struct mtls_trust's stamps */
	int64_t valid_from, valid_until; /* the verdict's window, at most MTLS_RESULT_TTL */
	int64_t verified_at;
	char principal[MTLS_PRINCIPAL_MAX + 1];
	char credential[MTLS_CREDENTIAL_HEX + 1];
	char fp[MTLS_LOG_FP_MAX]; /* for the log line */
	char cn[MTLS_LOG_CN_MAX];
	char why[96];
};

#define MTLS_RESULTS_MAX 1024 /* per process, the least recently used dropped */
#define MTLS_RESULT_TTL  300  /* seconds after verification, at most */

/* The success remembered for this chain and policy, if now is within its
 * window: copied into *ret, and 1; else 0. The caller still compares the
 * trust digest with the current one. */
int mtls_result_find(const unsigned char chain[32], const unsigned char policy[32], int64_t now,
                     struct mtls_result *ret);

/* Remembers r (its window cut to verified_at + MTLS_RESULT_TTL), in place
 * of any for the same chain and policy. Nothing if the window is empty or
 * memory is short. */
void mtls_result_put(const struct mtls_result *r);

#endif
