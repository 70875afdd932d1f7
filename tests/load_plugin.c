/* SPDX-License-Identifier: Apache-2.0 */
/*
 * load_plugin DIR NAME [ARG...]: loads DIR/NAME.so through the real loader,
 * prints the evidence it recorded, then runs init(ARG...), one
 * authenticate and fini, and prints the decision. Exit 0 on success, 1 if
 * the plugin was refused or failed. Used by tests/out-of-tree-plugin.sh.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader-private.h"

static void host_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	fprintf(stderr, "load_plugin: plugin log (%d): ", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	struct lk_plugin_host host = {
		.abi_major = LK_PLUGIN_ABI_MAJOR,
		.abi_minor = LK_PLUGIN_ABI_MINOR,
		.struct_size = sizeof(host),
		.log = host_log,
	};
	struct lk_plugin_request req = {
		.struct_size = sizeof(req),
		.service = "load_plugin",
		.user = "tester",
		.environment = "test",
	};
	struct lk_plugin_result res;
	struct lk_loaded_plugin *p = NULL;
	struct lk_err err = { { 0 } };
	void *state = NULL;
	int rc = EXIT_FAILURE;

	if (argc < 3) {
		fprintf(stderr, "usage: load_plugin DIR NAME [ARG...]\n");
		return 2;
	}
	if (lk_plugin_load(argv[1], argv[2], &p, &err) != LK_OK) {
		fprintf(stderr, "load_plugin: %s\n", err.msg);
		return EXIT_FAILURE;
	}
	printf("name=%s\nversion=%s\nsha256=%s\npath=%s\n", p->name, p->version, p->sha256_hex,
	       p->path);
	if (p->vt->init(&host, (const char *const *)argv + 3, (size_t)(argc - 3), &state) != 0) {
		fprintf(stderr, "load_plugin: %s: init failed\n", p->name);
		goto out;
	}
	memset(&res, 0, sizeof(res));
	res.struct_size = sizeof(res);
	if (p->vt->authenticate(state, &req, &res) != 0) {
		fprintf(stderr, "load_plugin: %s: authenticate failed\n", p->name);
	} else {
		printf("decision=%d\nreason=%.*s\n", (int)res.decision, (int)sizeof(res.reason),
		       res.reason);
		rc = EXIT_SUCCESS;
	}
	p->vt->fini(state);
out:
	lk_plugin_unload(p);
	return rc;
}
