/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_ERROR_PRIVATE_H
#define LATCHKEY_ERROR_PRIVATE_H

#include <stddef.h>

/*
 * Return codes shared by the core. Zero is success; every failure is
 * negative so "if (r < 0) goto out;" works everywhere. The CLI maps these to
 * exit statuses (docs/latchkey.1).
 */
enum lk_rc {
	LK_OK = 0,
	LK_EINVAL = -1,    /* bad input from the caller: nothing was changed */
	LK_ENOTFOUND = -2, /* no such key, subject or file */
	LK_ESTATE = -3,    /* the object is in a state that forbids the action */
	LK_EEXIST = -4,    /* would overwrite something that exists */
	LK_ESTORE = -5,    /* database missing, corrupt, locked or read-only */
	LK_ECRYPTO = -6,   /* master key unusable, randomness or hashing failed */
	LK_ENOMEM = -7,
	LK_EIO = -8, /* file-system error outside the database */
};

/*
 * A one-line, human-readable reason for the last failure. Messages name the
 * bad value but never contain secret material.
 */
struct lk_err {
	char msg[512];
};

/* Formats the message into err (if non-NULL) and returns rc, so callers can
 * write "return lk_err_set(err, LK_EINVAL, ...);". */
int lk_err_set(struct lk_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Masks the secret part of anything in msg shaped like an API key. Every
 * lk_err message passes through it; callers formatting their own messages
 * from user input (the CLI) must call it too. */
void lk_redact_keys(char *msg);

/* Prefixes an existing message ("opening X: <old message>"). */
int lk_err_prefix(struct lk_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
