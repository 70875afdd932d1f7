#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds out of tree in BUILD_DIR (default _build) with extra configure
# arguments from the command line. Re-running only rebuilds what changed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}
cd "$top"
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
mkdir -p "$build"
cd "$build"
stamp="configured:$*"
if [ ! -f Makefile ] || [ "$(cat .lk-configure-args 2>/dev/null)" != "$stamp" ]; then
	"$top/configure" -q "$@" >/dev/null
	echo "$stamp" >.lk-configure-args
fi
make -s -j"$(nproc)" >/dev/null
