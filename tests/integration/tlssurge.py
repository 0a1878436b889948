#!/usr/bin/env python3
"""A surge of new TLS visitors while one visitor is already connected.

COUNT connections are opened first; then all their ClientHellos are sent
in one burst, so the server finds far more handshakes to compute than
its per-pass budget (NET_HANDSHAKE_BATCH, server/worker.c
hand_over_when_due()) and must queue the rest. Every connection must then
finish its handshake and get its answer, byte for byte: a queued
connection that is never handed over hangs here and fails. Meanwhile the
connection opened before the surge keeps asking for the same file; its
slowest answer during the surge is printed (the queue is what keeps it
short; not asserted: on a shared test machine it is timing).

usage: tlssurge.py PORT FILE TLS_VERSION COUNT
prints "answered=N probe_max_ms=X probe_answers=M"; exits non-zero on
any failure
"""
import select
import socket
import ssl
import sys
import threading
import time

from tlsclient import client_context, parse_answer, read_answer

PORT, FILE, VERSION, COUNT = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
TIMEOUT = 30
with open(FILE, "rb") as f:
    WANT = f.read()
REQ = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tlssurge\r\n\r\n"


class Conn:
    """One client driven through memory BIOs, so that its ClientHello can
    be made first and sent later, with everyone else's."""

    def __init__(self, ctx):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
        self.sock.setblocking(False)
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inb, self.outb, server_side=False)
        self.state, self.buf = "hello", b""
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass

    def flush(self):
        data = self.outb.read()
        while data:
            try:
                sent = self.sock.send(data)
                data = data[sent:]
            except BlockingIOError:
                select.select([], [self.sock], [], TIMEOUT)

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        if not data:
            sys.exit(f"a surge connection was closed in state {self.state}")
        self.inb.write(data)
        if self.state == "hello":
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.flush()
                return
            self.state = "asked"
            self.tls.write(REQ)
            self.flush()
        while True:
            try:
                self.buf += self.tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
        self.flush()
        got = parse_answer(self.buf)
        if got and got[0]:
            if got[1] != WANT:
                sys.exit("a surge connection got a body that differs from the file")
            self.state = "done"


stop = threading.Event()
probe = {"max": 0.0, "n": 0, "err": None}


def prober(s):
    try:
        while not stop.is_set():
            t = time.perf_counter()
            s.sendall(REQ)
            if read_answer(s) != WANT:
                raise ValueError("the probe got a body that differs from the file")
            probe["max"] = max(probe["max"], time.perf_counter() - t)
            probe["n"] += 1
            time.sleep(0.002)
    except Exception as e:  # reported by the main thread
        probe["err"] = e


ctx = client_context(VERSION)
p = ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT))
conns = [Conn(ctx) for _ in range(COUNT)]
time.sleep(0.3)   # every connection accepted and waiting for its first bytes
th = threading.Thread(target=prober, args=(p,), daemon=True)
th.start()
time.sleep(0.05)
for c in conns:   # the burst: every ClientHello at once
    c.flush()
deadline = time.monotonic() + TIMEOUT
while any(c.state != "done" for c in conns):
    left = deadline - time.monotonic()
    if left <= 0:
        waiting = sum(c.state == "hello" for c in conns)
        sys.exit(f"after {TIMEOUT} s, {waiting} of {COUNT} connections still wait for their handshake "
                 f"and {sum(c.state == 'asked' for c in conns)} for their answer")
    socks = {c.sock: c for c in conns if c.state != "done"}
    r, _, _ = select.select(list(socks), [], [], min(left, 1.0))
    for s in r:
        socks[s].readable()
stop.set()
th.join(TIMEOUT)
if probe["err"]:
    sys.exit(f"the connection opened before the surge: {probe['err']}")
print(f"answered={COUNT} probe_max_ms={probe['max'] * 1000:.1f} probe_answers={probe['n']}")
