#!/usr/bin/env python3
"""Drives prepd's TLS listener the ways its socket functions
(server/tlsio.c) must survive: keep-alive answers with and without a body
(GET, HEAD, 304, 206, 404) on one connection, requests pipelined in one
TLS record and in separate records sent together, a reader slower than
the server (small receive buffer), and many connections at once. Every
answer is checked byte for byte against the files; any answer that does
not come within the timeout fails (a response head held back with no
body after it would hang here).

usage: tlsio.py PORT SITE_DIR TLS_VERSION(1.2|1.3)
"""
import hashlib
import os
import socket
import sys
import threading
import time

from tlsclient import client_context

PORT, SITE, VERSION = int(sys.argv[1]), sys.argv[2], sys.argv[3]
TIMEOUT = 5


def context():
    return client_context(VERSION)


def connect(rcvbuf=None):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(TIMEOUT)
    raw.connect(("127.0.0.1", PORT))
    s = context().wrap_socket(raw)
    if s.version() != ("TLSv1.3" if VERSION == "1.3" else "TLSv1.2"):
        sys.exit(f"negotiated {s.version()}, wanted TLS {VERSION}")
    return s


class Reader:
    """HTTP/1.1 answers off one socket, Content-Length framed."""

    def __init__(self, s, slow=0.0):
        self.s, self.buf, self.slow = s, b"", slow

    def more(self):
        chunk = self.s.recv(4096 if self.slow else 65536)
        if not chunk:
            raise EOFError("connection closed before the answer ended")
        if self.slow:
            time.sleep(self.slow)
        self.buf += chunk

    def answer(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
        n = 0 if head_only or status in (204, 304) else int(fields.get("content-length", "0"))
        while len(self.buf) < n:
            self.more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, fields, body


def request(method, path, extra=""):
    return (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").encode()


def site(path):
    with open(os.path.join(SITE, path.lstrip("/")), "rb") as f:
        return f.read()


def check(cond, what):
    if not cond:
        sys.exit(f"TLS {VERSION}: {what}")


def mixed_keepalive():
    """Answers with and without a body, one connection, in turn."""
    s = connect()
    r = Reader(s)
    index = site("index.html")
    etag = None
    for i in range(30):
        s.sendall(request("GET", "/index.html"))
        st, f, body = r.answer()
        check(st == 200 and body == index, f"GET {i}: {st}, {len(body)} bytes")
        etag = f.get("etag")
        s.sendall(request("HEAD", "/index.html"))
        st, f, body = r.answer(head_only=True)
        check(st == 200 and int(f["content-length"]) == len(index), f"HEAD {i}: {st}")
        check(etag, "no ETag")
        s.sendall(request("GET", "/index.html", f"If-None-Match: {etag}\r\n"))
        st, f, body = r.answer()
        check(st == 304 and body == b"", f"conditional GET {i}: {st}")
        s.sendall(request("GET", "/big.bin", "Range: bytes=100-1099\r\n"))
        st, f, body = r.answer()
        check(st == 206 and body == site("big.bin")[100:1100], f"range {i}: {st}, {len(body)} bytes")
        s.sendall(request("GET", "/no/such/file.json"))
        st, f, body = r.answer()
        check(st == 404 and len(body) > 0, f"404 {i}: {st}")
        s.sendall(request("HEAD", "/no/such/file.json"))
        st, f, body = r.answer(head_only=True)
        check(st == 404, f"HEAD 404 {i}: {st}")
    s.close()


def pipelined():
    """Several requests before any answer: in one TLS record, and in
    separate records that reach the server in one read."""
    index = site("index.html")
    for together in (True, False):
        s = connect()
        r = Reader(s)
        reqs = [request("GET", "/index.html"), request("HEAD", "/index.html"),
                request("GET", "/big.bin", "Range: bytes=0-9\r\n"), request("GET", "/index.html")]
        if together:
            s.sendall(b"".join(reqs))
        else:
            for q in reqs:
                s.sendall(q)   # one record each, no wait between them
        st, _, body = r.answer()
        check(st == 200 and body == index, f"pipelined 1 (together={together}): {st}")
        st, _, _ = r.answer(head_only=True)
        check(st == 200, f"pipelined 2 (together={together}): {st}")
        st, _, body = r.answer()
        check(st == 206 and body == site("big.bin")[:10], f"pipelined 3 (together={together}): {st}")
        st, _, body = r.answer()
        check(st == 200 and body == index, f"pipelined 4 (together={together}): {st}")
        s.close()


def slow_reader():
    """A reader with a 4 KiB receive buffer that sleeps between reads:
    the server's sends come back short and would block many times."""
    big = site("big.bin")
    index = site("index.html")
    s = connect(rcvbuf=4096)
    r = Reader(s, slow=0.0005)
    for i in range(2):
        s.sendall(request("GET", "/big.bin"))
        st, _, body = r.answer()
        check(st == 200 and hashlib.sha256(body).digest() == hashlib.sha256(big).digest(),
              f"slow big.bin {i}: {st}, {len(body)} of {len(big)} bytes")
        s.sendall(request("GET", "/index.html"))
        st, _, body = r.answer()
        check(st == 200 and body == index, f"slow index.html {i}: {st}")
    s.close()


def many():
    """Connections at once, each its own mix: no answer lands on another
    connection, none is lost."""
    errors = []
    index = site("index.html")

    def one(k):
        try:
            s = connect()
            r = Reader(s)
            for i in range(40):
                if (i + k) % 3 == 0:
                    s.sendall(request("HEAD", "/index.html"))
                    st, f, _ = r.answer(head_only=True)
                    ok = st == 200 and int(f["content-length"]) == len(index)
                else:
                    s.sendall(request("GET", "/index.html"))
                    st, _, body = r.answer()
                    ok = st == 200 and body == index
                if not ok:
                    errors.append(f"connection {k} request {i}: {st}")
                    return
            s.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"connection {k}: {e!r}")

    ts = [threading.Thread(target=one, args=(k,)) for k in range(24)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, "; ".join(errors[:3]))


mixed_keepalive()
pipelined()
slow_reader()
many()
print(f"TLS {VERSION}: keep-alive mix, pipelining, slow reader and 24 connections: all answers whole")
