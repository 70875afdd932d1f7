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
 * A ca-dir= is one entry: the directory's files (their names and stamps)
 * and each file's certificates. A request lists the directory and stamps
 * every file; when nothing changed it reads nothing, and when a file was
 * added or replaced it reads that file only. So /etc/ssl/certs (hundreds
 * of files) costs one entry, not hundreds, and cannot push anything else
 * out of the cache.
 *
 * Anchors (ca= files and ca-dir= directories) and CRLs are counted apart,
 * each up to its own maximum, the least recently used dropped beyond it:
 * many anchors never make a CRL (up to 16 MiB) be parsed again. One policy
 * names at most 16 files, so the maxima hold every file of many policies
 * at once; the daemon's services share the cache.
 *
 * The parsed X509 and X509_CRL objects are shared by reference count
 * (immutable once parsed; OpenSSL locks its own lazy caches inside them).
 * The daemon runs requests on several threads: one mutex guards the list.
 * The plugin may be unloaded after every request (the CLI, the tests), so a
 * destructor empties the cache when the object is unloaded.
 *
 * What a request used is summed up in trust->stamps: a SHA-256 over each
 * file's path and the stamp its objects were read with (the cached one on
 * a hit, the one read_file gave on a miss, never a later one), so that a
 * result decided with these objects is found again only with these files.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mtls-private.h"

#define CACHE_ANCHORS_MAX 256  /* ca= files and ca-dir= directories */
#define CACHE_CRLS_MAX    256  /* crl= files */
#define DIR_FILES_MAX     1024 /* .pem and .crt files in one ca-dir= (the host's maximum) */

enum parsed_kind { PARSED_CERTS, PARSED_CRLS, PARSED_DIR };

/* One .pem or .crt file of a ca-dir=. */
struct dir_file {
	char *name;
	uint64_t stamp;
	STACK_OF(X509) * certs;
};

struct entry {
	struct entry *next;
	enum parsed_kind kind;
	uint64_t stamp;            /* PARSED_CERTS, PARSED_CRLS */
	STACK_OF(X509) * certs;    /* PARSED_CERTS */
	STACK_OF(X509_CRL) * crls; /* PARSED_CRLS */
	struct dir_file *files;    /* PARSED_DIR: by name, in byte order */
	size_t n_files;
	char path[MTLS_PATH_MAX * 2];
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *cache; /* most recently used first */

static void dir_files_free(struct dir_file *files, size_t n)
{
	for (size_t i = 0; files != NULL && i < n; i++) {
		free(files[i].name);
		sk_X509_pop_free(files[i].certs, X509_free);
	}
	free(files);
}

static void entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	sk_X509_pop_free(e->certs, X509_free);
	sk_X509_CRL_pop_free(e->crls, X509_CRL_free);
	dir_files_free(e->files, e->n_files);
	free(e);
}

static bool is_crl_kind(enum parsed_kind k)
{
	return k == PARSED_CRLS;
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

static int share_certs(STACK_OF(X509) * certs, struct mtls_trust *t)
{
	for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (!X509_up_ref(x))
			return MTLS_TRUST_NOMEM;
		if (sk_X509_push(t->anchors, x) <= 0) {
			X509_free(x);
			return MTLS_TRUST_NOMEM;
		}
	}
	return 0;
}

/* Appends e's objects to the request's stacks, each with a reference of
 * its own. Called with the lock held. */
static int share(const struct entry *e, struct mtls_trust *t)
{
	if (share_certs(e->certs, t) < 0)
		return MTLS_TRUST_NOMEM;
	for (size_t i = 0; i < e->n_files; i++)
		if (share_certs(e->files[i].certs, t) < 0)
			return MTLS_TRUST_NOMEM;
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

/* Whether a directory's cached files are the ones listed now. */
static bool same_files(const struct entry *e, const struct dir_file *files, size_t n)
{
	if (e->n_files != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (e->files[i].stamp != files[i].stamp ||
		    strcmp(e->files[i].name, files[i].name) != 0)
			return false;
	return true;
}

/* For each listed file that e holds with the same stamp, a reference to
 * its certificates (both lists are in byte order). Called with the lock
 * held. */
static int reuse_files(const struct entry *e, struct dir_file *files, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		int c = 1;
		while (j < e->n_files && (c = strcmp(e->files[j].name, files[i].name)) < 0)
			j++;
		if (c != 0 || e->files[j].stamp != files[i].stamp)
			continue;
		files[i].certs = X509_chain_up_ref(e->files[j].certs);
		if (files[i].certs == NULL)
			return MTLS_TRUST_NOMEM;
	}
	return 0;
}

/*
 * A cached parse of path that is still current: for a file, read with
 * this stamp; for a directory, of exactly these files (names and stamps).
 * A hit is shared into t and moved to the front. On a directory miss, the
 * listed files the cached entry still has are given their certificates.
 * Returns 1 if found, 0 if not, < 0 on error.
 */
static int cache_get(const char *path, enum parsed_kind kind, uint64_t stamp,
                     struct dir_file *files, size_t n_files, struct mtls_trust *t)
{
	struct entry **pp, *e;
	int r = 0;

	pthread_mutex_lock(&cache_lock);
	for (pp = &cache; (e = *pp) != NULL; pp = &e->next) {
		if (e->kind != kind || strcmp(e->path, path) != 0)
			continue;
		if (kind == PARSED_DIR ? !same_files(e, files, n_files) : e->stamp != stamp) {
			if (kind == PARSED_DIR)
				r = reuse_files(e, files, n_files);
			break;
		}
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

/* Puts e first, replacing an older parse of the same path and dropping the
 * least recently used of its class (anchors or CRLs) beyond that class's
 * maximum; shares it into t. */
static int cache_put(struct entry *e, struct mtls_trust *t)
{
	struct entry **pp, *old;
	size_t n = 1, max = is_crl_kind(e->kind) ? CACHE_CRLS_MAX : CACHE_ANCHORS_MAX;
	int r;

	pthread_mutex_lock(&cache_lock);
	for (pp = &cache; (old = *pp) != NULL;) {
		if (old->kind == e->kind && strcmp(old->path, e->path) == 0) {
			*pp = old->next;
			entry_free(old);
			continue;
		}
		if (is_crl_kind(old->kind) == is_crl_kind(e->kind) && ++n > max) {
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

/* A CRL whose thisUpdate or nextUpdate does not convert is no CRL to use:
 * refused here, with the file, so that it cannot pass for one that is
 * merely stale (which crl-soft-fail would let through). */
static int check_crl_dates(STACK_OF(X509_CRL) * crls)
{
	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		const X509_CRL *c = sk_X509_CRL_value(crls, i);
		int64_t t;
		if (mtls_asn1_time(X509_CRL_get0_lastUpdate(c), &t) < 0 ||
		    (X509_CRL_get0_nextUpdate(c) != NULL &&
		     mtls_asn1_time(X509_CRL_get0_nextUpdate(c), &t) < 0))
			return CB_BAD;
	}
	return 0;
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
	if (r == 0 && e->kind == PARSED_CRLS)
		r = check_crl_dates(e->crls);
	if (r == 0)
		r = warm(e);
	ERR_clear_error();
	return r;
}

/* A new entry with what the file path holds, read now (its stamp the one
 * the bytes were read with). Returns 0 and *ret, CB_BAD (logged), -1 (the
 * host refused it; the host logged why) or MTLS_TRUST_NOMEM. */
static int read_entry(const struct lk_plugin_host *host, const char *path, enum parsed_kind kind,
                      struct entry **ret)
{
	struct entry *e;
	int r;

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
	*ret = e;
	return 0;
}

/* What a request used (see the top of this file), as it goes. */
struct used {
	EVP_MD_CTX *md;
	bool failed;
};

static void use(struct used *u, const void *data, size_t len)
{
	if (!u->failed && !EVP_DigestUpdate(u->md, data, len))
		u->failed = true;
}

static void use_name(struct used *u, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);

	use(u, &n, sizeof(n));
	use(u, s, n);
}

/* One file into t, from the cache when its stamp has not changed, and into
 * u the stamp its objects were read with. Returns 0, CB_BAD (logged), -1
 * (the host refused it; the host logged why) or MTLS_TRUST_NOMEM. */
static int load_file(const struct lk_plugin_host *host, const char *path, enum parsed_kind kind,
                     struct mtls_trust *t, struct used *u)
{
	struct entry *e = NULL;
	uint64_t stamp;
	int r;

	if (host->file_stamp(host->host_ctx, path, &stamp) != 0)
		return -1;
	r = cache_get(path, kind, stamp, NULL, 0, t);
	if (r < 0)
		return r;
	if (r == 0) {
		r = read_entry(host, path, kind, &e);
		if (r != 0)
			return r;
		stamp = e->stamp; /* the stamp the bytes were read with */
		r = cache_put(e, t);
		if (r != 0)
			return r;
	}
	use(u, &stamp, sizeof(stamp));
	return 0;
}

/* A ca-dir= as listed now: its .pem and .crt files and their stamps. */
struct dir_walk {
	const struct lk_plugin_host *host;
	const char *dir;
	struct dir_file *files; /* DIR_FILES_MAX */
	size_t n;
	int r;
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
	uint64_t stamp;

	if (!has_suffix(name, ".pem") && !has_suffix(name, ".crt"))
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", w->dir, name) >= sizeof(path) ||
	    w->n == DIR_FILES_MAX) {
		w->host->log(w->host->host_ctx, LK_LOG_ERR,
		             "mtls: ca-dir %.300s has a name too long or more than %d files",
		             w->dir, DIR_FILES_MAX);
		w->r = CB_BAD;
		return 1;
	}
	if (w->host->file_stamp(w->host->host_ctx, path, &stamp) != 0) {
		w->r = -1;
		return 1;
	}
	w->files[w->n].name = strdup(name);
	if (w->files[w->n].name == NULL) {
		w->r = MTLS_TRUST_NOMEM;
		return 1;
	}
	w->files[w->n++].stamp = stamp;
	return 0;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dir_file *)a)->name, ((const struct dir_file *)b)->name);
}

/* The certificates of the files w lists that have none yet, read now. */
static int read_dir_files(struct dir_walk *w)
{
	char path[MTLS_PATH_MAX * 2];

	for (size_t i = 0; i < w->n; i++) {
		struct entry *e = NULL;
		int r;
		if (w->files[i].certs != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", w->dir, w->files[i].name);
		r = read_entry(w->host, path, PARSED_CERTS, &e);
		if (r != 0)
			return r;
		w->files[i].certs = e->certs;
		w->files[i].stamp = e->stamp; /* the stamp the bytes were read with */
		e->certs = NULL;
		entry_free(e);
	}
	return 0;
}

/* Every .pem and .crt file in dir, as one cache entry; into u, the names
 * and stamps of the files used. */
static int load_dir(const struct lk_plugin_host *host, const char *dir, struct mtls_trust *t,
                    struct used *u)
{
	struct dir_walk w = { .host = host, .dir = dir };
	struct entry *e;
	bool hit;
	int r;

	w.files = calloc(DIR_FILES_MAX, sizeof(*w.files));
	if (w.files == NULL)
		return MTLS_TRUST_NOMEM;
	r = host->list_dir(host->host_ctx, dir, dir_cb, &w);
	if (r < 0 && w.r == 0)
		r = -1; /* the host refused the directory itself */
	else
		r = w.r;
	if (r == 0 && w.n == 0) {
		host->log(host->host_ctx, LK_LOG_ERR,
		          "mtls: ca-dir %.300s has no .pem or .crt file", dir);
		r = CB_BAD;
	}
	if (r != 0)
		goto out;
	/* The host lists in byte order; sorted here all the same, since the
	 * comparison with the cached entry depends on it. */
	qsort(w.files, w.n, sizeof(*w.files), file_cmp);
	r = cache_get(dir, PARSED_DIR, 0, w.files, w.n, t);
	if (r < 0)
		goto out;
	hit = r > 0;
	r = hit ? 0 : read_dir_files(&w);
	if (r != 0)
		goto out;
	/* On a hit the cached entry has exactly these names and stamps; on a
	 * miss they are what the new entry is made of. */
	use(u, &(uint64_t){ w.n }, sizeof(uint64_t));
	for (size_t i = 0; i < w.n; i++) {
		use_name(u, w.files[i].name);
		use(u, &w.files[i].stamp, sizeof(w.files[i].stamp));
	}
	if (hit)
		goto out;
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		r = MTLS_TRUST_NOMEM;
		goto out;
	}
	e->kind = PARSED_DIR;
	snprintf(e->path, sizeof(e->path), "%s", dir);
	e->files = w.files;
	e->n_files = w.n;
	w.files = NULL;
	r = cache_put(e, t);
out:
	dir_files_free(w.files, w.n);
	return r;
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
	struct used u = { NULL, false };
	int r = MTLS_TRUST_NOMEM;

	memset(t, 0, sizeof(*t));
	t->anchors = sk_X509_new_null();
	t->crls = sk_X509_CRL_new_null();
	u.md = EVP_MD_CTX_new();
	if (t->anchors == NULL || t->crls == NULL || u.md == NULL ||
	    !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL))
		goto fail;
	for (size_t i = 0; i < conf->n_files; i++) {
		const struct mtls_file *f = &conf->files[i];
		use(&u, &(uint8_t){ (uint8_t)f->kind }, 1);
		use_name(&u, f->path);
		if (f->kind == MTLS_FILE_CA_DIR)
			r = load_dir(host, f->path, t, &u);
		else
			r = load_file(host, f->path,
			              f->kind == MTLS_FILE_CA ? PARSED_CERTS : PARSED_CRLS, t, &u);
		if (r == MTLS_TRUST_NOMEM)
			goto fail;
		if (r != 0 && f->kind == MTLS_FILE_CRL) {
			/* Revocation cannot be checked: crl-stale, even with
			 * crl-soft-fail (decided in verify.c, after the checks
			 * that name a worse fault). */
			host->log(host->host_ctx, LK_LOG_ERR, "mtls: crl=%.300s cannot be used",
			          f->path);
			if (!t->crl_unreadable)
				snprintf(t->crl_unreadable_path, sizeof(t->crl_unreadable_path),
				         "%s", f->path);
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
	/* With a crl= unusable the digest is not of what decides (and
	 * nothing is ever a success then). */
	if (u.failed || !EVP_DigestFinal_ex(u.md, t->stamps, NULL)) {
		r = MTLS_TRUST_NOMEM;
		goto fail;
	}
	t->stamped = !t->crl_unreadable;
	EVP_MD_CTX_free(u.md);
	return 0;
fail:
	EVP_MD_CTX_free(u.md);
	mtls_trust_clear(t);
	return r;
}
