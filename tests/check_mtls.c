/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mtls plugin through the real engine: policy files in a temp policy
 * dir, mtls.so copied into a temp plugin dir, and the decision's audit row.
 * The certificates come from tests/mtls-pki.sh, run once per test program
 * with the openssl command (no certificate is committed); its dates are
 * fixed relative to TK_NOW, the engine clock every request here uses.
 *
 * Every refusal asserts the exact reason (as the step's reason in the
 * audit row and as the decision's), that it is not a success, and that the
 * request wrote exactly one auth.decision row.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <security/pam_appl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "chain-private.h"
#include "engine-private.h"
#include "testutil.h"

#define DAY INT64_C(86400)
/* Dates tests/mtls-pki.sh gives (relative to TK_NOW, 2026-11-01). */
#define LEAF_NOT_BEFORE (TK_NOW - 31 * DAY) /* 2026-10-01 */
#define LEAF_NOT_AFTER  (TK_NOW + 30 * DAY) /* 2026-12-01 */
#define CRL_THIS        (TK_NOW - DAY)
#define CRL_NEXT        (TK_NOW + 7 * DAY)

#define BLOB_MAX (11u * 1024 * 1024)

Suite *mtls_suite(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char pki[PATH_MAX];
static struct tk_env e;
static char plugin_dir[PATH_MAX + 32], policy_dir[PATH_MAX + 32];
static struct lk_engine *engine;
static char logbuf[1 << 17];
static size_t loglen;
/* The fake host's clock and log (see "the plugin on its own"). */
static int64_t fake_time = TK_NOW;
static char fake_logbuf[1 << 20];
static size_t fake_loglen;
static int fake_cached; /* "... (as verified at T, cached)" lines */

/* ---- helpers ---------------------------------------------------------- */

/* OpenSSL's allocations in this process, counted (main installs these
 * before anything allocates): decoding a certificate makes dozens, and a
 * remembered result must be answered without any of that. */
static atomic_long crypto_allocs;
static bool crypto_counted;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (n == 0)
		return NULL;
	atomic_fetch_add(&crypto_allocs, 1);
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p == NULL)
		return count_malloc(n, file, line);
	if (n == 0) {
		free(p);
		return NULL;
	}
	atomic_fetch_add(&crypto_allocs, 1);
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static void capture(void *ctx, int level, const char *msg)
{
	int n;

	(void)ctx;
	n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "<%d>%s\n", level, msg);
	if (n > 0 && (size_t)n < sizeof(logbuf) - loglen)
		loglen += (size_t)n;
}

static bool logged(const char *s)
{
	return strstr(logbuf, s) != NULL;
}

/* printf into one of a few rotating buffers: arguments for policy(). */
static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static const char *fmt(const char *f, ...)
{
	static char bufs[16][PATH_MAX + 64];
	static unsigned next;
	char *b = bufs[next++ % 16];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static const char *pk(const char *name)
{
	return fmt("%s/%s", pki, name);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	ck_assert_msg(in >= 0, "cannot open %s (is the build complete?)", from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(fchmod(out, mode), 0);
	close(in);
	close(out);
}

/* Replaces to with from's bytes: a new file renamed over it (new inode),
 * or the same file rewritten in place. */
static void replace_file(const char *from, const char *to, bool in_place)
{
	char tmp[PATH_MAX + 16];

	if (in_place) {
		copy_file(from, to, 0644);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", to);
	copy_file(from, tmp, 0644);
	ck_assert_int_eq(rename(tmp, to), 0);
}

/* The input bytes a test sends. */
struct blob {
	unsigned char *data;
	size_t len;
};

static struct blob blob_new(void)
{
	struct blob b = { malloc(BLOB_MAX), 0 };

	ck_assert_ptr_nonnull(b.data);
	return b;
}

static void blob_add(struct blob *b, const void *data, size_t len)
{
	ck_assert_uint_le(b->len + len, BLOB_MAX);
	memmove(b->data + b->len, data, len);
	b->len += len;
}

static void blob_file(struct blob *b, const char *name)
{
	FILE *f = fopen(pk(name), "rb");
	size_t n;

	ck_assert_msg(f != NULL, "%s", pk(name));
	n = fread(b->data + b->len, 1, BLOB_MAX - b->len, f);
	fclose(f);
	b->len += n;
}

/* The PEM files named, in order (NULL-terminated). */
static struct blob pem_chain(const char *first, ...)
{
	struct blob b = blob_new();
	va_list ap;

	va_start(ap, first);
	for (const char *n = first; n != NULL; n = va_arg(ap, const char *))
		blob_file(&b, n);
	va_end(ap);
	return b;
}

static X509 *load_cert(const char *name)
{
	FILE *f = fopen(pk(name), "r");
	X509 *x;

	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	return x;
}

static void blob_der(struct blob *b, const char *name)
{
	X509 *x = load_cert(name);
	unsigned char *p = b->data + b->len;
	int n = i2d_X509(x, &p);

	ck_assert_int_gt(n, 0);
	b->len += (size_t)n;
	X509_free(x);
}

/* A certificate's SHA-256 as 64 lowercase hex digits. */
static void sha256_hex(const char *name, char hex[65])
{
	X509 *x = load_cert(name);
	unsigned char md[32];
	unsigned int n = 0;

	ck_assert(X509_digest(x, EVP_sha256(), md, &n));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	X509_free(x);
}

/* The "mtls" service's policy: one required mtls step with these <arg>s
 * (NULL-terminated). */
static void policy(const char *first, ...)
{
	char path[PATH_MAX * 2];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mtls.xml", policy_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "<policy xmlns=\"urn:latchkey:policy:1\" service=\"mtls\" environment=\"prod\">"
	           "<stack><step plugin=\"mtls\" control=\"required\">");
	va_start(ap, first);
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
		fprintf(f, "<arg>%s</arg>", a);
	va_end(ap);
	fprintf(f, "</step></stack></policy>\n");
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

static long long decisions(void)
{
	return tk_count(e.store->db, "SELECT count(*) FROM audit WHERE action = 'auth.decision'");
}

/* One request with these inputs at now; exactly one decision row unless
 * it ended in a prompt (then none). */
static void run(const char *user, const struct lk_plugin_input *in, size_t n_in, int64_t now,
                struct lk_auth_result *res)
{
	struct lk_err err = { { 0 } };
	struct lk_auth_request req = {
		.service = "mtls",
		.user = user,
		.rhost = "192.0.2.10",
		.inputs = in,
		.n_inputs = n_in,
		.actor = 33,
	};
	long long before = decisions();

	ck_assert_msg(lk_engine_authenticate(engine, &req, now, res, &err) == LK_OK, "%s", err.msg);
	ck_assert_int_eq(decisions(), before + (res->need_input ? 0 : 1));
}

static void run_blob(const char *user, const struct blob *b, int64_t now,
                     struct lk_auth_result *res)
{
	struct lk_plugin_input in = { LK_INPUT_CLIENT_CERT, (const char *)b->data, b->len };

	run(user, &in, 1, now, res);
}

/* The newest decision row's reason for the mtls step and its kid. */
static void last_step(char *reason, size_t len, char *kid, size_t kid_len)
{
	sqlite3_stmt *st;
	const char *detail, *p;

	ck_assert_int_eq(sqlite3_prepare_v2(e.store->db,
	                                    "SELECT detail, kid FROM audit WHERE action ="
	                                    " 'auth.decision' ORDER BY seq DESC LIMIT 1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	detail = (const char *)sqlite3_column_text(st, 0);
	p = strstr(detail, "steps=mtls:");
	ck_assert_ptr_nonnull(p);
	p += strlen("steps=mtls:");
	snprintf(reason, len, "%.*s", (int)strcspn(p, ", "), p);
	snprintf(kid, kid_len, "%s",
	         sqlite3_column_text(st, 1) != NULL ? (const char *)sqlite3_column_text(st, 1)
	                                            : "");
	sqlite3_finalize(st);
}

/* The step and the decision both say reason: a success for "ok" and
 * "ok-*", else anything but a success. */
static void assert_outcome(const struct lk_auth_result *res, const char *reason)
{
	char step[64], kid[64];

	last_step(step, sizeof(step), kid, sizeof(kid));
	ck_assert_str_eq(step, reason);
	if (strncmp(reason, "ok", 2) == 0) {
		ck_assert_int_eq(res->pam_code, PAM_SUCCESS);
		ck_assert_str_eq(res->reason, "ok");
		ck_assert_uint_eq(res->factors, LK_FACTOR_CLIENT_CERT);
	} else {
		ck_assert_int_ne(res->pam_code, PAM_SUCCESS);
		ck_assert_str_eq(res->reason, reason);
		ck_assert_str_eq(res->principal, "");
	}
}

/* The newest decision row names leaf: its SHA-256, first 24 hex digits,
 * lowercase (what the engine compares with its own reading of the leaf),
 * and so does a success's res; no certificate at all when leaf is NULL. */
static void assert_credential(const struct lk_auth_result *res, const char *leaf)
{
	char step[64], kid[64], hex[65] = "";

	if (leaf != NULL)
		sha256_hex(leaf, hex);
	hex[24] = '\0';
	last_step(step, sizeof(step), kid, sizeof(kid));
	ck_assert_str_eq(kid, hex);
	if (res->pam_code == PAM_SUCCESS)
		ck_assert_str_eq(res->credential, hex);
}

/* Sends the PEM chain of the files named at now and expects reason. */
static void expect_at(int64_t now, const char *reason, const char *first, ...)
{
	struct blob b = blob_new();
	struct lk_auth_result res;
	va_list ap;

	va_start(ap, first);
	for (const char *n = first; n != NULL; n = va_arg(ap, const char *))
		blob_file(&b, n);
	va_end(ap);
	run_blob(NULL, &b, now, &res);
	assert_outcome(&res, reason);
	free(b.data);
}

#define expect(reason, ...) expect_at(TK_NOW, reason, __VA_ARGS__, NULL)

/* Sends the chain and expects a success for principal. */
static void expect_principal_(const char *principal, const char *first, ...)
{
	struct blob b = blob_new();
	struct lk_auth_result res;
	va_list ap;

	va_start(ap, first);
	for (const char *n = first; n != NULL; n = va_arg(ap, const char *))
		blob_file(&b, n);
	va_end(ap);
	run_blob(NULL, &b, TK_NOW, &res);
	ck_assert_int_eq(res.pam_code, PAM_SUCCESS);
	ck_assert_str_eq(res.reason, "ok");
	ck_assert_str_eq(res.principal, principal);
	ck_assert_uint_eq(res.factors, LK_FACTOR_CLIENT_CERT);
	free(b.data);
}

#define expect_principal(principal, ...) expect_principal_(principal, __VA_ARGS__, NULL)

static void reload(void)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_engine_reload(engine, TK_ACTOR, &err) == LK_OK, "%s", err.msg);
}

static void setup(void)
{
	struct lk_err err = { { 0 } };
	const char *dir = getenv("LK_MTLS_PLUGIN_DIR");
	char from[PATH_MAX], to[PATH_MAX * 2];

	tk_setup(&e);
	snprintf(plugin_dir, sizeof(plugin_dir), "%s/plugins", e.dir);
	snprintf(policy_dir, sizeof(policy_dir), "%s/policies", e.dir);
	ck_assert_int_eq(mkdir(plugin_dir, 0700), 0);
	ck_assert_msg(dir != NULL, "LK_MTLS_PLUGIN_DIR is not set (run through make check)");
	snprintf(from, sizeof(from), "%s/mtls.so", dir);
	snprintf(to, sizeof(to), "%s/mtls.so", plugin_dir);
	copy_file(from, to, 0644);
	ck_assert_msg(lk_engine_new(e.store, policy_dir, plugin_dir, &engine, &err) == LK_OK, "%s",
	              err.msg);
	loglen = 0;
	logbuf[0] = '\0';
	lk_engine_set_log(engine, capture, NULL);
	fake_time = TK_NOW;
	fake_loglen = 0;
	fake_logbuf[0] = '\0';
	fake_cached = 0;
}

static void teardown(void)
{
	/* MTLS_DUMP=1: every test's log lines on stderr, to read them. */
	if (getenv("MTLS_DUMP") != NULL)
		fputs(logbuf, stderr);
	lk_engine_free(engine);
	engine = NULL;
	tk_teardown(&e);
}

/* The usual trust: root as anchor, the chain sent as leaf + int. */
#define CA_ROOT fmt("ca=%s", pk("root.pem"))
#define MAP_URI "map=san-uri:spiffe://example.org/user/{}"

/* ---- accepted chains --------------------------------------------------- */

START_TEST(test_ok_pem_chain)
{
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_auth_result res;
	char hex[65], step[64], kid[64];

	policy(CA_ROOT, MAP_URI, NULL);
	run_blob("alice", &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	ck_assert_str_eq(res.principal, "alice");
	/* The audit row names the certificate: its SHA-256, 24 hex digits. */
	sha256_hex("alice.pem", hex);
	hex[24] = '\0';
	ck_assert_str_eq(res.credential, hex);
	last_step(step, sizeof(step), kid, sizeof(kid));
	ck_assert_str_eq(kid, hex);
	free(b.data);
}
END_TEST

START_TEST(test_ok_der_chain)
{
	struct blob b = blob_new();
	struct lk_auth_result res;

	policy(CA_ROOT, MAP_URI, NULL);
	blob_der(&b, "alice.pem");
	blob_der(&b, "int.pem");
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	ck_assert_str_eq(res.principal, "alice");
	free(b.data);
}
END_TEST

START_TEST(test_ok_crlf_and_whitespace)
{
	struct blob pem = pem_chain("alice.pem", "int.pem", NULL), b = blob_new();
	struct lk_auth_result res;

	/* As a web server's header may carry it: CRLF line ends, blank
	 * lines and indentation around the blocks. */
	blob_add(&b, "\r\n  ", 4);
	for (size_t i = 0; i < pem.len; i++)
		blob_add(&b, pem.data[i] == '\n' ? "\r\n" : (const char *)&pem.data[i],
		         pem.data[i] == '\n' ? 2 : 1);
	blob_add(&b, "\t\r\n", 3);
	policy(CA_ROOT, MAP_URI, NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	free(pem.data);
	free(b.data);
}
END_TEST

START_TEST(test_ok_intermediate_as_anchor)
{
	/* ca= names what is trusted, an intermediate included. */
	policy(fmt("ca=%s", pk("int.pem")), MAP_URI, NULL);
	expect("ok", "alice.pem");
}
END_TEST

START_TEST(test_ok_ca_dir)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/cadir", e.dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	/* Only *.pem and *.crt are read: the rest is not a certificate. */
	copy_file(pk("otherroot.pem"), fmt("%s/other.pem", dir), 0644);
	copy_file(pk("alice.key"), fmt("%s/README.txt", dir), 0644);
	policy(fmt("ca-dir=%s", dir), MAP_URI, NULL);
	expect("unknown-ca", "alice.pem", "int.pem");
	copy_file(pk("root.pem"), fmt("%s/root.crt", dir), 0644);
	expect("ok", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_ok_der_anchor)
{
	char path[PATH_MAX + 16];
	X509 *x = load_cert("root.pem");
	FILE *f;

	snprintf(path, sizeof(path), "%s/root.der", e.dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert(i2d_X509_fp(f, x));
	fclose(f);
	X509_free(x);
	policy(fmt("ca=%s", path), MAP_URI, NULL);
	expect("ok", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_ok_ed25519_leaf)
{
	policy(CA_ROOT, "map=cn", NULL);
	expect_principal("ed", "ed.pem", "int.pem");
}
END_TEST

/* ---- no certificate, prompts ------------------------------------------ */

START_TEST(test_no_cert)
{
	struct lk_auth_result res;

	policy(CA_ROOT, MAP_URI, NULL);
	run("alice", NULL, 0, TK_NOW, &res);
	assert_outcome(&res, "no-cert");
}
END_TEST

START_TEST(test_prompt_default)
{
	struct lk_auth_result res;

	policy(CA_ROOT, MAP_URI, "prompt", NULL);
	run("alice", NULL, 0, TK_NOW, &res);
	ck_assert(res.need_input);
	ck_assert_int_eq(res.pam_code, PAM_INCOMPLETE);
	ck_assert_str_eq(res.prompt_input, "client_cert");
	ck_assert_str_eq(res.prompt_text, "Client certificate (PEM): ");
	ck_assert_int_eq(res.prompt_echo, 1);
}
END_TEST

START_TEST(test_prompt_text)
{
	struct lk_auth_result res;

	policy(CA_ROOT, MAP_URI, "prompt=Paste your certificate: ", NULL);
	run("alice", NULL, 0, TK_NOW, &res);
	ck_assert(res.need_input);
	ck_assert_str_eq(res.prompt_text, "Paste your certificate: ");
}
END_TEST

/* ---- chain verification ------------------------------------------------ */

START_TEST(test_unknown_ca)
{
	policy(CA_ROOT, MAP_URI, NULL);
	expect("unknown-ca", "otherleaf.pem", "otherroot.pem");
}
END_TEST

START_TEST(test_missing_intermediate)
{
	policy(CA_ROOT, MAP_URI, NULL);
	expect("unknown-ca", "alice.pem");
}
END_TEST

START_TEST(test_self_signed_leaf)
{
	policy(CA_ROOT, "map=cn", NULL);
	expect("unknown-ca", "self.pem");
}
END_TEST

START_TEST(test_expired)
{
	char step[64], kid[64], hex[65];

	policy(CA_ROOT, "map=cn", NULL);
	expect("expired", "expired.pem", "int.pem");
	/* A refusal names the certificate too. */
	last_step(step, sizeof(step), kid, sizeof(kid));
	sha256_hex("expired.pem", hex);
	hex[24] = '\0';
	ck_assert_str_eq(kid, hex);
	ck_assert(logged("mtls: expired: certificate "));
	ck_assert(logged("(CN expired)"));
}
END_TEST

START_TEST(test_not_yet_valid)
{
	policy(CA_ROOT, "map=cn", NULL);
	expect("not-yet-valid", "future.pem", "int.pem");
}
END_TEST

START_TEST(test_server_eku)
{
	policy(CA_ROOT, "map=cn", NULL);
	expect("bad-eku", "server.pem", "int.pem");
}
END_TEST

START_TEST(test_no_eku)
{
	policy(CA_ROOT, MAP_URI, NULL);
	expect("bad-eku", "noeku.pem", "int.pem");
}
END_TEST

START_TEST(test_weak_rsa_leaf)
{
	policy(CA_ROOT, "map=cn", NULL);
	expect("weak-key", "weak.pem", "int.pem");
	/* min-rsa-bits=1024 lets it through. */
	policy(CA_ROOT, "map=cn", "min-rsa-bits=1024", NULL);
	expect_principal("weak", "weak.pem", "int.pem");
	policy(CA_ROOT, MAP_URI, "min-rsa-bits=3072", NULL);
	expect("weak-key", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_weak_ec_intermediate)
{
	/* P-256 intermediate, RSA-2048 leaf: min-ec-bits covers the chain. */
	policy(CA_ROOT, MAP_URI, "min-ec-bits=384", NULL);
	expect("weak-key", "alice.pem", "int.pem");
	ck_assert(logged("at depth 1"));
}
END_TEST

START_TEST(test_weak_anchor)
{
	/* The anchor itself (int, P-256) is held to min-ec-bits; the
	 * Ed25519 leaf is not an EC key. */
	policy(fmt("ca=%s", pk("int.pem")), "map=cn", "min-ec-bits=384", NULL);
	expect("weak-key", "ed.pem");
	ck_assert(logged("at depth 1"));
}
END_TEST

START_TEST(test_sha1_signature)
{
	policy(CA_ROOT, "map=cn", NULL);
	expect("bad-signature-algorithm", "sha1.pem", "int.pem");
}
END_TEST

START_TEST(test_sig_algs)
{
	/* int is signed with SHA-384, the leaves with SHA-256 unless named. */
	policy(CA_ROOT, "map=cn", "sig-algs=sha256", NULL);
	expect("bad-signature-algorithm", "alice.pem", "int.pem");
	ck_assert(logged("at depth 1"));
	policy(CA_ROOT, "map=cn", "sig-algs=sha384", NULL);
	expect("bad-signature-algorithm", "alice.pem", "int.pem");
	expect_principal("sha384", "sha384.pem", "int.pem");
	policy(CA_ROOT, "map=cn", "sig-algs=sha256,sha384", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_bad_signature)
{
	struct blob der = blob_new();
	struct lk_auth_result res;

	/* alice's DER with the last byte of the signature changed. */
	blob_der(&der, "alice.pem");
	der.data[der.len - 1] ^= 0x01;
	blob_der(&der, "int.pem");
	policy(CA_ROOT, MAP_URI, NULL);
	run_blob(NULL, &der, TK_NOW, &res);
	assert_outcome(&res, "bad-signature");
	free(der.data);
}
END_TEST

START_TEST(test_path_too_long)
{
	/* Five intermediates; max-depth 4 by default. */
	policy(CA_ROOT, MAP_URI, NULL);
	expect("path-too-long", "deepleaf.pem", "deep5.pem", "deep4.pem", "deep3.pem", "deep2.pem",
	       "deep1.pem");
	policy(CA_ROOT, MAP_URI, "max-depth=5", NULL);
	expect("ok", "deepleaf.pem", "deep5.pem", "deep4.pem", "deep3.pem", "deep2.pem",
	       "deep1.pem");
}
END_TEST

START_TEST(test_max_depth)
{
	policy(CA_ROOT, MAP_URI, "max-depth=0", NULL);
	expect("path-too-long", "alice.pem", "int.pem");
	policy(CA_ROOT, MAP_URI, "max-depth=1", NULL);
	expect("ok", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_pathlen_constraint)
{
	/* int has pathlen:0, so the CA under it cannot issue. */
	policy(CA_ROOT, MAP_URI, NULL);
	expect("path-too-long", "subleaf.pem", "sub.pem", "int.pem");
}
END_TEST

/* ---- validity edges (skew) --------------------------------------------- */

START_TEST(test_skew_not_before)
{
	policy(CA_ROOT, MAP_URI, NULL);
	expect_at(LEAF_NOT_BEFORE - 300, "ok", "alice.pem", "int.pem", NULL);
	expect_at(LEAF_NOT_BEFORE - 301, "not-yet-valid", "alice.pem", "int.pem", NULL);
	policy(CA_ROOT, MAP_URI, "skew=0", NULL);
	expect_at(LEAF_NOT_BEFORE, "ok", "alice.pem", "int.pem", NULL);
	expect_at(LEAF_NOT_BEFORE - 1, "not-yet-valid", "alice.pem", "int.pem", NULL);
}
END_TEST

START_TEST(test_skew_not_after)
{
	policy(CA_ROOT, MAP_URI, NULL);
	expect_at(LEAF_NOT_AFTER + 300, "ok", "alice.pem", "int.pem", NULL);
	expect_at(LEAF_NOT_AFTER + 301, "expired", "alice.pem", "int.pem", NULL);
	policy(CA_ROOT, MAP_URI, "skew=0", NULL);
	expect_at(LEAF_NOT_AFTER, "ok", "alice.pem", "int.pem", NULL);
	expect_at(LEAF_NOT_AFTER + 1, "expired", "alice.pem", "int.pem", NULL);
	policy(CA_ROOT, MAP_URI, "skew=1h", NULL);
	expect_at(LEAF_NOT_AFTER + 3600, "ok", "alice.pem", "int.pem", NULL);
	expect_at(LEAF_NOT_AFTER + 3601, "expired", "alice.pem", "int.pem", NULL);
}
END_TEST

/* ---- revocation ------------------------------------------------------- */

START_TEST(test_crl_ok)
{
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")), NULL);
	expect("ok", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_revoked)
{
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int.pem")), NULL);
	expect("revoked", "revoked.pem", "int.pem");
	/* Soft-fail is about CRLs that cannot be used, not about this. */
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int.pem")), "crl-soft-fail", NULL);
	expect("revoked", "revoked.pem", "int.pem");
}
END_TEST

START_TEST(test_revoked_der_crl)
{
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int.der")), NULL);
	expect("revoked", "revoked.pem", "int.pem");
}
END_TEST

START_TEST(test_revoked_by_stale_crl)
{
	/* A stale CRL still proves a revocation. */
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int-stale.pem")), "crl-soft-fail", NULL);
	expect("revoked", "revoked.pem", "int.pem");
	expect("ok-crl-stale", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_crl_stale)
{
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int-stale.pem")), NULL);
	expect("crl-stale", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_crl_too_old)
{
	/* thisUpdate 8 days ago: older than the default 7d. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int-old.pem")), NULL);
	expect("crl-stale", "alice.pem", "int.pem");
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int-old.pem")), "crl-max-age=9d", NULL);
	expect("ok", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_crl_soft_fail)
{
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int-stale.pem")), "crl-soft-fail", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
	/* The success says it had no current CRL, in the audit row and log. */
	expect("ok-crl-stale", "alice.pem", "int.pem");
	ck_assert(logged("<4>plugin: mtls: ok-crl-stale: certificate "));
}
END_TEST

START_TEST(test_crl_missing_for_issuer)
{
	/* A CRL, but not from alice's issuer. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-other.pem")), NULL);
	expect("crl-stale", "alice.pem", "int.pem");
	/* No CRL at all for the issuer is what crl-soft-fail is for. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-other.pem")), "crl-soft-fail", NULL);
	expect("ok-crl-stale", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_crl_unreadable)
{
	policy(CA_ROOT, MAP_URI, fmt("crl=%s/nonexistent.crl", e.dir), NULL);
	expect("crl-stale", "alice.pem", "int.pem");
	/* A crl= file that cannot be used is a mistake in the setup, not a
	 * CRL that aged: crl-soft-fail does not turn revocation off. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s/nonexistent.crl", e.dir), "crl-soft-fail", NULL);
	expect("crl-stale", "alice.pem", "int.pem");
	ck_assert(logged("cannot be used"));
	/* Even when another crl= covers the issuer: which CA the broken file
	 * was for is unknown. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")),
	       fmt("crl=%s/nonexistent.crl", e.dir), "crl-soft-fail", NULL);
	expect("crl-stale", "alice.pem", "int.pem");
}
END_TEST

/* crl= files that cannot be used, each made from crl-int.pem (which lists
 * revoked) at path. */
static void crl_missing(const char *path)
{
	(void)path;
}

static void crl_group_writable(const char *path)
{
	copy_file(pk("crl-int.pem"), path, 0664);
}

static void crl_too_big(const char *path)
{
	/* 16 MiB + 1: the host refuses it before reading. */
	copy_file(pk("crl-int.pem"), path, 0644);
	ck_assert_int_eq(truncate(path, 16 * 1024 * 1024 + 1), 0);
}

static void crl_bad_block(const char *path)
{
	char buf[8192];
	FILE *in = fopen(pk("crl-int.pem"), "r"), *out;
	size_t n;

	/* The good CRL, then a copy of it whose base64 is broken. */
	ck_assert_ptr_nonnull(in);
	n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	ck_assert_uint_gt(n, 100);
	copy_file(pk("crl-int.pem"), path, 0644);
	out = fopen(path, "a");
	ck_assert_ptr_nonnull(out);
	buf[60] = '*';
	ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	ck_assert_int_eq(fclose(out), 0);
}

static void crl_not_a_crl(const char *path)
{
	copy_file(pk("root.pem"), path, 0644);
}

static void crl_empty(const char *path)
{
	copy_file(pk("crl-int.pem"), path, 0644);
	ck_assert_int_eq(truncate(path, 0), 0);
}

static void (*const crl_unusable[])(const char *path) = {
	crl_missing, crl_group_writable, crl_too_big, crl_bad_block, crl_not_a_crl, crl_empty,
};

START_TEST(test_crl_unusable_soft_fail)
{
	char crl[PATH_MAX + 16];

	snprintf(crl, sizeof(crl), "%s/unusable.crl", e.dir);
	crl_unusable[_i](crl);
	policy(CA_ROOT, "map=cn", fmt("crl=%s", crl), "crl-soft-fail", NULL);
	expect("crl-stale", "alice.pem", "int.pem");
	/* What the file would list is not skipped. */
	expect("crl-stale", "revoked.pem", "int.pem");
	ck_assert(logged("crl-soft-fail does not cover"));
}
END_TEST

START_TEST(test_crl_soft_fail_by_time)
{
	/* Soft-fail covers CRLs that parsed and are out of their dates. */
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int-old.pem")), "crl-soft-fail", NULL);
	expect("ok-crl-stale", "alice.pem", "int.pem");
	ck_assert(logged("thisUpdate older than crl-max-age"));
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int.pem")), "crl-soft-fail", NULL);
	expect_at(CRL_THIS - 301, "ok-crl-stale", "alice.pem", "int.pem", NULL);
	ck_assert(logged("thisUpdate in the future"));
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int.pem")), "crl-max-age=30d",
	       "crl-soft-fail", NULL);
	expect_at(CRL_NEXT + 301, "ok-crl-stale", "alice.pem", "int.pem", NULL);
	ck_assert(logged("nextUpdate passed"));
	/* A stale CRL still lists what it lists. */
	expect_at(CRL_NEXT + 301, "revoked", "revoked.pem", "int.pem", NULL);
}
END_TEST

START_TEST(test_crl_check_chain)
{
	/* chain: int needs root's CRL too. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")), "crl-check=chain", NULL);
	expect("crl-stale", "alice.pem", "int.pem");
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")),
	       fmt("crl=%s", pk("crl-root.pem")), "crl-check=chain", NULL);
	expect("ok", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_crl_revoked_intermediate)
{
	/* root revoked int2: only crl-check=chain looks at int2. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int2.pem")),
	       fmt("crl=%s", pk("crl-root.pem")), NULL);
	expect("ok", "int2leaf.pem", "int2.pem");
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int2.pem")),
	       fmt("crl=%s", pk("crl-root.pem")), "crl-check=chain", NULL);
	expect("revoked", "int2leaf.pem", "int2.pem");
}
END_TEST

START_TEST(test_crl_next_update_edge)
{
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")), "crl-max-age=30d", NULL);
	expect_at(CRL_NEXT + 300, "ok", "alice.pem", "int.pem", NULL);
	expect_at(CRL_NEXT + 301, "crl-stale", "alice.pem", "int.pem", NULL);
}
END_TEST

START_TEST(test_crl_max_age_edge)
{
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")), "crl-max-age=1d", NULL);
	expect_at(CRL_THIS + DAY, "ok", "alice.pem", "int.pem", NULL);
	expect_at(CRL_THIS + DAY + 1, "crl-stale", "alice.pem", "int.pem", NULL);
}
END_TEST

START_TEST(test_crl_this_update_future_edge)
{
	/* A CRL from the future (a clock behind) counts within skew only. */
	policy(CA_ROOT, MAP_URI, fmt("crl=%s", pk("crl-int.pem")), NULL);
	expect_at(CRL_THIS - 300, "ok", "alice.pem", "int.pem", NULL);
	expect_at(CRL_THIS - 301, "crl-stale", "alice.pem", "int.pem", NULL);
}
END_TEST

/* _i: 0 the plugin loaded per request, 1 loaded once (the daemon), so the
 * plugin's cache is in play. */
START_TEST(test_crl_replaced)
{
	char crl[PATH_MAX + 16];

	snprintf(crl, sizeof(crl), "%s/current.crl", e.dir);
	copy_file(pk("crl-int-empty.pem"), crl, 0644);
	policy(CA_ROOT, "map=cn", fmt("crl=%s", crl), NULL);
	if (_i == 1)
		reload();
	expect_principal("revoked", "revoked.pem", "int.pem");
	expect_principal("revoked", "revoked.pem", "int.pem");
	/* The very next request sees the new CRL, whichever way the file
	 * was replaced. */
	replace_file(pk("crl-int.pem"), crl, false);
	expect("revoked", "revoked.pem", "int.pem");
	replace_file(pk("crl-int-empty.pem"), crl, true);
	expect_principal("revoked", "revoked.pem", "int.pem");
	replace_file(pk("crl-int.pem"), crl, true);
	expect("revoked", "revoked.pem", "int.pem");
}
END_TEST

/* ---- trust files the host refuses -------------------------------------- */

START_TEST(test_ca_group_writable)
{
	char ca[PATH_MAX + 16];
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_auth_result res;

	snprintf(ca, sizeof(ca), "%s/root.pem", e.dir);
	copy_file(pk("root.pem"), ca, 0664);
	policy(fmt("ca=%s", ca), MAP_URI, NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ca-unreadable");
	ck_assert_int_eq(res.pam_code, PAM_AUTHINFO_UNAVAIL);
	ck_assert(logged("unsafe permissions"));
	/* World-writable too, and in the daemon's way (plugin loaded once,
	 * the file cached while it was safe). */
	ck_assert_int_eq(chmod(ca, 0644), 0);
	reload();
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	ck_assert_int_eq(chmod(ca, 0646), 0);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ca-unreadable");
	free(b.data);
}
END_TEST

START_TEST(test_ca_not_a_certificate)
{
	policy(fmt("ca=%s", pk("crl-int.pem")), MAP_URI, NULL);
	expect("ca-unreadable", "alice.pem", "int.pem");
	ck_assert(logged("holds no readable certificate"));
}
END_TEST

START_TEST(test_ca_missing)
{
	policy(fmt("ca=%s/nonexistent.pem", e.dir), MAP_URI, NULL);
	expect("ca-unreadable", "alice.pem", "int.pem");
}
END_TEST

/* ---- malformed input --------------------------------------------------- */

/* A second line of alice.pem (pure base64) and of alice.key: neither may
 * ever reach a log line. */
static void second_line(const char *name, char *out, size_t len)
{
	FILE *f = fopen(pk(name), "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, (int)len, f));
	ck_assert_ptr_nonnull(fgets(out, (int)len, f));
	out[strcspn(out, "\n")] = '\0';
	ck_assert_uint_ge(strlen(out), 40);
	fclose(f);
}

struct bad_input {
	const char *name;
	void (*make)(struct blob *b);
	const char *log; /* what the log line must say */
};

static void make_garbage(struct blob *b)
{
	blob_add(b, "hello, world\n", 13);
}

static void make_huge(struct blob *b)
{
	memset(b->data, 'A', 10485760);
	b->len = 10485760;
}

static void make_hundred(struct blob *b)
{
	for (int i = 0; i < 100; i++)
		blob_file(b, "tiny.der");
}

static void make_eleven(struct blob *b)
{
	for (int i = 0; i < 11; i++)
		blob_file(b, i == 0 ? "alice.pem" : "int.pem");
}

static void make_nul(struct blob *b)
{
	blob_file(b, "alice.pem");
	b->data[17] = '\0';
}

static void make_private_key(struct blob *b)
{
	blob_file(b, "alice.pem");
	blob_file(b, "alice.key");
}

static void make_key_first(struct blob *b)
{
	blob_file(b, "alice.key");
	blob_file(b, "alice.pem");
}

static void make_trailing(struct blob *b)
{
	blob_file(b, "alice.pem");
	blob_add(b, "junk", 4);
}

static void make_leading(struct blob *b)
{
	blob_add(b, "subject=CN = alice\n", 19);
	blob_file(b, "alice.pem");
}

static void make_empty(struct blob *b)
{
	b->len = 0;
}

static void make_blank(struct blob *b)
{
	blob_add(b, " \r\n\t\n", 5);
}

static void make_bad_base64(struct blob *b)
{
	blob_file(b, "alice.pem");
	b->data[100] = '*';
}

static void make_no_end(struct blob *b)
{
	blob_file(b, "alice.pem");
	b->len -= 30;
}

static void make_crl_block(struct blob *b)
{
	blob_file(b, "alice.pem");
	blob_file(b, "crl-int.pem");
}

static void make_der_trailing(struct blob *b)
{
	blob_der(b, "alice.pem");
	blob_add(b, "\x01\x02\x03", 3);
}

static void make_der_truncated(struct blob *b)
{
	blob_der(b, "alice.pem");
	b->len -= 10;
}

static void make_not_x509(struct blob *b)
{
	/* A well-formed DER SEQUENCE that is no certificate. */
	blob_add(b, "\x30\x03\x02\x01\x05", 5);
}

static const struct bad_input bad_inputs[] = {
	{ "garbage", make_garbage, "unexpected text at offset 0 before the first certificate" },
	{ "10 MB", make_huge, "input is 10485760 bytes; at most 32768" },
	{ "100 certificates", make_hundred, "chain has 100 certificates; at most 10" },
	{ "11 certificates", make_eleven, "chain has 11 certificates; at most 10" },
	{ "NUL byte", make_nul, "NUL byte at offset 17" },
	{ "private key after", make_private_key, "a private key block at offset " },
	{ "private key first", make_key_first, "a private key block at offset 0" },
	{ "trailing junk", make_trailing, "unexpected text at offset " },
	{ "leading text", make_leading, "unexpected text at offset 0" },
	{ "empty", make_empty, "empty input" },
	{ "whitespace only", make_blank, "no certificate" },
	{ "bad base64", make_bad_base64, "bad base64 in certificate 1" },
	{ "no END line", make_no_end, "certificate 1 (offset 0) has no END line" },
	{ "CRL block", make_crl_block, "a PEM block labelled X509 CRL at offset " },
	{ "DER trailing bytes", make_der_trailing, "trailing bytes at offset " },
	{ "DER truncated", make_der_truncated, "undecodable DER at offset 0" },
	{ "DER not X.509", make_not_x509, "certificate 1 does not decode as X.509" },
};

START_TEST(test_malformed)
{
	const struct bad_input *bi = &bad_inputs[_i];
	struct blob b = blob_new();
	struct lk_auth_result res;
	char cert_line[128], key_line[128];

	policy(CA_ROOT, MAP_URI, NULL);
	bi->make(&b);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "malformed");
	ck_assert_msg(logged(bi->log), "%s: log lacks '%s':\n%s", bi->name, bi->log, logbuf);
	ck_assert(logged("<4>plugin: mtls: malformed client certificate: "));
	/* What was sent never reaches the log, a private key least of all. */
	second_line("alice.pem", cert_line, sizeof(cert_line));
	second_line("alice.key", key_line, sizeof(key_line));
	ck_assert_msg(!logged(cert_line), "%s: certificate bytes logged", bi->name);
	ck_assert_msg(!logged(key_line), "%s: private key logged", bi->name);
	ck_assert_msg(!logged("MII"), "%s: base64 logged", bi->name);
	free(b.data);
}
END_TEST

START_TEST(test_two_inputs)
{
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_input in[2] = {
		{ LK_INPUT_CLIENT_CERT, (const char *)b.data, b.len },
		{ LK_INPUT_CLIENT_CERT, (const char *)b.data, b.len },
	};
	struct lk_auth_result res;

	policy(CA_ROOT, MAP_URI, NULL);
	run(NULL, in, 2, TK_NOW, &res);
	assert_outcome(&res, "malformed");
	ck_assert(logged("more than one client_cert input"));
	free(b.data);
}
END_TEST

START_TEST(test_ten_certificates)
{
	/* Ten is the limit, not a refusal: the extra copies of int are
	 * untrusted intermediates OpenSSL does not need. */
	struct blob b = blob_new();
	struct lk_auth_result res;

	blob_file(&b, "alice.pem");
	for (int i = 0; i < 9; i++)
		blob_file(&b, "int.pem");
	policy(CA_ROOT, MAP_URI, NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	free(b.data);
}
END_TEST

/* ---- mapping ------------------------------------------------------------ */

START_TEST(test_map_san_uri)
{
	policy(CA_ROOT, "map=san-uri:spiffe://example.org/user/{}", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_map_san_dns)
{
	policy(CA_ROOT, "map=san-dns:{}.clients.example.com", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
	/* DNS names have no case: BOB.Clients.Example.COM is bob. */
	expect_principal("bob", "bob.pem", "int.pem");
}
END_TEST

START_TEST(test_map_san_email)
{
	policy(CA_ROOT, "map=san-email:{}@example.com", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
	/* The domain has no case, the local part keeps its own. */
	expect_principal("Bob", "bob.pem", "int.pem");
}
END_TEST

START_TEST(test_map_cn)
{
	policy(CA_ROOT, "map=cn:{}", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
	policy(CA_ROOT, "map=cn", NULL);
	expect_principal("bob", "bob.pem", "int.pem");
}
END_TEST

START_TEST(test_map_uri_case_sensitive)
{
	policy(CA_ROOT, "map=san-uri:SPIFFE://example.org/user/{}", NULL);
	expect("no-mapping", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_map_first_match)
{
	/* The first rule that matches decides, in policy order. */
	policy(CA_ROOT, "map=san-email:{}@other.example", "map=san-email:{}", "map=cn", NULL);
	expect_principal("alice@example.com", "alice.pem", "int.pem");
	policy(CA_ROOT, "map=san-email:{}@other.example", "map=cn", "map=san-email:{}", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_map_capture_validated)
{
	/* odd: URIs .../user/-rf and .../user/<129 x>, CN .hidden: none is a
	 * principal, so those rules do not match and the email rule does. */
	policy(CA_ROOT, MAP_URI, "map=cn", "map=san-email:{}@example.com", NULL);
	expect_principal("x", "odd.pem", "int.pem");
	policy(CA_ROOT, MAP_URI, "map=cn", NULL);
	expect("no-mapping", "odd.pem", "int.pem");
	/* "user/alice" has a '/', no principal has. */
	policy(CA_ROOT, "map=san-uri:spiffe://example.org/{}", NULL);
	expect("no-mapping", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_map_ambiguous)
{
	/* Two URIs naming alice and mallory: neither is chosen. */
	policy(CA_ROOT, MAP_URI, "map=cn", NULL);
	expect("no-mapping", "amb.pem", "int.pem");
	ck_assert(logged("matches more than one name"));
}
END_TEST

START_TEST(test_no_mapping)
{
	policy(CA_ROOT, "map=san-uri:spiffe://other.example/user/{}", NULL);
	expect("no-mapping", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_user_mismatch)
{
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_auth_result res;
	char step[64], kid[64];

	policy(CA_ROOT, MAP_URI, NULL);
	run_blob("bob", &b, TK_NOW, &res);
	ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
	ck_assert_str_eq(res.reason, "user-mismatch");
	ck_assert_str_eq(res.principal, "");
	/* The step itself succeeded: the engine refused the name. */
	last_step(step, sizeof(step), kid, sizeof(kid));
	ck_assert_str_eq(step, "ok");
	free(b.data);
}
END_TEST

/* ---- pins --------------------------------------------------------------- */

START_TEST(test_pin_only)
{
	char hex[65];

	sha256_hex("self.pem", hex);
	policy(fmt("pin=%s:selfie-user", hex), NULL);
	expect_principal("selfie-user", "self.pem");
	/* Not pinned: as a certificate from a CA nobody trusts. */
	expect("unknown-ca", "alice.pem", "int.pem");
}
END_TEST

START_TEST(test_pin_openssl_fingerprint)
{
	char cmd[PATH_MAX + 64], line[256], *fp;
	FILE *p;

	/* As the man page says to get it: openssl's own output, upper case
	 * with colons ("sha256 Fingerprint=AB:CD:..."). */
	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in '%s'",
	         pk("self.pem"));
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
	ck_assert_int_eq(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	fp = strchr(line, '=');
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(strlen(fp + 1), 95);
	policy(fmt("pin=%s:selfie", fp + 1), NULL);
	expect_principal("selfie", "self.pem");
	/* Colons between some pairs only are no fingerprint: "ABCD:EF:..". */
	memmove(fp + 3, fp + 4, strlen(fp + 4) + 1);
	policy(fmt("pin=%s:selfie", fp + 1), NULL);
	expect("plugin-init-failed", "self.pem");
}
END_TEST

START_TEST(test_pin_only_checks_leaf)
{
	char hex[65];

	/* A pin does not excuse the leaf's own faults. */
	sha256_hex("server.pem", hex);
	policy(fmt("pin=%s:srv", hex), NULL);
	expect("bad-eku", "server.pem");
	sha256_hex("expired.pem", hex);
	policy(fmt("pin=%s:old", hex), NULL);
	expect("expired", "expired.pem");
	sha256_hex("weak.pem", hex);
	policy(fmt("pin=%s:weak", hex), NULL);
	expect("weak-key", "weak.pem");
	sha256_hex("sha1.pem", hex);
	policy(fmt("pin=%s:sha1", hex), NULL);
	expect("bad-signature-algorithm", "sha1.pem");
}
END_TEST

START_TEST(test_pin_with_ca)
{
	char hex[65];

	/* Pins come before map rules; the chain is still verified. */
	sha256_hex("alice.pem", hex);
	policy(CA_ROOT, fmt("pin=%s:admin", hex), MAP_URI, NULL);
	expect_principal("admin", "alice.pem", "int.pem");
	expect_principal("bob", "bob.pem", "int.pem");
	sha256_hex("self.pem", hex);
	policy(CA_ROOT, fmt("pin=%s:selfie", hex), MAP_URI, NULL);
	expect("unknown-ca", "self.pem");
}
END_TEST

START_TEST(test_pin_mismatch)
{
	char hex[65];

	/* alice is pinned to bob's certificate: her own, which the rule
	 * maps to alice, is not accepted for her. */
	sha256_hex("bob.pem", hex);
	policy(CA_ROOT, fmt("pin=%s:alice", hex), MAP_URI, NULL);
	expect("pin-mismatch", "alice.pem", "int.pem");
	expect_principal("alice", "bob.pem", "int.pem");
}
END_TEST

START_TEST(test_pin_case_variant)
{
	char hex[65];

	/* A san-email capture keeps its case: ALICE@example.com is ALICE. */
	policy(CA_ROOT, "map=san-email:{}@example.com", NULL);
	expect_principal("ALICE", "upper.pem", "int.pem");
	/* alice is pinned, and a case-insensitive user database (SSSD) takes
	 * ALICE for alice: ALICE has alice's pins. */
	sha256_hex("bob.pem", hex);
	policy(CA_ROOT, fmt("pin=%s:alice", hex), "map=san-email:{}@example.com", NULL);
	expect("pin-mismatch", "upper.pem", "int.pem");
	ck_assert(logged("names ALICE, whose pins do not include this certificate"));
	policy(CA_ROOT, fmt("pin=%s:alice", hex), "map=cn", NULL);
	expect("pin-mismatch", "upper.pem", "int.pem");
	policy(CA_ROOT, fmt("pin=%s:alice", hex), MAP_URI, NULL);
	expect("pin-mismatch", "upper.pem", "int.pem");
	/* The other way round, and in between. */
	policy(CA_ROOT, fmt("pin=%s:ALICE", hex), MAP_URI, NULL);
	expect("pin-mismatch", "alice.pem", "int.pem");
	policy(CA_ROOT, fmt("pin=%s:aLiCe", hex), MAP_URI, NULL);
	expect("pin-mismatch", "alice.pem", "int.pem");
	expect("pin-mismatch", "upper.pem", "int.pem");
	/* The pinned certificate is still the pinned principal, as pinned. */
	expect_principal("aLiCe", "bob.pem", "int.pem");
	/* Only case: alicea is someone else. */
	policy(CA_ROOT, fmt("pin=%s:alicea", hex), MAP_URI, NULL);
	expect_principal("alice", "alice.pem", "int.pem");
}
END_TEST

/* ---- the credential ---------------------------------------------------- */

START_TEST(test_credential_every_path)
{
	struct blob b;
	struct lk_auth_result res;
	char hex[65], bob[65];

	/* Map mode: a success and denials after the leaf parsed. */
	policy(CA_ROOT, MAP_URI, NULL);
	b = pem_chain("alice.pem", "int.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	assert_credential(&res, "alice.pem");
	free(b.data);
	b = pem_chain("otherleaf.pem", "otherroot.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "unknown-ca");
	assert_credential(&res, "otherleaf.pem");
	free(b.data);
	b = pem_chain("ed.pem", "int.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "no-mapping");
	assert_credential(&res, "ed.pem");
	free(b.data);
	sha256_hex("bob.pem", bob);
	policy(CA_ROOT, fmt("pin=%s:alice", bob), MAP_URI, NULL);
	b = pem_chain("alice.pem", "int.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "pin-mismatch");
	assert_credential(&res, "alice.pem");
	free(b.data);
	/* A pin in map mode. */
	b = pem_chain("bob.pem", "int.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	ck_assert_str_eq(res.principal, "alice");
	assert_credential(&res, "bob.pem");
	free(b.data);
	/* Revocation, hard and soft. */
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int-stale.pem")), "crl-soft-fail", NULL);
	b = pem_chain("revoked.pem", "int.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "revoked");
	assert_credential(&res, "revoked.pem");
	free(b.data);
	b = pem_chain("alice.pem", "int.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok-crl-stale");
	assert_credential(&res, "alice.pem");
	policy(CA_ROOT, "map=cn", fmt("crl=%s", pk("crl-int-stale.pem")), NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "crl-stale");
	assert_credential(&res, "alice.pem");
	/* Trust files that cannot be read. */
	policy(fmt("ca=%s/nonexistent.pem", e.dir), MAP_URI, NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ca-unreadable");
	assert_credential(&res, "alice.pem");
	/* Pin-only mode. */
	sha256_hex("self.pem", hex);
	policy(fmt("pin=%s:selfie", hex), NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "unknown-ca");
	assert_credential(&res, "alice.pem");
	free(b.data);
	b = pem_chain("self.pem", NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	assert_credential(&res, "self.pem");
	free(b.data);
	/* Nothing parsed, nothing named. */
	b = blob_new();
	blob_add(&b, "hello\n", 6);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "malformed");
	assert_credential(&res, NULL);
	free(b.data);
}
END_TEST

/* ---- policy arguments ---------------------------------------------------- */

struct bad_args {
	const char *args[4];
	const char *log;
	/* Refused already when the policy loads (core/policy.c checks the
	 * names and forms of mtls arguments), so the service denies with
	 * policy-invalid and the step never runs. */
	bool at_load;
};

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const struct bad_args bad_args[] = {
	{ { "@ca", MAP_URI, "frobnicate=1" }, "unknown mtls argument \"frobnicate=1\"", true },
	{ { "ca=relative/root.pem", MAP_URI },
	  "bad mtls argument \"ca=relative/root.pem\": the file must be an absolute path",
	  true },
	{ { "ca=/etc/../root.pem", MAP_URI }, "has a '..' component" },
	{ { "@ca", MAP_URI, "@crl", "crl-max-age=7x" }, "bad crl-max-age '7x'" },
	{ { "@ca", MAP_URI, "skew=3601" }, "bad skew '3601'" },
	{ { "@ca" }, "no map= or pin= rule" },
	{ { MAP_URI }, "map= rules need ca= or ca-dir=" },
	{ { "@ca", "map=san-uri:spiffe://example.org/user" }, "bad map pattern" },
	{ { "@ca", "map=cn:{}{}" }, "bad map pattern" },
	{ { "@ca", "map=san-ip:{}" }, "map= takes san-uri:, san-dns:, san-email: or cn:", true },
	{ { "pin=abcd:alice" }, "bad pin" },
	{ { "pin=" HEX64 ":-alice" }, "bad pin" },
	{ { "pin=" HEX64 ":a", "pin=" HEX64 ":b" }, "pinned twice" },
	{ { "@ca", MAP_URI, "sig-algs=sha256,sha1" }, "bad sig-algs" },
	{ { "@ca", MAP_URI, "min-rsa-bits=512" }, "bad min-rsa-bits '512'" },
	{ { "@ca", MAP_URI, "min-ec-bits=abc" }, "bad min-ec-bits 'abc'" },
	{ { "@ca", MAP_URI, "max-depth=9" }, "bad max-depth '9'" },
	{ { "@ca", MAP_URI, "crl-check=leaf" }, "need crl=" },
	{ { "@ca", MAP_URI, "@crl", "crl-check=all" }, "bad crl-check 'all'" },
	{ { "@ca", MAP_URI, "skew=1", "skew=2" }, "skew given twice" },
	{ { "pin=" HEX64 ":a", "@crl" }, "crl= needs ca= or ca-dir=" },
	{ { "@ca", MAP_URI, "@crl", "crl-soft-fail=yes" },
	  "unknown mtls argument \"crl-soft-fail=yes\"",
	  true },
	{ { "@ca", MAP_URI, "eku=serverAuth" }, "bad eku 'serverAuth'" },
	{ { "@ca", MAP_URI, "prompt=" }, "unknown mtls argument \"prompt=\"", true },
};

START_TEST(test_bad_args)
{
	const struct bad_args *ba = &bad_args[_i];
	const char *a[4] = { NULL };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_auth_result res;

	for (int i = 0; i < 4 && ba->args[i] != NULL; i++)
		a[i] = strcmp(ba->args[i], "@ca") == 0    ? CA_ROOT
		       : strcmp(ba->args[i], "@crl") == 0 ? fmt("crl=%s", pk("crl-int.pem"))
		                                          : ba->args[i];
	policy(a[0], a[1], a[2], a[3], NULL);
	run_blob(NULL, &b, TK_NOW, &res);
	if (ba->at_load) {
		ck_assert_int_eq(res.pam_code, PAM_AUTH_ERR);
		ck_assert_str_eq(res.reason, "policy-invalid");
	} else {
		assert_outcome(&res, "plugin-init-failed");
	}
	ck_assert_msg(logged(ba->log), "log lacks '%s':\n%s", ba->log, logbuf);
	free(b.data);
}
END_TEST

START_TEST(test_good_args)
{
	char hex[65];

	/* Every argument at once, in its accepted forms. */
	sha256_hex("bob.pem", hex);
	policy(CA_ROOT, fmt("crl=%s", pk("crl-int.pem")), fmt("crl=%s", pk("crl-root.pem")),
	       "crl-check=chain", "crl-max-age=86400", "crl-soft-fail", "skew=5m",
	       "min-rsa-bits=2048", "min-ec-bits=256", "sig-algs=sha256,sha384,ed25519",
	       "max-depth=2", "eku=clientAuth", "prompt", fmt("pin=%s:bobby", hex), MAP_URI,
	       "map=cn", NULL);
	expect_principal("alice", "alice.pem", "int.pem");
	expect_principal("bobby", "bob.pem", "int.pem");
}
END_TEST

/* ---- the plugin on its own ------------------------------------------------ */

/* A host for calling the plugin directly, as an engine would: files read
 * with plain I/O, counted, so the cache can be watched; its clock is
 * fake_time (TK_NOW unless a test moves it); its log lines are kept, and
 * those that say a remembered result answered are counted. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static int fake_reads;
static pthread_mutex_t fake_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void fake_log(void *ctx, int level, const char *f, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	(void)ctx;
	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	pthread_mutex_lock(&fake_log_lock);
	if (strstr(msg, ", cached)") != NULL)
		fake_cached++;
	n = snprintf(fake_logbuf + fake_loglen, sizeof(fake_logbuf) - fake_loglen, "<%d>%s\n",
	             level, msg);
	if (n > 0 && (size_t)n < sizeof(fake_logbuf) - fake_loglen)
		fake_loglen += (size_t)n;
	pthread_mutex_unlock(&fake_log_lock);
}

/* How many of the fake host's log lines so far contain s. */
static int fake_logged(const char *s)
{
	int n = 0;

	for (const char *p = fake_logbuf; (p = strstr(p, s)) != NULL; p += strlen(s))
		n++;
	return n;
}

static int fake_now(void *ctx, int64_t *ret)
{
	(void)ctx;
	*ret = fake_time;
	return 0;
}

static int fake_stamp(void *ctx, const char *path, uint64_t *ret)
{
	struct stat st;

	(void)ctx;
	if (stat(path, &st) != 0)
		return -1;
	*ret = (uint64_t)st.st_ino * 1000003u ^ (uint64_t)st.st_size * 7919u ^
	       (uint64_t)st.st_mtim.tv_sec * 1000000000u ^ (uint64_t)st.st_mtim.tv_nsec;
	return 0;
}

static int fake_read(void *ctx, const char *path, size_t max,
                     int (*cb)(void *, const unsigned char *, size_t, uint64_t), void *cb_ctx)
{
	static unsigned char buf[1 << 20];
	uint64_t stamp;
	FILE *f;
	size_t n;
	int r;

	pthread_mutex_lock(&fake_lock);
	fake_reads++;
	f = fopen(path, "rb");
	if (f == NULL || fake_stamp(ctx, path, &stamp) != 0) {
		if (f != NULL)
			fclose(f);
		pthread_mutex_unlock(&fake_lock);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	r = n <= max ? cb(cb_ctx, buf, n, stamp) : -1;
	pthread_mutex_unlock(&fake_lock);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* As the engine's: regular files (links followed), no dot files, in byte
 * order. */
static int fake_list(void *ctx, const char *path, int (*cb)(void *, const char *), void *cb_ctx)
{
	static char *names[1024];
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d;
	int r = 0;

	(void)ctx;
	d = opendir(path);
	if (d == NULL)
		return -1;
	pthread_mutex_lock(&fake_lock);
	while ((de = readdir(d)) != NULL && n < 1024) {
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		names[n] = strdup(de->d_name);
		ck_assert_ptr_nonnull(names[n]);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	pthread_mutex_unlock(&fake_lock);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = cb(cb_ctx, names[i]);
		free(names[i]);
	}
	return r;
}

static const struct lk_plugin_host fake_host = {
	.abi_major = LK_PLUGIN_ABI_MAJOR,
	.abi_minor = LK_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(struct lk_plugin_host),
	.log = fake_log,
	.now = fake_now,
	.read_file = fake_read,
	.list_dir = fake_list,
	.file_stamp = fake_stamp,
};

static void *plugin_handle;

static const struct lk_plugin *open_plugin(void)
{
	char path[PATH_MAX];
	const struct lk_plugin *(*entry)(void);

	snprintf(path, sizeof(path), "%s/mtls.so", getenv("LK_MTLS_PLUGIN_DIR"));
	plugin_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(plugin_handle != NULL, "%s", dlerror());
	*(void **)&entry = dlsym(plugin_handle, LK_PLUGIN_ENTRY_SYMBOL);
	ck_assert_ptr_nonnull(entry);
	return entry();
}

/* One request straight through the plugin: init, authenticate, fini. */
static void direct(const struct lk_plugin *p, const char *const *args, size_t n_args,
                   const struct blob *b, struct lk_plugin_result *res)
{
	struct lk_plugin_input in = { LK_INPUT_CLIENT_CERT, (const char *)b->data, b->len };
	struct lk_plugin_request req = { .struct_size = sizeof(req), .inputs = &in, .n_inputs = 1 };
	void *state = NULL;

	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
	ck_assert_int_eq(p->init(&fake_host, args, n_args, &state), 0);
	ck_assert_int_eq(p->authenticate(state, &req, res), 0);
	p->fini(state);
}

START_TEST(test_plugin_identity)
{
	const struct lk_plugin *p = open_plugin();

	ck_assert_str_eq(p->name, "mtls");
	ck_assert_str_eq(p->version, "1.0");
	ck_assert_uint_eq(p->capabilities, LK_PLUGIN_CAP_PRIMARY | LK_PLUGIN_CAP_SECOND_FACTOR |
	                                       LK_PLUGIN_CAP_PROMPTS);
	ck_assert_uint_eq(p->abi_major, LK_PLUGIN_ABI_MAJOR);
	/* lk_plugin_entry is all it exports. */
	ck_assert_ptr_null(dlsym(plugin_handle, "mtls_chain_parse"));
	ck_assert_ptr_null(dlsym(plugin_handle, "mtls_conf_parse"));
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_refuses_old_engine)
{
	const struct lk_plugin *p = open_plugin();
	struct lk_plugin_host old = fake_host;
	char hex[65], pin[128];
	const char *args[] = { pin };
	void *state = NULL;

	sha256_hex("self.pem", hex);
	snprintf(pin, sizeof(pin), "pin=%s:selfie", hex);
	/* An ABI 1.1 engine: no read_file, list_dir, file_stamp. */
	old.abi_minor = 1;
	old.struct_size = offsetof(struct lk_plugin_host, read_file);
	ck_assert_int_ne(p->init(&old, args, 1, &state), 0);
	ck_assert_ptr_null(state);
	/* One byte short of file_stamp is still too old. */
	old.struct_size = offsetof(struct lk_plugin_host, file_stamp) + sizeof(old.file_stamp) - 1;
	ck_assert_int_ne(p->init(&old, args, 1, &state), 0);
	ck_assert_int_eq(p->init(&fake_host, args, 1, &state), 0);
	p->fini(state);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_cache_reads_changed_files_only)
{
	const struct lk_plugin *p = open_plugin();
	char crl[PATH_MAX + 16];
	const char *args[] = { CA_ROOT, NULL, "map=cn" };
	struct blob b = pem_chain("revoked.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	snprintf(crl, sizeof(crl), "%s/cached.crl", e.dir);
	args[1] = fmt("crl=%s", crl);
	copy_file(pk("crl-int-empty.pem"), crl, 0644);
	fake_reads = 0;
	direct(p, args, 3, &b, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_int_eq(fake_reads, 2);
	/* Unchanged: nothing read again. */
	direct(p, args, 3, &b, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_int_eq(fake_reads, 2);
	/* A new CRL: that file only, and it counts at once. */
	replace_file(pk("crl-int.pem"), crl, false);
	direct(p, args, 3, &b, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_DENY);
	ck_assert_str_eq(res.reason, "revoked");
	ck_assert_int_eq(fake_reads, 3);
	direct(p, args, 3, &b, &res);
	ck_assert_str_eq(res.reason, "revoked");
	ck_assert_int_eq(fake_reads, 3);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_cache_ca_dir)
{
	const struct lk_plugin *p = open_plugin();
	char dir[PATH_MAX + 16], crl_arg[PATH_MAX + 16], dir_arg[PATH_MAX + 32];
	const char *args[] = { crl_arg, dir_arg, "map=cn" };
	struct blob good = pem_chain("alice.pem", "int.pem", NULL);
	struct blob revoked = pem_chain("revoked.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	/* A directory of 150 files, as /etc/ssl/certs, after a CRL: all of
	 * it stays cached, the CRL too. */
	snprintf(dir, sizeof(dir), "%s/cadir", e.dir);
	snprintf(crl_arg, sizeof(crl_arg), "crl=%s", pk("crl-int.pem"));
	snprintf(dir_arg, sizeof(dir_arg), "ca-dir=%s", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (int i = 0; i < 149; i++)
		copy_file(pk("otherroot.pem"), fmt("%s/other%03d.pem", dir, i), 0644);
	copy_file(pk("root.pem"), fmt("%s/root.crt", dir), 0644);
	fake_reads = 0;
	direct(p, args, 3, &good, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_int_eq(fake_reads, 151);
	/* The second request reads no file. */
	direct(p, args, 3, &good, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_str_eq(res.principal, "alice");
	ck_assert_int_eq(fake_reads, 151);
	direct(p, args, 3, &revoked, &res);
	ck_assert_str_eq(res.reason, "revoked");
	ck_assert_int_eq(fake_reads, 151);
	/* A file replaced, a file added: those are read, nothing else. */
	replace_file(pk("otherroot.pem"), fmt("%s/other010.pem", dir), false);
	direct(p, args, 3, &good, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_int_eq(fake_reads, 152);
	copy_file(pk("otherroot.pem"), fmt("%s/other999.crt", dir), 0644);
	direct(p, args, 3, &good, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_int_eq(fake_reads, 153);
	direct(p, args, 3, &good, &res);
	ck_assert_int_eq(fake_reads, 153);
	/* A file removed: its anchors are gone at once. */
	ck_assert_int_eq(unlink(fmt("%s/root.crt", dir)), 0);
	direct(p, args, 3, &good, &res);
	ck_assert_str_eq(res.reason, "unknown-ca");
	direct(p, args, 3, &good, &res);
	ck_assert_str_eq(res.reason, "unknown-ca");
	ck_assert_int_eq(fake_reads, 153);
	/* And back: read again. */
	copy_file(pk("root.pem"), fmt("%s/root.crt", dir), 0644);
	direct(p, args, 3, &good, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_int_eq(fake_reads, 154);
	free(good.data);
	free(revoked.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_credential_cleared)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, MAP_URI };
	struct lk_plugin_input in = { LK_INPUT_CLIENT_CERT, "hello\n", 6 };
	struct lk_plugin_request req = { .struct_size = sizeof(req), .inputs = &in, .n_inputs = 1 };
	struct lk_plugin_result res;
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	char hex[65], self[65], pin_arg[128];
	void *state = NULL;

	/* Whatever res held, a malformed chain names no certificate. */
	memset(&res, 0, sizeof(res));
	res.struct_size = sizeof(res);
	snprintf(res.credential, sizeof(res.credential), "0123456789abcdef01234567");
	ck_assert_int_eq(p->init(&fake_host, args, 2, &state), 0);
	ck_assert_int_eq(p->authenticate(state, &req, &res), 0);
	p->fini(state);
	ck_assert_str_eq(res.reason, "malformed");
	ck_assert_str_eq(res.credential, "");
	/* A chain that parsed: 24 lowercase hex digits of the leaf's SHA-256,
	 * on a success and on a refusal, with a CA and with pins alone. */
	sha256_hex("alice.pem", hex);
	hex[24] = '\0';
	direct(p, args, 2, &b, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_str_eq(res.credential, hex);
	args[1] = "map=san-uri:spiffe://other.example/{}";
	direct(p, args, 2, &b, &res);
	ck_assert_str_eq(res.reason, "no-mapping");
	ck_assert_str_eq(res.credential, hex);
	args[0] = pin_arg;
	sha256_hex("self.pem", self);
	snprintf(pin_arg, sizeof(pin_arg), "pin=%s:selfie", self);
	direct(p, args, 1, &b, &res);
	ck_assert_str_eq(res.reason, "unknown-ca");
	ck_assert_str_eq(res.credential, hex);
	free(b.data);
	b = pem_chain("self.pem", NULL);
	direct(p, args, 1, &b, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	self[24] = '\0';
	ck_assert_str_eq(res.credential, self);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

struct worker {
	const struct lk_plugin *p;
	const char *const *args;
	const struct blob *good, *revoked;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct lk_plugin_result res;

	for (int i = 0; i < 40; i++) {
		direct(w->p, w->args, 3, i % 2 ? w->revoked : w->good, &res);
		if (i % 2
		        ? strcmp(res.reason, "revoked") != 0
		        : res.decision != LK_PLUGIN_SUCCESS || strcmp(res.principal, "alice") != 0)
			w->failures++;
	}
	return NULL;
}

START_TEST(test_cache_threads)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, fmt("crl=%s", pk("crl-int.pem")), "map=cn" };
	struct blob good = pem_chain("alice.pem", "int.pem", NULL);
	struct blob revoked = pem_chain("revoked.pem", "int.pem", NULL);
	struct worker w[6];
	pthread_t t[6];

	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){ p, args, &good, &revoked, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(w[i].failures, 0);
	}
	free(good.data);
	free(revoked.data);
	dlclose(plugin_handle);
}
END_TEST

/* ---- remembered results ------------------------------------------------- */

/* One request through the plugin at fake_time, and what it answered. */
static void direct_at(const struct lk_plugin *p, const char *const *args, size_t n_args,
                      const struct blob *b, int64_t now, struct lk_plugin_result *res)
{
	fake_time = now;
	direct(p, args, n_args, b, res);
}

/* A success for principal, with the leaf's credential and the factor.
 * (Not through pk(): the arguments of a request may be fmt() buffers.) */
static void assert_ok(const struct lk_plugin_result *res, const char *principal, const char *leaf)
{
	char path[PATH_MAX + 64], hex[25];
	unsigned char md[32];
	unsigned int n = 0;
	FILE *f;
	X509 *x;

	snprintf(path, sizeof(path), "%s/%s", pki, leaf);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	ck_assert(X509_digest(x, EVP_sha256(), md, &n));
	X509_free(x);
	for (int i = 0; i < 12; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	ck_assert_int_eq(res->decision, LK_PLUGIN_SUCCESS);
	ck_assert_str_eq(res->reason, "ok");
	ck_assert_str_eq(res->principal, principal);
	ck_assert_str_eq(res->credential, hex);
	ck_assert_uint_eq(res->factors, LK_FACTOR_CLIENT_CERT);
}

static void assert_denied(const struct lk_plugin_result *res, const char *reason)
{
	ck_assert_int_eq(res->decision, LK_PLUGIN_DENY);
	ck_assert_str_eq(res->reason, reason);
}

/* OpenSSL's allocations for decoding one certificate, the leaf alone. */
static long one_parse_allocs(const char *name)
{
	struct blob der = blob_new();
	const unsigned char *p;
	long before;
	X509 *x;

	blob_der(&der, name);
	p = der.data;
	before = atomic_load(&crypto_allocs);
	x = d2i_X509(NULL, &p, (long)der.len);
	ck_assert_ptr_nonnull(x);
	before = atomic_load(&crypto_allocs) - before;
	X509_free(x);
	free(der.data);
	return before;
}

START_TEST(test_result_reused)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, fmt("crl=%s", pk("crl-int.pem")), MAP_URI };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct blob bob = pem_chain("bob.pem", "int.pem", NULL);
	struct lk_plugin_result res;
	long before, verified, reused, parse;

	ck_assert_msg(crypto_counted, "OpenSSL allocated before main: nothing to count with");
	/* bob first, so the trust files are parsed and cached already. */
	direct(p, args, 3, &bob, &res);
	assert_ok(&res, "bob", "bob.pem");
	fake_reads = 0;
	before = atomic_load(&crypto_allocs);
	direct(p, args, 3, &b, &res);
	verified = atomic_load(&crypto_allocs) - before;
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 0);
	/* The same bytes again: the same answer, remembered; the trust files
	 * stamped and nothing read, the chain neither decoded nor verified
	 * (fewer OpenSSL allocations than decoding the leaf alone takes). */
	before = atomic_load(&crypto_allocs);
	direct(p, args, 3, &b, &res);
	reused = atomic_load(&crypto_allocs) - before;
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	ck_assert_int_eq(fake_reads, 0);
	ck_assert_int_eq(fake_logged("mtls: ok: certificate "), 3);
	ck_assert_int_eq(fake_logged("is alice by map rule 1 (san-uri) (as verified at 1793491200, "
	                             "cached)"),
	                 1);
	parse = one_parse_allocs("alice.pem");
	ck_assert_msg(reused < parse && parse < verified,
	              "OpenSSL allocations: verified %ld, reused %ld, one d2i_X509 %ld", verified,
	              reused, parse);
	direct(p, args, 3, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 2);
	free(b.data);
	free(bob.data);
	dlclose(plugin_handle);
}
END_TEST

/* _i: 0 the CRL renamed over, 1 rewritten in place. */
START_TEST(test_result_crl_replaced)
{
	const struct lk_plugin *p = open_plugin();
	char crl[PATH_MAX + 16];
	const char *args[] = { CA_ROOT, NULL, "map=cn" };
	struct blob b = pem_chain("revoked.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	snprintf(crl, sizeof(crl), "%s/current.crl", e.dir);
	args[1] = fmt("crl=%s", crl);
	copy_file(pk("crl-int-empty.pem"), crl, 0644);
	direct(p, args, 3, &b, &res);
	assert_ok(&res, "revoked", "revoked.pem");
	direct(p, args, 3, &b, &res);
	assert_ok(&res, "revoked", "revoked.pem");
	ck_assert_int_eq(fake_cached, 1);
	/* A CRL that lists it: revoked from the very next request. */
	replace_file(pk("crl-int.pem"), crl, _i == 1);
	direct(p, args, 3, &b, &res);
	assert_denied(&res, "revoked");
	direct(p, args, 3, &b, &res);
	assert_denied(&res, "revoked");
	ck_assert_int_eq(fake_cached, 1);
	/* And back: verified again, then remembered again. */
	replace_file(pk("crl-int-empty.pem"), crl, _i == 1);
	direct(p, args, 3, &b, &res);
	assert_ok(&res, "revoked", "revoked.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct(p, args, 3, &b, &res);
	assert_ok(&res, "revoked", "revoked.pem");
	ck_assert_int_eq(fake_cached, 2);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_ca_dir_changed)
{
	const struct lk_plugin *p = open_plugin();
	char dir[PATH_MAX + 16], dir_arg[PATH_MAX + 32];
	const char *args[] = { dir_arg, MAP_URI };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	snprintf(dir, sizeof(dir), "%s/cadir", e.dir);
	snprintf(dir_arg, sizeof(dir_arg), "ca-dir=%s", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	copy_file(pk("root.pem"), fmt("%s/root.crt", dir), 0644);
	direct(p, args, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct(p, args, 2, &b, &res);
	ck_assert_int_eq(fake_cached, 1);
	/* A file added (of no use to this chain): the entry is not used. */
	copy_file(pk("otherroot.pem"), fmt("%s/other.pem", dir), 0644);
	direct(p, args, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct(p, args, 2, &b, &res);
	ck_assert_int_eq(fake_cached, 2);
	/* The anchor removed: unknown-ca at once, however recent the ok. */
	ck_assert_int_eq(unlink(fmt("%s/root.crt", dir)), 0);
	direct(p, args, 2, &b, &res);
	assert_denied(&res, "unknown-ca");
	ck_assert_int_eq(fake_cached, 2);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_expiry)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, MAP_URI };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	/* Verified 10 s before the leaf's notAfter + skew: remembered up to
	 * and including that second, never past it. */
	direct_at(p, args, 2, &b, LEAF_NOT_AFTER + 290, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct_at(p, args, 2, &b, LEAF_NOT_AFTER + 300, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 2, &b, LEAF_NOT_AFTER + 301, &res);
	assert_denied(&res, "expired");
	/* Past its window the entry is dropped: the clock back, verified
	 * again. */
	direct_at(p, args, 2, &b, LEAF_NOT_AFTER + 295, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 2, &b, LEAF_NOT_AFTER + 296, &res);
	ck_assert_int_eq(fake_cached, 2);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

/* int as root issued it, but valid only until not_after: the same CA (its
 * key signed alice), expiring before alice does. */
static void short_int(const char *out, int64_t not_after)
{
	X509 *x = load_cert("int.pem");
	EVP_PKEY *key;
	FILE *f = fopen(pk("root.key"), "r");

	ck_assert_ptr_nonnull(f);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after));
	ck_assert_int_gt(X509_sign(x, key, EVP_sha384()), 0);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert(PEM_write_X509(f, x));
	ck_assert_int_eq(fclose(f), 0);
	EVP_PKEY_free(key);
	X509_free(x);
}

START_TEST(test_result_expiry_in_chain)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, MAP_URI };
	char path[PATH_MAX + 16];
	struct blob b = pem_chain("alice.pem", NULL);
	struct lk_plugin_result res;
	const int64_t int_not_after = TK_NOW + 10 * DAY;
	FILE *f;

	/* The intermediate's notAfter ends the window, not the leaf's. */
	snprintf(path, sizeof(path), "%s/shortint.pem", e.dir);
	short_int(path, int_not_after);
	ck_assert_int_lt(int_not_after, LEAF_NOT_AFTER);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	b.len += fread(b.data + b.len, 1, BLOB_MAX - b.len, f);
	fclose(f);
	direct_at(p, args, 2, &b, int_not_after + 290, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct_at(p, args, 2, &b, int_not_after + 300, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 2, &b, int_not_after + 301, &res);
	assert_denied(&res, "expired");
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_not_before)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, MAP_URI };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	/* Verified at notBefore: good back to notBefore - skew, no further. */
	direct_at(p, args, 2, &b, LEAF_NOT_BEFORE, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct_at(p, args, 2, &b, LEAF_NOT_BEFORE - 300, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 2, &b, LEAF_NOT_BEFORE - 301, &res);
	assert_denied(&res, "not-yet-valid");
	ck_assert_int_eq(fake_cached, 1);
	/* A denial is not remembered: the clock forward, verified again. */
	direct_at(p, args, 2, &b, LEAF_NOT_BEFORE - 250, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 2);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_ttl)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, MAP_URI };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	/* Months of validity left: remembered for 300 s all the same. */
	direct_at(p, args, 2, &b, TK_NOW, &res);
	direct_at(p, args, 2, &b, TK_NOW + 299, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 2, &b, TK_NOW + 300, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	ck_assert_int_eq(fake_logged("is alice by map rule 1 (san-uri)\n"), 2);
	/* Verified again at TK_NOW + 300: good until TK_NOW + 600. */
	direct_at(p, args, 2, &b, TK_NOW + 599, &res);
	ck_assert_int_eq(fake_cached, 2);
	ck_assert_int_eq(fake_logged("(as verified at 1793491500, cached)"), 1);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_crl_times)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, fmt("crl=%s", pk("crl-int.pem")), MAP_URI,
		               "crl-max-age=30d" };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	/* nextUpdate + skew ends the window... */
	direct_at(p, args, 4, &b, CRL_NEXT + 290, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct_at(p, args, 4, &b, CRL_NEXT + 300, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 4, &b, CRL_NEXT + 301, &res);
	assert_denied(&res, "crl-stale");
	/* ... and thisUpdate - skew begins it (a clock behind). */
	direct_at(p, args, 4, &b, CRL_THIS - 290, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct_at(p, args, 4, &b, CRL_THIS - 300, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 2);
	direct_at(p, args, 4, &b, CRL_THIS - 301, &res);
	assert_denied(&res, "crl-stale");
	/* crl-max-age after thisUpdate, to the second. */
	args[3] = "crl-max-age=1d";
	direct_at(p, args, 4, &b, CRL_THIS + DAY - 10, &res);
	assert_ok(&res, "alice", "alice.pem");
	direct_at(p, args, 4, &b, CRL_THIS + DAY, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 3);
	direct_at(p, args, 4, &b, CRL_THIS + DAY + 1, &res);
	assert_denied(&res, "crl-stale");
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_per_policy)
{
	const struct lk_plugin *p = open_plugin();
	char hex[65];
	const char *uri[] = { CA_ROOT, MAP_URI };
	const char *pinned[] = { CA_ROOT, NULL, MAP_URI };
	const char *other[] = { CA_ROOT, "map=san-uri:spiffe://other.example/{}" };
	const char *strict[] = { CA_ROOT, MAP_URI, "min-rsa-bits=3072" };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	sha256_hex("alice.pem", hex);
	pinned[1] = fmt("pin=%s:admin", hex);
	direct(p, uri, 2, &b, &res);
	direct(p, uri, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 1);
	/* The same chain under other arguments: decided under those. */
	direct(p, pinned, 3, &b, &res);
	assert_ok(&res, "admin", "alice.pem");
	direct(p, other, 2, &b, &res);
	assert_denied(&res, "no-mapping");
	direct(p, strict, 3, &b, &res);
	assert_denied(&res, "weak-key");
	ck_assert_int_eq(fake_cached, 1);
	/* Each remembered on its own. */
	direct(p, pinned, 3, &b, &res);
	assert_ok(&res, "admin", "alice.pem");
	direct(p, uri, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 3);
	/* The same arguments in another order are another policy (map rules
	 * are tried in order). */
	uri[0] = MAP_URI;
	uri[1] = CA_ROOT;
	direct(p, uri, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 3);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_not_for_denials)
{
	const struct lk_plugin *p = open_plugin();
	char ca[PATH_MAX + 16];
	const char *args[] = { NULL, MAP_URI };
	const char *soft[] = { CA_ROOT, fmt("crl=%s", pk("crl-int-stale.pem")), MAP_URI,
		               "crl-soft-fail" };
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_plugin_result res;

	/* Denied, and denied again: verified both times. */
	snprintf(ca, sizeof(ca), "%s/ca.pem", e.dir);
	copy_file(pk("otherroot.pem"), ca, 0644);
	args[0] = fmt("ca=%s", ca);
	direct(p, args, 2, &b, &res);
	assert_denied(&res, "unknown-ca");
	direct(p, args, 2, &b, &res);
	assert_denied(&res, "unknown-ca");
	ck_assert_int_eq(fake_logged("mtls: unknown-ca: certificate "), 2);
	/* The CA file fixed: ok at once. */
	replace_file(pk("root.pem"), ca, true);
	direct(p, args, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 0);
	/* A soft-fail success is not remembered either: it warns each time. */
	direct(p, soft, 4, &b, &res);
	direct(p, soft, 4, &b, &res);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_str_eq(res.reason, "ok-crl-stale");
	ck_assert_int_eq(fake_logged("mtls: ok-crl-stale: certificate "), 2);
	ck_assert_int_eq(fake_cached, 0);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_pin_only)
{
	const struct lk_plugin *p = open_plugin();
	char hex[65], pin[128];
	const char *args[] = { pin };
	struct blob b = pem_chain("self.pem", NULL);
	struct lk_plugin_result res;

	sha256_hex("self.pem", hex);
	snprintf(pin, sizeof(pin), "pin=%s:selfie", hex);
	direct(p, args, 1, &b, &res);
	assert_ok(&res, "selfie", "self.pem");
	direct(p, args, 1, &b, &res);
	assert_ok(&res, "selfie", "self.pem");
	ck_assert_int_eq(fake_cached, 1);
	direct_at(p, args, 1, &b, LEAF_NOT_AFTER + 301, &res);
	assert_denied(&res, "expired");
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_bounded)
{
	const struct lk_plugin *p = open_plugin();
	const char *args[] = { CA_ROOT, MAP_URI };
	struct blob pem = pem_chain("alice.pem", "int.pem", NULL), b = blob_new();
	struct lk_plugin_result res;

	/* 1025 spellings of one chain (k blank lines after it): the first
	 * is dropped to make room for the last, the second is not. */
	for (int k = 0; k <= 1024; k++) {
		b.len = 0;
		blob_add(&b, pem.data, pem.len);
		for (int i = 0; i < k; i++)
			blob_add(&b, "\n", 1);
		direct(p, args, 2, &b, &res);
		assert_ok(&res, "alice", "alice.pem");
	}
	ck_assert_int_eq(fake_cached, 0);
	b.len = pem.len + 1024;
	direct(p, args, 2, &b, &res);
	ck_assert_int_eq(fake_cached, 1);
	b.len = pem.len + 1;
	direct(p, args, 2, &b, &res);
	ck_assert_int_eq(fake_cached, 2);
	b.len = pem.len;
	direct(p, args, 2, &b, &res);
	assert_ok(&res, "alice", "alice.pem");
	ck_assert_int_eq(fake_cached, 2);
	free(pem.data);
	free(b.data);
	dlclose(plugin_handle);
}
END_TEST

START_TEST(test_result_through_engine)
{
	char ca[PATH_MAX + 16];
	struct blob b = pem_chain("alice.pem", "int.pem", NULL);
	struct lk_auth_result res;

	/* The daemon's way: the plugin loaded once, requests one after the
	 * other; each its own audit row with the leaf's credential. */
	snprintf(ca, sizeof(ca), "%s/root.pem", e.dir);
	copy_file(pk("root.pem"), ca, 0644);
	policy(fmt("ca=%s", ca), MAP_URI, NULL);
	reload();
	run_blob(NULL, &b, LEAF_NOT_AFTER + 290, &res);
	assert_outcome(&res, "ok");
	ck_assert(!logged(", cached)"));
	run_blob(NULL, &b, LEAF_NOT_AFTER + 300, &res);
	assert_outcome(&res, "ok");
	assert_credential(&res, "alice.pem");
	ck_assert_str_eq(res.principal, "alice");
	ck_assert(logged(fmt("(as verified at %lld, cached)", (long long)(LEAF_NOT_AFTER + 290))));
	run_blob(NULL, &b, LEAF_NOT_AFTER + 301, &res);
	assert_outcome(&res, "expired");
	/* The host's checks on the trust files still apply to every request. */
	run_blob(NULL, &b, TK_NOW, &res);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	ck_assert_int_eq(chmod(ca, 0646), 0);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ca-unreadable");
	ck_assert_int_eq(chmod(ca, 0644), 0);
	run_blob(NULL, &b, TK_NOW, &res);
	assert_outcome(&res, "ok");
	free(b.data);
}
END_TEST

struct hammer {
	const struct lk_plugin *p;
	const char *const *uri, *const *pinned;
	const struct blob *good, *revoked;
	int failures;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	struct lk_plugin_result res;

	for (int i = 0; i < 300; i++) {
		switch (i % 3) {
		case 0:
			direct(h->p, h->uri, 3, h->good, &res);
			if (res.decision != LK_PLUGIN_SUCCESS ||
			    strcmp(res.principal, "alice") != 0)
				h->failures++;
			break;
		case 1:
			direct(h->p, h->pinned, 4, h->good, &res);
			if (res.decision != LK_PLUGIN_SUCCESS ||
			    strcmp(res.principal, "admin") != 0)
				h->failures++;
			break;
		default:
			direct(h->p, h->uri, 3, h->revoked, &res);
			if (strcmp(res.reason, "revoked") != 0)
				h->failures++;
			break;
		}
	}
	return NULL;
}

START_TEST(test_result_threads)
{
	const struct lk_plugin *p = open_plugin();
	char hex[65];
	const char *crl = fmt("crl=%s", pk("crl-int.pem"));
	const char *uri[] = { CA_ROOT, crl, MAP_URI };
	const char *pinned[] = { CA_ROOT, crl, NULL, MAP_URI };
	struct blob good = pem_chain("alice.pem", "int.pem", NULL);
	struct blob revoked = pem_chain("revoked.pem", "int.pem", NULL);
	struct hammer h[6];
	pthread_t t[6];

	sha256_hex("alice.pem", hex);
	pinned[2] = fmt("pin=%s:admin", hex);
	for (int i = 0; i < 6; i++) {
		h[i] = (struct hammer){ p, uri, pinned, &good, &revoked, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(h[i].failures, 0);
	}
	/* 1200 successes; each of the two verified by at most every thread
	 * at once before one remembered it. */
	ck_assert_int_ge(fake_cached, 1200 - 2 * 6);
	free(good.data);
	free(revoked.data);
	dlclose(plugin_handle);
}
END_TEST

/* ---- the fuzz target's entry point ----------------------------------------- */

START_TEST(test_fuzz_entry)
{
	static const char *const seeds[] = { "alice.pem", "int.pem", "crl-int.pem", "alice.key",
		                             "tiny.der" };
	uint32_t rng = 12345;

	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		struct blob b = blob_new();
		blob_file(&b, seeds[s]);
		if (s == 0)
			blob_file(&b, "int.pem");
		LLVMFuzzerTestOneInput(b.data, b.len);
		/* Mutations: flipped bytes, cuts, copies of a slice. */
		for (int m = 0; m < 600; m++) {
			struct blob c = blob_new();
			blob_add(&c, b.data, b.len);
			for (int k = 0; k < 1 + m % 4; k++) {
				rng = rng * 1103515245u + 12345u;
				switch ((rng >> 8) % 3) {
				case 0:
					c.data[(rng >> 12) % c.len] ^=
					    (unsigned char)(1u << (rng % 8));
					break;
				case 1:
					c.len = 1 + (rng >> 12) % c.len;
					break;
				default:
					blob_add(&c, c.data + (rng >> 12) % (c.len - c.len / 3),
					         c.len / 3);
					break;
				}
			}
			LLVMFuzzerTestOneInput(c.data, c.len);
			free(c.data);
		}
		free(b.data);
	}
}
END_TEST

Suite *mtls_suite(void)
{
	Suite *s = suite_create("mtls");
	TCase *tc;

	tc = tcase_create("accepted");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ok_pem_chain);
	tcase_add_test(tc, test_ok_der_chain);
	tcase_add_test(tc, test_ok_crlf_and_whitespace);
	tcase_add_test(tc, test_ok_intermediate_as_anchor);
	tcase_add_test(tc, test_ok_ca_dir);
	tcase_add_test(tc, test_ok_der_anchor);
	tcase_add_test(tc, test_ok_ed25519_leaf);
	tcase_add_test(tc, test_ten_certificates);
	suite_add_tcase(s, tc);

	tc = tcase_create("input");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_cert);
	tcase_add_test(tc, test_prompt_default);
	tcase_add_test(tc, test_prompt_text);
	tcase_add_loop_test(tc, test_malformed, 0, sizeof(bad_inputs) / sizeof(bad_inputs[0]));
	tcase_add_test(tc, test_two_inputs);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_ca);
	tcase_add_test(tc, test_missing_intermediate);
	tcase_add_test(tc, test_self_signed_leaf);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_not_yet_valid);
	tcase_add_test(tc, test_server_eku);
	tcase_add_test(tc, test_no_eku);
	tcase_add_test(tc, test_weak_rsa_leaf);
	tcase_add_test(tc, test_weak_ec_intermediate);
	tcase_add_test(tc, test_weak_anchor);
	tcase_add_test(tc, test_sha1_signature);
	tcase_add_test(tc, test_sig_algs);
	tcase_add_test(tc, test_bad_signature);
	tcase_add_test(tc, test_path_too_long);
	tcase_add_test(tc, test_max_depth);
	tcase_add_test(tc, test_pathlen_constraint);
	tcase_add_test(tc, test_skew_not_before);
	tcase_add_test(tc, test_skew_not_after);
	suite_add_tcase(s, tc);

	tc = tcase_create("revocation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crl_ok);
	tcase_add_test(tc, test_revoked);
	tcase_add_test(tc, test_revoked_der_crl);
	tcase_add_test(tc, test_revoked_by_stale_crl);
	tcase_add_test(tc, test_crl_stale);
	tcase_add_test(tc, test_crl_too_old);
	tcase_add_test(tc, test_crl_soft_fail);
	tcase_add_test(tc, test_crl_missing_for_issuer);
	tcase_add_test(tc, test_crl_unreadable);
	tcase_add_loop_test(tc, test_crl_unusable_soft_fail, 0,
	                    sizeof(crl_unusable) / sizeof(crl_unusable[0]));
	tcase_add_test(tc, test_crl_soft_fail_by_time);
	tcase_add_test(tc, test_crl_check_chain);
	tcase_add_test(tc, test_crl_revoked_intermediate);
	tcase_add_test(tc, test_crl_next_update_edge);
	tcase_add_test(tc, test_crl_max_age_edge);
	tcase_add_test(tc, test_crl_this_update_future_edge);
	tcase_add_loop_test(tc, test_crl_replaced, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("trust-files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ca_group_writable);
	tcase_add_test(tc, test_ca_not_a_certificate);
	tcase_add_test(tc, test_ca_missing);
	suite_add_tcase(s, tc);

	tc = tcase_create("mapping");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_map_san_uri);
	tcase_add_test(tc, test_map_san_dns);
	tcase_add_test(tc, test_map_san_email);
	tcase_add_test(tc, test_map_cn);
	tcase_add_test(tc, test_map_uri_case_sensitive);
	tcase_add_test(tc, test_map_first_match);
	tcase_add_test(tc, test_map_capture_validated);
	tcase_add_test(tc, test_map_ambiguous);
	tcase_add_test(tc, test_no_mapping);
	tcase_add_test(tc, test_user_mismatch);
	tcase_add_test(tc, test_pin_only);
	tcase_add_test(tc, test_pin_openssl_fingerprint);
	tcase_add_test(tc, test_pin_only_checks_leaf);
	tcase_add_test(tc, test_pin_with_ca);
	tcase_add_test(tc, test_pin_mismatch);
	tcase_add_test(tc, test_pin_case_variant);
	tcase_add_test(tc, test_credential_every_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_args, 0, sizeof(bad_args) / sizeof(bad_args[0]));
	tcase_add_test(tc, test_good_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("plugin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plugin_identity);
	tcase_add_test(tc, test_refuses_old_engine);
	tcase_add_test(tc, test_cache_reads_changed_files_only);
	tcase_add_test(tc, test_cache_ca_dir);
	tcase_add_test(tc, test_credential_cleared);
	tcase_add_test(tc, test_cache_threads);
	tcase_add_test(tc, test_fuzz_entry);
	suite_add_tcase(s, tc);

	tc = tcase_create("results");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_result_reused);
	tcase_add_loop_test(tc, test_result_crl_replaced, 0, 2);
	tcase_add_test(tc, test_result_ca_dir_changed);
	tcase_add_test(tc, test_result_expiry);
	tcase_add_test(tc, test_result_expiry_in_chain);
	tcase_add_test(tc, test_result_not_before);
	tcase_add_test(tc, test_result_ttl);
	tcase_add_test(tc, test_result_crl_times);
	tcase_add_test(tc, test_result_per_policy);
	tcase_add_test(tc, test_result_not_for_denials);
	tcase_add_test(tc, test_result_pin_only);
	tcase_add_test(tc, test_result_bounded);
	tcase_add_test(tc, test_result_threads);
	tcase_add_test(tc, test_result_through_engine);
	suite_add_tcase(s, tc);
	return s;
}

/* The PKI is made once for the whole program; every test reads it. */
int main(void)
{
	const char *src = getenv("LK_SRCDIR"), *tmp = getenv("TMPDIR");
	char cmd[PATH_MAX * 3];
	int r;

	crypto_counted = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;
	/* Not tk_mkdtemp: Check's asserts work only inside a test. */
	snprintf(pki, sizeof(pki), "%s/latchkey-mtls-pki-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(pki) == NULL) {
		perror(pki);
		return EXIT_FAILURE;
	}
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/mtls-pki.sh' '%s'", src != NULL ? src : "..", pki);
	if (system(cmd) != 0) {
		fprintf(stderr, "tests/mtls-pki.sh failed (is openssl installed?)\n");
		tk_rmrf(pki);
		return EXIT_FAILURE;
	}
	r = tk_run_suite(mtls_suite());
	tk_rmrf(pki);
	return r;
}
