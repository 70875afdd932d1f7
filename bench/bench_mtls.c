/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mtls: what a client certificate costs a login, through the real PAM
 * stack as a service sees it: pam_start_confdir / pam_authenticate /
 * pam_end per login (the certificate chain handed over with
 * pam_putenv("LATCHKEY_CLIENT_CERT=<PEM>") in between, as a TLS terminator
 * would), in a loop on K processes at once for a fixed time, against a
 * latchkeyd spawned on a temp state dir (durability = fsync, group commit:
 * the defaults). The harness (state dir, daemon, workers, cleanup) is
 * bench-util.h's, shared with bench_pam and bench_totp. Stacks, all in the
 * same run and against the same daemon:
 *
 *   pam_permit              "auth required pam_permit.so": the ceiling
 *   API key                 pam_latchkey, policy: the apikey step; user
 *                           alice answers the key prompt with her key (the
 *                           reference the certificate rows are read
 *                           against)
 *   cert                    pam_latchkey no_authtok, policy: the mtls step
 *                           (ca= the root, map=san-email:{}@example.com);
 *                           no PAM user (pam_start with NULL): the leaf
 *                           names alice, and no prompt is answered
 *   cert + CRL              the same, with crl= the intermediate's CRL
 *                           (REVOKED serials listed, crl-max-age=366d)
 *   bound key + cert        the API-key policy again, with a key issued
 *                           with --cert leaf.pem and the chain handed over:
 *                           the core reads the leaf and compares its
 *                           SHA-256 with the key's binding
 *
 * The PKI is made at run time with the openssl command in the temp dir
 * (openssl from PATH): a P-384 root, a P-256 intermediate under it
 * (pathlen:0), alice's P-256 leaf under that (clientAuth, SAN
 * email:alice@example.com, 30 days) and REVOKED more leaves the
 * intermediate revokes before it issues its CRL. The client presents leaf +
 * intermediate (PEM); only the root is a trust anchor, so every login
 * verifies the whole chain. Files 0644 in 0755 directories under the 0700
 * temp dir: the daemon refuses trust files anyone else could rewrite.
 *
 * Before the timed runs, each stack is tried once and must succeed, the
 * certificate rows with PAM_USER set to alice from the certificate; the
 * bound key without the certificate and a revoked leaf under the CRL policy
 * must both be refused: a row that would measure something else (a binding
 * not enforced, a CRL not read) stops the run. Then every timed login's
 * result is checked, and anything but PAM_SUCCESS stops the run too: a
 * benchmark of failures is worthless.
 *
 *   bench/bench_mtls [-k K] [-n N] [-t SECONDS]
 *
 * -k: the concurrent clients besides K = 1 (default 8), -n: repetitions,
 * the median is printed (default 5), -t: seconds per repetition (default
 * 1). Within each repetition the stacks run in turn at each K, starting
 * with a different one each time, so that a change in the machine's load
 * weighs on all of them alike; ratios are of medians of the same run.
 * Prints figures; asserts no timing. Binaries from LATCHKEY_BIN,
 * LATCHKEYD_BIN, LK_APIKEY_PLUGIN_DIR, LK_MTLS_PLUGIN_DIR and LK_PAM_MODULE,
 * else from the build tree this was built in.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <sodium.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apikey-private.h"
#include "bench-util.h"

#ifndef LK_BUILDDIR
#define LK_BUILDDIR "."
#endif

#define CONFIG_LINES "durability = fsync\ngroup_commit_max = 64\n"
#define CERT_ENV     "LATCHKEY_CLIENT_CERT="
#define REVOKED      4 /* leaves on the intermediate's CRL */
#define USER         "alice"

extern char **environ;

enum key_use { KEY_NONE, KEY_PLAIN, KEY_BOUND };

struct stack {
	const char *label;
	const char *service; /* a file in the PAM confdir */
	const char *user;    /* NULL: the certificate names the user */
	enum key_use key;    /* the answer to the key prompt */
	bool cert;           /* alice's chain in LATCHKEY_CLIENT_CERT */
};

enum stack_id { STACK_PERMIT, STACK_KEY, STACK_CERT, STACK_CERT_CRL, STACK_BOUND, N_STACKS };

static const struct stack stacks[N_STACKS] = {
	{ "pam_permit (ceiling)", "permit", USER, KEY_NONE, false },
	{ "pam_latchkey, API key", "key", USER, KEY_PLAIN, false },
	{ "pam_latchkey, cert", "cert", NULL, KEY_NONE, true },
	{ "pam_latchkey, cert + CRL", "cert-crl", NULL, KEY_NONE, true },
	{ "pam_latchkey, bound key + cert", "key", USER, KEY_BOUND, true },
};

/* This program's own part of the run's state (bench-util.h has the rest). */
static struct {
	const char *plugin_dirs[2], *module;
	char plugins[PATH_MAX + 16];
	char pki[PATH_MAX + 16];
	char key[LK_KEY_MAX_LEN + 1];
	char bound_key[LK_KEY_MAX_LEN + 1];
	char *cert_env;    /* CERT_ENV + alice's leaf + the intermediate */
	char *revoked_env; /* CERT_ENV + a revoked leaf + the intermediate */
	size_t chain_len;
} P;

static void wipe_keys(void)
{
	sodium_memzero(P.key, sizeof(P.key));
	sodium_memzero(P.bound_key, sizeof(P.bound_key));
}

/* ---- The PKI ---- */

/*
 * Run by /bin/sh -eu with the PKI directory as $1; as tests/mtls-pki.sh
 * does it, an "openssl ca" database per issuer, so that the intermediate
 * can revoke and issue a CRL. Validity from now: the run uses the wall
 * clock.
 */
static const char pki_script[] =
    "cd \"$1\"\n"
    "umask 022\n"
    "cat >ext.cnf <<'EOF'\n"
    "[ v3_root ]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[ v3_int ]\n"
    "basicConstraints = critical, CA:TRUE, pathlen:0\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid:always\n"
    "[ v3_client ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = clientAuth\n"
    "subjectAltName = $ENV::LK_SAN\n"
    "EOF\n"
    "LK_SAN=email:nobody@example.com\n"
    "export LK_SAN\n"
    "ca_dir()\n"
    "{\n"
    "	mkdir -p \"ca/$1/new\"\n"
    "	: >\"ca/$1/index.txt\"\n"
    "	echo 'unique_subject = no' >\"ca/$1/index.txt.attr\"\n"
    "	echo 1000 >\"ca/$1/serial\"\n"
    "	echo 1000 >\"ca/$1/crlnumber\"\n"
    "	cat >\"ca/$1/ca.cnf\" <<EOF\n"
    "[ ca ]\n"
    "default_ca = this\n"
    "[ this ]\n"
    "dir = ca/$1\n"
    "database = \\$dir/index.txt\n"
    "new_certs_dir = \\$dir/new\n"
    "serial = \\$dir/serial\n"
    "crlnumber = \\$dir/crlnumber\n"
    "certificate = $1.pem\n"
    "private_key = $1.key\n"
    "default_md = sha256\n"
    "policy = any\n"
    "email_in_dn = no\n"
    "copy_extensions = none\n"
    "[ any ]\n"
    "commonName = supplied\n"
    "EOF\n"
    "}\n"
    /* cert NAME ISSUER CN DAYS EXT CURVE: NAME.pem for a new EC key on
     * CURVE, signed by ISSUER (ISSUER = NAME: self-signed). */
    "cert()\n"
    "{\n"
    "	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:\"$6\" "
    "-out \"$1.key\"\n"
    "	openssl req -new -key \"$1.key\" -subj \"/CN=$3\" -out \"$1.csr\"\n"
    "	if [ \"$2\" = \"$1\" ]; then\n"
    "		ca_dir \"$1\"\n"
    "		openssl ca -batch -notext -config \"ca/$1/ca.cnf\" -selfsign -keyfile \"$1.key\" "
    "-in \"$1.csr\" -out \"$1.pem\" -days \"$4\" -extfile ext.cnf -extensions \"$5\"\n"
    "	else\n"
    "		openssl ca -batch -notext -config \"ca/$2/ca.cnf\" -in \"$1.csr\" -out \"$1.pem\" "
    "-days \"$4\" -extfile ext.cnf -extensions \"$5\"\n"
    "	fi\n"
    "	rm -f \"$1.csr\"\n"
    "}\n"
    "cert root root 'Bench Root' 3650 v3_root P-384\n"
    "cert int root 'Bench Intermediate' 3650 v3_int P-256\n"
    "ca_dir int\n"
    "LK_SAN=email:alice@example.com cert leaf int alice 30 v3_client P-256\n"
    "i=1\n"
    "while [ \"$i\" -le \"$2\" ]; do\n"
    "	LK_SAN=email:revoked$i@example.com cert revoked$i int revoked$i 30 v3_client P-256\n"
    "	openssl ca -batch -config ca/int/ca.cnf -revoke revoked$i.pem "
    "-crl_reason keyCompromise\n"
    "	i=$((i + 1))\n"
    "done\n"
    "openssl ca -batch -config ca/int/ca.cnf -gencrl -crldays 30 -out crl.pem\n"
    "cat leaf.pem int.pem >chain.pem\n"
    "cat revoked1.pem int.pem >revoked-chain.pem\n"
    "rm -f ext.cnf\n"
    "chmod 0600 *.key\n"
    "chmod 0644 *.pem\n";

/* The PKI in P.pki; the openssl commands' output goes to the log. */
static void make_pki(void)
{
	posix_spawn_file_actions_t fa;
	char revoked[16];
	char *const argv[] = { "sh", "-eu", "-c", (char *)pki_script, "sh", P.pki, revoked, NULL };
	int rc, wst = -1;
	pid_t pid;

	snprintf(P.pki, sizeof(P.pki), "%s/pki", bench.base);
	bench_mkdir(P.pki, 0755);
	snprintf(revoked, sizeof(revoked), "%d", REVOKED);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, bench.log,
	                                 O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		bench_die("cannot run /bin/sh: %s", strerror(rc));
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		bench_die("making the PKI with openssl failed (wait status %d)", wst);
}

/* CERT_ENV followed by the PEM in the PKI's file name. */
static char *cert_env(const char *name, size_t *ret_len)
{
	char path[PATH_MAX * 2];
	char *pem, *env;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", P.pki, name);
	pem = bench_read_file(path);
	len = strlen(pem);
	env = malloc(sizeof(CERT_ENV) + len);
	if (env == NULL)
		bench_die("out of memory");
	memcpy(env, CERT_ENV, sizeof(CERT_ENV) - 1);
	memcpy(env + sizeof(CERT_ENV) - 1, pem, len + 1);
	free(pem);
	if (ret_len != NULL)
		*ret_len = len;
	return env;
}

/* ---- Setting up the state dir ---- */

/* latchkeyd reads plugins from one directory. */
static void make_plugin_dir(void)
{
	static const char *const names[] = { "apikey.so", "mtls.so" };

	bench_plugin_dir(P.plugins, sizeof(P.plugins), P.plugin_dirs, names, 2);
}

static void write_policies(void)
{
	char path[PATH_MAX * 2], text[PATH_MAX * 4];

	snprintf(path, sizeof(path), "%s/policies/key.xml", bench.state);
	bench_write_file(path,
	                 "<policy xmlns=\"urn:latchkey:policy:1\" service=\"key\" "
	                 "environment=\"prod\"><stack>"
	                 "<step plugin=\"apikey\" control=\"required\"/>"
	                 "</stack><scopes><scope>web:read</scope></scopes></policy>\n",
	                 0644);
	snprintf(path, sizeof(path), "%s/policies/cert.xml", bench.state);
	snprintf(text, sizeof(text),
	         "<policy xmlns=\"urn:latchkey:policy:1\" service=\"cert\" "
	         "environment=\"prod\"><stack><step plugin=\"mtls\" control=\"required\">"
	         "<arg>ca=%s/root.pem</arg><arg>map=san-email:{}@example.com</arg>"
	         "</step></stack></policy>\n",
	         P.pki);
	bench_write_file(path, text, 0644);
	snprintf(path, sizeof(path), "%s/policies/cert-crl.xml", bench.state);
	snprintf(text, sizeof(text),
	         "<policy xmlns=\"urn:latchkey:policy:1\" service=\"cert-crl\" "
	         "environment=\"prod\"><stack><step plugin=\"mtls\" control=\"required\">"
	         "<arg>ca=%s/root.pem</arg><arg>crl=%s/crl.pem</arg><arg>crl-max-age=366d</arg>"
	         "<arg>map=san-email:{}@example.com</arg></step></stack></policy>\n",
	         P.pki, P.pki);
	bench_write_file(path, text, 0644);
}

/* "permit" (the ceiling), "key" (pam_latchkey), "cert" and "cert-crl"
 * (pam_latchkey, no key asked for up front). */
static void write_pam_services(void)
{
	char path[PATH_MAX * 2], text[PATH_MAX * 3];

	snprintf(path, sizeof(path), "%s/permit", bench.confdir);
	bench_write_file(path, "auth required pam_permit.so\n", 0644);
	snprintf(path, sizeof(path), "%s/key", bench.confdir);
	snprintf(text, sizeof(text), "auth required %s socket=%s\n", P.module, bench.sock);
	bench_write_file(path, text, 0644);
	snprintf(text, sizeof(text), "auth required %s socket=%s no_authtok\n", P.module,
	         bench.sock);
	snprintf(path, sizeof(path), "%s/cert", bench.confdir);
	bench_write_file(path, text, 0644);
	snprintf(path, sizeof(path), "%s/cert-crl", bench.confdir);
	bench_write_file(path, text, 0644);
}

/* A key for alice (env prod, scope web:read, 30 days), bound to the
 * certificate in the file cert if not NULL. */
static void issue_key(const char *cert, char *ret_key)
{
	char *argv[17] = { "latchkey", "-c",       bench.conf,  "--offline", "key",
		           "issue",    "--owner",  USER,        "--env",     "prod",
		           "--scope",  "web:read", "--expires", "30d" };
	int n = 14;

	if (cert != NULL) {
		argv[n++] = "--cert";
		argv[n++] = (char *)cert;
	}
	argv[n] = NULL;
	bench_run_cli(cert != NULL ? "key issue --cert" : "key issue", argv, ret_key,
	              LK_KEY_MAX_LEN + 1);
}

static void setup_state(void)
{
	char leaf[PATH_MAX * 2];

	bench_make_base("mtls");
	make_pki();
	make_plugin_dir();
	bench_init_state(P.plugins);
	write_policies();
	write_pam_services();
	snprintf(leaf, sizeof(leaf), "%s/leaf.pem", P.pki);
	issue_key(NULL, P.key);
	issue_key(leaf, P.bound_key);
	P.cert_env = cert_env("chain.pem", &P.chain_len);
	P.revoked_env = cert_env("revoked-chain.pem", NULL);
}

/* ---- Logins ---- */

static const char *key_of(enum key_use key)
{
	return key == KEY_PLAIN ? P.key : key == KEY_BOUND ? P.bound_key : NULL;
}

/*
 * One login as a service does it: pam_start_confdir (bench.confdir), the
 * chain in the PAM environment if cert_env is not NULL,
 * pam_authenticate(PAM_SILENT), pam_end. A prompt is answered with key, or
 * not at all (PAM_CONV_ERR) when key is NULL. Returns pam_authenticate's
 * code, or that of the call before it that failed (*ret_stage then
 * BENCH_FAIL_START: a handle that could not be set up). PAM_USER after
 * pam_authenticate in ret_user, if not NULL.
 */
static int login(const char *service, const char *user, const char *key, const char *cert_env,
                 enum bench_failure *ret_stage, char *ret_user, size_t user_len)
{
	const struct bench_answer answers[] = { { NULL, key }, { NULL, NULL } };
	struct pam_conv pc = { bench_conv, (void *)answers };
	pam_handle_t *pamh = NULL;
	const void *item = NULL;
	int r;

	*ret_stage = BENCH_FAIL_START;
	r = pam_start_confdir(service, user, &pc, bench.confdir, &pamh);
	if (r != PAM_SUCCESS)
		return r;
	if (cert_env != NULL && (r = pam_putenv(pamh, cert_env)) != PAM_SUCCESS) {
		pam_end(pamh, r);
		return r;
	}
	*ret_stage = BENCH_FAIL_AUTH;
	r = pam_authenticate(pamh, PAM_SILENT);
	if (ret_user != NULL) {
		if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || item == NULL)
			item = "";
		snprintf(ret_user, user_len, "%s", (const char *)item);
	}
	pam_end(pamh, r);
	return r;
}

/* Logs in with the stack until the deadline. */
static void body(int worker, double deadline, struct bench_report *rep, void *ctx)
{
	const struct stack *s = ctx;
	const char *key = key_of(s->key);
	const char *env = s->cert ? P.cert_env : NULL;
	enum bench_failure stage;
	int r;

	(void)worker;
	while (bench_now() < deadline) {
		r = login(s->service, s->user, key, env, &stage, NULL, 0);
		if (r != PAM_SUCCESS) {
			rep->failed = stage;
			rep->code = r;
			rep->expect = PAM_SUCCESS;
			return;
		}
		rep->count++;
	}
}

/* One login in this process, before anything is timed; what it returned
 * must be (refused: anything but) PAM_SUCCESS. */
static void probe(const char *what, const char *service, const char *user, const char *key,
                  const char *cert_env, bool refused)
{
	char got[256];
	enum bench_failure stage;
	int r = login(service, user, key, cert_env, &stage, got, sizeof(got));

	if (refused && r == PAM_SUCCESS)
		bench_die("%s: the login succeeded; it must be refused", what);
	if (!refused && r != PAM_SUCCESS)
		bench_die("%s: %s returned \"%s\" (%d), expected success", what,
		          stage == BENCH_FAIL_START ? "setting up the PAM handle"
		                                    : "pam_authenticate",
		          pam_strerror(NULL, r), r);
	if (!refused && strcmp(got, USER) != 0)
		bench_die("%s: PAM_USER is '%s' after the login, expected '%s'", what, got, USER);
}

/* Each stack works, and measures what its label says. */
static void check_stacks(void)
{
	probe("the bound key without its certificate", "key", USER, P.bound_key, NULL, true);
	probe("a revoked leaf under the CRL policy", "cert-crl", NULL, NULL, P.revoked_env, true);
	for (int i = 0; i < N_STACKS; i++) {
		const struct stack *s = &stacks[i];
		probe(s->label, s->service, s->user, key_of(s->key), s->cert ? P.cert_env : NULL,
		      false);
	}
}

/* ---- The run ---- */

struct row {
	enum stack_id stack;
	int k;
	double samples[BENCH_MAX_REPS];
	double rate; /* their median */
};

static void find_binaries(void)
{
	bench_find_latchkey(LK_BUILDDIR);
	P.plugin_dirs[0] =
	    bench_path("LK_APIKEY_PLUGIN_DIR", LK_BUILDDIR "/plugins/apikey/.libs", R_OK | X_OK);
	P.plugin_dirs[1] =
	    bench_path("LK_MTLS_PLUGIN_DIR", LK_BUILDDIR "/plugins/mtls/.libs", R_OK | X_OK);
	P.module = bench_path("LK_PAM_MODULE", LK_BUILDDIR "/pam/.libs/pam_latchkey.so", R_OK);
}

/* Each stack at K = 1, then each at K = k. */
static int plan(struct row *rows, int k)
{
	int n = 0;

	for (int i = 0; i < (k == 1 ? 1 : 2); i++)
		for (int s = 0; s < N_STACKS; s++)
			rows[n++] = (struct row){ .stack = (enum stack_id)s, .k = i == 0 ? 1 : k };
	return n;
}

/* Within each repetition the stacks run in turn at each K, starting with a
 * different one each time. One daemon throughout: its config is the same
 * for every stack. */
static void measure(struct row *rows, int n, int reps, double seconds)
{
	for (int r = 0; r < reps; r++) {
		for (int i = 0; i < n; i++) {
			struct row *row = &rows[i / N_STACKS * N_STACKS + (i + r) % N_STACKS];
			row->samples[r] = bench_run(stacks[row->stack].label, row->k, seconds, body,
			                            (void *)&stacks[row->stack], NULL);
			bench_check_interrupted();
		}
	}
	for (int i = 0; i < n; i++)
		rows[i].rate = bench_median(rows[i].samples, reps);
}

static double rate_of(const struct row *rows, int n, enum stack_id stack, int k)
{
	for (int i = 0; i < n; i++)
		if (rows[i].stack == stack && rows[i].k == k)
			return rows[i].rate;
	return 0;
}

static void print_table(const struct row *rows, int n)
{
	printf("%-32s %3s %10s %10s %10s\n", "stack", "K", "logins/s", "/permit", "/API key");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		double permit = rate_of(rows, n, STACK_PERMIT, r->k);
		double key = rate_of(rows, n, STACK_KEY, r->k);
		printf("%-32s %3d %10.0f %9.2fx %9.2fx\n", stacks[r->stack].label, r->k, r->rate,
		       permit > 0 ? r->rate / permit : 0, key > 0 ? r->rate / key : 0);
	}
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_mtls [-k K] [-n N] [-t SECONDS]\n"
	        "  -k  concurrent clients besides 1 (1 to %d, default 8)\n"
	        "  -n  repetitions, the median is printed (1 to %d, default 5)\n"
	        "  -t  seconds per repetition (default 1)\n",
	        BENCH_MAX_CLIENTS, BENCH_MAX_REPS);
	exit(2);
}

int main(int argc, char **argv)
{
	struct row rows[2 * N_STACKS];
	int k = 8, reps = 5, opt, n;
	double seconds = 1;

	bench.prog = "bench_mtls";
	bench.peer_services = "key,cert,cert-crl";
	bench.wipe = wipe_keys;
	while ((opt = getopt(argc, argv, "k:n:t:h")) != -1)
		if (!bench_common_option(opt, optarg, &k, &reps, &seconds))
			usage();
	if (optind != argc)
		usage();
	if (sodium_init() < 0)
		bench_die("cannot initialise libsodium");
	bench_catch_signals();
	find_binaries();
	setup_state();
	bench_start_daemon(CONFIG_LINES, "fsync, group commit");
	check_stacks();

	n = plan(rows, k);
	measure(rows, n, reps, seconds);
	if (!bench_stop_daemon())
		bench_die("latchkeyd did not stop cleanly");

	printf("bench_mtls: pam_start_confdir (+ pam_putenv of the chain) + pam_authenticate + "
	       "pam_end per login, K processes each in its own loop;\n%d repetitions x %.1f s "
	       "(stacks alternating), medians; latchkeyd: durability = fsync, group commit; "
	       "%ld CPUs\nchain: P-256 leaf + P-256 intermediate, %zu bytes of PEM, anchor a "
	       "P-384 root; CRL: the intermediate's, %d serials\n",
	       reps, seconds, sysconf(_SC_NPROCESSORS_ONLN), P.chain_len, REVOKED);
	print_table(rows, n);
	bench_cleanup(false);
	free(P.cert_env);
	free(P.revoked_env);
	return 0;
}
