#!/usr/bin/env bash
# Makes the throwaway PKI for the upstream (result-package poller) tests:
#   tests/integration/mkca.sh OUTDIR
# writes, all ECDSA P-256:
#   ca.pem, ca-key.pem                 test CA "prepd test CA"
#   server.pem, server-key.pem         server cert for 127.0.0.1, ::1 and
#                                      localhost, signed by the test CA
#   other-ca.pem, other-ca-key.pem     a second, unrelated CA
#   other-server.pem, other-server-key.pem
#                                      server cert for 127.0.0.1 (and
#                                      localhost) signed by the other CA
#   client.pem, client-key.pem         client cert (tls_www_client) signed by
#                                      the test CA, for mutual-TLS tests
#   server-pin.txt                     libcurl pinned public key for
#                                      server.pem: sha256//BASE64(SHA256(SPKI))
# Does nothing if every file is already there (idempotent); otherwise makes
# the whole set anew in a temporary folder and moves it in. Quiet unless
# something fails. Uses GnuTLS's certtool (Debian package gnutls-bin).
# Test material only: the private keys are not secret.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
files=(ca.pem ca-key.pem server.pem server-key.pem other-ca.pem other-ca-key.pem
	other-server.pem other-server-key.pem client.pem client-key.pem server-pin.txt)

complete=1
for f in "${files[@]}"; do
	[[ -s $out/$f ]] || { complete=0; break; }
done
[[ $complete -eq 1 ]] && exit 0

if ! command -v certtool >/dev/null; then
	echo "mkca.sh: certtool not found; install it with: apt-get install gnutls-bin" >&2
	exit 1
fi

mkdir -p "$out"
umask 077
tmp=$(mktemp -d "$out/.mkca.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ct ARGS...: certtool, silent unless it fails.
ct() {
	if ! certtool "$@" >"$tmp/certtool.log" 2>&1; then
		echo "mkca.sh: certtool $* failed:" >&2
		cat "$tmp/certtool.log" >&2
		exit 1
	fi
}

key() {
	ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$tmp/$1"
}

# Backdated a day so that a slightly skewed clock never sees "not yet valid".
activation=$(date -u -d '1 day ago' '+%Y-%m-%d %H:%M:%S UTC')

cat >"$tmp/ca.tmpl" <<EOF
organization = "prepd tests"
cn = "prepd test CA"
activation_date = "$activation"
expiration_days = 3650
ca
cert_signing_key
crl_signing_key
EOF
cat >"$tmp/other-ca.tmpl" <<EOF
organization = "unrelated tests"
cn = "unrelated test CA"
activation_date = "$activation"
expiration_days = 3650
ca
cert_signing_key
crl_signing_key
EOF
cat >"$tmp/server.tmpl" <<EOF
organization = "prepd tests"
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
activation_date = "$activation"
expiration_days = 397
tls_www_server
signing_key
EOF
cat >"$tmp/other-server.tmpl" <<EOF
organization = "unrelated tests"
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
activation_date = "$activation"
expiration_days = 397
tls_www_server
signing_key
EOF
cat >"$tmp/client.tmpl" <<EOF
organization = "prepd tests"
cn = "prepd test client"
activation_date = "$activation"
expiration_days = 397
tls_www_client
signing_key
EOF

# CA NAME: self-signed CA NAME.pem / NAME-key.pem.
ca() {
	key "$1-key.pem"
	ct --generate-self-signed --load-privkey "$tmp/$1-key.pem" \
		--template "$tmp/$1.tmpl" --outfile "$tmp/$1.pem"
}

# leaf NAME CA: NAME.pem / NAME-key.pem signed by CA.pem.
leaf() {
	key "$1-key.pem"
	ct --generate-certificate --load-privkey "$tmp/$1-key.pem" \
		--load-ca-certificate "$tmp/$2.pem" --load-ca-privkey "$tmp/$2-key.pem" \
		--template "$tmp/$1.tmpl" --outfile "$tmp/$1.pem"
}

ca ca
ca other-ca
leaf server ca
leaf other-server other-ca
leaf client ca

# Pin: sha256// + base64 of the SHA-256 of the DER SubjectPublicKeyInfo.
ct --pubkey-info --load-certificate "$tmp/server.pem" --outder --outfile "$tmp/server-spki.der"
if command -v openssl >/dev/null; then
	pin=$(openssl dgst -sha256 -binary "$tmp/server-spki.der" | base64 -w0)
else
	pin=$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())' \
		"$tmp/server-spki.der")
fi
[[ -n $pin ]] || { echo "mkca.sh: could not compute the public-key pin" >&2; exit 1; }
printf 'sha256//%s\n' "$pin" >"$tmp/server-pin.txt"

chmod 644 "$tmp"/*.pem "$tmp/server-pin.txt"
for f in "${files[@]}"; do
	mv -f "$tmp/$f" "$out/$f"
done
