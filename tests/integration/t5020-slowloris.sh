#!/usr/bin/env bash
# Holding the line (issue 9): one address takes every connection slot with
# slow-header clients while another fetches / ten times a second; the
# second must be served every time, p99 under 50 ms. Then the total head
# deadline: a client trickling a header byte every half second is closed
# at header_timeout, however long it keeps trickling (libmicrohttpd
# 0.9.75's own timeout restarts on every byte). Talks only to 127.0.0.0/8;
# about 20 s.
. "$(dirname "$0")/lib.sh"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
	skip "127.0.0.2 is not usable on this machine"

# 1. Every slot taken by slow headers from 127.0.0.2. The head deadline
#    is long here (60 s), so what keeps the probe served is the limit's
#    own rule: the connection waiting longest for its head makes room.
start_prepd full --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	--config <(printf '[server]\nconnection_limit = 64\nheader_timeout = 60\n')
out=$(python3 "$SRCDIR/tests/integration/slowloris.py" "$HTTP_PORT" 80 10) ||
	fail "probe during slowloris: $out"
echo "# $out"
ok "every slot held by slow headers: the probe was served every time, p99 < 50 ms"
expect_log 'connection-limit-reached worker=[0-9]* open=[0-9]* limit_per_worker=[0-9]* evicted_idle=[0-9]* evicted_slow=[1-9]' \
	"reaching the limit is logged, with the slow connections closed to make room"
n=$(grep -c 'connection-limit-reached' "$LOG")
(( n <= 4 )) || fail "the limit was logged $n times in ~12 s (once per 10 s per worker expected)"
ok "logged once per stretch, not per connection ($n lines)"
stop_prepd

# 2. The head deadline: bytes keep coming, the connection still ends.
start_prepd deadline --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	--config <(printf '[server]\nheader_timeout = 2\ntimeout = 30\n')
python3 - "$HTTP_PORT" <<'PY' || fail "head deadline"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
t0 = time.monotonic()
s.settimeout(0.5)
while True:
    try:
        if s.recv(100) == b"":
            break
    except socket.timeout:
        pass
    except ConnectionError:
        break
    try:
        s.sendall(b"X: y\r\n")
    except OSError:
        break
    if time.monotonic() - t0 > 8:
        sys.exit("still open after 8 s of trickling (header_timeout = 2)")
took = time.monotonic() - t0
if took < 1.5:
    sys.exit(f"closed after {took:.1f} s, before the 2 s deadline")
print(f"# closed after {took:.1f} s")
PY
ok "a trickled head is closed at header_timeout, not reset by each byte"
expect_log 'server header-timeout worker=[0-9]* closed=1 seconds=2' "the head timeout is logged"
# A normal request on a fresh connection is untouched by the deadline, and a
# keep-alive connection survives past header_timeout between requests.
python3 - "$HTTP_PORT" <<'PY' || fail "keep-alive past header_timeout"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
for i in range(2):
    s.sendall(b"GET /tiny.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    buf = b""
    while b"hola mundo" not in buf:
        d = s.recv(4096)
        if not d:
            sys.exit(f"request {i + 1}: connection closed")
        buf += d
    if i == 0:
        time.sleep(3)
PY
ok "an idle keep-alive connection outlives header_timeout"
# Openings too short to judge (the first byte of a TLS record, half a
# method) wait in the worker's own epoll without costing CPU (a
# level-triggered wait would report the peeked bytes on every pass and
# spin the worker), and are closed at header_timeout.
python3 - "$HTTP_PORT" "$PID" <<'PY' || fail "short openings"
import os, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
hz = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / hz
socks = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"\x16" if i % 2 else b"GE")
    socks.append(s)
c0 = cpu()
time.sleep(1.5)
used = cpu() - c0
if used > 0.5:
    sys.exit(f"prepd used {used:.2f} s of CPU in 1.5 s with 40 short openings waiting")
t0 = time.monotonic()
for s in socks:
    s.settimeout(max(0.1, 5 - (time.monotonic() - t0)))
    try:
        if s.recv(100) != b"":
            sys.exit("a short opening got an answer")
    except ConnectionError:
        pass
    except socket.timeout:
        sys.exit("a short opening was still open 3 s past header_timeout")
print(f"# CPU while waiting: {used:.2f} s; all closed after {time.monotonic() - t0 + 1.5:.1f} s")
PY
ok "short openings wait without spinning the worker and end at header_timeout"
stop_prepd
done_testing
