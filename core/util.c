/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdio.h>
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

bool lk_text_valid(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}
