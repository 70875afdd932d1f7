/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mtls step's <arg>s. Every argument is checked here, in init: an
 * unknown one, a bad value, a repeated setting or a combination that could
 * not work fails the step ("plugin-init-failed"), because a typo in a
 * trust policy must never be ignored.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mtls-private.h"

#define DEFAULT_CRL_MAX_AGE (7 * 86400)
#define DEFAULT_SKEW        300
#define SKEW_MAX            3600
#define CRL_MAX_AGE_MAX     (366 * 86400)
#define DEFAULT_PROMPT      "Client certificate (PEM): "

/* Settings that may be given once: a second one is a conflict. */
enum once {
	ONCE_CRL_CHECK = 1u << 0,
	ONCE_CRL_MAX_AGE = 1u << 1,
	ONCE_CRL_SOFT_FAIL = 1u << 2,
	ONCE_SKEW = 1u << 3,
	ONCE_MIN_RSA = 1u << 4,
	ONCE_MIN_EC = 1u << 5,
	ONCE_SIG_ALGS = 1u << 6,
	ONCE_MAX_DEPTH = 1u << 7,
	ONCE_PROMPT = 1u << 8,
	ONCE_EKU = 1u << 9,
};

struct args {
	const struct lk_plugin_host *host;
	struct mtls_conf *conf;
	unsigned seen; /* enum once */
};

static void log_err(const struct args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_err(const struct args *a, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->host->log(a->host->host_ctx, LK_LOG_ERR, "mtls: %s", msg);
}

bool mtls_principal_valid(const char *s, size_t len)
{
	if (len == 0 || len > MTLS_PRINCIPAL_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

/* A decimal number of at most 9 digits (no sign, no spaces); -1 if not. */
static int64_t parse_number(const char *s, const char **ret_end)
{
	int64_t v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 10)
		v = v * 10 + (s[n++] - '0');
	if (n == 0 || n > 9)
		return -1;
	*ret_end = s + n;
	return v;
}

/* "90", "90s", "15m", "12h", "7d", "2w" in seconds; -1 if not one. */
static int64_t parse_duration(const char *s)
{
	const char *end;
	int64_t v = parse_number(s, &end), unit;

	if (v < 0)
		return -1;
	switch (*end) {
	case '\0':
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
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	return v * unit;
}

/* Value of "name=value" if arg is that setting, else NULL. */
static const char *value_of(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static int once(struct args *a, unsigned bit, const char *name)
{
	if ((a->seen & bit) != 0) {
		log_err(a, "%s given twice", name);
		return -1;
	}
	a->seen |= bit;
	return 0;
}

/* ca=, ca-dir=, crl=: absolute, without "..", as the host will insist. */
static int add_file(struct args *a, enum mtls_file_kind kind, const char *name, const char *path)
{
	struct mtls_conf *c = a->conf;
	size_t len = strlen(path);

	if (path[0] != '/') {
		log_err(a, "%s=%.200s is not an absolute path", name, path);
		return -1;
	}
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0')) {
			log_err(a, "%s=%.200s has a '..' component", name, path);
			return -1;
		}
	}
	if (len >= MTLS_PATH_MAX || c->n_files == MTLS_MAX_FILES) {
		log_err(a, "%s=%.200s: path too long or more than %d files", name, path,
		        MTLS_MAX_FILES);
		return -1;
	}
	c->files[c->n_files].kind = kind;
	memcpy(c->files[c->n_files].path, path, len + 1);
	c->n_files++;
	if (kind == MTLS_FILE_CRL)
		c->have_crl = true;
	else
		c->have_ca = true;
	return 0;
}

static int int_in(struct args *a, const char *name, const char *v, int min, int max, int *ret)
{
	const char *end;
	int64_t n = parse_number(v, &end);

	if (n < 0 || *end != '\0' || n < min || n > max) {
		log_err(a, "bad %s '%.20s' (%d to %d)", name, v, min, max);
		return -1;
	}
	*ret = (int)n;
	return 0;
}

static int duration_in(struct args *a, const char *name, const char *v, int64_t min, int64_t max,
                       int64_t *ret)
{
	int64_t d = parse_duration(v);

	if (d < min || d > max) {
		log_err(a,
		        "bad %s '%.20s' (seconds, or a number with s, m, h, d or w; %lld to %lld "
		        "seconds)",
		        name, v, (long long)min, (long long)max);
		return -1;
	}
	*ret = d;
	return 0;
}

static int parse_sig_algs(struct args *a, const char *v)
{
	static const struct {
		const char *name;
		unsigned bit;
	} algs[] = {
		{ "sha256", MTLS_SIG_SHA256 }, { "sha384", MTLS_SIG_SHA384 },
		{ "sha512", MTLS_SIG_SHA512 }, { "ed25519", MTLS_SIG_ED25519 },
		{ "ed448", MTLS_SIG_ED448 },
	};
	unsigned set = 0;

	for (const char *p = v;; p++) {
		size_t n = strcspn(p, ","), i;
		for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
			if (strlen(algs[i].name) == n && strncmp(p, algs[i].name, n) == 0)
				break;
		if (i == sizeof(algs) / sizeof(algs[0])) {
			/* SHA-1 and MD5 are not on the list: never allowed. */
			log_err(a,
			        "bad sig-algs '%.60s' (a comma list of sha256, sha384, sha512, "
			        "ed25519, ed448)",
			        v);
			return -1;
		}
		set |= algs[i].bit;
		p += n;
		if (*p == '\0')
			break;
	}
	a->conf->sig_algs = set;
	return 0;
}

/* PATTERN with exactly one "{}" and no other brace; printable ASCII, and
 * no space except in a cn pattern. */
static int parse_pattern(struct args *a, enum mtls_map_kind kind, const char *pat,
                         struct mtls_rule *rule)
{
	const char *hole = strstr(pat, "{}");
	size_t len = strlen(pat);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pat[i];
		if (c < 0x20 || c > 0x7e || (c == ' ' && kind != MTLS_MAP_CN))
			hole = NULL;
	}
	if (hole == NULL || strpbrk(hole + 2, "{}") != NULL ||
	    (size_t)(hole - pat) != strcspn(pat, "{}") || len >= MTLS_PATTERN_MAX) {
		log_err(a, "bad map pattern '%.100s' (printable text with exactly one {})", pat);
		return -1;
	}
	rule->kind = kind;
	memcpy(rule->prefix, pat, (size_t)(hole - pat));
	rule->prefix[hole - pat] = '\0';
	memcpy(rule->suffix, hole + 2, len - (size_t)(hole - pat) - 2 + 1);
	return 0;
}

static int parse_map(struct args *a, const char *v)
{
	static const struct {
		const char *name;
		enum mtls_map_kind kind;
	} kinds[] = {
		{ "san-uri:", MTLS_MAP_SAN_URI },
		{ "san-dns:", MTLS_MAP_SAN_DNS },
		{ "san-email:", MTLS_MAP_SAN_EMAIL },
		{ "cn:", MTLS_MAP_CN },
	};
	struct mtls_conf *c = a->conf;

	if (c->n_rules == MTLS_MAX_RULES) {
		log_err(a, "more than %d map= rules", MTLS_MAX_RULES);
		return -1;
	}
	if (strcmp(v, "cn") == 0)
		v = "cn:{}";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].name);
		if (strncmp(v, kinds[i].name, n) == 0) {
			if (parse_pattern(a, kinds[i].kind, v + n, &c->rules[c->n_rules]) < 0)
				return -1;
			c->n_rules++;
			return 0;
		}
	}
	log_err(a, "bad map '%.100s' (san-uri:, san-dns:, san-email: or cn: and a pattern)", v);
	return -1;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 64 hex digits, or 32 pairs joined by single colons; any case. */
static int parse_fingerprint(const char *s, size_t len, unsigned char out[32])
{
	bool colons = len == 95;
	size_t pos = 0;

	if (len != 64 && len != 95)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi, lo;
		if (colons && i > 0 && s[pos++] != ':')
			return -1;
		hi = hex_value(s[pos++]);
		lo = hex_value(s[pos++]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int parse_pin(struct args *a, const char *v)
{
	struct mtls_conf *c = a->conf;
	const char *colon = strrchr(v, ':');
	struct mtls_pin pin;

	if (c->n_pins == MTLS_MAX_PINS) {
		log_err(a, "more than %d pin= rules", MTLS_MAX_PINS);
		return -1;
	}
	if (colon == NULL || parse_fingerprint(v, (size_t)(colon - v), pin.sha256) < 0 ||
	    !mtls_principal_valid(colon + 1, strlen(colon + 1))) {
		log_err(a,
		        "bad pin '%.200s' (SHA256:PRINCIPAL: the leaf's SHA-256 in 64 hex "
		        "digits, colons allowed, then a principal)",
		        v);
		return -1;
	}
	for (size_t i = 0; i < c->n_pins; i++) {
		if (memcmp(c->pins[i].sha256, pin.sha256, 32) == 0) {
			log_err(a, "pin '%.200s': that certificate is pinned twice", v);
			return -1;
		}
	}
	snprintf(pin.principal, sizeof(pin.principal), "%s", colon + 1);
	c->pins[c->n_pins++] = pin;
	return 0;
}

static int parse_prompt(struct args *a, const char *v)
{
	size_t len = strlen(v);

	if (once(a, ONCE_PROMPT, "prompt") < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			len = 0;
	}
	if (len == 0 || len >= sizeof(a->conf->prompt_text)) {
		log_err(a, "bad prompt text (1 to %zu printable characters)",
		        sizeof(a->conf->prompt_text) - 1);
		return -1;
	}
	a->conf->prompt = true;
	memcpy(a->conf->prompt_text, v, len + 1);
	return 0;
}

static int parse_one(struct args *a, const char *arg)
{
	struct mtls_conf *c = a->conf;
	const char *v;

	if ((v = value_of(arg, "ca")) != NULL)
		return add_file(a, MTLS_FILE_CA, "ca", v);
	if ((v = value_of(arg, "ca-dir")) != NULL)
		return add_file(a, MTLS_FILE_CA_DIR, "ca-dir", v);
	if ((v = value_of(arg, "crl")) != NULL)
		return add_file(a, MTLS_FILE_CRL, "crl", v);
	if ((v = value_of(arg, "map")) != NULL)
		return parse_map(a, v);
	if ((v = value_of(arg, "pin")) != NULL)
		return parse_pin(a, v);
	if ((v = value_of(arg, "crl-check")) != NULL) {
		if (once(a, ONCE_CRL_CHECK, "crl-check") < 0)
			return -1;
		if (strcmp(v, "leaf") != 0 && strcmp(v, "chain") != 0) {
			log_err(a, "bad crl-check '%.20s' (leaf or chain)", v);
			return -1;
		}
		c->crl_chain = strcmp(v, "chain") == 0;
		return 0;
	}
	if ((v = value_of(arg, "crl-max-age")) != NULL)
		return once(a, ONCE_CRL_MAX_AGE, "crl-max-age") < 0
		           ? -1
		           : duration_in(a, "crl-max-age", v, 1, CRL_MAX_AGE_MAX, &c->crl_max_age);
	if (strcmp(arg, "crl-soft-fail") == 0) {
		c->crl_soft_fail = true;
		return once(a, ONCE_CRL_SOFT_FAIL, "crl-soft-fail");
	}
	if ((v = value_of(arg, "skew")) != NULL)
		return once(a, ONCE_SKEW, "skew") < 0
		           ? -1
		           : duration_in(a, "skew", v, 0, SKEW_MAX, &c->skew);
	if ((v = value_of(arg, "min-rsa-bits")) != NULL)
		return once(a, ONCE_MIN_RSA, "min-rsa-bits") < 0
		           ? -1
		           : int_in(a, "min-rsa-bits", v, 1024, 16384, &c->min_rsa_bits);
	if ((v = value_of(arg, "min-ec-bits")) != NULL)
		return once(a, ONCE_MIN_EC, "min-ec-bits") < 0
		           ? -1
		           : int_in(a, "min-ec-bits", v, 160, 571, &c->min_ec_bits);
	if ((v = value_of(arg, "max-depth")) != NULL)
		return once(a, ONCE_MAX_DEPTH, "max-depth") < 0
		           ? -1
		           : int_in(a, "max-depth", v, 0, 8, &c->max_depth);
	if ((v = value_of(arg, "sig-algs")) != NULL)
		return once(a, ONCE_SIG_ALGS, "sig-algs") < 0 ? -1 : parse_sig_algs(a, v);
	if ((v = value_of(arg, "eku")) != NULL) {
		/* The only one that makes sense for a client certificate; the
		 * check is always on, the argument only documents it. */
		if (once(a, ONCE_EKU, "eku") < 0)
			return -1;
		if (strcmp(v, "clientAuth") != 0) {
			log_err(a, "bad eku '%.40s' (only clientAuth)", v);
			return -1;
		}
		return 0;
	}
	if (strcmp(arg, "prompt") == 0)
		return parse_prompt(a, DEFAULT_PROMPT);
	if ((v = value_of(arg, "prompt")) != NULL)
		return parse_prompt(a, v);
	log_err(a, "unknown argument '%.60s'", arg);
	return -1;
}

/* Settings that are fine one by one but cannot work together. */
static int check_combination(struct args *a)
{
	const struct mtls_conf *c = a->conf;

	if (c->n_rules == 0 && c->n_pins == 0) {
		log_err(a, "no map= or pin= rule: no certificate could name a principal");
		return -1;
	}
	if (!c->have_ca && c->n_rules > 0) {
		/* Without a CA anyone can make a certificate with any name. */
		log_err(a, "map= rules need ca= or ca-dir= (without a CA, only pin= works)");
		return -1;
	}
	if (!c->have_ca && c->have_crl) {
		log_err(a, "crl= needs ca= or ca-dir=");
		return -1;
	}
	if (!c->have_crl && (a->seen & (ONCE_CRL_CHECK | ONCE_CRL_MAX_AGE | ONCE_CRL_SOFT_FAIL))) {
		log_err(a, "crl-check, crl-max-age and crl-soft-fail need crl=");
		return -1;
	}
	return 0;
}

int mtls_conf_parse(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
                    struct mtls_conf *conf)
{
	struct args a = { .host = host, .conf = conf };

	memset(conf, 0, sizeof(*conf));
	conf->crl_max_age = DEFAULT_CRL_MAX_AGE;
	conf->skew = DEFAULT_SKEW;
	conf->min_rsa_bits = 2048;
	conf->min_ec_bits = 256;
	conf->sig_algs = MTLS_SIG_ALL;
	conf->max_depth = 4;
	for (size_t i = 0; i < n_args; i++) {
		if (args[i] == NULL || parse_one(&a, args[i]) < 0)
			return -1;
	}
	return check_combination(&a);
}
