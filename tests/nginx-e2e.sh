#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A real nginx with Debian's libnginx-mod-http-auth-pam on loopback, its
# worker (www-data) authenticating HTTP basic auth through pam_latchkey.so
# and latchkeyd: user = the key's owner, password = the API key. The issued
# key -> 200; no credentials, a mistyped key, another user, a client outside
# the key's CIDR allow list, a revoked key -> 401; latchkeyd stopped -> 401
# or 500, never 200. Then the audit chain verifies and holds exactly these
# decisions, and no log holds a key.
#
# Needs root (see tests/e2e-lib.sh), nginx, the auth_pam module, curl and a
# www-data user; skips (77) without them. Keys reach curl on stdin (-K -),
# never in an argv.
set -eu
: "${LK_SRCDIR:?run through make check}"
. "$LK_SRCDIR/tests/e2e-lib.sh"

e2e_require nginx
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || e2e_skip "nginx is not installed"
module=/usr/lib/nginx/modules/ngx_http_auth_pam_module.so
[ -f "$module" ] || e2e_skip "libnginx-mod-http-auth-pam is not installed ($module)"
command -v curl >/dev/null 2>&1 || e2e_skip "curl is not installed"
web_uid=$(native id -u www-data 2>/dev/null) || e2e_skip "no www-data user"
# The worker loads the module from the build tree.
if command -v setpriv >/dev/null 2>&1 &&
	! native setpriv --reuid="$web_uid" --regid="$web_uid" --clear-groups \
		test -r "$LK_PAM_MODULE"; then
	e2e_skip "www-data cannot read $LK_PAM_MODULE (the build tree is not world-readable)"
fi

nginx_pid=
e2e_stop_extra() {
	[ -n "$nginx_pid" ] || return 0
	e2e_reap "$nginx_pid" TERM
	nginx_pid=
}

e2e_setup "$web_uid"
e2e_start_daemon
native mkdir "$e2e_tmp/nginx" "$e2e_tmp/nginx/www" "$e2e_tmp/nginx/www/mfa"
printf 'granted\n' >"$e2e_tmp/nginx/www/index.html"
printf 'granted\n' >"$e2e_tmp/nginx/www/mfa/index.html"
native chmod 0755 "$e2e_tmp/nginx" "$e2e_tmp/nginx/www" "$e2e_tmp/nginx/www/mfa"
native chmod 0644 "$e2e_tmp/nginx/www/index.html" "$e2e_tmp/nginx/www/mfa/index.html"
token=latchkey-e2e-$$-ready

# write_conf PORT. "return" runs in the rewrite phase, before auth_pam's
# access phase, so the protected location serves a file instead.
write_conf() {
	n=$e2e_tmp/nginx
	native cat >"$n/nginx.conf" <<EOF
load_module $module;
user www-data;
worker_processes 1;
pid $n/nginx.pid;
error_log $e2e_tmp/nginx-error.log info;
events { worker_connections 64; }
http {
	access_log $e2e_tmp/nginx-access.log;
	client_body_temp_path $n/client_body;
	proxy_temp_path $n/proxy;
	fastcgi_temp_path $n/fastcgi;
	uwsgi_temp_path $n/uwsgi;
	scgi_temp_path $n/scgi;
	server {
		listen 127.0.0.1:$1;
		root $n/www;
		location = /ready { return 200 "$token\n"; }
		location / {
			auth_pam "latchkey e2e";
			auth_pam_service_name "$e2e_service";
		}
		location /mfa/ {
			auth_pam "latchkey e2e mfa";
			auth_pam_service_name "$e2e_service-mfa";
		}
	}
}
EOF
}

# Up to 5 random ports (one may be taken); each waits up to 30 s for this
# nginx's own token on /ready. A readiness wait, not a timing assertion.
start_nginx() {
	for _ in 1 2 3 4 5; do
		port=$((20000 + $(native od -An -N2 -tu2 /dev/urandom) % 40000))
		write_conf "$port"
		: >"$e2e_tmp/nginx-error.log"
		if [ -n "$e2e_preload" ]; then
			set -- env LD_PRELOAD="$e2e_preload" ASAN_OPTIONS=detect_leaks=0 "$nginx"
		else
			set -- "$nginx"
		fi
		# Not through native(): $! must be nginx itself (sh execs it).
		sh -c 'exec "$@"' sh "$@" -p "$e2e_tmp/nginx" -c "$e2e_tmp/nginx/nginx.conf" \
			-e "$e2e_tmp/nginx-error.log" -g 'daemon off;' 2>>"$e2e_tmp/nginx-stderr.log" &
		nginx_pid=$!
		i=0
		while [ "$i" -lt 300 ]; do
			got=$(native curl -s --max-time 5 "http://127.0.0.1:$port/ready") || got=
			[ "$got" != "$token" ] || return 0
			e2e_alive "$nginx_pid" || break
			native sleep 0.1
			i=$((i + 1))
		done
		e2e_reap "$nginx_pid" TERM
		nginx_pid=
		native grep -q 'Address already in use' "$e2e_tmp/nginx-error.log" ||
			e2e_fail "nginx did not start (status $e2e_status)"
	done
	e2e_fail "no free port in 5 tries"
}

# status USER PASSWORD [PATH]: the HTTP status of GET PATH (/index.html);
# the credentials go to curl on stdin as a config file (-K -). 000 if curl
# failed. Not GET /: the index module's internal redirect runs the access
# phase, and so PAM, a second time.
status() {
	printf 'user = "%s:%s"\n' "$1" "$2" |
		native curl -s -o /dev/null -w '%{http_code}' --max-time 60 -K - \
			"http://127.0.0.1:$port${3:-/index.html}" || true
}

# expect_http WHAT WANT USER PASSWORD [PATH]
expect_http() {
	got=$(status "$3" "$4" "${5:-}")
	[ "$got" = "$2" ] || e2e_fail "$1: HTTP $got, expected $2"
	e2e_ok "$1: HTTP $got"
}

start_nginx
key=$(e2e_issue alice) || e2e_fail "latchkey key issue"
# The same shape with one character changed: the CRC no longer matches.
case $key in
*A) bad=${key%?}B ;;
*) bad=${key%?}A ;;
esac

got=$(native curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
	"http://127.0.0.1:$port/index.html") || true
[ "$got" = 401 ] || e2e_fail "no credentials: HTTP $got, expected 401"
e2e_ok "no credentials: HTTP 401"
expect_http "issued key" 200 alice "$key"
expect_http "mistyped key" 401 alice "$bad"
expect_http "not the key's owner" 401 bob "$key"
expect_http "not a key" 401 alice "password"

# nginx passes the client address as PAM_RHOST: checked against the key's
# allow list.
far=$(e2e_issue alice --allow-cidr 192.0.2.0/24) || e2e_fail "latchkey key issue"
expect_http "key for 192.0.2.0/24 from 127.0.0.1" 401 alice "$far"
near=$(e2e_issue alice --allow-cidr 127.0.0.0/8) || e2e_fail "latchkey key issue"
expect_http "key for 127.0.0.0/8" 200 alice "$near"

kid=$(e2e_kid "$key")
"$LATCHKEY_BIN" -c "$e2e_conf" key revoke "$kid" --reason test >/dev/null ||
	e2e_fail "latchkey key revoke $kid"
expect_http "revoked key" 401 alice "$key"

key2=$(e2e_issue alice) || e2e_fail "latchkey key issue"
expect_http "second key" 200 alice "$key2"
# TOTP after the key: auth_pam answers every prompt with the one password,
# so the module runs with single_prompt and takes "KEY CODE" as one answer.
if [ -f "${LK_TOTP_PLUGIN_DIR:-}/totp.so" ] && command -v oathtool >/dev/null 2>&1; then
	e2e_add_service "$e2e_service-mfa" single_prompt
	e2e_totp_enroll alice
	mfa=/mfa/index.html
	expect_http "key without the code (mfa)" 401 alice "$key2" "$mfa"
	# The next step's code (within the window; confirming used this one).
	code=$(e2e_totp_code "$(date -u -d '+30 seconds' '+%Y-%m-%d %H:%M:%S UTC')")
	expect_http "key and code in one password (mfa)" 200 alice "$key2 $code" "$mfa"
	expect_http "the same code again (mfa)" 401 alice "$key2 $code" "$mfa"
	case $code in
	9*) wrong=0${code#?} ;;
	*) wrong=9${code#?} ;;
	esac
	expect_http "a wrong code (mfa)" 401 alice "$key2 $wrong" "$mfa"
else
	echo "note: no totp plugin or oathtool: the mfa cases are not run"
fi

e2e_check_audit ok=3 malformed=2 user-mismatch=1 source-not-allowed=1 revoked=1
e2e_stop_daemon
got=$(status alice "$key2")
case $got in
401 | 500) e2e_ok "latchkeyd stopped: HTTP $got" ;;
*) e2e_fail "latchkeyd stopped: HTTP $got, expected 401 or 500" ;;
esac
e2e_stop_extra
e2e_check_no_secret "$key" "$key2" "$far" "$near"
e2e_exit 0
