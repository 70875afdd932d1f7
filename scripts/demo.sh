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
show() { printf '$ %s\n' "$*"; }

step "1. Create a self-contained state directory"
show "latchkey init --state-dir demo-state --plugin-dir _build/plugins/apikey/.libs"
# Plugins load only from the configured directory; the demo uses the build's.
LATCHKEY_CONFIG=$("$lk" init --state-dir "$state" --plugin-dir "$build/plugins/apikey/.libs")
export LATCHKEY_CONFIG
echo "$LATCHKEY_CONFIG"
ls -l "$state"

step "2. Issue a least-privilege prod key (the key alone goes to stdout, shown once)"
show "KEY=\$(latchkey key issue --owner alice@example.com --env prod --scope billing:read --expires 30d --allow-cidr 10.0.0.0/8 --description 'billing exporter')"
KEY=$("$lk" --offline key issue --owner alice@example.com --env prod --scope billing:read \
	--expires 30d --allow-cidr 10.0.0.0/8 --description "billing exporter")
KID=$(printf '%s' "$KEY" | cut -d_ -f3)
# Only the public kid is shown here: the secret part is masked as any log should.
echo "key: lk_prod_${KID}_**************************************************"

step "3. Verify it (the key is read from stdin, never argv)"
show 'printf "%s\n" "$KEY" | latchkey key verify --env prod --scope billing:read --source 10.1.2.3'
printf '%s\n' "$KEY" | "$lk" --offline key verify --env prod --scope billing:read --source 10.1.2.3 || true
show "... --env dev                 (a prod key never works in dev)"
printf '%s\n' "$KEY" | "$lk" --offline key verify --env dev || true
show "... --scope billing:write     (least privilege)"
printf '%s\n' "$KEY" | "$lk" --offline key verify --env prod --scope billing:write --source 10.1.2.3 || true
show "... --source 192.0.2.7        (outside the key's CIDR allow list)"
printf '%s\n' "$KEY" | "$lk" --offline key verify --env prod --source 192.0.2.7 || true
show "... a typo in the key         (rejected by the CRC before any lookup)"
printf '%s\n' "$KEY" | sed 's/.$/x/' | "$lk" --offline key verify --env prod || true

step "4. Rotate with a grace period: old and new both work until the grace ends"
show "NEW=\$(latchkey key rotate $KID)"
NEW=$("$lk" --offline key rotate "$KID" 2>/dev/null)
NEWKID=$(printf '%s' "$NEW" | cut -d_ -f3)
printf 'old key: '; printf '%s\n' "$KEY" | "$lk" --offline key verify --env prod --source 10.1.2.3 || true
printf 'new key: '; printf '%s\n' "$NEW" | "$lk" --offline key verify --env prod --source 10.1.2.3 || true
show "latchkey key list"
"$lk" --offline key list

step "5. Revoke: effective on the very next verification"
show "latchkey key revoke $NEWKID --reason 'laptop stolen (INC-1042)'"
"$lk" --offline key revoke "$NEWKID" --reason "laptop stolen (INC-1042)"
printf 'new key: '; printf '%s\n' "$NEW" | "$lk" --offline key verify --env prod --source 10.1.2.3 || true
show "latchkey key revoke-all --owner alice@example.com --reason 'offboarded'"
"$lk" --offline key revoke-all --owner alice@example.com --reason "offboarded"
printf 'old key: '; printf '%s\n' "$KEY" | "$lk" --offline key verify --env prod --source 10.1.2.3 || true

step "6. The audit trail: every issue, use and revocation, people as pseudonyms, no secrets"
show "latchkey audit log"
"$lk" --offline audit log
show "latchkey --json audit log --key $KID --type key.verify --limit 2"
"$lk" --offline --json audit log --key "$KID" --type key.verify --limit 2

step "7. Verify the hash chain"
show "latchkey audit verify"
"$lk" --offline audit verify

step "8. Tamper with a copy of the database, and the chain says where"
cp -r "$state" "$state.tampered"
sqlite3 "$state.tampered/latchkey.db" "DROP TRIGGER audit_no_update;
  UPDATE audit SET reason = 'ok' WHERE seq = 5;"
show "sqlite3 latchkey.db \"UPDATE audit SET reason = 'ok' WHERE seq = 5\"   # on a copy"
show "latchkey -c demo-state.tampered/latchkey.conf audit verify"
"$lk" --offline -c "$state.tampered/latchkey.conf" audit verify || echo "(exit status $?)"
rm -rf "$state.tampered"

step "9. Policies: one file per PAM service, validated before use"
cp "$top/policies/nginx.xml" "$state/policies/nginx.xml"
# A second service in another environment, from the same example.
sed -e 's/service="nginx" environment="prod"/service="staging" environment="test"/' \
	"$top/policies/nginx.xml" >"$state/policies/staging.xml"
show "latchkey policy check demo-state/policies/*.xml"
"$lk" --offline policy check "$state/policies/nginx.xml" "$state/policies/staging.xml"
show "latchkey policy check broken.xml     (a typo in a control flag)"
sed -e 's/control="required"/control="requierd"/' "$state/policies/nginx.xml" >"$state/broken.xml"
"$lk" --offline policy check "$state/broken.xml" || echo "(exit status $?)"
rm -f "$state/broken.xml"

step "10. The engine: one prod key, accepted by the prod service, refused by the test one"
WEB=$("$lk" --offline key issue --owner svc-web --env prod --scope web:read --expires 30d 2>/dev/null)
show 'printf "%s\n" "$WEB" | latchkey auth nginx --user svc-web --rhost 192.0.2.10'
printf '%s\n' "$WEB" | "$lk" --offline auth nginx --user svc-web --rhost 192.0.2.10 || true
show 'printf "%s\n" "$WEB" | latchkey auth staging --user svc-web'
printf '%s\n' "$WEB" | "$lk" --offline auth staging --user svc-web || true
show 'printf "%s\n" "$WEB" | latchkey auth nginx --user alice@example.com   (not its owner)'
printf '%s\n' "$WEB" | "$lk" --offline auth nginx --user alice@example.com || true

step "11. Require a second factor for admin scopes, with a change ticket"
show "latchkey policy mfa enable nginx --plugin totp --scope web:admin --ticket CHG-2041"
"$lk" --offline policy mfa enable nginx --plugin totp --scope web:admin --ticket CHG-2041
show "latchkey policy show nginx"
"$lk" --offline policy show nginx
show "latchkey audit log --type policy.change"
"$lk" --offline audit log --type policy.change
show "latchkey audit log --type auth.decision"
"$lk" --offline audit log --type auth.decision
"$lk" --offline audit verify

unset KEY NEW WEB
printf '\nDemo state left in %s (config: %s).\n' "$state" "$LATCHKEY_CONFIG"
