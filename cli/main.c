/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey: the admin command. See docs/latchkey.1. */
#include "config.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli-private.h"
#include "util-private.h"

static const char usage_text[] =
    "usage: latchkey [-c|--config FILE] [--json] COMMAND ...\n"
    "       latchkey --help | --version\n"
    "\n"
    "  init --state-dir DIR            create a self-contained setup, print its config path\n"
    "  key issue --owner O --env E --scope S... --expires 30d|never\n"
    "            [--allow-cidr C...] [--description D]\n"
    "  key list [--owner O] [--env E]   key show KID\n"
    "  key rotate KID [--immediate]     key revoke KID --reason R\n"
    "  key suspend KID --reason R       key resume KID --reason R\n"
    "  key revoke-all --owner O --reason R\n"
    "  key due [--within 14d] [--rotate]\n"
    "  key verify [--env E] [--scope S...] [--source IP]   (key on stdin)\n"
    "  audit verify                     audit log [--since T] [--key KID] [--subject S]\n"
    "                                             [--type ACTION] [--limit N]\n"
    "  policy check FILE...             policy show SERVICE\n"
    "  policy mfa enable|disable SERVICE --plugin P [--scope S...] [--ticket T]\n"
    "  auth SERVICE [--user U] [--rhost H] [--scope S...]   (key on stdin; runs the policy)\n"
    "\n"
    "Config: -c FILE, else $LATCHKEY_CONFIG, else " LK_DEFAULT_CONFIG ".\n"
    "Exit: 0 ok, 1 denied or tampered, 2 bad input, 3 not found or conflict, 4 system error.\n";

int cli_open(struct cli *c, bool need_master, bool readonly)
{
	struct lk_err err = { { 0 } };
	int r;

	r = lk_config_load(c->config_path, &c->cfg, &err);
	if (r < 0)
		return cli_fail_err(c, LK_EIO, &err); /* any config trouble is a system error */
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

void cli_close(struct cli *c)
{
	lk_store_close(c->store);
	lk_master_free(c->master);
	lk_config_free(c->cfg);
	c->store = NULL;
	c->master = NULL;
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

static const struct {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
} commands[] = {
	{ "init", cmd_init },     { "key", cmd_key },   { "audit", cmd_audit },
	{ "policy", cmd_policy }, { "auth", cmd_auth },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	const char *cli_config = NULL;
	int opt, status;

	memset(&c, 0, sizeof(c));
	/* New keys and the master key pass through this process: no core
	 * dump may carry them to disk, and no same-user ptrace may read them. */
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	opterr = 0; /* our own one-line errors instead of getopt's */
	/* No file we create is world-readable; the master key and database are
	 * created 0600 explicitly, whatever the umask. */
	umask(027);
	while ((opt = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cli_config = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("latchkey %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (sodium_init() < 0)
		return cli_fail(&c, LK_ECRYPTO, "libsodium failed to initialise");
	if (lk_now(&c.now) < 0)
		return cli_fail(&c, LK_EIO,
		                "the system clock is unreadable or not set; refusing to act");
	c.config_path = lk_config_locate(cli_config);
	c.actor = (int64_t)getuid();

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			/* The command sees its own argv, starting at its name. */
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 0;
			status = commands[i].fn(&c, sub_argc, sub_argv);
			cli_close(&c);
			if ((ferror(stdout) || fflush(stdout) != 0) && status == EXIT_OK) {
				fputs("latchkey: cannot write to standard output\n", stderr);
				status = EXIT_SYSTEM;
			}
			return status;
		}
	}
	return cli_fail(&c, LK_EINVAL, "unknown command '%.60s' (try --help)", argv[optind]);
}
