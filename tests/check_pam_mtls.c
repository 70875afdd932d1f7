/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client certificates through the whole stack: pam_latchkey.so on a real
 * libpam (pam_start_confdir, a generated service dir), the chain handed over
 * in LATCHKEY_CLIENT_CERT (PEM, URL-encoded PEM, a file under cert_dir=) or
 * through the conversation, a spawned latchkeyd (tests/daemon-fixture.c)
 * and the mtls plugin as the daemon loads it.
 *
 * Every outcome is checked twice: the PAM code the application sees, and
 * what the daemon wrote down (the auth.decision row, the certificate
 * inventory). A value the module refuses by itself must leave the database
 * as it was.
 *
 * The certificates are made once per run with the openssl command: a small
 * CA valid from now on (the daemon checks dates against the wall clock, so
 * tests/mtls-pki.sh's fixed 2026 dates would not stay valid), and
 * tests/mtls-pki.sh's PKI for a certificate that is expired for good.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-fixture.h"
#include "testutil.h"

/* Made once in main (absolute, no symlinks):
 *   ca.pem         the CA the policies trust (P-256, 10 years from now)
 *   alice.pem      client certificate under ca, SAN email alice@example.com
 *   alice2.pem     another one for alice
 *   bob.pem        bob@example.com under ca
 *   rogue.pem      a CA nobody trusts; mallory.pem under it says alice
 *   expired-chain.pem  mtls-pki.sh's expired leaf and its intermediate
 *   m/             tests/mtls-pki.sh's output (m/root.pem is trusted too)
 *   certs/         cert_dir= for the module: alice.pem, inside.pem -> alice.pem,
 *                  link.pem -> ../bob.pem, sub.pem/ (a directory)
 *   certs-evil/    a sibling whose name starts like certs: alice.pem
 */
static char pki[PATH_MAX];

#define PEM_MAX 32768 /* LK_MSG_CERT_MAX: the most the module sends */

/* ---- Files, policies, service files ---- */

/* pki/name */
static void pki_path(const char *name, char *out, size_t len)
{
	ck_assert_int_lt(snprintf(out, len, "%s/%s", pki, name), (int)len);
}

/* The whole of pki/name (text) into out. */
static void read_pki(const char *name, char *out, size_t len)
{
	char path[PATH_MAX * 2];
	size_t got = 0;
	ssize_t n;
	int fd;

	pki_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	while ((n = read(fd, out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	ck_assert_int_eq(n, 0);
	close(fd);
	out[got] = '\0';
	ck_assert_uint_gt(got, 0);
	ck_assert_uint_lt(got, len - 1);
}

static void write_service(const char *service, const char *text)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", g.confdir, service);
	write_file(path, "w", text);
}

/* confdir/SERVICE: "auth required MODULE socket=SOCK ARGS" and an account
 * line for the module. */
static void service(const char *name, const char *args)
{
	char text[PATH_MAX * 4];
	const char *mod = getenv("LK_PAM_MODULE");

	snprintf(text, sizeof(text),
	         "auth required %s socket=%s %s\naccount required %s socket=%s\n", mod, g.sock,
	         args, mod, g.sock);
	write_service(name, text);
}

/* g.dir/policies/NAME.xml (prod, scope web:read) with STEPS as its stack. */
static void policy(const char *name, const char *steps)
{
	char path[PATH_MAX * 2], xml[4096];

	snprintf(path, sizeof(path), "%s/policies/%s.xml", g.dir, name);
	ck_assert_int_lt(snprintf(xml, sizeof(xml),
	                          "<policy xmlns=\"urn:latchkey:policy:1\" service=\"%s\" "
	                          "environment=\"prod\"><stack>%s</stack>"
	                          "<scopes><scope>web:read</scope></scopes></policy>\n",
	                          name, steps),
	                 (int)sizeof(xml));
	write_file(path, "w", xml);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

/* An mtls step trusting ca (and mtls-pki.sh's root), mapping
 * name@example.com to name, with extra <arg>s. */
static void mtls_step(char *out, size_t len, const char *ca, const char *extra)
{
	ck_assert_int_lt(snprintf(out, len,
	                          "<step plugin=\"mtls\" control=\"required\"><arg>ca=%s</arg>"
	                          "<arg>ca=%s/m/root.pem</arg>"
	                          "<arg>map=san-email:{}@example.com</arg>%s</step>",
	                          ca, pki, extra),
	                 (int)len);
}

/* The services these tests use:
 *   mtls     policy: mtls alone; module: no_authtok, cert_dir=pki/certs
 *   nodir    policy: mtls alone; module: no_authtok (no cert_dir=)
 *   mprompt  policy: mtls with prompt; module: no_authtok cert_from_conv,
 *            cert_dir=pki/certs (so a path answer is refused for itself)
 *   mpromptx the same policy; module: no_authtok (no cert_from_conv)
 *   mprompt1 the same policy; module: no_authtok single_prompt cert_from_conv
 *   keyed    policy: apikey alone; module: asks for the key
 *   both     policy: mtls and apikey; module: asks for the key
 * Nothing else: the daemon is started by each test. */
static void setup(void)
{
	char step[2048], both[2560], ca[PATH_MAX + 16], line[160], args[PATH_MAX + 64];

	ck_assert_msg(pki[0] != '\0', "no PKI");
	fixture_setup("pmtls");
	(void)bin("LK_PAM_MODULE");
	plugin_dir_with("LK_MTLS_PLUGIN_DIR", "mtls.so");
	if (getuid() != 0) {
		snprintf(line, sizeof(line),
		         "auth_peer = %u mtls,nodir,mprompt,mpromptx,mprompt1,keyed,both,gw\n",
		         (unsigned)getuid());
		add_config(line);
	}
	pki_path("ca.pem", ca, sizeof(ca));
	mtls_step(step, sizeof(step), ca, "");
	policy("mtls", step);
	policy("nodir", step);
	policy("keyed", "<step plugin=\"apikey\" control=\"required\"/>");
	snprintf(both, sizeof(both), "%s<step plugin=\"apikey\" control=\"required\"/>", step);
	policy("both", both);
	mtls_step(step, sizeof(step), ca, "<arg>prompt</arg>");
	policy("mprompt", step);
	policy("mpromptx", step);
	policy("mprompt1", step);
	snprintf(args, sizeof(args), "no_authtok cert_dir=%s/certs", pki);
	service("mtls", args);
	service("nodir", "no_authtok");
	snprintf(args, sizeof(args), "no_authtok cert_from_conv cert_dir=%s/certs", pki);
	service("mprompt", args);
	service("mpromptx", "no_authtok");
	service("mprompt1", "no_authtok single_prompt cert_from_conv");
	service("keyed", "");
	service("both", "");
}

static void teardown(void)
{
	fixture_teardown();
}

/* ---- The PAM side ---- */

struct conv_state {
	const char *answer; /* NULL: the conversation fails */
	int n_prompts;
	int n_info; /* PAM_TEXT_INFO and PAM_ERROR_MSG */
	int last_style;
	char last_prompt[128];
};

static int conv(int n, const struct pam_message **msgs, struct pam_response **ret, void *data)
{
	struct conv_state *cs = data;
	struct pam_response *resp = calloc((size_t)n, sizeof(*resp));

	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msgs[i]->msg_style == PAM_TEXT_INFO || msgs[i]->msg_style == PAM_ERROR_MSG)
			cs->n_info++;
		if (msgs[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msgs[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		cs->n_prompts++;
		cs->last_style = msgs[i]->msg_style;
		snprintf(cs->last_prompt, sizeof(cs->last_prompt), "%s", msgs[i]->msg);
		if (cs->answer == NULL) {
			for (int j = 0; j < i; j++)
				free(resp[j].resp);
			free(resp);
			return PAM_CONV_ERR;
		}
		resp[i].resp = strdup(cs->answer);
	}
	*ret = resp;
	return PAM_SUCCESS;
}

/* One pam_start_confdir .. pam_end. */
struct attempt {
	const char *service;
	const char *user;   /* PAM_USER at pam_start; NULL: none */
	const char *cert;   /* LATCHKEY_CLIENT_CERT; NULL: not set */
	const char *answer; /* what every prompt is answered; NULL: the conversation fails */
	bool account;       /* pam_acct_mgmt after a successful pam_authenticate */
	/* What happened: */
	struct conv_state cs;
	char pam_user[160]; /* PAM_USER after pam_authenticate; "" if none */
	int acct_rc;
};

static int attempt(struct attempt *a)
{
	struct pam_conv pc = { conv, &a->cs };
	pam_handle_t *pamh = NULL;
	const void *item = NULL;
	int r;

	memset(&a->cs, 0, sizeof(a->cs));
	a->cs.answer = a->answer;
	a->pam_user[0] = '\0';
	a->acct_rc = -1;
	ck_assert_int_eq(pam_start_confdir(a->service, a->user, &pc, g.confdir, &pamh),
	                 PAM_SUCCESS);
	ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, "192.0.2.7"), PAM_SUCCESS);
	if (a->cert != NULL) {
		size_t len = strlen("LATCHKEY_CLIENT_CERT=") + strlen(a->cert) + 1;
		char *env = malloc(len);

		ck_assert_ptr_nonnull(env);
		snprintf(env, len, "LATCHKEY_CLIENT_CERT=%s", a->cert);
		ck_assert_int_eq(pam_putenv(pamh, env), PAM_SUCCESS);
		free(env);
	}
	r = pam_authenticate(pamh, PAM_SILENT);
	if (pam_get_item(pamh, PAM_USER, &item) == PAM_SUCCESS && item != NULL)
		snprintf(a->pam_user, sizeof(a->pam_user), "%s", (const char *)item);
	if (a->account && r == PAM_SUCCESS)
		a->acct_rc = pam_acct_mgmt(pamh, PAM_SILENT);
	pam_end(pamh, r);
	return r;
}

/* The usual case: SERVICE, PAM_USER alice, the chain in the environment,
 * the key (or nothing) as every prompt's answer. */
static int login(const char *svc, const char *cert, const char *answer, struct attempt *out)
{
	struct attempt local;

	if (out == NULL)
		out = &local;
	memset(out, 0, sizeof(*out));
	out->service = svc;
	out->user = "alice";
	out->cert = cert;
	out->answer = answer;
	return attempt(out);
}

/* ---- The daemon's side ---- */

/* Runs prog (argv without argv[0]); its whole stdout into out. The exit
 * status. */
static int run_out(const char *prog, const char *const *args, char *out, size_t len)
{
	int p[2];
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = spawn(prog, args, p[1]);
	close(p[1]);
	while ((n = read(p[0], out + got, len - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	close(p[0]);
	out[got] = '\0';
	ck_assert_uint_lt(got, len - 1); /* not cut */
	return wait_status(pid);
}

/* The CLI's whole stdout, through the daemon's admin socket. */
static void cli_out(const char *const *args, char *out, size_t len)
{
	const char *argv[16] = { "-c", g.conf };
	size_t k = 2;

	ck_assert_int_gt(g.daemon, 0);
	for (size_t i = 0; args[i] != NULL; i++) {
		ck_assert_uint_lt(k, 15);
		argv[k++] = args[i];
	}
	argv[k] = NULL;
	ck_assert_int_eq(run_out(bin("LATCHKEY_BIN"), argv, out, len), 0);
}

/* What openssl says the SHA-256 of pki/name is: lowercase hex, no colons. */
static void openssl_sha256(const char *name, char out[65])
{
	char path[PATH_MAX * 2], text[512], *p;
	size_t k = 0;

	pki_path(name, path, sizeof(path));
	ck_assert_int_eq(run_out("/bin/sh",
	                         (const char *const[]){ "-c",
	                                                "openssl x509 -noout -fingerprint "
	                                                "-sha256 -in \"$1\"",
	                                                "sh", path, NULL },
	                         text, sizeof(text)),
	                 0);
	p = strchr(text, '=');
	ck_assert_ptr_nonnull(p);
	for (p++; *p != '\0' && *p != '\n' && k < 64; p++)
		if (*p != ':')
			out[k++] = (char)tolower((unsigned char)*p);
	out[k] = '\0';
	ck_assert_uint_eq(k, 64);
}

/* What the database holds, to tell that a refusal changed nothing. */
struct snapshot {
	long audit;     /* every row */
	long decisions; /* auth.decision rows */
	long certs;     /* inventory rows */
	long uses;      /* their uses, summed */
};

static void snap(struct snapshot *s)
{
	s->audit = db_long("SELECT count(*) FROM audit", NULL);
	s->decisions = db_long("SELECT count(*) FROM audit WHERE action = 'auth.decision'", NULL);
	s->certs = db_long("SELECT count(*) FROM certificate", NULL);
	s->uses = db_long("SELECT coalesce(sum(uses), 0) FROM certificate", NULL);
}

static void assert_unchanged(const struct snapshot *before)
{
	struct snapshot now;

	snap(&now);
	ck_assert_int_eq(now.audit, before->audit);
	ck_assert_int_eq(now.decisions, before->decisions);
	ck_assert_int_eq(now.certs, before->certs);
	ck_assert_int_eq(now.uses, before->uses);
}

/* Exactly one auth.decision row since before, whose reason is reason, as
 * the database and `latchkey audit log --type auth.decision --json` say;
 * its detail (may be NULL) contains detail. */
static void assert_decision(const struct snapshot *before, const char *reason, const char *detail)
{
	char got[128], text[PATH_MAX * 2], out[1 << 16], *last;

	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'auth.decision'", NULL),
	                 before->decisions + 1);
	db_text("SELECT reason FROM audit WHERE action = 'auth.decision' ORDER BY seq DESC LIMIT 1",
	        NULL, got, sizeof(got));
	ck_assert_str_eq(got, reason);
	if (detail != NULL) {
		db_text("SELECT detail FROM audit WHERE action = 'auth.decision' ORDER BY seq DESC "
		        "LIMIT 1",
		        NULL, text, sizeof(text));
		ck_assert_msg(strstr(text, detail) != NULL, "detail '%s' lacks '%s'", text, detail);
	}
	/* The administrator's view: the newest row is the last one printed. */
	cli_out((const char *const[]){ "--json", "audit", "log", "--type", "auth.decision", NULL },
	        out, sizeof(out));
	last = strstr(out, "\"reason\":\"");
	ck_assert_ptr_nonnull(last);
	for (char *p = last; (p = strstr(p + 1, "\"reason\":\"")) != NULL;)
		last = p;
	snprintf(text, sizeof(text), "\"reason\":\"%s\"", reason);
	ck_assert_msg(strncmp(last, text, strlen(text)) == 0, "audit log's last reason: %.40s",
	              last);
}

/* The newest auth.decision's credential (kid column). */
static void last_credential(char *out, size_t len)
{
	db_text("SELECT kid FROM audit WHERE action = 'auth.decision' ORDER BY seq DESC LIMIT 1",
	        NULL, out, len);
}

/* ---- 1. PEM in LATCHKEY_CLIENT_CERT ---- */

START_TEST(test_pem_in_env)
{
	static char pem[PEM_MAX];
	struct attempt a;
	struct snapshot s;
	char sha[65], cred[64];

	read_pki("alice.pem", pem, sizeof(pem));
	start_daemon();
	snap(&s);
	ck_assert_int_eq(login("mtls", pem, NULL, &a), PAM_SUCCESS);
	/* no_authtok and a chain: nobody is asked anything. */
	ck_assert_int_eq(a.cs.n_prompts, 0);
	ck_assert_str_eq(a.pam_user, "alice");
	assert_decision(&s, "ok", "mtls:ok");
	/* The credential on record is the leaf's SHA-256 (24 hex digits). */
	openssl_sha256("alice.pem", sha);
	last_credential(cred, sizeof(cred));
	ck_assert_uint_eq(strlen(cred), 24);
	ck_assert_int_eq(strncmp(cred, sha, 24), 0);
	/* The same login with no chain at all: no-cert, no prompt. */
	snap(&s);
	ck_assert_int_eq(login("mtls", NULL, NULL, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_decision(&s, "no-cert", "mtls:no-cert");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 2. URL-encoded PEM ---- */

/* %XX for every byte of in but alphanumerics and those in keep. */
static void url_encode(const char *in, const char *keep, char *out, size_t len)
{
	size_t k = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
		ck_assert_uint_lt(k + 4, len);
		if (isalnum(*p) || (*p != '\0' && strchr(keep, *p) != NULL))
			out[k++] = (char)*p;
		else
			k += (size_t)snprintf(out + k, len - k, "%%%02X", *p);
	}
	out[k] = '\0';
}

/* nginx's $ssl_client_escaped_cert leaves RFC 3986's unreserved characters
 * alone: "-----BEGIN%20CERTIFICATE-----%0AMIIB..." */
START_TEST(test_url_encoded_nginx)
{
	static char pem[PEM_MAX], enc[3 * PEM_MAX];
	struct attempt a;
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	url_encode(pem, "-._~", enc, sizeof(enc));
	ck_assert_int_eq(strncmp(enc, "-----BEGIN%20CERTIFICATE-----%0A", 32), 0);
	start_daemon();
	snap(&s);
	ck_assert_int_eq(login("mtls", enc, NULL, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_decision(&s, "ok", "mtls:ok");
	/* Lowercase hex digits decode the same. */
	for (char *p = enc; (p = strchr(p, '%')) != NULL; p++) {
		p[1] = (char)tolower((unsigned char)p[1]);
		p[2] = (char)tolower((unsigned char)p[2]);
	}
	snap(&s);
	ck_assert_int_eq(login("mtls", enc, NULL, &a), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* Every byte that is not alphanumeric as %XX, '-' included: a valid URL
 * encoding of the same PEM (RFC 3986 2.3: an encoded unreserved character
 * is equivalent to the character). */
START_TEST(test_url_encoded_every_char)
{
	static char pem[PEM_MAX], enc[3 * PEM_MAX];
	struct attempt a;
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	url_encode(pem, "", enc, sizeof(enc));
	ck_assert_int_eq(strncmp(enc, "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE", 34), 0);
	start_daemon();
	snap(&s);
	ck_assert_int_eq(login("mtls", enc, NULL, &a), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* A bad escape is refused by the module: the daemon never hears of it. */
START_TEST(test_url_encoded_bad_escape)
{
	static char pem[PEM_MAX], enc[3 * PEM_MAX], bad[3 * PEM_MAX + 8];
	/* What replaces the first "%0A" (the newline after the BEGIN line). */
	static const char *const escapes[] = { "%G1", "%00", "%0", "%", "%%0A", "%0G", "%1g" };
	struct snapshot s;
	char *nl;

	read_pki("alice.pem", pem, sizeof(pem));
	url_encode(pem, "-._~", enc, sizeof(enc));
	nl = strstr(enc, "%0A");
	ck_assert_ptr_nonnull(nl);
	start_daemon();
	snap(&s);
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(nl - enc), enc, escapes[i], nl + 3);
		ck_assert_msg(login("mtls", bad, NULL, NULL) == PAM_AUTH_ERR, "escape %s",
		              escapes[i]);
	}
	/* A bad escape at the very end. */
	snprintf(bad, sizeof(bad), "%s%%4", enc);
	ck_assert_int_eq(login("mtls", bad, NULL, NULL), PAM_AUTH_ERR);
	assert_unchanged(&s);
	/* The same encoding without the damage is fine. */
	ck_assert_int_eq(login("mtls", enc, NULL, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 3. A file under cert_dir= ---- */

START_TEST(test_cert_dir)
{
	char path[PATH_MAX * 2], dir[PATH_MAX + 16];
	struct attempt a;
	struct snapshot s;

	start_daemon();
	snap(&s);
	pki_path("certs/alice.pem", path, sizeof(path));
	ck_assert_int_eq(login("mtls", path, NULL, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_decision(&s, "ok", "mtls:ok");
	/* A link inside the directory to a file inside it. */
	snap(&s);
	pki_path("certs/inside.pem", path, sizeof(path));
	ck_assert_int_eq(login("mtls", path, NULL, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");

	/* Everything else is refused by the module: valid certificates all
	 * of them, but not where the module may read. */
	snap(&s);
	{
		static const char *const outside[] = {
			"certs/../alice.pem", /* '..' out of it */
			"certs/sub.pem/../../bob.pem",
			"alice.pem",            /* the directory above */
			"certs-evil/alice.pem", /* a sibling with the same prefix */
			"certs/link.pem",       /* a link inside to a file outside */
			"certs/sub.pem",        /* a directory */
			"certs/missing.pem",    /* nothing there */
			"certs",                /* cert_dir itself */
		};
		for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
			pki_path(outside[i], path, sizeof(path));
			ck_assert_msg(login("mtls", path, NULL, &a) == PAM_AUTH_ERR, "%s",
			              outside[i]);
			ck_assert_int_eq(a.cs.n_prompts, 0);
		}
	}
	/* Another directory altogether, and /dev/null. */
	snprintf(dir, sizeof(dir), "%s/other", g.base);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/alice.pem", dir);
	pki_path("alice.pem", dir, sizeof(dir));
	copy_file(dir, path);
	ck_assert_int_eq(login("mtls", path, NULL, NULL), PAM_AUTH_ERR);
	ck_assert_int_eq(login("mtls", "/dev/null", NULL, NULL), PAM_AUTH_ERR);
	/* A relative path is no path: neither PEM nor absolute. */
	ck_assert_int_eq(login("mtls", "certs/alice.pem", NULL, NULL), PAM_AUTH_ERR);
	/* Without cert_dir= no path is read, not even that one. */
	pki_path("certs/alice.pem", path, sizeof(path));
	ck_assert_int_eq(login("nodir", path, NULL, NULL), PAM_AUTH_ERR);
	assert_unchanged(&s);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 4. Values that are no chain ---- */

START_TEST(test_not_pem)
{
	static char big[40001], edge[PEM_MAX + 2];
	struct attempt a;
	struct snapshot s;

	start_daemon();
	snap(&s);
	ck_assert_int_eq(login("mtls", "hello", NULL, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	ck_assert_int_eq(login("mtls", "", NULL, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	ck_assert_int_eq(login("mtls", " -----BEGIN CERTIFICATE-----", NULL, NULL), PAM_AUTH_ERR);
	/* 40000 bytes that look like PEM: over the 32768 the protocol carries. */
	memset(big, 'A', sizeof(big) - 1);
	memcpy(big, "-----BEGIN CERTIFICATE-----\n", 28);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(strlen(big), 40000);
	ck_assert_int_eq(login("mtls", big, NULL, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	/* One byte over the limit. */
	memset(edge, 'A', sizeof(edge) - 1);
	memcpy(edge, "-----BEGIN CERTIFICATE-----\n", 28);
	edge[PEM_MAX + 1] = '\0';
	ck_assert_int_eq(login("mtls", edge, NULL, NULL), PAM_AUTH_ERR);
	assert_unchanged(&s);
	/* At the limit the module sends it, and the plugin finds no
	 * certificate in it. */
	edge[PEM_MAX] = '\0';
	ck_assert_int_eq(login("mtls", edge, NULL, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "malformed", "mtls:malformed");
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), s.certs);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 5. PAM_USER from the certificate ---- */

START_TEST(test_user_from_cert)
{
	static char pem[PEM_MAX], rogue[PEM_MAX];
	struct attempt a = { .service = "mtls", .user = NULL };
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	read_pki("mallory.pem", rogue, sizeof(rogue));
	start_daemon();
	/* Nobody said who: the certificate does, and PAM_USER is set. */
	snap(&s);
	a.cert = pem;
	ck_assert_int_eq(attempt(&a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	ck_assert_str_eq(a.pam_user, "alice");
	assert_decision(&s, "ok", "mtls:ok");
	/* An empty PAM_USER counts as none. */
	snap(&s);
	a.user = "";
	ck_assert_int_eq(attempt(&a), PAM_SUCCESS);
	ck_assert_str_eq(a.pam_user, "alice");
	assert_decision(&s, "ok", "mtls:ok");
	/* Someone else named: the certificate does not make bob alice. */
	snap(&s);
	a.user = "bob";
	ck_assert_int_eq(attempt(&a), PAM_AUTH_ERR);
	ck_assert_str_eq(a.pam_user, "bob");
	assert_decision(&s, "user-mismatch", "mtls:ok");
	/* The step accepted the certificate, but nobody logged in with it:
	 * the inventory counts logins, so no use is added. */
	ck_assert_int_eq(db_long("SELECT coalesce(sum(uses), 0) FROM certificate", NULL), s.uses);
	/* A refused certificate sets no PAM_USER. */
	snap(&s);
	a.user = NULL;
	a.cert = rogue;
	ck_assert_int_eq(attempt(&a), PAM_AUTH_ERR);
	ck_assert_str_eq(a.pam_user, "");
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_decision(&s, "unknown-ca", "mtls:unknown-ca");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 6. Certificates the policy does not accept ---- */

START_TEST(test_untrusted_and_expired)
{
	static char pem[PEM_MAX];
	char sha[65];
	struct snapshot s;

	start_daemon();
	/* CN and SAN say alice, but from a CA the policy does not list. */
	read_pki("mallory.pem", pem, sizeof(pem));
	snap(&s);
	ck_assert_int_eq(login("mtls", pem, NULL, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "unknown-ca", "mtls:unknown-ca");
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), s.certs);
	openssl_sha256("mallory.pem", sha);
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate WHERE sha256 = ?1", sha), 0);
	/* A CA certificate is not a client certificate of its own. */
	read_pki("rogue.pem", pem, sizeof(pem));
	snap(&s);
	ck_assert_int_eq(login("mtls", pem, NULL, NULL), PAM_AUTH_ERR);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'auth.decision'", NULL),
	                 s.decisions + 1);
	/* mtls-pki.sh's expired leaf (2025-01-01..2026-01-01) with its
	 * intermediate, under a root the policy trusts. */
	read_pki("expired-chain.pem", pem, sizeof(pem));
	snap(&s);
	ck_assert_int_eq(login("mtls", pem, NULL, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "expired", "mtls:expired");
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), s.certs);
	/* Without its intermediate the path ends nowhere. */
	read_pki("m/expired.pem", pem, sizeof(pem));
	snap(&s);
	ck_assert_int_eq(login("mtls", pem, NULL, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "unknown-ca", "mtls:unknown-ca");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* The core refuses a trust file others may write: a group-writable CA
 * makes the step unavailable, even after the file was read and cached. */
START_TEST(test_group_writable_ca)
{
	static char pem[PEM_MAX];
	char ca[PATH_MAX + 16], step[2048];
	struct snapshot s;
	int r;

	read_pki("alice.pem", pem, sizeof(pem));
	snprintf(ca, sizeof(ca), "%s/gw-ca.pem", g.base);
	{
		char src[PATH_MAX * 2];
		pki_path("ca.pem", src, sizeof(src));
		copy_file(src, ca);
	}
	mtls_step(step, sizeof(step), ca, "");
	policy("gw", step);
	service("gw", "no_authtok");
	ck_assert_int_eq(chmod(ca, 0664), 0);
	start_daemon();
	snap(&s);
	r = login("gw", pem, NULL, NULL);
	ck_assert_int_ne(r, PAM_SUCCESS);
	ck_assert_int_eq(r, PAM_AUTHINFO_UNAVAIL);
	assert_decision(&s, "ca-unreadable", "mtls:ca-unreadable");
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), s.certs);
	/* World-writable: the same. */
	ck_assert_int_eq(chmod(ca, 0646), 0);
	snap(&s);
	ck_assert_int_eq(login("gw", pem, NULL, NULL), PAM_AUTHINFO_UNAVAIL);
	assert_decision(&s, "ca-unreadable", "mtls:ca-unreadable");
	/* 0644: fine. */
	ck_assert_int_eq(chmod(ca, 0644), 0);
	snap(&s);
	ck_assert_int_eq(login("gw", pem, NULL, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	/* Group-writable again after the plugin cached it: refused again. */
	ck_assert_int_eq(chmod(ca, 0664), 0);
	snap(&s);
	ck_assert_int_eq(login("gw", pem, NULL, NULL), PAM_AUTHINFO_UNAVAIL);
	assert_decision(&s, "ca-unreadable", "mtls:ca-unreadable");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 7. The chain through the conversation ---- */

START_TEST(test_prompt_for_cert)
{
	static char pem[PEM_MAX], enc[3 * PEM_MAX];
	struct attempt a;
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	start_daemon();
	/* No LATCHKEY_CLIENT_CERT: the policy's prompt, echo on (a
	 * certificate is public), answered with the PEM. */
	snap(&s);
	ck_assert_int_eq(login("mprompt", NULL, pem, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	ck_assert_int_eq(a.cs.last_style, PAM_PROMPT_ECHO_ON);
	ck_assert_str_eq(a.cs.last_prompt, "Client certificate (PEM): ");
	assert_decision(&s, "ok", "mtls:ok");
	/* Answered URL-encoded: the same. */
	url_encode(pem, "-._~", enc, sizeof(enc));
	snap(&s);
	ck_assert_int_eq(login("mprompt", NULL, enc, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	assert_decision(&s, "ok", "mtls:ok");
	/* With the chain in the environment nobody is asked. */
	snap(&s);
	ck_assert_int_eq(login("mprompt", pem, NULL, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_decision(&s, "ok", "mtls:ok");
	/* Answered with something that is no chain: the module refuses the
	 * answer and hangs up. An abandoned request decides nothing, so
	 * nothing is written. */
	snap(&s);
	ck_assert_int_eq(login("mprompt", NULL, "hello", &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	/* The conversation fails: never success. */
	ck_assert_int_ne(login("mprompt", NULL, NULL, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	/* An answer is the chain itself, never a path, even one under
	 * cert_dir=: the answer must not pick another client's file. */
	{
		char path[PATH_MAX * 2];
		snprintf(path, sizeof(path), "%s/certs/alice.pem", pki);
		ck_assert_int_eq(access(path, R_OK), 0);
		ck_assert_int_eq(login("mprompt", NULL, path, &a), PAM_AUTH_ERR);
		ck_assert_int_eq(a.cs.n_prompts, 1);
	}
	/* Without cert_from_conv the module asks nobody for a certificate:
	 * whoever answers prompts could paste anyone's (public) one. */
	ck_assert_int_eq(login("mpromptx", NULL, pem, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	/* single_prompt: the client cannot answer a prompt for the chain,
	 * so the module does not put one (the chain belongs in the
	 * environment). */
	ck_assert_int_eq(login("mprompt1", NULL, pem, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_unchanged(&s);
	/* ... and with the chain in the environment single_prompt is fine. */
	snap(&s);
	ck_assert_int_eq(login("mprompt1", pem, NULL, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 0);
	assert_decision(&s, "ok", "mtls:ok");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 8. API keys bound to a certificate ---- */

/* A key for alice (prod, web:read, 30 days) bound to pki/cert; its kid. */
static void issue_bound(const char *cert, char *key, size_t key_len, char kid[16])
{
	char path[PATH_MAX * 2];

	pki_path(cert, path, sizeof(path));
	ck_assert_int_eq(cli((const char *const[]){ "-c", g.conf, "key", "issue", "--owner",
	                                            "alice", "--env", "prod", "--scope", "web:read",
	                                            "--expires", "30d", "--cert", path, NULL },
	                     key, key_len),
	                 0);
	ck_assert_int_eq(strncmp(key, "lk_prod_", 8), 0);
	snprintf(kid, 16, "%.12s", key + strlen("lk_prod_"));
}

START_TEST(test_bound_key)
{
	static char alice[PEM_MAX], alice2[PEM_MAX], bob[PEM_MAX];
	char key[LK_KEY_MAX_LEN + 1], kid[16], sha[65], bound[80];
	struct attempt a;
	struct snapshot s;

	read_pki("alice.pem", alice, sizeof(alice));
	read_pki("alice2.pem", alice2, sizeof(alice2));
	read_pki("bob.pem", bob, sizeof(bob));
	start_daemon();
	issue_bound("alice.pem", key, sizeof(key), kid);
	openssl_sha256("alice.pem", sha);
	db_text("SELECT cert_sha256 FROM api_key WHERE kid = ?1", kid, bound, sizeof(bound));
	ck_assert_str_eq(bound, sha);

	/* The key with its certificate: in. The key is asked for. */
	snap(&s);
	ck_assert_int_eq(login("keyed", alice, key, &a), PAM_SUCCESS);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	ck_assert_str_eq(a.cs.last_prompt, "API key: ");
	assert_decision(&s, "ok", "apikey:ok");
	/* The key alone (stolen?): pin-mismatch. */
	snap(&s);
	ck_assert_int_eq(login("keyed", NULL, key, &a), PAM_AUTH_ERR);
	assert_decision(&s, "pin-mismatch", "apikey:pin-mismatch");
	/* With another valid certificate, alice's own or bob's. */
	snap(&s);
	ck_assert_int_eq(login("keyed", alice2, key, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "pin-mismatch", "apikey:pin-mismatch");
	snap(&s);
	ck_assert_int_eq(login("keyed", bob, key, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "pin-mismatch", "apikey:pin-mismatch");
	/* The fixture's unbound key is not affected: no certificate needed. */
	snap(&s);
	ck_assert_int_eq(login("keyed", NULL, g.key, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "apikey:ok");

	/* Unbound: the key alone works again, and with any certificate. */
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "key", "unbind", kid, "--reason", "x", NULL },
	        NULL, 0),
	    0);
	db_text("SELECT coalesce(cert_sha256, '') FROM api_key WHERE kid = ?1", kid, bound,
	        sizeof(bound));
	ck_assert_str_eq(bound, "");
	snap(&s);
	ck_assert_int_eq(login("keyed", NULL, key, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "apikey:ok");
	snap(&s);
	ck_assert_int_eq(login("keyed", alice2, key, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "apikey:ok");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* mtls and apikey both required: the certificate passes the mtls step and
 * names the key's owner, but it is not the one the key is bound to. */
START_TEST(test_bound_key_with_mtls_step)
{
	static char alice[PEM_MAX], alice2[PEM_MAX];
	char key[LK_KEY_MAX_LEN + 1], bobkey[LK_KEY_MAX_LEN + 1], kid[16];
	struct attempt a;
	struct snapshot s;

	read_pki("alice.pem", alice, sizeof(alice));
	read_pki("alice2.pem", alice2, sizeof(alice2));
	start_daemon();
	issue_bound("alice.pem", key, sizeof(key), kid);
	snap(&s);
	ck_assert_int_eq(login("both", alice2, key, &a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	assert_decision(&s, "pin-mismatch", "mtls:ok,apikey:pin-mismatch");
	/* The right pair: in. */
	snap(&s);
	ck_assert_int_eq(login("both", alice, key, &a), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok,apikey:ok");
	/* No certificate: the mtls step says so first. */
	snap(&s);
	ck_assert_int_eq(login("both", NULL, key, &a), PAM_AUTH_ERR);
	assert_decision(&s, "no-cert", "mtls:no-cert");
	/* No PAM_USER, alice's certificate and bob's (unbound) key: two
	 * factors about two people prove nobody, and PAM_USER stays unset. */
	ck_assert_int_eq(
	    cli((const char *const[]){ "-c", g.conf, "key", "issue", "--owner", "bob", "--env",
	                               "prod", "--scope", "web:read", "--expires", "30d", NULL },
	        bobkey, sizeof(bobkey)),
	    0);
	snap(&s);
	memset(&a, 0, sizeof(a));
	a.service = "both";
	a.cert = alice;
	a.answer = bobkey;
	ck_assert_int_eq(attempt(&a), PAM_AUTH_ERR);
	ck_assert_int_eq(a.cs.n_prompts, 1);
	ck_assert_str_eq(a.pam_user, "");
	assert_decision(&s, "principal-mismatch", "mtls:ok,apikey:principal-mismatch");
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 9. The certificate inventory ---- */

/* The `cert list --json` object for sha256, or NULL; the object is cut at
 * its closing brace in text. */
static char *inventory_entry(char *text, const char *sha)
{
	char want[100], *p, *start, *end;

	snprintf(want, sizeof(want), "\"sha256\":\"%s\"", sha);
	p = strstr(text, want);
	if (p == NULL)
		return NULL;
	for (start = p; start > text && *start != '{'; start--)
		;
	end = strchr(p, '}');
	ck_assert_ptr_nonnull(end);
	end[1] = '\0';
	return start;
}

static long json_uses(const char *obj)
{
	const char *p = strstr(obj, "\"uses\":");

	ck_assert_ptr_nonnull(p);
	return atol(p + strlen("\"uses\":"));
}

START_TEST(test_inventory)
{
	static char pem[PEM_MAX], rogue[PEM_MAX], out[1 << 16], copy[1 << 16];
	char sha[65], rsha[65], *obj;
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	read_pki("mallory.pem", rogue, sizeof(rogue));
	openssl_sha256("alice.pem", sha);
	openssl_sha256("mallory.pem", rsha);
	start_daemon();
	cli_out((const char *const[]){ "cert", "list", "--json", NULL }, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "\"certificates\":[]"));

	snap(&s);
	ck_assert_int_eq(login("mtls", pem, NULL, NULL), PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	cli_out((const char *const[]){ "cert", "list", "--json", NULL }, out, sizeof(out));
	memcpy(copy, out, sizeof(copy));
	obj = inventory_entry(copy, sha);
	ck_assert_msg(obj != NULL, "%s not in %s", sha, out);
	ck_assert_ptr_nonnull(strstr(obj, "\"principal\":\"alice\""));
	ck_assert_ptr_nonnull(strstr(obj, "\"last_service\":\"mtls\""));
	ck_assert_ptr_nonnull(strstr(obj, "\"expired\":false"));
	ck_assert_msg(strstr(obj, "CN=alice") != NULL, "%s", obj);
	ck_assert_int_eq(json_uses(obj), 1);

	/* A second login: the same row, used twice. */
	ck_assert_int_eq(login("mtls", pem, NULL, NULL), PAM_SUCCESS);
	cli_out((const char *const[]){ "cert", "list", "--json", NULL }, out, sizeof(out));
	memcpy(copy, out, sizeof(copy));
	obj = inventory_entry(copy, sha);
	ck_assert_ptr_nonnull(obj);
	ck_assert_int_eq(json_uses(obj), 2);
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), 1);

	/* A refused certificate is not inventoried. */
	snap(&s);
	ck_assert_int_eq(login("mtls", rogue, NULL, NULL), PAM_AUTH_ERR);
	assert_decision(&s, "unknown-ca", "mtls:unknown-ca");
	cli_out((const char *const[]){ "cert", "list", "--json", NULL }, out, sizeof(out));
	memcpy(copy, out, sizeof(copy));
	ck_assert_ptr_null(inventory_entry(copy, rsha));
	memcpy(copy, out, sizeof(copy));
	obj = inventory_entry(copy, sha);
	ck_assert_ptr_nonnull(obj);
	ck_assert_int_eq(json_uses(obj), 2);
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), 1);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- 10. Account management after a certificate login ---- */

START_TEST(test_acct_mgmt)
{
	static char pem[PEM_MAX];
	struct attempt a = { .service = "mtls", .user = "alice", .account = true };
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	a.cert = pem;
	start_daemon();
	snap(&s);
	ck_assert_int_eq(attempt(&a), PAM_SUCCESS);
	ck_assert_int_eq(a.acct_rc, PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	/* A success is on record already: account management adds nothing. */
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'account.check'", NULL),
	                 0);
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit", NULL), s.audit + 1);
	/* The same with PAM_USER from the certificate. */
	a.user = NULL;
	snap(&s);
	ck_assert_int_eq(attempt(&a), PAM_SUCCESS);
	ck_assert_str_eq(a.pam_user, "alice");
	ck_assert_int_eq(a.acct_rc, PAM_SUCCESS);
	assert_decision(&s, "ok", "mtls:ok");
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit WHERE action = 'account.check'", NULL),
	                 0);
	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* The inventory row of alice's certificate changed behind the daemon's
 * back (an SQL statement on the database, as the tests' writer). */
static void inventory_exec(const char *sql)
{
	char path[PATH_MAX + 32];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/latchkey.db", g.dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Account management judges the certificate by the inventory: one whose
 * notAfter has passed by then is PAM_ACCT_EXPIRED (a login at 23:59:59,
 * the account check at 00:00:01), audited as account.check. (A fingerprint
 * the inventory does not hold, PAM_PERM_DENIED, needs its row deleted
 * between the two calls: every successful login writes it again.) */
START_TEST(test_acct_mgmt_expired)
{
	static char pem[PEM_MAX];
	struct attempt a = { .service = "mtls", .user = "alice", .account = true };
	char reason[32];
	struct snapshot s;

	read_pki("alice.pem", pem, sizeof(pem));
	a.cert = pem;
	start_daemon();
	ck_assert_int_eq(attempt(&a), PAM_SUCCESS);
	ck_assert_int_eq(a.acct_rc, PAM_SUCCESS);
	ck_assert_int_eq(db_long("SELECT count(*) FROM certificate", NULL), 1);

	inventory_exec("UPDATE certificate SET not_after = 1000");
	snap(&s);
	ck_assert_int_eq(attempt(&a), PAM_SUCCESS);
	ck_assert_int_eq(a.acct_rc, PAM_ACCT_EXPIRED);
	db_text("SELECT reason FROM audit WHERE action = 'account.check' ORDER BY seq DESC LIMIT 1",
	        NULL, reason, sizeof(reason));
	ck_assert_str_eq(reason, "expired");
	ck_assert_int_eq(db_long("SELECT count(*) FROM audit", NULL), s.audit + 2);

	ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

static Suite *pam_mtls_suite(void)
{
	Suite *s = suite_create("pam_mtls");
	TCase *tc = tcase_create("env");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pem_in_env);
	tcase_add_test(tc, test_url_encoded_nginx);
	tcase_add_test(tc, test_url_encoded_every_char);
	tcase_add_test(tc, test_url_encoded_bad_escape);
	tcase_add_test(tc, test_cert_dir);
	tcase_add_test(tc, test_not_pem);
	tcase_add_test(tc, test_user_from_cert);
	suite_add_tcase(s, tc);

	tc = tcase_create("trust");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_untrusted_and_expired);
	tcase_add_test(tc, test_group_writable_ca);
	suite_add_tcase(s, tc);

	tc = tcase_create("conversation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_prompt_for_cert);
	suite_add_tcase(s, tc);

	tc = tcase_create("bound_keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bound_key);
	tcase_add_test(tc, test_bound_key_with_mtls_step);
	suite_add_tcase(s, tc);

	tc = tcase_create("inventory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inventory);
	tcase_add_test(tc, test_acct_mgmt);
	tcase_add_test(tc, test_acct_mgmt_expired);
	suite_add_tcase(s, tc);
	return s;
}

/* The PKI (see pki above), made with the openssl command: DIR SRCDIR. */
static const char pki_script[] =
    "set -eu\n"
    "cd \"$1\"\n"
    "umask 022\n"
    "sh \"$2/tests/mtls-pki.sh\" m >/dev/null\n"
    "o() { openssl \"$@\" 2>/dev/null; }\n"
    "ca() {\n"
    "	o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout \"$1.key\" \\\n"
    "		-out \"$1.pem\" -subj \"/CN=$2\" -days 3650 \\\n"
    "		-addext basicConstraints=critical,CA:TRUE \\\n"
    "		-addext keyUsage=critical,keyCertSign,cRLSign\n"
    "}\n"
    "leaf() {\n"
    "	o req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout \"$1.key\" \\\n"
    "		-out \"$1.csr\" -subj \"/CN=$1\"\n"
    "	printf '%s\\n' basicConstraints=critical,CA:FALSE \\\n"
    "		keyUsage=critical,digitalSignature extendedKeyUsage=clientAuth \\\n"
    "		\"subjectAltName=email:$3\" >\"$1.ext\"\n"
    "	o x509 -req -in \"$1.csr\" -CA \"$2.pem\" -CAkey \"$2.key\" -CAcreateserial \\\n"
    "		-out \"$1.pem\" -days 30 -extfile \"$1.ext\"\n"
    "	rm -f \"$1.csr\" \"$1.ext\"\n"
    "}\n"
    "ca ca 'Latchkey PAM Test CA'\n"
    "ca rogue 'Rogue CA'\n"
    "leaf alice ca alice@example.com\n"
    "leaf alice2 ca alice@example.com\n"
    "leaf bob ca bob@example.com\n"
    "leaf mallory rogue alice@example.com\n"
    "cat m/expired.pem m/int.pem >expired-chain.pem\n"
    "mkdir certs certs/sub.pem certs-evil\n"
    "cp alice.pem certs/alice.pem\n"
    "cp alice.pem certs-evil/alice.pem\n"
    "ln -s alice.pem certs/inside.pem\n"
    "ln -s ../bob.pem certs/link.pem\n";

int main(void)
{
	const char *src = getenv("LK_SRCDIR"), *tmp = getenv("TMPDIR");
	char made[PATH_MAX];
	int wst, r;
	pid_t pid;

	/* Not tk_mkdtemp: Check's asserts work only inside a test. */
	snprintf(made, sizeof(made), "%s/latchkey-pam-mtls-pki-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(made) == NULL || realpath(made, pki) == NULL) {
		perror(made);
		return EXIT_FAILURE;
	}
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", pki_script, "sh", pki, src != NULL ? src : "..",
		      (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &wst, 0) != pid || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
		fprintf(stderr, "making the test PKI failed (is openssl installed?)\n");
		tk_rmrf(pki);
		return EXIT_FAILURE;
	}
	r = fixture_run(pam_mtls_suite(), "pmtls");
	tk_rmrf(pki);
	return r;
}
