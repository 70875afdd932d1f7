#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The test command: installs what is missing, builds, runs the whole suite.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup-deps.sh"
"$top/scripts/build.sh" "$@"
cd "${BUILD_DIR:-$top/_build}"
make -s -j"$(nproc)" check || { cat tests/*.log 2>/dev/null | tail -n 80; exit 1; }
