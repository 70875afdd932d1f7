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
    "usage: latchkey [-c|--config FILE] [--json] [--offline] COMMAND ...\n"
    "       latchkey --help | --version\n"
    "\n"
    "  init --state-dir DIR            create a self-contained setup, print its config path\n"
    "  key issue --owner O --env E --scope S... --expires 30d|never\n"
    "            [--allow-cidr C...] [--description D] [--cert FILE|--cert-sha256 FP]\n"
    "  key list [--owner O] [--env E]   key show KID\n"
    "  key rotate KID [--immediate]     key revoke KID --reason R\n"
    "  key suspend KID --reason R       key resume KID --reason R\n"
    "  key revoke-all --owner O --reason R [--left DATE]\n"
    "  key due [--within 14d] [--rotate]\n"
    "  key verify [--env E] [--scope S...] [--source IP] [--cert FILE]   (key on stdin)\n"
    "  key bind KID --cert FILE|--cert-sha256 FP --reason R   key unbind KID --reason R\n"
    "  cert list [--expiring 30d]        (client certificates mtls steps accepted)\n"
    "  audit verify                     audit log [--since T] [--key KID] [--subject S]\n"
    "                                             [--type ACTION] [--limit N]\n"
    "  audit checkpoint                 (sign a checkpoint of the audit chain now)\n"
    "  audit purge --before DATE --reason R   (retention: whole segments up to a checkpoint)\n"
    "  audit keygen                   (a signing key for a setup made before checkpoints)\n"
    "  subject erase SUBJECT --reason R [--ticket T]   (GDPR erasure of an owner)\n"
    "  policy check FILE...             policy show SERVICE\n"
    "  policy mfa enable|disable SERVICE --plugin P [--scope S...] [--ticket T]\n"
    "  auth SERVICE [--user U] [--rhost H] [--scope S...]   (key on stdin; runs the policy)\n"
    "  totp enroll USER [--algorithm SHA1|SHA256|SHA512] [--digits 6-8] [--period SECS]\n"
    "                   [--issuer NAME]   (URI, QR code and recovery codes, shown once)\n"
    "  totp confirm USER (code on stdin)  totp list      totp show USER\n"
    "  totp reset USER --reason R         totp remove USER --reason R\n"
    "  totp recovery regenerate USER\n"
    "  report soc2|gdpr|iso27001 --from DATE --to DATE --out DIR   (signed evidence pack)\n"
    "\n"
    "Every command but init and policy check runs in latchkeyd, through its admin socket;\n"
    "--offline runs it here instead: for the database's owner, while latchkeyd is stopped.\n"
    "Config: -c FILE, else $LATCHKEY_CONFIG, else " LK_DEFAULT_CONFIG ".\n"
    "Exit: 0 ok, 1 denied or tampered, 2 bad input, 3 not found or conflict, 4 system error.\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "offline", no_argument, NULL, 'o' },      { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
	};
	struct cli c;
	const struct cli_verb *verb;
	const char *cli_config = NULL;
	char *cert_arg = NULL;
	int opt, status;

	memset(&c, 0, sizeof(c));
	c.out = stdout;
	c.err = stderr;
	/* In process, the caller is whoever can open the files. */
	c.role = LK_ROLE_ADMIN;
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
		case 'o':
			c.offline = true;
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

	argc -= optind;
	argv += optind;
	if (argc > 1 && strcmp(argv[0], "key") == 0 &&
	    (argc = cli_localize_cert(argc, argv, &cert_arg)) < 0) {
		free(cert_arg);
		return EXIT_USAGE;
	}
	verb = cli_verb_find(argc, argv);
	if (verb == NULL)
		return cli_fail(&c, LK_EINVAL, "unknown command '%.60s' (try --help)", argv[0]);
	if (c.offline && strcmp(verb->command, "init") == 0)
		return cli_fail(&c, LK_EINVAL,
		                "--offline is not an option for init (it always runs here)");
	if (c.offline || (verb->flags & CLI_VERB_LOCAL))
		status = cli_run(&c, argc, argv);
	else
		status = cli_remote(&c, argc, argv);
	cli_close(&c);
	free(cert_arg);
	if ((ferror(stdout) || fflush(stdout) != 0) && status == EXIT_OK) {
		fputs("latchkey: cannot write to standard output\n", stderr);
		status = EXIT_SYSTEM;
	}
	return status;
}
