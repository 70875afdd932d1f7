#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main job: installs what is missing, builds, and walks through Latchkey
# on a self-contained state directory inside the checkout (demo-state/).
# No /etc, no root-owned paths; safe to run again (it starts afresh).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup-deps.sh"
"$top/scripts/build.sh"
build="${BUILD_DIR:-$top/_build}"
lk="$build/cli/latchkey"
state="$top/demo-state"
rm -rf "$state"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
daemon_pid=
stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	kill -TERM "$daemon_pid" 2>/dev/null || true
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
}
trap stop_daemon EXIT
show() { printf '$ %s\n' "$*"; }

step "1. Create a self-contained state directory"
# Plugins load only from the configured directory (regular files, hashed as
# they load): the demo's holds copies of the build's apikey and totp plugins.
plugins="$top/demo-plugins"
rm -rf "$plugins"
mkdir -p "$plugins"
cp "$build/plugins/apikey/.libs/apikey.so" "$build/plugins/totp/.libs/totp.so" \
	"$build/plugins/mtls/.libs/mtls.so" "$plugins/"
show "latchkey init --state-dir demo-state --plugin-dir demo-plugins   # apikey.so, totp.so, mtls.so"
LATCHKEY_CONFIG=$("$lk" init --state-dir "$state" --plugin-dir "$plugins")
export LATCHKEY_CONFIG
echo "$LATCHKEY_CONFIG"
ls -l "$state"
# The organisation's own statements for the GDPR pack's record of processing
# (Art. 30) and the retention period it is tested against.
cat >>"$LATCHKEY_CONFIG" <<'CONF'
controller = Example Ltd, 1 Example Street, Dublin
controller_contact = privacy@example.com
processing_purpose = Authenticating staff and services to internal systems
audit_retention = 400d
CONF
show "cat >> latchkey.conf   # the GDPR record's controller, contact, purpose; audit_retention"
tail -n 4 "$LATCHKEY_CONFIG"

step "1b. Start latchkeyd: it alone holds the master key and writes the audit log"
# Every latchkey verb below runs inside the daemon through its admin socket,
# with the caller's uid as the actor; PAM logins use its auth socket.
show "latchkeyd -c demo-state/latchkey.conf --foreground 2>demo-state/latchkeyd.log &"
"$build/daemon/latchkeyd" -c "$LATCHKEY_CONFIG" --foreground 2>"$state/latchkeyd.log" &
daemon_pid=$!
i=0
until [ -S "$state/run/admin.sock" ] && [ -S "$state/run/auth.sock" ]; do
	i=$((i + 1))
	[ "$i" -le 300 ] || { cat "$state/latchkeyd.log"; exit 1; }
	sleep 0.1
done
ls -l "$state/run"

step "2. Issue a least-privilege prod key (the key alone goes to stdout, shown once)"
show "KEY=\$(latchkey key issue --owner alice@example.com --env prod --scope billing:read --expires 30d --allow-cidr 10.0.0.0/8 --description 'billing exporter')"
KEY=$("$lk" key issue --owner alice@example.com --env prod --scope billing:read \
	--expires 30d --allow-cidr 10.0.0.0/8 --description "billing exporter")
KID=$(printf '%s' "$KEY" | cut -d_ -f3)
# Only the public kid is shown here: the secret part is masked as any log should.
echo "key: lk_prod_${KID}_**************************************************"

step "3. Verify it (the key is read from stdin, never argv)"
show 'printf "%s\n" "$KEY" | latchkey key verify --env prod --scope billing:read --source 10.1.2.3'
printf '%s\n' "$KEY" | "$lk" key verify --env prod --scope billing:read --source 10.1.2.3 || true
show "... --env dev                 (a prod key never works in dev)"
printf '%s\n' "$KEY" | "$lk" key verify --env dev || true
show "... --scope billing:write     (least privilege)"
printf '%s\n' "$KEY" | "$lk" key verify --env prod --scope billing:write --source 10.1.2.3 || true
show "... --source 192.0.2.7        (outside the key's CIDR allow list)"
printf '%s\n' "$KEY" | "$lk" key verify --env prod --source 192.0.2.7 || true
show "... a typo in the key         (rejected by the CRC before any lookup)"
printf '%s\n' "$KEY" | sed 's/.$/x/' | "$lk" key verify --env prod || true

step "4. Rotate with a grace period: old and new both work until the grace ends"
show "NEW=\$(latchkey key rotate $KID)"
NEW=$("$lk" key rotate "$KID" 2>/dev/null)
NEWKID=$(printf '%s' "$NEW" | cut -d_ -f3)
printf 'old key: '; printf '%s\n' "$KEY" | "$lk" key verify --env prod --source 10.1.2.3 || true
printf 'new key: '; printf '%s\n' "$NEW" | "$lk" key verify --env prod --source 10.1.2.3 || true
show "latchkey key list"
"$lk" key list

step "5. Revoke: effective on the very next verification"
show "latchkey key revoke $NEWKID --reason 'laptop stolen (INC-1042)'"
"$lk" key revoke "$NEWKID" --reason "laptop stolen (INC-1042)"
printf 'new key: '; printf '%s\n' "$NEW" | "$lk" key verify --env prod --source 10.1.2.3 || true
# --left: when alice left; the evidence packs test the revocation against
# offboarding_sla (24h by default).
left=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
show "latchkey key revoke-all --owner alice@example.com --left $left --reason 'offboarded'"
"$lk" key revoke-all --owner alice@example.com --left "$left" --reason "offboarded"
printf 'old key: '; printf '%s\n' "$KEY" | "$lk" key verify --env prod --source 10.1.2.3 || true

step "6. The audit trail: every issue, use and revocation, people as pseudonyms, no secrets"
show "latchkey audit log"
"$lk" audit log
show "latchkey --json audit log --key $KID --type key.verify --limit 2"
"$lk" --json audit log --key "$KID" --type key.verify --limit 2

step "7. Verify the hash chain"
show "latchkey audit verify"
"$lk" audit verify

step "8. Tamper with a copy of the database, and the chain says where"
cp -r "$state" "$state.tampered"
sqlite3 "$state.tampered/latchkey.db" "DROP TRIGGER audit_no_update;
  UPDATE audit SET reason = 'ok' WHERE seq = 5;"
show "sqlite3 latchkey.db \"UPDATE audit SET reason = 'ok' WHERE seq = 5\"   # on a copy"
show "latchkey -c demo-state.tampered/latchkey.conf --offline audit verify   # no daemon on the copy"
"$lk" -c "$state.tampered/latchkey.conf" --offline audit verify || echo "(exit status $?)"
rm -rf "$state.tampered"

step "9. Policies: one file per PAM service, validated before use"
cp "$top/policies/nginx.xml" "$state/policies/nginx.xml"
# A second service in another environment, from the same example.
sed -e 's/service="nginx" environment="prod"/service="staging" environment="test"/' \
	"$top/policies/nginx.xml" >"$state/policies/staging.xml"
show "latchkey policy check demo-state/policies/*.xml"
"$lk" policy check "$state/policies/nginx.xml" "$state/policies/staging.xml"
show "latchkey policy check broken.xml     (a typo in a control flag)"
sed -e 's/control="required"/control="requierd"/' "$state/policies/nginx.xml" >"$state/broken.xml"
"$lk" policy check "$state/broken.xml" || echo "(exit status $?)"
rm -f "$state/broken.xml"

show "kill -HUP \$(pidof latchkeyd)     # policies are loaded at start and on SIGHUP"
kill -HUP "$daemon_pid"
i=0
until "$lk" audit log --type policy.load | grep -q 'service=staging'; do
	i=$((i + 1)); [ "$i" -le 100 ] || break; sleep 0.1
done
show "latchkey audit log --type policy.load"
"$lk" audit log --type policy.load

step "10. The engine: one prod key, accepted by the prod service, refused by the test one"
WEB=$("$lk" key issue --owner svc-web --env prod --scope web:read --expires 30d 2>/dev/null)
show 'printf "%s\n" "$WEB" | latchkey auth nginx --user svc-web --rhost 192.0.2.10'
printf '%s\n' "$WEB" | "$lk" auth nginx --user svc-web --rhost 192.0.2.10 || true
show 'printf "%s\n" "$WEB" | latchkey auth staging --user svc-web'
printf '%s\n' "$WEB" | "$lk" auth staging --user svc-web || true
show 'printf "%s\n" "$WEB" | latchkey auth nginx --user alice@example.com   (not its owner)'
printf '%s\n' "$WEB" | "$lk" auth nginx --user alice@example.com || true

step "11. Require a second factor for admin scopes, with a change ticket"
show "latchkey policy mfa enable nginx --plugin totp --scope web:admin --ticket CHG-2041"
"$lk" policy mfa enable nginx --plugin totp --scope web:admin --ticket CHG-2041
show "latchkey policy show nginx"
"$lk" policy show nginx
show "latchkey audit log --type policy.change"
"$lk" audit log --type policy.change
show "latchkey audit log --type auth.decision"
"$lk" audit log --type auth.decision
"$lk" audit verify

step "12. Real logins through the PAM stack: pam_latchkey.so -> latchkeyd"
# A pam.d directory of our own (libpam's pam_start_confdir), so nothing in
# /etc changes; tests/pam-login is a PAM application that answers the
# prompts from stdin, as sshd or nginx would from their users.
mkdir -p "$state/pam.d"
mod="$build/pam/.libs/pam_latchkey.so"
sock="$state/run/auth.sock"
cat >"$state/pam.d/web" <<EOF_PAM
auth     required  $mod socket=$sock
account  required  $mod socket=$sock
session  required  $mod socket=$sock
EOF_PAM
sed -e 's/service="nginx"/service="web"/' "$top/policies/nginx.xml" >"$state/policies/web.xml"
# Root may speak for every service; another uid needs an auth_peer line.
[ "$(id -u)" -eq 0 ] || printf 'auth_peer = %s web\n' "$(id -u)" >>"$LATCHKEY_CONFIG"
if [ "$(id -u)" -ne 0 ]; then
	stop_daemon
	"$build/daemon/latchkeyd" -c "$LATCHKEY_CONFIG" --foreground 2>>"$state/latchkeyd.log" &
	daemon_pid=$!
	sleep 1
else
	kill -HUP "$daemon_pid"
	sleep 0.5
fi
show "cat demo-state/pam.d/web"
sed -e "s|$build|_build|g" -e "s|$state|demo-state|g" "$state/pam.d/web"
BOB=$("$lk" key issue --owner bob --env prod --scope web:read --expires 30d 2>/dev/null)
BOBKID=$(printf '%s' "$BOB" | cut -d_ -f3)
login() { "$build/tests/pam-login" --confdir "$state/pam.d" --rhost 192.0.2.10 --session web "$1" 2>/dev/null || true; }
show 'printf "%s\n" "$BOB" | pam-login --confdir demo-state/pam.d --session web bob  # valid key'
printf '%s\n' "$BOB" | login bob
show 'printf "%s\n" "$BOB" | pam-login ... web alice                               # not her key'
printf '%s\n' "$BOB" | login alice
show 'printf "%s\n" "${BOB%?}x" | pam-login ... web bob                            # wrong key'
printf '%s\n' "$BOB" | sed 's/.$/x/' | login bob
show "latchkey key revoke $BOBKID --reason 'rotating out (INC-1043)'"
"$lk" key revoke "$BOBKID" --reason "rotating out (INC-1043)"
show 'printf "%s\n" "$BOB" | pam-login ... web bob                                 # revoked'
printf '%s\n' "$BOB" | login bob

step "13. The audit trail of those logins, and the chain"
show "latchkey audit log --type auth.decision --limit 4"
"$lk" audit log --type auth.decision --limit 4
show "latchkey audit log --type session.open"
"$lk" audit log --type session.open
show "latchkey audit verify"
"$lk" audit verify

step "14. A second factor: TOTP for the web service, a user enrolled, key + code"
show "latchkey policy mfa enable web --plugin totp --ticket CHG-2050     # every request, no scope needed"
"$lk" policy mfa enable web --plugin totp --ticket CHG-2050
CAROL=$("$lk" key issue --owner carol --env prod --scope web:read --expires 30d 2>/dev/null)
show "latchkey totp enroll carol      # the secret and recovery codes masked here"
"$lk" totp enroll carol >"$state/enroll.out"
# The secret and the recovery codes are shown once, to the user; the demo
# keeps them in a 0600 file and masks them on screen.
SECRET=$(sed -n '1s/.*secret=\([A-Z2-7]*\).*/\1/p' "$state/enroll.out")
sed -e 's/secret=[A-Z2-7]*/secret=****************/' \
	-e 's/^  [a-z0-9]\{4\}-[a-z0-9]\{4\}-[a-z0-9]\{4\}-[a-z0-9]\{4\}$/  ****-****-****-****/' \
	"$state/enroll.out"
rm -f "$state/enroll.out"
# The user's authenticator app, played by Debian's oathtool.
code_at() { printf '%s\n' "$SECRET" | oathtool --totp -b --now "$1" -; }   # secret on stdin
show 'printf "%s\n" "$SECRET" | oathtool --totp -b - | latchkey totp confirm carol'
code_at "now" | "$lk" totp confirm carol
show 'printf "%s\n%s\n" "$CAROL" "$CODE" | pam-login ... web carol      # key, then the code'
# The next time step's code (within the window): the confirmed one is used up.
CODE=$(code_at "$(date -u -d '+30 seconds' '+%Y-%m-%d %H:%M:%S UTC')")
printf '%s\n%s\n' "$CAROL" "$CODE" | "$build/tests/pam-login" --confdir "$state/pam.d" \
	--rhost 192.0.2.10 web carol || true
show 'printf "%s\n%s\n" "$CAROL" "$CODE" | pam-login ... web carol      # the same code again'
printf '%s\n%s\n' "$CAROL" "$CODE" | "$build/tests/pam-login" --confdir "$state/pam.d" \
	--rhost 192.0.2.10 web carol || true
show 'printf "%s\n%s\n" "$CAROL" 000000 | pam-login ... web carol        # a wrong code'
printf '%s\n%s\n' "$CAROL" 000000 | "$build/tests/pam-login" --confdir "$state/pam.d" \
	--rhost 192.0.2.10 web carol 2>/dev/null || true
show "latchkey audit log --type auth.decision --limit 3"
"$lk" audit log --type auth.decision --limit 3
show "latchkey totp show carol"
"$lk" totp show carol

step "15. Mutual TLS: a client certificate alone, and an API key bound to one"
# A small PKI, made here with openssl: a CA, dave's client certificate
# (clientAuth, e-mail SAN), and a certificate from a CA nobody trusts.
pki="$state/pki"
mkdir -p "$pki"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" \
	-out "$pki/ca.pem" -subj "/CN=Demo Client CA" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
client_cert() { # name, subject, CA prefix
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$1.key" \
		-out "$pki/$1.csr" -subj "$2"
	ossl x509 -req -in "$pki/$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
		-out "$pki/$1.pem" -days 7 -extfile /dev/stdin <<EOF_EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=email:$1@example.com
EOF_EXT
}
client_cert dave "/CN=dave" "$pki/ca"
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/rogue-ca.key" \
	-out "$pki/rogue-ca.pem" -subj "/CN=Rogue CA" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
client_cert mallory "/CN=dave" "$pki/rogue-ca"
cat >"$state/policies/web-mtls.xml" <<EOF_POL
<?xml version="1.0" encoding="UTF-8"?>
<policy xmlns="urn:latchkey:policy:1" service="web-mtls" environment="prod">
  <stack>
    <step plugin="mtls" control="required">
      <arg>ca=$pki/ca.pem</arg>
      <arg>map=san-email:{}@example.com</arg>
    </step>
  </stack>
</policy>
EOF_POL
sed -e 's/service="nginx"/service="api"/' "$top/policies/nginx.xml" >"$state/policies/api.xml"
cat >"$state/pam.d/web-mtls" <<EOF_PAM
auth     required  $mod socket=$sock no_authtok
account  required  $mod socket=$sock
EOF_PAM
grep -v '^session' "$state/pam.d/web" >"$state/pam.d/api"
if [ "$(id -u)" -ne 0 ]; then
	printf 'auth_peer = %s web,web-mtls,api\n' "$(id -u)" >>"$LATCHKEY_CONFIG"
	stop_daemon
	"$build/daemon/latchkeyd" -c "$LATCHKEY_CONFIG" --foreground 2>>"$state/latchkeyd.log" &
	daemon_pid=$!
	sleep 1
else
	kill -HUP "$daemon_pid"
	sleep 0.5
fi
show "cat demo-state/policies/web-mtls.xml"
sed -e "s|$state|demo-state|g" "$state/policies/web-mtls.xml"
mtls_login() { # certificate file, then pam-login's SERVICE USER
	"$build/tests/pam-login" --confdir "$state/pam.d" --rhost 192.0.2.20 \
		--env-file "LATCHKEY_CLIENT_CERT=$1" "$2" "$3" 2>/dev/null </dev/null || true
}
show "pam-login --env-file LATCHKEY_CLIENT_CERT=dave.pem web-mtls -     # no user given: the certificate says"
mtls_login "$pki/dave.pem" web-mtls -
show "pam-login --env-file LATCHKEY_CLIENT_CERT=mallory.pem web-mtls -  # CN=dave too, from a CA nobody trusts"
mtls_login "$pki/mallory.pem" web-mtls -
show "DAVE=\$(latchkey key issue --owner dave --env prod --scope web:read --expires 7d --cert dave.pem)"
DAVE=$("$lk" key issue --owner dave --env prod --scope web:read --expires 7d --cert "$pki/dave.pem" 2>"$state/issue.err")
grep -e '^kid' -e '^bound cert' "$state/issue.err"
rm -f "$state/issue.err"
show 'printf "%s\n" "$DAVE" | pam-login --env-file LATCHKEY_CLIENT_CERT=dave.pem api dave   # key + its certificate'
printf '%s\n' "$DAVE" | "$build/tests/pam-login" --confdir "$state/pam.d" --rhost 192.0.2.20 \
	--env-file "LATCHKEY_CLIENT_CERT=$pki/dave.pem" api dave 2>/dev/null || true
show 'printf "%s\n" "$DAVE" | pam-login ... api dave                                        # the key alone (stolen?)'
printf '%s\n' "$DAVE" | "$build/tests/pam-login" --confdir "$state/pam.d" --rhost 192.0.2.20 \
	api dave 2>/dev/null || true
show "latchkey audit log --type auth.decision --limit 4"
"$lk" audit log --type auth.decision --limit 4
show "latchkey cert list --expiring 30d        # the inventory: renew these"
"$lk" cert list --expiring 30d

step "16. GDPR and ISO 27001 evidence packs, made by the running daemon"
# latchkey report runs through latchkeyd for the auditor role: it signs a
# checkpoint, writes the pack from a read-only snapshot without stopping
# authentication, and streams the files to the directory the caller made.
today=$(date -u +%Y-%m-%d)
for kind in gdpr iso27001; do
	show "latchkey report $kind --from $today --to $today --out demo-state/$kind"
	"$lk" report "$kind" --from "$today" --to "$today" --out "$state/$kind"
done
show "xmllint --xpath '//*[local-name()=\"field\"]/@name | //*[local-name()=\"field\"]/@stated' demo-state/gdpr/evidence.xml"
xmllint --xpath '//*[local-name()="field"]/@name | //*[local-name()="field"]/@stated' \
	"$state/gdpr/evidence.xml" | paste - - | sed 's/^ *//'
show "xmllint --xpath '//*[@id=\"a5.18-offboarding\"]/*[local-name()=\"row\"]' demo-state/iso27001/evidence.xml"
xmllint --xpath '//*[@id="a5.18-offboarding"]/*[local-name()="row"]' \
	"$state/iso27001/evidence.xml"
echo
show "pam-login --env-file LATCHKEY_CLIENT_CERT=dave.pem web-mtls -     # logins went on meanwhile"
mtls_login "$pki/dave.pem" web-mtls -

step "17. Stop the daemon: it drains, commits and exits; PAM then fails closed"
show "kill -TERM \$(pidof latchkeyd); tail -2 demo-state/latchkeyd.log"
stop_daemon
tail -n 2 "$state/latchkeyd.log"
show 'printf "%s\n" "$BOB" | pam-login ... web bob                                 # daemon down'
printf '%s\n' "$BOB" | login bob
show "latchkey audit verify          (exit 4: every verb goes through the daemon)"
"$lk" audit verify || echo "(exit status $?)"
show "latchkey --offline audit verify   (the database's owner, daemon stopped)"
"$lk" --offline audit verify

step "18. Signed checkpoints: latchkeyd signed one as it stopped; openssl alone checks it"
# An auditor needs the database (or the syslog copy), signing.pub.pem and
# the openssl command; latchkey(1), CHECKPOINTS.
show "latchkey --offline audit log --type audit.checkpoint"
"$lk" --offline audit log --type audit.checkpoint
show "sqlite3 latchkey.db \"SELECT writefile('cp.txt', manifest), writefile('cp.sig', signature) FROM checkpoint ORDER BY number DESC LIMIT 1\""
(cd "$state" && sqlite3 latchkey.db "SELECT writefile('cp.txt', manifest),
	writefile('cp.sig', signature) FROM checkpoint ORDER BY number DESC LIMIT 1" >/dev/null)
show "cat cp.txt"
cat "$state/cp.txt"
show "openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin -in cp.txt -sigfile cp.sig"
openssl pkeyutl -verify -pubin -inkey "$state/signing.pub.pem" -rawin -in "$state/cp.txt" \
	-sigfile "$state/cp.sig"
show "openssl pkey -pubin -in signing.pub.pem -outform DER | sha256sum | cut -c1-16   # the key-id"
openssl pkey -pubin -in "$state/signing.pub.pem" -outform DER | sha256sum | cut -c1-16
rm -f "$state/cp.txt" "$state/cp.sig"
# The tail cut on a copy: the rows left still chain, the checkpoint does not.
cp -r "$state" "$state.tampered"
sqlite3 "$state.tampered/latchkey.db" "DROP TRIGGER audit_no_delete;
  DELETE FROM audit WHERE seq > (SELECT max(audit_seq) - 3 FROM checkpoint);"
show "sqlite3 latchkey.db \"DELETE FROM audit WHERE seq > ...\"   # the last rows cut, on a copy"
show "latchkey -c demo-state.tampered/latchkey.conf --offline audit verify"
"$lk" -c "$state.tampered/latchkey.conf" --offline audit verify || echo "(exit status $?)"
rm -rf "$state.tampered"

step "19. A SOC 2 evidence pack for the demo's activity, signed; openssl checks it"
# As the database's owner with latchkeyd stopped (--offline; through the
# daemon as in step 16 otherwise): a signed checkpoint, evidence.xml checked
# against its XSD, report.html, CSVs, a signed manifest.
pack="$state/evidence"
show "latchkey --offline report soc2 --from $today --to $today --out demo-state/evidence"
"$lk" --offline report soc2 --from "$today" --to "$today" --out "$pack"
ls "$pack"
show "cd demo-state/evidence && sha256sum -c MANIFEST.sha256"
(cd "$pack" && sha256sum -c MANIFEST.sha256)
show "openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin -in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig"
(cd "$pack" && openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \
	-in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig)
printf 'Open the report: %s/report.html\n' "$pack"

unset KEY NEW WEB BOB CAROL CODE SECRET DAVE
printf '\nDemo state left in %s (config: %s).\n' "$state" "$LATCHKEY_CONFIG"
