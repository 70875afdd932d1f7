/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Successes remembered, so that a client presenting the same chain on
 * every request (they do) is not parsed and verified every time: with
 * OpenSSL 3.0 that is most of a certificate login's cost (decoding each
 * certificate, then X509_verify_cert).
 *
 * A remembered success is used only when all of what decided it is the
 * same: the exact input bytes (SHA-256), the step's arguments (SHA-256 of
 * them all: trust files, pins, map rules, limits), and the trust files as
 * used (mtls_trust_load's digest of their stamps, taken again on every
 * request, so a replaced CRL, a changed CA file, a ca-dir= file added or
 * removed counts from the very next request, and the host's checks on
 * them still apply); and only while now is within the window over which
 * no time-dependent check changes its outcome (verify.c), and at most
 * MTLS_RESULT_TTL seconds after it was verified. Then the result is what
 * verifying again would have been: "ok", the same principal, credential
 * and factor.
 *
 * What is never remembered: a denial (an attacker could fill the cache
 * with entries cheap to make; and none of them would save work on the
 * requests that matter), an ok-crl-stale success (it logs a warning every
 * time, and is rare), anything the step could not decide. At most
 * MTLS_RESULTS_MAX entries, the least recently used dropped: the memory is
 * bounded whatever clients send. Entries hold only bytes, no OpenSSL
 * object. One mutex guards the table, held only to look up or store a copy;
 * a destructor empties it when the plugin is unloaded.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mtls-private.h"

#define BUCKETS 2048 /* a power of two, twice MTLS_RESULTS_MAX */

struct node {
	struct node *prev, *next; /* recency: most recently used first */
	struct node *hnext;       /* the bucket's chain */
	struct mtls_result r;
};

static pthread_mutex_t results_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *buckets[BUCKETS];
static struct node *newest, *oldest;
static size_t n_nodes;

/* The key is two SHA-256 digests: any of their bytes are uniform. */
static size_t bucket_of(const unsigned char chain[32], const unsigned char policy[32])
{
	size_t h = 0;

	for (int i = 0; i < 4; i++)
		h = h << 8 | (size_t)(chain[i] ^ policy[i]);
	return h & (BUCKETS - 1);
}

static void unlink_recency(struct node *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		newest = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		oldest = n->prev;
	n->prev = n->next = NULL;
}

static void push_newest(struct node *n)
{
	n->prev = NULL;
	n->next = newest;
	if (newest != NULL)
		newest->prev = n;
	newest = n;
	if (oldest == NULL)
		oldest = n;
}

/* The node for this key and the link that points to it; NULL if none. */
static struct node *lookup(const unsigned char chain[32], const unsigned char policy[32],
                           struct node ***ret_link)
{
	struct node **pp = &buckets[bucket_of(chain, policy)], *n;

	for (; (n = *pp) != NULL; pp = &n->hnext)
		if (memcmp(n->r.chain, chain, 32) == 0 && memcmp(n->r.policy, policy, 32) == 0)
			break;
	*ret_link = pp;
	return n;
}

static void drop(struct node *n, struct node **link)
{
	*link = n->hnext;
	unlink_recency(n);
	n_nodes--;
	free(n);
}

int mtls_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) && n == 32 ? 0 : -1;
}

__attribute__((destructor)) static void results_free(void)
{
	pthread_mutex_lock(&results_lock);
	while (newest != NULL) {
		struct node *n = newest, **link;
		(void)lookup(n->r.chain, n->r.policy, &link);
		drop(n, link);
	}
	pthread_mutex_unlock(&results_lock);
}

int mtls_result_find(const unsigned char chain[32], const unsigned char policy[32], int64_t now,
                     struct mtls_result *ret)
{
	struct node *n, **link;
	int found = 0;

	pthread_mutex_lock(&results_lock);
	n = lookup(chain, policy, &link);
	if (n != NULL && now >= n->r.valid_from && now < n->r.valid_until) {
		*ret = n->r;
		unlink_recency(n);
		push_newest(n);
		found = 1;
	} else if (n != NULL && now >= n->r.valid_until) {
		/* Past its window: of no use unless the clock went back. */
		drop(n, link);
	}
	pthread_mutex_unlock(&results_lock);
	return found;
}

void mtls_result_put(const struct mtls_result *r)
{
	struct node *n, **link;
	int64_t until = r->valid_until;

	if (until > r->verified_at + MTLS_RESULT_TTL)
		until = r->verified_at + MTLS_RESULT_TTL;
	if (r->verified_at < r->valid_from || r->verified_at >= until)
		return;
	pthread_mutex_lock(&results_lock);
	n = lookup(r->chain, r->policy, &link);
	if (n != NULL) {
		unlink_recency(n);
	} else {
		if (n_nodes >= MTLS_RESULTS_MAX) {
			struct node *old = oldest, **old_link;
			(void)lookup(old->r.chain, old->r.policy, &old_link);
			drop(old, old_link);
			/* The bucket may have been this key's: look again. */
			(void)lookup(r->chain, r->policy, &link);
		}
		n = malloc(sizeof(*n));
		if (n == NULL)
			goto out;
		n->hnext = NULL;
		*link = n;
		n_nodes++;
	}
	n->r = *r;
	n->r.valid_until = until;
	push_newest(n);
out:
	pthread_mutex_unlock(&results_lock);
}
