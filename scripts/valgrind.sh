#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The whole suite under valgrind memcheck (no forking in Check, children
# traced), on the build scripts/test.sh made. Exit 0 only if every test
# passed with no memcheck error and no definite leak.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "${BUILD_DIR:-$top/_build}"
make -s check-valgrind || { cat tests/*.log 2>/dev/null | tail -n 80; exit 1; }
