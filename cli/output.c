/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli-private.h"
#include "util-private.h"

int cli_exit_for(int rc)
{
	switch (rc) {
	case LK_OK:
		return EXIT_OK;
	case CLI_EDENIED:
		return EXIT_DENIED;
	case LK_EINVAL:
		return EXIT_USAGE;
	case LK_ENOTFOUND:
	case LK_ESTATE:
	case LK_EEXIST:
		return EXIT_CONFLICT;
	default:
		return EXIT_SYSTEM;
	}
}

static int fail_msg(struct cli *c, int rc, char *msg)
{
	lk_redact_keys(msg);
	/* No streams: latchkeyd revoking keys for a client that is gone. */
	if (c->err != NULL)
		fprintf(c->err, "latchkey: %s\n", msg);
	if (c->json && c->out != NULL) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "error", msg);
		json_int(&j, "exit", cli_exit_for(rc));
		json_close(&j, '{');
	}
	return cli_exit_for(rc);
}

int cli_fail(struct cli *c, int rc, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail_msg(c, rc, msg);
}

int cli_fail_err(struct cli *c, int rc, const struct lk_err *err)
{
	char msg[sizeof(err->msg)];

	snprintf(msg, sizeof(msg), "%s", err->msg[0] ? err->msg : "unknown error");
	return fail_msg(c, rc, msg);
}

void cli_unbuffer_stdout(struct cli *c)
{
	if (c->out == stdout)
		setvbuf(stdout, NULL, _IONBF, 0);
}

static void comma(struct json *j)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
}

void json_open(struct json *j, FILE *f, char bracket)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	fputc(bracket, f);
}

void json_close(struct json *j, char bracket)
{
	fputc(bracket == '{' ? '}' : ']', j->f);
	if (j->depth > 0)
		j->depth--;
	else
		fputc('\n', j->f);
}

void json_value_open(struct json *j, const char *key, char bracket)
{
	json_key(j, key);
	fputc(bracket, j->f);
	if (j->depth + 1 < (int)(sizeof(j->need_comma) / sizeof(j->need_comma[0])))
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void json_key(struct json *j, const char *key)
{
	comma(j);
	if (key != NULL) {
		write_string(j->f, key);
		fputc(':', j->f);
	}
}

void json_str(struct json *j, const char *key, const char *value)
{
	json_key(j, key);
	if (value == NULL)
		fputs("null", j->f);
	else
		write_string(j->f, value);
}

void json_int(struct json *j, const char *key, int64_t value)
{
	json_key(j, key);
	fprintf(j->f, "%lld", (long long)value);
}

void json_bool(struct json *j, const char *key, bool value)
{
	json_key(j, key);
	fputs(value ? "true" : "false", j->f);
}

void json_time(struct json *j, const char *key, int64_t t)
{
	char buf[40];

	if (t == 0) {
		json_str(j, key, NULL);
		return;
	}
	lk_time_format(t, buf, sizeof(buf));
	json_str(j, key, buf);
}

void json_words(struct json *j, const char *key, const char *space_joined)
{
	char buf[4096], *p, *save = NULL;

	json_value_open(j, key, '[');
	snprintf(buf, sizeof(buf), "%s", space_joined);
	for (p = strtok_r(buf, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save))
		json_str(j, NULL, p);
	json_close(j, '[');
}

/* One line from the request's stdin, as read(2) below would give it. */
static void read_buffered(struct cli *c, char *buf, size_t buflen, size_t *len)
{
	while (c->in_off < c->in_len) {
		char ch = (char)c->in[c->in_off++];
		if (ch == '\n')
			break;
		if (*len < buflen - 1)
			buf[*len] = ch;
		if (++*len >= buflen)
			break;
	}
}

/* Reads one line (the key) from stdin without echo if it is a terminal. The
 * key never travels in argv, where ps and shell history would show it. */
int cli_read_secret(struct cli *c, const char *prompt, char *buf, size_t buflen, size_t *ret_len)
{
	struct termios old, quiet;
	bool tty = !c->in_daemon && isatty(STDIN_FILENO) == 1;
	size_t len = 0;
	ssize_t n = 0;
	char ch;

	if (c->in_daemon)
		read_buffered(c, buf, buflen, &len);
	if (tty) {
		fputs(prompt, c->err);
		fflush(c->err);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	/* Byte at a time: stdio would leave copies of the key in its buffer. */
	while (!c->in_daemon &&
	       ((n = read(STDIN_FILENO, &ch, 1)) == 1 || (n < 0 && errno == EINTR))) {
		if (n < 0)
			continue;
		if (ch == '\n')
			break;
		if (len < buflen - 1)
			buf[len] = ch;
		/* No key is this long: stop reading, the result is malformed. */
		if (++len >= buflen)
			break;
	}
	sodium_memzero(&ch, sizeof(ch));
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', c->err);
	}
	if (n < 0)
		return LK_EIO;
	if (len > 0 && len < buflen && buf[len - 1] == '\r')
		len--;
	*ret_len = len < buflen ? len : buflen; /* over-long input stays malformed */
	return LK_OK;
}
