/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin socket's protocol: how `latchkey` has latchkeyd run one of its
 * verbs (docs/decisions/0006-admin-socket.md). Frames as on the auth socket
 * (lk_frame_read/lk_frame_write: u32 big-endian length, at most
 * LK_FRAME_MAX), each payload u8 version (LK_ADMIN_VERSION), u8 type, then
 * the type's body:
 *
 *   REQUEST  u8 flags (LK_ADMIN_JSON, LK_ADMIN_STDIN, LK_ADMIN_FILES),
 *            u8 argc, argc x (u16 length, bytes without NUL), the verb's
 *            words first; with LK_ADMIN_STDIN: u16 length, the bytes (a
 *            secret)
 *   OUT      stdout bytes (1 .. LK_ADMIN_CHUNK_MAX)
 *   ERR      stderr bytes (1 .. LK_ADMIN_CHUNK_MAX)
 *   END      u8 exit status, u8 ack (1: a new key is in the output)
 *   ACK      u8 delivered (1: stdout took every byte)
 *   ERROR    text (1 .. 255): the request was not run, or failed
 *   FILE     u8 length, a file name (1 .. LK_ADMIN_NAME_MAX bytes of
 *            [A-Za-z0-9._-], not starting with '.'): a file begins
 *   DATA     the current file's bytes (1 .. LK_ADMIN_CHUNK_MAX)
 *   FILE_END u64 size: the current file is complete and had size bytes
 *
 * Conversation: client REQUEST; daemon OUT*, ERR*, END. After an END with
 * ack = 1 the client answers ACK and the daemon ends with OUT*, ERR*, END
 * again (ack = 0): the final status, once the daemon has kept or revoked
 * the new keys.
 *
 * Files (a report's pack, docs/decisions/0012-evidence-packs.md): only to a
 * REQUEST with LK_ADMIN_FILES, which the client sets only for `report`
 * after making the directory the files go into. The daemon sends
 * (FILE, DATA*, FILE_END)* (at most LK_ADMIN_FILES_MAX files) before the
 * OUT*, ERR*, END above; the client creates each name in that directory
 * with O_EXCL|O_NOFOLLOW and removes what it wrote unless END says 0.
 * ERROR may come at any point: the request failed, no file is kept. A
 * version-1 peer without files support refuses the flag (unknown flags),
 * and a daemon sends no file to a client that did not set it, so the
 * version stays 1.
 *
 * Anything else, out of bounds or out of order is a protocol error: the
 * reader closes the connection and never guesses.
 */
#ifndef LATCHKEY_ADMIN_PROTO_PRIVATE_H
#define LATCHKEY_ADMIN_PROTO_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-private.h"
#include "protocol-private.h"

#define LK_ADMIN_VERSION   1
#define LK_ADMIN_ARGC_MAX  255
#define LK_ADMIN_ARG_MAX   4096
#define LK_ADMIN_STDIN_MAX (16 * 1024)
/* A payload holds version, type and the chunk. */
#define LK_ADMIN_CHUNK_MAX (LK_FRAME_MAX - 2)
#define LK_ADMIN_ERROR_MAX 255
/* A file name in FILE: a plain name, never a path. */
#define LK_ADMIN_NAME_MAX 64
/* Files in one reply (a pack has 8): a client stops a daemon gone wrong. */
#define LK_ADMIN_FILES_MAX 64
/* A whole frame, length prefix included: the size of a frame buffer. */
#define LK_ADMIN_FRAME_BUF (LK_FRAME_MAX + 4)

enum lk_admin_type {
	LK_ADMIN_REQUEST = 1,
	LK_ADMIN_OUT = 2,
	LK_ADMIN_ERR = 3,
	LK_ADMIN_END = 4,
	LK_ADMIN_ACK = 5,
	LK_ADMIN_ERROR = 6,
	LK_ADMIN_FILE = 7,
	LK_ADMIN_DATA = 8,
	LK_ADMIN_FILE_END = 9,
};

enum lk_admin_flag {
	LK_ADMIN_JSON = 1,  /* the global --json */
	LK_ADMIN_STDIN = 2, /* the request carries the verb's stdin */
	LK_ADMIN_FILES = 4, /* the client takes files (FILE, DATA, FILE_END) */
};

/* A decoded REQUEST. argv[argc] is NULL; the strings and in live in one
 * allocation that lk_admin_request_free wipes (in holds a secret). */
struct lk_admin_request {
	bool json;
	bool has_in;
	bool files; /* LK_ADMIN_FILES */
	int argc;
	char *argv[LK_ADMIN_ARGC_MAX + 1];
	unsigned char *in;
	size_t in_len;
	unsigned char *arena;
	size_t arena_len;
};

/* Any other decoded message; data points into the payload it came from. */
struct lk_admin_msg {
	enum lk_admin_type type;
	const unsigned char *data; /* OUT, ERR, DATA */
	size_t len;
	uint8_t exit_status; /* END */
	bool ack;            /* END: ack wanted; ACK: delivered */
	char error[LK_ADMIN_ERROR_MAX + 1];
	char name[LK_ADMIN_NAME_MAX + 1]; /* FILE: checked by lk_admin_name_ok */
	uint64_t size;                    /* FILE_END */
};

/* Encodes a REQUEST frame (length prefix included) into buf. flags:
 * LK_ADMIN_JSON and LK_ADMIN_FILES (LK_ADMIN_STDIN follows from in); in
 * may be NULL (no stdin sent). LK_EINVAL if anything is out of bounds. */
int lk_admin_request_encode(unsigned flags, int argc, char *const *argv, const unsigned char *in,
                            size_t in_len, unsigned char *buf, size_t cap, size_t *ret_len,
                            struct lk_err *err);

/* Decodes a REQUEST payload (without the length prefix). */
int lk_admin_request_decode(const unsigned char *payload, size_t len,
                            struct lk_admin_request *ret_req, struct lk_err *err);

/* Wipes and frees what decode allocated. Accepts NULL. */
void lk_admin_request_free(struct lk_admin_request *req);

/* Encodes OUT, ERR or DATA (data, len), END (exit_status, ack), ACK (ack),
 * ERROR (error), FILE (name) or FILE_END (size) from m into buf. */
int lk_admin_encode(const struct lk_admin_msg *m, unsigned char *buf, size_t cap, size_t *ret_len,
                    struct lk_err *err);

/* A file name FILE may carry: 1 .. LK_ADMIN_NAME_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.' (so never ".", ".." nor a path). */
bool lk_admin_name_ok(const char *name, size_t len);

/* Decodes any message but REQUEST. */
int lk_admin_decode(const unsigned char *payload, size_t len, struct lk_admin_msg *ret_msg,
                    struct lk_err *err);

#endif
