/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkey/plugin.h: the only header a Latchkey plugin includes.
 *
 * A plugin is a shared object in the configured plugin directory that
 * exports exactly one symbol, lk_plugin_entry, returning a pointer to a
 * constant struct lk_plugin. The engine loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), checks abi_major, struct_size and the
 * required function pointers, and treats any failure as a failed step
 * (never a skipped one).
 *
 * Compatibility rules (as SQLite's sqlite3_io_methods): members are only
 * ever appended to the structs below. A struct's struct_size says how much
 * of it the other side filled in; read a member only if it lies within
 * struct_size. abi_major changes only when an existing member changes
 * meaning, and the engine refuses any other major. abi_minor grows when a
 * member is appended.
 *
 * ABI history: 1.0 the first; 1.1 appended lk_plugin_host.verify_totp;
 * 1.2 appended read_file, list_dir and file_stamp. A plugin that needs a
 * member appended after 1.0 checks, e.g. for verify_totp,
 *   host->struct_size >= offsetof(struct lk_plugin_host, verify_totp) +
 *                        sizeof(host->verify_totp)
 * and refuses to initialise otherwise (an older engine).
 *
 * Plugins never open files or sockets behind the engine's back: what they
 * need (logging, secure memory, the clock, key verification, their own
 * state) comes through struct lk_plugin_host.
 */
#ifndef LATCHKEY_PLUGIN_H
#define LATCHKEY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LK_PLUGIN_ABI_MAJOR 1
#define LK_PLUGIN_ABI_MINOR 2 /* 1.1: host->verify_totp; 1.2: read_file, list_dir, file_stamp */

/* The one symbol a plugin exports. */
#define LK_PLUGIN_ENTRY_SYMBOL "lk_plugin_entry"

/* Capabilities (bitmask in struct lk_plugin.capabilities). */
#define LK_PLUGIN_CAP_PRIMARY       0x1u /* can authenticate a principal on its own */
#define LK_PLUGIN_CAP_SECOND_FACTOR 0x2u /* adds a factor to an earlier step's principal */
#define LK_PLUGIN_CAP_PROMPTS       0x4u /* may answer LK_PLUGIN_NEED_INPUT */

/* Factors a successful step satisfied (struct lk_plugin_result.factors). */
#define LK_FACTOR_API_KEY     0x1u
#define LK_FACTOR_TOTP        0x2u
#define LK_FACTOR_CLIENT_CERT 0x4u

/* What one step decided. The engine maps these onto Linux-PAM return codes
 * and applies the step's control flag exactly as Linux-PAM does. */
enum lk_plugin_decision {
	LK_PLUGIN_SUCCESS = 0,     /* PAM_SUCCESS */
	LK_PLUGIN_DENY = 1,        /* PAM_AUTH_ERR: credentials presented and wrong */
	LK_PLUGIN_IGNORE = 2,      /* PAM_IGNORE: this step has no opinion */
	LK_PLUGIN_UNAVAILABLE = 3, /* PAM_AUTHINFO_UNAVAIL: could not decide */
	LK_PLUGIN_NEED_INPUT = 4,  /* ask the client (see prompt), then call again */
};

/* Log levels for host->log (syslog's numbers). */
#define LK_LOG_ERR     3
#define LK_LOG_WARNING 4
#define LK_LOG_INFO    6
#define LK_LOG_DEBUG   7

/* The input that carries a client certificate chain: PEM, leaf first, as
 * the TLS terminator handed it over (public data, not wiped). */
#define LK_INPUT_CLIENT_CERT "client_cert"

/* A named input the client supplied: "apikey", "otp", "client_cert", ...
 * value is not NUL-terminated; len bytes. Secrets among them are wiped by
 * the engine after the call; a plugin must not keep pointers to them. */
struct lk_plugin_input {
	const char *name;
	const char *value;
	size_t len;
};

struct lk_plugin_request {
	uint32_t struct_size;
	const char *service;       /* PAM service name */
	const char *user;          /* PAM_USER, may be NULL */
	const char *rhost;         /* PAM_RHOST: the client address, may be NULL */
	const char *environment;   /* the policy's environment ("prod") */
	const char *const *scopes; /* scopes the request needs (policy + step-up) */
	size_t n_scopes;
	const struct lk_plugin_input *inputs;
	size_t n_inputs;
	const char *principal; /* established by an earlier step, or NULL */
};

#define LK_PLUGIN_REASON_MAX    32
#define LK_PLUGIN_PRINCIPAL_MAX 128
#define LK_PLUGIN_PROMPT_MAX    128

struct lk_plugin_result {
	uint32_t struct_size;
	enum lk_plugin_decision decision;
	/* A short code for the audit row and the client: "ok", "bad-secret",
	 * "expired", ... (lowercase letters, digits and '-'). */
	char reason[LK_PLUGIN_REASON_MAX];
	/* Who was authenticated, on success. */
	char principal[LK_PLUGIN_PRINCIPAL_MAX + 1];
	uint32_t factors; /* LK_FACTOR_* satisfied by this step */
	/* With LK_PLUGIN_NEED_INPUT: which input to ask for and how. */
	char prompt_input[LK_PLUGIN_REASON_MAX];
	char prompt_text[LK_PLUGIN_PROMPT_MAX];
	int prompt_echo; /* 0: secret (no echo) */
	/* The key id (or other public credential handle) the step looked at,
	 * for the audit row; never a secret. */
	char credential[LK_PLUGIN_REASON_MAX];
};

/* What the engine offers every plugin. host_ctx is passed back unchanged. */
struct lk_plugin_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;
	void *host_ctx;
	void (*log)(void *host_ctx, int level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	/* Guarded, locked memory for secrets; free wipes. */
	void *(*secure_alloc)(void *host_ctx, size_t size);
	void (*secure_free)(void *host_ctx, void *ptr);
	/* The engine's clock: plugins never read the system clock themselves,
	 * so tests and audit rows agree on "now". Non-zero: no usable clock. */
	int (*now)(void *host_ctx, int64_t *ret_unix_seconds);
	/*
	 * Verifies an API key with the core (format, CRC, keyed hash, status,
	 * expiry, environment, scopes, source address). Fills decision, reason,
	 * principal (the key's owner), credential (the kid) and factors.
	 * Returns non-zero only if it could not decide (then decision is
	 * LK_PLUGIN_UNAVAILABLE).
	 */
	int (*verify_api_key)(void *host_ctx, const char *key, size_t key_len,
	                      const struct lk_plugin_request *req, struct lk_plugin_result *res);
	/*
	 * Runs one SQL statement on the plugin's own tables in the engine's
	 * store. Every table it names must start with "p<length of the plugin
	 * name>_<plugin name>_" ("totp" -> "p4_totp_", '-' written as '$':
	 * "a-b" -> "p3_a$b_"); no foreign keys (REFERENCES) are allowed.
	 * SQLite's authorizer refuses anything else
	 * when the statement is compiled: other tables, PRAGMA, ATTACH,
	 * triggers, views, transactions, and more than one statement.
	 * Parameters ?1..?n are bound as text (a NULL pointer binds NULL).
	 * row_cb, if not NULL, gets each result row's columns as text (NULL for
	 * SQL NULL); a non-zero return stops. The statement runs atomically.
	 * Returns the number of rows it changed (>= 0), or -1 on any error.
	 */
	int (*store_exec)(void *host_ctx, const char *sql, const char *const *params,
	                  size_t n_params,
	                  int (*row_cb)(void *cb_ctx, int n_cols, const char *const *cols),
	                  void *cb_ctx);

	/* ---- ABI 1.1: check struct_size before using anything below ---- */

	/*
	 * Verifies a TOTP code, or one of the user's recovery codes, with the
	 * core: the credential is the principal's an earlier step proved, else
	 * PAM_USER's, as the engine knows them (never a name from req: a plugin
	 * cannot pick whose code it checks). The check and the record of the
	 * accepted time step are one transaction, so a code works once.
	 * skew: time steps accepted either side of now, 0 to 10.
	 *
	 * Fills decision, reason, credential (the TOTP credential id, when the
	 * user has one) and, on success, factors = LK_FACTOR_TOTP. principal is
	 * left empty: a code adds a factor to a principal, it proves none.
	 * Reasons: "ok", "ok-recovery" (a recovery code, now used up),
	 * "bad-code", "replayed", "recovery-used", "not-enrolled" (no active
	 * credential), "no-user" (no principal and no PAM_USER), "malformed",
	 * "seed-unreadable" and "clock" (all denials).
	 *
	 * With code NULL nothing is verified or recorded: it only asks whether
	 * the user has an active credential (decision LK_PLUGIN_IGNORE, reason
	 * "enrolled"; or LK_PLUGIN_DENY, "not-enrolled" or "no-user"), so a
	 * plugin can decide not to prompt someone who has no authenticator.
	 * Returns non-zero only if it could not decide (decision
	 * LK_PLUGIN_UNAVAILABLE).
	 */
	int (*verify_totp)(void *host_ctx, const char *code, size_t code_len, unsigned skew,
	                   const struct lk_plugin_request *req, struct lk_plugin_result *res);

	/* ---- ABI 1.2: check struct_size before using anything below ---- */

	/*
	 * Reads a whole file a policy names (trust anchors, CRLs). The engine
	 * refuses, logging why: a path that is not absolute or has a ".."
	 * component; anything but a regular file (symbolic links are followed,
	 * the target is checked); a file group- or world-writable, or owned by
	 * anyone but root or the daemon's user; more than max_size bytes
	 * (max_size at most 16 MiB). cb gets the bytes, valid only during the
	 * call, and the file's stamp (as file_stamp). Returns cb's return
	 * value, or -1 if the file was refused or unreadable (cb not called).
	 */
	int (*read_file)(void *host_ctx, const char *path, size_t max_size,
	                 int (*cb)(void *cb_ctx, const unsigned char *data, size_t len,
	                           uint64_t stamp),
	                 void *cb_ctx);
	/*
	 * The names of the regular files in a directory a policy names, in
	 * byte order, at most 1024 ("." entries skipped). The directory passes
	 * read_file's checks (absolute, owner, not group/world-writable); each
	 * file is checked again when read. cb returning non-zero stops.
	 * Returns 0, cb's non-zero return, or -1 (refused or unreadable).
	 */
	int (*list_dir)(void *host_ctx, const char *path, int (*cb)(void *cb_ctx, const char *name),
	                void *cb_ctx);
	/*
	 * A number that changes whenever the file is replaced or written
	 * (device, inode, size, modification time in ns), so a plugin may keep
	 * what it parsed between requests and re-read only a changed file.
	 * The file's own checks as read_file's (not the walk up its
	 * directories, made when the file is read). Returns 0, or -1.
	 */
	int (*file_stamp)(void *host_ctx, const char *path, uint64_t *ret_stamp);
};

struct lk_plugin {
	/* These three first, and never moved. */
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size; /* sizeof(struct lk_plugin) as the plugin saw it */

	const char *name;    /* must match the policy's plugin name, i.e. <name>.so */
	const char *version; /* printable text, 1-63 bytes, recorded with the SHA-256 */
	uint32_t capabilities;

	/* Required. args are the policy's <arg> values for this step, in
	 * order. Returns 0 and sets *ret_state, or non-zero on failure (the
	 * step then fails, it is never skipped). */
	int (*init)(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
	            void **ret_state);
	/* Required. Decides one request; must fill res->decision and reason. */
	int (*authenticate)(void *state, const struct lk_plugin_request *req,
	                    struct lk_plugin_result *res);
	/* Required. Releases what init made. */
	void (*fini)(void *state);
};

/* The entry point every plugin exports, and the only symbol it should: build
 * with -fvisibility=hidden and __attribute__((visibility("default"))) on
 * this definition, or link with an export list. Out of tree, the flags come
 * from "pkg-config --cflags latchkey-plugin". */
const struct lk_plugin *lk_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif
