#!/usr/bin/env python3
"""The workers share new connections out evenly (server/worker.c
leave_to_others()). Opens N keep-alive connections to the HTTP port in one
burst, several times; every connection of a burst must be answered within
2 s (a worker that steps aside must not leave the listening socket
unwatched while the others sleep: that took seconds a burst), and while
all are open prepd's /metrics must show each worker holding
about N / workers of them: no worker more than another's count o plus
3 + o / 16 (a worker stops accepting once it holds more than o + 2 +
o / 16, server/limits.h NET_BALANCE_SLACK and NET_BALANCE_SHARE, so the
accept that crosses the line is the last).

usage: balance.py HTTP_PORT ADMIN_PORT TOKEN CONNS BURSTS
Talks only to 127.0.0.1; every wait is bounded."""
import re
import socket
import sys
import time
import urllib.request

from tlsclient import read_answer

port, aport, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conns, bursts = int(sys.argv[4]), int(sys.argv[5])
REQ = b"GET /tiny.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def worker_counts():
    req = urllib.request.Request(f"http://127.0.0.1:{aport}/metrics",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        text = r.read().decode()
    got = {}
    for m in re.finditer(r'^prepd_worker_connections\{worker="(\d+)",listener="http"\} (\d+)$',
                         text, re.M):
        got[int(m.group(1))] = int(m.group(2))
    if not got:
        sys.exit("FAIL: /metrics has no prepd_worker_connections for http")
    return [got[k] for k in sorted(got)]


def wait_counts(want_total, deadline):
    while True:
        c = worker_counts()
        if sum(c) == want_total or time.monotonic() > deadline:
            return c
        time.sleep(0.05)


for b in range(bursts):
    if sum(wait_counts(0, time.monotonic() + 10)) != 0:
        sys.exit("FAIL: connections of the last burst still counted after 10 s")
    socks = []
    t0 = time.monotonic()
    # The burst: every connect first, as a client opening its pool does.
    for _ in range(conns):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    for s in socks:
        s.sendall(REQ)
    for s in socks:
        read_answer(s)
    took = time.monotonic() - t0
    # Accepted and answered at once: a worker that steps aside must not
    # leave the listening socket unwatched while the others sleep.
    if took > 2:
        sys.exit(f"FAIL: burst {b + 1}: {conns} connections took {took:.2f} s to be answered")
    c = wait_counts(conns, time.monotonic() + 5)
    if sum(c) != conns:
        sys.exit(f"FAIL: burst {b + 1}: workers hold {c}, want {conns} in all")
    if len(c) < 2:
        sys.exit(f"FAIL: one worker only: {c}")
    lo = min(c)
    if max(c) > lo + 3 + lo // 16:
        sys.exit(f"FAIL: burst {b + 1}: {conns} connections shared out as {c}")
    print(f"burst {b + 1}: {conns} connections answered in {took * 1000:.0f} ms, shared out as {c}")
    for s in socks:
        s.close()
