#!/usr/bin/env bash
# The real client address (issue 9): X-Forwarded-For, CF-Connecting-IP and
# the PROXY protocol (v1 text, v2 binary) are believed only from
# [shield] trusted_proxies; the access log's first field and the limits
# use the real client. Peers are 127.0.0.1 (the "proxy") and 127.0.0.5
# (anyone else). About 10 s.
. "$(dirname "$0")/lib.sh"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.5", 0))' 2>/dev/null ||
	skip "127.0.0.5 is not usable on this machine"
pkg=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz

# last_client: the first field of the access log's last line.
last_client() {
	sleep 0.2
	tail -n 1 "$ALOG" | cut -d' ' -f1
}

# raw ADDR BYTES: sends BYTES (printf %b) from ADDR, prints the status line
# or "closed".
raw() {
	python3 - "$HTTP_PORT" "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5,
                             source_address=(sys.argv[2], 0))
data = sys.argv[3].encode("latin-1").decode("unicode_escape").encode("latin-1")
s.sendall(data)
buf = b""
try:
    while b"\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
except ConnectionError:
    pass
print(buf.split(b"\r\n")[0].decode("latin-1") if buf else "closed")
PY
}

# 1. Nothing trusted (the default): headers are the client's own words.
ALOG=$T/none.access
start_prepd none --package "$pkg" --access-log "$ALOG"
get "http://127.0.0.1:$HTTP_PORT/" -H 'X-Forwarded-For: 203.0.113.9' -H 'CF-Connecting-IP: 203.0.113.10' >/dev/null
expect_eq "$(last_client)" 127.0.0.1 "untrusted: X-Forwarded-For and CF-Connecting-IP ignored"
expect_eq "$(raw 127.0.0.1 'PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n')" \
	"HTTP/1.1 400 Bad Request" "untrusted: a PROXY header is not HTTP (400), not believed"
stop_prepd

# 2. 127.0.0.1 trusted, X-Forwarded-For: the rightmost untrusted hop.
ALOG=$T/xff.access
start_prepd xff --package "$pkg" --access-log "$ALOG" \
	--config <(printf '[shield]\ntrusted_proxies = 127.0.0.1 10.0.0.0/8\nexempt = off\nrate = 2\nrate_burst = 2\n')
get "http://127.0.0.1:$HTTP_PORT/" -H 'X-Forwarded-For: 1.1.1.1, 203.0.113.9, 10.0.0.7' >/dev/null
expect_eq "$(last_client)" 203.0.113.9 "trusted: the rightmost untrusted X-Forwarded-For hop"
get "http://127.0.0.1:$HTTP_PORT/" -H 'X-Forwarded-For: 1.1.1.1' -H 'X-Forwarded-For: 203.0.113.11' >/dev/null
expect_eq "$(last_client)" 203.0.113.11 "two X-Forwarded-For lines are one list"
get "http://127.0.0.1:$HTTP_PORT/" -H 'CF-Connecting-IP: 203.0.113.10' >/dev/null
expect_eq "$(last_client)" 127.0.0.1 "client_header = x-forwarded-for: CF-Connecting-IP ignored"
get "http://127.0.0.1:$HTTP_PORT/" --interface 127.0.0.5 -H 'X-Forwarded-For: 203.0.113.9' >/dev/null
expect_eq "$(last_client)" 127.0.0.5 "an untrusted peer's X-Forwarded-For is ignored"
# Limits follow the real client: one visitor through the proxy is limited,
# another through the same proxy connection is not.
a=$(curl -s -w '%{http_code} ' -H 'X-Forwarded-For: 203.0.113.50' -o /dev/null "http://127.0.0.1:$HTTP_PORT/tiny.txt" \
	-o /dev/null "http://127.0.0.1:$HTTP_PORT/tiny.txt" -o /dev/null "http://127.0.0.1:$HTTP_PORT/tiny.txt")
expect_eq "$a" "200 200 429 " "the limit applies to the visitor behind the proxy"
b=$(curl -s -w '%{http_code}' -H 'X-Forwarded-For: 203.0.113.51' -o /dev/null "http://127.0.0.1:$HTTP_PORT/tiny.txt")
expect_eq "$b" 200 "another visitor through the same proxy is served"
expect_log 'shield limit-exceeded client=203.0.113.50 rule=rate' "the limit's log names the visitor"
stop_prepd

# 3. CF-Connecting-IP when configured.
ALOG=$T/cf.access
start_prepd cf --package "$pkg" --access-log "$ALOG" \
	--config <(printf '[shield]\ntrusted_proxies = 127.0.0.1\nclient_header = cf-connecting-ip\n')
get "http://127.0.0.1:$HTTP_PORT/" -H 'CF-Connecting-IP: 2001:db8::77' -H 'X-Forwarded-For: 203.0.113.9' >/dev/null
expect_eq "$(last_client)" 2001:db8::77 "client_header = cf-connecting-ip: that header, not X-Forwarded-For"
get "http://127.0.0.1:$HTTP_PORT/" -H 'CF-Connecting-IP: not-an-address' >/dev/null
expect_eq "$(last_client)" 127.0.0.1 "a CF-Connecting-IP that is no address: the peer"
stop_prepd

# 4. The PROXY protocol, v1 and v2, from the trusted balancer.
ALOG=$T/pp.access
start_prepd pp --package "$pkg" --access-log "$ALOG" \
	--config <(printf '[server]\nheader_timeout = 2\n[shield]\ntrusted_proxies = 127.0.0.1\nproxy_protocol = any\n')
expect_eq "$(raw 127.0.0.1 'PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n')" \
	"HTTP/1.1 200 OK" "v1: served"
expect_eq "$(last_client)" 198.51.100.7 "v1: the access log shows the client the header names"
v2='\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x09\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13\x88\x00\x50'
expect_eq "$(raw 127.0.0.1 "${v2}GET / HTTP/1.1\r\nHost: t\r\n\r\n")" "HTTP/1.1 200 OK" "v2 (TCP6): served"
expect_eq "$(last_client)" 2001:db8::9 "v2: the access log shows the client the header names"
expect_eq "$(raw 127.0.0.1 '\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00GET / HTTP/1.1\r\nHost: t\r\n\r\n')" \
	"HTTP/1.1 200 OK" "v2 LOCAL (a health check): served"
expect_eq "$(last_client)" 127.0.0.1 "v2 LOCAL: the balancer itself"
expect_eq "$(raw 127.0.0.1 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')" closed \
	"a trusted peer without the PROXY header is closed"
expect_log 'server proxy-header-bad worker=[0-9]* closed=1 peer=127.0.0.1' "and that is logged"
expect_eq "$(raw 127.0.0.1 'PROXY TCP4 198.51.100.7 127.0.0.1 99999 80\r\nGET / HTTP/1.1\r\n\r\n')" closed \
	"a broken PROXY header is closed"
expect_eq "$(raw 127.0.0.5 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')" "HTTP/1.1 200 OK" \
	"an untrusted peer is served as it comes"
expect_eq "$(last_client)" 127.0.0.5 "with its own address"
expect_eq "$(raw 127.0.0.5 'PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n')" \
	"HTTP/1.1 400 Bad Request" "an untrusted peer's PROXY header is not believed"
# The PROXY header counts toward the head deadline.
python3 - "$HTTP_PORT" <<'PY' || fail "PROXY header deadline"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=6)
s.sendall(b"PROXY TCP4 1.2.3.4")
t0 = time.monotonic()
s.settimeout(6)
try:
    if s.recv(10) != b"":
        sys.exit("data?")
except ConnectionResetError:
    pass   # closed with the header's bytes unread: a reset
took = time.monotonic() - t0
if not 1.5 < took < 4:
    sys.exit(f"closed after {took:.1f} s (header_timeout = 2)")
PY
ok "a PROXY header that never ends is closed at header_timeout"
stop_prepd
done_testing
