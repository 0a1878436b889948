#!/usr/bin/env python3
"""The probe client of bench/slowhttp: a visitor fetching a page while a
slow-HTTP attack runs.

    slowprobe.py PORT SECONDS [PATH] [SOURCE]

From SOURCE (127.0.0.2 by default: another client than the attacker's
127.0.0.1) it opens a new connection to 127.0.0.1:PORT ten times a second,
sends GET PATH with Connection: close and reads the whole answer. A
request fails when it gets no 200 or takes more than 5 s. Prints one line:
    requests=N failed=N p50_ms=X p99_ms=X max_ms=X first_failure="..."
Only the standard library; talks only to loopback."""
import socket
import sys
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
path = sys.argv[3] if len(sys.argv) > 3 else "/"
source = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.2"
TIMEOUT = 5.0

lat, fails = [], []
t_end = time.monotonic() + seconds
nxt = time.monotonic()
while time.monotonic() < t_end:
    t0 = time.monotonic()
    why = None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                     source_address=(source, 0))
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        buf = b""
        while time.monotonic() - t0 < TIMEOUT:
            s.settimeout(max(0.01, TIMEOUT - (time.monotonic() - t0)))
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
        if not buf.startswith(b"HTTP/1.1 200"):
            why = buf[:40].decode("latin-1") or "closed with no answer"
    except OSError as e:
        why = type(e).__name__ + (": " + str(e) if str(e) else "")
    took = time.monotonic() - t0
    lat.append(took)
    if why:
        fails.append(f"{why} after {took * 1000:.0f} ms")
    nxt += 0.1
    time.sleep(max(0.0, nxt - time.monotonic()))

lat.sort()
n = len(lat)
p = lambda q: lat[min(n - 1, int(n * q))] * 1000 if n else 0.0
first = fails[0].replace('"', "'") if fails else ""
print(f'requests={n} failed={len(fails)} p50_ms={p(0.5):.1f} p99_ms={p(0.99):.1f} '
      f'max_ms={(lat[-1] * 1000 if n else 0):.1f} first_failure="{first}"')
