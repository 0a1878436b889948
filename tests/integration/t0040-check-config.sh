#!/usr/bin/env bash
# prepd --check-config (-t): one config per kind of mistake, each with the
# exit status and the finding it must print (with FILE:LINE where the
# value came from the file); a good config exits 0. Nothing starts.
source "$SRCDIR/tests/integration/lib.sh"

c=$T/c
mkdir -p "$c/spool" "$c/data"
"$SRCDIR/certs/make-local-cert" "$c/good" >/dev/null 2>&1 || fail "make-local-cert failed"
"$SRCDIR/certs/make-local-cert" "$c/other" >/dev/null 2>&1 || fail "make-local-cert failed"
# Certificates that expired and that expire in 10 days (certtool takes
# dates in its template; openssl req cannot backdate).
certtool --generate-privkey --key-type ecdsa --outfile "$c/k.pem" 2>/dev/null
mkcert() {   # mkcert OUT TEMPLATE-LINES
	printf 'cn = localhost\n%s\n' "$2" >"$c/tmpl"
	certtool --generate-self-signed --load-privkey "$c/k.pem" --template "$c/tmpl" \
		--outfile "$1" >/dev/null 2>&1 || fail "certtool could not make $1"
}
mkcert "$c/expired.pem" $'activation_date = "2020-01-01 00:00:00"\nexpiration_date = "2021-01-01 00:00:00"'
mkcert "$c/soon.pem" 'expiration_days = 10'
echo "not a certificate" >"$c/junk.pem"
touch "$c/afile"
"$SRCDIR/tests/integration/mkca.sh" "$c/ca" >/dev/null 2>&1 || true

# name | exit | pattern the output must match | config lines (\n between)
# @L is replaced by the config file's name.
rows=(
"good|0|the configuration is usable \\(0 warnings\\)|[server]\nhttp = 127.0.0.1:8080\ndata = $c/data\n[ingest]\nspool = $c/spool"
"unknown key|1|@L:2: unknown key 'treads' in \\[server\\]|[server]\ntreads = 4"
"value out of range|1|@L:3: timeout = '0': expected seconds from 1 to 3600|[server]\nhttp = :8080\ntimeout = 0"
"not a key = value line|1|@L:2: not a 'key = value' line|[server]\njust words"
"half a certificate pair|1|HTTPS needs both a certificate and a key|[tls]\ncert = $c/good/cert.pem"
"missing key file|1|error: @L:4: cannot read the key $c/nokey.pem: No such file or directory|[server]\ndata = $c/data\n[tls]\nkey = $c/nokey.pem\ncert = $c/good/cert.pem"
"missing certificate|1|error: @L:3: cannot read the certificate $c/nocert.pem: No such file or directory|[tls]\nkey = $c/good/key.pem\ncert = $c/nocert.pem"
"certificate is a folder|1|error: @L:3: cannot read the certificate $c/spool: not a file|[tls]\nkey = $c/good/key.pem\ncert = $c/spool"
"certificate is not PEM|1|error: @L:3: not a PEM certificate chain $c/junk.pem|[tls]\nkey = $c/good/key.pem\ncert = $c/junk.pem"
"key of another certificate|1|error: @L:3: the key $c/other/key.pem does not belong to the certificate|[tls]\ncert = $c/good/cert.pem\nkey = $c/other/key.pem"
"expired certificate|1|error: @L:2: the certificate $c/expired.pem expired [0-9]+ days ago|[tls]\ncert = $c/expired.pem\nkey = $c/k.pem"
"certificate expires soon|0|warning: @L:2: the certificate $c/soon.pem expires in 1?[09] days.*usable \\(1 warning\\)|[tls]\ncert = $c/soon.pem\nkey = $c/k.pem"
"bad TLS priorities|1|error: @L:4: not a GnuTLS priority string near|[tls]\ncert = $c/good/cert.pem\nkey = $c/good/key.pem\npriorities = NORMAL:+NO-SUCH-THING"
"data folder is a file|1|error: @L:2: data folder $c/afile is not a folder|[server]\ndata = $c/afile"
"data folder cannot be made|1|error: @L:2: data folder $c/afile/var: Not a directory|[server]\ndata = $c/afile/var"
"spool folder missing|1|error: @L:3: spool folder $c/nospool: No such file or directory|[ingest]\nverify = sha256\nspool = $c/nospool"
"trust file is junk|1|error: @L:3: .*$c/junk.pem|[ingest]\nverify = cms\ntrust = $c/junk.pem"
"trust file missing|1|error: @L:3: .*$c/notrust.pem|[ingest]\nverify = ed25519\ntrust = $c/notrust.pem"
"URL without a host|1|error: @L:2: 'https:///x.zip' is not a well-formed URL|[ingest]\nupstream = https:///x.zip"
"URL with a bad port|1|error: @L:2: 'https://host:99999/p.zip' is not a well-formed URL|[ingest]\nupstream = https://host:99999/p.zip"
"URL naming no file|1|error: @L:2: 'https://prep.example/' names no file|[ingest]\nupstream = https://prep.example/"
"URL of another scheme|1|@L:2: upstream = 'ftp://x/y.zip': expected an https:// or sftp:// URL|[ingest]\nupstream = ftp://x/y.zip"
"CA file with no certificate|1|error: @L:3: $c/junk.pem holds no PEM certificate|[ingest]\nupstream = https://prep.example/p.zip\nca = $c/junk.pem"
"sftp without known_hosts|1|error: @L:2: an sftp:// upstream needs known_hosts|[ingest]\nupstream = sftp://u@prep.example/p.zip"
"unknown user|1|error: @L:2: no user 'no-such-user-xyz' on this system|[server]\nuser = no-such-user-xyz"
"bad user name|1|@L:2: user = 'a b': expected a user name|[server]\nuser = a b"
"access log folder missing|1|error: @L:2: access log folder $c/nolog: No such file or directory|[server]\naccess_log = $c/nolog/access.log"
"admin token missing|1|error: @L:2: admin token $c/notoken: No such file or directory|[server]\nadmin_token = $c/notoken\nadmin = :0"
)
i=0
for row in "${rows[@]}"; do
	IFS='|' read -r name want pattern lines <<<"$row"
	i=$((i + 1))
	ini=$c/t$i.ini
	printf '%b\n' "$lines" >"$ini"
	# data defaults to the build's folder; point it at a usable one unless
	# the row sets it.
	grep -q '^data' "$ini" || printf '[server]\ndata = %s\n' "$c/data" >>"$ini"
	pattern=${pattern//@L/$ini}
	rc=0
	out=$("$PREPD" --check-config --config "$ini" 2>&1) || rc=$?
	[[ $rc -eq $want ]] || fail "$name: exit $rc, want $want; output:"$'\n'"$out"
	[[ $out =~ $pattern ]] || fail "$name: output does not match /$pattern/:"$'\n'"$out"
	ok "$name: exit $want, says so"
done

# -t is --check-config; a flag's mistake names the flag.
rc=0; out=$("$PREPD" -t --data "$c/data" --http 127.0.0.1:8080 --key "$c/nokey.pem" --cert "$c/good/cert.pem" 2>&1) || rc=$?
[[ $rc -eq 1 && $out =~ "error: --key: cannot read the key $c/nokey.pem: No such file or directory" ]] ||
	fail "-t with a missing --key: exit $rc:"$'\n'"$out"
ok "-t works and names the flag"

# The same missing key at run time keeps its cause too.
rc=0; "$PREPD" --http 127.0.0.1:0 --https 127.0.0.1:0 --data "$c/data" --key "$c/nokey.pem" \
	--cert "$c/good/cert.pem" >"$T/run.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "tls load-failed error=\"cannot read the key $c/nokey.pem: No such file or directory\"" "$T/run.log" ||
	fail "a missing key at start: exit $rc, log: $(cat "$T/run.log")"
ok "a missing key at start says the file does not exist"

# The example config checks clean with only its folders pointed here.
sed -e "s#^;data = .*#data = $c/data#" "$SRCDIR/prepd.ini.example" >"$c/example.ini"
"$PREPD" -t --config "$c/example.ini" >"$T/ex.out" 2>&1 || fail "prepd.ini.example does not check: $(cat "$T/ex.out")"
ok "prepd.ini.example checks clean"
done_testing
