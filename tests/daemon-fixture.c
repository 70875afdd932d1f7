/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon-fixture.h"

extern char **environ;

struct daemon_fixture g;

const char *bin(const char *var)
{
	const char *b = getenv(var);

	ck_assert_msg(b != NULL && b[0] != '\0', "%s is not set (make check exports it)", var);
	ck_assert_msg(access(b, X_OK) == 0, "%s=%s is not executable", var, b);
	return b;
}

/* Spawns prog with args (NULL-terminated, without argv[0]); stdout goes to
 * out (NUL-terminated, may be NULL), stderr is inherited. */
pid_t spawn(const char *prog, const char *const *args, int out_fd)
{
	char *argv[16];
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	pid_t pid;
	int rc;

	argv[n++] = (char *)prog;
	while (args[n - 1] != NULL) {
		ck_assert_uint_lt(n, 15);
		argv[n] = (char *)args[n - 1];
		n++;
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(rc == 0, "posix_spawn %s: %s", prog, strerror(rc));
	return pid;
}

int wait_status(pid_t pid)
{
	int wst;

	while (waitpid(pid, &wst, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

/* Runs the CLI; returns its exit status and the first line of stdout. */
int cli(const char *const *args, char *line, size_t linelen)
{
	int p[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid;
	char buf[1024];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = spawn(bin("LATCHKEY_BIN"), args, p[1]);
	close(p[1]);
	while ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	close(p[0]);
	buf[got] = '\0';
	status = wait_status(pid);
	if (line != NULL)
		snprintf(line, linelen, "%.*s", (int)strcspn(buf, "\n"), buf);
	return status;
}

void write_file(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

void write_policy(const char *service, const char *env)
{
	char path[PATH_MAX * 2], xml[1024];

	snprintf(path, sizeof(path), "%s/policies/%s.xml", g.dir, service);
	snprintf(xml, sizeof(xml),
	         "<policy xmlns=\"urn:latchkey:policy:1\" service=\"%s\" environment=\"%s\">"
	         "<stack><step plugin=\"apikey\" control=\"required\"/></stack>"
	         "<scopes><scope>web:read</scope></scopes></policy>\n",
	         service, env);
	write_file(path, "w", xml);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

void add_config(const char *line)
{
	write_file(g.conf, "a", line);
}

int try_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void start_daemon(void)
{
	int fd, wst;

	g.daemon = spawn(bin("LATCHKEYD_BIN"),
	                 (const char *const[]){ "-c", g.conf, "--foreground", NULL }, -1);
	/* Up to 30 s for the socket to accept (valgrind on a busy 2-core box
	 * is slow to start it); fail at once if the daemon died. A readiness
	 * wait, not a timing assertion. */
	for (int i = 0; i < 3000; i++) {
		if ((fd = try_connect()) >= 0) {
			close(fd);
			return;
		}
		pid_t r = waitpid(g.daemon, &wst, WNOHANG);
		ck_assert_msg(r == 0, "latchkeyd exited early (status %d)",
		              WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst));
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	ck_abort_msg("latchkeyd did not accept on %s", g.sock);
}

int stop_daemon(void)
{
	int status;

	ck_assert_int_gt(g.daemon, 0);
	ck_assert_int_eq(kill(g.daemon, SIGTERM), 0);
	status = wait_status(g.daemon);
	g.daemon = 0;
	return status;
}
