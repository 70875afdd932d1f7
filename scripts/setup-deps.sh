#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages Latchkey builds and tests with, skipping
# those already installed (so it is idempotent and quick the second time).
set -eu
pkgs="build-essential autoconf automake libtool pkg-config
libpam0g-dev libsodium-dev libxml2-dev libsqlite3-dev check libssl-dev zlib1g-dev
libxslt1-dev libqrencode-dev libpam-wrapper libpamtest0-dev liboath-dev
clang-format valgrind sqlite3 openssl libxml2-utils
nginx libnginx-mod-http-auth-pam curl pamtester oathtool libpam-oath
chromium chromium-driver"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
