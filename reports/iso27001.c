/* SPDX-License-Identifier: Apache-2.0 */
/* The ISO27001 pack's body (work in progress). */
#include "config.h"

#include "pack-private.h"

static int iso27001_body(struct rep *r, struct lk_err *err)
{
	(void)r;
	return lk_err_set(err, LK_EINVAL, "the iso27001 pack is not written yet");
}

const struct lk_framework lk_framework_iso27001 = {
	.name = "iso27001",
	.title = "ISO27001",
	.body = iso27001_body,
};
