/* SPDX-License-Identifier: Apache-2.0 */
/* The fixture tests/check_daemon and tests/check_pam share: a state dir made
 * with the CLI, a policy, a key, and a latchkeyd spawned on it. */
#ifndef LATCHKEY_DAEMON_FIXTURE_H
#define LATCHKEY_DAEMON_FIXTURE_H

#include <check.h>
#include <limits.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "admin-proto-private.h"
#include "apikey-private.h"

struct daemon_fixture {
	char base[PATH_MAX];
	char dir[PATH_MAX + 16];
	char conf[PATH_MAX + 48];
	char master[PATH_MAX + 48];
	char sock[PATH_MAX + 48];
	char admin_sock[PATH_MAX + 48];
	char confdir[PATH_MAX + 48]; /* PAM service files (check_pam) */
	char key[LK_KEY_MAX_LEN + 1];
	pid_t daemon;
};

extern struct daemon_fixture g;

/* $var, which make check sets to a built binary; fails the test if not. */
const char *bin(const char *var);
/* Spawns prog with args (NULL-terminated, without argv[0]); stdout to out_fd
 * (or /dev/null when < 0), stdin from /dev/null. */
pid_t spawn(const char *prog, const char *const *args, int out_fd);
/* Exit status, or 128 + signal. */
int wait_status(pid_t pid);
/* Runs the CLI; returns its exit status and the first line of stdout. With
 * no daemon running (g.daemon == 0) the verb runs --offline; with one, it
 * goes through the daemon's admin socket. */
int cli(const char *const *args, char *line, size_t linelen);
void write_file(const char *path, const char *mode, const char *text);
/* g.dir/policies/SERVICE.xml: apikey required, scope web:read. */
void write_policy(const char *service, const char *env);
void add_config(const char *line);
/* Copies src to a new file dst (0644). */
void copy_file(const char *src, const char *dst);
/* Rewrites g.conf with its plugin_dir line replaced. */
void set_plugin_dir(const char *dir);
/* g.base/plugins with apikey.so and the plugin file in the build dir that
 * the environment variable var names, made the daemon's plugin_dir. */
void plugin_dir_with(const char *var, const char *file);
/* A connected fd to g.sock, or -1. */
int try_connect(void);
/* Spawns latchkeyd on g.conf and waits until its sockets accept. */
void start_daemon(void);
/* SIGTERM, then its exit status. */
int stop_daemon(void);
/* A state dir under a temp dir named after prefix (made with the CLI), an
 * empty g.confdir for PAM service files, policies "web" (prod) and "devweb"
 * (dev), and g.key issued to alice for prod with scope web:read. */
void fixture_setup(const char *prefix);
/* Kills a daemon left running, removes everything, wipes g. */
void fixture_teardown(void);
/* When not root: adds an auth_peer line for this uid (web, devweb). */
void allow_me(void);
/* The database, read beside the daemon (WAL: readers never block): the
 * first column of the first row of sql (?1 = arg, may be NULL) as text in
 * ret ("" if no row), or as a number (-1 if no row). */
/* The state dir's database, read-only, with a busy timeout (WAL: readers
 * never block the daemon). */
sqlite3 *db_open(void);
void db_text(const char *sql, const char *arg, char *ret, size_t len);
long db_long(const char *sql, const char *arg);

/* A raw client on g.admin_sock: connected, or the test fails. */
int admin_connect(void);
/* Reads one message; LK_OK or the codec's error. m's data points into a
 * buffer the next call reuses. */
int read_admin(int fd, struct lk_admin_msg *m);
void send_bytes(int fd, const void *p, size_t len);
/* One REQUEST frame: argv (NULL-terminated), in (may be NULL) as stdin. */
void send_request(int fd, bool json, const char *const *argv, const char *in);

/* Runs s with every test's directory under one temp root named after
 * prefix (searchable by others: tests connect as nobody), removed after;
 * SIGPIPE ignored. The process exit code. */
int fixture_run(Suite *s, const char *prefix);

#endif
