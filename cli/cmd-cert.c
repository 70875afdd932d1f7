/* SPDX-License-Identifier: Apache-2.0 */
/*
 * latchkey cert ...: the client-certificate inventory (every certificate
 * an mtls step accepted), and reading --cert FILE for the key verbs in the
 * caller's own process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs-private.h"
#include "cli-private.h"
#include "util-private.h"

struct cert_list_ctx {
	struct cli *c;
	struct json j;
	size_t n;
};

static int cert_row(const struct lk_cert_row *row, void *ctx)
{
	struct cert_list_ctx *l = ctx;
	char after[40], last[40];

	l->n++;
	if (l->c->json) {
		json_value_open(&l->j, NULL, '{');
		json_str(&l->j, "sha256", row->info.sha256);
		json_str(&l->j, "subject", row->info.subject);
		json_str(&l->j, "issuer", row->info.issuer);
		json_str(&l->j, "serial", row->info.serial);
		json_time(&l->j, "not_before", row->info.not_before);
		json_time(&l->j, "not_after", row->info.not_after);
		json_bool(&l->j, "expired", row->info.not_after <= l->c->now);
		json_str(&l->j, "principal", row->principal[0] ? row->principal : NULL);
		json_time(&l->j, "first_seen", row->first_seen);
		json_time(&l->j, "last_seen", row->last_seen);
		json_str(&l->j, "last_service", row->last_service);
		json_int(&l->j, "uses", row->uses);
		json_close(&l->j, '{');
		return 0;
	}
	lk_time_format(row->info.not_after, after, sizeof(after));
	lk_time_format(row->last_seen, last, sizeof(last));
	fprintf(l->c->out, "%.16s  %-20s%s %-20s %-16s %s | issuer %s\n", row->info.sha256, after,
	        row->info.not_after <= l->c->now ? "!" : " ", last,
	        row->principal[0] ? row->principal : "-", row->info.subject, row->info.issuer);
	return 0;
}

/* cert list [--expiring DURATION] [--json] */
static int cert_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expiring", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct cert_list_ctx l = { .c = c };
	struct lk_err err = { { 0 } };
	int64_t within = 0, before = 0;
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j') {
			c->json = true;
		} else if (opt == 'e') {
			if (lk_duration_parse(optarg, &within) < 0 || within <= 0)
				return cli_fail(c, LK_EINVAL,
				                "bad --expiring '%.40s' (a duration: 30d, 12h, 8w)",
				                optarg);
			before = c->now + within;
		} else {
			return cli_fail(c, LK_EINVAL, "option '%.60s' is not valid for 'cert list'",
			                argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if ((status = cli_open(c, false, true)) != EXIT_OK)
		return status;
	if (c->json) {
		json_open(&l.j, c->out, '{');
		json_time(&l.j, "now", c->now);
		json_time(&l.j, "expiring_before", before);
		json_value_open(&l.j, "certificates", '[');
	} else {
		fprintf(c->out, "%-16s  %-21s %-20s %-16s %s\n", "SHA-256", "NOT AFTER",
		        "LAST SEEN", "PRINCIPAL", "SUBJECT | ISSUER");
	}
	r = lk_cert_list(c->store, before, cert_row, &l, &err);
	if (c->json) {
		json_close(&l.j, '[');
		json_close(&l.j, '{');
		fputc('\n', c->out);
	}
	if (r < 0)
		return cli_fail_err(c, r, &err);
	if (!c->json)
		fprintf(c->err, "%zu certificate%s%s ('!': expired)\n", l.n, l.n == 1 ? "" : "s",
		        before ? " expiring within the period" : "");
	return EXIT_OK;
}

int cmd_cert(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(c, LK_EINVAL, "missing cert command (list)");
	if (strcmp(argv[1], "list") == 0) {
		optind = 0;
		return cert_list(c, argc - 1, argv + 1);
	}
	return cli_fail(c, LK_EINVAL, "unknown cert command '%.60s'", argv[1]);
}

/* The fingerprint of the certificate in path, read as the caller. */
static int file_fingerprint(const char *path, char *out, size_t outlen)
{
	unsigned char buf[LK_CERT_INPUT_MAX + 1];
	struct lk_cert_info info;
	struct lk_err err = { { 0 } };
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "latchkey: cannot open certificate %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "latchkey: certificate %s is not a regular file\n", path);
		close(fd);
		return -1;
	}
	while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (lk_cert_leaf(buf, got, &info, &err) < 0) {
		fprintf(stderr, "latchkey: certificate %s: %s\n", path, err.msg);
		return -1;
	}
	snprintf(out, outlen, "--cert-sha256=%s", info.sha256);
	return 0;
}

int cli_localize_cert(int argc, char **argv, char **ret_owned)
{
	*ret_owned = NULL;
	for (int i = 0; i < argc; i++) {
		const char *path = NULL;
		int consumed = 1;
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "--cert=", 7) == 0)
			path = argv[i] + 7;
		else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc)
			path = argv[i + 1], consumed = 2;
		if (path == NULL)
			continue;
		if (*ret_owned != NULL) {
			fputs("latchkey: --cert given more than once\n", stderr);
			return -1;
		}
		*ret_owned = malloc(LK_CERT_SHA256_HEX + 32);
		if (*ret_owned == NULL ||
		    file_fingerprint(path, *ret_owned, LK_CERT_SHA256_HEX + 32) < 0)
			return -1;
		argv[i] = *ret_owned;
		if (consumed == 2) {
			memmove(&argv[i + 1], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(*argv));
			argv[argc - 1] = NULL;
			return argc - 1;
		}
	}
	return argc;
}
