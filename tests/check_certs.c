/* SPDX-License-Identifier: Apache-2.0 */
/* placeholder: being written */
#include "testutil.h"
int main(void) { return 77; }
