/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util-private.h"

int lk_duration_parse(const char *s, int64_t *ret_seconds)
{
	int64_t v = 0, unit;
	size_t i = 0;

	if (s == NULL)
		return LK_EINVAL;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > LK_DURATION_MAX)
			return LK_EINVAL;
	}
	if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
		return LK_EINVAL;
	switch (s[i]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return LK_EINVAL;
	}
	if (v == 0 || v > LK_DURATION_MAX / unit)
		return LK_EINVAL;
	*ret_seconds = v * unit;
	return LK_OK;
}

void lk_duration_format(int64_t seconds, char *out, size_t outlen)
{
	static const struct {
		int64_t n;
		char c;
	} units[] = { { 86400, 'd' },
		      { 3600, 'h' },
		      { 60, 'm' } }; /* days, not weeks: "91d" reads better than "13w" */

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (seconds != 0 && seconds % units[i].n == 0) {
			snprintf(out, outlen, "%lld%c", (long long)(seconds / units[i].n),
			         units[i].c);
			return;
		}
	}
	snprintf(out, outlen, "%llds", (long long)seconds);
}

void lk_time_format(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "@%lld", (long long)t);
}

int lk_now(int64_t *ret_now)
{
	struct timespec ts;

	/* 1577836800 = 2020-01-01: a clock before that is not set. */
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 1577836800)
		return LK_EIO;
	*ret_now = (int64_t)ts.tv_sec;
	return LK_OK;
}

int lk_check_owner_mode(const struct stat *st, const char *what, const char *path,
                        unsigned forbidden_mode, struct lk_err *err)
{
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return lk_err_set(err, LK_ESTORE,
		                  "%s %s is owned by uid %u, not by uid %u or root; refusing it",
		                  what, path, (unsigned)st->st_uid, (unsigned)geteuid());
	if ((st->st_mode & forbidden_mode) != 0)
		return lk_err_set(err, LK_ESTORE,
		                  "%s %s has unsafe permissions (mode %04o); refusing it", what,
		                  path, (unsigned)(st->st_mode & 07777));
	return LK_OK;
}

bool lk_token_valid(const char *s, size_t max, const char *extra)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= max)
			return false;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (c == '\0' || strchr(extra, c) == NULL)
			return false;
	}
	return n > 0;
}

/* Decodes one UTF-8 sequence at s; returns its length, or 0 if it is not
 * well-formed (truncated, overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret_cp)
{
	size_t n;
	uint32_t cp, min;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

/* Characters that change how a terminal or a report shows the text around
 * them: C0/C1 controls, DEL, bidirectional overrides and isolates, line and
 * paragraph separators. An audit reason must read as what it says. */
static bool invisible_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
	       cp == 0x2029 || cp == 0xfeff;
}

/* Unicode noncharacters (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF): never text,
 * and U+FFFE/U+FFFF are not even XML characters, so one of them in an
 * audit reason would make every evidence pack that lists it invalid. */
static bool noncharacter(uint32_t cp)
{
	return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

/* XML 1.0's Char production. */
static bool xml_char(uint32_t cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

int lk_text_xml_copy(const char *s, char **ret_copy)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *p = (const unsigned char *)s;
	size_t len, n = 0;
	uint32_t cp;
	bool clean = true;
	char *out, *o;

	for (; *p != '\0'; p += len ? len : 1) {
		len = utf8_decode(p, &cp);
		clean = clean && len != 0 && xml_char(cp);
		n += len != 0 && xml_char(cp) ? len : sizeof(replacement) - 1;
	}
	*ret_copy = NULL;
	if (clean)
		return LK_OK;
	if ((out = malloc(n + 1)) == NULL)
		return LK_ENOMEM;
	o = out;
	for (p = (const unsigned char *)s; *p != '\0'; p += len ? len : 1) {
		len = utf8_decode(p, &cp);
		if (len != 0 && xml_char(cp)) {
			memcpy(o, p, len);
			o += len;
		} else {
			memcpy(o, replacement, sizeof(replacement) - 1);
			o += sizeof(replacement) - 1;
		}
	}
	*o = '\0';
	*ret_copy = out;
	return LK_OK;
}

bool lk_text_valid(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;
	uint32_t cp;

	if (s == NULL || strnlen(s, max + 1) > max)
		return false;
	for (; *p != '\0'; p += len) {
		len = utf8_decode(p, &cp);
		if (len == 0 || invisible_control(cp) || noncharacter(cp))
			return false;
	}
	return true;
}

bool lk_service_name_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);

	if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}
