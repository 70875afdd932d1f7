/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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

#include <sodium.h>
#include <sqlite3.h>

#include "daemon-fixture.h"
#include "testutil.h"

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
	char *argv[24];
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	pid_t pid;
	int rc;

	argv[n++] = (char *)prog;
	while (args[n - 1] != NULL) {
		ck_assert_uint_lt(n, 23);
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
	const char *argv[24];
	int p[2], status;
	ssize_t n;
	size_t got = 0, k = 0;
	pid_t pid;
	char buf[1024];

	/* Without a daemon the verb runs on the database itself (init always
	 * does); with one, through its admin socket. */
	if (g.daemon == 0 && strcmp(args[0], "init") != 0)
		argv[k++] = "--offline";
	for (size_t i = 0; args[i] != NULL; i++) {
		ck_assert_uint_lt(k, 22);
		argv[k++] = args[i];
	}
	argv[k] = NULL;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = spawn(bin("LATCHKEY_BIN"), argv, p[1]);
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

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int try_connect(void)
{
	return connect_to(g.sock);
}

/* Both sockets accept. */
static bool daemon_ready(void)
{
	int fd = try_connect(), afd = connect_to(g.admin_sock);

	if (fd >= 0)
		close(fd);
	if (afd >= 0)
		close(afd);
	return fd >= 0 && afd >= 0;
}

void start_daemon(void)
{
	int wst;

	g.daemon = spawn(bin("LATCHKEYD_BIN"),
	                 (const char *const[]){ "-c", g.conf, "--foreground", NULL }, -1);
	/* Up to 30 s for the socket to accept (valgrind on a busy 2-core box
	 * is slow to start it); fail at once if the daemon died. A readiness
	 * wait, not a timing assertion. */
	for (int i = 0; i < 3000; i++) {
		if (daemon_ready())
			return;
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

void fixture_setup(const char *prefix)
{
	char line[256];

	ck_assert_int_ge(sodium_init(), 0);
	memset(&g, 0, sizeof(g));
	(void)bin("LATCHKEY_BIN");
	(void)bin("LATCHKEYD_BIN");
	tk_mkdtemp(g.base, sizeof(g.base), prefix);
	/* nobody must reach the socket in the peer test: search permission
	 * only on the way there (the daemon refuses group/other *write*). */
	ck_assert_int_eq(chmod(g.base, 0711), 0);
	snprintf(g.dir, sizeof(g.dir), "%s/state", g.base);
	snprintf(g.conf, sizeof(g.conf), "%s/latchkey.conf", g.dir);
	snprintf(g.master, sizeof(g.master), "%s/master.key", g.dir);
	snprintf(g.sock, sizeof(g.sock), "%s/run/auth.sock", g.dir);
	snprintf(g.admin_sock, sizeof(g.admin_sock), "%s/run/admin.sock", g.dir);
	snprintf(g.confdir, sizeof(g.confdir), "%s/pam.d", g.base);
	ck_assert_int_eq(mkdir(g.confdir, 0755), 0);
	ck_assert_int_eq(cli((const char *const[]){ "init", "--state-dir", g.dir, "--plugin-dir",
	                                            bin("LK_APIKEY_PLUGIN_DIR"), NULL },
	                     NULL, 0),
	                 0);
	snprintf(line, sizeof(line), "%s/run", g.dir);
	ck_assert_int_eq(chmod(g.dir, 0711), 0);
	ck_assert_int_eq(chmod(line, 0755), 0);
	write_policy("web", "prod");
	write_policy("devweb", "dev");
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "key", "issue", "--owner", "alice", "--env",
	                               "prod", "--scope", "web:read", "--expires", "30d", NULL },
	        g.key, sizeof(g.key)),
	    0);
	ck_assert_str_eq(strncmp(g.key, "lk_", 3) == 0 ? "lk_" : g.key, "lk_");
}

void fixture_teardown(void)
{
	/* Only a child of ours that is still running: a pid already reaped
	 * may belong to another process by now (make, the shell...). */
	if (g.daemon > 0 && waitpid(g.daemon, NULL, WNOHANG) == 0) {
		kill(g.daemon, SIGKILL);
		waitpid(g.daemon, NULL, 0);
	}
	if (g.base[0] != '\0')
		tk_rmrf(g.base);
	sodium_memzero(&g, sizeof(g));
}

/* Non-root test runs: this uid must be allowed to speak for the services. */
void allow_me(void)
{
	char line[64];

	if (getuid() == 0)
		return;
	snprintf(line, sizeof(line), "auth_peer = %u web,devweb\n", (unsigned)getuid());
	add_config(line);
}

sqlite3 *db_open(void)
{
	char path[PATH_MAX + 32];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/latchkey.db", g.dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

void db_text(const char *sql, const char *arg, char *ret, size_t len)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	ret[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(ret, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

long db_long(const char *sql, const char *arg)
{
	char buf[64];

	db_text(sql, arg, buf, sizeof(buf));
	return buf[0] ? atol(buf) : -1;
}

/* The raw client's frames: 64 KiB, not on the stack. */
static unsigned char frame[LK_ADMIN_FRAME_BUF];

int admin_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.admin_sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

int read_admin(int fd, struct lk_admin_msg *m)
{
	struct lk_err err = { { 0 } };
	size_t len;
	int r = lk_frame_read(fd, frame, sizeof(frame), &len, 30000, &err);

	return r < 0 ? r : lk_admin_decode(frame, len, m, &err);
}

void send_bytes(int fd, const void *p, size_t len)
{
	ck_assert_int_eq(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

void send_request(int fd, bool json, const char *const *argv, const char *in)
{
	struct lk_err err = { { 0 } };
	size_t len, argc = 0;

	while (argv[argc] != NULL)
		argc++;
	ck_assert_msg(lk_admin_request_encode(json, (int)argc, (char *const *)argv,
	                                      (const unsigned char *)in, in ? strlen(in) : 0, frame,
	                                      sizeof(frame), &len, &err) == LK_OK,
	              "%s", err.msg);
	send_bytes(fd, frame, len);
}

int fixture_run(Suite *s, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX];
	int rc;

	snprintf(root, sizeof(root), "%s/%s-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp", prefix);
	if (mkdtemp(root) == NULL || chmod(root, 0711) != 0) {
		perror(root);
		return EXIT_FAILURE;
	}
	setenv("TMPDIR", root, 1);
	signal(SIGPIPE, SIG_IGN);
	rc = tk_run_suite(s);
	tk_rmrf(root);
	return rc;
}

/* Copies src to a new file dst, mode 0644. */
void copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_msg(out >= 0, "create %s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	ck_assert_int_eq(close(out), 0);
}

/* Rewrites g.conf with its plugin_dir line replaced. */
void set_plugin_dir(const char *dir)
{
	char text[8192], out[8192 + PATH_MAX], *line, *save = NULL;
	size_t len = 0;
	int fd = open(g.conf, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	out[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s\n",
		                        strncmp(line, "plugin_dir", 10) == 0 ? "" : line);
	snprintf(out + len, sizeof(out) - len, "plugin_dir = %s\n", dir);
	write_file(g.conf, "w", out);
}

/* A plugin dir with apikey and the plugin in the build dir that $var
 * names, made the daemon's plugin_dir. */
void plugin_dir_with(const char *var, const char *file)
{
	char dir[PATH_MAX + 16];
	const char *const files[][2] = { { "LK_APIKEY_PLUGIN_DIR", "apikey.so" }, { var, file } };

	snprintf(dir, sizeof(dir), "%s/plugins", g.base);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < 2; i++) {
		char src[PATH_MAX * 2], dst[PATH_MAX * 2];
		snprintf(src, sizeof(src), "%s/%s", bin(files[i][0]), files[i][1]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, files[i][1]);
		copy_file(src, dst);
	}
	set_plugin_dir(dir);
}
