/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the daemon protocol decoder (configure
 * --enable-fuzzing with CC=clang builds tests/fuzz_protocol):
 *
 *   ./tests/fuzz_protocol -max_total_time=120 CORPUS_DIR
 *
 * The input is one payload (what follows a frame's length prefix).
 * Whatever the bytes, decoding either fails with a message and leaves a
 * wiped message, or gives a message that the encoder accepts, and whose
 * encoding decodes to exactly the same message and encodes to the same
 * bytes again. tests/check_protocol calls this same function over valid
 * encodings, every malformed payload of its table and thousands of
 * mutations of them.
 */
#include "config.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Static: two messages are ~70 KB, too much for some fuzzers' stacks. */
static struct lk_msg first, second;
static unsigned char frame[LK_FRAME_MAX + 4], frame2[LK_FRAME_MAX + 4];
static const struct lk_msg zero;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_err err = { { 0 } };
	size_t len = 0, len2 = 0;

	if (lk_msg_decode(data, size, &first, &err) < 0) {
		/* A failure says why and leaves nothing behind. */
		if (err.msg[0] == '\0' || memcmp(&first, &zero, sizeof(first)) != 0)
			abort();
		return 0;
	}
	/* What we accept we must be able to send, and the round trip must
	 * be exact: no field dropped, changed or invented on the way. */
	if (lk_msg_encode(&first, frame, sizeof(frame), &len, &err) < 0 || len < 6 ||
	    lk_msg_decode(frame + 4, len - 4, &second, &err) < 0 ||
	    memcmp(&first, &second, sizeof(first)) != 0 ||
	    lk_msg_encode(&second, frame2, sizeof(frame2), &len2, &err) < 0 || len != len2 ||
	    memcmp(frame, frame2, len) != 0)
		abort();
	lk_msg_wipe(&first);
	lk_msg_wipe(&second);
	sodium_memzero(frame, len);
	sodium_memzero(frame2, len2);
	return 0;
}
