/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Ed25519 signing key. libsodium signs and verifies; OpenSSL only
 * writes and reads the public key's PEM (SubjectPublicKeyInfo, RFC 8410),
 * so the file is exactly what `openssl pkey -pubin` expects.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "masterkey-private.h"
#include "signing-private.h"

#define PUBLIC_PEM_MAX 4096

struct lk_signer {
	unsigned char *sk; /* sodium_malloc'd seed || public key, read-only once loaded */
	unsigned char pk[LK_SIGNING_PUBLIC_LEN];
	char key_id[LK_KEY_ID_LEN + 1];
};

static EVP_PKEY *public_pkey(const unsigned char pk[LK_SIGNING_PUBLIC_LEN])
{
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, LK_SIGNING_PUBLIC_LEN);
}

int lk_signing_key_id(const unsigned char pk[LK_SIGNING_PUBLIC_LEN],
                      char ret_key_id[LK_KEY_ID_LEN + 1], struct lk_err *err)
{
	unsigned char digest[crypto_hash_sha256_BYTES], *der = NULL;
	EVP_PKEY *pkey = public_pkey(pk);
	int r, len;

	r = lk_err_set(err, LK_ECRYPTO, "cannot encode the signing public key");
	if (pkey == NULL)
		goto out;
	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0)
		goto out;
	crypto_hash_sha256(digest, der, (unsigned long long)len);
	for (int i = 0; i < LK_KEY_ID_LEN / 2; i++)
		snprintf(ret_key_id + 2 * i, 3, "%02x", digest[i]);
	r = LK_OK;
out:
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return r;
}

int lk_signing_write_public(const char *path, const unsigned char pk[LK_SIGNING_PUBLIC_LEN],
                            struct lk_err *err)
{
	return lk_signing_write_public_at(AT_FDCWD, path, pk, err);
}

int lk_signing_write_public_at(int dirfd, const char *path,
                               const unsigned char pk[LK_SIGNING_PUBLIC_LEN], struct lk_err *err)
{
	EVP_PKEY *pkey = public_pkey(pk);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len = 0;
	ssize_t n;
	int fd = -1, r;

	r = lk_err_set(err, LK_ECRYPTO, "cannot encode the signing public key as PEM");
	if (pkey == NULL || bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0)
		goto out;
	fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = lk_err_set(err, errno == EEXIST ? LK_EEXIST : LK_EIO, "cannot create %s: %s",
		               path, strerror(errno));
		goto out;
	}
	/* Public on purpose: auditors verify with it. The umask would narrow
	 * it. */
	n = write(fd, pem, (size_t)len);
	if (n != (ssize_t)len || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		r = lk_err_set(err, LK_EIO, "cannot write %s: %s", path,
		               n < 0 ? strerror(errno) : "short write");
		unlinkat(dirfd, path, 0);
		goto out;
	}
	r = LK_OK;
out:
	if (fd >= 0)
		close(fd);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return r;
}

int lk_signing_read_public(const char *path, unsigned char ret_pk[LK_SIGNING_PUBLIC_LEN],
                           struct lk_err *err)
{
	char buf[PUBLIC_PEM_MAX];
	unsigned char pk[LK_SIGNING_PUBLIC_LEN];
	size_t got = 0, pk_len = sizeof(pk);
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO,
		                  "cannot open public key %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = lk_err_set(err, LK_EIO, "cannot read public key %s: %s", path,
			               strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf)) {
			r = lk_err_set(err, LK_EINVAL, "public key %s is larger than %d bytes",
			               path, PUBLIC_PEM_MAX - 1);
			goto out;
		}
	}
	r = lk_err_set(err, LK_EINVAL, "%s is not an Ed25519 public key PEM", path);
	bio = BIO_new_mem_buf(buf, (int)got);
	if (bio == NULL || (pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL ||
	    EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pkey, pk, &pk_len) != 1 || pk_len != sizeof(pk))
		goto out;
	memcpy(ret_pk, pk, sizeof(pk));
	r = LK_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	close(fd);
	return r;
}

int lk_signing_create(const char *key_path, const char *pub_path,
                      char ret_key_id[LK_KEY_ID_LEN + 1], struct lk_err *err)
{
	unsigned char seed[LK_SIGNING_SEED_LEN], pk[LK_SIGNING_PUBLIC_LEN];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	char key_id[LK_KEY_ID_LEN + 1];
	int r;

	randombytes_buf(seed, sizeof(seed));
	r = lk_err_set(err, LK_ECRYPTO, "cannot derive the signing key pair");
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		goto out;
	if ((r = lk_signing_key_id(pk, key_id, err)) < 0)
		goto out;
	if ((r = lk_key_file_create(key_path, "signing key", seed, sizeof(seed), err)) < 0)
		goto out;
	if ((r = lk_signing_write_public(pub_path, pk, err)) < 0) {
		/* A key whose public half nobody has is no use to an auditor. */
		unlink(key_path);
		goto out;
	}
	if (ret_key_id != NULL)
		memcpy(ret_key_id, key_id, sizeof(key_id));
	r = LK_OK;
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	return r;
}

int lk_signing_load(const char *path, struct lk_signer **ret_signer, struct lk_err *err)
{
	struct lk_signer *s = NULL;
	unsigned char *seed = NULL;
	int r;

	r = lk_err_set(err, LK_ENOMEM, "out of secure memory for the signing key");
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		goto out;
	if ((r = lk_key_file_read(path, "signing key", LK_SIGNING_SEED_LEN, &seed, err)) < 0)
		goto out;
	r = lk_err_set(err, LK_ECRYPTO, "cannot derive the signing key pair from %s", path);
	if (crypto_sign_seed_keypair(s->pk, s->sk, seed) != 0)
		goto out;
	if ((r = lk_signing_key_id(s->pk, s->key_id, err)) < 0)
		goto out;
	sodium_mprotect_readonly(s->sk);
	*ret_signer = s;
	s = NULL;
	r = LK_OK;
out:
	sodium_free(seed); /* wipes; accepts NULL */
	lk_signer_free(s);
	return r;
}

void lk_signer_free(struct lk_signer *s)
{
	if (s == NULL)
		return;
	sodium_free(s->sk); /* wipes before unmapping; accepts NULL */
	free(s);
}

const unsigned char *lk_signer_public(const struct lk_signer *s)
{
	return s->pk;
}

const char *lk_signer_key_id(const struct lk_signer *s)
{
	return s->key_id;
}

int lk_signer_sign(const struct lk_signer *s, const void *msg, size_t len,
                   unsigned char sig[LK_SIGNATURE_LEN], struct lk_err *err)
{
	/* Pure Ed25519 over the whole message: the multi-part
	 * crypto_sign_init/update/final API is Ed25519ph, which
	 * `openssl pkeyutl -verify -rawin` rejects. */
	if (crypto_sign_detached(sig, NULL, msg, len, s->sk) != 0)
		return lk_err_set(err, LK_ECRYPTO, "signing failed");
	return LK_OK;
}

bool lk_signing_verify(const unsigned char pk[LK_SIGNING_PUBLIC_LEN], const void *msg, size_t len,
                       const unsigned char sig[LK_SIGNATURE_LEN])
{
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}
