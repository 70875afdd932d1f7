/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trust anchors and CRLs, read through the host (plugins never open files)
 * and kept in a small process-wide cache.
 *
 * Why a cache: the engine runs init, authenticate and fini for every
 * request, and a CA bundle or a large CRL would otherwise be parsed each
 * time. Why it cannot go stale: every request asks the host for each
 * file's stamp (device, inode, size, times) and uses a cached parse only
 * when the stamp is the one the bytes were read with, so a replaced CRL
 * counts from the very next request. The host applies its path and
 * permission checks to the stamp query too, so a file that has become
 * group-writable is refused even while cached.
 *
 * The parsed X509 and X509_CRL objects are shared by reference count
 * (immutable once parsed; OpenSSL locks its own lazy caches inside them).
 * The daemon runs requests on several threads: one mutex guards the list.
 * The plugin may be unloaded after every request (the CLI, the tests), so a
 * destructor empties the cache when the object is unloaded.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mtls-private.h"

#define CACHE_MAX 64 /* files; the least recently used goes first */

enum parsed_kind { PARSED_CERTS, PARSED_CRLS };

struct entry {
	struct entry *next;
	enum parsed_kind kind;
	uint64_t stamp;
	STACK_OF(X509) * certs;
	STACK_OF(X509_CRL) * crls;
	char path[MTLS_PATH_MAX * 2];
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *cache; /* most recently used first */

static void entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	sk_X509_pop_free(e->certs, X509_free);
	sk_X509_CRL_pop_free(e->crls, X509_CRL_free);
	free(e);
}

__attribute__((destructor)) static void cache_free(void)
{
	pthread_mutex_lock(&cache_lock);
	while (cache != NULL) {
		struct entry *e = cache;
		cache = e->next;
		entry_free(e);
	}
	pthread_mutex_unlock(&cache_lock);
}

/* Appends e's objects to the request's stacks, each with a reference of
 * its own. Called with the lock held. */
static int share(const struct entry *e, struct mtls_trust *t)
{
	for (int i = 0; e->certs != NULL && i < sk_X509_num(e->certs); i++) {
		X509 *x = sk_X509_value(e->certs, i);
		if (!X509_up_ref(x))
			return MTLS_TRUST_NOMEM;
		if (sk_X509_push(t->anchors, x) <= 0) {
			X509_free(x);
			return MTLS_TRUST_NOMEM;
		}
	}
	for (int i = 0; e->crls != NULL && i < sk_X509_CRL_num(e->crls); i++) {
		X509_CRL *c = sk_X509_CRL_value(e->crls, i);
		if (!X509_CRL_up_ref(c))
			return MTLS_TRUST_NOMEM;
		if (sk_X509_CRL_push(t->crls, c) <= 0) {
			X509_CRL_free(c);
			return MTLS_TRUST_NOMEM;
		}
	}
	return 0;
}

/* A cached parse of path read with this stamp: shared into t, moved to
 * the front. Returns 1 if found, 0 if not, < 0 on error. */
static int cache_get(const char *path, enum parsed_kind kind, uint64_t stamp, struct mtls_trust *t)
{
	struct entry **pp, *e;
	int r = 0;

	pthread_mutex_lock(&cache_lock);
	for (pp = &cache; (e = *pp) != NULL; pp = &e->next) {
		if (e->kind != kind || strcmp(e->path, path) != 0)
			continue;
		if (e->stamp != stamp)
			break;
		*pp = e->next;
		e->next = cache;
		cache = e;
		r = share(e, t);
		if (r == 0)
			r = 1;
		break;
	}
	pthread_mutex_unlock(&cache_lock);
	return r;
}

/* Puts e first, replacing an older parse of the same file and dropping the
 * least recently used beyond CACHE_MAX; shares it into t. */
static int cache_put(struct entry *e, struct mtls_trust *t)
{
	struct entry **pp, *old;
	size_t n = 1;
	int r;

	pthread_mutex_lock(&cache_lock);
	for (pp = &cache; (old = *pp) != NULL;) {
		if (old->kind == e->kind && strcmp(old->path, e->path) == 0) {
			*pp = old->next;
			entry_free(old);
			continue;
		}
		if (++n > CACHE_MAX) {
			*pp = old->next;
			entry_free(old);
			continue;
		}
		pp = &old->next;
	}
	e->next = cache;
	cache = e;
	r = share(e, t);
	pthread_mutex_unlock(&cache_lock);
	return r;
}

/* What read_file's callback answers: 0, or one of these (positive, so
 * they differ from the host's own -1). */
#define CB_BAD   1
#define CB_NOMEM 2

/* Every PEM object of one type in a BIO; 0 objects or a broken one: bad.
 * OpenSSL's PEM reader skips blocks of other types (a bundle may carry
 * comments or a key next to its certificates): for trust files, which the
 * administrator controls, that is what other tools do too. */
static int read_certs(const unsigned char *data, size_t len, STACK_OF(X509) * out)
{
	BIO *bio;
	X509 *x;
	int r = CB_BAD;

	if (len > 0 && data[0] == 0x30) {
		const unsigned char *p = data;
		x = d2i_X509(NULL, &p, (long)len);
		if (x == NULL || p != data + len) {
			X509_free(x);
			return CB_BAD;
		}
		if (sk_X509_push(out, x) <= 0) {
			X509_free(x);
			return CB_NOMEM;
		}
		return 0;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL)
		return CB_NOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(out, x) <= 0) {
			X509_free(x);
			r = CB_NOMEM;
			goto out;
		}
	}
	/* The loop ends at the end of the data, or at a block that is broken. */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE && sk_X509_num(out) > 0)
		r = 0;
out:
	BIO_free(bio);
	return r;
}

static int read_crls(const unsigned char *data, size_t len, STACK_OF(X509_CRL) * out)
{
	BIO *bio;
	X509_CRL *c;
	int r = CB_BAD;

	if (len > 0 && data[0] == 0x30) {
		const unsigned char *p = data;
		c = d2i_X509_CRL(NULL, &p, (long)len);
		if (c == NULL || p != data + len) {
			X509_CRL_free(c);
			return CB_BAD;
		}
		if (sk_X509_CRL_push(out, c) <= 0) {
			X509_CRL_free(c);
			return CB_NOMEM;
		}
		return 0;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL)
		return CB_NOMEM;
	while ((c = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_CRL_push(out, c) <= 0) {
			X509_CRL_free(c);
			r = CB_NOMEM;
			goto out;
		}
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE &&
	    sk_X509_CRL_num(out) > 0)
		r = 0;
out:
	BIO_free(bio);
	return r;
}

/* OpenSSL fills some caches inside an object on first use (a
 * certificate's extension flags, a CRL's sorted list of revoked serials).
 * It locks while it does, but shared objects are best only ever read:
 * fill them here, while the entry is still this thread's alone. */
static int warm(const struct entry *e)
{
	ASN1_INTEGER *serial;
	X509_REVOKED *rev;

	for (int i = 0; e->certs != NULL && i < sk_X509_num(e->certs); i++)
		(void)X509_check_purpose(sk_X509_value(e->certs, i), -1, 0);
	if (e->crls == NULL)
		return 0;
	serial = ASN1_INTEGER_new();
	if (serial == NULL)
		return CB_NOMEM;
	for (int i = 0; i < sk_X509_CRL_num(e->crls); i++)
		(void)X509_CRL_get0_by_serial(sk_X509_CRL_value(e->crls, i), &rev, serial);
	ASN1_INTEGER_free(serial);
	return 0;
}

static int parse_cb(void *ctx, const unsigned char *data, size_t len, uint64_t stamp)
{
	struct entry *e = ctx;
	int r;

	e->stamp = stamp;
	if (len > 0x7fffffff)
		return CB_BAD;
	ERR_clear_error();
	r = e->kind == PARSED_CERTS ? read_certs(data, len, e->certs)
	                            : read_crls(data, len, e->crls);
	if (r == 0)
		r = warm(e);
	ERR_clear_error();
	return r;
}

/* One file into t, from the cache when its stamp has not changed. Returns
 * 0, CB_BAD (logged), -1 (the host refused it; the host logged why) or
 * MTLS_TRUST_NOMEM. */
static int load_file(const struct lk_plugin_host *host, const char *path, enum parsed_kind kind,
                     struct mtls_trust *t)
{
	struct entry *e;
	uint64_t stamp;
	int r;

	if (host->file_stamp(host->host_ctx, path, &stamp) != 0)
		return -1;
	r = cache_get(path, kind, stamp, t);
	if (r != 0)
		return r < 0 ? r : 0;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return MTLS_TRUST_NOMEM;
	e->kind = kind;
	snprintf(e->path, sizeof(e->path), "%s", path);
	if (kind == PARSED_CERTS)
		e->certs = sk_X509_new_null();
	else
		e->crls = sk_X509_CRL_new_null();
	if (e->certs == NULL && e->crls == NULL) {
		entry_free(e);
		return MTLS_TRUST_NOMEM;
	}
	r = host->read_file(host->host_ctx, path,
	                    kind == PARSED_CERTS ? MTLS_CA_FILE_MAX : MTLS_CRL_FILE_MAX, parse_cb,
	                    e);
	if (r != 0) {
		if (r == CB_BAD)
			host->log(host->host_ctx, LK_LOG_ERR, "mtls: %.300s holds no readable %s",
			          path, kind == PARSED_CERTS ? "certificate" : "CRL");
		entry_free(e);
		return r == CB_NOMEM ? MTLS_TRUST_NOMEM : r;
	}
	return cache_put(e, t);
}

struct dir_walk {
	const struct lk_plugin_host *host;
	const char *dir;
	struct mtls_trust *trust;
	int r;
	size_t n;
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int dir_cb(void *ctx, const char *name)
{
	struct dir_walk *w = ctx;
	char path[MTLS_PATH_MAX * 2];

	if (!has_suffix(name, ".pem") && !has_suffix(name, ".crt"))
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", w->dir, name) >= sizeof(path)) {
		w->r = CB_BAD;
		return 1;
	}
	w->r = load_file(w->host, path, PARSED_CERTS, w->trust);
	w->n++;
	return w->r != 0;
}

/* Every .pem and .crt file in dir. */
static int load_dir(const struct lk_plugin_host *host, const char *dir, struct mtls_trust *t)
{
	struct dir_walk w = { .host = host, .dir = dir, .trust = t };
	int r;

	r = host->list_dir(host->host_ctx, dir, dir_cb, &w);
	if (r < 0 && w.r == 0)
		return -1; /* the host refused the directory itself */
	if (w.r == 0 && w.n == 0) {
		host->log(host->host_ctx, LK_LOG_ERR,
		          "mtls: ca-dir %.300s has no .pem or .crt file", dir);
		return CB_BAD;
	}
	return w.r;
}

void mtls_trust_clear(struct mtls_trust *t)
{
	sk_X509_pop_free(t->anchors, X509_free);
	sk_X509_CRL_pop_free(t->crls, X509_CRL_free);
	memset(t, 0, sizeof(*t));
}

int mtls_trust_load(const struct lk_plugin_host *host, const struct mtls_conf *conf,
                    struct mtls_trust *t)
{
	int r = MTLS_TRUST_NOMEM;

	memset(t, 0, sizeof(*t));
	t->anchors = sk_X509_new_null();
	t->crls = sk_X509_CRL_new_null();
	if (t->anchors == NULL || t->crls == NULL)
		goto fail;
	for (size_t i = 0; i < conf->n_files; i++) {
		const struct mtls_file *f = &conf->files[i];
		if (f->kind == MTLS_FILE_CA_DIR)
			r = load_dir(host, f->path, t);
		else
			r = load_file(host, f->path,
			              f->kind == MTLS_FILE_CA ? PARSED_CERTS : PARSED_CRLS, t);
		if (r == MTLS_TRUST_NOMEM)
			goto fail;
		if (r != 0 && f->kind == MTLS_FILE_CRL) {
			/* Revocation cannot be checked: crl-stale, unless
			 * soft-fail (decided with the rest in verify.c). */
			host->log(host->host_ctx, LK_LOG_WARNING, "mtls: crl=%.300s is unreadable",
			          f->path);
			t->crl_unreadable = true;
		} else if (r != 0) {
			host->log(host->host_ctx, LK_LOG_ERR,
			          "mtls: trust anchors from %.300s are unreadable", f->path);
			r = MTLS_TRUST_CA_UNREADABLE;
			goto fail;
		}
	}
	if (conf->have_ca && sk_X509_num(t->anchors) == 0) {
		host->log(host->host_ctx, LK_LOG_ERR, "mtls: no trust anchor");
		r = MTLS_TRUST_CA_UNREADABLE;
		goto fail;
	}
	return 0;
fail:
	mtls_trust_clear(t);
	return r;
}
