#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# pamtester(1) as the PAM client: "pamtester SERVICE alice authenticate
# acct_mgmt" through /etc/pam.d/SERVICE, pam_latchkey.so and latchkeyd, the
# key typed on its standard input (libpam_misc's conversation reads a pipe
# when stdin is not a terminal). The issued key -> exit 0; a mistyped key,
# another user, a revoked key -> failure; latchkeyd stopped ->
# PAM_AUTHINFO_UNAVAIL. The audit chain verifies and holds exactly these
# decisions, and no log holds a key.
#
# Needs root (see tests/e2e-lib.sh) and pamtester; skips (77) without them.
set -eu
: "${LK_SRCDIR:?run through make check}"
. "$LK_SRCDIR/tests/e2e-lib.sh"

e2e_require pamtester
command -v pamtester >/dev/null 2>&1 || e2e_skip "pamtester is not installed"

# try WHAT USER KEY: authentication then account management in one PAM
# handle; sets $status and $out, pamtester's output after the module's
# prompt (no newline after it: stdin is a pipe), lines joined by "; ".
try() {
	status=0
	printf '%s\n' "$3" | e2e_client pamtester "$e2e_service" "$2" authenticate acct_mgmt \
		>"$e2e_tmp/pamtester.out" 2>&1 || status=$?
	native cat "$e2e_tmp/pamtester.out" >>"$e2e_tmp/pamtester.log"
	# shellcheck disable=SC2016 # sed's $ (last line), not the shell's
	out=$(native sed -n 'H; ${x; s/^\n//; s/\n/; /g; p; }' "$e2e_tmp/pamtester.out")
	case $out in
	"API key: "*) out=${out#"API key: "} ;;
	*) e2e_fail "$1: no 'API key: ' prompt before '$out'" ;;
	esac
}

# accept WHAT USER KEY / deny WHAT USER KEY OUTPUT
accept() {
	try "$@"
	[ "$status" -eq 0 ] || e2e_fail "$1: pamtester exit $status ($out)"
	[ "$out" = "pamtester: successfully authenticated; pamtester: account management done." ] ||
		e2e_fail "$1: '$out'"
	e2e_ok "$1: $out"
}
deny() {
	try "$1" "$2" "$3"
	[ "$status" -ne 0 ] || e2e_fail "$1: pamtester exit 0 ($out)"
	[ "$out" = "$4" ] || e2e_fail "$1: '$out', expected '$4'"
	e2e_ok "$1: exit $status ($out)"
}

e2e_setup 0
e2e_start_daemon
key=$(e2e_issue alice) || e2e_fail "latchkey key issue"
case $key in
*A) bad=${key%?}B ;;
*) bad=${key%?}A ;;
esac

accept "issued key" alice "$key"
deny "mistyped key" alice "$bad" "pamtester: Authentication failure"
deny "not the key's owner" bob "$key" "pamtester: Authentication failure"
"$LATCHKEY_BIN" -c "$e2e_conf" key revoke "$(e2e_kid "$key")" --reason test >/dev/null ||
	e2e_fail "latchkey key revoke"
deny "revoked key" alice "$key" "pamtester: Authentication failure"

key2=$(e2e_issue alice) || e2e_fail "latchkey key issue"
accept "second key" alice "$key2"
e2e_check_audit ok=2 malformed=1 user-mismatch=1 revoked=1
e2e_stop_daemon
deny "latchkeyd stopped" alice "$key2" \
	"pamtester: Authentication service cannot retrieve authentication info"
e2e_check_no_secret "$key" "$key2"
e2e_exit 0
