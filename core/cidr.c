/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr-private.h"
#include "error-private.h"

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int lk_ip_parse(const char *s, struct lk_cidr *ret_addr)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct lk_cidr c;

	memset(&c, 0, sizeof(c));
	if (s == NULL || strlen(s) >= INET6_ADDRSTRLEN)
		return LK_EINVAL;
	if (inet_pton(AF_INET, s, c.addr) == 1) {
		c.family = AF_INET;
		c.prefix = 32;
	} else if (inet_pton(AF_INET6, s, c.addr) == 1) {
		c.family = AF_INET6;
		c.prefix = 128;
		if (memcmp(c.addr, mapped, sizeof(mapped)) == 0) {
			memmove(c.addr, c.addr + 12, 4);
			memset(c.addr + 4, 0, 12);
			c.family = AF_INET;
			c.prefix = 32;
		}
	} else {
		return LK_EINVAL;
	}
	*ret_addr = c;
	return LK_OK;
}

int lk_cidr_parse(const char *s, struct lk_cidr *ret_cidr)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char buf[LK_CIDR_STRLEN];
	struct lk_cidr c;
	char *slash, *end;
	unsigned long prefix;
	size_t n;

	if (s == NULL || strlen(s) >= sizeof(buf))
		return LK_EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c.addr) == 1)
		c.family = AF_INET6;
	else
		return LK_EINVAL;
	n = addr_len(c.family);
	c.prefix = (unsigned)n * 8;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return LK_EINVAL;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > n * 8 || end - (slash + 1) > 3)
			return LK_EINVAL;
		c.prefix = (unsigned)prefix;
	}
	/* Sources in IPv4-mapped form are compared as IPv4 (lk_ip_parse), so
	 * a mapped network must be too, or it could never match. */
	if (c.family == AF_INET6 && c.prefix >= 96 && memcmp(c.addr, mapped, 12) == 0) {
		memmove(c.addr, c.addr + 12, 4);
		c.family = AF_INET;
		c.prefix -= 96;
		n = 4;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned keep = c.prefix > i * 8 ? c.prefix - (unsigned)i * 8 : 0;
		if (keep < 8)
			c.addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
	if (n == 4)
		memset(c.addr + 4, 0, 12);
	*ret_cidr = c;
	return LK_OK;
}

void lk_cidr_format(const struct lk_cidr *c, char *out, size_t outlen)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(out, outlen, "%s/%u", addr, c->prefix);
}

void lk_ip_format(const struct lk_cidr *addr, char *out, size_t outlen)
{
	if (inet_ntop(addr->family, addr->addr, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
}

bool lk_cidr_contains(const struct lk_cidr *net, const struct lk_cidr *addr)
{
	unsigned bits = net->prefix;

	if (net->family != addr->family)
		return false;
	for (size_t i = 0; bits > 0; i++) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((net->addr[i] & mask) != (addr->addr[i] & mask))
			return false;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return true;
}
