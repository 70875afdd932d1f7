/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon protocol (DESIGN.md, "Daemon protocol"): what pam_latchkey.so
 * and latchkeyd say to each other over the auth socket.
 *
 * Frame:   u32 length (big-endian, of the payload; 2 .. LK_FRAME_MAX)
 * Payload: u8 version (LK_PROTO_VERSION), u8 type, then fields:
 *          u16 tag, u16 length, length bytes (big-endian numbers)
 *
 * Conversation:
 *   client HELLO{min_version, max_version}   daemon HELLO{version}
 *   client AUTH{service, user?, rhost?, scope*, (input_name, input_value)*,
 *               client_cert?}
 *   daemon PROMPT{input_name, prompt_text, echo}  (zero or more rounds)
 *   client ANSWER{input_name, input_value}
 *          ANSWER{input_name = "client_cert", client_cert}
 *   daemon RESULT{pam_code, reason, principal?, credential?, audit_seq}
 *   either side may send ERROR{error} and close.
 *
 * Account and session (pam_sm_acct_mgmt, pam_sm_open/close_session), after
 * HELLO, with the credential id the RESULT named:
 *   client ACCOUNT{service, user, credential}
 *   client SESSION{service, user, rhost?, credential?, event}
 *   daemon RESULT{pam_code, reason, audit_seq}
 *
 * Every field is bounded and checked on decode: unknown types or tags, a
 * repeated single-valued field, a string with a NUL or control characters,
 * anything over its bound, a truncated field or trailing bytes is a protocol
 * error (LK_EINVAL), never a best guess. Input values are secrets: they are
 * copied only into struct lk_msg, which lk_msg_wipe clears.
 */
#ifndef LATCHKEY_PROTOCOL_PRIVATE_H
#define LATCHKEY_PROTOCOL_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "error-private.h"

#define LK_PROTO_VERSION 1
#define LK_FRAME_MAX     (64 * 1024)

enum lk_msg_type {
	LK_MSG_HELLO = 1,
	LK_MSG_AUTH = 2,
	LK_MSG_PROMPT = 3,
	LK_MSG_ANSWER = 4,
	LK_MSG_RESULT = 5,
	LK_MSG_ERROR = 6,
	LK_MSG_ACCOUNT = 7,
	LK_MSG_SESSION = 8,
};

enum lk_msg_tag {
	LK_TAG_MIN_VERSION = 1,  /* u8 */
	LK_TAG_MAX_VERSION = 2,  /* u8 */
	LK_TAG_VERSION = 3,      /* u8 */
	LK_TAG_SERVICE = 4,      /* text, [a-z0-9][a-z0-9._-]{0,63} */
	LK_TAG_USER = 5,         /* text, 1..256 */
	LK_TAG_RHOST = 6,        /* text, 1..255 */
	LK_TAG_SCOPE = 7,        /* text, repeatable, up to LK_MSG_MAX_SCOPES */
	LK_TAG_INPUT_NAME = 8,   /* text, 1..31; in AUTH followed by its value */
	LK_TAG_INPUT_VALUE = 9,  /* bytes, 0..LK_MSG_INPUT_MAX, secret */
	LK_TAG_PAM_CODE = 10,    /* u32 */
	LK_TAG_REASON = 11,      /* text, 1..31 */
	LK_TAG_PRINCIPAL = 12,   /* text, 1..128 */
	LK_TAG_AUDIT_SEQ = 13,   /* u64 */
	LK_TAG_PROMPT_TEXT = 14, /* text, 0..127 */
	LK_TAG_ECHO = 15,        /* u8, 0 or 1 */
	LK_TAG_ERROR = 16,       /* text, 1..255 */
	LK_TAG_CREDENTIAL = 17,  /* text, [A-Za-z0-9_-]{1,31}: a key id, never a secret */
	LK_TAG_EVENT = 18,       /* u8: LK_SESSION_OPEN or LK_SESSION_CLOSE */
	/* bytes, 1..LK_MSG_CERT_MAX: the client's certificate chain (PEM, leaf
	 * first), the engine's input "client_cert". Public, but bounded: a
	 * chain is larger than any other input, so it has a field of its own
	 * rather than raising every input's bound. */
	LK_TAG_CLIENT_CERT = 19,
};

enum lk_session_event {
	LK_SESSION_OPEN = 1,
	LK_SESSION_CLOSE = 2,
};

#define LK_MSG_MAX_SCOPES    32
#define LK_MSG_MAX_INPUTS    8
#define LK_MSG_INPUT_MAX     4096
#define LK_MSG_CERT_MAX      32768         /* = LK_CERT_INPUT_MAX */
#define LK_CLIENT_CERT_INPUT "client_cert" /* = plugin.h's LK_INPUT_CLIENT_CERT */

struct lk_msg_input {
	char name[32];
	unsigned char value[LK_MSG_INPUT_MAX];
	size_t len;
};

/* One decoded message. Which fields mean something depends on type; a
 * field that was absent is empty ("" or has_* false). */
struct lk_msg {
	uint8_t type;
	uint8_t min_version, max_version, version;
	char service[65];
	char user[257];
	char rhost[256];
	char scopes[LK_MSG_MAX_SCOPES][65];
	size_t n_scopes;
	struct lk_msg_input inputs[LK_MSG_MAX_INPUTS];
	size_t n_inputs;
	uint32_t pam_code;
	char reason[32];
	char principal[129];
	uint64_t audit_seq;
	char prompt_text[128];
	uint8_t echo;
	char error[256];
	char credential[32];
	uint8_t event;
	unsigned char client_cert[LK_MSG_CERT_MAX];
	size_t client_cert_len; /* 0: absent */
};

/* Encodes m (fields required by its type must be set) as a whole frame,
 * length prefix included, into buf. LK_EINVAL if a field is out of bounds or
 * a required one is missing; the frame never exceeds LK_FRAME_MAX + 4. */
int lk_msg_encode(const struct lk_msg *m, unsigned char *buf, size_t cap, size_t *ret_len,
                  struct lk_err *err);

/* Decodes one payload (without the length prefix) into ret_msg, checking
 * every rule above and that the type's required fields are present. On
 * failure ret_msg is wiped and err says what was wrong (never echoing input
 * values). */
int lk_msg_decode(const unsigned char *payload, size_t len, struct lk_msg *ret_msg,
                  struct lk_err *err);

/* Reads one frame's payload from a stream socket within timeout_ms (in all;
 * -1 waits forever). LK_EINVAL for a bad length, LK_EIO for EOF, timeout or
 * a read error. */
int lk_frame_read(int fd, unsigned char *buf, size_t cap, size_t *ret_len, int timeout_ms,
                  struct lk_err *err);

/* Writes a whole encoded frame within timeout_ms. */
int lk_frame_write(int fd, const unsigned char *frame, size_t len, int timeout_ms,
                   struct lk_err *err);

/* Clears every field, secrets included (sodium_memzero): input values up
 * to their len, which every writer must set with the bytes. Accepts NULL. */
void lk_msg_wipe(struct lk_msg *m);

#endif
