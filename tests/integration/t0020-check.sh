#!/usr/bin/env bash
# prepd check URL (R11): a GET like the institute's portal de difusores,
# expecting 200 and a <base> tag; it also reports the cut, the TLS version,
# the cache headers and whether other origins may frame the page (R10).
# Exit status 0 passed, 1 failed, 2 usage error.
. "$(dirname "$0")/lib.sh"

# check ARGS...: runs prepd check, output to $T/check.out, exit status in RC.
check() {
	RC=0
	"$PREPD" check "$@" >"$T/check.out" 2>"$T/check.err" || RC=$?
}
# line KEY: the "check KEY=..." line of the last check, without "check ".
line() {
	sed -n "s/^check \($1=.*\)/\1/p" "$T/check.out"
}
expect_rc() {
	[[ $RC -eq $1 ]] || fail "$2: exit status $RC, want $1; output: $(cat "$T/check.out" "$T/check.err")"
	ok "$2"
}

# The placeholder over HTTP and HTTPS.
"$SRCDIR/certs/make-local-cert" "$T/c" >/dev/null
start_prepd plain --https 127.0.0.1:0 --cert "$T/c/cert.pem" --key "$T/c/key.pem"
check "http://127.0.0.1:$HTTP_PORT/"
expect_rc 0 "the placeholder over HTTP passes"
expect_match "$(line url)" "^url=http://127\.0\.0\.1:$HTTP_PORT/ status=200 time_ms=[0-9]+$" "url line: status and time"
expect_eq "$(line base)" "base=yes" "the placeholder has a <base> tag"
expect_eq "$(line cut)" 'cut="seq=0; label=placeholder"' "the cut seen is the placeholder"
expect_eq "$(line tls)" "tls=none" "plain HTTP has no TLS"
expect_match "$(line cache_control)" '^cache_control="public, max-age=10, s-maxage=10, stale-while-revalidate=10, stale-if-error=86400" etag="\\"[^"]+\\"" last_modified="[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT"$' "cache headers reported"
expect_eq "$(line frame)" 'frame=yes by="*"' "any origin may frame it by default"
expect_eq "$(line result)" "result=ok" "result=ok"

check "https://127.0.0.1:$HTTPS_PORT/" --ca "$T/c/cert.pem"
expect_rc 0 "HTTPS with --ca passes"
expect_match "$(line tls)" '^tls=TLS1\.[23]$' "the TLS version is reported"
expect_eq "$(line cut)" 'cut="seq=0; label=placeholder"' "HTTPS serves the same cut"

check "https://127.0.0.1:$HTTPS_PORT/"
expect_rc 1 "HTTPS without the CA fails"
expect_match "$(line result)" '^result=fail reason="TLS error: .*certificate.*--ca' "an untrusted certificate says TLS error, libcurl's message and --ca"

check "http://127.0.0.1:$HTTP_PORT/falta.css"
expect_rc 1 "a 404 fails"
expect_match "$(line url)" " status=404 " "the status is 404"
expect_match "$(line result)" '^result=fail reason="HTTP 404, not 200' "the reason names the status"

check "http://127.0.0.1:$HTTPS_PORT/"
expect_rc 1 "http:// to the HTTPS port fails"
expect_match "$(line result)" '^result=fail reason="HTTP 400, not 200' "and says the server answered 400 (prepd's plain-text answer to HTTP on the HTTPS port)"
stop_prepd

# A server that offers only TLS 1.2: the version is read from the session.
printf '[tls]\npriorities = NONE:+VERS-TLS1.2:+AES-128-GCM:+AEAD:+ECDHE-ECDSA:+SIGN-ALL:+GROUP-SECP256R1:+COMP-NULL:+CTYPE-X509\n' >"$T/tls12.ini"
start_prepd tls12 --config "$T/tls12.ini" --https 127.0.0.1:0 --cert "$T/c/cert.pem" --key "$T/c/key.pem"
check "https://127.0.0.1:$HTTPS_PORT/" --ca "$T/c/cert.pem"
expect_rc 0 "HTTPS with TLS 1.2 only passes"
expect_eq "$(line tls)" "tls=TLS1.2" "TLS 1.2 is reported as such"
stop_prepd

# frame-ancestors 'self' keeps other origins out.
start_prepd self --frame-ancestors "'self'"
check "http://127.0.0.1:$HTTP_PORT/"
expect_rc 0 "frame-ancestors does not fail the check"
expect_eq "$(line frame)" "frame=no why=\"Content-Security-Policy: frame-ancestors 'self'\"" "frame-ancestors 'self' means frame=no"
stop_prepd

start_prepd list --frame-ancestors "'self' https://www.periodico.example"
check "http://127.0.0.1:$HTTP_PORT/"
expect_eq "$(line frame)" "frame=yes by=\"'self' https://www.periodico.example\"" "a list of origins means frame=yes by that list"
stop_prepd

# A package whose index.html has no <base> (a <basefont> does not count);
# its folder dir/ has one, behind prepd's 301 to the slash.
python3 - "$T/20240603_1200_PREP_PRUEBA.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("index.html", "<!doctype html><html><head><title>PREP</title></head>"
               "<body><basefont size=3><p>Sin base</p></body></html>\n")
    z.writestr("dir/index.html", "<!doctype html><html><head><BASE\thref=\"/dir/\"></head>"
               "<body>ok</body></html>\n")
PY
# prepd itself refuses such a site by default (require_base, R11): this
# one is served on purpose, to see prepd check catch it.
printf '[ingest]\nrequire_base = no\n' >"$T/nobase.ini"
start_prepd nobase --config "$T/nobase.ini" --package "$T/20240603_1200_PREP_PRUEBA.zip"
check "http://127.0.0.1:$HTTP_PORT/"
expect_rc 1 "a page without <base> fails"
expect_eq "$(line base)" "base=no" "base=no"
expect_eq "$(line cut)" 'cut="seq=1; label=20240603_1200; time=2024-06-03T12:00-06:00"' "the package's cut is reported"
expect_match "$(line result)" '^result=fail reason="the page has no <base> tag' "the reason says the <base> tag is missing"
check "http://127.0.0.1:$HTTP_PORT/dir"
expect_rc 0 "a redirect is followed"
expect_match "$(line url)" " redirects=1 final_url=http://127\.0\.0\.1:$HTTP_PORT/dir/$" "the final URL is reported"
expect_eq "$(line base)" "base=yes" "<BASE followed by a tab counts"
stop_prepd

# Nothing listening: a closed port.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
check "http://127.0.0.1:$port/"
expect_rc 1 "a closed port fails"
expect_match "$(line result)" '^result=fail reason="cannot connect: .*is the server running' "a closed port says it cannot connect"

# A listener that never answers: the timeout.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$T/mute.port" &
mute=$!
PIDS+=("$mute")
for ((i = 0; i < 50; i++)); do [[ -s $T/mute.port ]] && break; sleep 0.1; done
check "http://127.0.0.1:$(cat "$T/mute.port")/" --timeout 1
expect_rc 1 "a server that never answers fails"
expect_match "$(line result)" '^result=fail reason="timed out after 1 s' "and says it timed out"
kill "$mute"
wait "$mute" 2>/dev/null || true

# Usage errors: exit 2, a message on stderr, nothing on stdout.
for args in "" "--ca" "--bogus http://127.0.0.1/" "ftp://127.0.0.1/" "--timeout 0 http://127.0.0.1/" \
	"--ca $T/missing.pem https://127.0.0.1/" "http://a/ http://b/"; do
	# shellcheck disable=SC2086
	check $args
	[[ $RC -eq 2 && -s $T/check.err && ! -s $T/check.out ]] ||
		fail "usage error '$args': exit $RC, stderr '$(cat "$T/check.err")', stdout '$(cat "$T/check.out")'"
	ok "usage error exits 2: prepd check $args"
done
grep -q 'prepd check URL \[--ca FILE\]' <("$PREPD" --help) || fail "--help does not mention prepd check"
ok "prepd --help mentions prepd check"

done_testing
