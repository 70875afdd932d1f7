/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a verb, wherever it runs: the verb table (who may run what
 * through latchkeyd), the role check, and opening the store in process
 * (with --offline's conditions) or taking latchkeyd's.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "audit-private.h"
#include "cli-private.h"
#include "util-private.h"

/*
 * Roles nest (auditor < operator < admin). `key due --rotate` needs an
 * operator: key_due checks that itself, where the option is parsed.
 * `policy check` reads the caller's own files and nothing of latchkeyd's,
 * so it runs in the caller's process, as the caller (0006-admin-socket.md).
 */
static const struct cli_verb verbs[] = {
	{ "init", NULL, "init", LK_ROLE_ADMIN, CLI_VERB_LOCAL, cmd_init, NULL },
	{ "key", "list", "key list", LK_ROLE_AUDITOR, 0, cmd_key, NULL },
	{ "key", "show", "key show", LK_ROLE_AUDITOR, 0, cmd_key, NULL },
	{ "key", "due", "key due", LK_ROLE_AUDITOR, 0, cmd_key, NULL },
	{ "key", "issue", "key issue", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "key", "rotate", "key rotate", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "key", "suspend", "key suspend", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "key", "resume", "key resume", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "key", "revoke", "key revoke", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "key", "verify", "key verify", LK_ROLE_OPERATOR, CLI_VERB_STDIN, cmd_key, "API key: " },
	{ "key", "revoke-all", "key revoke-all", LK_ROLE_ADMIN, 0, cmd_key, NULL },
	{ "key", "bind", "key bind", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "key", "unbind", "key unbind", LK_ROLE_OPERATOR, 0, cmd_key, NULL },
	{ "cert", "list", "cert list", LK_ROLE_AUDITOR, 0, cmd_cert, NULL },
	{ "cert", "*", "cert", LK_ROLE_AUDITOR, 0, cmd_cert, NULL },
	{ "key", "*", "key", LK_ROLE_AUDITOR, 0, cmd_key, NULL },
	{ "audit", "verify", "audit verify", LK_ROLE_AUDITOR, 0, cmd_audit, NULL },
	{ "audit", "log", "audit log", LK_ROLE_AUDITOR, 0, cmd_audit, NULL },
	/* A signed checkpoint now: it adds to the log, as key work does. */
	{ "audit", "checkpoint", "audit checkpoint", LK_ROLE_OPERATOR, 0, cmd_audit, NULL },
	/* Erasure and retention destroy data for good: an admin's
	 * (decision 0011). */
	{ "audit", "purge", "audit purge", LK_ROLE_ADMIN, 0, cmd_audit, NULL },
	{ "audit", "keygen", "audit keygen", LK_ROLE_ADMIN, 0, cmd_audit, NULL },
	{ "audit", "*", "audit", LK_ROLE_AUDITOR, 0, cmd_audit, NULL },
	{ "subject", "erase", "subject erase", LK_ROLE_ADMIN, 0, cmd_subject, NULL },
	{ "subject", "*", "subject", LK_ROLE_AUDITOR, 0, cmd_subject, NULL },
	{ "policy", "check", "policy check", LK_ROLE_AUDITOR, CLI_VERB_LOCAL, cmd_policy, NULL },
	{ "policy", "show", "policy show", LK_ROLE_AUDITOR, 0, cmd_policy, NULL },
	{ "policy", "mfa", "policy mfa", LK_ROLE_ADMIN, 0, cmd_policy, NULL },
	{ "policy", "*", "policy", LK_ROLE_AUDITOR, 0, cmd_policy, NULL },
	{ "auth", NULL, "auth", LK_ROLE_ADMIN, CLI_VERB_STDIN, cmd_auth, "API key: " },
	/* Enrolling prints a seed: an operator's, as issuing a key is. Removing
	 * a user's factor for good is an admin's; resetting it so the user can
	 * enroll again (a lost phone) is everyday operator work. */
	{ "totp", "enroll", "totp enroll", LK_ROLE_OPERATOR, 0, cmd_totp, NULL },
	{ "totp", "confirm", "totp confirm", LK_ROLE_OPERATOR, CLI_VERB_STDIN, cmd_totp,
	  "TOTP code: " },
	{ "totp", "list", "totp list", LK_ROLE_AUDITOR, 0, cmd_totp, NULL },
	{ "totp", "show", "totp show", LK_ROLE_AUDITOR, 0, cmd_totp, NULL },
	{ "totp", "reset", "totp reset", LK_ROLE_OPERATOR, 0, cmd_totp, NULL },
	{ "totp", "remove", "totp remove", LK_ROLE_ADMIN, 0, cmd_totp, NULL },
	{ "totp", "recovery", "totp recovery regenerate", LK_ROLE_OPERATOR, 0, cmd_totp, NULL },
	{ "totp", "*", "totp", LK_ROLE_AUDITOR, 0, cmd_totp, NULL },
	/* An auditor's verb; it adds one row (the report's checkpoint). */
	{ "report", "soc2", "report soc2", LK_ROLE_AUDITOR, 0, cmd_report, NULL },
	{ "report", "gdpr", "report gdpr", LK_ROLE_AUDITOR, 0, cmd_report, NULL },
	{ "report", "iso27001", "report iso27001", LK_ROLE_AUDITOR, 0, cmd_report, NULL },
	{ "report", "*", "report", LK_ROLE_AUDITOR, 0, cmd_report, NULL },
};

const struct cli_verb *cli_verb_find(int argc, char *const *argv)
{
	const struct cli_verb *any = NULL;

	if (argc < 1)
		return NULL;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct cli_verb *v = &verbs[i];
		if (strcmp(argv[0], v->command) != 0)
			continue;
		if (v->verb == NULL || (argc > 1 && strcmp(argv[1], v->verb) == 0))
			return v;
		if (strcmp(v->verb, "*") == 0)
			any = v;
	}
	return any;
}

bool cli_verb_reads_stdin(const struct cli_verb *v)
{
	return v != NULL && (v->flags & CLI_VERB_STDIN) != 0;
}

int cli_require(struct cli *c, enum lk_role need, const char *what)
{
	struct lk_err err = { { 0 } };
	char detail[128];
	int r;

	if (c->role >= need)
		return EXIT_OK;
	c->denied = true;
	/* The verb's name from the table: never the caller's arguments. */
	snprintf(detail, sizeof(detail), "verb=%s role=%s needs=%s", what, lk_role_str(c->role),
	         lk_role_str(need));
	r = lk_audit_record(c->store,
	                    &(struct lk_audit_event){
	                        .ts = c->now,
	                        .actor_uid = c->actor,
	                        .action = "admin.denied",
	                        .reason = c->role == LK_ROLE_NONE ? "no-role" : "role-too-low",
	                        .detail = detail },
	                    NULL, &err);
	if (r < 0)
		return cli_fail(c, CLI_EDENIED,
		                "permission denied: '%s' needs the %s role (and the refusal could "
		                "not be audited: %s)",
		                what, lk_role_str(need), err.msg);
	if (c->role == LK_ROLE_NONE)
		return cli_fail(c, CLI_EDENIED,
		                "permission denied: uid %lld has no role on latchkeyd; '%s' needs "
		                "the %s role",
		                (long long)c->actor, what, lk_role_str(need));
	return cli_fail(c, CLI_EDENIED,
	                "permission denied: uid %lld has the %s role; '%s' needs the %s role",
	                (long long)c->actor, lk_role_str(c->role), what, lk_role_str(need));
}

int cli_run(struct cli *c, int argc, char **argv)
{
	const struct cli_verb *v = cli_verb_find(argc, argv);
	int status;

	if (v == NULL)
		return cli_fail(c, LK_EINVAL, "unknown command '%.60s' (try --help)",
		                argc > 0 ? argv[0] : "");
	if (c->in_daemon && (v->flags & CLI_VERB_LOCAL))
		return cli_fail(c, LK_EINVAL, "'%s' runs in the caller's process, not in latchkeyd",
		                v->name);
	if ((status = cli_require(c, v->role, v->name)) != EXIT_OK)
		return status;
	/* The command sees its own argv, starting at its name. */
	optind = 0;
	return v->fn(c, argc, argv);
}

int cli_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * --offline: only the database's owner (root in production: the files are
 * 0600), and only while no latchkeyd runs on it. The daemon keeps its own
 * view of the audit chain's head between commits; a second writer beside
 * it would fork the chain.
 */
static int offline_allowed(struct cli *c)
{
	const char *socks[] = { c->cfg->admin_socket, c->cfg->auth_socket };
	struct stat st;

	if (stat(c->cfg->database, &st) == 0) {
		if (st.st_uid != geteuid())
			return cli_fail(c, CLI_EDENIED,
			                "--offline is for the database's owner: %s belongs to uid "
			                "%u, you are uid %u",
			                c->cfg->database, (unsigned)st.st_uid, (unsigned)geteuid());
	} else if (errno != ENOENT) {
		/* A missing database is lk_store_open's to report. */
		return cli_fail(c, LK_ESTORE, "cannot use database %s: %s", c->cfg->database,
		                strerror(errno));
	}
	for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		int fd;
		if (socks[i] == NULL || (fd = cli_connect(socks[i])) < 0)
			continue;
		close(fd);
		return cli_fail(c, LK_ESTATE,
		                "latchkeyd is running (it answers on %s); drop --offline",
		                socks[i]);
	}
	return EXIT_OK;
}

int cli_open(struct cli *c, bool need_master, bool readonly)
{
	struct lk_err err = { { 0 } };
	int status, r;

	if (c->in_daemon)
		return EXIT_OK;
	r = lk_config_load(c->config_path, &c->cfg, &err);
	if (r < 0)
		return cli_fail_err(c, LK_EIO, &err); /* any config trouble is a system error */
	if (c->offline && (status = offline_allowed(c)) != EXIT_OK)
		return status;
	if (need_master) {
		r = lk_master_load(c->cfg->master_key, &c->master, &err);
		if (r < 0)
			return cli_fail_err(c, LK_ECRYPTO, &err);
	}
	r = lk_store_open(c->cfg->database, readonly ? LK_STORE_READONLY : 0, c->master, &c->store,
	                  &err);
	if (r < 0)
		return cli_fail_err(c, LK_ESTORE, &err);
	return EXIT_OK;
}

bool cli_has_new_secrets(const struct cli *c)
{
	return c->n_new_kids > 0 || c->n_new_totp > 0;
}

void cli_close(struct cli *c)
{
	free(c->new_kids);
	c->new_kids = NULL;
	c->n_new_kids = 0;
	free(c->new_totp);
	c->new_totp = NULL;
	c->n_new_totp = 0;
	if (c->in_daemon)
		return;
	lk_store_close(c->store);
	lk_master_free(c->master);
	lk_signer_free(c->signer);
	lk_config_free(c->cfg);
	c->store = NULL;
	c->master = NULL;
	c->signer = NULL;
	c->cfg = NULL;
}

int cli_parse_since(const char *s, int64_t now, int64_t *ret_t)
{
	struct tm tm;
	int64_t d;
	const char *end;

	if (lk_duration_parse(s, &d) == LK_OK) {
		*ret_t = now - d;
		return LK_OK;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (end == NULL || *end != '\0')
		return LK_EINVAL;
	*ret_t = (int64_t)timegm(&tm);
	return LK_OK;
}
