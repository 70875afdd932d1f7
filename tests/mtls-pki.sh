#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# mtls-pki.sh DIR: a throw-away PKI for tests/check_mtls, made with the
# openssl command at test time (no certificate is committed: they would all
# expire one day, and a committed private key is a bad habit to teach).
#
# Every validity date is explicit (openssl ca -startdate/-enddate,
# -crl_lastupdate/-crl_nextupdate), relative to the suites' fixed "now",
# TK_NOW = 2026-11-01T00:00:00Z, so expiry and skew edges are exact and the
# run does not depend on the wall clock.
#
# DIR/<name>.pem is a certificate, DIR/<name>.key its key; crl-*.pem CRLs.
#   root        P-384, self-signed, 2020..2040 (the trust anchor)
#   int         P-256 CA under root, pathlen:0, signed with SHA-384
#   alice       RSA-2048 client leaf under int: CN alice, SAN URI
#               spiffe://example.org/user/alice, email alice@example.com,
#               DNS alice.clients.example.com; 2026-10-01..2026-12-01
#   bob         P-256 client leaf: CN bob, SAN URI .../user/bob, email
#               Bob@Example.COM, DNS BOB.Clients.Example.COM (case tests)
#   odd         client leaf whose values are no principal: CN .hidden, URIs
#               .../user/-rf and .../user/<129 x>, email x@example.com
#   amb         client leaf with two URIs .../user/alice and .../user/mallory
#   upper       client leaf: CN ALICE, SAN URI .../user/ALICE, email
#               ALICE@example.com (a case variant of alice, for pins)
#   expired     2025-01-01..2026-01-01     future  2027-01-01..2028-01-01
#   revoked     revoked by int (crl-int.pem)
#   server      serverAuth only            noeku   no extendedKeyUsage
#   weak        RSA-1024                   sha1    signed with SHA-1
#   ed          Ed25519 client leaf        sha384  signed with SHA-384
#   self        self-signed client leaf (CN selfie), for pin-only mode
#   otherroot / otherleaf   another CA and its client leaf
#   deep1..deep5 / deepleaf five CAs in a row under root, then a leaf
#   sub / subleaf           a CA under int (breaks int's pathlen:0), a leaf
#   int2 / int2leaf         a CA under root that root revokes, and its leaf
#   tiny.der    a minimal self-signed Ed25519 certificate (about 250 bytes)
# CRLs (thisUpdate / nextUpdate, from TK_NOW):
#   crl-int-empty.pem  int's, before it revoked anything   -1d / +7d
#   crl-int.pem        int's, revoked listed               -1d / +7d
#   crl-int-stale.pem  int's, revoked listed               -30d / -23d
#   crl-int-old.pem    int's, revoked listed               -8d / +30d
#   crl-int.der        crl-int.pem as DER
#   crl-root.pem       root's, int2 listed                 -1d / +7d
#   crl-other.pem      otherroot's (no use for int's leaves) -1d / +7d
set -eu

dir=${1:?usage: mtls-pki.sh DIR}
umask 022
mkdir -p "$dir"
cd "$dir"

# Dates relative to TK_NOW (2026-11-01T00:00:00Z).
NOW_M30D=20261002000000Z
NOW_M23D=20261009000000Z
NOW_M8D=20261024000000Z
NOW_M1D=20261031000000Z
NOW_P7D=20261108000000Z
NOW_P30D=20261201000000Z

cat >ext.cnf <<'EOF'
[ v3_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_int ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = $ENV::LK_SAN
[ v3_client_nosan ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:server.example.com
[ v3_noeku ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = URI:spiffe://example.org/user/noeku
[ v3_none ]
EOF
LK_SAN=email:nobody@example.com
export LK_SAN

# ca_dir NAME: the database "openssl ca" keeps for issuer NAME.
ca_dir()
{
	mkdir -p "ca/$1/new"
	: >"ca/$1/index.txt"
	echo "unique_subject = no" >"ca/$1/index.txt.attr"
	echo 1000 >"ca/$1/serial"
	echo 1000 >"ca/$1/crlnumber"
	cat >"ca/$1/ca.cnf" <<EOF
[ ca ]
default_ca = this
[ this ]
dir = ca/$1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $1.pem
private_key = $1.key
default_md = sha256
policy = any
email_in_dn = no
copy_extensions = none
[ any ]
commonName = supplied
EOF
}

key_ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" -out "$1.key" 2>/dev/null; }
key_rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$2" -out "$1.key" 2>/dev/null; }
key_ed() { openssl genpkey -algorithm ED25519 -out "$1.key"; }

# cert NAME ISSUER CN START END EXT [MD]: NAME.pem from NAME.key, signed by
# ISSUER (ISSUER = NAME: self-signed).
cert()
{
	openssl req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr"
	if [ "$2" = "$1" ]; then
		ca_dir "$1"
		openssl ca -batch -notext -config "ca/$1/ca.cnf" -selfsign -keyfile "$1.key" \
			-in "$1.csr" -out "$1.pem" -startdate "$4" -enddate "$5" \
			-extfile ext.cnf -extensions "$6" -md "${7:-sha256}" 2>/dev/null
	else
		openssl ca -batch -notext -config "ca/$2/ca.cnf" -in "$1.csr" -out "$1.pem" \
			-startdate "$4" -enddate "$5" -extfile ext.cnf -extensions "$6" \
			-md "${7:-sha256}" 2>/dev/null
	fi
	rm -f "$1.csr"
}

# crl ISSUER OUT LASTUPDATE NEXTUPDATE
crl()
{
	openssl ca -batch -config "ca/$1/ca.cnf" -gencrl -out "$2" \
		-crl_lastupdate "$3" -crl_nextupdate "$4" 2>/dev/null
}

CA_START=20200101000000Z
CA_END=20400101000000Z
START=20261001000000Z
END=$NOW_P30D

key_ec root P-384
cert root root "Latchkey Test Root" $CA_START $CA_END v3_root sha384
key_ec int P-256
cert int root "Latchkey Test Intermediate" $CA_START $CA_END v3_int sha384
ca_dir int

key_rsa alice 2048
LK_SAN="URI:spiffe://example.org/user/alice,email:alice@example.com,DNS:alice.clients.example.com" \
	cert alice int alice $START $END v3_client
key_ec bob P-256
LK_SAN="URI:spiffe://example.org/user/bob,email:Bob@Example.COM,DNS:BOB.Clients.Example.COM" \
	cert bob int bob $START $END v3_client
long=$(printf "%0129d" 0 | tr 0 x)
key_ec odd P-256
LK_SAN="URI:spiffe://example.org/user/-rf,URI:spiffe://example.org/user/$long,email:x@example.com" \
	cert odd int .hidden $START $END v3_client
key_ec amb P-256
LK_SAN="URI:spiffe://example.org/user/alice,URI:spiffe://example.org/user/mallory" \
	cert amb int amb $START $END v3_client
key_ec upper P-256
LK_SAN="URI:spiffe://example.org/user/ALICE,email:ALICE@example.com" \
	cert upper int ALICE $START $END v3_client
key_ec expired P-256
cert expired int expired 20250101000000Z 20260101000000Z v3_client_nosan
key_ec future P-256
cert future int future 20270101000000Z 20280101000000Z v3_client_nosan
key_ec server P-256
cert server int server $START $END v3_server
key_ec noeku P-256
cert noeku int noeku $START $END v3_noeku
key_rsa weak 1024
cert weak int weak $START $END v3_client_nosan
key_ec sha1 P-256
cert sha1 int sha1 $START $END v3_client_nosan sha1
key_ec sha384 P-256
cert sha384 int sha384 $START $END v3_client_nosan sha384
key_ed ed
cert ed int ed $START $END v3_client_nosan
key_ec self P-256
cert self self selfie $START $END v3_client_nosan

# int's CRL before and after it revokes "revoked".
crl int crl-int-empty.pem $NOW_M1D $NOW_P7D
key_ec revoked P-256
cert revoked int revoked $START $END v3_client_nosan
openssl ca -batch -config ca/int/ca.cnf -revoke revoked.pem -crl_reason keyCompromise 2>/dev/null
crl int crl-int.pem $NOW_M1D $NOW_P7D
crl int crl-int-stale.pem $NOW_M30D $NOW_M23D
crl int crl-int-old.pem $NOW_M8D $NOW_P30D
openssl crl -in crl-int.pem -outform DER -out crl-int.der

key_ec otherroot P-256
cert otherroot otherroot "Other Root" $CA_START $CA_END v3_root
key_ec otherleaf P-256
LK_SAN="URI:spiffe://example.org/user/alice" cert otherleaf otherroot alice $START $END v3_client
crl otherroot crl-other.pem $NOW_M1D $NOW_P7D

prev=root
for i in 1 2 3 4 5; do
	key_ec deep$i P-256
	cert deep$i $prev "Deep CA $i" $CA_START $CA_END v3_ca
	ca_dir deep$i
	prev=deep$i
done
key_ec deepleaf P-256
LK_SAN="URI:spiffe://example.org/user/deep" cert deepleaf deep5 deep $START $END v3_client

key_ec sub P-256
cert sub int "Sub CA" $CA_START $CA_END v3_ca
ca_dir sub
key_ec subleaf P-256
LK_SAN="URI:spiffe://example.org/user/sub" cert subleaf sub sub $START $END v3_client

key_ec int2 P-256
cert int2 root "Revoked Intermediate" $CA_START $CA_END v3_int
ca_dir int2
key_ec int2leaf P-256
LK_SAN="URI:spiffe://example.org/user/carol" cert int2leaf int2 carol $START $END v3_client
crl int2 crl-int2.pem $NOW_M1D $NOW_P7D
openssl ca -batch -config ca/root/ca.cnf -revoke int2.pem -crl_reason cACompromise 2>/dev/null
crl root crl-root.pem $NOW_M1D $NOW_P7D

key_ed tiny
cert tiny tiny t $START $END v3_none
openssl x509 -in tiny.pem -outform DER -out tiny.der

rm -f ext.cnf
