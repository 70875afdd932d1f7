#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/pam-login end to end, as the demo uses it: a state dir made with the
# built CLI, a PAM service file for the built pam_latchkey.so, latchkeyd
# spawned on it. No daemon -> PAM_AUTHINFO_UNAVAIL; a well-formed key with
# the wrong secret -> PAM_AUTH_ERR; the issued key -> PAM_SUCCESS. Keys go
# through stdin only (printf is a shell builtin: never in an argv).
#
# Tools run through "native" (sh -c): make check-valgrind skips */sh, so only
# our binaries run under valgrind, not coreutils.
set -u
: "${LK_BUILDDIR:?run through make check}" "${LATCHKEY_BIN:?run through make check}"
: "${LATCHKEYD_BIN:?run through make check}" "${LK_PAM_MODULE:?run through make check}"
: "${LK_APIKEY_PLUGIN_DIR:?run through make check}"

native() { sh -c 'exec "$@"' sh "$@"; }
login=$LK_BUILDDIR/tests/pam-login
tmp=
daemon=
# No "trap ... EXIT": dash under valgrind leaks the trap string at exit.
cleanup() {
	if [ -n "$daemon" ]; then
		kill "$daemon" 2>/dev/null
		wait "$daemon"
	fi
	[ -z "$tmp" ] || native rm -rf "$tmp"
}
fail() {
	echo "FAIL: $*" >&2
	[ -z "$tmp" ] || [ ! -s "$tmp/latchkeyd.log" ] || native cat "$tmp/latchkeyd.log" >&2
	cleanup
	exit 1
}

# try NAME ANSWER: one login of alice to service web, ANSWER on stdin; sets
# $out (its line) and $status.
try() {
	out=$(printf '%s\n' "$2" | "$login" --confdir "$tmp/pam.d" --rhost 192.0.2.7 \
		--env LATCHKEY_SCOPE=web:read web alice 2>"$tmp/$1.err")
	status=$?
}

tmp=$(native mktemp -d "${TMPDIR:-/tmp}/latchkey-pam-login-XXXXXX") ||
	{ echo "mktemp failed" >&2; exit 99; }
state=$tmp/state
conf=$state/latchkey.conf
sock=$state/run/auth.sock

"$LATCHKEY_BIN" init --state-dir "$state" --plugin-dir "$LK_APIKEY_PLUGIN_DIR" >/dev/null ||
	fail "latchkey init"
printf '%s%s%s\n' '<policy xmlns="urn:latchkey:policy:1" service="web" environment="prod">' \
	'<stack><step plugin="apikey" control="required"/></stack>' \
	'<scopes><scope>web:read</scope></scopes></policy>' >"$state/policies/web.xml" ||
	fail "writing the policy"
native chmod 0644 "$state/policies/web.xml" || fail "chmod the policy"
key=$("$LATCHKEY_BIN" -c "$conf" --offline key issue --owner alice --env prod --scope web:read \
	--expires 30d) || fail "latchkey key issue"
uid=$(native id -u)
[ "$uid" -eq 0 ] || printf 'auth_peer = %s web\n' "$uid" >>"$conf" || fail "auth_peer"
native mkdir "$tmp/pam.d" || fail "mkdir pam.d"
printf 'auth required %s socket=%s\naccount required pam_permit.so\n' "$LK_PAM_MODULE" "$sock" \
	>"$tmp/pam.d/web" || fail "writing the PAM service"

# One secret character changed: the module passes it on, the daemon refuses.
prefix=${key%???????} # the last secret character and the 6-character CRC
tail=${key#"$prefix"}
case $tail in
a*) bad=${prefix}b${tail#?} ;;
*) bad=${prefix}a${tail#?} ;;
esac

try nodaemon "$key"
[ "$status" -ne 0 ] || fail "no daemon: exit 0 ($out)"
case $out in
"web alice: Authentication service cannot retrieve authentication info ("*")") ;;
*) fail "no daemon: $out" ;;
esac

"$LATCHKEYD_BIN" -c "$conf" --foreground 2>"$tmp/latchkeyd.log" &
daemon=$!

# Readiness: up to 30 s (a slow start under valgrind) until a login is
# answered by the daemon rather than "cannot retrieve" (9); a wait, not a
# timing assertion. The answered login is the wrong-key case.
start=$(native date +%s)
while :; do
	native kill -0 "$daemon" 2>/dev/null || { daemon=; fail "latchkeyd exited at start"; }
	try wrong "$bad"
	case $out in
	*"(9)") ;;
	*) break ;;
	esac
	[ $(($(native date +%s) - start)) -lt 30 ] || fail "latchkeyd did not answer within 30 s"
	native sleep 0.1
done
[ "$status" -ne 0 ] || fail "wrong key: exit 0 ($out)"
case $out in
"web alice: Authentication failure ("*")") ;;
*) fail "wrong key: $out" ;;
esac

try valid "$key"
[ "$status" -eq 0 ] || fail "valid key: exit $status ($out; $(native cat "$tmp/valid.err"))"
[ "$out" = "web alice: Success (0)" ] || fail "valid key: $out"
native grep -qx 'prompt: API key: ' "$tmp/valid.err" || fail "no prompt on stderr"

kill "$daemon" && wait "$daemon" || { daemon=; fail "latchkeyd did not stop cleanly"; }
daemon=
echo "pam-login: no daemon, wrong key and valid key through $LK_PAM_MODULE"
key=
bad=
cleanup
exit 0
