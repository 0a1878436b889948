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

# A graceful stop waits for requests, not for connections: an idle
# keep-alive connection (a CDN's or a browser's) is closed at once, a
# connection accepted before the SIGTERM whose request comes after it is
# still answered, and the stop then takes well under the 5 s grace (before
# the change: the request was dropped unanswered and the stop took 5 s).
python3 - "$HTTP_PORT" "$PID" >"$T/stop.out" 2>&1 <<'PY' || fail "graceful stop: $(cat "$T/stop.out")"
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def head(sock):
    sock.settimeout(3)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
idle = socket.create_connection(("127.0.0.1", port))
idle.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
assert head(idle).startswith(b"HTTP/1.1 200"), "the keep-alive request"
time.sleep(0.2)                      # its body read or not: idle either way
late = socket.create_connection(("127.0.0.1", port))
time.sleep(0.2)                      # accepted, nothing sent yet
t0 = time.monotonic()
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
late.sendall(b"GET /favicon.svg HTTP/1.1\r\nHost: localhost\r\n\r\n")
answer = head(late)
assert answer.startswith(b"HTTP/1.1 200"), f"a request sent 0.3 s after the SIGTERM on a connection accepted before it: {answer[:60]!r}"
idle.settimeout(3)
while idle.recv(65536):
    pass                             # the rest of the body, then the end
PY
ok "on SIGTERM an idle keep-alive connection is closed and a request on a connection accepted before it is answered"
t0=$(date +%s%N)
rc=0
wait "$PID" || rc=$?
[[ $rc -eq 0 ]] || fail "prepd exited with status $rc on SIGTERM"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 2500)) || fail "the stop took $ms ms after the last request: it waited for the idle connection"
grep -q 'server stopped' "$LOG" || fail "no 'server stopped' line"
ok "SIGTERM stops cleanly, without waiting out the grace for idle connections"

# The HTTP listener can be left off (HTTPS only needs a certificate).
"$SRCDIR/certs/make-local-cert" "$T/cert" >/dev/null
start_prepd https-only --http off --https 127.0.0.1:0 --cert "$T/cert/cert.pem" --key "$T/cert/key.pem"
[[ -z $HTTP_PORT && -n $HTTPS_PORT ]] || fail "https only: http=$HTTP_PORT https=$HTTPS_PORT"
code=$(get "https://127.0.0.1:$HTTPS_PORT/" --cacert "$T/cert/cert.pem")
expect_eq "$code" 200 "HTTPS-only prepd serves with the certificate trusted"
stop_prepd

done_testing
