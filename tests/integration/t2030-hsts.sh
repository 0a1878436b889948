#!/usr/bin/env bash
# HSTS ([tls] hsts, RFC 6797): off by default; when set, on every HTTPS
# response prepd builds (files, 304, ranges, 416, redirects, error pages,
# refusals, the shield's 429) and on no HTTP response; bad values and a
# [headers] rule for it are refused at start-up.
. "$(dirname "$0")/lib.sh"

"$SRCDIR/certs/make-local-cert" "$T/c" >/dev/null
PKG=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz
HSTS='max-age=31536000; includeSubDomains'

cat >"$T/off.ini" <<EOF
[tls]
cert = $T/c/cert.pem
key = $T/c/key.pem
EOF
start_prepd off --config "$T/off.ini" --https 127.0.0.1:0 --package "$PKG"
code=$(get "https://127.0.0.1:$HTTPS_PORT/" --cacert "$T/c/cert.pem")
expect_eq "$code" 200 "HTTPS without hsts"
expect_eq "$(header Strict-Transport-Security)" "" "hsts is off by default"
stop_prepd

cat >"$T/on.ini" <<EOF
[tls]
cert = $T/c/cert.pem
key = $T/c/key.pem
hsts = $HSTS
[shield]
exempt = off
rate = 1
rate_burst = 40
rate_action = 429
EOF
start_prepd on --config "$T/on.ini" --https 127.0.0.1:0 --package "$PKG"
S="https://127.0.0.1:$HTTPS_PORT"
H="http://127.0.0.1:$HTTP_PORT"
etag=$(curl -sS -o /dev/null -D - "$H/tiny.txt" | sed -n 's/^ETag: *\(.*\)\r$/\1/Ip')
[[ -n $etag ]] || fail "no ETag for /tiny.txt"

# check WHAT STATUS PATH [CURL ARGS...]: the same request over HTTPS
# (must carry exactly our HSTS value, once) and over HTTP (must carry none).
check() {
	local what=$1 status=$2 path=$3
	shift 3
	local code
	code=$(get "$S$path" --cacert "$T/c/cert.pem" "$@")
	[[ $code == "$status" ]] || fail "$what over HTTPS: status $code, want $status"
	[[ $(grep -ci '^Strict-Transport-Security:' "$T/head") == 1 ]] ||
		fail "$what over HTTPS: $(grep -ci '^Strict-Transport-Security:' "$T/head") HSTS headers"
	expect_eq "$(header Strict-Transport-Security)" "$HSTS" "$what over HTTPS: $status with HSTS"
	code=$(get "$H$path" "$@")
	[[ $code == "$status" ]] || fail "$what over HTTP: status $code, want $status"
	expect_eq "$(header Strict-Transport-Security)" "" "$what over HTTP: $status without HSTS"
}
check "a file" 200 /tiny.txt
check "a file, gzip" 200 /index.html --compressed
check "not modified" 304 /tiny.txt -H "If-None-Match: $etag"
check "a range" 206 /tiny.txt -H 'Range: bytes=0-1'
check "a range past the end" 416 /tiny.txt -H 'Range: bytes=99999-'
check "the folder redirect" 301 /estados/Nuevo%20Le%C3%B3n
check "the package's 404 page" 404 /no-such-file.txt
check "a bad path" 400 /%00
check "a wrong method" 405 /tiny.txt -X DELETE
check "a failed precondition" 412 /tiny.txt -H 'If-Match: "nope"'
check "a refused request head" 400 /tiny.txt -H 'Content-Length: 1' -H 'Content-Length: 2'
# The shield's 429 (built in server/worker.c): the burst is spent above.
for i in $(seq 1 40); do
	code=$(get "$S/tiny.txt" --cacert "$T/c/cert.pem")
	[[ $code == 429 ]] && break
done
expect_eq "$code" 429 "over the rate, HTTPS gets 429"
expect_eq "$(header Strict-Transport-Security)" "$HSTS" "the shield's 429 over HTTPS carries HSTS"
for i in $(seq 1 40); do
	code=$(get "$H/tiny.txt")
	[[ $code == 429 ]] && break
done
expect_eq "$code" 429 "over the rate, HTTP gets 429"
expect_eq "$(header Strict-Transport-Security)" "" "the shield's 429 over HTTP has none"
stop_prepd

# Refused values. refused VALUE WORDS: prepd does not start and says WORDS.
refused() {
	printf '[tls]\ncert = %s\nkey = %s\nhsts = %s\n' "$T/c/cert.pem" "$T/c/key.pem" "$1" >"$T/bad.ini"
	local rc=0 out
	out=$("$PREPD" --config "$T/bad.ini" --data "$T/bad.var" 2>&1) || rc=$?
	[[ $rc -ne 0 && $out == *"$2"* ]] || fail "hsts = $1: rc=$rc $out"
	ok "hsts = '$1' refused: $2"
}
refused 'includeSubDomains' 'max-age is required'
refused 'max-age=abc' 'max-age needs a number'
refused 'max-age=1; max-age=2' 'max-age twice'
refused 'max-age=1; includeSubDomains; includesubdomains' 'twice'
refused 'max-age=1; preload=yes' 'preload takes no value'
refused 'max-age=1; report-uri=x' "unknown directive 'report-uri'"
refused 'max-age=1 includeSubDomains' "expected ';'"
printf '[tls]\ncert = %s\nkey = %s\nhsts = %s\n' "$T/c/cert.pem" "$T/c/key.pem" 'max-age="600";;preload' >"$T/q.ini"
"$PREPD" --config "$T/q.ini" --check-config >"$T/cc" 2>&1 || fail "quoted max-age and an empty directive: $(cat "$T/cc")"
ok "a quoted max-age and an empty directive are valid (RFC 6797 6.1)"
printf '[tls]\ncert = %s\nkey = %s\n[headers]\n/* = Strict-Transport-Security: max-age=60\n' \
	"$T/c/cert.pem" "$T/c/key.pem" >"$T/rule.ini"
rc=0; out=$("$PREPD" --config "$T/rule.ini" --data "$T/rule.var" 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"set it as [tls] hsts instead"* ]] || fail "a [headers] HSTS rule: $out"
ok "a [headers] rule for Strict-Transport-Security is refused, [tls] hsts named"
done_testing
