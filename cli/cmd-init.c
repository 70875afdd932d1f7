/* SPDX-License-Identifier: Apache-2.0 */
/* latchkey init --state-dir DIR: a complete, self-contained setup. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit-private.h"
#include "cli-private.h"
#include "util-private.h"

/* Everything init creates, in creation order, so a failure can undo it. */
struct made {
	char paths[8][PATH_MAX];
	bool is_dir[8];
	int n;
};

static void remember(struct made *m, const char *path, bool is_dir)
{
	snprintf(m->paths[m->n], sizeof(m->paths[0]), "%s", path);
	m->is_dir[m->n++] = is_dir;
}

static void undo(struct made *m)
{
	char side[PATH_MAX + 8];

	while (m->n > 0) {
		m->n--;
		if (m->is_dir[m->n]) {
			rmdir(m->paths[m->n]);
			continue;
		}
		unlink(m->paths[m->n]);
		snprintf(side, sizeof(side), "%s-wal", m->paths[m->n]);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", m->paths[m->n]);
		unlink(side);
	}
}

static int make_dir(struct cli *c, struct made *m, const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0) {
		remember(m, path, true);
		return EXIT_OK;
	}
	return cli_fail(c, LK_EIO, "cannot create directory %s: %s", path, strerror(errno));
}

int cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "plugin-dir", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const markers[] = { "latchkey.conf", "master.key", "signing.key",
		                               "latchkey.db" };
	struct made made = { .n = 0 };
	struct lk_err err = { { 0 } };
	char dir[PATH_MAX], path[PATH_MAX + 32], conf[PATH_MAX + 32], pub[PATH_MAX + 32];
	char key_id[LK_KEY_ID_LEN + 1];
	const char *state_dir = NULL, *plugin_dir_arg = NULL;
	char plugin_dir[PATH_MAX];
	struct stat st;
	int opt, status, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'd')
			state_dir = optarg;
		else if (opt == 'p')
			plugin_dir_arg = optarg;
		else if (opt == 'j')
			c->json = true;
		else
			return cli_fail(c, LK_EINVAL,
			                "usage: latchkey init --state-dir DIR [--plugin-dir DIR]");
	}
	if (optind < argc)
		return cli_fail(c, LK_EINVAL, "unexpected argument '%.60s'", argv[optind]);
	if (state_dir == NULL || state_dir[0] == '\0')
		return cli_fail(c, LK_EINVAL, "missing --state-dir DIR");
	if (strlen(state_dir) > PATH_MAX - 64)
		return cli_fail(c, LK_EINVAL, "state directory path is too long");
	/* Plugins load only from this directory: it must exist now, and it is
	 * written to the config as an absolute path. */
	snprintf(plugin_dir, sizeof(plugin_dir), "%s", LK_PLUGINDIR);
	if (plugin_dir_arg != NULL) {
		struct stat pst;
		if (realpath(plugin_dir_arg, plugin_dir) == NULL || stat(plugin_dir, &pst) != 0 ||
		    !S_ISDIR(pst.st_mode) || !lk_text_valid(plugin_dir, PATH_MAX - 1))
			return cli_fail(c, LK_EINVAL, "bad --plugin-dir '%.200s': not a directory",
			                plugin_dir_arg);
	}

	if (stat(state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return cli_fail(c, LK_EEXIST, "%s exists and is not a directory",
			                state_dir);
		/* Another user who can write the directory could swap the config
		 * or the database under us later. */
		if (st.st_uid != geteuid() || (st.st_mode & 022) != 0)
			return cli_fail(
			    c, LK_EINVAL,
			    "state directory %s must be owned by uid %u and not writable by "
			    "group or others (it is uid %u, mode %04o)",
			    state_dir, (unsigned)geteuid(), (unsigned)st.st_uid,
			    (unsigned)(st.st_mode & 07777));
		for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", state_dir, markers[i]);
			if (lstat(path, &st) == 0)
				return cli_fail(
				    c, LK_EEXIST,
				    "%s already holds a Latchkey setup (%s exists); refusing to "
				    "overwrite it",
				    state_dir, markers[i]);
		}
	} else if (errno != ENOENT) {
		return cli_fail(c, LK_EIO, "cannot use %s: %s", state_dir, strerror(errno));
	} else if ((status = make_dir(c, &made, state_dir, 0700)) != EXIT_OK) {
		return status;
	}
	if (realpath(state_dir, dir) == NULL) {
		status = cli_fail(c, LK_EIO, "cannot resolve %s: %s", state_dir, strerror(errno));
		goto fail;
	}

	snprintf(path, sizeof(path), "%s/policies", dir);
	if ((status = make_dir(c, &made, path, 0750)) != EXIT_OK)
		goto fail;
	snprintf(path, sizeof(path), "%s/run", dir);
	if ((status = make_dir(c, &made, path, 0750)) != EXIT_OK)
		goto fail;
	snprintf(path, sizeof(path), "%s/master.key", dir);
	r = lk_master_create(path, &err);
	if (r < 0) {
		status = cli_fail_err(c, r, &err);
		goto fail;
	}
	remember(&made, path, false);
	/* The checkpoint signing key, and its public half for auditors. */
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	snprintf(pub, sizeof(pub), "%s/signing.pub.pem", dir);
	r = lk_signing_create(path, pub, key_id, &err);
	if (r < 0) {
		status = cli_fail_err(c, r, &err);
		goto fail;
	}
	remember(&made, path, false);
	remember(&made, pub, false);
	snprintf(conf, sizeof(conf), "%s/latchkey.conf", dir);
	r = lk_config_write_default(conf, plugin_dir, &err);
	if (r < 0) {
		status = cli_fail_err(c, r, &err);
		goto fail;
	}
	remember(&made, conf, false);

	/* Open through the config just written: proves it resolves. */
	c->config_path = conf;
	snprintf(path, sizeof(path), "%s/latchkey.db", dir);
	r = lk_config_load(conf, &c->cfg, &err);
	if (r >= 0)
		r = lk_master_load(c->cfg->master_key, &c->master, &err);
	if (r >= 0) {
		r = lk_store_open(c->cfg->database, LK_STORE_CREATE, c->master, &c->store, &err);
		if (r >= 0)
			remember(&made, path, false);
	}
	if (r >= 0)
		r = lk_audit_record(c->store,
		                    &(struct lk_audit_event){ .ts = c->now,
		                                              .actor_uid = c->actor,
		                                              .action = "store.init",
		                                              .reason = "ok",
		                                              .detail = "" },
		                    NULL, &err);
	if (r < 0) {
		status = cli_fail_err(c, r, &err);
		goto fail;
	}

	if (c->json) {
		struct json j;
		json_open(&j, c->out, '{');
		json_str(&j, "config", conf);
		json_str(&j, "state_dir", dir);
		json_str(&j, "signing_key_id", key_id);
		json_str(&j, "signing_public_key", pub);
		json_close(&j, '{');
	} else {
		fprintf(c->out, "%s\n", conf);
	}
	return EXIT_OK;
fail:
	cli_close(c);
	undo(&made);
	return status;
}
