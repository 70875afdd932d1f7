/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon protocol (core/protocol-private.h): every message type round
 * trips with all its fields, at their exact bounds; every kind of malformed
 * payload is refused with LK_EINVAL, a message naming what was wrong, a
 * wiped message and never a planted secret; the encoder refuses what the
 * decoder would; frames survive being split into single bytes, bad lengths
 * are refused before the payload is read, and EOF, timeouts and a vanished
 * peer are LK_EIO, never a SIGPIPE. The fuzz target's entry point runs here
 * too, over the valid encodings, the malformed table and thousands of
 * deterministic mutations (libFuzzer itself needs --enable-fuzzing).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol-private.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Planted in input values (and a user name): no message may contain it. */
#define SECRET "PLANTED-s3cr3t-Value-7Qx"

#define T_MINV   LK_TAG_MIN_VERSION
#define T_MAXV   LK_TAG_MAX_VERSION
#define T_VER    LK_TAG_VERSION
#define T_SVC    LK_TAG_SERVICE
#define T_USER   LK_TAG_USER
#define T_RHOST  LK_TAG_RHOST
#define T_SCOPE  LK_TAG_SCOPE
#define T_NAME   LK_TAG_INPUT_NAME
#define T_VAL    LK_TAG_INPUT_VALUE
#define T_CODE   LK_TAG_PAM_CODE
#define T_REASON LK_TAG_REASON
#define T_PRINC  LK_TAG_PRINCIPAL
#define T_SEQ    LK_TAG_AUDIT_SEQ
#define T_PTEXT  LK_TAG_PROMPT_TEXT
#define T_ECHO   LK_TAG_ECHO
#define T_ERROR  LK_TAG_ERROR
#define T_CRED   LK_TAG_CREDENTIAL
#define T_EVENT  LK_TAG_EVENT
#define T_CERT   LK_TAG_CLIENT_CERT

/* Big enough for any frame; static because a message is ~35 KB. */
static unsigned char frame[LK_FRAME_MAX + 4], frame2[LK_FRAME_MAX + 4];
static struct lk_msg built, decoded;

/* --------------------------------------------------------- valid messages */

static void set(char *dst, size_t size, const char *s)
{
	ck_assert_uint_lt(strlen(s), size);
	memcpy(dst, s, strlen(s) + 1);
}

static void set_input(struct lk_msg *m, size_t i, const char *name, const void *v, size_t len)
{
	set(m->inputs[i].name, sizeof(m->inputs[i].name), name);
	memcpy(m->inputs[i].value, v, len);
	m->inputs[i].len = len;
}

/* n bytes of c, then a NUL. */
static void fill(char *dst, size_t n, char c)
{
	memset(dst, c, n);
	dst[n] = '\0';
}

static void hello_client(struct lk_msg *m)
{
	m->type = LK_MSG_HELLO;
	m->min_version = 1;
	m->max_version = 3;
}

static void hello_daemon(struct lk_msg *m)
{
	m->type = LK_MSG_HELLO;
	m->version = LK_PROTO_VERSION;
}

static void hello_widest(struct lk_msg *m)
{
	m->type = LK_MSG_HELLO;
	m->min_version = 1;
	m->max_version = 255;
}

static void auth_full(struct lk_msg *m)
{
	m->type = LK_MSG_AUTH;
	set(m->service, sizeof(m->service), "sshd");
	set(m->user, sizeof(m->user), "alice");
	set(m->rhost, sizeof(m->rhost), "192.0.2.7");
	set(m->scopes[0], sizeof(m->scopes[0]), "billing:read");
	set(m->scopes[1], sizeof(m->scopes[1]), "repo/admin");
	m->n_scopes = 2;
	set_input(m, 0, "authtok", SECRET, strlen(SECRET));
	set_input(m, 1, "otp", "123456", 6);
	m->n_inputs = 2;
}

static void auth_minimal(struct lk_msg *m)
{
	m->type = LK_MSG_AUTH;
	set(m->service, sizeof(m->service), "nginx");
}

/* Every AUTH field at its largest: 32 scopes of 64, 8 inputs with 31-byte
 * names and 4096-byte values holding every byte value, NULs included. */
static void auth_max(struct lk_msg *m)
{
	m->type = LK_MSG_AUTH;
	m->service[0] = 's';
	fill(m->service + 1, 63, '-');
	for (size_t i = 0; i < 128; i++)
		memcpy(m->user + 2 * i, "\xc3\xa9", 2); /* 256 bytes of é */
	fill(m->rhost, 255, 'h');
	for (size_t i = 0; i < LK_MSG_MAX_SCOPES; i++) {
		fill(m->scopes[i], 64, 'x');
		m->scopes[i][0] = (char)('a' + i % 26);
		m->scopes[i][1] = (char)('0' + i / 26);
	}
	m->n_scopes = LK_MSG_MAX_SCOPES;
	for (size_t i = 0; i < LK_MSG_MAX_INPUTS; i++) {
		fill(m->inputs[i].name, 31, '_');
		m->inputs[i].name[0] = (char)('a' + i);
		for (size_t k = 0; k < LK_MSG_INPUT_MAX; k++)
			m->inputs[i].value[k] = (unsigned char)(k * 7 + i);
		m->inputs[i].len = LK_MSG_INPUT_MAX;
	}
	m->n_inputs = LK_MSG_MAX_INPUTS;
}

static void prompt_full(struct lk_msg *m)
{
	m->type = LK_MSG_PROMPT;
	set(m->inputs[0].name, sizeof(m->inputs[0].name), "otp");
	m->n_inputs = 1;
	set(m->prompt_text, sizeof(m->prompt_text), "Código de verificación: ");
	m->echo = 1;
}

/* Empty prompt_text and echo 0 (both still sent). */
static void prompt_minimal(struct lk_msg *m)
{
	m->type = LK_MSG_PROMPT;
	set(m->inputs[0].name, sizeof(m->inputs[0].name), "otp");
	m->n_inputs = 1;
}

static void prompt_max(struct lk_msg *m)
{
	m->type = LK_MSG_PROMPT;
	fill(m->inputs[0].name, 31, 'z');
	m->n_inputs = 1;
	fill(m->prompt_text, 127, 'p');
}

static void answer(struct lk_msg *m)
{
	m->type = LK_MSG_ANSWER;
	set_input(m, 0, "otp", SECRET, strlen(SECRET));
	m->n_inputs = 1;
}

static void answer_empty_value(struct lk_msg *m)
{
	m->type = LK_MSG_ANSWER;
	set_input(m, 0, "otp", "", 0);
	m->n_inputs = 1;
}

static void answer_max(struct lk_msg *m)
{
	m->type = LK_MSG_ANSWER;
	fill(m->inputs[0].name, 31, '9');
	memset(m->inputs[0].value, 0xff, LK_MSG_INPUT_MAX);
	m->inputs[0].len = LK_MSG_INPUT_MAX;
	m->n_inputs = 1;
}

static void result_full(struct lk_msg *m)
{
	m->type = LK_MSG_RESULT;
	m->pam_code = 7;
	set(m->reason, sizeof(m->reason), "key_revoked");
	set(m->principal, sizeof(m->principal), "alice@example.org");
	set(m->credential, sizeof(m->credential), "R5eXtmZ1dIJ3");
	m->audit_seq = UINT64_C(1234567890123);
}

/* PAM_SUCCESS and sequence 0 are values, not absences. */
static void result_zeros(struct lk_msg *m)
{
	m->type = LK_MSG_RESULT;
	set(m->reason, sizeof(m->reason), "ok");
}

static void result_max(struct lk_msg *m)
{
	m->type = LK_MSG_RESULT;
	m->pam_code = UINT32_MAX;
	fill(m->reason, 31, 'r');
	fill(m->principal, 128, 'P');
	m->audit_seq = UINT64_MAX;
}

static void account_msg(struct lk_msg *m)
{
	m->type = LK_MSG_ACCOUNT;
	set(m->service, sizeof(m->service), "sshd");
	set(m->user, sizeof(m->user), "alice");
	set(m->credential, sizeof(m->credential), "R5eXtmZ1dIJ3");
}

static void account_max(struct lk_msg *m)
{
	m->type = LK_MSG_ACCOUNT;
	fill(m->service, 64, 's');
	fill(m->user, 256, 'u');
	fill(m->credential, 31, 'C');
}

static void session_open(struct lk_msg *m)
{
	m->type = LK_MSG_SESSION;
	set(m->service, sizeof(m->service), "sshd");
	set(m->user, sizeof(m->user), "alice");
	set(m->rhost, sizeof(m->rhost), "192.0.2.7");
	set(m->credential, sizeof(m->credential), "R5eXtmZ1dIJ3");
	m->event = LK_SESSION_OPEN;
}

/* A session a credential of another module opened: no credential. */
static void session_close_minimal(struct lk_msg *m)
{
	m->type = LK_MSG_SESSION;
	set(m->service, sizeof(m->service), "sshd");
	set(m->user, sizeof(m->user), "alice");
	m->event = LK_SESSION_CLOSE;
}

static void error_msg(struct lk_msg *m)
{
	m->type = LK_MSG_ERROR;
	set(m->error, sizeof(m->error), "uid 1000 may not speak for service sshd");
}

static void error_max(struct lk_msg *m)
{
	m->type = LK_MSG_ERROR;
	fill(m->error, 255, 'e');
}

static const struct {
	const char *what;
	void (*build)(struct lk_msg *m);
} valid[] = {
	{ "HELLO from the client", hello_client },
	{ "HELLO from the daemon", hello_daemon },
	{ "HELLO versions 1..255", hello_widest },
	{ "AUTH with every field", auth_full },
	{ "AUTH with only a service", auth_minimal },
	{ "AUTH with every field at its bound", auth_max },
	{ "PROMPT with every field", prompt_full },
	{ "PROMPT with an empty prompt_text", prompt_minimal },
	{ "PROMPT at its bounds", prompt_max },
	{ "ANSWER", answer },
	{ "ANSWER with an empty value", answer_empty_value },
	{ "ANSWER at its bounds", answer_max },
	{ "RESULT with every field", result_full },
	{ "RESULT with code 0 and sequence 0", result_zeros },
	{ "RESULT at its bounds", result_max },
	{ "ERROR", error_msg },
	{ "ERROR at its bound", error_max },
	{ "ACCOUNT", account_msg },
	{ "ACCOUNT at its bounds", account_max },
	{ "SESSION open with every field", session_open },
	{ "SESSION close with the required fields", session_close_minimal },
};
#define N_VALID (int)(sizeof(valid) / sizeof(valid[0]))

/* Builds valid[i] from zero and encodes it into frame. */
static size_t encode_valid(int i, struct lk_msg *m)
{
	struct lk_err err = { { 0 } };
	size_t len = 0;

	memset(m, 0, sizeof(*m));
	valid[i].build(m);
	ck_assert_msg(lk_msg_encode(m, frame, sizeof(frame), &len, &err) == LK_OK, "%s: %s",
	              valid[i].what, err.msg);
	return len;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_round_trip)
{
	struct lk_err err = { { 0 } };
	size_t len = encode_valid(_i, &built), len2 = 0;

	ck_assert_uint_ge(len, 6);
	ck_assert_uint_le(len, LK_FRAME_MAX + 4);
	ck_assert_uint_eq(be32(frame), len - 4);
	ck_assert_uint_eq(frame[4], LK_PROTO_VERSION);
	ck_assert_uint_eq(frame[5], built.type);
	ck_assert_msg(lk_msg_decode(frame + 4, len - 4, &decoded, &err) == LK_OK, "%s: %s",
	              valid[_i].what, err.msg);
	/* Exactly the same message: every field, every byte. */
	ck_assert_msg(memcmp(&built, &decoded, sizeof(built)) == 0, "%s differs after decoding",
	              valid[_i].what);
	/* And the encoding is canonical: the same bytes again. */
	ck_assert_int_eq(lk_msg_encode(&decoded, frame2, sizeof(frame2), &len2, &err), LK_OK);
	ck_assert_uint_eq(len2, len);
	ck_assert(memcmp(frame, frame2, len) == 0);
	lk_msg_wipe(&decoded);
	lk_msg_wipe(&built);
}
END_TEST

/* The hand-laid wire format, byte for byte, so the layout in the header
 * comment is what goes out (a peer written from it must interoperate). */
START_TEST(test_wire_layout)
{
	static const unsigned char want[] = {
		0, 0,  0, 28,                             /* length */
		1, 5,                                     /* version, RESULT */
		0, 10, 0, 4,  0,   0,   0, 7,             /* pam_code 7 */
		0, 11, 0, 2,  'n', 'o',                   /* reason "no" */
		0, 13, 0, 8,  0,   0,   0, 0, 0, 0, 1, 2, /* audit_seq 258 */
	};
	struct lk_err err = { { 0 } };
	size_t len = 0;

	memset(&built, 0, sizeof(built));
	built.type = LK_MSG_RESULT;
	built.pam_code = 7;
	set(built.reason, sizeof(built.reason), "no");
	built.audit_seq = 258;
	ck_assert_int_eq(lk_msg_encode(&built, frame, sizeof(frame), &len, &err), LK_OK);
	ck_assert_uint_eq(len, sizeof(want));
	ck_assert(memcmp(frame, want, sizeof(want)) == 0);
	/* Field order is free on the wire. */
	static const unsigned char shuffled[] = {
		1, 5,  0, 13, 0,   8,   0, 0,  0, 0, 0, 0, 1, 2,
		0, 11, 0, 2,  'n', 'o', 0, 10, 0, 4, 0, 0, 0, 7,
	};
	ck_assert_int_eq(lk_msg_decode(shuffled, sizeof(shuffled), &decoded, &err), LK_OK);
	ck_assert(memcmp(&built, &decoded, sizeof(built)) == 0);
}
END_TEST

START_TEST(test_largest_frame_fits)
{
	size_t len = encode_valid(5, &built); /* auth_max */

	ck_assert_str_eq(valid[5].what, "AUTH with every field at its bound");
	ck_assert_uint_le(len - 4, LK_FRAME_MAX);
	lk_msg_wipe(&built);
}
END_TEST

/* The chain travels in its own field, up to its bound, in AUTH and in an
 * ANSWER to a prompt for it, and comes out byte for byte. */
START_TEST(test_client_cert_round_trip)
{
	struct lk_err err = { { 0 } };
	size_t len;

	memset(&built, 0, sizeof(built));
	built.type = LK_MSG_AUTH;
	snprintf(built.service, sizeof(built.service), "nginx");
	for (size_t i = 0; i < LK_MSG_CERT_MAX; i++)
		built.client_cert[i] = (unsigned char)(i * 7);
	built.client_cert_len = LK_MSG_CERT_MAX;
	ck_assert_int_eq(lk_msg_encode(&built, frame, sizeof(frame), &len, &err), LK_OK);
	ck_assert_int_eq(lk_msg_decode(frame + 4, len - 4, &decoded, &err), LK_OK);
	ck_assert_uint_eq(decoded.client_cert_len, LK_MSG_CERT_MAX);
	ck_assert(memcmp(decoded.client_cert, built.client_cert, LK_MSG_CERT_MAX) == 0);
	ck_assert_uint_eq(decoded.n_inputs, 0);
	/* One byte more is refused before anything is written. */
	built.client_cert_len = LK_MSG_CERT_MAX + 1;
	ck_assert_int_eq(lk_msg_encode(&built, frame, sizeof(frame), &len, &err), LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "client_cert of 32769 bytes"));
	lk_msg_wipe(&built);
	lk_msg_wipe(&decoded);

	built.type = LK_MSG_ANSWER;
	snprintf(built.inputs[0].name, sizeof(built.inputs[0].name), "client_cert");
	built.n_inputs = 1;
	memcpy(built.client_cert, "-----BEGIN CERTIFICATE-----", 27);
	built.client_cert_len = 27;
	ck_assert_int_eq(lk_msg_encode(&built, frame, sizeof(frame), &len, &err), LK_OK);
	ck_assert_int_eq(lk_msg_decode(frame + 4, len - 4, &decoded, &err), LK_OK);
	ck_assert_str_eq(decoded.inputs[0].name, "client_cert");
	ck_assert_uint_eq(decoded.inputs[0].len, 0);
	ck_assert_uint_eq(decoded.client_cert_len, 27);
	ck_assert(memcmp(decoded.client_cert, "-----BEGIN CERTIFICATE-----", 27) == 0);
	lk_msg_wipe(&built);
	lk_msg_wipe(&decoded);
}
END_TEST

START_TEST(test_wipe)
{
	static const struct lk_msg zero;

	memset(&built, 0, sizeof(built));
	auth_full(&built);
	lk_msg_wipe(&built);
	ck_assert(memcmp(&built, &zero, sizeof(built)) == 0);
	/* Every byte set, each value as far as its len says: all gone. */
	memset(&built, 0xa5, sizeof(built));
	for (size_t i = 0; i < LK_MSG_MAX_INPUTS; i++) {
		built.inputs[i].len = i * 500;
		memset(built.inputs[i].value + i * 500, 0, LK_MSG_INPUT_MAX - i * 500);
	}
	lk_msg_wipe(&built);
	ck_assert(memcmp(&built, &zero, sizeof(built)) == 0);
	/* A len out of bounds wipes the whole value. */
	memset(&built, 0x5a, sizeof(built));
	for (size_t i = 0; i < LK_MSG_MAX_INPUTS; i++)
		built.inputs[i].len = i % 2 ? SIZE_MAX : LK_MSG_INPUT_MAX;
	lk_msg_wipe(&built);
	ck_assert(memcmp(&built, &zero, sizeof(built)) == 0);
	lk_msg_wipe(NULL);
}
END_TEST

/* ------------------------------------------------------ malformed payloads */

struct fld {
	int tag;
	int len; /* bytes; data NULL: that many 'a' */
	const char *data;
	int times;
};

struct bad {
	const char *what;
	int version, type;
	struct fld f[24]; /* ends at tag -1 */
	const char *raw;  /* if set, the whole payload */
	size_t raw_len;
	const char *want; /* part of the message */
};

#define F(t, s)         { (t), (int)sizeof(s) - 1, (s), 1 },
#define FILL(t, n)      { (t), (n), NULL, 1 },
#define REPEAT(t, s, k) { (t), (int)sizeof(s) - 1, (s), (k) },
#define END                    \
	{                      \
		-1, 0, NULL, 0 \
	}
#define VROW(what, version, type, fields, want)                    \
	{                                                          \
		what, version, type, { fields END }, NULL, 0, want \
	}
#define ROW(what, type, fields, want)                                       \
	{                                                                   \
		what, LK_PROTO_VERSION, type, { fields END }, NULL, 0, want \
	}
#define RAW(what, bytes, want)                                      \
	{                                                           \
		what, 0, 0, { END }, bytes, sizeof(bytes) - 1, want \
	}
#define NONE

/* Valid field sets each message type is then spoilt from. */
#define AUTH_OK    F(T_SVC, "sshd") F(T_NAME, "authtok") F(T_VAL, SECRET)
#define HELLO_OK   F(T_MINV, "\1") F(T_MAXV, "\1")
#define PROMPT_OK  F(T_NAME, "otp")
#define ANSWER_OK  F(T_NAME, "otp") F(T_VAL, SECRET)
#define CODE_OK    F(T_CODE, "\0\0\0\7")
#define REASON_OK  F(T_REASON, "bad_key")
#define SEQ_OK     F(T_SEQ, "\0\0\0\0\0\0\0\1")
#define RESULT_OK  CODE_OK REASON_OK SEQ_OK
#define ACCOUNT_OK F(T_SVC, "sshd") F(T_USER, "alice") F(T_CRED, "kid1")
#define SESSION_OK F(T_SVC, "sshd") F(T_USER, "alice") F(T_EVENT, "\1")

static const struct bad bad[] = {
	/* header */
	RAW("empty payload", "", "0 bytes is shorter than its header"),
	RAW("one byte", "\1", "1 bytes is shorter than its header"),
	VROW("version byte 2", 2, LK_MSG_AUTH, AUTH_OK, "version byte 2, expected 1"),
	VROW("version byte 0", 0, LK_MSG_AUTH, AUTH_OK, "version byte 0, expected 1"),
	VROW("version byte 255 in a HELLO", 255, LK_MSG_HELLO, HELLO_OK, "version byte 255"),
	ROW("type 0", 0, AUTH_OK, "unknown message type 0"),
	ROW("type 9", 9, AUTH_OK, "unknown message type 9"),
	ROW("type 255", 255, AUTH_OK, "unknown message type 255"),
	/* tags and framing of fields */
	ROW("tag 0", LK_MSG_AUTH, AUTH_OK F(0, "x"), "tag 0 (unknown) at offset 49: unknown tag"),
	ROW("tag 20", LK_MSG_AUTH, AUTH_OK F(20, ""), "tag 20 (unknown)"),
	/* the client certificate chain */
	ROW("empty client_cert", LK_MSG_AUTH, AUTH_OK F(T_CERT, ""),
	    "tag 19 (client_cert) at offset 49: 0 bytes, at least 1"),
	ROW("client_cert over its bound", LK_MSG_AUTH, AUTH_OK FILL(T_CERT, LK_MSG_CERT_MAX + 1),
	    "tag 19 (client_cert) at offset 49: 32769 bytes, at most 32768"),
	ROW("two client_certs", LK_MSG_AUTH, AUTH_OK F(T_CERT, "a") F(T_CERT, "b"),
	    "tag 19 (client_cert) at offset 54: repeated"),
	ROW("client_cert as an input_value", LK_MSG_AUTH,
	    F(T_SVC, "sshd") F(T_NAME, "client_cert") F(T_VAL, SECRET),
	    "the input client_cert travels in its own field"),
	ROW("client_cert between a name and its value", LK_MSG_AUTH,
	    F(T_SVC, "sshd") F(T_NAME, "otp") F(T_CERT, "a") F(T_VAL, SECRET),
	    "the previous input_name has no input_value"),
	ROW("ANSWER client_cert for another input", LK_MSG_ANSWER, F(T_NAME, "otp") F(T_CERT, "a"),
	    "answers only the input client_cert"),
	ROW("ANSWER client_cert without a name", LK_MSG_ANSWER, F(T_CERT, "a"),
	    "answers only the input client_cert"),
	ROW("client_cert in a RESULT", LK_MSG_RESULT, RESULT_OK F(T_CERT, "a"),
	    "not allowed in this message type"),
	ROW("credential in an AUTH", LK_MSG_AUTH, AUTH_OK F(T_CRED, "abc"),
	    "tag 17 (credential) at offset 49: not allowed"),
	ROW("tag 65535", LK_MSG_ERROR, F(0xffff, "x") F(T_ERROR, "e"), "tag 65535 (unknown)"),
	RAW("truncated field header", "\1\2\0\4\0", "trailing 3 byte(s) at offset 2"),
	RAW("truncated field value", "\1\2\0\4\0\5ssh", "truncated: says 5 bytes, 3 left"),
	RAW("field one byte short", "\1\2\0\4\0\5sshd", "truncated: says 5 bytes, 4 left"),
	RAW("length 65535 in a short payload",
	    "\1\6\0\20\xff\xff"
	    "abc",
	    "truncated: says 65535 bytes"),
	RAW("trailing byte", "\1\2\0\4\0\4sshd\0", "trailing 1 byte(s) at offset 10"),
	RAW("trailing three bytes", "\1\2\0\4\0\4sshd\0\5\0", "trailing 3 byte(s)"),
	/* number widths */
	ROW("min_version of 2 bytes", LK_MSG_HELLO, F(T_MINV, "\0\1") F(T_MAXV, "\1"),
	    "tag 1 (min_version) at offset 2: 2 bytes, expected exactly 1"),
	ROW("version of 0 bytes", LK_MSG_HELLO, F(T_VER, ""), "0 bytes, expected exactly 1"),
	ROW("pam_code of 3 bytes", LK_MSG_RESULT, F(T_CODE, "\0\0\7") REASON_OK SEQ_OK,
	    "tag 10 (pam_code) at offset 2: 3 bytes, expected exactly 4"),
	ROW("pam_code of 8 bytes", LK_MSG_RESULT, F(T_CODE, "\0\0\0\0\0\0\0\7") REASON_OK SEQ_OK,
	    "8 bytes, expected exactly 4"),
	ROW("audit_seq of 4 bytes", LK_MSG_RESULT, CODE_OK REASON_OK F(T_SEQ, "\0\0\0\1"),
	    "tag 13 (audit_seq) at offset 21: 4 bytes, expected exactly 8"),
	ROW("echo of 2 bytes", LK_MSG_PROMPT, PROMPT_OK F(T_ECHO, "\0\1"),
	    "tag 15 (echo) at offset 9: 2 bytes, expected exactly 1"),
	ROW("echo 2", LK_MSG_PROMPT, PROMPT_OK F(T_ECHO, "\2"), "must be 0 or 1, not 2"),
	/* account and session */
	ROW("ACCOUNT without a credential", LK_MSG_ACCOUNT, F(T_SVC, "sshd") F(T_USER, "alice"),
	    "required tag 17 (credential) is missing"),
	ROW("ACCOUNT without a user", LK_MSG_ACCOUNT, F(T_SVC, "sshd") F(T_CRED, "kid1"),
	    "required tag 5 (user) is missing"),
	ROW("credential with a dot", LK_MSG_ACCOUNT, F(T_SVC, "s") F(T_USER, "a") F(T_CRED, "k.1"),
	    "not a credential id"),
	ROW("credential of 32 bytes", LK_MSG_ACCOUNT,
	    F(T_SVC, "s") F(T_USER, "a") F(T_CRED, "0123456789abcdef0123456789abcdef"),
	    "32 bytes, at most 31"),
	ROW("ACCOUNT with an input", LK_MSG_ACCOUNT, ACCOUNT_OK F(T_NAME, "apikey") F(T_VAL, "x"),
	    "tag 8 (input_name)"),
	ROW("SESSION without an event", LK_MSG_SESSION, F(T_SVC, "sshd") F(T_USER, "alice"),
	    "required tag 18 (event) is missing"),
	ROW("SESSION event 0", LK_MSG_SESSION, F(T_SVC, "s") F(T_USER, "a") F(T_EVENT, "\0"),
	    "must be 1 (open) or 2 (close), not 0"),
	ROW("SESSION event 3", LK_MSG_SESSION, F(T_SVC, "s") F(T_USER, "a") F(T_EVENT, "\3"),
	    "not 3"),
	ROW("SESSION event twice", LK_MSG_SESSION, SESSION_OK F(T_EVENT, "\2"), "repeated"),
	ROW("SESSION event of 2 bytes", LK_MSG_SESSION,
	    F(T_SVC, "s") F(T_USER, "a") F(T_EVENT, "\0\1"), "2 bytes, expected exactly 1"),
	ROW("version 0", LK_MSG_HELLO, F(T_VER, "\0"), "version 0 does not exist"),
	ROW("min_version 0", LK_MSG_HELLO, F(T_MINV, "\0") F(T_MAXV, "\1"),
	    "version 0 does not exist"),
	ROW("min_version above max_version", LK_MSG_HELLO, F(T_MINV, "\3") F(T_MAXV, "\2"),
	    "min_version 3 is above max_version 2"),
	/* repeated single fields */
	ROW("service twice", LK_MSG_AUTH, AUTH_OK F(T_SVC, "sshd"),
	    "tag 4 (service) at offset 49: "
	    "repeated"),
	ROW("user twice", LK_MSG_AUTH, AUTH_OK F(T_USER, "bob") F(T_USER, "bob"),
	    "tag 5 (user) at offset 56: repeated"),
	ROW("rhost twice", LK_MSG_AUTH, AUTH_OK F(T_RHOST, "h") F(T_RHOST, "h"),
	    "tag 6 (rhost) at offset 54: repeated"),
	ROW("reason twice", LK_MSG_RESULT, RESULT_OK REASON_OK,
	    "tag 11 (reason) at offset 33: repeated"),
	ROW("pam_code twice", LK_MSG_RESULT, RESULT_OK CODE_OK,
	    "tag 10 (pam_code) at offset 33: repeated"),
	ROW("audit_seq twice", LK_MSG_RESULT, RESULT_OK SEQ_OK,
	    "tag 13 (audit_seq) at offset 33: repeated"),
	ROW("principal twice", LK_MSG_RESULT, RESULT_OK F(T_PRINC, "a") F(T_PRINC, "a"),
	    "tag 12 (principal) at offset 38: repeated"),
	ROW("echo twice", LK_MSG_PROMPT, PROMPT_OK F(T_ECHO, "\0") F(T_ECHO, "\0"),
	    "tag 15 (echo) at offset 14: repeated"),
	ROW("prompt_text twice", LK_MSG_PROMPT, PROMPT_OK F(T_PTEXT, "") F(T_PTEXT, ""),
	    "tag 14 (prompt_text) at offset 13: repeated"),
	ROW("PROMPT input_name twice", LK_MSG_PROMPT, PROMPT_OK PROMPT_OK,
	    "tag 8 (input_name) at offset 9: repeated"),
	ROW("ANSWER with two inputs", LK_MSG_ANSWER, ANSWER_OK ANSWER_OK,
	    "tag 8 (input_name) at offset 37: repeated"),
	ROW("error twice", LK_MSG_ERROR, F(T_ERROR, "e") F(T_ERROR, "e"),
	    "tag 16 (error) at offset 7: repeated"),
	ROW("version twice", LK_MSG_HELLO, F(T_VER, "\1") F(T_VER, "\1"),
	    "tag 3 (version) at offset 7: repeated"),
	ROW("max_version twice", LK_MSG_HELLO, HELLO_OK F(T_MAXV, "\1"),
	    "tag 2 (max_version) at offset 12: repeated"),
	/* text contents */
	ROW("NUL in user", LK_MSG_AUTH, AUTH_OK F(T_USER, "ro\0ot"),
	    "tag 5 (user) at offset 49: "
	    "contains a NUL byte"),
	ROW("NUL in service", LK_MSG_AUTH, F(T_SVC, "ssh\0"), "contains a NUL byte"),
	ROW("NUL in input_name", LK_MSG_ANSWER, F(T_NAME, "o\0tp") F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 2: contains a NUL byte"),
	ROW("NUL in error", LK_MSG_ERROR, F(T_ERROR, "\0"), "contains a NUL byte"),
	ROW("escape in user", LK_MSG_AUTH, AUTH_OK F(T_USER, "ro\x1b[2Jot"),
	    "tag 5 (user) at offset 49: not well-formed UTF-8, or contains control characters"),
	ROW("newline in prompt_text", LK_MSG_PROMPT, PROMPT_OK F(T_PTEXT, "Code:\nroot# "),
	    "tag 14 (prompt_text) at offset 9: not well-formed UTF-8, or contains control"),
	ROW("tab in rhost", LK_MSG_AUTH, AUTH_OK F(T_RHOST, "a\tb"), "contains control characters"),
	ROW("DEL in error", LK_MSG_ERROR, F(T_ERROR, "x\x7f"), "contains control characters"),
	ROW("C1 control in principal", LK_MSG_RESULT, RESULT_OK F(T_PRINC, "a\xc2\x85"),
	    "tag 12 (principal) at offset 33: not well-formed UTF-8, or contains control"),
	ROW("right-to-left override in reason", LK_MSG_RESULT,
	    CODE_OK SEQ_OK F(T_REASON, "ok\xe2\x80\xae"),
	    "tag 11 (reason) at offset 22: not well-formed"),
	ROW("invalid UTF-8 in user", LK_MSG_AUTH, AUTH_OK F(T_USER, "\xff"),
	    "not well-formed UTF-8"),
	ROW("overlong UTF-8 in rhost", LK_MSG_AUTH, AUTH_OK F(T_RHOST, "\xc0\xaf"),
	    "not well-formed UTF-8"),
	ROW("UTF-16 surrogate in error", LK_MSG_ERROR, F(T_ERROR, "\xed\xa0\x80"),
	    "not well-formed UTF-8"),
	ROW("truncated UTF-8 in prompt_text", LK_MSG_PROMPT, PROMPT_OK F(T_PTEXT, "\xc3"),
	    "not well-formed UTF-8"),
	ROW("secret in a bad user field", LK_MSG_AUTH, AUTH_OK F(T_USER, SECRET "\n"),
	    "tag 5 (user) at offset 49: not well-formed"),
	/* over their bounds */
	ROW("service of 65", LK_MSG_AUTH, FILL(T_SVC, 65),
	    "tag 4 (service) at offset 2: 65 bytes, at most 64"),
	ROW("user of 257", LK_MSG_AUTH, AUTH_OK FILL(T_USER, 257),
	    "tag 5 (user) at offset 49: 257 bytes, at most 256"),
	ROW("rhost of 256", LK_MSG_AUTH, AUTH_OK FILL(T_RHOST, 256), "256 bytes, at most 255"),
	ROW("scope of 65", LK_MSG_AUTH, AUTH_OK FILL(T_SCOPE, 65),
	    "tag 7 (scope) at offset 49: 65 bytes, at most 64"),
	ROW("input_name of 32", LK_MSG_AUTH, F(T_SVC, "sshd") FILL(T_NAME, 32) F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 10: 32 bytes, at most 31"),
	ROW("input_value of 4097", LK_MSG_ANSWER, PROMPT_OK FILL(T_VAL, 4097),
	    "tag 9 (input_value) at offset 9: 4097 bytes, at most 4096"),
	ROW("reason of 32", LK_MSG_RESULT, CODE_OK SEQ_OK FILL(T_REASON, 32),
	    "32 bytes, at most 31"),
	ROW("principal of 129", LK_MSG_RESULT, RESULT_OK FILL(T_PRINC, 129),
	    "129 bytes, at most 128"),
	ROW("prompt_text of 128", LK_MSG_PROMPT, PROMPT_OK FILL(T_PTEXT, 128),
	    "128 bytes, at most 127"),
	ROW("error of 256", LK_MSG_ERROR, FILL(T_ERROR, 256),
	    "tag 16 (error) at offset 2: 256 bytes, at most 255"),
	/* empty where at least one byte is needed */
	ROW("empty service", LK_MSG_AUTH, F(T_SVC, ""), "tag 4 (service) at offset 2: empty"),
	ROW("empty user", LK_MSG_AUTH, AUTH_OK F(T_USER, ""), "tag 5 (user) at offset 49: empty"),
	ROW("empty rhost", LK_MSG_AUTH, AUTH_OK F(T_RHOST, ""),
	    "tag 6 (rhost) at offset 49: empty"),
	ROW("empty scope", LK_MSG_AUTH, AUTH_OK F(T_SCOPE, ""),
	    "tag 7 (scope) at offset 49: empty"),
	ROW("empty input_name", LK_MSG_ANSWER, F(T_NAME, "") F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 2: empty"),
	ROW("empty reason", LK_MSG_RESULT, CODE_OK SEQ_OK F(T_REASON, ""),
	    "tag 11 (reason) at offset 22: empty"),
	ROW("empty principal", LK_MSG_RESULT, RESULT_OK F(T_PRINC, ""),
	    "tag 12 (principal) at offset 33: empty"),
	ROW("empty error", LK_MSG_ERROR, F(T_ERROR, ""), "tag 16 (error) at offset 2: empty"),
	/* names that are text but not what the field holds */
	ROW("service in capitals", LK_MSG_AUTH, F(T_SVC, "SSHD"),
	    "tag 4 (service) at offset 2: not a service name"),
	ROW("service starting with -", LK_MSG_AUTH, F(T_SVC, "-sshd"), "not a service name"),
	ROW("service with a slash", LK_MSG_AUTH, F(T_SVC, "../sshd"), "not a service name"),
	ROW("service with a space", LK_MSG_AUTH, F(T_SVC, "ssh d"), "not a service name"),
	ROW("scope starting with :", LK_MSG_AUTH, AUTH_OK F(T_SCOPE, ":read"),
	    "tag 7 (scope) at offset 49: not a scope"),
	ROW("scope with a space", LK_MSG_AUTH, AUTH_OK F(T_SCOPE, "read write"), "not a scope"),
	ROW("wildcard scope", LK_MSG_AUTH, AUTH_OK F(T_SCOPE, "*"), "not a scope"),
	ROW("non-ASCII scope", LK_MSG_AUTH, AUTH_OK F(T_SCOPE, "r\xc3\xa9"), "not a scope"),
	ROW("input_name in capitals", LK_MSG_AUTH,
	    F(T_SVC, "sshd") F(T_NAME, "Key") F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 10: not an input name"),
	ROW("input_name with a dot", LK_MSG_ANSWER, F(T_NAME, "a.b") F(T_VAL, SECRET),
	    "not an input name"),
	ROW("input_name with a space", LK_MSG_PROMPT, F(T_NAME, "o tp"), "not an input name"),
	/* counts and pairing of repeatable fields */
	ROW("9 inputs", LK_MSG_AUTH,
	    F(T_SVC, "sshd") F(T_NAME, "a") F(T_VAL, SECRET) F(T_NAME, "b") F(T_VAL, SECRET)
	        F(T_NAME, "c") F(T_VAL, SECRET) F(T_NAME, "d") F(T_VAL, SECRET) F(T_NAME, "e")
	            F(T_VAL, SECRET) F(T_NAME, "f") F(T_VAL, SECRET) F(T_NAME, "g") F(T_VAL, SECRET)
	                F(T_NAME, "h") F(T_VAL, SECRET) F(T_NAME, "i") F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 274: more than 8 inputs"),
	ROW("33 scopes", LK_MSG_AUTH, AUTH_OK REPEAT(T_SCOPE, "read", 33),
	    "tag 7 (scope) at offset 305: more than 32 scopes"),
	ROW("input_name followed by input_name", LK_MSG_AUTH,
	    F(T_SVC, "sshd") F(T_NAME, "key") F(T_NAME, "otp") F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 17: the previous input_name has no input_value"),
	ROW("AUTH ending with an input_name", LK_MSG_AUTH, AUTH_OK F(T_NAME, "otp"),
	    "type 2 (AUTH): the last input_name has no input_value"),
	ROW("input_value first", LK_MSG_AUTH, F(T_SVC, "sshd") F(T_VAL, SECRET) F(T_NAME, "key"),
	    "tag 9 (input_value) at offset 10: without a preceding input_name"),
	ROW("two input_values for one name", LK_MSG_AUTH, AUTH_OK F(T_VAL, SECRET),
	    "tag 9 (input_value) at offset 49: without a preceding input_name"),
	ROW("ANSWER value before name", LK_MSG_ANSWER, F(T_VAL, SECRET) F(T_NAME, "otp"),
	    "tag 9 (input_value) at offset 2: without a preceding input_name"),
	ROW("ANSWER name without value", LK_MSG_ANSWER, F(T_NAME, "otp"),
	    "type 4 (ANSWER): the last input_name has no input_value"),
	ROW("the same input twice", LK_MSG_AUTH, AUTH_OK F(T_NAME, "authtok") F(T_VAL, SECRET),
	    "tag 8 (input_name) at offset 49: same name as input 0"),
	/* fields the type does not carry */
	ROW("service in RESULT", LK_MSG_RESULT, RESULT_OK F(T_SVC, "sshd"),
	    "type 5 (RESULT): tag 4 (service) at offset 33: not allowed in this message type"),
	ROW("input_value in PROMPT", LK_MSG_PROMPT, PROMPT_OK F(T_VAL, SECRET),
	    "type 3 (PROMPT): tag 9 (input_value) at offset 9: not allowed"),
	ROW("version in AUTH", LK_MSG_AUTH, AUTH_OK F(T_VER, "\1"),
	    "type 2 (AUTH): tag 3 (version) at offset 49: not allowed"),
	ROW("error in AUTH", LK_MSG_AUTH, AUTH_OK F(T_ERROR, "e"),
	    "tag 16 (error) at offset 49: not allowed"),
	ROW("pam_code in HELLO", LK_MSG_HELLO, HELLO_OK CODE_OK,
	    "type 1 (HELLO): tag 10 (pam_code) at offset 12: not allowed"),
	ROW("scope in ANSWER", LK_MSG_ANSWER, ANSWER_OK F(T_SCOPE, "read"),
	    "tag 7 (scope) at offset 37: not allowed"),
	ROW("user in ERROR", LK_MSG_ERROR, F(T_ERROR, "e") F(T_USER, "u"),
	    "tag 5 (user) at offset 7: not allowed"),
	ROW("echo in ANSWER", LK_MSG_ANSWER, ANSWER_OK F(T_ECHO, "\1"),
	    "tag 15 (echo) at offset 37: not allowed"),
	ROW("prompt_text in RESULT", LK_MSG_RESULT, RESULT_OK F(T_PTEXT, "x"),
	    "tag 14 (prompt_text) at offset 33: not allowed"),
	ROW("principal in AUTH", LK_MSG_AUTH, AUTH_OK F(T_PRINC, "p"),
	    "tag 12 (principal) at offset 49: not allowed"),
	ROW("audit_seq in PROMPT", LK_MSG_PROMPT, PROMPT_OK SEQ_OK,
	    "tag 13 (audit_seq) at offset 9: not allowed"),
	ROW("min_version in RESULT", LK_MSG_RESULT, RESULT_OK F(T_MINV, "\1"),
	    "tag 1 (min_version) at offset 33: not allowed"),
	/* required fields missing */
	ROW("AUTH without a service", LK_MSG_AUTH,
	    F(T_USER, "alice") F(T_NAME, "k") F(T_VAL, SECRET),
	    "type 2 (AUTH): required tag 4 (service) is missing"),
	ROW("empty AUTH", LK_MSG_AUTH, NONE, "type 2 (AUTH): required tag 4 (service) is missing"),
	ROW("RESULT without pam_code", LK_MSG_RESULT, REASON_OK SEQ_OK,
	    "type 5 (RESULT): required tag 10 (pam_code) is missing"),
	ROW("RESULT without reason", LK_MSG_RESULT, CODE_OK SEQ_OK,
	    "required tag 11 (reason) is missing"),
	ROW("RESULT without audit_seq", LK_MSG_RESULT, CODE_OK REASON_OK F(T_PRINC, "p"),
	    "required tag 13 (audit_seq) is missing"),
	ROW("empty ERROR", LK_MSG_ERROR, NONE,
	    "type 6 (ERROR): required tag 16 (error) is missing"),
	ROW("empty PROMPT", LK_MSG_PROMPT, NONE,
	    "type 3 (PROMPT): required tag 8 (input_name) is missing"),
	ROW("PROMPT with only a text", LK_MSG_PROMPT, F(T_PTEXT, "Code: ") F(T_ECHO, "\0"),
	    "required tag 8 (input_name) is missing"),
	ROW("empty ANSWER", LK_MSG_ANSWER, NONE,
	    "type 4 (ANSWER): required tag 8 (input_name) is missing"),
	ROW("empty HELLO", LK_MSG_HELLO, NONE, "type 1 (HELLO): needs min_version and max_version"),
	ROW("HELLO with min_version only", LK_MSG_HELLO, F(T_MINV, "\1"),
	    "needs min_version and max_version"),
	ROW("HELLO with max_version only", LK_MSG_HELLO, F(T_MAXV, "\1"),
	    "needs min_version and max_version"),
	/* HELLO mixing its two forms */
	ROW("HELLO with all three versions", LK_MSG_HELLO, HELLO_OK F(T_VER, "\1"),
	    "type 1 (HELLO): has both version and min_version/max_version"),
	ROW("HELLO with version and min_version", LK_MSG_HELLO, F(T_VER, "\1") F(T_MINV, "\1"),
	    "has both version and min_version/max_version"),
	ROW("HELLO with max_version and version", LK_MSG_HELLO, F(T_MAXV, "\1") F(T_VER, "\1"),
	    "has both version and min_version/max_version"),
};
#define N_BAD (int)(sizeof(bad) / sizeof(bad[0]))

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* Lays out bad row b's payload in out; returns its length. */
static size_t build_bad(const struct bad *b, unsigned char *out, size_t cap)
{
	size_t n = 0;

	if (b->raw != NULL) {
		ck_assert_uint_le(b->raw_len, cap);
		memcpy(out, b->raw, b->raw_len);
		return b->raw_len;
	}
	out[n++] = (unsigned char)b->version;
	out[n++] = (unsigned char)b->type;
	for (const struct fld *f = b->f; f->tag >= 0; f++) {
		for (int k = 0; k < f->times; k++) {
			ck_assert_uint_le(n + 4 + (size_t)f->len, cap);
			put16(out + n, (unsigned)f->tag);
			put16(out + n + 2, (unsigned)f->len);
			if (f->data != NULL)
				memcpy(out + n + 4, f->data, (size_t)f->len);
			else
				memset(out + n + 4, 'a', (size_t)f->len);
			n += 4 + (size_t)f->len;
		}
	}
	return n;
}

START_TEST(test_bad_payload)
{
	static const struct lk_msg zero;
	const struct bad *b = &bad[_i];
	struct lk_err err = { { 0 } };
	size_t len = build_bad(b, frame, sizeof(frame));

	memset(&decoded, 0x5a, sizeof(decoded));
	ck_assert_msg(lk_msg_decode(frame, len, &decoded, &err) == LK_EINVAL, "%s: accepted",
	              b->what);
	ck_assert_msg(strstr(err.msg, b->want) != NULL, "%s: message \"%s\", expected \"%s\"",
	              b->what, err.msg, b->want);
	ck_assert_msg(strstr(err.msg, "PLANTED") == NULL && strstr(err.msg, "s3cr3t") == NULL,
	              "%s: the message echoes a secret: %s", b->what, err.msg);
	/* A refused message leaves nothing behind, secrets least of all. */
	ck_assert_msg(memcmp(&decoded, &zero, sizeof(decoded)) == 0, "%s: not wiped", b->what);
}
END_TEST

/* The base each malformed row is spoilt from decodes: so each row fails
 * for its own reason. */
START_TEST(test_bad_payload_bases_are_valid)
{
	static const struct bad good[] = {
		ROW("AUTH", LK_MSG_AUTH, AUTH_OK, NULL),
		ROW("HELLO", LK_MSG_HELLO, HELLO_OK, NULL),
		ROW("PROMPT", LK_MSG_PROMPT, PROMPT_OK F(T_PTEXT, "") F(T_ECHO, "\1"), NULL),
		ROW("ANSWER", LK_MSG_ANSWER, ANSWER_OK, NULL),
		ROW("AUTH with a client_cert", LK_MSG_AUTH, AUTH_OK F(T_CERT, "-----BEGIN"), NULL),
		ROW("AUTH with the largest client_cert", LK_MSG_AUTH,
		    AUTH_OK FILL(T_CERT, LK_MSG_CERT_MAX), NULL),
		ROW("ANSWER with a client_cert", LK_MSG_ANSWER,
		    F(T_NAME, "client_cert") F(T_CERT, "pem"), NULL),
		ROW("RESULT", LK_MSG_RESULT, RESULT_OK F(T_PRINC, "p"), NULL),
		ROW("ERROR", LK_MSG_ERROR, F(T_ERROR, "e"), NULL),
		ROW("32 scopes", LK_MSG_AUTH, AUTH_OK REPEAT(T_SCOPE, "read", 32), NULL),
		ROW("8 inputs", LK_MSG_AUTH,
		    F(T_SVC, "sshd") F(T_NAME, "a") F(T_VAL, SECRET) F(T_NAME, "b") F(T_VAL, SECRET)
		        F(T_NAME, "c") F(T_VAL, SECRET) F(T_NAME, "d") F(T_VAL, SECRET)
		            F(T_NAME, "e") F(T_VAL, SECRET) F(T_NAME, "f") F(T_VAL, SECRET)
		                F(T_NAME, "g") F(T_VAL, SECRET) F(T_NAME, "h") F(T_VAL, ""),
		    NULL),
		ROW("fields in any order", LK_MSG_AUTH,
		    F(T_NAME, "k") F(T_VAL, "") F(T_SCOPE, "a") F(T_RHOST, "h") F(T_SVC, "s")
		        F(T_USER, "u") F(T_SCOPE, "a"),
		    NULL),
	};
	struct lk_err err = { { 0 } };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t len = build_bad(&good[i], frame, sizeof(frame));
		ck_assert_msg(lk_msg_decode(frame, len, &decoded, &err) == LK_OK, "%s: %s",
		              good[i].what, err.msg);
	}
	ck_assert_uint_eq(decoded.n_scopes, 2); /* a repeated scope is kept as sent */
	ck_assert_str_eq(decoded.service, "s");
	ck_assert_uint_eq(decoded.n_inputs, 1);
	ck_assert_uint_eq(decoded.inputs[0].len, 0);
	lk_msg_wipe(&decoded);
}
END_TEST

/* --------------------------------------------------------- encode refusals */

static void no_service(struct lk_msg *m)
{
	m->service[0] = '\0';
}
static void bad_service(struct lk_msg *m)
{
	set(m->service, sizeof(m->service), "SSHD");
}
static void unterminated_user(struct lk_msg *m)
{
	memset(m->user, 'u', sizeof(m->user));
}
static void too_many_scopes(struct lk_msg *m)
{
	m->n_scopes = LK_MSG_MAX_SCOPES + 1;
}
static void too_many_inputs(struct lk_msg *m)
{
	m->n_inputs = LK_MSG_MAX_INPUTS + 1;
}
static void value_too_long(struct lk_msg *m)
{
	m->inputs[1].len = LK_MSG_INPUT_MAX + 1;
}
static void empty_scope(struct lk_msg *m)
{
	m->scopes[1][0] = '\0';
}
static void bad_scope(struct lk_msg *m)
{
	set(m->scopes[0], sizeof(m->scopes[0]), "billing:*");
}
static void bad_input_name(struct lk_msg *m)
{
	set(m->inputs[1].name, sizeof(m->inputs[1].name), "OTP");
}
static void same_input_twice(struct lk_msg *m)
{
	set(m->inputs[1].name, sizeof(m->inputs[1].name), "authtok");
}
static void control_in_user(struct lk_msg *m)
{
	set(m->user, sizeof(m->user), "alice\r\nroot");
}
static void reason_in_auth(struct lk_msg *m)
{
	set(m->reason, sizeof(m->reason), "ok");
}
static void pam_code_in_auth(struct lk_msg *m)
{
	m->pam_code = 7;
}
static void unknown_type_0(struct lk_msg *m)
{
	m->type = 0;
}
static void unknown_type_9(struct lk_msg *m)
{
	m->type = 9;
}
static void hello_mixed(struct lk_msg *m)
{
	m->version = 1;
}
static void hello_min_only(struct lk_msg *m)
{
	m->max_version = 0;
}
static void hello_inverted(struct lk_msg *m)
{
	m->min_version = 4;
}
static void echo_2(struct lk_msg *m)
{
	m->echo = 2;
}
static void prompt_with_value(struct lk_msg *m)
{
	memcpy(m->inputs[0].value, SECRET, strlen(SECRET));
	m->inputs[0].len = strlen(SECRET);
}
static void prompt_two_names(struct lk_msg *m)
{
	set(m->inputs[1].name, sizeof(m->inputs[1].name), "key");
	m->n_inputs = 2;
}
static void answer_two_inputs(struct lk_msg *m)
{
	set_input(m, 1, "key", SECRET, strlen(SECRET));
	m->n_inputs = 2;
}
static void answer_no_input(struct lk_msg *m)
{
	m->n_inputs = 0;
}
static void result_no_reason(struct lk_msg *m)
{
	m->reason[0] = '\0';
}
static void result_with_user(struct lk_msg *m)
{
	set(m->user, sizeof(m->user), "alice");
}
static void error_empty(struct lk_msg *m)
{
	m->error[0] = '\0';
}

static const struct {
	const char *what;
	void (*build)(struct lk_msg *m);
	void (*spoil)(struct lk_msg *m);
	const char *want;
} refusals[] = {
	{ "AUTH without service", auth_full, no_service, "required tag 4 (service) is missing" },
	{ "bad service", auth_full, bad_service,
	  "tag 4 (service) at offset 2: not a service name" },
	{ "user without its NUL", auth_full, unterminated_user,
	  "tag 5 (user) is not NUL-terminated" },
	{ "33 scopes", auth_full, too_many_scopes, "33 scopes, at most 32" },
	{ "9 inputs", auth_full, too_many_inputs, "9 inputs, at most 8" },
	{ "value of 4097 bytes", auth_full, value_too_long,
	  "input 1 value of 4097 bytes, at most 4096" },
	{ "empty scope", auth_full, empty_scope, "tag 7 (scope) at offset 48: empty" },
	{ "bad scope", auth_full, bad_scope, "not a scope" },
	{ "bad input name", auth_full, bad_input_name, "not an input name" },
	{ "the same input twice", auth_full, same_input_twice, "same name as input 0" },
	{ "control characters in user", auth_full, control_in_user, "contains control characters" },
	{ "reason in AUTH", auth_full, reason_in_auth,
	  "tag 11 (reason) at offset 118: not allowed" },
	{ "pam_code in AUTH", auth_full, pam_code_in_auth,
	  "tag 10 (pam_code) at offset 118: not allowed" },
	{ "type 0", auth_full, unknown_type_0, "cannot encode unknown message type 0" },
	{ "type 9", auth_full, unknown_type_9, "cannot encode unknown message type 9" },
	{ "HELLO with both forms", hello_client, hello_mixed, "has both version and" },
	{ "HELLO with min_version only", hello_client, hello_min_only,
	  "needs min_version and max_version" },
	{ "HELLO min above max", hello_client, hello_inverted,
	  "min_version 4 is above max_version 3" },
	{ "echo 2", prompt_full, echo_2, "must be 0 or 1, not 2" },
	{ "PROMPT with a value", prompt_full, prompt_with_value,
	  "tag 9 (input_value) at offset 9: not allowed" },
	{ "PROMPT for two inputs", prompt_full, prompt_two_names,
	  "tag 8 (input_name) at offset 9: repeated" },
	{ "ANSWER with two inputs", answer, answer_two_inputs,
	  "tag 8 (input_name) at offset 37: repeated" },
	{ "ANSWER without input", answer, answer_no_input,
	  "required tag 8 (input_name) is missing" },
	{ "RESULT without reason", result_full, result_no_reason,
	  "required tag 11 (reason) is missing" },
	{ "RESULT with a user", result_full, result_with_user,
	  "tag 5 (user) at offset 2: not allowed" },
	{ "ERROR without text", error_msg, error_empty, "required tag 16 (error) is missing" },
};
#define N_REFUSALS (int)(sizeof(refusals) / sizeof(refusals[0]))

START_TEST(test_encode_refuses)
{
	struct lk_err err = { { 0 } };
	size_t len = 12345;

	memset(&built, 0, sizeof(built));
	refusals[_i].build(&built);
	refusals[_i].spoil(&built);
	memset(frame, 0, sizeof(frame));
	ck_assert_msg(lk_msg_encode(&built, frame, sizeof(frame), &len, &err) == LK_EINVAL,
	              "%s: encoded", refusals[_i].what);
	ck_assert_msg(strstr(err.msg, refusals[_i].want) != NULL,
	              "%s: message \"%s\", expected \"%s\"", refusals[_i].what, err.msg,
	              refusals[_i].want);
	ck_assert_msg(strstr(err.msg, "PLANTED") == NULL, "%s: echoes a secret: %s",
	              refusals[_i].what, err.msg);
	ck_assert_uint_eq(len, 12345); /* ret_len written only on success */
	/* Whatever was laid out before the refusal is wiped. */
	ck_assert_ptr_null(memmem(frame, sizeof(frame), "PLANTED", 7));
	lk_msg_wipe(&built);
}
END_TEST

START_TEST(test_encode_buffer_too_small)
{
	struct lk_err err = { { 0 } };
	size_t need = encode_valid(3, &built), len = 0; /* auth_full */

	ck_assert_str_eq(valid[3].what, "AUTH with every field");
	memset(frame, 0xee, sizeof(frame));
	ck_assert_int_eq(lk_msg_encode(&built, frame, need - 1, &len, &err), LK_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "buffer"));
	ck_assert_uint_eq(frame[need - 1], 0xee); /* nothing written past cap */
	ck_assert_ptr_null(memmem(frame, need, "PLANTED", 7));
	ck_assert_int_eq(lk_msg_encode(&built, frame, need, &len, &err), LK_OK);
	ck_assert_uint_eq(len, need);
	ck_assert_int_eq(lk_msg_encode(&built, frame, 0, &len, &err), LK_EINVAL);
	ck_assert_int_eq(lk_msg_encode(NULL, frame, sizeof(frame), &len, &err), LK_EINVAL);
	ck_assert_int_eq(lk_msg_decode(frame + 4, need - 4, NULL, &err), LK_EINVAL);
	ck_assert_int_eq(lk_msg_decode(NULL, 10, &decoded, &err), LK_EINVAL);
	lk_msg_wipe(&built);
}
END_TEST

/* --------------------------------------------------------------- frame I/O */

static int sv[2] = { -1, -1 };

static void pair_setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void pair_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		sv[i] = -1;
	}
}

static void close_end(int i)
{
	ck_assert_int_eq(close(sv[i]), 0);
	sv[i] = -1;
}

static void write_all(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

/* The bytes still waiting on fd, without blocking. */
static ssize_t unread(int fd, unsigned char *out, size_t cap)
{
	return recv(fd, out, cap, MSG_DONTWAIT);
}

static void wait_child(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d",
	              status);
}

START_TEST(test_frame_round_trip)
{
	struct lk_err err = { { 0 } };
	size_t len = encode_valid(3, &built), got = 0;
	static unsigned char in[LK_FRAME_MAX];

	ck_assert_int_eq(lk_frame_write(sv[0], frame, len, 1000, &err), LK_OK);
	ck_assert_msg(lk_frame_read(sv[1], in, sizeof(in), &got, 1000, &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_uint_eq(got, len - 4);
	ck_assert(memcmp(in, frame + 4, got) == 0);
	ck_assert_int_eq(lk_msg_decode(in, got, &decoded, &err), LK_OK);
	ck_assert(memcmp(&built, &decoded, sizeof(built)) == 0);
	/* A frame that fills its buffer exactly is fine. */
	write_all(sv[0], frame, len);
	ck_assert_int_eq(lk_frame_read(sv[1], in, len - 4, &got, 1000, &err), LK_OK);
	lk_msg_wipe(&built);
	lk_msg_wipe(&decoded);
}
END_TEST

/* A frame dribbled one byte per write (with pauses, so the reader sees
 * the pieces) is put back together. */
START_TEST(test_frame_split_into_bytes)
{
	struct lk_err err = { { 0 } };
	size_t len = encode_valid(3, &built), got = 0;
	static unsigned char in[LK_FRAME_MAX];
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sv[1]);
		for (size_t i = 0; i < len; i++) {
			if (write(sv[0], frame + i, 1) != 1)
				_exit(1);
			usleep(200);
		}
		_exit(0);
	}
	close_end(0);
	ck_assert_msg(lk_frame_read(sv[1], in, sizeof(in), &got, 30000, &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_uint_eq(got, len - 4);
	ck_assert(memcmp(in, frame + 4, got) == 0);
	wait_child(pid);
	lk_msg_wipe(&built);
}
END_TEST

/* The largest frame, written through a small, non-blocking send buffer, so
 * lk_frame_write must carry on after partial sends and EAGAIN. */
START_TEST(test_frame_partial_writes)
{
	static unsigned char big[LK_FRAME_MAX + 4], in[LK_FRAME_MAX];
	struct lk_err err = { { 0 } };
	size_t got = 0;
	int small = 4096;
	pid_t pid;

	big[1] = 1; /* 0x00010000 = LK_FRAME_MAX */
	for (size_t i = 4; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 31);
	ck_assert_int_eq(be32(big), LK_FRAME_MAX);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct lk_err cerr = { { 0 } };
		close(sv[1]);
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
		_exit(lk_frame_write(sv[0], big, sizeof(big), 30000, &cerr) == LK_OK ? 0 : 1);
	}
	close_end(0);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	ck_assert_msg(lk_frame_read(sv[1], in, sizeof(in), &got, 30000, &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_uint_eq(got, LK_FRAME_MAX);
	ck_assert(memcmp(in, big + 4, got) == 0);
	wait_child(pid);
}
END_TEST

static const struct {
	uint32_t len;
	size_t cap;
	const char *want;
} bad_lengths[] = {
	{ 0, LK_FRAME_MAX, "frame length 0, expected 2 to 65536" },
	{ 1, LK_FRAME_MAX, "frame length 1, expected 2 to 65536" },
	{ LK_FRAME_MAX + 1, LK_FRAME_MAX + 16, "frame length 65537, expected 2 to 65536" },
	{ UINT32_MAX, LK_FRAME_MAX, "frame length 4294967295" },
	{ 100, 99, "frame length 100, the buffer has 99" },
};

/* A bad length is refused from the prefix alone: the payload behind it
 * is never read (the caller closes the connection). */
START_TEST(test_frame_bad_length_not_read)
{
	static unsigned char in[LK_FRAME_MAX + 16];
	unsigned char head[4 + 3], rest[16];
	struct lk_err err = { { 0 } };
	size_t got = 777;

	head[0] = (unsigned char)(bad_lengths[_i].len >> 24);
	head[1] = (unsigned char)(bad_lengths[_i].len >> 16);
	head[2] = (unsigned char)(bad_lengths[_i].len >> 8);
	head[3] = (unsigned char)bad_lengths[_i].len;
	memcpy(head + 4, "\1\2x", 3);
	write_all(sv[0], head, sizeof(head));
	ck_assert_int_eq(lk_frame_read(sv[1], in, bad_lengths[_i].cap, &got, 1000, &err),
	                 LK_EINVAL);
	ck_assert_msg(strstr(err.msg, bad_lengths[_i].want) != NULL, "%s", err.msg);
	ck_assert_uint_eq(got, 777);
	ck_assert_int_eq(unread(sv[1], rest, sizeof(rest)), 3);
	ck_assert(memcmp(rest, "\1\2x", 3) == 0);
}
END_TEST

/* The two ends of the range are accepted. */
START_TEST(test_frame_length_bounds)
{
	static unsigned char big[LK_FRAME_MAX + 4], in[LK_FRAME_MAX];
	struct lk_err err = { { 0 } };
	size_t got = 0;
	pid_t pid;

	write_all(sv[0], "\0\0\0\2\1\6", 6);
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 1000, &err), LK_OK);
	ck_assert_uint_eq(got, 2);
	big[1] = 1; /* 0x00010000 = LK_FRAME_MAX */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sv[1]);
		_exit(write(sv[0], big, sizeof(big)) == (ssize_t)sizeof(big) ? 0 : 1);
	}
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 30000, &err), LK_OK);
	ck_assert_uint_eq(got, LK_FRAME_MAX);
	wait_child(pid);
}
END_TEST

START_TEST(test_frame_eof)
{
	static unsigned char in[64];
	struct lk_err err = { { 0 } };
	size_t got = 0;

	/* Before anything. */
	close_end(0);
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 1000, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "closed the connection"));
	pair_teardown();

	/* Inside the length prefix. */
	pair_setup();
	write_all(sv[0], "\0\0", 2);
	close_end(0);
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 1000, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "inside a frame header"));
	pair_teardown();

	/* Inside the payload: what was read is wiped. */
	pair_setup();
	memset(in, 0x77, sizeof(in));
	write_all(sv[0], "\0\0\0\12\1\4abc", 9);
	close_end(0);
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 1000, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "inside a frame (5 of 10 bytes)"));
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(in[i], 0);
	ck_assert_uint_eq(in[5], 0x77);
}
END_TEST

START_TEST(test_frame_timeout)
{
	static unsigned char in[64];
	struct lk_err err = { { 0 } };
	size_t got = 0;

	/* Nothing at all. */
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 100, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "timed out"));
	/* A peer that stops half-way through a frame. */
	write_all(sv[0], "\0\0\0\12\1\4abc", 9);
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 100, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "timed out"));
	/* A zero timeout still reads what is already there. */
	pair_teardown();
	pair_setup();
	write_all(sv[0], "\0\0\0\2\1\6", 6);
	ck_assert_int_eq(lk_frame_read(sv[1], in, sizeof(in), &got, 0, &err), LK_OK);
	ck_assert_uint_eq(got, 2);
}
END_TEST

/* A peer that does not read: the write gives up at its deadline even on
 * a blocking socket. */
START_TEST(test_frame_write_timeout)
{
	static unsigned char big[LK_FRAME_MAX + 4];
	struct lk_err err = { { 0 } };
	int small = 4096;

	big[1] = 1;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	ck_assert_int_eq(lk_frame_write(sv[0], big, sizeof(big), 100, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "timed out"));
}
END_TEST

/* The host service must survive its daemon going away: EPIPE is an
 * error, not a SIGPIPE (the default action, restored here, kills). */
START_TEST(test_frame_write_closed_peer)
{
	struct lk_err err = { { 0 } };
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);
	size_t len = encode_valid(1, &built);

	close_end(1);
	ck_assert_int_eq(lk_frame_write(sv[0], frame, len, 1000, &err), LK_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "writing a frame"));
	ck_assert_int_eq(lk_frame_write(sv[0], frame, len, 1000, &err), LK_EIO);
	signal(SIGPIPE, old);
}
END_TEST

START_TEST(test_frame_write_refuses_non_frames)
{
	struct lk_err err = { { 0 } };
	size_t len = encode_valid(1, &built);
	unsigned char rest[16];

	ck_assert_int_eq(lk_frame_write(sv[0], frame, len - 1, 1000, &err), LK_EINVAL);
	ck_assert_int_eq(lk_frame_write(sv[0], frame, len + 1, 1000, &err), LK_EINVAL);
	ck_assert_int_eq(lk_frame_write(sv[0], frame, 5, 1000, &err), LK_EINVAL);
	ck_assert_int_eq(lk_frame_write(sv[0], NULL, len, 1000, &err), LK_EINVAL);
	ck_assert_int_eq(unread(sv[1], rest, sizeof(rest)), -1); /* nothing was sent */
	ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

/* Pipes are not sockets: send() fails with ENOTSOCK and write() takes over. */
START_TEST(test_frame_over_a_pipe)
{
	static unsigned char in[LK_FRAME_MAX];
	struct lk_err err = { { 0 } };
	size_t len = encode_valid(12, &built), got = 0; /* result_full */
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_msg(lk_frame_write(p[1], frame, len, 1000, &err) == LK_OK, "%s", err.msg);
	ck_assert_int_eq(lk_frame_read(p[0], in, sizeof(in), &got, 1000, &err), LK_OK);
	ck_assert_uint_eq(got, len - 4);
	ck_assert(memcmp(in, frame + 4, got) == 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Signals arriving all the time (no SA_RESTART) interrupt poll and read:
 * the frame still arrives, and a deadline still holds. */
START_TEST(test_frame_eintr)
{
	static unsigned char in[LK_FRAME_MAX];
	struct sigaction sa, old;
	struct itimerval tick = { { 0, 2000 }, { 0, 2000 } }, off = { { 0, 0 }, { 0, 0 } };
	struct lk_err err = { { 0 } };
	size_t len = encode_valid(3, &built), got = 0;
	pid_t pid;
	int r1, r2;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sv[1]);
		usleep(100 * 1000);
		if (write(sv[0], frame, 7) != 7)
			_exit(1);
		usleep(100 * 1000);
		_exit(write(sv[0], frame + 7, len - 7) == (ssize_t)(len - 7) ? 0 : 1);
	}
	close_end(0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
	alarms = 0;
	ck_assert_int_eq(setitimer(ITIMER_REAL, &tick, NULL), 0);
	r1 = lk_frame_read(sv[1], in, sizeof(in), &got, -1, &err);
	r2 = lk_frame_read(sv[1], in, sizeof(in), &got, 100, &err);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	ck_assert_int_eq(r1, LK_OK);
	ck_assert_uint_eq(got, len - 4);
	ck_assert(memcmp(in, frame + 4, got) == 0);
	ck_assert_int_eq(r2, LK_EIO); /* the child is gone: EOF */
	ck_assert_int_gt(alarms, 0);
	wait_child(pid);
	lk_msg_wipe(&built);
}
END_TEST

/* ----------------------------------------------------------------- fuzzing */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* Mutates buf (len bytes, capacity cap) in place; returns the new length.
 * Besides blind byte edits, it writes plausible field headers and
 * lengths, which is where a TLV decoder goes wrong. */
static size_t mutate(unsigned char *buf, size_t len, size_t cap)
{
	static const unsigned char interesting[] = { 0,  1,  2,  3,  4,    7,    8,
		                                     16, 17, 31, 32, 0x7f, 0x80, 0xff };
	int ops = 1 + (int)(rng() % 4);

	for (int k = 0; k < ops; k++) {
		size_t at = len > 0 ? (size_t)(rng() % len) : 0;
		switch (rng() % 8) {
		case 0: /* flip a bit */
			if (len > 0)
				buf[at] ^= (unsigned char)(1u << (rng() % 8));
			break;
		case 1: /* an interesting byte */
			if (len > 0)
				buf[at] = interesting[rng() % sizeof(interesting)];
			break;
		case 2: { /* delete a run */
			size_t n = 1 + (size_t)(rng() % 8);
			if (n > len - at)
				n = len - at;
			memmove(buf + at, buf + at + n, len - at - n);
			len -= n;
			break;
		}
		case 3: { /* insert random bytes */
			size_t n = 1 + (size_t)(rng() % 4);
			if (len + n > cap)
				break;
			memmove(buf + at + n, buf + at, len - at);
			for (size_t i = 0; i < n; i++)
				buf[at + i] = (unsigned char)rng();
			len += n;
			break;
		}
		case 4: { /* insert a whole field: a known tag, a short value */
			unsigned char f[4 + 8];
			size_t n = (size_t)(rng() % 9);
			if (len + 4 + n > cap)
				break;
			put16(f, (unsigned)(rng() % 18));
			put16(f + 2, (unsigned)n);
			for (size_t i = 0; i < n; i++)
				f[4 + i] = (unsigned char)('a' + rng() % 26);
			memmove(buf + at + 4 + n, buf + at, len - at);
			memcpy(buf + at, f, 4 + n);
			len += 4 + n;
			break;
		}
		case 5: { /* duplicate a chunk (repeats a field, often) */
			size_t n = 1 + (size_t)(rng() % 48);
			if (n > len - at)
				n = len - at;
			if (len + n > cap)
				break;
			memmove(buf + at + n, buf + at, len - at);
			len += n;
			break;
		}
		case 6: /* change a 16-bit length or tag */
			if (len >= 2) {
				at = at >= len - 1 ? len - 2 : at;
				put16(buf + at, (unsigned)(rng() % 4) == 0
				                    ? (unsigned)(rng() & 0xffff)
				                    : (unsigned)(rng() % 40));
			}
			break;
		default: /* truncate */
			len = at;
			break;
		}
	}
	return len;
}

START_TEST(test_fuzz_target_short_run)
{
	enum { ROUNDS = 4000, CAP = LK_FRAME_MAX + 64 };
	static unsigned char seeds[N_VALID + N_BAD][8192], buf[CAP];
	static size_t seed_len[N_VALID + N_BAD];
	int n = 0, accepted = 0;
	struct lk_err err = { { 0 } };

	for (int i = 0; i < N_VALID; i++) {
		size_t len = encode_valid(i, &built) - 4;
		ck_assert_int_eq(LLVMFuzzerTestOneInput(frame + 4, len), 0);
		/* The big AUTH is fuzzed whole above; mutations start from
		 * its first 8 KB, which keep most of its kinds of field. */
		seed_len[n] = len < sizeof(seeds[0]) ? len : sizeof(seeds[0]);
		memcpy(seeds[n], frame + 4, seed_len[n]);
		n++;
	}
	for (int i = 0; i < N_BAD; i++) {
		size_t len = build_bad(&bad[i], frame, sizeof(frame));
		ck_assert_int_eq(LLVMFuzzerTestOneInput(frame, len), 0);
		seed_len[n] = len < sizeof(seeds[0]) ? len : sizeof(seeds[0]);
		memcpy(seeds[n], frame, seed_len[n]);
		n++;
	}
	ck_assert_int_eq(LLVMFuzzerTestOneInput(NULL, 0), 0);
	lk_msg_wipe(&built);

	rng_state = UINT64_C(0x9e3779b97f4a7c15);
	for (int round = 0; round < ROUNDS; round++) {
		/* Half from valid messages, so mutations reach deep. */
		int i = round % 2 == 0 ? (int)(rng() % N_VALID) : (int)(rng() % (uint64_t)n);
		size_t len = seed_len[i];
		memcpy(buf, seeds[i], len);
		len = mutate(buf, len, CAP);
		ck_assert_int_eq(LLVMFuzzerTestOneInput(buf, len), 0);
		if (lk_msg_decode(buf, len, &decoded, &err) == LK_OK)
			accepted++;
	}
	lk_msg_wipe(&decoded);
	/* Some mutants must decode, or the round-trip check never ran. */
	ck_assert_int_gt(accepted, ROUNDS / 100);
}
END_TEST

Suite *protocol_suite(void);

Suite *protocol_suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc;

	tc = tcase_create("codec");
	tcase_add_loop_test(tc, test_round_trip, 0, N_VALID);
	tcase_add_test(tc, test_wire_layout);
	tcase_add_test(tc, test_largest_frame_fits);
	tcase_add_test(tc, test_wipe);
	tcase_add_test(tc, test_client_cert_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_loop_test(tc, test_bad_payload, 0, N_BAD);
	tcase_add_test(tc, test_bad_payload_bases_are_valid);
	tcase_add_loop_test(tc, test_encode_refuses, 0, N_REFUSALS);
	tcase_add_test(tc, test_encode_buffer_too_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("frames");
	tcase_add_checked_fixture(tc, pair_setup, pair_teardown);
	tcase_add_test(tc, test_frame_round_trip);
	tcase_add_test(tc, test_frame_split_into_bytes);
	tcase_add_test(tc, test_frame_partial_writes);
	tcase_add_loop_test(tc, test_frame_bad_length_not_read, 0,
	                    (int)(sizeof(bad_lengths) / sizeof(bad_lengths[0])));
	tcase_add_test(tc, test_frame_length_bounds);
	tcase_add_test(tc, test_frame_eof);
	tcase_add_test(tc, test_frame_timeout);
	tcase_add_test(tc, test_frame_write_timeout);
	tcase_add_test(tc, test_frame_write_closed_peer);
	tcase_add_test(tc, test_frame_write_refuses_non_frames);
	tcase_add_test(tc, test_frame_over_a_pipe);
	tcase_add_test(tc, test_frame_eintr);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fuzz_target_short_run);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(protocol_suite());
}
