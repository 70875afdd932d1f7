/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control-flag semantics against the real thing: every stack of two and
 * three steps (each a control flag and a module result) is run through
 * libpam itself, with pam_debug.so returning the chosen codes from a
 * generated service file (pam_start_confdir), and through lk_stack. The
 * final codes must agree. Linux-PAM is the specification.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack-private.h"
#include "testutil.h"

static const struct {
	const char *debug_arg; /* pam_debug.so's name for the code */
	int code;
} outcomes[] = {
	{ "success", PAM_SUCCESS },
	{ "auth_err", PAM_AUTH_ERR },
	{ "ignore", PAM_IGNORE },
	{ "authinfo_unavail", PAM_AUTHINFO_UNAVAIL },
};
#define N_OUTCOMES (int)(sizeof(outcomes) / sizeof(outcomes[0]))
#define N_CONTROLS 4

static char confdir[PATH_MAX];

static int no_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)n, (void)msg, (void)resp, (void)data;
	return PAM_CONV_ERR;
}

/* Runs the stack through libpam and returns pam_authenticate's code. */
static int libpam_result(const int *controls, const int *results, int n)
{
	char path[PATH_MAX + 32];
	struct pam_conv conv = { no_conv, NULL };
	pam_handle_t *pamh = NULL;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/lktest", confdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < n; i++)
		fprintf(f, "auth %s pam_debug.so auth=%s\n", lk_control_str(controls[i]),
		        outcomes[results[i]].debug_arg);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(pam_start_confdir("lktest", "tester", &conv, confdir, &pamh), PAM_SUCCESS);
	rc = pam_authenticate(pamh, PAM_SILENT);
	pam_end(pamh, rc);
	return rc;
}

/* Runs the same stack through lk_stack; *ret_ran counts steps executed. */
static int lk_result(const int *controls, const int *results, int n, int *ret_ran)
{
	struct lk_stack s;
	int ran = 0;

	lk_stack_init(&s);
	for (int i = 0; i < n; i++) {
		ran++;
		if (lk_stack_feed(&s, controls[i], outcomes[results[i]].code))
			break;
	}
	*ret_ran = ran;
	return lk_stack_result(&s);
}

static void setup(void)
{
	tk_mkdtemp(confdir, sizeof(confdir), "latchkey-pam");
}

static void teardown(void)
{
	tk_rmrf(confdir);
}

/* Decodes combination number k into n (control, result) pairs. */
static void decode(int k, int n, int *controls, int *results)
{
	for (int i = 0; i < n; i++) {
		controls[i] = k % N_CONTROLS;
		k /= N_CONTROLS;
		results[i] = k % N_OUTCOMES;
		k /= N_OUTCOMES;
	}
}

static void compare_all(int n)
{
	int total = 1, mismatches = 0;

	for (int i = 0; i < n; i++)
		total *= N_CONTROLS * N_OUTCOMES;
	for (int k = 0; k < total; k++) {
		int controls[3], results[3], ran, want, got;
		decode(k, n, controls, results);
		want = libpam_result(controls, results, n);
		got = lk_result(controls, results, n, &ran);
		if (want != got) {
			mismatches++;
			fprintf(stderr, "mismatch:");
			for (int i = 0; i < n; i++)
				fprintf(stderr, " %s=%s", lk_control_str(controls[i]),
				        outcomes[results[i]].debug_arg);
			fprintf(stderr, " -> libpam %d, latchkey %d\n", want, got);
		}
	}
	ck_assert_msg(mismatches == 0, "%d of %d stacks differ from Linux-PAM", mismatches, total);
}

START_TEST(test_one_step_matches_libpam)
{
	compare_all(1);
}
END_TEST

START_TEST(test_two_steps_match_libpam)
{
	compare_all(2);
}
END_TEST

START_TEST(test_three_steps_match_libpam)
{
	compare_all(3);
}
END_TEST

/* Which steps run at all matters too: a plugin after a failed requisite
 * or a successful sufficient must not be asked (it might prompt, or count
 * a failure against the user). */
START_TEST(test_early_return)
{
	int ran;
	/* requisite failure stops at once */
	ck_assert_int_eq(lk_result((int[]){ LK_CONTROL_REQUISITE, LK_CONTROL_REQUIRED },
	                           (int[]){ 1, 0 }, 2, &ran),
	                 PAM_AUTH_ERR);
	ck_assert_int_eq(ran, 1);
	/* sufficient success stops a clean stack */
	ck_assert_int_eq(lk_result((int[]){ LK_CONTROL_SUFFICIENT, LK_CONTROL_REQUIRED },
	                           (int[]){ 0, 1 }, 2, &ran),
	                 PAM_SUCCESS);
	ck_assert_int_eq(ran, 1);
	/* ...but not one where a required step already failed */
	ck_assert_int_eq(
	    lk_result((int[]){ LK_CONTROL_REQUIRED, LK_CONTROL_SUFFICIENT, LK_CONTROL_OPTIONAL },
	              (int[]){ 1, 0, 0 }, 3, &ran),
	    PAM_AUTH_ERR);
	ck_assert_int_eq(ran, 3);
	/* required failure runs the rest (no information leak about which
	 * step failed), and keeps the first failure's code */
	ck_assert_int_eq(lk_result((int[]){ LK_CONTROL_REQUIRED, LK_CONTROL_REQUIRED },
	                           (int[]){ 3, 1 }, 2, &ran),
	                 PAM_AUTHINFO_UNAVAIL);
	ck_assert_int_eq(ran, 2);
}
END_TEST

START_TEST(test_empty_and_ignored_stacks_fail)
{
	struct lk_stack s;
	int ran;

	lk_stack_init(&s);
	ck_assert_int_eq(lk_stack_result(&s), PAM_PERM_DENIED);
	ck_assert_int_eq(lk_result((int[]){ LK_CONTROL_REQUIRED, LK_CONTROL_OPTIONAL },
	                           (int[]){ 2, 2 }, 2, &ran),
	                 PAM_PERM_DENIED);
}
END_TEST

START_TEST(test_control_names_and_decisions)
{
	ck_assert_int_eq(lk_control_parse("required"), LK_CONTROL_REQUIRED);
	ck_assert_int_eq(lk_control_parse("requisite"), LK_CONTROL_REQUISITE);
	ck_assert_int_eq(lk_control_parse("sufficient"), LK_CONTROL_SUFFICIENT);
	ck_assert_int_eq(lk_control_parse("optional"), LK_CONTROL_OPTIONAL);
	ck_assert_int_eq(lk_control_parse("Required"), -1);
	ck_assert_int_eq(lk_control_parse("include"), -1);
	ck_assert_int_eq(lk_control_parse(""), -1);
	ck_assert_int_eq(lk_control_parse(NULL), -1);
	ck_assert_int_eq(lk_decision_pam_code(LK_PLUGIN_SUCCESS), PAM_SUCCESS);
	ck_assert_int_eq(lk_decision_pam_code(LK_PLUGIN_DENY), PAM_AUTH_ERR);
	ck_assert_int_eq(lk_decision_pam_code(LK_PLUGIN_IGNORE), PAM_IGNORE);
	ck_assert_int_eq(lk_decision_pam_code(LK_PLUGIN_UNAVAILABLE), PAM_AUTHINFO_UNAVAIL);
	/* Out-of-range decisions fail their step; they never pass as success. */
	ck_assert_int_eq(lk_decision_pam_code(-1), PAM_SYSTEM_ERR);
	ck_assert_int_eq(lk_decision_pam_code(99), PAM_SYSTEM_ERR);
	ck_assert_int_eq(lk_decision_pam_code(LK_PLUGIN_NEED_INPUT), PAM_SYSTEM_ERR);
}
END_TEST

Suite *stack_suite(void);

Suite *stack_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc;

	tc = tcase_create("libpam");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_one_step_matches_libpam);
	tcase_add_test(tc, test_two_steps_match_libpam);
	tcase_add_test(tc, test_three_steps_match_libpam);
	suite_add_tcase(s, tc);

	tc = tcase_create("semantics");
	tcase_add_test(tc, test_early_return);
	tcase_add_test(tc, test_empty_and_ignored_stacks_fail);
	tcase_add_test(tc, test_control_names_and_decisions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(stack_suite());
}
