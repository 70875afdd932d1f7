/* SPDX-License-Identifier: Apache-2.0 */
/* The GDPR pack's body (work in progress). */
#include "config.h"

#include "pack-private.h"

static int gdpr_body(struct rep *r, struct lk_err *err)
{
	(void)r;
	return lk_err_set(err, LK_EINVAL, "the gdpr pack is not written yet");
}

const struct lk_framework lk_framework_gdpr = {
	.name = "gdpr",
	.title = "GDPR",
	.body = gdpr_body,
};
