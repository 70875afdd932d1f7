/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client certificate chain a host service hands pam_latchkey.so: the
 * PAM environment variable LATCHKEY_CLIENT_CERT, or the answer to the
 * daemon's prompt for it. Either holds the PEM itself (as Apache's
 * SSL_CLIENT_CERT), the PEM URL-encoded (as nginx's
 * $ssl_client_escaped_cert), or the path of a file under the directory the
 * module's cert_dir= allows. The module only reads and bounds it; latchkeyd
 * decides what it proves.
 */
#ifndef LKPAM_CLIENT_CERT_H
#define LKPAM_CLIENT_CERT_H

#include <stddef.h>

#include <security/pam_modules.h>

#define LKPAM_CERT_ENV "LATCHKEY_CLIENT_CERT"

/* Turns value into the chain's bytes in out (cap bytes). cert_dir may be
 * NULL (then a path is refused). Returns PAM_SUCCESS, or PAM_AUTH_ERR after
 * logging why (never the certificate's bytes). */
int lkpam_client_cert(pam_handle_t *pamh, const char *cert_dir, const char *value,
                      unsigned char *out, size_t cap, size_t *ret_len);

#endif
