/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SOC 2 evidence pack (reports/soc2.c) on a deterministic fixture: keys,
 * decisions, a lockout and a policy change made through the core at fixed
 * times. evidence.xml validates against reports/evidence.xsd and matches
 * tests/golden/soc2-evidence.xml (volatile values normalised); the manifest
 * checks with sha256sum and its signature with openssl; one byte changed
 * anywhere fails one or the other; empty populations read "not occurring".
 * LK_UPDATE_GOLDEN=1 rewrites the golden file.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint-private.h"
#include "evidence-testutil.h"
#include "pack-private.h"
#include "report-private.h"
#include "signing-private.h"
#include "testutil.h"

#define DAY  INT64_C(86400)
#define HOUR INT64_C(3600)

static struct tk_env e;
static struct lk_signer *signer;
static char pack[PATH_MAX + 64];
#define N_OWNERS 4
static char kids[N_OWNERS][LK_KID_LEN + 1], refs[N_OWNERS][LK_SUBJECT_REF_LEN + 1];
static const char *const owners[N_OWNERS] = { "alice", "bob", "carol", "dave" };

static void issue_scopes(int i, int64_t at, int64_t lifetime, const char *const *scopes,
                         size_t n_scopes)
{
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_issue(e.store, &e.rules,
	                           &(struct lk_issue_request){ .owner = owners[i],
	                                                       .env = "prod",
	                                                       .scopes = scopes,
	                                                       .n_scopes = n_scopes,
	                                                       .lifetime = lifetime },
	                           TK_ACTOR, at, key, &info, &err) == LK_OK,
	              "%s", err.msg);
	sodium_memzero(key, sizeof(key));
	memcpy(kids[i], info.kid, sizeof(kids[i]));
	memcpy(refs[i], info.owner_ref, sizeof(refs[i]));
}

static void issue(int i, int64_t at, int64_t lifetime)
{
	const char *scopes[] = { "read" };

	issue_scopes(i, at, lifetime, scopes, 1);
}

/* A row straight into the database (fixtures the core has no call for,
 * and rows written outside latchkey). */
static void exec_sql(const char *sql)
{
	tk_sql(e.store->db, sql);
}

static void revoke_all(int i, int64_t at, int64_t left)
{
	struct lk_err err = { { 0 } };
	size_t count = 0;

	ck_assert_msg(lk_key_revoke_all_left(e.store, owners[i], "left the company", left, TK_ACTOR,
	                                     at, &count, &err) == LK_OK,
	              "%s", err.msg);
}

static void event(int64_t at, int who, const char *action, const char *reason, const char *detail)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(
	    lk_audit_record(e.store,
	                    &(struct lk_audit_event){ .ts = at,
	                                              .actor_uid = 0,
	                                              .subject_ref = who >= 0 ? refs[who] : NULL,
	                                              .kid = who >= 0 ? kids[who] : NULL,
	                                              .action = action,
	                                              .reason = reason,
	                                              .detail = detail },
	                    NULL, &err) == LK_OK,
	    "%s", err.msg);
}

/* POL is on record for no service; POL_SSHD is sshd's, requiring two
 * factors (policy_evidence, as latchkeyd records it). */
#define POL        "policy=1111111111111111111111111111111111111111111111111111111111111111"
#define SSHD_SHA   "2222222222222222222222222222222222222222222222222222222222222222"
#define POL_SSHD   "policy=" SSHD_SHA
#define PLUGIN_SHA "3333333333333333333333333333333333333333333333333333333333333333"

static void setup(void)
{
	struct lk_err err = { { 0 } };

	tk_setup(&e);
	signer = tk_signer(&e);
	snprintf(pack, sizeof(pack), "%s/pack", e.dir);

	/* The period is TK_NOW (2026-11-01) plus three days. */
	exec_sql("INSERT INTO policy_evidence VALUES ('" SSHD_SHA "', 'sshd', "
	         "'apikey required; step-up totp always', 2, 1793000000, 1793500000)");
	exec_sql("INSERT INTO plugin_evidence VALUES ('" PLUGIN_SHA "', 'apikey', '1.0.0', "
	         "'/usr/lib/latchkey/plugins/apikey.so', 1793000000)");
	{
		/* Dave's key is old (past the rotation age at the period's
		 * end) and privileged. */
		const char *scopes[] = { "read", "ssh:admin" };
		issue_scopes(3, TK_NOW - 80 * DAY, 90 * DAY, scopes, 2);
	}
	issue(0, TK_NOW - 7 * DAY, 90 * DAY);
	issue(1, TK_NOW - 6 * DAY, 90 * DAY);
	event(TK_NOW + 2 * HOUR, -1, "plugin.load", "ok",
	      "name=apikey version=1.0.0 sha256=" PLUGIN_SHA
	      " path=/usr/lib/latchkey/plugins/apikey.so");
	event(TK_NOW + 2 * HOUR + 1, -1, "plugin.load", "failed",
	      "name=mtls error=no such plugin file");
	issue(2, TK_NOW + DAY, DAY); /* carol's expires inside the period */
	event(TK_NOW + 9 * HOUR, 0, "auth.decision", "ok",
	      "service=sshd env=prod " POL_SSHD " pam=0 steps=apikey:ok,totp:ok");
	event(TK_NOW + 10 * HOUR, 0, "auth.decision", "ok",
	      "service=nginx env=prod " POL " pam=0 steps=apikey:ok");
	event(TK_NOW + 11 * HOUR, 0, "auth.decision", "bad-secret",
	      "service=sshd env=prod " POL " pam=7 steps=apikey:bad-secret,totp:not-run");
	/* Carol leaves at 03:00 on the 2nd; her keys go at 06:00 (within the
	 * 24h SLA). */
	revoke_all(2, TK_NOW + DAY + 6 * HOUR, TK_NOW + DAY + 3 * HOUR);
	event(TK_NOW + DAY + 9 * HOUR, -1, "auth.decision", "cert-expired",
	      "service=api-mtls env=prod " POL " pam=7 steps=mtls:cert-expired");
	event(TK_NOW + DAY + 9 * HOUR + 1800, -1, "auth.lockout", "locked",
	      "kind=source service=sshd failures=10 window=15m until=2026-11-02T10:00:00Z");
	event(TK_NOW + DAY + 10 * HOUR, 1, "auth.decision", "ok",
	      "service=sshd env=prod " POL_SSHD " pam=0 steps=apikey:ok,totp:satisfied");
	ck_assert_msg(lk_key_revoke(e.store, kids[1], "left, \"team\"", TK_ACTOR,
	                            TK_NOW + DAY + 12 * HOUR, &err) == LK_OK,
	              "%s", err.msg);
	event(TK_NOW + 2 * DAY + 8 * HOUR, 1, "auth.decision", "revoked",
	      "service=sshd env=prod " POL " pam=7 steps=apikey:revoked");
	event(TK_NOW + 2 * DAY + 9 * HOUR, -1, "policy.change", "ok",
	      "service=sshd change=mfa-enable old=aaaa new=bbbb ticket=CHG-1");
	event(TK_NOW + 2 * DAY + 9 * HOUR + 5, -1, "policy.load", "ok",
	      "service=sshd policy=" SSHD_SHA);
	/* After the period: in no population. */
	event(TK_NOW + 4 * DAY, 0, "auth.decision", "ok",
	      "service=sshd env=prod " POL " pam=0 steps=apikey:ok");
}

static void teardown(void)
{
	lk_signer_free(signer);
	signer = NULL;
	tk_teardown(&e);
}

static int make_pack_for(int64_t from, int64_t to, struct lk_report_result *res, struct lk_err *err)
{
	struct lk_report_params p = { .kind = LK_REPORT_SOC2,
		                      .from = from,
		                      .to = to,
		                      .now = TK_NOW + 5 * DAY,
		                      .actor = TK_ACTOR,
		                      .out_dir = pack,
		                      .scope = "the check_report fixture",
		                      .version = "test",
		                      .cfg = e.cfg };

	return lk_report_make(e.store, signer, &p, res, err);
}

static void make_pack(struct lk_report_result *res)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(make_pack_for(TK_NOW, TK_NOW + 3 * DAY, res, &err) == LK_OK, "%s", err.msg);
}

static void pack_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", pack, name);
}

/* Runs a shell command in the pack directory; its exit status. */
static int in_pack(const char *cmd)
{
	return tk_run_in(pack, cmd);
}

/* The XPath count over evidence.xml (prefix e: the evidence namespace). */
static double xcount(const char *expr)
{
	char path[PATH_MAX + 64];

	pack_path(path, sizeof(path), "evidence.xml");
	return tk_xpath_number(path, expr);
}

#define XCOUNT_EQ(expr, want) ck_assert_msg(xcount(expr) == (want), "%s != %d", expr, (int)(want))

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_validates_against_xsd)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;

	make_pack(&res);
	pack_path(path, sizeof(path), "evidence.xml");
	tk_assert_valid_evidence(path);
	ck_assert(res.intact);
	ck_assert_int_eq(res.exceptions, 0);
}
END_TEST

START_TEST(test_golden)
{
	char path[PATH_MAX + 64], name[32];
	struct lk_report_result res;
	char *got, *want;

	make_pack(&res);
	pack_path(path, sizeof(path), "evidence.xml");
	got = tk_slurp(path, NULL);
	/* Random per run: the kids and pseudonyms the core drew, the signing
	 * key, and the chain head (it hashes the rows holding them). */
	for (int i = 0; i < N_OWNERS; i++) {
		snprintf(name, sizeof(name), "KID-%s", owners[i]);
		tk_replace_all(&got, kids[i], name);
		snprintf(name, sizeof(name), "REF-%s", owners[i]);
		tk_replace_all(&got, refs[i], name);
	}
	tk_blank_attr(&got, "key-id");
	tk_blank_attr(&got, "head");
	if (getenv("LK_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(TK_SRCDIR "/tests/golden/soc2-evidence.xml", "w");
		ck_assert_ptr_nonnull(f);
		fputs(got, f);
		fclose(f);
	}
	want = tk_slurp(TK_SRCDIR "/tests/golden/soc2-evidence.xml", NULL);
	if (strcmp(got, want) != 0) {
		snprintf(path, sizeof(path), "%s/evidence.normalised.xml", e.dir);
		FILE *f = fopen(path, "w");
		if (f != NULL) {
			fputs(got, f);
			fclose(f);
		}
		ck_abort_msg("evidence.xml differs from tests/golden/soc2-evidence.xml "
		             "(normalised copy: diff it against the golden file; "
		             "LK_UPDATE_GOLDEN=1 rewrites)");
	}
	free(got);
	free(want);
}
END_TEST

START_TEST(test_signature_and_manifest)
{
	char path[PATH_MAX + 64];
	unsigned char pk[LK_SIGNING_PUBLIC_LEN];
	struct lk_report_result res;
	struct lk_err err = { { 0 } };
	char *manifest, *sig;
	size_t mlen, slen;

	make_pack(&res);
	pack_path(path, sizeof(path), "MANIFEST.sha256");
	manifest = tk_slurp(path, &mlen);
	/* Every file but the manifest and its signature, in sha256sum's format. */
	ck_assert_ptr_nonnull(strstr(manifest, "  evidence.xml\n"));
	ck_assert_ptr_nonnull(strstr(manifest, "  report.html\n"));
	ck_assert_ptr_nonnull(strstr(manifest, "  decisions.csv\n"));
	ck_assert_ptr_nonnull(strstr(manifest, "  keys.csv\n"));
	ck_assert_ptr_nonnull(strstr(manifest, "  signing.pub.pem\n"));
	ck_assert_ptr_nonnull(strstr(manifest, "  VERIFY.txt\n"));
	ck_assert_ptr_null(strstr(manifest, "MANIFEST"));
	pack_path(path, sizeof(path), "MANIFEST.sha256.sig");
	sig = tk_slurp(path, &slen);
	ck_assert_uint_eq(slen, LK_SIGNATURE_LEN);
	/* Plain Ed25519 (not Ed25519ph) over the manifest's bytes. */
	pack_path(path, sizeof(path), "signing.pub.pem");
	ck_assert_msg(lk_signing_read_public(path, pk, &err) == LK_OK, "%s", err.msg);
	ck_assert(lk_signing_verify(pk, manifest, mlen, (const unsigned char *)sig));
	ck_assert_int_eq(memcmp(pk, lk_signer_public(signer), sizeof(pk)), 0);
	free(manifest);
	free(sig);
	/* The commands VERIFY.txt gives. */
	pack_path(path, sizeof(path), "VERIFY.txt");
	manifest = tk_slurp(path, NULL);
	ck_assert_ptr_nonnull(strstr(manifest, TK_SHA_CMD));
	ck_assert_ptr_nonnull(strstr(manifest, "openssl pkeyutl -verify -pubin -inkey "
	                                       "signing.pub.pem -rawin \\\n       -in "
	                                       "MANIFEST.sha256 -sigfile MANIFEST.sha256.sig"));
	free(manifest);
	if (!tk_have("sha256sum") || !tk_have("openssl")) {
		fprintf(stderr, "check_report: no sha256sum or openssl, command checks skipped\n");
		return;
	}
	ck_assert_int_eq(in_pack(TK_SHA_CMD), 0);
	ck_assert_int_eq(in_pack(TK_OSSL_CMD), 0);
}
END_TEST

/* One byte changed in a pack file: sha256sum -c fails. One byte changed in
 * the manifest: openssl's verification fails. */
START_TEST(test_tamper)
{
	static const char *const files[] = { "evidence.xml", "report.html", "keys.csv",
		                             "decisions.csv" };
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	FILE *f;
	int ch;

	if (!tk_have("sha256sum") || !tk_have("openssl")) {
		fprintf(stderr, "check_report: no sha256sum or openssl, tamper test skipped\n");
		return;
	}
	make_pack(&res);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		pack_path(path, sizeof(path), files[i]);
		f = fopen(path, "r+b");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fseek(f, 40, SEEK_SET), 0);
		ch = fgetc(f);
		ck_assert_int_ne(ch, EOF);
		ck_assert_int_eq(fseek(f, 40, SEEK_SET), 0);
		fputc(ch ^ 1, f);
		fclose(f);
		ck_assert_msg(in_pack(TK_SHA_CMD) != 0, "sha256sum -c passed with %s changed",
		              files[i]);
		f = fopen(path, "r+b");
		ck_assert_int_eq(fseek(f, 40, SEEK_SET), 0);
		fputc(ch, f);
		fclose(f);
		ck_assert_int_eq(in_pack(TK_SHA_CMD), 0);
	}
	pack_path(path, sizeof(path), "MANIFEST.sha256");
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ch = fgetc(f);
	rewind(f);
	fputc(ch == '0' ? '1' : '0', f);
	fclose(f);
	ck_assert_msg(in_pack(TK_OSSL_CMD) != 0, "openssl verified a changed manifest");
}
END_TEST

START_TEST(test_populations)
{
	struct lk_report_result res;

	make_pack(&res);
	/* Dave's, Alice's and Bob's keys at the start; at the end Bob's is
	 * revoked and Carol's revoked (offboarded) and expired. */
	XCOUNT_EQ("count(//e:test[@id='cc6.1-population-start']/e:row)", 3);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-population-end']/e:row)", 2);
	/* Three successes in the period, one of them single-factor (nginx). */
	XCOUNT_EQ("number(//e:test[@id='cc6.1-mfa']/e:result/@population)", 3);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-mfa']/e:row[@service='nginx'])", 1);
	XCOUNT_EQ("number(//e:test[@id='cc6.1-mfa']/e:service[@name='sshd']/@multi-factor)", 2);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-issuance']/e:row)", 1);
	XCOUNT_EQ("number(//e:test[@id='cc6.6-failures']/e:result/@population)", 3);
	XCOUNT_EQ("count(//e:test[@id='cc6.6-certificate-rejections']/e:row[@reason='cert-"
	          "expired'])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc6.6-lockouts']/e:row)", 1);
	XCOUNT_EQ("count(//e:test[@id='cc8.1-policy-changes']/e:row)", 2);
	XCOUNT_EQ("sum(//e:activity/e:day/@allowed)", 3);
	XCOUNT_EQ("sum(//e:activity/e:day/@denied)", 3);
	XCOUNT_EQ("number(//e:cover/e:checkpoint/@number)", (double)res.cp.number);
}
END_TEST

/* Zero rows reads "not occurring", never a pass; in the HTML too. */
START_TEST(test_not_occurring)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	char *html;

	make_pack(&res);
	XCOUNT_EQ("count(//e:result[@population='0' and @outcome!='not occurring'])", 0);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-no-use-after-removal']/e:result[@outcome='not "
	          "occurring'])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc7.2-alerts']/e:result[@outcome='not occurring'])", 1);
	XCOUNT_EQ("count(//e:result[contains(@outcome, 'pass')])", 0);
	pack_path(path, sizeof(path), "report.html");
	html = tk_slurp(path, NULL);
	ck_assert_ptr_nonnull(strstr(html, "not occurring"));
	ck_assert_ptr_null(strstr(html, "pass"));
	free(html);
}
END_TEST

/* An empty period: every population not occurring, no chart. */
START_TEST(test_empty_period)
{
	struct lk_report_result res;
	struct lk_err err = { { 0 } };

	ck_assert_msg(make_pack_for(TK_NOW - 200 * DAY, TK_NOW - 150 * DAY, &res, &err) == LK_OK,
	              "%s", err.msg);
	XCOUNT_EQ("count(//e:criterion/e:test/e:result[@outcome!='not occurring'])", 0);
	XCOUNT_EQ("count(//e:activity/e:day)", 0);
}
END_TEST

/* A success with a revoked key is an exception, listed and registered. */
START_TEST(test_use_after_revoke_is_exception)
{
	struct lk_report_result res;

	event(TK_NOW + 2 * DAY + 10 * HOUR, 1, "auth.decision", "ok",
	      "service=sshd env=prod " POL " pam=0 steps=apikey:ok");
	/* ... and one with carol's key after it expired. */
	event(TK_NOW + 2 * DAY + 11 * HOUR, 2, "auth.decision", "ok",
	      "service=sshd env=prod " POL " pam=0 steps=apikey:ok");
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 2);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-no-use-after-removal']/e:row)", 2);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-no-use-after-removal']/e:result[@outcome="
	          "'exceptions'])",
	          1);
	XCOUNT_EQ("number(//e:exceptions/e:exception[@test='cc6.2-no-use-after-removal']/@count)",
	          2);
}
END_TEST

/* CC6.1: a success with fewer factors than its policy requires is an
 * exception, listed with what the policy asked for; once nginx's policy is
 * on record (one factor), its single-factor success is no longer listed. */
START_TEST(test_mfa_below_required_is_exception)
{
	struct lk_report_result res;

	event(TK_NOW + 2 * DAY + 10 * HOUR, 0, "auth.decision", "ok",
	      "service=sshd env=prod " POL_SSHD " pam=0 steps=apikey:ok,totp:ignored");
	exec_sql("INSERT INTO policy_evidence VALUES "
	         "('1111111111111111111111111111111111111111111111111111111111111111', 'nginx', "
	         "'apikey required', 1, 1793000000, 1793000000)");
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-mfa']/e:row)", 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-mfa']/e:row[@service='sshd' and @factors='1' and "
	          "@required='2' and @detail='apikey required; step-up totp always'])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-mfa']/e:result[@outcome='exceptions' and "
	          "@exceptions='1' and @population='4'])",
	          1);
	XCOUNT_EQ("number(//e:exceptions/e:exception[@test='cc6.1-mfa']/@count)", 1);
	/* The chart's counts still cover every success. */
	XCOUNT_EQ("number(//e:test[@id='cc6.1-mfa']/e:service[@name='sshd']/@single-factor)", 1);
}
END_TEST

/* CC6.2: departure three days before the revocation, SLA 24h: an
 * exception. No --left: listed, not an exception. */
START_TEST(test_offboarding_late_is_exception)
{
	struct lk_report_result res;

	revoke_all(0, TK_NOW + 2 * DAY + 10 * HOUR, TK_NOW - DAY + 10 * HOUR);
	revoke_all(3, TK_NOW + 2 * DAY + 11 * HOUR, LK_LEFT_UNKNOWN);
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-offboarding']/e:row)", 3);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-offboarding']/e:row[@within-sla='no' and "
	          "@lag='3d 0h 0m' and @sla='1d' and @left='2026-10-31T10:00:00Z'])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-offboarding']/e:row[@within-sla='departure time not "
	          "recorded' and @lag='-' and not(@left)])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-offboarding']/e:row[@within-sla='yes'])", 1);
	XCOUNT_EQ("number(//e:exceptions/e:exception[@test='cc6.2-offboarding']/@count)", 1);
}
END_TEST

/* CC6.3: rotation keeps scopes (no exception); a rotated key whose scopes
 * differ from its predecessor's, written straight into the table, is one.
 * A '*' scope (outside the grammar) is privileged. */
START_TEST(test_scope_drift_is_exception)
{
	char key[LK_KEY_MAX_LEN + 1], sql[1024];
	struct lk_key_info info;
	struct lk_report_result res;
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_rotate(e.store, &e.rules, kids[0], false, TK_ACTOR,
	                            TK_NOW + DAY + 14 * HOUR, key, &info, &err) == LK_OK,
	              "%s", err.msg);
	sodium_memzero(key, sizeof(key));
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 0);
	XCOUNT_EQ("count(//e:test[@id='cc6.3-scope-changes']/e:row[@action='rotate' and "
	          "@scopes='read' and @old='read'])",
	          1);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO api_key (kid, owner_ref, env, scopes, hash, hash_alg, pepper_ver, "
	         "created, expires, status, rotated_from) VALUES ('Zz9Zz9Zz9Zz9', '%s', 'prod', "
	         "'read write:*', x'00', 'blake2b-256-v1', 1, %lld, %lld, 'active', '%s')",
	         refs[1], (long long)(TK_NOW + 2 * DAY), (long long)(TK_NOW + 30 * DAY), kids[1]);
	exec_sql(sql);
	tk_rmrf(pack);
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.3-scope-changes']/e:row[@kid='Zz9Zz9Zz9Zz9' and "
	          "@scopes='read write:*' and @old='read'])",
	          1);
	XCOUNT_EQ("number(//e:exceptions/e:exception[@test='cc6.3-scope-changes']/@count)", 1);
	/* Privileged: dave's ssh:admin and the wildcard, information only. */
	XCOUNT_EQ("count(//e:test[@id='cc6.3-privileged-keys']/e:row)", 2);
	XCOUNT_EQ("count(//e:test[@id='cc6.3-privileged-keys']/e:row[@kid='Zz9Zz9Zz9Zz9'])", 1);
}
END_TEST

START_TEST(test_scope_privileged)
{
	static const char *const yes[] = { "admin",     "ssh:admin", "repo/admin", "admin:all",
		                           "a.admin.b", "*",         "read:*" };
	static const char *const no[] = { "read", "administrator", "ssh:admins", "badmin",
		                          "ssh:login" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(ev_scope_privileged(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!ev_scope_privileged(no[i]), "%s", no[i]);
}
END_TEST

/* The new populations of the base fixture (golden covers their form). */
START_TEST(test_soc2_sections)
{
	struct lk_report_result res;

	make_pack(&res);
	XCOUNT_EQ("count(//e:system/e:services/e:row[@service='sshd' and @required='2'])", 1);
	XCOUNT_EQ("count(//e:system/e:plugins/e:row[@name='apikey'])", 1);
	XCOUNT_EQ("count(//e:system/e:description)", 4);
	XCOUNT_EQ("count(//e:matrix/e:control)", 9);
	XCOUNT_EQ("count(//e:matrix/e:control[@id='CC6.7']/e:covered-by)", 0);
	/* Every test the matrix names exists (the XSD's IDREF says so too). */
	XCOUNT_EQ("count(//e:matrix//e:covered-by[not(@test = //e:test/@id)])", 0);
	XCOUNT_EQ("sum(//e:test[@id='cc6.1-key-age']/e:bucket/@count)", 2);
	XCOUNT_EQ("number(//e:test[@id='cc6.1-key-age']/e:bucket[@label='61-90d']/@count)", 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-key-age']/e:row[@age='83d 0h 0m'])", 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-offboarding']/e:row[@lag='3h 0m' and "
	          "@within-sla='yes'])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc6.8-plugin-loads']/e:row[@result='failed'])", 1);
	XCOUNT_EQ("count(//e:test[@id='cc8.1-policy-changes']/e:row[@action='policy.change' and "
	          "@service='sshd' and @old='aaaa' and @new='bbbb' and @ticket='CHG-1'])",
	          1);
	XCOUNT_EQ("count(//e:test[@id='cc8.1-policy-changes']/e:row[@action='policy.load' and "
	          "@policy='" SSHD_SHA "'])",
	          1);
}
END_TEST

/* A success just before the revocation, in the same second: not an
 * exception (the log's order decides, not the clock's resolution). */
START_TEST(test_use_before_revoke_same_second)
{
	struct lk_report_result res;
	struct lk_err err = { { 0 } };

	event(TK_NOW + DAY + 13 * HOUR, 0, "auth.decision", "ok",
	      "service=sshd env=prod " POL " pam=0 steps=apikey:ok");
	ck_assert_msg(lk_key_revoke(e.store, kids[0], "rotated out", TK_ACTOR,
	                            TK_NOW + DAY + 13 * HOUR, &err) == LK_OK,
	              "%s", err.msg);
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 0);
	XCOUNT_EQ("count(//e:test[@id='cc6.2-no-use-after-removal']/e:row)", 0);
	/* The same second, but after the revocation in the log: one. */
	event(TK_NOW + DAY + 13 * HOUR, 0, "auth.decision", "ok",
	      "service=sshd env=prod " POL " pam=0 steps=apikey:ok");
	tk_rmrf(pack);
	make_pack(&res);
	ck_assert_int_eq(res.exceptions, 1);
}
END_TEST

START_TEST(test_csv)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	char *csv;

	make_pack(&res);
	pack_path(path, sizeof(path), "keys.csv");
	csv = tk_slurp(path, NULL);
	ck_assert_ptr_nonnull(
	    strstr(csv, "kid,owner_ref,env,scopes,created,expires,status,status_changed,"
	                "status_reason\r\n"));
	/* RFC 4180: the reason's comma and quotes. */
	ck_assert_ptr_nonnull(
	    strstr(csv, ",revoked,2026-11-02T12:00:00Z,\"left, \"\"team\"\"\"\r\n"));
	free(csv);
	pack_path(path, sizeof(path), "decisions.csv");
	csv = tk_slurp(path, NULL);
	ck_assert_ptr_nonnull(strstr(csv, "2026-11-02T09:00:00Z,api-mtls,denied,cert-expired,"));
	ck_assert_ptr_nonnull(strstr(csv, ",apikey:ok\r\n"));
	/* Six decisions in the period, the header, nothing after the period. */
	{
		int lines = 0;
		for (char *p = csv; (p = strchr(p, '\n')) != NULL; p++)
			lines++;
		ck_assert_int_eq(lines, 7);
	}
	free(csv);
}
END_TEST

START_TEST(test_html_chart)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	char *html;

	make_pack(&res);
	pack_path(path, sizeof(path), "report.html");
	html = tk_slurp(path, NULL);
	ck_assert_ptr_nonnull(strstr(html, "<svg"));
	ck_assert_ptr_nonnull(strstr(html, "2026-11-01: 2 allowed"));
	ck_assert_ptr_nonnull(strstr(html, "2026-11-03: 1 denied"));
	ck_assert_ptr_nonnull(strstr(html, "<style>"));
	/* Self-contained: nothing fetched. */
	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_null(strstr(html, "<link"));
	ck_assert_ptr_null(strstr(html, "src="));
	ck_assert_ptr_null(strstr(html, "rows shown"));
	free(html);
}
END_TEST

/* A population longer than report.html shows: the HTML has its first
 * LK_REPORT_HTML_ROWS rows and says how many there are; evidence.xml keeps
 * every row and still validates. */
START_TEST(test_html_prunes_long_population)
{
	char path[PATH_MAX + 64], note[96];
	struct lk_report_result res;
	const int extra = LK_REPORT_HTML_ROWS + 50;
	size_t shown = 0;
	char *html;

	for (int i = 0; i < extra; i++)
		event(TK_NOW + 2 * DAY + 10 * HOUR + i, 0, "auth.decision", "ok",
		      "service=bulk env=prod " POL " pam=0 steps=apikey:ok,bulk:denied");
	make_pack(&res);
	/* nginx's single-factor success, then the bulk ones. */
	XCOUNT_EQ("count(//e:test[@id='cc6.1-mfa']/e:row)", extra + 1);
	XCOUNT_EQ("count(//e:test[@id='cc6.1-mfa']/e:row[@service='bulk'])", extra);
	XCOUNT_EQ("count(//@rows-omitted)", 0);
	pack_path(path, sizeof(path), "report.html");
	html = tk_slurp(path, NULL);
	for (const char *p = html; (p = strstr(p, "apikey:ok,bulk:denied")) != NULL; p++)
		shown++;
	ck_assert_uint_eq(shown, LK_REPORT_HTML_ROWS - 1);
	ck_assert_ptr_nonnull(strstr(html, "<td>nginx</td>"));
	snprintf(note, sizeof(note), "First %d of\n          %d rows shown", LK_REPORT_HTML_ROWS,
	         extra + 1);
	ck_assert_msg(strstr(html, note) != NULL, "no \"%s\" in report.html", note);
	ck_assert_ptr_nonnull(strstr(html, "every row\n          is in evidence.xml"));
	/* Only that population was cut. */
	ck_assert_ptr_null(strstr(strstr(html, note) + strlen(note), "rows shown"));
	free(html);
}
END_TEST

/* The report's checkpoint: reason "report", named in the cover, and the
 * log still verifies with it. */
START_TEST(test_checkpoint)
{
	struct lk_report_result res;
	struct lk_verify_report vr;
	struct lk_err err = { { 0 } };
	sqlite3 *db = e.store->db;

	make_pack(&res);
	ck_assert_int_eq(res.cp.number, 1);
	ck_assert_int_eq(tk_count(db, "SELECT count(*) FROM audit WHERE action = "
	                              "'audit.checkpoint' AND reason = 'report'"),
	                 1);
	ck_assert_int_eq(lk_checkpoint_verify(e.store, lk_signer_public(signer), &vr, &err), LK_OK);
	ck_assert_int_eq(vr.audit.problem, LK_AUDIT_INTACT);
	ck_assert_int_eq(vr.checkpoints, 1);
}
END_TEST

/* A non-empty directory is refused before anything is done. */
START_TEST(test_refuses_nonempty_dir)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	struct lk_err err = { { 0 } };
	struct tk_snapshot before;
	FILE *f;

	ck_assert_int_eq(mkdir(pack, 0700), 0);
	pack_path(path, sizeof(path), "old.txt");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	tk_snapshot(e.store, &before);
	ck_assert_int_eq(make_pack_for(TK_NOW, TK_NOW + DAY, &res, &err), LK_EEXIST);
	ck_assert_ptr_nonnull(strstr(err.msg, "not empty"));
	tk_assert_unchanged(e.store, &before);
	pack_path(path, sizeof(path), "evidence.xml");
	ck_assert_int_ne(access(path, F_OK), 0);
	/* An empty existing directory is fine. */
	pack_path(path, sizeof(path), "old.txt");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(make_pack_for(TK_NOW, TK_NOW + DAY, &res, &err) == LK_OK, "%s", err.msg);
	/* And an empty period is refused. */
	tk_rmrf(pack);
	ck_assert_int_eq(make_pack_for(TK_NOW, TK_NOW, &res, &err), LK_EINVAL);
}
END_TEST

/* A directory others may write to, or someone else's, or a symlink in the
 * pack's place: refused before anything is signed or written (a planted
 * link or a swapped file would have this process write or sign what they
 * choose). */
START_TEST(test_refuses_unsafe_dir)
{
	char path[PATH_MAX + 64], target[PATH_MAX + 64];
	struct lk_report_result res;
	struct lk_err err = { { 0 } };
	struct tk_snapshot before;

	tk_snapshot(e.store, &before);
	ck_assert_int_eq(mkdir(pack, 0700), 0);
	ck_assert_int_eq(chmod(pack, 0770), 0);
	ck_assert_int_eq(make_pack_for(TK_NOW, TK_NOW + DAY, &res, &err), LK_EINVAL);
	ck_assert_msg(strstr(err.msg, "others may write to it") != NULL, "%s", err.msg);
	ck_assert_int_eq(chmod(pack, 0703), 0);
	ck_assert_int_eq(make_pack_for(TK_NOW, TK_NOW + DAY, &res, &err), LK_EINVAL);
	tk_assert_unchanged(e.store, &before);
	pack_path(path, sizeof(path), "evidence.xml");
	ck_assert_int_ne(access(path, F_OK), 0);
	if (getuid() == 0) {
		ck_assert_int_eq(chmod(pack, 0700), 0);
		ck_assert_int_eq(chown(pack, 65534, 65534), 0);
		ck_assert_int_eq(make_pack_for(TK_NOW, TK_NOW + DAY, &res, &err), LK_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "not the caller's own directory"));
		tk_assert_unchanged(e.store, &before);
	}
	/* The pack's name a symlink to an empty directory of ours: not followed. */
	tk_rmrf(pack);
	snprintf(target, sizeof(target), "%s.target", pack);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	ck_assert_int_eq(symlink(target, pack), 0);
	ck_assert_int_ne(make_pack_for(TK_NOW, TK_NOW + DAY, &res, &err), LK_OK);
	tk_assert_unchanged(e.store, &before);
	snprintf(path, sizeof(path), "%s/evidence.xml", target);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(unlink(pack), 0);
	tk_rmrf(target);
}
END_TEST

/* A row no latchkey command writes (a reason with U+FFFF, a byte that is
 * not UTF-8): the pack is still made and valid, the characters replaced
 * by U+FFFD, instead of every pack over that period failing for good. */
START_TEST(test_non_xml_text_replaced)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	struct lk_err err = { { 0 } };
	char *xml;

	event(TK_NOW + 3 * HOUR, 0, "auth.lockout", "too-many-failures",
	      "odd \xef\xbf\xbf detail \xff");
	ck_assert_msg(make_pack_for(TK_NOW, TK_NOW + 5 * DAY, &res, &err) == LK_OK, "%s", err.msg);
	pack_path(path, sizeof(path), "evidence.xml");
	tk_assert_valid_evidence(path);
	xml = tk_slurp(path, NULL);
	ck_assert_ptr_null(strstr(xml, "\xef\xbf\xbf"));
	ck_assert_ptr_nonnull(strstr(xml, "odd \xef\xbf\xbd detail \xef\xbf\xbd"));
	free(xml);
}
END_TEST

/* The command: latchkey --offline report soc2 on a setup made by init. */
START_TEST(test_cli)
{
	char cmd[PATH_MAX * 3], state[PATH_MAX + 64];
	int st;

	if (!tk_have("sha256sum") || !tk_have("openssl")) {
		fprintf(stderr, "check_report: no sha256sum or openssl, CLI test skipped\n");
		return;
	}
	snprintf(state, sizeof(state), "%s/state", e.dir);
	snprintf(cmd, sizeof(cmd),
	         "L=%s/cli/latchkey; $L init --state-dir '%s' >/dev/null 2>&1 && "
	         "$L --offline -c '%s/latchkey.conf' report soc2 --from 2026-01-01 --to 2026-12-31 "
	         "--out '%s' >'%s/out' 2>&1",
	         TK_BUILDDIR, state, state, pack, e.dir);
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "report soc2 failed (%d)", st);
	ck_assert_int_eq(in_pack(TK_SHA_CMD), 0);
	ck_assert_int_eq(in_pack(TK_OSSL_CMD), 0);
	/* Again into the same, now full, directory: refused (exit 3). */
	snprintf(cmd, sizeof(cmd),
	         "%s/cli/latchkey --offline -c '%s/latchkey.conf' report soc2 --from 2026-01-01 "
	         "--to 2026-12-31 --out '%s' >/dev/null 2>&1",
	         TK_BUILDDIR, state, pack);
	st = system(cmd);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	/* Bad arguments: exit 2. */
	snprintf(cmd, sizeof(cmd),
	         "%s/cli/latchkey --offline -c '%s/latchkey.conf' report soc2 --from 2026-02-30x "
	         "--to 2026-12-31 --out '%s/x' >/dev/null 2>&1",
	         TK_BUILDDIR, state, e.dir);
	st = system(cmd);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("soc2");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_validates_against_xsd);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_signature_and_manifest);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_populations);
	tcase_add_test(tc, test_not_occurring);
	tcase_add_test(tc, test_empty_period);
	tcase_add_test(tc, test_use_after_revoke_is_exception);
	tcase_add_test(tc, test_use_before_revoke_same_second);
	tcase_add_test(tc, test_mfa_below_required_is_exception);
	tcase_add_test(tc, test_offboarding_late_is_exception);
	tcase_add_test(tc, test_scope_drift_is_exception);
	tcase_add_test(tc, test_scope_privileged);
	tcase_add_test(tc, test_soc2_sections);
	tcase_add_test(tc, test_csv);
	tcase_add_test(tc, test_html_chart);
	tcase_add_test(tc, test_html_prunes_long_population);
	tcase_add_test(tc, test_checkpoint);
	tcase_add_test(tc, test_refuses_nonempty_dir);
	tcase_add_test(tc, test_refuses_unsafe_dir);
	tcase_add_test(tc, test_non_xml_text_replaced);
	tcase_add_test(tc, test_cli);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(report_suite());
}
