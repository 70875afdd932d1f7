/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_CIDR_PRIVATE_H
#define LATCHKEY_CIDR_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#define LK_CIDR_STRLEN 50 /* INET6_ADDRSTRLEN + "/128" */

struct lk_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128).
 * Host bits are cleared. LK_EINVAL on anything else. */
int lk_cidr_parse(const char *s, struct lk_cidr *ret_cidr);

/* Canonical text: "10.0.0.0/8". */
void lk_cidr_format(const struct lk_cidr *c, char *out, size_t outlen);

/* Parses a bare IPv4 or IPv6 address (an IPv4-mapped IPv6 address counts as
 * IPv4, so "::ffff:10.0.0.1" matches 10.0.0.0/8). */
int lk_ip_parse(const char *s, struct lk_cidr *ret_addr);

/* Writes the canonical text of an address parsed by lk_ip_parse: every
 * spelling of one address ("::FFFF:10.0.0.1", "10.0.0.1") gives one string. */
void lk_ip_format(const struct lk_cidr *addr, char *out, size_t outlen);

bool lk_cidr_contains(const struct lk_cidr *net, const struct lk_cidr *addr);

#endif
