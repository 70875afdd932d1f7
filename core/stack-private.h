/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_STACK_PRIVATE_H
#define LATCHKEY_STACK_PRIVATE_H

#include <stdbool.h>

#include "latchkey/plugin.h"

/* Control flags, with Linux-PAM's meaning (pam.conf(5)). */
enum lk_control {
	LK_CONTROL_REQUIRED,
	LK_CONTROL_REQUISITE,
	LK_CONTROL_SUFFICIENT,
	LK_CONTROL_OPTIONAL,
};

/* "required" -> LK_CONTROL_REQUIRED; -1 for anything else. */
int lk_control_parse(const char *s);
const char *lk_control_str(enum lk_control c);

/*
 * The state of a stack being run, exactly as Linux-PAM's _pam_dispatch_aux
 * keeps it: an impression (undecided, positive, negative) and the status
 * that will be returned. Feeding each step's PAM return code in order gives
 * the same final code pam_authenticate would give for the same stack with
 * the same module results, including requisite's early return, sufficient
 * stopping a stack only while nothing has failed, and an empty or all-
 * ignored stack failing (PAM_PERM_DENIED).
 */
struct lk_stack {
	int impression;
	int status;
};

void lk_stack_init(struct lk_stack *s);

/* Applies one step's result under its control flag. Returns true when the
 * stack is decided and no further step may run. */
bool lk_stack_feed(struct lk_stack *s, enum lk_control control, int pam_code);

/* The final PAM return code: PAM_SUCCESS only for a positive stack. */
int lk_stack_result(const struct lk_stack *s);

/* The PAM return code for a plugin decision; anything out of range is
 * PAM_SYSTEM_ERR (a plugin returning garbage fails its step). */
int lk_decision_pam_code(int decision);

#endif
