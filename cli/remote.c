/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the admin socket (core/admin-proto-private.h): the
 * verb's words go to latchkeyd, which runs them as this uid with its role;
 * its stdout and stderr come back and are written here, and the exit
 * status becomes ours. A new key in the output stays valid only if this
 * process says (ACK) that its stdout took every byte.
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin-proto-private.h"
#include "cli-private.h"

/* How long a verb may take in latchkeyd (audit verify over a large log,
 * due --rotate over many keys) before we give up on it. */
#define REPLY_TIMEOUT_MS (10 * 60 * 1000)

/* write(2) to the end: stdio would keep a copy of a new key in its buffer. */
static bool write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* The socket must be latchkeyd's: its peer runs as the socket's owner (a
 * socket someone else left there would be handed the key read from stdin,
 * and could hand back a key of its own). */
static int connect_daemon(struct cli *c, const char *path, int *ret_fd)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct stat st;
	int fd;

	fd = cli_connect(path);
	if (fd < 0)
		return cli_fail(c, LK_EIO,
		                "latchkeyd is not answering on %s (start it, or use --offline as "
		                "the database's owner)",
		                path);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cl != sizeof(cred) ||
	    lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || cred.uid != st.st_uid) {
		close(fd);
		return cli_fail(c, LK_EIO,
		                "%s is not latchkeyd's socket (its peer is not its owner)", path);
	}
	*ret_fd = fd;
	return EXIT_OK;
}

/* The verb's stdin, read here (with the prompt on a terminal) before the
 * request goes out: latchkeyd does not wait for a person to type. */
static int read_stdin(struct cli *c, const struct cli_verb *verb, unsigned char *in,
                      size_t *ret_len)
{
	size_t len = 0;

	if (cli_read_secret(c, verb->prompt != NULL ? verb->prompt : "Secret: ", (char *)in,
	                    LK_ADMIN_STDIN_MAX, &len) < 0)
		return cli_fail(c, LK_EIO, "cannot read standard input for '%s'", verb->name);
	*ret_len = len;
	return EXIT_OK;
}

static int send_frame(struct cli *c, int fd, const struct lk_admin_msg *m, unsigned char *buf)
{
	struct lk_err err = { { 0 } };
	size_t len;
	int r;

	r = lk_admin_encode(m, buf, LK_ADMIN_FRAME_BUF, &len, &err);
	if (r == LK_OK)
		r = lk_frame_write(fd, buf, len, REPLY_TIMEOUT_MS, &err);
	if (r < 0)
		return cli_fail(c, LK_EIO, "cannot answer latchkeyd: %s", err.msg);
	return EXIT_OK;
}

/* Reads the reply: output chunks, then END (and after an ACK, the final
 * chunks and END). The exit status. */
static int relay(struct cli *c, int fd, const char *path, unsigned char *buf)
{
	struct lk_err err = { { 0 } };
	bool out_failed = false, acked = false;
	struct lk_admin_msg m;
	size_t len;
	int status;

	for (;;) {
		int r = lk_frame_read(fd, buf, LK_ADMIN_FRAME_BUF, &len, REPLY_TIMEOUT_MS, &err);
		if (r == LK_OK)
			r = lk_admin_decode(buf, len, &m, &err);
		if (r < 0)
			return cli_fail(c, LK_EIO, "bad or no reply from latchkeyd on %s: %s", path,
			                err.msg);
		switch (m.type) {
		case LK_ADMIN_OUT:
			if (!out_failed && !write_all(STDOUT_FILENO, m.data, m.len))
				out_failed = true;
			break;
		case LK_ADMIN_ERR:
			(void)write_all(STDERR_FILENO, m.data, m.len);
			break;
		case LK_ADMIN_ERROR:
			return cli_fail(c, LK_EIO, "latchkeyd could not run the request: %s",
			                m.error);
		case LK_ADMIN_END:
			if (m.ack && !acked) {
				/* Only now is it known whether the new key reached
				 * whoever reads our stdout. */
				acked = true;
				m = (struct lk_admin_msg){ .type = LK_ADMIN_ACK,
					                   .ack = !out_failed };
				if ((status = send_frame(c, fd, &m, buf)) != EXIT_OK)
					return status;
				break;
			}
			if (m.ack)
				return cli_fail(c, LK_EIO,
				                "bad reply from latchkeyd: a second END "
				                "asking for an ACK");
			status = m.exit_status;
			if (out_failed && status == EXIT_OK)
				return cli_fail(c, LK_EIO, "cannot write to standard output");
			return status;
		default:
			return cli_fail(c, LK_EIO, "bad reply from latchkeyd: message type %u",
			                (unsigned)m.type);
		}
		sodium_memzero(buf, len); /* may have held a new key */
	}
}

int cli_remote(struct cli *c, int argc, char **argv)
{
	const struct cli_verb *verb = cli_verb_find(argc, argv);
	struct lk_err err = { { 0 } };
	unsigned char *buf = NULL, *in = NULL;
	size_t in_len = 0, len;
	int status, r, fd = -1;

	r = lk_config_load(c->config_path, &c->cfg, &err);
	if (r < 0)
		return cli_fail_err(c, LK_EIO, &err);
	if (c->cfg->admin_socket == NULL)
		return cli_fail(
		    c, LK_EIO,
		    "%s sets no admin_socket, so latchkeyd cannot be asked (set one, or "
		    "use --offline as the database's owner)",
		    c->cfg->path);
	buf = sodium_malloc(LK_ADMIN_FRAME_BUF);
	in = sodium_malloc(LK_ADMIN_STDIN_MAX);
	if (buf == NULL || in == NULL) {
		status = cli_fail(c, LK_ENOMEM, "out of memory");
		goto out;
	}
	memset(in, 0, LK_ADMIN_STDIN_MAX);
	if (cli_verb_reads_stdin(verb) && (status = read_stdin(c, verb, in, &in_len)) != EXIT_OK)
		goto out;
	r = lk_admin_request_encode(c->json, argc, argv, cli_verb_reads_stdin(verb) ? in : NULL,
	                            in_len, buf, LK_ADMIN_FRAME_BUF, &len, &err);
	sodium_memzero(in, LK_ADMIN_STDIN_MAX);
	if (r < 0) {
		status = cli_fail_err(c, LK_EINVAL, &err);
		goto out;
	}
	if ((status = connect_daemon(c, c->cfg->admin_socket, &fd)) != EXIT_OK)
		goto out;
	r = lk_frame_write(fd, buf, len, REPLY_TIMEOUT_MS, &err);
	sodium_memzero(buf, len);
	if (r < 0) {
		status = cli_fail(c, LK_EIO, "cannot send the request to latchkeyd on %s: %s",
		                  c->cfg->admin_socket, err.msg);
		goto out;
	}
	status = relay(c, fd, c->cfg->admin_socket, buf);
out:
	if (fd >= 0)
		close(fd);
	sodium_free(in); /* sodium_free wipes */
	sodium_free(buf);
	return status;
}
