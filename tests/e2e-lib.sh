# SPDX-License-Identifier: Apache-2.0
# Sourced (not run) by the end-to-end tests that drive pam_latchkey.so from a
# real PAM client, tests/nginx-e2e.sh and tests/pamtester-e2e.sh: a state dir
# made with the built CLI, a policy for one PAM service, latchkeyd on it, and
# /etc/pam.d/SERVICE. Such clients call plain pam_start(), which reads only
# libpam's fixed directory: so these tests need root and skip (77) without it.
#
# Tools run through "native" (sh -c): make check-valgrind skips */sh, so only
# latchkey and latchkeyd run under valgrind, not nginx, curl or coreutils.
#
# dash leaks an EXIT trap's string at exit under valgrind: every planned exit
# goes through e2e_exit, which clears the trap first. The trap is the safety
# net for an unplanned one (set -e) and for signals: whatever happens, the
# servers are stopped and the PAM service file and temp dir removed.

: "${LATCHKEY_BIN:?run through make check}" "${LATCHKEYD_BIN:?run through make check}"
: "${LK_PAM_MODULE:?run through make check}" "${LK_APIKEY_PLUGIN_DIR:?run through make check}"

native() { sh -c 'exec "$@"' sh "$@"; }

e2e_tmp=
e2e_pamd=
e2e_pamd2=
e2e_daemon=
e2e_service=latchkey-e2e-$$

# Each test redefines this to stop its own server.
e2e_stop_extra() { :; }

# e2e_alive PID: true while PID runs (an exited child stays a zombie until
# "wait", so /proc is asked, not kill -0).
e2e_alive() {
	[ -r "/proc/$1/status" ] && ! native grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# e2e_reap PID SIGNAL: sends SIGNAL (unless "none"), waits up to 30 s, then
# SIGKILL. Sets e2e_status to PID's exit status (128 + signal if killed).
e2e_reap() {
	[ "$2" = none ] || kill "-$2" "$1" 2>/dev/null || true
	i=0
	while e2e_alive "$1" && [ "$i" -lt 300 ]; do
		native sleep 0.1
		i=$((i + 1))
	done
	e2e_alive "$1" && kill -KILL "$1" 2>/dev/null
	e2e_status=0
	wait "$1" || e2e_status=$?
}

e2e_cleanup() {
	e2e_stop_extra
	if [ -n "$e2e_daemon" ]; then
		e2e_reap "$e2e_daemon" TERM
		e2e_daemon=
	fi
	[ -z "$e2e_pamd" ] || native rm -f "$e2e_pamd"
	[ -z "$e2e_pamd2" ] || native rm -f "$e2e_pamd2"
	e2e_pamd=
	e2e_pamd2=
	[ -z "$e2e_tmp" ] || native rm -rf "$e2e_tmp"
	e2e_tmp=
}

e2e_exit() {
	trap - EXIT INT TERM HUP PIPE
	e2e_cleanup
	exit "$1"
}
trap e2e_cleanup EXIT
trap 'e2e_exit 1' INT TERM HUP PIPE

e2e_skip() {
	echo "SKIP: $*"
	e2e_exit 77
}

e2e_fail() {
	echo "FAIL: $*" >&2
	for log in "$e2e_tmp"/*.log; do
		[ -s "$log" ] || continue
		echo "--- $log" >&2
		native tail -n 40 "$log" >&2
	done
	e2e_exit 1
}

e2e_ok() { echo "ok: $*"; }

# e2e_require CLIENT: skips unless root and /proc can be read.
e2e_require() {
	[ "$(native id -u)" -eq 0 ] ||
		e2e_skip "not root: $1 reads /etc/pam.d/SERVICE (libpam's fixed directory)"
	[ -r /proc/net/unix ] || e2e_skip "/proc is not mounted"
	[ -d /etc/pam.d ] || e2e_skip "no /etc/pam.d"
}

# A sanitizer build of pam_latchkey.so loads only into a program that has the
# sanitizer runtimes loaded first; third-party clients get them preloaded.
e2e_preload=$(native ldd "$LK_PAM_MODULE" 2>/dev/null |
	native sed -n 's/^[[:space:]]*lib[a-z]*san\.so[^ ]* => \([^ ]*\).*/\1/p' | native tr '\n' ' ')
e2e_preload=${e2e_preload% }
# e2e_client CMD...: runs a third-party PAM client, natively.
e2e_client() {
	if [ -n "$e2e_preload" ]; then
		native env LD_PRELOAD="$e2e_preload" ASAN_OPTIONS=detect_leaks=0 "$@"
	else
		native "$@"
	fi
}

# e2e_setup PEER_UID: the state dir; the policy for $e2e_service (environment
# prod, apikey required, scope web:read); an auth_peer line for PEER_UID
# unless it is root; /etc/pam.d/$e2e_service with pam_latchkey.so config=
# for auth and account.
e2e_setup() {
	e2e_tmp=$(native mktemp -d "${TMPDIR:-/tmp}/latchkey-e2e-XXXXXX") ||
		e2e_fail "mktemp failed"
	e2e_state=$e2e_tmp/state
	e2e_conf=$e2e_state/latchkey.conf
	e2e_sock=$e2e_state/run/auth.sock
	case $e2e_conf in
	*[[:space:]]*) e2e_skip "temp dir $e2e_tmp has white space (PAM module arguments cannot)" ;;
	esac
	# The plugin directory holds copies of the build's apikey and (when
	# built) totp plugins: the loader takes regular files from one place.
	e2e_plugins=$e2e_tmp/plugins
	native mkdir -m 0755 "$e2e_plugins" || e2e_fail "mkdir $e2e_plugins"
	native cp "$LK_APIKEY_PLUGIN_DIR/apikey.so" "$e2e_plugins/" || e2e_fail "copying apikey.so"
	if [ -n "${LK_TOTP_PLUGIN_DIR:-}" ] && [ -f "$LK_TOTP_PLUGIN_DIR/totp.so" ]; then
		native cp "$LK_TOTP_PLUGIN_DIR/totp.so" "$e2e_plugins/" || e2e_fail "copying totp.so"
	fi
	"$LATCHKEY_BIN" init --state-dir "$e2e_state" --plugin-dir "$e2e_plugins" \
		>/dev/null || e2e_fail "latchkey init"
	printf '%s%s%s\n' \
		"<policy xmlns=\"urn:latchkey:policy:1\" service=\"$e2e_service\" environment=\"prod\">" \
		'<stack><step plugin="apikey" control="required"/></stack>' \
		'<scopes><scope>web:read</scope></scopes></policy>' \
		>"$e2e_state/policies/$e2e_service.xml" || e2e_fail "writing the policy"
	# The same service with TOTP after the key (tests that use it add its
	# /etc/pam.d file with e2e_add_service).
	printf '%s%s%s%s\n' \
		"<policy xmlns=\"urn:latchkey:policy:1\" service=\"$e2e_service-mfa\" environment=\"prod\">" \
		'<stack><step plugin="apikey" control="required"/>' \
		'<step plugin="totp" control="required"/></stack>' \
		'<scopes><scope>web:read</scope></scopes></policy>' \
		>"$e2e_state/policies/$e2e_service-mfa.xml" || e2e_fail "writing the mfa policy"
	native chmod 0644 "$e2e_state/policies/$e2e_service-mfa.xml" || e2e_fail "chmod"
	[ "$1" -eq 0 ] ||
		printf 'auth_peer = %s %s,%s-mfa\n' "$1" "$e2e_service" "$e2e_service" >>"$e2e_conf" ||
		e2e_fail "adding auth_peer"
	# The client reads the config (for auth_socket) and reaches the socket
	# as its own uid: search permission on the way, nothing writable (the
	# daemon refuses a socket dir group or others can write).
	native chmod 0711 "$e2e_tmp" "$e2e_state" || e2e_fail "chmod $e2e_state"
	native chmod 0755 "$e2e_state/run" || e2e_fail "chmod run"
	native chmod 0644 "$e2e_conf" "$e2e_state/policies/$e2e_service.xml" ||
		e2e_fail "chmod the config"
	# noclobber: never overwrite a service file this test did not write.
	(
		set -C
		printf 'auth required %s config=%s\naccount required %s config=%s\n' \
			"$LK_PAM_MODULE" "$e2e_conf" "$LK_PAM_MODULE" "$e2e_conf" \
			>"/etc/pam.d/$e2e_service"
	) || e2e_fail "cannot create /etc/pam.d/$e2e_service"
	e2e_pamd=/etc/pam.d/$e2e_service
}

# e2e_add_service NAME ARGS: /etc/pam.d/NAME (a second service, removed at
# exit like the first), auth and account through the module with ARGS.
e2e_add_service() {
	(
		set -C
		printf 'auth required %s config=%s %s\naccount required %s config=%s\n' \
			"$LK_PAM_MODULE" "$e2e_conf" "$2" "$LK_PAM_MODULE" "$e2e_conf" \
			>"/etc/pam.d/$1"
	) || e2e_fail "cannot create /etc/pam.d/$1"
	e2e_pamd2=/etc/pam.d/$1
}

# e2e_totp_enroll USER: enrolls USER through the daemon and confirms it with
# oathtool's current code; the secret goes to $e2e_tmp/totp-secret (0600),
# never on a command line of ours.
e2e_totp_enroll() {
	"$LATCHKEY_BIN" -c "$e2e_conf" totp enroll "$1" >"$e2e_tmp/enroll.out" 2>/dev/null ||
		e2e_fail "latchkey totp enroll $1"
	(
		umask 077
		native sed -n '1s/.*secret=\([A-Z2-7]*\).*/\1/p' "$e2e_tmp/enroll.out" \
			>"$e2e_tmp/totp-secret"
	)
	native rm -f "$e2e_tmp/enroll.out"
	e2e_totp_code now | "$LATCHKEY_BIN" -c "$e2e_conf" totp confirm "$1" >/dev/null 2>&1 ||
		e2e_fail "latchkey totp confirm $1"
}

# e2e_totp_code WHEN: the code oathtool computes for the enrolled secret at
# WHEN (oathtool's --now syntax: "now", or a date); the secret on stdin.
e2e_totp_code() {
	native oathtool --totp -b --now "$1" - <"$e2e_tmp/totp-secret"
}

# e2e_issue OWNER [ARG...]: prints a new prod key with scope web:read (more
# key issue arguments may follow).
e2e_issue() {
	o=$1
	shift
	"$LATCHKEY_BIN" -c "$e2e_conf" key issue --owner "$o" --env prod --scope web:read \
		--expires 30d "$@" 2>/dev/null
}

# e2e_kid KEY: the kid, the key's third field (lk_<env>_<kid>_<secret>).
e2e_kid() {
	k=${1#lk_*_}
	printf '%s\n' "${k%%_*}"
}

# Starts latchkeyd and waits up to 30 s (valgrind on a busy 2-core box) until
# its socket listens: /proc/net/unix shows it with __SO_ACCEPTCON (00010000).
# A readiness wait, not a timing assertion.
e2e_start_daemon() {
	"$LATCHKEYD_BIN" -c "$e2e_conf" --foreground 2>>"$e2e_tmp/latchkeyd.log" &
	e2e_daemon=$!
	i=0
	# shellcheck disable=SC2016 # awk's fields
	until native awk -v p="$e2e_sock" '$4 == "00010000" && $8 == p { f = 1 } END { exit !f }' \
		/proc/net/unix; do
		if ! e2e_alive "$e2e_daemon"; then
			e2e_reap "$e2e_daemon" none
			e2e_daemon=
			e2e_fail "latchkeyd exited early (status $e2e_status)"
		fi
		[ "$i" -lt 300 ] || e2e_fail "latchkeyd did not listen on $e2e_sock within 30 s"
		native sleep 0.1
		i=$((i + 1))
	done
}

# SIGTERM; fails unless latchkeyd exits 0 (under valgrind: and clean).
e2e_stop_daemon() {
	d=$e2e_daemon
	e2e_daemon=
	e2e_reap "$d" TERM
	[ "$e2e_status" -eq 0 ] || e2e_fail "latchkeyd exited with status $e2e_status"
	[ ! -e "$e2e_sock" ] || e2e_fail "latchkeyd left $e2e_sock behind"
}

# e2e_check_audit REASON=COUNT...: the audit chain verifies, and the
# auth.decision rows for $e2e_service are exactly these (one a request).
# Through latchkeyd's admin socket: call it while the daemon runs.
e2e_check_audit() {
	"$LATCHKEY_BIN" -c "$e2e_conf" audit verify >"$e2e_tmp/audit-verify.log" 2>&1 ||
		e2e_fail "latchkey audit verify"
	"$LATCHKEY_BIN" -c "$e2e_conf" --json audit log --type auth.decision \
		>"$e2e_tmp/audit.json" 2>"$e2e_tmp/audit-log.log" || e2e_fail "latchkey audit log"
	# One row a line; the detail starts with "service=NAME ".
	native sed 's/},{/}\n{/g' "$e2e_tmp/audit.json" |
		native grep -F "\"detail\":\"service=$e2e_service " >"$e2e_tmp/decisions.txt" || true
	total=0
	for rc in "$@"; do
		n=$(native grep -c -F "\"action\":\"auth.decision\",\"reason\":\"${rc%=*}\"" \
			"$e2e_tmp/decisions.txt") || n=0
		[ "$n" -eq "${rc#*=}" ] ||
			e2e_fail "audit: $n auth.decision rows with reason ${rc%=*}, expected ${rc#*=}"
		total=$((total + n))
	done
	n=$(native wc -l <"$e2e_tmp/decisions.txt")
	[ "$n" -eq "$total" ] || e2e_fail "audit: $n auth.decision rows, expected $total"
	e2e_ok "audit: chain verifies; auth.decision rows for $e2e_service: $*"
}

# e2e_check_no_secret KEY...: no file under the temp dir holds any of the
# keys: the servers' and daemon's logs, the audit output, the database and
# its WAL (the keys go to grep on stdin, never in an argv).
e2e_check_no_secret() {
	if printf '%s\n' "$@" | native grep -r -q -F -D skip -f - "$e2e_tmp"; then
		e2e_fail "a key is written in a file under $e2e_tmp"
	fi
	e2e_ok "no key in any log, audit output or the database"
}
