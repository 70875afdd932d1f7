/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the admin socket (core/admin-proto-private.h): the
 * verb's words go to latchkeyd, which runs them as this uid with its role;
 * its stdout and stderr come back and are written here, and the exit
 * status becomes ours. A new key in the output stays valid only if this
 * process says (ACK) that its stdout took every byte. `report` gets its
 * pack as files too, which this process writes, as the caller, into the
 * directory it made for them: latchkeyd never opens a path a client names.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin-proto-private.h"
#include "cli-private.h"
#include "report-private.h"

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

/* A report's pack as it arrives: DIR, made (or found empty) before the
 * request went out, and every file written into it, to remove unless the
 * verb succeeds. */
struct pack_dir {
	const char *path;
	int dirfd;
	bool made;    /* created here: removed too on failure */
	int fd;       /* the file being received, or -1 */
	uint64_t got; /* its bytes so far */
	char names[LK_ADMIN_FILES_MAX][LK_ADMIN_NAME_MAX + 1];
	size_t n;
};

/* DIR as the caller: new (0750), or existing and empty; refused before
 * latchkeyd is asked, so a refusal adds no checkpoint. */
static int pack_dir_open(struct cli *c, const char *path, struct pack_dir *pd)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	*pd = (struct pack_dir){ .path = path, .dirfd = -1, .fd = -1 };
	if (mkdir(path, 0750) == 0)
		pd->made = true;
	else if (errno != EEXIST)
		return cli_fail(c, LK_EIO, "cannot create %s: %s", path, strerror(errno));
	pd->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pd->dirfd < 0) {
		int e = errno;
		if (pd->made)
			(void)rmdir(path);
		pd->made = false;
		return cli_fail(c, LK_EIO, "cannot use %s: %s", path, strerror(e));
	}
	if (pd->made)
		return EXIT_OK;
	/* As reports/pack.c: someone else's directory, or one others may
	 * write to, could have files swapped under the pack as it lands. */
	if (fstat(pd->dirfd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0)
		return cli_fail(c, LK_EINVAL,
		                "%s is not the caller's own directory, or others may write to it: "
		                "a pack goes into a new directory or an empty one only its owner "
		                "can write",
		                path);
	if ((fd = dup(pd->dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return cli_fail(c, LK_EIO, "cannot read %s: %s", path, strerror(errno));
	}
	rewinddir(d); /* the copy shares its offset with dirfd */
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			closedir(d);
			return cli_fail(
			    c, LK_EEXIST,
			    "%s is not empty: a pack goes into a new or empty directory", path);
		}
	}
	closedir(d);
	return EXIT_OK;
}

/* After the reply: on failure, nothing of the pack stays (nor DIR, if it
 * was made here). */
static void pack_dir_close(struct pack_dir *pd, bool keep)
{
	if (pd->fd >= 0)
		close(pd->fd);
	pd->fd = -1;
	if (pd->dirfd < 0)
		return;
	if (!keep) {
		for (size_t i = 0; i < pd->n; i++)
			(void)unlinkat(pd->dirfd, pd->names[i], 0);
		if (pd->made)
			(void)rmdir(pd->path);
	}
	close(pd->dirfd);
	pd->dirfd = -1;
}

/* FILE, DATA or FILE_END from latchkeyd. Anything out of order (a file
 * nobody asked for, data outside a file, a size that does not match) is
 * a protocol error: EXIT_SYSTEM, and the caller removes what was written. */
static int pack_file_msg(struct cli *c, struct pack_dir *pd, const struct lk_admin_msg *m)
{
	switch (m->type) {
	case LK_ADMIN_FILE:
		if (pd->fd >= 0 || pd->n >= LK_ADMIN_FILES_MAX)
			return cli_fail(c, LK_EIO, "bad reply from latchkeyd: a file out of order");
		/* The name passed lk_admin_name_ok in the decoder: a plain name,
		 * created only here, never over anything. */
		pd->fd = openat(pd->dirfd, m->name,
		                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
		if (pd->fd < 0)
			return cli_fail(c, LK_EIO, "cannot create %s/%s: %s", pd->path, m->name,
			                strerror(errno));
		snprintf(pd->names[pd->n++], sizeof(pd->names[0]), "%s", m->name);
		pd->got = 0;
		return EXIT_OK;
	case LK_ADMIN_DATA:
		if (pd->fd < 0)
			return cli_fail(c, LK_EIO, "bad reply from latchkeyd: data outside a file");
		if (!write_all(pd->fd, m->data, m->len))
			return cli_fail(c, LK_EIO, "cannot write %s/%s: %s", pd->path,
			                pd->names[pd->n - 1], strerror(errno));
		pd->got += m->len;
		return EXIT_OK;
	case LK_ADMIN_FILE_END:
		if (pd->fd < 0)
			return cli_fail(c, LK_EIO, "bad reply from latchkeyd: the end of no file");
		if (m->size != pd->got)
			return cli_fail(
			    c, LK_EIO,
			    "bad reply from latchkeyd: %s has %llu bytes, %llu were sent",
			    pd->names[pd->n - 1], (unsigned long long)m->size,
			    (unsigned long long)pd->got);
		if (close(pd->fd) != 0) {
			pd->fd = -1;
			return cli_fail(c, LK_EIO, "cannot write %s/%s: %s", pd->path,
			                pd->names[pd->n - 1], strerror(errno));
		}
		pd->fd = -1;
		return EXIT_OK;
	default:
		return cli_fail(c, LK_EIO, "bad reply from latchkeyd: message type %u",
		                (unsigned)m->type);
	}
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

/* Reads the reply: a report's files (pd not NULL), output chunks, then END
 * (and after an ACK, the final chunks and END). The exit status. */
static int relay(struct cli *c, int fd, const char *path, unsigned char *buf, struct pack_dir *pd)
{
	struct lk_err err = { { 0 } };
	bool out_failed = false, acked = false, output = false;
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
		/* Files come first and whole: nothing else while one is open. */
		if (pd != NULL && pd->fd >= 0 && m.type != LK_ADMIN_DATA &&
		    m.type != LK_ADMIN_FILE_END && m.type != LK_ADMIN_ERROR)
			return cli_fail(c, LK_EIO, "bad reply from latchkeyd: a file cut short");
		switch (m.type) {
		case LK_ADMIN_FILE:
		case LK_ADMIN_DATA:
		case LK_ADMIN_FILE_END:
			if (pd == NULL || output)
				return cli_fail(
				    c, LK_EIO,
				    "bad reply from latchkeyd: a file where none is due");
			if ((status = pack_file_msg(c, pd, &m)) != EXIT_OK)
				return status;
			break;
		case LK_ADMIN_OUT:
			output = true;
			if (!out_failed && !write_all(STDOUT_FILENO, m.data, m.len))
				out_failed = true;
			break;
		case LK_ADMIN_ERR:
			output = true;
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
			if (pd != NULL && status == EXIT_OK && pd->n == 0)
				return cli_fail(c, LK_EIO,
				                "bad reply from latchkeyd: a report with no files");
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
	struct pack_dir pack = { .dirfd = -1, .fd = -1 }, *pd = NULL;
	unsigned char *buf = NULL, *in = NULL;
	unsigned flags = c->json ? LK_ADMIN_JSON : 0;
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
	if (verb != NULL && verb->fn == cmd_report) {
		/* The arguments and DIR are checked here, before latchkeyd
		 * makes the report's checkpoint; argv goes out unpermuted. */
		struct lk_report_params p;
		char *copy[LK_ADMIN_ARGC_MAX + 1];
		if (argc > LK_ADMIN_ARGC_MAX) {
			status = cli_fail(c, LK_EINVAL, "too many arguments");
			goto out;
		}
		memcpy(copy, argv, sizeof(copy[0]) * (size_t)argc);
		copy[argc] = NULL;
		if ((status = cli_report_parse(c, argc, copy, &p)) != EXIT_OK)
			goto out;
		if ((status = pack_dir_open(c, p.out_dir, &pack)) != EXIT_OK)
			goto out;
		pd = &pack;
		flags |= LK_ADMIN_FILES;
	}
	if (cli_verb_reads_stdin(verb) && (status = read_stdin(c, verb, in, &in_len)) != EXIT_OK)
		goto out;
	r = lk_admin_request_encode(flags, argc, argv, cli_verb_reads_stdin(verb) ? in : NULL,
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
	status = relay(c, fd, c->cfg->admin_socket, buf, pd);
out:
	if (fd >= 0)
		close(fd);
	pack_dir_close(&pack, status == EXIT_OK);
	sodium_free(in); /* sodium_free wipes */
	sodium_free(buf);
	return status;
}
