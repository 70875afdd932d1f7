/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PAM-style stacking. The semantics are Linux-PAM's (libpam/pam_dispatch.c
 * and the control keywords' default action tables in pam_handlers.c),
 * re-stated here rather than approximated: tests/check_stack.c runs every
 * two- and three-step combination through the real libpam with pam_debug.so
 * and compares.
 */
#include "config.h"

#include <security/pam_appl.h>
#include <string.h>

#include "stack-private.h"

enum { IMPRESSION_UNDEF, IMPRESSION_POSITIVE, IMPRESSION_NEGATIVE };
enum action { ACTION_OK, ACTION_DONE, ACTION_BAD, ACTION_DIE, ACTION_IGNORE };

/* Linux-PAM's own failure code for a stack that never became positive. */
#define MUST_FAIL_CODE PAM_PERM_DENIED

int lk_control_parse(const char *s)
{
	static const char *const names[] = { "required", "requisite", "sufficient", "optional" };

	for (int i = 0; s != NULL && i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

const char *lk_control_str(enum lk_control c)
{
	switch (c) {
	case LK_CONTROL_REQUIRED:
		return "required";
	case LK_CONTROL_REQUISITE:
		return "requisite";
	case LK_CONTROL_SUFFICIENT:
		return "sufficient";
	case LK_CONTROL_OPTIONAL:
		return "optional";
	}
	return "invalid";
}

/* The keyword's action for a return code (pam_handlers.c). */
static enum action action_for(enum lk_control control, int code)
{
	bool ok = code == PAM_SUCCESS || code == PAM_NEW_AUTHTOK_REQD;

	switch (control) {
	case LK_CONTROL_REQUIRED:
		return ok ? ACTION_OK : code == PAM_IGNORE ? ACTION_IGNORE : ACTION_BAD;
	case LK_CONTROL_REQUISITE:
		return ok ? ACTION_OK : code == PAM_IGNORE ? ACTION_IGNORE : ACTION_DIE;
	case LK_CONTROL_SUFFICIENT:
		return ok ? ACTION_DONE : ACTION_IGNORE;
	case LK_CONTROL_OPTIONAL:
		return ok ? ACTION_OK : ACTION_IGNORE;
	}
	return ACTION_DIE; /* an unknown control fails closed */
}

void lk_stack_init(struct lk_stack *s)
{
	s->impression = IMPRESSION_UNDEF;
	s->status = MUST_FAIL_CODE;
}

bool lk_stack_feed(struct lk_stack *s, enum lk_control control, int code)
{
	enum action action = action_for(control, code);

	switch (action) {
	case ACTION_OK:
	case ACTION_DONE:
		if (s->impression == IMPRESSION_UNDEF ||
		    (s->impression == IMPRESSION_POSITIVE && s->status == PAM_SUCCESS)) {
			if (code != PAM_IGNORE) {
				s->impression = IMPRESSION_POSITIVE;
				s->status = code;
			}
		}
		return s->impression != IMPRESSION_NEGATIVE && action == ACTION_DONE;
	case ACTION_BAD:
	case ACTION_DIE:
		if (s->impression != IMPRESSION_NEGATIVE) {
			s->impression = IMPRESSION_NEGATIVE;
			/* A forced denial never carries a success code. */
			s->status = code == PAM_SUCCESS ? MUST_FAIL_CODE : code;
		}
		return action == ACTION_DIE;
	case ACTION_IGNORE:
		return false;
	}
	return true;
}

int lk_stack_result(const struct lk_stack *s)
{
	/* Linux-PAM's sanity check: success needs a positive impression. */
	if (s->status == PAM_SUCCESS && s->impression != IMPRESSION_POSITIVE)
		return MUST_FAIL_CODE;
	return s->status;
}

int lk_decision_pam_code(int decision)
{
	switch (decision) {
	case LK_PLUGIN_SUCCESS:
		return PAM_SUCCESS;
	case LK_PLUGIN_DENY:
		return PAM_AUTH_ERR;
	case LK_PLUGIN_IGNORE:
		return PAM_IGNORE;
	case LK_PLUGIN_UNAVAILABLE:
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_SYSTEM_ERR;
	}
}
