/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_CLI_PRIVATE_H
#define LATCHKEY_CLI_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config-private.h"
#include "error-private.h"
#include "masterkey-private.h"
#include "store-private.h"

/* Exit statuses, documented in latchkey(1). */
enum {
	EXIT_OK = 0,
	EXIT_DENIED = 1,   /* verification refused, or the audit chain is broken */
	EXIT_USAGE = 2,    /* bad arguments or input: nothing was changed */
	EXIT_CONFLICT = 3, /* no such key/subject, wrong state, already exists */
	EXIT_SYSTEM = 4,   /* config, database, master key or file-system trouble */
};

struct cli {
	const char *config_path; /* -c, else $LATCHKEY_CONFIG, else /etc/... */
	bool json;
	struct lk_config *cfg;
	struct lk_master *master;
	struct lk_store *store;
	int64_t now;
	int64_t actor; /* the caller's uid, recorded in every audit row */
};

/* Prints "latchkey: <message>" on stderr (and, with --json, an error object
 * on stdout) and returns the exit status for rc. */
int cli_fail(struct cli *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cli_fail_err(struct cli *c, int rc, const struct lk_err *err);
int cli_exit_for(int rc);

/* Loads the config, then opens the store; with master, loads the master key
 * too (only what the verb needs: listing never touches the master key). */
int cli_open(struct cli *c, bool need_master, bool readonly);
void cli_close(struct cli *c);

/* Parses a time bound: a duration back from now ("24h"), a date
 * ("2026-11-01") or an ISO 8601 UTC time ("2026-11-01T12:00:00Z"). */
int cli_parse_since(const char *s, int64_t now, int64_t *ret_t);

/* Minimal JSON writer for --json output: strings are escaped, nesting is
 * tracked so commas come out right. */
struct json {
	FILE *f;
	int depth;
	bool need_comma[16];
};
void json_open(struct json *j, FILE *f, char bracket);
void json_close(struct json *j, char bracket);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *key, const char *value); /* NULL -> null */
void json_int(struct json *j, const char *key, int64_t value);
void json_bool(struct json *j, const char *key, bool value);
void json_time(struct json *j, const char *key, int64_t t); /* 0 -> null */
void json_words(struct json *j, const char *key, const char *space_joined);
void json_value_open(struct json *j, const char *key, char bracket);

/* Reads one line (a secret) from stdin, without echo on a terminal; a line
 * longer than the buffer comes back as buflen bytes (and so is malformed).
 * Never argv: ps and shell history would show it. */
int cli_read_secret(const char *prompt, char *buf, size_t buflen, size_t *ret_len);

int cmd_init(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_policy(struct cli *c, int argc, char **argv);
int cmd_auth(struct cli *c, int argc, char **argv);

#endif
