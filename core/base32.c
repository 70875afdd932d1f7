/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base32 (RFC 4648) for TOTP secrets, through liboath's encoder and decoder
 * (DESIGN.md: no hand-written codecs a library provides; decision 0008).
 * liboath returns malloc'd buffers; every one that held a secret is wiped
 * here before it is freed.
 */
#include "config.h"

#include <oath.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "totp-private.h"

int lk_base32_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	char *enc = NULL;
	size_t enclen = 0, n;
	int r = LK_EINVAL;

	if (out == NULL || outlen == 0 || (in == NULL && len != 0))
		return LK_EINVAL;
	if (len == 0) {
		out[0] = '\0';
		return LK_OK;
	}
	if (oath_base32_encode((const char *)in, len, &enc, &enclen) != OATH_OK || enc == NULL)
		return LK_ENOMEM;
	/* Authenticator apps want the secret without padding (Key Uri Format). */
	for (n = enclen; n > 0 && enc[n - 1] == '='; n--)
		;
	if (n + 1 > outlen)
		goto out;
	memcpy(out, enc, n);
	out[n] = '\0';
	r = LK_OK;
out:
	sodium_memzero(enc, enclen);
	free(enc);
	return r;
}

/* liboath ignores spaces and accepts '=' between 8-character groups; a
 * secret is one group sequence, so padding is allowed only at the end. */
static bool base32_shape_ok(const char *in, size_t len)
{
	bool padding = false;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == ' ')
			continue;
		if (c == '=') {
			padding = true;
			continue;
		}
		if (padding)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
			return false;
	}
	return true;
}

int lk_base32_decode(const char *in, unsigned char *out, size_t outlen, size_t *ret_len)
{
	/* Bounded before liboath copies it: the longest sensible input is the
	 * padded encoding of outlen bytes with a space after every character. */
	size_t cap = 2 * (8 * ((outlen + 4) / 5)) + 16, len;
	char *dec = NULL;
	size_t declen = 0;
	int r = LK_EINVAL;

	if (in == NULL || (out == NULL && outlen != 0))
		return LK_EINVAL;
	len = strnlen(in, cap + 1);
	if (len > cap || !base32_shape_ok(in, len))
		return LK_EINVAL;
	switch (oath_base32_decode(in, len, &dec, &declen)) {
	case OATH_OK:
		break;
	case OATH_MALLOC_ERROR:
		return LK_ENOMEM;
	default:
		return LK_EINVAL;
	}
	if (dec == NULL || declen > outlen)
		goto out;
	if (declen > 0)
		memcpy(out, dec, declen);
	*ret_len = declen;
	r = LK_OK;
out:
	if (dec != NULL)
		sodium_memzero(dec, declen);
	free(dec);
	return r;
}
