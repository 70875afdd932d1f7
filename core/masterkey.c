/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "masterkey-private.h"

struct lk_master {
	unsigned char *key; /* sodium_malloc'd, read-only once loaded */
};

int lk_key_file_create(const char *path, const char *what, const unsigned char *data, size_t len,
                       struct lk_err *err)
{
	int fd = -1, r;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = lk_err_set(err, errno == EEXIST ? LK_EEXIST : LK_EIO, "cannot create %s %s: %s",
		               what, path, strerror(errno));
		goto out;
	}
	n = write(fd, data, len);
	if (n != (ssize_t)len || fsync(fd) != 0) {
		r = lk_err_set(err, LK_EIO, "cannot write %s %s: %s", what, path,
		               n < 0 ? strerror(errno) : "short write");
		unlink(path);
		goto out;
	}
	r = LK_OK;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int lk_key_file_read(const char *path, const char *what, size_t len, unsigned char **ret_secret,
                     struct lk_err *err)
{
	unsigned char *secret = NULL;
	struct stat st;
	int fd = -1, r;
	size_t got = 0;

	/* O_NOFOLLOW: like OpenSSH with private keys, a symlink could point
	 * anywhere the attacker likes, so refuse it outright. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			r = lk_err_set(err, LK_ECRYPTO, "%s %s is a symlink; refusing to use it",
			               what, path);
		else
			r = lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_ECRYPTO,
			               "cannot open %s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = lk_err_set(err, LK_ECRYPTO, "cannot stat %s %s: %s", what, path,
		               strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = lk_err_set(err, LK_ECRYPTO, "%s %s is not a regular file; refusing to use it",
		               what, path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		r = lk_err_set(err, LK_ECRYPTO,
		               "%s %s is owned by uid %u, not uid %u; refusing to use it", what,
		               path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		r = lk_err_set(err, LK_ECRYPTO,
		               "%s %s has group/other permission bits (mode %04o); run chmod 600",
		               what, path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size != (off_t)len) {
		r = lk_err_set(err, LK_ECRYPTO, "%s %s has %lld bytes, expected %zu", what, path,
		               (long long)st.st_size, len);
		goto out;
	}
	/* sodium_malloc: guard pages, mlock, excluded from core dumps. */
	secret = sodium_malloc(len);
	if (secret == NULL) {
		r = lk_err_set(err, LK_ENOMEM, "out of secure memory for the %s", what);
		goto out;
	}
	while (got < len) {
		ssize_t n = read(fd, secret + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = lk_err_set(err, LK_ECRYPTO, "cannot read %s %s: %s", what, path,
			               n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		got += (size_t)n;
	}
	*ret_secret = secret;
	secret = NULL;
	r = LK_OK;
out:
	sodium_free(secret); /* wipes; accepts NULL */
	if (fd >= 0)
		close(fd);
	return r;
}

int lk_master_create(const char *path, struct lk_err *err)
{
	unsigned char key[LK_MASTER_KEY_LEN];
	int r;

	crypto_kdf_keygen(key);
	r = lk_key_file_create(path, "master key", key, sizeof(key), err);
	sodium_memzero(key, sizeof(key));
	return r;
}

int lk_master_load(const char *path, struct lk_master **ret_master, struct lk_err *err)
{
	struct lk_master *m = NULL;
	int r;

	r = lk_err_set(err, LK_ENOMEM, "out of secure memory for the master key");
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		goto out;
	r = lk_key_file_read(path, "master key", LK_MASTER_KEY_LEN, &m->key, err);
	if (r < 0)
		goto out;
	sodium_mprotect_readonly(m->key);
	*ret_master = m;
	m = NULL;
	r = LK_OK;
out:
	lk_master_free(m);
	return r;
}

void lk_master_free(struct lk_master *m)
{
	if (m == NULL)
		return;
	sodium_free(m->key); /* wipes before unmapping; accepts NULL */
	free(m);
}

int lk_master_subkey(const struct lk_master *m, enum lk_subkey_purpose purpose, uint32_t version,
                     unsigned char *out, size_t outlen)
{
	/* crypto_kdf contexts are exactly 8 bytes. */
	static const char *const contexts[] = {
		[LK_SUBKEY_PEPPER] = "lkpepper",
		[LK_SUBKEY_PSEUDONYM] = "lkpseudo",
		[LK_SUBKEY_FACTOR_SEAL] = "lkfactor",
	};

	if (m == NULL || version == 0 ||
	    (size_t)purpose >= sizeof(contexts) / sizeof(contexts[0]) ||
	    outlen < crypto_kdf_BYTES_MIN || outlen > crypto_kdf_BYTES_MAX)
		return LK_EINVAL;
	if (crypto_kdf_derive_from_key(out, outlen, version, contexts[purpose], m->key) != 0)
		return LK_ECRYPTO;
	return LK_OK;
}
