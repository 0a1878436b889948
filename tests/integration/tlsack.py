#!/usr/bin/env python3
"""A new visitor's first request over TLS, from a client that leaves
Nagle's algorithm on (as Python's, Java's and wget's sockets do): it
sends its Finished, then its request as a second small segment, which
its kernel holds until the Finished is acknowledged. A server with
nothing to send after the Finished delays that ACK by 40 ms or more, and
the first answer with it (server/tlsio.c on_client_finished()). Each
case opens 5 connections and asks once; the median time from sending the
request to the whole answer must stay under 20 ms, half the shortest
delayed ACK Linux makes. Cases: a full handshake, and one resumed with
the session ticket of the connection before.

usage: tlsack.py PORT TLS_VERSION(1.2|1.3)
prints one line per case; exits non-zero on the first failure
"""
import socket
import statistics
import sys
import time

from tlsclient import client_context, read_answer

PORT, VERSION = int(sys.argv[1]), sys.argv[2]
REQ = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tlsack\r\n\r\n"
ROUNDS, LIMIT_MS = 5, 20.0


def first_answer_ms(ctx, session):
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    s = ctx.wrap_socket(raw, session=session)
    t = time.perf_counter()
    s.sendall(REQ)
    read_answer(s)
    ms = (time.perf_counter() - t) * 1000
    reused, session = s.session_reused, s.session
    s.close()
    return ms, reused, session


ctx = client_context(VERSION)
for case in ("full", "resumed"):
    times, session = [], None
    if case == "resumed":
        session = first_answer_ms(ctx, None)[2]
    for _ in range(ROUNDS):
        ms, reused, next_session = first_answer_ms(ctx, session)
        if case == "resumed":
            if not reused:
                sys.exit(f"TLS {VERSION}: the session ticket was not taken; cannot test a resumed handshake")
            session = next_session
        times.append(ms)
    med = statistics.median(times)
    shown = ", ".join(f"{t:.1f}" for t in times)
    if med >= LIMIT_MS:
        sys.exit(f"TLS {VERSION} {case} handshake: first answer took {shown} ms "
                 f"(median {med:.1f}, want < {LIMIT_MS:.0f}): the client's Finished is not acknowledged at once")
    print(f"TLS {VERSION} {case} handshake, Nagle on: first answer in {shown} ms (median {med:.1f} ms)")
