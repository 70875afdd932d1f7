/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An enrollment's otpauth:// URI as a QR code in the terminal, for the
 * authenticator app's camera (libqrencode, --enable-qrencode).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#ifdef HAVE_QRENCODE
#include <qrencode.h>
#endif

#include "cli-private.h"

#ifdef HAVE_QRENCODE

/* ISO/IEC 18004 asks for four light modules around the symbol; with less,
 * cameras lose the finder patterns against the terminal's frame. */
#define QUIET 4
/* Version 40, the largest symbol, and its quiet zone. */
#define SIDE_MAX (177 + 2 * QUIET)

/* UTF-8 half blocks: one character cell shows two modules, one above the
 * other, so the symbol comes out square on a terminal whose cells are
 * about twice as tall as they are wide. */
static const char *const cells[4] = {
	" ",            /* neither */
	"\xe2\x96\x84", /* U+2584 lower half: the lower module only */
	"\xe2\x96\x80", /* U+2580 upper half: the upper module only */
	"\xe2\x96\x88", /* U+2588 full block: both */
};

/*
 * Whether the module at (x, y), counted from the quiet zone's corner, is
 * drawn in the terminal's foreground colour. Light modules and the quiet
 * zone are: on the usual dark background that reads as dark modules on
 * white paper (qrencode -t UTF8 draws the same way). Past the last row
 * nothing is drawn.
 */
static bool lit(const QRcode *qr, int x, int y)
{
	int w = qr->width;

	if (y >= w + 2 * QUIET)
		return false;
	x -= QUIET;
	y -= QUIET;
	if (x < 0 || y < 0 || x >= w || y >= w)
		return true;
	return (qr->data[y * w + x] & 1) == 0; /* bit 0: a dark module */
}

int cli_qr_print(FILE *f, const char *text, struct lk_err *err)
{
	/* Every cell is at most three bytes, then "\n" and NUL. */
	char line[SIDE_MAX * 3 + 2];
	QRcode *qr;
	int side, r = LK_EIO;

	/* M (15% of the symbol may be lost): a photo of a screen is rarely
	 * clean, and a URI of a few hundred bytes still fits easily. */
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (qr == NULL)
		return lk_err_set(err, errno == ENOMEM ? LK_ENOMEM : LK_EINVAL,
		                  "cannot make a QR code of the URI: %s", strerror(errno));
	side = qr->width + 2 * QUIET;
	if (qr->width <= 0 || side > SIDE_MAX) {
		r = lk_err_set(err, LK_EINVAL, "cannot make a QR code of the URI: width %d",
		               qr->width);
		goto out;
	}
	for (int y = 0; y < side; y += 2) {
		size_t len = 0;
		for (int x = 0; x < side; x++) {
			const char *cell =
			    cells[(lit(qr, x, y) ? 2 : 0) | (lit(qr, x, y + 1) ? 1 : 0)];
			size_t n = strlen(cell);
			memcpy(line + len, cell, n);
			len += n;
		}
		line[len++] = '\n';
		line[len] = '\0';
		if (fputs(line, f) == EOF) {
			r = lk_err_set(err, LK_EIO, "cannot write the QR code");
			goto out;
		}
	}
	r = LK_OK;
out:
	/* The modules encode the seed: no copy stays behind in our memory
	 * (libqrencode's own working buffers are freed inside it, unwiped). */
	sodium_memzero(line, sizeof(line));
	if (qr->width > 0)
		sodium_memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
	QRcode_free(qr);
	return r;
}

#else

int cli_qr_print(FILE *f, const char *text, struct lk_err *err)
{
	(void)f;
	(void)text;
	return lk_err_set(err, LK_ENOTFOUND, "built without libqrencode: no QR code");
}

#endif
