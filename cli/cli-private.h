/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_CLI_PRIVATE_H
#define LATCHKEY_CLI_PRIVATE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "apikey-private.h"
#include "checkpoint-private.h"
#include "config-private.h"
#include "error-private.h"
#include "masterkey-private.h"
#include "signing-private.h"
#include "store-private.h"
#include "totp-private.h"

/* Exit statuses, documented in latchkey(1). */
enum {
	EXIT_OK = 0,
	EXIT_DENIED = 1,   /* verification refused, or the audit chain is broken */
	EXIT_USAGE = 2,    /* bad arguments or input: nothing was changed */
	EXIT_CONFLICT = 3, /* no such key/subject, wrong state, already exists */
	EXIT_SYSTEM = 4,   /* config, database, master key or file-system trouble */
};

/* For cli_fail: the caller may not do this (exit EXIT_DENIED). */
#define CLI_EDENIED (-100)

/* The reason recorded for a new key nobody received. */
#define CLI_UNDELIVERED "undelivered: the new key could not be written out"
/* ... and for a TOTP enrollment nobody received (the pending credential is
 * reset, so no seed stays on file that nobody holds). */
#define CLI_TOTP_UNDELIVERED "undelivered: the enrollment could not be written out"

/* A TOTP secret in a verb's output: an enrollment (its seed, in the URI and
 * the QR code, and its recovery codes) or a new set of recovery codes. */
struct cli_new_totp {
	char user[sizeof((struct lk_totp_info){ 0 }.user)];
	char cred_id[LK_TOTP_CRED_ID_LEN + 1];
	bool enrollment; /* else: regenerated recovery codes */
};

struct lk_report_params;
struct lk_report_result;

/*
 * A report through latchkeyd (docs/decisions/0012-evidence-packs.md): the
 * verb, under the engine lock, checks its arguments, claims latchkeyd's
 * one report slot and makes the report's checkpoint with latchkeyd's
 * writer, and prints nothing; latchkeyd writes the pack after the lock is
 * released (daemon/admin.c), from a read-only connection of its own, sends
 * it to the client as files, then prints the verb's output
 * (cli_report_print).
 */
struct cli_report {
	atomic_bool *slot; /* latchkeyd's: true while some report is being made */
	bool files;        /* the client takes files (LK_ADMIN_FILES) */
	/* Set by the verb: */
	bool claimed; /* this request holds the slot (latchkeyd frees it) */
	bool pending; /* the checkpoint is made: the pack is due */
	int kind;     /* enum lk_report_kind */
	int64_t from, to, now, actor;
	struct lk_checkpoint cp;
	/* The client's DIR, for the output line only: never opened here. */
	char out_dir[PATH_MAX];
	char scope[PATH_MAX + 128];
};

/*
 * One run of a verb: in the latchkey process (--offline, or a verb that
 * always runs there), or inside latchkeyd for a peer on the admin socket
 * (in_daemon). Commands write only through out and err, read a secret only
 * through cli_read_secret, and open the store only through cli_open, so
 * the same code serves both.
 */
struct cli {
	const char *config_path; /* -c, else $LATCHKEY_CONFIG, else /etc/... */
	bool json;
	bool offline; /* --offline: on the database directly (cli_open checks it may) */
	struct lk_config *cfg;
	struct lk_master *master;
	struct lk_store *store;
	/* The signing key (audit checkpoint, audit verify): latchkeyd's own
	 * (NULL when it runs without one), or loaded by the verb here. */
	struct lk_signer *signer;
	int64_t now;
	int64_t actor;     /* the caller's uid, recorded in every audit row */
	enum lk_role role; /* the caller's; LK_ROLE_ADMIN in process */
	FILE *out, *err;   /* stdout and stderr, or latchkeyd's captures */

	/* Set by latchkeyd: cfg, master, store and signer are its own (cli_open takes
	 * them as they are, cli_close leaves them), stdin is the request's. */
	bool in_daemon;
	const unsigned char *in;
	size_t in_len, in_off;
	/* in_daemon: new keys in out. Each one is revoked unless the client
	 * acknowledges that its stdout took them. */
	char (*new_kids)[LK_KID_LEN + 1];
	size_t n_new_kids;
	/* in_daemon: TOTP secrets in out, voided the same way (an enrollment
	 * reset, recovery codes replaced) unless acknowledged. */
	struct cli_new_totp *new_totp;
	size_t n_new_totp;
	bool denied;         /* a role check refused the verb (audited) */
	bool policy_changed; /* a policy file was rewritten: latchkeyd reloads */
	/* in_daemon: set for every request; `report` fills it in. */
	struct cli_report *report;
};

/* Prints "latchkey: <message>" on err (and, with --json, an error object
 * on out) and returns the exit status for rc. */
int cli_fail(struct cli *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cli_fail_err(struct cli *c, int rc, const struct lk_err *err);
int cli_exit_for(int rc);

/* Loads the config, then opens the store; with master, loads the master key
 * too (only what the verb needs: listing never touches the master key).
 * With --offline, first refuses unless the caller owns the database and no
 * latchkeyd answers on its sockets. In latchkeyd: nothing to open. */
int cli_open(struct cli *c, bool need_master, bool readonly);
/* Closes what cli_open opened (never latchkeyd's); frees new_kids and
 * new_totp. */
void cli_close(struct cli *c);

/* A verb and who may run it through latchkeyd. */
enum {
	CLI_VERB_LOCAL = 1, /* runs in the caller's process only, never remotely */
	CLI_VERB_STDIN = 2, /* reads a secret line from stdin */
};
struct cli_verb {
	const char *command, *verb; /* verb NULL: the command alone; "*": any other */
	const char *name;           /* for messages and audit rows: never the arguments */
	enum lk_role role;
	unsigned flags;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *prompt; /* CLI_VERB_STDIN: shown when stdin is a terminal */
};

/* The verb argv names (argv[0] the command), or NULL for an unknown
 * command. An unknown word after a known command finds its "*" entry, so
 * the command itself says what is wrong. */
const struct cli_verb *cli_verb_find(int argc, char *const *argv);
bool cli_verb_reads_stdin(const struct cli_verb *v);

/* Runs argv (argv[0] the command) with c: the role check, then the
 * command. The exit status. */
int cli_run(struct cli *c, int argc, char **argv);

/* EXIT_OK if c->role is at least need; else audits an admin.denied row
 * (naming what, never arguments) and fails with EXIT_DENIED. */
int cli_require(struct cli *c, enum lk_role need, const char *what);

/* The verb run by latchkeyd on the admin socket (cli/remote.c). */
int cli_remote(struct cli *c, int argc, char **argv);

/* A connected stream socket to path, or -1 with errno set. */
int cli_connect(const char *path);

/* A new key could not be shown: revokes it as undelivered and says so on
 * err. Returns the exit status (EXIT_SYSTEM). */
int cli_revoke_undelivered(struct cli *c, const char *kid);
/* The same for a TOTP secret (cli/cmd-totp.c): an enrollment still pending
 * under the same credential is reset (audited, reason CLI_TOTP_UNDELIVERED);
 * recovery codes of the same credential are replaced by codes nobody sees
 * (audited). One that was confirmed or replaced meanwhile is left alone:
 * somebody holds it, or nothing of it is left. EXIT_SYSTEM. */
int cli_totp_void_undelivered(struct cli *c, const struct cli_new_totp *t);
/* Output holds new keys or TOTP secrets whose delivery is not yet known. */
bool cli_has_new_secrets(const struct cli *c);

/* Verbs that print a secret keep stdout unbuffered, so no copy of it
 * lingers in a stdio buffer after it has been written. Must run before any
 * output on stdout. (latchkeyd's capture wipes its own buffers.) */
void cli_unbuffer_stdout(struct cli *c);

/* Prints text as a QR code (cli/qr.c): UTF-8 half blocks, two modules a
 * line, with a quiet zone, for a terminal with a dark background. LK_OK, or
 * LK_ENOTFOUND when built without libqrencode (nothing printed), or
 * another error (nothing printed). */
int cli_qr_print(FILE *f, const char *text, struct lk_err *err);

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

/* Reads one line (a secret) from stdin, without echo on a terminal, or in
 * latchkeyd from the request's stdin; a line longer than the buffer comes
 * back as buflen bytes (and so is malformed). Never argv: ps and shell
 * history would show it. */
int cli_read_secret(struct cli *c, const char *prompt, char *buf, size_t buflen, size_t *ret_len);

int cmd_init(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_policy(struct cli *c, int argc, char **argv);
int cmd_auth(struct cli *c, int argc, char **argv);
int cmd_totp(struct cli *c, int argc, char **argv);
int cmd_cert(struct cli *c, int argc, char **argv);
int cmd_report(struct cli *c, int argc, char **argv);
int cmd_subject(struct cli *c, int argc, char **argv);

/* `report KIND --from --to --out DIR [--json]` (argv[0] "report"): the
 * parameters (out_dir points into argv; scope, version and cfg unset), or
 * a one-line error. Nothing is touched. */
int cli_report_parse(struct cli *c, int argc, char **argv, struct lk_report_params *ret);
/* The verb's output for a pack made in out_dir (its text or --json). */
void cli_report_print(struct cli *c, int kind, const char *out_dir,
                      const struct lk_report_result *res);

/* --cert FILE (key issue, key bind) becomes --cert-sha256=HEX here, in the
 * caller's process: latchkeyd never opens a file a client names. Returns
 * the new argc (argv edited in place; *ret_owned to free), or -1 after
 * printing why the file was refused. */
int cli_localize_cert(int argc, char **argv, char **ret_owned);

#endif
