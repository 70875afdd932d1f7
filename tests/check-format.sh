#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails if a C file differs from what .clang-format produces. With
# LK_FORMAT_BASE=<git rev>, only files changed since that revision.
set -u
src=${LK_SRCDIR:-$(dirname "$0")/..}
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null 2>&1 || { echo "SKIP: clang-format not installed"; exit 77; }
cd "$src" || exit 99
if [ -n "${LK_FORMAT_BASE:-}" ]; then
	files=$(git diff --name-only --diff-filter=ACMR "$LK_FORMAT_BASE" -- '*.c' '*.h')
elif git rev-parse --git-dir >/dev/null 2>&1; then
	files=$(git ls-files -- '*.c' '*.h')
else
	files=$(find . -name '*.[ch]' -not -path './_build*' -not -name 'config.h')
fi
[ -n "$files" ] || { echo "no C files to check"; exit 0; }
bad=0
for f in $files; do
	[ -f "$f" ] || continue
	if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "all $(echo "$files" | wc -w) C files formatted"
exit $bad
