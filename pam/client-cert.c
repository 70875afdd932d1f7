/* SPDX-License-Identifier: Apache-2.0 */
/* The client certificate chain handed to the module: see client-cert.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>

#include "client-cert.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX decoding (nginx's $ssl_client_escaped_cert); a '%' without two hex
 * digits, or a decoded NUL, is refused. */
static int url_decode(pam_handle_t *pamh, const char *in, unsigned char *out, size_t cap,
                      size_t *ret_len)
{
	size_t n = 0;

	for (const char *p = in; *p != '\0'; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit(p[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				pam_syslog(pamh, LOG_NOTICE,
				           "%s: bad %%-escape at offset %zu of the encoded PEM",
				           LKPAM_CERT_ENV, (size_t)(p - in));
				return PAM_AUTH_ERR;
			}
			c = hi * 16 + lo;
			p += 2;
		}
		if (n == cap) {
			pam_syslog(pamh, LOG_NOTICE,
			           "%s: the client certificate chain is over %zu bytes",
			           LKPAM_CERT_ENV, cap);
			return PAM_AUTH_ERR;
		}
		out[n++] = (unsigned char)c;
	}
	*ret_len = n;
	return PAM_SUCCESS;
}

/* True if path (absolute, resolved) is dir or lies beneath it. */
static bool beneath(const char *dir, const char *path)
{
	size_t dlen = strlen(dir);

	return strncmp(path, dir, dlen) == 0 && (path[dlen] == '/' || dlen == 1);
}

/* The file must be a regular file inside cert_dir: a host service could
 * otherwise be made to send any file it can read. The check is on what was
 * opened (the descriptor's own path), not on the name before opening, so
 * a directory swapped for a link in between cannot lead outside. */
static int read_under(pam_handle_t *pamh, const char *cert_dir, const char *path,
                      unsigned char *out, size_t cap, size_t *ret_len)
{
	char dir[PATH_MAX], real[PATH_MAX], proc[64];
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, r = PAM_AUTH_ERR;

	if (cert_dir == NULL) {
		pam_syslog(pamh, LOG_ERR,
		           "%s names a file, but the module has no cert_dir=", LKPAM_CERT_ENV);
		return PAM_AUTH_ERR;
	}
	if (realpath(cert_dir, dir) == NULL) {
		pam_syslog(pamh, LOG_ERR, "cert_dir=%s: %s", cert_dir, strerror(errno));
		return PAM_AUTH_ERR;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		pam_syslog(pamh, LOG_NOTICE, "%s: cannot open %.200s: %s", LKPAM_CERT_ENV, path,
		           strerror(errno));
		return PAM_AUTH_ERR;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0 || (size_t)n >= sizeof(real) - 1) {
		pam_syslog(pamh, LOG_ERR, "%s: cannot tell where %.200s is (%s)", LKPAM_CERT_ENV,
		           path, n < 0 ? strerror(errno) : "path too long");
		goto out;
	}
	real[n] = '\0';
	if (!beneath(dir, real) || strcmp(dir, real) == 0) {
		pam_syslog(pamh, LOG_NOTICE, "%s: %.200s is not under cert_dir=%s", LKPAM_CERT_ENV,
		           path, cert_dir);
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		pam_syslog(pamh, LOG_NOTICE, "%s: %.200s is not a regular file", LKPAM_CERT_ENV,
		           real);
		goto out;
	}
	if (st.st_size <= 0 || (unsigned long long)st.st_size > cap) {
		pam_syslog(pamh, LOG_NOTICE, "%s: %.200s is %lld bytes; at most %zu",
		           LKPAM_CERT_ENV, real, (long long)st.st_size, cap);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, out + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pam_syslog(pamh, LOG_NOTICE, "%s: cannot read %.200s", LKPAM_CERT_ENV,
			           real);
			goto out;
		}
		got += (size_t)n;
	}
	*ret_len = got;
	r = PAM_SUCCESS;
out:
	close(fd);
	return r;
}

int lkpam_client_cert(pam_handle_t *pamh, const char *cert_dir, const char *value,
                      unsigned char *out, size_t cap, size_t *ret_len)
{
	static const char pem[] = "-----BEGIN";
	size_t len;
	int r;

	if (value == NULL || value[0] == '\0') {
		pam_syslog(pamh, LOG_NOTICE, "%s is empty", LKPAM_CERT_ENV);
		return PAM_AUTH_ERR;
	}
	if (value[0] == '/')
		return read_under(pamh, cert_dir, value, out, cap, ret_len);
	/* PEM never holds a '%' (base64, dashes, spaces and newlines): one
	 * means URL-encoding, however much of it was escaped. */
	if (strchr(value, '%') != NULL) {
		r = url_decode(pamh, value, out, cap, ret_len);
		if (r == PAM_SUCCESS &&
		    (*ret_len < sizeof(pem) - 1 || memcmp(out, pem, sizeof(pem) - 1) != 0)) {
			pam_syslog(pamh, LOG_NOTICE, "%s: the URL-decoded value is not PEM",
			           LKPAM_CERT_ENV);
			r = PAM_AUTH_ERR;
		}
		return r;
	}
	if (strncmp(value, pem, sizeof(pem) - 1) != 0) {
		pam_syslog(pamh, LOG_NOTICE,
		           "%s is neither PEM (-----BEGIN ...), URL-encoded PEM nor an absolute "
		           "path",
		           LKPAM_CERT_ENV);
		return PAM_AUTH_ERR;
	}
	len = strlen(value);
	if (len > cap) {
		pam_syslog(pamh, LOG_NOTICE,
		           "%s: the client certificate chain is %zu bytes; at most %zu",
		           LKPAM_CERT_ENV, len, cap);
		return PAM_AUTH_ERR;
	}
	memcpy(out, value, len);
	*ret_len = len;
	return PAM_SUCCESS;
}
