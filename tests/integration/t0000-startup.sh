#!/usr/bin/env bash
# Start-up: help, version, the built-in placeholder, bad flags, the data
# folder lock, graceful stop.
. "$(dirname "$0")/lib.sh"

"$PREPD" --help | grep -q -- '--package FILE' || fail "--help lists --package"
ok "--help"
"$PREPD" --version | grep -q '^prepd [0-9]' || fail "--version"
"$PREPD" --version | grep -q 'libmicrohttpd 0.9' || fail "--version names libmicrohttpd"
ok "--version"

rc=0; out=$("$PREPD" --http nonsense 2>&1) || rc=$?
[[ $rc -eq 2 ]] || fail "bad --http exits 2, got $rc"
[[ $out == *"--http: http = 'nonsense': expected HOST:PORT"* ]] || fail "bad --http message: $out"
ok "bad --http value is refused with what is expected"
rc=0; out=$("$PREPD" --bogus 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *"--bogus: unknown option"* ]] || fail "unknown option: $rc $out"
ok "unknown option is refused"
rc=0; out=$("$PREPD" --threads -1 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *"threads"* ]] || fail "bad --threads: $rc $out"
ok "bad --threads is refused"
rc=0; out=$("$PREPD" --https 127.0.0.1:0 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *"no certificate"* ]] || fail "https without cert: $rc $out"
ok "HTTPS without a certificate is refused"

start_prepd one
code=$(get "http://127.0.0.1:$HTTP_PORT/")
expect_eq "$code" 200 "placeholder served"
grep -q '<base href="/">' "$T/body" || fail "placeholder has <base href=\"/\">"
ok "placeholder has the <base> tag (R11)"
grep -q '20:00' "$T/body" || fail "placeholder says 20:00"
ok "placeholder says when results start"
grep -qiE '(src|href)="(https?:)?//' "$T/body" && fail "placeholder makes an external request"
ok "placeholder makes no external request"
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "placeholder cut header"
expect_eq "$(header Content-Type)" "text/html; charset=utf-8" "placeholder content type"
code=$(get "http://127.0.0.1:$HTTP_PORT/favicon.svg")
expect_eq "$code" 200 "placeholder icon"
code=$(get "http://127.0.0.1:$HTTP_PORT/nope.png")
expect_eq "$code" 404 "placeholder 404"
grep -q 'no encontrada' "$T/body" || fail "placeholder 404 page in Spanish"
ok "placeholder 404 page is served"

# A second prepd on the same data folder must refuse, not share it.
rc=0; "$PREPD" --http 127.0.0.1:0 --data "$T/one/var" >"$T/second.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "second prepd on the same data folder started"
grep -q 'data-dir-locked' "$T/second.log" || fail "lock message: $(cat "$T/second.log")"
ok "a second prepd on the same data folder refuses"

# The port in use: a clear message and a non-zero exit.
rc=0; "$PREPD" --http 127.0.0.1:$HTTP_PORT --data "$T/third" >"$T/third.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "prepd on a busy port started"
grep -q 'Address already in use (another program' "$T/third.log" || fail "busy port message: $(cat "$T/third.log")"
ok "busy port is reported with what to do"

stop_prepd
grep -q 'server stopped' "$LOG" || fail "no 'server stopped' line"
ok "SIGTERM stops cleanly"

# The HTTP listener can be left off (HTTPS only needs a certificate).
"$SRCDIR/certs/make-local-cert" "$T/cert" >/dev/null
start_prepd https-only --http off --https 127.0.0.1:0 --cert "$T/cert/cert.pem" --key "$T/cert/key.pem"
[[ -z $HTTP_PORT && -n $HTTPS_PORT ]] || fail "https only: http=$HTTP_PORT https=$HTTPS_PORT"
code=$(get "https://127.0.0.1:$HTTPS_PORT/" --cacert "$T/cert/cert.pem")
expect_eq "$code" 200 "HTTPS-only prepd serves with the certificate trusted"
stop_prepd

done_testing
