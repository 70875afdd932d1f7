#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A third party builds a plugin out of tree: install into a DESTDIR, build
# tests/fixtures/oot-plugin against that tree through latchkey-plugin.pc
# alone, check that only lk_plugin_entry is exported, then load it with the
# real loader (tests/load_plugin) and compare the recorded SHA-256.
#
# Tools run through "native" (sh -c): make check-valgrind skips */sh, so only
# load_plugin runs under valgrind, not make, the compiler or coreutils.
set -u
: "${LK_BUILDDIR:?run through make check}" "${LK_SRCDIR:?run through make check}"
: "${LK_PKGCONFIGDIR:?run through make check}"

native() { sh -c 'exec "$@"' sh "$@"; }
tmp=
# No "trap ... EXIT": dash under valgrind leaks the trap string at exit.
cleanup() { [ -z "$tmp" ] || native rm -rf "$tmp"; }
fail() { echo "FAIL: $*" >&2; cleanup; exit 1; }

for tool in make pkg-config cc sha256sum nm; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -d /proc/self/fd ] || { echo "SKIP: /proc is not mounted"; exit 77; }

tmp=$(native mktemp -d "${TMPDIR:-/tmp}/latchkey-oot-XXXXXX") || { echo "mktemp failed" >&2; exit 99; }
root=$tmp/root

# MAKEFLAGS from the outer make (jobserver, TESTS=..., LOG_COMPILER=...) is
# not meant for this install.
native env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -C "$LK_BUILDDIR" install DESTDIR="$root" >"$tmp/install.log" 2>&1 ||
	{ native cat "$tmp/install.log" >&2; fail "make install DESTDIR=$root"; }
[ -f "$root$LK_PKGCONFIGDIR/latchkey-plugin.pc" ] || fail "latchkey-plugin.pc not installed"

# Only the installed tree: PKG_CONFIG_LIBDIR replaces the default search
# path, so a system-wide latchkey cannot stand in for the one just built.
PKG_CONFIG_LIBDIR=$root$LK_PKGCONFIGDIR
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
unset PKG_CONFIG_PATH
cflags=$(native pkg-config --cflags latchkey-plugin) || fail "pkg-config --cflags"
case $cflags in
*"-I$root/"*) ;;
*) fail "Cflags ($cflags) do not point into $root" ;;
esac
native pkg-config --variable=plugindir latchkey-plugin | native grep -q '/latchkey/plugins$' ||
	fail "plugindir variable missing"
native pkg-config --libs latchkey-plugin | native grep -q -- '-l' &&
	fail "plugins must not link anything"

native mkdir "$tmp/src" "$tmp/plugins" || fail "setting up $tmp"
native cp "$LK_SRCDIR/tests/fixtures/oot-plugin/Makefile" \
	"$LK_SRCDIR/tests/fixtures/oot-plugin/ootdemo.c" "$tmp/src/" || fail "setting up $tmp"
native env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$tmp/src" >"$tmp/build.log" 2>&1 ||
	{ native cat "$tmp/build.log" >&2; fail "building the out-of-tree plugin"; }

exports=$(native nm -D --defined-only "$tmp/src/ootdemo.so" | native sed -n 's/^[0-9a-f]* [A-Za-z] //p')
[ "$exports" = lk_plugin_entry ] || fail "exports are not just lk_plugin_entry: $exports"

native cp "$tmp/src/ootdemo.so" "$tmp/plugins/ootdemo.so" || fail "setting up $tmp"
native chmod 0755 "$tmp/plugins/ootdemo.so" || fail "setting up $tmp"
native chmod 0755 "$tmp/plugins" || fail "setting up $tmp"

"$LK_BUILDDIR/tests/load_plugin" "$tmp/plugins" ootdemo deny >"$tmp/load.out" ||
	fail "load_plugin refused ootdemo"
want=$(native sha256sum "$tmp/plugins/ootdemo.so" | native sed 's/ .*//')
native grep -qx "sha256=$want" "$tmp/load.out" || fail "sha256 differs: $(native cat "$tmp/load.out")"
native grep -qx 'name=ootdemo' "$tmp/load.out" || fail "name not recorded"
native grep -qx 'version=0.0.1-oot' "$tmp/load.out" || fail "version not recorded"
native grep -qx "path=$tmp/plugins/ootdemo.so" "$tmp/load.out" || fail "path not recorded"
native grep -qx 'decision=1' "$tmp/load.out" || fail "init/authenticate did not run"
native grep -qx 'reason=ootdemo-deny' "$tmp/load.out" || fail "reason not returned"

# The same plugin, group-writable, is refused.
native chmod 0775 "$tmp/plugins/ootdemo.so" || fail "setting up $tmp"
if "$LK_BUILDDIR/tests/load_plugin" "$tmp/plugins" ootdemo >/dev/null 2>"$tmp/refused.err"; then
	fail "a group-writable plugin was loaded"
fi
native grep -q 'unsafe permissions' "$tmp/refused.err" || fail "no reason: $(native cat "$tmp/refused.err")"

echo "out-of-tree plugin built against $root and loaded (sha256 $want)"
cleanup
exit 0
