/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mtls: a client certificate, as the TLS terminator verified the client
 * holds its key, checked against the policy's trust anchors, CRLs and
 * rules, and mapped to a principal.
 *
 * The chain arrives as the "client_cert" input (PEM, or DER, leaf first).
 * This plugin does not see the TLS handshake: it trusts the terminator to
 * have checked possession of the leaf's private key, and decides whether
 * the certificate is one the policy accepts and whose it is.
 *
 * Arguments (every one checked in init, see args.c):
 *   ca=/abs/file.pem   trust anchors (PEM bundle or one DER certificate)
 *   ca-dir=/abs/dir    every .pem and .crt file in the directory
 *   crl=/abs/file      a CRL (PEM, several allowed, or DER)
 *   crl-check=leaf|chain, crl-max-age=DURATION (7d), crl-soft-fail
 *   skew=DURATION (300, at most 3600)
 *   min-rsa-bits=N (2048), min-ec-bits=N (256)
 *   sig-algs=sha256,sha384,sha512,ed25519,ed448 (all of them)
 *   max-depth=N (4, 0 to 8): intermediates between leaf and anchor
 *   map=san-uri:P, map=san-dns:P, map=san-email:P, map=cn:P, map=cn
 *   pin=SHA256:PRINCIPAL
 *   eku=clientAuth (always required; accepted for documentation)
 *   prompt, prompt=TEXT: ask for the chain when it is missing
 *
 * Reasons: ok, ok-crl-stale (successes); no-cert, malformed, unknown-ca,
 * revoked, expired, not-yet-valid, bad-eku, path-too-long, bad-signature,
 * bad-signature-algorithm, weak-key, crl-stale, bad-chain, pin-mismatch,
 * no-mapping (denials); ca-unreadable, clock, out-of-memory (unavailable).
 * The credential (res->credential, the audit row's kid) is the leaf's
 * SHA-256, first 24 hex digits in lower case, on every result once the
 * chain parsed (successes and denials, pin-only or not); the engine
 * checks it against its own reading of the leaf. Empty otherwise.
 *
 * A success ("ok") is remembered (results.c) under the SHA-256 of the
 * exact input, of the arguments and of the trust files' stamps, for as long
 * as no time-dependent check would change (verify.c), five minutes at
 * most: the same chain sent again under the same policy and files is
 * answered from there without being parsed or verified, with the same
 * result. The trust files are still stamped (and checked by the host)
 * every request first.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "chain-private.h"
#include "mtls-private.h"

#define PLUGIN_VERSION "1.0"

struct mtls_state {
	const struct lk_plugin_host *host;
	struct mtls_conf conf;
	unsigned char policy[32]; /* SHA-256 of the arguments, as results.c keys them */
};

/* What one request is about, for its log lines. The fingerprint prefix
 * is written with colons ("3f:a2:..."), as openssl x509 -fingerprint
 * prints it: a run of 24 hex digits is what the engine's log redactor
 * takes for a pasted secret and masks. */
struct request_log {
	char fp[MTLS_LOG_FP_MAX];
	char cn[MTLS_LOG_CN_MAX];
};

/* The arguments, every one and in order, as one SHA-256: two policies share
 * remembered results only if they say exactly the same. */
static int policy_digest(const char *const *args, size_t n_args, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t n = n_args;
	int ok;

	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(md, &n, sizeof(n));
	for (size_t i = 0; ok && i < n_args; i++) {
		n = strlen(args[i]);
		ok = EVP_DigestUpdate(md, &n, sizeof(n)) && EVP_DigestUpdate(md, args[i], n);
	}
	ok = ok && EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : -1;
}

static int mtls_init(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
                     void **ret_state)
{
	struct mtls_state *st;

	/* An engine older than ABI 1.2 cannot read trust files for us. */
	if (host == NULL ||
	    host->struct_size <
	        offsetof(struct lk_plugin_host, file_stamp) + sizeof(host->file_stamp) ||
	    host->log == NULL || host->now == NULL || host->read_file == NULL ||
	    host->list_dir == NULL || host->file_stamp == NULL)
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->host = host;
	if (mtls_conf_parse(host, args, n_args, &st->conf) < 0 ||
	    policy_digest(args, n_args, st->policy) < 0) {
		free(st);
		return -1;
	}
	*ret_state = st;
	return 0;
}

static void set_result(struct lk_plugin_result *res, enum lk_plugin_decision d, const char *reason)
{
	res->decision = d;
	snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

static void log_deny(const struct mtls_state *st, const struct request_log *rl, const char *reason,
                     const char *detail)
{
	st->host->log(st->host->host_ctx, LK_LOG_WARNING, "mtls: %s: certificate %s (CN %s): %s",
	              reason, rl->fp, rl->cn, detail);
}

/* The request's one client_cert input; NULL if none. Two are malformed. */
static int find_input(const struct lk_plugin_request *req, const struct lk_plugin_input **ret)
{
	const struct lk_plugin_input *found = NULL;

	for (size_t i = 0; i < req->n_inputs; i++) {
		if (req->inputs[i].name == NULL ||
		    strcmp(req->inputs[i].name, LK_INPUT_CLIENT_CERT) != 0)
			continue;
		if (found != NULL)
			return -1;
		found = &req->inputs[i];
	}
	*ret = found;
	return 0;
}

static void ask(const struct mtls_state *st, struct lk_plugin_result *res)
{
	set_result(res, LK_PLUGIN_NEED_INPUT, "need-input");
	snprintf(res->prompt_input, sizeof(res->prompt_input), "%s", LK_INPUT_CLIENT_CERT);
	snprintf(res->prompt_text, sizeof(res->prompt_text), "%s", st->conf.prompt_text);
	res->prompt_echo = 1; /* a certificate is public */
}

/* The leaf's SHA-256 and the audit credential (its first 24 hex digits). */
static int fingerprint(X509 *leaf, unsigned char sha256[32], struct request_log *rl,
                       struct lk_plugin_result *res)
{
	unsigned int n = 0;
	size_t k = 0;

	if (!X509_digest(leaf, EVP_sha256(), sha256, &n) || n != 32)
		return -1;
	for (size_t i = 0; i < MTLS_CREDENTIAL_HEX / 2; i++) {
		snprintf(res->credential + 2 * i, 3, "%02x", sha256[i]);
		k += (size_t)snprintf(rl->fp + k, sizeof(rl->fp) - k, "%s%02x", i > 0 ? ":" : "",
		                      sha256[i]);
	}
	mtls_log_cn(leaf, rl->cn, sizeof(rl->cn));
	return 0;
}

/* Not loaded yet (mtls_trust_load's results are 0 or negative). */
#define TRUST_NOT_LOADED 1

/* The trust files into t, as mtls_trust_load; without ca= or ca-dir= (pin
 * only), none: t is empty and its digest all zeros. */
static int load_trust(const struct mtls_state *st, struct mtls_trust *t)
{
	if (st->conf.have_ca)
		return mtls_trust_load(st->host, &st->conf, t);
	memset(t, 0, sizeof(*t));
	t->stamped = true;
	return 0;
}

/* A success to remember: what res and the log line say, with the keys and
 * the verdict's window. */
static void remember(const struct mtls_state *st, const unsigned char chain_key[32],
                     const struct mtls_trust *t, const struct mtls_verdict *v, int64_t now,
                     const struct request_log *rl, const char *why,
                     const struct lk_plugin_result *res)
{
	struct mtls_result r;

	memset(&r, 0, sizeof(r));
	memcpy(r.chain, chain_key, 32);
	memcpy(r.policy, st->policy, 32);
	memcpy(r.trust, t->stamps, 32);
	r.valid_from = v->valid_from;
	r.valid_until = v->valid_until;
	r.verified_at = now;
	snprintf(r.principal, sizeof(r.principal), "%s", res->principal);
	snprintf(r.credential, sizeof(r.credential), "%s", res->credential);
	snprintf(r.fp, sizeof(r.fp), "%s", rl->fp);
	snprintf(r.cn, sizeof(r.cn), "%s", rl->cn);
	snprintf(r.why, sizeof(r.why), "%s", why);
	mtls_result_put(&r);
}

/* Verifies and maps a parsed chain into res, which starts out saying
 * "unavailable" and says "success" only once every check has passed.
 * trust: loaded already unless trust_r is TRUST_NOT_LOADED. chain_key: the
 * input's SHA-256, to remember an "ok" under; NULL: not remembered. */
static void decide(const struct mtls_state *st, STACK_OF(X509) * chain, int64_t now,
                   const unsigned char *chain_key, struct mtls_trust *trust, int trust_r,
                   struct lk_plugin_result *res)
{
	const struct lk_plugin_host *host = st->host;
	const struct mtls_conf *c = &st->conf;
	struct mtls_verdict v;
	struct request_log rl = { "", "" };
	unsigned char sha256[32];
	char principal[MTLS_PRINCIPAL_MAX + 1], why[200] = "";
	const char *reason = NULL;

	set_result(res, LK_PLUGIN_UNAVAILABLE, "out-of-memory");
	if (fingerprint(sk_X509_value(chain, 0), sha256, &rl, res) < 0)
		goto out;
	if (trust_r == TRUST_NOT_LOADED)
		trust_r = load_trust(st, trust);
	if (trust_r < 0) {
		if (trust_r == MTLS_TRUST_CA_UNREADABLE)
			set_result(res, LK_PLUGIN_UNAVAILABLE, "ca-unreadable");
		goto out;
	}
	if (mtls_verify(c, trust, chain, mtls_pinned(c, sha256), now, &v) < 0)
		goto out;
	if (v.reason != NULL) {
		log_deny(st, &rl, v.reason, v.detail);
		set_result(res, LK_PLUGIN_DENY, v.reason);
		goto out;
	}
	if (v.crl_stale && !c->crl_soft_fail) {
		log_deny(st, &rl, "crl-stale", v.detail);
		set_result(res, LK_PLUGIN_DENY, "crl-stale");
		goto out;
	}
	if (mtls_map(c, sk_X509_value(chain, 0), sha256, principal, &reason, why, sizeof(why)) !=
	    0) {
		log_deny(st, &rl, reason, why);
		set_result(res, LK_PLUGIN_DENY, reason);
		goto out;
	}
	if (v.crl_stale)
		host->log(host->host_ctx, LK_LOG_WARNING,
		          "mtls: ok-crl-stale: certificate %s (CN %s) accepted without a current "
		          "CRL (crl-soft-fail): %s",
		          rl.fp, rl.cn, v.detail);
	else
		host->log(host->host_ctx, LK_LOG_DEBUG,
		          "mtls: ok: certificate %s (CN %s) is %s by %s", rl.fp, rl.cn, principal,
		          why);
	snprintf(res->principal, sizeof(res->principal), "%s", principal);
	res->factors = LK_FACTOR_CLIENT_CERT;
	set_result(res, LK_PLUGIN_SUCCESS, v.crl_stale ? "ok-crl-stale" : "ok");
	/* ok-crl-stale is not remembered: it is to be logged every time. */
	if (chain_key != NULL && !v.crl_stale && trust->stamped)
		remember(st, chain_key, trust, &v, now, &rl, why, res);
out:
	ERR_clear_error();
}

/* The success remembered for this chain, policy and trust, as res and the
 * log line had it when it was verified. */
static void reuse(const struct mtls_state *st, const struct mtls_result *r,
                  struct lk_plugin_result *res)
{
	const struct lk_plugin_host *host = st->host;

	host->log(host->host_ctx, LK_LOG_DEBUG,
	          "mtls: ok: certificate %s (CN %s) is %s by %s (as verified at %lld, cached)",
	          r->fp, r->cn, r->principal, r->why, (long long)r->verified_at);
	snprintf(res->credential, sizeof(res->credential), "%s", r->credential);
	snprintf(res->principal, sizeof(res->principal), "%s", r->principal);
	res->factors = LK_FACTOR_CLIENT_CERT;
	set_result(res, LK_PLUGIN_SUCCESS, "ok");
}

static int mtls_authenticate(void *state, const struct lk_plugin_request *req,
                             struct lk_plugin_result *res)
{
	const struct mtls_state *st = state;
	const struct lk_plugin_host *host = st->host;
	const struct lk_plugin_input *in = NULL;
	STACK_OF(X509) *chain = NULL;
	struct mtls_trust trust = { 0 };
	struct mtls_result found;
	unsigned char chain_key[32];
	bool keyed;
	char why[160];
	int64_t now;
	int r, trust_r = TRUST_NOT_LOADED;

	set_result(res, LK_PLUGIN_DENY, "malformed");
	/* The credential names a leaf that parsed (decide() sets it first
	 * thing), never anything left in res from before. */
	res->credential[0] = '\0';
	if (find_input(req, &in) < 0) {
		host->log(host->host_ctx, LK_LOG_WARNING,
		          "mtls: malformed client certificate: more than one %s input",
		          LK_INPUT_CLIENT_CERT);
		return 0;
	}
	if (in == NULL) {
		if (st->conf.prompt)
			ask(st, res);
		else
			set_result(res, LK_PLUGIN_DENY, "no-cert");
		return 0;
	}
	if (host->now(host->host_ctx, &now) != 0) {
		set_result(res, LK_PLUGIN_UNAVAILABLE, "clock");
		return 0;
	}
	/* Sent before and accepted, within its window: the trust files are
	 * stamped (through the trust cache, reading only what changed); the
	 * same stamps as then, the same answer. Anything else (no such
	 * success, other stamps, a trust file that now fails) goes the whole
	 * way, and the trust files are not loaded twice. */
	keyed = in->value != NULL && in->len > 0 && in->len <= MTLS_CHAIN_MAX_BYTES &&
	        mtls_sha256(in->value, in->len, chain_key) == 0;
	ERR_clear_error();
	if (keyed && mtls_result_find(chain_key, st->policy, now, &found)) {
		trust_r = load_trust(st, &trust);
		if (trust_r == 0 && trust.stamped && memcmp(trust.stamps, found.trust, 32) == 0) {
			reuse(st, &found, res);
			goto out;
		}
	}
	r = mtls_chain_parse((const unsigned char *)in->value, in->value != NULL ? in->len : 0,
	                     &chain, why, sizeof(why));
	ERR_clear_error();
	if (r == MTLS_CHAIN_NOMEM) {
		set_result(res, LK_PLUGIN_UNAVAILABLE, "out-of-memory");
		goto out;
	}
	if (r != 0) {
		host->log(host->host_ctx, LK_LOG_WARNING, "mtls: malformed client certificate: %s",
		          why);
		goto out;
	}
	decide(st, chain, now, keyed ? chain_key : NULL, &trust, trust_r, res);
	sk_X509_pop_free(chain, X509_free);
out:
	mtls_trust_clear(&trust);
	ERR_clear_error();
	return 0;
}

static void mtls_fini(void *state)
{
	free(state);
}

static const struct lk_plugin mtls_plugin = {
	.abi_major = LK_PLUGIN_ABI_MAJOR,
	.abi_minor = LK_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(struct lk_plugin),
	.name = "mtls",
	.version = PLUGIN_VERSION,
	.capabilities = LK_PLUGIN_CAP_PRIMARY | LK_PLUGIN_CAP_SECOND_FACTOR | LK_PLUGIN_CAP_PROMPTS,
	.init = mtls_init,
	.authenticate = mtls_authenticate,
	.fini = mtls_fini,
};

const struct lk_plugin *lk_plugin_entry(void)
{
	return &mtls_plugin;
}
