#!/usr/bin/env bash
# Several certificates chosen by the client's server name (SNI, RFC 6066
# 3): exact names before wildcards (RFC 6125 6.4.3: one label), the CN
# only without SAN DNS names, the first pair for no name or an unknown
# one; every pair reloaded on SIGHUP, all or none; bad [tls] certs refused
# at start-up with the file named.
. "$(dirname "$0")/lib.sh"

command -v certtool >/dev/null || fail "certtool missing (script/bootstrap installs gnutls-bin)"
command -v openssl >/dev/null || fail "openssl missing"
PKG=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz

# mkcert DIR CN [DNS...]: a self-signed ECDSA pair for those names.
mkcert() {
	local dir=$1 cn=$2
	shift 2
	mkdir -p "$dir"
	{
		echo "cn = \"$cn\""
		local n
		for n in "$@"; do echo "dns_name = \"$n\""; done
		echo "expiration_days = 30"
		echo "tls_www_server"
		echo "signing_key"
	} >"$dir/tmpl"
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$dir/key.pem" 2>/dev/null
	certtool --generate-self-signed --load-privkey "$dir/key.pem" --template "$dir/tmpl" \
		--outfile "$dir/cert.pem" 2>/dev/null
}
mkcert "$T/dflt" "difusor.example.mx" difusor.example.mx www.difusor.example.mx
mkcert "$T/ine" "prep.ine.example.mx" prep.ine.example.mx
mkcert "$T/wild" "wild" "*.ine.example.mx"
mkcert "$T/cn" "legacy.example.org"     # no SAN: matched on its CN

# The CN-only pair comes with relative paths, resolved against the
# config file's folder.
mkdir -p "$T/etc" && cp -r "$T/cn" "$T/etc/cn"
cat >"$T/etc/sni.ini" <<EOF
[tls]
cert = $T/dflt/cert.pem
key = $T/dflt/key.pem
certs = $T/wild/cert.pem $T/wild/key.pem $T/ine/cert.pem $T/ine/key.pem cn/cert.pem cn/key.pem
EOF
out=$("$PREPD" --config "$T/etc/sni.ini" --check-config 2>&1) || fail "--check-config: $out"
[[ $out == *"certificate $T/ine/cert.pem and key $T/ine/key.pem: "*"names=prep.ine.example.mx"* &&
   $out == *"certificate $T/etc/cn/cert.pem and key $T/etc/cn/key.pem"* ]] ||
	fail "--check-config does not check each pair: $out"
ok "--check-config checks every pair and names its names"
start_prepd sni --config "$T/etc/sni.ini" --https 127.0.0.1:0 --package "$PKG"
expect_eq "$(grep -c 'tls loaded pair=' "$LOG")" 4 "four pairs loaded, each logged"
grep -q 'tls loaded pair=1 default=yes cert=.*dflt/cert.pem .*names=difusor.example.mx,www.difusor.example.mx' "$LOG" ||
	fail "the default pair's line: $(grep 'pair=1' "$LOG")"
grep -q "tls loaded pair=4 cert=$T/etc/cn/cert.pem .*names=legacy.example.org" "$LOG" ||
	fail "a relative path in certs is resolved against the config's folder, the CN is its name"
ok "the log names each pair's file and names"

# served_cn NAME: the CN of the certificate prepd sends for SNI NAME
# ("" sends none).
served_cn() {
	local sni=(-servername "$1")
	[[ -z $1 ]] && sni=(-noservername)
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" "${sni[@]}" 2>/dev/null |
		sed -n 's/^subject=.*CN *= *\([^,]*\).*/\1/p' | head -n1
}
expect_eq "$(served_cn difusor.example.mx)" difusor.example.mx "the default pair for its own name"
expect_eq "$(served_cn www.difusor.example.mx)" difusor.example.mx "the default pair for its second SAN name"
expect_eq "$(served_cn prep.ine.example.mx)" prep.ine.example.mx "an exact name beats a wildcard listed before it"
expect_eq "$(served_cn PREP.INE.Example.MX)" prep.ine.example.mx "server names compare without case"
expect_eq "$(served_cn prep.ine.example.mx.)" prep.ine.example.mx "a trailing dot is ignored"
expect_eq "$(served_cn otro.ine.example.mx)" wild "the wildcard covers one label"
expect_eq "$(served_cn a.b.ine.example.mx)" difusor.example.mx "the wildcard does not cover two labels: default"
expect_eq "$(served_cn ine.example.mx)" difusor.example.mx "the wildcard does not cover its parent: default"
expect_eq "$(served_cn legacy.example.org)" legacy.example.org "a certificate without SAN names matches on its CN"
expect_eq "$(served_cn unknown.example.com)" difusor.example.mx "an unknown name gets the default pair"
expect_eq "$(served_cn '')" difusor.example.mx "no server name gets the default pair"
# gnutls-cli too (another client's SNI encoding).
gnutls-cli --insecure --sni-hostname otro.ine.example.mx -p "$HTTPS_PORT" 127.0.0.1 </dev/null >"$T/cli" 2>&1 || true
grep -q 'Subject.*CN=wild' "$T/cli" || grep -q 'subject `CN=wild' "$T/cli" ||
	fail "gnutls-cli --sni-hostname: $(grep -i subject "$T/cli" | head -n2)"
ok "gnutls-cli --sni-hostname gets the wildcard pair"
code=$(get "https://prep.ine.example.mx:$HTTPS_PORT/" --cacert "$T/ine/cert.pem" \
	--resolve "prep.ine.example.mx:$HTTPS_PORT:127.0.0.1")
expect_eq "$code" 200 "curl verifies the institute-facing name against its own certificate"

# Reload: every pair is re-read. A new institute certificate is used
# after SIGHUP; then a broken one keeps every old pair.
mkcert "$T/ine2" "prep2.ine.example.mx" prep.ine.example.mx
cp "$T/ine2/cert.pem" "$T/ine/cert.pem"
cp "$T/ine2/key.pem" "$T/ine/key.pem"
kill -HUP "$PID"
for i in $(seq 1 50); do
	[[ $(grep -c 'tls reloaded pair=' "$LOG") -ge 4 ]] && break
	sleep 0.1
done
expect_eq "$(served_cn prep.ine.example.mx)" prep2.ine.example.mx "SIGHUP reloads the SNI pairs"
echo "not a key" >"$T/wild/key.pem"
kill -HUP "$PID"
for i in $(seq 1 50); do
	grep -q 'tls reload-failed' "$LOG" && break
	sleep 0.1
done
grep -q "tls reload-failed error=\"not a PEM private key (or it is encrypted) $T/wild/key.pem" "$LOG" ||
	fail "a bad pair on reload is named: $(grep 'reload-failed' "$LOG")"
expect_eq "$(served_cn otro.ine.example.mx)" wild "a bad reload keeps every old pair (the wildcard)"
expect_eq "$(served_cn prep.ine.example.mx)" prep2.ine.example.mx "a bad reload keeps every old pair (the last good one)"
stop_prepd

# Bad lists at start-up.
# start_fails NAME CERTS: prepd refuses [tls] certs = CERTS; prints why.
start_fails() {
	printf '[tls]\ncert = %s\nkey = %s\ncerts = %s\n' "$T/dflt/cert.pem" "$T/dflt/key.pem" "$2" >"$T/$1.ini"
	local rc=0 out
	out=$("$PREPD" --config "$T/$1.ini" --http 127.0.0.1:0 --https 127.0.0.1:0 --data "$T/$1.var" 2>&1) || rc=$?
	[[ $rc -ne 0 ]] || fail "$1: prepd started"
	echo "$out"
}
out=$(start_fails odd "$T/ine/cert.pem")
[[ $out == *"certs = "*"expected pairs of files, CERT KEY"* ]] || fail "odd list: $out"
ok "an odd number of files is refused"
out=$(start_fails mismatch "$T/ine/cert.pem $T/cn/key.pem")
[[ $out == *"the key $T/cn/key.pem does not belong to the certificate $T/ine/cert.pem"* ]] || fail "mismatch: $out"
ok "a key that is not its certificate's is refused, both files named"
rc=0; out=$("$PREPD" --config "$T/mismatch.ini" --check-config 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"mismatch.ini:4: the key $T/cn/key.pem does not belong"* ]] || fail "--check-config on a mismatched pair: $out"
ok "--check-config names the mismatched pair under [tls] certs"
out=$(start_fails missing "$T/nope.pem $T/ine/key.pem")
[[ $out == *"cannot read the certificate $T/nope.pem"* ]] || fail "missing: $out"
ok "a missing certificate is refused, named"
list=""
for i in $(seq 1 16); do list+="$T/ine/cert.pem $T/ine/key.pem "; done
out=$(start_fails many "$list")
[[ $out == *"15 pairs at most"* ]] || fail "too many: $out"
ok "more than 15 extra pairs are refused (TLS_MAX_CERTS)"
printf '[tls]\ncerts = %s %s\n' "$T/ine/cert.pem" "$T/ine/key.pem" >"$T/nodef.ini"
rc=0; out=$("$PREPD" --config "$T/nodef.ini" --data "$T/nodef.var" 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"set cert and key"* ]] || fail "certs without cert/key: $out"
ok "certs without a default pair is refused"
done_testing
