/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin loader. Shaped like OpenSSH's ssh-sk.c: open, read the ABI
 * version first, reject a major mismatch, then check every required member;
 * any miss goes to one cleanup path and the step fails (never skipped).
 *
 * The file is opened once, relative to an already-checked directory
 * descriptor, with O_NOFOLLOW. That descriptor is hashed and then handed
 * to dlopen as /proc/self/fd/N, so the SHA-256 recorded as evidence is of
 * the bytes the dynamic linker maps, not of whatever a path resolves to a
 * moment later.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader-private.h"
#include "util-private.h"

/* ABI 1.0's struct ends with fini; anything smaller lacks a required
 * member. A size beyond any plausible future struct is a corrupt plugin. */
#define PLUGIN_STRUCT_MIN  (offsetof(struct lk_plugin, fini) + sizeof(void (*)(void *)))
#define PLUGIN_STRUCT_MAX  (64u * 1024u)
#define PLUGIN_VERSION_MAX (sizeof(((struct lk_loaded_plugin *)NULL)->version) - 1)

typedef const struct lk_plugin *(*lk_plugin_entry_fn)(void);

bool lk_plugin_name_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return false;
	for (n = 0; name[n] != '\0'; n++) {
		char c = name[n];
		if (n >= LK_PLUGIN_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* A refused name is echoed in the message, but it came from a policy file
 * (or a plugin) and goes to logs: printable ASCII only, bounded. */
static void name_for_msg(const char *name, char *out, size_t outlen)
{
	size_t i, n = 0;

	if (name == NULL) {
		snprintf(out, outlen, "(null)");
		return;
	}
	for (i = 0; name[i] != '\0' && n + 4 < outlen; i++) {
		unsigned char c = (unsigned char)name[i];
		out[n++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
	}
	if (name[i] != '\0') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* SHA-256 of the whole file behind fd, read with pread so the descriptor's
 * offset does not matter. Sets *ret_size to the number of bytes hashed. */
static int hash_fd(int fd, unsigned char out[32], off_t *ret_size)
{
	unsigned char buf[16384];
	EVP_MD_CTX *ctx;
	unsigned int len = 0;
	off_t off = 0;
	int r = LK_ECRYPTO;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return LK_ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = LK_EIO;
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32)
		goto out;
	*ret_size = off;
	r = LK_OK;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static void hex32(const unsigned char in[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[64] = '\0';
}

/* Runs the checks on what the entry point returned, in the order the ABI
 * makes them meaningful: nothing past struct_size is read before
 * struct_size is known to cover it. */
static int check_vtable(const struct lk_plugin *vt, const char *name, struct lk_err *err)
{
	char shown[48];

	if (vt == NULL)
		return lk_err_set(err, LK_EINVAL, "plugin %s: %s() returned NULL", name,
		                  LK_PLUGIN_ENTRY_SYMBOL);
	if (vt->abi_major != LK_PLUGIN_ABI_MAJOR)
		return lk_err_set(err, LK_EINVAL,
		                  "plugin %s: ABI major %u, but this engine speaks ABI major %d",
		                  name, (unsigned)vt->abi_major, LK_PLUGIN_ABI_MAJOR);
	if (vt->struct_size < PLUGIN_STRUCT_MIN)
		return lk_err_set(err, LK_EINVAL,
		                  "plugin %s: struct_size %u is smaller than ABI %d.0's %zu bytes",
		                  name, (unsigned)vt->struct_size, LK_PLUGIN_ABI_MAJOR,
		                  (size_t)PLUGIN_STRUCT_MIN);
	if (vt->struct_size > PLUGIN_STRUCT_MAX)
		return lk_err_set(err, LK_EINVAL,
		                  "plugin %s: struct_size %u is implausibly large (over %u bytes)",
		                  name, (unsigned)vt->struct_size, PLUGIN_STRUCT_MAX);
	if (vt->name == NULL)
		return lk_err_set(err, LK_EINVAL, "plugin %s: declares no name", name);
	if (strncmp(vt->name, name, LK_PLUGIN_NAME_MAX + 1) != 0) {
		name_for_msg(vt->name, shown, sizeof(shown));
		return lk_err_set(err, LK_EINVAL,
		                  "plugin %s: declares name \"%s\", which is not its file's name",
		                  name, shown);
	}
	if (vt->version == NULL)
		return lk_err_set(err, LK_EINVAL, "plugin %s: declares no version", name);
	if (vt->version[0] == '\0' || !lk_text_valid(vt->version, PLUGIN_VERSION_MAX))
		return lk_err_set(err, LK_EINVAL,
		                  "plugin %s: version is empty, longer than %zu bytes or not "
		                  "printable text",
		                  name, PLUGIN_VERSION_MAX);
	if (vt->init == NULL)
		return lk_err_set(err, LK_EINVAL, "plugin %s: required function init is NULL",
		                  name);
	if (vt->authenticate == NULL)
		return lk_err_set(err, LK_EINVAL,
		                  "plugin %s: required function authenticate is NULL", name);
	if (vt->fini == NULL)
		return lk_err_set(err, LK_EINVAL, "plugin %s: required function fini is NULL",
		                  name);
	return LK_OK;
}

int lk_plugin_load(const char *plugin_dir, const char *name, struct lk_loaded_plugin **ret_plugin,
                   struct lk_err *err)
{
	struct lk_loaded_plugin *p = NULL;
	const struct lk_plugin *vt;
	lk_plugin_entry_fn entry;
	char file[LK_PLUGIN_NAME_MAX + sizeof(".so")];
	char procpath[64];
	char shown[48];
	struct stat st;
	off_t hashed = 0;
	void *sym;
	int dirfd = -1;
	int r = LK_EINVAL;

	/* The name is checked before anything touches the file system. */
	if (!lk_plugin_name_valid(name)) {
		name_for_msg(name, shown, sizeof(shown));
		return lk_err_set(err, LK_EINVAL,
		                  "plugin \"%s\": invalid name (1 to %d of a-z, 0-9, '_', '-')",
		                  shown, LK_PLUGIN_NAME_MAX);
	}
	if (plugin_dir == NULL || plugin_dir[0] == '\0')
		return lk_err_set(err, LK_EINVAL, "plugin %s: no plugin directory configured",
		                  name);

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return lk_err_set(err, LK_ENOMEM, "plugin %s: out of memory", name);
	p->fd = -1;
	snprintf(file, sizeof(file), "%s.so", name);
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s/%s", plugin_dir, file) >=
	    sizeof(p->path)) {
		r = lk_err_set(err, LK_EINVAL, "plugin %s: plugin directory path is too long",
		               name);
		goto fail;
	}

	/* The directory first: whoever can write it can swap plugins in. */
	dirfd = open(plugin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO,
		               "plugin %s: cannot open plugin directory %s: %s", name, plugin_dir,
		               strerror(errno));
		goto fail;
	}
	if (fstat(dirfd, &st) != 0) {
		r = lk_err_set(err, LK_EIO, "plugin %s: cannot stat plugin directory %s: %s", name,
		               plugin_dir, strerror(errno));
		goto fail;
	}
	if (lk_check_owner_mode(&st, "plugin directory", plugin_dir, 022, err) != LK_OK) {
		r = lk_err_prefix(err, LK_EINVAL, "plugin %s", name);
		goto fail;
	}

	/* O_NONBLOCK: a FIFO planted under the name must not hang the daemon
	 * in open(); it is then refused as not a regular file. */
	p->fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (p->fd < 0) {
		if (errno == ENOENT)
			r = lk_err_set(err, LK_ENOTFOUND, "plugin %s: no such plugin %s", name,
			               p->path);
		else if (errno == ELOOP)
			r = lk_err_set(err, LK_EINVAL,
			               "plugin %s: %s is a symbolic link; refusing it", name,
			               p->path);
		else
			r = lk_err_set(err, LK_EIO, "plugin %s: cannot open %s: %s", name, p->path,
			               strerror(errno));
		goto fail;
	}
	if (fstat(p->fd, &st) != 0) {
		r = lk_err_set(err, LK_EIO, "plugin %s: cannot stat %s: %s", name, p->path,
		               strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = lk_err_set(err, LK_EINVAL, "plugin %s: %s is not a regular file", name,
		               p->path);
		goto fail;
	}
	if (lk_check_owner_mode(&st, "plugin file", p->path, 022, err) != LK_OK) {
		r = lk_err_prefix(err, LK_EINVAL, "plugin %s", name);
		goto fail;
	}

	r = hash_fd(p->fd, p->sha256, &hashed);
	if (r < 0) {
		r = lk_err_set(err, r, "plugin %s: cannot hash %s", name, p->path);
		goto fail;
	}
	if (hashed != st.st_size) {
		r = lk_err_set(err, LK_EINVAL, "plugin %s: %s changed while it was being read",
		               name, p->path);
		goto fail;
	}
	hex32(p->sha256, p->sha256_hex);

	snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", p->fd);
	(void)dlerror();
	p->handle = dlopen(procpath, RTLD_NOW | RTLD_LOCAL);
	if (p->handle == NULL) {
		const char *why = dlerror();
		r = lk_err_set(err, LK_EINVAL, "plugin %s: cannot load %s: %s", name, p->path,
		               why != NULL ? why : "unknown dlopen error");
		goto fail;
	}
	(void)dlerror();
	sym = dlsym(p->handle, LK_PLUGIN_ENTRY_SYMBOL);
	if (sym == NULL) {
		r = lk_err_set(err, LK_EINVAL, "plugin %s: %s does not export %s", name, p->path,
		               LK_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	entry = (lk_plugin_entry_fn)sym;
	vt = entry();
	r = check_vtable(vt, name, err);
	if (r < 0)
		goto fail;

	p->vt = vt;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->version, sizeof(p->version), "%s", vt->version);
	close(dirfd);
	*ret_plugin = p;
	return LK_OK;
fail:
	if (dirfd >= 0)
		close(dirfd);
	lk_plugin_unload(p);
	return r;
}

void lk_plugin_unload(struct lk_loaded_plugin *plugin)
{
	char procpath[64];
	void *still;

	if (plugin == NULL)
		return;
	if (plugin->handle != NULL)
		dlclose(plugin->handle);
	if (plugin->fd >= 0) {
		/* If the object is still mapped (another load of the same file
		 * holds it), glibc keeps answering to this descriptor's name:
		 * closing it would let the next plugin opened on the same number
		 * get this object instead of its own file. Keep it open. */
		snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", plugin->fd);
		still = plugin->handle != NULL
		            ? dlopen(procpath, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)
		            : NULL;
		if (still != NULL)
			dlclose(still);
		else
			close(plugin->fd);
	}
	free(plugin);
}
