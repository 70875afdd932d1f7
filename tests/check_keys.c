/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"
int main(void)
{
	return 0;
}
