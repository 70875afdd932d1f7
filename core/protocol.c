/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon protocol codec (protocol-private.h has the wire format).
 *
 * One table says what each tag holds and one what each message type allows
 * and requires. The decoder checks payloads against them; the encoder lays
 * out the fields a struct lk_msg has set and then runs the very same checks
 * over its own output, so we never send anything the other side would
 * refuse, and the two cannot drift apart.
 *
 * Messages name the type, tag and offset of what was wrong and never a
 * field's contents: input values are secrets, and a user field may well
 * hold a password typed at the wrong prompt.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "policy-private.h"
#include "protocol-private.h"
#include "scopes-private.h"
#include "util-private.h"

#define HEADER_LEN       2 /* version, type */
#define FIELD_HEADER_LEN 4 /* tag, length */
#define PREFIX_LEN       4 /* the frame's length */
#define TAG_LAST         LK_TAG_CLIENT_CERT
#define TYPE_LAST        LK_MSG_SESSION
#define BIT(tag)         (UINT32_C(1) << (tag))

enum kind { KIND_U8, KIND_U32, KIND_U64, KIND_TEXT, KIND_BYTES };

struct tag_spec {
	const char *name;
	enum kind kind;
	uint16_t min, max; /* bytes, for text and bytes */
};

static const struct tag_spec tags[TAG_LAST + 1] = {
	[LK_TAG_MIN_VERSION] = { "min_version", KIND_U8, 1, 1 },
	[LK_TAG_MAX_VERSION] = { "max_version", KIND_U8, 1, 1 },
	[LK_TAG_VERSION] = { "version", KIND_U8, 1, 1 },
	[LK_TAG_SERVICE] = { "service", KIND_TEXT, 1, LK_SERVICE_NAME_MAX },
	[LK_TAG_USER] = { "user", KIND_TEXT, 1, 256 },
	[LK_TAG_RHOST] = { "rhost", KIND_TEXT, 1, 255 },
	[LK_TAG_SCOPE] = { "scope", KIND_TEXT, 1, LK_SCOPE_LEN_MAX },
	[LK_TAG_INPUT_NAME] = { "input_name", KIND_TEXT, 1, 31 },
	[LK_TAG_INPUT_VALUE] = { "input_value", KIND_BYTES, 0, LK_MSG_INPUT_MAX },
	[LK_TAG_PAM_CODE] = { "pam_code", KIND_U32, 4, 4 },
	[LK_TAG_REASON] = { "reason", KIND_TEXT, 1, 31 },
	[LK_TAG_PRINCIPAL] = { "principal", KIND_TEXT, 1, 128 },
	[LK_TAG_AUDIT_SEQ] = { "audit_seq", KIND_U64, 8, 8 },
	[LK_TAG_PROMPT_TEXT] = { "prompt_text", KIND_TEXT, 0, 127 },
	[LK_TAG_ECHO] = { "echo", KIND_U8, 1, 1 },
	[LK_TAG_ERROR] = { "error", KIND_TEXT, 1, 255 },
	[LK_TAG_CREDENTIAL] = { "credential", KIND_TEXT, 1, 31 },
	[LK_TAG_EVENT] = { "event", KIND_U8, 1, 1 },
	[LK_TAG_CLIENT_CERT] = { "client_cert", KIND_BYTES, 1, LK_MSG_CERT_MAX },
};

struct type_spec {
	const char *name;
	uint32_t allowed, required; /* bit sets of tags */
};

static const struct type_spec types[TYPE_LAST + 1] = {
	/* HELLO's version fields are checked as a whole (one form or the
	 * other), not through "required". */
	[LK_MSG_HELLO] = { "HELLO",
	                   BIT(LK_TAG_MIN_VERSION) | BIT(LK_TAG_MAX_VERSION) | BIT(LK_TAG_VERSION),
	                   0 },
	[LK_MSG_AUTH] = { "AUTH",
	                  BIT(LK_TAG_SERVICE) | BIT(LK_TAG_USER) | BIT(LK_TAG_RHOST) |
	                      BIT(LK_TAG_SCOPE) | BIT(LK_TAG_INPUT_NAME) | BIT(LK_TAG_INPUT_VALUE) |
	                      BIT(LK_TAG_CLIENT_CERT),
	                  BIT(LK_TAG_SERVICE) },
	[LK_MSG_PROMPT] = { "PROMPT",
	                    BIT(LK_TAG_INPUT_NAME) | BIT(LK_TAG_PROMPT_TEXT) | BIT(LK_TAG_ECHO),
	                    BIT(LK_TAG_INPUT_NAME) },
	/* input_value or, for the input "client_cert", client_cert: checked
	 * by parse_field and check_complete. */
	[LK_MSG_ANSWER] = { "ANSWER",
	                    BIT(LK_TAG_INPUT_NAME) | BIT(LK_TAG_INPUT_VALUE) |
	                        BIT(LK_TAG_CLIENT_CERT),
	                    BIT(LK_TAG_INPUT_NAME) },
	[LK_MSG_RESULT] = { "RESULT",
	                    BIT(LK_TAG_PAM_CODE) | BIT(LK_TAG_REASON) | BIT(LK_TAG_PRINCIPAL) |
	                        BIT(LK_TAG_CREDENTIAL) | BIT(LK_TAG_AUDIT_SEQ),
	                    BIT(LK_TAG_PAM_CODE) | BIT(LK_TAG_REASON) | BIT(LK_TAG_AUDIT_SEQ) },
	[LK_MSG_ERROR] = { "ERROR", BIT(LK_TAG_ERROR), BIT(LK_TAG_ERROR) },
	[LK_MSG_ACCOUNT] = { "ACCOUNT",
	                     BIT(LK_TAG_SERVICE) | BIT(LK_TAG_USER) | BIT(LK_TAG_CREDENTIAL),
	                     BIT(LK_TAG_SERVICE) | BIT(LK_TAG_USER) | BIT(LK_TAG_CREDENTIAL) },
	[LK_MSG_SESSION] = { "SESSION",
	                     BIT(LK_TAG_SERVICE) | BIT(LK_TAG_USER) | BIT(LK_TAG_RHOST) |
	                         BIT(LK_TAG_CREDENTIAL) | BIT(LK_TAG_EVENT),
	                     BIT(LK_TAG_SERVICE) | BIT(LK_TAG_USER) | BIT(LK_TAG_EVENT) },
};

static uint16_t get_u16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint64_t get_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = n; i > 0; i--) {
		p[i - 1] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static const char *tag_name(unsigned tag)
{
	return tag >= 1 && tag <= TAG_LAST ? tags[tag].name : "unknown";
}

/* "type 2 (AUTH): tag 4 (service) at offset 6: <what>". */
static int field_error(struct lk_err *err, unsigned type, unsigned tag, size_t off, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static int field_error(struct lk_err *err, unsigned type, unsigned tag, size_t off, const char *fmt,
                       ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return lk_err_set(err, LK_EINVAL, "type %u (%s): tag %u (%s) at offset %zu: %s", type,
	                  types[type].name, tag, tag_name(tag), off, what);
}

static bool input_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n >= 1 && n <= 31;
}

/* Checks one text field's bytes and leaves them, NUL-terminated, in out
 * (at least max + 1 bytes). */
static int check_text(const unsigned char *v, size_t len, unsigned type, unsigned tag, size_t off,
                      char *out, struct lk_err *err)
{
	const struct tag_spec *t = &tags[tag];

	if (len > t->max)
		return field_error(err, type, tag, off, "%zu bytes, at most %u", len, t->max);
	if (len < t->min)
		return field_error(err, type, tag, off, "empty (at least %u byte)", t->min);
	if (memchr(v, '\0', len) != NULL)
		return field_error(err, type, tag, off, "contains a NUL byte");
	memcpy(out, v, len);
	out[len] = '\0';
	if (!lk_text_valid(out, t->max))
		return field_error(err, type, tag, off,
		                   "not well-formed UTF-8, or contains control characters");
	switch (tag) {
	case LK_TAG_SERVICE:
		if (!lk_service_name_valid(out))
			return field_error(err, type, tag, off,
			                   "not a service name ([a-z0-9][a-z0-9._-]{0,%d})",
			                   LK_SERVICE_NAME_MAX - 1);
		break;
	case LK_TAG_SCOPE:
		if (!lk_scope_valid(out))
			return field_error(
			    err, type, tag, off,
			    "not a scope (a letter or digit, then letters, digits and :._/-)");
		break;
	case LK_TAG_INPUT_NAME:
		if (!input_name_valid(out))
			return field_error(err, type, tag, off,
			                   "not an input name ([a-z0-9_-]{1,31})");
		break;
	case LK_TAG_CREDENTIAL:
		if (!lk_token_valid(out, t->max, "_-"))
			return field_error(err, type, tag, off,
			                   "not a credential id ([A-Za-z0-9_-]{1,31})");
		break;
	default:
		break;
	}
	return LK_OK;
}

/* What parse() tracks besides the message itself (which may be NULL when
 * the encoder only wants the checks). */
struct parse_state {
	uint32_t seen;
	bool pending_name; /* an AUTH/ANSWER input_name waiting for its value */
	size_t n_inputs, n_scopes;
	uint8_t min_version, max_version;
	char names[LK_MSG_MAX_INPUTS][32];
	char text[257]; /* the largest text field plus its NUL */
};

static char *text_dest(struct lk_msg *m, unsigned tag, size_t n_scopes, size_t n_inputs)
{
	switch (tag) {
	case LK_TAG_SERVICE:
		return m->service;
	case LK_TAG_USER:
		return m->user;
	case LK_TAG_RHOST:
		return m->rhost;
	case LK_TAG_SCOPE:
		return m->scopes[n_scopes];
	case LK_TAG_INPUT_NAME:
		return m->inputs[n_inputs].name;
	case LK_TAG_REASON:
		return m->reason;
	case LK_TAG_PRINCIPAL:
		return m->principal;
	case LK_TAG_PROMPT_TEXT:
		return m->prompt_text;
	case LK_TAG_CREDENTIAL:
		return m->credential;
	default:
		return m->error;
	}
}

/* Validates one field; stores it into m if m is not NULL. */
static int parse_field(struct parse_state *s, unsigned type, unsigned tag, size_t off,
                       const unsigned char *v, size_t len, struct lk_msg *m, struct lk_err *err)
{
	const struct tag_spec *t = &tags[tag];
	bool repeatable =
	    tag == LK_TAG_SCOPE ||
	    (type == LK_MSG_AUTH && (tag == LK_TAG_INPUT_NAME || tag == LK_TAG_INPUT_VALUE));
	uint64_t num = 0;
	int r;

	if ((s->seen & BIT(tag)) != 0 && !repeatable)
		return field_error(err, type, tag, off, "repeated (a single-valued field)");
	s->seen |= BIT(tag);

	if (t->kind == KIND_U8 || t->kind == KIND_U32 || t->kind == KIND_U64) {
		if (len != t->max)
			return field_error(err, type, tag, off, "%zu bytes, expected exactly %u",
			                   len, t->max);
		num = get_be(v, len);
	} else if (t->kind == KIND_BYTES) {
		if (len < t->min)
			return field_error(err, type, tag, off, "%zu bytes, at least %u", len,
			                   t->min);
		if (len > t->max)
			return field_error(err, type, tag, off, "%zu bytes, at most %u", len,
			                   t->max);
	} else if ((r = check_text(v, len, type, tag, off, s->text, err)) < 0) {
		return r;
	}

	switch (tag) {
	case LK_TAG_MIN_VERSION:
	case LK_TAG_MAX_VERSION:
	case LK_TAG_VERSION:
		if (num == 0)
			return field_error(err, type, tag, off, "version 0 does not exist");
		if (tag == LK_TAG_MIN_VERSION)
			s->min_version = (uint8_t)num;
		if (tag == LK_TAG_MAX_VERSION)
			s->max_version = (uint8_t)num;
		if (m != NULL)
			*(tag == LK_TAG_MIN_VERSION   ? &m->min_version
			  : tag == LK_TAG_MAX_VERSION ? &m->max_version
			                              : &m->version) = (uint8_t)num;
		break;
	case LK_TAG_ECHO:
		if (num > 1)
			return field_error(err, type, tag, off, "must be 0 or 1, not %u",
			                   (unsigned)num);
		if (m != NULL)
			m->echo = (uint8_t)num;
		break;
	case LK_TAG_EVENT:
		if (num != LK_SESSION_OPEN && num != LK_SESSION_CLOSE)
			return field_error(err, type, tag, off,
			                   "must be 1 (open) or 2 (close), not %u", (unsigned)num);
		if (m != NULL)
			m->event = (uint8_t)num;
		break;
	case LK_TAG_PAM_CODE:
		if (m != NULL)
			m->pam_code = (uint32_t)num;
		break;
	case LK_TAG_AUDIT_SEQ:
		if (m != NULL)
			m->audit_seq = num;
		break;
	case LK_TAG_SCOPE:
		if (s->n_scopes == LK_MSG_MAX_SCOPES)
			return field_error(err, type, tag, off, "more than %d scopes",
			                   LK_MSG_MAX_SCOPES);
		if (m != NULL)
			memcpy(text_dest(m, tag, s->n_scopes, 0), s->text, len + 1);
		s->n_scopes++;
		break;
	case LK_TAG_INPUT_NAME:
		if (type == LK_MSG_PROMPT) {
			/* The input the daemon asks for: inputs[0], without value. */
			if (m != NULL)
				memcpy(m->inputs[0].name, s->text, len + 1);
			s->n_inputs = 1;
			break;
		}
		if (s->pending_name)
			return field_error(err, type, tag, off,
			                   "the previous input_name has no input_value");
		if (s->n_inputs == LK_MSG_MAX_INPUTS)
			return field_error(err, type, tag, off, "more than %d inputs",
			                   LK_MSG_MAX_INPUTS);
		for (size_t i = 0; i < s->n_inputs; i++) {
			if (strcmp(s->names[i], s->text) == 0)
				return field_error(err, type, tag, off,
				                   "same name as input %zu (each input once)", i);
		}
		memcpy(s->names[s->n_inputs], s->text, len + 1);
		if (m != NULL)
			memcpy(m->inputs[s->n_inputs].name, s->text, len + 1);
		s->pending_name = true;
		break;
	case LK_TAG_INPUT_VALUE:
		if (!s->pending_name)
			return field_error(err, type, tag, off, "without a preceding input_name");
		if (strcmp(s->names[s->n_inputs], LK_CLIENT_CERT_INPUT) == 0)
			return field_error(err, type, tag, off,
			                   "the input client_cert travels in its own field");
		if (m != NULL) {
			memcpy(m->inputs[s->n_inputs].value, v, len);
			m->inputs[s->n_inputs].len = len;
		}
		s->n_inputs++;
		s->pending_name = false;
		break;
	case LK_TAG_CLIENT_CERT:
		if (type == LK_MSG_ANSWER) {
			/* The answer to a prompt for the chain: after its name. */
			if (!s->pending_name ||
			    strcmp(s->names[s->n_inputs], LK_CLIENT_CERT_INPUT) != 0)
				return field_error(err, type, tag, off,
				                   "answers only the input client_cert");
			s->n_inputs++;
			s->pending_name = false;
		} else if (s->pending_name) {
			return field_error(err, type, tag, off,
			                   "the previous input_name has no input_value");
		}
		if (m != NULL) {
			memcpy(m->client_cert, v, len);
			m->client_cert_len = len;
		}
		break;
	default: /* the single-valued text fields */
		if (m != NULL)
			memcpy(text_dest(m, tag, 0, 0), s->text, len + 1);
		break;
	}
	return LK_OK;
}

/* Checks the message as a whole once every field has been read. */
static int check_complete(const struct parse_state *s, unsigned type, struct lk_err *err)
{
	uint32_t missing = types[type].required & ~s->seen;

	if (s->pending_name)
		return lk_err_set(err, LK_EINVAL,
		                  "type %u (%s): the last input_name has no input_value", type,
		                  types[type].name);
	for (unsigned tag = 1; tag <= TAG_LAST; tag++) {
		if ((missing & BIT(tag)) != 0)
			return lk_err_set(err, LK_EINVAL,
			                  "type %u (%s): required tag %u (%s) is missing", type,
			                  types[type].name, tag, tags[tag].name);
	}
	if (type == LK_MSG_HELLO) {
		bool min = (s->seen & BIT(LK_TAG_MIN_VERSION)) != 0;
		bool max = (s->seen & BIT(LK_TAG_MAX_VERSION)) != 0;
		bool one = (s->seen & BIT(LK_TAG_VERSION)) != 0;

		if (one && (min || max))
			return lk_err_set(err, LK_EINVAL,
			                  "type %u (HELLO): has both version and min_version/"
			                  "max_version (one form or the other)",
			                  type);
		if (!one && !(min && max))
			return lk_err_set(err, LK_EINVAL,
			                  "type %u (HELLO): needs min_version and max_version "
			                  "(client) or version (daemon)",
			                  type);
		if (!one && s->min_version > s->max_version)
			return lk_err_set(err, LK_EINVAL,
			                  "type %u (HELLO): min_version %u is above max_version %u",
			                  type, s->min_version, s->max_version);
	}
	return LK_OK;
}

/* The one set of rules, for decoding (m != NULL) and for checking what the
 * encoder wrote (m == NULL). */
static int parse(const unsigned char *payload, size_t len, struct lk_msg *m, struct lk_err *err)
{
	struct parse_state s;
	unsigned type;
	size_t off;
	int r = LK_EINVAL;

	memset(&s, 0, sizeof(s));
	if (payload == NULL || len < HEADER_LEN)
		return lk_err_set(err, LK_EINVAL, "payload of %zu bytes is shorter than its header",
		                  payload == NULL ? 0 : len);
	if (len > LK_FRAME_MAX)
		return lk_err_set(err, LK_EINVAL, "payload of %zu bytes, at most %d", len,
		                  LK_FRAME_MAX);
	if (payload[0] != LK_PROTO_VERSION)
		return lk_err_set(err, LK_EINVAL, "protocol version byte %u, expected %d",
		                  payload[0], LK_PROTO_VERSION);
	type = payload[1];
	if (type < 1 || type > TYPE_LAST)
		return lk_err_set(err, LK_EINVAL, "unknown message type %u", type);
	if (m != NULL)
		m->type = (uint8_t)type;

	for (off = HEADER_LEN; off < len;) {
		unsigned tag;
		size_t flen;

		if (len - off < FIELD_HEADER_LEN) {
			r = lk_err_set(err, LK_EINVAL,
			               "type %u (%s): trailing %zu byte(s) at offset %zu "
			               "(truncated field header)",
			               type, types[type].name, len - off, off);
			goto out;
		}
		tag = get_u16(payload + off);
		flen = get_u16(payload + off + 2);
		if (tag < 1 || tag > TAG_LAST) {
			r = field_error(err, type, tag, off, "unknown tag");
			goto out;
		}
		if ((types[type].allowed & BIT(tag)) == 0) {
			r = field_error(err, type, tag, off, "not allowed in this message type");
			goto out;
		}
		if (flen > len - off - FIELD_HEADER_LEN) {
			r = field_error(err, type, tag, off,
			                "truncated: says %zu bytes, %zu left in the payload", flen,
			                len - off - FIELD_HEADER_LEN);
			goto out;
		}
		r = parse_field(&s, type, tag, off, payload + off + FIELD_HEADER_LEN, flen, m, err);
		if (r < 0)
			goto out;
		off += FIELD_HEADER_LEN + flen;
	}
	if ((r = check_complete(&s, type, err)) < 0)
		goto out;
	if (m != NULL) {
		m->n_scopes = s.n_scopes;
		m->n_inputs = s.n_inputs;
	}
	r = LK_OK;
out:
	sodium_memzero(&s, sizeof(s));
	return r;
}

int lk_msg_decode(const unsigned char *payload, size_t len, struct lk_msg *ret_msg,
                  struct lk_err *err)
{
	int r;

	if (ret_msg == NULL)
		return lk_err_set(err, LK_EINVAL, "no message to decode into");
	lk_msg_wipe(ret_msg);
	r = parse(payload, len, ret_msg, err);
	if (r < 0)
		lk_msg_wipe(ret_msg);
	return r;
}

/* ----------------------------------------------------------- encoding */

/* An output buffer that keeps counting past its capacity, so an overflow
 * is found once, at the end, with the size it would have needed. */
struct writer {
	unsigned char *buf;
	size_t cap, len;
	bool bad_text; /* a text field without its NUL in the struct */
	unsigned bad_tag;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->len <= w->cap && n <= w->cap - w->len)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_field(struct writer *w, unsigned tag, const void *v, size_t n)
{
	unsigned char h[FIELD_HEADER_LEN];

	/* Longer than a u16 can say: clamped, and then refused by the
	 * checks for being over its bound (or for the bytes that follow). */
	if (n > UINT16_MAX)
		n = UINT16_MAX;
	put_be(h, tag, 2);
	put_be(h + 2, n, 2);
	put(w, h, sizeof(h));
	put(w, v, n);
}

static void put_num(struct writer *w, unsigned tag, uint64_t v, size_t width)
{
	unsigned char b[8];

	put_be(b, v, width);
	put_field(w, tag, b, width);
}

/* A text field from the struct: emitted if non-empty (or always). */
static void put_text(struct writer *w, unsigned tag, const char *s, size_t size, bool always)
{
	size_t n = strnlen(s, size);

	if (n == size && !w->bad_text) {
		w->bad_text = true;
		w->bad_tag = tag;
	}
	if (n > 0 || always)
		put_field(w, tag, s, n);
}

int lk_msg_encode(const struct lk_msg *m, unsigned char *buf, size_t cap, size_t *ret_len,
                  struct lk_err *err)
{
	struct writer w = { buf, cap, 0, false, 0 };
	unsigned char head[PREFIX_LEN + HEADER_LEN] = { 0 };
	unsigned type;
	int r = LK_EINVAL;

	if (m == NULL || buf == NULL || ret_len == NULL)
		return lk_err_set(err, LK_EINVAL, "nothing to encode");
	type = m->type;
	if (type < 1 || type > TYPE_LAST)
		return lk_err_set(err, LK_EINVAL, "cannot encode unknown message type %u", type);
	if (m->n_scopes > LK_MSG_MAX_SCOPES)
		return lk_err_set(err, LK_EINVAL, "type %u (%s): %zu scopes, at most %d", type,
		                  types[type].name, m->n_scopes, LK_MSG_MAX_SCOPES);
	if (m->n_inputs > LK_MSG_MAX_INPUTS)
		return lk_err_set(err, LK_EINVAL, "type %u (%s): %zu inputs, at most %d", type,
		                  types[type].name, m->n_inputs, LK_MSG_MAX_INPUTS);
	if (m->client_cert_len > LK_MSG_CERT_MAX)
		return lk_err_set(err, LK_EINVAL,
		                  "type %u (%s): client_cert of %zu bytes, at most %d", type,
		                  types[type].name, m->client_cert_len, LK_MSG_CERT_MAX);
	for (size_t i = 0; i < m->n_inputs; i++) {
		if (m->inputs[i].len > LK_MSG_INPUT_MAX)
			return lk_err_set(err, LK_EINVAL,
			                  "type %u (%s): input %zu value of %zu bytes, at most %d",
			                  type, types[type].name, i, m->inputs[i].len,
			                  LK_MSG_INPUT_MAX);
	}

	head[PREFIX_LEN] = LK_PROTO_VERSION;
	head[PREFIX_LEN + 1] = (unsigned char)type;
	put(&w, head, sizeof(head));
	/* Whatever the struct has set goes out, in tag order; a field the
	 * type does not allow is then refused by the checks below rather
	 * than silently dropped. Zero numbers are "absent" except where the
	 * type always carries them. */
	if (m->min_version != 0)
		put_num(&w, LK_TAG_MIN_VERSION, m->min_version, 1);
	if (m->max_version != 0)
		put_num(&w, LK_TAG_MAX_VERSION, m->max_version, 1);
	if (m->version != 0)
		put_num(&w, LK_TAG_VERSION, m->version, 1);
	put_text(&w, LK_TAG_SERVICE, m->service, sizeof(m->service), false);
	put_text(&w, LK_TAG_USER, m->user, sizeof(m->user), false);
	put_text(&w, LK_TAG_RHOST, m->rhost, sizeof(m->rhost), false);
	for (size_t i = 0; i < m->n_scopes; i++)
		put_text(&w, LK_TAG_SCOPE, m->scopes[i], sizeof(m->scopes[i]), true);
	for (size_t i = 0; i < m->n_inputs; i++) {
		const struct lk_msg_input *in = &m->inputs[i];
		put_text(&w, LK_TAG_INPUT_NAME, in->name, sizeof(in->name), true);
		if (type == LK_MSG_ANSWER && strcmp(in->name, LK_CLIENT_CERT_INPUT) == 0)
			continue; /* its value is client_cert, written below */
		if (type != LK_MSG_PROMPT || in->len > 0)
			put_field(&w, LK_TAG_INPUT_VALUE, in->value, in->len);
	}
	if (m->pam_code != 0 || type == LK_MSG_RESULT)
		put_num(&w, LK_TAG_PAM_CODE, m->pam_code, 4);
	put_text(&w, LK_TAG_REASON, m->reason, sizeof(m->reason), false);
	put_text(&w, LK_TAG_PRINCIPAL, m->principal, sizeof(m->principal), false);
	if (m->audit_seq != 0 || type == LK_MSG_RESULT)
		put_num(&w, LK_TAG_AUDIT_SEQ, m->audit_seq, 8);
	put_text(&w, LK_TAG_PROMPT_TEXT, m->prompt_text, sizeof(m->prompt_text),
	         type == LK_MSG_PROMPT);
	if (m->echo != 0 || type == LK_MSG_PROMPT)
		put_num(&w, LK_TAG_ECHO, m->echo, 1);
	put_text(&w, LK_TAG_ERROR, m->error, sizeof(m->error), false);
	put_text(&w, LK_TAG_CREDENTIAL, m->credential, sizeof(m->credential), false);
	if (m->event != 0)
		put_num(&w, LK_TAG_EVENT, m->event, 1);
	if (m->client_cert_len > 0)
		put_field(&w, LK_TAG_CLIENT_CERT, m->client_cert, m->client_cert_len);

	if (w.bad_text) {
		r = lk_err_set(err, LK_EINVAL, "type %u (%s): tag %u (%s) is not NUL-terminated",
		               type, types[type].name, w.bad_tag, tags[w.bad_tag].name);
		goto out;
	}
	if (w.len - PREFIX_LEN > LK_FRAME_MAX) {
		r = lk_err_set(err, LK_EINVAL, "type %u (%s): payload of %zu bytes, at most %d",
		               type, types[type].name, w.len - PREFIX_LEN, LK_FRAME_MAX);
		goto out;
	}
	if (w.len > cap) {
		r = lk_err_set(err, LK_EINVAL,
		               "type %u (%s): the frame needs %zu bytes, the buffer has %zu", type,
		               types[type].name, w.len, cap);
		goto out;
	}
	if ((r = parse(buf + PREFIX_LEN, w.len - PREFIX_LEN, NULL, err)) < 0) {
		lk_err_prefix(err, r, "refusing to encode");
		goto out;
	}
	put_be(buf, w.len - PREFIX_LEN, PREFIX_LEN);
	*ret_len = w.len;
	r = LK_OK;
out:
	if (r < 0)
		sodium_memzero(buf, w.len < cap ? w.len : cap);
	return r;
}

void lk_msg_wipe(struct lk_msg *m)
{
	unsigned char *start, *inputs, *end;

	if (m == NULL)
		return;
	/* Input values are the bulk of the struct (32 KiB) and rarely used:
	 * each is wiped up to its length (every writer sets len with the
	 * bytes; a length out of bounds wipes the whole value), everything
	 * else in full. Twice per request on both sides of the socket, this
	 * is most of the cost of a wipe. */
	for (size_t i = 0; i < LK_MSG_MAX_INPUTS; i++) {
		struct lk_msg_input *in = &m->inputs[i];
		sodium_memzero(in->value,
		               in->len <= sizeof(in->value) ? in->len : sizeof(in->value));
		sodium_memzero(in->name, sizeof(in->name));
		in->len = 0;
	}
	sodium_memzero(m->client_cert, m->client_cert_len <= sizeof(m->client_cert)
	                                   ? m->client_cert_len
	                                   : sizeof(m->client_cert));
	m->client_cert_len = 0;
	start = (unsigned char *)m;
	inputs = (unsigned char *)m->inputs;
	end = (unsigned char *)m->client_cert; /* wiped above, up to its length */
	sodium_memzero(start, (size_t)(inputs - start));
	inputs += sizeof(m->inputs);
	sodium_memzero(inputs, (size_t)(end - inputs));
	end += sizeof(m->client_cert); /* the padding and client_cert_len */
	sodium_memzero(end, (size_t)((unsigned char *)(m + 1) - end));
}

/* --------------------------------------------------------- frame I/O */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline (-1: none) passes.
 * A zero timeout still looks once, so data already there is read. */
static int wait_fd(int fd, short events, int64_t deadline, const char *doing, struct lk_err *err)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
		int left = -1, n;

		if (deadline >= 0) {
			int64_t d = deadline - now_ms();
			left = d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
		}
		n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return lk_err_set(err, LK_EIO, "%s: poll: %s", doing, strerror(errno));
		if (n == 0) {
			if (deadline >= 0 && now_ms() < deadline)
				continue; /* woke early (rounding) */
			return lk_err_set(err, LK_EIO, "%s: timed out", doing);
		}
		if ((p.revents & POLLNVAL) != 0)
			return lk_err_set(err, LK_EIO, "%s: not an open file descriptor", doing);
		/* POLLHUP/POLLERR: the read or write reports what happened. */
		return LK_OK;
	}
}

/* Reads exactly n bytes. Returns LK_OK, LK_EIO with err set, or 1 for EOF
 * (with *ret_got saying how far it came), which the caller words. */
static int read_full(int fd, unsigned char *p, size_t n, int64_t deadline, size_t *ret_got,
                     struct lk_err *err)
{
	size_t got = 0;
	int r = LK_EIO;

	while (got < n) {
		ssize_t k;

		if ((r = wait_fd(fd, POLLIN, deadline, "reading a frame", err)) < 0)
			goto out;
		k = read(fd, p + got, n - got);
		if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (k < 0) {
			r = lk_err_set(err, LK_EIO, "reading a frame: %s", strerror(errno));
			goto out;
		}
		if (k == 0) {
			r = 1;
			goto out;
		}
		got += (size_t)k;
	}
	r = LK_OK;
out:
	*ret_got = got;
	return r;
}

int lk_frame_read(int fd, unsigned char *buf, size_t cap, size_t *ret_len, int timeout_ms,
                  struct lk_err *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	unsigned char prefix[PREFIX_LEN];
	size_t len, got = 0;
	int r;

	if (buf == NULL || ret_len == NULL)
		return lk_err_set(err, LK_EINVAL, "no buffer to read a frame into");
	r = read_full(fd, prefix, sizeof(prefix), deadline, &got, err);
	if (r == 1)
		return lk_err_set(err, LK_EIO,
		                  got == 0
		                      ? "the peer closed the connection"
		                      : "the peer closed the connection inside a frame header");
	if (r < 0)
		return r;
	len = (size_t)get_be(prefix, PREFIX_LEN);
	/* Refused before a byte of the payload is read: the connection is
	 * then closed, never resynchronised. */
	if (len < HEADER_LEN || len > LK_FRAME_MAX)
		return lk_err_set(err, LK_EINVAL, "frame length %zu, expected %d to %d", len,
		                  HEADER_LEN, LK_FRAME_MAX);
	if (len > cap)
		return lk_err_set(err, LK_EINVAL, "frame length %zu, the buffer has %zu", len, cap);
	r = read_full(fd, buf, len, deadline, &got, err);
	if (r == 1)
		r = lk_err_set(err, LK_EIO,
		               "the peer closed the connection inside a frame (%zu of %zu bytes)",
		               got, len);
	if (r < 0) {
		sodium_memzero(buf, got); /* part of a frame may be part of a secret */
		return r;
	}
	*ret_len = len;
	return LK_OK;
}

int lk_frame_write(int fd, const unsigned char *frame, size_t len, int timeout_ms,
                   struct lk_err *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	bool use_write = false;
	size_t done = 0;

	if (frame == NULL || len < PREFIX_LEN + HEADER_LEN || len > PREFIX_LEN + LK_FRAME_MAX ||
	    get_be(frame, PREFIX_LEN) != len - PREFIX_LEN)
		return lk_err_set(err, LK_EINVAL, "not a whole frame (%zu bytes)", len);
	while (done < len) {
		ssize_t k;
		int r;

		if ((r = wait_fd(fd, POLLOUT, deadline, "writing a frame", err)) < 0)
			return r;
		/* MSG_NOSIGNAL: a peer that went away is an error to report,
		 * not a SIGPIPE that kills the host service. MSG_DONTWAIT: a
		 * blocking socket must not hold us past the deadline once
		 * its buffer is full. Pipes (tests, tools) take neither and
		 * fall back to write(), which blocks and may raise SIGPIPE. */
		if (use_write)
			k = write(fd, frame + done, len - done);
		else
			k = send(fd, frame + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && errno == ENOTSOCK && !use_write) {
			use_write = true;
			continue;
		}
		if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (k < 0)
			return lk_err_set(err, LK_EIO, "writing a frame: %s", strerror(errno));
		if (k == 0)
			return lk_err_set(err, LK_EIO, "writing a frame: nothing was written");
		done += (size_t)k;
	}
	return LK_OK;
}
