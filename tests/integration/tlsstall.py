#!/usr/bin/env python3
"""Holds TLS handshakes half done and measures what prepd spends meanwhile.

Opens N connections to prepd's TLS listener and takes each handshake as
far as the server's flight (ClientHello sent, ServerHello ... Finished
read), then sends nothing for HOLD seconds, as a slow client or a
slow-handshake attacker would. prepd has nothing to do until the client
answers, so its CPU time over the hold must stay near zero; libmicrohttpd
0.9.75 keeps such a connection on its ready list, and a worker that
believed it ran the daemon again and again for the whole wait (one core
busy per worker). Then each handshake is finished and a GET on each
must be answered: waiting must not have broken the connections.

Prints one line: "cpu_ms=X hold_s=Y conns=N answered=N". Exits non-zero
if a handshake or a GET fails.

usage: tlsstall.py PORT PID TLS_VERSION(1.2|1.3) CONNS HOLD_SECONDS
"""
import os
import socket
import ssl
import sys
import time

from tlsclient import client_context

PORT, PID, VERSION = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
CONNS, HOLD = int(sys.argv[4]), float(sys.argv[5])
TIMEOUT = 5
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms():
    """prepd's utime + stime so far, in ms (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // TICK


def context():
    return client_context(VERSION)


class Half:
    """A client handshake driven by hand over memory BIOs."""

    def __init__(self, ctx):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")

    def step(self):
        """One do_handshake(): True when done; sends what it wrote."""
        try:
            self.tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        data = self.out.read()
        if data:
            self.sock.sendall(data)
        return done

    def feed(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("prepd closed the connection during the handshake")
        self.inc.write(data)

    def to_server_flight(self):
        """ClientHello out, and the server's flight in up to its Finished,
        which the client has not answered yet."""
        self.step()
        # The server's flight may come in several reads; stop as soon as
        # the client would have something to send back (its Finished).
        while True:
            self.feed()
            try:
                self.tls.do_handshake()
                # TLS 1.3: the client's side is done once its Finished is
                # written; it waits in the memory BIO, not sent.
                return
            except ssl.SSLWantReadError:
                pass
            if self.out.pending:
                return   # TLS 1.2: the client's reply is ready: hold it back

    def finish(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)
        while not self.step():
            self.feed()

    def get(self):
        self.tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        self.sock.sendall(self.out.read())
        buf = b""
        while b"\r\n" not in buf:
            try:
                buf += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.feed()
        return buf.split(b"\r\n", 1)[0]


def main():
    ctx = context()
    halves = []
    for _ in range(CONNS):
        h = Half(ctx)
        h.to_server_flight()
        halves.append(h)
    before = cpu_ms()
    t0 = time.monotonic()
    time.sleep(HOLD)
    spent = cpu_ms() - before
    held = time.monotonic() - t0
    answered = 0
    for h in halves:
        h.finish()
        line = h.get()
        if not line.startswith(b"HTTP/1.1 200"):
            print(f"a GET after the held handshake got {line!r}")
            sys.exit(1)
        answered += 1
        h.sock.close()
    print(f"cpu_ms={spent} hold_s={held:.2f} conns={CONNS} answered={answered}")


if __name__ == "__main__":
    main()
