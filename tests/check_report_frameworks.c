/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GDPR and ISO 27001 evidence packs (reports/gdpr.c, reports/iso27001.c)
 * on a deterministic fixture made through the core at fixed times: three
 * owners' keys, a TOTP credential, a client address, decisions, a lockout,
 * a policy change, a signed checkpoint and one owner erased. Each pack
 * validates against reports/evidence.xsd and matches its golden file
 * (tests/golden/<kind>-evidence.xml, volatile values normalised;
 * LK_UPDATE_GOLDEN=1 rewrites); the manifest checks with sha256sum and its
 * signature with openssl, and one byte changed fails them; the Art. 30
 * record says what the configuration states and does not, and what it lacks
 * is an exception; a retention period exceeded is one; the erasure log
 * shows the erasure and no name or address appears in any pack file.
 */
#include "config.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "checkpoint-private.h"
#include "evidence-testutil.h"
#include "gdpr-private.h"
#include "report-private.h"
#include "signing-private.h"
#include "subject-private.h"
#include "testutil.h"

#define DAY  INT64_C(86400)
#define HOUR INT64_C(3600)

/* The fixture's client address: like a name, it must never reach a pack. */
#define ADDRESS "192.0.2.7"

static struct tk_env e;
static struct lk_signer *signer;
static char pack[PATH_MAX + 64];
static char kids[3][LK_KID_LEN + 1], refs[3][LK_SUBJECT_REF_LEN + 1];
static char source_ref[LK_SUBJECT_REF_LEN + 1];
/* Names no random id can contain (a '.'), so finding one in a pack is a
 * leak, never chance; labels: their stand-ins in the golden files. */
static const char *const owners[] = { "alice.example", "bob.example", "carol.example" };
static const char *const labels[] = { "alice", "bob", "carol" };

static void issue(int i, int64_t at, int64_t lifetime)
{
	const char *scopes[] = { "read" };
	char key[LK_KEY_MAX_LEN + 1];
	struct lk_key_info info;
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_key_issue(e.store, &e.rules,
	                           &(struct lk_issue_request){ .owner = owners[i],
	                                                       .env = "prod",
	                                                       .scopes = scopes,
	                                                       .n_scopes = 1,
	                                                       .lifetime = lifetime },
	                           TK_ACTOR, at, key, &info, &err) == LK_OK,
	              "%s", err.msg);
	sodium_memzero(key, sizeof(key));
	memcpy(kids[i], info.kid, sizeof(kids[i]));
	memcpy(refs[i], info.owner_ref, sizeof(refs[i]));
}

/* who: an owner's index, or -1 for the client address. */
static void event(int64_t at, int who, const char *action, const char *reason, const char *detail)
{
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_audit_record(e.store,
	                              &(struct lk_audit_event){
	                                  .ts = at,
	                                  .actor_uid = 0,
	                                  .subject_ref = who >= 0 ? refs[who] : source_ref,
	                                  .kid = who >= 0 ? kids[who] : NULL,
	                                  .action = action,
	                                  .reason = reason,
	                                  .detail = detail },
	                              NULL, &err) == LK_OK,
	              "%s", err.msg);
}

#define POL "policy=1111111111111111111111111111111111111111111111111111111111111111"

static void setup(void)
{
	struct lk_err err = { { 0 } };
	struct lk_erase_result er;
	struct lk_checkpoint cp;
	struct tk_totp u;

	tk_setup(&e);
	signer = tk_signer(&e);
	snprintf(pack, sizeof(pack), "%s/pack", e.dir);

	/* The period is TK_NOW (2026-11-01) plus three days. */
	issue(0, TK_NOW - 7 * DAY, 90 * DAY);
	issue(1, TK_NOW - 6 * DAY, 90 * DAY);
	issue(2, TK_NOW + DAY, DAY); /* carol's expires inside the period */
	tk_totp_enroll(e.store, owners[0], TK_NOW - 5 * DAY, &u);
	sodium_memzero(&u, sizeof(u));
	ck_assert_msg(lk_subject_ref(e.store, "source", ADDRESS, true, TK_NOW - 10 * DAY,
	                             source_ref, &err) == LK_OK,
	              "%s", err.msg);
	event(TK_NOW + 9 * HOUR, 0, "auth.decision", "ok",
	      "service=sshd env=prod " POL " pam=0 steps=apikey:ok,totp:ok");
	event(TK_NOW + 10 * HOUR, 1, "auth.decision", "ok",
	      "service=nginx env=prod " POL " pam=0 steps=apikey:ok");
	ck_assert_msg(lk_checkpoint_make(e.store, signer, TK_NOW + 12 * HOUR, TK_ACTOR,
	                                 LK_CHECKPOINT_REQUEST, &cp, &err) == LK_OK,
	              "%s", err.msg);
	event(TK_NOW + DAY + 9 * HOUR, 0, "auth.decision", "bad-secret",
	      "service=sshd env=prod " POL " pam=7 steps=apikey:bad-secret,totp:not-run");
	event(TK_NOW + DAY + 9 * HOUR + 1800, -1, "auth.lockout", "locked",
	      "kind=source service=sshd failures=10 window=15m until=2026-11-02T10:00:00Z");
	event(TK_NOW + 2 * DAY + 9 * HOUR, -1, "policy.change", "ok",
	      "service=sshd change=mfa-enable old=aaaa new=bbbb ticket=CHG-1");
	/* Bob asks to be forgotten: his live key is revoked, his name goes. */
	ck_assert_msg(lk_subject_erase(e.store, owners[1], "data subject request", "GDPR-7",
	                               TK_ACTOR, TK_NOW + 2 * DAY + 10 * HOUR, &er, &err) == LK_OK,
	              "%s", err.msg);
}

static void teardown(void)
{
	lk_signer_free(signer);
	signer = NULL;
	tk_teardown(&e);
}

static void make_pack(enum lk_report_kind kind, struct lk_report_result *res)
{
	struct lk_report_params p = { .kind = kind,
		                      .from = TK_NOW,
		                      .to = TK_NOW + 3 * DAY,
		                      .now = TK_NOW + 5 * DAY,
		                      .actor = TK_ACTOR,
		                      .out_dir = pack,
		                      .scope = "the check_report_frameworks fixture",
		                      .version = "test",
		                      .cfg = e.cfg };
	struct lk_err err = { { 0 } };

	tk_rmrf(pack);
	ck_assert_msg(lk_report_make(e.store, signer, &p, res, &err) == LK_OK, "%s", err.msg);
}

static void pack_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", pack, name);
}

static int in_pack(const char *cmd)
{
	return tk_run_in(pack, cmd);
}

/* The XPath number over evidence.xml (prefix e: the evidence namespace). */
static double xnum(const char *expr)
{
	char path[PATH_MAX + 64];

	pack_path(path, sizeof(path), "evidence.xml");
	return tk_xpath_number(path, expr);
}

#define XNUM_EQ(expr, want) ck_assert_msg(xnum(expr) == (want), "%s != %d", expr, (int)(want))

static const enum lk_report_kind kinds[] = { LK_REPORT_GDPR, LK_REPORT_ISO27001 };

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_validates_against_xsd)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;

	make_pack(kinds[_i], &res);
	pack_path(path, sizeof(path), "evidence.xml");
	tk_assert_valid_evidence(path);
	ck_assert(res.intact);
	/* Zero rows is never anything but "not occurring". */
	XNUM_EQ("count(//e:result[@population='0' and @outcome!='not occurring'])", 0);
}
END_TEST

START_TEST(test_golden)
{
	char path[PATH_MAX + 64], golden[PATH_MAX + 64], name[32];
	struct lk_report_result res;
	const char *kind = lk_report_kind_str(kinds[_i]);
	char *got, *want;

	make_pack(kinds[_i], &res);
	pack_path(path, sizeof(path), "evidence.xml");
	got = tk_slurp(path, NULL);
	/* Random per run: the kids and pseudonyms the core drew, the signing
	 * key, and the chain head (it hashes the rows holding them). */
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "KID-%s", labels[i]);
		tk_replace_all(&got, kids[i], name);
		snprintf(name, sizeof(name), "REF-%s", labels[i]);
		tk_replace_all(&got, refs[i], name);
	}
	tk_replace_all(&got, source_ref, "REF-source");
	tk_replace_all(&got, lk_signer_key_id(signer), "KEY-ID");
	tk_blank_attr(&got, "head");
	snprintf(golden, sizeof(golden), "%s/tests/golden/%s-evidence.xml", TK_SRCDIR, kind);
	if (getenv("LK_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(golden, "w");
		ck_assert_ptr_nonnull(f);
		fputs(got, f);
		fclose(f);
	}
	want = tk_slurp(golden, NULL);
	if (strcmp(got, want) != 0) {
		snprintf(path, sizeof(path), "%s/%s-evidence.normalised.xml", e.dir, kind);
		FILE *f = fopen(path, "w");
		if (f != NULL) {
			fputs(got, f);
			fclose(f);
		}
		ck_abort_msg("evidence.xml differs from tests/golden/%s-evidence.xml "
		             "(LK_UPDATE_GOLDEN=1 rewrites)",
		             kind);
	}
	free(got);
	free(want);
}
END_TEST

/* openssl verifies the signature; one byte changed in evidence.xml fails
 * sha256sum -c, one in the manifest fails openssl. */
START_TEST(test_signature_and_tamper)
{
	char path[PATH_MAX + 64];
	struct lk_report_result res;
	FILE *f;
	int ch;

	if (!tk_have("sha256sum") || !tk_have("openssl")) {
		fprintf(stderr, "check_report_frameworks: no sha256sum or openssl, skipped\n");
		return;
	}
	make_pack(kinds[_i], &res);
	ck_assert_int_eq(in_pack(TK_SHA_CMD), 0);
	ck_assert_int_eq(in_pack(TK_OSSL_CMD), 0);
	pack_path(path, sizeof(path), "evidence.xml");
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 200, SEEK_SET), 0);
	ch = fgetc(f);
	ck_assert_int_ne(ch, EOF);
	ck_assert_int_eq(fseek(f, 200, SEEK_SET), 0);
	fputc(ch ^ 1, f);
	fclose(f);
	ck_assert_msg(in_pack(TK_SHA_CMD) != 0, "sha256sum -c passed with evidence.xml changed");
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

/* Nothing stated: each mandatory item says so and is an exception; the
 * optional ones say "none stated" and are not. */
START_TEST(test_record_unset)
{
	struct lk_report_result res;

	make_pack(LK_REPORT_GDPR, &res);
	XNUM_EQ("count(//e:record/e:field[@stated='false'])", 7);
	XNUM_EQ("count(//e:record/e:field[@name='controller' and starts-with(., 'not stated in "
	        "latchkey.conf (set controller = ')])",
	        1);
	XNUM_EQ("count(//e:record/e:field[@name='recipients' and starts-with(., 'none stated')])",
	        1);
	XNUM_EQ("number(//e:test[@id='art30-record-complete']/e:result/@exceptions)", 4);
	XNUM_EQ("number(//e:exceptions/e:exception[@test='art30-record-complete']/@count)", 4);
	/* No period: retention is not tested, and not counted twice. */
	XNUM_EQ("count(//e:exceptions/e:exception[@test='art5-retention'])", 0);
	XNUM_EQ("count(//e:test[@id='art5-retention']/e:row[@result='no retention period "
	        "stated'])",
	        3);
	ck_assert_int_eq(res.exceptions, 4);
}
END_TEST

START_TEST(test_record_set)
{
	struct lk_report_result res;

	e.cfg->controller = strdup("Example Ltd");
	e.cfg->controller_contact = strdup("privacy@example.org");
	e.cfg->processing_purpose = strdup("authentication of staff to internal services");
	e.cfg->recipients = strdup("none");
	e.cfg->audit_retention = 400 * DAY;
	make_pack(LK_REPORT_GDPR, &res);
	XNUM_EQ("count(//e:record/e:field[@name='controller' and @stated='true' and .='Example "
	        "Ltd'])",
	        1);
	XNUM_EQ("count(//e:record/e:field[@name='time limits for erasure' and @stated='true'])", 1);
	/* The DPO and transfers stay unstated, as information only. */
	XNUM_EQ("count(//e:record/e:field[@stated='false'])", 2);
	XNUM_EQ("number(//e:test[@id='art30-record-complete']/e:result/@exceptions)", 0);
	XNUM_EQ("count(//e:test[@id='art5-retention']/e:row[@result='within'])", 3);
	ck_assert_int_eq(res.exceptions, 0);
}
END_TEST

/* A retention period shorter than the records' age: the categories only
 * the period ends are exceptions (the audit log from 2026-10-25, the client
 * address from 2026-10-22), the ones that end with the subject are not. */
START_TEST(test_retention_exceeded)
{
	struct lk_report_result res;

	e.cfg->audit_retention = 8 * DAY; /* the cut is 2026-10-27 */
	make_pack(LK_REPORT_GDPR, &res);
	XNUM_EQ("count(//e:test[@id='art5-retention']/e:row[@result='exceeds'])", 2);
	XNUM_EQ("count(//e:test[@id='art5-retention']/e:row[starts-with(@category, 'Client "
	        "addresses') and @result='exceeds' and @old='1'])",
	        1);
	XNUM_EQ("count(//e:test[@id='art5-retention']/e:row[starts-with(@category, 'Names') and "
	        "@result='exceeds'])",
	        0);
	XNUM_EQ("number(//e:exceptions/e:exception[@test='art5-retention']/@count)", 2);
	XNUM_EQ("count(//e:test[@id='art5-retention']/e:result[@outcome='exceptions'])", 1);
}
END_TEST

static bool file_has(const char *name, const char *needle)
{
	char path[PATH_MAX + 64];
	size_t len;
	char *buf;
	bool found;

	pack_path(path, sizeof(path), name);
	buf = tk_slurp(path, &len);
	found = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

/* The erasure is in the log by pseudonym, as an erased subject; no owner's
 * name and no client address is in any file of either pack. */
START_TEST(test_erasure_and_no_names)
{
	static const char *const files[] = { "evidence.xml", "report.html",     "decisions.csv",
		                             "keys.csv",     "MANIFEST.sha256", "VERIFY.txt" };
	struct lk_report_result res;
	char expr[256];

	make_pack(kinds[_i], &res);
	/* Every pack marks the erased owner wherever its pseudonym appears. */
	snprintf(expr, sizeof(expr), "count(//e:row[@subject='%s'])", refs[1]);
	XNUM_EQ(expr, 0);
	snprintf(expr, sizeof(expr), "count(//e:row[@subject='%s (erased subject)']) > 0", refs[1]);
	XNUM_EQ(expr, 1);
	if (kinds[_i] == LK_REPORT_GDPR) {
		snprintf(expr, sizeof(expr),
		         "count(//e:test[@id='art17-erasure-log']/e:row[@action='subject.erase' "
		         "and @subject='%s (erased subject)' and @status='erased subject' and "
		         "@reason='data subject request'])",
		         refs[1]);
		XNUM_EQ(expr, 1);
		snprintf(expr, sizeof(expr),
		         "count(//e:test[@id='art17-erasure-log']/e:row[@action='key.revoke' and "
		         "@kid='%s' and @reason='erased'])",
		         kids[1]);
		XNUM_EQ(expr, 1);
		XNUM_EQ("count(//e:categories/e:row[starts-with(@category, 'Names') and "
		        "@subjects='3 (1 erased subject)' and @count='2'])",
		        1);
		XNUM_EQ("count(//e:categories/e:row[@stored='no'])", 6);
	}
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		for (int i = 0; i < 3; i++)
			ck_assert_msg(!file_has(files[f], owners[i]), "%s names %s", files[f],
			              owners[i]);
		ck_assert_msg(!file_has(files[f], ADDRESS), "%s holds the client address",
		              files[f]);
	}
}
END_TEST

START_TEST(test_iso_matrix_and_rotation)
{
	struct lk_report_result res;

	make_pack(LK_REPORT_ISO27001, &res);
	XNUM_EQ("count(//e:matrix/e:control)", 9);
	XNUM_EQ("count(//e:criterion)", 9);
	XNUM_EQ("count(//e:matrix/e:control[not(e:covered-by)])", 0);
	/* Carol's key expired inside the period: listed, not an exception. */
	XNUM_EQ("count(//e:test[@id='a5.17-rotation']/e:row[@status='expired'])", 1);
	XNUM_EQ("number(//e:test[@id='a5.17-rotation']/e:result/@exceptions)", 0);
	XNUM_EQ("number(//e:test[@id='a5.17-key-storage']/e:row[@name='blake2b-256-v1' and "
	        "@status='active']/@count)",
	        2);
	XNUM_EQ("number(//e:test[@id='a8.24-totp']/e:row[@name='SHA1']/@count)", 1);
	XNUM_EQ("count(//e:test[@id='a8.15-checkpoints']/e:row)", 1);
	XNUM_EQ("count(//e:test[@id='a8.16-alerts']/e:result[@outcome='not occurring'])", 1);
	ck_assert_int_eq(res.exceptions, 0);
	/* Alice's key (2026-10-25) is overdue at a two-day rotation age. */
	e.cfg->rotation_age = 2 * DAY;
	make_pack(LK_REPORT_ISO27001, &res);
	XNUM_EQ("count(//e:test[@id='a5.17-rotation']/e:row[@status='overdue'])", 1);
	XNUM_EQ("number(//e:exceptions/e:exception[@test='a5.17-rotation']/@count)", 1);
	ck_assert_int_eq(res.exceptions, 1);
}
END_TEST

/* The commands, on a setup made by latchkey init. */
START_TEST(test_cli)
{
	char cmd[PATH_MAX * 3], state[PATH_MAX + 64];
	const char *kind = lk_report_kind_str(kinds[_i]);
	int st;

	if (!tk_have("sha256sum") || !tk_have("openssl")) {
		fprintf(stderr, "check_report_frameworks: no sha256sum or openssl, skipped\n");
		return;
	}
	snprintf(state, sizeof(state), "%s/state", e.dir);
	snprintf(cmd, sizeof(cmd),
	         "L=%s/cli/latchkey; $L init --state-dir '%s' >/dev/null 2>&1 && "
	         "$L --offline -c '%s/latchkey.conf' report %s --from 2026-01-01 --to 2026-12-31 "
	         "--out '%s' >'%s/out' 2>&1",
	         TK_BUILDDIR, state, state, kind, pack, e.dir);
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "report %s failed (%d)", kind, st);
	ck_assert_int_eq(in_pack(TK_SHA_CMD), 0);
	ck_assert_int_eq(in_pack(TK_OSSL_CMD), 0);
}
END_TEST

static Suite *frameworks_suite(void)
{
	Suite *s = suite_create("report_frameworks");
	TCase *tc = tcase_create("gdpr_iso27001");
	const int n = (int)(sizeof(kinds) / sizeof(kinds[0]));

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_validates_against_xsd, 0, n);
	tcase_add_loop_test(tc, test_golden, 0, n);
	tcase_add_loop_test(tc, test_signature_and_tamper, 0, n);
	tcase_add_test(tc, test_record_unset);
	tcase_add_test(tc, test_record_set);
	tcase_add_test(tc, test_retention_exceeded);
	tcase_add_loop_test(tc, test_erasure_and_no_names, 0, n);
	tcase_add_test(tc, test_iso_matrix_and_rotation);
	tcase_add_loop_test(tc, test_cli, 0, n);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(frameworks_suite());
}
