/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin socket end to end: the latchkey command run as a process
 * against a spawned latchkeyd (tests/daemon-fixture.c), raw clients that
 * misbehave, the roles (as nobody when run as root; as a unit test of the
 * role resolution otherwise: the daemon's own uid is always admin), the
 * --offline rules, and the admin protocol codec.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin-proto-private.h"
#include "audit-private.h"
#include "daemon-fixture.h"
#include "../daemon/daemon-private.h"
#include "testutil.h"
#include "util-private.h"

#define NOBODY ((uid_t)65534)
#define SELF   ((uid_t)-1)

/* One run of the command: status, all of stdout and stderr. */
struct out {
	int status;
	char *out, *err;
	size_t out_len, err_len, out_cap, err_cap;
};

/* Freed in teardown: a failed assertion skips whatever follows it. */
static struct out r1, r2;

static void setup(void)
{
	fixture_setup("latchkey-admin");
}

/* A tmpfs mounted over the state directory (test_report_no_room): gone
 * before the fixture removes the directory, even after a failed test. */
static char mounted[PATH_MAX + 16];

static void teardown(void)
{
	if (mounted[0] != '\0') {
		if (g.daemon > 0 && waitpid(g.daemon, NULL, WNOHANG) == 0) {
			kill(g.daemon, SIGKILL);
			waitpid(g.daemon, NULL, 0);
		}
		g.daemon = 0;
		(void)umount2(mounted, MNT_DETACH);
		mounted[0] = '\0';
	}
	fixture_teardown();
	free(r1.out);
	free(r1.err);
	free(r2.out);
	free(r2.err);
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n + 1)
			c *= 2;
		*buf = realloc(*buf, c);
		ck_assert_ptr_nonnull(*buf);
		*cap = c;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* argv for prog: prog, then args (NULL-terminated, at most 30). */
static void make_argv(const char *prog, const char *const *args, char *argv[32])
{
	size_t n = 0;

	argv[n++] = (char *)prog;
	for (; args[n - 1] != NULL; n++) {
		ck_assert_uint_lt(n, 31);
		argv[n] = (char *)args[n - 1];
	}
	argv[n] = NULL;
}

/* Runs latchkey with args (NULL-terminated) as uid (SELF: this process's),
 * in (may be NULL) on stdin, stdout to out_path when not NULL. */
static void run_to(struct out *o, uid_t uid, const char *in, const char *out_path,
                   const char *const *args)
{
	const char *prog = bin("LATCHKEY_BIN");
	char *argv[32], buf[8192];
	int inp[2], outp[2], errp[2], wst;
	struct pollfd pfd[2];
	pid_t pid;

	make_argv(prog, args, argv);
	o->status = -1;
	o->out_len = o->err_len = 0;
	append(&o->out, &o->out_len, &o->out_cap, "", 0);
	append(&o->err, &o->err_len, &o->err_cap, "", 0);
	ck_assert_int_eq(pipe2(inp, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(errp, O_CLOEXEC), 0);
	if (in != NULL) {
		ck_assert_uint_lt(strlen(in), 4096); /* fits in the pipe */
		ck_assert_int_eq(write(inp[1], in, strlen(in)), (ssize_t)strlen(in));
	}
	close(inp[1]);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int out_fd = outp[1];
		if (out_path != NULL && (out_fd = open(out_path, O_WRONLY)) < 0)
			_exit(120);
		if (uid != SELF &&
		    (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid(uid) != 0))
			_exit(121);
		/* Another uid cannot write the suite's temp root (valgrind, when
		 * it traces this child, keeps files in TMPDIR). */
		if (uid != SELF)
			setenv("TMPDIR", "/tmp", 1);
		if (dup2(inp[0], 0) < 0 || dup2(out_fd, 1) < 0 || dup2(errp[1], 2) < 0)
			_exit(122);
		execv(prog, argv);
		_exit(123);
	}
	close(inp[0]);
	close(outp[1]);
	close(errp[1]);
	pfd[0] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		if (poll(pfd, 2, -1) < 0) {
			ck_assert_int_eq(errno, EINTR);
			continue;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t k;
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			k = read(pfd[i].fd, buf, sizeof(buf));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			} else if (i == 0) {
				append(&o->out, &o->out_len, &o->out_cap, buf, (size_t)k);
			} else {
				append(&o->err, &o->err_len, &o->err_cap, buf, (size_t)k);
			}
		}
	}
	while (waitpid(pid, &wst, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	o->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	ck_assert_msg(o->status < 120, "the child could not run latchkey (%d)", o->status);
}

#define RUN_AS(o, uid, in, ...) \
	run_to((o), (uid), (in), NULL, (const char *const[]){ __VA_ARGS__, NULL })
#define RUN(o, in, ...) RUN_AS((o), SELF, (in), __VA_ARGS__)

/* stderr is exactly one line "latchkey: ...", containing want. */
static void assert_error_line(const struct out *o, const char *want)
{
	const char *nl = strchr(o->err, '\n');

	ck_assert_msg(strncmp(o->err, "latchkey: ", 10) == 0 && nl != NULL && nl[1] == '\0',
	              "stderr is not one 'latchkey: ' line: [%s]", o->err);
	ck_assert_msg(strstr(o->err, want) != NULL, "stderr [%s] lacks '%s'", o->err, want);
}

static long audit_rows(void)
{
	return db_long("SELECT count(*) FROM audit", NULL);
}

/* The kid of a key printed alone on a line. */
/* latchkeyd signs a checkpoint when it stops, which adds an audit row.
 * Tests that compare its output with --offline's after it stopped take its
 * signing key away first (it then warns once and signs none). */
static void no_checkpoints(void)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/signing.key", g.dir);
	ck_assert_int_eq(unlink(path), 0);
}

static void kid_of(const char *key, char kid[LK_KID_LEN + 1])
{
	const char *p = strchr(key + 3, '_');

	ck_assert_ptr_nonnull(p);
	snprintf(kid, LK_KID_LEN + 1, "%.12s", p + 1);
}

/* Waits (a readiness wait, up to 30 s) until the key's status is want. */
static void wait_status_of(const char *kid, const char *want)
{
	char status[32];

	for (int i = 0; i < 3000; i++) {
		db_text("SELECT status FROM api_key WHERE kid = ?1", kid, status, sizeof(status));
		if (strcmp(status, want) == 0)
			return;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	ck_abort_msg("key %s is %s, not %s", kid, status, want);
}

/* ---- Remote verbs ---- */

/* A key issued through the daemon works through the daemon; its audit rows
 * name the caller's uid. */
START_TEST(test_remote_issue_verify)
{
	char kid[LK_KID_LEN + 1], key[LK_KEY_MAX_LEN + 2], want[128];

	start_daemon();
	RUN(&r1, NULL, "-c", g.conf, "key", "issue", "--owner", "bob", "--env", "prod", "--scope",
	    "web:read", "--expires", "30d");
	ck_assert_msg(r1.status == 0, "issue: %d [%s]", r1.status, r1.err);
	ck_assert_uint_eq(r1.out_len, strlen(g.key) + 1);
	ck_assert_str_eq(strncmp(r1.out, "lk_prod_", 8) == 0 ? "ok" : r1.out, "ok");
	ck_assert_ptr_nonnull(strstr(r1.err, "shown once"));
	snprintf(key, sizeof(key), "%s", r1.out);
	kid_of(key, kid);
	{
		char secret_head[17];
		snprintf(secret_head, sizeof(secret_head), "%s", key + 21);
		ck_assert_ptr_null(strstr(r1.err, secret_head));
	}

	RUN(&r2, key, "-c", g.conf, "key", "verify", "--env", "prod", "--scope", "web:read");
	ck_assert_msg(r2.status == 0, "verify: %d [%s]", r2.status, r2.err);
	ck_assert_str_eq(r2.out, "ok\n");
	RUN(&r2, key, "-c", g.conf, "--json", "key", "verify", "--env", "dev");
	ck_assert_int_eq(r2.status, 1);
	ck_assert_ptr_nonnull(strstr(r2.out, "\"result\":\"wrong-environment\""));

	ck_assert_int_eq(db_long("SELECT actor_uid FROM audit WHERE action = 'key.issue' AND "
	                         "kid = ?1",
	                         kid),
	                 (long)getuid());
	snprintf(want, sizeof(want), "SELECT count(*) FROM audit WHERE kid = ?1 AND actor_uid = %u",
	         (unsigned)getuid());
	ck_assert_int_eq(db_long(want, kid), 3); /* issue, two verifications */

	/* Several new keys in one reply, each acknowledged: all stay valid. */
	RUN(&r2, NULL, "-c", g.conf, "key", "due", "--within", "60d", "--rotate");
	ck_assert_msg(r2.status == 0, "due --rotate: %d [%s]", r2.status, r2.err);
	ck_assert_int_eq(db_long("SELECT count(*) FROM api_key WHERE rotated_from IS NOT NULL "
	                         "AND status = 'active'",
	                         NULL),
	                 2);
	ck_assert_ptr_nonnull(strstr(r2.out, "rotated "));
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "verify", NULL }, NULL, 0), 0);
}
END_TEST

/* Commands run through the daemon and with --offline once it stopped:
 * the same command code, so the same status, stdout and stderr. */
static const char *const same_rows[][10] = {
	{ "key", "list" },
	{ "--json", "key", "list" },
	{ "key", "show", "@KID" },
	{ "--json", "key", "show", "@KID" },
	{ "key", "due", "--within", "60d" },
	{ "audit", "log" },
	{ "--json", "audit", "log", "--type", "key.issue" },
	{ "audit", "verify" },
	{ "--json", "audit", "verify" },
	{ "policy", "show", "web" },
	{ "--json", "policy", "show", "web" },
	/* errors: the same one line, the same status */
	{ "key", "show", "AAAAAAAAAAAA" },            /* 3 */
	{ "--json", "key", "show", "AAAAAAAAAAAA" },  /* 3 */
	{ "key", "list", "--env", "PROD" },           /* 2 */
	{ "key", "revoke", "@KID" },                  /* 2: no --reason */
	{ "key", "bogus" },                           /* 2 */
	{ "key" },                                    /* 2 */
	{ "audit", "log", "--limit", "0" },           /* 2 */
	{ "policy", "show", "nosuch" },               /* 3 */
	{ "key", "resume", "@KID", "--reason", "x" }, /* 3: not suspended */
};

static void run_row(struct out *o, size_t row, const char *kid, bool offline)
{
	const char *args[16];
	size_t n = 0;

	if (offline)
		args[n++] = "--offline";
	args[n++] = "-c";
	args[n++] = g.conf;
	for (size_t i = 0; i < 10 && same_rows[row][i] != NULL; i++)
		args[n++] = strcmp(same_rows[row][i], "@KID") == 0 ? kid : same_rows[row][i];
	args[n] = NULL;
	run_to(o, SELF, NULL, NULL, args);
}

START_TEST(test_same_as_offline)
{
	static const int want_status[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		                           0, 3, 3, 2, 2, 2, 2, 2, 3, 3 };
	char kid[LK_KID_LEN + 1];
	struct out remote[sizeof(same_rows) / sizeof(same_rows[0])];

	ck_assert_uint_eq(sizeof(want_status) / sizeof(want_status[0]),
	                  sizeof(same_rows) / sizeof(same_rows[0]));
	memset(remote, 0, sizeof(remote));
	kid_of(g.key, kid);
	no_checkpoints();
	start_daemon();
	for (size_t i = 0; i < sizeof(same_rows) / sizeof(same_rows[0]); i++)
		run_row(&remote[i], i, kid, false);
	ck_assert_int_eq(stop_daemon(), 0);
	for (size_t i = 0; i < sizeof(same_rows) / sizeof(same_rows[0]); i++) {
		run_row(&r1, i, kid, true);
		ck_assert_msg(remote[i].status == want_status[i] && r1.status == want_status[i],
		              "row %zu: remote %d, offline %d, want %d [%s]", i, remote[i].status,
		              r1.status, want_status[i], remote[i].err);
		ck_assert_msg(strcmp(remote[i].out, r1.out) == 0,
		              "row %zu: stdout differs:\n%s\n%s", i, remote[i].out, r1.out);
		ck_assert_msg(strcmp(remote[i].err, r1.err) == 0,
		              "row %zu: stderr differs:\n%s\n%s", i, remote[i].err, r1.err);
		if (want_status[i] != 0)
			assert_error_line(&remote[i], "");
		if (same_rows[i][0][0] == '-') /* --json: one object or array */
			ck_assert_msg(remote[i].out[0] == '{' || remote[i].out[0] == '[',
			              "row %zu: not JSON: %s", i, remote[i].out);
		free(remote[i].out);
		free(remote[i].err);
		remote[i].out = remote[i].err = NULL;
	}
}
END_TEST

/* Output over one frame (64 KiB) arrives whole, in order. */
START_TEST(test_large_output)
{
	struct lk_config *cfg = NULL;
	struct lk_master *master = NULL;
	struct lk_store *store = NULL;
	struct lk_key_rules rules;
	struct lk_err err = { { 0 } };
	const char *scopes[] = { "web:read" };
	int64_t now;

	/* 500 keys straight into the database: a key list of ~75 KB, a JSON
	 * list of ~200 KB, an audit log of ~90 KB. */
	ck_assert_int_eq(lk_config_load(g.conf, &cfg, &err), LK_OK);
	ck_assert_int_eq(lk_master_load(cfg->master_key, &master, &err), LK_OK);
	ck_assert_int_eq(lk_store_open(cfg->database, 0, master, &store, &err), LK_OK);
	ck_assert_int_eq(lk_store_set_durability(store, false, &err), LK_OK);
	lk_key_rules_from_config(cfg, &rules);
	ck_assert_int_eq(lk_now(&now), LK_OK);
	for (int i = 0; i < 500; i++) {
		char owner[64], key[LK_KEY_MAX_LEN + 1];
		struct lk_key_info info;
		snprintf(owner, sizeof(owner), "bulk-owner-with-a-long-name-%03d@example.com", i);
		ck_assert_msg(lk_key_issue(store, &rules,
		                           &(struct lk_issue_request){ .owner = owner,
		                                                       .env = "prod",
		                                                       .scopes = scopes,
		                                                       .n_scopes = 1,
		                                                       .lifetime = 86400 },
		                           0, now, key, &info, &err) == LK_OK,
		              "%s", err.msg);
		sodium_memzero(key, sizeof(key));
	}
	lk_store_close(store);
	lk_master_free(master);
	lk_config_free(cfg);

	no_checkpoints();
	start_daemon();
	RUN(&r1, NULL, "-c", g.conf, "--json", "key", "list");
	ck_assert_int_eq(r1.status, 0);
	ck_assert_uint_gt(r1.out_len, 2 * 65536);
	RUN(&r2, NULL, "-c", g.conf, "audit", "log");
	ck_assert_int_eq(r2.status, 0);
	ck_assert_uint_gt(r2.out_len, 65536);
	ck_assert_int_eq(stop_daemon(), 0);
	{
		struct out off = { 0 };
		RUN(&off, NULL, "--offline", "-c", g.conf, "--json", "key", "list");
		ck_assert_int_eq(off.status, 0);
		ck_assert_uint_eq(off.out_len, r1.out_len);
		ck_assert_int_eq(memcmp(off.out, r1.out, r1.out_len), 0);
		RUN(&off, NULL, "--offline", "-c", g.conf, "audit", "log");
		ck_assert_uint_eq(off.out_len, r2.out_len);
		ck_assert_int_eq(memcmp(off.out, r2.out, r2.out_len), 0);
		free(off.out);
		free(off.err);
	}
}
END_TEST

/* ---- --offline ---- */

START_TEST(test_offline_rules)
{
	char want[PATH_MAX + 160], dir[PATH_MAX + 32];

	start_daemon();
	RUN(&r1, NULL, "--offline", "-c", g.conf, "key", "list");
	ck_assert_int_eq(r1.status, 3);
	assert_error_line(&r1, "latchkeyd is running");
	assert_error_line(&r1, "drop --offline");
	ck_assert_uint_eq(r1.out_len, 0);
	ck_assert_int_eq(stop_daemon(), 0);

	RUN(&r1, NULL, "--offline", "-c", g.conf, "key", "list");
	ck_assert_msg(r1.status == 0, "%s", r1.err);

	/* No daemon and no --offline: say so, change nothing. */
	RUN(&r1, NULL, "-c", g.conf, "key", "revoke", "AAAAAAAAAAAA", "--reason", "x");
	ck_assert_int_eq(r1.status, 4);
	snprintf(want, sizeof(want),
	         "latchkey: latchkeyd is not answering on %s (start it, or use --offline as the "
	         "database's owner)\n",
	         g.admin_sock);
	ck_assert_str_eq(r1.err, want);
	RUN(&r1, NULL, "-c", g.conf, "--json", "key", "list");
	ck_assert_int_eq(r1.status, 4);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"exit\":4"));

	/* init always runs in process; --offline is not its option. */
	snprintf(dir, sizeof(dir), "%s/other", g.base);
	RUN(&r1, NULL, "--offline", "init", "--state-dir", dir);
	ck_assert_int_eq(r1.status, 2);
	assert_error_line(&r1, "--offline");
	ck_assert_int_ne(access(dir, F_OK), 0);

	/* policy check reads the caller's own file, daemon or not. */
	snprintf(dir, sizeof(dir), "%s/policies/web.xml", g.dir);
	RUN(&r1, NULL, "-c", g.conf, "policy", "check", dir);
	ck_assert_msg(r1.status == 0, "%s", r1.err);

	if (getuid() != 0)
		return;
	/* Only the database's owner may go around the daemon. */
	ck_assert_int_eq(chmod(g.conf, 0644), 0);
	RUN_AS(&r1, NOBODY, NULL, "--offline", "-c", g.conf, "key", "list");
	ck_assert_int_eq(r1.status, 1);
	assert_error_line(&r1, "--offline is for the database's owner");
}
END_TEST

/* ---- Roles ---- */

static long denied_rows(const char *detail)
{
	return db_long("SELECT count(*) FROM audit WHERE action = 'admin.denied' AND actor_uid = "
	               "65534 AND detail = ?1",
	               detail);
}

/* As nobody (root only): no role, then auditor, then operator (a group
 * member); each refusal one line, exit 1, audited without arguments. */
START_TEST(test_roles)
{
	char kid[LK_KID_LEN + 1], key[LK_KEY_MAX_LEN + 2], line[160];
	long before;

	if (getuid() != 0) {
		/* Here the daemon's own uid is this one, always admin: the role
		 * resolution is tested on its own (test_role_resolution). */
		return;
	}
	kid_of(g.key, kid);
	ck_assert_int_eq(chmod(g.conf, 0644), 0); /* the client reads admin_socket */
	start_daemon();
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "list");
	ck_assert_int_eq(r1.status, 1);
	assert_error_line(&r1, "permission denied: uid 65534 has no role");
	ck_assert_uint_eq(r1.out_len, 0);
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "--json", "audit", "log");
	ck_assert_int_eq(r1.status, 1);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"exit\":1"));
	ck_assert_int_eq(denied_rows("verb=key list role=none needs=auditor"), 1);
	ck_assert_int_eq(denied_rows("verb=audit log role=none needs=auditor"), 1);
	ck_assert_int_eq(stop_daemon(), 0);

	add_config("role = auditor uid:65534\n");
	start_daemon();
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "list");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	ck_assert_ptr_nonnull(strstr(r1.out, kid));
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "audit", "verify");
	ck_assert_int_eq(r1.status, 0);
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "policy", "show", "web");
	ck_assert_int_eq(r1.status, 0);
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "due");
	ck_assert_int_eq(r1.status, 0);
	before = audit_rows();
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "issue", "--owner", "mallory", "--env",
	       "prod", "--scope", "web:read", "--expires", "1d");
	ck_assert_int_eq(r1.status, 1);
	assert_error_line(&r1, "uid 65534 has the auditor role; 'key issue' needs the operator");
	ck_assert_uint_eq(r1.out_len, 0);
	ck_assert_int_eq(audit_rows(), before + 1); /* the refusal, nothing else */
	ck_assert_int_eq(denied_rows("verb=key issue role=auditor needs=operator"), 1);
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "due", "--rotate");
	ck_assert_int_eq(r1.status, 1);
	ck_assert_int_eq(denied_rows("verb=key due --rotate role=auditor needs=operator"), 1);
	snprintf(line, sizeof(line), "%s\n", g.key);
	RUN_AS(&r1, NOBODY, line, "-c", g.conf, "key", "verify");
	ck_assert_int_eq(r1.status, 1);
	ck_assert_int_eq(denied_rows("verb=key verify role=auditor needs=operator"), 1);
	/* No argument of a refused request reaches the audit log. */
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE detail LIKE '%mallory%'", NULL),
	                 0);
	ck_assert_int_eq(stop_daemon(), 0);

	/* A group member: nobody's primary group. */
	snprintf(line, sizeof(line), "role = operator group:%s\n", getgrgid(NOBODY)->gr_name);
	add_config(line);
	start_daemon();
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "issue", "--owner", "carol", "--env", "prod",
	       "--scope", "web:read", "--expires", "1d");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	snprintf(key, sizeof(key), "%s", r1.out);
	{
		char new_kid[LK_KID_LEN + 1];
		kid_of(key, new_kid);
		ck_assert_int_eq(db_long("SELECT actor_uid FROM audit WHERE action = 'key.issue' "
		                         "AND kid = ?1",
		                         new_kid),
		                 65534);
		RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "suspend", new_kid, "--reason", "t");
		ck_assert_int_eq(r1.status, 0);
	}
	RUN_AS(&r1, NOBODY, key, "-c", g.conf, "key", "verify");
	ck_assert_int_eq(r1.status, 1); /* suspended: denied by the key, not the role */
	ck_assert_str_eq(r1.out, "suspended\n");
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "key", "revoke-all", "--owner", "alice", "--reason",
	       "x");
	ck_assert_int_eq(r1.status, 1);
	assert_error_line(&r1, "'key revoke-all' needs the admin role");
	RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "policy", "mfa", "enable", "web", "--plugin",
	       "totp");
	ck_assert_int_eq(r1.status, 1);
	assert_error_line(&r1, "'policy mfa' needs the admin role");
	RUN_AS(&r1, NOBODY, key, "-c", g.conf, "auth", "web", "--user", "alice");
	ck_assert_int_eq(r1.status, 1);
	assert_error_line(&r1, "'auth' needs the admin role");
	ck_assert_int_eq(denied_rows("verb=key revoke-all role=operator needs=admin"), 1);
	ck_assert_int_eq(denied_rows("verb=policy mfa role=operator needs=admin"), 1);
	{
		char status[32];
		db_text("SELECT status FROM api_key WHERE kid = ?1", kid, status, sizeof(status));
		ck_assert_str_eq(status, "active");
	}
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "verify", NULL }, NULL, 0), 0);
}
END_TEST

/* Loads a config made of the required settings and text. */
static int load_config(const char *text, struct lk_config **ret, struct lk_err *err, char *path,
                       size_t pathlen)
{
	char full[1024];

	snprintf(path, pathlen, "%s/roles.conf", g.base);
	snprintf(full, sizeof(full), "database = db\nmaster_key = mk\npolicy_dir = p\n%s", text);
	unlink(path);
	write_file(path, "w", full);
	return lk_config_load(path, ret, err);
}

static const struct {
	const char *lines;
	const char *want; /* in the error; NULL: loads */
} role_rows[] = {
	{ "role = operator uid:1000, group:wheel\nrole = auditor gid:5,user:alice\n", NULL },
	{ "role = boss uid:1\n", ":4: bad role 'boss' for 'role' (admin, operator or auditor)" },
	{ "role = admin\n", ":4: 'role' needs a role and members" },
	{ "role = admin uid:x\n", ":4: bad member 'uid:x'" },
	{ "role = admin uid:4294967295\n", ":4: bad member 'uid:4294967295'" },
	{ "role = admin uid:-1\n", ":4: bad member 'uid:-1'" },
	{ "role = admin gid:\n", ":4: bad member 'gid:'" },
	{ "role = admin root\n", ":4: bad member 'root'" },
	{ "role = admin user:-rf\n", ":4: bad member 'user:-rf'" },
	{ "role = admin group:a b\n", ":4: bad member 'group:a b'" },
	{ "role = admin uid:1,,gid:2\n", ":4: empty member in 'role'" },
	{ "role = admin uid:1,\n", ":4: empty member in 'role'" },
	{ "\nrole = auditor uid:1\nrole = admin host:x\n", ":6: bad member 'host:x'" },
};

START_TEST(test_role_config)
{
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX + 32];
	int r;

	r = load_config(role_rows[_i].lines, &cfg, &err, path, sizeof(path));
	if (role_rows[_i].want == NULL) {
		ck_assert_msg(r == LK_OK, "%s", err.msg);
		ck_assert_uint_eq(cfg->n_role_members, 4);
		ck_assert_int_eq(cfg->role_members[0].role, LK_ROLE_OPERATOR);
		ck_assert_int_eq(cfg->role_members[0].kind, LK_MEMBER_UID);
		ck_assert_uint_eq(cfg->role_members[0].id, 1000);
		ck_assert_int_eq(cfg->role_members[1].kind, LK_MEMBER_GROUP);
		ck_assert_str_eq(cfg->role_members[1].name, "wheel");
		ck_assert_int_eq(cfg->role_members[3].role, LK_ROLE_AUDITOR);
		ck_assert_str_eq(cfg->role_members[3].name, "alice");
	} else {
		ck_assert_int_eq(r, LK_EINVAL);
		ck_assert_msg(strstr(err.msg, role_rows[_i].want) != NULL &&
		                  strstr(err.msg, path) != NULL,
		              "row %d: '%s' lacks '%s'", _i, err.msg, role_rows[_i].want);
	}
	lk_config_free(cfg);
}
END_TEST

/* The role logic itself, whoever runs the tests. */
START_TEST(test_role_resolution)
{
	struct passwd *pw = getpwuid(NOBODY);
	struct group *gr = getgrgid(NOBODY);
	struct lk_config *cfg = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX + 32], text[512];
	gid_t *gids = NULL, none[1] = { 7 }, g4321[2] = { 7, 4321 }, gnobody[1] = { NOBODY };
	size_t n = 0;
	bool found = false;

	ck_assert_ptr_nonnull(pw);
	ck_assert_ptr_nonnull(gr);
	snprintf(text, sizeof(text),
	         "role = auditor uid:1234\n"
	         "role = operator gid:4321\n"
	         "role = admin user:%s\n"
	         "role = operator group:%s\n"
	         "role = admin user:no-such-user-lk, group:no-such-group-lk\n",
	         pw->pw_name, gr->gr_name);
	ck_assert_msg(load_config(text, &cfg, &err, path, sizeof(path)) == LK_OK, "%s", err.msg);

	/* Root and the daemon's own uid: admin whatever the config says. */
	ck_assert_int_eq(lk_config_role(cfg, 0, none, 1, 4242), LK_ROLE_ADMIN);
	ck_assert_int_eq(lk_config_role(cfg, 4242, none, 1, 4242), LK_ROLE_ADMIN);
	/* Nobody else without a member line. */
	ck_assert_int_eq(lk_config_role(cfg, 99, none, 1, 4242), LK_ROLE_NONE);
	ck_assert_int_eq(lk_config_role(cfg, 99, NULL, 0, 4242), LK_ROLE_NONE);
	/* uid:, gid:, and the highest of several. */
	ck_assert_int_eq(lk_config_role(cfg, 1234, none, 1, 4242), LK_ROLE_AUDITOR);
	ck_assert_int_eq(lk_config_role(cfg, 99, g4321, 2, 4242), LK_ROLE_OPERATOR);
	ck_assert_int_eq(lk_config_role(cfg, 1234, g4321, 2, 4242), LK_ROLE_OPERATOR);
	/* Names resolved now: group:NAME by its gid, user:NAME by its uid. */
	ck_assert_int_eq(lk_config_role(cfg, 99, gnobody, 1, 4242), LK_ROLE_OPERATOR);
	ck_assert_int_eq(lk_config_role(cfg, NOBODY, none, 1, 4242), LK_ROLE_ADMIN);
	/* Names that do not resolve match nobody: not uid (uid_t)-1 either. */
	ck_assert_int_eq(lk_config_role(cfg, (uid_t)-1, none, 1, 4242), LK_ROLE_NONE);
	lk_config_free(cfg);

	ck_assert_str_eq(lk_role_str(LK_ROLE_OPERATOR), "operator");
	ck_assert_str_eq(lk_role_str(LK_ROLE_NONE), "none");

	/* A peer's groups: its primary gid and its user's groups. */
	ck_assert_int_eq(lk_peer_groups(NOBODY, 77, &gids, &n, &err), LK_OK);
	for (size_t i = 0; i < n; i++)
		found |= gids[i] == 77;
	ck_assert(found);
	free(gids);
	/* A uid with no passwd entry: the primary gid alone. */
	ck_assert_int_eq(lk_peer_groups(4000000001u, 78, &gids, &n, &err), LK_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(gids[0], 78);
	free(gids);
}
END_TEST

/* ---- Raw clients ---- */

/* For the fake daemon's reads (the raw client helpers are the fixture's). */
static unsigned char frame[LK_ADMIN_FRAME_BUF];

/* A fake latchkeyd on the admin socket: accepts one connection, reads the
 * request, sends reply (len bytes) and closes. */
static pid_t fake_daemon(int listen_fd, const unsigned char *reply, size_t len)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct lk_err err = { { 0 } };
		size_t n;
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0 || lk_frame_read(fd, frame, sizeof(frame), &n, 30000, &err) != LK_OK)
			_exit(1);
		if (len > 0 && send(fd, reply, len, MSG_NOSIGNAL) != (ssize_t)len)
			_exit(2);
		close(fd);
		_exit(0);
	}
	return pid;
}

/* Whatever goes wrong on the daemon's side of the socket, the command
 * fails with one line and exit 4: never a success. */
START_TEST(test_bad_replies)
{
	static const unsigned char big[] = { 0x00, 0x10, 0x00, 0x01 };
	static const unsigned char junk[] = { 0, 0, 0, 3, 0xde, 0xad, 0xbe };
	static const unsigned char no_end[] = { 0, 0, 0, 5, 1, LK_ADMIN_OUT, 'o', 'k', '\n' };
	static const unsigned char cut[] = { 0, 0, 0, 9, 1, LK_ADMIN_OUT, 'o' };
	static const unsigned char error[] = { 0, 0, 0, 6, 1, LK_ADMIN_ERROR, 'n', 'o', 'p', 'e' };
	static const unsigned char two_acks[] = { 0, 0, 0, 4, 1, LK_ADMIN_END, 0, 1,
		                                  0, 0, 0, 4, 1, LK_ADMIN_END, 0, 1 };
	static const unsigned char ack_type[] = { 0, 0, 0, 3, 1, LK_ADMIN_ACK, 1 };
	static const struct {
		const unsigned char *p;
		size_t len;
		const char *want;
	} rows[] = {
		{ big, sizeof(big), "frame length 1048577" },
		{ junk, sizeof(junk), "bad or no reply" },
		{ no_end, sizeof(no_end), "closed the connection" },
		{ cut, sizeof(cut), "inside a frame" },
		{ error, sizeof(error), "latchkeyd could not run the request: nope" },
		{ two_acks, sizeof(two_acks), "latchkeyd" }, /* the ACK may meet a closed socket */
		{ ack_type, sizeof(ack_type), "message type 5" },
		{ NULL, 0, "closed the connection" },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(lfd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.admin_sock);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pid_t pid = fake_daemon(lfd, rows[i].p, rows[i].len);
		RUN(&r1, NULL, "-c", g.conf, "key", "list");
		ck_assert_int_eq(wait_status(pid), 0);
		ck_assert_msg(r1.status == 4, "row %zu: exit %d", i, r1.status);
		assert_error_line(&r1, rows[i].want);
	}
	/* A socket whose owner is not the one answering on it. */
	if (getuid() == 0) {
		pid_t pid = fake_daemon(lfd, NULL, 0);
		ck_assert_int_eq(chown(g.admin_sock, NOBODY, NOBODY), 0);
		RUN(&r1, NULL, "-c", g.conf, "key", "list");
		ck_assert_int_eq(r1.status, 4);
		assert_error_line(&r1, "is not latchkeyd's socket");
		/* The fake never gets the request: the client closed first. */
		kill(pid, SIGKILL);
		wait_status(pid);
	}
	close(lfd);
}
END_TEST

/* Bad frames: an ERROR back, the connection closed, nothing written. */
START_TEST(test_garbage_frames)
{
	static const unsigned char big[] = { 0x00, 0x10, 0x00, 0x01 }; /* 1 MiB + 1 */
	static const unsigned char tiny[] = { 0, 0, 0, 1, 1 };         /* 1 byte */
	static const unsigned char junk[] = { 0, 0, 0, 4, 0xff, 0xfe, 0, 9 };
	static const unsigned char version[] = { 0, 0, 0, 5, 2, 1, 0, 1, 0 };
	static const unsigned char no_args[] = { 0, 0, 0, 4, 1, 1, 0, 0 };
	static const unsigned char nul_arg[] = { 0, 0, 0, 9, 1, 1, 0, 1, 0, 3, 'k', 0, 'y' };
	static const unsigned char trailing[] = { 0, 0, 0, 10, 1, 1, 0, 1, 0, 3, 'k', 'e', 'y', 0 };
	static const unsigned char short_arg[] = { 0, 0, 0, 7, 1, 1, 0, 1, 0, 9, 'k' };
	static const unsigned char not_request[] = { 0, 0, 0, 4, 1, 4, 0, 0 }; /* END */
	static const unsigned char flags[] = { 0, 0, 0, 8, 1, 1, 0x80, 1, 0, 2, 'a', 'b' };
	static const unsigned char truncated[] = { 0, 0, 0, 100, 1, 1, 0, 1 };
	static const struct {
		const unsigned char *p;
		size_t len;
	} rows[] = {
		{ big, sizeof(big) },
		{ tiny, sizeof(tiny) },
		{ junk, sizeof(junk) },
		{ version, sizeof(version) },
		{ no_args, sizeof(no_args) },
		{ nul_arg, sizeof(nul_arg) },
		{ trailing, sizeof(trailing) },
		{ short_arg, sizeof(short_arg) },
		{ not_request, sizeof(not_request) },
		{ flags, sizeof(flags) },
		{ truncated, sizeof(truncated) },
	};
	struct lk_admin_msg m;
	long before;

	start_daemon();
	before = audit_rows();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int fd = admin_connect();
		send_bytes(fd, rows[i].p, rows[i].len);
		shutdown(fd, SHUT_WR); /* the truncated ones end here */
		ck_assert_msg(read_admin(fd, &m) == LK_OK && m.type == LK_ADMIN_ERROR,
		              "row %zu: no ERROR back", i);
		ck_assert_int_ne(read_admin(fd, &m), LK_OK); /* then closed */
		close(fd);
	}
	/* A well-formed request carrying stdin for a verb that reads none. */
	{
		int fd = admin_connect();
		send_request(fd, false, (const char *const[]){ "key", "list", NULL }, g.key);
		ck_assert(read_admin(fd, &m) == LK_OK && m.type == LK_ADMIN_ERROR);
		ck_assert_ptr_nonnull(strstr(m.error, "standard input"));
		close(fd);
	}
	ck_assert_int_eq(audit_rows(), before);
	/* The daemon serves on. */
	RUN(&r1, NULL, "-c", g.conf, "key", "list");
	ck_assert_int_eq(r1.status, 0);
	ck_assert_int_eq(audit_rows(), before);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Runs `key issue` as a raw client up to the END that asks for an ACK;
 * returns the connection and the new key's kid. */
static int issue_raw(const char *owner, char kid[LK_KID_LEN + 1])
{
	struct lk_admin_msg m;
	char key[LK_KEY_MAX_LEN + 2] = "";
	int fd = admin_connect();

	send_request(fd, false,
	             (const char *const[]){ "key", "issue", "--owner", owner, "--env", "prod",
	                                    "--scope", "web:read", "--expires", "1d", NULL },
	             NULL);
	for (;;) {
		ck_assert_int_eq(read_admin(fd, &m), LK_OK);
		if (m.type == LK_ADMIN_OUT) {
			ck_assert_uint_lt(m.len, sizeof(key));
			memcpy(key, m.data, m.len);
			key[m.len] = '\0';
		} else if (m.type == LK_ADMIN_END) {
			break;
		} else {
			ck_assert_int_eq(m.type, LK_ADMIN_ERR);
		}
	}
	ck_assert_int_eq(m.exit_status, 0);
	ck_assert(m.ack);
	kid_of(key, kid);
	sodium_memzero(key, sizeof(key));
	return fd;
}

/* A new key is valid only once the client says its stdout took it. */
START_TEST(test_undelivered_key)
{
	char kid[LK_KID_LEN + 1], reason[128];
	struct lk_admin_msg m;
	int fd;

	start_daemon();
	/* Gone without an ACK: revoked. */
	fd = issue_raw("gone", kid);
	close(fd);
	wait_status_of(kid, "revoked");
	db_text("SELECT status_reason FROM api_key WHERE kid = ?1", kid, reason, sizeof(reason));
	ck_assert_str_eq(reason, "undelivered: the new key could not be written out");
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'key.revoke' AND "
	                         "kid = ?1",
	                         kid),
	                 1);

	/* "Could not write it": revoked, and the client is told. */
	fd = issue_raw("nack", kid);
	send_bytes(fd, (const unsigned char[]){ 0, 0, 0, 3, 1, LK_ADMIN_ACK, 0 }, 7);
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_ERR);
	ck_assert_ptr_nonnull(memmem(m.data, m.len, "has been revoked", 16));
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_END);
	ck_assert_int_eq(m.exit_status, 4);
	ck_assert(!m.ack);
	close(fd);
	wait_status_of(kid, "revoked");

	/* Garbage instead of an ACK: revoked. */
	fd = issue_raw("garbage", kid);
	send_bytes(fd, (const unsigned char[]){ 0, 0, 0, 2, 9, 9 }, 6);
	close(fd);
	wait_status_of(kid, "revoked");

	/* Acknowledged: it stays. */
	fd = issue_raw("acked", kid);
	send_bytes(fd, (const unsigned char[]){ 0, 0, 0, 3, 1, LK_ADMIN_ACK, 1 }, 7);
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_END);
	ck_assert_int_eq(m.exit_status, 0);
	close(fd);
	wait_status_of(kid, "active");

	/* The real client with stdout on a full disk: exit 4, revoked. */
	run_to(&r1, SELF, NULL, "/dev/full",
	       (const char *const[]){ "-c", g.conf, "key", "issue", "--owner", "full", "--env",
	                              "prod", "--scope", "web:read", "--expires", "1d", NULL });
	ck_assert_int_eq(r1.status, 4);
	ck_assert_ptr_nonnull(strstr(r1.err, "has been revoked"));
	ck_assert_int_eq(db_long("SELECT count(*) FROM api_key WHERE status = 'revoked' AND "
	                         "status_reason LIKE 'undelivered%'",
	                         NULL),
	                 4);
	ck_assert_int_eq(stop_daemon(), 0);
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "audit", "verify", NULL }, NULL, 0), 0);
}
END_TEST

/* ---- The codec ---- */

START_TEST(test_codec)
{
	char *const argv[] = { "key", "verify", "", "--env", "prod", NULL };
	struct lk_admin_request q;
	struct lk_admin_msg m;
	struct lk_err err = { { 0 } };
	unsigned char buf[LK_ADMIN_FRAME_BUF], junk[300];
	size_t len;

	ck_assert_int_eq(lk_admin_request_encode(true, 5, argv, (const unsigned char *)"lk_x\n", 5,
	                                         buf, sizeof(buf), &len, &err),
	                 LK_OK);
	ck_assert_int_eq(lk_admin_request_decode(buf + 4, len - 4, &q, &err), LK_OK);
	ck_assert(q.json && q.has_in);
	ck_assert_int_eq(q.argc, 5);
	ck_assert_str_eq(q.argv[1], "verify");
	ck_assert_str_eq(q.argv[2], "");
	ck_assert_ptr_null(q.argv[5]);
	ck_assert_uint_eq(q.in_len, 5);
	ck_assert_mem_eq(q.in, "lk_x\n", 5);
	lk_admin_request_free(&q);
	/* Every truncation is refused. */
	for (size_t cut = 0; cut < len - 4; cut++)
		ck_assert_int_eq(lk_admin_request_decode(buf + 4, cut, &q, &err), LK_EINVAL);
	/* Bounds on the way out. */
	ck_assert_int_eq(
	    lk_admin_request_encode(false, 0, argv, NULL, 0, buf, sizeof(buf), &len, &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_admin_request_encode(false, 1, argv, (const unsigned char *)"x",
	                                         LK_ADMIN_STDIN_MAX + 1, buf, sizeof(buf), &len,
	                                         &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_encode(&(struct lk_admin_msg){ .type = LK_ADMIN_OUT,
	                                                         .data = buf,
	                                                         .len = LK_ADMIN_CHUNK_MAX + 1 },
	                                 junk, sizeof(junk), &len, &err),
	                 LK_EINVAL);
	/* A whole chunk fills a whole frame. */
	{
		static unsigned char big[LK_ADMIN_CHUNK_MAX];
		ck_assert_int_eq(lk_admin_encode(&(struct lk_admin_msg){ .type = LK_ADMIN_OUT,
		                                                         .data = big,
		                                                         .len = sizeof(big) },
		                                 buf, sizeof(buf), &len, &err),
		                 LK_OK);
		ck_assert_uint_eq(len, LK_FRAME_MAX + 4);
		ck_assert_int_eq(lk_admin_decode(buf + 4, len - 4, &m, &err), LK_OK);
		ck_assert_uint_eq(m.len, sizeof(big));
	}
	/* END, ACK: exact sizes, booleans 0 or 1. */
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 4, 3, 1 }, 4, &m, &err),
	                 LK_OK);
	ck_assert_int_eq(m.exit_status, 3);
	ck_assert(m.ack);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 4, 3, 2 }, 4, &m, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 4, 3, 1, 0 }, 5, &m, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 5 }, 2, &m, &err), LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 2 }, 2, &m, &err), LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 6, 'a', '\n' }, 4, &m, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 1, 0, 1, 0, 0 }, 6, &m, &err),
	                 LK_EINVAL); /* a REQUEST where a reply is due */
	/* Random input never crashes either decoder (the sanitizer build
	 * watches the reads). */
	for (int i = 0; i < 20000; i++) {
		size_t n = randombytes_uniform(sizeof(junk) + 1);
		randombytes_buf(junk, n);
		if (n >= 2 && i % 2 == 0) {
			junk[0] = LK_ADMIN_VERSION;
			junk[1] = (unsigned char)(1 + randombytes_uniform(LK_ADMIN_FILE_END));
		}
		if (lk_admin_request_decode(junk, n, &q, &err) == LK_OK)
			lk_admin_request_free(&q);
		(void)lk_admin_decode(junk, n, &m, &err);
	}
}
END_TEST

/* ---- Reports through latchkeyd (decision 0012) ---- */

static long checkpoints(void)
{
	return db_long("SELECT count(*) FROM checkpoint", NULL);
}

/* n auth.decision rows in the last hour, chained as latchkeyd chains them,
 * before the daemon starts: enough that a pack takes a while to make. */
static void fill_audit(long n)
{
	char path[PATH_MAX * 2];
	struct lk_store *s = NULL;
	struct lk_err err = { { 0 } };
	int64_t now = (int64_t)time(NULL);

	snprintf(path, sizeof(path), "%s/latchkey.db", g.dir);
	ck_assert_msg(lk_store_open(path, 0, NULL, &s, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_store_batch_begin(s, &err) == LK_OK, "%s", err.msg);
	for (long i = 0; i < n; i++) {
		if (lk_audit_record(s,
		                    &(struct lk_audit_event){
		                        .ts = now - 3600 + i * 3000 / n,
		                        .actor_uid = 0,
		                        .action = "auth.decision",
		                        .reason = i % 10 == 0 ? "bad-secret" : "ok",
		                        .detail = "service=web env=prod pam=0 steps=apikey:ok" },
		                    NULL, &err) != LK_OK)
			ck_abort_msg("row %ld: %s", i, err.msg);
	}
	ck_assert_msg(lk_store_batch_commit(s, &err) == LK_OK, "%s", err.msg);
	lk_store_close(s);
}

/* One AUTH for alice with g.key on the auth socket, as pam_latchkey sends
 * it: its PAM code. */
static unsigned auth_once(void)
{
	static unsigned char buf[LK_FRAME_MAX + 4];
	static struct lk_msg m;
	struct lk_err err = { { 0 } };
	size_t len;
	int fd = try_connect();

	ck_assert_int_ge(fd, 0);
	lk_msg_wipe(&m);
	m.type = LK_MSG_HELLO;
	m.min_version = m.max_version = LK_PROTO_VERSION;
	ck_assert_int_eq(lk_msg_encode(&m, buf, sizeof(buf), &len, &err), LK_OK);
	ck_assert_int_eq(lk_frame_write(fd, buf, len, 10000, &err), LK_OK);
	ck_assert_int_eq(lk_frame_read(fd, buf, sizeof(buf), &len, 10000, &err), LK_OK);
	ck_assert_int_eq(lk_msg_decode(buf, len, &m, &err), LK_OK);
	ck_assert_int_eq(m.type, LK_MSG_HELLO);
	lk_msg_wipe(&m);
	m.type = LK_MSG_AUTH;
	snprintf(m.service, sizeof(m.service), "web");
	snprintf(m.user, sizeof(m.user), "alice");
	snprintf(m.inputs[0].name, sizeof(m.inputs[0].name), "apikey");
	m.inputs[0].len = strlen(g.key);
	memcpy(m.inputs[0].value, g.key, m.inputs[0].len);
	m.n_inputs = 1;
	ck_assert_int_eq(lk_msg_encode(&m, buf, sizeof(buf), &len, &err), LK_OK);
	ck_assert_int_eq(lk_frame_write(fd, buf, len, 10000, &err), LK_OK);
	ck_assert_int_eq(lk_frame_read(fd, buf, sizeof(buf), &len, 60000, &err), LK_OK);
	lk_msg_wipe(&m);
	ck_assert_int_eq(lk_msg_decode(buf, len, &m, &err), LK_OK);
	ck_assert_int_eq(m.type, LK_MSG_RESULT);
	close(fd);
	return m.pam_code;
}

/* latchkey with args as uid, in the background; stdout and stderr to
 * /dev/null (what it printed is checked by a run of its own). */
static pid_t spawn_as(uid_t uid, const char *const *args)
{
	const char *prog = bin("LATCHKEY_BIN");
	char *argv[32];
	pid_t pid;

	make_argv(prog, args, argv);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(122);
		if (uid != SELF &&
		    (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid(uid) != 0))
			_exit(121);
		/* The fixture's TMPDIR is root's; valgrind (check-valgrind traces
		 * children) makes its files there and would not start. */
		if (uid != SELF)
			setenv("TMPDIR", "/tmp", 1);
		execv(prog, argv);
		_exit(123);
	}
	return pid;
}

/* Entries of dir named prefix* (-1: dir unreadable). */
static int entries_like(const char *dir, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The pack's own checks, in its directory, as an auditor runs them. */
static void assert_pack_verifies(const char *dir)
{
	char cmd[PATH_MAX * 3];

	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && sha256sum --quiet -c MANIFEST.sha256 && openssl pkeyutl -verify "
	         "-pubin -inkey signing.pub.pem -rawin -in MANIFEST.sha256 -sigfile "
	         "MANIFEST.sha256.sig >/dev/null",
	         dir);
	ck_assert_msg(system(cmd) == 0, "the pack in %s does not verify", dir);
}

#define REPORT_ROWS 100000

/*
 * An auditor (nobody with role = auditor, when run as root) gets a SOC 2
 * pack through latchkeyd: written as the caller into DIR, verifiable;
 * authentication answered while the pack is made; a second report refused
 * meanwhile; nothing left in the state directory.
 */
START_TEST(test_report_daemon)
{
	const char *const files[] = { "MANIFEST.sha256", "MANIFEST.sha256.sig", "VERIFY.txt",
		                      "decisions.csv",   "evidence.xml",        "keys.csv",
		                      "report.html",     "signing.pub.pem" };
	uid_t who = getuid() == 0 ? NOBODY : SELF;
	char parent[PATH_MAX * 2], dir[PATH_MAX * 3], dir2[PATH_MAX * 3], path[PATH_MAX * 4];
	char want[PATH_MAX * 4];
	struct timespec t0, t1;
	long cps, rows;
	struct stat st;
	pid_t pid;
	int wst;

	fill_audit(REPORT_ROWS);
	if (who == NOBODY) {
		add_config("role = auditor uid:65534\n");
		ck_assert_int_eq(chmod(g.conf, 0644), 0); /* the client reads admin_socket */
	}
	/* Somewhere the caller may create DIR. */
	snprintf(parent, sizeof(parent), "%s/auditor", g.base);
	ck_assert_int_eq(mkdir(parent, 0700), 0);
	if (who == NOBODY)
		ck_assert_int_eq(chown(parent, NOBODY, NOBODY), 0);
	snprintf(dir, sizeof(dir), "%s/pack", parent);
	snprintf(dir2, sizeof(dir2), "%s/pack2", g.base);
	start_daemon();
	cps = checkpoints();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = spawn_as(who, (const char *const[]){ "-c", g.conf, "report", "soc2", "--from",
	                                           "2000-01-01", "--to", "2100-01-01", "--out", dir,
	                                           NULL });
	/* The report's checkpoint is committed first: from then on the pack
	 * is being made (a readiness wait, no timing assumed). */
	for (int i = 0; i < 6000 && checkpoints() == cps; i++) {
		ck_assert_int_eq(waitpid(pid, &wst, WNOHANG), 0);
		nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
	}
	ck_assert_int_eq(checkpoints(), cps + 1);
	/* Authentication goes on while the pack is made (the engine lock is
	 * not held), and a second report is refused with one line, adding
	 * nothing. */
	ck_assert_uint_eq(auth_once(), 0);
	RUN(&r1, NULL, "-c", g.conf, "report", "gdpr", "--from", "2000-01-01", "--to", "2100-01-01",
	    "--out", dir2);
	ck_assert_msg(waitpid(pid, &wst, WNOHANG) == 0,
	              "the report was done before the auth and the second report were");
	ck_assert_int_eq(r1.status, 3);
	assert_error_line(&r1, "latchkeyd is already making a report");
	ck_assert(!exists(dir2));
	ck_assert_int_eq(checkpoints(), cps + 1);
	ck_assert_int_eq(wait_status(pid), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "report soc2 through latchkeyd, %d rows: %.2f s\n", REPORT_ROWS,
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	/* Every file, written as the caller, into DIR (0750). */
	ck_assert_int_eq(lstat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	{
		mode_t mask = umask(0);
		umask(mask);
		ck_assert_uint_eq(st.st_mode & 0777, 0750 & ~mask);
	}
	ck_assert_int_eq(entries_like(dir, ""), 2 + (int)(sizeof(files) / sizeof(files[0])));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		ck_assert_msg(lstat(path, &st) == 0 && S_ISREG(st.st_mode), "no %s", files[i]);
		ck_assert_uint_eq(st.st_uid, who == NOBODY ? NOBODY : getuid());
	}
	assert_pack_verifies(dir);
	/* The pack holds the rows and names the report's checkpoint. */
	snprintf(path, sizeof(path), "%s/decisions.csv", dir);
	{
		FILE *f = fopen(path, "r");
		long lines = 0;
		int ch;
		ck_assert_ptr_nonnull(f);
		while ((ch = fgetc(f)) != EOF)
			lines += ch == '\n';
		fclose(f);
		ck_assert_int_ge(lines, REPORT_ROWS);
	}
	/* Nothing of the pack stays with latchkeyd. */
	ck_assert_int_eq(entries_like(g.dir, ".report-"), 0);

	/* The output line, and the chain intact after it all. */
	rows = audit_rows();
	snprintf(dir2, sizeof(dir2), "%s/pack3", parent);
	RUN_AS(&r1, who, NULL, "-c", g.conf, "report", "iso27001", "--from", "2000-01-01", "--to",
	       "2100-01-01", "--out", dir2);
	ck_assert_msg(r1.status == 0, "exit %d: %s", r1.status, r1.err);
	snprintf(want, sizeof(want), "ISO 27001 pack in %s: checkpoint %ld, audit chain intact, ",
	         dir2, cps + 2);
	ck_assert_msg(strncmp(r1.out, want, strlen(want)) == 0, "[%s]", r1.out);
	snprintf(want, sizeof(want), "report: %s/report.html\n", dir2);
	ck_assert_ptr_nonnull(strstr(r1.out, want));
	ck_assert_str_eq(r1.err, "");
	assert_pack_verifies(dir2);
	ck_assert_int_eq(audit_rows(), rows + 1); /* the checkpoint's row */
	RUN(&r1, NULL, "-c", g.conf, "audit", "verify");
	ck_assert_msg(r1.status == 0, "audit verify: %s%s", r1.out, r1.err);
	ck_assert_uint_eq(auth_once(), 0);
	ck_assert_int_eq(entries_like(g.dir, ".report-"), 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Refusals add nothing to the log (no checkpoint, no row) and leave no
 * DIR behind; a non-empty DIR is refused before latchkeyd is asked. */
START_TEST(test_report_refusals)
{
	char dir[PATH_MAX * 2], path[PATH_MAX * 3];
	long cps, rows;
	int fd;

	start_daemon();
	cps = checkpoints();
	rows = audit_rows();
	snprintf(dir, sizeof(dir), "%s/pack", g.base);

	ck_assert_int_eq(mkdir(dir, 0750), 0);
	snprintf(path, sizeof(path), "%s/mine.txt", dir);
	write_file(path, "w", "mine\n");
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(r1.status, 3);
	assert_error_line(&r1, "is not empty: a pack goes into a new or empty directory");
	ck_assert_int_eq(entries_like(dir, ""), 3);
	ck_assert_int_eq(unlink(path), 0);
	/* Empty, but others may write to it (files could be swapped under the
	 * pack as it lands): refused, left as it was. */
	ck_assert_int_eq(chmod(dir, 0772), 0);
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(r1.status, 2);
	assert_error_line(&r1, "is not the caller's own directory, or others may write to it");
	ck_assert_int_eq(entries_like(dir, ""), 2);
	ck_assert_int_eq(rmdir(dir), 0);

	RUN(&r1, NULL, "-c", g.conf, "report", "sox", "--from", "2026-01-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(r1.status, 2);
	assert_error_line(&r1, "unknown report 'sox'");
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-13-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(r1.status, 2);
	assert_error_line(&r1, "bad --from '2026-13-01'");
	RUN(&r1, NULL, "-c", g.conf, "report", "gdpr", "--from", "2026-03-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(r1.status, 2);
	assert_error_line(&r1, "the period is empty");
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01", "--out", dir);
	ck_assert_int_eq(r1.status, 2);
	assert_error_line(&r1, "needs --from DATE --to DATE --out DIR");
	ck_assert(!exists(dir));
	ck_assert_int_eq(checkpoints(), cps);
	ck_assert_int_eq(audit_rows(), rows);

	/* A caller with no role: refused by latchkeyd and audited; the DIR
	 * the client made is gone again. */
	if (getuid() == 0) {
		ck_assert_int_eq(chmod(g.conf, 0644), 0);
		RUN_AS(&r1, NOBODY, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01",
		       "--to", "2026-02-01", "--out", "/tmp/latchkey-no-role-pack");
		ck_assert_int_eq(r1.status, 1);
		assert_error_line(&r1,
		                  "uid 65534 has no role on latchkeyd; 'report soc2' needs the "
		                  "auditor role");
		ck_assert(!exists("/tmp/latchkey-no-role-pack"));
		ck_assert_int_eq(denied_rows("verb=report soc2 role=none needs=auditor"), 1);
		ck_assert_int_eq(checkpoints(), cps);
		rows++;
	}

	/* A client that takes no files (an older latchkey): refused before
	 * the checkpoint. Files asked for by another verb: a protocol error. */
	fd = admin_connect();
	send_request(fd, false,
	             (const char *const[]){ "report", "soc2", "--from", "2026-01-01", "--to",
	                                    "2026-02-01", "--out", dir, NULL },
	             NULL);
	{
		struct lk_admin_msg m;
		bool saw = false;
		for (;;) {
			ck_assert_int_eq(read_admin(fd, &m), LK_OK);
			ck_assert_int_ne(m.type, LK_ADMIN_FILE);
			if (m.type == LK_ADMIN_ERR)
				saw = memmem(m.data, m.len, "cannot receive", 14) != NULL;
			if (m.type == LK_ADMIN_END)
				break;
		}
		ck_assert(saw);
		ck_assert_int_eq(m.exit_status, 2);
	}
	close(fd);
	fd = admin_connect();
	{
		unsigned char buf[LK_ADMIN_FRAME_BUF];
		char *const argv[] = { "key", "list", NULL };
		struct lk_admin_msg m;
		struct lk_err err = { { 0 } };
		size_t len;
		ck_assert_int_eq(lk_admin_request_encode(LK_ADMIN_FILES, 2, argv, NULL, 0, buf,
		                                         sizeof(buf), &len, &err),
		                 LK_OK);
		send_bytes(fd, buf, len);
		ck_assert_int_eq(read_admin(fd, &m), LK_OK);
		ck_assert_int_eq(m.type, LK_ADMIN_ERROR);
		ck_assert_ptr_nonnull(strstr(m.error, "files asked for by a verb"));
	}
	close(fd);
	ck_assert(!exists(dir));
	ck_assert_int_eq(checkpoints(), cps);
	ck_assert_int_eq(audit_rows(), rows);
	ck_assert_int_eq(entries_like(g.dir, ".report-"), 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* A raw report request that takes files, as the latchkey client sends it. */
static int report_request(const char *dir)
{
	unsigned char buf[LK_ADMIN_FRAME_BUF];
	char *const argv[] = { "report",     "soc2",  "--from",    "2000-01-01", "--to",
		               "2100-01-01", "--out", (char *)dir, NULL };
	struct lk_err err = { { 0 } };
	size_t len;
	int fd = admin_connect();

	ck_assert_int_eq(
	    lk_admin_request_encode(LK_ADMIN_FILES, 8, argv, NULL, 0, buf, sizeof(buf), &len, &err),
	    LK_OK);
	send_bytes(fd, buf, len);
	return fd;
}

/*
 * A client that reads a pack slowly (a frame every half second, within the
 * per-frame timeout: ~40 s for this pack) does not hold a SIGTERM: the
 * daemon cuts the pack off, removes it, signs its shutdown checkpoint and
 * exits well within the bound (20 s, no tighter timing assumed).
 */
START_TEST(test_report_stop)
{
	char dir[PATH_MAX * 2];
	struct lk_admin_msg m;
	struct timespec t0, t1;
	long cps;
	int fd, wst = 0;
	pid_t done = 0;
	bool reading = true;

	fill_audit(30000);
	start_daemon();
	cps = checkpoints();
	snprintf(dir, sizeof(dir), "%s/pack", g.base);
	fd = report_request(dir);
	/* Streaming has begun: the first file is announced. */
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_FILE);
	ck_assert_int_eq(entries_like(g.dir, ".report-"), 1);
	ck_assert_int_eq(kill(g.daemon, SIGTERM), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		done = waitpid(g.daemon, &wst, WNOHANG);
		ck_assert_int_ge(done, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (done > 0 || t1.tv_sec - t0.tv_sec > 20)
			break;
		if (reading) {
			reading = read_admin(fd, &m) == LK_OK;
			/* Never the whole pack: it is cut off. */
			ck_assert(!reading || m.type != LK_ADMIN_END);
		}
		nanosleep(&(struct timespec){ 0, 500 * 1000 * 1000 }, NULL);
	}
	ck_assert_msg(done > 0, "latchkeyd did not stop within 20 s of SIGTERM");
	g.daemon = 0;
	ck_assert(WIFEXITED(wst));
	ck_assert_int_eq(WEXITSTATUS(wst), 0);
	close(fd);
	/* The pack is gone; the shutdown checkpoint was signed. */
	ck_assert_int_eq(entries_like(g.dir, ".report-"), 0);
	ck_assert_int_eq(checkpoints(), cps + 2);
	RUN(&r1, NULL, "--offline", "-c", g.conf, "audit", "verify");
	ck_assert_msg(r1.status == 0, "audit verify: %s%s", r1.out, r1.err);
}
END_TEST

/* The disk and rate rules' arithmetic, with injected numbers. */
START_TEST(test_report_limits)
{
	const uint64_t mib = 1024 * 1024, gib = 1024 * mib;

	ck_assert_uint_eq(lkd_pack_estimate(0, 0), 4 * mib);
	ck_assert_uint_eq(lkd_pack_estimate(1000000, 1000), 4 * mib + 512000000 + 256000);
	ck_assert_uint_eq(lkd_pack_estimate(UINT64_MAX / 2, 1), UINT64_MAX);
	/* The reserve: a tenth of a small file system, at most 256 MiB. */
	ck_assert_uint_eq(lkd_pack_reserve(100 * mib), 10 * mib);
	ck_assert_uint_eq(lkd_pack_reserve(2560 * mib), 256 * mib);
	ck_assert_uint_eq(lkd_pack_reserve(1000 * gib), 256 * mib);
	ck_assert(lkd_pack_fits(100 * mib, 356 * mib, 1000 * gib));
	ck_assert(!lkd_pack_fits(100 * mib, 356 * mib - 1, 1000 * gib));
	ck_assert(!lkd_pack_fits(100 * mib, 50 * mib, 1000 * gib));
	ck_assert(lkd_pack_fits(4 * mib, 14 * mib, 100 * mib));
	ck_assert(!lkd_pack_fits(4 * mib, 14 * mib - 1, 100 * mib));
	ck_assert(!lkd_pack_fits(UINT64_MAX, UINT64_MAX, UINT64_MAX));
	/* 30 s, then a second per MiB. */
	ck_assert_int_eq(lkd_pack_send_ms(0), 30000);
	ck_assert_int_eq(lkd_pack_send_ms(mib), 31000);
	ck_assert_int_eq(lkd_pack_send_ms(178 * 1000 * 1000), 30000 + 169754);
	ck_assert_int_gt(lkd_pack_send_ms(UINT64_MAX), 0);
}
END_TEST

/*
 * Root only: the state directory on a tmpfs with little room left. The
 * report is refused before its checkpoint with one line naming the
 * directory; nothing is added to the log, no pack directory is made, and
 * authentication goes on.
 */
START_TEST(test_report_no_room)
{
	char orig[PATH_MAX * 2], cmd[PATH_MAX * 5], opts[64], dir[PATH_MAX * 2], want[PATH_MAX * 3];
	unsigned long long used;
	long cps, rows;
	FILE *p;

	if (getuid() != 0) {
		fprintf(stderr, "test_report_no_room: skipped (needs root to mount a tmpfs)\n");
		return;
	}
	fill_audit(40000); /* up to ~24 MiB of pack, in ~10 MiB of database */
	snprintf(cmd, sizeof(cmd), "du -sk '%s'", g.dir);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%llu", &used), 1);
	pclose(p);
	snprintf(orig, sizeof(orig), "%s-orig", g.dir);
	ck_assert_int_eq(rename(g.dir, orig), 0);
	ck_assert_int_eq(mkdir(g.dir, 0700), 0);
	/* Room for the database and its log to grow a little, not a pack. */
	snprintf(opts, sizeof(opts), "size=%lluk,mode=0700", used + 16384);
	if (mount("tmpfs", g.dir, "tmpfs", 0, opts) != 0) {
		fprintf(stderr, "test_report_no_room: skipped (mount: %s)\n", strerror(errno));
		ck_assert_int_eq(rmdir(g.dir), 0);
		ck_assert_int_eq(rename(orig, g.dir), 0);
		return;
	}
	snprintf(mounted, sizeof(mounted), "%s", g.dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", orig, g.dir);
	ck_assert_int_eq(system(cmd), 0);

	start_daemon();
	cps = checkpoints();
	rows = audit_rows();
	snprintf(dir, sizeof(dir), "%s/pack", g.base);
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2000-01-01", "--to", "2100-01-01",
	    "--out", dir);
	ck_assert_int_eq(r1.status, 4);
	snprintf(want, sizeof(want), "not enough free space in %s for the pack: up to ", g.dir);
	assert_error_line(&r1, want);
	ck_assert_ptr_nonnull(strstr(r1.err, " audit rows, "));
	ck_assert(!exists(dir));
	ck_assert_int_eq(checkpoints(), cps);
	ck_assert_int_eq(audit_rows(), rows);
	ck_assert_int_eq(entries_like(g.dir, ".report-"), 0);
	/* A narrow period fits. */
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2001-01-01", "--to", "2001-01-02",
	    "--out", dir);
	ck_assert_msg(r1.status == 0, "exit %d: %s", r1.status, r1.err);
	ck_assert_uint_eq(auth_once(), 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Appends one encoded message to a fake reply. */
static void put_msg(unsigned char *buf, size_t cap, size_t *len, const struct lk_admin_msg *m)
{
	struct lk_err err = { { 0 } };
	size_t n;

	ck_assert_int_eq(lk_admin_encode(m, buf + *len, cap - *len, &n, &err), LK_OK);
	*len += n;
}

#define M_FILE(n) (&(struct lk_admin_msg){ .type = LK_ADMIN_FILE, .name = (n) })
#define M_DATA(s)                \
	(&(struct lk_admin_msg){ \
	    .type = LK_ADMIN_DATA, .data = (const unsigned char *)(s), .len = strlen(s) })
#define M_FEND(sz) (&(struct lk_admin_msg){ .type = LK_ADMIN_FILE_END, .size = (sz) })
#define M_OUT(s)                 \
	(&(struct lk_admin_msg){ \
	    .type = LK_ADMIN_OUT, .data = (const unsigned char *)(s), .len = strlen(s) })
#define M_END(st)  (&(struct lk_admin_msg){ .type = LK_ADMIN_END, .exit_status = (st) })
#define M_ERROR(s) (&(struct lk_admin_msg){ .type = LK_ADMIN_ERROR, .error = s })

/* The client's side of files against a fake latchkeyd: what a good reply
 * writes, and that a bad one (out of order, a wrong size, a name that is
 * a path, a repeated name, an ERROR mid-file) leaves nothing behind. */
START_TEST(test_report_client)
{
	static unsigned char reply[4096];
	static const unsigned char bad_name[] = { 0, 0,   0,   7,   1,  LK_ADMIN_FILE,
		                                  4, '.', '.', '/', 'x' };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX * 2], path[PATH_MAX * 3], text[64] = "";
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t len;
	pid_t pid;
	FILE *f;
	struct {
		int step; /* which reply */
		const char *want;
	} rows[] = {
		{ 1, "a file cut short" },       { 2, "has 3 bytes, 2 were sent" },
		{ 3, "cannot create" },          { 4, "latchkeyd could not run the request: gone" },
		{ 5, "a report with no files" }, { 6, "bad or no reply" },
		{ 7, "data outside a file" },
	};

	ck_assert_int_ge(lfd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.admin_sock);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	snprintf(dir, sizeof(dir), "%s/pack", g.base);

	/* A good reply: the file, then the output and END 0. */
	len = 0;
	put_msg(reply, sizeof(reply), &len, M_FILE("a.txt"));
	put_msg(reply, sizeof(reply), &len, M_DATA("h"));
	put_msg(reply, sizeof(reply), &len, M_DATA("i"));
	put_msg(reply, sizeof(reply), &len, M_FEND(2));
	put_msg(reply, sizeof(reply), &len, M_OUT("ok\n"));
	put_msg(reply, sizeof(reply), &len, M_END(0));
	pid = fake_daemon(lfd, reply, len);
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(wait_status(pid), 0);
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	ck_assert_str_eq(r1.out, "ok\n");
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
	fclose(f);
	ck_assert_str_eq(text, "hi");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		len = 0;
		if (rows[i].step != 6 && rows[i].step != 7 && rows[i].step != 5) {
			put_msg(reply, sizeof(reply), &len, M_FILE("a.txt"));
			put_msg(reply, sizeof(reply), &len, M_DATA("hi"));
		}
		switch (rows[i].step) {
		case 1: /* END inside a file */
			put_msg(reply, sizeof(reply), &len, M_END(0));
			break;
		case 2:
			put_msg(reply, sizeof(reply), &len, M_FEND(3));
			break;
		case 3: /* the same name twice: never over a file */
			put_msg(reply, sizeof(reply), &len, M_FEND(2));
			put_msg(reply, sizeof(reply), &len, M_FILE("a.txt"));
			break;
		case 4:
			put_msg(reply, sizeof(reply), &len, M_ERROR("gone"));
			break;
		case 5:
			put_msg(reply, sizeof(reply), &len, M_END(0));
			break;
		case 6: /* a path where a name is due: the decoder refuses it */
			memcpy(reply, bad_name, sizeof(bad_name));
			len = sizeof(bad_name);
			break;
		case 7:
			put_msg(reply, sizeof(reply), &len, M_DATA("hi"));
			break;
		}
		pid = fake_daemon(lfd, reply, len);
		RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01", "--to",
		    "2026-02-01", "--out", dir);
		ck_assert_int_eq(wait_status(pid), 0);
		ck_assert_msg(r1.status == 4, "row %zu: exit %d", i, r1.status);
		assert_error_line(&r1, rows[i].want);
		ck_assert_msg(!exists(dir), "row %zu: %s is left", i, dir);
	}
	/* An existing empty DIR stays (it was the caller's), emptied again. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	len = 0;
	put_msg(reply, sizeof(reply), &len, M_FILE("a.txt"));
	put_msg(reply, sizeof(reply), &len, M_FEND(0));
	put_msg(reply, sizeof(reply), &len, M_END(3));
	pid = fake_daemon(lfd, reply, len);
	RUN(&r1, NULL, "-c", g.conf, "report", "soc2", "--from", "2026-01-01", "--to", "2026-02-01",
	    "--out", dir);
	ck_assert_int_eq(wait_status(pid), 0);
	ck_assert_int_eq(r1.status, 3);
	ck_assert_int_eq(entries_like(dir, ""), 2);
	/* Files to a verb that asked for none. */
	len = 0;
	put_msg(reply, sizeof(reply), &len, M_FILE("a.txt"));
	pid = fake_daemon(lfd, reply, len);
	RUN(&r1, NULL, "-c", g.conf, "key", "list");
	ck_assert_int_eq(wait_status(pid), 0);
	ck_assert_int_eq(r1.status, 4);
	assert_error_line(&r1, "a file where none is due");
	close(lfd);
}
END_TEST

/* FILE, DATA, FILE_END and the FILES flag: bounds both ways. */
START_TEST(test_codec_files)
{
	static const char *const bad[] = { "",    ".",    "..", ".hidden", "a/b", "../x",
		                           "a b", "a\\b", "é",  "a:b",     "-\n" };
	char *const argv[] = { "report", "soc2", NULL };
	char name[LK_ADMIN_NAME_MAX + 2];
	unsigned char buf[LK_ADMIN_FRAME_BUF];
	struct lk_admin_request q;
	struct lk_admin_msg m;
	struct lk_err err = { { 0 } };
	size_t len;

	ck_assert_int_eq(lk_admin_request_encode(LK_ADMIN_FILES | LK_ADMIN_JSON, 2, argv, NULL, 0,
	                                         buf, sizeof(buf), &len, &err),
	                 LK_OK);
	ck_assert_uint_eq(buf[6], LK_ADMIN_FILES | LK_ADMIN_JSON);
	ck_assert_int_eq(lk_admin_request_decode(buf + 4, len - 4, &q, &err), LK_OK);
	ck_assert(q.files && q.json && !q.has_in);
	lk_admin_request_free(&q);
	ck_assert_int_eq(
	    lk_admin_request_encode(LK_ADMIN_STDIN, 2, argv, NULL, 0, buf, sizeof(buf), &len, &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_admin_request_encode(8, 2, argv, NULL, 0, buf, sizeof(buf), &len, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(
	    lk_admin_request_decode((const unsigned char[]){ 1, 1, 8, 1, 0, 1, 'k' }, 7, &q, &err),
	    LK_EINVAL);

	/* FILE: the longest name, and every bad one refused both ways. */
	memset(name, 'a', LK_ADMIN_NAME_MAX);
	name[LK_ADMIN_NAME_MAX] = '\0';
	m = (struct lk_admin_msg){ .type = LK_ADMIN_FILE };
	memcpy(m.name, name, LK_ADMIN_NAME_MAX + 1);
	ck_assert_int_eq(lk_admin_encode(&m, buf, sizeof(buf), &len, &err), LK_OK);
	ck_assert_uint_eq(len, 4 + 2 + 1 + LK_ADMIN_NAME_MAX);
	ck_assert_int_eq(lk_admin_decode(buf + 4, len - 4, &m, &err), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_FILE);
	ck_assert_str_eq(m.name, name);
	buf[6] = LK_ADMIN_NAME_MAX + 1; /* a name over the bound */
	buf[len++] = 'a';
	ck_assert_int_eq(lk_admin_decode(buf + 4, len - 4, &m, &err), LK_EINVAL);
	ck_assert(lk_admin_name_ok("MANIFEST.sha256.sig", 19));
	ck_assert(!lk_admin_name_ok(name, LK_ADMIN_NAME_MAX + 1));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char frame_[80] = { 1, LK_ADMIN_FILE, (unsigned char)strlen(bad[i]) };
		m = (struct lk_admin_msg){ .type = LK_ADMIN_FILE };
		snprintf(m.name, sizeof(m.name), "%s", bad[i]);
		ck_assert_msg(lk_admin_encode(&m, buf, sizeof(buf), &len, &err) == LK_EINVAL,
		              "encoded '%s'", bad[i]);
		memcpy(frame_ + 3, bad[i], strlen(bad[i]));
		ck_assert_msg(lk_admin_decode(frame_, 3 + strlen(bad[i]), &m, &err) == LK_EINVAL,
		              "decoded '%s'", bad[i]);
	}
	/* A NUL inside the name, a length past the payload, trailing bytes. */
	ck_assert_int_eq(
	    lk_admin_decode((const unsigned char[]){ 1, 7, 3, 'a', 0, 'b' }, 6, &m, &err),
	    LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 7, 3, 'a', 'b' }, 5, &m, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 7, 1, 'a', 'b' }, 5, &m, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 7 }, 2, &m, &err), LK_EINVAL);

	/* DATA: 1 .. LK_ADMIN_CHUNK_MAX bytes. */
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 8 }, 2, &m, &err), LK_EINVAL);
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 8, 0 }, 3, &m, &err), LK_OK);
	ck_assert_uint_eq(m.len, 1);
	ck_assert_int_eq(lk_admin_encode(&(struct lk_admin_msg){ .type = LK_ADMIN_DATA,
	                                                         .data = buf,
	                                                         .len = LK_ADMIN_CHUNK_MAX + 1 },
	                                 buf, sizeof(buf), &len, &err),
	                 LK_EINVAL);
	ck_assert_int_eq(lk_admin_encode(&(struct lk_admin_msg){ .type = LK_ADMIN_DATA, .len = 0 },
	                                 buf, sizeof(buf), &len, &err),
	                 LK_EINVAL);

	/* FILE_END: exactly a u64. */
	ck_assert_int_eq(lk_admin_encode(&(struct lk_admin_msg){ .type = LK_ADMIN_FILE_END,
	                                                         .size = 0x0102030405060708ull },
	                                 buf, sizeof(buf), &len, &err),
	                 LK_OK);
	ck_assert_uint_eq(len, 4 + 2 + 8);
	ck_assert_int_eq(lk_admin_decode(buf + 4, len - 4, &m, &err), LK_OK);
	ck_assert(m.size == 0x0102030405060708ull);
	ck_assert_int_eq(lk_admin_decode(buf + 4, len - 5, &m, &err), LK_EINVAL);
	buf[len] = 0;
	ck_assert_int_eq(lk_admin_decode(buf + 4, len - 3, &m, &err), LK_EINVAL);
	/* The next type is still unknown. */
	ck_assert_int_eq(lk_admin_decode((const unsigned char[]){ 1, 10, 0 }, 3, &m, &err),
	                 LK_EINVAL);
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("remote");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_remote_issue_verify);
	tcase_add_test(tc, test_same_as_offline);
	tcase_add_test(tc, test_large_output);
	tcase_add_test(tc, test_offline_rules);
	tcase_add_test(tc, test_roles);
	tcase_add_test(tc, test_garbage_frames);
	tcase_add_test(tc, test_bad_replies);
	tcase_add_test(tc, test_undelivered_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("roles");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_role_config, 0,
	                    (int)(sizeof(role_rows) / sizeof(role_rows[0])));
	tcase_add_test(tc, test_role_resolution);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_report_daemon);
	tcase_add_test(tc, test_report_refusals);
	tcase_add_test(tc, test_report_client);
	tcase_add_test(tc, test_report_stop);
	tcase_add_test(tc, test_report_no_room);
	suite_add_tcase(s, tc);

	tc = tcase_create("codec");
	tcase_add_test(tc, test_codec);
	tcase_add_test(tc, test_codec_files);
	tcase_add_test(tc, test_report_limits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return EXIT_FAILURE;
	return fixture_run(admin_suite(), "latchkey-admin");
}
