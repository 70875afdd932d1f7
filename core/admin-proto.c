/* SPDX-License-Identifier: Apache-2.0 */
/* The admin socket's codec (admin-proto-private.h): bounds first, then
 * copies; nothing is trusted that was not checked. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "admin-proto-private.h"

#define PREFIX_LEN 4
#define HEADER_LEN 2

struct writer {
	unsigned char *buf;
	size_t cap, len;
	bool overflow;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_u8(struct writer *w, unsigned v)
{
	unsigned char b = (unsigned char)v;

	put(w, &b, 1);
}

static void put_u16(struct writer *w, size_t v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(w, b, 2);
}

static void put_u64(struct writer *w, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	put(w, b, 8);
}

static void begin(struct writer *w, unsigned char *buf, size_t cap, unsigned type)
{
	*w = (struct writer){ .buf = buf, .cap = cap };
	put(w, "\0\0\0\0", PREFIX_LEN);
	put_u8(w, LK_ADMIN_VERSION);
	put_u8(w, type);
}

/* Fills in the length prefix; refuses a frame over LK_FRAME_MAX. */
static int finish(struct writer *w, size_t *ret_len, struct lk_err *err)
{
	size_t payload = w->len - PREFIX_LEN;

	if (w->overflow || payload > LK_FRAME_MAX) {
		sodium_memzero(w->buf, w->len);
		return lk_err_set(err, LK_EINVAL, "the message does not fit in a frame of %d bytes",
		                  LK_FRAME_MAX);
	}
	w->buf[0] = (unsigned char)(payload >> 24);
	w->buf[1] = (unsigned char)(payload >> 16);
	w->buf[2] = (unsigned char)(payload >> 8);
	w->buf[3] = (unsigned char)payload;
	*ret_len = w->len;
	return LK_OK;
}

int lk_admin_request_encode(unsigned flags, int argc, char *const *argv, const unsigned char *in,
                            size_t in_len, unsigned char *buf, size_t cap, size_t *ret_len,
                            struct lk_err *err)
{
	struct writer w;

	if ((flags & ~(unsigned)(LK_ADMIN_JSON | LK_ADMIN_FILES)) != 0)
		return lk_err_set(err, LK_EINVAL, "unknown request flags 0x%02x", flags);
	if (argc < 1 || argc > LK_ADMIN_ARGC_MAX)
		return lk_err_set(err, LK_EINVAL, "%d arguments, expected 1 to %d", argc,
		                  LK_ADMIN_ARGC_MAX);
	if (in != NULL && in_len > LK_ADMIN_STDIN_MAX)
		return lk_err_set(err, LK_EINVAL, "standard input over %d bytes",
		                  LK_ADMIN_STDIN_MAX);
	begin(&w, buf, cap, LK_ADMIN_REQUEST);
	put_u8(&w, flags | (in != NULL ? LK_ADMIN_STDIN : 0));
	put_u8(&w, (unsigned)argc);
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (n > LK_ADMIN_ARG_MAX) {
			sodium_memzero(buf, w.len);
			return lk_err_set(err, LK_EINVAL, "argument %d is over %d bytes", i + 1,
			                  LK_ADMIN_ARG_MAX);
		}
		put_u16(&w, n);
		put(&w, argv[i], n);
	}
	if (in != NULL) {
		put_u16(&w, in_len);
		put(&w, in, in_len);
	}
	return finish(&w, ret_len, err);
}

struct reader {
	const unsigned char *p;
	size_t len, off;
};

static bool get(struct reader *r, size_t n, const unsigned char **ret)
{
	if (n > r->len - r->off)
		return false;
	*ret = r->p + r->off;
	r->off += n;
	return true;
}

static bool get_u8(struct reader *r, unsigned *ret)
{
	const unsigned char *b;

	if (!get(r, 1, &b))
		return false;
	*ret = b[0];
	return true;
}

static bool get_u16(struct reader *r, size_t *ret)
{
	const unsigned char *b;

	if (!get(r, 2, &b))
		return false;
	*ret = (size_t)b[0] << 8 | b[1];
	return true;
}

/* Version and type; the type must be the one wanted (0: any but REQUEST). */
static int header(struct reader *r, unsigned want, unsigned *ret_type, struct lk_err *err)
{
	unsigned version = 0, type = 0;

	if (r->len > LK_FRAME_MAX)
		return lk_err_set(err, LK_EINVAL, "payload of %zu bytes, at most %d", r->len,
		                  LK_FRAME_MAX);
	if (!get_u8(r, &version) || !get_u8(r, &type))
		return lk_err_set(err, LK_EINVAL, "payload of %zu bytes has no header", r->len);
	if (version != LK_ADMIN_VERSION)
		return lk_err_set(err, LK_EINVAL, "admin protocol version %u, expected %d", version,
		                  LK_ADMIN_VERSION);
	if (type < LK_ADMIN_REQUEST || type > LK_ADMIN_FILE_END)
		return lk_err_set(err, LK_EINVAL, "unknown message type %u", type);
	if (want != 0 ? type != want : type == LK_ADMIN_REQUEST)
		return lk_err_set(err, LK_EINVAL, "unexpected message type %u", type);
	*ret_type = type;
	return LK_OK;
}

int lk_admin_request_decode(const unsigned char *payload, size_t len,
                            struct lk_admin_request *ret_req, struct lk_err *err)
{
	struct reader rd = { .p = payload, .len = len };
	struct lk_admin_request q = { 0 };
	size_t lens[LK_ADMIN_ARGC_MAX], in_len = 0, body, pos = 0;
	const unsigned char *args, *b, *in = NULL;
	unsigned type, flags, argc;
	int r;

	if ((r = header(&rd, LK_ADMIN_REQUEST, &type, err)) < 0)
		return r;
	if (!get_u8(&rd, &flags) || !get_u8(&rd, &argc))
		return lk_err_set(err, LK_EINVAL, "REQUEST: truncated header");
	if ((flags & ~(unsigned)(LK_ADMIN_JSON | LK_ADMIN_STDIN | LK_ADMIN_FILES)) != 0)
		return lk_err_set(err, LK_EINVAL, "REQUEST: unknown flags 0x%02x", flags);
	if (argc < 1 || argc > LK_ADMIN_ARGC_MAX)
		return lk_err_set(err, LK_EINVAL, "REQUEST: %u arguments, expected 1 to %d", argc,
		                  LK_ADMIN_ARGC_MAX);
	/* First pass: every length in bounds and no NUL inside an argument. */
	args = payload + rd.off;
	for (unsigned i = 0; i < argc; i++) {
		if (!get_u16(&rd, &lens[i]) || !get(&rd, lens[i], &b))
			return lk_err_set(err, LK_EINVAL, "REQUEST: argument %u is truncated",
			                  i + 1);
		if (lens[i] > LK_ADMIN_ARG_MAX || memchr(b, '\0', lens[i]) != NULL)
			return lk_err_set(err, LK_EINVAL,
			                  "REQUEST: argument %u is over %d bytes or holds a NUL",
			                  i + 1, LK_ADMIN_ARG_MAX);
	}
	if (flags & LK_ADMIN_STDIN) {
		if (!get_u16(&rd, &in_len) || !get(&rd, in_len, &in))
			return lk_err_set(err, LK_EINVAL, "REQUEST: standard input is truncated");
		if (in_len > LK_ADMIN_STDIN_MAX)
			return lk_err_set(err, LK_EINVAL, "REQUEST: standard input over %d bytes",
			                  LK_ADMIN_STDIN_MAX);
	}
	if (rd.off != rd.len)
		return lk_err_set(err, LK_EINVAL, "REQUEST: %zu trailing bytes", rd.len - rd.off);

	/* Second pass: copy into one arena, each argument NUL-terminated. */
	body = (size_t)argc * 1 + in_len + 1;
	for (unsigned i = 0; i < argc; i++)
		body += lens[i];
	q.arena = malloc(body);
	if (q.arena == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	q.arena_len = body;
	rd = (struct reader){ .p = args, .len = (size_t)(payload + len - args) };
	for (unsigned i = 0; i < argc; i++) {
		(void)get_u16(&rd, &lens[i]);
		(void)get(&rd, lens[i], &b);
		q.argv[i] = (char *)q.arena + pos;
		memcpy(q.arena + pos, b, lens[i]);
		q.arena[pos + lens[i]] = '\0';
		pos += lens[i] + 1;
	}
	q.argv[argc] = NULL;
	q.argc = (int)argc;
	q.json = (flags & LK_ADMIN_JSON) != 0;
	q.has_in = (flags & LK_ADMIN_STDIN) != 0;
	q.files = (flags & LK_ADMIN_FILES) != 0;
	q.in = q.arena + pos;
	q.in_len = in_len;
	if (in_len > 0)
		memcpy(q.in, in, in_len);
	*ret_req = q;
	return LK_OK;
}

void lk_admin_request_free(struct lk_admin_request *req)
{
	if (req == NULL)
		return;
	if (req->arena != NULL)
		sodium_memzero(req->arena, req->arena_len);
	free(req->arena);
	sodium_memzero(req, sizeof(*req));
}

int lk_admin_encode(const struct lk_admin_msg *m, unsigned char *buf, size_t cap, size_t *ret_len,
                    struct lk_err *err)
{
	struct writer w;
	size_t n;

	begin(&w, buf, cap, m->type);
	switch (m->type) {
	case LK_ADMIN_OUT:
	case LK_ADMIN_ERR:
	case LK_ADMIN_DATA:
		if (m->len < 1 || m->len > LK_ADMIN_CHUNK_MAX)
			return lk_err_set(err, LK_EINVAL, "a chunk of %zu bytes, expected 1 to %d",
			                  m->len, LK_ADMIN_CHUNK_MAX);
		put(&w, m->data, m->len);
		break;
	case LK_ADMIN_END:
		put_u8(&w, m->exit_status);
		put_u8(&w, m->ack ? 1 : 0);
		break;
	case LK_ADMIN_ACK:
		put_u8(&w, m->ack ? 1 : 0);
		break;
	case LK_ADMIN_ERROR:
		n = strnlen(m->error, sizeof(m->error));
		if (n < 1 || n > LK_ADMIN_ERROR_MAX)
			return lk_err_set(err, LK_EINVAL, "an error text of %zu bytes", n);
		put(&w, m->error, n);
		break;
	case LK_ADMIN_FILE:
		n = strnlen(m->name, sizeof(m->name));
		if (!lk_admin_name_ok(m->name, n))
			return lk_err_set(err, LK_EINVAL, "bad file name '%.*s'", LK_ADMIN_NAME_MAX,
			                  m->name);
		put_u8(&w, (unsigned)n);
		put(&w, m->name, n);
		break;
	case LK_ADMIN_FILE_END:
		put_u64(&w, m->size);
		break;
	default:
		return lk_err_set(err, LK_EINVAL, "cannot encode message type %u",
		                  (unsigned)m->type);
	}
	return finish(&w, ret_len, err);
}

bool lk_admin_name_ok(const char *name, size_t len)
{
	if (len < 1 || len > LK_ADMIN_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool get_u64(struct reader *r, uint64_t *ret)
{
	const unsigned char *b;
	uint64_t v = 0;

	if (!get(r, 8, &b))
		return false;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	*ret = v;
	return true;
}

static bool bool_byte(struct reader *r, bool *ret)
{
	unsigned v;

	if (!get_u8(r, &v) || v > 1)
		return false;
	*ret = v == 1;
	return true;
}

int lk_admin_decode(const unsigned char *payload, size_t len, struct lk_admin_msg *ret_msg,
                    struct lk_err *err)
{
	struct reader rd = { .p = payload, .len = len };
	struct lk_admin_msg m = { 0 };
	unsigned type, status;
	const unsigned char *b;
	size_t n;
	int r;

	if ((r = header(&rd, 0, &type, err)) < 0)
		return r;
	m.type = (enum lk_admin_type)type;
	switch (m.type) {
	case LK_ADMIN_OUT:
	case LK_ADMIN_ERR:
	case LK_ADMIN_DATA:
		m.len = len - rd.off;
		if (m.len < 1)
			return lk_err_set(err, LK_EINVAL, "an empty output chunk");
		(void)get(&rd, m.len, &m.data);
		break;
	case LK_ADMIN_END:
		if (!get_u8(&rd, &status) || !bool_byte(&rd, &m.ack))
			return lk_err_set(err, LK_EINVAL, "END: bad or truncated fields");
		m.exit_status = (uint8_t)status;
		break;
	case LK_ADMIN_ACK:
		if (!bool_byte(&rd, &m.ack))
			return lk_err_set(err, LK_EINVAL, "ACK: bad or truncated field");
		break;
	case LK_ADMIN_ERROR:
		m.len = len - rd.off;
		if (m.len < 1 || m.len > LK_ADMIN_ERROR_MAX || !get(&rd, m.len, &b))
			return lk_err_set(err, LK_EINVAL, "ERROR: a text of %zu bytes", m.len);
		for (size_t i = 0; i < m.len; i++)
			if (b[i] < 0x20 || b[i] == 0x7f)
				return lk_err_set(err, LK_EINVAL, "ERROR: a control character");
		memcpy(m.error, b, m.len);
		m.len = 0;
		break;
	case LK_ADMIN_FILE:
		/* The name becomes a path component in the client: only a
		 * plain name from the safe set, checked here once for all. */
		if (!get_u8(&rd, &status) || !get(&rd, status, &b) ||
		    !lk_admin_name_ok((const char *)b, status))
			return lk_err_set(err, LK_EINVAL, "FILE: a bad or truncated file name");
		n = status;
		memcpy(m.name, b, n);
		m.name[n] = '\0';
		break;
	case LK_ADMIN_FILE_END:
		if (!get_u64(&rd, &m.size))
			return lk_err_set(err, LK_EINVAL, "FILE_END: truncated size");
		break;
	default:
		return lk_err_set(err, LK_EINVAL, "unexpected message type %u", type);
	}
	if (rd.off != rd.len)
		return lk_err_set(err, LK_EINVAL, "type %u: %zu trailing bytes", type,
		                  rd.len - rd.off);
	*ret_msg = m;
	return LK_OK;
}
