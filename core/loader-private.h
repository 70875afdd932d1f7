/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_LOADER_PRIVATE_H
#define LATCHKEY_LOADER_PRIVATE_H

#include <limits.h>

#include "error-private.h"
#include "latchkey/plugin.h"
#include "policy-private.h"

/* A plugin loaded from the plugin directory, with the evidence recorded at
 * load time (SOC 2 CC6.8 / CC7.1: what code made the decisions). */
struct lk_loaded_plugin {
	const struct lk_plugin *vt;
	void *handle; /* dlopen handle */
	char path[PATH_MAX];
	char name[LK_PLUGIN_NAME_MAX + 1];
	char version[64];
	unsigned char sha256[32];
	char sha256_hex[65];
	/* The descriptor the plugin was hashed and loaded from. It stays open
	 * while the plugin is loaded: glibc finds already-loaded objects by
	 * name first, so "/proc/self/fd/N" must not name another file while
	 * this object can still answer to it (see lk_plugin_unload). */
	int fd;
};

/* True for [a-z0-9_-]{1,32}: the only plugin names the loader accepts. */
bool lk_plugin_name_valid(const char *name);

/*
 * Loads <plugin_dir>/<name>.so. Refuses a name with '/' or anything outside
 * [a-z0-9_-] (before touching the file system); a plugin directory or file
 * owned by another user than the effective user or root, or writable by
 * group or others; a file that is not regular (a symbolic link is not
 * followed); a missing entry symbol; an ABI major other than
 * LK_PLUGIN_ABI_MAJOR; a struct_size smaller than ABI 1.0's struct or over
 * 64 KiB; a missing, empty or over-long version; a NULL
 * init/authenticate/fini; a name in the struct
 * that differs from the file's. The file is hashed (SHA-256, OpenSSL EVP)
 * from the same open descriptor that is then dlopen'ed (RTLD_NOW |
 * RTLD_LOCAL, through /proc/self/fd), so the hash is of the code that runs.
 * Every failure is an error naming the plugin and the reason ("plugin
 * NAME: ..."): LK_ENOTFOUND if the directory or file does not exist, LK_EIO
 * for other file-system errors, LK_ENOMEM, and LK_EINVAL for everything the
 * loader refuses. *ret_plugin is written only on success.
 */
int lk_plugin_load(const char *plugin_dir, const char *name, struct lk_loaded_plugin **ret_plugin,
                   struct lk_err *err);

/* dlclose and free. Accepts NULL. The caller calls the plugin's fini on
 * any state it made first. If the object stays mapped (the same file is
 * loaded again elsewhere), the descriptor is kept open for the life of the
 * process so its /proc/self/fd name cannot be reused for another file. */
void lk_plugin_unload(struct lk_loaded_plugin *plugin);

#endif
