/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkey totp ...: the verbs as a real process, --offline on a state dir
 * made by the daemon fixture, and through a spawned latchkeyd's admin
 * socket. Codes are computed from the printed URI's secret, as an
 * authenticator app computes them (lk_base32_decode, lk_hotp). Bad input
 * changes nothing: the audit head (`audit verify --json`) and the TOTP
 * rows are compared before and after.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <regex.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_QRENCODE
#include <qrencode.h>
#endif

#include "daemon-fixture.h"
#include "testutil.h"
#include "totp-private.h"

#define ARGV_MAX 24
#define NOBODY   ((uid_t)65534)
#define SELF     ((uid_t)-1)
/* A stdin of this size for the row that says so. */
#define BIG_STDIN (1024 * 1024)
static const char big_marker[] = "(1 MiB)";

/* One run of the command: status, all of stdout and stderr. */
struct run {
	int status;
	char *out, *err;
	size_t out_len, err_len;
};

/* Freed in teardown: a failed assertion skips whatever follows it. */
static struct run r1;

/* The fields of an otpauth:// URI, percent-decoded. */
struct uri {
	char label[600], secret[LK_TOTP_URI_MAX], issuer[200], algorithm[16];
	unsigned digits, period;
};

static char *slurp(const char *path, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	while ((n = read(fd, buf + len, cap - len - 1)) > 0 || (n < 0 && errno == EINTR)) {
		len += n > 0 ? (size_t)n : 0;
		if (cap - len - 1 == 0) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
	}
	close(fd);
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static void write_all_to(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/*
 * Runs latchkey -c g.conf args (with --offline while no daemon runs) with
 * in_len bytes of in on stdin. Standard streams go through files, so any
 * size of stdin works and nothing has to be drained; stdout goes to
 * out_path instead when it is not NULL (/dev/full).
 */
static void run_in(struct run *r, uid_t uid, const char *in, size_t in_len, const char *out_path,
                   const char *const *args)
{
	char in_file[PATH_MAX + 32], out_file[PATH_MAX + 32], err_file[PATH_MAX + 32];
	const char *argv[ARGV_MAX + 5];
	size_t n = 0;
	pid_t pid;

	snprintf(in_file, sizeof(in_file), "%s/stdin", g.base);
	snprintf(out_file, sizeof(out_file), "%s/stdout", g.base);
	snprintf(err_file, sizeof(err_file), "%s/stderr", g.base);
	write_all_to(in_file, in != NULL ? in : "", in_len);
	argv[n++] = bin("LATCHKEY_BIN");
	if (g.daemon == 0)
		argv[n++] = "--offline";
	argv[n++] = "-c";
	argv[n++] = g.conf;
	for (size_t i = 0; args[i] != NULL; i++) {
		ck_assert_uint_lt(i, ARGV_MAX);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in_fd = open(in_file, O_RDONLY);
		int out_fd = open(out_path != NULL ? out_path : out_file,
		                  O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err_fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in_fd < 0 || out_fd < 0 || err_fd < 0 || dup2(in_fd, 0) < 0 ||
		    dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			_exit(120);
		/* The files are open: now whoever the test runs as. */
		if (uid != SELF &&
		    (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid(uid) != 0))
			_exit(122);
		/* Another uid cannot write the suite's temp root (valgrind, when
		 * it traces this child, keeps files in TMPDIR). */
		if (uid != SELF)
			setenv("TMPDIR", "/tmp", 1);
		execv(argv[0], (char *const *)argv);
		_exit(121);
	}
	r->status = wait_status(pid);
	ck_assert_msg(r->status < 120, "the child could not run latchkey (%d)", r->status);
	free(r->out);
	free(r->err);
	if (out_path != NULL)
		write_all_to(out_file, "", 0);
	r->out = slurp(out_file, &r->out_len);
	r->err = slurp(err_file, &r->err_len);
}

static size_t len_or_0(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

#define RUN_AS(uid, in, ...) \
	run_in(&r1, (uid), (in), len_or_0(in), NULL, (const char *const[]){ __VA_ARGS__, NULL })
#define RUN(in, ...) RUN_AS(SELF, (in), __VA_ARGS__)

/* Exit status want, or the test fails showing what the command said. */
#define ASSERT_STATUS(want)                                                                        \
	ck_assert_msg(r1.status == (want), "exit %d, want %d; stdout [%s] stderr [%s]", r1.status, \
	              (want), r1.out, r1.err)

/* stderr is exactly one line "latchkey: ...", containing want. */
static void assert_one_error_line(const struct run *r, const char *want)
{
	const char *nl = strchr(r->err, '\n');

	ck_assert_msg(strncmp(r->err, "latchkey: ", 10) == 0 && nl != NULL && nl[1] == '\0',
	              "stderr is not one 'latchkey: ' line: [%s]", r->err);
	ck_assert_msg(strstr(r->err, want) != NULL, "stderr [%s] lacks '%s'", r->err, want);
}

/* ---- The URI, the codes an app computes, the QR code ---- */

static void percent_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t k = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned v;
		ck_assert_uint_lt(k + 1, outlen);
		if (s[i] == '%') {
			ck_assert_msg(i + 2 < len && sscanf(s + i + 1, "%2x", &v) == 1,
			              "bad escape in [%.*s]", (int)len, s);
			out[k++] = (char)v;
			i += 2;
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
}

/* Key Uri Format: otpauth://totp/LABEL?secret=..&issuer=..&algorithm=..
 * &digits=..&period=..; every one of those parameters present. */
static void parse_uri(const char *line, size_t len, struct uri *u)
{
	static const char prefix[] = "otpauth://totp/";
	const char *q = memchr(line, '?', len), *p, *end = line + len;
	bool seen[5] = { false };

	memset(u, 0, sizeof(*u));
	ck_assert_msg(len > strlen(prefix) && memcmp(line, prefix, strlen(prefix)) == 0 &&
	                  q != NULL,
	              "not an otpauth URI: [%.*s]", (int)len, line);
	percent_decode(line + strlen(prefix), (size_t)(q - line) - strlen(prefix), u->label,
	               sizeof(u->label));
	for (p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		size_t n = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);
		char value[LK_TOTP_URI_MAX];
		eq = memchr(p, '=', n);
		ck_assert_ptr_nonnull(eq);
		percent_decode(eq + 1, n - (size_t)(eq + 1 - p), value, sizeof(value));
		if (strncmp(p, "secret=", 7) == 0) {
			snprintf(u->secret, sizeof(u->secret), "%s", value);
			seen[0] = true;
		} else if (strncmp(p, "issuer=", 7) == 0) {
			snprintf(u->issuer, sizeof(u->issuer), "%s", value);
			seen[1] = true;
		} else if (strncmp(p, "algorithm=", 10) == 0) {
			snprintf(u->algorithm, sizeof(u->algorithm), "%s", value);
			seen[2] = true;
		} else if (strncmp(p, "digits=", 7) == 0) {
			u->digits = (unsigned)atoi(value);
			seen[3] = true;
		} else if (strncmp(p, "period=", 7) == 0) {
			u->period = (unsigned)atoi(value);
			seen[4] = true;
		} else {
			ck_abort_msg("unknown URI parameter [%.*s]", (int)n, p);
		}
		sodium_memzero(value, sizeof(value));
		p += n + 1;
	}
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		ck_assert_msg(seen[i], "URI parameter %zu missing", i);
}

/* The URI's fields are these. */
static void assert_uri(const struct uri *u, const char *label, const char *issuer,
                       const char *algorithm, unsigned digits, unsigned period)
{
	ck_assert_str_eq(u->label, label);
	ck_assert_str_eq(u->issuer, issuer);
	ck_assert_str_eq(u->algorithm, algorithm);
	ck_assert_uint_eq(u->digits, digits);
	ck_assert_uint_eq(u->period, period);
}

/* The URI on stdout's first line. */
static void take_uri(const char *out, struct uri *u)
{
	parse_uri(out, strcspn(out, "\n"), u);
}

/* The code an app shows at time t. */
static void code_at(const struct uri *u, int64_t t, char *out, size_t outlen)
{
	unsigned char seed[LK_TOTP_SEED_MAX];
	enum lk_totp_alg alg;
	size_t len = 0;

	ck_assert_int_eq(lk_base32_decode(u->secret, seed, sizeof(seed), &len), LK_OK);
	ck_assert_int_eq(lk_totp_alg_parse(u->algorithm, &alg), LK_OK);
	ck_assert_int_eq(lk_hotp(seed, len, alg, u->digits, (uint64_t)t / u->period, out, outlen),
	                 LK_OK);
	sodium_memzero(seed, sizeof(seed));
}

/* "CODE\n" for now, ready for stdin. */
static void code_line(const struct uri *u, char line[16])
{
	char code[LK_TOTP_DIGITS_MAX + 1];

	code_at(u, (int64_t)time(NULL), code, sizeof(code));
	snprintf(line, 16, "%s\n", code);
}

/* Ten lines "  xxxx-xxxx-xxxx-xxxx" under their heading, into codes. */
static void take_recovery(const char *out, char codes[LK_TOTP_RECOVERY_CODES][32])
{
	static const char heading[] = "recovery codes (each works once; keep them offline):\n";
	const char *p = strstr(out, heading);
	regex_t re;

	ck_assert_msg(p != NULL, "no recovery codes in [%s]", out);
	ck_assert_int_eq(regcomp(&re, "^  [a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$",
	                         REG_EXTENDED | REG_NOSUB),
	                 0);
	p += strlen(heading);
	for (size_t i = 0; i < LK_TOTP_RECOVERY_CODES; i++) {
		size_t n = strcspn(p, "\n");
		ck_assert_uint_lt(n, 32);
		snprintf(codes[i], 32, "%.*s", (int)n, p);
		ck_assert_msg(regexec(&re, codes[i], 0, NULL, 0) == 0, "bad recovery line [%s]",
		              codes[i]);
		p += n + (p[n] == '\n');
	}
	ck_assert_msg(*p == '\0', "more after the recovery codes: [%s]", p);
	regfree(&re);
}

#ifdef HAVE_QRENCODE
/* Drawn (light module or quiet zone of 4) at (x, y) of the whole block. */
static bool qr_lit(const QRcode *qr, int x, int y)
{
	int w = qr->width;

	if (y >= w + 8)
		return false;
	if (x < 4 || y < 4 || x >= w + 4 || y >= w + 4)
		return true;
	return (qr->data[(y - 4) * w + (x - 4)] & 1) == 0;
}
#endif

/*
 * After the URI and a blank line: with libqrencode, a block of half-block
 * characters that reads back, cell by cell, as the very modules
 * libqrencode makes of the URI, inside a quiet zone, then a blank line;
 * without it, no block at all.
 */
static void assert_qr(const char *out)
{
	char uri[LK_TOTP_URI_MAX + 1];
#ifdef HAVE_QRENCODE
	const char *p = strchr(out, '\n');
	QRcode *qr;
	int side;

	snprintf(uri, sizeof(uri), "%.*s", (int)strcspn(out, "\n"), out);
	qr = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);

	ck_assert_ptr_nonnull(qr);
	side = qr->width + 8;
	ck_assert(p != NULL && p[1] == '\n');
	p += 2;
	for (int y = 0; y < side; y += 2) {
		for (int x = 0; x < side; x++) {
			bool top = qr_lit(qr, x, y), bottom = qr_lit(qr, x, y + 1);
			const char *want = top && bottom ? "\xe2\x96\x88"
			                   : top         ? "\xe2\x96\x80"
			                   : bottom      ? "\xe2\x96\x84"
			                                 : " ";
			ck_assert_msg(strncmp(p, want, strlen(want)) == 0,
			              "QR cell (%d, %d) is wrong: [%.12s]", x, y, p);
			p += strlen(want);
		}
		ck_assert_msg(*p == '\n', "QR row %d is too long", y);
		p++;
	}
	ck_assert_msg(*p == '\n', "no blank line after the QR code");
	QRcode_free(qr);
#else
	uri[0] = '\0';
	ck_assert_ptr_null(strstr(out, "\xe2\x96"));
#endif
	sodium_memzero(uri, sizeof(uri));
}

/* Nothing of the seed or the codes in text (stderr, an audit log). */
static void assert_no_secret(const char *text, const struct uri *u, const char *where)
{
	char head[17];

	snprintf(head, sizeof(head), "%s", u->secret);
	ck_assert_msg(strstr(text, head) == NULL, "%s holds part of the secret", where);
	ck_assert_msg(strstr(text, "otpauth") == NULL, "%s holds the URI", where);
}

/* ---- What "nothing changed" means here ---- */

struct state {
	char head[512], creds[1024], recovery[256];
};

static void snap(struct state *s)
{
	RUN(NULL, "audit", "verify", "--json");
	ASSERT_STATUS(0);
	snprintf(s->head, sizeof(s->head), "%s", r1.out);
	db_text("SELECT group_concat(cred_id || status || coalesce(confirmed, '-') || "
	        "coalesce(last_step, '-'), ',') FROM (SELECT * FROM totp_credential ORDER BY "
	        "cred_id)",
	        NULL, s->creds, sizeof(s->creds));
	db_text("SELECT count(*) || '/' || count(used_at) || '/' || "
	        "coalesce(sum(length(hash)), 0) FROM totp_recovery",
	        NULL, s->recovery, sizeof(s->recovery));
}

static void assert_unchanged(const struct state *before)
{
	struct state now;
	struct run keep = r1;

	/* snap runs a command of its own: keep the row's output for messages. */
	r1 = (struct run){ 0 };
	snap(&now);
	free(r1.out);
	free(r1.err);
	r1 = keep;
	ck_assert_str_eq(now.head, before->head);
	ck_assert_str_eq(now.creds, before->creds);
	ck_assert_str_eq(now.recovery, before->recovery);
}

/* ---- Helpers for the verbs ---- */

static void enroll(const char *user, struct uri *u)
{
	RUN(NULL, "totp", "enroll", user);
	ASSERT_STATUS(0);
	take_uri(r1.out, u);
}

static void confirm(const char *user, const struct uri *u)
{
	char line[16];

	code_line(u, line);
	RUN(line, "totp", "confirm", user);
	sodium_memzero(line, sizeof(line));
	ASSERT_STATUS(0);
}

/* An enrollment nobody received is reset with this reason (cli/cli-private.h,
 * CLI_TOTP_UNDELIVERED). */
static const char undelivered[] = "undelivered: the enrollment could not be written out";
static const char undelivered_resets[] =
    "SELECT count(*) FROM audit WHERE action = 'totp.reset' AND reason = ?1";

/* Every recovery code's hash, in order: what changes when codes are
 * replaced. */
static void recovery_hashes(char *ret, size_t len)
{
	db_text("SELECT group_concat(hex(hash)) FROM (SELECT hash FROM totp_recovery ORDER BY "
	        "hash)",
	        NULL, ret, len);
}

static long audit_count(const char *action)
{
	return db_long("SELECT count(*) FROM audit WHERE action = ?1", action);
}

static void setup(void)
{
	fixture_setup("latchkey-cli-totp");
}

static void teardown(void)
{
	fixture_teardown();
	free(r1.out);
	free(r1.err);
	memset(&r1, 0, sizeof(r1));
}

/* ---- The life cycle, --offline ---- */

START_TEST(test_lifecycle)
{
	char codes[LK_TOTP_RECOVERY_CODES][32], again[LK_TOTP_RECOVERY_CODES][32], line[16];
	char wrong[LK_TOTP_DIGITS_MAX + 1];
	struct uri u, b;

	/* Enroll: the URI, its QR code, ten recovery codes; details on stderr. */
	RUN(NULL, "totp", "enroll", "alice");
	ASSERT_STATUS(0);
	take_uri(r1.out, &u);
	assert_uri(&u, "Latchkey:alice", "Latchkey", "SHA1", 6, 30);
	{
		unsigned char seed[LK_TOTP_SEED_MAX];
		char round_trip[LK_TOTP_URI_MAX];
		size_t len = 0;
		ck_assert_int_eq(lk_base32_decode(u.secret, seed, sizeof(seed), &len), LK_OK);
		ck_assert_uint_eq(len, LK_TOTP_SEED_LEN);
		ck_assert_int_eq(lk_base32_encode(seed, len, round_trip, sizeof(round_trip)),
		                 LK_OK);
		ck_assert_str_eq(round_trip, u.secret);
		sodium_memzero(seed, sizeof(seed));
	}
	assert_qr(r1.out);
	take_recovery(r1.out, codes);
	ck_assert_ptr_nonnull(strstr(r1.err, "pending"));
	ck_assert_ptr_nonnull(strstr(r1.err, "totp confirm alice"));
	assert_no_secret(r1.err, &u, "enroll's stderr");
	ck_assert_int_eq(audit_count("totp.enroll"), 1);

	/* Pending, and never the seed. */
	RUN(NULL, "totp", "show", "alice");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "status         pending"));
	ck_assert_ptr_nonnull(strstr(r1.out, "confirmed      never"));
	ck_assert_ptr_nonnull(strstr(r1.out, "recovery left  10"));
	assert_no_secret(r1.out, &u, "show");

	/* A well-formed code that does not match: denied, audited. */
	code_at(&u, (int64_t)time(NULL), wrong, sizeof(wrong));
	wrong[0] = wrong[0] == '9' ? '0' : (char)(wrong[0] + 1);
	snprintf(line, sizeof(line), "%s\n", wrong);
	RUN(line, "totp", "confirm", "alice");
	ASSERT_STATUS(1);
	assert_one_error_line(&r1, "does not match");
	ck_assert_ptr_null(strstr(r1.err, wrong));
	ck_assert_int_eq(audit_count("totp.confirm-failed"), 1);

	/* The app's code activates it; once. */
	confirm("alice", &u);
	ck_assert_str_eq(r1.out, "alice: TOTP active\n");
	code_line(&u, line);
	RUN(line, "totp", "confirm", "alice");
	ASSERT_STATUS(3);
	assert_one_error_line(&r1, "alice");
	RUN(NULL, "totp", "enroll", "alice");
	ASSERT_STATUS(3);
	assert_one_error_line(&r1, "alice");
	ck_assert_str_eq(r1.out, "");

	RUN(NULL, "totp", "show", "alice", "--json");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"user\":\"alice\""));
	ck_assert_ptr_nonnull(strstr(r1.out, "\"status\":\"active\""));
	ck_assert_ptr_nonnull(strstr(r1.out, "\"algorithm\":\"SHA1\""));
	ck_assert_ptr_nonnull(strstr(r1.out, "\"recovery_codes_left\":10"));
	ck_assert_ptr_null(strstr(r1.out, "\"confirmed\":null"));
	assert_no_secret(r1.out, &u, "show --json");

	/* Other parameters, in the URI and in the code that confirms. */
	RUN(NULL, "totp", "enroll", "bob@example.com", "--algorithm", "sha256", "--digits", "8",
	    "--period", "60", "--issuer", "Example Corp");
	ASSERT_STATUS(0);
	take_uri(r1.out, &b);
	assert_uri(&b, "Example Corp:bob@example.com", "Example Corp", "SHA256", 8, 60);
	confirm("bob@example.com", &b);

	RUN(NULL, "totp", "list");
	ASSERT_STATUS(0);
	ck_assert_msg(strncmp(r1.out, "USER ", 5) == 0, "[%s]", r1.out);
	ck_assert_ptr_nonnull(strstr(r1.out, "\nalice "));
	ck_assert_ptr_nonnull(strstr(r1.out, "\nbob@example.com "));
	ck_assert_ptr_nonnull(strstr(r1.out, " SHA256 "));
	assert_no_secret(r1.out, &u, "list");
	assert_no_secret(r1.out, &b, "list");
	RUN(NULL, "totp", "list", "--json");
	ASSERT_STATUS(0);
	ck_assert_msg(r1.out[0] == '[' && strstr(r1.out, "\"period\":60") != NULL, "[%s]", r1.out);

	/* New recovery codes, shown once, none of the old ones. */
	RUN(NULL, "totp", "recovery", "regenerate", "alice");
	ASSERT_STATUS(0);
	take_recovery(r1.out, again);
	for (size_t i = 0; i < LK_TOTP_RECOVERY_CODES; i++)
		for (size_t k = 0; k < LK_TOTP_RECOVERY_CODES; k++)
			ck_assert_str_ne(again[i], codes[k]);
	RUN(NULL, "totp", "recovery", "regenerate", "alice", "--json");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"recovery_codes\":[\""));

	/* Reset: gone, and the user can enroll again. Remove: gone. */
	RUN(NULL, "totp", "reset", "alice", "--reason", "lost phone (INC-7)");
	ASSERT_STATUS(0);
	RUN(NULL, "totp", "show", "alice");
	ASSERT_STATUS(3);
	assert_one_error_line(&r1, "alice");
	enroll("alice", &u);
	RUN(NULL, "totp", "remove", "bob@example.com", "--reason", "left", "--json");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"action\":\"remove\""));
	RUN(NULL, "totp", "show", "bob@example.com");
	ASSERT_STATUS(3);
	ck_assert_int_eq(db_long("SELECT count(*) FROM totp_credential", NULL), 1);

	/* Every step in the chain; no seed, code or URI anywhere in it. */
	ck_assert_int_eq(audit_count("totp.reset"), 1);
	ck_assert_int_eq(audit_count("totp.remove"), 1);
	RUN(NULL, "audit", "log");
	ASSERT_STATUS(0);
	assert_no_secret(r1.out, &u, "the audit log");
	assert_no_secret(r1.out, &b, "the audit log");
	for (size_t i = 0; i < LK_TOTP_RECOVERY_CODES; i++)
		ck_assert_ptr_null(strstr(r1.out, again[i] + 2));
	RUN(NULL, "audit", "verify");
	ASSERT_STATUS(0);
	sodium_memzero(codes, sizeof(codes));
	sodium_memzero(again, sizeof(again));
}
END_TEST

/* --json: one object with the URI and the codes, no QR code. */
START_TEST(test_json_enroll)
{
	RUN(NULL, "totp", "enroll", "carol", "--json");
	ASSERT_STATUS(0);
	ck_assert_msg(strncmp(r1.out, "{\"uri\":\"otpauth://totp/Latchkey:carol?secret=", 45) == 0,
	              "[%s]", r1.out);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"recovery_codes\":[\""));
	ck_assert_ptr_nonnull(strstr(r1.out, "\"status\":\"pending\""));
	ck_assert_ptr_null(strstr(r1.out, "\xe2\x96"));
	ck_assert_str_eq(r1.err, "");
	RUN(NULL, "totp", "show", "nobody", "--json");
	ASSERT_STATUS(3);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"error\":"));
	ck_assert_ptr_nonnull(strstr(r1.out, "\"exit\":3"));
}
END_TEST

/* A secret that cannot be written out is held by nobody: voided. */
START_TEST(test_undelivered_offline)
{
	char hashes[512], after[512];
	struct uri u;

	run_in(&r1, SELF, NULL, 0, "/dev/full",
	       (const char *const[]){ "totp", "enroll", "erin", NULL });
	ASSERT_STATUS(4);
	ck_assert_ptr_nonnull(strstr(r1.err, "it has been reset"));
	RUN(NULL, "totp", "show", "erin");
	ASSERT_STATUS(3);
	ck_assert_int_eq(db_long(undelivered_resets, undelivered), 1);

	/* Recovery codes: the ones nobody saw stop working. */
	enroll("erin", &u);
	confirm("erin", &u);
	recovery_hashes(hashes, sizeof(hashes));
	run_in(&r1, SELF, NULL, 0, "/dev/full",
	       (const char *const[]){ "totp", "recovery", "regenerate", "erin", NULL });
	ASSERT_STATUS(4);
	ck_assert_ptr_nonnull(strstr(r1.err, "no longer work"));
	recovery_hashes(after, sizeof(after));
	ck_assert_str_ne(hashes, after);
	RUN(NULL, "totp", "show", "erin");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "status         active"));
	RUN(NULL, "audit", "verify");
	ASSERT_STATUS(0);
}
END_TEST

/* ---- Bad input: exit status, one line naming the value, nothing changed ---- */

/* alice active, carol pending; the rows change nothing. */
static void table_setup(void)
{
	struct uri u;

	setup();
	enroll("alice", &u);
	confirm("alice", &u);
	enroll("carol", &u);
}

static const struct bad_row {
	const char *argv[ARGV_MAX];
	const char *in; /* stdin; big_marker: 1 MiB of digits */
	int status;
	const char *msg;
} bad_rows[] = {
	{ { "totp" }, NULL, 2, "missing totp command" },
	{ { "totp", "bogus" }, NULL, 2, "'bogus'" },
	{ { "totp", "recovery" }, NULL, 2, "regenerate" },
	{ { "totp", "recovery", "bogus", "alice" }, NULL, 2, "'bogus'" },
	{ { "totp", "enroll" }, NULL, 2, "missing user" },
	{ { "totp", "enroll", "dave", "extra" }, NULL, 2, "'extra'" },
	{ { "totp", "enroll", "dave", "--digits", "5" }, NULL, 2, "'5'" },
	{ { "totp", "enroll", "dave", "--digits", "9" }, NULL, 2, "'9'" },
	{ { "totp", "enroll", "dave", "--digits", "six" }, NULL, 2, "'six'" },
	{ { "totp", "enroll", "dave", "--digits" }, NULL, 2, "--digits" },
	{ { "totp", "enroll", "dave", "--period", "0" }, NULL, 2, "'0'" },
	{ { "totp", "enroll", "dave", "--period", "14" }, NULL, 2, "'14'" },
	{ { "totp", "enroll", "dave", "--period", "301" }, NULL, 2, "'301'" },
	{ { "totp", "enroll", "dave", "--period", "30s" }, NULL, 2, "'30s'" },
	{ { "totp", "enroll", "dave", "--period", "-30" }, NULL, 2, "'-30'" },
	{ { "totp", "enroll", "dave", "--algorithm", "MD5" }, NULL, 2, "'MD5'" },
	{ { "totp", "enroll", "dave", "--algorithm", "" }, NULL, 2, "''" },
	{ { "totp", "enroll", "dave", "--reason", "x" }, NULL, 2, "--reason" },
	{ { "totp", "enroll", "dave", "--bogus" }, NULL, 2, "--bogus" },
	{ { "totp", "enroll", "alice" }, NULL, 3, "alice" },
	{ { "totp", "enroll", "a b" }, NULL, 2, "'a b'" },
	{ { "totp", "enroll", "dave", "--issuer", "Acme:Corp" }, NULL, 2, "'Acme:Corp'" },
	{ { "totp", "enroll", "dave", "--issuer", "" }, NULL, 2, "''" },
	{ { "totp", "confirm", "nobody" }, "123456\n", 3, "nobody" },
	{ { "totp", "confirm", "alice" }, "123456\n", 3, "alice" },
	{ { "totp", "confirm", "carol" }, "12a456\n", 2, "6 digits" },
	{ { "totp", "confirm", "carol" }, "12345\n", 2, "6 digits" },
	{ { "totp", "confirm", "carol" }, "1234567\n", 2, "6 digits" },
	{ { "totp", "confirm", "carol" }, " 123456\n", 2, "6 digits" },
	{ { "totp", "confirm", "carol" }, "\n", 2, "6 digits" },
	{ { "totp", "confirm", "carol" }, NULL, 2, "6 digits" },
	{ { "totp", "confirm", "carol" }, big_marker, 2, "6 digits" },
	{ { "totp", "confirm" }, "123456\n", 2, "missing user" },
	{ { "totp", "show", "nobody" }, NULL, 3, "nobody" },
	{ { "totp", "show" }, NULL, 2, "missing user" },
	{ { "totp", "show", "alice", "extra" }, NULL, 2, "'extra'" },
	{ { "totp", "list", "extra" }, NULL, 2, "'extra'" },
	{ { "totp", "list", "--reason", "x" }, NULL, 2, "--reason" },
	{ { "totp", "reset", "carol" }, NULL, 2, "--reason" },
	{ { "totp", "reset", "nobody", "--reason", "x" }, NULL, 3, "nobody" },
	{ { "totp", "reset", "carol", "--reason", "a\x01b" }, NULL, 2, "reason" },
	{ { "totp", "remove", "nobody", "--reason", "x" }, NULL, 3, "nobody" },
	{ { "totp", "remove", "carol", "--digits", "6", "--reason", "x" }, NULL, 2, "--digits" },
	{ { "totp", "recovery", "regenerate", "nobody" }, NULL, 3, "nobody" },
	{ { "totp", "recovery", "regenerate" }, NULL, 2, "missing user" },
};

START_TEST(test_bad_input)
{
	const struct bad_row *row = &bad_rows[_i];
	struct state before;
	char *big = NULL;
	size_t in_len = row->in != NULL ? strlen(row->in) : 0;
	const char *in = row->in;

	if (in == big_marker) {
		big = malloc(BIG_STDIN);
		ck_assert_ptr_nonnull(big);
		memset(big, '7', BIG_STDIN);
		in = big;
		in_len = BIG_STDIN;
	}
	snap(&before);
	run_in(&r1, SELF, in, in_len, NULL, row->argv);
	ck_assert_msg(r1.status == row->status, "row %d: exit %d, want %d; stderr [%s]", _i,
	              r1.status, row->status, r1.err);
	assert_one_error_line(&r1, row->msg);
	ck_assert_msg(r1.out_len == 0, "row %d: stdout [%s]", _i, r1.out);
	/* A code is never echoed back. */
	if (row->in != NULL && row->in != big_marker && strlen(row->in) > 2) {
		char code[32];
		snprintf(code, sizeof(code), "%.*s", (int)strcspn(row->in, "\n"), row->in);
		ck_assert_msg(strstr(r1.err, code) == NULL, "row %d echoes the code", _i);
	}
	free(big);
	assert_unchanged(&before);
}
END_TEST

/* ---- Through latchkeyd ---- */

/* Enroll, confirm and show through the admin socket. */
START_TEST(test_daemon)
{
	char line[16];
	struct uri u;

	start_daemon();
	RUN(NULL, "totp", "enroll", "gina");
	ASSERT_STATUS(0);
	take_uri(r1.out, &u);
	assert_qr(r1.out);
	assert_no_secret(r1.err, &u, "enroll's stderr");
	code_line(&u, line);
	RUN(line, "totp", "confirm", "gina");
	sodium_memzero(line, sizeof(line));
	ASSERT_STATUS(0);
	ck_assert_str_eq(r1.out, "gina: TOTP active\n");
	RUN(NULL, "totp", "show", "gina", "--json");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "\"status\":\"active\""));
	/* The same one-line errors as --offline. */
	RUN("12a456\n", "totp", "confirm", "gina");
	ASSERT_STATUS(3);
	assert_one_error_line(&r1, "gina");
	RUN(NULL, "totp", "enroll", "hal", "--digits", "9");
	ASSERT_STATUS(2);
	assert_one_error_line(&r1, "'9'");
	ck_assert_int_eq(stop_daemon(), 0);
	RUN(NULL, "audit", "verify");
	ASSERT_STATUS(0);
}
END_TEST

/* Runs argv as a raw client up to the END that asks for an ACK; returns
 * the connection, and stdout (the secrets) in out. */
static int secret_raw(const char *const *argv, char *out, size_t outlen)
{
	struct lk_admin_msg m;
	size_t len = 0;
	int fd = admin_connect();

	send_request(fd, false, argv, NULL);
	for (;;) {
		ck_assert_int_eq(read_admin(fd, &m), LK_OK);
		if (m.type == LK_ADMIN_OUT) {
			ck_assert_uint_lt(len + m.len, outlen);
			memcpy(out + len, m.data, m.len);
			len += m.len;
		} else if (m.type == LK_ADMIN_END) {
			break;
		} else {
			ck_assert_int_eq(m.type, LK_ADMIN_ERR);
		}
	}
	out[len] = '\0';
	ck_assert_int_eq(m.exit_status, 0);
	ck_assert(m.ack);
	return fd;
}

static int enroll_raw(const char *user, char *out, size_t outlen)
{
	return secret_raw((const char *const[]){ "totp", "enroll", user, NULL }, out, outlen);
}

/* Waits (a readiness wait, up to 30 s) until sql (?1 = arg) gives want. */
static void wait_for(const char *sql, const char *arg, long want)
{
	long got = -1;

	for (int i = 0; i < 3000; i++) {
		if ((got = db_long(sql, arg)) == want)
			return;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	ck_abort_msg("[%s] is %ld, not %ld", sql, got, want);
}

/* An enrollment is valid only once the client says its stdout took it. */
START_TEST(test_daemon_unacked)
{
	static char out[64 * 1024];
	char hashes[512], after[512];
	struct lk_admin_msg m;
	struct uri u;
	int fd;

	start_daemon();
	/* Gone without an ACK: reset, audited. */
	fd = enroll_raw("henry", out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "otpauth://totp/Latchkey:henry?secret="));
	close(fd);
	wait_for(undelivered_resets, undelivered, 1);
	RUN(NULL, "totp", "show", "henry");
	ASSERT_STATUS(3);

	/* "Could not write it": reset, and the client is told. */
	fd = enroll_raw("ivan", out, sizeof(out));
	send_bytes(fd, (const unsigned char[]){ 0, 0, 0, 3, 1, LK_ADMIN_ACK, 0 }, 7);
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_ERR);
	ck_assert_ptr_nonnull(memmem(m.data, m.len, "it has been reset", 17));
	ck_assert_ptr_null(memmem(m.data, m.len, "otpauth", 7));
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_END);
	ck_assert_int_eq(m.exit_status, 4);
	close(fd);
	wait_for(undelivered_resets, undelivered, 2);

	/* Garbage instead of an ACK: reset. */
	fd = enroll_raw("jack", out, sizeof(out));
	send_bytes(fd, (const unsigned char[]){ 0, 0, 0, 2, 9, 9 }, 6);
	close(fd);
	wait_for(undelivered_resets, undelivered, 3);

	/* Acknowledged: it stays, and its code confirms it. */
	fd = enroll_raw("judy", out, sizeof(out));
	send_bytes(fd, (const unsigned char[]){ 0, 0, 0, 3, 1, LK_ADMIN_ACK, 1 }, 7);
	ck_assert_int_eq(read_admin(fd, &m), LK_OK);
	ck_assert_int_eq(m.type, LK_ADMIN_END);
	ck_assert_int_eq(m.exit_status, 0);
	close(fd);
	take_uri(out, &u);
	confirm("judy", &u);

	/* New recovery codes nobody acknowledged stop working. */
	fd = secret_raw((const char *const[]){ "totp", "recovery", "regenerate", "judy", NULL },
	                out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "recovery codes"));
	recovery_hashes(hashes, sizeof(hashes));
	close(fd);
	for (int i = 0; i < 3000; i++) {
		recovery_hashes(after, sizeof(after));
		if (strcmp(after, hashes) != 0)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	ck_assert_str_ne(after, hashes);
	RUN(NULL, "totp", "show", "judy");
	ASSERT_STATUS(0);
	ck_assert_ptr_nonnull(strstr(r1.out, "status         active"));

	/* The real client with stdout on a full disk: exit 4, reset. */
	run_in(&r1, SELF, NULL, 0, "/dev/full",
	       (const char *const[]){ "totp", "enroll", "kim", NULL });
	ASSERT_STATUS(4);
	ck_assert_ptr_nonnull(strstr(r1.err, "it has been reset"));
	wait_for(undelivered_resets, undelivered, 4);
	ck_assert_int_eq(stop_daemon(), 0);
	RUN(NULL, "audit", "verify");
	ASSERT_STATUS(0);
	sodium_memzero(out, sizeof(out));
}
END_TEST

/* Who may run which verb through the daemon (as nobody; root only, as in
 * tests/check_admin). */
START_TEST(test_roles)
{
	char line[160];
	struct uri u;

	if (getuid() != 0)
		return;
	ck_assert_int_eq(chmod(g.conf, 0644), 0); /* the client reads admin_socket */
	add_config("role = auditor uid:65534\n");
	start_daemon();
	enroll("alice", &u);
	RUN_AS(NOBODY, NULL, "totp", "list");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	ck_assert_ptr_nonnull(strstr(r1.out, "\nalice "));
	RUN_AS(NOBODY, NULL, "totp", "show", "alice");
	ck_assert_int_eq(r1.status, 0);
	RUN_AS(NOBODY, NULL, "totp", "enroll", "mallory");
	ck_assert_int_eq(r1.status, 1);
	assert_one_error_line(&r1, "'totp enroll' needs the operator role");
	ck_assert_uint_eq(r1.out_len, 0);
	RUN_AS(NOBODY, "123456\n", "totp", "confirm", "alice");
	ck_assert_int_eq(r1.status, 1);
	assert_one_error_line(&r1, "'totp confirm' needs the operator role");
	RUN_AS(NOBODY, NULL, "totp", "recovery", "regenerate", "alice");
	ck_assert_int_eq(r1.status, 1);
	assert_one_error_line(&r1, "'totp recovery regenerate' needs the operator role");
	RUN_AS(NOBODY, NULL, "totp", "reset", "alice", "--reason", "x");
	ck_assert_int_eq(r1.status, 1);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'admin.denied' AND "
	                         "detail LIKE 'verb=totp %'",
	                         NULL),
	                 4);
	ck_assert_int_eq(stop_daemon(), 0);

	/* An operator (nobody's group) enrolls and resets, but does not remove. */
	snprintf(line, sizeof(line), "role = operator group:%s\n", getgrgid(NOBODY)->gr_name);
	add_config(line);
	start_daemon();
	RUN_AS(NOBODY, NULL, "totp", "enroll", "oscar");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	take_uri(r1.out, &u);
	ck_assert_int_eq(db_long("SELECT actor_uid FROM audit WHERE action = 'totp.enroll' "
	                         "ORDER BY seq DESC LIMIT 1",
	                         NULL),
	                 65534);
	code_line(&u, line);
	RUN_AS(NOBODY, line, "totp", "confirm", "oscar");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	RUN_AS(NOBODY, NULL, "totp", "remove", "oscar", "--reason", "x");
	ck_assert_int_eq(r1.status, 1);
	assert_one_error_line(&r1, "'totp remove' needs the admin role");
	RUN_AS(NOBODY, NULL, "totp", "reset", "oscar", "--reason", "new phone");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	RUN(NULL, "totp", "remove", "alice", "--reason", "left");
	ck_assert_msg(r1.status == 0, "%s", r1.err);
	ck_assert_int_eq(stop_daemon(), 0);
	RUN(NULL, "audit", "verify");
	ASSERT_STATUS(0);
}
END_TEST

static Suite *cli_totp_suite(void)
{
	Suite *s = suite_create("cli_totp");
	TCase *tc = tcase_create("offline");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lifecycle);
	tcase_add_test(tc, test_json_enroll);
	tcase_add_test(tc, test_undelivered_offline);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_add_unchecked_fixture(tc, table_setup, teardown);
	tcase_add_loop_test(tc, test_bad_input, 0, (int)(sizeof(bad_rows) / sizeof(bad_rows[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_daemon);
	tcase_add_test(tc, test_daemon_unacked);
	tcase_add_test(tc, test_roles);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return EXIT_FAILURE;
	return fixture_run(cli_totp_suite(), "latchkey-cli-totp");
}
